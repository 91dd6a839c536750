"""The shipped default model: present, small, complete, and it renders every advertised shape."""

import json

import pytest
import torch

from sora_nodes.families.bundle import default_model_path, load_sora_model
from sora_nodes.families.checkpoint import read_metadata
from sora_nodes.pipeline.generate import generate
from sora_nodes.pipeline.sampling import SamplingSettings
from sora_nodes.recaption import recaption

MAX_BYTES = 40 * 1024 * 1024


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
