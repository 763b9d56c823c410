"""pgcourse.checks.sac (lesson 6, SAC): mistake catalogue, written as a student would write each mistake."""

import math

import pytest
import torch
from torch.distributions import Normal
from torch.nn import functional as F

from pgcourse import soft
from pgcourse.checks import check_soft_q_target, check_squashed_log_prob


def logp_no_correction(u, mu, log_std):
    return Normal(mu, log_std.exp()).log_prob(u).sum(-1)


def logp_correction_added(u, mu, log_std):
    return (Normal(mu, log_std.exp()).log_prob(u) + torch.log(1 - torch.tanh(u) ** 2 + 1e-30)).sum(-1)


def logp_not_summed(u, mu, log_std):
    return Normal(mu, log_std.exp()).log_prob(u) - 2 * (math.log(2) - u - F.softplus(-2 * u))


def logp_direct(u, mu, log_std):
    return (Normal(mu, log_std.exp()).log_prob(u) - torch.log(1 - torch.tanh(u).pow(2))).sum(-1)


def logp_epsilon(u, mu, log_std):
    return (Normal(mu, log_std.exp()).log_prob(u) - torch.log(1 - torch.tanh(u).pow(2) + 1e-6)).sum(-1)


def target_max(rew, next_q1, next_q2, next_logp, terminated, gamma, alpha):
    with torch.no_grad():
        return rew + gamma * (1 - terminated.float()) * (torch.max(next_q1, next_q2) - alpha * next_logp)


def target_entropy_sign(rew, next_q1, next_q2, next_logp, terminated, gamma, alpha):
    with torch.no_grad():
        return rew + gamma * (1 - terminated.float()) * (torch.min(next_q1, next_q2) + alpha * next_logp)


def target_no_entropy(rew, next_q1, next_q2, next_logp, terminated, gamma, alpha):
    with torch.no_grad():
        return rew + gamma * (1 - terminated.float()) * torch.min(next_q1, next_q2)


def target_no_mask(rew, next_q1, next_q2, next_logp, terminated, gamma, alpha):
    with torch.no_grad():
        return rew + gamma * (torch.min(next_q1, next_q2) - alpha * next_logp)


def target_not_detached(rew, next_q1, next_q2, next_logp, terminated, gamma, alpha):
    return rew + gamma * (1 - terminated.float()) * (torch.min(next_q1, next_q2) - alpha * next_logp)


CASES = [
    (check_squashed_log_prob, logp_no_correction, "forgot the tanh correction", "subtract log(1 - tanh(u)^2)"),
    (check_squashed_log_prob, logp_correction_added, "correction added", "SUBTRACT"),
    (check_squashed_log_prob, logp_not_summed, "not summed over action dimensions", ".sum(-1)"),
    (check_squashed_log_prob, logp_direct, "direct log(1 - tanh(u)^2)", "softplus"),
    (check_squashed_log_prob, logp_epsilon, "epsilon inside the log", "+ 1e-6"),
    (check_soft_q_target, target_max, "max of the twin critics", "MIN"),
    (check_soft_q_target, target_entropy_sign, "entropy term with the wrong sign", "SUBTRACT alpha * logp"),
    (check_soft_q_target, target_no_entropy, "forgot the entropy term", "entropy bonus included"),
    (check_soft_q_target, target_no_mask, "bootstraps through termination", "(1 - terminated)"),
    (check_soft_q_target, target_not_detached, "target not detached", "no_grad"),
]

# (check, a correct implementation): each must pass; tests/test_catalogues.py runs these and CASES
REFERENCES = [(check_squashed_log_prob, soft.squashed_log_prob), (check_soft_q_target, soft.soft_q_target)]


def test_the_tanh_transform_route_fails_only_at_large_u():
    """torch.distributions' TanhTransform route matches the reference on the first cases; the check then names
    the large-|u| case, where atanh(tanh(u)) is infinite."""
    def with_tanh_transform(u, mu, log_std):
        from torch.distributions import TransformedDistribution
        from torch.distributions.transforms import TanhTransform

        return TransformedDistribution(Normal(mu, log_std.exp()), [TanhTransform()]).log_prob(torch.tanh(u)).sum(-1)

    r = check_squashed_log_prob(with_tanh_transform)
    assert r.status == "failed" and "large |u|" in r.message


@pytest.mark.parametrize("answer, message", [
    (lambda u, mu, log_std: torch.full((u.shape[0],), float("nan"), dtype=u.dtype), "NaN"),
    (lambda u, mu, log_std: torch.zeros(u.shape[0], 1, dtype=u.dtype), "wrong shape"),
    (lambda u, mu, log_std: 1 / 0, "ZeroDivisionError"),
])
def test_log_prob_check_reports_broken_answers(answer, message):
    r = check_squashed_log_prob(answer)
    assert r.status == "failed" and message in r.message, r.message


def test_target_check_reports_broken_answers():
    r = check_soft_q_target(lambda rew, *rest: torch.full_like(rew, float("nan")))
    assert r.status == "failed" and "NaN" in r.message
    r = check_soft_q_target(lambda rew, *rest: torch.zeros(len(rew), 2))
    assert r.status == "failed" and "wrong shape" in r.message
