"""pgcourse.soft (lesson 6): soft policy, entropy, tanh correction, squashed Gaussian, soft Q target, Polyak averaging."""

import copy
import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, TransformedDistribution
from torch.distributions.transforms import TanhTransform

from pgcourse.soft import (entropy, polyak_update_, soft_policy, soft_q_target, squashed_gaussian, squashed_log_prob,
                           tanh_log_det)


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
    (lambda: squashed_log_prob(torch.zeros(2, 2), torch.zeros(2, 2), torch.zeros(2, 3)), "shape"),
    (lambda: squashed_log_prob([0.0], torch.zeros(1, 1), torch.zeros(1, 1)), "tensors"),
])
def test_bad_arguments(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


def test_squashed_log_prob_is_the_gaussian_minus_the_tanh_correction():
    torch.manual_seed(0)
    u, mu = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    log_std = 0.5 * torch.randn(5, 3, dtype=torch.float64)
    ref = (Normal(mu, log_std.exp()).log_prob(u) - torch.log(1 - torch.tanh(u) ** 2)).sum(-1)
    torch.testing.assert_close(squashed_log_prob(u, mu, log_std), ref)
    # finite where tanh(u) rounds to +-1 (the direct formula gives +inf there)
    big = torch.tensor([[20.0, -20.0]])
    lp = squashed_log_prob(big, torch.zeros(1, 2), torch.zeros(1, 2))
    assert torch.isfinite(lp).all() and lp.shape == (1,)


def test_soft_q_target_without_temperature_is_the_clipped_double_q_target():
    rew, q1, q2 = torch.tensor([0.5, -1.0]), torch.tensor([3.0, 1.0]), torch.tensor([2.0, 4.0])
    y = soft_q_target(rew, q1, q2, torch.tensor([-7.0, 3.0]), torch.zeros(2), gamma=0.5, alpha=0.0)
    torch.testing.assert_close(y, rew + 0.5 * torch.minimum(q1, q2))
