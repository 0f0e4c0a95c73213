"""
Tests for L{twisted_proxy.plugins.staticweb} and the pages of
L{twisted_proxy.swift.weblisting}.
"""

from __future__ import annotations

import json
from typing import Any, Optional
from urllib.parse import quote

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogLevel, globalLogPublisher
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer, provider
from zope.interface.verify import verifyObject

from tests.doubles import partial_context
from twisted_proxy.info.cache import INFO_ENVIRON_KEY, InfoCache, account_key, container_key
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.subrequest import (
    fetch_container_info,
    preauthorized,
    read_body,
)
from twisted_proxy.plugins.staticweb import staticwebPlugin, web_setting
from twisted_proxy.swift.acl import ACCOUNT_ACL_ENVIRON_KEY
from twisted_proxy.swift.http import (
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    wsgi_to_str,
)
from twisted_proxy.swift.paths import split_path
from twisted_proxy.swift.weblisting import (
    human_readable,
    listing_label,
    listing_page,
    listings_disabled_page,
    stylesheet_href,
)

_MODIFIED = "2024-05-06T07:08:09.123450"


class _Context:
    def __init__(self) -> None:
        self.reactor = Clock()
        self.info_cache = InfoCache(MemoryInfoStore(self.reactor), 60, 60)
        self.info: dict[str, Any] = {}

    def register_info(self, name: str, **info: Any) -> None:
        self.info.setdefault(name, {}).update(info)


def _authorize(request: SwiftRequest) -> Optional[SwiftResponse]:
    """
    tempauth's verdict in small: the owner C{owner} may do anything;
    others what the container's read ACL (C{request.acl}) allows them:
    objects with C{.r:*}, listings with C{.rlistings} too.
    """
    environ = request.environ
    if environ.get("REMOTE_USER") == "owner":
        environ["swift_owner"] = True
        return None
    groups = [g.strip() for g in (getattr(request, "acl", None) or "").split(",")]
    _, _, _, obj = split_path(request.path, 1, 4, True)
    if ".r:*" in groups and (obj or ".rlistings" in groups):
        return None
    if environ.get("REMOTE_USER"):
        return error_response(403, method=request.method)
    return error_response(401, method=request.method)


@implementer(IProxyApplication)
class _Site:
    """
    The rest of the pipeline in front of one account C{a} holding
    containers: a container's C{HEAD} leaves its info for the request as
    the controller does; object C{GET}/C{HEAD} and container listings
    (JSON, with C{prefix}, C{delimiter} and C{limit}) are authorized with
    the environ's C{swift.authorize} and the container's read ACL, as the
    application does.
    """

    def __init__(self) -> None:
        self.calls: list[SwiftRequest] = []
        #: name -> (meta, read ACL)
        self.containers: dict[str, tuple[dict[str, str], Optional[str]]] = {}
        #: (container, object) -> (content type, body)
        self.objects: dict[tuple[str, str], tuple[str, bytes]] = {}
        #: object paths answered with a status of their own
        self.statuses: dict[str, int] = {}
        self.account_sysmeta: dict[str, str] = {}

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.calls.append(request)
        return succeed(self._answer(request))

    def _answer(self, request: SwiftRequest) -> SwiftResponse:
        if request.environ.get("swift.source") != "SW":
            # The client's own request, passed on.
            return SwiftResponse(200, {"X-Passed": "yes"}, b"passed")
        version, account, container, obj = split_path(request.path, 1, 4, True)
        cache = request.environ.setdefault(INFO_ENVIRON_KEY, {})
        assert account is not None
        if container is None:
            cache[account_key(account)] = {
                "status": 204, "meta": {}, "sysmeta": dict(self.account_sysmeta)}
            return SwiftResponse(204, {}, b"")
        known = self.containers.get(container)
        if request.method == "HEAD" and not obj:
            if known is None:
                cache[container_key(account, container)] = {
                    "status": 404, "meta": {}, "sysmeta": {}}
                return SwiftResponse(404, {}, b"")
            meta, acl = known
            cache[container_key(account, container)] = {
                "status": 204, "meta": dict(meta), "sysmeta": {}, "read_acl": acl}
            return SwiftResponse(204, {}, b"")
        authorize = request.environ.get("swift.authorize")
        if authorize is not None:
            request.acl = known[1] if known else None  # type: ignore[attr-defined]
            denied = authorize(request)
            if denied is not None:
                return denied  # type: ignore[no-any-return]
        if known is None:
            return error_response(404, method=request.method)
        if request.path in self.statuses:
            return error_response(self.statuses[request.path], method=request.method)
        if obj:
            found = self.objects.get((container, obj))
            if found is None:
                return error_response(404, method=request.method)
            content_type, body = found
            headers = {"Content-Type": content_type, "Content-Length": str(len(body)),
                       "Etag": "x"}
            return SwiftResponse(200, headers, b"" if request.method == "HEAD" else body)
        return self._listing(request, container)

    def _listing(self, request: SwiftRequest, container: str) -> SwiftResponse:
        assert request.params.get("format") == "json", request.query_string
        prefix = request.params.get("prefix", "")
        delimiter = request.params.get("delimiter")
        limit = int(request.params.get("limit", "10000"))
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        for (where, name), (content_type, body) in sorted(self.objects.items()):
            if where != container or not name.startswith(prefix):
                continue
            rest = name[len(prefix):]
            if delimiter and delimiter in rest:
                subdir = prefix + rest[:rest.index(delimiter) + 1]
                if subdir not in seen:
                    seen.add(subdir)
                    items.append({"subdir": wsgi_to_str(subdir)})
                continue
            items.append({"name": wsgi_to_str(name), "hash": "x", "bytes": len(body),
                          "content_type": content_type, "last_modified": _MODIFIED})
        body = json.dumps(items[:limit]).encode("ascii")
        return SwiftResponse(200, {"Content-Type": "application/json; charset=utf-8"}, body)

    def paths(self) -> list[tuple[str, str, str]]:
        return [(r.method, r.path, r.query_string) for r in self.calls]


