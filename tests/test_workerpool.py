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

from twisted.application.service import Service
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionDone, ProcessDone, ProcessTerminated
from twisted.internet.protocol import Factory, ProcessProtocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import (
    ILogObserver,
    LogEvent,
    Logger,
    LogLevel,
    capturedLogs,
    formatEvent,
    globalLogPublisher,
)
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from tests.test_server import HeldApp
from twisted_proxy.service import workers
from twisted_proxy.service.workers import (
    STATUS_FD,
    WORKER_FD,
    AdoptedPort,
    WorkerDrain,
    WorkerPoolService,
    WorkerSpec,
    _WorkerProtocol,
    worker_log_observer,
)
from twisted_proxy.web.server import ProxyResource, ProxySite


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

    def test_formattedText(self) -> None:
        """
        An event whose text the worker formatted (C{TEXT_KEY}, as an access
        line's) reaches the parent's log file as twistd writes the relayed
        event, after the worker's number.
        """
        from twisted.logger import FilteringLogObserver, textFileLogObserver

        from twisted_proxy._twisted import TEXT_KEY, QuietTwistedClient, quiet_observer

        def emit(log: Logger) -> None:
            log.info("{line}", line="GET /v1/\u00e9 200", **{TEXT_KEY: "GET /v1/\u00e9 200"})

        reference, direct = io.StringIO(), io.StringIO()
        self.feed(1, _worker_output(emit))
        twistd = FilteringLogObserver(textFileLogObserver(reference), [QuietTwistedClient()])
        quiet = quiet_observer(textFileLogObserver(direct))
        for event in self.events.events:
            twistd(dict(event))
            quiet(dict(event))
        self.assertIn(" [proxy.test#info] worker 3: GET /v1/\u00e9 200\n", direct.getvalue())
        self.assertEqual(direct.getvalue(), reference.getvalue())

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
        self.stdin = b""
        self.closed: list[int] = []

    def signalProcess(self, signum: Any) -> None:
        self.signals.append(signum)

    def writeToChild(self, childFD: int, data: bytes) -> None:
        assert childFD == 0 and 0 not in self.closed
        self.stdin += data

    def closeChildFD(self, childFD: int) -> None:
        self.closed.append(childFD)


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
        protocol, args, childFDs = self.reactor.spawned[0]
        self.assertIn("twisted_proxy.service.workers", args)
        self.assertEqual(args[-6:], ["--config", "/p.conf", "--fd", str(WORKER_FD),
                                     "--status-fd", str(STATUS_FD)])
        self.assertEqual(childFDs[1], "r")
        self.assertEqual(childFDs[2], "r")
        self.assertEqual(childFDs[STATUS_FD], "r")
        # Without the configuration's text, standard input is just closed.
        self.assertEqual(protocol.transport.stdin, b"")  # type: ignore[union-attr]
        self.assertEqual(protocol.transport.closed, [0])  # type: ignore[union-attr]
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


