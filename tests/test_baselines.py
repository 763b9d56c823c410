"""pgcourse.baselines (lesson 3): gradient variance, the variance-optimal baseline, per-step scores and
per-episode estimates."""

import numpy as np
import pytest
import torch

from pgcourse.baselines import gradient_variance, optimal_baseline, per_episode_estimates, per_step_scores
from pgcourse.policies import CategoricalPolicy


def test_gradient_variance_by_hand():
    grads = np.array([[1.0, 0.0], [3.0, 2.0]])  # mean (2, 1); deviations (-1, -1), (1, 1): |.|^2 = 2 each
    assert gradient_variance(grads) == pytest.approx(2.0)
    assert gradient_variance(torch.tensor(grads)) == pytest.approx(2.0)
    assert gradient_variance(np.ones((5, 3))) == 0.0
    rng = np.random.default_rng(0)
    g = rng.normal(size=(50, 4))
    assert gradient_variance(g) == pytest.approx(np.var(g, axis=0).sum())  # the trace of the covariance


def test_optimal_baseline_by_hand_and_it_minimises_the_variance():
    assert optimal_baseline([1.0, 3.0], [10.0, 2.0]) == pytest.approx((10 + 6) / 4)
    assert optimal_baseline(np.full(3, 2.0), [1.0, 2.0, 6.0]) == pytest.approx(3.0)  # equal weights: the mean
    # for estimates s_i * (G_i - b), b* minimises the second moment sum |s_i|^2 (G_i - b)^2
    rng = np.random.default_rng(1)
    s, G = rng.normal(size=(200, 3)), rng.normal(2.0, 1.0, size=200) + rng.normal(size=200) * 3
    sq = (s ** 2).sum(1)
    b_star = optimal_baseline(sq, G)
    second_moment = lambda b: float((sq * (G - b) ** 2).mean())  # noqa: E731
    for b in (b_star - 0.5, b_star - 0.01, b_star + 0.01, b_star + 0.5, G.mean()):
        assert second_moment(b_star) <= second_moment(b) + 1e-12


def test_per_step_scores_match_autograd():
    torch.manual_seed(0)
    policy = CategoricalPolicy(3, 2, hidden=(5,))
    obs, act = torch.randn(4, 3), torch.tensor([0, 1, 1, 0])
    scores = per_step_scores(policy, obs, act)
    n_params = sum(p.numel() for p in policy.parameters())
    assert scores.shape == (4, n_params)
    for t in range(4):
        policy.zero_grad()
        policy.dist(obs[t : t + 1]).log_prob(act[t : t + 1]).sum().backward()
        ref = torch.cat([p.grad.reshape(-1) for p in policy.parameters()])
        torch.testing.assert_close(scores[t], ref, atol=1e-6, rtol=1e-5)


def test_per_episode_estimates_by_hand():
    scores = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    est = per_episode_estimates(scores, [2.0, 3.0, -1.0], ep_len=[2, 1])
    np.testing.assert_allclose(est, [[2.0, 3.0], [-1.0, -1.0]])


@pytest.mark.parametrize("call, msg", [
    (lambda: gradient_variance(np.ones(3)), "shape"),
    (lambda: gradient_variance(np.ones((1, 3))), "B >= 2"),
    (lambda: gradient_variance(np.array([[1.0, np.nan], [0.0, 0.0]])), "NaN"),
    (lambda: optimal_baseline(np.ones(2), np.ones(3)), "one length"),
    (lambda: optimal_baseline(-np.ones(2), np.ones(2)), "negative"),
    (lambda: optimal_baseline(np.zeros(2), np.ones(2)), "undefined"),
    (lambda: per_step_scores(CategoricalPolicy(3, 2), torch.zeros(4, 3), torch.zeros(3, dtype=torch.int64)), "act"),
    (lambda: per_episode_estimates(np.ones((3, 2)), np.ones(3), [1, 1]), "summing to T"),
])
def test_bad_arguments(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()
