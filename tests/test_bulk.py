"""
Tests for L{twisted_proxy.plugins.bulk}: bulk delete and archive extraction.
"""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any, Optional
from xml.dom import minidom

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IConsumer, IPushProducer
from twisted.internet.task import Clock
from twisted.plugin import IPlugin
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.doubles import Collector, partial_context
from twisted_proxy.config import ConfigError
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins.bulk import bulkPlugin, result_body
from twisted_proxy.swift.constraints import Constraints
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse, error_response
from twisted_proxy.web.requestbody import RequestBody


@implementer(IBodyProducer)
class _Upload:
    """
    A buffered request body, as twisted.web gives a POST's: written in
    chunks when asked; records being stopped.
    """

    def __init__(self, data: bytes, chunk: int = 7) -> None:
        self.data = data
        self.length = len(data)
        self.chunk = chunk
        self.stopped = False
        self.written = 0

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        for start in range(0, len(self.data), self.chunk):
            if self.stopped:
                # A stopped FileBodyProducer's Deferred never fires.
                return Deferred()
            consumer.write(self.data[start:start + self.chunk])
            self.written = start + self.chunk
        return succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        self.stopped = True


@implementer(IPushProducer)
class _Transport:
    """
    The client connection under a streaming request body.
    """

    def __init__(self) -> None:
        self.paused = False

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        pass


@implementer(IProxyApplication)
class _App:
    """
    The rest of the pipeline: refuses requests without the token with
    C{401}; deletes, creates and looks at containers and objects in
    memory; reads each object upload's body.

    @ivar statuses: C{(method, path)} answered with that status instead.
    @ivar hold: when true, DELETEs wait in C{pending} for L{release}.
    @ivar reader: makes the consumer an object upload is read with.
    """

    def __init__(self) -> None:
        self.calls: list[SwiftRequest] = []
        self.objects: dict[str, bytes] = {}
        self.headers: dict[str, HeaderDict] = {}
        self.containers: set[str] = set()
        self.statuses: dict[tuple[str, str], int] = {}
        self.hold = False
        self.pending: list[tuple[SwiftRequest, Deferred[SwiftResponse]]] = []
        self.reader = lambda request: Collector()
        self.uploads: dict[str, Collector] = {}

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.calls.append(request)
        method, path = request.method, request.path
        if request.headers.get("X-Auth-Token") != "AUTH_tk":
            return succeed(error_response(401, method=method))
        status = self.statuses.get((method, path))
        if status is not None:
            return succeed(error_response(status, method=method))
        container = path.count("/") == 3
        if method == "DELETE":
            if self.hold:
                d: Deferred[SwiftResponse] = Deferred()
                self.pending.append((request, d))
                return d
            return succeed(self._delete(path))
        if method == "HEAD" and container:
            return succeed(SwiftResponse(204 if path in self.containers else 404))
        if method == "PUT" and container:
            self.containers.add(path)
            return succeed(SwiftResponse(201))
        if method == "PUT" and path.count("/") >= 4:
            return self._upload(request)
        return succeed(SwiftResponse(200, {"X-Passed": "yes"}, b""))

    def _delete(self, path: str) -> SwiftResponse:
        if path in self.objects:
            del self.objects[path]
            return SwiftResponse(204)
        if path in self.containers:
            self.containers.remove(path)
            return SwiftResponse(204)
        return error_response(404)

    def release(self) -> None:
        pending, self.pending = self.pending, []
        for request, d in pending:
            d.callback(self._delete(request.path))

    def _upload(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        path = request.path
        self.headers[path] = request.headers.copy()
        if request.body is None:
            self.objects[path] = b""
            return succeed(SwiftResponse(201))
        collector = self.reader(request)
        self.uploads[path] = collector
        result: Deferred[SwiftResponse] = Deferred()

        def done(_: object) -> None:
            self.objects[path] = collector.data
            result.callback(SwiftResponse(201))

        def failed(reason: Failure) -> None:
            result.callback(error_response(499))

        request.body.startProducing(collector).addCallbacks(done, failed)
        return result

    def methods(self) -> list[tuple[str, str]]:
        return [(call.method, call.path) for call in self.calls]


class _Context:
    def __init__(self) -> None:
        self.reactor = Clock()
        self.constraints = Constraints(max_object_name_length=20,
                                       max_container_name_length=10,
                                       max_file_size=10000)
        self.info: dict[str, Any] = {}

    def register_info(self, name: str, **info: Any) -> None:
        self.info[name] = info


class _BulkTestCase(SynchronousTestCase):
    conf: dict[str, str] = {}

    def setUp(self) -> None:
        self.context = _Context()
        self.clock = self.context.reactor
        self.filter = bulkPlugin.make_filter(self.conf, partial_context(self.context))
        self.app = _App()

    def request(self, method: str, path: str, query: str,
                headers: Optional[dict[str, str]] = None,
                body: Optional[IBodyProducer] = None,
                environ: Optional[dict[str, Any]] = None) -> SwiftRequest:
        all_headers = HeaderDict({"X-Auth-Token": "AUTH_tk", "User-Agent": "curl"})
        for name, value in (headers or {}).items():
            all_headers[name] = value
        if body is not None and "Content-Length" not in all_headers:
            all_headers["Content-Length"] = str(body.length)
        uri = (path + ("?" + query if query else "")).encode("ascii")
        return SwiftRequest(method, uri, all_headers, body, environ=environ)

    def call(self, request: SwiftRequest) -> SwiftResponse:
        return self.successResultOf(self.filter(request, self.app))

    def read(self, response: SwiftResponse) -> bytes:
        body = response.body
        if isinstance(body, bytes):
            return body
        collector = Collector()
        self.successResultOf(body.startProducing(collector))
        return collector.data


class PluginTests(_BulkTestCase):
    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(IPlugin, bulkPlugin))
        self.assertTrue(verifyObject(IProxyPluginFactory, bulkPlugin))
        self.assertEqual(bulkPlugin.name, "bulk")
        self.assertTrue(verifyObject(IProxyFilter, self.filter))

    def test_info(self) -> None:
        self.assertEqual(self.context.info, {
            "bulk_upload": {"max_containers_per_extraction": 10000,
                            "max_failed_extractions": 1000},
            "bulk_delete": {"max_deletes_per_request": 10000,
                            "max_failed_deletes": 1000},
        })

    def test_options(self) -> None:
        context = _Context()
        bulk = bulkPlugin.make_filter({
            "max_containers_per_extraction": "5", "max_failed_extractions": "6",
            "max_deletes_per_request": "7", "max_failed_deletes": "8",
            "yield_frequency": "9", "delete_concurrency": "5000",
            "delete_container_retry_count": "2"}, partial_context(context))
        self.assertEqual(context.info["bulk_upload"],
                         {"max_containers_per_extraction": 5, "max_failed_extractions": 6})
        self.assertEqual(context.info["bulk_delete"],
                         {"max_deletes_per_request": 7, "max_failed_deletes": 8})
        self.assertEqual((bulk.yield_frequency, bulk.delete_concurrency, bulk.retry_count),
                         (9, 1000, 2))
        self.assertEqual(bulk.max_path_length, 32)

    def test_badOptions(self) -> None:
        for name, value in (("max_deletes_per_request", "many"),
                            ("max_failed_deletes", "-1"),
                            ("yield_frequency", "0")):
            self.assertRaises(ConfigError, bulkPlugin.make_filter, {name: value}, _Context())


