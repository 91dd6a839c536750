"""Train the video VAE: L1 reconstruction of sampled latents, an L1 term on spatial and temporal
differences (edges and frame-to-frame change), a light KL term, EMA, clipping."""

import dataclasses
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import SoraError
from ..families.bundle import ARCHITECTURES, load_sora_model
from ..families.checkpoint import load_checkpoint, save_checkpoint
from ..flags import flag
from ..models.config import config_to_json
from ..models.vae import VAEConfig, VideoVAE
from .buckets import pick_bucket
from .crops import random_crop
from .dit_pairs import PAIRS_FILE, build_pairs, check_same_latents, load_pairs, sample_pairs, save_pairs
from .run_state import PRECISION_FLAG, autocast_dtype_for_training, load_state, make_ema, save_loss_curve, save_state

VAE_FILE = "vae.safetensors"


@dataclass(frozen=True)
class VAETrainSettings:
    steps: int = field(default=2000, metadata=flag())
    batch: int = field(default=8, metadata=flag())
    lr: float = field(default=1e-3, metadata=flag())
    warmup: int = 100
    kl_weight: float = 1e-5  # both terms are means, and one latent value stands for ~41 pixel values
    ema_decay: float = 0.995
    clip_grad: float = 1.0
    seed: int = field(default=0, metadata=flag())
    save_every: int = field(default=200, metadata=flag())
    precision: str = field(default="auto", metadata=PRECISION_FLAG)
    stats_clips: int = 64  # clips encoded to measure the per-channel latent mean and std
    # train on random crops of this many pixels: the VAE is convolutional, and 4x cheaper
    crop: int | None = field(default=32, metadata=flag("random square crops (0: whole frames)"))
    crop_candidates: int = field(
        default=1, metadata=flag("crop the busiest of N random offsets per clip (1: plain random crops)")
    )
    # L1 on the differences between neighbouring pixels and frames. Plain L1 is mostly background: a
    # 12 px shape is 3 % of a 64x64 frame, and v1 (weight 0) learned to drop it or round its corners.
    gradient_weight: float = field(
        default=0.0, metadata=flag("weight of the L1 term on pixel and frame differences (edges, motion)")
    )
    first_frame_weight: float = field(  # frame 0 is encoded alone into the first latent frame: v1's weakest
        default=1.0, metadata=flag("loss weight of frame 0, which the causal VAE encodes alone")
    )
    # Pixels far from their frame's mean colour weigh up to 1 + this much more (objects, not the
    # backdrop): at weight 0, a VAE reached 25 dB yet got only 63 % of object colours right.
    salience_weight: float = field(
        default=0.0,
        metadata=flag("extra loss weight of pixels far from their frame's mean colour (objects over the backdrop)"),
    )
    # L1 on the high-pass (pixel minus its 3x3 mean) of backdrop pixels. The salience and gradient
    # terms are dominated by object edges, and v2 flattened the faint backdrop checker the
    # evaluator's camera estimate locks onto: a 14.9 px pan read as 0 px, a still object as falling.
    backdrop_texture_weight: float = field(
        default=0.0,
        metadata=flag("weight of the L1 term on the backdrop's fine texture (what camera estimates lock onto)"),
    )
    # Train the decoder alone, the encoder frozen and the latent statistics kept: the latent space does
    # not move, so a DiT trained on the starting VAE's latents stays valid with the new decoder.
    decoder_only: bool = field(
        default=False,
        metadata=flag("train only the decoder (with --init-from): the latents, and a DiT trained on them, stay valid"),
    )
    # With --decoder-only: also decode a DiT's SDEdit latents of training clips to those clips (dit_pairs.py).
    # A probe on the same held-out samples read 33 of 60 circles against 21 with the decoder before it.
    dit_pairs: str | None = field(
        default=None,
        metadata=flag("with --decoder-only: tune the decoder to the latents this model's DiT samples (a checkpoint)"),
    )
    dit_pair_share: float = field(default=0.5, metadata=flag("share of the batches made of DiT pairs"))
    dit_pair_clips: int = field(
        default=600, metadata=flag("DiT pairs made once per run (about 0.4 CPU s each at 64x64x17)")
    )

    def __post_init__(self):
        if self.dit_pairs is not None and not self.decoder_only:
            raise SoraError(
                "--dit-pairs tunes the decoder to a DiT's latents, which only mean the same while the encoder "
                "is frozen: add --decoder-only"
            )
        if not 0 <= self.dit_pair_share <= 1:
            raise SoraError(f"--dit-pair-share is a share of the batches, in [0, 1]; got {self.dit_pair_share}")


