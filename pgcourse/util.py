"""Utilities every other module may use, and that use no other pgcourse module.

- `seed_everything(seed)`: seed Python, NumPy and torch; returns a fresh `np.random.Generator`.
- `show_versions()`: print the versions a lesson runs with (the first cell of every notebook).
- `cmp(label, ours, reference)`: compare a hand-derived quantity with a reference (karpathy's `cmp()`).
- `to_numpy(x)`: torch tensors and array-likes of numbers to float64 arrays (anything else unchanged).
- Argument validators that raise `ValueError` saying what to fix: `positive_int`, `unit_interval`,
  `positive_float`, `nonnegative_float`, `layer_sizes`.
"""

from __future__ import annotations

import importlib
import math
import numbers
import platform
import random
import sys
from typing import Any

import numpy as np

__all__ = ["seed_everything", "show_versions", "cmp", "to_numpy", "positive_int", "unit_interval",
           "positive_float", "nonnegative_float", "layer_sizes"]


# ----------------------------------------------------------------------------- validators
def positive_int(value: Any, name: str) -> int:
    """`value` as an int >= 1, or ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _real(value: Any, name: str, what: str) -> float:
    if isinstance(value, (bool, np.bool_, str, bytes)):
        ok = False
    elif isinstance(value, numbers.Real):
        ok = True
    else:  # 0-d NumPy arrays and torch tensors
        ok = getattr(value, "ndim", None) == 0 and not str(getattr(value, "dtype", "bool")).endswith("bool")
    if not ok:
        raise ValueError(f"{name} must be {what}, got {type(value).__name__}: {value!r}")
    return float(value)


def unit_interval(value: Any, name: str, hint: str = "") -> float:
    """`value` as a float in [0, 1] (NaN rejected), or ValueError naming `name` (and `hint`, e.g. what 0 and 1 mean)."""
    v = _real(value, name, "a real number in [0, 1]")
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be in [0, 1]{f' ({hint})' if hint else ''}, got {v}")
    return v


def positive_float(value: Any, name: str) -> float:
    """`value` as a finite float > 0, or ValueError naming `name`."""
    v = _real(value, name, "a number > 0")
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a finite number > 0, got {v}")
    return v


def nonnegative_float(value: Any, name: str) -> float:
    """`value` as a finite float >= 0, or ValueError naming `name`."""
    v = _real(value, name, "a number >= 0")
    if not (v >= 0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a finite number >= 0, got {v}")
    return v


def layer_sizes(hidden: Any) -> tuple[int, ...]:
    """Hidden-layer widths as a tuple of positive ints: `64` -> (64,), [64, 64] -> (64, 64); () is allowed."""
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
        hidden = (int(hidden),)
    try:
        hidden = tuple(hidden)
    except TypeError:
        hidden = (hidden,)
    if any(isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1 for h in hidden):
        raise ValueError(f"hidden must be a sequence of positive layer widths such as (64,) or (64, 64), got {hidden!r}")
    return tuple(int(h) for h in hidden)


# ----------------------------------------------------------------------------- arrays
def to_numpy(x: Any) -> Any:
    """torch tensors and array-likes of numbers to float64 ndarrays; anything else unchanged."""
    import torch

    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    if isinstance(x, (np.ndarray, np.generic, float, int)) and not isinstance(x, bool):
        return np.asarray(x, dtype=np.float64)
    if isinstance(x, (list, tuple)):
        try:
            return np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            return x
    return x


# ----------------------------------------------------------------------------- seeding and versions
def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python's `random`, NumPy's global state and torch; return a fresh `np.random.Generator`.

    Use the returned generator for NumPy sampling in a lesson (no hidden global state),
    and pass `seed` on to gymnasium's `env.reset(seed=...)`.
    """
    import torch

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int, got {type(seed).__name__}: {seed!r}")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


PACKAGES = ("pgcourse", "numpy", "torch", "gymnasium", "matplotlib", "ipywidgets", "tqdm")


def show_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Print Python's and each package's version; return them as a dict (missing ones as 'not installed')."""
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            mod = importlib.import_module(name)
            versions[name] = getattr(mod, "__version__", "unknown")
        except ImportError:
            versions[name] = "not installed"
    width = max(len(k) for k in versions)
    for k, v in versions.items():
        print(f"{k:<{width}}  {v}")
    if sys.version_info < (3, 11):
        print("warning: the course is tested on Python 3.11 or newer")
    return versions


# ----------------------------------------------------------------------------- cmp
def cmp(label: str, ours, reference, atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    """Print whether `ours` equals `reference` and the largest difference; return True when they agree
    within atol + rtol * |reference| (float rounding: two correct computations rarely agree bit for bit)."""
    a, b = np.asarray(to_numpy(ours), dtype=float), np.asarray(to_numpy(reference), dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"{label}: shapes differ, {a.shape} vs {b.shape}")
    close = bool(np.allclose(a, b, atol=atol, rtol=rtol))
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    verdict = "bit for bit" if np.array_equal(a, b) else ("agree" if close else "DIFFER")
    print(f"{label:<40} {verdict:<11} | max diff: {diff:.2e} (tolerance {atol:g} + {rtol:g} x |ref|)")
    return close
