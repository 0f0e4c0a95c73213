"""
Tests for L{twisted_proxy._twisted}: the channel and request that stream
request bodies, the read gate they share, and the log filter, each driven
over L{StringTransport} or L{twisted.test.iosim} (no sockets, no reactor).
"""

from __future__ import annotations

import io
from typing import Any, Optional, cast

from twisted.internet import tcp
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IPushProducer, IStreamClientEndpoint
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import ILogObserver, LogLevel, LogPublisher
from twisted.python.failure import Failure
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase
from twisted.web import server
from twisted.web._newclient import ChunkedEncoder, LengthEnforcingConsumer
from twisted.web.client import FileBodyProducer
from twisted.web.iweb import IBodyProducer
from twisted.web.resource import Resource
from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted_proxy._twisted import (
    IDLE_TIMEOUT_FORMAT,
    QUIET_NAMESPACES,
    TEXT_KEY,
    IStreamingBody,
    NodeAgent,
    NodeConnectionPool,
    QuietTwistedClient,
    QuietTwistedLogging,
    ReadGate,
    StreamingChannel,
    StreamingRequest,
    _NodeResponseParser,
    fill_headers,
    is_disconnected,
    quiet_observer,
    read_around,
    replace_observers,
    unread_body,
    upload_sink,
)

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@implementer(IStreamingBody)
class RecordingBody:
    """
    A streaming body that keeps what it is given, reading through
    C{reading} (a holder of the channel's read gate).
    """

    def __init__(self, reading: IPushProducer, length: Optional[int]) -> None:
        self.reading = reading
        self.length = length
        self.started: Deferred[None] = Deferred()
        self.complete = False
        self.chunks: list[bytes] = []
        self.lost: Optional[Failure] = None

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)

    def body_complete(self) -> None:
        self.complete = True

    def connectionLost(self, reason: Failure) -> None:
        self.lost = reason

    def read(self) -> None:
        """
        Something starts reading the body.
        """
        self.started.callback(None)


class RecordingRequest(StreamingRequest):
    """
    A request that streams PUT bodies into a L{RecordingBody}.
    """

    def body_receiver(self, method: bytes, length: Optional[int],
                     reading: IPushProducer) -> Optional[RecordingBody]:
        if method != b"PUT":
            return None
        return RecordingBody(reading, length)


class HeldResource(Resource):
    """
    Keeps every request it is given unanswered, for the test to answer.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[server.Request] = []

    def render(self, request: server.Request) -> Any:
        self.requests.append(request)
        return server.NOT_DONE_YET


def answer(request: server.Request, code: int = 201, body: bytes = b"") -> None:
    request.setResponseCode(code)
    request.setHeader(b"Content-Length", b"%d" % len(body))
    if body:
        request.write(body)
    request.finish()


def put(length: int, *headers: bytes, version: bytes = b"HTTP/1.1") -> bytes:
    lines = [b"PUT /v1/a/c/o " + version, b"Host: proxy",
             b"Content-Length: %d" % length, *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


class _ChannelTestCase(SynchronousTestCase):
    """
    A L{StreamingChannel} of a site whose resource holds each request,
    connected to a L{StringTransport}.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.resource = HeldResource()
        self.site = server.Site(self.resource, reactor=self.clock, timeout=None)
        self.site.requestFactory = RecordingRequest
        self.site.protocol = StreamingChannel  # type: ignore[assignment]
        self.channel = self.connect()

    def connect(self) -> StreamingChannel:
        channel = self.site.buildProtocol(IPv4Address("TCP", "10.0.0.1", 50000))
        assert isinstance(channel, StreamingChannel)
        self.transport = StringTransport()
        channel.makeConnection(self.transport)
        return channel

    def send(self, data: bytes) -> None:
        self.channel.dataReceived(data)
        self.clock.advance(0)

    def body(self, index: int = -1) -> RecordingBody:
        body = self.resource.requests[index].streamingBody  # type: ignore[attr-defined]
        assert isinstance(body, RecordingBody)
        return body

    def written(self) -> bytes:
        data = self.transport.value()
        self.transport.clear()
        return data


class ReadGateTests(SynchronousTestCase):
    """
    Tests for L{ReadGate}.
    """

    def setUp(self) -> None:
        self.transport = StringTransport()
        self.gate = ReadGate(self.transport)

    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(IPushProducer, self.gate))
        self.assertTrue(verifyObject(IPushProducer, self.gate.holder()))

    def test_pausedWhileAnyoneHolds(self) -> None:
        """
        The transport is paused while the channel or any holder wants it
        paused, and resumes when the last lets go.
        """
        body = self.gate.holder()
        body.pauseProducing()
        self.assertEqual(self.transport.producerState, "paused")
        self.gate.pauseProducing()
        body.resumeProducing()
        self.assertEqual(self.transport.producerState, "paused")
        self.assertTrue(self.gate.paused)
        self.gate.resumeProducing()
        self.assertEqual(self.transport.producerState, "producing")
        self.assertFalse(self.gate.paused)

    def test_resumeWithoutPause(self) -> None:
        """
        Resuming what one did not pause resumes nothing: L{HTTPChannel}
        resumes after every request whether it paused or not.
        """
        body = self.gate.holder()
        body.pauseProducing()
        self.gate.resumeProducing()
        self.gate.holder().resumeProducing()
        self.assertEqual(self.transport.producerState, "paused")

    def test_pauseTwice(self) -> None:
        """
        A holder pausing twice is released by one resume.
        """
        body = self.gate.holder()
        body.pauseProducing()
        body.pauseProducing()
        body.resumeProducing()
        self.assertEqual(self.transport.producerState, "producing")

    def test_holderStops(self) -> None:
        """
        A holder that stops producing lets go of the transport, which is
        not stopped: the connection is the channel's.
        """
        body = self.gate.holder()
        body.pauseProducing()
        body.stopProducing()
        self.assertEqual(self.transport.producerState, "producing")

    def test_stopAndUnregister(self) -> None:
        """
        The channel's C{stopProducing} and C{unregisterProducer} reach the
        transport.
        """
        self.transport.registerProducer(object(), True)
        self.gate.unregisterProducer()
        self.assertIsNone(self.transport.producer)
        self.gate.stopProducing()
        self.assertEqual(self.transport.producerState, "stopped")


class RequestLineTests(_ChannelTestCase):
    """
    Request lines and headers Twisted's parser refuses and Swift accepts.
    """

    def test_rawUTF8Target(self) -> None:
        """
        Raw UTF-8 bytes in the request target are percent-encoded.
        """
        self.send(b"GET /v1/a/c/caf\xc3\xa9 x?q=\xe2\x82\xac HTTP/1.1\r\nHost: p\r\n\r\n")
        [request] = self.resource.requests
        self.assertEqual(request.uri, b"/v1/a/c/caf%C3%A9%20x?q=%E2%82%AC")
        self.assertEqual(request.path, b"/v1/a/c/caf%C3%A9%20x")

    def test_printableTargetUnchanged(self) -> None:
        """
        A target of printable ASCII is left as sent, percent signs and all.
        """
        self.send(b"GET /v1/a/c/%E2%82%AC;x=1 HTTP/1.1\r\nHost: p\r\n\r\n")
        self.assertEqual(self.resource.requests[0].uri, b"/v1/a/c/%E2%82%AC;x=1")

    def test_headerValueUntouched(self) -> None:
        """
        Only the request line is rewritten: a header whose value ends like a
        request line keeps its raw bytes.
        """
        self.send(b"GET /o HTTP/1.1\r\nX-Note: caf\xc3\xa9 HTTP/1.1\r\n\r\n")
        request = self.resource.requests[0]
        self.assertEqual(request.requestHeaders.getRawHeaders(b"x-note"),
                         [b"caf\xc3\xa9 HTTP/1.1"])

    def test_badRequestLine(self) -> None:
        """
        What is no request line even once quoted is still a 400.
        """
        self.send(b"GET\xc3\xa9 /o HTTP/1.1\r\n\r\n")
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 400 "))
        self.assertEqual(self.resource.requests, [])

    def test_parserRefusalsAreRefusals(self) -> None:
        """
        What Twisted's parser refuses itself (here a header line without a
        colon) is answered as the channel's own refusals are: an empty
        C{400} that closes the connection, with the headers of
        C{refusal_headers}.
        """

        class Noted(StreamingChannel):
            def refusal_headers(self) -> list[tuple[bytes, bytes]]:
                return [(b"X-Note", b"refused")]

        self.site.protocol = Noted  # type: ignore[assignment]
        self.channel = self.connect()
        self.send(b"GET /o HTTP/1.1\r\nno colon\r\n\r\n")
        self.assertEqual(self.transport.value(),
                         b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\nX-Note: refused\r\n\r\n")
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.resource.requests, [])

    def test_transferCodingList(self) -> None:
        """
        A list of transfer codings is answered C{501} and the connection
        closes, without the request reaching the resource.
        """
        self.send(b"PUT /v1/a/c/o HTTP/1.1\r\nHost: p\r\n"
                  b"Transfer-Encoding: gzip, chunked\r\n\r\n")
        self.assertEqual(
            self.transport.value(),
            b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n"
            b"Connection: close\r\n\r\n")
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.resource.requests, [])

    def test_singleTransferCoding(self) -> None:
        """
        One unknown transfer coding is left to Twisted (C{400}).
        """
        self.send(b"PUT /v1/a/c/o HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: gzip\r\n\r\n")
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 400 "))

    def test_requestLine(self) -> None:
        """
        L{StreamingChannel.request_line} is the line of the request being
        received, and C{None} between requests.
        """
        self.assertIsNone(self.channel.request_line())
        self.channel.dataReceived(b"PUT /o?x=1 HTTP/1.1\r\n")
        self.assertEqual(self.channel.request_line(), (b"PUT", b"/o?x=1", b"HTTP/1.1"))
        self.channel.dataReceived(b"Content-Length: 1\r\n\r\nx")
        self.assertIsNone(self.channel.request_line())


