"""
Tests for the small plugins: L{twisted_proxy.plugins.name_check},
L{twisted_proxy.plugins.read_only}, L{twisted_proxy.plugins.etag_quoter},
L{twisted_proxy.plugins.crossdomain} and
L{twisted_proxy.plugins.list_endpoints}.
"""

from __future__ import annotations

import json
from typing import Any, Optional

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
from twisted_proxy.plugins.crossdomain import crossdomainPlugin
from twisted_proxy.plugins.etag_quoter import etagQuoterPlugin, quote_etag
from twisted_proxy.plugins.list_endpoints import listEndpointsPlugin
from twisted_proxy.plugins.name_check import nameCheckPlugin
from twisted_proxy.plugins.read_only import readOnlyPlugin
from twisted_proxy.swift.constraints import Constraints
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse


class _Ring:
    def __init__(self, name: str) -> None:
        self.name = name
        self.asked: list[tuple[Any, ...]] = []

    def get_nodes(self, *names: Any) -> tuple[int, list[dict[str, Any]]]:
        self.asked.append(names)
        return 7, [{"ip": "10.0.0.1", "port": 6200, "device": f"{self.name}1"},
                   {"ip": "10.0.0.2", "port": 6200, "device": f"{self.name}2"}]


class _Rings:
    def __init__(self) -> None:
        self.account = _Ring("a")
        self.container = _Ring("c")
        self.objects: dict[int, _Ring] = {}

    def object_ring(self, index: int) -> _Ring:
        return self.objects.setdefault(index, _Ring(f"o{index}-"))


class _Context:
    def __init__(self) -> None:
        self.reactor = Clock()
        self.info_cache = InfoCache(MemoryInfoStore(self.reactor), 60, 60)
        self.info: dict[str, Any] = {}
        self.constraints = Constraints()
        self.rings = _Rings()

    def register_info(self, name: str, **info: Any) -> None:
        self.info.setdefault(name, {}).update(info)


@implementer(IProxyApplication)
class _App:
    """
    The rest of the pipeline: a HEAD of an account or container remembers
    the info set for it, as the controllers do; a GET or HEAD of an
    account or container remembers it too; anything else answers 200 with
    C{response_headers}.
    """

    def __init__(self) -> None:
        self.calls: list[SwiftRequest] = []
        self.infos: dict[str, dict[str, Any]] = {}
        self.response_headers: dict[str, str] = {}

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.calls.append(request)
        parts = request.path.split("/")
        if (request.method in ("HEAD", "GET") and len(parts) in (3, 4)
                and parts[1] == "v1"):
            key = account_key(parts[2]) if len(parts) == 3 else container_key(*parts[2:4])
            info = self.infos.get(key, {"status": 404, "meta": {}, "sysmeta": {}})
            request.environ.setdefault(INFO_ENVIRON_KEY, {})[key] = info
            return succeed(SwiftResponse(info["status"], dict(self.response_headers), b""))
        return succeed(SwiftResponse(200, dict(self.response_headers), b"passed"))


class _PluginTestCase(SynchronousTestCase):
    plugin: Any = None

    def setUp(self) -> None:
        self.context = _Context()
        self.app = _App()

    def make(self, conf: Optional[dict[str, str]] = None) -> Any:
        return self.plugin.make_filter(conf or {}, partial_context(self.context))

    def call(self, method: str, path: bytes, headers: Optional[dict[str, str]] = None,
             conf: Optional[dict[str, str]] = None) -> SwiftResponse:
        request = SwiftRequest(method, path, HeaderDict(headers or {}))
        self.request = request
        return self.successResultOf(self.make(conf)(request, self.app))

    def check_interfaces(self) -> None:
        self.assertTrue(verifyObject(IPlugin, self.plugin))
        self.assertTrue(verifyObject(IProxyPluginFactory, self.plugin))
        self.assertTrue(verifyObject(IProxyFilter, self.make()))


