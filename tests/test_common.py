"""pgcourse.algos.common: config resolution, what each config changes, the stop rule (a lucky training window
does not stop a run), the progress bar, the optimizer, the gradient step, the on-policy batch and loop."""

import dataclasses
import math
import time

import gymnasium as gym
import numpy as np
import pytest
import torch

from pgcourse.actor_critic import ActorCritic, actor_critic_for_env
from pgcourse.algos.a2c import A2CConfig
from pgcourse.algos.common import (ACHistory, Batch, History, TrainConfig, anneal_lr, explained_variance, finish_bar,
                                   gradient_step, make_batch, make_optimizer, progress_bar, reached_threshold, train,
                                   train_on_policy)
from pgcourse.algos.ppo import PPOConfig
from pgcourse.algos.reinforce import ReinforceConfig
from pgcourse.rollouts import RolloutCollector, make_vec_env
from pgcourse.util import seed_everything


# ----------------------------------------------------------------------------- configs
def test_train_resolves_the_config_and_restores_threads():
    seen = []
    before = torch.get_num_threads()
    run = lambda cfg: seen.append((cfg, torch.get_num_threads())) or "result"  # noqa: E731
    assert train(A2CConfig, None, {}, run) == "result"
    assert seen[-1][0] == A2CConfig() and seen[-1][1] == 1
    train(A2CConfig, A2CConfig(lr=1e-3), {"seed": 4, "num_threads": 2}, run)
    cfg, threads = seen[-1]
    assert (cfg.lr, cfg.seed, threads) == (1e-3, 4, 2)  # the config, then the overrides
    assert torch.get_num_threads() == before
    base = A2CConfig(lr=1e-3)
    train(A2CConfig, base, {"lr": 2e-3}, run)
    assert base.lr == 1e-3 and seen[-1][0].lr == 2e-3  # the given config is not modified
    train(A2CConfig, PPOConfig(), {}, run)  # a subclass is accepted
    assert isinstance(seen[-1][0], PPOConfig)


def test_train_refuses_unknown_overrides_and_other_configs():
    with pytest.raises(ValueError, match=r"A2CConfig has no field\(s\) \['n_epochs'\]"):
        train(A2CConfig, None, {"n_epochs": 4}, lambda cfg: None)
    with pytest.raises(ValueError, match="must be a PPOConfig"):
        train(PPOConfig, A2CConfig(), {}, lambda cfg: None)
    with pytest.raises(ValueError, match="gamma"):  # overrides are validated like the constructor's arguments
        train(A2CConfig, None, {"gamma": 2.0}, lambda cfg: None)
    def failing_run(cfg):
        raise RuntimeError("boom")

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="boom"):
        train(A2CConfig, None, {"num_threads": 2}, failing_run)
    assert torch.get_num_threads() == before  # restored after an error too


@pytest.mark.parametrize("kw, msg", [({"stop_window": 0}, "stop_window"), ({"eval_episodes": 0}, "eval_episodes"),
                                     ({"num_threads": 0}, "num_threads"), ({"gamma": -0.1}, "gamma"),
                                     ({"hidden": (0,)}, "hidden")])
def test_train_config_validation(kw, msg):
    with pytest.raises(ValueError, match=msg):
        TrainConfig(**kw)
    assert TrainConfig(hidden=[32]).hidden == (32,)


def test_ppo_config_changes_lists_exactly_what_ppo_adds_and_changes():
    changes = PPOConfig.changes()
    new = {k for k, (old, _) in changes.items() if old == "(new)"}
    assert new == {"n_epochs", "minibatch_size", "clip_eps", "vf_clip", "target_kl"}
    a2c, ppo = A2CConfig(), PPOConfig()
    for f in dataclasses.fields(A2CConfig):  # every inherited field is listed exactly when its default changed
        differs = getattr(a2c, f.name) != getattr(ppo, f.name)
        assert (f.name in changes) == differs, f.name
        if differs:
            assert changes[f.name] == (getattr(a2c, f.name), getattr(ppo, f.name))
    assert {"optimizer", "normalize_adv", "anneal_lr"} <= set(changes)  # the changes lesson 5 names
    assert issubclass(PPOConfig, A2CConfig) and issubclass(A2CConfig, TrainConfig)


