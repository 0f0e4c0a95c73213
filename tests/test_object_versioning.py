"""
Tests for L{twisted_proxy.plugins.object_versioning} and its place in the
C{versioned_writes} plugin.
"""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import FileBodyProducer
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.doubles import partial_context
from tests.fakenodes import make_swift_conf
from twisted_proxy.info.cache import INFO_ENVIRON_KEY, InfoCache, container_key
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter
from twisted_proxy.plugins._support.subrequest import read_body
from twisted_proxy.plugins.object_versioning import (
    DELETE_MARKER_CONTENT_TYPE,
    ObjectVersioning,
    listing_unchanged,
    parse_version_object_name,
    reserved_name,
    rewrite_listing_item,
    split_reserved_name,
    version_object_name,
    versions_container_name,
)
from twisted_proxy.plugins.versioned_writes import (
    StackedFilters,
    VersionedWrites,
    versionedWritesPlugin,
)
from twisted_proxy.swift.constraints import Constraints
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse
from twisted_proxy.swift.listing import LISTING_REWRITES_ENVIRON_KEY, RAW_UNCHANGED_ATTRIBUTE
from twisted_proxy.swift.timestamp import Timestamp

VERSIONS = "\x00versions\x00c"

Handler = Callable[[SwiftRequest], SwiftResponse]


class _Context:
    def __init__(self) -> None:
        self.reactor = Clock()
        self.reactor.advance(1700000000)
        self.info_cache = InfoCache(MemoryInfoStore(self.reactor), 60, 60)
        self.constraints = Constraints()
        self.swift_conf = make_swift_conf()
        self.info: dict[str, Any] = {}

    def register_info(self, name: str, **info: Any) -> None:
        self.info[name] = info


@implementer(IProxyApplication)
class _App:
    """
    The rest of the pipeline: answers by C{(method, path)} from
    C{handlers} (404 otherwise); container HEADs answer from C{containers}
    (status, sysmeta), as the controller would, leaving the info behind.
    """

    def __init__(self) -> None:
        self.handlers: dict[tuple[str, str], Handler] = {}
        self.containers: dict[str, tuple[int, dict[str, str]]] = {}
        self.calls: list[SwiftRequest] = []
        self.bodies: dict[str, bytes] = {}

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        return Deferred.fromCoroutine(self._answer(request))

    async def _answer(self, request: SwiftRequest) -> SwiftResponse:
        self.calls.append(request)
        if request.body is not None:
            self.bodies[request.path] = await read_body(request.body)
        handler = self.handlers.get((request.method, request.path))
        if handler is not None:
            return handler(request)
        parts = request.path.split("/")
        if request.method == "HEAD" and len(parts) == 4 and parts[3] in self.containers:
            status, sysmeta = self.containers[parts[3]]
            cache = request.environ.setdefault(INFO_ENVIRON_KEY, {})
            cache[container_key(parts[2], parts[3])] = {
                "status": status, "write_acl": None, "storage_policy": "0",
                "sysmeta": {k[len("X-Container-Sysmeta-"):].lower(): v
                            for k, v in sysmeta.items()}}
            return SwiftResponse(status, dict(sysmeta), b"")
        return SwiftResponse(404, {}, b"")

    def find(self, method: str, path: str) -> list[SwiftRequest]:
        return [r for r in self.calls if r.method == method and r.path == path]


def _request(method: str, uri: str, headers: Optional[dict[str, str]] = None,
             body: Optional[bytes] = None) -> SwiftRequest:
    request = SwiftRequest(method, uri.encode("ascii"), HeaderDict(headers or {}))
    if body is not None:
        request.body = FileBodyProducer(BytesIO(body), cooperator=_Now())
        request.headers["Content-Length"] = str(len(body))
    return request


class _Now:
    """
    A cooperator that runs its tasks at once.
    """

    def cooperate(self, iterator: Any) -> Any:
        for _ in iterator:
            pass

        class _Task:
            def whenDone(self) -> "Deferred[None]":
                return succeed(None)

        return _Task()