class DispatchTests(_BulkTestCase):
    def test_notBulk(self) -> None:
        for method, query in (("GET", "bulk-delete"), ("PUT", "bulk-delete"),
                              ("POST", "extract-archive=tar"), ("PUT", ""),
                              ("POST", "")):
            request = self.request(method, "/v1/a", query)
            response = self.call(request)
            self.assertEqual(response.headers.get("X-Passed"), "yes", (method, query))
            self.assertIs(self.app.calls[-1], request)

    def test_unsupportedArchive(self) -> None:
        response = self.call(self.request("PUT", "/v1/a", "extract-archive=zip"))
        self.assertEqual((response.status, response.body),
                         (400, b"Unsupported archive format"))
        self.assertEqual(self.app.calls, [])

    def test_answersAtOnce(self) -> None:
        """
        The answer is a C{200} whose body does the work.
        """
        environ: dict[str, Any] = {"swift.trans_id": "txbulk"}
        response = self.call(self.request("POST", "/v1/a", "bulk-delete",
                                          {"Accept": "application/json"},
                                          _Upload(b"c/o"), environ))
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["Content-Type"], "application/json")
        self.assertEqual(response.headers["X-Trans-Id"], "txbulk")
        self.assertEqual(response.headers["X-Openstack-Request-Id"], "txbulk")
        self.assertEqual(self.app.calls, [])


def _summary(body: bytes) -> dict[str, Any]:
    return json.loads(body)  # type: ignore[no-any-return]


