from __future__ import annotations

import logging
import os

import pytest
import torch
import torch.nn.functional as F

from sora_nodes.errors import SoraError
from sora_nodes.models.text import TEXT_ENCODERS, MiniLMTextEncoder, TextEncoder, load_text_encoder


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return load_text_encoder("all-MiniLM-L6-v2")


def mean_pooled(encoder: TextEncoder, prompt: str) -> torch.Tensor:
    emb = encoder.encode([prompt])
    return emb.states[0][emb.mask[0]].mean(0)  # [384]


def test_shapes_and_mask_follow_token_counts(encoder):
    prompts = ["a red circle", "a large blue square bounces slowly from left to right", ""]
    emb = encoder.encode(prompts)
    counts = [len(encoder.tokenizer(p)["input_ids"]) for p in prompts]  # incl. [CLS] and [SEP]
    assert encoder.dim == 384 and encoder.name == "all-MiniLM-L6-v2"
    assert emb.states.shape == (3, max(counts), 384) and emb.states.dtype == torch.float32
    assert emb.mask.dtype == torch.bool and emb.mask.sum(1).tolist() == counts
    assert emb.mask[0, : counts[0]].all() and not emb.mask[0, counts[0] :].any()
    assert emb.prompts == prompts


def test_same_prompt_gives_identical_states(encoder):
    a = encoder.encode(["a green triangle spins"]).states
    b = encoder.encode(["a green triangle spins"]).states
    assert torch.equal(a, b)


def test_padding_does_not_change_the_real_tokens(encoder):
    short, long = "a red circle", "a small yellow star falls behind a big purple square while the camera pans"
    alone = encoder.encode([short])
    batch = encoder.encode([short, long])
    n = int(alone.mask.sum())
    assert batch.mask[0].sum() == n and batch.states.shape[1] > n
    torch.testing.assert_close(batch.states[0, :n], alone.states[0], atol=1e-5, rtol=1e-5)


def test_different_prompts_differ(encoder):
    emb = encoder.encode(["a red circle", "a blue circle"])
    assert not torch.allclose(emb.states[0], emb.states[1], atol=1e-3)


def test_real_weights_put_paraphrases_closer_than_unrelated_text(encoder):
    a = mean_pooled(encoder, "a red circle moving left")
    b = mean_pooled(encoder, "a crimson ball drifting left")
    c = mean_pooled(encoder, "stock market report")
    assert F.cosine_similarity(a, b, dim=0) > F.cosine_similarity(a, c, dim=0) + 0.2


def test_states_can_feed_a_trained_layer(encoder):
    # Inference-mode tensors would raise here ("cannot be saved for backward").
    states = encoder.encode(["a red circle"]).states
    layer = torch.nn.Linear(384, 4)
    layer(states).square().sum().backward()
    assert layer.weight.grad is not None


def test_long_prompts_are_truncated_with_one_warning(encoder, caplog, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    fresh = MiniLMTextEncoder(max_tokens=8)
    assert "HF_HUB_OFFLINE" not in os.environ  # forced offline only while loading
    long = "a red circle " * 20
    with caplog.at_level(logging.WARNING, logger="sora_nodes.models.text"):
        emb = fresh.encode([long, "a cat"])
        fresh.encode([long])
    assert emb.states.shape[1] == 8 and emb.mask[0].all()
    assert len([r for r in caplog.records if "max_tokens=8" in r.message]) == 1


def test_loader_caches_per_name_and_device(encoder):
    assert load_text_encoder("all-MiniLM-L6-v2", device=torch.device("cpu")) is encoder
    assert isinstance(TEXT_ENCODERS["all-MiniLM-L6-v2"](max_tokens=16), MiniLMTextEncoder)


def test_bad_input(encoder):
    with pytest.raises(SoraError, match="unknown text encoder 't5-xxl'.*all-MiniLM-L6-v2"):
        load_text_encoder("t5-xxl")
    with pytest.raises(SoraError, match="at least one prompt"):
        encoder.encode([])
    with pytest.raises(SoraError, match=r"list of prompts.*\[prompt\]"):
        encoder.encode("a red circle")
    with pytest.raises(SoraError, match="must be strings"):
        encoder.encode(["ok", 3])
    with pytest.raises(SoraError, match="max_tokens"):
        MiniLMTextEncoder(max_tokens=100_000)
