"""Small torch networks for discrete-action policy gradients (lessons 2-3).

- `CategoricalPolicy`: obs (B, obs_dim) -> logits (B, n_act); `dist(obs)` gives a
  `torch.distributions.Categorical`; `act(obs)` samples actions from NumPy
  observations for rollouts.
- `ValueNet`: obs (B, obs_dim) -> val (B,), the learned baseline V(s).
- `policy_for_env(env)`: builds a `CategoricalPolicy` that fits an env's spaces.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical

__all__ = ["mlp", "CategoricalPolicy", "ValueNet", "policy_for_env", "value_net_for_env"]


def _check_sizes(obs_dim, out_dim, hidden, out_name: str) -> tuple[int, ...]:
    for name, v in (("obs_dim", obs_dim), (out_name, out_dim)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if isinstance(hidden, (int, np.integer)):
        hidden = (int(hidden),)
    hidden = tuple(hidden)
    if any(isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1 for h in hidden):
        raise ValueError(
            f"hidden must be a sequence of positive layer widths such as (64,) or (64, 64), got {hidden!r}"
        )
    return tuple(int(h) for h in hidden)


def mlp(in_dim: int, out_dim: int, hidden: Sequence[int] = (64,), activation=nn.Tanh) -> nn.Sequential:
    """A plain MLP: Linear -> activation for each hidden width, then a Linear output layer."""
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        layers += [nn.Linear(d, h), activation()]
        d = h
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


def sample_actions(logp_all: torch.Tensor, deterministic: bool = False, single: bool = False):
    """(act int64, logp float32) NumPy arrays (B,) from log-probabilities (B, n_act), without a graph
    (0-d arrays if `single`). Greedy if deterministic, else Gumbel-max on torch's seeded RNG:
    argmax(logp + G) with G = -log(E), E ~ Exp(1), is a sample of Categorical(logp)."""
    if deterministic:
        a = logp_all.argmax(dim=-1)
    else:
        a = (logp_all - torch.empty_like(logp_all).exponential_().log_()).argmax(dim=-1)
    logp = logp_all.gather(1, a.unsqueeze(1)).squeeze(1)
    a, logp = a.numpy(), logp.numpy()
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
        hidden = _check_sizes(obs_dim, n_act, hidden, "n_act")
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

        obs: (B, obs_dim) or (obs_dim,) NumPy array. Returns (act, logp): act int64
        and logp float32, shape (B,) (0-d arrays for a single obs).
        Sampling uses the Gumbel-max trick on torch's seeded RNG: the same
        distribution as `dist(obs).sample()`, with fewer small tensor ops (this
        runs once per env step). `deterministic=True` takes the most probable action.
        """
        with torch.inference_mode():
            obs_t = torch.as_tensor(obs, dtype=torch.float32)
            single = obs_t.ndim == 1
            if single:
                obs_t = obs_t.unsqueeze(0)
            if obs_t.ndim != 2 or obs_t.shape[1] != self.obs_dim:
                raise ValueError(
                    f"obs must have shape (B, {self.obs_dim}) or ({self.obs_dim},), got {tuple(obs_t.shape)}"
                )
            x = obs_t
            for layer in self.net:  # layer.forward skips nn.Module.__call__ overhead
                x = layer.forward(x)
            return sample_actions(torch.log_softmax(x, dim=-1), deterministic, single)


class ValueNet(nn.Module):
    """State-value baseline V(s): obs (B, obs_dim) -> val (B,)."""

    def __init__(self, obs_dim: int, hidden: Sequence[int] = (64,), activation=nn.Tanh):
        super().__init__()
        hidden = _check_sizes(obs_dim, 1, hidden, "output size")
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
