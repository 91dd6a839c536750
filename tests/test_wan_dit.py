"""The Wan 2.1 DiT against diffusers' WanTransformer3DModel: same weights, same velocity, same samples."""

from __future__ import annotations

import pytest
import torch

from sora_nodes.diffusion.guidance import classifier_free_guidance
from sora_nodes.diffusion.samplers import get_sampler, sample_euler
from sora_nodes.errors import ShapeError
from sora_nodes.models.wan_dit import WanDiT, WanDiTConfig
from sora_nodes.models.wan_dit_keys import config_from_diffusers

diffusers = pytest.importorskip("diffusers")
from wan_dit_reference import diffusers_to_wan, tiny_diffusers_transformer  # noqa: E402

TEXT_LEN = 512


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def ours_from(reference) -> WanDiT:
    model = WanDiT(config_from_diffusers(reference.config)).eval()
    model.load_state_dict(diffusers_to_wan(reference.state_dict()), strict=True)
    return model


def padded(states: torch.Tensor) -> torch.Tensor:
    """What WanPipeline hands its transformer: the prompt's states, zero-padded to 512 tokens."""
    return torch.cat([states, states.new_zeros(states.shape[0], TEXT_LEN - states.shape[1], states.shape[2])], 1)


@pytest.fixture(scope="module")
def pair():
    reference = tiny_diffusers_transformer()
    return reference, ours_from(reference)


def test_velocity_matches_diffusers(pair):
    reference, ours = pair
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 16, 3, 6, 10, generator=g)  # [B, C, T', H', W']: non-square, several latent frames
    text = torch.randn(2, 7, 32, generator=g)
    sigma = torch.tensor([0.9, 0.35])
    with torch.no_grad():
        expected = reference(x, sigma * 1000, padded(text), return_dict=False)[0]
        got = ours(x, sigma, text, torch.ones(2, 7, dtype=torch.bool))
    assert got.shape == x.shape
    assert rel_err(got, expected) < 1e-4


@pytest.mark.parametrize("backend", ["sdpa", "reference"])
def test_every_attention_backend_gives_the_reference_velocity(pair, backend):
    reference, ours = pair
    g = torch.Generator().manual_seed(2)
    x, text = torch.randn(1, 16, 2, 4, 4, generator=g), torch.randn(1, 5, 32, generator=g)
    with torch.no_grad():
        expected = reference(x, torch.tensor([500.0]), padded(text), return_dict=False)[0]
        got = ours(x, torch.tensor([0.5]), text, attention_backend=backend)
    assert rel_err(got, expected) < 1e-4


def diffusers_sample(reference, scheduler, noise, positive, negative, cfg: float, timestep=lambda t: t):
    """The reference's guided sample, stepped by diffusers' own `scheduler` from `noise`."""
    x = noise.clone()
    with torch.no_grad():
        for t in scheduler.timesteps:
            cond = reference(x, timestep(t.expand(1)), padded(positive), return_dict=False)[0]
            uncond = reference(x, timestep(t.expand(1)), padded(negative), return_dict=False)[0]
            x = scheduler.step(uncond + cfg * (cond - uncond), t, x, return_dict=False)[0]
    return x


def guided(ours, positive, negative, cfg: float, timestep=lambda sigma: sigma):
    """Our DiT as a guided k-diffusion denoiser (x - sigma * velocity), every text token real."""

    def denoiser(x, sigma, *, context, context_mask):
        return x - sigma.view(-1, 1, 1, 1, 1) * ours(x, timestep(sigma), context, context_mask)

    mask = lambda e: torch.ones(e.shape[:2], dtype=torch.bool)  # noqa: E731
    return classifier_free_guidance(
        denoiser,
        {"context": positive, "context_mask": mask(positive)},
        {"context": negative, "context_mask": mask(negative)},
        cfg,
    )


