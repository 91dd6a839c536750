"""umT5-XXL, the text encoder of Wan 2.1, as a `TextEncoder` over transformers' `UMT5EncoderModel`.

The network is transformers' own; what lives here is what the files users have need:
- presets and a config read off a state dict's shapes, so a file loads without guessing;
- the two layouts in circulation, detected from the key names and checked strictly:
  ComfyUI's repackaged `text_encoders/umt5_xxl_fp16.safetensors` (Hugging Face names, the
  sentencepiece model embedded as a uint8 tensor `spiece_model`; the `*_fp8_e4m3fn_scaled` variant
  stores fp8 weights with per-tensor `scale_weight`s), and the original release's
  `models_t5_umt5-xxl-enc-bf16.pth` (Wan's own module names, tokenizer in `google/umt5-xxl/`);
- the tokenizer, and Wan's prompt handling: ftfy/HTML/whitespace cleaning, EOS appended, cut at
  512 tokens, the encoder run with the attention mask, the states past each prompt's end zeroed.

States come back as long as the batch's longest prompt (not 512): Wan's DiT pads to 512 itself.
With the mask applied, a real token's state does not depend on how much padding follows it, so
this equals Wan's pad-to-512-then-trim exactly.

Precision: `dtype=None` loads the weights in bfloat16, on every device. umT5 was trained in bf16
and Wan runs it in bf16 (`t5_dtype`); the 5.7 B-parameter encoder is 11.4 GB in bf16 and 22.7 GB
in fp32, which does not fit a 24 GB card or most desktops' RAM; T5 activations are known to overflow fp16,
so with `dtype=torch.float16` the feed-forward output projections stay fp32, as transformers does.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from ..errors import CheckpointError, SoraError
from .config import check_config_limits
from .text import TextEmbedding, _check_prompts, _offline
from .weights import load_weights, read_weights, strip_prefix, unscale_fp8

log = logging.getLogger(__name__)

WHAT = "umT5 text encoder"
FOLDER = "text_encoders"
MAX_TOKENS = 512  # Wan's text_len
DTYPES = (torch.float32, torch.bfloat16, torch.float16)
DEFAULT_DTYPE = torch.bfloat16
TOKENIZER_KEY = "spiece_model"  # ComfyUI's key for the embedded sentencepiece model (comfy/sd.py)
RELEASE_TOKENIZER = Path("google") / "umt5-xxl"  # beside the release's .pth
PREFIXES = ("text_encoders.umt5xxl.transformer.", "umt5xxl.transformer.")  # whole-CLIP saves by ComfyUI

# transformers UMT5Config kwargs. umt5-xxl as google/umt5-xxl, Wan's `umt5_xxl()` (wan/modules/t5.py)
# and ComfyUI's umt5_config_xxl.json have it; max_distance 128 is Wan's T5RelativeEmbedding default.
UMT5_PRESETS: dict[str, dict] = {
    "umt5-xxl": dict(
        vocab_size=256384,
        d_model=4096,
        d_kv=64,
        d_ff=10240,
        num_layers=24,
        num_heads=64,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu",
        layer_norm_epsilon=1e-6,
    ),
    "tiny": dict(  # tests: as wide as the tiny Wan DiT's text_dim
        vocab_size=80,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu",
        layer_norm_epsilon=1e-6,
    ),
}

# Wan's T5Encoder names (wan/modules/t5.py) -> transformers' UMT5EncoderModel names.
_WAN_TOP = {"token_embedding.weight": "shared.weight", "norm.weight": "encoder.final_layer_norm.weight"}
_WAN_BLOCK = {
    "norm1.weight": "layer.0.layer_norm.weight",
    "attn.q.weight": "layer.0.SelfAttention.q.weight",
    "attn.k.weight": "layer.0.SelfAttention.k.weight",
    "attn.v.weight": "layer.0.SelfAttention.v.weight",
    "attn.o.weight": "layer.0.SelfAttention.o.weight",
    "pos_embedding.embedding.weight": "layer.0.SelfAttention.relative_attention_bias.weight",
    "norm2.weight": "layer.1.layer_norm.weight",
    # Wan: fc2(fc1(x) * gelu(gate(x))); transformers: wo(gelu(wi_0(x)) * wi_1(x))
    "ffn.gate.0.weight": "layer.1.DenseReluDense.wi_0.weight",
    "ffn.fc1.weight": "layer.1.DenseReluDense.wi_1.weight",
    "ffn.fc2.weight": "layer.1.DenseReluDense.wo.weight",
}
_HF_TOP = {v: k for k, v in _WAN_TOP.items()}
_HF_BLOCK = {v: k for k, v in _WAN_BLOCK.items()}
_TIED = "encoder.embed_tokens.weight"  # transformers ties it to shared.weight


def wan_key_to_hf(key: str) -> str | None:
    """The transformers name of a key of Wan's T5Encoder state dict (None: not one of its keys)."""
    if key in _WAN_TOP:
        return _WAN_TOP[key]
    m = re.fullmatch(r"blocks\.(\d+)\.(.+)", key)
    if m and m.group(2) in _WAN_BLOCK:
        return f"encoder.block.{m.group(1)}.{_WAN_BLOCK[m.group(2)]}"
    return None


