"""Soft actor-critic building blocks (lesson 6): the maximum-entropy pieces SAC is made of.

- `soft_policy(q, alpha)`: the policy that maximises E[Q] + alpha * H, pi(a) proportional to exp(Q(a) / alpha).
- `tanh_log_det(u)`: log |d tanh(u) / du| = log(1 - tanh(u)^2), in a form that stays finite for large |u|.
- `squashed_log_prob(u, mu, log_std)`: log-prob of act = tanh(u) when u ~ N(mu, std): the Gaussian's log-density
  minus the tanh correction, summed over action dimensions.
- `squashed_gaussian(mu, log_std)`: a reparameterised sample act = tanh(mu + std * eps) and its log-prob
  (the Gaussian's, minus the tanh correction): what SAC's actor outputs for bounded actions.
- `soft_q_target(...)`: r + gamma * (1 - terminated) * (min(Q1', Q2') - alpha * logp'), a constant (no gradient).
- `polyak_update_(target, source, tau)`: target <- (1 - tau) * target + tau * source, in place.
- `SquashedGaussianActor`, `TwinQ`, `SACConfig`, `train_sac`: the SAC trainer built from them (lesson 6 writes it out).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["soft_policy", "entropy", "tanh_log_det", "squashed_log_prob", "squashed_gaussian", "soft_q_target",
           "polyak_update_", "SquashedGaussianActor", "TwinQ", "SACConfig", "SACHistory", "train_sac"]


def _positive(value, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number > 0, got {value!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def soft_policy(q, alpha: float) -> np.ndarray:
    """pi(a) = exp(Q(a) / alpha) / sum_b exp(Q(b) / alpha) for q (..., n_act); same shape, rows sum to 1.

    alpha -> 0: all mass on the best action (greedy); alpha -> infinity: uniform. Computed with the
    maximum subtracted, so it stays finite at any alpha > 0.
    """
    alpha = _positive(alpha, "alpha")
    q = np.asarray(q, dtype=np.float64)
    if q.ndim == 0 or q.shape[-1] < 1 or not np.all(np.isfinite(q)):
        raise ValueError(f"q must be a finite array (..., n_act) with n_act >= 1, got shape {q.shape}")
    z = (q - q.max(axis=-1, keepdims=True)) / alpha
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def entropy(p) -> np.ndarray:
    """H(p) = -sum p log p in nats over the last axis (0 log 0 = 0), for probabilities p (..., n_act)."""
    p = np.asarray(p, dtype=np.float64)
    logp = np.log(np.where(p > 0, p, 1.0))
    return -(p * logp).sum(axis=-1)


def tanh_log_det(u: torch.Tensor) -> torch.Tensor:
    """log(1 - tanh(u)^2), elementwise, as 2 * (log 2 - u - softplus(-2u)): the same value, but finite
    where tanh(u) rounds to +-1 (|u| > ~9 in float32) and the direct form gives -inf."""
    if not isinstance(u, torch.Tensor):
        raise ValueError(f"u must be a torch tensor, got {type(u).__name__}")
    return 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))


def squashed_log_prob(u: torch.Tensor, mu: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log pi(tanh(u)) for u ~ N(mu, exp(log_std)^2), all (B, act_dim) -> (B,):

        sum_j [ log N(u_j; mu_j, std_j) - log(1 - tanh(u_j)^2) ]

    (change of variables: act = tanh(u) squeezes density near +-1, so its log-density gains
    -log |d act / d u|). Finite for any u: the correction uses `tanh_log_det`.
    """
    if not all(isinstance(x, torch.Tensor) for x in (u, mu, log_std)):
        raise ValueError("u, mu and log_std must be torch tensors")
    if not (u.shape == mu.shape == log_std.shape) or u.ndim != 2:
        raise ValueError(f"u, mu and log_std must all have shape (B, act_dim), got {tuple(u.shape)}, "
                         f"{tuple(mu.shape)} and {tuple(log_std.shape)}")
    z = (u - mu) / log_std.exp()
    gauss = -0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
    return (gauss - tanh_log_det(u)).sum(-1)


