# -*- test-case-name: tests.test_getfailover,tests.test_multipart,tests.e2e.test_e2e -*-
"""
The twisted.web side of the proxy: a L{Site} whose root L{Resource} turns
each HTTP request into a L{SwiftRequest}, runs it through the pipeline, and
writes the L{SwiftResponse} back, streaming bodies with backpressure.
"""

from __future__ import annotations

import io
import re
from typing import Any, Callable, Optional

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http, server
from twisted.web.client import FileBodyProducer
from twisted.web.iweb import IBodyProducer
from twisted.web.resource import Resource
from zope.interface import implementer

from twisted_proxy.interfaces import IProxyApplication
from twisted_proxy.swift.constraints import filter_inbound_headers
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse, wsgi_str
from twisted_proxy.web.requestbody import RequestBody

__all__ = ["ProxyRequest", "ProxyResource", "ProxySite", "to_swift_request"]

_log = Logger()

_REQUEST_LINE = re.compile(rb"^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]+) (HTTP/1\.[01])$")
_UNSAFE_TARGET_BYTE = re.compile(rb"[^\x21-\x7e]")


#: Bytes read from a client socket at once. Twisted reads 64 KiB; larger
#: reads mean fewer system calls per byte of an upload and larger writes to
#: the storage nodes (measured on a 512 MiB PUT: 1.72 -> 1.3 proxy CPU
#: seconds per GB, 192 -> 230 MB/s).
READ_SIZE = 256 * 1024


class ProxyChannel(http.HTTPChannel):
    """
    An HTTP/1.1 channel that accepts what Swift's own server accepts and
    Twisted's parser does not:

      - a request target holding raw (unquoted) bytes outside printable
        ASCII, as Swift clients send UTF-8 object names: those bytes are
        percent-encoded, which names the same path;
      - a list of transfer codings, answered with 501 as Swift does rather
        than 400.
    """

    def connectionMade(self) -> None:
        super().connectionMade()
        if self.transport is not None and hasattr(self.transport, "bufferSize"):
            self.transport.bufferSize = READ_SIZE

    def lineReceived(self, line: bytes) -> None:
        match = _REQUEST_LINE.match(line)
        if match is None and b" HTTP/1." in line and b":" not in line.split(b" ", 1)[0]:
            method, _, rest = line.partition(b" ")
            target, _, version = rest.rpartition(b" ")
            quoted = _UNSAFE_TARGET_BYTE.sub(
                lambda m: b"%%%02X" % m.group(0)[0], target)
            candidate = b" ".join((method, quoted, version))
            if _REQUEST_LINE.match(candidate):
                line = candidate
        super().lineReceived(line)

    def headerReceived(self, line: bytes) -> bool:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"transfer-encoding" and b"," in value:
            assert self.transport is not None
            self.transport.write(
                b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n"
            )
            self.transport.loseConnection()
            return False
        return bool(super().headerReceived(line))


    def _send100Continue(self) -> None:
        request = self.requests[-1] if self.requests else None
        if isinstance(request, ProxyRequest) and request.streamingBody is not None:
            # Sent once something starts reading the body, as Swift does:
            # a request refused early never invites the body.
            return
        super()._send100Continue()

    def allContentReceived(self) -> None:
        if not self.requests:
            # The request was answered (and the connection is closing)
            # before its body was complete.
            return
        super().allContentReceived()


