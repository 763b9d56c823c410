"""The log-derivative trick (lesson 1): reference implementations.

A softmax policy over K actions has logits `theta` (shape (K,)) and
probabilities pi = softmax(theta). Its score is grad_theta log pi(a) = onehot(a) - pi.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def _as_logits(theta, name: str = "theta") -> np.ndarray:
    arr = np.asarray(theta, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] < 2:
        raise ValueError(f"{name} must be a 1-D array of K >= 2 logits, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr}")
    return arr


def _as_action(a, k: int) -> int:
    if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
        raise ValueError(f"the action must be an int index, got {type(a).__name__}: {a!r}")
    if not 0 <= int(a) < k:
        raise ValueError(f"the action must be in 0..{k - 1} for {k} actions, got {a}")
    return int(a)


def softmax(theta) -> np.ndarray:
    """pi = exp(theta) / sum(exp(theta)), computed stably. theta: (K,) -> (K,)."""
    theta = _as_logits(theta)
    z = np.exp(theta - theta.max())
    return z / z.sum()


def softmax_score(theta, a) -> np.ndarray:
    """grad_theta log pi_theta(a) for a softmax policy: onehot(a) - pi. theta: (K,), a: int -> (K,)."""
    theta = _as_logits(theta)
    a = _as_action(a, theta.shape[0])
    score = -softmax(theta)
    score[a] += 1.0
    return score


def score_function_estimate(theta, actions, f_values) -> np.ndarray:
    """Score-function estimate of grad_theta E_{a~pi_theta}[f(a)] from N samples.

    Returns mean_i f(a_i) * grad log pi(a_i). theta: (K,), actions: (N,) ints, f_values: (N,) -> (K,).
    """
    theta = _as_logits(theta)
    actions = np.asarray(actions)
    f_values = np.asarray(f_values, dtype=np.float64)
    if actions.ndim != 1 or actions.shape[0] == 0:
        raise ValueError(f"actions must be a non-empty 1-D array of action indices, got shape {actions.shape}")
    if f_values.shape != actions.shape:
        raise ValueError(f"f_values must have the shape of actions {actions.shape}, got {f_values.shape}")
    if not np.issubdtype(actions.dtype, np.integer):
        raise ValueError(f"actions must be integers, got dtype {actions.dtype}")
    k = theta.shape[0]
    if actions.min() < 0 or actions.max() >= k:
        raise ValueError(f"actions must be in 0..{k - 1}, got values from {actions.min()} to {actions.max()}")
    scores = np.eye(k)[actions] - softmax(theta)  # (N, K): one score per sample
    return (f_values[:, None] * scores).mean(axis=0)


def bandit_pg_step(theta, a, G, lr) -> np.ndarray:
    """One policy-gradient ascent step: theta + lr * G * grad log pi(a). theta: (K,) -> (K,)."""
    theta = _as_logits(theta)
    if not np.isfinite(G):
        raise ValueError(f"the return G must be finite, got {G}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"the learning rate lr must be a positive number, got {lr}")
    return theta + lr * G * softmax_score(theta, a)


def expected_reward(theta, means) -> float:
    """J(theta) = sum_a pi_theta(a) * means[a], the bandit's expected reward."""
    means = _as_logits(means, "means")
    pi = softmax(theta)
    if pi.shape != means.shape:
        raise ValueError(f"means must have one entry per action ({pi.shape[0]}), got shape {means.shape}")
    return float(pi @ means)


def exact_gradient(theta, means) -> np.ndarray:
    """grad_theta J for J = sum_a pi(a) r(a): pi * (r - J). theta, means: (K,) -> (K,)."""
    pi = softmax(theta)
    means = np.asarray(means, dtype=np.float64)
    return pi * (means - expected_reward(theta, means))


def draw_actions(theta, n: int, rng: np.random.Generator) -> np.ndarray:
    """n actions drawn from softmax(theta). -> (n,) ints."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a np.random.Generator, e.g. pgcourse.seed_everything(0)")
    if int(n) < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return rng.choice(len(softmax(theta)), size=int(n), p=softmax(theta))


def simulate_bandit_learning(means, lr: float, steps: int, seed: int, noise: float = 1.0,
                             theta0=None) -> dict[str, np.ndarray]:
    """Repeated sample-and-update (REINFORCE on a bandit) from theta0 (zeros by default).

    Reward of arm a is means[a] + noise * N(0, 1). Returns arrays `theta` (steps+1, K),
    `pi` (steps+1, K), `expected` (steps+1,), `action` (steps,), `reward` (steps,).
    """
    means = _as_logits(means, "means")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr}")
    if int(steps) < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    k = means.shape[0]
    theta = np.zeros(k) if theta0 is None else _as_logits(theta0).copy()
    thetas, actions, rewards = [theta.copy()], [], []
    for _ in range(int(steps)):
        a = int(rng.choice(k, p=softmax(theta)))
        r = means[a] + noise * rng.standard_normal()
        theta = bandit_pg_step(theta, a, r, lr)
        # Logits only matter up to a constant; re-centre so they stay bounded.
        theta -= theta.mean()
        thetas.append(theta.copy())
        actions.append(a)
        rewards.append(r)
    thetas = np.array(thetas)
    pis = np.array([softmax(t) for t in thetas])
    return {
        "theta": thetas,
        "pi": pis,
        "expected": pis @ means,
        "action": np.array(actions),
        "reward": np.array(rewards),
    }


def gaussian_gradient_estimates(mu: float, sigma: float, f: Callable[[np.ndarray], np.ndarray],
                                df: Callable[[np.ndarray], np.ndarray], n: int,
                                rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-sample estimates of d/dmu E_{x~N(mu, sigma^2)}[f(x)] by two estimators.

    score function: f(x) * (x - mu) / sigma^2          (needs only values of f)
    reparameterisation: f'(mu + sigma * eps), eps~N(0,1) (needs f's derivative)
    Both use the same eps. Returns {"score": (n,), "reparam": (n,)}.
    """
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    if int(n) < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    eps = rng.standard_normal(int(n))
    x = mu + sigma * eps
    return {"score": f(x) * (x - mu) / sigma**2, "reparam": df(x)}
