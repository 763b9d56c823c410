"""PPO with the clipped surrogate (lesson 5), on the A2C skeleton.

What changes from A2C (pgcourse.a2c) is one named step: instead of ONE gradient step on
the rollout, PPO reuses it for `n_epochs` passes of shuffled minibatches, and since the
policy moves away from the one that collected the data, the policy-gradient term becomes
the clipped surrogate of the importance ratio:

    ratio = exp(logp - logp_old)                       # pi_theta(a|s) / pi_old(a|s)
    loss  = -min(ratio * adv, clip(ratio, 1 - eps, 1 + eps) * adv).mean()

Everything else (rollouts, GAE, critic, entropy bonus, gradient clipping) is A2C's. The usual
PPO details are named in the loop: advantage normalisation, value loss (optionally clipped),
entropy bonus, gradient clipping, learning-rate annealing, orthogonal init (in ActorCritic);
the optimizer is Adam, with a larger learning rate for the critic (critic_lr).
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
    _batch,
    _anneal,
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
    """Every setting of a PPO run. The defaults solve CartPole-v1 (last 20 episodes >= 475, then a greedy
    evaluation >= 475) in 19k-26k env steps, about 2 s on 2 CPU cores (seeds 0-2; `python -m pgcourse.bench ppo`)."""

    env_id: str = "CartPole-v1"
    seed: int = 0
    num_envs: int = 8  # sub-envs stepped side by side
    n_steps: int = 32  # steps per sub-env per rollout: batch = num_envs * n_steps
    total_steps: int = 60_000  # stop after this many env steps (transitions); also the lr annealing horizon ...
    stop_return: float | None = 475.0  # ... or once the last `stop_window` training episodes average this
    stop_window: int = 20
    n_epochs: int = 4  # passes over each rollout  <- the change from A2C
    minibatch_size: int = 128  # transitions per gradient step (about; the batch is split evenly)
    clip_eps: float | None = 0.2  # clip range of the ratio; None: no clipping (the ablation)
    gamma: float = 0.99
    gae_lambda: float = 0.95
    lr: float = 5e-3  # Adam, actor
    critic_lr: float | None = 1.5e-2  # Adam, the critic's own weights (None: lr)
    anneal_lr: bool = True  # decay both learning rates linearly to 0 over total_steps
    vf_coef: float = 0.5
    vf_clip: float | None = None  # clip the value update to +-vf_clip around the old value (None: off)
    ent_coef: float = 0.0
    max_grad_norm: float | None = 0.5
    normalize_adv: bool = True  # standardise adv over the rollout
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
    base_lrs = [g["lr"] for g in opt.param_groups]
    hist = ACHistory(config=cfg, agent=agent)
    try:
        while collector.env_steps < cfg.total_steps:
            _anneal(opt, base_lrs, collector.env_steps, cfg)  # optional learning-rate annealing

            # 1. Act: n_steps on every sub-env with the current policy (logp_old, val_old recorded).
            ro = collector.collect(agent)

            # 2. Advantage and critic target from GAE, (T, N); keep the real transitions (B,),
            #    advantage normalised over them (normalize_adv).
            b = _batch(ro, cfg)
            obs, act, logp_old, val_old, adv_all, ret_all = b.obs, b.act, b.logp_old, b.val_old, b.adv, b.ret

            # 3. THE CHANGE FROM A2C: several epochs of minibatch steps on the same rollout.
            B = len(obs)
            n_mb = max(1, round(B / cfg.minibatch_size))
            stats = []
            for epoch in range(cfg.n_epochs):
                log_epoch = epoch == cfg.n_epochs - 1 or cfg.target_kl is not None  # record stats (cheap)
                for idx in torch.randperm(B).tensor_split(n_mb):  # shuffled minibatches
                    adv = adv_all[idx]
                    logp, entropy, val = agent.evaluate_actions(obs[idx], act[idx],
                                                                entropy=cfg.ent_coef > 0 or log_epoch)

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

                    loss = policy_loss + cfg.vf_coef * value_loss
                    if cfg.ent_coef > 0:  # entropy bonus (left out of the graph when its weight is 0)
                        loss = loss - cfg.ent_coef * entropy.mean()
                    _step(opt, loss, cfg.max_grad_norm)  # one step, with gradient clipping
                    if log_epoch:
                        stats.append(_minibatch_stats(logp, logp_old[idx], entropy, loss, policy_loss, value_loss, cfg))
                if cfg.target_kl is not None and stats[-1][3] > cfg.target_kl:
                    break  # optional early stop: the policy already moved far enough from the data's

            # 4. Log, averaged over the last epoch's minibatches (approx-KL, clip fraction and entropy
            #    are those of the policy at the start of each of these steps).
            loss, policy_loss, value_loss, kl, clip_frac, entropy = torch.stack(stats[-n_mb:]).mean(0).tolist()
            hist.loss.append(loss)
            hist.policy_loss.append(policy_loss)
            hist.value_loss.append(value_loss)
            hist.entropy.append(entropy)
            hist.approx_kl.append(kl)
            hist.clip_frac.append(clip_frac)
            hist.lr.append(opt.param_groups[0]["lr"])
            hist.explained_var.append(explained_variance(ro.val[ro.mask], ret_all.numpy()))
            if _log_rollout(hist, ro, collector, bar, t0, cfg):
                break
    finally:
        bar.close()
        collector.close()
    return hist


def _minibatch_stats(logp, logp_old, entropy, loss, policy_loss, value_loss, cfg) -> torch.Tensor:
    """(loss, policy_loss, value_loss, approx-KL(pi_old || pi), fraction of |ratio - 1| > clip_eps
    (0.2 if None), mean entropy) of one minibatch, as a (6,) tensor without grad."""
    with torch.no_grad():
        eps = 0.2 if cfg.clip_eps is None else cfg.clip_eps
        clip_frac = ((torch.exp(logp - logp_old) - 1.0).abs() > eps).float().mean()
        return torch.stack([loss, policy_loss, value_loss, approx_kl(logp, logp_old), clip_frac, entropy.mean()])
