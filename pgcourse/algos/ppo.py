"""PPO with the clipped surrogate (lesson 5): A2C plus one named change.

What changes from A2C (`pgcourse.algos.a2c`) is the update: instead of ONE gradient step on the
rollout, PPO reuses it for `n_epochs` passes of shuffled minibatches, and since the policy moves away
from the one that collected the data, the policy-gradient term becomes the clipped surrogate of the
importance ratio:

    ratio = exp(logp - logp_old)                       # pi_theta(a|s) / pi_old(a|s)
    loss  = -min(ratio * adv, clip(ratio, 1 - eps, 1 + eps) * adv).mean()     # ppo_clip_loss

Everything else (rollouts, GAE, critic, entropy term -- weighted by ent_coef = 0, i.e. off, as in A2C --,
gradient clipping, the loop) is A2C's:
`PPOConfig` extends `A2CConfig` and `PPOConfig.changes()` lists what it adds and what defaults it
changes (advantage normalisation on, Adam with a larger critic lr, lr annealing, 8 envs x 32 steps).
`clip_eps=None` drops the clip (the plain importance-weighted surrogate): with many epochs the policy
runs away from the data (approx-KL blows up). The lesson's ablation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pgcourse.actor_critic import ActorCritic
from pgcourse.algos.a2c import A2CConfig
from pgcourse.algos.common import ACHistory, Batch, gradient_step, train, train_on_policy
from pgcourse.losses import approx_kl, clip_fraction, ppo_clip_loss
from pgcourse.util import positive_float, positive_int

__all__ = ["PPOConfig", "ppo_update", "train_ppo"]


@dataclass(repr=False)
class PPOConfig(A2CConfig):
    """A2C's settings with PPO's defaults, plus the epochs, minibatches and clip (the defaults solve CartPole-v1;
    `python -m pgcourse bench ppo`)."""

    gamma: float = 0.99
    num_envs: int = 8
    n_steps: int = 32
    # also the lr annealing horizon. `python -m pgcourse bench ppo --seeds 0-31` measured the env steps to solve:
    # median 21.8k, p90 44.4k, max 59.9k (seeds 0, 1, 2: 20,112, 35,960 and 17,310)
    total_steps: int = 100_000
    lr: float = 2.5e-3  # Adam, actor
    critic_lr: float | None = 7.5e-3  # Adam, the critic's own weights
    optimizer: str = "adam"
    anneal_lr: bool = True
    normalize_adv: bool = True  # standardise adv over the rollout
    n_epochs: int = 4  # passes over each rollout  <- the change from A2C
    minibatch_size: int = 64  # transitions per gradient step (about; the batch is split evenly)
    clip_eps: float | None = 0.2  # clip range of the ratio; None: no clipping (the ablation)
    vf_clip: float | None = None  # clip the value update to +-vf_clip around the old value (None: off)
    target_kl: float | None = None  # stop the epochs early once approx-KL exceeds this (None: never)

    def __post_init__(self):
        super().__post_init__()
        for name in ("n_epochs", "minibatch_size"):
            positive_int(getattr(self, name), name)
        for name in ("clip_eps", "vf_clip", "target_kl"):
            if getattr(self, name) is not None:
                positive_float(getattr(self, name), name)
        if not self.detach_critic_target:
            raise ValueError("detach_critic_target=False is A2C's bug switch (lesson 4); PPO always detaches")


def ppo_update(agent: ActorCritic, opt: torch.optim.Optimizer, b: Batch, cfg: PPOConfig) -> dict:
    """PPO's update: n_epochs passes of shuffled minibatch steps on the same batch (A2C: one step).
    Returns the logged metrics; approx-KL, clip fraction (the share of ratios outside [1 - eps, 1 + eps]) and
    the largest ratio are measured once, after the update, on the whole batch."""
    B = len(b.obs)
    n_mb = max(1, round(B / cfg.minibatch_size))
    for epoch in range(cfg.n_epochs):
        for idx in torch.randperm(B).tensor_split(n_mb):  # shuffled minibatches
            logp, entropy, val = agent.evaluate_actions(b.obs[idx], b.act[idx])
            if cfg.clip_eps is not None:  # the clipped surrogate ...
                policy_loss = ppo_clip_loss(logp, b.logp_old[idx], b.adv[idx], cfg.clip_eps)
            else:  # ... or, for the ablation, the plain importance-weighted one
                policy_loss = -(torch.exp(logp - b.logp_old[idx]) * b.adv[idx]).mean()
            if cfg.vf_clip is None:
                value_loss = ((val - b.ret[idx]) ** 2).mean()
            else:  # the value update clipped around the value that collected the data
                val_clipped = b.val_old[idx] + (val - b.val_old[idx]).clamp(-cfg.vf_clip, cfg.vf_clip)
                value_loss = torch.max((val - b.ret[idx]) ** 2, (val_clipped - b.ret[idx]) ** 2).mean()
            loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy.mean()
            gradient_step(opt, loss, agent.parameters(), cfg.max_grad_norm)
        if cfg.target_kl is not None:  # optional early stop: the policy already moved far enough from the data's
            with torch.no_grad():
                if approx_kl(agent.evaluate_actions(b.obs, b.act, entropy=False)[0], b.logp_old) > cfg.target_kl:
                    break
    with torch.no_grad():  # how far did the update move the policy? On the whole batch, after the update.
        logp_new, entropy_new, _ = agent.evaluate_actions(b.obs, b.act)
        return {"loss": loss.item(), "policy_loss": policy_loss.item(), "value_loss": value_loss.item(),
                "entropy": entropy_new.mean().item(), "approx_kl": approx_kl(logp_new, b.logp_old).item(),
                "clip_frac": clip_fraction(logp_new, b.logp_old, 0.2 if cfg.clip_eps is None else cfg.clip_eps).item(),
                "max_ratio": torch.exp(logp_new - b.logp_old).max().item()}


def train_ppo(config: PPOConfig | None = None, **overrides) -> ACHistory:
    """Train an `ActorCritic` with PPO; return the `ACHistory` (with approx_kl, clip_frac, lr per update).

    `train_ppo(PPOConfig(n_epochs=4))` or `train_ppo(n_epochs=4)`.
    """
    return train(PPOConfig, config, overrides, lambda cfg: train_on_policy(cfg, ppo_update, "PPO"))
