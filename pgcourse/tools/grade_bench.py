"""Benchmark of `pgcourse grade` against executing the same notebooks with `jupyter nbconvert --execute`.

    python -m pgcourse.tools.grade_bench [--n 100] [--lesson 01] [--workers 2] [--nbconvert 10]

Builds `--n` submissions of one lesson from its solution notebook with exercisegen (solved, unsolved, and
solved but for one exercise, in turn), grades them all with `python -m pgcourse grade --workers W`, then
executes `--nbconvert` of the same notebooks with `jupyter nbconvert --to notebook --execute`, W at a time,
and prints both: seconds in total and per notebook, and the speed-up per notebook. It is a benchmark, not a
test: run it on a quiet machine (the targets: 100 notebooks in at most 120 s with 2 workers, and at least
3x faster per notebook than nbconvert). Everything is written under a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from pgcourse.tools.exercisegen import STUB, make_exercise, render, set_exercise_source


def build(root: Path, lesson: str, n: int, dest: Path) -> list[Path]:
    """`n` submissions (one folder per student) of `lesson`, from the course's solutions/ under `root`."""
    matches = sorted((root / "solutions").glob(f"{lesson}*.ipynb"))
    if not matches:
        raise SystemExit(f"grade_bench: no solutions/{lesson}*.ipynb under {root}")
    sol = nbformat.read(matches[0], as_version=4)
    name = matches[0].name
    paths = []
    for k in range(n):
        kind = k % 3
        nb = make_exercise(sol, name, solved=kind != 1)
        if kind == 2:   # one exercise left undone
            ex = nb.metadata["pgcourse"]["exercises"][k % len(nb.metadata["pgcourse"]["exercises"])]
            cell = next(c for c in nb.cells if ex["function"] in c.metadata.get("pgcourse", {}).get("exercises", []))
            head = cell.source.split("\n")[0]
            set_exercise_source(nb, ex["function"], f"{head}\n    {STUB}")
        path = dest / f"student{k:03d}" / name
        path.parent.mkdir(parents=True)
        path.write_text(render(nb), encoding="utf-8")
        paths.append(path)
    return paths


def run_grade(subs: Path, out: Path, workers: int, timeout: float) -> tuple[float, list[dict]]:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pgcourse", "grade", str(subs), "--out", str(out), "--workers",
                           str(workers), "--timeout", str(timeout), "--json"], capture_output=True, text=True)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"grade_bench: pgcourse grade failed:\n{proc.stderr[-3000:]}")
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    summary = [line for line in proc.stderr.splitlines() if line.startswith(("graded", "isolation", "statuses"))]
    print("\n".join("  " + s for s in summary))
    return seconds, rows


def run_nbconvert(paths: list[Path], out: Path, workers: int) -> float:
    def one(p: Path) -> None:
        subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                        "--ExecutePreprocessor.timeout=600", "--ExecutePreprocessor.kernel_name=python3",
                        "--allow-errors", "--output-dir", str(out / p.parent.name), str(p)],
                       capture_output=True, check=True)

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, paths))
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pgcourse.tools.grade_bench", description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100, help="submissions to grade (default 100)")
    ap.add_argument("--lesson", default="01", help="lesson number or name (default 01)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--nbconvert", type=int, default=10,
                    help="how many of the notebooks to execute with nbconvert for the comparison (0: skip)")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2], help="the course folder")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="grade-bench-"))
    try:
        paths = build(args.root, args.lesson.zfill(2) if args.lesson.isdigit() else args.lesson, args.n, tmp / "subs")
        print(f"{args.n} submissions of {paths[0].stem}, {args.workers} workers")
        g_total, rows = run_grade(tmp / "subs", tmp / "grades", args.workers, args.timeout)
        g_per = g_total / args.n
        print(f"pgcourse grade     : {g_total:7.1f} s for {args.n} notebooks, {g_per:6.2f} s per notebook "
              f"({len(rows)} gradebook rows)")
        result = {"n": args.n, "workers": args.workers, "grade_total_s": round(g_total, 2),
                  "grade_per_notebook_s": round(g_per, 3)}
        if args.nbconvert > 0:
            sample = paths[: args.nbconvert]
            n_total = run_nbconvert(sample, tmp / "executed", args.workers)
            n_per = n_total / len(sample)
            print(f"nbconvert --execute: {n_total:7.1f} s for {len(sample)} notebooks, {n_per:6.2f} s per notebook "
                  f"(for {args.n}: about {n_per * args.n:.0f} s)")
            print(f"speed-up per notebook: {n_per / g_per:.1f}x")
            result.update(nbconvert_notebooks=len(sample), nbconvert_total_s=round(n_total, 2),
                          nbconvert_per_notebook_s=round(n_per, 3), speedup=round(n_per / g_per, 2))
        scaled = g_per * 100
        print(f"targets: 100 notebooks in <= 120 s: {'met' if scaled <= 120 else 'NOT met'} ({scaled:.0f} s at this rate)"
              + (f"; >= 3x faster than nbconvert: {'met' if result['speedup'] >= 3 else 'NOT met'}"
                 if "speedup" in result else ""))
        print(json.dumps(result))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
