"""
Tests for L{twisted_proxy.web.server}: the proxy's site driven over a
L{StringTransport}, with an application double answering each request.
"""

from __future__ import annotations

import re
import socket
from typing import Callable, Optional

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import Request
from zope.interface import implementer

from tests.doubles import Collector, PushedBody, StoredBody, TCPTransport
from twisted_proxy.interfaces import IProxyApplication
from twisted_proxy.swift.constraints import Constraints
from twisted_proxy.swift.http import SwiftRequest, SwiftResponse
from twisted_proxy.web.requestbody import RequestBody
from twisted_proxy.web.server import (
    READ_SIZE,
    ProxyChannel,
    ProxyResource,
    ProxySite,
    date_header,
)


@implementer(IProxyApplication)
class HeldApp:
    """
    The pipeline: keeps each request with the L{Deferred} to answer it by.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[SwiftRequest, Deferred[SwiftResponse]]] = []
        self.before: Optional[Callable[[], object]] = None

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        d: Deferred[SwiftResponse] = Deferred()
        self.calls.append((request, d))
        if self.before is not None:
            self.before()
        return d


class _BufferedTransport(StringTransport):
    bufferSize = 65536


class ProxySiteTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.app = HeldApp()
        self.site = ProxySite(ProxyResource(self.app, self.clock), reactor=self.clock,
                              timeout=None)
        self.channel = self.site.buildProtocol(IPv4Address("TCP", "10.1.1.1", 4000))
        assert isinstance(self.channel, ProxyChannel)
        self.transport = _BufferedTransport()
        self.channel.makeConnection(self.transport)

    def send(self, data: bytes) -> None:
        self.channel.dataReceived(data)
        self.clock.advance(0)

    def written(self) -> bytes:
        data = self.transport.value()
        self.transport.clear()
        return data

    def reading(self) -> str:
        return str(self.transport.producerState)

    def test_readSize(self) -> None:
        """
        The channel reads L{READ_SIZE} bytes at a time.
        """
        self.assertEqual(self.transport.bufferSize, READ_SIZE)

    def test_putStreams(self) -> None:
        """
        A PUT reaches the pipeline before its body, which is a
        L{RequestBody}; a POST's body is collected first.
        """
        self.send(b"PUT /v1/a/c/o HTTP/1.1\r\nHost: p\r\nContent-Length: 4\r\n\r\n")
        [(request, _)] = self.app.calls
        self.assertIsInstance(request.body, RequestBody)
        self.send(b"POST /v1/a/c/o HTTP/1.1\r\nContent-Length: 2\r\n\r\nab")
        self.assertEqual(len(self.app.calls), 1)

    def test_form_post_streams(self) -> None:
        """
        A POST of C{multipart/form-data} (a form post) streams as a PUT does,
        and twisted.web does not parse it: a body that is no valid form
        reaches the pipeline too.
        """
        self.send(b"POST /v1/a/c HTTP/1.1\r\nHost: p\r\nContent-Length: 9\r\n"
                  b"Content-Type: Multipart/Form-Data ; boundary=b\r\n\r\n")
        [(request, d)] = self.app.calls
        self.assertIsInstance(request.body, RequestBody)
        self.send(b"not a for")
        d.callback(SwiftResponse(400, {}, b"no"))
        self.assertIn(b"400", self.written())

    def test_environ(self) -> None:
        """
        The Swift request carries the client's address and the server name
        from C{Host}, latin-1 decoded as WSGI does.
        """
        self.send(b"GET /v1/a HTTP/1.1\r\nHost: caf\xe9.example:8080\r\n\r\n")
        [(request, _)] = self.app.calls
        self.assertEqual(request.client_ip, self.transport.getPeer().host)
        self.assertEqual(request.environ["SERVER_NAME"], "caf\xe9.example")
        self.assertEqual(request.environ["HTTP_HOST"], "caf\xe9.example:8080")

    def test_noServerNoContentType(self) -> None:
        """
        Responses carry no C{Server} and no default C{Content-Type}.
        """
        self.send(b"GET /v1/a HTTP/1.1\r\nHost: p\r\n\r\n")
        self.app.calls[0][1].callback(SwiftResponse(204))
        response = self.written().lower()
        self.assertTrue(response.startswith(b"http/1.1 204 "))
        self.assertNotIn(b"server:", response)
        self.assertNotIn(b"content-type:", response)

    def test_continueWhenUploadStarts(self) -> None:
        """
        C{100 Continue} goes out when the pipeline starts reading the body.
        """
        self.send(b"PUT /v1/a/c/o HTTP/1.1\r\nContent-Length: 4\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        self.assertEqual(self.written(), b"")
        request, answer = self.app.calls[0]
        assert request.body is not None
        consumer = Collector()
        done = request.body.startProducing(consumer)
        self.assertEqual(self.written(), b"HTTP/1.1 100 Continue\r\n\r\n")
        self.send(b"data")
        self.successResultOf(done)
        self.assertEqual(consumer.data, b"data")
        answer.callback(SwiftResponse(201))
        self.assertTrue(self.written().startswith(b"HTTP/1.1 201 "))

    def test_slowBackendKeepsUploadPaused(self) -> None:
        """
        An upload paused by a slow backend stays paused when the transport
        lets the channel write again after the C{100 Continue}.
        """
        self.send(b"PUT /v1/a/c/o HTTP/1.1\r\nContent-Length: 8\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        request, _ = self.app.calls[0]
        assert request.body is not None
        backend = Collector(request.body, pause_after=2)
        request.body.startProducing(backend)
        self.send(b"ab")
        self.assertEqual(self.reading(), "paused")
        assert self.transport.producer is not None
        self.transport.producer.pauseProducing()
        self.transport.producer.resumeProducing()
        self.assertEqual(self.reading(), "paused")
        request.body.resumeProducing()  # type: ignore[attr-defined]
        self.assertEqual(self.reading(), "producing")

    def test_nextRequestAfterPausedUpload(self) -> None:
        """
        A body that ends while its backend is paused does not keep the
        connection from reading the next request.
        """
        self.send(b"PUT /v1/a/c/o HTTP/1.1\r\nContent-Length: 4\r\n\r\n")
        request, answer = self.app.calls[0]
        assert request.body is not None
        request.body.startProducing(Collector(request.body, pause_after=1))
        self.send(b"data")
        self.assertEqual(self.reading(), "producing")
        answer.callback(SwiftResponse(201))
        self.send(b"GET /v1/a HTTP/1.1\r\n\r\n")
        self.assertEqual(len(self.app.calls), 2)
        self.assertEqual(self.reading(), "producing")

    def leave_then(self, outcome: Callable[[Deferred[SwiftResponse]], object]) -> None:
        """
        The client leaves while the pipeline handles its request, which
        then comes to C{outcome} at once.
        """
        def before() -> None:
            self.channel.connectionLost(Failure(ConnectionDone()))
            outcome(self.app.calls[-1][1])

        self.app.before = before
        self.send(b"GET /v1/a/c/o HTTP/1.1\r\n\r\n")

    def test_clientGoneBeforeAnswer(self) -> None:
        """
        An answer for a client that left is not written, and its body is
        stopped.
        """
        body = StoredBody(b"data")
        self.leave_then(lambda d: d.callback(SwiftResponse(200, {}, body)))
        self.assertTrue(body.stopped)
        self.assertFalse(body.started)
        self.assertEqual(self.written(), b"")

    def test_clientGoneBeforeFailure(self) -> None:
        """
        A pipeline failure for a client that left writes nothing.
        """
        self.leave_then(lambda d: d.errback(RuntimeError("boom")))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(self.written(), b"")

    def test_failureIs500(self) -> None:
        self.send(b"GET /v1/a/c/o HTTP/1.1\r\n\r\n")
        self.app.calls[0][1].errback(RuntimeError("boom"))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertTrue(self.written().startswith(b"HTTP/1.1 500 "))

    def test_streamedAnswerClientGone(self) -> None:
        """
        A streamed answer whose client leaves mid-body is stopped and the
        request is not finished.
        """
        self.send(b"GET /v1/a/c/o HTTP/1.1\r\n\r\n")
        body = StoredBody(b"data", hold=True)
        self.app.calls[0][1].callback(SwiftResponse(200, {"Content-Length": "4"}, body))
        self.channel.connectionLost(Failure(ConnectionDone()))
        self.assertTrue(body.stopped)


class FrontEndTests(SynchronousTestCase):
    """
    The proxy's site answers what Swift's server answers, before the
    pipeline sees the request, and names no Twisted version.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.app = HeldApp()

    def connect(self, site: ProxySite) -> StringTransport:
        channel = site.buildProtocol(IPv4Address("TCP", "10.1.1.1", 4000))
        transport = StringTransport()
        channel.makeConnection(transport)
        self.channel = channel
        return transport

    def site(self, **kwargs: object) -> ProxySite:
        return ProxySite(ProxyResource(self.app, self.clock, 60.0), reactor=self.clock,
                         timeout=None, **kwargs)  # type: ignore[arg-type]

    def test_longTargetBeforeAuth(self) -> None:
        """
        A 9 KB target without a token is C{414}: the line limit is checked
        before anything (tempauth's C{401}) sees the request.
        """
        transport = self.connect(self.site())
        self.channel.dataReceived(b"GET /v1/AUTH_test/c/" + b"o" * 9000
                                  + b" HTTP/1.1\r\nHost: p\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 414 "))
        self.assertEqual(self.app.calls, [])

    def test_limitsFromConstraints(self) -> None:
        """
        The channels' limits are those of the site's constraints: Swift's
        C{max_request_line}, C{max_header_size}, and 1.6 times its header
        count, less the blank line.
        """
        constraints = Constraints(max_request_line=100, max_header_size=200,
                                  max_meta_count=4)
        site = self.site(constraints=constraints)
        channel = site.buildProtocol(IPv4Address("TCP", "10.1.1.1", 4000))
        assert isinstance(channel, ProxyChannel)
        self.assertEqual((channel.max_request_line, channel.max_header_line,
                          channel.max_header_lines), (100, 200, 63))
        default = self.site().buildProtocol(IPv4Address("TCP", "10.1.1.1", 4000))
        assert isinstance(default, ProxyChannel)
        self.assertEqual((default.max_request_line, default.max_header_line,
                          default.max_header_lines), (8192, 8192, 200))

    def test_optionsStar(self) -> None:
        """
        C{OPTIONS *} goes to the pipeline like any request (Swift answers
        C{404}), not to Twisted's C{200} naming its version.
        """
        transport = self.connect(self.site())
        self.channel.dataReceived(b"OPTIONS * HTTP/1.1\r\nHost: p\r\n\r\n")
        [(request, answer)] = self.app.calls
        self.assertEqual((request.method, request.raw_path), ("OPTIONS", b"*"))
        answer.callback(SwiftResponse(404))
        response = transport.value()
        self.assertTrue(response.startswith(b"HTTP/1.1 404 "))
        self.assertNotIn(b"twisted", response.lower())
        self.assertIn(b"\r\nDate: ", response)

    def test_resourceTree(self) -> None:
        """
        The proxy's leaf root answers every path, the request keeping
        twisted.web's path segments (asked for, they are made); a root
        with children is walked as twisted.web walks it.
        """
        transport = self.connect(self.site())
        self.channel.dataReceived(b"GET /v1/a%20b/c HTTP/1.1\r\nHost: p\r\n\r\n")
        [(request, answer)] = self.app.calls
        [twisted_request] = self.channel.requests
        self.assertEqual((twisted_request.prepath, twisted_request.postpath,
                          twisted_request.sitepath), ([], [b"v1", b"a b", b"c"], []))
        answer.callback(SwiftResponse(204))
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 204 "))

        class Child(Resource):
            isLeaf = True

            def render(self, request: Request) -> bytes:
                return b"%r %r" % (request.prepath, request.postpath)

        root = Resource()
        root.putChild(b"v1", Child())
        transport = self.connect(ProxySite(root, reactor=self.clock, timeout=None))
        self.channel.dataReceived(b"GET /v1/a%20b HTTP/1.1\r\nHost: p\r\n\r\n")
        self.assertTrue(transport.value().endswith(b"[b'v1'] [b'a b']"))

    def test_methodAsSent(self) -> None:
        """
        The method reaches the pipeline as sent: methods are
        case-sensitive.
        """
        self.connect(self.site())
        self.channel.dataReceived(b"delete /v1/a/c/o HTTP/1.1\r\nHost: p\r\n\r\n")
        [(request, _)] = self.app.calls
        self.assertEqual(request.method, "delete")

    def test_absoluteFormPath(self) -> None:
        """
        An absolute-form target reaches the pipeline as its path, so that
        routing and the access log see the path.
        """
        self.connect(self.site())
        self.channel.dataReceived(
            b"GET http://p:8080/v1/a/c/o%20x?format=json HTTP/1.1\r\nHost: p\r\n\r\n")
        [(request, _)] = self.app.calls
        self.assertEqual((request.path, request.params), ("/v1/a/c/o x", {"format": "json"}))

    def test_watchEndsWithBody(self) -> None:
        """
        A body whose client was paused as it ended leaves no
        C{client_timeout} armed: nothing is dropped (nor fails) later.
        """
        transport = self.connect(self.site())
        self.channel.dataReceived(b"GET /v1/a/c/o HTTP/1.1\r\nHost: p\r\n\r\n")
        body = StoredBody(b"data", hold=True)
        self.app.calls[0][1].callback(SwiftResponse(200, {"Content-Length": "4"}, body))
        assert transport.producer is not None
        transport.producer.pauseProducing()
        body.release()
        self.assertTrue(transport.value().endswith(b"\r\n\r\ndata"))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(61)
        self.assertFalse(transport.disconnecting)
        self.assertFalse(body.stopped)

    def test_watchEndsWithFailedBody(self) -> None:
        """
        A body that fails ends its watch too.
        """
        transport = self.connect(self.site())
        self.channel.dataReceived(b"GET /v1/a/c/o HTTP/1.1\r\nHost: p\r\n\r\n")
        body = StoredBody(b"data", hold=True)
        self.app.calls[0][1].callback(SwiftResponse(200, {"Content-Length": "4"}, body))
        assert transport.producer is not None
        transport.producer.pauseProducing()
        body.fail(RuntimeError("backend gone"))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_watchStillDropsStalledClient(self) -> None:
        """
        A client paused for C{client_timeout} while the body is still
        going is dropped, as before.
        """
        transport = self.connect(self.site())
        self.channel.dataReceived(b"GET /v1/a/c/o HTTP/1.1\r\nHost: p\r\n\r\n")
        body = StoredBody(b"data", hold=True)
        self.app.calls[0][1].callback(SwiftResponse(200, {"Content-Length": "4"}, body))
        assert transport.producer is not None
        transport.producer.pauseProducing()
        self.clock.advance(59)
        self.assertFalse(body.stopped)
        self.clock.advance(2)
        self.assertTrue(body.stopped)
        self.assertTrue(transport.disconnecting)


