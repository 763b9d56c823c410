"""Benchmark: how fast does each algorithm solve CartPole-v1?

    python -m pgcourse.bench reinforce --seed 0
    python -m pgcourse.bench reinforce_baseline --seed 1
    python -m pgcourse.bench ppo --seed 0 1 2      (a line per seed, then a summary line)
    python -m pgcourse.bench sac --seed 0          (Pendulum-v1, threshold -200 over 10 episodes)
    python -m pgcourse.bench --list

Each run trains until the moving average of training returns over `window`
episodes reaches the threshold (475 on CartPole-v1), then plays 20 fresh evaluation
episodes, and prints ONE JSON line:

    algo, env, seed, threshold, solved, episodes_to_threshold,
    env_steps_to_threshold (env steps when the threshold was met),
    env_steps_simulated (sub-env steps including discarded ones), updates, wall_s
    (training wall time, env creation and stepping included, imports excluded),
    wall_s_to_threshold, ma20_at_threshold, ma100_at_threshold, final_mean_return
    (mean of the last 100 training episodes), eval_mean_return, eval_min_return,
    threshold_window, eval_deterministic, config.

REINFORCE (lessons 2-3): window 100, evaluation with the sampling policy.
A2C and PPO (lessons 4-5): window 20, greedy evaluation; they train on fixed-length
rollouts, their budget is the config's total_steps (max_episodes is not used).
SAC (lesson 6, Pendulum-v1): window 10, threshold -200, greedy evaluation.
A lesson adds its algorithm with `@register("name", window=..., deterministic_eval=...)`
on a function `run(seed, threshold, max_episodes) -> history` (with ep_ret, ep_len,
loss, policy, config; optionally ep_end, env_steps_simulated, wall_at_stop).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from typing import Callable

import numpy as np

__all__ = ["ALGOS", "CRITERIA", "THRESHOLDS", "register", "run_benchmark", "summarise", "main"]

# name -> (env_id, runner(seed, threshold, max_episodes) -> history with .ep_ret, .ep_len, .loss, .policy, .config)
ALGOS: dict[str, tuple[str, Callable]] = {}
# name -> (moving-average window of the threshold, greedy evaluation?)
CRITERIA: dict[str, tuple[int, bool]] = {}
# name -> the threshold used when none is given (CartPole-v1: 475)
THRESHOLDS: dict[str, float] = {}


def register(name: str, env_id: str = "CartPole-v1", window: int = 100, deterministic_eval: bool = False,
             threshold: float = 475.0):
    """Decorator: make `runner(seed, threshold, max_episodes)` available as `python -m pgcourse.bench NAME`."""

    def deco(fn: Callable) -> Callable:
        ALGOS[name] = (env_id, fn)
        CRITERIA[name] = (window, deterministic_eval)
        THRESHOLDS[name] = float(threshold)
        return fn

    return deco


@register("reinforce")
def _reinforce(seed: int, threshold: float, max_episodes: int):
    from pgcourse.reinforce import ReinforceConfig, train_reinforce

    cfg = ReinforceConfig(seed=seed, stop_return=threshold, stop_window=100,
                          max_episodes=max_episodes, max_updates=10_000, progress=False)
    return train_reinforce(cfg)


@register("reinforce_baseline")
def _reinforce_baseline(seed: int, threshold: float, max_episodes: int):
    from pgcourse.reinforce import ReinforceConfig, train_reinforce

    cfg = ReinforceConfig(seed=seed, baseline="value", stop_return=threshold, stop_window=100,
                          max_episodes=max_episodes, max_updates=10_000, progress=False)
    return train_reinforce(cfg)


@register("a2c", window=20, deterministic_eval=True)
def _a2c(seed: int, threshold: float, max_episodes: int):
    from pgcourse.a2c import A2CConfig, train_a2c

    return train_a2c(A2CConfig(seed=seed, stop_return=threshold, stop_window=20, progress=False))


@register("ppo", window=20, deterministic_eval=True)
def _ppo(seed: int, threshold: float, max_episodes: int):
    from pgcourse.ppo import PPOConfig, train_ppo

    return train_ppo(PPOConfig(seed=seed, stop_return=threshold, stop_window=20, progress=False))


@register("sac", env_id="Pendulum-v1", window=10, deterministic_eval=True, threshold=-200.0)
def _sac(seed: int, threshold: float, max_episodes: int):
    from pgcourse.sac import SACConfig, train_sac

    return train_sac(SACConfig(seed=seed, total_steps=20_000, stop_return=threshold, stop_window=10, progress=False))


def run_benchmark(algo: str, seed: int = 0, threshold: float | None = None, max_episodes: int = 20_000,
                  eval_episodes: int = 20) -> dict:
    """Train `algo` with `seed` until its moving average of training returns reaches `threshold` (None: the
    algorithm's registered default, 475 on CartPole-v1); return the result dict (keys in the module doc)."""
    if algo not in ALGOS:
        raise ValueError(f"unknown algo {algo!r}; choose one of {sorted(ALGOS)}")
    if threshold is None:
        threshold = THRESHOLDS.get(algo, 475.0)
    import torch

    from pgcourse.plots import moving_average
    from pgcourse.rollouts import evaluate

    # torch imports torch._dynamo lazily when the first optimizer is built (about 1 s): an import, not timed
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])

    env_id, runner = ALGOS[algo]
    window, deterministic = CRITERIA.get(algo, (100, False))
    t0 = time.perf_counter()
    hist = runner(seed, threshold, max_episodes)
    wall = time.perf_counter() - t0
    ep_ret = np.asarray(hist.ep_ret, dtype=np.float64)
    ma = moving_average(ep_ret, window)
    ma20, ma100 = moving_average(ep_ret, 20), moving_average(ep_ret, 100)
    hits = np.flatnonzero((np.arange(1, len(ep_ret) + 1) >= window) & (ma >= threshold))
    solved = len(hits) > 0
    k = hits[0] if solved else len(ep_ret) - 1  # index of the episode at which the threshold was met
    # env step at which episode k ended: from the history if it records it (vector envs: episodes
    # overlap), else the summed lengths of the episodes so far (whole-episode batches)
    ep_end = getattr(hist, "ep_end", None)
    steps = ep_end[k] if ep_end is not None and len(ep_end) else np.sum(hist.ep_len[: k + 1])
    wall_at = getattr(hist, "wall_at_stop", None)
    ev = evaluate(hist.policy, env_id, n_episodes=eval_episodes, seed=10_000 + seed, deterministic=deterministic)
    cfg = getattr(hist, "config", None)
    return {
        "algo": algo,
        "env": env_id,
        "seed": seed,
        "threshold": threshold,
        "solved": bool(solved),
        "episodes_to_threshold": int(k + 1) if solved else None,
        "env_steps_to_threshold": int(steps) if solved else None,
        "env_steps_simulated": int(getattr(hist, "env_steps_simulated", 0)),
        "updates": int(getattr(hist, "n_updates", len(hist.loss))),
        "wall_s": round(wall, 2),
        "wall_s_to_threshold": round(float(wall if wall_at is None else wall_at), 2) if solved else None,
        "ma20_at_threshold": round(float(ma20[k]), 1),
        "ma100_at_threshold": round(float(ma100[k]), 1),
        "final_mean_return": round(float(ep_ret[-100:].mean()), 1),
        "eval_mean_return": round(float(ev.mean()), 1),
        "eval_min_return": round(float(ev.min()), 1),
        "threshold_window": window,
        "eval_deterministic": deterministic,
        "config": asdict(cfg) if cfg is not None else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pgcourse.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("algo", nargs="?", help=f"one of: {', '.join(sorted(ALGOS))}")
    parser.add_argument("--seed", type=int, nargs="+", default=[0],
                        help="one or more seeds; with several, a last line summarises them")
    parser.add_argument("--threshold", type=float, default=None,
                        help="default: the algorithm's (475 on CartPole-v1, -200 on Pendulum-v1)")
    parser.add_argument("--max-episodes", type=int, default=20_000)
    parser.add_argument("--list", action="store_true", help="list the registered algorithms")
    args = parser.parse_args(argv)
    if args.list or args.algo is None:
        print("\n".join(sorted(ALGOS)))
        return 0 if args.list else 2
    if args.algo not in ALGOS:
        parser.error(f"unknown algo {args.algo!r}; choose one of {', '.join(sorted(ALGOS))}")
    rows = []
    for seed in args.seed:
        rows.append(run_benchmark(args.algo, seed, args.threshold, args.max_episodes))
        print(json.dumps(rows[-1]), flush=True)
    if len(rows) > 1:
        print(json.dumps(summarise(rows)), flush=True)
    return 0


def summarise(rows: list[dict]) -> dict:
    """One line for several seeds of one algorithm: how many solved, median and worst steps and wall time
    to the threshold (over the solved ones), and the lowest evaluation mean."""
    solved = [r for r in rows if r["solved"]]
    steps = [r["env_steps_to_threshold"] for r in solved]
    walls = [r["wall_s_to_threshold"] for r in solved]
    return {
        "algo": rows[0]["algo"],
        "summary_of_seeds": [r["seed"] for r in rows],
        "solved": len(solved),
        "median_env_steps_to_threshold": float(np.median(steps)) if solved else None,
        "max_env_steps_to_threshold": max(steps) if solved else None,
        "median_wall_s_to_threshold": round(float(np.median(walls)), 2) if solved else None,
        "max_wall_s_to_threshold": max(walls) if solved else None,
        "min_eval_mean_return": min(r["eval_mean_return"] for r in rows),
    }



if __name__ == "__main__":
    sys.exit(main())
