"""Small MDPs solved exactly (lessons 1-3, and 5): a finite-horizon tabular MDP whose return, values and
gradient are computed exactly, and lesson 1's aliased short corridor.

A tabular softmax policy has logits `theta` of shape (S, A): pi(a|s) = softmax(theta[s])[a].
The MDP: start distribution `p0` (S,), transitions `P` (S, A, S), mean rewards `R` (S, A), horizon H.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class TabularMDP:
    """p0 (S,), P (S, A, S) with P[s, a] a distribution over next states, R (S, A), horizon H, gamma."""

    p0: np.ndarray
    P: np.ndarray
    R: np.ndarray
    horizon: int
    gamma: float = 1.0

    def __post_init__(self):
        S, A = self.R.shape
        if self.p0.shape != (S,) or self.P.shape != (S, A, S):
            raise ValueError(f"shapes must be p0 (S,), P (S, A, S), R (S, A); got {self.p0.shape}, "
                             f"{self.P.shape}, {self.R.shape}")
        if not np.allclose(self.P.sum(-1), 1) or not np.isclose(self.p0.sum(), 1):
            raise ValueError("p0 and every P[s, a] must sum to 1")
        if int(self.horizon) < 1:
            raise ValueError(f"horizon must be at least 1, got {self.horizon}")
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")

    @property
    def n_states(self) -> int:
        return self.R.shape[0]

    @property
    def n_actions(self) -> int:
        return self.R.shape[1]


def random_mdp(n_states: int = 3, n_actions: int = 2, horizon: int = 4, gamma: float = 1.0,
               seed: int = 0) -> TabularMDP:
    """A random MDP with Dirichlet transitions and N(0, 1) mean rewards."""
    if n_states < 1 or n_actions < 2:
        raise ValueError(f"need n_states >= 1 and n_actions >= 2, got {n_states}, {n_actions}")
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(n_states), size=(n_states, n_actions))
    return TabularMDP(p0=rng.dirichlet(np.ones(n_states)), P=P, R=rng.normal(size=(n_states, n_actions)),
                      horizon=horizon, gamma=gamma)


def exact_return(theta: torch.Tensor, mdp: TabularMDP) -> torch.Tensor:
    """J(theta) = E[sum_t gamma^t r_t] by dynamic programming over the state distribution; differentiable.

    theta: (S, A) tensor -> scalar tensor. Autograd of this is the exact policy gradient.
    """
    if tuple(theta.shape) != (mdp.n_states, mdp.n_actions):
        raise ValueError(f"theta must have shape {(mdp.n_states, mdp.n_actions)}, got {tuple(theta.shape)}")
    pi = torch.softmax(theta, dim=-1)
    P, R = torch.as_tensor(mdp.P, dtype=theta.dtype), torch.as_tensor(mdp.R, dtype=theta.dtype)
    d = torch.as_tensor(mdp.p0, dtype=theta.dtype)  # state distribution at time t
    J = theta.new_zeros(())
    for t in range(mdp.horizon):
        sa = d[:, None] * pi  # (S, A) probability of (s_t, a_t)
        J = J + mdp.gamma**t * (sa * R).sum()
        d = torch.einsum("sa,sat->t", sa, P)
    return J


def sample_trajectories(theta, mdp: TabularMDP, n: int, rng: np.random.Generator,
                        reward_noise: float = 0.0) -> dict[str, np.ndarray]:
    """n trajectories, vectorised over trajectories. -> obs (n, H) ints, act (n, H) ints, rew (n, H) floats."""
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (mdp.n_states, mdp.n_actions):
        raise ValueError(f"theta must have shape {(mdp.n_states, mdp.n_actions)}, got {theta.shape}")
    if int(n) < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    z = np.exp(theta - theta.max(-1, keepdims=True))
    pi = z / z.sum(-1, keepdims=True)
    H, n = mdp.horizon, int(n)
    obs, act, rew = np.zeros((n, H), int), np.zeros((n, H), int), np.zeros((n, H))
    s = _sample_rows(np.broadcast_to(mdp.p0, (n, mdp.n_states)), rng)
    for t in range(H):
        a = _sample_rows(pi[s], rng)
        obs[:, t], act[:, t] = s, a
        rew[:, t] = mdp.R[s, a] + reward_noise * rng.standard_normal(n)
        s = _sample_rows(mdp.P[s, a], rng)
    return {"obs": obs, "act": act, "rew": rew}


def _sample_rows(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of the (n, K) probability matrix p."""
    u = rng.random((p.shape[0], 1))
    return np.minimum((p.cumsum(-1) < u).sum(-1), p.shape[1] - 1)


