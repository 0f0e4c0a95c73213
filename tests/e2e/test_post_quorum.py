"""
End to end: with one storage server frozen (SIGSTOP), writes answer once
the others have, after C{post_quorum_timeout}, as Swift's proxy does, not
after C{node_timeout}; the frozen server still gets them once it thaws.

The module's own cluster (three devices, three replicas, so every server
holds every account, container and object) is started by C{twistd
twisted-proxy}; each test thaws what it froze, and the proxy is stopped
by process id when the test process exits.
"""

from __future__ import annotations

import signal
import time
import uuid

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.aioproxy import AioCluster, SharedFixture, request, signalled

#: The cluster's node_timeout: what a write waited for a frozen server.
NODE_TIMEOUT = 10.0

_cluster = SharedFixture(lambda: AioCluster(
    "post-quorum",
    aio={"devices": 3, "replicas": 3, "part_power": 4, "ready_timeout": 300},
    app={"node_timeout": NODE_TIMEOUT, "post_quorum_timeout": 0.5,
         "error_suppression_limit": 100}))


class FrozenServerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.cluster = _cluster()
        self.port = self.cluster.port
        self.container = f"pq-{uuid.uuid4().hex}"
        status, _, _ = request(self.port, "PUT", f"/v1/AUTH_test/{self.container}")
        self.assertEqual(status, 201)

    def timed(self, method: str, path: str, expect: int,
              headers: dict[str, str] = {}, body: bytes = b"") -> float:
        """
        Seconds C{method} of C{path} took to be answered C{expect}.
        """
        started = time.monotonic()
        status, _, answer = request(self.port, method, f"/v1/AUTH_test/{path}",
                                    headers, body=body)
        elapsed = time.monotonic() - started
        self.assertEqual(status, expect, answer[:200])
        return elapsed

    def test_objectWrites(self) -> None:
        """
        With one object server frozen, an object's PUT, POST and DELETE
        are each answered well within C{node_timeout}; once it thaws, the
        frozen server applies them (its log shows the DELETE).
        """
        path = f"{self.container}/o"
        self.timed("PUT", path, 201, body=b"before")
        pid = self.cluster.object_server_pid("sdb1")
        with signalled(pid, signal.SIGSTOP):
            took = [
                self.timed("PUT", path, 201, body=b"while frozen"),
                self.timed("POST", path, 202, {"X-Object-Meta-Color": "red"}),
                self.timed("DELETE", path, 204),
            ]
        self.assertLess(max(took), NODE_TIMEOUT / 2, took)
        deadline = time.monotonic() + NODE_TIMEOUT
        while "DELETE /sdb1/" not in self.cluster.object_log("sdb1"):
            self.assertLess(time.monotonic(), deadline, "the thawed server got no DELETE")
            time.sleep(0.1)

    def test_containerWrite(self) -> None:
        """
        With one container server frozen, a container's POST is answered
        well within C{node_timeout}.
        """
        with signalled(self.cluster.server_pid("container", 1), signal.SIGSTOP):
            took = self.timed("POST", self.container, 204, {"X-Container-Meta-Color": "red"})
        self.assertLess(took, NODE_TIMEOUT / 2)
