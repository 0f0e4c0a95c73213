# -*- test-case-name: tests.test_zerocopy_put,tests.e2e.test_zerocopy_put -*-
"""
Zero-copy fan-out on Linux: one body moved from a socket to several with
C{splice(2)} and C{tee(2)}, so that its bytes never enter Python. What a
replicated PUT does with its client's body.

The source is spliced into an inlet pipe; whenever every live sink's own
pipe has room for it, the inlet is duplicated into all but one of them
with C{tee(2)} and moved into the last, and each sink drains its pipe into
its socket at its own pace. The slowest live sink therefore sets the pace
at which the source is read, and no more than an outlet pipe's worth of
the body (and the inlet's) is ever in flight. A sink that fails or takes nothing for its timeout is
dropped and the others go on; the source failing ends the relay, once
what it did send has reached every live sink.

L{tee_relay} is the blocking loop, run by L{start_tee} in a thread of a
L{SocketRelay}.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import select
import time
from collections import deque
from typing import Callable, Optional, Sequence

from twisted_proxy.backend.zerocopy import (
    _F_SETPIPE_SZ,
    _GONE,
    CANCELLED,
    MORE_FLAGS,
    SINK,
    SOURCE,
    SPLICE_AVAILABLE,
    SPLICE_FLAGS,
    RelayFailed,
    RelayHandle,
    SocketRelay,
    _Pipe,
    fill_pipe,
)

__all__ = ["TEE_AVAILABLE", "MAX_SINKS", "TeeRelay", "open_pipes", "start_tee", "tee", "tee_relay"]

#: How many fills of the inlet pipe each outlet pipe holds: how far the
#: sinks may drift apart, and the source run ahead of the slowest.
BATCHES = 4

#: The most sinks of one relay: each is named by one byte on the relay's
#: control pipe.
MAX_SINKS = 64

_SPLICE_F_NONBLOCK = 2


def _load_tee() -> Optional[Callable[[int, int, int, int], int]]:
    if not SPLICE_AVAILABLE:
        return None
    try:
        # The process's own symbols, libc's among them (finding libc by
        # name would start ldconfig).
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.tee
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint]
    function.restype = ctypes.c_ssize_t
    return function  # type: ignore[no-any-return]


_tee = _load_tee()

#: Whether this platform has both C{splice(2)} and C{tee(2)} (Linux).
TEE_AVAILABLE = _tee is not None


def tee(source: int, sink: int, count: int) -> int:
    """
    Duplicate up to C{count} bytes from the head of the pipe C{source} into
    the pipe C{sink}, without consuming them, and without blocking; the
    bytes duplicated (the GIL is released meanwhile).

    @raise BlockingIOError: if C{source} is empty or C{sink} full.
    @raise OSError: as C{tee(2)} fails.
    """
    assert _tee is not None
    done = _tee(source, sink, count, _SPLICE_F_NONBLOCK)
    if done < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return done


def open_pipes(count: int) -> list[_Pipe]:
    """
    An inlet pipe and C{count - 1} outlet pipes of one capacity (the
    smallest the kernel gave any), the inlet's a L{BATCHES}th of theirs:
    so that L{BATCHES} fills of the inlet always fit into an outlet,
    buffer for buffer, whatever bytes each buffer holds.
    """
    pipes: list[_Pipe] = []
    try:
        for _ in range(count):
            pipes.append(_Pipe.open())
        outlets = pipes[1:]
        capacity = min(pipe.capacity for pipe in outlets)
        for pipe in outlets:
            if pipe.capacity != capacity:
                pipe.capacity = fcntl.fcntl(pipe.write, _F_SETPIPE_SZ, capacity)
        inlet = pipes[0]
        inlet.capacity = fcntl.fcntl(inlet.write, _F_SETPIPE_SZ, capacity // BATCHES)
        if inlet.capacity * BATCHES > capacity:
            raise OSError(errno.EINVAL, "pipes too small for a zero-copy fan-out")
    except BaseException:
        for pipe in pipes:
            pipe.close()
        raise
    return pipes


def _move_all(source: int, sink: int, count: int, duplicate: bool) -> None:
    """
    Duplicate (C{tee}) or move (C{splice}) all C{count} bytes of the pipe
    C{source} into the empty pipe C{sink}.
    """
    if duplicate:
        done = tee(source, sink, count)
    else:
        done = os.splice(source, sink, count, flags=SPLICE_FLAGS)
    if done != count:
        # Cannot happen with pipes of the capacities of open_pipes; were it
        # to, the sink's copy could never be completed in order.
        raise RuntimeError(f"pipe copy moved {done} of {count} bytes")


class _Sink:
    __slots__ = ("fd", "pipe", "head", "held", "batches", "progress", "live", "ready")

    def __init__(self, fd: int, pipe: _Pipe, head: bytes, now: float) -> None:
        self.fd = fd
        self.pipe = pipe
        self.head = memoryview(head)
        self.held = 0
        # The bytes left of each fill of the inlet poured into the pipe,
        # oldest first: each takes at most an inlet's worth of buffers.
        self.batches: deque[int] = deque()
        self.progress = now
        self.live = True
        # Whether the socket may take bytes now: until it refuses them,
        # then until poll says it may.
        self.ready = True

    def poured(self, count: int) -> None:
        self.batches.append(count)
        self.held += count

    def sent(self, count: int) -> None:
        self.held -= count
        while count:
            first = self.batches[0]
            if count < first:
                self.batches[0] = first - count
                return
            count -= first
            self.batches.popleft()

    @property
    def waiting(self) -> bool:
        """
        Whether bytes wait for this sink.
        """
        return bool(self.head) or self.held > 0


def tee_relay(source: int, sinks: list[int], count: int, heads: Sequence[bytes],
              read_timeout: float, write_timeout: float, wake: int, control: int,
              dropped: Callable[[int, Exception], None],
              clock: Callable[[], float] = time.monotonic,
              pipes: Optional[list[_Pipe]] = None) -> int:
    """
    Write C{heads[i]} to the socket C{sinks[i]}, then move the next C{count}
    bytes of the socket C{source} to every sink, blocking until done; all
    are non-blocking sockets.

    A sink that fails, or takes nothing for C{write_timeout} seconds while
    bytes wait for it, is dropped: its descriptor is closed at once, its
    entry in C{sinks} set to C{-1}, and C{dropped(i, error)} is called (in
    this thread) with the C{OSError} it failed with or a C{TimeoutError}. A byte C{i} read from C{control} drops sink C{i} the
    same way, without calling C{dropped}. The descriptors still in
    C{sinks} at the end are the caller's to close.

    @param read_timeout: seconds the source may send nothing while the
        relay waits for it.
    @param wake: a descriptor that becomes readable when the relay must
        stop (L{CANCELLED}).
    @param pipes: one more pipe than sinks, as L{open_pipes} opens them,
        closed when the relay ends; by default, opened here.
    @return: C{count}: every sink left got all of it.
    @raise RelayFailed: if the relay could not finish: L{SOURCE} (the
        source stalled, closed or failed; what it sent reached every live
        sink first), L{SINK} (no sink left) or L{CANCELLED}. Its C{moved}
        is the bytes taken from the source.
    """
    if pipes is None:
        pipes = open_pipes(len(sinks) + 1)
    if len(sinks) > MAX_SINKS or len(heads) != len(sinks) or len(pipes) != len(sinks) + 1:
        for pipe in pipes:
            pipe.close()
        raise ValueError("one head per sink, one pipe more, at most MAX_SINKS sinks")
    inlet = pipes[0]
    now = clock()
    outs = [_Sink(fd, pipe, head, now) for fd, pipe, head in zip(sinks, pipes[1:], heads)]

    def drop(index: int, why: Optional[Exception]) -> None:
        out = outs[index]
        if not out.live:
            return
        out.live = False
        os.close(out.fd)
        sinks[index] = -1
        if why is not None:
            dropped(index, why)

    taken = 0
    inlet_held = 0
    source_ended: Optional[str] = None
    read_progress = now
    # As each sink's ready: until the source has nothing, then until poll
    # says it has.
    source_ready = True
    try:
        while True:
            live = [out for out in outs if out.live]
            if not live:
                raise RelayFailed(taken, SINK, "no sink left")
            moved = False
            if inlet_held and all(len(out.batches) < BATCHES for out in live):
                # Every live pipe has room for one more fill of the inlet.
                for out in live[:-1]:
                    _move_all(inlet.read, out.pipe.write, inlet_held, duplicate=True)
                _move_all(inlet.read, live[-1].pipe.write, inlet_held, duplicate=False)
                for out in live:
                    out.poured(inlet_held)
                inlet_held = 0
            want_read = source_ended is None and inlet_held == 0 and taken < count
            if not want_read:
                read_progress = clock()
            elif source_ready:
                got, ended = fill_pipe(source, inlet.write, min(count - taken, inlet.capacity))
                if ended is not None:
                    source_ended = ended
                    continue
                source_ready = got >= 0
                if got > 0:
                    taken += got
                    inlet_held = got
                    read_progress = clock()
                    moved = True
            for index, out in enumerate(outs):
                if not out.live:
                    continue
                if not out.waiting:
                    out.progress = clock()
                    continue
                if not out.ready:
                    continue
                try:
                    if out.head:
                        sent = os.write(out.fd, out.head)
                        out.head = out.head[sent:]
                    else:
                        # More of the body to come: the sink's last,
                        # partial segment waits to be filled.
                        more = taken < count or inlet_held
                        sent = os.splice(out.pipe.read, out.fd, out.held,
                                         flags=MORE_FLAGS if more else SPLICE_FLAGS)
                        out.sent(sent)
                except BlockingIOError:
                    out.ready = False
                    continue
                except OSError as error:
                    if error.errno in _GONE:
                        drop(index, error)
                        continue
                    raise
                if sent > 0:
                    out.progress = clock()
                    moved = True
            if moved:
                continue
            live = [out for out in outs if out.live]
            if taken == count and not inlet_held and not any(out.waiting for out in live):
                return count
            if source_ended is not None and not inlet_held and not any(
                    out.waiting for out in live):
                raise RelayFailed(taken, SOURCE, source_ended)
            now = clock()
            for index, out in enumerate(outs):
                if out.live and out.waiting and now - out.progress >= write_timeout:
                    drop(index, TimeoutError(f"took no upload data for {write_timeout}s"))
            if want_read and now - read_progress >= read_timeout:
                source_ended = f"sent nothing for {read_timeout}s"
                continue
            limits = [write_timeout - (now - out.progress) for out in outs
                      if out.live and out.waiting]
            if want_read:
                limits.append(read_timeout - (now - read_progress))
            ready = _poll(source if want_read else None,
                          [out.fd for out in outs if out.live and out.waiting],
                          (wake, control), min(limits, default=1.0))
            if wake in ready:
                raise RelayFailed(taken, CANCELLED, "cancelled")
            if source in ready:
                source_ready = True
            for out in outs:
                if out.live and out.fd in ready:
                    out.ready = True
            if control in ready:
                for index in _read_commands(control):
                    if index < len(outs):
                        drop(index, None)
    finally:
        for pipe in pipes:
            pipe.close()


def _read_commands(control: int) -> bytes:
    try:
        return os.read(control, 4096)
    except BlockingIOError:
        return b""


def _poll(reading: Optional[int], writing: list[int], wakes: tuple[int, ...],
          timeout: float) -> set[int]:
    """
    Wait up to C{timeout} seconds for C{reading} or one of C{wakes} to be
    readable, or one of C{writing} writable; the descriptors that are.
    """
    poller = select.poll()
    for fd in wakes:
        poller.register(fd, select.POLLIN)
    if reading is not None:
        poller.register(reading, select.POLLIN)
    for fd in writing:
        poller.register(fd, select.POLLOUT)
    ready = poller.poll(max(0.0, timeout) * 1000)
    return {fd for fd, _ in ready}


class TeeRelay:
    """
    A running L{tee_relay}: its L{RelayHandle} (C{handle}, whose C{done}
    fires with the bytes moved or fails with L{RelayFailed}), and L{drop}
    to stop feeding one of its sinks.
    """

    def __init__(self, handle: RelayHandle, control: int) -> None:
        self.handle = handle
        self._control: Optional[int] = control
        handle.done.addBoth(self._ended)

    def drop(self, index: int) -> None:
        """
        Stop writing to sink C{index} (its request was given up); nothing
        if the relay is over.
        """
        control = self._control
        if control is not None:
            try:
                os.write(control, bytes([index]))
            except OSError as error:
                if error.errno != errno.EAGAIN:
                    raise

    def _ended(self, result: object) -> object:
        control, self._control = self._control, None
        if control is not None:
            os.close(control)
        return result


def start_tee(relay: SocketRelay, source: int, sinks: Sequence[int], count: int,
              heads: Callable[[], Sequence[bytes]], read_timeout: float,
              write_timeout: float, dropped: Callable[[int, Exception], None]) -> TeeRelay:
    """
    Start a L{tee_relay} in a thread of C{relay}, of C{count} bytes from
    the socket descriptor C{source} to each of C{sinks} (all duplicated
    for the thread, so the caller's may close at any time), each after its
    head.

    @param heads: called once everything the relay needs is open (its
        pipes and descriptors), for the heads: nothing is taken from
        anyone when the relay cannot start.
    @param dropped: called in the reactor thread with the index of a sink
        the relay dropped, and its error.
    @raise OSError: if the relay's descriptors could not be opened.
    """
    owned: list[int] = []
    pipes: list[_Pipe] = []
    try:
        for fd in (source, *sinks):
            owned.append(os.dup(fd))
        control_read, control_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        owned.extend((control_read, control_write))
        pipes = open_pipes(len(sinks) + 1)
    except OSError:
        for fd in owned:
            os.close(fd)
        raise
    mine, their_sinks = owned[0], owned[1:-2]
    taken = heads()

    def report(index: int, why: Exception) -> None:
        relay.call_from_thread(dropped, index, why)

    def run(wake: int) -> int:
        return tee_relay(mine, their_sinks, count, taken, read_timeout, write_timeout,
                         wake, control_read, report, pipes=pipes)

    def left_open() -> list[int]:
        return [mine, control_read] + [fd for fd in their_sinks if fd >= 0]

    return TeeRelay(relay.submit(run, left_open), control_write)
