"""End to end: lessons' widgets work in JupyterLab 4 in a real browser.

Starts JupyterLab, opens the notebook in headless Chromium (Debian's
/usr/bin/chromium driven by playwright-python), runs all cells from the Run
menu, checks no cell failed and that, in a 1280 x 800 window, every slider's
readout in the notebook's figure widgets is visible, inside the window and
clear of the figure, then moves a widget's slider (lesson 1: "G (return)" of
the distribution-update widget; lesson 3: "logit a1" of the advantage widget;
lesson 5: "advantage A" of the clipped-objective widget; lesson 6: "log10
alpha" of the temperature widget; lesson 7: "beta" of the beta-sweep widget)
and checks its matplotlib PNG is redrawn.

    pytest -m browser tests/test_browser.py -p no:nbval -s

Skipped (failed when CI is set) if playwright or Chromium is missing.
PGCOURSE_BROWSER_NOTEBOOK=path.ipynb runs it on another notebook;
PGCOURSE_BROWSER_ARTIFACTS=dir keeps screenshots there (always saved on
failure, their path printed).
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
LESSON_1 = REPO / "notebooks" / "01_log_derivative_trick.ipynb"
LESSON_3 = REPO / "notebooks" / "03_baselines.ipynb"
LESSON_5 = REPO / "notebooks" / "05_ppo.ipynb"
LESSON_6 = REPO / "notebooks" / "06_sac.ipynb"
LESSON_7 = REPO / "notebooks" / "07_rlhf.ipynb"
SLIDER_LABEL = "G (return)"  # the default: lesson 1's widget and the stand-in notebook
PNG_PREFIX = "data:image/png;base64,"
RUN_ALL_TIMEOUT = 180  # s; a lesson must run in 90 s, leave room on busy CI
VIEWPORT = {"width": 1280, "height": 800}  # a laptop's browser window

pytestmark = pytest.mark.browser


def _require_browser():
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package (pip install playwright)")
    if not os.access(bs.CHROMIUM, os.X_OK):
        missing.append(f"{bs.CHROMIUM} (apt-get install chromium)")
    if missing:
        msg = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(msg + " - CI must install them", pytrace=False)
        pytest.skip(msg)


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


def _notebook_params():
    custom = os.environ.get("PGCOURSE_BROWSER_NOTEBOOK")
    if custom:
        return [pytest.param(Path(custom).resolve(), SLIDER_LABEL, id=Path(custom).stem)]
    return [pytest.param(LESSON_1, SLIDER_LABEL, id="lesson01"),
            pytest.param(LESSON_3, "logit a1", id="lesson03"),
            pytest.param(LESSON_5, "advantage A", id="lesson05"),
            pytest.param(LESSON_6, "log10 alpha", id="lesson06")]


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


def _move_slider(page, label=SLIDER_LABEL):
    """Move the marked slider with the keyboard (drag if keys do nothing).
    Returns (readout before, readout after)."""
    slider = page.locator('[data-pgtest="slider"]')
    handle = slider.locator(".noUi-handle").first
    readout = slider.locator(".widget-readout").first
    handle.scroll_into_view_if_needed()
    before = readout.inner_text().strip()

    def changed(wait=3.0):
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if readout.inner_text().strip() != before:
                return True
            time.sleep(0.1)
        return False

    for key in ("ArrowRight", "ArrowLeft"):  # left if it starts at its max
        handle.focus()
        for _ in range(4):
            handle.press(key)
            time.sleep(0.1)
        if changed():
            return before, readout.inner_text().strip()
    # Fallback: drag the handle along the track.
    track = slider.locator(".noUi-target").first
    box, hbox = track.bounding_box(), handle.bounding_box()
    x0, y0 = hbox["x"] + hbox["width"] / 2, hbox["y"] + hbox["height"] / 2
    x1 = box["x"] + box["width"] * (0.2 if x0 > box["x"] + box["width"] / 2 else 0.8)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y0, steps=10)
    page.mouse.up()
    assert changed(), f"slider {label!r} did not move (readout {before!r})"
    return before, readout.inner_text().strip()


def check_widget_in_jupyterlab(notebook, browser, tmp_path, artifacts,
                               after_run=None, slider_label=SLIDER_LABEL):
    """Run all cells of `notebook` in JupyterLab, then move the widget's
    slider labelled `slider_label` and check its figure is redrawn."""
    t0 = time.monotonic()
    assert notebook.is_file(), f"missing notebook {notebook}"
    root = REPO if notebook.is_relative_to(REPO) else notebook.parent
    rel = notebook.relative_to(root).as_posix()
    on_disk = notebook.read_bytes()
    expected = bs.code_cells_with_source(notebook)

    with bs.jupyter_lab(root, tmp_path) as server:
        _log(f"JupyterLab up on port {server.port} in {time.monotonic() - t0:.1f} s")
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.set_default_timeout(60_000)
        console = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        step = "open notebook"
        try:
            page.goto(server.url("lab/tree/" + urllib.parse.quote(rel)),
                      wait_until="domcontentloaded", timeout=90_000)
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell",
                                   state="visible", timeout=90_000)
            step = "wait for kernel"
            kernel = _wait_kernel_ready(page, server, rel)
            _log(f"kernel {kernel['name']} idle at {time.monotonic() - t0:.1f} s")

            page.evaluate(bs.JS_WATCH_IOPUB)

            step = "run all cells"
            t_run = time.monotonic()
            _run_all(page)
            state = _wait_run_finished(page, server, rel, expected)
            _log(f"Run All: {state['executed']}/{expected} cells in "
                 f"{time.monotonic() - t_run:.1f} s")
            assert not state["errors"], "cells failed in JupyterLab:\n" + \
                "\n".join(state["errors"])
            assert state["executed"] >= expected, \
                f"only {state['executed']}/{expected} code cells ran: {state['prompts']}"

            if after_run:
                after_run(page)

            step = "check the slider readouts"
            layout = _check_readouts(page)
            _log(f"{layout['checked']} slider readouts in {layout['widgets']} widgets visible")

            step = "find the widget"
            deadline = time.monotonic() + 30
            while page.evaluate(bs.JS_MARK_WIDGET, slider_label) is None:
                assert time.monotonic() < deadline, (
                    f"no widget with a slider labelled {slider_label!r} next to an "
                    f"Output showing an image")
                time.sleep(0.25)
            images = _widget_images(page)
            assert len(images) == 1, f"expected one figure in the widget, got {len(images)}"
            src0 = images[0]
            assert src0.startswith(PNG_PREFIX) and len(src0) > 1000, src0[:80]

            step = f"move the {slider_label!r} slider"
            before, after = _move_slider(page, slider_label)
            _log(f"slider {slider_label!r}: {before} -> {after}")
            deadline = time.monotonic() + 30
            while True:
                images = _widget_images(page)
                if len(images) == 1 and images[0] and images[0] != src0:
                    break
                errs = page.evaluate(bs.JS_IOPUB_ERRORS) + \
                    page.evaluate(bs.JS_WIDGET_TEXT_ERRORS)
                if errs or time.monotonic() > deadline:
                    raise AssertionError(
                        f"the widget's figure was not redrawn after moving "
                        f"{slider_label!r} ({before} -> {after}); kernel errors:\n"
                        + ("\n".join(errs) or "(none)"))
                time.sleep(0.25)
            server.wait_kernel_idle(rel, timeout=30, stable=0.5)
            time.sleep(0.5)  # let the last redraw land
            images = _widget_images(page)
            assert len(images) == 1, f"expected one figure after the move, got {len(images)}"
            assert images[0].startswith(PNG_PREFIX) and images[0] != src0
            widget_errors = page.evaluate(bs.JS_WIDGET_TEXT_ERRORS) + \
                page.evaluate(bs.JS_IOPUB_ERRORS)
            state = page.evaluate(bs.JS_NOTEBOOK_STATE)
            assert not widget_errors and not state["errors"], \
                "errors after moving the slider:\n" + "\n".join(widget_errors + state["errors"])
            if os.environ.get("PGCOURSE_BROWSER_ARTIFACTS"):
                page.locator('[data-pgtest="widget"]').screenshot(
                    path=str(artifacts / f"{notebook.stem}-widget.png"))
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

    assert notebook.read_bytes() == on_disk, "the test modified the notebook on disk"
    _log(f"total {time.monotonic() - t0:.1f} s")


@pytest.mark.parametrize("notebook, slider_label", _notebook_params())
def test_lesson_widget_in_jupyterlab(notebook, slider_label, browser, tmp_path, artifacts):
    check_widget_in_jupyterlab(notebook, browser, tmp_path, artifacts, slider_label=slider_label)


def test_rlhf_beta_widget_in_jupyterlab(browser, tmp_path, artifacts):
    """Lesson 7: Run All trains the whole RLHF pipeline in the browser's kernel; then the 'beta' slider of the
    beta-sweep widget (a SelectionSlider) is moved and its figure must be redrawn."""
    check_widget_in_jupyterlab(LESSON_7, browser, tmp_path, artifacts, slider_label="beta")


def test_demo_notebook_harness(browser, tmp_path, artifacts):
    """The same checks on a small stand-in notebook: tells a broken harness
    (JupyterLab, Chromium, widgets) from a broken lesson."""
    demo = bs.write_demo_notebook(tmp_path / "nb" / "demo_widget.ipynb")

    def kernel_is_this_python(page):
        # JupyterLab's default 'python3' kernel runs in this interpreter's env.
        out = page.evaluate(bs.JS_OUTPUT_TEXT)
        assert f"kernel prefix: {sys.prefix}" in out, out[:500]

    check_widget_in_jupyterlab(demo, browser, tmp_path, artifacts,
                               after_run=kernel_is_this_python)