class NameCheckTests(_PluginTestCase):
    plugin = nameCheckPlugin

    def test_interfaces(self) -> None:
        self.check_interfaces()

    def test_passes(self) -> None:
        response = self.call("PUT", b"/v1/a/c/o")
        self.assertEqual(response.body, b"passed")

    def test_forbiddenChars(self) -> None:
        """
        The decoded path is checked: a quoted C{<} is refused too.
        """
        response = self.call("GET", b"/v1/a/c/o%3C")
        self.assertEqual(response.status, 400)
        self.assertEqual(response.body, b"Object/Container/Account name contains forbidden "
                                        b"chars from '\"`<>")
        self.assertEqual(self.app.calls, [])
        response = self.call("GET", b"/v1/a/c/o!", conf={"forbidden_chars": "!"})
        self.assertEqual(response.status, 400)
        self.assertEqual(self.call("GET", b"/v1/a/c/o<", conf={"forbidden_chars": ""}).status,
                         200)

    def test_length(self) -> None:
        path = b"/v1/a/c/" + b"o" * 247
        self.assertEqual(len(path), 255)
        self.assertEqual(self.call("GET", path).status, 200)
        response = self.call("GET", path + b"o")
        self.assertEqual(response.status, 400)
        self.assertEqual(response.body, b"Object/Container/Account name longer than the "
                                        b"allowed maximum 255")
        self.assertEqual(self.call("GET", b"/v1/a/c/oo", conf={"maximum_length": "9"}).status,
                         400)

    def test_regexp(self) -> None:
        for path in (b"/v1/a/c/./o", b"/v1/a/c/../o", b"/v1/a/c/.", b"/v1/a/c/.."):
            response = self.call("GET", path)
            self.assertEqual(response.status, 400, path)
            self.assertIn(b"forbidden substring from regular expression", response.body)
        self.assertEqual(self.call("GET", b"/v1/a/c/.o").status, 200)
        self.assertEqual(self.call("GET", b"/v1/a/c/..", conf={"forbidden_regexp": ""}).status,
                         200)

    def test_head(self) -> None:
        response = self.call("HEAD", b"/v1/a/c/<")
        self.assertEqual((response.status, response.body), (400, b""))

    def test_info(self) -> None:
        self.make({"maximum_length": "100"})
        self.assertEqual(self.context.info["name_check"], {
            "forbidden_chars": "'\"`<>", "maximum_length": 100,
            "forbidden_regexp": r"/\./|/\.\./|/\.$|/\.\.$"})

    def test_badOptions(self) -> None:
        for conf in ({"maximum_length": "x"}, {"maximum_length": "-1"},
                     {"forbidden_regexp": "("}):
            error = self.assertRaises(ConfigError, self.make, conf)
            self.assertIn("[filter:name_check]", str(error))


class ReadOnlyTests(_PluginTestCase):
    plugin = readOnlyPlugin

    def test_interfaces(self) -> None:
        self.check_interfaces()

    def account(self, **sysmeta: str) -> None:
        self.app.infos[account_key("a")] = {"status": 204, "meta": {}, "sysmeta": sysmeta}

    def test_clusterReadOnly(self) -> None:
        self.account()
        conf = {"read_only": "true"}
        for method in ("PUT", "POST", "COPY", "DELETE"):
            response = self.call(method, b"/v1/a/c/o", conf=conf)
            self.assertEqual((response.status, response.body),
                             (405, b"Writes are disabled for this account."), method)
        for method in ("GET", "HEAD", "OPTIONS"):
            self.assertEqual(self.call(method, b"/v1/a/c/o", conf=conf).status, 200)

    def test_allowDeletes(self) -> None:
        self.account()
        conf = {"read_only": "true", "allow_deletes": "yes"}
        self.assertEqual(self.call("DELETE", b"/v1/a/c", conf=conf).status, 200)
        self.assertEqual(self.call("PUT", b"/v1/a/c", conf=conf).status, 405)

    def test_accountOverrides(self) -> None:
        """
        The account's sysmeta beats the option, either way; its lookup is
        the proxy's own, pre-authorized sub-request.
        """
        self.account(**{"read-only": "true"})
        self.assertEqual(self.call("PUT", b"/v1/a/c/o").status, 405)
        [head] = [call for call in self.app.calls if call.method == "HEAD"]
        self.assertEqual(head.path, "/v1/a")
        self.assertEqual(head.environ["swift.source"], "RO")
        self.assertIsNone(head.environ["swift.authorize"](head))
        self.account(**{"read-only": "false"})
        self.context = _Context()
        self.assertEqual(self.call("PUT", b"/v1/a/c/o", conf={"read_only": "on"}).status, 200)

    def test_notSwiftPaths(self) -> None:
        conf = {"read_only": "true"}
        for path in (b"/auth/v1.0", b"/info", b"/v2/a/c", b"/v1"):
            self.assertEqual(self.call("PUT", path, conf=conf).status, 200, path)
        self.assertEqual(self.app.calls[0].method, "PUT")

    def test_copyDestinationAccount(self) -> None:
        self.app.infos[account_key("b")] = {"status": 204, "meta": {},
                                            "sysmeta": {"read-only": "yes"}}
        self.account()
        response = self.call("COPY", b"/v1/a/c/o", {"Destination-Account": "b"})
        self.assertEqual(response.status, 405)
        response = self.call("COPY", b"/v1/a/c/o", {"Destination-Account": "b%2Fx"})
        self.assertEqual((response.status, response.body),
                         (412, b"Account name cannot contain slashes"))

    def test_info(self) -> None:
        self.make()
        self.assertNotIn("read_only", self.context.info)
        self.make({"read_only": "true"})
        self.assertEqual(self.context.info["read_only"], {})


