"""pgcourse.sac building blocks: soft policy, tanh correction, squashed Gaussian, soft Q target, Polyak averaging."""

import copy
import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, TransformedDistribution
from torch.distributions.transforms import TanhTransform

from pgcourse.sac import entropy, polyak_update_, soft_policy, soft_q_target, squashed_gaussian, tanh_log_det


def test_soft_policy_limits_and_entropy():
    q = np.array([1.0, 3.0, 2.0])
    np.testing.assert_allclose(soft_policy(q, 1.0), np.exp(q) / np.exp(q).sum())
    np.testing.assert_allclose(soft_policy(q, 1e-4), [0, 1, 0], atol=1e-12)  # cold: greedy, and finite
    np.testing.assert_allclose(soft_policy(q, 1e6), 1 / 3, atol=1e-5)  # hot: uniform
    hs = [entropy(soft_policy(q, a)) for a in (0.01, 0.1, 1.0, 10.0, 100.0)]
    assert np.all(np.diff(hs) > 0) and hs[-1] <= math.log(3) + 1e-12  # entropy rises with the temperature
    batch = soft_policy(np.stack([q, -q]), 0.5)
    assert batch.shape == (2, 3) and np.allclose(batch.sum(-1), 1)
    assert entropy([1.0, 0.0]) == 0 and entropy([0.5, 0.5]) == pytest.approx(math.log(2))


def test_soft_policy_maximises_the_entropy_regularised_value():
    """pi = softmax(Q / alpha) beats random policies on E_pi[Q] + alpha * H(pi): it is the max-entropy optimum."""
    rng = np.random.default_rng(0)
    q, alpha = rng.normal(size=5), 0.7
    value = lambda p: p @ q + alpha * entropy(p)  # noqa: E731
    best = value(soft_policy(q, alpha))
    assert best == pytest.approx(alpha * np.log(np.exp(q / alpha).sum()))  # the soft maximum, alpha * logsumexp(Q / alpha)
    for _ in range(200):
        assert value(rng.dirichlet(np.ones(5))) <= best + 1e-12


def test_tanh_log_det_is_the_direct_formula_and_finite_where_it_is_not():
    u = torch.linspace(-5, 5, 101, dtype=torch.float64)
    torch.testing.assert_close(tanh_log_det(u), torch.log(1 - torch.tanh(u) ** 2))
    big = torch.tensor([-30.0, 30.0])
    assert torch.isinf(torch.log(1 - torch.tanh(big) ** 2)).all()  # the direct form breaks down ...
    torch.testing.assert_close(tanh_log_det(big), torch.tensor([-58.6137, -58.6137]), atol=1e-3, rtol=0)  # ... this does not


def test_squashed_gaussian_logp_matches_torch_distributions_value_and_gradient():
    torch.manual_seed(0)
    mu = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    log_std = (0.3 * torch.randn(6, 2, dtype=torch.float64)).requires_grad_()
    act, logp = squashed_gaussian(mu, log_std, generator=torch.Generator().manual_seed(1))
    assert act.shape == (6, 2) and logp.shape == (6,) and act.abs().max() < 1
    # the reference: the same u = mu + std * eps through torch.distributions, with gradients by autograd
    eps = torch.randn(6, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    u = mu + log_std.exp() * eps
    ref = Normal(mu, log_std.exp()).log_prob(u).sum(-1) - torch.log(1 - torch.tanh(u) ** 2).sum(-1)
    torch.testing.assert_close(logp, ref)
    g = torch.autograd.grad(logp.sum() + act.sum(), (mu, log_std))
    g_ref = torch.autograd.grad(ref.sum() + torch.tanh(u).sum(), (mu, log_std))
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b)
    dist = TransformedDistribution(Normal(mu.detach(), log_std.detach().exp()), [TanhTransform()])
    torch.testing.assert_close(logp.detach(), dist.log_prob(act.detach()).sum(-1), atol=1e-6, rtol=1e-6)
    mean_act, _ = squashed_gaussian(mu, log_std, deterministic=True)
    torch.testing.assert_close(mean_act, torch.tanh(mu))


def test_soft_q_target_by_hand():
    y = soft_q_target(rew=torch.tensor([1.0, 1.0, 0.5]), next_q1=torch.tensor([10.0, 4.0, 2.0]),
                      next_q2=torch.tensor([8.0, 6.0, 3.0]), next_logp=torch.tensor([-1.0, 0.5, 0.0]),
                      terminated=torch.tensor([False, False, True]), gamma=0.9, alpha=0.2)
    # min(Q1', Q2') - alpha * logp': 8.2 and 3.9; a terminated transition keeps only its reward
    torch.testing.assert_close(y, torch.tensor([1 + 0.9 * 8.2, 1 + 0.9 * 3.9, 0.5]))
    q = torch.tensor([2.0], requires_grad=True)
    assert not soft_q_target(torch.ones(1), q, q, torch.zeros(1), torch.zeros(1), 0.9, 0.1).requires_grad


