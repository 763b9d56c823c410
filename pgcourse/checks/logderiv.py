"""Graded checks for lesson 1 (the log-derivative trick): each exercise declared once, as an `Exercise`."""

from __future__ import annotations

import numpy as np

from pgcourse import logderiv as ref
from pgcourse.checks.core import Case, CheckResult, Exercise, Mistake, register


def _softmax_unnormalised(theta):
    with np.errstate(over="ignore"):
        return np.exp(np.asarray(theta, dtype=float))


def _naive_softmax(theta):
    with np.errstate(over="ignore", invalid="ignore"):
        z = _softmax_unnormalised(theta)
        return z / z.sum()


# --- softmax_score -----------------------------------------------------------------------------

def _onehot(theta, a):
    e = np.zeros(len(theta))
    e[a] = 1.0
    return e


SOFTMAX_SCORE_MISTAKES = [
    Mistake("sign flipped", lambda theta, a: -ref.softmax_score(theta, a),
            "the sign is flipped: grad log pi(a) = onehot(a) - pi, which is positive on the chosen action"),
    Mistake("grad pi instead of grad log pi",
            lambda theta, a: ref.softmax(theta)[a] * ref.softmax_score(theta, a),
            "this is grad pi(a), not grad log pi(a): divide by pi(a) (the log-derivative trick)"),
    Mistake("softmax not normalised", lambda theta, a: _onehot(theta, a) - _softmax_unnormalised(theta),
            "pi must be normalised: pi = exp(theta) / sum(exp(theta)), not exp(theta)"),
    Mistake("logits used as probabilities", lambda theta, a: _onehot(theta, a) - np.asarray(theta, dtype=float),
            "subtract the probabilities pi = softmax(theta), not the logits theta"),
    Mistake("only the chosen component", lambda theta, a: _onehot(theta, a) * ref.softmax_score(theta, a),
            "every logit moves, not only the chosen one: the other components are -pi(b)"),
    Mistake("onehot missing", lambda theta, a: -ref.softmax(theta),
            "you left out the onehot(a) term: grad log pi(a) = onehot(a) - pi"),
    Mistake("pi not subtracted", lambda theta, a: _onehot(theta, a),
            "subtract pi = softmax(theta) from onehot(a): the log of the normaliser sum(exp(theta)) depends on "
            "every logit, and its gradient is pi"),
    Mistake("returned pi", lambda theta, a: ref.softmax(theta),
            "that is pi = softmax(theta) itself; the score is its log's gradient, onehot(a) - pi"),
    Mistake("softmax overflows", lambda theta, a: _onehot(theta, a) - _naive_softmax(theta),
            "exp(theta) overflows for large logits (exp(800) = inf, and inf / inf = nan): subtract max(theta) "
            "before exp, which leaves softmax unchanged"),
]


def _random_logits(rng):
    k = int(rng.integers(2, 7))
    return Case((rng.normal(0, 2, size=k), int(rng.integers(k))), label="random logits")


SOFTMAX_SCORE = register(Exercise(
    "check_softmax_score", "softmax_score", ref.softmax_score,
    hand=(
        Case((np.array([0.0, 0.0]), 0), label="two actions, theta=(0,0), a=0: (0.5, -0.5)"),
        Case((np.array([0.0, 0.0]), 1), label="two actions, a=1: (-0.5, 0.5)"),
        Case((np.array([np.log(3.0), 0.0]), 0), label="pi=(0.75, 0.25), a=0: (0.25, -0.25)"),
        Case((np.zeros(4), 2), label="four equal logits, a=2"),
        Case((np.array([800.0, 0.0, -800.0]), 1),
             label="large logits (800, 0, -800), a=1: pi = (1, 0, 0), so (-1, 1, 0); a naive exp overflows"),
    ),
    make=_random_logits, n_random=20, seed=1, mistakes=SOFTMAX_SCORE_MISTAKES, arg_names=("theta", "a"),
    generic_hint="d/dtheta_j log softmax(theta)_a = 1[j == a] - pi_j; return an array of shape (K,)"))


def check_softmax_score(student_fn) -> CheckResult:
    """Grade `softmax_score(theta, a) -> (K,)`, the score of a softmax policy."""
    return SOFTMAX_SCORE.run(student_fn)


# --- score_function_estimate --------------------------------------------------------------------

def _sf_grad_pi(theta, actions, f_values):
    pi = ref.softmax(theta)
    scores = np.eye(len(theta))[actions] - pi
    return (np.asarray(f_values)[:, None] * pi[actions][:, None] * scores).mean(axis=0)


