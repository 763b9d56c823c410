"""The sandboxed side of `pgcourse grade`: run one submission's cells, call its functions, report answers.

`python -I -B -m pgcourse.tools.grade_child --results-fd N` reads a job (JSON) on stdin: the code to run
(the cells the parent chose, already turned into plain Python), and for each exercise the function's name,
the check whose probe to apply and the hidden inputs, as plain data. It limits itself (`sandbox.Limits`,
the system-call filter) before any student code runs, replaces the lesson's reference functions in every
pgcourse module by tripwires, stubs the notebook checks, then runs the cells and calls each function on
each input. It writes one JSON line per event to fd N: answers as plain data (`plaindata`), errors as
text. It never sees the expected answers and judges nothing: everything it writes is data the parent
reads with care, and whatever the student's code patches here can change only that data.
"""

from __future__ import annotations

import argparse
import builtins
import io
import json
import linecache
import os
import sys
import types

_REAL_WRITE = os.write


class _Results:
    """One JSON object per line on an inherited file descriptor."""

    def __init__(self, fd: int):
        self.fd = fd

    def __call__(self, **event) -> None:
        data = (json.dumps(event, separators=(",", ":"), allow_nan=True) + "\n").encode()
        view = memoryview(data)
        while view:
            n = _REAL_WRITE(self.fd, view)
            view = view[n:]


class _CappedStream(io.TextIOBase):
    """stdout/stderr for student code: the first `limit` bytes go to the real stream, the rest is counted."""

    def __init__(self, fd: int, limit: int):
        self.fd, self.limit, self.written, self.dropped = fd, limit, 0, 0

    def writable(self) -> bool:
        return True

    def write(self, s) -> int:
        s = str(s)
        data = s.encode("utf-8", "replace")
        room = self.limit - self.written
        if room > 0:
            try:
                _REAL_WRITE(self.fd, data[:room])
            except OSError:
                pass
        self.written += min(len(data), max(room, 0))
        self.dropped += max(len(data) - max(room, 0), 0)
        return len(s)

    def flush(self) -> None:
        pass


class ReferenceUsed(BaseException):
    """Raised by a tripwire: the graded code called the pgcourse reference it was asked to write."""


_ARMED = [False]   # tripwires fire only while a graded function runs; cells may still call the reference


def _tripwire(module: str, name: str, original):
    def tripwire(*args, **kwargs):
        if _ARMED[0]:
            raise ReferenceUsed(f"{module}.{name}")
        return original(*args, **kwargs)

    tripwire.__name__ = tripwire.__qualname__ = name
    tripwire.__module__ = module
    tripwire.__doc__ = "not available while grading: write your own"
    tripwire._pgcourse_tripwire = f"{module}.{name}"
    return tripwire


class _Shell:
    """`get_ipython()` for cells turned into plain Python: magics do nothing (a few run their cell body)."""

    def __init__(self, ns: dict):
        self.ns = ns

    def run_line_magic(self, name, line, *args, **kwargs):
        return None

    def run_cell_magic(self, name, line, cell, *args, **kwargs):
        if name in ("time", "capture", "timeit"):
            exec(compile(cell, "<cell magic>", "exec"), self.ns)
        return None

    def system(self, *args, **kwargs):
        print("(shell commands are not run while grading)")

    getoutput = system

    def __getattr__(self, name):
        return lambda *a, **k: None


def _stub_checks():
    """A `pgcourse.checks` whose check functions do nothing (checks are the grader's job here), with the
    real package's folder, so its submodules (probes, a lesson's exercise declarations) still import."""
    import pgcourse
    from pathlib import Path

    class _NotRun:
        passed = False
        status = "not run while grading"

        def __bool__(self):
            return False

    mod = types.ModuleType("pgcourse.checks")
    mod.__path__ = [str(Path(pgcourse.__file__).parent / "checks")]

    def __getattr__(name):
        if name.startswith("check_"):
            def check(*args, **kwargs):
                return _NotRun()
            check.__name__ = name
            return check
        if name == "use_if_passed":
            return lambda student_fn, result, reference: student_fn
        import importlib
        return getattr(importlib.import_module("pgcourse.checks.core"), name)

    mod.__getattr__ = __getattr__
    sys.modules["pgcourse.checks"] = mod
    pgcourse.checks = mod


