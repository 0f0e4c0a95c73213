"""
Unit tests for L{twisted_proxy.service.workers}: the worker pool's restarts,
the workers' log lines in the parent, and the adopted socket. No process is
started and no socket bound: the pool's listening socket is a stand-in
(L{_ListeningSocket}); L{tests.e2e.test_workers} runs real workers on a real
one.
"""

from __future__ import annotations

import io
import os
import signal
import socket
from typing import Any, Optional

from twisted.internet.defer import succeed
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.protocol import Factory, ProcessProtocol
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import (
    ILogObserver,
    LogEvent,
    Logger,
    LogLevel,
    formatEvent,
    globalLogPublisher,
)
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from twisted_proxy.service import workers
from twisted_proxy.service.workers import (
    WORKER_FD,
    AdoptedPort,
    WorkerPoolService,
    WorkerSpec,
    _WorkerProtocol,
    worker_log_observer,
)


@implementer(ILogObserver)
class _Events:
    def __init__(self) -> None:
        self.events: list[LogEvent] = []

    def __call__(self, event: LogEvent) -> None:
        self.events.append(event)

    def summary(self) -> list[tuple[str, str]]:
        """
        Each event's level name and text.
        """
        return [(event["log_level"].name, formatEvent(event)) for event in self.events]


def _worker_output(emit: Any) -> bytes:
    """
    What a worker writes on its standard output while C{emit(log)} logs
    through a logger in namespace C{proxy.test}.
    """
    out = io.StringIO()
    emit(Logger(namespace="proxy.test", observer=worker_log_observer(out)))
    return out.getvalue().encode("utf-8")


class WorkerLogTests(SynchronousTestCase):
    """
    A worker's log events reach the parent's log with their level.
    """

    def setUp(self) -> None:
        self.events = _Events()
        self.ended: list[tuple[int, Failure]] = []
        self.protocol = _WorkerProtocol(3, lambda i, r: self.ended.append((i, r)),
                                        self.events)

    def feed(self, childFD: int, data: bytes, size: int = 7) -> None:
        for start in range(0, len(data), size):
            self.protocol.childDataReceived(childFD, data[start:start + size])

    def test_levels(self) -> None:
        """
        Each event keeps its level, namespace and time; its text follows
        the worker's number. Events may arrive in any pieces.
        """

        def emit(log: Logger) -> None:
            log.debug("debug {n}", n=1)
            log.info("info {what!r}", what="é")
            log.warn("warn {thing}", thing=object)
            log.error("error {n:03d}", n=7)
            log.critical("critical")

        self.feed(1, _worker_output(emit))
        self.assertEqual(self.events.summary(), [
            ("debug", "worker 3: debug 1"),
            ("info", "worker 3: info 'é'"),
            ("warn", "worker 3: warn <class 'object'>"),
            ("error", "worker 3: error 007"),
            ("critical", "worker 3: critical"),
        ])
        for event in self.events.events:
            self.assertEqual(event["log_namespace"], "proxy.test")
            self.assertEqual(event["worker_index"], 3)
            self.assertIsInstance(event["log_time"], float)
            self.assertNotIn("log_logger", event)

    def test_failure(self) -> None:
        """
        A logged failure arrives as a failure, with its traceback and the
        text of its exception.
        """

        def emit(log: Logger) -> None:
            try:
                1 / 0
            except ZeroDivisionError:
                log.failure("the {what} failed", what="division")

        self.feed(1, _worker_output(emit), size=100)
        [event] = self.events.events
        self.assertEqual(event["log_level"], LogLevel.critical)
        self.assertEqual(formatEvent(event), "worker 3: the division failed")
        failure = event["log_failure"]
        self.assertIsInstance(failure, Failure)
        traceback = failure.getTraceback()
        self.assertIn("ZeroDivisionError: division by zero", traceback)
        self.assertIn("1 / 0", traceback)
        self.assertNotIn("worker_failure_text", event)

    def test_textLines(self) -> None:
        """
        Lines that are not events are logged as text: at error level from
        standard error, at info level from standard output.
        """
        self.feed(2, b"Traceback (most recent call last):\n  boom\r\n")
        self.feed(1, b"plain text\n\x1e{not json\n\n")
        self.assertEqual(self.events.summary(), [
            ("error", "worker 3: Traceback (most recent call last):"),
            ("error", "worker 3:   boom"),
            ("info", "worker 3: plain text"),
            ("info", "worker 3: \x1e{not json"),
        ])

    def test_lastLine(self) -> None:
        """
        An unfinished last line is logged when the worker exits.
        """
        self.feed(2, b"SystemExit: bad config")
        self.assertEqual(self.events.events, [])
        reason = Failure(ProcessTerminated(exitCode=1))
        self.protocol.processEnded(reason)
        self.assertEqual(self.events.summary(), [("error", "worker 3: SystemExit: bad config")])
        self.assertEqual(self.ended, [(3, reason)])


