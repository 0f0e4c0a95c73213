"""
Tests for L{twisted_proxy.plugins.dlo}: dynamic large objects.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Optional
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.plugin import IPlugin
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import UNKNOWN_LENGTH
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.doubles import Collector, StoredBody, partial_context
from twisted_proxy.config import ConfigError
from twisted_proxy.info.cache import INFO_ENVIRON_KEY
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.segments import SegmentLimits
from twisted_proxy.plugins.dlo import dloPlugin
from twisted_proxy.swift.constraints import Constraints
from twisted_proxy.swift.http import (
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    wire_quote,
)

_LAST_MODIFIED = "Tue, 01 Jul 2025 10:00:00 GMT"
_IGNORE_RANGE = "X-Backend-Ignore-Range-If-Metadata-Present"


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _dlo_etag(*segments: bytes) -> str:
    return '"%s"' % _md5("".join(_md5(s) for s in segments).encode("ascii"))


@implementer(IProxyApplication)
class _App:
    """
    The rest of the pipeline with a few stored objects: answers listings
    (JSON, at most C{limit} names a page) and object GETs and HEADs
    (honouring C{Range}, unless the object is a manifest and the request
    says to ignore it, and C{If-Match} against the stored etag), after
    asking the environ's C{swift.authorize}.
    """

    def __init__(self, limit: int = 10000) -> None:
        self.limit = limit
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.calls: list[SwiftRequest] = []
        self.bodies: dict[str, list[StoredBody]] = {}
        self.hold = False
        self.statuses: dict[str, int] = {}
        self.etags: dict[str, str] = {}

    def put(self, path: str, data: bytes, **headers: str) -> None:
        self.objects[path] = (data, {name.replace("_", "-"): value
                                     for name, value in headers.items()})

    def segments(self, container: str, prefix: str, *pieces: bytes) -> None:
        for index, piece in enumerate(pieces):
            self.put(f"/v1/a/{container}/{prefix}{index:03d}", piece)

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.calls.append(request)
        authorize = request.environ.get("swift.authorize")
        if authorize is not None:
            denied = authorize(request)
            if denied is not None:
                return succeed(denied)
        if request.path in self.statuses:
            return succeed(error_response(self.statuses[request.path], method=request.method))
        parts = request.path.split("/", 4)
        if len(parts) == 4:
            return succeed(self._listing(request, parts[3]))
        return succeed(self._object(request))

    def _listing(self, request: SwiftRequest, container: str) -> SwiftResponse:
        prefix = request.params.get("prefix", "")
        marker = request.params.get("marker", "")
        start = f"/v1/a/{container}/"
        names = sorted(
            (path[len(start):].encode("latin-1").decode("utf-8"), path)
            for path in self.objects if path.startswith(start)
            and path[len(start):].startswith(prefix))
        names = [(n, p) for n, p in names if not marker or n.encode() > marker.encode()]
        items = [{"name": name, "bytes": len(self.objects[path][0]),
                  "hash": self.etags.get(path, _md5(self.objects[path][0])),
                  "content_type": "application/octet-stream"}
                 for name, path in names[:self.limit]]
        if not any(path.startswith(start) for path in self.objects) and container != "empty":
            return error_response(404, method=request.method)
        return SwiftResponse(200, {"Content-Type": "application/json; charset=utf-8"},
                             json.dumps(items).encode("ascii"))

    def _object(self, request: SwiftRequest) -> SwiftResponse:
        stored = self.objects.get(request.path)
        if stored is None:
            return error_response(404, method=request.method)
        data, extra = stored
        headers = HeaderDict({
            "Content-Type": "application/x-thing",
            "Etag": _md5(data),
            "Last-Modified": _LAST_MODIFIED,
            "X-Object-Meta-Color": "blue",
        })
        for name, value in extra.items():
            headers[name] = value
        if_match = request.headers.get("If-Match")
        if if_match is not None and _md5(data) not in if_match:
            headers["Content-Type"] = "text/html; charset=UTF-8"
            headers["X-Backend-Timestamp"] = "1751364000.00000"
            return SwiftResponse(412, headers, b"")
        status = 200
        manifest = "X-Object-Manifest" in headers
        ignore = manifest and "X-Object-Manifest" in request.headers.get(_IGNORE_RANGE, "")
        range_header = request.headers.get("Range")
        if range_header and not ignore:
            first, _, last = range_header[len("bytes="):].partition("-")
            end = len(data) if not last else int(last) + 1
            headers["Content-Range"] = f"bytes {first}-{end - 1}/{len(data)}"
            data = data[int(first):end]
            status = 206
        headers["Content-Length"] = str(len(data))
        if request.method == "HEAD":
            return SwiftResponse(status, headers, b"")
        body = StoredBody(data, hold=self.hold and not manifest)
        self.bodies.setdefault(request.path, []).append(body)
        return SwiftResponse(status, headers, body)

    def gets(self) -> list[SwiftRequest]:
        return [call for call in self.calls if call.method == "GET"]

    def segment_gets(self) -> list[SwiftRequest]:
        return [call for call in self.gets()
                if call.params.get("multipart-manifest") == "get"]


class _Context:
    def __init__(self, limit: int = 10000) -> None:
        self.reactor = Clock()
        self.constraints = Constraints(container_listing_limit=limit)
        self.info: dict[str, Any] = {}

    def register_info(self, name: str, **info: Any) -> None:
        self.info[name] = info


class _DloTestCase(SynchronousTestCase):
    limit = 10000
    conf: dict[str, str] = {}

    def setUp(self) -> None:
        self.context = _Context(self.limit)
        self.clock = self.context.reactor
        self.filter = dloPlugin.make_filter(self.conf, partial_context(self.context))
        self.app = _App(self.limit)
        self.app.segments("segs", "part/", b"aaaa", b"bbbbb", b"cc")
        self.app.put("/v1/a/c/man", b"", X_Object_Manifest="segs/part/")

    def request(self, method: str, path: str = "/v1/a/c/man",
                headers: Optional[dict[str, str]] = None, query: str = "",
                environ: Optional[dict[str, Any]] = None) -> SwiftRequest:
        all_headers = HeaderDict({"X-Auth-Token": "AUTH_tk", "User-Agent": "curl"})
        for name, value in (headers or {}).items():
            all_headers[name] = value
        uri = wire_quote(path) + ("?" + query if query else "")
        return SwiftRequest(method, uri.encode("ascii"), all_headers, environ=environ)

    def call(self, request: SwiftRequest) -> SwiftResponse:
        return self.successResultOf(self.filter(request, self.app))

    def get(self, **kwargs: Any) -> SwiftResponse:
        return self.call(self.request("GET", **kwargs))

    def read(self, response: SwiftResponse) -> bytes:
        body = response.body
        if isinstance(body, bytes):
            return body
        collector = Collector()
        self.successResultOf(body.startProducing(collector))
        return collector.data

    def read_failure(self, response: SwiftResponse) -> tuple[bytes, Failure]:
        body = response.body
        assert not isinstance(body, bytes)
        collector = Collector()
        failure = self.failureResultOf(body.startProducing(collector))
        return collector.data, failure


class PluginTests(_DloTestCase):
    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(IPlugin, dloPlugin))
        self.assertTrue(verifyObject(IProxyPluginFactory, dloPlugin))
        self.assertEqual(dloPlugin.name, "dlo")
        self.assertTrue(verifyObject(IProxyFilter, self.filter))

    def test_noInfo(self) -> None:
        """
        Swift 2.38.3's dlo middleware adds nothing to C{/info}.
        """
        self.assertEqual(self.context.info, {})

    def test_options(self) -> None:
        dlo = dloPlugin.make_filter({"max_get_time": "5", "rate_limit_after_segment": "3",
                                    "rate_limit_segments_per_sec": "0"},
                                   partial_context(self.context))
        self.assertEqual(dlo.limits, SegmentLimits(max_get_time=5, rate_limit_after_segment=3,
                                                   rate_limit_segments_per_sec=0))

    def test_badOptions(self) -> None:
        for name in ("max_get_time", "rate_limit_after_segment",
                     "rate_limit_segments_per_sec"):
            for value in ("soon", "-1"):
                self.assertRaises(ConfigError, dloPlugin.make_filter, {name: value},
                                  self.context)


class PassThroughTests(_DloTestCase):
    def test_plainObject(self) -> None:
        self.app.put("/v1/a/c/plain", b"just data")
        response = self.get(path="/v1/a/c/plain")
        self.assertEqual(self.read(response), b"just data")
        self.assertEqual(len(self.app.calls), 1)

    def test_plainObjectAtOnce(self) -> None:
        """
        What comes back for a GET or HEAD is the application's own
        L{Deferred}: nothing waits on it between the client and the
        object servers; a plain object's answer comes through it as it is.
        """
        for method in ("GET", "HEAD"):
            pending: Deferred[SwiftResponse] = Deferred()
            self.assertIs(
                self.filter(self.request(method), lambda _: pending),  # type: ignore[arg-type]
                pending)
            answer = SwiftResponse(200, {"Content-Length": "0"}, b"")
            pending.callback(answer)
            self.assertIs(self.successResultOf(pending), answer)

    def test_manifestItself(self) -> None:
        """
        C{?multipart-manifest=get} returns the manifest object.
        """
        self.app.put("/v1/a/c/man", b"manifest body", X_Object_Manifest="segs/part/")
        request = self.request("GET", query="multipart-manifest=get")
        response = self.call(request)
        self.assertEqual(self.read(response), b"manifest body")
        self.assertEqual(response.headers["X-Object-Manifest"], "segs/part/")
        self.assertEqual(self.app.calls, [request])
        self.assertNotIn(_IGNORE_RANGE, request.headers)

    def test_notObjects(self) -> None:
        for path in ("/v1/a", "/v1/a/c", "/v1/a/c/", "/info", "/v1//c/o"):
            request = self.request("GET", path=path)
            self.filter(request, self.app)
            self.assertIs(self.app.calls[-1], request)
            self.assertNotIn(_IGNORE_RANGE, request.headers)

    def test_otherMethods(self) -> None:
        for method in ("POST", "DELETE", "PUT", "COPY", "OPTIONS"):
            request = self.request(method, headers={"X-Object-Manifest": "c/p"})
            self.filter(request, self.app)
            self.assertIs(self.app.calls[-1], request)


class ManifestHeaderTests(_DloTestCase):
    def test_invalid(self) -> None:
        for value in ("", "c", "c/", "/p", "c//p", "c/p?x", "c/p&x"):
            response = self.call(self.request("PUT", headers={"X-Object-Manifest": value}))
            self.assertEqual(response.status, 400, value)
            self.assertEqual(response.body,
                             b"X-Object-Manifest must be in the format container/prefix")
        self.assertEqual(self.app.calls, [])

    def test_valid(self) -> None:
        for value in ("c/p", "c/p/", "c/%20p"):
            request = self.request("PUT", headers={"X-Object-Manifest": value})
            self.filter(request, self.app)
            self.assertIs(self.app.calls[-1], request)


class GetTests(_DloTestCase):
    def test_concatenation(self) -> None:
        response = self.get()
        self.assertEqual(response.status, 200)
        self.assertEqual(self.read(response), b"aaaabbbbbcc")
        self.assertEqual(response.headers["Content-Length"], "11")
        self.assertEqual(response.headers["Etag"], _dlo_etag(b"aaaa", b"bbbbb", b"cc"))
        self.assertEqual(response.headers["X-Object-Manifest"], "segs/part/")
        self.assertEqual(response.headers["Content-Type"], "application/x-thing")
        self.assertEqual(response.headers["X-Object-Meta-Color"], "blue")
        self.assertEqual(response.headers["Last-Modified"], _LAST_MODIFIED)

    def test_manifestRequest(self) -> None:
        """
        The object servers are told to answer a manifest in full, whatever
        the client's C{Range}; the header is added to any the request had.
        """
        request = self.request("GET", headers={"Range": "bytes=1-2"})
        self.call(request)
        self.assertEqual(self.app.calls[0].headers[_IGNORE_RANGE], "X-Object-Manifest")
        request = self.request("GET", headers={_IGNORE_RANGE: "X-Static-Large-Object"})
        self.call(request)
        self.assertEqual(request.headers[_IGNORE_RANGE],
                         "X-Static-Large-Object,X-Object-Manifest")

    def test_head(self) -> None:
        response = self.call(self.request("HEAD"))
        self.assertEqual(response.status, 200)
        self.assertEqual(response.body, b"")
        self.assertEqual(response.headers["Content-Length"], "11")
        self.assertEqual(response.headers["Etag"], _dlo_etag(b"aaaa", b"bbbbb", b"cc"))
        self.assertEqual(self.app.segment_gets(), [])

    def test_listingRequest(self) -> None:
        """
        The segments are listed with the client's token, JSON, by prefix.
        """
        self.app.segments("segs", "p q%", b"x")
        self.app.put("/v1/a/c/man", b"", X_Object_Manifest="segs/p%20q%25")
        self.assertEqual(self.read(self.get()), b"x")
        listing = self.app.calls[1]
        self.assertEqual((listing.method, listing.path), ("GET", "/v1/a/segs"))
        self.assertEqual(listing.params, {"format": "json", "prefix": "p q%"})
        self.assertEqual(listing.headers["X-Auth-Token"], "AUTH_tk")

    def test_segmentRequests(self) -> None:
        """
        Each segment is read as an object (never as a large object), as the
        client, with only the headers Swift's sub-requests carry.
        """
        authorize = lambda request: None  # noqa: E731
        environ = {"swift.authorize": authorize, "swift_owner": True, "REMOTE_USER": "u"}
        self.read(self.get(headers={
            "Referer": "http://example.com/", "If-Match": _dlo_etag(b"aaaa", b"bbbbb", b"cc"),
            "X-Newest": "true"}, environ=environ))
        gets = self.app.segment_gets()
        self.assertEqual([g.path for g in gets],
                         ["/v1/a/segs/part/000", "/v1/a/segs/part/001", "/v1/a/segs/part/002"])
        for sub in gets + [self.app.calls[1]]:
            self.assertEqual(sub.headers["X-Auth-Token"], "AUTH_tk")
            self.assertEqual(sub.headers["Referer"], "http://example.com/")
            self.assertEqual(sub.headers["User-Agent"], "curl DLO MultipartGET")
            for name in ("If-Match", "X-Newest", "Range", _IGNORE_RANGE):
                self.assertNotIn(name, sub.headers)
            self.assertIsNot(sub.environ, environ)
            self.assertIs(sub.environ["swift.authorize"], authorize)
            self.assertEqual(sub.environ["REMOTE_USER"], "u")
            self.assertEqual(sub.environ["swift.source"], "DLO")
            self.assertNotIn("swift_owner", sub.environ)
            self.assertIs(sub.environ[INFO_ENVIRON_KEY], environ[INFO_ENVIRON_KEY])

    def test_utf8Names(self) -> None:
        snowman = "\u2603".encode("utf-8").decode("latin-1")
        self.app.put(f"/v1/a/segs/{snowman}/1", b"one")
        self.app.put(f"/v1/a/segs/{snowman}/2", b"two")
        self.app.put("/v1/a/c/man", b"",
                     X_Object_Manifest="segs/" + quote("\u2603".encode("utf-8")) + "/")
        self.assertEqual(self.read(self.get()), b"onetwo")
        self.assertEqual(self.app.calls[1].params["prefix"], snowman + "/")
        self.assertEqual(self.app.segment_gets()[0].path, f"/v1/a/segs/{snowman}/1")

    def test_noSegments(self) -> None:
        self.app.put("/v1/a/c/man", b"", X_Object_Manifest="empty/nothing")
        response = self.get()
        self.assertEqual((response.status, response.body), (200, b""))
        self.assertEqual(response.headers["Content-Length"], "0")
        self.assertEqual(response.headers["Etag"], '"%s"' % _md5(b""))

    def test_manifestBodyRead(self) -> None:
        """
        A small manifest body is read to its end; a large one is dropped.
        """
        self.app.put("/v1/a/c/man", b"small", X_Object_Manifest="segs/part/")
        self.read(self.get())
        [small] = self.app.bodies["/v1/a/c/man"]
        self.assertTrue(small.started)
        self.assertFalse(small.stopped)
        self.app.put("/v1/a/c/man", b"x" * 2000, X_Object_Manifest="segs/part/")
        self.read(self.get())
        large = self.app.bodies["/v1/a/c/man"][1]
        self.assertTrue(large.stopped)

    def test_manifestInItsOwnListing(self) -> None:
        """
        A manifest whose name matches its own prefix is one of its
        segments, body and all.
        """
        self.app.put("/v1/a/segs/part/man", b"XY", X_Object_Manifest="segs/part/")
        response = self.get(path="/v1/a/segs/part/man")
        self.assertEqual(self.read(response), b"aaaabbbbbccXY")

    def test_badManifestValue(self) -> None:
        self.app.put("/v1/a/c/man", b"", X_Object_Manifest="nocontainer")
        self.assertEqual(self.get().status, 500)


class ListingErrorTests(_DloTestCase):
    def test_missingContainer(self) -> None:
        self.app.put("/v1/a/c/man", b"", X_Object_Manifest="gone/part")
        response = self.get()
        self.assertEqual(response.status, 404)
        self.assertEqual(self.app.segment_gets(), [])
        response = self.call(self.request("HEAD"))
        self.assertEqual((response.status, response.body), (404, b""))

    def test_listingDenied(self) -> None:
        """
        A client that may not list the segments' container gets the refusal.
        """
        def authorize(request: SwiftRequest) -> Optional[SwiftResponse]:
            if request.path == "/v1/a/segs":
                return error_response(403)
            return None

        response = self.get(environ={"swift.authorize": authorize})
        self.assertEqual(response.status, 403)

    def test_badListing(self) -> None:
        self.app.statuses["/v1/a/segs"] = 200
        self.assertEqual(self.get().status, 500)


class SegmentErrorTests(_DloTestCase):
    def test_firstMissing(self) -> None:
        self.app.statuses["/v1/a/segs/part/000"] = 404
        self.assertEqual(self.get().status, 409)

    def test_firstDenied(self) -> None:
        self.app.statuses["/v1/a/segs/part/000"] = 403
        self.assertEqual(self.get().status, 409)

    def test_firstUnavailable(self) -> None:
        self.app.statuses["/v1/a/segs/part/000"] = 503
        response = self.get()
        self.assertEqual(response.status, 503)
        self.assertEqual(response.headers["Content-Type"], "text/plain")

    def test_laterMissing(self) -> None:
        """
        Once the answer has started, a segment that cannot be read ends the
        body early (which aborts the client's connection).
        """
        self.app.statuses["/v1/a/segs/part/001"] = 404
        response = self.get()
        self.assertEqual(response.status, 200)
        data, failure = self.read_failure(response)
        self.assertEqual(data, b"aaaa")
        self.assertIn("got 404", failure.getErrorMessage())

    def test_badChecksum(self) -> None:
        self.app.etags["/v1/a/segs/part/000"] = _md5(b"aaaa")
        data, stored_headers = self.app.objects["/v1/a/segs/part/000"]
        stored_headers["Etag"] = _md5(b"other")
        data, failure = self.read_failure(self.get())
        self.assertIn("Bad MD5 checksum", failure.getErrorMessage())
        self.assertEqual(self.app.segment_gets()[-1].path, "/v1/a/segs/part/000")

    def test_tooLong(self) -> None:
        """
        A segment longer than listed is cut at the announced length and the
        body fails.
        """
        self.app.segments("long", "p", b"abc", b"de")
        self.app.put("/v1/a/c/man", b"", X_Object_Manifest="long/p")
        response = self.get()
        self.app.objects["/v1/a/long/p001"] = (b"defgh", {})
        data, failure = self.read_failure(response)
        self.assertEqual(data, b"abcde")
        self.assertIn("Too many bytes", failure.getErrorMessage())

    def test_tooShort(self) -> None:
        response = self.get()
        self.app.objects["/v1/a/segs/part/002"] = (b"c", {})
        data, failure = self.read_failure(response)
        self.assertEqual(data, b"aaaabbbbbc")
        self.assertIn("Expected another 1 bytes", failure.getErrorMessage())

    def test_segmentBodyFails(self) -> None:
        self.app.hold = True
        response = self.get()
        collector = Collector()
        assert not isinstance(response.body, bytes)
        done = response.body.startProducing(collector)
        [first] = self.app.bodies["/v1/a/segs/part/000"]
        first.fail(ValueError("node went away"))
        self.failureResultOf(done, ValueError)

    def test_maxGetTime(self) -> None:
        dlo = dloPlugin.make_filter({"max_get_time": "10"}, partial_context(self.context))
        self.app.hold = True
        response = self.successResultOf(dlo(self.request("GET"), self.app))
        collector = Collector()
        assert not isinstance(response.body, bytes)
        done = response.body.startProducing(collector)
        self.app.bodies["/v1/a/segs/part/000"][0].release()
        self.clock.advance(11)
        self.app.bodies["/v1/a/segs/part/001"][0].release()
        failure = self.failureResultOf(done)
        self.assertIn("max LO GET time", failure.getErrorMessage())
        # The chunk that found the time up still went out.
        self.assertEqual(collector.data, b"aaaabb")
        self.assertTrue(self.app.bodies["/v1/a/segs/part/001"][0].stopped)
        self.assertNotIn("/v1/a/segs/part/002", self.app.bodies)


class StreamingTests(_DloTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.app.hold = True
        self.response = self.get()
        self.collector = Collector()
        body = self.response.body
        assert not isinstance(body, bytes)
        self.body = body
        self.done = body.startProducing(self.collector)

    def segment(self, index: int) -> StoredBody:
        [body] = self.app.bodies[f"/v1/a/segs/part/{index:03d}"]
        return body

    def test_oneAtATime(self) -> None:
        """
        The next segment is asked for only when the one before has ended.
        """
        self.assertEqual(len(self.app.segment_gets()), 1)
        self.segment(0).release()
        self.assertEqual(len(self.app.segment_gets()), 2)
        self.assertEqual(self.collector.data, b"aaaa")
        self.assertNoResult(self.done)
        self.segment(1).release()
        self.segment(2).release()
        self.successResultOf(self.done)
        self.assertEqual(self.collector.data, b"aaaabbbbbcc")

    def test_pauseResume(self) -> None:
        self.body.pauseProducing()
        self.assertTrue(self.segment(0).paused)
        self.body.resumeProducing()
        self.assertFalse(self.segment(0).paused)
        self.segment(0).release()
        self.body.pauseProducing()
        self.assertTrue(self.segment(1).paused)

    def test_pausedBetweenSegments(self) -> None:
        """
        A pause that came while no segment was being read applies to the
        next one.
        """
        self.app.hold = True
        self.segment(0).release()
        self.body.pauseProducing()
        self.segment(1).release()
        self.assertTrue(self.segment(2).paused)

    def test_stop(self) -> None:
        self.body.stopProducing()
        self.assertTrue(self.segment(0).stopped)
        self.assertEqual(len(self.app.segment_gets()), 1)

    def test_cancel(self) -> None:
        self.done.cancel()
        self.assertTrue(self.segment(0).stopped)
        self.failureResultOf(self.done)


class PagingTests(_DloTestCase):
    """
    A listing longer than a page (here, 2 names).
    """

    limit = 2

    def test_allPages(self) -> None:
        response = self.get()
        self.assertEqual(self.read(response), b"aaaabbbbbcc")
        listings = [call for call in self.app.gets() if call.path == "/v1/a/segs"]
        self.assertEqual([call.params.get("marker") for call in listings],
                         [None, "part/001"])
        self.assertNotIn("Content-Length", response.headers)
        self.assertIs(response.body.length, UNKNOWN_LENGTH)  # type: ignore[union-attr]
        # Without the whole listing, the manifest's own etag stays.
        self.assertEqual(response.headers["Etag"], _md5(b""))

    def test_rangeWithinFirstPage(self) -> None:
        response = self.get(headers={"Range": "bytes=2-5"})
        self.assertEqual(response.status, 206)
        self.assertEqual(self.read(response), b"aabb")
        self.assertEqual(response.headers["Content-Range"], "bytes 2-5/9")
        self.assertEqual(len([c for c in self.app.gets() if c.path == "/v1/a/segs"]), 1)

    def test_rangeBeyondFirstPage(self) -> None:
        """
        A range that cannot be judged from the first page is ignored.
        """
        for value in ("bytes=5-9", "bytes=-2", "bytes=3-"):
            response = self.get(headers={"Range": value})
            self.assertEqual(response.status, 200)
            self.assertEqual(self.read(response), b"aaaabbbbbcc")

    def test_listingFailsLater(self) -> None:
        response = self.get()
        self.app.statuses["/v1/a/segs"] = 503
        data, failure = self.read_failure(response)
        self.assertEqual(data, b"aaaabbbbb")
        self.assertIn("Got status 503 listing container", failure.getErrorMessage())


class RangeTests(_DloTestCase):
    def test_acrossSegments(self) -> None:
        response = self.get(headers={"Range": "bytes=2-9"})
        self.assertEqual(response.status, 206)
        self.assertEqual(self.read(response), b"aabbbbbc")
        self.assertEqual(response.headers["Content-Range"], "bytes 2-9/11")
        self.assertEqual(response.headers["Content-Length"], "8")
        self.assertEqual([(g.path, g.headers.get("Range")) for g in self.app.segment_gets()],
                         [("/v1/a/segs/part/000", "bytes=2-"),
                          ("/v1/a/segs/part/001", None),
                          ("/v1/a/segs/part/002", "bytes=0-0")])

    def test_withinSegment(self) -> None:
        response = self.get(headers={"Range": "bytes=5-6"})
        self.assertEqual(self.read(response), b"bb")
        self.assertEqual([(g.path, g.headers.get("Range")) for g in self.app.segment_gets()],
                         [("/v1/a/segs/part/001", "bytes=1-2")])

    def test_suffix(self) -> None:
        response = self.get(headers={"Range": "bytes=-3"})
        self.assertEqual(self.read(response), b"bcc")
        self.assertEqual(response.headers["Content-Range"], "bytes 8-10/11")

    def test_unsatisfiable(self) -> None:
        response = self.get(headers={"Range": "bytes=11-20"})
        self.assertEqual(response.status, 416)
        self.assertEqual(response.headers["Content-Range"], "bytes */11")
        self.assertEqual(self.app.segment_gets(), [])
        response = self.call(self.request("HEAD", headers={"Range": "bytes=11-"}))
        self.assertEqual(response.status, 416)

    def test_multipleRanges(self) -> None:
        response = self.get(headers={"Range": "bytes=0-1,4-5"})
        self.assertEqual(response.status, 200)
        self.assertEqual(self.read(response), b"aaaabbbbbcc")

    def test_invalidRange(self) -> None:
        response = self.get(headers={"Range": "bytes=5-2"})
        self.assertEqual(response.status, 200)
        self.assertEqual(self.read(response), b"aaaabbbbbcc")

    def test_head(self) -> None:
        response = self.call(self.request("HEAD", headers={"Range": "bytes=2-3"}))
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["Content-Length"], "11")
        self.assertNotIn("Content-Range", response.headers)

    def test_suffixOfNothing(self) -> None:
        self.app.put("/v1/a/c/man", b"", X_Object_Manifest="empty/x")
        response = self.get(headers={"Range": "bytes=-5"})
        self.assertEqual((response.status, response.body), (200, b""))

    @given(st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=6),
           st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=40))
    def test_anyRange(self, sizes: list[int], first: int, span: int) -> None:
        """
        A satisfiable range gets exactly its bytes of the concatenation.
        """
        pieces = [bytes([65 + index]) * size for index, size in enumerate(sizes)]
        whole = b"".join(pieces)
        app = _App()
        app.segments("s", "p", *pieces)
        app.put("/v1/a/c/o", b"", X_Object_Manifest="s/p")
        last = first + span
        request = self.request("GET", path="/v1/a/c/o",
                               headers={"Range": f"bytes={first}-{last}"})
        response = self.successResultOf(self.filter(request, app))
        if first >= len(whole):
            self.assertEqual(response.status, 416)
            return
        self.assertEqual(response.status, 206)
        self.assertEqual(self.read(response), whole[first:last + 1])
        self.assertEqual(int(response.headers["Content-Length"]),
                         len(whole[first:last + 1]))


class ConditionalTests(_DloTestCase):
    etag = _dlo_etag(b"aaaa", b"bbbbb", b"cc")

    def test_ifMatch(self) -> None:
        for method in ("GET", "HEAD"):
            response = self.call(self.request(method, headers={"If-Match": "not-it"}))
            self.assertEqual((response.status, response.body), (412, b""))
            self.assertEqual(response.headers["Content-Length"], "0")
            response = self.call(self.request(method, headers={"If-Match": self.etag}))
            self.assertEqual(response.status, 200)

    def test_ifMatchDecidedByObjectServer(self) -> None:
        """
        The object servers judge C{If-Match} against the manifest's own
        etag; their 412 is not the answer, and their private headers stay
        behind.
        """
        response = self.get(headers={"If-Match": f"x, {self.etag}"})
        self.assertEqual(response.status, 200)
        self.assertEqual(self.read(response), b"aaaabbbbbcc")
        response = self.get(headers={"If-Match": "x"})
        self.assertNotIn("X-Backend-Timestamp", response.headers)

    def test_ifNoneMatch(self) -> None:
        for method in ("GET", "HEAD"):
            for value in (self.etag, self.etag.strip('"'), "*"):
                response = self.call(self.request(method, headers={"If-None-Match": value}))
                self.assertEqual(response.status, 304)
            response = self.call(self.request(method, headers={"If-None-Match": "other"}))
            self.assertEqual(response.status, 200)
        self.assertEqual(len(self.app.segment_gets()), 1)

    def test_modifiedSince(self) -> None:
        response = self.get(headers={"If-Modified-Since": _LAST_MODIFIED})
        self.assertEqual(response.status, 304)
        response = self.get(headers={"If-Modified-Since": "Mon, 30 Jun 2025 10:00:00 GMT"})
        self.assertEqual(response.status, 200)
        response = self.get(headers={"If-Unmodified-Since": "Mon, 30 Jun 2025 10:00:00 GMT"})
        self.assertEqual(response.status, 412)
        response = self.get(headers={"If-Unmodified-Since": "garbage"})
        self.assertEqual(response.status, 200)


class RateLimitTests(_DloTestCase):
    conf = {"rate_limit_after_segment": "1", "rate_limit_segments_per_sec": "2"}

    def test_paced(self) -> None:
        """
        After the free segments, segments are fetched at the configured
        rate.
        """
        self.app.segments("segs", "many/", *[b"x"] * 5)
        self.app.put("/v1/a/c/man", b"", X_Object_Manifest="segs/many/")
        response = self.get()
        collector = Collector()
        assert not isinstance(response.body, bytes)
        done = response.body.startProducing(collector)
        self.assertEqual(len(self.app.segment_gets()), 2)
        self.clock.advance(0.5)
        self.assertEqual(len(self.app.segment_gets()), 3)
        self.clock.advance(0.5)
        self.assertEqual(len(self.app.segment_gets()), 4)
        self.assertNoResult(done)
        self.clock.advance(0.5)
        self.successResultOf(done)
        self.assertEqual(collector.data, b"xxxxx")