class PlainRequestLineTests(_ChannelTestCase):
    """
    The request lines taken as they are in one match are the ones the
    full rewrite leaves as they are.
    """

    def test_plainLines(self) -> None:
        """
        An origin-form target of printable ASCII with HTTP/1.0 or 1.1 is
        taken as it is; others are rewritten as before.
        """
        for line, taken in [
            (b"GET /v1/a/c/o HTTP/1.1", b"GET /v1/a/c/o HTTP/1.1"),
            (b"HEAD /v1/a/c?format=json&limit=100 HTTP/1.0", None),
            (b"PUT / HTTP/1.1", None),
            (b"GET http://host/v1/a HTTP/1.1", b"GET /v1/a HTTP/1.1"),
            (b"GET /caf\xc3\xa9 HTTP/1.1", b"GET /caf%C3%A9 HTTP/1.1"),
            (b"GET /a HTTP/1.7", b"GET /a HTTP/1.1"),
            (b"GET  /a HTTP/1.1", b"GET %20/a HTTP/1.1"),
            (b"G@T /a HTTP/1.1", None),
        ]:
            self.assertEqual(self.channel._request_line(line), taken or line, line)

class FrontEndTests(_ChannelTestCase):
    """
    What clients send that Swift's server answers and Twisted's parser
    drops, closes on or answers otherwise.
    """

    def assertRefused(self, status: bytes) -> None:
        """
        C{status} was answered with an empty body, the connection closes,
        and no request reached the resource.
        """
        self.assertEqual(
            self.transport.value(),
            b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.resource.requests, [])

    def test_longTarget(self) -> None:
        """
        A request line of C{max_request_line} bytes or more, its CRLF
        included, is answered C{414}; one byte less is served.
        """
        line = b"GET /" + b"a" * (8192 - len(b"GET / HTTP/1.1\r\n")) + b" HTTP/1.1\r\n"
        self.assertEqual(len(line), 8192)
        self.send(line + b"\r\n")
        self.assertRefused(b"414 Request URI Too Long")
        self.channel = self.connect()
        self.send(line[:6] + line[7:] + b"\r\n")
        self.assertEqual(len(self.resource.requests), 1)

    def test_hugeTargetRefusedAsItArrives(self) -> None:
        """
        A 100 KB target is refused as soon as the limit is passed, not
        buffered whole (Twisted closed the connection without a word).
        """
        self.send(b"GET /" + b"a" * 9000)
        self.assertRefused(b"414 Request URI Too Long")

    def test_longHeaderLine(self) -> None:
        """
        A header line of C{max_header_line} bytes or more (here a C{Range}
        of 10,000 ranges) is C{400 Header Line Too Long}, before the
        request is made.
        """
        ranges = b",".join(b"%d-%d" % (i, i) for i in range(10000))
        self.send(b"GET /o HTTP/1.1\r\nRange: bytes=" + ranges + b"\r\n\r\n")
        self.assertRefused(b"400 Header Line Too Long")

    def test_megabyteHeader(self) -> None:
        self.send(b"GET /o HTTP/1.1\r\nX-Big: " + b"a" * (1024 * 1024) + b"\r\n\r\n")
        self.assertRefused(b"400 Header Line Too Long")

    def test_headerLineJustUnderLimit(self) -> None:
        """
        A header line of C{max_header_line} - 1 bytes is served.
        """
        value = b"a" * (8191 - len(b"X-Big: \r\n"))
        self.send(b"GET /o HTTP/1.1\r\nX-Big: " + value + b"\r\n\r\n")
        [request] = self.resource.requests
        self.assertEqual(request.getHeader(b"x-big"), value)

    def test_headersOver16KiB(self) -> None:
        """
        Headers totalling over 16 KiB, each line under the limit, are
        served (Twisted answered C{400}); over 64 KiB they are C{400
        Headers Too Large}.
        """
        headers = b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 4000) for i in range(5))
        self.send(b"GET /o HTTP/1.1\r\n" + headers + b"\r\n")
        self.assertEqual(len(self.resource.requests), 1)
        self.channel = self.connect()
        self.resource.requests.clear()
        headers = b"".join(b"X-H%02d: %s\r\n" % (i, b"a" * 4000) for i in range(17))
        self.send(b"GET /o HTTP/1.1\r\n" + headers + b"\r\n")
        self.assertRefused(b"400 Headers Too Large")

    def test_tooManyHeaders(self) -> None:
        """
        More than C{max_header_lines} header lines are answered C{431};
        that many are served.
        """
        headers = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
        self.send(b"GET /o HTTP/1.1\r\n" + headers + b"\r\n")
        self.assertEqual(len(self.resource.requests), 1)
        self.channel = self.connect()
        self.resource.requests.clear()
        headers = b"".join(b"X-H%d: v\r\n" % i for i in range(1000))
        self.send(b"GET /o HTTP/1.1\r\n" + headers + b"\r\n")
        self.assertRefused(b"431 Request Header Fields Too Large")

    def test_limitsPerRequest(self) -> None:
        """
        The header limits count one request's headers: requests kept alive
        on one connection do not add up.
        """
        headers = b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 300) for i in range(150))
        for index in range(3):
            self.send(b"GET /o HTTP/1.1\r\n" + headers + b"\r\n")
            answer(self.resource.requests[index], 204)
        self.assertEqual(len(self.resource.requests), 3)

    def test_limitsSettable(self) -> None:
        """
        The limits are the channel's attributes, read when it connects.
        """
        self.site.protocol = _LimitedChannel  # type: ignore[assignment]
        self.channel = self.connect()
        self.send(b"GET /" + b"a" * 100 + b" HTTP/1.1\r\n\r\n")
        self.assertRefused(b"414 Request URI Too Long")

    def test_http2RequestLine(self) -> None:
        self.send(b"GET /o HTTP/2.0\r\nHost: p\r\n\r\n")
        self.assertRefused(b"505 HTTP Version Not Supported")

    def test_laterMinorVersion(self) -> None:
        """
        C{HTTP/1.2} is served as C{HTTP/1.1} (RFC 9110 section 2.5).
        """
        self.send(b"GET /o HTTP/1.2\r\nHost: p\r\n\r\n")
        [request] = self.resource.requests
        self.assertEqual(request.clientproto, b"HTTP/1.1")

    def test_absoluteForm(self) -> None:
        """
        An absolute-form target is served as its path and query.
        """
        self.send(b"GET http://proxy:8080/v1/a/c/o?x=1 HTTP/1.1\r\nHost: proxy\r\n\r\n")
        answer(self.resource.requests[0], 204)
        self.send(b"GET HTTPS://proxy?x=1 HTTP/1.1\r\nHost: proxy\r\n\r\n")
        first, second = self.resource.requests
        self.assertEqual((first.uri, first.path), (b"/v1/a/c/o?x=1", b"/v1/a/c/o"))
        self.assertEqual(second.uri, b"/?x=1")

    def test_absoluteFormWithoutPath(self) -> None:
        """
        C{http://host} alone is left as the target, as Swift does.
        """
        self.send(b"GET http://proxy HTTP/1.1\r\nHost: proxy\r\n\r\n")
        self.assertEqual(self.resource.requests[0].uri, b"http://proxy")

    def test_bareLineFeeds(self) -> None:
        """
        Lines ended by a bare LF are read as lines, CRLF and LF mixed.
        """
        self.send(b"GET /o HTTP/1.1\nHost: p\r\nX-A: b\n\n")
        [request] = self.resource.requests
        self.assertEqual(request.getHeader(b"host"), b"p")
        self.assertEqual(request.getHeader(b"x-a"), b"b")

    def test_bareLineFeedPut(self) -> None:
        """
        A body after bare-LF headers is the body, byte for byte.
        """
        self.send(b"PUT /v1/a/c/o HTTP/1.1\nContent-Length: 4\n\nab\r\n")
        self.assertEqual(b"".join(self.body().chunks), b"ab\r\n")

    def test_carriageReturnInValue(self) -> None:
        """
        Only one CR before the LF ends a line: another one is in the value,
        which Twisted refuses.
        """
        self.send(b"GET /o HTTP/1.1\r\nX-A: b\r\r\n\r\n")
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 400 "))
        self.assertEqual(self.resource.requests, [])

    def test_smugglingStillRefused(self) -> None:
        """
        Content-Length with chunked (either order), two Content-Lengths
        and a bad chunk size are still C{400}, with bare LFs too.
        """
        for head in (
            b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
            b"Transfer-Encoding: chunked\nContent-Length: 3\n",
            b"Content-Length: 3\r\nContent-Length: 3\r\n",
            b"Content-Length: 3\nContent-Length: 4\n",
        ):
            self.channel = self.connect()
            self.send(b"PUT /v1/a/c/o HTTP/1.1\r\n" + head + b"\r\nabc")
            self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 400 "), head)
        self.channel = self.connect()
        self.send(b"POST /o HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n")
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 400 "))


