"""Interactive figures (lessons 1-6): ipywidgets controls + a matplotlib figure redrawn in place.

Each widget keeps one `matplotlib.figure.Figure` whose artists are updated when a
control changes (`set_height`, `set_data`; nothing is cleared or re-created), then
rendered by Agg into one `ipywidgets.Image` (a PNG sent as a binary message, swapped
in place by the browser). The figure's layout is computed once, and again only when
tick labels change (`relayout()`), so a slider step costs one draw and one fast PNG
encode. Tests drive a widget by setting a control's `.value` and reading the artists
(see `bar_heights`, `state`).
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image as PILImage

from pgcourse import logderiv, soft
from pgcourse.labs import gae_lab
from pgcourse.labs.trust_region import clipped_objective
from pgcourse.util import positive_float

BLUE, RED, GREY, GREEN = "#1f77b4", "#d62728", "#7f7f7f", "#2ca02c"
STYLE = {"description_width": "100px"}  # room for labels such as "learning rate"
CONTROLS_WIDTH = "330px"  # a slider is 300 px wide, its readout included: never squeeze it


class FigureWidget:
    """Base: holds `fig`, the `image` widget showing it, and the controls; `redraw()` re-renders in place."""

    def __init__(self, fig: Figure):
        import ipywidgets as w

        self.fig = fig
        FigureCanvasAgg(fig)  # draw with Agg, whatever the notebook's backend
        self.image = w.Image(format="png", layout=w.Layout(flex="0 1 auto", min_width="0", max_width="100%",
                                                          height="auto", object_fit="contain"))
        self.controls: dict[str, w.Widget] = {}
        self._engine = None  # the figure's layout engine, run on the first draw and after relayout()
        self._relayout = True
        self._dynamic: list = []  # artists update() changes; the rest is drawn once, kept as a background
        self._background = None

    def dynamic(self, *artists) -> None:
        """Declare the artists `update()` changes (bars, lines, titles, ...): a slider step redraws only
        them over a saved background of everything else (blitting). Anything else that changes must
        call `relayout()`."""
        for a in artists:
            self._dynamic.extend(a if isinstance(a, (list, tuple)) or hasattr(a, "patches") else [a])

    def relayout(self) -> None:
        """Recompute the layout at the next redraw (call when tick labels or titles change size)."""
        self._relayout = True

    def render(self) -> bytes:
        """The figure as PNG bytes, drawn now."""
        fig, canvas = self.fig, self.fig.canvas
        drawn = False
        if self._relayout or self._background is None:
            if self._engine is None:
                self._engine = fig.get_layout_engine()
            elif self._engine is not None:
                self._engine.execute(fig)
            canvas.draw()
            drawn = True
            if self._engine is not None:
                fig.set_layout_engine("none")  # later draws keep the positions found here
            self._relayout = False
            if self._dynamic:  # the background: everything but the dynamic artists
                for a in self._dynamic:
                    a.set_animated(True)
                try:
                    canvas.draw()
                    self._background = canvas.copy_from_bbox(fig.bbox)
                finally:
                    for a in self._dynamic:
                        a.set_animated(False)
        if self._dynamic:
            canvas.restore_region(self._background)
            for a in sorted(self._dynamic, key=lambda a: a.get_zorder()):
                fig.draw_artist(a)
        elif not drawn:
            canvas.draw()
        rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
        buf = io.BytesIO()
        PILImage.fromarray(rgb).save(buf, format="png", compress_level=1)
        return buf.getvalue()

    def redraw(self) -> None:
        self.image.value = self.render()

    def _beside(self, controls, title=None):
        """Controls in a column of fixed width, the figure to their right (it may shrink, they may not)."""
        import ipywidgets as w

        column = w.VBox(list(controls), layout=w.Layout(min_width=CONTROLS_WIDTH, flex="0 0 auto"))
        return w.HBox([column, self.image], layout=w.Layout(align_items="flex-start", width="100%"))

    def _above(self, rows):
        """Rows of controls (wrapping when the window is narrow) above the figure."""
        import ipywidgets as w

        boxes = [w.HBox(list(r), layout=w.Layout(flex_flow="row wrap")) for r in rows]
        return w.VBox([*boxes, self.image])

    def _observe_all(self, callback) -> None:
        for c in self.controls.values():
            c.observe(lambda change: callback(), names="value")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def _prob_axes(ax, k: int) -> None:
    ax.set_xticks(range(k), [f"a{i + 1}" for i in range(k)])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("probability pi(a)")


def plot_distribution_update(theta, a: int, G: float, lr: float) -> Figure:
    """Static figure: pi before (blue) and after (red) one step theta += lr * G * grad log pi(a)."""
    fig = Figure(figsize=(5.5, 3.4), layout="constrained")
    ax = fig.add_subplot()
    before = logderiv.softmax(theta)
    after = logderiv.softmax(logderiv.bandit_pg_step(theta, a, G, lr))
    x = np.arange(len(before))
    ax.bar(x - 0.2, before, 0.4, color=BLUE, label="before")
    ax.bar(x + 0.2, after, 0.4, color=RED, label="after")
    _prob_axes(ax, len(before))
    ax.set_title(f"sampled a{a + 1}, G = {G:g}, lr = {lr:g}: pi(a{a + 1}) {before[a]:.2f} -> {after[a]:.2f}")
    ax.legend(loc="upper right")
    return fig


CUSTOM = "(the sliders' logits)"


class DistributionUpdateWidget(FigureWidget):
    """Sliders for the logits, the sampled action, the return G and the learning rate;
    bars of pi before (blue) and after (red) one policy-gradient step."""

    def __init__(self, n_actions: int = 3, theta=None, a: int = 0, G: float = 2.0, lr: float = 0.5):
        import ipywidgets as w

        if not 2 <= int(n_actions) <= 6:
            raise ValueError(f"n_actions must be between 2 and 6, got {n_actions}")
        k = int(n_actions)
        theta = np.zeros(k) if theta is None else np.asarray(theta, dtype=float)
        if theta.shape != (k,):
            raise ValueError(f"theta must have shape ({k},), got {theta.shape}")
        super().__init__(Figure(figsize=(6.5, 3.4), layout="constrained"))
        self.k = k
        for i in range(k):
            self.controls[f"logit{i}"] = w.FloatSlider(style=STYLE, value=float(theta[i]), min=-5, max=5, step=0.1,
                                                       description=f"logit a{i + 1}")
        self.controls["action"] = w.ToggleButtons(style=STYLE, options=[(f"a{i + 1}", i) for i in range(k)], value=int(a),
                                                  description="sampled")
        self.controls["G"] = w.FloatSlider(style=STYLE, value=G, min=-5, max=5, step=0.1, description="G (return)")
        self.controls["lr"] = w.FloatSlider(style=STYLE, value=lr, min=0.01, max=2.0, step=0.01, description="learning rate")
        self.preset_logits = {"uniform": [0.0] * k, "a1 favoured": [2.0] + [0.0] * (k - 1),
                              f"a{k} nearly certain": [0.0] * (k - 1) + [4.0]}
        self.presets = w.Dropdown(style=STYLE, options=[CUSTOM, *self.preset_logits], value=CUSTOM,
                                  description="preset")
        self.presets.observe(lambda ch: self.apply_preset(ch["new"]), names="value")

        ax = self.ax = self.fig.add_subplot()
        x = np.arange(k)
        self.bars_before = ax.bar(x - 0.2, np.zeros(k), 0.4, color=BLUE, label="before")
        self.bars_after = ax.bar(x + 0.2, np.zeros(k), 0.4, color=RED, label="after")
        _prob_axes(ax, k)
        ax.set_ylim(0, 1.3)  # headroom above 1 for the legend: it never covers a bar
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.legend(loc="upper center", ncol=2)
        self.dynamic(self.bars_before, self.bars_after, ax.title)
        self._observe_all(self.update)
        self.widget = self._beside([self.presets, *self.controls.values()])
        self.update()

    def apply_preset(self, name: str | None) -> None:
        logits = self.preset_logits.get(name)
        if logits is None:
            return
        self._suspended = True  # one redraw for the whole preset, not one per slider
        try:
            for i, v in enumerate(logits):
                self.controls[f"logit{i}"].value = v
        finally:
            self._suspended = False
        self.update()

    @property
    def theta(self) -> np.ndarray:
        return np.array([self.controls[f"logit{i}"].value for i in range(self.k)])

    _suspended = False

    def update(self) -> None:
        if self._suspended:
            return
        a, G, lr = self.controls["action"].value, self.controls["G"].value, self.controls["lr"].value
        theta = self.theta
        preset = self.preset_logits.get(self.presets.value)
        if preset is not None and not np.allclose(theta, preset):
            self.presets.value = CUSTOM  # a logit moved off the preset: say so
        before = logderiv.softmax(theta)
        after = logderiv.softmax(logderiv.bandit_pg_step(theta, a, G, lr))
        for bar, h in zip(self.bars_before, before):
            bar.set_height(h)
        for bar, h in zip(self.bars_after, after):
            bar.set_height(h)
        direction = "up" if after[a] > before[a] + 1e-12 else ("down" if after[a] < before[a] - 1e-12 else "unchanged")
        self.ax.set_title(f"pi(a{a + 1}): {before[a]:.3f} -> {after[a]:.3f} ({direction})")
        self.redraw()

    def bar_heights(self) -> dict[str, np.ndarray]:
        """The plotted probabilities: {'before': (K,), 'after': (K,)}."""
        return {"before": np.array([b.get_height() for b in self.bars_before]),
                "after": np.array([b.get_height() for b in self.bars_after])}


class BanditLearningWidget(FigureWidget):
    """Play through repeated sample-and-update on a bandit with known mean rewards.

    Left: pi at the current step. Right: expected reward J(theta_t) against the step, with a marker.
    The whole run is simulated when the learning rate or seed changes; Play scrubs through it.
    """

    def __init__(self, means=(1.0, 2.0, 3.0), steps: int = 300, lr: float = 0.1, seed: int = 0, noise: float = 1.0):
        import ipywidgets as w

        self.means = np.asarray(means, dtype=float)
        if self.means.ndim != 1 or self.means.shape[0] < 2:
            raise ValueError(f"means must list at least two arms' mean rewards, got {means!r}")
        if int(steps) < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        self.steps, self.noise = int(steps), float(noise)
        super().__init__(Figure(figsize=(9, 3.3), layout="constrained"))
        self.controls["step"] = w.IntSlider(style=STYLE, value=0, min=0, max=self.steps, description="step")
        self.controls["lr"] = w.FloatLogSlider(style=STYLE, value=lr, base=10, min=-3, max=0.5, step=0.05,
                                               description="learning rate")
        self.controls["seed"] = w.IntSlider(style=STYLE, value=seed, min=0, max=20, description="seed")
        self.play = w.Play(value=0, min=0, max=self.steps, step=2, interval=60, description="play")
        w.jslink((self.play, "value"), (self.controls["step"], "value"))

        k = self.means.shape[0]
        self.ax_pi, self.ax_j = self.fig.subplots(1, 2)
        self.bars = self.ax_pi.bar(np.arange(k), np.zeros(k), color=BLUE)
        _prob_axes(self.ax_pi, k)
        self.ax_pi.set_xticks(range(k), [f"a{i + 1}\nmean {m:g}" for i, m in enumerate(self.means)])
        (self.curve,) = self.ax_j.plot([], [], color=BLUE, label="J(theta) = sum pi(a) mean(a)")
        (self.marker,) = self.ax_j.plot([], [], "o", color=RED)
        self.ax_j.axhline(self.means.max(), color=GREY, ls="--", label="best arm")
        self.ax_j.set_xlim(0, self.steps)
        lo, hi = self.means.min(), self.means.max()
        pad = 0.05 * (hi - lo) + 1e-9
        self.ax_j.set_ylim(lo - pad, hi + pad)
        self.ax_j.set_xlabel("update step")
        self.ax_j.set_ylabel("expected reward")
        self.ax_j.legend(loc="lower right")
        self.dynamic(self.bars, self.curve, self.marker, self.ax_pi.title, self.ax_j.title, self.ax_j.get_legend())
        self.controls["lr"].observe(lambda ch: self.simulate(), names="value")
        self.controls["seed"].observe(lambda ch: self.simulate(), names="value")
        self.controls["step"].observe(lambda ch: self.show_step(), names="value")
        self.widget = self._above([[self.play, self.controls["step"]], [self.controls["lr"], self.controls["seed"]]])
        self.simulate()

    def simulate(self) -> None:
        self.trajectory = logderiv.simulate_bandit_learning(
            self.means, self.controls["lr"].value, self.steps, self.controls["seed"].value, self.noise)
        self.show_step()

    def show_step(self) -> None:
        t = self.controls["step"].value
        traj = self.trajectory
        for bar, h in zip(self.bars, traj["pi"][t]):
            bar.set_height(h)
        self.curve.set_data(np.arange(t + 1), traj["expected"][: t + 1])
        self.marker.set_data([t], [traj["expected"][t]])
        self.ax_pi.set_title(f"policy after {t} updates")
        self.ax_j.set_title(f"J = {traj['expected'][t]:.2f} (best {self.means.max():g})")
        self.redraw()

    def bar_heights(self) -> np.ndarray:
        """The plotted probabilities at the current step, shape (K,)."""
        return np.array([b.get_height() for b in self.bars])


class AdvantageWidget(FigureWidget):
    """Lesson 3: one state's Q(s, a) per action against V(s) = sum_a pi(a|s) Q(s, a).

    Left: Q bars, green above the V line (positive advantage), red below. Right: the exact
    policy gradient on each logit, pi(a) * (Q(a) - V), i.e. which actions an update pushes up or down.
    Sliders set the policy's logits; V moves with them.
    """

    def __init__(self, q_values=(1.0, 3.0, 2.0), theta=None):
        import ipywidgets as w

        self.q = np.asarray(q_values, dtype=float)
        if self.q.ndim != 1 or not 2 <= self.q.shape[0] <= 6 or not np.all(np.isfinite(self.q)):
            raise ValueError(f"q_values must list 2 to 6 finite action values, got {q_values!r}")
        k = self.k = self.q.shape[0]
        theta = np.zeros(k) if theta is None else np.asarray(theta, dtype=float)
        if theta.shape != (k,):
            raise ValueError(f"theta must have shape ({k},), got {theta.shape}")
        super().__init__(Figure(figsize=(9, 3.3), layout="constrained"))
        for i in range(k):
            self.controls[f"logit{i}"] = w.FloatSlider(style=STYLE, value=float(theta[i]), min=-5, max=5, step=0.1,
                                                       description=f"logit a{i + 1}")
        self.ax_q, self.ax_g = self.fig.subplots(1, 2)
        x = np.arange(k)
        self.q_bars = self.ax_q.bar(x, self.q, color=GREY)
        self.v_line = self.ax_q.axhline(0.0, color="black", ls="--", label="V(s) = sum pi(a) Q(s,a)")
        lo, hi = min(0.0, self.q.min()), max(0.0, self.q.max())
        pad = 0.15 * (hi - lo) + 1e-9
        self.ax_q.set_ylim(lo - pad, hi + pad)
        self.ax_q.set_xticks(x, [f"a{i + 1}" for i in range(k)])
        self.ax_q.set_ylabel("Q(s, a)")
        self.ax_q.legend(loc="upper left", fontsize=8)
        self.grad_bars = self.ax_g.bar(x, np.zeros(k), color=GREY)
        zero = self.ax_g.axhline(0.0, color="black", lw=0.8)
        span = (self.q.max() - self.q.min()) / 2 + 1e-9
        self.ax_g.set_ylim(-span, span)  # |pi(a) (Q(a) - V)| <= (max Q - min Q) / 2... bounded by the Q range
        self.ax_g.set_xticks(x, [f"a{i + 1}" for i in range(k)])
        self.ax_g.set_ylabel("pi(a) * (Q(s,a) - V(s))")
        self.dynamic(self.q_bars, self.v_line, self.grad_bars, zero, self.ax_q.title, self.ax_g.title,
                     self.ax_q.get_legend())
        self._observe_all(self.update)
        self.widget = self._above([self.controls.values()])
        self.update()

    @property
    def theta(self) -> np.ndarray:
        return np.array([self.controls[f"logit{i}"].value for i in range(self.k)])

    def update(self) -> None:
        pi = logderiv.softmax(self.theta)
        v = float(pi @ self.q)
        adv = self.q - v
        grad = pi * adv
        self.v_line.set_ydata([v, v])
        for bar, a in zip(self.q_bars, adv):
            bar.set_color(GREEN if a > 0 else (RED if a < 0 else GREY))
        for bar, g in zip(self.grad_bars, grad):
            bar.set_height(g)
            bar.set_color(GREEN if g > 0 else (RED if g < 0 else GREY))
        probs = ", ".join(f"{p:.2f}" for p in pi)
        self.ax_q.set_title(f"pi = ({probs}), V(s) = {v:.2f}")
        self.ax_g.set_title(f"gradient on each logit (largest |push| {np.abs(grad).max():.2g})")
        self.redraw()

    def state(self) -> dict[str, np.ndarray | float]:
        """What is plotted: {'pi': (K,), 'V': float, 'adv': (K,), 'grad': (K,), 'colors': list}."""
        pi = logderiv.softmax(self.theta)
        return {"pi": pi, "V": float(self.v_line.get_ydata()[0]), "adv": self.q - float(self.v_line.get_ydata()[0]),
                "grad": np.array([b.get_height() for b in self.grad_bars]),
                "colors": [b.get_facecolor() for b in self.q_bars]}


class GAELambdaWidget(FigureWidget):
    """Lesson 4: bias^2, variance and their sum (MSE) of GAE(lambda) advantages on the random-walk chain,
    measured over many rollouts for a grid of lambdas; the slider moves a marker along the curves.
    Right: the average estimated advantage of 'right' in each state vs its target, at the chosen lambda."""

    CRITIC_ERRORS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)  # 1: knows only the average; 2: backwards

    def __init__(self, critic_error: float = 1.0, n_episodes: int = 3000, seed: int = 0):
        import ipywidgets as w

        if float(critic_error) not in self.CRITIC_ERRORS:
            raise ValueError(f"critic_error must be one of {self.CRITIC_ERRORS}, got {critic_error}")
        self.chain = gae_lab.Chain()
        self.lams = np.round(np.linspace(0, 1, 21), 2)
        self.n_episodes, self.seed = int(n_episodes), int(seed)
        # Every slider position measured once, here: moving a slider only looks a result up.
        self.results = {e: gae_lab.gae_bias_variance(self.chain, self.lams, e, self.n_episodes, self.seed)
                        for e in self.CRITIC_ERRORS}
        super().__init__(Figure(figsize=(9.5, 3.4), layout="constrained"))
        self.controls["lam"] = w.SelectionSlider(style=STYLE, options=list(self.lams), value=0.95, description="lambda")
        self.controls["critic_error"] = w.SelectionSlider(style=STYLE, options=list(self.CRITIC_ERRORS),
                                                          value=float(critic_error), description="critic error")
        self.ax_c, self.ax_a = self.fig.subplots(1, 2)
        (self.l_bias,) = self.ax_c.plot([], [], color=BLUE, label="bias²")
        (self.l_var,) = self.ax_c.plot([], [], color=RED, label="variance")
        (self.l_mse,) = self.ax_c.plot([], [], color="black", lw=2, label="bias² + variance")
        (self.marker,) = self.ax_c.plot([], [], "o", color="black")
        self.ax_c.set_xlabel("lambda")
        self.ax_c.set_ylabel("per-step error of the advantage")
        self.ax_c.set_xlim(0, 1)
        self.ax_c.legend(loc="upper center", fontsize=8)
        S = self.chain.n_states
        self.est_bars = self.ax_a.bar(np.arange(S) - 0.2, np.zeros(S), 0.4, color=BLUE, label="mean GAE estimate")
        self.tgt_bars = self.ax_a.bar(np.arange(S) + 0.2, np.zeros(S), 0.4, color=GREY, label="target Q - V_hat")
        zero = self.ax_a.axhline(0, color="black", lw=0.8)
        self.ax_a.set_xticks(range(S), [f"s{i}" for i in range(S)])
        self.ax_a.set_ylabel("advantage of 'right'")
        self.ax_a.legend(loc="lower left", fontsize=8)
        # Limits that hold every precomputed critic error: moving either slider redraws only the data.
        top = max(max(r["mse"].max() for r in self.results.values()), 1e-9)
        self.ax_c.set_ylim(0, 1.1 * top)
        lim = max(max(np.abs(r["mean_adv"][:, :, 1]).max(), np.abs(r["target"][:, 1]).max())
                  for r in self.results.values()) * 1.15
        self.ax_a.set_ylim(-max(lim, 1e-9), max(lim, 1e-9))
        self.dynamic(self.l_bias, self.l_var, self.l_mse, self.marker, self.est_bars, self.tgt_bars, zero,
                     self.ax_c.title, self.ax_c.get_legend(), self.ax_a.get_legend())
        self.controls["critic_error"].observe(lambda ch: self.measure(), names="value")
        self.controls["lam"].observe(lambda ch: self.show(), names="value")
        self.widget = self._above([[self.controls["lam"], self.controls["critic_error"]]])
        self.measure()

    def measure(self) -> None:
        """Show the (precomputed) measurement for the slider's critic error."""
        self.result = self.results[float(self.controls["critic_error"].value)]
        r = self.result
        self.l_bias.set_data(r["lams"], r["bias2"])
        self.l_var.set_data(r["lams"], r["var"])
        self.l_mse.set_data(r["lams"], r["mse"])
        self.show()

    def show(self) -> None:
        r = self.result
        i = int(np.argmin(np.abs(r["lams"] - self.controls["lam"].value)))
        self.marker.set_data([r["lams"][i]], [r["mse"][i]])
        best = r["lams"][int(np.argmin(r["mse"]))]
        self.ax_c.set_title(f"lambda = {r['lams'][i]:.2f}: bias² {r['bias2'][i]:.4f}, var {r['var'][i]:.4f} "
                            f"(best {best:.2f})", fontsize=9)
        for bar, h in zip(self.est_bars, r["mean_adv"][i][:, 1]):
            bar.set_height(h)
        for bar, h in zip(self.tgt_bars, r["target"][:, 1]):
            bar.set_height(h)
        self.redraw()

    def marker_position(self) -> tuple[float, float]:
        """(lambda, bias² + variance) where the marker is drawn."""
        x, y = self.marker.get_data()
        return float(x[0]), float(y[0])


