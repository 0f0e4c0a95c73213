# -*- test-case-name: tests.test_bulk,tests.e2e.test_e2e_failover -*-
"""
A client's request body as it arrives, for streaming uploads.

twisted.web normally collects a whole request body (in memory or a temporary
file) before the resource sees the request. L{RequestBody} instead hands each
chunk on as it comes off the connection, and stops reading from the client
while its consumer (the upload fan-out to the storage nodes) is full, so a
multi-gigabyte upload needs no more memory than a few chunks.

It pauses the client through its own holder of the channel's
L{twisted_proxy._twisted.ReadGate}, so the channel resuming its own reads
after a response does not resume what the body paused, nor the other way
round.
"""

from __future__ import annotations

from typing import Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IConsumer, IPushProducer
from twisted.python.failure import Failure
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from twisted_proxy._twisted import IStreamingBody
from twisted_proxy.swift.http import ClientGone

__all__ = ["RequestBody", "HOLD_LIMIT"]

#: Bytes held while no consumer has started; past this the client is paused.
HOLD_LIMIT = 256 * 1024


@implementer(IBodyProducer, IPushProducer, IStreamingBody)
class RequestBody:
    """
    The body of one request, produced into whichever consumer starts it.

    @param reading: reading from the client connection, an L{IPushProducer}
        paused while the consumer cannot take more and resumed when it can:
        this body's own holder of the channel's read gate.
    @param length: the declared body length, or C{None} for a chunked body.
    @ivar received: bytes received from the client so far.
    @ivar complete: whether the whole body has arrived.
    """

    def __init__(self, reading: IPushProducer, length: Optional[int]) -> None:
        self._reading = reading
        self.length = UNKNOWN_LENGTH if length is None else length
        self.received = 0
        self.complete = False
        self._failure: Optional[Failure] = None
        self._held: list[bytes] = []
        self._heldBytes = 0
        self._consumer: Optional[IConsumer] = None
        self._done: Optional[Deferred[None]] = None
        self._consumerPaused = False
        self._readingPaused = False
        self._stopped = False
        self.started: Deferred[None] = Deferred()

    # -- the channel's side ---------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        """
        The next chunk from the client.
        """
        if self._stopped:
            return
        self.received += len(data)
        if self._consumer is None:
            self._held.append(data)
            self._heldBytes += len(data)
            if self._heldBytes > HOLD_LIMIT:
                self._update_reading()
            return
        self._consumer.write(data)

    def body_complete(self) -> None:
        """
        The client sent the whole body.
        """
        self.complete = True
        # Nothing more to read: a pause for a slow consumer must not outlive
        # the body, or the connection's next request would never be read.
        self._update_reading()
        if self._consumer is not None and not self._held:
            self._finish()

    def connectionLost(self, reason: Failure) -> None:
        """
        The client went away; an unfinished body fails.
        """
        if self.complete:
            return
        self._failure = Failure(ClientGone(reason.getErrorMessage()))
        done, self._done = self._done, None
        if done is not None:
            done.errback(self._failure)

    # -- IBodyProducer ----------------------------------------------------

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        """
        Write the body into C{consumer}: what has arrived at once, the rest
        as it comes.

        @return: a L{Deferred} that fires when the whole body has been
            written, or fails with L{ClientGone}.
        """
        done: Deferred[None] = Deferred(lambda _: self.stopProducing())
        if self._failure is not None:
            done.errback(self._failure)
            return done
        self._done = done
        self._consumer = consumer
        held, self._held, self._heldBytes = self._held, [], 0
        if not self.started.called:
            self.started.callback(None)
        for data in held:
            consumer.write(data)
        if self.complete:
            self._finish()
        else:
            self._update_reading()
        return done

    def pauseProducing(self) -> None:
        self._consumerPaused = True
        self._update_reading()

    def resumeProducing(self) -> None:
        self._consumerPaused = False
        self._update_reading()

    def stopProducing(self) -> None:
        """
        The consumer wants no more: the rest of the body is read and
        dropped, and the Deferred from L{startProducing} does not fire.
        """
        self._stopped = True
        self._done = None
        self._held = []
        self._heldBytes = 0
        self._consumerPaused = False
        self._update_reading()

    # -- internals --------------------------------------------------------

    def _finish(self) -> None:
        done, self._done = self._done, None
        if done is not None:
            done.callback(None)

    def _update_reading(self) -> None:
        if self._stopped or self.complete:
            wanted = False
        elif self._consumer is None:
            wanted = self._heldBytes > HOLD_LIMIT
        else:
            wanted = self._consumerPaused
        if wanted and not self._readingPaused:
            self._readingPaused = True
            self._reading.pauseProducing()
        elif not wanted and self._readingPaused:
            self._readingPaused = False
            self._reading.resumeProducing()
