"""Learning curves (lessons 2 onwards). Works with any matplotlib backend, Agg included.

- `moving_average(x, window)`: trailing mean, NumPy only.
- `plot_learning_curve(ep_ret, window=20)`: raw episode returns plus their
  moving average; returns the matplotlib Figure.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

__all__ = ["moving_average", "plot_learning_curve"]


def moving_average(x, window: int) -> np.ndarray:
    """Trailing mean over the last `window` values (fewer at the start). x (n,) -> (n,)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {x.shape}")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be a positive int, got {window!r}")
    c = np.concatenate(([0.0], np.cumsum(x)))
    idx = np.arange(1, len(x) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def plot_learning_curve(
    ep_ret: Sequence[float] | Mapping[str, Sequence[float]],
    window: int = 20,
    ax=None,
    title: str | None = "Learning curve",
    threshold: float | None = None,
    x=None,
    xlabel: str = "episode",
):
    """Plot episode returns (faint) and their `window`-episode moving average (solid).

    ep_ret: (n_episodes,) returns, or a dict {label: returns} to compare runs.
    x: optional (n_episodes,) x values (e.g. cumulative env steps; set `xlabel`).
    threshold: draws a dashed horizontal line (e.g. 475 for CartPole-v1).
    Returns the Figure (of `ax` if given, else a new one).
    """
    runs = dict(ep_ret) if isinstance(ep_ret, Mapping) else {"return": ep_ret}
    if not runs:
        raise ValueError("ep_ret is empty: pass the returns of at least one episode")
    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3.5))
    else:
        fig = ax.figure
    for i, (label, r) in enumerate(runs.items()):
        r = np.asarray(r, dtype=np.float64)
        if r.ndim != 1 or len(r) == 0:
            raise ValueError(f"returns for {label!r} must be a non-empty 1-D sequence, got shape {r.shape}")
        xs = np.arange(1, len(r) + 1) if x is None else np.asarray(x)
        if xs.shape != r.shape:
            raise ValueError(f"x must have the same length as the returns, got {xs.shape} and {r.shape}")
        color = f"C{i}"
        ax.plot(xs, r, color=color, alpha=0.25, lw=0.8)
        ax.plot(xs, moving_average(r, window), color=color, lw=2,
                label=f"{label} ({window}-episode mean)" if len(runs) > 1 else f"{window}-episode mean")
    if threshold is not None:
        ax.axhline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("episode return")
    if title:
        ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
