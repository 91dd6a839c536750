"""`sora train vae ...` and `sora train dit ...`."""

import argparse
from pathlib import Path

from ..io.device import pick_device
from ..models.config import preset
from ..models.dit import DIT_PRESETS, dit_preset
from ..models.vae import VAE_PRESETS
from .buckets import DIT_BUCKETS, VAE_BUCKETS, parse_buckets
from .dit_trainer import DiTTrainSettings, train_dit
from .sources import open_source
from .vae_trainer import VAETrainSettings, train_vae


def cmd_train_vae(args) -> int:
    source = open_source(args.data, parse_buckets(args.buckets))
    settings = VAETrainSettings(
        crop=args.crop or None,
        crop_candidates=args.crop_candidates,
        gradient_weight=args.gradient_weight,
        first_frame_weight=args.first_frame_weight,
        salience_weight=args.salience_weight,
        backdrop_texture_weight=args.backdrop_texture_weight,
        decoder_only=args.decoder_only,
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        save_every=args.save_every,
        precision=args.precision,
    )
    train_vae(
        args.out,
        config=preset(VAE_PRESETS, args.preset, "VAE"),
        source=source,
        settings=settings,
        device=str(pick_device(args.device)),
        resume=args.resume,
        init_from=args.init_from,
    )
    return 0


def cmd_train_dit(args) -> int:
    source = open_source(args.data, parse_buckets(args.buckets), label_rate=args.label_rate)
    settings = DiTTrainSettings(
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        save_every=args.save_every,
        precision=args.precision,
        dataset_size=args.dataset_size,
        cfg_dropout=args.cfg_dropout,
        condition_rate=args.condition_rate,
        stop_after=args.stop_after,
        label_rate=args.label_rate,
        eval_every=args.eval_every,
        eval_prompts=args.eval_prompts,
    )
    train_dit(
        args.out,
        config=dit_preset(args.preset),
        vae_path=args.vae,
        source=source,
        settings=settings,
        device=str(pick_device(args.device)),
        resume=args.resume,
        init_from=args.init_from,
    )
    return 0


def cmd_train_arm(args) -> int:
    from .experiment import run_arm

    run_arm(
        args.arm,
        args.out,
        vae_path=args.vae,
        cpu_minutes=args.cpu_minutes,
        overfit=args.overfit,
        cache_path=args.cache,
        resume=args.resume,
    )
    return 0


def cmd_train_table(args) -> int:
    from .experiment import results_table

    print(results_table(args.root))
    return 0


def cmd_train_probe(args) -> int:
    import json

    from .denoise_probe import one_step_scores

    scores = one_step_scores(args.model, clips=args.clips)
    if args.json:
        print(json.dumps(scores, indent=1))
    for sigma, s in scores.items():
        print(f"sigma {sigma:.1f}: colour {100 * s['color']:.0f}%  shape {100 * s['shape']:.0f}%  "
              f"motion {100 * s['motion']:.0f}%  x0 MSE {s['x0_mse']:.4f}")  # fmt: skip
    return 0


def _common(p: argparse.ArgumentParser, *, steps: int, batch: int, lr: float, buckets: str) -> None:
    p.add_argument("--out", type=Path, required=True, help="run folder: state.pt, loss PNG and the result")
    p.add_argument(
        "--data", default="world", help="'world' (procedural shapes) or a folder of videos with .txt captions"
    )
    p.add_argument("--buckets", default=buckets, help=f"WxHxFRAMES[:WEIGHT],... (default {buckets})")
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--batch", type=int, default=batch)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=200)
    p.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="auto: bf16 autocast on CUDA (and AMX CPUs), fp32 elsewhere",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its state.pt")


