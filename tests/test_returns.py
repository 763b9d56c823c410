"""pgcourse.returns: discounted returns and reward-to-go."""

import numpy as np
import pytest
import torch

from pgcourse.returns import (
    discounted_returns,
    reward_to_go,
    reward_to_go_episodes,
    reward_to_go_loop,
)


# ----------------------------------------------------------------------------- hand cases
def test_discounted_returns_hand_case():
    # 1 + 0.5*2 + 0.25*4 = 3
    assert discounted_returns([1.0, 2.0, 4.0], 0.5) == pytest.approx(3.0)
    assert discounted_returns([1.0, 1.0, 1.0], 1.0) == pytest.approx(3.0)
    assert discounted_returns([5.0, 1.0, 1.0], 0.0) == pytest.approx(5.0)
    assert isinstance(discounted_returns([1.0], 0.9), float)


def test_discounted_returns_per_column():
    rew = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
    np.testing.assert_allclose(discounted_returns(rew, 0.5), [1.75, 0.5])


def test_reward_to_go_hand_case():
    # G_2 = 4, G_1 = 2 + 0.5*4 = 4, G_0 = 1 + 0.5*4 = 3
    np.testing.assert_allclose(reward_to_go([1.0, 2.0, 4.0], 0.5), [3.0, 4.0, 4.0])
    np.testing.assert_allclose(reward_to_go_loop([1.0, 2.0, 4.0], 0.5), [3.0, 4.0, 4.0])
    np.testing.assert_allclose(reward_to_go(np.ones(4), 1.0), [4, 3, 2, 1])
    np.testing.assert_allclose(reward_to_go([3.0, 1.0], 0.0), [3.0, 1.0])


def test_reward_to_go_first_entry_is_the_episode_return():
    rng = np.random.default_rng(0)
    rew = rng.normal(size=50)
    assert reward_to_go(rew, 0.97)[0] == pytest.approx(discounted_returns(rew, 0.97))


# ----------------------------------------------------------------------------- against the loop
@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9, 0.99, 1.0])
def test_reward_to_go_matches_loop(gamma):
    rng = np.random.default_rng(1)
    for T in (1, 2, 17, 500):
        rew = rng.normal(size=T)
        np.testing.assert_allclose(reward_to_go(rew, gamma), reward_to_go_loop(rew, gamma), rtol=1e-12, atol=1e-12)


def test_reward_to_go_vectorised_over_columns():
    rng = np.random.default_rng(2)
    rew = rng.normal(size=(30, 5))
    out = reward_to_go(rew, 0.9)
    assert out.shape == (30, 5)
    for j in range(5):
        np.testing.assert_allclose(out[:, j], reward_to_go_loop(rew[:, j], 0.9))


@pytest.mark.parametrize("gamma", [0.0, 0.9, 1.0])
def test_reward_to_go_episodes_restarts_after_done(gamma):
    rng = np.random.default_rng(3)
    lens = [1, 5, 3, 12, 1]
    eps = [rng.normal(size=n) for n in lens]
    rew = np.concatenate(eps)
    done = np.zeros(len(rew), dtype=bool)
    done[np.cumsum(lens) - 1] = True
    expected = np.concatenate([reward_to_go_loop(e, gamma) for e in eps])
    np.testing.assert_allclose(reward_to_go_episodes(rew, done, gamma), expected, rtol=1e-12, atol=1e-12)


def test_reward_to_go_episodes_hand_case():
    out = reward_to_go_episodes([1.0, 1.0, 1.0, 1.0, 1.0], [False, True, False, False, True], 1.0)
    np.testing.assert_allclose(out, [2, 1, 3, 2, 1])


def test_torch_in_torch_out():
    rew = torch.tensor([1.0, 2.0, 4.0])
    out = reward_to_go(rew, 0.5)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor([3.0, 4.0, 4.0]))
    out = reward_to_go_episodes(rew, torch.tensor([True, False, True]), 0.5)
    torch.testing.assert_close(out, torch.tensor([1.0, 4.0, 4.0]))


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("gamma", [-0.1, 1.01, float("nan"), "0.9", None, True])
@pytest.mark.parametrize(
    "fn", [discounted_returns, reward_to_go, reward_to_go_loop, lambda r, g: reward_to_go_episodes(r, [True], g)]
)
def test_bad_gamma(fn, gamma):
    with pytest.raises(ValueError, match="gamma"):
        fn([1.0], gamma)


@pytest.mark.parametrize("fn", [discounted_returns, reward_to_go, reward_to_go_loop])
def test_empty_episode(fn):
    with pytest.raises(ValueError, match="empty"):
        fn([], 0.9)


def test_wrong_shapes_and_values():
    with pytest.raises(ValueError, match="shape"):
        reward_to_go(np.zeros((2, 3, 4)), 0.9)
    with pytest.raises(ValueError, match="shape"):
        reward_to_go(np.float64(1.0), 0.9)
    with pytest.raises(ValueError, match=r"\(T,\)"):
        reward_to_go_loop(np.zeros((3, 2)), 0.9)
    with pytest.raises(ValueError, match="NaN"):
        reward_to_go([1.0, np.nan], 0.9)
    with pytest.raises(ValueError, match="array of numbers"):
        reward_to_go(["a", "b"], 0.9)


def test_reward_to_go_episodes_bad_done():
    with pytest.raises(ValueError, match="same shape"):
        reward_to_go_episodes([1.0, 1.0], [True], 0.9)
    with pytest.raises(ValueError, match="done\\[-1\\]"):
        reward_to_go_episodes([1.0, 1.0], [True, False], 0.9)
    with pytest.raises(ValueError, match="boolean"):
        reward_to_go_episodes([1.0, 1.0], [0.5, 1.0], 0.9)