class WorkerPoolReloadTests(SynchronousTestCase):
    """
    L{WorkerPoolService.replace_workers}: a reload's new workers replace
    the old ones, which drain.
    """

    def setUp(self) -> None:
        self.reactor = _ProcessReactor()
        self.events = _Events()
        globalLogPublisher.addObserver(self.events)
        self.addCleanup(globalLogPublisher.removeObserver, self.events)
        self.sockets: list[_ListeningSocket] = []

        def bind(host: str, port: int, backlog: int) -> _ListeningSocket:
            self.sockets.append(_ListeningSocket(host, port))
            return self.sockets[-1]

        self.patch(workers, "bind_listening_socket", bind)
        self.pool = WorkerPoolService(self.reactor, "127.0.0.1", 0, 2,
                                      WorkerSpec("/p.conf", config_text="old"),
                                      lambda: succeed(None), _Events(),
                                      drain_timeout=300, start_timeout=60)
        self.pool.startService()
        self.addCleanup(self._stop)
        for number in (0, 1):
            self.status(number, "ready")
        self.new_spec = WorkerSpec("/p.conf", config_text="[DEFAULT]\nnew = 1\n")

    def _stop(self) -> None:
        if self.pool.running:
            stopped = self.pool.stopService()
            for number in self.alive():
                self.exit(number)
            self.successResultOf(stopped)

    def worker(self, number: int) -> ProcessProtocol:
        """
        The last process started as worker C{number}.
        """
        return [p for p, _, _ in self.reactor.spawned
                if p.index == number][-1]  # type: ignore[attr-defined]

    def transport(self, number: int) -> _Transport:
        return self.worker(number).transport  # type: ignore[return-value]

    def signals(self, number: int) -> list[Any]:
        return self.transport(number).signals

    def alive(self) -> list[int]:
        return sorted({p.index for p, _, _ in self.reactor.spawned  # type: ignore[attr-defined]
                       if not getattr(p, "exited", False)})

    def status(self, number: int, word: str) -> None:
        self.worker(number).childDataReceived(STATUS_FD, word.encode("ascii") + b"\n")

    def exit(self, number: int, code: int = 0) -> None:
        protocol = self.worker(number)
        protocol.exited = True  # type: ignore[attr-defined]
        reason = ProcessDone(0) if code == 0 else ProcessTerminated(exitCode=code)
        protocol.processEnded(Failure(reason))

    def spawns(self, number: int) -> int:
        return len([p for p, _, _ in self.reactor.spawned
                    if p.index == number])  # type: ignore[attr-defined]

    def logged(self, level: LogLevel) -> list[str]:
        return [formatEvent(e) for e in self.events.events if e.get("log_level") == level]

    def cut_over(self) -> Any:
        """
        Reload, the new workers 2 and 3 serve and the old ones stop
        accepting: the reload's result.
        """
        replacing = self.pool.replace_workers(self.new_spec, 2, drain_timeout=30)
        self.status(2, "ready")
        self.status(3, "ready")
        self.status(0, "stopped")
        self.status(1, "stopped")
        return self.successResultOf(replacing)

    def test_replace(self) -> None:
        """
        New workers start with the new configuration's text beside the old
        ones; only once all serve are the old ones told to drain
        (C{SIGHUP}), and the reload is done once they have stopped
        accepting. They are not restarted when they exit.
        """
        replacing = self.pool.replace_workers(self.new_spec, 2, drain_timeout=30)
        self.assertEqual(len(self.reactor.spawned), 4)
        _, args, childFDs = self.reactor.spawned[2]
        self.assertIn("--config-stdin", args)
        self.assertEqual(self.transport(2).stdin, b"[DEFAULT]\nnew = 1\n")
        self.assertEqual(self.transport(2).closed, [0])
        self.assertEqual(childFDs[WORKER_FD], _ListeningSocket.FD)
        self.status(2, "ready")
        self.assertEqual(self.signals(0), [])
        self.status(3, "ready")
        self.assertEqual((self.signals(0), self.signals(1)), ([signal.SIGHUP], [signal.SIGHUP]))
        self.assertEqual(self.pool.generation, 2)
        self.assertNoResult(replacing)
        self.status(0, "stopped")
        self.assertNoResult(replacing)
        self.status(1, "stopped")
        self.assertEqual(self.successResultOf(replacing),
                         "workers 2, 3 serve it; old workers 0, 1 finish their requests "
                         "(stale_worker_timeout 30s)")
        self.exit(0)
        self.exit(1)
        self.reactor.advance(100)
        self.assertEqual(self.alive(), [2, 3])
        self.assertEqual((self.spawns(0), self.spawns(1)), (1, 1))
        self.assertEqual(self.logged(LogLevel.warn), [])
        self.assertEqual(self.logged(LogLevel.info)[-1],
                         "workers 0, 1 of configuration 1 have drained and exited")
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.assertEqual(self.sockets[0].closed, False)

    def test_exitedCountsAsStopped(self) -> None:
        """
        An old worker that exits before saying it stopped accepting does
        not hold the reload up.
        """
        replacing = self.pool.replace_workers(self.new_spec, 2)
        self.status(2, "ready")
        self.status(3, "ready")
        self.status(0, "stopped")
        self.exit(1)
        self.assertIn("old workers 0 finish", self.successResultOf(replacing))

    def test_otherCount(self) -> None:
        """
        The new configuration's worker count is started.
        """
        replacing = self.pool.replace_workers(self.new_spec, 3)
        for number in (2, 3, 4):
            self.status(number, "ready")
        self.exit(0)
        self.exit(1)
        self.assertTrue(self.successResultOf(replacing).startswith("workers 2, 3, 4 serve it"))
        self.assertEqual(self.alive(), [2, 3, 4])

    def test_newWorkerDies(self) -> None:
        """
        A new worker that exits before serving fails the reload: the other
        new workers are stopped, and the old ones serve on and are still
        restarted when they die.
        """
        replacing = self.pool.replace_workers(self.new_spec, 2)
        self.status(2, "ready")
        self.exit(3, code=1)
        failure = self.failureResultOf(replacing, workers.ReloadFailed)
        self.assertEqual(failure.getErrorMessage(),
                         "new worker 3 exited before serving (A process has ended with a "
                         "probable error condition: process ended with exit code 1.)")
        self.assertEqual(self.signals(2), [signal.SIGTERM])
        self.assertEqual((self.signals(0), self.signals(1)), ([], []))
        self.assertEqual(self.pool.generation, 1)
        self.exit(2)
        self.reactor.advance(100)
        self.assertEqual((self.spawns(2), self.spawns(3)), (1, 1))
        self.exit(0, code=1)
        self.reactor.advance(0.5)
        self.assertEqual(self.spawns(0), 2)
        self.assertEqual(self.transport(0).stdin, b"old")
        # A later reload works.
        self.assertIn("workers 4, 5 serve it", self._cut_over_from(4))

    def _cut_over_from(self, first: int) -> str:
        replacing = self.pool.replace_workers(self.new_spec, 2)
        self.status(first, "ready")
        self.status(first + 1, "ready")
        for number in self.alive():
            if number < first:
                self.status(number, "stopped")
        return self.successResultOf(replacing)  # type: ignore[no-any-return]

    def test_cannotStart(self) -> None:
        """
        A new worker that cannot even be started fails the reload at once.
        """
        def refuse(spec: WorkerSpec, protocol: ProcessProtocol, fd: int) -> None:
            raise OSError("no more processes")

        self.pool._launch = refuse
        replacing = self.pool.replace_workers(self.new_spec, 2)
        failure = self.failureResultOf(replacing, workers.ReloadFailed)
        self.assertIn("new worker 2 exited before serving", failure.getErrorMessage())
        self.assertEqual(self.pool.generation, 1)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_startTimeout(self) -> None:
        """
        New workers not all serving within C{start_timeout} fail the
        reload; they are stopped.
        """
        replacing = self.pool.replace_workers(self.new_spec, 2)
        self.status(3, "ready")
        self.reactor.advance(59)
        self.assertNoResult(replacing)
        self.reactor.advance(1)
        failure = self.failureResultOf(replacing, workers.ReloadFailed)
        self.assertEqual(failure.getErrorMessage(), "new workers 2 were not serving after 60s")
        self.assertEqual((self.signals(2), self.signals(3)), ([signal.SIGTERM], [signal.SIGTERM]))
        self.assertEqual((self.signals(0), self.signals(1)), ([], []))
        self.exit(2, code=1)
        self.exit(3)
        self.assertEqual(self.logged(LogLevel.warn), [])

    def test_oldWorkerDoesNotStop(self) -> None:
        """
        An old worker that does not stop accepting within
        C{start_timeout} is stopped (C{SIGTERM}), and the reload is done.
        """
        replacing = self.pool.replace_workers(self.new_spec, 2)
        self.status(2, "ready")
        self.status(3, "ready")
        self.status(0, "stopped")
        self.reactor.advance(60)
        self.assertEqual(self.successResultOf(replacing),
                         "workers 2, 3 serve it; old workers 0, 1 finish their requests "
                         "(stale_worker_timeout 300s); workers 1 did not stop accepting "
                         "within 60s and were stopped")
        self.assertEqual(self.signals(1), [signal.SIGHUP, signal.SIGTERM])

    def test_drainTimeout(self) -> None:
        """
        An old worker still running C{drain_timeout} seconds after it was
        told to drain gets C{SIGTERM}, then C{SIGKILL}; one warning says
        so.
        """
        self.cut_over()
        self.exit(0)
        self.reactor.advance(29)
        self.assertEqual(self.signals(1), [signal.SIGHUP])
        self.reactor.advance(1)
        self.assertEqual(self.signals(1), [signal.SIGHUP, signal.SIGTERM])
        self.assertEqual(self.logged(LogLevel.warn), [
            "workers 1 still had requests after stale_worker_timeout (30s): stopping them"])
        self.reactor.advance(WorkerPoolService.KILL_GRACE)
        self.assertEqual(self.signals(1), [signal.SIGHUP, signal.SIGTERM, signal.SIGKILL])
        self.exit(1, code=9)
        self.assertEqual(self.alive(), [2, 3])
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_deathDuringDrain(self) -> None:
        """
        An old worker that dies while draining is not restarted; a warning
        says so.
        """
        self.cut_over()
        self.exit(0, code=1)
        self.reactor.advance(10)
        self.assertEqual(self.spawns(0), 1)
        [warning] = self.logged(LogLevel.warn)
        self.assertTrue(warning.startswith("worker 0 exited while draining ("))
        self.assertTrue(warning.endswith("); not restarted"))

    def test_restartedAfterReload(self) -> None:
        """
        A new worker that dies once the reload is done is restarted with
        the new configuration.
        """
        self.cut_over()
        self.exit(3, code=1)
        self.reactor.advance(0.5)
        self.assertEqual(self.spawns(3), 2)
        self.assertEqual(self.transport(3).stdin, b"[DEFAULT]\nnew = 1\n")

    def test_oldRestartCancelled(self) -> None:
        """
        An old worker waiting to be restarted when the new ones serve is
        not restarted.
        """
        replacing = self.pool.replace_workers(self.new_spec, 2)
        self.exit(1, code=1)
        self.status(2, "ready")
        self.status(3, "ready")
        self.status(0, "stopped")
        self.assertIn("old workers 0 finish", self.successResultOf(replacing))
        self.reactor.advance(100)
        self.assertEqual(self.spawns(1), 1)

    def test_oneAtATime(self) -> None:
        """
        A reload asked for while one runs fails at once; the running one
        is not disturbed.
        """
        replacing = self.pool.replace_workers(self.new_spec, 2)
        second = self.pool.replace_workers(self.new_spec, 2)
        self.assertEqual(self.failureResultOf(second, workers.ReloadFailed).getErrorMessage(),
                         "a reload is already in progress")
        self.assertEqual(len(self.reactor.spawned), 4)
        self.status(2, "ready")
        self.status(3, "ready")
        self.exit(0)
        self.exit(1)
        self.successResultOf(replacing)

    def test_reloadsInARow(self) -> None:
        """
        A reload while the workers of the one before still drain: both old
        generations drain, each to its own deadline.
        """
        self.cut_over()
        self.assertIn("workers 4, 5 serve it", self._cut_over_from(4))
        self.assertEqual((self.signals(2), self.signals(3)), ([signal.SIGHUP], [signal.SIGHUP]))
        self.assertEqual(self.alive(), [0, 1, 2, 3, 4, 5])
        self.reactor.advance(30)
        for number in (0, 1, 2, 3):
            self.assertEqual(self.signals(number)[-1], signal.SIGTERM)
        self.assertEqual(self.signals(4), [])

    def test_stopDuringReload(self) -> None:
        """
        Stopping fails a reload in progress and stops every worker, old,
        new and draining.
        """
        self.cut_over()
        replacing = self.pool.replace_workers(self.new_spec, 2)
        stopped = self.pool.stopService()
        self.failureResultOf(replacing, workers.ReloadFailed)
        for number in range(6):
            self.assertEqual(self.signals(number)[-1], signal.SIGTERM)
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        for number in self.alive():
            self.assertNoResult(stopped)
            self.exit(number)
        self.successResultOf(stopped)
        self.assertTrue(self.sockets[0].closed)

    def test_beforeBound(self) -> None:
        """
        Reloaded before the socket is bound (the storage nodes not ready),
        the workers start with the new configuration.
        """
        ready: Deferred[None] = Deferred()
        reactor = _ProcessReactor()
        pool = WorkerPoolService(reactor, "127.0.0.1", 0, 2, WorkerSpec("/p.conf"),
                                 lambda: ready, _Events())
        pool.startService()
        self.assertEqual(self.successResultOf(pool.replace_workers(self.new_spec, 3)),
                         "not serving yet: its 3 workers will start with it")
        self.assertEqual(reactor.spawned, [])
        ready.callback(None)
        started = reactor.spawned
        self.assertEqual(len(started), 3)
        self.assertEqual(started[0][0].transport.stdin,  # type: ignore[union-attr]
                         b"[DEFAULT]\nnew = 1\n")
        stopped = pool.stopService()
        for protocol, _, _ in started:
            protocol.processEnded(Failure(ProcessDone(0)))
        self.successResultOf(stopped)

    def test_stopped(self) -> None:
        """
        A stopped pool reloads nothing.
        """
        self._stop()
        failure = self.failureResultOf(self.pool.replace_workers(self.new_spec, 2),
                                       workers.ReloadFailed)
        self.assertEqual(failure.getErrorMessage(), "the proxy is stopping")


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


