"""umT5 (Wan 2.1's text encoder) from the files users have, against transformers run directly as Wan runs it.

A tiny sentencepiece model is trained here and a tiny random UMT5EncoderModel built, then saved in
ComfyUI's layout (spiece_model embedded), in the original release's .pth layout (Wan's key names,
tokenizer in google/umt5-xxl/) and as ComfyUI's fp8 "scaled" file. Each must load to the states of
WanPipeline's recipe: tokenize (pad to 512, truncate, EOS), encode with the mask, keep each prompt's
tokens and zero the rest. The .pth layout is also checked against Wan's T5Encoder math written out
here from wan/modules/t5.py, so the key mapping is tested by what the weights do, not only by name.
"""

from __future__ import annotations

import html
import io
import logging
import math
import re

import pytest
import torch
from safetensors.torch import save_file

from sora_nodes.errors import CheckpointError, SoraError
from sora_nodes.models.text import TextEmbedding
from sora_nodes.models.umt5 import (
    UMT5_PRESETS,
    UMT5TextEncoder,
    clean_prompt,
    encoder_name,
    hf_key_to_wan,
    infer_umt5_config,
    load_umt5_text_encoder,
    preset_name,
    umt5_config,
    wan_key_to_hf,
)

transformers = pytest.importorskip("transformers")
sentencepiece = pytest.importorskip("sentencepiece")
from wan_files import damaged_file  # noqa: E402

TEXT_LEN = 512  # Wan's text_len
CORPUS = [
    "a red fox jumps over the lazy dog in the snow",
    "a cat sits on a warm windowsill at sunset",
    "the camera slowly pans across a city skyline at night",
    "waves crash against the rocky shore under a grey sky",
    "a small robot walks through a field of sunflowers",
    "children play football in a dusty street after the rain",
    "an old man reads a newspaper on a park bench",
    "time lapse of clouds drifting over green mountains",
    "Ein Hund läuft über die Wiese",
    "雪の中を走る赤い狐",
]
PROMPTS = [
    "a red fox runs through the snow",
    "",
    "the camera pans across a city skyline at night while waves crash against the rocky shore",
    "雪の中を走る赤い狐",
]
LINEAR = re.compile(r".*\.(SelfAttention\.[qkvo]|DenseReluDense\.wi_[01]|DenseReluDense\.wo)\.weight$")


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).abs().max() / b.float().abs().max()).item()


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def spm_proto() -> bytes:
    out = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 20),
        model_writer=out,
        vocab_size=UMT5_PRESETS["tiny"]["vocab_size"],
        model_type="unigram",
        pad_id=0,  # umT5's ids: <pad> 0, </s> 1, <unk> 2
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        minloglevel=2,
    )
    return out.getvalue()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("umt5")


@pytest.fixture(scope="module")
def tokenizer_folder(work, spm_proto):
    """What the release ships in google/umt5-xxl/: made by transformers from the spm model."""
    src = work / "spm"
    src.mkdir()
    (src / "spiece.model").write_bytes(spm_proto)
    tok = transformers.T5Tokenizer.from_pretrained(str(src), extra_ids=0)
    folder = work / "release" / "google" / "umt5-xxl"
    tok.save_pretrained(str(folder))
    (folder / "spiece.model").write_bytes(spm_proto)
    return folder


@pytest.fixture(scope="module")
def hf_tokenizer(tokenizer_folder):
    return transformers.AutoTokenizer.from_pretrained(str(tokenizer_folder), local_files_only=True)


def random_umt5(config, seed: int = 0):
    """A UMT5EncoderModel with every tensor random (norm gains too, so swapped norms would show)."""
    torch.manual_seed(seed)
    model = transformers.UMT5EncoderModel(config).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=g))
            elif "relative_attention_bias" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            elif name != "shared.weight":
                p.copy_(torch.randn(p.shape, generator=g) * p.shape[-1] ** -0.5)
    return model


@pytest.fixture(scope="module")
def reference():
    return random_umt5(umt5_config("tiny"))


def state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def wan_clean(text: str) -> str:
    """wan/modules/tokenizers.py, clean='whitespace' (ftfy is not installed here)."""
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip()


