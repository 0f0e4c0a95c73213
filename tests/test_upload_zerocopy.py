"""
Tests for the zero-copy side of L{twisted_proxy.backend.upload} and
L{twisted_proxy.backend.fanout}: when an L{UploadFanout} takes a body from a
socket (L{UploadFanout.relay_from}), and what it does with what its relay
tells. The relay itself is faked here (its own tests are
L{tests.test_zerocopy_put}; end to end, L{tests.e2e.test_zerocopy_put}).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from tests.test_upload import BackendConsumer, FakeSource, start
from twisted_proxy.backend import upload
from twisted_proxy.backend.fanout import _UploadWatch
from twisted_proxy.backend.upload import UploadFanout
from twisted_proxy.backend.zerocopy import CANCELLED, SOURCE, RelayFailed
from twisted_proxy.interfaces import IZeroCopyConsumer


class FakeSink:
    """
    What L{upload.upload_sink} gives for a backend connection: its socket
    descriptor, what it had buffered, and the bytes it still expects.
    """

    def __init__(self, fd: int, remaining: int, pending: bytes) -> None:
        self.connection = self
        self.fd = fd
        self.remaining = remaining
        self.pending = pending
        self.around: list[int] = []

    def fileno(self) -> int:
        return self.fd

    def take_pending(self) -> bytes:
        pending, self.pending = self.pending, b""
        return pending

    def written_around(self, count: int) -> None:
        self.around.append(count)


class FakeHandle:
    def __init__(self) -> None:
        self.done: Deferred[int] = Deferred()
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeTee:
    """
    A started relay, as L{upload.start_tee} gives it, with what it was
    started with.
    """

    def __init__(self, source: int, sinks: list[int], count: int,
                 heads: Callable[[], list[bytes]], read_timeout: float, write_timeout: float,
                 dropped: Callable[[int, Exception], None]) -> None:
        self.args = (source, list(sinks), count, list(heads()), read_timeout, write_timeout)
        self.dropped = dropped
        self.handle = FakeHandle()
        self.drops: list[int] = []

    def drop(self, index: int) -> None:
        self.drops.append(index)


class FakeRelay:
    def __init__(self) -> None:
        self.free = True

    def available(self) -> bool:
        return self.free


class RelayFromTests(SynchronousTestCase):
    """
    L{UploadFanout.relay_from}.
    """

    def setUp(self) -> None:
        self.relay = FakeRelay()
        self.fanout = UploadFanout(1000, relay=self.relay,  # type: ignore[arg-type]
                                   node_timeout=7.0)
        self.slots = [self.fanout.slot() for _ in range(3)]
        self.sinks: dict[int, Optional[FakeSink]] = {}
        self.tees: list[FakeTee] = []
        self.failed: list[tuple[Any, Exception]] = []
        self.fanout.onSlotFailed = lambda slot, why: self.failed.append((slot, why))
        self.patch(upload, "TEE_AVAILABLE", True)
        self.patch(upload, "upload_sink", lambda consumer: self.sinks.get(id(consumer)))
        self.patch(upload, "start_tee", self.start_tee)

    def start_tee(self, relay: object, *args: Any) -> FakeTee:
        self.assertIs(relay, self.relay)
        tee = FakeTee(*args)
        self.tees.append(tee)
        return tee

    def start_all(self, written: int = 0) -> list[BackendConsumer]:
        consumers = []
        for index, slot in enumerate(self.slots):
            consumer, _ = start(slot)
            self.sinks[id(consumer)] = FakeSink(10 + index, 1000 - written, b"head%d" % index)
            consumers.append(consumer)
        return consumers

    def test_interface(self) -> None:
        """
        The fan-out is an L{IZeroCopyConsumer}.
        """
        self.assertTrue(verifyObject(IZeroCopyConsumer, self.fanout))

    def test_relays(self) -> None:
        """
        Once every slot has started, the rest of the body goes to every
        backend socket, each after what its connection had buffered; the
        slots' pauses are over; when it is done, each backend's request is
        told of the bytes written around it.
        """
        self.start_all(written=100)
        self.slots[1].pauseProducing()
        handle = self.fanout.relay_from(5, 900, 60.0)
        [tee] = self.tees
        self.assertIs(handle, tee.handle)
        self.assertEqual(tee.args, (5, [10, 11, 12], 900,
                                    [b"head0", b"head1", b"head2"], 60.0, 7.0))
        self.assertEqual((self.slots[1].paused, self.slots[1].paused_since), (False, None))
        self.assertEqual(self.fanout.relays, 1)
        self.assertIsNone(self.fanout.relay_from(5, 900, 60.0))
        tee.handle.done.callback(900)
        for sink in self.sinks.values():
            assert sink is not None
            self.assertEqual(sink.around, [900])
        self.assertEqual(self.fanout.received, 900)

    def test_sourceResumedAfter(self) -> None:
        """
        A source paused for a backend that was full when the relay began
        (its buffer went to the relay) is resumed when the relay ends.
        """
        source = FakeSource(self.fanout)
        self.fanout.register_source(source)
        self.start_all()
        self.slots[0].pauseProducing()
        self.assertTrue(source.paused)
        self.fanout.relay_from(5, 1000, 60.0)
        self.tees[0].handle.done.callback(1000)
        self.assertFalse(source.paused)

    def test_cannotOpen(self) -> None:
        """
        A relay whose descriptors cannot be opened leaves the body on the
        ordinary path, nothing taken from any connection.
        """
        consumers = self.start_all()

        def fail(*args: object) -> None:
            raise OSError(24, "Too many open files")

        self.patch(upload, "start_tee", fail)
        self.assertIsNone(self.fanout.relay_from(5, 1000, 60.0))
        sink = self.sinks[id(consumers[0])]
        assert sink is not None
        self.assertEqual(sink.pending, b"head0")
        self.assertEqual(self.fanout.relays, 0)

    def test_notWithoutRelay(self) -> None:
        """
        Without a relay (C{zero_copy = false}), or with none free, nothing
        is relayed.
        """
        fanout = UploadFanout(1000)
        slot = fanout.slot()
        start(slot)
        self.assertIsNone(fanout.relay_from(5, 1000, 60.0))
        self.start_all()
        self.relay.free = False
        self.assertIsNone(self.fanout.relay_from(5, 1000, 60.0))
        self.assertEqual(self.tees, [])

    def test_notBeforeReady(self) -> None:
        """
        Nothing is relayed until every slot has started.
        """
        consumer, _ = start(self.slots[0])
        self.sinks[id(consumer)] = FakeSink(10, 1000, b"")
        self.assertIsNone(self.fanout.relay_from(5, 1000, 60.0))
        self.assertEqual(self.tees, [])

    def test_notChunked(self) -> None:
        """
        A body of unknown length is not relayed.
        """
        fanout = UploadFanout(None, relay=self.relay)  # type: ignore[arg-type]
        consumer, _ = start(fanout.slot())
        self.sinks[id(consumer)] = FakeSink(10, 1000, b"")
        self.assertIsNone(fanout.relay_from(5, 1000, 60.0))

    def test_notEveryBackendASocket(self) -> None:
        """
        A backend connection that is no plain TCP one, or that expects
        another count of bytes, keeps the body on the ordinary path, and
        nothing is taken from any connection.
        """
        consumers = self.start_all()
        sink = self.sinks[id(consumers[0])]
        self.sinks[id(consumers[1])] = None
        self.assertIsNone(self.fanout.relay_from(5, 1000, 60.0))
        self.sinks[id(consumers[1])] = FakeSink(11, 999, b"")
        self.assertIsNone(self.fanout.relay_from(5, 1000, 60.0))
        self.assertEqual(self.tees, [])
        assert sink is not None
        self.assertEqual(sink.pending, b"head0")

    def test_droppedSlotsLeftOut(self) -> None:
        """
        A slot already gone is not relayed to.
        """
        consumers = self.start_all()
        self.fanout.drop_slot(self.slots[0])
        self.fanout.relay_from(5, 1000, 60.0)
        [tee] = self.tees
        self.assertEqual(tee.args[1], [11, 12])
        tee.handle.done.callback(1000)
        sink = self.sinks[id(consumers[0])]
        assert sink is not None
        self.assertEqual(sink.around, [])

    def test_relayDrops(self) -> None:
        """
        A backend the relay dropped is dropped from the fan-out, and
        C{onSlotFailed} is told; it is not told of bytes written around it.
        """
        consumers = self.start_all()
        self.fanout.relay_from(5, 1000, 60.0)
        [tee] = self.tees
        error = TimeoutError("took no upload data for 7.0s")
        tee.dropped(1, error)
        self.assertFalse(self.slots[1].live)
        self.assertEqual(self.failed, [(self.slots[1], error)])
        tee.dropped(1, error)
        self.assertEqual(len(self.failed), 1)
        tee.handle.done.callback(1000)
        arounds = [self.sinks[id(consumer)].around for consumer in consumers]  # type: ignore[union-attr]
        self.assertEqual(arounds, [[1000], [], [1000]])

    def test_slotGoneTellsRelay(self) -> None:
        """
        A slot whose request stopped reading its body is dropped from the
        running relay.
        """
        self.start_all()
        self.fanout.relay_from(5, 1000, 60.0)
        [tee] = self.tees
        self.slots[2].stopProducing()
        self.assertEqual(tee.drops, [2])
        tee.handle.done.callback(1000)
        self.slots[0].stopProducing()
        self.assertEqual(tee.drops, [2])

    def test_sourceFailed(self) -> None:
        """
        A relay whose source failed moved what it took to every live
        backend: each is told so, and stays.
        """
        consumers = self.start_all()
        self.fanout.relay_from(5, 1000, 60.0)
        self.tees[0].handle.done.errback(Failure(RelayFailed(300, SOURCE, "gone")))
        self.failureResultOf(self.tees[0].handle.done, RelayFailed)
        arounds = [self.sinks[id(consumer)].around for consumer in consumers]  # type: ignore[union-attr]
        self.assertEqual(arounds, [[300]] * 3)
        self.assertEqual(len(self.fanout.live_slots), 3)
        self.assertEqual(self.fanout.received, 300)

    def test_cancelledDropsAll(self) -> None:
        """
        A relay cancelled midway left each backend with an unknown part of
        the body: every slot is dropped.
        """
        self.start_all()
        gone: list[bool] = []
        self.fanout.onAllGone = lambda: gone.append(True)
        self.fanout.relay_from(5, 1000, 60.0)
        self.tees[0].handle.done.errback(Failure(RelayFailed(300, CANCELLED, "cancelled")))
        self.failureResultOf(self.tees[0].handle.done, RelayFailed)
        self.assertEqual(self.fanout.live_slots, [])
        self.assertEqual(gone, [True])


class WatchTests(SynchronousTestCase):
    """
    L{_UploadWatch} and backends a relay dropped.
    """

    def test_relayDropReported(self) -> None:
        """
        A backend the relay dropped counts as an error of its node, and its
        request is cancelled; with too few left, the upload stops.
        """
        clock = Clock()
        fanout = UploadFanout(10, clock)
        slots = [fanout.slot() for _ in range(3)]
        for slot in slots:
            start(slot)
        pending: list[Deferred[Any]] = [Deferred() for _ in slots]
        failed: list[tuple[int, BaseException]] = []
        watch = _UploadWatch(clock, 5.0, 2, fanout, slots,
                             lambda index: pending[index].cancel(),
                             lambda index, why: failed.append((index, why)))
        producing: Deferred[None] = Deferred()
        watch.producing = producing
        error = TimeoutError("took no upload data")
        fanout.drop_slot(slots[0])
        assert fanout.onSlotFailed is not None
        fanout.onSlotFailed(slots[0], error)
        self.assertEqual(failed, [(0, error)])
        self.failureResultOf(pending[0], CancelledError)
        self.assertFalse(watch.quorum_lost)
        fanout.drop_slot(slots[1])
        fanout.onSlotFailed(slots[1], error)
        self.assertTrue(watch.quorum_lost)
        self.failureResultOf(pending[1], CancelledError)
        self.failureResultOf(producing, CancelledError)
        watch.stop()
