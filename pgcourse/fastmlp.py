"""A fast path for acting: an MLP's forward pass in NumPy, on views of its torch weights.

Acting runs once per env step on a batch of 8-32 observations, where torch's per-operation overhead
costs more than the arithmetic: measured on A2C's defaults this path takes about a fifth off a whole
training run (the optimizer, by contrast, gains nothing from such tricks: the trainers use torch's).
It gives the same numbers as the torch pass (tests/test_fastmlp.py checks it, also after optimizer
steps); layers other than Linear, Tanh and ReLU, or weights other than float32, use the torch pass.
"""

from __future__ import annotations

import weakref
from typing import Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["forward_numpy"]

# owner module -> ([(param, data_ptr), ...], [(W.T view, b view, activation or None), ...] or None)
_VIEWS: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()


def _relu(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=out)


def _views(owner: nn.Module, modules: Sequence[nn.Module]):
    """NumPy views of the weights of `modules` (cached on `owner`; rebuilt if a weight's storage moved)."""
    current = [p for m in modules if isinstance(m, nn.Linear) for p in (m.weight, m.bias) if p is not None]
    cached = _VIEWS.get(owner)
    if (cached is not None and len(cached[0]) == len(current)
            and all(p is q and p.data_ptr() == ptr for (q, ptr), p in zip(cached[0], current))):
        return cached[1]  # the same parameter objects, their storage unmoved: the views are current
    layers, params = [], []
    for m in modules:
        if isinstance(m, nn.Linear) and m.bias is not None and m.weight.dtype == torch.float32:
            layers.append([m.weight.detach().numpy().T, m.bias.detach().numpy(), None])
            params += [(m.weight, m.weight.data_ptr()), (m.bias, m.bias.data_ptr())]
        elif isinstance(m, (nn.Tanh, nn.ReLU)) and layers and layers[-1][2] is None:
            layers[-1][2] = np.tanh if isinstance(m, nn.Tanh) else _relu
        else:
            layers = None
            break
    _VIEWS[owner] = (params, layers)
    return layers


def forward_numpy(owner: nn.Module, modules: Sequence[nn.Module], x: np.ndarray) -> np.ndarray:
    """`modules` (layers of `owner`, in order) applied to x (B, in_dim) float32 -> (B, out_dim) float32,
    without a graph: in NumPy when every layer has a NumPy twin, else with torch."""
    layers = _views(owner, modules)
    if layers is None:
        with torch.inference_mode():
            out = torch.from_numpy(x)
            for m in modules:
                out = m(out)
            return out.numpy()
    for w_t, b, act in layers:  # x @ W.T + b, then the activation
        x = x @ w_t
        x += b
        if act is not None:
            x = act(x, out=x)
    return x
