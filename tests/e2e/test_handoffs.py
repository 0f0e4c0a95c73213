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

import atexit
import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import uuid
from typing import Optional

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.e2e.aioproxy import start_proxy
from tests.e2e.test_affinity import TwoRegionCluster, request
from twisted_proxy_aio.cluster import AioError, find_swift_bin_dir

_PROXY_CONF = """\
[DEFAULT]
bind_ip = 127.0.0.1

[aio]
data_dir = {data_dir}
ephemeral = true
devices = 4
replicas = 3
part_power = 6
redis = false
ready_timeout = 300

[pipeline:main]
pipeline = catch_errors healthcheck proxy-logging cache proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
conn_timeout = 2
error_suppression_limit = 10

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
"""

_cluster: Optional[TwoRegionCluster] = None


def _one_region_cluster() -> TwoRegionCluster:
    global _cluster
    if _cluster is not None and _cluster.proxy.process.poll() is None:
        return _cluster
    try:
        find_swift_bin_dir()
    except AioError as error:
        raise SkipTest(str(error))
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    workdir = tempfile.mkdtemp(prefix="twisted-proxy-handoffs-", dir=base)
    try:
        config = os.path.join(workdir, "proxy-server.conf")
        with open(config, "w") as handle:
            handle.write(_PROXY_CONF.format(data_dir=os.path.join(workdir, "data")))
        proxy = start_proxy(config, timeout=300)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    found = glob.glob(os.path.join(workdir, "data", "aio-*"))
    cluster = TwoRegionCluster(proxy, workdir, found[0] if found else workdir)
    atexit.register(cluster.stop)
    if not found:
        raise AssertionError("the cluster's directory is missing")
    _cluster = cluster
    return cluster


def _object_server_pid(root: str, device: str) -> int:
    """
    The process id of the object server of C{device}, found by the port
    its configuration names.
    """
    index = device[len("sdb"):]
    with open(os.path.join(root, "etc", "object-server", f"{index}.conf")) as conf:
        match = re.search(r"^bind_port\s*=\s*(\d+)", conf.read(), re.M)
    assert match is not None
    port = match.group(1)
    for line in subprocess.check_output(["ss", "-tlnp"], text=True).splitlines():
        if f":{port} " in line:
            found = re.search(r"pid=(\d+)", line)
            if found:
                return int(found.group(1))
    raise AssertionError(f"no object server listens on port {port}")


class HandoffPutTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.cluster = _one_region_cluster()
        self.port = self.cluster.proxy.port

    def test_deadPrimary(self) -> None:
        """
        With one primary's object server killed, a PUT is answered 201 and
        three replicas are on disk: two on the live primaries and one on a
        handoff device; a GET then reads the object.
        """
        container = f"handoff-{uuid.uuid4().hex}"
        status, _ = request(self.port, "PUT", f"/v1/AUTH_test/{container}")
        self.assertEqual(status, 201)
        # An object that has sdb1 among its primaries.
        for number in range(200):
            obj = f"o{number}"
            if "sdb1" in self.cluster.primaries(container, obj):
                break
        else:
            raise AssertionError("no object name maps to sdb1")
        primaries = self.cluster.primaries(container, obj)
        pid = _object_server_pid(self.cluster.root, "sdb1")
        os.kill(pid, signal.SIGKILL)
        status, _ = request(self.port, "PUT", f"/v1/AUTH_test/{container}/{obj}",
                            body=b"handed off")
        self.assertEqual(status, 201)
        landed = self.cluster.data_devices(container, obj)
        self.assertEqual(len(landed), 3, landed)
        self.assertNotIn("sdb1", landed)
        handoffs = [device for device in landed if device not in primaries]
        self.assertEqual(len(handoffs), 1, (landed, primaries))
        self.assertEqual(
            request(self.port, "GET", f"/v1/AUTH_test/{container}/{obj}"),
            (200, b"handed off"))
