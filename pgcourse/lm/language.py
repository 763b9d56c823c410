"""A toy language with a known distribution (lesson 7), and the hidden "gold" human preference over its sentences.

Vocabulary (V = 37): `<pad> <bos> <eos>`, 2 determiners, 8 nouns, 8 verbs, 15 adjectives (5 positive, 5 negative,
5 neutral) and "very". Grammar:

    S  -> <bos> NP VERB NP <eos>
    NP -> DET ("very"? ADJ)^k NOUN      k = 0..4: P(k) = 0.65 * 0.35^k (k < 4), 0.35^4 (k = 4)

Within an NP the adjectives are drawn uniformly without replacement (never repeated); "very" comes before an
adjective with probability 0.5 for a positive one and 0.15 otherwise (so "very" mostly precedes nice words).
The parse of a sentence is unique, so its log-probability (`grammar_logprob`) and the language's entropy
(`exact_entropy`) are exact. Sentences are lists of token ids that start with <bos>.

The gold preference (`gold_reward`), which the reward model never sees, scores a sentence by
    2 tanh(s / 2) - 0.7 rep - 0.15 max(0, L - 12) - 2 [not grammatical]
with s the summed adjective valences (x1.5 after "very"), rep the adjectives repeated within one noun phrase
plus "very very" pairs, and L the number of words.
"""

from __future__ import annotations

import math
import re
from typing import Iterable, Sequence

import numpy as np

from pgcourse.util import positive_int

__all__ = ["VOCAB", "V", "PAD", "BOS", "EOS", "VERY", "DETS", "NOUNS", "VERBS", "ADJS", "POSITIVE", "NEGATIVE",
           "NEUTRAL", "VALENCE", "MAX_LEN", "P_K", "P_VERY", "encode", "decode", "word_class",
           "sample_noun_phrases", "sample_sentences", "sample_prompts", "grammar_logprob", "exact_entropy",
           "is_grammatical", "gold_parts", "gold_reward", "gold_rewards", "has_repeat", "pad_batch"]

_DET = ["the", "a"]
_NOUN = ["cat", "dog", "fox", "bird", "man", "woman", "child", "teacher"]
_VERB = ["chases", "likes", "helps", "meets", "watches", "calls", "finds", "sees"]
_POS = ["good", "nice", "happy", "great", "kind"]
_NEG = ["bad", "sad", "angry", "awful", "rude"]
_NEU = ["big", "small", "red", "old", "young"]
VOCAB: tuple[str, ...] = tuple(["<pad>", "<bos>", "<eos>"] + _DET + _NOUN + _VERB + _POS + _NEG + _NEU + ["very"])
V = len(VOCAB)
PAD, BOS, EOS = 0, 1, 2
_ID = {w: i for i, w in enumerate(VOCAB)}
DETS = np.array([_ID[w] for w in _DET])
NOUNS = np.array([_ID[w] for w in _NOUN])
VERBS = np.array([_ID[w] for w in _VERB])
POSITIVE = np.array([_ID[w] for w in _POS])
NEGATIVE = np.array([_ID[w] for w in _NEG])
NEUTRAL = np.array([_ID[w] for w in _NEU])
ADJS = np.concatenate([POSITIVE, NEGATIVE, NEUTRAL])
VERY = _ID["very"]
MAX_LEN = 24                      # tokens including <bos>; the longest sentence of the grammar has 23
MAX_ADJ = 4
P_CONTINUE = 0.35                 # after each adjective slot (fewer than 4), another one follows w.p. 0.35
P_K = np.array([(1 - P_CONTINUE) * P_CONTINUE ** k for k in range(MAX_ADJ)] + [P_CONTINUE ** MAX_ADJ])
P_VERY = np.zeros(V)
P_VERY[POSITIVE], P_VERY[NEGATIVE], P_VERY[NEUTRAL] = 0.5, 0.15, 0.15
VALENCE = np.zeros(V)
VALENCE[POSITIVE], VALENCE[NEGATIVE] = 1.0, -1.0

_CLASS = np.array(["special"] * 3 + ["det"] * 2 + ["noun"] * 8 + ["verb"] * 8 + ["adj"] * 15 + ["very"])
_IS_ADJ = np.zeros(V, bool)
_IS_ADJ[ADJS] = True
_IS_DET, _IS_NOUN, _IS_VERB = (np.isin(np.arange(V), x) for x in (DETS, NOUNS, VERBS))


