"""Probes: turn a student's torch function into plain numbers a check can compare.

A loss is graded on its value AND its gradients (a loss with the right value but a gradient that leaks
into the returns trains the wrong thing), so a probe calls the function on fresh float64 tensors and
returns {output: value, "grad_<input>": gradient, ...}. A gradient that does not reach an input counts
as zeros. Non-callables pass through unchanged, so `run_check` reports them.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch


def probe(fn: Callable, *arrays, names: Sequence[str], grad_of: Sequence[str] | None = None,
          output: str = "loss", summed: bool = False):
    """Call `fn` on float64 tensors made from `arrays` (named by `names`); return its value and gradients.

    grad_of: the inputs created with requires_grad (default: all). output: the key of the value.
    summed=False: the output must be a scalar (otherwise only its value is returned, so the check reports
    the shape); summed=True: gradients of output.sum() (for per-sample outputs such as log-probs (B,)).
    """
    names = list(names)[: len(arrays)]
    grad_of = names if grad_of is None else [n for n in names if n in grad_of]
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=n in grad_of) for n, a in zip(names, arrays)]
    out = fn(*ts)
    if not isinstance(out, torch.Tensor):
        return out  # compared as-is: the check reports the wrong type
    if not summed and out.numel() != 1:
        return {output: out.detach().numpy()}
    with_grad = [t for n, t in zip(names, ts) if n in grad_of]
    total = out.sum() if summed else out.reshape(())
    grads = (torch.autograd.grad(total, with_grad, allow_unused=True) if out.requires_grad
             else [None] * len(with_grad))  # no graph at all: every gradient is zero (and reported as such)
    result = {output: out.detach().numpy() if summed else out.detach().reshape(()).numpy()}
    for n, t, g in zip(grad_of, with_grad, grads):
        result[f"grad_{n}"] = np.zeros(t.shape) if g is None else g.numpy()
    return result


def probed(fn, names: Sequence[str] = ("logp", "ret", "val"), grad_of: Sequence[str] | None = None,
           output: str = "loss", summed: bool = False, extra: tuple = ()):
    """`fn` as a function of NumPy arrays returning `probe(...)`'s dict; `extra` positional arguments
    (e.g. clip_eps) follow the arrays. A non-callable `fn` is returned unchanged."""
    if not callable(fn):
        return fn

    def call(*arrays):
        return probe(lambda *ts: fn(*ts, *extra), *arrays, names=names, grad_of=grad_of, output=output,
                     summed=summed)

    call.__name__ = getattr(fn, "__name__", output)
    return call


def value_of(fn):
    """`fn` as a function of NumPy arrays (as float64 tensors) returning its value without grad
    (for diagnostics such as approx-KL). A non-callable `fn` is returned unchanged."""
    if not callable(fn):
        return fn

    def call(*arrays):
        out = fn(*(torch.tensor(a, dtype=torch.float64) for a in arrays))
        return out.detach() if isinstance(out, torch.Tensor) else out

    call.__name__ = getattr(fn, "__name__", "value")
    return call
