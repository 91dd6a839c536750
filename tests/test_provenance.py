"""C2PA provenance on real MP4s: sign, verify, tamper, trust, certificates, `sora verify`."""

import json
import os
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sora_nodes.errors import SoraError
from sora_nodes.io.video import read_video, write_video
from sora_nodes.provenance import (
    TRAINED_ALGORITHMIC_MEDIA,
    c2pa_dir,
    config_dir,
    ensure_credentials,
    load_credentials,
    sign_video,
    verify,
)

SORA = Path(sys.executable).parent / "sora"


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch):
    """Each test gets its own config folder, so the user's real certificates are never touched."""
    folder = tmp_path / "config"
    monkeypatch.setenv("SORA_CONFIG_DIR", str(folder))
    return folder


def clip(path: Path) -> Path:
    frames = torch.linspace(0, 1, 17 * 64 * 64 * 3).reshape(17, 64, 64, 3)
    return write_video(path, frames, 8.0)


def top_level_boxes(data: bytes) -> dict[str, tuple[int, int]]:
    """MP4 top-level box type -> (payload start, payload end)."""
    boxes, pos = {}, 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = len(data) - pos
        boxes.setdefault(kind.decode("latin-1"), (pos + header, pos + size))
        pos += size
    return boxes


def test_signed_video_verifies_with_the_ai_generated_claims_and_still_plays(tmp_path):
    path = clip(tmp_path / "clip.mp4")
    before, fps = read_video(path)
    assert not verify(path)["signed"]

    assert sign_video(path) == path
    report = verify(path)
    assert report["signed"] and report["valid"] and report["trusted"], report
    assert report["errors"] == []
    claims = report["claims"]
    assert claims["generator"]["name"] == "sora-nodes" and claims["generator"]["version"]
    assert "c2pa.created" in claims["actions"]
    assert claims["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert "prompt" not in claims  # not opted in
    assert "uuid" in top_level_boxes(path.read_bytes())  # the manifest is embedded in the file itself

    after, fps_after = read_video(path)
    assert fps_after == fps
    assert torch.equal(after, before)
    assert not list(tmp_path.glob(".*tmp*"))  # no temp file left behind


def test_prompt_is_in_the_manifest_only_when_opted_in(tmp_path):
    with_prompt = sign_video(clip(tmp_path / "a.mp4"), prompt="a red circle moving left")
    assert verify(with_prompt)["claims"]["prompt"] == "a red circle moving left"
    without = sign_video(clip(tmp_path / "b.mp4"))
    assert "prompt" not in verify(without)["claims"]
    assert b"a red circle" not in without.read_bytes()


def test_one_changed_byte_in_the_video_data_makes_it_invalid(tmp_path):
    path = sign_video(clip(tmp_path / "clip.mp4"))
    data = bytearray(path.read_bytes())
    start, end = top_level_boxes(bytes(data))["mdat"]
    data[(start + end) // 2] ^= 0x01
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))

    report = verify(tampered)
    assert report["signed"] and not report["valid"] and not report["trusted"]
    assert any("mismatch" in e for e in report["errors"]), report["errors"]


def test_trust_comes_from_the_configured_root_only(tmp_path, config_home, monkeypatch):
    path = sign_video(clip(tmp_path / "clip.mp4"))
    assert verify(path)["trusted"]
    # Another user's root (a fresh config folder) validates the signature but does not trust it.
    monkeypatch.setenv("SORA_CONFIG_DIR", str(tmp_path / "someone-else"))
    ensure_credentials()
    report = verify(path)
    assert report["valid"] and not report["trusted"]
    assert any("untrusted" in e for e in report["errors"])
    # Trusting our root explicitly brings it back.
    assert verify(path, trust_anchors=[config_home / "c2pa" / "root.pem"])["trusted"]
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(SoraError, match="holds no PEM certificate"):
        verify(path, trust_anchors=[junk])