class ProxyRequest(server.Request):
    """
    A request whose responses carry no default C{Content-Type} and no
    C{Server} header, as Swift's, and whose PUT body streams: processing
    starts as soon as the headers are in, and the body is a L{RequestBody}
    fed chunk by chunk from the connection.

    @ivar streamingBody: the streaming body, or C{None} when twisted.web
        collects the body before processing (requests other than PUT, and
        empty bodies).
    """

    defaultContentType = None
    streamingBody: Optional[RequestBody] = None

    def gotLength(self, length: Optional[int]) -> None:
        channel = self.channel
        command = getattr(channel, "_command", b"")
        if command.upper() != b"PUT" or length == 0 or channel.transport is None:
            super().gotLength(length)
            return
        self.content = io.BytesIO()
        body = RequestBody(channel.transport, length)  # type: ignore[arg-type]
        self.streamingBody = body
        expect = self.requestHeaders.getRawHeaders(b"expect") or [b""]
        if expect[0].lower() == b"100-continue" and channel._version == b"HTTP/1.1":
            body.started.addCallback(self._continue)
        # Let the channel finish with the headers before the resource runs.
        channel.callLater(  # type: ignore[call-arg]
            0, self._processStreaming, command, channel._path, channel._version
        )

    def _continue(self, _: object) -> None:
        if not self.startedWriting and not self._disconnected:
            assert self.channel is not None and self.channel.transport is not None
            self.channel.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _processStreaming(self, command: bytes, uri: bytes, version: bytes) -> None:
        if self._disconnected:
            return
        self.method, self.uri, self.clientproto = command, uri, version
        self.path = uri.split(b"?", 1)[0]
        self.args = {}
        self.process()

    def handleContentChunk(self, data: bytes) -> None:
        if self.streamingBody is not None:
            self.streamingBody.dataReceived(data)
        else:
            super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self.streamingBody is not None:
            self.streamingBody.bodyComplete()
            return
        super().requestReceived(command, path, version)

    def write(self, data: bytes) -> None:
        body = self.streamingBody
        if not self.startedWriting and body is not None and not body.complete:
            # Answered before the body arrived: what is left of it cannot
            # be told from a next request, so the connection closes after.
            assert self.channel is not None
            self.channel.persistent = False
            self.responseHeaders.setRawHeaders(b"Connection", [b"close"])
        super().write(data)

    def connectionLost(self, reason: Failure) -> None:
        super().connectionLost(reason)
        if self.streamingBody is not None:
            self.streamingBody.connectionLost(reason)


def _request_body(request: server.Request) -> Optional[IBodyProducer]:
    if request.method not in (b"PUT", b"POST", b"DELETE"):
        # (DELETE carries the list of a bulk delete.)
        return None
    content = request.content
    if content is None:
        return None
    content.seek(0, 2)
    size = content.tell()
    content.seek(0)
    chunked = request.requestHeaders.getRawHeaders(b"transfer-encoding")
    declared = request.requestHeaders.getRawHeaders(b"content-length")
    if size == 0 and not chunked and not declared:
        return None
    return FileBodyProducer(content)


def to_swift_request(request: server.Request) -> SwiftRequest:
    """
    The L{SwiftRequest} for a twisted.web request, with the headers only the
    proxy may set removed.
    """
    headers = HeaderDict()
    for name, values in request.requestHeaders.getAllRawHeaders():
        headers[wsgi_str(name)] = wsgi_str(b",".join(values))
    filter_inbound_headers(headers)
    client = request.getClientAddress()
    client_ip = getattr(client, "host", "127.0.0.1")
    streaming = getattr(request, "streamingBody", None)
    swift_request = SwiftRequest(
        request.method.decode("ascii", "replace"),
        request.uri,
        headers,
        streaming if streaming is not None else _request_body(request),
        client_ip,
    )
    host = headers.get("Host", "")
    swift_request.environ.update(
        {
            "wsgi.url_scheme": "https" if request.isSecure() else "http",
            "HTTP_HOST": host,
            "REMOTE_ADDR": client_ip,
            "SERVER_NAME": request.getRequestHostname().decode("latin-1"),
            "SERVER_PORT": str(getattr(request.getHost(), "port", "")),
        }
    )
    return swift_request


