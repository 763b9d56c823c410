"""Lesson 7's laboratory: RLHF on a tiny language model, end to end on a CPU.

- `language`: the toy grammar (exact entropy and sentence log-probabilities) and the hidden gold preference.
- `gpt`: a tiny causal transformer, its KV-cached batched sampler, and supervised fine-tuning.
- `reward`: preference pairs labelled by the gold preference, and the bag-of-words Bradley-Terry reward model.
- `rl`: PPO with a per-token KL penalty (lesson 5's PPO on `pgcourse.rlhf.kl_penalised_rewards`), and GRPO.
- `dpo`: direct preference optimisation on the same pairs.
- `evaluate`: the one held-out evaluation every method uses, run histories, and the KL-regularised optimum.
- `bench`: the whole pipeline for one seed as one JSON line (`python -m pgcourse.lm.bench --seeds 0 1 2`).
"""
