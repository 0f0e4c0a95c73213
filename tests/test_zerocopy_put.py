"""
Tests for L{twisted_proxy.backend.zerocopy_put}: the blocking tee loop, on
pipes (C{splice(2)} takes a pipe wherever it takes a socket), with the
other end of each pipe played by the test, as in L{tests.test_zerocopy};
and for L{start_tee}'s descriptors. Also how a
L{twisted_proxy.web.requestbody.RequestBody} offers a client's body to a
consumer that can take it from the socket.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from typing import Any, Callable, Optional

from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IConsumer
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, SynchronousTestCase
from zope.interface import implementer

from tests.doubles import RecordingProducer
from tests.test_upload_zerocopy import FakeHandle
from tests.test_zerocopy import relay_in_thread
from twisted_proxy.backend.zerocopy import CANCELLED, SINK, SOURCE, RelayFailed, SocketRelay
from twisted_proxy.backend.zerocopy_put import TEE_AVAILABLE, start_tee, tee, tee_relay
from twisted_proxy.interfaces import IZeroCopyConsumer
from twisted_proxy.swift.http import ClientGone
from twisted_proxy.web.requestbody import RequestBody

MIB = 1024 * 1024


def _pipe() -> tuple[int, int]:
    read, write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    return read, write


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _read_all(fd: int) -> bytes:
    out: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, MIB)
        except BlockingIOError:
            return b"".join(out)
        if not chunk:
            return b"".join(out)
        out.append(chunk)


class _Ends:
    """
    A source pipe the test writes into, C{count} sink pipes the test reads
    from, a wake pipe and a control pipe; closed at the end of the test.
    """

    def __init__(self, test: SynchronousTestCase, count: int) -> None:
        self.source, self.feed = _pipe()
        self.drains: list[int] = []
        self.sinks: list[int] = []
        for _ in range(count):
            drain, sink = _pipe()
            self.drains.append(drain)
            self.sinks.append(sink)
        self.wake, self.waker = _pipe()
        self.control, self.controller = _pipe()
        for fd in (self.source, self.feed, self.wake, self.waker, self.control,
                   self.controller, *self.drains, *self.sinks):
            test.addCleanup(_close, fd)


class TeeTests(SynchronousTestCase):
    def setUp(self) -> None:
        if not TEE_AVAILABLE:
            raise SkipTest("no tee(2) here")

    def test_duplicates(self) -> None:
        """
        L{tee} copies a pipe's bytes into another, leaving them in the first.
        """
        first, first_in = _pipe()
        second, second_in = _pipe()
        for fd in (first, first_in, second, second_in):
            self.addCleanup(_close, fd)
        os.write(first_in, b"hello")
        self.assertEqual(tee(first, second_in, 100), 5)
        self.assertEqual(os.read(second, 100), b"hello")
        self.assertEqual(os.read(first, 100), b"hello")

    def test_emptyRaises(self) -> None:
        """
        L{tee} from an empty pipe raises L{BlockingIOError}.
        """
        first, first_in = _pipe()
        second, second_in = _pipe()
        for fd in (first, first_in, second, second_in):
            self.addCleanup(_close, fd)
        self.assertRaises(BlockingIOError, tee, first, second_in, 100)


class TeeRelayTests(SynchronousTestCase):
    def setUp(self) -> None:
        if not TEE_AVAILABLE:
            raise SkipTest("no tee(2) here")

    def run_relay(self, ends: _Ends, driver: Callable[[threading.Thread], list[bytes]],
                  count: int, heads: Optional[list[bytes]] = None,
                  read_timeout: float = 5.0, write_timeout: float = 5.0
                  ) -> tuple[Optional[int], Optional[RelayFailed]]:
        """
        Run L{tee_relay} in a thread while C{driver} feeds and drains the
        pipes (returning what each sink got, in C{self.received}); what the
        relay returned or raised. Sinks it dropped are in C{self.dropped}.
        """
        self.dropped: list[tuple[int, Exception]] = []
        self.sinks = [os.dup(fd) for fd in ends.sinks]
        if heads is None:
            heads = [b""] * len(self.sinks)

        def run() -> int:
            return tee_relay(ends.source, self.sinks, count, heads, read_timeout,
                             write_timeout, ends.wake, ends.control,
                             lambda index, why: self.dropped.append((index, why)))

        try:
            outcome, self.received = relay_in_thread(self, run, driver)
        finally:
            for fd in self.sinks:
                if fd >= 0:
                    os.close(fd)
        return outcome

    def pump(self, ends: _Ends, data: bytes, close: bool = True,
             readers: Optional[list[int]] = None,
             while_feeding: Callable[[int], None] = lambda fed: None
             ) -> Callable[[threading.Thread], list[bytes]]:
        """
        A driver: write C{data} into the source (then close it if C{close})
        while reading the sinks numbered in C{readers} (all by default),
        until the relay's thread ends.
        """
        indexes = range(len(ends.drains)) if readers is None else readers

        def drive(thread: threading.Thread) -> list[bytes]:
            out: list[list[bytes]] = [[] for _ in ends.drains]
            view = memoryview(data)
            closed = False
            while thread.is_alive() or view:
                if view:
                    try:
                        view = view[os.write(ends.feed, view[:65536]):]
                    except BlockingIOError:
                        pass
                    while_feeding(len(data) - len(view))
                elif close and not closed:
                    os.close(ends.feed)
                    closed = True
                for index in indexes:
                    out[index].append(_read_all(ends.drains[index]))
                thread.join(0.001)
                if not thread.is_alive() and not view:
                    break
            for index in indexes:
                out[index].append(_read_all(ends.drains[index]))
            return [b"".join(chunks) for chunks in out]

        return drive

    def test_headsThenBody(self) -> None:
        """
        Each sink gets its own head, then exactly C{count} bytes of the
        source; what follows them stays in the source.
        """
        ends = _Ends(self, 3)
        body = os.urandom(5 * MIB + 17)
        heads = [b"PUT /a HTTP/1.1\r\n\r\n", b"", b"PUT /c HTTP/1.1\r\n\r\n" + body[:10]]
        moved, failed = self.run_relay(ends, self.pump(ends, body + b"next", close=False),
                                       len(body), heads)
        self.assertEqual((moved, failed), (len(body), None))
        for head, received in zip(heads, self.received):
            self.assertEqual(received, head + body)
        self.assertEqual(os.read(ends.source, 10), b"next")
        self.assertEqual(self.dropped, [])

    def test_moreUntilTheLastSplice(self) -> None:
        """
        Every splice into a sink while more of the body is to come says so
        (C{SPLICE_F_MORE}), so that its socket holds a partial segment for
        the next; each sink's last splice does not, and sends what is left.
        """
        ends = _Ends(self, 3)
        flags: dict[int, list[int]] = {}
        real = os.splice

        def splice(src: int, dst: int, count: int, *args: Any, **kwargs: Any) -> int:
            moved = real(src, dst, count, *args, **kwargs)
            if dst in self.sinks:
                flags.setdefault(dst, []).append(kwargs["flags"] & os.SPLICE_F_MORE)
            return moved

        self.patch(os, "splice", splice)
        body = os.urandom(5 * MIB + 17)
        moved, failed = self.run_relay(ends, self.pump(ends, body), len(body))
        self.assertEqual((moved, failed), (len(body), None))
        self.assertEqual(self.received, [body] * 3)
        self.assertEqual(sorted(flags), sorted(self.sinks))
        for each in flags.values():
            self.assertGreater(len(each), 1)
            self.assertEqual(each[-1], 0)
            self.assertIn(os.SPLICE_F_MORE, each)

    def test_slowestSetsThePace(self) -> None:
        """
        While one sink takes nothing, the source is read no further than
        the relay's pipes hold; once it takes again, every sink gets all.
        """
        ends = _Ends(self, 2)
        body = os.urandom(16 * MIB)
        fed: list[int] = []

        def drive(thread: threading.Thread) -> list[bytes]:
            slow = self.pump(ends, body, readers=[0], while_feeding=fed.append)
            out: list[list[bytes]] = []
            started = time.monotonic()
            stalled = threading.Thread(target=lambda: out.append(slow(thread)))
            stalled.start()
            while time.monotonic() - started < 0.5:
                time.sleep(0.01)
            held = fed[-1]
            # Then sink 1 reads too.
            second: list[bytes] = []
            while thread.is_alive():
                second.append(_read_all(ends.drains[1]))
                thread.join(0.001)
            second.append(_read_all(ends.drains[1]))
            stalled.join(30)
            self.held = held
            return [out[0][0], b"".join(second)]

        moved, failed = self.run_relay(ends, drive, len(body))
        self.assertEqual((moved, failed), (len(body), None))
        # Two 1 MiB pipes, the sink's pipe and the source's.
        self.assertLess(self.held, 4 * MIB)
        self.assertEqual(self.received, [body, body])

    def test_stalledSinkDropped(self) -> None:
        """
        A sink that takes nothing for the write timeout is dropped, its
        descriptor closed, and the others get the whole body.
        """
        ends = _Ends(self, 3)
        body = os.urandom(8 * MIB)
        moved, failed = self.run_relay(ends, self.pump(ends, body, readers=[0, 2]),
                                       len(body), write_timeout=0.3)
        self.assertEqual((moved, failed), (len(body), None))
        self.assertEqual(self.received[0], body)
        self.assertEqual(self.received[2], body)
        [(index, why)] = self.dropped
        self.assertEqual(index, 1)
        self.assertIsInstance(why, TimeoutError)
        self.assertEqual(self.sinks[1], -1)

    def test_goneSinkDropped(self) -> None:
        """
        A sink whose reader is gone is dropped at once with its error.
        """
        ends = _Ends(self, 2)
        os.close(ends.drains[0])
        body = os.urandom(2 * MIB)
        moved, failed = self.run_relay(ends, self.pump(ends, body, readers=[1]), len(body),
                                       write_timeout=30)
        self.assertEqual((moved, failed), (len(body), None))
        self.assertEqual(self.received[1], body)
        [(index, why)] = self.dropped
        self.assertEqual(index, 0)
        self.assertIsInstance(why, BrokenPipeError)

    def test_noSinkLeft(self) -> None:
        """
        With every sink gone the relay fails on their side.
        """
        ends = _Ends(self, 2)
        os.close(ends.drains[0])
        os.close(ends.drains[1])
        moved, failed = self.run_relay(ends, self.pump(ends, b"x" * 1000, readers=[]), 5000)
        assert failed is not None
        self.assertEqual(failed.side, SINK)
        self.assertEqual(sorted(index for index, _ in self.dropped), [0, 1])

    def test_sourceEndsEarly(self) -> None:
        """
        A source that closes short fails the relay on its side, after every
        byte it did send reached every sink.
        """
        ends = _Ends(self, 2)
        body = os.urandom(3 * MIB + 5)
        moved, failed = self.run_relay(ends, self.pump(ends, body), len(body) + 1000)
        assert failed is not None
        self.assertEqual((failed.side, failed.moved), (SOURCE, len(body)))
        self.assertEqual(self.received, [body, body])

    def test_sourceStalls(self) -> None:
        """
        A source silent for the read timeout fails the relay on its side.
        """
        ends = _Ends(self, 2)
        moved, failed = self.run_relay(ends, self.pump(ends, b"x" * 1000, close=False), 5000,
                                       read_timeout=0.2)
        assert failed is not None
        self.assertEqual((failed.side, failed.moved), (SOURCE, 1000))
        self.assertIn("0.2", failed.why)
        self.assertEqual(self.received, [b"x" * 1000] * 2)

    def test_cancelled(self) -> None:
        """
        A byte on the wake pipe ends a waiting relay at once.
        """
        ends = _Ends(self, 2)

        def wake(thread: threading.Thread) -> list[bytes]:
            os.write(ends.waker, b"x")
            thread.join(10)
            return []

        moved, failed = self.run_relay(ends, wake, 1000, read_timeout=30)
        assert failed is not None
        self.assertEqual((failed.side, failed.moved), (CANCELLED, 0))

    def test_controlDrops(self) -> None:
        """
        A sink's index on the control pipe drops it, without telling
        C{dropped}; the others go on.
        """
        ends = _Ends(self, 3)
        body = os.urandom(4 * MIB)
        os.write(ends.controller, bytes([1]))
        moved, failed = self.run_relay(ends, self.pump(ends, body, readers=[0, 2]),
                                       len(body), write_timeout=30)
        self.assertEqual((moved, failed), (len(body), None))
        self.assertEqual((self.received[0], self.received[2]), (body, body))
        self.assertEqual(self.dropped, [])
        self.assertEqual(self.sinks[1], -1)


class _ThreadReactor:
    """
    Just enough of a reactor for a L{SocketRelay}: calls from its threads
    are queued until L{run_calls}.
    """

    def __init__(self) -> None:
        self.calls: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]
        self.calls = queue.Queue()
        self.shutdown: list[Callable[[], object]] = []

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.calls.put((f, args, kwargs))

    def addSystemEventTrigger(self, phase: str, event: str, f: Callable[[], object]) -> None:
        self.shutdown.append(f)

    def stop(self) -> None:
        for f in self.shutdown:
            f()

    def run_calls(self) -> None:
        while True:
            try:
                f, args, kwargs = self.calls.get_nowait()
            except queue.Empty:
                return
            f(*args, **kwargs)


class StartTeeTests(SynchronousTestCase):
    def setUp(self) -> None:
        if not TEE_AVAILABLE:
            raise SkipTest("no tee(2) here")

    def test_descriptorsClosed(self) -> None:
        """
        A relay started by L{start_tee} leaves no descriptor of its own
        open once it has ended, dropped sinks included, and tells of the
        drops in the reactor's thread.
        """
        reactor = _ThreadReactor()
        relay = SocketRelay(reactor)  # type: ignore[arg-type]
        self.addCleanup(reactor.stop)
        ends = _Ends(self, 2)
        os.close(ends.drains[1])
        before = set(os.listdir("/proc/self/fd"))
        dropped: list[tuple[int, Exception]] = []
        outcome: list[object] = []
        body = os.urandom(MIB)
        os.write(ends.feed, body[:65536])
        started = start_tee(relay, ends.source, ends.sinks, 65536, lambda: [b"h", b"h"],
                            5.0, 5.0,
                            lambda index, why: dropped.append((index, why)))
        started.handle.done.addBoth(outcome.append)
        deadline = time.monotonic() + 10
        received = b""
        while not outcome and time.monotonic() < deadline:
            received += _read_all(ends.drains[0])
            time.sleep(0.01)
            reactor.run_calls()
        started.drop(0)
        received += _read_all(ends.drains[0])
        self.assertEqual(outcome, [65536])
        self.assertEqual(received, b"h" + body[:65536])
        self.assertEqual([index for index, _ in dropped], [1])
        self.assertEqual(set(os.listdir("/proc/self/fd")), before)
        self.assertEqual(relay.active, 0)

    def test_failureOutcome(self) -> None:
        """
        The relay's L{RelayFailed} fails its handle.
        """
        reactor = _ThreadReactor()
        relay = SocketRelay(reactor)  # type: ignore[arg-type]
        self.addCleanup(reactor.stop)
        ends = _Ends(self, 1)
        os.close(ends.feed)
        outcome: list[object] = []
        started = start_tee(relay, ends.source, ends.sinks, 100, lambda: [b""], 5.0, 5.0,
                            lambda index, why: None)
        started.handle.done.addBoth(outcome.append)
        deadline = time.monotonic() + 10
        while not outcome and time.monotonic() < deadline:
            time.sleep(0.01)
            reactor.run_calls()
        [failure] = outcome
        assert isinstance(failure, Failure)
        assert isinstance(failure.value, RelayFailed)
        self.assertEqual(failure.value.side, SOURCE)


class FakeClient:
    """
    What a L{RequestBody} sees of its client's socket (a L{ClientSocket}).
    """

    def __init__(self) -> None:
        self.fd: Optional[int] = 7
        self.read_timeout = 60.0
        self.asked: list[int] = []
        self.events: list[object] = []
        self.body: Optional[RequestBody] = None

    def fileno(self, count: int) -> Optional[int]:
        self.asked.append(count)
        return self.fd

    def relaying(self) -> None:
        self.events.append("relaying")

    def relayed(self, count: int) -> None:
        self.events.append(("relayed", count))
        # As the channel does when the whole body went around it.
        assert self.body is not None and isinstance(self.body.length, int)
        if self.body.received == self.body.length:
            self.body.body_complete()

    def abort(self) -> None:
        self.events.append("abort")


@implementer(IConsumer, IZeroCopyConsumer)
class RelayingConsumer:
    """
    A consumer that takes bodies from sockets when C{willing}.
    """

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.offers: list[tuple[int, int, float]] = []
        self.willing = True
        self.handle: Optional[FakeHandle] = None

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def registerProducer(self, producer: object, streaming: bool) -> None:
        pass

    def unregisterProducer(self) -> None:
        pass

    def relay_from(self, source: int, count: int, read_timeout: float
                   ) -> Optional[FakeHandle]:
        self.offers.append((source, count, read_timeout))
        if not self.willing:
            return None
        self.handle = FakeHandle()
        return self.handle


class RequestBodyOfferTests(SynchronousTestCase):
    """
    A L{RequestBody} offers the rest of a body to a consumer that can take
    it from the client's socket.
    """

    length = 3 * MIB

    def setUp(self) -> None:
        self.reading = RecordingProducer()
        self.client = FakeClient()
        self.body = RequestBody(self.reading, self.length, self.client)  # type: ignore[arg-type]
        self.client.body = self.body
        self.consumer = RelayingConsumer()

    def test_offeredAfterHeld(self) -> None:
        """
        What arrived before the consumer started is written to it first;
        then the rest is offered as the socket, and the client is not read
        while it is relayed.
        """
        self.body.dataReceived(b"x" * 1000)
        self.body.startProducing(self.consumer)
        self.assertEqual(self.consumer.written, [b"x" * 1000])
        self.assertEqual(self.consumer.offers, [(7, self.length - 1000, 60.0)])
        self.assertEqual(self.client.events, ["relaying"])
        self.assertTrue(self.reading.paused)

    def test_relayEndsBody(self) -> None:
        """
        Once the relay moved the rest, the body has been received whole
        and ends; the client is read again.
        """
        done = self.body.startProducing(self.consumer)
        assert self.consumer.handle is not None
        self.consumer.handle.done.callback(self.length)
        self.assertEqual(self.body.received, self.length)
        self.assertEqual(self.client.events, ["relaying", ("relayed", self.length)])
        self.successResultOf(done)
        self.assertFalse(self.reading.paused)

    def test_clientFailed(self) -> None:
        """
        A relay whose client went or stalled drops the client's
        connection, whose loss fails the body.
        """
        done = self.body.startProducing(self.consumer)
        assert self.consumer.handle is not None
        self.consumer.handle.done.errback(Failure(RelayFailed(500, SOURCE, "gone")))
        self.assertEqual(self.client.events, ["relaying", ("relayed", 500), "abort"])
        self.assertNoResult(done)
        self.body.connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(done, ClientGone)

    def test_backendsFailed(self) -> None:
        """
        A relay that lost its backends fails the body with its failure.
        """
        done = self.body.startProducing(self.consumer)
        assert self.consumer.handle is not None
        self.consumer.handle.done.errback(Failure(RelayFailed(500, SINK, "no sink left")))
        self.assertEqual(self.failureResultOf(done, RelayFailed).value.side, SINK)

    def test_stopCancels(self) -> None:
        """
        A consumer that stops the body cancels its relay.
        """
        self.body.startProducing(self.consumer)
        self.body.stopProducing()
        assert self.consumer.handle is not None
        self.assertTrue(self.consumer.handle.cancelled)
        self.consumer.handle.done.errback(Failure(RelayFailed(10, CANCELLED, "cancelled")))
        self.assertFalse(self.reading.paused)

    def test_clientLostCancels(self) -> None:
        """
        A client connection lost during a relay cancels it.
        """
        done = self.body.startProducing(self.consumer)
        self.body.connectionLost(Failure(ConnectionDone()))
        assert self.consumer.handle is not None
        self.assertTrue(self.consumer.handle.cancelled)
        self.failureResultOf(done, ClientGone)
        self.consumer.handle.done.errback(Failure(RelayFailed(10, CANCELLED, "cancelled")))

    def test_notOffered(self) -> None:
        """
        The body is written as it arrives, never offered, when too little
        is left, the client's socket cannot be had, or there is no socket
        to offer.
        """
        small = RequestBody(RecordingProducer(), MIB - 1, self.client)  # type: ignore[arg-type]
        small.startProducing(self.consumer)
        self.client.fd = None
        self.body.startProducing(self.consumer)
        plain = RequestBody(RecordingProducer(), self.length)
        plain.startProducing(self.consumer)
        self.assertEqual(self.consumer.offers, [])
        self.assertEqual(self.client.asked, [self.length])
        self.body.dataReceived(b"abc")
        self.assertEqual(self.consumer.written, [b"abc"])

    def test_notAZeroCopyConsumer(self) -> None:
        """
        A consumer that can only be written to is written to.
        """
        consumer = StringTransport()
        self.body.startProducing(consumer)
        self.body.dataReceived(b"abc")
        self.assertEqual((consumer.value(), self.client.asked), (b"abc", []))

    def test_offeredAgainOnResume(self) -> None:
        """
        A consumer that could not take the socket yet is offered it again
        when it resumes the body; meanwhile bytes are written.
        """
        self.consumer.willing = False
        self.body.startProducing(self.consumer)
        self.body.dataReceived(b"abc")
        self.body.pauseProducing()
        self.consumer.willing = True
        self.body.resumeProducing()
        self.assertEqual([offer[1] for offer in self.consumer.offers],
                         [self.length, self.length - 3])
        self.assertEqual(self.consumer.written, [b"abc"])
        self.assertTrue(self.reading.paused)
