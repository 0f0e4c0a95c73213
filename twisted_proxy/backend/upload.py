# -*- test-case-name: tests.test_upload,tests.test_upload_zerocopy -*-
"""
Fanning one upload out to several storage nodes.

An L{UploadFanout} takes the body as it arrives (C{write}/C{finish}) and
hands every chunk to one L{IBodyProducer} slot per backend request. When any
live backend cannot take more, the source (the client connection, or the
body of a copy's source object) is paused; a backend that fails is dropped
and the upload goes on to the others. Nothing is buffered beyond the chunk
in hand.

Given a L{SocketRelay}, the fan-out can also take the rest of a body
straight from its source's socket (L{IZeroCopyConsumer}): once every slot
has started, the bytes go to every live backend socket through
L{twisted_proxy.backend.zerocopy_put} without entering Python, after what
each connection had buffered; the slowest live backend still sets the
pace, and one that takes nothing for C{node_timeout} is dropped.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Optional

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IConsumer, IProducer, IPushProducer, IReactorTime
from twisted.python.failure import Failure
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from twisted_proxy._twisted import UploadSink, upload_sink
from twisted_proxy.backend.zerocopy import (
    SOURCE,
    RelayFailed,
    RelayHandle,
    SocketRelay,
    relayed_bytes,
)
from twisted_proxy.backend.zerocopy_put import MAX_SINKS, TEE_AVAILABLE, TeeRelay, start_tee
from twisted_proxy.interfaces import IZeroCopyConsumer

__all__ = ["UploadFanout", "UploadSlot", "SourceGone"]


class SourceGone(Exception):
    """
    The upload's source failed before the whole body arrived.
    """


@implementer(IBodyProducer)
class UploadSlot:
    """
    The body of one backend request of an upload.
    """

    def __init__(self, fanout: "UploadFanout", length: int | object) -> None:
        self._fanout = fanout
        self.length = length
        self.consumer: Optional[IConsumer] = None
        #: Whether its request asked for the body (connected): the body,
        #: or a part of it, may have gone to its node.
        self.started = False
        self.paused = False
        #: When the backend stopped taking data (C{None}: it is taking it).
        self.paused_since: Optional[float] = None
        self.live = True
        self._done: Optional[Deferred[None]] = None

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        failure = self._fanout._failure
        if failure is not None:
            # The source failed before this request got its connection:
            # abort it too rather than leave it waiting for a body.
            self.live = False
            return fail(failure)
        self.consumer = consumer
        self.started = True
        done = self._done = Deferred(lambda _: self.stopProducing())
        self._fanout._slot_started(self)
        return done

    def pauseProducing(self) -> None:
        self.paused = True
        if self.paused_since is None:
            self.paused_since = self._fanout.now()
        self._fanout._update_flow()

    def resumeProducing(self) -> None:
        self.paused = False
        self.paused_since = None
        self._fanout._update_flow()

    def stopProducing(self) -> None:
        if self.live:
            self.live = False
            self._done = None
            self.consumer = None
            self._fanout._slot_gone(self)

    def _write(self, data: bytes) -> None:
        if self.live and self.consumer is not None:
            self.consumer.write(data)

    def _finish(self) -> None:
        done, self._done = self._done, None
        # Its request's consumer refers back to it: the body is over.
        self.consumer = None
        if done is not None:
            done.callback(None)

    def _fail(self, failure: Failure) -> None:
        done, self._done = self._done, None
        self.live = False
        self.consumer = None
        if done is not None:
            done.errback(failure)


@implementer(IConsumer, IZeroCopyConsumer)
class UploadFanout:
    """
    One upload body shared by several backend requests.

    Slots are made with L{slot} before any request starts. Data is passed
    on only once every slot has started (its connection is up) or gone, so
    a slow connect never loses the first chunks.

    The fan-out is the source's L{IConsumer}: the source may register itself
    with L{registerProducer} (or be given with L{register_source}) to be
    paused while any live slot is paused or not every slot has started.

    @param length: the body length, or C{None} when unknown (chunked).
    @param relay: runs zero-copy relays (L{relay_from}); C{None} for none.
    @param node_timeout: seconds a backend may take no bytes of a relay
        before it is dropped.
    @ivar received: bytes written (or relayed) so far.
    @ivar relays: zero-copy relays started.
    @ivar onAllGone: called once, with no arguments, when the last live slot
        goes (its request failed or stopped reading the body).
    @ivar onSlotFailed: called with a slot and its error, when a relay dropped the
        slot's backend (it failed, or took nothing for C{node_timeout}):
        the slot is gone, its request is left to end.
    """

    def __init__(self, length: Optional[int], clock: Optional[IReactorTime] = None,
                 relay: Optional[SocketRelay] = None, node_timeout: float = 10.0) -> None:
        self.length = length
        self._clock = clock
        self._relay = relay
        self._node_timeout = node_timeout
        self._tee: Optional[TeeRelay] = None
        self._teeSlots: list[tuple[UploadSlot, UploadSink]] = []
        self.relays = 0
        self.onSlotFailed: Optional[Callable[[UploadSlot, Exception], None]] = None
        self.received = 0
        self._slots: list[UploadSlot] = []
        self._source: Optional[IPushProducer] = None
        self._sourcePaused = False
        # Chunks not yet handed to every slot: those written before all
        # slots started, and any written re-entrantly while one is being
        # handed out (so every slot sees the same order).
        self._pending: deque[bytes] = deque()
        self._delivering = False
        self._finished = False
        self._failure: Optional[Failure] = None
        self._readyFired = False
        self._onReady: list[Callable[[], None]] = []
        self.onAllGone: Optional[Callable[[], None]] = None

    def close(self) -> None:
        """
        The upload is over: let go of the slots, the source and every
        callback, which refer back to this fan-out (each slot to it, the
        source through its consumer), so that all of it is freed as soon
        as nothing else holds it rather than by the cyclic collector.
        """
        self._slots = []
        self._source = None
        self._onReady = []
        self.onAllGone = None
        self.onSlotFailed = None

    def now(self) -> float:
        """
        The time on the fan-out's clock (0 without one).
        """
        return self._clock.seconds() if self._clock is not None else 0.0

    def slot(self) -> UploadSlot:
        """
        A new slot, the body producer of one backend request.
        """
        slot = UploadSlot(self, UNKNOWN_LENGTH if self.length is None else self.length)
        self._slots.append(slot)
        return slot

    @property
    def live_slots(self) -> list[UploadSlot]:
        return [slot for slot in self._slots if slot.live]

    def when_ready(self) -> "Deferred[None]":
        """
        Fires when every slot has started or gone: the point at which Swift
        would have had its C{100 Continue} answers.
        """
        d: Deferred[None] = Deferred()
        self.on_ready(lambda: d.callback(None))
        return d

    def on_ready(self, ready: Callable[[], None]) -> None:
        """
        Call C{ready} (with no arguments) when every slot has started or
        gone, as L{when_ready} fires: at once if that is so already. Such
        calls are made in the order they were asked for.
        """
        if self._readyFired:
            ready()
        else:
            self._onReady.append(ready)

    def register_source(self, source: IPushProducer) -> None:
        """
        Tell the fan-out what to pause when backends are full.
        """
        self._source = source
        self._update_flow()

    def registerProducer(self, producer: IProducer, streaming: bool) -> None:
        """
        L{IConsumer.registerProducer}: the same as L{register_source}; only
        push producers are supported.
        """
        if not streaming:
            raise ValueError("UploadFanout needs a push (streaming) producer")
        self.register_source(producer)  # type: ignore[arg-type]

    def unregisterProducer(self) -> None:
        self._source = None
        self._sourcePaused = False

    def write(self, data: bytes) -> None:
        """
        Pass on the next chunk of the body.
        """
        if not data:
            return
        self.received += len(data)
        if self._failure is not None:
            return
        self._pending.append(data)
        self._deliver()

    def finish(self) -> None:
        """
        The body is complete: end every slot's body (once every slot has
        started and everything written has been handed on).
        """
        if self._failure is not None:
            return
        self._finished = True
        self._deliver()

    @property
    def source_failed(self) -> bool:
        """
        Whether the source failed (L{fail}): the backend requests it
        aborted failed through no fault of their nodes.
        """
        return self._failure is not None

    def fail(self, reason: Failure) -> None:
        """
        The source failed: fail every slot's body, which aborts the backend
        requests (no partial object can be committed). A slot whose request
        starts later fails at once.
        """
        if self._failure is not None:
            return
        self._failure = reason
        self._pending.clear()
        for slot in self._slots:
            slot._fail(reason)
        self._check_ready()

    def _deliver(self) -> None:
        """
        Hand the pending chunks to every live slot, in order, then end the
        slots' bodies if the source has finished.
        """
        if not self._readyFired or self._delivering:
            return
        self._delivering = True
        try:
            while self._pending:
                data = self._pending.popleft()
                for slot in self._slots:
                    slot._write(data)
        finally:
            self._delivering = False
        if self._finished and self._failure is None:
            for slot in self._slots:
                if slot.live:
                    slot._finish()

    def _slot_started(self, slot: UploadSlot) -> None:
        self._check_ready()

    def _slot_gone(self, slot: UploadSlot) -> None:
        tee = self._tee
        if tee is not None:
            for index, (relayed, _) in enumerate(self._teeSlots):
                if relayed is slot:
                    tee.drop(index)
        self._check_ready()
        self._update_flow()
        if not self.live_slots and self.onAllGone is not None:
            self.onAllGone()

    def drop_slot(self, slot: UploadSlot) -> None:
        """
        Stop feeding C{slot}: its request failed. Dropping a slot that is
        already gone does nothing.
        """
        if slot.live:
            slot.live = False
            self._slot_gone(slot)

    def _check_ready(self) -> None:
        if self._readyFired:
            return
        for slot in self._slots:
            if slot.live and not slot.started:
                return
        # Every slot has started or gone.
        self._readyFired = True
        self._deliver()
        waiting, self._onReady = self._onReady, []
        for ready in waiting:
            ready()
        self._update_flow()

    def _update_flow(self) -> None:
        if self._source is None:
            return
        blocked = not self._readyFired
        if not blocked:
            for slot in self._slots:
                if slot.live and slot.paused:
                    blocked = True
                    break
        if blocked and not self._sourcePaused:
            self._sourcePaused = True
            self._source.pauseProducing()
        elif not blocked and self._sourcePaused:
            self._sourcePaused = False
            self._source.resumeProducing()

    # -- zero-copy --------------------------------------------------------

    def relay_from(self, source: int, count: int, read_timeout: float
                   ) -> Optional[RelayHandle]:
        """
        L{IZeroCopyConsumer.relay_from}: relay the next C{count} bytes from
        the socket C{source} to every live slot's backend socket, when the
        body has a known length, every slot has started, everything written
        before has been handed on, and every live backend connection is
        plain TCP expecting exactly C{count} more bytes; else C{None}.
        """
        relay = self._relay
        if (relay is None or not TEE_AVAILABLE or not relay.available()
                or self._tee is not None or not self._readyFired or self._pending
                or self._delivering or self._finished or self._failure is not None
                or self.length is None):
            return None
        slots = self.live_slots
        sinks = [upload_sink(slot.consumer) for slot in slots]
        if not slots or len(slots) > MAX_SINKS or any(
                sink is None or sink.remaining != count for sink in sinks):
            return None
        pairs = [(slot, sink) for slot, sink in zip(slots, sinks) if sink is not None]

        def heads() -> list[bytes]:
            for slot in slots:
                # Their connections' buffers are the relay's now: no pause
                # of theirs can last.
                slot.paused = False
                slot.paused_since = None
            return [sink.take_pending() for _, sink in pairs]

        try:
            tee = start_tee(relay, source, [sink.connection.fileno() for _, sink in pairs],
                            count, heads, read_timeout, self._node_timeout,
                            self._relay_dropped)
        except OSError:
            # Out of descriptors: the ordinary path still works.
            return None
        self._tee = tee
        self._teeSlots = pairs
        self.relays += 1
        tee.handle.done.addBoth(self._relay_ended)
        return tee.handle

    def _relay_dropped(self, index: int, why: Exception) -> None:
        if index >= len(self._teeSlots):
            return
        slot = self._teeSlots[index][0]
        if slot.live:
            self.drop_slot(slot)
            if self.onSlotFailed is not None:
                self.onSlotFailed(slot, why)

    def _relay_ended(self, result: object) -> object:
        pairs, self._teeSlots, self._tee = self._teeSlots, [], None
        moved = relayed_bytes(result)
        self.received += moved
        failed = result.value if isinstance(result, Failure) else None
        whole = failed is None or (isinstance(failed, RelayFailed) and failed.side == SOURCE)
        for slot, sink in pairs:
            if not slot.live:
                continue
            if whole:
                # Every live backend got every byte taken from the source.
                sink.written_around(moved)
            else:
                # Cancelled midway: what each got is unknown.
                self.drop_slot(slot)
        # The slots' pauses were dropped with their buffers: the source
        # may go on, if it has more.
        self._update_flow()
        return result
