#!/usr/bin/env bash
# Train the default model v3 (issue 20): the 4x VAE "shapes4" with an edge and frame-difference loss
# (v2's, issue 13), then the DiT "shapes4-pos" (v2's DiT plus absolute grid position, lr 1e-3;
# docs/dit_experiments.md) on its latents, both on the procedural shapes world.
#
# One command, resumable at every stage and across machines:
#   bash scripts/train_default.sh                      # -> runs/default-v3/dit/sora.safetensors
#   .venv/bin/python scripts/ship_default.py runs/default-v3/dit/sora.safetensors   # scores it, writes models/sora/
# - A stage with a state.pt in runs/default/ continues from it.
# - On a machine with only the repository (no runs/), the VAE is models/training/vae-shapes4.safetensors
#   (or the one inside the shipped checkpoint) and the DiT continues, at the step it records, from the
#   shipped checkpoint if this recipe made it, else from models/training/dit-v3.safetensors;
#   nothing outside git is needed to go on (the 4800 encoded clips are rebuilt, the same ones, in ~30 min).
# Set DEVICE=cuda on a GPU; DIT_STEPS sets the length of the DiT's learning-rate schedule and
# DIT_STOP where this run stops on it (the next run continues the same schedule).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/default-v3}
DEVICE=${DEVICE:-auto}
SHIPPED=${SHIPPED:-models/sora/sora-default.safetensors}
VAE_STEPS=${VAE_STEPS:-1800}
VAE_LONG_STEPS=${VAE_LONG_STEPS:-700}
DIT_STEPS=${DIT_STEPS:-60000}  # schedules of 12000, 24000, 36000, 48000 and 60000 steps, each shipped at its end
DIT_STOP=${DIT_STOP:-$DIT_STEPS}
VAE_ARGS=(--preset shapes4 --batch 8 --crop 32 --crop-candidates 4 --gradient-weight 1.0 --first-frame-weight 2.0
          --device "$DEVICE")
DIT_ARGS=(--preset shapes4-pos --batch 16 --lr 1e-3 --dataset-size 4800 --label-rate 0.2 --eval-every 1000
          --device "$DEVICE")
resume() { [ -f "$1/state.pt" ] && echo --resume || true; }
steps_of() { .venv/bin/python -c "import json,sys; from sora_nodes.families.checkpoint import read_metadata; print(json.loads(read_metadata(sys.argv[1])['training'])['steps_done'])" "$1"; }
# exit 0 when the shipped checkpoint was made by this recipe (its DiT and VAE are the v3 presets)
shipped_is_v3() {
    [ -f "$SHIPPED" ] && .venv/bin/python - "$SHIPPED" <<'PY'
import sys
from sora_nodes.families.checkpoint import read_metadata
from sora_nodes.models.config import config_from_json
from sora_nodes.models.dit import DIT_PRESETS, DiTConfig
from sora_nodes.models.vae import VAE_PRESETS, VAEConfig
meta = read_metadata(sys.argv[1])  # configs compared as dataclasses: a field added since reads as its default
dit, vae = config_from_json(DiTConfig, meta["dit.config"]), config_from_json(VAEConfig, meta["vae.config"])
ok = vae == VAE_PRESETS["shapes4"] and dit == DIT_PRESETS["shapes4-pos"]
sys.exit(0 if ok else 1)
PY
}

VAE="$RUN/vae/vae.safetensors"
COMMITTED_VAE=models/training/vae-shapes4.safetensors  # this recipe's VAE, trained 2500 steps (issue 13)
if [ ! -f "$VAE" ] && [ ! -f "$RUN/vae/state.pt" ] && [ -f "$COMMITTED_VAE" ]; then
    VAE="$COMMITTED_VAE"
    echo "VAE: using $COMMITTED_VAE"
elif [ ! -f "$VAE" ] && [ ! -f "$RUN/vae/state.pt" ] && shipped_is_v3; then
    VAE="$SHIPPED"  # the shipped checkpoint carries the VAE this recipe trained
    echo "VAE: using the one in $SHIPPED"
elif [ ! -f "$VAE" ] || [ "$(steps_of "$VAE")" -lt $((VAE_STEPS + VAE_LONG_STEPS)) ]; then
    # 9-frame clips first (cheap), then 17-frame ones so the causal decoder stays sharp to the end
    .venv/bin/sora train vae --out "$RUN/vae" --steps "$VAE_STEPS" "${VAE_ARGS[@]}" $(resume "$RUN/vae")
    .venv/bin/sora train vae --out "$RUN/vae" --steps $((VAE_STEPS + VAE_LONG_STEPS)) "${VAE_ARGS[@]}" \
        --salience-weight 4.0 --buckets 64x64x17:2,112x64x17:1,64x112x17:1 --resume
fi

START=()
COMMITTED_DIT=models/training/dit-v3.safetensors  # the run past the shipped model, when a session commits it
# (29 MB: with it the tracked tree is over the 64 MiB a GPU lease carries; ship instead where the figures allow)
if [ -f "$RUN/dit/state.pt" ]; then
    START=(--resume)
elif [ -f "$COMMITTED_DIT" ] && { ! shipped_is_v3 || [ "$(steps_of "$COMMITTED_DIT")" -gt "$(steps_of "$SHIPPED")" ]; }; then
    START=(--init-from "$COMMITTED_DIT")  # the run has gone on past the shipped model
elif shipped_is_v3; then
    START=(--init-from "$SHIPPED")
fi
.venv/bin/sora train dit --out "$RUN/dit" --vae "$VAE" --steps "$DIT_STEPS" --stop-after "$DIT_STOP" \
    "${DIT_ARGS[@]}" "${START[@]}"