def add_parser(sub) -> None:
    train = sub.add_parser("train", help="train the VAE, then the DiT on its latents")
    kinds = train.add_subparsers(dest="network", required=True, parser_class=type(train))
    vae = kinds.add_parser("vae", help="train the video VAE")
    _common(vae, steps=2000, batch=8, lr=1e-3, buckets=VAE_BUCKETS)
    vae.add_argument("--preset", default="shapes", choices=sorted(VAE_PRESETS))
    vae.add_argument("--crop", type=int, default=VAETrainSettings.crop, help="random square crops (0: whole frames)")
    vae.add_argument(
        "--crop-candidates",
        type=int,
        default=VAETrainSettings.crop_candidates,
        help="crop the busiest of N random offsets per clip (1: plain random crops)",
    )
    vae.add_argument(
        "--gradient-weight",
        type=float,
        default=VAETrainSettings.gradient_weight,
        help="weight of the L1 term on pixel and frame differences (edges, motion)",
    )
    vae.add_argument(
        "--first-frame-weight",
        type=float,
        default=VAETrainSettings.first_frame_weight,
        help="loss weight of frame 0, which the causal VAE encodes alone",
    )
    vae.add_argument(
        "--salience-weight",
        type=float,
        default=VAETrainSettings.salience_weight,
        help="extra loss weight of pixels far from their frame's mean colour (objects over the backdrop)",
    )
    vae.add_argument(
        "--backdrop-texture-weight",
        type=float,
        default=VAETrainSettings.backdrop_texture_weight,
        help="weight of the L1 term on the backdrop's fine texture (what camera estimates lock onto)",
    )
    vae.add_argument("--init-from", type=Path, default=None, help="start from this vae.safetensors or model")
    vae.add_argument(
        "--decoder-only",
        action="store_true",
        help="train only the decoder (with --init-from): the latents, and a DiT trained on them, stay valid",
    )
    vae.set_defaults(func=cmd_train_vae)
    dit = kinds.add_parser("dit", help="train the DiT on latents of a trained VAE")
    _common(dit, steps=4000, batch=32, lr=6e-4, buckets=DIT_BUCKETS)
    dit.add_argument("--vae", type=Path, required=True, help="vae.safetensors written by `sora train vae`")
    dit.add_argument("--preset", default="shapes", choices=sorted(DIT_PRESETS))
    dit.add_argument(
        "--dataset-size",
        type=int,
        default=DiTTrainSettings.dataset_size,
        help="clips encoded once and reused (world data)",
    )
    dit.add_argument("--cfg-dropout", type=float, default=DiTTrainSettings.cfg_dropout)
    dit.add_argument(
        "--condition-rate",
        type=float,
        default=DiTTrainSettings.condition_rate,
        help="share of clips trained with a random spacetime-condition mask",
    )
    dit.add_argument(
        "--stop-after", type=int, default=None, help="end at this step, keeping the learning-rate schedule of --steps"
    )
    dit.add_argument(
        "--label-rate",
        type=float,
        default=DiTTrainSettings.label_rate,
        help="share of world clips captioned with the terse label instead of the long caption",
    )
    dit.add_argument(
        "--eval-every",
        type=int,
        default=DiTTrainSettings.eval_every,
        help="score the EMA model on a fixed held-out subset every N steps (learning_curve.png; 0: never)",
    )
    dit.add_argument("--eval-prompts", type=int, default=DiTTrainSettings.eval_prompts, help="size of that subset")
    dit.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="with no state.pt in --out: continue from this model (e.g. the shipped checkpoint) at its recorded step",
    )
    dit.set_defaults(func=cmd_train_dit)

    from .experiment import ARMS, OVERFIT_CLIPS

    arm = kinds.add_parser("arm", help="one arm of the DiT experiment protocol (docs/dit_experiments.md)")
    arm.add_argument("arm", choices=list(ARMS), help="the v2 recipe with the named change")
    arm.add_argument("--out", type=Path, required=True, help="run folder; result.json holds the arm's figures")
    arm.add_argument("--vae", type=Path, default=Path("models/training/vae-shapes4.safetensors"))
    arm.add_argument("--cpu-minutes", type=float, default=20.0, help="training budget in CPU minutes (use 1 thread)")
    arm.add_argument(
        "--overfit",
        action="store_true",
        help=f"the overfit gate: {OVERFIT_CLIPS} fixed clips scored on their captions",
    )
    arm.add_argument("--cache", type=Path, default=None, help="a shared latents.pt (built there when missing)")
    arm.add_argument("--resume", action="store_true", help="train the arm in --out for --cpu-minutes more")
    arm.set_defaults(func=cmd_train_arm)
    table = kinds.add_parser("table", help="the markdown table of every arm's result.json under ROOT")
    table.add_argument("root", type=Path)
    table.set_defaults(func=cmd_train_table)
    probe = kinds.add_parser("probe", help="one-step denoising at sigma 0.3/0.5/0.7/0.9, decoded and scored")
    probe.add_argument("model", type=Path, help="a model written by `sora train dit`")
    probe.add_argument("--clips", type=int, default=24)
    probe.add_argument("--json", action="store_true")
    probe.set_defaults(func=cmd_train_probe)
