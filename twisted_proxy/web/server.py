# -*- test-case-name: tests.test_getfailover,tests.test_multipart,tests.e2e.test_e2e -*-
"""
The twisted.web side of the proxy: a L{Site} whose root L{Resource} turns
each HTTP request into a L{SwiftRequest}, runs it through the pipeline, and
writes the L{SwiftResponse} back, streaming bodies with backpressure.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Callable, Optional
from urllib.parse import unquote_to_bytes

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import (
    IConsumer,
    IDelayedCall,
    IListeningPort,
    IPushProducer,
    IReactorTime,
    ITCPTransport,
)
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.client import FileBodyProducer
from twisted.web.iweb import IBodyProducer
from twisted.web.resource import Resource
from zope.interface import implementer

from twisted_proxy._twisted import (
    StreamingChannel,
    StreamingRequest,
    fill_headers,
    is_disconnected,
    set_header_verbatim,
    take_pending_writes,
    tcp_connection_of,
)
from twisted_proxy.backend.zerocopy import RelayHandle, SocketRelay, relayed_bytes
from twisted_proxy.interfaces import IMetrics, IProxyApplication, IZeroCopyConsumer
from twisted_proxy.swift.constraints import (
    DEFAULT_CONSTRAINTS,
    Constraints,
    filter_inbound_headers,
)
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse, wire_quote, wsgi_str
from twisted_proxy.swift.metrics import NULL_METRICS, metric_type
from twisted_proxy.swift.timestamp import http_date
from twisted_proxy.swift.transid import TRANS_ID_ENVIRON_KEY, make_trans_id, trans_id_suffix
from twisted_proxy.web.requestbody import ClientSocket, RequestBody

__all__ = ["ProxyChannel", "ProxyRequest", "ProxyResource", "ProxySite", "date_header",
           "to_swift_request"]

_log = Logger()


#: Bytes read from a client socket at once. Twisted reads 64 KiB; larger
#: reads mean fewer system calls per byte of an upload and larger writes to
#: the storage nodes (measured on a 512 MiB PUT: 1.72 -> 1.3 proxy CPU
#: seconds per GB, 192 -> 230 MB/s).
READ_SIZE = 256 * 1024


class ProxyChannel(StreamingChannel):
    """
    The proxy's HTTP/1.1 channel: a L{StreamingChannel} reading
    L{READ_SIZE} bytes at a time, with the line limits of the site's
    constraints (L{ProxySite.constraints}), counted among the site's
    clients, and with TCP keepalive probes after C{keep_idle} idle seconds.

    @ivar keep_idle: seconds a TCP connection may idle before the kernel
        probes it (C{TCP_KEEPIDLE}), or C{None} to leave it as it is.
    """

    keep_idle: Optional[int] = None
    _secure: Optional[bool] = None

    def connectionMade(self) -> None:
        super().connectionMade()
        # The socket's, under any TLS or PROXY protocol layer (whose own
        # getHandle is no socket).
        transport = _socket_transport(self.transport)
        if transport is not None and hasattr(transport, "bufferSize"):
            transport.bufferSize = READ_SIZE
        if self.keep_idle is not None and ITCPTransport.providedBy(transport):
            _keep_alive(transport, self.keep_idle)
        site = getattr(self, "site", None)
        if isinstance(site, ProxySite):
            site.client_connected(self)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        super().connectionLost(reason)
        site = getattr(self, "site", None)
        if isinstance(site, ProxySite):
            site.client_gone(self)

    def isSecure(self) -> bool:
        """
        As Twisted says (whether the transport is TLS), asked once a
        connection rather than adapted anew for every request.
        """
        secure = self._secure
        if secure is None:
            secure = self._secure = bool(super().isSecure())
        return secure

    def checkPersistence(self, request: Any, version: bytes) -> bool:
        """
        As Twisted decides, except while the site drains: then the
        response says C{Connection: close} and the connection closes after
        it.
        """
        site = getattr(self, "site", None)
        if isinstance(site, ProxySite) and site.draining:
            request.responseHeaders.setRawHeaders(b"Connection", [b"close"])
            return False
        return bool(super().checkPersistence(request, version))

    def close_after_response(self) -> None:
        """
        Close the connection once the response being made is written, if
        its headers are not written yet (they say C{Connection: close});
        otherwise the next request is answered so (L{checkPersistence}).
        A response whose headers promised to keep the connection open is
        never followed by closing it: the client may already be sending
        its next request.
        """
        for request in self.requests[:1]:
            if not request.startedWriting:
                request.responseHeaders.setRawHeaders(b"Connection", [b"close"])
                self.persistent = False

    def idle_timed_out(self) -> None:
        site = getattr(self, "site", None)
        if isinstance(site, ProxySite):
            site.idle_timeouts += 1

    def refusal_headers(self) -> list[tuple[bytes, bytes]]:
        """
        A fresh transaction id (L{ProxySite.new_trans_id}) for what the
        channel answers itself: the request never reached the pipeline,
        but every response of Swift's carries one.
        """
        site = getattr(self, "site", None)
        if not isinstance(site, ProxySite):
            return []
        return _trans_id_headers(site.new_trans_id())


def _trans_id_headers(trans_id: str) -> list[tuple[bytes, bytes]]:
    value = trans_id.encode("latin-1")
    return [(b"X-Trans-Id", value), (b"X-Openstack-Request-Id", value)]


def _stamp_trans_id(request: server.Request, trans_id: str) -> None:
    """
    Give a response the front end makes itself its transaction id.
    """
    for name, value in _trans_id_headers(trans_id):
        request.responseHeaders.setRawHeaders(name, [value])


def _request_trans_id(request: server.Request, environ: Optional[dict[str, Any]] = None
                      ) -> str:
    """
    The transaction id of a response the front end makes for C{request}:
    the one the pipeline gave it (in C{environ}), or a new one from its
    site, with the client's C{X-Trans-Id-Extra}.
    """
    if environ is not None and TRANS_ID_ENVIRON_KEY in environ:
        return environ[TRANS_ID_ENVIRON_KEY]  # type: ignore[no-any-return]
    site = request.site
    assert site is not None
    extra = request.requestHeaders.getRawHeaders(b"x-trans-id-extra")
    configured = site.trans_id_suffix if isinstance(site, ProxySite) else ""
    suffix = trans_id_suffix(configured, wsgi_str(extra[0]) if extra else None)
    return make_trans_id(site.reactor.seconds(), suffix)


def _socket_transport(transport: Any) -> Any:
    """
    The transport under C{transport}'s protocol wrappers (TLS, the PROXY
    protocol): the connection's own.
    """
    while isinstance(transport, ProtocolWrapper):
        transport = transport.transport
    return transport


def _keep_alive(transport: ITCPTransport, idle: int) -> None:
    """
    Turn TCP keepalive on for C{transport}, probing after C{idle} seconds
    where the platform can say so.
    """
    transport.setTcpKeepAlive(True)
    option = getattr(socket, "TCP_KEEPIDLE", None)
    handle = getattr(transport, "getHandle", lambda: None)()
    if option is not None and handle is not None:
        try:
            handle.setsockopt(socket.IPPROTO_TCP, option, idle)
        except OSError:
            pass


def date_header(now: Optional[float] = None) -> bytes:
    """
    C{now} (by default the time now) as a C{Date} header gives it
    (L{twisted_proxy.swift.timestamp.http_date}, which formats each second
    once rather than for every response).
    """
    return http_date(time.time() if now is None else now).encode("ascii")


class ProxyRequest(StreamingRequest):
    """
    A request whose responses carry no default C{Content-Type} and no
    C{Server} header, as Swift's, and whose PUT body streams into a
    L{RequestBody}. Every request, C{OPTIONS *} included, is rendered by
    the site's root resource.
    """

    defaultContentType = None

    def process(self) -> None:
        """
        Render this request with the site's resource. Unlike
        L{server.Request.process}, no C{Server} header names Twisted's
        version, and C{*} is no special target: Swift answers C{OPTIONS *}
        as any other path.
        """
        assert self.channel is not None
        site = self.site = self.channel.site  # type: ignore[attr-defined]
        self.setHeader(b"Date", date_header())
        self.prepath = []
        try:
            root = site.resource
            if root.isLeaf:
                # What getResourceFor finds (the proxy's root serves every
                # path), without walking the tree.
                self.sitepath: list[bytes] = []
                resource = root
            else:
                resource = site.getResourceFor(self)
            self.render(resource)
        except BaseException:
            self.processingFailed(Failure())

    @property
    def postpath(self) -> list[bytes]:
        """
        The path segments a resource tree has yet to consume: all of them,
        percent-decoded, before any has (as twisted.web sets them), made
        only when asked, since the proxy's leaf root never asks.
        """
        postpath = self.__dict__.get("_postpath")
        if postpath is None:
            postpath = self._postpath = [
                unquote_to_bytes(segment) for segment in self.path[1:].split(b"/")]
        return postpath

    @postpath.setter
    def postpath(self, value: list[bytes]) -> None:
        self._postpath = value

    def processingFailed(self, reason: Failure) -> None:
        """
        Twisted's C{500} for a request that could not be rendered, with a
        transaction id, as every response of the proxy.
        """
        _stamp_trans_id(self, _request_trans_id(self))
        super().processingFailed(reason)

    def body_receiver(self, method: bytes, length: Optional[int],
                     reading: IPushProducer) -> Optional[RequestBody]:
        """
        A L{RequestBody} for a PUT (with its L{ClientSocket} when it has a
        length), and for a POST of C{multipart/form-data}
        (a browser's form post, whose files may be large: twisted.web would
        collect it and parse it whole); other bodies (a POST's metadata, a
        bulk delete's list) are small and collected first. (A lower-case
        C{put} streams too: it is answered C{405} without its body being
        read.)
        """
        if method.upper() != b"PUT" and not (
                method.upper() == b"POST" and self._is_form_data()):
            return None
        # A PUT's consumer may take the rest of its body from the socket.
        client = ClientSocket(self) if method == b"PUT" and length is not None else None
        return RequestBody(reading, length, client)

    def _is_form_data(self) -> bool:
        content_type = self.requestHeaders.getRawHeaders(b"content-type") or [b""]
        return content_type[0].split(b";", 1)[0].strip().lower() == b"multipart/form-data"


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


def _is_https(request: server.Request) -> bool:
    """
    Whether C{request} came over HTTPS: TLS here, or ended in front of the
    proxy by what sent a PROXY protocol header (for port 443).
    """
    if request.isSecure():
        return True
    channel = getattr(request, "channel", None)
    return bool(getattr(getattr(channel, "transport", None), "forwarded_https", False))


def to_swift_request(request: server.Request) -> SwiftRequest:
    """
    The L{SwiftRequest} for a twisted.web request, with the headers only the
    proxy may set removed.
    """
    headers = HeaderDict.from_wire(
        (name, b",".join(values)) for name, values in request.requestHeaders.getAllRawHeaders())
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
            "wsgi.url_scheme": "https" if _is_https(request) else "http",
            "HTTP_HOST": host,
            "REMOTE_ADDR": client_ip,
            "SERVER_NAME": wsgi_str(request.getRequestHostname()),
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
                 client_timeout: Optional[float] = None,
                 relay: Optional[SocketRelay] = None) -> None:
        """
        @param clock: for C{client_timeout}.
        @param client_timeout: seconds a client may go without reading a
            streamed body before it is dropped (and the body's backend
            connection with it); C{None} for no limit.
        @param relay: how bodies are relayed without copying (a body
            producer that can offers its socket to the client's plain TCP
            connection), or C{None} never to.
        """
        super().__init__()
        self._app = app
        self._clock = clock
        self._client_timeout = client_timeout
        self._relay = relay

    def render(self, request: server.Request) -> Any:
        swift_request = to_swift_request(request)
        d = self._app(swift_request)
        finished = request.notifyFinish()
        state: dict[str, Any] = {"body": None}

        def client_gone(failure: Failure) -> None:
            body = state["body"]
            if body is not None:
                body.stopProducing()
            d.cancel()

        finished.addErrback(client_gone)
        d.addCallback(self._respond, request, swift_request, state)
        d.addErrback(self._failed, request, swift_request.environ)
        return server.NOT_DONE_YET

    def _respond(
        self,
        response: SwiftResponse,
        request: server.Request,
        swift_request: SwiftRequest,
        state: dict[str, Any],
    ) -> Optional[Deferred[None]]:
        if is_disconnected(request):
            if not isinstance(response.body, bytes):
                response.body.stopProducing()
            return None
        request.setResponseCode(response.status, response.reason.encode("latin-1"))
        connection = request.getHeader(b"connection")
        closing = request.responseHeaders.getRawHeaders(b"Connection") == [b"close"]
        # find, not `in`: `in` first tries the bytes as an integer and fails.
        if connection is not None and connection.lower().find(b"keep-alive") >= 0 and not closing:
            # As Swift's server: a client asking for keep-alive is told so.
            request.responseHeaders.setRawHeaders(b"Connection", [b"keep-alive"])
        if response.headers.verbatim:
            for name, value in response.headers.wire_items():
                set_header_verbatim(request.responseHeaders, name.encode("latin-1"),
                                    value.encode("latin-1"))
        else:
            fill_headers(request.responseHeaders, response.headers.wire_items())
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
                                lambda: _timed_out(request, swift_request))
        state["body"] = body
        request.registerProducer(body, True)
        consumer: Any = request
        if self._relay is not None:
            consumer = _ClientConsumer(request, self._relay, self._client_timeout or 3600.0)
        streaming = body.startProducing(consumer)

        def done(_: Any) -> None:
            state["body"] = None
            if not is_disconnected(request):
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

    def _failed(self, failure: Failure, request: server.Request,
                environ: dict[str, Any]) -> None:
        if failure.check(CancelledError):
            return
        _log.failure("Unhandled error answering a request", failure)
        if is_disconnected(request):
            return
        if request.startedWriting:  # type: ignore[attr-defined]
            _abort(request)
            return
        request.setResponseCode(500)
        request.setHeader(b"Content-Length", b"0")
        _stamp_trans_id(request, _request_trans_id(request, environ))
        request.finish()


@implementer(IConsumer, IZeroCopyConsumer)
class _ClientConsumer:
    """
    A request as the consumer of its response body, which may also take the
    body's remaining bytes straight from a backend socket when the client's
    connection is plain TCP (not TLS) and a relay thread is free.
    """

    def __init__(self, request: server.Request, relay: SocketRelay,
                 client_timeout: float) -> None:
        self._request = request
        self._relay = relay
        self._client_timeout = client_timeout

    def write(self, data: bytes) -> None:
        self._request.write(data)

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self._request.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self._request.unregisterProducer()

    def relay_from(self, source: int, count: int, read_timeout: float
                   ) -> Optional[RelayHandle]:
        request = self._request
        channel = request.channel
        if (is_disconnected(request) or channel is None or request.method == b"HEAD"
                or not self._relay.available()):
            return None
        connection = tcp_connection_of(channel.transport)
        if connection is None or connection.disconnecting:
            return None
        if not request.startedWriting:
            request.write(b"")
        if request.chunked or request.finished:  # type: ignore[attr-defined]
            return None
        head = take_pending_writes(connection)
        # The relay watches the client instead: nothing passes through the
        # channel meanwhile to keep its idle timeout from firing.
        idle = channel.timeOut
        channel.setTimeout(None)
        handle = self._relay.start(source, connection.fileno(), count, head, read_timeout,
                                   self._client_timeout)

        def ended(result: Any) -> Any:
            request.sentLength += relayed_bytes(result)
            if not is_disconnected(request):
                channel.setTimeout(idle)
            return result

        handle.done.addBoth(ended)
        return handle


@implementer(IBodyProducer, IPushProducer)
class _ReaderWatch:
    """
    A response body, watched for a client that stops reading: paused (by
    the client's full connection) for longer than C{timeout}, the body is
    stopped and C{gone} is called. Twisted's own idle timeout only covers
    a client that stops sending.

    The watch ends when the body's C{startProducing} L{Deferred} fires or it
    is stopped: a body paused as it wrote its last bytes is no client that
    stopped reading.
    """

    def __init__(self, body: IBodyProducer, clock: IReactorTime, timeout: float,
                 gone: Callable[[], None]) -> None:
        self._body = body
        self._clock = clock
        self._timeout = timeout
        self._gone = gone
        self._timer: Optional[IDelayedCall] = None
        self._ended = False
        self.length = body.length

    def startProducing(self, consumer: Any) -> "Deferred[None]":
        producing: Deferred[None] = self._body.startProducing(consumer)
        return producing.addBoth(self._end)

    def _end(self, result: object) -> object:
        self._ended = True
        self._cancel()
        return result

    def pauseProducing(self) -> None:
        if self._timer is None and not self._ended:
            self._timer = self._clock.callLater(self._timeout, self._expired)
        self._body.pauseProducing()

    def resumeProducing(self) -> None:
        self._cancel()
        self._body.resumeProducing()

    def stopProducing(self) -> None:
        self._ended = True
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


def _timed_out(request: server.Request, swift_request: SwiftRequest) -> None:
    getattr(request, "site", ProxySite).metrics.client_timeout(metric_type(
        wire_quote(swift_request.path), swift_request.environ.get("swift.source"),
        ("v1", "v1.0")))
    _abort(request)


def _abort(request: server.Request) -> None:
    """
    Drop the client connection so that a short or corrupt body is never
    mistaken for a whole one.
    """
    # A finished request has no channel any more.
    channel = getattr(request, "channel", None)
    transport = channel.transport if channel is not None else None
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

    @ivar constraints: the constraints of C{swift.conf} whose limits the
        channels apply to request lines and headers: C{max_request_line},
        C{max_header_size}, and 1.6 times C{max_header_count} header lines
        (as many as Swift's server takes, its HTTP parser's header limit
        being raised for its backend responses).
    @ivar max_clients: the most client connections served at once (Swift's
        C{max_clients}): with that many open, the listening port stops
        accepting (new clients wait in its backlog) until one closes.
        C{None} for no limit.
    @ivar keep_idle: the channels' L{ProxyChannel.keep_idle}.
    @ivar trans_id_suffix: Swift's C{trans_id_suffix}, for the transaction
        ids of the responses the front end makes itself
        (L{new_trans_id}).
    @ivar clients: the client connections open now.
    @ivar draining: whether L{drain} was called: each connection closes
        after its current response.
    @ivar idle_timeouts: the client connections closed for idling longer
        than the site's timeout (C{client_timeout}), counted rather than
        logged one line each.
    """

    requestFactory = ProxyRequest
    protocol = ProxyChannel  # type: ignore[assignment]
    displayTracebacks = False
    #: Told of client connections opening and closing, and of clients
    #: dropped by C{client_timeout}.
    metrics: IMetrics = NULL_METRICS

    def __init__(self, resource: Resource, constraints: Constraints = DEFAULT_CONSTRAINTS,
                 max_clients: Optional[int] = None, keep_idle: Optional[int] = None,
                 trans_id_suffix: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("logPath", None)
        super().__init__(resource, **kwargs)
        self.noisy = False
        self.constraints = constraints
        self.max_clients = max_clients
        self.keep_idle = keep_idle
        self.trans_id_suffix = trans_id_suffix
        self.clients = 0
        self.idle_timeouts = 0
        self.draining = False
        self._channels: set[ProxyChannel] = set()
        self._drained: list[Deferred[None]] = []
        self._port: Optional[IListeningPort] = None
        self._accepting = True

    def new_trans_id(self) -> str:
        """
        A transaction id for a response the channel makes before it has a
        request (L{ProxyChannel.refusal_headers}), minted now (the site's
        reactor) with L{trans_id_suffix}.
        """
        return make_trans_id(self.reactor.seconds(), self.trans_id_suffix)

    def listening(self, port: Optional[IListeningPort]) -> None:
        """
        The port the site is served on (C{None} once it stops listening):
        what L{max_clients} pauses.
        """
        self._port = port
        self._accepting = True
        self._pace()

    def client_connected(self, channel: Optional[ProxyChannel] = None) -> None:
        """
        A client connection (C{channel}) was made.
        """
        self.clients += 1
        if channel is not None:
            self._channels.add(channel)
            if self.draining:
                channel.close_after_response()
        self.metrics.client_connections(1)
        self._pace()

    def client_gone(self, channel: Optional[ProxyChannel] = None) -> None:
        """
        A client connection (C{channel}) was closed.
        """
        self.clients -= 1
        self._channels.discard(channel)  # type: ignore[arg-type]
        self.metrics.client_connections(-1)
        self._pace()
        if self.draining and self.clients <= 0:
            drained, self._drained = self._drained, []
            for waiting in drained:
                waiting.callback(None)

    def drain(self) -> Deferred[None]:
        """
        Finish what the open connections have begun, and begin nothing
        more: from now on each connection closes after its current
        response (L{ProxyChannel.close_after_response}); an idle one at
        its next request, or when it times out (C{timeOut}). Accepting is
        the listening port's business: stop it first.

        @return: fires once no client connection is open.
        """
        self.draining = True
        for channel in list(self._channels):
            channel.close_after_response()
        drained: Deferred[None] = Deferred()
        if self.clients <= 0:
            drained.callback(None)
        else:
            self._drained.append(drained)
        return drained

    def _pace(self) -> None:
        port = self._port
        if port is None or self.max_clients is None:
            return
        full = self.clients >= self.max_clients
        # A TCP port is a file descriptor that can stop and start reading
        # (accepting); another kind of port is left accepting.
        if full and self._accepting and hasattr(port, "stopReading"):
            port.stopReading()
            self._accepting = False
        elif not full and not self._accepting and hasattr(port, "startReading"):
            port.startReading()
            self._accepting = True

    def buildProtocol(self, addr: Any) -> Any:
        channel = super().buildProtocol(addr)
        if isinstance(channel, StreamingChannel):
            limits = self.constraints
            channel.max_request_line = limits.max_request_line
            channel.max_header_line = limits.max_header_size
            # Swift's parser counts the blank line that ends the headers.
            channel.max_header_lines = int(limits.max_header_count * 1.6) - 1
        if isinstance(channel, ProxyChannel):
            channel.keep_idle = self.keep_idle
        return channel

    def log(self, request: Any) -> None:
        """
        Access logging belongs to the C{proxy-logging} plugin.
        """
