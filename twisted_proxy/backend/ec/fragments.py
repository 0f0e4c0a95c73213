# -*- test-case-name: tests.test_ec_get -*-
"""
Reading the fragments of one fragment archive for a GET.

A L{FragmentStream} takes the body of one node's answer to a fragment GET
(the whole archive, one range of it, or a C{multipart/byteranges} body) and
queues the wanted fragments, whole, in order. It pauses the node's
connection while enough fragments are queued, and gives up on the node when
it stalls past the read timeout, dies or ends short. It then asks for a
replacement: another node's answer (possibly another fragment index of the
same object) for just the fragments still wanted, from the next fragment
boundary on, and carries on with that. A stream with no replacement left is
I{dead}; what it queued before is still good.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any, Callable, Optional

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import PotentialDataLoss, ResponseDone
from twisted.web.iweb import IResponse

from twisted_proxy.backend.content import discard_body
from twisted_proxy.backend.streaming import StallTimer
from twisted_proxy.swift.ec.ranges import range_header
from twisted_proxy.swift.multipart import PartHead, PartReader, boundary_of
from twisted_proxy.swift.ring import Node

__all__ = ["FragmentStream", "FindReplacement", "Source", "content_range"]

_log = Logger()

#: An unread fragment GET answer and the node it came from.
Source = tuple[IResponse, Node]

#: Given the C{Range} header for the fragments still wanted and the stream,
#: the next usable source, or C{None} when no node is left.
FindReplacement = Callable[[str, "FragmentStream"], "Deferred[Optional[Source]]"]

#: Fragments queued before the node's connection is paused.
QUEUE_HIGH = 2

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+)", re.IGNORECASE)


def content_range(value: Optional[str]) -> Optional[tuple[int, int, int]]:
    """
    C{(first, last, total)} from a C{Content-Range} value, or C{None}.
    """
    match = _CONTENT_RANGE.search(value or "")
    if match is None:
        return None
    first, last, total = (int(g) for g in match.groups())
    return first, last, total


def _header(response: IResponse, name: bytes) -> Optional[str]:
    values = response.headers.getRawHeaders(name)
    return values[-1].decode("latin-1") if values else None


class _Parts:
    """
    Splits a response body into its parts, each with the archive offset
    it starts at: the whole body for a 200 or a single-range 206, each part
    (by its C{Content-Range}, read by a L{PartReader}) of a multipart body.
    """

    def __init__(self, response: IResponse,
                 data: Callable[[int, bytes], None],
                 part_type: Callable[[bytes], None] = lambda _: None) -> None:
        self._data = data
        self._part_type = part_type
        self._offset = 0
        self._reader: Optional[PartReader] = None
        if boundary_of(_header(response, b"content-type")) is not None:
            self._reader = PartReader(self._deliver, each_part=self._part)
        else:
            span = content_range(_header(response, b"content-range"))
            self._offset = span[0] if span is not None and response.code == 206 else 0

    def _part(self, head: PartHead) -> None:
        if head.content_type is not None:
            self._part_type(head.content_type)
        self._offset = head.first

    def _deliver(self, data: bytes) -> None:
        self._data(self._offset, data)
        self._offset += len(data)

    def write(self, data: bytes) -> None:
        """
        @raise ValueError: for a multipart body not framed as expected.
        """
        if self._reader is None:
            self._deliver(data)
        else:
            self._reader.write(data)


class _Receiver(Protocol):
    def __init__(self, stream: "FragmentStream", response: IResponse) -> None:
        self._stream = stream
        self._parts = _Parts(response, self._data, stream._learned_type)
        self.ended = False

    def _data(self, offset: int, data: bytes) -> None:
        self._stream._received(self, offset, data)

    def dataReceived(self, data: bytes) -> None:
        if self._stream._receiver is not self:
            return
        try:
            self._parts.write(data)
        except ValueError as error:
            self._stream._broke(self, Failure(error))

    def connectionLost(self, reason: Failure = Failure(ResponseDone())) -> None:
        self.ended = True
        if self._stream._receiver is not self:
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            self._stream._ended(self)
        else:
            self._stream._broke(self, reason)


class FragmentStream:
    """
    The wanted fragments of one archive, from one node (or its
    replacements).

    @param source: the first answer, unread.
    @param frag_index: its fragment index.
    @param spans: the wanted archive bytes, as inclusive C{(first, last)}
        spans in order, each starting on a fragment boundary.
    @param fragment_size: the length of a whole fragment.
    @param clock: for the read timeout.
    @param read_timeout: seconds a node may send nothing while fragments
        are wanted (C{recoverable_node_timeout}).
    @param find_replacement: how to get a replacement answer.
    @param failed: told of each node that failed, with why.
    @ivar queue: whole fragments received and not yet taken.
    @ivar dead: no node can supply the rest.
    @ivar complete: every wanted fragment was received.
    @ivar on_ready: called with no argument when a fragment is queued, or
        the stream completes or dies.
    """

    def __init__(self, source: Source, frag_index: Optional[int],
                 spans: list[tuple[int, int]], fragment_size: int,
                 clock: IReactorTime, read_timeout: float,
                 find_replacement: FindReplacement,
                 failed: Callable[[Node, BaseException], None]) -> None:
        response, node = source
        self.node = node
        self.frag_index = frag_index
        self._spans = list(spans)
        self._fragment_size = fragment_size
        self._clock = clock
        self._timer = StallTimer(clock, read_timeout, self._timed_out)
        self._find = find_replacement
        self._failed = failed
        self.queue: deque[bytes] = deque()
        self.dead = False
        self.complete = not self._spans
        self.replacements = 0
        self.on_ready: Callable[[], None] = lambda: None
        self._want = 0
        self._got = 0
        self._partial: list[bytes] = []
        self._partial_size = 0
        self._receiver: Optional[_Receiver] = None
        self._response: Optional[IResponse] = response
        self._paused = False
        self._stopped = False
        self._finding: Optional[Deferred[Optional[Source]]] = None
        self._type_waiters: list[Deferred[Optional[bytes]]] = []
        self._part_type: Optional[bytes] = None

    def part_type(self) -> "Deferred[Optional[bytes]]":
        """
        The content type a multipart answer gives its parts (the object's
        own), once its first part's headers are read; C{None} if the stream
        completes or dies without one.
        """
        d: Deferred[Optional[bytes]] = Deferred()
        if self._part_type is not None or self.exhausted:
            d.callback(self._part_type)
        else:
            self._type_waiters.append(d)
        return d

    def _learned_type(self, value: bytes) -> None:
        if self._part_type is None:
            self._part_type = value
        self._tell_type()

    def _tell_type(self) -> None:
        waiters, self._type_waiters = self._type_waiters, []
        for d in waiters:
            d.callback(self._part_type)

    @property
    def exhausted(self) -> bool:
        """
        Nothing more will be queued: complete, or dead.
        """
        return self.complete or self.dead

    def start(self) -> None:
        """
        Start reading the first answer.
        """
        response, self._response = self._response, None
        if response is None:
            return
        if self.complete:
            _drop(response)
            return
        self._read(response)

    def _read(self, response: IResponse) -> None:
        receiver = _Receiver(self, response)
        self._receiver = receiver
        self._arm()
        response.deliverBody(receiver)
        self._flow()

    # -- taking fragments -------------------------------------------------

    def take(self) -> bytes:
        """
        The next queued fragment (there must be one).
        """
        fragment = self.queue.popleft()
        self._flow()
        return fragment

    def _flow(self) -> None:
        receiver = self._receiver
        transport = None if receiver is None else receiver.transport
        want_pause = len(self.queue) >= QUEUE_HIGH
        if want_pause and not self._paused:
            self._paused = True
            self._timer.disarm()
            if transport is not None:
                transport.pauseProducing()  # type: ignore[attr-defined]
        elif not want_pause and self._paused:
            self._paused = False
            if receiver is not None:
                self._arm()
            if transport is not None:
                transport.resumeProducing()  # type: ignore[attr-defined]

    # -- receiving ---------------------------------------------------------

    def _received(self, receiver: _Receiver, offset: int, data: bytes) -> None:
        if receiver is not self._receiver or self._stopped or self.complete:
            return
        if not self._paused:
            self._arm()
        end = offset + len(data)
        while data and self._want < len(self._spans):
            first, last = self._spans[self._want]
            need = first + self._got
            if end <= need or offset > need:
                # Before what is wanted, or a part that starts past it.
                return
            start = need - offset
            stop = min(len(data), last + 1 - offset)
            self._collect(data[start:stop])
            offset += stop
            data = data[stop:]
        if self._want >= len(self._spans):
            self._finish()

    def _collect(self, data: bytes) -> None:
        first, last = self._spans[self._want]
        size = self._fragment_size
        while data:
            take = min(len(data), size - self._partial_size)
            self._partial.append(data[:take])
            self._partial_size += take
            self._got += take
            data = data[take:]
            span_done = first + self._got > last
            if self._partial_size == size or span_done:
                self.queue.append(b"".join(self._partial))
                self._partial = []
                self._partial_size = 0
                if span_done:
                    self._want += 1
                    self._got = 0
                    first, last = (self._spans[self._want] if self._want < len(self._spans)
                                   else (0, -1))
                    if self._want >= len(self._spans):
                        data = b""
                self.on_ready()
                self._flow()

    def _finish(self) -> None:
        if self.complete:
            return
        # What follows the wanted fragments (a multipart epilogue) is read
        # and ignored, so that the connection can serve another request.
        self.complete = True
        self._timer.disarm()
        self._tell_type()
        self.on_ready()

    def _ended(self, receiver: _Receiver) -> None:
        self._timer.disarm()
        if self.complete:
            return
        self._broke(receiver, Failure(ValueError(
            f"body ended {self._got} bytes into fragment span {self._want}")))

    def _broke(self, receiver: _Receiver, reason: Failure) -> None:
        if receiver is not self._receiver or self._stopped or self.complete:
            return
        self._receiver = None
        self._timer.disarm()
        transport: Any = receiver.transport
        if transport is not None:
            transport.loseConnection()
        self._failed(self.node, reason.value or Exception("fragment source failed"))
        self._replace(reason.getErrorMessage())

    # -- the read timeout ----------------------------------------------------

    def _arm(self) -> None:
        if self.complete or self._stopped or self._receiver is None:
            self._timer.disarm()
        else:
            self._timer.arm()

    def _timed_out(self) -> None:
        receiver = self._receiver
        if receiver is not None:
            self._broke(receiver, Failure(TimeoutError(
                f"no data for {self._timer.timeout}s")))

    # -- replacing the node ---------------------------------------------------

    def remaining_range(self) -> str:
        """
        The C{Range} header for the fragments still wanted, from the next
        fragment boundary on (a partly received fragment is asked for
        again).
        """
        first, last = self._spans[self._want]
        done = self._got - self._partial_size
        left = [(first + done, last)] + self._spans[self._want + 1:]
        return range_header((a, b) for a, b in left)

    def _replace(self, why: str) -> None:
        self._partial = []
        self._got -= self._partial_size
        self._partial_size = 0
        header = self.remaining_range()
        _log.info("Replacing the source of EC fragment {index} after {why}; Range {range}",
                  index=self.frag_index, why=why, range=header)
        finding = self._finding = self._find(header, self)
        finding.addCallbacks(self._got_replacement, self._find_failed)

    def _got_replacement(self, source: Optional[Source]) -> None:
        self._finding = None
        if self._stopped:
            if source is not None:
                _drop(source[0])
            return
        if source is None:
            self._die()
            return
        response, node = source
        self.node = node
        self.replacements += 1
        # The spans are absolute archive offsets: the replacement's answer
        # is read against them as the first answer was.
        first, last = self._spans[self._want]
        self._spans[self._want] = (first + self._got, last)
        self._got = 0
        self._read(response)

    def _find_failed(self, failure: Failure) -> None:
        self._finding = None
        if not failure.check(CancelledError):
            _log.failure("Finding a replacement EC fragment source", failure)
        self._die()

    def _die(self) -> None:
        if self._stopped:
            return
        self.dead = True
        self._timer.disarm()
        self._tell_type()
        self.on_ready()

    def stop(self) -> None:
        """
        No more fragments are wanted: drop the node's connection (or the
        search for one).
        """
        self._stopped = True
        self._timer.disarm()
        receiver, self._receiver = self._receiver, None
        if receiver is not None and not receiver.ended:
            # Every wanted byte received (even if, told from within the
            # last dataReceived, not yet marked complete): the response is
            # likely ending in this very call. Closing it now would let the
            # pool take back a connection that is already disconnecting,
            # and fail the next request sent on it.
            if self.complete or self._want >= len(self._spans):
                # The body's last bytes are often being delivered right now:
                # give it the chance to end normally.
                self._clock.callLater(0, _close, receiver)
            else:
                _close(receiver)
        finding, self._finding = self._finding, None
        if finding is not None:
            finding.cancel()
        response, self._response = self._response, None
        if response is not None:
            _drop(response)
        self._tell_type()


def _close(receiver: _Receiver) -> None:
    transport: Any = receiver.transport
    if receiver.ended or transport is None:
        return
    transport.loseConnection()


def _drop(response: IResponse) -> None:
    discard_body(response, close=True).addErrback(lambda _: None)