class DeleteTests(_BulkTestCase):
    def delete(self, body: bytes, headers: Optional[dict[str, str]] = None,
               path: str = "/v1/a", method: str = "POST",
               environ: Optional[dict[str, Any]] = None) -> bytes:
        all_headers = {"Accept": "application/json", "Content-Type": "text/plain"}
        all_headers.update(headers or {})
        response = self.call(self.request(method, path, "bulk-delete", all_headers,
                                          _Upload(body), environ))
        self.assertEqual(response.status, 200)
        return self.read(response)

    def test_deletes(self) -> None:
        """
        Objects are deleted first, then containers; missing ones are
        counted apart.
        """
        self.app.objects.update({"/v1/a/c/o1": b"", "/v1/a/c/o 2": b""})
        self.app.containers.add("/v1/a/c")
        body = self.delete(b"c\nc/o1\n/c/o%202\r\nc/gone\n\n")
        self.assertEqual(_summary(body), {
            "Response Status": "200 OK", "Response Body": "",
            "Number Deleted": 3, "Number Not Found": 1, "Errors": []})
        self.assertEqual(self.app.methods(), [
            ("DELETE", "/v1/a/c/o1"), ("DELETE", "/v1/a/c/o 2"),
            ("DELETE", "/v1/a/c/gone"), ("DELETE", "/v1/a/c")])

    def test_deleteMethod(self) -> None:
        """
        C{DELETE} with C{?bulk-delete} of any path under the account works
        as C{POST} does; names are relative to the account.
        """
        self.app.objects["/v1/a/c/o"] = b""
        body = self.delete(b"c/o", method="DELETE", path="/v1/a/c/o")
        self.assertEqual(_summary(body)["Number Deleted"], 1)

    def test_subrequests(self) -> None:
        environ = {"swift_owner": True, "other": 1, "swift.trans_id": "txbulk"}
        self.delete(b"c/o", {"Referer": "http://x/", "X-Object-Meta-A": "1"},
                    environ=environ)
        [sub] = self.app.calls
        self.assertEqual(sub.query_string, "")
        self.assertEqual(sub.headers["X-Auth-Token"], "AUTH_tk")
        self.assertEqual(sub.headers["Content-Length"], "0")
        self.assertEqual(sub.headers["Referer"], "http://x/")
        self.assertEqual(sub.headers["User-Agent"], "curl BulkDelete")
        self.assertNotIn("X-Object-Meta-A", sub.headers)
        self.assertNotIn("Accept", sub.headers)
        self.assertIsNot(sub.environ, environ)
        self.assertEqual(sub.environ["other"], 1)
        self.assertNotIn("swift_owner", sub.environ)
        self.assertEqual(sub.environ["swift.source"], "BD")
        self.assertEqual(sub.environ["swift.trans_id"], "txbulk")

    def test_failures(self) -> None:
        self.app.objects.update({"/v1/a/c/ok": b""})
        self.app.statuses[("DELETE", "/v1/a/c/busy")] = 409
        self.app.statuses[("DELETE", "/v1/a/c/denied")] = 401
        body = self.delete(b"c/ok\nc/busy\nc/denied\nc/caf%FF")
        self.assertEqual(_summary(body), {
            "Response Status": "400 Bad Request", "Response Body": "",
            "Number Deleted": 1, "Number Not Found": 0,
            "Errors": [["c/busy", "409 Conflict"], ["c/denied", "401 Unauthorized"],
                       ["c/caf%FF", "412 Precondition Failed"]]})

    def test_serverError(self) -> None:
        self.app.statuses[("DELETE", "/v1/a/c/o")] = 503
        body = self.delete(b"c/o\nc/p")
        summary = _summary(body)
        self.assertEqual(summary["Response Status"], "502 Bad Gateway")
        self.assertEqual(summary["Errors"], [["c/o", "503 Service Unavailable"]])

    def test_nothing(self) -> None:
        summary = _summary(self.delete(b"\n\n"))
        self.assertEqual(summary["Response Status"], "400 Bad Request")
        self.assertEqual(summary["Response Body"], "Invalid bulk delete.")

    def test_refusals(self) -> None:
        for headers, status in (
            ({"Content-Type": "application/json"}, "406 Not Acceptable"),
            ({"Content-Length": "x"}, "500 Internal Error"),
        ):
            summary = _summary(self.delete(b"c/o", headers))
            self.assertEqual(summary["Response Status"], status)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        request = self.request("POST", "/v1/a", "bulk-delete", {"Accept": "application/json"})
        summary = _summary(self.read(self.call(request)))
        self.assertEqual(summary["Response Status"], "411 Length Required")
        summary = _summary(self.delete(b"c/o", path="/v1"))
        self.assertEqual(summary["Response Status"], "404 Not Found")
        self.assertEqual(self.app.calls, [])

    def test_accountPaths(self) -> None:
        """
        Any path naming an account (and maybe more) will do; without a
        version and an account it is C{404}.
        """
        for path in ("/v1/a/", "/v1/a//", "/v1/a/c/o"):
            self.app.objects["/v1/a/c/o"] = b""
            self.assertEqual(_summary(self.delete(b"c/o", path=path))["Number Deleted"], 1,
                             path)
        for path in ("/v1/", "/v1//c", "//a"):
            summary = _summary(self.delete(b"c/o", path=path))
            self.assertEqual(summary["Response Status"], "404 Not Found", path)

    def test_chunked(self) -> None:
        self.app.objects["/v1/a/c/o"] = b""
        request = self.request("POST", "/v1/a", "bulk-delete", {
            "Transfer-Encoding": "chunked", "Content-Length": "", "Accept": "application/json"},
            _Upload(b"c/o"))
        del request.headers["Content-Length"]
        self.assertEqual(_summary(self.read(self.call(request)))["Number Deleted"], 1)

    def test_notAcceptable(self) -> None:
        response = self.call(self.request("POST", "/v1/a", "bulk-delete",
                                          {"Accept": "image/png"}, _Upload(b"c/o")))
        self.assertEqual(response.headers["Content-Type"], "text/html; charset=UTF-8")
        self.assertIn(b"Response Status: 406 Not Acceptable\n", self.read(response))

    def test_tooMany(self) -> None:
        upload = _Upload(b"c/o\n" * 10001, chunk=4000)
        response = self.call(self.request("POST", "/v1/a", "bulk-delete",
                                          {"Accept": "application/json"}, upload))
        summary = _summary(self.read(response))
        self.assertEqual(summary["Response Status"], "413 Request Entity Too Large")
        self.assertEqual(summary["Response Body"], "Maximum Bulk Deletes: 10000 per request")
        self.assertTrue(upload.stopped)
        self.assertEqual(self.app.calls, [])

    def test_longName(self) -> None:
        """
        A name longer than twice the longest path is refused (here the
        longest path is 32 bytes).
        """
        summary = _summary(self.delete(b"c/" + b"x" * 63 + b"\nc/o"))
        self.assertEqual(summary["Response Status"], "400 Bad Request")
        self.assertEqual(summary["Response Body"], "Invalid File Name")
        summary = _summary(self.delete(b"c/" + b"x" * 62))
        self.assertEqual(summary["Response Status"], "200 OK")

    def test_formats(self) -> None:
        self.app.statuses[("DELETE", "/v1/a/c/<o>")] = 409
        text = self.delete(b"c/%3Co%3E", {"Accept": "text/plain"})
        self.assertEqual(text, b"Number Deleted: 0\nNumber Not Found: 0\n"
                               b"Response Body: \nResponse Status: 400 Bad Request\n"
                               b"Errors:\nc/%3Co%3E, 409 Conflict\n")
        xml = self.delete(b"c/o", {"Accept": "application/xml"})
        self.assertEqual(xml, b"<delete>\n<number_deleted>0</number_deleted>\n"
                              b"<number_not_found>1</number_not_found>\n"
                              b"<response_body></response_body>\n"
                              b"<response_status>200 OK</response_status>\n"
                              b"<errors>\n</errors>\n</delete>\n")
        root = minidom.parseString(xml).documentElement
        assert root is not None
        self.assertEqual(root.tagName, "delete")