def word_class(token: int) -> str:
    """'special', 'det', 'noun', 'verb', 'adj' or 'very'."""
    return str(_CLASS[token])


def encode(text: str) -> list[int]:
    """'the cat sees a dog' -> [<bos>, the, cat, sees, a, dog] (no <eos> unless written)."""
    words = text.split()
    unknown = [w for w in words if w not in _ID]
    if unknown:
        raise ValueError(f"unknown words {unknown}; the vocabulary is {' '.join(VOCAB[3:])}")
    ids = [_ID[w] for w in words]
    return ids if ids[:1] == [BOS] else [BOS] + ids


def decode(tokens: Iterable[int], keep_special: bool = False) -> str:
    """Token ids to text; <pad> and <bos> dropped (and <eos> unless keep_special)."""
    drop = {PAD, BOS} if keep_special else {PAD, BOS, EOS}
    return " ".join(VOCAB[int(t)] for t in tokens if int(t) not in drop)


# ----------------------------------------------------------------------------- sampling
def sample_noun_phrases(n: int, rng: np.random.Generator) -> list[list[int]]:
    """n noun phrases drawn from the grammar (vectorised draws, then assembled)."""
    n = positive_int(n, "n")
    det = DETS[rng.integers(0, 2, n)]
    k = np.searchsorted(np.cumsum(P_K), rng.random(n) * P_K.sum(), side="right").clip(max=MAX_ADJ)
    adj = ADJS[np.argsort(rng.random((n, len(ADJS))), axis=1)[:, :MAX_ADJ]]   # without replacement
    very = rng.random((n, MAX_ADJ)) < P_VERY[adj]
    noun = NOUNS[rng.integers(0, len(NOUNS), n)]
    out = []
    for i in range(n):
        np_ = [int(det[i])]
        for j in range(int(k[i])):
            if very[i, j]:
                np_.append(VERY)
            np_.append(int(adj[i, j]))
        np_.append(int(noun[i]))
        out.append(np_)
    return out


def sample_sentences(n: int, rng: np.random.Generator) -> list[list[int]]:
    """n sentences <bos> NP VERB NP <eos> from the grammar."""
    n = positive_int(n, "n")
    nps = sample_noun_phrases(2 * n, rng)
    verbs = VERBS[rng.integers(0, len(VERBS), n)]
    return [[BOS] + nps[2 * i] + [int(verbs[i])] + nps[2 * i + 1] + [EOS] for i in range(n)]


def sample_prompts(n: int, rng: np.random.Generator) -> list[list[int]]:
    """n prompts <bos> NP VERB DET: the policy writes the object's adjectives, its noun and <eos>."""
    return [s[: s.index(next(t for t in s[2:] if _IS_VERB[t])) + 2] for s in sample_sentences(n, rng)]


