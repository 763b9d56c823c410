"""pgcourse.checks.logderiv (lesson 1): mistake catalogue; each plausible wrong answer, written as a student would, fails with its own hint."""

import numpy as np

from pgcourse import logderiv
from pgcourse.checks import check_bandit_pg_step, check_score_function_estimate, check_softmax_score


def _pi(theta):
    z = np.exp(np.asarray(theta, float) - np.max(theta))
    return z / z.sum()


# --- softmax_score --------------------------------------------------------------------------------
def score_sign_flipped(theta, a):
    return _pi(theta) - np.eye(len(theta))[a]


def score_grad_pi(theta, a):
    pi = _pi(theta)
    return pi[a] * (np.eye(len(theta))[a] - pi)


def score_unnormalised(theta, a):
    return np.eye(len(theta))[a] - np.exp(theta)


def score_logits(theta, a):
    return np.eye(len(theta))[a] - theta


def score_only_chosen(theta, a):
    g = np.zeros(len(theta))
    g[a] = 1 - _pi(theta)[a]
    return g


def score_pi_not_subtracted(theta, a):
    return np.eye(len(theta))[a]


def score_returned_pi(theta, a):
    return _pi(theta)


def score_naive_softmax(theta, a):
    z = np.exp(np.asarray(theta, float))
    return np.eye(len(theta))[a] - z / z.sum()


SCORE_MISTAKES = [
    (score_pi_not_subtracted, "pi not subtracted", "subtract pi"),
    (score_returned_pi, "returned pi", "pi = softmax(theta) itself"),
    (score_naive_softmax, "softmax overflows", "max(theta)"),
    (score_sign_flipped, "sign flipped", "sign"),
    (score_grad_pi, "grad pi instead of grad log pi", "grad pi"),
    (score_unnormalised, "softmax not normalised", "normalised"),
    (score_logits, "logits used as probabilities", "logits"),
    (score_only_chosen, "only the chosen component", "every logit"),
]


# --- score_function_estimate ----------------------------------------------------------------------
def est_sum(theta, actions, f):
    return (np.asarray(f)[:, None] * (np.eye(len(theta))[actions] - _pi(theta))).sum(0)


def est_sign(theta, actions, f):
    return -(np.asarray(f)[:, None] * (np.eye(len(theta))[actions] - _pi(theta))).mean(0)


def est_no_f(theta, actions, f):
    return (np.eye(len(theta))[actions] - _pi(theta)).mean(0)


def est_grad_pi(theta, actions, f):
    pi = _pi(theta)
    return (np.asarray(f)[:, None] * pi[actions][:, None] * (np.eye(len(theta))[actions] - pi)).mean(0)


ESTIMATE_MISTAKES = [
    (est_sum, "sum instead of mean", "average"),
    (est_sign, "sign flipped", "sign"),
    (est_no_f, "f left out", "f(a_i)"),
    (est_grad_pi, "grad pi instead of grad log pi", "grad log pi"),
]


# --- bandit_pg_step -------------------------------------------------------------------------------
def step_descent(theta, a, G, lr):
    return theta - lr * G * (np.eye(len(theta))[a] - _pi(theta))


def step_no_G(theta, a, G, lr):
    return theta + lr * (np.eye(len(theta))[a] - _pi(theta))


def step_no_lr(theta, a, G, lr):
    return theta + G * (np.eye(len(theta))[a] - _pi(theta))


def step_only_delta(theta, a, G, lr):
    return lr * G * (np.eye(len(theta))[a] - _pi(theta))


STEP_MISTAKES = [
    (step_descent, "descent instead of ascent", "descent"),
    (step_no_G, "G left out", "return G"),
    (step_no_lr, "lr left out", "learning rate"),
    (step_only_delta, "returned the step, not the new theta", "updated parameters"),
]

CASES = ([(check_softmax_score, *m) for m in SCORE_MISTAKES]
         + [(check_score_function_estimate, *m) for m in ESTIMATE_MISTAKES]
         + [(check_bandit_pg_step, *m) for m in STEP_MISTAKES])


# (check, a correct implementation): each must pass; tests/test_catalogues.py runs these and CASES
REFERENCES = [
    (check_softmax_score, logderiv.softmax_score),
    (check_score_function_estimate, logderiv.score_function_estimate),
    (check_bandit_pg_step, logderiv.bandit_pg_step),
]

