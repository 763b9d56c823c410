"""Adam and RMSprop for small networks, on one flat buffer (lessons 4-5).

PPO takes over a thousand gradient steps per run on a network of ~9k weights. At that size
`torch.optim.Adam`'s per-call bookkeeping (grouping tensors, hooks, one kernel per group)
costs more than the arithmetic. `FlatOptimizer` moves every parameter (and its gradient)
into one contiguous buffer, leaving each `nn.Parameter` a view into it, so a step is a
handful of whole-buffer operations. The update is exactly torch's (tests compare them):

    Adam:    m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
             p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)
    RMSprop: v = alpha v + (1 - alpha) g^2
             p -= lr * g / (sqrt(v) + eps)

Use it like any torch optimizer: `opt.zero_grad(); loss.backward(); opt.step()`;
`opt.param_groups[i]["lr"]` can be changed between steps (learning-rate annealing), and
`torch.nn.utils.clip_grad_norm_(agent.parameters(), c)` works as usual
(`opt.clip_grad_norm_(c)` does the same in two operations).
"""

from __future__ import annotations

import math
from typing import Iterable

import torch

__all__ = ["FlatOptimizer"]


class FlatOptimizer:
    """Adam or RMSprop over parameter groups [{"params": [...], "lr": float}, ...], with all weights
    in one flat buffer `flat` (P,) and all gradients in `grad` (P,); each parameter is a view of them.

    kind: "adam" (betas, eps) or "rmsprop" (alpha, eps). No weight decay, momentum or amsgrad.
    """

    def __init__(self, groups: Iterable[dict], kind: str = "adam", betas: tuple[float, float] = (0.9, 0.999),
                 alpha: float = 0.99, eps: float = 1e-8):
        if kind not in ("adam", "rmsprop"):
            raise ValueError(f"kind must be 'adam' or 'rmsprop', got {kind!r}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0 and 0.0 <= alpha < 1.0):
            raise ValueError(f"betas and alpha must be in [0, 1), got betas={betas}, alpha={alpha}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.param_groups = [dict(g, params=list(g["params"])) for g in groups]
        params = [p for g in self.param_groups for p in g["params"]]
        if not params:
            raise ValueError("FlatOptimizer needs at least one parameter")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("a parameter appears in more than one group")
        for g in self.param_groups:
            if not g.get("lr", 0) > 0:
                raise ValueError(f"every group needs an lr > 0, got {g.get('lr')}")
        dtypes = {p.dtype for p in params}
        if len(dtypes) != 1:
            raise ValueError(f"all parameters must share one dtype, got {sorted(map(str, dtypes))}")
        self.kind, self.betas, self.alpha, self.eps = kind, tuple(betas), alpha, eps
        self.flat = torch.cat([p.detach().reshape(-1) for p in params])
        self.grad = torch.zeros_like(self.flat)
        self._params, self._grads, self._spans = params, [], []
        start = 0
        for g in self.param_groups:
            g_start = start
            for p in g["params"]:
                n = p.numel()
                p.data = self.flat[start:start + n].view_as(p)  # the parameter now lives in the buffer
                p.grad = self.grad[start:start + n].view_as(p)  # backward() accumulates into the buffer
                self._grads.append(p.grad)
                start += n
            self._spans.append((g_start, start))
        self.m = torch.zeros_like(self.flat)  # Adam's first moment (unused by RMSprop)
        self.v = torch.zeros_like(self.flat)  # second moment (both)
        self.t = 0

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Zero the gradient buffer (in place: the parameters' .grad stay views of it)."""
        self._reattach()
        self.grad.zero_()

    def _reattach(self) -> None:
        """If something replaced a parameter's .grad (e.g. `module.zero_grad()` set it to None),
        copy it back into the buffer and make .grad a view again."""
        for p, view in zip(self._params, self._grads):
            if p.grad is not view:
                if p.grad is None:
                    view.zero_()
                else:
                    view.copy_(p.grad)
                p.grad = view

    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        """Scale the gradient by min(1, max_norm / ||g||) (||g||: all parameters together); returns ||g||."""
        self._reattach()
        norm = torch.linalg.vector_norm(self.grad)
        self.grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))
        return norm

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter from the gradient buffer, each group with its own lr."""
        self._reattach()
        self.t += 1
        g = self.grad
        if self.kind == "adam":
            b1, b2 = self.betas
            self.m.lerp_(g, 1.0 - b1)
            self.v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
            direction = self.m / self.v.sqrt().div_(math.sqrt(1.0 - b2 ** self.t)).add_(self.eps)
            scale = 1.0 / (1.0 - b1 ** self.t)
        else:
            self.v.mul_(self.alpha).addcmul_(g, g, value=1.0 - self.alpha)
            direction = g / self.v.sqrt().add_(self.eps)
            scale = 1.0
        for grp, (a, b) in zip(self.param_groups, self._spans):
            self.flat[a:b].add_(direction[a:b], alpha=-grp["lr"] * scale)

    def __repr__(self) -> str:
        lrs = ", ".join(f"{g['lr']:.3g}" for g in self.param_groups)
        return f"FlatOptimizer({self.kind}, {self.flat.numel()} weights, lr per group: {lrs})"
