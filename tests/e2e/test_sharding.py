"""
End to end: sharded containers against Swift itself.

L{ShardedContainerTests} fills a container of the all-in-one cluster with
2,050 objects through twisted-proxy, shards it with Swift's own
C{swift-manage-shard-ranges ... find_and_replace ... --enable} and
C{swift-container-sharder ... once}, runs the reference
C{swift-proxy-server} 2.38.3 on the same cluster, and compares what both
proxies list, byte for byte. The other classes check the pure parts
(L{twisted_proxy.swift.shardrange} and the container listing model of
C{tests.test_container_shards}) against Swift's own code.
"""

from __future__ import annotations

import configparser
import glob
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from typing import Any, Optional
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.e2e.aioproxy import (
    REPO,
    Reply,
    RunningProxy,
    SharedFixture,
    SwiftProxy,
    request,
    start_proxy,
)
from tests.e2e.swifttools import swift_conf_command, swift_tool
from tests.test_container_shards import broker_listing
from twisted_proxy.swift.shardrange import (
    Namespace,
    NamespaceBoundList,
    filter_namespaces,
    find_namespace,
)

# -- the pure parts, against Swift's code -----------------------------------------

_names = st.text(alphabet="ab/-\u00e9\U0001f600", min_size=1, max_size=4)
_maybe_names = st.one_of(st.just(""), _names)


@st.composite
def _sorted_namespaces(draw: Any) -> list[Namespace]:
    """
    Sorted namespaces that may leave gaps and overlap at their ends.
    """
    bounds = sorted(draw(st.lists(_names, max_size=8)))
    pairs = [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds) - 1, 2)]
    if draw(st.booleans()):
        pairs.insert(0, ("", pairs[0][0] if pairs else ""))
    return [Namespace(f".shards_a/c-{i}", lower, upper)
            for i, (lower, upper) in enumerate(pairs)]


def _swift_utils() -> Any:
    try:
        from swift.common import utils
    except ImportError:
        raise SkipTest("needs the swift package")
    return utils


class SwiftAgreesTests(SynchronousTestCase):
    """
    L{twisted_proxy.swift.shardrange} decides as Swift's C{Namespace},
    C{NamespaceBoundList}, C{filter_namespaces} and C{find_namespace}.
    """

    def setUp(self) -> None:
        self.utils = _swift_utils()

    def swift(self, namespace: Namespace) -> Any:
        return self.utils.Namespace(namespace.name, namespace.lower, namespace.upper)

    def mine(self, namespace: Any) -> Namespace:
        return Namespace(namespace.name, namespace.lower_str, namespace.upper_str)

    @given(_maybe_names, _maybe_names, _names)
    def test_namespace(self, lower: str, upper: str, name: str) -> None:
        if lower and upper and lower > upper:
            lower, upper = upper, lower
        mine = Namespace("a/c", lower, upper)
        swift = self.swift(mine)
        self.assertEqual(name in mine, name in swift)
        self.assertEqual(mine.below(name), swift < name)
        self.assertEqual(mine.above(name), swift > name)
        self.assertEqual(mine.end_marker, swift.end_marker)

    @given(_sorted_namespaces(), _maybe_names, _maybe_names, _maybe_names)
    def test_filter(self, namespaces: list[Namespace], includes: str, marker: str,
                    end_marker: str) -> None:
        swift = [self.swift(n) for n in namespaces]
        expected = self.utils.filter_namespaces(swift, includes, marker, end_marker)
        self.assertEqual(filter_namespaces(namespaces, includes, marker, end_marker),
                         [self.mine(n) for n in expected])
        if includes:
            found = self.utils.find_namespace(includes, swift)
            self.assertEqual(find_namespace(includes, namespaces),
                             None if found is None else self.mine(found))

    @given(_sorted_namespaces(), _names)
    def test_boundList(self, namespaces: list[Namespace], name: str) -> None:
        swift = self.utils.NamespaceBoundList.parse([self.swift(n) for n in namespaces])
        mine = NamespaceBoundList.parse(namespaces)
        if swift is None:
            self.assertIsNone(mine)
            return
        assert mine is not None
        self.assertEqual(mine.bounds, swift.bounds)
        self.assertEqual(mine.namespaces(), [self.mine(n) for n in swift.get_namespaces()])
        try:
            expected: Optional[Any] = swift.get_namespace(name)
        except ValueError:
            expected = None
        if expected is None:
            self.assertRaises(ValueError, mine.get_namespace, name)
        else:
            self.assertEqual(mine.get_namespace(name), self.mine(expected))


