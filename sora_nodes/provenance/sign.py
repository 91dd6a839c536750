"""Embed a signed C2PA manifest in an MP4, saying that a trained model generated it.

Signing must be the last write: any later change to the file breaks the hash the manifest holds.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .. import __version__
from ..errors import SoraError
from ..io.atomic import atomic_path
from .certificates import Credentials, ensure_credentials

GENERATOR = "sora-nodes"
CREATED = "c2pa.created"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
PROMPT_LABEL = "org.sora-nodes.prompt"  # our own assertion; C2PA has no standard one for a text prompt
# The prompt text a manifest carries, at most (a graph's prompt texts can be anything a widget holds): 65536
# characters, far above any prompt a model reads (umT5 stops at 512 tokens), then a note of the rest.
MAX_PROMPT_CHARS = 65536

log = logging.getLogger(__name__)


def manifest_definition(title: str, prompt: str | None = None) -> dict:
    """The manifest sign_video embeds; `prompt` is added only when given (the user opted in)."""
    assertions = [
        {
            "label": "c2pa.actions",
            "data": {"actions": [{"action": CREATED, "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}]},
        }
    ]
    if prompt is not None:
        if len(prompt) > MAX_PROMPT_CHARS:
            log.warning(
                "the prompt text is %d characters; the C2PA manifest keeps the first %d", len(prompt), MAX_PROMPT_CHARS
            )
            prompt = f"{prompt[:MAX_PROMPT_CHARS]} [cut by sora-nodes: {len(prompt)} characters]"
        assertions.append({"label": PROMPT_LABEL, "data": {"prompt": prompt}})
    return {
        "claim_generator_info": [{"name": GENERATOR, "version": __version__}],
        "title": title,
        "format": "video/mp4",
        "assertions": assertions,
    }


def sign_video(path: str | os.PathLike, *, prompt: str | None = None, credentials: Credentials | None = None) -> Path:
    """Sign the MP4 at `path` in place, atomically; on failure the file is left as it was.

    `prompt` goes into the manifest only when it is not None. `credentials` default to the
    generated local chain (made on first use, see certificates.py). No timestamp server is used,
    so nothing goes over the network; the signature then counts as made at verification time.
    """
    import c2pa

    path = Path(path)
    if not path.is_file():
        raise SoraError(f"cannot sign {path}: no such file")
    if prompt is not None and not isinstance(prompt, str):
        raise SoraError(f"prompt must be text or None, got {type(prompt).__name__}")
    credentials = credentials or ensure_credentials()
    try:
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, credentials.chain_pem, credentials.key_pem, None)
        )
    except c2pa.C2paError as e:
        raise SoraError(
            f"the C2PA signing credentials from {credentials.source} were rejected ({e}); "
            "they must be an ES256 (P-256) certificate chain and its private key"
        ) from None
    try:
        with signer, c2pa.Builder(manifest_definition(path.name, prompt)) as builder:
            with atomic_path(path) as tmp, open(path, "rb") as src, open(tmp, "w+b") as dst:
                builder.sign(signer, "video/mp4", src, dst)
    except c2pa.C2paError as e:
        raise SoraError(
            f"cannot C2PA-sign {path}: {e}; it must be an MP4 file (e.g. from sora render); the file was left unchanged"
        ) from None
    return path
