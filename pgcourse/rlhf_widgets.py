"""The RLHF widget (lesson 7): a PPO beta sweep explored by beta and by training iteration.

`BetaSweepWidget(runs, frontier)`: `runs` maps beta -> `pgcourse.lm.evaluate.History` (evaluated at the same
iterations), `frontier` is `kl_optimal_frontier`'s output (it must contain every beta of `runs`).
Left: proxy and gold reward over training for the chosen beta, the chosen iteration marked. Middle: gold against
sqrt(KL) for every run (faint) and the chosen one, the KL-optimal frontier, and the optimum pi_ref exp(r/beta)/Z
for the chosen beta (a star). Right: the chosen run's samples at that iteration. The figure is redrawn in place;
`state()` returns what is plotted, so a test can drive the sliders and read it.
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.figure import Figure

from pgcourse.widgets import STYLE, FigureWidget

__all__ = ["BetaSweepWidget", "beta_sweep_widget"]

COLORS = {0.0: "#d62728", 0.5: "#ff7f0e", 1.0: "#2ca02c", 3.0: "#1f77b4"}


def _color(beta: float) -> str:
    return COLORS.get(float(beta), "#9467bd")


class BetaSweepWidget(FigureWidget):
    """Sliders 'beta' and 'iteration' (with Play) over a precomputed PPO sweep; see the module docstring."""

    def __init__(self, runs: dict, frontier: dict, beta: float | None = None, iteration: int | None = None):
        import ipywidgets as w

        if not runs:
            raise ValueError("runs is empty: pass {beta: History} from a beta sweep")
        self.betas = sorted(float(b) for b in runs)
        self.runs = {float(b): h for b, h in runs.items()}
        iters = [list(h.iteration) for h in self.runs.values()]
        if any(it != iters[0] for it in iters):
            raise ValueError("every run must be evaluated at the same iterations")
        self.iterations = iters[0]
        fb = [float(b) for b in frontier["beta"]]
        missing = [b for b in self.betas if not any(abs(b - x) < 1e-12 for x in fb)]
        if missing:
            raise ValueError(f"frontier has no point for beta {missing}; compute it for every beta of the sweep")
        self.frontier = {k: np.asarray(frontier[k], dtype=float) for k in ("beta", "kl", "gold")}
        beta = self.betas[-1] if beta is None else float(beta)
        if beta not in self.betas:
            raise ValueError(f"beta must be one of {self.betas}, got {beta}")
        iteration = self.iterations[-1] if iteration is None else int(iteration)
        if iteration not in self.iterations:
            raise ValueError(f"iteration must be one of the evaluated iterations {self.iterations}, got {iteration}")

        super().__init__(Figure(figsize=(12.5, 3.8), layout="constrained"))
        self.controls["beta"] = w.SelectionSlider(options=[(f"{b:g}", b) for b in self.betas], value=beta,
                                                  description="beta", style=STYLE)
        self.controls["iteration"] = w.SelectionSlider(options=[(str(i), i) for i in self.iterations],
                                                       value=iteration, description="iteration", style=STYLE)
        self.play = w.Play(value=self.iterations.index(iteration), min=0, max=len(self.iterations) - 1, step=1,
                           interval=400, description="play through training")
        self.play.observe(lambda ch: setattr(self.controls["iteration"], "value", self.iterations[ch["new"]]),
                          names="value")
        self._build()
        self._observe_all(self.update)
        self.widget = self._above([[self.controls["beta"], self.play, self.controls["iteration"]]])
        self.update()

    # ------------------------------------------------------------------ figure
    def _build(self) -> None:
        ax_t, ax_g, ax_s = self.fig.subplots(1, 3, width_ratios=[1, 1, 1.25])
        self.ax_time, self.ax_gao, self.ax_text = ax_t, ax_g, ax_s
        self.line_proxy, = ax_t.plot([], [], "-", color="#7f7f7f", label="proxy (reward model)")
        self.line_gold, = ax_t.plot([], [], "-", lw=2, label="gold (hidden human)")
        self.vline = ax_t.axvline(0, color="black", lw=0.8, ls=":")
        ax_t.axhline(0, color="black", lw=0.5)
        ax_t.set_xlabel("PPO iteration")
        ax_t.set_ylabel("mean reward, held-out prompts")
        ax_t.set_xlim(self.iterations[0], self.iterations[-1])
        lo = min(min(h.evals["gold"]) for h in self.runs.values())
        hi = max(max(h.evals["proxy"]) for h in self.runs.values())
        ax_t.set_ylim(lo - 0.5, hi + 0.5)
        self.time_legend = ax_t.legend(handles=[self.line_proxy, self.line_gold], loc="upper left", fontsize=8)

        for b, h in self.runs.items():
            ax_g.plot(np.sqrt(np.maximum(h.curve("kl"), 0)), h.curve("gold"), "-", color=_color(b), alpha=0.25, lw=1)
        order = np.argsort(self.frontier["kl"])
        ax_g.plot(np.sqrt(self.frontier["kl"][order]), self.frontier["gold"][order], "k--", lw=1,
                  label="KL-optimal (on SFT samples)")
        self.line_run, = ax_g.plot([], [], "-o", ms=3, lw=1.5)
        self.point, = ax_g.plot([], [], "o", ms=10, mfc="none", mew=2, color="black", label="this iteration")
        self.star, = ax_g.plot([], [], "*", ms=16, color="gold", mec="black", label="optimum for this beta")
        max_kl = max(max(h.evals["kl"]) for h in self.runs.values())
        ax_g.set_xlim(0, np.sqrt(max(max_kl, self.frontier["kl"].max())) * 1.05)
        ax_g.set_ylim(lo - 0.5, max(self.frontier["gold"].max(), max(max(h.evals["gold"]) for h in self.runs.values())) + 0.5)
        ax_g.set_xlabel("sqrt KL(pi || pi_ref)  (sqrt nats)")
        ax_g.set_ylabel("gold reward")
        ax_g.legend(loc="lower left", fontsize=7)

        ax_s.axis("off")
        self.text = ax_s.text(0.0, 1.0, "", va="top", ha="left", family="monospace", fontsize=7.5,
                              transform=ax_s.transAxes)
        self.dynamic(self.line_proxy, self.line_gold, self.vline, self.line_run, self.point, self.star, self.text,
                     ax_t.title, ax_g.title, self.time_legend, ax_g.get_legend())

    def _optimum(self, beta: float) -> tuple[float, float]:
        i = int(np.argmin(np.abs(self.frontier["beta"] - beta)))
        return float(self.frontier["kl"][i]), float(self.frontier["gold"][i])

    @property
    def beta(self) -> float:
        return float(self.controls["beta"].value)

    @property
    def iteration(self) -> int:
        return int(self.controls["iteration"].value)

    def update(self) -> None:
        beta, it = self.beta, self.iteration
        h = self.runs[beta]
        k = h.iteration.index(it)
        if self.play.value != k:
            self.play.value = k
        c = _color(beta)
        x = h.iteration
        self.line_proxy.set_data(x, h.evals["proxy"])
        self.line_gold.set_data(x, h.evals["gold"])
        self.line_gold.set_color(c)
        self.time_legend.legend_handles[1].set_color(c)  # the legend is made once; only its swatch follows beta
        self.vline.set_xdata([it, it])
        sq = np.sqrt(np.maximum(h.curve("kl"), 0))
        self.line_run.set_data(sq[: k + 1], h.curve("gold")[: k + 1])
        self.line_run.set_color(c)
        self.point.set_data([sq[k]], [h.evals["gold"][k]])
        kl_star, gold_star = self._optimum(beta)
        self.star.set_data([np.sqrt(kl_star)], [gold_star])
        g, p, kl, gram = (h.evals[m][k] for m in ("gold", "proxy", "kl", "grammatical"))
        self.ax_time.set_title(f"beta = {beta:g}: at iteration {it} gold {g:+.2f}, proxy {p:+.2f}", fontsize=10)
        which = "best SFT sample (beta -> 0)" if beta == 0 else f"optimum for beta = {beta:g}"
        self.ax_gao.set_title(f"KL {kl:.2f} nats; {which}: KL {kl_star:.2f}, gold {gold_star:+.2f}", fontsize=9)
        lines = [f"beta = {beta:g}, iteration {it}:  {100 * gram:.0f}% grammatical", ""]
        for s in h.samples[k]:
            lines += textwrap.wrap(s, 58, subsequent_indent="    ") + [""]
        self.text.set_text("\n".join(lines))
        self.redraw()

    def state(self) -> dict:
        """What is plotted now: beta, iteration, the run's gold/proxy/kl there, the marker and star positions,
        the samples shown."""
        h = self.runs[self.beta]
        k = h.iteration.index(self.iteration)
        px, py = self.point.get_data()
        sx, sy = self.star.get_data()
        return {"beta": self.beta, "iteration": self.iteration, "gold": h.evals["gold"][k],
                "proxy": h.evals["proxy"][k], "kl": h.evals["kl"][k], "point": (float(px[0]), float(py[0])),
                "star": (float(sx[0]), float(sy[0])), "samples": list(h.samples[k]), "text": self.text.get_text(),
                "curve_gold": np.asarray(self.line_gold.get_ydata(), dtype=float)}

    def static_figure(self) -> Figure:
        """The figure as it stands (for a page read without a kernel)."""
        return self.fig


def beta_sweep_widget(runs: dict, frontier: dict, **kwargs) -> BetaSweepWidget:
    """Lesson 7's beta widget (see `BetaSweepWidget`)."""
    return BetaSweepWidget(runs, frontier, **kwargs)
