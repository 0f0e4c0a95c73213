"""
Tests for C{workers = N} (L{twisted_proxy.service.workers}) with real
sockets and a real proxy with its workers.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import tempfile
import time

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.aioproxy import REPO, start_proxy
from twisted_proxy.service.workers import bind_listening_socket


class BindTests(SynchronousTestCase):
    def test_bind(self) -> None:
        sock = bind_listening_socket("127.0.0.1", 0)
        self.addCleanup(sock.close)
        self.assertFalse(sock.getblocking())
        self.assertEqual(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), 1)


def _workers_of(pid: int) -> list[int]:
    out = subprocess.check_output(["pgrep", "-f", "twisted_proxy.service.workers"], text=True)
    found = []
    for line in out.split():
        try:
            with open(f"/proc/{line}/status") as status:
                text = status.read()
        except OSError:
            continue
        parent = int(text.split("PPid:")[1].split()[0])
        # Workers run under a launcher that execs them: the parent is twistd.
        if parent == pid:
            found.append(int(line))
    return found


class TwoWorkersTests(SynchronousTestCase):
    """
    A real proxy with C{workers = 2} in front of its all-in-one cluster.
    """

    def setUp(self) -> None:
        with open(os.path.join(REPO, "conf", "aio.conf")) as original:
            text = original.read()
        text = text.replace("[app:proxy-server]\n", "[app:proxy-server]\nworkers = 2\n", 1)
        handle, path = tempfile.mkstemp(suffix=".conf", dir=os.path.join(REPO, "conf"))
        with os.fdopen(handle, "w") as conf:
            conf.write(text)
        self.addCleanup(os.unlink, path)
        self.proxy = start_proxy(path)
        self.addCleanup(self.proxy.stop)

    def _get(self, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.port, timeout=30)
        conn.request("GET", path, headers=headers)
        reply = conn.getresponse()
        reply.read()
        conn.close()
        return reply

    def _token(self) -> str:
        reply = self._get("/auth/v1.0", {"X-Auth-User": "test:tester",
                                         "X-Auth-Key": "testing"})
        self.assertEqual(reply.status, 200)
        return reply.getheader("X-Auth-Token") or ""

    def test_workersShareTokensAndSurviveDeath(self) -> None:
        """
        Two worker processes serve; a token issued by any is good on every
        one (Redis); a killed worker is replaced and service goes on.
        """
        workers = _workers_of(self.proxy.process.pid)
        self.assertEqual(len(workers), 2)
        token = self._token()
        for _ in range(20):
            self.assertEqual(self._get("/v1/AUTH_test", {"X-Auth-Token": token}).status // 100, 2)
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = _workers_of(self.proxy.process.pid)
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.2)
        self.assertEqual(len(_workers_of(self.proxy.process.pid)), 2)
        for _ in range(20):
            self.assertEqual(self._get("/v1/AUTH_test", {"X-Auth-Token": token}).status // 100, 2)

    def test_stopEndsWorkers(self) -> None:
        """
        Stopping twistd stops its workers.
        """
        workers = _workers_of(self.proxy.process.pid)
        self.proxy.stop()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{w}") for w in workers):
            time.sleep(0.2)
        self.assertFalse([w for w in workers if os.path.exists(f"/proc/{w}")])
