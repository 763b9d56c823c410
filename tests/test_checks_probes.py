"""pgcourse.checks.probes: a torch function becomes plain numbers (its value and gradients) a check compares."""

import numpy as np
import pytest
import torch

from pgcourse.checks.probes import probe, probed, value_of
from pgcourse.losses import reinforce_loss


def test_probe_returns_the_value_and_every_gradient():
    out = probe(lambda a, b: (a * b ** 2).sum(), np.array([1.0, 2.0]), np.array([3.0, -1.0]), names=("a", "b"))
    assert set(out) == {"loss", "grad_a", "grad_b"}
    assert out["loss"] == pytest.approx(1 * 9 + 2 * 1) and out["loss"].shape == ()
    np.testing.assert_allclose(out["grad_a"], [9.0, 1.0])  # b^2
    np.testing.assert_allclose(out["grad_b"], [6.0, -4.0])  # 2ab


def test_probe_uses_fresh_float64_tensors():
    seen = {}

    def fn(x):
        seen["dtype"], seen["grad"] = x.dtype, x.requires_grad
        return x.sum()

    arr = np.array([1, 2], dtype=np.int64)
    probe(fn, arr, names=("x",))
    assert seen == {"dtype": torch.float64, "grad": True}
    np.testing.assert_array_equal(arr, [1, 2])  # the input array is not touched


def test_a_detached_input_reports_a_zero_gradient():
    out = probe(reinforce_loss, np.array([-1.0, -2.0]), np.array([3.0, 1.0]), names=("logp", "ret"))
    np.testing.assert_allclose(out["grad_logp"], [-1.5, -0.5])
    np.testing.assert_array_equal(out["grad_ret"], [0.0, 0.0])  # detached: no gradient reaches the returns
    leaky = probe(lambda lp, r: -(lp * r).mean(), np.array([-1.0, -2.0]), np.array([3.0, 1.0]), names=("logp", "ret"))
    np.testing.assert_allclose(leaky["grad_ret"], [0.5, 1.0])  # the leak a check diagnoses


def test_grad_of_selects_the_inputs_with_gradient():
    out = probe(lambda a, b: (a * b).sum(), np.ones(2), np.full(2, 2.0), names=("a", "b"), grad_of=("a",))
    assert set(out) == {"loss", "grad_a"}
    np.testing.assert_allclose(out["grad_a"], [2.0, 2.0])


def test_output_without_a_graph_has_zero_gradients():
    out = probe(lambda a: a.detach().sum(), np.ones(3), names=("a",))
    np.testing.assert_array_equal(out["grad_a"], np.zeros(3))


def test_non_scalar_outputs():
    # summed=False: a (B,) output is returned as its value only, so the check reports the shape
    out = probe(lambda a: a * 2, np.ones(3), names=("a",))
    assert set(out) == {"loss"} and out["loss"].shape == (3,)
    # summed=True: gradients of output.sum() (per-sample outputs such as log-probs)
    out = probe(lambda a: a ** 2, np.array([1.0, 3.0]), names=("a",), output="logp", summed=True)
    np.testing.assert_allclose(out["logp"], [1.0, 9.0])
    np.testing.assert_allclose(out["grad_a"], [2.0, 6.0])


def test_non_tensor_outputs_pass_through():
    assert probe(lambda a: None, np.ones(2), names=("a",)) is None
    assert probe(lambda a: 1.5, np.ones(2), names=("a",)) == 1.5


def test_probed_wraps_a_function_and_passes_extra_arguments():
    fn = probed(lambda logp, ret, scale: -(logp * ret.detach()).mean() * scale, names=("logp", "ret"), extra=(2.0,))
    out = fn(np.array([-1.0, -1.0]), np.array([1.0, 3.0]))
    assert out["loss"] == pytest.approx(4.0)
    np.testing.assert_allclose(out["grad_logp"], [-1.0, -3.0])
    assert probed(reinforce_loss, names=("logp", "ret")).__name__ == "reinforce_loss"
    assert probed(42) == 42  # not callable: returned unchanged, the check reports it


def test_value_of():
    fn = value_of(lambda a, b: (a - b).sum())
    out = fn(np.array([3.0, 1.0]), np.array([1.0, 0.0]))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and not out.requires_grad
    assert out.item() == 3.0
    assert value_of(lambda a: "x")(np.ones(1)) == "x"
    assert value_of(None) is None
