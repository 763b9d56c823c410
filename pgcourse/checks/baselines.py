"""Graded checks for lesson 3 (baselines): the baseline-subtracted loss, gradient variance, the optimal baseline,
each declared once as an `Exercise`."""

from __future__ import annotations

import numpy as np

from pgcourse import baselines, losses
from pgcourse.checks.core import Case, CheckResult, Exercise, Mistake, compare, register
from pgcourse.checks.probes import probed

# --- baseline_loss --------------------------------------------------------------------------------

BASELINE_LOSS_MISTAKES = [
    Mistake("baseline added", lambda logp, ret, val: -(logp * (ret + val).detach()).mean(),
            "subtract the baseline: the advantage is ret - val, how much better than expected the step went"),
    Mistake("wrong sign", lambda logp, ret, val: (logp * (ret - val).detach()).mean(),
            "wrong sign (or the advantage reversed, val - ret, which is the same loss): the loss is "
            "MINUS logp * (ret - val), so that minimising it ascends J and pushes better-than-expected steps up"),
    Mistake("value not detached", lambda logp, ret, val: -(logp * (ret.detach() - val)).mean(),
            "detach the advantage: the policy loss must not push gradients into the value network "
            "(the critic learns from its own loss)"),
    Mistake("baseline ignored", lambda logp, ret, val: -(logp * ret.detach()).mean(),
            "you did not use the baseline: weight logp by ret - val"),
]


def _random_batch(rng):
    n = int(rng.integers(2, 50))
    return Case((-rng.exponential(1.0, size=n), rng.normal(5, 5, size=n), rng.normal(4, 3, size=n)),
                label="random batch")


BASELINE_LOSS = register(Exercise(
    "check_baseline_loss", "baseline_loss", losses.baseline_loss,
    hand=(
        Case((np.log(np.array([0.5, 0.25])), np.array([2.0, 1.0]), np.array([1.5, 1.5])), label="two steps"),
        Case((np.array([-1.0, -2.0, -0.5]), np.array([3.0, -1.0, 0.0]), np.array([1.0, 1.0, 1.0])),
             label="constant baseline"),
    ),
    make=_random_batch, n_random=15, seed=31, mistakes=BASELINE_LOSS_MISTAKES, arg_names=("logp", "ret", "val"),
    wrap=probed, generic_hint="adv = (ret - val).detach(); loss = -(logp * adv).mean()"))


def check_baseline_loss(student_fn) -> CheckResult:
    """Grade `baseline_loss(logp, ret, val) -> scalar`: value and gradients on logp, ret and val."""
    return BASELINE_LOSS.run(student_fn)


# --- gradient_variance ----------------------------------------------------------------------------

def _ddof1(grads):
    g = np.asarray(grads, float)
    return float(((g - g.mean(0)) ** 2).sum(1).sum() / (g.shape[0] - 1))


def _variance_compare(expected, got):
    """Accept the 1/B and the unbiased 1/(B-1) forms alike."""
    reason = compare(expected[0], got)
    if reason is None or compare(expected[1], got) is None:
        return None
    return reason


GRAD_VAR_MISTAKES = [
    Mistake("per-parameter variances not summed", lambda g: np.asarray(g).var(axis=0),
            "return one number: sum the per-parameter variances (the trace of the covariance)"),
    Mistake("not centred", lambda g: float((np.asarray(g) ** 2).sum(1).mean()),
            "subtract the mean gradient first: variance is E||g - E[g]||^2, not E||g||^2"),
    Mistake("variance of the norm", lambda g: float(np.linalg.norm(g, axis=1).var()),
            "that is the variance of the gradient's length; we want E||g - E[g]||^2 over all components"),
    Mistake("variance over the wrong axis", lambda g: float(np.asarray(g).var(axis=1).sum()),
            "axis 0 indexes the B estimates, axis 1 the parameters: take the variance over axis 0"),
    Mistake("variance of the mean", lambda g: float(np.asarray(g).var(axis=0).sum() / len(g)),
            "you divided by B once more: that is the variance of the average of the B estimates, not of one estimate"),
]


def _random_estimates(rng):
    b, p = int(rng.integers(3, 40)), int(rng.integers(2, 10))
    return Case((rng.normal(rng.normal(0, 1, size=p), rng.uniform(0.1, 3, size=p), size=(b, p)),),
                label="random estimates")


def _both_variances(grads):
    return (baselines.gradient_variance(grads), _ddof1(grads))


GRADIENT_VARIANCE = register(Exercise(
    "check_gradient_variance", "gradient_variance", baselines.gradient_variance,
    hand=(
        Case((np.array([[1.0, 0.0], [-1.0, 0.0]]),), label="two estimates, variance 1"),
        Case((np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]),), label="identical estimates: 0"),
        Case((np.array([[0.0, 0.0], [2.0, 2.0], [4.0, -2.0], [2.0, 0.0]]),), label="four estimates"),
    ),
    make=_random_estimates, n_random=15, seed=32, mistakes=GRAD_VAR_MISTAKES, arg_names=("grads",),
    expected=_both_variances, compare=_variance_compare,
    generic_hint="((grads - grads.mean(axis=0))**2).sum(axis=1).mean(): one float"))


def check_gradient_variance(student_fn) -> CheckResult:
    """Grade `gradient_variance(grads (B, P)) -> float`, the total variance E||g - E[g]||^2."""
    return GRADIENT_VARIANCE.run(student_fn)


# --- optimal_baseline -----------------------------------------------------------------------------

OPT_MISTAKES = [
    Mistake("plain mean return", lambda w, G: float(np.mean(G)),
            "that is the mean return, a good baseline but not the optimal one: weight each return by |grad log p|^2"),
    Mistake("weights not squared", lambda w, G: float((np.sqrt(w) * G).sum() / np.sqrt(w).sum()),
            "weight by the SQUARED norm |grad log p|^2 (the input is already squared: use it as it is)"),
    Mistake("ratio inverted", lambda w, G: float(np.sum(w) / np.sum(w * G)),
            "the ratio is inverted: b* = E[|g|^2 G] / E[|g|^2]"),
    Mistake("not normalised", lambda w, G: float(np.mean(np.asarray(w) * G)),
            "divide by E[|grad log p|^2]: b* = E[|g|^2 G] / E[|g|^2] is a weighted average of returns"),
]


def _random_episodes(rng):
    n = int(rng.integers(2, 40))
    return Case((rng.exponential(2.0, size=n), rng.normal(20, 10, size=n)), label="random episodes")


OPTIMAL_BASELINE = register(Exercise(
    "check_optimal_baseline", "optimal_baseline", baselines.optimal_baseline,
    hand=(
        Case((np.array([1.0, 1.0]), np.array([2.0, 4.0])), label="equal weights: the mean, 3"),
        Case((np.array([3.0, 1.0]), np.array([0.0, 4.0])), label="weights 3 and 1: 1"),
    ),
    make=_random_episodes, n_random=15, seed=33, mistakes=OPT_MISTAKES, arg_names=("score_sq_norm", "ret"),
    generic_hint="b* = (score_sq_norm * ret).sum() / score_sq_norm.sum()"))


def check_optimal_baseline(student_fn) -> CheckResult:
    """Grade `optimal_baseline(score_sq_norm (N,), ret (N,)) -> float`."""
    return OPTIMAL_BASELINE.run(student_fn)
