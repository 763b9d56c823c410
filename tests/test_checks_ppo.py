"""pgcourse.checks.ppo (lesson 5): mistake catalogue, written as a student would write each mistake."""

import torch

from pgcourse import losses
from pgcourse.checks import check_approx_kl, check_ppo_clip_loss


def no_min(logp, logp_old, adv, clip_eps):
    ratio = torch.exp(logp - logp_old.detach())
    return -(torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv).mean()


def clipped_adv(logp, logp_old, adv, clip_eps):
    ratio = torch.exp(logp - logp_old.detach())
    return -torch.min(ratio * adv, ratio * torch.clamp(adv, 1 - clip_eps, 1 + clip_eps)).mean()


def inverted(logp, logp_old, adv, clip_eps):
    ratio = torch.exp(logp_old.detach() - logp)
    return -torch.min(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv).mean()


def log_ratio_as_ratio(logp, logp_old, adv, clip_eps):
    ratio = logp - logp_old.detach()
    return -torch.min(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv).mean()


def old_not_detached(logp, logp_old, adv, clip_eps):
    ratio = torch.exp(logp - logp_old)
    return -torch.min(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv).mean()


def kl_naive(logp, logp_old):
    return (logp_old - logp).mean()


def kl_inverted(logp, logp_old):
    log_ratio = logp_old - logp
    return ((log_ratio.exp() - 1) - log_ratio).mean()


def kl_no_minus_one(logp, logp_old):
    log_ratio = logp - logp_old
    return (log_ratio.exp() - log_ratio).mean()


CASES = [
    (check_ppo_clip_loss, no_min, "forgot the min", "min"),
    (check_ppo_clip_loss, clipped_adv, "clipped the advantage", "RATIO"),
    (check_ppo_clip_loss, inverted, "ratio inverted", "inverse"),
    (check_ppo_clip_loss, log_ratio_as_ratio, "probabilities instead of the exp of log-prob differences", "exp("),
    (check_ppo_clip_loss, old_not_detached, "old log-probs not detached", "detach logp_old"),
    (check_approx_kl, kl_naive, "plain log-ratio estimator", "negative"),
    (check_approx_kl, kl_inverted, "sign of the log-ratio", "new over old"),
    (check_approx_kl, kl_no_minus_one, "forgot the -1", "0 when"),
]


# (check, a correct implementation): each must pass; tests/test_catalogues.py runs these and CASES
REFERENCES = [(check_ppo_clip_loss, losses.ppo_clip_loss), (check_approx_kl, losses.approx_kl)]
