"""The exercise generator: solution blocks become runnable stubs, the grader's metadata is written, and a
notebook someone changed is never overwritten without a backup."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from pgcourse.tools import exercisegen
from pgcourse.tools.exercisegen import (BANNER, STUB, changes, fingerprint, main, make_exercise,
                                        set_exercise_source, strip_solutions)

ROOT = Path(__file__).resolve().parents[1]


def test_strip_keeps_signature_and_indentation():
    src = "def f(x):\n    '''doc'''\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\nprint(1)"
    out = strip_solutions(src)
    assert out == f"def f(x):\n    '''doc'''\n    {STUB}\n\nprint(1)"
    ns = {}
    exec(out, ns)
    with pytest.raises(NotImplementedError):
        ns["f"](1)
    assert strip_solutions(src, keep=True) == "def f(x):\n    '''doc'''\n    return 2 * x\n\nprint(1)"


@pytest.mark.parametrize("src, msg", [
    ("### BEGIN SOLUTION\nx = 1", "without a matching"),
    ("x = 1\n### END SOLUTION", "without a '### BEGIN"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
])
def test_unbalanced_markers_are_errors(src, msg):
    with pytest.raises(ValueError, match=msg):
        strip_solutions(src, "nb")


def _solution() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Exercises — Lesson 1: t\n\nTwo functions."),
                nbformat.v4.new_code_cell("x = 1", outputs=[nbformat.v4.new_output("stream", text="hi")],
                                          execution_count=3),
                nbformat.v4.new_code_cell("def double(y):\n    # points: 2\n    ### BEGIN SOLUTION\n"
                                          "    return 2 * y\n    ### END SOLUTION"),
                nbformat.v4.new_code_cell("result = check_double(double)"),
                nbformat.v4.new_code_cell("def half(y):\n    ### BEGIN SOLUTION\n    return y / 2\n"
                                          "    ### END SOLUTION"),
                nbformat.v4.new_code_cell("print(double(3))"),
                nbformat.v4.new_code_cell("# solution-only\nassert x == 1")]
    return nb


def test_solution_only_cells_and_outputs_are_dropped():
    nb = _solution()
    ex = make_exercise(nb, "01_t.ipynb")
    codes = [c for c in ex.cells if c.cell_type == "code"]
    assert codes[0].source == "x = 1" and len(codes) == 5
    assert codes[0].outputs == [] and codes[0].execution_count is None
    assert len(nb.cells) == 7  # the solution notebook is not modified


def test_header_speaks_to_the_student_and_metadata_to_the_grader():
    ex = make_exercise(_solution(), "01_t.ipynb")
    header = ex.cells[0].source
    assert header == "# Exercises — Lesson 1: t\n\n" + BANNER.format(name="01_t.ipynb")
    assert ex.cells[1].source == "Two functions."   # the title moved into the header, said once
    assert "work/" in header and "solutions/" not in header and "exercisegen" not in header
    meta = ex.metadata["pgcourse"]
    assert meta["lesson"] == "01_t" and meta["generated_from"] == "solutions/01_t.ipynb"
    assert "solutions/01_t.ipynb" in meta["instructor_note"]
    assert meta["exercises"] == [
        {"id": "double", "function": "double", "check": "check_double", "points": 2},
        {"id": "half", "function": "half", "check": "", "points": 1},
    ]
    roles = [c.metadata["pgcourse"]["role"] for c in ex.cells if c.cell_type == "code"]
    assert roles == ["setup", "exercise", "check", "exercise", "lesson"]
    assert meta["fingerprint"] == fingerprint(ex)


def test_the_title_opens_the_exercise_notebook():
    """JupyterLab's tab shows the file name, the same as the lesson's: the first line must say which it is."""
    nb = _solution()
    nb.cells[0].source = "# Exercises — Lesson 1: t"   # a title alone: its cell is not repeated
    ex = make_exercise(nb, "01_t.ipynb")
    assert ex.cells[0].source.startswith("# Exercises — Lesson 1: t\n\n")
    assert ex.cells[1].cell_type == "code" and len(ex.cells) == len(nb.cells) - 1
    nb.cells[0].source = "No title here."
    ex = make_exercise(nb, "01_t.ipynb")
    assert ex.cells[0].source == BANNER.format(name="01_t.ipynb") and ex.cells[1].source == "No title here."
    for path in sorted((ROOT / "exercises").glob("0[1-6]_*.ipynb")):
        first = nbformat.read(path, as_version=4).cells[0].source.split("\n")[0]
        lesson = nbformat.read(ROOT / "notebooks" / path.name, as_version=4).cells[0].source.split("\n")[0]
        assert first.startswith("# Exercises — Lesson ") and first != lesson, (path.name, first, lesson)


def test_solved_notebook_has_the_answers_and_counts_as_changed():
    ex = make_exercise(_solution(), "01_t.ipynb", solved=True)
    src = "\n".join(c.source for c in ex.cells if c.cell_type == "code")
    assert "return 2 * y" in src and STUB not in src and "BEGIN SOLUTION" not in src
    assert ex.metadata["pgcourse"]["fingerprint"] != fingerprint(ex)
    set_exercise_source(ex, "half", "def half(y):\n    return 0")
    assert "return 0" in ex.cells[5].source
    with pytest.raises(KeyError):
        set_exercise_source(ex, "nope", "")


@pytest.fixture
def course(tmp_path):
    """A copy of the course's solutions/ and its generated exercises/."""
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    assert main(["--root", str(tmp_path)]) == 0
    return tmp_path


