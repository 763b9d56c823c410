"""Helpers for the end-to-end JupyterLab test (tests/test_browser.py).

* `jupyter_lab(root_dir, tmp_dir)`: a context manager that runs an isolated
  JupyterLab server on 127.0.0.1 (free port, random token, its own config,
  data, runtime, settings and workspace dirs, autosave off so notebooks on
  disk are never modified) and always stops it, kernels included.
* `write_demo_notebook(path)`: a small notebook with the same kind of widget
  as lesson 1 (sliders + an Output showing a matplotlib PNG), used to check
  the harness itself.
* JavaScript snippets evaluated in the page by the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat

CHROMIUM = os.environ.get("PGCOURSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
]

# JupyterLab user settings: never autosave (the committed notebook must stay
# output-free), render every cell (no windowing, so the DOM holds all cells),
# no news / update toasts over the page.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {
        "autosave": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    proc: subprocess.Popen
    port: int
    token: str
    root_dir: Path
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET", timeout: float = 10):
        req = urllib.request.Request(
            f"{self.base_url}/api/{path.lstrip('/')}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
            data=b"" if method == "POST" else None,
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, n: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        return "\n".join(lines[-n:])

    def shutdown_sessions(self, notebook_rel: str) -> None:
        """End the sessions (and kernels) of `notebook_rel`: the next notebook gets the CPU."""
        for s in self.api("sessions"):
            if s.get("path") == notebook_rel:
                with contextlib.suppress(Exception):
                    self.api(f"sessions/{s['id']}", method="DELETE")

    def session_kernel(self, notebook_rel: str):
        """The kernel model of the session running `notebook_rel`, or None."""
        for s in self.api("sessions"):
            if s.get("path") == notebook_rel and s.get("kernel"):
                return s["kernel"]
        return None

    def wait_kernel_idle(self, notebook_rel: str, timeout: float = 90,
                         stable: float = 1.0) -> dict:
        """Wait until the notebook's kernel reports `idle` for `stable` s."""
        deadline = time.monotonic() + timeout
        idle_since = None
        kernel = None
        while time.monotonic() < deadline:
            kernel = self.session_kernel(notebook_rel)
            if kernel and kernel.get("execution_state") == "idle":
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since >= stable:
                    return kernel
            else:
                idle_since = None
            time.sleep(0.25)
        raise TimeoutError(
            f"kernel for {notebook_rel} not idle after {timeout:.0f} s "
            f"(last seen: {kernel!r}); server log:\n{self.log_tail()}")


def _start(root_dir: Path, tmp_dir: Path, port: int, token: str) -> LabServer:
    home = tmp_dir / "jupyter"
    dirs = {name: home / name for name in
            ("config", "data", "runtime", "settings", "workspaces", "ipython",
             "checkpoints")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    for rel, content in LAB_SETTINGS.items():
        p = dirs["settings"] / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(content))

    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
        IPYTHONDIR=str(dirs["ipython"]),
        PYTHONUNBUFFERED="1",
    )
    # The widget shows figures through the inline backend: a backend forced
    # by the environment (MPLBACKEND=Agg in CI, say) would disable it.
    env.pop("MPLBACKEND", None)

    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={root_dir}",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.user_settings_dir={dirs['settings']}",
        f"--LabApp.workspaces_dir={dirs['workspaces']}",
        "--MappingKernelManager.default_kernel_name=python3",
        # JupyterLab checkpoints a notebook when it opens it: keep that out
        # of the repo (an absolute dir replaces .ipynb_checkpoints/).
        f"--FileCheckpoints.checkpoint_dir={dirs['checkpoints']}",
    ]
    log_path = tmp_dir / f"jupyterlab-{port}.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        cmd, cwd=root_dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    return LabServer(proc, port, token, Path(root_dir), log_path)


