"""
End to end, symlinks: twisted-proxy and Swift's own swift-proxy-server
2.38.3 (with its C{symlink} middleware) on one all-in-one cluster
(C{conf/aio.conf}). A link, dynamic or static, that either proxy writes
the other follows; C{?symlink=get} and the JSON listings' C{symlink_path},
C{symlink_etag} and C{symlink_bytes} agree.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import tempfile
import uuid
from typing import Mapping, Optional, Sequence

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.aioproxy import REPO, SwiftProxy, start_proxy
from tests.e2e.test_ec import _SHM, ECCluster, Reply

__all__ = ["ReferenceCluster", "SymlinkCluster", "symlink_cluster"]


def _aio_config(data_dir: str, options: Mapping[str, Mapping[str, str]] = {}) -> str:
    """
    C{conf/aio.conf} with its cluster in C{data_dir}, and C{options} added
    to its sections (by section name).
    """
    with open(os.path.join(REPO, "conf", "aio.conf")) as f:
        text = f.read()
    text = text.replace("[aio]\n", f"[aio]\nready_timeout = 300\ndata_dir = {data_dir}\n", 1)
    for section, values in options.items():
        header = f"[{section}]\n"
        assert header in text, section
        lines = "".join(f"{name} = {value}\n" for name, value in values.items())
        text = text.replace(header, header + lines, 1)
    return text


class ReferenceCluster(ECCluster):
    """
    twisted-proxy on C{conf/aio.conf} and swift-proxy-server beside it
    with Swift's own C{filters} (see L{SwiftProxy}) and no authentication.

    @param prefix: names the temporary directories.
    @param app: options of Swift's proxy (C{[app:proxy-server]}).
    @param options: options added to the sections of twisted-proxy's
        C{conf/aio.conf}, by section name.
    """

    def __init__(self, prefix: str, filters: Sequence[str],
                 filter_options: Optional[Mapping[str, Mapping[str, str]]] = None,
                 app: Mapping[str, str] = {},
                 options: Mapping[str, Mapping[str, str]] = {}) -> None:
        self.data_dir = tempfile.mkdtemp(prefix=f"{prefix}-e2e-", dir=_SHM)
        self.workdir = tempfile.mkdtemp(prefix=f"{prefix}-e2e-conf-")
        self.reference: Optional[SwiftProxy] = None
        self.reference_port: Optional[int] = None
        config = os.path.join(self.workdir, "proxy.conf")
        with open(config, "w") as f:
            f.write(_aio_config(self.data_dir, options))
        try:
            self.proxy = start_proxy(config, timeout=240)
            roots = [d for d in os.listdir(self.data_dir) if d.startswith("aio-")]
            self.root = os.path.join(self.data_dir, roots[0])
            self.swift_dir = os.path.join(self.root, "etc")
            self.token, self.account = self._token()
            self.reference = SwiftProxy(
                self.swift_dir, self.workdir, filters,
                app={"conn_timeout": "0.5", "node_timeout": "10", **app},
                filter_options=filter_options)
            self.reference_port = self.reference.port
        except BaseException:
            self.stop()
            raise

    @property
    def running(self) -> bool:
        """
        Whether both proxies still run.
        """
        return (self.proxy.running and self.reference is not None
                and self.reference.process.poll() is None)


class SymlinkCluster(ReferenceCluster):
    """
    A L{ReferenceCluster} whose Swift proxy has Swift's C{symlink} and
    C{versioned_writes} (object versioning allowed) middlewares.
    """

    def __init__(self) -> None:
        super().__init__(
            "symlink", ("listing_formats", "copy", "slo", "dlo", "versioned_writes", "symlink"),
            {"versioned_writes": {"allow_versioned_writes": "true",
                                  "allow_object_versioning": "true"}})


_shared: Optional[SymlinkCluster] = None
_failed: Optional[BaseException] = None


def symlink_cluster() -> SymlinkCluster:
    """
    The cluster of the symlink and versioning interop tests, started on
    first use and stopped when the test process exits.
    """
    global _shared, _failed
    if _failed is not None:
        raise RuntimeError(f"the cluster did not start: {_failed}")
    if _shared is None:
        try:
            _shared = SymlinkCluster()
        except BaseException as error:
            _failed = error
            raise
        atexit.register(_shared.stop)
    return _shared


_PROXIES = ("twisted", "swift")


class SymlinkInteropTests(SynchronousTestCase):
    """
    Links written through one proxy, followed and listed through the other.
    """

    def setUp(self) -> None:
        self.cluster = symlink_cluster()
        self.container = f"sym-{uuid.uuid4().hex}"
        status, _, _ = self.cluster.request("PUT", self.cluster.path(self.container))
        self.assertIn(status, (201, 202))

    def request(self, which: str, method: str, name: Optional[str] = None,
                headers: Optional[dict[str, str]] = None, body: Optional[bytes] = None,
                query: str = "") -> Reply:
        path = self.cluster.path(self.container, name) + (f"?{query}" if query else "")
        return self.cluster.request(method, path, headers, body, which=which)

    def put_target(self, name: str, body: bytes) -> str:
        status, headers, _ = self.request(
            "twisted", "PUT", name, {"Content-Type": "text/x-target"}, body)
        self.assertEqual(status, 201)
        return headers["etag"]

    def listing(self, which: str) -> dict[str, dict[str, object]]:
        status, _, body = self.request(which, "GET", query="format=json")
        self.assertEqual(status, 200)
        return {item["name"]: item for item in json.loads(body)}

    def assertFollowed(self, link: str, body: bytes, target: str) -> None:
        """
        Both proxies follow C{link} to C{target}, and show the link itself
        alike with C{?symlink=get}.
        """
        for which in _PROXIES:
            status, headers, data = self.request(which, "GET", link)
            self.assertEqual((status, data), (200, body), which)
            self.assertEqual(headers["content-location"],
                             f"/v1/{self.cluster.account}/{self.container}/{target}", which)
            status, headers, _ = self.request(which, "HEAD", link)
            self.assertEqual(status, 200, which)
            self.assertEqual(headers["etag"], hashlib.md5(body).hexdigest(), which)
        ours = self.request("twisted", "GET", link, query="symlink=get")
        theirs = self.request("swift", "GET", link, query="symlink=get")
        self.assertEqual(ours[0], 200)
        self.assertEqual(ours[2], b"")
        self.assertEqual(ours[0], theirs[0])
        for name in ("x-symlink-target", "x-symlink-target-etag", "x-symlink-target-bytes",
                     "x-symlink-target-account", "content-type", "etag", "content-length",
                     "x-timestamp"):
            self.assertEqual(ours[1].get(name), theirs[1].get(name), name)

    def assertListingsAgree(self) -> dict[str, dict[str, object]]:
        ours = self.listing("twisted")
        theirs = self.listing("swift")
        self.assertEqual(ours, theirs)
        return ours

    def test_dynamicLinks(self) -> None:
        """
        A dynamic link made through either proxy is followed by both, and
        both list it with the same C{symlink_path}.
        """
        body = b"dynamic target"
        self.put_target("target", body)
        for which in _PROXIES:
            status, _, _ = self.request(which, "PUT", f"link-{which}",
                                        {"X-Symlink-Target": f"{self.container}/target"}, b"")
            self.assertEqual(status, 201, which)
            self.assertFollowed(f"link-{which}", body, "target")
        listing = self.assertListingsAgree()
        self.assertEqual(listing["link-swift"]["symlink_path"],
                         f"/v1/{self.cluster.account}/{self.container}/target")
        self.assertNotIn("symlink_etag", listing["link-swift"])

    def test_staticLinks(self) -> None:
        """
        A static link made through either proxy is followed by both; its
        etag and size are listed alike; once its target changes both
        refuse it with a C{409}.
        """
        body = b"static target body"
        etag = self.put_target("target", body)
        for which in _PROXIES:
            status, _, _ = self.request(which, "PUT", f"link-{which}", {
                "X-Symlink-Target": f"{self.container}/target",
                "X-Symlink-Target-Etag": etag}, b"")
            self.assertEqual(status, 201, which)
            self.assertFollowed(f"link-{which}", body, "target")
        listing = self.assertListingsAgree()
        self.assertEqual(listing["link-twisted"]["symlink_etag"], etag)
        self.assertEqual(listing["link-twisted"]["symlink_bytes"], len(body))
        self.put_target("target", b"changed")
        for which in _PROXIES:
            for link in ("link-twisted", "link-swift"):
                status, _, _ = self.request(which, "GET", link)
                self.assertEqual(status, 409, (which, link))

    def test_chainsAndCrossAccountPaths(self) -> None:
        """
        A chain of links written alternately by the two proxies is
        followed to its end by both; a link naming its account explicitly
        lists the same path.
        """
        body = b"end of the chain"
        self.put_target("end", body)
        previous = "end"
        for index, which in enumerate(("swift", "twisted")):
            name = f"hop{index}"
            status, _, _ = self.request(which, "PUT", name, {
                "X-Symlink-Target": f"{self.container}/{previous}",
                "X-Symlink-Target-Account": self.cluster.account}, b"")
            self.assertEqual(status, 201)
            previous = name
        for which in _PROXIES:
            status, headers, data = self.request(which, "GET", previous)
            self.assertEqual((status, data), (200, body), which)
        self.assertListingsAgree()

    def test_refusalsAgree(self) -> None:
        """
        Both proxies refuse alike a static link to a missing object or with
        the wrong etag, and a link with a body.
        """
        etag = self.put_target("target", b"x")
        cases = [
            {"X-Symlink-Target": f"{self.container}/missing",
             "X-Symlink-Target-Etag": etag},
            {"X-Symlink-Target": f"{self.container}/target",
             "X-Symlink-Target-Etag": "0" * 32},
            {"X-Symlink-Target": "no-slash"},
        ]
        for headers in cases:
            ours = self.request("twisted", "PUT", "bad", headers, b"")
            theirs = self.request("swift", "PUT", "bad", headers, b"")
            self.assertEqual(ours[0], theirs[0], headers)
        ours = self.request("twisted", "PUT", "bad",
                            {"X-Symlink-Target": f"{self.container}/target"}, b"body")
        theirs = self.request("swift", "PUT", "bad",
                              {"X-Symlink-Target": f"{self.container}/target"}, b"body")
        self.assertEqual((ours[0], ours[2]), (theirs[0], theirs[2]))


class VersioningInteropTests(SynchronousTestCase):
    """
    Object versioning: versions written through either proxy are listed,
    read and restored alike through the other.
    """

    def setUp(self) -> None:
        self.cluster = symlink_cluster()
        self.container = f"ver-{uuid.uuid4().hex}"
        status, _, _ = self.cluster.request("PUT", self.cluster.path(self.container),
                                            {"X-Versions-Enabled": "true"})
        self.assertIn(status, (201, 202))

    def request(self, which: str, method: str, name: Optional[str] = None,
                headers: Optional[dict[str, str]] = None, body: Optional[bytes] = None,
                query: str = "") -> Reply:
        path = self.cluster.path(self.container, name) + (f"?{query}" if query else "")
        return self.cluster.request(method, path, headers, body, which=which)

    def versions(self, which: str) -> list[dict[str, object]]:
        status, _, body = self.request(which, "GET", query="versions&format=json")
        self.assertEqual(status, 200, which)
        return [{k: v for k, v in item.items() if k != "last_modified"}
                for item in json.loads(body)]

    def test_versionsAgree(self) -> None:
        """
        Writes and a delete through alternating proxies make one history:
        both list it alike, read each version alike, and restore it.
        """
        ids = []
        for index, which in enumerate(("twisted", "swift", "twisted")):
            status, headers, _ = self.request(which, "PUT", "o", {"Content-Type": "text/x"},
                                              f"body {index}".encode())
            self.assertEqual(status, 201, which)
            ids.append(headers["x-object-version-id"])
        for which in _PROXIES:
            status, headers, body = self.request(which, "GET", "o")
            self.assertEqual((status, body), (200, b"body 2"), which)
            self.assertEqual(headers["x-object-version-id"], ids[2], which)
        ours, theirs = self.versions("twisted"), self.versions("swift")
        self.assertEqual(ours, theirs)
        self.assertEqual([(i["version_id"], i["is_latest"]) for i in ours],
                         [(ids[2], True), (ids[1], False), (ids[0], False)])
        for index, version_id in enumerate(ids):
            for which in _PROXIES:
                status, headers, body = self.request(which, "GET", "o",
                                                     query=f"version-id={version_id}")
                self.assertEqual((status, body), (200, f"body {index}".encode()), which)
        status, headers, _ = self.request("swift", "DELETE", "o")
        self.assertEqual(status, 204)
        marker = headers["x-object-version-id"]
        for which in _PROXIES:
            self.assertEqual(self.request(which, "GET", "o")[0], 404, which)
            status, headers, _ = self.request(which, "HEAD", "o",
                                              query=f"version-id={marker}")
            self.assertEqual(status, 404, which)
        self.assertEqual(self.versions("twisted"), self.versions("swift"))
        status, _, _ = self.request("twisted", "PUT", "o", {"Content-Length": "0"}, b"",
                                    query=f"version-id={ids[0]}")
        self.assertEqual(status, 201)
        for which in _PROXIES:
            status, headers, body = self.request(which, "GET", "o")
            self.assertEqual((status, body), (200, b"body 0"), which)
            self.assertEqual(headers["x-object-version-id"], ids[0], which)
        self.assertEqual(self.versions("twisted"), self.versions("swift"))
        listed = self.request("twisted", "GET", query="format=json")
        reference = self.request("swift", "GET", query="format=json")
        self.assertEqual(json.loads(listed[2]), json.loads(reference[2]))
        for name in ("x-container-bytes-used", "x-versions-enabled"):
            self.assertEqual(listed[1].get(name), reference[1].get(name), name)
