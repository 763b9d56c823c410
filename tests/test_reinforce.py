"""pgcourse.algos.reinforce (lessons 2-3): short real runs, the history, the config, the stop rule, fit_value."""

import numpy as np
import pytest
import torch

from pgcourse.algos.common import History
from pgcourse.algos.reinforce import ReinforceConfig, ReinforceHistory, fit_value, train_reinforce
from pgcourse.policies import ValueNet


@pytest.fixture(scope="module")
def short_runs():
    """8 updates of 16 episodes each, without and with the learned baseline (well under 1 s each)."""
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


@pytest.mark.parametrize("seed", [1, 2])
def test_improvement_holds_over_seeds(seed):
    h = train_reinforce(seed=seed, episodes_per_update=16, max_updates=8, progress=False)
    assert np.mean(h.ep_ret[-16:]) > 1.5 * np.mean(h.ep_ret[:16])


@pytest.mark.parametrize("baseline", ["none", "value"])
def test_history_lengths_and_values(short_runs, baseline):
    h = short_runs[baseline]
    assert isinstance(h, ReinforceHistory) and isinstance(h, History)
    assert len(h.loss) == len(h.entropy) == len(h.value_loss) == len(h.episodes) == len(h.env_steps) == len(h.wall_s) == 8
    assert len(h.ep_ret) == len(h.ep_len) == len(h.ep_end) == 8 * 16 == h.episodes[-1]
    assert h.env_steps[-1] == sum(h.ep_len) and h.env_steps_simulated >= h.env_steps[-1]
    assert h.ep_end[-1] == h.env_steps[-1] and np.all(np.diff(h.ep_end) > 0)
    np.testing.assert_array_equal(h.ep_ret, h.ep_len)  # CartPole: reward 1 per step
    assert np.all(np.isfinite(h.loss)) and np.all(np.isfinite(h.entropy))
    # entropy starts at log 2 (near-uniform policy) and falls as the policy learns
    assert h.entropy[0] == pytest.approx(np.log(2), abs=1e-3) and h.entropy[-1] < h.entropy[0]
    assert not h.solved and h.evals == []  # stop_return defaults to None: the whole budget is used
    assert h.deterministic_eval is False  # REINFORCE's policy is evaluated by sampling
    if baseline == "value":
        assert isinstance(h.value_net, ValueNet) and np.all(np.isfinite(h.value_loss))
    else:
        assert h.value_net is None and np.all(np.isnan(h.value_loss))
    assert "Reinforce" in repr(h) and "not solved" in repr(h)


def test_same_seed_same_run():
    cfg = ReinforceConfig(seed=5, episodes_per_update=8, max_updates=3, progress=False)
    a, b = train_reinforce(cfg), train_reinforce(cfg)
    assert a.ep_ret == b.ep_ret and a.loss == b.loss


def test_whole_episode_returns_switch():
    kw = dict(seed=0, episodes_per_update=8, max_updates=3, progress=False)
    rtg, whole = train_reinforce(**kw), train_reinforce(reward_to_go=False, **kw)
    assert rtg.ep_ret[:8] == whole.ep_ret[:8]  # the same first batch ...
    assert rtg.loss[0] != whole.loss[0]  # ... weighted differently


def test_stop_rule_needs_a_fresh_evaluation():
    # a trivially low threshold: the window and the (sampled) evaluation both reach it after the first update
    h = train_reinforce(seed=0, episodes_per_update=8, max_updates=50, stop_return=5.0, stop_window=8, progress=False)
    assert h.solved and len(h.loss) == 1 and h.steps_to_solve == h.env_steps[-1]
    assert len(h.evals) == 1 and h.evals[0][1] >= 5.0
    # unreachable in 3 updates: the run uses its budget
    h = train_reinforce(seed=0, episodes_per_update=8, max_updates=3, stop_return=400.0, stop_window=8, progress=False)
    assert not h.solved and len(h.loss) == 3 and h.steps_to_solve is None


def test_fit_value_reduces_the_regression_error():
    torch.manual_seed(0)
    net = ValueNet(2, hidden=(16,))
    obs = torch.randn(256, 2)
    ret = 3.0 * obs[:, 0] - obs[:, 1]
    before = ((net(obs) - ret) ** 2).mean().item()
    last = fit_value(net, torch.optim.Adam(net.parameters(), lr=1e-2), obs, ret, epochs=30, minibatch=64)
    after = ((net(obs) - ret) ** 2).mean().item()
    assert after < 0.2 * before and np.isfinite(last)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"baseline": "mean"}, "baseline"),
        ({"gamma": 1.5}, "gamma"),
        ({"episodes_per_update": 0}, "episodes_per_update"),
        ({"max_updates": 0}, "max_updates"),
        ({"ent_coef": -0.1}, "ent_coef"),
        ({"critic_lr": 0.0}, "critic_lr"),
        ({"lr": -1.0}, "lr"),
        ({"value_epochs": 0}, "value_epochs"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ReinforceConfig(**kwargs)


@pytest.mark.parametrize("old_name", ["entropy_coef", "value_lr", "max_episodes"])
def test_removed_names_are_refused(old_name):
    with pytest.raises(ValueError, match=old_name):
        train_reinforce(**{old_name: 1})


def test_train_rejects_non_config():
    with pytest.raises(ValueError, match="ReinforceConfig"):
        train_reinforce({"lr": 0.01})


def test_num_threads_restored():
    before = torch.get_num_threads()
    train_reinforce(seed=0, episodes_per_update=4, max_updates=1, num_threads=1, progress=False)
    assert torch.get_num_threads() == before
