"""Unsolved exercise notebooks run top to bottom without a traceback; their checks say 'not attempted yet'."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import record_notebook_duration

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = sorted(ROOT.glob("exercises/[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_unsolved_exercise_runs_without_traceback(path):
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    record_notebook_duration(str(path.relative_to(ROOT)), time.perf_counter() - start)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: {errors[0].ename}: {errors[0].evalue}"
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    n_checks = sum(c.source.count("= check_") for c in nb.cells if c.cell_type == "code")
    assert n_checks >= 2
    assert text.count("not attempted yet") >= n_checks, "every check should report 'not attempted yet'"
    assert "✗" not in text
