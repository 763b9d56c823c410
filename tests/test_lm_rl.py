"""pgcourse.lm.rl: rollouts, per-token GAE, the value head, PPO on the LM and GRPO."""

import numpy as np
import pytest
import torch

from lm_support import tiny_rm, tiny_sft
from pgcourse.lm import language as L
from pgcourse.lm.evaluate import EvalSet
from pgcourse.lm.gpt import frozen_copy, token_logprobs
from pgcourse.lm.rl import (GRPOConfig, PPOLMConfig, ValueHead, collect, k3_kl, lm_gae, train_grpo, train_ppo_lm,
                            trainable_copy)
from pgcourse.rlhf import kl_penalised_rewards


@pytest.fixture(scope="module")
def rollout():
    sft = tiny_sft()
    prompts = L.sample_prompts(12, np.random.default_rng(0))
    return collect(sft, frozen_copy(sft), tiny_rm(), prompts, torch.Generator().manual_seed(0))


def test_rollout_is_aligned_with_token_logprobs(rollout):
    ro = rollout
    B, Lt = ro.tokens.shape
    assert ro.mask.shape == ro.logp.shape == ro.prefix_rm.shape == (B, Lt - 1)
    assert torch.equal(ro.mask, ro.gen[:, 1:])
    torch.testing.assert_close(ro.logp, token_logprobs(tiny_sft(), ro.tokens).detach(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ro.logp, ro.logp_ref, atol=1e-5, rtol=1e-5)   # the policy is still the reference
    assert ro.kl.abs().max() < 1e-5
    torch.testing.assert_close(ro.score, tiny_rm()(ro.tokens))
    np.testing.assert_allclose(ro.gold, [L.gold_reward(list(p) + row[g].tolist())
                                         for p, row, g in zip(ro.prompts, ro.tokens, ro.gen)])
    # the value before the last generated token sees the sentence up to that token
    last = ro.mask.shape[1] - 1 - ro.mask.flip(1).int().argmax(1)
    torch.testing.assert_close(ro.prefix_rm[torch.arange(B), last],
                               tiny_rm().prefix_scores(ro.tokens)[torch.arange(B), last])


def test_lm_gae_by_hand():
    """One completion of 3 tokens after 1 prompt position, then padding: gamma = 1, lam = 1 gives
    return-to-go minus V; lam = 0 gives the one-step TD error."""
    mask = torch.tensor([[False, True, True, True, False]])
    rew = torch.tensor([[0.0, -0.1, -0.2, 1.0, 0.0]])
    val = torch.tensor([[9.0, 0.5, 0.4, 0.3, 9.0]])
    adv, ret = lm_gae(rew, val, mask, 1.0, 1.0)
    torch.testing.assert_close(adv, torch.tensor([[0.0, 0.7 - 0.5, 0.8 - 0.4, 1.0 - 0.3, 0.0]]))
    torch.testing.assert_close(ret, torch.tensor([[0.0, 0.7, 0.8, 1.0, 0.0]]))
    adv0, _ = lm_gae(rew, val, mask, 1.0, 0.0)
    torch.testing.assert_close(adv0, torch.tensor([[0.0, -0.1 + 0.4 - 0.5, -0.2 + 0.3 - 0.4, 1.0 - 0.3, 0.0]]))


def test_sum_of_per_token_rewards_is_the_kl_penalised_return(rollout):
    """With gamma = 1 the token-level MDP's return is the bandit view's score - beta * log(pi / pi_ref)."""
    ro = rollout
    torch.manual_seed(0)
    noisy_ref = ro.logp_ref - torch.rand_like(ro.logp_ref)
    rew = kl_penalised_rewards(ro.score, ro.logp, noisy_ref, ro.mask, 0.7)
    seq = ro.score - 0.7 * ((ro.logp - noisy_ref) * ro.mask).sum(1)
    torch.testing.assert_close(rew.sum(1), seq)


def test_value_head_starts_as_the_reward_model(rollout):
    head = ValueHead(32)
    torch.testing.assert_close(head(rollout.hidden, rollout.prefix_rm), rollout.prefix_rm)
    h = rollout.hidden.clone().requires_grad_()
    head(h, rollout.prefix_rm).sum().backward()
    assert h.grad is None or h.grad.abs().sum() == 0                     # no value gradient reaches the policy


def test_k3_is_a_nonnegative_unbiased_kl_estimate():
    torch.manual_seed(0)
    p, q = torch.tensor([0.6, 0.3, 0.1]), torch.tensor([0.3, 0.3, 0.4])
    a = torch.multinomial(p, 200_000, replacement=True)
    k3 = k3_kl(p.log()[a], q.log()[a])
    kl = (p * (p / q).log()).sum()
    assert k3.min() >= 0 and abs(k3.mean() - kl) < 4 * k3.std() / np.sqrt(len(a))


def test_short_ppo_and_grpo_runs():
    sft, rm = tiny_sft(), tiny_rm()
    ev = EvalSet.make(16, seed=3)
    pol, hist = train_ppo_lm(PPOLMConfig(seed=0, beta=0.0, iterations=4, batch_size=16, eval_every=2), sft, rm, ev)
    assert hist.iteration == [0, 2, 4] and len(hist.train["proxy"]) == 4
    assert hist.evals["kl"][0] == pytest.approx(0.0, abs=1e-5) and hist.evals["kl"][-1] > 0
    assert all(np.isfinite(v).all() for v in hist.train.values()) and max(hist.train["approx_kl"]) < 1
    assert not pol.training and any((p1 != p2).any() for p1, p2 in zip(pol.parameters(), sft.parameters()))
    # the same config gives the same run
    _, again = train_ppo_lm(PPOLMConfig(seed=0, beta=0.0, iterations=4, batch_size=16, eval_every=2), sft, rm, ev)
    assert again.evals == hist.evals
    _, g = train_grpo(GRPOConfig(seed=0, iterations=3, n_prompts=2, group_size=4, eval_every=3), sft, rm, ev)
    assert g.iteration == [0, 3] and len(g.train["group_std"]) == 3
    assert g.summary()["gold_start"] == hist.summary()["gold_start"]   # one evaluation for every method


def test_configs_validate():
    with pytest.raises(ValueError, match="beta"):
        PPOLMConfig(beta=-1)
    with pytest.raises(ValueError, match="gae_lambda"):
        PPOLMConfig(gae_lambda=1.5)
    with pytest.raises(ValueError, match="group_size"):
        GRPOConfig(group_size=1)
    with pytest.raises(ValueError, match="kl_coef"):
        GRPOConfig(kl_coef=-0.1)
    p = trainable_copy(tiny_sft())
    assert p.training and all(q.requires_grad for q in p.parameters())
