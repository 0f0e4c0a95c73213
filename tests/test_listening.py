"""
Tests for L{twisted_proxy.service.listening}: the proxy's site over TLS and
behind a PROXY protocol header, driven over L{StringTransport}s (a TLS
client in memory on the other side), no sockets.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Any, Optional

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import Certificate, optionsForClientTLS
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.trial.unittest import SynchronousTestCase

from tests.doubles import Collector, PushedBody, TCPTransport
from tests.test_server import HeldApp
from tests.tlscerts import TLSFiles, write_tls_files
from twisted_proxy._twisted import ProxyProtocolFactory
from twisted_proxy.config import ConfigError, ProxySettings
from twisted_proxy.service.listening import load_tls_options, serving_factory
from twisted_proxy.swift.http import SwiftResponse
from twisted_proxy.web.server import READ_SIZE, ProxyChannel, ProxyResource, ProxySite

#: The connection's own addresses; a PROXY header names others.
PEER = IPv4Address("TCP", "10.0.0.2", 40000)
HOST = IPv4Address("TCP", "10.0.0.1", 8080)

GET = b"GET /v1/AUTH_a HTTP/1.1\r\nHost: swift\r\n\r\n"


def proxy_v2_header(source: tuple[str, int], destination: tuple[str, int],
                    family: int = 0x11, command: int = 0x21) -> bytes:
    """
    A PROXY protocol v2 header: C{family} 0x11 is TCP over IPv4, 0x21 TCP
    over IPv6; C{command} 0x21 is PROXY, 0x20 LOCAL.
    """
    inet = socket.AF_INET if family == 0x11 else socket.AF_INET6
    addresses = (socket.inet_pton(inet, source[0]) + socket.inet_pton(inet, destination[0])
                 + struct.pack("!HH", source[1], destination[1]))
    return (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([command, family])
            + struct.pack("!H", len(addresses)) + addresses)


class _Client(Protocol):
    def __init__(self) -> None:
        self.received = b""

    def dataReceived(self, data: bytes) -> None:
        self.received += data


class _Connection:
    """
    A server protocol and a TLS client, each on a L{StringTransport}, and
    L{pump} to carry the bytes between them.
    """

    def __init__(self, server: Any, tls: TLSFiles, clock: MemoryReactorClock,
                 prefix: bytes = b"") -> None:
        self.clock = clock
        self.server = server
        self.server_transport = TCPTransport(HOST, PEER)
        with open(tls.ca_file, "rb") as handle:
            trust = Certificate.loadPEM(handle.read())
        client_factory = TLSMemoryBIOFactory(
            optionsForClientTLS("localhost", trustRoot=trust), True,
            Factory.forProtocol(_Client), clock)
        self.client = client_factory.buildProtocol(HOST)
        self.client_transport = StringTransport()
        server.makeConnection(self.server_transport)
        if prefix:
            server.dataReceived(prefix)
        self.client.makeConnection(self.client_transport)
        self.pump()

    @property
    def received(self) -> bytes:
        client: Any = self.client.wrappedProtocol
        return client.received  # type: ignore[no-any-return]

    def send(self, data: bytes) -> None:
        self.client.write(data)
        self.pump()

    def pump(self) -> None:
        for _ in range(50):
            self.clock.advance(0)
            to_server = self.client_transport.value()
            self.client_transport.clear()
            to_client = self.server_transport.value()
            self.server_transport.clear()
            if not to_server and not to_client:
                return
            if to_server:
                self.server.dataReceived(to_server)
            if to_client:
                self.client.dataReceived(to_client)


def _channel(protocol: Any) -> ProxyChannel:
    """
    The site's channel under C{protocol}'s wrappers.
    """
    while not isinstance(protocol, ProxyChannel):
        protocol = protocol.wrappedProtocol
    return protocol


class LoadTLSOptionsTests(SynchronousTestCase):
    """
    Tests for L{load_tls_options}.
    """

    def setUp(self) -> None:
        self.directory = self.mktemp()
        self.tls = write_tls_files(self.directory)

    def write(self, name: str, data: bytes) -> str:
        path = os.path.join(self.directory, name)
        with open(path, "wb") as handle:
            handle.write(data)
        return path

    def test_selfSigned(self) -> None:
        options = load_tls_options(self.tls.cert_file, self.tls.key_file)
        self.assertIsNotNone(options.certificate)
        self.assertEqual(options.extraCertChain, [])

    def test_chain(self) -> None:
        """
        The certificates after the first in C{cert_file} are its chain,
        sent with it.
        """
        tls = write_tls_files(os.path.join(self.directory, "chain"), chain=True)
        options = load_tls_options(tls.cert_file, tls.key_file)
        self.assertEqual(len(options.extraCertChain), 1)

    def assertConfigError(self, cert_file: str, key_file: str) -> str:
        error = self.assertRaises(ConfigError, load_tls_options, cert_file, key_file)
        self.assertNotIn("\n", str(error))
        return str(error)

    def test_missingCert(self) -> None:
        missing = os.path.join(self.directory, "nothing.pem")
        self.assertEqual(self.assertConfigError(missing, self.tls.key_file),
                         f"cert_file {missing}: No such file or directory")

    def test_unreadableKey(self) -> None:
        self.assertEqual(self.assertConfigError(self.tls.cert_file, self.directory),
                         f"key_file {self.directory}: Is a directory")

    def test_notACertificate(self) -> None:
        self.assertEqual(self.assertConfigError(self.tls.key_file, self.tls.key_file),
                         f"cert_file {self.tls.key_file}: no PEM certificate")

    def test_notAKey(self) -> None:
        self.assertEqual(self.assertConfigError(self.tls.cert_file, self.tls.cert_file),
                         f"key_file {self.tls.cert_file}: no PEM private key")

    def test_encryptedKey(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"))
        path = self.write("encrypted.pem", key)
        self.assertEqual(self.assertConfigError(self.tls.cert_file, path),
                         f"key_file {path}: an encrypted key; the key must not need a "
                         "password")

    def test_otherKey(self) -> None:
        other = write_tls_files(os.path.join(self.directory, "other"))
        self.assertEqual(self.assertConfigError(self.tls.cert_file, other.key_file),
                         f"key_file {other.key_file}: not the key of cert_file "
                         f"{self.tls.cert_file}")


class _ListeningSite(Factory):
    def __init__(self) -> None:
        self.ports: list[Optional[IListeningPort]] = []

    def listening(self, port: Optional[IListeningPort]) -> None:
        self.ports.append(port)


class ServingFactoryTests(SynchronousTestCase):
    """
    Tests for L{serving_factory}'s layers.
    """

    def setUp(self) -> None:
        self.tls = write_tls_files(self.mktemp())
        self.clock = MemoryReactorClock()

    def settings(self, tls: bool = False, proxy_protocol: bool = False) -> ProxySettings:
        return ProxySettings(cert_file=self.tls.cert_file if tls else None,
                             key_file=self.tls.key_file if tls else None,
                             require_proxy_protocol=proxy_protocol)

    def test_plain(self) -> None:
        site = _ListeningSite()
        self.assertIs(serving_factory(site, self.settings(), self.clock), site)

    def test_layers(self) -> None:
        """
        The PROXY protocol is outermost, then TLS, then the site; the
        site is told where it listens through both.
        """
        site = _ListeningSite()
        factory: Any = serving_factory(site, self.settings(True, True), self.clock)
        self.assertIsInstance(factory, ProxyProtocolFactory)
        self.assertIsInstance(factory.wrappedFactory, TLSMemoryBIOFactory)
        self.assertIs(factory.wrappedFactory.wrappedFactory, site)
        port: Any = object()
        factory.listening(port)
        factory.listening(None)
        self.assertEqual(site.ports, [port, None])

    def test_badCertificate(self) -> None:
        settings = ProxySettings(cert_file=self.tls.key_file, key_file=self.tls.key_file)
        self.assertRaises(ConfigError, serving_factory, _ListeningSite(), settings,
                          self.clock)


class _SiteTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.app = HeldApp()
        self.site = ProxySite(ProxyResource(self.app, self.clock), reactor=self.clock,
                              timeout=None, keep_idle=600)
        self.tls = write_tls_files(self.mktemp())

    def serve(self, tls: bool = False, proxy_protocol: bool = False) -> Any:
        settings = ProxySettings(cert_file=self.tls.cert_file if tls else None,
                                 key_file=self.tls.key_file if tls else None,
                                 require_proxy_protocol=proxy_protocol)
        return serving_factory(self.site, settings, self.clock).buildProtocol(PEER)


class TLSTests(_SiteTestCase):
    """
    The site over TLS.
    """

    def test_request(self) -> None:
        """
        A request over TLS is answered over TLS, and is one over HTTPS.
        """
        connection = _Connection(self.serve(tls=True), self.tls, self.clock)
        connection.send(GET)
        [(request, answer)] = self.app.calls
        self.assertEqual(request.environ["wsgi.url_scheme"], "https")
        self.assertEqual(request.client_ip, PEER.host)
        answer.callback(SwiftResponse(200, body=b"hello"))
        connection.pump()
        self.assertTrue(connection.received.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertTrue(connection.received.endswith(b"\r\n\r\nhello"))

    def test_plainRequestRefused(self) -> None:
        """
        Plain HTTP to the TLS port reaches nothing: the connection is
        dropped.
        """
        server = self.serve(tls=True)
        transport = TCPTransport(HOST, PEER)
        server.makeConnection(transport)
        server.dataReceived(GET)
        self.assertEqual(self.app.calls, [])
        self.assertTrue(transport.disconnecting or transport.disconnected)

    def test_socketOptions(self) -> None:
        """
        The read size and TCP keepalive reach the connection's socket
        under the TLS layer, whose own handle is no socket.
        """
        server = self.serve(tls=True)
        transport = TCPTransport(HOST, PEER)
        server.makeConnection(transport)
        self.assertEqual(transport.bufferSize, READ_SIZE)
        self.assertTrue(transport.keepalive)
        self.assertIn(600, transport.handle.options.values())

    def test_slowClientPausesBody(self) -> None:
        """
        A response body streamed over TLS is paused when the socket's
        write buffer is full, and resumed when it drains.
        """
        connection = _Connection(self.serve(tls=True), self.tls, self.clock)
        connection.send(GET)
        [(_, answer)] = self.app.calls
        body = PushedBody(10)
        answer.callback(SwiftResponse(200, body=body))
        socket_producer = connection.server_transport.producer
        assert socket_producer is not None
        socket_producer.pauseProducing()
        self.assertTrue(body.paused)
        socket_producer.resumeProducing()
        self.assertFalse(body.paused)
        body.send(b"0123456789")
        body.end()
        connection.pump()
        self.assertIn(b"\r\n0123456789\r\n", connection.received)

    def test_slowBackendPausesReading(self) -> None:
        """
        An upload over TLS whose reader pauses stops the socket reading.
        """
        connection = _Connection(self.serve(tls=True), self.tls, self.clock)
        connection.send(b"PUT /v1/AUTH_a/c/o HTTP/1.1\r\nHost: swift\r\n"
                        b"Content-Length: 8\r\n\r\n")
        [(request, _)] = self.app.calls
        assert request.body is not None
        consumer = Collector()
        request.body.startProducing(consumer)
        request.body.pauseProducing()
        self.assertEqual(connection.server_transport.producerState, "paused")
        request.body.resumeProducing()
        self.assertEqual(connection.server_transport.producerState, "producing")
        connection.send(b"12345678")
        self.assertEqual(consumer.data, b"12345678")


class ProxyProtocolTests(_SiteTestCase):
    """
    The site behind a PROXY protocol header.
    """

    def connect(self, tls: bool = False) -> tuple[Any, TCPTransport]:
        server = self.serve(tls=tls, proxy_protocol=True)
        transport = TCPTransport(HOST, PEER)
        server.makeConnection(transport)
        return server, transport

    def test_v1(self) -> None:
        """
        The client's address is the one the header names: Swift's
        C{REMOTE_ADDR}.
        """
        server, _ = self.connect()
        server.dataReceived(b"PROXY TCP4 192.0.2.7 10.0.0.1 51000 8080\r\n" + GET)
        [(request, _)] = self.app.calls
        self.assertEqual(request.client_ip, "192.0.2.7")
        self.assertEqual(request.environ["REMOTE_ADDR"], "192.0.2.7")
        self.assertEqual(request.environ["wsgi.url_scheme"], "http")

    def test_v2(self) -> None:
        server, _ = self.connect()
        server.dataReceived(proxy_v2_header(("198.51.100.9", 51000), ("10.0.0.1", 8080)) + GET)
        [(request, _)] = self.app.calls
        self.assertEqual(request.client_ip, "198.51.100.9")

    def test_v2IPv6(self) -> None:
        server, _ = self.connect()
        server.dataReceived(proxy_v2_header(("2001:db8::7", 51000), ("2001:db8::1", 8080), 0x21)
                            + GET)
        [(request, _)] = self.app.calls
        self.assertEqual(request.client_ip, "2001:db8::7")

    def test_localCommand(self) -> None:
        """
        A v2 C{LOCAL} header (a balancer's own health check) and a v1
        C{UNKNOWN} one leave the connection's address.
        """
        server, _ = self.connect()
        server.dataReceived(proxy_v2_header(("192.0.2.7", 1), ("10.0.0.1", 2), command=0x20) + GET)
        server, _ = self.connect()
        server.dataReceived(b"PROXY UNKNOWN\r\n" + GET)
        self.assertEqual([request.client_ip for request, _ in self.app.calls],
                         [PEER.host, PEER.host])

    def test_headerInPieces(self) -> None:
        """
        A header may arrive a few bytes at a time, the first read
        included.
        """
        for header in (b"PROXY TCP4 192.0.2.7 10.0.0.1 51000 8080\r\n",
                       proxy_v2_header(("192.0.2.8", 51000), ("10.0.0.1", 8080))):
            server, _ = self.connect()
            for index in range(0, len(header), 3):
                server.dataReceived(header[index:index + 3])
            server.dataReceived(GET)
        self.assertEqual([request.client_ip for request, _ in self.app.calls],
                         ["192.0.2.7", "192.0.2.8"])

    def test_forwardedHttps(self) -> None:
        """
        A header for port 443 says the client spoke HTTPS to what sent it,
        as Swift takes it.
        """
        server, _ = self.connect()
        server.dataReceived(b"PROXY TCP6 2001:db8::7 2001:db8::1 51000 443\r\n" + GET)
        [(request, _)] = self.app.calls
        self.assertEqual(request.environ["wsgi.url_scheme"], "https")
        self.assertEqual(request.environ["SERVER_PORT"], "443")

    def test_missingHeader(self) -> None:
        """
        A connection without a header is answered C{400 Invalid PROXY
        line} and closed, as Swift does; nothing reaches the pipeline.
        """
        for data in (GET, b"GET /", b"PROXY garbage here\r\n" + GET,
                     b"\r\n\r\n\x00\r\nQUIT\n\x99\x11\x00\x0c" + b"x" * 20):
            server, transport = self.connect()
            server.dataReceived(data)
            self.assertEqual(transport.value(), b"HTTP/1.1 400 Invalid PROXY line\r\n"
                             b"Content-Length: 0\r\nConnection: close\r\n\r\n", data)
            self.assertTrue(transport.disconnecting)
        self.assertEqual(self.app.calls, [])

    def test_refusalAfterHeaderIsTheChannels(self) -> None:
        """
        A request the channel refuses after a good header is answered by
        the channel alone.
        """
        server, transport = self.connect()
        server.dataReceived(b"PROXY TCP4 192.0.2.7 10.0.0.1 51000 8080\r\n"
                            b"GET / HTTP/2.0\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 505 "))

    def test_sameAddressEveryRequest(self) -> None:
        server, _ = self.connect()
        server.dataReceived(b"PROXY TCP4 192.0.2.7 10.0.0.1 51000 8080\r\n" + GET)
        self.app.calls[0][1].callback(SwiftResponse(204))
        server.dataReceived(GET)
        self.assertEqual([request.client_ip for request, _ in self.app.calls],
                         ["192.0.2.7", "192.0.2.7"])

    def test_beforeTLS(self) -> None:
        """
        With TLS, the header comes first, then the handshake.
        """
        server = self.serve(tls=True, proxy_protocol=True)
        connection = _Connection(server, self.tls, self.clock,
                                 prefix=proxy_v2_header(("192.0.2.7", 51000), ("10.0.0.1", 443)))
        connection.send(GET)
        [(request, answer)] = self.app.calls
        self.assertEqual(request.client_ip, "192.0.2.7")
        self.assertEqual(request.environ["wsgi.url_scheme"], "https")
        answer.callback(SwiftResponse(204))
        connection.pump()
        self.assertTrue(connection.received.startswith(b"HTTP/1.1 204 "))

    def test_backpressure(self) -> None:
        """
        Pausing the channel's reading pauses the socket under the PROXY
        layer; the socket's full buffer pauses what the channel streams.
        """
        server, transport = self.connect()
        server.dataReceived(b"PROXY TCP4 192.0.2.7 10.0.0.1 51000 8080\r\n" + GET)
        channel = _channel(server)
        assert channel.readGate is not None
        channel.readGate.hold(self)
        self.assertEqual(transport.producerState, "paused")
        channel.readGate.release(self)
        self.assertEqual(transport.producerState, "producing")
        [(_, answer)] = self.app.calls
        body = PushedBody(4)
        answer.callback(SwiftResponse(200, body=body))
        assert transport.producer is not None
        transport.producer.pauseProducing()
        self.assertTrue(body.paused)
