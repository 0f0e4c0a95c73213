"""
Tests for L{twisted_proxy.backend.upload}.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Optional

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IConsumer, IPushProducer
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted_proxy.backend.upload import SourceGone, UploadFanout, UploadSlot


@implementer(IPushProducer)
class FakeSource:
    """
    A source that writes what it is offered into the fan-out as long as it
    is not paused, as a client connection would.
    """

    def __init__(self, fanout: UploadFanout) -> None:
        self.fanout = fanout
        self.queue: deque[bytes] = deque()
        self.paused = False
        self.pauses = 0
        self.resumes = 0

    def offer(self, data: bytes) -> None:
        self.queue.append(data)
        self.pump()

    def pump(self) -> None:
        while self.queue and not self.paused:
            self.fanout.write(self.queue.popleft())

    def pauseProducing(self) -> None:
        assert not self.paused, "paused twice"
        self.paused = True
        self.pauses += 1

    def resumeProducing(self) -> None:
        assert self.paused, "resumed while producing"
        self.paused = False
        self.resumes += 1
        self.pump()

    def stopProducing(self) -> None:
        pass


class BackendConsumer(StringTransport):
    """
    A backend connection that pauses its slot after C{limit} bytes since it
    was last resumed (0: never).
    """

    def __init__(self, limit: int = 0) -> None:
        super().__init__()
        self.limit = limit
        self.since = 0
        self.slot: Optional[UploadSlot] = None

    def write(self, data: bytes) -> None:
        super().write(data)
        self.since += len(data)
        if self.limit and self.since >= self.limit and self.slot is not None:
            if not self.slot.paused:
                self.slot.pauseProducing()

    def resume(self) -> None:
        self.since = 0
        assert self.slot is not None
        self.slot.resumeProducing()


def start(slot: UploadSlot, limit: int = 0) -> tuple[BackendConsumer, Deferred[None]]:
    consumer = BackendConsumer(limit)
    consumer.slot = slot
    return consumer, slot.startProducing(consumer)


class UploadSlotTests(SynchronousTestCase):
    """
    Tests for L{UploadSlot}.
    """

    def test_interface(self) -> None:
        """
        A slot is an L{IBodyProducer} with the upload's length, or
        L{UNKNOWN_LENGTH} for a chunked upload.
        """
        slot = UploadFanout(10).slot()
        self.assertTrue(verifyObject(IBodyProducer, slot))
        self.assertEqual(slot.length, 10)
        self.assertIs(UploadFanout(None).slot().length, UNKNOWN_LENGTH)


class UploadFanoutTests(SynchronousTestCase):
    """
    Tests for L{UploadFanout}.
    """

    def setUp(self) -> None:
        self.fanout = UploadFanout(None)
        self.slots = [self.fanout.slot() for _ in range(3)]
        self.gone: list[bool] = []
        self.fanout.onAllGone = lambda: self.gone.append(True)

    def start_all(self, limit: int = 0) -> list[tuple[BackendConsumer, Deferred[None]]]:
        return [start(slot, limit) for slot in self.slots]

    def test_consumer(self) -> None:
        """
        The fan-out is an L{IConsumer}.
        """
        self.assertTrue(verifyObject(IConsumer, self.fanout))

    def test_everySlotGetsEveryByte(self) -> None:
        """
        Once every slot has started, each chunk goes to every slot.
        """
        started = self.start_all()
        self.fanout.write(b"abc")
        self.fanout.write(b"")
        self.fanout.write(b"def")
        for consumer, _ in started:
            self.assertEqual(consumer.value(), b"abcdef")

    def test_heldUntilAllStarted(self) -> None:
        """
        Data written before every slot has started is held, then handed to
        all of them at once; L{UploadFanout.when_ready} fires then.
        """
        ready = self.fanout.when_ready()
        self.fanout.write(b"early ")
        first, _ = start(self.slots[0])
        second, _ = start(self.slots[1])
        self.fanout.write(b"bird")
        self.assertEqual(first.value(), b"")
        self.assertNoResult(ready)
        third, _ = start(self.slots[2])
        self.successResultOf(ready)
        for consumer in (first, second, third):
            self.assertEqual(consumer.value(), b"early bird")
        self.successResultOf(self.fanout.when_ready())

    def test_droppedBeforeStart(self) -> None:
        """
        A slot whose request failed before starting does not hold the
        others back.
        """
        ready = self.fanout.when_ready()
        self.fanout.write(b"x")
        a, _ = start(self.slots[0])
        b, _ = start(self.slots[1])
        self.fanout.drop_slot(self.slots[2])
        self.successResultOf(ready)
        self.assertEqual((a.value(), b.value()), (b"x", b"x"))
        self.assertEqual(self.fanout.live_slots, self.slots[:2])

    def test_sourcePausedUntilReady(self) -> None:
        """
        A source registered before every slot has started is paused until
        they have.
        """
        source = FakeSource(self.fanout)
        self.fanout.register_source(source)
        self.assertTrue(source.paused)
        self.start_all()
        self.assertFalse(source.paused)

    def test_registerProducer(self) -> None:
        """
        A source may register itself as the fan-out's push producer; a pull
        producer is refused.
        """
        source = FakeSource(self.fanout)
        self.fanout.registerProducer(source, True)
        self.assertTrue(source.paused)
        self.start_all()
        self.assertFalse(source.paused)
        self.fanout.unregisterProducer()
        self.slots[0].pauseProducing()
        self.assertFalse(source.paused)
        self.assertRaises(ValueError, self.fanout.registerProducer, source, False)

    def test_anySlotPausedPausesSource(self) -> None:
        """
        The source is paused while any live slot is paused, and resumed when
        none is.
        """
        self.start_all()
        source = FakeSource(self.fanout)
        self.fanout.register_source(source)
        self.assertFalse(source.paused)
        self.slots[0].pauseProducing()
        self.assertTrue(source.paused)
        self.slots[1].pauseProducing()
        self.slots[0].resumeProducing()
        self.assertTrue(source.paused)
        self.slots[1].resumeProducing()
        self.assertFalse(source.paused)
        self.assertEqual((source.pauses, source.resumes), (1, 1))

    def test_pausedSlotGoneResumesSource(self) -> None:
        """
        A paused slot that goes no longer holds the source back.
        """
        self.start_all()
        source = FakeSource(self.fanout)
        self.fanout.register_source(source)
        self.slots[2].pauseProducing()
        self.assertTrue(source.paused)
        self.slots[2].stopProducing()
        self.assertFalse(source.paused)

    def test_slotGoneOthersContinue(self) -> None:
        """
        A slot whose request stops reading gets nothing more; the others go
        on, and its Deferred never fires.
        """
        (a, da), (b, db), (c, dc) = self.start_all()
        self.fanout.write(b"1")
        self.slots[1].stopProducing()
        self.fanout.write(b"2")
        self.fanout.finish()
        self.assertEqual((a.value(), b.value(), c.value()), (b"12", b"1", b"12"))
        self.successResultOf(da)
        self.assertNoResult(db)
        self.successResultOf(dc)
        self.assertEqual(self.fanout.live_slots, [self.slots[0], self.slots[2]])
        self.assertEqual(self.gone, [])

    def test_cancelSlot(self) -> None:
        """
        Cancelling a slot's Deferred stops that slot.
        """
        (_, d), _, _ = self.start_all()
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertFalse(self.slots[0].live)

    def test_allGone(self) -> None:
        """
        When the last live slot goes, C{onAllGone} is called, once, however
        the slots went.
        """
        self.start_all()
        self.slots[0].stopProducing()
        self.fanout.drop_slot(self.slots[1])
        self.assertEqual(self.gone, [])
        self.slots[2].stopProducing()
        self.assertEqual(self.gone, [True])
        # The request that stopped reading then fails, and is dropped too.
        for slot in self.slots:
            self.fanout.drop_slot(slot)
            slot.stopProducing()
        self.assertEqual(self.gone, [True])

    def test_finish(self) -> None:
        """
        L{UploadFanout.finish} ends every live slot's body.
        """
        started = self.start_all()
        self.fanout.write(b"body")
        self.fanout.finish()
        for consumer, d in started:
            self.successResultOf(d)
            self.assertEqual(consumer.value(), b"body")

    def test_finishBeforeReady(self) -> None:
        """
        A body that ends before every slot has started is handed over whole
        and ended once they have; the last slot to start gets a Deferred
        that has already fired.
        """
        self.fanout.write(b"tiny")
        self.fanout.finish()
        (a, da), (b, db) = start(self.slots[0]), start(self.slots[1])
        self.assertNoResult(da)
        c, dc = start(self.slots[2])
        self.assertIsInstance(dc, Deferred)
        for consumer, d in ((a, da), (b, db), (c, dc)):
            self.successResultOf(d)
            self.assertEqual(consumer.value(), b"tiny")

    def test_fail(self) -> None:
        """
        L{UploadFanout.fail} fails every started slot's body with the reason
        and feeds them nothing more.
        """
        started = self.start_all()
        self.fanout.write(b"part")
        self.fanout.fail(Failure(SourceGone("client left")))
        self.fanout.write(b"more")
        self.fanout.finish()
        for consumer, d in started:
            self.failureResultOf(d, SourceGone)
            self.assertEqual(consumer.value(), b"part")
        self.assertEqual(self.fanout.live_slots, [])

    def test_failBeforeStart(self) -> None:
        """
        A slot whose request starts after the source failed fails at once
        rather than waiting for a body forever; L{UploadFanout.when_ready}
        still fires.
        """
        ready = self.fanout.when_ready()
        (a, da) = start(self.slots[0])
        self.fanout.fail(Failure(SourceGone()))
        self.failureResultOf(da, SourceGone)
        self.successResultOf(ready)
        _, db = start(self.slots[1])
        self.failureResultOf(db, SourceGone)

    def test_received(self) -> None:
        """
        C{received} counts everything written, whether or not any
        slot took it.
        """
        self.fanout.write(b"hello ")
        self.start_all()
        for slot in self.slots:
            slot.stopProducing()
        self.fanout.write(b"world")
        self.assertEqual(self.fanout.received, 11)

    def test_reentrantWrite(self) -> None:
        """
        A write that happens while a chunk is being handed out (a source
        that writes as soon as it is resumed) reaches every slot after that
        chunk.
        """
        started = self.start_all()
        source = FakeSource(self.fanout)
        self.fanout.register_source(source)
        self.slots[1].pauseProducing()
        source.offer(b"second")
        first, _ = started[0]

        class Resuming(BackendConsumer):
            def write(inner, data: bytes) -> None:
                super().write(data)
                if data == b"first":
                    self.slots[1].resumeProducing()

        resuming = Resuming()
        self.slots[0].consumer = resuming
        self.fanout.write(b"first")
        self.assertEqual(resuming.value(), b"firstsecond")
        for consumer, _ in started[1:]:
            self.assertEqual(consumer.value(), b"firstsecond")


_action = st.one_of(
    st.tuples(st.just("offer"), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("start"), st.integers(0, 3)),
    st.tuples(st.just("resume"), st.integers(0, 3)),
    st.tuples(st.just("pause"), st.integers(0, 3)),
    st.tuples(st.just("stop"), st.integers(0, 3)),
    st.tuples(st.just("drop"), st.integers(0, 3)),
)


class UploadFanoutPropertyTests(SynchronousTestCase):
    """
    L{UploadFanout} under random chunkings and flow control.
    """

    @given(
        slot_count=st.integers(1, 4),
        limits=st.lists(st.integers(0, 12), min_size=4, max_size=4),
        actions=st.lists(_action, max_size=40),
    )
    def test_survivorsGetEverything(
        self, slot_count: int, limits: list[int], actions: list[Any]
    ) -> None:
        """
        Whatever the chunking and the order of starts, pauses, resumes and
        slot losses: the source is paused exactly while some slot has not
        started or some live slot is paused; every slot that survives gets
        exactly the whole body and has it ended; a slot that went got a
        prefix of it.
        """
        fanout = UploadFanout(None)
        slots = [fanout.slot() for _ in range(slot_count)]
        consumers: list[Optional[BackendConsumer]] = [None] * slot_count
        done: list[Optional[Deferred[None]]] = [None] * slot_count
        source = FakeSource(fanout)
        fanout.register_source(source)
        offered: list[bytes] = []

        def check() -> None:
            ready = all(c is not None or not s.live for c, s in zip(consumers, slots))
            blocked = not ready or any(s.paused for s in slots if s.live)
            self.assertEqual(source.paused, blocked)

        def start_slot(index: int) -> None:
            if consumers[index] is None and slots[index].live:
                consumers[index], done[index] = start(slots[index], limits[index])

        for action, arg in actions:
            if action == "offer":
                offered.append(arg)
                source.offer(arg)
            elif arg < slot_count:
                slot, consumer = slots[arg], consumers[arg]
                if action == "start":
                    start_slot(arg)
                elif action == "resume" and consumer is not None and slot.paused:
                    consumer.resume()
                elif action == "pause" and consumer is not None and not slot.paused:
                    slot.pauseProducing()
                elif action == "stop" and consumer is not None:
                    slot.stopProducing()
                elif action == "drop" and consumer is None:
                    fanout.drop_slot(slot)
            check()

        for index in range(slot_count):
            start_slot(index)
            check()
        for _ in range(len(offered) + 1):
            for slot, consumer in zip(slots, consumers):
                if consumer is not None and slot.live and slot.paused:
                    consumer.resume()
                    check()
        if fanout.live_slots:
            self.assertEqual(list(source.queue), [])
        fanout.finish()

        body = b"".join(offered)
        for slot, consumer, d in zip(slots, consumers, done):
            if slot.live:
                assert consumer is not None and d is not None
                self.assertEqual(consumer.value(), body)
                self.successResultOf(d)
            elif consumer is not None:
                self.assertTrue(body.startswith(consumer.value()))
        delivered = fanout.received
        self.assertEqual(delivered, len(body) - sum(map(len, source.queue)))