def test_changes_of_the_other_configs():
    a2c = A2CConfig.changes()
    assert a2c.pop("gamma") == (0.99, 0.993)
    assert all(old == "(new)" for old, _ in a2c.values())
    assert set(a2c) == {f.name for f in dataclasses.fields(A2CConfig)} - {f.name for f in dataclasses.fields(TrainConfig)}
    rf = ReinforceConfig.changes()
    assert rf["eval_margin"] == (0.0, 15.0)
    assert rf["hidden"] == ((64, 64), (64,)) and rf["stop_return"] == (475.0, None) and rf["stop_window"] == (20, 100)
    assert rf["ent_coef"] == ("(new)", 0.0) and rf["critic_lr"] == ("(new)", 1e-2)
    assert TrainConfig.changes() == {f.name: ("(new)", f.default) for f in dataclasses.fields(TrainConfig)}


def test_config_repr_is_wrapped_and_complete():
    text = repr(PPOConfig(seed=3))
    lines = text.splitlines()
    assert lines[0] == "PPOConfig(" and text.endswith(")") and len(lines) > 3
    assert all(len(line) <= 110 for line in lines)
    for f in dataclasses.fields(PPOConfig):
        assert f"{f.name}=" in text, f.name
    assert "seed=3" in text and "optimizer='adam'" in text


# ----------------------------------------------------------------------------- the stop rule
class Controller:
    """A hand-written CartPole policy: push the way the pole is falling (a PD controller). Holds 500 steps."""

    def act(self, obs, deterministic=False):
        o = np.asarray(obs)
        a = (0.1 * o[:, 0] + 0.5 * o[:, 1] + 10 * o[:, 2] + 2 * o[:, 3] > 0).astype(np.int64)
        return a, np.zeros(len(a), np.float32)


class AlwaysRight:
    """A deliberately bad policy: always push right. The pole falls within about 10 steps."""

    def act(self, obs, deterministic=False):
        return np.ones(len(obs), np.int64), np.zeros(len(obs), np.float32)


def _history(policy, ep_ret, **cfg_kw):
    cfg = TrainConfig(stop_return=475.0, stop_window=20, eval_episodes=10, **cfg_kw)
    hist = History(config=cfg, policy=policy, deterministic_eval=True)
    hist.ep_ret += list(ep_ret)
    return hist, cfg


def test_a_lucky_training_window_does_not_stop_a_bad_policy():
    hist, cfg = _history(AlwaysRight(), [500.0] * 20)  # the training window says solved ...
    assert hist.mean_return() >= cfg.stop_return
    assert reached_threshold(hist, cfg, env_steps=10_000, t0=time.perf_counter()) is False  # ... the evaluation does not
    assert not hist.solved and hist.steps_to_solve is None and hist.wall_to_solve is None
    assert len(hist.evals) == 1
    steps, mean, n_episodes = hist.evals[0]
    assert steps == 10_000 and n_episodes == 20 and mean < 20  # always-right falls within ~10 steps


def test_a_good_policy_whose_window_reaches_the_threshold_stops():
    t0 = time.perf_counter()
    hist, cfg = _history(Controller(), [100.0] * 10 + [500.0] * 20)
    assert reached_threshold(hist, cfg, env_steps=12_345, t0=t0) is True
    assert hist.solved and hist.steps_to_solve == 12_345 and 0 <= hist.wall_to_solve < time.perf_counter() - t0 + 1e-9
    assert hist.evals == [(12_345, 500.0, 30)]


def test_the_window_is_checked_before_any_evaluation():
    # a good policy, but the training window is below the threshold or too short: no evaluation is run
    for ep_ret in ([400.0] * 30, [500.0] * 19):
        hist, cfg = _history(Controller(), ep_ret)
        assert reached_threshold(hist, cfg, 1_000, time.perf_counter()) is False
        assert hist.evals == [] and not hist.solved
    hist, cfg = _history(Controller(), [500.0] * 30)
    cfg.stop_return = None  # no stop rule: train for the whole budget
    assert reached_threshold(hist, cfg, 1_000, time.perf_counter()) is False and hist.evals == []


def test_after_a_failed_evaluation_the_next_waits_for_new_episodes():
    hist, cfg = _history(AlwaysRight(), [500.0] * 20)
    t0 = time.perf_counter()
    assert not reached_threshold(hist, cfg, 1_000, t0) and len(hist.evals) == 1
    hist.ep_ret += [500.0] * 4  # fewer than a quarter of the window (5) new episodes: no new evaluation
    assert not reached_threshold(hist, cfg, 1_100, t0) and len(hist.evals) == 1
    hist.ep_ret += [500.0]
    assert not reached_threshold(hist, cfg, 1_200, t0) and len(hist.evals) == 2
    hist.policy = Controller()  # the policy has improved: the next evaluation (5 episodes later) stops the run
    hist.ep_ret += [500.0] * 5
    assert reached_threshold(hist, cfg, 1_300, t0) and hist.steps_to_solve == 1_300 and len(hist.evals) == 3


