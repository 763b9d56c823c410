"""pgcourse.labs.gae_lab (lesson 4): the random-walk chain's exact values, and GAE's bias falling / variance rising with lambda."""

import numpy as np
import pytest

from pgcourse.labs import gae_lab


def test_exact_values_match_monte_carlo():
    c = gae_lab.Chain()
    ex = gae_lab.exact_values(c)
    ro = gae_lab.rollouts(c, 20_000, seed=0)
    G = (ro["rew"] * c.gamma ** np.arange(len(ro["rew"]))[:, None]).sum(0)
    assert G.mean() == pytest.approx(ex["V"][c.n_states // 2], abs=4 * G.std() / np.sqrt(len(G)))
    np.testing.assert_allclose((np.array([1 - c.p_right, c.p_right]) * ex["A"]).sum(1), 0, atol=1e-12)


def test_bias_falls_and_variance_rises_with_lambda():
    r = gae_lab.gae_bias_variance(gae_lab.Chain(), np.linspace(0, 1, 11), critic_error=1.0, n_episodes=2000)
    assert np.all(np.diff(r["bias2"]) <= 1e-12) and r["bias2"][-1] < 1e-3
    assert np.all(np.diff(r["var"]) >= -1e-12)
    best = r["lams"][np.argmin(r["mse"])]
    assert 0 < best < 1      # with this critic the best lambda is strictly in between


def test_perfect_critic_is_unbiased_at_every_lambda():
    r = gae_lab.gae_bias_variance(gae_lab.Chain(), [0.0, 0.5, 1.0], critic_error=0.0, n_episodes=4000)
    assert r["bias2"].max() < 1e-3


@pytest.mark.parametrize("kwargs, msg", [
    ({"lams": [1.5]}, "lams"), ({"lams": [0.5], "critic_error": 2.5}, "critic_error"),
])
def test_bad_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        gae_lab.gae_bias_variance(gae_lab.Chain(), **kwargs)


def test_nstep_bias_variance_ends_and_trend():
    chain = gae_lab.Chain()
    nr = gae_lab.nstep_bias_variance(chain, [1, 4, 64], n_episodes=500, seed=3)
    ends = gae_lab.gae_bias_variance(chain, [0.0, 1.0], n_episodes=500, seed=3)
    assert np.isclose(nr["bias2"][0], ends["bias2"][0]) and np.isclose(nr["var"][0], ends["var"][0])
    assert nr["bias2"][-1] < nr["bias2"][1] < nr["bias2"][0] and nr["var"][0] < nr["var"][1] < nr["var"][-1]
    assert np.allclose(nr["mse"], nr["bias2"] + nr["var"])


def test_nstep_bias_variance_rejects_bad_n():
    for bad in ([], [0, 1], [1.5]):
        with pytest.raises(ValueError, match="ns"):
            gae_lab.nstep_bias_variance(gae_lab.Chain(), bad)
    with pytest.raises(ValueError, match="critic_error"):
        gae_lab.nstep_bias_variance(gae_lab.Chain(), [1], critic_error=2.5)
