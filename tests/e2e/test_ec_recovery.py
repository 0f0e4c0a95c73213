"""
End to end, erasure coding under failure: a 64 MiB object in a 4+2 policy
(C{conf/aio-ec.conf}, six object servers, one fragment archive each) is
read byte for byte while an object server serving one of its fragments is
SIGKILLed or SIGSTOPped mid-GET; with two servers down before the read the
GET still succeeds; with three down it fails cleanly (503, or an aborted
connection once the body started), never with a short or corrupt 200.

Servers are frozen with SIGSTOP and always thawed (SIGCONT) by pid, even
when a test fails; a SIGKILLed server is restarted by the cluster's
supervisor. Each test ends (and starts) only once every object server
serves again, so that no test sees another's dead or frozen server.
"""

from __future__ import annotations

import atexit
import hashlib
import http.client
import os
import re
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from typing import Optional

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.aioproxy import get_streamed, proc_status_kib, put_streamed, reset_peak_rss
from tests.e2e.test_ec import MIB, ECCluster, _body
from twisted_proxy.swift.ec.scheme import ECScheme
from twisted_proxy.swift.swiftconf import load_swift_conf

#: conf/aio-ec.conf's recoverable_node_timeout.
RECOVERABLE_NODE_TIMEOUT = 3.0
SIZE = 64 * MIB

_shared: Optional[ECCluster] = None
_failed: Optional[BaseException] = None


def recovery_cluster() -> ECCluster:
    """
    This module's cluster (twisted-proxy only), started on first use and
    stopped when the test process exits.
    """
    global _shared, _failed
    if _failed is not None:
        raise RuntimeError(f"the EC cluster did not start: {_failed}")
    if _shared is None:
        try:
            _shared = ECCluster()
        except BaseException as error:
            _failed = error
            raise
        atexit.register(_shared.stop)
    return _shared


#: A TCP connection: (local port, peer port), both on 127.0.0.1.
Connection = tuple[int, int]


@dataclass(frozen=True)
class _Socket:
    """
    One established TCP socket as C{ss} shows it.

    @ivar received: bytes received on it so far (read or not).
    @ivar unsent: bytes written to it and not yet acknowledged by the peer.
    @ivar pid: the process holding it, if shown.
    """

    received: int
    unsent: int
    pid: Optional[int]


def _sockets() -> dict[Connection, _Socket]:
    """
    The established TCP sockets of this machine, by (local port, peer port).
    """
    lines = subprocess.check_output(["ss", "-tnpi", "state", "established"],
                                    text=True).splitlines()
    found: dict[Connection, _Socket] = {}
    for index, line in enumerate(lines[1:], 1):
        fields = line.split()
        if line[:1].isspace() or len(fields) < 4:
            # A socket's details, on the line after its own.
            continue
        local, peer = fields[2], fields[3]
        info = lines[index + 1] if index + 1 < len(lines) else ""
        if not info[:1].isspace():
            info = ""
        received = re.search(r"bytes_received:(\d+)", info)
        owner = re.search(r"pid=(\d+),", line)
        found[(int(local.rsplit(":", 1)[1]), int(peer.rsplit(":", 1)[1]))] = _Socket(
            int(received.group(1)) if received else 0, int(fields[1]),
            int(owner.group(1)) if owner else None)
    return found


