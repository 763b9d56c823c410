"""pgcourse.policies (lessons 2-3): the categorical policy and value net, their NumPy acting path, env sizing."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from pgcourse.policies import (CategoricalPolicy, ValueNet, discrete_env_sizes, mlp, obs_batch, policy_for_env,
                               sample_actions, value_net_for_env)
from pgcourse.rollouts import make_vec_env


def test_mlp_layers():
    net = mlp(4, 2, hidden=(8, 16), activation=nn.ReLU)
    assert [type(m) for m in net] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert net(torch.zeros(3, 4)).shape == (3, 2)
    assert [type(m) for m in mlp(4, 2, hidden=())] == [nn.Linear]


def test_policy_shapes_and_dist():
    policy = CategoricalPolicy(4, 3, hidden=(8, 8))
    obs = torch.zeros(5, 4)
    assert policy(obs).shape == (5, 3)
    d = policy.dist(obs)
    assert d.probs.shape == (5, 3)
    np.testing.assert_allclose(d.probs.detach().numpy(), 1 / 3, atol=0.02)  # near-uniform start
    act, logp = policy.act(np.zeros((5, 4), dtype=np.float32))
    assert act.shape == (5,) and logp.shape == (5,) and act.dtype == np.int64 and logp.dtype == np.float32
    a1, lp1 = policy.act(np.zeros(4))
    assert a1.shape == () and lp1.shape == ()
    assert ValueNet(4)(obs).shape == (5,)


def test_act_logp_is_the_log_prob_of_the_taken_action():
    torch.manual_seed(0)
    policy = CategoricalPolicy(4, 3, hidden=(16,))
    with torch.no_grad():
        policy.net[-1].weight.mul_(100)
    obs = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    act, logp = policy.act(obs)
    with torch.no_grad():
        ref = policy.dist(torch.as_tensor(obs)).log_prob(torch.as_tensor(act)).numpy()
    np.testing.assert_allclose(logp, ref, atol=1e-5)


def test_policy_act_samples_the_distribution():
    torch.manual_seed(0)
    policy = CategoricalPolicy(1, 3, hidden=(4,))
    with torch.no_grad():
        policy.net[-1].bias.copy_(torch.log(torch.tensor([0.2, 0.3, 0.5])))
    act, _ = policy.act(np.zeros((20_000, 1), dtype=np.float32))
    np.testing.assert_allclose(np.bincount(act, minlength=3) / 20_000, [0.2, 0.3, 0.5], atol=0.015)
    greedy, _ = policy.act(np.zeros((3, 1), dtype=np.float32), deterministic=True)
    assert np.all(greedy == 2)


def test_sample_actions():
    logits = np.log(np.array([[0.1, 0.6, 0.3], [0.7, 0.2, 0.1]], dtype=np.float32)) + 5.0  # shift: same softmax
    a, logp = sample_actions(logits, deterministic=True)
    np.testing.assert_array_equal(a, [1, 0])
    np.testing.assert_allclose(logp, np.log([0.6, 0.7]), rtol=1e-5)
    assert a.dtype.kind == "i" and logp.dtype == np.float32
    a1, lp1 = sample_actions(logits[:1], deterministic=True, single=True)
    assert np.ndim(a1) == 0 and a1 == 1 and lp1 == pytest.approx(np.log(0.6), rel=1e-5)
    # Gumbel-max draws from the softmax; the same torch seed gives the same draws
    torch.manual_seed(0)
    many = np.tile(logits, (10_000, 1))  # rows alternate between the two distributions
    draws, logp = sample_actions(many)
    freq0 = np.bincount(draws[0::2], minlength=3) / 10_000
    freq1 = np.bincount(draws[1::2], minlength=3) / 10_000
    np.testing.assert_allclose(freq0, [0.1, 0.6, 0.3], atol=0.015)
    np.testing.assert_allclose(freq1, [0.7, 0.2, 0.1], atol=0.015)
    probs = np.array([[0.1, 0.6, 0.3], [0.7, 0.2, 0.1]])[np.arange(20_000) % 2, draws]
    np.testing.assert_allclose(logp, np.log(probs), rtol=1e-5)  # the log-prob of each drawn action
    torch.manual_seed(0)
    np.testing.assert_array_equal(sample_actions(many)[0], draws)


def test_obs_batch():
    x, single = obs_batch([1.0, 2.0], 2)
    assert single and x.shape == (1, 2) and x.dtype == np.float32
    x, single = obs_batch(np.zeros((3, 2)), 2)
    assert not single and x.shape == (3, 2)
    with pytest.raises(ValueError, match="obs must have shape"):
        obs_batch(np.zeros((3, 5)), 2)


def test_env_sizing():
    envs = make_vec_env("CartPole-v1", 2)
    assert discrete_env_sizes(envs) == discrete_env_sizes(gym.make("CartPole-v1")) == (4, 2)
    p = policy_for_env(envs, hidden=(8,))
    assert (p.obs_dim, p.n_act, p.hidden) == (4, 2, (8,))
    assert value_net_for_env(gym.make("Pendulum-v1"))(torch.zeros(2, 3)).shape == (2,)
    envs.close()


class _StartAt1:
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2, start=1)


def test_bad_input():
    with pytest.raises(ValueError, match="Discrete"):
        policy_for_env(gym.make("Pendulum-v1"))
    with pytest.raises(ValueError, match="flat Box"):
        value_net_for_env(gym.make("Blackjack-v1"))
    with pytest.raises(ValueError, match="start at 0"):
        discrete_env_sizes(_StartAt1())
    with pytest.raises(ValueError, match="obs must have shape"):
        CategoricalPolicy(4, 2).act(np.zeros((3, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="hidden"):
        CategoricalPolicy(4, 2, hidden=(0,))
    with pytest.raises(ValueError, match="n_act"):
        CategoricalPolicy(4, 0)
    with pytest.raises(ValueError, match="obs_dim"):
        ValueNet(0)


def test_gaussian_policy_shapes_log_prob_and_acting():
    from torch.distributions import Normal

    from pgcourse.policies import GaussianPolicy

    torch.manual_seed(0)
    pol = GaussianPolicy(3, 2, hidden=(8,), log_std_init=-0.5)
    obs = torch.randn(5, 3)
    act = torch.randn(5, 2)
    d = pol.dist(obs)
    assert d.loc.shape == (5, 2) and d.scale.shape == (5, 2)
    assert torch.allclose(d.scale, torch.full((5, 2), float(np.exp(-0.5))))
    ref = Normal(pol(obs), torch.full((2,), float(np.exp(-0.5)))).log_prob(act).sum(-1)
    assert torch.allclose(pol.log_prob(obs, act), ref)
    a, logp = pol.act(obs.numpy())
    assert a.shape == (5, 2) and logp.shape == (5,) and a.dtype == np.float32
    a1, logp1 = pol.act(obs[0].numpy(), deterministic=True)
    assert a1.shape == (2,) and np.allclose(a1, pol(obs[:1]).detach().numpy()[0], atol=1e-6)
    assert logp1.shape == ()
    # the log-std does not depend on the state, and gets a gradient
    pol.log_prob(obs, act).sum().backward()
    assert pol.log_std.grad is not None and pol.log_std.grad.shape == (2,)


def test_gaussian_policy_rejects_bad_arguments():
    from pgcourse.policies import GaussianPolicy

    for kwargs in (dict(obs_dim=0, act_dim=1), dict(obs_dim=2, act_dim=-1), dict(obs_dim=2, act_dim=1, hidden=(0,)),
                   dict(obs_dim=2, act_dim=1, log_std_init=float("nan"))):
        with pytest.raises(ValueError):
            GaussianPolicy(**kwargs)
    with pytest.raises(ValueError, match="shape"):
        GaussianPolicy(2, 1).act(np.zeros((3, 4)))


def test_rsample_then_log_prob_gives_the_mean_no_score_gradient():
    """The bug lesson 6 measures: the log-density of a reparameterised sample does not depend on the mean."""
    from pgcourse.policies import GaussianPolicy

    torch.manual_seed(1)
    pol = GaussianPolicy(1, 1, hidden=())
    obs = torch.randn(64, 1)
    d = pol.dist(obs)
    act = d.rsample()
    loss = -(d.log_prob(act).sum(-1) * torch.randn(64)).mean()
    loss.backward()
    assert pol.net[-1].weight.grad.abs().max() == 0 and pol.net[-1].bias.grad.abs().max() == 0
