"""Graded checks (lesson 4, actor-critic): GAE, the A2C loss and the one-step TD loss of the probe-environment
debugging exercise, each declared once as an `Exercise`."""

from __future__ import annotations

import numpy as np
import torch

from pgcourse import advantages, losses
from pgcourse.checks.core import Case, CheckResult, Exercise, Mistake, compare, register
from pgcourse.checks.probes import probed
from pgcourse.labs import probe_envs

# --- gae ------------------------------------------------------------------------------------------


def _gae_variant(rew, val, next_val, terminated, truncated, gamma, lam, *, mask_done=True,
                 boot_term=False, boot_trunc=True, forward=False):
    rew, val, next_val = (np.asarray(x, float) for x in (rew, val, next_val))
    term, trunc = np.asarray(terminated, bool), np.asarray(truncated, bool)
    no_boot = (term & (not boot_term)) | (trunc & (not boot_trunc))
    delta = rew + gamma * (~no_boot) * next_val - val
    cont = ~(term | trunc) if mask_done else np.ones_like(term)
    adv = np.zeros_like(delta)
    running = np.zeros_like(delta[0])
    order = range(len(delta)) if forward else range(len(delta) - 1, -1, -1)
    for t in order:
        running = delta[t] + gamma * lam * cont[t] * running
        adv[t] = running
    return adv, adv + val


GAE_MISTAKES = [
    Mistake("no done masking", lambda *a: _gae_variant(*a, mask_done=False),
            "the recursion must stop at episode ends: multiply gamma * lam * A_{t+1} by (1 - done_t), done = terminated | truncated"),
    Mistake("bootstrapping through terminations", lambda *a: _gae_variant(*a, boot_term=True),
            "a terminated step has no future: delta_t = rew_t - val_t there (multiply gamma * next_val by 1 - terminated)"),
    Mistake("not bootstrapping through truncations", lambda *a: _gae_variant(*a, boot_trunc=False),
            "a truncated episode was cut off, not finished: keep gamma * next_val in delta_t there; only terminated removes it"),
    Mistake("lambda and gamma swapped",
            lambda rew, val, nv, te, tr, gamma, lam: _gae_variant(rew, val, nv, te, tr, lam, gamma),
            "gamma and lambda are swapped: delta uses gamma; the recursion multiplies by gamma * lambda"),
    Mistake("reversed recursion", lambda *a: _gae_variant(*a, forward=True),
            "run the recursion backwards in time: A_t needs A_{t+1}, so start from the last step"),
]


_F, _T = False, True


def _random_rollout(rng):
    T, N = int(rng.integers(2, 25)), int(rng.integers(1, 4))
    shape = (T,) if N == 1 else (T, N)
    term = rng.random(shape) < 0.15
    trunc = (rng.random(shape) < 0.1) & ~term
    gamma, lam = float(rng.uniform(0.8, 0.999)), float(rng.uniform(0.5, 0.99))
    return Case((rng.normal(size=shape), rng.normal(size=shape), rng.normal(size=shape), term, trunc, gamma, lam),
                label=f"random rollout, shape {shape}")


GAE_HAND = (
    Case((np.array([1.0, 1.0]), np.array([0.0, 0.0]), np.array([0.0, 0.0]), np.array([_F, _T]), np.array([_F, _F]),
          1.0, 1.0), label="two steps, terminated, zero critic: adv (2, 1)"),
    Case((np.array([1.0]), np.array([0.5]), np.array([2.0]), np.array([_F]), np.array([_T]), 0.9, 0.95),
         label="one truncated step: delta = 1 + 0.9*2 - 0.5 = 2.3"),
    Case((np.array([1.0]), np.array([0.5]), np.array([2.0]), np.array([_T]), np.array([_F]), 0.9, 0.95),
         label="one terminated step: delta = 1 - 0.5 = 0.5"),
    Case((np.array([1.0, 0.0, 2.0]), np.array([0.5, 1.0, 0.2]), np.array([1.0, 3.0, 0.7]),
          np.array([_F, _T, _F]), np.array([_F, _F, _F]), 0.9, 0.5), label="an episode ends mid-rollout"),
)


