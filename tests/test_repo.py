"""Repository rules, for instructors and maintainers: notebooks stored without outputs, exercises generated
from solutions, set-ups agree. They check the repository, not a student's answers: students work in work/
(`python -m pgcourse start`), which these tests never look at."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

from pgcourse.tools import exercisegen

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("exercises/*.ipynb")) + sorted(
    ROOT.glob("solutions/*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, (f"instructors and maintainers: {path.relative_to(ROOT)} is stored with outputs (cells {dirty}); "
                       f"clear them with `jupyter nbconvert --clear-output --inplace {path.relative_to(ROOT)}` "
                       "(code is kept). Students: run and save your copies in work/ (python -m pgcourse start), "
                       "not here")


def test_every_lesson_has_solution_and_exercise():
    lessons = {p.name for p in ROOT.glob("notebooks/[0-9][0-9]_*.ipynb")} - {"00_welcome.ipynb"}
    assert lessons, "no lessons found"
    assert lessons == {p.name for p in ROOT.glob("solutions/*.ipynb")}
    assert lessons == {p.name for p in ROOT.glob("exercises/*.ipynb")}


def test_exercises_are_not_stale():
    bad = exercisegen.stale(ROOT)
    assert not bad, (f"instructors and maintainers: exercises/ is stale ({bad}); regenerate with "
                     "`python -m pgcourse exercisegen` (it refuses to overwrite notebooks you changed). "
                     "Students: your answers belong in work/ (python -m pgcourse start), which this test never checks")


def test_first_code_cell_prints_versions():
    for path in sorted(ROOT.glob("*/[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert "show_versions()" in first.source, f"{path.name}: the first code cell must call show_versions()"


def test_solutions_have_solution_blocks():
    for path in sorted(ROOT.glob("solutions/*.ipynb")):
        src = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert src.count(exercisegen.BEGIN) >= 2 and src.count(exercisegen.BEGIN) == src.count(exercisegen.END), path


def _name_and_spec(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_reqs = dict(_name_and_spec(r) for r in project["dependencies"] + project["optional-dependencies"]["test"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_reqs = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for r in dep.get("pip", []):
                if not r.startswith("-"):
                    name, spec = _name_and_spec(r)
                    conda_reqs[name] = spec
        else:
            name, spec = _name_and_spec(dep.replace("=", "==", 1) if re.match(r"^[\w.-]+=[^=]", dep) else dep)
            if name not in ("python", "pip"):
                conda_reqs[name] = spec
    assert conda_reqs == pip_reqs, (
        f"environment.yml and pyproject.toml disagree:\n only in pyproject: "
        f"{ {k: v for k, v in pip_reqs.items() if conda_reqs.get(k) != v} }\n only in environment.yml: "
        f"{ {k: v for k, v in conda_reqs.items() if pip_reqs.get(k) != v} }")


def test_torch_is_pinned():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.13.0" in deps, "pin torch==2.13.0: a looser pin downloads a multi-GB CUDA build"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_markdown_inside_details_renders(path):
    """A quiz answer's Markdown (emphasis, lists, math) renders in JupyterLab only when a blank line follows
    `</summary>` and precedes `</details>`; LaTeX-style ``quotes'' show as two closing quotes."""
    nb = nbformat.read(path, as_version=4)
    bad = []
    for i, c in enumerate(nb.cells):
        if c.cell_type != "markdown":
            continue
        if re.search(r"</summary>(?!\n\n)", c.source) or re.search(r"(?<!\n\n)</details>", c.source):
            bad.append(f"cell {i}: no blank line after </summary> or before </details>")
        if re.search(r"``[^`]+''", c.source):
            bad.append(f"cell {i}: ``LaTeX quotes''; use “ ”")
    assert not bad, f"{path.relative_to(ROOT)}: " + "; ".join(bad)
