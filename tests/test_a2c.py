"""pgcourse.algos.a2c (lesson 4): GAE targets on rollouts, the update, short and full runs, the two bug switches."""

import copy
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import pgcourse
from pgcourse.actor_critic import actor_critic_for_env
from pgcourse.advantages import gae
from pgcourse.algos.a2c import A2CConfig, a2c_update, train_a2c
from pgcourse.algos.common import ACHistory, make_batch, make_optimizer
from pgcourse.rollouts import RolloutCollector


@pytest.fixture(scope="module")
def rollout():
    pgcourse.seed_everything(0)
    envs = gym.make_vec("CartPole-v1", 4, vectorization_mode="vector_entry_point", max_episode_steps=12)
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


def _update(agent, ro, **kw):
    """a2c_update on a copy of `agent`: (the copy after one step, the returned metrics)."""
    cfg = A2CConfig(gamma=0.99, gae_lambda=0.95, **kw)
    agent = copy.deepcopy(agent)
    torch.manual_seed(0)
    stats = a2c_update(agent, make_optimizer(agent, cfg), make_batch(ro, cfg), cfg)
    return agent, stats


def test_a2c_update_is_one_step_on_the_a2c_loss(rollout):
    agent, ro = rollout
    cfg = A2CConfig(gamma=0.99, gae_lambda=0.95, ent_coef=0.01)
    b = make_batch(ro, cfg)
    with torch.no_grad():
        logp, ent, val = agent.evaluate_actions(b.obs, b.act)
        policy_loss = -(logp * b.adv).mean().item()
        value_loss = ((val - b.ret) ** 2).mean().item()
    after, stats = _update(agent, ro, ent_coef=0.01)
    assert set(stats) == {"loss", "policy_loss", "value_loss", "entropy"}
    assert stats["policy_loss"] == pytest.approx(policy_loss, rel=1e-5)
    assert stats["value_loss"] == pytest.approx(value_loss, rel=1e-5)
    assert stats["entropy"] == pytest.approx(ent.mean().item(), rel=1e-5)
    assert stats["loss"] == pytest.approx(policy_loss + 0.5 * value_loss - 0.01 * ent.mean().item(), rel=1e-5)
    assert all(not torch.equal(p, q) for p, q in zip(agent.parameters(), after.parameters()))  # everything moved


def test_critic_target_switch_changes_only_the_critic(rollout):
    """detach_critic_target=False: the same target values (GAE's), but with gradient, so the critic's update
    differs; the actor's does not (its loss term is the same; no clipping, whose global norm would couple them)."""
    agent, ro = rollout
    good, s_good = _update(agent, ro, max_grad_norm=None)
    bad, s_bad = _update(agent, ro, detach_critic_target=False, max_grad_norm=None)
    assert s_bad["value_loss"] == pytest.approx(s_good["value_loss"], rel=1e-4)  # the target's value is GAE's
    assert s_bad["policy_loss"] == pytest.approx(s_good["policy_loss"], rel=1e-6)
    for p, q in zip(good.actor.parameters(), bad.actor.parameters()):
        torch.testing.assert_close(p, q)
    assert any(not torch.allclose(p, q) for p, q in zip(good.critic.parameters(), bad.critic.parameters()))


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
    assert isinstance(h, ACHistory) and h.agent is h.policy and h.deterministic_eval
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
    assert not h.solved and h.evals == []
    fig = h.plot(threshold=475)
    xs = fig.axes[0].lines[0].get_xdata()
    np.testing.assert_array_equal(xs, h.ep_end)  # plotted against env steps
    ev = h.evaluate(n_episodes=3)
    assert ev.shape == (3,) and np.all(ev >= 1)
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize("seed", [0, 1])
def test_default_config_solves_cartpole_within_its_budget(seed):
    h = train_a2c(seed=seed, progress=False)  # measured: solved in 45k-90k of the 200k-step budget on seeds 0-2
    assert h.solved and h.steps_to_solve <= h.config.total_steps
    assert h.evals[-1][1] >= 475 and h.mean_return() >= 475
    assert h.env_steps[-1] == h.steps_to_solve  # the run stopped there


@pytest.mark.parametrize("kw", [{"bootstrap_truncation": False}, {"detach_critic_target": False},
                                {"shared": True, "normalize_adv": True, "ent_coef": 0.01},
                                {"optimizer": "adam", "anneal_lr": True, "critic_lr": 1e-2, "max_grad_norm": None}])
def test_switches_run(kw):
    h = train_a2c(seed=1, total_steps=2_000, stop_return=None, progress=False, **kw)
    assert len(h.loss) > 5 and np.all(np.isfinite(h.loss)) and np.all(np.isfinite(h.value_loss))
    assert all(getattr(h.config, k) == v for k, v in kw.items())
    if kw.get("anneal_lr"):
        assert h.lr[0] == h.config.lr and h.lr[-1] < h.lr[0] and np.all(np.diff(h.lr) < 0)


def test_seeded_runs_repeat():
    a = train_a2c(seed=3, total_steps=1_500, stop_return=None, progress=False)
    b = train_a2c(seed=3, total_steps=1_500, stop_return=None, progress=False)
    assert a.ep_ret == b.ep_ret and a.loss == b.loss


def test_config_validation():
    for kw in ({"num_envs": 0}, {"n_steps": 0}, {"gamma": -0.1}, {"gae_lambda": 1.5}, {"lr": 0},
               {"ent_coef": -1}, {"vf_coef": -1}, {"max_grad_norm": 0}, {"critic_lr": 0}, {"total_steps": 0},
               {"optimizer": "sgd"}):
        with pytest.raises(ValueError):
            A2CConfig(**kw)
    with pytest.raises(ValueError, match="A2CConfig"):
        train_a2c(config="fast")
    assert A2CConfig(hidden=[32]).hidden == (32,)
