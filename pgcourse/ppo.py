"""PPO with the clipped surrogate (lesson 5), on the A2C skeleton.

What changes from A2C (pgcourse.a2c) is one named step: instead of ONE gradient step on
the rollout, PPO reuses it for `n_epochs` passes of shuffled minibatches, and since the
policy moves away from the one that collected the data, the policy-gradient term becomes
the clipped surrogate of the importance ratio:

    ratio = exp(logp - logp_old)                       # pi_theta(a|s) / pi_old(a|s)
    loss  = -min(ratio * adv, clip(ratio, 1 - eps, 1 + eps) * adv).mean()

Everything else (rollouts, GAE, critic, entropy bonus, gradient clipping) is A2C's.
`clip_eps=None` drops the clip (the plain importance-weighted surrogate): with many
epochs the policy runs away from the data (approx-KL blows up). The lesson's ablation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from pgcourse.a2c import (
    ACHistory,
    _advantages,
    _config,
    _log_rollout,
    _setup,
    _step,
    _validate,
    _with_threads,
    explained_variance,
)

from pgcourse.losses import approx_kl, ppo_clip_loss  # the losses live with the others; re-exported here

__all__ = ["PPOConfig", "train_ppo", "ppo_clip_loss", "approx_kl"]


@dataclass
class PPOConfig:
    """Every setting of a PPO run. The defaults solve CartPole-v1 (last 20 episodes >= 475) in seconds."""

    env_id: str = "CartPole-v1"
    seed: int = 0
    num_envs: int = 16  # sub-envs stepped side by side
    n_steps: int = 32  # steps per sub-env per rollout: batch = num_envs * n_steps
    total_steps: int = 200_000  # stop after this many env steps (transitions) ...
    stop_return: float | None = 475.0  # ... or once the last `stop_window` training episodes average this
    stop_window: int = 20
    n_epochs: int = 10  # passes over each rollout  <- the change from A2C
    minibatch_size: int = 256  # transitions per gradient step (about; the batch is split evenly)
    clip_eps: float | None = 0.2  # clip range of the ratio; None: no clipping (the ablation)
    gamma: float = 0.99
    gae_lambda: float = 0.95
    lr: float = 1e-3  # Adam
    anneal_lr: bool = False  # decay lr linearly to 0 over total_steps
    vf_coef: float = 0.5
    vf_clip: float | None = None  # clip the value update to +-vf_clip around the old value (None: off)
    ent_coef: float = 0.0
    max_grad_norm: float | None = 0.5
    normalize_adv: bool = True  # standardise adv in each minibatch
    target_kl: float | None = None  # stop the epochs early once approx-KL exceeds this (None: never)
    hidden: tuple[int, ...] = (64, 64)
    shared: bool = False
    ortho_init: bool = True
    bootstrap_truncation: bool = True
    num_threads: int = 1
    progress: bool = True

    def __post_init__(self):
        _validate(self)
        for name in ("n_epochs", "minibatch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        for name in ("clip_eps", "vf_clip", "target_kl"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ValueError(f"{name} must be > 0 or None, got {v}")


def train_ppo(config: PPOConfig | None = None, **overrides) -> ACHistory:
    """Train an `ActorCritic` with PPO; return the `ACHistory` (with approx_kl, clip_frac, lr per update).

    `train_ppo(PPOConfig(n_epochs=4))` or `train_ppo(n_epochs=4)`.
    """
    return _with_threads(_config(PPOConfig, config, overrides), _train_ppo)


def _train_ppo(cfg: PPOConfig) -> ACHistory:
    t0 = time.perf_counter()
    collector, agent, opt, bar = _setup(cfg, "PPO")
    hist = ACHistory(config=cfg, agent=agent)
    try:
        while collector.env_steps < cfg.total_steps:
            # Optional learning-rate annealing: linear from lr to 0 over total_steps.
            lr = cfg.lr * (1.0 - collector.env_steps / cfg.total_steps) if cfg.anneal_lr else cfg.lr
            for g in opt.param_groups:
                g["lr"] = lr

            # 1. Act: n_steps on every sub-env with the current policy (logp_old, val_old recorded).
            ro = collector.collect(agent)

            # 2. Advantage and critic target from GAE, (T, N); keep the real transitions (B,).
            adv_np, ret_np = _advantages(ro, cfg)
            m = ro.mask
            obs, act = torch.from_numpy(ro.obs[m]), torch.from_numpy(ro.act[m])
            logp_old, val_old = torch.from_numpy(ro.logp[m]), torch.from_numpy(ro.val[m])
            adv_all = torch.as_tensor(adv_np[m], dtype=torch.float32)
            ret_all = torch.as_tensor(ret_np[m], dtype=torch.float32)

            # 3. THE CHANGE FROM A2C: several epochs of minibatch steps on the same rollout.
            B = len(obs)
            n_mb = max(1, round(B / cfg.minibatch_size))
            stats = []
            for _epoch in range(cfg.n_epochs):
                for idx in torch.randperm(B).tensor_split(n_mb):
                    adv = adv_all[idx]
                    if cfg.normalize_adv:  # advantage normalisation, per minibatch
                        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                    dist, val = agent.dist_and_value(obs[idx])
                    logp = dist.log_prob(act[idx])
                    entropy = dist.entropy().mean()

                    # policy: clipped surrogate (or, for the ablation, the unclipped ratio * adv)
                    if cfg.clip_eps is not None:
                        policy_loss = ppo_clip_loss(logp, logp_old[idx], adv, cfg.clip_eps)
                    else:
                        policy_loss = -(torch.exp(logp - logp_old[idx]) * adv).mean()

                    # value loss, optionally clipped around the value that collected the data
                    if cfg.vf_clip is None:
                        value_loss = ((val - ret_all[idx]) ** 2).mean()
                    else:
                        val_clipped = val_old[idx] + (val - val_old[idx]).clamp(-cfg.vf_clip, cfg.vf_clip)
                        value_loss = torch.max((val - ret_all[idx]) ** 2, (val_clipped - ret_all[idx]) ** 2).mean()

                    # entropy bonus; then one step with gradient clipping
                    loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
                    _step(agent, opt, loss, cfg.max_grad_norm)
                    stats.append((loss.detach(), policy_loss.detach(), value_loss.detach(), entropy.detach()))
                if cfg.target_kl is not None and _moved(agent, obs, act, logp_old, cfg)[0] > cfg.target_kl:
                    break  # optional early stop: the policy already moved far enough from the data's

            # 4. Log: loss terms averaged over the minibatches; how far the update moved the policy.
            loss, policy_loss, value_loss, entropy = (torch.stack(x).mean().item() for x in zip(*stats))
            kl, clip_frac = _moved(agent, obs, act, logp_old, cfg)
            hist.loss.append(loss)
            hist.policy_loss.append(policy_loss)
            hist.value_loss.append(value_loss)
            hist.entropy.append(entropy)
            hist.approx_kl.append(kl)
            hist.clip_frac.append(clip_frac)
            hist.lr.append(lr)
            hist.explained_var.append(explained_variance(ro.val[m], ret_np[m]))
            if _log_rollout(hist, ro, collector, bar, t0, cfg):
                break
    finally:
        bar.close()
        collector.close()
    return hist


def _moved(agent, obs, act, logp_old, cfg) -> tuple[float, float]:
    """approx-KL(pi_old || pi) and the fraction of |ratio - 1| > clip_eps (0.2 if None) on the whole rollout."""
    with torch.no_grad():
        logp = agent.dist(obs).log_prob(act)
        eps = 0.2 if cfg.clip_eps is None else cfg.clip_eps
        clip_frac = ((torch.exp(logp - logp_old) - 1.0).abs() > eps).float().mean()
        return approx_kl(logp, logp_old).item(), clip_frac.item()
