"""
A private C{redis-server} for tests: on a free loopback port, without
persistence, in a temporary directory. Never the machine's shared Redis.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from typing import Optional

from twisted.trial.unittest import SkipTest

from twisted_proxy_aio.ports import free_port

__all__ = ["RedisServer", "REDIS_SERVER", "start_redis_server"]

#: The redis-server executable, or C{None} when there is none.
REDIS_SERVER: Optional[str] = shutil.which("redis-server") or (
    "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
)


class RedisServer:
    """
    One C{redis-server} process. The port stays the same across
    L{stop}/L{start}, so clients can reconnect to it.

    The methods block (they are for test set-up, not for the reactor
    thread of code under test).

    @param directory: an existing directory for its working files.
    """

    def __init__(self, directory: str, port: Optional[int] = None) -> None:
        if REDIS_SERVER is None:
            raise RuntimeError("redis-server is not installed")
        self.directory = directory
        self.port = port if port is not None else free_port()
        self._process: Optional[subprocess.Popen[bytes]] = None
        self._paused = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """
        Start the server and wait until it answers C{PING}.

        @raise RuntimeError: it exited or did not answer within C{timeout}
            seconds (for a first start, the port may have been taken in the
            meantime: the caller can retry with a new L{RedisServer}).
        """
        assert REDIS_SERVER is not None
        if self.running:
            return
        log = open(os.path.join(self.directory, "redis.log"), "ab")
        try:
            self._process = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", self.directory,
                    "--daemonize", "no",
                    "--protected-mode", "yes",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if self.ping():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def ping(self) -> bool:
        """
        Whether the server answers C{PING} right now.
        """
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args: str) -> bytes:
        """
        Send one command and return the raw first reply read (for checks
        that must not go through the code under test).
        """
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = arg.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            conn.sendall(b"".join(parts))
            return conn.recv(65536)

    def pause(self) -> None:
        """
        Freeze the server (C{SIGSTOP}): connections stay open, nothing is
        answered, as with a Redis that hangs.
        """
        if self._process is not None and not self._paused:
            self._process.send_signal(signal.SIGSTOP)
            self._paused = True

    def resume(self) -> None:
        """
        Undo L{pause}.
        """
        if self._process is not None and self._paused:
            self._process.send_signal(signal.SIGCONT)
            self._paused = False

    def stop(self) -> None:
        """
        Stop the server and wait for it to exit.
        """
        process, self._process = self._process, None
        if process is None:
            return
        if self._paused:
            process.send_signal(signal.SIGCONT)
            self._paused = False
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start_redis_server(directory: str, attempts: int = 3) -> RedisServer:
    """
    A started L{RedisServer} working in C{directory}, on a new free port
    for each of up to C{attempts} tries (another process may take a port
    between choosing it and binding it).

    @raise SkipTest: redis-server is not installed, or did not start.
    """
    if REDIS_SERVER is None:
        raise SkipTest("redis-server is not installed")
    for _ in range(attempts):
        server = RedisServer(directory)
        try:
            server.start()
        except RuntimeError:
            continue
        return server
    raise SkipTest("cannot start redis-server")