class EtagQuoterTests(_PluginTestCase):
    plugin = etagQuoterPlugin

    def test_interfaces(self) -> None:
        self.check_interfaces()

    def setUp(self) -> None:
        super().setUp()
        self.app.response_headers = {"Etag": "d41d8cd98f00b204e9800998ecf8427e"}
        self.app.infos[account_key("a")] = {"status": 204, "meta": {}, "sysmeta": {}}
        self.app.infos[container_key("a", "c")] = {"status": 204, "meta": {}, "sysmeta": {},
                                                   "storage_policy": "0"}

    def etag(self, conf: Optional[dict[str, str]] = None) -> str:
        return self.call("GET", b"/v1/a/c/o", conf=conf).headers["Etag"]

    def test_default(self) -> None:
        self.assertEqual(self.etag(), "d41d8cd98f00b204e9800998ecf8427e")
        self.assertEqual(self.etag({"enable_by_default": "true"}),
                         '"d41d8cd98f00b204e9800998ecf8427e"')

    def test_accountAndContainer(self) -> None:
        """
        The container's setting beats the account's, which beats the
        option.
        """
        self.app.infos[account_key("a")]["sysmeta"]["rfc-compliant-etags"] = "True"
        self.assertEqual(self.etag(), '"d41d8cd98f00b204e9800998ecf8427e"')
        self.app.infos[container_key("a", "c")]["sysmeta"]["rfc-compliant-etags"] = "False"
        self.context = _Context()
        self.assertEqual(self.etag({"enable_by_default": "true"}),
                         "d41d8cd98f00b204e9800998ecf8427e")

    def test_missingContainer(self) -> None:
        del self.app.infos[container_key("a", "c")]
        self.assertEqual(self.etag({"enable_by_default": "true"}),
                         "d41d8cd98f00b204e9800998ecf8427e")

    def test_quote(self) -> None:
        self.assertEqual(quote_etag("abc"), '"abc"')
        self.assertEqual(quote_etag('"abc"'), '"abc"')
        self.assertEqual(quote_etag('W/"abc"'), 'W/"abc"')
        self.assertEqual(quote_etag('"'), '"""')

    def test_setting(self) -> None:
        """
        The client's header becomes sysmeta (a boolean, or empty to
        remove), and is shown back from the info on GET and HEAD.
        """
        self.call("POST", b"/v1/a/c", {"X-Container-Rfc-Compliant-Etags": "yes"})
        self.assertEqual(self.request.headers["X-Container-Sysmeta-Rfc-Compliant-Etags"],
                         "True")
        self.call("POST", b"/v1/a", {"X-Account-Rfc-Compliant-Etags": "no"})
        self.assertEqual(self.request.headers["X-Account-Sysmeta-Rfc-Compliant-Etags"],
                         "False")
        self.call("POST", b"/v1/a", {"X-Account-Rfc-Compliant-Etags": ""})
        self.assertEqual(self.request.headers["X-Account-Sysmeta-Rfc-Compliant-Etags"], "")
        self.call("POST", b"/v1/a/c", {"X-Remove-Container-Rfc-Compliant-Etags": "x",
                                       "X-Container-Rfc-Compliant-Etags": "true"})
        self.assertEqual(self.request.headers["X-Container-Sysmeta-Rfc-Compliant-Etags"], "")
        self.app.infos[container_key("a", "c")]["sysmeta"]["rfc-compliant-etags"] = "True"
        response = self.call("HEAD", b"/v1/a/c")
        self.assertEqual(response.headers["X-Container-Rfc-Compliant-Etags"], "True")
        self.assertNotIn("X-Account-Rfc-Compliant-Etags", self.call("GET", b"/v1/a").headers)

    def test_notSwift(self) -> None:
        self.assertEqual(self.call("GET", b"/info", conf={"enable_by_default": "true"}
                                   ).headers["Etag"], "d41d8cd98f00b204e9800998ecf8427e")

    def test_info(self) -> None:
        self.make({"enable_by_default": "yes"})
        self.assertEqual(self.context.info["etag_quoter"], {"enable_by_default": True})


