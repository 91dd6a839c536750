"""Wan 2.1 VAE: the original release's key layout, the numbers of diffusers' AutoencoderKLWan (an
independent implementation of the same maths) on a tiny random model, chunking, tiling, meta-device
runs, and the loader's errors."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from sora_nodes.errors import CheckpointError, ShapeError
from sora_nodes.models.wan_vae import (
    WAN21_LATENTS_MEAN,
    WAN21_LATENTS_STD,
    WAN_VAE_PRESETS,
    WanVAE,
    WanVAEConfig,
    load_wan_vae,
    wan_vae_config_from_weights,
)
from sora_nodes.pipeline.budget import _shapes_run

diffusers = pytest.importorskip("diffusers")
from wan_files import damaged_file  # noqa: E402

NUM_RES_BLOCKS = 2  # the release's count, so the tiny model's indices follow the real file's
TINY = dict(base_dim=8, z_dim=16, dim_mult=(1, 2, 4, 4), num_res_blocks=NUM_RES_BLOCKS)
FRAMES, H, W = 13, 32, 48  # 1 + 3 encoder chunks; non-square to catch H/W swaps
TOL = 1e-4  # max |ours - reference| / max |reference|, float32


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


# ---- diffusers layout -> original Wan layout (inverse of diffusers' convert_wan_to_diffusers.py) ----

_RESNET = {"norm1": "residual.0", "conv1": "residual.2", "norm2": "residual.3", "conv2": "residual.6"}
_RESNET["conv_shortcut"] = "shortcut"


def _resnet_tail(tail: list[str]) -> list[str]:
    return [*_RESNET[tail[0]].split("."), *tail[1:]]


def diffusers_to_wan(state: dict[str, torch.Tensor], num_res_blocks: int) -> dict[str, torch.Tensor]:
    """Rename a Wan 2.1 AutoencoderKLWan state dict (no attn_scales) to the original release's keys."""
    out = {}
    for key, value in state.items():
        top, *rest = key.split(".")
        if top in ("quant_conv", "post_quant_conv"):
            out[{"quant_conv": "conv1", "post_quant_conv": "conv2"}[top] + "." + rest[0]] = value
            continue
        part = rest[0]
        if part == "conv_in":
            new = ["conv1", *rest[1:]]
        elif part == "norm_out":
            new = ["head", "0", *rest[1:]]
        elif part == "conv_out":
            new = ["head", "2", *rest[1:]]
        elif part == "mid_block":  # resnets.0, attentions.0, resnets.1 -> middle.0, .1, .2
            kind, i, *tail = rest[1:]
            index = {"resnets": 2 * int(i), "attentions": 1}[kind]
            new = ["middle", str(index), *(_resnet_tail(tail) if kind == "resnets" else tail)]
        elif part == "down_blocks":  # the same flat list, only the resnet inner names differ
            i, *tail = rest[1:]
            new = ["downsamples", i, *(_resnet_tail(tail) if tail[0] in _RESNET else tail)]
        elif part == "up_blocks":  # stage b = num_res_blocks + 1 resnets, then one upsampler
            b, kind, i, *tail = rest[1:]
            start = int(b) * (num_res_blocks + 2)
            if kind == "resnets":
                new = ["upsamples", str(start + int(i)), *_resnet_tail(tail)]
            else:
                new = ["upsamples", str(start + num_res_blocks + 1), *tail]
        else:
            raise KeyError(key)
        out[".".join([top, *new])] = value
    return out