class _Port:
    """
    A listening port that records whether it accepts.
    """

    def __init__(self) -> None:
        self.accepting = True
        self.changes = 0

    def stopReading(self) -> None:
        self.accepting = False
        self.changes += 1

    def startReading(self) -> None:
        self.accepting = True
        self.changes += 1


class HTTPDateTests(SynchronousTestCase):
    """
    L{date_header}: the C{Date} header, formatted once a second.
    """

    def test_asTwisted(self) -> None:
        """
        Each moment, in any order, gives what L{datetimeToString} gives for
        it.
        """
        from twisted.web.http import datetimeToString

        for moment in [1700000000.2, 1700000000.9, 1700000001.0, 1700000000.0, 0.5,
                       1700000000.5]:
            self.assertEqual(date_header(moment), datetimeToString(moment))

    def test_now(self) -> None:
        """
        Without a moment, the time now.
        """
        import time

        from twisted.web.http import datetimeToString

        before = datetimeToString(time.time())
        now = date_header()
        after = datetimeToString(time.time())
        self.assertIn(now, (before, after))


class SecureTests(SynchronousTestCase):
    """
    L{ProxyChannel.isSecure}: asked of the transport once a connection.
    """

    def test_once(self) -> None:
        """
        Twisted's answer, adapted once however many requests ask.
        """
        from twisted.web.http import HTTPChannel

        site = ProxySite(ProxyResource(HeldApp()), reactor=MemoryReactorClock(), timeout=None)
        channel = site.buildProtocol(IPv4Address("TCP", "10.1.1.1", 4000))
        assert isinstance(channel, ProxyChannel)
        channel.makeConnection(StringTransport())
        asked: list[bool] = []
        original = HTTPChannel.isSecure

        def counted(self: HTTPChannel) -> bool:
            asked.append(True)
            return bool(original(self))

        self.patch(HTTPChannel, "isSecure", counted)
        self.assertEqual([channel.isSecure() for _ in range(3)], [False] * 3)
        self.assertEqual(len(asked), 1)


