"""Small torch networks for policy gradients (lessons 2-3; the Gaussian policy: lesson 6).

- `CategoricalPolicy`: obs (B, obs_dim) -> logits (B, n_act); `dist(obs)` gives a
  `torch.distributions.Categorical`; `act(obs)` samples actions from NumPy
  observations for rollouts.
- `ValueNet`: obs (B, obs_dim) -> val (B,), the learned baseline V(s).
- `policy_for_env(env)`: builds a `CategoricalPolicy` that fits an env's spaces.
- `GaussianPolicy`: continuous actions; obs (B, obs_dim) -> mean (B, act_dim) and a
  state-independent log-std (act_dim,); `dist(obs)` gives a `torch.distributions.Normal`
  whose `log_prob(act).sum(-1)` is logp (B,).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Normal

from pgcourse.fastmlp import forward_numpy
from pgcourse.util import layer_sizes, positive_int

__all__ = ["mlp", "obs_batch", "sample_actions", "CategoricalPolicy", "ValueNet", "discrete_env_sizes", "policy_for_env",
           "value_net_for_env", "GaussianPolicy"]


def mlp(in_dim: int, out_dim: int, hidden: Sequence[int] = (64,), activation=nn.Tanh) -> nn.Sequential:
    """A plain MLP: Linear -> activation for each hidden width, then a Linear output layer."""
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        layers += [nn.Linear(d, h), activation()]
        d = h
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


def obs_batch(obs, obs_dim: int) -> tuple[np.ndarray, bool]:
    """obs (B, obs_dim) or (obs_dim,) -> ((B, obs_dim) float32 array, whether it was a single obs)."""
    x = np.asarray(obs, dtype=np.float32)
    single = x.ndim == 1
    if single:
        x = x[None]
    if x.ndim != 2 or x.shape[1] != obs_dim:
        raise ValueError(f"obs must have shape (B, {obs_dim}) or ({obs_dim},), got {x.shape}")
    return x, single


def sample_actions(logits: np.ndarray, deterministic: bool = False, single: bool = False):
    """(act int64, logp float32) NumPy arrays (B,) from logits (B, n_act) (0-d arrays if `single`).

    Greedy if deterministic, else Gumbel-max with noise from torch's seeded RNG: argmax(logp + G) with
    G = -log(E), E ~ Exp(1), is a sample of Categorical(logits), the same distribution as
    `Categorical(logits=...).sample()` in a few NumPy operations (this runs once per env step).
    """
    z = logits - logits.max(axis=1, keepdims=True)
    logp_all = z - np.log(np.exp(z).sum(axis=1, keepdims=True))  # log-softmax
    if deterministic:
        a = logp_all.argmax(axis=1)
    else:
        a = (logp_all - np.log(torch.empty(logp_all.shape).exponential_().numpy())).argmax(axis=1)
    logp = logp_all[np.arange(len(a)), a].astype(np.float32)
    return (a[0], logp[0]) if single else (a, logp)


class CategoricalPolicy(nn.Module):
    """pi(a|s) for discrete actions: an MLP mapping obs (B, obs_dim) to logits (B, n_act).

    The output layer starts near zero, so the initial policy is close to uniform.
    """

    def __init__(
        self,
        obs_dim: int,
        n_act: int,
        hidden: Sequence[int] = (64,),
        activation=nn.Tanh,
        out_scale: float = 0.01,
    ):
        super().__init__()
        obs_dim, n_act, hidden = positive_int(obs_dim, "obs_dim"), positive_int(n_act, "n_act"), layer_sizes(hidden)
        self.obs_dim, self.n_act, self.hidden = int(obs_dim), int(n_act), hidden
        self.net = mlp(self.obs_dim, self.n_act, hidden, activation)
        with torch.no_grad():
            self.net[-1].weight.mul_(out_scale)
            self.net[-1].bias.zero_()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs (B, obs_dim) float32 -> logits (B, n_act)."""
        return self.net(obs)

    def dist(self, obs: torch.Tensor) -> Categorical:
        """obs (B, obs_dim) -> Categorical over n_act actions (argument validation off for speed)."""
        return Categorical(logits=self(obs), validate_args=False)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Sample actions for a rollout, without building a graph.

        obs: (B, obs_dim) or (obs_dim,) NumPy array. Returns (act, logp): act int64 and logp float32,
        shape (B,) (0-d arrays for a single obs). `deterministic=True` takes the most probable action.
        (The forward pass runs in NumPy, `pgcourse.fastmlp`: the same numbers, faster at this size.)
        """
        x, single = obs_batch(obs, self.obs_dim)
        return sample_actions(forward_numpy(self, self.net, x), deterministic, single)


class ValueNet(nn.Module):
    """State-value baseline V(s): obs (B, obs_dim) -> val (B,)."""

    def __init__(self, obs_dim: int, hidden: Sequence[int] = (64,), activation=nn.Tanh):
        super().__init__()
        obs_dim, hidden = positive_int(obs_dim, "obs_dim"), layer_sizes(hidden)
        self.obs_dim, self.hidden = int(obs_dim), hidden
        self.net = mlp(self.obs_dim, 1, hidden, activation)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs (B, obs_dim) -> val (B,)."""
        return self.net(obs).squeeze(-1)


