"""Every lesson's mistake catalogue (tests/test_checks_<topic>.py: CASES and REFERENCES), run the same way:
each correct implementation passes its check; each mistake, written as a student would, fails with its own
diagnosis and hint; every check catalogues at least three mistakes."""

import importlib

import pytest

from catalogue import assert_caught, case_ids

# the check modules of pgcourse/checks/, in lesson order (lessons 1-7)
TOPICS = ["logderiv", "reinforce", "baselines", "actor_critic", "ppo", "sac", "rlhf"]
LESSONS = [importlib.import_module(f"test_checks_{topic}") for topic in TOPICS]
CASES = [case for lesson in LESSONS for case in lesson.CASES]
REFERENCES = [ref for lesson in LESSONS for ref in lesson.REFERENCES]


@pytest.mark.parametrize("check, reference", REFERENCES,
                         ids=[f"{c.__name__}-{getattr(r, '__name__', 'ref')}" for c, r in REFERENCES])
def test_reference_passes(check, reference):
    assert check(reference).passed


@pytest.mark.parametrize("check, wrong, mistake, hint_word", CASES, ids=case_ids(CASES))
def test_mistake_fails_with_its_hint(check, wrong, mistake, hint_word, capsys):
    assert_caught(check, wrong, mistake, hint_word, capsys)


@pytest.mark.parametrize("check", sorted({c for c, _ in REFERENCES}, key=lambda c: c.__name__),
                         ids=lambda c: c.__name__)
def test_each_check_catalogues_at_least_three_mistakes(check):
    assert sum(case[0] is check for case in CASES) >= 3


def test_every_catalogued_mistake_is_diagnosed_as_itself():
    """No two mistakes of a check give the same outputs on all its cases (else the second's hint is never
    shown), and each fails: run as the student's function, each catalogued mistake gets its own name."""
    from pgcourse.checks.core import EXERCISES

    wrong = []
    for name, ex in EXERCISES.items():
        for m in ex.mistakes:
            r = ex.run(m.fn, verbose=False)
            if r.passed or r.mistake != m.name:
                wrong.append(f"{name}: {m.name!r} -> {r.status}, diagnosed as {r.mistake!r}")
    assert len(EXERCISES) >= 19 and not wrong, "\n".join(wrong)
