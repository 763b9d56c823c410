"""pgcourse.checks.baselines (lesson 3): mistake catalogue, written as a student would write each mistake."""

import numpy as np

from pgcourse import baselines, losses
from pgcourse.checks import check_baseline_loss, check_gradient_variance, check_optimal_baseline


def bl_added(logp, ret, val):
    return -(logp * (ret + val).detach()).mean()


def bl_sign(logp, ret, val):
    return (logp * (ret - val).detach()).mean()


def bl_not_detached(logp, ret, val):
    adv = ret.detach() - val
    return -(logp * adv).mean()


def bl_ignored(logp, ret, val):
    return -(logp * ret.detach()).mean()


def gv_per_param(grads):
    return grads.var(axis=0)


def gv_not_centred(grads):
    return float((grads**2).sum(axis=1).mean())


def gv_norm(grads):
    return float(np.linalg.norm(grads, axis=1).var())


def gv_axis(grads):
    return float(grads.var(axis=1).sum())


def ob_mean(score_sq_norm, ret):
    return float(ret.mean())


def ob_inverted(score_sq_norm, ret):
    return float(score_sq_norm.sum() / (score_sq_norm * ret).sum())


def ob_unnormalised(score_sq_norm, ret):
    return float((score_sq_norm * ret).mean())


def ob_sqrt(score_sq_norm, ret):
    w = np.sqrt(score_sq_norm)
    return float((w * ret).sum() / w.sum())


CASES = [
    (check_baseline_loss, bl_added, "baseline added", "subtract"),
    (check_baseline_loss, bl_sign, "wrong sign", "MINUS"),
    (check_baseline_loss, bl_not_detached, "value not detached", "detach"),
    (check_baseline_loss, bl_ignored, "baseline ignored", "ret - val"),
    (check_gradient_variance, gv_per_param, "per-parameter variances not summed", "one number"),
    (check_gradient_variance, gv_not_centred, "not centred", "mean gradient"),
    (check_gradient_variance, gv_norm, "variance of the norm", "length"),
    (check_gradient_variance, gv_axis, "variance over the wrong axis", "axis 0"),
    (check_optimal_baseline, ob_mean, "plain mean return", "optimal"),
    (check_optimal_baseline, ob_inverted, "ratio inverted", "inverted"),
    (check_optimal_baseline, ob_unnormalised, "not normalised", "divide"),
    (check_optimal_baseline, ob_sqrt, "weights not squared", "SQUARED"),
]


# (check, a correct implementation): each must pass; tests/test_catalogues.py runs these and CASES
REFERENCES = [
    (check_baseline_loss, losses.baseline_loss),
    (check_gradient_variance, baselines.gradient_variance),
    (check_gradient_variance, lambda g: float(np.var(g, axis=0, ddof=1).sum())),   # unbiased form accepted
    (check_optimal_baseline, baselines.optimal_baseline),
]

