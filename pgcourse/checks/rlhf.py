"""Graded checks for lesson 7 (RLHF): the Bradley-Terry loss, the per-token KL-penalised reward, the DPO loss
and GRPO's group-normalised advantage."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from pgcourse import rlhf
from pgcourse.checks.core import Case, CheckResult, Exercise, Mistake, compare, register
from pgcourse.checks.probes import probed


def _compare(expected, got) -> str | None:
    """core.compare, with clearer words for a missing return, a loss that is not one number, and a result
    that is not a tensor (the probes turn tensors into dicts of values and gradients)."""
    if got is None:
        return "your function returned None (did you forget the `return` statement?)"
    if isinstance(expected, dict) and not isinstance(got, dict):
        return f"expected a torch tensor, got {type(got).__name__}"
    if isinstance(expected, dict) and "loss" in got and set(got) != set(expected):
        return (f"the loss must be one number (a 0-d tensor), got shape {tuple(np.shape(got['loss']))}: "
                "average over the batch")
    return compare(expected, got)

# ----------------------------------------------------------------------------- Bradley-Terry
BT_NAMES = ("r_chosen", "r_rejected")


def _probe_bt(fn):
    """{'loss': value, 'grad_r_chosen', 'grad_r_rejected'} of fn(r_chosen, r_rejected) on float64 tensors."""
    return probed(fn, BT_NAMES)


def _bt_d(rc, rr):
    return rc - rr


BT_MISTAKES = [
    Mistake("pair order flipped", lambda rc, rr: F.softplus(rc - rr).mean(),
            "the CHOSEN response must score higher: the loss is -log sigmoid(r_chosen - r_rejected), "
            "not of r_rejected - r_chosen"),
    Mistake("log-likelihood not negated", lambda rc, rr: F.logsigmoid(rc - rr).mean(),
            "minimise the NEGATIVE log-likelihood: -log sigmoid(r_chosen - r_rejected); without the minus, "
            "descent pushes the chosen response's reward down"),
    Mistake("sigmoid instead of log-sigmoid", lambda rc, rr: -torch.sigmoid(rc - rr).mean(),
            "take the LOG of the Bradley-Terry probability: -log sigmoid(d), not -sigmoid(d) (which has almost no "
            "gradient for a pair the model gets badly wrong)"),
    Mistake("one minus sigmoid instead of -log-sigmoid", lambda rc, rr: (1 - torch.sigmoid(rc - rr)).mean(),
            "1 - sigmoid(d) is not a log-likelihood: use -log sigmoid(d) = softplus(-d)"),
    Mistake("summed over pairs", lambda rc, rr: F.softplus(-(rc - rr)).sum(),
            "average over the pairs (.mean()), so the loss does not grow with the batch size"),
    Mistake("each response scored on its own", lambda rc, rr: (F.softplus(-rc) + F.softplus(rr)).mean(),
            "Bradley-Terry models the DIFFERENCE of the two rewards: P(chosen beats rejected) = "
            "sigmoid(r_chosen - r_rejected), one probability per pair"),
    Mistake("log(sigmoid()) underflows", lambda rc, rr: -torch.log(torch.sigmoid(rc - rr)).mean(),
            "log(sigmoid(d)) is -inf once sigmoid(d) rounds to 0 (a margin of about -745 in float64, -104 in "
            "float32); use F.logsigmoid(d) or -F.softplus(-d), exact everywhere"),
]


BT_HAND = (
    Case((np.array([1.0]), np.array([0.0])), label="one pair, margin 1: softplus(-1) = 0.3133"),
    Case((np.array([2.0, 0.0, -1.0]), np.array([0.0, 0.0, 1.0])), label="a right, a tied and a wrong pair"),
    Case((np.array([30.0, 0.0]), np.array([0.0, 800.0])), label="large margins: +30 and -800"),
)


def _random_bt(rng):
    b = int(rng.integers(2, 12))
    return Case((rng.normal(0, 2, b), rng.normal(0, 2, b)), label="random batch")


BRADLEY_TERRY_LOSS = register(Exercise(
    "check_bradley_terry_loss", "bradley_terry_loss", rlhf.bradley_terry_loss, hand=BT_HAND, make=_random_bt,
    n_random=12, seed=71, mistakes=BT_MISTAKES, arg_names=BT_NAMES, wrap=_probe_bt, compare=_compare,
    generic_hint="return -F.logsigmoid(r_chosen - r_rejected).mean()"))


def check_bradley_terry_loss(student_fn) -> CheckResult:
    """Grade `bradley_terry_loss(r_chosen, r_rejected) -> scalar` (inputs (B,) tensors): value and gradients."""
    return BRADLEY_TERRY_LOSS.run(student_fn)


# ----------------------------------------------------------------------------- per-token KL-penalised reward
KL_NAMES = ("score", "logp", "logp_ref", "mask", "beta")


def _probe_kl(fn):
    """Call fn(score, logp, logp_ref, mask, beta) with logp requiring grad (float64, mask bool);
    return {'rew': value, 'carries_grad': 1.0 if the rewards are not detached}."""
    if not callable(fn):
        return fn

    def call(score, logp, logp_ref, mask, beta):
        lp = torch.tensor(logp, dtype=torch.float64, requires_grad=True)
        out = fn(torch.tensor(score, dtype=torch.float64), lp, torch.tensor(logp_ref, dtype=torch.float64),
                 torch.tensor(mask, dtype=torch.bool), float(beta))
        if not isinstance(out, torch.Tensor):
            return out
        return {"rew": out.detach().numpy(), "carries_grad": np.array(float(out.requires_grad))}

    call.__name__ = getattr(fn, "__name__", "kl_penalised_rewards")
    return call


def _last(mask):
    return mask.shape[1] - 1 - mask.flip(1).to(torch.int64).argmax(1)


def _first(mask):
    return mask.to(torch.int64).argmax(1)


def _penalty(lp, lr, m, b):
    return torch.where(m, -b * (lp - lr), torch.zeros_like(lp))


def _at(rew, idx, score):
    rew = rew.clone()
    rew[torch.arange(len(score)), idx] += score
    return rew


KL_MISTAKES = [
    Mistake("score on every generated token",
            lambda s, lp, lr, m, b: (_penalty(lp, lr, m, b) + s[:, None] * m).detach(),
            "the reward model scores the WHOLE response once: add its score at the last generated token only"),
    Mistake("score at the last column, not the last generated token",
            lambda s, lp, lr, m, b: _at(_penalty(lp, lr, m, b), torch.full_like(_last(m), m.shape[1] - 1), s).detach(),
            "responses have different lengths (padding after <eos>): add the score at each row's LAST TRUE "
            "position of mask, not in the last column"),
    Mistake("score at the first generated token",
            lambda s, lp, lr, m, b: _at(_penalty(lp, lr, m, b), _first(m), s).detach(),
            "the score arrives when the response is complete: at the LAST generated token of each row"),
    Mistake("KL penalty with the wrong sign",
            lambda s, lp, lr, m, b: _at(-_penalty(lp, lr, m, b), _last(m), s).detach(),
            "the penalty is -beta * (logp - logp_ref): tokens the policy likes MORE than the reference cost reward"),
    Mistake("penalty not masked",
            lambda s, lp, lr, m, b: _at(-b * (lp - lr), _last(m), s).detach(),
            "only generated tokens get the penalty: prompt and padding positions (mask False) must be 0"),
    Mistake("beta left out",
            lambda s, lp, lr, m, b: _at(_penalty(lp, lr, m, 1.0), _last(m), s).detach(),
            "multiply the log-ratio by beta: -beta * (logp - logp_ref)"),
    Mistake("whole KL penalty at the last token",
            lambda s, lp, lr, m, b: _at(torch.zeros_like(lp), _last(m),
                                        s + _penalty(lp, lr, m, b).sum(1)).detach(),
            "the sum is right, but the shaping is per token: put -beta * (logp - logp_ref) on EVERY generated "
            "token (so GAE can tell which token cost the KL), and only the score at the last one"),
    Mistake("rewards not detached",
            lambda s, lp, lr, m, b: _at(_penalty(lp, lr, m, b), _last(m), s),
            "the rewards are data: compute them under torch.no_grad() (or from logp.detach()); a gradient through "
            "the penalty would train the policy through its own reward"),
]


_JUNK = -9.0  # values at prompt and padding positions, which must not matter
_M1 = np.array([[False, True, True, True], [False, True, True, False]])
_LP1 = np.array([[_JUNK, -1.0, -0.5, -2.0], [_JUNK, -0.2, -1.5, _JUNK]])
_LR1 = np.array([[-3.0, -1.5, -0.5, -1.0], [-4.0, -0.7, -1.0, -5.0]])
KL_HAND = (
    Case((np.array([2.0, -1.0]), _LP1, _LR1, _M1, 0.5),
         label="beta = 0.5; the second response is one token shorter (padding after it)"),
    Case((np.array([1.0, 3.0]), _LP1, _LR1, _M1, 0.0), label="beta = 0: only the score, at the last token"),
)


def _random_kl(rng):
    b, t = int(rng.integers(1, 6)), int(rng.integers(3, 10))
    mask = np.zeros((b, t), bool)
    for i in range(b):
        start = int(rng.integers(1, t - 1))
        stop = int(rng.integers(start + 1, t + 1))
        mask[i, start:stop] = True
    lp = np.where(mask, -rng.exponential(1.0, (b, t)), _JUNK)
    lr = -rng.exponential(1.0, (b, t))
    return Case((rng.normal(0, 1, b), lp, lr, mask, float(rng.choice([0.1, 0.5, 1.0, 2.0]))), label="random batch")


KL_PENALISED_REWARDS = register(Exercise(
    "check_kl_penalised_rewards", "kl_penalised_rewards", rlhf.kl_penalised_rewards, hand=KL_HAND, make=_random_kl,
    n_random=12, seed=72, mistakes=KL_MISTAKES, arg_names=KL_NAMES, wrap=_probe_kl, compare=_compare,
    generic_hint="with torch.no_grad(): rew = torch.where(mask, -beta * (logp - logp_ref), 0.0); "
                 "then add score[b] at the last True column of mask in each row b"))


def check_kl_penalised_rewards(student_fn) -> CheckResult:
    """Grade `kl_penalised_rewards(score, logp, logp_ref, mask, beta) -> (B, T)`: its values, and that they
    carry no gradient."""
    return KL_PENALISED_REWARDS.run(student_fn)


# ----------------------------------------------------------------------------- DPO
DPO_NAMES = ("logp_chosen", "logp_rejected", "ref_chosen", "ref_rejected", "beta")


def _probe_dpo(fn):
    """{'loss', 'grad_logp_chosen', 'grad_logp_rejected'} of fn(logp_c, logp_r, ref_c, ref_r, beta) in float64
    (the reference log-probs are data: no gradient is asked of them)."""
    if not callable(fn):
        return fn

    def call(lc, lr, rc, rr, beta):
        return probed(lambda a, b, c, d: fn(a, b, c, d, float(beta)), DPO_NAMES[:4],
                      grad_of=("logp_chosen", "logp_rejected"))(lc, lr, rc, rr)

    call.__name__ = getattr(fn, "__name__", "dpo_loss")
    return call


def _margin(lc, lr, rc, rr):
    return (lc - rc) - (lr - rr)


DPO_MISTAKES = [
    Mistake("pair order flipped", lambda lc, lr, rc, rr, b: F.softplus(b * _margin(lc, lr, rc, rr)).mean(),
            "the chosen response's log-ratio comes first: -log sigmoid(beta * ((logp_chosen - ref_chosen) - "
            "(logp_rejected - ref_rejected)))"),
    Mistake("sigmoid instead of log-sigmoid", lambda lc, lr, rc, rr, b: -torch.sigmoid(b * _margin(lc, lr, rc, rr)).mean(),
            "DPO is the Bradley-Terry NEGATIVE LOG-likelihood of the implicit rewards: -log sigmoid(...), "
            "not -sigmoid(...)"),
    Mistake("reference replaced by the policy",
            lambda lc, lr, rc, rr, b: F.softplus(-b * ((lc - lc.detach()) - (lr - lr.detach()))).mean(),
            "the log-ratios are against the FROZEN reference (ref_chosen, ref_rejected), not the policy being "
            "trained: against itself they are always 0 and the loss is stuck at log 2"),
    Mistake("reference log-probs added", lambda lc, lr, rc, rr, b: F.softplus(-b * ((lc + rc) - (lr + rr))).mean(),
            "SUBTRACT the reference: the implicit reward is beta * (log pi - log pi_ref)"),
    Mistake("beta outside the log-sigmoid", lambda lc, lr, rc, rr, b: (b * F.softplus(-_margin(lc, lr, rc, rr))).mean(),
            "beta scales the margin INSIDE the sigmoid: -log sigmoid(beta * margin); outside it only rescales "
            "the loss"),
    Mistake("log-ratios detached",
            lambda lc, lr, rc, rr, b: F.softplus(-b * _margin(lc, lr, rc, rr)).mean().detach(),
            "the gradient must reach the policy through logp_chosen and logp_rejected: do not detach them "
            "(only the reference log-probs are data)"),
    Mistake("summed over pairs", lambda lc, lr, rc, rr, b: F.softplus(-b * _margin(lc, lr, rc, rr)).sum(),
            "average over the pairs (.mean())"),
]


DPO_HAND = (
    Case((np.array([-1.0]), np.array([-2.0]), np.array([-1.5]), np.array([-1.5]), 1.0),
         label="log-ratios +0.5 and -0.5, beta = 1: softplus(-1) = 0.3133"),
    Case((np.array([-3.0, -2.0]), np.array([-1.0, -2.5]), np.array([-2.0, -2.0]), np.array([-2.0, -3.0]), 0.1),
         label="two pairs, beta = 0.1"),
    Case((np.array([-4.0, -6.0, -2.0]), np.array([-5.0, -3.0, -2.0]), np.array([-5.0, -5.0, -1.0]),
          np.array([-4.0, -4.0, -3.0]), 2.0), label="three pairs, beta = 2"),
)


def _random_dpo(rng):
    b = int(rng.integers(2, 10))
    ref_c, ref_r = -rng.exponential(5.0, b), -rng.exponential(5.0, b)
    return Case((ref_c + rng.normal(0, 1, b), ref_r + rng.normal(0, 1, b), ref_c, ref_r,
                 float(rng.choice([0.1, 0.5, 1.0, 3.0]))), label="random batch")


DPO_LOSS = register(Exercise(
    "check_dpo_loss", "dpo_loss", rlhf.dpo_loss, hand=DPO_HAND, make=_random_dpo, n_random=12, seed=73,
    mistakes=DPO_MISTAKES, arg_names=DPO_NAMES, wrap=_probe_dpo, compare=_compare,
    generic_hint="margin = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected); "
                 "return -F.logsigmoid(beta * margin).mean()"))


def check_dpo_loss(student_fn) -> CheckResult:
    """Grade `dpo_loss(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta) -> scalar` (inputs (B,)):
    its value and its gradients on the policy's log-probs."""
    return DPO_LOSS.run(student_fn)


