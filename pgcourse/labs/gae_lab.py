"""The GAE laboratory (lesson 4): a random-walk chain whose values are known exactly, for measuring the
bias and variance of GAE(lambda) advantages under a deliberately imperfect critic.

Chain: states 0..n-1, start in the middle; action 0 = left, 1 = right; the walk moves the chosen way
with probability `p_intended`, else the other way. Stepping off the left end terminates with reward 0,
off the right end with reward 1; every other step pays `step_reward`. The policy is fixed:
pi(right | s) = `p_right` in every state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pgcourse.advantages import gae, nstep_returns


@dataclass(frozen=True)
class Chain:
    n_states: int = 7
    p_intended: float = 0.8
    p_right: float = 0.6
    gamma: float = 0.95
    step_reward: float = 0.0

    def __post_init__(self):
        if self.n_states < 2:
            raise ValueError(f"n_states must be at least 2, got {self.n_states}")
        for name in ("p_intended", "p_right", "gamma"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.gamma == 1.0 and self.p_intended in (0.0, 1.0):
            raise ValueError("gamma = 1 with a deterministic walk may never end; use gamma < 1")


def exact_values(chain: Chain) -> dict[str, np.ndarray]:
    """V (S,), Q (S, 2) and the advantage A = Q - V of the fixed policy, by solving the Bellman equations."""
    S, g = chain.n_states, chain.gamma
    # Transition to the right of s happens with probability q[a]: a=1 intended right, a=0 the slip.
    q_right = np.array([1 - chain.p_intended, chain.p_intended])
    pi = np.array([1 - chain.p_right, chain.p_right])
    P = np.zeros((S, S))          # state-to-state under the policy (terminal exits omitted)
    r = np.zeros(S)               # expected one-step reward under the policy
    for s in range(S):
        for a in range(2):
            for move, p in ((+1, q_right[a]), (-1, 1 - q_right[a])):
                w = pi[a] * p
                nxt = s + move
                if nxt >= S:
                    r[s] += w * 1.0
                elif nxt < 0:
                    r[s] += w * 0.0
                else:
                    r[s] += w * chain.step_reward
                    P[s, nxt] += w
    V = np.linalg.solve(np.eye(S) - g * P, r)
    Q = np.zeros((S, 2))
    for s in range(S):
        for a in range(2):
            for move, p in ((+1, q_right[a]), (-1, 1 - q_right[a])):
                nxt = s + move
                if nxt >= S:
                    Q[s, a] += p * 1.0
                elif nxt >= 0:
                    Q[s, a] += p * (chain.step_reward + g * V[nxt])
    return {"V": V, "Q": Q, "A": Q - V[:, None]}


def rollouts(chain: Chain, n_episodes: int, seed: int, max_len: int = 400) -> dict[str, np.ndarray]:
    """n_episodes from the middle state, stepped side by side. Arrays (T_max, n_episodes):
    obs, act, rew, terminated, next_obs (-1 after termination), alive (False after the episode ended)."""
    rng = np.random.default_rng(seed)
    n, S = int(n_episodes), chain.n_states
    s = np.full(n, S // 2)
    alive = np.ones(n, bool)
    cols = {k: [] for k in ("obs", "act", "rew", "terminated", "next_obs", "alive")}
    for _ in range(max_len):
        if not alive.any():
            break
        a = (rng.random(n) < chain.p_right).astype(int)
        right = rng.random(n) < np.where(a == 1, chain.p_intended, 1 - chain.p_intended)
        nxt = s + np.where(right, 1, -1)
        term = alive & ((nxt < 0) | (nxt >= S))
        rew = np.where(nxt >= S, 1.0, np.where(nxt < 0, 0.0, chain.step_reward)) * alive
        for k, v in (("obs", s), ("act", a), ("rew", rew), ("terminated", term),
                     ("next_obs", np.where(term | ~alive, -1, nxt)), ("alive", alive.copy())):
            cols[k].append(v)
        alive = alive & ~term
        s = np.clip(nxt, 0, S - 1)
    else:
        raise RuntimeError(f"episodes did not end within max_len={max_len}")
    return {k: np.array(v) for k, v in cols.items()}


def gae_bias_variance(chain: Chain, lams, critic_error: float = 1.0, n_episodes: int = 3000,
                      seed: int = 0) -> dict[str, np.ndarray]:
    """Bias^2 and variance of GAE(lambda) advantages, per lambda in `lams`.

    The critic is under-trained: V_hat = (1 - critic_error) * V + critic_error * mean(V), the true values
    shrunk toward their average (critic_error in [0, 2]: 0 is a perfect critic, 1 knows only the average,
    2 ranks the states backwards). The target is
    Q(s, a) - V_hat(s): what a lambda = 1 estimate is unbiased for, and all the policy gradient needs
    (a state-only offset is a baseline). For each visited (s, a): bias = E[A_hat | s, a] - target,
    variance = Var[A_hat | s, a]; both averaged over visits. Returns lams, bias2, var, mse (len(lams),)
    and mean_adv (len(lams), S, 2), target (S, 2).
    """
    lams = np.asarray(lams, dtype=float)
    if lams.ndim != 1 or lams.size == 0 or lams.min() < 0 or lams.max() > 1:
        raise ValueError(f"lams must be a non-empty 1-D array of values in [0, 1], got {lams}")
    if not 0.0 <= critic_error <= 2.0:
        raise ValueError(f"critic_error must be in [0, 2], got {critic_error}")
    setup = _setup(chain, critic_error, n_episodes, seed)
    bias2, var, mean_adv = [], [], []
    for lam in lams:
        adv, _ = gae(setup["ro"]["rew"], setup["val"], setup["next_val"], setup["terminated"],
                     setup["truncated"], chain.gamma, lam)
        b, v, m = _bias_var(adv, setup)
        bias2.append(b), var.append(v), mean_adv.append(m)
    bias2, var = np.array(bias2), np.array(var)
    return {"lams": lams, "bias2": bias2, "var": var, "mse": bias2 + var, "mean_adv": np.array(mean_adv),
            "target": setup["target"], "v_hat": setup["v_hat"], "V": setup["V"]}


def nstep_bias_variance(chain: Chain, ns, critic_error: float = 1.0, n_episodes: int = 3000,
                        seed: int = 0) -> dict[str, np.ndarray]:
    """Bias^2 and variance of the n-step advantage G^(n)_t - V_hat(s_t), per n in `ns`, measured exactly as
    `gae_bias_variance` measures GAE (same critic, target, episodes). Returns ns, bias2, var, mse (len(ns),)."""
    ns = np.asarray(ns)
    if ns.ndim != 1 or ns.size == 0 or ns.min() < 1 or not np.all(ns == np.round(ns)):
        raise ValueError(f"ns must be a non-empty 1-D array of integers >= 1, got {ns}")
    setup = _setup(chain, critic_error, n_episodes, seed)
    bias2, var = [], []
    for n in ns.astype(int):
        ret = nstep_returns(setup["ro"]["rew"], setup["next_val"], setup["terminated"], setup["truncated"],
                            chain.gamma, int(n))
        b, v, _ = _bias_var(ret - setup["val"], setup)
        bias2.append(b), var.append(v)
    bias2, var = np.array(bias2), np.array(var)
    return {"ns": ns.astype(int), "bias2": bias2, "var": var, "mse": bias2 + var}


def _setup(chain: Chain, critic_error: float, n_episodes: int, seed: int) -> dict:
    """The shrunk critic, its target Q - V_hat, the episodes and the per-visit (s, a) keys."""
    if not 0.0 <= critic_error <= 2.0:
        raise ValueError(f"critic_error must be in [0, 2], got {critic_error}")
    ex = exact_values(chain)
    v_hat = (1 - critic_error) * ex["V"] + critic_error * ex["V"].mean()
    ro = rollouts(chain, n_episodes, seed)
    # After an episode ends the columns are padding: mark them terminated so nothing leaks backwards.
    terminated = ro["terminated"] | ~ro["alive"]
    key = (ro["obs"] * 2 + ro["act"])[ro["alive"]]
    return {"ro": ro, "v_hat": v_hat, "V": ex["V"], "target": ex["Q"] - v_hat[:, None],
            "val": v_hat[ro["obs"]],
            "next_val": np.where(ro["next_obs"] >= 0, v_hat[np.maximum(ro["next_obs"], 0)], 0.0),
            "terminated": terminated, "truncated": np.zeros_like(terminated), "key": key,
            "counts": np.bincount(key, minlength=2 * chain.n_states).astype(float)}


def _bias_var(adv: np.ndarray, setup: dict) -> tuple[float, float, np.ndarray]:
    """Visit-weighted bias^2 and variance of advantages `adv` (T, n) about the target, and the mean
    estimate per (s, a), (S, 2)."""
    key, counts, target = setup["key"], setup["counts"], setup["target"]
    err = adv[setup["ro"]["alive"]] - target.reshape(-1)[key]
    s1 = np.bincount(key, weights=err, minlength=counts.size)
    s2 = np.bincount(key, weights=err**2, minlength=counts.size)
    seen = counts > 1
    m = np.where(seen, s1 / np.maximum(counts, 1), 0.0)
    v = np.where(seen, s2 / np.maximum(counts, 1) - m**2, 0.0)
    w = counts / counts.sum()
    return float((w * m**2).sum()), float((w * v).sum()), (m + target.reshape(-1)).reshape(target.shape)