def _uses_reference(fn, originals: dict, names: set, depth: int = 0, seen=None) -> str | None:
    """Why `fn` is, wraps or calls a reference (by identity, module, closure, defaults or the globals its code
    names), or None. Only functions defined by the student are looked into."""
    import functools

    seen = set() if seen is None else seen
    if id(fn) in seen or depth > 6:
        return None
    seen.add(id(fn))
    tag = getattr(fn, "_pgcourse_tripwire", None) if isinstance(fn, types.FunctionType) else None
    if tag:
        return f"it is {tag}, the reference"
    if id(fn) in originals:
        return f"it is {originals[id(fn)]}, the reference"
    module = getattr(fn, "__module__", None) or ""
    if callable(fn) and isinstance(module, str) and module.startswith("pgcourse"):
        name = getattr(fn, "__name__", "")
        if name in names or module.startswith("pgcourse.checks."):
            return f"it is {module}.{name}, from pgcourse"
    if isinstance(fn, functools.partial):
        return _uses_reference(fn.func, originals, names, depth + 1, seen)
    inner = getattr(fn, "__wrapped__", None) or getattr(fn, "__func__", None)
    if inner is not None and inner is not fn:
        why = _uses_reference(inner, originals, names, depth + 1, seen)
        if why:
            return why
    if not isinstance(fn, types.FunctionType) or module != "__main__":
        return None   # look into the student's own functions only
    found = list(fn.__defaults__ or ()) + list((fn.__kwdefaults__ or {}).values())
    for cell in fn.__closure__ or ():
        try:
            found.append(cell.cell_contents)
        except ValueError:
            pass
    codes, co_names = [fn.__code__], set()
    while codes:
        code = codes.pop()
        co_names.update(code.co_names)
        codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    g = fn.__globals__
    for n in co_names:
        if n in g:
            v = g[n]
            if isinstance(v, types.ModuleType) and (v.__name__ or "").startswith("pgcourse"):
                found += [getattr(v, a) for a in co_names if a in vars(v)]
            else:
                found.append(v)
    for v in found:
        if callable(v) and not isinstance(v, type):
            why = _uses_reference(v, originals, names, depth + 1, seen)
            if why:
                return why if why.startswith("it calls") else "it calls " + why.removeprefix("it is ")
    return None


def _kind_of(exc: BaseException) -> str:
    import errno

    if isinstance(exc, ReferenceUsed):
        return "uses reference"
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and any(
            w in str(exc) for w in ("can't allocate memory", "not enough memory", "Cannot allocate memory"))):
        return "memory"
    if isinstance(exc, NotImplementedError):
        return "not implemented"
    if isinstance(exc, OSError) and exc.errno in (errno.EPERM, errno.EACCES, errno.EROFS):
        return "blocked"
    if not isinstance(exc, Exception):
        return "exit"
    return "error"


