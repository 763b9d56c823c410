"""REINFORCE, with reward-to-go and an optional learned baseline (lessons 2-3).

One update:
    batch = collect_episodes(envs, policy, episodes_per_update)   # complete episodes
    ret   = reward_to_go_episodes(batch.rew, batch.done, gamma)   # (T,)
    adv   = ret                  (lesson 2)   or   ret - V(obs)   (lesson 3)
    adv   = standardised adv                                    (optional)
    loss  = reinforce_loss(logp, adv)  = -(logp * adv).mean()   # the score-function estimator
The lesson-3 version changes only the advantage (and fits V to ret afterwards).

Truncation: an episode cut off by the time limit is treated as ending there. That is exactly right
for REINFORCE, whose objective is the return of the time-limited episode (CartPole-v1: at most 500
steps, return at most 500).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from pgcourse.algos.common import History, TrainConfig, finish_bar, progress_bar, reached_threshold, train
from pgcourse.losses import reinforce_loss
from pgcourse.policies import ValueNet, policy_for_env, value_net_for_env
from pgcourse.returns import reward_to_go_episodes
from pgcourse.rollouts import collect_episodes, make_vec_env
from pgcourse.util import nonnegative_float, positive_float, positive_int, seed_everything

__all__ = ["ReinforceConfig", "ReinforceHistory", "train_reinforce", "fit_value"]


@dataclass(repr=False)
class ReinforceConfig(TrainConfig):
    """Every setting of a REINFORCE run (the defaults solve CartPole-v1; `python -m pgcourse bench reinforce`)."""

    hidden: tuple[int, ...] = (64,)
    stop_return: float | None = None  # None: train for max_updates (the lessons compare fixed budgets)
    stop_window: int = 100  # window of the training mean, in episodes
    eval_margin: float = 15.0  # the stop rule's evaluation samples actions: a policy whose mean is just 475 fails
    #                            half of its next evaluations, so ask 490 of the evaluation that stops the run
    episodes_per_update: int = 32  # episodes in each batch; one vector sub-env per episode
    max_updates: int = 60  # the budget, in gradient steps
    reward_to_go: bool = True  # weight step t by G_t; False: by the whole-episode return G_0 (plain REINFORCE)
    lr: float = 2e-2  # Adam, policy
    baseline: str = "none"  # "none" (lesson 2) or "value" (lesson 3: learned V(s))
    normalize_adv: bool = True  # standardise adv over the batch (mean 0, std 1)
    ent_coef: float = 0.0  # weight of an entropy bonus
    critic_lr: float = 1e-2  # Adam, the value net (baseline="value")
    value_epochs: int = 2  # passes over the batch when regressing V on ret, per update
    value_minibatch: int = 512  # samples per value-net gradient step

    def __post_init__(self):
        super().__post_init__()
        if self.baseline not in ("none", "value"):
            raise ValueError(f"baseline must be 'none' or 'value', got {self.baseline!r}")
        for name in ("episodes_per_update", "max_updates", "value_epochs", "value_minibatch"):
            positive_int(getattr(self, name), name)
        positive_float(self.lr, "lr")
        positive_float(self.critic_lr, "critic_lr")
        nonnegative_float(self.ent_coef, "ent_coef")


@dataclass(repr=False)
class ReinforceHistory(History):
    """A REINFORCE run: `History` plus the value net (baseline="value") and, per update, loss, entropy,
    value_loss (NaN without a baseline) and episodes (cumulative). Evaluation samples actions."""

    value_net: ValueNet | None = None
    loss: list = field(default_factory=list)
    entropy: list = field(default_factory=list)
    value_loss: list = field(default_factory=list)
    episodes: list = field(default_factory=list)


def fit_value(value_net, v_opt, obs: torch.Tensor, ret: torch.Tensor, epochs: int = 2, minibatch: int = 512) -> float:
    """Regress V(obs) on ret (both (T,)) with shuffled minibatches; return the last minibatch's MSE."""
    n = len(ret)
    for _ in range(epochs):
        perm = torch.randperm(n)
        for i in range(0, n, minibatch):
            idx = perm[i : i + minibatch]
            v_loss = ((value_net(obs[idx]) - ret[idx]) ** 2).mean()
            v_opt.zero_grad()
            v_loss.backward()
            v_opt.step()
    return v_loss.item()


