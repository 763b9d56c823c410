"""Soft actor-critic building blocks (lesson 6): the maximum-entropy pieces SAC is made of.

- `soft_policy(q, alpha)`: the policy that maximises E[Q] + alpha * H, pi(a) proportional to exp(Q(a) / alpha).
- `tanh_log_det(u)`: log |d tanh(u) / du| = log(1 - tanh(u)^2), in a form that stays finite for large |u|.
- `squashed_log_prob(u, mu, log_std)`: log-prob of act = tanh(u) when u ~ N(mu, std): the Gaussian's log-density
  minus the tanh correction, summed over action dimensions.
- `squashed_gaussian(mu, log_std)`: a reparameterised sample act = tanh(mu + std * eps) and its log-prob
  (the Gaussian's, minus the tanh correction): what SAC's actor outputs for bounded actions.
- `soft_q_target(...)`: r + gamma * (1 - terminated) * (min(Q1', Q2') - alpha * logp'), a constant (no gradient).
- `polyak_update_(target, source, tau)`: target <- (1 - tau) * target + tau * source, in place.

The SAC trainer built from them is `pgcourse.algos.sac` (lesson 6 writes it out).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from pgcourse.util import nonnegative_float, positive_float, unit_interval

__all__ = ["soft_policy", "entropy", "tanh_log_det", "squashed_log_prob", "squashed_gaussian", "soft_q_target",
           "polyak_update_"]


def soft_policy(q, alpha: float) -> np.ndarray:
    """pi(a) = exp(Q(a) / alpha) / sum_b exp(Q(b) / alpha) for q (..., n_act); same shape, rows sum to 1.

    alpha -> 0: all mass on the best action (greedy); alpha -> infinity: uniform. Computed with the
    maximum subtracted, so it stays finite at any alpha > 0.
    """
    alpha = positive_float(alpha, "alpha")
    q = np.asarray(q, dtype=np.float64)
    if q.ndim == 0 or q.shape[-1] < 1 or not np.all(np.isfinite(q)):
        raise ValueError(f"q must be a finite array (..., n_act) with n_act >= 1, got shape {q.shape}")
    z = (q - q.max(axis=-1, keepdims=True)) / alpha
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def entropy(p) -> np.ndarray:
    """H(p) = -sum p log p in nats over the last axis (0 log 0 = 0), for probabilities p (..., n_act)."""
    p = np.asarray(p, dtype=np.float64)
    logp = np.log(np.where(p > 0, p, 1.0))
    return -(p * logp).sum(axis=-1)


def tanh_log_det(u: torch.Tensor) -> torch.Tensor:
    """log(1 - tanh(u)^2), elementwise, as 2 * (log 2 - u - softplus(-2u)): the same value, but finite
    where tanh(u) rounds to +-1 (|u| > ~9 in float32) and the direct form gives -inf."""
    if not isinstance(u, torch.Tensor):
        raise ValueError(f"u must be a torch tensor, got {type(u).__name__}")
    return 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))


def squashed_log_prob(u: torch.Tensor, mu: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log pi(tanh(u)) for u ~ N(mu, exp(log_std)^2), all (B, act_dim) -> (B,):

        sum_j [ log N(u_j; mu_j, std_j) - log(1 - tanh(u_j)^2) ]

    (change of variables: act = tanh(u) squeezes density near +-1, so its log-density gains
    -log |d act / d u|). Finite for any u: the correction uses `tanh_log_det`. An action rescaled to
    bounds, center + scale * tanh(u), has this log-prob minus sum_j log scale_j (`SquashedGaussianActor`).
    """
    if not all(isinstance(x, torch.Tensor) for x in (u, mu, log_std)):
        raise ValueError("u, mu and log_std must be torch tensors")
    if not (u.shape == mu.shape == log_std.shape) or u.ndim != 2:
        raise ValueError(f"u, mu and log_std must all have shape (B, act_dim), got {tuple(u.shape)}, "
                         f"{tuple(mu.shape)} and {tuple(log_std.shape)}")
    z = (u - mu) / log_std.exp()
    gauss = -0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
    return (gauss - tanh_log_det(u)).sum(-1)


def squashed_gaussian(mu: torch.Tensor, log_std: torch.Tensor, deterministic: bool = False,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A tanh-squashed Gaussian action and its log-prob. mu, log_std: (B, act_dim).

    u = mu + exp(log_std) * eps with eps ~ N(0, I) (reparameterised: gradients reach mu and log_std);
    act = tanh(u) in (-1, 1); logp = squashed_log_prob(u, mu, log_std).
    Returns (act (B, act_dim), logp (B,)). deterministic=True: u = mu (the policy's mean action).
    """
    if not (isinstance(mu, torch.Tensor) and isinstance(log_std, torch.Tensor)):
        raise ValueError("mu and log_std must be torch tensors")
    if mu.shape != log_std.shape or mu.ndim != 2:
        raise ValueError(f"mu and log_std must both have shape (B, act_dim), got {tuple(mu.shape)} and {tuple(log_std.shape)}")
    eps = torch.zeros_like(mu) if deterministic else torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
    u = mu + log_std.exp() * eps
    return torch.tanh(u), squashed_log_prob(u, mu, log_std)


def soft_q_target(rew, next_q1, next_q2, next_logp, terminated, gamma: float, alpha: float) -> torch.Tensor:
    """The critics' regression target, all inputs (B,), returned detached (B,):

        y = rew + gamma * (1 - terminated) * (min(Q1'(s', a'), Q2'(s', a')) - alpha * log pi(a'|s'))

    with a' ~ pi(.|s') and Q' the target (Polyak-averaged) critics. Only `terminated` stops the bootstrap:
    a transition cut by a time limit (truncated) still bootstraps from s'.
    """
    gamma, alpha = unit_interval(gamma, "gamma"), nonnegative_float(alpha, "alpha")
    tensors = [torch.as_tensor(x) for x in (rew, next_q1, next_q2, next_logp, terminated)]
    shape = tensors[0].shape
    if len(shape) != 1 or any(t.shape != shape for t in tensors):
        raise ValueError(f"rew, next_q1, next_q2, next_logp, terminated must all have shape (B,), got "
                         f"{[tuple(t.shape) for t in tensors]}")
    rew, q1, q2, logp, term = tensors
    with torch.no_grad():
        soft_v = torch.minimum(q1, q2) - alpha * logp
        return rew + gamma * (1.0 - term.to(soft_v.dtype)) * soft_v


@torch.no_grad()
def polyak_update_(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target <- (1 - tau) * target + tau * source, parameter by parameter, in place; tau in (0, 1]."""
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"tau must be in (0, 1], got {tau}")
    t_params, s_params = list(target.parameters()), list(source.parameters())
    if len(t_params) != len(s_params) or any(a.shape != b.shape for a, b in zip(t_params, s_params)):
        raise ValueError("target and source must have parameters of the same shapes (a copy of one network)")
    torch._foreach_lerp_(t_params, s_params, tau)
