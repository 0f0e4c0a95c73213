# -*- test-case-name: tests.test_copy,tests.test_slo -*-
"""
Keeping a client's connection alive during a long server-side operation
(a copy, a large object manifest upload): C{202 Accepted} at once, a space
every C{yield_frequency} seconds, then the summary, as Swift's
C{?heartbeat=on}.
"""

from __future__ import annotations

from typing import Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IConsumer, IDelayedCall, IPushProducer, IReactorTime
from twisted.python.failure import Failure
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

__all__ = ["Heartbeat"]


@implementer(IBodyProducer, IPushProducer)
class Heartbeat:
    """
    The body of a C{?heartbeat=on} answer: a space at once and every
    C{interval} seconds until C{outcome} fires with the summary, which ends
    the body. Stopping (the client went away) cancels C{outcome}.
    """

    length = UNKNOWN_LENGTH

    def __init__(self, clock: IReactorTime, interval: float,
                 outcome: "Deferred[bytes]") -> None:
        self._clock = clock
        self._interval = interval
        self._outcome = outcome
        self._consumer: Optional[IConsumer] = None
        self._done: Optional[Deferred[None]] = None
        self._timer: Optional[IDelayedCall] = None
        self._paused = False

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        self._consumer = consumer
        done: Deferred[None] = Deferred(lambda _: self.stopProducing())
        self._done = done
        consumer.write(b" ")
        self._timer = self._clock.callLater(self._interval, self._beat)
        self._outcome.addCallbacks(self._finish, self._failed)
        return done

    def _beat(self) -> None:
        self._timer = None
        if self._consumer is None:
            return
        if not self._paused:
            self._consumer.write(b" ")
        self._timer = self._clock.callLater(self._interval, self._beat)

    def _stopTimer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _finish(self, summary: bytes) -> None:
        self._stopTimer()
        consumer, self._consumer = self._consumer, None
        done, self._done = self._done, None
        if consumer is not None and done is not None:
            consumer.write(summary)
            done.callback(None)

    def _failed(self, reason: Failure) -> None:
        self._stopTimer()
        self._consumer = None
        done, self._done = self._done, None
        if done is not None:
            done.errback(reason)

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False

    def stopProducing(self) -> None:
        self._stopTimer()
        self._consumer = None
        self._done = None
        self._outcome.cancel()


