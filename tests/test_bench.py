"""The benchmark entry point lists every registered algorithm when run as a module."""

import subprocess
import sys


def test_bench_lists_all_algorithms():
    out = subprocess.run([sys.executable, "-m", "pgcourse.bench", "--list"], capture_output=True, text=True,
                         check=True).stdout.split()
    assert {"reinforce", "reinforce_baseline", "a2c", "ppo", "sac"} <= set(out)


def test_several_seeds_print_a_line_each_and_a_summary(capsys, monkeypatch):
    import json

    from pgcourse import bench
    from pgcourse.reinforce import train_reinforce

    def fake_runner(seed, threshold, max_episodes):  # a short real run: 8 episodes x 13 updates
        return train_reinforce(seed=seed, episodes_per_update=8, max_updates=13, progress=False)

    monkeypatch.setitem(bench.ALGOS, "fake", ("CartPole-v1", fake_runner))
    monkeypatch.setitem(bench.CRITERIA, "fake", (20, True))
    assert bench.main(["fake", "--seed", "0", "1", "--threshold", "15"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [r.get("seed") for r in lines[:2]] == [0, 1] and len(lines) == 3
    summary = lines[2]
    assert summary["summary_of_seeds"] == [0, 1] and summary["solved"] == sum(r["solved"] for r in lines[:2])
    solved = [r for r in lines[:2] if r["solved"]]
    assert solved, "a 15-step threshold over 20 episodes is met by CartPole's first policies"
    assert summary["max_env_steps_to_threshold"] == max(r["env_steps_to_threshold"] for r in solved)
    assert summary["min_eval_mean_return"] == min(r["eval_mean_return"] for r in lines[:2])
    assert all(r["threshold_window"] == 20 and r["eval_deterministic"] for r in lines[:2])