class _LimitedChannel(StreamingChannel):
    max_request_line = 100


class _CountingChannel(StreamingChannel):
    idled = 0

    def idle_timed_out(self) -> None:
        self.idled += 1


class StreamingBodyTests(_ChannelTestCase):
    """
    A PUT body reaches its L{IStreamingBody} as it arrives.
    """

    def test_processedBeforeBody(self) -> None:
        """
        The request is processed once its headers are in, with its method,
        target and version, and its body follows chunk by chunk.
        """
        self.send(put(10) + b"abc")
        [request] = self.resource.requests
        self.assertEqual((request.method, request.uri, request.path, request.clientproto),
                         (b"PUT", b"/v1/a/c/o", b"/v1/a/c/o", b"HTTP/1.1"))
        body = self.body()
        self.assertEqual((body.length, body.chunks, body.complete), (10, [b"abc"], False))
        self.send(b"defghij")
        self.assertEqual(b"".join(body.chunks), b"abcdefghij")
        self.assertTrue(body.complete)
        answer(request)
        self.assertTrue(self.written().startswith(b"HTTP/1.1 201 Created\r\n"))
        self.assertFalse(self.transport.disconnecting)

    def test_queryString(self) -> None:
        """
        The path is the target without its query; no arguments are parsed.
        """
        self.send(b"PUT /v1/a/c/o?multipart-manifest=put HTTP/1.1\r\n"
                  b"Content-Length: 1\r\n\r\n")
        request = self.resource.requests[0]
        self.assertEqual(request.path, b"/v1/a/c/o")
        self.assertEqual(request.uri, b"/v1/a/c/o?multipart-manifest=put")
        self.assertEqual(request.args, {})

    def test_chunked(self) -> None:
        """
        A chunked body streams too, with no length.
        """
        self.send(b"PUT /o HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        body = self.body()
        self.assertIsNone(body.length)
        self.assertEqual(body.chunks, [b"abc"])
        self.send(b"0\r\n\r\n")
        self.assertTrue(body.complete)

    def test_collectedBodies(self) -> None:
        """
        A body the request does not take, and an empty body, are collected
        by twisted.web before processing, as usual.
        """
        self.send(b"POST /o HTTP/1.1\r\nContent-Length: 3\r\n\r\nab")
        self.assertEqual(self.resource.requests, [])
        self.send(b"c")
        [request] = self.resource.requests
        self.assertIsNone(request.streamingBody)  # type: ignore[attr-defined]
        assert request.content is not None
        self.assertEqual(request.content.read(), b"abc")
        answer(request)
        self.send(put(0))
        self.assertIsNone(self.resource.requests[1].streamingBody)  # type: ignore[attr-defined]

    def test_continueWhenRead(self) -> None:
        """
        C{100 Continue} is sent only once something reads the body.
        """
        self.send(put(5, b"Expect: 100-continue"))
        self.assertEqual(len(self.resource.requests), 1)
        self.assertEqual(self.written(), b"")
        self.body().read()
        self.assertEqual(self.written(), CONTINUE)
        self.send(b"hello")
        answer(self.resource.requests[0])
        self.assertTrue(self.written().startswith(b"HTTP/1.1 201 "))

    def test_noContinueForHTTP10(self) -> None:
        """
        An HTTP/1.0 client is never sent C{100 Continue}.
        """
        self.send(put(5, b"Expect: 100-continue", version=b"HTTP/1.0"))
        self.body().read()
        self.assertEqual(self.written(), b"")

    def test_noContinueOnceAnswering(self) -> None:
        """
        A body read after the response started gets no C{100 Continue}.
        """
        self.send(put(5, b"Expect: 100-continue"))
        request = self.resource.requests[0]
        request.setResponseCode(200)
        request.write(b"")
        self.written()
        self.body().read()
        self.assertEqual(self.written(), b"")

    def test_collectedBodyContinuesAtOnce(self) -> None:
        """
        A collected body is invited at once, as Twisted does.
        """
        self.send(b"POST /o HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        self.assertEqual(self.written(), CONTINUE)

    def test_earlyAnswerCloses(self) -> None:
        """
        A request answered before its body is in never invites the body,
        tells the client the connection closes, and closes it; the rest of
        the body, arriving before the close, is not taken for a request.
        """
        self.send(put(10, b"Expect: 100-continue") + b"abc")
        answer(self.resource.requests[0], 413, b"too big")
        response = self.written()
        self.assertNotIn(b"100 Continue", response)
        self.assertTrue(response.startswith(b"HTTP/1.1 413 "))
        self.assertIn(b"\r\nConnection: close\r\n", response)
        self.assertTrue(self.transport.disconnecting)
        self.send(b"defghij" + b"GET / HTTP/1.1\r\n\r\n")
        self.assertEqual(len(self.resource.requests), 1)
        self.assertEqual(self.written(), b"")

    def test_answerAfterBodyKeepsConnection(self) -> None:
        """
        A request answered once its whole body is in leaves the connection
        open.
        """
        self.send(put(3) + b"abc")
        answer(self.resource.requests[0])
        self.assertNotIn(b"Connection: close", self.written())
        self.assertFalse(self.transport.disconnecting)

    def test_pipelinedAfterStreamedPut(self) -> None:
        """
        A request sent right behind a streamed PUT's body is processed once
        the PUT is answered, and answered after it.
        """
        self.send(put(5) + b"hello" + b"GET /next HTTP/1.1\r\nHost: p\r\n\r\n")
        self.assertEqual(len(self.resource.requests), 1)
        self.assertEqual(self.body().chunks, [b"hello"])
        self.assertTrue(self.body().complete)
        answer(self.resource.requests[0], 201)
        self.assertEqual(len(self.resource.requests), 2)
        following = self.resource.requests[1]
        self.assertEqual((following.method, following.uri), (b"GET", b"/next"))
        answer(following, 200, b"next")
        responses = self.written()
        self.assertLess(responses.index(b"201 Created"), responses.index(b"200 OK"))
        self.assertTrue(responses.endswith(b"\r\n\r\nnext"))

    def test_clientLeavesMidBody(self) -> None:
        """
        A client leaving mid-body fails the body and the request's
        C{notifyFinish}, and the request is disconnected.
        """
        self.send(put(10) + b"abc")
        request = self.resource.requests[0]
        finished = request.notifyFinish()
        self.assertFalse(is_disconnected(request))
        self.channel.connectionLost(Failure(ConnectionDone()))
        self.assertIsInstance(self.body().lost, Failure)
        self.failureResultOf(finished, ConnectionDone)
        self.assertTrue(is_disconnected(request))

    def test_clientLeavesBeforeProcessing(self) -> None:
        """
        A request whose client left before processing started is never
        processed.
        """
        self.channel.dataReceived(put(10) + b"abc")
        self.channel.connectionLost(Failure(ConnectionDone()))
        self.clock.advance(0)
        self.assertEqual(self.resource.requests, [])

    def test_continueNotAfterLeaving(self) -> None:
        """
        A body read after its client left sends nothing.
        """
        self.send(put(10, b"Expect: 100-continue"))
        self.channel.connectionLost(Failure(ConnectionDone()))
        self.body().read()
        self.assertEqual(self.written(), b"")


class PauseTests(_ChannelTestCase):
    """
    The channel and a streaming body share the client's reading through
    one L{ReadGate}: neither resumes what the other paused.
    """

    def transport_state(self) -> str:
        return str(self.transport.producerState)

    def test_uploadPausedThroughChannelResume(self) -> None:
        """
        An upload paused by its slow consumer stays paused when the
        transport tells the channel it may write again (as after the
        C{100 Continue} or a response went out).
        """
        self.send(put(100, b"Expect: 100-continue"))
        body = self.body()
        body.read()
        body.reading.pauseProducing()
        self.assertEqual(self.transport_state(), "paused")
        assert self.transport.producer is not None
        self.transport.producer.pauseProducing()
        self.transport.producer.resumeProducing()
        self.assertEqual(self.transport_state(), "paused")
        body.reading.resumeProducing()
        self.assertEqual(self.transport_state(), "producing")

    def test_channelPauseThroughUploadResume(self) -> None:
        """
        While the channel holds reading paused (its writes are backed up),
        an upload whose consumer drains does not resume it.
        """
        self.send(put(100))
        body = self.body()
        body.reading.pauseProducing()
        assert self.transport.producer is not None
        self.transport.producer.pauseProducing()
        body.reading.resumeProducing()
        self.assertEqual(self.transport_state(), "paused")
        self.transport.producer.resumeProducing()
        self.assertEqual(self.transport_state(), "producing")

    def test_requestDoneKeepsUploadPaused(self) -> None:
        """
        The channel resuming its reads after a response does not resume an
        upload's pause: here a pipelined PUT's body is held by its consumer
        while the request before it is answered.
        """
        self.send(b"GET /first HTTP/1.1\r\n\r\n")
        first = self.resource.requests[0]
        gate = self.channel.readGate
        assert gate is not None
        held = gate.holder()
        held.pauseProducing()
        answer(first, 200)
        self.assertEqual(self.transport_state(), "paused")
        held.resumeProducing()
        self.assertEqual(self.transport_state(), "producing")

    def test_gateInstalled(self) -> None:
        """
        The channel reads through its L{ReadGate}: the channel's own pause
        while it answers a request is the gate's.
        """
        gate = self.channel.readGate
        assert gate is not None
        self.send(b"GET / HTTP/1.1\r\n\r\n" + b"x" * 20000)
        self.assertTrue(gate.paused)
        self.assertEqual(self.transport_state(), "paused")
        answer(self.resource.requests[0], 200)
        self.assertFalse(gate.paused)


class _Client(Protocol):
    """
    An HTTP client that only sends what it is told and keeps what it gets.
    """

    def __init__(self) -> None:
        self.received = b""

    def dataReceived(self, data: bytes) -> None:
        self.received += data


class OverIOSimTests(SynchronousTestCase):
    """
    The streaming channel between two in-memory connected protocols.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.resource = HeldResource()
        site = server.Site(self.resource, reactor=self.clock, timeout=None)
        site.requestFactory = RecordingRequest
        site.protocol = StreamingChannel  # type: ignore[assignment]
        self.server = site.buildProtocol(IPv4Address("TCP", "10.0.0.1", 1))
        self.client = _Client()
        self.serverTransport = iosim.makeFakeServer(self.server)
        self.clientTransport = iosim.makeFakeClient(self.client)
        self.pump = iosim.connect(self.server, self.serverTransport, self.client,
                                  self.clientTransport, clock=self.clock)

    def test_streamedPutThenPipelined(self) -> None:
        """
        A client sends a PUT (waiting for C{100 Continue}), its body and a
        second request; each is answered in turn.
        """
        self.clientTransport.write(put(4, b"Expect: 100-continue"))
        self.pump.flush()
        self.assertEqual(self.client.received, b"")
        body = self.resource.requests[0].streamingBody  # type: ignore[attr-defined]
        body.read()
        self.pump.flush()
        self.assertEqual(self.client.received, CONTINUE)
        self.clientTransport.write(b"data" + b"HEAD /o HTTP/1.1\r\n\r\n")
        self.pump.flush()
        self.assertEqual(body.chunks, [b"data"])
        answer(self.resource.requests[0])
        self.pump.flush()
        answer(self.resource.requests[1], 204)
        self.pump.flush()
        self.assertEqual(self.client.received.count(b"HTTP/1.1 "), 3)
        self.assertIn(b"HTTP/1.1 204 ", self.client.received)

    def test_clientLeavesMidBody(self) -> None:
        """
        A client closing its connection mid-body fails the body.
        """
        self.clientTransport.write(put(100) + b"partial")
        self.pump.flush()
        request = self.resource.requests[0]
        self.clientTransport.loseConnection()
        self.pump.flush()
        body = request.streamingBody  # type: ignore[attr-defined]
        self.assertEqual(body.chunks, [b"partial"])
        self.assertFalse(body.complete)
        self.assertIsInstance(body.lost, Failure)
        self.assertTrue(is_disconnected(request))


class QuietTwistedClientTests(SynchronousTestCase):
    """
    Tests for the log filter.
    """

    def setUp(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.observer = quiet_observer(cast(ILogObserver, self.events.append))

    def emit(self, namespace: Optional[str], level: Optional[LogLevel]) -> None:
        event: dict[str, Any] = {"log_format": "x"}
        if namespace is not None:
            event["log_namespace"] = namespace
        if level is not None:
            event["log_level"] = level
        self.observer(event)

    def test_quietNamespaces(self) -> None:
        """
        The HTTP client parser's and connection factory's info lines are
        dropped; their warnings and errors are kept.
        """
        for namespace in QUIET_NAMESPACES:
            self.emit(namespace, LogLevel.info)
            self.emit(namespace, LogLevel.debug)
            self.emit(namespace, LogLevel.warn)
            self.emit(namespace, LogLevel.error)
        self.assertEqual([e["log_level"] for e in self.events],
                         [LogLevel.warn, LogLevel.error] * len(QUIET_NAMESPACES))

    def test_namespacesOfTwisted(self) -> None:
        """
        The quiet namespaces are those Twisted's HTTP client logs under.
        """
        from twisted.application import _client_service
        from twisted.web import _newclient, client

        self.assertEqual(QUIET_NAMESPACES, (
            f"{_newclient.__name__}.{_newclient.HTTPClientParser.__name__}",
            f"{client.__name__}.{client._HTTP11ClientFactory.__name__}",
            f"{_client_service.__name__}.{_client_service.ClientService.__name__}",
            # connectProtocol's local class (test_connectProtocolFactory).
            "twisted.internet.endpoints.OneShotFactory",
        ))

    def capture(self) -> list[dict[str, Any]]:
        """
        The events the global publisher sees from now on, for this test.
        """
        from twisted.logger import globalLogPublisher

        seen: list[dict[str, Any]] = []
        observer = cast(ILogObserver, seen.append)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        return seen

    def test_idleClientTimeout(self) -> None:
        """
        A client timed out for idling is not logged (Twisted's info line,
        one per client, is dropped): L{StreamingChannel.idle_timed_out} is
        called to count it.
        """
        seen = self.capture()
        clock = MemoryReactorClock()
        site = server.Site(HeldResource(), reactor=clock, timeout=10)
        site.protocol = _CountingChannel  # type: ignore[assignment]
        channel = site.buildProtocol(IPv4Address("TCP", "10.0.0.1", 50000))
        assert isinstance(channel, _CountingChannel)
        transport = StringTransport()
        channel.makeConnection(transport)
        clock.advance(11)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(channel.idled, 1)
        self.assertEqual([event.get("log_format") for event in seen],
                         [IDLE_TIMEOUT_FORMAT])
        for event in seen:
            self.observer(event)
        self.assertEqual(self.events, [])

    def test_connectProtocolFactory(self) -> None:
        """
        C{connectProtocol}'s factory (the erasure-coded PUT's connections)
        logs its starting and stopping under a quiet namespace.
        """
        from twisted.internet.endpoints import connectProtocol

        @implementer(IStreamClientEndpoint)
        class Connecting:
            def connect(self, factory: Any) -> "Deferred[Any]":
                factory.doStart()
                factory.doStop()
                return Deferred()

        seen = self.capture()
        connectProtocol(Connecting(), Protocol())
        self.assertEqual(len(seen), 2)
        self.assertEqual({event["log_namespace"] for event in seen},
                         {"twisted.internet.endpoints.OneShotFactory"})
        self.assertIn("twisted.internet.endpoints.OneShotFactory", QUIET_NAMESPACES)

    def test_clientServiceRetries(self) -> None:
        """
        A L{ClientService}'s reconnection attempts (txredisapi's pool while
        Redis is down) log nothing through the filter.
        """
        from twisted.application.internet import ClientService
        from twisted.internet.defer import fail
        from twisted.internet.protocol import Factory
        from twisted.internet.task import Clock

        @implementer(IStreamClientEndpoint)
        class Refused:
            def connect(self, factory: object) -> "Deferred[Any]":
                return fail(ConnectionRefusedError())

        seen = self.capture()
        clock = Clock()
        service = ClientService(Refused(), Factory.forProtocol(Protocol), clock=clock)
        service.startService()
        for _ in range(5):
            clock.advance(60)
        service.stopService()
        retries = [event for event in seen if "retry" in event.get("log_format", "")]
        self.assertGreaterEqual(len(retries), 5)
        for event in retries:
            self.observer(event)
        self.assertEqual(self.events, [])

    def test_txredisapiDeadConnections(self) -> None:
        """
        txredisapi's legacy line for each dead pooled connection is dropped;
        other legacy lines are kept.
        """
        from twisted.python import log

        seen = self.capture()
        log.msg("Discarding dead connection.")
        log.msg("Something else.")
        for event in seen:
            self.observer(event)
        self.assertEqual([event["log_text"] for event in self.events], ["Something else."])

    def test_othersKept(self) -> None:
        """
        Every other event passes, including debug lines and events without
        a namespace or level.
        """
        self.emit("twisted_proxy.web.server", LogLevel.debug)
        self.emit("twisted.web._newclient.HTTP11ClientProtocol", LogLevel.info)
        self.emit(None, LogLevel.info)
        self.emit(QUIET_NAMESPACES[0], None)
        self.assertEqual(len(self.events), 4)

    def test_predicate(self) -> None:
        from twisted.logger import ILogFilterPredicate

        self.assertTrue(verifyObject(ILogFilterPredicate, QuietTwistedClient()))


class QuietObserverTests(SynchronousTestCase):
    """
    L{quiet_observer} passes on what a L{FilteringLogObserver} with a
    L{QuietTwistedClient} predicate passes on.
    """

    def test_sameAsFilteringObserver(self) -> None:
        """
        The same events pass, at every level, for quiet namespaces and
        events, the idle timeout line and anything else.
        """
        from twisted.logger import FilteringLogObserver
        from twisted.web.http import HTTPChannel

        events: list[dict[str, Any]] = []
        kinds: list[tuple[str, dict[str, Any]]]
        for level in LogLevel.iterconstants():
            kinds = [
                (QUIET_NAMESPACES[0], {}), (QUIET_NAMESPACES[-1], {}),
                ("log_legacy", {"log_text": "Discarding dead connection."}),
                ("log_legacy", {"log_text": "something else"}),
                ("some.channel", {"log_format": IDLE_TIMEOUT_FORMAT,
                                  "log_source": HTTPChannel()}),
                ("some.channel", {"log_format": IDLE_TIMEOUT_FORMAT, "log_source": None}),
                ("proxy-server", {"log_format": "{access_log_line}"}),
            ]
            for namespace, extra in kinds:
                events.append({"log_level": level, "log_namespace": namespace, **extra})
        events.append({"log_namespace": QUIET_NAMESPACES[0]})
        reference: list[dict[str, Any]] = []
        filtered = FilteringLogObserver(cast(ILogObserver, reference.append),
                                        [QuietTwistedClient()])
        passed: list[dict[str, Any]] = []
        quiet = quiet_observer(cast(ILogObserver, passed.append))
        for event in events:
            filtered(event)
            quiet(event)
        self.assertEqual(passed, reference)
        self.assertTrue(0 < len(passed) < len(events))


class TextFileObserverTests(SynchronousTestCase):
    """
    L{quiet_observer} in front of twistd's text log file writes an event
    with L{TEXT_KEY} itself: the file gets, byte for byte, what
    C{textFileLogObserver} writes for the same event.
    """

    #: Times around second boundaries: .9999996 shows as the next second
    #: (datetime rounds microseconds half to even).
    TIMES = [1796310732.25, 1796310732.9999994, 1796310732.9999996, 1796310733.0,
             1796310733.5, 1796310733.9999999, 1796310734.000001, 1796310799.75]

    TEXTS = ["127.0.0.1 GET /v1/AUTH_test/c/o HTTP/1.0 200 - 4096",
             "n\u00efce \u2603 \u20ac /v1/AUTH_t\u00ebst/\U0001f600 {x} %s",
             "two\nlines\n", "\u00e9"]

    def events(self) -> list[dict[str, Any]]:
        """
        Access-log events with their text, at each of L{TIMES}.
        """
        return [{"log_format": "{access_log_line}", "access_log_line": text, TEXT_KEY: text,
                 "log_level": LogLevel.info, "log_namespace": "proxy-server",
                 "log_source": None, "log_time": when}
                for when in self.TIMES for text in self.TEXTS]

    def compare(self, events: list[dict[str, Any]], out: Any = io.StringIO) -> str:
        """
        Write C{events} with twistd's observer behind a L{QuietTwistedClient}
        filter and with L{quiet_observer} in front of another, to files made by C{out}; assert both files hold
        the same, and return it.
        """
        from twisted.logger import FilteringLogObserver, textFileLogObserver

        reference, direct = out(), out()
        twistd = FilteringLogObserver(textFileLogObserver(reference), [QuietTwistedClient()])
        quiet = quiet_observer(textFileLogObserver(direct))
        for event in events:
            twistd(dict(event))
            quiet(dict(event))
        self.assertEqual(direct.getvalue(), reference.getvalue())
        return reference.getvalue()

    def set_zone(self, zone: str) -> None:
        """
        Run the test in time zone C{zone}.
        """
        import os
        import time

        old = os.environ.get("TZ")

        def restore() -> None:
            if old is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = old
            time.tzset()

        self.addCleanup(restore)
        os.environ["TZ"] = zone
        time.tzset()

    def test_sameAsTwistd(self) -> None:
        """
        Across second boundaries, for non-ASCII text and text with new
        lines, the lines are twistd's.
        """
        written = self.compare(self.events())
        self.assertEqual(written.count("[proxy-server#info] "), len(self.events()))
        self.assertIn("2026-12-03T", written)
        self.assertIn(":12:13", written)
        self.assertIn("two\n\tlines\n\t\n", written)

    def test_bytesFile(self) -> None:
        """
        To a binary file, the lines are twistd's in UTF-8.
        """
        written = self.compare(self.events(), io.BytesIO)
        self.assertIn("\u2603".encode("utf-8"), written)

    def test_timeZone(self) -> None:
        """
        The lines are twistd's in a time zone other than UTC, across a
        change of its offset.
        """
        self.set_zone("America/New_York")
        # 2026-11-01T06:00:00Z: 02:00 EDT becomes 01:00 EST.
        change = 1793512800.0
        events = self.events()
        for offset in (-1.5, -0.25, -0.0000004, 0.0, 0.5, 3600.0):
            for event in self.events()[:2]:
                events.append(dict(event, log_time=change + offset))
        written = self.compare(events)
        self.assertIn("-0400 [", written)
        self.assertIn("-0500 [", written)

    def test_accessLogKey(self) -> None:
        """
        The access log marks its events with L{TEXT_KEY}.
        """
        from twisted_proxy.plugins import proxy_logging

        self.assertEqual(proxy_logging.TEXT_KEY, TEXT_KEY)

    def test_textWritten(self) -> None:
        """
        The event's L{TEXT_KEY} is written, not its format formatted again.
        """
        from twisted.logger import textFileLogObserver

        out = io.StringIO()
        quiet = quiet_observer(textFileLogObserver(out))
        quiet({"log_format": "formatted", TEXT_KEY: "given", "log_level": LogLevel.info,
               "log_namespace": "proxy-server", "log_time": 1796310732.5})
        self.assertTrue(out.getvalue().endswith(" [proxy-server#info] given\n"))

    def test_othersFormatted(self) -> None:
        """
        An event without L{TEXT_KEY}, or with a system, a failure, an empty
        text or no time, is formatted as twistd would; quiet events are
        still dropped.
        """
        base = self.events()[0]
        events = [
            {key: value for key, value in base.items() if key != TEXT_KEY},
            dict(base, log_system="some system"),
            dict(base, log_failure=Failure(ValueError("no"))),
            dict(base, **{TEXT_KEY: "", "access_log_line": ""}),
            {key: value for key, value in base.items() if key != "log_time"},
            {key: value for key, value in base.items() if key != "log_level"},
            dict(base, log_namespace=QUIET_NAMESPACES[0]),
        ]
        written = self.compare(events)
        self.assertIn("[some system] ", written)
        self.assertIn("ValueError", written)
        self.assertIn("- [proxy-server#info] ", written)
        self.assertIn("[proxy-server#-] ", written)
        self.assertNotIn(QUIET_NAMESPACES[0], written)

    def test_otherTimeFormat(self) -> None:
        """
        A text file observer with another time format formats every event
        itself.
        """
        from twisted.logger import textFileLogObserver

        out = io.StringIO()
        quiet = quiet_observer(textFileLogObserver(out, timeFormat="%H:%M:%S.%f"))
        quiet({"log_format": "formatted", TEXT_KEY: "given", "log_level": LogLevel.info,
               "log_namespace": "proxy-server", "log_time": 1796310732.5})
        self.assertTrue(out.getvalue().endswith(".500000 [proxy-server#info] formatted\n"))


class ReplaceObserversTests(SynchronousTestCase):
    def test_replace(self) -> None:
        """
        L{replace_observers} leaves the publisher with only the new
        observers and returns the ones it removed.
        """
        publisher = LogPublisher()
        old: list[Any] = []
        new: list[Any] = []
        first = cast(ILogObserver, old.append)
        publisher.addObserver(first)
        removed = replace_observers(publisher, [cast(ILogObserver, new.append)])
        publisher({"log_format": "x"})
        self.assertEqual(removed, [first])
        self.assertEqual(old, [])
        self.assertEqual(len(new), 1)


class QuietTwistedLoggingTests(SynchronousTestCase):
    """
    Tests for L{QuietTwistedLogging}.
    """

    def test_filtersWhileRunning(self) -> None:
        """
        While running, the publisher's observers see no client noise; once
        stopped they are back as they were.
        """
        publisher = LogPublisher()
        seen: list[dict[str, Any]] = []
        observer = cast(ILogObserver, seen.append)
        publisher.addObserver(observer)
        quiet = QuietTwistedLogging(publisher)
        noise = {"log_namespace": QUIET_NAMESPACES[0], "log_level": LogLevel.info}
        warning = {"log_namespace": QUIET_NAMESPACES[0], "log_level": LogLevel.warn}
        quiet.startService()
        publisher(noise)
        publisher(warning)
        self.assertEqual(seen, [warning])
        quiet.stopService()
        publisher(noise)
        self.assertEqual(seen, [warning, noise])
        publisher.removeObserver(observer)
        publisher(noise)
        self.assertEqual(seen, [warning, noise])

    def test_makePoolPatchesNothing(self) -> None:
        """
        The node client's pool leaves Twisted's HTTP client logging to the
        global publisher (the process's observer filters it) and makes
        Twisted's own connection factories: nothing is patched
        process-wide.
        """
        from twisted.logger import globalLogPublisher
        from twisted.web._newclient import HTTPClientParser
        from twisted.web.client import HTTPConnectionPool

        from twisted_proxy.backend.nodeclient import make_pool

        pool = make_pool(MemoryReactorClock())
        logger = HTTPClientParser._log  # type: ignore[attr-defined]
        self.assertIs(logger.observer, globalLogPublisher)
        self.assertEqual(logger.namespace, QUIET_NAMESPACES[0])
        self.assertIs(pool._factory, HTTPConnectionPool._factory)  # type: ignore[attr-defined]

    def test_clientParserLoggerQuieted(self) -> None:
        """
        What Twisted's HTTP client parser logs at info level is dropped by
        the filter; its warnings are kept.
        """
        from twisted.web._newclient import HTTPClientParser

        events: list[dict[str, Any]] = []
        # A Logger of the class's, with the class's namespace, of our own.
        logger = HTTPClientParser._log  # type: ignore[attr-defined]
        logger.observer = quiet_observer(cast(ILogObserver, events.append))
        logger.info("Ignoring unexpected {code} response", code=100)
        logger.warn("a real problem")
        self.assertEqual([e["log_format"] for e in events], ["a real problem"])


class VerbatimHeaderTests(SynchronousTestCase):
    """
    L{set_header_verbatim} keeps a header name's spelling on the wire.
    """

    def test_spelling(self) -> None:
        """
        The name is written as given; values are checked as Twisted does.
        """
        from twisted.web.http_headers import Headers

        from twisted_proxy._twisted import set_header_verbatim

        headers = Headers()
        set_header_verbatim(headers, b"x-amz-meta-color", b"blue")
        set_header_verbatim(headers, b"ETag", b'"e"')
        self.assertEqual(dict(headers.getAllRawHeaders()),
                         {b"x-amz-meta-color": [b"blue"], b"ETag": [b'"e"']})
        set_header_verbatim(headers, b"x-bad", b"a\r\nb")
        self.assertEqual(list(headers.getAllRawHeaders())[-1], (b"x-bad", [b"a b"]))


class FillHeadersTests(SynchronousTestCase):
    """
    L{fill_headers}: a set of headers stored as L{Headers.setRawHeaders}
    stores each.
    """

    PAIRS = [
        ("content-type", "text/plain"), ("ETag", '"abc"'), ("x-object-meta-color", "\u00ffblue"),
        ("X-Timestamp", "1.00000"), ("x-injected", "a\r\nSet-Cookie: b"), ("x-cr", "a\rb"),
        ("x-lf", "a\nb\n"), ("Content-MD5", ""), ("x-trailing", "v\r\n"),
    ]

    def expected(self, pairs: list[tuple[str, str]]) -> dict[bytes, Any]:
        from twisted.web.http_headers import Headers

        headers = Headers()
        for name, value in pairs:
            headers.setRawHeaders(name.encode("latin-1"), [value.encode("latin-1")])
        return dict(headers.getAllRawHeaders())

    def test_sameAsSetRawHeaders(self) -> None:
        """
        Names spelled, and values encoded and cleaned of line breaks, as
        by L{Headers.setRawHeaders}; twice (the spellings cached) the same.
        """
        from twisted.web.http_headers import Headers

        for _ in range(2):
            headers = Headers()
            fill_headers(headers, self.PAIRS)
            self.assertEqual(dict(headers.getAllRawHeaders()), self.expected(self.PAIRS))

    def test_noInjection(self) -> None:
        """
        A value holding CR or LF cannot start another header line.
        """
        from twisted.web.http_headers import Headers

        headers = Headers()
        fill_headers(headers, [("x-a", "1\r\nX-Evil: 2"), ("x-b", "3\nX-Evil: 4\r")])
        for _, values in headers.getAllRawHeaders():
            for value in values:
                self.assertNotIn(b"\r", value)
                self.assertNotIn(b"\n", value)

    def test_replaces(self) -> None:
        """
        A header set again, in any case, has its new value only.
        """
        from twisted.web.http_headers import Headers

        headers = Headers()
        headers.setRawHeaders(b"X-A", [b"old", b"older"])
        fill_headers(headers, [("x-a", "new")])
        self.assertEqual(headers.getRawHeaders(b"X-A"), [b"new"])

    def test_badName(self) -> None:
        """
        A name that is no token is refused as Twisted refuses it.
        """
        from twisted.web.http_headers import Headers, InvalidHeaderName

        for name in ("x bad", "x:bad", "x\r\nbad", ""):
            with self.assertRaises(InvalidHeaderName):
                fill_headers(Headers(), [(name, "v")])

    def test_notLatin1(self) -> None:
        """
        Text that is not one byte a character is refused.
        """
        from twisted.web.http_headers import Headers

        with self.assertRaises(UnicodeEncodeError):
            fill_headers(Headers(), [("x-a", "\u0100")])


class NodeAgentTests(SynchronousTestCase):
    """
    L{NodeAgent.request_to}: L{Agent.request} of a URL given as a target
    and a path.
    """

    def sent(self, host: bytes, port: int, path: bytes, method: bytes = b"GET",
             headers: Optional[Any] = None, direct: bool = True,
             body: Optional[Any] = None) -> bytes:
        """
        The bytes a request puts on its connection.
        """
        from twisted.web.http_headers import Headers

        reactor = MemoryReactorClock()
        agent = NodeAgent(reactor)
        headers = headers if headers is not None else Headers({b"X-A": [b"1"]})
        if direct:
            agent.request_to(agent.target(host, port), method, path, headers, body)
        else:
            agent.request(method, b"http://%s:%d%s" % (host, port, path), headers, body)
        [(_, _, factory, _, _)] = reactor.tcpClients
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)  # type: ignore[union-attr]
        return transport.value()

    def test_sameRequest(self) -> None:
        """
        The request on the wire is the one L{Agent.request} sends for the
        whole URL: request line, headers, C{Host} last.
        """
        for host, port, path in [(b"10.0.0.1", 6200, b"/sdb1/3/a/c/o"),
                                 (b"10.0.0.1", 80, b"/sdb1/3/a/c?format=json&limit=100"),
                                 (b"[fd00::1]", 6201, b"/d/1/a%20b;x")]:
            direct = self.sent(host, port, path)
            self.assertEqual(direct, self.sent(host, port, path, direct=False))
            self.assertTrue(direct.startswith(b"GET " + path + b" HTTP/1.1\r\n"), direct)
            self.assertIn(b"\r\nHost: " + host, direct)

    def test_withBody(self) -> None:
        """
        A request with a body of known or unknown length: its head as
        L{Agent.request} writes it, in one piece.
        """
        from twisted.web.iweb import UNKNOWN_LENGTH

        @implementer(IBodyProducer)
        class Held:
            def __init__(self, length: Any) -> None:
                self.length = length

            def startProducing(self, consumer: Any) -> Deferred[None]:
                return Deferred()

            def stopProducing(self) -> None:
                pass

            def pauseProducing(self) -> None:
                pass

            def resumeProducing(self) -> None:
                pass

        for length in [5, UNKNOWN_LENGTH]:
            direct = self.sent(b"10.0.0.1", 6200, b"/p", b"PUT", body=Held(length))
            self.assertEqual(direct, self.sent(b"10.0.0.1", 6200, b"/p", b"PUT", direct=False,
                                               body=Held(length)))
            self.assertIn(b"Content-Length: 5\r\n" if length == 5
                          else b"Transfer-Encoding: chunked\r\n", direct)

    def test_badMethod(self) -> None:
        """
        A method that is no token is refused.
        """
        from twisted.web.http_headers import Headers

        agent = NodeAgent(MemoryReactorClock())
        with self.assertRaises(ValueError):
            agent.request_to(agent.target(b"10.0.0.1", 6200), b"G T", b"/p", Headers())

    def test_ownHost(self) -> None:
        """
        A C{Host} header given is kept.
        """
        from twisted.web.http_headers import Headers

        sent = self.sent(b"10.0.0.1", 6200, b"/p", headers=Headers({b"Host": [b"h"]}))
        self.assertIn(b"\r\nHost: h\r\n", sent)
        self.assertEqual(sent.count(b"Host:"), 1)

    def test_invalidPath(self) -> None:
        """
        A path with a byte a URL may not hold, no leading C{/}, or a
        fragment is refused before anything is sent.
        """
        from twisted.web.http_headers import Headers

        agent = NodeAgent(MemoryReactorClock())
        target = agent.target(b"10.0.0.1", 6200)
        for path in [b"/a b", b"/a\r\nX: y", b"a", b"/a#b", b"/\xff"]:
            with self.assertRaises(ValueError):
                agent.request_to(target, b"GET", path, Headers())


    def test_pooledConnection(self) -> None:
        """
        A request on a connection from the pool goes out on it at once,
        and its answer comes as it does on a new one.
        """
        from twisted.web.client import HTTPConnectionPool
        from twisted.web.http_headers import Headers

        reactor = MemoryReactorClock()
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.retryAutomatically = False  # as make_pool makes it
        agent = NodeAgent(reactor, pool=pool)
        target = agent.target(b"10.0.0.1", 6200)
        first = agent.request_to(target, b"GET", b"/a", Headers())
        [(_, _, factory, _, _)] = reactor.tcpClients
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)  # type: ignore[union-attr]
        protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")  # type: ignore[union-attr]
        self.assertEqual(self.successResultOf(first).code, 200)
        transport.clear()
        second = agent.request_to(target, b"GET", b"/b", Headers())
        self.assertEqual(len(reactor.tcpClients), 1)
        self.assertTrue(transport.value().startswith(b"GET /b HTTP/1.1\r\n"))
        self.assertNoResult(second)
        protocol.dataReceived(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")  # type: ignore[union-attr]
        self.assertEqual(self.successResultOf(second).code, 404)

    def test_skipped1xxUnlogged(self) -> None:
        """
        A C{100 Continue} before the answer is skipped without a log event
        (Twisted's parser logs one at info level, which nobody hears); the
        answer arrives as ever.
        """
        from twisted.logger import globalLogPublisher
        from twisted.web.http_headers import Headers

        events: list[dict[str, Any]] = []
        observer = cast(ILogObserver, events.append)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        reactor = MemoryReactorClock()
        agent = NodeAgent(reactor)
        answered = agent.request_to(agent.target(b"10.0.0.1", 6200), b"PUT", b"/p",
                                    Headers({b"Expect": [b"100-continue"]}))
        [(_, _, factory, _, _)] = reactor.tcpClients
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(StringTransport())  # type: ignore[union-attr]
        protocol.dataReceived(  # type: ignore[union-attr]
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        self.assertEqual(self.successResultOf(answered).code, 201)
        self.assertEqual([event for event in events if "1" in str(event.get("code", ""))], [])
        self.assertFalse(any("Ignoring unexpected" in event.get("log_format", "")
                             for event in events))


class NodeResponseParserTests(SynchronousTestCase):
    """
    L{_NodeResponseParser} reads what Twisted's L{HTTPClientParser} reads,
    whole heads in one pass, with the same outcome however the bytes are
    split.
    """

    HEAD = (b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nEtag: abc\r\n"
            b"Last-Modified: Fri, 04 Dec 2026 16:00:00 GMT\r\n"
            b"X-Backend-Timestamp: 1700000000.00000\r\n\r\n")
    STREAMS = [
        CONTINUE + HEAD,
        HEAD,
        CONTINUE + CONTINUE + HEAD + b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhelloEXTRA",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end",
        b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\nrest",
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + HEAD,
        b"HTTP/1.1 100 Continue\r\nX-A: 1\r\n\r\n" + HEAD,
        b"HTTP/1.1 100 continue\r\n\r\n" + HEAD,
        b"HTTP/1.1 201\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 201 Created\r\ncontent-LENGTH: 0\r\nETAG:x\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nX-A: 1\r\nx-a: 2\r\nX-Empty:\r\nX-Blank:   \r\n"
        b"Content-Length: 0\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nX-A: 1\r\n  folded\r\n\tmore\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nX-A: 1\r2\r\nX-B: 3\n4\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nX-A: 1\r\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 201 Created\r\r\nContent-Length: 0\r\n\r\r\n",
        b"HTTP/1.1 201 Created\r\nX-A: 1\r\n\r\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nContent-Length: 1, 2\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nX-Long: " + b"v" * 20000 + b"\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nno colon\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nX A: 1\r\n\r\n",
        b"HTTP/1.1 201 Created\r\n: no name\r\n\r\n",
        b"HTTP/1.1 abc Created\r\n\r\n",
        b"HTTP/x 201 Created\r\n\r\n",
        b"HTTP/1.1\r\n\r\n",
        b"\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n",
        b"HTTP/1.1 201 Created\nX-A: 1\nContent-Length: 0\n\n",
        b"HTTP/1.1 201 Created\r\nX-A: 1\n\r\nContent-Length: 0\r\n\r\n",
        b"\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    ]

    def outcome(self, parser_class: type, chunks: list[bytes], method: bytes = b"PUT",
                ) -> tuple[Any, ...]:
        """
        What a parser of C{parser_class} makes of C{chunks}: the response
        (its status, headers, length, body so far), the connection
        headers, the bytes it handed on, its state, and any error.
        """
        from twisted.web._newclient import HTTPClientParser

        class FakeRequest:
            pass

        request = FakeRequest()
        request.method = method  # type: ignore[attr-defined]
        handed: list[bytes] = []
        parser = HTTPClientParser(request, handed.append)
        parser.makeConnection(StringTransport())
        parser.__class__ = parser_class
        responses: list[Any] = []
        parser._responseDeferred.addBoth(responses.append)
        error = None
        for chunk in chunks:
            try:
                parser.dataReceived(chunk)
            except Exception as e:
                error = (type(e), str(e))
                break
        seen = None
        if responses:
            [response] = responses
            seen = (response.version, response.code, response.phrase,
                    sorted(response.headers._rawHeaders.items()), response.length,
                    response._bodyBuffer, response._state)
        return (seen, sorted(parser.connHeaders._rawHeaders.items()), handed,
                parser.state, error if error is not None else parser._buffer)

    def assertSameOutcome(self, stream: bytes, method: bytes = b"PUT") -> None:
        from twisted.web._newclient import HTTPClientParser

        splits = [[stream], [bytes([b]) for b in stream] if len(stream) < 1000 else [stream]]
        splits += [[stream[:i], stream[i:]] for i in range(1, len(stream), 7)]
        for chunks in splits:
            self.assertEqual(self.outcome(_NodeResponseParser, chunks, method),
                             self.outcome(HTTPClientParser, chunks, method),
                             (stream, chunks))

    def test_sameOutcome(self) -> None:
        """
        Every stream, whole or split anywhere, gives what Twisted's parser
        gives: status, headers, length, body, what follows, state, errors.
        """
        for stream in self.STREAMS:
            self.assertSameOutcome(stream)

    def test_sameOutcomeNamesNotRemembered(self) -> None:
        """
        The same again with no header names remembered, as once the memo
        of names is full.
        """
        from twisted_proxy import _twisted

        self.patch(_twisted, "_WIRE_NAMES", {})
        self.patch(_twisted, "_MAX_HEADER_NAMES", 0)
        for stream in self.STREAMS:
            self.assertSameOutcome(stream)
        self.assertEqual(_twisted._WIRE_NAMES, {})

    def test_sameOutcomeOfHead(self) -> None:
        """
        The answer to a C{HEAD}: its C{Content-Length} is the entity's.
        """
        self.assertSameOutcome(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n", b"HEAD")

    def test_wholeHeadAtOnce(self) -> None:
        """
        A head that comes whole is not read line by line.
        """
        lines: list[bytes] = []
        by_line = _NodeResponseParser.lineReceived

        def counting(parser: _NodeResponseParser, line: bytes) -> None:
            lines.append(line)
            by_line(parser, line)

        self.patch(_NodeResponseParser, "lineReceived", counting)
        seen, _, handed, _, _ = self.outcome(_NodeResponseParser, [CONTINUE + self.HEAD])
        self.assertEqual((seen[1], seen[3][0], handed), (201, (b"ETag", [b"abc"]), [b""]))
        self.assertEqual(lines, [])

    def test_installed(self) -> None:
        """
        L{NodeAgent.request_to} reads its answers with it.
        """
        from twisted.web.http_headers import Headers

        reactor = MemoryReactorClock()
        agent = NodeAgent(reactor)
        agent.request_to(agent.target(b"10.0.0.1", 6200), b"PUT", b"/p", Headers())
        [(_, _, factory, _, _)] = reactor.tcpClients
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(StringTransport())  # type: ignore[union-attr]
        parser = protocol._wrappedProtocol._parser  # type: ignore[union-attr]
        self.assertIs(type(parser), _NodeResponseParser)


class _IdleConnection:
    """
    A connection as a pool sees it: its state, a transport to close, and
    C{abort}.
    """

    def __init__(self) -> None:
        self.state = "QUIESCENT"
        self.closed = False
        self.transport = self

    def loseConnection(self) -> None:
        self.closed = True

    def abort(self) -> Deferred[None]:
        self.closed = True
        return succeed(None)


class NodeConnectionPoolTests(SynchronousTestCase):
    """
    L{NodeConnectionPool} keeps and closes idle connections as Twisted's
    pool does, with one timer.
    """

    def setUp(self) -> None:
        from twisted.internet.task import Clock

        self.clock = Clock()
        self.pool = NodeConnectionPool(self.clock)
        self.pool.cachedConnectionTimeout = 120
        self.pool.retryAutomatically = False

    def put(self, key: str = "a") -> _IdleConnection:
        connection = _IdleConnection()
        self.pool._putConnection(key, connection)
        return connection

    def test_closedWhenIdleLongEnough(self) -> None:
        """
        Each idle connection is closed C{cachedConnectionTimeout} seconds
        after it went idle, and no sooner; one timer serves them all.
        """
        first = self.put()
        self.clock.advance(30)
        second = self.put("b")
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(89.5)
        self.assertEqual((first.closed, second.closed), (False, False))
        self.clock.advance(0.5)
        self.assertEqual((first.closed, second.closed), (True, False))
        self.clock.advance(29.5)
        self.assertFalse(second.closed)
        self.clock.advance(0.5)
        self.assertTrue(second.closed)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.pool._connections, {"a": [], "b": []})

    def test_takenAgain(self) -> None:
        """
        A connection taken from the pool is not closed; the one idle
        longest is taken first, and one that went idle again has its full
        time again.
        """
        first = self.put()
        self.clock.advance(10)
        second = self.put()
        taken = self.successResultOf(self.pool.getConnection("a", None))
        self.assertIs(taken, first)
        self.clock.advance(100)
        self.pool._putConnection("a", first)
        self.clock.advance(10)
        self.assertEqual((first.closed, second.closed), (False, False))
        self.clock.advance(10)
        self.assertEqual((first.closed, second.closed), (False, True))
        self.clock.advance(99)
        self.assertFalse(first.closed)
        self.clock.advance(1)
        self.assertTrue(first.closed)

    def test_lostWhileIdle(self) -> None:
        """
        A connection lost while idle is skipped, and a new one made.
        """
        lost = self.put()
        lost.state = "CONNECTION_LOST"
        made = Deferred[Any]()
        self.pool._newConnection = lambda key, endpoint: made  # type: ignore[method-assign]
        self.assertIs(self.pool.getConnection("a", None), made)
        self.assertEqual(self.pool._connections["a"], [])
        self.clock.advance(120)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_mostPerHost(self) -> None:
        """
        Beyond C{maxPersistentPerHost} idle connections to one node, the
        one idle longest is closed.
        """
        self.pool.maxPersistentPerHost = 2
        connections = [self.put() for _ in range(3)]
        self.assertEqual([c.closed for c in connections], [True, False, False])
        self.assertEqual(self.pool._connections["a"], connections[1:])
        self.clock.advance(120)
        self.assertEqual([c.closed for c in connections], [True, True, True])

    def test_notQuiescent(self) -> None:
        """
        A connection that is not idle is not kept (Twisted's pool logs the
        bug).
        """
        busy = _IdleConnection()
        busy.state = "WAITING"
        self.pool._putConnection("a", busy)
        self.flushLoggedErrors(RuntimeError)
        self.assertEqual(self.pool._connections.get("a", []), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_closeCachedConnections(self) -> None:
        """
        Closing the pool closes every idle connection and leaves no timer.
        """
        connections = [self.put(), self.put("b")]
        self.successResultOf(self.pool.closeCachedConnections())
        self.assertEqual([c.closed for c in connections], [True, True])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.pool._connections, {})

    def test_retrying(self) -> None:
        """
        With C{retryAutomatically}, a pooled connection comes wrapped, as
        from Twisted's pool.
        """
        from twisted.web.client import _RetryingHTTP11ClientProtocol

        self.pool.retryAutomatically = True
        connection = self.put()
        taken = self.successResultOf(self.pool.getConnection("a", None))
        self.assertIsInstance(taken, _RetryingHTTP11ClientProtocol)
        self.assertIs(taken._clientProtocol, connection)


class WriteHeadersTests(_ChannelTestCase):
    """
    L{StreamingChannel.writeHeaders}: a response's head in one write.
    """

    def test_oneWrite(self) -> None:
        """
        The status line and every header go out in one write, as Twisted
        would have written them piece by piece.
        """
        from twisted.web.http_headers import Headers

        writes: list[bytes] = []
        self.patch(self.transport, "write", writes.append)
        self.patch(self.transport, "writeSequence", lambda pieces: writes.extend(pieces))
        headers = Headers({b"Content-Length": [b"0"], b"X-Multi": [b"a", b"b"]})
        self.channel.writeHeaders(b"HTTP/1.1", b"200", b"OK", headers)
        self.assertEqual(writes, [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                                  b"X-Multi: a\r\nX-Multi: b\r\n\r\n"])

    def test_pairs(self) -> None:
        """
        Headers given as pairs (Twisted's older form) are cleaned as
        Twisted cleans them.
        """
        self.channel.writeHeaders(b"HTTP/1.1", b"200", b"OK", [(b"x-a", b"1\r\nX-B: 2")])
        self.assertEqual(self.written(), b"HTTP/1.1 200 OK\r\nX-A: 1 X-B: 2\r\n\r\n")

    def test_response(self) -> None:
        """
        A whole response through the channel.
        """
        self.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        request = self.resource.requests[0]
        request.setHeader(b"X-A", b"v")
        answer(request, 200, b"hi")
        self.assertEqual(self.written().split(b"\r\n\r\n", 1)[1], b"hi")


class ReadAroundTests(_ChannelTestCase):
    """
    L{unread_body} and L{read_around}: a streamed body's bytes taken from
    the socket around the channel.
    """

    def test_unread(self) -> None:
        """
        The channel tells the bytes of a body of known length it has not
        read yet; none for a chunked body.
        """
        self.send(put(100) + b"0123456789")
        request = self.resource.requests[0]
        self.assertEqual(unread_body(request), 90)
        self.send(b"x" * 90)
        self.assertIsNone(unread_body(request))

    def test_chunkedUnread(self) -> None:
        """
        A chunked body has no count of unread bytes.
        """
        self.send(b"PUT /o HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        self.assertIsNone(unread_body(self.resource.requests[0]))

    def test_readAroundEndsBody(self) -> None:
        """
        Bytes read around the channel count as the body's; once none are
        left the body is complete, and the connection goes on to its next
        request after the answer.
        """
        self.send(put(100) + b"0123456789")
        request = self.resource.requests[0]
        read_around(request, 50)
        self.assertEqual(unread_body(request), 40)
        self.assertFalse(self.body().complete)
        read_around(request, 40)
        self.assertTrue(self.body().complete)
        self.assertEqual(b"".join(self.body().chunks), b"0123456789")
        answer(request)
        self.assertNotIn(b"Connection: close", self.written())
        self.send(b"GET /next HTTP/1.1\r\nHost: p\r\n\r\n")
        self.assertEqual(self.resource.requests[1].uri, b"/next")

    def test_tooMany(self) -> None:
        """
        Reading around more than the channel expects is refused.
        """
        self.send(put(100) + b"0123456789")
        request = self.resource.requests[0]
        self.assertRaises(ValueError, read_around, request, 91)
        self.assertEqual(unread_body(request), 90)


def _tcp_connection() -> tcp.Connection:
    """
    A TCP connection object with no socket under it, as
    L{tcp_connection_of} sees one.
    """
    return tcp.Connection.__new__(tcp.Connection)


class UploadSinkTests(SynchronousTestCase):
    """
    L{upload_sink}: the connection and remaining length of a request body
    Twisted's HTTP client is sending.
    """

    def test_lengthEnforced(self) -> None:
        """
        Over a TCP connection, the sink counts bytes written around the
        client, refusing more than it expects.
        """
        connection = _tcp_connection()
        encoder = LengthEnforcingConsumer(FileBodyProducer(io.BytesIO(b"x" * 10)), connection, Deferred())
        sink = upload_sink(encoder)
        assert sink is not None
        self.assertIs(sink.connection, connection)
        self.assertEqual(sink.remaining, 10)
        encoder.write(b"ab")
        self.assertEqual(sink.remaining, 8)
        sink.written_around(5)
        self.assertEqual(sink.remaining, 3)
        self.assertRaises(ValueError, sink.written_around, 4)
        sink.written_around(3)
        encoder._noMoreWritesExpected()

    def test_notEligible(self) -> None:
        """
        No sink for a chunked body, another transport than TCP, a closing
        connection, or a body no longer expected.
        """
        self.assertIsNone(upload_sink(ChunkedEncoder(StringTransport())))
        self.assertIsNone(upload_sink(
            LengthEnforcingConsumer(FileBodyProducer(io.BytesIO(b"x" * 10)), StringTransport(), Deferred())))
        closing = _tcp_connection()
        closing.disconnecting = True
        self.assertIsNone(upload_sink(
            LengthEnforcingConsumer(FileBodyProducer(io.BytesIO(b"x" * 10)), closing, Deferred())))
        done = LengthEnforcingConsumer(FileBodyProducer(io.BytesIO()), _tcp_connection(), Deferred())
        done._noMoreWritesExpected()
        self.assertIsNone(upload_sink(done))
