"""pgcourse.lm.gpt: the tiny GPT, its KV cache, the batched sampler and SFT."""

import numpy as np
import pytest
import torch

from pgcourse.lm import language as L
from pgcourse.lm.gpt import (GPT, GPTConfig, SFTConfig, cross_entropy, frozen_copy, lr_factor, sample, token_logprobs,
                             train_sft)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = GPT().eval()
    with torch.no_grad():                      # sharper than the initial near-uniform weights
        for p in m.parameters():
            p.mul_(3.0)
    return m


@pytest.fixture(scope="module")
def prompts():
    return L.sample_prompts(16, np.random.default_rng(0))


def test_size_and_tied_embedding():
    m = GPT()
    assert sum(p.numel() for p in m.parameters()) == 104_000
    assert m.head(m.tok.weight[5][None]).shape == (1, L.V)   # the output head is the input embedding
    with pytest.raises(ValueError, match="multiple of n_heads"):
        GPTConfig(d_model=30, n_heads=4)


def test_padding_and_bos_are_never_predicted(model, prompts):
    tokens = torch.from_numpy(L.pad_batch(prompts)[0])
    probs = model(tokens).softmax(-1)
    assert probs[..., [L.PAD, L.BOS]].max() == 0.0


def test_kv_cache_gives_the_full_forward_pass(model):
    tokens = torch.from_numpy(L.pad_batch(L.sample_sentences(4, np.random.default_rng(1)), 20)[0])
    full = model.hidden(tokens)
    cache = model.new_cache(4)
    with torch.no_grad():
        stepped = [model.hidden(tokens[:, :5], cache, 0)] + [model.hidden(tokens[:, t:t + 1], cache, t)
                                                              for t in range(5, 20)]
    torch.testing.assert_close(torch.cat(stepped, 1), full, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="one token at a time"):
        model.step(tokens[:, 5:7], cache, 5)


def test_sampler_keeps_prompts_marks_generated_tokens_and_pads_after_eos(model, prompts):
    tokens, gen = sample(model, prompts, generator=torch.Generator().manual_seed(0))
    assert tokens.shape[1] <= L.MAX_LEN and gen.shape == tokens.shape
    for row, g, p in zip(tokens, gen, prompts):
        assert row[: len(p)].tolist() == p and not g[: len(p)].any()
        n = int(g.sum())
        assert g[len(p): len(p) + n].all()                         # one contiguous block after the prompt
        completion = row[g].tolist()
        assert L.PAD not in completion and L.BOS not in completion
        assert completion[-1] == L.EOS or len(p) + n == L.MAX_LEN  # stops at <eos> or at the length limit
        assert (row[len(p) + n:] == L.PAD).all()


def test_sampler_scores_equal_a_full_forward_pass(model, prompts):
    tokens, gen, logp, logprobs, hidden = sample(model, prompts, generator=torch.Generator().manual_seed(1),
                                                 scores=True)
    logp2, logprobs2, hidden2 = token_logprobs(model, tokens, full=True)
    torch.testing.assert_close(logp, logp2.detach(), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(logprobs, logprobs2.detach(), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(hidden, hidden2.detach(), atol=1e-4, rtol=1e-4)


def test_common_random_numbers(model, prompts):
    u = torch.rand(len(prompts), L.MAX_LEN, generator=torch.Generator().manual_seed(2))
    a, _ = sample(model, prompts, u)
    b, _ = sample(model, prompts, u.clone())
    assert torch.equal(a, b)
    c, _ = sample(model, prompts, generator=torch.Generator().manual_seed(3))
    assert not torch.equal(a, c)


def test_sampler_draws_from_the_model(model):
    """First generated token after one prompt: its frequencies over 6,000 draws match softmax(logits)."""
    prompt = L.encode("the very nice very good very kind very great big cat sees a very happy very sad very red old small")
    assert len(prompt) == L.MAX_LEN - 2                          # two sampling steps: a fast test
    tokens, gen = sample(model, [prompt] * 6000, generator=torch.Generator().manual_seed(4))
    first = tokens[:, len(prompt)].numpy()
    with torch.no_grad():
        p = model(torch.tensor([prompt]))[0, -1].softmax(-1).numpy()
    freq = np.bincount(first, minlength=L.V) / len(first)
    assert np.abs(freq - p).max() < 4 * np.sqrt(p.max() / len(first))


def test_sampler_bad_input(model):
    with pytest.raises(ValueError, match="start with <bos>"):
        sample(model, [[3, 5]])
    with pytest.raises(ValueError, match="uniforms"):
        sample(model, [[L.BOS]], torch.rand(2, L.MAX_LEN))
    with pytest.raises(ValueError, match="empty"):
        sample(model, [])


def test_frozen_copy_has_no_gradients(model):
    ref = frozen_copy(model)
    assert not any(p.requires_grad for p in ref.parameters()) and not ref.training
    torch.testing.assert_close(ref.tok.weight, model.tok.weight)


def test_lr_schedule():
    f = [lr_factor(s, 100, 0.05, 0.1) for s in range(100)]
    assert f[0] == pytest.approx(0.2) and f[4] == pytest.approx(1.0) and f[-1] == pytest.approx(0.1, abs=1e-3)
    assert all(a >= b for a, b in zip(f[4:], f[5:]))


def test_short_sft_learns_the_language():
    cfg = SFTConfig(seed=0, n_sentences=1000, n_val=300, steps=50, batch_size=32,
                    model=GPTConfig(d_model=32, n_layers=1, n_heads=2))
    m, hist = train_sft(cfg)
    assert len(hist.loss) == 50 and hist.loss[-1] < hist.loss[0] - 1.0
    assert hist.entropy == pytest.approx(L.exact_entropy()["per_token"])
    assert hist.entropy < hist.val_ce < 2.6               # from log(35) = 3.56 at the start
    val = torch.from_numpy(L.pad_batch(L.sample_sentences(200, np.random.default_rng(9)))[0])
    assert cross_entropy(m, val) == pytest.approx(hist.val_ce, abs=0.15)
    with pytest.raises(ValueError, match="steps"):
        SFTConfig(steps=0)
