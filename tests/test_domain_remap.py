"""
Tests for L{twisted_proxy.plugins.domain_remap}.
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
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins.domain_remap import DomainRemap, domainRemapPlugin
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse


class _Context:
    def __init__(self) -> None:
        self.reactor = Clock()
        self.info: dict[str, Any] = {}

    def register_info(self, name: str, **info: Any) -> None:
        self.info.setdefault(name, {}).update(info)


@implementer(IProxyApplication)
class _App:
    """
    Answers with the path it was given as the body, and C{headers}.
    """

    def __init__(self) -> None:
        self.calls: list[SwiftRequest] = []
        self.headers: dict[str, str] = {}
        self.status = 200

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.calls.append(request)
        return succeed(SwiftResponse(self.status, dict(self.headers),
                                     request.path.encode("latin-1")))


class _RemapTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.context = _Context()
        self.app = _App()
        self.make({})

    def make(self, conf: dict[str, str]) -> DomainRemap:
        self.context.info.clear()
        self.filter = domainRemapPlugin.make_filter(conf, partial_context(self.context))
        return self.filter

    def path(self, path: str, host: Optional[str], environ: Optional[dict[str, Any]] = None
             ) -> bytes:
        """
        The path the rest of the pipeline sees for C{path} on C{host}
        (C{None}: no C{Host} header), or the plugin's own answer.
        """
        headers = HeaderDict({} if host is None else {"Host": host})
        request = SwiftRequest("GET", path.encode("latin-1"), headers,
                               environ=dict(environ or {}))
        response = self.successResultOf(self.filter(request, self.app))
        body = response.body
        assert isinstance(body, bytes)
        return body


class PluginTests(_RemapTestCase):
    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(IPlugin, domainRemapPlugin))
        self.assertTrue(verifyObject(IProxyPluginFactory, domainRemapPlugin))
        self.assertEqual(domainRemapPlugin.name, "domain_remap")
        self.assertTrue(verifyObject(IProxyFilter, self.filter))

    def test_info(self) -> None:
        """
        C{/info} gets C{domain_remap} with the default reseller prefix (null
        when none is set), as from Swift.
        """
        self.assertEqual(self.context.info, {"domain_remap": {"default_reseller_prefix": None}})
        self.make({"default_reseller_prefix": "AUTH"})
        self.assertEqual(self.context.info, {"domain_remap": {"default_reseller_prefix": "AUTH"}})

    def test_storageDomains(self) -> None:
        """
        C{storage_domain} is a comma separated list; each domain is
        matched with a leading dot (those written with one last).
        """
        for value, expected in [("foo.com", [".foo.com"]), (".foo.com", [".foo.com"]),
                                ("foo.com,bar.com", [".foo.com", ".bar.com"]),
                                (".foo.com, bar.com", [".bar.com", ".foo.com"]),
                                (" foo.com , .bar.com ,", [".foo.com", ".bar.com"]),
                                ("", [])]:
            self.assertEqual(self.make({"storage_domain": value}).storage_domains, expected,
                             value)
        self.assertEqual(self.make({}).storage_domains, [".example.com"])

    def test_options(self) -> None:
        remap = self.make({"path_root": "/v2/", "reseller_prefixes": "AUTH, SERVICE",
                           "mangle_client_paths": "yes"})
        self.assertEqual(remap.path_root, "v2")
        self.assertEqual(remap.reseller_prefixes, ("AUTH", "SERVICE"))
        self.assertTrue(remap.mangle_client_paths)
        self.assertFalse(self.make({}).mangle_client_paths)


class RemapTests(_RemapTestCase):
    def test_passThrough(self) -> None:
        """
        A host that is not under a storage domain, or is the domain
        itself, leaves the path alone.
        """
        self.assertEqual(self.path("/", None), b"/")
        self.assertEqual(self.path("/", "example.com"), b"/")
        self.assertEqual(self.path("/", "example.com:8080"), b"/")
        self.assertEqual(self.path("/dontchange", "c.aexample.com"), b"/dontchange")
        self.assertEqual(self.path("/v1/a", "127.0.0.1:8080"), b"/v1/a")

    def test_account(self) -> None:
        self.assertEqual(self.path("/", "AUTH_a.example.com"), b"/v1/AUTH_a/")
        self.assertEqual(self.path("/", "AUTH_a.example.com:8080"), b"/v1/AUTH_a/")
        self.assertEqual(self.path("/", "AUTH-uuid.example.com"), b"/v1/AUTH_uuid/")
        self.assertEqual(self.path("/c/o", "auth-uuid.example.com"), b"/v1/AUTH_uuid/c/o")
        self.assertEqual(self.path("/", "auth_uuid.example.com"), b"/v1/AUTH_uuid/")
        # Only the first dash, and only without an underscore.
        self.assertEqual(self.path("/", "AUTH-a-b.example.com"), b"/v1/AUTH_a-b/")
        self.assertEqual(self.path("/", "AUTH_a-b.example.com"), b"/v1/AUTH_a-b/")

    def test_serverName(self) -> None:
        """
        Without a C{Host}, the server's name.
        """
        self.assertEqual(self.path("/c", None, {"SERVER_NAME": "AUTH_a.example.com"}),
                         b"/v1/AUTH_a/c")

    def test_accountContainer(self) -> None:
        self.assertEqual(self.path("/", "c.AUTH_a.example.com"), b"/v1/AUTH_a/c/")
        self.assertEqual(self.path("/obj", "c.AUTH_a.example.com"), b"/v1/AUTH_a/c/obj")
        self.assertEqual(self.path("/obj/", "c.AUTH_a.example.com"), b"/v1/AUTH_a/c/obj/")

    def test_badHost(self) -> None:
        """
        More labels than a container and an account: 400.
        """
        request = SwiftRequest("GET", b"/", HeaderDict({"Host": "x.y.c.AUTH_a.example.com"}))
        response = self.successResultOf(self.filter(request, self.app))
        self.assertEqual(response.status, 400)
        self.assertEqual(response.body, b"Bad domain in host header")
        self.assertEqual(response.headers["Content-Type"], "text/plain")
        self.assertEqual(self.app.calls, [])
        request = SwiftRequest("HEAD", b"/", HeaderDict({"Host": "x.c.a.example.com:80"}))
        response = self.successResultOf(self.filter(request, self.app))
        self.assertEqual((response.status, response.body), (400, b""))

    def test_pathRoot(self) -> None:
        """
        By default the path is kept whole after the account (and
        container), C{v1} included.
        """
        self.assertEqual(self.path("/v1", "AUTH_a.example.com"), b"/v1/AUTH_a/v1")
        self.assertEqual(self.path("/v1", "c.AUTH_a.example.com"), b"/v1/AUTH_a/c/v1")
        self.assertEqual(self.path("/v1/obj", "c.AUTH_a.example.com"), b"/v1/AUTH_a/c/v1/obj")
        self.assertEqual(self.path("//v1", "c.AUTH_a.example.com"), b"/v1/AUTH_a/c//v1")
        self.assertEqual(self.path("/v1//v1", "c.AUTH_a.example.com"),
                         b"/v1/AUTH_a/c/v1//v1")
        self.assertEqual(self.path("/v1obj", "c.AUTH_a.example.com"), b"/v1/AUTH_a/c/v1obj")

    def test_mangleClientPaths(self) -> None:
        """
        With C{mangle_client_paths}, a leading C{v1} segment goes.
        """
        self.make({"mangle_client_paths": "true"})
        self.assertEqual(self.path("/v1", "AUTH_a.example.com"), b"/v1/AUTH_a/")
        self.assertEqual(self.path("/v1", "c.AUTH_a.example.com"), b"/v1/AUTH_a/c/")
        self.assertEqual(self.path("/v1/obj", "c.AUTH_a.example.com"), b"/v1/AUTH_a/c/obj")
        self.assertEqual(self.path("/v1//v1", "c.AUTH_a.example.com"), b"/v1/AUTH_a/c//v1")
        self.assertEqual(self.path("/v1obj", "c.AUTH_a.example.com"), b"/v1/AUTH_a/c/v1obj")

    def test_otherPathRoot(self) -> None:
        self.make({"path_root": "/v2/", "mangle_client_paths": "true"})
        self.assertEqual(self.path("/v2/o", "c.AUTH_a.example.com"), b"/v2/AUTH_a/c/o")
        self.assertEqual(self.path("/v1/o", "c.AUTH_a.example.com"), b"/v2/AUTH_a/c/v1/o")

    def test_unicodePath(self) -> None:
        self.assertEqual(self.path("/%E4%BD%A0%E5%A5%BD", "AUTH_a.example.com"),
                         b"/v1/AUTH_a/\xe4\xbd\xa0\xe5\xa5\xbd")
        request = self.app.calls[-1]
        self.assertEqual(request.raw_path, b"/v1/AUTH_a/%E4%BD%A0%E5%A5%BD")

    def test_emptyStorageDomain(self) -> None:
        self.make({"storage_domain": ""})
        self.assertEqual(self.path("/test", "c.AUTH_a.example.com"), b"/test")

    def test_resellerPrefixes(self) -> None:
        """
        A prefix of C{reseller_prefixes}, in any case, is written as
        configured; an account under none is not remapped.
        """
        self.make({"reseller_prefixes": "PREFIX"})
        self.assertEqual(self.path("/test", "c.prefix_uuid.example.com"),
                         b"/v1/PREFIX_uuid/c/test")
        self.make({"reseller_prefixes": "UNKNOWN"})
        self.assertEqual(self.path("/test", "c.prefix_uuid.example.com"), b"/test")

    def test_noResellerPrefixes(self) -> None:
        """
        With none, accounts are taken as they are.
        """
        self.make({"reseller_prefixes": ""})
        self.assertEqual(self.path("/test", "c.uuid.example.com"), b"/v1/uuid/c/test")
        self.assertEqual(self.path("/test", "c.a-b.example.com"), b"/v1/a-b/c/test")

    def test_defaultResellerPrefix(self) -> None:
        self.make({"default_reseller_prefix": "FOO"})
        self.assertEqual(self.path("/test", "uuid.example.com"), b"/v1/FOO_uuid/test")
        self.assertEqual(self.path("/test", "auth-uuid.example.com"), b"/v1/AUTH_uuid/test")

    def test_multipleStorageDomains(self) -> None:
        self.make({"storage_domain": "storage1.com, storage2.com"})
        self.assertEqual(self.path("/test", "AUTH-uuid.storage1.com"), b"/v1/AUTH_uuid/test")
        self.assertEqual(self.path("/test", "AUTH-uuid.storage2.com"), b"/v1/AUTH_uuid/test")
        self.assertEqual(self.path("/test", "AUTH-uuid.storage3.com"), b"/test")


class LocationTests(_RemapTestCase):
    """
    Absolute URLs of the remapped path in C{Location} and
    C{Content-Location} go back to the client's path.
    """

    def answer(self, path: str, host: str, headers: dict[str, str]) -> SwiftResponse:
        self.app.headers = headers
        self.app.status = 301
        request = SwiftRequest("GET", path.encode("latin-1"), HeaderDict({"Host": host}))
        return self.successResultOf(self.filter(request, self.app))

    def test_redirect(self) -> None:
        response = self.answer("/test", "auth-uuid.example.com", {
            "Location": "http://auth-uuid.example.com/v1/AUTH_uuid/test/"})
        self.assertEqual(response.headers["Location"], "http://auth-uuid.example.com/test/")
        response = self.answer("/cont", "auth-uuid.example.com:8080", {
            "Location": "https://auth-uuid.example.com:8080/v1/AUTH_uuid/cont/?x=1"})
        self.assertEqual(response.headers["Location"],
                         "https://auth-uuid.example.com:8080/cont/?x=1")
        response = self.answer("/dir", "cont.auth-uuid.example.com", {
            "Location": "http://cont.auth-uuid.example.com/v1/AUTH_uuid/cont/dir/"})
        self.assertEqual(response.headers["Location"],
                         "http://cont.auth-uuid.example.com/dir/")

    def test_quoted(self) -> None:
        response = self.answer("/a b", "c.AUTH_a.example.com", {
            "Location": "http://c.AUTH_a.example.com/v1/AUTH_a/c/a%20b/",
            "Content-Location": "http://h/v1/AUTH_a/c/a%20b"})
        self.assertEqual(response.headers["Location"], "http://c.AUTH_a.example.com/a%20b/")
        self.assertEqual(response.headers["Content-Location"], "http://h/a%20b")

    def test_untouched(self) -> None:
        """
        Relative URLs, and URLs of other paths, stay as they are.
        """
        headers = {"Location": "/v1/AUTH_a/c/o/", "Content-Location": "http://h/v1/AUTH_a/d"}
        response = self.answer("/o", "c.AUTH_a.example.com", dict(headers))
        self.assertEqual(dict(response.headers.items()), headers)
