"""What every trainer shares (lessons 2-6): the config base, the history, the stop rule, the optimizer, and the
on-policy loop A2C and PPO both run (after Stable-Baselines3's `OnPolicyAlgorithm`: collection is
shared, the update is each algorithm's own).

- `TrainConfig`: the fields every run has (env, seed, gamma, network, stop rule, threads, progress bar).
  Each algorithm's config extends it (`PPOConfig` extends `A2CConfig`) and declares only what it adds
  or changes; `Config.changes()` lists exactly that.
- `train(cfg_cls, config, overrides, run)`: resolve the config (a config and/or keyword overrides),
  run with `cfg.num_threads` torch threads, restore the old count.
- `History`: per episode `ep_ret, ep_len, ep_end` (the env step it ended at), per update `env_steps,
  wall_s`, the stop rule's evaluations, and `solved, steps_to_solve, wall_to_solve`.
- The stop rule (`reached_threshold`): the last `stop_window` training episodes average `stop_return`
  AND `eval_episodes` fresh episodes (greedy, or sampled for REINFORCE) average it too. A lucky window
  alone does not stop a run; training goes on.
- `make_optimizer(agent, cfg)`: torch's Adam or RMSprop, lr for the actor, critic_lr for the critic.
- `train_on_policy(cfg, update, desc)`: act -> batch (GAE) -> `update(agent, opt, batch, cfg)` -> log -> stop.
"""

from __future__ import annotations

import dataclasses
import textwrap
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from pgcourse.actor_critic import ActorCritic, actor_critic_for_env
from pgcourse.advantages import gae
from pgcourse.rollouts import Rollout, RolloutCollector, evaluate, make_vec_env
from pgcourse.util import layer_sizes, nonnegative_float, positive_int, seed_everything, unit_interval

__all__ = ["TrainConfig", "train", "History", "ACHistory", "reached_threshold", "progress_bar", "finish_bar",
           "make_optimizer", "anneal_lr", "Batch", "make_batch", "gradient_step", "explained_variance",
           "train_on_policy"]

EVAL_SEED = 1_000_000  # the stop rule's evaluation episodes are seeded apart from training and from `bench`


# ----------------------------------------------------------------------------- configs
@dataclass(repr=False)
class TrainConfig:
    """The settings every trainer has. Subclasses add their own (and may change these defaults)."""

    env_id: str = "CartPole-v1"
    seed: int = 0
    gamma: float = 0.99
    hidden: tuple[int, ...] = (64, 64)
    stop_return: float | None = 475.0  # stop once the last `stop_window` training episodes average this ...
    stop_window: int = 20
    eval_episodes: int = 20  # ... and this many fresh evaluation episodes do too (the stop rule) ...
    eval_margin: float = 0.0  # ... by this much more (a margin for a sampling policy's evaluation noise)
    num_threads: int = 1  # torch threads; tiny networks are fastest on one
    progress: bool = True  # tqdm progress bar

    def __post_init__(self):
        self.hidden = layer_sizes(self.hidden)
        self.gamma = unit_interval(self.gamma, "gamma", "a discount factor such as 0.99")
        for name in ("stop_window", "eval_episodes", "num_threads"):
            positive_int(getattr(self, name), name)
        nonnegative_float(self.eval_margin, "eval_margin")

    @classmethod
    def changes(cls) -> dict[str, tuple[Any, Any]]:
        """{field: (parent's default, this config's default)} for every field this config adds (parent's
        default shown as '(new)') or whose default it changes: what this algorithm changes in its parent's."""
        parent = cls.__mro__[1]
        old = {f.name: _default(f) for f in dataclasses.fields(parent)} if dataclasses.is_dataclass(parent) else {}
        out = {}
        for f in dataclasses.fields(cls):
            new = _default(f)
            if f.name not in old:
                out[f.name] = ("(new)", new)
            elif old[f.name] != new:
                out[f.name] = (old[f.name], new)
        return out

    def __repr__(self) -> str:
        items = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self))
        lines = textwrap.wrap(items, width=100, break_long_words=False, break_on_hyphens=False,
                              subsequent_indent="    ")
        return f"{type(self).__name__}(\n    " + "\n".join(lines) + ")"