def randomize(module: torch.nn.Module, seed: int) -> None:
    """Every parameter random, norms included, at scales that keep activations O(1) through the
    network and most decoded pixels inside Wan's [-1, 1] clamp."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if name.endswith("gamma"):
                p.copy_(1 + 0.2 * noise)
            elif name.endswith("bias"):
                p.copy_(0.05 * noise)
            else:
                p.copy_(noise / p[0].numel() ** 0.5)


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(0)
    ref = diffusers.AutoencoderKLWan(
        base_dim=TINY["base_dim"],
        z_dim=TINY["z_dim"],
        dim_mult=list(TINY["dim_mult"]),
        num_res_blocks=NUM_RES_BLOCKS,
        temperal_downsample=[False, True, True],
    ).eval()
    randomize(ref, seed=0)
    return ref


@pytest.fixture(scope="module")
def wan_state(reference) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in diffusers_to_wan(reference.state_dict(), NUM_RES_BLOCKS).items()}


@pytest.fixture(scope="module")
def vae_file(wan_state, tmp_path_factory):
    path = tmp_path_factory.mktemp("wan_vae") / "wan_2.1_vae.safetensors"
    save_file(wan_state, str(path))
    return path


@pytest.fixture(scope="module")
def vae(vae_file) -> WanVAE:
    return load_wan_vae(vae_file)


def clip(frames: int = FRAMES, h: int = H, w: int = W, seed: int = 1) -> torch.Tensor:
    return torch.rand(1, 3, frames, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def latent(frames: int = 4, h: int = H // 8, w: int = W // 8, seed: int = 2) -> torch.Tensor:
    return torch.randn(1, 16, frames, h, w, generator=torch.Generator().manual_seed(seed))


# ---- layout and config -----------------------------------------------------------------------------


def test_keys_and_shapes_are_the_wan_release_layout():
    """Our wan2.1 preset has exactly the keys and shapes of the release file, i.e. of diffusers'
    default AutoencoderKLWan renamed back, with the names diffusers' conversion script reads."""
    with torch.device("meta"):
        ours = WanVAE(WAN_VAE_PRESETS["wan2.1"]).state_dict()
        theirs = diffusers_to_wan(diffusers.AutoencoderKLWan().state_dict(), 2)
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}
    assert len(ours) == 194
    for key in (
        "encoder.conv1.weight",
        "encoder.downsamples.0.residual.0.gamma",
        "encoder.downsamples.0.residual.6.weight",
        "encoder.downsamples.2.resample.1.weight",
        "encoder.downsamples.3.shortcut.weight",
        "encoder.downsamples.5.time_conv.weight",
        "encoder.middle.1.to_qkv.weight",
        "encoder.head.0.gamma",
        "encoder.head.2.weight",
        "conv1.weight",
        "conv2.bias",
        "decoder.conv1.weight",
        "decoder.upsamples.3.time_conv.weight",
        "decoder.upsamples.4.shortcut.weight",
        "decoder.upsamples.11.resample.1.weight",
        "decoder.head.2.bias",
    ):
        assert key in ours, key
    assert "encoder.downsamples.2.time_conv.weight" not in ours  # the first halving is spatial only
    assert ours["encoder.middle.1.norm.gamma"].shape == (384, 1, 1)  # frame norm: 2-D gamma
    assert ours["encoder.head.0.gamma"].shape == (384, 1, 1, 1)
    assert "latent_mean" not in ours and "latent_std" not in ours  # not in the release files


def test_config_presets_and_inference_from_weights():
    c = WAN_VAE_PRESETS["wan2.1"]
    assert c == WanVAEConfig()
    assert (c.latent_channels, c.temporal_factor, c.spatial_factor) == (16, 4, 8)
    assert (c.base_dim, c.z_dim, c.dim_mult, c.num_res_blocks) == (96, 16, (1, 2, 4, 4), 2)
    variants = [
        WAN_VAE_PRESETS["wan2.1"],
        WAN_VAE_PRESETS["tiny"],
        WanVAEConfig(**TINY),
        WanVAEConfig(base_dim=8, dim_mult=(1, 2, 2), num_res_blocks=3, temporal_downsample=(True, False)),
        WanVAEConfig(base_dim=8, num_res_blocks=1, attn_scales=(0.5, 0.25)),
    ]
    for config in variants:
        with torch.device("meta"):
            state = WanVAE(config).state_dict()
        assert wan_vae_config_from_weights(state) == config
    assert WanVAEConfig(base_dim=8, dim_mult=(1, 2, 2), temporal_downsample=(True, False)).temporal_factor == 2
    assert WanVAEConfig(base_dim=8, dim_mult=(1, 2, 2), temporal_downsample=(True, False)).spatial_factor == 4
    with pytest.raises(CheckpointError, match="not a Wan VAE"):
        wan_vae_config_from_weights({"model.diffusion_model.x.weight": torch.zeros(2)})


# ---- numbers against diffusers -----------------------------------------------------------------------


