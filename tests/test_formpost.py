"""
Tests for L{twisted_proxy.plugins.formpost}: form posts turned into object
uploads, as Swift 2.38.3's C{formpost} middleware.
"""

from __future__ import annotations

import base64
import hmac
from typing import Any, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.plugin import IPlugin
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.doubles import Collector, RecordingProducer, partial_context
from twisted_proxy.config import ConfigError
from twisted_proxy.info.cache import INFO_ENVIRON_KEY, InfoCache, account_key, container_key
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins.formpost import MAX_VALUE_LENGTH, formpostPlugin
from twisted_proxy.swift.constraints import Constraints
from twisted_proxy.swift.http import (
    ClientGone,
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
)
from twisted_proxy.web.requestbody import RequestBody

NOW = 1_700_000_000
BOUNDARY = "----FormBoundary7MA4YWxk"
PATH = "/v1/AUTH_test/c/pre/"


class _Context:
    def __init__(self) -> None:
        self.reactor = Clock()
        self.reactor.advance(NOW)
        self.store = MemoryInfoStore(self.reactor)
        self.info_cache = InfoCache(self.store, 60, 60)
        self.constraints = Constraints()
        self.info: dict[str, Any] = {}

    def register_info(self, name: str, **info: Any) -> None:
        self.info[name] = info


@implementer(IProxyApplication)
class _App:
    """
    The rest of the pipeline: a C{HEAD} of an account or container made by
    the plugin remembers its info for the request, as the controllers do;
    an object C{PUT} reads its body and answers C{201} (C{499} when the
    body fails: C{failures[path]}), or C{statuses[path]}; anything else is
    answered C{204}.

    @ivar hold: when true, uploads wait for L{finish} after their body.
    """

    def __init__(self) -> None:
        self.calls: list[SwiftRequest] = []
        self.account_meta: dict[str, str] = {"temp-url-key": "secret"}
        self.container_meta: dict[str, str] = {}
        self.uploads: dict[str, Collector] = {}
        self.done: set[str] = set()
        self.failures: dict[str, Failure] = {}
        self.statuses: dict[str, SwiftResponse] = {}
        self.response_headers: dict[str, str] = {}
        self.pause_after: Optional[int] = None
        self.hold = False
        self.held: list[tuple[Deferred[SwiftResponse], SwiftResponse]] = []

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.calls.append(request)
        parts = request.path.split("/")
        if request.method == "HEAD" and request.environ.get("swift.source") == "FP":
            cache = request.environ.setdefault(INFO_ENVIRON_KEY, {})
            if len(parts) == 4:
                cache[container_key(parts[2], parts[3])] = {
                    "status": 204, "meta": dict(self.container_meta), "sysmeta": {}}
            else:
                cache[account_key(parts[2])] = {
                    "status": 204, "meta": dict(self.account_meta), "sysmeta": {}}
            return succeed(SwiftResponse(204))
        if request.method != "PUT":
            return succeed(SwiftResponse(204))
        if request.path in self.statuses:
            return succeed(self.statuses[request.path])
        path = request.path
        upload = Collector(request.body, self.pause_after)
        self.uploads[path] = upload
        result: Deferred[SwiftResponse] = Deferred()

        def answer(response: SwiftResponse) -> None:
            if self.hold:
                self.held.append((result, response))
            else:
                result.callback(response)

        def done(_: object) -> None:
            self.done.add(path)
            answer(SwiftResponse(201, dict({"Etag": "x"}, **self.response_headers), b""))

        def failed(reason: Failure) -> None:
            self.failures[path] = reason
            answer(error_response(499, method="PUT"))

        assert request.body is not None
        request.body.startProducing(upload).addCallbacks(done, failed)
        return result

    def finish(self) -> None:
        held, self.held = self.held, []
        for result, response in held:
            result.callback(response)

    def puts(self) -> list[SwiftRequest]:
        return [call for call in self.calls if call.method == "PUT"]


def sign(path: str = PATH, redirect: str = "", max_file_size: object = 1024,
         max_file_count: object = 3, expires: object = NOW + 60, key: str = "secret",
         digest: str = "sha256") -> str:
    message = f"{path}\n{redirect}\n{max_file_size}\n{max_file_count}\n{expires}"
    return hmac.new(key.encode("utf-8"), message.encode("utf-8"), digest).hexdigest()