class RecoveryTests(SynchronousTestCase):
    """
    One 64 MiB object, read while object servers fail.
    """

    #: The object's path, once stored (by the first test; the others read
    #: it too).
    stored: Optional[str] = None

    def setUp(self) -> None:
        self.cluster = recovery_cluster()
        self.cluster.wait_for_object_servers()
        self.scheme = ECScheme.from_policy(load_swift_conf(
            os.path.join(self.cluster.swift_dir, "swift.conf")).default_policy())
        self.frozen: list[int] = []
        self.addCleanup(self.thaw)
        self.body = _body(SIZE, seed=64)
        self.digest = hashlib.md5(self.body).hexdigest()
        if RecoveryTests.stored is None:
            container = f"ec-recovery-{uuid.uuid4().hex}"
            status, _, _ = self.cluster.request("PUT", self.cluster.path(container))
            self.assertIn(status, (201, 202))
            path = self.cluster.path(container, "big")
            status, headers, _ = self.cluster.request("PUT", path, body=self.body)
            self.assertEqual(status, 201)
            self.assertEqual(headers["etag"], self.digest)
            RecoveryTests.stored = path
        self.path = RecoveryTests.stored

    def thaw(self) -> None:
        """
        Resume the servers frozen, and wait until every object server
        serves again, so that no test starts with one down.
        """
        frozen, self.frozen = self.frozen, []
        for pid in frozen:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.cluster.wait_for_object_servers()

    def freeze(self, index: int) -> None:
        """
        SIGSTOP object server C{index} (1 to 6) until the test ends.
        """
        pid = self.cluster.object_servers()[index]
        self.frozen.append(pid)
        os.kill(pid, signal.SIGSTOP)

    def start_get(self) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = self.cluster.connect(timeout=120)
        conn.request("GET", self.path, headers={"X-Auth-Token": self.cluster.token})
        reply = conn.getresponse()
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.getheader("Content-Length"), str(SIZE))
        return conn, reply

    def serving(self, before: dict[Connection, _Socket]) -> dict[int, int]:
        """
        The object servers (by index) the proxy has read fragments from
        since C{before} (a L{_sockets} snapshot), each with the bytes of its
        archive it still holds: not yet sent, nor in either end's socket
        buffers. The proxy's pooled connections idle since C{before} are
        not counted.
        """
        ports = {self.cluster.object_server_port(i): i
                 for i in self.cluster.object_servers()}
        proxy = self.cluster.proxy.process.pid
        archive = self.scheme.archive_length(SIZE)
        now = _sockets()
        found: dict[int, int] = {}
        for (local, peer), sock in now.items():
            if sock.pid != proxy or peer not in ports:
                continue
            earlier = before.get((local, peer))
            received = sock.received - (earlier.received if earlier else 0)
            if received <= 0:
                continue
            server_side = now.get((peer, local))
            in_flight = server_side.unsent if server_side is not None else 0
            found[ports[peer]] = max(archive - received - in_flight, 0)
        return found

    def interrupted_read(self, *failures: signal.Signals) -> tuple[list[int], float]:
        """
        Read the object, a mebibyte at a time, making one more of the
        object servers it started from fail after each mebibyte, with each
        of C{failures} in turn; then read the rest. Each time, the server
        chosen still holds most of its archive (not sent, nor in a socket
        buffer), so that the read cannot finish without it: the proxy has
        to replace it. The bytes read must be the object's.

        @return: the failed servers' ports, and the seconds the rest took
            after the last failure.
        """
        before = _sockets()
        conn, reply = self.start_get()
        read: list[bytes] = []
        failed: list[int] = []
        first: Optional[set[int]] = None
        started = time.monotonic()
        try:
            for how in failures:
                read.append(reply.read(MIB))
                # The proxy's streams are paused now: the client is not
                # reading.
                time.sleep(0.5)
                serving = self.serving(before)
                if first is None:
                    self.assertEqual(len(serving), self.scheme.ndata, serving)
                    first = set(serving)
                # Replacements are not chosen: they started past the
                # archive's start, so their bytes left are not known.
                candidates = {index: left for index, left in serving.items()
                              if index in first and index not in failed}
                victim, left = max(candidates.items(), key=lambda item: item[1])
                self.assertGreater(left, 2 * self.scheme.fragment_size, serving)
                pid = self.cluster.object_servers()[victim]
                if how == signal.SIGSTOP:
                    self.frozen.append(pid)
                # setUp's thaw waits for a killed server's restart too,
                # after resuming the frozen ones it must not wait behind.
                os.kill(pid, how)
                failed.append(victim)
                started = time.monotonic()
            read.append(reply.read())
            took = time.monotonic() - started
        finally:
            conn.close()
        data = b"".join(read)
        self.assertEqual(len(data), SIZE)
        self.assertEqual(hashlib.md5(data).hexdigest(), self.digest)
        return [self.cluster.object_server_port(index) for index in failed], took

    def proxy_log(self) -> str:
        with open(self.cluster.proxy.logfile, encoding="utf-8", errors="replace") as f:
            return f.read()

    def test_killedMidGet(self) -> None:
        """
        A serving object server SIGKILLed mid-GET: its fragments come from
        another server from the next fragment on.
        """
        logged = len(self.proxy_log())
        [port], _ = self.interrupted_read(signal.SIGKILL)
        self.assertRegex(self.proxy_log()[logged:],
                         rf"ERROR with Object server 127\.0\.0\.1:{port}/")

    def test_frozenMidGet(self) -> None:
        """
        A serving object server SIGSTOPped mid-GET is given up after
        C{recoverable_node_timeout} and replaced.
        """
        logged = len(self.proxy_log())
        [port], took = self.interrupted_read(signal.SIGSTOP)
        self.assertGreaterEqual(took, RECOVERABLE_NODE_TIMEOUT * 0.9)
        self.assertRegex(
            self.proxy_log()[logged:],
            rf"ERROR with Object server 127\.0\.0\.1:{port}/\S+: no data for "
            rf"{RECOVERABLE_NODE_TIMEOUT}s")

    def test_killedThenFrozenMidGet(self) -> None:
        """
        In one GET, a serving object server SIGKILLed, then another
        SIGSTOPped: each is replaced (the two spare fragments), and the
        object still reads whole.
        """
        logged = len(self.proxy_log())
        [killed, frozen], took = self.interrupted_read(signal.SIGKILL, signal.SIGSTOP)
        self.assertGreaterEqual(took, RECOVERABLE_NODE_TIMEOUT * 0.9)
        log = self.proxy_log()[logged:]
        self.assertRegex(log, rf"ERROR with Object server 127\.0\.0\.1:{killed}/")
        self.assertRegex(
            log, rf"ERROR with Object server 127\.0\.0\.1:{frozen}/\S+: no data for "
            rf"{RECOVERABLE_NODE_TIMEOUT}s")

    def test_twoDownBeforeRead(self) -> None:
        """
        With two object servers down (frozen) before the read, the four
        others serve it.
        """
        self.freeze(1)
        self.freeze(4)
        status, headers, data = self.cluster.request("GET", self.path)
        self.assertEqual(status, 200)
        self.assertEqual(hashlib.md5(data).hexdigest(), self.digest)

    def test_threeDownBeforeRead(self) -> None:
        """
        With three down, four fragments cannot be found: 503.
        """
        for index in (1, 3, 5):
            self.freeze(index)
        status, _, _ = self.cluster.request("GET", self.path)
        self.assertEqual(status, 503)

    def test_putWithOneDown(self) -> None:
        """
        An object server that never answers the PUT's C{100 Continue} is
        given up after C{node_timeout}; five archives make the quorum, and
        the object reads back whole.
        """
        body = _body(3 * MIB + 5, seed=11)
        path = self.path + "-put1"
        self.freeze(2)
        status, headers, _ = self.cluster.request("PUT", path, body=body)
        self.assertEqual(status, 201)
        self.assertEqual(headers["etag"], hashlib.md5(body).hexdigest())
        self.thaw()
        status, _, data = self.cluster.request("GET", path)
        self.assertEqual((status, hashlib.md5(data).hexdigest()),
                         (200, hashlib.md5(body).hexdigest()))

    def test_putWithTwoDown(self) -> None:
        """
        With two of six servers down, four archives cannot make the quorum
        of five: 503, as from Swift.
        """
        self.freeze(6)
        self.freeze(3)
        status, _, _ = self.cluster.request("PUT", self.path + "-put2",
                                            body=_body(100000, seed=12))
        self.assertEqual(status, 503)

    def test_threeDownMidRead(self) -> None:
        """
        Three serving servers lost mid-GET: fewer than four fragments are
        left, and the client's connection is aborted before the body's end,
        never ended as if whole.
        """
        before = _sockets()
        conn, reply = self.start_get()
        try:
            head = reply.read(MIB)
            time.sleep(0.5)
            serving = self.serving(before)
            self.assertEqual(len(serving), self.scheme.ndata, serving)
            for index in sorted(serving, key=serving.__getitem__, reverse=True)[:3]:
                self.freeze(index)
            with self.assertRaises((http.client.IncompleteRead, ConnectionError)):
                reply.read()
        finally:
            conn.close()
        self.assertEqual(len(head), MIB)


