"""
Tests for L{twisted_proxy.plugins.slo}: static large objects.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.doubles import Collector, StoredBody, partial_context
from twisted_proxy.config import ConfigError
from twisted_proxy.info.cache import INFO_ENVIRON_KEY, InfoCache, container_key
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.segments import SegmentLimits
from twisted_proxy.plugins._support.subrequest import read_body
from twisted_proxy.plugins.slo import sloPlugin
from twisted_proxy.swift.expirer import ExpirerQueue
from twisted_proxy.swift.http import (
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    wire_quote,
)

_LAST_MODIFIED = "Tue, 01 Jul 2025 10:00:00 GMT"


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@implementer(IProxyApplication)
class _App:
    """
    The rest of the pipeline as an object store: PUT, GET, HEAD, DELETE
    of objects (sysmeta only for a C{swift.sysmeta_ok} request; C{Range}
    ignored for a manifest when asked; C{If-None-Match} judged against
    the C{X-Backend-Etag-Is-At} header), and JSON container listings.
    """

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, HeaderDict]] = {}
        self.calls: list[SwiftRequest] = []
        self.listing_hash: Optional[str] = None
        self.listing_name = "man"
        #: The container infos a container HEAD remembers, by key.
        self.infos: dict[str, dict[str, Any]] = {}
        #: What a private UPDATE got (path, headers, body), and answers.
        self.updates: list[tuple[str, HeaderDict, bytes]] = []
        self.update_status = 202

    def store(self, path: str, data: bytes) -> None:
        self.objects[path] = (data, HeaderDict({
            "Content-Type": "application/octet-stream", "Etag": _md5(data)}))

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.calls.append(request)
        if request.method == "UPDATE":
            return Deferred.fromCoroutine(self._update(request))
        if request.method == "HEAD" and request.path.count("/") == 3:
            _, _, account, container = request.path.split("/")
            key = container_key(account, container)
            info = self.infos.get(key, {"status": 204, "meta": {}, "sysmeta": {}})
            request.environ.setdefault(INFO_ENVIRON_KEY, {})[key] = info
            return succeed(SwiftResponse(info["status"], {}, b""))
        if request.path.count("/") == 3:
            item = {"name": self.listing_name, "bytes": 10, "hash": self.listing_hash,
                    "content_type": "text/plain"}
            body = json.dumps([item]).encode("ascii")
            return succeed(SwiftResponse(
                200, {"Content-Type": "application/json; charset=utf-8",
                      "Content-Length": str(len(body))}, body))
        return Deferred.fromCoroutine(self._object(request))

    async def _update(self, request: SwiftRequest) -> SwiftResponse:
        body = await read_body(request.body)
        self.updates.append((request.path, request.headers, body))
        if self.update_status >= 300:
            return error_response(self.update_status, "no queue", method="UPDATE")
        return SwiftResponse(self.update_status, {}, b"")

    async def _object(self, request: SwiftRequest) -> SwiftResponse:
        method = request.method
        if method == "PUT":
            data = await read_body(request.body) if request.body else b""
            headers = HeaderDict({"Etag": _md5(data)})
            for name, value in request.headers.items():
                if name.lower().startswith(("x-object-", "x-static-", "content-type")):
                    headers[name] = value
            self.objects[request.path] = (data, headers)
            return SwiftResponse(201, {"Etag": _md5(data), "Last-Modified": _LAST_MODIFIED,
                                       "Content-Length": "0"}, b"")
        stored = self.objects.get(request.path)
        if stored is None:
            return error_response(404, method=method)
        if method == "DELETE":
            del self.objects[request.path]
            return SwiftResponse(204, {}, b"")
        data, extra = stored
        headers = HeaderDict({"Last-Modified": _LAST_MODIFIED})
        for name, value in extra.items():
            if name.lower().startswith("x-object-sysmeta-") and not request.environ.get(
                    "swift.sysmeta_ok"):
                continue
            headers[name] = value
        etag = extra["Etag"]
        for name in request.headers.get("X-Backend-Etag-Is-At", "").split(","):
            if name and name in extra:
                etag = extra[name]
                break
        if request.headers.get("If-None-Match", "").strip('"') == etag:
            return SwiftResponse(304, headers, b"")
        status = 200
        ignore = ("X-Static-Large-Object" in extra and "X-Static-Large-Object"
                  in request.headers.get("X-Backend-Ignore-Range-If-Metadata-Present", ""))
        range_header = request.headers.get("Range")
        if range_header and not ignore:
            first, _, last = range_header[len("bytes="):].partition("-")
            end = len(data) if not last else int(last) + 1
            headers["Content-Range"] = f"bytes {first}-{end - 1}/{len(data)}"
            data = data[int(first):end]
            status = 206
        headers["Content-Length"] = str(len(data))
        if method == "HEAD":
            return SwiftResponse(status, headers, b"")
        return SwiftResponse(status, headers, StoredBody(data))


class _Context:
    def __init__(self) -> None:
        self.reactor = Clock()
        self.info: dict[str, Any] = {}
        self.info_cache = InfoCache(MemoryInfoStore(self.reactor), 60, 60)

    def expirer_queue(self) -> ExpirerQueue:
        # The hash secrets of tests.fakenodes.make_swift_conf.
        return ExpirerQueue.configure(b"", b"suffix")

    def register_info(self, name: str, **info: Any) -> None:
        self.info[name] = info


class SloTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.context = _Context()
        self.filter = sloPlugin.make_filter({}, partial_context(self.context))
        self.app = _App()
        self.app.store("/v1/a/segs/one", b"aaaa")
        self.app.store("/v1/a/segs/two", b"bbbbbb")

    def request(self, method: str, path: str = "/v1/a/c/man", query: str = "",
                headers: Optional[dict[str, str]] = None,
                body: Optional[bytes] = None) -> SwiftRequest:
        all_headers = HeaderDict({"X-Auth-Token": "AUTH_tk"})
        for name, value in (headers or {}).items():
            all_headers[name] = value
        producer = None
        if body is not None:
            all_headers["Content-Length"] = str(len(body))
            producer = StoredBody(body)
        uri = wire_quote(path) + ("?" + query if query else "")
        return SwiftRequest(method, uri.encode("ascii"), all_headers, producer)

    def call(self, request: SwiftRequest) -> SwiftResponse:
        return self.successResultOf(self.filter(request, self.app))

    def read(self, response: SwiftResponse) -> bytes:
        body = response.body
        if isinstance(body, bytes):
            return body
        collector = Collector()
        self.successResultOf(body.startProducing(collector))
        return collector.data

    def put_manifest(self, segments: list[dict[str, Any]],
                     path: str = "/v1/a/c/man", **headers: str) -> SwiftResponse:
        return self.call(self.request(
            "PUT", path, "multipart-manifest=put", headers,
            json.dumps(segments).encode("utf-8")))

    def simple(self) -> SwiftResponse:
        return self.put_manifest([
            {"path": "/segs/one", "etag": _md5(b"aaaa"), "size_bytes": 4},
            {"path": "segs/two"},
        ])

    def test_plainObjectAtOnce(self) -> None:
        """
        What comes back for a GET or HEAD is the application's own
        L{Deferred}: nothing waits on it between the client and the
        object servers; a plain object's answer comes through it, without
        its object system metadata, and the request's environ is as before.
        """
        for method in ("GET", "HEAD"):
            pending: Deferred[SwiftResponse] = Deferred()
            request = self.request(method, "/v1/a/c/plain")
            self.assertIs(self.filter(request, lambda _: pending),  # type: ignore[arg-type]
                          pending)
            self.assertIs(request.environ["swift.sysmeta_ok"], True)
            answer = SwiftResponse(200, {"X-Object-Sysmeta-Thing": "x", "Etag": "e"}, b"")
            pending.callback(answer)
            self.assertIs(self.successResultOf(pending), answer)
            self.assertEqual(dict(answer.headers.items()), {"Etag": "e"})
            self.assertNotIn("swift.sysmeta_ok", request.environ)

    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(IPlugin, sloPlugin))
        self.assertTrue(verifyObject(IProxyPluginFactory, sloPlugin))
        self.assertTrue(verifyObject(IProxyFilter, self.filter))

    def test_info(self) -> None:
        info = self.context.info["slo"]
        self.assertEqual(info["max_manifest_segments"], 1000)
        self.assertEqual(info["max_manifest_size"], 8 * 1024 * 1024)
        self.assertEqual(info["min_segment_size"], 1)
        self.assertEqual(info["yield_frequency"], 10)
        self.assertIs(info["allow_async_delete"], True)
        context = _Context()
        sloPlugin.make_filter({"allow_async_delete": "no"}, partial_context(context))
        self.assertIs(context.info["slo"]["allow_async_delete"], False)

    def test_bad_option(self) -> None:
        self.assertRaises(ConfigError, sloPlugin.make_filter,
                          {"max_manifest_segments": "x"}, _Context())

    def test_segmentLimits(self) -> None:
        """
        The GET limits are read as the dlo filter reads them, from the
        slo section.
        """
        slo = sloPlugin.make_filter({"max_get_time": "5", "rate_limit_after_segment": "3",
                                    "rate_limit_segments_per_sec": "0"},
                                   partial_context(_Context()))
        self.assertEqual(slo.limits, SegmentLimits(max_get_time=5, rate_limit_after_segment=3,
                                                   rate_limit_segments_per_sec=0))
        self.assertEqual(sloPlugin.make_filter({}, partial_context(_Context())).limits,
                         SegmentLimits())
        error = self.assertRaises(ConfigError, sloPlugin.make_filter,
                                  {"rate_limit_segments_per_sec": "-1"}, _Context())
        self.assertIn("[filter:slo] rate_limit_segments_per_sec", str(error))

    def test_put_stores_manifest(self) -> None:
        response = self.simple()
        self.assertEqual(response.status, 201)
        expected = _md5((_md5(b"aaaa") + _md5(b"bbbbbb")).encode("ascii"))
        self.assertEqual(response.headers["Etag"], f'"{expected}"')
        data, headers = self.app.objects["/v1/a/c/man"]
        self.assertEqual(headers["X-Static-Large-Object"], "True")
        self.assertEqual(headers["X-Object-Sysmeta-Slo-Etag"], expected)
        self.assertEqual(headers["X-Object-Sysmeta-Slo-Size"], "10")
        self.assertEqual(headers["Content-Type"],
                         "application/octet-stream;swift_bytes=10")
        stored = json.loads(data)
        self.assertEqual([(s["name"], s["bytes"], s["hash"]) for s in stored],
                         [("/segs/one", 4, _md5(b"aaaa")),
                          ("/segs/two", 6, _md5(b"bbbbbb"))])
        heads = [c for c in self.app.calls if c.method == "HEAD"]
        self.assertEqual(len(heads), 2)
        self.assertEqual(heads[0].environ["swift.source"], "SLO")
        self.assertEqual(heads[0].headers["X-Auth-Token"], "AUTH_tk")

    def test_put_invalid_json(self) -> None:
        response = self.call(self.request(
            "PUT", "/v1/a/c/man", "multipart-manifest=put", body=b"{nope"))
        self.assertEqual(response.status, 400)
        self.assertEqual(response.body, b"Manifest must be valid JSON.\n")

    def test_put_validation_messages(self) -> None:
        response = self.put_manifest([{"path": "nocontainer"}, {"bogus": 1},
                                      {"path": "/c/man"}])
        self.assertEqual(response.status, 400)
        assert isinstance(response.body, bytes)
        self.assertEqual(response.body.decode("ascii").splitlines(), [
            "Index 0: path does not refer to an object. Path must be of the "
            "form /container/object.",
            "Index 1: expected keys to include one of 'data' or 'path'",
            "Index 2: manifest must not include itself as a segment",
        ])

    def test_put_segment_problems(self) -> None:
        response = self.put_manifest([
            {"path": "/segs/one", "size_bytes": 5},
            {"path": "/segs/missing"},
        ])
        self.assertEqual(response.status, 400)
        self.assertEqual(self.read(response).decode("ascii"),
                         "Errors:\n/segs/one, Size Mismatch\n"
                         "/segs/missing, 404 Not Found\n")
        self.assertNotIn("/v1/a/c/man", self.app.objects)

    def test_put_too_many_segments(self) -> None:
        segments = [{"path": "/segs/one"}] * 1001
        response = self.put_manifest(segments)
        self.assertEqual(response.status, 413)

    def test_reserved_header(self) -> None:
        response = self.call(self.request(
            "POST", headers={"X-Static-Large-Object": "True"}))
        self.assertEqual(response.status, 400)

    def test_get_concatenates(self) -> None:
        self.simple()
        response = self.call(self.request("GET"))
        self.assertEqual(response.status, 200)
        self.assertEqual(self.read(response), b"aaaabbbbbb")
        self.assertEqual(response.headers["Content-Length"], "10")
        self.assertEqual(response.headers["Content-Type"], "application/octet-stream")
        self.assertNotIn("X-Object-Sysmeta-Slo-Etag", response.headers)
        self.assertEqual(response.headers["X-Manifest-Etag"],
                         self.app.objects["/v1/a/c/man"][1]["Etag"])

    def test_head(self) -> None:
        self.simple()
        response = self.call(self.request("HEAD"))
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["Content-Length"], "10")
        self.assertEqual(response.body, b"")
        # The sysmeta answers a HEAD: no segment is read.
        self.assertFalse([c for c in self.app.calls[-1:] if "segs" in c.path])

    def test_range_across_segments(self) -> None:
        self.simple()
        response = self.call(self.request("GET", headers={"Range": "bytes=2-5"}))
        self.assertEqual(response.status, 206)
        self.assertEqual(response.headers["Content-Range"], "bytes 2-5/10")
        self.assertEqual(self.read(response), b"aabb")

    def test_unsatisfiable_range(self) -> None:
        self.simple()
        response = self.call(self.request("GET", headers={"Range": "bytes=10-"}))
        self.assertEqual(response.status, 416)
        self.assertEqual(response.headers["Content-Range"], "bytes */10")

    def test_multi_range(self) -> None:
        self.simple()
        response = self.call(self.request("GET", headers={"Range": "bytes=0-0,9-9"}))
        self.assertEqual(response.status, 206)
        boundary = response.headers["Content-Type"].split("boundary=")[1]
        body = self.read(response)
        self.assertEqual(len(body), int(response.headers["Content-Length"]))
        self.assertIn(b"Content-Range: bytes 9-9/10\r\n\r\nb\r\n", body)
        self.assertTrue(body.endswith(f"--{boundary}--".encode("ascii")))

    def test_if_none_match_uses_slo_etag(self) -> None:
        self.simple()
        etag = self.call(self.request("HEAD")).headers["Etag"]
        response = self.call(self.request("GET", headers={"If-None-Match": etag}))
        self.assertEqual(response.status, 304)
        self.assertEqual(response.headers["Etag"], etag)

    def test_segment_range_and_data(self) -> None:
        self.put_manifest([
            {"path": "/segs/two", "range": "1-2"},
            {"data": base64.b64encode(b"xyz").decode("ascii")},
        ])
        response = self.call(self.request("GET"))
        self.assertEqual(self.read(response), b"bbxyz")
        self.assertEqual(response.headers["Content-Length"], "5")

    def test_nested(self) -> None:
        self.simple()
        self.put_manifest([{"path": "/c/man"}, {"path": "/segs/one"}],
                          path="/v1/a/c/outer")
        response = self.call(self.request("GET", "/v1/a/c/outer"))
        self.assertEqual(response.headers["Content-Length"], "14")
        self.assertEqual(self.read(response), b"aaaabbbbbbaaaa")

    def test_missing_first_segment_conflict(self) -> None:
        self.simple()
        del self.app.objects["/v1/a/segs/one"]
        response = self.call(self.request("GET"))
        self.assertEqual(response.status, 409)

    def test_changed_segment_conflict(self) -> None:
        self.simple()
        self.app.store("/v1/a/segs/one", b"cccc")
        self.assertEqual(self.call(self.request("GET")).status, 409)

    def test_manifest_get(self) -> None:
        self.simple()
        response = self.call(self.request("GET", query="multipart-manifest=get"))
        self.assertEqual(response.headers["Content-Type"],
                         "application/json; charset=utf-8")
        self.assertEqual(len(json.loads(self.read(response))), 2)
        raw = self.call(self.request("GET", query="multipart-manifest=get&format=raw"))
        self.assertEqual(json.loads(self.read(raw))[0],
                         {"path": "/segs/one", "etag": _md5(b"aaaa"), "size_bytes": 4})

    def test_part_number(self) -> None:
        self.simple()
        response = self.call(self.request("GET", query="part-number=2"))
        self.assertEqual(response.status, 206)
        self.assertEqual(response.headers["X-Parts-Count"], "2")
        self.assertEqual(response.headers["Content-Range"], "bytes 4-9/10")
        self.assertEqual(self.read(response), b"bbbbbb")
        self.assertEqual(self.call(self.request("GET", query="part-number=3")).status, 416)
        self.assertEqual(self.call(self.request("GET", query="part-number=0")).status, 400)

    def test_delete(self) -> None:
        self.simple()
        response = self.call(self.request(
            "DELETE", query="multipart-manifest=delete",
            headers={"Accept": "application/json"}))
        summary = json.loads(self.read(response))
        self.assertEqual(summary["Number Deleted"], 3)
        self.assertEqual(summary["Errors"], [])
        self.assertEqual(self.app.objects, {})

    def test_delete_version(self) -> None:
        """
        With C{version-id} (object versioning), that version of the
        manifest is read and deleted, not the latest.
        """
        self.simple()
        self.call(self.request(
            "DELETE", query="multipart-manifest=delete&version-id=1700000000.00000",
            headers={"Accept": "application/json"}))
        manifest = [r for r in self.app.calls if r.path == "/v1/a/c/man"]
        self.assertEqual([(r.method, r.params.get("version-id")) for r in manifest[-2:]],
                         [("GET", "1700000000.00000"), ("DELETE", "1700000000.00000")])
        segments = [r for r in self.app.calls if r.path.startswith("/v1/a/segs/")]
        self.assertTrue(segments)
        self.assertNotIn("version-id", segments[-1].params)

    def test_delete_utf8(self) -> None:
        name = "/v1/a/c/m\u00e9".encode("utf-8").decode("latin-1")
        self.simple()
        self.put_manifest([{"path": "/segs/one"}], path=name)
        response = self.call(self.request(
            "DELETE", name, "multipart-manifest=delete",
            headers={"Accept": "application/json"}))
        summary = json.loads(self.read(response))
        self.assertEqual((summary["Number Deleted"], summary["Errors"]), (2, []))
        self.assertNotIn(name, self.app.objects)

    def test_delete_not_slo(self) -> None:
        response = self.call(self.request(
            "DELETE", "/v1/a/segs/one", "multipart-manifest=delete",
            headers={"Accept": "application/json"}))
        summary = json.loads(self.read(response))
        self.assertEqual(summary["Response Status"], "400 Bad Request")
        self.assertEqual(summary["Errors"], [["segs/one", "Not an SLO manifest"]])
        self.assertIn("/v1/a/segs/one", self.app.objects)

    def test_listing_slo_etag(self) -> None:
        self.app.listing_hash = "abc; slo_etag=def"
        response = self.call(self.request("GET", "/v1/a/c", query="format=json"))
        item = json.loads(self.read(response))[0]
        self.assertEqual(item["hash"], "abc")
        self.assertEqual(item["slo_etag"], '"def"')

    def test_listing_without_slo_etag(self) -> None:
        """
        A listing in which no hash has an C{slo_etag} parameter is sent as
        it came, even with the word elsewhere (or a parameter that is no
        C{slo_etag}).
        """
        for name, hash_ in (("slo_etag", "abc"), ("slo_etag", "abc; x=y"), ("o", "abc")):
            self.app.listing_hash = hash_
            self.app.listing_name = name
            response = self.call(self.request("GET", "/v1/a/c", query="format=json"))
            item = json.loads(self.read(response))[0]
            self.assertEqual((item["name"], item["hash"]), (name, hash_))
            self.assertNotIn("slo_etag", item)

    def test_put_heartbeat(self) -> None:
        response = self.call(self.request(
            "PUT", "/v1/a/c/man", "multipart-manifest=put&heartbeat=on",
            {"Accept": "application/json"},
            json.dumps([{"path": "/segs/one"}, {"path": "/segs/nope"}]).encode("ascii")))
        self.assertEqual(response.status, 202)
        body = self.read(response)
        self.assertTrue(body.startswith(b" \r\n\r\n"))
        summary = json.loads(body[5:])
        self.assertEqual(summary["Response Status"], "400 Bad Request")
        self.assertEqual(summary["Errors"], [["/segs/nope", "404 Not Found"]])

    def test_data_only_refused(self) -> None:
        response = self.put_manifest([{"data": base64.b64encode(b"x").decode("ascii")}])
        self.assertEqual(response.status, 400)
        self.assertIn(b"require at least one object-backed segment", response.body)

    def test_plain_object_passes(self) -> None:
        response = self.call(self.request("GET", "/v1/a/segs/one"))
        self.assertEqual(self.read(response), b"aaaa")


#: The queue's task container of C{a/c/man} deleted at L{_ASYNC_TIME}, and
#: the rows for its segments, as Swift 2.38.3's C{ExpirerConfig} and
#: C{make_delete_jobs} make them (hash secrets of L{_Context}).
_ASYNC_TIME = 1700000000.12345
_TASK_CONTAINER = "1699919951"


def _swift_row(name: str) -> dict[str, Any]:
    return {"content_type": "application/async-deleted", "created_at": "1700000000.12345",
            "deleted": 0, "etag": "d41d8cd98f00b204e9800998ecf8427e",
            "name": f"1700000000.12345-a/segs/{name}", "size": 0,
            "storage_policy_index": 0}


class AsyncDeleteTests(SynchronousTestCase):
    """
    C{DELETE ?multipart-manifest=delete&async=true}: the manifest at once,
    its segments queued for the expirer.
    """

    def setUp(self) -> None:
        self.base = SloTests("test_interfaces")
        self.base.setUp()
        self.base.context.reactor.advance(_ASYNC_TIME)
        self.app = self.base.app
        self.base.simple()
        self.app.calls.clear()

    def delete(self, path: str = "/v1/a/c/man", query: str = "",
               environ: Optional[dict[str, Any]] = None) -> SwiftResponse:
        request = self.base.request("DELETE", path,
                                    "multipart-manifest=delete&async=true" + query)
        request.environ.update(environ or {})
        self.request = request
        return self.base.call(request)

    def test_queued(self) -> None:
        """
        The segments are queued with a private UPDATE of the task container
        of the manifest's deletion time, Swift's rows; the manifest is
        deleted at that time; the segments stay.
        """
        response = self.delete()
        self.assertEqual(response.status, 204)
        [(path, headers, body)] = self.app.updates
        self.assertEqual(path, f"/v1/.expiring_objects/{_TASK_CONTAINER}")
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(headers["X-Backend-Storage-Policy-Index"], "0")
        self.assertEqual(headers["X-Backend-Allow-Private-Methods"], "True")
        self.assertEqual(json.loads(body), [_swift_row("one"), _swift_row("two")])
        update, deleted = [r for r in self.app.calls if r.method in ("UPDATE", "DELETE")]
        self.assertIs(update.environ["swift.authorize_override"], True)
        self.assertEqual(deleted.path, "/v1/a/c/man")
        self.assertEqual(deleted.headers["X-Timestamp"], "1700000000.12345")
        self.assertNotIn("/v1/a/c/man", self.app.objects)
        self.assertIn("/v1/a/segs/one", self.app.objects)
        self.assertIn("/v1/a/segs/two", self.app.objects)

    def test_nonASCIISegments(self) -> None:
        """
        Row names are text, as Swift's are.
        """
        self.app.store("/v1/a/segs/tw\u00e9".encode("utf-8").decode("latin-1"), b"x")
        self.assertEqual(self.base.put_manifest([{"path": "/segs/tw\u00e9"}]).status, 201)
        self.delete()
        rows = json.loads(self.app.updates[0][2])
        self.assertEqual(rows[0]["name"], "1700000000.12345-a/segs/tw\u00e9")

    def test_versionedManifest(self) -> None:
        self.delete(query="&version-id=1600000000.00000")
        manifest = [r for r in self.app.calls if r.path == "/v1/a/c/man"]
        self.assertEqual([(r.method, r.params.get("version-id")) for r in manifest],
                         [("GET", "1600000000.00000"), ("DELETE", "1600000000.00000")])

    def test_onlyData(self) -> None:
        """
        A manifest of inline data only is just deleted.
        """
        self.app.objects["/v1/a/c/man"] = (
            json.dumps([{"data": base64.b64encode(b"x").decode("ascii")}]).encode("ascii"),
            self.app.objects["/v1/a/c/man"][1])
        self.assertEqual(self.delete().status, 204)
        self.assertEqual(self.app.updates, [])
        self.assertNotIn("/v1/a/c/man", self.app.objects)

    def assert_refused(self, response: SwiftResponse, status: int, body: bytes) -> None:
        self.assertEqual((response.status, response.body), (status, body))
        self.assertEqual(self.app.updates, [])
        self.assertNotIn("DELETE", [r.method for r in self.app.calls])

    def test_severalContainers(self) -> None:
        self.app.store("/v1/a/other/three", b"c")
        self.base.put_manifest([{"path": "/segs/one"}, {"path": "/other/three"}])
        self.assert_refused(self.delete(), 400, b'All segments must be in one container. '
                            b'Found segments in "segs", "other"')

    def test_nestedManifest(self) -> None:
        self.base.put_manifest([{"path": "/segs/two"}], path="/v1/a/segs/inner")
        self.base.put_manifest([{"path": "/segs/one"}, {"path": "/segs/inner"}],
                               path="/v1/a/c/outer")
        self.assert_refused(self.delete("/v1/a/c/outer"), 400,
                            b"No segments may be large objects.")

    def test_notAManifest(self) -> None:
        self.assert_refused(self.delete("/v1/a/segs/one"), 400, b"Not an SLO manifest")

    def test_missing(self) -> None:
        self.assert_refused(self.delete("/v1/a/c/nope"), 404, b"SLO manifest not found")

    def test_unreadable(self) -> None:
        self.app.objects["/v1/a/c/man"] = (b"not json", self.app.objects["/v1/a/c/man"][1])
        self.assert_refused(self.delete(), 500, b"Unable to load SLO manifest")

    def test_badUTF8(self) -> None:
        self.assert_refused(self.delete("/v1/a/c/m\xff"), 412,
                            b"Invalid UTF8 or contains NULL")

    def test_queueFails(self) -> None:
        """
        When the queue cannot be written, nothing is deleted: 503.
        """
        self.app.update_status = 503
        response = self.delete()
        self.assertEqual(response.status, 503)
        self.assertIn("/v1/a/c/man", self.app.objects)
        self.assertNotIn("DELETE", [r.method for r in self.app.calls])

    def test_authorizedOnBothContainers(self) -> None:
        """
        With an auth plugin, the client must be allowed to write to the
        manifest's container and to the segments'.
        """
        self.app.infos[container_key("a", "c")] = {
            "status": 204, "write_acl": "w-c", "meta": {}, "sysmeta": {}}
        self.app.infos[container_key("a", "segs")] = {
            "status": 204, "write_acl": "w-segs", "meta": {}, "sysmeta": {}}
        seen: list[Optional[str]] = []

        def authorize(request: SwiftRequest) -> Optional[SwiftResponse]:
            seen.append(getattr(request, "acl", None))
            return error_response(403) if seen[-1] == "w-segs" else None

        response = self.delete(environ={"swift.authorize": authorize})
        self.assertEqual(response.status, 403)
        self.assertEqual(seen, ["w-c", "w-segs"])
        self.assertEqual(self.app.updates, [])
        self.assertIsNone(self.request.acl)  # type: ignore[attr-defined]

        seen.clear()
        response = self.delete(environ={"swift.authorize": lambda request: error_response(401)})
        self.assertEqual(response.status, 401)
        self.assertEqual(self.app.updates, [])

    def test_offWithOption(self) -> None:
        """
        With C{allow_async_delete = false}, C{async} is not looked at: the
        segments are deleted as without it.
        """
        plugin = sloPlugin.make_filter({"allow_async_delete": "false"},
                                       partial_context(self.base.context))
        request = self.base.request("DELETE", "/v1/a/c/man",
                                    "multipart-manifest=delete&async=true",
                                    {"Accept": "application/json"})
        response = self.successResultOf(plugin(request, self.app))
        self.assertEqual(json.loads(self.base.read(response))["Number Deleted"], 3)
        self.assertEqual(self.app.updates, [])
