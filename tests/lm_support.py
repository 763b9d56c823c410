"""Small trained models shared by the tests of pgcourse.lm (built once per test session)."""

from functools import lru_cache

import torch

from pgcourse.lm.gpt import GPTConfig, SFTConfig, train_sft
from pgcourse.lm.reward import BowRewardModel, RMConfig, make_pairs, train_reward_model


@lru_cache(maxsize=None)
def tiny_sft():
    """A 1-layer, d = 32 GPT after 120 SFT steps (about 2 s): mostly grammatical, far from converged."""
    torch.set_num_threads(1)
    model, _ = train_sft(SFTConfig(seed=0, n_sentences=3000, n_val=200, steps=120, batch_size=32,
                                   model=GPTConfig(d_model=32, n_layers=1, n_heads=2)))
    return model


@lru_cache(maxsize=None)
def tiny_pairs():
    return make_pairs(tiny_sft(), 600, seed=1), make_pairs(tiny_sft(), 300, seed=2)


@lru_cache(maxsize=None)
def tiny_rm() -> BowRewardModel:
    train, val = tiny_pairs()
    rm, _ = train_reward_model(train, val, tiny_sft(), RMConfig(seed=0, n_norm=300))
    return rm