class ListingModelTests(SynchronousTestCase):
    """
    The container listing model of the unit tests lists as Swift's
    C{ContainerBroker} does.
    """

    NAMES = ["a", "a/1", "a/2", "a/b/3", "a-", "b", "b/", "b//c", "c/x/y", "d",
             "\u00e9/1", "\u00e9/2", "\U0001f600"]

    def setUp(self) -> None:
        try:
            from swift.container.backend import ContainerBroker
        except ImportError:
            raise SkipTest("needs the swift package")
        timestamp = _swift_utils().Timestamp
        self.broker = ContainerBroker(os.path.join(self.mktemp(), "c.db"),
                                      account="a", container="c")
        self.broker.initialize(timestamp(1).internal, 0)
        for name in self.NAMES:
            self.broker.put_object(name, timestamp(2).internal, 1, "text/plain", "e")

    @settings(max_examples=300)
    @given(st.integers(1, 15), st.sampled_from(["", "a", "a/", "b", "b/", "c", "\u00e9/1"]),
           st.sampled_from([None, "", "a/2", "b/", "c", "z"]),
           st.sampled_from([None, "", "a", "a/", "b/", "\u00e9"]),
           st.sampled_from([None, "", "/", "-", "/b"]), st.booleans())
    def test_likeSwift(self, limit: int, marker: str, end_marker: Optional[str],
                       prefix: Optional[str], delimiter: Optional[str], reverse: bool
                       ) -> None:
        rows = self.broker.list_objects_iter(limit, marker, end_marker, prefix, delimiter,
                                             reverse=reverse)
        expected = [row[0] if row[3] is not None else ("subdir", row[0]) for row in rows]
        self.assertEqual(
            broker_listing(self.NAMES, limit, marker, end_marker, prefix, delimiter, reverse),
            expected)


# -- a sharded container on real storage servers ----------------------------------

#: Seconds the processes get to start on a busy machine.
_START_TIMEOUT = 600.0

CONTAINER = "sharded"
ACCOUNT = "AUTH_test"

#: 2,050 objects: pseudo-directories, non-ASCII and XML-special names.
OBJECT_NAMES = (
    [f"{d}/{i:04d}" for d in ("alpha", "beta", "gamma/sub", "delta") for i in range(500)]
    + [f"top-{i:02d}" for i in range(25)]
    + [f"\u00fcber/{i}" for i in range(10)]
    + [f"with space/{i}" for i in range(10)]
    + [f"x&y<z>/{i}" for i in range(5)]
)


def _request(port: int, method: str, path: str, headers: Optional[dict[str, str]] = None,
             body: bytes = b"") -> Reply:
    """
    L{request}, with time for a loaded machine.
    """
    return request(port, method, path, headers, body, timeout=300)


