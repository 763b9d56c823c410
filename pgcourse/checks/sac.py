"""Graded checks for lesson 6 (SAC): the squashed-Gaussian log-prob and the soft Q target, each declared once as an
`Exercise`."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from pgcourse import soft
from pgcourse.checks.core import Case, CheckResult, Exercise, Mistake, register
from pgcourse.checks.probes import probed

LOGP_NAMES = ("u", "mu", "log_std")


def _probe_logp(fn):
    """{'logp': value (B,), 'grad_<x>': d sum(logp) / dx} of fn(u, mu, log_std) on float64 tensors."""
    return probed(fn, LOGP_NAMES, output="logp", summed=True)


def _gauss(u, mu, log_std):
    return -0.5 * ((u - mu) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)


LOGP_MISTAKES = [
    Mistake("forgot the tanh correction", lambda u, mu, ls: _gauss(u, mu, ls).sum(-1),
            "act = tanh(u) is not Gaussian: subtract log(1 - tanh(u)^2) for every action dimension"),
    Mistake("correction added", lambda u, mu, ls: (_gauss(u, mu, ls) + soft.tanh_log_det(u)).sum(-1),
            "SUBTRACT log(1 - tanh(u)^2): squashing packs density near +-1, so log pi(act) = log N(u) - log|d act/du|"),
    Mistake("not summed over action dimensions", lambda u, mu, ls: _gauss(u, mu, ls) - soft.tanh_log_det(u),
            "the action's log-prob is one number per sample: sum over the action dimensions (.sum(-1)), shape (B,)"),
    Mistake("direct log(1 - tanh(u)^2)", lambda u, mu, ls: (_gauss(u, mu, ls) - torch.log(1 - torch.tanh(u) ** 2)).sum(-1),
            "log(1 - tanh(u)^2) is -inf once tanh(u) rounds to 1 (large |u|); use the identity "
            "log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u))"),
    Mistake("epsilon inside the log", lambda u, mu, ls: (_gauss(u, mu, ls)
                                                         - torch.log(1 - torch.tanh(u) ** 2 + 1e-6)).sum(-1),
            "the + 1e-6 keeps it finite but changes the log-prob (badly for large |u|); "
            "use 2 * (log 2 - u - softplus(-2u)), exact and finite"),
    Mistake("std used as the variance", lambda u, mu, ls: (-0.5 * (u - mu) ** 2 / ls.exp() - 0.5 * ls
                                                           - 0.5 * math.log(2 * math.pi)
                                                           - soft.tanh_log_det(u)).sum(-1),
            "the Gaussian log-density is -0.5 * ((u - mu) / std)^2 - log std - 0.5 log(2 pi), with std = exp(log_std)"),
]


def _random_gaussian_batch(rng):
    b, d = int(rng.integers(1, 6)), int(rng.integers(1, 4))
    mu = rng.normal(0, 1.5, (b, d))
    log_std = rng.uniform(-2, 0.5, (b, d))
    return Case((mu + np.exp(log_std) * rng.normal(size=(b, d)), mu, log_std), label="random batch")


SQUASHED_LOG_PROB = register(Exercise(
    "check_squashed_log_prob", "squashed_log_prob", soft.squashed_log_prob,
    hand=(
        Case((np.zeros((1, 1)), np.zeros((1, 1)), np.zeros((1, 1))), label="u = mu = 0, std = 1: -0.5 log(2 pi)"),
        Case((np.array([[0.5, -1.0]]), np.array([[0.0, 0.0]]), np.array([[0.0, np.log(0.5)]])), label="two dimensions"),
        Case((np.array([[20.0], [-20.0]]), np.array([[19.0], [-19.5]]), np.zeros((2, 1))),
             label="large |u|: tanh(u) rounds to +-1"),
    ),
    make=_random_gaussian_batch, n_random=15, seed=61, mistakes=LOGP_MISTAKES, arg_names=LOGP_NAMES,
    wrap=_probe_logp,
    generic_hint="z = (u - mu) / log_std.exp(); gauss = -0.5 * z**2 - log_std - 0.5 * log(2 pi); "
                 "return (gauss - 2 * (log(2) - u - softplus(-2 * u))).sum(-1)"))


def check_squashed_log_prob(student_fn) -> CheckResult:
    """Grade `squashed_log_prob(u, mu, log_std) -> logp (B,)` (all inputs (B, act_dim) tensors):
    its value and its gradient on u, mu and log_std."""
    return SQUASHED_LOG_PROB.run(student_fn)


TARGET_NAMES = ("rew", "next_q1", "next_q2", "next_logp", "terminated")
GAMMA, ALPHA = 0.99, 0.2


def _probe_target(fn):
    """A non-callable fn is returned unchanged (run_check reports it). Otherwise: Call fn(rew, q1', q2', logp', terminated, gamma=0.99, alpha=0.2) with q1', q2', logp' requiring grad;
    return {'target': value, 'carries_grad': 1.0 if the target is not detached}."""
    if not callable(fn):
        return fn

    def call(rew, q1, q2, logp, terminated):
        ts = [torch.tensor(a, dtype=torch.float64, requires_grad=name in ("next_q1", "next_q2", "next_logp"))
              for name, a in zip(TARGET_NAMES[:4], (rew, q1, q2, logp))]
        out = fn(*ts, torch.tensor(terminated), GAMMA, ALPHA)
        if not isinstance(out, torch.Tensor):
            return out
        return {"target": out.detach().numpy(), "carries_grad": np.array(float(out.requires_grad))}
    call.__name__ = getattr(fn, "__name__", "soft_q_target")
    return call


def _not_term(t, like):
    return 1.0 - t.to(like.dtype)


TARGET_MISTAKES = [
    Mistake("max of the twin critics", lambda r, q1, q2, lp, t, g, a: (
        r + g * _not_term(t, r) * (torch.maximum(q1, q2) - a * lp)).detach(),
            "take the MIN of the two target critics: the max keeps the overestimation twin critics are there to cut"),
    Mistake("mean of the twin critics", lambda r, q1, q2, lp, t, g, a: (
        r + g * _not_term(t, r) * ((q1 + q2) / 2 - a * lp)).detach(),
            "take the MIN of the two target critics, not their mean (clipped double Q)"),
    Mistake("entropy term with the wrong sign", lambda r, q1, q2, lp, t, g, a: (
        r + g * _not_term(t, r) * (torch.minimum(q1, q2) + a * lp)).detach(),
            "the soft value is min Q - alpha * log pi: -log pi is the entropy bonus, so SUBTRACT alpha * logp"),
    Mistake("forgot the entropy term", lambda r, q1, q2, lp, t, g, a: (
        r + g * _not_term(t, r) * torch.minimum(q1, q2)).detach(),
            "SAC's target is soft: min Q(s', a') - alpha * log pi(a'|s'), the entropy bonus included"),
    Mistake("bootstraps through termination", lambda r, q1, q2, lp, t, g, a: (
        r + g * (torch.minimum(q1, q2) - a * lp)).detach(),
            "multiply the bootstrap by (1 - terminated): after a real termination there is no next state"),
    Mistake("target not detached", lambda r, q1, q2, lp, t, g, a: (
        r + g * _not_term(t, r) * (torch.minimum(q1, q2) - a * lp)),
            "the target is a constant for the critics' regression: compute it under torch.no_grad() or .detach() it"),
]


def _random_transitions(rng):
    n = int(rng.integers(2, 20))
    return Case((rng.normal(0, 1, n), rng.normal(0, 5, n), rng.normal(0, 5, n), rng.normal(-1, 1, n),
                 rng.random(n) < 0.3), label="random batch")


SOFT_Q_TARGET = register(Exercise(
    "check_soft_q_target", "soft_q_target", soft.soft_q_target,
    hand=(
        Case((np.array([1.0, 1.0, 0.5]), np.array([10.0, 4.0, 2.0]), np.array([8.0, 6.0, 3.0]),
              np.array([-1.0, 0.5, 0.0]), np.array([False, False, True])),
             label="min picks each critic once; the last transition terminated"),
    ),
    make=_random_transitions, n_random=15, seed=62, mistakes=TARGET_MISTAKES, arg_names=TARGET_NAMES,
    wrap=_probe_target,
    generic_hint="with torch.no_grad(): return rew + gamma * (1 - terminated.float()) * "
                 "(torch.minimum(next_q1, next_q2) - alpha * next_logp)"))


def check_soft_q_target(student_fn) -> CheckResult:
    """Grade `soft_q_target(rew, next_q1, next_q2, next_logp, terminated, gamma, alpha) -> (B,)` at gamma = 0.99,
    alpha = 0.2: its value, and that it carries no gradient."""
    return SOFT_Q_TARGET.run(student_fn)