def test_certificates_are_created_once_reused_and_the_key_is_private(config_home):
    assert config_dir() == config_home and c2pa_dir() == config_home / "c2pa"
    first = ensure_credentials()
    key = config_home / "c2pa" / "signer.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert ensure_credentials().fingerprint() == first.fingerprint()
    assert {p.name for p in (config_home / "c2pa").iterdir()} == {"chain.pem", "signer.key", "root.pem", ".lock"}


def test_the_signing_certificate_has_the_c2pa_profile():
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    cert = x509.load_pem_x509_certificate(ensure_credentials().chain_pem)
    root = x509.load_pem_x509_certificate((c2pa_dir() / "root.pem").read_bytes())
    assert cert.issuer == root.subject != cert.subject  # not self-signed
    assert isinstance(cert.public_key().curve, ec.SECP256R1)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_user_supplied_credentials_sign_and_bad_ones_are_refused(tmp_path):
    own = tmp_path / "own"
    ensure_credentials(own)
    credentials = load_credentials(own / "chain.pem", own / "signer.key")
    path = sign_video(clip(tmp_path / "clip.mp4"), credentials=credentials)
    assert not (c2pa_dir() / "signer.key").exists()  # nothing generated when the user brings their own
    assert verify(path, trust_anchors=[own / "root.pem"])["trusted"]

    other = tmp_path / "other"
    ensure_credentials(other)
    with pytest.raises(SoraError, match="does not belong"):
        load_credentials(own / "chain.pem", other / "signer.key")
    with pytest.raises(SoraError, match="does not exist"):
        load_credentials(tmp_path / "missing.pem", own / "signer.key")


def test_signing_a_non_video_fails_clearly_and_leaves_it_unchanged(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n")
    with pytest.raises(SoraError, match="cannot C2PA-sign .*notes.mp4.*left unchanged"):
        sign_video(fake)
    assert fake.read_text() == "this is not a video\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "notes.mp4"]
    with pytest.raises(SoraError, match="no such file"):
        sign_video(tmp_path / "missing.mp4")


def sora_in_process(capsys, *args) -> tuple[int, str, str]:
    """`sora ARGS` through the same main() as the console script, without paying its start-up again."""
    from sora_nodes.cli import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse exits on bad usage
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sora_verify_exit_codes_and_json(tmp_path, config_home, capsys):
    signed = sign_video(clip(tmp_path / "signed.mp4"), prompt="a dog")
    unsigned = clip(tmp_path / "unsigned.mp4")

    # Once through the installed console script, as a user runs it.
    env = {**os.environ, "SORA_CONFIG_DIR": str(config_home)}
    r = subprocess.run(
        [str(SORA), "verify", str(signed), "--json"], capture_output=True, text=True, env=env, timeout=120
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["valid"] and report["trusted"] and report["claims"]["prompt"] == "a dog"

    code, out, _ = sora_in_process(capsys, "verify", signed)
    assert code == 0 and "valid, trusted" in out and TRAINED_ALGORITHMIC_MEDIA in out

    code, out, _ = sora_in_process(capsys, "verify", unsigned, "--json")
    assert code == 1 and json.loads(out)["signed"] is False

    data = bytearray(signed.read_bytes())
    start, end = top_level_boxes(bytes(data))["mdat"]
    data[start + 100] ^= 0xFF
    (tmp_path / "tampered.mp4").write_bytes(bytes(data))
    code, out, _ = sora_in_process(capsys, "verify", tmp_path / "tampered.mp4")
    assert code == 1 and "INVALID" in out and "mismatch" in out

    code, _, err = sora_in_process(capsys, "verify", tmp_path / "missing.mp4")
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1
    code, _, err = sora_in_process(capsys, "verify")
    assert code == 2 and "file" in err and len(err.strip().splitlines()) == 1


def test_first_use_from_several_processes_at_once_makes_one_key_pair(config_home):
    code = "from sora_nodes.provenance import ensure_credentials; print(ensure_credentials().fingerprint())"
    env = {**os.environ, "SORA_CONFIG_DIR": str(config_home)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env) for _ in range(4)
    ]
    prints = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert prints == {ensure_credentials().fingerprint()}
