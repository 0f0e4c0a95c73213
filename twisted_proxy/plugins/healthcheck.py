# -*- test-case-name: tests.test_healthcheck -*-
"""
The C{healthcheck} plugin: C{GET /healthcheck} answers C{200 OK} from the
proxy itself, or C{503} while the file named by C{disable_path} exists.
"""

from __future__ import annotations

import os

from twisted.internet.defer import Deferred, succeed
from twisted.plugin import IPlugin
from zope.interface import implementer

from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.swift.http import SwiftRequest, SwiftResponse

__all__ = ["HealthCheck", "healthcheckPlugin"]


@implementer(IProxyFilter)
class HealthCheck:
    """
    Answers C{/healthcheck}; passes everything else on.

    @param disable_path: while a file exists here, answer 503 DISABLED BY
        FILE, so a load balancer takes the proxy out of rotation.
    """

    def __init__(self, disable_path: str = "") -> None:
        self._disable_path = disable_path

    def __call__(
        self, request: SwiftRequest, app: IProxyApplication
    ) -> "Deferred[SwiftResponse]":
        if request.path != "/healthcheck":
            return app(request)  # type: ignore[no-any-return]
        if self._disable_path and os.path.exists(self._disable_path):
            status, body = 503, b"DISABLED BY FILE"
        else:
            status, body = 200, b"OK"
        headers = {"Content-Type": "text/plain"}
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            body = b""
        return succeed(SwiftResponse(status, headers, body))


@implementer(IPlugin, IProxyPluginFactory)
class _HealthCheckFactory:
    name = "healthcheck"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> HealthCheck:
        return HealthCheck(conf.get("disable_path", ""))


healthcheckPlugin = _HealthCheckFactory()