def wan_pipeline_states(model, tokenizer, prompts: list[str]) -> torch.Tensor:
    """WanPipeline._get_t5_prompt_embeds: [B, 512, D], each prompt's states then zeros."""
    batch = tokenizer(
        [wan_clean(p) for p in prompts],
        padding="max_length",
        max_length=TEXT_LEN,
        truncation=True,
        add_special_tokens=True,
        return_attention_mask=True,
        return_tensors="pt",
    )
    lengths = batch.attention_mask.gt(0).sum(dim=1)
    with torch.no_grad():
        states = model(batch.input_ids, batch.attention_mask).last_hidden_state
    trimmed = [u[:n] for u, n in zip(states, lengths, strict=True)]
    return torch.stack([torch.cat([u, u.new_zeros(TEXT_LEN - u.size(0), u.size(1))]) for u in trimmed])


def check_against(embedding: TextEmbedding, expected: torch.Tensor, tol: float = 1e-4) -> float:
    b, length, _ = embedding.states.shape
    assert embedding.states.dtype == torch.float32
    assert torch.count_nonzero(expected[:, length:]) == 0, "ours is shorter than the longest prompt"
    assert torch.equal(embedding.mask, expected[:, :length].abs().amax(-1) > 0)
    err = rel_err(embedding.states, expected[:, :length])
    assert err < tol, err
    return err


# Wan's T5Encoder (wan/modules/t5.py, shared_pos=False as umt5_xxl builds it), in its own key names


def wan_bucket(rel: torch.Tensor, num_buckets: int, max_dist: int = 128) -> torch.Tensor:
    half = num_buckets // 2  # bidirectional
    out = (rel > 0).long() * half
    rel = rel.abs()
    exact = half // 2
    large = exact + (torch.log(rel.float() / exact) / math.log(max_dist / exact) * (half - exact)).long()
    return out + torch.where(rel < exact, rel, large.clamp(max=half - 1))


def wan_t5_forward(sd: dict[str, torch.Tensor], ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    def norm(x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))

    def gelu(x):
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))

    x = sd["token_embedding.weight"][ids]
    b, s, _ = x.shape
    layers = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    rel = torch.arange(s)[None, :] - torch.arange(s)[:, None]
    for i in range(layers):
        p = f"blocks.{i}."
        table = sd[p + "pos_embedding.embedding.weight"]  # [buckets, heads]
        n = table.shape[1]
        bias = table[wan_bucket(rel, table.shape[0])].permute(2, 0, 1)[None]  # [1, heads, s, s]
        h = norm(x, sd[p + "norm1.weight"])
        q, k, v = (h @ sd[p + f"attn.{c}.weight"].T for c in "qkv")
        q, k, v = (t.view(b, s, n, -1) for t in (q, k, v))
        logits = torch.einsum("binc,bjnc->bnij", q, k) + bias  # T5: no 1/sqrt(d) scaling
        logits = logits.masked_fill(mask.view(b, 1, 1, s) == 0, torch.finfo(x.dtype).min)
        out = torch.einsum("bnij,bjnc->binc", logits.softmax(-1), v).reshape(b, s, -1)
        x = x + out @ sd[p + "attn.o.weight"].T
        h = norm(x, sd[p + "norm2.weight"])
        ff = (h @ sd[p + "ffn.fc1.weight"].T) * gelu(h @ sd[p + "ffn.gate.0.weight"].T)
        x = x + ff @ sd[p + "ffn.fc2.weight"].T
    return norm(x, sd["norm.weight"])


def wan_names(layers: int) -> set[str]:
    """Every key of Wan's T5Encoder state dict, from its module tree."""
    per_block = [
        "norm1.weight",
        *(f"attn.{c}.weight" for c in "qkvo"),
        "norm2.weight",
        "ffn.gate.0.weight",
        "ffn.fc1.weight",
        "ffn.fc2.weight",
        "pos_embedding.embedding.weight",
    ]
    return {"token_embedding.weight", "norm.weight"} | {f"blocks.{i}.{k}" for i in range(layers) for k in per_block}


