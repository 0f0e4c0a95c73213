# -*- test-case-name: tests.test_small_plugins -*-
"""
The code of the C{etag_quoter} plugin: see
L{twisted_proxy.plugins.etag_quoter}, which declares it and imports this
module only when a pipeline runs it.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.plugin import IPlugin
from zope.interface import implementer

from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.cache import INFO_ENVIRON_KEY, InfoCache, account_key, container_key
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.subrequest import (
    fetch_account_info,
    fetch_container_info,
    preauthorized,
)
from twisted_proxy.swift.http import SwiftRequest, SwiftResponse
from twisted_proxy.swift.paths import split_path
from twisted_proxy.swift.truthy import is_true

__all__ = ["EtagQuoter", "etagQuoterPlugin"]

_SYSMETA_KEY = "rfc-compliant-etags"


def quote_etag(value: str) -> str:
    """
    C{value} double-quoted, unless it already is (strong or weak).
    """
    if value.startswith(('"', 'W/"')) and value.endswith('"') and len(value) > 1:
        return value
    return f'"{value}"'


@implementer(IProxyFilter)
class EtagQuoter:
    """
    Keeps the accounts' and containers' choice, and quotes object etags
    where it applies.

    @param enable_by_default: quote where neither container nor account
        says.
    """

    def __init__(self, info_cache: InfoCache, enable_by_default: bool = False,
                 valid_api_versions: tuple[str, ...] = ("v1", "v1.0")) -> None:
        self._info_cache = info_cache
        self.enable_by_default = enable_by_default
        self._versions = valid_api_versions

    def __call__(self, request: SwiftRequest, app: IProxyApplication
                 ) -> "Deferred[SwiftResponse]":
        try:
            version, account, container, obj = split_path(request.path, 2, 4, True)
        except ValueError:
            return app(request)  # type: ignore[no-any-return]
        if version not in self._versions:
            return app(request)  # type: ignore[no-any-return]
        assert account is not None
        if not obj:
            return self._setting(request, app, account, container)
        assert container is not None
        return Deferred.fromCoroutine(self._object(request, app, version, account, container))

    def _setting(self, request: SwiftRequest, app: IProxyApplication, account: str,
                 container: Optional[str]) -> "Deferred[SwiftResponse]":
        kind = "Container" if container else "Account"
        client = f"X-{kind}-Rfc-Compliant-Etags"
        sysmeta = f"X-{kind}-Sysmeta-Rfc-Compliant-Etags"
        headers = request.headers
        if client in headers:
            headers[sysmeta] = str(is_true(headers[client])) if headers[client] else ""
        if headers.get(f"X-Remove-{kind}-Rfc-Compliant-Etags"):
            headers[sysmeta] = ""
        key = container_key(account, container) if container else account_key(account)

        def show(response: SwiftResponse) -> SwiftResponse:
            # The controllers keep sysmeta from clients; what the backend
            # said is in the info they kept for this request.
            if request.method in ("GET", "HEAD") and response.is_success:
                info: dict[str, Any] = request.environ.get(INFO_ENVIRON_KEY, {}).get(key) or {}
                value = (info.get("sysmeta") or {}).get(_SYSMETA_KEY)
                if value is not None:
                    response.headers[client] = value
            return response

        answered: Deferred[SwiftResponse] = app(request)
        return answered.addCallback(show)

    async def _object(self, request: SwiftRequest, app: IProxyApplication, version: str,
                      account: str, container: str) -> SwiftResponse:
        environ_of = preauthorized("EQ")
        container_info = await fetch_container_info(
            request, app, self._info_cache, version, account, container, environ_of)
        if not 200 <= (container_info.get("status") or 0) < 300:
            return await app(request)  # type: ignore[no-any-return]
        flag = (container_info.get("sysmeta") or {}).get(_SYSMETA_KEY)
        if flag is None:
            account_info = await fetch_account_info(
                request, app, self._info_cache, version, account, environ_of)
            if not 200 <= (account_info.get("status") or 0) < 300:
                return await app(request)  # type: ignore[no-any-return]
            flag = (account_info.get("sysmeta") or {}).get(_SYSMETA_KEY)
        quote = is_true(flag) if flag is not None else self.enable_by_default
        response: SwiftResponse = await app(request)
        if quote and "Etag" in response.headers:
            response.headers["Etag"] = quote_etag(response.headers["Etag"])
        return response


@implementer(IPlugin, IProxyPluginFactory)
class _EtagQuoterFactory:
    name = "etag_quoter"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> EtagQuoter:
        enable = is_true(conf.get("enable_by_default", "false"))
        context.register_info("etag_quoter", enable_by_default=enable)
        return EtagQuoter(context.info_cache, enable, context.constraints.valid_api_versions)


etagQuoterPlugin = _EtagQuoterFactory()
