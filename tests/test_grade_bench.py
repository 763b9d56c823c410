"""The grader's benchmark builds realistic submissions and reports its figures (a smoke test, not a timing)."""

import json

import nbformat

from pgcourse.tools import grade_bench


def test_submissions_are_solved_unsolved_or_partly_solved(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    paths = grade_bench.build(root, "01", 3, tmp_path)
    assert [p.parent.name for p in paths] == ["student000", "student001", "student002"]
    stubs = [sum("NotImplementedError" in c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code")
             for p in paths]
    assert stubs == [0, 3, 1]


def test_benchmark_prints_its_figures(capsys):
    assert grade_bench.main(["--n", "2", "--nbconvert", "0", "--timeout", "30"]) == 0
    out = capsys.readouterr().out
    assert "pgcourse grade     :" in out and "targets:" in out
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["n"] == 2 and figures["grade_per_notebook_s"] > 0
