"""Reinforcement learning on the language model (lesson 7) against the reward model: PPO with a per-token KL penalty, and GRPO.

The token-level MDP: state = prompt + tokens so far, action = the next token, policy = the LM's softmax,
episode = one completion (it ends at <eos> or MAX_LEN), reward = the reward model's score at the last token.

- `collect(policy, ref, rm, prompts, generator)`: sample completions and score them (log-probs under the policy
  and the frozen reference, exact KL, proxy and gold rewards, hidden states and prefix scores for the critic).
- `lm_gae(rew, val, mask, gamma, lam)`: lesson 4's `pgcourse.advantages.gae` over each completion's tokens.
- `train_ppo_lm(PPOLMConfig(beta=...), sft, rm, evalset)`: lesson 5's PPO (`ppo_clip_loss`, `approx_kl`) on
  `pgcourse.rlhf.kl_penalised_rewards`, with a value head V(prefix) = RM(prefix) + MLP(detached hidden state).
- `train_grpo(GRPOConfig(kl_coef=...), sft, rm, evalset)`: G completions per prompt, the group-normalised
  reward (`pgcourse.rlhf.grpo_advantages`) as every token's advantage, no critic, a k3 KL term to the reference.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from pgcourse.advantages import gae
from pgcourse.lm import language as lang
from pgcourse.lm.evaluate import EvalSet, History, evaluate, full_sentences, sequence_kl
from pgcourse.lm.gpt import GPT, frozen_copy, sample, token_logprobs
from pgcourse.losses import approx_kl, ppo_clip_loss
from pgcourse.rlhf import grpo_advantages, kl_penalised_rewards
from pgcourse.util import nonnegative_float, positive_float, positive_int, unit_interval

__all__ = ["Rollout", "collect", "lm_gae", "ValueHead", "PPOLMConfig", "train_ppo_lm", "GRPOConfig", "train_grpo",
           "k3_kl", "trainable_copy"]


@dataclass
class Rollout:
    """A batch of B sampled completions. Token-space tensors are (B, L); the rest (B, L-1) are aligned with
    `token_logprobs`: position t scores token t + 1, so `mask` = gen[:, 1:] marks the generated tokens."""
    prompts: list[list[int]]
    tokens: torch.Tensor
    gen: torch.Tensor
    mask: torch.Tensor
    logp: torch.Tensor          # log pi_old of each token (the sampling policy)
    logp_ref: torch.Tensor      # log pi_ref of each token (the frozen SFT model)
    hidden: torch.Tensor        # (B, L-1, d) the policy's hidden state before each token
    prefix_rm: torch.Tensor     # (B, L-1) the reward model's score of the sentence before each token
    score: torch.Tensor         # (B,) proxy reward: the reward model's score of the whole sentence
    gold: np.ndarray            # (B,) the hidden gold reward (for measurement only)
    kl: torch.Tensor            # (B,) exact KL(pi_old || pi_ref) summed over the completion


@torch.no_grad()
def collect(policy: GPT, ref: GPT, rm, prompts: Sequence[Sequence[int]], generator: torch.Generator) -> Rollout:
    """Sample one completion per prompt from `policy` and score it (the sampling pass gives the policy's
    log-probs and hidden states; one forward pass of the reference gives its log-probs)."""
    tokens, gen, logp, lp, hidden = sample(policy, prompts, generator=generator, scores=True)
    logp_ref, lp_ref, _ = token_logprobs(ref, tokens, full=True)
    mask = gen[:, 1:]
    return Rollout([list(p) for p in prompts], tokens, gen, mask, logp, logp_ref, hidden,
                   rm.prefix_scores(tokens)[:, :-1], rm(tokens),
                   lang.gold_rewards(full_sentences(tokens, gen, prompts)), sequence_kl(lp, lp_ref, mask))


def lm_gae(rew: torch.Tensor, val: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """GAE over the generated tokens: rew, val (B, T), mask (B, T) bool -> adv, ret (B, T), 0 off the mask.

    Each completion is one episode, terminated at its last generated token (nothing follows it); the
    recursion runs in lesson 4's `gae` with time on axis 0."""
    last = mask & ~torch.cat([mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1)
    val = val * mask
    next_val = torch.cat([val[:, 1:], torch.zeros_like(val[:, :1])], dim=1)
    terminated = last | ~mask
    adv, ret = gae(rew.T.double().numpy(), val.T.double().numpy(), next_val.T.double().numpy(),
                   terminated.T.numpy(), np.zeros(terminated.T.shape, bool), gamma, lam)
    return torch.from_numpy(adv.T).float() * mask, torch.from_numpy(ret.T).float() * mask


class ValueHead(nn.Module):
    """V(state) = RM(sentence so far) + MLP(policy hidden state, detached); the MLP starts at 0, so the critic
    starts as the reward model (as InstructGPT initialised its value model from the reward model)."""

    def __init__(self, d_model: int = 64, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, hidden: torch.Tensor, prefix_rm: torch.Tensor) -> torch.Tensor:
        return prefix_rm + self.net(hidden.detach()).squeeze(-1)


def trainable_copy(sft: GPT) -> GPT:
    """The policy: a copy of the SFT model, in training mode with gradients on."""
    policy = copy.deepcopy(sft).train()
    policy.requires_grad_(True)
    return policy


def _check_common(cfg) -> None:
    for name in ("iterations", "eval_every"):
        positive_int(getattr(cfg, name), name)
    positive_float(cfg.lr, "lr")
    positive_float(cfg.adam_eps, "adam_eps")
    positive_float(cfg.clip_eps, "clip_eps")
    positive_float(cfg.max_grad_norm, "max_grad_norm")


@dataclass
class PPOLMConfig:
    """PPO on the language model with a per-token KL penalty to the frozen SFT model."""
    seed: int = 0
    beta: float = 1.0              # KL coefficient
    iterations: int = 60
    batch_size: int = 64           # prompts (one completion each) per iteration
    epochs: int = 2                # full-batch updates per batch
    lr: float = 2e-4               # Adam, policy
    critic_lr: float = 3e-3        # Adam, value head
    adam_eps: float = 1e-5
    clip_eps: float = 0.2
    vf_coef: float = 0.5
    gamma: float = 1.0
    gae_lambda: float = 0.95
    max_grad_norm: float = 1.0
    eval_every: int = 3

    def __post_init__(self):
        _check_common(self)
        nonnegative_float(self.beta, "beta")
        positive_int(self.batch_size, "batch_size")
        positive_int(self.epochs, "epochs")
        positive_float(self.critic_lr, "critic_lr")
        nonnegative_float(self.vf_coef, "vf_coef")
        unit_interval(self.gamma, "gamma")
        unit_interval(self.gae_lambda, "gae_lambda", "0 = one-step TD, 1 = Monte Carlo")


def train_ppo_lm(cfg: PPOLMConfig, sft: GPT, rm, evalset: EvalSet,
                 reward_fn=kl_penalised_rewards) -> tuple[GPT, History]:
    """PPO from the SFT model; evaluated every cfg.eval_every iterations (and at the end) on `evalset`.
    reward_fn(score, logp, logp_ref, mask, beta) -> (B, T): the per-token reward (an exercise's answer can be passed in)."""
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rng, generator = np.random.default_rng(cfg.seed), torch.Generator().manual_seed(cfg.seed)
    policy, ref = trainable_copy(sft), frozen_copy(sft)
    critic = ValueHead(sft.cfg.d_model)
    opt = torch.optim.Adam([{"params": list(policy.parameters()), "lr": cfg.lr},
                            {"params": list(critic.parameters()), "lr": cfg.critic_lr}], eps=cfg.adam_eps)
    hist = History("ppo", asdict(cfg))
    for it in range(cfg.iterations + 1):
        if it % cfg.eval_every == 0 or it == cfg.iterations:
            hist.record(it, evaluate(policy, ref, rm, evalset))
        if it == cfg.iterations:
            break
        ro = collect(policy, ref, rm, lang.sample_prompts(cfg.batch_size, rng), generator)     # 1. sample, score
        rew = reward_fn(ro.score, ro.logp, ro.logp_ref, ro.mask, cfg.beta)                      # 2. per-token reward
        with torch.no_grad():
            val = critic(ro.hidden, ro.prefix_rm)
        adv, ret = lm_gae(rew, val, ro.mask, cfg.gamma, cfg.gae_lambda)                                # 3. GAE
        m = ro.mask
        adv_m = (adv[m] - adv[m].mean()) / (adv[m].std() + 1e-8)                                # whitened
        for _ in range(cfg.epochs):                                                             # 4. clipped updates
            logp, _, hidden = token_logprobs(policy, ro.tokens, full=True)
            pg_loss = ppo_clip_loss(logp[m], ro.logp[m], adv_m, cfg.clip_eps)
            v_loss = ((critic(hidden, ro.prefix_rm)[m] - ret[m]) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            (pg_loss + cfg.vf_coef * v_loss).backward()
            nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
            nn.utils.clip_grad_norm_(critic.parameters(), cfg.max_grad_norm)
            opt.step()
        ratio = (logp[m].detach() - ro.logp[m]).exp()
        hist.log(proxy=ro.score.mean(), gold=ro.gold.mean(), kl=ro.kl.mean(), value_loss=v_loss.item(),
                 approx_kl=approx_kl(logp[m].detach(), ro.logp[m]),
                 clip_frac=((ratio - 1).abs() > cfg.clip_eps).float().mean(), length=m.sum(1).float().mean())
    hist.seconds = time.perf_counter() - start
    return policy.eval(), hist


@dataclass
class GRPOConfig:
    """GRPO: group-relative advantages, no value head, a k3 KL term to the frozen SFT model."""
    seed: int = 0
    kl_coef: float = 1.0           # k3 coefficient (per token, averaged over each completion)
    iterations: int = 60
    n_prompts: int = 8
    group_size: int = 8            # completions per prompt (n_prompts * group_size = PPO's 64 sequences)
    steps: int = 2                 # gradient steps per batch (mu)
    lr: float = 5e-4               # Adam (a 1/|o_i|-weighted loss takes smaller steps than PPO's per token)
    adam_eps: float = 1e-5
    clip_eps: float = 0.2
    adv_eps: float = 1e-4          # std guard of the group normalisation
    max_grad_norm: float = 1.0
    eval_every: int = 5

    def __post_init__(self):
        _check_common(self)
        nonnegative_float(self.kl_coef, "kl_coef")
        positive_int(self.n_prompts, "n_prompts")
        positive_int(self.steps, "steps")
        positive_float(self.adv_eps, "adv_eps")
        if positive_int(self.group_size, "group_size") < 2:
            raise ValueError(f"group_size must be at least 2 (a group needs a mean to compare with), got {self.group_size}")


def k3_kl(logp: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(pi || pi_ref) from samples of pi: exp(d) - d - 1 with d = logp_ref - logp
    (never negative; unbiased for the KL; its gradient pulls logp towards logp_ref)."""
    d = logp_ref - logp
    return d.exp() - d - 1


def train_grpo(cfg: GRPOConfig, sft: GPT, rm, evalset: EvalSet, advantage_fn=grpo_advantages) -> tuple[GPT, History]:
    """GRPO from the SFT model; loss 1/B sum_i 1/|o_i| sum_t -(clipped ratio * A_i - kl_coef * k3_it).
    advantage_fn(rew (P, G), eps) -> (P, G): the group-normalised advantage (an exercise's answer can be passed in)."""
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rng, generator = np.random.default_rng(cfg.seed), torch.Generator().manual_seed(cfg.seed)
    policy, ref = trainable_copy(sft), frozen_copy(sft)
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr, eps=cfg.adam_eps)
    hist = History("grpo", asdict(cfg))
    P, G = cfg.n_prompts, cfg.group_size
    for it in range(cfg.iterations + 1):
        if it % cfg.eval_every == 0 or it == cfg.iterations:
            hist.record(it, evaluate(policy, ref, rm, evalset))
        if it == cfg.iterations:
            break
        prompts = [p for p in lang.sample_prompts(P, rng) for _ in range(G)]                   # G per prompt
        ro = collect(policy, ref, rm, prompts, generator)
        adv = advantage_fn(ro.score.view(P, G), cfg.adv_eps).reshape(-1, 1)                    # one per completion
        m, n_tok = ro.mask, ro.mask.sum(1)
        for _ in range(cfg.steps):
            logp = token_logprobs(policy, ro.tokens)
            ratio = (logp - ro.logp).exp()
            surrogate = torch.minimum(ratio * adv, ratio.clamp(1 - cfg.clip_eps, 1 + cfg.clip_eps) * adv)
            per_token = -(surrogate - cfg.kl_coef * k3_kl(logp, ro.logp_ref))
            loss = ((per_token * m).sum(1) / n_tok).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
            opt.step()
        hist.log(proxy=ro.score.mean(), gold=ro.gold.mean(), kl=ro.kl.mean(),
                 approx_kl=approx_kl(logp[m].detach(), ro.logp[m]), length=m.sum(1).float().mean(),
                 group_std=ro.score.view(P, G).std(1).mean(), prompt_std=ro.score.view(P, G).mean(1).std())
    hist.seconds = time.perf_counter() - start
    return policy.eval(), hist
