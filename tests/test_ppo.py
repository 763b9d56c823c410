"""pgcourse.algos.ppo (lesson 5): what PPO changes from A2C, its update and diagnostics, short and full runs,
the no-clip ablation."""

import copy
import math

import numpy as np
import pytest
import torch

import pgcourse
from pgcourse.actor_critic import actor_critic_for_env
from pgcourse.algos.a2c import A2CConfig
from pgcourse.algos.common import ACHistory, make_batch, make_optimizer
from pgcourse.algos.ppo import PPOConfig, ppo_update, train_ppo
from pgcourse.losses import approx_kl, clip_fraction
from pgcourse.rollouts import RolloutCollector, make_vec_env


def test_ppo_config_is_a2c_config_with_ppo_defaults():
    cfg = PPOConfig()
    assert isinstance(cfg, A2CConfig)
    assert (cfg.n_epochs, cfg.minibatch_size, cfg.clip_eps, cfg.optimizer, cfg.normalize_adv) == (4, 64, 0.2, "adam", True)
    with pytest.raises(ValueError, match="detach_critic_target"):  # A2C's bug switch is refused
        PPOConfig(detach_critic_target=False)


@pytest.fixture(scope="module")
def batch():
    pgcourse.seed_everything(0)
    envs = make_vec_env("CartPole-v1", num_envs=8)
    agent = actor_critic_for_env(envs, hidden=(32,))
    ro = RolloutCollector(envs, n_steps=32, seed=0).collect(agent)
    return agent, ro


def test_ppo_update_metrics_are_measured_after_the_update_on_the_whole_batch(batch):
    agent0, ro = batch
    cfg = PPOConfig(n_epochs=3, minibatch_size=64)
    agent = copy.deepcopy(agent0)
    b = make_batch(ro, cfg)
    torch.manual_seed(0)
    stats = ppo_update(agent, make_optimizer(agent, cfg), b, cfg)
    assert set(stats) == {"loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_frac", "max_ratio"}
    with torch.no_grad():
        logp, ent, _ = agent.evaluate_actions(b.obs, b.act)
    assert stats["approx_kl"] == pytest.approx(approx_kl(logp, b.logp_old).item(), rel=1e-5)
    assert stats["clip_frac"] == pytest.approx(clip_fraction(logp, b.logp_old, 0.2).item())
    assert stats["max_ratio"] == pytest.approx(torch.exp(logp - b.logp_old).max().item(), rel=1e-5)
    assert stats["entropy"] == pytest.approx(ent.mean().item(), rel=1e-5)
    assert stats["approx_kl"] > 0 and 0 <= stats["clip_frac"] <= 1
    # before any update the new policy is the old one: zero KL, nothing clipped
    with torch.no_grad():
        logp0, _, _ = agent0.evaluate_actions(b.obs, b.act)
    assert approx_kl(logp0, b.logp_old).item() == pytest.approx(0.0, abs=1e-6)
    assert clip_fraction(logp0, b.logp_old).item() == 0.0


def test_more_epochs_move_the_policy_further(batch):
    agent0, ro = batch
    kls = []
    for n_epochs in (1, 8):
        cfg = PPOConfig(n_epochs=n_epochs, minibatch_size=256)
        agent = copy.deepcopy(agent0)
        torch.manual_seed(0)
        kls.append(ppo_update(agent, make_optimizer(agent, cfg), make_batch(ro, cfg), cfg)["approx_kl"])
    assert kls[1] > 3 * kls[0]


def test_target_kl_stops_the_epochs_early(batch):
    agent0, ro = batch
    cfg_full = PPOConfig(n_epochs=20, minibatch_size=64)
    cfg_stop = PPOConfig(n_epochs=20, minibatch_size=64, target_kl=1e-4)
    out = []
    for cfg in (cfg_full, cfg_stop):
        agent = copy.deepcopy(agent0)
        torch.manual_seed(0)
        out.append(ppo_update(agent, make_optimizer(agent, cfg), make_batch(ro, cfg), cfg)["approx_kl"])
    assert out[1] < out[0]