class ClippedObjectiveWidget(FigureWidget):
    """Lesson 5: L_CPI = r A and L_CLIP = min(r A, clip(r, 1-eps, 1+eps) A) against the ratio r, with the
    clip range shaded and the zero-gradient region marked; below, d/dr of each."""

    def __init__(self, eps: float = 0.2, adv: float = 1.0, r_max: float = 2.5):
        import ipywidgets as w

        super().__init__(Figure(figsize=(6.4, 4.6), layout="constrained"))
        self.r = np.linspace(0.0, float(r_max), 501)
        self.controls["eps"] = w.FloatSlider(style=STYLE, value=eps, min=0.01, max=0.5, step=0.01, description="epsilon")
        self.controls["adv"] = w.FloatSlider(style=STYLE, value=adv, min=-2.0, max=2.0, step=0.1, description="advantage A")
        self.ax_l, self.ax_d = self.fig.subplots(2, 1, sharex=True)
        (self.l_cpi,) = self.ax_l.plot(self.r, self.r, color=GREY, ls="--", label="L_CPI = r A")
        (self.l_clip,) = self.ax_l.plot(self.r, self.r, color=BLUE, lw=2.5, label="L_CLIP")
        (self.d_cpi,) = self.ax_d.plot(self.r, self.r, color=GREY, ls="--", label="dL_CPI/dr")
        (self.d_clip,) = self.ax_d.plot(self.r, self.r, color=BLUE, lw=2.5, label="dL_CLIP/dr")
        # The clip range (shaded) and the zero-gradient range (hatched): made once, moved by update().
        self.clip_span = self.ax_l.axvspan(0.8, 1.2, color=BLUE, alpha=0.12, label="clip range 1 ± eps")
        self.zero_spans = [ax.axvspan(0, 1, facecolor="none", edgecolor=RED, hatch="//", lw=0,
                                      label="dL_CLIP/dr = 0") for ax in (self.ax_l, self.ax_d)]
        self.ax_l.axvline(1.0, color="black", lw=0.6)
        self.ax_d.axvline(1.0, color="black", lw=0.6)
        self.ax_l.set_ylabel("objective (per sample)")
        self.ax_d.set_ylabel("gradient in r")
        self.ax_d.set_xlabel("probability ratio r = pi_new / pi_old")
        # Beside the axes, never over the hatched side (left when A < 0, right when A > 0).
        self.ax_l.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        self.ax_d.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        self.dynamic(self.l_cpi, self.l_clip, self.d_cpi, self.d_clip, self.clip_span, *self.zero_spans,
                     self.ax_l.title)
        # Fixed limits (the largest |A| the slider allows): the curves' slopes compare across A, and the
        # tick labels never change, so no slider step needs a new layout.
        a_max = max(abs(self.controls["adv"].min), abs(self.controls["adv"].max))
        self.ax_l.set_ylim(-1.05 * a_max * self.r.max(), 1.05 * a_max * self.r.max())
        self.ax_d.set_ylim(-1.1 * a_max, 1.1 * a_max)
        self._observe_all(self.update)
        self.widget = self._beside(self.controls.values())
        self.update()

    def update(self) -> None:
        eps, adv = self.controls["eps"].value, self.controls["adv"].value
        f = clipped_objective(self.r, adv, eps)
        self.curves = f
        self.l_cpi.set_ydata(f["cpi"])
        self.l_clip.set_ydata(f["clip"])
        self.d_cpi.set_ydata(f["d_cpi"])
        self.d_clip.set_ydata(f["d_clip"])
        self.clip_span.set_x(1 - eps)
        self.clip_span.set_width(2 * eps)
        zero = (f["d_clip"] == 0) & (adv != 0)
        for span in self.zero_spans:
            span.set_visible(bool(zero.any()))
            if zero.any():
                lo, hi = self.r[zero].min(), self.r[zero].max()
                span.set_x(lo)
                span.set_width(hi - lo)
        if adv > 0:
            what = "zero gradient (hatched) where r > 1 + eps"
        elif adv < 0:
            what = "zero gradient (hatched) where r < 1 - eps"
        else:
            what = "the objective is flat, no gradient anywhere"
        self.ax_l.set_title(f"eps = {eps:.2f}, A = {adv:+.1f}: {what}", fontsize=9)
        self.redraw()

    def zero_gradient_interval(self) -> tuple[float, float] | None:
        """The hatched range of r where dL_CLIP/dr = 0 (None when A = 0 or nothing is clipped)."""
        adv = self.controls["adv"].value
        zero = (self.curves["d_clip"] == 0) & (adv != 0)
        return (float(self.r[zero].min()), float(self.r[zero].max())) if zero.any() else None


