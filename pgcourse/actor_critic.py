"""Actor-critic network for discrete actions (lessons 4-5).

`ActorCritic(obs_dim, n_act)`: an actor pi(a|s) (logits) and a critic V(s).
By default they are two separate MLPs; `shared=True` puts both heads on one trunk.

- `agent(obs)` -> (logits (B, n_act), val (B,))            for losses (with grad)
- `agent.dist(obs)`, `agent.value(obs)`, `agent.dist_and_value(obs)`
- `agent.evaluate_actions(obs, act)` -> (logp, entropy, val)  the update loop's one call
- `agent.sample(obs)` -> (act, logp) NumPy arrays            for rollouts (no grad, fast)
- `agent.act(obs)` -> (act, logp, val) NumPy arrays           the same plus V(obs)
- `actor_critic_for_env(env)` sizes the network for an env and refuses non-Discrete actions.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical

from pgcourse.policies import _check_sizes, discrete_env_sizes, mlp, sample_actions

__all__ = ["ActorCritic", "actor_critic_for_env"]


def _ortho_init(module: nn.Module, out_gain: float) -> None:
    """Orthogonal weights (gain sqrt(2) on hidden layers, `out_gain` on the last Linear), zero biases."""
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    for i, lin in enumerate(linears):
        nn.init.orthogonal_(lin.weight, gain=out_gain if i == len(linears) - 1 else math.sqrt(2))
        nn.init.zeros_(lin.bias)


def _relu(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=out)


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
        hidden = _check_sizes(obs_dim, n_act, hidden, "n_act")
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

    def _obs_tensor(self, obs) -> tuple[torch.Tensor, bool]:
        obs_t = torch.as_tensor(obs, dtype=torch.float32)
        single = obs_t.ndim == 1
        if single:
            obs_t = obs_t.unsqueeze(0)
        if obs_t.ndim != 2 or obs_t.shape[1] != self.obs_dim:
            raise ValueError(f"obs must have shape (B, {self.obs_dim}) or ({self.obs_dim},), got {tuple(obs_t.shape)}")
        return obs_t, single

    def sample(self, obs: np.ndarray, deterministic: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Actions from the actor alone, without building a graph: the per-step call of a rollout.

        obs: (B, obs_dim) or (obs_dim,) NumPy array. Returns (act int64, logp float32), each (B,)
        (0-d for a single obs). Sampling is Gumbel-max with noise from torch's seeded RNG (the same
        distribution as `dist(obs).sample()`); `deterministic=True` is greedy. The forward pass runs
        in NumPy on views of the weights (the same numbers as the torch pass, tested): at a batch of
        8-32 observations torch's per-operation overhead costs more than the arithmetic.
        """
        layers = self._numpy_actor()
        if layers is None:  # an activation without a NumPy twin: the torch pass
            return self._sample_torch(obs, deterministic)
        x = np.asarray(obs, dtype=np.float32)
        single = x.ndim == 1
        if single:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.obs_dim:
            raise ValueError(f"obs must have shape (B, {self.obs_dim}) or ({self.obs_dim},), got {x.shape}")
        for w_t, b, act in layers:  # x @ W.T + b, then the activation
            x = x @ w_t
            x += b
            if act is not None:
                x = act(x, out=x)
        x -= x.max(axis=1, keepdims=True)
        logp_all = x - np.log(np.exp(x).sum(axis=1, keepdims=True))  # log-softmax
        if deterministic:
            a = logp_all.argmax(axis=1)
        else:  # argmax(logp + Gumbel noise) ~ Categorical; Gumbel = -log(Exp(1))
            noise = torch.empty(logp_all.shape).exponential_().numpy()
            a = (logp_all - np.log(noise)).argmax(axis=1)
        logp = logp_all[np.arange(len(a)), a]
        if single:
            return a[0], logp[0]
        return a, logp

    def _numpy_actor(self) -> list | None:
        """[(W.T, b, activation or None), ...] for trunk + actor: NumPy views of the weights, which
        in-place optimizer steps keep current; rebuilt if a weight's storage moved (e.g. `FlatOptimizer`
        or `load_state_dict` with assign). None if a layer is not Linear, Tanh or ReLU."""
        cache = self.__dict__.get("_np_actor")
        if cache is not None and all(p.data_ptr() == ptr for p, ptr in cache[0]):
            return cache[1]
        modules = list(self.trunk) + list(self.actor)
        layers, params = [], []
        for m in modules:
            if isinstance(m, nn.Linear) and m.bias is not None:
                layers.append([m.weight.detach().numpy().T, m.bias.detach().numpy(), None])
                params += [(m.weight, m.weight.data_ptr()), (m.bias, m.bias.data_ptr())]
            elif isinstance(m, (nn.Tanh, nn.ReLU)) and layers and layers[-1][2] is None:
                layers[-1][2] = np.tanh if isinstance(m, nn.Tanh) else _relu
            else:
                layers = None
                break
        if layers is not None and any(w.dtype != np.float32 for w, _, _ in layers):
            layers = None
        self.__dict__["_np_actor"] = (params, layers)
        return layers

    def _sample_torch(self, obs: np.ndarray, deterministic: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """`sample` with the forward pass in torch (the reference the NumPy pass is tested against)."""
        with torch.inference_mode():
            obs_t, single = self._obs_tensor(obs)
            logp_all = torch.log_softmax(_run(self.actor, _run(self.trunk, obs_t)), dim=-1)
            return sample_actions(logp_all, deterministic, single)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(act int64, logp float32, val float32), each (B,) (0-d for one obs), without a graph.

        `sample` plus the critic's V(obs). (Rollouts call `sample` per step and evaluate V
        afterwards in one batch: acting does not need V.)
        """
        a, logp = self.sample(obs, deterministic)
        with torch.inference_mode():
            obs_t, single = self._obs_tensor(obs)
            val = _run(self.critic, _run(self.trunk, obs_t)).squeeze(-1).numpy()
        return a, logp, (val[0] if single else val)

    def as_policy(self) -> "PolicyView":
        """A view with `act(obs, deterministic) -> (act, logp)`, for `pgcourse.rollouts.evaluate`."""
        return PolicyView(self)


class PolicyView:
    """Wraps an `ActorCritic` as a policy with the lesson-2 interface act(obs) -> (act, logp)."""

    def __init__(self, agent: ActorCritic):
        self.agent = agent

    def act(self, obs, deterministic: bool = False):
        return self.agent.sample(obs, deterministic=deterministic)


def actor_critic_for_env(env, hidden: Sequence[int] = (64, 64), shared: bool = False, **kwargs) -> ActorCritic:
    """An `ActorCritic` sized for `env` (a gymnasium Env or VectorEnv); ValueError unless its action space
    is `Discrete` and its observation space a flat `Box` (see `pgcourse.policies.discrete_env_sizes`)."""
    return ActorCritic(*discrete_env_sizes(env, "ActorCritic"), hidden=hidden, shared=shared, **kwargs)
