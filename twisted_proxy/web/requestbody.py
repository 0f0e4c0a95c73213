# -*- test-case-name: tests.test_bulk,tests.test_zerocopy_put,tests.e2e.test_e2e_failover -*-
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

When its consumer can take bytes straight from a socket
(L{IZeroCopyConsumer}: a replicated PUT's fan-out, behind whatever only
counts them) and at least L{MIN_RELAY} bytes of a body of known length
remain, those bytes are relayed from the client's socket (L{ClientSocket})
and never enter Python; the body then ends as it would have.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IConsumer, IPushProducer
from twisted.python.failure import Failure
from twisted.web import http
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from twisted_proxy._twisted import (
    IStreamingBody,
    is_disconnected,
    read_around,
    tcp_connection_of,
    unread_body,
)
from twisted_proxy.backend.streaming import MIN_RELAY
from twisted_proxy.backend.zerocopy import SOURCE, RelayFailed, RelayHandle, relayed_bytes
from twisted_proxy.interfaces import IZeroCopyConsumer
from twisted_proxy.swift.http import ClientGone

__all__ = ["ClientSocket", "RequestBody", "HOLD_LIMIT"]

#: Bytes held while no consumer has started; past this the client is paused.
HOLD_LIMIT = 256 * 1024


class ClientSocket:
    """
    The client connection a request's body arrives on, seen as a socket
    from which a zero-copy relay may take the rest of the body.

    @param read_timeout: seconds the client may send nothing while a relay
        waits for it, when the channel has no idle timeout of its own.
    """

    def __init__(self, request: http.Request, read_timeout: float = 60.0) -> None:
        self._request = request
        self._default_timeout = read_timeout
        self._idle: Optional[float] = None

    def fileno(self, count: int) -> Optional[int]:
        """
        The socket's descriptor, when the next C{count} bytes of the body
        are all still in it: a plain TCP connection (no TLS), still open,
        whose channel has read none of them; C{None} otherwise.
        """
        request = self._request
        channel = request.channel
        if channel is None or is_disconnected(request) or unread_body(request) != count:
            return None
        connection = tcp_connection_of(channel.transport)
        if connection is None or connection.disconnecting:
            return None
        return int(connection.fileno())

    @property
    def read_timeout(self) -> float:
        """
        Seconds the client may send nothing: the channel's idle timeout
        (C{client_timeout}).
        """
        channel: Any = self._request.channel
        timeout = getattr(channel, "timeOut", None)
        return float(timeout) if timeout else self._default_timeout

    def relaying(self) -> None:
        """
        A relay reads the socket now: the relay watches the client instead
        of the channel's idle timeout, which nothing would reset meanwhile.
        """
        channel: Any = self._request.channel
        self._idle = channel.setTimeout(None)

    def relayed(self, count: int) -> None:
        """
        The relay ended after taking C{count} bytes of the body: the channel
        is told (L{read_around}), which may end the body.
        """
        channel: Any = self._request.channel
        if channel is None or is_disconnected(self._request):
            return
        channel.setTimeout(self._idle)
        read_around(self._request, count)

    def abort(self) -> None:
        """
        Drop the connection: the client failed mid-body.
        """
        channel = self._request.channel
        transport: Any = channel.transport if channel is not None else None
        if transport is not None:
            transport.abortConnection()


@implementer(IBodyProducer, IPushProducer, IStreamingBody)
class RequestBody:
    """
    The body of one request, produced into whichever consumer starts it.

    @param reading: reading from the client connection, an L{IPushProducer}
        paused while the consumer cannot take more and resumed when it can:
        this body's own holder of the channel's read gate.
    @param length: the declared body length, or C{None} for a chunked body.
    @param client: the connection's socket, for a consumer that can take
        the body from it (L{IZeroCopyConsumer}); C{None} never to offer it.
    @ivar received: bytes received from the client so far.
    @ivar complete: whether the whole body has arrived.
    """

    def __init__(self, reading: IPushProducer, length: Optional[int],
                 client: Optional[ClientSocket] = None) -> None:
        self._reading = reading
        self._client = client
        self._relaying: Optional[RelayHandle] = None
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
        if self._stopped or not data:
            return
        if self._relaying is not None:
            # Nothing is read from the client while a relay runs: bytes
            # from elsewhere have no place in the body.
            self._relaying.cancel()
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
        # No relay can start now: let go of the client's socket, which
        # refers back to the request, and so to this body.
        self._client = None
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
        if self._relaying is not None:
            self._relaying.cancel()
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
            self._relay_rest()
        return done

    def pauseProducing(self) -> None:
        self._consumerPaused = True
        self._update_reading()

    def resumeProducing(self) -> None:
        self._consumerPaused = False
        self._update_reading()
        self._relay_rest()

    def stopProducing(self) -> None:
        """
        The consumer wants no more: the rest of the body is read and
        dropped, and the Deferred from L{startProducing} does not fire.
        """
        self._stopped = True
        self._done = None
        self._consumer = None
        self._held = []
        self._heldBytes = 0
        self._consumerPaused = False
        if self._relaying is not None:
            self._relaying.cancel()
        self._update_reading()

    # -- zero-copy --------------------------------------------------------

    def _relay_rest(self) -> None:
        """
        Offer the rest of the body to the consumer as the client's socket,
        if it can take it so and enough is left.
        """
        client = self._client
        consumer = self._consumer
        if (client is None or self._relaying is not None or self._stopped or self.complete
                or self._failure is not None or self.length is UNKNOWN_LENGTH
                or not IZeroCopyConsumer.providedBy(consumer)):
            return
        assert isinstance(self.length, int)
        remaining = self.length - self.received
        if remaining < MIN_RELAY:
            return
        source = client.fileno(remaining)
        if source is None:
            return
        handle = consumer.relay_from(  # type: ignore[union-attr]
            source, remaining, client.read_timeout)
        if handle is None:
            return
        self._relaying = handle
        client.relaying()
        self._update_reading()
        handle.done.addBoth(self._relayed)

    def _relayed(self, result: object) -> None:
        self._relaying = None
        moved = relayed_bytes(result)
        self.received += moved
        client = self._client
        assert client is not None
        # On success this ends the body (body_complete).
        client.relayed(moved)
        self._update_reading()
        if not isinstance(result, Failure) or self._stopped:
            return
        failed = result.value
        if isinstance(failed, RelayFailed) and failed.side == SOURCE:
            # The client went or stalled: as the channel would, drop it;
            # its connectionLost fails the body.
            client.abort()
            return
        done, self._done = self._done, None
        if done is not None:
            done.errback(result)

    # -- internals --------------------------------------------------------

    def _finish(self) -> None:
        done, self._done = self._done, None
        if done is not None:
            done.callback(None)
        # The consumer (a meter, say) refers back to this body: over.
        self._consumer = None

    def _update_reading(self) -> None:
        if self._relaying is not None:
            wanted = True
        elif self._stopped or self.complete:
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
