# -*- test-case-name: tests.test_ec_putter -*-
"""
One fragment archive PUT to one object server, over a connection of its
own.

Twisted's HTTP client cannot hold the conversation an erasure-coded PUT
needs: the object server answers C{100 Continue} twice (once to invite the
body, once to say the archive is on disk) and the proxy decides what to
send after each. L{MIMEPutter} speaks that HTTP/1.1 exchange itself: it
sends the request head, reports each response (interim or final) as it
arrives, and writes the chunked MIME body (L{twisted_proxy.swift.ec.mime})
with flow control: while the connection's send buffer is full the putter
is I{paused}, and the upload pauses its source.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectingCancelledError
from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_proxy.backend.nodeclient import NodeError, NodeTimeout
from twisted_proxy.swift.ec.mime import LAST_CHUNK, body_start, chunk, commit_part, footer_part
from twisted_proxy.swift.http import HeaderDict, wsgi_str
from twisted_proxy.swift.ring import Node

__all__ = ["MIMEPutter", "PutterResponse", "connect_putter"]

# A response head longer than this is not an object server's.
_MAX_HEAD = 65536


@dataclass
class PutterResponse:
    """
    One response of the exchange: an interim C{100 Continue} or the final
    answer (body read).
    """

    status: int
    reason: str
    headers: HeaderDict = field(default_factory=HeaderDict)
    body: bytes = b""

    @property
    def interim(self) -> bool:
        return 100 <= self.status < 200


@implementer(IPushProducer)
class MIMEPutter(Protocol):
    """
    The client side of one fragment archive PUT.

    @param clock: for the write timeout.
    @param node: the ring device it talks to.
    @param boundary: the MIME boundary of the body.
    @param write_timeout: seconds the connection may refuse more data
        before the putter gives up on the node (C{node_timeout}).
    @ivar frag_index: the fragment archive it carries, once assigned.
    @ivar failed: the node is no longer written to (it failed, answered
        early, or timed out), with C{why}.
    @ivar paused: the connection's send buffer is full.
    @ivar final: the node's final response, once it came.
    @ivar on_flow: called with no argument whenever C{paused} or C{failed}
        changes.
    """

    def __init__(self, clock: IReactorTime, node: Node, boundary: bytes,
                 write_timeout: float) -> None:
        self._clock = clock
        self.node = node
        self.boundary = boundary
        self._write_timeout = write_timeout
        self.frag_index: Optional[int] = None
        self.failed = False
        self.why: Optional[BaseException] = None
        self.paused = False
        self.final: Optional[PutterResponse] = None
        self.on_flow: Callable[[], None] = lambda: None
        self._started = False
        self._ended = False
        self._buffer = b""
        self._head: Optional[PutterResponse] = None
        self._remaining: Optional[int] = None
        self._body: list[bytes] = []
        self._responses: deque[PutterResponse] = deque()
        self._waiter: Optional[Deferred[PutterResponse]] = None
        self._lost: Optional[Failure] = None
        self._stall: Optional[IDelayedCall] = None

    # -- the connection -------------------------------------------------

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.registerProducer(self, True)  # type: ignore[attr-defined]

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while self._buffer and self._lost is None:
            if self._head is None:
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._buffer) > _MAX_HEAD:
                        self._broken("response head too long")
                    return
                head, self._buffer = self._buffer[:end], self._buffer[end + 4:]
                try:
                    response = _parse_head(head)
                except ValueError as error:
                    self._broken(str(error))
                    return
                if response.interim:
                    self._deliver(response)
                    continue
                self._head = response
                length = response.headers.get("Content-Length")
                self._remaining = int(length) if length and length.isdigit() else None
                if self._remaining == 0:
                    self._complete()
                continue
            if self._remaining is None:
                # Delimited by the connection's end.
                self._body.append(self._buffer)
                self._buffer = b""
                return
            piece, self._buffer = (self._buffer[: self._remaining],
                                   self._buffer[self._remaining:])
            self._body.append(piece)
            self._remaining -= len(piece)
            if self._remaining == 0:
                self._complete()

    def _complete(self) -> None:
        assert self._head is not None
        response, self._head = self._head, None
        response.body = b"".join(self._body)
        self._body = []
        self.final = response
        if not self._ended:
            # An answer before the body ended: nothing more is sent.
            self._fail(ValueError(f"answered {response.status} early"), close=False)
        self._deliver(response)
        self._close()

    def _deliver(self, response: PutterResponse) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.callback(response)
        else:
            self._responses.append(response)

    def _broken(self, why: str) -> None:
        self._fail(ValueError(why))

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:
        self._cancel_stall()
        self._lost = reason
        if self._head is not None and self._remaining is None:
            # A body delimited by the connection's end is complete now.
            self._complete()
        if self.final is None:
            self._fail(ConnectionError(reason.getErrorMessage()), close=False)
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.errback(Failure(NodeError(self.node, f"connection lost: "
                                             f"{reason.getErrorMessage()}")))

    # -- responses -------------------------------------------------------

    def next_response(self, timeout: float) -> "Deferred[PutterResponse]":
        """
        The next response of the exchange, interim or final.

        @return: fires with it; fails with L{NodeTimeout} when none came
            within C{timeout} seconds, or L{NodeError} when the connection
            ended first.
        """
        if self._responses:
            d: Deferred[PutterResponse] = Deferred()
            d.callback(self._responses.popleft())
            return d
        if self.final is not None:
            d = Deferred()
            d.callback(self.final)
            return d
        if self._lost is not None:
            d = Deferred()
            d.errback(Failure(NodeError(self.node, "connection lost")))
            return d
        waiting: Deferred[PutterResponse] = Deferred(lambda _: self._forget(waiting))
        self._waiter = waiting
        timed_out = []

        def expire() -> None:
            timed_out.append(True)
            waiting.cancel()

        call = self._clock.callLater(timeout, expire)

        def done(result: Any) -> Any:
            if call.active():
                call.cancel()
            if timed_out and isinstance(result, Failure) and result.check(CancelledError):
                return Failure(NodeTimeout(self.node, f"no response within {timeout}s"))
            return result

        return waiting.addBoth(done)

    def _forget(self, waiting: "Deferred[PutterResponse]") -> None:
        if self._waiter is waiting:
            self._waiter = None

    # -- sending ---------------------------------------------------------

    def send_head(self, method: str, path: str, headers: Mapping[str, str]) -> None:
        """
        Send the request line and headers.
        """
        assert self.transport is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {_host(self.node)}:{self.node['port']}"]
        for name, value in headers.items():
            if name.lower() == "host":
                continue
            lines.append(f"{name}: {value}")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def _write(self, pieces: list[bytes]) -> None:
        if self.failed or self.transport is None or not pieces:
            return
        self.transport.writeSequence(pieces)

    def send_fragment(self, data: bytes) -> None:
        """
        Send the next bytes of the fragment archive (nothing once failed).
        """
        if not data:
            return
        if not self._started:
            self._started = True
            self._write(chunk(body_start(self.boundary)))
        self._write(chunk(data))

    def end_of_data(self, footers: Mapping[str, str]) -> None:
        """
        End the archive: send the metadata footers and end this phase of
        the body. The node then answers its second C{100 Continue}.
        """
        if not self._started:
            self._started = True
            self._write(chunk(body_start(self.boundary)))
        self._write(chunk(footer_part(self.boundary, footers)) + [LAST_CHUNK])

    def send_commit(self) -> None:
        """
        Send the commit document: the node makes the archive durable and
        gives its final answer.
        """
        self._ended = True
        self._write(chunk(commit_part(self.boundary)) + [LAST_CHUNK])

    def abort(self, why: Optional[BaseException] = None) -> None:
        """
        Give up on this node: no more is sent and the connection is closed.
        """
        self._fail(why or CancelledError("aborted"))

    def _fail(self, why: BaseException, close: bool = True) -> None:
        self._cancel_stall()
        if not self.failed:
            self.failed = True
            self.why = why
            self.on_flow()
        if close:
            self._close()

    def _close(self) -> None:
        self._cancel_stall()
        transport = self.transport
        if transport is not None and self._lost is None:
            abort = getattr(transport, "abortConnection", None)
            if abort is not None:
                abort()
            else:
                transport.loseConnection()

    # -- IPushProducer: the connection's flow control -----------------------

    def pauseProducing(self) -> None:
        if self.paused:
            return
        self.paused = True
        if not self.failed and self._stall is None:
            self._stall = self._clock.callLater(self._write_timeout, self._stalled)
        self.on_flow()

    def resumeProducing(self) -> None:
        self._cancel_stall()
        if not self.paused:
            return
        self.paused = False
        self.on_flow()

    def stopProducing(self) -> None:
        self._fail(ConnectionError("stopped"), close=False)

    def _stalled(self) -> None:
        self._stall = None
        self._fail(TimeoutError(f"took no data for {self._write_timeout}s"))

    def _cancel_stall(self) -> None:
        if self._stall is not None and self._stall.active():
            self._stall.cancel()
        self._stall = None


def _parse_head(head: bytes) -> PutterResponse:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ValueError(f"bad status line {lines[0][:80]!r}")
    headers = HeaderDict()
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise ValueError(f"bad header line {line[:80]!r}")
        headers[wsgi_str(name.strip())] = wsgi_str(value.strip())
    reason = wsgi_str(parts[2]) if len(parts) > 2 else ""
    return PutterResponse(int(parts[1]), reason, headers)


def _host(node: Node) -> str:
    ip = str(node["ip"])
    if ":" in ip and not ip.startswith("["):
        return f"[{ip}]"
    return ip


async def connect_putter(reactor: Any, node: Node, path: str,
                         headers: Mapping[str, str], boundary: bytes,
                         conn_timeout: float, node_timeout: float
                         ) -> tuple[MIMEPutter, PutterResponse]:
    """
    Connect to C{node}, send the PUT's head and wait for its first answer.

    @param reactor: provides C{IReactorTCP} and C{IReactorTime}.
    @return: the putter and its first response: C{100 Continue}, or a final
        answer given without reading the body.
    @raise NodeError: when the node cannot be reached or does not answer
        within C{node_timeout} (L{NodeTimeout}).
    """
    ip = str(node["ip"]).strip("[]")
    try:
        six = ipaddress.ip_address(ip).version == 6
    except ValueError:
        six = False
    endpoint_type = TCP6ClientEndpoint if six else TCP4ClientEndpoint
    endpoint = endpoint_type(reactor, ip, int(node["port"]), timeout=conn_timeout)
    putter = MIMEPutter(reactor, node, boundary, node_timeout)
    try:
        await connectProtocol(endpoint, putter)
    except CancelledError:
        raise
    except ConnectingCancelledError:
        # Cancelled by us (the client went away): not the node's failure,
        # which would count towards error limiting it.
        raise CancelledError() from None
    except Exception as error:
        raise NodeError(node, f"cannot connect: {error}") from None
    try:
        putter.send_head("PUT", path, headers)
        first = await putter.next_response(node_timeout)
    except BaseException:
        putter.abort()
        raise
    return putter, first
