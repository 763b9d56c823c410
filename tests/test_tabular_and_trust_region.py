"""The exactly solvable tabular MDP, and lesson 5's trust-region laboratory."""

import numpy as np
import pytest
import torch

from pgcourse import seed_everything, tabular, trust_region
from pgcourse.losses import ppo_clip_loss
from pgcourse.verify import cmp


def test_exact_return_matches_monte_carlo():
    mdp = tabular.random_mdp(3, 2, horizon=5, gamma=0.9, seed=1)
    theta = np.random.default_rng(0).normal(size=(3, 2))
    traj = tabular.sample_trajectories(theta, mdp, 40_000, np.random.default_rng(1))
    G = (traj["rew"] * 0.9 ** np.arange(5)).sum(1)
    J = float(tabular.exact_return(torch.tensor(theta), mdp))
    assert G.mean() == pytest.approx(J, abs=4 * G.std() / np.sqrt(len(G)))


def test_tabular_scores_match_autograd():
    theta = np.random.default_rng(2).normal(size=(3, 2))
    obs, act = np.array([[0, 2]]), np.array([[1, 0]])
    s = tabular.tabular_scores(theta, obs, act)
    for t in range(2):
        th = torch.tensor(theta, requires_grad=True)
        (g,) = torch.autograd.grad(torch.log_softmax(th, -1)[obs[0, t], act[0, t]], th)
        np.testing.assert_allclose(s[0, t], g.numpy(), atol=1e-12)


def test_fisher_is_the_hessian_of_kl():
    t0 = torch.tensor([1.0, -0.5], dtype=torch.float64)
    H = torch.autograd.functional.hessian(
        lambda t: (trust_region.softmax3(t0) * (trust_region.softmax3(t0).log() - trust_region.softmax3(t).log())).sum(), t0)
    assert cmp("fisher", trust_region.fisher_softmax3(t0.numpy()), H)


def test_clipping_keeps_the_policy_near_the_data():
    rng = seed_everything(0)
    mdp = tabular.random_mdp(5, 3, horizon=6, gamma=0.95, seed=0)
    th = rng.normal(0, 0.5, size=(5, 3))
    batch = tabular.sample_trajectories(th, mdp, 10, rng, reward_noise=5.0)
    cpi = trust_region.surrogate_ascent(mdp, th, batch, trust_region.cpi_loss, steps=200)
    clip = trust_region.surrogate_ascent(mdp, th, batch, lambda lp, lo, a: ppo_clip_loss(lp, lo, a, 0.2), steps=200)
    assert cpi["kl"][-1] > 10 * clip["kl"][-1] and cpi["max_ratio"][-1] > clip["max_ratio"][-1]
    assert cpi["J"].shape == (201,)


@pytest.mark.parametrize("call, msg", [
    (lambda: tabular.random_mdp(1, 1), "n_actions"),
    (lambda: tabular.exact_return(torch.zeros(2, 2), tabular.random_mdp(3, 2)), "shape"),
    (lambda: tabular.sample_trajectories(np.zeros((3, 2)), tabular.random_mdp(3, 2), 0, np.random.default_rng()), "n"),
    (lambda: trust_region.surrogate_ascent(tabular.random_mdp(3, 2), np.zeros((2, 2)), {}, trust_region.cpi_loss), "shape"),
])
def test_bad_arguments(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()
