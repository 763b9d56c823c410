"""pgcourse.rlhf: the four references of lesson 7 against hand values and autograd; bad input -> ValueError."""

import math

import pytest
import torch
from torch.nn import functional as F

from pgcourse.rlhf import bradley_terry_loss, dpo_loss, grpo_advantages, kl_penalised_rewards


def sp(x):
    return math.log1p(math.exp(x))


def test_bradley_terry_by_hand_and_by_autograd():
    rc = torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64, requires_grad=True)
    rr = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64, requires_grad=True)
    loss = bradley_terry_loss(rc, rr)
    assert loss.item() == pytest.approx((sp(-1) + math.log(2) + sp(2)) / 3, rel=1e-12)
    loss.backward()
    d = torch.tensor([1.0, 0.0, -2.0], dtype=torch.float64)
    torch.testing.assert_close(rc.grad, -torch.sigmoid(-d) / 3)     # d/dr_c of softplus(-d) / B
    torch.testing.assert_close(rr.grad, torch.sigmoid(-d) / 3)
    # finite for any margin, where log(sigmoid()) is not
    assert bradley_terry_loss(torch.tensor([0.0]), torch.tensor([1e4])).item() == pytest.approx(1e4)


def test_bradley_terry_is_the_likelihood_of_preferences():
    """Minimising it on labels drawn from sigmoid(r_a - r_b) recovers the reward difference."""
    torch.manual_seed(0)
    true = 0.8
    prefer_a = torch.rand(20_000) < torch.sigmoid(torch.tensor(true))
    w = torch.zeros((), requires_grad=True)                        # r(a) = w, r(b) = 0
    for _ in range(100):
        r_chosen = torch.where(prefer_a, w, torch.zeros(()))
        r_rejected = torch.where(prefer_a, torch.zeros(()), w)
        (grad,) = torch.autograd.grad(bradley_terry_loss(r_chosen, r_rejected), w)
        w = (w - 4.0 * grad).detach().requires_grad_()
    assert w.item() == pytest.approx(true, abs=0.05)


def test_kl_penalised_rewards_by_hand():
    score = torch.tensor([2.0, -1.0])
    logp = torch.tensor([[0.0, -1.0, -0.5, -2.0], [0.0, -0.2, -1.5, -9.0]], requires_grad=True)
    logp_ref = torch.tensor([[-3.0, -1.5, -0.5, -1.0], [-4.0, -0.7, -1.0, -5.0]])
    mask = torch.tensor([[False, True, True, True], [False, True, True, False]])
    rew = kl_penalised_rewards(score, logp, logp_ref, mask, beta=0.5)
    expected = torch.tensor([[0.0, -0.25, 0.0, 0.5 + 2.0], [0.0, -0.25, 0.25 - 1.0, 0.0]])
    torch.testing.assert_close(rew, expected)
    assert not rew.requires_grad
    # the sum over a response: score - beta * log(pi(y) / pi_ref(y)), the bandit view
    seq = score - 0.5 * ((logp - logp_ref) * mask).sum(1)
    torch.testing.assert_close(rew.sum(1), seq.detach())


def test_dpo_by_hand_autograd_and_as_bradley_terry():
    lc = torch.tensor([-1.0, -3.0], dtype=torch.float64, requires_grad=True)
    lr = torch.tensor([-2.0, -1.0], dtype=torch.float64, requires_grad=True)
    rc, rr = torch.tensor([-1.5, -2.0], dtype=torch.float64), torch.tensor([-1.5, -2.0], dtype=torch.float64)
    beta = 0.5
    loss = dpo_loss(lc, lr, rc, rr, beta)
    m = torch.tensor([1.0, -2.0], dtype=torch.float64)              # (0.5 - -0.5), (-1 - 1)
    assert loss.item() == pytest.approx(F.softplus(-beta * m).mean().item(), rel=1e-12)
    loss.backward()
    torch.testing.assert_close(lc.grad, -beta * torch.sigmoid(-beta * m) / 2)
    torch.testing.assert_close(lr.grad, beta * torch.sigmoid(-beta * m) / 2)
    # the Bradley-Terry loss of the implicit rewards beta * log(pi / pi_ref)
    assert loss.item() == pytest.approx(bradley_terry_loss(beta * (lc - rc), beta * (lr - rr)).item())
    # at the reference, every pair has margin 0: loss log 2
    assert dpo_loss(rc, rr, rc, rr, 3.0).item() == pytest.approx(math.log(2))


def test_grpo_advantages_by_hand():
    rew = torch.tensor([[1.0, 0.0, 0.0, 1.0], [3.0, 3.0, 3.0, 3.0]])
    adv = grpo_advantages(rew, eps=1e-4)
    s = math.sqrt(1 / 3)                                            # sample std of (1, 0, 0, 1)
    torch.testing.assert_close(adv[0], torch.tensor([0.5, -0.5, -0.5, 0.5]) / (s + 1e-4))
    torch.testing.assert_close(adv[1], torch.zeros(4))               # all equal: 0, not 0/0
    # invariant to shifting and scaling one group's rewards
    other = grpo_advantages(torch.stack([10 * rew[0] - 7, rew[1]]), eps=1e-9)
    torch.testing.assert_close(other[0], grpo_advantages(rew, eps=1e-9)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("call, match", [
    (lambda: bradley_terry_loss([1.0], torch.zeros(1)), "torch.Tensor"),
    (lambda: bradley_terry_loss(torch.zeros(2), torch.zeros(3)), "one shape"),
    (lambda: bradley_terry_loss(torch.zeros(2, 1), torch.zeros(2, 1)), r"\(B,\)"),
    (lambda: kl_penalised_rewards(torch.zeros(2), torch.zeros(2, 3), torch.zeros(2, 3),
                                  torch.ones(2, 3, dtype=torch.bool), -1.0), "beta"),
    (lambda: kl_penalised_rewards(torch.zeros(2), torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 3), 1.0),
     "bool"),
    (lambda: kl_penalised_rewards(torch.zeros(3), torch.zeros(2, 3), torch.zeros(2, 3),
                                  torch.ones(2, 3, dtype=torch.bool), 1.0), "score"),
    (lambda: kl_penalised_rewards(torch.zeros(2), torch.zeros(2, 3), torch.zeros(2, 4),
                                  torch.ones(2, 3, dtype=torch.bool), 1.0), "one shape"),
    (lambda: kl_penalised_rewards(torch.zeros(2), torch.zeros(2, 3), torch.zeros(2, 3),
                                  torch.tensor([[True, True, True], [False, False, False]]), 1.0), "at least one"),
    (lambda: dpo_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2), torch.zeros(2), 0.0), "beta"),
    (lambda: dpo_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2), torch.zeros(1), 1.0), "one shape"),
    (lambda: grpo_advantages(torch.zeros(4), 1e-4), r"\(P, G\)"),
    (lambda: grpo_advantages(torch.zeros(4, 1), 1e-4), "G >= 2"),
    (lambda: grpo_advantages(torch.zeros(4, 2), 0.0), "eps"),
    (lambda: grpo_advantages([[1.0, 2.0]], 1e-4), "torch.Tensor"),
])
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
