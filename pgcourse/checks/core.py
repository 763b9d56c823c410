"""The grading engine every exercise check is built on.

A check runs the student's function on hand-computable cases and on randomised
cases, compares each answer with the reference in `pgcourse`, and prints one
verdict. When an answer is wrong it says which case, what was expected, what
came back, and a hint: either the catalogued mistake the answer matches
(sign flipped, missing discount, ...) or a generic one (shape, NaN, type).
A check never raises into the notebook.
"""

from __future__ import annotations

import copy
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from pgcourse.util import to_numpy

NOT_ATTEMPTED = "not attempted yet"
PASSED = "passed"
FAILED = "failed"


@dataclass
class Case:
    """One input to a check: positional args, keyword args and a short label."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    label: str = ""

    def describe(self, arg_names: Sequence[str] | None = None) -> str:
        parts = []
        for i, a in enumerate(self.args):
            name = arg_names[i] if arg_names and i < len(arg_names) else f"arg{i}"
            parts.append(f"{name}={_short(a)}")
        parts += [f"{k}={_short(v)}" for k, v in self.kwargs.items()]
        return ", ".join(parts)


@dataclass
class Mistake:
    """A plausible wrong implementation and the hint a student who made it should read."""

    name: str
    fn: Callable
    hint: str


@dataclass
class CheckResult:
    """What a check found. `bool(result)` is True when it passed."""

    name: str
    status: str
    message: str
    hint: str = ""
    mistake: str | None = None
    n_cases: int = 0

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"<CheckResult {self.name}: {self.status}>"

    def _ipython_display_(self) -> None:
        # The verdict was printed when the check ran; show nothing more.
        pass


def _short(x: Any, limit: int = 120) -> str:
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {_short(v, limit // 2)}" for k, v in x.items()) + "}"
    if callable(x) and not isinstance(x, np.ndarray):
        return getattr(x, "__name__", "a function")
    if isinstance(x, np.ndarray) and x.dtype == bool:
        return np.array2string(x, threshold=12, max_line_width=limit).replace("\n", " ") + f" (shape {x.shape})"
    if isinstance(x, (bool, int, np.integer)):
        return repr(int(x)) if not isinstance(x, bool) else repr(x)
    arr = to_numpy(x)
    if isinstance(arr, np.ndarray) and arr.ndim == 0:
        return f"{float(arr):.6g}"
    if isinstance(arr, np.ndarray):
        s = np.array2string(arr, precision=4, suppress_small=True, threshold=12, max_line_width=limit)
        s = s.replace("\n", " ")
        if arr.ndim >= 1:
            s += f" (shape {tuple(arr.shape)})"
    else:
        s = repr(x)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def compare(expected: Any, got: Any, atol: float = 1e-6, rtol: float = 1e-5) -> str | None:
    """Return None when `got` matches `expected`, else a short reason (type, shape, NaN, values)."""
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return f"expected the parts {sorted(expected)}, got {type(got).__name__}"
        for key in expected:
            reason = compare(expected[key], got[key], atol, rtol)
            if reason is not None:
                return f"{key}: {reason}"
        return None
    exp = to_numpy(expected)
    if got is None:
        return "your function returned None (did you forget the `return` statement?)"
    g = to_numpy(got)
    if not isinstance(g, np.ndarray):
        return f"expected a number or an array, got a {type(got).__name__}"
    if g.dtype == object:
        return f"expected numbers, got an array of Python objects ({type(got).__name__})"
    if g.shape != exp.shape:
        return f"wrong shape: expected {tuple(exp.shape)}, got {tuple(g.shape)}"
    if not np.all(np.isfinite(g)) and np.all(np.isfinite(exp)):
        return "your answer contains NaN or inf"
    if not np.allclose(g, exp, atol=atol, rtol=rtol, equal_nan=True):
        return "wrong values"
    return None


def _matches(a: Any, b: Any, atol: float, rtol: float) -> bool:
    try:
        return compare(a, b, atol, rtol) is None
    except Exception:
        return False


def _call(fn: Callable, case: Case) -> Any:
    return fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))


def _error_summary(exc: BaseException, limit: int = 3) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    # Show the student's own frames (the last few), not the grader's.
    frames = [f for f in tb if "pgcourse" not in f.filename and not f.filename.endswith("copy.py")][-limit:]
    where = "".join(f"\n    line {f.lineno} in {f.name}: {f.line}" for f in frames if f.line)
    return f"{type(exc).__name__}: {exc}{where}"


def run_check(
    name: str,
    student_fn: Any,
    reference: Callable,
    cases: Sequence[Case],
    mistakes: Sequence[Mistake] = (),
    arg_names: Sequence[str] | None = None,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    compare_fn: Callable[[Any, Any], str | None] | None = None,
    generic_hint: str = "",
    verbose: bool = True,
) -> CheckResult:
    """Grade `student_fn` against `reference` on `cases`; print and return the verdict.

    `compare_fn(expected, got)` may replace the default numeric comparison; it returns
    None for a match, else a reason. The first failing case is reported, with the hint
    of the first mistake in `mistakes` whose output equals the student's.
    """
    cmp = compare_fn or (lambda e, g: compare(e, g, atol, rtol))
    try:
        result = _grade(name, student_fn, reference, cases, mistakes, arg_names, atol, rtol, cmp, generic_hint)
    except Exception as exc:  # the grader itself must never crash a notebook
        result = CheckResult(name, FAILED, f"the check could not finish: {type(exc).__name__}: {exc}")
    if verbose:
        print(format_result(result))
    return result


def _grade(name, student_fn, reference, cases, mistakes, arg_names, atol, rtol, cmp, generic_hint) -> CheckResult:
    if not callable(student_fn):
        return CheckResult(
            name, FAILED, f"expected a function, got {type(student_fn).__name__}",
            hint="pass the function itself, e.g. check(my_fn), not check(my_fn(...))",
        )
    for i, case in enumerate(cases):
        where = f"case {i + 1} of {len(cases)}" + (f" ({case.label})" if case.label else "")
        inputs = case.describe(arg_names)
        expected = _call(reference, case)
        try:
            got = _call(student_fn, case)
        except NotImplementedError:
            return CheckResult(name, NOT_ATTEMPTED, "Replace `raise NotImplementedError` in your function with your code, run its cell, then run this check again")
        except Exception as exc:
            return CheckResult(
                name, FAILED, f"{where} raised an error.\n  inputs: {inputs}\n  error: {_error_summary(exc)}",
                hint=generic_hint or "read the error message; the inputs above reproduce it",
                n_cases=i,
            )
        reason = cmp(expected, got)
        if reason is None:
            continue
        m = _diagnose(student_fn, case, got, cases, mistakes, atol, rtol)
        hint, mistake = (m.hint, m.name) if m else (generic_hint, None)
        msg = (
            f"{where}: {reason.rstrip('.?')}.\n  inputs:   {inputs}\n  expected: {_short(expected)}\n  got:      {_short(got)}"
        )
        return CheckResult(name, FAILED, msg, hint=hint, mistake=mistake, n_cases=i)
    return CheckResult(name, PASSED, f"all {len(cases)} cases match the reference", n_cases=len(cases))


def _diagnose(student_fn, case, got, cases, mistakes, atol, rtol) -> Mistake | None:
    """The catalogued mistake that reproduces the student's answer on the failing case and,
    among those, on the most of the other cases (one case alone can be ambiguous)."""
    candidates = []
    for m in mistakes:
        try:
            if _matches(_call(m.fn, case), got, atol, rtol):
                candidates.append(m)
        except Exception:
            continue
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    student_out = []
    for c in cases:
        try:
            student_out.append(_call(student_fn, c))
        except Exception:
            student_out.append(None)

    def score(m: Mistake) -> int:
        n = 0
        for c, out in zip(cases, student_out):
            try:
                n += out is not None and _matches(_call(m.fn, c), out, atol, rtol)
            except Exception:
                pass
        return n

    return max(candidates, key=score)  # ties keep catalogue order


def format_result(r: CheckResult) -> str:
    icon = {PASSED: "✅", NOT_ATTEMPTED: "⏳"}.get(r.status, "❌")
    text = f"{icon} {r.name}: {r.status}. {r.message}"
    if r.hint:
        text += f"\n  hint: {r.hint}"
    return text


def use_if_passed(student_fn: Callable, result: CheckResult, reference: Callable) -> Callable:
    """Return the student's function if its check passed, else the reference, with a visible notice.

    Later cells of an exercise notebook call this so an unsolved notebook still runs.
    """
    if isinstance(result, CheckResult) and result.passed:
        print(f"using your {result.name.removeprefix('check_')}")
        return student_fn
    print(f"notice: {getattr(reference, '__name__', 'this function')} is not solved yet, "
          "so the cells below use the reference solution from pgcourse")
    return reference


def random_cases(make: Callable[[np.random.Generator], Case], n: int, seed: int = 0) -> list[Case]:
    """`n` randomised cases from `make(rng)`, seeded so a verdict is reproducible."""
    rng = np.random.default_rng(seed)
    return [make(rng) for _ in range(n)]
