"""A2C: advantage actor-critic on vectorised envs (lesson 4).

One update, the same skeleton as REINFORCE; what changed is the advantage:
    ro       = collector.collect(agent)                    # n_steps x num_envs steps, not whole episodes
    adv, ret = gae(rew, val, next_val, terminated, truncated, gamma, lam)    # bootstrapped from V
    loss     = -(logp * adv).mean()                         # policy gradient, as before
             + vf_coef * ((V(obs) - ret) ** 2).mean()      # critic regression on a FIXED target
             - ent_coef * entropy                          # entropy bonus
    one gradient step (norm clipped; RMSprop, as in the A2C paper, or Adam)

Two switches reproduce the lesson's bugs:
- `bootstrap_truncation=False` treats a time-limit cut-off as a real termination
  (no bootstrap from V(final obs));
- `detach_critic_target=False` lets gradients flow into the target r + gamma V(s'),
  so the critic also pulls V(s') towards V(s) (the residual-gradient mistake).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from pgcourse.actor_critic import ActorCritic, actor_critic_for_env
from pgcourse.advantages import gae
from pgcourse.optim import FlatOptimizer
from pgcourse.rollouts import make_vec_env
from pgcourse.seeding import seed_everything
from pgcourse.vec_rollouts import Rollout, RolloutCollector

__all__ = ["A2CConfig", "ACHistory", "train_a2c", "explained_variance", "make_optimizer"]


@dataclass
class A2CConfig:
    """Every setting of an A2C run. The defaults solve CartPole-v1 (last 20 episodes >= 475, then a greedy
    evaluation >= 475) in 24k-72k env steps, 0.6-1.8 s on 2 CPU cores (seeds 0-2; `python -m pgcourse.bench a2c`)."""

    env_id: str = "CartPole-v1"
    seed: int = 0
    num_envs: int = 32  # sub-envs stepped side by side (one batched forward per step)
    n_steps: int = 8  # steps per sub-env per update: batch = num_envs * n_steps
    total_steps: int = 200_000  # stop after this many env steps (transitions) ...
    stop_return: float | None = 475.0  # ... or once the last `stop_window` training episodes average this
    stop_window: int = 20
    gamma: float = 0.993  # a long horizon: the greedy policy must not drift off the track in 500 steps
    gae_lambda: float = 0.95  # 0: one-step TD, 1: Monte Carlo (bootstrapped at the rollout's end)
    lr: float = 3e-3
    critic_lr: float | None = None  # learning rate of the critic's own weights (None: lr)
    optimizer: str = "rmsprop"  # "rmsprop" (as in the A2C paper) or "adam"
    anneal_lr: bool = False  # decay lr linearly to 0 over total_steps
    vf_coef: float = 0.5  # weight of the critic loss
    ent_coef: float = 0.0  # entropy bonus
    max_grad_norm: float | None = 0.5  # gradient clipping (None: off)
    normalize_adv: bool = False  # standardise adv over the batch
    hidden: tuple[int, ...] = (64, 64)
    shared: bool = False  # one trunk for actor and critic
    ortho_init: bool = True
    bootstrap_truncation: bool = True  # False: treat truncation as termination (the bug)
    detach_critic_target: bool = True  # False: gradients flow through the critic's target (the bug)
    num_threads: int = 1  # torch threads; tiny networks are fastest on one
    progress: bool = True  # tqdm progress bar

    def __post_init__(self):
        _validate(self)


def _validate(cfg) -> None:
    cfg.hidden = tuple(cfg.hidden)
    for name in ("num_envs", "n_steps", "total_steps", "stop_window", "num_threads"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    for name in ("gamma", "gae_lambda"):
        v = getattr(cfg, name)
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {v}")
    if not cfg.lr > 0:
        raise ValueError(f"lr must be > 0, got {cfg.lr}")
    if cfg.critic_lr is not None and not cfg.critic_lr > 0:
        raise ValueError(f"critic_lr must be > 0 or None, got {cfg.critic_lr}")
    for name in ("vf_coef", "ent_coef"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(cfg, name)}")
    if cfg.max_grad_norm is not None and not cfg.max_grad_norm > 0:
        raise ValueError(f"max_grad_norm must be > 0 or None, got {cfg.max_grad_norm}")
    if getattr(cfg, "optimizer", "adam") not in ("adam", "rmsprop"):
        raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {cfg.optimizer!r}")


@dataclass
class ACHistory:
    """What an actor-critic run produced.

    Per episode (in the order they ended): ep_ret, ep_len, ep_end (env step at which it ended).
    Per update: env_steps (cumulative transitions), wall_s (cumulative seconds), loss,
    policy_loss, value_loss, entropy, explained_var (of the critic, on the rollout's targets), lr;
    PPO also approx_kl (approx-KL(pi_old || pi)) and clip_frac (fraction of samples with
    |ratio - 1| > clip_eps), both averaged over the last epoch's minibatches.
    steps_at_stop / wall_at_stop: env steps and seconds when the stop_return criterion was met (None if never).
    """

    config: object
    agent: ActorCritic
    ep_ret: list = field(default_factory=list)
    ep_len: list = field(default_factory=list)
    ep_end: list = field(default_factory=list)
    env_steps: list = field(default_factory=list)
    wall_s: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    policy_loss: list = field(default_factory=list)
    value_loss: list = field(default_factory=list)
    entropy: list = field(default_factory=list)
    explained_var: list = field(default_factory=list)
    approx_kl: list = field(default_factory=list)
    clip_frac: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    env_steps_simulated: int = 0  # sub-env steps including NEXT_STEP reset steps
    stopped_at_return: bool = False
    steps_at_stop: int | None = None
    wall_at_stop: float | None = None

    @property
    def policy(self):
        """The actor as a lesson-2 policy: act(obs, deterministic) -> (act, logp)."""
        return self.agent.as_policy()

    def mean_return(self, last: int = 20) -> float:
        """Mean return of the last `last` training episodes."""
        return float(np.mean(self.ep_ret[-last:])) if self.ep_ret else float("nan")

    def evaluate(self, n_episodes: int = 20, deterministic: bool = True, seed: int = 10_000) -> np.ndarray:
        """Returns (n_episodes,) of fresh episodes on config.env_id; greedy actions by default."""
        from pgcourse.rollouts import evaluate

        return evaluate(self.policy, self.config.env_id, n_episodes, seed=seed, deterministic=deterministic)

    def plot(self, window: int = 20, threshold: float | None = None, x: str = "env_steps", **kwargs):
        """Learning curve of the training episodes against env steps (x="env_steps") or episodes."""
        from pgcourse.plots import plot_learning_curve

        if x == "env_steps":
            return plot_learning_curve(self.ep_ret, window=window, threshold=threshold,
                                       x=np.asarray(self.ep_end), xlabel="env steps", **kwargs)
        return plot_learning_curve(self.ep_ret, window=window, threshold=threshold, **kwargs)

    def __repr__(self) -> str:
        name = type(self.config).__name__.replace("Config", "")
        return (
            f"ACHistory({name}: {len(self.loss)} updates, {self.env_steps[-1] if self.env_steps else 0} env steps, "
            f"{len(self.ep_ret)} episodes, last-20 mean return {self.mean_return(20):.1f}, "
            f"{self.wall_s[-1] if self.wall_s else 0:.1f} s)"
        )


def explained_variance(val: np.ndarray, ret: np.ndarray) -> float:
    """1 - Var(ret - val) / Var(ret): 1 = the critic predicts the returns, 0 = no better than a constant."""
    var = np.var(ret)
    return float("nan") if var == 0 else float(1.0 - np.var(ret - val) / var)


# ----------------------------------------------------------------------------- shared plumbing (A2C and PPO)
def _config(cls, config, overrides):
    cfg = config if config is not None else cls()
    if not isinstance(cfg, cls):
        raise ValueError(f"config must be a {cls.__name__}, got {type(cfg).__name__}")
    if overrides:
        cfg = cls(**{**asdict(cfg), **overrides})
    return cfg


def _with_threads(cfg, train):
    old = torch.get_num_threads()
    torch.set_num_threads(cfg.num_threads)
    try:
        return train(cfg)
    finally:
        torch.set_num_threads(old)


def make_optimizer(agent: ActorCritic, cfg) -> FlatOptimizer:
    """The optimizer a config asks for: cfg.optimizer ("adam" or "rmsprop"; PPO: always Adam) with eps 1e-5,
    lr for the actor (and a shared trunk), critic_lr (if set) for the critic's own weights.
    It is `pgcourse.optim.FlatOptimizer`: torch's Adam / RMSprop update on one flat buffer (fast at this size)."""
    critic = list(agent.critic.parameters())
    rest = [p for p in agent.parameters() if all(p is not q for q in critic)]
    groups = [{"params": rest, "lr": cfg.lr},
              {"params": critic, "lr": cfg.lr if cfg.critic_lr is None else cfg.critic_lr}]
    return FlatOptimizer(groups, kind=getattr(cfg, "optimizer", "adam"), alpha=0.99, eps=1e-5)


def _setup(cfg, desc: str):
    """Seeded envs, collector, agent, optimizer and the progress bar."""
    seed_everything(cfg.seed)
    envs = make_vec_env(cfg.env_id, num_envs=cfg.num_envs)
    collector = RolloutCollector(envs, cfg.n_steps, seed=cfg.seed)
    agent = actor_critic_for_env(envs, hidden=cfg.hidden, shared=cfg.shared, ortho_init=cfg.ortho_init)
    opt = make_optimizer(agent, cfg)
    bar = tqdm(total=cfg.total_steps, disable=not cfg.progress, desc=desc, leave=True)
    return collector, agent, opt, bar


def _anneal(opt: FlatOptimizer, base_lrs: list, env_steps: int, cfg) -> None:
    """Optional learning-rate annealing: linear from the base lr to 0 over total_steps."""
    if cfg.anneal_lr:
        for g, base in zip(opt.param_groups, base_lrs):
            g["lr"] = base * (1.0 - env_steps / cfg.total_steps)


@dataclass
class Batch:
    """A rollout's real transitions as torch tensors, what a loss needs: obs (B, obs_dim), act (B,),
    logp_old and val_old (B,) recorded while acting, adv and ret (B,) from GAE."""

    obs: torch.Tensor
    act: torch.Tensor
    logp_old: torch.Tensor
    val_old: torch.Tensor
    adv: torch.Tensor
    ret: torch.Tensor


def _batch(ro: Rollout, cfg) -> Batch:
    """GAE advantage and critic target on the (T, N) rollout (bootstrap_truncation=False treats truncation
    as termination: the bug), then its real transitions (B,); adv standardised over them if normalize_adv."""
    terminal = ro.terminated if cfg.bootstrap_truncation else ro.terminated | ro.truncated
    adv, ret = gae(ro.rew, ro.val, ro.next_val, terminal, ro.truncated, cfg.gamma, cfg.gae_lambda)
    m = ro.mask
    adv = torch.as_tensor(adv[m], dtype=torch.float32)
    if cfg.normalize_adv:  # advantage normalisation: mean 0, std 1 over the rollout
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    return Batch(obs=torch.from_numpy(ro.obs[m]), act=torch.from_numpy(ro.act[m]),
                 logp_old=torch.from_numpy(ro.logp[m]), val_old=torch.from_numpy(ro.val[m]),
                 adv=adv, ret=torch.as_tensor(ret[m], dtype=torch.float32))


def _log_rollout(hist: ACHistory, ro: Rollout, collector: RolloutCollector, bar, t0: float, cfg) -> bool:
    """Record episodes and step counts; return True once the stop criterion is met."""
    hist.ep_ret += ro.ep_ret.tolist()
    hist.ep_len += ro.ep_len.tolist()
    hist.ep_end += ro.ep_end.tolist()
    hist.env_steps.append(collector.env_steps)
    hist.env_steps_simulated = collector.env_steps_simulated
    hist.wall_s.append(time.perf_counter() - t0)
    ma = hist.mean_return(cfg.stop_window)
    bar.update(ro.n_transitions)
    if ro.ep_ret.size:
        bar.set_postfix(ret=f"{ma:.0f}", refresh=False)
    if cfg.stop_return is not None and len(hist.ep_ret) >= cfg.stop_window and ma >= cfg.stop_return:
        hist.stopped_at_return = True
        hist.steps_at_stop, hist.wall_at_stop = collector.env_steps, hist.wall_s[-1]
        return True
    return False


def _step(opt: FlatOptimizer, loss: torch.Tensor, max_grad_norm: float | None) -> None:
    """One gradient step on `loss`, with the gradient's global norm clipped to max_grad_norm."""
    opt.zero_grad()
    loss.backward()
    if max_grad_norm is not None:
        opt.clip_grad_norm_(max_grad_norm)
    opt.step()


def _gae_with_grad(rew, val, next_val, terminal, truncated, gamma: float, lam: float) -> torch.Tensor:
    """GAE on (T, N) torch tensors, differentiable in val and next_val (only for the detach=False bug)."""
    not_term = 1.0 - terminal.float()
    not_done = 1.0 - (terminal | truncated).float()
    delta = rew + gamma * not_term * next_val - val
    adv, running = [], torch.zeros_like(delta[0])
    for t in range(len(delta) - 1, -1, -1):
        running = delta[t] + gamma * lam * not_done[t] * running
        adv.append(running)
    return torch.stack(adv[::-1])


# ----------------------------------------------------------------------------- A2C
def train_a2c(config: A2CConfig | None = None, **overrides) -> ACHistory:
    """Train an `ActorCritic` with A2C; return the `ACHistory` (agent included).

    `train_a2c(A2CConfig(lr=3e-3))` or `train_a2c(lr=3e-3)`.
    """
    return _with_threads(_config(A2CConfig, config, overrides), _train_a2c)


def _train_a2c(cfg: A2CConfig) -> ACHistory:
    t0 = time.perf_counter()
    collector, agent, opt, bar = _setup(cfg, "A2C")
    base_lrs = [g["lr"] for g in opt.param_groups]
    hist = ACHistory(config=cfg, agent=agent)
    try:
        while collector.env_steps < cfg.total_steps:
            _anneal(opt, base_lrs, collector.env_steps, cfg)  # optional learning-rate annealing

            # 1. Act: n_steps on every sub-env with the current policy.
            ro = collector.collect(agent)

            # 2. Advantage and critic target from GAE, (T, N); then keep the real transitions (B,).
            b = _batch(ro, cfg)
            adv, ret = b.adv, b.ret

            # 3. Loss: policy gradient + critic regression - entropy bonus.
            logp, entropy, val = agent.evaluate_actions(b.obs, b.act)  # log pi(act|obs), H(pi(.|obs)), V(obs)
            entropy = entropy.mean()
            if not cfg.detach_critic_target:  # the bug: a target that moves with the critic's parameters
                ret = _target_with_grad(agent, ro, cfg)
            policy_loss = -(logp * adv).mean()
            value_loss = ((val - ret) ** 2).mean()  # ret is a constant: the target is detached
            loss = policy_loss + cfg.vf_coef * value_loss
            if cfg.ent_coef > 0:  # entropy bonus (left out of the graph when its weight is 0)
                loss = loss - cfg.ent_coef * entropy
            _step(opt, loss, cfg.max_grad_norm)  # one step, with gradient clipping

            # 4. Log.
            hist.loss.append(loss.item())
            hist.policy_loss.append(policy_loss.item())
            hist.value_loss.append(value_loss.item())
            hist.entropy.append(entropy.item())
            hist.explained_var.append(explained_variance(ro.val[ro.mask], ret.detach().numpy()))
            hist.lr.append(opt.param_groups[0]["lr"])
            if _log_rollout(hist, ro, collector, bar, t0, cfg):
                break
    finally:
        bar.close()
        collector.close()
    return hist


def _target_with_grad(agent: ActorCritic, ro: Rollout, cfg) -> torch.Tensor:
    """The un-detached critic target V(s) + GAE(r + gamma V(s') - V(s)), on the real transitions (B,)."""
    T, N = ro.shape
    val = agent.value(torch.from_numpy(ro.obs.reshape(T * N, -1))).reshape(T, N)
    next_val = agent.value(torch.from_numpy(ro.next_obs.reshape(T * N, -1))).reshape(T, N)
    terminal = ro.terminated if cfg.bootstrap_truncation else ro.terminated | ro.truncated
    adv = _gae_with_grad(torch.from_numpy(ro.rew), val, next_val, torch.from_numpy(terminal),
                         torch.from_numpy(ro.truncated), cfg.gamma, cfg.gae_lambda)
    return (val + adv)[torch.from_numpy(ro.mask)]