class ShardedCluster:
    """
    twisted-proxy with its all-in-one cluster (and private Redis), a
    container sharded there by Swift's tools, and swift-proxy-server on the
    same cluster. L{stop} ends every process it started, by pid.
    """

    def __init__(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix="twisted-proxy-sharding-")
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.data_dir = tempfile.mkdtemp(prefix="sharding-e2e-", dir=shm)
        self.proxy: Optional[RunningProxy] = None
        self.reference: Optional[SwiftProxy] = None
        self.reference_port = 0
        self.token = ""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    # -- lifecycle -------------------------------------------------------

    def _start(self) -> None:
        with open(os.path.join(REPO, "conf", "aio.conf")) as f:
            text = f.read()
        text = text.replace("[aio]\n", f"[aio]\ndata_dir = {self.data_dir}\n", 1)
        config = os.path.join(self.workdir, "aio.conf")
        with open(config, "w") as f:
            f.write(text)
        self.proxy = start_proxy(config, timeout=_START_TIMEOUT)
        [self.root] = glob.glob(os.path.join(self.data_dir, "aio-*"))
        self.etc = os.path.join(self.root, "etc")
        status, headers, _ = _request(self.proxy.port, "GET", "/auth/v1.0", {
            "X-Auth-User": "test:tester", "X-Auth-Key": "testing"})
        assert status == 200, status
        self.token = headers["x-auth-token"]
        self._fill()
        self._shard()
        # Like any client's HEAD, this refreshes the container info the
        # proxy trusts for recheck_container_existence seconds, which still
        # says the container is not sharded.
        status, _, _ = self.mine("HEAD", "")
        assert status == 204, status
        self.reference = SwiftProxy(self.etc, self.workdir, timeout=_START_TIMEOUT)
        self.reference_port = self.reference.port

    @property
    def running(self) -> bool:
        return self.proxy is not None and self.proxy.running

    def stop(self) -> None:
        if self.reference is not None:
            self.reference.stop()
        if self.proxy is not None:
            self.proxy.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- talking to the proxies ------------------------------------------

    def mine(self, method: str, path: str, query: str = "", body: bytes = b""
             ) -> tuple[int, dict[str, str], bytes]:
        """
        A request to twisted-proxy, as test:tester.
        """
        assert self.proxy is not None
        target = f"/v1/{ACCOUNT}/{CONTAINER}{path}" + (f"?{query}" if query else "")
        return _request(self.proxy.port, method, target, {"X-Auth-Token": self.token}, body)

    def theirs(self, method: str, path: str, query: str = ""
               ) -> tuple[int, dict[str, str], bytes]:
        """
        A request to swift-proxy-server (no auth).
        """
        target = f"/v1/{ACCOUNT}/{CONTAINER}{path}" + (f"?{query}" if query else "")
        return _request(self.reference_port, method, target)

    # -- setting up ------------------------------------------------------

    def _fill(self) -> None:
        status, _, _ = self.mine("PUT", "")
        assert status == 201, status
        failures: list[str] = []

        def put(names: list[str]) -> None:
            for name in names:
                status, _, _ = self.mine("PUT", "/" + quote(name.encode("utf-8")),
                                         body=name.encode("utf-8"))
                if status != 201:
                    failures.append(f"{name}: {status}")

        threads = [threading.Thread(target=put, args=(OBJECT_NAMES[i::8],))
                   for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, failures[:5]

    def _swift(self, program: str, *args: str) -> str:
        """
        Run one of Swift's programs with the cluster's swift.conf; its
        output.
        """
        process = subprocess.run(
            swift_conf_command(os.path.join(self.etc, "swift.conf"),
                               swift_tool(program), *args),
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=_START_TIMEOUT)
        if process.returncode != 0:
            raise AssertionError(f"{program} {args} exited with {process.returncode}:\n"
                                 f"{process.stdout[-2000:]}\n{process.stderr[-2000:]}")
        return process.stdout + process.stderr

    def _root_replicas(self) -> list[tuple[int, str, str]]:
        """
        Where the root container's database is: (port of its container
        server, device, partition) for each replica.
        """
        swift_conf = configparser.ConfigParser()
        swift_conf.read(os.path.join(self.etc, "swift.conf"))
        prefix = swift_conf.get("swift-hash", "swift_hash_path_prefix")
        suffix = swift_conf.get("swift-hash", "swift_hash_path_suffix")
        digest = hashlib.md5(f"{prefix}/{ACCOUNT}/{CONTAINER}{suffix}".encode()).hexdigest()
        found = []
        pattern = os.path.join(self.root, "data", "*", "*", "containers", "*", digest[-3:],
                               digest, digest + ".db")
        for db in sorted(glob.glob(pattern)):
            parts = db[len(self.root):].split(os.sep)
            index, device, part = parts[2], parts[3], parts[5]
            server = configparser.ConfigParser()
            server.read(os.path.join(self.etc, "container-server", f"{index}.conf"))
            found.append((int(server.get("DEFAULT", "bind_port")), device, part, db))
        assert len(found) == 3, found
        self.root_dbs = [db for _, _, _, db in found]
        return [(port, device, part) for port, device, part, _ in found]

    def root_states(self) -> list[str]:
        """
        The root's sharding state on each of its container servers.
        """
        states = []
        for port, device, part in self.replicas:
            status, headers, _ = _request(
                port, "HEAD", f"/{device}/{part}/{ACCOUNT}/{CONTAINER}")
            assert status == 204, status
            states.append(headers["x-backend-sharding-state"])
        return states

    def root_objects(self) -> list[str]:
        """
        The object rows of the root's own database (misplaced objects,
        once it is sharded), from its first container server.
        """
        port, device, part = self.replicas[0]
        status, _, body = _request(
            port, "GET", f"/{device}/{part}/{ACCOUNT}/{CONTAINER}?format=json",
            {"X-Backend-Record-Type": "object"})
        assert status == 200, status
        return [item["name"] for item in json.loads(body)]

    def _shard(self) -> None:
        """
        Shard the container as an operator would: shard ranges of 500
        objects found and enabled on one replica, then the sharder run on
        every container server until every replica is sharded.
        """
        self.replicas = self._root_replicas()
        work = os.path.join(self.workdir, "sharder")
        os.makedirs(work)
        internal_client = os.path.join(work, "internal-client.conf")
        with open(internal_client, "w") as f:
            f.write("\n".join([
                "[DEFAULT]", f"swift_dir = {self.etc}", "user = root",
                "log_udp_host = 127.0.0.1", "log_udp_port = 9",
                "[pipeline:main]", "pipeline = catch_errors proxy-logging cache proxy-server",
                "[app:proxy-server]", "use = egg:swift#proxy", "account_autocreate = true",
                "[filter:cache]", "use = egg:swift#memcache",
                "[filter:proxy-logging]", "use = egg:swift#proxy_logging",
                "[filter:catch_errors]", "use = egg:swift#catch_errors", ""]))
        sharder_confs = []
        for path in sorted(glob.glob(os.path.join(self.etc, "container-server", "*.conf"))):
            with open(path) as f:
                text = f.read()
            # The daemons drop privileges to user "swift" unless told, and
            # keep recon files in /var/cache/swift; one pass cleaves all.
            text = text.replace("[DEFAULT]\n",
                                f"[DEFAULT]\nuser = root\nrecon_cache_path = {work}\n", 1)
            text = text.replace("[container-sharder]\n", "[container-sharder]\n"
                                f"internal_client_conf_path = {internal_client}\n"
                                "cleave_batch_size = 10\n", 1)
            conf = os.path.join(work, "sharder-" + os.path.basename(path))
            with open(conf, "w") as f:
                f.write(text)
            sharder_confs.append(conf)
        self._swift("swift-manage-shard-ranges", self.root_dbs[0], "find_and_replace", "500",
                    "--enable", "--force")
        for _ in range(3):
            for conf in sharder_confs:
                self._swift("swift-container-sharder", conf, "once")
            if self.root_states() == ["sharded"] * 3:
                return
        raise AssertionError(f"not sharded: {self.root_states()}")


def _start_sharded_cluster() -> ShardedCluster:
    for program in ("swift-proxy-server", "swift-manage-shard-ranges",
                    "swift-container-sharder"):
        swift_tool(program)
    return ShardedCluster()


#: The cluster this module's tests share, built on first use and stopped
#: when the test process exits.
sharded_cluster = SharedFixture(_start_sharded_cluster, once=True)


#: Listings compared, as query strings.
QUERIES = [
    "format=json", "format=xml", "format=plain", "", "format=json&reverse=on",
    "format=json&limit=100&marker=beta/0450", "format=xml&limit=600&marker=alpha",
    "format=json&reverse=1&limit=700", "format=json&reverse=yes&marker=gamma/sub/0003",
    "format=json&prefix=gamma/", "format=plain&prefix=delta/03",
    "format=json&delimiter=/", "format=xml&delimiter=/", "delimiter=/&reverse=true",
    "format=json&prefix=gamma/&delimiter=/", "format=xml&delimiter=/&prefix=gamma/sub/",
    "format=json&end_marker=beta/0003&marker=alpha/0499",
    "format=json&end_marker=delta/0100&reverse=on&limit=50",
    "format=json&prefix=%C3%BC", "format=xml&prefix=x%26y", "format=json&prefix=nothing",
    "format=json&marker=zzz", "format=json&limit=0",
]


class ShardedContainerTests(SynchronousTestCase):
    """
    A container sharded by Swift's own tools lists through twisted-proxy
    exactly as through swift-proxy-server 2.38.3, and objects written
    through twisted-proxy after sharding are listed at once by both.
    """

    def setUp(self) -> None:
        self.cluster = sharded_cluster()

    def assertSameListing(self, query: str) -> bytes:
        mine = self.cluster.mine("GET", "", query)
        theirs = self.cluster.theirs("GET", "", query)
        self.assertEqual((mine[0], mine[2]), (theirs[0], theirs[2]), query)
        self.assertEqual(mine[1].get("content-type"), theirs[1].get("content-type"), query)
        return mine[2]

    def test_sharded(self) -> None:
        """
        The container is sharded on every replica, its objects are in its
        shards, and its root database holds none.
        """
        self.assertEqual(self.cluster.root_states(), ["sharded"] * 3)
        self.assertEqual(self.cluster.root_objects(), [])
        listed = json.loads(self.assertSameListing("format=json"))
        self.assertTrue(set(OBJECT_NAMES) <= {item["name"] for item in listed})

    def test_listings(self) -> None:
        """
        Whole listings, prefixes, delimiters, markers, reverse, in every
        format: the same bytes from both proxies.
        """
        for query in QUERIES:
            self.assertSameListing(query)
        # Again, now from the namespaces twisted-proxy cached.
        for query in QUERIES:
            self.assertSameListing(query)

    def test_paging(self) -> None:
        """
        Paging through with C{limit} and C{marker}, forward and in
        reverse, gives the same pages from both proxies.
        """
        for extra in ("", "&reverse=on"):
            marker = ""
            pages = 0
            while True:
                body = self.assertSameListing(
                    f"format=json&limit=333&marker={quote(marker.encode('utf-8'))}{extra}")
                page = json.loads(body)
                if not page:
                    break
                marker = page[-1]["name"]
                pages += 1
            self.assertGreaterEqual(pages, 7)

    def test_writesAfterSharding(self) -> None:
        """
        Objects written through twisted-proxy after sharding go to the
        shards (none to the root's database) and are listed at once by
        both proxies; a deleted one is gone from both at once.
        """
        new = ["aaa-first", "alpha/0250x", "beta/new \u00e9", "zzz-new"]
        for name in new:
            status, _, _ = self.cluster.mine("PUT", "/" + quote(name.encode("utf-8")),
                                             body=b"new")
            self.assertEqual(status, 201)
        for query in ("format=json", "format=xml", "format=plain&prefix=beta/n",
                      "format=json&delimiter=/&reverse=on"):
            self.assertSameListing(query)
        listed = {item["name"] for item in json.loads(self.assertSameListing("format=json"))}
        self.assertTrue(set(new) <= listed)
        self.assertEqual(self.cluster.root_objects(), [])
        status, _, _ = self.cluster.mine("DELETE", "/" + quote("alpha/0250x"))
        self.assertEqual(status, 204)
        listed = {item["name"] for item in json.loads(self.assertSameListing("format=json"))}
        self.assertNotIn("alpha/0250x", listed)
