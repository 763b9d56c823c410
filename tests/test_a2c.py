"""pgcourse.a2c: GAE targets on rollouts, short real runs, the two bug switches, the benchmark runners."""

import json
import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

import pgcourse
from pgcourse import bench
from pgcourse.a2c import A2CConfig, ACHistory, _gae_with_grad, _target_with_grad, explained_variance, train_a2c
from pgcourse.actor_critic import actor_critic_for_env
from pgcourse.advantages import gae
from pgcourse.rollouts import make_vec_env
from pgcourse.vec_rollouts import RolloutCollector


@pytest.fixture(scope="module")
def rollout():
    pgcourse.seed_everything(0)
    envs = make_vec_env("CartPole-v1", num_envs=4)
    agent = actor_critic_for_env(envs, hidden=(16,))
    ro = RolloutCollector(envs, n_steps=30, seed=0).collect(agent)
    return agent, ro


def test_gae_targets_on_a_rollout(rollout):
    _, ro = rollout
    adv, ret = gae(ro.rew, ro.val, ro.next_val, ro.terminated, ro.truncated, 0.99, 0.95)
    assert adv.shape == ret.shape == (30, 4)
    np.testing.assert_allclose(ret, adv + ro.val)
    # lam = 0: one-step TD targets rew + gamma V(s') (no bootstrap after termination)
    adv0, ret0 = gae(ro.rew, ro.val, ro.next_val, ro.terminated, ro.truncated, 0.99, 0.0)
    np.testing.assert_allclose(ret0, ro.rew + 0.99 * ~ro.terminated * ro.next_val, rtol=1e-6, atol=1e-6)
    # the selection the losses use: real transitions only, (B,)
    assert adv[ro.mask].shape == (ro.n_transitions,)


def test_target_with_grad_matches_gae_and_carries_gradient(rollout):
    agent, ro = rollout
    cfg = A2CConfig(gamma=0.99, gae_lambda=0.95)
    _, ret = gae(ro.rew, ro.val, ro.next_val, ro.terminated, ro.truncated, 0.99, 0.95)
    target = _target_with_grad(agent, ro, cfg)
    np.testing.assert_allclose(target.detach().numpy(), ret[ro.mask], rtol=1e-4, atol=1e-4)
    assert target.requires_grad  # the bug: the target moves with the critic
    # the torch GAE is the NumPy one
    t = lambda x: torch.as_tensor(x)  # noqa: E731
    adv_t = _gae_with_grad(t(ro.rew), t(ro.val), t(ro.next_val), t(ro.terminated), t(ro.truncated), 0.9, 0.5)
    adv_np, _ = gae(ro.rew, ro.val, ro.next_val, ro.terminated, ro.truncated, 0.9, 0.5)
    np.testing.assert_allclose(adv_t.numpy(), adv_np, rtol=1e-4, atol=1e-4)


