# -*- test-case-name: tests.test_staticweb -*-
"""
The code of the C{staticweb} plugin: see
L{twisted_proxy.plugins.staticweb}, which declares it and imports this
module only when a pipeline runs it.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional
from urllib.parse import quote, urlparse

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import implementer

from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.cache import ContainerInfo, InfoCache
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.subrequest import (
    drop_body,
    fetch_account_info,
    fetch_container_info,
    preauthorized,
    read_body,
    sub_environ,
)
from twisted_proxy.plugins.tempurl import TEMPURL_USER
from twisted_proxy.swift.acl import ACCOUNT_ACL_ENVIRON_KEY
from twisted_proxy.swift.http import (
    HTML,
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    wire_quote,
    wsgi_to_bytes,
    wsgi_to_str,
)
from twisted_proxy.swift.listing import parse_listing
from twisted_proxy.swift.paths import split_path
from twisted_proxy.swift.truthy import is_true
from twisted_proxy.swift.weblisting import (
    DEFAULT_DIRECTORY_TYPE,
    listing_label,
    listing_page,
    listings_disabled_page,
    stylesheet_href,
)

__all__ = ["StaticWeb", "staticwebPlugin", "CONTENT_GENERATOR", "SOURCE", "web_setting"]

_log = Logger()

#: The C{swift.source} of the plugin's own requests.
SOURCE = "SW"

#: The C{X-Backend-Content-Generator} of a listing page, which tells the
#: tempurl plugin to serve it inline.
CONTENT_GENERATOR = "staticweb"

#: The request headers Swift's fresh sub-requests (C{make_env}) keep.
_KEPT_HEADERS = ("User-Agent", "Host", "Origin", "Access-Control-Request-Method",
                 "X-User-Id", "X-Project-Id", "Referer")

_INFO_ENVIRON = preauthorized(SOURCE)


def _is_success(status: int) -> bool:
    return 200 <= status < 300


def _is_success_or_redirect(status: int) -> bool:
    return 200 <= status < 400


#: What surrounds a setting that is not part of it: the whitespace of HTTP
#: header values. Not Python's whitespace: a value is UTF-8 read as
#: latin-1, where the last byte of a character such as U+3705 is U+0085.
_HEADER_WHITESPACE = " \t\r\n"


def web_setting(meta: Mapping[str, str], name: str) -> str:
    """
    The container metadata C{name} (a C{web-*} setting), without the
    whitespace around it; C{""} when it is not set.
    """
    return meta.get(name, "").strip(_HEADER_WHITESPACE)


def _web_mode(request: SwiftRequest) -> bool:
    return is_true(request.headers.get("X-Web-Mode", "f"))


@implementer(IProxyFilter)
class StaticWeb:
    """
    Serves containers as web sites (see the module docstring).

    @param info_cache: the proxy's account and container info.
    @param url_scheme: the scheme redirects name, C{""} for the request's.
    @param url_host: the host (and port) redirects name, C{""} for the
        request's C{Host}.
    """

    def __init__(self, info_cache: InfoCache, url_scheme: str = "",
                 url_host: str = "") -> None:
        self.info_cache = info_cache
        self.url_scheme = url_scheme
        self.url_host = url_host

    def __call__(self, request: SwiftRequest, app: IProxyApplication
                 ) -> "Deferred[SwiftResponse]":
        environ = request.environ
        if "swift.authorize" not in environ:
            _log.warn("No authentication middleware authorized request yet. "
                      "Skipping staticweb")
            return app(request)  # type: ignore[no-any-return]
        try:
            version, account, container, obj = split_path(request.path, 2, 4, True)
        except ValueError:
            return app(request)  # type: ignore[no-any-return]
        if request.method not in ("HEAD", "GET"):
            return app(request)  # type: ignore[no-any-return]
        user = environ.get("REMOTE_USER")
        if user and user != TEMPURL_USER and not _web_mode(request):
            return app(request)  # type: ignore[no-any-return]
        if not container:
            return app(request)  # type: ignore[no-any-return]
        assert version is not None and account is not None
        site = _Site(self, request, app, version, account, container, obj or "")
        if obj:
            return Deferred.fromCoroutine(site.handle_object())
        return Deferred.fromCoroutine(site.handle_container())


class _Site:
    """
    One request for a container's web site: the container's web settings
    (WSGI strings, C{""} when unset), as last read, and the sub-requests
    that answer it.
    """

    def __init__(self, web: StaticWeb, request: SwiftRequest, app: IProxyApplication,
                 version: str, account: str, container: str, obj: str) -> None:
        self.web = web
        self.request = request
        self.app = app
        self.version = version
        self.account = account
        self.container = container
        self.obj = obj
        self.index = self.error = self.listings = ""
        self.label = self.css = self.dir_type = ""

    @property
    def container_path(self) -> str:
        return f"/{self.version}/{self.account}/{self.container}"

    async def _container_info(self) -> ContainerInfo:
        """
        The container's info; its web settings are kept when it exists.
        """
        info = await fetch_container_info(
            self.request, self.app, self.web.info_cache, self.version, self.account,
            self.container, _INFO_ENVIRON)
        self.index = self.error = self.listings = ""
        self.label = self.css = self.dir_type = ""
        if _is_success(info["status"]):
            meta = info.get("meta") or {}
            self.index = web_setting(meta, "web-index")
            self.error = web_setting(meta, "web-error")
            self.listings = web_setting(meta, "web-listings")
            self.label = web_setting(meta, "web-listings-label")
            self.css = web_setting(meta, "web-listings-css")
            self.dir_type = web_setting(meta, "web-directory-type")
        return info

    # Sub-requests

    def _user_agent(self) -> str:
        return f"{self.request.headers.get('User-Agent', '')} StaticWeb".strip()

    def _as_client(self, path: Optional[str] = None) -> SwiftRequest:
        """
        The client's request itself (method, headers, query), for C{path}.
        """
        sub = self.request.copy_for(path=path)
        sub.environ = sub_environ(self.request.environ, SOURCE)
        # Swift's own, "None StaticWeb" when the client sent none.
        sub.headers["User-Agent"] = f"{self.request.headers.get('User-Agent')} StaticWeb"
        return sub

    def _fresh(self, path: str, query: Optional[str] = None) -> SwiftRequest:
        """
        A C{GET} of C{path} made as the client, with only the headers
        Swift's fresh sub-requests keep, and C{query} (by default the
        client's).
        """
        headers = HeaderDict()
        for name in _KEPT_HEADERS:
            if name in self.request.headers:
                headers[name] = self.request.headers[name]
        headers["User-Agent"] = self._user_agent()
        if query is None:
            query = self.request.query_string
        uri = wire_quote(path) + (f"?{query}" if query else "")
        return SwiftRequest("GET", uri.encode("ascii"), headers,
                            client_ip=self.request.client_ip,
                            environ=sub_environ(self.request.environ, SOURCE))

    # Answers

    async def _error_response(self, response: SwiftResponse) -> SwiftResponse:
        """
        C{response}, or, when the container names an error page and the
        page C{<status><web-error>} exists, that page under C{response}'s
        status.
        """
        if not self.error:
            return response
        page = await self.app(self._fresh(
            f"{self.container_path}/{response.status}{self.error}"))
        if not _is_success(page.status):
            drop_body(page.body)
            return response
        drop_body(response.body)
        body = page.body
        if self.request.method == "HEAD":
            drop_body(body)
            body = b""
        return SwiftResponse(response.status, page.headers, body, response.reason)

    def _html(self, status: int, body: bytes,
              headers: Optional[dict[str, str]] = None) -> SwiftResponse:
        all_headers = HeaderDict({"Content-Type": HTML, "Content-Length": str(len(body))})
        for name, value in (headers or {}).items():
            all_headers[name] = value
        if self.request.method == "HEAD":
            body = b""
        return SwiftResponse(status, all_headers, body)

    def _plain_error(self, status: int, headers: Optional[dict[str, str]] = None
                     ) -> SwiftResponse:
        """
        C{status} with Swift's default page; to a C{HEAD}, as Swift's
        default pages, with a C{Content-Length} of 0.
        """
        response = error_response(status, headers=headers, method=self.request.method)
        if self.request.method == "HEAD":
            response.headers["Content-Length"] = "0"
        return response

    def _host_url(self) -> str:
        """
        The scheme and host a redirect names (Swift's C{host_url}).
        """
        environ = self.request.environ
        scheme = self.web.url_scheme or environ.get("wsgi.url_scheme", "http")
        if self.web.url_host:
            host = self.web.url_host
        elif "Host" in self.request.headers:
            host = self.request.headers["Host"]
        else:
            host = f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
        default_port = {"http": ":80", "https": ":443"}.get(scheme)
        if default_port and host.endswith(default_port):
            host = host[:-len(default_port)]
        return f"{scheme}://{host}"

    def _redirect_with_slash(self) -> SwiftResponse:
        location = self._host_url() + wire_quote(self.request.path + "/")
        return self._plain_error(301, {"Location": location})

    async def _listing(self, prefix: str = "") -> SwiftResponse:
        """
        The web page listing the container or the pseudo-directory
        C{prefix} (a WSGI string ending in C{/}), or the page saying
        listings are off.
        """
        method = self.request.method
        label = listing_label(wsgi_to_str(self.request.path), wsgi_to_str(self.label))
        css = wsgi_to_str(self.css)
        if not is_true(self.listings):
            body = listings_disabled_page(
                label, stylesheet_href(css, wsgi_to_str(prefix)) if css else None,
                wsgi_to_str(self.index))
            return await self._error_response(
                error_response(404, body, method=method, content_type=HTML))
        query = "delimiter=/&format=json"
        if prefix:
            query += "&prefix=" + wire_quote(prefix)
        response = await self.app(self._fresh(self.container_path, query))
        if not response.is_success:
            return await self._error_response(response)
        items = parse_listing(await read_body(response.body)) or []
        if prefix and not items:
            return await self._error_response(self._plain_error(404))
        link_query, floor = self._tempurl_links()
        text_prefix = wsgi_to_str(prefix)
        body = listing_page(label, stylesheet_href(css, text_prefix) if css else None,
                            items, text_prefix, len(text_prefix) > len(floor), link_query)
        return self._html(200, body, {"X-Backend-Content-Generator": CONTENT_GENERATOR})

    def _tempurl_links(self) -> tuple[str, str]:
        """
        For a request a temp URL admitted: the query its listing's links
        carry (the URL's own parameters) and the URL's prefix, text (no
        listing above it links to its parent). Else C{("", "")}.
        """
        if self.request.environ.get("REMOTE_USER") != TEMPURL_USER:
            return "", ""
        params: dict[str, str] = {}
        for name, value in self.request.query:
            params.setdefault(name, value)
        prefix = params.get("temp_url_prefix")
        if prefix is None:
            return "", ""
        parts = [f"temp_url_prefix={quote(wsgi_to_bytes(prefix))}",
                 f"temp_url_expires={quote(wsgi_to_bytes(params.get('temp_url_expires', '')))}",
                 f"temp_url_sig={wsgi_to_str(params.get('temp_url_sig', ''))}"]
        ip_range = params.get("temp_url_ip_range")
        if ip_range:
            parts.append(f"temp_url_ip_range={quote(wsgi_to_bytes(ip_range))}")
        if "inline" in params:
            parts.append("inline")
        return "?" + "&amp;".join(parts), wsgi_to_str(prefix)

    async def _authorize(self, info: ContainerInfo) -> Optional[SwiftResponse]:
        """
        The auth plugin's verdict on listing the container (its read ACL).
        """
        request = self.request
        environ = request.environ
        if environ.get("REMOTE_USER"):
            # Account ACLs may grant the user access: the auth plugin
            # judges them from the account's info, as the application
            # gives it.
            account_info = await fetch_account_info(
                request, self.app, self.web.info_cache, self.version, self.account,
                _INFO_ENVIRON)
            environ[ACCOUNT_ACL_ENVIRON_KEY] = (
                account_info.get("sysmeta") or {}).get("core-access-control")
        request.acl = info.get("read_acl")  # type: ignore[attr-defined]
        return environ["swift.authorize"](request)  # type: ignore[no-any-return]

    async def handle_container(self) -> SwiftResponse:
        """
        A C{GET} or C{HEAD} of the container: its index, its listing, or a
        redirect to the path with a slash.
        """
        info = await self._container_info()
        denied = await self._authorize(info)
        if denied is not None:
            return await self._error_response(denied)
        if not self.listings and not self.index:
            if _web_mode(self.request):
                return self._plain_error(404)
            return await self.app(self.request)  # type: ignore[no-any-return]
        if not self.request.path.endswith("/"):
            return self._redirect_with_slash()
        if not self.index:
            return await self._listing()
        response: SwiftResponse = await self.app(
            self._as_client(self.request.path + self.index))
        if response.status == 404:
            drop_body(response.body)
            return await self._listing()
        if not _is_success_or_redirect(response.status):
            return await self._error_response(response)
        return response

    async def handle_object(self) -> SwiftResponse:
        """
        A C{GET} or C{HEAD} of an object: the object, or, when it is
        missing or a directory marker, the pseudo-directory's index or
        listing, or a redirect to the path with a slash.
        """
        path = self.request.path
        response: SwiftResponse = await self.app(self._as_client())
        status = response.status
        await self._container_info()
        if _is_success_or_redirect(status):
            if not self._is_directory_marker(response):
                return response
            status = 404
        if status != 404:
            # As in Swift, only the container's own pages get error pages.
            self.error = ""
            return await self._error_response(response)
        if not self.listings and not self.index:
            return response
        drop_body(response.body)
        if self.index:
            index_path = (path if path.endswith("/") else path + "/") + self.index
            response = await self.app(self._as_client(index_path))
            if _is_success_or_redirect(response.status):
                if not path.endswith("/"):
                    drop_body(response.body)
                    return self._redirect_with_slash()
                return response
            if response.status != 404:
                return await self._error_response(response)
            drop_body(response.body)
        if path.endswith("/"):
            return await self._listing(self.obj)
        if await self._is_pseudo_directory():
            return self._redirect_with_slash()
        return await self._error_response(self._plain_error(404))

    def _is_directory_marker(self, response: SwiftResponse) -> bool:
        try:
            length = int(response.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        content_type = response.headers.get("Content-Type")
        return content_type == (self.dir_type or DEFAULT_DIRECTORY_TYPE) and length <= 1

    async def _is_pseudo_directory(self) -> bool:
        """
        Whether any object's name begins with the requested one and C{/}.
        """
        query = "limit=1&delimiter=/&format=json&prefix=" + wire_quote(self.obj + "/")
        response = await self.app(self._fresh(self.container_path, query))
        if not response.is_success:
            drop_body(response.body)
            return False
        return bool(parse_listing(await read_body(response.body)))


@implementer(IPlugin, IProxyPluginFactory)
class _StaticWebFactory:
    name = "staticweb"

    def make_filter(self, conf: dict[str, Any], context: ProxyContext) -> StaticWeb:
        """
        @param conf: C{url_base}.
        """
        url_base = conf.get("url_base") or ""
        parsed = urlparse(url_base)
        context.register_info("staticweb")
        return StaticWeb(context.info_cache, parsed.scheme, parsed.netloc)


staticwebPlugin = _StaticWebFactory()
