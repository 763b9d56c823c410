"""pgcourse.lm.bench: the claims table and the command line (the full pipeline itself is the lesson's job)."""

import json

import pytest

from pgcourse.lm import bench


def _fake(seed=0, ppo1_kl=0.7):
    s = lambda g0, gp, gf, pf, kl, gram, klp=0.5: dict(gold_start=g0, gold_peak=gp, gold_final=gf,  # noqa: E731
                                                        proxy_start=0.0, proxy_final=pf, kl_final=kl,
                                                        kl_at_gold_peak=klp, grammatical_final=gram, seconds=1.0,
                                                        curve_kl=[0.0, kl], curve_gold=[g0, gf])
    return {"seed": seed, "sft": {"gap": 0.015, "grammatical": 0.95},
            "rm": {"acc_gold": 0.96, "acc_labels": 0.64, "bayes": 0.65, "min_w_positive": 1.0, "max_w_negative": -0.9},
            "hacked_sample": {"proxy": 20.0, "gold": -9.0, "repeats": 10},
            "ppo": {"0.0": {**s(0.0, 0.3, -9, 18, 45, 0.0), "approx_kl_median": 1e-3}, "0.5": s(0.0, 0.3, -4, 10, 15, 0.3),
                    "1.0": {**s(0.0, 0.5, 0.5, 1.0, ppo1_kl, 0.98), "curve_kl": [0.0, 0.3, ppo1_kl],
                            "curve_gold": [0.0, 0.3, 0.5]}, "3.0": s(0.0, 0.15, 0.1, 0.2, 0.04, 1.0)},
            "frontier": {"beta": list(bench.FRONTIER_BETAS), "kl": [0.6] * len(bench.FRONTIER_BETAS)},
            "dpo": {"1.0": {**s(0.0, 0.5, 0.45, 0.9, 0.5, 0.99), "val_margin": 0.4, "val_acc_gold": 0.96,
                            "val_logratio_chosen": -0.2, "val_logratio_rejected": -0.6}},
            "grpo": {"0.0": s(0.0, 0.5, -10, 20, 45, 0.0), "1.0": s(0.0, 0.6, 0.5, 1.5, 1.5, 0.9)}}


def test_claims_hold_on_a_good_run_and_fail_on_a_bad_one():
    assert all(bench.claims(_fake()).values())
    bad = bench.claims(_fake(ppo1_kl=20.0))
    assert not bad["ppo1_kl<=1.5"] and not bad["ppo_kl_decreasing_in_beta"] and bad["sft_gap<=0.03"]
    worse = _fake()
    worse["dpo"]["1.0"]["gold_final"] = 0.0   # 0.3 below the sweep's evaluation nearest KL 0.3 (gold 0.3)
    worse["dpo"]["1.0"]["kl_final"] = 0.3
    assert not bench.claims(worse)["gold_dpo-gold_ppo_sweep_at_matched_kl>=-0.2"]


def test_main_prints_one_json_line_per_seed_and_a_summary(monkeypatch, capsys):
    monkeypatch.setattr(bench, "run_rlhf_benchmark", lambda seed: {**_fake(seed), "claims": bench.claims(
        _fake(seed, ppo1_kl=0.7 if seed == 0 else 9.0))})
    assert bench.main(["--seeds", "0", "1"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [x.get("seed") for x in lines[:2]] == [0, 1]
    assert lines[2]["summary"] and lines[2]["claims_failed"]["ppo1_kl<=1.5"] == [1]


def test_stage_seeds_differ():
    s0, s1 = bench.stage_seeds(0), bench.stage_seeds(1)
    assert len(set(s0.values())) == len(s0) and not set(s0.values()) & set(s1.values())
