# -*- test-case-name: tests.e2e.test_workers,tests.e2e.test_e2e -*-
"""
A private C{redis-server} for the all-in-one cluster.

With C{redis = true} (or C{auto} and a C{redis-server} on C{PATH}) in the
C{[aio]} section, the proxy starts its own Redis on a free loopback port,
keeps nothing on disk, and uses it as its info store, just as a production
proxy would use a shared Redis. A server that exits while the proxy runs is
restarted on the same port, with the storage servers' backoff; it stops with
the proxy.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from typing import Any, Callable, Optional

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_proxy.service.backoff import RestartBackoff
from twisted_proxy.service.launcher import launcher_arguments
from twisted_proxy.swift.truthy import is_false, is_true
from twisted_proxy_aio.ports import free_port

__all__ = ["RedisProcessService", "find_redis_server", "wants_redis"]

_log = Logger()


def find_redis_server() -> Optional[str]:
    """
    The C{redis-server} program, or C{None} when there is none.
    """
    return shutil.which("redis-server")


def wants_redis(section: dict[str, str]) -> bool:
    """
    Whether the C{[aio]} section asks for a private Redis: C{redis = true},
    or C{auto} (the default) with C{redis-server} installed.

    @raise ValueError: for another value, or C{true} without the program.
    """
    value = section.get("redis", "auto").strip()
    if is_false(value):
        return False
    if is_true(value):
        if find_redis_server() is None:
            raise ValueError("redis = true but no redis-server is installed")
        return True
    if value.lower() == "auto":
        return find_redis_server() is not None
    raise ValueError(f"redis = {value}: expected true, false or auto")


class _RedisProtocol(ProcessProtocol):
    def __init__(self, on_ended: Callable[["_RedisProtocol", Failure], None]) -> None:
        self.ended: Deferred[None] = Deferred()
        self._on_ended = on_ended

    def processEnded(self, reason: Failure) -> None:  # type: ignore[override]
        self.ended.callback(None)
        self._on_ended(self, reason)


class RedisProcessService(Service):
    """
    Runs one C{redis-server} on a free loopback port for as long as the
    service runs, restarting it (on the same port, after a L{RestartBackoff}
    delay) whenever it exits before the service stops.

    @ivar url: the C{redis_url} to give the info store.
    """

    def __init__(self, reactor: Any, program: Optional[str] = None,
                 ready_timeout: float = 30.0) -> None:
        self._reactor = reactor
        self._program = program or find_redis_server() or "redis-server"
        self._ready_timeout = ready_timeout
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = tempfile.mkdtemp(prefix="twisted-proxy-redis-")
        self._protocol: Optional[_RedisProtocol] = None
        self._ready: Optional[Deferred[None]] = None
        self._backoff = RestartBackoff(reactor)

    @property
    def pid(self) -> Optional[int]:
        """
        The running server's process id, or C{None}.
        """
        transport = None if self._protocol is None else self._protocol.transport
        pid = getattr(transport, "pid", None)
        return pid if isinstance(pid, int) else None

    def startService(self) -> None:
        super().startService()
        self._spawn()

    def _spawn(self) -> None:
        args = launcher_arguments(
            self._program, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", self._directory,
            "--logfile", os.path.join(self._directory, "redis.log"),
        )
        self._protocol = _RedisProtocol(self._ended)
        self._backoff.started()
        self._reactor.spawnProcess(self._protocol, sys.executable, args,
                                   env=dict(os.environ), path=self._directory)
        _log.info("Started redis-server for the info store on port {port}",
                  port=self.port)

    def _ended(self, protocol: _RedisProtocol, reason: Failure) -> None:
        if protocol is not self._protocol or not self.running:
            return
        self._protocol = None
        delay = self._backoff.restart_later(self._spawn)
        _log.warn("redis-server on port {port} exited ({reason}); restarting in {delay}s",
                  port=self.port, reason=reason.value, delay=delay)

    def when_ready(self) -> "Deferred[None]":
        """
        Fires once the server accepts connections (or fails after the
        ready timeout).
        """
        if self._ready is None:
            self._ready = Deferred.fromCoroutine(self._probe())
        return self._ready

    async def _probe(self) -> None:
        from twisted.internet.task import deferLater

        deadline = self._reactor.seconds() + self._ready_timeout
        endpoint = TCP4ClientEndpoint(self._reactor, "127.0.0.1", self.port, timeout=1)
        # Not connectProtocol: its factory logs two lines per attempt.
        factory = Factory.forProtocol(Protocol)
        factory.noisy = False
        while True:
            try:
                protocol: Any = await endpoint.connect(factory)
            except Exception:
                if self._reactor.seconds() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}")
                await deferLater(self._reactor, 0.1, lambda: None)
                continue
            if protocol.transport is not None:
                protocol.transport.loseConnection()
            return

    def stopService(self) -> Optional["Deferred[None]"]:
        super().stopService()
        self._backoff.cancel()
        protocol, self._protocol = self._protocol, None
        if protocol is None or protocol.ended.called:
            shutil.rmtree(self._directory, ignore_errors=True)
            return None
        if protocol.transport is not None:
            try:
                protocol.transport.signalProcess(signal.SIGTERM)  # type: ignore[attr-defined]
            except Exception:
                pass
        directory = self._directory
        return protocol.ended.addCallback(
            lambda _: shutil.rmtree(directory, ignore_errors=True))
