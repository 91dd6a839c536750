"""Embedding stage: is a prompt nearer to harmful exemplars than to benign ones (offline MiniLM)?

It catches paraphrases the word lists miss ("a crowd beating someone to death"). A prompt is
scored by its k nearest harmful and k nearest benign exemplars: a vote of several neighbours is
steadier than the single nearest one, which one odd exemplar can decide. The exemplars, k, the
minimum similarity and the margin live in data/exemplars.json, so tuning is a data change; the
margin is the smallest that keeps the shipped benign prompts' false-positive rate at this stage
at or below 1 % (see the file's "margin_rule"). MiniLM is loaded on first use only, and exemplar
embeddings are computed once per process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from .lexicon import CATEGORIES, load_data
from .normalize import is_cjk

MODEL = "all-MiniLM-L6-v2"
_BATCH = 64


@dataclass(frozen=True)
class Similarity:
    category: str  # category of the nearest harmful exemplar
    harmful: float  # cosine similarity to the nearest harmful exemplar
    harmful_example: str
    benign: float  # cosine similarity to the nearest benign exemplar
    benign_example: str
    harmful_k: float  # mean similarity to the k nearest harmful exemplars
    benign_k: float  # mean similarity to the k nearest benign exemplars


def covered(text: str) -> bool:
    """MiniLM's vocabulary is English word pieces: it only reads prompts that are mostly Latin letters."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    latin = sum(1 for c in letters if c.isascii() or "\u00c0" <= c <= "\u024f")
    cjk = sum(1 for c in letters if is_cjk(c))
    return latin >= 0.5 * len(letters) and cjk == 0


def embed(texts: list[str]) -> torch.Tensor:
    """Unit-length sentence vectors: token states mean-pooled over the attention mask."""
    from ..models.text import load_text_encoder

    encoder = load_text_encoder(MODEL)
    out = []
    for i in range(0, len(texts), _BATCH):
        e = encoder.encode(texts[i : i + _BATCH])
        mask = e.mask.unsqueeze(-1).float()
        pooled = (e.states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        out.append(torch.nn.functional.normalize(pooled, dim=-1))
    return torch.cat(out)


@dataclass(frozen=True)
class Exemplars:
    version: int
    k: int
    min_similarity: float
    margin: float
    ambiguous_margin: float  # for prompts holding an ambiguous word with no person near it
    harmful_texts: tuple[str, ...]
    harmful_categories: tuple[str, ...]
    benign_texts: tuple[str, ...]
    harmful: torch.Tensor  # [H, 384]
    benign: torch.Tensor  # [B, 384]


@functools.lru_cache(maxsize=1)
def load_exemplars() -> Exemplars:
    doc = load_data("exemplars.json")
    pairs = [(t, c) for c in CATEGORIES for t in doc["harmful"].get(c, [])]
    texts, cats = zip(*pairs, strict=True)
    return Exemplars(
        version=doc["version"],
        k=int(doc.get("k", 1)),
        min_similarity=float(doc["min_similarity"]),
        margin=float(doc["margin"]),
        ambiguous_margin=float(doc.get("ambiguous_margin", doc["margin"])),
        harmful_texts=texts,
        harmful_categories=cats,
        benign_texts=tuple(doc["benign"]),
        harmful=embed(list(texts)),
        benign=embed(list(doc["benign"])),
    )


def similarities(texts: list[str]) -> list[Similarity]:
    ex = load_exemplars()
    v = embed(texts)
    hs, hi = (v @ ex.harmful.T).topk(min(ex.k, len(ex.harmful_texts)), dim=1)
    bs, bi = (v @ ex.benign.T).topk(min(ex.k, len(ex.benign_texts)), dim=1)
    out = []
    for h, h_idx, b, b_idx in zip(hs.tolist(), hi.tolist(), bs.tolist(), bi.tolist(), strict=True):
        out.append(
            Similarity(
                ex.harmful_categories[h_idx[0]],
                h[0],
                ex.harmful_texts[h_idx[0]],
                b[0],
                ex.benign_texts[b_idx[0]],
                sum(h) / len(h),
                sum(b) / len(b),
            )
        )
    return out


def is_harmful(sim: Similarity, ambiguous: bool = False) -> bool:
    """`ambiguous`: the word lists left an ambiguous word ("killing") to this stage, which then uses its own margin."""
    ex = load_exemplars()
    margin = ex.ambiguous_margin if ambiguous else ex.margin
    return sim.harmful >= ex.min_similarity and sim.harmful_k - sim.benign_k >= margin
