# -*- test-case-name: tests.test_versioned_writes -*-
"""
The C{versioned_writes} plugin: Swift 2.38.3's legacy object versioning.

A container's owner names a versions container:

 - C{X-Versions-Location: <container>} (stack mode): a C{PUT} over an
   object first copies the current version into the versions container
   as C{<3 hex digits of the name's length><name>/<timestamp>}; a
   C{DELETE} removes the current version and restores the newest older
   one in its place.
 - C{X-History-Location: <container>} (history mode): a C{DELETE} also
   copies the current version, then leaves a delete marker (an empty
   object of type C{application/x-deleted;swift_versions_deleted=1}).

An empty value, or C{X-Remove-Versions-Location} /
C{X-Remove-History-Location}, turns versioning off. The location is kept
as container system metadata (C{X-Container-Sysmeta-Versions-Location},
C{-Versions-Mode}) as Swift keeps it, and shown back as the header that
set it.

C{allow_versioned_writes}: when true the feature is on (and in
C{/info}); when false, setting a location is a C{412}; when not given at
all, containers are left to the container servers, and objects are
versioned only for containers with a pre-sysmeta C{X-Versions-Location}
(as in Swift). The copies are made as the proxy (pre-authorized) after
the client's write access to the container has been checked; a versions
container that cannot be written is a C{412}, a failure to copy a
C{503}.

C{allow_object_versioning = true} stacks Swift's new-style versioning
(L{twisted_proxy.plugins.object_versioning}) under this filter, as Swift's
C{versioned_writes} stage does.
"""

from __future__ import annotations

import json
from typing import Any, Optional
from urllib.parse import quote, unquote_to_bytes

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.plugin import IPlugin
from twisted.web.iweb import UNKNOWN_LENGTH
from zope.interface import implementer

from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.cache import ContainerInfo, InfoCache
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.subrequest import (
    SourceBody,
    container_info_now,
    drop_body,
    fetch_container_info,
    read_body,
)
from twisted_proxy.plugins.object_versioning import ObjectVersioning
from twisted_proxy.swift.constraints import check_container_format, is_sys_meta
from twisted_proxy.swift.http import (
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    str_to_wsgi,
    wire_quote,
    wsgi_str,
)
from twisted_proxy.swift.paths import split_path
from twisted_proxy.swift.timestamp import Timestamp, parse_http_date
from twisted_proxy.swift.truthy import is_true

__all__ = ["VersionedWrites", "StackedFilters", "versionedWritesPlugin",
           "DELETE_MARKER_CONTENT_TYPE", "versions_prefix"]

DELETE_MARKER_CONTENT_TYPE = "application/x-deleted;swift_versions_deleted=1"
_VERSIONS = "X-Versions-Location"
_HISTORY = "X-History-Location"
_REMOVE = ("X-Remove-Versions-Location", "X-Remove-History-Location")
_SYSMETA_LOCATION = "X-Container-Sysmeta-Versions-Location"
_SYSMETA_MODE = "X-Container-Sysmeta-Versions-Mode"
_NOT_COPIED = frozenset({"x-timestamp", "transfer-encoding", "x-trans-id",
                         "x-openstack-request-id", "content-location"})


class _Refusal(Exception):
    def __init__(self, response: SwiftResponse) -> None:
        super().__init__(response.status)
        self.response = response


def versions_prefix(name: str) -> str:
    """
    The prefix of the versions of object C{name} (a WSGI string): its
    length in bytes as three hex digits, then the name and a slash.
    """
    return f"{len(name):03x}{name}/"


def _preauthorized(environ: dict[str, Any]) -> dict[str, Any]:
    """
    The environ of the plugin's own sub-requests: the request's info, no
    authorization, and sysmeta seen.
    """
    sub = dict(environ)
    sub.pop("swift.authorize", None)
    sub.pop("swift_owner", None)
    sub.pop("swift.proxy_access_log_made", None)
    sub["swift.source"] = "VW"
    sub["swift.sysmeta_ok"] = True
    return sub


