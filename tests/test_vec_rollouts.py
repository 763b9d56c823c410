"""pgcourse.vec_rollouts and pgcourse.actor_critic: autoreset, truncation bootstrap, shapes."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import pgcourse
from pgcourse.actor_critic import ActorCritic, actor_critic_for_env
from pgcourse.advantages import gae
from pgcourse.rollouts import evaluate, make_vec_env
from pgcourse.vec_rollouts import Rollout, RolloutCollector

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

    def sample(self, obs):
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


def test_actor_critic_api():
    torch.manual_seed(0)
    for shared in (False, True):
        ag = ActorCritic(4, 3, hidden=(8, 8), shared=shared)
        obs = torch.zeros(5, 4)
        logits, val = ag(obs)
        assert logits.shape == (5, 3) and val.shape == (5,)
        assert ag.value(obs).shape == (5,)
        np.testing.assert_allclose(ag.dist(obs).probs.detach().numpy(), 1 / 3, atol=0.02)  # near-uniform start
        a, logp, v = ag.act(np.zeros((5, 4), np.float32))
        assert a.shape == logp.shape == v.shape == (5,) and a.dtype == np.int64
        np.testing.assert_allclose(v, val.detach().numpy(), atol=1e-6)
        np.testing.assert_allclose(logp, ag.dist(obs).log_prob(torch.as_tensor(a)).detach().numpy(), atol=1e-6)
        a2, logp2 = ag.sample(np.zeros((5, 4), np.float32))
        assert a2.shape == logp2.shape == (5,)
        # evaluate_actions: the Categorical's numbers, in one pass, with grad
        x, act = torch.randn(7, 4), torch.randint(0, 3, (7,))
        logp, ent, v = ag.evaluate_actions(x, act)
        dist, val2 = ag.dist_and_value(x)
        torch.testing.assert_close(logp, dist.log_prob(act))
        torch.testing.assert_close(ent, dist.entropy())
        torch.testing.assert_close(v, val2)
        assert logp.requires_grad and v.requires_grad
        a1, lp1, v1 = ag.act(np.zeros(4))
        assert a1.shape == lp1.shape == v1.shape == ()
    assert any(p is q for p in ag.trunk.parameters() for q in ag.parameters())  # shared trunk is in use
    # act samples the distribution; deterministic is greedy
    ag = ActorCritic(1, 3, hidden=(4,))
    with torch.no_grad():
        ag.actor[-1].bias.copy_(torch.log(torch.tensor([0.2, 0.3, 0.5])))
    a, _ = ag.sample(np.zeros((20_000, 1), np.float32))
    np.testing.assert_allclose(np.bincount(a, minlength=3) / 20_000, [0.2, 0.3, 0.5], atol=0.015)
    g, _ = ag.sample(np.zeros((3, 1), np.float32), deterministic=True)
    assert np.all(g == 2)
    ret = evaluate(ActorCritic(4, 2).as_policy(), "CartPole-v1", n_episodes=3, seed=0, deterministic=True)
    assert ret.shape == (3,) and np.all(ret >= 1)


def test_numpy_sampling_matches_the_torch_pass():
    """`sample` runs the actor in NumPy on views of the weights: the same actions (same RNG draws) and
    log-probs as the torch pass, also after optimizer steps and after the weights move into a FlatOptimizer."""
    from pgcourse.optim import FlatOptimizer

    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    for shared, act in ((False, torch.nn.Tanh), (True, torch.nn.ReLU)):
        torch.manual_seed(0)
        ag = ActorCritic(4, 3, hidden=(16, 16), shared=shared, activation=act)
        assert ag._numpy_actor() is not None
        with torch.no_grad():
            ag.actor[-1].weight.mul_(100)  # a policy far from uniform
        for stage in ("start", "after steps", "flat"):
            for deterministic in (False, True):
                torch.manual_seed(1)
                a_np, lp_np = ag.sample(obs, deterministic)
                torch.manual_seed(1)
                a_t, lp_t = ag._sample_torch(obs, deterministic)
                np.testing.assert_array_equal(a_np, a_t)
                np.testing.assert_allclose(lp_np, lp_t, atol=1e-5)
                assert a_np.dtype == np.int64 and lp_np.dtype == np.float32
            if stage == "start":  # in-place steps: the NumPy views follow
                opt = torch.optim.SGD(ag.parameters(), lr=0.5)
            elif stage == "after steps":  # the weights move into one flat buffer: the views are rebuilt
                opt = FlatOptimizer([{"params": list(ag.parameters()), "lr": 0.5}], kind="rmsprop")
            logits, val = ag(torch.as_tensor(obs))
            opt.zero_grad()
            (logits[:, 0].sum() + val.sum()).backward()
            opt.step()
    # an activation without a NumPy twin falls back to the torch pass
    ag = ActorCritic(4, 2, hidden=(8,), activation=torch.nn.ELU)
    assert ag._numpy_actor() is None and ag.sample(obs)[0].shape == (64,)


def test_bad_input():
    with pytest.raises(ValueError, match="Discrete"):
        actor_critic_for_env(gym.make("Pendulum-v1"))
    with pytest.raises(ValueError, match="Discrete"):
        actor_critic_for_env(gym.make_vec("Pendulum-v1", 2))
    with pytest.raises(ValueError, match="hidden"):
        ActorCritic(4, 2, hidden=(0,))
    with pytest.raises(ValueError, match="trunk"):
        ActorCritic(4, 2, hidden=(), shared=True)
    with pytest.raises(ValueError, match="obs must have shape"):
        ActorCritic(4, 2).act(np.zeros((3, 5), np.float32))
    envs = make_vec_env("CartPole-v1", 2)
    with pytest.raises(ValueError, match="n_steps"):
        RolloutCollector(envs, 0)
    with pytest.raises(ValueError, match="vector env"):
        RolloutCollector(gym.make("CartPole-v1"), 8)
    disabled = gym.make_vec("CartPole-v1", 2, vectorization_mode="sync",
                            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.DISABLED})
    with pytest.raises(ValueError, match="autoreset"):
        RolloutCollector(disabled, 8)
