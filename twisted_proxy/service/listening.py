# -*- test-case-name: tests.test_listening -*-
"""
What a listening socket serves: the proxy's site, over TLS when the
configuration names a certificate (C{cert_file}, C{key_file}) and behind a
PROXY protocol header when it requires one (C{require_proxy_protocol}), as
Swift's server does. The single process and each worker of C{workers = N}
serve what L{serving_factory} makes of their site.

The layers, outermost first: the PROXY header is the first thing on the
connection (a load balancer sends it before the TLS handshake it passes
through), then TLS, then HTTP. Each layer is a L{WrappingFactory} whose
protocols forward the transport's producer calls: the site's channel
pausing its reading stops the socket reading, and the socket's full write
buffer pauses the channel (and the response body it streams).
"""

from __future__ import annotations

from typing import Any, Optional

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)
from OpenSSL import crypto
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IReactorTime
from twisted.internet.ssl import CertificateOptions
from twisted.protocols.tls import TLSMemoryBIOFactory

from twisted_proxy._twisted import ProxyProtocolFactory
from twisted_proxy.config import ConfigError, ProxySettings

__all__ = ["load_tls_options", "serving_factory"]


def _read(option: str, path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise ConfigError(f"{option} {path}: {error.strerror or error}") from None


def load_tls_options(cert_file: str, key_file: str) -> CertificateOptions:
    """
    The TLS server options of a PEM certificate, followed by the chain that
    completes it, in C{cert_file}, and its unencrypted PEM private key in
    C{key_file}, with Twisted's defaults (TLS 1.2 and later, its cipher
    list, no client certificate asked for: Swift's C{CERT_NONE}).

    @raise ConfigError: one line naming the file that cannot be read or
        holds no certificate or key, or the key that is not the
        certificate's.
    """
    try:
        chain = x509.load_pem_x509_certificates(_read("cert_file", cert_file))
    except ValueError:
        raise ConfigError(f"cert_file {cert_file}: no PEM certificate") from None
    try:
        key = load_pem_private_key(_read("key_file", key_file), password=None)
    except TypeError:
        raise ConfigError(f"key_file {key_file}: an encrypted key; "
                          "the key must not need a password") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"key_file {key_file}: no PEM private key") from None
    public = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    leaf = chain[0].public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if public != leaf:
        raise ConfigError(f"key_file {key_file}: not the key of cert_file {cert_file}")
    return CertificateOptions(
        privateKey=crypto.PKey.from_cryptography_key(key),  # type: ignore[arg-type]
        certificate=crypto.X509.from_cryptography(chain[0]),
        extraCertChain=[crypto.X509.from_cryptography(extra) for extra in chain[1:]],
    )


class _TellsListening:
    """
    Passes the site's L{listening} on through a wrapping factory: the
    site's C{max_clients} pauses the listening port.
    """

    wrappedFactory: Any

    def listening(self, port: Optional[IListeningPort]) -> None:
        listening = getattr(self.wrappedFactory, "listening", None)
        if listening is not None:
            listening(port)


class _TLSFactory(_TellsListening, TLSMemoryBIOFactory):
    pass


class _ProxyProtocolFactory(_TellsListening, ProxyProtocolFactory):
    pass


def serving_factory(site: IProtocolFactory, settings: ProxySettings,
                    clock: IReactorTime) -> IProtocolFactory:
    """
    What a listening port serves for C{site}: the site itself, wrapped in
    TLS with C{settings.cert_file}, then in the PROXY protocol with
    C{settings.require_proxy_protocol}. Its C{listening(port)}, where the
    site has one, is the site's.

    @param clock: schedules the flushing of small TLS writes.
    @raise ConfigError: for a certificate or key that cannot be used
        (L{load_tls_options}).
    """
    factory: IProtocolFactory = site
    if settings.cert_file is not None and settings.key_file is not None:
        options = load_tls_options(settings.cert_file, settings.key_file)
        factory = _TLSFactory(options, False, factory, clock)
    if settings.require_proxy_protocol:
        factory = _ProxyProtocolFactory(factory)
    return factory
