"""
End to end: objects written through twisted-proxy with C{X-Delete-At} or
C{X-Delete-After} reach the queue of Swift's object expirer, and one pass
of C{swift-object-expirer} removes them from storage and from their
container's listing; Swift's own C{swift-proxy-server} queues an object in
the very same queue entry.

One all-in-one cluster (real Swift storage servers, started by
C{twistd twisted-proxy}) serves every test of this module; it and any
Swift proxy a test starts are stopped by process id, also on failure.
The queue is read straight from the task containers' databases on the
container servers' devices (by a small script run with Swift's
C{ContainerBroker}), so what a proxy sent is judged by what the storage
servers did with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.aioproxy import (
    SWIFT_DEFAULTS,
    AioCluster,
    SharedFixture,
    SwiftProxy,
    request,
)

#: Prints, as JSON, every row of every C{.expiring_objects} task
#: container database under the devices directories given.
_READ_QUEUE = """\
import glob, json, os, sys
from swift.container.backend import ContainerBroker
rows = []
for devices in sys.argv[1:]:
    for path in glob.glob(os.path.join(devices, "*", "containers", "*", "*", "*", "*.db")):
        broker = ContainerBroker(path)
        broker._commit_puts()
        info = broker.get_info()
        if info["account"] != ".expiring_objects":
            continue
        for row in broker.get_objects():
            rows.append({"db": path, "container": info["container"],
                         "name": row["name"], "created_at": row["created_at"],
                         "deleted": row["deleted"]})
json.dump(rows, sys.stdout)
"""

_EXPIRER_CONF = SWIFT_DEFAULTS + """\

