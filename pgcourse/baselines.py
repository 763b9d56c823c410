"""Lesson 3, baselines: measuring the variance of gradient estimators and the variance-optimal baseline.

`grads` is (B, P): B independent gradient estimates, each flattened to P parameters.
"""

from __future__ import annotations

import numpy as np

from pgcourse.checks.core import _to_numpy


def _as_2d(grads, name: str = "grads") -> np.ndarray:
    g = np.asarray(_to_numpy(grads), dtype=np.float64)
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
    w = np.asarray(_to_numpy(score_sq_norm), dtype=np.float64)
    G = np.asarray(_to_numpy(ret), dtype=np.float64)
    if w.ndim != 1 or w.shape != G.shape or w.size == 0:
        raise ValueError(f"score_sq_norm and ret must be 1-D of one length N >= 1, got {w.shape} and {G.shape}")
    if np.any(w < 0):
        raise ValueError("score_sq_norm holds squared norms, which cannot be negative")
    if w.sum() == 0:
        raise ValueError("all squared score norms are zero: b* is undefined")
    return float((w * G).sum() / w.sum())