def difference_l1(recon: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
    """Mean L1 between the finite differences of two clips [B, 3, T, H, W] along T, H and W."""
    total = recon.new_zeros(())
    for dim in (2, 3, 4):
        if video.shape[dim] > 1:
            total = total + (recon.diff(dim=dim) - video.diff(dim=dim)).abs().mean()
    return total


def salience(video: torch.Tensor) -> torch.Tensor:
    """[B, 3, T, H, W] in [-1, 1] -> [B, 1, T, H, W]: each pixel's mean absolute distance from its
    frame's mean colour, about 0 on the backdrop and 0.3-1 on a coloured object."""
    return (video - video.mean(dim=(3, 4), keepdim=True)).abs().mean(dim=1, keepdim=True)


BACKDROP_SALIENCE = 0.15  # below this distance from the frame's mean colour a pixel is backdrop


def high_pass(video: torch.Tensor) -> torch.Tensor:
    """[B, 3, T, H, W] -> the same shape: each pixel minus the mean of its 3x3 neighbourhood in its frame."""
    b, c, t, h, w = video.shape
    frames = video.transpose(1, 2).reshape(b * t, c, h, w)
    local = F.avg_pool2d(frames, 3, stride=1, padding=1, count_include_pad=False)
    return (frames - local).reshape(b, t, c, h, w).transpose(1, 2)


def backdrop_texture_l1(recon: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
    """Mean L1 between the high-passed clips over backdrop pixels whose 3x3 neighbourhood holds no object
    (the object edges are the gradient term's)."""
    obj = (salience(video) >= BACKDROP_SALIENCE).float()  # [B, 1, T, H, W]
    backdrop = 1 - F.max_pool3d(obj, (1, 3, 3), stride=1, padding=(0, 1, 1))
    error = (high_pass(recon) - high_pass(video)).abs() * backdrop
    return error.sum() / (3 * backdrop.sum()).clamp_min(1)


def reconstruction_loss(recon: torch.Tensor, video: torch.Tensor, settings: VAETrainSettings) -> torch.Tensor:
    """The decoder's loss on a clip [B, 3, T, H, W] in [-1, 1]: salience-weighted L1 per frame (frame 0
    weighted apart), plus the settings' difference and backdrop-texture terms."""
    pixel_weight = 1.0 + settings.salience_weight * salience(video)  # [B, 1, T, H, W]
    error = ((recon - video).abs() * pixel_weight).sum(dim=(0, 1, 3, 4)) / (3 * pixel_weight.sum(dim=(0, 1, 3, 4)))
    weights = torch.ones_like(error)
    weights[0] = settings.first_frame_weight
    loss = (error * weights).sum() / weights.sum()
    if settings.gradient_weight:
        loss = loss + settings.gradient_weight * difference_l1(recon, video)
    if settings.backdrop_texture_weight:
        loss = loss + settings.backdrop_texture_weight * backdrop_texture_l1(recon, video)
    return loss


def vae_loss(vae: VideoVAE, video: torch.Tensor, generator: torch.Generator, settings: VAETrainSettings):
    """video [B, 3, T, H, W] in [-1, 1] -> (loss, L1) with the latent sampled from the posterior."""
    mean, logvar = vae.encode_moments(video)  # [B, C, T', H', W'] each
    z = mean + (0.5 * logvar).exp() * torch.randn(mean.shape, generator=generator).to(mean.device)
    recon = vae.decode(vae.normalize(z)).float()  # identity stats while training
    kl = 0.5 * (mean.float().square() + logvar.float().exp() - 1 - logvar.float()).mean()
    loss = reconstruction_loss(recon, video, settings) + settings.kl_weight * kl
    return loss, (recon - video).abs().mean()


def lr_at(step: int, settings) -> float:
    """Linear warmup, then cosine decay to 10% of the peak."""
    if step < settings.warmup:
        return settings.lr * (step + 1) / settings.warmup
    u = (step - settings.warmup) / max(1, settings.steps - settings.warmup)
    return settings.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * min(u, 1.0))))


@torch.no_grad()
def measure_latent_stats(
    vae: VideoVAE, source, settings: VAETrainSettings, device
) -> tuple[torch.Tensor, torch.Tensor]:
    rng = random.Random(f"{settings.seed}:stats")
    means = []
    for _ in range(0, settings.stats_clips, settings.batch):
        video, _ = source.sample(pick_bucket(source.buckets, rng), settings.batch, rng)
        mean, _ = vae.encode_moments(video.to(device))
        means.append(mean.float().transpose(0, 1).reshape(mean.shape[1], -1))  # [C, N]
    z = torch.cat(means, dim=1)
    return z.mean(dim=1), z.std(dim=1).clamp_min(1e-3)


