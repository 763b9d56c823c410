"""Plain data round-trips through JSON; reading it never runs code and rejects what is malformed."""

import json
import pickle

import numpy as np
import pytest
import torch

from pgcourse.tools.plaindata import MAX_ELEMENTS, Opaque, TooLarge, decode, dumps, encode, loads


@pytest.mark.parametrize("x", [None, True, 3, -2.5, float("inf"), "text", [1, 2.0], (1, "a"),
                               {"loss": 1.0, "grad_logp": np.arange(3.0)}])
def test_round_trip(x):
    y = loads(dumps(x))
    assert type(y) is type(x)
    assert repr(y) == repr(x)


def test_arrays_scalars_and_tensors_keep_dtype_and_shape():
    for a in [np.zeros((2, 3), np.float32), np.array([True, False]), np.arange(6, dtype=np.int64).reshape(3, 2, 1),
              np.zeros((0, 4))]:
        b = loads(dumps(a))
        assert b.dtype == a.dtype and b.shape == a.shape and np.array_equal(a, b)
    s = loads(dumps(np.float64(1.5)))
    assert isinstance(s, np.float64) and s == 1.5
    t = loads(dumps(torch.tensor([1.0, 2.0], requires_grad=True) * 2))
    assert isinstance(t, torch.Tensor) and t.tolist() == [2.0, 4.0] and not t.requires_grad
    assert np.isnan(loads(dumps(np.array([np.nan])))[0])


def test_other_objects_come_back_as_their_type_name_only():
    class Weird:
        def __reduce__(self):
            raise AssertionError("never pickled")

    y = loads(dumps([Weird(), np.array([object()])]))
    assert isinstance(y[0], Opaque) and type(y[0]).__name__ == "Weird"
    assert type(y[1]).__name__ == "ndarray_of_object"


def test_malformed_or_hostile_input_is_rejected():
    good = encode(np.zeros(3))
    bad = [{"t": "nd", "dtype": "object", "shape": [1], "b64": ""},
           {**good, "shape": [4]},
           {**good, "shape": [10**9, 10**9]},
           {"t": "pickle", "v": pickle.dumps(1).hex()},
           {"t": "int", "v": "3"},
           [1, 2]]
    for d in bad:
        with pytest.raises(ValueError):
            decode(json.loads(json.dumps(d)))


def test_sizes_are_capped():
    with pytest.raises(TooLarge):
        encode(np.zeros(MAX_ELEMENTS + 1, dtype=np.bool_))