def hf_key_to_wan(key: str) -> str | None:
    """The inverse of `wan_key_to_hf`."""
    if key in _HF_TOP:
        return _HF_TOP[key]
    m = re.fullmatch(r"encoder\.block\.(\d+)\.(.+)", key)
    if m and m.group(2) in _HF_BLOCK:
        return f"blocks.{m.group(1)}.{_HF_BLOCK[m.group(2)]}"
    return None


def umt5_config(preset: str = "umt5-xxl", **overrides):
    """A transformers `UMT5Config` for a preset of UMT5_PRESETS."""
    from transformers import UMT5Config

    if preset not in UMT5_PRESETS:
        raise SoraError(f"unknown umT5 preset {preset!r}; known: {sorted(UMT5_PRESETS)}")
    return UMT5Config(**{**UMT5_PRESETS[preset], **overrides})


def preset_name(config) -> str | None:
    """The preset a config is, by its architecture fields (None: a size of its own)."""
    for name, kwargs in UMT5_PRESETS.items():
        if all(getattr(config, k) == v for k, v in kwargs.items()):
            return name
    return None


def encoder_name(config) -> str:
    """'umt5-xxl' for the real encoder (the name Wan bundles record), 'umt5-tiny', or the size of another."""
    preset = preset_name(config)
    if preset is None:
        return f"umt5-{config.d_model}d-{config.num_layers}l"
    return preset if preset.startswith("umt5") else f"umt5-{preset}"


# ---------------------------------------------------------------------------------------------- files


def _guess_kind(keys: list[str]) -> str:
    """A hint for a file that is no umT5 encoder: what it seems to be instead."""
    if any(k.endswith("patch_embedding.weight") or ".cross_attn." in k for k in keys):
        return " It looks like a diffusion model (DiT); those go in models/diffusion_models/."
    if any(k.startswith(("decoder.", "encoder.conv", "conv1.", "first_stage_model.")) for k in keys):
        return " It looks like a VAE; those go in models/vae/."
    if any(k.startswith(("dit.", "vae.")) for k in keys):
        return " It looks like a sora-nodes model bundle; load it with SoraCheckpointLoader."
    if any(k.startswith("text_model.") for k in keys):
        return " It looks like a CLIP text encoder; Wan 2.1 needs umT5-XXL (umt5_xxl_fp16.safetensors)."
    return ""


def _layout(weights: Mapping[str, torch.Tensor], path: Path) -> str:
    """'hf' (ComfyUI / Hugging Face names) or 'wan' (the original release), from the key names."""
    keys = list(weights)
    if any(k in ("shared.weight", _TIED) or k.startswith("encoder.block.") for k in keys):
        return "hf"
    if any(wan_key_to_hf(k) is not None and k != "norm.weight" for k in keys):
        return "wan"
    shown = ", ".join(sorted(keys)[:5]) or "no tensors"
    raise CheckpointError(
        f"{path} is not a {WHAT} file: it has none of shared.weight / encoder.block.* (ComfyUI's "
        f"umt5_xxl_*.safetensors) or token_embedding.weight / blocks.*.attn.* (Wan's "
        f"models_t5_umt5-xxl-enc-bf16.pth); its keys start {shown}.{_guess_kind(keys)}"
    )