class _Transport:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.signals: list[Any] = []

    def signalProcess(self, signum: Any) -> None:
        self.signals.append(signum)


class _ProcessReactor(MemoryReactorClock):
    """
    A reactor whose C{spawnProcess} records what it would start.
    """

    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[tuple[ProcessProtocol, list[str], dict[int, Any]]] = []

    def spawnProcess(self, protocol: ProcessProtocol, executable: str, args: list[str],
                     env: Optional[dict[str, str]] = None, path: Optional[str] = None,
                     uid: Optional[int] = None, gid: Optional[int] = None,
                     usePTY: bool = False,
                     childFDs: Optional[dict[int, Any]] = None) -> _Transport:
        transport = _Transport(1000 + len(self.spawned))
        protocol.makeConnection(transport)  # type: ignore[arg-type]
        self.spawned.append((protocol, args, childFDs or {}))
        return transport


class _ListeningSocket:
    """
    Stands in for the socket L{workers.bind_listening_socket} binds: it has
    the address asked for (port 0 taken as an ephemeral port) and a
    descriptor number, and records being closed. Nothing is bound.
    """

    EPHEMERAL_PORT = 43210
    FD = 42

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port or self.EPHEMERAL_PORT
        self.closed = False

    def getsockname(self) -> tuple[str, int]:
        return (self.host, self.port)

    def fileno(self) -> int:
        return self.FD

    def close(self) -> None:
        self.closed = True