@torch.inference_mode()
def test_encode_and_decode_match_diffusers(reference, vae, capsys):
    assert vae.config == WanVAEConfig(**TINY)
    video = clip()
    posterior = reference.encode(video).latent_dist
    mean, logvar = vae.encode_moments(video)
    assert mean.shape == (1, 16, 4, 4, 6)
    errors = {"mean": rel(mean, posterior.mean), "logvar": rel(logvar, posterior.logvar)}

    stats = torch.tensor(WAN21_LATENTS_MEAN)[:, None, None, None], torch.tensor(WAN21_LATENTS_STD)[:, None, None, None]
    expected = (posterior.mean - stats[0]) / stats[1]
    errors["latent"] = rel(vae.encode(video), expected)
    sampled = vae.encode(video, sample=True, generator=torch.Generator().manual_seed(3))
    errors["sample"] = rel(sampled, (posterior.sample(torch.Generator().manual_seed(3)) - stats[0]) / stats[1])

    z = latent()
    ref_video = reference.decode(z * stats[1] + stats[0]).sample
    ours = vae.decode(z)
    assert ours.shape == ref_video.shape == (1, 3, FRAMES, H, W)
    errors["decode"] = rel(ours, ref_video)
    # the clamp must act (6 % of pixels here), and leave most pixels to be compared
    assert 0 < (ref_video.abs() >= 1).float().mean() < 0.2
    assert ours.min() >= -1 and ours.max() <= 1
    with capsys.disabled():
        print("\nWan VAE vs diffusers, max rel error:", {k: f"{v:.1e}" for k, v in errors.items()})
    assert max(errors.values()) < TOL, errors


# ---- chunking, tiling, meta ------------------------------------------------------------------------------


@torch.inference_mode()
def test_chunk_size_does_not_change_the_numbers(vae):
    video, z = clip(), latent()
    mean, logvar = vae.encode_moments(video)
    for chunk in (8, 12, 100):
        m, lv = vae.encode_moments(video, chunk_frames=chunk)
        assert rel(m, mean) < 1e-5 and rel(lv, logvar) < 1e-5, chunk
    out = vae.decode(z)
    for chunk in (2, 3, 4):
        assert rel(vae.decode(z, chunk_frames=chunk), out) < 1e-5, chunk
    for bad in (0, 2, 6, 4.0, True):
        with pytest.raises(ShapeError, match="multiple of 4"):
            vae.encode(video, chunk_frames=bad)
    with pytest.raises(ShapeError, match="chunk_frames"):
        vae.decode(z, chunk_frames=0)


@torch.inference_mode()
def test_two_calls_share_no_state(vae):
    """A clip's result does not depend on what the model encoded or decoded before."""
    z = latent(3)
    first = vae.decode(z)
    vae.decode(latent(2, seed=9))
    vae.encode(clip(5, seed=9))
    assert torch.equal(vae.decode(z), first)


@torch.inference_mode()
def test_tiling(vae):
    """Exact when one tile covers the frame; two blended tiles stay close to the untiled result.

    Measured mean |tiled - untiled| / std with two 12-cell tiles overlapping by 6: 0.077 decoding,
    0.040 encoding; another input gives 0.93 and 0.46 (a misplaced tile costs about that)."""
    video, z = clip(5), latent(2)
    assert torch.equal(vae.decode(z, tile=6), vae.decode(z))
    assert torch.equal(vae.encode(video, tile=48), vae.encode(video))

    z = latent(2, 4, 16)
    ref = vae.decode(z)
    tiled = vae.decode(z, tile=12, tile_overlap=6)
    assert tiled.shape == ref.shape == (1, 3, 5, 32, 128)
    assert 0 < (tiled - ref).abs().mean() / ref.std() < 0.15
    video = clip(5, 32, 128)
    ref = vae.encode(video)
    tiled = vae.encode(video, tile=96, tile_overlap=48)
    assert tiled.shape == ref.shape == (1, 16, 2, 4, 16)
    assert 0 < (tiled - ref).abs().mean() / ref.std() < 0.1
    with pytest.raises(ShapeError, match="multiple of the VAE's spatial factor 8"):
        vae.encode(video, tile=36)


def test_runs_on_meta_with_flat_memory():
    """render_budget.py runs decode on meta tensors. A longer clip may add only its output to the
    peak: chunk outputs kept in a list and concatenated would add it twice, a one-shot pass far more."""
    with torch.device("meta"):
        full = WanVAE(WAN_VAE_PRESETS["wan2.1"]).eval()
        tiny = WanVAE(WAN_VAE_PRESETS["tiny"]).eval()
        short, long = torch.zeros(1, 16, 3, 8, 8), torch.zeros(1, 16, 25, 8, 8)
    with torch.inference_mode():
        out = full.decode(short)
        assert out.shape == (1, 3, 9, 64, 64) and out.is_meta
        assert full.encode(torch.zeros(1, 3, 9, 64, 64, device="meta")).shape == (1, 16, 3, 8, 8)
        assert full.latent_mean.is_meta
    peak_short, _ = _shapes_run(lambda: tiny.decode(short))
    peak_long, flops = _shapes_run(lambda: tiny.decode(long))
    output_growth = 3 * (97 - 9) * 64 * 64 * 4  # 4.3 MB; the tiny decoder's peak is 5.6 MB
    assert flops > 0
    assert output_growth <= peak_long - peak_short < 1.1 * output_growth