def _answer(status: int, headers: Optional[dict[str, str]] = None,
            body: bytes = b"") -> Handler:
    return lambda request: SwiftResponse(status, dict(headers or {}), body)


class NameTests(SynchronousTestCase):
    """
    The reserved names are Swift's.
    """

    def test_reservedName(self) -> None:
        self.assertEqual(reserved_name("versions", "c"), VERSIONS)
        self.assertEqual(versions_container_name("c"), VERSIONS)
        self.assertEqual(split_reserved_name(VERSIONS), ["versions", "c"])
        self.assertRaises(ValueError, reserved_name, "a\x00b")
        self.assertRaises(ValueError, split_reserved_name, "plain")

    def test_versionObjectName(self) -> None:
        """
        A version's name holds the inverted timestamp (Swift's C{~Timestamp}),
        and gives the version id back.
        """
        name = version_object_name("o", "1700000000.12345")
        self.assertEqual(name, "\x00o\x008299999999.87654")
        self.assertEqual(parse_version_object_name(name), ("o", "1700000000.12345"))
        self.assertEqual(parse_version_object_name("o"), ("o", None))
        self.assertEqual(parse_version_object_name("\x00o\x00junk"), ("\x00o\x00junk", None))
        self.assertRaises(ValueError, version_object_name, "o", "junk")

    def test_inverted(self) -> None:
        """
        L{Timestamp.inverted} reverses the order, offsets included, and is
        its own inverse (values from Swift 2.38.3).
        """
        stamp = Timestamp("1700000000.12345_0000000000000001")
        self.assertEqual(stamp.inverted().internal, "8299999999.87653_ffffffffffffffff")
        self.assertEqual(stamp.inverted().inverted(), stamp)
        self.assertEqual(Timestamp(0).inverted().internal, "9999999999.99999")
        self.assertLess(Timestamp(2).inverted(), Timestamp(1).inverted())


class ListingItemTests(SynchronousTestCase):
    def item(self) -> dict[str, Any]:
        return {"name": "o", "bytes": 0, "hash": "d41d8cd98f00b204e9800998ecf8427e",
                "symlink_path": "/v1/a/%00versions%00c/%00o%008299999999.87654",
                "symlink_etag": "abc", "symlink_bytes": 5}

    def test_latestPointer(self) -> None:
        """
        A latest pointer shows its version's size and etag and names the
        version as C{?version-id}.
        """
        item = rewrite_listing_item(self.item(), VERSIONS, "c", False)
        self.assertEqual(item, {"name": "o", "bytes": 5, "hash": "abc",
                                "symlink_path": "/v1/a/c/o?version-id=1700000000.12345",
                                "version_symlink": True})

    def test_versionsListing(self) -> None:
        """
        In a C{?versions} listing the pointer keeps its path, for matching.
        """
        item = rewrite_listing_item(self.item(), VERSIONS, "c", True)
        self.assertEqual(item["symlink_path"], self.item()["symlink_path"])

    def test_otherLinksUntouched(self) -> None:
        item = dict(self.item(), symlink_path="/v1/a/elsewhere/o")
        self.assertEqual(rewrite_listing_item(dict(item), VERSIONS, "c", False), item)
        plain = {"name": "o", "bytes": 1, "hash": "x"}
        self.assertEqual(rewrite_listing_item(dict(plain), VERSIONS, "c", False), plain)


class ListingUnchangedTests(SynchronousTestCase):
    """
    L{listing_unchanged} tells which container server JSON listings the
    listing rewrite leaves as they are.
    """

    def rewritten(self, body: bytes) -> bytes:
        items = [rewrite_listing_item(item, VERSIONS, "c", False)
                 for item in json.loads(body)]
        return json.dumps(items).encode("ascii")

    def test_unchanged(self) -> None:
        """
        A listing in which no entry can have a C{symlink_path} is
        unchanged; one with a latest pointer, or the word, or an escape
        that might spell it, is not said to be.
        """
        plain = {"name": "o", "bytes": 0, "hash": "d41d8cd98f00b204e9800998ecf8427e"}
        body = json.dumps([plain, {"subdir": "p/"}]).encode("ascii")
        self.assertTrue(listing_unchanged(body))
        self.assertEqual(self.rewritten(body), body)
        pointer = ListingItemTests().item()
        for items in ([plain, pointer], [dict(plain, name="symlink_path")],
                      [dict(plain, name="caf\xe9")]):
            body = json.dumps(items).encode("ascii")
            self.assertFalse(listing_unchanged(body), body)
        escaped = json.dumps([pointer]).replace("symlink_path", "symlink\\u005fpath")
        self.assertFalse(listing_unchanged(escaped.encode("ascii")))
        self.assertNotEqual(self.rewritten(escaped.encode("ascii")), escaped.encode("ascii"))