def fields(path: str = PATH, redirect: Optional[str] = None, max_file_size: object = 1024,
           max_file_count: object = 3, expires: object = NOW + 60, key: str = "secret",
           digest: str = "sha256", signature: Optional[str] = None,
           **extra: object) -> list[tuple[str, object]]:
    """
    The fields of a form signed with C{key}.
    """
    found: list[tuple[str, object]] = []
    if redirect is not None:
        found.append(("redirect", redirect))
    found += [("max_file_size", max_file_size), ("max_file_count", max_file_count),
              ("expires", expires)]
    if signature is None:
        signature = sign(path, redirect or "", max_file_size, max_file_count, expires, key,
                         digest)
    found.append(("signature", signature))
    found += list(extra.items())
    return found


def form_body(values: list[tuple[str, object]],
              files: list[tuple[str, str, bytes, dict[str, str]]] = (),  # type: ignore[assignment]
              boundary: str = BOUNDARY) -> bytes:
    """
    A C{multipart/form-data} body: the fields C{values}, then the files,
    each C{(field name, filename, data, part headers)}.
    """
    out = b""
    for name, value in values:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode("utf-8")
    for name, filename, data, headers in files:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                f"filename=\"{filename}\"\r\n").encode("utf-8")
        for header, value in headers.items():
            out += f"{header}: {value}\r\n".encode("utf-8")
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode("utf-8")


def text_file(name: str = "file1", filename: str = "a.txt", data: bytes = b"hello",
              **headers: str) -> tuple[str, str, bytes, dict[str, str]]:
    return name, filename, data, {k.replace("_", "-"): v for k, v in headers.items()}


class _FormPostTestCase(SynchronousTestCase):
    conf: dict[str, str] = {}

    def setUp(self) -> None:
        self.context = _Context()
        self.clock = self.context.reactor
        self.filter = formpostPlugin.make_filter(dict(self.conf),
                                                 partial_context(self.context))
        self.app = _App()

    def request(self, body: Optional[bytes], path: str = PATH,
                content_type: Optional[str] = None,
                headers: Optional[dict[str, str]] = None) -> tuple[SwiftRequest, RequestBody]:
        all_headers = HeaderDict({"User-Agent": "browser", "Host": "swift.example.com"})
        all_headers["Content-Type"] = (content_type if content_type is not None else
                                       f"multipart/form-data; boundary={BOUNDARY}")
        for name, value in (headers or {}).items():
            all_headers[name] = value
        self.transport = RecordingProducer()
        streaming = RequestBody(self.transport, None if body is None else len(body))
        request = SwiftRequest("POST", path.encode("utf-8"), all_headers, streaming)
        if body is not None:
            streaming.dataReceived(body)
            streaming.body_complete()
        return request, streaming

    def post(self, body: Optional[bytes], path: str = PATH, **kw: Any) -> SwiftResponse:
        request, _ = self.request(body, path, **kw)
        return self.successResultOf(self.filter(request, self.app))

    def assertAnswer(self, response: SwiftResponse, status: int, body: bytes,
                     content_type: str = "text/plain") -> None:
        self.assertEqual((response.status, response.body), (status, body))
        self.assertEqual(response.headers.get("Content-Type"), content_type)

    def assertUnauthorized(self, response: SwiftResponse, why: bytes) -> None:
        self.assertAnswer(response, 401, b"FormPost: " + why, "text/html; charset=UTF-8")
        self.assertEqual(response.headers["Www-Authenticate"], 'Swift realm="unknown"')
        self.assertEqual(self.app.uploads, {})


class PluginTests(_FormPostTestCase):
    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(IPlugin, formpostPlugin))
        self.assertTrue(verifyObject(IProxyPluginFactory, formpostPlugin))
        self.assertEqual(formpostPlugin.name, "formpost")
        self.assertTrue(verifyObject(IProxyFilter, self.filter))

    def test_info(self) -> None:
        self.assertEqual(self.context.info["formpost"], {
            "allowed_digests": ["sha1", "sha256", "sha512"],
            "deprecated_digests": ["sha1"]})

    def test_configured_digests(self) -> None:
        context = _Context()
        formpostPlugin.make_filter({"allowed_digests": "SHA512 md5"}, partial_context(context))
        self.assertEqual(context.info["formpost"], {"allowed_digests": ["sha512"]})

    def test_no_digests(self) -> None:
        self.assertRaises(ConfigError, formpostPlugin.make_filter,
                          {"allowed_digests": "md5"}, partial_context(_Context()))


