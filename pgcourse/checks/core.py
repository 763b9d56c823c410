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
import dataclasses
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from pgcourse.util import to_numpy

NOT_ATTEMPTED = "not attempted yet"
PASSED = "passed"
FAILED = "failed"
# Verdict symbols from basic Unicode blocks (Dingbats, Geometric Shapes) that DejaVu and every common
# font draw; colour emoji show as empty boxes where no emoji font is installed.
SYMBOLS = {PASSED: "\u2713", NOT_ATTEMPTED: "\u25cb", FAILED: "\u2717"}  # ✓ ○ ✗


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

    def call(self, fn: Callable) -> Any:
        """`fn` on fresh copies of this case's arguments (so no answer can change the case)."""
        return fn(*copy.deepcopy(self.args), **copy.deepcopy(self.kwargs))


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
    cause: str = ""  # set by the grader when no answer came back: "timeout", "memory", "exit", "blocked", ...

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
    integer = isinstance(x, np.ndarray) and x.dtype.kind in "iu" or (
        hasattr(x, "dtype") and hasattr(x, "is_floating_point") and not x.is_floating_point() and not x.is_complex())
    arr = to_numpy(x)
    if integer and isinstance(arr, np.ndarray):
        arr = arr.astype(np.int64)  # integer inputs (actions, indices) are shown as integers
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
    return case.call(fn)


def error_summary(exc: BaseException, limit: int = 3) -> str:
    """`Type: message` and the student's own last frames (not the grader's), as a check reports an error."""
    tb = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in tb if "pgcourse" not in f.filename and not f.filename.endswith("copy.py")][-limit:]
    where = "".join(f"\n    line {f.lineno} in {f.name}: {f.line}" for f in frames if f.line)
    return f"{type(exc).__name__}: {exc}{where}"


@dataclass
class Outcome:
    """What one call of a student's function gave: a value, or the error it raised.

    `kind` is "value", "not implemented" (it raised NotImplementedError) or "error" (any other
    exception; `error` is its `error_summary`). The grader adds kinds of its own for what a notebook
    never sees ("memory", "timeout", "uses reference", "blocked", "exit"); `verdict` reports those as a
    failure whose `CheckResult.cause` is that kind."""

    kind: str
    value: Any = None
    error: str = ""

    @classmethod
    def of(cls, fn: Callable, case: Case) -> "Outcome":
        try:
            return cls("value", _call(fn, case))
        except NotImplementedError:
            return cls("not implemented")
        except Exception as exc:
            return cls("error", error=error_summary(exc))


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
    try:
        if not callable(student_fn):
            result = not_a_function(name, student_fn)
        else:
            memo: dict[int, Outcome] = {}

            def student(i: int) -> Outcome:
                if i not in memo:
                    memo[i] = Outcome.of(student_fn, cases[i])
                return memo[i]

            result = verdict(name, cases, lambda i: _call(reference, cases[i]), student,
                             mistakes, lambda m, i: _call(m.fn, cases[i]), arg_names, atol, rtol,
                             compare_fn, generic_hint)
    except Exception as exc:  # the grader itself must never crash a notebook
        result = CheckResult(name, FAILED, f"the check could not finish: {type(exc).__name__}: {exc}")
    if verbose:
        print(format_result(result))
    return result


def not_a_function(name: str, obj: Any) -> CheckResult:
    return CheckResult(
        name, FAILED, f"expected a function, got {type(obj).__name__}",
        hint="pass the function itself, e.g. check(my_fn), not check(my_fn(...))",
    )


NOT_ATTEMPTED_MESSAGE = ("Replace `raise NotImplementedError` in your function with your code, run its cell, "
                         "then run this check again")


def verdict(
    name: str,
    cases: Sequence[Case],
    expected: Callable[[int], Any],
    student: Callable[[int], Outcome | None],
    mistakes: Sequence[Mistake],
    mistake_output: Callable[[Mistake, int], Any],
    arg_names: Sequence[str] | None = None,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    compare_fn: Callable[[Any, Any], str | None] | None = None,
    generic_hint: str = "",
) -> CheckResult:
    """The verdict on a student's answers, however they were obtained.

    `expected(i)`: the reference's answer on case i; `student(i)`: the student's `Outcome` on case i
    (None when it is unknown: the grader's process ended before it); `mistake_output(m, i)`: mistake m's
    answer (an exception means "no match"). The notebook check calls the functions here and now; the
    grader passes answers computed in a sandbox. Cases are judged in order; the first failing one is
    reported with the catalogued mistake that reproduces it, else the generic hint.
    """
    cmp = compare_fn or (lambda e, g: compare(e, g, atol, rtol))
    for i, case in enumerate(cases):
        where = f"case {i + 1} of {len(cases)}" + (f" ({case.label})" if case.label else "")
        inputs = case.describe(arg_names)
        exp = expected(i)
        out = student(i)
        if out is None or out.kind not in ("value", "not implemented", "error"):
            return _special(name, i, where, inputs, out, generic_hint)
        if out.kind == "not implemented":
            return CheckResult(name, NOT_ATTEMPTED, NOT_ATTEMPTED_MESSAGE)
        if out.kind == "error":
            return CheckResult(
                name, FAILED, f"{where} raised an error.\n  inputs: {inputs}\n  error: {out.error}",
                hint=generic_hint or "read the error message; the inputs above reproduce it",
                n_cases=i,
            )
        got = out.value
        reason = cmp(exp, got)
        if reason is None:
            continue
        m = _diagnose(i, got, cases, student, mistakes, mistake_output, atol, rtol)
        hint, mistake = (m.hint, m.name) if m else (generic_hint, None)
        msg = (
            f"{where}: {reason.rstrip('.?')}.\n  inputs:   {inputs}\n  expected: {_short(exp)}\n  got:      {_short(got)}"
        )
        return CheckResult(name, FAILED, msg, hint=hint, mistake=mistake, n_cases=i)
    return CheckResult(name, PASSED, f"all {len(cases)} cases match the reference", n_cases=len(cases))


