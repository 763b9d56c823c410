"""TD errors, n-step returns and GAE on fixed-length rollouts (lesson 4; PPO in lesson 5).

Shapes: time on axis 0, `(T,)` for one env or `(T, N)` for N envs stepped side by side.
For every step t:
- `rew[t]` reward, `val[t]` = V(obs[t]);
- `next_val[t]` = V of the TRUE next observation (on truncation: the final observation the
  env returned before resetting, not the first observation of the next episode);
- `terminated[t]`: the episode ended in a terminal state, so nothing follows: do not bootstrap;
- `truncated[t]`: the episode was cut off (time limit): bootstrap from next_val[t], but the
  recursion must not run into the next episode.

    delta_t = rew_t + gamma * (1 - terminated_t) * next_val_t - val_t
    A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1},   done = terminated | truncated
"""

from __future__ import annotations

import numpy as np

from pgcourse.util import positive_int, unit_interval


def _arrays(rew, val, next_val, terminated, truncated):
    arrs = [np.asarray(x, dtype=np.float64) for x in (rew, val, next_val)]
    flags = [np.asarray(x) for x in (terminated, truncated)]
    shape = arrs[0].shape
    if arrs[0].ndim not in (1, 2) or shape[0] == 0:
        raise ValueError(f"rew must have shape (T,) or (T, N) with T >= 1, got {shape}")
    names = ("rew", "val", "next_val", "terminated", "truncated")
    for name, x in zip(names, arrs + flags):
        if x.shape != shape:
            raise ValueError(f"{name} must have the shape of rew {shape}, got {x.shape}")
    for name, x in zip(names[3:], flags):
        if not np.all((x == 0) | (x == 1)):
            raise ValueError(f"{name} must be boolean")
    for name, x in zip(names[:3], arrs):
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} contains NaN or inf")
    return (*arrs, flags[0].astype(bool), flags[1].astype(bool))


def _check_gamma(gamma) -> float:
    return unit_interval(gamma, "gamma", "a discount factor such as 0.99")


def _check_lam(lam) -> float:
    return unit_interval(lam, "lam", "0 = one-step TD, 1 = Monte Carlo")


def td_errors(rew, val, next_val, terminated, gamma: float) -> np.ndarray:
    """delta_t = rew_t + gamma * (1 - terminated_t) * next_val_t - val_t. Same shape as rew."""
    gamma = _check_gamma(gamma)
    rew, val, next_val, terminated, _ = _arrays(rew, val, next_val, terminated, np.zeros_like(terminated))
    return rew + gamma * (~terminated) * next_val - val


def gae(rew, val, next_val, terminated, truncated, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimation. Returns (adv, ret) with ret = adv + val (the critic's target).

    lam = 0 gives the TD error; lam = 1 gives the (bootstrapped) reward-to-go minus val.
    """
    gamma, lam = _check_gamma(gamma), _check_lam(lam)
    rew, val, next_val, terminated, truncated = _arrays(rew, val, next_val, terminated, truncated)
    delta = rew + gamma * (~terminated) * next_val - val
    not_done = ~(terminated | truncated)
    adv = np.zeros_like(delta)
    running = np.zeros_like(delta[0])
    for t in range(len(delta) - 1, -1, -1):
        running = delta[t] + gamma * lam * not_done[t] * running
        adv[t] = running
    return adv, adv + val


def nstep_returns(rew, next_val, terminated, truncated, gamma: float, n: int) -> np.ndarray:
    """n-step bootstrapped returns: G_t^(n) = sum_{k<n} gamma^k rew_{t+k} + gamma^n V(s_{t+n}),
    stopping at episode ends (no bootstrap after termination, bootstrap from next_val on truncation)
    and at the end of the rollout (bootstrap from next_val of the last step)."""
    gamma = _check_gamma(gamma)
    n = positive_int(n, "n")
    rew, _, next_val, terminated, truncated = _arrays(rew, rew, next_val, terminated, truncated)
    T = len(rew)
    done = terminated | truncated
    ret = np.zeros_like(rew)
    for t in range(T):
        g = np.zeros_like(rew[0])
        disc = np.ones_like(rew[0])
        alive = np.ones_like(rew[0], dtype=bool)  # still inside the episode that step t belongs to
        for k in range(n):
            i = t + k
            if i >= T:
                break
            g = g + alive * disc * rew[i]
            last = (k == n - 1) | (i == T - 1)
            # bootstrap where this is the n-th step or the rollout's last, or the episode was truncated here
            boot = alive & (last | truncated[i]) & ~terminated[i]
            g = g + boot * disc * gamma * next_val[i]
            alive = alive & ~done[i]
            disc = disc * gamma
        ret[t] = g
    return ret
