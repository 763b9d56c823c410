"""pgcourse.util: validators, seeding, versions, cmp, to_numpy."""

import random

import numpy as np
import pytest
import torch

import pgcourse
from pgcourse.util import (cmp, layer_sizes, nonnegative_float, positive_float, positive_int, seed_everything,
                           show_versions, to_numpy, unit_interval)


# ----------------------------------------------------------------------------- validators
def test_validators_return_the_converted_value():
    assert positive_int(3, "n") == 3 and type(positive_int(np.int64(3), "n")) is int
    assert unit_interval(0, "p") == 0.0 and unit_interval(1, "p") == 1.0 and unit_interval(np.float32(0.5), "p") == 0.5
    assert unit_interval(torch.tensor(0.25), "p") == 0.25 and unit_interval(np.array(0.75), "p") == 0.75
    assert positive_float(1e-8, "lr") == 1e-8 and type(positive_float(2, "lr")) is float
    assert nonnegative_float(0, "c") == 0.0 and nonnegative_float(3.5, "c") == 3.5
    assert layer_sizes(64) == (64,) and layer_sizes([64, 32]) == (64, 32) and layer_sizes(()) == ()
    assert layer_sizes(np.array([8, 8])) == (8, 8)


@pytest.mark.parametrize("validator, bad", [
    (positive_int, [0, -1, 1.5, "3", True, None, 2.0]),
    (unit_interval, [-0.1, 1.1, float("nan"), "0.5", True, None, np.zeros(2), torch.tensor(True)]),
    (positive_float, [0, -1.0, float("inf"), float("nan"), "1", False, [1.0]]),
    (nonnegative_float, [-1e-9, float("inf"), float("nan"), "0", True]),
])
def test_validators_raise_value_error_naming_the_field(validator, bad):
    for value in bad:
        with pytest.raises(ValueError, match="my_field"):
            validator(value, "my_field")


def test_unit_interval_hint_is_in_the_message():
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\] \(a discount factor\), got 1.5"):
        unit_interval(1.5, "gamma", "a discount factor")


@pytest.mark.parametrize("bad", [0, (64, 0), (64, -1), (1.5,), ("64",), (True,), "64"])
def test_layer_sizes_rejects_non_widths(bad):
    with pytest.raises(ValueError, match="hidden"):
        layer_sizes(bad)


# ----------------------------------------------------------------------------- seeding and versions
def test_seed_everything_is_reproducible():
    def draws(seed):
        rng = seed_everything(seed)
        return random.random(), np.random.rand(), torch.rand(1).item(), rng.random()

    a, b, c = draws(7), draws(7), draws(8)
    assert a == b and a != c
    assert isinstance(seed_everything(0), np.random.Generator)
    assert pgcourse.seed_everything is seed_everything  # the package root re-exports it


@pytest.mark.parametrize("bad, msg", [(-1, "seed"), (2**32, "seed"), ("0", "int"), (1.0, "int"), (True, "int")])
def test_seed_everything_rejects_bad_seeds(bad, msg):
    with pytest.raises(ValueError, match=msg):
        seed_everything(bad)


def test_show_versions(capsys):
    v = show_versions()
    out = capsys.readouterr().out
    assert v["pgcourse"] == pgcourse.__version__ and v["torch"] == torch.__version__ and "python" in v
    for name, version in v.items():
        assert name in out and version in out
    assert show_versions(("no_such_package_xyz",))["no_such_package_xyz"] == "not installed"


# ----------------------------------------------------------------------------- cmp and to_numpy
def test_cmp_returns_whether_they_agree_and_prints_the_verdict(capsys):
    assert cmp("same", np.array([1.0, 2.0]), torch.tensor([1.0, 2.0], dtype=torch.float64)) is True
    assert "bit for bit" in capsys.readouterr().out
    assert cmp("close", np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-8])) is True
    out = capsys.readouterr().out
    assert "agree" in out and "bit for bit" not in out and "DIFFER" not in out
    assert cmp("far", 1.0, 1.1) is False
    out = capsys.readouterr().out
    assert "far" in out and "DIFFER" in out and "1.00e-01" in out
    assert cmp("rtol", 1000.0, 1000.001, atol=0, rtol=1e-5) is True
    assert cmp("atol", 0.0, 1e-3, atol=1e-2) is True


def test_cmp_refuses_different_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        cmp("x", np.zeros(2), np.zeros(3))


def test_to_numpy():
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    out = to_numpy(t * 2)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_array_equal(out, [2.0, 4.0])
    assert to_numpy([1, 2]).dtype == np.float64 and to_numpy(3).shape == ()
    assert to_numpy(np.float32(1.5)).dtype == np.float64
    ragged = [[1, 2], [3]]
    assert to_numpy(ragged) is ragged  # not an array of numbers: unchanged
    assert to_numpy("text") == "text" and to_numpy(None) is None and to_numpy(True) is True
