"""pgcourse.lm.dpo: completion masks, sequence log-probabilities, and DPO steps that widen the margin."""

import numpy as np
import pytest
import torch

from lm_support import tiny_pairs, tiny_rm, tiny_sft
from pgcourse.lm import language as L
from pgcourse.lm.dpo import DPOConfig, completion_logprobs, implicit_rewards, pair_tensors, train_dpo
from pgcourse.lm.evaluate import EvalSet
from pgcourse.lm.gpt import frozen_copy, token_logprobs


def test_masks_cover_exactly_the_completions():
    train, _ = tiny_pairs()
    t = pair_tensors(train)
    for i in range(20):
        chosen = train.chosen[i]
        n_completion = len(chosen) - len(train.prompts[i])
        assert int(t.mask_chosen[i].sum()) == n_completion
        assert t.chosen[i, 1:][t.mask_chosen[i]].tolist() == chosen[len(train.prompts[i]):]
    np.testing.assert_allclose(t.gold_chosen, L.gold_rewards(train.chosen))


def test_completion_logprobs_is_log_pi_of_the_completion():
    sft = tiny_sft()
    train, _ = tiny_pairs()
    t = pair_tensors(train)
    with torch.no_grad():
        lp = completion_logprobs(sft, t.chosen[:5], t.mask_chosen[:5])
        full = token_logprobs(sft, t.chosen[:5])
    for i in range(5):
        plen = len(train.prompts[i])
        n = len(train.chosen[i])
        assert lp[i].item() == pytest.approx(full[i, plen - 1:n - 1].sum().item(), rel=1e-5)


def test_dpo_widens_the_margin_and_starts_at_zero_implicit_reward():
    sft, rm = tiny_sft(), tiny_rm()
    train, val = tiny_pairs()
    r0 = implicit_rewards(sft, frozen_copy(sft), pair_tensors(val), 1.0)
    assert np.abs(r0["chosen"]).max() < 1e-5
    pol, hist = train_dpo(DPOConfig(seed=0, beta=1.0, lr=1e-3, epochs=1, eval_every=5), sft, train, val, rm,
                          EvalSet.make(16, seed=4))
    m = hist.train["margin"]
    assert len(m) == int(np.ceil(len(train) / 64)) and np.mean(m[-3:]) > np.mean(m[:3])
    assert hist.train["loss"][0] == pytest.approx(np.log(2), abs=0.02)
    v = hist.extra["val"]
    assert v["margin"] > 0 and 0.5 < v["acc_gold"] <= 1 and hist.iteration[0] == 0 and hist.iteration[-1] == len(m)
    with pytest.raises(ValueError, match="beta"):
        DPOConfig(beta=0)
