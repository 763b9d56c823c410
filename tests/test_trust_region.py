"""pgcourse.labs.trust_region (lesson 5): the surrogate laboratory, the softmax's Fisher matrix, the clip's
per-sample objective."""

import numpy as np
import pytest
import torch

from pgcourse.labs import tabular, trust_region
from pgcourse.losses import ppo_clip_loss
from pgcourse.util import cmp, seed_everything


def test_fisher_is_the_hessian_of_kl():
    t0 = torch.tensor([1.0, -0.5], dtype=torch.float64)
    H = torch.autograd.functional.hessian(
        lambda t: (trust_region.softmax3(t0) * (trust_region.softmax3(t0).log() - trust_region.softmax3(t).log())).sum(), t0)
    assert cmp("fisher", trust_region.fisher_softmax3(t0.numpy()), H)


def test_kl_softmax3():
    assert trust_region.kl_softmax3([0.3, -0.2], [0.3, -0.2]) == pytest.approx(0.0, abs=1e-15)
    p, q = trust_region.softmax3([1.0, 0.0]).numpy(), trust_region.softmax3([0.0, 0.0]).numpy()
    assert trust_region.kl_softmax3([1.0, 0.0], [0.0, 0.0]) == pytest.approx(float((p * np.log(p / q)).sum()))
    np.testing.assert_allclose(q, 1 / 3)


def test_clipping_keeps_the_policy_near_the_data():
    rng = seed_everything(0)
    mdp = tabular.random_mdp(5, 3, horizon=6, gamma=0.95, seed=0)
    th = rng.normal(0, 0.5, size=(5, 3))
    batch = tabular.sample_trajectories(th, mdp, 10, rng, reward_noise=5.0)
    cpi = trust_region.surrogate_ascent(mdp, th, batch, trust_region.cpi_loss, steps=200)
    clip = trust_region.surrogate_ascent(mdp, th, batch, lambda lp, lo, a: ppo_clip_loss(lp, lo, a, 0.2), steps=200)
    assert cpi["kl"][-1] > 10 * clip["kl"][-1] and cpi["max_ratio"][-1] > clip["max_ratio"][-1]
    assert cpi["J"].shape == (201,) and cpi["kl"][0] == pytest.approx(0.0, abs=1e-12)
    assert cpi["max_ratio"][0] == pytest.approx(1.0)


def test_batch_advantages_are_centred_per_time_step():
    traj = {"rew": np.array([[1.0, 0.0], [3.0, 2.0]])}
    adv = trust_region.batch_advantages(traj, gamma=1.0)  # reward-to-go [[1, 0], [5, 2]], centred per step
    np.testing.assert_allclose(adv, [[-2.0, -1.0], [2.0, 1.0]])


@pytest.mark.parametrize("adv", [1.0, -1.0])
def test_clipped_objective_by_cases(adv):
    r = np.array([0.5, 0.9, 1.0, 1.1, 1.5])
    out = trust_region.clipped_objective(r, adv, 0.2)
    np.testing.assert_allclose(out["cpi"], r * adv)
    np.testing.assert_allclose(out["clip"], np.minimum(r * adv, np.clip(r, 0.8, 1.2) * adv))
    np.testing.assert_allclose(out["d_cpi"], adv)
    # the clipped objective's slope is 0 past 1 + eps when A > 0 and below 1 - eps when A < 0, else A
    flat = r > 1.2 if adv > 0 else r < 0.8
    np.testing.assert_allclose(out["d_clip"], np.where(flat, 0.0, adv))
    # d_clip is the numerical derivative of clip, away from the kinks
    h = 1e-6
    num = (trust_region.clipped_objective(r + h, adv, 0.2)["clip"] - trust_region.clipped_objective(r - h, adv, 0.2)["clip"]) / (2 * h)
    np.testing.assert_allclose(out["d_clip"], num, atol=1e-6)


@pytest.mark.parametrize("call, msg", [
    (lambda: trust_region.surrogate_ascent(tabular.random_mdp(3, 2), np.zeros((2, 2)), {}, trust_region.cpi_loss), "shape"),
    (lambda: trust_region.clipped_objective(np.ones(3), 1.0, 0.0), "eps"),
])
def test_bad_arguments(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()