def pad_batch(seqs: Sequence[Sequence[int]], length: int | None = None):
    """Right-pad token lists with <pad>: (N, length) int64 array and (N,) lengths."""
    lens = np.array([len(s) for s in seqs])
    length = int(lens.max()) if length is None else int(length)
    if lens.max() > length:
        raise ValueError(f"a sequence has {lens.max()} tokens, more than length={length}")
    out = np.full((len(seqs), length), PAD, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out, lens


# ----------------------------------------------------------------------------- exact probabilities
def _np_logprob(tokens: Sequence[int], i: int) -> tuple[float, int]:
    """Log-probability of the NP starting at tokens[i] and the index after it; -inf if it is not one."""
    if i >= len(tokens) or not _IS_DET[tokens[i]]:
        return -math.inf, i
    lp, i, used = math.log(0.5), i + 1, []
    while i < len(tokens) and (tokens[i] == VERY or _IS_ADJ[tokens[i]]):
        very = tokens[i] == VERY
        if very:
            i += 1
            if i >= len(tokens) or not _IS_ADJ[tokens[i]]:
                return -math.inf, i
        a = tokens[i]
        if a in used or len(used) == MAX_ADJ:
            return -math.inf, i
        lp += -math.log(len(ADJS) - len(used)) + math.log(P_VERY[a] if very else 1 - P_VERY[a])
        used.append(a)
        i += 1
    if i >= len(tokens) or not _IS_NOUN[tokens[i]]:
        return -math.inf, i
    return lp + math.log(P_K[len(used)]) - math.log(len(NOUNS)), i + 1


def grammar_logprob(tokens: Sequence[int]) -> float:
    """Exact log P(sentence) under the grammar (nats); -inf for a sentence the grammar cannot produce.
    `tokens` starts with <bos> and ends with <eos> (trailing <pad> ignored)."""
    t = [int(x) for x in tokens]
    while t and t[-1] == PAD:
        t.pop()
    if t[:1] != [BOS]:
        return -math.inf
    lp, i = _np_logprob(t, 1)
    if lp == -math.inf or i >= len(t) or not _IS_VERB[t[i]]:
        return -math.inf
    lp2, j = _np_logprob(t, i + 1)
    if lp2 == -math.inf or t[j:] != [EOS]:
        return -math.inf
    return lp - math.log(len(VERBS)) + lp2


def exact_entropy() -> dict[str, float]:
    """The language's entropy, exactly: {'sentence': H nats, 'tokens': E[predicted tokens], 'per_token': ratio}.

    NP, VERB and NP are independent: H = 2 H(NP) + log 8, with
    H(NP) = log 2 + H(k) + sum_k P(k) [log(15!/(15-k)!) + k H(very | adj)] + log 8
    (each adjective slot is uniform over the 15 adjectives by symmetry). Predicted tokens exclude <bos>.
    """
    k = np.arange(MAX_ADJ + 1)
    h_k = -(P_K * np.log(P_K)).sum()
    log_perm = np.array([sum(math.log(len(ADJS) - i) for i in range(j)) for j in k])
    pv = P_VERY[ADJS]
    h_very = float(np.mean(-(pv * np.log(pv) + (1 - pv) * np.log(1 - pv))))
    h_np = math.log(2) + h_k + float((P_K * (log_perm + k * h_very)).sum()) + math.log(len(NOUNS))
    e_k = float((P_K * k).sum())
    len_np = 1 + e_k * (1 + float(pv.mean())) + 1
    h, n_tok = 2 * h_np + math.log(len(VERBS)), 2 * len_np + 2   # + verb + <eos>
    return {"sentence": h, "tokens": n_tok, "per_token": h / n_tok}


# ----------------------------------------------------------------------------- gold preference
_LOOSE = re.compile(r"^BD(?:V*A)*NXD(?:V*A)*NE$")
_CODE = {"det": "D", "noun": "N", "verb": "X", "adj": "A", "very": "V"}


def _words(tokens: Sequence[int]) -> list[int]:
    return [int(t) for t in tokens if int(t) not in (PAD, BOS, EOS)]


def is_grammatical(tokens: Sequence[int]) -> bool:
    """DET (very* ADJ)* NOUN VERB DET (very* ADJ)* NOUN <eos>, any number of adjectives, repeats allowed."""
    t = [int(x) for x in tokens]
    while t and t[-1] == PAD:
        t.pop()
    codes = []
    for x in t:
        c = word_class(x)
        codes.append("B" if x == BOS else "E" if x == EOS else "P" if x == PAD else _CODE[c])
    return bool(_LOOSE.match("".join(codes)))


def gold_parts(tokens: Sequence[int]) -> dict[str, float]:
    """The terms of the gold score: sentiment s, repeats rep, words L, grammatical (1.0 or 0.0), and gold."""
    s, rep, seen, prev_very = 0.0, 0, set(), False
    words = _words(tokens)
    for t in words:
        if _IS_ADJ[t]:
            s += float(VALENCE[t]) * (1.5 if prev_very else 1.0)
            rep += t in seen
            seen.add(t)
            prev_very = False
        elif t == VERY:
            rep += prev_very               # "very very"
            prev_very = True
        else:                              # any other word ends the run of modifiers
            seen, prev_very = set(), False
    gram = is_grammatical(tokens)
    L = len(words)
    gold = 2 * math.tanh(s / 2) - 0.7 * rep - 0.15 * max(0, L - 12) - 2.0 * (not gram)
    return {"sentiment": s, "repeats": float(rep), "words": float(L), "grammatical": float(gram), "gold": gold}


def gold_reward(tokens: Sequence[int]) -> float:
    """The hidden human's score of one sentence (see the module docstring)."""
    return gold_parts(tokens)["gold"]


def gold_rewards(seqs: Iterable[Sequence[int]]) -> np.ndarray:
    """gold_reward of each sentence, (N,)."""
    return np.array([gold_reward(s) for s in seqs], dtype=np.float64)


def has_repeat(tokens: Sequence[int]) -> bool:
    """True if an adjective repeats within a noun phrase or "very very" occurs."""
    return gold_parts(tokens)["repeats"] > 0