def tabular_scores(theta, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
    """grad_theta log pi(act|obs) for every step: obs, act (n, H) -> (n, H, S, A)."""
    theta = np.asarray(theta, dtype=np.float64)
    S, A = theta.shape
    z = np.exp(theta - theta.max(-1, keepdims=True))
    pi = z / z.sum(-1, keepdims=True)
    scores = np.zeros(obs.shape + (S, A))
    n_idx, t_idx = np.indices(obs.shape)
    scores[n_idx, t_idx, obs, :] = -pi[obs]
    scores[n_idx, t_idx, obs, act] += 1.0
    return scores


def exact_values(theta, mdp: TabularMDP) -> dict[str, np.ndarray]:
    """V^pi and Q^pi of the tabular softmax policy theta (S, A), by backward induction.

    Finite horizon, so values depend on the time step: V (H, S) with V[t, s] = E[G_t | s_t = s];
    Q (H, S, A) with Q[t, s, a] = R[s, a] + gamma * sum_s' P[s, a, s'] V[t + 1, s'] (V[H] = 0);
    d (H, S) the state distribution at each step; pi (S, A). Advantage: Q - V[..., None].
    """
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (mdp.n_states, mdp.n_actions):
        raise ValueError(f"theta must have shape {(mdp.n_states, mdp.n_actions)}, "
                         f"got {theta.shape}")
    z = np.exp(theta - theta.max(-1, keepdims=True))
    pi = z / z.sum(-1, keepdims=True)
    H, S = mdp.horizon, mdp.n_states
    V, Q = np.zeros((H + 1, S)), np.zeros((H, S, mdp.n_actions))
    for t in reversed(range(H)):
        Q[t] = mdp.R + mdp.gamma * mdp.P @ V[t + 1]
        V[t] = (pi * Q[t]).sum(-1)
    d = np.zeros((H, S))
    d[0] = mdp.p0
    for t in range(1, H):
        d[t] = np.einsum("s,sa,sat->t", d[t - 1], pi, mdp.P)
    return {"V": V[:H], "Q": Q, "d": d, "pi": pi}


def short_corridor_values(p_right, gamma: float = 0.99) -> np.ndarray:
    """Value of the start state of the aliased short corridor (Sutton & Barto, example 13.1).

    Three states that all look the same to the policy, then a goal; reward -1 per step. In the
    middle state the actions are swapped (right moves left). A memoryless policy can only pick
    P(right) = p, the same in every state. p_right: array of probabilities -> array of values.
    """
    p = np.atleast_1d(np.asarray(p_right, dtype=np.float64))
    if np.any((p < 0) | (p > 1)) or not 0 <= gamma < 1:
        raise ValueError("p_right must be in [0, 1] and gamma in [0, 1)")
    out = np.empty(p.shape)
    for i, pr in enumerate(p.ravel()):
        # rows: next-state probabilities from states 0, 1, 2 (the goal is absorbing, value 0)
        P = np.array([[1 - pr, pr, 0.0], [pr, 0.0, 1 - pr], [0.0, 1 - pr, 0.0]])
        out.flat[i] = np.linalg.solve(np.eye(3) - gamma * P, -np.ones(3))[0]
    return out
