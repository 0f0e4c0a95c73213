"""
Tests for L{twisted_proxy.plugins.tempurl}.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, Optional
from urllib.parse import quote, unquote

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.doubles import partial_context
from twisted_proxy.config import ConfigError
from twisted_proxy.info.cache import INFO_ENVIRON_KEY, InfoCache, account_key, container_key
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins.tempurl import parse_signature, tempurlPlugin
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse

NOW = 1_700_000_000


class _Context:
    def __init__(self) -> None:
        self.reactor = Clock()
        self.reactor.advance(NOW)
        self.store = MemoryInfoStore(self.reactor)
        self.info_cache = InfoCache(self.store, 60, 60)
        self.info: dict[str, Any] = {}

    def register_info(self, name: str, **info: Any) -> None:
        self.info[name] = info


@implementer(IProxyApplication)
class _App:
    """
    The rest of the pipeline: a HEAD of an account or container remembers
    its info (with C{meta}) for the request, as the controllers do; anything
    else is authorized with the environ's C{swift.authorize} and answered
    200 with C{self.headers}.
    """

    def __init__(self) -> None:
        self.calls: list[SwiftRequest] = []
        self.account_meta: dict[str, str] = {}
        self.container_meta: dict[str, str] = {}
        self.headers: dict[str, str] = {"Content-Type": "text/plain"}
        self.status = 200

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.calls.append(request)
        parts = request.path.split("/")
        if request.method == "HEAD" and len(parts) in (3, 4) and \
                request.environ.get("swift.source") == "TU":
            cache = request.environ.setdefault(INFO_ENVIRON_KEY, {})
            if len(parts) == 4:
                cache[container_key(parts[2], parts[3])] = {
                    "status": 204, "meta": dict(self.container_meta), "sysmeta": {}}
            else:
                cache[account_key(parts[2])] = {
                    "status": 204, "meta": dict(self.account_meta), "sysmeta": {}}
            return succeed(SwiftResponse(204, {}, b""))
        authorize = request.environ.get("swift.authorize")
        if authorize is not None:
            denied = authorize(request)
            if denied is not None:
                return succeed(denied)
        return succeed(SwiftResponse(self.status, dict(self.headers), b"data"))

    def passed(self) -> list[SwiftRequest]:
        return [c for c in self.calls if c.environ.get("swift.source") != "TU"]


def _sign(key: str, method: str, path: str, expires: int, digest: str = "sha256",
          ip_range: Optional[str] = None) -> str:
    message = f"{method}\n{expires}\n{path}"
    if ip_range:
        message = f"ip={ip_range}\n" + message
    return hmac.new(key.encode(), message.encode(), digest).hexdigest()


class _TempURLTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.context = _Context()
        self.clock = self.context.reactor
        self.filter = tempurlPlugin.make_filter({}, partial_context(self.context))
        self.app = _App()
        self.app.account_meta = {"temp-url-key": "akey"}
        self.expires = NOW + 60

    def call(self, method: str, path: str, query: str = "",
             headers: Optional[dict[str, str]] = None,
             client_ip: str = "127.0.0.1") -> SwiftResponse:
        uri = path + ("?" + query if query else "")
        request = SwiftRequest(method, uri.encode("ascii"), HeaderDict(headers or {}),
                               client_ip=client_ip)
        return self.successResultOf(self.filter(request, self.app))

    def signed(self, method: str, path: str, key: str = "akey",
               sign_method: Optional[str] = None, extra: str = "",
               **kw: Any) -> SwiftResponse:
        sig = _sign(key, sign_method or method, unquote(path), self.expires)
        return self.call(method, path,
                         f"temp_url_sig={sig}&temp_url_expires={self.expires}{extra}", **kw)

    def assertInvalid(self, response: SwiftResponse, head: bool = False) -> None:
        self.assertEqual(response.status, 401)
        self.assertEqual(response.headers["Www-Authenticate"], 'Swift realm="unknown"')
        if not head:
            self.assertEqual(response.body, b"401 Unauthorized: Temp URL invalid\n")
            self.assertEqual(response.headers["Content-Type"], "text/html; charset=UTF-8")


class PluginTests(_TempURLTestCase):
    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(IPlugin, tempurlPlugin))
        self.assertTrue(verifyObject(IProxyPluginFactory, tempurlPlugin))
        self.assertEqual(tempurlPlugin.name, "tempurl")
        self.assertTrue(verifyObject(IProxyFilter, self.filter))

    def test_info(self) -> None:
        """
        C{/info} gets Swift's C{tempurl} section.
        """
        self.assertEqual(self.context.info["tempurl"], {
            "methods": ["GET", "HEAD", "PUT", "POST", "DELETE"],
            "incoming_remove_headers": ["x-timestamp", "x-open-expired"],
            "incoming_allow_headers": [],
            "outgoing_remove_headers": ["x-object-meta-*"],
            "outgoing_allow_headers": ["x-object-meta-public-*"],
            "allowed_digests": ["sha1", "sha256", "sha512"],
            "deprecated_digests": ["sha1"],
        })

    def test_info_configured_digests(self) -> None:
        context = _Context()
        tempurlPlugin.make_filter({"allowed_digests": "sha512 md5"}, partial_context(context))
        self.assertEqual(context.info["tempurl"]["allowed_digests"], ["sha512"])
        self.assertNotIn("deprecated_digests", context.info["tempurl"])

    def test_no_digests(self) -> None:
        self.assertRaises(ConfigError, tempurlPlugin.make_filter,
                          {"allowed_digests": "md5"}, _Context())


class PassThroughTests(_TempURLTestCase):
    def test_plain_request(self) -> None:
        """
        A request without temp URL parameters passes untouched.
        """
        response = self.call("GET", "/v1/a/c/o", "format=json")
        self.assertEqual(response.status, 200)
        [request] = self.app.calls
        self.assertNotIn("REMOTE_USER", request.environ)
        self.assertEqual(request.params, {"format": "json"})

    def test_options(self) -> None:
        response = self.call("OPTIONS", "/v1/a/c/o", "temp_url_sig=x&temp_url_expires=1")
        self.assertEqual(response.status, 200)


class SignatureTests(_TempURLTestCase):
    def test_valid_get(self) -> None:
        response = self.signed("GET", "/v1/a/c/o")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.body, b"data")
        self.assertEqual(response.headers["Content-Disposition"],
                         "attachment; filename=\"o\"; filename*=UTF-8''o")
        self.assertEqual(response.headers["Expires"], "Tue, 14 Nov 2023 22:14:20 GMT")
        [request] = self.app.passed()
        self.assertEqual(request.environ["REMOTE_USER"], ".wsgi.tempurl")
        self.assertTrue(request.environ["swift.authorize_override"])

    def test_query_reduced(self) -> None:
        """
        Only the temp URL's own parameters reach the rest of the pipeline.
        """
        self.signed("GET", "/v1/a/c/o", extra="&multipart-manifest=get&inline")
        [request] = self.app.passed()
        self.assertEqual(sorted(request.params),
                         ["inline", "temp_url_expires", "temp_url_sig"])
        self.assertNotIn("multipart-manifest", request.query_string)

    def test_wrong_key(self) -> None:
        self.assertInvalid(self.signed("GET", "/v1/a/c/o", key="other"))
        self.assertEqual(self.app.passed(), [])

    def test_wrong_method(self) -> None:
        self.assertInvalid(self.signed("PUT", "/v1/a/c/o", sign_method="GET"))

    def test_wrong_path(self) -> None:
        sig = _sign("akey", "GET", "/v1/a/c/o", self.expires)
        self.assertInvalid(self.call(
            "GET", "/v1/a/c/o2", f"temp_url_sig={sig}&temp_url_expires={self.expires}"))

    def test_container_key(self) -> None:
        self.app.account_meta = {}
        self.app.container_meta = {"temp-url-key-2": "ckey"}
        self.assertEqual(self.signed("GET", "/v1/a/c/o", key="ckey").status, 200)

    def test_utf8_key(self) -> None:
        """
        A non-ASCII key signs with its UTF-8 bytes (metadata values are WSGI
        strings).
        """
        self.app.account_meta = {"temp-url-key": "\u00e9".encode("utf-8").decode("latin-1")}
        self.assertEqual(self.signed("GET", "/v1/a/c/o", key="\u00e9").status, 200)

    def test_account_key_2(self) -> None:
        self.app.account_meta = {"temp-url-key-2": "k2"}
        self.assertEqual(self.signed("GET", "/v1/a/c/o", key="k2").status, 200)

    def test_no_keys(self) -> None:
        self.app.account_meta = {}
        self.assertInvalid(self.signed("GET", "/v1/a/c/o"))

    def test_info_fetched_preauthorized(self) -> None:
        """
        Keys are read with HEADs the auth plugin lets by, through the rest
        of the pipeline.
        """
        self.signed("GET", "/v1/a/c/o")
        heads = [c for c in self.app.calls if c.environ.get("swift.source") == "TU"]
        self.assertEqual([h.path for h in heads], ["/v1/a", "/v1/a/c"])
        for head in heads:
            self.assertTrue(head.environ["swift.authorize_override"])
            self.assertIsNone(head.environ["swift.authorize"](head))

    def test_head_with_get_signature(self) -> None:
        for method in ("GET", "PUT", "POST", "HEAD"):
            response = self.signed("HEAD", "/v1/a/c/o", sign_method=method)
            self.assertEqual(response.status, 200, method)
        self.assertInvalid(self.signed("HEAD", "/v1/a/c/o", sign_method="DELETE"),
                           head=True)

    def test_invalid_head_has_no_body(self) -> None:
        response = self.signed("HEAD", "/v1/a/c/o", key="bad")
        self.assertInvalid(response, head=True)
        self.assertEqual(response.body, b"")
        self.assertEqual(response.headers["Content-Length"], "0")
        self.assertEqual(response.headers["Content-Type"], "text/html; charset=UTF-8")

    def test_put_post_delete(self) -> None:
        for method in ("PUT", "POST", "DELETE"):
            self.assertEqual(self.signed(method, "/v1/a/c/o").status, 200, method)

    def test_method_not_allowed(self) -> None:
        self.assertInvalid(self.signed("COPY", "/v1/a/c/o"))

    def test_digests(self) -> None:
        path = "/v1/a/c/o"
        for digest in ("sha1", "sha256", "sha512"):
            sig = _sign("akey", "GET", path, self.expires, digest)
            response = self.call(
                "GET", path, f"temp_url_sig={sig}&temp_url_expires={self.expires}")
            self.assertEqual(response.status, 200, digest)

    def test_base64_signature(self) -> None:
        path = "/v1/a/c/o"
        raw = hmac.new(b"akey", f"GET\n{self.expires}\n{path}".encode(),
                       hashlib.sha512).digest()
        sig = "sha512:" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
        response = self.call("GET", path,
                             f"temp_url_sig={quote(sig)}&temp_url_expires={self.expires}")
        self.assertEqual(response.status, 200)

    def test_disallowed_digest(self) -> None:
        self.filter = tempurlPlugin.make_filter(
            {"allowed_digests": "sha256"}, partial_context(self.context))
        sig = _sign("akey", "GET", "/v1/a/c/o", self.expires, "sha1")
        self.assertInvalid(self.call(
            "GET", "/v1/a/c/o", f"temp_url_sig={sig}&temp_url_expires={self.expires}"))

    def test_bad_signatures(self) -> None:
        for sig in ("", "zz", "abc", "sha512:!!!"):
            self.assertInvalid(self.call(
                "GET", "/v1/a/c/o", f"temp_url_sig={sig}&temp_url_expires={self.expires}"))

    def test_missing_expires(self) -> None:
        sig = _sign("akey", "GET", "/v1/a/c/o", self.expires)
        self.assertInvalid(self.call("GET", "/v1/a/c/o", f"temp_url_sig={sig}"))
        self.assertInvalid(self.call("GET", "/v1/a/c/o", f"temp_url_expires={self.expires}"))

    def test_expiry(self) -> None:
        """
        A URL works until its expiry time passes.
        """
        self.assertEqual(self.signed("GET", "/v1/a/c/o").status, 200)
        self.clock.advance(60)
        self.assertEqual(self.signed("GET", "/v1/a/c/o").status, 200)
        self.clock.advance(1)
        self.assertInvalid(self.signed("GET", "/v1/a/c/o"))

    def test_iso8601_expires(self) -> None:
        path = "/v1/a/c/o"
        sig = _sign("akey", "GET", path, self.expires)
        response = self.call(
            "GET", path, f"temp_url_sig={sig}&temp_url_expires=2023-11-14T22:14:20Z")
        self.assertEqual(response.status, 200)
        response = self.call(
            "GET", path, f"temp_url_sig={sig}&temp_url_expires=yesterday")
        self.assertInvalid(response)

    def test_not_object_path(self) -> None:
        for path in ("/v1/a/c", "/v1/a/c/", "/v2/a/c/o", "/v1/a"):
            self.assertInvalid(self.signed("GET", path))

    def test_odd_object_paths(self) -> None:
        """
        An object name may hold any slashes but must be more than slashes;
        every part before it must be there.
        """
        for path in ("/v1/a/c//x", "/v1/a/c/o/", "/v1/a/c/d//"):
            self.assertEqual(self.signed("GET", path).status, 200, path)
        for path in ("/v1/a/c//", "/v1/a/c///", "/v1//c/o", "/v1/a//o", "//a/c/o",
                     "v1/a/c/o"):
            self.assertInvalid(self.signed("GET", path))

    def test_prefix(self) -> None:
        prefix_path = "prefix:/v1/a/c/pre"
        sig = _sign("akey", "GET", prefix_path, self.expires)
        query = f"temp_url_sig={sig}&temp_url_expires={self.expires}&temp_url_prefix=pre"
        self.assertEqual(self.call("GET", "/v1/a/c/prefixed/o", query).status, 200)
        self.assertInvalid(self.call("GET", "/v1/a/c/other", query))

    def test_container_root_listing_refused(self) -> None:
        """
        A signature for the empty prefix reaches a container, but a listing
        is not handed out.
        """
        sig = _sign("akey", "GET", "prefix:/v1/a/c/", self.expires)
        query = f"temp_url_sig={sig}&temp_url_expires={self.expires}&temp_url_prefix="
        self.assertInvalid(self.call("GET", "/v1/a/c", query))
        self.assertEqual(len(self.app.passed()), 1)

    def test_ip_range(self) -> None:
        path = "/v1/a/c/o"
        sig = _sign("akey", "GET", path, self.expires, ip_range="10.0.0.0/8")
        query = (f"temp_url_sig={sig}&temp_url_expires={self.expires}"
                 "&temp_url_ip_range=10.0.0.0/8")
        self.assertEqual(self.call("GET", path, query, client_ip="10.1.2.3").status, 200)
        self.assertInvalid(self.call("GET", path, query, client_ip="192.168.0.1"))
        bad = f"temp_url_sig={sig}&temp_url_expires={self.expires}&temp_url_ip_range=x"
        self.assertInvalid(self.call("GET", path, bad, client_ip="10.1.2.3"))


class ScopeTests(_TempURLTestCase):
    def test_account_scope(self) -> None:
        self.signed("GET", "/v1/a/c/o")
        [request] = self.app.passed()
        authorize = request.environ["swift.authorize"]
        self.assertIsNone(authorize(request.copy_for(path="/v1/a/other/o")))
        self.assertEqual(authorize(request.copy_for(path="/v1/b/c/o")).status, 401)

    def test_account_scope_odd_paths(self) -> None:
        self.signed("GET", "/v1/a/c/o")
        [request] = self.app.passed()
        authorize = request.environ["swift.authorize"]
        for path in ("/v1/a", "/v1/a/", "/v1/a//o", "/v2/a/c"):
            self.assertIsNone(authorize(request.copy_for(path=path)), path)
        for path in ("/v1", "/v1/", "/v1//a", "//a/c"):
            self.assertEqual(authorize(request.copy_for(path=path)).status, 401, path)

    def test_container_scope_odd_paths(self) -> None:
        self.app.account_meta = {}
        self.app.container_meta = {"temp-url-key": "ckey"}
        self.signed("GET", "/v1/a/c/o", key="ckey")
        [request] = self.app.passed()
        authorize = request.environ["swift.authorize"]
        for path in ("/v1/a/c", "/v1/a/c/", "/v1/a/c//o"):
            self.assertIsNone(authorize(request.copy_for(path=path)), path)
        for path in ("/v1/a", "/v1/a/", "/v1/a//o", "//a/c/o"):
            self.assertEqual(authorize(request.copy_for(path=path)).status, 401, path)

    def test_container_scope(self) -> None:
        self.app.account_meta = {}
        self.app.container_meta = {"temp-url-key": "ckey"}
        self.signed("GET", "/v1/a/c/o", key="ckey")
        [request] = self.app.passed()
        authorize = request.environ["swift.authorize"]
        self.assertIsNone(authorize(request.copy_for(path="/v1/a/c/o2")))
        self.assertEqual(authorize(request.copy_for(path="/v1/a/other/o")).status, 401)


class HeaderTests(_TempURLTestCase):
    def test_incoming_removed(self) -> None:
        self.signed("PUT", "/v1/a/c/o", headers={
            "X-Timestamp": "1", "X-Open-Expired": "true", "X-Object-Meta-A": "b"})
        [request] = self.app.passed()
        self.assertEqual(list(request.headers), ["X-Object-Meta-A"])

    def test_incoming_allow(self) -> None:
        self.filter = tempurlPlugin.make_filter(
            {"incoming_remove_headers": "x-object-meta-*",
             "incoming_allow_headers": "x-object-meta-keep"}, partial_context(self.context))
        self.signed("PUT", "/v1/a/c/o", headers={
            "X-Object-Meta-Drop": "1", "X-Object-Meta-Keep": "2"})
        [request] = self.app.passed()
        self.assertEqual(list(request.headers), ["X-Object-Meta-Keep"])

    def test_disallowed_on_write(self) -> None:
        for name in ("X-Object-Manifest", "x-symlink-target", "X-Copy-From"):
            response = self.signed("PUT", "/v1/a/c/o", headers={name: "c/o"})
            self.assertEqual(response.status, 400)
            title = "-".join(p.capitalize() for p in name.split("-"))
            self.assertEqual(response.body,
                             f"The header '{title}' is not allowed in this tempurl".encode())
        self.assertEqual(self.app.passed(), [])
        response = self.signed("GET", "/v1/a/c/o", headers={"X-Copy-From": "c/o"})
        self.assertEqual(response.status, 200)

    def test_outgoing_removed(self) -> None:
        self.app.headers = {"X-Object-Meta-Secret": "1", "X-Object-Meta-Public-Ok": "2",
                            "Etag": "x"}
        response = self.signed("GET", "/v1/a/c/o")
        self.assertNotIn("X-Object-Meta-Secret", response.headers)
        self.assertEqual(response.headers["X-Object-Meta-Public-Ok"], "2")
        self.assertEqual(response.headers["Etag"], "x")


class DispositionTests(_TempURLTestCase):
    def disposition(self, extra: str = "", path: str = "/v1/a/c/o",
                    method: str = "GET") -> Optional[str]:
        return self.signed(method, path, extra=extra).headers.get("Content-Disposition")

    def test_filename(self) -> None:
        self.assertEqual(self.disposition("&filename=my%20file.txt"),
                         "attachment; filename=\"my file.txt\"; "
                         "filename*=UTF-8''my%20file.txt")

    def test_utf8_filename(self) -> None:
        self.assertEqual(self.disposition("&filename=%C3%A9"),
                         "attachment; filename=\"%C3%A9\"; filename*=UTF-8''%C3%A9")

    def test_inline(self) -> None:
        self.assertEqual(self.disposition("&inline"), "inline")
        self.assertEqual(self.disposition("&inline&filename=f"),
                         "inline; filename=\"f\"; filename*=UTF-8''f")

    def test_existing_kept(self) -> None:
        self.app.headers["Content-Disposition"] = "attachment; x"
        self.assertEqual(self.disposition(), "attachment; x")

    def test_head(self) -> None:
        self.assertEqual(self.disposition(method="HEAD"),
                         "attachment; filename=\"o\"; filename*=UTF-8''o")

    def test_nested_name(self) -> None:
        self.assertEqual(self.disposition(path="/v1/a/c/d/e%20f"),
                         "attachment; filename=\"e f\"; filename*=UTF-8''e%20f")

    def test_not_on_error_or_write(self) -> None:
        self.assertIsNone(self.disposition(method="PUT"))
        self.app.status = 404
        response = self.signed("GET", "/v1/a/c/o")
        self.assertEqual(response.status, 404)
        self.assertNotIn("Content-Disposition", response.headers)
        self.assertNotIn("Expires", response.headers)


class ParseSignatureTests(SynchronousTestCase):
    def test_hex(self) -> None:
        self.assertEqual(parse_signature("a" * 40), ("sha1", "a" * 40))
        self.assertEqual(parse_signature("a" * 64), ("sha256", "a" * 64))
        self.assertEqual(parse_signature("a" * 128), ("sha512", "a" * 128))

    def test_bad(self) -> None:
        for value in ("a" * 41, "g" * 40, "a" * 39, "sha1:a*b"):
            self.assertRaises(ValueError, parse_signature, value)

    def test_base64(self) -> None:
        raw = bytes(range(20))
        for encoded in (base64.b64encode(raw).decode(),
                        base64.urlsafe_b64encode(raw).decode().rstrip("=")):
            self.assertEqual(parse_signature("sha1:" + encoded), ("sha1", raw.hex()))
