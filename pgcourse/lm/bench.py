"""Benchmark (lesson 7): the whole RLHF pipeline for one seed, as one JSON line.

    python -m pgcourse.lm.bench --seeds 0 1 2        (one JSON line per seed, then a summary line)

Stages, in the lesson's order and with its settings: SFT -> preference pairs -> reward model -> PPO sweep over
beta -> KL-optimal frontier -> DPO -> GRPO with and without its KL term. The line holds per-stage seconds and,
per method and beta, gold start/peak/final, proxy final, KL final and the grammatical fraction, plus every
claim the lesson asserts (`claims`), so a claim can be checked over many seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from pgcourse.lm import language as lang
from pgcourse.lm.dpo import DPOConfig, train_dpo
from pgcourse.lm.evaluate import EvalSet, kl_optimal_frontier
from pgcourse.lm.gpt import SFTConfig, sample, train_sft
from pgcourse.lm.reward import RMConfig, make_pairs, train_reward_model
from pgcourse.lm.rl import GRPOConfig, PPOLMConfig, train_grpo, train_ppo_lm

__all__ = ["BETAS", "GRPO_KL", "DPO_BETA", "FRONTIER_BETAS", "stage_seeds", "sft_grammatical", "run_rlhf_benchmark",
           "claims", "main"]

BETAS = (0.0, 0.5, 1.0, 3.0)          # the PPO sweep
GRPO_KL = (0.0, 1.0)                  # GRPO's k3 coefficient
DPO_BETA = 1.0
FRONTIER_BETAS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
N_EVAL, N_FRONTIER = 256, 128


def stage_seeds(seed: int) -> dict[str, int]:
    """The seed of each stage's random stream (the lesson uses the same)."""
    return {"pairs_train": 1000 + seed, "pairs_val": 2000 + seed, "eval": 3000 + seed, "sft_samples": 4000 + seed,
            "frontier": 5000 + seed}


@torch.no_grad()
def sft_grammatical(model, n: int, seed: int) -> float:
    """Fraction of n unconditional samples that the grammar can produce (strict: grammar_logprob > -inf)."""
    tokens, _ = sample(model, [[lang.BOS]] * n, generator=torch.Generator().manual_seed(seed))
    return float(np.mean([np.isfinite(lang.grammar_logprob(t.tolist())) for t in tokens]))