def dit_pairs_for(vae: VideoVAE, source, settings: VAETrainSettings, out_dir: Path, device, log):
    """The run's DiT pairs: made once (from `settings.dit_pairs`' DiT, on `vae`'s latents) and kept in out_dir."""
    pairs = load_pairs(out_dir / PAIRS_FILE, settings.dit_pairs)
    if pairs is None:
        model = load_sora_model(settings.dit_pairs, device=device)
        check_same_latents(vae, model, settings.dit_pairs)
        log(f"making {settings.dit_pair_clips} DiT pairs with {settings.dit_pairs}")
        pairs = build_pairs(model, source, settings.dit_pair_clips, seed=settings.seed, log=log)
        save_pairs(out_dir / PAIRS_FILE, pairs, settings.dit_pairs)
    return pairs


def train_vae(
    out_dir: str | Path,
    *,
    config: VAEConfig,
    source,
    settings: VAETrainSettings,
    device: str | torch.device = "cpu",
    resume: bool = False,
    init_from: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Train, checkpoint to out_dir/state.pt every save_every steps, and write out_dir/vae.safetensors
    (the EMA weights with measured latent statistics) plus out_dir/vae_loss.png.

    init_from: start from the VAE in a vae.safetensors or a whole model (its config replaces `config`)."""
    out_dir, device = Path(out_dir), torch.device(device)
    out_dir.mkdir(parents=True, exist_ok=True)
    if init_from is not None:
        vae = load_checkpoint(init_from, {"vae": ARCHITECTURES["vae"]})[0]["vae"].float().to(device).train()
        config = vae.config
    elif settings.decoder_only:
        raise SoraError("decoder-only training keeps a trained encoder: give the VAE to start from (--init-from)")
    else:
        vae = VideoVAE(config).to(device).train()
    vae.encoder.requires_grad_(not settings.decoder_only)
    ema = make_ema(vae, settings.ema_decay)
    optimizer = torch.optim.AdamW([p for p in vae.parameters() if p.requires_grad], lr=settings.lr, weight_decay=0.0)
    meta = {
        "kind": "vae",
        "config": config_to_json(config),
        "data": source.name,
        "init_from": str(init_from) if init_from is not None else None,
        **{k: v for k, v in dataclasses.asdict(settings).items()},
    }
    step, losses, _ = load_state(out_dir, model=vae, ema=ema, optimizer=optimizer, meta=meta) if resume else (0, [], 0)
    pairs = dit_pairs_for(vae, source, settings, out_dir, device, log) if settings.dit_pairs else None
    amp = autocast_dtype_for_training(settings.precision, device)
    log(
        f"VAE {sum(p.numel() for p in vae.parameters()) / 1e6:.2f} M params, steps {step}->{settings.steps}, "
        f"autocast {amp}, device {device}"
    )
    t0, t_step = time.perf_counter(), step
    while step < settings.steps:
        rng = random.Random(f"{settings.seed}:{step}")  # per-step seeds: a resumed run continues identically
        generator = torch.Generator().manual_seed(rng.randrange(2**63))
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, settings)
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            if pairs is not None and rng.random() < settings.dit_pair_share:
                latents, video = sample_pairs(
                    pairs,
                    settings.batch,
                    rng,
                    crop=settings.crop,
                    candidates=settings.crop_candidates,
                    spatial_factor=vae.config.spatial_factor,
                )
                video = video.to(device)
                recon = vae.decode(latents.to(device)).float()  # the DiT's latent, already normalised
                loss, l1 = reconstruction_loss(recon, video, settings), (recon - video).abs().mean()
            else:
                video, _ = source.sample(pick_bucket(source.buckets, rng), settings.batch, rng)
                video = random_crop(video, settings.crop, rng, settings.crop_candidates)
                loss, l1 = vae_loss(vae, video.to(device), generator, settings)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in vae.parameters() if p.requires_grad], settings.clip_grad)
        optimizer.step()
        ema.update_parameters(vae)
        losses.append(loss.item())
        step += 1
        if step % 20 == 0 or step == settings.steps:
            rate = (time.perf_counter() - t0) / (step - t_step)
            t0, t_step = time.perf_counter(), step
            log(
                f"vae step {step}/{settings.steps} loss {sum(losses[-20:]) / len(losses[-20:]):.4f} "
                f"l1 {l1.item():.4f} {rate:.2f} s/step"
            )
        if step % settings.save_every == 0 or step == settings.steps:
            save_state(out_dir, model=vae, ema=ema, optimizer=optimizer, step=step, losses=losses, meta=meta)
            save_loss_curve(losses, out_dir / "vae_loss.png", "VAE training loss (L1 + KL)")
    final = ema.module.eval()
    if not settings.decoder_only:  # the frozen encoder's statistics are the starting VAE's, already set
        final.set_latent_stats(*measure_latent_stats(final, source, settings, device))
    path = save_checkpoint(out_dir / VAE_FILE, {"vae": final}, metadata={"training": meta | {"steps_done": step}})
    log(f"wrote {path}")
    return path