class FactoryTests(SynchronousTestCase):
    def test_objectVersioning(self) -> None:
        """
        C{allow_object_versioning} stacks object versioning under legacy
        versioning and lists it in C{/info}.
        """
        context = _Context()
        made = versionedWritesPlugin.make_filter(
            {"allow_versioned_writes": "true", "allow_object_versioning": "true"},
            partial_context(context))
        self.assertIsInstance(made, StackedFilters)
        assert isinstance(made, StackedFilters)
        self.assertIsInstance(made.outer, VersionedWrites)
        self.assertIsInstance(made.inner, ObjectVersioning)
        self.assertTrue(verifyObject(IProxyFilter, made.inner))
        self.assertEqual(context.info["object_versioning"], {})

    def test_off(self) -> None:
        context = _Context()
        made = versionedWritesPlugin.make_filter({"allow_object_versioning": "false"},
                                                partial_context(context))
        self.assertIsInstance(made, VersionedWrites)
        self.assertNotIn("object_versioning", context.info)


class _Base(SynchronousTestCase):
    def setUp(self) -> None:
        self.context = _Context()
        self.app = _App()
        self.ov = ObjectVersioning(self.context.info_cache, self.context.swift_conf,
                                   self.context.reactor, self.context.constraints.max_file_size)

    def call(self, request: SwiftRequest) -> SwiftResponse:
        return self.successResultOf(self.ov(request, self.app))

    def versioned(self, enabled: bool = True) -> None:
        self.app.containers["c"] = (204, {
            "X-Container-Sysmeta-Versions-Container": "%00versions%00c",
            "X-Container-Sysmeta-Versions-Enabled": str(enabled)})