@implementer(IProxyFilter)
class VersionedWrites:
    """
    Keeps the versions of objects in versioned containers.

    @param allow: C{allow_versioned_writes} as configured, or C{None}.
    @param info_cache: the proxy's container info.
    @param clock: for the delete markers' timestamps.
    @param max_file_size: the largest object that can be versioned.
    """

    def __init__(self, allow: Optional[str], info_cache: InfoCache, clock: IReactorTime,
                 max_file_size: int) -> None:
        self._allow = allow
        self._info_cache = info_cache
        self._clock = clock
        self._max_file_size = max_file_size

    def __call__(
        self, request: SwiftRequest, app: IProxyApplication
    ) -> "Deferred[SwiftResponse]":
        try:
            version, account, container, obj = split_path(request.path, 3, 4, True)
        except ValueError:
            return app(request)  # type: ignore[no-any-return]
        assert version and account and container
        if self._allow and not obj:
            return Deferred.fromCoroutine(self._guard(self._container(request, app)))
        if obj and request.method in ("PUT", "DELETE"):
            info = container_info_now(request, self._info_cache, account, container)
            if info is not None and self._location(info) is None:
                # Most writes: the container is known and keeps no versions.
                return app(request)  # type: ignore[no-any-return]
            return Deferred.fromCoroutine(self._guard(
                self._object(request, app, version, account, container, obj, info)))
        return app(request)  # type: ignore[no-any-return]

    async def _guard(self, work: Any) -> SwiftResponse:
        try:
            response: SwiftResponse = await work
        except _Refusal as refusal:
            return refusal.response
        return response

    # -- containers -------------------------------------------------------

    async def _container(self, request: SwiftRequest, app: IProxyApplication
                         ) -> SwiftResponse:
        headers = request.headers
        method = request.method
        if _VERSIONS in headers and _HISTORY in headers:
            if not headers[_HISTORY]:
                del headers[_HISTORY]
            elif headers[_VERSIONS]:
                raise _Refusal(error_response(
                    400, "Only one of x-versions-location or x-history-location may be "
                    "specified", method=method, content_type="text/plain"))
            else:
                del headers[_VERSIONS]
        if _VERSIONS in headers or _HISTORY in headers:
            if _VERSIONS in headers:
                value, mode = headers[_VERSIONS], "stack"
            else:
                value, mode = headers[_HISTORY], "history"
            if not value:
                headers["X-Remove-Versions-Location"] = "x"
            elif not is_true(self._allow) and method in ("PUT", "POST"):
                raise _Refusal(error_response(
                    412, "Versioned Writes is disabled", method=method,
                    content_type="text/plain"))
            else:
                refused = check_container_format(value, method)
                if refused is not None:
                    raise _Refusal(refused)
                headers[_SYSMETA_LOCATION] = value
                headers[_SYSMETA_MODE] = mode
                headers[_VERSIONS] = ""
                headers.pop(_HISTORY, None)
                for name in _REMOVE:
                    headers.pop(name, None)
        if any(headers.get(name) for name in _REMOVE):
            headers[_VERSIONS] = ""
            headers[_SYSMETA_LOCATION] = ""
            headers[_SYSMETA_MODE] = ""
        for name in _REMOVE:
            headers.pop(name, None)
        headers.pop(_HISTORY, None)

        environ = request.environ
        sysmeta_ok = bool(environ.get("swift.sysmeta_ok"))
        environ["swift.sysmeta_ok"] = True
        try:
            response: SwiftResponse = await app(request)
        finally:
            if not sysmeta_ok:
                environ.pop("swift.sysmeta_ok", None)
        found = response.headers
        location = found.get(_SYSMETA_LOCATION)
        if location:
            stored_mode = found.get(_SYSMETA_MODE)
            found[_HISTORY if stored_mode == "history" else _VERSIONS] = location
        if not sysmeta_ok:
            for name in [n for n in found if is_sys_meta("container", n)]:
                del found[name]
        return response

    # -- objects ----------------------------------------------------------

    def _location(self, info: ContainerInfo) -> Optional[tuple[str, str]]:
        """
        Where the container whose info is C{info} keeps versions, and
        how (C{stack} or C{history}); C{None} when writes to it keep
        none.
        """
        sysmeta = info.get("sysmeta") or {}
        location = sysmeta.get("versions-location")
        mode = sysmeta.get("versions-mode") or "stack"
        enabled = is_true(self._allow)
        if not location:
            location = info.get("versions")
            if not self._allow and location:
                enabled = True
        if not (enabled and location):
            return None
        return location, mode

    async def _object(self, request: SwiftRequest, app: IProxyApplication, version: str,
                      account: str, container: str, obj: str,
                      info: Optional[ContainerInfo] = None) -> SwiftResponse:
        """
        An object PUT or DELETE, versioned when its container keeps
        versions; C{info} is the container's, when it is known already.
        """
        if info is None:
            info = await fetch_container_info(request, app, self._info_cache, version,
                                              account, container, _preauthorized)
        found = self._location(info)
        if found is None:
            return await app(request)  # type: ignore[no-any-return]
        location, mode = found
        # Kept as the client sent it (a WSGI string), which may be
        # percent-quoted.
        try:
            raw = location.encode("latin-1")
        except UnicodeEncodeError:
            raw = location.encode("utf-8")
        versions = wsgi_str(unquote_to_bytes(raw)).split("/")[0]
        versioning = _Versioning(self, request, app, version, account, container, obj,
                                 versions, info)
        if request.method == "PUT":
            await versioning.copy_current()
            return await app(request)  # type: ignore[no-any-return]
        if mode == "history":
            return await versioning.delete_push()
        return await versioning.delete_pop()


