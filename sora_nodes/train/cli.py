"""`sora train vae ...` and `sora train dit ...`."""

import argparse
import dataclasses
from pathlib import Path

from ..flags import add_settings_arguments, settings_from_args
from ..io.device import pick_device
from ..models.config import preset
from ..models.dit import DIT_PRESETS, dit_preset
from ..models.vae import VAE_PRESETS
from .buckets import DIT_BUCKETS, VAE_BUCKETS, parse_buckets
from .dit_trainer import DiTTrainSettings, train_dit
from .sources import open_source
from .vae_trainer import VAETrainSettings, train_vae


def cmd_train_vae(args) -> int:
    return _train(
        args,
        train_vae,
        source=open_source(args.data, parse_buckets(args.buckets)),
        settings=settings_from_args(VAETrainSettings, args, crop=args.crop or None),
        config=preset(VAE_PRESETS, args.preset, "VAE"),
    )


def cmd_train_dit(args) -> int:
    return _train(
        args,
        train_dit,
        source=open_source(args.data, parse_buckets(args.buckets), label_rate=args.label_rate),
        settings=settings_from_args(DiTTrainSettings, args),
        config=dit_preset(args.preset),
        vae_path=args.vae,
    )


def _train(args, train, **inputs) -> int:
    """The flags both trainers read the same way: --out, --device, --resume and --init-from."""
    train(args.out, device=str(pick_device(args.device)), resume=args.resume, init_from=args.init_from, **inputs)
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
        start_from=args.start_from,
        steps=args.steps,
        device=str(pick_device(args.device)),
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


COMMON = ("steps", "batch", "lr", "seed", "save_every", "precision")  # flags both trainers share


def _common(p: argparse.ArgumentParser, settings: type, *, buckets: str) -> None:
    p.add_argument("--out", type=Path, required=True, help="run folder: state.pt, loss PNG and the result")
    p.add_argument(
        "--data", default="world", help="'world' (procedural shapes) or a folder of videos with .txt captions"
    )
    p.add_argument("--buckets", default=buckets, help=f"WxHxFRAMES[:WEIGHT],... (default {buckets})")
    add_settings_arguments(p, settings, COMMON)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its state.pt")


def _flags(settings: type) -> list[str]:
    return [f.name for f in dataclasses.fields(settings) if "flag" in f.metadata]


def add_parser(sub) -> None:
    train = sub.add_parser("train", help="train the VAE, then the DiT on its latents")
    kinds = train.add_subparsers(dest="network", required=True, parser_class=type(train))
    vae = kinds.add_parser("vae", help="train the video VAE")
    _common(vae, VAETrainSettings, buckets=VAE_BUCKETS)
    vae.add_argument("--preset", default="shapes", choices=sorted(VAE_PRESETS))
    add_settings_arguments(vae, VAETrainSettings, [n for n in _flags(VAETrainSettings) if n not in COMMON])
    vae.add_argument("--init-from", type=Path, default=None, help="start from this vae.safetensors or model")
    vae.set_defaults(func=cmd_train_vae)
    dit = kinds.add_parser("dit", help="train the DiT on latents of a trained VAE")
    _common(dit, DiTTrainSettings, buckets=DIT_BUCKETS)
    dit.add_argument("--vae", type=Path, required=True, help="vae.safetensors written by `sora train vae`")
    dit.add_argument("--preset", default="shapes", choices=sorted(DIT_PRESETS))
    add_settings_arguments(dit, DiTTrainSettings, [n for n in _flags(DiTTrainSettings) if n not in COMMON])
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
    arm.add_argument(
        "--from",
        dest="start_from",
        type=Path,
        default=None,
        help="a model from `sora train dit`: the arm is its DiT with the arm's change, warm-started from its weights",
    )
    arm.add_argument("--steps", type=int, default=None, help="end at this step instead of by --cpu-minutes (GPU runs)")
    arm.add_argument("--device", default="cpu", help="cpu, cuda, auto ... (CPU arms compare at equal CPU minutes)")
    arm.set_defaults(func=cmd_train_arm)
    table = kinds.add_parser("table", help="the markdown table of every arm's result.json under ROOT")
    table.add_argument("root", type=Path)
    table.set_defaults(func=cmd_train_table)
    probe = kinds.add_parser("probe", help="one-step denoising at sigma 0.3/0.5/0.7/0.9, decoded and scored")
    probe.add_argument("model", type=Path, help="a model written by `sora train dit`")
    probe.add_argument("--clips", type=int, default=24)
    probe.add_argument("--json", action="store_true")
    probe.set_defaults(func=cmd_train_probe)
