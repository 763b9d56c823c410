"""pgcourse.losses (lessons 2-5): each loss against hand values, its gradient in closed form, what it detaches,
PPO's diagnostics, and the shape checks."""

import math

import numpy as np
import pytest
import torch

from pgcourse.losses import a2c_loss, approx_kl, baseline_loss, clip_fraction, ppo_clip_loss, reinforce_loss

EPS = 0.2


def _leaf(*values):
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


# ----------------------------------------------------------------------------- REINFORCE and baseline
def test_reinforce_loss_value_and_gradient():
    logp, ret = _leaf(-0.5, -1.0, -2.0), _leaf(3.0, -1.0, 2.0)
    loss = reinforce_loss(logp, ret)
    assert loss.ndim == 0 and loss.item() == pytest.approx(-(-1.5 + 1.0 - 4.0) / 3)
    loss.backward()
    np.testing.assert_allclose(logp.grad.numpy(), -ret.detach().numpy() / 3)  # d/dlogp_i = -ret_i / B
    assert ret.grad is None  # the returns are data


def test_baseline_loss_value_and_gradient():
    logp, ret, val = _leaf(-0.5, -1.0), _leaf(3.0, 1.0), _leaf(1.0, 2.0)
    loss = baseline_loss(logp, ret, val)
    assert loss.item() == pytest.approx(-(-0.5 * 2.0 + -1.0 * -1.0) / 2)
    loss.backward()
    np.testing.assert_allclose(logp.grad.numpy(), [-2.0 / 2, 1.0 / 2])  # -(ret - val) / B
    assert ret.grad is None and val.grad is None  # the advantage is detached: the critic has its own loss
    # a zero baseline is REINFORCE
    lp, r = torch.randn(6), torch.randn(6)
    torch.testing.assert_close(baseline_loss(lp, r, torch.zeros(6)), reinforce_loss(lp, r))


# ----------------------------------------------------------------------------- A2C
def test_a2c_loss_value_and_gradients():
    logp, ent, val = _leaf(-0.5, -1.0), _leaf(0.6, 0.4), _leaf(1.0, 2.0)
    ret, adv = _leaf(2.0, 0.0), _leaf(1.0, -3.0)
    loss = a2c_loss(logp, ent, val, ret, adv, vf_coef=0.5, ent_coef=0.1)
    policy = -(-0.5 * 1.0 + -1.0 * -3.0) / 2
    value = ((1.0 - 2.0) ** 2 + (2.0 - 0.0) ** 2) / 2
    assert loss.item() == pytest.approx(policy + 0.5 * value - 0.1 * 0.5)
    loss.backward()
    np.testing.assert_allclose(logp.grad.numpy(), [-1.0 / 2, 3.0 / 2])  # -adv / B
    np.testing.assert_allclose(val.grad.numpy(), [0.5 * 2 * (1.0 - 2.0) / 2, 0.5 * 2 * (2.0 - 0.0) / 2])  # vf * (val - ret)
    np.testing.assert_allclose(ent.grad.numpy(), [-0.1 / 2, -0.1 / 2])  # the entropy is a bonus: its gradient is -ent_coef / B
    assert ret.grad is None and adv.grad is None  # the critic's target and the advantage are data


def test_a2c_loss_gradient_matches_autograd_of_the_written_out_loss():
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(10, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(5)]
    logp, ent, val, ret, adv = xs
    grads = torch.autograd.grad(a2c_loss(logp, ent, val, ret, adv, 0.7, 0.03), (logp, ent, val))
    ref = -(logp * adv.detach()).mean() + 0.7 * ((val - ret.detach()) ** 2).mean() - 0.03 * ent.mean()
    for a, b in zip(grads, torch.autograd.grad(ref, (logp, ent, val))):
        torch.testing.assert_close(a, b)


# ----------------------------------------------------------------------------- PPO
def _clip_grad(ratio: float, adv: float, eps: float = EPS):
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
    loss, g = _clip_grad(ratio, adv)
    r_clip = min(max(ratio, 1 - EPS), 1 + EPS)
    assert loss == pytest.approx(-min(ratio * adv, r_clip * adv))
    if clipped:
        assert g == 0.0
    else:  # d/dlogp of -(r * A) = -r * A
        assert g == pytest.approx(-ratio * adv)


def test_clip_loss_is_a_mean_and_detaches_logp_old_and_adv():
    logp = torch.tensor([0.0, math.log(1.5), math.log(0.5)], requires_grad=True)
    logp_old = torch.zeros(3, requires_grad=True)
    adv = torch.tensor([2.0, 1.0, -1.0], requires_grad=True)
    loss = ppo_clip_loss(logp, logp_old, adv, EPS)
    assert loss.ndim == 0
    assert loss.item() == pytest.approx(-(2.0 + 1.2 * 1.0 + 0.8 * -1.0) / 3)
    loss.backward()
    assert logp_old.grad is None and adv.grad is None  # old log-probs and advantages are data
    np.testing.assert_allclose(logp.grad.numpy(), [-2.0 / 3, 0.0, 0.0], atol=1e-7)
    # at ratio 1 the clipped loss is the plain policy-gradient surrogate -mean(adv)
    a = torch.tensor([2.0, 1.0, -1.0])
    assert ppo_clip_loss(torch.zeros(3), torch.zeros(3), a, EPS).item() == pytest.approx(-a.mean().item())


