# -*- test-case-name: tests.test_getfailover -*-
"""
An in-memory Swift cluster for testing the proxy's read path without
sockets or the global reactor.

L{FakeCluster} holds a fixed ring (one partition: primaries, then
handoffs), storage nodes whose answers and faults each test scripts
(L{FakeNode}), and an L{IAgent} (L{FakeAgent}) that carries the proxy's
L{NodeClient} requests to them.

Each backend response is a real client L{Response} of Twisted's HTTP client
over a L{FakeConnection}, which behaves as the client's connection would:
paused from the headers until C{deliverBody}; one body chunk per reactor
turn of the test's L{Clock} while it is not paused; the body's end noticed
with its last byte, but a closed or reset connection only while reading;
a connection the proxy closes reported lost one turn later, the body then
ending with L{ResponseFailed}. C{clock.advance(0)} runs every exchange that
is ready; a stalled node leaves nothing scheduled, so the proxy's read
timeout is the only timer left.

L{make_proxy} builds a real L{ProxyContext} and L{ProxyApplication} over a
cluster. L{Download} reads a response as a client would, calling the body
producer directly; L{ClientConnection} drives the real L{ProxySite} over a
L{StringTransport}, to see what reaches the client's socket.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Union
from urllib.parse import unquote, urlsplit

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import (
    ConnectionAborted,
    ConnectionDone,
    ConnectionLost,
    ConnectionRefusedError,
)
from twisted.internet.interfaces import IDelayedCall, IPushProducer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web._newclient import Response, TransportProxyProducer, _DataLoss
from twisted.web.client import ResponseFailed
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH, IAgent, IBodyProducer, IResponse
from zope.interface import implementer

from tests.doubles import make_node
from twisted_proxy.backend.nodeclient import NodeClient, node_key
from twisted_proxy.config import ProxySettings
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse, status_reason
from twisted_proxy.swift.ranges import parse_range_header, resolve
from twisted_proxy.swift.ring import Node
from twisted_proxy.swift.swiftconf import REPLICATION, StoragePolicy, SwiftConf
from twisted_proxy.swift.timestamp import Timestamp, http_date
from twisted_proxy.web.app import ProxyApplication
from twisted_proxy.web.server import ProxyResource, ProxySite

__all__ = [
    "PART",
    "InRingOrder",
    "FakeRing",
    "FakeRingSet",
    "make_swift_conf",
    "StoredObject",
    "render_object",
    "Stall",
    "Short",
    "Die",
    "Fault",
    "Reply",
    "NodeRequest",
    "FakeConnection",
    "FakeNode",
    "FakeAgent",
    "FakeCluster",
    "Proxy",
    "make_proxy",
    "Download",
    "ClientConnection",
]

#: The one partition every name maps to.
PART = 17

#: The boundary the fake object servers use for multipart/byteranges.
BOUNDARY = "fakeboundary0123"


class InRingOrder(random.Random):
    """
    A random source whose C{shuffle} leaves lists alone: patched over
    L{twisted_proxy.backend.nodes._RANDOM}, the proxy tries primaries in ring
    order, so a test knows which node is asked first.
    """

    def shuffle(self, x: Any, *args: Any, **kwargs: Any) -> None:
        pass


# -- the ring -----------------------------------------------------------


def _device(index: int, ip: str, port: int, device: str) -> Node:
    return make_node(
        ip, port, device, id=index, index=index, region=1, zone=index + 1,
        replication_ip=ip, replication_port=port, weight=100.0, meta="",
    )


class FakeRing:
    """
    A ring of one partition, L{PART}: C{primaries}, then C{handoffs} (each
    marked with C{handoff_index}, as Swift's ring marks them).
    """

    def __init__(self, primaries: list[Node], handoffs: list[Node]) -> None:
        self._primaries = primaries
        self._handoffs = handoffs

    @property
    def replica_count(self) -> float:
        return float(len(self._primaries))

    def get_part(self, account: Union[str, bytes],
                 container: Union[str, bytes, None] = None,
                 obj: Union[str, bytes, None] = None) -> int:
        return PART

    def get_part_nodes(self, part: int) -> list[Node]:
        assert part == PART, part
        return [node.copy() for node in self._primaries]

    def get_more_nodes(self, part: int) -> Iterator[Node]:
        assert part == PART, part
        for index, node in enumerate(self._handoffs):
            yield {**node, "handoff_index": index}


class FakeRingSet:
    """
    The rings of a cluster: C{account}, C{container} and one object ring
    (policy 0).
    """

    def __init__(self, account: FakeRing, container: FakeRing, obj: FakeRing) -> None:
        self.account = account
        self.container = container
        self._object = obj

    def object_ring(self, policy_index: int) -> FakeRing:
        assert policy_index == 0, policy_index
        return self._object


def make_swift_conf() -> SwiftConf:
    """
    A C{swift.conf} with one replicated policy, C{gold}, index 0.
    """
    gold = StoragePolicy(0, "gold", ("gold",), True, False, REPLICATION, "object")
    return SwiftConf(b"", b"suffix", (gold,), {})


# -- what nodes store and send --------------------------------------------


@dataclass(frozen=True)
class StoredObject:
    """
    One version of an object as a storage node holds it.

    @ivar timestamp: its X-Timestamp, in internal form (an offset allowed).
    """

    data: bytes
    timestamp: str = "1700000000.00000"
    content_type: str = "application/octet-stream"
    etag: Optional[str] = None

    @property
    def md5(self) -> str:
        return self.etag or hashlib.md5(self.data).hexdigest()

    def headers(self) -> dict[str, str]:
        """
        The headers an object server sends with this object.
        """
        stamp = Timestamp(self.timestamp)
        return {
            "Content-Type": self.content_type,
            "Etag": f'"{self.md5}"',
            "X-Timestamp": stamp.normal,
            "X-Backend-Timestamp": stamp.internal,
            "X-Backend-Data-Timestamp": stamp.internal,
            "Last-Modified": http_date(stamp),
            "Accept-Ranges": "bytes",
        }


def render_object(obj: StoredObject, range_header: Optional[str]
                  ) -> tuple[int, dict[str, str], bytes]:
    """
    What an object server answers to a GET of C{obj} with C{range_header},
    as Swift's swob does: 200 without a usable Range; 206 with
    C{Content-Range} for one satisfiable range; a C{multipart/byteranges}
    206 for several; 416 when no range is satisfiable.
    """
    headers = obj.headers()
    size = len(obj.data)
    ranges = parse_range_header(range_header)
    if not ranges:
        return 200, headers, obj.data
    spans = [span for span in (resolve(r, size) for r in ranges) if span is not None]
    if not spans:
        headers["Content-Range"] = f"bytes */{size}"
        headers["Content-Type"] = "text/html; charset=UTF-8"
        return 416, headers, (b"<html><h1>Requested Range Not Satisfiable</h1>"
                              b"<p>The Range requested is not available.</p></html>")
    if len(spans) == 1:
        first, last = spans[0]
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        return 206, headers, obj.data[first:last + 1]
    parts = []
    for first, last in spans:
        parts.append(
            f"--{BOUNDARY}\r\nContent-Type: {obj.content_type}\r\n"
            f"Content-Range: bytes {first}-{last}/{size}\r\n\r\n".encode("ascii")
            + obj.data[first:last + 1] + b"\r\n")
    parts.append(f"--{BOUNDARY}--".encode("ascii"))
    headers["Content-Type"] = f"multipart/byteranges;boundary={BOUNDARY}"
    return 206, headers, b"".join(parts)


@dataclass(frozen=True)
class Stall:
    """
    Send the first C{after} body bytes, then nothing, never ending.
    """

    after: int


@dataclass(frozen=True)
class Short:
    """
    Send the first C{after} body bytes (fewer than announced), then close
    the connection: the client sees data loss. With C{clean}, the body ends
    instead as if whole (what a broken framing would look like).
    """

    after: int
    clean: bool = False


@dataclass(frozen=True)
class Die:
    """
    Send the first C{after} body bytes, then the connection is reset.
    """

    after: int


Fault = Union[Stall, Short, Die]


@dataclass
class Reply:
    """
    A node's answer: status, headers and body, and how the body is sent.

    @ivar chunked: no C{Content-Length} (the body's length is unknown).
    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    fault: Optional[Fault] = None
    chunked: bool = False


@dataclass
class NodeRequest:
    """
    A request a fake node received.

    @ivar connection: its connection, once the node answered.
    @ivar cancelled: the proxy gave up before the headers came.
    """

    node: "FakeNode"
    method: str
    path: str
    query: str
    headers: HeaderDict
    connection: Optional["FakeConnection"] = None
    cancelled: bool = False

    @property
    def range(self) -> Optional[str]:
        return self.headers.get("Range")


# -- connections -----------------------------------------------------------


@implementer(IPushProducer)
class FakeConnection:
    """
    The connection one backend response arrives on.

    The node's side queues body bytes (L{send}) and says how the body ends
    (L{end}); the proxy's side reaches it through the response's transport
    (pause, resume, lose).

    @ivar state: C{"open"}; C{"finished"} once the whole body was read (the
        connection is then the pool's, and closing the response's transport
        no longer reaches it); C{"lost"} once closed.
    @ivar dropped: the proxy closed the connection before the body ended.
    @ivar delivered: body bytes handed to the response.

    @param interval: seconds between two chunks (a slow node).
    """

    def __init__(self, clock: Clock, request: NodeRequest, chunk_size: int,
                 interval: float = 0) -> None:
        self._clock = clock
        self.request = request
        self._chunk_size = chunk_size
        self._interval = interval
        self.paused = True
        self.state = "open"
        self.dropped = False
        self.delivered = 0
        self._closing = False
        self._queue = bytearray()
        self._ending: Optional[str] = None
        self._turn: Optional[IDelayedCall] = None
        self._transport = TransportProxyProducer(self)
        self.response: Optional[Response] = None

    def __repr__(self) -> str:
        return (f"<FakeConnection {node_key(self.request.node.ring_node)} "
                f"{self.request.method} {self.request.range} {self.state}>")

    def answer(self, status: int, headers: dict[str, str], length: Any) -> Response:
        raw = Headers()
        for name, value in headers.items():
            raw.setRawHeaders(name.encode("latin-1"), [value.encode("latin-1")])
        response = Response._construct(
            (b"HTTP", 1, 1), status, status_reason(status).encode("latin-1"),
            raw, self._transport, None)
        response.length = length
        self.response = response
        return response

    @property
    def open(self) -> bool:
        return self.state == "open"

    # -- the node's side ---------------------------------------------------

    def send(self, data: bytes) -> None:
        """
        Queue C{data} for the proxy to read.
        """
        self._queue += data
        self._schedule()

    def end(self, how: str) -> None:
        """
        End the body once the queue is read: C{"done"} (the body is
        complete, or believed to be), C{"fin"} (the node closes the
        connection) or C{"reset"}.
        """
        self._ending = how
        if how == "done" and not self._queue:
            # Nothing more to read: the client notices at once.
            self._finish()
        else:
            self._schedule()

    def _schedule(self) -> None:
        if (self._turn is None and self.state == "open" and not self.paused
                and not self._closing):
            self._turn = self._clock.callLater(self._interval, self._readable)

    def _readable(self) -> None:
        self._turn = None
        if self.state != "open" or self.paused or self._closing:
            return
        assert self.response is not None
        if self._queue:
            chunk = bytes(self._queue[:self._chunk_size])
            del self._queue[:self._chunk_size]
            self.delivered += len(chunk)
            self.response._bodyDataReceived(chunk)
            if not self._queue and self._ending == "done" and self.state == "open":
                self._finish()
            else:
                self._schedule()
            return
        if self._ending == "fin":
            self._lost(ConnectionDone("node closed the connection"))
        elif self._ending == "reset":
            self._lost(ConnectionLost("connection reset by node"))

    def _finish(self) -> None:
        assert self.response is not None
        self.state = "finished"
        # As HTTP11ClientProtocol: the response's transport stops reaching
        # the connection before the body is told it ended.
        self._transport.stopProxying()
        self.response._bodyDataFinished()

    def _lost(self, reason: Exception) -> None:
        assert self.response is not None
        self.state = "lost"
        if self._turn is not None:
            self._turn.cancel()
            self._turn = None
        self._transport.stopProxying()
        self.response._bodyDataFinished(Failure(ResponseFailed(
            [Failure(reason), Failure(_DataLoss())], self.response)))

    # -- the proxy's side (IPushProducer, and closing) ----------------------

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        self._schedule()

    def stopProducing(self) -> None:
        self.loseConnection()

    def loseConnection(self) -> None:
        self._close(ConnectionDone("proxy closed the connection"))

    def abortConnection(self) -> None:
        self._close(ConnectionAborted())

    def _close(self, reason: Exception) -> None:
        if self.state != "open" or self._closing:
            return
        self._closing = True
        self.dropped = True
        self._clock.callLater(0, self._closed, reason)

    def _closed(self, reason: Exception) -> None:
        if self.state == "open":
            self._lost(reason)


# -- nodes -------------------------------------------------------------------


Handler = Callable[[NodeRequest], Reply]


def _not_found(request: NodeRequest) -> Reply:
    return Reply(404, {"Content-Type": "text/html; charset=UTF-8"},
                 b"<html><h1>Not Found</h1></html>")


def _container_ok(request: NodeRequest) -> Reply:
    return Reply(204, {"X-Backend-Storage-Policy-Index": "0",
                       "X-Container-Object-Count": "1",
                       "X-Container-Bytes-Used": "1",
                       "X-Put-Timestamp": "1600000000.00000",
                       "X-Timestamp": "1600000000.00000"})


class FakeNode:
    """
    A storage node (one device). What it answers is set by the test; by
    default an object node has nothing (404 without a timestamp).

    @ivar ring_node: the ring's device C{dict} for it.
    @ivar requests: what it received, in order.
    """

    def __init__(self, cluster: "FakeCluster", ring_node: Node,
                 handler: Handler = _not_found) -> None:
        self._cluster = cluster
        self.ring_node = ring_node
        self.handler: Handler = handler
        self.requests: list[NodeRequest] = []
        self.refusing = False
        self.hanging = False
        #: Seconds before the headers are sent.
        self.latency = 0.0
        #: Seconds between two body chunks.
        self.interval = 0.0

    def __repr__(self) -> str:
        return f"<FakeNode {node_key(self.ring_node)}>"

    # -- scripting -------------------------------------------------------

    def serve(self, obj: StoredObject, fault: Optional[Fault] = None,
              chunked: bool = False, ignore_range: bool = False) -> "FakeNode":
        """
        Hold C{obj}: answer GET (honouring C{Range}, unless C{ignore_range})
        and HEAD for it, the GET body sent with C{fault} (and without
        C{Content-Length} when C{chunked}).
        """
        def handle(request: NodeRequest) -> Reply:
            status, headers, body = render_object(
                obj, None if ignore_range else request.range)
            if request.method == "HEAD":
                headers["Content-Length"] = str(len(body))
                return Reply(status, headers, b"")
            return Reply(status, headers, body, fault, chunked)

        self.handler = handle
        return self

    def answer(self, status: int, headers: Optional[dict[str, str]] = None,
               body: bytes = b"") -> "FakeNode":
        """
        Answer every request with C{status}, C{headers} and C{body}.
        """
        self.handler = lambda request: Reply(status, dict(headers or {}), body)
        return self

    def tombstone(self, timestamp: str) -> "FakeNode":
        """
        Hold a deletion made at C{timestamp}: 404 with
        C{X-Backend-Timestamp}.
        """
        return self.answer(404, {"X-Backend-Timestamp": timestamp,
                                 "Content-Type": "text/html; charset=UTF-8"})

    def refuse(self) -> "FakeNode":
        """
        Refuse connections.
        """
        self.refusing = True
        return self

    def hang(self) -> "FakeNode":
        """
        Accept requests and never send the headers.
        """
        self.hanging = True
        return self

    @property
    def last_connection(self) -> FakeConnection:
        """
        The connection of the last request this node answered.
        """
        connection = self.requests[-1].connection
        assert connection is not None, "the last request was not answered"
        return connection

    # -- answering -------------------------------------------------------

    def receive(self, request: NodeRequest) -> "Deferred[IResponse]":
        clock = self._cluster.clock
        self.requests.append(request)
        turns: list[IDelayedCall] = []

        def cancel(d: "Deferred[IResponse]") -> None:
            request.cancelled = True
            for turn in turns:
                if turn.active():
                    turn.cancel()
            connection = request.connection
            if connection is not None:
                connection.loseConnection()

        d: Deferred[IResponse] = Deferred(cancel)
        if self.hanging:
            return d
        if self.refusing:
            turns.append(clock.callLater(
                0, lambda: d.errback(Failure(ConnectionRefusedError()))))
            return d
        reply = self.handler(request)
        connection = FakeConnection(clock, request, self._cluster.chunk_size,
                                    self.interval)
        request.connection = connection
        headers = dict(reply.headers)
        if reply.chunked:
            length: Any = UNKNOWN_LENGTH
            headers.pop("Content-Length", None)
            headers["Transfer-Encoding"] = "chunked"
        else:
            length = int(headers.setdefault("Content-Length", str(len(reply.body))))
        if request.method == "HEAD" or reply.status in (204, 304):
            length = 0
        response = connection.answer(reply.status, headers, length)
        if length == 0:
            connection.end("done")
        else:
            _send_body(connection, reply)
        turns.append(clock.callLater(self.latency, d.callback, response))
        return d


def _send_body(connection: FakeConnection, reply: Reply) -> None:
    fault = reply.fault
    if fault is None or (not reply.chunked and fault.after >= len(reply.body)):
        # With its length known, a body is over with its last byte, whatever
        # the node does next.
        connection.send(reply.body)
        connection.end("done")
        return
    connection.send(reply.body[:fault.after])
    if isinstance(fault, Short):
        connection.end("done" if fault.clean else "fin")
    elif isinstance(fault, Die):
        connection.end("reset")


@implementer(IAgent)
class FakeAgent:
    """
    An L{IAgent} whose requests reach the cluster's fake nodes: the node is
    found by the URL's host and port and the path's device.
    """

    def __init__(self, cluster: "FakeCluster") -> None:
        self._cluster = cluster

    def request(self, method: bytes, uri: bytes, headers: Optional[Headers] = None,
                bodyProducer: Optional[IBodyProducer] = None) -> "Deferred[IResponse]":
        parts = urlsplit(uri.decode("latin-1"))
        device = unquote(parts.path.split("/")[1])
        node = self._cluster.node_at(parts.hostname or "", parts.port or 80, device)
        request_headers = HeaderDict()
        for name, values in (headers or Headers()).getAllRawHeaders():
            request_headers[name.decode("latin-1")] = values[-1].decode("latin-1")
        request = NodeRequest(node, method.decode("ascii"), parts.path, parts.query,
                              request_headers)
        self._cluster.requests.append(request)
        return node.receive(request)


class FakeCluster:
    """
    Account, container and object nodes for one partition, and the agent
    that reaches them.

    @param replicas: object primaries.
    @param handoffs: object handoffs.
    @param chunk_size: the most body bytes one reactor turn delivers.
    @ivar objects: the object nodes, primaries first, in ring order.
    @ivar requests: every request any node received, in order.
    """

    def __init__(self, clock: Clock, replicas: int = 3, handoffs: int = 3,
                 chunk_size: int = 7) -> None:
        self.clock = clock
        self.chunk_size = chunk_size
        self.requests: list[NodeRequest] = []
        self._nodes: dict[str, FakeNode] = {}
        self.objects = [
            self._add(_device(i, f"10.0.0.{i + 1}", 6200, "sdb"))
            for i in range(replicas + handoffs)
        ]
        self.containers = [
            self._add(_device(i, f"10.0.1.{i + 1}", 6201, "sdc"), _container_ok)
            for i in range(3)
        ]
        self.accounts = [
            self._add(_device(i, f"10.0.2.{i + 1}", 6202, "sdd"),
                      lambda request: Reply(204, {"X-Put-Timestamp": "1600000000.00000"}))
            for i in range(3)
        ]
        object_nodes = [node.ring_node for node in self.objects]
        self.rings = FakeRingSet(
            FakeRing([node.ring_node for node in self.accounts], []),
            FakeRing([node.ring_node for node in self.containers], []),
            FakeRing(object_nodes[:replicas], object_nodes[replicas:]),
        )
        self.agent = FakeAgent(self)

    def _add(self, ring_node: Node, handler: Handler = _not_found) -> FakeNode:
        node = FakeNode(self, ring_node, handler)
        self._nodes[node_key(ring_node)] = node
        return node

    @property
    def primaries(self) -> list[FakeNode]:
        return self.objects[:int(self.rings.object_ring(0).replica_count)]

    @property
    def handoffs(self) -> list[FakeNode]:
        return self.objects[int(self.rings.object_ring(0).replica_count):]

    def node_at(self, ip: str, port: int, device: str) -> FakeNode:
        return self._nodes[f"{ip}:{port}/{device}"]

    def serve(self, obj: StoredObject) -> None:
        """
        Every primary holds C{obj}.
        """
        for node in self.primaries:
            node.serve(obj)

    def object_requests(self, method: str = "GET") -> list[NodeRequest]:
        """
        The requests object nodes received with C{method}, in order.
        """
        return [r for r in self.requests
                if r.method == method and r.node in self.objects]

    def open_connections(self) -> list[FakeConnection]:
        """
        Connections neither read to their end nor closed: leaks, once the
        test is over.
        """
        return [r.connection for r in self.requests
                if r.connection is not None and r.connection.open]

    def pending_requests(self) -> list[NodeRequest]:
        """
        Requests still waiting for headers that nobody cancelled.
        """
        return [r for r in self.requests
                if r.node.hanging and not r.cancelled]


# -- the proxy -----------------------------------------------------------------


class Proxy:
    """
    A real L{ProxyApplication} over a L{FakeCluster}.
    """

    def __init__(self, clock: Clock, cluster: FakeCluster, settings: ProxySettings) -> None:
        self.clock = clock
        self.cluster = cluster
        self.settings = settings
        client = NodeClient(clock, settings.node_timeout, settings.conn_timeout,
                            agent=cluster.agent)
        self.context = ProxyContext(clock, settings, make_swift_conf(),
                                    cluster.rings,  # type: ignore[arg-type]
                                    client, MemoryInfoStore(clock))
        self.app = ProxyApplication(self.context)

    def request(self, method: str, path: str,
                headers: Optional[dict[str, str]] = None) -> "Deferred[SwiftResponse]":
        """
        Send a request to the application and run every exchange that is
        ready.
        """
        swift_request = SwiftRequest(method, path.encode("latin-1"),
                                     HeaderDict(headers or {}))
        d = self.app(swift_request)
        self.clock.advance(0)
        return d

    def get(self, path: str = "/v1/a/c/o", headers: Optional[dict[str, str]] = None,
            slow: bool = False) -> "Download":
        """
        GET C{path} and start reading the body as a client would.

        @param slow: a client whose socket fills after every write (see
            L{Download}).
        @raise AssertionError: when the response is not ready yet.
        """
        d = self.request("GET", path, headers)
        got: list[Any] = []
        d.addBoth(got.append)
        assert got, "no response yet"
        if isinstance(got[0], Failure):
            got[0].raiseException()
        download = Download(self.clock, got[0], slow)
        self.clock.advance(0)
        return download


def make_proxy(clock: Clock, cluster: FakeCluster, **settings: Any) -> Proxy:
    """
    A proxy over C{cluster}: node timeout 10s, recoverable node timeout
    2s unless C{settings} says otherwise.
    """
    settings.setdefault("node_timeout", 10.0)
    settings.setdefault("recoverable_node_timeout", 2.0)
    return Proxy(clock, cluster, ProxySettings(**settings))


class Download:
    """
    A client reading one response: the consumer of its body producer.

    @param slow: after every write, the client's socket is full: the
        producer is paused, and resumed a reactor turn later.
    @ivar received: the body bytes written, in order.
    @ivar outcome: C{None} while the body is streaming; C{True} once it
        finished; the L{Failure} it failed with.
    """

    def __init__(self, clock: Clock, response: SwiftResponse, slow: bool = False) -> None:
        self._clock = clock
        self.response = response
        self.received = bytearray()
        self.outcome: Union[None, bool, Failure] = None
        self._slow = slow
        self._producer: Any = None
        body = response.body
        if isinstance(body, bytes):
            self.received += body
            self.outcome = True
        else:
            self._producer = body
            body.startProducing(self).addCallbacks(self._done, self._failed)

    @property
    def status(self) -> int:
        return self.response.status

    @property
    def headers(self) -> HeaderDict:
        return self.response.headers

    @property
    def body(self) -> bytes:
        return bytes(self.received)

    @property
    def finished(self) -> bool:
        return self.outcome is True

    @property
    def failure(self) -> Optional[Failure]:
        return self.outcome if isinstance(self.outcome, Failure) else None

    def _done(self, _: object) -> None:
        self.outcome = True

    def _failed(self, failure: Failure) -> None:
        self.outcome = failure

    def disconnect(self) -> None:
        """
        The client goes away.
        """
        if self._producer is not None:
            self._producer.stopProducing()

    def pause(self) -> None:
        """
        The client's socket is full.
        """
        self._producer.pauseProducing()

    def resume(self) -> None:
        """
        The client's socket has room again.
        """
        self._producer.resumeProducing()

    # IConsumer
    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self._producer = producer

    def unregisterProducer(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        self.received += data
        if self._slow and self.outcome is None and self._producer is not None:
            self._producer.pauseProducing()
            self._clock.callLater(0, self._drained)

    def _drained(self) -> None:
        if self.outcome is None and self._producer is not None:
            self._producer.resumeProducing()


class _ClientTransport(StringTransport):
    """
    The client's socket: records whether the server aborted it, and tells
    the channel its connection is lost a reactor turn after it closes.
    """

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock
        self.aborted = False
        self.protocol: Any = None

    def loseConnection(self) -> None:
        if not self.disconnecting:
            super().loseConnection()
            self._clock.callLater(0, self._gone, ConnectionDone())

    def abortConnection(self) -> None:
        if not self.aborted:
            self.aborted = True
            super().loseConnection()
            self._clock.callLater(0, self._gone, ConnectionAborted())

    def _gone(self, reason: Exception) -> None:
        if self.protocol is not None:
            protocol, self.protocol = self.protocol, None
            protocol.connectionLost(Failure(reason))


class ClientConnection:
    """
    One client connection to the real L{ProxySite} serving C{proxy}.
    """

    def __init__(self, proxy: Proxy, client_timeout: Optional[float] = None) -> None:
        self._clock = proxy.clock
        site = ProxySite(ProxyResource(proxy.app, proxy.clock, client_timeout),
                         reactor=proxy.clock, timeout=None)
        self.channel = site.buildProtocol(IPv4Address("TCP", "192.168.1.1", 54321))
        self.transport = _ClientTransport(proxy.clock)
        self.transport.protocol = self.channel
        self.channel.makeConnection(self.transport)  # type: ignore[union-attr]

    def send(self, method: str, path: str, headers: Optional[dict[str, str]] = None) -> None:
        """
        Send a request and run every exchange that is ready.
        """
        lines = [f"{method} {path} HTTP/1.1", "Host: proxy"]
        lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.channel.dataReceived(raw)  # type: ignore[union-attr]
        self._clock.advance(0)

    def disconnect(self) -> None:
        """
        The client closes its socket.
        """
        self.transport.loseConnection()
        self._clock.advance(0)

    @property
    def aborted(self) -> bool:
        return self.transport.aborted

    def response(self) -> tuple[int, dict[str, str], bytes]:
        """
        The status, headers (lower-cased names) and body bytes received.
        """
        head, _, body = self.transport.value().partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers, body
