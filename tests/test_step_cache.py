"""Step caching (sora_nodes/parallel/step_cache.py): a pure wrapper of the model function that skips calls whose
input barely changed and reuses the last velocity; off by default, a sampler node input and a CLI flag."""

from __future__ import annotations

import pytest
import torch
from parallel_cases import prompts, sora_model

from sora_nodes.cli import build_parser
from sora_nodes.comfy.sampler import SoraSampler
from sora_nodes.diffusion.conditioning import SpacetimeCondition
from sora_nodes.diffusion.flow import sigma_schedule
from sora_nodes.diffusion.samplers import sample_euler
from sora_nodes.errors import SoraError
from sora_nodes.graph.templates import text_to_video_graph
from sora_nodes.parallel.step_cache import DEFAULT_THRESHOLD, step_cache
from sora_nodes.pipeline.sampling import SamplingSettings, sample_latent


def _straight_flow(data: torch.Tensor):
    """A model whose every call is exact for the straight path from noise n to `data`: x0_hat = data."""
    calls = []

    def model(x, sigma):
        calls.append(float(sigma[0]))
        return data.expand_as(x).clone()

    return model, calls


def test_off_is_the_model_itself_and_the_default():
    assert SamplingSettings().step_cache == 0.0
    data = torch.randn(1, 4, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    model, calls = _straight_flow(data)
    x, sigmas = torch.randn_like(data), sigma_schedule(10, shift=3.0)
    wrapped = step_cache(model, 0.0, sigmas=sigmas)
    assert torch.equal(sample_euler(wrapped, x, sigmas), sample_euler(model, x, sigmas))
    assert wrapped.stats == {"calls": 10, "forwards": 10, "skipped": 0} and len(calls) == 20


def test_reusing_the_velocity_is_exact_on_a_straight_path_and_skips_all_but_the_edges():
    data = torch.randn(1, 4, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    model, calls = _straight_flow(data)
    x, sigmas = torch.randn_like(data), sigma_schedule(12, shift=3.0)
    wrapped = step_cache(model, 0.5, sigmas=sigmas, warmup=2)
    out = sample_euler(wrapped, x, sigmas)
    torch.testing.assert_close(out, data, rtol=0, atol=1e-5)
    # the velocity never changes, so after the two warm-up calls only the last step runs the model
    assert wrapped.stats == {"calls": 12, "forwards": 3, "skipped": 9}
    assert calls[-1] == pytest.approx(float(sigmas[-2]))  # the schedule's last step is never skipped


def test_a_cached_render_saves_forwards_keeps_known_latents_and_is_deterministic():
    model = sora_model()
    pos, neg = prompts(model.dit.config.text_dim)
    known = torch.zeros(1, 4, 5, 4, 4)
    known[:, :, :1] = torch.randn(1, 4, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    mask = torch.zeros(1, 1, 5, 4, 4)
    mask[:, :, :1] = 1
    condition = SpacetimeCondition(known, mask)
    calls = []
    hook = model.dit.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        settings = SamplingSettings(steps=16, cfg=4.0, seed=2)
        plain = sample_latent(model, pos, neg, (5, 4, 4), settings, condition=condition)
        n_plain = len(calls)
        cached_settings = SamplingSettings(steps=16, cfg=4.0, seed=2, step_cache=0.3)
        cached = sample_latent(model, pos, neg, (5, 4, 4), cached_settings, condition=condition)
        n_cached = len(calls) - n_plain
        again = sample_latent(model, pos, neg, (5, 4, 4), cached_settings, condition=condition)
    finally:
        hook.remove()
    assert n_plain == 16 and n_cached < n_plain
    assert torch.equal(cached[:, :, :1], known[:, :, :1]) and torch.equal(cached, again)
    assert float((cached - plain).abs().max()) < float(plain.abs().max())  # a nearby render, not another one


def test_bad_thresholds_are_refused():
    with pytest.raises(SoraError, match="step_cache must be in"):
        SamplingSettings(step_cache=-1)
    with pytest.raises(ValueError, match=">= 0"):
        step_cache(lambda x, s: x, -0.5)


def test_it_is_a_sampler_node_input_and_a_render_flag_that_the_stored_graph_keeps():
    spec = SoraSampler.INPUT_TYPES()["optional"]["step_cache"]
    assert spec[0] == "FLOAT" and spec[1]["default"] == 0.0
    args = build_parser().parse_args(["render", "a red circle", "--step-cache", str(DEFAULT_THRESHOLD)])
    assert args.step_cache == DEFAULT_THRESHOLD
    assert build_parser().parse_args(["render", "a red circle"]).step_cache == 0.0
    assert text_to_video_graph("a", step_cache=0.1)["6"]["inputs"]["step_cache"] == 0.1
    assert "step_cache" not in text_to_video_graph("a")["6"]["inputs"]  # off: the graph is as before
    eval_args = build_parser().parse_args(["eval", "--step-cache", "0.1"])
    assert eval_args.step_cache == 0.1