# ----------------------------------------------------------------------------- GRPO
GRPO_NAMES = ("rew", "eps")


def _value_grpo(fn):
    """fn(rew (P, G) float64 tensor, eps float) as a function of a NumPy array and a number."""
    if not callable(fn):
        return fn

    def call(rew, eps):
        out = fn(torch.tensor(rew, dtype=torch.float64), float(eps))
        return out.detach() if isinstance(out, torch.Tensor) else out

    call.__name__ = getattr(fn, "__name__", "grpo_advantages")
    return call


GRPO_MISTAKES = [
    Mistake("normalised over the whole batch", lambda r, e: (r - r.mean()) / (r.std() + e),
            "normalise within each prompt's GROUP (each row, dim=1): the point is to compare a completion with the "
            "other completions of the SAME prompt"),
    Mistake("normalised across prompts", lambda r, e: (r - r.mean(0, keepdim=True)) / (r.std(0, keepdim=True) + e),
            "rows are prompts and columns are completions: take the mean and std over dim=1 (keepdim=True)"),
    Mistake("no std guard", lambda r, e: (r - r.mean(1, keepdim=True)) / r.std(1, keepdim=True),
            "a group whose rewards are all equal has std 0: divide by (std + eps), so its advantages are 0, not NaN"),
    Mistake("std clamped at eps", lambda r, e: (r - r.mean(1, keepdim=True)) / r.std(1, keepdim=True).clamp(min=e),
            "the guard is std + eps (as written), not max(std, eps)"),
    Mistake("mean subtracted, not divided by the std", lambda r, e: r - r.mean(1, keepdim=True),
            "GRPO also scales each group: divide by the group's std (+ eps)"),
    Mistake("population std", lambda r, e: (r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True, unbiased=False) + e),
            "use torch's default std (the sample std, dividing by G - 1): r.std(dim=1, keepdim=True)"),
]


