"""A tiny causal transformer language model (lesson 7), its KV-cached batched sampler, and supervised fine-tuning (SFT).

- `GPT(GPTConfig())`: pre-LN decoder, d = 64, 2 layers, 4 heads, GELU MLP 4d, learned positions, input and
  output embeddings tied (about 104k weights). <pad> and <bos> are never predicted (their logits are masked).
- `token_logprobs(model, tokens)`: one full forward pass; log pi of every next token, the full next-token
  log-distributions and the final hidden states.
- `sample(model, prompts, uniforms)`: lock-step sampling of a batch with a KV cache; prompt tokens are forced,
  so prompts of different lengths need no padding logic; inverse-CDF draws from given uniforms (common random
  numbers: the same uniforms give the same text from the same model).
- `train_sft(SFTConfig())`: next-token cross-entropy on sentences from the grammar.

Shapes: B sequences of L <= MAX_LEN tokens; position t of `logp` scores token t + 1.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from pgcourse.lm import language as lang
from pgcourse.util import positive_float, positive_int, unit_interval

__all__ = ["GPTConfig", "GPT", "token_logprobs", "sample", "cross_entropy", "frozen_copy", "SFTConfig",
           "SFTHistory", "train_sft"]

NEG = -1e9  # logit of tokens the model never emits (exp() is exactly 0; finite, so 0 * log 0 terms stay 0)


@dataclass
class GPTConfig:
    vocab_size: int = lang.V
    max_len: int = lang.MAX_LEN
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4

    def __post_init__(self):
        for name in ("vocab_size", "max_len", "d_model", "n_layers", "n_heads"):
            positive_int(getattr(self, name), name)
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")


class _Attention(nn.Module):
    def __init__(self, d: int, h: int):
        super().__init__()
        self.h = h
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x, cache=None, pos: int = 0):
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.h, C // self.h).permute(2, 0, 3, 1, 4)  # (B, H, T, dh) each
        if cache is not None:                      # write this chunk's keys and values, attend to all so far
            K, Vc = cache
            K[:, :, pos:pos + T], Vc[:, :, pos:pos + T] = k, v
            k, v = K[:, :, :pos + T], Vc[:, :, :pos + T]
        y = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1)   # T > 1 only at pos = 0 (checked in step)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class _Block(nn.Module):
    def __init__(self, d: int, h: int):
        super().__init__()
        self.ln1, self.attn, self.ln2 = nn.LayerNorm(d), _Attention(d, h), nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x, cache=None, pos: int = 0):
        x = x + self.attn(self.ln1(x), cache, pos)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Pre-LN causal transformer; `forward(tokens (B, L)) -> logits (B, L, V)`."""

    def __init__(self, cfg: GPTConfig | None = None):
        super().__init__()
        cfg = cfg or GPTConfig()
        self.cfg = cfg
        d = cfg.d_model
        self.tok, self.pos = nn.Embedding(cfg.vocab_size, d), nn.Embedding(cfg.max_len, d)
        self.blocks = nn.ModuleList(_Block(d, cfg.n_heads) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(d)
        banned = torch.zeros(cfg.vocab_size, dtype=torch.bool)
        banned[[lang.PAD, lang.BOS]] = True
        self.register_buffer("banned", banned, persistent=False)
        for name, p in self.named_parameters():
            if p.ndim == 2:
                std = 0.02 / math.sqrt(2 * cfg.n_layers) if name.endswith(("proj.weight", "mlp.2.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def hidden(self, tokens: torch.Tensor, cache=None, pos: int = 0) -> torch.Tensor:
        """Final (layer-normed) hidden states (B, T, d) of tokens at positions pos .. pos + T - 1."""
        T = tokens.shape[1]
        x = self.tok(tokens) + self.pos.weight[pos:pos + T]
        for i, block in enumerate(self.blocks):
            x = block(x, None if cache is None else cache[i], pos)
        return self.ln_f(x)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """Logits from hidden states through the tied embedding; <pad> and <bos> masked to -1e9."""
        return (h @ self.tok.weight.T).masked_fill(self.banned, NEG)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.ndim != 2 or tokens.shape[1] > self.cfg.max_len:
            raise ValueError(f"tokens must be (B, L) with L <= {self.cfg.max_len}, got {tuple(tokens.shape)}")
        return self.head(self.hidden(tokens))

    def new_cache(self, batch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        c = self.cfg
        shape = (batch, c.n_heads, c.max_len, c.d_model // c.n_heads)
        return [(torch.zeros(shape), torch.zeros(shape)) for _ in range(c.n_layers)]

    def step(self, tokens: torch.Tensor, cache, pos: int) -> torch.Tensor:
        """Feed tokens (B, T) at positions pos.., through the cache; logits of the last one (B, V).
        A chunk of several tokens is only allowed at pos = 0 (the prefill)."""
        if tokens.shape[1] > 1 and pos != 0:
            raise ValueError("feed one token at a time after the prefill at pos = 0")
        return self.head(self.hidden(tokens, cache, pos)[:, -1])


def frozen_copy(model: GPT) -> GPT:
    """A deep copy with gradients off, in eval mode: the reference pi_ref."""
    ref = copy.deepcopy(model).eval()
    ref.requires_grad_(False)
    return ref


def token_logprobs(model: GPT, tokens: torch.Tensor, full: bool = False):
    """One forward pass over tokens (B, L). Returns logp (B, L-1), logp[b, t] = log pi(tokens[b, t+1] | prefix);
    with full=True also the next-token log-distributions (B, L-1, V) and the hidden states (B, L-1, d)."""
    h = model.hidden(tokens[:, :-1])
    logprobs = torch.log_softmax(model.head(h), dim=-1)
    logp = logprobs.gather(-1, tokens[:, 1:, None]).squeeze(-1)
    return (logp, logprobs, h) if full else logp


def _prompt_tensor(prompts: Sequence[Sequence[int]], max_len: int):
    if len(prompts) == 0:
        raise ValueError("prompts is empty")
    lens = torch.tensor([len(p) for p in prompts])
    if lens.min() < 1 or lens.max() >= max_len or any(p[0] != lang.BOS for p in prompts):
        raise ValueError(f"each prompt must start with <bos> and be shorter than {max_len} tokens")
    arr, _ = lang.pad_batch(prompts, max_len)
    return torch.from_numpy(arr), lens


@torch.no_grad()
def sample(model: GPT, prompts: Sequence[Sequence[int]], uniforms: torch.Tensor | None = None,
           generator: torch.Generator | None = None, scores: bool = False):
    """Complete each prompt until <eos> or MAX_LEN tokens. Returns (tokens (B, L), gen (B, L) bool), cut to the
    longest sequence; gen is True on sampled tokens (<eos> included), False on prompt and padding.

    uniforms (B, max_len) in [0, 1): the draws, one per position (inverse CDF); default: torch.rand with `generator`.
    scores=True also returns what `token_logprobs(model, tokens, full=True)` would, from the sampling pass itself:
    (tokens, gen, logp (B, L-1), logprobs (B, L-1, V), hidden (B, L-1, d)).
    """
    L = model.cfg.max_len
    toks, plen = _prompt_tensor(prompts, L)
    B = len(toks)
    if uniforms is None:
        uniforms = torch.rand(B, L, generator=generator)
    if uniforms.shape != (B, L):
        raise ValueError(f"uniforms must have shape ({B}, {L}), got {tuple(uniforms.shape)}")
    gen = torch.zeros(B, L, dtype=torch.bool)
    done = torch.zeros(B, dtype=torch.bool)
    start = int(plen.min())
    cache = model.new_cache(B)
    hidden = [model.hidden(toks[:, :start], cache, 0)]        # prefill the part every prompt still has
    logits = model.head(hidden[-1][:, -1])
    end = L
    for t in range(start, L):
        forced = t < plen
        cdf = torch.softmax(logits, -1).cumsum(-1)
        drawn = torch.searchsorted(cdf, (uniforms[:, t] * cdf[:, -1])[:, None], right=True)[:, 0]
        drawn = drawn.clamp(max=logits.shape[-1] - 1)
        new = ~forced & ~done
        tok = torch.where(forced, toks[:, t], torch.where(done, lang.PAD, drawn))
        toks[:, t], gen[:, t] = tok, new
        done |= new & (tok == lang.EOS)
        if bool(done.all()) or t == L - 1:
            end = t + 1
            break
        hidden.append(model.hidden(tok[:, None], cache, t))
        logits = model.head(hidden[-1][:, -1])
    toks, gen = toks[:, :end], gen[:, :end]
    if not scores:
        return toks, gen
    h = torch.cat(hidden, dim=1)
    logprobs = torch.log_softmax(model.head(h), dim=-1)
    return toks, gen, logprobs.gather(-1, toks[:, 1:, None]).squeeze(-1), logprobs, h


def cross_entropy(model: GPT, tokens: torch.Tensor) -> float:
    """Next-token cross-entropy in nats per predicted token (padding excluded), no gradient."""
    with torch.no_grad():
        logits = model(tokens[:, :-1])
        return float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1),
                                     ignore_index=lang.PAD))


# ----------------------------------------------------------------------------- SFT
@dataclass
class SFTConfig:
    """Supervised fine-tuning on sentences generated from the grammar."""
    seed: int = 0
    n_sentences: int = 30_000      # pre-generated training sentences
    n_val: int = 2_000             # held-out sentences for the validation cross-entropy
    steps: int = 300
    batch_size: int = 64
    lr: float = 3e-3               # AdamW, betas (0.9, 0.98)
    weight_decay: float = 0.01     # on weight matrices and embeddings
    warmup: float = 0.05           # fraction of steps of linear warm-up, then cosine decay ...
    final_lr: float = 0.1          # ... to this fraction of lr
    max_grad_norm: float = 1.0
    model: GPTConfig = field(default_factory=GPTConfig)

    def __post_init__(self):
        for name in ("n_sentences", "n_val", "steps", "batch_size"):
            positive_int(getattr(self, name), name)
        positive_float(self.lr, "lr")
        unit_interval(self.warmup, "warmup", "fraction of the steps")
        unit_interval(self.final_lr, "final_lr", "fraction of lr at the end")
        positive_float(self.max_grad_norm, "max_grad_norm")


@dataclass
class SFTHistory:
    loss: list[float]              # training cross-entropy per step (nats/token)
    val_ce: float                  # validation cross-entropy at the end
    entropy: float                 # the language's exact entropy per token
    val_entropy: float             # the validation sentences' own exact -log P per token (their sample entropy)
    seconds: float
    config: dict

    @property
    def gap(self) -> float:
        """val_ce - val_entropy: the KL(language || model) per token, estimated on the validation sentences
        (the same sentences on both sides, so their sampling noise cancels)."""
        return self.val_ce - self.val_entropy


def lr_factor(step: int, steps: int, warmup: float, final_lr: float) -> float:
    """Linear warm-up over the first `warmup` fraction of steps, then cosine decay to `final_lr`."""
    n_warm = max(1, round(warmup * steps))
    if step < n_warm:
        return (step + 1) / n_warm
    progress = (step - n_warm) / max(1, steps - n_warm)
    return final_lr + (1 - final_lr) * 0.5 * (1 + math.cos(math.pi * progress))


def train_sft(cfg: SFTConfig | None = None) -> tuple[GPT, SFTHistory]:
    """Train GPT(cfg.model) on cfg.n_sentences grammar sentences; returns the model (eval mode) and its history."""
    cfg = cfg or SFTConfig()
    start = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    data, lens = lang.pad_batch(lang.sample_sentences(cfg.n_sentences, rng), lang.MAX_LEN)
    val_sents = lang.sample_sentences(cfg.n_val, rng)
    val_entropy = -sum(lang.grammar_logprob(s) for s in val_sents) / sum(len(s) - 1 for s in val_sents)
    val, _ = lang.pad_batch(val_sents)
    data, lens, val = torch.from_numpy(data), torch.from_numpy(lens), torch.from_numpy(val)
    torch.manual_seed(cfg.seed)
    model = GPT(cfg.model)
    decay = [p for p in model.parameters() if p.ndim == 2]
    other = [p for p in model.parameters() if p.ndim != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": other, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))
    losses = []
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = cfg.lr * lr_factor(step, cfg.steps, cfg.warmup, cfg.final_lr)
        idx = torch.from_numpy(rng.integers(0, len(data), cfg.batch_size))
        batch = data[idx, : int(lens[idx].max())]                       # cut to the longest sentence
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1),
                               ignore_index=lang.PAD)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        opt.step()
        losses.append(loss.item())
    model.eval()
    hist = SFTHistory(losses, cross_entropy(model, val), lang.exact_entropy()["per_token"], val_entropy,
                      time.perf_counter() - start, asdict(cfg))
    return model, hist