# ---- loading and errors ----------------------------------------------------------------------------------


def test_loaded_model_and_latent_stats(vae, wan_state, tmp_path):
    assert not any(p.is_meta for p in vae.parameters())
    assert vae.latent_mean.device.type == "cpu" and not vae.latent_mean.is_meta
    torch.testing.assert_close(vae.latent_mean, torch.tensor(WAN21_LATENTS_MEAN))
    torch.testing.assert_close(vae.latent_std, torch.tensor(WAN21_LATENTS_STD))
    assert not vae.training
    # ComfyUI's wrapped keys, and the original release's .pth pickle
    prefixed = tmp_path / "wrapped.safetensors"
    save_file({"first_stage_model." + k: v for k, v in wan_state.items()}, str(prefixed))
    pth = tmp_path / "Wan2.1_VAE.pth"
    torch.save(wan_state, pth)
    for path in (prefixed, pth):
        other = load_wan_vae(path, dtype=torch.bfloat16)
        assert other.encoder.conv1.weight.dtype == torch.bfloat16
        assert torch.equal(other.decoder.head[2].weight, wan_state["decoder.head.2.weight"].bfloat16())
        assert not other.latent_std.is_meta
    with torch.inference_mode():
        z = latent(2)
        half = other.decode(z)
        assert half.dtype == torch.bfloat16 and other.encode(clip(5)).dtype == torch.bfloat16
        assert rel(half.float(), vae.decode(z)) < 0.1


def test_missing_and_truncated_files(vae_file, tmp_path):
    with pytest.raises(CheckpointError, match="models/vae/"):
        load_wan_vae(tmp_path / "wan_2.1_vae.safetensors")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(vae_file.read_bytes()[: vae_file.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated|cannot be read"):
        load_wan_vae(cut)


def test_missing_key_and_wrong_shape_name_the_key(wan_state, tmp_path):
    with pytest.raises(CheckpointError, match=r"missing \(decoder\.head\.2\.bias\)"):
        load_wan_vae(damaged_file(wan_state, tmp_path / "missing.safetensors", without="decoder.head.2.bias"))

    wrong = {"decoder.middle.1.to_qkv.weight": torch.zeros(96, 16, 1, 1)}
    with pytest.raises(CheckpointError, match=r"decoder\.middle\.1\.to_qkv\.weight is \[96, 16, 1, 1\]"):
        load_wan_vae(damaged_file(wan_state, tmp_path / "wrong.safetensors", changed=wrong))


def test_diffusers_layout_and_other_files_are_refused(reference, tmp_path):
    path = tmp_path / "diffusion_pytorch_model.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    with pytest.raises(CheckpointError, match="diffusers layout") as e:
        load_wan_vae(path)
    assert "wan_2.1_vae.safetensors" in str(e.value) and "Wan2.1_VAE.pth" in str(e.value)

    other = tmp_path / "not_a_vae.safetensors"
    save_file({"blocks.0.attn.q.weight": torch.zeros(4, 4)}, str(other))
    with pytest.raises(CheckpointError, match="not a Wan VAE"):
        load_wan_vae(other)


@torch.inference_mode()
def test_bad_inputs_raise_shape_errors(vae):
    with pytest.raises(ShapeError, match="try 9 or 13"):
        vae.encode(clip(12))
    with pytest.raises(ShapeError, match=r"height must be a multiple of 8 \(VAE factor 8\); got 36, try 32 or 40"):
        vae.encode(clip(5, 36, 48))
    with pytest.raises(ShapeError, match="add a batch dim"):
        vae.encode(clip(5)[0])
    with pytest.raises(ShapeError, match="channels-last"):
        vae.decode(latent(2).permute(0, 2, 3, 4, 1))
    with pytest.raises(ShapeError, match="must not be empty"):
        vae.decode(latent(2)[:, :, :0])
    assert vae.latent_shape(17, 480, 832) == (5, 60, 104)