class ContainerTests(_Base):
    def test_enable(self) -> None:
        """
        C{X-Versions-Enabled: true} makes the versions container in the
        container's policy and stores the flag and its name as sysmeta.
        """
        self.app.containers["c"] = (204, {})
        self.app.handlers[("PUT", "/v1/a/" + VERSIONS)] = _answer(201)
        self.app.handlers[("POST", "/v1/a/c")] = _answer(204)
        response = self.call(_request("POST", "/v1/a/c", {"X-Versions-Enabled": "true"}))
        self.assertEqual(response.status, 204)
        made = self.app.find("PUT", "/v1/a/" + VERSIONS)[0]
        self.assertEqual(made.headers["X-Storage-Policy"], "gold")
        self.assertEqual(made.headers["X-Backend-Allow-Reserved-Names"], "true")
        self.assertNotIn("swift.authorize", made.environ)
        post = self.app.find("POST", "/v1/a/c")[0]
        self.assertEqual(post.headers["X-Container-Sysmeta-Versions-Enabled"], "True")
        self.assertEqual(post.headers["X-Container-Sysmeta-Versions-Container"],
                         "%00versions%00c")

    def test_enableFailsCleansUp(self) -> None:
        """
        When the container itself cannot be written, the versions container
        just made is deleted again.
        """
        self.app.handlers[("PUT", "/v1/a/" + VERSIONS)] = _answer(201)
        self.app.handlers[("PUT", "/v1/a/c")] = _answer(507)
        self.app.handlers[("DELETE", "/v1/a/" + VERSIONS)] = _answer(204)
        response = self.call(_request("PUT", "/v1/a/c", {"X-Versions-Enabled": "true"}))
        self.assertEqual(response.status, 507)
        self.assertEqual(len(self.app.find("DELETE", "/v1/a/" + VERSIONS)), 1)

    def test_enableVersionsContainerFails(self) -> None:
        self.app.containers["c"] = (204, {})
        self.app.handlers[("PUT", "/v1/a/" + VERSIONS)] = _answer(503)
        response = self.call(_request("POST", "/v1/a/c", {"X-Versions-Enabled": "true"}))
        self.assertEqual(response.status, 500)
        self.assertEqual(self.app.find("POST", "/v1/a/c"), [])

    def test_legacyRefused(self) -> None:
        """
        A container versioned the legacy way cannot enable object
        versioning (400), nor can a syncing one.
        """
        self.app.containers["c"] = (204, {"X-Container-Sysmeta-Versions-Location": "old"})
        response = self.call(_request("POST", "/v1/a/c", {"X-Versions-Enabled": "true"}))
        self.assertEqual(response.status, 400)
        self.assertIn(b"legacy versioned writes", response.body)  # type: ignore[arg-type]

    def test_syncRefused(self) -> None:
        request = _request("POST", "/v1/a/c", {"X-Versions-Enabled": "true"})
        request.environ[INFO_ENVIRON_KEY] = {container_key("a", "c"): {
            "status": 204, "sync_to": "//realm/cluster/a/c", "sysmeta": {}}}
        self.assertEqual(self.call(request).status, 400)

    def test_headShowsFlagAndBytes(self) -> None:
        """
        A HEAD shows C{X-Versions-Enabled} and counts the versions' bytes;
        sysmeta stays hidden from the client.
        """
        self.app.handlers[("HEAD", "/v1/a/c")] = _answer(204, {
            "X-Container-Sysmeta-Versions-Container": "%00versions%00c",
            "X-Container-Sysmeta-Versions-Enabled": "True",
            "X-Container-Bytes-Used": "10"})
        self.app.handlers[("HEAD", "/v1/a/" + VERSIONS)] = _answer(
            204, {"X-Container-Bytes-Used": "32"})
        response = self.call(_request("HEAD", "/v1/a/c"))
        self.assertEqual(response.headers["X-Versions-Enabled"], "True")
        self.assertEqual(response.headers["X-Container-Bytes-Used"], "42")
        self.assertNotIn("X-Container-Sysmeta-Versions-Enabled", response.headers)

    def test_infoCountsVersionsBytes(self) -> None:
        """
        The container's info, as the controller left it for the request,
        counts the versions' bytes too (container quotas read it).
        """
        def head(request: SwiftRequest) -> SwiftResponse:
            request.environ.setdefault(INFO_ENVIRON_KEY, {})[container_key("a", "c")] = {
                "status": 204, "bytes": 10, "sysmeta": {}}
            return SwiftResponse(204, {
                "X-Container-Sysmeta-Versions-Container": "%00versions%00c",
                "X-Container-Bytes-Used": "10"})

        self.app.handlers[("HEAD", "/v1/a/c")] = head
        self.app.handlers[("HEAD", "/v1/a/" + VERSIONS)] = _answer(
            204, {"X-Container-Bytes-Used": "32"})
        request = _request("HEAD", "/v1/a/c")
        self.call(request)
        self.assertEqual(request.environ[INFO_ENVIRON_KEY][container_key("a", "c")]["bytes"],
                         42)

    def test_deleteWithVersionsRefused(self) -> None:
        """
        A container whose versions remain cannot be deleted (409); once
        they are gone the versions container goes first.
        """
        self.versioned(False)
        self.app.handlers[("HEAD", "/v1/a/" + VERSIONS)] = _answer(
            204, {"X-Container-Object-Count": "3"})
        self.assertEqual(self.call(_request("DELETE", "/v1/a/c")).status, 409)
        self.assertEqual(self.app.find("DELETE", "/v1/a/c"), [])
        self.app.handlers[("HEAD", "/v1/a/" + VERSIONS)] = _answer(
            204, {"X-Container-Object-Count": "0"})
        self.app.handlers[("DELETE", "/v1/a/" + VERSIONS)] = _answer(204)
        self.app.handlers[("DELETE", "/v1/a/c")] = _answer(204)
        self.assertEqual(self.call(_request("DELETE", "/v1/a/c")).status, 204)

    def test_deleteVersionsContainerFails(self) -> None:
        self.versioned(False)
        self.app.handlers[("HEAD", "/v1/a/" + VERSIONS)] = _answer(503)
        self.assertEqual(self.call(_request("DELETE", "/v1/a/c")).status, 500)


