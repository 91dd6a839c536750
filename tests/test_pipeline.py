"""generate() end to end on a tiny random model: sizes, seeds, guidance, samplers, conditions, errors."""

import pytest
import torch

from sora_nodes.diffusion.conditioning import known_frames
from sora_nodes.errors import ShapeError, SoraError
from sora_nodes.pipeline.generate import decode_latent, generate
from sora_nodes.pipeline.sampling import SamplingSettings, encode_prompt, sample_latent

FAST = SamplingSettings(steps=3, cfg=3.0)


@pytest.mark.parametrize("width,height,frames", [(64, 64, 17), (112, 64, 9), (64, 112, 5), (32, 32, 1)])
def test_renders_native_sizes_without_cropping(tiny_model, text_encoder, width, height, frames):
    video = generate(
        tiny_model,
        "a red circle moving left",
        width=width,
        height=height,
        frames=frames,
        settings=FAST,
        text_encoder=text_encoder,
    )
    assert video.shape == (frames, height, width, 3)
    assert video.dtype == torch.float32
    assert 0 <= video.min() and video.max() <= 1


def render_5_frames(model, text_encoder, prompt: str, **settings):
    """A 5-frame clip in 3 steps, for comparing settings."""
    return generate(model, prompt, frames=5, text_encoder=text_encoder, settings=SamplingSettings(steps=3, **settings))


def test_same_seed_same_video_and_other_seed_differs(tiny_model, text_encoder):
    def render(seed):
        return render_5_frames(tiny_model, text_encoder, "a blue square", seed=seed)

    a, b, c = render(7), render(7), render(8)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (a - c).abs().mean() > 1e-3


def test_prompt_and_negative_prompt_steer_the_result(tiny_model, text_encoder):
    def render(prompt, negative="", cfg=4.0):
        return generate(
            tiny_model,
            prompt,
            negative_prompt=negative,
            frames=5,
            text_encoder=text_encoder,
            settings=SamplingSettings(steps=3, cfg=cfg),
        )

    base = render("a red circle")
    assert (render("a green triangle") - base).abs().mean() > 1e-4
    assert (render("a red circle", negative="blurry noise") - base).abs().mean() > 1e-4
    # cfg 1 is the conditional model alone: the negative prompt must not matter
    torch.testing.assert_close(render("a red circle", "blurry", cfg=1.0), render("a red circle", "", cfg=1.0))


@pytest.mark.parametrize("sampler", ["euler", "heun", "dpmpp_2m"])
def test_every_sampler_renders_and_reports_progress(tiny_model, text_encoder, sampler):
    steps = []
    video = generate(
        tiny_model,
        "a yellow circle bouncing",
        frames=5,
        text_encoder=text_encoder,
        settings=SamplingSettings(steps=4, sampler=sampler),
        callback=lambda info: steps.append(info["i"]),
    )
    assert steps == [0, 1, 2, 3]
    assert torch.isfinite(video).all()


def test_attention_backends_render_the_same_video(tiny_model, text_encoder):
    from sora_nodes.models.attention import available_backends

    videos = [
        generate(
            tiny_model,
            "a purple square",
            frames=5,
            text_encoder=text_encoder,
            settings=SamplingSettings(steps=2, attention=b),
        )
        for b in available_backends("cpu")
    ]
    for v in videos[1:]:
        torch.testing.assert_close(v, videos[0], rtol=1e-4, atol=1e-4)


def test_known_latent_frames_are_kept_exactly(tiny_model, text_encoder):
    # image-to-video through the spacetime condition: latent frame 0 is given and must survive sampling
    image = torch.rand(1, 3, 1, 32, 32) * 2 - 1
    with torch.inference_mode():
        z0 = tiny_model.vae.encode(image)  # [1, C, 1, 8, 8]
    latent_shape = tiny_model.latent_shape(9, 32, 32)
    known = torch.zeros(1, z0.shape[1], *latent_shape)
    known[:, :, :1] = z0
    condition = known_frames(known, [0])
    positive, negative = encode_prompt(text_encoder, "a red circle")
    latent = sample_latent(tiny_model, positive, negative, latent_shape, FAST, condition=condition)
    torch.testing.assert_close(latent[:, :, 0], z0[:, :, 0], rtol=0, atol=0)
    free = sample_latent(tiny_model, positive, negative, latent_shape, FAST)
    assert (free[:, :, 0] - z0[:, :, 0]).abs().mean() > 1e-2
    assert decode_latent(tiny_model.vae, latent).shape == (9, 32, 32, 3)


def test_bad_requests_fail_before_any_work(tiny_model, text_encoder):
    with pytest.raises(SoraError, match="prompt is empty"):
        generate(tiny_model, "   ", frames=5, settings=FAST, text_encoder=text_encoder)
    with pytest.raises(ShapeError, match=r"frames must be 1 \+ k\*4.*got 8, try 5 or 9"):
        generate(tiny_model, "x", frames=8, settings=FAST, text_encoder=text_encoder)
    with pytest.raises(ShapeError, match="width must be a multiple of 8.*try 56 or 64"):
        generate(tiny_model, "x", width=60, frames=5, settings=FAST, text_encoder=text_encoder)
    with pytest.raises(ShapeError, match="height must be a multiple of 8"):
        generate(tiny_model, "x", height=4, frames=5, settings=FAST, text_encoder=text_encoder)
    with pytest.raises(SoraError, match="steps must be at least 1"):
        SamplingSettings(steps=0)
    with pytest.raises(SoraError, match="dpmpp_2m"):
        SamplingSettings(sampler="ddim")


def test_bf16_precision_runs_the_dit_in_bf16_and_stays_close(tiny_model, text_encoder):
    def render(precision):
        return render_5_frames(tiny_model, text_encoder, "a white square", precision=precision)

    fp32, bf16 = render("fp32"), render("bf16")
    torch.testing.assert_close(render("auto"), fp32, rtol=0, atol=0)  # auto is fp32 on CPU
    difference = (fp32 - bf16).abs()
    assert difference.max() > 0  # autocast really ran in bf16
    assert difference.mean() < 0.02  # ... and bf16 rounding does not change the picture
    with pytest.raises(SoraError, match="precision must be one of"):
        SamplingSettings(precision="int8")


def test_encode_frames_is_the_inverse_layout_of_decode_latent(tiny_model):
    from sora_nodes.pipeline.generate import encode_frames

    frames = torch.rand(9, 32, 56, 3)
    latent = encode_frames(tiny_model.vae, frames)
    assert latent.shape == (1, tiny_model.vae.config.latent_channels, 3, 8, 14)
    assert decode_latent(tiny_model.vae, latent).shape == frames.shape
    # the first frame alone is an image: it encodes to exactly the clip's first latent frame
    torch.testing.assert_close(
        encode_frames(tiny_model.vae, frames[:1])[:, :, 0], latent[:, :, 0], rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ShapeError, match="frames must be 1 \\+ k\\*4"):
        encode_frames(tiny_model.vae, frames[:8])
    with pytest.raises(ShapeError, match="IMAGE layout"):
        encode_frames(tiny_model.vae, frames.permute(0, 3, 1, 2))