def _special(name: str, i: int, where: str, inputs: str, out: Outcome | None, generic_hint: str) -> CheckResult:
    """A case whose answer the grader could not get (the process ran out of time or memory, ended, ...)."""
    kind = "unknown" if out is None else out.kind
    detail = out.error if out is not None and out.error else "no answer came back"
    return CheckResult(name, FAILED, f"{where}: {detail}\n  inputs: {inputs}", hint=generic_hint, n_cases=i,
                       cause=kind)


def _diagnose(i, got, cases, student, mistakes, mistake_output, atol, rtol) -> Mistake | None:
    """The catalogued mistake that reproduces the student's answer on the failing case and,
    among those, on the most of the other cases (one case alone can be ambiguous)."""
    candidates = []
    for m in mistakes:
        try:
            if _matches(mistake_output(m, i), got, atol, rtol):
                candidates.append(m)
        except Exception:
            continue
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    student_out = []
    for j in range(len(cases)):
        o = student(j)
        student_out.append(o.value if o is not None and o.kind == "value" else None)

    def score(m: Mistake) -> int:
        n = 0
        for j, out in enumerate(student_out):
            try:
                n += out is not None and _matches(mistake_output(m, j), out, atol, rtol)
            except Exception:
                pass
        return n

    return max(candidates, key=score)  # ties keep catalogue order


def format_result(r: CheckResult) -> str:
    icon = SYMBOLS.get(r.status, SYMBOLS[FAILED])
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


# ----------------------------------------------------------------------------- exercises, declared once
@dataclass(frozen=True)
class Exercise:
    """One graded exercise, described once for the notebook check and for the grader.

    check, function: the check's name (`check_softmax_score`) and the student's function (`softmax_score`).
    reference: the pgcourse function the student writes again (the grader scores a submission that is,
        wraps or calls it as "uses reference"). expected: what answers are compared with, when that is not
        the reference itself (e.g. a pair of acceptable answers).
    hand, make, n_random, seed: the cases are the hand-computable `hand` ones, then `n_random` cases drawn
        by `make(rng)`; the notebook check draws them with `seed`, the grader with a fresh hidden seed.
    wrap: a probe turning a student-level function into a function of plain NumPy inputs that returns
        plain data (e.g. a loss's value and gradients). It is applied alike to the student's function,
        the reference and each mistake; the grader applies it in the sandbox, to the student's function only.
    compare, atol, rtol, mistakes, arg_names, generic_hint: as in `run_check`.
    """

    check: str
    function: str
    reference: Callable
    hand: Sequence[Case]
    make: Callable[[np.random.Generator], Case]
    n_random: int
    seed: int
    mistakes: Sequence[Mistake] = ()
    arg_names: Sequence[str] | None = None
    generic_hint: str = ""
    wrap: Callable[[Callable], Callable] | None = None
    expected: Callable | None = None
    compare: Callable[[Any, Any], str | None] | None = None
    atol: float = 1e-6
    rtol: float = 1e-5
    module: str = ""

    def cases(self, seed: int | None = None) -> list[Case]:
        """The hand cases, then the random ones (the public seed unless `seed` is given)."""
        return list(self.hand) + random_cases(self.make, self.n_random, self.seed if seed is None else seed)

    def wrapped(self, fn: Any) -> Any:
        return fn if self.wrap is None else self.wrap(fn)

    def run(self, student_fn: Any, cases: Sequence[Case] | None = None, verbose: bool = True) -> CheckResult:
        """The notebook check: grade `student_fn` here and now, print the verdict and return it."""
        return run_check(self.check, self.wrapped(student_fn), self.wrapped(self.expected or self.reference),
                         self.cases() if cases is None else cases,
                         [Mistake(m.name, self.wrapped(m.fn), m.hint) for m in self.mistakes],
                         arg_names=self.arg_names, atol=self.atol, rtol=self.rtol, compare_fn=self.compare,
                         generic_hint=self.generic_hint, verbose=verbose)


EXERCISES: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    """Add `exercise` to `EXERCISES` (by check name) and return it. A lesson's check module declares
    each exercise once, `X = register(Exercise(...))`, and defines `check_x(fn)` as `X.run(fn)`; the grader
    finds it by the check name that `exercisegen` writes into the exercise notebook."""
    import inspect

    caller = inspect.currentframe().f_back
    module = caller.f_globals.get("__name__", "") if caller is not None else ""
    exercise = dataclasses.replace(exercise, module=exercise.module or module)
    EXERCISES[exercise.check] = exercise
    return exercise
