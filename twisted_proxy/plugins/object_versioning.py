# -*- test-case-name: tests.test_object_versioning -*-
"""
Object versioning, Swift 2.38.3's new-style versioning: the filter the
C{versioned_writes} plugin stacks under itself when
C{allow_object_versioning} is true.

 - C{X-Versions-Enabled: true} on a container C{PUT}/C{POST} creates the
   hidden versions container C{\\x00versions\\x00<container>} (in the
   container's policy) and keeps its name and the flag as container
   system metadata (C{X-Container-Sysmeta-Versions-Container},
   C{-Versions-Enabled}); C{false} suspends versioning. Containers using
   the legacy C{X-Versions-Location}/C{X-History-Location}, or syncing,
   are refused (400).
 - An object C{PUT} to an enabled container writes the data into the
   versions container as C{\\x00<object>\\x00<inverted timestamp>} and a
   static symlink to it in the container (the latest pointer; an object
   written before versioning was enabled is first copied aside). The
   version id is the write's timestamp (C{X-Object-Version-Id}).
 - A C{DELETE} writes a delete marker version and removes the pointer.
 - C{?version-id=<id>} reads (C{GET}/C{HEAD}), deletes or restores
   (C{PUT} with an empty body) one version; C{null} is the unversioned
   object; C{POST} with a version id is a 400.
 - C{GET <container>?versions} lists every version (JSON only; 406 for
   another format) with C{version_id} and C{is_latest}, paged with
   C{marker} and C{version_marker}.
 - Container and account listings and C{X-Container-Bytes-Used} count the
   versions' bytes; a versioned container can be deleted only when its
   versions are gone.

Names, sysmeta and bodies are stored exactly as Swift stores them, so
that swift-proxy-server reads versions written here and the reverse. The
latest pointer is a symlink: the C{symlink} plugin must be in the
pipeline after C{versioned_writes}.
"""

from __future__ import annotations

import json
import mimetypes
from typing import Any, Optional, cast
from urllib.parse import quote, unquote_to_bytes

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IConsumer, IReactorTime
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from twisted_proxy.info.cache import INFO_ENVIRON_KEY, ContainerInfo, InfoCache, container_key
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter
from twisted_proxy.plugins._support.subrequest import (
    BodyTooLarge,
    SourceBody,
    drop_body,
    fetch_container_info,
    read_body,
)
from twisted_proxy.swift.constraints import is_sys_meta
from twisted_proxy.swift.http import (
    HTML,
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    str_to_wsgi,
    wire_quote,
    wsgi_str,
    wsgi_to_str,
)
from twisted_proxy.swift.listing import (
    LISTING_REWRITES_ENVIRON_KEY,
    RAW_UNCHANGED_ATTRIBUTE,
    best_accept_match,
    listing_format,
    render_account_listing,
)
from twisted_proxy.swift.paths import split_path
from twisted_proxy.swift.swiftconf import SwiftConf
from twisted_proxy.swift.timestamp import Timestamp, parse_http_date
from twisted_proxy.swift.truthy import is_true

__all__ = [
    "ObjectVersioning",
    "DELETE_MARKER_CONTENT_TYPE",
    "RESERVED",
    "reserved_name",
    "split_reserved_name",
    "versions_container_name",
    "version_object_name",
    "parse_version_object_name",
    "rewrite_listing_item",
    "listing_unchanged",
]

DELETE_MARKER_CONTENT_TYPE = "application/x-deleted;swift_versions_deleted=1"
#: Swift's reserved byte: names holding it are hidden from clients.
RESERVED = "\x00"

CLIENT_ENABLED = "X-Versions-Enabled"
SYSMETA_ENABLED = "X-Container-Sysmeta-Versions-Enabled"
SYSMETA_CONTAINER = "X-Container-Sysmeta-Versions-Container"
SYSMETA_SYMLINK = "X-Object-Sysmeta-Versions-Symlink"
_ALLOW_RESERVED = "X-Backend-Allow-Reserved-Names"
_NO_CONTAINER = ("The versions container does not exist. You may want to re-enable "
                 "object versioning.")
_CONTAINER_LISTING_LIMIT = 10000
_ACCOUNT_LISTING_LIMIT = 10000
_NOT_ON_LINK = ("Etag", "X-If-Delete-At", "X-Symlink-Target-Account", "X-Object-Manifest",
                "X-Static-Large-Object", "X-Object-Sysmeta-Slo-Etag",
                "X-Object-Sysmeta-Slo-Size", "Transfer-Encoding")


