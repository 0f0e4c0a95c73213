# -*- test-case-name: tests.test_container_quotas -*-
"""
The C{container_quotas} plugin: per-container limits on bytes and object
count, as Swift 2.38.3's C{container_quotas} middleware.

A container's owner sets the limits as container metadata:

 - C{X-Container-Meta-Quota-Bytes}: the most bytes the container may hold;
 - C{X-Container-Meta-Quota-Count}: the most objects it may hold.

A container C{PUT} or C{POST} setting either to anything but a string of
digits is refused with C{400} (C{Invalid bytes quota.} /
C{Invalid count quota.}). An object C{PUT} (a copy's destination included:
the C{copy} plugin turns a copy into a C{PUT} that passes through here) is
refused with C{413 Upload exceeds quota.} when the container's bytes used
plus the upload's C{Content-Length} would exceed the bytes quota, or when
one more object would exceed the count quota. A client that could not have
written to the container anyway gets the auth plugin's refusal instead, so
a quota never tells a stranger that the container exists.

The container's usage comes from its info: the request's own, the info
store's (so it is as stale as C{recheck_container_existence} allows, as in
Swift), or a C{HEAD} of the container sent through the rest of the pipeline
as a pre-authorized sub-request. A chunked upload cannot be measured in
advance; it is refused only once the container is already over quota.

The plugin adds C{container_quotas} to C{/info}.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.plugin import IPlugin
from zope.interface import implementer

from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.cache import ContainerInfo, InfoCache
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.subrequest import (
    container_info_now,
    fetch_account_info,
    fetch_container_info,
)
from twisted_proxy.swift.acl import ACCOUNT_ACL_ENVIRON_KEY
from twisted_proxy.swift.http import HTML, SwiftRequest, SwiftResponse, error_response
from twisted_proxy.swift.paths import split_path

__all__ = ["ContainerQuotas", "containerQuotasPlugin"]

_QUOTA_HEADERS = (
    ("X-Container-Meta-Quota-Bytes", "Invalid bytes quota."),
    ("X-Container-Meta-Quota-Count", "Invalid count quota."),
)


def _is_digits(value: str) -> bool:
    # str.isdigit alone would also take non-ASCII digits, which int() then
    # refuses.
    return value.isascii() and value.isdigit()


@implementer(IProxyFilter)
class ContainerQuotas:
    """
    Validates quota metadata and refuses object uploads that would exceed
    a container's quota.

    @param info_cache: the proxy's account and container info.
    """

    def __init__(self, info_cache: InfoCache) -> None:
        self._info_cache = info_cache

    def __call__(
        self, request: SwiftRequest, app: IProxyApplication
    ) -> "Deferred[SwiftResponse]":
        try:
            # As Swift's middleware: a container or object path.
            version, account, container, obj = split_path(request.path, 3, 4, True)
        except ValueError:
            return app(request)  # type: ignore[no-any-return]
        assert version is not None and account is not None and container is not None
        method = request.method
        if not obj and method in ("PUT", "POST"):
            for name, complaint in _QUOTA_HEADERS:
                value = request.headers.get(name)
                if value and not _is_digits(value):
                    return succeed(error_response(
                        400, complaint, method=method, content_type=HTML))
        elif obj and method == "PUT":
            info = container_info_now(request, self._info_cache, account, container)
            if info is not None and not _over_quota(request, info):
                # Most uploads: the container is known and has room.
                return app(request)  # type: ignore[no-any-return]
            return Deferred.fromCoroutine(
                self._put(request, app, version, account, container, info))
        return app(request)  # type: ignore[no-any-return]

    async def _put(self, request: SwiftRequest, app: IProxyApplication,
                   version: str, account: str, container: str,
                   info: Optional[ContainerInfo] = None) -> SwiftResponse:
        """
        An object upload, refused when it would exceed its container's
        quota; C{info} is the container's, when it is known already.
        """
        if info is None:
            # Fetched, when nobody knows it yet, with a pre-authorized HEAD
            # through the rest of the pipeline.
            info = await fetch_container_info(
                request, app, self._info_cache, version, account, container,
                _preauthorized_environ)
        if _over_quota(request, info):
            return await self._refuse(request, app, info, version, account)
        return await app(request)  # type: ignore[no-any-return]

    async def _refuse(self, request: SwiftRequest, app: IProxyApplication,
                      info: ContainerInfo, version: str, account: str
                      ) -> SwiftResponse:
        """
        The 413 for an upload over quota, or the auth plugin's refusal when
        the client could not have written to the container at all.
        """
        authorize = request.environ.get("swift.authorize")
        if authorize is not None:
            if request.environ.get("REMOTE_USER"):
                # The auth plugin judges account ACLs from the account's
                # info, as the application gives it before authorizing.
                account_info = await fetch_account_info(
                    request, app, self._info_cache, version, account,
                    _preauthorized_environ)
                request.environ[ACCOUNT_ACL_ENVIRON_KEY] = (
                    account_info.get("sysmeta") or {}).get("core-access-control")
            request.acl = info.get("write_acl")  # type: ignore[attr-defined]
            denied = authorize(request)
            if denied is not None:
                return denied  # type: ignore[no-any-return]
        return error_response(413, "Upload exceeds quota.", method=request.method,
                              content_type=HTML)


def _over_quota(request: SwiftRequest, info: ContainerInfo) -> bool:
    """
    Whether an object upload would exceed the quota of its container,
    whose info is C{info}. A container that is missing, or a bad
    C{Content-Length}, is for the application to answer: no.
    """
    status = info.get("status") or 0
    if not 200 <= status < 300:
        return False
    meta = info.get("meta") or {}
    try:
        length = request.content_length or 0
    except ValueError:
        return False
    quota_bytes = meta.get("quota-bytes")
    if quota_bytes is not None and _is_digits(quota_bytes):
        if int(quota_bytes) < (info.get("bytes") or 0) + length:
            return True
    quota_count = meta.get("quota-count")
    if quota_count is not None and _is_digits(quota_count):
        if int(quota_count) < (info.get("object_count") or 0) + 1:
            return True
    return False


def _preauthorized_environ(environ: dict[str, Any]) -> dict[str, Any]:
    """
    An environ for an info sub-request: sharing the request's info, without
    the auth plugin's verdict (the sub-request is the proxy's own, as
    Swift's pre-authorized info requests are).
    """
    sub = dict(environ)
    sub.pop("swift.authorize", None)
    sub.pop("swift_owner", None)
    sub["swift.source"] = "CQ"
    return sub


@implementer(IPlugin, IProxyPluginFactory)
class _ContainerQuotasFactory:
    name = "container_quotas"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> ContainerQuotas:
        """
        @param conf: unused; Swift's middleware has no options.
        @param context: provides C{info_cache} and C{register_info}.
        """
        context.register_info("container_quotas")
        return ContainerQuotas(context.info_cache)


containerQuotasPlugin = _ContainerQuotasFactory()