def test_four_step_sample_matches_diffusers_scheduler(pair):
    """Euler with classifier-free guidance over diffusers' own shifted schedule, from the same noise."""
    reference, ours = pair
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(shift=5.0)
    scheduler.set_timesteps(4)
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(1, 16, 2, 4, 6, generator=g)
    positive, negative = torch.randn(1, 6, 32, generator=g), torch.zeros(1, 1, 32)
    expected = diffusers_sample(reference, scheduler, noise, positive, negative, 5.0)
    got = sample_euler(guided(ours, positive, negative, 5.0), noise.clone(), scheduler.sigmas.float())
    assert rel_err(got, expected) < 1e-3


def test_four_step_unipc_sample_matches_diffusers_unipc(pair):
    """Wan's own sampler, as WanPipeline sets it up (UniPC on flow sigmas, shift 5), with guidance."""
    reference, ours = pair
    scheduler = diffusers.UniPCMultistepScheduler(
        use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift=5.0
    )
    scheduler.set_timesteps(4)
    g = torch.Generator().manual_seed(5)
    noise = torch.randn(1, 16, 2, 4, 6, generator=g)
    positive, negative = torch.randn(1, 6, 32, generator=g), torch.zeros(1, 1, 32)
    expected = diffusers_sample(reference, scheduler, noise, positive, negative, 5.0, timestep=lambda t: t.float())
    # diffusers' UniPC hands the network whole timesteps (int(sigma * 1000)); the step itself uses sigma
    denoiser = guided(ours, positive, negative, 5.0, timestep=lambda sigma: torch.floor(sigma * 1000) / 1000)
    got = get_sampler("unipc")(denoiser, noise.clone(), scheduler.sigmas.float())
    assert rel_err(got, expected) < 1e-3


def test_the_text_beyond_512_tokens_and_wrong_widths_are_refused(pair):
    _, ours = pair
    x = torch.zeros(1, 16, 1, 4, 4)
    with pytest.raises(ShapeError, match="at most 512"):
        ours(x, torch.tensor([0.5]), torch.zeros(1, 513, 32))
    with pytest.raises(ShapeError, match="umT5"):
        ours(x, torch.tensor([0.5]), torch.zeros(1, 4, 384))
    with pytest.raises(ShapeError, match="divisible"):
        ours(torch.zeros(1, 16, 1, 5, 4), torch.tensor([0.5]), torch.zeros(1, 4, 32))


def test_image_to_video_checkpoint_shapes_are_named():
    with pytest.raises(ValueError, match="image-to-video"):
        WanDiTConfig(in_channels=36)


# ---------------------------------------------------------------- the files users have


def _expected_velocity(reference):
    g = torch.Generator().manual_seed(4)
    x, text = torch.randn(1, 16, 2, 4, 6, generator=g), torch.randn(1, 5, 32, generator=g)
    with torch.no_grad():
        return x, text, reference(x, torch.tensor([300.0]), padded(text), return_dict=False)[0]


def _velocity(model, x, text):
    with torch.no_grad():
        return model(x, torch.tensor([0.3]), text)


def test_comfyui_repackaged_file_loads_without_renaming(pair, tmp_path):
    """ComfyUI's diffusion_models/ files carry Wan's names, sometimes under model.diffusion_model."""
    from safetensors.torch import save_file

    from sora_nodes.families import family_of
    from sora_nodes.families.wan import load_wan_dit

    reference, _ = pair
    wan = diffusers_to_wan(reference.state_dict())
    path = tmp_path / "wan2.1_t2v_tiny_fp32.safetensors"
    save_file({f"model.diffusion_model.{k}": v.contiguous() for k, v in wan.items()}, str(path))
    assert family_of(path) == "wan"
    model = load_wan_dit(path)
    assert model.config.num_layers == 2 and model.config.dim == 48 and model.config.num_heads == 4
    x, text, expected = _expected_velocity(reference)
    assert rel_err(_velocity(model, x, text), expected) < 1e-4


