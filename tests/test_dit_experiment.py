"""The DiT experiment protocol (issue 20): data prediction, object-weighted loss, the CPU budget,
the quick-eval prompt sets, and the arms' table."""

import dataclasses
import json
import random

import pytest
import torch

from sora_nodes.diffusion.flow import denoised_from_velocity
from sora_nodes.evaluate.prompts import load_prompts, prompt_set_path
from sora_nodes.models.dit import DiT, DiTConfig, dit_preset
from sora_nodes.recaption import recaption
from sora_nodes.train.buckets import Bucket, parse_buckets
from sora_nodes.train.dit_trainer import DiTTrainSettings, object_background_loss, train_dit
from sora_nodes.train.experiment import ARMS, arm_settings, results_table
from sora_nodes.train.latent_cache import latent_salience, load_cache
from sora_nodes.train.sources import WorldSource
from sora_nodes.world import HELD_OUT, make_clip, object_geometry

BUCKETS = parse_buckets("32x32x5:1")


def _inputs(config: DiTConfig, b=2):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, config.latent_channels, 3, 4, 4, generator=g)
    return x, torch.tensor([0.3, 0.8]), torch.randn(b, 5, config.text_dim, generator=g), torch.ones(b, 5, dtype=bool)


def test_a_data_predicting_dit_returns_the_velocity_whose_denoised_latent_is_its_own_estimate():
    config = dataclasses.replace(dit_preset("tiny"), latent_channels=4, prediction="data")
    dit = DiT(config)
    torch.nn.init.normal_(dit.final_layer.linear.weight, std=0.1)  # a network that outputs something
    x, sigma, ctx, mask = _inputs(config)
    velocity = dit(x, sigma, ctx, mask)
    dit.config = dataclasses.replace(config, prediction="velocity")  # the same weights, raw output
    raw = dit(x, sigma, ctx, mask)
    torch.testing.assert_close(denoised_from_velocity(x, velocity, sigma), raw, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="prediction must be one of velocity, data"):
        DiTConfig(prediction="epsilon")


def test_a_velocity_checkpoint_config_without_the_prediction_field_still_loads():
    from sora_nodes.models.config import config_from_json

    old = json.dumps({"latent_channels": 8, "patch_size": [1, 4, 4], "hidden_size": 64, "depth": 2, "num_heads": 4})
    assert config_from_json(DiTConfig, old).prediction == "velocity"