class CrossDomainTests(_PluginTestCase):
    plugin = crossdomainPlugin

    def test_interfaces(self) -> None:
        self.check_interfaces()

    def test_default(self) -> None:
        response = self.call("GET", b"/crossdomain.xml")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["Content-Type"], "application/xml")
        self.assertEqual(response.body, (
            b'<?xml version="1.0"?>\n<!DOCTYPE cross-domain-policy SYSTEM '
            b'"http://www.adobe.com/xml/dtds/cross-domain-policy.dtd" >\n'
            b'<cross-domain-policy>\n<allow-access-from domain="*" secure="false" />\n'
            b'</cross-domain-policy>'))
        self.assertEqual(self.app.calls, [])

    def test_policy(self) -> None:
        policy = '<allow-access-from domain="*.example.com" />\n<x />'
        response = self.call("GET", b"/crossdomain.xml", conf={"cross_domain_policy": policy})
        self.assertIn(policy.encode("ascii"), response.body)

    def test_passes(self) -> None:
        self.assertEqual(self.call("HEAD", b"/crossdomain.xml").body, b"passed")
        self.assertEqual(self.call("GET", b"/crossdomain.xmlx").body, b"passed")

    def test_info(self) -> None:
        self.make()
        self.assertEqual(self.context.info["crossdomain"], {})


class ListEndpointsTests(_PluginTestCase):
    plugin = listEndpointsPlugin

    def test_interfaces(self) -> None:
        self.check_interfaces()

    def json(self, path: bytes, **kwargs: Any) -> Any:
        response = self.call("GET", path, **kwargs)
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["Content-Type"], "application/json")
        return json.loads(response.body)  # type: ignore[arg-type]

    def test_account(self) -> None:
        expected = ["http://10.0.0.1:6200/a1/7/AUTH_a", "http://10.0.0.2:6200/a2/7/AUTH_a"]
        self.assertEqual(self.json(b"/endpoints/AUTH_a"), expected)
        self.assertEqual(self.json(b"/endpoints/v1/AUTH_a"), expected)
        self.assertEqual(self.json(b"/endpoints/v2/AUTH_a"),
                         {"endpoints": expected, "headers": {}})

    def test_container(self) -> None:
        self.assertEqual(self.json(b"/endpoints/a/c%2520d")[0],
                         "http://10.0.0.1:6200/c1/7/a/c%20d")
        self.assertEqual(self.context.rings.container.asked, [(b"a", b"c d")])

    def test_object(self) -> None:
        """
        An object's nodes come from its container's policy's ring.
        """
        self.app.infos[container_key("a", "c")] = {"status": 204, "meta": {}, "sysmeta": {},
                                                   "storage_policy": "2"}
        body = self.json(b"/endpoints/v2/a/c/o/p", headers={"X-Auth-Token": "secret"})
        self.assertEqual(body, {
            "endpoints": ["http://10.0.0.1:6200/o2-1/7/a/c/o/p",
                          "http://10.0.0.2:6200/o2-2/7/a/c/o/p"],
            "headers": {"X-Backend-Storage-Policy-Index": "2"}})
        [head] = self.app.calls
        self.assertNotIn("X-Auth-Token", head.headers)
        self.assertEqual(head.environ["swift.source"], "LE")

    def test_errors(self) -> None:
        response = self.call("PUT", b"/endpoints/a")
        self.assertEqual((response.status, response.headers["Allow"]), (405, "GET"))
        response = self.call("GET", b"/endpoints/")
        self.assertEqual((response.status, response.body), (400, b"No account specified"))
        response = self.call("GET", b"/endpoints/v3/a")
        self.assertEqual((response.status, response.body), (400, b"Unsupported version 'v3'"))
        # An account that looks like no version is an account.
        self.assertEqual(self.json(b"/endpoints/v_3")[0], "http://10.0.0.1:6200/a1/7/v_3")

    def test_path(self) -> None:
        self.assertEqual(self.call("GET", b"/endpoints/a", conf={
            "list_endpoints_path": "/where"}).body, b"passed")
        self.assertEqual(len(self.json(b"/where/a", conf={"list_endpoints_path": "/where"})),
                         2)
