"""
End to end, zero-copy replicated PUTs (L{twisted_proxy.backend.zerocopy_put}):
a client's body goes from its socket to every object server's with
C{splice(2)} and C{tee(2)}, never through the proxy's memory; while the
client holds the rest of a body back, the relay's pipes show in
C{/proc/PID/fd} (an inlet and one pipe per replica, a wake and a control
pipe: twelve descriptors for three replicas). Every replica holds the
body whole, Swift's own proxy reads it, an object server that freezes
mid-body is dropped while a quorum lives, and a client that leaves
mid-body leaves no descriptor and no object behind.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import http.client
import os
import signal
import socket
import time
import uuid
from typing import Iterator, Optional

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.e2e import test_zerocopy as get_tests
from tests.e2e.aioproxy import (
    connection_bytes,
    listener_pid,
    open_descriptors,
    pipe_descriptors,
    read_chunks,
    signalled,
)
from tests.e2e.test_symlink_interop import ReferenceCluster
from twisted_proxy.backend.zerocopy_put import TEE_AVAILABLE
from twisted_proxy.swift.ring import Node, Ring
from twisted_proxy.swift.swiftconf import load_swift_conf

MIB = 1024 * 1024

#: conf/aio.conf's node_timeout.
NODE_TIMEOUT = 10.0

#: The pipe descriptors of one relay to three replicas.
RELAY_PIPES = 12

_shared: Optional[ReferenceCluster] = None


def _cluster() -> ReferenceCluster:
    """
    twisted-proxy and Swift's proxy on one cluster of these tests' own,
    started on first use and stopped when the test process exits.
    """
    global _shared
    if _shared is None or not _shared.running:
        _shared = ReferenceCluster("zcput", ())
        atexit.register(_shared.stop)
    return _shared


class ZeroCopyPutTests(SynchronousTestCase):
    def setUp(self) -> None:
        if not TEE_AVAILABLE:
            raise SkipTest("no tee(2) here")
        self.cluster = _cluster()
        self.pid = self.cluster.proxy.process.pid
        self.container = f"zcput-{uuid.uuid4().hex}"
        status, _, _ = self.cluster.request("PUT", self.cluster.path(self.container))
        self.assertEqual(status, 201)
        self.block = os.urandom(MIB)

    def start_put(self, name: str, size: int) -> http.client.HTTPConnection:
        """
        A connection on which a PUT of C{size} bytes has begun: its headers
        are sent, its body is L{send}'s to send.
        """
        conn = self.cluster.connect()
        conn.putrequest("PUT", self.cluster.path(self.container, name))
        conn.putheader("X-Auth-Token", self.cluster.token)
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        self.digest = hashlib.md5()
        return conn

    def send(self, conn: http.client.HTTPConnection, mib: int) -> None:
        for _ in range(mib):
            conn.send(self.block)
            self.digest.update(self.block)

    def relaying(self, pipes: int) -> int:
        """
        After a moment for the relay to catch up with what was sent, the
        relays running (by their pipes, beyond C{pipes} before).
        """
        time.sleep(0.5)
        return (pipe_descriptors(self.pid) - pipes) // RELAY_PIPES

    def nodes(self, name: str) -> list[Node]:
        conf = load_swift_conf(os.path.join(self.cluster.swift_dir, "swift.conf"))
        ring = Ring.from_file(os.path.join(self.cluster.swift_dir, "object.ring.gz"),
                              hash_prefix=conf.hash_prefix, hash_suffix=conf.hash_suffix)
        part, nodes = ring.get_nodes(self.cluster.account, self.container, name)
        self.part = part
        return nodes

    def replicas(self, name: str) -> Iterator[tuple[Node, int, str]]:
        """
        Each primary object server's answer to a direct GET of the object:
        its node, the status and the MD5 of the body.
        """
        for node in self.nodes(name):
            conn = http.client.HTTPConnection(node["ip"], node["port"], timeout=60)
            conn.request("GET", f"/{node['device']}/{self.part}/{self.cluster.account}/"
                         f"{self.container}/{name}",
                         headers={"X-Backend-Storage-Policy-Index": "0"})
            reply = conn.getresponse()
            digest = hashlib.md5()
            for chunk in read_chunks(reply, MIB):
                digest.update(chunk)
            conn.close()
            yield node, reply.status, digest.hexdigest()

    def assert_settled(self, descriptors: int, pipes: int) -> None:
        """
        As the GET relay tests': all relays over, descriptors back.
        """
        get_tests.ZeroCopyTests.assert_settled(self, descriptors, pipes)  # type: ignore[arg-type]

    def test_bodyGoesAround(self) -> None:
        """
        A 64 MiB PUT is relayed, not written: while its client holds the
        rest back, one relay runs. Every replica holds the body whole,
        Swift's proxy reads it back, and the relay leaves no descriptor.
        """
        descriptors, pipes = open_descriptors(self.pid), pipe_descriptors(self.pid)
        conn = self.start_put("big", 64 * MIB)
        self.send(conn, 8)
        self.assertEqual(self.relaying(pipes), 1)
        self.send(conn, 56)
        reply = conn.getresponse()
        reply.read()
        conn.close()
        self.assertEqual(reply.status, 201)
        self.assertEqual(reply.getheader("Etag"), self.digest.hexdigest())
        for node, status, digest in self.replicas("big"):
            self.assertEqual((status, digest), (200, self.digest.hexdigest()), node)
        conn = self.cluster.connect("swift")
        conn.request("GET", self.cluster.path(self.container, "big"))
        answer = conn.getresponse()
        self.assertEqual(answer.status, 200)
        self.assertEqual(hashlib.md5(answer.read()).hexdigest(), self.digest.hexdigest())
        conn.close()
        self.assert_settled(descriptors, pipes)

    def test_nextRequestOnConnection(self) -> None:
        """
        After a relayed body, the client's connection serves its next
        request.
        """
        conn = self.start_put("first", 4 * MIB)
        self.send(conn, 4)
        reply = conn.getresponse()
        reply.read()
        self.assertEqual(reply.status, 201)
        self.assertFalse(reply.will_close)
        conn.request("GET", self.cluster.path(self.container, "first"),
                     headers={"X-Auth-Token": self.cluster.token})
        answer = conn.getresponse()
        self.assertEqual(hashlib.md5(answer.read()).hexdigest(), self.digest.hexdigest())
        conn.close()

    def test_frozenObjectServer(self) -> None:
        """
        An object server that stops taking the relayed body (SIGSTOP) is
        dropped after node_timeout; the PUT succeeds with the other two,
        and the frozen one, thawed, holds no object.
        """
        size = 96 * MIB
        pipes = pipe_descriptors(self.pid)
        conn = self.start_put("frozen", size)
        self.send(conn, 16)
        self.assertEqual(self.relaying(pipes), 1)
        with contextlib.ExitStack() as thaw:
            before = connection_bytes(self.pid, "bytes_sent")
            self.send(conn, 1)
            time.sleep(0.2)
            after = connection_bytes(self.pid, "bytes_sent")
            peer = max(after, key=lambda p: after[p] - before.get(p, 0))
            port = peer.rsplit(":", 1)[1]
            thaw.enter_context(signalled(listener_pid(port), signal.SIGSTOP))
            started = time.monotonic()
            self.send(conn, size // MIB - 17)
            reply = conn.getresponse()
            reply.read()
            elapsed = time.monotonic() - started
        conn.close()
        self.assertEqual(reply.status, 201)
        self.assertEqual(reply.getheader("Etag"), self.digest.hexdigest())
        self.assertLess(elapsed, NODE_TIMEOUT + 20)
        found = {str(node["port"]): (status, digest)
                 for node, status, digest in self.replicas("frozen")}
        # The frozen server may be a handoff's neighbour: only primaries count.
        whole = [answer for answer in found.values()
                 if answer == (200, self.digest.hexdigest())]
        self.assertEqual(len(whole), 2, found)
        if port in found:
            self.assertEqual(found[port][0], 404)

    def test_clientLeaves(self) -> None:
        """
        A client that leaves mid-body ends the relay: the proxy's
        descriptors go back to what they were, and no replica holds an
        object.
        """
        descriptors, pipes = open_descriptors(self.pid), pipe_descriptors(self.pid)
        conn = self.start_put("gone", 64 * MIB)
        self.send(conn, 8)
        self.assertEqual(self.relaying(pipes), 1)
        assert conn.sock is not None
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        self.assert_settled(descriptors, pipes)
        status, _, _ = self.cluster.request("HEAD", self.cluster.path(self.container, "gone"))
        self.assertEqual(status, 404)
        for node, status, _ in self.replicas("gone"):
            self.assertEqual(status, 404, node)

    def test_serverSideCopy(self) -> None:
        """
        A server-side copy of a large object, whose body comes from a
        storage node's socket, arrives whole.
        """
        conn = self.start_put("source", 24 * MIB)
        self.send(conn, 24)
        reply = conn.getresponse()
        reply.read()
        conn.close()
        self.assertEqual(reply.status, 201)
        status, headers, _ = self.cluster.request(
            "PUT", self.cluster.path(self.container, "copy"),
            {"X-Copy-From": f"{self.container}/source", "Content-Length": "0"})
        self.assertEqual(status, 201)
        for node, status, digest in self.replicas("copy"):
            self.assertEqual((status, digest), (200, self.digest.hexdigest()), node)