def test_a_half_precision_file_loads_in_the_dtype_asked_for(pair, tmp_path):
    from safetensors.torch import save_file

    from sora_nodes.families.wan import load_wan_dit

    reference, _ = pair
    path = tmp_path / "wan_fp16.safetensors"
    save_file({k: v.half().contiguous() for k, v in diffusers_to_wan(reference.state_dict()).items()}, str(path))
    model = load_wan_dit(path, dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    x, text, expected = _expected_velocity(reference)
    assert rel_err(_velocity(model, x, text).float(), expected) < 0.05  # bf16 arithmetic, same network


@pytest.mark.parametrize("shard", [None, "60KB"], ids=["one file", "sharded"])
def test_diffusers_release_folders_load(pair, tmp_path, shard):
    from sora_nodes.families import family_of
    from sora_nodes.families.wan import load_wan_dit

    reference, _ = pair
    reference.save_pretrained(tmp_path / "transformer", **({"max_shard_size": shard} if shard else {}))
    if shard:
        assert len(list((tmp_path / "transformer").glob("*.safetensors"))) > 1
    assert family_of(tmp_path / "transformer") == "wan"
    x, text, expected = _expected_velocity(reference)
    assert rel_err(_velocity(load_wan_dit(tmp_path / "transformer"), x, text), expected) < 1e-4


def _saved(tmp_path, weights, name="bad.safetensors"):
    from safetensors.torch import save_file

    path = tmp_path / name
    save_file({k: v.contiguous() for k, v in weights.items()}, str(path))
    return path


def test_wrong_files_are_refused_with_what_is_wrong(pair, tmp_path):
    from sora_nodes.errors import CheckpointError
    from sora_nodes.families import family_of
    from sora_nodes.families.wan import load_wan_dit

    reference, _ = pair
    wan = diffusers_to_wan(reference.state_dict())
    with pytest.raises(CheckpointError, match="models/diffusion_models/"):
        load_wan_dit(tmp_path / "absent.safetensors")
    vae_like = _saved(tmp_path, {"encoder.conv1.weight": torch.zeros(8, 3, 3, 3, 3)}, "vae.safetensors")
    assert family_of(vae_like) != "wan"
    with pytest.raises(CheckpointError, match="not a Wan 2.1 diffusion model"):
        load_wan_dit(vae_like)
    missing = _saved(tmp_path, {k: v for k, v in wan.items() if k != "blocks.1.cross_attn.k.weight"})
    with pytest.raises(CheckpointError, match=r"1 missing \(blocks\.1\.cross_attn\.k\.weight\)"):
        load_wan_dit(missing)
    wrong = dict(wan, **{"blocks.0.ffn.2.bias": torch.zeros(47)})
    with pytest.raises(CheckpointError, match=r"blocks\.0\.ffn\.2\.bias is \[47\], expected \[48\]"):
        load_wan_dit(_saved(tmp_path, wrong))
    i2v = dict(wan, **{"patch_embedding.weight": torch.zeros(48, 36, 1, 2, 2)})
    with pytest.raises(CheckpointError, match="36 input channels"):
        load_wan_dit(_saved(tmp_path, i2v))
    good = _saved(tmp_path, wan, "good.safetensors")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_wan_dit(truncated)


@pytest.mark.parametrize(
    "preset, reference",
    [
        ("1.3B", dict(num_attention_heads=12, ffn_dim=8960, num_layers=30)),  # Wan-AI/Wan2.1-T2V-1.3B-Diffusers
        ("14B", dict(num_attention_heads=40, ffn_dim=13824, num_layers=40)),  # Wan-AI/Wan2.1-T2V-14B-Diffusers
    ],
)
def test_the_real_size_presets_have_the_tensors_of_the_released_models(preset, reference):
    """Built on the meta device (no memory): every tensor of diffusers' configuration of the release, renamed,
    is one of ours with the same shape, and the other way round; and the config read back from those shapes is
    the preset."""
    from sora_nodes.families.wan import wan_dit_config_from_weights
    from sora_nodes.models.wan_dit import wan_dit_preset

    with torch.device("meta"):
        theirs = diffusers.WanTransformer3DModel(attention_head_dim=128, text_dim=4096, freq_dim=256, **reference)
        ours = WanDiT(wan_dit_preset(preset))
    shapes = {k: tuple(v.shape) for k, v in diffusers_to_wan(theirs.state_dict()).items()}
    assert shapes == {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert wan_dit_config_from_weights(ours.state_dict(), "meta") == wan_dit_preset(preset)
