"""Lesson-1 references against autograd, hand cases, and their argument validation."""

import numpy as np
import pytest
import torch

from pgcourse import logderiv, seed_everything


@pytest.mark.parametrize("seed", range(5))
def test_softmax_score_matches_autograd(seed):
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 2, size=5)
    t = torch.tensor(theta, requires_grad=True)
    for a in range(5):
        (g,) = torch.autograd.grad(torch.log_softmax(t, 0)[a], t)
        np.testing.assert_allclose(logderiv.softmax_score(theta, a), g.numpy(), atol=1e-12)


def test_exact_gradient_matches_autograd():
    theta, means = np.array([0.3, -1.0, 2.0]), np.array([1.0, -2.0, 0.5])
    t = torch.tensor(theta, requires_grad=True)
    (g,) = torch.autograd.grad((torch.softmax(t, 0) * torch.tensor(means)).sum(), t)
    np.testing.assert_allclose(logderiv.exact_gradient(theta, means), g.numpy(), atol=1e-12)


def test_worked_example():
    theta1 = logderiv.bandit_pg_step(np.zeros(2), 0, 2.0, 0.1)
    np.testing.assert_allclose(theta1, [0.1, -0.1])
    assert round(logderiv.softmax(theta1)[0], 2) == 0.55


def test_softmax_is_stable_for_large_logits():
    pi = logderiv.softmax([1000.0, 0.0])
    assert np.all(np.isfinite(pi)) and pi[0] == pytest.approx(1.0)


def test_score_function_estimate_is_unbiased():
    rng = seed_everything(0)
    theta, means = np.array([0.5, -1.0, 0.0]), np.array([1.0, 2.0, 3.0])
    acts = logderiv.draw_actions(theta, 400_000, rng)
    est = logderiv.score_function_estimate(theta, acts, means[acts])
    np.testing.assert_allclose(est, logderiv.exact_gradient(theta, means), atol=0.01)


def test_bandit_learning_finds_best_arm():
    traj = logderiv.simulate_bandit_learning([1.0, 2.0, 3.0], lr=0.1, steps=300, seed=0)
    assert traj["pi"].shape == (301, 3) and traj["action"].shape == (300,)
    assert traj["pi"][-1].argmax() == 2 and traj["expected"][-1] > traj["expected"][0] + 0.5


def test_gaussian_estimators_unbiased_and_reparam_lower_variance():
    est = logderiv.gaussian_gradient_estimates(1.0, 0.5, lambda x: x**2, lambda x: 2 * x, 100_000,
                                               np.random.default_rng(0))
    assert est["score"].mean() == pytest.approx(2.0, abs=0.1)
    assert est["reparam"].mean() == pytest.approx(2.0, abs=0.02)
    assert est["reparam"].var() < est["score"].var()


@pytest.mark.parametrize("call, msg", [
    (lambda: logderiv.softmax_score([1.0], 0), "K >= 2"),
    (lambda: logderiv.softmax_score([[0.0, 1.0]], 0), "1-D"),
    (lambda: logderiv.softmax_score([0.0, np.nan], 0), "finite"),
    (lambda: logderiv.softmax_score([0.0, 0.0], 2), "0..1"),
    (lambda: logderiv.softmax_score([0.0, 0.0], 0.5), "int index"),
    (lambda: logderiv.score_function_estimate([0.0, 0.0], [], []), "non-empty"),
    (lambda: logderiv.score_function_estimate([0.0, 0.0], [0, 1], [1.0]), "shape of actions"),
    (lambda: logderiv.score_function_estimate([0.0, 0.0], [0, 3], [1.0, 1.0]), "0..1"),
    (lambda: logderiv.score_function_estimate([0.0, 0.0], [0.5, 1.0], [1.0, 1.0]), "integers"),
    (lambda: logderiv.bandit_pg_step([0.0, 0.0], 0, 1.0, 0.0), "positive"),
    (lambda: logderiv.bandit_pg_step([0.0, 0.0], 0, np.inf, 0.1), "finite"),
    (lambda: logderiv.expected_reward([0.0, 0.0], [1.0, 2.0, 3.0]), "one entry per action"),
    (lambda: logderiv.draw_actions([0.0, 0.0], 3, 0), "Generator"),
    (lambda: logderiv.simulate_bandit_learning([1.0, 2.0], lr=-1, steps=3, seed=0), "positive"),
    (lambda: logderiv.gaussian_gradient_estimates(0.0, 0.0, abs, abs, 3, np.random.default_rng()), "sigma"),
])
def test_bad_arguments_raise_clear_value_errors(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()
