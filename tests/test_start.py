"""`python -m pgcourse start` copies the course into work/ and never overwrites a student's file."""

import shutil
import subprocess
import sys
from pathlib import Path

from pgcourse.tools.start import main

ROOT = Path(__file__).resolve().parents[1]


def _course(tmp_path):
    for folder in ("notebooks", "exercises"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def test_copies_what_is_missing_and_keeps_the_rest(tmp_path, capsys):
    root = _course(tmp_path)
    assert main(["--root", str(root)]) == 0
    out = capsys.readouterr().out
    ex = root / "work" / "exercises" / "01_log_derivative_trick.ipynb"
    assert ex.read_bytes() == (root / "exercises" / ex.name).read_bytes()
    assert (root / "work" / "notebooks" / "00_welcome.ipynb").exists()
    assert "copied  exercises/01_log_derivative_trick.ipynb -> work/exercises/01_log_derivative_trick.ipynb" in out
    assert "jupyter lab work/notebooks/00_welcome.ipynb" in out

    ex.write_text("my work")
    (root / "work" / "exercises" / "02_reinforce.ipynb").unlink()
    assert main(["--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert ex.read_text() == "my work"
    assert "kept    work/exercises/01_log_derivative_trick.ipynb (already there; never overwritten)" in out
    assert "1 copied" in out and (root / "work" / "exercises" / "02_reinforce.ipynb").exists()


def test_outside_the_course_folder_it_says_where_to_run(tmp_path, capsys):
    assert main(["--root", str(tmp_path)]) == 2
    assert "course folder" in capsys.readouterr().out
    assert not (tmp_path / "work").exists()


def test_work_is_git_ignored_and_a_cli_command():
    assert "work/" in (ROOT / ".gitignore").read_text().split()
    out = subprocess.run([sys.executable, "-m", "pgcourse"], capture_output=True, text=True).stdout
    assert "start" in out
