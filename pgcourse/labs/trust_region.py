"""The trust-region laboratory (lesson 5): optimise a surrogate on ONE batch for many steps, on a tabular MDP whose true
return is exact, to see what an unconstrained step does (and what clipping or a KL trust region changes).

Also the natural gradient of a small softmax: its Fisher matrix and the step it takes; and
`clipped_objective`, PPO's per-sample objectives as functions of the ratio (for the clip widget).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from pgcourse.labs import tabular
from pgcourse.returns import reward_to_go


def batch_advantages(traj: dict[str, np.ndarray], gamma: float) -> np.ndarray:
    """Reward-to-go minus its mean at each time step (a time-dependent baseline). (N, H) -> (N, H)."""
    rtg = reward_to_go(traj["rew"].T, gamma).T
    return rtg - rtg.mean(axis=0, keepdims=True)


def surrogate_ascent(mdp: tabular.TabularMDP, theta_old, traj: dict[str, np.ndarray], loss_fn: Callable,
                     steps: int = 200, lr: float = 0.05) -> dict[str, np.ndarray]:
    """Minimise `loss_fn(logp, logp_old, adv)` over a tabular policy's logits with Adam for `steps` steps,
    always on the same batch `traj` collected by `theta_old` (S, A).

    Returns per step (steps + 1,): J (exact expected return of the current policy), kl (mean over the
    batch's states of KL(pi_old || pi)), max_ratio (largest pi / pi_old over the batch's actions).
    """
    theta_old = torch.as_tensor(np.asarray(theta_old, dtype=np.float64))
    if tuple(theta_old.shape) != (mdp.n_states, mdp.n_actions):
        raise ValueError(f"theta_old must have shape {(mdp.n_states, mdp.n_actions)}, got {tuple(theta_old.shape)}")
    if int(steps) < 1 or not lr > 0:
        raise ValueError(f"steps must be >= 1 and lr > 0, got {steps} and {lr}")
    obs = torch.as_tensor(traj["obs"].reshape(-1))
    act = torch.as_tensor(traj["act"].reshape(-1))
    adv = torch.as_tensor(batch_advantages(traj, mdp.gamma).reshape(-1))
    logp_old = torch.log_softmax(theta_old, -1)[obs, act]
    pi_old = torch.softmax(theta_old, -1)
    theta = theta_old.clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    J, kl, max_ratio = [], [], []

    def record():
        with torch.no_grad():
            J.append(float(tabular.exact_return(theta, mdp)))
            logpi = torch.log_softmax(theta, -1)
            kl_s = (pi_old * (torch.log(pi_old) - logpi)).sum(-1)      # (S,)
            kl.append(float(kl_s[obs].mean()))
            max_ratio.append(float(torch.exp(logpi[obs, act] - logp_old).max()))

    record()
    for _ in range(int(steps)):
        logp = torch.log_softmax(theta, -1)[obs, act]
        loss = loss_fn(logp, logp_old, adv)
        opt.zero_grad()
        loss.backward()
        opt.step()
        record()
    return {"J": np.array(J), "kl": np.array(kl), "max_ratio": np.array(max_ratio), "theta": theta.detach().numpy()}


def cpi_loss(logp: torch.Tensor, logp_old: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    """The unclipped (conservative policy iteration) surrogate as a loss: -mean(ratio * adv)."""
    return -(torch.exp(logp - logp_old.detach()) * adv.detach()).mean()


def softmax3(theta2) -> torch.Tensor:
    """A 3-action softmax with two free logits (the third is fixed at 0): theta2 (2,) -> pi (3,)."""
    t = torch.as_tensor(theta2, dtype=torch.float64)
    return torch.softmax(torch.cat([t, t.new_zeros(1)]), 0)


def fisher_softmax3(theta2) -> np.ndarray:
    """Fisher information F = E_a[grad log pi(a) grad log pi(a)^T] of `softmax3`, (2, 2), computed exactly."""
    pi = softmax3(theta2).numpy()
    scores = np.eye(3)[:, :2] - pi[:2]          # grad of log pi(a) w.r.t. the two free logits, one row per a
    return (pi[:, None, None] * scores[:, :, None] * scores[:, None, :]).sum(0)


def kl_softmax3(theta_a, theta_b) -> float:
    """KL(softmax3(theta_a) || softmax3(theta_b))."""
    p, q = softmax3(theta_a), softmax3(theta_b)
    return float((p * (p.log() - q.log())).sum())


def clipped_objective(r, adv: float, eps: float) -> dict[str, np.ndarray]:
    """PPO's per-sample objectives as functions of the ratio r (any shape):
    cpi = r * A, clip = min(r * A, clip(r, 1-eps, 1+eps) * A), and their derivatives in r."""
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    r = np.asarray(r, dtype=float)
    clipped_r = np.clip(r, 1 - eps, 1 + eps)
    unclipped, clipped = r * adv, clipped_r * adv
    use_unclipped = unclipped <= clipped
    d_clip = np.where(use_unclipped, adv, np.where((r > 1 - eps) & (r < 1 + eps), adv, 0.0))
    return {"cpi": unclipped, "clip": np.minimum(unclipped, clipped),
            "d_cpi": np.full_like(r, adv), "d_clip": d_clip}
