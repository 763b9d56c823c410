"""The benchmark entry point lists every registered algorithm when run as a module."""

import subprocess
import sys


def test_bench_lists_all_algorithms():
    out = subprocess.run([sys.executable, "-m", "pgcourse.bench", "--list"], capture_output=True, text=True,
                         check=True).stdout.split()
    assert {"reinforce", "reinforce_baseline", "a2c", "ppo"} <= set(out)
