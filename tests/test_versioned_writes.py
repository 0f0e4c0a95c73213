"""
Tests for L{twisted_proxy.plugins.versioned_writes}.
"""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import FileBodyProducer
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.doubles import partial_context
from tests.fakenodes import make_swift_conf
from twisted_proxy.info.cache import INFO_ENVIRON_KEY, InfoCache, container_key
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.interfaces import IProxyApplication, IProxyPluginFactory
from twisted_proxy.plugins._support.subrequest import read_body
from twisted_proxy.plugins.versioned_writes import (
    DELETE_MARKER_CONTENT_TYPE,
    StackedFilters,
    VersionedWrites,
    versionedWritesPlugin,
    versions_prefix,
)
from twisted_proxy.swift.constraints import Constraints
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse, error_response


class _Context:
    def __init__(self) -> None:
        self.reactor = Clock()
        self.info_cache = InfoCache(MemoryInfoStore(self.reactor), 60, 60)
        self.constraints = Constraints()
        self.info: dict[str, Any] = {}

    def register_info(self, name: str, **info: Any) -> None:
        self.info[name] = info


class _ContextWithPolicies(_Context):
    def __init__(self) -> None:
        super().__init__()
        self.swift_conf = make_swift_conf()


@implementer(IProxyApplication)
class _Cluster:
    """
    The rest of the pipeline: containers with sysmeta, objects as
    (headers, body), listings of a container by prefix (reverse), each
    request authorized with the environ's C{swift.authorize}.
    """

    def __init__(self) -> None:
        self.containers: dict[str, dict[str, str]] = {}
        self.objects: dict[str, tuple[dict[str, str], bytes]] = {}
        self.calls: list[SwiftRequest] = []
        self.clock = 1000

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        return Deferred.fromCoroutine(self._answer(request))

    async def _answer(self, request: SwiftRequest) -> SwiftResponse:
        self.calls.append(request)
        authorize = request.environ.get("swift.authorize")
        if authorize is not None:
            request.acl = None  # type: ignore[attr-defined]
            denied = authorize(request)
            if denied is not None:
                return denied  # type: ignore[no-any-return]
        parts = request.path.split("/", 4)
        if len(parts) == 4:
            return self._container(request, parts[3])
        path = request.path
        if request.method == "PUT":
            body = await read_body(request.body)
            self.clock += 1
            headers = dict(request.headers.items())
            headers["X-Timestamp"] = f"{self.clock}.00000"
            self.objects[path] = (headers, body)
            return SwiftResponse(201, {}, b"")
        found = self.objects.get(path)
        if found is None:
            return SwiftResponse(404, {}, b"")
        if request.method == "DELETE":
            del self.objects[path]
            return SwiftResponse(204, {}, b"")
        headers, body = found
        return SwiftResponse(200, dict(headers, **{"Content-Length": str(len(body))}), body)

    def _container(self, request: SwiftRequest, name: str) -> SwiftResponse:
        sysmeta = self.containers.get(name)
        if request.method == "HEAD":
            status = 404 if sysmeta is None else 204
            cache = request.environ.setdefault(INFO_ENVIRON_KEY, {})
            cache[container_key("a", name)] = {
                "status": status, "write_acl": None, "sysmeta": {
                    k[len("X-Container-Sysmeta-"):].lower(): v
                    for k, v in (sysmeta or {}).items()}}
            shown = sysmeta if request.environ.get("swift.sysmeta_ok") else {}
            return SwiftResponse(status, dict(shown or {}), b"")
        if request.method in ("PUT", "POST"):
            stored = self.containers.setdefault(name, {})
            for key, value in request.headers.items():
                if key.lower().startswith("x-container-sysmeta-"):
                    stored[key] = value
            return SwiftResponse(201, {}, b"")
        if sysmeta is None:
            return SwiftResponse(404, {}, b"")
        if request.method == "GET" and "prefix" in request.params:
            prefix = request.params["prefix"]
            marker = request.params.get("marker", "")
            names = sorted((p.split("/", 4)[4] for p in self.objects
                            if p.startswith(f"/v1/a/{name}/")), reverse=True)
            items = [{"name": n, "content_type": self.objects[f"/v1/a/{name}/{n}"][0].get(
                "Content-Type", "")} for n in names
                if n.startswith(prefix) and (not marker or n < marker)]
            return SwiftResponse(200, {}, json.dumps(items).encode())
        headers = HeaderDict(sysmeta)
        if not request.environ.get("swift.sysmeta_ok"):
            headers = HeaderDict()
        return SwiftResponse(204, headers, b"")


def _request(method: str, path: str, headers: Optional[dict[str, str]] = None,
             body: Optional[bytes] = None, environ: Optional[dict[str, Any]] = None
             ) -> SwiftRequest:
    request = SwiftRequest(method, path.encode(), HeaderDict(headers or {}),
                           environ=environ if environ is not None else {})
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

            def stop(self) -> None:
                pass

            pause = resume = stop

        return _Task()