class ConnectionTests(SynchronousTestCase):
    """
    C{max_clients} and C{keep_idle}, as Swift's server has them.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()

    def connect(self, site: ProxySite, transport: Optional[StringTransport] = None
                ) -> ProxyChannel:
        channel = site.buildProtocol(IPv4Address("TCP", "10.1.1.1", 4000))
        assert isinstance(channel, ProxyChannel)
        channel.makeConnection(transport or StringTransport())
        return channel

    def test_maxClients(self) -> None:
        """
        With C{max_clients} connections open the port stops accepting, and
        accepts again when one closes.
        """
        site = ProxySite(ProxyResource(HeldApp(), self.clock), max_clients=2,
                         reactor=self.clock, timeout=None)
        port = _Port()
        site.listening(port)  # type: ignore[arg-type]
        first = self.connect(site)
        self.assertTrue(port.accepting)
        second = self.connect(site)
        self.assertEqual((site.clients, port.accepting), (2, False))
        first.connectionLost(Failure(ConnectionDone()))
        self.assertEqual((site.clients, port.accepting), (1, True))
        second.connectionLost(Failure(ConnectionDone()))
        self.assertEqual((site.clients, port.accepting, port.changes), (0, True, 2))

    def test_maxClientsWhenListening(self) -> None:
        """
        A port the site starts listening on while full does not accept; a
        port it stopped listening on is left alone.
        """
        site = ProxySite(ProxyResource(HeldApp(), self.clock), max_clients=1,
                         reactor=self.clock, timeout=None)
        channel = self.connect(site)
        port = _Port()
        site.listening(port)  # type: ignore[arg-type]
        self.assertFalse(port.accepting)
        site.listening(None)
        channel.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(port.changes, 1)

    def test_keepIdle(self) -> None:
        """
        Client connections have TCP keepalive on, probing after
        C{keep_idle} seconds.
        """
        site = ProxySite(ProxyResource(HeldApp(), self.clock), keep_idle=600,
                         reactor=self.clock, timeout=None)
        transport = TCPTransport()
        self.connect(site, transport)
        self.assertTrue(transport.keepalive)
        if hasattr(socket, "TCP_KEEPIDLE"):
            self.assertEqual(transport.handle.options,
                             {(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE): 600})

    def test_idleTimeoutsCounted(self) -> None:
        """
        Clients closed for idling are counted by the site, not logged.
        """
        site = ProxySite(ProxyResource(HeldApp(), self.clock), reactor=self.clock, timeout=5)
        transport = StringTransport()
        self.connect(site, transport)
        self.clock.advance(6)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(site.idle_timeouts, 1)

    def test_noKeepIdle(self) -> None:
        site = ProxySite(ProxyResource(HeldApp(), self.clock), reactor=self.clock,
                         timeout=None)
        transport = TCPTransport()
        self.connect(site, transport)
        self.assertFalse(transport.keepalive)


class DrainTests(SynchronousTestCase):
    """
    L{ProxySite.drain}: what a worker being replaced does with its
    connections.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.app = HeldApp()
        self.site = ProxySite(ProxyResource(self.app, self.clock), reactor=self.clock,
                              timeout=None)

    def connect(self) -> tuple[ProxyChannel, StringTransport]:
        channel = self.site.buildProtocol(IPv4Address("TCP", "10.1.1.1", 4000))
        assert isinstance(channel, ProxyChannel)
        transport = StringTransport()
        channel.makeConnection(transport)
        return channel, transport

    def send(self, channel: ProxyChannel, data: bytes) -> None:
        channel.dataReceived(data)
        self.clock.advance(0)

    def close(self, channel: ProxyChannel) -> None:
        channel.connectionLost(Failure(ConnectionDone()))

    def answer(self, index: int, response: Optional[SwiftResponse] = None) -> None:
        self.app.calls[index][1].callback(response or SwiftResponse(204))
        self.clock.advance(0)

    def test_nothingOpen(self) -> None:
        self.successResultOf(self.site.drain())
        self.assertTrue(self.site.draining)

    def test_idleConnection(self) -> None:
        """
        An idle connection's next request is answered with C{Connection:
        close}, then the connection is closed; the drain is over once it
        is.
        """
        channel, transport = self.connect()
        drained = self.site.drain()
        self.assertFalse(transport.disconnecting)
        self.send(channel, b"GET /v1/a HTTP/1.1\r\nConnection: keep-alive\r\n\r\n")
        self.answer(0)
        response = transport.value().lower()
        self.assertIn(b"\r\nconnection: close\r\n", response)
        self.assertNotIn(b"keep-alive", response)
        self.assertTrue(transport.disconnecting)
        self.assertNoResult(drained)
        self.close(channel)
        self.successResultOf(drained)

    def test_requestInFlight(self) -> None:
        """
        A request being served when the drain starts is answered with
        C{Connection: close}, then its connection closed.
        """
        channel, transport = self.connect()
        self.send(channel, b"GET /v1/a HTTP/1.1\r\n\r\n")
        drained = self.site.drain()
        self.assertFalse(transport.disconnecting)
        self.answer(0)
        self.assertIn(b"\r\nconnection: close\r\n", transport.value().lower())
        self.assertTrue(transport.disconnecting)
        self.close(channel)
        self.successResultOf(drained)

    def test_responseStarted(self) -> None:
        """
        A response whose headers were written without C{Connection: close}
        does not end its connection: the next request's response does.
        """
        channel, transport = self.connect()
        self.send(channel, b"GET /v1/a/c/o HTTP/1.1\r\n\r\n")
        body = PushedBody()
        self.answer(0, SwiftResponse(200, body=body))
        body.send(b"ab")
        drained = self.site.drain()
        body.end()
        self.clock.advance(0)
        self.assertNotIn(b"connection: close", transport.value().lower())
        self.assertFalse(transport.disconnecting)
        transport.clear()
        self.send(channel, b"GET /v1/a HTTP/1.1\r\n\r\n")
        self.answer(1)
        self.assertIn(b"\r\nconnection: close\r\n", transport.value().lower())
        self.assertTrue(transport.disconnecting)
        self.close(channel)
        self.successResultOf(drained)

    def test_connectedWhileDraining(self) -> None:
        """
        A connection accepted once draining (the port stopped accepting
        after it) is closed after its first response.
        """
        first, _ = self.connect()
        drained = self.site.drain()
        channel, transport = self.connect()
        self.send(channel, b"GET /v1/a HTTP/1.1\r\n\r\n")
        self.answer(0)
        self.assertTrue(transport.disconnecting)
        self.close(channel)
        self.assertNoResult(drained)
        self.close(first)
        self.successResultOf(drained)


