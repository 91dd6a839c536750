import os

import pytest
import torch

from sora_nodes.families.bundle import new_sora_model, save_sora_model


def randomize_zero_branches(module: torch.nn.Module, seed: int = 0, std: float = 0.05) -> None:
    """adaLN-zero leaves an untrained DiT predicting exactly zero velocity; randomising those
    weights makes every input path (text, negative prompt, condition) visible in the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            if p.abs().sum() == 0:
                p.copy_(torch.randn(p.shape, generator=g) * std)


@pytest.fixture(scope="session")
def tiny_model():
    model = new_sora_model("tiny", "tiny", seed=0)
    randomize_zero_branches(model.dit)
    return model


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_model, tmp_path_factory):
    return save_sora_model(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors", tiny_model, training={"test": True})


@pytest.fixture(scope="session", autouse=True)
def c2pa_credentials_in_a_temporary_config(tmp_path_factory):
    """Saved videos are signed with certificates made in the user's config folder on first use;
    tests (and the ComfyUI servers they start) make theirs in a temporary one instead."""
    os.environ["SORA_CONFIG_DIR"] = str(tmp_path_factory.mktemp("sora-config"))


@pytest.fixture(scope="session")
def loaded():
    """SoraCheckpointLoader's outputs for the shipped default model: (model, vae, text encoder)."""
    from sora_nodes.comfy import NODE_CLASS_MAPPINGS
    from sora_nodes.graph.host import HeadlessHost, use_host

    with use_host(HeadlessHost(quiet=True)):
        return NODE_CLASS_MAPPINGS["SoraCheckpointLoader"]().load("sora-default.safetensors")


@pytest.fixture(scope="session")
def text_encoder():
    from sora_nodes.models.text import load_text_encoder

    return load_text_encoder("all-MiniLM-L6-v2")


@pytest.fixture(autouse=True)
def grad_mode_is_not_leaked():
    """A library call that switches autograd off globally would break every training step after it."""
    yield
    assert torch.is_grad_enabled(), "a test (or the code it ran) left torch.set_grad_enabled(False) behind"
