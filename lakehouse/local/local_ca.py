"""A certificate authority of one stack: the CA certificate and one key pair it signed,
for services that authenticate their peers by mutual TLS (SeaweedFS' internal ports).

The CA's private key is never written: once the node certificate is signed nothing
can mint another, so a reader of the state dir who lacks the node key cannot join.
Losing a file means generating all of them again (``ensure_local_ca`` does).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lakehouse.local.files import write_private

_VALID_DAYS = 3650


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the CA certificate: what both ends trust
    cert: Path  # the node certificate, for serving and for dialling
    key: Path  # its private key (owner-only)

    def exist(self) -> bool:
        return self.ca.is_file() and self.cert.is_file() and self.key.is_file()


def ensure_local_ca(directory: Path, hosts: Sequence[str], common_name: str) -> TlsFiles:
    """The CA and node files under ``directory``, generated when any is missing.

    ``hosts``: names and addresses the node certificate is valid for (SeaweedFS checks
    them on its HTTPS calls between components)."""
    files = TlsFiles(directory / "ca.crt", directory / "node.crt", directory / "node.key")
    if files.exist():
        return files
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(minutes=5), now + dt.timedelta(days=_VALID_DAYS)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{common_name} CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    node_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    node = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_name)
        .public_key(node_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        # One pair for both directions: every component serves and dials.
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    key_pem = node_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private(files.key, key_pem.decode())
    write_private(files.cert, node.public_bytes(serialization.Encoding.PEM).decode())
    write_private(files.ca, ca.public_bytes(serialization.Encoding.PEM).decode())
    return files