class PassThroughTests(_FormPostTestCase):
    def test_other_requests(self) -> None:
        """
        Anything but a C{POST} of C{multipart/form-data} with a boundary
        goes on untouched, body and all.
        """
        for method, content_type in (
                ("PUT", f"multipart/form-data; boundary={BOUNDARY}"),
                ("POST", "multipart/form-data"),
                ("POST", f"Multipart/Form-Data; boundary={BOUNDARY}"),
                ("POST", "text/plain"),
                ("post", f"multipart/form-data; boundary={BOUNDARY}")):
            request, _ = self.request(b"x", content_type=content_type)
            request.method = method
            self.successResultOf(self.filter(request, self.app))
            self.assertIs(self.app.calls[-1], request)
            self.assertEqual(request.headers["User-Agent"], "browser")


class UploadTests(_FormPostTestCase):
    def test_upload(self) -> None:
        """
        A file becomes an object upload under the form's path, through the
        rest of the pipeline as a pre-authorized request; the answer is its
        status line.
        """
        body = form_body(fields(), [text_file(data=b"file data\r\n--not-it")])
        response = self.post(body, headers={"Origin": "http://o", "X-Auth-Token": "t"})
        self.assertAnswer(response, 201, b"201 Created")
        [put] = self.app.puts()
        self.assertEqual(put.path, "/v1/AUTH_test/c/pre/a.txt")
        self.assertEqual(put.query_string, "")
        self.assertEqual(self.app.uploads[put.path].data, b"file data\r\n--not-it")
        self.assertEqual(dict(put.headers.items()), {
            "User-Agent": "browser FormPost", "Host": "swift.example.com",
            "Origin": "http://o", "Transfer-Encoding": "chunked"})
        environ = put.environ
        self.assertEqual(environ["swift.source"], "FP")
        self.assertEqual(environ["REMOTE_USER"], ".wsgi.pre_authed")
        self.assertTrue(environ["swift.authorize_override"])
        self.assertIsNone(environ["swift.authorize"](put))

    def test_info_lookups(self) -> None:
        """
        The keys are looked up with pre-authorized C{HEAD}s of the account
        and the container, before the body is read.
        """
        request, streaming = self.request(None)
        d = self.filter(request, self.app)
        self.assertEqual([(c.method, c.path, c.environ["swift.source"], c.headers["User-Agent"])
                          for c in self.app.calls],
                         [("HEAD", "/v1/AUTH_test", "FP", "browser FormPost"),
                          ("HEAD", "/v1/AUTH_test/c", "FP", "browser FormPost")])
        self.assertTrue(streaming.started.called)
        streaming.dataReceived(form_body(fields(), [text_file()]))
        streaming.body_complete()
        self.assertEqual(self.successResultOf(d).status, 201)

    def test_paths(self) -> None:
        """
        The file name is appended to the form's path, after a slash when
        the path is the container's.
        """
        for path, wanted in (("/v1/AUTH_test/c", "/v1/AUTH_test/c/a.txt"),
                             ("/v1/AUTH_test/c/", "/v1/AUTH_test/c/a.txt"),
                             ("/v1/AUTH_test/c/pre", "/v1/AUTH_test/c/prea.txt"),
                             ("/v1/AUTH_test/c/p/q/", "/v1/AUTH_test/c/p/q/a.txt")):
            self.app.calls = []
            response = self.post(form_body(fields(path), [text_file()]), path)
            self.assertEqual(response.status, 201, path)
            self.assertEqual([put.path for put in self.app.puts()], [wanted])

    def test_non_ascii_file_name(self) -> None:
        response = self.post(form_body(fields(), [text_file(filename="\u00e9t\u00e9.txt")]))
        self.assertEqual(response.status, 201)
        [put] = self.app.puts()
        self.assertEqual(put.path, PATH + "\u00e9t\u00e9.txt".encode("utf-8").decode("latin-1"))
        self.assertEqual(put.raw_path, b"/v1/AUTH_test/c/pre/%C3%A9t%C3%A9.txt")

    def test_several_files(self) -> None:
        """
        Files are uploaded one after another; fields between them apply to
        the files after them only.
        """
        body = form_body(fields(), [text_file(filename="one", data=b"1")])
        body = body[:-len(f"--{BOUNDARY}--\r\n")]
        body += form_body([("x_delete_after", 60)], [text_file(filename="two", data=b"2")])
        response = self.post(body)
        self.assertAnswer(response, 201, b"201 Created")
        one, two = self.app.puts()
        self.assertEqual((one.path, self.app.uploads[one.path].data), (PATH + "one", b"1"))
        self.assertEqual((two.path, self.app.uploads[two.path].data), (PATH + "two", b"2"))
        self.assertNotIn("X-Delete-After", one.headers)
        self.assertEqual(two.headers["X-Delete-After"], "60")

    def test_empty_file_name(self) -> None:
        """
        A part with an empty C{filename} is a field, not a file.
        """
        response = self.post(form_body(fields(), [text_file(filename="")]))
        self.assertAnswer(response, 400, b"400 Bad Request\r\nFormPost: No Files To Process")
        self.assertEqual(self.app.puts(), [])

    def test_expiry(self) -> None:
        body = form_body(fields(x_delete_at=NOW + 100), [text_file()])
        self.assertEqual(self.post(body).status, 201)
        [put] = self.app.puts()
        self.assertEqual(put.headers["X-Delete-At"], str(NOW + 100))

    def test_container_keys(self) -> None:
        self.app.account_meta = {}
        self.app.container_meta = {"temp-url-key-2": "other"}
        body = form_body(fields(key="other"), [text_file()])
        self.assertEqual(self.post(body).status, 201)

    def test_access_control_headers(self) -> None:
        """
        The upload's C{Access-Control-*} headers are passed on.
        """
        self.app.response_headers = {"Access-Control-Allow-Origin": "*",
                                     "Access-Control-Expose-Headers": "etag"}
        response = self.post(form_body(fields(), [text_file()]))
        self.assertEqual(response.headers["Access-Control-Allow-Origin"], "*")
        self.assertEqual(response.headers["Access-Control-Expose-Headers"], "etag")
        self.assertNotIn("Etag", response.headers)

    def test_field_values(self) -> None:
        """
        Field names are case-insensitive; values lose trailing CR, LF and
        C{-}, and are cut to L{MAX_VALUE_LENGTH} bytes.
        """
        values = fields() + [("Content-Encoding", "gzip\r\n--"),
                             ("content-type", "x" * (MAX_VALUE_LENGTH + 10))]
        self.assertEqual(self.post(form_body(values, [text_file()])).status, 201)
        [put] = self.app.puts()
        self.assertEqual(put.headers["Content-Encoding"], "gzip")
        self.assertEqual(put.headers["Content-Type"], "x" * MAX_VALUE_LENGTH)

    def test_unnamed_field(self) -> None:
        body = f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n".encode()
        body += form_body(fields(), [text_file()])
        self.assertEqual(self.post(body).status, 201)