def test_explained_variance():
    ret = np.array([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(ret, ret) == 1.0
    assert explained_variance(np.full(4, 2.5), ret) == pytest.approx(0.0)
    assert math.isnan(explained_variance(ret, np.ones(4)))


@pytest.fixture(scope="module")
def short_run():
    return train_a2c(A2CConfig(seed=0, total_steps=15_000, stop_return=None, progress=False))


def test_short_run_learns(short_run):
    h = short_run
    first, last = np.mean(h.ep_ret[:20]), np.mean(h.ep_ret[-20:])
    assert first < 35, first  # a near-uniform policy lasts ~22 steps
    assert last > 2 * first, (first, last)


def test_history(short_run):
    h = short_run
    assert isinstance(h, ACHistory)
    n = len(h.loss)
    for name in ("policy_loss", "value_loss", "entropy", "explained_var", "env_steps", "wall_s"):
        assert len(getattr(h, name)) == n, name
        assert np.all(np.isfinite(getattr(h, name))), name
    assert h.approx_kl == [] and h.clip_frac == []  # PPO only
    assert len(h.lr) == n and h.lr[0] == h.config.lr
    assert h.env_steps[-1] >= 15_000 > h.env_steps[-2]  # ran to the step budget
    assert len(h.ep_ret) == len(h.ep_len) == len(h.ep_end)
    assert np.all(np.diff(h.ep_end) >= 0) and h.ep_end[-1] <= h.env_steps[-1]
    np.testing.assert_array_equal(h.ep_ret, h.ep_len)
    assert h.entropy[-1] < h.entropy[0] == pytest.approx(math.log(2), abs=0.02)
    assert max(h.explained_var) > 0.1  # the critic has learnt something at some point
    assert h.wall_s == sorted(h.wall_s)
    fig = h.plot(threshold=475)
    xs = fig.axes[0].lines[0].get_xdata()
    np.testing.assert_array_equal(xs, h.ep_end)  # plotted against env steps
    ev = h.evaluate(n_episodes=3)
    assert ev.shape == (3,) and np.all(ev >= 1)


@pytest.mark.parametrize("kw", [{"bootstrap_truncation": False}, {"detach_critic_target": False},
                                {"shared": True, "normalize_adv": True, "ent_coef": 0.01}])
def test_switches_run(kw):
    h = train_a2c(seed=1, total_steps=2_000, stop_return=None, progress=False, **kw)
    assert len(h.loss) > 5 and np.all(np.isfinite(h.loss)) and np.all(np.isfinite(h.value_loss))
    assert all(getattr(h.config, k) == v for k, v in kw.items())


def test_truncation_switch_changes_targets_only_at_truncation():
    """bootstrap_truncation=False zeroes the bootstrap at truncated steps and changes nothing else there."""
    pgcourse.seed_everything(0)
    import gymnasium as gym

    envs = gym.make_vec("CartPole-v1", 3, vectorization_mode="vector_entry_point", max_episode_steps=10)
    agent = actor_critic_for_env(envs, hidden=(8,))
    ro = RolloutCollector(envs, 25, seed=0).collect(agent)
    from pgcourse.a2c import _batch

    good = _batch(ro, A2CConfig(gamma=0.99, gae_lambda=0.0)).adv.numpy()
    bad = _batch(ro, A2CConfig(gamma=0.99, gae_lambda=0.0, bootstrap_truncation=False)).adv.numpy()
    trunc = ro.truncated[ro.mask]  # (B,): the real transitions that ended in a time-limit cut
    assert trunc.sum() >= 3
    np.testing.assert_allclose(good[trunc] - bad[trunc], 0.99 * ro.next_val[ro.mask][trunc], rtol=1e-5)
    np.testing.assert_array_equal(good[~trunc], bad[~trunc])
    b = _batch(ro, A2CConfig(normalize_adv=True))  # standardised over the real transitions
    assert abs(b.adv.mean().item()) < 1e-5 and b.adv.std().item() == pytest.approx(1.0, abs=1e-4)
    assert b.obs.shape == (ro.n_transitions, 4) and b.logp_old.shape == b.ret.shape == (ro.n_transitions,)


def test_config_validation():
    for kw in ({"num_envs": 0}, {"n_steps": 0}, {"gamma": -0.1}, {"gae_lambda": 1.5}, {"lr": 0},
               {"ent_coef": -1}, {"vf_coef": -1}, {"max_grad_norm": 0}, {"total_steps": 0}, {"optimizer": "sgd"}):
        with pytest.raises(ValueError):
            A2CConfig(**kw)
    with pytest.raises(ValueError, match="A2CConfig"):
        train_a2c(config="fast")
    assert A2CConfig(hidden=[32]).hidden == (32,)


def test_bench_registers_a2c_and_ppo():
    assert {"a2c", "ppo"} <= set(bench.ALGOS)


def test_bench_json_line(capsys, monkeypatch):
    """A tiny threshold so it is met at once; the line has the REINFORCE keys plus the greedy evaluation."""
    assert bench.main(["ppo", "--seed", "0", "--threshold", "30"]) == 0
    rec = json.loads(capsys.readouterr().out.strip())
    for key in ("algo", "env", "seed", "threshold", "solved", "episodes_to_threshold", "env_steps_to_threshold",
                "env_steps_simulated", "updates", "wall_s", "ma20_at_threshold", "ma100_at_threshold",
                "final_mean_return", "eval_mean_return", "eval_min_return", "config"):
        assert key in rec, key
    assert rec["algo"] == "ppo" and rec["solved"] and rec["ma20_at_threshold"] >= 30
    assert rec["eval_deterministic"] and rec["threshold_window"] == 20
    assert rec["config"]["stop_return"] == 30
