"""Discounted returns and reward-to-go (lesson 2).

Conventions: time is axis 0. `rew` is `(T,)` for one episode or `(T, N)` for N
episode segments of equal length stepped side by side. Inputs may be NumPy
arrays, lists or torch tensors; a torch tensor in gives a torch tensor out
(same dtype and device), anything else gives a float64 NumPy array.

- `discounted_returns(rew, gamma)`  G_0 = sum_t gamma^t r_t, one number per episode.
- `reward_to_go(rew, gamma)`         G_t = sum_{k>=t} gamma^(k-t) r_k, same shape as `rew`.
- `reward_to_go_loop(rew, gamma)`    the same, written as the plain loop (teaching reference).
- `reward_to_go_episodes(rew, done, gamma)`  several episodes concatenated; `done[t]`
  marks the last step of an episode and the sum restarts after it.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = [
    "discounted_returns",
    "reward_to_go",
    "reward_to_go_loop",
    "reward_to_go_episodes",
]


# ----------------------------------------------------------------------------- validation
def _check_gamma(gamma: Any) -> float:
    if isinstance(gamma, (bool, np.bool_)) or isinstance(gamma, (str, bytes)):
        ok = False
    elif isinstance(gamma, numbers.Real):
        ok = True
    else:  # 0-d NumPy arrays and torch tensors
        ok = getattr(gamma, "ndim", None) == 0 and getattr(gamma, "dtype", None) is not None
        if ok:
            ok = not str(gamma.dtype).endswith("bool")
    if not ok:
        raise ValueError(
            f"gamma must be a real number in [0, 1], got {type(gamma).__name__}: {gamma!r}"
        )
    gamma = float(gamma)
    if not (0.0 <= gamma <= 1.0):  # also rejects NaN
        raise ValueError(
            f"gamma must be in [0, 1] (a discount factor such as 0.99), got {gamma}"
        )
    return gamma


def _as_float64(x: Any, name: str) -> tuple[np.ndarray, Any]:
    """Return (float64 array, torch tensor template or None)."""
    template = None
    if type(x).__module__.startswith("torch"):
        template = x
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be an array of numbers, got {type(x).__name__}"
        ) from None
    return arr, template


def _check_rew(rew: Any, allow_2d: bool = True) -> tuple[np.ndarray, Any]:
    arr, template = _as_float64(rew, "rew")
    ok_dims = (1, 2) if allow_2d else (1,)
    if arr.ndim not in ok_dims:
        want = "(T,) or (T, N)" if allow_2d else "(T,)"
        raise ValueError(
            f"rew must have shape {want} with time on axis 0, got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.size == 0:
        raise ValueError(
            f"rew is empty (shape {arr.shape}); an episode needs at least one reward"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("rew contains NaN or inf; check the rewards you collected")
    return arr, template


def _back(arr: np.ndarray, template: Any):
    if template is None:
        return arr
    import torch

    dtype = template.dtype if template.dtype.is_floating_point else torch.float32
    return torch.as_tensor(arr, dtype=dtype, device=template.device)


# ----------------------------------------------------------------------------- returns
def discounted_returns(rew, gamma: float):
    """Discounted return of the whole episode, G_0 = sum_t gamma^t * rew[t].

    rew: (T,) -> a Python float; (T, N) -> array (N,), one return per column.
    This is the G(tau) that weights *every* step in the plain REINFORCE estimator;
    broadcast it yourself (`np.full(T, G)`) if you want one weight per step.
    """
    gamma = _check_gamma(gamma)
    arr, template = _check_rew(rew)
    disc = gamma ** np.arange(arr.shape[0], dtype=np.float64)
    g = np.tensordot(disc, arr, axes=(0, 0))
    if arr.ndim == 1:
        return float(g)
    return _back(np.asarray(g), template)


def reward_to_go_loop(rew, gamma: float):
    """Reward-to-go G_t = rew[t] + gamma * G_{t+1}, as the plain backwards loop.

    rew: (T,) -> (T,). The teaching reference; `reward_to_go` gives the same numbers.
    """
    gamma = _check_gamma(gamma)
    arr, template = _check_rew(rew, allow_2d=False)
    ret = np.zeros_like(arr)
    running = 0.0
    for t in reversed(range(len(arr))):
        running = arr[t] + gamma * running
        ret[t] = running
    return _back(ret, template)


def reward_to_go(rew, gamma: float):
    """Reward-to-go G_t = sum_{k>=t} gamma^(k-t) rew[k] of one episode per column.

    rew: (T,) or (T, N) -> same shape. The loop runs over time only and is
    vectorised over the N columns (e.g. N environments stepped side by side).
    """
    gamma = _check_gamma(gamma)
    arr, template = _check_rew(rew)
    ret = np.empty_like(arr)
    running = np.zeros_like(arr[0])
    for t in range(arr.shape[0] - 1, -1, -1):
        running = arr[t] + gamma * running
        ret[t] = running
    return _back(ret, template)


def reward_to_go_episodes(rew, done, gamma: float):
    """Reward-to-go of several episodes concatenated along time.

    rew: (T,) rewards of consecutive episodes; done: (T,) bool, True at the last
    step of each episode (terminated or truncated). Returns (T,): the discounted
    sum restarts after every `done`. The data must end with a finished episode.
    """
    gamma = _check_gamma(gamma)
    arr, template = _check_rew(rew, allow_2d=False)
    d, _ = _as_float64(done, "done")
    if d.shape != arr.shape:
        raise ValueError(
            f"done must have the same shape as rew, got done {d.shape} and rew {arr.shape}"
        )
    if not np.all((d == 0) | (d == 1)):
        raise ValueError("done must be boolean (True at the last step of each episode)")
    d = d.astype(bool)
    if not d[-1]:
        raise ValueError(
            "the last step must end an episode (done[-1] == True): drop the unfinished "
            "episode at the end, or mark its last step done if it was cut off"
        )
    # Pad the episodes into columns of a (L_max, E) array, then reuse the
    # loop over time that is vectorised over columns.
    ends = np.flatnonzero(d) + 1
    starts = np.concatenate(([0], ends[:-1]))
    lens = ends - starts
    ep_id = np.repeat(np.arange(len(lens)), lens)
    pos = np.arange(len(arr)) - np.repeat(starts, lens)
    padded = np.zeros((lens.max(), len(lens)))
    padded[pos, ep_id] = arr
    ret = reward_to_go(padded, gamma)[pos, ep_id]
    return _back(ret, template)
