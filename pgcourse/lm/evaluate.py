"""The one evaluation every method is measured with (lesson 7), its history, and the KL-regularised optimum.

- `EvalSet.make(n, seed)`: a fixed set of held-out prompts and fixed sampling uniforms (common random
  numbers: a policy that has not changed writes the same text, so curves are smooth).
- `evaluate(policy, ref, rm, evalset)`: one completion per prompt; mean gold, proxy (the reward model), exact
  KL(pi || pi_ref), grammatical fraction, repeats, completion length, and a few sample texts.
- `History`: evaluations over training plus per-iteration training diagnostics; `start`, `peak`, `final`.
- `kl_optimal_frontier(ref, rm, evalset, betas)`: pi_beta = pi_ref exp(r / beta) / Z estimated per prompt by
  importance weights over samples of pi_ref: the best gold-for-KL an RL method can reach on pi_ref's support.

KL(pi || pi_ref) is the exact per-position KL over the vocabulary, summed over the generated tokens of each
completion and averaged over completions, in nats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from pgcourse.lm import language as lang
from pgcourse.lm.gpt import GPT, sample, token_logprobs
from pgcourse.util import nonnegative_float, positive_int

__all__ = ["EvalSet", "evaluate", "sequence_kl", "completion_texts", "full_sentences", "History", "kl_optimal_frontier",
           "METRICS"]

METRICS = ("gold", "proxy", "kl", "grammatical", "repeats", "length")


@dataclass
class EvalSet:
    """Held-out prompts (N) and the sampling uniforms (N, MAX_LEN) every evaluation reuses."""
    prompts: list[list[int]]
    uniforms: torch.Tensor
    n_show: int = 3                 # sample texts kept per evaluation (the first prompts)

    @classmethod
    def make(cls, n: int = 128, seed: int = 0, n_show: int = 3) -> "EvalSet":
        n = positive_int(n, "n")
        prompts = lang.sample_prompts(n, np.random.default_rng(seed))
        return cls(prompts, torch.rand(n, lang.MAX_LEN, generator=torch.Generator().manual_seed(seed)), n_show)


def sequence_kl(logprobs: torch.Tensor, logprobs_ref: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Exact KL(pi || pi_ref) of each position's next-token distribution, summed over the masked positions.
    logprobs, logprobs_ref (B, T, V), mask (B, T) bool -> (B,)."""
    per_pos = (logprobs.exp() * (logprobs - logprobs_ref)).sum(-1).clamp(min=0.0)   # >= 0 (float rounding aside)
    return (per_pos * mask).sum(-1)


def completion_texts(tokens: torch.Tensor, gen: torch.Tensor, prompts: Sequence[Sequence[int]]) -> list[str]:
    """'prompt | completion' for each row (the completion's <eos> shown, so a missing one is visible)."""
    out = []
    for row, g, p in zip(tokens, gen, prompts):
        out.append(f"{lang.decode(p)} | {lang.decode(row[g].tolist(), keep_special=True)}")
    return out


def full_sentences(tokens: torch.Tensor, gen: torch.Tensor, prompts: Sequence[Sequence[int]]) -> list[list[int]]:
    """Prompt + generated tokens of each row, padding removed."""
    return [list(p) + row[g].tolist() for row, g, p in zip(tokens, gen, prompts)]


@torch.no_grad()
def evaluate(policy: GPT, ref: GPT, rm, evalset: EvalSet) -> dict:
    """Sample one completion per held-out prompt with the fixed uniforms; return the means of METRICS
    (gold, proxy, kl, grammatical, repeats, length = generated tokens) and 'samples' (n_show texts)."""
    tokens, gen, _, lp, _ = sample(policy, evalset.prompts, evalset.uniforms, scores=True)
    _, lp_ref, _ = token_logprobs(ref, tokens, full=True)
    kl = sequence_kl(lp, lp_ref, gen[:, 1:])
    parts = [lang.gold_parts(s) for s in full_sentences(tokens, gen, evalset.prompts)]
    out = {
        "gold": float(np.mean([p["gold"] for p in parts])),
        "proxy": float(rm(tokens).mean()),
        "kl": float(kl.mean()),
        "grammatical": float(np.mean([p["grammatical"] for p in parts])),
        "repeats": float(np.mean([p["repeats"] for p in parts])),
        "length": float(gen.sum(1).double().mean()),
        "samples": completion_texts(tokens[: evalset.n_show], gen[: evalset.n_show], evalset.prompts),
    }
    return out