def test_clip_loss_zero_gradient_regions():
    logp_old = torch.log(torch.tensor([0.5, 0.5, 0.5, 0.5]))
    logp = torch.log(torch.tensor([0.9, 0.2, 0.9, 0.2])).requires_grad_()
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0])
    ppo_clip_loss(logp, logp_old, adv, 0.2).backward()
    # r = 1.8 with A > 0 and r = 0.4 with A < 0 are clipped: no gradient; the other two keep theirs.
    assert logp.grad[0] == 0 and logp.grad[3] == 0 and logp.grad[1] != 0 and logp.grad[2] != 0


def test_approx_kl():
    g = torch.Generator().manual_seed(0)
    lp = torch.log_softmax(torch.randn(1000, 3, generator=g), -1)[:, 0]
    assert approx_kl(lp, lp).item() == 0.0
    for _ in range(5):
        assert approx_kl(lp + 0.3 * torch.randn(1000, generator=g), lp).item() > 0
    # hand value: r = e and r = 1/e give ((e - 1) - 1 + (1/e - 1) + 1) / 2
    two = approx_kl(torch.tensor([1.0, -1.0]), torch.zeros(2)).item()
    assert two == pytest.approx(((math.e - 2) + (1 / math.e)) / 2, rel=1e-6)
    # close to the exact KL(p_old || p) for two Bernoullis, sampling from p_old
    p_old, p = 0.5, 0.6
    act = torch.rand(200_000, generator=g) < p_old
    logp_old = torch.where(act, math.log(p_old), math.log(1 - p_old))
    logp = torch.where(act, math.log(p), math.log(1 - p))
    exact = p_old * math.log(p_old / p) + (1 - p_old) * math.log((1 - p_old) / (1 - p))
    assert approx_kl(logp, logp_old).item() == pytest.approx(exact, rel=0.05)
    assert not approx_kl(lp.clone().requires_grad_(), lp).requires_grad  # a diagnostic: no gradient


def test_clip_fraction():
    logp_old = torch.zeros(5)
    logp = torch.log(torch.tensor([1.0, 1.1, 1.3, 0.7, 0.85]))  # ratios: inside, inside, above, below, inside
    assert clip_fraction(logp, logp_old, 0.2).item() == pytest.approx(2 / 5)
    assert clip_fraction(logp, logp_old, 0.05).item() == pytest.approx(4 / 5)
    assert clip_fraction(logp_old, logp_old).item() == 0.0
    assert not clip_fraction(logp.clone().requires_grad_(), logp_old).requires_grad


# ----------------------------------------------------------------------------- shapes and arguments
@pytest.mark.parametrize("call, msg", [
    (lambda: reinforce_loss(torch.zeros(3), torch.zeros(4)), "one shape"),
    (lambda: reinforce_loss(torch.zeros(3, 1), torch.zeros(3, 1)), r"\(B,\)"),
    (lambda: reinforce_loss(torch.tensor(1.0), torch.tensor(1.0)), "1-D"),
    (lambda: reinforce_loss(torch.zeros(3), np.zeros(3)), "torch.Tensor"),
    (lambda: baseline_loss(torch.zeros(3), torch.zeros(3), torch.zeros(2)), "one shape"),
    (lambda: a2c_loss(*[torch.zeros(3)] * 4, torch.zeros(2)), "one shape"),
    (lambda: a2c_loss(*[torch.zeros(3)] * 5, vf_coef=-1.0), "vf_coef"),
    (lambda: a2c_loss(*[torch.zeros(3)] * 5, ent_coef=-0.1), "ent_coef"),
    (lambda: ppo_clip_loss(torch.zeros(3), torch.zeros(3), torch.zeros(3), 0.0), "clip_eps"),
    (lambda: ppo_clip_loss(torch.zeros(3), torch.zeros(3), torch.zeros(3), -0.1), "clip_eps"),
    (lambda: ppo_clip_loss(torch.zeros(3), torch.zeros(3), torch.zeros(3), None), "clip_eps"),
    (lambda: ppo_clip_loss(torch.zeros(3), torch.zeros(4), torch.zeros(3), EPS), "same shape"),
    (lambda: ppo_clip_loss(torch.zeros(3), torch.zeros(3), torch.zeros(3, 1), EPS), "adv"),
    (lambda: approx_kl(torch.zeros(3), torch.zeros(2)), "same shape"),
    (lambda: approx_kl(torch.zeros(2, 2), torch.zeros(2, 2)), "same shape"),
    (lambda: approx_kl(np.zeros(2), torch.zeros(2)), "torch tensors"),
    (lambda: clip_fraction(torch.zeros(3), torch.zeros(2)), "same shape"),
])
def test_bad_arguments(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()