def run_rlhf_benchmark(seed: int) -> dict:
    """The whole pipeline for `seed` (one torch thread); a JSON-able dict (see the module docstring)."""
    torch.set_num_threads(1)
    seeds = stage_seeds(seed)
    out: dict = {"bench": "rlhf", "seed": seed}
    sec, cpu = {}, {}
    t0, c0 = time.perf_counter(), time.process_time()

    def lap(name: str, t: float, c: float) -> None:
        sec[name], cpu[name] = time.perf_counter() - t, time.process_time() - c

    t, c = time.perf_counter(), time.process_time()
    sft, sft_hist = train_sft(SFTConfig(seed=seed))
    lap("sft", t, c)
    out["sft"] = {"val_ce": sft_hist.val_ce, "entropy": sft_hist.entropy, "val_entropy": sft_hist.val_entropy,
                  "gap": sft_hist.gap,
                  "grammatical": sft_grammatical(sft, 1000, seeds["sft_samples"])}

    t, c = time.perf_counter(), time.process_time()
    train_pairs = make_pairs(sft, 3000, seeds["pairs_train"])
    val_pairs = make_pairs(sft, 1000, seeds["pairs_val"])
    lap("pairs", t, c)
    t, c = time.perf_counter(), time.process_time()
    rm, rm_hist = train_reward_model(train_pairs, val_pairs, sft, RMConfig(seed=seed))
    lap("rm", t, c)
    w = rm.weights()
    out["rm"] = {"n_pairs": len(train_pairs), "acc_gold": rm_hist.acc_gold, "acc_labels": rm_hist.acc_labels,
                 "bayes": rm_hist.bayes_accuracy, "min_w_positive": min(w[lang.VOCAB[i]] for i in lang.POSITIVE),
                 "max_w_negative": max(w[lang.VOCAB[i]] for i in lang.NEGATIVE), "w_very": w["very"]}

    evalset = EvalSet.make(N_EVAL, seeds["eval"])
    t, c = time.perf_counter(), time.process_time()
    out["ppo"] = {}
    for beta in BETAS:
        policy, h = train_ppo_lm(PPOLMConfig(seed=seed, beta=beta), sft, rm, evalset)
        out["ppo"][str(beta)] = {**h.summary(), "approx_kl_median": float(np.median(h.train["approx_kl"])),
                                 "curve_kl": h.evals["kl"], "curve_gold": h.evals["gold"]}
        if beta == 0:                                      # the lesson reads one hacked sample
            tokens, gen = sample(policy, evalset.prompts[:1], evalset.uniforms[:1])
            sentence = tokens[0][: int(gen[0].nonzero().max()) + 1].tolist()
            out["hacked_sample"] = {"proxy": float(rm(tokens)[0]), **lang.gold_parts(sentence)}
    lap("ppo_sweep", t, c)

    t, c = time.perf_counter(), time.process_time()
    ref_eval = kl_optimal_frontier(sft, rm, evalset, FRONTIER_BETAS, N_FRONTIER, seeds["frontier"])
    out["frontier"] = {k: [float(x) for x in v] for k, v in ref_eval.items()}
    lap("frontier", t, c)

    t, c = time.perf_counter(), time.process_time()
    _, h = train_dpo(DPOConfig(seed=seed, beta=DPO_BETA), sft, train_pairs, val_pairs, rm, evalset)
    out["dpo"] = {str(DPO_BETA): {**h.summary(), **{f"val_{k}": v for k, v in h.extra["val"].items()}}}
    lap("dpo", t, c)

    t, c = time.perf_counter(), time.process_time()
    out["grpo"] = {}
    for coef in GRPO_KL:
        _, h = train_grpo(GRPOConfig(seed=seed, kl_coef=coef), sft, rm, evalset)
        out["grpo"][str(coef)] = h.summary()
    lap("grpo", t, c)
    lap("total", t0, c0)
    out["seconds"] = {k: round(v, 2) for k, v in sec.items()}          # wall clock
    out["cpu_seconds"] = {k: round(v, 2) for k, v in cpu.items()}      # this process's CPU time
    out["claims"] = claims(out)
    return out