class _Versioning:
    """
    One versioned write: the object's path, its versions container, and
    the sub-requests that keep or restore its versions.
    """

    def __init__(self, plugin: VersionedWrites, request: SwiftRequest,
                 app: IProxyApplication, version: str, account: str, container: str,
                 obj: str, versions: str, info: Any) -> None:
        self.plugin = plugin
        self.request = request
        self.app = app
        self.version = version
        self.account = account
        self.container = container
        self.obj = obj
        self.versions = versions
        self.info = info
        self.authorized = False

    def _sub(self, method: str, path: str, headers: Optional[HeaderDict] = None,
             query: str = "") -> SwiftRequest:
        uri = wire_quote(path) + ("?" + query if query else "")
        sub_headers = headers if headers is not None else HeaderDict()
        for name in ("User-Agent", "X-Auth-Token"):
            if name in self.request.headers and name not in sub_headers:
                sub_headers[name] = self.request.headers[name]
        return SwiftRequest(method, uri.encode("ascii"), sub_headers,
                            client_ip=self.request.client_ip,
                            environ=_preauthorized(self.request.environ))

    def _version_path(self, name: str) -> str:
        return f"/{self.version}/{self.account}/{self.versions}/{name}"

    def authorize(self) -> None:
        """
        The client must be able to write to the container before anything
        is copied.

        @raise _Refusal: with the auth plugin's refusal.
        """
        if self.authorized:
            return
        authorize = self.request.environ.get("swift.authorize")
        if authorize is not None:
            self.request.acl = self.info.get("write_acl")  # type: ignore[attr-defined]
            denied = authorize(self.request)
            if denied is not None:
                raise _Refusal(denied)
        self.authorized = True

    @staticmethod
    def check(response: SwiftResponse, method: str) -> None:
        """
        @raise _Refusal: 412 for a client error (no versions container, no
            access), 503 for anything else that failed.
        """
        if response.is_success:
            return
        drop_body(response.body)
        if 400 <= response.status < 500:
            raise _Refusal(error_response(412, method=method))
        raise _Refusal(error_response(503, method=method))

    async def get_source(self, path: str) -> SwiftResponse:
        response: SwiftResponse = await self.app(self._sub(
            "GET", path, HeaderDict({"X-Newest": "True"}), "symlink=get"))
        length = response.headers.get("Content-Length")
        body_length = response.body.length if not isinstance(response.body, bytes) else None
        if length is None and isinstance(response.body, bytes):
            length = str(len(response.body))
        if length is None and body_length not in (None, UNKNOWN_LENGTH):
            length = str(body_length)
        if length is None or int(length) > self.plugin._max_file_size:
            drop_body(response.body)
            raise _Refusal(error_response(413, method=self.request.method))
        return response

    async def put_version(self, path: str, source: SwiftResponse) -> SwiftResponse:
        headers = HeaderDict()
        for name, value in source.headers.items():
            if name.lower() not in _NOT_COPIED:
                headers[name] = value
        put = self._sub("PUT", path, headers)
        slo_size = headers.get("X-Object-Sysmeta-Slo-Size")
        if slo_size:
            headers["Content-Type"] = headers.get("Content-Type", "") + "; swift_bytes=" + slo_size
            put.environ["swift.content_type_overridden"] = True
        length = int(headers.get("Content-Length") or 0)
        headers["Content-Length"] = str(length)
        body = SourceBody(source.body, length)
        put.body = body
        try:
            response: SwiftResponse = await self.app(put)
        finally:
            body.drop()
        return response

    async def copy_current(self) -> None:
        """
        Copy the object's current version, if any, into the versions
        container.
        """
        method = self.request.method
        self.authorize()
        source = await self.get_source(self.request.path)
        if source.status == 404:
            drop_body(source.body)
            return
        self.check(source, method)
        stamp = source.headers.get("X-Timestamp")
        if stamp is None:
            stamp = str(parse_http_date(source.headers.get("Last-Modified")))
        name = versions_prefix(self.obj) + Timestamp(stamp).internal
        put = await self.put_version(self._version_path(name), source)
        self.check(put, method)
        drop_body(put.body)

    async def delete_push(self) -> SwiftResponse:
        """
        History mode: keep the current version and a delete marker, then
        delete.
        """
        await self.copy_current()
        marker = versions_prefix(self.obj) + Timestamp.now(self.plugin._clock).internal
        put = self._sub("PUT", self._version_path(marker), HeaderDict({
            "Content-Type": DELETE_MARKER_CONTENT_TYPE, "Content-Length": "0"}))
        put.environ["swift.content_type_overridden"] = True
        response: SwiftResponse = await self.app(put)
        self.check(response, self.request.method)
        drop_body(response.body)
        return await self.app(self.request)  # type: ignore[no-any-return]

    async def listing(self) -> list[dict[str, Any]]:
        """
        The versions of the object, newest first.
        """
        items: list[dict[str, Any]] = []
        marker = ""
        prefix = versions_prefix(self.obj)
        while True:
            query = (f"format=json&prefix={quote(prefix.encode('latin-1'))}"
                     f"&marker={quote(marker.encode('latin-1'))}&reverse=on")
            response: SwiftResponse = await self.app(self._sub(
                "GET", f"/{self.version}/{self.account}/{self.versions}", query=query))
            if response.status == 404:
                drop_body(response.body)
                return items
            if not response.is_success:
                drop_body(response.body)
                if 400 <= response.status < 500:
                    raise _Refusal(error_response(412, method=self.request.method))
                raise _Refusal(error_response(500, method=self.request.method))
            page = json.loads(await read_body(response.body) or b"[]")
            if not page:
                return items
            items.extend(page)
            marker = str_to_wsgi(page[-1]["name"])

    async def restore(self, name: str) -> Optional[str]:
        """
        Put the version C{name} back as the object.

        @return: the version's path, or C{None} when it is gone.
        """
        path = self._version_path(name)
        source = await self.get_source(path)
        if source.status == 404:
            drop_body(source.body)
            return None
        self.check(source, self.request.method)
        put = await self.put_version(
            f"/{self.version}/{self.account}/{self.container}/{self.obj}", source)
        self.check(put, self.request.method)
        drop_body(put.body)
        return path

    async def delete_pop(self) -> SwiftResponse:
        """
        Stack mode: delete the current version and restore the previous
        one in its place.
        """
        request = self.request
        items = iter(await self.listing())
        for previous in items:
            self.authorize()
            if previous.get("content_type") == DELETE_MARKER_CONTENT_TYPE:
                head: SwiftResponse = await self.app(self._sub(
                    "HEAD", request.path, HeaderDict({"X-Newest": "True"})))
                drop_body(head.body)
                if head.status != 404:
                    self.check(head, request.method)
                    break
                for candidate in items:
                    if candidate.get("content_type") == DELETE_MARKER_CONTENT_TYPE:
                        break
                    restored = await self.restore(str_to_wsgi(candidate["name"]))
                    if not restored:
                        continue
                    gone: SwiftResponse = await self.app(self._sub("DELETE", restored))
                    drop_body(gone.body)
                    if gone.status != 404:
                        self.check(gone, request.method)
                    break
                request = self._sub(
                    "DELETE", self._version_path(str_to_wsgi(previous["name"])))
            else:
                restored = await self.restore(str_to_wsgi(previous["name"]))
                if not restored:
                    continue
                request = self._sub("DELETE", restored)
            request.headers.pop("X-If-Delete-At", None)
            break
        return await self.app(request)  # type: ignore[no-any-return]


