"""End to end: every lesson's widgets work in JupyterLab 4 in a real browser, and answer fast.

One JupyterLab server serves the repository; for each lesson (00-07) the test
opens the notebook in headless Chromium (Debian's /usr/bin/chromium driven by
playwright-python), runs all cells from the Run menu and checks no cell
failed; checks that, in a 1280 x 800 window, every slider readout of a figure
widget is visible, inside the window and clear of the figure; then, in every
widget, moves each slider with the keyboard (several single steps), clicks
each toggle button, picks each dropdown's options and presses Play, and checks
that the figure changes every time, with no traceback or widget error. Each
step is timed from the key press (or click) to the widget's image changing in
the DOM ("key->DOM") and to the new image being decoded ("->decoded"); a table
of medians per widget and control is printed at the end (with the load
average: a busy machine inflates every number).

    pytest -m browser tests/test_browser.py -s

PGCOURSE_BROWSER_BASELINE=<git ref> adds a before/after table: the widgets of
that revision (say `main`) and of the working tree, built side by side in one
stand-in notebook and timed the same way in the same run.
PGCOURSE_BROWSER_LESSONS=01,05 limits the lessons. Skipped (failed when CI is
set) if playwright or Chromium is missing. PGCOURSE_BROWSER_NOTEBOOK=path.ipynb
runs it on another notebook; PGCOURSE_BROWSER_ARTIFACTS=dir keeps screenshots
there (always saved on failure, their path printed).
"""

from __future__ import annotations

import os
import re
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser_support as bs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LESSONS = sorted((REPO / "notebooks").glob("0[0-9]_*.ipynb"))
SLIDER_LABEL = "G (return)"  # the stand-in notebook's slider
MOVES = 6  # key presses per slider (alternating right / left): the median of these is reported
LATENCY_GOAL_MS = 150
PNG_PREFIX = "data:image/png;base64,"
# s; a lesson must run in 90 s on a quiet machine (tested elsewhere): leave room on a busy one
RUN_ALL_TIMEOUT = float(os.environ.get("PGCOURSE_BROWSER_RUN_TIMEOUT", 420))
VIEWPORT = {"width": 1280, "height": 800}  # a laptop's browser window

pytestmark = pytest.mark.browser


