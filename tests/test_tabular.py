"""pgcourse.labs.tabular (lessons 2 and 4): the exactly solvable tabular MDP."""

import numpy as np
import pytest
import torch

from pgcourse.labs import tabular


def test_exact_return_matches_monte_carlo():
    mdp = tabular.random_mdp(3, 2, horizon=5, gamma=0.9, seed=1)
    theta = np.random.default_rng(0).normal(size=(3, 2))
    traj = tabular.sample_trajectories(theta, mdp, 40_000, np.random.default_rng(1))
    assert traj["obs"].shape == traj["act"].shape == traj["rew"].shape == (40_000, 5)
    G = (traj["rew"] * 0.9 ** np.arange(5)).sum(1)
    J = float(tabular.exact_return(torch.tensor(theta), mdp))
    assert G.mean() == pytest.approx(J, abs=4 * G.std() / np.sqrt(len(G)))


def test_exact_return_gradient_is_the_expected_score_weighted_return():
    """Autograd of exact_return is the policy gradient: E[sum_t grad log pi(a_t|s_t) * G] by Monte Carlo."""
    mdp = tabular.random_mdp(2, 2, horizon=3, gamma=1.0, seed=3)
    theta = np.random.default_rng(4).normal(size=(2, 2))
    th = torch.tensor(theta, requires_grad=True)
    (g,) = torch.autograd.grad(tabular.exact_return(th, mdp), th)
    traj = tabular.sample_trajectories(theta, mdp, 100_000, np.random.default_rng(5))
    scores = tabular.tabular_scores(theta, traj["obs"], traj["act"]).sum(1)  # (n, S, A)
    est = (scores * traj["rew"].sum(1)[:, None, None]).mean(0)
    np.testing.assert_allclose(est, g.numpy(), atol=0.03)


def test_tabular_scores_match_autograd():
    theta = np.random.default_rng(2).normal(size=(3, 2))
    obs, act = np.array([[0, 2]]), np.array([[1, 0]])
    s = tabular.tabular_scores(theta, obs, act)
    for t in range(2):
        th = torch.tensor(theta, requires_grad=True)
        (g,) = torch.autograd.grad(torch.log_softmax(th, -1)[obs[0, t], act[0, t]], th)
        np.testing.assert_allclose(s[0, t], g.numpy(), atol=1e-12)


@pytest.mark.parametrize("call, msg", [
    (lambda: tabular.random_mdp(1, 1), "n_actions"),
    (lambda: tabular.exact_return(torch.zeros(2, 2), tabular.random_mdp(3, 2)), "shape"),
    (lambda: tabular.sample_trajectories(np.zeros((3, 2)), tabular.random_mdp(3, 2), 0, np.random.default_rng()), "n"),
    (lambda: tabular.TabularMDP(np.ones(2) / 2, np.ones((2, 2, 2)), np.zeros((2, 2)), horizon=2), "sum to 1"),
    (lambda: tabular.TabularMDP(np.ones(2) / 2, np.ones((2, 2, 2)) / 2, np.zeros((2, 2)), horizon=0), "horizon"),
])
def test_bad_arguments(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


def test_exact_values_match_exact_return_and_monte_carlo():
    mdp = tabular.random_mdp(3, 2, horizon=4, gamma=0.9, seed=0)
    theta = np.random.default_rng(1).normal(size=(3, 2))
    ex = tabular.exact_values(theta, mdp)
    assert ex["V"].shape == (4, 3) and ex["Q"].shape == (4, 3, 2) and ex["d"].shape == (4, 3)
    J = float(tabular.exact_return(torch.tensor(theta), mdp))
    assert mdp.p0 @ ex["V"][0] == pytest.approx(J, abs=1e-12)
    np.testing.assert_allclose((ex["pi"] * (ex["Q"] - ex["V"][..., None])).sum(-1), 0, atol=1e-12)
    # Q[0, s, a] is the mean return after starting in s with a
    traj = tabular.sample_trajectories(theta, mdp, 100_000, np.random.default_rng(2))
    G = (traj["rew"] * 0.9 ** np.arange(4)).sum(1)
    for s in range(3):
        for a in range(2):
            m = (traj["obs"][:, 0] == s) & (traj["act"][:, 0] == a)
            tol = 5 * G[m].std() / np.sqrt(m.sum())
            assert G[m].mean() == pytest.approx(ex["Q"][0, s, a], abs=tol)


def test_exact_values_rejects_bad_theta():
    with pytest.raises(ValueError, match="theta must have shape"):
        tabular.exact_values(np.zeros((2, 2)), tabular.random_mdp(3, 2))


def test_short_corridor_values():
    v = tabular.short_corridor_values([0.0, 1.0], gamma=0.99)
    np.testing.assert_allclose(v, -1 / (1 - 0.99))          # deterministic: never reaches the goal
    ps = np.linspace(0, 1, 2001)
    vals = tabular.short_corridor_values(ps, gamma=0.999999)
    assert ps[vals.argmax()] == pytest.approx(2 - np.sqrt(2), abs=1e-3)   # Sutton & Barto
    assert vals.max() == pytest.approx(-(6 + 4 * np.sqrt(2)), abs=1e-3)
    with pytest.raises(ValueError):
        tabular.short_corridor_values([1.5])