class _StaticWebTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.context = _Context()
        self.filter = staticwebPlugin.make_filter({}, partial_context(self.context))
        self.site = _Site()
        self.site.containers["c"] = ({}, ".r:*,.rlistings")
        self.site.objects.update({
            ("c", "index.html"): ("text/html", b"<h1>home</h1>"),
            ("c", "dir"): ("application/directory", b""),
            ("c", "dir/a.txt"): ("text/plain", b"a" * 2048),
            ("c", "dir/sub/b"): ("text/plain", b"b"),
            ("c", "401error.html"): ("text/html", b"go away"),
            ("c", "404error.html"): ("text/html", b"nothing here"),
        })

    def web(self, **meta: str) -> None:
        """
        Set the container C{c}'s web metadata (C{index}, C{listings}, ...).
        """
        names = {"index": "web-index", "error": "web-error", "listings": "web-listings",
                 "css": "web-listings-css", "label": "web-listings-label",
                 "dir_type": "web-directory-type"}
        acl = self.site.containers["c"][1]
        self.site.containers["c"] = ({names[k]: v for k, v in meta.items()}, acl)

    def request(self, path: str, method: str = "GET", user: Optional[str] = None,
                headers: Optional[dict[str, str]] = None,
                environ: Optional[dict[str, Any]] = None,
                authorize: bool = True) -> SwiftRequest:
        all_headers = {"Host": "example.org:8080", "User-Agent": "curl"}
        all_headers.update(headers or {})
        request = SwiftRequest(method, path.encode("latin-1"), HeaderDict(all_headers),
                               environ={"wsgi.url_scheme": "http"})
        if authorize:
            request.environ["swift.authorize"] = _authorize
        if user is not None:
            request.environ["REMOTE_USER"] = user
        request.environ.update(environ or {})
        return request

    def answer(self, path: str, method: str = "GET", **kw: Any) -> SwiftResponse:
        # What the site says now, not what an earlier request cached.
        self.filter.info_cache = InfoCache(MemoryInfoStore(Clock()), 60, 60)
        return self.successResultOf(self.filter(self.request(path, method, **kw), self.site))

    def body(self, response: SwiftResponse) -> bytes:
        return self.successResultOf(read_body(response.body))

    def assertRedirect(self, response: SwiftResponse, location: str) -> None:
        self.assertEqual(response.status, 301)
        self.assertEqual(response.headers["Location"], location)
        self.assertEqual(self.body(response), b"<html><h1>Moved Permanently</h1>"
                         b"<p>The resource has moved permanently.</p></html>")


