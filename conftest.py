"""Shared test set-up: headless matplotlib, and a per-notebook duration summary."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parent
_notebook_seconds: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def record_notebook_duration(path: str, seconds: float) -> None:
    """For tests that execute notebooks themselves (e.g. the unsolved exercises)."""
    _notebook_seconds[path] += seconds


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    terminalreporter.section("notebook durations (budget: 90 s each)")
    for path, s in sorted(_notebook_seconds.items()):
        flag = "" if s <= 90 else "   OVER BUDGET"
        terminalreporter.write_line(f"{s:7.1f} s  {path}{flag}")