def _describe(exc: BaseException, summary) -> str:
    kind = _kind_of(exc)
    if kind == "uses reference":
        return f"it called {exc.args[0]}, the reference from pgcourse"
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({'' if exc.code is None else repr(exc.code)}), which ends the program"
    if kind == "blocked":
        return f"the grading sandbox does not allow this: {summary(exc)}"
    if kind == "memory":
        return f"it ran out of memory: {summary(exc)}"
    return summary(exc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results-fd", type=int, required=True)
    args = ap.parse_args(argv)
    emit = _Results(args.results_fd)
    job = json.loads(sys.stdin.buffer.read(64 * 2**20))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)

    from pgcourse.tools import sandbox

    sandbox.Limits(**job["limits"]).apply()
    filtered = sandbox.install_syscall_filter() if job.get("syscall_filter", True) else False
    out_limit = int(job.get("output_bytes", 1_000_000))
    stdout, stderr = _CappedStream(1, out_limit), _CappedStream(2, out_limit)
    sys.stdout, sys.stderr = stdout, stderr

    import importlib

    import numpy  # noqa: F401  (loaded before student code, like the notebook's kernel would)
    import pgcourse
    import pgcourse.util

    quiet_versions = (lambda *a, **k: {})
    pgcourse.show_versions = pgcourse.util.show_versions = quiet_versions
    _stub_checks()
    from pgcourse.checks.core import EXERCISES, error_summary

    from pgcourse.tools import plaindata

    wraps = {}
    for ex in job["exercises"]:
        if ex.get("module"):
            importlib.import_module(ex["module"])
        spec = EXERCISES.get(ex["check"])
        wraps[ex["id"]] = spec.wrap if spec is not None else None
    originals, names = {}, set()
    for module, name in job.get("references", []):
        mod = importlib.import_module(module)
        orig = getattr(mod, name)
        originals[id(orig)] = f"{module}.{name}"
        names.add(name)
        trip = _tripwire(module, name, orig)
        for m in list(sys.modules.values()):
            if isinstance(m, types.ModuleType) and (getattr(m, "__name__", "") or "").startswith("pgcourse"):
                for attr, val in list(vars(m).items()):
                    if val is orig:
                        setattr(m, attr, trip)
    EXERCISES.clear()   # the declarations (references, mistakes) are the parent's business
    emit(event="ready", syscall_filter=filtered)

    ns: dict = {"__name__": "__main__", "__builtins__": builtins}
    ns["get_ipython"] = lambda: _Shell(ns)
    for chunk in job["cells"]:
        filename = f"<cell {chunk['cell']}>"
        source = chunk["source"]
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        emit(event="cell", cell=chunk["cell"])
        try:
            exec(compile(source, filename, "exec"), ns)
        except BaseException as exc:  # noqa: BLE001 - every failure of the student's cell is reported
            if isinstance(exc, ReferenceUsed):
                emit(event="cell_error", cell=chunk["cell"], kind="uses reference", error=_describe(exc, error_summary))
            else:
                emit(event="cell_error", cell=chunk["cell"], kind=_kind_of(exc), error=_describe(exc, error_summary))
    emit(event="cells_done")

    for ex in job["exercises"]:
        eid, fname = ex["id"], ex["function"]
        emit(event="exercise", id=eid)
        if fname not in ns:
            emit(event="missing", id=eid)
            continue
        fn = ns[fname]
        if not callable(fn):
            emit(event="not_callable", id=eid, type=type(fn).__name__)
            continue
        why = _uses_reference(fn, originals, names)
        if why:
            emit(event="uses_reference", id=eid, why=why)
            continue
        wrap = wraps.get(eid)
        call = wrap(fn) if wrap is not None else fn
        for i, case in enumerate(ex["cases"]):
            try:
                cargs, ckwargs = plaindata.decode(case)
                _ARMED[0] = True
                try:
                    value = call(*cargs, **ckwargs)
                finally:
                    _ARMED[0] = False
                try:
                    emit(event="case", id=eid, i=i, kind="value", value=plaindata.encode(value))
                except plaindata.TooLarge as exc:
                    emit(event="case", id=eid, i=i, kind="error", error=f"the answer is too large: {exc}")
                    continue
            except BaseException as exc:  # noqa: BLE001
                kind = _kind_of(exc)
                emit(event="case", id=eid, i=i, kind=kind, error=_describe(exc, error_summary))
                if kind not in ("error",):
                    break
        emit(event="exercise_done", id=eid)
    emit(event="done", printed=stdout.written + stdout.dropped + stderr.written + stderr.dropped)
    os._exit(0)   # no atexit handlers or finalisers of the student's code


if __name__ == "__main__":
    main()
