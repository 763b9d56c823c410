"""pgcourse.lm.reward: preference pairs from the gold preference and the bag-of-words Bradley-Terry model."""

import numpy as np
import pytest
import torch

from lm_support import tiny_pairs, tiny_rm, tiny_sft
from pgcourse.lm import language as L
from pgcourse.lm.reward import BowRewardModel, Pairs, RMConfig, bayes_accuracy, make_pairs, train_reward_model


def test_counts_scores_and_prefix_scores_agree():
    rm = BowRewardModel()
    with torch.no_grad():
        rm.w.copy_(torch.arange(L.V, dtype=torch.float32))
        rm.b.fill_(0.5)
    tokens = torch.from_numpy(L.pad_batch([L.encode("the nice cat sees a nice dog <eos>"),
                                           L.encode("a cat sees the dog")])[0])
    c = rm.counts(tokens)
    assert c[0, L.encode("nice")[1]] == 2 and c[:, [L.PAD, L.BOS, L.EOS]].sum() == 0
    torch.testing.assert_close(rm(tokens), c @ rm.w + 0.5)
    prefix = rm.prefix_scores(tokens)
    torch.testing.assert_close(prefix[:, -1], rm(tokens))             # the whole sentence
    for t in range(tokens.shape[1]):                                  # every prefix is the score of that prefix
        torch.testing.assert_close(prefix[:, t], rm(tokens[:, : t + 1]))
    assert set(rm.weights()) == {w for w in L.VOCAB if not w.startswith("<")}


def test_pairs_share_prompts_never_repeat_and_are_labelled_by_gold():
    train, _ = tiny_pairs()
    assert 0.8 * 600 < len(train) <= 600
    for p, a, b in zip(train.prompts, train.a, train.b):
        assert a[: len(p)] == p and b[: len(p)] == p
        assert not L.has_repeat(a) and not L.has_repeat(b)
    np.testing.assert_allclose(train.gold_a, L.gold_rewards(train.a))
    # labels follow sigmoid(dgold / tau): the more gold differs, the more often the better one wins
    dg = train.gold_a - train.gold_b
    big = np.abs(dg) > 1.0
    assert ((train.label > 0.5) == (dg > 0))[big].mean() > 0.8
    chosen, rejected = train.chosen, train.rejected
    assert all((c is a) == (lab > 0.5) and (r is b) == (lab > 0.5)
               for c, r, a, b, lab in zip(chosen, rejected, train.a, train.b, train.label))
    assert train.tokens("chosen", completion_only=True).shape[0] == len(train)


def test_bayes_accuracy_formula():
    p = Pairs([[1]] * 3, [[1]] * 3, [[1]] * 3, np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 2.0]),
              np.ones(3), tau=0.5)
    s = 1 / (1 + np.exp(-2.0))
    assert bayes_accuracy(p) == pytest.approx((s + 0.5 + (1 - 1 / (1 + np.exp(4.0)))) / 3)


def test_trained_reward_model_learns_the_sentiment_and_is_normalised():
    rm, val, sft = tiny_rm(), tiny_pairs()[1], tiny_sft()
    w = rm.weights()
    assert min(w[L.VOCAB[i]] for i in L.POSITIVE) > 0 > max(w[L.VOCAB[i]] for i in L.NEGATIVE)
    from pgcourse.lm.reward import accuracies, sample_completions
    acc_gold, acc_labels = accuracies(rm, val)
    assert acc_gold > 0.85 and 0.5 < acc_labels <= 1.0
    sents = sample_completions(sft, L.sample_prompts(400, np.random.default_rng(5)), torch.Generator().manual_seed(5))
    s = rm(torch.from_numpy(L.pad_batch(sents)[0]))
    assert abs(float(s.mean())) < 0.2 and abs(float(s.std()) - 1) < 0.2   # fresh samples: mean ~0, std ~1


def test_reward_model_history_and_bad_config():
    train, val = tiny_pairs()
    rm, hist = train_reward_model(train, val, tiny_sft(), RMConfig(seed=0, epochs=1, n_norm=100))
    assert len(hist.loss) == int(np.ceil(len(train) / 64)) and hist.eval_steps[-1] == len(hist.loss)
    assert hist.bayes_accuracy == pytest.approx(bayes_accuracy(val))
    with pytest.raises(ValueError, match="tau"):
        RMConfig(tau=0.0)
    with pytest.raises(ValueError, match="n"):
        make_pairs(tiny_sft(), 0, seed=0)
