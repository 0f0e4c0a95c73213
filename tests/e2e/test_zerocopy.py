"""
End to end, zero-copy relaying (L{twisted_proxy.backend.zerocopy}): object
bodies go from the storage node's socket to the client's with C{splice(2)},
never through the proxy's memory; while a client holds a body back, the
relay's pipes show in C{/proc/PID/fd}. Slow and vanishing clients are
served as on the ordinary path, and no descriptor is left behind. Between
two TCP connections of its own, a relay lets its source gather bytes yet
still passes on a trickle. The
failover tests (C{test_e2e_failover}) check that a source failing
mid-relay still gives a whole body.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import threading
import time
import uuid

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.e2e.aioproxy import (
    auth,
    held_back_connection,
    open_descriptors,
    pipe_descriptors,
    read_chunks,
    request,
    running_proxy,
)
from twisted_proxy.backend.zerocopy import GATHER, SPLICE_AVAILABLE, relay

MIB = 1024 * 1024


class ZeroCopyTests(SynchronousTestCase):
    def setUp(self) -> None:
        if not SPLICE_AVAILABLE:
            raise SkipTest("no splice(2) here")
        self.proxy = running_proxy()
        self.pid = self.proxy.process.pid
        self.token, url = auth(self.proxy.port)
        self.account = url.split("/v1", 1)[1]
        self.container = f"zerocopy-{uuid.uuid4().hex}"
        self.body = os.urandom(32 * MIB)
        self.path = f"/v1{self.account}/{self.container}/o"
        headers = {"X-Auth-Token": self.token}
        self.assertEqual(request(self.proxy.port, "PUT", f"/v1{self.account}/{self.container}",
                                 headers)[0], 201)
        self.assertEqual(request(self.proxy.port, "PUT", self.path, headers, self.body,
                                 timeout=120)[0], 201)

    def get(self, headers: dict[str, str] | None = None,
            conn: http.client.HTTPConnection | None = None) -> http.client.HTTPResponse:
        conn = conn or held_back_connection(self.proxy.port)
        conn.request("GET", self.path, headers={"X-Auth-Token": self.token, **(headers or {})})
        return conn.getresponse()

    def assert_settled(self, descriptors: int, pipes: int) -> None:
        """
        The proxy's relays are all over (its pipes back to C{pipes}) and its
        descriptors back to C{descriptors}, give or take the two or three
        connections its pool keeps to the storage nodes, within 10 s:
        relays and connections end a little after their client.
        """
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if (pipe_descriptors(self.pid) == pipes
                    and open_descriptors(self.pid) <= descriptors + 3):
                return
            time.sleep(0.1)
        self.assertEqual((pipe_descriptors(self.pid), open_descriptors(self.pid)),
                         (pipes, descriptors))

    def test_bodyGoesAround(self) -> None:
        """
        A GET's body, whole and exact, adds almost nothing to the bytes the
        proxy read and wrote; its descriptors are all closed afterwards; a
        second GET on the same connection is answered after it.
        """
        descriptors, pipes = open_descriptors(self.pid), pipe_descriptors(self.pid)
        conn = held_back_connection(self.proxy.port)
        for _ in range(2):
            reply = self.get(conn=conn)
            self.assertEqual(reply.status, 200)
            self.assertEqual(self.relays_while_held(reply, pipes), 1)
            self.assertEqual(hashlib.md5(self.rest).hexdigest(),
                             hashlib.md5(self.body).hexdigest())
        conn.close()
        self.assert_settled(descriptors, pipes)

    def relays_while_held(self, reply: http.client.HTTPResponse, pipes: int) -> int:
        """
        Read 1 MiB of C{reply}, hold the rest back a moment, and count the
        relays running meanwhile (by their pipes, beyond C{pipes} before the
        request); then read it all into C{rest}.
        """
        first = reply.read(MIB)
        time.sleep(0.5)
        held = pipe_descriptors(self.pid)
        self.rest = first + reply.read()
        return (held - pipes) // 4

    def test_rangeGoesAround(self) -> None:
        """
        A single range is relayed as well.
        """
        pipes = pipe_descriptors(self.pid)
        reply = self.get({"Range": "bytes=1000-20999999"})
        self.assertEqual(reply.status, 206)
        self.assertEqual(self.relays_while_held(reply, pipes), 1)
        self.assertEqual(self.rest, self.body[1000:21000000])

    def test_multipartIsWritten(self) -> None:
        """
        A multi-range body, whose framing the proxy may have to rebuild on
        a resume, takes the ordinary path: the measure above tells them
        apart.
        """
        pipes = pipe_descriptors(self.pid)
        reply = self.get({"Range": "bytes=0-9999999,20000000-29999999"})
        self.assertEqual(reply.status, 206)
        self.assertEqual(self.relays_while_held(reply, pipes), 0)
        self.assertIn(self.body[:10000000], self.rest)
        self.assertIn(self.body[20000000:30000000], self.rest)

    def test_slowClient(self) -> None:
        """
        A client with a small receive buffer that reads in small, slow
        steps still gets every byte in order.
        """
        conn = held_back_connection(self.proxy.port)
        reply = self.get(conn=conn)
        chunks = []
        for index, chunk in enumerate(read_chunks(reply, MIB)):
            chunks.append(chunk)
            if index < 5:
                time.sleep(0.3)
        conn.close()
        self.assertEqual(hashlib.md5(b"".join(chunks)).hexdigest(),
                         hashlib.md5(self.body).hexdigest())

    def test_clientLeaves(self) -> None:
        """
        A client that leaves mid-body ends its relay: the proxy's
        descriptors go back to what they were, and it serves the next
        client.
        """
        descriptors, pipes = open_descriptors(self.pid), pipe_descriptors(self.pid)
        reply = self.get()
        self.assertEqual(len(reply.read(2 * MIB)), 2 * MIB)
        reply.close()
        self.assert_settled(descriptors, pipes)
        reply = self.get()
        self.assertEqual(hashlib.md5(reply.read()).hexdigest(),
                         hashlib.md5(self.body).hexdigest())


def _connected_pair() -> tuple[socket.socket, socket.socket]:
    """
    Both ends of a new loopback TCP connection, the accepted one
    non-blocking.
    """
    with socket.create_server(("127.0.0.1", 0)) as listener:
        peer = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
    accepted.setblocking(False)
    return accepted, peer


class RelaySocketTests(SynchronousTestCase):
    """
    L{relay} between real TCP sockets, as the proxy runs it.
    """

    def setUp(self) -> None:
        if not SPLICE_AVAILABLE:
            raise SkipTest("no splice(2) here")
        self.source, self.sender = _connected_pair()
        self.sink, self.receiver = _connected_pair()
        self.wake, self.waker = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        for end in (self.source, self.sender, self.sink, self.receiver):
            self.addCleanup(end.close)
        for fd in (self.wake, self.waker):
            self.addCleanup(os.close, fd)

    def test_gatherButPassATrickle(self) -> None:
        """
        While a relay waits for its source, the source's C{SO_RCVLOWAT} asks
        for more than one byte; yet bytes below it reach the sink at once,
        and the mark is 1 again after the relay.
        """
        count = 3 * MIB
        result: list[object] = []

        def run() -> None:
            result.append(relay(self.source.fileno(), self.sink.fileno(), count, b"",
                                10.0, 10.0, self.wake))

        thread = threading.Thread(target=run)
        thread.start()
        self.addCleanup(thread.join, 30)
        self.addCleanup(os.write, self.waker, b"x")
        body = os.urandom(count)
        deadline = time.monotonic() + 5
        level = 1
        while level == 1 and time.monotonic() < deadline:
            level = self.source.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT)
            time.sleep(0.01)
        self.assertGreater(level, 1)
        self.assertLessEqual(level, GATHER)
        # The relay waits for its mark now: a trickle below it comes all the same.
        self.sender.sendall(body[:1000])
        # Well before the 1 s a wait lasts at most without a mark.
        self.receiver.settimeout(0.5)
        first = b""
        while len(first) < 1000:
            first += self.receiver.recv(1000 - len(first))
        self.assertEqual(first, body[:1000])
        sending = threading.Thread(target=self.sender.sendall, args=(body[1000:],))
        sending.start()
        self.receiver.settimeout(10.0)
        rest = []
        got = len(first)
        while got < count:
            chunk = self.receiver.recv(MIB)
            self.assertTrue(chunk)
            rest.append(chunk)
            got += len(chunk)
        sending.join(10)
        thread.join(10)
        self.assertEqual(result, [count])
        self.assertEqual(hashlib.md5(first + b"".join(rest)).hexdigest(),
                         hashlib.md5(body).hexdigest())
        self.assertEqual(self.source.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT), 1)