SCORE_ESTIMATE_MISTAKES = [
    Mistake("sign flipped", lambda th, a, f: -ref.score_function_estimate(th, a, f),
            "the sign is flipped: the estimate is mean_i f(a_i) * grad log pi(a_i)"),
    Mistake("sum instead of mean", lambda th, a, f: len(a) * ref.score_function_estimate(th, a, f),
            "average over the N samples (divide by N), do not sum: the estimate must not grow with N"),
    Mistake("f left out", lambda th, a, f: ref.score_function_estimate(th, a, np.ones(len(a))),
            "weight each score by its f(a_i): without f you estimate E[grad log pi] = 0"),
    Mistake("grad pi instead of grad log pi", _sf_grad_pi,
            "each term has an extra factor pi(a_i): use grad log pi(a_i) = onehot(a_i) - pi, not "
            "grad pi(a_i) = pi(a_i) * (onehot(a_i) - pi), and do not weight f(a_i) by pi(a_i): the samples "
            "already come from pi"),
]


def _random_samples(rng):
    k = int(rng.integers(2, 6))
    n = int(rng.integers(2, 40))
    theta = rng.normal(0, 1.5, size=k)
    return Case((theta, ref.draw_actions(theta, n, rng), rng.normal(1, 2, size=n)), label="random samples")


SCORE_ESTIMATE = register(Exercise(
    "check_score_function_estimate", "score_function_estimate", ref.score_function_estimate,
    hand=(
        Case((np.array([0.0, 0.0]), np.array([0]), np.array([2.0])), label="one sample a=0, f=2: (1, -1)"),
        Case((np.array([0.0, 0.0]), np.array([0, 1]), np.array([1.0, 1.0])), label="f constant: 0"),
        Case((np.array([0.0, 0.0, 0.0]), np.array([0, 1, 2, 2]), np.array([3.0, 0.0, 1.0, -1.0])),
             label="three actions, four samples"),
    ),
    make=_random_samples, n_random=20, seed=2, mistakes=SCORE_ESTIMATE_MISTAKES,
    arg_names=("theta", "actions", "f_values"),
    generic_hint="estimate = mean over samples of f(a_i) * (onehot(a_i) - pi); shape (K,)"))


def check_score_function_estimate(student_fn) -> CheckResult:
    """Grade `score_function_estimate(theta, actions, f_values) -> (K,)`."""
    return SCORE_ESTIMATE.run(student_fn)


# --- bandit_pg_step ------------------------------------------------------------------------------

STEP_MISTAKES = [
    Mistake("descent instead of ascent", lambda th, a, G, lr: np.asarray(th) - lr * G * ref.softmax_score(th, a),
            "this is gradient descent: we maximise expected return, so add lr * G * grad log pi"),
    Mistake("G left out", lambda th, a, G, lr: np.asarray(th) + lr * ref.softmax_score(th, a),
            "scale the step by the return G: actions with larger return get pushed up harder"),
    Mistake("lr left out", lambda th, a, G, lr: np.asarray(th) + G * ref.softmax_score(th, a),
            "scale the step by the learning rate lr"),
    Mistake("returned the step, not the new theta", lambda th, a, G, lr: lr * G * ref.softmax_score(th, a),
            "return the updated parameters theta + step, not only the step"),
    Mistake("grad pi instead of grad log pi",
            lambda th, a, G, lr: np.asarray(th) + lr * G * ref.softmax(th)[a] * ref.softmax_score(th, a),
            "use grad log pi(a), not grad pi(a): with grad pi, rarely chosen actions are barely pushed"),
]


def _random_step(rng):
    k = int(rng.integers(2, 6))
    return Case((rng.normal(0, 1.5, size=k), int(rng.integers(k)), float(rng.normal(0, 3)),
                 float(rng.uniform(0.01, 1.0))), label="random step")


BANDIT_STEP = register(Exercise(
    "check_bandit_pg_step", "bandit_pg_step", ref.bandit_pg_step,
    hand=(
        Case((np.array([0.0, 0.0]), 0, 2.0, 0.1), label="the worked example: theta -> (0.1, -0.1)"),
        Case((np.array([0.0, 0.0]), 1, 2.0, 0.1), label="a=1: theta -> (-0.1, 0.1)"),
        Case((np.array([0.0, 0.0]), 0, -1.0, 0.5), label="negative return pushes a=0 down"),
    ),
    make=_random_step, n_random=20, seed=3, mistakes=STEP_MISTAKES, arg_names=("theta", "a", "G", "lr"),
    generic_hint="new theta = theta + lr * G * (onehot(a) - softmax(theta))"))


def check_bandit_pg_step(student_fn) -> CheckResult:
    """Grade `bandit_pg_step(theta, a, G, lr) -> (K,)`, one policy-gradient ascent step."""
    return BANDIT_STEP.run(student_fn)