def _default(f: dataclasses.Field):
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def train(cfg_cls: type, config, overrides: dict, run: Callable):
    """`run(cfg)` with the resolved config (`config`, or `cfg_cls()`, then `overrides` applied) on
    `cfg.num_threads` torch threads; the previous thread count is restored afterwards."""
    cfg = config if config is not None else cfg_cls()
    if not isinstance(cfg, cfg_cls):
        raise ValueError(f"config must be a {cfg_cls.__name__}, got {type(cfg).__name__}")
    if overrides:
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cfg_cls)}
        if unknown:
            raise ValueError(f"{cfg_cls.__name__} has no field(s) {sorted(unknown)}")
        cfg = dataclasses.replace(cfg, **overrides)
    old = torch.get_num_threads()
    torch.set_num_threads(cfg.num_threads)
    try:
        return run(cfg)
    finally:
        torch.set_num_threads(old)


# ----------------------------------------------------------------------------- history and stop rule
@dataclass(repr=False)
class History:
    """What a run produced. `policy` has `act(obs, deterministic) -> (act, logp)`.

    Per episode, in the order they ended: ep_ret, ep_len, ep_end (env steps so far when it ended).
    Per update: env_steps (cumulative transitions used), wall_s (cumulative seconds).
    evals: (env_steps, mean return, episodes so far) of each evaluation the stop rule ran.
    solved: the stop rule was met, at steps_to_solve env steps and wall_to_solve seconds.
    """

    config: Any
    policy: Any
    deterministic_eval: bool = True  # how the stop rule and `evaluate` act: greedy, or sampling
    ep_ret: list = field(default_factory=list)
    ep_len: list = field(default_factory=list)
    ep_end: list = field(default_factory=list)
    env_steps: list = field(default_factory=list)
    wall_s: list = field(default_factory=list)
    evals: list = field(default_factory=list)
    env_steps_simulated: int = 0  # sub-env steps including discarded ones (NEXT_STEP resets, finished envs)
    solved: bool = False
    steps_to_solve: int | None = None
    wall_to_solve: float | None = None

    def mean_return(self, last: int | None = None) -> float:
        """Mean return of the last `last` training episodes (default: the config's stop_window)."""
        last = self.config.stop_window if last is None else positive_int(last, "last")
        return float(np.mean(self.ep_ret[-last:])) if self.ep_ret else float("nan")

    def evaluate(self, n_episodes: int = 20, deterministic: bool | None = None, seed: int = 10_000) -> np.ndarray:
        """Returns (n_episodes,) of fresh episodes on config.env_id (greedy unless this is a sampling policy)."""
        det = self.deterministic_eval if deterministic is None else deterministic
        return evaluate(self.policy, self.config.env_id, n_episodes, seed=seed, deterministic=det)

    def plot(self, window: int | None = None, threshold: float | None = None, x: str = "env_steps", **kwargs):
        """Learning curve of the training episodes against env steps (x="env_steps") or episodes."""
        from pgcourse.plots import plot_learning_curve

        window = self.config.stop_window if window is None else window
        if x == "env_steps":
            return plot_learning_curve(self.ep_ret, window=window, threshold=threshold,
                                       x=np.asarray(self.ep_end), xlabel="env steps", **kwargs)
        return plot_learning_curve(self.ep_ret, window=window, threshold=threshold, **kwargs)

    def __repr__(self) -> str:
        name = type(self.config).__name__.replace("Config", "")
        steps = self.env_steps[-1] if self.env_steps else 0
        state = f"solved at {self.steps_to_solve:,} env steps" if self.solved else "not solved"
        return (f"{type(self).__name__}({name}: {steps:,} env steps, {len(self.ep_ret)} episodes, "
                f"last-{self.config.stop_window} mean return {self.mean_return():.1f}, {state}, "
                f"{self.wall_s[-1] if self.wall_s else 0:.1f} s)")