def _env_spaces(env):
    obs_space = getattr(env, "single_observation_space", None) or env.observation_space
    act_space = getattr(env, "single_action_space", None) or env.action_space
    return obs_space, act_space


def _obs_dim(obs_space) -> int:
    from gymnasium import spaces

    if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) != 1:
        raise ValueError(
            f"these MLPs need a flat Box observation space of shape (obs_dim,), got {obs_space}; "
            "flatten the observations (e.g. gymnasium.wrappers.FlattenObservation)"
        )
    return int(obs_space.shape[0])


def discrete_env_sizes(env, who: str = "CategoricalPolicy") -> tuple[int, int]:
    """(obs_dim, n_act) of `env` (a gymnasium Env or VectorEnv) for a categorical policy.

    Raises ValueError unless the action space is `Discrete` (starting at 0) and the
    observation space a flat `Box`; `who` names the model in the message.
    """
    from gymnasium import spaces

    obs_space, act_space = _env_spaces(env)
    if not isinstance(act_space, spaces.Discrete):
        raise ValueError(
            f"{who} needs a Discrete action space, got {act_space}; "
            "continuous actions need a Gaussian policy (lesson 6)"
        )
    if int(act_space.start) != 0:
        raise ValueError(f"the Discrete action space must start at 0, got start={act_space.start}")
    return _obs_dim(obs_space), int(act_space.n)


def policy_for_env(env, hidden: Sequence[int] = (64,), **kwargs) -> CategoricalPolicy:
    """A `CategoricalPolicy` sized for `env` (see `discrete_env_sizes` for what it accepts)."""
    return CategoricalPolicy(*discrete_env_sizes(env, "CategoricalPolicy"), hidden=hidden, **kwargs)


def value_net_for_env(env, hidden: Sequence[int] = (64,), **kwargs) -> ValueNet:
    """A `ValueNet` sized for `env`'s (flat Box) observation space."""
    obs_space, _ = _env_spaces(env)
    return ValueNet(_obs_dim(obs_space), hidden=hidden, **kwargs)


class GaussianPolicy(nn.Module):
    """pi(a|s) = N(mean(s), diag(std^2)) for continuous actions, with a state-independent log-std.

    `net`: an MLP obs (B, obs_dim) -> mean (B, act_dim) (`hidden=()` makes it linear); `log_std`: a
    learnable (act_dim,) parameter starting at `log_std_init`. The log-probability of an action vector
    is the sum over its dimensions: `policy.log_prob(obs, act)` -> logp (B,). Actions are unbounded:
    squash them (lesson 6's tanh) or let the env clip them, but score the action that was sampled.
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (64,), activation=nn.Tanh,
                 log_std_init: float = 0.0):
        super().__init__()
        obs_dim, act_dim, hidden = positive_int(obs_dim, "obs_dim"), positive_int(act_dim, "act_dim"), layer_sizes(hidden)
        if not np.isfinite(log_std_init):
            raise ValueError(f"log_std_init must be a finite float, got {log_std_init!r}")
        self.obs_dim, self.act_dim, self.hidden = int(obs_dim), int(act_dim), hidden
        self.net = mlp(self.obs_dim, self.act_dim, hidden, activation)
        self.log_std = nn.Parameter(torch.full((self.act_dim,), float(log_std_init)))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs (B, obs_dim) -> mean (B, act_dim)."""
        return self.net(obs)

    def dist(self, obs: torch.Tensor) -> Normal:
        """obs (B, obs_dim) -> Normal with loc (B, act_dim) and scale (act_dim,) broadcast to it."""
        mean = self(obs)
        return Normal(mean, self.log_std.exp().expand_as(mean), validate_args=False)

    def log_prob(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """obs (B, obs_dim), act (B, act_dim) -> logp (B,), summed over action dimensions."""
        return self.dist(obs).log_prob(act).sum(-1)

    @torch.no_grad()
    def act(self, obs, deterministic: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Sample for a rollout without a graph: obs (B, obs_dim) or (obs_dim,) NumPy -> (act, logp),
        act float32 (B, act_dim) and logp float32 (B,) (no batch axis for a single obs); the mean if
        `deterministic` (its logp is still that of the mean under the Gaussian)."""
        x, single = obs_batch(obs, self.obs_dim)
        d = self.dist(torch.from_numpy(x))
        a = d.mean if deterministic else d.sample()
        logp = d.log_prob(a).sum(-1)
        a, logp = a.numpy(), logp.numpy()
        return (a[0], logp[0]) if single else (a, logp)
