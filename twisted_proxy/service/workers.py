# -*- test-case-name: tests.test_workers,tests.e2e.test_workers -*-
"""
C{workers = N}: several proxy processes serving one listening socket.

The twistd process binds the socket once its storage nodes are ready, then
starts N worker processes (C{python -m twisted_proxy.service.workers ...}) that each
adopt the socket (L{IReactorSocket.adoptStreamPort}) and run a whole proxy
(the L{ProxyProcess} twistd would run, serving the inherited socket through
L{AdoptedPort}); the kernel hands each new connection to one of them. The
twistd process serves nothing itself: it supervises, restarting a worker
that dies (with L{RestartBackoff}), and stops them all when it stops.
Workers share account/container info and tempauth tokens through the Redis
info store, so they agree.

A worker logs one JSON event per line on its standard output
(L{worker_log_observer}); the parent logs each again, with its level and
namespace, through L{WorkerLogRelay}.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from dataclasses import dataclass
from typing import IO, Any, Callable, Optional, Sequence

from twisted.application.service import Service
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import (
    ILogObserver,
    LogEvent,
    Logger,
    LogLevel,
    eventFromJSON,
    formatEvent,
    globalLogPublisher,
    jsonFileLogObserver,
)
from twisted.python.failure import Failure
from twisted.python.reflect import safe_str
from zope.interface import provider

from twisted_proxy.config import ConfigError, ProxySettings, load_config
from twisted_proxy.service.backoff import RestartBackoff
from twisted_proxy.service.build import build_proxy_service
from twisted_proxy.service.launcher import launcher_arguments
from twisted_proxy.service.listening import serving_factory

__all__ = [
    "AdoptedPort",
    "WorkerLogRelay",
    "WorkerPoolService",
    "WorkerSpec",
    "bind_listening_socket",
    "main",
    "worker_log_observer",
]

_log = Logger()

#: The file descriptor number the listening socket has in each worker.
WORKER_FD = 3


@dataclass(frozen=True)
class WorkerSpec:
    """
    What a worker needs to build the same proxy as its parent.
    """

    config: str
    swift_dir: Optional[str] = None
    redis_url: Optional[str] = None

    def arguments(self) -> list[str]:
        args = ["--config", self.config, "--fd", str(WORKER_FD)]
        if self.swift_dir:
            args += ["--swift-dir", self.swift_dir]
        if self.redis_url:
            args += ["--redis-url", self.redis_url]
        return args


def bind_listening_socket(host: str, port: int, backlog: int = 4096) -> socket.socket:
    """
    A listening, non-blocking TCP socket bound to C{host:port}.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


#: Begins each JSON event a worker writes (as L{jsonFileLogObserver} does).
_RECORD_SEPARATOR = "\x1e"

_LEVELS = frozenset(LogLevel.iterconstants())

#: Carry an event's text, and its failure's exception text, from a worker:
#: a JSON event loses the format specifications of its fields (C{{n:03d}}),
#: and the exception itself cannot be sent.
_TEXT = "worker_text"
_FAILURE_TEXT = "worker_failure_text"


def worker_log_observer(out: IO[str]) -> ILogObserver:
    """
    The log observer of a worker process: writes each event to C{out} as
    one line of JSON (L{jsonFileLogObserver}), for its parent's
    L{WorkerLogRelay}. The event's text, formatted here, and the text of a
    failure's exception go with it.
    """
    write = jsonFileLogObserver(out, recordSeparator=_RECORD_SEPARATOR)

    @provider(ILogObserver)
    def observe(event: LogEvent) -> None:
        event = dict(event)
        event[_TEXT] = formatEvent(event)
        failure = event.get("log_failure")
        if isinstance(failure, Failure):
            event[_FAILURE_TEXT] = safe_str(failure.value)
        write(event)

    return observe


