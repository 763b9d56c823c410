"""pgcourse.ppo: the clipped surrogate by cases, approx-KL, a short real run, the no-clip ablation."""

import math

import numpy as np
import pytest
import torch

from pgcourse.a2c import ACHistory
from pgcourse.ppo import PPOConfig, approx_kl, ppo_clip_loss, train_ppo

EPS = 0.2


def _grad(ratio: float, adv: float, eps: float = EPS):
    """Loss and d loss / d logp for one sample with the given ratio and advantage."""
    logp = torch.tensor([math.log(ratio)], requires_grad=True)
    loss = ppo_clip_loss(logp, torch.zeros(1), torch.tensor([adv]), eps)
    loss.backward()
    return loss.item(), logp.grad.item()


@pytest.mark.parametrize(
    "ratio, adv, clipped",
    [
        (1.5, 1.0, True),  # A > 0, r > 1 + eps: no incentive to push further
        (0.5, -1.0, True),  # A < 0, r < 1 - eps: same on the other side
        (1.1, 1.0, False),  # inside the trust region: plain ratio * A
        (0.9, -1.0, False),
        (0.5, 1.0, False),  # A > 0, r < 1 - eps: the min keeps the unclipped (worse) term
        (1.5, -1.0, False),  # A < 0, r > 1 + eps: likewise, the gradient pulls r back
    ],
)
def test_clip_loss_by_cases(ratio, adv, clipped):
    loss, g = _grad(ratio, adv)
    r_clip = min(max(ratio, 1 - EPS), 1 + EPS)
    assert loss == pytest.approx(-min(ratio * adv, r_clip * adv))
    if clipped:
        assert g == 0.0
    else:  # d/dlogp of -(r * A) = -r * A
        assert g == pytest.approx(-ratio * adv)


def test_clip_loss_is_a_mean_and_detaches_logp_old():
    logp = torch.tensor([0.0, math.log(1.5), math.log(0.5)], requires_grad=True)
    logp_old = torch.zeros(3, requires_grad=True)
    adv = torch.tensor([2.0, 1.0, -1.0])
    loss = ppo_clip_loss(logp, logp_old, adv, EPS)
    assert loss.ndim == 0
    assert loss.item() == pytest.approx(-(2.0 + 1.2 * 1.0 + 0.8 * -1.0) / 3)
    loss.backward()
    assert logp_old.grad is None  # old log-probs are data, not parameters
    np.testing.assert_allclose(logp.grad.numpy(), [-2.0 / 3, 0.0, 0.0], atol=1e-7)
    # at ratio 1 the clipped loss is the plain policy-gradient surrogate -mean(adv)
    assert ppo_clip_loss(torch.zeros(3), torch.zeros(3), adv, EPS).item() == pytest.approx(-adv.mean().item())


def test_approx_kl():
    g = torch.Generator().manual_seed(0)
    lp = torch.log_softmax(torch.randn(1000, 3, generator=g), -1)[:, 0]
    assert approx_kl(lp, lp).item() == 0.0
    for _ in range(5):
        lp2 = lp + 0.3 * torch.randn(1000, generator=g)
        kl = approx_kl(lp2, lp).item()
        assert kl > 0
    # each term (r - 1) - log r is >= 0, so the mean is >= 0 for any sample
    lr = torch.linspace(-3, 3, 61, dtype=torch.float64)
    assert torch.all(torch.exp(lr) - 1 - lr >= -1e-12)
    # close to the exact KL(p_old || p) for two Bernoullis, sampling from p_old
    p_old, p = 0.5, 0.6
    act = torch.rand(200_000, generator=g) < p_old
    logp_old = torch.where(act, math.log(p_old), math.log(1 - p_old))
    logp = torch.where(act, math.log(p), math.log(1 - p))
    exact = p_old * math.log(p_old / p) + (1 - p_old) * math.log((1 - p_old) / (1 - p))
    assert approx_kl(logp, logp_old).item() == pytest.approx(exact, rel=0.05)


def test_bad_input():
    z = torch.zeros(3)
    for eps in (0, -0.1, 0.0):
        with pytest.raises(ValueError, match="clip_eps"):
            ppo_clip_loss(z, z, z, eps)
    with pytest.raises(ValueError, match="clip_eps"):
        ppo_clip_loss(z, z, z, None)
    with pytest.raises(ValueError, match="same shape"):
        ppo_clip_loss(z, torch.zeros(4), z, EPS)
    with pytest.raises(ValueError, match="adv"):
        ppo_clip_loss(z, z, torch.zeros(3, 1), EPS)
    with pytest.raises(ValueError, match="same shape"):
        approx_kl(z, torch.zeros(2))
    for kw in ({"n_epochs": 0}, {"minibatch_size": 0}, {"clip_eps": 0.0}, {"clip_eps": -1},
               {"gamma": 1.5}, {"gae_lambda": -0.1}, {"lr": 0}, {"num_envs": 0}, {"target_kl": 0}):
        with pytest.raises(ValueError):
            PPOConfig(**kw)
    with pytest.raises(ValueError, match="PPOConfig"):
        train_ppo(config=object())


@pytest.fixture(scope="module")
def short_run():
    return train_ppo(PPOConfig(seed=0, total_steps=8_000, stop_return=None, progress=False))


def test_short_run_learns(short_run):
    h = short_run
    assert isinstance(h, ACHistory)
    first, last = np.mean(h.ep_ret[:20]), np.mean(h.ep_ret[-20:])
    # a near-uniform policy lasts ~22 steps
    assert first < 35, first
    assert last > 100, last


def test_history(short_run):
    h = short_run
    n = len(h.loss)
    assert n >= 5
    for name in ("policy_loss", "value_loss", "entropy", "explained_var", "approx_kl", "clip_frac",
                 "lr", "env_steps", "wall_s"):
        assert len(getattr(h, name)) == n, name
        assert np.all(np.isfinite(getattr(h, name))), name
    assert len(h.ep_ret) == len(h.ep_len) == len(h.ep_end) > 0
    np.testing.assert_array_equal(h.ep_ret, h.ep_len)  # CartPole: reward 1 per step
    assert np.all(np.diff(h.env_steps) > 0) and h.env_steps[-1] >= 8_000
    assert h.env_steps_simulated >= h.env_steps[-1]
    assert np.all(np.asarray(h.approx_kl) >= 0) and np.all((0 <= np.asarray(h.clip_frac)) & (np.asarray(h.clip_frac) <= 1))
    assert h.entropy[0] == pytest.approx(math.log(2), abs=0.02) and h.entropy[-1] < h.entropy[0]
    assert np.mean(h.ep_ret[-20:]) > 2 * np.mean(h.ep_ret[:20])  # the policy has learnt something
    assert not h.stopped_at_return and h.steps_at_stop is None
    assert "PPO" in repr(h)


def test_no_clip_ablation_moves_the_policy_further():
    kw = dict(seed=0, total_steps=3_000, stop_return=None, n_epochs=20, progress=False)
    clipped = train_ppo(**kw)
    unclipped = train_ppo(clip_eps=None, **kw)
    # without the clip, many epochs push the policy far from the one that collected the data
    assert np.mean(unclipped.approx_kl) > 3 * np.mean(clipped.approx_kl)
    assert np.mean(unclipped.clip_frac) > np.mean(clipped.clip_frac)


def test_seeded_runs_repeat():
    a = train_ppo(seed=3, total_steps=1_500, stop_return=None, progress=False)
    b = train_ppo(seed=3, total_steps=1_500, stop_return=None, progress=False)
    assert a.ep_ret == b.ep_ret and a.loss == b.loss