@implementer(IProxyApplication)
class _Then:
    """
    The rest of the pipeline as the outer of two stacked filters sees it:
    the inner filter, then C{app}.
    """

    def __init__(self, inner: IProxyFilter, app: IProxyApplication) -> None:
        self._inner = inner
        self._app = app

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        return self._inner(request, self._app)  # type: ignore[no-any-return]


@implementer(IProxyFilter)
class StackedFilters:
    """
    Two filters as one pipeline stage, C{outer} first (Swift's
    C{versioned_writes} stage is legacy versioning over object
    versioning).
    """

    def __init__(self, outer: IProxyFilter, inner: IProxyFilter) -> None:
        self.outer = outer
        self.inner = inner

    def __call__(
        self, request: SwiftRequest, app: IProxyApplication
    ) -> "Deferred[SwiftResponse]":
        return self.outer(request, _Then(self.inner, app))  # type: ignore[no-any-return]


@implementer(IPlugin, IProxyPluginFactory)
class _VersionedWritesFactory:
    name = "versioned_writes"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> IProxyFilter:
        """
        @param conf: C{allow_versioned_writes} (see the module docstring)
            and C{allow_object_versioning}: when true, object versioning
            (L{twisted_proxy.plugins.object_versioning}) runs under legacy
            versioning, and C{/info} has C{object_versioning}. It needs the
            C{symlink} plugin after this one in the pipeline.
        @param context: provides C{info_cache}, C{reactor}, C{constraints},
            C{swift_conf} and C{register_info}.
        """
        allow = conf.get("allow_versioned_writes")
        if is_true(allow):
            context.register_info("versioned_writes",
                                  allowed_flags=["x-versions-location", "x-history-location"])
        legacy = VersionedWrites(allow, context.info_cache, context.reactor,
                                 context.constraints.max_file_size)
        if not is_true(conf.get("allow_object_versioning")):
            return legacy
        context.register_info("object_versioning")
        return StackedFilters(legacy, ObjectVersioning(
            context.info_cache, context.swift_conf, context.reactor,
            context.constraints.max_file_size))


versionedWritesPlugin = _VersionedWritesFactory()