class DeleteFlowTests(_BulkTestCase):
    conf = {"max_failed_deletes": "2", "delete_concurrency": "2",
            "delete_container_retry_count": "2", "yield_frequency": "5"}

    def start(self, body: bytes, accept: str = "application/json"
              ) -> tuple[Collector, "Deferred[None]", Any]:
        response = self.call(self.request("POST", "/v1/a", "bulk-delete",
                                          {"Accept": accept}, _Upload(body)))
        collector = Collector()
        producer = response.body
        assert not isinstance(producer, bytes)
        return collector, producer.startProducing(collector), producer

    def test_concurrency(self) -> None:
        self.app.hold = True
        collector, done, _ = self.start(b"c/1\nc/2\nc/3\nc/4\nc/5")
        self.assertEqual(len(self.app.pending), 2)
        self.app.release()
        self.assertEqual(len(self.app.pending), 2)
        self.app.release()
        self.app.release()
        self.successResultOf(done)
        self.assertEqual(_summary(collector.data)["Number Not Found"], 5)

    def test_maxFailures(self) -> None:
        """
        Once C{max_failed_deletes} have failed no more are started; those
        already started are waited for.
        """
        for name in "12345":
            self.app.statuses[("DELETE", f"/v1/a/c/{name}")] = 403
        collector, done, _ = self.start(b"c/1\nc/2\nc/3\nc/4\nc/5\nc")
        self.successResultOf(done)
        summary = _summary(collector.data)
        self.assertEqual(summary["Response Status"], "400 Bad Request")
        self.assertEqual(summary["Response Body"], "Max delete failures exceeded")
        self.assertEqual(len(summary["Errors"]), 2)
        self.assertEqual(len(self.app.calls), 2)

    def test_retryConflict(self) -> None:
        """
        A container that is not empty yet is tried again after 1.5 seconds,
        then 2.25 more.
        """
        self.app.statuses[("DELETE", "/v1/a/c")] = 409
        collector, done, _ = self.start(b"c")
        self.assertEqual(len(self.app.calls), 1)
        self.clock.advance(1.5)
        self.assertEqual(len(self.app.calls), 2)
        del self.app.statuses[("DELETE", "/v1/a/c")]
        self.app.containers.add("/v1/a/c")
        self.clock.advance(2.25)
        self.successResultOf(done)
        self.assertEqual(_summary(collector.data)["Number Deleted"], 1)

    def test_heartbeat(self) -> None:
        self.app.hold = True
        collector, done, _ = self.start(b"c/o")
        self.clock.advance(5)
        self.assertEqual(collector.data, b" ")
        self.clock.advance(5)
        self.assertEqual(collector.data, b"  ")
        self.app.release()
        self.successResultOf(done)
        self.assertTrue(collector.data.startswith(b"  \r\n\r\n{"))
        self.assertEqual(_summary(collector.data)["Number Not Found"], 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_heartbeatXml(self) -> None:
        self.app.hold = True
        collector, done, _ = self.start(b"c/o", "text/xml")
        self.clock.advance(5)
        self.clock.advance(5)
        self.app.release()
        self.successResultOf(done)
        self.assertTrue(collector.data.startswith(
            b'<?xml version="1.0" encoding="UTF-8"?>\n \r\n\r\n<delete>'))
        minidom.parseString(collector.data)

    def test_noHeartbeatWhilePaused(self) -> None:
        self.app.hold = True
        collector, done, producer = self.start(b"c/o")
        producer.pauseProducing()
        self.clock.advance(5)
        self.assertEqual(collector.data, b"")
        producer.resumeProducing()
        self.app.release()
        self.successResultOf(done)
        self.assertTrue(collector.data.startswith(b"{"))

    def test_clientGone(self) -> None:
        self.app.hold = True
        collector, done, producer = self.start(b"c/1\nc/2\nc/3")
        producer.stopProducing()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.app.calls), 2)


