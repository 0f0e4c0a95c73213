# -*- test-case-name: tests.test_getfailover -*-
"""
The reconnecting producer: an object body that survives its storage node
stalling, dying or cutting the body short.

L{ResumingBody} relays one backend body at a time (a L{BackendBody}). When
that body fails before the end, it asks for the next replica with the
request's C{Range} moved past what the client already has
(L{twisted_proxy.swift.ranges.fast_forward}), checks that the replacement is the
same object (same etag, the expected length), and goes on writing from there:
the client receives every byte once, in order. When no replica remains, the
body fails, and the server aborts the client connection rather than end a
short body as if it were whole.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IConsumer, IPushProducer, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer, IResponse
from zope.interface import implementer

from twisted_proxy.backend.content import drop_body
from twisted_proxy.backend.streaming import BackendBody
from twisted_proxy.backend.zerocopy import SOURCE, RelayFailed, RelayHandle, relayed_bytes
from twisted_proxy.interfaces import IZeroCopyConsumer
from twisted_proxy.swift.http import wsgi_str
from twisted_proxy.swift.multipart import (
    Data,
    MultipartLayout,
    PartReader,
    Piece,
    Reframer,
    boundary_of,
    parse_first_part,
    range_header,
)
from twisted_proxy.swift.ranges import ByteRange, RangeExhausted, fast_forward, format_range_header
from twisted_proxy.swift.ring import Node

__all__ = ["ResumingBody", "NoMoreSources", "Source", "FindSource"]

_log = Logger()

#: A backend response whose body has not been read, and the node it is from.
Source = tuple[IResponse, Node]

#: Given the C{Range} header for what is left, the next usable source (with
#: the same etag), or C{None} when no node remains.
FindSource = Callable[[str], "Deferred[Optional[Source]]"]


class NoMoreSources(Exception):
    """
    The body failed and no other replica could continue it.
    """


@implementer(IConsumer, IZeroCopyConsumer)
class _Counter:
    """
    The consumer each backend body writes into: counts, then forwards.
    """

    def __init__(self, owner: "ResumingBody") -> None:
        self._owner = owner

    def write(self, data: bytes) -> None:
        self._owner._relay(data)

    def relay_from(self, source: int, count: int, read_timeout: float
                   ) -> Optional[RelayHandle]:
        return self._owner._relay_socket(source, count, read_timeout)

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        pass

    def unregisterProducer(self) -> None:
        pass


@implementer(IBodyProducer, IPushProducer)
class ResumingBody:
    """
    An object body that resumes on another replica when its source fails.

    @param source: the first response (body unread) and its node.
    @param clock: for read timeouts.
    @param read_timeout: seconds a source may stay silent while the client
        is reading (C{recoverable_node_timeout}).
    @param find_source: how to get the next source for a C{Range}.
    @param ranges: the client's ranges (at most one is resumable), or
        C{None} for the whole object.
    @param source_failed: told of each source that failed, with why
        (for error limiting).
    @ivar sent: body bytes delivered to the consumer so far.
    @ivar resumes: how many times the body moved to another source.
    """

    def __init__(
        self,
        source: Source,
        clock: IReactorTime,
        read_timeout: float,
        find_source: FindSource,
        ranges: Optional[list[ByteRange]],
        source_failed: Callable[[Node, BaseException], None],
        content_type: Optional[str] = None,
    ) -> None:
        response, node = source
        self._response: Optional[IResponse] = response
        self._node = node
        self._clock = clock
        self._read_timeout = read_timeout
        self._find_source = find_source
        self._ranges = ranges
        self._source_failed = source_failed
        self.length = response.length
        self.sent = 0
        self.resumes = 0
        self._current: Optional[BackendBody] = None
        self._consumer: Optional[IConsumer] = None
        self._done: Optional[Deferred[None]] = None
        self._finding: Optional[Deferred[Optional[Source]]] = None
        self._paused = False
        self._stopped = False
        # A multi-range body is resumed by regenerating its framing: keep
        # its start, which names the part type and the object size.
        boundary = boundary_of(content_type)
        self._boundary = boundary.encode("latin-1") if boundary else None
        self._head = b""
        self._reframer: Optional[Reframer] = None
        self._pieces: Optional[list[Piece]] = None

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        """
        Write the whole body into C{consumer}.

        @return: a L{Deferred} firing when every byte went out, or failing
            with L{NoMoreSources} when the body could not be completed.
        """
        self._consumer = consumer
        done: Deferred[None] = Deferred(lambda _: self.stopProducing())
        self._done = done
        response, self._response = self._response, None
        assert response is not None
        self._relay_from(response)
        return done

    # -- relaying -------------------------------------------------------

    def _relay_from(self, response: IResponse, consumer: Optional[Any] = None) -> None:
        body = BackendBody(response, self._clock, self._read_timeout)
        self._current = body
        if self._paused:
            body.pauseProducing()
        body.startProducing(consumer or _Counter(self)).addCallbacks(  # type: ignore[arg-type]
            self._source_done, self._source_broke, callbackArgs=(body,),
            errbackArgs=(body,))

    def _relay(self, data: bytes) -> None:
        if self._stopped or self._consumer is None:
            return
        if self._boundary is not None and len(self._head) < _HEAD:
            self._head += data[: _HEAD - len(self._head)]
        self.sent += len(data)
        self._consumer.write(data)

    def _relay_socket(self, source: int, count: int, read_timeout: float
                      ) -> Optional[RelayHandle]:
        """
        Offer the rest of a plain (single-range) body to the consumer as a
        socket, counting what it moves.
        """
        consumer = self._consumer
        if (self._stopped or self._boundary is not None or self._reframer is not None
                or not IZeroCopyConsumer.providedBy(consumer)):
            return None
        handle: Optional[RelayHandle] = consumer.relay_from(source, count, read_timeout)
        if handle is None:
            return None

        def moved(result: Any) -> Any:
            self.sent += relayed_bytes(result)
            return result

        handle.done.addBoth(moved)
        return handle

    def _source_done(self, _: object, body: BackendBody) -> None:
        if body is not self._current or self._stopped:
            return
        if self._reframer is not None and not self._reframer.complete:
            self._source_broke(Failure(ValueError("resumed body ended early")), body)
            return
        self._current = None
        self._end(None)

    def _source_broke(self, failure: Failure, body: BackendBody) -> None:
        if body is not self._current or self._stopped:
            return
        self._current = None
        relay = failure.value
        if isinstance(relay, RelayFailed) and relay.side != SOURCE:
            # The client stopped taking a relayed body: it is gone.
            self._end(failure)
            return
        self._source_failed(self._node, failure.value or Exception("source failed"))
        if self.length is not UNKNOWN_LENGTH and self.sent >= self.length:
            # Everything arrived; only the ending went wrong.
            self._source_done(None, body)
            return
        if self._boundary is not None:
            self._resume_multipart(failure)
            return
        try:
            selected = None if self.length is UNKNOWN_LENGTH else self.length
            header = fast_forward(self._ranges, self.sent, selected)
        except RangeExhausted:
            self._end(None)
            return
        except ValueError as error:
            self._fail(f"cannot resume: {error}")
            return
        _log.info(
            "Resuming a GET after {sent} bytes with Range {range}: {why}",
            sent=self.sent, range=header, why=failure.getErrorMessage(),
        )
        self._finding = self._find_source(header)
        self._finding.addCallbacks(self._got_source, self._find_failed)

    def _resume_multipart(self, failure: Failure) -> None:
        """
        Carry on a multi-range body: what is left of its (known) layout is
        regenerated framing and data fetched with a Range for just that
        data.
        """
        assert self._boundary is not None
        if not self._ranges or self.length is UNKNOWN_LENGTH:
            self._fail("cannot resume a multipart body of unknown layout")
            return
        first = parse_first_part(self._head)
        if first is None:
            # Not even the first part's headers went out, so no data did:
            # ask again for every range, and learn the layout from the
            # replacement's first part.
            self._pieces = None
            header: Optional[str] = format_range_header(self._ranges)
        else:
            pieces = self._layout_after(*first)
            if pieces is None:
                return
            self._pieces = pieces
            header = range_header(pieces)
        if header is None:
            # Only closing framing was owed: write it, and the body is whole.
            assert self._pieces is not None
            Reframer(self._pieces, self._relay)
            self._end(None)
            return
        _log.info(
            "Resuming a multi-range GET after {sent} bytes with Range {range}: {why}",
            sent=self.sent, range=header, why=failure.getErrorMessage(),
        )
        self._finding = self._find_source(header)
        self._finding.addCallbacks(self._got_multipart_source, self._find_failed)

    def _layout_after(self, part_type: bytes, total: int) -> Optional[list[Piece]]:
        """
        What is left of the client's multipart body, or C{None} (having
        failed the body) when its layout is not what the ranges predict.
        """
        assert self._boundary is not None and self._ranges is not None
        layout = MultipartLayout.for_ranges(self._boundary, part_type, self._ranges, total)
        if layout.length() != self.length:
            self._fail("the multipart body is not laid out as expected")
            return None
        return layout.after(self.sent)

    def _accept(self, source: Optional[Source]) -> Optional[Source]:
        """
        The source found for a resume, if the body still wants one.
        """
        self._finding = None
        if self._stopped:
            if source is not None:
                drop_body(source[0])
            return None
        if source is None:
            self._fail("no replica left to resume from")
        return source

    def _got_multipart_source(self, found: Optional[Source]) -> None:
        source = self._accept(found)
        if source is None:
            return
        response, node = source
        multipart = boundary_of(_content_type(response)) is not None
        if self._pieces is None and not multipart:
            drop_body(response)
            self._fail("replacement source is not a multipart body")
            return
        if self._pieces is not None and not multipart:
            owed = sum(p.size for p in self._pieces if isinstance(p, Data))
            if response.length not in (UNKNOWN_LENGTH, owed):
                self._source_failed(node, ValueError(
                    f"resumed body of {response.length} bytes, expected {owed}"))
                drop_body(response)
                self._fail("replacement source has the wrong length")
                return
        self._node = node
        self.resumes += 1
        self._reframer = None
        if self._pieces is not None:
            self._reframer = Reframer(self._pieces, self._relay)
        if not multipart:
            assert self._reframer is not None
            self._relay_from(response, _Writer(self._reframer.write))
            return

        def first_part(part_type: bytes, total: int) -> None:
            if self._reframer is None:
                pieces = self._layout_after(part_type, total)
                if pieces is None:
                    raise ValueError("unexpected multipart layout")
                self._reframer = Reframer(pieces, self._relay)

        def data(chunk: bytes) -> None:
            assert self._reframer is not None
            self._reframer.write(chunk)

        self._relay_from(response, _Writer(PartReader(data, first_part).write))

    def _got_source(self, found: Optional[Source]) -> None:
        source = self._accept(found)
        if source is None:
            return
        response, node = source
        remaining = None if self.length is UNKNOWN_LENGTH else self.length - self.sent
        if remaining is not None and response.length not in (UNKNOWN_LENGTH, remaining):
            self._source_failed(node, ValueError(
                f"resumed body of {response.length} bytes, expected {remaining}"))
            drop_body(response)
            self._fail("replacement source has the wrong length")
            return
        self._node = node
        self.resumes += 1
        self._relay_from(response)

    def _find_failed(self, failure: Failure) -> None:
        self._finding = None
        if failure.check(CancelledError):
            return
        self._fail(failure.getErrorMessage())

    def _fail(self, why: str) -> None:
        self._end(Failure(NoMoreSources(f"after {self.sent} bytes: {why}")))

    def _end(self, failure: Optional[Failure]) -> None:
        """
        The body is over: fire L{startProducing}'s Deferred (with C{None},
        or C{failure}) if nobody did, and let go of the consumer, which
        refers back to this body (through a meter, say): done, neither
        keeps the other alive.
        """
        done, self._done = self._done, None
        if done is not None:
            if failure is None:
                done.callback(None)
            else:
                done.errback(failure)
        self._consumer = None

    # -- IPushProducer ----------------------------------------------------

    def pauseProducing(self) -> None:
        self._paused = True
        if self._current is not None:
            self._current.pauseProducing()

    def resumeProducing(self) -> None:
        self._paused = False
        if self._current is not None:
            self._current.resumeProducing()

    def stopProducing(self) -> None:
        """
        The client went away: drop the source (and any search for one).
        """
        self._stopped = True
        self._done = None
        self._consumer = None
        if self._current is not None:
            current, self._current = self._current, None
            current.stopProducing()
        if self._finding is not None:
            finding, self._finding = self._finding, None
            finding.cancel()
        if self._response is not None:
            drop_body(self._response)
            self._response = None


#: How much of the start of a multipart body is kept to read its first
#: part's headers.
_HEAD = 8192


@implementer(IConsumer)
class _Writer:
    """
    A consumer that hands what it is given to a function.
    """

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self.write = write

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        pass

    def unregisterProducer(self) -> None:
        pass


def _content_type(response: IResponse) -> Optional[str]:
    values = response.headers.getRawHeaders(b"content-type")
    return wsgi_str(values[0]) if values else None