class VersionsListingTests(_Base):
    def setUp(self) -> None:
        super().setUp()
        self.versioned()
        primary = [{"name": "o", "bytes": 0, "hash": "d41d8cd98f00b204e9800998ecf8427e",
                    "content_type": "text/plain", "last_modified": "2023-11-14T22:13:20",
                    "symlink_path": "/v1/a/%00versions%00c/%00o%008299999999.87654",
                    "symlink_etag": "e2", "symlink_bytes": 2},
                   {"name": "plain", "bytes": 1, "hash": "p", "content_type": "x/y",
                    "last_modified": "2023-11-14T22:13:20"}]

        def listing(request: SwiftRequest) -> SwiftResponse:
            from twisted_proxy.swift.listing import apply_listing_rewrites

            items = apply_listing_rewrites(request.environ, json.loads(json.dumps(primary)))
            return SwiftResponse(200, {"X-Container-Object-Count": "2"},
                                 json.dumps(items).encode())

        self.app.handlers[("GET", "/v1/a/c")] = listing
        versions = [
            {"name": version_object_name("o", "1700000000.12345"), "bytes": 2, "hash": "e2",
             "content_type": "text/plain", "last_modified": "x"},
            {"name": version_object_name("o", "1600000000.00000"), "bytes": 1, "hash": "e1",
             "content_type": "text/plain", "last_modified": "x"}]
        self.app.handlers[("GET", "/v1/a/" + VERSIONS)] = _answer(
            200, {}, json.dumps(versions).encode())

    def test_list(self) -> None:
        """
        Every version with its id; the pointer's version and the
        unversioned object are the latest.
        """
        response = self.call(_request("GET", "/v1/a/c?versions&format=json"))
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["Content-Type"], "application/json; charset=utf-8")
        items = json.loads(response.body)  # type: ignore[arg-type]
        self.assertEqual([(i["name"], i["version_id"], i["is_latest"]) for i in items], [
            ("o", "1700000000.12345", True), ("o", "1600000000.00000", False),
            ("plain", "null", True)])
        sub = self.app.find("GET", "/v1/a/" + VERSIONS)[0]
        self.assertEqual(sub.headers["X-Backend-Allow-Reserved-Names"], "true")

    def test_markers(self) -> None:
        """
        C{marker} with C{version_marker} starts the versions listing just
        after that version; C{version_marker=null} before all versions.
        """
        self.call(_request("GET", "/v1/a/c?versions&marker=o&version_marker=1700000000.12345"
                           "&prefix=o&limit=1"))
        sub = self.app.find("GET", "/v1/a/" + VERSIONS)[-1]
        self.assertEqual(sub.params["marker"], "\x00o\x008299999999.87654")
        self.assertEqual(sub.params["prefix"], "\x00o")
        self.assertEqual(sub.params["limit"], "1")
        self.call(_request("GET", "/v1/a/c?versions&marker=o&version_marker=null"))
        self.assertEqual(self.app.find("GET", "/v1/a/" + VERSIONS)[-1].params["marker"],
                         "\x00o\x00")
        self.call(_request("GET", "/v1/a/c?versions&marker=o"))
        self.assertEqual(self.app.find("GET", "/v1/a/" + VERSIONS)[-1].params["marker"],
                         "\x00o\x00:")

    def test_badParams(self) -> None:
        for query in ("versions&version_marker=1", "versions&marker=o&version_marker=bad",
                      "versions&delimiter=1", "versions&delimiter=."):
            self.assertEqual(self.call(_request("GET", f"/v1/a/c?{query}")).status, 400,
                             query)

    def test_notJSON(self) -> None:
        """
        Versions are listed in JSON only: another format is a 406.
        """
        for query in ("versions&format=xml", "versions&format=plain"):
            self.assertEqual(self.call(_request("GET", f"/v1/a/c?{query}")).status, 406)
        response = self.call(_request("GET", "/v1/a/c?versions", {"Accept": "text/xml"}))
        self.assertEqual(response.status, 406)
        response = self.call(_request("GET", "/v1/a/c?versions", {"Accept": "*/*"}))
        self.assertEqual(response.status, 200)

    def test_noVersionsContainer(self) -> None:
        """
        Without its versions container, the pointers are listed as their
        versions.
        """
        del self.app.handlers[("GET", "/v1/a/" + VERSIONS)]
        items = json.loads(self.call(_request("GET", "/v1/a/c?versions")).body)  # type: ignore
        self.assertEqual([(i["name"], i["version_id"], i["bytes"]) for i in items],
                         [("o", "1700000000.12345", 2), ("plain", "null", 1)])