@pytest.fixture(scope="module")
def short_run():
    return train_ppo(PPOConfig(seed=0, total_steps=8_000, stop_return=None, progress=False))


def test_short_run_learns(short_run):
    h = short_run
    assert isinstance(h, ACHistory)
    first, last = np.mean(h.ep_ret[:20]), np.mean(h.ep_ret[-20:])
    # a near-uniform policy lasts ~22 steps
    assert first < 35, first
    assert last > 100, last


def test_history(short_run):
    h = short_run
    n = len(h.loss)
    assert n >= 5
    for name in ("policy_loss", "value_loss", "entropy", "explained_var", "approx_kl", "clip_frac",
                 "max_ratio", "lr", "env_steps", "wall_s"):
        assert len(getattr(h, name)) == n, name
        assert np.all(np.isfinite(getattr(h, name))), name
    assert len(h.ep_ret) == len(h.ep_len) == len(h.ep_end) > 0
    np.testing.assert_array_equal(h.ep_ret, h.ep_len)  # CartPole: reward 1 per step
    assert np.all(np.diff(h.env_steps) > 0) and h.env_steps[-1] >= 8_000
    assert h.env_steps_simulated >= h.env_steps[-1]
    assert np.all(np.asarray(h.approx_kl) >= 0)
    assert np.all((0 <= np.asarray(h.clip_frac)) & (np.asarray(h.clip_frac) <= 1))
    assert np.all(np.asarray(h.max_ratio) > 0)
    assert h.entropy[-1] < math.log(2)
    assert h.lr[0] == h.config.lr and np.all(np.diff(h.lr) < 0)  # anneal_lr is on by default: from lr down
    assert np.mean(h.ep_ret[-20:]) > 2 * np.mean(h.ep_ret[:20])  # the policy has learnt something
    assert not h.solved and h.steps_to_solve is None and h.evals == []
    assert "PPO" in repr(h)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_config_solves_cartpole_within_its_budget(seed):
    h = train_ppo(seed=seed, progress=False)  # measured: 17k-21k of the 60k-step budget on seeds 0-2
    assert h.solved and h.steps_to_solve <= h.config.total_steps
    assert h.evals[-1][1] >= 475 and h.mean_return() >= 475


def test_no_clip_ablation_moves_the_policy_further():
    kw = dict(seed=0, total_steps=3_000, stop_return=None, n_epochs=20, progress=False)
    clipped = train_ppo(**kw)
    unclipped = train_ppo(clip_eps=None, **kw)
    # without the clip, many epochs push the policy far from the one that collected the data
    assert np.mean(unclipped.approx_kl) > 3 * np.mean(clipped.approx_kl)
    assert np.mean(unclipped.clip_frac) > np.mean(clipped.clip_frac)


def test_value_clip_runs():
    h = train_ppo(seed=0, total_steps=1_000, stop_return=None, vf_clip=0.2, progress=False)
    assert np.all(np.isfinite(h.value_loss)) and h.config.vf_clip == 0.2


def test_seeded_runs_repeat():
    a = train_ppo(seed=3, total_steps=1_500, stop_return=None, progress=False)
    b = train_ppo(seed=3, total_steps=1_500, stop_return=None, progress=False)
    assert a.ep_ret == b.ep_ret and a.loss == b.loss


def test_config_validation():
    for kw in ({"n_epochs": 0}, {"minibatch_size": 0}, {"clip_eps": 0.0}, {"clip_eps": -1},
               {"gamma": 1.5}, {"gae_lambda": -0.1}, {"lr": 0}, {"num_envs": 0}, {"target_kl": 0}, {"vf_clip": -1.0}):
        with pytest.raises(ValueError):
            PPOConfig(**kw)
    with pytest.raises(ValueError, match="PPOConfig"):
        train_ppo(config=object())
    with pytest.raises(ValueError, match="PPOConfig"):
        train_ppo(config=A2CConfig())