def _tar(members: list[tuple[str, bytes]], mode: str = "w",
         pax: Optional[dict[str, dict[str, str]]] = None,
         fmt: int = tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    # mode is any of tarfile's write modes: too many literals to spell out.
    with tarfile.open(fileobj=out, mode=mode, format=fmt) as archive:  # type: ignore[call-overload]
        for name, data in members:
            info = tarfile.TarInfo(name)
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
                continue
            info.size = len(data)
            info.pax_headers = (pax or {}).get(name, {})
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


class ExtractTests(_BulkTestCase):
    def extract(self, archive: bytes, path: str = "/v1/a", kind: str = "tar",
                headers: Optional[dict[str, str]] = None) -> dict[str, Any]:
        all_headers = {"Accept": "application/json"}
        all_headers.update(headers or {})
        response = self.call(self.request("PUT", path, f"extract-archive={kind}",
                                          all_headers, _Upload(archive, 1000)))
        self.assertEqual(response.status, 200)
        return _summary(self.read(response))

    def test_extract(self) -> None:
        """
        Each regular file becomes an object; the first part of its path is
        the container, created when it does not exist; directories and
        files at the top level are left out.
        """
        self.app.containers.add("/v1/a/old")
        archive = _tar([("new/", b""), ("new/a.txt", b"alpha"), ("./old/b/c", b"beta"),
                        ("top", b"ignored"), ("new/d", b"delta"), ("/new/e", b"")])
        summary = self.extract(archive)
        self.assertEqual(summary, {"Response Status": "201 Created", "Response Body": "",
                                   "Number Files Created": 4, "Errors": []})
        self.assertEqual(self.app.objects, {
            "/v1/a/new/a.txt": b"alpha", "/v1/a/old/b/c": b"beta",
            "/v1/a/new/d": b"delta", "/v1/a/new/e": b""})
        self.assertEqual(self.app.methods()[:5], [
            ("HEAD", "/v1/a/new"), ("PUT", "/v1/a/new"), ("PUT", "/v1/a/new/a.txt"),
            ("HEAD", "/v1/a/old"), ("PUT", "/v1/a/old/b/c")])

    def test_compressed(self) -> None:
        members = [("c/one", b"1" * 3000), ("c/two", b"2" * 100)]
        for kind, mode in (("tar.gz", "w:gz"), ("tar.bz2", "w:bz2"), (".tar.GZ", "w:gz")):
            self.app.objects.clear()
            summary = self.extract(_tar(members, mode), kind=kind)
            self.assertEqual(summary["Number Files Created"], 2, kind)
            self.assertEqual(self.app.objects["/v1/a/c/one"], b"1" * 3000)

    def test_base(self) -> None:
        self.extract(_tar([("x/y", b"1"), ("z", b"2")]), path="/v1/a/c/pre/")
        self.assertEqual(set(self.app.objects), {"/v1/a/c/pre/x/y", "/v1/a/c/pre/z"})

    def test_headers(self) -> None:
        """
        Each upload gets the request's user metadata and expiry, and the
        file's extended attributes; not the archive's own Content-Type.
        """
        pax = {"c/o": {"SCHILY.xattr.user.mime_type": "text/x-thing",
                       "LIBARCHIVE.xattr.user.meta.flavour": "caf\xe9",
                       "SCHILY.xattr.user.other": "no", "mtime": "1.5"}}
        self.extract(_tar([("c/o", b"data")], pax=pax), headers={
            "X-Object-Meta-Batch": "7", "X-Delete-After": "60",
            "Content-Type": "application/x-tar", "X-Container-Meta-No": "1"})
        headers = self.app.headers["/v1/a/c/o"]
        self.assertEqual(headers["Content-Type"], "text/x-thing")
        self.assertEqual(headers["X-Object-Meta-Flavour"], "caf\xc3\xa9")
        self.assertEqual(headers["X-Object-Meta-Batch"], "7")
        self.assertEqual(headers["X-Delete-After"], "60")
        self.assertEqual(headers["Content-Length"], "4")
        self.assertEqual(headers["User-Agent"], "curl BulkExpand")
        self.assertNotIn("X-Container-Meta-No", headers)
        self.assertEqual(self.app.calls[-1].environ["swift.source"], "EA")

    def test_longNames(self) -> None:
        name = "c/" + "n" * 150
        for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
            self.extract(_tar([(name, b"x"), ("c/short", b"y")], fmt=fmt))
            self.assertEqual(self.app.objects["/v1/a/" + name], b"x")

    def test_utf8(self) -> None:
        self.extract(_tar([("c/\u2603", b"snow")]))
        self.assertEqual(self.app.objects["/v1/a/c/\xe2\x98\x83"], b"snow")

    def test_globalPax(self) -> None:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT,
                          pax_headers={"SCHILY.xattr.user.meta.all": "yes"}) as archive:
            for name in ("c/1", "c/2"):
                info = tarfile.TarInfo(name)
                archive.addfile(info, io.BytesIO(b""))
        self.extract(out.getvalue())
        self.assertEqual(self.app.headers["/v1/a/c/2"]["X-Object-Meta-All"], "yes")

    def test_invalidArchives(self) -> None:
        whole = _tar([("c/o", b"x" * 600), ("c/p", b"y")])
        corrupt = bytes([whole[0] ^ 1]) + whole[1:]
        for archive, kind, message in (
            (b"not a tar file at all" * 40, "tar", "Invalid Tar File: invalid header"),
            (corrupt, "tar", "Invalid Tar File: bad checksum"),
            (b"", "tar", "Invalid Tar File: empty file"),
            (b"x" * 100, "tar", "Invalid Tar File: truncated header"),
            (b"garbage!" * 10, "tar.gz", "Invalid Tar File: not a gzip file"),
            (b"garbage!" * 10, "tar.bz2", "Invalid Tar File: invalid compressed data"),
            (whole[:1100], "tar", "Invalid Tar File: unexpected end of data"),
        ):
            summary = self.extract(archive, kind=kind)
            self.assertEqual(summary["Response Status"], "400 Bad Request", message)
            self.assertEqual(summary["Response Body"], message)

    def test_noValidFiles(self) -> None:
        summary = self.extract(_tar([("top", b"1"), ("d/", b"")]))
        self.assertEqual(summary["Response Status"], "400 Bad Request")
        self.assertEqual(summary["Response Body"], "Invalid Tar File: No Valid Files")

    def test_refusedFiles(self) -> None:
        """
        Files that cannot be objects are reported; the rest go on.
        """
        archive = _tar([("c/big", b"x" * 10001), ("c/ok", b"1"),
                        ("c/\udcff", b"2"), ("c/" + "n" * 40, b"3")])
        summary = self.extract(archive)
        self.assertEqual(summary["Number Files Created"], 2)
        self.assertEqual(summary["Errors"], [["c/big", "413 Request Entity Too Large"],
                                             ["c/%FF", "412 Precondition Failed"]])
        self.assertEqual(summary["Response Status"], "400 Bad Request")

    def test_uploadFailures(self) -> None:
        self.app.statuses[("PUT", "/v1/a/c/bad")] = 422
        self.app.statuses[("PUT", "/v1/a/d/down")] = 503
        summary = self.extract(_tar([("c/bad", b"1"), ("d/down", b"2"), ("c/ok", b"3")]))
        self.assertEqual(summary["Response Status"], "502 Bad Gateway")
        self.assertEqual(summary["Errors"], [["c/bad", "422 Unprocessable Entity"],
                                             ["d/down", "503 Service Unavailable"]])
        self.assertEqual(self.app.objects, {"/v1/a/c/ok": b"3"})

    def test_unauthorized(self) -> None:
        response = self.call(self.request(
            "PUT", "/v1/a", "extract-archive=tar",
            {"Accept": "application/json", "X-Auth-Token": "wrong"},
            _Upload(_tar([("c/o", b"1"), ("c/p", b"2")]))))
        summary = _summary(self.read(response))
        self.assertEqual(summary["Response Status"], "401 Unauthorized")
        self.assertEqual(summary["Errors"], [])
        self.assertEqual(self.app.methods(), [("HEAD", "/v1/a/c")])

    def test_containerRefused(self) -> None:
        """
        A container that cannot be made is reported with the upload that
        then failed.
        """
        self.app.statuses[("PUT", "/v1/a/c")] = 403
        self.app.statuses[("PUT", "/v1/a/c/o")] = 404
        summary = self.extract(_tar([("c/o", b"1")]))
        self.assertEqual(summary["Errors"], [["/v1/a/c", "403 Forbidden"],
                                             ["c/o", "404 Not Found"]])

    def test_tooManyContainers(self) -> None:
        self.filter = bulkPlugin.make_filter({"max_containers_per_extraction": "1"},
                                            partial_context(self.context))
        summary = self.extract(_tar([("c/1", b""), ("d/1", b"")]))
        self.assertEqual(summary["Response Status"], "400 Bad Request")
        self.assertEqual(summary["Response Body"],
                         "More than 1 containers to create from tar.")

    def test_maxFailures(self) -> None:
        self.filter = bulkPlugin.make_filter({"max_failed_extractions": "2"},
                                            partial_context(self.context))
        for name in "123":
            self.app.statuses[("PUT", f"/v1/a/c/{name}")] = 400
        summary = self.extract(_tar([(f"c/{n}", b"") for n in "1234"]))
        self.assertEqual(len(summary["Errors"]), 2)
        self.assertNotIn(("PUT", "/v1/a/c/3"), self.app.methods())

    def test_refusals(self) -> None:
        request = self.request("PUT", "/v1/a", "extract-archive=tar",
                               {"Accept": "application/json"})
        summary = _summary(self.read(self.call(request)))
        self.assertEqual(summary["Response Status"], "411 Length Required")
        summary = self.extract(_tar([("c/o", b"1")]), path="/v1")
        self.assertEqual(summary["Response Status"], "404 Not Found")
        response = self.call(self.request("PUT", "/v1/a", "extract-archive=tar",
                                          {"Accept": "nothing/useful"},
                                          _Upload(_tar([("c/o", b"1")]))))
        self.assertIn(b"Response Status: 406 Not Acceptable", self.read(response))
        self.assertEqual(self.app.objects, {})


