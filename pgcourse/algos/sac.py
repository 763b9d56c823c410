"""SAC: soft actor-critic for continuous actions (lesson 6), built from `pgcourse.soft`'s pieces.

Off-policy: every transition goes into a replay buffer and is reused by many updates. One env step,
then (after learning_starts random steps) one update on a random minibatch:
    y       = soft_q_target(r, Q1'(s', a'), Q2'(s', a'), log pi(a'|s'), terminated)   a' ~ pi(s')
    critics : both regress on y (twin critics, `TwinQ`)
    actor   : minimise alpha * log pi(a|s) - min(Q1, Q2)(s, a), a = squashed_gaussian(...) reparameterised
    alpha   : raised when the entropy is below target_entropy, lowered above it (autotune)
    targets : polyak_update_(critic_target, critic, tau)
Lesson 6 writes this loop out and asserts that `train_sac` reproduces it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from pgcourse.algos.common import History, TrainConfig, finish_bar, progress_bar, reached_threshold, train
from pgcourse.policies import mlp
from pgcourse.soft import polyak_update_, soft_q_target, squashed_gaussian
from pgcourse.util import positive_float, positive_int, seed_everything

__all__ = ["SquashedGaussianActor", "TwinQ", "SACConfig", "SACHistory", "train_sac"]


class SquashedGaussianActor(nn.Module):
    """pi(a|s) for a Box action space: an MLP gives mu and log_std (B, act_dim) of u ~ N(mu, std),
    the action is act = center + scale * tanh(u) with center = (high + low) / 2, scale = (high - low) / 2.
    logp = sum_j [log N(u_j; mu_j, std_j) - log(1 - tanh(u_j)^2) - log scale_j]: the rescaling's own
    change of variables adds -sum_j log scale_j (-log 2 per dimension on Pendulum's [-2, 2])."""

    def __init__(self, obs_dim: int, act_dim: int, low, high, hidden=(64, 64)):
        super().__init__()
        self.net = mlp(obs_dim, 2 * act_dim, hidden, nn.ReLU)
        low, high = torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)
        self.register_buffer("center", (high + low) / 2)
        self.register_buffer("scale", (high - low) / 2)
        self.obs_dim, self.act_dim = obs_dim, act_dim

    def forward(self, obs: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """obs (B, obs_dim) -> (act (B, act_dim) in [low, high], logp (B,)), reparameterised."""
        mu, log_std = self.net(obs).chunk(2, dim=-1)
        squashed, logp = squashed_gaussian(mu, log_std.clamp(-5.0, 2.0), deterministic)
        return self.center + self.scale * squashed, logp - torch.log(self.scale).sum()

    def act(self, obs: np.ndarray, deterministic: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """NumPy obs (B, obs_dim) or (obs_dim,) -> (act, logp) NumPy, without a graph (rollouts, evaluation)."""
        with torch.no_grad():
            obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32))
            single = obs_t.ndim == 1
            act, logp = self(obs_t[None] if single else obs_t, deterministic)
        act, logp = act.numpy(), logp.numpy()
        return (act[0], logp[0]) if single else (act, logp)


