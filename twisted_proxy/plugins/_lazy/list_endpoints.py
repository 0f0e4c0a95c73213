# -*- test-case-name: tests.test_small_plugins -*-
"""
The code of the C{list_endpoints} plugin: see
L{twisted_proxy.plugins.list_endpoints}, which declares it and imports this
module only when a pipeline runs it.
"""

from __future__ import annotations

import json
from typing import Any, Optional
from urllib.parse import quote, unquote_to_bytes

from twisted.internet.defer import Deferred, succeed
from twisted.plugin import IPlugin
from zope.interface import implementer

from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.cache import InfoCache
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.subrequest import fetch_container_info, preauthorized
from twisted_proxy.swift.http import (
    HTML,
    SwiftRequest,
    SwiftResponse,
    error_response,
    wsgi_str,
    wsgi_to_bytes,
)
from twisted_proxy.swift.paths import split_path
from twisted_proxy.swift.ring import RingSet

__all__ = ["ListEndpoints", "listEndpointsPlugin"]

_VERSIONS = (1.0, 2.0)
_JSON = {"Content-Type": "application/json"}


def _parse_version(raw: str) -> float:
    """
    @raise ValueError: C{raw} is not C{v1}, C{v2} (or C{1.0}, ...).
    """
    complaint = f"Unsupported version {raw!r}"
    try:
        version = float(raw.lstrip("v"))
    except ValueError:
        raise ValueError(complaint) from None
    if version not in _VERSIONS:
        raise ValueError(complaint)
    return version


def _unquoted(name: str) -> bytes:
    """
    A path segment (a WSGI string, already decoded once) percent-decoded
    once more, as Swift's middleware does, as bytes.
    """
    return unquote_to_bytes(wsgi_to_bytes(name))


@implementer(IProxyFilter)
class ListEndpoints:
    """
    Answers requests under C{path} from the rings.
    """

    def __init__(self, rings: RingSet, info_cache: InfoCache, path: str = "/endpoints/") -> None:
        self._rings = rings
        self._info_cache = info_cache
        self.path = path if path.endswith("/") else path + "/"

    def parse(self, path: str) -> tuple[float, str, Optional[str], Optional[str]]:
        """
        The response version, account, container and object of a path
        under C{self.path}.

        @raise ValueError: saying what is wrong with it.
        """
        clean = path[len(self.path) - 1:]
        try:
            raw_version, rest = split_path(clean, 1, 2, True)
        except ValueError:
            raise ValueError("No account specified") from None
        assert raw_version is not None
        try:
            version = _parse_version(raw_version)
        except ValueError:
            if raw_version.startswith("v") and "_" not in raw_version:
                raise
            # An account (AUTH_test), not a version.
            version, rest_path = 1.0, clean
        else:
            rest_path = "/" + rest if rest else "/"
        try:
            account, container, obj = split_path(rest_path, 1, 3, True)
        except ValueError:
            raise ValueError("No account specified") from None
        assert account is not None
        return version, account, container, obj

    def __call__(self, request: SwiftRequest, app: IProxyApplication
                 ) -> "Deferred[SwiftResponse]":
        if not request.path.startswith(self.path):
            return app(request)  # type: ignore[no-any-return]
        if request.method != "GET":
            return succeed(error_response(405, headers={"Allow": "GET"},
                                          method=request.method))
        try:
            version, account, container, obj = self.parse(request.path)
        except ValueError as error:
            return succeed(error_response(400, str(error), method=request.method,
                                          content_type=HTML))
        names = [_unquoted(name) for name in (account, container, obj) if name is not None]
        return Deferred.fromCoroutine(self._answer(request, app, version, names))

    async def _answer(self, request: SwiftRequest, app: IProxyApplication, version: float,
                      names: list[bytes]) -> SwiftResponse:
        policy_index: Optional[str] = None
        if len(names) == 3:
            account, container, obj = names
            # The container's info as the proxy's own request: none of the
            # client's credentials, nothing of its environ.
            lookup = SwiftRequest("HEAD", b"/", client_ip=request.client_ip,
                                  environ={"swift.trans_id":
                                           request.environ.get("swift.trans_id")})
            info = await fetch_container_info(lookup, app, self._info_cache, "v1",
                                              wsgi_str(account), wsgi_str(container),
                                              preauthorized("LE"))
            policy_index = info.get("storage_policy") or "0"
            ring = self._rings.object_ring(int(policy_index))
            part, nodes = ring.get_nodes(account, container, obj)
        elif len(names) == 2:
            part, nodes = self._rings.container.get_nodes(names[0], names[1])
        else:
            part, nodes = self._rings.account.get_nodes(names[0])
        tail = "/".join(quote(name) for name in names)
        endpoints = [f"http://{node['ip']}:{node['port']}/{node['device']}/{part}/{tail}"
                     for node in nodes]
        body: Any = endpoints
        if version == 2.0:
            headers = {}
            if policy_index is not None:
                headers["X-Backend-Storage-Policy-Index"] = str(policy_index)
            body = {"endpoints": endpoints, "headers": headers}
        return SwiftResponse(200, dict(_JSON), json.dumps(body).encode("utf-8"))


@implementer(IPlugin, IProxyPluginFactory)
class _ListEndpointsFactory:
    name = "list_endpoints"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> ListEndpoints:
        return ListEndpoints(context.rings, context.info_cache,
                             conf.get("list_endpoints_path", "/endpoints/"))


listEndpointsPlugin = _ListEndpointsFactory()