class ObjectTests(_Base):
    def test_putMakesVersionAndPointer(self) -> None:
        """
        A PUT writes the data as a version and the object as a static link
        to it, one timestamp offset later.
        """
        self.versioned()
        self.app.handlers[("GET", "/v1/a/c/o")] = _answer(404)
        stamp = Timestamp(self.context.reactor.seconds())
        version = version_object_name("o", stamp.internal)
        self.app.handlers[("PUT", f"/v1/a/{VERSIONS}/{version}")] = _answer(
            201, {"Etag": "d0e1"})
        self.app.handlers[("PUT", "/v1/a/c/o")] = _answer(201)
        response = self.call(_request("PUT", "/v1/a/c/o", {"Content-Type": "text/plain"},
                                      b"hello"))
        self.assertEqual(response.status, 201)
        self.assertEqual(response.headers["X-Object-Version-Id"], stamp.internal)
        self.assertEqual(response.headers["Etag"], "d0e1")
        self.assertEqual(self.app.bodies[f"/v1/a/{VERSIONS}/{version}"], b"hello")
        link = self.app.find("PUT", "/v1/a/c/o")[0]
        self.assertEqual(link.headers["X-Symlink-Target"],
                         "%00versions%00c/%00o%00" + stamp.inverted().internal)
        self.assertEqual(link.headers["X-Object-Sysmeta-Symlink-Target-Bytes"], "5")
        self.assertEqual(link.headers["X-Object-Sysmeta-Versions-Symlink"], "true")
        self.assertEqual(link.headers["X-Timestamp"], Timestamp(stamp, offset=1).internal)
        self.assertEqual(link.headers["Content-Length"], "0")

    def test_putTypeFromPipeline(self) -> None:
        """
        The latest pointer takes the type the rest of the pipeline gave the
        version (a static link's target's type), without parameters.
        """
        self.versioned()
        stamp = Timestamp(self.context.reactor.seconds())
        version = version_object_name("o", stamp.internal)

        def put(request: SwiftRequest) -> SwiftResponse:
            request.headers["Content-Type"] = "text/jibberish; charset=x"
            return SwiftResponse(201, {"Etag": "e"})

        self.app.handlers[("PUT", f"/v1/a/{VERSIONS}/{version}")] = put
        self.app.handlers[("PUT", "/v1/a/c/o")] = _answer(201)
        self.call(_request("PUT", "/v1/a/c/o", {}, b""))
        link = self.app.find("PUT", "/v1/a/c/o")[0]
        self.assertEqual(link.headers["Content-Type"], "text/jibberish")

    def test_putSuspended(self) -> None:
        self.versioned(False)
        self.app.handlers[("PUT", "/v1/a/c/o")] = _answer(201)
        self.assertEqual(self.call(_request("PUT", "/v1/a/c/o", {}, b"x")).status, 201)
        self.assertEqual([r.method for r in self.app.calls], ["HEAD", "PUT"])

    def test_putWithoutVersionsContainer(self) -> None:
        """
        A missing versions container is a 500 that says so.
        """
        self.versioned()
        response = self.call(_request("PUT", "/v1/a/c/o", {}, b"x"))
        self.assertEqual(response.status, 500)
        self.assertIn(b"re-enable object versioning", response.body)  # type: ignore

    def test_deleteWritesMarker(self) -> None:
        self.versioned()
        self.app.handlers[("GET", "/v1/a/c/o")] = _answer(404)
        stamp = Timestamp(self.context.reactor.seconds())
        version = version_object_name("o", stamp.internal)
        self.app.handlers[("PUT", f"/v1/a/{VERSIONS}/{version}")] = _answer(201)
        self.app.handlers[("DELETE", "/v1/a/c/o")] = _answer(404)
        response = self.call(_request("DELETE", "/v1/a/c/o"))
        self.assertEqual(response.status, 404)
        self.assertEqual(response.headers["X-Object-Version-Id"], stamp.internal)
        marker = self.app.find("PUT", f"/v1/a/{VERSIONS}/{version}")[0]
        self.assertEqual(marker.headers["Content-Type"], DELETE_MARKER_CONTENT_TYPE)

    def test_versionIdRefusals(self) -> None:
        """
        POST with a version id, a bad version id, and a version id in a
        container never versioned are 400s.
        """
        self.versioned()
        self.assertEqual(self.call(_request("POST", "/v1/a/c/o?version-id=null")).status, 400)
        self.assertEqual(self.call(_request("GET", "/v1/a/c/o?version-id=junk")).status, 400)
        self.app.containers["c"] = (204, {})
        self.context.info_cache = InfoCache(MemoryInfoStore(self.context.reactor), 60, 60)
        other = ObjectVersioning(self.context.info_cache, self.context.swift_conf,
                                 self.context.reactor, 1)
        response = self.successResultOf(other(_request("GET", "/v1/a/c/o?version-id=1"),
                                              self.app))
        self.assertEqual(response.status, 400)

    def test_getVersionAndDeleteMarker(self) -> None:
        self.versioned()
        version = version_object_name("o", "1.00000")
        self.app.handlers[("GET", f"/v1/a/{VERSIONS}/{version}")] = _answer(
            200, {"Content-Type": "text/plain"}, b"old")
        response = self.call(_request("GET", "/v1/a/c/o?version-id=1.00000"))
        self.assertEqual((response.status, response.body), (200, b"old"))
        self.assertEqual(response.headers["X-Object-Version-Id"], "1.00000")
        self.app.handlers[("GET", f"/v1/a/{VERSIONS}/{version}")] = _answer(
            200, {"Content-Type": DELETE_MARKER_CONTENT_TYPE})
        response = self.call(_request("GET", "/v1/a/c/o?version-id=1.00000"))
        self.assertEqual(response.status, 404)
        self.assertEqual(response.headers["Content-Type"], DELETE_MARKER_CONTENT_TYPE)

    def test_nullVersionOfPointer(self) -> None:
        """
        C{version-id=null} of an object that is a latest pointer is a 404.
        """
        self.versioned()
        self.app.handlers[("GET", "/v1/a/c/o")] = _answer(
            200, {"Content-Location": "/v1/a/%00versions%00c/%00o%00x"}, b"data")
        self.assertEqual(self.call(_request("GET", "/v1/a/c/o?version-id=null")).status, 404)

    def test_getLatestNamesVersion(self) -> None:
        self.versioned()
        version = version_object_name("o", "5.00000")
        self.app.handlers[("GET", "/v1/a/c/o")] = _answer(
            200, {"Content-Location": f"/v1/a/%00versions%00c/{version.replace(chr(0), '%00')}"},
            b"data")
        response = self.call(_request("GET", "/v1/a/c/o"))
        self.assertEqual(response.headers["X-Object-Version-Id"], "0000000005.00000")
        self.assertEqual(response.headers["Content-Location"],
                         "/v1/a/c/o?version-id=0000000005.00000")

    def test_restoreRefusals(self) -> None:
        """
        A restoring PUT needs an empty body and an existing version.
        """
        self.versioned()
        self.assertEqual(self.call(_request("PUT", "/v1/a/c/o?version-id=1", {},
                                            b"x")).status, 400)
        self.assertEqual(self.call(_request("PUT", "/v1/a/c/o?version-id=1")).status, 411)
        self.assertEqual(self.call(_request("PUT", "/v1/a/c/o?version-id=null", {},
                                            b"")).status, 400)
        self.app.containers[VERSIONS] = (204, {})
        response = self.call(_request("PUT", "/v1/a/c/o?version-id=1", {}, b""))
        self.assertEqual(response.status, 404)
        self.assertEqual(response.body, b"The specified version does not exist")

    def test_restore(self) -> None:
        self.versioned()
        version = version_object_name("o", "1.00000")
        self.app.handlers[("HEAD", f"/v1/a/{VERSIONS}/{version}")] = _answer(
            200, {"Etag": "e", "Content-Length": "3", "Content-Type": "a/b"})
        self.app.handlers[("PUT", "/v1/a/c/o")] = _answer(201)
        response = self.call(_request("PUT", "/v1/a/c/o?version-id=1.00000", {}, b""))
        self.assertEqual(response.status, 201)
        self.assertEqual(response.headers["X-Object-Version-Id"], "0000000001.00000")
        link = self.app.find("PUT", "/v1/a/c/o")[0]
        self.assertEqual(link.headers["X-Object-Sysmeta-Symlink-Target-Etag"], "e")
        self.assertEqual(link.headers["Content-Type"], "a/b")

    def test_deleteLatestVersion(self) -> None:
        """
        Deleting the version the pointer names deletes the pointer too.
        """
        self.versioned()
        version = version_object_name("o", "1.00000")
        self.app.handlers[("HEAD", "/v1/a/c/o")] = _answer(200, {
            "X-Object-Sysmeta-Versions-Symlink": "true",
            "X-Symlink-Target": f"%00versions%00c/{version.replace(chr(0), '%00')}"})
        self.app.handlers[("DELETE", "/v1/a/c/o")] = _answer(204)
        self.app.handlers[("DELETE", f"/v1/a/{VERSIONS}/{version}")] = _answer(204)
        response = self.call(_request("DELETE", "/v1/a/c/o?version-id=1.00000"))
        self.assertEqual(response.status, 204)
        self.assertEqual(response.headers["X-Object-Current-Version-Id"], "null")
        self.assertEqual(len(self.app.find("DELETE", "/v1/a/c/o")), 1)

    def test_deleteOlderVersion(self) -> None:
        self.versioned()
        latest = version_object_name("o", "2.00000")
        self.app.handlers[("HEAD", "/v1/a/c/o")] = _answer(200, {
            "X-Object-Sysmeta-Versions-Symlink": "true",
            "X-Symlink-Target": f"%00versions%00c/{latest.replace(chr(0), '%00')}"})
        older = version_object_name("o", "1.00000")
        self.app.handlers[("DELETE", f"/v1/a/{VERSIONS}/{older}")] = _answer(204)
        response = self.call(_request("DELETE", "/v1/a/c/o?version-id=1.00000"))
        self.assertEqual(response.headers["X-Object-Current-Version-Id"], "0000000002.00000")
        self.assertEqual(self.app.find("DELETE", "/v1/a/c/o"), [])

    def test_listingRewriteTellsUnchanged(self) -> None:
        """
        The listing rewrite of a versioned container's GET says, by
        L{RAW_UNCHANGED_ATTRIBUTE}, which raw listings it leaves unchanged.
        """
        seen = []

        def listing(request: SwiftRequest) -> SwiftResponse:
            seen.extend(request.environ[LISTING_REWRITES_ENVIRON_KEY])
            return SwiftResponse(200, {}, b"[]")

        self.versioned()
        self.app.handlers[("GET", "/v1/a/c")] = listing
        self.call(_request("GET", "/v1/a/c"))
        [rewrite] = seen
        self.assertIs(getattr(rewrite, RAW_UNCHANGED_ATTRIBUTE), listing_unchanged)

    def test_unversionedContainerPassesThrough(self) -> None:
        self.app.containers["c"] = (204, {})
        self.app.handlers[("PUT", "/v1/a/c/o")] = _answer(201)
        self.assertEqual(self.call(_request("PUT", "/v1/a/c/o", {}, b"x")).status, 201)
        self.assertEqual([r.method for r in self.app.calls], ["HEAD", "PUT"])
