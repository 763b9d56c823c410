"""Mistake catalogue for lesson 7 (RLHF), written as a student would write each mistake."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from pgcourse import rlhf
from pgcourse.checks import (check_bradley_terry_loss, check_dpo_loss, check_grpo_advantages,
                             check_kl_penalised_rewards)


# ----------------------------------------------------------------------------- Bradley-Terry
def bt_flipped(r_chosen, r_rejected):
    return -F.logsigmoid(r_rejected - r_chosen).mean()


def bt_no_minus(r_chosen, r_rejected):
    return F.logsigmoid(r_chosen - r_rejected).mean()


def bt_sigmoid(r_chosen, r_rejected):
    return -torch.sigmoid(r_chosen - r_rejected).mean()


def bt_one_minus_sigmoid(r_chosen, r_rejected):
    return torch.mean(1 - torch.sigmoid(r_chosen - r_rejected))


def bt_sum(r_chosen, r_rejected):
    return -F.logsigmoid(r_chosen - r_rejected).sum()


def bt_separate(r_chosen, r_rejected):
    return (-F.logsigmoid(r_chosen) - F.logsigmoid(-r_rejected)).mean()


def bt_log_of_sigmoid(r_chosen, r_rejected):
    return -torch.log(torch.sigmoid(r_chosen - r_rejected)).mean()


# ----------------------------------------------------------------------------- per-token reward
def _last_index(mask):
    return mask.shape[1] - 1 - torch.flip(mask.int(), [1]).argmax(1)


def kl_score_everywhere(score, logp, logp_ref, mask, beta):
    with torch.no_grad():
        return torch.where(mask, -beta * (logp - logp_ref) + score[:, None], torch.zeros_like(logp))


def kl_last_column(score, logp, logp_ref, mask, beta):
    with torch.no_grad():
        rew = -beta * (logp - logp_ref) * mask
        rew[:, -1] += score
        return rew


def kl_first_token(score, logp, logp_ref, mask, beta):
    with torch.no_grad():
        rew = -beta * (logp - logp_ref) * mask
        first = mask.int().argmax(1)
        rew[torch.arange(len(score)), first] += score
        return rew


def kl_sign(score, logp, logp_ref, mask, beta):
    with torch.no_grad():
        rew = beta * (logp - logp_ref) * mask
        rew[torch.arange(len(score)), _last_index(mask)] += score
        return rew


def kl_unmasked(score, logp, logp_ref, mask, beta):
    with torch.no_grad():
        rew = -beta * (logp - logp_ref)
        rew[torch.arange(len(score)), _last_index(mask)] += score
        return rew


def kl_no_beta(score, logp, logp_ref, mask, beta):
    with torch.no_grad():
        rew = -(logp - logp_ref) * mask
        rew[torch.arange(len(score)), _last_index(mask)] += score
        return rew


def kl_all_at_end(score, logp, logp_ref, mask, beta):
    with torch.no_grad():
        rew = torch.zeros_like(logp)
        kl = ((logp - logp_ref) * mask).sum(1)
        rew[torch.arange(len(score)), _last_index(mask)] = score - beta * kl
        return rew


def kl_not_detached(score, logp, logp_ref, mask, beta):
    rew = -beta * (logp - logp_ref) * mask
    bonus = torch.zeros_like(rew)
    bonus[torch.arange(len(score)), _last_index(mask)] = score
    return rew + bonus


# ----------------------------------------------------------------------------- DPO
def dpo_flipped(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    margin = (logp_rejected - ref_rejected) - (logp_chosen - ref_chosen)
    return -F.logsigmoid(beta * margin).mean()


def dpo_sigmoid(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    margin = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)
    return -torch.sigmoid(beta * margin).mean()


def dpo_policy_as_reference(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    ref_chosen, ref_rejected = logp_chosen.detach(), logp_rejected.detach()   # "the reference is the model"
    margin = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)
    return -F.logsigmoid(beta * margin).mean()


def dpo_ref_added(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    margin = (logp_chosen + ref_chosen) - (logp_rejected + ref_rejected)
    return -F.logsigmoid(beta * margin).mean()


def dpo_beta_outside(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    margin = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)
    return -beta * F.logsigmoid(margin).mean()


def dpo_detached(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    margin = (logp_chosen.detach() - ref_chosen) - (logp_rejected.detach() - ref_rejected)
    return -F.logsigmoid(beta * margin).mean()


def dpo_sum(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    margin = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)
    return -F.logsigmoid(beta * margin).sum()


# ----------------------------------------------------------------------------- GRPO
def grpo_batch(rew, eps):
    return (rew - rew.mean()) / (rew.std() + eps)


def grpo_dim0(rew, eps):
    return (rew - rew.mean(dim=0)) / (rew.std(dim=0) + eps)


def grpo_no_guard(rew, eps):
    return (rew - rew.mean(dim=1, keepdim=True)) / rew.std(dim=1, keepdim=True)


def grpo_clamp(rew, eps):
    return (rew - rew.mean(dim=1, keepdim=True)) / torch.clamp(rew.std(dim=1, keepdim=True), min=eps)


def grpo_mean_only(rew, eps):
    return rew - rew.mean(dim=1, keepdim=True)


def grpo_population_std(rew, eps):
    mean = rew.mean(dim=1, keepdim=True)
    std = ((rew - mean) ** 2).mean(dim=1, keepdim=True).sqrt()
    return (rew - mean) / (std + eps)


CASES = [
    (check_bradley_terry_loss, bt_flipped, "pair order flipped", "CHOSEN"),
    (check_bradley_terry_loss, bt_no_minus, "log-likelihood not negated", "NEGATIVE"),
    (check_bradley_terry_loss, bt_sigmoid, "sigmoid instead of log-sigmoid", "LOG"),
    (check_bradley_terry_loss, bt_one_minus_sigmoid, "one minus sigmoid instead of -log-sigmoid", "softplus"),
    (check_bradley_terry_loss, bt_sum, "summed over pairs", ".mean()"),
    (check_bradley_terry_loss, bt_separate, "each response scored on its own", "DIFFERENCE"),
    (check_bradley_terry_loss, bt_log_of_sigmoid, "log(sigmoid()) underflows", "F.logsigmoid"),
    (check_kl_penalised_rewards, kl_score_everywhere, "score on every generated token", "last generated token only"),
    (check_kl_penalised_rewards, kl_last_column, "score at the last column, not the last generated token",
     "LAST TRUE"),
    (check_kl_penalised_rewards, kl_first_token, "score at the first generated token", "LAST generated"),
    (check_kl_penalised_rewards, kl_sign, "KL penalty with the wrong sign", "-beta * (logp - logp_ref)"),
    (check_kl_penalised_rewards, kl_unmasked, "penalty not masked", "mask False"),
    (check_kl_penalised_rewards, kl_no_beta, "beta left out", "multiply the log-ratio by beta"),
    (check_kl_penalised_rewards, kl_all_at_end, "whole KL penalty at the last token", "EVERY generated"),
    (check_kl_penalised_rewards, kl_not_detached, "rewards not detached", "no_grad"),
    (check_dpo_loss, dpo_flipped, "pair order flipped", "chosen response's log-ratio comes first"),
    (check_dpo_loss, dpo_sigmoid, "sigmoid instead of log-sigmoid", "NEGATIVE LOG"),
    (check_dpo_loss, dpo_policy_as_reference, "reference replaced by the policy", "FROZEN reference"),
    (check_dpo_loss, dpo_ref_added, "reference log-probs added", "SUBTRACT"),
    (check_dpo_loss, dpo_beta_outside, "beta outside the log-sigmoid", "INSIDE"),
    (check_dpo_loss, dpo_detached, "log-ratios detached", "do not detach"),
    (check_dpo_loss, dpo_sum, "summed over pairs", ".mean()"),
    (check_grpo_advantages, grpo_batch, "normalised over the whole batch", "GROUP"),
    (check_grpo_advantages, grpo_dim0, "normalised across prompts", "dim=1"),
    (check_grpo_advantages, grpo_no_guard, "no std guard", "std + eps"),
    (check_grpo_advantages, grpo_clamp, "std clamped at eps", "max(std, eps)"),
    (check_grpo_advantages, grpo_mean_only, "mean subtracted, not divided by the std", "divide by the group's std"),
    (check_grpo_advantages, grpo_population_std, "population std", "G - 1"),
]

# (check, a correct implementation): each must pass; tests/test_catalogues.py runs these and CASES
REFERENCES = [(check_bradley_terry_loss, rlhf.bradley_terry_loss),
              (check_kl_penalised_rewards, rlhf.kl_penalised_rewards),
              (check_dpo_loss, rlhf.dpo_loss),
              (check_grpo_advantages, rlhf.grpo_advantages)]


def bt_softplus(r_chosen, r_rejected):
    return F.softplus(r_rejected - r_chosen).mean()


def kl_scatter(score, logp, logp_ref, mask, beta):
    """Another correct route: per-token penalty, then the score through a one-hot of each row's last token."""
    pen = (-(beta * (logp.detach() - logp_ref))).masked_fill(~mask, 0.0)
    n = mask.sum(1)
    start = mask.int().argmax(1)
    last = torch.nn.functional.one_hot(start + n - 1, mask.shape[1]).to(pen.dtype)
    return pen + last * score[:, None]