class ContentTypeTests(_FormPostTestCase):
    def put_headers(self, values: list[tuple[str, object]], **part: str) -> HeaderDict:
        headers = {name.replace("_", "-"): value for name, value in part.items()}
        response = self.post(form_body(values, [("file1", "a.txt", b"hello", headers)]))
        self.assertEqual(response.status, 201)
        [put] = self.app.puts()
        return put.headers

    def test_none(self) -> None:
        headers = self.put_headers(fields())
        self.assertNotIn("Content-Type", headers)
        self.assertNotIn("Content-Encoding", headers)

    def test_part_headers(self) -> None:
        headers = self.put_headers(fields(), Content_Type="text/html",
                                   Content_Encoding="gzip")
        self.assertEqual((headers["Content-Type"], headers["Content-Encoding"]),
                         ("text/html", "gzip"))

    def test_empty_part_type(self) -> None:
        headers = self.put_headers(fields(), Content_Type="")
        self.assertEqual(headers["Content-Type"], "application/octet-stream")

    def test_fields_win(self) -> None:
        """
        The form's C{content-type} and C{content-encoding} fields apply to
        every file, over the part's own headers.
        """
        headers = self.put_headers(
            fields(**{"content-type": "image/png", "content-encoding": "br"}),
            Content_Type="text/html", Content_Encoding="gzip")
        self.assertEqual((headers["Content-Type"], headers["Content-Encoding"]),
                         ("image/png", "br"))

    def test_empty_field(self) -> None:
        headers = self.put_headers(fields(**{"content-type": ""}), Content_Type="text/html")
        self.assertEqual(headers["Content-Type"], "application/octet-stream")