class FactoryTests(SynchronousTestCase):
    def test_plugin(self) -> None:
        verifyObject(IPlugin, versionedWritesPlugin)
        verifyObject(IProxyPluginFactory, versionedWritesPlugin)
        self.assertEqual(versionedWritesPlugin.name, "versioned_writes")

    def test_info(self) -> None:
        context = _Context()
        versionedWritesPlugin.make_filter({"allow_versioned_writes": "true"},
                                         partial_context(context))
        self.assertEqual(context.info, {"versioned_writes": {
            "allowed_flags": ["x-versions-location", "x-history-location"]}})

    def test_notAllowed(self) -> None:
        context = _Context()
        versionedWritesPlugin.make_filter({}, partial_context(context))
        self.assertEqual(context.info, {})

    def test_objectVersioningStacked(self) -> None:
        """
        C{allow_object_versioning} no longer stops startup: object
        versioning runs under legacy versioning (see
        L{tests.test_object_versioning}).
        """
        made = versionedWritesPlugin.make_filter(
            {"allow_object_versioning": "true"}, partial_context(_ContextWithPolicies()))
        self.assertIsInstance(made, StackedFilters)


class VersionedWritesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.context = _Context()
        self.cluster = _Cluster()
        self.vw = self.make("true")

    def make(self, allow: Optional[str]) -> VersionedWrites:
        return VersionedWrites(allow, self.context.info_cache, self.context.reactor,
                               self.context.constraints.max_file_size)

    def call(self, request: SwiftRequest, vw: Optional[VersionedWrites] = None
             ) -> SwiftResponse:
        return self.successResultOf((vw or self.vw)(request, self.cluster))

    def test_prefix(self) -> None:
        self.assertEqual(versions_prefix("obj"), "003obj/")
        self.assertEqual(versions_prefix("\xc3\xa9"), "002\xc3\xa9/")

    def test_setLocation(self) -> None:
        """
        C{X-Versions-Location} is kept as sysmeta with its mode and shown
        back.
        """
        self.call(_request("PUT", "/v1/a/c", {"X-Versions-Location": "v"}))
        self.assertEqual(self.cluster.containers["c"], {
            "X-Container-Sysmeta-Versions-Location": "v",
            "X-Container-Sysmeta-Versions-Mode": "stack"})
        response = self.call(_request("HEAD", "/v1/a/c"))
        self.assertEqual(response.headers["X-Versions-Location"], "v")
        self.assertNotIn("X-Container-Sysmeta-Versions-Mode", response.headers)
        self.call(_request("POST", "/v1/a/c", {"X-History-Location": "h"}))
        response = self.call(_request("HEAD", "/v1/a/c"))
        self.assertEqual(response.headers["X-History-Location"], "h")
        self.assertNotIn("X-Versions-Location", response.headers)

    def test_remove(self) -> None:
        self.call(_request("PUT", "/v1/a/c", {"X-Versions-Location": "v"}))
        self.call(_request("POST", "/v1/a/c", {"X-Remove-Versions-Location": "x"}))
        self.assertEqual(self.cluster.containers["c"]["X-Container-Sysmeta-Versions-Location"],
                         "")

    def test_both(self) -> None:
        response = self.call(_request("PUT", "/v1/a/c", {
            "X-Versions-Location": "v", "X-History-Location": "h"}))
        self.assertEqual(response.status, 400)
        self.assertEqual(response.body, b"Only one of x-versions-location or "
                         b"x-history-location may be specified")

    def test_badLocation(self) -> None:
        response = self.call(_request("PUT", "/v1/a/c", {"X-Versions-Location": "v/x"}))
        self.assertEqual(response.status, 412)

    def test_disabled(self) -> None:
        response = self.call(_request("PUT", "/v1/a/c", {"X-Versions-Location": "v"}),
                             self.make("false"))
        self.assertEqual((response.status, response.body),
                         (412, b"Versioned Writes is disabled"))

    def _versioned(self, mode: str = "stack") -> None:
        self.cluster.containers["c"] = {
            "X-Container-Sysmeta-Versions-Location": "v",
            "X-Container-Sysmeta-Versions-Mode": mode}
        self.cluster.containers["v"] = {}

    def test_putKeepsCurrent(self) -> None:
        """
        A PUT over an object first copies it into the versions container.
        """
        self._versioned()
        self.call(_request("PUT", "/v1/a/c/o", body=b"one"))
        self.call(_request("PUT", "/v1/a/c/o", body=b"two"))
        self.assertEqual(self.cluster.objects["/v1/a/c/o"][1], b"two")
        kept = [p for p in self.cluster.objects if p.startswith("/v1/a/v/")]
        self.assertEqual(kept, ["/v1/a/v/001o/0000001001.00000"])
        self.assertEqual(self.cluster.objects[kept[0]][1], b"one")

    def test_knownContainerAtOnce(self) -> None:
        """
        With the container's info in this process's memory, a write to a
        container that keeps no versions goes on at once, as the rest of
        the pipeline's own L{Deferred}; one to a container that keeps them
        is still versioned. Neither makes a C{HEAD} of the container.
        """
        store = MemoryInfoStore(self.context.reactor)
        self.context.info_cache = InfoCache(store, 60, 60)
        self.vw = self.make("true")
        store.set("container/a/plain", {"status": 204, "meta": {}, "sysmeta": {}}, 60)
        pending: Deferred[SwiftResponse] = Deferred()
        for method in ("PUT", "DELETE"):
            request = _request(method, "/v1/a/plain/o")
            self.assertIs(self.vw(request, lambda _: pending), pending)  # type: ignore
        self._versioned()
        store.set("container/a/c", {"status": 204, "meta": {}, "sysmeta": {
            "versions-location": "v", "versions-mode": "stack"}}, 60)
        self.call(_request("PUT", "/v1/a/c/o", body=b"one"))
        self.call(_request("PUT", "/v1/a/c/o", body=b"two"))
        kept = [p for p in self.cluster.objects if p.startswith("/v1/a/v/")]
        self.assertEqual(len(kept), 1)
        self.assertNotIn(("HEAD", "/v1/a/c"),
                         [(call.method, call.path) for call in self.cluster.calls])

    def test_putDenied(self) -> None:
        """
        A client that cannot write to the container gets the auth plugin's
        refusal, and nothing is copied.
        """
        self._versioned()
        self.cluster.objects["/v1/a/c/o"] = ({"X-Timestamp": "5.00000"}, b"x")
        environ = {"swift.authorize": lambda r: error_response(403)}
        response = self.call(_request("PUT", "/v1/a/c/o", body=b"y", environ=environ))
        self.assertEqual(response.status, 403)
        self.assertEqual(list(self.cluster.objects), ["/v1/a/c/o"])

    def test_putNoVersionsContainer(self) -> None:
        """
        A versions container that is missing is a 412.
        """
        self._versioned()
        del self.cluster.containers["v"]
        self.cluster.objects["/v1/a/c/o"] = ({"X-Timestamp": "5.00000"}, b"x")
        original = self.cluster._answer

        async def refuse_v(request: SwiftRequest) -> SwiftResponse:
            if request.path.startswith("/v1/a/v/"):
                return SwiftResponse(404, {}, b"")
            return await original(request)

        self.cluster._answer = refuse_v  # type: ignore[method-assign]
        response = self.call(_request("PUT", "/v1/a/c/o", body=b"y"))
        self.assertEqual(response.status, 412)

    def test_deletePops(self) -> None:
        """
        In stack mode a DELETE restores the previous version.
        """
        self._versioned()
        for body in (b"one", b"two", b"three"):
            self.call(_request("PUT", "/v1/a/c/o", body=body))
        self.call(_request("DELETE", "/v1/a/c/o"))
        self.assertEqual(self.cluster.objects["/v1/a/c/o"][1], b"two")
        self.call(_request("DELETE", "/v1/a/c/o"))
        self.assertEqual(self.cluster.objects["/v1/a/c/o"][1], b"one")
        response = self.call(_request("DELETE", "/v1/a/c/o"))
        self.assertEqual(response.status, 204)
        self.assertNotIn("/v1/a/c/o", self.cluster.objects)
        self.assertEqual([p for p in self.cluster.objects if p.startswith("/v1/a/v/")], [])

    def test_deleteHistory(self) -> None:
        """
        In history mode a DELETE keeps the current version and a delete
        marker.
        """
        self._versioned("history")
        self.context.reactor.advance(5000)
        self.call(_request("PUT", "/v1/a/c/o", body=b"one"))
        self.call(_request("DELETE", "/v1/a/c/o"))
        self.assertNotIn("/v1/a/c/o", self.cluster.objects)
        kept = sorted(p for p in self.cluster.objects if p.startswith("/v1/a/v/"))
        self.assertEqual(len(kept), 2)
        self.assertEqual(self.cluster.objects[kept[0]][1], b"one")
        self.assertEqual(self.cluster.objects[kept[1]][0]["Content-Type"],
                         DELETE_MARKER_CONTENT_TYPE)

    def test_unversioned(self) -> None:
        self.cluster.containers["c"] = {}
        self.call(_request("PUT", "/v1/a/c/o", body=b"one"))
        self.call(_request("PUT", "/v1/a/c/o", body=b"two"))
        self.assertEqual(list(self.cluster.objects), ["/v1/a/c/o"])