class FlatMemoryTests(SynchronousTestCase):
    """
    EC bodies stream through the proxy a segment at a time: its memory does
    not grow with their size. C{TWISTED_PROXY_SOAK_GIB} sets the size
    (default 0.25 GiB; 2 GiB on request).
    """

    def test_putAndGetFlatMemory(self) -> None:
        cluster = recovery_cluster()
        size = int(float(os.environ.get("TWISTED_PROXY_SOAK_GIB", "0.25")) * 1024 * MIB)
        pid = cluster.proxy.process.pid
        reset_peak_rss(pid)
        start_rss = proc_status_kib(pid, "VmRSS")
        container = f"ec-soak-{uuid.uuid4().hex}"
        cluster.request("PUT", cluster.path(container))
        path = cluster.path(container, "huge")
        port = cluster.proxy.port
        assert port is not None
        reply, sent_md5 = put_streamed(port, path, cluster.token, size, _body(MIB, seed=5))
        self.assertEqual(reply.status, 201)
        self.assertEqual(reply.getheader("Etag"), sent_md5)
        got, got_md5 = get_streamed(port, path, cluster.token, chunk=MIB)
        self.assertEqual(got, size)
        self.assertEqual(got_md5, sent_md5)
        growth_mib = (proc_status_kib(pid, "VmHWM") - start_rss) / 1024
        print(f"\nEC {size / MIB:.0f} MiB PUT+GET: proxy peak RSS grew {growth_mib:.1f} MiB "
              f"(from {start_rss / 1024:.1f} MiB)")
        self.assertLess(growth_mib, 64, f"proxy peak RSS grew by {growth_mib:.1f} MiB")
        self.assertEqual(cluster.request("DELETE", path)[0], 204)
