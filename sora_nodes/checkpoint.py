"""Moved to `sora_nodes.families.checkpoint`. This name stays only for `scripts/train_default.sh`, which reads
`read_metadata` from it; import the families module in new code."""

from .families.checkpoint import read_metadata

__all__ = ["read_metadata"]
