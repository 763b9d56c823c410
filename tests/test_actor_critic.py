"""pgcourse.actor_critic (lessons 4-5): shapes, evaluate_actions against the Categorical, acting, env sizing."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from pgcourse.actor_critic import ActorCritic, actor_critic_for_env
from pgcourse.rollouts import evaluate, make_vec_env


@pytest.mark.parametrize("shared", [False, True])
def test_shapes_and_near_uniform_start(shared):
    torch.manual_seed(0)
    ag = ActorCritic(4, 3, hidden=(8, 8), shared=shared)
    obs = torch.randn(5, 4)
    logits, val = ag(obs)
    assert logits.shape == (5, 3) and val.shape == (5,)
    torch.testing.assert_close(ag.value(obs), val)
    torch.testing.assert_close(ag.dist(obs).logits, torch.log_softmax(logits, -1))
    dist, val2 = ag.dist_and_value(obs)
    torch.testing.assert_close(dist.probs, ag.dist(obs).probs)
    torch.testing.assert_close(val2, val)
    np.testing.assert_allclose(ag.dist(obs).probs.detach().numpy(), 1 / 3, atol=0.05)  # near-uniform start
    a, logp = ag.act(np.zeros((5, 4), np.float32))
    assert a.shape == logp.shape == (5,) and a.dtype == np.int64 and logp.dtype == np.float32
    a1, lp1 = ag.act(np.zeros(4))
    assert a1.shape == lp1.shape == ()
    n_trunk = sum(p.numel() for p in ag.trunk.parameters())
    assert (n_trunk > 0) == shared  # the shared trunk is in use, or there is none
    if shared:  # the trunk's weights receive gradient from both heads
        (logits.sum() + val.sum()).backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in ag.trunk.parameters())


@pytest.mark.parametrize("shared", [False, True])
def test_evaluate_actions_equals_dist_and_value(shared):
    torch.manual_seed(0)
    ag = ActorCritic(4, 3, hidden=(8, 8), shared=shared)
    with torch.no_grad():
        ag.actor[-1].weight.mul_(30)  # far from uniform
    x, act = torch.randn(7, 4), torch.randint(0, 3, (7,))
    logp, ent, v = ag.evaluate_actions(x, act)
    dist, val = ag.dist_and_value(x)
    torch.testing.assert_close(logp, dist.log_prob(act))
    torch.testing.assert_close(ent, dist.entropy())
    torch.testing.assert_close(v, val)
    assert logp.requires_grad and ent.requires_grad and v.requires_grad
    # the gradients are the Categorical's too
    g = torch.autograd.grad((logp + ent).sum(), list(ag.actor.parameters()))
    g_ref = torch.autograd.grad((dist.log_prob(act) + dist.entropy()).sum(), list(ag.actor.parameters()))
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b)
    logp2, no_ent, _ = ag.evaluate_actions(x, act, entropy=False)
    assert no_ent is None
    torch.testing.assert_close(logp2, logp)


def test_act_logp_is_the_log_prob_of_the_taken_action():
    torch.manual_seed(0)
    ag = ActorCritic(4, 3, hidden=(16,))
    with torch.no_grad():
        ag.actor[-1].weight.mul_(50)
    obs = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    a, logp = ag.act(obs)
    with torch.no_grad():
        ref = ag.dist(torch.as_tensor(obs)).log_prob(torch.as_tensor(a)).numpy()
    np.testing.assert_allclose(logp, ref, atol=1e-5)


def test_act_deterministic_is_the_argmax():
    torch.manual_seed(0)
    ag = ActorCritic(4, 3, hidden=(16,))
    with torch.no_grad():
        ag.actor[-1].weight.mul_(50)
    obs = np.random.default_rng(1).normal(size=(200, 4)).astype(np.float32)
    a, logp = ag.act(obs, deterministic=True)
    with torch.no_grad():
        logits = ag(torch.as_tensor(obs))[0]
    np.testing.assert_array_equal(a, logits.argmax(-1).numpy())
    np.testing.assert_allclose(logp, torch.log_softmax(logits, -1).max(-1).values.numpy(), atol=1e-5)
    assert len(set(a.tolist())) > 1  # the greedy action depends on the observation
    a2, _ = ag.act(obs, deterministic=True)
    np.testing.assert_array_equal(a, a2)  # no randomness


def test_act_samples_the_softmax():
    ag = ActorCritic(1, 3, hidden=(4,))
    probs = np.array([0.2, 0.3, 0.5])
    with torch.no_grad():
        ag.actor[-1].weight.zero_()
        ag.actor[-1].bias.copy_(torch.log(torch.tensor(probs)))
    torch.manual_seed(0)
    a, logp = ag.act(np.zeros((40_000, 1), np.float32))
    freq = np.bincount(a, minlength=3) / len(a)
    np.testing.assert_allclose(freq, probs, atol=4 * np.sqrt(0.25 / len(a)))
    np.testing.assert_allclose(logp, np.log(probs[a]), rtol=1e-5)
    torch.manual_seed(0)
    np.testing.assert_array_equal(ag.act(np.zeros((40_000, 1), np.float32))[0], a)  # seeded by torch's RNG
    g, _ = ag.act(np.zeros((3, 1), np.float32), deterministic=True)
    assert np.all(g == 2)


def test_ortho_init_switch():
    torch.manual_seed(0)
    ag = ActorCritic(4, 2, hidden=(16, 16))
    w = ag.actor[2].weight.detach()  # a hidden (16, 16) layer: orthogonal with gain sqrt(2)
    torch.testing.assert_close(w @ w.T, 2.0 * torch.eye(16), atol=1e-5, rtol=0)
    out = ag.actor[-1].weight.detach()  # the actor's output layer: gain 0.01, so a near-uniform first policy
    torch.testing.assert_close(out @ out.T, 1e-4 * torch.eye(2), atol=1e-8, rtol=0)
    assert all(lin.bias.abs().max() == 0 for lin in ag.modules() if isinstance(lin, torch.nn.Linear))
    plain = ActorCritic(4, 2, hidden=(16, 16), ortho_init=False)
    pw = plain.actor[2].weight.detach()
    assert not torch.allclose(pw @ pw.T, 2.0 * torch.eye(16), atol=1e-2)
    np.testing.assert_allclose(plain.dist(torch.randn(5, 4)).probs.detach().numpy(), 0.5, atol=0.02)


def test_an_agent_is_a_policy_for_rollouts():
    ret = evaluate(ActorCritic(4, 2), "CartPole-v1", n_episodes=3, seed=0, deterministic=True)
    assert ret.shape == (3,) and np.all(ret >= 1)


def test_actor_critic_for_env():
    envs = make_vec_env("CartPole-v1", 2)
    ag = actor_critic_for_env(envs, hidden=(8,), shared=True)
    assert (ag.obs_dim, ag.n_act, ag.hidden, ag.shared) == (4, 2, (8,), True)
    assert actor_critic_for_env(gym.make("CartPole-v1")).hidden == (64, 64)
    envs.close()


def test_bad_input():
    with pytest.raises(ValueError, match="Discrete"):
        actor_critic_for_env(gym.make("Pendulum-v1"))
    with pytest.raises(ValueError, match="Discrete"):
        actor_critic_for_env(gym.make_vec("Pendulum-v1", 2))
    with pytest.raises(ValueError, match="hidden"):
        ActorCritic(4, 2, hidden=(0,))
    with pytest.raises(ValueError, match="trunk"):
        ActorCritic(4, 2, hidden=(), shared=True)
    with pytest.raises(ValueError, match="n_act"):
        ActorCritic(4, 0)
    with pytest.raises(ValueError, match="obs must have shape"):
        ActorCritic(4, 2).act(np.zeros((3, 5), np.float32))
    assert math.isfinite(ActorCritic(4, 2, hidden=()).value(torch.zeros(1, 4)).item())  # a linear critic is allowed
