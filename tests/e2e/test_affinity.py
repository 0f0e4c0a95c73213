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

import atexit
import configparser
import glob
import hashlib
import http.client
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from typing import Optional

from twisted.internet.task import Clock
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.e2e.aioproxy import RunningProxy, start_proxy
from twisted_proxy.swift.ring import RingSet
from twisted_proxy.swift.swiftconf import load_swift_conf
from twisted_proxy_aio.cluster import AioError, find_swift_bin_dir

__all__ = ["TwoRegionCluster", "two_region_cluster", "request"]

_PROXY_CONF = """\
[DEFAULT]
bind_ip = 127.0.0.1

[aio]
data_dir = {data_dir}
ephemeral = true
devices = 5
regions = 2
replicas = 3
part_power = 6
ready_timeout = 300
redis = false

[pipeline:main]
pipeline = catch_errors healthcheck proxy-logging cache proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
write_affinity = r1
write_affinity_node_count = 2 * replicas

[proxy-server:policy:1]
write_affinity =
sorting_method = affinity
read_affinity = r1=100

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
"""

#: The region of each device, as C{regions = 2} lays out five devices.
REGIONS = {"sdb1": 1, "sdb2": 1, "sdb3": 1, "sdb4": 2, "sdb5": 2}


@dataclass
class TwoRegionCluster:
    """
    The proxy and the layout of its cluster on disk.
    """

    proxy: RunningProxy
    workdir: str
    root: str

    @property
    def swift_dir(self) -> str:
        return os.path.join(self.root, "etc")

    def stop(self) -> None:
        self.proxy.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def object_hash(self, container: str, obj: str) -> str:
        """
        The hash directory name of C{AUTH_test/container/obj}.
        """
        parser = configparser.ConfigParser()
        parser.read(os.path.join(self.swift_dir, "swift.conf"))
        prefix = parser["swift-hash"]["swift_hash_path_prefix"]
        suffix = parser["swift-hash"]["swift_hash_path_suffix"]
        path = f"/AUTH_test/{container}/{obj}"
        return hashlib.md5((prefix + path + suffix).encode("utf-8")).hexdigest()

    def data_devices(self, container: str, obj: str, policy: int = 0) -> list[str]:
        """
        The devices holding a C{.data} file of the object, one entry per
        file.
        """
        objects = "objects" if policy == 0 else f"objects-{policy}"
        found = glob.glob(os.path.join(
            self.root, "data", "*", "sdb*", objects, "*", "*",
            self.object_hash(container, obj), "*.data"))
        return sorted(path.split(os.sep)[-6] for path in found)

    def primaries(self, container: str, obj: str, policy: int = 0) -> list[str]:
        """
        The devices of the object's primary nodes, by the ring.
        """
        conf = load_swift_conf(os.path.join(self.swift_dir, "swift.conf"))
        ring = RingSet(self.swift_dir, conf, Clock()).object_ring(policy)
        _, nodes = ring.get_nodes("AUTH_test", container, obj)
        return sorted(node["device"] for node in nodes)

    def object_log(self, device: str) -> str:
        """
        What object server C{sdbN} logged so far.
        """
        index = device[len("sdb"):]
        with open(os.path.join(self.root, "log", f"object-{index}.log"),
                  encoding="utf-8", errors="replace") as handle:
            return handle.read()


_cluster: Optional[TwoRegionCluster] = None


def two_region_cluster() -> TwoRegionCluster:
    """
    The module's cluster, started on first use.
    """
    global _cluster
    if _cluster is not None and _cluster.proxy.process.poll() is None:
        return _cluster
    try:
        find_swift_bin_dir()
    except AioError as error:
        raise SkipTest(str(error))
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    workdir = tempfile.mkdtemp(prefix="twisted-proxy-affinity-", dir=base)
    try:
        config = os.path.join(workdir, "proxy-server.conf")
        with open(config, "w") as handle:
            handle.write(_PROXY_CONF.format(data_dir=os.path.join(workdir, "data")))
        # Generous: a cluster starts in seconds, but minutes on a loaded
        # machine.
        proxy = start_proxy(config, timeout=300)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    try:
        [root] = glob.glob(os.path.join(workdir, "data", "aio-*"))
    except ValueError:
        proxy.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    cluster = TwoRegionCluster(proxy, workdir, root)
    atexit.register(cluster.stop)
    _cluster = cluster
    return cluster


def request(port: int, method: str, path: str,
            headers: Optional[dict[str, str]] = None,
            body: bytes = b"") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body if method in ("PUT", "POST") else None,
                     headers=headers or {})
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


class AffinityTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.cluster = two_region_cluster()
        self.port = self.cluster.proxy.port

    def container(self, policy: str) -> str:
        name = f"affinity-{uuid.uuid4().hex}"
        status, _ = request(self.port, "PUT", f"/v1/AUTH_test/{name}",
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
            status, _ = request(self.port, "PUT", path, body=b"local data")
            self.assertEqual(status, 201)
            self.assertIn(2, {REGIONS[d] for d in self.cluster.primaries(container, obj)})
            landed = self.cluster.data_devices(container, obj)
            self.assertEqual(len(landed), 3, landed)
            self.assertEqual({REGIONS[d] for d in landed}, {1}, landed)
            status, body = request(self.port, "GET", path)
            self.assertEqual((status, body), (200, b"local data"))
            status, _ = request(self.port, "DELETE", path)
            self.assertEqual(status, 204)
            self.assertEqual(self.cluster.data_devices(container, obj), [])

    def test_perPolicyNoWriteAffinity(self) -> None:
        """
        Policy 1's section turns write affinity off: replicas land on the
        primaries, in both regions.
        """
        container = self.container("silver")
        status, _ = request(self.port, "PUT", f"/v1/AUTH_test/{container}/o",
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
            status, _ = request(self.port, "PUT", f"/v1/AUTH_test/{container}/{obj}",
                                body=obj.encode("ascii"))
            self.assertEqual(status, 201)
        for _ in range(2):
            for obj in names:
                path = f"/v1/AUTH_test/{container}/{obj}"
                self.assertEqual(request(self.port, "GET", path),
                                 (200, obj.encode("ascii")))
                self.assertEqual(request(self.port, "HEAD", path)[0], 200)
        reads = {
            device: sum(1 for line in self.cluster.object_log(device).splitlines()
                        if f"/AUTH_test/{container}/" in line
                        and ('"GET ' in line or '"HEAD ' in line))
            for device in REGIONS}
        self.assertEqual([reads["sdb4"], reads["sdb5"]], [0, 0], reads)
        self.assertEqual(sum(reads.values()), 2 * 2 * len(names), reads)
