"""The course site (`python -m pgcourse site`): its parts, then the built pages in headless Chromium.

The browser test builds lessons 00 and 01 (set PGCOURSE_SITE_LESSONS=all for every lesson, as .ci/run does,
or another comma-separated list), serves the site on 127.0.0.1 and opens every page: no console error, math
typeset by the site's own MathJax, every figure of non-zero size, no error output, the navigation reaches
every lesson and exercise page of the build, and no request leaves the site. PGCOURSE_SITE_BUILT=build/site
checks a site built before (with PGCOURSE_SITE_LESSONS naming the lessons it holds) instead of building one.

    pytest -m browser tests/test_site.py -p no:nbval -s

Skipped (failed when CI or PGCOURSE_REQUIRE_BROWSER is set) if playwright or Chromium is missing.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import sys
import threading
import urllib.parse
from pathlib import Path

import nbformat
import pytest

from pgcourse.tools import site

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser_support as bs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


# ---------------------------------------------------------------------------------------------------------------
# the parts, without a browser


def test_lesson_numbers_are_validated():
    assert site.lesson_numbers(None) is None
    assert site.lesson_numbers("00, 01") == ["00", "01"]
    for bad in ["0", "a1", "", "00;01"]:
        with pytest.raises(ValueError, match="two-digit"):
            site.lesson_numbers(bad)
    with pytest.raises(ValueError, match="no lesson numbered 42"):
        site.select(REPO / "notebooks", ["42"])


def test_exercise_pages_come_from_exercises_never_solutions():
    pages = site.select(REPO / "exercises", None)
    assert pages and all(p.parent.name == "exercises" for p in pages)
    nb = site.exercise_page(pages[0], {"01_log_derivative_trick.ipynb"}, {p.name for p in pages})
    src = "\n".join(c.source for c in nb.cells)
    assert "BEGIN SOLUTION" not in src and "NotImplementedError" in src
    assert site.EXERCISE_NOTE in src


def _widget_state():
    out = {"_model_name": "OutputModel", "outputs": [
        {"output_type": "display_data", "data": {"image/png": PNG, "text/plain": "<Figure>"}, "metadata": {}}]}
    return {
        "box": {"_model_name": "VBoxModel", "children": ["IPY_MODEL_row", "IPY_MODEL_out"]},
        "row": {"_model_name": "HBoxModel", "children": ["IPY_MODEL_g", "IPY_MODEL_pick", "IPY_MODEL_go"]},
        "g": {"_model_name": "FloatSliderModel", "description": "G (return)", "value": 2.0},
        "pick": {"_model_name": "DropdownModel", "description": "preset", "index": 1,
                 "_options_labels": ["none", "greedy"]},
        "go": {"_model_name": "ButtonModel", "description": "step"},
        "out": out,
        "bar": {"_model_name": "HBoxModel", "children": ["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]},
        "l": {"_model_name": "HTMLModel", "value": "training"},
        "p": {"_model_name": "FloatProgressModel", "value": 40, "max": 40},
        "r": {"_model_name": "HTMLModel", "value": " 40/40 [00:02&lt;00:00]"},
    }


def test_a_widget_becomes_its_figure_its_values_and_a_note():
    outs = site.static_outputs({"model_id": "box"}, _widget_state())
    note = outs[0]["data"]["text/html"]
    assert "Interactive in JupyterLab" in note and "the figure" in note
    assert "G (return): 2" in note and "preset: greedy" in note and "step" not in note
    assert outs[1]["data"]["image/png"] == PNG and len(outs) == 2


def test_a_progress_bar_becomes_a_line_of_text():
    (out,) = site.static_outputs({"model_id": "bar"}, _widget_state())
    assert out["output_type"] == "stream" and out["text"] == "training 40/40 [00:02<00:00]\n"


def test_a_closed_widget_leaves_nothing():
    assert site.static_outputs({"model_id": "gone"}, _widget_state()) == []


def test_make_static_uses_the_state_when_the_cell_finished():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("w")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        site.WIDGET_VIEW: {"model_id": "box", "version_major": 2, "version_minor": 0}, "text/plain": "VBox()"})]
    nb.cells = [cell]
    nb.metadata["widgets"] = {"state": {}}
    later = _widget_state()
    later["g"]["value"] = 5.0
    assert site.make_static(nb, {0: _widget_state()}) == 1
    assert "G (return): 2" in nb.cells[0].outputs[0]["data"]["text/html"]
    assert "widgets" not in nb.metadata
    nbformat.validate(nb)


def test_landing_page_has_the_course_map():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    lessons = site.select(REPO / "notebooks", ["00", "01"])
    exercises = site.select(REPO / "exercises", ["00", "01"])
    page = site.index_page(readme, lessons, exercises)
    assert "](lessons/01_log_derivative_trick.ipynb)" in page
    assert "](exercises/01_log_derivative_trick.ipynb)" in page
    assert "](lessons/02_reinforce.ipynb)" not in page and "REINFORCE" in page  # listed, not linked
    assert "lessons/00_welcome" in page.split("```{toctree}")[1]


def test_links_between_notebooks_point_at_pages():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(
        "[a](01_log_derivative_trick.ipynb) [b](../exercises/01_log_derivative_trick.ipynb) "
        "[c](02_reinforce.ipynb)")]
    site.rewrite_links(nb, {"01_log_derivative_trick.ipynb"}, {"01_log_derivative_trick.ipynb"})
    assert nb.cells[0].source == ("[a](../lessons/01_log_derivative_trick.ipynb) "
                                  "[b](../exercises/01_log_derivative_trick.ipynb) c")


def test_external_references_are_found(tmp_path):
    (tmp_path / "a.html").write_text('<script src="https://cdn.example/x.js"></script><a href="b.html">b</a>'
                                     '<link href="//fonts.example/f.css">')
    (tmp_path / "b.html").write_text('<img src="_images/x.png"><a href="#top">top</a>')
    (tmp_path / "s.css").write_text("@font-face { src: url('https://fonts.example/x.woff2'); }")
    found = site.external_references(tmp_path)
    assert found == {"a.html": ["//fonts.example/f.css", "https://cdn.example/x.js"],
                     "s.css": ["https://fonts.example/x.woff2"]}


def test_command_is_registered():
    from pgcourse.__main__ import COMMANDS

    assert COMMANDS["site"] == "pgcourse.tools.site"
    assert site.main(["--lessons", "zz"]) == 2


# ---------------------------------------------------------------------------------------------------------------
# the built site in a browser


def _require_browser():
    bs.require_browser("the site's browser test", {m: "pip install -e '.[site]'" for m in
                                                  ("sphinx", "myst_nb", "sphinx_book_theme")})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    _require_browser()
    spec = os.environ.get("PGCOURSE_SITE_LESSONS", "00,01")
    numbers = None if spec == "all" else site.lesson_numbers(spec)
    if os.environ.get("PGCOURSE_SITE_BUILT"):  # check a site built before (its folder, as given to --out)
        out = Path(os.environ["PGCOURSE_SITE_BUILT"]).resolve()
        return out / "html", None, numbers
    out = tmp_path_factory.mktemp("site")
    summary = site.build(out, numbers, log=lambda m: print(m, flush=True))
    return out / "html", summary, numbers


@pytest.fixture(scope="module")
def server(built):
    html_dir = built[0]
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(built):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=bs.CHROMIUM, args=bs.CHROMIUM_ARGS, headless=True,
                               timeout=60_000)
        try:
            yield b
        finally:
            b.close()


PAGE_STATE = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const text = document.querySelector('main') ? document.querySelector('main').innerText : document.body.innerText;
  const imgs = [...document.querySelectorAll('img')];
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  const outputs = [...document.querySelectorAll('.cell_output .output')];
  return {
    math: document.querySelectorAll('mjx-container').length,
    raw_math: (text.match(/\\$\\$|\\\\\\[|\\\\begin\\{/g) || []).length,
    imgs: imgs.map(i => ({src: i.getAttribute('src'), w: i.naturalWidth, h: i.naturalHeight})),
    errors: outputs.filter(o => o.matches('.traceback, .error')).length,
    stderr: outputs.filter(o => o.matches('.stderr')).map(o => o.innerText.slice(0, 200)),
    traceback: outputs.some(o => /Traceback \\(most recent call last\\)/.test(o.innerText)),
    widget_scripts: document.querySelectorAll('script[type*="jupyter.widget"]').length,
    static_widgets: document.querySelectorAll('.pgcourse-static-widget').length,
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    title: document.title,
  };
}"""


