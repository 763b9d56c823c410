"""Plain data across a process boundary, as JSON that cannot execute code when it is read.

The grader sends a submission's inputs to its sandboxed process and reads the answers back with these two
functions. Numbers, strings, None, lists, tuples, dicts, NumPy arrays and scalars, and torch tensors (as
arrays, marked so they come back as tensors) survive the round trip; anything else comes back as an
`Opaque` that only carries its type's name (so a check can say "expected an array, got a Foo"). Arrays
travel as base64 bytes of an allowed dtype (numbers and bools only), and sizes are capped, so reading
never runs code, never unpickles and never allocates more than `MAX_ELEMENTS` numbers per array.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from typing import Any

import numpy as np

MAX_ELEMENTS = 4_000_000          # per array
MAX_DEPTH = 32
MAX_STRING = 10_000
DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128"}


class TooLarge(ValueError):
    """An answer with more than MAX_ELEMENTS numbers in one array."""


class Opaque:
    """An object the sandbox could not send as plain data; only its type's name came back."""

    type_name = "object"

    def __repr__(self) -> str:
        return f"<{self.type_name} (not plain data)>"


_OPAQUE: dict[str, type] = {}


def _opaque(name: str) -> Opaque:
    name = re.sub(r"\W", "_", str(name))[:60] or "object"
    if name not in _OPAQUE:
        _OPAQUE[name] = type(name, (Opaque,), {"type_name": name})
    return _OPAQUE[name]()


def _array(a: np.ndarray, torch: bool = False) -> dict:
    if a.dtype.name not in DTYPES:
        return {"t": "obj", "type": "ndarray of " + a.dtype.name}
    if a.size > MAX_ELEMENTS:
        raise TooLarge(f"an array of {a.size:,} numbers (at most {MAX_ELEMENTS:,} can be sent back)")
    return {"t": "nd", "dtype": a.dtype.name, "shape": list(a.shape), "torch": torch,
            "b64": base64.b64encode(a.tobytes(order="C")).decode("ascii")}


def encode(x: Any, depth: int = 0) -> Any:
    """`x` as JSON-able plain data (see the module docstring)."""
    if depth > MAX_DEPTH:
        return {"t": "obj", "type": "deeply nested object"}
    if x is None:
        return {"t": "none"}
    if isinstance(x, np.ndarray):
        return _array(x)
    if isinstance(x, np.generic):  # before float: np.float64 is a float
        d = _array(np.asarray(x))
        return {**d, "t": "np"} if d["t"] == "nd" else d
    if isinstance(x, bool):
        return {"t": "bool", "v": x}
    if isinstance(x, int):
        return {"t": "int", "v": x} if -2**63 <= x < 2**63 else {"t": "obj", "type": "int"}
    if isinstance(x, float):
        return {"t": "float", "v": x}
    if isinstance(x, str):
        return {"t": "str", "v": x[:MAX_STRING]}
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        if t.dtype == torch.bfloat16:
            t = t.float()
        try:
            return _array(t.numpy(), torch=True)
        except (TypeError, RuntimeError):
            return {"t": "obj", "type": "Tensor"}
    if isinstance(x, (list, tuple)):
        if len(x) > MAX_ELEMENTS:
            raise TooLarge(f"a {type(x).__name__} of {len(x):,} items")
        return {"t": "list" if isinstance(x, list) else "tuple", "v": [encode(v, depth + 1) for v in x]}
    if isinstance(x, dict):
        return {"t": "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in list(x.items())]}
    return {"t": "obj", "type": type(x).__name__}


def decode(d: Any, depth: int = 0) -> Any:
    """The value `encode` described; raises ValueError on anything malformed."""
    if depth > MAX_DEPTH + 2 or not isinstance(d, dict):
        raise ValueError("malformed plain data")
    t = d.get("t")
    if t == "none":
        return None
    if t in ("bool", "int", "float", "str"):
        v = d.get("v")
        want = {"bool": bool, "int": int, "float": (float, int), "str": str}[t]
        if not isinstance(v, want) or (t == "int" and isinstance(v, bool)):
            raise ValueError(f"malformed {t}")
        return float(v) if t == "float" else v
    if t in ("nd", "np"):
        dtype, shape = d.get("dtype"), d.get("shape")
        if dtype not in DTYPES or not isinstance(shape, list) or len(shape) > 32 or \
                not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
            raise ValueError("malformed array")
        size = int(np.prod(shape, dtype=np.float64)) if shape else 1
        if size > MAX_ELEMENTS:
            raise TooLarge(f"an array of {size:,} numbers")
        raw = base64.b64decode(str(d.get("b64", "")), validate=True)
        if len(raw) != size * np.dtype(dtype).itemsize:
            raise ValueError("malformed array: size does not match its shape")
        a = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        if t == "np":
            return a[()]
        if d.get("torch"):
            import torch

            return torch.from_numpy(a)
        return a
    if t in ("list", "tuple"):
        v = d.get("v")
        if not isinstance(v, list):
            raise ValueError("malformed list")
        items = [decode(x, depth + 1) for x in v]
        return items if t == "list" else tuple(items)
    if t == "dict":
        out = {}
        for pair in d.get("v", []):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise ValueError("malformed dict")
            k = decode(pair[0], depth + 1)
            out[k if isinstance(k, (str, int, float, bool, type(None))) else repr(k)] = decode(pair[1], depth + 1)
        return out
    if t == "obj":
        return _opaque(d.get("type", "object"))
    raise ValueError(f"malformed plain data (tag {t!r})")


def dumps(x: Any) -> str:
    return json.dumps(encode(x), separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    return decode(json.loads(text))