def _pair_compare(expected, got):
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        return f"return a pair (adv, ret) with ret = adv + val, got {type(got).__name__}"
    for name, e, g in zip(("adv", "ret"), expected, got):
        reason = compare(e, g)
        if reason is not None:
            return f"{name}: {reason}"
    return None


GAE = register(Exercise(
    "check_gae", "gae", advantages.gae, hand=GAE_HAND, make=_random_rollout, n_random=20, seed=41,
    mistakes=GAE_MISTAKES, arg_names=("rew", "val", "next_val", "terminated", "truncated", "gamma", "lam"),
    compare=_pair_compare,
    generic_hint="delta_t = rew_t + gamma*(1-terminated_t)*next_val_t - val_t; "
                 "A_t = delta_t + gamma*lam*(1-done_t)*A_{t+1}, backwards; ret = adv + val"))


def check_gae(student_fn) -> CheckResult:
    """Grade `gae(rew, val, next_val, terminated, truncated, gamma, lam) -> (adv, ret)`."""
    return GAE.run(student_fn)


# --- a2c_loss -------------------------------------------------------------------------------------

A2C_NAMES = ("logp", "entropy", "val", "ret", "adv")


A2C_MISTAKES = [
    Mistake("critic target not detached",
            lambda logp, ent, val, ret, adv: -(logp * adv.detach()).mean() + 0.5 * ((val - ret) ** 2).mean() - 0.01 * ent.mean(),
            "detach the critic's target ret: the value loss must move val toward ret, not ret toward val"),
    Mistake("entropy sign",
            lambda logp, ent, val, ret, adv: -(logp * adv.detach()).mean() + 0.5 * ((val - ret.detach()) ** 2).mean() + 0.01 * ent.mean(),
            "the entropy BONUS is subtracted from the loss (- ent_coef * entropy), so minimising the loss keeps entropy up"),
    Mistake("advantage with gradient",
            lambda logp, ent, val, ret, adv: -(logp * adv).mean() + 0.5 * ((val - ret.detach()) ** 2).mean() - 0.01 * ent.mean(),
            "detach the advantage in the policy term: it is a weight, and gradients through it would train the critic "
            "to change the advantages instead of predicting returns"),
    Mistake("policy sign",
            lambda logp, ent, val, ret, adv: (logp * adv.detach()).mean() + 0.5 * ((val - ret.detach()) ** 2).mean() - 0.01 * ent.mean(),
            "the policy term is MINUS logp * adv (minimising it ascends J)"),
    Mistake("no value coefficient",
            lambda logp, ent, val, ret, adv: -(logp * adv.detach()).mean() + ((val - ret.detach()) ** 2).mean() - 0.01 * ent.mean(),
            "scale the value loss by vf_coef = 0.5"),
]


def _random_batch(rng):
    n = int(rng.integers(2, 40))
    return Case((-rng.exponential(1, n), rng.uniform(0, 0.7, n), rng.normal(5, 3, n), rng.normal(5, 3, n),
                 rng.normal(0, 1, n)), label="random batch")


def _probe_a2c(fn):
    """{'loss': value, 'grad_<x>': gradient} of fn on the five inputs A2C_NAMES."""
    return probed(fn, A2C_NAMES)


A2C_LOSS = register(Exercise(
    "check_a2c_loss", "a2c_loss", losses.a2c_loss,
    hand=(Case((np.array([-0.5, -1.0]), np.array([0.6, 0.7]), np.array([1.0, 2.0]), np.array([1.5, 1.0]),
                np.array([0.5, -1.0])), label="two steps"),),
    make=_random_batch, n_random=15, seed=42, mistakes=A2C_MISTAKES, arg_names=A2C_NAMES, wrap=_probe_a2c,
    generic_hint="-(logp * adv.detach()).mean() + 0.5 * ((val - ret.detach())**2).mean() - 0.01 * entropy.mean()"))


def check_a2c_loss(student_fn) -> CheckResult:
    """Grade `a2c_loss(logp, entropy, val, ret, adv) -> scalar` (vf_coef 0.5, ent_coef 0.01):
    its value and its gradient on every input."""
    return A2C_LOSS.run(student_fn)


# --- td_actor_critic_loss (the probe-environment debugging exercise) ------------------------------

