"""The C2PA signing credentials: a root CA and an end-entity certificate, made offline on first use.

C2PA rejects a self-signed signing certificate, so two certificates are made: a root CA (kept only
as a trust anchor; its key is discarded after issuing) and an end-entity certificate with the
profile c2pa-rs checks (ES256 on P-256, critical digitalSignature key usage, the emailProtection
EKU, not a CA, AKI and SKI). Users who have their own chain pass its files instead.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import SoraError

CHAIN_FILE = "chain.pem"  # end-entity certificate (the root is not part of x5chain; it is the trust anchor)
KEY_FILE = "signer.key"
ROOT_FILE = "root.pem"
VALID_DAYS = 3650


def config_dir() -> Path:
    """$SORA_CONFIG_DIR, else $XDG_CONFIG_HOME/sora-nodes, else ~/.config/sora-nodes."""
    if os.environ.get("SORA_CONFIG_DIR"):
        return Path(os.environ["SORA_CONFIG_DIR"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base).expanduser() / "sora-nodes"


def c2pa_dir() -> Path:
    return config_dir() / "c2pa"


@dataclass(frozen=True)
class Credentials:
    """PEM text of the signing chain (end entity first) and its private key, plus where they came from."""

    chain_pem: bytes
    key_pem: bytes
    source: str

    def fingerprint(self) -> str:
        """SHA-256 of the end-entity certificate, as hex."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        return x509.load_pem_x509_certificate(self.chain_pem).fingerprint(hashes.SHA256()).hex()


def load_credentials(chain: str | os.PathLike, key: str | os.PathLike) -> Credentials:
    """The user's own PEM certificate chain (end entity first) and PEM private key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    chain, key = Path(chain), Path(key)
    for what, path in (("certificate chain", chain), ("private key", key)):
        if not path.is_file():
            raise SoraError(f"C2PA {what} {path} does not exist; pass a PEM file")
    chain_pem, key_pem = chain.read_bytes(), key.read_bytes()
    try:
        certs = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise SoraError(
            f"C2PA certificate chain {chain} is not PEM certificates (-----BEGIN CERTIFICATE-----)"
        ) from None
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as e:
        raise SoraError(f"C2PA private key {key} is not an unencrypted PEM private key: {e}") from None

    def spki(public_key) -> bytes:
        return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    if spki(private.public_key()) != spki(certs[0].public_key()):
        raise SoraError(f"C2PA private key {key} does not belong to the first certificate in {chain}")
    return Credentials(chain_pem, key_pem, source=str(chain))


def ensure_credentials(folder: str | os.PathLike | None = None) -> Credentials:
    """The generated credentials in `folder` (default c2pa_dir()), created there on first use."""
    folder = Path(folder) if folder is not None else c2pa_dir()
    chain, key = folder / CHAIN_FILE, folder / KEY_FILE
    if not (chain.is_file() and key.is_file()):
        folder.mkdir(parents=True, exist_ok=True)
        # Two first saves at once (e.g. two ComfyUI workers) must not each write half a key pair.
        with _locked(folder / ".lock"):
            if not (chain.is_file() and key.is_file()):
                _create(folder)
    return load_credentials(chain, key)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock between processes; on systems without fcntl (Windows) no lock is taken."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _name(common_name: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sora-nodes (local)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _create(folder: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    # Backdated an hour so a clock a little behind still accepts a fresh certificate.
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    until = now + datetime.timedelta(days=VALID_DAYS)
    root_key, ee_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root = (
        x509.CertificateBuilder()
        .subject_name(_name("sora-nodes local root CA"))
        .issuer_name(_name("sora-nodes local root CA"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(root_ski, critical=False)
        .sign(root_key, hashes.SHA256())
    )
    ee = (
        x509.CertificateBuilder()
        .subject_name(_name("sora-nodes video signer"))
        .issuer_name(root.subject)
        .public_key(ee_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ee_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    key_pem = ee_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Key first, created 0600 from the start, so it is never readable by others even for a moment;
    # the certificates last, as their presence is what marks the folder complete.
    _write(folder / KEY_FILE, key_pem, mode=0o600)
    _write(folder / ROOT_FILE, root.public_bytes(serialization.Encoding.PEM), mode=0o644)
    _write(folder / CHAIN_FILE, ee.public_bytes(serialization.Encoding.PEM), mode=0o644)


def _key_usage(cert_sign: bool):
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)  # the umask may have narrowed it
    os.replace(tmp, path)
