"""Benchmark: how fast does each algorithm solve CartPole-v1?

    python -m pgcourse.bench reinforce --seed 0
    python -m pgcourse.bench reinforce_baseline --seed 1
    python -m pgcourse.bench --list

Each run trains until the 100-episode moving average of training returns
reaches the threshold (475 on CartPole-v1), then plays 20 fresh evaluation
episodes with the sampling policy, and prints ONE JSON line:

    algo, env, seed, threshold, solved, episodes_to_threshold,
    env_steps_to_threshold (steps of the training episodes),
    env_steps_simulated (sub-env steps including discarded ones), updates, wall_s
    (training wall time, env creation and stepping included, imports excluded),
    ma20_at_threshold, ma100_at_threshold, final_mean_return (mean of the last
    100 training episodes), eval_mean_return, eval_min_return, config.

Later lessons add their algorithm with `@register("a2c")` on a function
`run(seed, threshold, max_episodes) -> TrainHistory-like`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from typing import Callable

import numpy as np

__all__ = ["ALGOS", "register", "run_benchmark", "main"]

# name -> (env_id, runner(seed, threshold, max_episodes) -> history with .ep_ret, .ep_len, .loss, .policy, .config)
ALGOS: dict[str, tuple[str, Callable]] = {}


def register(name: str, env_id: str = "CartPole-v1"):
    """Decorator: make `runner(seed, threshold, max_episodes)` available as `python -m pgcourse.bench NAME`."""

    def deco(fn: Callable) -> Callable:
        ALGOS[name] = (env_id, fn)
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


def run_benchmark(algo: str, seed: int = 0, threshold: float = 475.0, max_episodes: int = 20_000,
                  eval_episodes: int = 20) -> dict:
    """Train `algo` with `seed` until the 100-episode moving average reaches `threshold`; return the result dict."""
    if algo not in ALGOS:
        raise ValueError(f"unknown algo {algo!r}; choose one of {sorted(ALGOS)}")
    from pgcourse.plots import moving_average
    from pgcourse.rollouts import evaluate

    env_id, runner = ALGOS[algo]
    t0 = time.perf_counter()
    hist = runner(seed, threshold, max_episodes)
    wall = time.perf_counter() - t0
    ep_ret = np.asarray(hist.ep_ret, dtype=np.float64)
    ma100 = moving_average(ep_ret, 100)
    ma20 = moving_average(ep_ret, 20)
    full = np.arange(1, len(ep_ret) + 1) >= 100
    hits = np.flatnonzero(full & (ma100 >= threshold))
    solved = len(hits) > 0
    k = hits[0] if solved else len(ep_ret) - 1  # index of the episode at which the threshold was met
    ev = evaluate(hist.policy, env_id, n_episodes=eval_episodes, seed=10_000 + seed)
    cfg = getattr(hist, "config", None)
    return {
        "algo": algo,
        "env": env_id,
        "seed": seed,
        "threshold": threshold,
        "solved": bool(solved),
        "episodes_to_threshold": int(k + 1) if solved else None,
        "env_steps_to_threshold": int(np.sum(hist.ep_len[: k + 1])) if solved else None,
        "env_steps_simulated": int(getattr(hist, "env_steps_simulated", 0)),
        "updates": len(hist.loss),
        "wall_s": round(wall, 2),
        "ma20_at_threshold": round(float(ma20[k]), 1),
        "ma100_at_threshold": round(float(ma100[k]), 1),
        "final_mean_return": round(float(ep_ret[-100:].mean()), 1),
        "eval_mean_return": round(float(ev.mean()), 1),
        "eval_min_return": round(float(ev.min()), 1),
        "config": asdict(cfg) if cfg is not None else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pgcourse.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("algo", nargs="?", help=f"one of: {', '.join(sorted(ALGOS))}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=475.0)
    parser.add_argument("--max-episodes", type=int, default=20_000)
    parser.add_argument("--list", action="store_true", help="list the registered algorithms")
    args = parser.parse_args(argv)
    if args.list or args.algo is None:
        print("\n".join(sorted(ALGOS)))
        return 0 if args.list else 2
    if args.algo not in ALGOS:
        parser.error(f"unknown algo {args.algo!r}; choose one of {', '.join(sorted(ALGOS))}")
    print(json.dumps(run_benchmark(args.algo, args.seed, args.threshold, args.max_episodes)), flush=True)
    return 0



# ----------------------------------------------------------------------------- lessons 4-5: A2C and PPO
# These train on fixed-length rollouts, not whole episodes. Their criterion: train until the mean
# return of the last 20 TRAINING episodes reaches the threshold (env steps and wall time reported
# at that point), then evaluate 20 DETERMINISTIC (greedy) episodes. `max_episodes` is not used:
# the run's budget is the config's total_steps.
_ROLLOUT_ALGOS = {"a2c", "ppo"}
_ROLLOUT_WINDOW = 20


@register("a2c")
def _a2c(seed: int, threshold: float, max_episodes: int):
    from pgcourse.a2c import A2CConfig, train_a2c

    return train_a2c(A2CConfig(seed=seed, stop_return=threshold, stop_window=_ROLLOUT_WINDOW, progress=False))


@register("ppo")
def _ppo(seed: int, threshold: float, max_episodes: int):
    from pgcourse.ppo import PPOConfig, train_ppo

    return train_ppo(PPOConfig(seed=seed, stop_return=threshold, stop_window=_ROLLOUT_WINDOW, progress=False))


_run_episode_benchmark = run_benchmark


def run_benchmark(algo: str, seed: int = 0, threshold: float = 475.0, max_episodes: int = 20_000,
                  eval_episodes: int = 20) -> dict:
    """Train `algo` with `seed` until it meets `threshold`; return the result dict.

    REINFORCE-style algorithms: 100-episode moving average, sampled evaluation (see the module doc).
    a2c, ppo: mean of the last 20 training episodes, deterministic (greedy) evaluation; the dict has
    the same keys plus threshold_window, eval_deterministic and wall_s_to_threshold.
    """
    if algo not in _ROLLOUT_ALGOS:
        return _run_episode_benchmark(algo, seed, threshold, max_episodes, eval_episodes)
    import torch

    import pgcourse.a2c  # noqa: F401  (imports are not timed)
    import pgcourse.ppo  # noqa: F401
    from pgcourse.plots import moving_average

    # torch imports torch._dynamo lazily when the first optimizer is built (about 1 s): an import, not timed
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])

    env_id, runner = ALGOS[algo]
    t0 = time.perf_counter()
    hist = runner(seed, threshold, max_episodes)
    wall = time.perf_counter() - t0
    ep_ret = np.asarray(hist.ep_ret, dtype=np.float64)
    ma20, ma100 = moving_average(ep_ret, _ROLLOUT_WINDOW), moving_average(ep_ret, 100)
    solved = bool(hist.stopped_at_return)
    k = len(ep_ret) - 1  # training stops at the episode that met the threshold
    ev = hist.evaluate(eval_episodes, deterministic=True, seed=10_000 + seed)
    return {
        "algo": algo,
        "env": env_id,
        "seed": seed,
        "threshold": threshold,
        "solved": solved,
        "episodes_to_threshold": int(k + 1) if solved else None,
        "env_steps_to_threshold": int(hist.steps_at_stop) if solved else None,
        "env_steps_simulated": int(hist.env_steps_simulated),
        "updates": len(hist.loss),
        "wall_s": round(wall, 2),
        "ma20_at_threshold": round(float(ma20[k]), 1),
        "ma100_at_threshold": round(float(ma100[k]), 1),
        "final_mean_return": round(float(ep_ret[-100:].mean()), 1),
        "eval_mean_return": round(float(ev.mean()), 1),
        "eval_min_return": round(float(ev.min()), 1),
        "config": asdict(hist.config),
        "threshold_window": _ROLLOUT_WINDOW,
        "eval_deterministic": True,
        "wall_s_to_threshold": round(float(hist.wall_at_stop), 2) if solved else None,
    }


if __name__ == "__main__":
    sys.exit(main())
