"""Train the DiT with rectified flow on frozen VAE latents: logit-normal timesteps, classifier-free
guidance dropout, random spacetime-condition masks, EMA, gradient clipping, autocast, resume."""

import copy
import dataclasses
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..diffusion.conditioning import SpacetimeCondition
from ..diffusion.flow import (
    add_noise,
    flow_matching_loss,
    resolution_shift,
    sample_sigmas_logit_normal,
    velocity_target,
)
from ..errors import SoraError
from ..families.bundle import ARCHITECTURES, SoraModel, load_frozen_vae, save_sora_model
from ..families.checkpoint import load_checkpoint, read_metadata
from ..flags import flag
from ..models.config import config_from_json, config_to_json
from ..models.dit import DiT, DiTConfig
from ..models.patch_resize import resize_patch_weights
from ..models.text import load_text_encoder
from ..models.vae import VideoVAE
from .buckets import Bucket, pick_bucket
from .condition_masks import random_condition_masks
from .latent_cache import CACHE_FILE, BucketLatents, build_cache, load_cache, save_cache
from .learning_curve import record_point, score_checkpoint
from .run_state import (
    PRECISION_FLAG,
    autocast_dtype_for_training,
    changed_settings,
    load_state,
    make_ema,
    save_loss_curve,
    save_state,
)
from .vae_trainer import lr_at

MODEL_FILE = "sora.safetensors"


@dataclass(frozen=True)
class DiTTrainSettings:
    steps: int = field(default=4000, metadata=flag())
    batch: int = field(default=32, metadata=flag())
    lr: float = field(default=6e-4, metadata=flag())
    warmup: int = 200
    ema_decay: float = 0.998
    clip_grad: float = 1.0
    # captions replaced by the empty prompt, which guidance uses as "unconditional"
    cfg_dropout: float = field(default=0.1, metadata=flag())
    condition_rate: float = field(  # clips trained with a task mask (first frame, prefix, box, ...)
        default=0.25, metadata=flag("share of clips trained with a random spacetime-condition mask")
    )
    dataset_size: int = field(  # spread over the buckets by weight
        default=8000, metadata=flag("clips encoded once and reused (world data)")
    )
    seed: int = field(default=0, metadata=flag())
    save_every: int = field(default=200, metadata=flag())
    precision: str = field(default="auto", metadata=PRECISION_FLAG)
    stop_after: int | None = field(
        default=None, metadata=flag("end at this step, keeping the learning-rate schedule of --steps")
    )
    label_rate: float = field(
        default=0.0, metadata=flag("share of world clips captioned with the terse label instead of the long caption")
    )
    eval_every: int = field(
        default=0,
        metadata=flag("score the EMA model on a fixed held-out subset every N steps (learning_curve.png; 0: never)"),
    )
    eval_prompts: int = field(default=24, metadata=flag("size of that subset"))
    # Flow loss weight 1 + object_weight * salience per latent cell, so the loss is not spent mostly on
    # textured backdrops and camera motion (docs/dit_experiments.md: not yet shown to help).
    object_weight: float = 0.0
    # Training sigmas are shifted by the resolution shift times this: above 1, more of the steps go to high noise,
    # where the layout and the motion are decided (docs/dit_experiments.md); sampling keeps its own shift.
    sigma_shift_scale: float = 1.0
    cpu_minutes: float = 0.0  # end the run after this much CPU time of training (0: no limit); ablations


def bucket_counts(buckets: dict[Bucket, float], total: int) -> dict[Bucket, int]:
    weight = sum(buckets.values())
    return {b: max(1, round(total * w / weight)) for b, w in buckets.items()}


def vae_recipe(path: str | Path) -> dict:
    """The training settings of the VAE in `path`: a vae.safetensors or a whole model's VAE."""
    training = json.loads(read_metadata(path).get("training", "{}"))
    return training.get("vae_training", {}) if training.get("kind") == "dit" else training