class WorkerLogRelay:
    """
    Logs what one worker writes, in this process: each JSON event of its
    standard output again, with its own level, namespace and time, its text
    after C{worker N: }; any other line as text, at C{info} level from
    standard output and C{error} level from standard error (where Python
    writes a traceback or a C{SystemExit} message).

    @param index: the worker's number.
    @param observer: receives the events.
    """

    def __init__(self, index: int, observer: ILogObserver = globalLogPublisher) -> None:
        self.index = index
        self._observer = observer
        self._log = Logger(namespace=__name__, observer=observer)
        self._partial: dict[int, bytes] = {}

    def data_received(self, fd: int, data: bytes) -> None:
        """
        C{data} came from the worker's file descriptor C{fd}: log each line
        it completes.
        """
        lines = (self._partial.get(fd, b"") + data).split(b"\n")
        self._partial[fd] = lines.pop()
        for line in lines:
            self._line(fd, line)

    def flush(self) -> None:
        """
        Log the unfinished last lines: the worker has exited.
        """
        partial, self._partial = self._partial, {}
        for childFD, line in partial.items():
            if line:
                self._line(childFD, line)

    def _line(self, childFD: int, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip("\r")
        if childFD == 1 and line.startswith(_RECORD_SEPARATOR):
            event = _decode(line[1:])
            if event is not None:
                self._relay(event)
                return
        if not line:
            return
        level = LogLevel.error if childFD == 2 else LogLevel.info
        self._log.emit(level, "worker {worker_index}: {worker_text}",
                       worker_index=self.index, worker_text=line)

    def _relay(self, event: LogEvent) -> None:
        failure = event.get("log_failure")
        failure_text = event.pop(_FAILURE_TEXT, None)
        if isinstance(failure, Failure) and isinstance(failure_text, str):
            failure.value = failure_text  # type: ignore[assignment]
        text = event.get(_TEXT)
        if not isinstance(text, str):
            text = formatEvent(event)
        # The text replaces the worker's format, whose flattened fields no
        # longer match it; the logger and source were objects of the worker.
        for key in ("log_flattened", "log_logger", "log_source"):
            event.pop(key, None)
        event["log_format"] = "worker {worker_index}: {worker_text}"
        event["worker_index"] = self.index
        event[_TEXT] = text
        self._observer(event)


def _decode(text: str) -> Optional[LogEvent]:
    """
    The event a worker wrote as C{text}, or C{None} if it is not one.
    """
    try:
        event = eventFromJSON(text)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("log_level") not in _LEVELS:
        return None
    return event


class _WorkerProtocol(ProcessProtocol):
    def __init__(self, index: int, ended: Callable[[int, Failure], None],
                 observer: ILogObserver = globalLogPublisher) -> None:
        self.index = index
        self._ended = ended
        self._relay = WorkerLogRelay(index, observer)

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        self._relay.data_received(childFD, data)

    def processEnded(self, reason: Failure) -> None:  # type: ignore[override]
        self._relay.flush()
        self._ended(self.index, reason)


class WorkerPoolService(Service):
    """
    Binds C{host:port} when C{ready()} fires, then runs C{count} workers on
    that socket, restarting any that exits until the service stops: after
    0.5 s, doubling up to 30 s while a worker keeps dying within 10 s of
    starting (L{RestartBackoff}).

    @param reactor: provides C{IReactorProcess} and C{IReactorTime}.
    @param spec: what each worker is told to build.
    @param ready: fires when the workers may start serving.
    @param observer: receives the workers' log events.
    """

    def __init__(
        self,
        reactor: Any,
        host: str,
        port: int,
        count: int,
        spec: WorkerSpec,
        ready: Callable[[], "Deferred[None]"],
        observer: ILogObserver = globalLogPublisher,
        backlog: int = 4096,
    ) -> None:
        self._reactor = reactor
        self._backlog = backlog
        self._host = host
        self._port = port
        self._count = count
        self._spec = spec
        self._ready = ready
        self._observer = observer
        self._socket: Optional[socket.socket] = None
        self._workers: dict[int, _WorkerProtocol] = {}
        self._exits: dict[int, Deferred[None]] = {}
        self._backoffs = {index: RestartBackoff(reactor) for index in range(count)}
        self._stopping = False
        self._starting: Optional[Deferred[None]] = None

    @property
    def address(self) -> Optional[tuple[str, int]]:
        """
        Where the workers listen, once bound.
        """
        if self._socket is None:
            return None
        host, port = self._socket.getsockname()[:2]
        return host, port

    def startService(self) -> None:
        super().startService()
        self._stopping = False
        self._starting = self._ready().addCallback(self._bound)
        self._starting.addErrback(self._failed_to_start)

    def _bound(self, _: object) -> None:
        self._socket = bind_listening_socket(self._host, self._port, self._backlog)
        host, port = self.address or ("?", 0)
        _log.info("twisted-proxy listening on {host}:{port} with {count} workers",
                  host=host, port=port, count=self._count)
        for index in range(self._count):
            self._spawn(index)

    def _failed_to_start(self, failure: Failure) -> None:
        _log.failure("twisted-proxy could not start its workers", failure)
        if getattr(self._reactor, "running", False):
            self._reactor.stop()

    def _spawn(self, index: int) -> None:
        if self._stopping or self._socket is None:
            return
        protocol = _WorkerProtocol(index, self._worker_ended, self._observer)
        args = launcher_arguments(sys.executable, "-m", "twisted_proxy.service.workers",
                                  *self._spec.arguments())
        self._exits[index] = Deferred()
        self._workers[index] = protocol
        self._backoffs[index].started()
        try:
            self._reactor.spawnProcess(
                protocol, sys.executable, args, env=dict(os.environ),
                childFDs={0: "w", 1: "r", 2: "r", WORKER_FD: self._socket.fileno()},
            )
        except Exception:
            self._worker_ended(index, Failure())

    def _worker_ended(self, index: int, reason: Failure) -> None:
        self._workers.pop(index, None)
        exited = self._exits.pop(index, None)
        if exited is not None:
            exited.callback(None)
        if self._stopping:
            return
        delay = self._backoffs[index].restart_later(lambda: self._spawn(index))
        _log.warn("worker {index} exited ({why}); restarting in {delay}s",
                  index=index, why=reason.getErrorMessage(), delay=delay)

    def signal_workers(self, signum: int) -> None:
        """
        Send C{signum} to every running worker.
        """
        for protocol in list(self._workers.values()):
            if protocol.transport is not None:
                try:
                    protocol.transport.signalProcess(signum)  # type: ignore[attr-defined]
                except Exception:
                    pass

    def stopService(self) -> "Deferred[None]":
        """
        Stop restarting workers, SIGTERM the running ones and close the
        socket once they have all exited.
        """
        super().stopService()
        self._stopping = True
        if self._starting is not None and not self._starting.called:
            self._starting.cancel()
        for backoff in self._backoffs.values():
            backoff.cancel()
        waiting = list(self._exits.values())
        self.signal_workers(signal.SIGTERM)
        done = gatherResults(waiting, consumeErrors=True)

        def close_socket(_: object) -> None:
            if self._socket is not None:
                self._socket.close()
                self._socket = None

        return done.addBoth(close_socket)


class AdoptedPort(Service):
    """
    Serves C{factory} on a listening socket this process inherited as file
    descriptor C{fd} (L{IReactorSocket.adoptStreamPort}): a worker's share
    of its parent's socket. It can be started once: starting closes C{fd},
    whose duplicate the reactor keeps.

    @param reactor: provides C{IReactorSocket}.
    """

    def __init__(self, reactor: Any, fd: int, factory: Any) -> None:
        self._reactor = reactor
        self._fd = fd
        self._factory = factory
        self.port: Optional[IListeningPort] = None

    def startService(self) -> None:
        super().startService()
        sock = socket.socket(fileno=self._fd)
        try:
            self.port = self._reactor.adoptStreamPort(sock.fileno(), sock.family,
                                                      self._factory)
        finally:
            sock.close()
        listening = getattr(self._factory, "listening", None)
        if listening is not None:
            listening(self.port)

    def stopService(self) -> Optional["Deferred[None]"]:
        super().stopService()
        port, self.port = self.port, None
        if port is None:
            return None
        listening = getattr(self._factory, "listening", None)
        if listening is not None:
            listening(None)
        return port.stopListening()  # type: ignore[no-any-return]


def main(argv: Optional[Sequence[str]] = None) -> None:
    """
    One worker: build the proxy from the configuration and serve the
    inherited listening socket until SIGTERM.
    """
    import argparse

    from twisted.internet import reactor as global_reactor
    from twisted.logger import globalLogBeginner

    parser = argparse.ArgumentParser(prog="python -m twisted_proxy.service.workers")
    parser.add_argument("--config", required=True)
    parser.add_argument("--fd", type=int, default=WORKER_FD)
    parser.add_argument("--swift-dir")
    parser.add_argument("--redis-url")
    options = parser.parse_args(argv)

    from twisted_proxy._twisted import quiet_observer

    globalLogBeginner.beginLoggingTo([quiet_observer(worker_log_observer(sys.stdout))],
                                     redirectStandardIO=False)
    reactor: Any = global_reactor
    config = load_config(options.config)
    if options.redis_url:
        cache = config.sections.setdefault("filter:cache", dict(config.defaults))
        cache["redis_url"] = options.redis_url
    try:
        settings = ProxySettings.from_section(config)
        process = build_proxy_service(
            config, settings, reactor,
            lambda site: AdoptedPort(reactor, options.fd,
                                     serving_factory(site, settings, reactor)),
            options.swift_dir)
    except ConfigError as error:
        raise SystemExit(f"twisted-proxy worker: {error}")
    # Started before the reactor runs: a worker that cannot serve exits,
    # and its parent restarts it.
    process.startService()
    reactor.addSystemEventTrigger("before", "shutdown", process.stopService)
    reactor.run()


if __name__ == "__main__":
    main()