def test_polyak_update():
    src = torch.nn.Linear(3, 2)
    tgt = copy.deepcopy(src)
    with torch.no_grad():
        for p in src.parameters():
            p.add_(1.0)
    before = [p.clone() for p in tgt.parameters()]
    polyak_update_(tgt, src, 0.25)
    for t, b, s in zip(tgt.parameters(), before, src.parameters()):
        torch.testing.assert_close(t, 0.75 * b + 0.25 * s)
    polyak_update_(tgt, src, 1.0)
    for t, s in zip(tgt.parameters(), src.parameters()):
        torch.testing.assert_close(t, s)


@pytest.mark.parametrize("call, msg", [
    (lambda: soft_policy([1.0, 2.0], 0.0), "alpha"),
    (lambda: soft_policy([1.0, np.nan], 1.0), "finite"),
    (lambda: soft_policy(3.0, 1.0), "n_act"),
    (lambda: tanh_log_det(np.zeros(2)), "torch tensor"),
    (lambda: squashed_gaussian(torch.zeros(2, 2), torch.zeros(2, 3)), "same|shape"),
    (lambda: soft_q_target(torch.zeros(2), torch.zeros(2), torch.zeros(3), torch.zeros(2), torch.zeros(2), 0.9, 0.1), "shape"),
    (lambda: soft_q_target(*[torch.zeros(2)] * 5, gamma=1.5, alpha=0.1), "gamma"),
    (lambda: polyak_update_(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), 0.0), "tau"),
    (lambda: polyak_update_(torch.nn.Linear(2, 2), torch.nn.Linear(3, 2), 0.5), "same shapes"),
])
def test_bad_arguments(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


# ----------------------------------------------------------------------------- the trainer's pieces
from pgcourse.sac import SACConfig, SquashedGaussianActor, TwinQ, train_sac  # noqa: E402


def test_twin_q_is_two_independent_mlps():
    torch.manual_seed(0)
    q = TwinQ(3, 1, hidden=(8, 8))
    obs, act = torch.randn(5, 3), torch.randn(5, 1)
    out = q(obs, act)
    assert out.shape == (2, 5)
    x = torch.cat([obs, act], -1)
    for k in range(2):  # critic k by hand, with its own slice of every weight
        h = torch.relu(x @ q.weights[0][k] + q.biases[0][k])
        h = torch.relu(h @ q.weights[1][k] + q.biases[1][k])
        torch.testing.assert_close(out[k], (h @ q.weights[2][k] + q.biases[2][k]).squeeze(-1))
    assert not torch.allclose(out[0], out[1])  # independently initialised


def test_actor_scales_to_the_action_bounds_and_corrects_logp():
    torch.manual_seed(0)
    actor = SquashedGaussianActor(3, 2, low=[-2.0, 0.0], high=[2.0, 1.0], hidden=(16,))
    obs = torch.randn(400, 3)
    act, logp = actor(obs)
    assert act.shape == (400, 2) and logp.shape == (400,)
    assert (act[:, 0].abs() < 2).all() and (act[:, 1] > 0).all() and (act[:, 1] < 1).all()
    mu, log_std = actor.net(obs).chunk(2, -1)
    mean_act, _ = actor(obs, deterministic=True)
    torch.testing.assert_close(mean_act, actor.center + actor.scale * torch.tanh(mu))
    # logp of the rescaled action = logp of tanh(u) - sum log(scale)
    u = torch.atanh(((act - actor.center) / actor.scale).clamp(-1 + 1e-6, 1 - 1e-6))
    ref = sac_logp(u, mu, log_std.clamp(-5, 2)) - torch.log(actor.scale).sum()
    torch.testing.assert_close(logp, ref, atol=2e-3, rtol=1e-3)
    a_np, lp_np = actor.act(np.zeros(3, np.float32), deterministic=True)
    assert a_np.shape == (2,) and np.isfinite(lp_np)


def sac_logp(u, mu, log_std):
    from pgcourse.sac import squashed_log_prob

    return squashed_log_prob(u, mu, log_std)


def test_short_run_records_history():
    h = train_sac(SACConfig(seed=0, total_steps=1_200, learning_starts=400, progress=False))
    assert len(h.ep_ret) == 6 and h.ep_len == [200] * 6  # Pendulum-v1 episodes are cut at 200 steps
    assert h.ep_end == list(range(200, 1_201, 200))
    assert h.n_updates == 800 and len(h.q_loss) == len(h.alpha) == 8
    for name in ("q_loss", "actor_loss", "alpha", "entropy"):
        assert np.all(np.isfinite(getattr(h, name))), name
    assert h.alpha[-1] != h.alpha[0]  # the temperature is tuned
    ev = h.evaluate(n_episodes=3)
    assert ev.shape == (3,) and np.all(ev <= 0)


def test_sac_config_and_env_validation():
    for kw in ({"total_steps": 0}, {"learning_starts": 10, "total_steps": 10}, {"gamma": 1.5}, {"tau": 0.0},
               {"actor_lr": 0.0}, {"alpha": -1.0}, {"batch_size": 0}):
        with pytest.raises(ValueError):
            SACConfig(**kw)
    with pytest.raises(ValueError, match="Box action space"):
        train_sac(env_id="CartPole-v1", total_steps=10, learning_starts=0, progress=False)
    with pytest.raises(ValueError, match="SACConfig"):
        train_sac(config="fast")