class PluginTests(_StaticWebTestCase):
    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(IPlugin, staticwebPlugin))
        self.assertTrue(verifyObject(IProxyPluginFactory, staticwebPlugin))
        self.assertEqual(staticwebPlugin.name, "staticweb")
        self.assertTrue(verifyObject(IProxyFilter, self.filter))

    def test_info(self) -> None:
        """
        C{/info} gets an empty C{staticweb} section, as from Swift.
        """
        self.assertEqual(self.context.info, {"staticweb": {}})

    def test_urlBase(self) -> None:
        """
        C{url_base} gives the scheme and host of redirects, either or both.
        """
        for url_base, scheme, host in [("", "", ""), ("https:", "https", ""),
                                       ("https://", "https", ""),
                                       ("//www.example.com:8080", "", "www.example.com:8080"),
                                       ("http://www.example.com", "http", "www.example.com")]:
            made = staticwebPlugin.make_filter({"url_base": url_base},
                                               partial_context(self.context))
            self.assertEqual((made.url_scheme, made.url_host), (scheme, host), url_base)


class PassThroughTests(_StaticWebTestCase):
    """
    Requests that are not for a web site go on untouched, with no request
    of the plugin's own.
    """

    def assertPassed(self, request: SwiftRequest) -> None:
        self.successResultOf(self.filter(request, self.site))
        self.assertEqual(self.site.calls, [request])

    def test_otherMethods(self) -> None:
        self.web(index="index.html", listings="true")
        for method in ("PUT", "POST", "DELETE", "COPY", "OPTIONS"):
            self.site.calls.clear()
            self.assertPassed(self.request("/v1/a/c/", method))

    def test_authenticated(self) -> None:
        """
        An authenticated request that does not ask for web mode is an API
        request.
        """
        self.web(listings="true")
        self.assertPassed(self.request("/v1/a/c", user="owner"))
        self.site.calls.clear()
        self.assertPassed(self.request("/v1/a/c", user="owner",
                                       headers={"X-Web-Mode": "false"}))

    def test_notContainerOrObject(self) -> None:
        for path in ("/info", "/v1", "/v1/a", "/v1/a/", "/crossdomain.xml"):
            self.site.calls.clear()
            self.assertPassed(self.request(path))

    def test_noAuthPlugin(self) -> None:
        """
        Without an auth plugin before it, the plugin lets every request
        by, with a warning.
        """
        events: list[dict[str, Any]] = []

        @provider(ILogObserver)
        def observe(event: dict[str, Any]) -> None:
            events.append(event)

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)
        self.web(listings="true")
        self.assertPassed(self.request("/v1/a/c", authorize=False))
        [warning] = [e for e in events if e["log_level"] is LogLevel.warn]
        self.assertIn("Skipping staticweb", warning["log_format"])

    def test_containerNotAWebSite(self) -> None:
        """
        A container with neither index nor listings is listed as usual.
        """
        response = self.answer("/v1/a/c/")
        self.assertEqual(response.status, 200)
        self.assertEqual(self.site.paths()[-1], ("GET", "/v1/a/c/", ""))

    def test_webModeNotAWebSite(self) -> None:
        """
        With C{X-Web-Mode: true}, such a container is a 404.
        """
        response = self.answer("/v1/a/c/", user="owner", headers={"X-Web-Mode": "true"})
        self.assertEqual(response.status, 404)
        self.assertEqual([m for m, _, _ in self.site.paths()], ["HEAD", "HEAD"])


