"""Preference pairs (lesson 7) labelled by the hidden gold preference, and a bag-of-words Bradley-Terry reward model.

- `make_pairs(model, n, seed, tau)`: n grammar prompts, two completions each sampled from `model`; pairs where
  either sentence repeats an adjective are dropped (so the reward model never sees a repeat); the label is
  Bernoulli(sigmoid((gold_a - gold_b) / tau)), a noisy human.
- `BowRewardModel`: r(x) = sum over the words of x of w[word] + b (<pad>, <bos>, <eos> are not words). Its 37
  weights can be read directly, and a count model cannot see repetition, length or grammar: its blind spot.
- `train_reward_model(train, val, RMConfig())`: the Bradley-Terry loss (`pgcourse.rlhf.bradley_terry_loss`)
  with Adam and L2, then scores normalised to mean 0 and std 1 on fresh samples of the SFT model.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import nn

from pgcourse.lm import language as lang
from pgcourse.lm.gpt import GPT, sample
from pgcourse.rlhf import bradley_terry_loss
from pgcourse.util import nonnegative_float, positive_float, positive_int

__all__ = ["Pairs", "make_pairs", "BowRewardModel", "RMConfig", "RMHistory", "train_reward_model",
           "bayes_accuracy", "sample_completions"]

WORDS = torch.ones(lang.V, dtype=torch.bool)
WORDS[[lang.PAD, lang.BOS, lang.EOS]] = False


def sample_completions(model: GPT, prompts: Sequence[Sequence[int]], generator: torch.Generator,
                       chunk: int = 2048) -> list[list[int]]:
    """Full sentences (prompt + completion, no padding) sampled from `model`, in chunks of `chunk` prompts."""
    out = []
    for i in range(0, len(prompts), chunk):
        tokens, gen = sample(model, prompts[i:i + chunk], generator=generator)
        keep = gen.clone()
        for j, p in enumerate(prompts[i:i + chunk]):
            keep[j, : len(p)] = True
        out += [row[k].tolist() for row, k in zip(tokens, keep)]
    return out


@dataclass
class Pairs:
    """Preference pairs: sentences a[i] and b[i] share prompts[i]; label[i] = 1.0 if a[i] was preferred."""
    prompts: list[list[int]]
    a: list[list[int]]
    b: list[list[int]]
    gold_a: np.ndarray
    gold_b: np.ndarray
    label: np.ndarray
    tau: float

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def chosen(self) -> list[list[int]]:
        return [a if lab else b for a, b, lab in zip(self.a, self.b, self.label)]

    @property
    def rejected(self) -> list[list[int]]:
        return [b if lab else a for a, b, lab in zip(self.a, self.b, self.label)]

    def tokens(self, which: str, completion_only: bool = False) -> torch.Tensor:
        """'a', 'b', 'chosen' or 'rejected' sentences as a padded (N, L) tensor; completion_only: without the
        prompt (its words are the same in both sentences of a pair)."""
        seqs = {"a": self.a, "b": self.b, "chosen": self.chosen, "rejected": self.rejected}[which]
        if completion_only:
            seqs = [s[len(p):] for s, p in zip(seqs, self.prompts)]
        return torch.from_numpy(lang.pad_batch(seqs)[0])


def make_pairs(model: GPT, n: int, seed: int, tau: float = 0.5) -> Pairs:
    """Up to n pairs (fewer once pairs with a repeated adjective are dropped), labelled by the noisy gold."""
    n, tau = positive_int(n, "n"), positive_float(tau, "tau")
    rng = np.random.default_rng(seed)
    prompts = lang.sample_prompts(n, rng)
    sents = sample_completions(model, prompts + prompts, torch.Generator().manual_seed(seed))
    a, b = sents[:n], sents[n:]
    keep = [i for i in range(n) if not (lang.has_repeat(a[i]) or lang.has_repeat(b[i]))]
    a, b, prompts = [a[i] for i in keep], [b[i] for i in keep], [prompts[i] for i in keep]
    ga, gb = lang.gold_rewards(a), lang.gold_rewards(b)
    label = (rng.random(len(a)) < 1 / (1 + np.exp(-(ga - gb) / tau))).astype(np.float64)
    return Pairs(prompts, a, b, ga, gb, label, tau)


def bayes_accuracy(pairs: Pairs) -> float:
    """The best possible accuracy against the noisy labels: mean of max(p, 1 - p), p = sigmoid(dgold / tau)."""
    p = 1 / (1 + np.exp(-(pairs.gold_a - pairs.gold_b) / pairs.tau))
    return float(np.maximum(p, 1 - p).mean())


class BowRewardModel(nn.Module):
    """r(x) = counts(x) . w + b over the words of x; tokens (B, L) padded with <pad> -> (B,)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(lang.V))
        self.register_buffer("b", torch.zeros(()))

    @staticmethod
    def counts(tokens: torch.Tensor) -> torch.Tensor:
        """(B, L) token ids -> (B, V) word counts (special tokens not counted)."""
        c = torch.zeros(tokens.shape[0], lang.V).scatter_add_(1, tokens, torch.ones(tokens.shape))
        return c * WORDS

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.counts(tokens) @ self.w + self.b

    def prefix_scores(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L): entry t is the score of tokens[:, :t + 1] (the sentence so far)."""
        return (self.w * WORDS)[tokens].cumsum(dim=1) + self.b

    def weights(self) -> dict[str, float]:
        """{word: weight} for the 34 words."""
        return {lang.VOCAB[i]: float(self.w[i].detach()) for i in range(lang.V) if WORDS[i]}


@dataclass
class RMConfig:
    """Preference data and the reward model's training."""
    seed: int = 0
    n_train: int = 3_000           # prompts, two SFT completions each
    n_val: int = 1_000
    tau: float = 0.5               # label noise: P(a preferred) = sigmoid((gold_a - gold_b) / tau)
    lr: float = 0.05               # Adam
    l2: float = 1e-3               # + l2 * sum(w^2) in the loss
    epochs: int = 8
    batch_size: int = 64
    n_norm: int = 1_000            # SFT samples on which scores are normalised to mean 0, std 1
    eval_every: int = 10           # steps between held-out accuracies

    def __post_init__(self):
        for name in ("n_train", "n_val", "epochs", "batch_size", "n_norm", "eval_every"):
            positive_int(getattr(self, name), name)
        positive_float(self.tau, "tau")
        positive_float(self.lr, "lr")
        nonnegative_float(self.l2, "l2")


