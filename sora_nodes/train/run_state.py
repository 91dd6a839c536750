"""What a training run keeps on disk so it can resume: weights, EMA, optimizer, step, losses, CPU time."""

import json
from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..errors import SoraError
from ..flags import flag
from ..io.atomic import atomic_path
from ..models.config import config_from_json
from ..models.dit import DiTConfig
from ..models.vae import VAEConfig

STATE_FILE = "state.pt"
# `--precision` of both trainers
PRECISION_FLAG = flag("auto: bf16 autocast on CUDA (and AMX CPUs), fp32 elsewhere", choices=("auto", "fp32", "bf16"))
# settings a run may change when it continues: the schedule length, where it stops, how often it
# saves and scores; the vae entry is a path, and the VAE's recipe is compared instead
CONTINUABLE = ("steps", "stop_after", "save_every", "eval_every", "eval_prompts", "vae", "cpu_minutes")
CONFIGS = {"dit": DiTConfig, "vae": VAEConfig}


def changed_settings(saved: dict, meta: dict) -> dict:
    """{setting: (saved, now)} for what a run may not change when it continues. Only settings the saved run
    recorded count, and network configs compare as configs, so a field added since at its default is no change."""

    def comparable(key, value):
        kind = CONFIGS.get(meta.get("kind"))
        return config_from_json(kind, value) if key == "config" and kind is not None else value

    return {
        k: (saved[k], v)
        for k, v in meta.items()
        if k in saved and k not in CONTINUABLE and comparable(k, saved[k]) != comparable(k, v)
    }


def make_ema(model: nn.Module, decay: float) -> AveragedModel:
    """An exponential moving average of `model` (buffers such as latent statistics are copied)."""
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def save_state(
    out_dir: Path,
    *,
    model,
    ema,
    optimizer,
    step: int,
    losses: list[float],
    meta: dict,
    cpu_seconds: float = 0.0,
    extra: dict | None = None,
) -> Path:
    """`cpu_seconds`: the training CPU time of every process of the run so far, so an arm interrupted and
    resumed is still compared at its true CPU minutes. `extra`: further tensors to keep beside the state
    (figures of this process's steps, not resumed)."""
    path = out_dir / STATE_FILE
    state = {
        "model": model.state_dict(),
        "ema": ema.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "losses": torch.tensor(losses, dtype=torch.float32),
        "cpu_seconds": cpu_seconds,
        "meta": json.dumps(meta, sort_keys=True),
        **(extra or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_state(out_dir: Path, *, model, ema, optimizer, meta: dict) -> tuple[int, list[float], float]:
    """Restore a run from out_dir/state.pt: its step, losses and CPU seconds (0 for a state saved before
    they were kept); refuses a state written with different settings."""
    path = out_dir / STATE_FILE
    if not path.is_file():
        raise SoraError(f"--resume: no {STATE_FILE} in {out_dir}; start without --resume first")
    state = torch.load(path, map_location="cpu", weights_only=True)
    saved = json.loads(state["meta"])
    changed = changed_settings(saved, meta)
    if changed:
        detail = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
        raise SoraError(
            f"--resume: {path} was trained with other settings ({detail}); use the same settings or a new --out"
        )
    model.load_state_dict(state["model"])
    ema.load_state_dict(state["ema"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), state["losses"].tolist(), float(state.get("cpu_seconds", 0.0))


def save_loss_curve(losses: list[float], path: Path, title: str) -> Path:
    """Raw per-step loss and its moving average, log scale, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    y = np.asarray(losses, dtype=np.float64)
    ax.plot(np.arange(1, len(y) + 1), y, lw=0.5, alpha=0.35, label="per step")
    if len(y) >= 10:
        k = max(10, len(y) // 50)
        smooth = np.convolve(y, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(k, len(y) + 1), smooth, lw=1.5, label=f"mean of {k}")
    ax.set(xlabel="step", ylabel="loss", title=title, yscale="log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def autocast_dtype_for_training(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 where the hardware has it (CUDA with bf16, CPUs with AMX); fp32 elsewhere or on request."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if "AMX" in torch.backends.cpu.get_cpu_capability() else None
