"""End to end, the student's path: work in work/, and the repository's tools never touch it.

In a temporary copy of the course (the files git tracks, plus new ones not ignored):

1. `python -m pgcourse start` copies the course into `work/`, as a student does;
2. JupyterLab opens `work/exercises/01_log_derivative_trick.ipynb` in headless Chromium; the set-up cells
   are run with Shift+Enter, a WRONG answer is typed into the first exercise's cell, it and its check cell
   are run, and the verdict must say "failed" with the mistake's hint; then the RIGHT answer is typed, both
   cells run again and the verdict must say "passed"; Ctrl+S saves the notebook;
3. `python -m pgcourse exercisegen` and the repository's own tests (tests/test_repo.py: no outputs stored,
   exercises not stale; tests/test_exercisegen.py) run in that copy and must pass, and the student's saved
   notebook must be byte for byte what JupyterLab saved, with the right answer and its verdict in it.

    pytest -m browser tests/test_browser_student.py -s

Skipped if playwright or Chromium is missing, unless PGCOURSE_REQUIRE_BROWSER=1 (or CI) is set: then
it fails. PGCOURSE_BROWSER_ARTIFACTS=dir keeps screenshots there (always saved on failure).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser_support as bs  # noqa: E402
import test_browser as tb  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXERCISE = "work/exercises/01_log_derivative_trick.ipynb"
# Typed line by line as a student types: the editor indents after `def ...:` and keeps the indentation.
WRONG = ["def softmax_score(theta, a):",
         "z = np.exp(theta - theta.max())",
         "pi = z / z.sum()",
         "return pi - np.eye(len(theta))[a]"]
RIGHT = WRONG[:3] + ["return np.eye(len(theta))[a] - pi"]
WRONG_HINT = "the sign is flipped"
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "work", "grades", "__pycache__", "*.egg-info",
                                     ".ipynb_checkpoints", "build")

pytestmark = pytest.mark.browser


def _require_browser():
    bs.require_browser()


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=bs.CHROMIUM, args=bs.CHROMIUM_ARGS, headless=True,
                               timeout=60_000)
        try:
            yield b
        finally:
            b.close()


def copy_course(dest: Path) -> Path:
    """The course as a fresh checkout of this one has it: git's tracked and untracked-but-not-ignored
    files (so uncommitted edits count), or, outside git, the folder minus environments and caches."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True)
    if listed.returncode == 0 and listed.stdout:
        for rel in filter(None, listed.stdout.decode().split("\0")):
            src = REPO / rel
            if src.is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / rel)
    else:
        shutil.copytree(REPO, dest, ignore=COPY_IGNORE, dirs_exist_ok=True)
    assert (dest / "solutions").is_dir() and (dest / "exercises").is_dir(), f"incomplete copy in {dest}"
    return dest