class WorkerPoolTests(SynchronousTestCase):
    """
    L{WorkerPoolService}: starting, restarting with backoff, stopping.
    """

    def setUp(self) -> None:
        self.reactor = _ProcessReactor()
        self.events = _Events()
        self.sockets: list[_ListeningSocket] = []
        self.backlogs: list[int] = []
        self.patch(workers, "bind_listening_socket", self._bind)
        self.pool = WorkerPoolService(self.reactor, "127.0.0.1", 0, 2,
                                      WorkerSpec("/p.conf"), lambda: succeed(None),
                                      self.events)
        self.pool.startService()
        self.addCleanup(self._stop)

    def _bind(self, host: str, port: int, backlog: int) -> _ListeningSocket:
        listening = _ListeningSocket(host, port)
        self.backlogs.append(backlog)
        self.sockets.append(listening)
        return listening

    def _stop(self) -> None:
        if self.pool.running:
            stopped = self.pool.stopService()
            for protocol in self.running():
                protocol.processEnded(Failure(ProcessDone(0)))
            self.successResultOf(stopped)

    def running(self) -> list[ProcessProtocol]:
        """
        The protocols of the spawned workers that have not exited.
        """
        return [p for p, _, _ in self.reactor.spawned if not getattr(p, "exited", False)]

    def die(self, index: int) -> None:
        """
        The last spawned worker C{index} exits with an error.
        """
        protocol = [p for p, _, _ in self.reactor.spawned
                    if p.index == index][-1]  # type: ignore[attr-defined]
        protocol.exited = True  # type: ignore[attr-defined]
        protocol.processEnded(Failure(ProcessTerminated(exitCode=1)))

    def spawns(self, index: int) -> int:
        return len([p for p, _, _ in self.reactor.spawned
                    if p.index == index])  # type: ignore[attr-defined]

    def test_backlog(self) -> None:
        """
        The socket is bound with Swift's default backlog, 4096, or the one
        given.
        """
        self.assertEqual(self.backlogs, [4096])
        pool = WorkerPoolService(self.reactor, "127.0.0.1", 0, 1, WorkerSpec("/p.conf"),
                                 lambda: succeed(None), self.events, backlog=100)
        pool.startService()
        self.assertEqual(self.backlogs, [4096, 100])
        stopped = pool.stopService()
        for protocol in self.running()[2:]:
            protocol.processEnded(Failure(ProcessDone(0)))
        self.successResultOf(stopped)

    def test_spawned(self) -> None:
        """
        Once ready, each worker runs the workers module on the bound socket.
        """
        self.assertEqual(len(self.reactor.spawned), 2)
        address = self.pool.address
        assert address is not None
        self.assertEqual(address[0], "127.0.0.1")
        _, args, childFDs = self.reactor.spawned[0]
        self.assertIn("twisted_proxy.service.workers", args)
        self.assertEqual(args[-4:], ["--config", "/p.conf", "--fd", str(WORKER_FD)])
        self.assertEqual(childFDs[1], "r")
        self.assertEqual(childFDs[2], "r")
        self.assertIsInstance(childFDs[WORKER_FD], int)
        [listening] = self.sockets
        self.assertEqual(childFDs[WORKER_FD], listening.fileno())

    def test_backoff(self) -> None:
        """
        A worker that keeps dying soon after starting is restarted after
        0.5 s, then 1 s, 2 s...; after 10 s of running, after 0.5 s again.
        Other workers are not affected.
        """
        for delay in [0.5, 1.0, 2.0, 4.0]:
            before = self.spawns(0)
            self.die(0)
            self.reactor.advance(delay - 0.01)
            self.assertEqual(self.spawns(0), before)
            self.reactor.advance(0.01)
            self.assertEqual(self.spawns(0), before + 1)
        self.reactor.advance(10)
        self.die(0)
        self.reactor.advance(0.5)
        self.assertEqual(self.spawns(0), 6)
        self.assertEqual(self.spawns(1), 1)

    def test_restartLogged(self) -> None:
        """
        A restart is logged as a warning with its delay.
        """
        events = _Events()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        self.die(1)
        [warning] = [e for e in events.events if e.get("log_level") == LogLevel.warn
                     and "worker {index} exited" in e.get("log_format", "")]
        self.assertEqual(warning["index"], 1)
        self.assertEqual(warning["delay"], 0.5)

    def test_stop(self) -> None:
        """
        Stopping SIGTERMs the workers, cancels pending restarts and fires
        once every worker has exited.
        """
        self.die(0)
        stopped = self.pool.stopService()
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        [survivor] = self.running()
        assert survivor.transport is not None
        self.assertEqual(survivor.transport.signals,  # type: ignore[attr-defined]
                         [signal.SIGTERM])
        self.assertNoResult(stopped)
        self.assertIsNotNone(self.pool.address)
        survivor.exited = True  # type: ignore[attr-defined]
        survivor.processEnded(Failure(ProcessDone(0)))
        self.successResultOf(stopped)
        self.assertIsNone(self.pool.address)
        self.assertTrue(self.sockets[0].closed)
        self.reactor.advance(60)
        self.assertEqual(self.spawns(0), 1)


class AdoptedPortTests(SynchronousTestCase):
    """
    L{AdoptedPort}: serving an inherited socket.
    """

    def test_adopt(self) -> None:
        """
        Starting adopts the socket with its family and closes the inherited
        descriptor; stopping stops listening.
        """
        # An IPv6 socket that is never bound: the reactor here only records
        # what it adopts, and the family is read from the descriptor.
        listening = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.addCleanup(listening.close)
        fd = os.dup(listening.fileno())
        reactor = MemoryReactorClock()
        factory = Factory()
        service = AdoptedPort(reactor, fd, factory)
        service.startService()
        [(adopted, family, served)] = reactor.adoptedPorts
        self.assertEqual((adopted, family), (fd, socket.AF_INET6))
        self.assertIs(served, factory)
        self.assertRaises(OSError, os.fstat, fd)
        self.assertIsNotNone(service.port)
        service.stopService()
        self.assertIsNone(service.port)
        self.assertFalse(service.running)
