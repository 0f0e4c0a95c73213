# -*- test-case-name: tests.test_zerocopy,tests.e2e.test_zerocopy -*-
"""
Zero-copy relaying on Linux: a body moved from one socket to another with
C{splice(2)} through a pipe, so that its bytes never enter Python.

L{relay} is the blocking loop, run in a thread of its own; L{SocketRelay}
runs relays for the reactor in a thread pool and hands back a L{Deferred}.
Both sockets are duplicated for the thread, so a connection the reactor
closes meanwhile can never be confused with a new one that reuses its
descriptor; a relay the reactor no longer wants is woken through a pipe
and ends at once.

What each side must guarantee while a relay runs: nothing else reads the
source socket or writes the sink socket (the reactor may still read the
sink, to see the client go).
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import socket
import stat
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorCore
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

__all__ = [
    "SPLICE_AVAILABLE",
    "RelayFailed",
    "RelayHandle",
    "MORE_FLAGS",
    "SPLICE_FLAGS",
    "SocketRelay",
    "fill_pipe",
    "relay",
    "relayed_bytes",
]

#: Whether this platform has C{splice(2)} (Linux, CPython 3.10 and newer).
SPLICE_AVAILABLE = hasattr(os, "splice")

#: The pipe's capacity asked for (the kernel may give less; Linux allows
#: 1 MiB to anyone by default): fewer, larger moves per byte.
PIPE_SIZE = 1024 * 1024

#: Which side of a relay failed.
SOURCE = "source"
SINK = "sink"
CANCELLED = "cancelled"

#: Bytes a relay waiting for its source lets the source's socket gather
#: before it wakes (C{SO_RCVLOWAT}), if its pipe can take as many: a source
#: that sends in small writes would otherwise wake the relay, and cost two
#: splices, for each.
GATHER = 1024 * 1024

#: Seconds at most that a relay waits for L{GATHER} bytes before it moves
#: whatever did come: a slow source's bytes still flow on, only later.
GATHER_DELAY = 0.02

_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_GONE = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.EBADF, errno.ETIMEDOUT)


class RelayFailed(Exception):
    """
    A relay ended before all its bytes were moved.

    @ivar moved: bytes of the body the sink received (the head excluded).
    @ivar side: L{SOURCE} (the source stalled past its timeout, ended
        early or failed), L{SINK} (the sink stopped taking bytes for its
        timeout, or failed) or L{CANCELLED}.
    @ivar why: what happened, for logs.
    """

    def __init__(self, moved: int, side: str, why: str) -> None:
        super().__init__(f"{side}: {why} after {moved} bytes")
        self.moved = moved
        self.side = side
        self.why = why


def relayed_bytes(outcome: object) -> int:
    """
    The body bytes a relay moved, from what its L{RelayHandle.done} fired
    with: the count, or a L{Failure} of L{RelayFailed} (any other failure
    moved nothing that is known).
    """
    if isinstance(outcome, Failure):
        failed = outcome.value
        return failed.moved if isinstance(failed, RelayFailed) else 0
    assert isinstance(outcome, int)
    return outcome


@dataclass
class _Pipe:
    read: int
    write: int
    capacity: int

    @classmethod
    def open(cls) -> "_Pipe":
        read, write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            capacity = fcntl.fcntl(write, _F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            capacity = 65536
        return cls(read, write, capacity)

    def close(self) -> None:
        os.close(self.read)
        os.close(self.write)


#: How relays splice: moving pages where the kernel can, never blocking.
SPLICE_FLAGS = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK if SPLICE_AVAILABLE else 0

#: How a relay splices into a socket while more of the body is to come: as
#: C{MSG_MORE}, a last segment not yet full waits for the next splice (or,
#: should none come, the kernel's probe timer) rather than going out on
#: its own; without it a socket with C{TCP_NODELAY} (every connection
#: Twisted's HTTP client and server make) sends a runt after each splice.
#: A fan-out's sinks take many small splices and gain (about a tenth fewer
#: segments on a replicated PUT); a relay that gathers a megabyte a splice
#: (L{GATHER}) does not.
MORE_FLAGS = SPLICE_FLAGS | (os.SPLICE_F_MORE if SPLICE_AVAILABLE else 0)


def fill_pipe(source: int, pipe: int, count: int) -> tuple[int, Optional[str]]:
    """
    Splice up to C{count} bytes from the socket C{source} into the write
    end C{pipe}, without blocking.

    @return: C{(moved, None)}, C{moved} being -1 when the source has
        nothing now; or C{(0, why)} when the source ended (closed or
        failed).
    """
    try:
        got = os.splice(source, pipe, count, flags=SPLICE_FLAGS)
    except BlockingIOError:
        return -1, None
    except OSError as error:
        return 0, str(error)
    if got == 0:
        return 0, "the source closed its connection"
    return got, None


def relay(source: int, sink: int, count: int, head: bytes, read_timeout: float,
          write_timeout: float, wake: int,
          clock: Callable[[], float] = time.monotonic,
          low_water: Optional[Callable[[int], None]] = None) -> int:
    """
    Write C{head} to the socket C{sink}, then move C{count} bytes from the
    socket C{source} to it, blocking until done; both are non-blocking
    sockets. Bytes read from the source always reach the sink before a
    failure is reported, so L{RelayFailed.moved} is exactly what the sink
    has.

    While it waits for the source the relay lets up to L{GATHER} bytes
    gather there first (never more than its pipe holds or than are still
    to come, never for more than L{GATHER_DELAY} seconds); the source's
    low-water mark is 1 again when the relay ends.

    @param read_timeout: seconds the source may send nothing while the
        sink is waiting for it.
    @param write_timeout: seconds the sink may take nothing while bytes
        wait for it.
    @param wake: a descriptor that becomes readable when the relay must
        stop (L{CANCELLED}).
    @param low_water: sets the bytes the source must hold before it polls
        readable; by default its C{SO_RCVLOWAT}, if it is a socket.
    @return: C{count}.
    @raise RelayFailed: if the relay could not finish.
    """
    flags = SPLICE_FLAGS
    gathering = _LowWater(source, low_water)
    poller = _Poller(wake)
    pipe = _Pipe.open()
    moved = 0
    buffered = 0
    source_ended: Optional[str] = None
    # Whether a read (a write) might move bytes without a wait saying so:
    # not after one that moved fewer than asked, which found the source
    # empty (the sink full); each costs a system call and an exception.
    may_read = may_write = True
    try:
        view = memoryview(head)
        now = clock()
        read_progress = write_progress = now
        while view or moved < count:
            want_read = (source_ended is None and not view and buffered < pipe.capacity
                         and moved + buffered < count)
            want_write = bool(view) or buffered > 0
            if source_ended is not None and not want_write:
                raise RelayFailed(moved, SOURCE, source_ended)
            if want_read and may_read:
                asked = min(count - moved - buffered, pipe.capacity - buffered)
                got, ended = fill_pipe(source, pipe.write, asked)
                if ended is not None:
                    source_ended = ended
                    continue
                may_read = got == asked
                if got > 0:
                    buffered += got
                    read_progress = clock()
                    want_write = True
            if want_write and may_write:
                try:
                    if view:
                        asked = len(view)
                        sent = os.write(sink, view)
                        view = view[sent:]
                    else:
                        asked = buffered
                        sent = os.splice(pipe.read, sink, buffered, flags=flags)
                        buffered -= sent
                        moved += sent
                except BlockingIOError:
                    may_write = False
                except OSError as error:
                    if error.errno in _GONE:
                        raise RelayFailed(moved, SINK, str(error)) from None
                    raise
                else:
                    may_write = sent == asked
                    if sent > 0:
                        write_progress = clock()
                        continue
            now = clock()
            if want_write and now - write_progress >= write_timeout:
                raise RelayFailed(moved, SINK, f"took nothing for {write_timeout}s")
            starving = want_read and buffered == 0 and not view
            if starving and now - read_progress >= read_timeout:
                raise RelayFailed(moved, SOURCE, f"sent nothing for {read_timeout}s")
            timeout = min(read_timeout - (now - read_progress) if starving else 1.0,
                          write_timeout - (now - write_progress) if want_write else 1.0)
            gather = min(GATHER, pipe.capacity, count - moved - buffered)
            if want_read and gathering.level(gather) > 1:
                timeout = min(timeout, GATHER_DELAY)
            events = poller.wait(source if want_read else None,
                                 sink if want_write else None, timeout)
            if wake in events:
                raise RelayFailed(moved, CANCELLED, "cancelled")
            # A wait that timed out may hide bytes below the low-water mark.
            may_read = may_read or source in events or not events
            may_write = may_write or sink in events or not events
        return moved
    finally:
        pipe.close()
        gathering.close()


class _LowWater:
    """
    The low-water mark of a relay's source: the bytes it must hold before
    it polls readable (C{SO_RCVLOWAT}), set only when it changes, and 1
    again (the kernel's default, which the reactor expects) on L{close}.
    A source that is no socket keeps 1.
    """

    def __init__(self, source: int, setter: Optional[Callable[[int], None]]) -> None:
        self._socket: Optional[socket.socket] = None
        if setter is None and _is_socket(source):
            # A duplicate: closing it never closes the caller's descriptor.
            duplicate = os.dup(source)
            try:
                self._socket = socket.socket(fileno=duplicate)
            except OSError:
                os.close(duplicate)
            else:
                setter = self._set_socket
        self._setter = setter
        self._level = 1

    def _set_socket(self, level: int) -> None:
        assert self._socket is not None
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, level)

    def level(self, wanted: int) -> int:
        """
        Make the mark C{wanted} (at least 1), if the source can have one;
        the mark now.
        """
        wanted = max(1, wanted)
        if wanted != self._level and self._setter is not None:
            try:
                self._setter(wanted)
            except OSError:
                self._setter = None
                return self._level
            self._level = wanted
        return self._level

    def close(self) -> None:
        """
        Set the mark back to 1 and let go of the source.
        """
        self.level(1)
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _is_socket(fd: int) -> bool:
    try:
        return stat.S_ISSOCK(os.fstat(fd).st_mode)
    except OSError:
        return False


class _Poller:
    """
    The C{poll(2)} set of one relay, kept across its waits: registrations
    change only when what the relay waits for does.
    """

    def __init__(self, wake: int) -> None:
        self._wake = wake
        self._poll = select.poll()
        self._poll.register(wake, select.POLLIN)
        self._watched: tuple[Optional[int], Optional[int]] = (None, None)
        self._masks: dict[int, int] = {}

    def wait(self, reading: Optional[int], writing: Optional[int],
             timeout: float) -> set[int]:
        """
        Wait up to C{timeout} seconds for C{reading} to be readable,
        C{writing} writable or the wake descriptor readable; the
        descriptors that are.
        """
        if (reading, writing) != self._watched:
            self._watch(reading, writing)
        ready = self._poll.poll(max(0.0, timeout) * 1000)
        return {fd for fd, _ in ready}

    def _watch(self, reading: Optional[int], writing: Optional[int]) -> None:
        masks: dict[int, int] = {}
        if reading is not None:
            masks[reading] = select.POLLIN
        if writing is not None:
            masks[writing] = masks.get(writing, 0) | select.POLLOUT
        for fd in self._masks.keys() - masks.keys():
            self._poll.unregister(fd)
        for fd, mask in masks.items():
            if fd not in self._masks:
                self._poll.register(fd, mask)
            elif self._masks[fd] != mask:
                self._poll.modify(fd, mask)
        self._masks = masks
        self._watched = (reading, writing)


def _wait(reading: Optional[int], writing: Optional[int], wake: int,
          timeout: float) -> set[int]:
    """
    Wait up to C{timeout} seconds for C{reading} to be readable,
    C{writing} writable or C{wake} readable; the descriptors that are.
    (One wait: a relay keeps a L{_Poller} for all of its own.)
    """
    return _Poller(wake).wait(reading, writing, timeout)


class RelayHandle:
    """
    A running relay: L{done} fires with the bytes moved, or fails with
    L{RelayFailed}; L{cancel} ends it (L{CANCELLED}).
    """

    def __init__(self, done: "Deferred[int]", wake: int) -> None:
        self.done = done
        self._wake: Optional[int] = wake

    def cancel(self) -> None:
        wake = self._wake
        if wake is not None:
            try:
                os.write(wake, b"x")
            except OSError:
                pass

    def _closed(self) -> None:
        wake, self._wake = self._wake, None
        if wake is not None:
            os.close(wake)


class SocketRelay:
    """
    Zero-copy relays for one process, each in a thread of a pool of at
    most C{max_relays} threads, started on first use and stopped when the
    reactor shuts down.

    @ivar active: relays running now.
    @ivar relays: relays started so far.
    @ivar relayed: body bytes moved by finished relays, successful or not.
    """

    def __init__(self, reactor: IReactorCore, max_relays: int = 32) -> None:
        self._reactor = reactor
        self._max = max_relays
        self._pool: Optional[ThreadPool] = None
        self.active = 0
        self.relays = 0
        self.relayed = 0

    def available(self) -> bool:
        """
        Whether a relay could start now: the platform can splice and a
        thread is free.
        """
        return SPLICE_AVAILABLE and self.active < self._max

    def _threads(self) -> ThreadPool:
        if self._pool is None:
            pool = self._pool = ThreadPool(0, self._max, name="twisted-proxy zero-copy")
            pool.start()
            self._reactor.addSystemEventTrigger("during", "shutdown", pool.stop)
        return self._pool

    def start(self, source: int, sink: int, count: int, head: bytes,
              read_timeout: float, write_timeout: float) -> RelayHandle:
        """
        Start a L{relay} of C{count} bytes from the socket descriptor
        C{source} to C{sink} (both duplicated for the thread, so the
        caller's may close at any time), after C{head}.
        """
        source = os.dup(source)
        try:
            sink = os.dup(sink)
        except OSError:
            os.close(source)
            raise
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.active += 1
        self.relays += 1

        def run() -> int:
            return relay(source, sink, count, head, read_timeout, write_timeout, wake_read)

        done = deferToThreadPool(self._reactor, self._threads(), run)  # type: ignore[arg-type]
        handle = RelayHandle(done, wake_write)

        def ended(result: object) -> object:
            self.active -= 1
            self.relayed += relayed_bytes(result)
            for fd in (source, sink, wake_read):
                os.close(fd)
            handle._closed()
            return result

        done.addBoth(ended)
        return handle

    def submit(self, work: Callable[[int], int],
               descriptors: Callable[[], Iterable[int]]) -> RelayHandle:
        """
        Run C{work(wake)} in a relay thread, as L{start} runs L{relay}:
        C{wake} becomes readable when the handle is cancelled; C{work}
        returns the body bytes it moved or raises L{RelayFailed}. When it
        has ended, the descriptors C{descriptors()} names then are closed.
        """
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.active += 1
        self.relays += 1
        done = deferToThreadPool(self._reactor, self._threads(),  # type: ignore[arg-type]
                                 work, wake_read)
        handle = RelayHandle(done, wake_write)

        def ended(result: object) -> object:
            self.active -= 1
            self.relayed += relayed_bytes(result)
            for fd in (*descriptors(), wake_read):
                os.close(fd)
            handle._closed()
            return result

        done.addBoth(ended)
        return handle

    def call_from_thread(self, f: Callable[..., object], *args: object) -> None:
        """
        Call C{f(*args)} in the reactor's thread, from a relay's.
        """
        self._reactor.callFromThread(f, *args)  # type: ignore[attr-defined]
