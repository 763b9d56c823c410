"""RLHF (lesson 7): the four pieces students write, as tested references.

- `bradley_terry_loss(r_chosen, r_rejected)`: the reward model's loss on preference pairs.
- `kl_penalised_rewards(score, logp, logp_ref, mask, beta)`: PPO-for-language's per-token reward.
- `dpo_loss(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta)`: direct preference optimisation.
- `grpo_advantages(rew, eps)`: GRPO's group-normalised advantage.

Shapes: B pairs or sequences, T token positions, G completions per prompt. Inputs are torch tensors.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from pgcourse.util import nonnegative_float, positive_float

__all__ = ["bradley_terry_loss", "kl_penalised_rewards", "dpo_loss", "grpo_advantages"]


def _vectors(**tensors: torch.Tensor) -> None:
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    first = next(iter(shapes.values()))
    if len(first) != 1 or first[0] == 0 or len(set(shapes.values())) != 1:
        raise ValueError(f"expected non-empty 1-D tensors of one shape (B,), got {shapes}")


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Mean of -log sigmoid(r_chosen - r_rejected) over B pairs; inputs (B,), output a scalar.

    Bradley-Terry: P(chosen beats rejected) = sigmoid(r_chosen - r_rejected); the loss is that probability's
    negative log-likelihood, computed as softplus(-(r_chosen - r_rejected)), which is finite for any margin.
    """
    _vectors(r_chosen=r_chosen, r_rejected=r_rejected)
    return F.softplus(-(r_chosen - r_rejected)).mean()


def kl_penalised_rewards(score: torch.Tensor, logp: torch.Tensor, logp_ref: torch.Tensor, mask: torch.Tensor,
                         beta: float) -> torch.Tensor:
    """Per-token rewards (B, T) for PPO on a language model, detached (they are data).

    score (B,): the reward model's score of each full response. logp, logp_ref (B, T): log-probabilities of the
    sampled tokens under the sampling policy and the frozen reference. mask (B, T) bool: True on the generated
    tokens (each row has at least one; prompt and padding are False). Every generated token gets
    -beta * (logp - logp_ref); the last generated token of each row also gets its score; the rest are 0.
    Summed over a row: score - beta * log(pi(y) / pi_ref(y)), the sequence-level KL-penalised reward.
    """
    beta = nonnegative_float(beta, "beta")
    for name, t in (("score", score), ("logp", logp), ("logp_ref", logp_ref), ("mask", mask)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if logp.ndim != 2 or logp_ref.shape != logp.shape or mask.shape != logp.shape:
        raise ValueError(f"logp, logp_ref and mask must have one shape (B, T), got {tuple(logp.shape)}, "
                         f"{tuple(logp_ref.shape)} and {tuple(mask.shape)}")
    if score.shape != logp.shape[:1]:
        raise ValueError(f"score must have shape (B,) = ({logp.shape[0]},), got {tuple(score.shape)}")
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor (True on generated tokens), got {mask.dtype}")
    if not bool(mask.any(dim=1).all()):
        raise ValueError("every row of mask needs at least one generated token (True)")
    with torch.no_grad():
        rew = torch.where(mask, -beta * (logp - logp_ref), torch.zeros_like(logp))
        last = mask.shape[1] - 1 - mask.flip(1).to(torch.int64).argmax(dim=1)   # last True of each row
        rew[torch.arange(len(score)), last] += score.to(rew.dtype)
    return rew


def dpo_loss(logp_chosen: torch.Tensor, logp_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """Mean over B pairs of -log sigmoid(beta * [(logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)]).

    All inputs (B,): log-probabilities of whole responses (summed over their tokens) under the policy being
    trained (with gradient) and under the frozen reference (data). beta * log(pi / pi_ref) is DPO's implicit
    reward; the loss is the Bradley-Terry loss of those implicit rewards.
    """
    beta = positive_float(beta, "beta")
    _vectors(logp_chosen=logp_chosen, logp_rejected=logp_rejected, ref_chosen=ref_chosen, ref_rejected=ref_rejected)
    margin = (logp_chosen - ref_chosen.detach()) - (logp_rejected - ref_rejected.detach())
    return F.softplus(-beta * margin).mean()


def grpo_advantages(rew: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """GRPO's advantage: each reward standardised within its own group. rew (P, G) -> (P, G), detached.

    Row p holds the rewards of G completions of prompt p: (rew - row mean) / (row std + eps), with torch's
    default (sample, G - 1) standard deviation. eps keeps a group of equal rewards at advantage 0 instead of 0/0.
    """
    eps = positive_float(eps, "eps")
    if not isinstance(rew, torch.Tensor):
        raise ValueError(f"rew must be a torch.Tensor, got {type(rew).__name__}")
    if rew.ndim != 2 or rew.shape[1] < 2:
        raise ValueError(f"rew must have shape (P, G) with G >= 2 completions per prompt, got {tuple(rew.shape)}")
    rew = rew.detach()
    return (rew - rew.mean(dim=1, keepdim=True)) / (rew.std(dim=1, keepdim=True) + eps)
