"""Wan 2.1 DiT step: ours against diffusers; same as `sora bench wan-dit`. Run: python bench/wan_dit.py --help"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from sora_nodes.bench.wan_dit import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
