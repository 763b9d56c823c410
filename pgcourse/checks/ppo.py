"""Graded checks for lesson 5 (PPO): the clipped surrogate loss and approx-KL, each declared once as an `Exercise`."""

from __future__ import annotations

import numpy as np
import torch

from pgcourse import losses
from pgcourse.checks.core import Case, CheckResult, Exercise, Mistake, register
from pgcourse.checks.probes import probed, value_of

CLIP_NAMES = ("logp", "logp_old", "adv")


def _probed(fn):
    # at clip_eps = 0.2; adv comes from GAE as plain data, so only logp and logp_old are probed for gradients
    return probed(fn, CLIP_NAMES, grad_of=("logp", "logp_old"), extra=(0.2,))


def _clip(ratio, adv, eps=0.2):
    return torch.clamp(ratio, 1 - eps, 1 + eps) * adv


CLIP_MISTAKES = [
    Mistake("forgot the min", lambda lp, lo, a, eps: -_clip(torch.exp(lp - lo.detach()), a.detach(), eps).mean(),
            "take the min of the unclipped and the clipped term: the clip alone removes the pessimistic bound"),
    Mistake("clipped the advantage", lambda lp, lo, a, eps: -torch.min(
        torch.exp(lp - lo.detach()) * a.detach(),
        torch.exp(lp - lo.detach()) * torch.clamp(a.detach(), 1 - eps, 1 + eps)).mean(),
            "clip the RATIO to [1 - eps, 1 + eps], not the advantage"),
    Mistake("ratio inverted", lambda lp, lo, a, eps: -torch.min(
        torch.exp(lo.detach() - lp) * a.detach(), _clip(torch.exp(lo.detach() - lp), a.detach(), eps)).mean(),
            "the ratio is pi_new / pi_old = exp(logp - logp_old), not its inverse"),
    Mistake("probabilities instead of the exp of log-prob differences", lambda lp, lo, a, eps: -torch.min(
        (lp - lo.detach()) * a.detach(), _clip(lp - lo.detach(), a.detach(), eps)).mean(),
            "the ratio is exp(logp - logp_old); logp - logp_old is its logarithm"),
    Mistake("old log-probs not detached", lambda lp, lo, a, eps: -torch.min(
        torch.exp(lp - lo) * a.detach(), _clip(torch.exp(lp - lo), a.detach(), eps)).mean(),
            "detach logp_old: the old policy is fixed data, only the new policy's logp may carry gradient"),
    Mistake("wrong sign", lambda lp, lo, a, eps: torch.min(
        torch.exp(lp - lo.detach()) * a.detach(), _clip(torch.exp(lp - lo.detach()), a.detach(), eps)).mean(),
            "the loss is MINUS the clipped objective: we maximise the surrogate"),
    Mistake("max instead of min", lambda lp, lo, a, eps: -torch.max(
        torch.exp(lp - lo.detach()) * a.detach(), _clip(torch.exp(lp - lo.detach()), a.detach(), eps)).mean(),
            "use min, not max: PPO takes the pessimistic (lower) of the two objectives"),
]


def _random_clip_batch(rng):
    n = int(rng.integers(2, 40))
    old = -rng.exponential(1.0, n)
    return Case((old + rng.normal(0, 0.4, n), old, rng.normal(0, 1.5, n)), label="random batch")


PPO_CLIP_LOSS = register(Exercise(
    "check_ppo_clip_loss", "ppo_clip_loss", losses.ppo_clip_loss,
    hand=(
        Case((np.log(np.array([0.5, 0.5])), np.log(np.array([0.5, 0.5])), np.array([1.0, -1.0])), label="r = 1"),
        Case((np.log(np.array([0.9, 0.2])), np.log(np.array([0.5, 0.5])), np.array([2.0, 1.0])),
             label="A > 0: r = 1.8 is clipped, r = 0.4 is not"),
        Case((np.log(np.array([0.9, 0.2])), np.log(np.array([0.5, 0.5])), np.array([-2.0, -1.0])),
             label="A < 0: r = 0.4 is clipped, r = 1.8 is not"),
    ),
    make=_random_clip_batch, n_random=15, seed=51, mistakes=CLIP_MISTAKES, arg_names=CLIP_NAMES, wrap=_probed,
    generic_hint="ratio = exp(logp - logp_old.detach()); "
                 "loss = -min(ratio*adv, clamp(ratio, 1-eps, 1+eps)*adv).mean()"))


def check_ppo_clip_loss(student_fn) -> CheckResult:
    """Grade `ppo_clip_loss(logp, logp_old, adv, clip_eps) -> scalar` at clip_eps = 0.2:
    its value and its gradient on logp, logp_old and adv."""
    return PPO_CLIP_LOSS.run(student_fn)


KL_MISTAKES = [
    Mistake("plain log-ratio estimator", lambda lp, lo: (lo - lp).mean(),
            "mean(logp_old - logp) is unbiased but can be negative and is noisy; use mean((r - 1) - log r), r = exp(logp - logp_old)"),
    Mistake("sign of the log-ratio", lambda lp, lo: ((torch.exp(lo - lp) - 1) - (lo - lp)).mean(),
            "r = exp(logp - logp_old) (new over old): the samples come from the old policy"),
    Mistake("forgot the -1", lambda lp, lo: (torch.exp(lp - lo) - (lp - lo)).mean(),
            "the estimator is (r - 1) - log r, which is 0 when the policies agree"),
    Mistake("squared log-ratio", lambda lp, lo: ((lp - lo) ** 2).mean(),
            "that is twice the k2 estimator (0.5 * log r squared would be k2); use the k3 form (r - 1) - log r"),
]


def _random_kl_batch(rng):
    n = int(rng.integers(2, 50))
    old = -rng.exponential(1.0, n)
    return Case((old + rng.normal(0, 0.3, n), old), label="random batch")


APPROX_KL = register(Exercise(
    "check_approx_kl", "approx_kl", losses.approx_kl,
    hand=(Case((np.log(np.array([0.5, 0.5])), np.log(np.array([0.5, 0.5]))), label="same policy: 0"),
          Case((np.log(np.array([0.6, 0.3])), np.log(np.array([0.5, 0.5]))), label="two samples")),
    make=_random_kl_batch, n_random=15, seed=52, mistakes=KL_MISTAKES, arg_names=("logp", "logp_old"),
    wrap=value_of,
    generic_hint="log_ratio = logp - logp_old; return ((log_ratio.exp() - 1) - log_ratio).mean()"))


def check_approx_kl(student_fn) -> CheckResult:
    """Grade `approx_kl(logp, logp_old) -> scalar tensor`, the k3 estimate mean((r - 1) - log r)."""
    return APPROX_KL.run(student_fn)
