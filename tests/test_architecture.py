"""The package's layers (see `pgcourse/__init__.py`): imports run one way, no private name crosses a
module, every module has its test file, and each module's docstring names the lesson that introduces it."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "pgcourse"

# layer of each module (by dotted name prefix; the longest prefix wins). A module imports only from
# its own layer or lower ones: utilities <- building blocks <- algorithms and labs <- widgets, checks, tools.
LAYERS = {
    "pgcourse": 0, "pgcourse.util": 0, "pgcourse.plots": 0, "pgcourse.fastmlp": 0,
    "pgcourse.logderiv": 1, "pgcourse.returns": 1, "pgcourse.losses": 1, "pgcourse.advantages": 1,
    "pgcourse.baselines": 1, "pgcourse.soft": 1, "pgcourse.policies": 1, "pgcourse.actor_critic": 1,
    "pgcourse.rollouts": 1, "pgcourse.rlhf": 1,
    "pgcourse.algos": 2, "pgcourse.labs": 2, "pgcourse.lm": 2,
    "pgcourse.widgets": 3, "pgcourse.rlhf_widgets": 3, "pgcourse.checks": 3, "pgcourse.tools": 3,
    "pgcourse.__main__": 4, "pgcourse.lm.bench": 3,
}
LAYER_NAMES = ["utilities", "building blocks", "algorithms and laboratories", "widgets, checks and tools", "CLI"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def layer(name: str) -> int:
    best = max((k for k in LAYERS if name == k or name.startswith(k + ".")), key=len, default=None)
    assert best is not None, f"{name} has no layer in tests/test_architecture.py's LAYERS: add it"
    return LAYERS[best]


def imports(path: Path, name: str) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every pgcourse import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names if a.name.startswith("pgcourse")]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([mod] if mod else []))
            if not mod.startswith("pgcourse"):
                continue
            for a in node.names:
                sub = f"{mod}.{a.name}"
                out.append((sub, None, node.lineno) if sub in MODULES else (mod, a.name, node.lineno))
    return out


EDGES = [(name, *edge) for name, path in MODULES.items() for edge in imports(path, name)]


def test_every_module_has_a_layer():
    for name in MODULES:
        layer(name)


def test_imports_run_one_way():
    bad = [f"{src} (layer {LAYER_NAMES[layer(src)]}) imports {dst} (layer {LAYER_NAMES[layer(dst)]}), line {line}"
           for src, dst, _, line in EDGES if src != "pgcourse" and layer(dst) > layer(src)]
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_private_name_crosses_a_module():
    bad = [f"{src} imports {dst}.{n}, line {line}" for src, dst, n, line in EDGES
           if n is not None and n.startswith("_") and dst != src]
    bad += [f"{src} imports the private module {dst}, line {line}" for src, dst, n, line in EDGES
            if any(part.startswith("_") and part != "__main__" for part in dst.split(".")[1:])]
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def test_tests_do_not_import_private_names():
    bad = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for dst, n, line in imports(path, "tests." + path.stem):
            if n is not None and n.startswith("_"):
                bad.append(f"{path.name}:{line} imports {dst}.{n}")
    assert not bad, "tests use the public interface:\n" + "\n".join(bad)


def _owner_test(name: str) -> str:
    """tests/test_<last part>.py, or test_checks_<x>.py for checks/<x>.py, test_lm_<x>.py for lm/<x>.py."""
    parts = name.split(".")[1:]
    if parts[0] in ("checks", "lm") and len(parts) > 1:
        return f"test_{parts[0]}_{parts[-1]}.py"
    return f"test_{parts[-1]}.py"


@pytest.mark.parametrize("name", [n for n, p in MODULES.items() if p.name != "__init__.py" and n != "pgcourse.__main__"])
def test_every_module_has_its_test_file(name):
    expected = ROOT / "tests" / _owner_test(name)
    assert expected.exists(), f"{name} has no tests/{expected.name} (see tests/README.md)"


def _lessons_importing() -> dict[str, set[int]]:
    """module -> lessons (notebooks and solutions) that import it."""
    used: dict[str, set[int]] = {}
    for nb_path in sorted(ROOT.glob("notebooks/[0-9][0-9]_*.ipynb")) + sorted(ROOT.glob("solutions/*.ipynb")):
        n = int(nb_path.name[:2])
        src = "\n".join("".join(c["source"]) for c in json.loads(nb_path.read_text())["cells"]
                        if c["cell_type"] == "code")
        for m in re.finditer(r"from (pgcourse[\w.]*) import ([^\n(]*(?:\([^)]*\))?)", src):
            mods = [m.group(1)] + [f"{m.group(1)}.{x.strip()}" for x in re.split(r"[,\s()]+", m.group(2)) if x.strip()]
            for mod in mods:
                if mod in MODULES:
                    used.setdefault(mod, set()).add(n)
    return used


def test_lesson_tags_name_the_lesson_that_introduces_each_module():
    used = _lessons_importing()
    bad = []
    for name, path in MODULES.items():
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        first = doc.split("\n\n")[0]
        tag = re.search(r"\(lessons? (\d+)", first)
        if name not in used or name == "pgcourse.util" or path.name == "__init__.py":
            continue
        if tag is None:
            bad.append(f"{name}: its docstring's first paragraph should say '(lesson {min(used[name])}...' "
                       f"(used in lessons {sorted(used[name])})")
        elif int(tag.group(1)) != min(used[name]):
            bad.append(f"{name}: tagged lesson {tag.group(1)}, first used in lesson {min(used[name])}")
    assert not bad, "\n".join(bad)
