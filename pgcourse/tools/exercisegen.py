"""Write `exercises/NN_*.ipynb` from `solutions/NN_*.ipynb`, the single source of each exercise.

In a solution notebook:
- the answer sits between `### BEGIN SOLUTION` and `### END SOLUTION` lines inside a
  function body; the exercise gets `raise NotImplementedError(...)` at the same indentation;
- a code cell whose first line is `# solution-only` is left out of the exercise
  (for asserts that only hold once everything is solved).
Outputs are cleared. Run `python -m pgcourse exercisegen` from the repo root to regenerate,
`python -m pgcourse exercisegen --check` to fail when `exercises/` is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
SOLUTION_ONLY = "# solution-only"
STUB = 'raise NotImplementedError("replace this line with your code")'
BANNER = (
    "**Exercise notebook.** Each function below stops at `raise NotImplementedError`: replace that line "
    "with your code, run the cell, then run the check under it. A check prints ✅ when your function "
    "matches the reference, or ❌ with the failing case and a hint. Cells that need an unsolved function "
    "use the reference from `pgcourse` instead and say so.\n\n"
    "*This file is generated from `solutions/{name}`; edit that file, then run "
    "`python -m pgcourse exercisegen`.*"
)


def strip_solutions(source: str, where: str = "") -> str:
    """Replace every BEGIN/END SOLUTION block in a code cell's source with an indented stub."""
    out, inside, indent = [], False, ""
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"{where}: nested '{BEGIN}'")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}{STUB}")
        elif stripped == END:
            if not inside:
                raise ValueError(f"{where}: '{END}' without a '{BEGIN}' before it")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '{BEGIN}' without a matching '{END}'")
    return "\n".join(out)


def make_exercise(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The student notebook for one solution notebook (a new object; `solution` is unchanged)."""
    nb = nbformat.v4.new_notebook(metadata=_clean_metadata(solution.metadata))
    nb.cells.append(nbformat.v4.new_markdown_cell(BANNER.format(name=name)))
    for i, cell in enumerate(solution.cells):
        src = cell.source
        if cell.cell_type == "code":
            if src.lstrip().startswith(SOLUTION_ONLY):
                continue
            nb.cells.append(nbformat.v4.new_code_cell(strip_solutions(src, f"{name} cell {i}")))
        elif cell.cell_type == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(src))
        else:
            nb.cells.append(nbformat.v4.new_raw_cell(src))
    for j, cell in enumerate(nb.cells):
        cell.id = f"cell-{j:03d}"  # stable ids: regeneration gives the same bytes
    return nb


def _clean_metadata(meta) -> dict:
    keep = {k: meta[k] for k in ("kernelspec", "language_info") if k in meta}
    if "language_info" in keep:
        keep["language_info"] = {"name": keep["language_info"].get("name", "python")}
    return keep


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def generate(root: Path) -> dict[Path, str]:
    """Map each exercise path to the text it should have."""
    sol_dir = root / "solutions"
    if not sol_dir.is_dir():
        raise ValueError(f"no solutions/ folder under {root}: run from the repo root or pass --root")
    result = {}
    for sol in sorted(sol_dir.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(sol, as_version=4)
        result[root / "exercises" / sol.name] = render(make_exercise(nb, sol.name))
    return result


def stale(root: Path) -> list[str]:
    """Exercise files that are missing, differ from what `generate` writes, or have no solution."""
    expected = generate(root)
    bad = [str(p.relative_to(root)) for p, text in expected.items()
           if not p.exists() or p.read_text(encoding="utf-8") != text]
    extra = set((root / "exercises").glob("[0-9][0-9]_*.ipynb")) - set(expected)
    return bad + [f"{p.relative_to(root)} (no matching solution)" for p in sorted(extra)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=Path.cwd(), help="repo root (default: current folder)")
    ap.add_argument("--check", action="store_true", help="only report stale exercises; exit 1 if any")
    args = ap.parse_args(argv)
    if args.check:
        bad = stale(args.root)
        for b in bad:
            print(f"stale: {b}")
        print("exercises/ is up to date" if not bad else "run: python -m pgcourse exercisegen")
        return 1 if bad else 0
    (args.root / "exercises").mkdir(exist_ok=True)
    for path, text in generate(args.root).items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(args.root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