class TwinQ(nn.Module):
    """Two critics Q1, Q2(s, a) as one ensemble: weights (2, in, out), evaluated with batched matmuls
    (one op per layer for both). forward(obs (B, obs_dim), act (B, act_dim)) -> q (2, B)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden=(64, 64)):
        super().__init__()
        sizes = [obs_dim + act_dim, *hidden, 1]
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for d_in, d_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(d_in)  # nn.Linear's default init, per critic
            self.weights.append(nn.Parameter(torch.empty(2, d_in, d_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(2, 1, d_out).uniform_(-bound, bound)))

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, act], dim=-1).expand(2, -1, -1)  # (2, B, in)
        n = len(self.weights)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < n - 1:
                x = torch.relu(x)
        return x.squeeze(-1)


@dataclass(repr=False)
class SACConfig(TrainConfig):
    """Every setting of a SAC run (single env, one gradient update per env step after learning_starts;
    `python -m pgcourse bench sac`)."""

    env_id: str = "Pendulum-v1"
    stop_return: float | None = None  # None: train for total_steps
    stop_window: int = 10
    total_steps: int = 10_000
    learning_starts: int = 1_000  # uniform random actions until then (fills the buffer)
    buffer_size: int = 100_000
    batch_size: int = 256
    tau: float = 0.005  # Polyak rate of the target critics
    lr: float = 1e-3  # Adam, actor (and the temperature)
    critic_lr: float = 1e-3  # Adam, critics
    alpha: float = 0.2  # initial temperature
    autotune: bool = True  # learn alpha so that the policy's entropy tracks target_entropy
    target_entropy: float | None = None  # None: -act_dim

    def __post_init__(self):
        super().__post_init__()
        for name in ("total_steps", "buffer_size", "batch_size"):
            positive_int(getattr(self, name), name)
        if not 0 <= self.learning_starts < self.total_steps:
            raise ValueError(f"learning_starts must be in [0, total_steps), got {self.learning_starts}")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"tau must be in (0, 1], got {self.tau}")
        for name in ("lr", "critic_lr", "alpha"):
            positive_float(getattr(self, name), name)


@dataclass(repr=False)
class SACHistory(History):
    """A SAC run: `History` (greedy evaluation) plus the actor and, every 100 updates, q_loss, actor_loss,
    alpha, entropy (-mean logp of the batch's fresh actions), with env_steps and wall_s; n_updates."""

    actor: SquashedGaussianActor | None = None
    q_loss: list = field(default_factory=list)
    actor_loss: list = field(default_factory=list)
    alpha: list = field(default_factory=list)
    entropy: list = field(default_factory=list)
    n_updates: int = 0


def train_sac(config: SACConfig | None = None, **overrides) -> SACHistory:
    """Train SAC; `train_sac(SACConfig(seed=1))` or `train_sac(seed=1)`. Returns the `SACHistory`."""
    return train(SACConfig, config, overrides, _train_sac)


def _train_sac(cfg: SACConfig) -> SACHistory:
    t0 = time.perf_counter()
    seed_everything(cfg.seed)
    env = gym.make(cfg.env_id)
    if not isinstance(env.action_space, spaces.Box) or len(env.observation_space.shape) != 1:
        raise ValueError(f"SAC here needs a Box action space and flat observations; {cfg.env_id} has "
                         f"{env.action_space} and {env.observation_space}")
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    actor = SquashedGaussianActor(obs_dim, act_dim, env.action_space.low, env.action_space.high, cfg.hidden)
    critic = TwinQ(obs_dim, act_dim, cfg.hidden)
    critic_target = TwinQ(obs_dim, act_dim, cfg.hidden)
    critic_target.load_state_dict(critic.state_dict())
    critic_target.requires_grad_(False)
    actor_opt = torch.optim.Adam(actor.parameters(), lr=cfg.lr, foreach=True)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=cfg.critic_lr, foreach=True)
    log_alpha = torch.tensor([math.log(cfg.alpha)], requires_grad=True)
    alpha_opt = torch.optim.Adam([log_alpha], lr=cfg.lr, foreach=True)
    target_entropy = -float(act_dim) if cfg.target_entropy is None else float(cfg.target_entropy)

    # replay buffer: flat NumPy arrays, overwritten in a ring
    n = cfg.buffer_size
    buf_obs, buf_next = np.zeros((n, obs_dim), np.float32), np.zeros((n, obs_dim), np.float32)
    buf_act, buf_rew, buf_term = np.zeros((n, act_dim), np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32)
    rng = np.random.default_rng(cfg.seed)
    env.action_space.seed(cfg.seed)

    hist = SACHistory(config=cfg, policy=actor, actor=actor, deterministic_eval=True)
    bar = progress_bar(cfg, cfg.total_steps, "SAC")
    obs, _ = env.reset(seed=cfg.seed)
    ep_ret, ep_len = 0.0, 0
    try:
        for step in range(cfg.total_steps):
            # 1. Act: random at first, then a sample of the current policy.
            if step < cfg.learning_starts:
                act = env.action_space.sample()
            else:
                act, _ = actor.act(obs)
            next_obs, rew, terminated, truncated, _ = env.step(act)
            i = step % n  # store the TRUE next obs; only a real termination stops the bootstrap
            buf_obs[i], buf_act[i], buf_rew[i], buf_next[i], buf_term[i] = obs, act, rew, next_obs, terminated
            ep_ret, ep_len = ep_ret + float(rew), ep_len + 1
            if terminated or truncated:
                hist.ep_ret.append(ep_ret)
                hist.ep_len.append(ep_len)
                hist.ep_end.append(step + 1)
                bar.set_postfix(ret=f"{hist.mean_return():.0f}", refresh=False)
                ep_ret, ep_len = 0.0, 0
                obs, _ = env.reset()
                if reached_threshold(hist, cfg, step + 1, t0):
                    bar.update(1)
                    break
            else:
                obs = next_obs
            bar.update(1)
            if step < cfg.learning_starts:
                continue

            # 2. One gradient update on a random minibatch.
            idx = rng.integers(0, min(step + 1, n), cfg.batch_size)
            s, a = torch.from_numpy(buf_obs[idx]), torch.from_numpy(buf_act[idx])
            r, s2, term = torch.from_numpy(buf_rew[idx]), torch.from_numpy(buf_next[idx]), torch.from_numpy(buf_term[idx])
            alpha = log_alpha.exp().item()
            with torch.no_grad():  # the soft target: min of the target critics, minus alpha * log pi, at a' ~ pi(s')
                a2, logp2 = actor(s2)
                q_next = critic_target(s2, a2)
                y = soft_q_target(r, q_next[0], q_next[1], logp2, term, cfg.gamma, alpha)
            q = critic(s, a)  # (2, B)
            q_loss = ((q - y) ** 2).mean(dim=1).sum()  # both critics regress on the same detached target
            critic_opt.zero_grad()
            q_loss.backward()
            critic_opt.step()

            a_new, logp = actor(s)  # reparameterised: gradients flow through the action into Q ...
            critic.requires_grad_(False)  # ... but not into the critics' weights (they are not updated here)
            q_new = critic(s, a_new)
            critic.requires_grad_(True)
            actor_loss = (alpha * logp - torch.minimum(q_new[0], q_new[1])).mean()
            actor_opt.zero_grad()
            actor_loss.backward()
            actor_opt.step()

            if cfg.autotune:  # raise alpha when the entropy is below target, lower it when above
                alpha_loss = -(log_alpha * (logp.detach() + target_entropy)).mean()
                alpha_opt.zero_grad()
                alpha_loss.backward()
                alpha_opt.step()
            polyak_update_(critic_target, critic, cfg.tau)
            hist.n_updates += 1

            if step % 100 == 0:
                hist.q_loss.append(q_loss.item())
                hist.actor_loss.append(actor_loss.item())
                hist.alpha.append(alpha)
                hist.entropy.append(-logp.mean().item())
                hist.env_steps.append(step + 1)
                hist.wall_s.append(time.perf_counter() - t0)
    finally:
        hist.env_steps_simulated = step + 1
        finish_bar(bar, hist)
        env.close()
    return hist