class RedirectTests(_FormPostTestCase):
    def test_success(self) -> None:
        redirect = "https://example.com/done"
        response = self.post(form_body(fields(redirect=redirect), [text_file()]))
        location = "https://example.com/done?status=201&message="
        self.assertEqual((response.status, response.reason), (303, "See Other"))
        self.assertEqual(response.headers["Location"], location)
        self.assertEqual(response.body, (f'<html><body><p><a href="{location}">'
                                         "Click to continue...</a></p></body></html>").encode())
        self.assertNotIn("Content-Type", response.headers)

    def test_query(self) -> None:
        response = self.post(form_body(fields(redirect="https://e/x?a=1"), [text_file()]))
        self.assertEqual(response.headers["Location"], "https://e/x?a=1&status=201&message=")

    def test_message(self) -> None:
        response = self.post(form_body(fields(redirect="https://e/", max_file_count=1),
                                       [text_file(filename="1"), text_file(filename="2")]))
        self.assertEqual(response.headers["Location"],
                         "https://e/?status=400&message=max%20file%20count%20exceeded")
        self.assertEqual([put.path for put in self.app.puts()], [PATH + "1"])

    def test_upload_failed(self) -> None:
        self.app.statuses[PATH + "a.txt"] = error_response(404, method="PUT")
        response = self.post(form_body(fields(redirect="https://e/"), [text_file()]))
        self.assertEqual(response.headers["Location"], "https://e/?status=404&message=")

    def test_non_ascii(self) -> None:
        response = self.post(form_body(fields(redirect="https://e/\u00e9"), [text_file()]))
        self.assertEqual(response.headers["Location"],
                         "https://e/\u00c3\u00a9?status=201&message=")


class RefusalTests(_FormPostTestCase):
    def test_expired(self) -> None:
        body = form_body(fields(expires=NOW - 1), [text_file()])
        self.assertUnauthorized(self.post(body), b"Form Expired")

    def test_expires_now(self) -> None:
        self.assertEqual(self.post(form_body(fields(expires=NOW), [text_file()])).status, 201)

    def test_bad_signatures(self) -> None:
        for values in (fields(key="wrong"),
                       fields(signature=sign(path="/v1/AUTH_test/c/other/")),
                       fields(signature=sign(max_file_size=10**6)),
                       fields(signature="nothex"),
                       fields(signature="abcd"),
                       fields(signature="md5:" + base64.b64encode(b"x" * 16).decode()),
                       fields(signature=sign().upper()),
                       [(n, v) for n, v in fields() if n != "signature"]):
            self.assertUnauthorized(self.post(form_body(values, [text_file()])),
                                    b"Invalid Signature")

    def test_no_keys(self) -> None:
        self.app.account_meta = {}
        self.assertUnauthorized(self.post(form_body(fields(), [text_file()])),
                                b"Invalid Signature")

    def test_not_a_container(self) -> None:
        """
        A form posted to an account (or outside C{/v1}) has no keys: no
        info is looked up, and its files are refused.
        """
        for path in ("/v1/AUTH_test", "/v1/AUTH_test/", "/v2/AUTH_test/c", "/info"):
            self.app.calls = []
            self.assertUnauthorized(self.post(form_body(fields(path), [text_file()]), path),
                                    b"Invalid Signature")
            self.assertEqual(self.app.calls, [])

    def test_bad_integers(self) -> None:
        for values, why in (
                (fields(max_file_size="ten"), b"max_file_size not an integer"),
                (fields(max_file_count="x"), b"max_file_count not an integer"),
                (fields(expires="tomorrow"), b"expired not an integer"),
                (fields(x_delete_at="soon"),
                 b"x_delete_at not an integer: Unix timestamp required."),
                (fields(x_delete_after="1.5"),
                 b"x_delete_after not an integer: Number of seconds required.")):
            self.assertAnswer(self.post(form_body(values, [text_file()])), 400,
                              b"FormPost: " + why)
        self.assertEqual(self.app.uploads, {})

    def test_no_file_count(self) -> None:
        """
        Without C{max_file_count}, no file may be uploaded.
        """
        values = [(n, v) for n, v in fields(signature=sign(max_file_count=0))
                  if n != "max_file_count"]
        self.assertAnswer(self.post(form_body(values, [text_file()])), 400,
                          b"400 Bad Request\r\nFormPost: Max File Count Exceeded")

    def test_too_many_files(self) -> None:
        """
        Files past C{max_file_count} are refused, before the signature is
        checked; those before it were uploaded.
        """
        files = [text_file(filename=str(n)) for n in range(3)]
        response = self.post(form_body(fields(max_file_count=2), files))
        self.assertAnswer(response, 400, b"400 Bad Request\r\nFormPost: Max File Count Exceeded")
        self.assertEqual([put.path for put in self.app.puts()], [PATH + "0", PATH + "1"])

    def test_no_files(self) -> None:
        self.assertAnswer(self.post(form_body(fields())), 400,
                          b"400 Bad Request\r\nFormPost: No Files To Process")

    def test_bad_boundary(self) -> None:
        for body in (b"", b"--other\r\n", b"garbage"):
            self.assertAnswer(self.post(body), 400, b"FormPost: invalid starting boundary")
        self.assertAnswer(self.post(form_body(fields(), [text_file()], boundary="b2")), 400,
                          b"FormPost: invalid starting boundary")

    def test_no_body(self) -> None:
        request = SwiftRequest("POST", PATH.encode(), HeaderDict(
            {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}))
        response = self.successResultOf(self.filter(request, self.app))
        self.assertAnswer(response, 400, b"FormPost: invalid starting boundary")

    def test_headers_too_long(self) -> None:
        body = f"--{BOUNDARY}\r\nX: ".encode() + b"x" * 70000
        self.assertAnswer(self.post(body), 400, b"FormPost: part headers too long")

    def test_upload_failed(self) -> None:
        """
        A failed upload stops the form; its status line is the answer (its
        body is dropped, as Swift drops it).
        """
        self.app.statuses[PATH + "1"] = SwiftResponse(503, {"Content-Type": "text/html"},
                                                      b"bad news", "Service Unavailable")
        files = [text_file(filename="1"), text_file(filename="2")]
        self.assertAnswer(self.post(form_body(fields(), files)), 503,
                          b"503 Service Unavailable")
        self.assertEqual([put.path for put in self.app.puts()], [PATH + "1"])

    def test_upload_failed_without_body(self) -> None:
        self.app.statuses[PATH + "a.txt"] = SwiftResponse(404, {}, b"")
        self.assertAnswer(self.post(form_body(fields(), [text_file()])), 404, b"404 Not Found")


