"""A render's memory and time are known before it starts; one that cannot fit is refused with the size that does."""

import math
import subprocess
import sys
import textwrap

import pytest
import torch

from sora_nodes.comfy import NODE_CLASS_MAPPINGS
from sora_nodes.diffusion.flow import MAX_SHIFT, resolution_shift, sigma_schedule
from sora_nodes.errors import ResourceError
from sora_nodes.families.bundle import default_model_path, load_sora_model
from sora_nodes.models.text import load_text_encoder
from sora_nodes.pipeline import budget as render_budget
from sora_nodes.pipeline.generate import check_render, check_request
from sora_nodes.pipeline.sampling import SamplingSettings

MEASURE = textwrap.dedent(
    """
    import sys
    from sora_nodes.families.bundle import default_model_path, load_sora_model
    from sora_nodes.models.text import load_text_encoder
    from sora_nodes.pipeline.generate import generate
    from sora_nodes.pipeline.sampling import SamplingSettings
    w, h, frames = (int(v) for v in sys.argv[1:4])
    model = load_sora_model(default_model_path())
    text_encoder = load_text_encoder(model.text_encoder)
    settings = SamplingSettings(steps=1)
    generate(model, "a red circle", width=64, height=64, frames=5, settings=settings, text_encoder=text_encoder)
    def status(key):  # kB
        return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key))
    open("/proc/self/clear_refs", "w").write("5")  # the peak (VmHWM) restarts from the current RSS
    before = status("VmRSS:")
    generate(model, "a red circle", width=w, height=h, frames=frames, settings=settings, text_encoder=text_encoder)
    print((status("VmHWM:") - before) * 1024)
    """
)


@pytest.fixture(scope="module")
def model():
    return load_sora_model(default_model_path())


def estimate(model, width, height, frames=17, steps=1, **kw):
    latent = check_request(model, width=width, height=height, frames=frames)
    return render_budget.estimate_render(model, latent, SamplingSettings(steps=steps), frames=frames, **kw)


@pytest.mark.parametrize("size", [(256, 256, 17), (512, 256, 9)])
def test_the_memory_estimate_covers_the_measured_peak_without_crying_wolf(model, size):
    """Peak RSS growth of a real render in a fresh process, against the estimate made before it."""
    w, h, frames = size
    out = subprocess.run([sys.executable, "-c", MEASURE, str(w), str(h), str(frames)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    measured = int(out.stdout.split()[-1])
    predicted = estimate(model, w, h, frames).peak_bytes
    assert measured <= predicted <= 3 * measured, (measured / 2**20, predicted / 2**20)


def test_memory_and_work_grow_with_the_picture(model):
    small, wide, tiled = estimate(model, 256, 256), estimate(model, 512, 256), estimate(model, 512, 256, decode_tile=8)
    assert 1.7 < wide.peak_bytes / small.peak_bytes < 2.3
    assert 1.7 < wide.flops / small.flops < 2.5
    assert tiled.peak_bytes < wide.peak_bytes  # decoding in tiles bounds the VAE's share
    one, two, twenty = (estimate(model, 64, 64, steps=n).flops for n in (1, 2, 20))
    assert twenty - one == pytest.approx(19 * (two - one))  # each step adds the same two DiT calls


def test_a_render_that_cannot_fit_is_refused_with_the_largest_size_that_fits(model, monkeypatch):
    free = 300 * 2**20
    monkeypatch.setattr(render_budget, "available_bytes", lambda device: free)
    settings = SamplingSettings(steps=1)
    with pytest.raises(ResourceError) as refused:
        check_render(model, settings, width=512, height=256, frames=17)
    message = str(refused.value)
    assert "512x256 render of 17 frames" in message and "0.3 GiB" in message
    fit = message.split("that fits is ")[1].split(",")[0]
    w, h = (int(v) for v in fit.split("x"))
    assert w == 2 * h  # the same shape
    assert estimate(model, w, h).peak_bytes <= free < estimate(model, w + 32, h + 16).peak_bytes
    check_render(model, settings, width=w, height=h, frames=17)  # no error


def test_a_very_slow_render_is_announced_before_it_starts(model, caplog, monkeypatch):
    monkeypatch.setattr(render_budget, "SLOW_SECONDS", 1.0)
    settings = SamplingSettings(steps=50)
    with caplog.at_level("WARNING", logger="sora_nodes"):
        check_render(model, settings, width=256, height=256, frames=17)
    assert "this render needs about" in caplog.text and "fewer steps" in caplog.text


def test_the_sampler_node_refuses_a_batch_that_cannot_fit(model):
    latent = NODE_CLASS_MAPPINGS["SoraEmptyVideoLatent"]().empty(
        width=2048, height=2048, frames=17, fps=8.0, batch_size=16
    )[0]
    text = load_text_encoder(model.text_encoder)
    positive, negative = text.encode(["a red circle"]), text.encode([""])
    with torch.inference_mode(), pytest.raises(ResourceError, match=r"2048x2048 render of 17 frames \(batch 16\)"):
        NODE_CLASS_MAPPINGS["SoraSampler"]().sample(
            model, positive, negative, latent, 0, 20, 5.0, "euler", 0.0, 1.0, "auto"
        )


def test_the_schedule_shift_stays_finite_for_huge_videos():
    assert resolution_shift(10**9) == pytest.approx(MAX_SHIFT)
    sigmas = sigma_schedule(1000, shift=resolution_shift(10**9))
    assert torch.all(sigmas[1:] < sigmas[:-1]) and math.isfinite(sigmas.sum().item())
