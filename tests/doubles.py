"""
Test doubles shared by the plugin tests: a consumer that collects what it is
given, and a stored object's body as the object controller streams it.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IConsumer
from twisted.python.failure import Failure
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

__all__ = ["Collector", "StoredBody"]


@implementer(IConsumer)
class Collector:
    """
    Collects a body; remembers the producer registered with it, and with
    C{pause_after}, pauses C{producer} once it holds that many bytes.
    """

    def __init__(self, producer: Any = None, pause_after: Optional[int] = None) -> None:
        self.data = b""
        self.producer = producer
        self.pause_after = pause_after

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        self.data += data
        if self.pause_after is not None and len(self.data) >= self.pause_after:
            self.pause_after = None
            self.producer.pauseProducing()


@implementer(IBodyProducer)
class StoredBody:
    """
    A stored object's body, as the object controller's: written in two
    pieces when asked (or, held, on L{release}); records pausing and
    stopping.
    """

    def __init__(self, data: bytes, hold: bool = False) -> None:
        self.data = data
        self.length = len(data)
        self.hold = hold
        self.started = False
        self.stopped = False
        self.paused = False
        self.consumer: Optional[IConsumer] = None
        self.done: Optional[Deferred[None]] = None

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        self.started = True
        self.consumer = consumer
        done: Deferred[None] = Deferred(lambda _: self.stopProducing())
        self.done = done
        if not self.hold:
            self.release()
        return done

    def release(self) -> None:
        assert self.consumer is not None and self.done is not None
        half = len(self.data) // 2
        for piece in (self.data[:half], self.data[half:]):
            if piece and not self.stopped:
                self.consumer.write(piece)
        done, self.done = self.done, None
        if not self.stopped:
            done.callback(None)

    def fail(self, reason: Exception) -> None:
        assert self.done is not None
        done, self.done = self.done, None
        done.errback(Failure(reason))

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        self.stopped = True
