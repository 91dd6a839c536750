#!/usr/bin/env bash
# Train the shipped default model from scratch: the VAE, then the DiT on its latents, both on the
# procedural shapes world. Each stage resumes from its state.pt when re-run, so the job can be
# stopped and continued (also across machines: copy the run folder). Set DEVICE=cuda on a GPU.
#   bash scripts/train_default.sh            # -> runs/default/dit/sora.safetensors
#   cp runs/default/dit/sora.safetensors models/sora/sora-default.safetensors
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/default}
DEVICE=${DEVICE:-auto}
VAE_STEPS=${VAE_STEPS:-2000}
VAE_LONG_STEPS=${VAE_LONG_STEPS:-600}
# The shipped checkpoint: 1900 steps of a 2400-step schedule (a session ran out), then resumed
# under a 5000-step schedule (a warm restart of the learning rate) to step 5000.
DIT_FIRST_STEPS=${DIT_FIRST_STEPS:-2400}
DIT_FIRST_STOP=${DIT_FIRST_STOP:-1900}
DIT_STEPS=${DIT_STEPS:-5000}
resume() { [ -f "$1/state.pt" ] && echo --resume || true; }

# VAE: 9-frame crops first (cheap), then 17- and 33-frame crops so the causal decoder stays
# sharp to the end of the clips the DiT trains on (a VAE trained on 9 frames drifts after ~9).
.venv/bin/sora train vae --out "$RUN/vae" --steps "$VAE_STEPS" --batch 16 --crop 32 --device "$DEVICE" \
    $(resume "$RUN/vae")
.venv/bin/sora train vae --out "$RUN/vae" --steps $((VAE_STEPS + VAE_LONG_STEPS)) --batch 16 --crop 32 \
    --buckets 64x64x17:2,112x64x17:1,64x112x17:1,64x64x33:1 --device "$DEVICE" --resume
.venv/bin/sora train dit --out "$RUN/dit" --vae "$RUN/vae/vae.safetensors" --steps "$DIT_FIRST_STEPS" --batch 32 \
    --stop-after "$DIT_FIRST_STOP" --dataset-size 8000 --device "$DEVICE" $(resume "$RUN/dit")
.venv/bin/sora train dit --out "$RUN/dit" --vae "$RUN/vae/vae.safetensors" --steps "$DIT_STEPS" --batch 32 \
    --dataset-size 8000 --device "$DEVICE" --resume
