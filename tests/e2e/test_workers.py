"""
Tests for C{workers = N} (L{twisted_proxy.service.workers}) with real
sockets and a real proxy with its workers: forked from twistd
(L{twisted_proxy.service.forking}, the default) or, with
C{worker_start = exec}, started as programs; and for
L{twisted_proxy._twisted.ForkedProcess}, with real forked children.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, ProcessProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.e2e.aioproxy import REPO, start_proxy
from twisted_proxy._twisted import ForkedProcess, install_fresh_reactor
from twisted_proxy.service.forking import reset_signals
from twisted_proxy.service.workers import AdoptedPort, bind_listening_socket


class BindTests(SynchronousTestCase):
    def test_bind(self) -> None:
        sock = bind_listening_socket("127.0.0.1", 0)
        self.addCleanup(sock.close)
        self.assertFalse(sock.getblocking())
        self.assertEqual(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), 1)


class AdoptTests(TestCase):
    def test_nonBlocking(self) -> "Deferred[None]":
        """
        An adopted socket is left non-blocking, for every process sharing
        it, even if making socket objects of it made it blocking (as
        PyPy's C{socket(fileno=)} and C{fromfd} do).
        """
        from twisted.internet import reactor

        sock = bind_listening_socket("127.0.0.1", 0)
        self.addCleanup(sock.close)
        fd = os.dup(sock.fileno())
        os.set_blocking(fd, True)
        service = AdoptedPort(reactor, fd, Factory())
        service.startService()
        self.assertFalse(os.get_blocking(sock.fileno()))
        return service.stopService()  # type: ignore[return-value]


def _cmdline(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        return cmdline.read()


def children_of(pid: int) -> list[int]:
    """
    The live children of process C{pid}, of all its threads.
    """
    found: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as children:
                found.update(int(child) for child in children.read().split())
        except OSError:
            continue
    return sorted(found)


def workers_of(pid: int) -> list[int]:
    """
    The worker processes of twistd C{pid}: its children that are forked
    copies of it (the same command line) or run
    C{twisted_proxy.service.workers} (exec'd under a launcher that execs
    them, so their parent is twistd too). Its storage servers and Redis
    are children too, with other command lines.
    """
    try:
        mine = _cmdline(pid)
    except OSError:
        return []
    found = []
    for child in children_of(pid):
        try:
            command = _cmdline(child)
        except OSError:
            continue
        if command == mine or b"twisted_proxy.service.workers" in command:
            found.append(child)
    return found


_workers_of = workers_of


def is_forked_worker(parent: int, pid: int) -> bool:
    """
    Whether C{pid} is a child of C{parent} that runs no other program: its
    command line is its parent's.
    """
    with open(f"/proc/{pid}/status") as status:
        ppid = int(status.read().split("PPid:")[1].split()[0])
    return ppid == parent and _cmdline(pid) == _cmdline(parent)


def socket_inodes(pid: int) -> set[str]:
    """
    The sockets C{pid} has open (C{socket:[INODE]}).
    """
    found = set()
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


def _listening_inode(port: int) -> str:
    """
    The C{socket:[INODE]} listening on TCP C{port} of 127.0.0.1.
    """
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
            return f"socket:[{fields[9]}]"
    raise AssertionError(f"nothing listens on {port}")


def _established_peers(pid: int) -> set[int]:
    """
    The peer ports of C{pid}'s established TCP connections.
    """
    mine = socket_inodes(pid)
    peers = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "01" and f"socket:[{fields[9]}]" in mine:
            peers.add(int(fields[2].rsplit(":", 1)[1], 16))
    return peers


def _redis_port(parent: int) -> int:
    """
    The port of the redis-server twistd C{parent} started for its info
    store.
    """
    for child in children_of(parent):
        try:
            if b"redis-server" not in _cmdline(child):
                continue
        except OSError:
            continue
        listing = subprocess.check_output(["ss", "-tlnp"], text=True)
        for line in listing.splitlines():
            if f"pid={child}," in line:
                return int(line.split()[3].rsplit(":", 1)[1])
    raise AssertionError("no redis-server")


class TwoWorkersTests(SynchronousTestCase):
    """
    A real proxy with C{workers = 2} in front of its all-in-one cluster.
    """

    #: Extra lines of C{[app:proxy-server]}.
    options = "workers = 2\n"

    def setUp(self) -> None:
        with open(os.path.join(REPO, "conf", "aio.conf")) as original:
            text = original.read()
        text = text.replace("[app:proxy-server]\n", "[app:proxy-server]\n" + self.options, 1)
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

    def test_workersAreForked(self) -> None:
        """
        With the default C{worker_start}, each worker is a child of twistd
        running no other program; each has its own Redis connection and
        its own backend connections: no socket of one is the parent's or
        the other worker's, except the listening one they share.
        """
        parent = self.proxy.process.pid
        workers = workers_of(parent)
        self.assertEqual(len(workers), 2)
        for worker in workers:
            self.assertTrue(is_forked_worker(parent, worker), worker)
        token = self._token()
        # Enough requests that each worker serves some (the kernel picks).
        for _ in range(40):
            self.assertEqual(self._get("/v1/AUTH_test", {"X-Auth-Token": token}).status // 100, 2)
        listening = _listening_inode(self.proxy.port)
        first, second = (socket_inodes(pid) for pid in workers)
        parent_sockets = socket_inodes(parent)
        self.assertIn(listening, first & second)
        self.assertEqual(first & second, {listening})
        self.assertEqual((first | second) & parent_sockets, {listening})
        redis = _redis_port(parent)
        # The parent built the proxy to check it, with its own Redis
        # connection; each worker connected on its own.
        self.assertIn(redis, _established_peers(parent))
        for worker in workers:
            self.assertIn(redis, _established_peers(worker))
            # Which descriptors the parent had are /dev/null in the worker.
            descriptors = [os.readlink(f"/proc/{worker}/fd/{fd}")
                           for fd in os.listdir(f"/proc/{worker}/fd")]
            self.assertIn("/dev/null", descriptors)


class ExecWorkersTests(TwoWorkersTests):
    """
    C{worker_start = exec}: the workers are started as programs, and
    serve, survive death and stop as forked ones do.
    """

    options = "workers = 2\nworker_start = exec\n"

    def test_workersAreForked(self) -> None:
        """
        The workers run C{python -m twisted_proxy.service.workers}.
        """
        parent = self.proxy.process.pid
        workers = workers_of(parent)
        self.assertEqual(len(workers), 2)
        for worker in workers:
            self.assertFalse(is_forked_worker(parent, worker))
            self.assertIn(b"twisted_proxy.service.workers", _cmdline(worker))


class _Recorder(ProcessProtocol):
    """
    Keeps what a child writes, by descriptor, and fires C{ended} with its
    exit code.
    """

    def __init__(self) -> None:
        self.data: dict[int, bytes] = {}
        self.ended: Deferred[Optional[int]] = Deferred()

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        self.data[childFD] = self.data.get(childFD, b"") + data

    def processEnded(self, reason: Failure) -> None:  # type: ignore[override]
        self.ended.callback(getattr(reason.value, "exitCode", None))


class ForkedProcessTests(TestCase):
    """
    L{ForkedProcess}: a real child forked from the test process.
    """

    def _fork(self, run: Callable[[], int]) -> "Deferred[tuple[_Recorder, Any]]":
        """
        Fork a child running C{run}; fires with the recorder and its exit
        code.
        """
        from twisted.internet import reactor

        recorder = _Recorder()
        process = ForkedProcess(reactor, recorder, {0: "w", 1: "r", 2: "r", 4: "r"}, run)
        process.closeChildFD(0)

        def ended(code: Optional[int]) -> tuple[_Recorder, Any]:
            return recorder, code

        return recorder.ended.addCallback(ended)

    def test_runs(self) -> "Deferred[None]":
        """
        The child runs the function, writes on the descriptors it was
        given, and exits with the code it returns.
        """
        def run() -> int:
            os.write(1, b"out")
            os.write(4, b"ready\n")
            return 3

        def check(result: tuple[_Recorder, Any]) -> None:
            recorder, code = result
            self.assertEqual(code, 3)
            self.assertEqual(recorder.data.get(1), b"out")
            self.assertEqual(recorder.data.get(4), b"ready\n")

        return self._fork(run).addCallback(check)

    def test_raises(self) -> "Deferred[None]":
        """
        A function that raises ends the child with code 70 and its
        traceback on the child's standard error.
        """
        def run() -> int:
            raise ValueError("boom")

        def check(result: tuple[_Recorder, Any]) -> None:
            recorder, code = result
            self.assertEqual(code, 70)
            self.assertIn(b"ValueError: boom", recorder.data.get(2, b""))

        return self._fork(run).addCallback(check)

    def test_inheritedDescriptors(self) -> "Deferred[None]":
        """
        A descriptor of the parent's the child was not given is
        C{/dev/null} in the child, not closed (so its number is not reused
        for a socket of the child's while a parent's object still holds
        it).
        """
        kept = tempfile.TemporaryFile()
        self.addCleanup(kept.close)
        fd = kept.fileno()

        def run() -> int:
            os.write(1, os.readlink(f"/proc/self/fd/{fd}").encode())
            return 0

        def check(result: tuple[_Recorder, Any]) -> None:
            recorder, code = result
            self.assertEqual(code, 0)
            self.assertEqual(recorder.data.get(1), os.devnull.encode())

        return self._fork(run).addCallback(check)

    def test_freshReactor(self) -> "Deferred[None]":
        """
        In the child, after L{reset_signals}, L{install_fresh_reactor}
        gives a new reactor that runs; signals are as in a new Python
        program (C{SIGPIPE} ignored, no handler of the parent's).
        """
        from twisted.internet import reactor as parent_reactor

        def run() -> int:
            reset_signals()
            reactor = install_fresh_reactor()
            from twisted.internet import reactor as imported

            ran: list[bool] = []

            def once() -> None:
                ran.append(True)
                reactor.stop()

            reactor.callLater(0, once)
            reactor.run(installSignalHandlers=False)
            report = [reactor is not parent_reactor, imported is reactor, ran == [True],
                      signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN,
                      signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL]
            os.write(1, repr(report).encode())
            return 0

        def check(result: tuple[_Recorder, Any]) -> None:
            recorder, code = result
            self.assertEqual(code, 0, recorder.data.get(2))
            self.assertEqual(recorder.data.get(1), b"[True, True, True, True, True]")

        return self._fork(run).addCallback(check)
