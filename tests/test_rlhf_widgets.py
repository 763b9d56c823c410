"""Lesson 7's beta widget, driven headlessly at every slider position."""

import itertools

import numpy as np
import pytest

from pgcourse.lm.evaluate import History
from pgcourse.rlhf_widgets import beta_sweep_widget

BETAS = (0.0, 0.5, 1.0, 3.0)
ITERS = list(range(0, 61, 5))


def _runs():
    runs = {}
    for b in BETAS:
        h = History("ppo", {"beta": b})
        for k, it in enumerate(ITERS):
            kl = 0.0 if it == 0 else (50.0 if b == 0 else 2.0 / (1 + b)) * k / len(ITERS)
            h.record(it, {"gold": 0.1 * np.sqrt(kl) - (0.3 * kl if b == 0 else 0.0), "proxy": 0.5 * kl,
                          "kl": kl, "grammatical": 1.0 - min(kl / 50, 1.0), "repeats": 0.0, "length": 3.0,
                          "samples": [f"prompt {j} | beta {b:g} iteration {it} sample {j}" for j in range(3)]})
        runs[b] = h
    return runs


FRONTIER = {"beta": np.array([0.0, 0.3, 0.5, 1.0, 3.0, 10.0]), "kl": np.array([4.8, 3.5, 2.5, 0.7, 0.04, 0.003]),
            "gold": np.array([1.4, 1.3, 1.1, 0.5, 0.1, 0.03])}


def test_every_slider_position_shows_that_run_and_its_optimum():
    runs = _runs()
    w = beta_sweep_widget(runs, FRONTIER)
    assert (w.beta, w.iteration) == (3.0, 60)                    # defaults: the largest beta, the last iteration
    for b, it in itertools.product(BETAS, ITERS):
        w.controls["beta"].value = b
        w.controls["iteration"].value = it
        s = w.state()
        h, k = runs[b], ITERS.index(it)
        assert (s["beta"], s["iteration"]) == (b, it)
        assert s["gold"] == h.evals["gold"][k] and s["kl"] == h.evals["kl"][k]
        assert s["point"] == pytest.approx((np.sqrt(h.evals["kl"][k]), h.evals["gold"][k]))
        i = list(FRONTIER["beta"]).index(b)
        assert s["star"] == pytest.approx((np.sqrt(FRONTIER["kl"][i]), FRONTIER["gold"][i]))
        assert s["samples"] == h.samples[k] and all(x.split(" | ")[0] in s["text"] for x in h.samples[k])
        np.testing.assert_allclose(s["curve_gold"], h.evals["gold"])
        assert all(np.isfinite(v) for v in (s["gold"], s["proxy"], s["kl"], *s["point"], *s["star"]))
        assert f"beta = {b:g}" in w.ax_time.get_title() and w.play.value == k


def test_play_drives_the_iteration_and_the_figure_changes():
    w = beta_sweep_widget(_runs(), FRONTIER, beta=0.0, iteration=0)
    before = w.state()["point"]
    w.play.value = len(ITERS) - 1
    assert w.iteration == 60 and w.state()["point"] != before
    assert "best SFT sample" in w.ax_gao.get_title()
    w.controls["beta"].value = 1.0
    assert "optimum for beta = 1" in w.ax_gao.get_title()


def test_bad_input():
    runs = _runs()
    with pytest.raises(ValueError, match="empty"):
        beta_sweep_widget({}, FRONTIER)
    with pytest.raises(ValueError, match="frontier has no point"):
        beta_sweep_widget(runs, {k: v[1:] for k, v in FRONTIER.items()})
    with pytest.raises(ValueError, match="beta must be one of"):
        beta_sweep_widget(runs, FRONTIER, beta=2.0)
    with pytest.raises(ValueError, match="iteration must be one of"):
        beta_sweep_widget(runs, FRONTIER, iteration=7)
    runs[1.0].iteration[-1] = 59
    with pytest.raises(ValueError, match="same iterations"):
        beta_sweep_widget(runs, FRONTIER)
