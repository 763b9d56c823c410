"""pgcourse.rollouts (lessons 2-5): complete episodes and fixed-length rollouts from vector envs; shapes,
autoreset handling (NEXT_STEP and SAME_STEP), terminated vs truncated, the truncation bootstrap."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import pgcourse
from pgcourse.actor_critic import actor_critic_for_env
from pgcourse.advantages import gae
from pgcourse.policies import CategoricalPolicy, policy_for_env
from pgcourse.rollouts import EpisodeBatch, Rollout, RolloutCollector, collect_episodes, evaluate, make_vec_env


# ----------------------------------------------------------------------------- complete episodes
class AlwaysRight:
    """Pushes right every step: CartPole falls over after ~10 steps (terminated)."""

    def act(self, obs, deterministic=False):
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


def test_evaluate_returns_one_per_episode():
    ret = evaluate(CategoricalPolicy(4, 2), "CartPole-v1", n_episodes=5, seed=0)
    assert ret.shape == (5,) and np.all(ret >= 1) and np.all(ret <= 500)


def test_deterministic_collection_is_greedy():
    """deterministic=True asks the policy for greedy actions: the argmax of its logits at every recorded step."""
    torch.manual_seed(0)
    envs = make_vec_env("CartPole-v1", num_envs=3)
    policy = policy_for_env(envs, hidden=(16,))
    with torch.no_grad():
        policy.net[-1].weight.mul_(100)  # a policy far from uniform, so greedy and sampled actions differ
    b = collect_episodes(envs, policy, n_episodes=6, seed=0, deterministic=True)
    _check_structure(b)
    with torch.no_grad():
        greedy = policy(torch.as_tensor(b.obs)).argmax(-1).numpy()
    np.testing.assert_array_equal(b.act, greedy)
    # and evaluate(deterministic=True) replays the same greedy episodes from the same seed
    first = collect_episodes(envs, policy, n_episodes=3, seed=7, deterministic=True).ep_ret
    np.testing.assert_array_equal(evaluate(policy, n_episodes=3, seed=7, deterministic=True), first)
    envs.close()


# ----------------------------------------------------------------------------- fixed-length rollouts
LIMIT = 4  # TimeLimit of the counter env


class Counter(gym.Env):
    """obs = [steps taken in this episode]; rew 1 per step; action 1 terminates the episode."""

    observation_space = gym.spaces.Box(0.0, 100.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t], np.float32), 1.0, bool(action == 1), False, {}


class Scripted:
    """Env 0 never terminates (every episode is truncated at LIMIT); env 1 terminates at its 3rd step.
    V(obs) = 10 * count + 1, so V(final obs of a truncated episode) = 41 and V(reset obs) = 1."""

    def act(self, obs, deterministic=False):
        act = np.array([0, int(obs[1, 0] == 2)], dtype=np.int64)
        return act, np.zeros(2, np.float32)

    def value(self, obs):
        return 10 * obs[:, 0] + 1


def counter_envs(mode):
    fns = [lambda: gym.wrappers.TimeLimit(Counter(), max_episode_steps=LIMIT)] * 2
    return gym.vector.SyncVectorEnv(fns, autoreset_mode=mode)


@pytest.fixture(scope="module", params=["NEXT_STEP", "SAME_STEP"])
def counter_rollout(request):
    envs = counter_envs(getattr(gym.vector.AutoresetMode, request.param))
    collector = RolloutCollector(envs, n_steps=11, seed=0)
    ro = collector.collect(Scripted())
    return request.param, ro, collector


def _transitions(ro, env):
    m = ro.mask[:, env]
    return ro.obs[m, env, 0], ro.next_obs[m, env, 0], ro.terminated[m, env], ro.truncated[m, env]


def test_truncated_steps_bootstrap_from_the_final_obs(counter_rollout):
    mode, ro, _ = counter_rollout
    trunc = ro.truncated & ro.mask
    assert trunc[:, 0].sum() >= 2 and not trunc[:, 1].any()
    np.testing.assert_array_equal(ro.next_obs[trunc, 0], LIMIT)  # the final obs, not the reset obs 0
    np.testing.assert_array_equal(ro.next_val[trunc], 10 * LIMIT + 1)  # V(final obs) = 41, not V(reset obs) = 1
    # and gae uses it: adv at a truncated step = rew + gamma V(final obs) - V(obs)
    adv, ret = gae(ro.rew, ro.val, ro.next_val, ro.terminated, ro.truncated, gamma=0.9, lam=0.8)
    np.testing.assert_allclose(adv[trunc], 1 + 0.9 * 41 - 31)
    np.testing.assert_allclose(ret, adv + ro.val)


def test_terminated_steps_are_not_bootstrapped(counter_rollout):
    mode, ro, _ = counter_rollout
    term = ro.terminated & ro.mask
    assert term[:, 1].sum() >= 2 and not term[:, 0].any()
    np.testing.assert_array_equal(ro.next_obs[term, 0], 3)
    adv, _ = gae(ro.rew, ro.val, ro.next_val, ro.terminated, ro.truncated, gamma=0.9, lam=0.8)
    np.testing.assert_allclose(adv[term], 1 - 21)  # rew - V(obs=2): next_val ignored
    # whatever next_val says there
    other = ro.next_val.copy()
    other[term] = 1e6
    adv2, _ = gae(ro.rew, ro.val, other, ro.terminated, ro.truncated, gamma=0.9, lam=0.8)
    np.testing.assert_array_equal(adv, adv2)


def test_no_reset_step_is_a_transition(counter_rollout):
    mode, ro, collector = counter_rollout
    T, N = ro.shape
    for env, ep_len in ((0, LIMIT), (1, 3)):
        obs, next_obs, term, trunc = _transitions(ro, env)
        # transitions follow the episode's own counter: 0, 1, .., len-1, 0, 1, ... with next = obs + 1
        np.testing.assert_array_equal(obs, np.arange(len(obs)) % ep_len)
        np.testing.assert_array_equal(next_obs, obs + 1)
        np.testing.assert_array_equal(term | trunc, obs == ep_len - 1)
    assert np.all(ro.rew[ro.mask] == 1.0)
    if mode == "NEXT_STEP":
        # exactly the step after each episode end is masked out; it has rew 0 and no flags
        done = ro.terminated | ro.truncated
        np.testing.assert_array_equal(~ro.mask[1:], done[:-1])
        assert ro.mask[0].all()
        assert np.all(ro.rew[~ro.mask] == 0) and not done[~ro.mask].any()
        # env 0: 11 steps = 4 + reset + 4 + reset + 1; env 1: 3 + r + 3 + r + 3
        assert ro.mask.sum(0).tolist() == [9, 9]
    else:
        assert ro.mask.all()
    assert collector.env_steps == ro.n_transitions and collector.env_steps_simulated == T * N
    # episodes: env 0 truncated ones have return 4, env 1 terminated ones return 3
    assert sorted(ro.ep_ret.tolist()) == sorted(ro.ep_len.tolist())
    assert set(ro.ep_len.tolist()) == {3, LIMIT}
    assert np.all(np.diff(ro.ep_end) >= 0) and ro.ep_end[-1] <= ro.n_transitions


def test_state_carries_over_between_rollouts():
    for mode in (gym.vector.AutoresetMode.NEXT_STEP, gym.vector.AutoresetMode.SAME_STEP):
        collector = RolloutCollector(counter_envs(mode), n_steps=3, seed=0)
        ros = [collector.collect(Scripted()) for _ in range(4)]  # 12 steps in 4 pieces
        obs = np.concatenate([r.obs[r.mask[:, 0], 0, 0] for r in ros])
        np.testing.assert_array_equal(obs, np.arange(len(obs)) % LIMIT)
        lens = np.concatenate([r.ep_len for r in ros])
        # an episode spanning two rollouts is counted once, with its full length
        assert set(lens.tolist()) == {3, LIMIT}
        assert collector.env_steps == sum(r.n_transitions for r in ros)


def test_cartpole_rollout_shapes_and_values():
    pgcourse.seed_everything(0)
    envs = make_vec_env("CartPole-v1", num_envs=4)
    agent = actor_critic_for_env(envs, hidden=(16,))
    collector = RolloutCollector(envs, n_steps=40, seed=0)
    ro = collector.collect(agent)
    assert isinstance(ro, Rollout) and ro.shape == (40, 4)
    assert ro.obs.shape == ro.next_obs.shape == (40, 4, 4) and ro.obs.dtype == np.float32
    for name in ("act", "rew", "terminated", "truncated", "logp", "val", "next_val", "mask"):
        assert getattr(ro, name).shape == (40, 4), name
    assert ro.act.dtype == np.int64 and ro.mask.dtype == bool
    # a near-uniform policy falls within 40 steps: some episodes ended, their reset steps are masked
    assert len(ro.ep_ret) > 0 and not ro.mask.all()
    with torch.no_grad():
        dist, val = agent.dist_and_value(torch.from_numpy(ro.obs.reshape(-1, 4)))
        logp = dist.log_prob(torch.from_numpy(ro.act.reshape(-1))).reshape(40, 4).numpy()
        next_val = agent.value(torch.from_numpy(ro.next_obs.reshape(-1, 4))).reshape(40, 4).numpy()
    np.testing.assert_allclose(ro.logp, logp, atol=1e-5)
    np.testing.assert_allclose(ro.val, val.reshape(40, 4).numpy(), atol=1e-5)
    np.testing.assert_allclose(ro.next_val, next_val, atol=1e-5)
    # within an episode next_obs[t] == obs[t+1]
    m = ro.mask[1:] & ro.mask[:-1]
    np.testing.assert_array_equal(ro.next_obs[:-1][m], ro.obs[1:][m])
    # GAE targets keep the (T, N) shape
    adv, ret = gae(ro.rew, ro.val, ro.next_val, ro.terminated, ro.truncated, 0.99, 0.95)
    assert adv.shape == ret.shape == (40, 4) and np.all(np.isfinite(adv))
    assert "40 steps x N=4" in repr(ro)


def test_bad_input():
    envs = make_vec_env("CartPole-v1", num_envs=2)
    policy = policy_for_env(envs)
    with pytest.raises(ValueError, match="n_episodes"):
        collect_episodes(envs, policy, 0)
    with pytest.raises(ValueError, match="act"):
        collect_episodes(envs, object(), 2)
    with pytest.raises(ValueError, match="vector env"):
        collect_episodes(gym.make("CartPole-v1"), policy, 2)
    disabled = gym.make_vec("CartPole-v1", 2, vectorization_mode="sync",
                            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.DISABLED})
    with pytest.raises(ValueError, match="autoreset"):
        collect_episodes(disabled, policy, 2)
    with pytest.raises(ValueError, match="unknown environment"):
        make_vec_env("NoSuchEnv-v0", 2)
    with pytest.raises(ValueError, match="num_envs"):
        make_vec_env("CartPole-v1", 0)
    with pytest.raises(ValueError, match="n_steps"):
        RolloutCollector(envs, 0)
    with pytest.raises(ValueError, match="vector env"):
        RolloutCollector(gym.make("CartPole-v1"), 8)
    with pytest.raises(ValueError, match="autoreset"):
        RolloutCollector(disabled, 8)
    with pytest.raises(ValueError, match="flat Box"):
        RolloutCollector(gym.make_vec("Blackjack-v1", 2, vectorization_mode="sync"), 8)
