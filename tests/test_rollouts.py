"""pgcourse.rollouts and pgcourse.policies: shapes, autoreset handling, terminated vs truncated."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import pgcourse
from pgcourse.policies import CategoricalPolicy, ValueNet, policy_for_env, value_net_for_env
from pgcourse.rollouts import EpisodeBatch, collect_episodes, evaluate, make_vec_env, run_episode


class AlwaysRight:
    """Pushes right every step: CartPole falls over after ~10 steps (terminated)."""

    def act(self, obs):
        n = len(obs)
        return np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.float32)


def _check_structure(b: EpisodeBatch, obs_dim=4):
    T, E = b.n_steps, b.n_episodes
    assert b.obs.shape == (T, obs_dim) and b.obs.dtype == np.float32
    for name in ("act", "rew", "terminated", "truncated", "logp"):
        assert getattr(b, name).shape == (T,), name
    assert b.act.dtype == np.int64 and b.terminated.dtype == bool and b.truncated.dtype == bool
    assert b.ep_len.sum() == T and b.ep_ret.shape == (E,)
    # exactly one done per episode, at its last step
    ends = np.cumsum(b.ep_len) - 1
    assert np.array_equal(np.flatnonzero(b.done), ends)
    assert not np.any(b.terminated & b.truncated)
    # every episode starts from a CartPole reset state (uniform in +-0.05)
    starts = np.concatenate(([0], ends[:-1] + 1))
    assert np.all(np.abs(b.obs[starts]) <= 0.05)


def test_collect_episodes_shapes_and_no_reset_steps():
    pgcourse.seed_everything(0)
    envs = make_vec_env("CartPole-v1", num_envs=4)
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    policy = policy_for_env(envs, hidden=(16,))
    b = collect_episodes(envs, policy, n_episodes=10, seed=0)  # 10 is not a multiple of 4: quotas 3,3,2,2
    _check_structure(b)
    assert b.n_episodes == 10
    # NEXT_STEP reset steps give rew 0; none may be recorded
    assert np.all(b.rew == 1.0)
    np.testing.assert_array_equal(b.ep_ret, b.ep_len)
    assert b.env_steps >= b.n_steps
    # a random policy falls over: terminated, not truncated
    assert b.terminated.sum() == 10 and b.truncated.sum() == 0
    # within an episode, consecutive obs follow the dynamics (no reset obs in between)
    first_ep = b.obs[: b.ep_len[0]]
    assert np.all(np.abs(np.diff(first_ep[:, 0])) < 0.05)
    # logp is log pi(act|obs) under the acting policy
    with torch.no_grad():
        logp = policy.dist(torch.as_tensor(b.obs)).log_prob(torch.as_tensor(b.act)).numpy()
    np.testing.assert_allclose(b.logp, logp, atol=1e-5)
    envs.close()


def test_truncation_recorded():
    envs = gym.make_vec("CartPole-v1", num_envs=3, vectorization_mode="vector_entry_point", max_episode_steps=5)
    b = collect_episodes(envs, CategoricalPolicy(4, 2), n_episodes=6, seed=1)
    _check_structure(b)
    # a near-uniform policy survives 5 steps: every episode is cut off by the time limit
    assert np.all(b.ep_len == 5)
    assert b.truncated.sum() == 6 and b.terminated.sum() == 0
    assert np.all(b.truncated[np.cumsum(b.ep_len) - 1])


def test_terminated_recorded_and_same_step_mode():
    vk = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
    envs = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync", vector_kwargs=vk)
    b = collect_episodes(envs, AlwaysRight(), n_episodes=4, seed=0)
    _check_structure(b)
    assert np.all(b.terminated[np.cumsum(b.ep_len) - 1]) and not b.truncated.any()
    assert np.all(b.ep_len < 20) and np.all(b.rew == 1.0)
    # pushing the cart right tips the pole left: by the last recorded obs its angle is well negative
    assert np.all(b.obs[np.cumsum(b.ep_len) - 1, 2] < -0.1)


def test_seeded_batches_repeat():
    def run():
        pgcourse.seed_everything(3)
        envs = make_vec_env("CartPole-v1", num_envs=4)
        policy = policy_for_env(envs)
        return collect_episodes(envs, policy, 8, seed=3)

    a, b = run(), run()
    np.testing.assert_array_equal(a.obs, b.obs)
    np.testing.assert_array_equal(a.act, b.act)


def test_run_episode_single_env():
    env = gym.make("CartPole-v1")
    b = run_episode(env, CategoricalPolicy(4, 2), seed=0)
    _check_structure(b)
    assert b.n_episodes == 1 and b.terminated[-1]


def test_evaluate_returns_one_per_episode():
    ret = evaluate(CategoricalPolicy(4, 2), "CartPole-v1", n_episodes=5, seed=0)
    assert ret.shape == (5,) and np.all(ret >= 1) and np.all(ret <= 500)


def test_policy_shapes_and_dist():
    policy = CategoricalPolicy(4, 3, hidden=(8, 8))
    obs = torch.zeros(5, 4)
    assert policy(obs).shape == (5, 3)
    d = policy.dist(obs)
    assert d.probs.shape == (5, 3)
    np.testing.assert_allclose(d.probs.detach().numpy(), 1 / 3, atol=0.02)  # near-uniform start
    act, logp = policy.act(np.zeros((5, 4), dtype=np.float32))
    assert act.shape == (5,) and logp.shape == (5,) and act.dtype == np.int64
    a1, lp1 = policy.act(np.zeros(4))
    assert a1.shape == () and lp1.shape == ()
    assert ValueNet(4)(obs).shape == (5,)


def test_policy_act_samples_the_distribution():
    torch.manual_seed(0)
    policy = CategoricalPolicy(1, 3, hidden=(4,))
    with torch.no_grad():
        policy.net[-1].bias.copy_(torch.log(torch.tensor([0.2, 0.3, 0.5])))
    act, _ = policy.act(np.zeros((20_000, 1), dtype=np.float32))
    np.testing.assert_allclose(np.bincount(act, minlength=3) / 20_000, [0.2, 0.3, 0.5], atol=0.015)
    greedy, _ = policy.act(np.zeros((3, 1), dtype=np.float32), deterministic=True)
    assert np.all(greedy == 2)


def test_bad_input():
    envs = make_vec_env("CartPole-v1", num_envs=2)
    policy = policy_for_env(envs)
    with pytest.raises(ValueError, match="n_episodes"):
        collect_episodes(envs, policy, 0)
    with pytest.raises(ValueError, match="act"):
        collect_episodes(envs, object(), 2)
    with pytest.raises(ValueError, match="vector env"):
        collect_episodes(gym.make("CartPole-v1"), policy, 2)
    with pytest.raises(ValueError, match="single gym.Env"):
        run_episode(envs, policy)
    disabled = gym.make_vec("CartPole-v1", 2, vectorization_mode="sync",
                            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.DISABLED})
    with pytest.raises(ValueError, match="autoreset"):
        collect_episodes(disabled, policy, 2)
    with pytest.raises(ValueError, match="unknown environment"):
        make_vec_env("NoSuchEnv-v0", 2)
    with pytest.raises(ValueError, match="num_envs"):
        make_vec_env("CartPole-v1", 0)
    with pytest.raises(ValueError, match="Discrete"):
        policy_for_env(gym.make("Pendulum-v1"))
    assert value_net_for_env(gym.make("Pendulum-v1"))(torch.zeros(2, 3)).shape == (2,)
    with pytest.raises(ValueError, match="obs must have shape"):
        policy.act(np.zeros((3, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="hidden"):
        CategoricalPolicy(4, 2, hidden=(0,))
    with pytest.raises(ValueError, match="n_act"):
        CategoricalPolicy(4, 0)
