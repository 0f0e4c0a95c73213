"""
Tests for L{twisted_proxy.plugins.copy}: server-side copy.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.interfaces import IConsumer
from twisted.internet.task import Clock
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.doubles import Collector, partial_context
from twisted_proxy.config import ConfigError
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins.copy import ServerSideCopy, copyPlugin
from twisted_proxy.swift.constraints import Constraints
from twisted_proxy.swift.http import (
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    wire_quote,
)

_LAST_MODIFIED = "Tue, 01 Jul 2025 10:00:00 GMT"
TRANS_ID = "tx0123456789abcdef01234-006553f100"


@implementer(IBodyProducer)
class _SourceBody:
    """
    A source object's body, as the object controller's L{BackendBody}: it
    streams into a consumer when asked, and says whether it was read,
    paused or dropped.

    @param hold: when true, nothing is written until L{release}.
    """

    def __init__(self, data: bytes, length: object = None, hold: bool = False) -> None:
        self.data = data
        self.length = len(data) if length is None else length
        self.hold = hold
        self.started = False
        self.stopped = False
        self.paused = False
        self.consumer: Optional[IConsumer] = None
        self.done: Optional[Deferred[None]] = None

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        self.started = True
        self.consumer = consumer
        done: Deferred[None] = Deferred(lambda _: self.stopProducing())
        self.done = done
        if not self.hold:
            self.release()
        return done

    def release(self) -> None:
        assert self.consumer is not None and self.done is not None
        self.consumer.write(self.data)
        done, self.done = self.done, None
        done.callback(None)

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        self.stopped = True
        self.done = None


def _source(
    body: bytes = b"source data",
    status: int = 200,
    headers: Optional[dict[str, str]] = None,
    length: object = None,
    hold: bool = False,
) -> SwiftResponse:
    producer = _SourceBody(body, length, hold)
    all_headers = HeaderDict({
        "Content-Type": "application/test",
        "Etag": "0123456789abcdef0123456789abcdef",
        "Last-Modified": _LAST_MODIFIED,
        "X-Timestamp": "1751364000.00000",
        "Accept-Ranges": "bytes",
        "X-Trans-Id": "txsource",
    })
    if producer.length is not UNKNOWN_LENGTH:
        all_headers["Content-Length"] = str(producer.length)
    for name, value in (headers or {}).items():
        all_headers[name] = value
    return SwiftResponse(status, all_headers, producer)


class _Call:
    """
    One request the fake application was given, as it saw it.
    """

    def __init__(self, request: SwiftRequest) -> None:
        self.request = request
        self.method = request.method
        self.path = request.path
        self.headers = request.headers.copy()
        self.params = dict(request.params)
        self.query_string = request.query_string
        self.environ = request.environ
        self.body_read: Optional[bytes] = None


@implementer(IProxyApplication)
class _App:
    """
    The rest of the pipeline: authorizes each request with the environ's
    C{swift.authorize} as the proxy application does, records it, and
    answers a copy's GETs from C{sources}, PUTs with a body by reading it
    (unless C{put_status} says otherwise), and anything else with
    C{other}.
    """

    def __init__(self) -> None:
        self.calls: list[_Call] = []
        self.sources: dict[str, SwiftResponse] = {}
        self.put_status = 201
        self.put_hold = False
        self.pending_put: Optional[Deferred[SwiftResponse]] = None
        self.other: Callable[[SwiftRequest], SwiftResponse] = lambda request: SwiftResponse(
            200, {"X-Passed": "yes"}, b"passed")

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        call = _Call(request)
        self.calls.append(call)
        authorize = request.environ.get("swift.authorize")
        if authorize is not None:
            denied = authorize(request)
            if denied is not None:
                return succeed(denied)
        if request.method == "GET" and request.environ.get("swift.source") == "SSC":
            source = self.sources.get(request.path)
            return succeed(source if source is not None else error_response(404))
        if request.method == "PUT" and request.body is not None:
            if self.put_status != 201:
                return succeed(error_response(self.put_status))
            if self.put_hold:
                self.pending_put = Deferred()
                return self.pending_put
            collector = Collector()
            d = request.body.startProducing(collector)
            self.assertLength = request.body.length
            result: Deferred[SwiftResponse] = Deferred()

            def read(_: object) -> None:
                call.body_read = collector.data
                result.callback(SwiftResponse(201, {
                    "Content-Type": "text/html; charset=UTF-8",
                    "Etag": "fedcba9876543210fedcba9876543210",
                    "Last-Modified": "Wed, 02 Jul 2025 10:00:00 GMT",
                    "X-Trans-Id": request.environ.get("swift.trans_id", ""),
                }, b""))

            d.addCallback(read)
            return result
        return succeed(self.other(request))

    def call(self, method: str) -> list[_Call]:
        return [call for call in self.calls if call.method == method]


class _Authorizer:
    """
    A C{swift.authorize}: records the requests it is asked about and
    refuses those whose path starts with one of C{refuse}.
    """

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []
        self.refuse: list[str] = []
        self.owner_of: Optional[str] = None

    def __call__(self, request: SwiftRequest) -> Optional[SwiftResponse]:
        self.asked.append((request.method, request.path))
        if self.owner_of is not None and request.path.startswith(self.owner_of):
            request.environ["swift_owner"] = True
        for prefix in self.refuse:
            if request.path.startswith(prefix):
                return error_response(403)
        return None


class _Context:
    def __init__(self, max_file_size: int = 5368709122) -> None:
        self.reactor = Clock()
        self.constraints = Constraints(max_file_size=max_file_size)
        self.info: dict[str, Any] = {}

    def register_info(self, name: str, **info: Any) -> None:
        self.info[name] = info


class _CopyTestCase(SynchronousTestCase):
    max_file_size = 5368709122
    conf: dict[str, str] = {}

    def setUp(self) -> None:
        self.context = _Context(self.max_file_size)
        self.clock = self.context.reactor
        self.filter = copyPlugin.make_filter(self.conf, partial_context(self.context))
        self.app = _App()
        self.authorize = _Authorizer()

    def request(self, method: str, path: str,
                headers: Optional[dict[str, str]] = None,
                query: str = "") -> SwiftRequest:
        all_headers = HeaderDict({"X-Auth-Token": "AUTH_tk"})
        for name, value in (headers or {}).items():
            all_headers[name] = value
        uri = wire_quote(path) + ("?" + query if query else "")
        # The transaction id the pipeline gives a request as it enters.
        return SwiftRequest(
            method, uri.encode("latin-1"), all_headers,
            environ={"swift.authorize": self.authorize, "REMOTE_USER": "a,a:u",
                     "swift.trans_id": TRANS_ID},
        )

    def call(self, request: SwiftRequest) -> SwiftResponse:
        return self.successResultOf(self.filter(request, self.app))

    def copy(self, path: str = "/v1/a/c/o", destination: str = "c2/o2",
             headers: Optional[dict[str, str]] = None, query: str = "",
             source: Optional[SwiftResponse] = None,
             source_path: str = "/v1/a/c/o") -> SwiftResponse:
        all_headers = {"Destination": destination}
        all_headers.update(headers or {})
        self.app.sources[source_path] = source if source is not None else _source()
        return self.call(self.request("COPY", path, all_headers, query))

    def copy_from(self, path: str = "/v1/a/c2/o2", copy_from: str = "c/o",
                  headers: Optional[dict[str, str]] = None, query: str = "",
                  source: Optional[SwiftResponse] = None,
                  source_path: str = "/v1/a/c/o") -> SwiftResponse:
        all_headers = {"X-Copy-From": copy_from, "Content-Length": "0"}
        all_headers.update(headers or {})
        self.app.sources[source_path] = source if source is not None else _source()
        return self.call(self.request("PUT", path, all_headers, query))

    def put_call(self) -> _Call:
        puts = self.app.call("PUT")
        self.assertEqual(len(puts), 1)
        return puts[0]

    def get_call(self) -> _Call:
        gets = self.app.call("GET")
        self.assertEqual(len(gets), 1)
        return gets[0]


class PluginTests(_CopyTestCase):
    """
    The plugin object and the filter it makes.
    """

    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(IPlugin, copyPlugin))
        self.assertTrue(verifyObject(IProxyPluginFactory, copyPlugin))
        self.assertEqual(copyPlugin.name, "copy")
        self.assertTrue(verifyObject(IProxyFilter, self.filter))

    def test_noInfo(self) -> None:
        """
        Swift's copy middleware adds nothing to C{/info}.
        """
        self.assertEqual(self.context.info, {})

    def test_badYieldFrequency(self) -> None:
        for value in ("often", "0", "-1"):
            self.assertRaises(ConfigError, copyPlugin.make_filter,
                              {"yield_frequency": value}, self.context)


class PassThroughTests(_CopyTestCase):
    """
    Requests that are not copies go on untouched.
    """

    def assertPassed(self, request: SwiftRequest) -> None:
        response = self.call(request)
        self.assertEqual(response.headers.get("X-Passed"), "yes")
        self.assertEqual(len(self.app.calls), 1)
        self.assertIs(self.app.calls[0].request, request)

    def test_objectMethods(self) -> None:
        for method in ("GET", "HEAD", "POST", "DELETE", "PUT"):
            self.app.calls.clear()
            self.assertPassed(self.request(method, "/v1/a/c/o"))

    def test_emptyCopyFrom(self) -> None:
        """
        A PUT whose X-Copy-From is empty is an ordinary upload.
        """
        self.assertPassed(self.request("PUT", "/v1/a/c/o", {"X-Copy-From": ""}))

    def test_notAnObject(self) -> None:
        """
        COPY or PUT with X-Copy-From of an account or container (or of a
        path with an empty part) is for the application to refuse.
        """
        for path in ("/v1/a", "/v1/a/c", "/v1/a/c/", "/v1//c/o", "/info"):
            for method, headers in (("COPY", {"Destination": "c/o"}),
                                    ("PUT", {"X-Copy-From": "c/o"})):
                self.app.calls.clear()
                self.assertPassed(self.request(method, path, headers))


class CopyTranslationTests(_CopyTestCase):
    """
    COPY and PUT with X-Copy-From become a GET of the source and a PUT of
    the destination.
    """

    def test_copy(self) -> None:
        response = self.copy()
        self.assertEqual(response.status, 201)
        self.assertEqual([(c.method, c.path) for c in self.app.calls],
                         [("GET", "/v1/a/c/o"), ("PUT", "/v1/a/c2/o2")])
        self.assertEqual(self.put_call().body_read, b"source data")
        self.assertEqual(response.headers["X-Copied-From"], "c/o")
        self.assertEqual(response.headers["X-Copied-From-Account"], "a")
        self.assertEqual(response.headers["X-Copied-From-Last-Modified"], _LAST_MODIFIED)
        self.assertEqual(response.headers["Etag"], "fedcba9876543210fedcba9876543210")
        self.assertEqual(response.headers["Last-Modified"],
                         "Wed, 02 Jul 2025 10:00:00 GMT")

    def test_copyLeadingSlash(self) -> None:
        self.assertEqual(self.copy(destination="/c2/o2").status, 201)
        self.assertEqual(self.put_call().path, "/v1/a/c2/o2")

    def test_copyKeepsSlashesInObject(self) -> None:
        self.assertEqual(self.copy(destination="/c2/d/e/o2").status, 201)
        self.assertEqual(self.put_call().path, "/v1/a/c2/d/e/o2")

    def test_copyQuotedNames(self) -> None:
        """
        Destination is percent-decoded once; X-Copied-From is quoted.
        """
        source_path = "/v1/a/c/dealde%2Fl04 011e%204c8df/flash.png"
        response = self.copy(
            path=source_path,
            destination="c2/na%C3%AFve%252F%20x",
            source_path=source_path,
        )
        self.assertEqual(response.status, 201)
        self.assertEqual(self.put_call().path, "/v1/a/c2/na\xc3\xafve%2F x")
        self.assertEqual(response.headers["X-Copied-From"],
                         "c/dealde%252Fl04%20011e%25204c8df/flash.png")

    def test_copyDestinationAccount(self) -> None:
        response = self.copy(headers={"Destination-Account": "a2"})
        self.assertEqual(response.status, 201)
        self.assertEqual([(c.method, c.path) for c in self.app.calls],
                         [("GET", "/v1/a/c/o"), ("PUT", "/v1/a2/c2/o2")])
        self.assertEqual(response.headers["X-Copied-From-Account"], "a")
        for call in self.app.calls:
            self.assertNotIn("Destination-Account", call.headers)
            self.assertNotIn("Destination", call.headers)

    def test_copyFrom(self) -> None:
        response = self.copy_from()
        self.assertEqual(response.status, 201)
        self.assertEqual([(c.method, c.path) for c in self.app.calls],
                         [("GET", "/v1/a/c/o"), ("PUT", "/v1/a/c2/o2")])
        self.assertEqual(self.put_call().body_read, b"source data")
        self.assertEqual(response.headers["X-Copied-From"], "c/o")
        self.assertEqual(response.headers["X-Copied-From-Account"], "a")

    def test_copyFromLeadingSlash(self) -> None:
        self.assertEqual(self.copy_from(copy_from="/c/o").status, 201)
        self.assertEqual(self.get_call().path, "/v1/a/c/o")

    def test_copyFromAccount(self) -> None:
        response = self.copy_from(
            headers={"X-Copy-From-Account": "a1"}, source_path="/v1/a1/c/o")
        self.assertEqual(response.status, 201)
        self.assertEqual([(c.method, c.path) for c in self.app.calls],
                         [("GET", "/v1/a1/c/o"), ("PUT", "/v1/a/c2/o2")])
        self.assertEqual(response.headers["X-Copied-From-Account"], "a1")
        self.assertNotIn("X-Copy-From-Account", self.put_call().headers)
        self.assertNotIn("X-Copy-From", self.put_call().headers)

    def test_copyFromChunkedEmpty(self) -> None:
        """
        A PUT with X-Copy-From may announce an empty chunked body.
        """
        response = self.copy_from(headers={"Transfer-Encoding": "chunked"})
        self.assertEqual(response.status, 201)
        self.assertNotIn("Transfer-Encoding", self.put_call().headers)

    def test_sourceRequest(self) -> None:
        """
        The source GET reads the newest replica and carries the client's
        headers (conditions, Range) but no body framing.
        """
        self.copy(headers={"If-Match": "abc", "Content-Length": "0"})
        get = self.get_call()
        self.assertEqual(get.headers["X-Newest"], "true")
        self.assertEqual(get.headers["If-Match"], "abc")
        self.assertNotIn("Content-Length", get.headers)
        self.assertIsNone(get.request.body)

    def test_putStreamsSource(self) -> None:
        """
        The destination PUT's body is the source's body as a producer,
        with its length, read only by the PUT.
        """
        source = _source(b"x" * 1000, hold=True)
        self.app.put_hold = True
        self.app.sources["/v1/a/c/o"] = source
        d = self.filter(self.request("COPY", "/v1/a/c/o", {"Destination": "c2/o2"}),
                        self.app)
        self.assertNoResult(d)
        put = self.put_call()
        self.assertEqual(put.headers["Content-Length"], "1000")
        body: Any = put.request.body
        self.assertEqual(body.length, 1000)
        producer: Any = source.body
        self.assertFalse(producer.started)
        collector = Collector()
        done = body.startProducing(collector)
        body.pauseProducing()
        self.assertTrue(producer.paused)
        body.resumeProducing()
        self.assertFalse(producer.paused)
        producer.release()
        self.successResultOf(done)
        self.assertEqual(collector.data, b"x" * 1000)
        assert self.app.pending_put is not None
        self.app.pending_put.callback(SwiftResponse(201))
        self.assertEqual(self.successResultOf(d).status, 201)
        self.assertFalse(producer.stopped)

    def test_cancelDropsSource(self) -> None:
        """
        When the client goes away while the PUT has not read the source,
        the source is dropped.
        """
        source = _source(hold=True)
        self.app.put_hold = True
        self.app.sources["/v1/a/c/o"] = source
        d = self.filter(self.request("COPY", "/v1/a/c/o", {"Destination": "c2/o2"}),
                        self.app)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        producer: Any = source.body
        self.assertTrue(producer.stopped)

    def test_transId(self) -> None:
        """
        The sub-requests carry the request's transaction id, which the
        answer carries too.
        """
        response = self.copy()
        trans_ids = {call.environ["swift.trans_id"] for call in self.app.calls}
        self.assertEqual(trans_ids, {TRANS_ID})
        self.assertEqual(response.headers["X-Trans-Id"], TRANS_ID)

    def test_noTransId(self) -> None:
        """
        The plugin makes no transaction id of its own: a request that
        reaches it without one (outside a pipeline) is answered without.
        """
        request = self.request("COPY", "/v1/a/c/o")
        del request.environ["swift.trans_id"]
        response = self.call(request)
        self.assertEqual(response.status, 412)
        self.assertNotIn("X-Trans-Id", response.headers)
        self.assertNotIn("swift.trans_id", request.environ)

    def test_origMethod(self) -> None:
        request = self.request("COPY", "/v1/a/c/o", {"Destination": "c2/o2"})
        self.app.sources["/v1/a/c/o"] = _source()
        self.call(request)
        self.assertEqual(request.environ["swift.orig_req_method"], "COPY")


class AuthorizationTests(_CopyTestCase):
    """
    Each sub-request is authorized as the client, for its own path.
    """

    def test_bothAuthorized(self) -> None:
        self.copy(headers={"Destination-Account": "a2"})
        self.assertEqual(self.authorize.asked,
                         [("GET", "/v1/a/c/o"), ("PUT", "/v1/a2/c2/o2")])

    def test_sourceRefused(self) -> None:
        self.authorize.refuse = ["/v1/a1/"]
        response = self.copy_from(headers={"X-Copy-From-Account": "a1"},
                                  source_path="/v1/a1/c/o")
        self.assertEqual(response.status, 403)
        self.assertEqual(self.app.call("PUT"), [])

    def test_destinationRefused(self) -> None:
        """
        A refused PUT is answered as it is, and the source body, never
        read, is dropped.
        """
        self.authorize.refuse = ["/v1/a2/"]
        source = _source()
        response = self.copy(headers={"Destination-Account": "a2"}, source=source)
        self.assertEqual(response.status, 403)
        self.assertNotIn("X-Copied-From", response.headers)
        producer: Any = source.body
        self.assertTrue(producer.stopped)

    def test_ownershipDoesNotLeak(self) -> None:
        """
        Owning the source account (C{swift_owner}) says nothing about the
        destination: each sub-request has its own environ.
        """
        self.authorize.owner_of = "/v1/a/"
        request = self.request("COPY", "/v1/a/c/o",
                               {"Destination": "c2/o2", "Destination-Account": "a2"})
        self.app.sources["/v1/a/c/o"] = _source()
        self.call(request)
        self.assertTrue(self.get_call().environ.get("swift_owner"))
        self.assertFalse(self.put_call().environ.get("swift_owner"))
        self.assertFalse(request.environ.get("swift_owner"))

    def test_sysmetaAllowedInSubrequests(self) -> None:
        request = self.request("COPY", "/v1/a/c/o", {"Destination": "c2/o2"})
        self.app.sources["/v1/a/c/o"] = _source()
        self.call(request)
        for call in self.app.calls:
            self.assertTrue(call.environ["swift.sysmeta_ok"])
            self.assertEqual(call.environ["swift.source"], "SSC")
        self.assertNotIn("swift.sysmeta_ok", request.environ)

    def test_infoCacheShared(self) -> None:
        from twisted_proxy.info.cache import INFO_ENVIRON_KEY

        request = self.request("COPY", "/v1/a/c/o", {"Destination": "c2/o2"})
        self.app.sources["/v1/a/c/o"] = _source()
        self.call(request)
        caches = [call.environ[INFO_ENVIRON_KEY] for call in self.app.calls]
        self.assertIs(caches[0], caches[1])
        self.assertIs(caches[0], request.environ[INFO_ENVIRON_KEY])


class MetadataTests(_CopyTestCase):
    """
    What the destination gets from the source and from the request.
    """

    source_headers = {
        "Content-Type": "text/original",
        "Content-Encoding": "gzip",
        "Content-Disposition": "attachment; filename=myfile",
        "X-Object-Meta-Test": "original",
        "X-Object-Sysmeta-Test": "original",
        "X-Object-Transient-Sysmeta-Test": "original",
        "X-Delete-At": "9999999999",
        "X-Foo": "Bar",
    }

    def copy_with(self, headers: dict[str, str]) -> tuple[SwiftResponse, HeaderDict]:
        response = self.copy(headers=headers, source=_source(headers=self.source_headers))
        self.assertEqual(response.status, 201)
        return response, self.put_call().headers

    def test_sourceHeadersKept(self) -> None:
        response, put = self.copy_with({})
        for name, value in self.source_headers.items():
            self.assertEqual(put[name], value)
        self.assertEqual(put["Etag"], "0123456789abcdef0123456789abcdef")
        self.assertEqual(put["Content-Length"], str(len(b"source data")))
        for name in ("X-Timestamp", "X-Trans-Id", "Destination", "X-Copy-From"):
            self.assertNotIn(name, put)
        self.assertEqual(response.headers["X-Object-Meta-Test"], "original")
        self.assertEqual(response.headers["X-Delete-At"], "9999999999")
        # System metadata never reaches the client.
        self.assertNotIn("X-Object-Sysmeta-Test", response.headers)
        self.assertNotIn("X-Object-Transient-Sysmeta-Test", response.headers)

    def test_quotedSourceEtag(self) -> None:
        """
        The source's etag, as object servers quote it, is checked by the
        destination's servers without its quotes.
        """
        headers = dict(self.source_headers, Etag='"0123456789abcdef0123456789abcdef"')
        response = self.copy(source=_source(headers=headers))
        self.assertEqual(response.status, 201)
        self.assertEqual(self.put_call().headers["Etag"], "0123456789abcdef0123456789abcdef")

    def test_requestOverrides(self) -> None:
        updates = {
            "Content-Type": "text/not_original",
            "Content-Encoding": "not_gzip",
            "Content-Disposition": "attachment; filename=notmyfile",
            "X-Object-Meta-Test": "not_original",
            "X-Object-Meta-Extra": "fresh",
            "X-Foo": "Not Bar",
        }
        response, put = self.copy_with(updates)
        for name, value in updates.items():
            self.assertEqual(put[name], value)
        self.assertEqual(put["X-Object-Sysmeta-Test"], "original")
        self.assertEqual(response.headers["X-Object-Meta-Extra"], "fresh")

    def test_freshMetadata(self) -> None:
        """
        With X-Fresh-Metadata only the source's system metadata (and its
        Content-Type, unless the request sets one) is kept.
        """
        _, put = self.copy_with({"X-Fresh-Metadata": "true", "X-Object-Meta-Extra": "new"})
        self.assertEqual(put["Content-Type"], "text/original")
        self.assertEqual(put["X-Object-Sysmeta-Test"], "original")
        self.assertEqual(put["X-Object-Meta-Extra"], "new")
        for name in ("X-Object-Meta-Test", "X-Object-Transient-Sysmeta-Test",
                     "Content-Encoding", "Content-Disposition", "X-Foo",
                     "X-Delete-At", "X-Timestamp"):
            self.assertNotIn(name, put)

    def test_freshMetadataWithUpdates(self) -> None:
        _, put = self.copy_with({"X-Fresh-Metadata": "yes",
                                 "Content-Type": "application/test-updated"})
        self.assertEqual(put["Content-Type"], "application/test-updated")

    def test_freshMetadataFalse(self) -> None:
        _, put = self.copy_with({"X-Fresh-Metadata": "false"})
        self.assertEqual(put["X-Object-Meta-Test"], "original")

    def test_range(self) -> None:
        """
        A Range copies part of the source: the destination's length is the
        part's, and neither the source's ETag nor its container-update
        overrides apply to it.
        """
        source = _source(
            b"bcd", status=206,
            headers={"Content-Range": "bytes 1-3/10",
                     "X-Object-Sysmeta-Container-Update-Override-Etag": "e",
                     "X-Object-Sysmeta-Other": "kept"})
        response = self.copy(headers={"Range": "bytes=1-3"}, source=source)
        self.assertEqual(response.status, 201)
        self.assertEqual(self.get_call().headers["Range"], "bytes=1-3")
        put = self.put_call()
        self.assertEqual(put.body_read, b"bcd")
        self.assertEqual(put.headers["Content-Length"], "3")
        self.assertNotIn("Etag", put.headers)
        self.assertNotIn("X-Object-Sysmeta-Container-Update-Override-Etag", put.headers)
        self.assertEqual(put.headers["X-Object-Sysmeta-Other"], "kept")

    def test_contentTypeOnlyWhenAbsent(self) -> None:
        _, put = self.copy_with({"Content-Type": ""})
        self.assertEqual(put["Content-Type"], "text/original")

    def test_staticLargeObject(self) -> None:
        """
        Copying an SLO copies its content: no manifest flag, no ETag.
        """
        source = _source(headers={"X-Static-Large-Object": "True"})
        self.copy_from(source=source)
        put = self.put_call()
        self.assertNotIn("X-Static-Large-Object", put.headers)
        self.assertNotIn("Etag", put.headers)
        self.assertEqual(put.params, {})

    def test_staticLargeObjectManifest(self) -> None:
        source = _source(headers={"X-Static-Large-Object": "True"})
        self.copy_from(source=source, query="multipart-manifest=get")
        self.assertEqual(self.get_call().params,
                         {"multipart-manifest": "get", "format": "raw"})
        self.assertIn("format=raw", self.get_call().query_string)
        put = self.put_call()
        self.assertEqual(put.params, {"multipart-manifest": "put"})
        self.assertEqual(put.query_string, "multipart-manifest=put")
        self.assertNotIn("Etag", put.headers)

    def test_dynamicLargeObject(self) -> None:
        source = _source(headers={"X-Object-Manifest": "segs/prefix"})
        self.copy(source=source)
        put = self.put_call()
        self.assertNotIn("X-Object-Manifest", put.headers)
        self.assertNotIn("Etag", put.headers)

    def test_dynamicLargeObjectManifest(self) -> None:
        source = _source(headers={"X-Object-Manifest": "segs/prefix"})
        self.copy(source=source, query="multipart-manifest=get")
        put = self.put_call()
        self.assertEqual(put.headers["X-Object-Manifest"], "segs/prefix")
        self.assertEqual(put.headers["Etag"], "0123456789abcdef0123456789abcdef")
        self.assertEqual(put.params, {})
        self.assertEqual(put.query_string, "")

    def test_versionIdDropped(self) -> None:
        self.copy_from(query="version-id=123&a=b")
        self.assertEqual(self.put_call().params, {"a": "b"})


class ErrorTests(_CopyTestCase):
    """
    Refusals, as Swift words them.
    """

    def assertRefused(self, response: SwiftResponse, status: int,
                      body: Optional[bytes] = None) -> None:
        self.assertEqual(response.status, status)
        if body is not None:
            self.assertEqual(response.body, body)
        self.assertIn("X-Trans-Id", response.headers)

    def test_noDestination(self) -> None:
        response = self.call(self.request("COPY", "/v1/a/c/o"))
        self.assertRefused(response, 412, b"Destination header required")
        self.assertEqual(response.headers["Content-Type"], "text/html; charset=UTF-8")
        self.assertEqual(self.app.calls, [])
        self.assertEqual(self.authorize.asked, [])

    def test_emptyDestination(self) -> None:
        response = self.call(self.request("COPY", "/v1/a/c/o", {"Destination": ""}))
        self.assertRefused(response, 412, b"Destination header required")

    def test_oddDestination(self) -> None:
        """
        The object part of a destination keeps every slash after the
        container's.
        """
        for destination, path in (("c2//o", "/v1/a/c2//o"), ("/c2/o/", "/v1/a/c2/o/"),
                                  ("c2/o%2Fp", "/v1/a/c2/o/p")):
            self.assertEqual(self.copy(destination=destination).status, 201)
            self.assertEqual(self.app.call("PUT")[-1].path, path)

    def test_badDestination(self) -> None:
        for destination in ("o", "/o", "//o", "c/", "/c/", "%2Fc", "/"):
            response = self.copy(destination=destination)
            self.assertRefused(
                response, 412,
                b"Destination header must be of the form "
                b"<container name>/<object name>")
        self.assertEqual(self.app.calls, [])

    def test_badDestinationAccount(self) -> None:
        for account, message in (("", b"Account name cannot be empty"),
                                 ("a/b", b"Account name cannot contain slashes"),
                                 ("a%2Fb", b"Account name cannot contain slashes")):
            response = self.copy(headers={"Destination-Account": account})
            self.assertRefused(response, 412, message)
        self.assertEqual(self.app.calls, [])

    def test_badCopyFrom(self) -> None:
        for copy_from in ("o", "//o", "c/", "/c"):
            response = self.copy_from(copy_from=copy_from)
            self.assertRefused(
                response, 412,
                b"X-Copy-From header must be of the form "
                b"<container name>/<object name>")
        self.assertEqual(self.app.calls, [])

    def test_badCopyFromAccount(self) -> None:
        response = self.copy_from(headers={"X-Copy-From-Account": "a/b"})
        self.assertRefused(response, 412, b"Account name cannot contain slashes")

    def test_copyFromWithBody(self) -> None:
        response = self.copy_from(headers={"Content-Length": "5"})
        self.assertRefused(response, 400, b"Copy requests require a zero byte body")
        self.assertEqual(response.headers["Content-Type"], "text/plain")
        self.assertEqual(self.app.calls, [])

    def test_copyIgnoresBodyLength(self) -> None:
        """
        A COPY's own Content-Length does not matter.
        """
        self.assertEqual(self.copy(headers={"Content-Length": "5"}).status, 201)

    def test_sourceNotFound(self) -> None:
        response = self.copy(path="/v1/a/c/missing")
        self.assertEqual(response.status, 404)
        self.assertEqual(self.app.call("PUT"), [])

    def test_sourceErrorPassedOn(self) -> None:
        """
        A source answer of 300 or more is the answer, less its system
        metadata.
        """
        source = _source(b"", status=412,
                         headers={"X-Object-Sysmeta-Secret": "s", "Content-Length": "0"})
        response = self.copy(headers={"If-Match": "nope"}, source=source)
        self.assertIs(response, source)
        self.assertNotIn("X-Object-Sysmeta-Secret", response.headers)
        self.assertEqual(self.app.call("PUT"), [])

    def test_destinationNotFound(self) -> None:
        self.app.put_status = 404
        source = _source()
        response = self.copy(source=source)
        self.assertEqual(response.status, 404)
        self.assertNotIn("X-Copied-From", response.headers)
        producer: Any = source.body
        self.assertTrue(producer.stopped)

    def test_unknownLength(self) -> None:
        source = _source(length=UNKNOWN_LENGTH)
        response = self.copy(source=source)
        self.assertRefused(response, 413)
        self.assertEqual(self.app.call("PUT"), [])
        producer: Any = source.body
        self.assertTrue(producer.stopped)


class TooLargeTests(_CopyTestCase):
    max_file_size = 10

    def test_tooLarge(self) -> None:
        source = _source(b"x" * 11)
        response = self.copy(source=source)
        self.assertEqual(response.status, 413)
        self.assertIn(b"Request Entity Too Large", response.body)  # type: ignore[operator]
        self.assertEqual(self.app.call("PUT"), [])
        producer: Any = source.body
        self.assertTrue(producer.stopped)

    def test_largest(self) -> None:
        self.assertEqual(self.copy(source=_source(b"x" * 10)).status, 201)


class OptionsTests(_CopyTestCase):
    """
    An object's OPTIONS lists COPY.
    """

    def test_allow(self) -> None:
        self.app.other = lambda request: SwiftResponse(200, {
            "Allow": "GET, PUT", "Access-Control-Allow-Methods": "GET, PUT"})
        response = self.call(self.request("OPTIONS", "/v1/a/c/o"))
        self.assertEqual(response.headers["Allow"], "GET, PUT, COPY")
        self.assertEqual(response.headers["Access-Control-Allow-Methods"],
                         "GET, PUT, COPY")

    def test_notTwice(self) -> None:
        self.app.other = lambda request: SwiftResponse(200, {"Allow": "COPY, GET"})
        response = self.call(self.request("OPTIONS", "/v1/a/c/o"))
        self.assertEqual(response.headers["Allow"], "COPY, GET")

    def test_failure(self) -> None:
        self.app.other = lambda request: SwiftResponse(401, {"Allow": "GET"})
        response = self.call(self.request("OPTIONS", "/v1/a/c/o"))
        self.assertEqual(response.headers["Allow"], "GET")

    def test_container(self) -> None:
        self.app.other = lambda request: SwiftResponse(200, {"Allow": "GET"})
        response = self.call(self.request("OPTIONS", "/v1/a/c"))
        self.assertEqual(response.headers["Allow"], "GET")


class HeartbeatTests(_CopyTestCase):
    """
    C{?heartbeat=on}: 202 at once, spaces while the copy runs, a summary.
    """

    conf = {"yield_frequency": "2"}

    def start(self, headers: Optional[dict[str, str]] = None
              ) -> tuple[SwiftResponse, Collector, "Deferred[None]"]:
        self.app.put_hold = True
        response = self.copy(query="heartbeat=on", headers=headers)
        self.assertEqual(response.status, 202)
        collector = Collector()
        body: Any = response.body
        done = body.startProducing(collector)
        return response, collector, done

    def test_success(self) -> None:
        response, collector, done = self.start()
        self.assertEqual(response.headers["Content-Type"], "text/plain")
        self.assertEqual(collector.data, b" ")
        self.clock.advance(2)
        self.clock.advance(2)
        self.assertEqual(collector.data, b"   ")
        self.assertNoResult(done)
        assert self.app.pending_put is not None
        self.app.pending_put.callback(SwiftResponse(201, {"Etag": "abc"}, b""))
        self.successResultOf(done)
        self.clock.advance(10)
        summary = collector.data[3:].decode("utf-8")
        self.assertIn("Response Status: 201 Created\n", summary)
        self.assertIn("X-Copied-From: c/o\n", summary)
        self.assertIn("Etag: abc\n", summary)
        self.assertTrue(summary.endswith("Errors:\n"))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_failureJSON(self) -> None:
        _, collector, done = self.start({"Accept": "application/json"})
        assert self.app.pending_put is not None
        self.app.pending_put.callback(error_response(404))
        self.successResultOf(done)
        summary = json.loads(collector.data[1:])
        self.assertEqual(summary["Response Status"], "404 Not Found")
        self.assertIn("Not Found", summary["Response Body"])
        self.assertEqual(summary["Errors"], [["c/o", "404 Not Found"]])

    def test_clientGone(self) -> None:
        response, collector, done = self.start()
        pending = self.app.pending_put
        assert pending is not None
        pending.addErrback(lambda f: f.trap(CancelledError))
        body: Any = response.body
        body.stopProducing()
        self.assertTrue(pending.called)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class PathHeaderPropertyTests(SynchronousTestCase):
    """
    Destination parsing for any container and object names.
    """

    @given(
        container=st.text(alphabet=st.characters(blacklist_characters="/%",
                                                 blacklist_categories=["Cs"]),
                          min_size=1, max_size=20),
        obj=st.text(alphabet=st.characters(blacklist_characters="%",
                                           blacklist_categories=["Cs"]),
                    min_size=1, max_size=40),
        slash=st.booleans(),
    )
    def test_roundTrip(self, container: str, obj: str, slash: bool) -> None:
        """
        A quoted C{[/]container/object} names that container and object.
        """
        from urllib.parse import quote

        from twisted_proxy.plugins.copy import _container_and_object

        wsgi_container = container.encode("utf-8").decode("latin-1")
        wsgi_obj = obj.encode("utf-8").decode("latin-1")
        value = ("/" if slash else "") + quote(f"{container}/{obj}")
        self.assertEqual(_container_and_object(value), (wsgi_container, wsgi_obj))


class FilterConstructionTests(SynchronousTestCase):
    def test_direct(self) -> None:
        copier = ServerSideCopy(Clock(), 100)
        self.assertTrue(verifyObject(IProxyFilter, copier))
