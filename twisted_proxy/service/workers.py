# -*- test-case-name: tests.test_workers,tests.e2e.test_workers -*-
"""
C{workers = N}: several proxy processes serving one listening socket.

The twistd process binds the socket once its storage nodes are ready, then
starts N worker processes (C{python -m twisted_proxy.service.workers ...}) that each
adopt the socket (L{IReactorSocket.adoptStreamPort}) and run a whole proxy;
the kernel hands each new connection to one of them. The twistd process
serves nothing itself: it supervises, restarting a worker that dies, and
stops them all when it stops. Workers share account/container info and
tempauth tokens through the Redis info store, so they agree.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from twisted.application.service import Service
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_proxy.service.launcher import launcher_arguments

__all__ = ["WorkerPoolService", "WorkerSpec", "bind_listening_socket", "main"]

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


class _WorkerProtocol(ProcessProtocol):
    def __init__(self, index: int, ended: Callable[[int, Failure], None]) -> None:
        self.index = index
        self._ended = ended
        self._partial = b""

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        # Workers log to their stdout/stderr; relay whole lines.
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            _log.info("worker {index}: {line}", index=self.index,
                      line=line.decode("utf-8", "replace"))

    def processEnded(self, reason: Failure) -> None:  # type: ignore[override]
        self._ended(self.index, reason)


class WorkerPoolService(Service):
    """
    Binds C{host:port} when C{ready()} fires, then runs C{count} workers on
    that socket, restarting any that exits until the service stops.
    """

    def __init__(
        self,
        reactor: Any,
        host: str,
        port: int,
        count: int,
        spec: WorkerSpec,
        ready: Callable[[], "Deferred[None]"],
        restart_delay: float = 1.0,
    ) -> None:
        self._reactor = reactor
        self._host = host
        self._port = port
        self._count = count
        self._spec = spec
        self._ready = ready
        self._restart_delay = restart_delay
        self._socket: Optional[socket.socket] = None
        self._workers: dict[int, _WorkerProtocol] = {}
        self._exits: dict[int, Deferred[None]] = {}
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
        self._starting.addErrback(self._failedToStart)

    def _bound(self, _: object) -> None:
        self._socket = bind_listening_socket(self._host, self._port)
        host, port = self.address or ("?", 0)
        _log.info("twisted-proxy listening on {host}:{port} with {count} workers",
                  host=host, port=port, count=self._count)
        for index in range(self._count):
            self._spawn(index)

    def _failedToStart(self, failure: Failure) -> None:
        _log.failure("twisted-proxy could not start its workers", failure)
        if getattr(self._reactor, "running", False):
            self._reactor.stop()

    def _spawn(self, index: int) -> None:
        if self._stopping or self._socket is None:
            return
        protocol = _WorkerProtocol(index, self._workerEnded)
        args = launcher_arguments(sys.executable, "-m", "twisted_proxy.service.workers",
                                  *self._spec.arguments())
        self._exits[index] = Deferred()
        self._reactor.spawnProcess(
            protocol, sys.executable, args, env=dict(os.environ),
            childFDs={0: "w", 1: "r", 2: "r", WORKER_FD: self._socket.fileno()},
        )
        self._workers[index] = protocol

    def _workerEnded(self, index: int, reason: Failure) -> None:
        self._workers.pop(index, None)
        exited = self._exits.pop(index, None)
        if exited is not None:
            exited.callback(None)
        if self._stopping:
            return
        _log.warn("worker {index} exited ({why}); restarting",
                  index=index, why=reason.getErrorMessage())
        self._reactor.callLater(self._restart_delay, self._spawn, index)

    def signalWorkers(self, signum: int) -> None:
        for protocol in list(self._workers.values()):
            if protocol.transport is not None:
                try:
                    protocol.transport.signalProcess(signum)  # type: ignore[attr-defined]
                except Exception:
                    pass

    def workerPids(self) -> list[int]:
        """
        The process ids of the running workers.
        """
        pids = []
        for protocol in self._workers.values():
            pid = getattr(protocol.transport, "pid", None)
            if pid:
                pids.append(int(pid))
        return pids

    def stopService(self) -> "Deferred[None]":
        super().stopService()
        self._stopping = True
        if self._starting is not None and not self._starting.called:
            self._starting.cancel()
        waiting = list(self._exits.values())
        self.signalWorkers(signal.SIGTERM)
        done = gatherResults(waiting, consumeErrors=True)

        def closeSocket(_: object) -> None:
            if self._socket is not None:
                self._socket.close()
                self._socket = None

        return done.addBoth(closeSocket)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """
    One worker: build the proxy from the configuration and serve the
    inherited listening socket until SIGTERM.
    """
    import argparse

    from twisted.internet import reactor as global_reactor
    from twisted.logger import globalLogBeginner, textFileLogObserver

    parser = argparse.ArgumentParser(prog="python -m twisted_proxy.service.workers")
    parser.add_argument("--config", required=True)
    parser.add_argument("--fd", type=int, default=WORKER_FD)
    parser.add_argument("--swift-dir")
    parser.add_argument("--redis-url")
    options = parser.parse_args(argv)

    from twisted_proxy.config import ConfigError, ProxySettings, load_config
    from twisted_proxy.service.build import build_proxy

    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)],
                                     redirectStandardIO=False)
    reactor: Any = global_reactor
    config = load_config(options.config)
    if options.redis_url:
        cache = config.sections.setdefault("filter:cache", dict(config.defaults))
        cache["redis_url"] = options.redis_url
    try:
        settings = ProxySettings.from_section(config)
        site, _, rings = build_proxy(config, settings, reactor, options.swift_dir)
    except ConfigError as error:
        raise SystemExit(f"twisted-proxy worker: {error}")
    sock = socket.socket(fileno=options.fd)
    reactor.adoptStreamPort(sock.fileno(), sock.family, site)
    sock.close()
    rings.start()
    reactor.addSystemEventTrigger("before", "shutdown", rings.stop)
    reactor.run()


if __name__ == "__main__":
    main()
