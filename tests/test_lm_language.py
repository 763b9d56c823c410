"""pgcourse.lm.language: the toy grammar's exact probabilities and the gold preference."""

import itertools
import math

import numpy as np
import pytest

from pgcourse.lm import language as L


def test_vocabulary():
    assert L.V == 37 and len(set(L.VOCAB)) == 37
    assert len(L.POSITIVE) == len(L.NEGATIVE) == len(L.NEUTRAL) == 5 and len(L.NOUNS) == len(L.VERBS) == 8
    assert L.P_K.sum() == pytest.approx(1.0) and L.P_K[0] == pytest.approx(0.65) and L.P_K[4] == pytest.approx(0.35 ** 4)
    s = "the very nice cat sees a dog"
    assert L.decode(L.encode(s)) == s and L.encode(s)[0] == L.BOS
    with pytest.raises(ValueError, match="unknown words"):
        L.encode("the cat purrs")


def _all_noun_phrases(max_adj):
    for det in L.DETS:
        for k in range(max_adj + 1):
            for adjs in itertools.permutations(L.ADJS, k):
                for very in itertools.product([False, True], repeat=k):
                    mods = [t for a, v in zip(adjs, very) for t in ([L.VERY, a] if v else [a])]
                    for noun in L.NOUNS:
                        yield [int(det)] + [int(m) for m in mods] + [int(noun)]


def test_grammar_logprob_is_normalised():
    """Summed over every subject noun phrase with at most two adjectives (object and verb fixed), the exact
    sentence probabilities add up to P(k <= 2) * P(verb) * P(object)."""
    obj = [int(L.DETS[0]), int(L.NOUNS[0])]                       # "the cat": P = 1/2 * P(k=0) * 1/8
    verb = int(L.VERBS[0])
    total = sum(math.exp(L.grammar_logprob([L.BOS] + np1 + [verb] + obj + [L.EOS])) for np1 in _all_noun_phrases(2))
    assert total == pytest.approx(L.P_K[:3].sum() * (1 / 8) * (0.5 * L.P_K[0] / 8), rel=1e-9)


def test_grammar_rejects_what_it_cannot_produce():
    ok = L.encode("the very nice cat sees a dog <eos>")
    assert np.isfinite(L.grammar_logprob(ok))
    for bad in ["the nice nice cat sees a dog <eos>",          # repeated adjective
                "the very very nice cat sees a dog <eos>",     # "very very"
                "the good nice kind happy great cat sees a dog <eos>",  # 5 adjectives
                "the cat sees a dog",                           # no <eos>
                "the cat sees a dog sees <eos>", "cat sees a dog <eos>", "the very cat sees a dog <eos>"]:
        assert L.grammar_logprob(L.encode(bad)) == -math.inf, bad


def test_exact_entropy_matches_monte_carlo():
    exact = L.exact_entropy()
    rng = np.random.default_rng(0)
    sents = L.sample_sentences(20_000, rng)
    nll = -np.array([L.grammar_logprob(s) for s in sents])
    n_tok = np.array([len(s) - 1 for s in sents])
    assert exact["per_token"] == pytest.approx(1.7658, abs=1e-4)
    assert abs(nll.sum() / n_tok.sum() - exact["per_token"]) < 0.01
    assert abs(nll.mean() - exact["sentence"]) < 4 * nll.std() / math.sqrt(len(nll))
    assert abs(n_tok.mean() - exact["tokens"]) < 4 * n_tok.std() / math.sqrt(len(n_tok))


def test_samples_follow_the_grammar_and_its_statistics():
    rng = np.random.default_rng(1)
    sents = L.sample_sentences(5000, rng)
    assert all(np.isfinite(L.grammar_logprob(s)) and L.is_grammatical(s) for s in sents)
    nps = L.sample_noun_phrases(20_000, rng)
    k = np.array([sum(L.word_class(t) == "adj" for t in p) for p in nps])
    np.testing.assert_allclose(np.bincount(k, minlength=5) / len(k), L.P_K, atol=0.01)
    # "very" mostly before positive adjectives: P(very | positive) = 0.5, otherwise 0.15
    pairs = [(p[i - 1] == L.VERY, t) for p in nps for i, t in enumerate(p) if L.word_class(t) == "adj"]
    pos = np.mean([v for v, t in pairs if t in L.POSITIVE])
    neg = np.mean([v for v, t in pairs if t in L.NEGATIVE])
    assert abs(pos - 0.5) < 0.03 and abs(neg - 0.15) < 0.02


def test_prompts_end_with_verb_and_determiner():
    for p in L.sample_prompts(200, np.random.default_rng(2)):
        assert p[0] == L.BOS and L.word_class(p[-1]) == "det" and L.word_class(p[-2]) == "verb"
        assert sum(L.word_class(t) == "verb" for t in p) == 1


@pytest.mark.parametrize("text, parts", [
    ("the cat sees a dog <eos>", dict(sentiment=0, repeats=0, words=5, grammatical=1)),
    ("the very nice cat sees a sad dog <eos>", dict(sentiment=0.5, repeats=0, words=8, grammatical=1)),
    ("the cat sees a nice nice very very happy dog <eos>", dict(sentiment=3.5, repeats=2, words=10, grammatical=1)),
    ("the cat sees a nice happy", dict(sentiment=2, repeats=0, words=6, grammatical=0)),
    ("the cat sees a good good good good good good good good good good dog <eos>",
     dict(sentiment=10, repeats=9, words=15, grammatical=1)),
])
def test_gold_parts_by_hand(text, parts):
    got = L.gold_parts(L.encode(text))
    for k, v in parts.items():
        assert got[k] == pytest.approx(v), (k, got)
    s, rep, n, gram = parts["sentiment"], parts["repeats"], parts["words"], parts["grammatical"]
    gold = 2 * math.tanh(s / 2) - 0.7 * rep - 0.15 * max(0, n - 12) - 2 * (1 - gram)
    assert got["gold"] == pytest.approx(gold) and L.gold_reward(L.encode(text)) == pytest.approx(gold)


def test_gold_prefers_one_good_word_to_stuffing():
    one = L.gold_reward(L.encode("the cat sees a very happy dog <eos>"))
    stuffed = L.gold_reward(L.encode("the cat sees a happy happy happy happy happy happy happy happy happy"))
    assert one > 1.0 > 0 > -5 > stuffed
    assert L.has_repeat(L.encode("a cat sees a nice nice dog <eos>")) and not L.has_repeat(L.encode("a nice cat sees a nice dog <eos>"))


def test_pad_batch_and_bad_input():
    arr, lens = L.pad_batch([[1, 3], [1, 3, 5, 2]])
    assert arr.tolist() == [[1, 3, 0, 0], [1, 3, 5, 2]] and lens.tolist() == [2, 4]
    with pytest.raises(ValueError, match="length"):
        L.pad_batch([[1, 2, 3]], length=2)
    with pytest.raises(ValueError, match="positive int"):
        L.sample_sentences(0, np.random.default_rng(0))