def test_history_helpers():
    hist, _ = _history(Controller(), [10.0, 20.0, 30.0])
    assert hist.mean_return(2) == 25.0 and hist.mean_return() == 20.0  # default: the last stop_window (all 3)
    assert math.isnan(History(config=TrainConfig(), policy=None).mean_return())
    ev = hist.evaluate(n_episodes=3)
    assert ev.shape == (3,) and np.all(ev == 500)
    hist.ep_end, hist.env_steps, hist.wall_s = [10, 30, 60], [60], [0.5]
    fig = hist.plot()
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), [10, 30, 60])
    fig = hist.plot(x="episodes")
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), [1, 2, 3])
    assert "Train: 60 env steps, 3 episodes" in repr(hist) and "not solved" in repr(hist)
    import matplotlib.pyplot as plt

    plt.close("all")


# ----------------------------------------------------------------------------- progress bar
def test_finish_bar_completes_a_solved_run():
    cfg = TrainConfig(progress=True)
    bar = progress_bar(cfg, 1_000, "test")
    bar.update(400)
    hist = History(config=cfg, policy=None, solved=True, steps_to_solve=400)
    finish_bar(bar, hist)
    assert bar.total == bar.n == 400 and "solved at 400 env steps" in bar.postfix
    bar2 = progress_bar(cfg, 1_000, "test")
    bar2.update(400)
    finish_bar(bar2, History(config=cfg, policy=None))
    assert bar2.total == 1_000 and not bar2.postfix  # an unsolved run keeps its budget
    off = progress_bar(TrainConfig(progress=False), 10, "off")
    assert off.disable
    finish_bar(off, hist)


# ----------------------------------------------------------------------------- optimizer and gradient step
@pytest.mark.parametrize("shared", [False, True])
def test_make_optimizer_groups_and_learning_rates(shared):
    agent = ActorCritic(4, 2, hidden=(8, 8), shared=shared)
    opt = make_optimizer(agent, PPOConfig(lr=1e-3, critic_lr=5e-3))
    assert isinstance(opt, torch.optim.Adam) and len(opt.param_groups) == 2
    actor, critic = opt.param_groups
    assert (actor["lr"], critic["lr"], actor["eps"]) == (1e-3, 5e-3, 1e-5)
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    assert ids(critic["params"]) == ids(agent.critic.parameters())
    assert ids(actor["params"]) == ids(agent.actor.parameters()) | ids(agent.trunk.parameters())
    assert len(actor["params"]) + len(critic["params"]) == len(list(agent.parameters()))  # disjoint, complete
    rms = make_optimizer(agent, A2CConfig(lr=2e-3))  # critic_lr None: the actor's lr
    assert isinstance(rms, torch.optim.RMSprop)
    assert [g["lr"] for g in rms.param_groups] == [2e-3, 2e-3] and rms.param_groups[0]["alpha"] == 0.99


def test_anneal_lr():
    opt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": 1.0},
                           {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.5}])
    anneal_lr(opt, [1.0, 0.5], 250, A2CConfig(total_steps=1_000, anneal_lr=True))
    assert [g["lr"] for g in opt.param_groups] == [0.75, 0.375]
    anneal_lr(opt, [1.0, 0.5], 500, A2CConfig(total_steps=1_000, anneal_lr=False))  # off: unchanged
    assert [g["lr"] for g in opt.param_groups] == [0.75, 0.375]