class _Server(Service):
    def __init__(self) -> None:
        self.stopping: Deferred[None] = Deferred()

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return self.stopping


class WorkerDrainTests(SynchronousTestCase):
    """
    L{WorkerDrain}: a worker told to drain.
    """

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.site = ProxySite(ProxyResource(HeldApp(), self.clock), reactor=self.clock,
                              timeout=None)

    def test_workerDrain(self) -> None:
        """
        A worker told to drain stops accepting, says C{stopped}, waits for
        its connections and then ends; told again, it does nothing more.
        """
        events = self.enterContext(capturedLogs())
        server = _Server()
        words: list[str] = []
        ended: list[bool] = []
        channel = self.site.buildProtocol(IPv4Address("TCP", "10.1.1.1", 4000))
        channel.makeConnection(StringTransport())
        drain = WorkerDrain(server, self.site, words.append, lambda: ended.append(True))
        finished = drain.start()
        self.assertEqual((words, self.site.draining), ([], False))
        server.stopping.callback(None)
        self.assertEqual((words, self.site.draining), (["stopped"], True))
        self.assertIs(drain.start(), finished)
        self.assertEqual(ended, [])
        channel.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(finished)
        self.assertEqual(ended, [True])
        self.assertEqual([(e["log_level"].name, formatEvent(e)) for e in events
                          if e.get("log_namespace") == "twisted_proxy.service.workers"], [
            ("info", "worker draining: no longer accepting; 1 client connections open"),
            ("info", "worker drained: exiting"),
        ])

    def test_workerDrainStopFails(self) -> None:
        """
        A port that fails to stop is logged; the drain goes on.
        """
        words: list[str] = []
        server = _Server()
        server.stopping = fail(RuntimeError("stuck"))  # type: ignore[assignment]
        drain = WorkerDrain(server, self.site, words.append, lambda: None)
        self.successResultOf(drain.start())
        self.assertEqual(words, ["stopped"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_nothingToDrain(self) -> None:
        ended: list[bool] = []
        server = _Server()
        server.stopping = succeed(None)  # type: ignore[assignment]
        self.successResultOf(WorkerDrain(server, self.site, lambda word: None,
                                         lambda: ended.append(True)).start())
        self.assertEqual(ended, [True])

