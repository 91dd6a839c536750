"""Read and check the C2PA manifest of a video: is it signed, intact, and from a trusted root?"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SoraError
from .certificates import ROOT_FILE, c2pa_dir
from .manifest_bytes import has_manifest_bytes
from .sign import PROMPT_LABEL
from .watermark import read_watermark_file

TRUST_FILE = "trust_anchors.pem"  # extra roots the user trusts, PEM, appended by hand


def default_trust_anchors() -> list[Path]:
    """The roots a signature is trusted against: our generated root and <config>/c2pa/trust_anchors.pem."""
    return [p for p in (c2pa_dir() / ROOT_FILE, c2pa_dir() / TRUST_FILE) if p.is_file()]


def verify(path: str | os.PathLike, trust_anchors: list[str | os.PathLike] | None = None) -> dict:
    """{"signed", "valid", "trusted", "claims", "errors", "watermark"} for the file at `path`.

    valid: the signature checks and the file's bytes match the hash in the manifest.
    trusted: valid, and the signing certificate chains to one of `trust_anchors` (PEM files;
    default: default_trust_anchors()). Checking is offline: no OCSP, no remote manifests.
    watermark: the invisible watermark's reading (WatermarkReading.to_dict()), or {"found": False,
    "error": why} when the frames cannot be read for one; it does not change valid or trusted.
    """
    path = Path(path)
    if not path.is_file():
        raise SoraError(f"cannot verify {path}: no such file")
    anchors = [Path(p) for p in (default_trust_anchors() if trust_anchors is None else trust_anchors)]
    for anchor in anchors:
        _check_anchor(anchor)
    result = _verify_manifest(path, anchors)
    result["watermark"] = _watermark(path)
    return result


def _watermark(path: Path) -> dict:
    try:
        return read_watermark_file(path).to_dict()
    except SoraError as e:  # e.g. too small to carry a mark, or not a video: still report the signature
        return {"found": False, "error": str(e)}


def _verify_manifest(path: Path, anchors: list[Path]) -> dict:
    import c2pa

    settings = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_trust": True}}
    pem = "\n".join(a.read_text() for a in anchors)
    if pem.strip():
        settings["trust"] = {"user_anchors": pem}
    result = {"signed": False, "valid": False, "trusted": False, "claims": {}, "errors": []}
    try:
        context = c2pa.Context.from_dict(settings)
    except c2pa.C2paError as e:
        raise SoraError(f"the trust anchors {[str(a) for a in anchors]} are not PEM root certificates: {e}") from None
    try:
        with context, open(path, "rb") as stream:
            reader = c2pa.Reader.try_create("video/mp4", stream, None, context)
            if reader is None:
                if has_manifest_bytes(path):  # the box that holds it is damaged: tampered, not unsigned
                    return _broken(
                        result,
                        "manifest.unreadable: the file holds C2PA manifest bytes, but the MP4 box around "
                        "them is damaged, so the manifest cannot be found",
                    )
                result["errors"].append("no C2PA manifest found")
                return result
            with reader:
                manifest = reader.get_active_manifest() or {}
                state = reader.get_validation_state()
                failures = (reader.get_validation_results() or {}).get("activeManifest", {}).get("failure", [])
    except c2pa.C2paError as e:
        if has_manifest_bytes(path):  # present but unreadable: c2pa names the check, e.g. "Decoding: ..."
            return _broken(result, f"manifest.damaged: the C2PA manifest is present but cannot be read ({e})")
        result["errors"].append(f"cannot read a C2PA manifest ({e}); is {path.name} an MP4 file?")
        return result
    result["signed"] = True
    result["claims"] = _claims(manifest)
    # "signingCredential.untrusted" alone still leaves the file Valid (intact, but from an unknown root).
    result["valid"] = state in ("Valid", "Trusted")
    result["trusted"] = state == "Trusted"
    result["errors"] = [f"{f.get('code')}: {f.get('explanation')}" for f in failures]
    return result


def _broken(result: dict, error: str) -> dict:
    """A manifest that is there but cannot be read: the file was signed and then changed, so it is INVALID."""
    result.update(signed=True, valid=False, trusted=False)
    result["errors"].append(error)
    return result


def _check_anchor(anchor: Path) -> None:
    # c2pa silently ignores text that is not a certificate, which would make "untrusted" unexplained.
    from cryptography import x509

    if not anchor.is_file():
        raise SoraError(f"trust anchor {anchor} does not exist; pass a PEM file of root certificates")
    try:
        x509.load_pem_x509_certificates(anchor.read_bytes())
    except ValueError:
        raise SoraError(
            f"trust anchor {anchor} holds no PEM certificate (-----BEGIN CERTIFICATE-----); pass root certificates"
        ) from None


def _claims(manifest: dict) -> dict:
    generator = (manifest.get("claim_generator_info") or [{}])[0]
    claims = {"generator": {"name": generator.get("name"), "version": generator.get("version")}, "actions": []}
    signature = manifest.get("signature_info") or {}
    claims["signer"] = {"issuer": signature.get("issuer"), "common_name": signature.get("common_name")}
    for assertion in manifest.get("assertions", []):
        label, data = assertion.get("label", ""), assertion.get("data") or {}
        if label.startswith("c2pa.actions"):
            for action in data.get("actions", []):
                claims["actions"].append(action.get("action"))
                if action.get("digitalSourceType"):
                    claims["digitalSourceType"] = action["digitalSourceType"]
        elif label == PROMPT_LABEL:
            claims["prompt"] = data.get("prompt")
    return claims
