"""Score a trained model on the shipped held-out set and write it as the default checkpoint, with its
recipe, steps and scores in the file's metadata (what `sora info` and the tests read back).

    .venv/bin/python scripts/ship_default.py runs/default-v3/dit/sora.safetensors [-o OUT.safetensors]

(-o defaults to models/sora/sora-default.safetensors.) The model's VAE decoder is swapped for the
decoder-only fine-tune (--decoder, models/training/vae-v3-decoder.safetensors: held-out VAE ceiling
100 / 95 / 93 against v2's 95 / 90 / 91); its encoder and latent statistics are the ones the DiT was
trained on, which the swap checks, so the DiT needs no retraining.

Scores: `sora eval` with default settings (20 euler steps, cfg 5, seed 0) at 64x64, 112x64 and 64x112.
"""

import argparse
import json
from pathlib import Path

from sora_nodes.evaluate.prompts import load_prompts
from sora_nodes.evaluate.run import evaluate
from sora_nodes.families.bundle import default_model_path, load_sora_model, save_sora_model, use_decoder

RECIPE = "bash scripts/train_default.sh (default model v3: VAE shapes4, DiT shapes4-pos)"
SIZES = ((64, 64), (112, 64), (64, 112))
DECODER = Path("models/training/vae-v3-decoder.safetensors")


def swap_decoder(model_path: Path, decoder_path: Path, out: Path) -> Path:
    """Write `out`: the model at `model_path` with the decoder of `decoder_path`."""
    model = load_sora_model(model_path)
    use_decoder(model.vae, decoder_path)  # refused unless the encoder and latent statistics are bit-identical
    model.dit.half()  # as the trainer exports it: half the file, cast back to fp32 on load
    save_sora_model(out, model, training=json.loads(model.metadata.get("training", "{}")))
    return out


def scores_at(path: Path, width: int, height: int) -> dict:
    report = evaluate(load_prompts(None), "model", model_path=path, width=width, height=height)
    figures = {**report["accuracy"], "occlusion_persistence": report["occlusion_persistence"]}
    rounded = {k: None if v is None else round(v, 4) for k, v in figures.items()}
    return rounded | {"flicker": round(report["flicker"], 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path)
    p.add_argument("-o", "--output", type=Path, default=default_model_path())
    p.add_argument("--decoder", type=Path, default=DECODER, help="VAE whose decoder replaces the model's")
    a = p.parse_args()
    a.model = swap_decoder(a.model, a.decoder, a.output.with_suffix(".swap.safetensors"))
    scores = {}
    for w, h in SIZES:
        scores[f"{w}x{h}"] = scores_at(a.model, w, h)
        print(f"{w}x{h}: {scores[f'{w}x{h}']}", flush=True)
    model = load_sora_model(a.model)
    training = json.loads(model.metadata.get("training", "{}"))
    training |= {"recipe": RECIPE, "vae_decoder": str(a.decoder), "heldout_scores": scores}
    model.dit.half()  # as the trainer exports it: half the file, cast back to fp32 on load
    save_sora_model(a.output, model, training=training)
    a.model.unlink()
    print(f"wrote {a.output} ({a.output.stat().st_size / 2**20:.1f} MB)")


if __name__ == "__main__":
    main()