class ExtractStreamingTests(_BulkTestCase):
    """
    The archive is taken apart as it arrives from the client.
    """

    def setUp(self) -> None:
        super().setUp()
        self.transport = _Transport()

    def start(self, length: int, kind: str = "tar") -> tuple[RequestBody, Collector,
                                                            "Deferred[None]"]:
        body = RequestBody(self.transport, length)
        response = self.call(self.request("PUT", "/v1/a", f"extract-archive={kind}",
                                          {"Accept": "application/json"}, body))
        collector = Collector()
        producer = response.body
        assert not isinstance(producer, bytes)
        return body, collector, producer.startProducing(collector)

    def test_streams(self) -> None:
        """
        A file's upload starts with its first bytes, before the rest of
        the archive has arrived.
        """
        archive = _tar([("c/one", b"1" * 5000), ("c/two", b"2" * 10)])
        body, collector, done = self.start(len(archive))
        body.dataReceived(archive[:1024])
        self.assertEqual(self.app.uploads["/v1/a/c/one"].data, b"1" * 512)
        body.dataReceived(archive[1024:3000])
        self.assertNotIn("/v1/a/c/one", self.app.objects)
        body.dataReceived(archive[3000:])
        body.body_complete()
        self.successResultOf(done)
        self.assertEqual(_summary(collector.data)["Number Files Created"], 2)
        self.assertEqual(self.app.objects["/v1/a/c/one"], b"1" * 5000)

    def test_backpressure(self) -> None:
        """
        While an upload cannot take more, the archive waits, and past a
        bound so does the client.
        """
        self.app.reader = lambda request: Collector(request.body, pause_after=1)
        data = b"x" * 900_000
        archive = _tar([("c/big", data), ("c/next", b"n")], mode="w:gz")
        self.context.constraints = Constraints(max_file_size=10 ** 7)
        self.filter = bulkPlugin.make_filter({}, partial_context(self.context))
        raw = _tar([("c/big", data)])
        body, collector, done = self.start(len(archive), "tar.gz")
        body.dataReceived(archive)
        upload = self.app.uploads["/v1/a/c/big"]
        self.assertTrue(len(upload.data) < len(raw))
        upload.producer.resumeProducing()
        body.body_complete()
        self.successResultOf(done)
        self.assertEqual(self.app.objects["/v1/a/c/big"], data)

    def test_clientPaused(self) -> None:
        self.app.reader = lambda request: Collector(request.body, pause_after=1)
        self.context.constraints = Constraints(max_file_size=10 ** 8)
        self.filter = bulkPlugin.make_filter({}, partial_context(self.context))
        data = b"z" * 3_000_000
        archive = _tar([("c/big", data)])
        body, collector, done = self.start(len(archive))
        for start in range(0, len(archive), 65536):
            body.dataReceived(archive[start:start + 65536])
        self.assertTrue(self.transport.paused)
        self.app.uploads["/v1/a/c/big"].producer.resumeProducing()
        self.assertFalse(self.transport.paused)
        body.body_complete()
        self.successResultOf(done)
        self.assertEqual(self.app.objects["/v1/a/c/big"], data)

    def test_uploadRefusedUnread(self) -> None:
        """
        A file whose upload is refused before reading it is skipped.
        """
        self.app.statuses[("PUT", "/v1/a/c/one")] = 413
        archive = _tar([("c/one", b"1" * 5000), ("c/two", b"2")])
        body, collector, done = self.start(len(archive))
        body.dataReceived(archive)
        body.body_complete()
        self.successResultOf(done)
        self.assertEqual(self.app.objects, {"/v1/a/c/two": b"2"})

    def test_clientGone(self) -> None:
        archive = _tar([("c/one", b"1" * 5000)])
        body, collector, done = self.start(len(archive))
        body.dataReceived(archive[:2000])
        body.connectionLost(Failure(ConnectionError("gone")))
        self.successResultOf(done)
        summary = _summary(collector.data)
        self.assertEqual(summary["Errors"], [["c/one", "499 Client Disconnect"]])
        self.assertEqual(summary["Response Status"], "499 Client Disconnect")

    def test_stopsReading(self) -> None:
        """
        When extraction ends early, the rest of the body is dropped.
        """
        archive = _tar([("c/one", b"1")]) + b"\0" * 5000
        body, collector, done = self.start(len(archive))
        body.dataReceived(archive)
        self.successResultOf(done)
        body.body_complete()
        self.assertFalse(self.transport.paused)


class HelperTests(SynchronousTestCase):
    def test_resultBody(self) -> None:
        summary = {"Response Status": "201 Created", "Response Body": "a<b"}
        self.assertEqual(
            result_body("application/json", summary, [["x", "400 Bad Request"]], "extract"),
            b'{"Response Status": "201 Created", "Response Body": "a<b", '
            b'"Errors": [["x", "400 Bad Request"]]}')
        self.assertEqual(
            result_body("text/xml", summary, [["x&y", "400 Bad Request"]], "extract"),
            b"<extract>\n<response_body>a&lt;b</response_body>\n"
            b"<response_status>201 Created</response_status>\n<errors>\n"
            b"<object><name>x&amp;y</name><status>400 Bad Request</status></object>\n"
            b"</errors>\n</extract>\n")
        self.assertEqual(summary, {"Response Status": "201 Created", "Response Body": "a<b"})
