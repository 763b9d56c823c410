"""pgcourse.lm.evaluate: exact KL, the shared evaluation with common random numbers, and the frontier."""

import numpy as np
import pytest
import torch

from lm_support import tiny_rm, tiny_sft
from pgcourse.lm import language as L
from pgcourse.lm.evaluate import EvalSet, History, evaluate, kl_optimal_frontier, sequence_kl
from pgcourse.lm.gpt import frozen_copy, sample


def test_sequence_kl_is_the_exact_kl_of_each_position():
    p = torch.log_softmax(torch.tensor([[[1.0, 0.0, -1.0], [0.0, 0.0, 0.0]]]), -1)
    q = torch.log_softmax(torch.tensor([[[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]]]), -1)
    kl = sequence_kl(p, q, torch.tensor([[True, False]]))
    P, Q = p.exp()[0, 0], q.exp()[0, 0]
    assert kl.item() == pytest.approx(float((P * (P / Q).log()).sum()))
    assert sequence_kl(p, p, torch.ones(1, 2, dtype=torch.bool)).item() == pytest.approx(0.0, abs=1e-7)


def test_evaluation_uses_common_random_numbers():
    sft, rm = tiny_sft(), tiny_rm()
    ev = EvalSet.make(32, seed=1)
    a, b = evaluate(sft, frozen_copy(sft), rm, ev), evaluate(sft, frozen_copy(sft), rm, ev)
    assert a == b and a["kl"] == pytest.approx(0.0, abs=1e-5) and len(a["samples"]) == 3
    tokens, gen = sample(sft, ev.prompts, ev.uniforms)
    assert a["length"] == pytest.approx(gen.sum(1).float().mean().item())
    assert a["proxy"] == pytest.approx(rm(tokens).mean().item(), abs=1e-6)
    assert EvalSet.make(32, seed=1).prompts == ev.prompts and EvalSet.make(32, seed=2).prompts != ev.prompts


def test_history_summary():
    h = History("ppo", {})
    for i, g in enumerate([0.0, 0.5, -1.0]):
        h.record(5 * i, {"gold": g, "proxy": i, "kl": i * 2.0, "grammatical": 1.0, "repeats": 0.0, "length": 3.0,
                         "samples": ["x"]})
    s = h.summary()
    assert (s["gold_start"], s["gold_peak"], s["gold_final"], s["kl_at_gold_peak"], s["proxy_final"]) == (
        0.0, 0.5, -1.0, 2.0, 2)
    assert h.curve("kl").tolist() == [0.0, 2.0, 4.0]


def test_frontier_limits():
    sft, rm = tiny_sft(), tiny_rm()
    ev = EvalSet.make(8, seed=2)
    f = kl_optimal_frontier(sft, rm, ev, [0.0, 0.5, 2.0, 1e6], n_samples=64, seed=0)
    assert f["kl"][-1] == pytest.approx(0.0, abs=1e-6)                    # beta -> infinity: pi_ref itself
    assert f["kl"][0] <= np.log(64) + 1e-9                                 # beta = 0: the best of 64 samples
    assert all(a >= b for a, b in zip(f["kl"], f["kl"][1:]))               # KL falls with beta ...
    assert all(a >= b - 1e-9 for a, b in zip(f["proxy"], f["proxy"][1:]))  # ... and so does the proxy reward
    with pytest.raises(ValueError, match="beta"):
        kl_optimal_frontier(sft, rm, ev, [-1.0], n_samples=4)
