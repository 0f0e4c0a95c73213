# -*- test-case-name: tests.test_small_plugins -*-
"""
The code of the C{crossdomain} plugin: see
L{twisted_proxy.plugins.crossdomain}, which declares it and imports this
module only when a pipeline runs it.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.plugin import IPlugin
from zope.interface import implementer

from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.swift.http import SwiftRequest, SwiftResponse

__all__ = ["CrossDomain", "crossdomainPlugin", "DEFAULT_POLICY"]

DEFAULT_POLICY = '<allow-access-from domain="*" secure="false" />'


@implementer(IProxyFilter)
class CrossDomain:
    """
    Answers C{GET /crossdomain.xml}; passes everything else on.
    """

    def __init__(self, policy: str = DEFAULT_POLICY) -> None:
        self.document = (
            '<?xml version="1.0"?>\n'
            '<!DOCTYPE cross-domain-policy SYSTEM '
            '"http://www.adobe.com/xml/dtds/cross-domain-policy.dtd" >\n'
            '<cross-domain-policy>\n'
            f'{policy}\n'
            '</cross-domain-policy>'
        ).encode("utf-8")

    def __call__(self, request: SwiftRequest, app: IProxyApplication
                 ) -> "Deferred[SwiftResponse]":
        if request.path != "/crossdomain.xml" or request.method != "GET":
            return app(request)  # type: ignore[no-any-return]
        return succeed(SwiftResponse(200, {"Content-Type": "application/xml"}, self.document))


@implementer(IPlugin, IProxyPluginFactory)
class _CrossDomainFactory:
    name = "crossdomain"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> CrossDomain:
        context.register_info("crossdomain")
        return CrossDomain(conf.get("cross_domain_policy", DEFAULT_POLICY))


crossdomainPlugin = _CrossDomainFactory()