def _from_wan(weights: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Rename a Wan T5Encoder state dict to transformers' names; keys Wan's encoder does not have are refused."""
    out, unknown = {}, []
    for key in list(weights):
        name = wan_key_to_hf(key)
        if name is None:
            unknown.append(key)
        else:
            out[name] = weights.pop(key)
    if unknown:
        raise CheckpointError(
            f"{path} is not a {WHAT} file of Wan's layout: {len(unknown)} key(s) its T5Encoder does not have "
            f"({', '.join(sorted(unknown)[:5])}).{_guess_kind(unknown)}"
        )
    return out


def infer_umt5_config(weights: Mapping[str, torch.Tensor], *, path: Path | str = "the state dict", wan: bool = False):
    """A `UMT5Config` read off the tensor shapes of a state dict with transformers' key names (`wan`: name keys
    in errors as Wan's release does). Only relative_attention_max_distance (128) has no tensor to read it from."""
    from transformers import UMT5Config

    def name(key: str) -> str:
        return (hf_key_to_wan(key) or key) if wan else key

    def need(key: str) -> torch.Tensor:
        if key not in weights:
            raise CheckpointError(f"{path} is not a complete {WHAT} file: it has no {name(key)}")
        return weights[key]

    emb = need("shared.weight")
    blocks = {int(m.group(1)) for k in weights if (m := re.match(r"encoder\.block\.(\d+)\.", k))}
    if not blocks:
        first = "blocks.0.*" if wan else "encoder.block.0.*"
        raise CheckpointError(f"{path} is not a complete {WHAT} file: it has no encoder blocks ({first})")
    attn = "encoder.block.{}.layer.0.SelfAttention."
    if len(blocks) > 1 and attn.format(0) + "relative_attention_bias.weight" in weights:
        if attn.format(1) + "relative_attention_bias.weight" not in weights and attn.format(1) + "q.weight" in weights:
            raise CheckpointError(
                f"{path} is a T5 encoder (one relative position bias shared by all blocks, as in t5xxl_fp16 for "
                "Flux/SD3), not umT5, whose blocks each have their own; Wan 2.1 needs umt5_xxl_fp16.safetensors "
                "(or models_t5_umt5-xxl-enc-bf16.pth)"
            )
    ffn = "encoder.block.0.layer.1.DenseReluDense."
    if ffn + "wi.weight" in weights:
        raise CheckpointError(
            f"{path} is a T5 v1.0 encoder (a plain ReLU feed-forward, wi), not umT5 (gated GELU, wi_0/wi_1); "
            "Wan 2.1 needs umt5_xxl_fp16.safetensors"
        )
    bias = need(attn.format(0) + "relative_attention_bias.weight")  # [buckets, heads]
    q = need(attn.format(0) + "q.weight")  # [heads * d_kv, d_model]
    wi_0 = need(ffn + "wi_0.weight")  # [d_ff, d_model]
    if emb.ndim != 2 or bias.ndim != 2 or q.ndim != 2 or wi_0.ndim != 2 or q.shape[0] % bias.shape[1]:
        raise CheckpointError(
            f"{path} has tensors of shapes no umT5 has: {name('shared.weight')} {list(emb.shape)}, "
            f"{name(attn.format(0) + 'q.weight')} {list(q.shape)}, "
            f"{name(attn.format(0) + 'relative_attention_bias.weight')} {list(bias.shape)}"
        )
    # num_layers comes from a key's name, not a tensor: one stray "encoder.block.99999.x" must not build 100000 blocks.
    check_config_limits({"num_layers": max(blocks) + 1, "d_model": emb.shape[1]}, f"the umT5 config of {path}")
    return UMT5Config(
        vocab_size=emb.shape[0],
        d_model=emb.shape[1],
        d_kv=q.shape[0] // bias.shape[1],
        d_ff=wi_0.shape[0],
        num_layers=max(blocks) + 1,
        num_heads=bias.shape[1],
        relative_attention_num_buckets=bias.shape[0],
        relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu",
        layer_norm_epsilon=1e-6,
    )


def _check_complete(model, weights: Mapping[str, torch.Tensor], path: Path) -> None:
    """Missing and extra keys of a Wan-layout file, named as that file names them (load_weights then
    checks shapes and dtypes, and would name keys by transformers' names)."""
    expected = set(model.state_dict()) - {_TIED}
    missing = sorted(hf_key_to_wan(k) or k for k in expected - weights.keys())
    extra = sorted(hf_key_to_wan(k) or k for k in weights.keys() - expected)
    if missing or extra:
        parts = [f"{len(missing)} missing ({', '.join(missing[:5])})"] if missing else []
        parts += [f"{len(extra)} unexpected ({', '.join(extra[:5])})"] if extra else []
        raise CheckpointError(
            f"{path} is not a {WHAT} file of this architecture: keys {'; '.join(parts)}. "
            "Check that the file is the right kind (diffusion model, VAE or text encoder) and release"
        )


def _convert(weights: dict[str, torch.Tensor], dtype: torch.dtype, path: Path) -> dict[str, torch.Tensor]:
    """Every tensor as `dtype`, fp8-scaled ones multiplied back first, one tensor at a time: the source
    tensor is dropped as its converted copy is made, so the file is never held twice over."""
    marker = weights.pop("scaled_fp8", None)
    scales = {k: weights.pop(k) for k in [k for k in weights if k.endswith((".scale_weight", ".scale_input"))]}
    out = {}
    for key in list(weights):
        value = weights.pop(key)
        if marker is not None and key.endswith(".weight"):  # unscale_fp8, on this one tensor
            scale = key[: -len("weight")] + "scale_weight"
            part = {"scaled_fp8": marker, key: value, **({scale: scales[scale]} if scale in scales else {})}
            value = unscale_fp8(part)[key]
        out[key] = value.to(dtype) if value.is_floating_point() else value
    if marker is None and scales:
        stray = sorted(scales)[:3]
        raise CheckpointError(f"{path} has fp8 scales ({', '.join(stray)}) but no scaled_fp8 marker; copy it again")
    return out


# ------------------------------------------------------------------------------------------ tokenizer


class _SentencePiece:
    """A sentencepiece model, as ComfyUI embeds it (and as the release's spiece.model is)."""

    def __init__(self, proto: bytes, source: str):
        import sentencepiece

        try:
            self.sp = sentencepiece.SentencePieceProcessor(model_proto=proto)
        except (RuntimeError, OSError, TypeError) as e:
            raise CheckpointError(f"{source} is not a sentencepiece model ({str(e).strip()[:120]})") from None
        self.source = source
        self.pieces = self.sp.get_piece_size()
        self.eos_id = self.sp.eos_id()
        self.pad_id = max(self.sp.pad_id(), 0)

    def ids(self, texts: list[str]) -> list[list[int]]:
        return self.sp.encode(texts)


class _HuggingFace:
    """A tokenizer folder as the release ships it (google/umt5-xxl/: tokenizer.json, tokenizer_config.json,
    spiece.model), read by transformers as Wan's own HuggingfaceTokenizer does."""

    def __init__(self, folder: Path):
        from transformers import AutoTokenizer

        try:
            with _offline():
                self.tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        except Exception as e:  # noqa: BLE001 - transformers raises many types for unusable folders
            raise CheckpointError(
                f"the tokenizer in {folder} cannot be read ({str(e).strip().splitlines()[0][:160]}); copy the "
                "release's google/umt5-xxl/ folder again"
            ) from None
        self.source = str(folder)
        self.pieces = len(self.tok)
        self.eos_id = self.tok.eos_token_id if self.tok.eos_token_id is not None else -1
        self.pad_id = self.tok.pad_token_id or 0

    def ids(self, texts: list[str]) -> list[list[int]]:
        return self.tok(texts, add_special_tokens=False, verbose=False)["input_ids"]


def _tokenizer_in(folder: Path):
    """The tokenizer a folder holds, or None."""
    if not folder.is_dir():
        return None
    if (folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file():
        return _HuggingFace(folder)
    if (folder / "spiece.model").is_file():
        return _SentencePiece((folder / "spiece.model").read_bytes(), str(folder / "spiece.model"))
    return None


def _embedded(tensor: torch.Tensor, path: Path) -> _SentencePiece:
    if tensor.dtype != torch.uint8 or tensor.ndim != 1:
        raise CheckpointError(f"{path}: its {TOKENIZER_KEY} is not a sentencepiece model (a uint8 byte tensor)")
    return _SentencePiece(tensor.numpy().tobytes(), f"the {TOKENIZER_KEY} embedded in {path}")


def _find_tokenizer(path: Path, embedded: torch.Tensor | None, tokenizer: str | Path | None):
    if tokenizer is not None:
        given = Path(tokenizer)
        if given.is_file() and given.suffix == ".model":
            return _SentencePiece(given.read_bytes(), str(given))
        found = _tokenizer_in(given.parent if given.is_file() else given)
        if found is None:
            raise CheckpointError(
                f"no umT5 tokenizer at {given}: pass a folder with tokenizer.json / tokenizer_config.json or "
                "spiece.model (the release's google/umt5-xxl/), or a spiece.model file"
            )
        return found
    if embedded is not None:
        return _embedded(embedded, path)
    base = path if path.is_dir() else path.parent  # a folder: read_weights found the file in it
    looked = [base / RELEASE_TOKENIZER, base]
    for folder in looked:
        found = _tokenizer_in(folder)
        if found is not None:
            return found
    raise CheckpointError(
        f"no tokenizer for the {WHAT} {path}: the file embeds none (ComfyUI's umt5_xxl_*.safetensors carry it "
        f"as '{TOKENIZER_KEY}'), and neither {looked[0]}/ nor {looked[1]}/ holds spiece.model or tokenizer.json. "
        f"The original Wan release keeps it in google/umt5-xxl/ next to models_t5_umt5-xxl-enc-bf16.pth: copy "
        "that folder beside the file"
    )


def _ftfy_fix(text: str) -> str:
    try:
        import ftfy
    except ImportError:  # optional, as in diffusers' WanPipeline: only mojibake repair is skipped
        return text
    return ftfy.fix_text(text)


def clean_prompt(text: str) -> str:
    """Wan's `clean='whitespace'`: ftfy repair (when installed), HTML entities unescaped twice, runs of
    whitespace collapsed to one space, ends stripped."""
    text = html.unescape(html.unescape(_ftfy_fix(text))).strip()
    return re.sub(r"\s+", " ", text).strip()


# ------------------------------------------------------------------------------------------- encoder


class UMT5TextEncoder:
    """umT5 states for prompts, as Wan 2.1's DiT reads them: [B, L, d_model] float32, zero past each
    prompt's end, L the longest prompt's token count (EOS included, at most 512)."""

    def __init__(self, model, tokenizer, *, name: str, max_tokens: int = MAX_TOKENS):
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 2 <= max_tokens <= MAX_TOKENS:
            raise SoraError(f"max_tokens must be an integer in 2..{MAX_TOKENS} for umT5, got {max_tokens!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.dim = model.config.d_model
        self.max_tokens = max_tokens
        self.device = model.shared.weight.device
        self._warned_truncation = False

    def token_ids(self, prompts: list[str]) -> list[list[int]]:
        """Token ids as the encoder gets them: cleaned, EOS appended, cut to max_tokens (EOS kept last)."""
        prompts = _check_prompts(prompts)
        ids = self.tokenizer.ids([clean_prompt(p) for p in prompts])
        longest = max(len(x) for x in ids) + 1
        if longest > self.max_tokens and not self._warned_truncation:
            self._warned_truncation = True
            log.warning(
                "%s: a prompt of %d tokens was cut to max_tokens=%d; the rest of it is ignored",
                self.name,
                longest,
                self.max_tokens,
            )
        eos = self.tokenizer.eos_id
        return [list(x[: self.max_tokens - 1]) + [eos] for x in ids]

    def encode(self, prompts: list[str]) -> TextEmbedding:
        prompts = _check_prompts(prompts)
        ids = self.token_ids(prompts)
        length = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), length), self.tokenizer.pad_id, dtype=torch.long)
        mask = torch.zeros(len(ids), length, dtype=torch.bool)
        for i, x in enumerate(ids):
            input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
            mask[i, : len(x)] = True
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        with torch.inference_mode():
            states = self.model(input_ids=input_ids, attention_mask=mask.long()).last_hidden_state
            states = states.float().masked_fill(~mask[..., None], 0.0)  # Wan zero-pads past each prompt's end
        # Clone outside inference mode: inference tensors cannot be saved for backward (the DiT's
        # cross-attention saves its inputs when it is trained).
        return TextEmbedding(states=states.clone(), mask=mask.clone(), prompts=prompts)


