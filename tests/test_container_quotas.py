"""
Tests for L{twisted_proxy.plugins.container_quotas}.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.doubles import partial_context
from twisted_proxy.info.cache import INFO_ENVIRON_KEY, InfoCache, account_key, container_key
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins.container_quotas import containerQuotasPlugin
from twisted_proxy.swift.acl import ACCOUNT_ACL_ENVIRON_KEY
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse, error_response


class _Context:
    def __init__(self) -> None:
        self.reactor = Clock()
        self.store = MemoryInfoStore(self.reactor)
        self.info_cache = InfoCache(self.store, 60, 60)
        self.info: dict[str, Any] = {}

    def register_info(self, name: str, **info: Any) -> None:
        self.info[name] = info


def _container_info(bytes_used: int = 0, count: int = 0, status: int = 204,
                    write_acl: Optional[str] = None, **meta: str) -> dict[str, Any]:
    return {
        "status": status, "bytes": bytes_used, "object_count": count,
        "write_acl": write_acl, "read_acl": None, "storage_policy": "0",
        "meta": {name.replace("_", "-"): value for name, value in meta.items()},
        "sysmeta": {},
    }


@implementer(IProxyApplication)
class _App:
    """
    The rest of the pipeline: a HEAD of a container or account remembers
    its info for the request, as the controllers do; anything else is
    authorized with the environ's C{swift.authorize} and answered 201.
    """

    def __init__(self) -> None:
        self.calls: list[SwiftRequest] = []
        self.containers: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.calls.append(request)
        parts = request.path.split("/")
        if request.method == "HEAD":
            cache = request.environ.setdefault(INFO_ENVIRON_KEY, {})
            if len(parts) == 4:
                info = self.containers.get(parts[3], _container_info(status=404))
                cache[container_key(parts[2], parts[3])] = info
            else:
                info = self.accounts.get(parts[2], {"status": 404, "sysmeta": {}})
                cache[account_key(parts[2])] = info
            return succeed(SwiftResponse(info["status"], {}, b""))
        authorize = request.environ.get("swift.authorize")
        if authorize is not None:
            denied = authorize(request)
            if denied is not None:
                return succeed(denied)
        return succeed(SwiftResponse(201, {"X-Passed": "yes"}, b""))

    def heads(self) -> list[SwiftRequest]:
        return [call for call in self.calls if call.method == "HEAD"]


class _Authorizer:
    def __init__(self, allow: bool = True) -> None:
        self.allow = allow
        self.acls: list[Optional[str]] = []
        self.account_acls: list[Optional[str]] = []

    def __call__(self, request: SwiftRequest) -> Optional[SwiftResponse]:
        self.acls.append(getattr(request, "acl", None))
        self.account_acls.append(request.environ.get(ACCOUNT_ACL_ENVIRON_KEY))
        return None if self.allow else error_response(403)


class _QuotaTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.context = _Context()
        self.filter = containerQuotasPlugin.make_filter({}, partial_context(self.context))
        self.app = _App()

    def request(self, method: str, path: str, headers: Optional[dict[str, str]] = None,
                environ: Optional[dict[str, Any]] = None) -> SwiftRequest:
        return SwiftRequest(method, path.encode("ascii"), HeaderDict(headers or {}),
                            environ=environ)

    def call(self, request: SwiftRequest) -> SwiftResponse:
        return self.successResultOf(self.filter(request, self.app))

    def put(self, length: Optional[int], environ: Optional[dict[str, Any]] = None,
            path: str = "/v1/a/c/o") -> SwiftResponse:
        headers = {} if length is None else {"Content-Length": str(length)}
        return self.call(self.request("PUT", path, headers, environ))

    def assertPassed(self, response: SwiftResponse) -> None:
        self.assertEqual(response.headers.get("X-Passed"), "yes")

    def assertOverQuota(self, response: SwiftResponse) -> None:
        self.assertEqual(response.status, 413)
        self.assertEqual(response.body, b"Upload exceeds quota.")
        self.assertEqual(response.headers["Content-Type"], "text/html; charset=UTF-8")


class PluginTests(_QuotaTestCase):
    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(IPlugin, containerQuotasPlugin))
        self.assertTrue(verifyObject(IProxyPluginFactory, containerQuotasPlugin))
        self.assertEqual(containerQuotasPlugin.name, "container_quotas")
        self.assertTrue(verifyObject(IProxyFilter, self.filter))

    def test_info(self) -> None:
        """
        As Swift's middleware, the plugin adds an empty C{container_quotas}
        section to C{/info}.
        """
        self.assertEqual(self.context.info, {"container_quotas": {}})


class ValidationTests(_QuotaTestCase):
    """
    Quota metadata set on a container must be a string of digits.
    """

    def test_invalid(self) -> None:
        for method in ("PUT", "POST"):
            for header, message in (
                ("X-Container-Meta-Quota-Bytes", b"Invalid bytes quota."),
                ("X-Container-Meta-Quota-Count", b"Invalid count quota."),
            ):
                for value in ("abc", "-1", "1.5", " 10", "\xb2"):
                    response = self.call(self.request(method, "/v1/a/c", {header: value}))
                    self.assertEqual((response.status, response.body), (400, message),
                                     (method, header, value))
        self.assertEqual(self.app.calls, [])

    def test_valid(self) -> None:
        for method in ("PUT", "POST"):
            for value in ("0", "10", ""):
                response = self.call(self.request(method, "/v1/a/c", {
                    "X-Container-Meta-Quota-Bytes": value,
                    "X-Container-Meta-Quota-Count": value}))
                self.assertPassed(response)

    def test_trailingSlash(self) -> None:
        """
        C{/v1/a/c/} names the container.
        """
        response = self.call(self.request(
            "POST", "/v1/a/c/", {"X-Container-Meta-Quota-Bytes": "x"}))
        self.assertEqual(response.status, 400)

    def test_otherMethods(self) -> None:
        """
        Only PUT and POST set metadata.
        """
        for method in ("GET", "HEAD", "DELETE"):
            request = self.request(method, "/v1/a/c", {"X-Container-Meta-Quota-Bytes": "x"})
            self.call(request)
            self.assertIs(self.app.calls[-1], request)

    def test_otherPaths(self) -> None:
        for path in ("/v1/a", "/info", "/v1//c/o", "/v1"):
            response = self.call(self.request(
                "PUT", path, {"X-Container-Meta-Quota-Bytes": "x"}))
            self.assertPassed(response)


class EnforcementTests(_QuotaTestCase):
    def test_noQuota(self) -> None:
        self.app.containers["c"] = _container_info(bytes_used=10 ** 12, count=10 ** 6)
        self.assertPassed(self.put(1000))

    def test_knownContainerAtOnce(self) -> None:
        """
        With the container's info in this process's memory, an upload that
        fits goes on at once, as the rest of the pipeline's own
        L{Deferred}, and one that does not is still refused; neither makes
        a C{HEAD}.
        """
        self.context.store.set(container_key("a", "c"),
                               _container_info(bytes_used=5, quota_bytes="10"), 60)
        pending: Deferred[SwiftResponse] = Deferred()
        request = self.request("PUT", "/v1/a/c/o", {"Content-Length": "5"})
        self.assertIs(self.filter(request, lambda _: pending), pending)  # type: ignore
        self.assertOverQuota(self.put(6))
        self.assertEqual(self.app.heads(), [])

    def test_bytes(self) -> None:
        """
        Bytes used plus the upload's length may reach the quota, not
        exceed it.
        """
        self.app.containers["c"] = _container_info(bytes_used=5, quota_bytes="10")
        self.assertPassed(self.put(5))
        self.assertOverQuota(self.put(6))

    def test_count(self) -> None:
        self.app.containers["c"] = _container_info(count=2, quota_count="3")
        self.assertPassed(self.put(0))
        self.app.containers["d"] = _container_info(count=3, quota_count="3")
        self.assertOverQuota(self.put(0, path="/v1/a/d/o"))

    def test_chunked(self) -> None:
        """
        An upload without a length is refused only once the container is
        already over its bytes quota.
        """
        self.app.containers["c"] = _container_info(bytes_used=10, quota_bytes="10")
        self.assertPassed(self.put(None))
        self.app.containers["d"] = _container_info(bytes_used=11, quota_bytes="10")
        self.assertOverQuota(self.put(None, path="/v1/a/d/o"))

    def test_cachedUsage(self) -> None:
        """
        As in Swift, the usage is as stale as the info store's copy.
        """
        self.app.containers["c"] = _container_info(bytes_used=5, quota_bytes="10")
        self.assertPassed(self.put(5))
        self.app.containers["c"] = _container_info(bytes_used=10, quota_bytes="10")
        self.assertPassed(self.put(5))
        self.assertEqual(len(self.app.heads()), 1)

    def test_badStoredQuota(self) -> None:
        """
        Quota metadata that is not a number (set before the plugin was
        installed) is ignored.
        """
        self.app.containers["c"] = _container_info(
            bytes_used=100, count=100, quota_bytes="lots", quota_count="-1")
        self.assertPassed(self.put(100))

    def test_missingContainer(self) -> None:
        """
        Without a container the request goes on, for the application to
        answer.
        """
        self.assertPassed(self.put(10))

    def test_badContentLength(self) -> None:
        self.app.containers["c"] = _container_info(quota_bytes="10")
        response = self.call(self.request("PUT", "/v1/a/c/o", {"Content-Length": "x"}))
        self.assertPassed(response)

    def test_otherMethods(self) -> None:
        self.app.containers["c"] = _container_info(bytes_used=100, quota_bytes="10")
        for method in ("POST", "DELETE", "GET", "COPY"):
            self.assertPassed(self.call(self.request(
                method, "/v1/a/c/o", {"Content-Length": "100"})))
        self.assertEqual(self.app.heads(), [])

    def test_objectWithSlashes(self) -> None:
        self.app.containers["c"] = _container_info(bytes_used=100, quota_bytes="10")
        self.assertOverQuota(self.put(1, path="/v1/a/c/d/e/"))


class InfoTests(_QuotaTestCase):
    def test_preauthorizedHead(self) -> None:
        """
        The container is looked at with a HEAD of the proxy's own, without
        the client's authorization, in the same transaction.
        """
        self.app.containers["c"] = _container_info()
        authorize = _Authorizer(allow=False)
        environ = {"swift.authorize": authorize, "swift_owner": True,
                   "swift.trans_id": "txcq"}
        self.put(1, environ)
        [head] = self.app.heads()
        self.assertEqual(head.path, "/v1/a/c")
        self.assertNotIn("swift.authorize", head.environ)
        self.assertNotIn("swift_owner", head.environ)
        self.assertEqual(head.environ["swift.source"], "CQ")
        self.assertEqual(head.environ["swift.trans_id"], "txcq")

    def test_perRequestInfo(self) -> None:
        """
        Info the request already has is used as it is.
        """
        environ = {INFO_ENVIRON_KEY: {
            container_key("a", "c"): _container_info(bytes_used=10, quota_bytes="10")}}
        self.assertOverQuota(self.put(1, environ))
        self.assertEqual(self.app.heads(), [])

    def test_storedInfo(self) -> None:
        """
        Info in the info store spares the HEAD.
        """
        self.context.store.set(
            container_key("a", "c"), _container_info(bytes_used=10, quota_bytes="10"), 60)
        self.assertOverQuota(self.put(1))
        self.assertEqual(self.app.heads(), [])

    def test_headInfoRemembered(self) -> None:
        """
        What the HEAD found is kept for the request (the controller will
        not look again).
        """
        self.app.containers["c"] = _container_info(quota_bytes="10")
        environ: dict[str, Any] = {}
        self.assertPassed(self.put(1, environ))
        self.assertIn(container_key("a", "c"), environ[INFO_ENVIRON_KEY])


class AuthorizationTests(_QuotaTestCase):
    def test_strangerDenied(self) -> None:
        """
        A client that could not write to the container is told so rather
        than that it is full, with the container's write ACL as the one
        that applies.
        """
        self.app.containers["c"] = _container_info(
            bytes_used=10, quota_bytes="10", write_acl="a:u")
        authorize = _Authorizer(allow=False)
        response = self.put(1, {"swift.authorize": authorize})
        self.assertEqual(response.status, 403)
        self.assertEqual(authorize.acls, ["a:u"])

    def test_writerOverQuota(self) -> None:
        self.app.containers["c"] = _container_info(bytes_used=10, quota_bytes="10")
        authorize = _Authorizer()
        self.assertOverQuota(self.put(1, {"swift.authorize": authorize}))

    def test_accountAcl(self) -> None:
        """
        For an authenticated client the auth plugin gets the account's ACL,
        as the application gives it.
        """
        self.app.containers["c"] = _container_info(bytes_used=10, quota_bytes="10")
        self.app.accounts["a"] = {"status": 204,
                                  "sysmeta": {"core-access-control": '{"admin":["x"]}'}}
        authorize = _Authorizer()
        self.put(1, {"swift.authorize": authorize, "REMOTE_USER": "x"})
        self.assertEqual(authorize.account_acls, ['{"admin":["x"]}'])
