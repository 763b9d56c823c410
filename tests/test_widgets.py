"""pgcourse.widgets: each widget driven headlessly (set a control's value, read the plotted data)."""

import itertools

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from pgcourse import logderiv
from pgcourse.labs.trust_region import clipped_objective
from pgcourse.soft import soft_policy
from pgcourse.widgets import (GREEN, RED, AdvantageWidget, BanditLearningWidget, ClippedObjectiveWidget,
                              DistributionUpdateWidget, GAELambdaWidget, SoftPolicyWidget, plot_distribution_update)


def test_distribution_update_bars_follow_the_sliders():
    w = DistributionUpdateWidget(n_actions=2)
    c = w.controls
    c["logit0"].value, c["logit1"].value, c["action"].value, c["G"].value, c["lr"].value = 0, 0, 0, 2.0, 0.1
    h = w.bar_heights()
    np.testing.assert_allclose(h["before"], [0.5, 0.5])
    np.testing.assert_allclose(h["after"][0], 1 / (1 + np.exp(-0.2)))
    c["G"].value = -2.0
    assert w.bar_heights()["after"][0] < 0.5
    assert "down" in w.ax.get_title()


def test_distribution_update_is_finite_at_every_extreme():
    w = DistributionUpdateWidget(n_actions=3)
    c = w.controls
    for logit, G, lr, a in itertools.product([-5, 5], [-5, 0, 5], [0.01, 2.0], [0, 2]):
        c["logit0"].value, c["logit2"].value, c["G"].value, c["lr"].value, c["action"].value = logit, -logit, G, lr, a
        h = w.bar_heights()
        assert np.all(np.isfinite(h["after"])) and h["after"].sum() == pytest.approx(1.0)
        expected = logderiv.softmax(logderiv.bandit_pg_step(w.theta, a, G, lr))
        np.testing.assert_allclose(h["after"], expected)


def test_preset_sets_the_logits():
    w = DistributionUpdateWidget(n_actions=3)
    w.presets.value = "a3 nearly certain"
    assert w.bar_heights()["before"][2] > 0.9


def test_bandit_widget_play_scrubs_the_simulated_run():
    w = BanditLearningWidget(steps=100, lr=0.2, seed=1)
    np.testing.assert_allclose(w.bar_heights(), [1 / 3] * 3)
    w.controls["step"].value = 100
    np.testing.assert_allclose(w.bar_heights(), w.trajectory["pi"][100])
    assert w.marker.get_xdata()[0] == 100 and len(w.curve.get_xdata()) == 101
    before = w.bar_heights()
    w.controls["seed"].value = 7
    assert not np.allclose(before, w.bar_heights())


@pytest.mark.parametrize("lr", [1e-3, 10**0.5])
def test_bandit_widget_finite_at_lr_extremes(lr):
    w = BanditLearningWidget(steps=300)
    w.controls["lr"].value = lr
    w.controls["step"].value = 300
    assert np.all(np.isfinite(w.trajectory["pi"])) and np.all(np.isfinite(w.trajectory["expected"]))


def test_static_figure_has_two_bar_groups():
    fig = plot_distribution_update(np.zeros(2), 0, 2.0, 0.1)
    bars = fig.axes[0].patches
    assert len(bars) == 4 and "0.50 -> 0.55" in fig.axes[0].get_title()


def test_widget_arguments_are_validated():
    with pytest.raises(ValueError, match="n_actions"):
        DistributionUpdateWidget(n_actions=1)
    with pytest.raises(ValueError, match="means"):
        BanditLearningWidget(means=(1.0,))
    with pytest.raises(ValueError, match="steps"):
        BanditLearningWidget(steps=0)
    with pytest.raises(ValueError, match="theta"):
        DistributionUpdateWidget(n_actions=3, theta=[0.0, 1.0])
    with pytest.raises(ValueError, match="q_values"):
        AdvantageWidget(q_values=(1.0,))


def test_advantage_widget_colours_and_gradient_follow_the_policy():
    w = AdvantageWidget(q_values=(1.0, 3.0, 2.0))
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


def test_gae_widget_marker_follows_lambda_and_stays_finite():
    w = GAELambdaWidget(n_episodes=1000)
    for lam in (0.0, 0.5, 1.0):
        w.controls["lam"].value = lam
        x, y = w.marker_position()
        assert x == lam and y == pytest.approx(w.result["mse"][list(w.lams).index(lam)])
    for err in (0.0, 1.0):
        w.controls["critic_error"].value = err
        assert np.all(np.isfinite(w.result["mse"]))
    assert w.result["bias2"][0] > 10 * w.result["bias2"][-1]     # a poor critic biases small lambdas
    w.controls["critic_error"].value = 0.0
    assert w.result["bias2"].max() < 1e-3


