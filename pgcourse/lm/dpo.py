"""Direct preference optimisation (lesson 7) on the reward model's preference pairs: no reward model, no sampling.

`train_dpo(DPOConfig(beta=...), sft, train_pairs, val_pairs, rm, evalset)`: the policy starts as the SFT model;
each step takes a batch of (chosen, rejected) pairs (the noisy labels decide which is which) and minimises
`pgcourse.rlhf.dpo_loss` on log-probabilities of the completions only (the prompt is shared). The reference
log-probabilities are computed once, before training.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from pgcourse.lm import language as lang
from pgcourse.lm.evaluate import EvalSet, History, evaluate
from pgcourse.lm.gpt import GPT, frozen_copy, token_logprobs
from pgcourse.lm.reward import Pairs
from pgcourse.lm.rl import trainable_copy
from pgcourse.rlhf import dpo_loss
from pgcourse.util import positive_float, positive_int

__all__ = ["DPOConfig", "PairTensors", "pair_tensors", "completion_logprobs", "train_dpo", "implicit_rewards"]


@dataclass
class DPOConfig:
    """DPO on the preference pairs."""
    seed: int = 0
    beta: float = 1.0
    lr: float = 3e-4               # Adam
    batch_size: int = 64           # pairs per step
    epochs: int = 3
    max_grad_norm: float = 1.0
    eval_every: int = 23           # steps between held-out evaluations

    def __post_init__(self):
        positive_float(self.beta, "beta")
        positive_float(self.lr, "lr")
        positive_int(self.batch_size, "batch_size")
        positive_int(self.epochs, "epochs")
        positive_float(self.max_grad_norm, "max_grad_norm")
        positive_int(self.eval_every, "eval_every")


@dataclass
class PairTensors:
    """Chosen and rejected sentences (N, L) with masks of their completion tokens, aligned with token_logprobs."""
    chosen: torch.Tensor
    rejected: torch.Tensor
    mask_chosen: torch.Tensor      # (N, L-1): True where token t + 1 belongs to the completion
    mask_rejected: torch.Tensor
    gold_chosen: np.ndarray
    gold_rejected: np.ndarray


def pair_tensors(pairs: Pairs) -> PairTensors:
    lab = pairs.label > 0.5
    out = []
    for which in ("chosen", "rejected"):
        tok = pairs.tokens(which)
        pos = torch.arange(tok.shape[1] - 1)[None, :]
        plen = torch.tensor([len(p) for p in pairs.prompts])[:, None]
        out += [tok, (pos + 1 >= plen) & (tok[:, 1:] != lang.PAD)]
    return PairTensors(out[0], out[2], out[1], out[3], np.where(lab, pairs.gold_a, pairs.gold_b),
                       np.where(lab, pairs.gold_b, pairs.gold_a))


def completion_logprobs(model: GPT, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log pi(completion | prompt) of each row: token log-probs summed over the mask. (N, L), (N, L-1) -> (N,)."""
    return (token_logprobs(model, tokens) * mask).sum(1)


@torch.no_grad()
def _ref_logprobs(ref: GPT, t: PairTensors, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    out = []
    for tok, mask in ((t.chosen, t.mask_chosen), (t.rejected, t.mask_rejected)):
        out.append(torch.cat([completion_logprobs(ref, tok[i:i + chunk], mask[i:i + chunk])
                              for i in range(0, len(tok), chunk)]))
    return out[0], out[1]


@torch.no_grad()
def implicit_rewards(policy: GPT, ref: GPT, t: PairTensors, beta: float) -> dict[str, np.ndarray]:
    """beta * log(pi / pi_ref) of every chosen and rejected completion: {'chosen': (N,), 'rejected': (N,)}."""
    ref_c, ref_r = _ref_logprobs(ref, t)
    pol_c, pol_r = _ref_logprobs(policy, t)
    return {"chosen": (beta * (pol_c - ref_c)).double().numpy(), "rejected": (beta * (pol_r - ref_r)).double().numpy()}


def train_dpo(cfg: DPOConfig, sft: GPT, train: Pairs, val: Pairs, rm, evalset: EvalSet,
              loss_fn=dpo_loss) -> tuple[GPT, History]:
    """DPO from the SFT model (loss_fn(logp_c, logp_r, ref_c, ref_r, beta): the DPO loss; an exercise's answer can
    be passed in). History.train per step: loss, margin (beta * log-ratio chosen - rejected),
    chosen and rejected log-ratios; History.extra['val']: margin, accuracies and log-ratios on `val` at the end."""
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    policy, ref = trainable_copy(sft), frozen_copy(sft)
    t = pair_tensors(train)
    ref_c, ref_r = _ref_logprobs(ref, t)                        # once: the reference never changes
    lens = torch.maximum((t.chosen != lang.PAD).sum(1), (t.rejected != lang.PAD).sum(1))
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    hist = History("dpo", asdict(cfg))
    step = 0
    hist.record(0, evaluate(policy, ref, rm, evalset))
    for _ in range(cfg.epochs):
        for idx in torch.from_numpy(rng.permutation(len(train))).split(cfg.batch_size):
            L = int(lens[idx].max())                                # cut the batch to its longest sentence
            logp_c = completion_logprobs(policy, t.chosen[idx, :L], t.mask_chosen[idx, :L - 1])
            logp_r = completion_logprobs(policy, t.rejected[idx, :L], t.mask_rejected[idx, :L - 1])
            loss = loss_fn(logp_c, logp_r, ref_c[idx], ref_r[idx], cfg.beta)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
            opt.step()
            step += 1
            with torch.no_grad():
                lr_c, lr_r = logp_c - ref_c[idx], logp_r - ref_r[idx]
            hist.log(loss=loss, margin=cfg.beta * (lr_c - lr_r).mean(), logratio_chosen=lr_c.mean(),
                     logratio_rejected=lr_r.mean())
            if step % cfg.eval_every == 0:
                hist.record(step, evaluate(policy, ref, rm, evalset))
    if hist.iteration[-1] != step:
        hist.record(step, evaluate(policy, ref, rm, evalset))
    policy.eval()
    vt = pair_tensors(val)
    r = implicit_rewards(policy, ref, vt, cfg.beta)
    d = r["chosen"] - r["rejected"]
    dg = vt.gold_chosen - vt.gold_rejected
    untied = np.abs(dg) > 1e-12
    hist.extra["val"] = {"margin": float(d.mean()), "acc_labels": float((d > 0).mean()),
                      "acc_gold": float(((d > 0) == (dg > 0))[untied].mean()),
                      "logratio_chosen": float(r["chosen"].mean() / cfg.beta),
                      "logratio_rejected": float(r["rejected"].mean() / cfg.beta)}
    hist.seconds = time.perf_counter() - start
    return policy, hist