def test_gradient_step_clips_the_global_norm():
    w = torch.zeros(3, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([{"params": [w]}, {"params": [b]}], lr=1.0)
    loss = lambda: (torch.tensor([3.0, 0.0, 0.0]) @ w) + 4.0 * b.sum()  # noqa: E731  gradient (3, 0, 0 | 4): norm 5
    gradient_step(opt, loss(), [w, b], max_grad_norm=1.0)
    grad_norm = torch.cat([w.grad, b.grad]).norm().item()
    assert grad_norm == pytest.approx(1.0, rel=1e-5)  # one global norm over both tensors (and both groups)
    torch.testing.assert_close(torch.cat([w, b]).detach(), -torch.tensor([0.6, 0.0, 0.0, 0.8]))
    gradient_step(opt, loss(), [w, b], max_grad_norm=None)  # no clipping; zero_grad first, so no accumulation
    torch.testing.assert_close(torch.cat([w.grad, b.grad]), torch.tensor([3.0, 0.0, 0.0, 4.0]))
    gradient_step(opt, loss(), [w, b], max_grad_norm=100.0)  # below the limit: untouched
    torch.testing.assert_close(torch.cat([w.grad, b.grad]), torch.tensor([3.0, 0.0, 0.0, 4.0]))
    gradient_step(opt, loss(), iter([w, b]), max_grad_norm=1.0)  # a generator, e.g. agent.parameters()
    assert torch.cat([w.grad, b.grad]).norm().item() == pytest.approx(1.0, rel=1e-5)


def test_explained_variance():
    ret = np.array([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(ret, ret) == 1.0
    assert explained_variance(np.full(4, 2.5), ret) == pytest.approx(0.0)
    assert explained_variance(-ret, ret) < 0
    assert math.isnan(explained_variance(ret, np.ones(4)))


# ----------------------------------------------------------------------------- the on-policy batch and loop
@pytest.fixture(scope="module")
def truncating_rollout():
    seed_everything(0)
    envs = gym.make_vec("CartPole-v1", 3, vectorization_mode="vector_entry_point", max_episode_steps=10)
    agent = actor_critic_for_env(envs, hidden=(8,))
    return RolloutCollector(envs, 25, seed=0).collect(agent)


def test_make_batch_keeps_the_real_transitions(truncating_rollout):
    ro = truncating_rollout
    b = make_batch(ro, A2CConfig())
    assert isinstance(b, Batch) and b.rollout is ro
    B = ro.n_transitions
    assert b.obs.shape == (B, 4) and b.act.shape == b.logp_old.shape == b.val_old.shape == b.adv.shape == (B,)
    assert b.ret.shape == (B,) and b.act.dtype == torch.int64 and b.adv.dtype == torch.float32
    np.testing.assert_array_equal(b.obs.numpy(), ro.obs[ro.mask])
    np.testing.assert_allclose(b.ret.numpy(), b.adv.numpy() + ro.val[ro.mask], rtol=1e-5, atol=1e-5)
    n = make_batch(ro, A2CConfig(normalize_adv=True))  # standardised over the real transitions
    assert abs(n.adv.mean().item()) < 1e-5 and n.adv.std().item() == pytest.approx(1.0, abs=1e-4)
    torch.testing.assert_close(n.ret, b.ret)  # the critic's target is not normalised


def test_truncation_switch_changes_targets_only_at_truncation(truncating_rollout):
    """bootstrap_truncation=False zeroes the bootstrap at truncated steps and changes nothing else there."""
    ro = truncating_rollout
    good = make_batch(ro, A2CConfig(gamma=0.99, gae_lambda=0.0)).adv.numpy()
    bad = make_batch(ro, A2CConfig(gamma=0.99, gae_lambda=0.0, bootstrap_truncation=False)).adv.numpy()
    trunc = ro.truncated[ro.mask]  # (B,): the real transitions that ended in a time-limit cut
    assert trunc.sum() >= 3
    np.testing.assert_allclose(good[trunc] - bad[trunc], 0.99 * ro.next_val[ro.mask][trunc], rtol=1e-5)
    np.testing.assert_array_equal(good[~trunc], bad[~trunc])


def test_train_on_policy_runs_the_given_update():
    """The loop is algorithm-agnostic: with an update that changes nothing, the agent stays as it was, and
    the loop still collects, logs and counts env steps up to the budget."""
    calls = []

    def frozen(agent, opt, batch, cfg):
        calls.append(len(batch.obs))
        return {"loss": 0.0, "entropy": 1.0}

    cfg = A2CConfig(seed=0, num_envs=4, n_steps=16, total_steps=500, stop_return=None, progress=False)
    hist = train_on_policy(cfg, frozen, "frozen")
    assert isinstance(hist, ACHistory) and hist.agent is hist.policy
    assert hist.loss == [0.0] * len(calls) and hist.entropy == [1.0] * len(calls)
    assert hist.env_steps[-1] >= 500 > hist.env_steps[-2]
    assert np.diff([0] + hist.env_steps).tolist() == calls  # each update saw the rollout's real transitions
    assert len(hist.explained_var) == len(hist.lr) == len(calls) and hist.policy_loss == []
    seed_everything(0)
    fresh = actor_critic_for_env(make_vec_env("CartPole-v1", 1), hidden=cfg.hidden)
    for p, q in zip(hist.agent.parameters(), fresh.parameters()):
        torch.testing.assert_close(p, q)  # the same initial weights (seeded), untouched by the frozen update
