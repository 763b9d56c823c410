"""pgcourse.reinforce, pgcourse.plots and pgcourse.bench: short real runs, no timing."""

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from pgcourse import bench
from pgcourse.plots import moving_average, plot_learning_curve
from pgcourse.reinforce import ReinforceConfig, TrainHistory, train_reinforce


@pytest.fixture(scope="module")
def short_runs():
    """8 updates of 16 episodes each, without and with the learned baseline (about 1 s each)."""
    return {
        b: train_reinforce(ReinforceConfig(seed=0, episodes_per_update=16, max_updates=8, baseline=b, progress=False))
        for b in ("none", "value")
    }


@pytest.mark.parametrize("baseline", ["none", "value"])
def test_a_few_updates_improve_cartpole(short_runs, baseline):
    h = short_runs[baseline]
    first, last = np.mean(h.ep_ret[:16]), np.mean(h.ep_ret[-16:])
    # a near-uniform policy lasts ~20 steps; measured after 8 updates: 50-65 on seeds 0-2
    assert first < 35
    assert last > 40 and last > 1.8 * first, (first, last)


@pytest.mark.parametrize("baseline", ["none", "value"])
def test_history_lengths_and_values(short_runs, baseline):
    h = short_runs[baseline]
    assert isinstance(h, TrainHistory)
    assert len(h.loss) == len(h.entropy) == len(h.value_loss) == len(h.episodes) == len(h.env_steps) == len(h.wall_s) == 8
    assert len(h.ep_ret) == len(h.ep_len) == 8 * 16 == h.episodes[-1]
    assert h.env_steps[-1] == sum(h.ep_len) and h.env_steps_simulated >= h.env_steps[-1]
    np.testing.assert_array_equal(h.ep_ret, h.ep_len)  # CartPole: reward 1 per step
    assert np.all(np.isfinite(h.loss)) and np.all(np.isfinite(h.entropy))
    # entropy starts at log 2 (near-uniform policy) and falls as the policy learns
    assert h.entropy[0] == pytest.approx(np.log(2), abs=1e-3) and h.entropy[-1] < h.entropy[0]
    if baseline == "value":
        assert h.value_net is not None and np.all(np.isfinite(h.value_loss))
    else:
        assert h.value_net is None and np.all(np.isnan(h.value_loss))


def test_same_seed_same_run():
    cfg = ReinforceConfig(seed=5, episodes_per_update=8, max_updates=3, progress=False)
    a, b = train_reinforce(cfg), train_reinforce(cfg)
    assert a.ep_ret == b.ep_ret and a.loss == b.loss


def test_stop_return_and_overrides():
    h = train_reinforce(seed=0, episodes_per_update=8, max_updates=50, stop_return=1.0, stop_window=8, progress=False)
    assert h.stopped_at_return and len(h.loss) == 1
    h = train_reinforce(seed=0, episodes_per_update=8, max_updates=50, max_episodes=20, progress=False)
    assert len(h.ep_ret) == 24 and not h.stopped_at_return


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"baseline": "mean"}, "baseline"),
        ({"gamma": 1.5}, "gamma"),
        ({"episodes_per_update": 0}, "episodes_per_update"),
        ({"max_episodes": 0}, "max_episodes"),
        ({"entropy_coef": -0.1}, "entropy_coef"),
        ({"value_lr": 0.0}, "value_lr"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ReinforceConfig(**kwargs)


def test_train_rejects_non_config():
    with pytest.raises(ValueError, match="ReinforceConfig"):
        train_reinforce({"lr": 0.01})


def test_num_threads_restored():
    before = torch.get_num_threads()
    train_reinforce(seed=0, episodes_per_update=4, max_updates=1, num_threads=1, progress=False)
    assert torch.get_num_threads() == before


# ----------------------------------------------------------------------------- plots
def test_moving_average():
    np.testing.assert_allclose(moving_average([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(moving_average([5.0], 100), [5.0])
    with pytest.raises(ValueError, match="window"):
        moving_average([1, 2], 0)
    with pytest.raises(ValueError, match="1-D"):
        moving_average(np.zeros((2, 2)), 2)


def test_plot_learning_curve_data(short_runs):
    ret = short_runs["none"].ep_ret
    fig = plot_learning_curve(ret, window=20, threshold=475)
    ax = fig.axes[0]
    raw, smooth = ax.lines[0], ax.lines[1]
    np.testing.assert_allclose(raw.get_ydata(), ret)
    np.testing.assert_allclose(smooth.get_ydata(), moving_average(ret, 20))
    assert ax.lines[2].get_ydata()[0] == 475
    fig2 = plot_learning_curve({"a": [1, 2, 3], "b": [3, 2, 1]}, window=2)
    assert len(fig2.axes[0].lines) == 4
    with pytest.raises(ValueError, match="empty"):
        plot_learning_curve({})
    with pytest.raises(ValueError, match="non-empty"):
        plot_learning_curve([])
    import matplotlib.pyplot as plt

    plt.close("all")


# ----------------------------------------------------------------------------- bench
def test_bench_registry_and_json(capsys, monkeypatch):
    assert {"reinforce", "reinforce_baseline"} <= set(bench.ALGOS)

    def fake_runner(seed, threshold, max_episodes):  # a short real run, not a solved one
        return train_reinforce(seed=seed, episodes_per_update=8, max_updates=2, progress=False)

    monkeypatch.setitem(bench.ALGOS, "fake", ("CartPole-v1", fake_runner))
    assert bench.main(["fake", "--seed", "1", "--threshold", "10"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    row = json.loads(out[0])
    for key in ("algo", "env", "seed", "threshold", "episodes_to_threshold", "env_steps_to_threshold", "wall_s",
                "final_mean_return", "ma20_at_threshold", "ma100_at_threshold", "eval_mean_return"):
        assert key in row, key
    assert row["algo"] == "fake" and row["seed"] == 1
    # 16 episodes: the 100-episode moving average never exists, so not solved, whatever the returns
    assert row["solved"] is False and row["episodes_to_threshold"] is None
    assert row["final_mean_return"] == pytest.approx(row["ma100_at_threshold"])
    with pytest.raises(ValueError, match="unknown algo"):
        bench.run_benchmark("nope")
