"""`pgcourse grade PATH...`: grade submitted exercise notebooks in a sandbox, on hidden cases.

    pgcourse grade submissions/ [--out grades] [--workers 2] [--timeout 60] [--memory 2048] [--json]

PATH: exercise notebooks, or folders of them (one sub-folder per student, or one notebook per student);
the student is the sub-folder's name, else the notebook's file name. Each notebook's lesson and exercises
come from the metadata `exercisegen` wrote into it (the points and the list of exercises from the course's
own `exercises/` when it is at hand), so reordered or added cells still grade.

For each notebook the grader runs, in a fresh sandboxed Python process (`sandbox`, `grade_child`), only the
setup cell(s), the exercise cells and the definitions (imports, functions, classes, constants) of the
other cells above the last exercise; never the lesson's demonstrations. It sends the functions inputs of
hidden cases (drawn with a fresh seed each run, so they differ from the notebook's public checks), gets the
answers back as plain data, and judges them here with the same `Exercise` declarations the notebook checks
use: the same comparison, the same mistake catalogue and hints. Student code never runs in this process.

Writes, in --out (default `grades/`): `grades.csv` (one row per notebook and exercise: student, file,
lesson, exercise, points, max_points, status, mistake, reason), `totals.csv` (one row per student) and
`feedback/<student>/<notebook>.md` (each exercise's verdict, the failing case and the hint). Nothing else
is written; submissions are only read. Exit status 0 when grading finished, whatever the scores; 2 when
the grader could not run (the message says why).

Statuses: passed, failed, not attempted, error (the code crashed, ended the process, or did what the
sandbox forbids), timeout, memory, invalid (not gradable as handed in: unreadable, another lesson, an
exercise cell deleted), uses reference (the function is, wraps or calls pgcourse's reference: 0 points).
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import json
import os
import re
import secrets
import shutil
import signal as signals
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pgcourse.checks.core import EXERCISES, FAILED, PASSED, NOT_ATTEMPTED, SYMBOLS, CheckResult, Exercise, Outcome, \
    format_result, not_a_function, verdict
from pgcourse.tools import plaindata, sandbox

STATUSES = ("passed", "failed", "not attempted", "error", "timeout", "memory", "invalid", "uses reference")
COLUMNS = ("student", "file", "lesson", "exercise", "points", "max_points", "status", "mistake", "reason")
MAX_NOTEBOOK_BYTES = 50 * 2**20
# what a student's code may use from pgcourse.checks without it counting as the reference
CHECKS_API = {"check_", "use_if_passed", "Case", "CheckResult", "Mistake", "run_check"}


class GraderError(Exception):
    """The grader itself cannot run (not a student's fault): the message says why."""


# ----------------------------------------------------------------------------- what to grade
@dataclass
class Submission:
    student: str
    path: Path
    file: str   # as shown in the gradebook


def collect(paths: list[Path], out: Path) -> list[Submission]:
    """Every notebook under `paths`, with its student id (sub-folder name, else file name)."""
    subs: list[Submission] = []
    out = out.resolve()
    for root in paths:
        if root.is_file():
            student = root.parent.name if re.match(r"^\d\d_", root.name) and root.parent.name else root.stem
            subs.append(Submission(student, root, str(root)))
            continue
        if not root.is_dir():
            raise GraderError(f"{root}: no such file or folder")
        for p in sorted(root.rglob("*.ipynb")):
            rel = p.relative_to(root)
            if ".ipynb_checkpoints" in rel.parts or _inside(p.resolve(), out) or any(
                    part.startswith(".") for part in rel.parts):
                continue
            student = rel.parts[0] if len(rel.parts) > 1 else p.stem
            subs.append(Submission(student, p, str(p)))
    return subs


def _inside(p: Path, folder: Path) -> bool:
    return p == folder or folder in p.parents


@dataclass
class LessonDef:
    lesson: str
    exercises: list[dict]       # id, function, check, points
    source: str                 # where the list and the points come from


def course_lessons(course: Path | None) -> dict[str, LessonDef]:
    """The lessons of the course's own exercises/ (written by exercisegen): the authority on exercises and
    points, so a submission's edited metadata cannot change them."""
    out: dict[str, LessonDef] = {}
    if course is None:
        return out
    for p in sorted((course / "exercises").glob("[0-9][0-9]_*.ipynb")):
        try:
            meta = json.loads(p.read_text(encoding="utf-8"))["metadata"]["pgcourse"]
            out[meta["lesson"]] = LessonDef(meta["lesson"], list(meta["exercises"]), str(p))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def find_course(explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not (explicit / "exercises").is_dir():
            raise GraderError(f"--course {explicit}: no exercises/ folder there")
        return explicit
    import pgcourse

    for c in (Path.cwd(), Path(pgcourse.__file__).resolve().parents[1]):
        if (c / "exercises").is_dir() and any((c / "exercises").glob("[0-9][0-9]_*.ipynb")):
            return c
    return None


# ----------------------------------------------------------------------------- reading a notebook
@dataclass
class Plan:
    """What to run of one notebook, and what is already decided without running it."""

    lesson: str = ""
    exercises: list[dict] = field(default_factory=list)
    chunks: list[dict] = field(default_factory=list)   # cell (1-based), source, how ("all" or "definitions")
    invalid: str = ""                                   # the whole notebook cannot be graded
    decided: dict[str, tuple[str, str]] = field(default_factory=dict)   # exercise -> (status, reason)
    notes: list[str] = field(default_factory=list)


def read_notebook(path: Path) -> tuple[dict | None, str]:
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            return None, f"the file is {size / 2**20:.0f} MB; a notebook saved without huge outputs is far smaller"
        nb = json.loads(path.read_bytes())
    except OSError as exc:
        return None, f"cannot read the file: {exc.strerror or exc}"
    except (ValueError, RecursionError) as exc:
        return None, f"not a notebook: the file is not valid JSON ({str(exc)[:120]})"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None, "not a notebook: no list of cells"
    return nb, ""


def _src(cell: dict) -> str:
    s = cell.get("source", "")
    return "".join(x for x in s if isinstance(x, str)) if isinstance(s, list) else (s if isinstance(s, str) else "")


def _python(source: str) -> str:
    """A cell's source as plain Python (IPython's %magics and !commands become calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def _top_level_defs(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _no_call(node: ast.AST) -> bool:
    """True when evaluating `node` calls nothing (lambda bodies are not evaluated)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
        stack += [c for c in ast.iter_child_nodes(n) if not isinstance(n, ast.Lambda)]
    return True


def definitions_only(source: str, tree: ast.Module) -> str:
    """The cell with only its imports, function and class definitions and constant assignments kept; other
    statements' lines are blanked, so line numbers in tracebacks stay those of the cell."""
    lines = source.split("\n")
    keep = [False] * (len(lines) + 2)
    drop = [False] * (len(lines) + 2)
    for node in tree.body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        ok = isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
            or (isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None and _no_call(node.value)
                and all(isinstance(t, (ast.Name, ast.Tuple)) for t in
                        (node.targets if isinstance(node, ast.Assign) else [node.target])))
        for ln in range(start, (node.end_lineno or node.lineno) + 1):
            (keep if ok else drop)[ln] = True
    return "\n".join(line if keep[i + 1] and not drop[i + 1] else "" for i, line in enumerate(lines))


def plan(nb: dict, lessons: dict[str, LessonDef], only_lesson: str | None) -> Plan:
    """Which cells of `nb` to run and how, and what is decided before running anything."""
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    pg = meta.get("pgcourse") if isinstance(meta.get("pgcourse"), dict) else None
    if pg is None or not isinstance(pg.get("lesson"), str):
        return Plan(invalid="not an exercise notebook of this course (no pgcourse metadata): hand in your copy of "
                            "the notebook from exercises/, saved from JupyterLab")
    lesson = pg["lesson"]
    if only_lesson and lesson != only_lesson:
        return Plan(lesson=lesson, invalid=f"this is the exercise notebook of lesson {lesson}, "
                                           f"not of {only_lesson}, the lesson being graded")
    if lesson in lessons:
        exercises = lessons[lesson].exercises
    else:
        listed = pg.get("exercises") if isinstance(pg.get("exercises"), list) else []
        exercises = [{"id": e["function"], "function": e["function"],
                      "check": e.get("check") if isinstance(e.get("check"), str) else "",
                      "points": e.get("points") if isinstance(e.get("points"), (int, float))
                      and not isinstance(e.get("points"), bool) and 0 <= e.get("points") <= 1000 else 1}
                     for e in listed if isinstance(e, dict) and isinstance(e.get("function"), str)
                     and e["function"].isidentifier()]
    p = Plan(lesson=lesson, exercises=[dict(e) for e in exercises])
    if lesson not in lessons:
        p.notes.append("the list of exercises and their points come from the notebook's own metadata "
                       "(the course's exercises/ for this lesson was not found)")
    functions = {e["function"] for e in exercises}
    parsed = []
    for k, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        cmeta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        role = cmeta.get("pgcourse", {}).get("role", "") if isinstance(cmeta.get("pgcourse"), dict) else ""
        tagged = cmeta.get("pgcourse", {}).get("exercises", []) if role == "exercise" else []
        tagged = [t for t in tagged if isinstance(t, str)] if isinstance(tagged, list) else []
        source = _python(_src(cell))
        try:
            tree = ast.parse(source)
            defined = _top_level_defs(tree)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            tree, defined = None, set()
            if role == "exercise":
                defined = set(tagged) & functions
        is_exercise = role == "exercise" or bool(
            tree is not None and any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name in functions
                                     for n in tree.body))
        parsed.append((k + 1, role, source, tree, defined, is_exercise, set(tagged)))
    last = max((i for i, c in enumerate(parsed) if c[5]), default=-1)
    has_setup = any(c[1] == "setup" for c in parsed)
    first = min((i for i, c in enumerate(parsed) if c[5]), default=-1)
    bound: set[str] = set()
    tagged_for: set[str] = set()
    for i, (cell, role, source, tree, defined, is_exercise, tagged) in enumerate(parsed[: last + 1]):
        tagged_for |= tagged
        if is_exercise or role == "setup" or (not has_setup and i < first):
            p.chunks.append({"cell": cell, "source": source, "how": "all"})
            bound |= defined
        elif tree is not None:
            kept = definitions_only(source, tree)
            if kept.strip():
                p.chunks.append({"cell": cell, "source": kept, "how": "definitions"})
                bound |= _top_level_defs(ast.parse(kept))   # parses: a subset of a cell that parsed
    for e in exercises:
        f = e["function"]
        if f not in bound:
            if f in tagged_for:
                continue   # its cell is there (perhaps with an error): the sandbox says what became of it
            p.decided[e["id"]] = ("invalid", f"the exercise cell with `def {f}(...)` is missing (deleted?): copy it "
                                             f"back from exercises/{lesson}.ipynb and solve it there")
    return p


# ----------------------------------------------------------------------------- using the reference, read from the source
def reference_uses(chunks: list[dict], exercises: list[dict], ref_names: set[str]) -> dict[str, str]:
    """exercise id -> why its function is, wraps or calls a pgcourse reference, judged from the source of the
    cells that run: the last binding of the function's name, and everything its body (and the student's
    functions it calls) names through a pgcourse import."""
    origin: dict[str, str] = {}              # local name -> dotted pgcourse path
    funcs: dict[str, ast.AST] = {}           # last top-level binding of each name
    for chunk in chunks:
        try:
            tree = ast.parse(chunk["source"])
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("pgcourse"):
                        origin[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pgcourse") and not node.level:
                for a in node.names:
                    origin[a.asname or a.name] = f"{node.module}.{a.name}"
                    funcs[a.asname or a.name] = node
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                funcs[node.name] = node
                origin.pop(node.name, None)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                    if isinstance(t, ast.Name):
                        funcs[t.id] = node
                        origin.pop(t.id, None)

    def flagged(path: str) -> bool:
        parts = path.split(".")
        if parts[0] != "pgcourse":
            return False
        if parts[-1] in ref_names:
            return True
        if len(parts) > 2 and parts[1] == "checks":
            name = parts[2] if len(parts) > 2 else ""
            return not any(name == a or (a.endswith("_") and name.startswith(a)) for a in CHECKS_API)
        return False

    def mentions(node: ast.AST) -> tuple[set[str], set[str]]:
        paths, names = set(), set()
        for n in ast.walk(node):
            if isinstance(n, ast.Attribute):
                chain, base = [], n
                while isinstance(base, ast.Attribute):
                    chain.append(base.attr)
                    base = base.value
                if isinstance(base, ast.Name) and base.id in origin:
                    paths.add(".".join([origin[base.id]] + chain[::-1]))
            elif isinstance(n, ast.Name):
                names.add(n.id)
                if n.id in origin:
                    paths.add(origin[n.id])
            elif isinstance(n, ast.ImportFrom) and (n.module or "").startswith("pgcourse"):
                paths |= {f"{n.module}.{a.name}" for a in n.names}
            elif isinstance(n, ast.Import):
                paths |= {a.name for a in n.names if a.name.startswith("pgcourse")}
            elif isinstance(n, ast.Constant) and isinstance(n.value, str):
                if n.value in ref_names or n.value.startswith("pgcourse"):
                    paths.add(n.value if n.value.startswith("pgcourse") else f"pgcourse.?.{n.value}")
        return paths, names

    def why(name: str, seen: set[str]) -> str | None:
        if name in seen or name not in funcs:
            return None
        seen.add(name)
        paths, names = mentions(funcs[name])
        bad = sorted(p for p in paths if flagged(p))
        if bad:
            return bad[0].replace(".?.", " ")
        for other in sorted(names & set(funcs)):
            w = why(other, seen)
            if w:
                return w
        return None

    out = {}
    for e in exercises:
        w = why(e["function"], set())
        if w:
            out[e["id"]] = f"{e['function']} uses {w}, pgcourse's reference (read from the source of your cells)"
    return out


# ----------------------------------------------------------------------------- hidden cases, judged here
@dataclass
class Judge:
    """One exercise's hidden cases and everything computed from the reference and the mistakes, once per run."""

    spec: Exercise
    cases: list
    inputs: list              # plain data sent to the sandbox
    expected: list
    mistake_cache: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    problem: str = ""

    @classmethod
    def make(cls, spec: Exercise, seed: int) -> "Judge":
        digest = hashlib.sha256(f"{seed}:{spec.check}".encode()).digest()
        hidden = int.from_bytes(digest[:8], "little") % 2**63
        if hidden == spec.seed:
            hidden += 1
        cases = spec.cases(hidden)
        inputs = [plaindata.encode((list(c.args), dict(c.kwargs))) for c in cases]
        ref = spec.wrapped(spec.expected or spec.reference)
        try:
            expected = [c.call(ref) for c in cases]
            problem = ""
        except Exception as exc:
            expected, problem = [], f"the grader could not compute the reference answers: {type(exc).__name__}: {exc}"
        judge = cls(spec, cases, inputs, expected, problem=problem)
        for m in spec.mistakes:   # every mistake on every case, once, before any submission is judged
            wrapped = spec.wrapped(m.fn)
            for i, c in enumerate(cases):
                try:
                    judge.mistake_cache[(m.name, i)] = ("ok", c.call(wrapped))
                except Exception as exc:
                    judge.mistake_cache[(m.name, i)] = ("raise", exc)
        return judge

    def mistake_output(self, m, i):
        kind, value = self.mistake_cache[(m.name, i)]
        if kind == "raise":
            raise value
        return value

    def judge(self, outcomes: dict[int, Outcome]) -> CheckResult:
        s = self.spec
        return verdict(s.check, self.cases, lambda i: self.expected[i], lambda i: outcomes.get(i), s.mistakes,
                       self.mistake_output, s.arg_names, s.atol, s.rtol, s.compare, s.generic_hint)


# ----------------------------------------------------------------------------- the grading of one notebook
@dataclass
class Result:
    sub: Submission
    rows: list[dict]
    feedback: str
    seconds: float = 0.0


def _status_of(result: CheckResult) -> str:
    if result.status == PASSED:
        return "passed"
    if result.status == NOT_ATTEMPTED:
        return "not attempted"
    return {"": "failed", "timeout": "timeout", "memory": "memory", "uses reference": "uses reference"}.get(
        result.cause, "error")


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().split("\n")[0]
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _death(run: sandbox.Run, limits: sandbox.Limits, stderr: str) -> tuple[str, str]:
    """(status, reason) for a sandboxed process that ended without finishing."""
    sig = run.signal
    if run.timed_out:
        return "timeout", f"did not finish within {limits.timeout:g} s"
    if sig == signals.SIGXCPU or (sig == signals.SIGKILL and run.seconds >= (limits.cpu or limits.timeout)):
        return "timeout", f"used more than {limits.cpu or limits.timeout:g} s of CPU time"
    if re.search(r"MemoryError|bad_alloc|[Cc]annot allocate memory|out of memory", stderr):
        return "memory", f"ran out of memory (more than {limits.memory_mb} MB)"
    if sig is not None:
        name = signals.Signals(sig).name if sig in signals.Signals._value2member_map_ else f"signal {sig}"
        return "error", f"was killed by {name} (a crash)"
    return "error", f"ended the process with exit code {run.returncode} (os._exit, or a crash)"


class Grader:
    def __init__(self, limits: sandbox.Limits, lessons: dict[str, LessonDef], only_lesson: str | None,
                 seed: int, bwrap: str | None, workdir: Path, output_bytes: int = 1_000_000):
        self.limits, self.lessons, self.only_lesson, self.seed = limits, lessons, only_lesson, seed
        self.bwrap, self.workdir, self.output_bytes = bwrap, workdir, output_bytes
        self.judges: dict[str, Judge] = {}
        self.lock = threading.Lock()
        self.count = 0

    def judge_for(self, check: str) -> Judge | None:
        with self.lock:
            if check not in self.judges:
                spec = EXERCISES.get(check)
                self.judges[check] = Judge.make(spec, self.seed) if spec is not None else None
            return self.judges[check]

    def _rundir(self) -> Path:
        with self.lock:
            self.count += 1
            n = self.count
        d = self.workdir / f"run{n:05d}"
        d.mkdir(parents=True)
        return d

    def run_child(self, chunks: list[dict], exercises: list[dict], references: list) -> tuple[sandbox.Run, list[dict]]:
        job = {"limits": {"timeout": self.limits.timeout, "memory_mb": self.limits.memory_mb, "cpu": self.limits.cpu,
                          "file_bytes": self.limits.file_bytes},
               "output_bytes": self.output_bytes, "cells": chunks, "exercises": exercises, "references": references}
        rundir = self._rundir()
        try:
            with tempfile.TemporaryFile(dir=rundir) as results:
                run = sandbox.run_python(["pgcourse.tools.grade_child", "--results-fd", str(results.fileno())],
                                         json.dumps(job).encode(), rundir, self.limits, self.bwrap,
                                         fds=(results.fileno(),))
                results.seek(0)
                raw = results.read(self.limits.file_bytes + 1)
        finally:
            _rmtree(rundir)
        events = []
        for line in raw.split(b"\n"):
            if not line.strip():
                continue
            try:
                ev = json.loads(line)
            except (ValueError, RecursionError):
                break
            if not isinstance(ev, dict):
                break
            events.append(ev)
        return run, events

    def preflight(self) -> None:
        """Run an empty job: a sandbox that cannot start Python is the grader's problem, said once."""
        run, events = self.run_child([], [], [])
        if not any(e.get("event") == "done" for e in events):
            raise GraderError("the sandboxed Python process did not start: "
                              + (run.stderr.decode(errors="replace").strip()[-1500:] or
                                 f"exit code {run.returncode}{' (timed out)' if run.timed_out else ''}")
                              + ("\n(bubblewrap is in use; --no-bwrap runs without it)" if self.bwrap else ""))

    def grade(self, sub: Submission) -> Result:
        start = time.monotonic()
        nb, problem = read_notebook(sub.path)
        p = plan(nb, self.lessons, self.only_lesson) if nb is not None else Plan(invalid=problem)
        if not p.invalid and not p.exercises:
            p.invalid = f"no exercises listed for lesson {p.lesson} (neither in the course's exercises/ nor in the notebook)"
        rows, sections = [], []
        if p.invalid:
            lesson_def = self.lessons.get(self.only_lesson or "") if self.only_lesson else None
            exercises = lesson_def.exercises if lesson_def else [{"id": "", "function": "", "points": 0}]
            for e in exercises:
                rows.append(self._row(sub, self.only_lesson or p.lesson, e, 0, "invalid", "", p.invalid))
            return Result(sub, rows, self._feedback(sub, p, rows, [f"**This notebook could not be graded:** "
                                                                   f"{p.invalid}."]), time.monotonic() - start)
        judges = {e["id"]: self.judge_for(e.get("check", "")) for e in p.exercises}
        refs = sorted({(j.spec.reference.__module__, j.spec.reference.__name__) for j in judges.values() if j})
        static = reference_uses(p.chunks, p.exercises, {name for _, name in refs})
        decided = dict(p.decided)
        for e in p.exercises:
            j = judges[e["id"]]
            if e["id"] in decided:
                continue
            if j is None:
                decided[e["id"]] = ("error", f"the grader has no check {e.get('check') or '(none)'} for "
                                             f"{e['function']} (is pgcourse up to date?)")
            elif j.problem:
                decided[e["id"]] = ("error", j.problem)
            elif e["id"] in static:
                decided[e["id"]] = ("uses reference", static[e["id"]])
        todo = [e for e in p.exercises if e["id"] not in decided]
        info: dict[str, dict] = {e["id"]: {"cases": {}} for e in todo}
        cell_errors: list[str] = []
        printed = 0
        while todo:
            job_ex = [{"id": e["id"], "function": e["function"], "check": e["check"], "module": judges[e["id"]].spec.module,
                       "cases": judges[e["id"]].inputs} for e in todo]
            run, events = self.run_child(p.chunks, job_ex, [list(r) for r in refs])
            stderr = run.stderr.decode(errors="replace")
            current, cells_done, done, last_cell = None, False, False, None
            for ev in events:
                kind, eid = ev.get("event"), ev.get("id")
                if kind == "cell":
                    last_cell = ev.get("cell")
                elif kind == "cell_error" and not cell_errors_seen(cell_errors, ev):
                    cell_errors.append(f"cell {ev.get('cell')}: {str(ev.get('error', ''))[:600]}")
                elif kind == "cells_done":
                    cells_done = True
                elif kind == "exercise" and eid in info:
                    current = eid
                elif kind in ("missing", "not_callable", "uses_reference") and eid in info:
                    info[eid][kind] = ev.get("why") or ev.get("type") or True
                    info[eid]["done"] = True
                    current = None
                elif kind == "case" and eid in info and isinstance(ev.get("i"), int):
                    info[eid]["cases"][ev["i"]] = ev
                elif kind == "exercise_done" and eid in info:
                    info[eid]["done"] = True
                    current = None
                elif kind == "done":
                    done = True
                    printed = max(printed, int(ev.get("printed", 0) or 0))
            if done:
                break
            status, reason = _death(run, self.limits, stderr)
            if not cells_done:
                where = f"while running cell {last_cell}" if last_cell is not None else "before running your cells"
                for e in todo:
                    info[e["id"]]["death"] = (status, f"your notebook's code {reason} {where}", None)
                break
            if current is None:  # ended between exercises: the rest is not known
                current = next((e["id"] for e in todo if not info[e["id"]].get("done")), None)
                if current is None:
                    break
            n_known = len(info[current]["cases"])
            info[current]["death"] = (status, f"your function {reason}", n_known)
            info[current]["done"] = True
            todo = [e for e in todo if not info[e["id"]].get("done")]
        for e in p.exercises:
            eid, j = e["id"], judges[e["id"]]
            if eid in decided:
                status, reason = decided[eid]
                rows.append(self._row(sub, p.lesson, e, 0, status, "", reason))
                sections.append(self._section(e, status, 0, reason))
                continue
            got = info[eid]
            if got.get("missing"):
                status, reason = "invalid", (f"no function named {e['function']} after running your cells "
                                             f"(renamed, or its cell failed? see the notes)")
                rows.append(self._row(sub, p.lesson, e, 0, status, "", reason))
                sections.append(self._section(e, status, 0, reason))
                continue
            if got.get("uses_reference"):
                reason = f"{e['function']}: {got['uses_reference']}"
                rows.append(self._row(sub, p.lesson, e, 0, "uses reference", "", reason))
                sections.append(self._section(e, "uses reference", 0, reason))
                continue
            death = got.get("death")
            if death is not None and death[2] is None:   # the cells never finished: no function was called
                rows.append(self._row(sub, p.lesson, e, 0, death[0], "", death[1]))
                sections.append(self._section(e, death[0], 0, death[1]))
                continue
            if got.get("not_callable"):
                result = not_a_function(j.spec.check, None)
                result.message = f"expected a function, got {str(got['not_callable'])[:60]}"
            else:
                outcomes: dict[int, Outcome] = {}
                for i, ev in got["cases"].items():
                    k = ev.get("kind")
                    if k == "value":
                        try:
                            outcomes[i] = Outcome("value", plaindata.decode(ev.get("value")))
                        except ValueError as exc:
                            outcomes[i] = Outcome("error", error=f"the answer could not be read back: {exc}")
                    else:
                        outcomes[i] = Outcome(str(k), error=str(ev.get("error", ""))[:2000])
                if death is not None:
                    status, reason, at = death
                    if at < len(j.cases) and at not in outcomes:   # "exit": not an ordinary exception
                        outcomes[at] = Outcome("exit" if status == "error" else status, error=reason)
                if any(o.kind == "uses reference" for o in outcomes.values()):
                    why = next(o.error for o in outcomes.values() if o.kind == "uses reference")
                    reason = f"{e['function']}: {why}"
                    rows.append(self._row(sub, p.lesson, e, 0, "uses reference", "", reason))
                    sections.append(self._section(e, "uses reference", 0, reason))
                    continue
                result = j.judge(outcomes)
            status = _status_of(result)
            pts = e.get("points", 1) if status == "passed" else 0
            rows.append(self._row(sub, p.lesson, e, pts, status, result.mistake or "", _first_line(result.message)))
            sections.append(self._section(e, status, pts, format_result(result), result))
        notes = list(p.notes)
        if cell_errors:
            notes.append("errors in your cells (the grader went on with the next cell, as Jupyter's "
                         "'run all' with errors allowed would):\n" + "\n".join(f"  - {c}" for c in cell_errors))
        if printed > self.output_bytes:
            notes.append(f"your code printed {printed:,} bytes; the grader kept the first {self.output_bytes:,}")
        ran = ", ".join(f"{c['cell']}" + (" (definitions only)" if c["how"] == "definitions" else "") for c in p.chunks)
        notes.append(f"cells run (counted from the top, text cells included): {ran or 'none'}")
        return Result(sub, rows, self._feedback(sub, p, rows, sections, notes), time.monotonic() - start)

    def _row(self, sub, lesson, e, points, status, mistake, reason) -> dict:
        max_points = e.get("points", 1) if e.get("function") else 0
        return {"student": sub.student, "file": sub.file, "lesson": lesson, "exercise": e.get("id", ""),
                "points": points, "max_points": max_points, "status": status, "mistake": mistake,
                "reason": " ".join(str(reason).split())[:500]}

    def _section(self, e, status, points, text, result: CheckResult | None = None) -> str:
        icon = {"passed": SYMBOLS[PASSED], "not attempted": SYMBOLS[NOT_ATTEMPTED]}.get(status, SYMBOLS[FAILED])
        body = text if result is not None else f"{text}."
        if result is not None and result.mistake:
            body += f"\n\nLikely mistake: {result.mistake}"
        return f"## {icon} {e['function']}: {status} ({points}/{e.get('points', 1)})\n\n```text\n{body.strip()}\n```"

    def _feedback(self, sub, p: Plan, rows, sections, notes=()) -> str:
        total, maxp = sum(r["points"] for r in rows), sum(r["max_points"] for r in rows)
        head = [f"# Feedback on {Path(sub.file).name}", "",
                f"Student: {sub.student} · lesson: {p.lesson or 'unknown'} · score: {_num(total)}/{_num(maxp)}", ""]
        if rows and rows[0]["exercise"]:
            head += ["| exercise | points | status |", "| --- | --- | --- |"]
            head += [f"| {r['exercise']} | {_num(r['points'])}/{_num(r['max_points'])} | {r['status']} |" for r in rows]
            head.append("")
        tail = ["", "## How this was graded", "",
                "Your functions ran in a separate, sandboxed Python process on new random cases (the grader draws "
                "them afresh, so they differ from the ones the checks in your notebook use), and their answers "
                "were compared with the reference here, with the same hints as the checks. Only your setup and "
                "exercise cells and the definitions above them ran; the lesson's other cells did not."]
        tail += [f"- {n}" for n in notes]
        return "\n".join(head + ["\n\n".join(sections)] + tail) + "\n"


def cell_errors_seen(errors: list[str], ev: dict) -> bool:
    return any(e.startswith(f"cell {ev.get('cell')}:") for e in errors)


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _rmtree(path: Path) -> None:
    def onerror(func, p, _exc):
        try:
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=onerror)


# ----------------------------------------------------------------------------- gradebook
def _safe(name: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", name).strip("._") or "student"


def write_outputs(out: Path, results: list[Result]) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    rows = [r for res in results for r in res.rows]
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    best: dict[tuple[str, str], tuple[float, float, str]] = {}
    files: dict[str, int] = {}
    for res in results:
        s = res.sub.student
        files[s] = files.get(s, 0) + 1
        lesson = res.rows[0]["lesson"] if res.rows else ""
        pts, mx = sum(r["points"] for r in res.rows), sum(r["max_points"] for r in res.rows)
        if (s, lesson) not in best or pts > best[(s, lesson)][0]:
            best[(s, lesson)] = (pts, mx, res.sub.file)
    with open(out / "totals.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "points", "max_points", "percent", "lessons", "files"])
        for s in sorted(files):
            mine = {lesson: v for (st, lesson), v in best.items() if st == s}
            pts, mx = sum(v[0] for v in mine.values()), sum(v[1] for v in mine.values())
            w.writerow([s, _num(pts), _num(mx), f"{100 * pts / mx:.1f}" if mx else "0.0",
                        " ".join(sorted(l for l in mine if l)), files[s]])
    fb = out / "feedback"
    used: set[Path] = set()
    for res in results:
        d = fb / _safe(res.sub.student)
        d.mkdir(parents=True, exist_ok=True)
        stem = _safe(Path(res.sub.file).stem)
        path, n = d / f"{stem}.md", 1
        while path in used:
            n += 1
            path = d / f"{stem}-{n}.md"
        used.add(path)
        path.write_text(res.feedback, encoding="utf-8")
    return {"rows": len(rows), "students": len(files), "feedback": len(used)}


# ----------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="pgcourse grade", description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Statuses: " + ", ".join(STATUSES))
    ap.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="exercise notebooks or folders of them")
    ap.add_argument("--out", type=Path, default=Path("grades"), help="output folder (default: grades/)")
    ap.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                    help="notebooks graded at once (default: CPU cores, at most 4)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per notebook run (wall clock and CPU; default 60)")
    ap.add_argument("--memory", type=int, default=2048, help="address-space limit per notebook, MB (default 2048)")
    ap.add_argument("--json", action="store_true", help="also print the gradebook rows as JSON lines on stdout")
    ap.add_argument("--lesson", help="grade only this lesson (e.g. 01 or 01_log_derivative_trick); "
                                     "notebooks of other lessons are 'invalid'")
    ap.add_argument("--seed", type=int, help="seed of the hidden cases (default: fresh each run; printed)")
    ap.add_argument("--course", type=Path, help="the course folder whose exercises/ define exercises and points "
                                                "(default: the current folder, else pgcourse's own)")
    ap.add_argument("--no-bwrap", action="store_true", help="do not use bubblewrap even if it is installed")
    args = ap.parse_args(argv)
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    caches, sys.dont_write_bytecode = sys.dont_write_bytecode, True   # nothing outside --out, not even caches
    try:
        return _main(args, say)
    except GraderError as exc:
        print(f"pgcourse grade: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pgcourse grade: interrupted; nothing more was written", file=sys.stderr)
        return 130
    finally:
        sys.dont_write_bytecode = caches


def _main(args, say) -> int:
    if args.workers < 1 or args.timeout <= 0 or args.memory < 256:
        raise GraderError("--workers must be >= 1, --timeout > 0 and --memory >= 256 (MB)")
    out = args.out
    subs = collect(list(args.paths), out)
    if not subs:
        raise GraderError(f"no notebooks (*.ipynb) found in {', '.join(map(str, args.paths))}")
    course = find_course(args.course)
    lessons = course_lessons(course)
    import pgcourse.checks  # noqa: F401  (registers every lesson's exercises)

    only = None
    if args.lesson:
        matches = [l for l in lessons if l == args.lesson or l.split("_")[0] == args.lesson.zfill(2)]
        if len(matches) != 1:
            raise GraderError(f"--lesson {args.lesson}: choose one of {', '.join(sorted(lessons)) or '(no course found)'}")
        only = matches[0]
    try:
        out.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=".grading-", dir=out))
    except OSError as exc:
        raise GraderError(f"cannot write to --out {out}: {exc.strerror or exc}")
    bwrap = None if args.no_bwrap else sandbox.find_bwrap()
    seed = args.seed if args.seed is not None else secrets.randbits(48)
    limits = sandbox.Limits(timeout=args.timeout, memory_mb=args.memory)
    grader = Grader(limits, lessons, only, seed, bwrap, workdir)
    start = time.monotonic()
    try:
        grader.preflight()
        from tqdm.auto import tqdm

        bar = tqdm(total=len(subs), unit="notebook", desc="grading", file=sys.stderr, dynamic_ncols=True)
        results: list[Result | None] = [None] * len(subs)

        def one(k: int) -> None:
            try:
                results[k] = grader.grade(subs[k])
            except GraderError:
                raise
            except Exception as exc:  # a bug in the grader on one notebook must not lose the others
                sub = subs[k]
                row = {"student": sub.student, "file": sub.file, "lesson": "", "exercise": "", "points": 0,
                       "max_points": 0, "status": "error", "mistake": "",
                       "reason": f"the grader failed on this notebook: {type(exc).__name__}: {exc}"}
                results[k] = Result(sub, [row], f"# Feedback on {Path(sub.file).name}\n\n{row['reason']}\n")
            bar.update(1)

        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            for f in [pool.submit(one, k) for k in range(len(subs))]:
                f.result()
        bar.close()
    finally:
        _rmtree(workdir)
    seconds = time.monotonic() - start
    done = [r for r in results if r is not None]
    counts = write_outputs(out, done)
    rows = [row for r in done for row in r.rows]
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    by_status = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    lessons_seen: dict[str, int] = {}
    for r in done:
        lesson = r.rows[0]["lesson"] if r.rows else ""
        lessons_seen[lesson or "unknown"] = lessons_seen.get(lesson or "unknown", 0) + 1
    say(f"graded {len(done)} notebooks of {counts['students']} students in {seconds:.1f} s "
        f"({seconds / max(len(done), 1):.2f} s per notebook, {args.workers} workers)")
    say("lessons: " + ", ".join(f"{l} ({n} notebooks)" for l, n in sorted(lessons_seen.items()))
        + ("" if only or len(lessons_seen) < 2 else "; pass --lesson to grade one assignment"))
    say("statuses: " + ", ".join(f"{s} {n}" for s, n in by_status.items() if n))
    say(f"isolation: {sandbox.isolation(bwrap is not None)}")
    say(f"hidden cases: seed {seed} (--seed {seed} draws the same ones again)")
    say(f"points and exercises: {'from ' + str(course / 'exercises') if course else 'from each notebook (no course exercises/ found)'}")
    say(f"wrote {out / 'grades.csv'} ({counts['rows']} rows), {out / 'totals.csv'} ({counts['students']} students), "
        f"{out / 'feedback'}/ ({counts['feedback']} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