class SoftPolicyWidget(FigureWidget):
    """Lesson 6: the maximum-entropy policy pi(a) proportional to exp(Q(a) / alpha) for fixed action values Q.

    Left: Q(a) per action. Right: pi(a) at the temperature alpha (log slider), with the policy's entropy
    and expected Q in the title. Small alpha: greedy on Q; large alpha: uniform; in between, the policy
    gives up a little expected Q for a lot of entropy. `Play` sweeps alpha from cold to hot.
    """

    def __init__(self, q_values=(1.0, 2.0, 2.5, 0.5), alpha: float = 0.5):
        import ipywidgets as w


        self.q = np.asarray(q_values, dtype=float)
        if self.q.ndim != 1 or not 2 <= self.q.shape[0] <= 8 or not np.all(np.isfinite(self.q)):
            raise ValueError(f"q_values must list 2 to 8 finite action values, got {q_values!r}")
        alpha = positive_float(alpha, "alpha")
        if not 0.01 <= alpha <= 100:
            raise ValueError(f"alpha must be in [0.01, 100] (the slider's range), got {alpha}")
        k = self.k = self.q.shape[0]
        super().__init__(Figure(figsize=(9, 3.2), layout="constrained"))
        self.controls["log10_alpha"] = w.FloatSlider(style=STYLE, value=float(np.log10(alpha)), min=-2, max=2,
                                                     step=0.05, description="log10 alpha")
        self.play = w.Play(value=0, min=0, max=80, step=1, interval=120, description="sweep alpha")
        self.play.observe(lambda ch: setattr(self.controls["log10_alpha"], "value", -2 + 0.05 * ch["new"]),
                          names="value")
        self.ax_q, self.ax_p = self.fig.subplots(1, 2)
        x = np.arange(k)
        self.ax_q.bar(x, self.q, color=GREY)
        self.ax_q.set_xticks(x, [f"a{i + 1}" for i in range(k)])
        self.ax_q.set_ylabel("Q(s, a)")
        self.ax_q.axhline(0.0, color="black", lw=0.8)
        self.p_bars = self.ax_p.bar(x, np.zeros(k), color=BLUE)
        self.ax_p.axhline(1.0 / k, color=GREY, ls=":", label="uniform")
        self.ax_p.legend(loc="upper left", fontsize=8)
        self.dynamic(self.p_bars, self.ax_p.title, self.ax_q.title, self.ax_p.get_legend())
        _prob_axes(self.ax_p, k)
        self._observe_all(self.update)
        self.widget = self._above([[self.play, self.controls["log10_alpha"]]])
        self.update()

    @property
    def alpha(self) -> float:
        return float(10.0 ** self.controls["log10_alpha"].value)

    def update(self) -> None:

        pi = soft.soft_policy(self.q, self.alpha)
        for bar, p in zip(self.p_bars, pi):
            bar.set_height(p)
        h, eq = float(soft.entropy(pi)), float(pi @ self.q)
        self.ax_p.set_title(f"alpha = {self.alpha:.3g}\nentropy H = {h:.2f} nats (max {np.log(self.k):.2f}), E[Q] = {eq:.2f}",
                           fontsize=10)
        self.ax_q.set_title(f"action values\nbest: a{int(np.argmax(self.q)) + 1}, max Q = {self.q.max():.2f}", fontsize=10)
        self.redraw()

    def state(self) -> dict[str, np.ndarray | float]:
        """What is plotted: {'alpha', 'pi' (K,), 'entropy', 'expected_q'}."""

        pi = np.array([b.get_height() for b in self.p_bars])
        return {"alpha": self.alpha, "pi": pi, "entropy": float(soft.entropy(pi)), "expected_q": float(pi @ self.q)}