class DigestTests(_FormPostTestCase):
    def test_digests(self) -> None:
        for digest in ("sha1", "sha256", "sha512"):
            self.app.calls = []
            self.assertEqual(self.post(form_body(fields(digest=digest), [text_file()])).status,
                             201, digest)

    def test_base64(self) -> None:
        """
        A signature may be C{<digest>:<base64>}, URL-safe or not, with or
        without padding.
        """
        raw = bytes.fromhex(sign(digest="sha512"))
        for encoded in (base64.b64encode(raw).decode(),
                        base64.urlsafe_b64encode(raw).decode().rstrip("=")):
            response = self.post(form_body(fields(signature="sha512:" + encoded),
                                           [text_file()]))
            self.assertEqual(response.status, 201, encoded)

    def test_non_ascii_key(self) -> None:
        """
        A key is the bytes the owner set, as Swift signs with them.
        """
        self.app.account_meta = {"temp-url-key": "cl\u00e9".encode().decode("latin-1")}
        self.assertEqual(self.post(form_body(fields(key="cl\u00e9"), [text_file()])).status, 201)


class AllowedDigestTests(_FormPostTestCase):
    conf = {"allowed_digests": "sha256"}

    def test_not_allowed(self) -> None:
        for digest in ("sha1", "sha512"):
            self.assertUnauthorized(self.post(form_body(fields(digest=digest), [text_file()])),
                                    b"Invalid Signature")
        self.assertEqual(self.post(form_body(fields(), [text_file()])).status, 201)


class FileSizeTests(_FormPostTestCase):
    def test_too_large(self) -> None:
        """
        A file past C{max_file_size} fails its upload (nothing is stored)
        and the form.
        """
        body = form_body(fields(max_file_size=10), [text_file(data=b"x" * 11)])
        self.assertAnswer(self.post(body), 400, b"FormPost: max_file_size exceeded")
        self.assertEqual(list(self.app.failures), [PATH + "a.txt"])
        self.assertEqual(self.app.done, set())

    def test_largest(self) -> None:
        body = form_body(fields(max_file_size=10), [text_file(data=b"x" * 10)])
        self.assertEqual(self.post(body).status, 201)

    def test_none_allowed(self) -> None:
        """
        Without C{max_file_size}, only empty files may be uploaded.
        """
        values = [(n, v) for n, v in fields(signature=sign(max_file_size=0))
                  if n != "max_file_size"]
        self.assertEqual(self.post(form_body(values, [text_file(data=b"")])).status, 201)
        self.assertAnswer(self.post(form_body(values, [text_file(data=b"x")])), 400,
                          b"FormPost: max_file_size exceeded")