def _require_browser():
    bs.require_browser()


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=bs.CHROMIUM,
                               args=bs.CHROMIUM_ARGS, headless=True,
                               timeout=60_000)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def artifacts(tmp_path):
    d = Path(os.environ.get("PGCOURSE_BROWSER_ARTIFACTS") or tmp_path / "artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _log(msg):
    print(f"[browser {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _wait_kernel_ready(page, server, rel, timeout=120):
    """Kernel idle in the server's API and in the page (accepting a kernel
    picker dialog if the notebook names no kernel)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dialog = page.locator(".jp-Dialog .jp-mod-accept")
        if dialog.count() and dialog.first.is_visible():
            dialog.first.click()
        ui = page.evaluate(
            "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            " return w && w.sessionContext ? w.sessionContext.kernelDisplayStatus : null; }")
        if ui == "idle" and server.session_kernel(rel):
            return server.wait_kernel_idle(rel, timeout=max(1, deadline - time.monotonic()))
        time.sleep(0.25)
    raise TimeoutError(f"kernel not ready after {timeout} s (page says {ui!r}); "
                       f"server log:\n{server.log_tail()}")


def _run_all(page):
    """Run > Run All Cells, from the menu bar like a student."""
    page.locator("#jp-MainMenu .lm-MenuBar-item",
                 has_text=re.compile(r"^\s*Run\s*$")).click()
    label = page.locator(".lm-Menu-itemLabel",
                         has_text=re.compile(r"^\s*Run All Cells\s*$"))
    page.locator(".lm-Menu-content > .lm-Menu-item", has=label).click()


def _wait_run_finished(page, server, rel, expected, timeout=RUN_ALL_TIMEOUT):
    deadline = time.monotonic() + timeout
    state = {}
    while time.monotonic() < deadline:
        state = page.evaluate(bs.JS_NOTEBOOK_STATE)
        done = state.get("ready") and state["busy"] == 0 and (
            state["executed"] >= expected or state["errors"])
        if done:
            kernel = server.session_kernel(rel)
            if kernel and kernel["execution_state"] == "idle":
                # Re-check after a beat: the kernel may idle between cells.
                time.sleep(0.5)
                state = page.evaluate(bs.JS_NOTEBOOK_STATE)
                if state["busy"] == 0:
                    return state
        time.sleep(0.5)
    raise TimeoutError(f"Run All not finished after {timeout} s: "
                       f"{state.get('executed')}/{expected} cells run, "
                       f"prompts {state.get('prompts')}")


def _widget_images(page):
    return page.evaluate(bs.JS_WIDGET_IMAGES)


def _check_readouts(page, timeout=30):
    """Every slider readout of the notebook's figure widgets is visible,
    inside the window horizontally and clear of its widget's figure."""
    deadline = time.monotonic() + timeout
    while (layout := page.evaluate(bs.JS_READOUT_LAYOUT)).get("pending"):
        assert time.monotonic() < deadline, "a widget's figure did not load"
        time.sleep(0.25)
    assert layout["checked"], "no slider readout found in a widget showing a figure"
    assert not layout["problems"], (
        f"slider readouts hidden in a {VIEWPORT['width']} x {VIEWPORT['height']} window:\n  "
        + "\n  ".join(layout["problems"]))
    return layout


def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    return (xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2) if xs else float("nan")


def _load():
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


class Latencies:
    """Rows (notebook, widget, control, [key->DOM ms], [->decoded ms]); prints one table."""

    def __init__(self):
        self.rows = []
        self.loads = []

    def add(self, notebook, widget, control, dom, decoded):
        self.rows.append((notebook, widget, control, list(dom), list(decoded)))

    def table(self, title):
        lines = [title, f"  ({'; '.join(self.loads) or _load()}; goal: median <= {LATENCY_GOAL_MS} ms)",
                 f"  {'notebook':<18} {'widget':<44} {'control':<18} {'n':>2} {'key->DOM':>9} "
                 f"{'max':>6} {'->decoded':>9}"]
        for nb, widget, control, dom, dec in self.rows:
            med = _median(dom)
            flag = "" if med <= LATENCY_GOAL_MS or control.startswith("Play") else "  over goal"
            lines.append(f"  {nb[:18]:<18} {widget[:44]:<44} {control[:18]:<18} {len(dom):>2} "
                         f"{med:>7.0f}ms {max(dom):>4.0f}ms {_median(dec):>7.0f}ms{flag}")
        return "\n".join(lines)


LATENCIES = Latencies()


@pytest.fixture(scope="module")
def latencies():
    LATENCIES.loads.append(_load() + " at the start")
    yield LATENCIES
    LATENCIES.loads.append(_load() + " at the end")
    if LATENCIES.rows:
        print("\n\n" + LATENCIES.table("key-to-pixels latency per widget and control "
                                       "(median over the moves; Play: first frame after its interval)"))


@pytest.fixture(scope="module")
def repo_lab(browser, tmp_path_factory):
    """One JupyterLab server for every lesson."""
    with bs.jupyter_lab(REPO, tmp_path_factory.mktemp("lab")) as server:
        yield server


def _errors(page, ignore=()):
    """Errors from widget callbacks, cells and widget outputs (less the cell errors in `ignore`)."""
    cells = [e for e in page.evaluate(bs.JS_NOTEBOOK_STATE)["errors"] if e not in ignore]
    return page.evaluate(bs.JS_IOPUB_ERRORS) + cells + page.evaluate(bs.JS_WIDGET_ERRORS)


def _timed(page, server, rel, view, action, what, timeout=20, ignore=()):
    """Arm the clock on `view`, do `action()`, wait for the view's figure to change and the kernel to
    settle; return (key->DOM ms, ->decoded ms)."""
    page.evaluate(bs.JS_ARM_MOVE, view)
    action()
    deadline = time.monotonic() + timeout
    while (res := page.evaluate(bs.JS_MOVE_RESULT)) is None:
        errs = _errors(page, ignore)
        if errs or time.monotonic() > deadline:
            raise AssertionError(f"{what}: the widget's figure did not change within {timeout} s; "
                                 "errors:\n" + ("\n".join(errs) or "(none)"))
        time.sleep(0.02)
    server.wait_kernel_idle(rel, timeout=60, stable=0.3)
    return res["dom"], res["decoded"]


def _widget_name(wd):
    m = re.search(r"\b([A-Z]\w*Widget|\w+_widget)\(", wd.get("source", ""))
    if wd["title"].startswith("#"):
        return wd["title"].lstrip("# ").strip()
    return f"cell {wd['cell']}: " + (m.group(1) if m else wd["title"])


def _exercise_widgets(page, server, rel, latencies, name, ignore=()):
    """Every control of every widget in the open notebook: moved, clicked, played; timed."""
    def timed(*args):
        try:
            return _timed(*args, ignore=ignore)
        except AssertionError:
            if not args[-1].startswith("before/after 'before:"):
                raise
            _log(f"{args[-1]}: no change seen (baseline widget), not timed")
            return float("nan"), float("nan")

    widgets = page.evaluate(bs.JS_LIST_WIDGETS)
    for wd in widgets:
        v = wd["view"]
        title = _widget_name(wd)
        root = page.locator(f'[data-pgview="{v}"]')
        for c in wd["controls"]:
            what = f"{name} {title!r} {c['kind']} {c['label']!r}"
            dom, dec = [], []
            if c["kind"] == "slider":
                handle = root.locator(".widget-slider").nth(c["n"]).locator(".noUi-handle").first
                handle.scroll_into_view_if_needed()
                at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
                keys = ["ArrowLeft", "ArrowRight"] if at_max else ["ArrowRight", "ArrowLeft"]
                for k in range(MOVES):
                    handle.focus()
                    d, e = timed(page, server, rel, v, lambda: handle.press(keys[k % 2]),
                                  f"{what} ({keys[k % 2]})")
                    if d == d:
                        dom.append(d), dec.append(e)
            elif c["kind"] == "toggle":
                buttons = root.locator(".widget-toggle-buttons").nth(c["n"]).locator("button")
                for k in list(range(1, buttons.count())) + [0]:
                    b = buttons.nth(k)
                    d, e = timed(page, server, rel, v, lambda: b.click(), f"{what} (button {k})")
                    if d == d:
                        dom.append(d), dec.append(e)
            elif c["kind"] == "dropdown":
                n_opt = root.locator(".widget-dropdown").nth(c["n"]).locator("option").count()
                for k in range(n_opt - 1, 0, -1):  # from the last: each choice changes the figure
                    d, e = timed(page, server, rel, v,
                                  lambda: page.evaluate(bs.JS_SELECT_OPTION, [v, c["n"], k]),
                                  f"{what} (option {k})")
                    if d == d:
                        dom.append(d), dec.append(e)
            elif c["kind"] == "play":
                play = root.locator(".widget-play").nth(c["n"])
                buttons = play.locator("button")
                d, e = timed(page, server, rel, v, lambda: buttons.nth(0).click(), f"{what} (play)")
                if d == d:
                    dom.append(d), dec.append(e)
                time.sleep(1.0)  # let it play a few frames
                buttons.nth(1).click()  # pause
                server.wait_kernel_idle(rel, timeout=60, stable=0.3)
            if dom:
                latencies.add(name, title, c["label"] if c["kind"] != "play" else "Play", dom, dec)
                _log(f"{what}: median {_median(dom):.0f} ms to the DOM ({len(dom)} steps)")
    errs = _errors(page, ignore)
    assert not errs, f"{name}: errors after using the widgets:\n" + "\n".join(errs)
    return widgets


def run_notebook_in_lab(server, browser, rel, artifacts, latencies, name, after_run=None, readouts=True):
    """Open `rel` in JupyterLab, Run All, check readouts, exercise every widget; shut its kernel down."""
    t0 = time.monotonic()
    notebook = server.root_dir / rel
    on_disk = notebook.read_bytes()
    expected = bs.code_cells_with_source(notebook)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    console = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    step = "open notebook"
    try:
        page.goto(server.url("lab/tree/" + urllib.parse.quote(rel) + "?reset"),
                  wait_until="domcontentloaded", timeout=90_000)
        page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell",
                               state="visible", timeout=90_000)
        step = "wait for kernel"
        kernel = _wait_kernel_ready(page, server, rel)
        page.evaluate(bs.JS_WATCH_IOPUB)
        step = "run all cells"
        t_run = time.monotonic()
        _run_all(page)
        state = _wait_run_finished(page, server, rel, expected)
        _log(f"{name}: Run All: {state['executed']}/{expected} cells in {time.monotonic() - t_run:.1f} s")
        # A failed cell stops Run All: the widgets above it are still checked, then the failure is raised.
        failed = state["errors"]
        if not failed:
            assert state["executed"] >= expected, \
                f"only {state['executed']}/{expected} code cells ran: {state['prompts']}"
        if after_run:
            after_run(page)
        step = "check the slider readouts"
        if readouts and page.evaluate(bs.JS_HAS_FIGURE_WIDGET):
            layout = _check_readouts(page)
            _log(f"{name}: {layout['checked']} slider readouts in {layout['widgets']} figure widgets visible")
        step = "use every widget"
        widgets = _exercise_widgets(page, server, rel, latencies, name, ignore=failed)
        _log(f"{name}: {len(widgets)} widgets used")
        assert not failed, "cells failed in JupyterLab:\n" + "\n".join(failed)
        if os.environ.get("PGCOURSE_BROWSER_ARTIFACTS"):
            for wd in widgets:
                page.locator(f'[data-pgview="{wd["view"]}"]').screenshot(
                    path=str(artifacts / f"{notebook.stem}-widget{wd['view']}.png"))
    except BaseException:
        shot = artifacts / f"{notebook.stem}-failure.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
            print(f"\nbrowser test failed at step '{step}'; screenshot: {shot}")
        except Exception as exc:  # the page may be gone
            print(f"\nbrowser test failed at step '{step}'; no screenshot ({exc})")
        print("browser console:\n  " + "\n  ".join(console[-30:]))
        print(f"JupyterLab log ({server.log_path}):\n{server.log_tail()}")
        raise
    finally:
        context.close()
        server.shutdown_sessions(rel)
    assert notebook.read_bytes() == on_disk, "the test modified the notebook on disk"
    _log(f"{name}: total {time.monotonic() - t0:.1f} s")
    return widgets


def _lesson_params():
    custom = os.environ.get("PGCOURSE_BROWSER_NOTEBOOK")
    if custom:
        return [pytest.param(Path(custom).resolve(), id=Path(custom).stem)]
    only = [x.strip() for x in os.environ.get("PGCOURSE_BROWSER_LESSONS", "").split(",") if x.strip()]
    return [pytest.param(p, id=f"lesson{p.name[:2]}") for p in LESSONS if not only or p.name[:2] in only]


@pytest.mark.parametrize("notebook", _lesson_params())
def test_lesson_widgets_in_jupyterlab(notebook, repo_lab, browser, artifacts, latencies):
    if not notebook.is_relative_to(REPO):
        pytest.skip("PGCOURSE_BROWSER_NOTEBOOK outside the repository: see test_demo_notebook_harness")
    rel = notebook.relative_to(REPO).as_posix()
    widgets = run_notebook_in_lab(repo_lab, browser, rel, artifacts, latencies, notebook.stem[:18])
    has_widgets = bs.notebook_builds_widgets(notebook)
    assert widgets or not has_widgets, f"{rel} builds widgets but none with controls was found"


def test_demo_notebook_harness(browser, tmp_path, artifacts):
    """The same checks on a small stand-in notebook: tells a broken harness
    (JupyterLab, Chromium, widgets) from a broken lesson."""
    demo = bs.write_demo_notebook(tmp_path / "nb" / "demo_widget.ipynb")

    def kernel_is_this_python(page):
        # JupyterLab's default 'python3' kernel runs in this interpreter's env.
        out = page.evaluate(bs.JS_OUTPUT_TEXT)
        assert f"kernel prefix: {sys.prefix}" in out, out[:500]

    with bs.jupyter_lab(demo.parent, tmp_path) as server:
        widgets = run_notebook_in_lab(server, browser, demo.name, artifacts, Latencies(), "demo",
                                      after_run=kernel_is_this_python)
    assert [c["label"] for c in widgets[0]["controls"]] == [SLIDER_LABEL, "eta"]


@pytest.mark.skipif(not os.environ.get("PGCOURSE_BROWSER_BASELINE"),
                    reason="set PGCOURSE_BROWSER_BASELINE=<git ref> to compare its widgets' latency")
def test_latency_before_after(browser, tmp_path, artifacts):
    """The widgets of PGCOURSE_BROWSER_BASELINE and of the working tree, side by side in one notebook,
    timed in one run: prints a before/after table."""
    ref = os.environ["PGCOURSE_BROWSER_BASELINE"]
    nb = bs.write_before_after_notebook(tmp_path / "nb" / "before_after.ipynb", REPO, ref)
    table = Latencies()
    table.loads.append(_load() + " at the start")
    with bs.jupyter_lab(nb.parent, tmp_path) as server:
        # The old widgets' readouts may be hidden (that is one of the things fixed): not checked here.
        run_notebook_in_lab(server, browser, nb.name, artifacts, table, "before/after", readouts=False)
    table.loads.append(_load() + " at the end")
    print("\n\n" + bs.before_after_table(table.rows, ref, LATENCY_GOAL_MS, table.loads))
