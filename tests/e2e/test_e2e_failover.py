"""
End to end: a download survives the object server serving it freezing or
dying mid-body, and uploads and downloads stream with flat proxy memory.

These run against C{twistd -n twisted-proxy --config conf/aio.conf} and its
real Swift storage servers; the storage server a download is coming from is
found by watching which of the proxy's connections is receiving data.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from typing import Optional

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.e2e.aioproxy import (
    auth,
    connection_bytes,
    described_descriptors,
    get_streamed,
    held_back_connection,
    listener_pid,
    pipe_descriptors,
    proc_status_kib,
    put_streamed,
    read_chunks,
    reset_peak_rss,
    running_proxy,
    signalled,
)
from twisted_proxy.backend.zerocopy import SPLICE_AVAILABLE

#: conf/aio.conf's recoverable_node_timeout.
RECOVERABLE_NODE_TIMEOUT = 3.0
MIB = 1024 * 1024


class _Transfers(SynchronousTestCase):
    def setUp(self) -> None:
        try:
            subprocess.check_output(["ss", "-V"])
        except (OSError, subprocess.CalledProcessError):
            raise SkipTest("needs ss (iproute2) to find the serving node")
        self.proxy = running_proxy()
        self.token, url = auth(self.proxy.port)
        self.account = url.split("/v1", 1)[1]
        self.container = f"failover-{uuid.uuid4().hex}"
        self.request("PUT", self.container)

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.proxy.port, timeout=60)

    def request(self, method: str, path: str, body: Optional[bytes] = None,
                expect: int = 201) -> http.client.HTTPResponse:
        conn = self.connect()
        conn.request(method, f"/v1{self.account}/{path}", body=body,
                     headers={"X-Auth-Token": self.token})
        reply = conn.getresponse()
        reply.read()
        conn.close()
        self.assertEqual(reply.status, expect)
        return reply


class FailoverTests(_Transfers):
    """
    A 64 MiB download whose object server freezes or dies mid-body still
    arrives whole.
    """

    def _interrupt_download(self, how: signal.Signals) -> float:
        body = os.urandom(64 * MIB)
        self.request("PUT", f"{self.container}/big", body)
        pipes = pipe_descriptors(self.proxy.process.pid)
        conn = held_back_connection(self.proxy.port, timeout=60)
        conn.request("GET", f"/v1{self.account}/{self.container}/big",
                     headers={"X-Auth-Token": self.token})
        reply = conn.getresponse()
        self.assertEqual(reply.status, 200)
        pid = self.proxy.process.pid
        chunks = [reply.read(4 * MIB)]
        before = connection_bytes(pid, "bytes_received")
        chunks.append(reply.read(4 * MIB))
        time.sleep(0.3)
        after = connection_bytes(pid, "bytes_received")
        serving = max(after, key=lambda peer: after[peer] - before.get(peer, 0))
        server = listener_pid(serving.rsplit(":", 1)[1])
        # The body goes around the proxy's memory (a relay's pipes are
        # open), before the failure and after it.
        relaying = [pipe_descriptors(pid) - pipes]
        with signalled(server, how):
            started = time.monotonic()
            for chunk in read_chunks(reply, MIB):
                chunks.append(chunk)
                if len(chunks) == 50:
                    time.sleep(0.3)
                    relaying.append(pipe_descriptors(pid) - pipes)
        elapsed = time.monotonic() - started
        conn.close()
        received = b"".join(chunks)
        self.assertEqual(len(received), len(body))
        self.assertEqual(hashlib.md5(received).hexdigest(), hashlib.md5(body).hexdigest())
        if SPLICE_AVAILABLE:
            self.assertEqual(relaying, [4, 4])
        return elapsed

    def test_frozenObjectServer(self) -> None:
        """
        SIGSTOP of the serving object server: the proxy resumes on another
        replica after recoverable_node_timeout, and the client gets every
        byte once.
        """
        elapsed = self._interrupt_download(signal.SIGSTOP)
        self.assertLess(elapsed, RECOVERABLE_NODE_TIMEOUT + 10)

    def test_killedObjectServer(self) -> None:
        """
        SIGKILL of the serving object server: the proxy resumes at once.
        """
        elapsed = self._interrupt_download(signal.SIGKILL)
        self.assertLess(elapsed, 10)


#: conf/aio.conf's node_timeout.
NODE_TIMEOUT = 10.0


class UploadFailoverTests(_Transfers):
    """
    An upload goes on without an object server that stops taking data, as
    long as a quorum of them remains.
    """

    def test_frozenObjectServerDuringUpload(self) -> None:
        size = 128 * MIB
        block = os.urandom(MIB)
        conn = self.connect()
        conn.putrequest("PUT", f"/v1{self.account}/{self.container}/up")
        conn.putheader("X-Auth-Token", self.token)
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        pid = self.proxy.process.pid
        sent, frozen = 0, None
        digest = hashlib.md5()
        with contextlib.ExitStack() as thaw:
            while sent < size:
                conn.send(block)
                digest.update(block)
                sent += MIB
                if frozen is None and sent >= 16 * MIB:
                    before = connection_bytes(pid, "bytes_sent")
                    conn.send(block)
                    digest.update(block)
                    sent += MIB
                    time.sleep(0.2)
                    after = connection_bytes(pid, "bytes_sent")
                    peer = max(after, key=lambda p: after[p] - before.get(p, 0))
                    frozen = listener_pid(peer.rsplit(":", 1)[1])
                    thaw.enter_context(signalled(frozen, signal.SIGSTOP))
                    started = time.monotonic()
            reply = conn.getresponse()
            reply.read()
        elapsed = time.monotonic() - started
        self.assertEqual(reply.status, 201)
        self.assertEqual(reply.getheader("Etag"), digest.hexdigest())
        self.assertLess(elapsed, NODE_TIMEOUT + 20)
        got = self.connect()
        got.request("GET", f"/v1{self.account}/{self.container}/up",
                    headers={"X-Auth-Token": self.token})
        answer = got.getresponse()
        self.assertEqual(hashlib.md5(answer.read()).hexdigest(), digest.hexdigest())
        got.close()


class FlatMemoryTests(_Transfers):
    """
    Bodies stream through the proxy, around its memory where they pass
    unchanged (zero-copy relays): its memory does not grow with the size
    of what passes through it, and every descriptor a transfer opened is
    closed after it. C{TWISTED_PROXY_SOAK_GIB} sets the size (default
    0.25 GiB; the 2 GiB run is on request).
    """

    def test_putAndGetFlatMemory(self) -> None:
        size = int(float(os.environ.get("TWISTED_PROXY_SOAK_GIB", "0.25")) * 1024 * MIB)
        pid = self.proxy.process.pid
        path = f"/v1{self.account}/{self.container}/huge"
        # The same name first, small: the connections to its nodes are in
        # the proxy's pool before the descriptors are counted.
        reply, digest = put_streamed(self.proxy.port, path, self.token, MIB, os.urandom(MIB))
        self.assertEqual(reply.status, 201)
        self.assertEqual(get_streamed(self.proxy.port, path, self.token), (MIB, digest))
        before = described_descriptors(pid)
        pipes = pipe_descriptors(pid)
        reset_peak_rss(pid)
        start_rss = proc_status_kib(pid, "VmRSS")
        with _PeakPipes(pid) as put_pipes:
            reply, digest = put_streamed(self.proxy.port, path, self.token, size,
                                         os.urandom(MIB), timeout=60)
        self.assertEqual(reply.status, 201)
        self.assertEqual(reply.getheader("Etag"), digest)
        with _PeakPipes(pid) as get_pipes:
            got = get_streamed(self.proxy.port, path, self.token, timeout=60)
        self.assertEqual(got, (size, digest))
        growth_mib = (proc_status_kib(pid, "VmHWM") - start_rss) / 1024
        print(f"\n{size / MIB:.0f} MiB PUT+GET: proxy peak RSS grew {growth_mib:.1f} MiB "
              f"(from {start_rss / 1024:.1f} MiB); relay pipes during PUT "
              f"{put_pipes.peak - pipes}, during GET {get_pipes.peak - pipes}")
        self.assertLess(growth_mib, 64, f"proxy peak RSS grew by {growth_mib:.1f} MiB")
        if SPLICE_AVAILABLE:
            # Both bodies went around the proxy's memory: relays held pipes.
            self.assertGreater(put_pipes.peak, pipes)
            self.assertGreater(get_pipes.peak, pipes)
        deadline = time.monotonic() + 10
        left = left_behind(before, described_descriptors(pid), self.proxy.port)
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = left_behind(before, described_descriptors(pid), self.proxy.port)
        self.assertEqual(left, [], "descriptors the transfers opened and left open")
        self.request("DELETE", f"{self.container}/huge", expect=204)


def left_behind(before: dict[int, str], after: dict[int, str], port: int) -> list[str]:
    """
    The descriptors in C{after} but not in C{before} (as
    L{described_descriptors} tells them), apart from the first connection
    the proxy made to a peer it had no connection to before: an idle
    connection its pool keeps for the next request (an info lookup whose
    cached answer ran out mid-transfer, say, went to a node the warm-up did
    not reach). A client's connection to C{port}, a second connection to a
    peer, a pipe or a file left open is a leak.
    """
    def peers(found: dict[int, str]) -> Counter[str]:
        return Counter(what.split(" -> ")[1] for what in found.values()
                       if what.startswith("tcp ESTAB "))

    had, has = peers(before), peers(after)
    left = []
    for fd in sorted(set(after) - set(before)):
        what = after[fd]
        if what.startswith("tcp ESTAB ") and not what.split()[2].endswith(f":{port}"):
            peer = what.split(" -> ")[1]
            if not had[peer] and has[peer] == 1:
                continue
        left.append(what)
    return left


class _PeakPipes:
    """
    While in use, how many pipes process C{pid} held at most (sampled every
    10 ms in a thread).
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, pipe_descriptors(self.pid))

    def __enter__(self) -> "_PeakPipes":
        self.peak = pipe_descriptors(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()
