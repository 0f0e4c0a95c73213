# -*- test-case-name: tests.test_dlo,tests.test_slo -*-
"""
Streaming a large object made of segments: the segments' bodies relayed one
after another, each fetched only when the previous one ends (no segment is
held whole), with their etags and sizes checked and small segments paced.
Used by the C{dlo} and C{slo} plugins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IConsumer, IPushProducer, IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from twisted_proxy.config import int_option
from twisted_proxy.plugins._support.subrequest import drop_body
from twisted_proxy.swift.http import SwiftResponse

__all__ = [
    "Pacer",
    "Segment",
    "SegmentError",
    "SegmentLimits",
    "SegmentSink",
    "SegmentedBody",
    "sleep",
]

_log = Logger()


class SegmentError(Exception):
    """
    A segment cannot be served: its GET failed, or its body is not what
    its headers said.

    @ivar status: the segment GET's status, when that is what failed.
    """

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.status = status


class Pacer:
    """
    Swift's segment rate limit: the first C{free} segments go at once,
    then at most C{rate} a second, with a few seconds' worth of catching up
    allowed after a slow spell.
    """

    _BUFFER = 5.0

    def __init__(self, clock: IReactorTime, free: int, rate: float) -> None:
        self._clock = clock
        self._free = free
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next: Optional[float] = None

    def delay(self) -> float:
        """
        Seconds to wait before the next segment (and count it).
        """
        if self._free > 0:
            self._free -= 1
            return 0.0
        if not self._interval:
            return 0.0
        now = self._clock.seconds()
        if self._next is None or now - self._next > self._BUFFER:
            self._next = now
        wait = max(0.0, self._next - now)
        self._next += self._interval
        return wait


@dataclass(frozen=True)
class SegmentLimits:
    """
    The options of a large object's GET that the C{dlo} and C{slo}
    filters share, with Swift's defaults.

    @ivar max_get_time: seconds a large object's GET may take.
    @ivar rate_limit_after_segment: segments fetched before rate limiting.
    @ivar rate_limit_segments_per_sec: segments a second after that (0: no
        limit).
    """

    max_get_time: int = 86400
    rate_limit_after_segment: int = 10
    rate_limit_segments_per_sec: int = 1

    @classmethod
    def from_conf(cls, conf: dict[str, str], filter_name: str) -> "SegmentLimits":
        """
        The limits from a C{[filter:FILTER_NAME]} section; absent options
        keep their defaults.

        @raise ConfigError: for an option that is not a non-negative
            integer.
        """
        default = cls()
        return cls(
            int_option(conf, filter_name, "max_get_time", default.max_get_time),
            int_option(conf, filter_name, "rate_limit_after_segment",
                       default.rate_limit_after_segment),
            int_option(conf, filter_name, "rate_limit_segments_per_sec",
                       default.rate_limit_segments_per_sec),
        )

    def pacer(self, clock: IReactorTime) -> Pacer:
        """
        A fresh segment rate limit for one GET.
        """
        return Pacer(clock, self.rate_limit_after_segment, self.rate_limit_segments_per_sec)


def sleep(clock: IReactorTime, seconds: float) -> "Deferred[None]":
    """
    Fires after C{seconds} on C{clock} (at once for none); cancellable.
    """
    if seconds <= 0:
        return succeed(None)
    return deferLater(clock, seconds)


@dataclass
class Segment:
    """
    One segment's GET answer, being relayed.

    @ivar digest: the MD5 of the body so far, when the whole segment was
        asked for and so can be checked against its etag.
    """

    path: str
    response: SwiftResponse
    digest: Optional[Any] = None
    received: int = 0
    expected: Optional[int] = None
    etag: str = ""


@implementer(IConsumer)
class SegmentSink:
    """
    Where one segment's body producer writes: into the large object's body.
    """

    def __init__(self, owner: "SegmentedBody", segment: Segment) -> None:
        self._owner = owner
        self._segment = segment

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        pass

    def unregisterProducer(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        self._owner._write(self._segment, data)


@implementer(IBodyProducer, IPushProducer)
class SegmentedBody:
    """
    The body of a large object: each segment's body relayed in turn.

    @param first: the first segment, already fetched.
    @param following: fetches the next segment (C{None} when there is none
        left); it fails with L{SegmentError} or L{_ListingError}.
    @param length: the bytes the body must hold, or C{None} when unknown.
    @param deadline: the time (on C{clock}) past which the body fails.
    @param name: the manifest's path, for messages.
    """

    def __init__(self, first: Segment,
                 following: Callable[[], "Deferred[Optional[Segment]]"],
                 length: Optional[int], clock: IReactorTime, deadline: float,
                 name: str) -> None:
        self._first: Optional[Segment] = first
        self._following = following
        self.length = UNKNOWN_LENGTH if length is None else length
        self._left = length
        self._clock = clock
        self._deadline = deadline
        self._name = name
        self._consumer: Optional[IConsumer] = None
        self._done: Optional[Deferred[None]] = None
        self._current: Optional[Segment] = None
        self._pending: Optional[Deferred[Optional[Segment]]] = None
        self._paused = False
        self._stopped = False

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        self._consumer = consumer
        done: Deferred[None] = Deferred(lambda _: self.stopProducing())
        self._done = done
        first, self._first = self._first, None
        assert first is not None
        self._relay(first)
        return done

    def pauseProducing(self) -> None:
        self._paused = True
        inner = self._inner()
        if inner is not None:
            inner.pauseProducing()

    def resumeProducing(self) -> None:
        self._paused = False
        inner = self._inner()
        if inner is not None:
            inner.resumeProducing()

    def stopProducing(self) -> None:
        """
        The client went away: drop the segment being read and stop.
        """
        if self._stopped:
            return
        self._stopped = True
        self._done = None
        self._halt()

    # -- internals ------------------------------------------------------

    def _inner(self) -> Any:
        current = self._current
        if current is None or isinstance(current.response.body, bytes):
            return None
        return current.response.body

    def _halt(self) -> None:
        if self._first is not None:
            drop_body(self._first.response.body)
            self._first = None
        inner = self._inner()
        self._current = None
        if inner is not None:
            inner.stopProducing()
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.addErrback(lambda _: None)
            pending.cancel()

    def _relay(self, segment: Segment) -> None:
        if self._stopped:
            drop_body(segment.response.body)
            return
        self._current = segment
        body = segment.response.body
        if isinstance(body, bytes):
            if body:
                self._write(segment, body)
            self._ended(segment)
            return
        reading = body.startProducing(SegmentSink(self, segment))
        if self._paused and self._current is segment:
            body.pauseProducing()
        reading.addCallbacks(lambda _: self._ended(segment), self._fail)

    def _write(self, segment: Segment, data: bytes) -> None:
        if self._stopped or self._current is not segment:
            return
        assert self._consumer is not None
        segment.received += len(data)
        if segment.digest is not None:
            segment.digest.update(data)
        if self._left is not None:
            if len(data) > self._left:
                if self._left:
                    self._consumer.write(data[:self._left])
                self._fail(Failure(SegmentError(
                    f"Too many bytes for {self._name}; truncating in "
                    f"{segment.path}")))
                return
            self._left -= len(data)
        self._consumer.write(data)
        if self._clock.seconds() > self._deadline:
            self._fail(Failure(SegmentError(
                f"While processing manifest {self._name}, max LO GET time "
                "exceeded")))

    def _ended(self, segment: Segment) -> None:
        if self._stopped or self._current is not segment:
            return
        self._current = None
        if segment.digest is not None:
            if segment.expected is not None and segment.received != segment.expected:
                self._fail(Failure(SegmentError(
                    f"Bad response length for {segment.path} as part of "
                    f"{self._name}: headers had {segment.expected}, but "
                    f"response length was actually {segment.received}")))
                return
            if segment.digest.hexdigest() != segment.etag:
                self._fail(Failure(SegmentError(
                    f"Bad MD5 checksum for {segment.path} as part of "
                    f"{self._name}: headers had {segment.etag}, but object "
                    f"MD5 was actually {segment.digest.hexdigest()}")))
                return
        pending = self._following()
        self._pending = pending
        pending.addCallbacks(self._next, self._fail)

    def _next(self, segment: Optional[Segment]) -> None:
        self._pending = None
        if self._stopped:
            if segment is not None:
                drop_body(segment.response.body)
            return
        if segment is not None:
            self._relay(segment)
            return
        if self._left:
            self._fail(Failure(SegmentError(
                f"Expected another {self._left} bytes for {self._name}; "
                "closing connection")))
            return
        done, self._done = self._done, None
        self._stopped = True
        if done is not None:
            done.callback(None)

    def _fail(self, reason: Failure) -> None:
        if self._stopped:
            return
        _log.error("Large object {name}: {why}", name=self._name,
                   why=reason.getErrorMessage())
        self._stopped = True
        self._halt()
        done, self._done = self._done, None
        if done is not None:
            done.errback(reason)


