"""
Tests for L{twisted_proxy.plugins.account_quotas}.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.doubles import partial_context, remember_info
from twisted_proxy.info.cache import InfoCache, headers_to_account_info
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins.account_quotas import accountQuotasPlugin
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse, error_response
from twisted_proxy.swift.swiftconf import REPLICATION, StoragePolicy, SwiftConf


class _Context:
    def __init__(self) -> None:
        self.reactor = Clock()
        self.info_cache = InfoCache(MemoryInfoStore(self.reactor), 60, 60)
        self.info: dict[str, Any] = {}
        gold = StoragePolicy(0, "gold", ("gold",), True, False, REPLICATION, "object")
        silver = StoragePolicy(1, "Silver", ("Silver",), False, False, REPLICATION,
                               "object-1")
        self.swift_conf = SwiftConf(b"", b"suffix", (gold, silver), {})

    def register_info(self, name: str, **info: Any) -> None:
        self.info[name] = info


@implementer(IProxyApplication)
class _App:
    """
    The rest of the pipeline: HEAD/GET of an account or container remember
    its info for the request, as the controllers do; anything else is
    authorized with the environ's C{swift.authorize} and answered 201.
    """

    def __init__(self) -> None:
        self.calls: list[SwiftRequest] = []
        self.account: dict[str, Any] = {"status": 204, "bytes": 0, "total_object_count": 0,
                                        "meta": {}, "sysmeta": {}, "storage_policies": {}}
        self.container: dict[str, Any] = {"status": 204, "meta": {}, "sysmeta": {},
                                          "storage_policy": "1"}

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.calls.append(request)
        if remember_info(request, self.account, self.container):
            return succeed(SwiftResponse(204, {}, b""))
        authorize = request.environ.get("swift.authorize")
        if authorize is not None:
            denied = authorize(request)
            if denied is not None:
                return succeed(denied)
        return succeed(SwiftResponse(201, {}, b""))


class AccountQuotasTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.context = _Context()
        self.filter = accountQuotasPlugin.make_filter({}, partial_context(self.context))
        self.app = _App()
        policies = [(p.index, p.name) for p in self.context.swift_conf.policies]
        self.assertGreaterEqual(len(policies), 2)
        self.policy = policies[1]

    def call(self, method: str, path: str, headers: Optional[dict[str, str]] = None,
             environ: Optional[dict[str, Any]] = None) -> SwiftResponse:
        self.request = SwiftRequest(method, path.encode("ascii"), HeaderDict(headers or {}),
                                    environ=environ)
        return self.successResultOf(self.filter(self.request, self.app))

    def reseller(self) -> dict[str, Any]:
        return {"reseller_request": True}

    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(IPlugin, accountQuotasPlugin))
        self.assertTrue(verifyObject(IProxyPluginFactory, accountQuotasPlugin))
        self.assertTrue(verifyObject(IProxyFilter, self.filter))
        self.assertEqual(self.context.info, {"account_quotas": {}})

    def test_knownAtOnce(self) -> None:
        """
        With the account's and the container's info in this process's
        memory, an upload that fits goes on at once, as the rest of the
        pipeline's own L{Deferred}; one over the account's or the policy's
        quota is still refused. None makes a C{HEAD}.
        """
        store = MemoryInfoStore(Clock())
        self.context.info_cache = InfoCache(store, 60, 60)
        self.filter = accountQuotasPlugin.make_filter({}, partial_context(self.context))
        index, name = self.policy
        account = dict(self.app.account, bytes=5, sysmeta={
            "quota-bytes": "10", f"quota-bytes-policy-{index}": "8"},
            storage_policies={name.lower(): {"bytes": 5}})
        store.set("account/a", account, 60)
        store.set("container/a/c", dict(self.app.container, storage_policy=str(index)), 60)
        pending: Deferred[SwiftResponse] = Deferred()
        request = SwiftRequest("PUT", b"/v1/a/c/o", HeaderDict({"Content-Length": "3"}))
        self.assertIs(self.filter(request, lambda _: pending), pending)  # type: ignore
        response = self.call("PUT", "/v1/a/c/o", {"Content-Length": "4"})
        self.assertEqual((response.status, response.body),
                         (413, b"Upload exceeds policy quota."))
        response = self.call("PUT", "/v1/a/c/o", {"Content-Length": "6"})
        self.assertEqual((response.status, response.body), (413, b"Upload exceeds quota."))
        self.assertEqual(self.app.calls, [])

    def test_resellerSets(self) -> None:
        """
        A reseller's quota headers become sysmeta, per policy by index; the
        legacy meta header counts as the bytes quota.
        """
        index, name = self.policy
        response = self.call("POST", "/v1/a", {
            "X-Account-Meta-Quota-Bytes": "100", "X-Account-Quota-Count": "5",
            f"X-Account-Quota-Bytes-Policy-{name}": "50"}, self.reseller())
        self.assertEqual(response.status, 201)
        headers = self.request.headers
        self.assertEqual(headers["X-Account-Sysmeta-Quota-Bytes"], "100")
        self.assertEqual(headers["X-Account-Sysmeta-Quota-Count"], "5")
        self.assertEqual(headers[f"X-Account-Sysmeta-Quota-Bytes-Policy-{index}"], "50")
        self.assertNotIn(f"X-Account-Quota-Bytes-Policy-{name}", headers)
        self.assertNotIn(f"X-Account-Sysmeta-Quota-Count-Policy-{index}", headers)

    def test_resellerRemoves(self) -> None:
        index, name = self.policy
        self.call("PUT", "/v1/a", {"X-Remove-Account-Quota-Bytes": "x",
                                   "X-Account-Quota-Bytes": "7",
                                   f"X-Remove-Account-Quota-Count-Policy-{name}": "1"},
                  self.reseller())
        headers = self.request.headers
        self.assertEqual(headers["X-Account-Sysmeta-Quota-Bytes"], "")
        self.assertEqual(headers[f"X-Account-Sysmeta-Quota-Count-Policy-{index}"], "")

    def test_badValue(self) -> None:
        for value in ("abc", "-1", "1.5", "\u0663"):
            response = self.call("POST", "/v1/a", {"X-Account-Quota-Count": value},
                                 self.reseller())
            self.assertEqual(response.status, 400, value)
        self.assertEqual(self.app.calls, [])

    def test_notReseller(self) -> None:
        """
        Anyone else setting or removing a quota is refused 403; a request
        without quota headers passes.
        """
        _, name = self.policy
        for headers in ({"X-Account-Quota-Bytes": "1"},
                        {"X-Remove-Account-Meta-Quota-Bytes": "x"},
                        {f"X-Account-Quota-Count-Policy-{name}": "1"}):
            self.assertEqual(self.call("POST", "/v1/a", headers).status, 403, headers)
        self.assertEqual(self.call("POST", "/v1/a", {"X-Account-Meta-Color": "red"}).status,
                         201)

    def test_shown(self) -> None:
        """
        GET and HEAD of the account show the quotas kept as sysmeta.
        """
        index, name = self.policy
        self.app.account["sysmeta"] = {"quota-bytes": "100", "quota-count": "",
                                       f"quota-count-policy-{index}": "9"}
        for method in ("GET", "HEAD"):
            response = self.call(method, "/v1/a")
            self.assertEqual(response.headers["X-Account-Quota-Bytes"], "100")
            self.assertNotIn("X-Account-Quota-Count", response.headers)
            self.assertEqual(response.headers[f"X-Account-Quota-Count-Policy-{name}"], "9")

    def test_underQuota(self) -> None:
        self.app.account.update(bytes=90, total_object_count=4,
                                sysmeta={"quota-bytes": "100", "quota-count": "5"})
        self.assertEqual(self.call("PUT", "/v1/a/c/o", {"Content-Length": "10"}).status, 201)

    def test_overBytes(self) -> None:
        self.app.account.update(bytes=90, sysmeta={"quota-bytes": "100"})
        response = self.call("PUT", "/v1/a/c/o", {"Content-Length": "11"})
        self.assertEqual((response.status, response.body), (413, b"Upload exceeds quota."))
        # The legacy meta quota counts when there is no sysmeta one.
        self.context.info_cache = InfoCache(MemoryInfoStore(Clock()), 60, 60)
        self.app.account.update(sysmeta={}, meta={"quota-bytes": "95"})
        self.filter = accountQuotasPlugin.make_filter({}, partial_context(self.context))
        self.assertEqual(self.call("PUT", "/v1/a/c/o", {"Content-Length": "6"}).status, 413)

    def test_overCount(self) -> None:
        self.app.account.update(total_object_count=5, sysmeta={"quota-count": "5"})
        self.assertEqual(self.call("PUT", "/v1/a/c/o", {"Content-Length": "0"}).status, 413)

    def test_chunked(self) -> None:
        """
        An upload of unknown length counts as empty.
        """
        self.app.account.update(bytes=100, sysmeta={"quota-bytes": "100"})
        self.assertEqual(self.call("PUT", "/v1/a/c/o").status, 201)

    def test_badStoredQuota(self) -> None:
        self.app.account.update(bytes=100, sysmeta={"quota-bytes": "lots"})
        self.assertEqual(self.call("PUT", "/v1/a/c/o", {"Content-Length": "1"}).status, 201)

    def test_policyQuota(self) -> None:
        """
        The container's policy's usage counts against its policy quota.
        """
        index, name = self.policy
        self.app.container["storage_policy"] = str(index)
        self.app.account.update(
            sysmeta={f"quota-bytes-policy-{index}": "10"},
            storage_policies={name.lower(): {"bytes": 8, "object_count": 1}})
        response = self.call("PUT", "/v1/a/c/o", {"Content-Length": "3"})
        self.assertEqual((response.status, response.body),
                         (413, b"Upload exceeds policy quota."))
        self.context.info_cache = InfoCache(MemoryInfoStore(Clock()), 60, 60)
        self.filter = accountQuotasPlugin.make_filter({}, partial_context(self.context))
        self.app.account["sysmeta"] = {f"quota-count-policy-{index}": "1"}
        self.assertEqual(self.call("PUT", "/v1/a/c/o", {"Content-Length": "0"}).status, 413)
        self.app.container["storage_policy"] = "0"
        self.context.info_cache = InfoCache(MemoryInfoStore(Clock()), 60, 60)
        self.filter = accountQuotasPlugin.make_filter({}, partial_context(self.context))
        self.assertEqual(self.call("PUT", "/v1/a/c/o", {"Content-Length": "0"}).status, 201)

    def test_resellerUnlimited(self) -> None:
        self.app.account.update(bytes=100, sysmeta={"quota-bytes": "1"})
        self.assertEqual(self.call("PUT", "/v1/a/c/o", {"Content-Length": "1"},
                                   self.reseller()).status, 201)
        self.assertEqual([c.method for c in self.app.calls], ["PUT"])

    def test_authFirst(self) -> None:
        """
        With an auth plugin, its refusal wins over the quota's; where it
        lets the request by, the answer is the 413.
        """
        self.app.account.update(bytes=100, sysmeta={"quota-bytes": "1"})
        denied = error_response(403)
        response = self.call("PUT", "/v1/a/c/o", {"Content-Length": "1"},
                             {"swift.authorize": lambda request: denied})
        self.assertIs(response, denied)
        response = self.call("PUT", "/v1/a/c/o", {"Content-Length": "1"},
                             {"swift.authorize": lambda request: None})
        self.assertEqual(response.status, 413)

    def test_otherPaths(self) -> None:
        self.app.account.update(bytes=100, sysmeta={"quota-bytes": "1"})
        for method, path in (("POST", "/v1/a/c/o"), ("PUT", "/v1/a/c"), ("PUT", "/info"),
                             ("DELETE", "/v1/a/c/o")):
            self.assertEqual(self.call(method, path, {"X-Account-Quota-Bytes": "1"}).status,
                             201)

    def test_policyStatsInInfo(self) -> None:
        """
        Account info keeps the usage per policy, by lower-case name.
        """
        info = headers_to_account_info(HeaderDict({
            "X-Account-Storage-Policy-Gold-Bytes-Used": "10",
            "X-Account-Storage-Policy-Gold-Object-Count": "2",
            "X-Account-Storage-Policy-my-ec-Container-Count": "1",
            "X-Account-Storage-Policy-Bad-Bytes-Used": "x"}), 204)
        self.assertEqual(info["storage_policies"], {
            "gold": {"bytes": 10, "object_count": 2}, "my-ec": {"container_count": 1}})
