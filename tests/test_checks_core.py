"""The grading engine never raises into a notebook and says what went wrong."""

import numpy as np
import pytest
import torch

from pgcourse.checks import check_softmax_score, use_if_passed
from pgcourse.checks.core import Case, Mistake, compare, run_check
from pgcourse.logderiv import softmax_score


def _run(fn):
    return check_softmax_score(fn)


def test_reference_passes(capsys):
    r = _run(softmax_score)
    assert r.passed and bool(r) and r.n_cases >= 20
    assert "✓ check_softmax_score: passed" in capsys.readouterr().out


def test_not_implemented_is_not_attempted(capsys):
    def stub(theta, a):
        raise NotImplementedError
    r = _run(stub)
    assert r.status == "not attempted yet" and not r
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("fn, words", [
    (lambda theta, a: 1 / 0, "ZeroDivisionError"),
    (lambda theta, a: None, "returned None"),
    (lambda theta, a: np.zeros(7), "wrong shape"),
    (lambda theta, a: np.full(len(theta), np.nan), "NaN"),
    (lambda theta, a: "a string", "expected a number or an array"),
    (lambda theta, a: [object(), object()], "expected"),
    (lambda theta: theta, "TypeError"),
    (42, "expected a function"),
])
def test_failures_are_reported_not_raised(fn, words, capsys):
    r = _run(fn)
    assert r.status == "failed"
    out = capsys.readouterr().out
    assert words in out and "✗" in out


def test_torch_tensor_answers_are_accepted():
    r = _run(lambda theta, a: torch.tensor(softmax_score(theta, a)))
    assert r.passed


def test_student_cannot_corrupt_the_cases():
    def mutating(theta, a):
        theta[:] = 0.0   # mutates its input, then answers correctly for the original
        return None
    r = _run(mutating)
    assert not r.passed  # returned None
    assert _run(softmax_score).passed


def test_grader_bug_is_contained(capsys):
    def broken_reference(x):
        raise RuntimeError("bug")
    r = run_check("check_x", lambda x: x, broken_reference, [Case((1.0,))])
    assert r.status == "failed" and "could not finish" in r.message


def test_mistake_hint_is_chosen_by_output():
    ms = [Mistake("doubled", lambda x: 2 * x, "you doubled it"), Mistake("negated", lambda x: -x, "sign!")]
    r = run_check("check_id", lambda x: -x, lambda x: x, [Case((np.array([1.0, 2.0]),))], ms, verbose=False)
    assert r.mistake == "negated" and r.hint == "sign!"


def test_compare():
    assert compare(np.ones(2), np.ones(2)) is None
    assert "shape" in compare(np.ones(2), np.ones(3))
    assert "None" in compare(1.0, None)
    assert compare(np.ones(2), np.ones(2) + 1e-9) is None


def test_use_if_passed_says_when_it_falls_back(capsys):
    def stub(theta, a):
        raise NotImplementedError
    r = _run(stub)
    fn = use_if_passed(stub, r, softmax_score)
    assert fn is softmax_score and "reference" in capsys.readouterr().out
    r2 = _run(softmax_score)
    assert use_if_passed(softmax_score, r2, None) is softmax_score


def test_integer_inputs_are_shown_as_integers():
    case = Case((np.array([0, 1, 2, 2]), torch.tensor([3, 1]), np.array([0.5, 1.0])))
    assert case.describe(("actions", "idx", "f")).startswith("actions=[0 1 2 2] (shape (4,)), idx=[3 1] (shape (2,)), f=[0.5 1. ]")
