"""The sandbox the grader runs submissions in: limits, the system-call filter, and bubblewrap's view of the
machine. Each test runs cells in a real sandboxed process (`pgcourse.tools.grade_child`)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from pgcourse.tools import sandbox

ROOT = Path(__file__).resolve().parents[1]
BWRAP = sandbox.find_bwrap()
MODES = [pytest.param(None, id="process-limits")] + [
    pytest.param(BWRAP, id="bubblewrap", marks=pytest.mark.skipif(BWRAP is None, reason="bwrap not available"))]


def run_cells(source: str, bwrap, tmp_path: Path, timeout: float = 20, memory: int = 1024):
    """Run `source` as one cell in the sandbox; return (Run, events, printed text)."""
    limits = sandbox.Limits(timeout=timeout, memory_mb=memory)
    job = {"limits": {"timeout": timeout, "memory_mb": memory}, "cells": [{"cell": 1, "source": source}],
           "exercises": [], "references": []}
    rundir = Path(tempfile.mkdtemp(dir=tmp_path))
    with tempfile.TemporaryFile() as results:
        run = sandbox.run_python(["pgcourse.tools.grade_child", "--results-fd", str(results.fileno())],
                                 json.dumps(job).encode(), rundir, limits, bwrap, fds=(results.fileno(),))
        results.seek(0)
        events = [json.loads(line) for line in results.read().splitlines() if line.strip()]
    return run, events, run.stdout.decode()


def errors(events) -> list[str]:
    return [e["error"] for e in events if e["event"] == "cell_error"]


@pytest.mark.parametrize("bwrap", MODES)
def test_no_new_processes_no_exec_no_network(bwrap, tmp_path):
    if not sandbox.syscall_filter_supported() and bwrap is None:
        pytest.skip("no system-call filter on this machine")
    src = ("import os, socket, subprocess\nfor name, f in [('fork', os.fork), ('run', lambda: subprocess.run(['true'])),\n"
           "        ('exec', lambda: os.execv('/bin/true', ['true'])), ('socket', lambda: socket.create_connection(('1.1.1.1', 53), 2)),\n"
           "        ('kill', lambda: os.kill(os.getppid(), 0))]:\n"
           "    try:\n        f()\n        print(name, 'ALLOWED')\n    except OSError as e:\n        print(name, 'refused', e.errno)\n")
    run, events, out = run_cells(src, bwrap, tmp_path)
    assert events[-1]["event"] == "done", (events, run.stderr)
    assert "ALLOWED" not in out, out
    assert out.count("refused") == 5


@pytest.mark.parametrize("bwrap", MODES)
def test_memory_cpu_and_file_size_are_limited(bwrap, tmp_path):
    run, events, out = run_cells("import numpy as np\ntry:\n    np.ones(3 * 2**30 // 8)\nexcept MemoryError:\n"
                                 "    print('no memory')\nopen('big', 'wb').write(b'x' * (70 * 2**20))", bwrap, tmp_path)
    assert "no memory" in out
    assert "File too large" in errors(events)[0]
    run, events, _ = run_cells("while True:\n    pass", bwrap, tmp_path, timeout=3)
    assert run.timed_out or run.signal is not None
    assert events[-1] == {"event": "cell", "cell": 1}


@pytest.mark.parametrize("bwrap", MODES)
def test_environment_is_scrubbed_and_the_folder_is_temporary(bwrap, tmp_path):
    os.environ["PGCOURSE_SECRET_FOR_TEST"] = "leak"
    try:
        run, events, out = run_cells("import os\nprint(sorted(os.environ))\nprint(os.getcwd(), os.environ['HOME'])",
                                     bwrap, tmp_path)
    finally:
        del os.environ["PGCOURSE_SECRET_FOR_TEST"]
    assert "PGCOURSE_SECRET_FOR_TEST" not in out and "HOME" in out
    cwd, home = out.splitlines()[-1].split()
    assert cwd == home and (cwd == sandbox.SANDBOX_DIR if bwrap else cwd.startswith(str(tmp_path)))


@pytest.mark.skipif(BWRAP is None, reason="bwrap not available")
def test_bubblewrap_shows_only_python_and_pgcourse_read_only(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("other students' work")
    src = (f"import os\nfor p in [{str(ROOT / 'solutions')!r}, {str(secret)!r}, '/root', '/home']:\n"
           "    print(p, os.path.exists(p) and bool(os.listdir(p) if os.path.isdir(p) else True))\n"
           "import pgcourse, numpy\nprint('pgcourse', os.path.dirname(pgcourse.__file__))\n"
           "for p in ['/usr/x', os.path.dirname(pgcourse.__file__) + '/x', '/tmp/sandbox-probe.txt', 'here.txt']:\n"
           "    try:\n        open(p, 'w').write('x')\n        print('wrote', p)\n"
           "    except OSError as e:\n        print('refused', p, e.errno)\n"
           "print('pids', sorted(int(d) for d in os.listdir('/proc') if d.isdigit()))")
    run, events, out = run_cells(src, BWRAP, tmp_path)
    assert events[-1]["event"] == "done", run.stderr
    lines = out.splitlines()
    assert f"{ROOT / 'solutions'} False" in lines and f"{secret} False" in lines
    assert [line.split()[0] for line in lines if line.startswith(("wrote", "refused"))] == \
        ["refused", "refused", "wrote", "wrote"]   # only the temporary folders are writable
    pids = json.loads(lines[-1].split(" ", 1)[1])
    assert max(pids) < 10   # its own PID namespace: none of the machine's processes


def test_isolation_sentence():
    assert "process limits only" in sandbox.isolation(False) and "bubblewrap" in sandbox.isolation(False)
    assert sandbox.isolation(True).startswith("bubblewrap")


def test_filter_program_is_well_formed():
    if not sandbox.syscall_filter_supported():
        pytest.skip("no system-call filter on this machine")
    import platform

    prog = sandbox.filter_program(platform.machine(), 1234)
    for i, (code, jt, jf, k) in enumerate(prog):
        if code & 0x07 == 0x05:   # a jump: both targets inside the program
            assert i + 1 + max(jt, jf) < len(prog)
    assert prog[-1][0] == 0x06


def test_bubblewrap_is_there_when_ci_requires_it():
    """CI installs Debian's bubblewrap and sets PGCOURSE_REQUIRE_BWRAP=1, so the bubblewrap tests run there."""
    if os.environ.get("PGCOURSE_REQUIRE_BWRAP") and BWRAP is None:
        pytest.fail("PGCOURSE_REQUIRE_BWRAP is set but bwrap is missing or cannot create namespaces here "
                    "(apt-get install bubblewrap; in a container, allow user namespaces)")


def test_an_install_under_tmp_is_bound_after_the_empty_tmp():
    """A checkout or venv that lives under /tmp (as a CI clone may) must be mounted on top of the sandbox's
    empty /tmp, not hidden by it: the tmpfs comes before every Python path's bind."""
    argv = sandbox.bwrap_argv("bwrap", Path("/tmp/some-work-dir"))
    tmpfs = argv.index("--tmpfs")
    binds = [i for i, a in enumerate(argv) if a == "--ro-bind" and argv[i + 1] in sandbox.python_paths()]
    assert binds and all(i > tmpfs for i in binds)
