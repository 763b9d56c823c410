"""Widgets driven headlessly: set a control's value, read the plotted data."""

import itertools

import numpy as np
import pytest

from pgcourse import logderiv
from pgcourse.widgets import bandit_learning_widget, distribution_update_widget, plot_distribution_update


def test_distribution_update_bars_follow_the_sliders():
    w = distribution_update_widget(n_actions=2)
    c = w.controls
    c["logit0"].value, c["logit1"].value, c["action"].value, c["G"].value, c["lr"].value = 0, 0, 0, 2.0, 0.1
    h = w.bar_heights()
    np.testing.assert_allclose(h["before"], [0.5, 0.5])
    np.testing.assert_allclose(h["after"][0], 1 / (1 + np.exp(-0.2)))
    c["G"].value = -2.0
    assert w.bar_heights()["after"][0] < 0.5
    assert "down" in w.ax.get_title()


def test_distribution_update_is_finite_at_every_extreme():
    w = distribution_update_widget(n_actions=3)
    c = w.controls
    for logit, G, lr, a in itertools.product([-5, 5], [-5, 0, 5], [0.01, 2.0], [0, 2]):
        c["logit0"].value, c["logit2"].value, c["G"].value, c["lr"].value, c["action"].value = logit, -logit, G, lr, a
        h = w.bar_heights()
        assert np.all(np.isfinite(h["after"])) and h["after"].sum() == pytest.approx(1.0)
        expected = logderiv.softmax(logderiv.bandit_pg_step(w.theta, a, G, lr))
        np.testing.assert_allclose(h["after"], expected)


def test_preset_sets_the_logits():
    w = distribution_update_widget(n_actions=3)
    w.presets.value = "a3 nearly certain"
    assert w.bar_heights()["before"][2] > 0.9


def test_bandit_widget_play_scrubs_the_simulated_run():
    w = bandit_learning_widget(steps=100, lr=0.2, seed=1)
    np.testing.assert_allclose(w.bar_heights(), [1 / 3] * 3)
    w.controls["step"].value = 100
    np.testing.assert_allclose(w.bar_heights(), w.trajectory["pi"][100])
    assert w.marker.get_xdata()[0] == 100 and len(w.curve.get_xdata()) == 101
    before = w.bar_heights()
    w.controls["seed"].value = 7
    assert not np.allclose(before, w.bar_heights())


@pytest.mark.parametrize("lr", [1e-3, 10**0.5])
def test_bandit_widget_finite_at_lr_extremes(lr):
    w = bandit_learning_widget(steps=300)
    w.controls["lr"].value = lr
    w.controls["step"].value = 300
    assert np.all(np.isfinite(w.trajectory["pi"])) and np.all(np.isfinite(w.trajectory["expected"]))


def test_static_figure_has_two_bar_groups():
    fig = plot_distribution_update(np.zeros(2), 0, 2.0, 0.1)
    bars = fig.axes[0].patches
    assert len(bars) == 4 and "0.50 -> 0.55" in fig.axes[0].get_title()


def test_widget_arguments_are_validated():
    with pytest.raises(ValueError, match="n_actions"):
        distribution_update_widget(n_actions=1)
    with pytest.raises(ValueError, match="means"):
        bandit_learning_widget(means=(1.0,))


def test_advantage_widget_colours_and_gradient_follow_the_policy():
    from pgcourse.widgets import GREEN, RED, advantage_widget
    from matplotlib.colors import to_rgba

    w = advantage_widget(q_values=(1.0, 3.0, 2.0))
    s = w.state()
    assert s["V"] == pytest.approx(2.0)
    assert s["colors"][0] == to_rgba(RED) and s["colors"][1] == to_rgba(GREEN)
    np.testing.assert_allclose(s["grad"], [-1 / 3, 1 / 3, 0.0], atol=1e-12)
    w.controls["logit1"].value = 5.0          # nearly always the best action: V rises toward 3
    s = w.state()
    assert s["V"] > 2.9 and s["colors"][2] == to_rgba(RED)   # a3 is now below average
    assert s["grad"].sum() == pytest.approx(0.0, abs=1e-12)  # softmax gradients sum to zero
    for v in (-5.0, 5.0):
        for i in range(3):
            w.controls[f"logit{i}"].value = v if i == 0 else -v
            assert np.all(np.isfinite(w.state()["grad"]))