class StreamingTests(_FormPostTestCase):
    def test_backpressure(self) -> None:
        """
        A file streams from the client into its upload: while the upload
        cannot take more, the client is paused once a bounded amount
        waits, and resumed as the upload catches up.
        """
        data = bytes(range(256)) * 8192  # 2 MiB
        body = form_body(fields(max_file_size=len(data)), [text_file(data=data)])
        self.app.pause_after = 100_000
        request, streaming = self.request(None)
        d = self.filter(request, self.app)
        sent = 0
        while not self.transport.paused and sent < len(body):
            streaming.dataReceived(body[sent:sent + 65536])
            sent += 65536
        self.assertTrue(self.transport.paused)
        self.assertLess(sent, 600_000)
        [upload] = self.app.uploads.values()
        self.assertLess(len(upload.data), 100_000 + 65536)
        upload.producer.resumeProducing()
        self.assertFalse(self.transport.paused)
        while sent < len(body):
            streaming.dataReceived(body[sent:sent + 65536])
            sent += 65536
        streaming.body_complete()
        self.assertEqual(self.successResultOf(d).status, 201)
        self.assertEqual(upload.data, data)

    def test_answer_waits_for_upload(self) -> None:
        self.app.hold = True
        request, _ = self.request(form_body(fields(), [text_file()]))
        d = self.filter(request, self.app)
        self.assertNoResult(d)
        self.app.finish()
        self.assertEqual(self.successResultOf(d).status, 201)

    def test_rest_dropped(self) -> None:
        """
        Once the form is answered, the rest of the body is read and
        dropped.
        """
        request, streaming = self.request(None)
        d = self.filter(request, self.app)
        streaming.dataReceived(form_body(fields(max_file_count=0), [text_file()])[:-10])
        self.assertEqual(self.successResultOf(d).status, 400)
        streaming.dataReceived(b"x" * 1_000_000)
        self.assertFalse(self.transport.paused)

    def test_client_gone(self) -> None:
        """
        A client that goes away in the middle of a file fails its upload.
        """
        request, streaming = self.request(None)
        d = self.filter(request, self.app)
        body = form_body(fields(), [text_file(data=b"x" * 500)])
        streaming.dataReceived(body[:-200])
        streaming.connectionLost(Failure(ConnectionError("gone")))
        [failure] = self.app.failures.values()
        failure.trap(ClientGone)
        self.assertEqual(self.successResultOf(d).status, 499)

    def test_client_gone_between_fields(self) -> None:
        request, streaming = self.request(None)
        d = self.filter(request, self.app)
        streaming.dataReceived(form_body(fields())[:50])
        streaming.connectionLost(Failure(ConnectionError("gone")))
        self.assertEqual(self.successResultOf(d).status, 499)

    def test_cancelled(self) -> None:
        """
        Cancelling the answer (the client went away) ends the wait for the
        body.
        """
        request, streaming = self.request(None)
        d = self.filter(request, self.app)
        streaming.dataReceived(form_body(fields())[:50])
        d.cancel()
        self.failureResultOf(d)


class ChunkingTests(_FormPostTestCase):
    def test_any_chunking(self) -> None:
        """
        However the body arrives, the same files are uploaded.
        """
        body = form_body(fields(), [text_file(filename="1", data=b"a\r\n-" * 50),
                                    text_file(filename="2", data=b"")])
        for size in (1, 2, 7, 64, 1000):
            self.app = _App()
            request, streaming = self.request(None)
            d = self.filter(request, self.app)
            for start in range(0, len(body), size):
                streaming.dataReceived(body[start:start + size])
            streaming.body_complete()
            self.assertEqual(self.successResultOf(d).status, 201, size)
            self.assertEqual({path: u.data for path, u in self.app.uploads.items()},
                             {PATH + "1": b"a\r\n-" * 50, PATH + "2": b""}, size)