def squashed_gaussian(mu: torch.Tensor, log_std: torch.Tensor, deterministic: bool = False,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A tanh-squashed Gaussian action and its log-prob. mu, log_std: (B, act_dim).

    u = mu + exp(log_std) * eps with eps ~ N(0, I) (reparameterised: gradients reach mu and log_std);
    act = tanh(u) in (-1, 1); logp = squashed_log_prob(u, mu, log_std).
    Returns (act (B, act_dim), logp (B,)). deterministic=True: u = mu (the policy's mean action).
    """
    if not (isinstance(mu, torch.Tensor) and isinstance(log_std, torch.Tensor)):
        raise ValueError("mu and log_std must be torch tensors")
    if mu.shape != log_std.shape or mu.ndim != 2:
        raise ValueError(f"mu and log_std must both have shape (B, act_dim), got {tuple(mu.shape)} and {tuple(log_std.shape)}")
    eps = torch.zeros_like(mu) if deterministic else torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
    u = mu + log_std.exp() * eps
    return torch.tanh(u), squashed_log_prob(u, mu, log_std)


def soft_q_target(rew, next_q1, next_q2, next_logp, terminated, gamma: float, alpha: float) -> torch.Tensor:
    """The critics' regression target, all inputs (B,), returned detached (B,):

        y = rew + gamma * (1 - terminated) * (min(Q1'(s', a'), Q2'(s', a')) - alpha * log pi(a'|s'))

    with a' ~ pi(.|s') and Q' the target (Polyak-averaged) critics. Only `terminated` stops the bootstrap:
    a transition cut by a time limit (truncated) still bootstraps from s'.
    """
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    if not alpha >= 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    tensors = [torch.as_tensor(x) for x in (rew, next_q1, next_q2, next_logp, terminated)]
    shape = tensors[0].shape
    if len(shape) != 1 or any(t.shape != shape for t in tensors):
        raise ValueError(f"rew, next_q1, next_q2, next_logp, terminated must all have shape (B,), got "
                         f"{[tuple(t.shape) for t in tensors]}")
    rew, q1, q2, logp, term = tensors
    with torch.no_grad():
        soft_v = torch.minimum(q1, q2) - alpha * logp
        return rew + gamma * (1.0 - term.to(soft_v.dtype)) * soft_v


@torch.no_grad()
def polyak_update_(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target <- (1 - tau) * target + tau * source, parameter by parameter, in place; tau in (0, 1]."""
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"tau must be in (0, 1], got {tau}")
    t_params, s_params = list(target.parameters()), list(source.parameters())
    if len(t_params) != len(s_params) or any(a.shape != b.shape for a, b in zip(t_params, s_params)):
        raise ValueError("target and source must have parameters of the same shapes (a copy of one network)")
    torch._foreach_lerp_(t_params, s_params, tau)


# ----------------------------------------------------------------------------- the SAC trainer


class SquashedGaussianActor(nn.Module):
    """pi(a|s) for a Box action space: an MLP gives mu and log_std (B, act_dim) of u ~ N(mu, std),
    the action is low + (tanh(u) + 1) / 2 * (high - low). log-probs include the rescaling."""

    def __init__(self, obs_dim: int, act_dim: int, low, high, hidden=(64, 64)):
        super().__init__()
        layers, d = [], obs_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, 2 * act_dim))
        self.net = nn.Sequential(*layers)
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


