"""pgcourse.tools.bench and `python -m pgcourse`: the registry, one JSON row per seed with the documented keys,
the summary line, seed parsing, and the command line."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import pgcourse.__main__ as cli
from pgcourse.algos.reinforce import train_reinforce
from pgcourse.tools import bench
from pgcourse.tools.bench import ALGOS, Spec, main, parse_seeds, run_benchmark, summarise

ROOT = Path(__file__).resolve().parents[1]


def _documented_row_keys() -> set[str]:
    """The keys the module docstring lists for a seed's JSON line."""
    doc = bench.__doc__
    block = doc.split("Each seed prints ONE JSON line:")[1].split("With several seeds")[0]
    block = re.sub(r"\([^)]*\)", "", block)  # drop the explanations in parentheses
    return {k.strip(" .\n") for k in block.split(",") if k.strip(" .\n")}


def _fake_runner(seed, threshold):  # a short real run (8 episodes x up to 13 updates) with the real stop rule
    return train_reinforce(seed=seed, episodes_per_update=8, max_updates=13, stop_return=threshold, stop_window=20,
                           eval_episodes=8, progress=False)


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setitem(ALGOS, "fake", Spec("CartPole-v1", _fake_runner, threshold=15.0, window=20,
                                            deterministic_eval=False))
    return "fake"


def test_registry():
    assert set(ALGOS) == {"reinforce", "reinforce_baseline", "a2c", "ppo", "sac"}
    for name, spec in ALGOS.items():
        assert isinstance(spec, Spec) and callable(spec.run), name
    assert {ALGOS[a].threshold for a in ("reinforce", "reinforce_baseline", "a2c", "ppo")} == {475.0}
    assert (ALGOS["sac"].env_id, ALGOS["sac"].threshold, ALGOS["sac"].window) == ("Pendulum-v1", -200.0, 10)
    assert not ALGOS["reinforce"].deterministic_eval and ALGOS["ppo"].deterministic_eval  # REINFORCE samples


def test_a_real_row_has_the_documented_keys():
    """PPO with a tiny threshold, met within a few updates: a real run through the stop rule."""
    row = run_benchmark("ppo", seed=0, threshold=30)
    documented = _documented_row_keys()
    assert len(documented) >= 15 and documented <= set(row), documented - set(row)
    assert row["algo"] == "ppo" and row["env"] == "CartPole-v1" and row["seed"] == 0 and row["threshold"] == 30.0
    assert row["solved"] and row["env_steps_to_solve"] <= row["env_steps_simulated"]
    assert row["episodes_to_solve"] >= 20 and row["wall_s_to_solve"] <= row["wall_s"]
    assert row["holds"] == (row["eval_mean_return"] >= 30) and row["eval_min_return"] <= row["eval_mean_return"]
    assert row["eval_deterministic"] and row["threshold_window"] == 20
    assert row["config"]["stop_return"] == 30 and row["config"]["n_epochs"] == 4
    json.dumps(row)  # one JSON line


def test_unsolved_row(fake):
    row = run_benchmark(fake, seed=0, threshold=10_000)  # unreachable: the budget runs out
    assert not row["solved"] and row["env_steps_to_solve"] is None and row["episodes_to_solve"] is None
    assert row["wall_s_to_solve"] is None and not row["holds"] and row["stop_rule_evaluations"] == 0
    assert row["threshold_window"] == 20 and row["eval_deterministic"] is False


def test_several_seeds_print_a_line_each_and_a_summary(capsys, fake):
    assert main([fake, "--seeds", "0-1"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [r.get("seed") for r in lines[:2]] == [0, 1] and len(lines) == 3
    rows, summary = lines[:2], lines[2]
    assert all(r["threshold"] == 15.0 for r in rows)  # the spec's default threshold
    solved = [r for r in rows if r["solved"]]
    assert solved, "a 15-step threshold over 20 episodes is met by CartPole's first policies"
    assert summary["summary_of_seeds"] == [0, 1] and summary["solved"] == len(solved)
    assert summary["env_steps_to_solve"]["max"] == max(r["env_steps_to_solve"] for r in solved)
    assert summary["min_eval_mean_return"] == min(r["eval_mean_return"] for r in rows)
    assert main([fake, "--seed", "3", "--threshold", "12"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and json.loads(out[0])["threshold"] == 12.0  # one seed: no summary line


def test_summarise_by_hand():
    def row(seed, solved, steps, wall, holds, ev):
        return {"algo": "x", "seed": seed, "solved": solved, "env_steps_to_solve": steps, "wall_s_to_solve": wall,
                "holds": holds, "eval_mean_return": ev}

    rows = [row(0, True, 100, 1.0, True, 480.0), row(1, True, 300, 3.0, False, 300.0),
            row(2, False, None, None, False, 20.0), row(3, True, 200, 2.0, True, 500.0)]
    s = summarise(rows)
    assert (s["seeds"], s["solved"], s["holds"], s["solved_and_holds"]) == (4, 3, 2, 2)
    assert s["env_steps_to_solve"] == {"median": 200.0, "p90": 280.0, "max": 300.0}
    assert s["wall_s_to_solve"]["median"] == 2.0
    assert s["unsolved_seeds"] == [2] and s["not_holding_seeds"] == [1, 2] and s["min_eval_mean_return"] == 20.0
    none = summarise([row(0, False, None, None, False, 9.0)])
    assert none["env_steps_to_solve"] == {"median": None, "p90": None, "max": None}


def test_parse_seeds():
    assert parse_seeds(["0-3", "7", "9,10"]) == [0, 1, 2, 3, 7, 9, 10]
    assert parse_seeds(["0-31"]) == list(range(32))
    assert parse_seeds(["5"]) == [5]
    for bad in (["a"], ["3-1"], [""], ["1-x"]):
        with pytest.raises(ValueError):
            parse_seeds(bad)


def test_command_line_errors(capsys):
    with pytest.raises(ValueError, match="unknown algo"):
        run_benchmark("nope")
    with pytest.raises(SystemExit):
        main(["nope"])
    with pytest.raises(SystemExit):
        main(["ppo", "--seeds", "x"])
    assert main([]) == 2 and "ppo" in capsys.readouterr().out  # no algorithm: the list, and an error status
    assert main(["--list"]) == 0 and set(capsys.readouterr().out.split()) == set(ALGOS) | {"rlhf"}


def test_python_m_pgcourse_bench_lists_all_algorithms():
    out = subprocess.run([sys.executable, "-m", "pgcourse", "bench", "--list"], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.split()
    assert set(out) == set(ALGOS) | {"rlhf"}


def test_pgcourse_command_dispatch(capsys):
    assert cli.main([]) == 2 and "bench" in capsys.readouterr().out
    assert cli.main(["--help"]) == 0 and "exercisegen" in capsys.readouterr().out
    assert cli.main(["nope"]) == 2 and "unknown command 'nope'" in capsys.readouterr().out
    assert cli.main(["bench", "--list"]) == 0 and "sac" in capsys.readouterr().out
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"pgcourse": "pgcourse.__main__:main"}  # the console script



def test_bench_rlhf_is_lesson_7s_pipeline(monkeypatch):
    from pgcourse.lm import bench as rlhf_bench

    seen = []
    monkeypatch.setattr(rlhf_bench, "main", lambda argv: seen.append(argv) or 0)
    assert main(["rlhf", "--seeds", "0-2", "5"]) == 0
    assert seen == [["--seeds", "0", "1", "2", "5"]]