class ContainerTests(_StaticWebTestCase):
    def test_redirectWithSlash(self) -> None:
        """
        The container without its trailing slash is a 301 to the URL with
        one, on the client's own host (the default port left out).
        """
        self.web(listings="true")
        self.assertRedirect(self.answer("/v1/a/c"), "http://example.org:8080/v1/a/c/")
        self.assertRedirect(self.answer("/v1/a/c", headers={"Host": "example.org:80"}),
                            "http://example.org/v1/a/c/")

    def test_redirectHead(self) -> None:
        self.web(listings="true")
        response = self.answer("/v1/a/c", "HEAD")
        self.assertEqual(response.status, 301)
        self.assertEqual(response.body, b"")
        # As Swift's default pages answer a HEAD.
        self.assertEqual(response.headers["Content-Length"], "0")
        self.web(listings="true")
        response = self.answer("/v1/a/c/dir/nothing", "HEAD")
        self.assertEqual((response.status, response.headers["Content-Length"]), (404, "0"))

    def test_redirectWithoutHost(self) -> None:
        """
        Without a C{Host}, the server's name and port.
        """
        self.web(index="index.html")
        request = self.request("/v1/a/c", environ={"SERVER_NAME": "proxy",
                                                   "SERVER_PORT": "8443",
                                                   "wsgi.url_scheme": "https"})
        del request.headers["Host"]
        response = self.successResultOf(self.filter(request, self.site))
        self.assertEqual(response.headers["Location"], "https://proxy:8443/v1/a/c/")

    def test_redirectUrlBase(self) -> None:
        self.web(listings="true")
        self.filter = staticwebPlugin.make_filter({"url_base": "https://www.example.com"},
                                                  partial_context(self.context))
        self.assertRedirect(self.answer("/v1/a/c"), "https://www.example.com/v1/a/c/")
        self.filter = staticwebPlugin.make_filter({"url_base": "https:"},
                                                  partial_context(self.context))
        self.assertRedirect(self.answer("/v1/a/c"), "https://example.org:8080/v1/a/c/")

    def test_redirectQuoted(self) -> None:
        """
        The path is quoted; a container with a UTF-8 name keeps it.
        """
        self.site.containers["\xe2\x98\x83 x"] = ({"web-listings": "true"},
                                                ".r:*,.rlistings")
        self.assertRedirect(self.answer("/v1/a/\xe2\x98\x83 x"),
                            "http://example.org:8080/v1/a/%E2%98%83%20x/")

    def test_index(self) -> None:
        self.web(index="index.html")
        response = self.answer("/v1/a/c/")
        self.assertEqual(response.status, 200)
        self.assertEqual(self.body(response), b"<h1>home</h1>")
        index = self.site.calls[-1]
        self.assertEqual((index.method, index.path), ("GET", "/v1/a/c/index.html"))

    def test_indexHead(self) -> None:
        self.web(index="index.html")
        response = self.answer("/v1/a/c/", "HEAD")
        self.assertEqual(response.status, 200)
        self.assertEqual(self.site.calls[-1].method, "HEAD")

    def test_indexMissingListingsOff(self) -> None:
        """
        An index that does not exist, with listings off: 404, saying so.
        """
        self.web(index="missing.html")
        response = self.answer("/v1/a/c/")
        self.assertEqual(response.status, 404)
        body = self.body(response)
        self.assertIn(b"Web Listing Disabled", body)
        self.assertIn(b"<b>X-Container-Meta-Web-Index: missing.html</b>", body)
        self.assertIn(b"<style", body)

    def test_indexMissingListingsOn(self) -> None:
        self.web(index="missing.html", listings="true")
        response = self.answer("/v1/a/c/")
        self.assertEqual(response.status, 200)
        self.assertIn(b"Listing of /v1/a/c/", self.body(response))

    def test_indexError(self) -> None:
        """
        An index that answers an error other than 404 gives that error,
        or the container's error page for it.
        """
        self.web(index="index.html")
        self.site.statuses["/v1/a/c/index.html"] = 503
        self.assertEqual(self.answer("/v1/a/c/").status, 503)
        self.web(index="index.html", error="error.html")
        self.site.objects[("c", "503error.html")] = ("text/html", b"later")
        response = self.answer("/v1/a/c/")
        self.assertEqual(response.status, 503)
        self.assertEqual(self.body(response), b"later")

    def test_listing(self) -> None:
        """
        The container's listing: pseudo-directories first, then objects,
        each linked relative to the page, with size and date.
        """
        self.web(listings="true")
        response = self.answer("/v1/a/c/")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["Content-Type"], "text/html; charset=UTF-8")
        self.assertEqual(response.headers["X-Backend-Content-Generator"], "staticweb")
        listing = self.site.calls[-1]
        self.assertEqual((listing.method, listing.path, listing.params),
                         ("GET", "/v1/a/c", {"delimiter": "/", "format": "json"}))
        self.assertEqual(listing.headers["User-Agent"], "curl StaticWeb")
        body = self.body(response).decode("utf-8")
        self.assertEqual(body, listing_page(
            "/v1/a/c/", None, json.loads(self.body(self.successResultOf(self.site(
                SwiftRequest("GET", b"/v1/a/c?delimiter=/&format=json",
                             environ={"swift.source": "SW"}))))),
            "", False).decode("utf-8"))
        self.assertIn('<a href="./dir/">dir/</a>', body)
        self.assertIn('<tr class="item type-application type-directory">', body)
        self.assertIn('<a href="./index%2Ehtml">index.html</a>', body)
        self.assertNotIn("a.txt", body)
        self.assertNotIn('id="parent"', body)

    def test_listingHead(self) -> None:
        """
        A HEAD of a listing has its length and no body.
        """
        self.web(listings="true")
        get = self.answer("/v1/a/c/")
        head = self.answer("/v1/a/c/", "HEAD")
        self.assertEqual(head.status, 200)
        self.assertEqual(head.body, b"")
        self.assertEqual(head.headers["Content-Length"], str(len(self.body(get))))

    def test_listingDenied(self) -> None:
        """
        A client that may not list the container gets the auth plugin's
        refusal, or the container's page for it.
        """
        self.site.containers["c"] = ({"web-listings": "true"}, ".r:*")
        response = self.answer("/v1/a/c/")
        self.assertEqual(response.status, 401)
        self.assertIn(b"Unauthorized", self.body(response))
        self.site.containers["c"] = ({"web-listings": "true", "web-error": "error.html"},
                                     ".r:*")
        response = self.answer("/v1/a/c/")
        self.assertEqual(response.status, 401)
        self.assertEqual(response.reason, "Unauthorized")
        self.assertEqual(self.body(response), b"go away")
        page = self.site.calls[-1]
        self.assertEqual((page.method, page.path), ("GET", "/v1/a/c/401error.html"))

    def test_listingDeniedNoSlash(self) -> None:
        """
        Authorization comes before the redirect.
        """
        self.site.containers["c"] = ({"web-listings": "true"}, None)
        self.assertEqual(self.answer("/v1/a/c").status, 401)

    def test_errorPageMissing(self) -> None:
        """
        An error page that does not exist leaves the error as it was, after
        one attempt.
        """
        self.site.containers["c"] = ({"web-listings": "true", "web-error": "nope.html"},
                                     ".r:*")
        response = self.answer("/v1/a/c/")
        self.assertEqual(response.status, 401)
        self.assertEqual([p for _, p, _ in self.site.paths()].count("/v1/a/c/401nope.html"),
                         1)

    def test_errorPageHead(self) -> None:
        self.site.containers["c"] = ({"web-listings": "true", "web-error": "error.html"},
                                     ".r:*")
        response = self.answer("/v1/a/c/", "HEAD")
        self.assertEqual(response.status, 401)
        self.assertEqual(response.body, b"")
        self.assertEqual(response.headers["Content-Length"], "7")

    def test_missingContainer(self) -> None:
        """
        A container that does not exist is the auth plugin's to refuse, or
        the application's to answer.
        """
        self.assertEqual(self.answer("/v1/a/nothing/").status, 401)
        response = self.answer("/v1/a/nothing/", user="owner", headers={"X-Web-Mode": "1"})
        self.assertEqual(response.status, 404)

    def test_infoHeadOfAnotherPlugin(self) -> None:
        """
        A plugin before this one that looks the container up sends a
        pre-authorized anonymous C{HEAD}, which this plugin serves as a
        web request (a 301 here, as in Swift); the info it reads on the
        way is what the first plugin gets, without either waiting for the
        other.
        """
        self.web(listings="true")
        info_cache = self.filter.info_cache

        def rest(request: SwiftRequest) -> "Deferred[SwiftResponse]":
            head = request.copy_for()
            head.environ = dict(request.environ, **{"swift.source": "SW"})
            seen.append(request)
            return self.filter(head, self.site)  # type: ignore[no-any-return]

        seen: list[SwiftRequest] = []
        client = self.request("/v1/a/c/o", "PUT")
        info = self.successResultOf(Deferred.fromCoroutine(fetch_container_info(
            client, rest, info_cache, "v1", "a", "c",  # type: ignore[arg-type]
            preauthorized("EQ"))))
        self.assertEqual(info["meta"], {"web-listings": "true"})
        self.assertEqual([(r.method, r.path) for r in seen], [("HEAD", "/v1/a/c")])

    def test_listingCss(self) -> None:
        self.web(listings="true", css="style/listing.css")
        body = self.body(self.answer("/v1/a/c/"))
        self.assertIn(b'<link rel="stylesheet" type="text/css" href="style/listing.css" />',
                      body)
        self.assertNotIn(b"<style", body)

    def test_listingLabel(self) -> None:
        self.web(listings="true", label="example.com")
        body = self.body(self.answer("/v1/a/c/dir/"))
        self.assertIn(b"<title>Listing of example.com/dir/</title>", body)

    def test_webModeOwner(self) -> None:
        """
        An authenticated owner in web mode gets the site; the account's
        ACL is known to the auth plugin before it decides.
        """
        self.site.containers["c"] = ({"web-listings": "true"}, None)
        self.site.account_sysmeta = {"core-access-control": '{"read-only":["u"]}'}
        request = self.request("/v1/a/c/", user="owner", headers={"X-Web-Mode": "True"})
        response = self.successResultOf(self.filter(request, self.site))
        self.assertEqual(response.status, 200)
        self.assertEqual(request.environ[ACCOUNT_ACL_ENVIRON_KEY], '{"read-only":["u"]}')


