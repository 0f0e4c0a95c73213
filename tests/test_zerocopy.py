"""
Tests for L{twisted_proxy.backend.zerocopy.relay}: the blocking splice loop,
on pipes (C{splice(2)} takes a pipe wherever it takes a socket), with the
other end of each pipe played by the test.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from typing import Callable, Optional, TypeVar

from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from twisted_proxy.backend import zerocopy
from twisted_proxy.backend.zerocopy import (
    CANCELLED,
    GATHER,
    GATHER_DELAY,
    SINK,
    SOURCE,
    SPLICE_AVAILABLE,
    RelayFailed,
    _Poller,
    _wait,
    relay,
    relayed_bytes,
)


def _pipe() -> tuple[int, int]:
    read, write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    return read, write


class _Ends:
    """
    A source pipe the test writes into, a sink pipe the test reads from,
    and a wake pipe; closed at the end of the test.
    """

    def __init__(self, test: SynchronousTestCase) -> None:
        self.source, self.feed = _pipe()
        self.drain, self.sink = _pipe()
        self.wake, self.waker = _pipe()
        for fd in (self.source, self.feed, self.drain, self.sink, self.wake, self.waker):
            test.addCleanup(_close, fd)

    def read_all(self) -> bytes:
        out: list[bytes] = []
        while True:
            try:
                chunk = os.read(self.drain, 1 << 20)
            except BlockingIOError:
                return b"".join(out)
            if not chunk:
                return b"".join(out)
            out.append(chunk)


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


T = TypeVar("T")


def relay_in_thread(test: SynchronousTestCase, run: Callable[[], int],
                    driver: Callable[[threading.Thread], T]
                    ) -> tuple[tuple[Optional[int], Optional[RelayFailed]], T]:
    """
    Call the blocking relay C{run} in a thread while C{driver} feeds and
    drains its pipes; fail C{test} if the thread does not end.

    @return: what the relay returned or raised (as C{(count, None)} or
        C{(None, failure)}), and what C{driver} returned.
    """
    result: list[object] = []

    def call() -> None:
        try:
            result.append(run())
        except RelayFailed as error:
            result.append(error)

    thread = threading.Thread(target=call)
    thread.start()
    received = driver(thread)
    thread.join(30)
    test.assertFalse(thread.is_alive())
    [outcome] = result
    if isinstance(outcome, RelayFailed):
        return (None, outcome), received
    assert isinstance(outcome, int)
    return (outcome, None), received


class RelayTests(SynchronousTestCase):
    def setUp(self) -> None:
        if not SPLICE_AVAILABLE:
            raise SkipTest("no splice(2) here")
        self.ends = _Ends(self)

    def run_relay(self, driver: Callable[[threading.Thread], bytes], count: int,
                  head: bytes = b"", read_timeout: float = 5.0, write_timeout: float = 5.0,
                  low_water: Optional[Callable[[int], None]] = None
                  ) -> tuple[Optional[int], Optional[RelayFailed]]:
        """
        Run L{relay} in a thread while C{driver} feeds and drains the pipes
        (returning what it drained); what the relay returned or raised.
        """
        def run() -> int:
            return relay(self.ends.source, self.ends.sink, count, head, read_timeout,
                         write_timeout, self.ends.wake, low_water=low_water)

        outcome, self.received = relay_in_thread(self, run, driver)
        return outcome

    def pump(self, thread: threading.Thread, data: bytes, close: bool = True) -> bytes:
        """
        Write C{data} into the source (then close it if C{close}) while
        reading the sink, until the relay's thread ends.
        """
        out = []
        view = memoryview(data)
        closed = False
        while thread.is_alive() or view:
            if view:
                try:
                    view = view[os.write(self.ends.feed, view[:65536]):]
                except BlockingIOError:
                    pass
            elif close and not closed:
                os.close(self.ends.feed)
                closed = True
            out.append(self.ends.read_all())
            thread.join(0.001)
            if not thread.is_alive() and not view:
                break
        out.append(self.ends.read_all())
        return b"".join(out)

    def test_headThenBody(self) -> None:
        """
        The head goes first, then exactly C{count} bytes of the source;
        what follows them stays in the source.
        """
        body = os.urandom(3 * 1024 * 1024 + 17)
        moved, failed = self.run_relay(
            lambda thread: self.pump(thread, body + b"next", close=False), len(body),
            head=b"HTTP/1.1 200 OK\r\n\r\n")
        self.assertEqual((moved, failed), (len(body), None))
        self.assertEqual(self.received, b"HTTP/1.1 200 OK\r\n\r\n" + body)
        self.assertEqual(os.read(self.ends.source, 10), b"next")

    def test_sourceEndsEarly(self) -> None:
        """
        A source that closes short fails the relay on its side, after every
        byte it did send reached the sink.
        """
        body = os.urandom(200000)
        moved, failed = self.run_relay(lambda thread: self.pump(thread, body),
                                       len(body) + 1000)
        assert failed is not None
        self.assertEqual((failed.side, failed.moved), (SOURCE, len(body)))
        self.assertEqual(self.received, body)

    def test_sourceStalls(self) -> None:
        """
        A source silent for the read timeout fails the relay on its side.
        """
        moved, failed = self.run_relay(
            lambda thread: self.pump(thread, b"x" * 1000, close=False), 5000,
            read_timeout=0.2)
        assert failed is not None
        self.assertEqual((failed.side, failed.moved), (SOURCE, 1000))
        self.assertIn("0.2", failed.why)

    def test_sinkStalls(self) -> None:
        """
        A sink that takes nothing for the write timeout fails the relay on
        its side; the bytes it did take are counted.
        """
        body = os.urandom(4 * 1024 * 1024)

        def feed_only(thread: threading.Thread) -> bytes:
            view = memoryview(body)
            while thread.is_alive():
                if view:
                    try:
                        view = view[os.write(self.ends.feed, view[:65536]):]
                    except BlockingIOError:
                        pass
                thread.join(0.001)
            return self.ends.read_all()

        moved, failed = self.run_relay(feed_only, len(body), write_timeout=0.2)
        assert failed is not None
        self.assertEqual(failed.side, SINK)
        self.assertEqual(failed.moved, len(self.received))
        self.assertEqual(self.received, body[:failed.moved])

    def test_sinkGone(self) -> None:
        """
        A sink whose reader is gone fails the relay on its side at once.
        """
        os.close(self.ends.drain)
        moved, failed = self.run_relay(
            lambda thread: self.pump_source_only(thread, b"y" * 1000), 1000,
            write_timeout=30)
        assert failed is not None
        self.assertEqual((failed.side, failed.moved), (SINK, 0))

    def pump_source_only(self, thread: threading.Thread, data: bytes) -> bytes:
        os.write(self.ends.feed, data)
        thread.join(10)
        return b""

    def test_cancelled(self) -> None:
        """
        A byte on the wake pipe ends a waiting relay at once.
        """
        def wake(thread: threading.Thread) -> bytes:
            os.write(self.ends.waker, b"x")
            thread.join(10)
            return b""

        moved, failed = self.run_relay(wake, 1000, read_timeout=30)
        assert failed is not None
        self.assertEqual((failed.side, failed.moved), (CANCELLED, 0))

    def watch_waits(self, levels: list[int]) -> list[tuple[Optional[int], float, int]]:
        """
        Record the timeout of every wait of the relays to come, with the
        descriptor each waited to read and the low-water mark then (the
        last of C{levels}, 1 at first).
        """
        waits: list[tuple[Optional[int], float, int]] = []
        real = _Poller.wait

        def wait(poller: _Poller, reading: Optional[int], writing: Optional[int],
                 timeout: float) -> set[int]:
            waits.append((reading, timeout, levels[-1] if levels else 1))
            return real(poller, reading, writing, timeout)

        self.patch(_Poller, "wait", wait)
        return waits

    def test_gathers(self) -> None:
        """
        A relay waiting for its source sets the source's low-water mark to
        L{GATHER} bytes, or the bytes still to come if fewer, waits no
        longer than L{GATHER_DELAY} for them, and sets the mark back to 1
        at the end.
        """
        levels: list[int] = []
        waits = self.watch_waits(levels)
        self.patch(zerocopy, "GATHER", 300000)
        body = os.urandom(300000 + 1000)

        def trickle(thread: threading.Thread) -> bytes:
            thread.join(0.05)
            self.assertEqual(os.write(self.ends.feed, body[:2000]), 2000)
            thread.join(0.05)
            return self.pump(thread, body[2000:], close=False)

        moved, failed = self.run_relay(trickle, len(body), low_water=levels.append)
        self.assertEqual((moved, failed), (len(body), None))
        self.assertEqual(self.received, body)
        self.assertEqual(levels[:2], [300000, len(body) - 2000])
        self.assertEqual(levels[-1], 1)
        gathering = [timeout for fd, timeout, level in waits
                     if fd == self.ends.source and level > 1]
        self.assertTrue(gathering)
        self.assertLessEqual(max(gathering), GATHER_DELAY)

    def test_gatherWhatThePipeHolds(self) -> None:
        """
        The low-water mark never asks for more bytes than the relay's pipe
        holds.
        """
        levels: list[int] = []
        self.patch(zerocopy, "PIPE_SIZE", 65536)
        body = os.urandom(200000)
        moved, failed = self.run_relay(lambda thread: self.pump(thread, body), len(body),
                                       low_water=levels.append)
        self.assertEqual((moved, failed), (len(body), None))
        self.assertEqual(self.received, body)
        self.assertEqual(max(levels), 65536)
        self.assertGreater(GATHER, 65536)

    def test_gatherFewerThanAsked(self) -> None:
        """
        The low-water mark never asks for more bytes than the relay still
        wants, and is 1 again after a relay that failed.
        """
        levels: list[int] = []
        moved, failed = self.run_relay(
            lambda thread: self.pump(thread, b"x" * 1000, close=False), 5000,
            read_timeout=0.2, low_water=levels.append)
        assert failed is not None
        self.assertEqual((failed.side, failed.moved), (SOURCE, 1000))
        self.assertLessEqual(max(levels), 5000)
        self.assertIn(4000, levels)
        self.assertEqual(levels[-1], 1)

    def test_noGathering(self) -> None:
        """
        A source whose low-water mark cannot be set (a pipe, here) is
        relayed all the same, its waits bounded by the timeouts alone.
        """
        def refuse(level: int) -> None:
            raise OSError(errno.ENOTSOCK, "not a socket")

        waits = self.watch_waits([])
        body = os.urandom(100000)

        def late(thread: threading.Thread) -> bytes:
            thread.join(0.1)
            return self.pump(thread, body)

        moved, failed = self.run_relay(late, len(body), low_water=refuse)
        self.assertEqual((moved, failed), (len(body), None))
        self.assertEqual(self.received, body)
        self.assertGreater(
            max(timeout for fd, timeout, _ in waits if fd == self.ends.source), GATHER_DELAY)

    def test_defaultLowWaterOfAPipe(self) -> None:
        """
        By default the low-water mark is the source's C{SO_RCVLOWAT}; a
        source that is no socket has none and is relayed all the same.
        """
        body = os.urandom(100000)
        moved, failed = self.run_relay(lambda thread: self.pump(thread, body), len(body))
        self.assertEqual((moved, failed), (len(body), None))
        self.assertFalse(zerocopy._is_socket(self.ends.source))

    def watch_splices(self) -> list[tuple[int, int, int, int]]:
        """
        Record every C{splice(2)} of the relays to come: its source, its
        sink, the bytes it asked for and those it moved (-1: it would have
        blocked).
        """
        splices: list[tuple[int, int, int, int]] = []
        real = os.splice

        def splice(src: int, dst: int, count: int, *args: object, **kwargs: object) -> int:
            try:
                moved = real(src, dst, count, *args, **kwargs)  # type: ignore[arg-type]
            except BlockingIOError:
                splices.append((src, dst, count, -1))
                raise
            splices.append((src, dst, count, moved))
            return moved

        self.patch(os, "splice", splice)
        return splices

    def test_readsAfterWaits(self) -> None:
        """
        A read from the source that moved fewer bytes than it asked for
        found the source empty: the relay waits before it reads again,
        rather than try a read bound to fail.
        """
        splices = self.watch_splices()
        body = os.urandom(60000)
        self.assertEqual(os.write(self.ends.feed, body[:30000]), 30000)

        def twice(thread: threading.Thread) -> bytes:
            thread.join(0.1)
            return self.pump(thread, body[30000:], close=False)

        moved, failed = self.run_relay(twice, len(body))
        self.assertEqual((moved, failed), (len(body), None))
        self.assertEqual(self.received, body)
        reads = [moved for src, _, _, moved in splices if src == self.ends.source]
        self.assertEqual(reads, [30000, 30000])

    def test_writesAfterWaits(self) -> None:
        """
        A write to the sink that moved fewer bytes than it asked for found
        the sink full: the relay waits before it writes again, rather than
        try a write bound to fail.
        """
        splices = self.watch_splices()
        body = os.urandom(200000)
        self.assertEqual(os.write(self.ends.feed, body[:60000]), 60000)
        # One page: a write of more can only be partial.
        fcntl.fcntl(self.ends.sink, zerocopy._F_SETPIPE_SZ, 4096)

        def slowly(thread: threading.Thread) -> bytes:
            out = []
            view = memoryview(body)[60000:]
            while thread.is_alive() or view:
                thread.join(0.002)
                if view:
                    try:
                        view = view[os.write(self.ends.feed, view[:65536]):]
                    except BlockingIOError:
                        pass
                out.append(self.ends.read_all())
            out.append(self.ends.read_all())
            return b"".join(out)

        moved, failed = self.run_relay(slowly, len(body))
        self.assertEqual((moved, failed), (len(body), None))
        self.assertEqual(self.received, body)
        writes = [(asked, moved) for _, dst, asked, moved in splices if dst == self.ends.sink]
        self.assertEqual(sum(moved for _, moved in writes if moved > 0), len(body))
        after_partial = [moved for (asked, before), (_, moved) in zip(writes, writes[1:])
                         if 0 < before < asked]
        self.assertTrue(after_partial)
        self.assertNotIn(-1, after_partial)


class PollerTests(SynchronousTestCase):
    """
    Tests for L{_Poller}, one relay's poll set kept across its waits.
    """

    def setUp(self) -> None:
        self.wake, self.waker = _pipe()
        self.read, self.write = _pipe()
        for fd in (self.wake, self.waker, self.read, self.write):
            self.addCleanup(_close, fd)

    def test_changingWaits(self) -> None:
        """
        Each wait watches what it is asked to and nothing else, however
        the previous wait differed.
        """
        poller = _Poller(self.wake)
        self.assertEqual(poller.wait(self.read, None, 0), set())
        self.assertEqual(poller.wait(None, self.write, 0), {self.write})
        os.write(self.write, b"x")
        self.assertEqual(poller.wait(self.read, self.write, 0), {self.read, self.write})
        self.assertEqual(poller.wait(self.read, None, 0), {self.read})
        self.assertEqual(poller.wait(None, None, 0), set())
        os.write(self.waker, b"x")
        self.assertEqual(poller.wait(None, None, 0), {self.wake})

    def test_sameDescriptorBothWays(self) -> None:
        """
        One descriptor waited on for reading and writing at once is
        reported when either is ready.
        """
        poller = _Poller(self.wake)
        self.assertEqual(poller.wait(self.write, self.write, 0), {self.write})

    def test_oneWait(self) -> None:
        """
        L{_wait} is one wait of a new poll set.
        """
        self.assertEqual(_wait(self.read, self.write, self.wake, 0), {self.write})
        os.write(self.waker, b"x")
        self.assertEqual(_wait(self.read, None, self.wake, 0), {self.wake})


class RelayedBytesTests(SynchronousTestCase):
    def test_outcomes(self) -> None:
        """
        A relay's outcome tells the bytes it moved: the count, a
        L{RelayFailed}'s C{moved}, or none for any other failure.
        """
        self.assertEqual(relayed_bytes(7), 7)
        self.assertEqual(relayed_bytes(Failure(RelayFailed(5, SOURCE, "gone"))), 5)
        self.assertEqual(relayed_bytes(Failure(ValueError("?"))), 0)