[object-expirer]
dequeue_from_legacy = true
internal_client_conf_path = {internal_client}
"""


class _Cluster(AioCluster):
    """
    twisted-proxy and its all-in-one cluster, and the files Swift's
    programs need to work on that cluster.
    """

    def __init__(self) -> None:
        super().__init__(
            "expirer", aio={"devices": 4, "replicas": 3, "part_power": 8,
                            "policies": "gold, ec", "ec_policies": "ec",
                            "ec_num_data_fragments": 4, "ec_num_parity_fragments": 2},
            app={"allow_open_expired": "true"},
            filters=("catch_errors", "gatekeeper", "healthcheck", "proxy-logging", "cache",
                     "slo"),
            programs=("swift-object-expirer",))
        try:
            self.write("read_queue.py", _READ_QUEUE)
        except BaseException:
            self.stop()
            raise

    def queue_rows(self) -> list[dict[str, Any]]:
        """
        Every row of the expirer queue, as each container server's
        database holds it.
        """
        script = os.path.join(self.workdir, "read_queue.py")
        output = subprocess.run(
            self.swift_command(script, *self.devices_dirs), check=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300).stdout
        rows: list[dict[str, Any]] = json.loads(output)
        return rows

    def run_container_updaters(self) -> str:
        """
        One pass of C{swift-container-updater} on every container server:
        how the account of the queue learns of new task containers (the
        container servers create them without telling it).
        """
        return self.run_once("swift-container-updater", *self.server_confs("container"))

    def run_expirer(self) -> str:
        """
        One pass of C{swift-object-expirer}; its log.
        """
        conf = self.write("expirer.conf", self.swift_conf_text(
            _EXPIRER_CONF, internal_client=self.internal_client_conf()))
        return self.run_once("swift-object-expirer", conf)


#: The cluster of this module's tests, started on first use and stopped
#: when the test process exits.
_shared_cluster = SharedFixture(_Cluster)


class _Base(SynchronousTestCase):
    #: The storage policy of the test's container.
    policy = "gold"

    def setUp(self) -> None:
        self.cluster = _shared_cluster()
        self.port = self.cluster.port
        self.container = f"expiring-{uuid.uuid4().hex}"
        status, _, _ = request(self.port, "PUT", f"/v1/AUTH_test/{self.container}",
                               {"X-Storage-Policy": self.policy})
        self.assertEqual(status, 201)

    def rows_for(self, obj: str) -> list[dict[str, Any]]:
        """
        The queue rows (on every container replica) of the objects of this
        test's container whose names start with C{obj}.
        """
        infix = f"-AUTH_test/{self.container}/{obj}"
        return [row for row in self.cluster.queue_rows() if infix in row["name"]]


class ExpirerTests(_Base):
    """
    One pass of C{swift-object-expirer} removes what twisted-proxy wrote
    with C{X-Delete-After}.
    """

    def test_deleteAfterReaped(self) -> None:
        """
        An object PUT with C{X-Delete-After: 1} is queued on every replica
        of its task container; once expired it is hidden (but opened with
        C{X-Open-Expired}, which this proxy allows); one expirer pass then
        removes it from storage, its container listing and the queue.
        """
        path = f"/v1/AUTH_test/{self.container}/o"
        status, _, _ = request(self.port, "PUT", path, {"X-Delete-After": "1"}, b"expiring")
        self.assertEqual(status, 201)
        # It may have expired already (a loaded machine is slow): open it.
        status, headers, _ = request(self.port, "HEAD", path, {"X-Open-Expired": "true"})
        self.assertEqual(status, 200)
        delete_at = int(headers["x-delete-at"])

        rows = self.rows_for("o")
        self.assertEqual({row["name"] for row in rows},
                         {f"{delete_at}-AUTH_test/{self.container}/o"})
        self.assertEqual(len({row["db"] for row in rows}), 3, rows)

        while time.time() < delete_at + 1:
            time.sleep(0.2)
        self.assertEqual(request(self.port, "GET", path)[0], 404)
        status, _, body = request(self.port, "GET", path, {"X-Open-Expired": "true"})
        self.assertEqual((status, body), (200, b"expiring"))
        listing = request(self.port, "GET", f"/v1/AUTH_test/{self.container}")[2]
        self.assertEqual(listing, b"o\n")

        log = self.cluster.run_container_updaters()
        log += self.cluster.run_expirer()

        status, _, _ = request(self.port, "HEAD", path,
                                {"X-Open-Expired": "true", "X-Newest": "true"})
        self.assertEqual(status, 404, log)
        status, _, listing = request(self.port, "GET", f"/v1/AUTH_test/{self.container}")
        self.assertEqual((status, listing), (204, b""), log)
        self.assertEqual([row for row in self.rows_for("o") if not row["deleted"]], [], log)

    def test_postDeleteAtQueued(self) -> None:
        """
        A POST setting C{X-Delete-At} queues the object as a PUT does.
        """
        path = f"/v1/AUTH_test/{self.container}/posted"
        self.assertEqual(request(self.port, "PUT", path, {}, b"x")[0], 201)
        self.assertEqual(self.rows_for("posted"), [])
        delete_at = int(time.time()) + 86400 * 3
        status, _, _ = request(self.port, "POST", path, {"X-Delete-At": str(delete_at)})
        self.assertEqual(status, 202)
        rows = self.rows_for("posted")
        self.assertEqual({row["name"] for row in rows},
                         {f"{delete_at}-AUTH_test/{self.container}/posted"})
        self.assertEqual(len({row["db"] for row in rows}), 3, rows)


class AsyncDeleteTests(_Base):
    """
    An SLO manifest deleted with C{?multipart-manifest=delete&async=true}
    goes at once; its segments are queued, and one expirer pass removes
    them.
    """

    def test_segmentsReaped(self) -> None:
        segments = f"{self.container}-segs"
        self.assertEqual(request(self.port, "PUT", f"/v1/AUTH_test/{segments}")[0], 201)
        for name, data in (("one", b"aaaa"), ("tw%C3%A9", b"bbbbbb")):
            status, _, _ = request(self.port, "PUT", f"/v1/AUTH_test/{segments}/{name}", {},
                                   data)
            self.assertEqual(status, 201)
        manifest = json.dumps([{"path": f"/{segments}/one"},
                               {"path": f"/{segments}/tw\u00e9"}]).encode("ascii")
        path = f"/v1/AUTH_test/{self.container}/manifest"
        status, _, body = request(self.port, "PUT", path + "?multipart-manifest=put", {},
                                  manifest)
        self.assertEqual(status, 201, body)
        info = json.loads(request(self.port, "GET", "/info")[2])
        self.assertIs(info["slo"]["allow_async_delete"], True)

        status, _, body = request(self.port, "DELETE",
                                  path + "?multipart-manifest=delete&async=true")
        self.assertEqual(status, 204, body)
        self.assertEqual(request(self.port, "HEAD", path)[0], 404)
        for name in ("one", "tw%C3%A9"):
            self.assertEqual(
                request(self.port, "HEAD", f"/v1/AUTH_test/{segments}/{name}")[0], 200)
        rows = [row for row in self.cluster.queue_rows()
                if f"-AUTH_test/{segments}/" in row["name"]]
        self.assertEqual({row["name"].split("-", 1)[1] for row in rows},
                         {f"AUTH_test/{segments}/one", f"AUTH_test/{segments}/tw\u00e9"})
        self.assertEqual(len(rows), 6, rows)

        log = self.cluster.run_container_updaters()
        log += self.cluster.run_expirer()
        for name in ("one", "tw%C3%A9"):
            status, _, _ = request(self.port, "HEAD", f"/v1/AUTH_test/{segments}/{name}",
                                   {"X-Newest": "true"})
            self.assertEqual(status, 404, log)
        listing = request(self.port, "GET", f"/v1/AUTH_test/{segments}")
        self.assertEqual(listing[:1], (204,), log)
        self.assertEqual([row for row in self.cluster.queue_rows()
                          if f"-AUTH_test/{segments}/" in row["name"] and not row["deleted"]],
                         [], log)

    def test_segmentsInTwoContainers(self) -> None:
        """
        Segments in several containers cannot be deleted asynchronously:
        400, and the manifest stays.
        """
        for name in ("a", "b"):
            self.assertEqual(request(self.port, "PUT",
                                     f"/v1/AUTH_test/{self.container}-{name}")[0], 201)
            self.assertEqual(request(self.port, "PUT",
                                     f"/v1/AUTH_test/{self.container}-{name}/s", {},
                                     b"x")[0], 201)
        manifest = json.dumps([{"path": f"/{self.container}-a/s"},
                               {"path": f"/{self.container}-b/s"}]).encode("ascii")
        path = f"/v1/AUTH_test/{self.container}/manifest"
        self.assertEqual(request(self.port, "PUT", path + "?multipart-manifest=put", {},
                                 manifest)[0], 201)
        status, _, body = request(self.port, "DELETE",
                                  path + "?multipart-manifest=delete&async=yes")
        self.assertEqual(status, 400)
        self.assertIn(b"All segments must be in one container.", body)
        self.assertEqual(request(self.port, "HEAD", path)[0], 200)


class ErasureCodedExpirerTests(ExpirerTests):
    """
    The same, for an object of an erasure-coded policy: its fragment
    archives' PUT and POST queue it too (as many queue updates as the
    policy's quorum asks), and C{X-Open-Expired} opens it.
    """

    policy = "ec"


class SwiftProxyComparisonTests(_Base):
    """
    Swift's C{swift-proxy-server} on the same cluster queues an object in
    the same task container, under the same name, as twisted-proxy.
    """

    def setUp(self) -> None:
        super().setUp()
        reference = SwiftProxy(self.cluster.swift_dir, self.cluster.workdir)
        self.addCleanup(reference.stop)
        self.swift_port = reference.port

    def test_sameQueueEntry(self) -> None:
        """
        The object written with C{X-Delete-At} through twisted-proxy, then
        through Swift's proxy: Swift's write updates the very rows
        twisted-proxy's made (same task container, same name, on the same
        three replicas), and makes no other.
        """
        path = f"/v1/AUTH_test/{self.container}/same \u00e9"
        quoted = path.replace(" ", "%20").replace("\u00e9", "%C3%A9")
        delete_at = int(time.time()) + 86400 * 3
        status, _, _ = request(self.port, "PUT", quoted, {"X-Delete-At": str(delete_at)}, b"a")
        self.assertEqual(status, 201)
        ours = self.rows_for("same ")
        self.assertEqual(len({row["db"] for row in ours}), 3, ours)
        self.assertEqual(len({(row["container"], row["name"]) for row in ours}), 1, ours)

        status, _, _ = request(self.swift_port, "PUT", quoted,
                                {"X-Delete-At": str(delete_at)}, b"b")
        self.assertEqual(status, 201)
        status, headers, _ = request(self.swift_port, "HEAD", quoted)
        self.assertEqual(status, 200)
        theirs = self.rows_for("same ")
        self.assertEqual(
            sorted((row["db"], row["container"], row["name"]) for row in theirs),
            sorted((row["db"], row["container"], row["name"]) for row in ours))
        self.assertEqual({row["created_at"] for row in theirs},
                         {headers["x-timestamp"]}, theirs)