#: A transaction id as Swift mints them: 21 hex digits, then the time.
_TRANS_ID = re.compile(r"^tx[0-9a-f]{21}-[0-9a-f]{10}")


class FrontEndTransIdTests(SynchronousTestCase):
    """
    What the front end answers itself, before (or instead of) the
    pipeline, carries a transaction id as every response of Swift's does:
    C{X-Trans-Id} and C{X-Openstack-Request-Id}, minted with the site's
    clock and C{trans_id_suffix}.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.clock.advance(0x65000000)
        self.app = HeldApp()

    def answer(self, data: bytes, suffix: str = "", **kwargs: object) -> bytes:
        """
        Feed C{data} to a new connection of a site with C{suffix} as its
        C{trans_id_suffix}; what it wrote.
        """
        site = ProxySite(ProxyResource(self.app, self.clock), reactor=self.clock,
                         timeout=None, trans_id_suffix=suffix,
                         **kwargs)  # type: ignore[arg-type]
        channel = site.buildProtocol(IPv4Address("TCP", "10.1.1.1", 4000))
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(data)
        self.clock.advance(0)
        return transport.value()

    def trans_id(self, response: bytes) -> str:
        """
        The response's transaction id, checked to be the same in both
        headers, well formed, and minted at the clock's time.
        """
        head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in head[1:])
        trans_id = headers["X-Trans-Id"]
        self.assertEqual(headers["X-Openstack-Request-Id"], trans_id)
        self.assertRegex(trans_id, _TRANS_ID)
        self.assertEqual(trans_id[24:34], "0065000000")
        return trans_id

    def test_refusals(self) -> None:
        """
        Each answer of the channel's own carries a fresh id: a request
        line that is none, a line too long, too many header lines, a
        header that is none, HTTP/2, a list of transfer codings, smuggled
        framing and a bad chunk size.
        """
        limits = Constraints(max_request_line=100, max_header_size=200, max_meta_count=4)
        cases = [
            (b"GET\xc3\xa9 /o HTTP/1.1\r\n\r\n", b"400 Bad Request"),
            (b"GET /" + b"o" * 200 + b" HTTP/1.1\r\n\r\n", b"414 Request URI Too Long"),
            (b"GET / HTTP/1.1\r\nX-A: " + b"a" * 300 + b"\r\n\r\n",
             b"400 Header Line Too Long"),
            (b"GET / HTTP/1.1\r\n" + b"X-A: a\r\n" * 70 + b"\r\n",
             b"431 Request Header Fields Too Large"),
            (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", b"400 Bad Request"),
            (b"GET / HTTP/2.0\r\n\r\n", b"505 HTTP Version Not Supported"),
            (b"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
             b"501 Not Implemented"),
            (b"PUT / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
             b"400 Bad Request"),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
             b"400 Bad Request"),
        ]
        seen = set()
        for data, status in cases:
            response = self.answer(data, constraints=limits)
            self.assertTrue(response.startswith(b"HTTP/1.1 " + status + b"\r\n"), response)
            self.assertIn(b"\r\nConnection: close\r\n", response)
            seen.add(self.trans_id(response))
        self.assertEqual(len(seen), len(cases))
        self.assertEqual(self.app.calls, [])

    def test_suffix(self) -> None:
        """
        The ids of refusals end with C{trans_id_suffix}, quoted as the
        pipeline quotes it.
        """
        response = self.answer(b"GET / HTTP/2.0\r\n\r\n", suffix="-proxy 1")
        self.assertTrue(self.trans_id(response).endswith("-proxy%201"))

    def test_pipelineFailure(self) -> None:
        """
        The front end's C{500} for a pipeline that failed carries the id
        the pipeline gave the request, or else a new one.
        """
        site = ProxySite(ProxyResource(self.app, self.clock), reactor=self.clock,
                         timeout=None, trans_id_suffix="-s")
        for given in ("txgiven", None):
            channel = site.buildProtocol(IPv4Address("TCP", "10.1.1.1", 4000))
            transport = StringTransport()
            channel.makeConnection(transport)
            channel.dataReceived(b"GET /v1/a HTTP/1.1\r\nX-Trans-Id-Extra: xtra\r\n\r\n")
            request, answer = self.app.calls.pop()
            if given is not None:
                request.environ["swift.trans_id"] = given
            answer.errback(RuntimeError("boom"))
            self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
            response = transport.value()
            self.assertTrue(response.startswith(b"HTTP/1.1 500 "))
            if given is not None:
                self.assertIn(b"\r\nX-Trans-Id: txgiven\r\n", response)
                self.assertIn(b"\r\nX-Openstack-Request-Id: txgiven\r\n", response)
            else:
                self.assertTrue(self.trans_id(response).endswith("-s-xtra"))

    def test_renderFailure(self) -> None:
        """
        A request that cannot even be made into a Swift request is
        Twisted's C{500}, with an id and the client's
        C{X-Trans-Id-Extra}.
        """

        class Broken(ProxyResource):
            def render(self, request: object) -> object:
                raise RuntimeError("broken")

        site = ProxySite(Broken(self.app, self.clock), reactor=self.clock, timeout=None)
        channel = site.buildProtocol(IPv4Address("TCP", "10.1.1.1", 4000))
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(b"GET /v1/a HTTP/1.1\r\nX-Trans-Id-Extra: e\r\n\r\n")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        response = transport.value()
        self.assertTrue(response.startswith(b"HTTP/1.1 500 "))
        self.assertTrue(self.trans_id(response).endswith("-e"))
