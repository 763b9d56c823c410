"""TD errors, n-step returns and GAE: the two ends of lambda, episode boundaries, truncation, validation."""

import numpy as np
import pytest

from pgcourse.advantages import gae, nstep_returns, td_errors
from pgcourse.returns import reward_to_go


def _rollout(seed, T=40, N=3):
    rng = np.random.default_rng(seed)
    rew, val = rng.normal(size=(T, N)), rng.normal(size=(T, N))
    term = rng.random((T, N)) < 0.1
    trunc = (rng.random((T, N)) < 0.08) & ~term
    next_val = rng.normal(size=(T, N))
    inside = ~(term | trunc)
    next_val[:-1] = np.where(inside[:-1], val[1:], next_val[:-1])   # consistent inside episodes
    return rew, val, next_val, term, trunc


@pytest.mark.parametrize("seed", range(3))
def test_lambda_zero_is_the_td_error(seed):
    rew, val, nv, te, tr = _rollout(seed)
    adv, ret = gae(rew, val, nv, te, tr, 0.9, 0.0)
    np.testing.assert_allclose(adv, td_errors(rew, val, nv, te, 0.9))
    np.testing.assert_allclose(ret, nstep_returns(rew, nv, te, tr, 0.9, 1))


@pytest.mark.parametrize("seed", range(3))
def test_lambda_one_is_return_minus_value(seed):
    rew, val, nv, te, tr = _rollout(seed)
    adv, ret = gae(rew, val, nv, te, tr, 0.9, 1.0)
    np.testing.assert_allclose(ret, nstep_returns(rew, nv, te, tr, 0.9, 10_000), atol=1e-12)
    np.testing.assert_allclose(adv, ret - val)


def test_lambda_one_on_terminated_episode_is_reward_to_go_minus_value():
    rew = np.array([1.0, 2.0, 3.0])
    val = np.array([0.3, 0.2, 0.1])
    adv, _ = gae(rew, val, np.array([0.2, 0.1, 9.9]), np.array([False, False, True]), np.zeros(3, bool), 0.9, 1.0)
    np.testing.assert_allclose(adv, reward_to_go(rew, 0.9) - val)


def test_truncation_bootstraps_and_termination_does_not():
    rew, val, nv = np.array([1.0]), np.array([0.0]), np.array([10.0])
    assert gae(rew, val, nv, np.array([False]), np.array([True]), 0.5, 0.9)[0][0] == pytest.approx(6.0)
    assert gae(rew, val, nv, np.array([True]), np.array([False]), 0.5, 0.9)[0][0] == pytest.approx(1.0)


def test_recursion_stops_at_episode_end():
    rew = np.array([0.0, 0.0, 100.0])
    done_first = np.array([False, True, False])
    adv, _ = gae(rew, np.zeros(3), np.zeros(3), done_first, np.zeros(3, bool), 1.0, 1.0)
    np.testing.assert_allclose(adv, [0.0, 0.0, 100.0])


def test_nstep_interpolates():
    rew, val, nv, te, tr = _rollout(0)
    r1, r3 = nstep_returns(rew, nv, te, tr, 0.9, 1), nstep_returns(rew, nv, te, tr, 0.9, 3)
    assert r1.shape == r3.shape == rew.shape and not np.allclose(r1, r3)


@pytest.mark.parametrize("call, msg", [
    (lambda: gae(np.ones(3), np.ones(3), np.ones(3), np.zeros(3, bool), np.zeros(3, bool), 1.1, 0.9), "gamma"),
    (lambda: gae(np.ones(3), np.ones(3), np.ones(3), np.zeros(3, bool), np.zeros(3, bool), 0.9, -0.1), "lam"),
    (lambda: gae(np.ones(3), np.ones(2), np.ones(3), np.zeros(3, bool), np.zeros(3, bool), 0.9, 0.9), "val"),
    (lambda: gae(np.ones(0), np.ones(0), np.ones(0), np.zeros(0, bool), np.zeros(0, bool), 0.9, 0.9), "T >= 1"),
    (lambda: gae(np.ones(2), np.ones(2), np.ones(2), np.array([0, 2]), np.zeros(2, bool), 0.9, 0.9), "boolean"),
    (lambda: gae(np.ones(2), np.array([1, np.nan]), np.ones(2), np.zeros(2, bool), np.zeros(2, bool), 0.9, 0.9), "NaN"),
    (lambda: nstep_returns(np.ones(2), np.ones(2), np.zeros(2, bool), np.zeros(2, bool), 0.9, 0), "positive"),
])
def test_bad_arguments(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()