def train_reinforce(config: ReinforceConfig | None = None, **overrides) -> ReinforceHistory:
    """Train a `CategoricalPolicy` with REINFORCE; return the `ReinforceHistory` (policy included).

    `train_reinforce(ReinforceConfig(lr=3e-3))` or `train_reinforce(lr=3e-3)`.
    """
    return train(ReinforceConfig, config, overrides, _train)


def _train(cfg: ReinforceConfig) -> ReinforceHistory:
    t0 = time.perf_counter()
    seed_everything(cfg.seed)
    envs = make_vec_env(cfg.env_id, num_envs=cfg.episodes_per_update)
    envs.reset(seed=cfg.seed)  # seeds the env's random stream once; later resets continue it
    policy = policy_for_env(envs, hidden=cfg.hidden)
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    value_net, v_opt = None, None
    if cfg.baseline == "value":
        value_net = value_net_for_env(envs, hidden=cfg.hidden)
        v_opt = torch.optim.Adam(value_net.parameters(), lr=cfg.critic_lr)
    hist = ReinforceHistory(config=cfg, policy=policy, value_net=value_net, deterministic_eval=False)
    bar = progress_bar(cfg, cfg.max_updates, "REINFORCE", unit="update")
    try:
        for _ in range(cfg.max_updates):
            # 1. Act: a batch of complete episodes with the current policy.
            batch = collect_episodes(envs, policy, cfg.episodes_per_update)
            obs = torch.as_tensor(batch.obs)
            act = torch.as_tensor(batch.act)
            ret = reward_to_go_episodes(batch.rew, batch.done, cfg.gamma)  # (T,) G_t
            if not cfg.reward_to_go:  # plain REINFORCE: every step of an episode gets its G_0
                starts = np.cumsum(batch.ep_len) - batch.ep_len
                ret = np.repeat(ret[starts], batch.ep_len)
            ret = torch.as_tensor(ret, dtype=torch.float32)

            # 2. Advantage: the only line that differs between lesson 2 and lesson 3.
            if value_net is not None:
                with torch.no_grad():
                    adv = ret - value_net(obs)
            else:
                adv = ret
            if cfg.normalize_adv:
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)

            # 3. Policy gradient step on the score-function surrogate (lesson 2's graded loss).
            dist = policy.dist(obs)
            entropy = dist.entropy().mean()
            loss = reinforce_loss(dist.log_prob(act), adv) - cfg.ent_coef * entropy
            opt.zero_grad()
            loss.backward()
            opt.step()

            # 4. Lesson 3: fit V(s) to the observed returns (a regression, separate from the policy),
            #    after the policy step, so this batch's adv used a V that had not seen its returns.
            v_loss = float("nan")
            if value_net is not None:
                v_loss = fit_value(value_net, v_opt, obs, ret, cfg.value_epochs, cfg.value_minibatch)

            # 5. Log, and stop once the training window and a fresh evaluation both reach stop_return.
            steps = (hist.env_steps[-1] if hist.env_steps else 0) + batch.n_steps
            hist.ep_ret += batch.ep_ret.tolist()
            hist.ep_len += batch.ep_len.tolist()
            hist.ep_end += (steps - batch.n_steps + np.cumsum(batch.ep_len)).tolist()
            hist.loss.append(loss.item())
            hist.entropy.append(entropy.item())
            hist.value_loss.append(v_loss)
            hist.episodes.append(len(hist.ep_ret))
            hist.env_steps.append(steps)
            hist.env_steps_simulated += batch.env_steps
            hist.wall_s.append(time.perf_counter() - t0)
            bar.update(1)
            bar.set_postfix(ret=f"{batch.ep_ret.mean():.0f}", ma=f"{hist.mean_return():.0f}", refresh=False)
            if reached_threshold(hist, cfg, steps, t0):
                break
    finally:
        finish_bar(bar, hist)
        envs.close()
    return hist