class ObjectTests(_StaticWebTestCase):
    def test_object(self) -> None:
        """
        An object that exists is answered by the client's own request,
        made once.
        """
        self.web(index="index.html", listings="true")
        response = self.answer("/v1/a/c/dir/a.txt?foo=bar", headers={"Range": "bytes=0-1"})
        self.assertEqual(response.status, 200)
        self.assertEqual(self.body(response), b"a" * 2048)
        [get] = [r for r in self.site.calls if r.method == "GET"]
        self.assertEqual((get.path, get.query_string), ("/v1/a/c/dir/a.txt", "foo=bar"))
        self.assertEqual(get.headers["Range"], "bytes=0-1")
        self.assertEqual(get.headers["User-Agent"], "curl StaticWeb")
        self.assertEqual(get.environ["swift.source"], "SW")
        self.assertNotIn("swift.authorize_override", get.environ)

    def test_missingNotAWebSite(self) -> None:
        response = self.answer("/v1/a/c/nothing")
        self.assertEqual(response.status, 404)
        self.assertEqual(self.body(response),
                         b"<html><h1>Not Found</h1><p>The resource could not be found.</p>"
                         b"</html>")

    def test_missingErrorPage(self) -> None:
        self.web(listings="true", error="error.html")
        response = self.answer("/v1/a/c/nothing")
        self.assertEqual(response.status, 404)
        self.assertEqual(response.reason, "Not Found")
        self.assertEqual(self.body(response), b"nothing here")

    def test_objectErrorNotPaged(self) -> None:
        """
        An object's error other than 404 gets no error page.
        """
        self.site.containers["c"] = ({"web-error": "error.html", "web-listings": "t"}, None)
        response = self.answer("/v1/a/c/dir/a.txt")
        self.assertEqual(response.status, 401)
        self.assertIn(b"Unauthorized", self.body(response))

    def test_directoryRedirect(self) -> None:
        """
        A pseudo-directory without its slash is a 301 to it with one, when
        something is in it.
        """
        self.web(listings="true")
        self.assertRedirect(self.answer("/v1/a/c/dir/sub"),
                            "http://example.org:8080/v1/a/c/dir/sub/")
        probe = self.site.calls[-1]
        self.assertEqual(probe.params, {"limit": "1", "delimiter": "/", "format": "json",
                                        "prefix": "dir/sub/"})

    def test_directoryMarkerRedirect(self) -> None:
        """
        A directory marker counts as missing.
        """
        self.web(listings="true")
        self.assertRedirect(self.answer("/v1/a/c/dir"), "http://example.org:8080/v1/a/c/dir/")

    def test_directoryMarkerOtherType(self) -> None:
        """
        With C{X-Container-Meta-Web-Directory-Type}, markers are of that
        type; objects of the default type are objects.
        """
        self.web(listings="true", dir_type="text/directory")
        response = self.answer("/v1/a/c/dir")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["Content-Type"], "application/directory")
        self.site.objects[("c", "dir")] = ("text/directory", b"")
        self.assertEqual(self.answer("/v1/a/c/dir").status, 301)
        self.site.objects[("c", "dir")] = ("text/directory", b"xx")
        self.assertEqual(self.answer("/v1/a/c/dir").status, 200)

    def test_directoryMarkerNotAWebSite(self) -> None:
        """
        Without index or listings, a marker is just an object.
        """
        self.web(error="error.html")
        response = self.answer("/v1/a/c/dir")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["Content-Type"], "application/directory")

    def test_missingNoDirectory(self) -> None:
        """
        Nothing by that name, nothing under it: 404 (the error page).
        """
        self.web(listings="true", error="error.html")
        response = self.answer("/v1/a/c/dir/nothing")
        self.assertEqual(response.status, 404)
        self.assertEqual(self.body(response), b"nothing here")

    def test_directoryListing(self) -> None:
        """
        A pseudo-directory's listing: names without the prefix, a link to
        the parent, a relative style sheet.
        """
        self.web(listings="true", css="listing.css")
        response = self.answer("/v1/a/c/dir/")
        self.assertEqual(response.status, 200)
        body = self.body(response)
        self.assertIn(b"<title>Listing of /v1/a/c/dir/</title>", body)
        self.assertIn(b'href="../listing.css"', body)
        self.assertIn(b'<tr id="parent" class="item">\n'
                      b'    <td class="colname"><a href="../">../</a></td>', body)
        self.assertIn(b'<a href="./sub/">sub/</a>', body)
        self.assertIn(b'<a href="./a%2Etxt">a.txt</a></td>\n'
                      b'    <td class="colsize">2Ki</td>\n'
                      b'    <td class="coldate">2024-05-06 07:08:09</td>', body)
        listing = self.site.calls[-1]
        self.assertEqual(listing.params, {"delimiter": "/", "format": "json",
                                          "prefix": "dir/"})

    def test_emptyDirectoryListing(self) -> None:
        """
        A pseudo-directory with nothing in it is a 404.
        """
        self.web(listings="true", error="error.html")
        response = self.answer("/v1/a/c/none/")
        self.assertEqual(response.status, 404)
        self.assertEqual(self.body(response), b"nothing here")

    def test_directoryListingsOff(self) -> None:
        self.web(index="index.html", css="/css/l.css")
        response = self.answer("/v1/a/c/dir/")
        self.assertEqual(response.status, 404)
        body = self.body(response)
        self.assertIn(b"Web Listing Disabled", body)
        self.assertIn(b"Index File Not Found", body)
        self.assertIn(b'href="/css/l.css"', body)

    def test_directoryIndex(self) -> None:
        self.site.objects[("c", "dir/index.html")] = ("text/html", b"dir home")
        self.web(index="index.html")
        response = self.answer("/v1/a/c/dir/")
        self.assertEqual(self.body(response), b"dir home")
        self.assertRedirect(self.answer("/v1/a/c/dir"), "http://example.org:8080/v1/a/c/dir/")

    def test_directoryIndexError(self) -> None:
        """
        An index that fails with anything but 404 gives its error.
        """
        self.web(index="index.html", listings="true")
        self.site.statuses["/v1/a/c/dir/index.html"] = 503
        self.assertEqual(self.answer("/v1/a/c/dir/").status, 503)

    def test_noRedirectLoop(self) -> None:
        """
        A redirect always names a path ending in C{/}, and such a path is
        never redirected, whatever its index answers (here, itself a
        redirect); the plugin's requests go to the rest of the pipeline,
        never back through it.
        """
        self.web(index="index.html", listings="true")
        self.site.statuses["/v1/a/c/dir/index.html"] = 302
        location = self.answer("/v1/a/c/dir").headers["Location"]
        self.assertTrue(location.endswith("/v1/a/c/dir/"))
        self.site.calls.clear()
        response = self.answer("/v1/a/c/dir/")
        self.assertEqual(response.status, 302)
        self.assertNotIn("Location", response.headers)
        self.assertLessEqual(len(self.site.calls), 3)

    def test_tempurlListing(self) -> None:
        """
        For a request a temp URL admitted, links carry the URL's
        parameters, and there is no link above its prefix.
        """
        self.site.containers["c"] = ({"web-listings": "true"}, None)

        def same_container(request: SwiftRequest) -> Optional[SwiftResponse]:
            return None

        query = ("temp_url_sig=abc&temp_url_expires=2030-01-01T00%3A00%3A00Z"
                 "&temp_url_prefix=dir/&inline=")
        response = self.answer(
            "/v1/a/c/dir/?" + query, user=".wsgi.tempurl",
            environ={"swift.authorize": same_container})
        self.assertEqual(response.status, 200)
        body = self.body(response).decode("utf-8")
        qs = ("?temp_url_prefix=dir/&amp;temp_url_expires=2030-01-01T00%3A00%3A00Z"
              "&amp;temp_url_sig=abc&amp;inline")
        self.assertIn(f'<a href="./a%2Etxt{qs}">a.txt</a>', body)
        self.assertIn(f'<a href="./sub/{qs}">sub/</a>', body)
        self.assertNotIn('id="parent"', body)
        response = self.answer(
            "/v1/a/c/dir/sub/?" + query, user=".wsgi.tempurl",
            environ={"swift.authorize": same_container})
        self.assertIn(f'<a href="../{qs}">../</a>', self.body(response).decode("utf-8"))

    def test_unicodeListing(self) -> None:
        self.web(listings="true")
        snowman = "\u2603"
        wsgi = snowman.encode("utf-8").decode("latin-1")
        self.site.objects[("c", f"{wsgi}/{wsgi} x")] = ("text/plain", b"s")
        response = self.answer(f"/v1/a/c/{wsgi}/")
        body = self.body(response).decode("utf-8")
        self.assertIn(f"Listing of /v1/a/c/{snowman}/", body)
        self.assertIn(f'<a href="./{quote(snowman)}%20x">{snowman} x</a>', body)