def to_wan_layout(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers -> Wan names, written independently of the loader's table."""
    top = {"shared.weight": "token_embedding.weight", "encoder.final_layer_norm.weight": "norm.weight"}
    block = {
        "layer.0.layer_norm": "norm1",
        "layer.0.SelfAttention.q": "attn.q",
        "layer.0.SelfAttention.k": "attn.k",
        "layer.0.SelfAttention.v": "attn.v",
        "layer.0.SelfAttention.o": "attn.o",
        "layer.0.SelfAttention.relative_attention_bias": "pos_embedding.embedding",
        "layer.1.layer_norm": "norm2",
        "layer.1.DenseReluDense.wi_0": "ffn.gate.0",  # gelu branch
        "layer.1.DenseReluDense.wi_1": "ffn.fc1",  # linear branch
        "layer.1.DenseReluDense.wo": "ffn.fc2",
    }
    out = {}
    for key, value in sd.items():
        if key == "encoder.embed_tokens.weight":
            continue
        if key in top:
            out[top[key]] = value
            continue
        m = re.fullmatch(r"encoder\.block\.(\d+)\.(.+)\.weight", key)
        out[f"blocks.{m.group(1)}.{block[m.group(2)]}.weight"] = value
    return out


# ---------------------------------------------------------------------------------------------- files


@pytest.fixture(scope="module")
def comfy_file(work, reference, spm_proto):
    """ComfyUI's umt5_xxl_fp16.safetensors layout: HF names (embed_tokens too), spiece_model embedded."""
    sd = state(reference)
    assert "encoder.embed_tokens.weight" in sd
    sd["spiece_model"] = torch.frombuffer(bytearray(spm_proto), dtype=torch.uint8)
    path = work / "text_encoders" / "umt5_xxl_fp16.safetensors"
    path.parent.mkdir()
    save_file(sd, str(path))
    return path


@pytest.fixture(scope="module")
def wan_file(work, reference, tokenizer_folder):
    """The release's models_t5_umt5-xxl-enc-bf16.pth (here fp32) with google/umt5-xxl/ beside it."""
    path = tokenizer_folder.parent.parent / "models_t5_umt5-xxl-enc-bf16.pth"
    torch.save(to_wan_layout(state(reference)), path)
    return path


def quantise_fp8(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """ComfyUI's fp8 scaled format: each linear weight as fp8(w / s) plus its scalar s, a scaled_fp8 marker;
    the embedding and the norms stay fp16."""
    out = {"scaled_fp8": torch.empty(0, dtype=torch.float8_e4m3fn)}
    for key, value in sd.items():
        if key == "encoder.embed_tokens.weight":
            continue
        if LINEAR.match(key):
            scale = value.abs().max().float() / 448.0
            out[key] = (value / scale).to(torch.float8_e4m3fn)
            out[key[: -len("weight")] + "scale_weight"] = scale.reshape(())
        else:
            out[key] = value.to(torch.float16)
    out["encoder.block.0.layer.0.SelfAttention.q.scale_input"] = torch.ones(())  # fp8 matmuls only; ignored
    return out


def dequantise(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in sd.items():
        if key == "scaled_fp8" or key.endswith((".scale_weight", ".scale_input")):
            continue
        scale = sd.get(key[: -len("weight")] + "scale_weight")
        out[key] = value.float() * scale if scale is not None else value.float()
    return out


@pytest.fixture(scope="module")
def fp8_files(work, reference, spm_proto):
    sd = quantise_fp8(state(reference))
    sd["spiece_model"] = torch.frombuffer(bytearray(spm_proto), dtype=torch.uint8)
    path = work / "text_encoders" / "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
    save_file(sd, str(path))
    model = transformers.UMT5EncoderModel(umt5_config("tiny")).eval()
    deq = dequantise(sd)
    deq.pop("spiece_model")
    deq["encoder.embed_tokens.weight"] = deq["shared.weight"]
    model.load_state_dict(deq, strict=True)
    return path, model


@pytest.fixture(scope="module")
def comfy_encoder(comfy_file):
    return load_umt5_text_encoder(comfy_file, dtype=torch.float32)


# ----------------------------------------------------------------------------------------- the tests


def test_comfyui_file_matches_wan_pipeline(comfy_encoder, reference, hf_tokenizer):
    enc = comfy_encoder
    assert isinstance(enc, UMT5TextEncoder)
    assert (enc.name, enc.dim, enc.max_tokens) == ("umt5-tiny", 32, 512)
    assert enc.model.shared.weight is enc.model.encoder.embed_tokens.weight  # one table, not two
    emb = enc.encode(PROMPTS)
    longest = max(len(x) for x in hf_tokenizer([wan_clean(p) for p in PROMPTS]).input_ids)
    assert emb.states.shape == (len(PROMPTS), longest, 32)  # the batch's longest, not 512
    assert emb.prompts == PROMPTS
    err = check_against(emb, wan_pipeline_states(reference, hf_tokenizer, PROMPTS))
    print(f"ComfyUI layout fp32: max relative error {err:.2e}")


def test_embedded_tokenizer_is_comfyui_sentencepiece_and_agrees_with_the_release_tokenizer(
    comfy_encoder, spm_proto, hf_tokenizer
):
    sp = sentencepiece.SentencePieceProcessor(model_proto=spm_proto, add_eos=True)  # ComfyUI's SPieceTokenizer
    ids = comfy_encoder.token_ids(PROMPTS)
    assert ids == [sp.encode(wan_clean(p)) for p in PROMPTS]
    assert ids == hf_tokenizer([wan_clean(p) for p in PROMPTS]).input_ids
    assert all(x[-1] == 1 for x in ids) and ids[1] == [1]  # EOS; the empty prompt is EOS alone


def test_release_pth_matches_wan_pipeline_and_wan_t5_math(wan_file, reference, hf_tokenizer):
    enc = load_umt5_text_encoder(wan_file, dtype=torch.float32)
    assert type(enc.tokenizer).__name__ == "_HuggingFace"  # google/umt5-xxl/ read as Wan reads it
    emb = enc.encode(PROMPTS)
    err = check_against(emb, wan_pipeline_states(reference, hf_tokenizer, PROMPTS))
    # The same file through Wan's own T5Encoder math, in Wan's key names: proves the key mapping
    sd = torch.load(wan_file, weights_only=True)
    assert set(sd) == wan_names(2)
    batch = hf_tokenizer([wan_clean(p) for p in PROMPTS], padding="longest", return_tensors="pt")
    wan = wan_t5_forward(sd, batch.input_ids, batch.attention_mask) * batch.attention_mask[..., None]
    err_wan = rel_err(emb.states, wan)
    assert err_wan < 1e-4, err_wan
    print(f"Wan .pth layout fp32: max relative error {err:.2e} (pipeline), {err_wan:.2e} (Wan T5 math)")


def test_fp8_scaled_file_matches_its_dequantised_weights(fp8_files, reference, hf_tokenizer):
    path, dequantised = fp8_files
    enc = load_umt5_text_encoder(path, dtype=torch.float32)
    emb = enc.encode(PROMPTS)
    err = check_against(emb, wan_pipeline_states(dequantised, hf_tokenizer, PROMPTS))
    # fp8 really changed the weights: the unquantised model is measurably different
    assert rel_err(emb.states, wan_pipeline_states(reference, hf_tokenizer, PROMPTS)[:, : emb.states.shape[1]]) > 1e-3
    print(f"fp8 scaled layout fp32: max relative error {err:.2e} (vs dequantised weights)")


def test_batch_mask_padding_and_rows_equal_single_prompts(comfy_encoder):
    emb = comfy_encoder.encode(PROMPTS)
    lengths = [len(x) for x in comfy_encoder.token_ids(PROMPTS)]
    assert emb.mask.dtype == torch.bool
    assert emb.mask.sum(1).tolist() == lengths
    assert all(emb.mask[i, :n].all() and not emb.mask[i, n:].any() for i, n in enumerate(lengths))
    assert torch.count_nonzero(emb.states[~emb.mask]) == 0
    assert emb.states[emb.mask].abs().amin(-1).gt(0).any()  # real tokens carry states
    for i, prompt in enumerate(PROMPTS):
        alone = comfy_encoder.encode([prompt])
        assert alone.states.shape == (1, lengths[i], 32) and alone.mask.all()
        assert rel_err(emb.states[i, : lengths[i]], alone.states[0]) < 1e-5


def test_outputs_are_ordinary_tensors(comfy_encoder):
    emb = comfy_encoder.encode(["a cat"])
    assert not emb.states.is_inference() and not emb.mask.is_inference()
    assert not emb.states.requires_grad
    (emb.states * torch.ones(32, requires_grad=True)).sum().backward()  # usable in a training graph
    assert torch.is_grad_enabled()


def test_long_prompt_is_cut_at_512_with_eos_and_warned_once(comfy_file, reference, hf_tokenizer, caplog):
    long = " ".join(CORPUS) * 12
    assert len(hf_tokenizer(long).input_ids) > 600
    enc = load_umt5_text_encoder(comfy_file, dtype=torch.float32)  # a fresh one: it warns once per encoder
    with caplog.at_level(logging.WARNING, logger="sora_nodes.models.umt5"):
        emb = enc.encode([long, "a cat"])
        enc.encode([long])
    assert emb.states.shape[1] == TEXT_LEN and emb.mask[0].all()
    assert enc.token_ids([long])[0][-1] == 1  # EOS stays last, as transformers truncates
    assert enc.token_ids([long])[0] == hf_tokenizer(long, truncation=True, max_length=TEXT_LEN).input_ids
    warnings = [r for r in caplog.records if "cut to max_tokens=512" in r.getMessage()]
    assert len(warnings) == 1
    check_against(emb, wan_pipeline_states(reference, hf_tokenizer, [long, "a cat"]))


def test_prompts_are_cleaned_as_wan_does(comfy_encoder):
    ids = comfy_encoder.token_ids
    assert ids(["  a red\tfox \n\n runs  "]) == ids(["a red fox runs"])
    assert ids(["a cat &amp;amp; a dog"]) == ids(["a cat & a dog"])
    assert clean_prompt("  a &lt;b&gt;\u3000 c\n") == "a <b> c"
    diffusers_wan = pytest.importorskip("diffusers.pipelines.wan.pipeline_wan")
    for text in ["  a red\tfox \n runs ", "x &amp;amp; y", "\u00a0snow\u2003fall ", "雪の 中"]:
        assert clean_prompt(text) == diffusers_wan.prompt_clean(text)


def test_prompt_arguments_are_checked(comfy_encoder):
    with pytest.raises(SoraError, match="list of prompts"):
        comfy_encoder.encode("a cat")
    with pytest.raises(SoraError, match="at least one prompt"):
        comfy_encoder.encode([])


def test_dtypes(comfy_file, reference, hf_tokenizer):
    default = load_umt5_text_encoder(comfy_file)
    assert default.model.shared.weight.dtype == torch.bfloat16
    expected = wan_pipeline_states(reference, hf_tokenizer, PROMPTS)
    emb = default.encode(PROMPTS)
    assert emb.states.dtype == torch.float32
    assert rel_err(emb.states, expected[:, : emb.states.shape[1]]) < 5e-2
    half = load_umt5_text_encoder(comfy_file, dtype=torch.float16)
    ffn = half.model.encoder.block[0].layer[1].DenseReluDense
    assert ffn.wi_0.weight.dtype == torch.float16 and ffn.wo.weight.dtype == torch.float32
    emb = half.encode(PROMPTS)
    assert rel_err(emb.states, expected[:, : emb.states.shape[1]]) < 2e-2
    with pytest.raises(SoraError, match="dtype"):
        load_umt5_text_encoder(comfy_file, dtype=torch.int8)


def test_xxl_preset_is_read_back_from_its_shapes_and_maps_to_wan_names():
    with torch.device("meta"):
        xxl = transformers.UMT5EncoderModel(umt5_config("umt5-xxl"))
    sd = xxl.state_dict()
    config = infer_umt5_config(sd)
    assert preset_name(config) == "umt5-xxl" and encoder_name(config) == "umt5-xxl"
    assert (config.d_model, config.d_ff, config.num_heads, config.d_kv, config.num_layers) == (4096, 10240, 64, 64, 24)
    assert config.vocab_size == 256384 and config.dense_act_fn == "gelu_new" and config.is_gated_act
    assert 5.6e9 < sum(p.numel() for p in xxl.parameters()) < 5.75e9  # the 5.7 B encoder
    names = {k: hf_key_to_wan(k) for k in sd if k != "encoder.embed_tokens.weight"}
    assert set(names.values()) == wan_names(24)
    assert all(wan_key_to_hf(w) == k for k, w in names.items())
    assert preset_name(infer_umt5_config(state(random_umt5(umt5_config("tiny"))))) == "tiny"


# ---------------------------------------------------------------------------------------------- errors


def test_missing_file_names_the_folder(work):
    with pytest.raises(CheckpointError, match=r"models/text_encoders/"):
        load_umt5_text_encoder(work / "nowhere" / "umt5_xxl_fp16.safetensors")


def test_missing_tokenizer_says_where_it_is_looked_for(work, reference):
    folder = work / "no_tokenizer"
    folder.mkdir()
    sd = state(reference)
    save_file(sd, str(folder / "umt5.safetensors"))  # no spiece_model
    torch.save(to_wan_layout(sd), folder / "models_t5_umt5-xxl-enc-bf16.pth")
    for name in ("umt5.safetensors", "models_t5_umt5-xxl-enc-bf16.pth"):
        with pytest.raises(CheckpointError, match=r"no tokenizer") as e:
            load_umt5_text_encoder(folder / name)
        assert "spiece_model" in str(e.value) and str(folder / "google" / "umt5-xxl") in str(e.value)


def test_explicit_tokenizer_is_used(work, reference, tokenizer_folder, hf_tokenizer):
    path = work / "no_tokenizer2.safetensors"
    save_file(state(reference), str(path))
    enc = load_umt5_text_encoder(path, dtype=torch.float32, tokenizer=tokenizer_folder)
    check_against(enc.encode(PROMPTS), wan_pipeline_states(reference, hf_tokenizer, PROMPTS))
    enc = load_umt5_text_encoder(path, dtype=torch.float32, tokenizer=tokenizer_folder / "spiece.model")
    assert type(enc.tokenizer).__name__ == "_SentencePiece"
    with pytest.raises(CheckpointError, match="no umT5 tokenizer"):
        load_umt5_text_encoder(path, tokenizer=work)


@pytest.mark.parametrize(
    "keys, kind",
    [
        (["patch_embedding.weight", "blocks.0.self_attn.q.weight", "blocks.0.cross_attn.q.weight"], "diffusion model"),
        (["encoder.conv1.weight", "decoder.conv1.weight", "conv1.weight"], "VAE"),
        (["text_model.encoder.layers.0.mlp.fc1.weight"], "CLIP"),
    ],
)
def test_wrong_kind_of_file(work, spm_proto, keys, kind):
    path = work / f"wrong_{kind.split()[0]}.safetensors"
    sd = {k: torch.zeros(4, 4) for k in keys}
    sd["spiece_model"] = torch.frombuffer(bytearray(spm_proto), dtype=torch.uint8)
    save_file(sd, str(path))
    with pytest.raises(CheckpointError, match=f"not a umT5 text encoder.*{kind}"):
        load_umt5_text_encoder(path)


def test_t5_that_is_not_umt5_is_named(work, spm_proto):
    cfg = transformers.T5Config(
        vocab_size=80, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, feed_forward_proj="gated-gelu"
    )
    sd = state(transformers.T5EncoderModel(cfg))
    sd["spiece_model"] = torch.frombuffer(bytearray(spm_proto), dtype=torch.uint8)
    path = work / "t5xxl_fp16.safetensors"
    save_file(sd, str(path))
    with pytest.raises(CheckpointError, match=r"is a T5 encoder .* not umT5"):
        load_umt5_text_encoder(path)


def test_missing_and_misshapen_keys_are_named(work, reference, spm_proto, tokenizer_folder):
    sd = state(reference)
    sd["spiece_model"] = torch.frombuffer(bytearray(spm_proto), dtype=torch.uint8)
    missing = damaged_file(sd, work / "missing.safetensors", without="encoder.block.1.layer.1.DenseReluDense.wo.weight")
    with pytest.raises(CheckpointError, match=r"1 missing \(encoder\.block\.1\.layer\.1\.DenseReluDense\.wo\.weight\)"):
        load_umt5_text_encoder(missing)
    bent = {"encoder.block.0.layer.0.SelfAttention.k.weight": torch.zeros(32, 31)}
    with pytest.raises(CheckpointError, match=r"wrong shape.*SelfAttention\.k\.weight is \[32, 31\]"):
        load_umt5_text_encoder(damaged_file(sd, work / "bent.safetensors", changed=bent))
    # Wan's layout: errors in Wan's names
    wan = to_wan_layout(state(reference))
    del wan["blocks.1.ffn.fc2.weight"]
    wan["blocks.0.ffn.extra.weight"] = torch.zeros(2)
    path = tokenizer_folder.parent.parent / "broken.pth"
    torch.save(wan, path)
    with pytest.raises(CheckpointError, match=r"blocks\.0\.ffn\.extra\.weight"):
        load_umt5_text_encoder(path)
    del wan["blocks.0.ffn.extra.weight"]
    torch.save(wan, path)
    with pytest.raises(CheckpointError, match=r"1 missing \(blocks\.1\.ffn\.fc2\.weight\)"):
        load_umt5_text_encoder(path)
    wan = to_wan_layout(state(reference))
    del wan["token_embedding.weight"]
    torch.save(wan, path)
    with pytest.raises(CheckpointError, match=r"no token_embedding\.weight"):
        load_umt5_text_encoder(path)


def test_truncated_file(work, comfy_file):
    path = work / "truncated.safetensors"
    data = comfy_file.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_umt5_text_encoder(path)


def test_tokenizer_larger_than_the_embedding_is_refused(work, spm_proto):
    small = random_umt5(umt5_config("tiny", vocab_size=40))
    sd = state(small)
    sd["spiece_model"] = torch.frombuffer(bytearray(spm_proto), dtype=torch.uint8)
    path = work / "small_vocab.safetensors"
    save_file(sd, str(path))
    with pytest.raises(CheckpointError, match=r"80 tokens but .* only 40"):
        load_umt5_text_encoder(path)