GRPO_HAND = (
    Case((np.array([[1.0, 0.0, 0.0, 1.0], [3.0, 3.0, 3.0, 3.0]]), 1e-4),
         label="the second prompt's four completions score the same"),
    Case((np.array([[0.0, 1.0, 2.0], [10.0, 20.0, 30.0]]), 0.5), label="two groups of different scale, eps = 0.5"),
)


def _random_grpo(rng):
    p, g = int(rng.integers(2, 5)), int(rng.integers(2, 9))
    rew = rng.normal(rng.normal(0, 3, (p, 1)), rng.uniform(0.2, 3, (p, 1)), (p, g))
    return Case((rew, float(rng.choice([1e-4, 1e-2, 0.5]))), label="random groups")


GRPO_ADVANTAGES = register(Exercise(
    "check_grpo_advantages", "grpo_advantages", rlhf.grpo_advantages, hand=GRPO_HAND, make=_random_grpo,
    n_random=12, seed=74, mistakes=GRPO_MISTAKES, arg_names=GRPO_NAMES, wrap=_value_grpo, compare=_compare,
    generic_hint="return (rew - rew.mean(dim=1, keepdim=True)) / (rew.std(dim=1, keepdim=True) + eps)"))


def check_grpo_advantages(student_fn) -> CheckResult:
    """Grade `grpo_advantages(rew, eps) -> (P, G)`, rew a (P, G) tensor of rewards (a row per prompt)."""
    return GRPO_ADVANTAGES.run(student_fn)