def test_latent_salience_marks_the_cells_an_object_covers_and_not_the_textured_backdrop():
    clip = make_clip(3, width=64, height=64, frames=17)
    video = torch.from_numpy(clip.frames).float().div(255).permute(3, 0, 1, 2)[None] * 2 - 1  # [1, 3, T, H, W]
    cells = latent_salience(video, 4, 4)  # [1, 1, 5, 16, 16]
    assert cells.shape == (1, 1, 5, 16, 16)
    for frame, latent_frame in ((0, 0), (16, 4)):
        inside = torch.zeros(16, 16, dtype=torch.bool)
        for obj in clip.scene.objects:
            cx, cy, r, _ = object_geometry(clip.scene, obj, frame)
            inside[int(cy // 4), int(cx // 4)] = True  # the cell under each object's centre
        on = cells[0, 0, latent_frame]
        assert on[inside].min() > 0.3
        assert (on > 0.15).float().mean() < 0.35  # most of the frame is backdrop


def test_world_items_are_the_same_clips_as_a_plain_sample_with_their_first_object():
    source = WorldSource(BUCKETS)
    video, captions, subjects = source.sample_items(Bucket(32, 32, 5), 3, random.Random(7))
    plain, plain_captions = source.sample(Bucket(32, 32, 5), 3, random.Random(7))
    assert torch.equal(video, plain) and captions == plain_captions
    for caption, subject in zip(captions, subjects, strict=True):
        assert subject["color"] in caption and subject["count"] in (1, 2, 3)


def test_the_loss_split_reports_object_and_backdrop_cells_apart():
    x0, noise = torch.zeros(1, 2, 1, 2, 2), torch.zeros(1, 2, 1, 2, 2)
    pred = torch.zeros(1, 2, 1, 2, 2)
    pred[..., 0, 0] = 3.0  # wrong only on the object cell
    salience = torch.tensor([[[[[0.8, 0.0], [0.0, 0.0]]]]])
    obj, bg = object_background_loss(pred, x0, noise, torch.tensor([0.5]), salience, torch.ones_like(salience))
    assert obj == pytest.approx(9.0) and bg == 0.0


@pytest.fixture(scope="module")
def vae_path(tmp_path_factory):
    from sora_nodes.models.vae import VAE_PRESETS
    from sora_nodes.train.vae_trainer import VAETrainSettings, train_vae

    out = tmp_path_factory.mktemp("vae")
    settings = VAETrainSettings(steps=1, batch=2, save_every=1, stats_clips=4, warmup=1)
    return train_vae(out, config=VAE_PRESETS["tiny"], source=WorldSource(BUCKETS), settings=settings, log=print)


def test_a_cpu_budget_ends_the_run_and_the_cache_keeps_salience_and_subjects(vae_path, tmp_path, capsys):
    settings = DiTTrainSettings(steps=10_000, batch=2, dataset_size=4, warmup=1, object_weight=4.0, cpu_minutes=0.01)
    kw = dict(config=dit_preset("tiny"), vae_path=vae_path, source=WorldSource(BUCKETS), log=print)
    train_dit(tmp_path, settings=settings, cache_path=tmp_path / "shared" / "latents.pt", **kw)
    out = capsys.readouterr().out
    assert "0.01 CPU minutes spent" in out and "object cells" in out
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert 0 < state["step"] < 10_000 and state["loss_split"].shape == (state["step"], 2)
    (data,) = load_cache(tmp_path / "shared" / "latents.pt").values()
    assert data.salience.shape == (4, 1, *data.mean.shape[2:]) and len(data.subjects) == 4


def test_arms_change_only_what_their_name_says():
    base_config, base, _ = arm_settings(ARMS["baseline"], cpu_minutes=20, overfit=False)
    config, settings, _ = arm_settings(ARMS["x-pred+object"], cpu_minutes=20, overfit=False)
    assert dataclasses.replace(config, prediction="velocity") == base_config
    assert dataclasses.replace(settings, object_weight=0.0) == base
    _, shifted, _ = arm_settings(ARMS["shift-2x"], cpu_minutes=20, overfit=False)
    assert shifted.sigma_shift_scale == 2.0 and dataclasses.replace(shifted, sigma_shift_scale=1.0) == base
    _, low, _ = arm_settings(ARMS["shift-half"], cpu_minutes=20, overfit=False)
    assert low.sigma_shift_scale == 0.5 and dataclasses.replace(low, sigma_shift_scale=1.0) == base
    _, by_steps, _ = arm_settings(ARMS["baseline"], cpu_minutes=20, overfit=False, steps=3000)  # a GPU arm
    assert (by_steps.steps, by_steps.cpu_minutes) == (3000, 0.0) and base.cpu_minutes == 20
    _, overfit, buckets = arm_settings(ARMS["baseline"], cpu_minutes=20, overfit=True)
    assert overfit.dataset_size == 64 and list(buckets) == [Bucket(64, 64, 17)]


def test_quick_sets_are_24_seen_and_24_held_out_triples_in_new_wordings_the_recaptioner_reads():
    sets = {name: load_prompts(prompt_set_path(name)) for name in ("quick_seen", "quick_heldout")}
    triple = lambda p: (p.expect.color, p.expect.shape, p.expect.motion)  # noqa: E731
    assert {triple(p) for p in sets["quick_heldout"]} == set(HELD_OUT)
    assert len(sets["quick_seen"]) == 24 and not {triple(p) for p in sets["quick_seen"]} & HELD_OUT
    shipped = {p.prompt for f in ("heldout_prompts", "seen_prompts") for p in load_prompts(prompt_set_path(f))}
    for prompt in sets["quick_seen"] + sets["quick_heldout"]:
        assert prompt.prompt not in shipped
        obj = recaption(prompt.prompt).scene.objects[0]
        assert (obj.color, obj.shape, obj.motion) == triple(prompt)


def test_results_table_lists_each_arm_with_its_figures(tmp_path):
    for name, overfit in (("baseline", False), ("overfit-baseline", True)):
        (tmp_path / name).mkdir()
        scores = {"color": 0.5, "shape": 0.25, "motion": 0.125, "shape_margin": -0.0123}
        result = {"arm": "baseline", "overfit": overfit, "cpu_minutes": 20.0, "steps": 1100, "loss": 0.3}
        result |= {"own_captions": scores} if overfit else {"seen": scores, "heldout": scores}
        (tmp_path / name / "result.json").write_text(json.dumps(result))
    lines = results_table(tmp_path).splitlines()
    assert len(lines) == 4 and "overfit 64" in lines[2] and "50 / 25 / 12 (-0.012)" in lines[3]