@dataclass
class RMHistory:
    loss: list[float]
    eval_steps: list[int]
    val_acc_gold: list[float]      # held-out accuracy against the gold order (gold ties left out)
    val_acc_labels: list[float]    # ... and against the noisy labels
    bayes_accuracy: float          # the ceiling against the noisy labels
    norm_mean: float
    norm_std: float
    seconds: float
    config: dict = field(default_factory=dict)

    @property
    def acc_gold(self) -> float:
        return self.val_acc_gold[-1]

    @property
    def acc_labels(self) -> float:
        return self.val_acc_labels[-1]


def accuracies(rm: BowRewardModel, pairs: Pairs) -> tuple[float, float]:
    """(accuracy against the gold order on pairs whose gold differs, accuracy against the labels); ties count 1/2."""
    with torch.no_grad():
        d = (rm(pairs.tokens("a")) - rm(pairs.tokens("b"))).double().numpy()
    dg = pairs.gold_a - pairs.gold_b
    hit = np.where(d == 0, 0.5, (d > 0) == (dg > 0))
    untied = np.abs(dg) > 1e-12
    hit_label = np.where(d == 0, 0.5, (d > 0) == (pairs.label > 0.5))
    return float(hit[untied].mean()), float(hit_label.mean())


def train_reward_model(train: Pairs, val: Pairs, sft: GPT, cfg: RMConfig | None = None, loss_fn=bradley_terry_loss):
    """Fit the bag-of-words reward model by Bradley-Terry on `train`; returns (rm, history). Scores are then
    normalised to mean 0, std 1 on cfg.n_norm completions of `sft`, so beta means the same in every seed.
    loss_fn(r_chosen, r_rejected) -> scalar: the Bradley-Terry loss (an exercise's answer can be passed in)."""
    cfg = cfg or RMConfig()
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed + 1)
    rm = BowRewardModel()
    # The prompt's words are shared by both sentences and cancel in r_chosen - r_rejected: count the completions
    # only, so a word seen only in prompts gets no gradient at all (with the prompts in, float rounding of
    # the cancelling terms is all its gradient would be, and Adam would turn that into full-size steps).
    c_chosen = rm.counts(train.tokens("chosen", completion_only=True))
    c_rejected = rm.counts(train.tokens("rejected", completion_only=True))
    opt = torch.optim.Adam(rm.parameters(), lr=cfg.lr)
    n = len(train)
    hist = RMHistory([], [], [], [], bayes_accuracy(val), 0.0, 1.0, 0.0, asdict(cfg))
    step = 0
    for _ in range(cfg.epochs):
        for idx in torch.from_numpy(rng.permutation(n)).split(cfg.batch_size):
            loss = loss_fn(c_chosen[idx] @ rm.w, c_rejected[idx] @ rm.w) + cfg.l2 * (rm.w ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            hist.loss.append(loss.item())
            step += 1
            if step % cfg.eval_every == 0:
                g, lbl = accuracies(rm, val)
                hist.eval_steps.append(step)
                hist.val_acc_gold.append(g)
                hist.val_acc_labels.append(lbl)
    rm.requires_grad_(False)
    norm_prompts = lang.sample_prompts(cfg.n_norm, rng)
    sents = sample_completions(sft, norm_prompts, torch.Generator().manual_seed(cfg.seed + 2))
    with torch.no_grad():
        s = rm(torch.from_numpy(lang.pad_batch(sents)[0]))
        mu, sd = float(s.mean()), float(s.std())
        rm.w /= sd
        rm.b.fill_(-mu / sd)
    g, lbl = accuracies(rm, val)
    hist.eval_steps.append(step)
    hist.val_acc_gold.append(g)
    hist.val_acc_labels.append(lbl)
    hist.norm_mean, hist.norm_std, hist.seconds = mu, sd, time.perf_counter() - start
    return rm, hist
