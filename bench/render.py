"""Where render time goes, stage by stage; same as `sora bench render`. Run: python bench/render.py --help"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from sora_nodes.bench.render import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