class ProxyResource(Resource):
    """
    The root of the proxy's resource tree: every path is answered by the
    pipeline, which routes by Swift's own path rules (object names may hold
    any character, C{/} included).
    """

    isLeaf = True

    def __init__(self, app: IProxyApplication, clock: Optional[IReactorTime] = None,
                 client_timeout: Optional[float] = None) -> None:
        """
        @param clock: for C{client_timeout}.
        @param client_timeout: seconds a client may go without reading a
            streamed body before it is dropped (and the body's backend
            connection with it); C{None} for no limit.
        """
        super().__init__()
        self._app = app
        self._clock = clock
        self._client_timeout = client_timeout

    def render(self, request: server.Request) -> Any:
        request.responseHeaders.removeHeader(b"Server")
        swift_request = to_swift_request(request)
        d = self._app(swift_request)
        finished = request.notifyFinish()
        state: dict[str, Any] = {"body": None}

        def clientGone(failure: Failure) -> None:
            body = state["body"]
            if body is not None:
                body.stopProducing()
            d.cancel()

        finished.addErrback(clientGone)
        d.addCallback(self._respond, request, swift_request, state)
        d.addErrback(self._failed, request)
        return server.NOT_DONE_YET

    def _respond(
        self,
        response: SwiftResponse,
        request: server.Request,
        swift_request: SwiftRequest,
        state: dict[str, Any],
    ) -> Optional[Deferred[None]]:
        if request._disconnected:  # type: ignore[attr-defined]
            if not isinstance(response.body, bytes):
                response.body.stopProducing()
            return None
        request.setResponseCode(response.status, response.reason.encode("latin-1"))
        connection = request.getHeader(b"connection")
        if connection is not None and b"keep-alive" in connection.lower():
            # As Swift's server: a client asking for keep-alive is told so.
            request.responseHeaders.setRawHeaders(b"Connection", [b"keep-alive"])
        for name, value in response.headers.wire_items():
            request.responseHeaders.setRawHeaders(
                name.encode("latin-1"), [value.encode("latin-1")]
            )
        body = response.body
        if isinstance(body, bytes):
            if request.method != b"HEAD" or "Content-Length" not in response.headers:
                request.responseHeaders.setRawHeaders(
                    b"Content-Length", [b"%d" % len(body)]
                )
            if body and request.method != b"HEAD":
                request.write(body)
            request.finish()
            return None
        if self._clock is not None and self._client_timeout:
            body = _ReaderWatch(body, self._clock, self._client_timeout,
                                lambda: _abort(request))
        state["body"] = body
        request.registerProducer(body, True)
        streaming = body.startProducing(request)

        def done(_: Any) -> None:
            state["body"] = None
            if not request._disconnected:  # type: ignore[attr-defined]
                request.unregisterProducer()
                request.finish()

        def broken(failure: Failure) -> None:
            state["body"] = None
            _log.warn(
                "Aborting client connection mid-body ({path}): {why}",
                path=swift_request.path,
                why=failure.getErrorMessage(),
            )
            _abort(request)

        streaming.addCallbacks(done, broken)
        return None

    def _failed(self, failure: Failure, request: server.Request) -> None:
        if failure.check(CancelledError):
            return
        _log.failure("Unhandled error answering a request", failure)
        if request._disconnected:  # type: ignore[attr-defined]
            return
        if request.startedWriting:  # type: ignore[attr-defined]
            _abort(request)
            return
        request.setResponseCode(500)
        request.setHeader(b"Content-Length", b"0")
        request.finish()


@implementer(IBodyProducer, IPushProducer)
class _ReaderWatch:
    """
    A response body, watched for a client that stops reading: paused (by
    the client's full connection) for longer than C{timeout}, the body is
    stopped and C{gone} is called. Twisted's own idle timeout only covers
    a client that stops sending.
    """

    def __init__(self, body: IBodyProducer, clock: IReactorTime, timeout: float,
                 gone: Callable[[], None]) -> None:
        self._body = body
        self._clock = clock
        self._timeout = timeout
        self._gone = gone
        self._timer: Optional[IDelayedCall] = None
        self.length = body.length

    def startProducing(self, consumer: Any) -> "Deferred[None]":
        return self._body.startProducing(consumer)  # type: ignore[no-any-return]

    def pauseProducing(self) -> None:
        if self._timer is None:
            self._timer = self._clock.callLater(self._timeout, self._expired)
        self._body.pauseProducing()

    def resumeProducing(self) -> None:
        self._cancel()
        self._body.resumeProducing()

    def stopProducing(self) -> None:
        self._cancel()
        self._body.stopProducing()

    def _cancel(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _expired(self) -> None:
        self._timer = None
        _log.warn("Dropping a client that read nothing for {timeout}s",
                  timeout=self._timeout)
        self._body.stopProducing()
        self._gone()


def _abort(request: server.Request) -> None:
    """
    Drop the client connection so that a short or corrupt body is never
    mistaken for a whole one.
    """
    transport = request.channel.transport if request.channel is not None else None
    if transport is None:
        return
    abort = getattr(transport, "abortConnection", None)
    if abort is not None:
        abort()
    else:
        transport.loseConnection()


class ProxySite(server.Site):
    """
    The proxy's L{server.Site}.
    """

    requestFactory = ProxyRequest
    protocol = ProxyChannel  # type: ignore[assignment]
    displayTracebacks = False

    def __init__(self, resource: Resource, **kwargs: Any) -> None:
        kwargs.setdefault("logPath", None)
        super().__init__(resource, **kwargs)
        self.noisy = False

    def log(self, request: Any) -> None:
        """
        Access logging belongs to the C{proxy-logging} plugin.
        """
