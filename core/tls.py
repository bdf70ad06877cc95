"""The HTTPS certificate: the configured one, or a self-signed one made once in the data dir.

Phones pin or show the certificate's SHA-256 fingerprint, so the dashboard prints it too
(`fingerprint(settings)`). RSA-2048 rather than ECDSA: some older phone firmwares accept no ECDSA
server certificate.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.settings import Settings, private_dir, write_private

CERT_NAME = "https-cert.pem"
KEY_NAME = "https-key.pem"
VALID_DAYS = 3650


def cert_paths(settings: Settings) -> tuple[Path, Path]:
    """The certificate and key the endpoint uses: the configured pair, else the data dir's own."""
    if settings.tls_cert and settings.tls_key:
        return settings.tls_cert, settings.tls_key
    return settings.data_dir / CERT_NAME, settings.data_dir / KEY_NAME


def _san(host: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for name in dict.fromkeys([host, "localhost", "127.0.0.1"]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    return names


def generate_self_signed(cert_path: Path, key_path: Path, host: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(_san(host)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    private_dir(key_path.parent)
    # Each through a temporary name (a concurrent start never sees half a file), both 0600: the key
    # must be, and nothing else in the data directory needs to be readable by anyone else.
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private(key_path, key_pem)
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def ensure_certificate(settings: Settings) -> tuple[Path, Path, bool]:
    """(cert, key, created): the configured pair must exist; otherwise a self-signed pair is made once."""
    cert, key = cert_paths(settings)
    if settings.tls_cert and settings.tls_key:
        for p in (cert, key):
            if not p.is_file():
                raise FileNotFoundError(f"TLS file not found: {p}")
        return cert, key, False
    if cert.is_file() and key.is_file():
        return cert, key, False
    generate_self_signed(cert, key, settings.public_host)
    return cert, key, True


def fingerprint(settings: Settings) -> str | None:
    """SHA-256 of the endpoint's certificate as AA:BB:..., or None before one exists."""
    cert_path, _ = cert_paths(settings)
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return None
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()
