"""`pgcourse grade`: submissions built from the solutions with exercisegen, as students would hand them in,
including every catalogued mistake of lesson 1 and code that cheats, loops, eats memory, exits, forks,
floods stdout or writes where it should not. Each gets its points and status; the batch finishes within its
timeouts; the submissions folder is unchanged and nothing is written outside --out."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from pathlib import Path

import nbformat
import pytest

from pgcourse.tools import grade, sandbox
from pgcourse.tools.exercisegen import make_exercise, render, set_exercise_source

ROOT = Path(__file__).resolve().parents[1]
L1, L2, L7 = "01_log_derivative_trick", "02_reinforce", "07_rlhf"
TIMEOUT = 6.0        # seconds per sandboxed run: short, so the looping submissions end fast
HAVE_BWRAP = sandbox.find_bwrap() is not None


def notebook(lesson: str, solved: bool = True, cells: dict[str, str] | None = None, setup: str = "",
             drop: str | None = None) -> nbformat.NotebookNode:
    """The exercise notebook of `lesson` (solved or not), with some exercise cells replaced by `cells`,
    `setup` added to the first code cell and the exercise cell of `drop` deleted."""
    sol = nbformat.read(ROOT / "solutions" / f"{lesson}.ipynb", as_version=4)
    nb = make_exercise(sol, f"{lesson}.ipynb", solved=solved)
    for fn, src in (cells or {}).items():
        set_exercise_source(nb, fn, src)
    if setup:
        first = next(c for c in nb.cells if c.cell_type == "code")
        first.source = setup + "\n" + first.source
    if drop:
        nb.cells = [c for c in nb.cells if drop not in c.metadata.get("pgcourse", {}).get("exercises", [])
                    or c.metadata["pgcourse"]["role"] != "exercise"]
    return nb


PI = "    z = np.exp(theta - np.max(theta)); pi = z / z.sum()\n"
SCORE = {
    "sign flipped": "return pi - np.eye(len(theta))[a]",
    "grad pi instead of grad log pi": "return pi[a] * (np.eye(len(theta))[a] - pi)",
    "softmax not normalised": "return np.eye(len(theta))[a] - np.exp(theta)",
    "logits used as probabilities": "return np.eye(len(theta))[a] - theta",
    "only the chosen component": "g = np.zeros(len(theta)); g[a] = 1 - pi[a]; return g",
    "onehot missing": "return -pi",
}
ESTIMATE = {
    "sign flipped": "return -(f[:, None] * (np.eye(len(theta))[actions] - pi)).mean(0)",
    "sum instead of mean": "return (f[:, None] * (np.eye(len(theta))[actions] - pi)).sum(0)",
    "f left out": "return (np.eye(len(theta))[actions] - pi).mean(0)",
    "grad pi instead of grad log pi": "return (f[:, None] * pi[actions][:, None] * (np.eye(len(theta))[actions] - pi)).mean(0)",
}   # "f times pi" gives the same numbers as "grad pi instead of grad log pi", which the catalogue names first
STEP = {
    "descent instead of ascent": "return theta - lr * G * (np.eye(len(theta))[a] - pi)",
    "G left out": "return theta + lr * (np.eye(len(theta))[a] - pi)",
    "lr left out": "return theta + G * (np.eye(len(theta))[a] - pi)",
    "returned the step, not the new theta": "return lr * G * (np.eye(len(theta))[a] - pi)",
    "grad pi instead of grad log pi": "return theta + lr * G * pi[a] * (np.eye(len(theta))[a] - pi)",
}


def mistake_cells(k: int) -> tuple[dict[str, str], dict[str, str]]:
    """Cells with the k-th catalogued mistake of each lesson-1 exercise (solved where a list is shorter);
    returns (cells, expected mistake per function)."""
    cells, named = {}, {}
    for fn, sig, catalogue, pre in [
            ("softmax_score", "theta, a", SCORE, PI),
            ("score_function_estimate", "theta, actions, f_values", ESTIMATE, PI + "    f = np.asarray(f_values, float)\n"),
            ("bandit_pg_step", "theta, a, G, lr", STEP, PI)]:
        if k < len(catalogue):
            name, body = list(catalogue.items())[k]
            cells[fn] = f"def {fn}({sig}):\n{pre}    {body}"
            named[fn] = name
        elif fn == "bandit_pg_step":
            cells[fn] = SOLVED_STEP   # the solution's would call this notebook's wrong softmax_score
    return cells, named


SOLVED_SCORE = "def softmax_score(theta, a):\n" + PI + "    return np.eye(len(theta))[a] - pi"
# the solution's bandit_pg_step calls the student's softmax_score; this one stands alone
SOLVED_STEP = "def bandit_pg_step(theta, a, G, lr):\n" + PI + "    return theta + lr * G * (np.eye(len(theta))[a] - pi)"


def build(tmp: Path, bwrap: bool = HAVE_BWRAP) -> tuple[Path, dict[str, dict]]:
    """The submissions folder (one sub-folder per student) and what each must get, by function:
    (points, status[, mistake]); '*' for every exercise."""
    subs, expect = tmp / "submissions", {}

    def add(student, nb, outcome, text=None):
        d = subs / student
        d.mkdir(parents=True)
        (d / f"{L1}.ipynb").write_text(text if text is not None else render(nb), encoding="utf-8")
        expect[student] = outcome

    add("solved", notebook(L1), {"*": (1, "passed")})
    add("unsolved", notebook(L1, solved=False), {"*": (0, "not attempted")})
    for k in range(6):
        cells, named = mistake_cells(k)
        add(f"mistake{k}", notebook(L1, cells=cells),
            {fn: (0, "failed", name) for fn, name in named.items()} | {"*": (1, "passed")})
    add("reference", notebook(L1, cells={
        "softmax_score": "from pgcourse.logderiv import softmax_score",
        "score_function_estimate": "def score_function_estimate(theta, actions, f_values):\n"
                                   "    return logderiv.score_function_estimate(theta, actions, f_values)",
        "bandit_pg_step": "step = getattr(logderiv, 'bandit_' + 'pg_step')\n"
                          "def bandit_pg_step(theta, a, G, lr):\n    return step(theta, a, G, lr)"}),
        {"*": (0, "uses reference")})
    wrong = {"softmax_score": mistake_cells(0)[0]["softmax_score"], "bandit_pg_step": SOLVED_STEP}
    add("patched_allclose", notebook(L1, cells=wrong, setup="import numpy\nnumpy.allclose = lambda *a, **k: True"),
        {"softmax_score": (0, "failed", "sign flipped"), "*": (1, "passed")})
    add("patched_compare", notebook(L1, cells=wrong, setup="import pgcourse.checks.core\n"
                                                          "pgcourse.checks.core.compare = lambda *a, **k: None"),
        {"softmax_score": (0, "failed", "sign flipped"), "*": (1, "passed")})
    add("loop_top_level", notebook(L1, cells={"softmax_score": SOLVED_SCORE + "\nwhile True:\n    pass"}),
        {"*": (0, "timeout")})
    add("loop_in_function", notebook(L1, cells={
        "score_function_estimate": "def score_function_estimate(theta, actions, f_values):\n    while True:\n        pass"}),
        {"score_function_estimate": (0, "timeout"), "*": (1, "passed")})
    add("memory", notebook(L1, cells={
        "softmax_score": "def softmax_score(theta, a):\n    big = np.ones(50 * 10**9 // 8)\n    return big[:len(theta)]",
        "bandit_pg_step": SOLVED_STEP}),
        {"softmax_score": (0, "memory"), "*": (1, "passed")})
    add("os_exit", notebook(L1, cells={
        "score_function_estimate": "import os\ndef score_function_estimate(theta, actions, f_values):\n    os._exit(3)"}),
        {"score_function_estimate": (0, "error"), "*": (1, "passed")})
    add("sys_exit", notebook(L1, cells={
        "softmax_score": SOLVED_SCORE + "\nimport sys\nsys.exit()",   # at top level: ignored, as Jupyter does
        "bandit_pg_step": "import sys\ndef bandit_pg_step(theta, a, G, lr):\n    sys.exit()"}),
        {"bandit_pg_step": (0, "error"), "*": (1, "passed")})
    add("fork", notebook(L1, cells={
        "softmax_score": "import os\ndef softmax_score(theta, a):\n    if os.fork() == 0:\n        while True:\n"
                         "            pass\n    return 0", "bandit_pg_step": SOLVED_STEP}),
        {"softmax_score": (0, "error"), "*": (1, "passed")})
    add("prints_100mb", notebook(L1, cells={"softmax_score": SOLVED_SCORE + "\nprint('x' * 100_000_000)"}),
        {"*": (1, "passed")})
    if bwrap:   # without it, such a write succeeds (see test_with_bubblewrap_writes_outside_the_sandbox_fail)
        targets = [str(tmp / "submissions" / "written_by_a_submission.txt"), str(tmp / "escape.txt"),
                   str(ROOT / "escape.txt"), "~/escape.txt"]
        add("writes_outside", notebook(L1, cells={"softmax_score": SOLVED_SCORE + (
            f"\nimport os\nfor target in {targets!r}:\n    try:\n"
            "        open(os.path.expanduser(target), 'w').write('x')\n        print('wrote', target)\n"
            "    except OSError as exc:\n        print('refused:', exc)")}),
            {"*": (1, "passed")})
    add("deleted_cell", notebook(L1, drop="score_function_estimate"),
        {"score_function_estimate": (0, "invalid"), "*": (1, "passed")})
    d = subs / "other_lesson"
    d.mkdir()
    (d / f"{L2}.ipynb").write_text(render(notebook(L2)))
    expect["other_lesson"] = {"*": (0, "invalid")}
    add("invalid_json", None, {"*": (0, "invalid")}, text='{"cells": [ this is not json')
    return subs, expect


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module", params=[
    pytest.param(True, id="bubblewrap", marks=pytest.mark.skipif(not HAVE_BWRAP, reason="bwrap not available")),
    pytest.param(False, id="process-limits")])
def graded(tmp_path_factory, request):
    """The whole batch graded once per isolation mode: with bubblewrap, and with process limits only."""
    tmp = tmp_path_factory.mktemp("grade")
    subs, expect = build(tmp, bwrap=request.param)
    before = snapshot(subs)
    out = tmp / "out"
    start = time.monotonic()
    code = grade.main([str(subs), "--out", str(out), "--workers", "2", "--timeout", str(TIMEOUT), "--memory", "1024",
                       "--lesson", "01", "--seed", "12345"] + ([] if request.param else ["--no-bwrap"]))
    seconds = time.monotonic() - start
    rows = list(csv.DictReader(open(out / "grades.csv", encoding="utf-8")))
    return {"tmp": tmp, "subs": subs, "out": out, "code": code, "seconds": seconds, "rows": rows,
            "expect": expect, "before": before, "bwrap": request.param}


def test_exit_code_and_files(graded):
    assert graded["code"] == 0
    out = graded["out"]
    assert sorted(p.name for p in out.iterdir()) == ["feedback", "grades.csv", "totals.csv"]
    assert set(graded["rows"][0]) == set(grade.COLUMNS)


def test_every_submission_gets_its_points_and_status(graded):
    rows, expect = graded["rows"], graded["expect"]
    students = {r["student"] for r in rows}
    assert students == set(expect)
    bad = []
    for r in rows:
        want = expect[r["student"]]
        exp = want.get(r["exercise"], want["*"])
        got = (int(r["points"]), r["status"]) + ((r["mistake"],) if len(exp) == 3 else ())
        if got != exp:
            bad.append(f"{r['student']}/{r['exercise']}: got {got}, expected {exp} ({r['reason']})")
    assert not bad, "\n".join(bad)
    for r in rows:
        assert r["lesson"] == L1 and r["max_points"] == "1"
    assert len(rows) == 3 * len(expect)   # another lesson or unreadable: still one row per exercise


def test_reasons_say_what_happened(graded):
    by = {(r["student"], r["exercise"]): r["reason"] for r in graded["rows"]}
    assert "did not finish within" in by[("loop_top_level", "softmax_score")]
    assert "did not finish within" in by[("loop_in_function", "score_function_estimate")]
    assert "memory" in by[("memory", "softmax_score")]
    assert "exit code 3" in by[("os_exit", "score_function_estimate")]
    assert "sys.exit" in by[("sys_exit", "bandit_pg_step")]
    assert "not allow" in by[("fork", "softmax_score")] or "exit" in by[("fork", "softmax_score")]
    assert "missing" in by[("deleted_cell", "score_function_estimate")]
    assert "lesson 02_reinforce" in by[("other_lesson", "softmax_score")]
    assert "not valid JSON" in by[("invalid_json", "softmax_score")]
    assert "pgcourse.logderiv.softmax_score" in by[("reference", "softmax_score")]
    assert "bandit_pg_step" in by[("reference", "bandit_pg_step")]


def test_feedback_shows_the_failing_case_and_the_hint(graded):
    fb = (graded["out"] / "feedback" / "mistake0" / f"{L1}.md").read_text()
    assert "score: 0/3" in fb
    assert "inputs:" in fb and "expected:" in fb and "got:" in fb
    assert "hint: the sign is flipped" in fb and "Likely mistake: sign flipped" in fb
    assert len(list((graded["out"] / "feedback").rglob("*.md"))) == len(graded["expect"])
    solved = (graded["out"] / "feedback" / "solved" / f"{L1}.md").read_text()
    assert "score: 3/3" in solved and "✓ softmax_score: passed" in solved
    assert "printed" in (graded["out"] / "feedback" / "prints_100mb" / f"{L1}.md").read_text()


def test_totals(graded):
    totals = {r["student"]: r for r in csv.DictReader(open(graded["out"] / "totals.csv"))}
    assert totals["solved"]["points"] == "3" and totals["solved"]["max_points"] == "3"
    assert totals["unsolved"]["points"] == "0" and totals["mistake5"]["points"] == "2"


def test_batch_finishes_within_its_timeouts(graded):
    # about 20 notebooks on 2 workers, two of which run into the timeout
    assert graded["seconds"] < 20 * 3 + 4 * TIMEOUT


def test_submissions_are_unchanged_and_nothing_is_written_outside_out(graded):
    assert snapshot(graded["subs"]) == graded["before"]
    assert sorted(p.name for p in graded["tmp"].iterdir()) == ["out", "submissions"]


def test_with_bubblewrap_writes_outside_the_sandbox_fail(graded):
    if not graded["bwrap"]:
        pytest.skip("without bubblewrap, a submission can write files of this account (the grader says so)")
    assert "writes_outside" in graded["expect"]
    assert not (ROOT / "escape.txt").exists() and not (Path.home() / "escape.txt").exists()
    assert not (graded["tmp"] / "escape.txt").exists()   # and test_submissions_are_unchanged...


def test_loss_exercises_are_probed_in_the_sandbox(tmp_path):
    """Lesson 2: the REINFORCE loss is graded on its value and its gradients, computed by the probe in the
    sandbox; a loss with the right value whose gradient leaks into the returns fails with its hint."""
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ok.ipynb").write_text(render(notebook(L2)))
    (subs / "leak.ipynb").write_text(render(notebook(L2, cells={
        "reinforce_loss": "def reinforce_loss(logp, ret):\n    return -(logp * ret).mean()",
        "reward_to_go": "def reward_to_go(rew, gamma):\n    return np.cumsum(rew[::-1])[::-1]"})))
    assert grade.main([str(subs), "--out", str(tmp_path / "out"), "--timeout", "60", "--seed", "7", "--json"]) == 0
    rows = {(r["student"], r["exercise"]): r for r in csv.DictReader(open(tmp_path / "out" / "grades.csv"))}
    assert all(rows[("ok", e)]["status"] == "passed" for e in ("reward_to_go", "reward_to_go_episodes", "reinforce_loss"))
    assert rows[("leak", "reinforce_loss")]["mistake"] == "gradient leaks through the returns"
    assert rows[("leak", "reward_to_go")]["mistake"] == "no discount"
    assert rows[("leak", "reward_to_go_episodes")]["status"] == "passed"


def test_lesson_7_is_graded(tmp_path):
    """Lesson 7's four exercises are declared like the others: a solved notebook gets its 4 points, and a
    Bradley-Terry loss with the pair order flipped and GRPO advantages without the std guard are named."""
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ok.ipynb").write_text(render(notebook(L7)))
    (subs / "two_wrong.ipynb").write_text(render(notebook(L7, cells={
        "bradley_terry_loss": "def bradley_terry_loss(r_chosen, r_rejected):\n"
                              "    return F.softplus(r_chosen - r_rejected).mean()",
        "grpo_advantages": "def grpo_advantages(rew, eps=1e-4):\n"
                           "    return (rew - rew.mean(1, keepdim=True)) / rew.std(1, keepdim=True)"})))
    assert grade.main([str(subs), "--out", str(tmp_path / "out"), "--timeout", "60", "--seed", "7", "--json"]) == 0
    rows = {(r["student"], r["exercise"]): r for r in csv.DictReader(open(tmp_path / "out" / "grades.csv"))}
    four = ("bradley_terry_loss", "kl_penalised_rewards", "dpo_loss", "grpo_advantages")
    assert all(rows[("ok", e)]["status"] == "passed" and rows[("ok", e)]["points"] == "1" for e in four)
    assert rows[("two_wrong", "bradley_terry_loss")]["mistake"] == "pair order flipped"
    assert rows[("two_wrong", "grpo_advantages")]["mistake"] == "no std guard"
    assert all(rows[("two_wrong", e)]["status"] == "passed" for e in ("kl_penalised_rewards", "dpo_loss"))


def test_json_lines_and_the_summary(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ann.ipynb").write_text(render(notebook(L1)))
    assert grade.main([str(subs), "--out", str(tmp_path / "out"), "--json", "--timeout", "30"]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [(r["student"], r["status"]) for r in lines] == [("ann", "passed")] * 3
    assert "isolation:" in captured.err and "hidden cases: seed" in captured.err
    assert ("isolation: bubblewrap" if HAVE_BWRAP else "process limits only") in captured.err
    assert grade.main([str(subs), "--out", str(tmp_path / "out2"), "--no-bwrap"]) == 0
    assert "isolation: process limits only" in capsys.readouterr().out


def test_hidden_cases_are_not_the_public_ones():
    from pgcourse.checks.logderiv import SOFTMAX_SCORE

    judge = grade.Judge.make(SOFTMAX_SCORE, 12345)
    public = SOFTMAX_SCORE.cases()
    assert [c.label for c in judge.cases] == [c.label for c in public]
    hand = len(SOFTMAX_SCORE.hand)
    assert all(c.describe() != p.describe() for c, p in zip(judge.cases[hand:], public[hand:]))


def test_hard_coding_the_public_cases_does_not_pass(tmp_path):
    from pgcourse.checks.logderiv import SOFTMAX_SCORE

    table = {repr((c.args[0].tolist(), c.args[1])): c.call(SOFTMAX_SCORE.reference).tolist()
             for c in SOFTMAX_SCORE.cases()}
    cheat = f"TABLE = {table!r}\ndef softmax_score(theta, a):\n    return np.array(TABLE[repr((list(theta), a))])"
    subs = tmp_path / "subs"
    subs.mkdir()
    nb = notebook(L1, cells={"softmax_score": cheat})
    (subs / "cheat.ipynb").write_text(render(nb))
    assert grade.main([str(subs), "--out", str(tmp_path / "out"), "--timeout", "30"]) == 0
    rows = {r["exercise"]: r for r in csv.DictReader(open(tmp_path / "out" / "grades.csv"))}
    assert rows["softmax_score"]["status"] == "failed" and "KeyError" in rows["softmax_score"]["reason"] + \
        (tmp_path / "out" / "feedback" / "cheat" / "cheat.md").read_text()


def test_odd_notebooks_get_a_reason_not_a_crash(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    odd = {"garbage_cells": {"cells": [1, None, {"cell_type": "code", "source": 5, "metadata": []}],
                             "metadata": {"pgcourse": {"lesson": L1}}},
           "unknown_lesson": {"cells": [], "metadata": {"pgcourse": {"lesson": "99_x", "exercises": [{"function": [1]}]}}},
           "no_metadata": {"cells": [], "metadata": {}},
           "a_list": [1, 2, 3]}
    for name, nb in odd.items():
        (subs / f"{name}.ipynb").write_text(json.dumps(nb))
    (subs / "empty.ipynb").write_text("")
    assert grade.main([str(subs), "--out", str(tmp_path / "out"), "--timeout", "30"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "grades.csv")))
    assert {r["student"] for r in rows} == set(odd) | {"empty"}
    assert all(r["status"] == "invalid" and r["reason"] for r in rows), rows


def test_the_grader_says_when_it_cannot_run(tmp_path, capsys):
    assert grade.main([str(tmp_path / "nothing here"), "--out", str(tmp_path / "out")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert grade.main([str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    assert "no notebooks" in capsys.readouterr().err


def test_static_reading_of_reference_use():
    chunks = [{"source": "from pgcourse import logderiv as L\nimport pgcourse.checks.core as C\n"},
              {"source": "def helper(t, a):\n    return L.softmax_score(t, a)\n"
                         "def softmax_score(t, a):\n    return helper(t, a)\n"
                         "def bandit_pg_step(t, a, G, lr):\n    return t + lr * G * softmax_score(t, a)\n"
                         "def score_function_estimate(t, acts, f):\n    return C.compare\n"}]
    ex = [{"id": n, "function": n} for n in ("softmax_score", "bandit_pg_step", "score_function_estimate")]
    found = grade.reference_uses(chunks, ex, {"softmax_score", "bandit_pg_step", "score_function_estimate"})
    assert set(found) == {"softmax_score", "bandit_pg_step", "score_function_estimate"}
    own = [{"source": "from pgcourse import logderiv\ndef softmax_score(t, a):\n    return logderiv.softmax(t)\n"}]
    assert grade.reference_uses(own, ex[:1], {"softmax_score"}) == {}


def test_pgcourse_console_script_has_grade():
    import shutil
    import subprocess
    import sys

    script = shutil.which("pgcourse", path=os.path.dirname(sys.executable))
    cmd = [script] if script else [sys.executable, "-m", "pgcourse"]
    out = subprocess.run(cmd + ["grade", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--workers" in out.stdout and "uses reference" in out.stdout
