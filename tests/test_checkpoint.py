from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from sora_nodes.errors import CheckpointError, SoraError
from sora_nodes.families.checkpoint import FORMAT, Architecture, load_checkpoint, read_metadata, save_checkpoint


@dataclass(frozen=True)
class TinyConfig:
    dim: int = 8
    depth: int = 2
    vocab: int = 10
    window: tuple[int, int] = (2, 3)


class Tiny(nn.Module):
    """Tied weights, a non-contiguous buffer, int/bool buffers and a non-persistent one: the awkward cases."""

    def __init__(self, config: TinyConfig):
        super().__init__()
        self.config = config
        self.emb = nn.Embedding(config.vocab, config.dim)
        self.blocks = nn.ModuleList(nn.Linear(config.dim, config.dim) for _ in range(config.depth))
        self.unemb = nn.Linear(config.dim, config.vocab, bias=False)
        self.unemb.weight = self.emb.weight  # shared storage
        self.register_buffer("proj", torch.randn(config.vocab, config.dim).t())  # a transposed view
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))
        self.register_buffer("active", torch.ones(config.depth, dtype=torch.bool))
        self.register_buffer("freqs", torch.arange(config.dim).float(), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.emb(tokens)  # [B, L, D]
        for block, on in zip(self.blocks, self.active, strict=True):
            x = x + torch.tanh(block(x)) * on
        return self.unemb(x) + x @ self.proj  # [B, L, vocab]


@dataclass(frozen=True)
class ConvConfig:
    channels: int = 3
    hidden: int = 4


class Conv(nn.Module):
    def __init__(self, config: ConvConfig):
        super().__init__()
        self.config = config
        self.net = nn.Sequential(
            nn.Conv2d(config.channels, config.hidden, 3, padding=1), nn.GroupNorm(2, config.hidden)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


ARCHS = {"dit": Architecture(TinyConfig, Tiny), "vae": Architecture(ConvConfig, Conv)}


def make_networks() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    dit = Tiny(TinyConfig(dim=6, window=(4, 5)))
    with torch.no_grad():
        dit.step.fill_(1234)
        dit.active[1] = False
    return {"dit": dit, "vae": Conv(ConvConfig(hidden=6))}


@pytest.fixture
def ckpt(tmp_path):
    return save_checkpoint(tmp_path / "model.safetensors", make_networks(), metadata={"step": 1234, "note": "hello"})


def load_error(path, archs=ARCHS, **kw) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, archs, **kw)
    message = str(info.value)
    assert "\n" not in message  # one line
    return message


def test_round_trip_gives_identical_outputs_configs_and_metadata(tmp_path):
    nets = make_networks()
    path = save_checkpoint(
        tmp_path / "sub" / "m.safetensors", nets, metadata={"step": 1234, "note": "hi", "stats": {"mean": [0.5, -1.0]}}
    )
    loaded, meta = load_checkpoint(path, ARCHS)

    assert loaded["dit"].config == nets["dit"].config and loaded["dit"].config.window == (4, 5)
    assert loaded["vae"].config == nets["vae"].config
    assert not loaded["dit"].training and not loaded["vae"].training
    tokens = torch.randint(0, 10, (2, 5))
    image = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded["dit"](tokens), nets["dit"].eval()(tokens))
        assert torch.equal(loaded["vae"](image), nets["vae"].eval()(image))
    assert loaded["dit"].step.item() == 1234 and loaded["dit"].active.tolist() == [True, False]
    assert loaded["dit"].unemb.weight is loaded["dit"].emb.weight  # the tie survives

    assert meta["note"] == "hi" and json.loads(meta["step"]) == 1234
    assert json.loads(meta["stats"]) == {"mean": [0.5, -1.0]}
    assert meta["format"] == FORMAT and json.loads(meta["networks"]) == ["dit", "vae"]
    assert read_metadata(path) == meta
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.safetensors"]  # no temp files left


def test_load_a_subset_and_cast_dtype(ckpt):
    loaded, _ = load_checkpoint(ckpt, {"dit": ARCHS["dit"]}, dtype=torch.bfloat16)
    dit = loaded["dit"]
    assert set(loaded) == {"dit"}
    assert dit.emb.weight.dtype == torch.bfloat16 and dit.proj.dtype == torch.bfloat16
    assert dit.step.dtype == torch.int64 and dit.active.dtype == torch.bool  # non-float buffers untouched
    reference = make_networks()["dit"]
    assert torch.allclose(dit.blocks[0].weight.float(), reference.blocks[0].weight, atol=1e-2)


def test_missing_file(tmp_path):
    msg = load_error(tmp_path / "nowhere.safetensors")
    assert "not found" in msg and "nowhere.safetensors" in msg
    with pytest.raises(CheckpointError, match="not found"):
        read_metadata(tmp_path)


@pytest.mark.parametrize("zipfile", [True, False])
def test_pickle_checkpoints_are_refused(tmp_path, zipfile):
    path = tmp_path / "model.ckpt"
    torch.save(make_networks()["dit"].state_dict(), path, _use_new_zipfile_serialization=zipfile)
    assert "pickle" in load_error(path)


