"""pgcourse.plots: the moving average and the learning-curve figure's data."""

import matplotlib.pyplot as plt  # the Agg backend: set by the repository's conftest.py
import numpy as np
import pytest

from pgcourse.plots import moving_average, plot_learning_curve


def test_moving_average():
    np.testing.assert_allclose(moving_average([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(moving_average([5.0], 100), [5.0])
    x = np.random.default_rng(0).normal(size=50)
    np.testing.assert_allclose(moving_average(x, 7)[6:], np.convolve(x, np.ones(7) / 7, mode="valid"))
    with pytest.raises(ValueError, match="window"):
        moving_average([1, 2], 0)
    with pytest.raises(ValueError, match="1-D"):
        moving_average(np.zeros((2, 2)), 2)


def test_plot_learning_curve_data():
    ret = np.random.default_rng(0).integers(10, 200, size=60).astype(float)
    fig = plot_learning_curve(ret, window=20, threshold=475)
    ax = fig.axes[0]
    raw, smooth = ax.lines[0], ax.lines[1]
    np.testing.assert_allclose(raw.get_ydata(), ret)
    np.testing.assert_allclose(raw.get_xdata(), np.arange(1, 61))
    np.testing.assert_allclose(smooth.get_ydata(), moving_average(ret, 20))
    assert ax.lines[2].get_ydata()[0] == 475 and ax.get_xlabel() == "episode"
    steps = np.cumsum(ret)
    fig_x = plot_learning_curve(ret, x=steps, xlabel="env steps", title=None)
    np.testing.assert_allclose(fig_x.axes[0].lines[0].get_xdata(), steps)
    assert fig_x.axes[0].get_xlabel() == "env steps" and fig_x.axes[0].get_title() == ""
    fig2 = plot_learning_curve({"a": [1, 2, 3], "b": [3, 2, 1]}, window=2)
    assert len(fig2.axes[0].lines) == 4
    _, ax3 = plt.subplots()
    assert plot_learning_curve([1.0, 2.0], ax=ax3) is ax3.figure
    plt.close("all")


@pytest.mark.parametrize("kwargs, msg", [
    ({"ep_ret": {}}, "empty"),
    ({"ep_ret": []}, "non-empty"),
    ({"ep_ret": [1.0, 2.0], "x": [1.0]}, "same length"),
])
def test_bad_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        plot_learning_curve(**kwargs)
    plt.close("all")