def claims(r: dict) -> dict[str, bool]:
    """Each claim the lesson asserts: name -> whether it holds in this run."""
    ppo, dpo, grpo = r["ppo"], r["dpo"][str(DPO_BETA)], r["grpo"]
    p0, p1, p3 = ppo["0.0"], ppo["1.0"], ppo["3.0"]
    f = r["frontier"]
    kl_star_1 = f["kl"][f["beta"].index(1.0)]
    kls = [ppo[str(b)]["kl_final"] for b in BETAS]
    best = max(BETAS, key=lambda b: ppo[str(b)]["gold_peak"])
    gain = lambda s: s["gold_final"] - s["gold_start"]  # noqa: E731
    sweep_kl = np.concatenate([ppo[str(b)]["curve_kl"] for b in BETAS])  # every evaluation of every beta
    sweep_gold = np.concatenate([ppo[str(b)]["curve_gold"] for b in BETAS])
    c = {
        "sft_gap<=0.03": r["sft"]["gap"] <= 0.03,
        "sft_grammatical>=0.9": r["sft"]["grammatical"] >= 0.9,
        "rm_acc_gold>=0.93": r["rm"]["acc_gold"] >= 0.93,
        "rm_|acc_labels-bayes|<=0.05": abs(r["rm"]["acc_labels"] - r["rm"]["bayes"]) <= 0.05,
        "rm_w_pos>=0.5_w_neg<=-0.5": r["rm"]["min_w_positive"] >= 0.5 and r["rm"]["max_w_negative"] <= -0.5,
        "ppo0_proxy_rise>=6": p0["proxy_final"] - p0["proxy_start"] >= 6,
        "ppo0_gold_drop<=-2": gain(p0) <= -2,
        "ppo0_gold_rises_first>=0.05": p0["gold_peak"] - p0["gold_start"] >= 0.05,
        "ppo0_grammatical<=0.1": p0["grammatical_final"] <= 0.1,
        "ppo1_gold_gain>=0.2": gain(p1) >= 0.2,
        "ppo1_kl<=1.5": p1["kl_final"] <= 1.5,
        "ppo1_grammatical>=0.9": p1["grammatical_final"] >= 0.9,
        "ppo3_kl<=0.1": p3["kl_final"] <= 0.1,
        "ppo3_|gain|<ppo1_gain": abs(gain(p3)) < gain(p1),
        "ppo_kl_decreasing_in_beta": all(a > b for a, b in zip(kls, kls[1:])),
        "ppo0_step_kl_median<0.05_and_final_kl>100x": p0["approx_kl_median"] < 0.05
        and p0["kl_final"] > 100 * p0["approx_kl_median"],
        "hacked_sample_proxy>6_gold<-1.5": r["hacked_sample"]["proxy"] > 6 and r["hacked_sample"]["gold"] < -1.5,
        "kl_at_best_gold_in[0.2,6]": 0.2 <= ppo[str(best)]["kl_at_gold_peak"] <= 6,
        "|kl_ppo1-kl*1|<=0.75": abs(p1["kl_final"] - kl_star_1) <= 0.75,
        "dpo_val_margin>=0.25": dpo["val_margin"] >= 0.25,
        "dpo_val_acc_gold>=0.88": dpo["val_acc_gold"] >= 0.88,
        "dpo_logratios_chosen<0_rejected<chosen": dpo["val_logratio_chosen"] < 0
        and dpo["val_logratio_rejected"] < dpo["val_logratio_chosen"],
        "dpo_gold_gain>=0.25": gain(dpo) >= 0.25,
        "dpo_kl<=1.5": dpo["kl_final"] <= 1.5,
        "dpo_grammatical>=0.9": dpo["grammatical_final"] >= 0.9,
        "|gold_dpo-gold_ppo1|<=0.3": abs(dpo["gold_final"] - p1["gold_final"]) <= 0.3,
        "gold_dpo-gold_ppo_sweep_at_matched_kl>=-0.2": dpo["gold_final"] - sweep_gold[int(np.argmin(
            np.abs(sweep_kl - dpo["kl_final"])))] >= -0.2,
        "grpo0_gold_drop<=-5": gain(grpo["0.0"]) <= -5,
        "grpo0_proxy>=12": grpo["0.0"]["proxy_final"] >= 12,
        "grpo1_gold_gain>=0.2": gain(grpo["1.0"]) >= 0.2,
        "grpo1_kl<=1.5": grpo["1.0"]["kl_final"] <= 1.5,
        "grpo1_grammatical>=0.9": grpo["1.0"]["grammatical_final"] >= 0.9,
    }
    return {k: bool(v) for k, v in c.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", "--seed", type=int, nargs="+", default=[0], help="one pipeline per seed")
    args = ap.parse_args(argv)
    failed: dict[str, list[int]] = {}
    for seed in args.seeds:
        r = run_rlhf_benchmark(seed)
        print(json.dumps(r), flush=True)
        for k, ok in r["claims"].items():
            if not ok:
                failed.setdefault(k, []).append(seed)
    if len(args.seeds) > 1:
        print(json.dumps({"summary": True, "seeds": args.seeds, "claims_failed": failed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
