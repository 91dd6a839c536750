import dataclasses
import json

import pytest
import torch

from sora_nodes.errors import CheckpointError
from sora_nodes.families.bundle import SoraModel, load_sora_model, new_sora_model, save_sora_model
from sora_nodes.models.dit import DiT, dit_preset
from sora_nodes.models.vae import VAE_PRESETS, VideoVAE


def test_saved_bundle_loads_with_the_same_networks_and_training_record(tiny_model, tiny_checkpoint):
    loaded = load_sora_model(tiny_checkpoint)
    assert loaded.dit.config == tiny_model.dit.config and loaded.vae.config == tiny_model.vae.config
    assert loaded.text_encoder == "all-MiniLM-L6-v2"
    assert json.loads(loaded.metadata["training"]) == {"test": True}
    x = torch.randn(1, tiny_model.dit.config.latent_channels, 2, 4, 4)
    ctx, mask = torch.randn(1, 3, 384), torch.ones(1, 3, dtype=torch.bool)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.dit(x, torch.tensor([0.3]), ctx, mask),
            tiny_model.dit(x, torch.tensor([0.3]), ctx, mask),
            rtol=0,
            atol=0,
        )


def test_dit_follows_the_vae_latent_and_the_text_encoder_width():
    model = new_sora_model("tiny", "small")
    assert model.dit.config.latent_channels == VAE_PRESETS["small"].latent_channels
    assert model.dit.config.text_dim == 384


def test_mismatched_pair_and_unknown_text_encoder_are_refused(tmp_path):
    dit = DiT(dataclasses.replace(dit_preset("tiny"), latent_channels=8))
    vae = VideoVAE(VAE_PRESETS["tiny"])  # 4 latent channels
    with pytest.raises(CheckpointError, match="DiT expects 8 latent channels but the VAE makes 4"):
        SoraModel(dit, vae)
    with pytest.raises(CheckpointError, match="unknown text encoder 't5-xxl'"):
        new_sora_model(text_encoder="t5-xxl")


def test_vae_only_checkpoint_is_not_a_sora_model(tmp_path):
    from sora_nodes.families.checkpoint import save_checkpoint

    path = save_checkpoint(tmp_path / "vae.safetensors", {"vae": VideoVAE(VAE_PRESETS["tiny"])})
    with pytest.raises(CheckpointError, match="has no network 'dit'"):
        load_sora_model(path)
    model = new_sora_model()
    save_sora_model(tmp_path / "ok.safetensors", model)
    assert load_sora_model(tmp_path / "ok.safetensors").latent_shape(17, 64, 112) == (5, 16, 28)