@dataclass
class SACConfig:
    """Every setting of a SAC run (single env, one gradient update per env step after learning_starts)."""

    env_id: str = "Pendulum-v1"
    seed: int = 0
    total_steps: int = 10_000
    learning_starts: int = 1_000  # uniform random actions until then (fills the buffer)
    buffer_size: int = 100_000
    batch_size: int = 256
    gamma: float = 0.99
    tau: float = 0.005  # Polyak rate of the target critics
    actor_lr: float = 1e-3
    critic_lr: float = 1e-3
    alpha: float = 0.2  # initial temperature
    autotune: bool = True  # learn alpha so that the policy's entropy tracks target_entropy
    target_entropy: float | None = None  # None: -act_dim
    hidden: tuple[int, ...] = (64, 64)
    stop_return: float | None = None  # stop once the last stop_window episodes average this
    stop_window: int = 10
    num_threads: int = 1
    progress: bool = True

    def __post_init__(self):
        self.hidden = tuple(self.hidden)
        for name in ("total_steps", "buffer_size", "batch_size", "stop_window", "num_threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not 0 <= self.learning_starts < self.total_steps:
            raise ValueError(f"learning_starts must be in [0, total_steps), got {self.learning_starts}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"tau must be in (0, 1], got {self.tau}")
        for name in ("actor_lr", "critic_lr", "alpha"):
            _positive(getattr(self, name), name)


@dataclass
class SACHistory:
    """A SAC run: per episode ep_ret, ep_len, ep_end (env step it ended at) and wall_s; every 100 updates
    q_loss, actor_loss, alpha, entropy (-mean logp of the batch's fresh actions), env_steps; n_updates."""

    config: SACConfig
    actor: SquashedGaussianActor
    ep_ret: list = field(default_factory=list)
    ep_len: list = field(default_factory=list)
    ep_end: list = field(default_factory=list)
    wall_s: list = field(default_factory=list)
    q_loss: list = field(default_factory=list)
    actor_loss: list = field(default_factory=list)
    alpha: list = field(default_factory=list)
    entropy: list = field(default_factory=list)
    env_steps: list = field(default_factory=list)
    loss: list = field(default_factory=list)  # = q_loss
    n_updates: int = 0
    wall_at_stop: float | None = None

    @property
    def policy(self) -> SquashedGaussianActor:
        return self.actor

    def mean_return(self, last: int = 10) -> float:
        return float(np.mean(self.ep_ret[-last:])) if self.ep_ret else float("nan")

    def evaluate(self, n_episodes: int = 10, deterministic: bool = True, seed: int = 10_000) -> np.ndarray:
        from pgcourse.rollouts import evaluate

        return evaluate(self.actor, self.config.env_id, n_episodes, seed=seed, deterministic=deterministic)


def train_sac(config: SACConfig | None = None, **overrides) -> SACHistory:
    """Train SAC; `train_sac(SACConfig(seed=1))` or `train_sac(seed=1)`. Returns the `SACHistory`."""
    from pgcourse.a2c import _config, _with_threads

    return _with_threads(_config(SACConfig, config, overrides), _train_sac)


def _train_sac(cfg: SACConfig) -> SACHistory:
    import gymnasium as gym
    from gymnasium import spaces
    from tqdm.auto import tqdm

    from pgcourse.optim import FlatOptimizer
    from pgcourse.seeding import seed_everything

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
    actor_opt = FlatOptimizer([{"params": list(actor.parameters()), "lr": cfg.actor_lr}])
    critic_opt = FlatOptimizer([{"params": list(critic.parameters()), "lr": cfg.critic_lr}])
    log_alpha = torch.tensor([math.log(cfg.alpha)], requires_grad=True)
    alpha_opt = FlatOptimizer([{"params": [log_alpha], "lr": cfg.actor_lr}])
    target_entropy = -float(act_dim) if cfg.target_entropy is None else float(cfg.target_entropy)

    # replay buffer: flat NumPy arrays, overwritten in a ring
    n = cfg.buffer_size
    buf_obs, buf_next = np.zeros((n, obs_dim), np.float32), np.zeros((n, obs_dim), np.float32)
    buf_act, buf_rew, buf_term = np.zeros((n, act_dim), np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32)
    rng = np.random.default_rng(cfg.seed)
    env.action_space.seed(cfg.seed)

    hist = SACHistory(config=cfg, actor=actor)
    bar = tqdm(total=cfg.total_steps, desc="SAC", disable=not cfg.progress)
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
                hist.wall_s.append(time.perf_counter() - t0)
                bar.set_postfix(ret=f"{hist.mean_return(cfg.stop_window):.0f}", refresh=False)
                ep_ret, ep_len = 0.0, 0
                obs, _ = env.reset()
                if (cfg.stop_return is not None and len(hist.ep_ret) >= cfg.stop_window
                        and hist.mean_return(cfg.stop_window) >= cfg.stop_return):
                    hist.wall_at_stop = hist.wall_s[-1]
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
                hist.loss.append(hist.q_loss[-1])
                hist.actor_loss.append(actor_loss.item())
                hist.alpha.append(alpha)
                hist.entropy.append(-logp.mean().item())
                hist.env_steps.append(step + 1)
    finally:
        bar.close()
        env.close()
    return hist