def grpo_loop(rew, eps):
    out = torch.empty_like(rew)
    for i, row in enumerate(rew):
        out[i] = (row - row.mean()) / (row.std() + eps)
    return out


@pytest.mark.parametrize("check, answer", [(check_bradley_terry_loss, bt_softplus),
                                           (check_kl_penalised_rewards, kl_scatter),
                                           (check_grpo_advantages, grpo_loop)])
def test_other_correct_routes_pass(check, answer):
    assert check(answer).passed


@pytest.mark.parametrize("check, answer, message", [
    (check_bradley_terry_loss, lambda rc, rr: torch.tensor(float("nan")), "NaN"),
    (check_bradley_terry_loss, lambda rc, rr: F.softplus(rr - rc), "one number"),
    (check_bradley_terry_loss, lambda rc, rr: 1 / 0, "ZeroDivisionError"),
    (check_bradley_terry_loss, lambda rc, rr: "0.31", "expected"),
    (check_kl_penalised_rewards, lambda s, lp, lr, m, b: torch.zeros(len(s)), "wrong shape"),
    (check_kl_penalised_rewards, lambda s, lp, lr, m, b: lp.detach() * float("nan"), "NaN"),
    (check_kl_penalised_rewards, lambda s, lp, lr, m, b: None, "return"),
    (check_dpo_loss, lambda lc, lr, rc, rr, b: lc[0] + "x", "TypeError"),
    (check_dpo_loss, lambda lc, lr, rc, rr, b: torch.zeros(len(lc), 2), "one number"),
    (check_kl_penalised_rewards, lambda s, lp, lr, m, b: lp.detach().numpy(), "expected a torch tensor"),
    (check_grpo_advantages, lambda r, e: r.mean(1), "wrong shape"),
    (check_grpo_advantages, lambda r, e: r.numpy().tolist(), "wrong values"),
    (check_grpo_advantages, lambda r, e: np.full(r.shape, np.nan), "NaN"),
])
def test_checks_report_broken_answers(check, answer, message):
    r = check(answer)
    assert r.status == "failed" and message in r.message, r.message


@pytest.mark.parametrize("check", [check_bradley_terry_loss, check_kl_penalised_rewards, check_dpo_loss,
                                   check_grpo_advantages])
def test_checks_report_not_attempted_and_non_functions(check):
    def stub(*args):
        raise NotImplementedError("replace this line with your code")

    assert check(stub).status == "not attempted yet"
    r = check(3.0)
    assert r.status == "failed" and "expected a function" in r.message