def _dtype(dtype: torch.dtype | None) -> torch.dtype:
    if dtype is None:
        return DEFAULT_DTYPE
    if dtype not in DTYPES:
        raise SoraError(f"umT5 dtype must be one of {[str(d) for d in DTYPES]} (or None: bfloat16), got {dtype!r}")
    return dtype


def load_umt5_text_encoder(
    path: str | Path,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    tokenizer: str | Path | None = None,
    max_tokens: int = MAX_TOKENS,
) -> UMT5TextEncoder:
    """An umT5 encoder file (ComfyUI's umt5_xxl_*.safetensors, fp8-scaled ones included, or the release's
    models_t5_umt5-xxl-enc-bf16.pth) as a TextEncoder. The tokenizer is the one the file embeds, else the
    google/umt5-xxl/ folder beside it (or `tokenizer`: such a folder or a spiece.model)."""
    from transformers import UMT5EncoderModel
    from transformers.models.umt5.modeling_umt5 import UMT5DenseGatedActDense

    path, device, dtype = Path(path), torch.device(device), _dtype(dtype)
    weights = read_weights(path, what=WHAT, folder=FOLDER)
    embedded = weights.pop(TOKENIZER_KEY, None)
    weights = strip_prefix(weights, PREFIXES)
    wan = _layout(weights, path) == "wan"
    if wan:
        weights = _from_wan(weights, path)
    elif "shared.weight" not in weights and _TIED in weights:
        weights["shared.weight"] = weights.pop(_TIED)
    else:
        weights.pop(_TIED, None)  # the same tensor as shared.weight (transformers ties them)
    config = infer_umt5_config(weights, path=path, wan=wan)
    found = _find_tokenizer(path, embedded, tokenizer)
    if found.eos_id < 0:
        raise CheckpointError(f"the tokenizer {found.source} has no end-of-sequence token; umT5 needs </s>")
    if found.pieces > config.vocab_size:
        raise CheckpointError(
            f"the tokenizer {found.source} has {found.pieces} tokens but {path} embeds only {config.vocab_size}: "
            "they are not a pair (umT5-XXL: 256384 embeddings)"
        )
    with _offline(), torch.device("meta"):
        model = UMT5EncoderModel(config)
    if wan:
        _check_complete(model, weights, path)
    weights = _convert(weights, dtype, path)  # in `dtype` already, load_weights copies nothing more
    weights[_TIED] = weights["shared.weight"]
    load_weights(model, weights, what=WHAT, path=path, dtype=dtype, device="cpu")
    del weights
    model.encoder.embed_tokens.weight = model.shared.weight  # one embedding table, not two, on the device
    if dtype == torch.float16:
        for module in model.modules():  # transformers' _keep_in_fp32_modules: fp16 overflows in wo
            if isinstance(module, UMT5DenseGatedActDense):
                module.wo.to(torch.float32)
    model = model.to(device).eval().requires_grad_(False)
    return UMT5TextEncoder(model, found, name=encoder_name(config), max_tokens=max_tokens)