def reached_threshold(hist: History, cfg: TrainConfig, env_steps: int, t0: float) -> bool:
    """The stop rule. True (and `hist.solved` set) when the last `stop_window` training episodes average
    `stop_return` and a fresh evaluation of `eval_episodes` episodes averages `stop_return + eval_margin`. After an evaluation falls
    short, the next one waits for a quarter of a window of new episodes (evaluations cost env steps too)."""
    if cfg.stop_return is None or len(hist.ep_ret) < cfg.stop_window or hist.mean_return() < cfg.stop_return:
        return False
    if hist.evals and len(hist.ep_ret) - hist.evals[-1][2] < max(1, cfg.stop_window // 4):
        return False
    seed = EVAL_SEED + 10_000 * cfg.seed + cfg.eval_episodes * len(hist.evals)
    mean = float(evaluate(hist.policy, cfg.env_id, cfg.eval_episodes, seed=seed,
                          deterministic=hist.deterministic_eval).mean())
    hist.evals.append((env_steps, mean, len(hist.ep_ret)))
    if mean < cfg.stop_return + cfg.eval_margin:
        return False
    hist.solved, hist.steps_to_solve, hist.wall_to_solve = True, env_steps, time.perf_counter() - t0
    return True


def progress_bar(cfg: TrainConfig, total: int, desc: str, unit: str = "step"):
    """A tqdm bar over `total` `unit`s (env steps, or updates), off when cfg.progress is False."""
    return tqdm(total=total, disable=not cfg.progress, desc=desc, leave=True, unit=f" {unit}",
                unit_scale=True)


def finish_bar(bar, hist: History) -> None:
    """Close the bar; a solved run ends as a complete bar saying where it was solved (not an unfinished,
    red one: red means error in Jupyter)."""
    if hist.solved and not bar.disable:
        bar.total = bar.n
        bar.set_postfix_str(f"solved at {hist.steps_to_solve:,} env steps", refresh=False)
    bar.close()


# ----------------------------------------------------------------------------- optimizer and steps
def make_optimizer(agent: ActorCritic, cfg) -> torch.optim.Optimizer:
    """torch's Adam (cfg.optimizer "adam") or RMSprop ("rmsprop", alpha 0.99, as in A3C), eps 1e-5, with two
    parameter groups: lr for the actor (and a shared trunk), critic_lr (None: lr) for the critic's own weights."""
    critic = list(agent.critic.parameters())
    rest = [p for p in agent.parameters() if all(p is not q for q in critic)]
    groups = [{"params": rest, "lr": cfg.lr},
              {"params": critic, "lr": cfg.lr if cfg.critic_lr is None else cfg.critic_lr}]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, eps=1e-5, foreach=True)
    return torch.optim.RMSprop(groups, alpha=0.99, eps=1e-5, foreach=True)


def anneal_lr(opt: torch.optim.Optimizer, base_lrs: list, env_steps: int, cfg) -> None:
    """If cfg.anneal_lr: every group's lr linearly from its base value to 0 over cfg.total_steps."""
    if cfg.anneal_lr:
        for g, base in zip(opt.param_groups, base_lrs):
            g["lr"] = base * (1.0 - env_steps / cfg.total_steps)


def gradient_step(opt: torch.optim.Optimizer, loss: torch.Tensor, params, max_grad_norm: float | None) -> None:
    """zero_grad, backward, clip the global norm of `params`' gradient to max_grad_norm (None: no clipping), step."""
    opt.zero_grad()
    loss.backward()
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    opt.step()


def explained_variance(val: np.ndarray, ret: np.ndarray) -> float:
    """1 - Var(ret - val) / Var(ret): 1 = the critic predicts the returns, 0 = no better than a constant."""
    var = np.var(ret)
    return float("nan") if var == 0 else float(1.0 - np.var(ret - val) / var)


# ----------------------------------------------------------------------------- the on-policy loop
@dataclass
class Batch:
    """A rollout's real transitions as torch tensors, what a loss needs: obs (B, obs_dim), act (B,),
    logp_old and val_old (B,) recorded while acting, adv and ret (B,) from GAE; and the rollout itself."""

    obs: torch.Tensor
    act: torch.Tensor
    logp_old: torch.Tensor
    val_old: torch.Tensor
    adv: torch.Tensor
    ret: torch.Tensor
    rollout: Rollout