def test_text_and_video_files_are_not_safetensors(tmp_path):
    from sora_nodes.io.video import write_video

    text = tmp_path / "notes.safetensors"
    text.write_text("not a model\n")
    assert "not a safetensors file" in load_error(text)
    video = write_video(tmp_path / "clip.mp4", torch.zeros(2, 8, 8, 3), 8)
    assert "not a safetensors file" in load_error(video)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    assert "not a safetensors file" in load_error(empty)


@pytest.mark.parametrize("keep", [0.995, 0.6, 0.2, 0.02])
def test_truncated_files(ckpt, tmp_path, keep):
    data = ckpt.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: int(len(data) * keep)])
    assert "truncated" in load_error(cut)
    with pytest.raises(CheckpointError, match="truncated"):
        read_metadata(cut)


def test_safetensors_file_that_is_not_a_sora_checkpoint(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(2, 2)}, str(path), metadata={"modelspec.title": "some LoRA"})
    assert "not a sora-nodes checkpoint" in load_error(path)
    save_file({"weight": torch.zeros(2, 2)}, str(path))
    with pytest.raises(CheckpointError, match="not a sora-nodes checkpoint"):
        read_metadata(path)
    save_file({"weight": torch.zeros(2, 2)}, str(path), metadata={"format": "sora-nodes/99", "networks": "[]"})
    assert "sora-nodes/99" in load_error(path)


def test_network_missing_from_file(ckpt):
    msg = load_error(ckpt, {"text": ARCHS["dit"]})
    assert "no network 'text'" in msg and "['dit', 'vae']" in msg


def test_wrong_architecture_config(ckpt):
    msg = load_error(ckpt, {"dit": Architecture(ConvConfig, Conv)})
    assert "'dit'" in msg and "ConvConfig" in msg


def rewrite(src, dst, edit):
    """Copy a real checkpoint through the safetensors library, editing its tensors on the way."""
    from safetensors import safe_open

    with safe_open(str(src), "pt") as f:
        meta = f.metadata()
    tensors = load_file(str(src))
    edit(tensors)
    save_file(tensors, str(dst), metadata=meta)
    return dst


def test_missing_and_unexpected_keys_are_listed(ckpt, tmp_path):
    def edit(t):
        del t["dit.blocks.0.bias"]
        t["dit.ghost.weight"] = torch.zeros(3)

    msg = load_error(rewrite(ckpt, tmp_path / "keys.safetensors", edit))
    assert "1 missing key(s): blocks.0.bias" in msg and "1 unexpected key(s): ghost.weight" in msg


def test_many_missing_keys_are_abbreviated(ckpt):
    bigger = Architecture(TinyConfig, lambda c: Tiny(dataclasses.replace(c, depth=c.depth + 4)))
    msg = load_error(ckpt, {"dit": bigger})
    assert "8 missing key(s)" in msg and "(3 more)" in msg


def test_shape_mismatch_names_key_expected_and_found(ckpt):
    wider = Architecture(TinyConfig, lambda c: Tiny(dataclasses.replace(c, dim=16)))
    msg = load_error(ckpt, {"dit": wider})
    assert "blocks.0.weight: expected [16, 16], found [6, 6]" in msg


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("dit.blocks.0.weight", torch.zeros(6, 6, dtype=torch.int32), "I32"),  # weights must be float
        ("dit.active", torch.ones(2), "expected torch.bool"),  # bool buffer stored as float
        ("dit.step", torch.zeros((), dtype=torch.int32), "expected torch.int64"),
    ],
)
def test_unsupported_dtypes(ckpt, tmp_path, key, value, expected):
    def edit(t):
        t[key] = value

    msg = load_error(rewrite(ckpt, tmp_path / "dtype.safetensors", edit))
    assert "unsupported dtype" in msg and expected in msg and key.split(".", 1)[1] in msg


def test_float16_weights_load_into_a_float32_module(ckpt, tmp_path):
    def edit(t):
        for k, v in t.items():
            if v.is_floating_point():
                t[k] = v.half()

    loaded, _ = load_checkpoint(rewrite(ckpt, tmp_path / "half.safetensors", edit), ARCHS)
    assert loaded["vae"].net[0].weight.dtype == torch.float32


def test_bad_save_and_load_arguments(tmp_path, ckpt):
    path = tmp_path / "x.safetensors"
    with pytest.raises(SoraError, match="`.config` dataclass"):
        save_checkpoint(path, {"net": nn.Linear(2, 2)})
    with pytest.raises(SoraError, match="without '.'"):
        save_checkpoint(path, {"a.b": make_networks()["vae"]})
    with pytest.raises(SoraError, match="reserved"):
        save_checkpoint(path, make_networks(), metadata={"dit.config": "{}"})
    with pytest.raises(SoraError, match="JSON-serialisable"):
        save_checkpoint(path, make_networks(), metadata={"obj": object()})
    with pytest.raises(SoraError, match="at least one network"):
        save_checkpoint(path, {})
    assert not path.exists()
    with pytest.raises(SoraError, match="floating torch dtype"):
        load_checkpoint(ckpt, ARCHS, dtype=torch.int8)
