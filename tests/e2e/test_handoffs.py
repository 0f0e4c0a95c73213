"""
End to end: a PUT whose primary object server is down (killed with
SIGKILL, not yet error limited) still writes three replicas, one of them on
a handoff, as Swift's proxy does.

The module's own cluster (four devices, one region, three replicas) is
started by C{twistd twisted-proxy}; the killed object server stays down
(the cluster does not restart it), and the proxy is stopped by process id
when the test process exits.
"""

from __future__ import annotations

import os
import signal
import uuid

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.aioproxy import AioCluster, SharedFixture, request

_one_region_cluster = SharedFixture(lambda: AioCluster(
    "handoffs",
    aio={"devices": 4, "replicas": 3, "part_power": 6, "ready_timeout": 300},
    app={"conn_timeout": 2, "error_suppression_limit": 10}))


class HandoffPutTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.cluster = _one_region_cluster()
        self.port = self.cluster.port

    def test_deadPrimary(self) -> None:
        """
        With one primary's object server killed, a PUT is answered 201 and
        three replicas are on disk: two on the live primaries and one on a
        handoff device; a GET then reads the object.
        """
        container = f"handoff-{uuid.uuid4().hex}"
        status, _, _ = request(self.port, "PUT", f"/v1/AUTH_test/{container}")
        self.assertEqual(status, 201)
        # An object that has sdb1 among its primaries.
        for number in range(200):
            obj = f"o{number}"
            if "sdb1" in self.cluster.primaries(container, obj):
                break
        else:
            raise AssertionError("no object name maps to sdb1")
        primaries = self.cluster.primaries(container, obj)
        os.kill(self.cluster.object_server_pid("sdb1"), signal.SIGKILL)
        status, _, _ = request(self.port, "PUT", f"/v1/AUTH_test/{container}/{obj}",
                               body=b"handed off")
        self.assertEqual(status, 201)
        landed = self.cluster.data_devices(container, obj)
        self.assertEqual(len(landed), 3, landed)
        self.assertNotIn("sdb1", landed)
        handoffs = [device for device in landed if device not in primaries]
        self.assertEqual(len(handoffs), 1, (landed, primaries))
        status, _, body = request(self.port, "GET", f"/v1/AUTH_test/{container}/{obj}")
        self.assertEqual((status, body), (200, b"handed off"))