def make_batch(ro: Rollout, cfg) -> Batch:
    """GAE advantage and critic target on the (T, N) rollout (bootstrap_truncation=False treats truncation
    as termination: lesson 4's bug), then its real transitions (B,); adv standardised if normalize_adv."""
    terminal = ro.terminated if cfg.bootstrap_truncation else ro.terminated | ro.truncated
    adv, ret = gae(ro.rew, ro.val, ro.next_val, terminal, ro.truncated, cfg.gamma, cfg.gae_lambda)
    m = ro.mask
    adv = torch.as_tensor(adv[m], dtype=torch.float32)
    if cfg.normalize_adv:  # advantage normalisation: mean 0, std 1 over the rollout
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    return Batch(obs=torch.from_numpy(ro.obs[m]), act=torch.from_numpy(ro.act[m]),
                 logp_old=torch.from_numpy(ro.logp[m]), val_old=torch.from_numpy(ro.val[m]),
                 adv=adv, ret=torch.as_tensor(ret[m], dtype=torch.float32), rollout=ro)


@dataclass(repr=False)
class ACHistory(History):
    """An actor-critic run (A2C, PPO): `History` plus the agent and, per update, loss, policy_loss,
    value_loss, entropy, explained_var (of the critic on the rollout's targets), lr; PPO also approx_kl,
    clip_frac and max_ratio: `losses.approx_kl`, `losses.clip_fraction` and the largest ratio
    pi / pi_old of the policy after the update against the one that collected the rollout, on all of
    the rollout's transitions."""

    agent: ActorCritic | None = None
    loss: list = field(default_factory=list)
    policy_loss: list = field(default_factory=list)
    value_loss: list = field(default_factory=list)
    entropy: list = field(default_factory=list)
    explained_var: list = field(default_factory=list)
    approx_kl: list = field(default_factory=list)
    clip_frac: list = field(default_factory=list)
    max_ratio: list = field(default_factory=list)
    lr: list = field(default_factory=list)


def train_on_policy(cfg, update: Callable[[ActorCritic, torch.optim.Optimizer, Batch, Any], dict],
                    desc: str) -> ACHistory:
    """The loop A2C and PPO share; `update(agent, opt, batch, cfg) -> {metric: float}` is the algorithm.

    Each iteration: anneal lr (optional) -> 1. collect n_steps on every sub-env -> 2. GAE batch ->
    3. the algorithm's update -> 4. log metrics and episodes -> stop rule.
    """
    t0 = time.perf_counter()
    seed_everything(cfg.seed)
    envs = make_vec_env(cfg.env_id, num_envs=cfg.num_envs)
    collector = RolloutCollector(envs, cfg.n_steps, seed=cfg.seed)
    agent = actor_critic_for_env(envs, hidden=cfg.hidden, shared=cfg.shared, ortho_init=cfg.ortho_init)
    opt = make_optimizer(agent, cfg)
    base_lrs = [g["lr"] for g in opt.param_groups]
    hist = ACHistory(config=cfg, policy=agent, agent=agent, deterministic_eval=True)
    bar = progress_bar(cfg, cfg.total_steps, desc)
    try:
        while collector.env_steps < cfg.total_steps:
            anneal_lr(opt, base_lrs, collector.env_steps, cfg)
            ro = collector.collect(agent)  # 1. act
            b = make_batch(ro, cfg)  # 2. advantage and critic target
            stats = update(agent, opt, b, cfg)  # 3. the algorithm
            for k, v in stats.items():  # 4. log
                getattr(hist, k).append(v)
            hist.lr.append(opt.param_groups[0]["lr"])
            hist.explained_var.append(explained_variance(ro.val[ro.mask], b.ret.numpy()))
            hist.ep_ret += ro.ep_ret.tolist()
            hist.ep_len += ro.ep_len.tolist()
            hist.ep_end += ro.ep_end.tolist()
            hist.env_steps.append(collector.env_steps)
            hist.env_steps_simulated = collector.env_steps_simulated
            hist.wall_s.append(time.perf_counter() - t0)
            bar.update(ro.n_transitions)
            if ro.ep_ret.size:
                bar.set_postfix(ret=f"{hist.mean_return():.0f}", refresh=False)
            if reached_threshold(hist, cfg, collector.env_steps, t0):
                break
    finally:
        finish_bar(bar, hist)
        collector.close()
    return hist
