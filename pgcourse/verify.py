"""Compare a hand-derived quantity with a reference, in the style of karpathy's `cmp()`."""

from __future__ import annotations

import numpy as np

from pgcourse.checks.core import _to_numpy


def cmp(label: str, ours, reference, atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    """Print whether `ours` equals `reference` (exactly, approximately, or not) and the max difference."""
    a, b = np.asarray(_to_numpy(ours), dtype=float), np.asarray(_to_numpy(reference), dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"{label}: shapes differ, {a.shape} vs {b.shape}")
    exact = bool(np.array_equal(a, b))
    close = bool(np.allclose(a, b, atol=atol, rtol=rtol))
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    print(f"{label:<40} exact: {str(exact):<5} | approximate: {str(close):<5} | max diff: {diff:.2e}")
    return close
