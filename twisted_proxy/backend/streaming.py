# -*- test-case-name: tests.test_streaming -*-
"""
Relaying one backend response body to the client, chunk by chunk.

L{BackendBody} is an L{IBodyProducer} over an L{IResponse}: it pauses the
backend connection when the client's consumer is full, and fails (rather
than finishing) when the node stalls past its read timeout or sends fewer
bytes than it announced, so the caller can resume elsewhere or abort the
client connection instead of handing over a silently short body.

When its consumer can take bytes straight from a socket
(L{IZeroCopyConsumer}) and at least L{MIN_RELAY} bytes remain, the rest of
the body is relayed there (L{twisted_proxy.backend.zerocopy}) and never
enters Python; the body then ends as it would have, with the same errors.

L{StallTimer} is that read timeout, for any reader of a node's body.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IConsumer, IDelayedCall, IPushProducer, IReactorTime
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.web.client import PotentialDataLoss, ResponseDone
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer, IResponse
from zope.interface import implementer

from twisted_proxy._twisted import tcp_connection_of
from twisted_proxy.backend.zerocopy import SINK, SOURCE, RelayFailed, RelayHandle
from twisted_proxy.interfaces import IZeroCopyConsumer

__all__ = ["BackendBody", "MIN_RELAY", "ShortRead", "ReadTimeout", "StallTimer"]

#: The fewest remaining body bytes worth a zero-copy relay (a thread and a
#: pipe): below it, writing them is cheaper.
MIN_RELAY = 1024 * 1024


class ShortRead(Exception):
    """
    The backend's body ended before all announced bytes arrived.
    """


class ReadTimeout(Exception):
    """
    The backend sent nothing for longer than the read timeout.
    """


class StallTimer:
    """
    A node's read timeout: calls C{stalled} once C{timeout} seconds pass
    after the last L{arm} with no L{disarm} between. A reader arms it when
    it wants bytes and again on each arrival, and disarms it while paused
    or once done.

    @ivar timeout: the seconds, for messages.
    """

    def __init__(self, clock: IReactorTime, timeout: float,
                 stalled: Callable[[], None]) -> None:
        self._clock = clock
        self.timeout = timeout
        self._stalled = stalled
        self._call: Optional[IDelayedCall] = None

    def arm(self) -> None:
        """
        Start the timeout again from now.
        """
        if self._call is not None and self._call.active():
            self._call.reset(self.timeout)
        else:
            self._call = self._clock.callLater(self.timeout, self._fire)

    def disarm(self) -> None:
        """
        Stop the timeout (if running).
        """
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def close(self) -> None:
        """
        Stop the timeout for good and let go of C{stalled}: its owner,
        done, is not kept alive by a reference cycle through this timer
        (freed as soon as nothing else holds it, rather than by the cyclic
        collector).
        """
        self.disarm()
        self._stalled = _never_called

    def _fire(self) -> None:
        self._call = None
        self._stalled()


def _never_called() -> None:
    pass


@implementer(IBodyProducer, IPushProducer)
class BackendBody(Protocol):
    """
    Streams C{response}'s body into a consumer.

    @ivar length: the body length the backend announced, or
        L{UNKNOWN_LENGTH}.
    @ivar received: bytes relayed so far.

    @param clock: for the read timeout.
    @param read_timeout: seconds the backend may stay silent while the
        consumer is ready for more (the timer does not run while paused).
    """

    def __init__(
        self, response: IResponse, clock: IReactorTime, read_timeout: float
    ) -> None:
        self._response = response
        self.length = response.length
        self.received = 0
        self._consumer: Optional[IConsumer] = None
        self._done: Optional[Deferred[None]] = None
        self._clock = clock
        self._timer = StallTimer(clock, read_timeout, self._timed_out)
        self._paused = False
        self._stopped = False
        self._relaying: Optional[RelayHandle] = None

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        """
        Begin writing to C{consumer}.

        @return: a L{Deferred} that fires when the whole body has been
            written, or fails with L{ShortRead}, L{ReadTimeout} or the
            connection's error.
        """
        self._consumer = consumer
        done: Deferred[None] = Deferred(lambda _: self.stopProducing())
        self._done = done
        if not self._paused:
            self._timer.arm()
        # A small body may arrive, and end, within this call.
        self._response.deliverBody(self)
        # The consumer may have paused us before the body was connected (a
        # client whose socket is already full); deliverBody resumes the
        # backend transport, so pause it again now it is known.
        if self._paused and not self._stopped and self.transport is not None:
            self.transport.pauseProducing()  # type: ignore[attr-defined]
        if self._relay_wanted():
            # The rest of the bytes already read (those after the headers
            # in the read that brought them) still reach dataReceived once
            # this call returns: let them, and read no more, before the
            # socket is handed over.
            self.transport.pauseProducing()  # type: ignore[union-attr]
            self._clock.callLater(0, self._relay_rest)
        return done

    def _relay_wanted(self) -> bool:
        """
        Whether the rest of the body could go to the consumer as a socket.
        """
        if (self._stopped or self.length is UNKNOWN_LENGTH
                or not IZeroCopyConsumer.providedBy(self._consumer)):
            return False
        connection = tcp_connection_of(self.transport)
        return (self.length - self.received >= MIN_RELAY and connection is not None
                and not connection.disconnecting)

    def _relay_rest(self) -> None:
        """
        Hand the rest of the body to the consumer as a socket, if it can
        take it so and enough is left.
        """
        transport: Any = self.transport
        if not self._relay_wanted():
            if not self._stopped and not self._paused:
                transport.resumeProducing()  # type: ignore[attr-defined]
            return
        connection = tcp_connection_of(transport)
        assert connection is not None
        consumer = self._consumer
        handle = consumer.relay_from(  # type: ignore[union-attr]
            connection.fileno(), self.length - self.received, self._timer.timeout)
        if handle is None:
            if not self._paused:
                transport.resumeProducing()  # type: ignore[attr-defined]
            return
        self._relaying = handle
        self._timer.disarm()
        handle.done.addCallbacks(self._relayed, self._relay_failed)

    def _relayed(self, moved: int) -> None:
        self._relaying = None
        self.received += moved
        if self._stopped:
            return
        # The connection's parser still waits for the bytes that went
        # around it: it cannot serve another request.
        self._finish()
        self._abort_backend()

    def _relay_failed(self, failure: Failure) -> None:
        self._relaying = None
        problem = failure.value
        if isinstance(problem, RelayFailed):
            self.received += problem.moved
            if problem.side == SOURCE:
                failure = Failure(ShortRead(f"got {self.received} of {self.length}: "
                                            f"{problem.why}"))
        if self._stopped:
            return
        self._fail(failure)
        self._abort_backend()

    def _timed_out(self) -> None:
        self._fail(Failure(ReadTimeout(f"no data for {self._timer.timeout}s")))
        self._abort_backend()

    def _abort_backend(self) -> None:
        transport = self.transport
        if transport is not None:
            loseConnection = getattr(transport, "loseConnection", None)
            if loseConnection is not None:
                loseConnection()
            else:
                transport.stopProducing()  # type: ignore[attr-defined]

    def dataReceived(self, data: bytes) -> None:
        if self._stopped or self._consumer is None:
            return
        if self._relaying is not None:
            # Bytes read around a running relay can have no right place in
            # the body: end it rather than misplace them.
            self._fail(Failure(RelayFailed(0, SINK, "data arrived beside a zero-copy relay")))
            self.stopProducing()
            return
        self.received += len(data)
        if not self._paused:
            self._timer.arm()
        self._consumer.write(data)

    def connectionLost(self, reason: Failure = Failure(ResponseDone())) -> None:
        self._timer.disarm()
        if self._stopped:
            return
        if self.length is UNKNOWN_LENGTH:
            # Without a length, a body delimited by the connection's close
            # ends with PotentialDataLoss: that is its normal end.
            if reason.check(ResponseDone, PotentialDataLoss):
                self._finish()
            else:
                self._fail(reason)
        elif reason.check(ResponseDone):
            if self.received == self.length:
                self._finish()
            else:
                self._fail(
                    Failure(ShortRead(f"got {self.received} of {self.length}"))
                )
        else:
            self._fail(reason)

    def _finish(self) -> None:
        done, self._done = self._done, None
        self._stopped = True
        self._timer.close()
        if done is not None:
            done.callback(None)

    def _fail(self, failure: Failure) -> None:
        done, self._done = self._done, None
        self._stopped = True
        self._timer.close()
        if done is not None:
            done.errback(failure)

    def pauseProducing(self) -> None:
        self._paused = True
        if self._relaying is not None:
            # The relay keeps its own pace; the transport stays paused.
            return
        self._timer.disarm()
        # Once stopped, the backend is finished with or dropped.
        if not self._stopped and self.transport is not None:
            self.transport.pauseProducing()  # type: ignore[attr-defined]

    def resumeProducing(self) -> None:
        self._paused = False
        if self._stopped or self._relaying is not None:
            return
        self._timer.arm()
        if self.transport is not None:
            self.transport.resumeProducing()  # type: ignore[attr-defined]

    def stopProducing(self) -> None:
        """
        The consumer wants no more: drop the backend connection. The
        Deferred from L{startProducing} does not fire afterwards.
        """
        self._stopped = True
        self._done = None
        self._timer.close()
        if self._relaying is not None:
            self._relaying.cancel()
        self._abort_backend()
