"""A2C: advantage actor-critic on vectorised envs (lesson 4).

REINFORCE plus one named change, the advantage: instead of the return of a whole episode, a critic
V(s) learned alongside the actor gives a bootstrapped advantage on fixed-length rollouts.

    ro       = collector.collect(agent)                    # n_steps x num_envs steps, not whole episodes
    adv, ret = gae(rew, val, next_val, terminated, truncated, gamma, lam)    # bootstrapped from V
    loss     = a2c_loss(logp, entropy, val, ret, adv)       # policy gradient + critic regression - entropy bonus
    one gradient step (norm clipped; RMSprop, from the A3C paper (Mnih et al., 2016) and OpenAI
    Baselines' A2C, or Adam)

The loop is `pgcourse.algos.common.train_on_policy`; `a2c_update` is what A2C does with a batch.
Two switches reproduce the lesson's bugs:
- `bootstrap_truncation=False` treats a time-limit cut-off as a real termination
  (no bootstrap from V(final obs));
- `detach_critic_target=False` lets gradients flow into the target r + gamma V(s'),
  so the critic also pulls V(s') towards V(s) (the residual-gradient mistake).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pgcourse.actor_critic import ActorCritic
from pgcourse.algos.common import ACHistory, Batch, TrainConfig, gradient_step, train, train_on_policy
from pgcourse.losses import a2c_loss
from pgcourse.util import nonnegative_float, positive_float, positive_int, unit_interval

__all__ = ["A2CConfig", "a2c_update", "train_a2c"]


@dataclass(repr=False)
class A2CConfig(TrainConfig):
    """Every setting of an A2C run (the defaults solve CartPole-v1; `python -m pgcourse bench a2c`)."""

    gamma: float = 0.993  # a long horizon: the greedy policy must not drift off the track in 500 steps
    num_envs: int = 32  # sub-envs stepped side by side (one batched forward per step)
    n_steps: int = 8  # steps per sub-env per update: batch = num_envs * n_steps
    total_steps: int = 400_000  # the budget of env steps (transitions); the worst of 32 seeds solves in about 270k
    gae_lambda: float = 0.95  # 0: one-step TD, 1: the return to the rollout's end, bootstrapped from V there
    lr: float = 3e-3
    critic_lr: float | None = None  # learning rate of the critic's own weights (None: lr)
    optimizer: str = "rmsprop"  # "rmsprop" (the A3C paper, Mnih et al. 2016, and OpenAI Baselines' A2C) or "adam"
    anneal_lr: bool = False  # decay every lr linearly to 0 over total_steps
    vf_coef: float = 0.5  # weight of the critic loss
    ent_coef: float = 0.0  # weight of the entropy bonus
    max_grad_norm: float | None = 0.5  # gradient clipping (None: off)
    normalize_adv: bool = False  # standardise adv over the batch
    shared: bool = False  # one trunk for actor and critic
    ortho_init: bool = True
    bootstrap_truncation: bool = True  # False: treat truncation as termination (the bug)
    detach_critic_target: bool = True  # False: gradients flow through the critic's target (the bug)

    def __post_init__(self):
        super().__post_init__()
        for name in ("num_envs", "n_steps", "total_steps"):
            positive_int(getattr(self, name), name)
        unit_interval(self.gae_lambda, "gae_lambda", "0 = one-step TD, 1 = Monte Carlo")
        positive_float(self.lr, "lr")
        for name in ("critic_lr", "max_grad_norm"):
            if getattr(self, name) is not None:
                positive_float(getattr(self, name), name)
        nonnegative_float(self.vf_coef, "vf_coef")
        nonnegative_float(self.ent_coef, "ent_coef")
        if self.optimizer not in ("adam", "rmsprop"):
            raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {self.optimizer!r}")


def a2c_update(agent: ActorCritic, opt: torch.optim.Optimizer, b: Batch, cfg: A2CConfig) -> dict:
    """A2C's update: ONE gradient step on the whole batch. Returns the logged metrics."""
    logp, entropy, val = agent.evaluate_actions(b.obs, b.act)  # log pi(act|obs), H(pi(.|obs)), V(obs)
    ret = b.ret
    if cfg.detach_critic_target:
        loss = a2c_loss(logp, entropy, val, ret, b.adv, cfg.vf_coef, cfg.ent_coef)  # lesson 4's graded loss
    else:  # the bug: a critic target that moves with the critic's parameters (a2c_loss would detach it)
        ret = _target_with_grad(agent, b, cfg)
        loss = -(logp * b.adv).mean() + cfg.vf_coef * ((val - ret) ** 2).mean() - cfg.ent_coef * entropy.mean()
    gradient_step(opt, loss, agent.parameters(), cfg.max_grad_norm)
    with torch.no_grad():
        return {"loss": loss.item(), "policy_loss": -(logp * b.adv).mean().item(),
                "value_loss": ((val - ret) ** 2).mean().item(), "entropy": entropy.mean().item()}


def train_a2c(config: A2CConfig | None = None, **overrides) -> ACHistory:
    """Train an `ActorCritic` with A2C; return the `ACHistory` (agent included).

    `train_a2c(A2CConfig(lr=3e-3))` or `train_a2c(lr=3e-3)`.
    """
    return train(A2CConfig, config, overrides, lambda cfg: train_on_policy(cfg, a2c_update, "A2C"))


def _target_with_grad(agent: ActorCritic, b: Batch, cfg: A2CConfig) -> torch.Tensor:
    """The un-detached critic target V(s) + GAE(r + gamma V(s') - V(s)), on the real transitions (B,):
    the same recursion as `pgcourse.advantages.gae`, in torch so that gradients reach V(s) and V(s')."""
    ro = b.rollout
    T, N = ro.shape
    val = agent.value(torch.from_numpy(ro.obs.reshape(T * N, -1))).reshape(T, N)
    next_val = agent.value(torch.from_numpy(ro.next_obs.reshape(T * N, -1))).reshape(T, N)
    terminal = torch.from_numpy(ro.terminated if cfg.bootstrap_truncation else ro.terminated | ro.truncated)
    not_done = 1.0 - (terminal | torch.from_numpy(ro.truncated)).float()
    delta = torch.from_numpy(ro.rew) + cfg.gamma * (1.0 - terminal.float()) * next_val - val
    adv, running = [], torch.zeros_like(delta[0])
    for t in range(T - 1, -1, -1):
        running = delta[t] + cfg.gamma * cfg.gae_lambda * not_done[t] * running
        adv.append(running)
    return (val + torch.stack(adv[::-1]))[torch.from_numpy(ro.mask)]
