"""The course's trainers against Stable-Baselines3 2.9 with RL-Zoo's tuned hyperparameters, side by side.

    pip install "stable-baselines3==2.9.2"          (not a course dependency; this script alone needs it)
    python benchmarks/sb3_side_by_side.py ppo --seeds 0-31
    python benchmarks/sb3_side_by_side.py a2c --seeds 0-15
    python benchmarks/sb3_side_by_side.py sac --seeds 0-7

Both sides stop by the same rule, the course's (`pgcourse.algos.common.reached_threshold`): the last
`window` training episodes average the threshold AND 20 fresh greedy episodes do too (CartPole-v1: 475
over 20 episodes; Pendulum-v1: -200 over 10). For each seed the course's run and SB3's run follow each
other in one process, one torch thread each, so they share the machine's state. Prints a JSON line per
seed and run, then one summary line per side: solved count, median / p90 / max env steps and seconds to
solve, and the ratios of the medians (course / SB3).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from pgcourse.rollouts import evaluate
from pgcourse.tools.bench import ALGOS, parse_seeds, run_benchmark

# RL-Zoo 2.9.2 (rl_zoo3/hyperparams/{ppo,a2c,sac}.yml)
ZOO = {
    "ppo": dict(n_envs=8, n_timesteps=100_000, kwargs=dict(n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98,
                                                           n_epochs=20, ent_coef=0.0, lr="lin_0.001", clip="lin_0.2")),
    "a2c": dict(n_envs=8, n_timesteps=500_000, kwargs=dict(ent_coef=0.0)),
    "sac": dict(n_envs=1, n_timesteps=20_000, kwargs=dict(learning_rate=1e-3)),
}


class _Greedy:
    """An SB3 model as a course policy: act(obs, deterministic) -> (act, logp); logp is not used here."""

    def __init__(self, model):
        self.model = model

    def act(self, obs, deterministic=False):
        a, _ = self.model.predict(obs, deterministic=deterministic)
        return a, np.zeros(len(a), np.float32)


def run_sb3(algo: str, seed: int) -> dict:
    from stable_baselines3 import A2C, PPO, SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    spec, zoo = ALGOS[algo], ZOO[algo]
    thr, window = spec.threshold, spec.window

    class StopRule(BaseCallback):
        def __init__(self):
            super().__init__()
            self.ep_ret, self.evals, self.last_eval_at, self.solved_at, self.t0 = [], 0, -10**9, None, time.perf_counter()

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.ep_ret.append(info["episode"]["r"])
            if len(self.ep_ret) < window or np.mean(self.ep_ret[-window:]) < thr:
                return True
            if len(self.ep_ret) - self.last_eval_at < max(1, window // 4):
                return True
            self.last_eval_at, self.evals = len(self.ep_ret), self.evals + 1
            mean = evaluate(_Greedy(self.model), spec.env_id, 20, seed=1_000_000 + 10_000 * seed + 20 * self.evals,
                            deterministic=True).mean()
            if mean >= thr:
                self.solved_at = (self.num_timesteps, time.perf_counter() - self.t0)
                return False
            return True

    def lin(v):
        return lambda progress: progress * v

    kw = dict(zoo["kwargs"])
    env = make_vec_env(spec.env_id, n_envs=zoo["n_envs"], seed=seed)
    if algo == "ppo":
        model = PPO("MlpPolicy", env, seed=seed, device="cpu", learning_rate=lin(1e-3), clip_range=lin(0.2),
                    **{k: v for k, v in kw.items() if k not in ("lr", "clip")})
    elif algo == "a2c":
        model = A2C("MlpPolicy", env, seed=seed, device="cpu", **kw)
    else:
        model = SAC("MlpPolicy", env, seed=seed, device="cpu", **kw)
    cb = StopRule()
    t0 = time.perf_counter()
    model.learn(total_timesteps=zoo["n_timesteps"], callback=cb)
    wall = time.perf_counter() - t0
    solved = cb.solved_at is not None
    return {"side": "sb3", "algo": algo, "seed": seed, "solved": solved,
            "env_steps_to_solve": cb.solved_at[0] if solved else None,
            "wall_s_to_solve": round(cb.solved_at[1], 2) if solved else None, "wall_s": round(wall, 2)}


def summary(rows: list[dict]) -> dict:
    solved = [r for r in rows if r["solved"]]

    def q(key):
        x = np.array([r[key] for r in solved], float)
        return {"median": float(np.median(x)), "p90": float(np.percentile(x, 90)), "max": float(x.max())} if len(x) else None

    return {"side": rows[0]["side"], "algo": rows[0]["algo"], "seeds": len(rows), "solved": len(solved),
            "env_steps_to_solve": q("env_steps_to_solve"), "wall_s_to_solve": q("wall_s_to_solve")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("algo", choices=sorted(ZOO))
    ap.add_argument("--seeds", nargs="+", default=["0-7"])
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ours, theirs = [], []
    for seed in parse_seeds(args.seeds):
        r = run_benchmark(args.algo, seed)
        ours.append({"side": "pgcourse", "algo": args.algo, "seed": seed, "solved": r["solved"],
                     "env_steps_to_solve": r["env_steps_to_solve"], "wall_s_to_solve": r["wall_s_to_solve"],
                     "wall_s": r["wall_s"]})
        print(json.dumps(ours[-1]), flush=True)
        theirs.append(run_sb3(args.algo, seed))
        print(json.dumps(theirs[-1]), flush=True)
    a, b = summary(ours), summary(theirs)
    print(json.dumps(a), flush=True)
    print(json.dumps(b), flush=True)
    if a["env_steps_to_solve"] and b["env_steps_to_solve"]:
        print(json.dumps({"ratio_median_env_steps": round(a["env_steps_to_solve"]["median"] / b["env_steps_to_solve"]["median"], 3),
                          "ratio_median_wall_s": round(a["wall_s_to_solve"]["median"] / b["wall_s_to_solve"]["median"], 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
