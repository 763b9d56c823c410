"""Fragility guard: each lesson's asserted training run, with the lesson's own config, on other seeds.

On a student's machine every seed is effectively a new seed (another CPU or BLAS kernel re-rolls the
floating-point path), so a lesson's claim must hold for seeds it was not tuned on. The configs are read
from the lessons themselves (the `cfg = ...Config(...)` line), so the test cannot drift from them.
The full 32-seed picture is `python -m pgcourse bench ALGO --seeds 0-31` (README, Benchmark).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from pgcourse.algos.a2c import A2CConfig, train_a2c
from pgcourse.algos.ppo import PPOConfig, train_ppo
from pgcourse.algos.reinforce import ReinforceConfig, train_reinforce
from pgcourse.algos.sac import SACConfig, train_sac
from pgcourse.rollouts import evaluate

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"ReinforceConfig": ReinforceConfig, "A2CConfig": A2CConfig, "PPOConfig": PPOConfig, "SACConfig": SACConfig}


def lesson_config(notebook: str):
    """The config the lesson's asserted run uses: its `cfg = XConfig(...)` line, evaluated."""
    cells = json.loads((ROOT / "notebooks" / notebook).read_text())["cells"]
    for c in cells:
        m = re.search(r"^cfg = ((\w+Config)\(.*\))$", "".join(c["source"]), re.M)
        if c["cell_type"] == "code" and m:
            return eval(m.group(1), {}, CONFIGS)
    raise AssertionError(f"{notebook} has no `cfg = ...Config(...)` line")


@pytest.mark.parametrize("notebook, train, seeds, min_eval", [
    ("02_reinforce.ipynb", train_reinforce, [1, 2, 3], 450),
    ("04_actor_critic.ipynb", train_a2c, [1, 2, 3], 450),
    ("05_ppo.ipynb", train_ppo, [1, 2, 3], 450),
])
def test_lesson_run_solves_on_other_seeds(notebook, train, seeds, min_eval):
    cfg = lesson_config(notebook)
    for seed in seeds:
        hist = train(dataclasses.replace(cfg, seed=seed, progress=False))
        assert hist.solved, f"{notebook}'s run does not solve with seed {seed}: {hist}"
        budget = getattr(cfg, "total_steps", None)
        if budget is not None:
            assert hist.steps_to_solve <= 0.8 * budget, f"seed {seed} needed {hist.steps_to_solve} of {budget} steps"
        ev = evaluate(hist.policy, cfg.env_id, 20, seed=10_000, deterministic=hist.deterministic_eval)
        assert ev.mean() >= min_eval, f"seed {seed}: fresh evaluation mean {ev.mean():.1f}"


def test_sac_lesson_run_solves_on_another_seed():
    cfg = lesson_config("06_sac.ipynb")
    hist = train_sac(dataclasses.replace(cfg, seed=1, progress=False))
    assert hist.solved and hist.steps_to_solve <= 0.8 * cfg.total_steps, hist
    assert hist.evaluate(20).mean() >= -250