TD_NAMES = ("logits", "val", "act", "rew", "next_val", "terminated", "gamma")


def _td_ref(logits, val, act, rew, next_val, term, gamma, *, boot_term=False, detach_target=True, discount=True,
            adv_sign=1.0, detach_adv=True):
    g = gamma if discount else 1.0
    target = rew + g * (1.0 if boot_term else 1.0 - term) * next_val
    if detach_target:
        target = target.detach()
    adv = adv_sign * (target - val)
    if detach_adv:
        adv = adv.detach()
    logp = torch.log_softmax(logits, dim=-1).gather(1, act.long().unsqueeze(1)).squeeze(1)
    return -(logp * adv).mean() + 0.5 * ((val - target) ** 2).mean()


TD_MISTAKES = [
    Mistake("bootstrapping through terminations", lambda *a: _td_ref(*a, boot_term=True),
            "a terminated step has no future: target = rew + gamma * (1 - terminated) * next_val "
            "(the constant probe learns V = 1/(1 - gamma) instead of 1)"),
    Mistake("policy pushed the wrong way", lambda *a: _td_ref(*a, adv_sign=-1.0),
            "the policy term pushes the wrong way: the advantage is target - val (better than expected is "
            "positive), not val - target, and the loss is MINUS mean(logp * adv) (the action-dependent probe "
            "learns to pick the punished action)"),
    Mistake("no discount", lambda *a: _td_ref(*a, discount=False),
            "discount the bootstrap: target = rew + GAMMA * (1 - terminated) * next_val "
            "(the two-step probe learns V(step 0) = 1 instead of gamma)"),
    Mistake("critic target not detached", lambda *a: _td_ref(*a, detach_target=False),
            "detach the target: rew + gamma * (1 - terminated) * next_val is data for the value loss, so no "
            "gradient may reach next_val"),
    Mistake("advantage with gradient", lambda *a: _td_ref(*a, detach_adv=False),
            "detach the advantage in the policy term: it is a weight; a gradient through it trains the critic "
            "from the policy loss"),
]


def _probe_td(fn):
    """{'loss', 'grad_logits', 'grad_val', 'grad_next_val'} of fn; act is passed as int64, terminated as 0/1."""
    if not callable(fn):
        return fn

    def call(logits, val, act, rew, next_val, terminated, gamma):
        return probed(lambda L, V, A, R, NV, D: fn(L, V, A.long(), R, NV, D, gamma),
                      TD_NAMES[:6], grad_of=("logits", "val", "next_val"))(
            logits, val, act, rew, next_val, terminated)

    call.__name__ = getattr(fn, "__name__", "loss")
    return call


def _random_td(rng):
    b, k = int(rng.integers(2, 12)), int(rng.integers(2, 4))
    return Case((rng.normal(0, 1, (b, k)), rng.normal(0, 2, b), rng.integers(0, k, b).astype(float),
                 rng.normal(0, 1, b), rng.normal(0, 2, b), (rng.random(b) < 0.4).astype(float),
                 float(rng.uniform(0.5, 0.99))), label="random batch")


TD_HAND = (
    Case((np.zeros((2, 2)), np.array([0.5, 0.0]), np.array([1.0, 0.0]), np.array([1.0, 0.0]),
          np.array([2.0, 1.0]), np.array([1.0, 0.0]), 0.9),
         label="a terminated step (target 1) and a bootstrapped one (target 0.9)"),
)


TD_LOSS = register(Exercise(
    "check_td_actor_critic_loss", "td_actor_critic_loss", probe_envs.td_actor_critic_loss, hand=TD_HAND,
    make=_random_td, n_random=12, seed=43, mistakes=TD_MISTAKES, arg_names=TD_NAMES, wrap=_probe_td,
    generic_hint="target = (rew + gamma * (1 - terminated) * next_val).detach(); adv = (target - val).detach(); "
                 "-(logp * adv).mean() + 0.5 * ((val - target)**2).mean()"))


def check_td_actor_critic_loss(student_fn) -> CheckResult:
    """Grade `td_actor_critic_loss(logits, val, act, rew, next_val, terminated, gamma) -> scalar`:
    its value and its gradients with respect to logits, val and next_val."""
    return TD_LOSS.run(student_fn)