def dit_batch(
    data: BucketLatents,
    vae: VideoVAE,
    empty: tuple[torch.Tensor, torch.Tensor],
    rng: random.Random,
    generator: torch.Generator,
    settings: DiTTrainSettings,
):
    """(x0 [B,C,T,H,W] normalised, context [B,L,D], context_mask [B,L], salience [B,1,T,H,W]) drawn
    from the cache."""
    idx = torch.tensor(rng.sample(range(len(data.captions)), min(settings.batch, len(data.captions))))
    mean, std = data.mean[idx].float(), data.std[idx].float()
    x0 = vae.normalize(mean + std * torch.randn(mean.shape, generator=generator))
    states, mask = data.states[idx].float(), data.mask[idx].clone()
    drop = torch.rand(len(idx), generator=generator) < settings.cfg_dropout
    e_states, e_mask = empty
    states[drop] = 0.0
    mask[drop] = False
    n = e_states.shape[1]
    states[drop, :n] = e_states[0].float()
    mask[drop, :n] = e_mask[0]
    salience = data.salience[idx].float() if data.salience is not None else torch.zeros_like(x0[:, :1])
    return x0, states, mask, salience


def train_dit(
    out_dir: str | Path,
    *,
    config: DiTConfig,
    vae_path: str | Path,
    source,
    settings: DiTTrainSettings,
    text_encoder: str = "all-MiniLM-L6-v2",
    device: str | torch.device = "cpu",
    resume: bool = False,
    init_from: str | Path | None = None,
    warm_start: str | Path | None = None,
    cache_path: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Train and write out_dir/sora.safetensors (EMA DiT + the VAE, a complete model) and dit_loss.png.

    resume continues from out_dir/state.pt. init_from (a model written by this trainer, e.g. the
    shipped checkpoint) starts a run with no state.pt from that model's EMA weights, at the step it
    records, under the same settings: how a run continues on a machine that has only the repo.
    warm_start starts a new run (step 0, these settings) from a trained model's EMA DiT, whose config may lack
    modules this config adds (they keep their initialisation): the experiment protocol's arms from a model.
    cache_path (default out_dir/latents.pt) lets runs on the same data share one encoded training set."""
    out_dir, device = Path(out_dir), torch.device(device)
    out_dir.mkdir(parents=True, exist_ok=True)
    vae = load_frozen_vae(vae_path, device)
    encoder = load_text_encoder(text_encoder, device)
    config = dataclasses.replace(config, latent_channels=vae.config.latent_channels, text_dim=encoder.dim)
    cache_path = Path(cache_path) if cache_path is not None else out_dir / CACHE_FILE
    if cache_path.is_file():
        cache = load_cache(cache_path)
    else:
        counts = bucket_counts(source.buckets, settings.dataset_size)
        cache = build_cache(vae, encoder, source, counts, seed=settings.seed, device=device, log=log)
        save_cache(cache_path, cache)
    empty_emb = encoder.encode([""])
    empty = (empty_emb.states.cpu(), empty_emb.mask.cpu())
    torch.manual_seed(settings.seed)
    dit = DiT(config).to(device).train()
    ema = make_ema(dit, settings.ema_decay)
    optimizer = torch.optim.AdamW(dit.parameters(), lr=settings.lr, weight_decay=0.0, betas=(0.9, 0.99))
    meta = {
        "kind": "dit",
        "config": config_to_json(config),
        "data": source.name,
        "vae": str(vae_path),
        "vae_training": vae_recipe(vae_path),
        "text_encoder": text_encoder,
        **dataclasses.asdict(settings),
    }
    cpu_before = 0.0  # CPU seconds of the run's earlier processes
    if resume:
        step, losses, cpu_before = load_state(out_dir, model=dit, ema=ema, optimizer=optimizer, meta=meta)
    elif init_from is not None:
        step, losses = init_from_model(init_from, dit, ema, meta), []
        log(f"starting from {init_from} at step {step} (its EMA weights; optimizer moments restart)")
    elif warm_start is not None:
        step, losses = 0, []
        added = warm_start_from(warm_start, dit, ema)
        log(f"warm start from {warm_start}'s EMA DiT" + (f"; new modules: {', '.join(added)}" if added else ""))
    else:
        step, losses = 0, []
    amp = autocast_dtype_for_training(settings.precision, device)
    weights = {b: float(len(v.captions)) for b, v in cache.items()}
    log(
        f"DiT {sum(p.numel() for p in dit.parameters()) / 1e6:.2f} M params, {sum(map(int, weights.values()))} "
        f"cached clips, steps {step}->{settings.steps}, autocast {amp}, device {device}"
    )
    t0, t_step, cpu0, splits = time.perf_counter(), step, time.process_time(), []
    last = min(settings.steps, settings.stop_after or settings.steps)
    while step < last:
        rng = random.Random(f"{settings.seed}:{step}")
        generator = torch.Generator().manual_seed(rng.randrange(2**63))
        bucket = pick_bucket(weights, rng)
        x0, context, context_mask, salience = dit_batch(cache[bucket], vae, empty, rng, generator, settings)
        b, _, t, h, w = x0.shape
        p_t, p_h, p_w = config.patch_size
        shift = resolution_shift(t // p_t * (h // p_h) * (w // p_w)) * settings.sigma_shift_scale
        sigma = sample_sigmas_logit_normal(b, shift=shift, generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        masks, _ = random_condition_masks(b, t, h, w, rng, rate=settings.condition_rate)
        cond = SpacetimeCondition(x0 * masks, masks)
        x_t = add_noise(x0, noise, sigma)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, settings)
        args = [a.to(device) for a in (x_t, sigma, context, context_mask, cond.dit_channels())]
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            pred = dit(*args)
        unknown = 1 - masks  # [B, 1, T, H, W]: known latents are only copied, so they carry no loss
        weight = unknown * (1 + settings.object_weight * salience) * data_prediction_weight(config, sigma)
        loss = flow_matching_loss(pred.float(), x0.to(device), noise.to(device), weight=weight.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        split = object_background_loss(pred.detach(), x0, noise, sigma, salience, unknown)
        torch.nn.utils.clip_grad_norm_(dit.parameters(), settings.clip_grad)
        optimizer.step()
        ema.update_parameters(dit)
        losses.append(loss.item())
        splits.append(split)
        step += 1
        out_of_time = settings.cpu_minutes and time.process_time() - cpu0 >= 60 * settings.cpu_minutes
        if out_of_time:
            last = step
            log(f"dit: {settings.cpu_minutes} CPU minutes spent, stopping at step {step}")
        if step % 20 == 0 or step == last:
            rate = (time.perf_counter() - t0) / (step - t_step)
            t0, t_step = time.perf_counter(), step
            obj, bg = (sum(v) / len(v) for v in zip(*splits[-20:], strict=True))
            log(
                f"dit step {step}/{settings.steps} loss {sum(losses[-20:]) / len(losses[-20:]):.4f} "
                f"(object cells {obj:.4f}, background {bg:.4f}) {rate:.2f} s/step"
            )
        if step % settings.save_every == 0 or step == last:
            save_state(
                out_dir, model=dit, ema=ema, optimizer=optimizer, step=step, losses=losses, meta=meta,
                cpu_seconds=cpu_before + time.process_time() - cpu0,
                extra={"loss_split": torch.tensor(splits, dtype=torch.float32)},  # [steps, 2]: object, background
            )  # fmt: skip
            save_loss_curve(losses, out_dir / "dit_loss.png", "DiT training loss (rectified flow)")
            export_model(out_dir / MODEL_FILE, ema.module, vae, text_encoder, meta | {"steps_done": step})
        if settings.eval_every and (step % settings.eval_every == 0 or step == last):
            if step % settings.save_every and step != last:  # score the weights of this step
                export_model(out_dir / MODEL_FILE, ema.module, vae, text_encoder, meta | {"steps_done": step})
            scores = score_checkpoint(out_dir / MODEL_FILE, settings.eval_prompts, device=device)
            record_point(out_dir, step, sum(losses[-50:]) / len(losses[-50:]), scores)
            log(f"dit step {step} scores " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in scores.items()))
    return out_dir / MODEL_FILE


OBJECT_CELL = 0.15  # latent cells with a salience above this hold part of an object


def capped_sigma_weight(sigma: torch.Tensor) -> torch.Tensor:
    """[B, 1, 1, 1, 1]: a data-predicting DiT's velocity error is its x0 error over sigma; JiT caps
    that 1/sigma^2 at sigma = 0.05 so the few near-clean draws do not dominate the batch."""
    return (sigma / 0.05).clamp(max=1.0).square().view(-1, 1, 1, 1, 1)


def data_prediction_weight(config: DiTConfig, sigma: torch.Tensor) -> torch.Tensor | float:
    return capped_sigma_weight(sigma) if config.prediction == "data" else 1.0


def object_background_loss(pred, x0, noise, sigma, salience, unknown) -> tuple[float, float]:
    """Velocity MSE on object cells and on backdrop cells (the cells to generate only), with no object
    weight and the 1/sigma^2 cap for every arm: the one loss that compares weightings and targets."""
    err = (pred.float().cpu() - velocity_target(x0, noise)).square().mean(dim=1, keepdim=True)  # [B, 1, T, H, W]
    err = err * capped_sigma_weight(sigma)
    obj = (salience > OBJECT_CELL).float() * unknown
    bg = (salience <= OBJECT_CELL).float() * unknown
    return float((err * obj).sum() / obj.sum().clamp_min(1)), float((err * bg).sum() / bg.sum().clamp_min(1))


def load_dit_config(path: str | Path) -> DiTConfig:
    return config_from_json(DiTConfig, read_metadata(path)["dit.config"])


def _module_name(key: str) -> str:
    """The module a state-dict key belongs to: "refiner", or "blocks.7" for a block."""
    parts = key.split(".")
    return ".".join(parts[:2]) if parts[0] == "blocks" else parts[0]


def _trained_has(trained: DiT, name: str) -> bool:
    if name.startswith("blocks."):
        return int(name.split(".")[1]) < trained.config.depth
    return hasattr(trained, name)


def warm_start_from(path: str | Path, dit: DiT, ema) -> list[str]:
    """Load a trained model's DiT into `dit` and its EMA, leaving the modules `dit` adds at their
    initialisation; returns their names. Blocks past the trained depth are added at the end, where
    adaLN-zero makes each the identity until trained. A `dit` with finer patches gets resized patch
    weights (models/patch_resize.py). Any other difference is refused."""
    trained = load_checkpoint(path, {"dit": ARCHITECTURES["dit"]})[0]["dit"]
    state = {k: v.float() for k, v in trained.state_dict().items()}
    if trained.config.patch_size != dit.config.patch_size:
        state = resize_patch_weights(state, trained.config, dit.config)
    try:
        missing, unexpected = dit.load_state_dict(state, strict=False)
    except RuntimeError as e:  # a tensor of another shape
        raise SoraError(f"{path}'s DiT does not fit this config: {str(e).splitlines()[-1].strip()}") from None
    added = sorted({_module_name(k) for k in missing}, key=lambda n: (len(n), n))
    if unexpected or any(_trained_has(trained, name) for name in added):
        raise SoraError(f"{path}'s DiT does not fit this config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    ema.module.load_state_dict(dit.state_dict())
    return added


def init_from_model(path: str | Path, dit: DiT, ema, meta: dict) -> int:
    """Load a trained model's DiT into `dit` and its EMA; returns the step the model was saved at."""
    networks, file_meta = load_checkpoint(path, {"dit": ARCHITECTURES["dit"]})
    training = json.loads(file_meta.get("training", "{}"))
    changed = changed_settings(training, meta)
    if changed or "steps_done" not in training:
        detail = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items()) or "no steps_done"
        raise SoraError(f"--init-from {path} was trained with other settings ({detail}); use the same settings")
    dit.load_state_dict({k: v.float() for k, v in networks["dit"].state_dict().items()})
    ema.module.load_state_dict(dit.state_dict())
    return int(training["steps_done"])


def export_model(path: Path, dit: DiT, vae: VideoVAE, text_encoder: str, training: dict) -> Path:
    """The complete model; DiT weights stored as fp16 (half the file, cast back to fp32 on load)."""
    half = copy.deepcopy(dit).half().eval()
    return save_sora_model(path, SoraModel(half, vae.eval(), text_encoder), training=training)
