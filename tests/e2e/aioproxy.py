"""
One real twisted-proxy for the end-to-end tests of a test run.

L{running_proxy} starts C{twistd -n twisted-proxy --config conf/aio.conf}
(the proxy with its all-in-one cluster of real Swift storage servers) on a
free loopback port the first time it is called, and stops it when the test
process exits. The tests talk to it over real sockets, as any client would.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from typing import Optional, Sequence

__all__ = ["RunningProxy", "running_proxy", "free_port", "REPO", "twistd_command"]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    """
    A TCP port free on 127.0.0.1 right now.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def twistd_command() -> list[str]:
    """
    How to run this Python's twistd.
    """
    beside = os.path.join(os.path.dirname(sys.executable), "twistd")
    if os.path.exists(beside):
        return [beside]
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


@dataclass
class RunningProxy:
    """
    A twistd proxy process and how to reach it.
    """

    process: subprocess.Popen[bytes]
    port: int
    logfile: str
    workdir: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/auth/v1.0"

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.logfile, encoding="utf-8", errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_proxy(config: str, extra_args: tuple[str, ...] = (), timeout: float = 90.0,
                twistd: Optional[Sequence[str]] = None,
                env: Optional[dict[str, str]] = None) -> RunningProxy:
    """
    Start twistd with C{config} on a free port, in a new temporary
    directory, and wait until it answers C{/healthcheck}.

    @param twistd: how to run twistd; by default, this Python's
        (L{twistd_command}).
    @param env: the environment of the process; by default, this one's.

    @raise RuntimeError: with the log's tail if it exits or does not answer
        within C{timeout} seconds.
    """
    workdir = tempfile.mkdtemp(prefix="twisted-proxy-e2e-")
    port = free_port()
    logfile = os.path.join(workdir, "twistd.log")
    command = list(twistd or twistd_command()) + [
        "-n", "--pidfile=", f"--logfile={logfile}",
        "twisted-proxy", "--config", config,
        "--port", f"tcp:{port}:interface=127.0.0.1", *extra_args,
    ]
    process = subprocess.Popen(command, cwd=workdir, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)
    proxy = RunningProxy(process, port, logfile, workdir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = proxy.log_tail()
            proxy.stop()
            raise RuntimeError(f"twistd exited with {process.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(f"{proxy.url}/healthcheck", timeout=2) as reply:
                if reply.status == 200:
                    return proxy
        except OSError:
            pass
        time.sleep(0.2)
    tail = proxy.log_tail()
    proxy.stop()
    raise RuntimeError(f"twisted-proxy did not answer within {timeout}s:\n{tail}")


_shared: Optional[RunningProxy] = None


def running_proxy() -> RunningProxy:
    """
    The proxy shared by this test run's end-to-end tests, started on first
    use with C{conf/aio.conf}.
    """
    global _shared
    if _shared is None or _shared.process.poll() is not None:
        _shared = start_proxy(os.path.join(REPO, "conf", "aio.conf"))
        atexit.register(_shared.stop)
    return _shared
