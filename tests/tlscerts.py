"""
Throw-away TLS certificates for the tests (C{cryptography}): a self-signed
one for C{127.0.0.1} and C{localhost}, or a leaf signed by a throw-away
authority.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["TLSFiles", "write_tls_files"]


@dataclass(frozen=True)
class TLSFiles:
    """
    Where a certificate and its key were written.

    @ivar cert_file: the PEM certificate, followed by its issuer's when it
        has one.
    @ivar key_file: its PEM private key, unencrypted.
    @ivar ca_file: the PEM certificate a client trusts to verify it.
    """

    cert_file: str
    key_file: str
    ca_file: str


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey,
                 issuer: Optional[tuple[x509.Certificate, ec.EllipticCurvePrivateKey]],
                 is_ca: bool) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if not is_ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def write_tls_files(directory: str, chain: bool = False) -> TLSFiles:
    """
    Write a certificate for C{127.0.0.1} and C{localhost}, valid for two
    days, and its key into C{directory}: self-signed, or with C{chain}
    signed by a throw-away authority whose certificate follows it in
    C{cert_file}.
    """
    os.makedirs(directory, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert_file = os.path.join(directory, "cert.pem")
    key_file = os.path.join(directory, "key.pem")
    if chain:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _certificate("twisted-proxy test CA", ca_key, None, True)
        leaf = _certificate("127.0.0.1", key, (ca, ca_key), False)
        ca_file = os.path.join(directory, "ca.pem")
        with open(ca_file, "wb") as handle:
            handle.write(_pem(ca))
        cert_pem = _pem(leaf) + _pem(ca)
    else:
        leaf = _certificate("127.0.0.1", key, None, False)
        ca_file = cert_file
        cert_pem = _pem(leaf)
    with open(cert_file, "wb") as handle:
        handle.write(cert_pem)
    with open(key_file, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return TLSFiles(cert_file, key_file, ca_file)