def _open(browser, url, base):
    """(page state, console errors, requests outside the site) of `url`."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, outside = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: outside.append(r.url) if not (r.url.startswith(base) or
                                                                r.url.startswith("data:")) else None)
    try:
        page.goto(url, wait_until="load", timeout=60_000)
        state = page.evaluate(PAGE_STATE)
        page.wait_for_timeout(200)
    finally:
        page.close()
    return state, errors, outside


def _page_has_math(html_dir: Path, rel: str) -> bool:
    text = (html_dir / rel).read_text(encoding="utf-8")
    return 'class="math' in text


@pytest.mark.browser
def test_site_pages_in_chromium(built, server, browser):
    html_dir, summary, numbers = built
    lessons = site.select(REPO / "notebooks", numbers)
    exercises = site.select(REPO / "exercises", numbers)
    expected = {f"lessons/{p.stem}.html" for p in lessons} | {f"exercises/{p.stem}.html" for p in exercises}
    pages = sorted(str(p.relative_to(html_dir)) for p in html_dir.rglob("*.html")
                   if "_static" not in p.relative_to(html_dir).parts)  # the theme's template files
    assert expected <= set(pages), f"pages missing from the build: {sorted(expected - set(pages))}"
    assert not [p for p in pages if "solution" in p.lower()], pages
    assert not list(html_dir.rglob("_sources/solutions*"))

    problems, reached = [], set()
    for rel in pages:
        state, errors, outside = _open(browser, server + rel, server)
        print(f"{rel}: {len(state['imgs'])} figures, {state['math']} math, "
              f"{state['static_widgets']} static widgets, {len(state['stderr'])} stderr", flush=True)
        where = f"{rel}:"
        if errors:
            problems.append(f"{where} console errors {errors[:3]}")
        if outside:
            problems.append(f"{where} loads from outside the site {outside[:3]}")
        if _page_has_math(html_dir, rel) and state["math"] == 0:
            problems.append(f"{where} has math but MathJax typeset none")
        if state["raw_math"]:
            problems.append(f"{where} {state['raw_math']} untypeset math delimiters ($$, \\[, \\begin)")
        small = [i["src"] for i in state["imgs"] if not (i["w"] > 0 and i["h"] > 0)]
        if small:
            problems.append(f"{where} figures of zero size {small[:3]}")
        if state["errors"] or state["traceback"]:
            problems.append(f"{where} an error output or traceback")
        bad_stderr = [s for s in state["stderr"] if re.search(r"Error|Traceback|Exception", s)]
        if bad_stderr:
            problems.append(f"{where} error text on stderr {bad_stderr[:2]}")
        if state["widget_scripts"]:
            problems.append(f"{where} widget views left for JavaScript that the site does not load")
        for link in state["links"]:
            if link.startswith(server):
                target = urllib.parse.urlparse(link).path.lstrip("/")
                reached.add(target)
    for p in lessons:
        rel = f"lessons/{p.stem}.html"
        src = nbformat.read(html_dir.parent / "src" / "lessons" / p.name, as_version=4)
        figures = sum("image/png" in o.get("data", {}) for c in src.cells for o in c.get("outputs", []))
        if figures:
            n = len(_open(browser, server + rel, server)[0]["imgs"])
            if n < figures:
                problems.append(f"{rel}: {figures} figures executed, {n} shown")
    assert not problems, "\n".join(problems)
    # the navigation (sidebar, landing page, previous/next) reaches every lesson and exercise of the build
    assert expected <= reached, f"no link reaches {sorted(expected - reached)}"
    if numbers is None or "01" in numbers:
        state = _open(browser, server + "lessons/01_log_derivative_trick.html", server)[0]
        assert state["static_widgets"] >= 2 and len(state["imgs"]) >= 4, state["static_widgets"]


def test_an_image_widget_shows_its_figure():
    from pgcourse.tools import site

    widgets = {"box": {"_model_name": "VBoxModel", "children": ["IPY_MODEL_img", "IPY_MODEL_s"]},
               "img": {"_model_name": "ImageModel", "format": "png", "_png_base64": "iVBORw0KGgo="},
               "s": {"_model_name": "FloatSliderModel", "description": "beta", "value": 0.5}}
    outs = site.static_outputs({"model_id": "box"}, widgets)
    assert [o["data"].get("image/png") for o in outs[1:]] == ["iVBORw0KGgo="]
    assert "beta: 0.5" in outs[0]["data"]["text/html"] and "the figure" in outs[0]["data"]["text/html"]