def _wait_ready(server: LabServer, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            return False
        try:
            server.api("status", timeout=2)
            return True
        except (urllib.error.URLError, ConnectionError, OSError, ValueError):
            time.sleep(0.25)
    raise TimeoutError(f"JupyterLab did not answer within {timeout:.0f} s; "
                       f"log:\n{server.log_tail()}")


def stop(server: LabServer) -> None:
    """Shut the server down (kernels first), then make sure its process
    group is gone."""
    proc = server.proc
    if proc.poll() is None:
        with contextlib.suppress(Exception):
            server.api("shutdown", method="POST", timeout=5)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    # Kernels are in the server's process group: end any that outlived it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def jupyter_lab(root_dir: Path, tmp_dir: Path, start_timeout: float = 60):
    """Run JupyterLab serving `root_dir`; yields a LabServer; always stops."""
    token = secrets.token_hex(24)
    last_log = ""
    for _attempt in range(3):  # a free port may be taken before we bind it
        server = _start(Path(root_dir), Path(tmp_dir), free_port(), token)
        try:
            if _wait_ready(server, start_timeout):
                break
            last_log = server.log_tail()
        except BaseException:
            stop(server)
            raise
        stop(server)
    else:
        raise RuntimeError(f"JupyterLab failed to start; log:\n{last_log}")
    try:
        yield server
    finally:
        stop(server)


def code_cells_with_source(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum(1 for c in nb.cells if c.cell_type == "code" and c.source.strip())


def notebook_builds_widgets(path: Path) -> bool:
    """Does a code cell of the notebook build an interactive widget (sliders, buttons)?"""
    nb = nbformat.read(path, as_version=4)
    words = ("Widget(", "widget(", "Slider(", "ToggleButtons(", "Dropdown(", "Play(")
    return any(c.cell_type == "code" and any(w in c.source for w in words) for c in nb.cells)


# The widgets timed before and after, with the lessons' arguments.
BEFORE_AFTER_WIDGETS = [
    ("DistributionUpdateWidget", "w.DistributionUpdateWidget(n_actions=3)"),
    # at step 0 the policy is uniform whatever lr and seed: start at the end, as lesson 1 leaves it
    ("BanditLearningWidget", "b = w.BanditLearningWidget(means=(1.0, 2.0, 3.0), steps=300, lr=0.1, seed=0)\n"
                             "b.controls['step'].value = 300\nb"),
    ("AdvantageWidget", "w.AdvantageWidget(q_values=(1.0, 3.0, 2.0))"),
    ("GAELambdaWidget", "w.GAELambdaWidget(critic_error=1.0)"),
    ("ClippedObjectiveWidget", "w.ClippedObjectiveWidget(eps=0.2, adv=1.0)"),
    ("SoftPolicyWidget", "w.SoftPolicyWidget(q_values=(1.0, 2.0, 2.5, 0.5), alpha=0.5)"),
    ("BetaSweepWidget", "r.beta_sweep_widget(runs, FRONTIER, beta=1.0, iteration=60)"),
]


def write_before_after_notebook(path: Path, repo: Path, ref: str) -> Path:
    """A notebook building each widget twice: from `git show ref:pgcourse/...` ("before") and from the
    working tree ("after"), one cell each, titled '# before: Name' / '# after: Name'. Lesson 7's widget
    gets the synthetic sweep of tests/test_rlhf_widgets.py."""
    base = path.parent / "baseline"
    base.mkdir(parents=True, exist_ok=True)
    for mod in ("widgets", "rlhf_widgets"):
        src = subprocess.run(["git", "show", f"{ref}:pgcourse/{mod}.py"], cwd=repo, check=True,
                             capture_output=True, text=True).stdout
        src = src.replace("from pgcourse.widgets import", "from before_widgets import")
        (base / f"before_{mod}.py").write_text(src)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        "%matplotlib inline\n"  # the old widgets display their Figure through the inline backend
        "import sys\n"
        f"sys.path[:0] = [{str(base)!r}, {str(repo / 'tests')!r}]\n"
        "import before_widgets, before_rlhf_widgets\n"
        "from pgcourse import widgets, rlhf_widgets\n"
        "from test_rlhf_widgets import FRONTIER, _runs\n"
        "runs = _runs()\n"
        "BEFORE, AFTER = (before_widgets, before_rlhf_widgets), (widgets, rlhf_widgets)")]
    for name, expr in BEFORE_AFTER_WIDGETS:
        for when in ("before", "after"):
            nb.cells.append(nbformat.v4.new_code_cell(
                f"# {when}: {name}\nw, r = {when.upper()}\n{expr}"))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def before_after_table(rows, ref: str, goal_ms: float, loads) -> str:
    """rows: (notebook, 'before: Name' / 'after: Name', control, [dom ms], [decoded ms])."""
    def med(xs):
        xs = sorted(xs)
        return (xs[(len(xs) - 1) // 2] + xs[len(xs) // 2]) / 2 if xs else float("nan")

    by = {}
    for _, title, control, dom, dec in rows:
        when, _, name = title.partition(": ")
        by.setdefault((name, control), {})[when] = (med(dom), med(dec), len(dom))
    lines = [f"key-to-pixels latency, median ms: widgets of {ref!r} (before) and of the working tree (after)",
             f"  ({'; '.join(loads)}; goal: <= {goal_ms:.0f} ms to the DOM; Play: first frame after its interval)",
             f"  {'widget':<24} {'control':<18} {'before DOM':>10} {'decoded':>8} {'after DOM':>10} "
             f"{'decoded':>8} {'after/before':>12}"]
    for (name, control), d in by.items():
        b, a = d.get("before", (float("nan"),) * 3), d.get("after", (float("nan"),) * 3)
        ratio = a[0] / b[0] if b[0] == b[0] and b[0] > 0 else float("nan")
        lines.append(f"  {name[:24]:<24} {control[:18]:<18} {b[0]:>8.0f}ms {b[1]:>6.0f}ms {a[0]:>8.0f}ms "
                     f"{a[1]:>6.0f}ms {ratio:>12.2f}")
    return "\n".join(lines)


def write_demo_notebook(path: Path) -> Path:
    """A stand-in for lesson 1's distribution-update widget."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3 (ipykernel)",
        "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Demo: softmax update widget"),
        nbformat.v4.new_code_cell(
            "import sys\nprint('kernel prefix:', sys.prefix)"),
        nbformat.v4.new_code_cell(
            "import ipywidgets as w, matplotlib.pyplot as plt, numpy as np\n"
            "from IPython.display import display\n"
            "G = w.FloatSlider(value=2.0, min=-5.0, max=5.0, step=0.5, "
            "description='G (return)')\n"
            "eta = w.FloatSlider(value=0.1, min=0.0, max=1.0, step=0.05, "
            "description='eta')\n"
            "out = w.Output()\n"
            "def draw(*_):\n"
            "    theta = np.array([0.0, 0.0])\n"
            "    p = np.exp(theta) / np.exp(theta).sum()\n"
            "    grad = np.eye(2)[0] - p\n"
            "    q = np.exp(theta + eta.value * G.value * grad)\n"
            "    q /= q.sum()\n"
            "    fig, ax = plt.subplots(figsize=(4, 2.5))\n"
            "    ax.bar([0, 1], p, width=0.4, label='before')\n"
            "    ax.bar([0.4, 1.4], q, width=0.4, label='after')\n"
            "    ax.set_ylim(0, 1); ax.legend()\n"
            "    with out:\n"
            "        out.clear_output(wait=True)\n"
            "        display(fig)\n"
            "    plt.close(fig)\n"
            "G.observe(draw, 'value'); eta.observe(draw, 'value')\n"
            "draw()\n"
            "w.HBox([w.VBox([G, eta]), out])"),
        nbformat.v4.new_code_cell("assert 1 + 1 == 2"),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# ---------------------------------------------------------------- page JS

# Execution state of the open notebook: prompts, and errors found in the
# model (error outputs) and in the DOM (tracebacks on stderr, widgets that
# failed to render). Cells tagged `raises-exception` are allowed to fail.
JS_NOTEBOOK_STATE = r"""
() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  const nb = panel && panel.content;
  if (!nb || !nb.widgets) return {ready: false};
  const state = {ready: true, prompts: [], errors: [], executed: 0, busy: 0};
  nb.widgets.forEach((cell, i) => {
    const model = cell.model;
    if (model.type !== 'code') return;
    const prompt = cell.node.querySelector('.jp-InputPrompt');
    const text = prompt ? prompt.textContent.trim() : '';
    state.prompts.push(text);
    if (text.includes('*')) state.busy += 1;
    if (/\[\d+\]/.test(text)) state.executed += 1;
    const tags = (model.getMetadata ? model.getMetadata('tags') : null) || [];
    if (tags.includes('raises-exception')) return;
    const outputs = model.outputs.toJSON();
    for (const o of outputs) {
      if (o.output_type === 'error') {
        state.errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
      }
    }
    for (const el of cell.node.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], .jp-RenderedText')) {
      const t = el.textContent || '';
      if (t.includes('Traceback')) {
        state.errors.push(`cell ${i}: ${t.slice(0, 2000)}`);
      }
    }
    const txt = cell.node.querySelector('.jp-OutputArea') ?
        cell.node.querySelector('.jp-OutputArea').textContent : '';
    if (txt.includes('Error displaying widget') || txt.includes('Failed to load model')) {
      state.errors.push(`cell ${i}: widget failed to render: ${txt.slice(0, 500)}`);
    }
  });
  state.errors = [...new Set(state.errors)];
  return state;
}
"""

# Mark the widget box holding the slider labelled `label` and its Output
# (the nearest ancestor of the slider that also holds an Output widget with
# an image). Returns the slider's readout or null.
JS_MARK_WIDGET = r"""
(label) => {
  document.querySelectorAll('[data-pgtest]').forEach(
      e => e.removeAttribute('data-pgtest'));
  const labels = [...document.querySelectorAll(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .widget-slider .widget-label')]
      .filter(l => l.textContent.trim() === label);
  for (const l of labels) {
    const slider = l.closest('.widget-slider');
    let node = slider.parentElement;
    while (node && !node.classList.contains('jp-Cell')) {
      if (node.querySelector('.widget-output .jp-OutputArea img')) {
        node.setAttribute('data-pgtest', 'widget');
        slider.setAttribute('data-pgtest', 'slider');
        const r = slider.querySelector('.widget-readout');
        return r ? r.textContent.trim() : '';
      }
      node = node.parentElement;
    }
  }
  return null;
}
"""

JS_OUTPUT_TEXT = r"""
() => [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output')]
    .map(e => e.textContent || '').join('\n')
"""

# Collect stderr and errors the kernel sends outside any cell execution (a
# widget callback that raises prints its traceback there, to no cell).
JS_WATCH_IOPUB = r"""
() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session.kernel;
  window.__pgtestIopub = [];
  kernel.iopubMessage.connect((_, msg) => {
    const parent = msg.parent_header && msg.parent_header.msg_type;
    if (parent === 'execute_request') return;  // shown in the cells
    const t = msg.header.msg_type, c = msg.content;
    if (t === 'error') {
      window.__pgtestIopub.push({error: true,
          text: `${c.ename}: ${c.evalue}\n` + (c.traceback || []).join('\n')});
    } else if (t === 'stream' && c.name === 'stderr') {
      window.__pgtestIopub.push({error: false, text: c.text});
    }
  });
  return true;
}
"""

JS_IOPUB_ERRORS = r"""
() => (window.__pgtestIopub || [])
    .filter(m => m.error || m.text.includes('Traceback'))
    .map(m => m.text.replace(/\x1b\[[0-9;]*m/g, ''))
"""

JS_WIDGET_IMAGES = r"""
() => [...document.querySelectorAll(
    '[data-pgtest="widget"] .widget-output .jp-OutputArea img')]
    .map(i => i.getAttribute('src') || '')
"""

JS_WIDGET_TEXT_ERRORS = r"""
() => [...document.querySelectorAll(
    '[data-pgtest="widget"] .widget-output .jp-OutputArea-output')]
    .map(e => e.textContent || '')
    .filter(t => t.includes('Traceback') || /\w+Error:/.test(t))
"""

# Layout of every slider readout in every widget of the open notebook that
# shows a figure (a widget view whose Output holds an image). Each readout is
# scrolled into view (vertically only) and must be visible (the topmost
# element at its centre and near both ends), lie inside the window
# horizontally and not overlap the widget's figure. (A widget view is an
# output whose child is a `.jupyter-widgets` node: JupyterLab 4.6 does not
# mark it with its MIME type.) Returns {pending: true}
# while a figure has not loaded, else {widgets, checked, problems, readouts}.
JS_READOUT_LAYOUT = r"""
() => {
  const FIGURE = '.widget-image, .widget-output .jp-OutputArea img';
  const vw = document.documentElement.clientWidth;
  const views = [...document.querySelectorAll(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output')]
      .filter(v => v.querySelector(':scope > .jupyter-widgets'))
      .filter(v => !v.parentElement.closest('.widget-output'))
      .filter(v => v.querySelector('.widget-readout') && v.querySelector(FIGURE));
  const res = {widgets: views.length, checked: 0, problems: [], readouts: []};
  const fmt = r => `[${Math.round(r.left)}, ${Math.round(r.right)}] x [${Math.round(r.top)}, ${Math.round(r.bottom)}]`;
  const scrollToCentre = el => {
    let p = el.parentElement;
    while (p && !(p.scrollHeight > p.clientHeight &&
                  /(auto|scroll)/.test(getComputedStyle(p).overflowY))) p = p.parentElement;
    if (!p) return;
    const pr = p.getBoundingClientRect(), er = el.getBoundingClientRect();
    p.scrollTop += (er.top + er.height / 2) - (pr.top + pr.height / 2);
  };
  const describe = e => !e ? 'nothing' : e.tagName.toLowerCase() +
      (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\s+/).join('.') : '');
  for (const [w, view] of views.entries()) {
    const imgs = [...view.querySelectorAll(FIGURE)];
    if (imgs.some(i => !i.complete || !i.naturalWidth)) return {pending: true};
    for (const readout of view.querySelectorAll('.widget-readout')) {
      const slider = readout.closest('.widget-slider');
      const lab = slider && slider.querySelector('.widget-label');
      const name = `widget ${w + 1}, slider ${JSON.stringify(lab ? lab.textContent.trim() : '?')}`;
      scrollToCentre(readout);
      const r = readout.getBoundingClientRect();
      res.checked += 1;
      res.readouts.push({name, text: readout.textContent.trim(), rect: fmt(r),
                         figures: imgs.map(i => fmt(i.getBoundingClientRect()))});
      const style = getComputedStyle(readout);
      if (r.width < 1 || r.height < 1 || style.visibility !== 'visible' || +style.opacity === 0) {
        res.problems.push(`${name}: readout not shown (box ${fmt(r)}, visibility ${style.visibility})`);
        continue;
      }
      if (r.left < 0 || r.right > vw) {
        res.problems.push(`${name}: readout ${fmt(r)} outside the window's width ${vw}`);
      }
      for (const img of imgs) {
        const f = img.getBoundingClientRect();
        const dx = Math.min(r.right, f.right) - Math.max(r.left, f.left);
        const dy = Math.min(r.bottom, f.bottom) - Math.max(r.top, f.top);
        if (dx > 0 && dy > 0) {
          res.problems.push(`${name}: readout ${fmt(r)} overlaps the figure ${fmt(f)}`);
        }
      }
      const y = r.top + r.height / 2;
      for (const x of [r.left + 2, r.left + r.width / 2, r.right - 2]) {
        const hit = document.elementFromPoint(x, y);
        if (!(hit && (hit === readout || readout.contains(hit)))) {
          res.problems.push(`${name}: at (${Math.round(x)}, ${Math.round(y)}) the readout ` +
                            `${JSON.stringify(readout.textContent.trim())} is covered by ${describe(hit)}`);
          break;
        }
      }
    }
  }
  return res;
}
"""


# Every widget view of the open notebook with controls: marks each view
# `data-pgview=<n>` and returns [{view, cell, title, controls: [{kind, label,
# n}]}], kind one of slider, toggle, dropdown, play; `n` counts controls of
# that kind in the view. A view's figure is an ipywidgets Image or an image in
# an Output widget; a view without one (lesson 0) shows its result in labels.
JS_LIST_WIDGETS = r"""
() => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  const cells = [...nb.querySelectorAll('.jp-Cell')];
  const views = [...nb.querySelectorAll('.jp-OutputArea-output')]
      .filter(v => v.querySelector(':scope > .jupyter-widgets'))
      .filter(v => !v.parentElement.closest('.widget-output'));
  const out = [];
  for (const v of views) {
    const controls = [];
    const text = el => (el ? el.textContent.trim() : '');
    v.querySelectorAll('.widget-slider').forEach((el, n) => controls.push(
        {kind: 'slider', label: text(el.querySelector('.widget-label')), n}));
    v.querySelectorAll('.widget-toggle-buttons').forEach((el, n) => controls.push(
        {kind: 'toggle', label: text(el.querySelector('.widget-label')), n}));
    v.querySelectorAll('.widget-dropdown').forEach((el, n) => controls.push(
        {kind: 'dropdown', label: text(el.querySelector('.widget-label')), n}));
    v.querySelectorAll('.widget-play').forEach((el, n) => controls.push({kind: 'play', label: 'Play', n}));
    if (!controls.length) continue;  // progress bars and other output-only widgets
    const cell = v.closest('.jp-Cell');
    const src = cell.querySelector('.jp-InputArea .cm-content');
    const first = src ? (src.querySelector('.cm-line') || {}).textContent || '' : '';
    v.setAttribute('data-pgview', String(out.length));
    out.push({view: out.length, cell: cells.indexOf(cell), title: first.trim(),
              source: src ? src.textContent : '', controls});
  }
  return out;
}
"""

# What a view shows: its figures' sources, or (no figure) its labels' text.
JS_VIEW_SIGNATURE_FN = r"""
(view) => {
  const imgs = [...view.querySelectorAll('.widget-image, .widget-output .jp-OutputArea img')];
  if (imgs.length) return imgs.map(i => i.getAttribute('src') || '').join('|');
  return [...view.querySelectorAll('.widget-label, .widget-html-content')]
      .filter(l => !l.closest('.widget-slider, .widget-dropdown, .widget-toggle-buttons'))
      .map(l => l.textContent).join('|');
}
"""

# Arm a latency measurement on view `n`: t0 at the next keydown / mousedown /
# explicit start, t1 when the view's signature first changes in the DOM, t2
# when its new images are decoded (ready to paint). Read with JS_MOVE_RESULT.
JS_ARM_MOVE = r"""
(n) => {
  const view = document.querySelector(`[data-pgview="${n}"]`);
  const sig = """ + JS_VIEW_SIGNATURE_FN.strip() + r""";
  if (window.__pgMove && window.__pgMove.observer) window.__pgMove.observer.disconnect();
  const m = {t0: null, t1: null, t2: null, sig0: sig(view)};
  const start = () => { if (m.t0 === null) m.t0 = performance.now(); };
  m.start = start;
  document.addEventListener('keydown', start, {capture: true, once: true});
  document.addEventListener('mousedown', start, {capture: true, once: true});
  m.observer = new MutationObserver(() => {
    if (m.t1 !== null || m.t0 === null) return;
    const s = sig(view);
    if (!s || s === m.sig0) return;
    m.t1 = performance.now();
    const imgs = [...view.querySelectorAll('.widget-image, .widget-output .jp-OutputArea img')];
    Promise.all(imgs.map(i => i.decode().catch(() => null)))
        .then(() => { m.t2 = performance.now(); });
    if (!imgs.length) m.t2 = m.t1;
  });
  m.observer.observe(view, {subtree: true, childList: true, attributes: true,
                            attributeFilter: ['src'], characterData: true});
  window.__pgMove = m;
  return m.sig0.length;
}
"""

JS_MOVE_RESULT = r"""
() => {
  const m = window.__pgMove;
  if (!m || m.t0 === null || m.t1 === null || m.t2 === null) return null;
  m.observer.disconnect();
  return {dom: m.t1 - m.t0, decoded: m.t2 - m.t0};
}
"""

# Choose option `index` of the `n`-th dropdown of view `v`, starting the clock.
JS_SELECT_OPTION = r"""
([v, n, index]) => {
  const sel = document.querySelectorAll(`[data-pgview="${v}"] .widget-dropdown select`)[n];
  window.__pgMove.start();
  sel.selectedIndex = index;
  sel.dispatchEvent(new Event('change', {bubbles: true}));
  return sel.options[index].textContent;
}
"""

JS_WIDGET_ERRORS = r"""
() => [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .widget-output .jp-OutputArea-output')]
    .map(e => e.textContent || '')
    .filter(t => t.includes('Traceback') || /\w+Error:/.test(t))
"""

JS_HAS_FIGURE_WIDGET = r"""
() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .widget-slider')]
    .some(s => s.closest('.jp-OutputArea-output') &&
               s.closest('.jp-OutputArea-output').querySelector(
                   '.widget-image, .widget-output .jp-OutputArea img'))
"""


def require_browser(what: str = "browser test", modules: dict[str, str] | None = None) -> None:
    """Skip (or, where CI or PGCOURSE_REQUIRE_BROWSER=1 is set, fail) when playwright, Debian's Chromium or
    one of `modules` (import name -> how to install it) is missing."""
    import os

    import pytest

    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package (pip install playwright)")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    for mod, install in (modules or {}).items():
        try:
            __import__(mod)
        except ImportError:
            missing.append(f"{mod} ({install})")
    if missing:
        msg = f"{what} needs " + " and ".join(missing)
        if os.environ.get("PGCOURSE_REQUIRE_BROWSER") == "1" or os.environ.get("CI"):
            pytest.fail(msg + " (PGCOURSE_REQUIRE_BROWSER=1 or CI is set, so this is a failure)", pytrace=False)
        pytest.skip(msg)