class _Refusal(Exception):
    def __init__(self, response: SwiftResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _refuse(status: int, body: Optional[str] = None, method: str = "GET",
            content_type: Optional[str] = None,
            headers: Optional[dict[str, str]] = None) -> _Refusal:
    return _Refusal(error_response(status, body, headers=headers, method=method,
                                   content_type=content_type or (HTML if body else None)))


# -- names ------------------------------------------------------------------


def reserved_name(*parts: str) -> str:
    """
    A name in Swift's reserved namespace: each part after a NUL.

    @raise ValueError: when a part holds the reserved byte itself.
    """
    if any(RESERVED in part for part in parts):
        raise ValueError("reserved name parts cannot hold the reserved byte")
    return RESERVED + RESERVED.join(parts)


def split_reserved_name(name: str) -> list[str]:
    """
    The parts of a reserved name.

    @raise ValueError: when C{name} is not in the reserved namespace.
    """
    if not name.startswith(RESERVED):
        raise ValueError("not a reserved name")
    return name[1:].split(RESERVED)


def versions_container_name(container: str) -> str:
    """
    The hidden container keeping the versions of C{container}'s objects.
    """
    return reserved_name("versions", container)


def version_object_name(obj: str, version_id: str) -> str:
    """
    The name of version C{version_id} of C{obj}: its timestamp inverted,
    so that the newest version sorts first.

    @raise ValueError: for a version id that is no timestamp.
    """
    return reserved_name(obj, Timestamp(version_id).inverted().internal)


def parse_version_object_name(name: str) -> tuple[str, Optional[str]]:
    """
    The object and version id a version's name stands for, or C{(name,
    None)} when it is no version's name.
    """
    try:
        obj, inverted = split_reserved_name(name)
        return obj, Timestamp(inverted).inverted().internal
    except ValueError:
        return name, None


def _unquote_wsgi(value: str) -> str:
    """
    A percent-quoted WSGI string unquoted (the bytes stay a WSGI string).
    """
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        raw = value.encode("utf-8")
    return wsgi_str(unquote_to_bytes(raw))


def _parse_params(value: str) -> tuple[str, list[tuple[str, str]]]:
    first, *rest = value.split(";")
    params = []
    for piece in rest:
        key, sep, val = piece.strip().partition("=")
        if sep:
            params.append((key.strip().lower(), val.strip()))
    return first.strip(), params


def rewrite_listing_item(item: dict[str, Any], location: str, container: str,
                         versions: bool) -> dict[str, Any]:
    """
    A JSON listing entry of a versioned container: a latest pointer (a
    static symlink into C{location}, the versions container) shows its
    version's size and etag and is marked C{version_symlink}; unless the
    listing is C{?versions}, its C{symlink_path} names the version as
    C{<container>/<object>?version-id=<id>}.
    """
    if not all(key in item for key in ("symlink_path", "symlink_etag", "symlink_bytes")):
        return item
    path = _unquote_wsgi(str_to_wsgi(str(item["symlink_path"])))
    try:
        _, target_account, target_container, target_obj = split_path(path, 4, 4, True)
    except ValueError:
        return item
    if target_container != location:
        return item
    _, params = _parse_params(str(item.get("hash", "")))
    item["bytes"] = int(item.pop("symlink_bytes"))
    item["version_symlink"] = True
    item["hash"] = str(item.pop("symlink_etag")) + "".join(
        f"; {key}={value}" for key, value in params)
    name, version_id = parse_version_object_name(str(target_obj))
    if version_id is not None and not versions:
        item["symlink_path"] = wsgi_to_str(
            wire_quote(f"/v1/{target_account}/{container}/{name}")) + (
            f"?version-id={version_id}")
    return item


def listing_unchanged(body: bytes) -> bool:
    """
    Whether L{rewrite_listing_item} leaves every entry of a container
    server's JSON listing C{body} unchanged: true when no entry can have a
    C{symlink_path} (such a key is spelled out, or written with an escape);
    false when unsure.
    """
    return b"\\" not in body and b"symlink_path" not in body


def _internal_environ(environ: dict[str, Any]) -> dict[str, Any]:
    """
    The environ of the plugin's own (pre-authorized) sub-requests.
    """
    sub = dict(environ)
    sub.pop("swift.authorize", None)
    sub.pop("swift_owner", None)
    sub.pop("swift.proxy_access_log_made", None)
    sub["swift.source"] = "OV"
    sub["swift.sysmeta_ok"] = True
    return sub


def _sub(request: SwiftRequest, method: str, path: str,
         headers: Optional[dict[str, str]] = None, query: str = "") -> SwiftRequest:
    """
    A pre-authorized sub-request of the plugin, allowed reserved names.
    """
    sub_headers = HeaderDict(headers or {})
    sub_headers[_ALLOW_RESERVED] = "true"
    for name in ("User-Agent", "X-Auth-Token"):
        if name in request.headers and name not in sub_headers:
            sub_headers[name] = request.headers[name]
    uri = wire_quote(path) + ("?" + query if query else "")
    return SwiftRequest(method, uri.encode("ascii"), sub_headers, client_ip=request.client_ip,
                        environ=_internal_environ(request.environ))


def _query(params: dict[str, str]) -> str:
    return "&".join(f"{quote(k.encode('latin-1'))}={quote(v.encode('latin-1'), safe='')}"
                    for k, v in params.items())


def _check(response: SwiftResponse, method: str) -> None:
    """
    @raise _Refusal: for a failed sub-request: 412 for a 404, the answer
        itself for another client error, 503 for anything else.
    """
    if response.is_success:
        return
    if 400 <= response.status < 500:
        if response.status == 404:
            drop_body(response.body)
            raise _refuse(412, method=method)
        raise _Refusal(response)
    drop_body(response.body)
    raise _refuse(503, method=method)


@implementer(IConsumer)
class _CountingConsumer:
    def __init__(self, consumer: IConsumer, body: "_CountingBody") -> None:
        self._consumer = consumer
        self._body = body

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self._consumer.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self._consumer.unregisterProducer()

    def write(self, data: bytes) -> None:
        self._body.count += len(data)
        self._consumer.write(data)


@implementer(IBodyProducer)
class _CountingBody:
    """
    A client's body on its way into the versions container, counted (a
    chunked upload has no length to read back).
    """

    def __init__(self, inner: IBodyProducer) -> None:
        self._inner = inner
        self.length = inner.length
        self.count = 0

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        return self._inner.startProducing(  # type: ignore[no-any-return]
            _CountingConsumer(consumer, self))

    def pauseProducing(self) -> None:
        self._inner.pauseProducing()

    def resumeProducing(self) -> None:
        self._inner.resumeProducing()

    def stopProducing(self) -> None:
        self._inner.stopProducing()


@implementer(IProxyFilter)
class ObjectVersioning:
    """
    Swift's C{object_versioning}: see the module docstring.

    @param info_cache: the proxy's container info.
    @param swift_conf: the storage policies (a versions container takes its
        container's policy).
    @param clock: for the timestamps of versions and delete markers.
    @param max_file_size: the largest object that can be copied aside.
    """

    def __init__(self, info_cache: InfoCache, swift_conf: SwiftConf, clock: IReactorTime,
                 max_file_size: int) -> None:
        self._info_cache = info_cache
        self._swift_conf = swift_conf
        self._clock = clock
        self._max_file_size = max_file_size

    def __call__(
        self, request: SwiftRequest, app: IProxyApplication
    ) -> "Deferred[SwiftResponse]":
        try:
            version, account, container, obj = split_path(request.path, 2, 4, True)
        except ValueError:
            return app(request)  # type: ignore[no-any-return]
        if version != "v1" or not account:
            return app(request)  # type: ignore[no-any-return]
        if not container:
            if request.method != "GET":
                return app(request)  # type: ignore[no-any-return]
            work: Any = self._account_get(request, app, account)
        elif not obj:
            work = self._container(request, app, account, container)
        else:
            work = _ObjectVersions(self, request, app, account, container, obj).handle()
        return Deferred.fromCoroutine(self._guard(request, work))

    async def _guard(self, request: SwiftRequest, work: Any) -> SwiftResponse:
        environ = request.environ
        sysmeta_ok = bool(environ.get("swift.sysmeta_ok"))
        environ["swift.sysmeta_ok"] = True
        try:
            response: SwiftResponse = await work
        except _Refusal as refusal:
            response = refusal.response
        finally:
            if not sysmeta_ok:
                environ.pop("swift.sysmeta_ok", None)
        if not sysmeta_ok:
            for name in [n for n in response.headers
                         if is_sys_meta("container", n) or is_sys_meta("object", n)]:
                del response.headers[name]
        return response

    async def container_info(self, request: SwiftRequest, app: IProxyApplication,
                             account: str, container: str) -> Any:
        """
        The info of C{container}, looked up as the proxy itself.
        """
        return await fetch_container_info(request, app, self._info_cache, "v1", account,
                                          container, _internal_environ)

    # -- containers -------------------------------------------------------

    async def _container(self, request: SwiftRequest, app: IProxyApplication, account: str,
                         container: str) -> SwiftResponse:
        method = request.method
        if method in ("PUT", "POST") and CLIENT_ENABLED in request.headers:
            return await self._enable(request, app, account, container)
        if method == "DELETE":
            await self._delete_versions_container(request, app, account, container)
            return await app(request)  # type: ignore[no-any-return]
        if method not in ("GET", "HEAD"):
            return await app(request)  # type: ignore[no-any-return]
        if method == "GET" and "versions" in request.params:
            return await self._list_versions(request, app, account, container)
        return await self._container_read(request, app, account, container, False)

    async def _container_read(self, request: SwiftRequest, app: IProxyApplication,
                              account: str, container: str, versions: bool
                              ) -> SwiftResponse:
        """
        A container GET/HEAD: the flag shown as C{X-Versions-Enabled}, the
        versions' bytes counted, the latest pointers listed as their
        versions.
        """
        try:
            location = versions_container_name(container)
        except ValueError:
            location = ""
        environ = request.environ
        before = environ.get(LISTING_REWRITES_ENVIRON_KEY, ())
        if request.method == "GET" and location:
            def rewrite(items: list[Any]) -> list[Any]:
                return [rewrite_listing_item(item, location, container, versions)
                        if isinstance(item, dict) else item for item in items]

            setattr(rewrite, RAW_UNCHANGED_ATTRIBUTE, listing_unchanged)
            environ[LISTING_REWRITES_ENVIRON_KEY] = tuple(before) + (rewrite,)
        try:
            response: SwiftResponse = await app(request)
        finally:
            environ[LISTING_REWRITES_ENVIRON_KEY] = before
        headers = response.headers
        if SYSMETA_ENABLED in headers:
            headers[CLIENT_ENABLED] = headers[SYSMETA_ENABLED]
        stored = headers.get(SYSMETA_CONTAINER)
        if stored and "X-Container-Bytes-Used" in headers:
            versions_path = f"/v1/{account}/{_unquote_wsgi(stored)}"
            head: SwiftResponse = await app(_sub(request, "HEAD", versions_path))
            drop_body(head.body)
            if head.is_success:
                try:
                    total = int(headers["X-Container-Bytes-Used"]) + int(
                        head.headers.get("X-Container-Bytes-Used", "0"))
                except ValueError:
                    return response
                headers["X-Container-Bytes-Used"] = str(total)
                # The container's info counts its versions too, as Swift's
                # does (container quotas read it there).
                key = container_key(account, container)
                known = environ.get(INFO_ENVIRON_KEY, {}).get(key)
                if known is not None and known.get("bytes") is not None:
                    updated = cast(ContainerInfo, dict(known, bytes=total))
                    await self._info_cache.store(environ, key, updated)
        return response

    async def _enable(self, request: SwiftRequest, app: IProxyApplication, account: str,
                      container: str) -> SwiftResponse:
        method = request.method
        info = await self.container_info(request, app, account, container)
        sysmeta = info.get("sysmeta") or {}
        if sysmeta.get("versions-location") or info.get("versions"):
            raise _refuse(400, "Cannot enable object versioning on a container that is "
                          "already using the legacy versioned writes feature.", method)
        if info.get("sync_to"):
            raise _refuse(400, "Cannot enable object versioning on a container configured "
                          "as source of container syncing.", method)
        enabled = is_true(request.headers[CLIENT_ENABLED])
        request.headers[SYSMETA_ENABLED] = str(enabled)
        versions_path = ""
        policy_headers: dict[str, str] = {}
        if enabled:
            if 200 <= info.get("status", 0) < 300:
                policy = self._swift_conf.policy_by_index(info.get("storage_policy") or 0)
                if policy is not None and policy.is_deprecated:
                    authorize = request.environ.get("swift.authorize")
                    if authorize is not None:
                        denied = authorize(request)
                        if denied is not None:
                            return denied  # type: ignore[no-any-return]
                    raise _refuse(400, "Cannot enable object versioning on a container that "
                                  "uses a deprecated storage policy.", method)
                if policy is not None:
                    policy_headers["X-Storage-Policy"] = policy.name
            elif method == "PUT" and "X-Storage-Policy" in request.headers:
                policy_headers["X-Storage-Policy"] = request.headers["X-Storage-Policy"]
            location = versions_container_name(container)
            versions_path = f"/v1/{account}/{location}"
            made: SwiftResponse = await app(
                _sub(request, "PUT", versions_path, policy_headers))
            drop_body(made.body)
            if not (made.is_success or made.status == 409):
                raise _refuse(500, "Error enabling object versioning", method)
            request.headers[SYSMETA_CONTAINER] = wire_quote(location)
        response: SwiftResponse = await app(request)
        if not response.is_success and versions_path:
            # The container was not made or changed: leave nothing behind.
            gone: SwiftResponse = await app(
                _sub(request, "DELETE", versions_path, policy_headers))
            drop_body(gone.body)
        if SYSMETA_ENABLED in response.headers:
            response.headers[CLIENT_ENABLED] = response.headers[SYSMETA_ENABLED]
        return response

    async def _delete_versions_container(self, request: SwiftRequest,
                                         app: IProxyApplication, account: str,
                                         container: str) -> None:
        """
        Before a versioned container is deleted, its versions container
        must be empty; it is deleted first.

        @raise _Refusal: 409 while versions remain, 500 when the versions
            container cannot be checked or deleted.
        """
        info = await self.container_info(request, app, account, container)
        stored = (info.get("sysmeta") or {}).get("versions-container", "")
        if not stored:
            return
        method = request.method
        path = f"/v1/{account}/{_unquote_wsgi(stored)}"
        head: SwiftResponse = await app(_sub(request, "HEAD", path))
        drop_body(head.body)
        if head.is_success:
            try:
                count = int(head.headers.get("X-Container-Object-Count", "0"))
            except ValueError:
                count = 0
            if count > 0:
                raise _refuse(409, "Delete all versions before deleting container.", method)
        elif head.status != 404:
            raise _refuse(500, "Error deleting versioned container", method)
        gone: SwiftResponse = await app(_sub(request, "DELETE", path))
        drop_body(gone.body)
        if not gone.is_success and gone.status != 404:
            raise _refuse(500, "Error deleting versioned container", method)

    async def _list_versions(self, request: SwiftRequest, app: IProxyApplication,
                             account: str, container: str) -> SwiftResponse:
        """
        C{GET <container>?versions}: the container's own listing, then its
        versions container's, merged.
        """
        method = request.method
        refused = _json_refusal(request)
        params = dict(request.params)
        primary = request.copy_for()
        query = dict(params, format="json")
        primary.query_string = _query(query)
        primary.params = query
        primary.query = list(query.items())
        primary.headers.pop("Accept", None)
        response = await self._container_read(primary, app, account, container, True)
        if not response.is_success:
            return response
        if refused is not None:
            drop_body(response.body)
            return refused
        listing = json.loads(await read_body(response.body) or b"[]")
        try:
            location = versions_container_name(container)
        except ValueError:
            location = container
        versions_params = self._versions_params(params, method)
        items = await _merge_versions(self, request, app, account, location, listing,
                                      versions_params, params)
        if isinstance(items, SwiftResponse):
            return items
        body = json.dumps(items).encode("ascii")
        headers = response.headers
        headers["Content-Type"] = "application/json; charset=utf-8"
        headers["Content-Length"] = str(len(body))
        return SwiftResponse(response.status, headers, body)

    @staticmethod
    def _versions_params(params: dict[str, str], method: str) -> dict[str, str]:
        """
        The query of the versions container's listing, from the client's.

        @raise _Refusal: 400 for a bad C{version_marker} or delimiter.
        """
        params = dict(params)
        if "marker" in params:
            marker = params["marker"]
            version_marker = params.pop("version_marker", None)
            try:
                if version_marker is None:
                    # Just past every version of the marker object.
                    params["marker"] = reserved_name(marker, "") + ":"
                elif version_marker == "null":
                    params["marker"] = reserved_name(marker, "")
                else:
                    try:
                        stamp = Timestamp(version_marker).internal
                    except ValueError:
                        raise _refuse(400, "invalid version_marker param", method) from None
                    params["marker"] = version_object_name(marker, stamp)
            except ValueError:
                raise _refuse(400, "invalid marker param", method) from None
        elif "version_marker" in params:
            raise _refuse(400, "version_marker param requires marker", method)
        delimiter = params.get("delimiter", "")
        if set(delimiter) & set("0123456789." + RESERVED):
            raise _refuse(400, "invalid delimiter param", method)
        if "prefix" in params:
            params["prefix"] = RESERVED + params["prefix"]
        return {k: params[k] for k in ("prefix", "marker", "limit", "delimiter", "reverse")
                if params.get(k)}

    # -- accounts ---------------------------------------------------------

    async def _account_get(self, request: SwiftRequest, app: IProxyApplication,
                           account: str) -> SwiftResponse:
        """
        An account listing: each container's bytes include its versions'
        (and versions containers left without their container are listed).
        """
        fmt, refused = listing_format(request)
        if refused is not None:
            return await app(request)  # type: ignore[no-any-return]
        params = dict(request.params)
        primary = request.copy_for()
        query = dict(params, format="json")
        primary.query_string = _query(query)
        primary.params = query
        primary.query = list(query.items())
        primary.headers.pop("Accept", None)
        response: SwiftResponse = await app(primary)
        if not response.is_success or response.status == 204:
            if fmt in ("application/json", "json"):
                return response
            drop_body(response.body)
            return await app(request)  # type: ignore[no-any-return]
        raw = await read_body(response.body)
        try:
            listing = json.loads(raw or b"[]")
        except ValueError:
            return SwiftResponse(response.status, response.headers, raw)
        sub_params = dict(params)
        try:
            sub_params["prefix"] = versions_container_name(params["prefix"]) \
                if "prefix" in params else reserved_name("versions")
        except ValueError:
            pass
        for name in ("marker", "end_marker"):
            if name in sub_params:
                try:
                    sub_params[name] = versions_container_name(sub_params[name])
                except ValueError:
                    pass
        sub_params["format"] = "json"
        versions: SwiftResponse = await app(
            _sub(request, "GET", f"/v1/{account}", query=_query(sub_params)))
        found: dict[str, dict[str, Any]] = {}
        try:
            versions_listing = json.loads(await read_body(versions.body) or b"[]")
        except ValueError:
            versions_listing = []
        if not versions.is_success:
            versions_listing = []
        for item in versions_listing:
            if isinstance(item, dict) and "name" in item:
                name = str(item["name"])
                try:
                    kind, own = split_reserved_name(name)
                except ValueError:
                    continue
                if kind == "versions":
                    found[own] = item
        if found:
            for item in listing:
                if isinstance(item, dict) and "name" in item and item["name"] in found:
                    item["bytes"] = item["bytes"] + found.pop(item["name"])["bytes"]
            for name, item in found.items():
                item["name"] = name
                item["count"] = 0
                listing.append(item)
        limit = _limit(params, _ACCOUNT_LISTING_LIMIT)
        listing = sorted(listing, key=_merge_key, reverse=is_true(params.get("reverse")))
        listing = listing[:limit]
        return render_account_listing(listing, fmt, account, response.headers,
                                      response.status)


def _json_refusal(request: SwiftRequest) -> Optional[SwiftResponse]:
    """
    A C{?versions} listing is JSON only: C{None} when the client takes
    JSON (C{format=json}, or an Accept header that matches it, or none),
    else the 406 (or 400 for an Accept header that does not parse).
    """
    wanted = None
    for name, value in request.query:
        if name == "format":
            wanted = value
    if wanted:
        if wanted.lower() == "json":
            return None
        return error_response(406, method=request.method)
    try:
        match = best_accept_match(request.headers.get("Accept"), ("application/json",))
    except ValueError:
        return error_response(400, "Invalid Accept header", method=request.method)
    if match is None:
        return error_response(406, method=request.method)
    return None


def _merge_key(item: dict[str, Any]) -> str:
    return str(item["subdir"] if "subdir" in item else item["name"])


def _limit(params: dict[str, str], most: int) -> int:
    try:
        limit = int(params.get("limit") or most)
    except ValueError:
        return most
    return max(0, min(limit, most))


async def _merge_versions(plugin: ObjectVersioning, request: SwiftRequest,
                          app: IProxyApplication, account: str, location: str,
                          primary: list[dict[str, Any]], versions_params: dict[str, str],
                          params: dict[str, str]) -> Any:
    """
    The C{?versions} listing: unversioned objects (C{null}), the versions
    container's entries with their version ids, and latest pointers whose
    version is missing.
    """
    null_listing = []
    subdirs = set()
    current: dict[str, dict[str, Any]] = {}
    latest_names = set()
    for item in primary:
        if "name" not in item:
            subdirs.add(item["subdir"])
        elif item.get("version_symlink"):
            path = wsgi_to_str(_unquote_wsgi(str_to_wsgi(str(item["symlink_path"]))))
            current[path] = item
        else:
            null_listing.append(dict(item, version_id="null", is_latest=True))
            latest_names.add(item["name"])
    versions_path = f"/v1/{account}/{location}"
    listing: list[dict[str, Any]] = []
    sub_query = dict(versions_params, format="json")
    response: SwiftResponse = await app(_sub(request, "GET", versions_path,
                                             query=_query(sub_query)))
    if response.status == 404:
        drop_body(response.body)
    elif not response.is_success:
        return response
    else:
        try:
            found = json.loads(await read_body(response.body) or b"[]")
        except ValueError:
            found = []
        prefix = f"/v1/{wsgi_to_str(account)}/{wsgi_to_str(location)}/"
        for item in found:
            if "name" not in item:
                try:
                    subdirs.add(split_reserved_name(str(item["subdir"]))[0])
                except ValueError:
                    subdirs.add(item["subdir"])
                continue
            name, version_id = parse_version_object_name(str(item["name"]))
            if version_id is None:
                continue
            path = prefix + str(item["name"])
            if path in current:
                item["is_latest"] = True
                latest_names.add(name)
                del current[path]
            elif (item.get("content_type") == DELETE_MARKER_CONTENT_TYPE
                  and name not in latest_names):
                item["is_latest"] = True
                latest_names.add(name)
            else:
                item["is_latest"] = False
            item["name"] = name
            item["version_id"] = version_id
            listing.append(item)
    missing = []
    for item in current.values():
        path = wsgi_to_str(_unquote_wsgi(str_to_wsgi(str(item["symlink_path"]))))
        name, version_id = parse_version_object_name(path.split("/", 4)[-1])
        if version_id is None:
            continue
        is_latest = True
        if response.status == 404:
            is_latest = name not in latest_names
            latest_names.add(name)
        missing.append({
            "name": name, "is_latest": is_latest, "version_id": version_id,
            "content_type": item["content_type"], "bytes": item["bytes"],
            "hash": item["hash"], "last_modified": item["last_modified"],
        })
    merged = null_listing + listing + [{"subdir": s} for s in subdirs] + missing
    merged.sort(key=_merge_key, reverse=is_true(params.get("reverse")))
    return merged[:_limit(params, _CONTAINER_LISTING_LIMIT)]


class _ObjectVersions:
    """
    One object request in a container that is, or was, versioned.
    """

    def __init__(self, plugin: ObjectVersioning, request: SwiftRequest,
                 app: IProxyApplication, account: str, container: str, obj: str) -> None:
        self.plugin = plugin
        self.request = request
        self.app = app
        self.account = account
        self.container = container
        self.obj = obj
        self.method = request.method
        self.location = ""
        self.enabled = False
        self.info: Any = None

    def versions_path(self, name: str) -> str:
        return f"/v1/{self.account}/{self.location}/{name}"

    @property
    def path(self) -> str:
        return f"/v1/{self.account}/{self.container}/{self.obj}"

    async def call(self, request: SwiftRequest) -> SwiftResponse:
        response: SwiftResponse = await self.app(request)
        return response

    async def handle(self) -> SwiftResponse:
        request = self.request
        self.info = info = await self.plugin.container_info(
            request, self.app, self.account, self.container)
        sysmeta = info.get("sysmeta") or {}
        stored = sysmeta.get("versions-container", "")
        if stored:
            self.location = _unquote_wsgi(stored).split("/")[0]
        self.enabled = is_true(sysmeta.get("versions-enabled"))
        version_id = request.params.get("version-id")
        if version_id:
            return await self.with_version_id(version_id)
        if not self.location:
            return await self.call(request)
        if self.method == "PUT":
            return await self.put()
        if self.method == "POST":
            return await self.post()
        if self.method == "DELETE":
            return await self.delete()
        return await self.get_head()

    # -- without a version id --------------------------------------------

    def authorize(self) -> None:
        authorize = self.request.environ.get("swift.authorize")
        if authorize is None:
            return
        self.request.acl = self.info.get("write_acl")  # type: ignore[attr-defined]
        denied = authorize(self.request)
        if denied is not None:
            raise _Refusal(denied)

    async def copy_current(self) -> None:
        """
        An object written before versioning was enabled is copied aside as
        a version before it is replaced.
        """
        self.authorize()
        source = await self.call(_sub(self.request, "GET", self.path, {"X-Newest": "True"},
                                      "symlink=get"))
        if source.status == 404:
            drop_body(source.body)
            return
        length = source.headers.get("Content-Length")
        if source.is_success and (length is None or int(length) > self.plugin._max_file_size):
            drop_body(source.body)
            raise _refuse(413, method=self.method)
        _check(source, self.method)
        if source.headers.get(SYSMETA_SYMLINK) == "true":
            drop_body(source.body)
            return
        stamp = source.headers.get("X-Backend-Timestamp") or source.headers.get("X-Timestamp")
        if stamp is None:
            stamp = str(parse_http_date(source.headers.get("Last-Modified")))
        name = version_object_name(self.obj, _version_id(Timestamp(stamp)))
        headers = HeaderDict()
        for key, value in source.headers.items():
            if key.lower() not in ("x-timestamp", "x-backend-timestamp", "transfer-encoding",
                                   "x-trans-id", "x-openstack-request-id",
                                   "content-location"):
                headers[key] = value
        put = _sub(self.request, "PUT", self.versions_path(name))
        for key, value in headers.items():
            put.headers[key] = value
        slo_size = headers.get("X-Object-Sysmeta-Slo-Size")
        if slo_size:
            put.headers["Content-Type"] = headers.get("Content-Type", "") + (
                f"; swift_bytes={slo_size}")
            put.environ["swift.content_type_overridden"] = True
        body = SourceBody(source.body, int(length or 0))
        put.body = body
        try:
            made = await self.call(put)
        finally:
            body.drop()
        if made.status == 404:
            drop_body(made.body)
            raise _refuse(500, _NO_CONTAINER, self.method, "text/plain")
        _check(made, self.method)
        drop_body(made.body)

    def timestamp(self) -> Timestamp:
        """
        The request's X-Timestamp, given it from the clock when it has none.
        """
        given = self.request.headers.get("X-Timestamp")
        if given:
            try:
                return Timestamp(given)
            except ValueError:
                pass
        stamp = Timestamp.now(self.plugin._clock)
        self.request.headers["X-Timestamp"] = stamp.internal
        return stamp

    async def put(self) -> SwiftResponse:
        request = self.request
        if not self.enabled:
            return await self.call(request)
        await self.copy_current()
        stamp = self.timestamp()
        name = version_object_name(self.obj, _version_id(stamp))
        put = _sub(request, "PUT", self.versions_path(name))
        for key, value in request.headers.items():
            if key.lower() not in ("x-delete-at", "x-delete-after", "x-auth-token"):
                put.headers[key] = value
        if "swift.content_type_overridden" in request.environ:
            put.environ["swift.content_type_overridden"] = request.environ.pop(
                "swift.content_type_overridden")
        counted: Optional[_CountingBody] = None
        if request.body is not None:
            counted = _CountingBody(request.body)
            put.body = counted
        request.body = None
        made = await self.call(put)
        if made.status == 404:
            drop_body(made.body)
            raise _refuse(500, _NO_CONTAINER, self.method, "text/plain")
        _check(made, self.method)
        drop_body(made.body)
        size: Any = counted.count if counted is not None else 0
        size = put.headers.get("X-Object-Sysmeta-Slo-Size") or size
        # What the rest of the pipeline wrote (the symlink plugin gives a
        # static link its target's type), else what the object server
        # would have guessed.
        content_type = _parse_params(
            put.headers.get("Content-Type")
            or mimetypes.guess_type(wsgi_to_str(self.obj))[0]
            or "application/octet-stream")[0]
        return await self.put_link(name, made.headers.get("Etag", ""), size, content_type)

    async def put_link(self, name: str, etag: str, size: Any, content_type: str
                       ) -> SwiftResponse:
        """
        Make the object a static link to its version C{name} (the latest
        pointer), with the client's request.
        """
        request = self.request
        request.method = "PUT"
        stamp = self.timestamp()
        headers = request.headers
        headers["X-Timestamp"] = Timestamp(stamp, offset=1).internal
        headers["X-Object-Sysmeta-Symlink-Target-Etag"] = etag
        headers["X-Object-Sysmeta-Symlink-Target-Bytes"] = str(size)
        headers["Content-Type"] = content_type
        headers["X-Symlink-Target"] = wire_quote(f"{self.location}/{name}")
        headers[SYSMETA_SYMLINK] = "true"
        headers["X-Object-Sysmeta-Symloop-Extend"] = "true"
        headers["X-Object-Sysmeta-Allow-Reserved-Names"] = "true"
        headers[_ALLOW_RESERVED] = "true"
        headers["Content-Length"] = "0"
        for key in _NOT_ON_LINK:
            headers.pop(key, None)
        request.environ["swift.source"] = "OV"
        request.body = None
        response = await self.call(request)
        response.headers["Etag"] = etag
        response.headers["X-Object-Version-Id"] = parse_version_object_name(name)[1] or ""
        return response

    async def delete(self) -> SwiftResponse:
        request = self.request
        if not self.enabled:
            return await self.call(request)
        await self.copy_current()
        stamp = self.timestamp()
        name = version_object_name(self.obj, _version_id(stamp))
        marker = _sub(request, "PUT", self.versions_path(name), {
            "Content-Type": DELETE_MARKER_CONTENT_TYPE, "Content-Length": "0",
            "X-Timestamp": stamp.internal})
        marker.environ["swift.content_type_overridden"] = True
        made = await self.call(marker)
        _check(made, self.method)
        drop_body(made.body)
        response = await self.call(request)
        if response.is_success or response.status == 404:
            response.headers["X-Object-Version-Id"] = parse_version_object_name(name)[1] or ""
        return response

    async def post(self) -> SwiftResponse:
        request = self.request
        post = _sub(request, "POST", self.path)
        for key, value in request.headers.items():
            if key.lower() not in ("x-delete-at", "x-delete-after"):
                post.headers[key] = value
        post.headers[_ALLOW_RESERVED] = "true"
        response = await self.call(request)
        if response.status == 307 and is_true(response.headers.get(SYSMETA_SYMLINK)):
            location = _unquote_wsgi(response.headers.get("Location", ""))
            try:
                parts = split_path(location, 4, 4, True)
            except ValueError:
                return response
            if [parts[1], parts[2]] == [self.account, self.location]:
                drop_body(response.body)
                post.path = location
                post.raw_path = wire_quote(location).encode("ascii")
                return await self.call(post)
        return response

    async def get_head(self) -> SwiftResponse:
        response = await self.call(self.request)
        headers = response.headers
        headers["X-Object-Version-Id"] = "null"
        where = _unquote_wsgi(headers.get("Content-Location", ""))
        if where:
            try:
                _, account, container, version_obj = split_path(where, 4, 4, True)
            except ValueError:
                account = None
            if account == self.account and container == self.location:
                _, version_id = parse_version_object_name(str(version_obj))
                if version_id is not None:
                    headers["X-Object-Version-Id"] = version_id
                    headers["Content-Location"] = wire_quote(self.path) + (
                        f"?version-id={version_id}")
        target = _unquote_wsgi(headers.get("X-Symlink-Target", ""))
        if target:
            try:
                container, version_obj = split_path("/" + target, 2, 2, True)
            except ValueError:
                container = None
            if container == self.location:
                _, version_id = parse_version_object_name(str(version_obj))
                if version_id is not None:
                    headers["X-Object-Version-Id"] = version_id
                    headers["X-Symlink-Target"] = wire_quote(
                        f"{self.container}/{self.obj}") + f"?version-id={version_id}"
        return response

    # -- with a version id -----------------------------------------------

    async def with_version_id(self, version_id: str) -> SwiftResponse:
        method = self.method
        if method == "POST":
            raise _refuse(400, "POST to a specific version is not allowed", method)
        if not self.location and version_id != "null":
            raise _refuse(400, "version-aware operations require that the container is "
                          "versioned", method)
        if version_id != "null":
            try:
                Timestamp(version_id)
            except ValueError:
                raise _refuse(400, "Invalid version parameter", method) from None
        if method == "OPTIONS":
            return await self.call(self.request)
        if method == "DELETE":
            return await self.delete_version(version_id)
        if method == "PUT":
            return await self.restore(version_id)
        if method not in ("GET", "HEAD"):
            return await self.call(self.request)
        if version_id == "null":
            return await self.get_null()
        return await self.get_version(version_id)

    def on_version(self, version_id: str) -> SwiftRequest:
        """
        The client's request, sent to version C{version_id}.
        """
        path = self.versions_path(version_object_name(self.obj, version_id))
        request = self.request.copy_for(path=path)
        request.body = self.request.body
        request.headers[_ALLOW_RESERVED] = "true"
        return request

    async def get_version(self, version_id: str) -> SwiftResponse:
        response = await self.call(self.on_version(version_id))
        if response.is_success:
            response.headers["X-Object-Version-Id"] = version_id
        kind = response.headers.get("X-Backend-Content-Type",
                                    response.headers.get("Content-Type"))
        if kind == DELETE_MARKER_CONTENT_TYPE:
            drop_body(response.body)
            raise _refuse(404, method=self.method, headers={
                "X-Object-Version-Id": version_id, "Content-Type": DELETE_MARKER_CONTENT_TYPE})
        return response

    async def get_null(self) -> SwiftResponse:
        response = await self.call(self.request)
        if response.is_success:
            where = _unquote_wsgi(response.headers.get("Content-Location", ""))
            if reserved_name("versions", "") in where:
                drop_body(response.body)
                raise _refuse(404, method=self.method)
            response.headers["X-Object-Version-Id"] = "null"
        return response

    async def delete_version(self, version_id: str) -> SwiftResponse:
        request = self.request
        if version_id == "null":
            return await self.call(request)
        head = await self.call(_sub(request, "HEAD", self.path, {"X-Newest": "True"},
                                    "symlink=get"))
        target: Optional[str] = None
        gone = head.status == 404
        drop_body(head.body)
        if not gone:
            _check(head, self.method)
            if head.headers.get(SYSMETA_SYMLINK) == "true":
                target = head.headers.get("X-Symlink-Target")
        version_name = version_object_name(self.obj, version_id)
        wanted = f"{self.location}/{version_name}"
        current = "null"
        if gone or not target or _unquote_wsgi(target) != wanted:
            if target and not gone:
                current = parse_version_object_name(
                    _unquote_wsgi(target).split("/", 1)[1])[1] or "null"
        else:
            # The latest version goes: first its pointer.
            link = request.copy_for()
            link.query_string = ""
            link.query = []
            link.params = {}
            unlinked = await self.call(link)
            _check(unlinked, self.method)
            drop_body(unlinked.body)
        response = await self.call(self.on_version(version_id))
        response.headers["X-Object-Version-Id"] = version_id
        response.headers["X-Object-Current-Version-Id"] = current
        return response

    async def restore(self, version_id: str) -> SwiftResponse:
        """
        C{PUT ?version-id=<id>} with an empty body: make that version the
        latest.
        """
        request = self.request
        method = self.method
        if version_id == "null":
            raise _refuse(400, "Invalid version parameter", method)
        try:
            length = request.content_length
        except ValueError:
            raise _refuse(400, "Invalid Content-Length", method) from None
        if length is None:
            if "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
                raise _refuse(411, method=method)
            try:
                await read_body(request.body, limit=0)
            except BodyTooLarge:
                length = 1
            else:
                length = 0
        if length:
            raise _refuse(400, "PUT version-id requests require a zero byte body", method,
                          "text/plain")
        name = version_object_name(self.obj, version_id)
        head = await self.call(_sub(request, "HEAD", self.versions_path(name),
                                    query="symlink=get"))
        drop_body(head.body)
        if head.status == 404:
            info = await self.plugin.container_info(request, self.app, self.account,
                                                    self.location)
            if 200 <= info.get("status", 0) < 300:
                raise _refuse(404, "The specified version does not exist", method,
                              "text/plain")
            raise _refuse(500, _NO_CONTAINER, method, "text/plain")
        _check(head, method)
        request.headers.pop("Transfer-Encoding", None)
        return await self.put_link(name, head.headers.get("Etag", ""),
                                   head.headers.get("Content-Length", "0"),
                                   head.headers.get("Content-Type", ""))


def _version_id(stamp: Timestamp) -> str:
    """
    The version id of a write at C{stamp}: its timestamp without offset.
    """
    return Timestamp(0, delta=stamp.raw).internal
