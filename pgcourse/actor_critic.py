"""Actor-critic network for discrete actions (lessons 4-5; after CleanRL's `Agent`).

`ActorCritic(obs_dim, n_act)`: an actor pi(a|s) (logits) and a critic V(s).
By default they are two separate MLPs; `shared=True` puts both heads on one trunk.

- `agent(obs)` -> (logits (B, n_act), val (B,))            for losses (with grad)
- `agent.dist(obs)`, `agent.value(obs)`, `agent.dist_and_value(obs)`
- `agent.evaluate_actions(obs, act)` -> (logp, entropy, val)  the update loop's one call
- `agent.act(obs, deterministic=False)` -> (act, logp) NumPy arrays   for rollouts and evaluation (no grad):
  the policy interface of `pgcourse.rollouts`
- `actor_critic_for_env(env)` sizes the network for an env and refuses non-Discrete actions.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical

from pgcourse.fastmlp import forward_numpy
from pgcourse.policies import discrete_env_sizes, mlp, obs_batch, sample_actions
from pgcourse.util import layer_sizes, positive_int

__all__ = ["ActorCritic", "actor_critic_for_env"]


def _ortho_init(module: nn.Module, out_gain: float) -> None:
    """Orthogonal weights (gain sqrt(2) on hidden layers, `out_gain` on the last Linear), zero biases."""
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    for i, lin in enumerate(linears):
        nn.init.orthogonal_(lin.weight, gain=out_gain if i == len(linears) - 1 else math.sqrt(2))
        nn.init.zeros_(lin.bias)


def _run(seq: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    for layer in seq:  # layer.forward skips nn.Module.__call__ overhead (no hooks here; hot loops only)
        x = layer.forward(x)
    return x


class ActorCritic(nn.Module):
    """pi(a|s) and V(s) for `n_act` discrete actions on flat observations (obs_dim,).

    shared=False: actor = MLP(obs -> logits), critic = MLP(obs -> value), no shared weights.
    shared=True: trunk = MLP(obs -> features); actor and critic are linear heads on it.
    ortho_init: orthogonal init, actor output scaled by 0.01 (near-uniform first policy),
    critic output by 1.
    """

    def __init__(
        self,
        obs_dim: int,
        n_act: int,
        hidden: Sequence[int] = (64, 64),
        shared: bool = False,
        activation=nn.Tanh,
        ortho_init: bool = True,
    ):
        super().__init__()
        obs_dim, n_act, hidden = positive_int(obs_dim, "obs_dim"), positive_int(n_act, "n_act"), layer_sizes(hidden)
        if shared and not hidden:
            raise ValueError("shared=True needs at least one hidden layer for the trunk")
        self.obs_dim, self.n_act, self.hidden, self.shared = int(obs_dim), int(n_act), hidden, bool(shared)
        if shared:
            self.trunk = mlp(self.obs_dim, hidden[-1], hidden[:-1], activation)
            self.trunk.append(activation())
            self.actor = nn.Sequential(nn.Linear(hidden[-1], self.n_act))
            self.critic = nn.Sequential(nn.Linear(hidden[-1], 1))
        else:
            self.trunk = nn.Sequential()  # identity
            self.actor = mlp(self.obs_dim, self.n_act, hidden, activation)
            self.critic = mlp(self.obs_dim, 1, hidden, activation)
        if ortho_init:
            if shared:
                for lin in (m for m in self.trunk.modules() if isinstance(m, nn.Linear)):
                    nn.init.orthogonal_(lin.weight, gain=math.sqrt(2))
                    nn.init.zeros_(lin.bias)
            _ortho_init(self.actor, 0.01)
            _ortho_init(self.critic, 1.0)
        else:  # still start near-uniform, like CategoricalPolicy
            with torch.no_grad():
                self.actor[-1].weight.mul_(0.01)
                self.actor[-1].bias.zero_()

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """obs (B, obs_dim) -> (logits (B, n_act), val (B,))."""
        x = self.trunk(obs)
        return self.actor(x), self.critic(x).squeeze(-1)

    def dist(self, obs: torch.Tensor) -> Categorical:
        """obs (B, obs_dim) -> Categorical over n_act actions (argument validation off for speed)."""
        return Categorical(logits=self.actor(self.trunk(obs)), validate_args=False)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """obs (B, obs_dim) -> val (B,)."""
        return self.critic(self.trunk(obs)).squeeze(-1)

    def dist_and_value(self, obs: torch.Tensor) -> tuple[Categorical, torch.Tensor]:
        """Both in one pass (one trunk evaluation when shared): (Categorical, val (B,))."""
        logits, val = self(obs)
        return Categorical(logits=logits, validate_args=False), val

    def evaluate_actions(
        self, obs: torch.Tensor, act: torch.Tensor, entropy: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """(logp, entropy, val), each (B,), for obs (B, obs_dim) and act (B,), with grad.

        The same numbers as `dist(obs).log_prob(act)`, `dist(obs).entropy()` and `value(obs)`,
        from one forward pass and a log-softmax (cheaper than building a Categorical in the
        update loop, which runs thousands of times per run). entropy=False skips it (None).
        """
        x = _run(self.trunk, obs)
        logp_all = torch.log_softmax(_run(self.actor, x), dim=-1)
        val = _run(self.critic, x).squeeze(-1)
        logp = logp_all.gather(1, act.unsqueeze(1)).squeeze(1)
        ent = -(logp_all.exp() * logp_all).sum(dim=-1) if entropy else None
        return logp, ent, val

    def act(self, obs: np.ndarray, deterministic: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Actions from the actor alone, without building a graph: the per-step call of a rollout.

        obs: (B, obs_dim) or (obs_dim,) NumPy array. Returns (act int64, logp float32), each (B,) (0-d for
        a single obs): a sample of the same distribution as `dist(obs).sample()` (Gumbel-max on torch's
        seeded RNG), or the greedy action if deterministic. Acting does not need V; rollouts evaluate it
        afterwards in one batch. (The forward pass runs in NumPy, `pgcourse.fastmlp`: the same numbers.)
        """
        x, single = obs_batch(obs, self.obs_dim)
        return sample_actions(forward_numpy(self, [*self.trunk, *self.actor], x), deterministic, single)


def actor_critic_for_env(env, hidden: Sequence[int] = (64, 64), shared: bool = False, **kwargs) -> ActorCritic:
    """An `ActorCritic` sized for `env` (a gymnasium Env or VectorEnv); ValueError unless its action space
    is `Discrete` and its observation space a flat `Box` (see `pgcourse.policies.discrete_env_sizes`)."""
    return ActorCritic(*discrete_env_sizes(env, "ActorCritic"), hidden=hidden, shared=shared, **kwargs)