@dataclass
class History:
    """A training run seen through `evaluate` (every `eval_every` iterations) plus training diagnostics."""
    method: str
    config: dict
    iteration: list[int] = field(default_factory=list)          # when each evaluation was taken
    evals: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in METRICS})
    samples: list[list[str]] = field(default_factory=list)
    train: dict[str, list[float]] = field(default_factory=dict)  # per iteration: proxy, gold, kl, approx_kl, ...
    extra: dict = field(default_factory=dict)                    # method-specific results (DPO: held-out pairs)
    seconds: float = 0.0

    def record(self, iteration: int, result: dict) -> None:
        self.iteration.append(int(iteration))
        for k in METRICS:
            self.evals[k].append(result[k])
        self.samples.append(result["samples"])

    def log(self, **values: float) -> None:
        for k, v in values.items():
            self.train.setdefault(k, []).append(float(v.detach()) if isinstance(v, torch.Tensor) else float(v))

    def curve(self, key: str) -> np.ndarray:
        return np.asarray(self.evals[key])

    def start(self, key: str = "gold") -> float:
        return self.evals[key][0]

    def final(self, key: str = "gold") -> float:
        return self.evals[key][-1]

    def peak(self, key: str = "gold") -> float:
        return float(np.max(self.evals[key]))

    def summary(self) -> dict:
        """JSON-able: gold start/peak/final, proxy start/final, kl final, grammatical final."""
        return {"gold_start": self.start("gold"), "gold_peak": self.peak("gold"), "gold_final": self.final("gold"),
                "proxy_start": self.start("proxy"), "proxy_final": self.final("proxy"),
                "kl_final": self.final("kl"), "kl_at_gold_peak": self.evals["kl"][int(np.argmax(self.evals["gold"]))],
                "grammatical_final": self.final("grammatical"), "seconds": round(self.seconds, 2)}


@torch.no_grad()
def kl_optimal_frontier(ref: GPT, rm, evalset: EvalSet, betas: Sequence[float], n_samples: int = 256,
                        seed: int = 0, chunk: int = 4096) -> dict[str, np.ndarray]:
    """The KL-regularised optimum pi_beta(y|x) = pi_ref(y|x) exp(r(x,y) / beta) / Z(x), per held-out prompt,
    estimated with n_samples completions of pi_ref: weights w_j = softmax_j(r_j / beta) (beta = 0: the best
    sample), KL = sum_j w_j log(n w_j), gold = sum_j w_j gold_j. Returns {'beta', 'kl', 'gold', 'proxy'} (len(betas),).
    Limited to pi_ref's support: KL can be at most log(n_samples)."""
    n_samples = positive_int(n_samples, "n_samples")
    betas = np.array([nonnegative_float(b, "beta") for b in betas])
    prompts = [p for p in evalset.prompts for _ in range(n_samples)]
    g = torch.Generator().manual_seed(seed)
    r, gold = [], []
    for i in range(0, len(prompts), chunk):
        tokens, gen = sample(ref, prompts[i:i + chunk], generator=g)
        r.append(rm(tokens).double())
        gold += [lang.gold_reward(s) for s in full_sentences(tokens, gen, prompts[i:i + chunk])]
    r = torch.cat(r).view(len(evalset.prompts), n_samples)
    gold = torch.tensor(gold, dtype=torch.float64).view_as(r)
    out = {"beta": betas, "kl": [], "gold": [], "proxy": []}
    for beta in betas:
        if beta == 0:
            w = (r == r.max(dim=1, keepdim=True).values).double()
            w /= w.sum(1, keepdim=True)
        else:
            w = torch.softmax(r / beta, dim=1)
        kl = torch.where(w > 0, w * torch.log(n_samples * w), torch.zeros_like(w)).sum(1)
        out["kl"].append(float(kl.mean()))
        out["gold"].append(float((w * gold).sum(1).mean()))
        out["proxy"].append(float((w * r).sum(1).mean()))
    return {k: np.asarray(v) for k, v in out.items()}