class PagesTests(SynchronousTestCase):
    """
    The pure parts: sizes, style sheet links, labels and the pages.
    """

    def test_humanReadable(self) -> None:
        self.assertEqual([human_readable(n) for n in (0, 1023, 1024, 1536, 2560, 1048576,
                                                      5 * 1024 ** 4, 1024 ** 9)],
                         ["0", "1023", "1Ki", "2Ki", "2Ki", "1Mi", "5Ti", "1024Yi"])

    def test_stylesheetHref(self) -> None:
        self.assertEqual(stylesheet_href("s.css", ""), "s.css")
        self.assertEqual(stylesheet_href("s s.css", "a/b/"), "../../s%20s.css")
        self.assertEqual(stylesheet_href("/abs/s.css", "a/"), "/abs/s.css")
        self.assertEqual(stylesheet_href("https://cdn:8/s.css", "a/"),
                         "https://cdn:8/s.css")

    def test_label(self) -> None:
        self.assertEqual(listing_label("/v1/a/c/d/", ""), "/v1/a/c/d/")
        self.assertEqual(listing_label("/v1/a/c/d/", "site"), "site/d/")
        self.assertEqual(listing_label("/v1/a/c/", "site"), "site/")

    def test_escaped(self) -> None:
        page = listing_page("/v1/a/<c>/", None, [{"subdir": "<s>/"},
                                                  {"name": "a&b", "bytes": 1,
                                                   "content_type": "Text/<X>",
                                                   "last_modified": "2024-01-01T00:00:00"}],
                            "", False)
        self.assertIn(b"<title>Listing of /v1/a/&lt;c&gt;/</title>", page)
        self.assertIn(b'<a href="./%3Cs%3E/">&lt;s&gt;/</a>', page)
        self.assertIn(b'<tr class="item type-text type-&lt;x&gt;">', page)
        self.assertIn(b'<a href="./a%26b">a&amp;b</a>', page)

    def test_disabledPage(self) -> None:
        self.assertEqual(
            listings_disabled_page("/v1/a/c/", None, ""),
            b"<!DOCTYPE html>\n<html>\n<head>\n<title>Listing of /v1/a/c/</title>\n"
            b'  <style type="text/css">\n   h1 {font-size: 1em; font-weight: bold;}\n'
            b"   p {font-size: 2}\n  </style>\n</head>\n<body>  <h1>Web Listing Disabled"
            b"</h1>   <p>The owner of this web site has disabled web listing.   <p>If you "
            b"are the owner of this web site, you can enable   web listing by setting "
            b"X-Container-Meta-Web-Listings.</p> </body>\n</html>\n")


class WebSettingTests(SynchronousTestCase):
    """
    L{web_setting}: a container's C{web-*} metadata, as read from its info.
    """

    def test_headerWhitespaceOnly(self) -> None:
        """
        Only a header value's whitespace is taken off: a UTF-8 name read as
        latin-1 may end in U+0085 (the last byte of U+3705), which Python
        counts as whitespace but is part of the name.
        """
        name = "index-" + "\u3705".encode().decode("latin-1")
        self.assertEqual(name[-1], "\x85")
        self.assertEqual(web_setting({"web-index": f" {name}\t"}, "web-index"), name)
        self.assertEqual(web_setting({}, "web-index"), "")
