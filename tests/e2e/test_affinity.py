"""
End to end: read and write affinity on a two-region cluster of real Swift
storage servers.

Five devices, the first three in region 1 and the last two in region 2
(the all-in-one cluster's C{regions = 2}), three replicas: every
partition has primaries in both regions. The proxy's application section
sets C{write_affinity = r1}; C{[proxy-server:policy:1]} turns it off for
policy 1 (silver) and sets C{sorting_method = affinity} with
C{read_affinity = r1=100} there instead. Where replicas landed is read on
disk (the C{.data} files under each device); where reads went, in the
object servers' request logs.

One cluster serves the module's tests; it is stopped by process id when
the test process exits.
"""

from __future__ import annotations

import uuid

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.aioproxy import AioCluster, SharedFixture, request

#: The region of each device, as C{regions = 2} lays out five devices.
REGIONS = {"sdb1": 1, "sdb2": 1, "sdb3": 1, "sdb4": 2, "sdb5": 2}

two_region_cluster = SharedFixture(lambda: AioCluster(
    "affinity",
    aio={"devices": 5, "regions": 2, "replicas": 3, "part_power": 6, "ready_timeout": 300},
    app={"write_affinity": "r1", "write_affinity_node_count": "2 * replicas"},
    sections={"proxy-server:policy:1": {
        "write_affinity": "", "sorting_method": "affinity", "read_affinity": "r1=100"}}))


class AffinityTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.cluster = two_region_cluster()
        self.port = self.cluster.port

    def container(self, policy: str) -> str:
        name = f"affinity-{uuid.uuid4().hex}"
        status, _, _ = request(self.port, "PUT", f"/v1/AUTH_test/{name}",
                               {"X-Storage-Policy": policy})
        self.assertEqual(status, 201)
        return name

    def test_writeAffinity(self) -> None:
        """
        With C{write_affinity = r1}, all three replicas of every PUT land on
        region 1 devices, although each object has primaries in region 2;
        a DELETE reaches them all (primaries and local handoffs).
        """
        container = self.container("gold")
        for number in range(4):
            obj = f"o{number}"
            path = f"/v1/AUTH_test/{container}/{obj}"
            status, _, _ = request(self.port, "PUT", path, body=b"local data")
            self.assertEqual(status, 201)
            self.assertIn(2, {REGIONS[d] for d in self.cluster.primaries(container, obj)})
            landed = self.cluster.data_devices(container, obj)
            self.assertEqual(len(landed), 3, landed)
            self.assertEqual({REGIONS[d] for d in landed}, {1}, landed)
            status, _, body = request(self.port, "GET", path)
            self.assertEqual((status, body), (200, b"local data"))
            status, _, _ = request(self.port, "DELETE", path)
            self.assertEqual(status, 204)
            self.assertEqual(self.cluster.data_devices(container, obj), [])

    def test_perPolicyNoWriteAffinity(self) -> None:
        """
        Policy 1's section turns write affinity off: replicas land on the
        primaries, in both regions.
        """
        container = self.container("silver")
        status, _, _ = request(self.port, "PUT", f"/v1/AUTH_test/{container}/o",
                               body=b"spread")
        self.assertEqual(status, 201)
        landed = self.cluster.data_devices(container, "o", policy=1)
        self.assertEqual(landed, self.cluster.primaries(container, "o", policy=1))
        self.assertEqual({REGIONS[d] for d in landed}, {1, 2})

    def test_readAffinity(self) -> None:
        """
        With C{read_affinity = r1=100} (policy 1), every GET and HEAD goes
        to a region 1 node while region 1 is healthy, though every object
        has replicas in region 2 as well.
        """
        container = self.container("silver")
        names = [f"r{number}" for number in range(8)]
        for obj in names:
            status, _, _ = request(self.port, "PUT", f"/v1/AUTH_test/{container}/{obj}",
                                   body=obj.encode("ascii"))
            self.assertEqual(status, 201)
        for _ in range(2):
            for obj in names:
                path = f"/v1/AUTH_test/{container}/{obj}"
                status, _, body = request(self.port, "GET", path)
                self.assertEqual((status, body), (200, obj.encode("ascii")))
                self.assertEqual(request(self.port, "HEAD", path)[0], 200)
        reads = {
            device: sum(1 for line in self.cluster.object_log(device).splitlines()
                        if f"/AUTH_test/{container}/" in line
                        and ('"GET ' in line or '"HEAD ' in line))
            for device in REGIONS}
        self.assertEqual([reads["sdb4"], reads["sdb5"]], [0, 0], reads)
        self.assertEqual(sum(reads.values()), 2 * 2 * len(names), reads)
