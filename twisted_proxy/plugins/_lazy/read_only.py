# -*- test-case-name: tests.test_small_plugins -*-
"""
The code of the C{read_only} plugin: see
L{twisted_proxy.plugins.read_only}, which declares it and imports this
module only when a pipeline runs it.
"""

from __future__ import annotations

from typing import Optional

from twisted.internet.defer import Deferred, succeed
from twisted.plugin import IPlugin
from zope.interface import implementer

from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.cache import InfoCache
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.subrequest import fetch_account_info, preauthorized
from twisted_proxy.swift.constraints import check_account_format, unquote_name_header
from twisted_proxy.swift.http import HTML, SwiftRequest, SwiftResponse, error_response
from twisted_proxy.swift.paths import split_path
from twisted_proxy.swift.truthy import is_true

__all__ = ["ReadOnly", "readOnlyPlugin"]

_REFUSAL = "Writes are disabled for this account."


@implementer(IProxyFilter)
class ReadOnly:
    """
    Refuses writes to read-only accounts.

    @param read_only: whether accounts that do not say are read only.
    @param allow_deletes: whether C{DELETE} is allowed anyway.
    @param valid_api_versions: the versions of Swift paths (C{v1}, ...).
    """

    def __init__(self, info_cache: InfoCache, read_only: bool, allow_deletes: bool,
                 valid_api_versions: tuple[str, ...] = ("v1", "v1.0")) -> None:
        self._info_cache = info_cache
        self.read_only = read_only
        self.write_methods = frozenset({"COPY", "POST", "PUT"} |
                                       (set() if allow_deletes else {"DELETE"}))
        self._versions = valid_api_versions

    def __call__(self, request: SwiftRequest, app: IProxyApplication
                 ) -> "Deferred[SwiftResponse]":
        if request.method not in self.write_methods:
            return app(request)  # type: ignore[no-any-return]
        try:
            version, account, _container, _obj = split_path(request.path, 2, 4, True)
        except ValueError:
            return app(request)  # type: ignore[no-any-return]
        if version not in self._versions:
            return app(request)  # type: ignore[no-any-return]
        assert account is not None
        destination = request.headers.get("Destination-Account")
        if request.method == "COPY" and destination is not None:
            account = unquote_name_header(destination)
            bad = check_account_format(account, request.method)
            if bad is not None:
                return succeed(bad)
        return Deferred.fromCoroutine(self._judge(request, app, version, account))

    async def _judge(self, request: SwiftRequest, app: IProxyApplication, version: str,
                     account: str) -> SwiftResponse:
        info = await fetch_account_info(request, app, self._info_cache, version, account,
                                        preauthorized("RO"))
        flag: Optional[str] = (info.get("sysmeta") or {}).get("read-only")
        read_only = is_true(flag) if flag else self.read_only
        if read_only:
            return error_response(405, _REFUSAL, method=request.method, content_type=HTML)
        return await app(request)  # type: ignore[no-any-return]


@implementer(IPlugin, IProxyPluginFactory)
class _ReadOnlyFactory:
    name = "read_only"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> ReadOnly:
        read_only = is_true(conf.get("read_only"))
        if read_only:
            context.register_info("read_only")
        return ReadOnly(context.info_cache, read_only, is_true(conf.get("allow_deletes")),
                        context.constraints.valid_api_versions)


readOnlyPlugin = _ReadOnlyFactory()
