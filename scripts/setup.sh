#!/usr/bin/env bash
# One-time (and idempotent) set-up on a fresh machine: a .venv with sora-nodes installed.
# torch is pinned to an exact CPU build first, so no dependency can pull a multi-GB CUDA torch;
# on a GPU machine set TORCH_SPEC (e.g. TORCH_SPEC="torch==2.13.0 --index-url ...") beforehand.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
PYTHON=${PYTHON:-python3}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check $TORCH_SPEC
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
.venv/bin/python -c "import torch, sora_nodes; print(f'sora-nodes {sora_nodes.__version__} ready (torch {torch.__version__})')"
