"""The sandboxed side of the grader: it reports answers as plain data, never judges, stubs the notebook
checks and catches a function that is, wraps or calls the reference however it is disguised."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from pgcourse.tools import plaindata, sandbox

SETUP = "import numpy as np\nfrom pgcourse import logderiv\nfrom pgcourse.checks import check_softmax_score, use_if_passed\n"
CASES = [plaindata.encode(([np.zeros(2), 0], {})), plaindata.encode(([np.array([1.0, 2.0, 3.0]), 2], {}))]


def child(tmp_path: Path, source: str, output_bytes: int = 1_000_000):
    job = {"limits": {"timeout": 30, "memory_mb": 1024}, "output_bytes": output_bytes,
           "cells": [{"cell": 1, "source": SETUP}, {"cell": 2, "source": source}],
           "exercises": [{"id": "softmax_score", "function": "softmax_score", "check": "check_softmax_score",
                          "module": "pgcourse.checks.logderiv", "cases": CASES}],
           "references": [["pgcourse.logderiv", "softmax_score"]]}
    with tempfile.TemporaryFile() as results:
        run = sandbox.run_python(["pgcourse.tools.grade_child", "--results-fd", str(results.fileno())],
                                 json.dumps(job).encode(), Path(tempfile.mkdtemp(dir=tmp_path)),
                                 sandbox.Limits(timeout=30, memory_mb=1024), None, fds=(results.fileno(),))
        results.seek(0)
        events = [json.loads(line) for line in results.read().splitlines()]
    assert events[-1]["event"] == "done", run.stderr.decode()
    return run, events


def test_answers_come_back_as_plain_data(tmp_path):
    _, events = child(tmp_path, "def softmax_score(theta, a):\n    return np.eye(len(theta))[a] * 2\n")
    cases = [e for e in events if e["event"] == "case"]
    assert [c["kind"] for c in cases] == ["value", "value"]
    assert np.array_equal(plaindata.decode(cases[1]["value"]), [0.0, 0.0, 2.0])
    assert not any("expected" in json.dumps(e) for e in events)   # the sandbox never sees an expected answer


@pytest.mark.parametrize("source", [
    "softmax_score = logderiv.softmax_score",
    "from pgcourse.logderiv import softmax_score as s\nsoftmax_score = s",
    "import functools\nsoftmax_score = functools.partial(logderiv.softmax_score)",
    "import functools\n@functools.wraps(logderiv.softmax_score)\ndef softmax_score(theta, a):\n    return 0",
    "def make(f):\n    def softmax_score(theta, a):\n        return f(theta, a)\n    return softmax_score\n"
    "softmax_score = make(logderiv.softmax_score)",
    "def softmax_score(theta, a, _f=logderiv.softmax_score):\n    return _f(theta, a)",
    "import importlib\ndef softmax_score(theta, a):\n    m = importlib.import_module('pgcourse.' + 'logderiv')\n"
    "    return getattr(m, 'softmax' + '_score')(theta, a)",
    "import pgcourse.checks.logderiv as c\ndef softmax_score(theta, a):\n    return c.SOFTMAX_SCORE_MISTAKES[0].fn(theta, a)",
])
def test_the_reference_however_disguised(tmp_path, source):
    _, events = child(tmp_path, source)
    flagged = [e for e in events if e["event"] == "uses_reference"
               or (e["event"] == "case" and e["kind"] in ("uses reference", "error"))]
    assert flagged, events


def test_cells_may_still_call_the_reference_and_checks_are_stubbed(tmp_path):
    src = ("print('top level', logderiv.softmax_score(np.zeros(2), 0))\n"
           "def softmax_score(theta, a):\n    return np.eye(len(theta))[a]\n"
           "r = check_softmax_score(softmax_score)\nprint('check result', bool(r))\n"
           "print('fallback', use_if_passed(softmax_score, r, None) is softmax_score)\n")
    run, events = child(tmp_path, src)
    out = run.stdout.decode()
    assert "top level [ 0.5 -0.5]" in out and "check result False" in out and "fallback True" in out
    assert "✓" not in out and "✗" not in out
    assert [e["kind"] for e in events if e["event"] == "case"] == ["value", "value"]


def test_printing_is_capped(tmp_path):
    run, events = child(tmp_path, "print('y' * 5_000_000)\ndef softmax_score(theta, a):\n    print('z' * 10**6)\n"
                                  "    return theta\n", output_bytes=1000)
    assert run.stdout_bytes <= 1000 and events[-1]["printed"] > 7_000_000


def test_stdin_is_empty_and_students_exceptions_are_text(tmp_path):
    _, events = child(tmp_path, "import sys\nDATA = sys.stdin.read()\n"
                                "def softmax_score(theta, a):\n    return 1 / len(DATA)\n")
    case = next(e for e in events if e["event"] == "case")
    assert case["kind"] == "error" and case["error"].startswith("ZeroDivisionError")
    assert "line 4 in softmax_score: return 1 / len(DATA)" in case["error"]