def run_in(course: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python ARGS...` in the course copy, importing that copy's pgcourse."""
    env = dict(os.environ, PYTHONPATH=str(course))
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, *args], cwd=course, env=env, capture_output=True, text=True,
                          timeout=timeout)


# The open notebook's cells: kind, role (exercisegen's metadata), source, execution count, prompt, and
# the text of the outputs as shown.
JS_CELLS = r"""
() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.content.widgets.map(cell => {
    const m = cell.model;
    const meta = (m.getMetadata ? m.getMetadata('pgcourse') : null) || {};
    const prompt = cell.node.querySelector('.jp-InputPrompt');
    const out = cell.node.querySelector('.jp-OutputArea');
    return {type: m.type, role: meta.role || '', exercises: meta.exercises || [],
            source: m.sharedModel.getSource(),
            count: m.type === 'code' ? m.executionCount : null,
            prompt: prompt ? prompt.textContent.trim() : '',
            text: out ? out.innerText : ''};
  });
}
"""

JS_DIRTY = "() => window.jupyterapp.shell.currentWidget.context.model.dirty"


def _cells(page):
    return page.evaluate(JS_CELLS)


JS_MARK_CELL = r"""
(i) => {
  document.querySelectorAll('[data-pgstudent]').forEach(e => e.removeAttribute('data-pgstudent'));
  window.jupyterapp.shell.currentWidget.content.widgets[i].node.setAttribute('data-pgstudent', 'cell');
  return true;
}
"""


def _cell(page, i):
    """The notebook's `i`-th cell (its DOM node, found through JupyterLab's model of the notebook)."""
    page.evaluate(JS_MARK_CELL, i)
    return page.locator('[data-pgstudent="cell"]')


def _wait_ran(page, server, i, before, timeout=60):
    """Wait until code cell `i` has a new execution count and the kernel is idle; returns the cell."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cell = _cells(page)[i]
        if cell["count"] is not None and cell["count"] != before and "*" not in cell["prompt"]:
            kernel = server.session_kernel(EXERCISE)
            if kernel and kernel["execution_state"] == "idle":
                time.sleep(0.3)  # the last output may trail the reply
                return _cells(page)[i]
        time.sleep(0.2)
    raise TimeoutError(f"cell {i} did not finish within {timeout} s: {_cells(page)[i]}")


def _run_with_shift_enter(page, server, i):
    """Select cell `i` (command mode, by its prompt) and run it with Shift+Enter, as a student does."""
    before = _cells(page)[i]["count"]
    _cell(page, i).locator(".jp-InputPrompt").first.click()
    page.keyboard.press("Shift+Enter")
    return _wait_ran(page, server, i, before)


def _type_answer(page, i, lines):
    """Replace cell `i`'s code by typing `lines` in its editor; returns the source the notebook now holds."""
    editor = _cell(page, i).locator(".cm-content").first
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    for j, line in enumerate(lines):
        if j:
            page.keyboard.press("Enter")
        page.keyboard.type(line.lstrip(), delay=5)
    expected = lines[0] + "".join("\n    " + line for line in lines[1:])
    source = _cells(page)[i]["source"]
    assert source.rstrip() == expected, f"typed {expected!r}, the cell holds {source!r}"
    return source


def _answer_and_check(page, server, ex, chk, lines):
    """Type `lines` into the exercise cell, run it (Shift+Enter moves on to the check cell), run the
    check; returns the check cell's output text."""
    _type_answer(page, ex, lines)
    before_ex, before_chk = _cells(page)[ex]["count"], _cells(page)[chk]["count"]
    page.keyboard.press("Shift+Enter")           # runs the exercise cell, selects the check cell
    _wait_ran(page, server, ex, before_ex)
    page.keyboard.press("Shift+Enter")           # runs the check
    return _wait_ran(page, server, chk, before_chk)["text"]


def test_student_work_survives_the_repository_tools(browser, tmp_path, monkeypatch):
    t0 = time.monotonic()
    course = copy_course(tmp_path / "course")
    _log = tb._log
    generated = (course / "exercises" / "01_log_derivative_trick.ipynb").read_bytes()

    started = run_in(course, "-m", "pgcourse", "start")
    assert started.returncode == 0, started.stdout + started.stderr
    notebook = course / EXERCISE
    assert notebook.is_file(), f"`pgcourse start` did not copy {EXERCISE}:\n{started.stdout}"
    assert notebook.read_bytes() == generated
    _log(f"course copied and `pgcourse start` run in {time.monotonic() - t0:.1f} s")

    monkeypatch.setenv("PYTHONPATH", str(course))   # the kernel imports the copy's pgcourse
    artifacts = Path(os.environ.get("PGCOURSE_BROWSER_ARTIFACTS") or tmp_path / "artifacts")
    artifacts.mkdir(parents=True, exist_ok=True)
    with bs.jupyter_lab(course, tmp_path / "lab") as server:
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(30_000)
        step = "open the exercise notebook"
        try:
            page.goto(server.url("lab/tree/" + urllib.parse.quote(EXERCISE)), wait_until="domcontentloaded",
                      timeout=60_000)
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", state="visible", timeout=60_000)
            tb._wait_kernel_ready(page, server, EXERCISE, timeout=60)
            _log(f"{EXERCISE} open, kernel idle at {time.monotonic() - t0:.1f} s")

            cells = _cells(page)
            ex = next(i for i, c in enumerate(cells) if c["role"] == "exercise")
            chk = next(i for i, c in enumerate(cells) if i > ex and c["role"] == "check")
            assert cells[ex]["exercises"] == ["softmax_score"], cells[ex]
            assert "check_softmax_score(softmax_score)" in cells[chk]["source"], cells[chk]

            step = "run the set-up cells"
            for i, c in enumerate(cells[:ex]):
                if c["type"] == "code" and c["source"].strip():
                    ran = _run_with_shift_enter(page, server, i)
                    assert "Error" not in ran["text"], f"set-up cell {i} failed:\n{ran['text']}"

            step = "type a wrong answer and check it"
            verdict = _answer_and_check(page, server, ex, chk, WRONG)
            _log(f"wrong answer: {verdict.splitlines()[0] if verdict else '(no output)'}")
            assert "check_softmax_score: failed" in verdict, verdict
            assert "hint:" in verdict and WRONG_HINT in verdict, verdict

            step = "type the right answer and check it"
            verdict = _answer_and_check(page, server, ex, chk, RIGHT)
            _log(f"right answer: {verdict.splitlines()[0] if verdict else '(no output)'}")
            assert "check_softmax_score: passed" in verdict and "failed" not in verdict, verdict

            step = "save with Ctrl+S"
            assert page.evaluate(JS_DIRTY), "the notebook should have unsaved changes before Ctrl+S"
            page.keyboard.press("Control+s")
            deadline = time.monotonic() + 20
            while page.evaluate(JS_DIRTY) or notebook.read_bytes() == generated:
                assert time.monotonic() < deadline, "Ctrl+S did not save the notebook"
                time.sleep(0.2)
            time.sleep(0.5)
            if os.environ.get("PGCOURSE_BROWSER_ARTIFACTS"):
                page.screenshot(path=str(artifacts / "student-exercise-saved.png"))
        except BaseException:
            shot = artifacts / "student-failure.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
                print(f"\nstudent-path test failed at step '{step}'; screenshot: {shot}")
            except Exception as exc:  # the page may be gone
                print(f"\nstudent-path test failed at step '{step}'; no screenshot ({exc})")
            print(f"JupyterLab log ({server.log_path}):\n{server.log_tail()}")
            raise
        finally:
            context.close()
    saved = notebook.read_bytes()
    text = saved.decode("utf-8")
    assert "return np.eye(len(theta))[a] - pi" in text and "check_softmax_score: passed" in text
    _log(f"saved by JupyterLab at {time.monotonic() - t0:.1f} s")

    gen = run_in(course, "-m", "pgcourse", "exercisegen")
    assert gen.returncode == 0, f"exercisegen failed in a student's checkout:\n{gen.stdout}{gen.stderr}"
    assert "wrote" not in gen.stdout, gen.stdout   # exercises/ was up to date: nothing rewritten
    assert (course / "exercises" / "01_log_derivative_trick.ipynb").read_bytes() == generated

    tests = run_in(course, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_repo.py",
                   "tests/test_exercisegen.py", timeout=240)
    assert tests.returncode == 0, (f"the repository's tests fail once a student has worked in work/:\n"
                                   f"{tests.stdout[-4000:]}{tests.stderr[-2000:]}")
    summary = re.findall(r"^=*\s*(\d+ passed.*?)\s*=*$", tests.stdout, re.MULTILINE)
    assert summary and "skipped" not in summary[-1], tests.stdout[-2000:]
    assert notebook.read_bytes() == saved, "exercisegen or the repository's tests changed the student's work"
    _log(f"exercisegen, and tests/test_repo.py + tests/test_exercisegen.py ({summary[-1]}); total "
         f"{time.monotonic() - t0:.1f} s")
