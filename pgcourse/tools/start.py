"""`python -m pgcourse start`: copy the course into `work/`, the student's own folder.

Nothing regenerates, tests or overwrites `work/` (it is git-ignored): run the lessons and solve the exercises
there. The command copies `exercises/` and `notebooks/` to `work/exercises/` and `work/notebooks/`, only the
files that are not there yet: it never overwrites a file, so running it again after the course gains a lesson
adds that lesson and leaves your work alone. It prints what it copied and how to open it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

FOLDERS = ("notebooks", "exercises")


def start(root: Path, dest: Path | None = None, out=print) -> int:
    """Copy each folder's `*.ipynb` from `root` to `dest` (default `root/work`) unless it exists there."""
    dest = root / "work" if dest is None else dest
    sources = [(folder, sorted((root / folder).glob("*.ipynb"))) for folder in FOLDERS]
    if not any(files for _, files in sources):
        out(f"start: no notebooks in {', '.join(f'{root / f}/' for f in FOLDERS)}; run this in the course folder "
            "(the one with notebooks/ and exercises/) or pass --root")
        return 2
    copied = kept = 0
    for folder, files in sources:
        for src in files:
            target = dest / folder / src.name
            shown = _shown(target, root)
            if target.exists():
                kept += 1
                out(f"kept    {shown} (already there; never overwritten)")
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
            copied += 1
            out(f"copied  {_shown(src, root)} -> {shown}")
    out(f"\n{copied} copied, {kept} kept. Work in {_shown(dest, root)}/: nothing regenerates or checks it. Open it with\n"
        f"  jupyter lab {_shown(dest, root)}/notebooks/00_welcome.ipynb\n"
        f"and do each lesson's exercises in {_shown(dest, root)}/exercises/. The answers are in solutions/: try first.")
    return 0


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pgcourse start", description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=Path.cwd(), help="the course folder (default: current folder)")
    ap.add_argument("--to", type=Path, default=None, help="where to copy (default: ROOT/work)")
    args = ap.parse_args(argv)
    return start(args.root, args.to)


if __name__ == "__main__":
    sys.exit(main())