def test_clipped_objective_widget_marks_the_zero_gradient_side():
    w = ClippedObjectiveWidget()
    c = w.controls
    c["eps"].value, c["adv"].value = 0.2, 1.0
    lo, hi = w.zero_gradient_interval()
    assert lo == pytest.approx(1.2, abs=0.01) and hi == w.r.max()
    c["adv"].value = -1.0
    lo, hi = w.zero_gradient_interval()
    assert lo == 0.0 and hi == pytest.approx(0.8, abs=0.01)
    np.testing.assert_allclose(w.l_clip.get_ydata(), np.minimum(w.r * -1.0, np.clip(w.r, 0.8, 1.2) * -1.0))
    expected = clipped_objective(w.r, -1.0, 0.2)  # the curves are the laboratory's function
    for k in ("cpi", "clip", "d_cpi", "d_clip"):
        np.testing.assert_allclose(w.curves[k], expected[k])
    c["adv"].value = 0.0
    assert w.zero_gradient_interval() is None and np.all(w.l_clip.get_ydata() == 0)
    for eps in (0.01, 0.5):
        for adv in (-2.0, 2.0):
            c["eps"].value, c["adv"].value = eps, adv
            assert all(np.all(np.isfinite(v)) for v in w.curves.values())


def test_soft_policy_widget_follows_the_temperature_and_stays_finite():
    wdg = SoftPolicyWidget(q_values=(1.0, 2.0, 2.5, 0.5), alpha=0.5)
    s = wdg.state()
    np.testing.assert_allclose(s["pi"], soft_policy(wdg.q, 0.5), atol=1e-12)
    entropies = []
    for v in (-2.0, -1.0, 0.0, 1.0, 2.0):  # every slider position, the extremes included
        wdg.controls["log10_alpha"].value = v
        s = wdg.state()
        assert np.all(np.isfinite(s["pi"])) and s["pi"].sum() == pytest.approx(1.0)
        entropies.append(s["entropy"])
        assert str(round(s["entropy"], 2)) in wdg.ax_p.get_title()
    assert np.all(np.diff(entropies) > 0)
    wdg.controls["log10_alpha"].value = -2.0
    assert wdg.state()["pi"][2] > 0.99  # cold: the best action (a3)
    wdg.play.value = 80  # Play sweeps to the hot end: nearly uniform
    assert wdg.controls["log10_alpha"].value == pytest.approx(2.0)
    np.testing.assert_allclose(wdg.state()["pi"], 0.25, atol=0.01)
    with pytest.raises(ValueError, match="alpha"):
        SoftPolicyWidget(alpha=1000)
    with pytest.raises(ValueError, match="q_values"):
        SoftPolicyWidget(q_values=(1.0,))


def test_preset_starts_selected_and_says_when_the_sliders_leave_it():
    w = DistributionUpdateWidget(n_actions=3)
    assert w.presets.value == w.presets.options[0]  # never an empty dropdown
    w.presets.value = "a1 favoured"
    assert w.theta[0] == 2.0
    w.controls["logit1"].value = 1.0
    assert w.presets.value == w.presets.options[0]


def test_gae_critic_error_default_sits_inside_its_range_and_every_position_is_precomputed():
    w = GAELambdaWidget(n_episodes=500)
    opts = list(w.controls["critic_error"].options)
    assert opts[0] < w.controls["critic_error"].value < opts[-1]
    for e in opts:
        w.controls["critic_error"].value = e
        assert w.result is w.results[e] and np.all(np.isfinite(w.result["mse"]))
    with pytest.raises(ValueError, match="critic_error"):
        GAELambdaWidget(critic_error=0.3)


def test_clip_title_at_zero_advantage_says_the_objective_is_flat():
    w = ClippedObjectiveWidget()
    w.controls["adv"].value = 0.0
    assert "flat, no gradient anywhere" in w.ax_l.get_title() and "where nowhere" not in w.ax_l.get_title()


def test_each_step_sends_a_new_png_and_blitting_matches_a_full_draw():
    from io import BytesIO

    from PIL import Image

    w = AdvantageWidget()
    png0 = bytes(w.image.value)
    w.controls["logit0"].value = 2.0
    png1 = bytes(w.image.value)
    assert png1 != png0 and png1.startswith(b"\x89PNG")
    blitted = np.asarray(Image.open(BytesIO(png1)).convert("RGB"), dtype=int)
    w.relayout()
    w.redraw()  # a full draw of the same state
    full = np.asarray(Image.open(BytesIO(bytes(w.image.value))).convert("RGB"), dtype=int)
    assert blitted.shape == full.shape and np.abs(blitted - full).max() <= 8
