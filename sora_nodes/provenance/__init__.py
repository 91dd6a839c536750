"""C2PA provenance: sign generated MP4s as AI-made, and verify such signatures (DESIGN section 5)."""

from .certificates import Credentials, c2pa_dir, config_dir, ensure_credentials, load_credentials
from .sign import TRAINED_ALGORITHMIC_MEDIA, manifest_definition, sign_video
from .verify import default_trust_anchors, verify

__all__ = [
    "TRAINED_ALGORITHMIC_MEDIA",
    "Credentials",
    "c2pa_dir",
    "config_dir",
    "default_trust_anchors",
    "ensure_credentials",
    "load_credentials",
    "manifest_definition",
    "sign_video",
    "verify",
]
