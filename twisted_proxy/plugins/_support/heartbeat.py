# -*- test-case-name: tests.test_heartbeat,tests.test_copy,tests.test_slo,tests.test_bulk -*-
"""
Keeping a client's connection alive during a long server-side operation
(a copy or a large object manifest upload with C{?heartbeat=on}, a bulk
delete or extraction): the answer starts at once, beats every
C{yield_frequency} seconds, then ends with the summary, as Swift's.
"""

from __future__ import annotations

from typing import Callable, Optional, Union

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IConsumer, IDelayedCall, IPushProducer, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

__all__ = ["Heartbeat"]

_log = Logger()


@implementer(IBodyProducer, IPushProducer)
class Heartbeat:
    """
    A body that keeps the client's connection alive while work runs: it
    writes C{opening} at once, then a beat every C{interval} seconds (the
    first beat C{first_beat}, the later ones a space) until the work fires
    with its summary, which ends the body, after C{separator} when any beat
    went out. Stopping (the client went away) cancels the work.

    @param work: the work, or a function starting it when the body is
        wanted.
    """

    length = UNKNOWN_LENGTH

    def __init__(
        self,
        clock: IReactorTime,
        interval: float,
        work: Union["Deferred[bytes]", Callable[[], "Deferred[bytes]"]],
        opening: bytes = b" ",
        first_beat: bytes = b" ",
        separator: bytes = b"",
    ) -> None:
        self._clock = clock
        self._interval = interval
        # Work already running is cancelled even if the body never starts.
        self._start = work if callable(work) else None
        self._work: Optional[Deferred[bytes]] = None if callable(work) else work
        self._opening = opening
        self._beat_bytes = first_beat
        self._separator = separator
        self._beaten = False
        self._consumer: Optional[IConsumer] = None
        self._done: Optional[Deferred[None]] = None
        self._timer: Optional[IDelayedCall] = None
        self._paused = False

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        self._consumer = consumer
        done: Deferred[None] = Deferred(lambda _: self.stopProducing())
        self._done = done
        if self._opening:
            consumer.write(self._opening)
        self._timer = self._clock.callLater(self._interval, self._beat)
        if self._start is not None:
            self._work = self._start()
        assert self._work is not None
        self._work.addCallbacks(self._finish, self._failed)
        return done

    def _beat(self) -> None:
        self._timer = None
        if self._consumer is None:
            return
        if not self._paused:
            self._consumer.write(self._beat_bytes)
            self._beat_bytes, self._beaten = b" ", True
        self._timer = self._clock.callLater(self._interval, self._beat)

    def _stop_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _finish(self, summary: bytes) -> None:
        self._stop_timer()
        self._work = None
        consumer, self._consumer = self._consumer, None
        done, self._done = self._done, None
        if consumer is not None and done is not None:
            consumer.write((self._separator if self._beaten else b"") + summary)
            done.callback(None)

    def _failed(self, reason: Failure) -> None:
        self._stop_timer()
        self._work = None
        self._consumer = None
        done, self._done = self._done, None
        if done is not None:
            done.errback(reason)
        elif not reason.check(CancelledError):
            _log.failure("Work behind a heartbeat body failed", reason)

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False

    def stopProducing(self) -> None:
        self._stop_timer()
        self._consumer = None
        self._done = None
        work, self._work = self._work, None
        if work is not None:
            work.cancel()
