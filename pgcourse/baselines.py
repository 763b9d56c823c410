"""Baselines (lesson 3): measuring the variance of gradient estimators and the variance-optimal baseline.

`grads` is (B, P): B independent gradient estimates, each flattened to P parameters.
"""

from __future__ import annotations

import numpy as np

from pgcourse.util import to_numpy


def _as_2d(grads, name: str = "grads") -> np.ndarray:
    g = np.asarray(to_numpy(grads), dtype=np.float64)
    if g.ndim != 2 or g.shape[0] < 2:
        raise ValueError(f"{name} must have shape (B, P) with B >= 2 estimates, got shape {g.shape}")
    if not np.all(np.isfinite(g)):
        raise ValueError(f"{name} contains NaN or inf")
    return g


def gradient_variance(grads) -> float:
    """Total variance E||g - E[g]||^2 of B gradient estimates (B, P): the sum over parameters of
    each parameter's variance (the trace of the covariance), dividing by B."""
    g = _as_2d(grads)
    return float(((g - g.mean(axis=0)) ** 2).sum(axis=1).mean())


def optimal_baseline(score_sq_norm, ret) -> float:
    """Variance-optimal constant baseline b* = E[|grad log p|^2 G] / E[|grad log p|^2].

    score_sq_norm: (N,) squared norms |sum_t grad log pi(a_t|s_t)|^2, one per episode;
    ret: (N,) the episodes' returns G.
    """
    w = np.asarray(to_numpy(score_sq_norm), dtype=np.float64)
    G = np.asarray(to_numpy(ret), dtype=np.float64)
    if w.ndim != 1 or w.shape != G.shape or w.size == 0:
        raise ValueError(f"score_sq_norm and ret must be 1-D of one length N >= 1, got {w.shape} and {G.shape}")
    if np.any(w < 0):
        raise ValueError("score_sq_norm holds squared norms, which cannot be negative")
    if w.sum() == 0:
        raise ValueError("all squared score norms are zero: b* is undefined")
    return float((w * G).sum() / w.sum())


def per_step_scores(policy, obs, act):
    """grad_theta log pi(act_t | obs_t) for every step, flattened over the policy's parameters.

    policy: a torch module mapping obs (B, obs_dim) to logits (B, n_act); obs (T, obs_dim), act (T,).
    Returns a (T, P) float32 tensor (P = number of policy parameters), computed with torch.func in one batched call.
    """
    import torch
    from torch.func import functional_call, grad, vmap

    obs = torch.as_tensor(obs, dtype=torch.float32)
    act = torch.as_tensor(act, dtype=torch.int64)
    if obs.ndim != 2 or act.shape != obs.shape[:1]:
        raise ValueError(f"obs must be (T, obs_dim) and act (T,), got {tuple(obs.shape)} and {tuple(act.shape)}")
    params = {k: v.detach() for k, v in policy.named_parameters()}

    def logp_one(p, o, onehot):
        logits = functional_call(policy, p, (o.unsqueeze(0),))[0]
        return (torch.log_softmax(logits, dim=-1) * onehot).sum()

    with torch.no_grad():
        n_act = policy(obs[:1]).shape[-1]
    onehot = torch.nn.functional.one_hot(act, n_act).to(obs.dtype)
    g = vmap(grad(logp_one), in_dims=(None, 0, 0))(params, obs, onehot)
    return torch.cat([g[k].reshape(len(obs), -1) for k in params], dim=1)


def per_episode_estimates(scores, weights, ep_len) -> np.ndarray:
    """One policy-gradient estimate per episode: sum_t weights_t * scores_t.

    scores (T, P), weights (T,), ep_len (E,) with sum(ep_len) == T -> (E, P).
    """
    s = np.asarray(to_numpy(scores), dtype=np.float64)
    w = np.asarray(to_numpy(weights), dtype=np.float64)
    ep_len = np.asarray(ep_len, dtype=np.int64)
    if s.ndim != 2 or w.shape != s.shape[:1] or ep_len.sum() != len(w):
        raise ValueError(f"need scores (T, P), weights (T,) and episode lengths summing to T; got {s.shape}, "
                         f"{w.shape}, sum(ep_len)={ep_len.sum()}")
    starts = np.concatenate(([0], np.cumsum(ep_len)[:-1]))
    return np.add.reduceat(w[:, None] * s, starts, axis=0)
