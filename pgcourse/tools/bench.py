"""Benchmark: env steps and seconds each trainer needs to solve its task, over many seeds.

    python -m pgcourse bench ppo --seeds 0-31       (a JSON line per seed, then a summary line)
    python -m pgcourse bench reinforce --seeds 0 3 7
    python -m pgcourse bench rlhf --seeds 0-9      (lesson 7's whole pipeline, pgcourse.lm.bench)
    python -m pgcourse bench --list

A run trains with the algorithm's default config until its stop rule holds (`pgcourse.algos.common`):
the moving average of training returns over `window` episodes reaches the threshold AND a fresh
evaluation of 20 episodes does too; training goes on otherwise, up to the config's budget. Then 20
further fresh episodes are played (greedy, or sampled for REINFORCE) to see whether the policy holds.
Each seed prints ONE JSON line:

    algo, env, seed, threshold, solved, env_steps_to_solve, episodes_to_solve, wall_s_to_solve,
    wall_s (the whole run, env creation included, imports excluded), env_steps_simulated,
    stop_rule_evaluations (how many fresh evaluations the stop rule ran),
    eval_mean_return, eval_min_return, holds (eval_mean_return >= threshold), threshold_window,
    eval_deterministic, config.

With several seeds a last line summarises them: solved and holds counts, and the median, 90th
percentile and maximum of env steps and seconds to solve. It is a benchmark, not a test: run it on a
quiet machine (wall times on a shared 2-core machine vary by +-20 %).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Spec", "ALGOS", "run_benchmark", "summarise", "parse_seeds", "main"]


@dataclass(frozen=True)
class Spec:
    """One benchmarked algorithm: `run(seed, threshold) -> History` trains it with its default config."""

    env_id: str
    run: Callable
    threshold: float
    window: int
    deterministic_eval: bool


def _reinforce(seed: int, threshold: float, baseline: str = "none"):
    from pgcourse.algos.reinforce import train_reinforce

    return train_reinforce(seed=seed, baseline=baseline, stop_return=threshold, max_updates=2_000, progress=False)


def _a2c(seed: int, threshold: float):
    from pgcourse.algos.a2c import train_a2c

    return train_a2c(seed=seed, stop_return=threshold, progress=False)


def _ppo(seed: int, threshold: float):
    from pgcourse.algos.ppo import train_ppo

    return train_ppo(seed=seed, stop_return=threshold, progress=False)


def _sac(seed: int, threshold: float):
    from pgcourse.algos.sac import train_sac

    return train_sac(seed=seed, total_steps=20_000, stop_return=threshold, progress=False)


ALGOS: dict[str, Spec] = {
    "reinforce": Spec("CartPole-v1", _reinforce, 475.0, 100, False),
    "reinforce_baseline": Spec("CartPole-v1", lambda s, t: _reinforce(s, t, "value"), 475.0, 100, False),
    "a2c": Spec("CartPole-v1", _a2c, 475.0, 20, True),
    "ppo": Spec("CartPole-v1", _ppo, 475.0, 20, True),
    "sac": Spec("Pendulum-v1", _sac, -200.0, 10, True),
}


def run_benchmark(algo: str, seed: int = 0, threshold: float | None = None, eval_episodes: int = 20) -> dict:
    """Train `algo` with `seed` until its stop rule holds (threshold None: the algorithm's default);
    return the result dict (keys in the module doc)."""
    if algo not in ALGOS:
        raise ValueError(f"unknown algo {algo!r}; choose one of {sorted(ALGOS)}")
    spec = ALGOS[algo]
    threshold = spec.threshold if threshold is None else float(threshold)
    import torch

    from pgcourse.rollouts import evaluate

    # torch imports torch._dynamo lazily when the first optimizer is built (about 1 s): an import, not timed
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    t0 = time.perf_counter()
    hist = spec.run(seed, threshold)
    wall = time.perf_counter() - t0
    ev = evaluate(hist.policy, spec.env_id, n_episodes=eval_episodes, seed=10_000 + 100 * seed,
                  deterministic=spec.deterministic_eval)
    n_solve = next((n for steps, _, n in hist.evals if steps == hist.steps_to_solve), None) if hist.solved else None
    return {
        "algo": algo,
        "env": spec.env_id,
        "seed": seed,
        "threshold": threshold,
        "solved": hist.solved,
        "env_steps_to_solve": hist.steps_to_solve,
        "episodes_to_solve": n_solve,
        "wall_s_to_solve": round(hist.wall_to_solve, 2) if hist.solved else None,
        "wall_s": round(wall, 2),
        "env_steps_simulated": int(hist.env_steps_simulated),
        "stop_rule_evaluations": len(hist.evals),
        "eval_mean_return": round(float(ev.mean()), 1),
        "eval_min_return": round(float(ev.min()), 1),
        "holds": bool(ev.mean() >= threshold),
        "threshold_window": spec.window,
        "eval_deterministic": spec.deterministic_eval,
        "config": dataclasses.asdict(hist.config),
    }


def summarise(rows: list[dict]) -> dict:
    """One line for several seeds of one algorithm: solved and holds counts; median, 90th percentile and
    maximum env steps and seconds to solve (over the solved seeds); the lowest evaluation mean."""
    solved = [r for r in rows if r["solved"]]

    def stats(key):
        x = np.array([r[key] for r in solved], dtype=float)
        if not len(x):
            return {"median": None, "p90": None, "max": None}
        return {"median": round(float(np.median(x)), 2), "p90": round(float(np.percentile(x, 90)), 2),
                "max": round(float(x.max()), 2)}

    return {
        "algo": rows[0]["algo"],
        "seeds": len(rows),
        "summary_of_seeds": [r["seed"] for r in rows],
        "solved": len(solved),
        "holds": sum(r["holds"] for r in rows),
        "solved_and_holds": sum(r["holds"] and r["solved"] for r in rows),
        "env_steps_to_solve": stats("env_steps_to_solve"),
        "wall_s_to_solve": stats("wall_s_to_solve"),
        "min_eval_mean_return": min(r["eval_mean_return"] for r in rows),
        "unsolved_seeds": [r["seed"] for r in rows if not r["solved"]],
        "not_holding_seeds": [r["seed"] for r in rows if not r["holds"]],
    }


def parse_seeds(items: list[str]) -> list[int]:
    """["0-3", "7", "9,10"] -> [0, 1, 2, 3, 7, 9, 10]; ValueError for anything else."""
    seeds = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            lo, sep, hi = part.partition("-")
            try:
                rng = range(int(lo), int(hi) + 1) if sep else [int(lo)]
            except ValueError:
                raise ValueError(f"seeds are ints or ranges such as 0-31, got {part!r}") from None
            if sep and int(hi) < int(lo):
                raise ValueError(f"empty seed range {part!r}")
            seeds += list(rng)
    if not seeds:
        raise ValueError("give at least one seed")
    return seeds


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["rlhf"]:  # lesson 7's whole pipeline: its own benchmark, one JSON line per seed
        from pgcourse.lm import bench as rlhf_bench

        rest = argv[1:]
        if "--seeds" in rest or "--seed" in rest:
            flag = "--seeds" if "--seeds" in rest else "--seed"
            i = rest.index(flag)
            j = i + 1
            while j < len(rest) and not rest[j].startswith("--"):
                j += 1
            rest = rest[:i + 1] + [str(x) for x in parse_seeds(rest[i + 1:j])] + rest[j:]
        return rlhf_bench.main(rest)
    parser = argparse.ArgumentParser(prog="python -m pgcourse bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("algo", nargs="?", help=f"one of: {', '.join(sorted(ALGOS))}, or rlhf (lesson 7's pipeline)")
    parser.add_argument("--seeds", "--seed", nargs="+", default=["0"],
                        help="seeds: ints, lists and ranges (0-31); with several, a last line summarises them")
    parser.add_argument("--threshold", type=float, default=None,
                        help="default: the algorithm's (475 on CartPole-v1, -200 on Pendulum-v1)")
    parser.add_argument("--list", action="store_true", help="list the registered algorithms")
    args = parser.parse_args(argv)
    if args.list or args.algo is None:
        print("\n".join(sorted(ALGOS) + ["rlhf"]))
        return 0 if args.list else 2
    if args.algo not in ALGOS:
        parser.error(f"unknown algo {args.algo!r}; choose one of {', '.join(sorted(ALGOS))}")
    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as e:
        parser.error(str(e))
    rows = []
    for seed in seeds:
        rows.append(run_benchmark(args.algo, seed, args.threshold))
        print(json.dumps(rows[-1]), flush=True)
    if len(rows) > 1:
        print(json.dumps(summarise(rows)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