def test_regenerating_untouched_or_run_notebooks_is_allowed(course, capsys):
    path = course / "exercises" / "01_log_derivative_trick.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="versions")]  # a student ran it, changed nothing
    nb.cells[2].execution_count = 1
    nbformat.write(nb, path)
    assert main(["--root", str(course)]) == 0
    assert "wrote exercises/01_log_derivative_trick.ipynb" in capsys.readouterr().out
    assert main(["--root", str(course), "--check"]) == 0


def test_refuses_to_overwrite_a_students_work(course, capsys):
    path = course / "exercises" / "01_log_derivative_trick.ipynb"
    nb = nbformat.read(path, as_version=4)
    set_exercise_source(nb, "softmax_score", "def softmax_score(theta, a):\n    return 'my answer'")
    nbformat.write(nb, path)
    work = path.read_bytes()
    (course / "exercises" / "02_reinforce.ipynb").unlink()   # a missing one is still written
    assert main(["--root", str(course)]) == 1
    out = capsys.readouterr().out
    assert path.read_bytes() == work
    assert "01_log_derivative_trick.ipynb  (cell 5 changed)" in out
    assert "python -m pgcourse start" in out and "--force" in out
    assert (course / "exercises" / "02_reinforce.ipynb").exists()
    assert not (course / "work").exists()


def test_refuses_an_unreadable_notebook(course, capsys):
    path = course / "exercises" / "03_baselines.ipynb"
    path.write_text("{ not json")
    assert main(["--root", str(course)]) == 1
    assert "not readable as a notebook" in capsys.readouterr().out
    assert path.read_text() == "{ not json"


def test_force_writes_a_timestamped_backup_first(course, capsys):
    path = course / "exercises" / "01_log_derivative_trick.ipynb"
    nb = nbformat.read(path, as_version=4)
    set_exercise_source(nb, "softmax_score", "def softmax_score(theta, a):\n    return 'my answer'")
    nbformat.write(nb, path)
    work = path.read_bytes()
    assert main(["--root", str(course), "--force"]) == 0
    backups = list((course / "work" / "backups").glob("*/exercises/01_log_derivative_trick.ipynb"))
    assert len(backups) == 1 and backups[0].read_bytes() == work
    assert backups[0].parent.parent.name[:8].isdigit()   # <YYYYmmdd-HHMMSS>
    assert "my answer" not in path.read_text() and main(["--root", str(course), "--check"]) == 0
    assert "saved in work/backups/" in capsys.readouterr().out


def test_notebooks_written_before_fingerprints_are_recognised(course):
    path = course / "exercises" / "04_actor_critic.ipynb"
    nb = json.loads(path.read_text())
    del nb["metadata"]["pgcourse"]
    nb["cells"][0]["source"] = "an old header"
    nb["cells"][1]["source"] = "# Exercises 4 — Actor-critic\n\n" + "".join(nb["cells"][1]["source"])  # the old title
    path.write_text(json.dumps(nb))
    assert changes(path, exercisegen.generate(course)[path]) is None
    nb["cells"][4]["source"] = "def gae(*a):\n    return 1"
    path.write_text(json.dumps(nb))
    assert changes(path, exercisegen.generate(course)[path]) == "cells 2, 5 changed"   # 2: the old title
