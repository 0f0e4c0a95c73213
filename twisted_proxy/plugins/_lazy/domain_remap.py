# -*- test-case-name: tests.test_domain_remap -*-
"""
The code of the C{domain_remap} plugin: see
L{twisted_proxy.plugins.domain_remap}, which declares it and imports this
module only when a pipeline runs it.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.plugin import IPlugin
from zope.interface import implementer

from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.swift.cors import split_list
from twisted_proxy.swift.http import (
    SwiftRequest,
    SwiftResponse,
    error_response,
    rewrite_locations,
    wire_quote,
)
from twisted_proxy.swift.truthy import is_true

__all__ = ["DomainRemap", "domainRemapPlugin", "DEFAULT_STORAGE_DOMAIN"]

DEFAULT_STORAGE_DOMAIN = "example.com"


@implementer(IProxyFilter)
class DomainRemap:
    """
    Rewrites the paths of requests whose C{Host} names an account (and
    container) under a storage domain.

    @param storage_domains: the domains, each with its leading C{.}.
    @param path_root: the path's first segment, without slashes.
    @param reseller_prefixes: the account prefixes, as spelled in the
        configuration.
    @param default_reseller_prefix: the prefix of accounts with none of
        them, or C{None}.
    @param mangle_client_paths: whether a path beginning with
        C{path_root} loses it.
    """

    def __init__(self, storage_domains: list[str], path_root: str = "v1",
                 reseller_prefixes: tuple[str, ...] = ("AUTH",),
                 default_reseller_prefix: Optional[str] = None,
                 mangle_client_paths: bool = False) -> None:
        self.storage_domains = storage_domains
        self.path_root = path_root
        self.reseller_prefixes = reseller_prefixes
        self._lower_prefixes = [prefix.lower() for prefix in reseller_prefixes]
        self.default_reseller_prefix = default_reseller_prefix
        self.mangle_client_paths = mangle_client_paths

    def __call__(self, request: SwiftRequest, app: IProxyApplication
                 ) -> "Deferred[SwiftResponse]":
        if not self.storage_domains:
            return app(request)  # type: ignore[no-any-return]
        host = request.headers.get("Host")
        if host is None:
            host = request.environ.get("SERVER_NAME", "")
        if ":" in host:
            host = host.rsplit(":", 1)[0]
        domain = next((d for d in self.storage_domains if host.endswith(d)), None)
        if domain is None:
            return app(request)  # type: ignore[no-any-return]
        labels = host[:-len(domain)].strip(".").split(".")
        if len(labels) == 2:
            container: Optional[str] = labels[0]
            account = labels[1]
        elif len(labels) == 1:
            container, account = None, labels[0]
        else:
            return succeed(error_response(400, "Bad domain in host header",
                                          method=request.method, content_type="text/plain"))
        found = self._account(account)
        if found is None:
            return app(request)  # type: ignore[no-any-return]
        requested = request.path
        path = requested[1:]
        root = self.path_root + "/"
        if self.mangle_client_paths and (path + "/").startswith(root):
            path = path[len(root):]
        new_path = "/".join(["", self.path_root, found]
                            + ([container] if container else []) + [path])
        request.path = new_path
        request.raw_path = wire_quote(new_path).encode("ascii")
        rewrite = _LocationRewrite(wire_quote(requested), wire_quote(new_path))
        return app(request).addCallback(rewrite)  # type: ignore[no-any-return]

    def _account(self, account: str) -> Optional[str]:
        """
        The account a host's label names, or C{None} when it is under no
        reseller prefix and there is no default one.
        """
        if not self.reseller_prefixes:
            return account
        if "_" not in account and "-" in account:
            account = account.replace("-", "_", 1)
        given = account.split("_", 1)[0].lower()
        if given in self._lower_prefixes:
            prefix = self.reseller_prefixes[self._lower_prefixes.index(given)]
            if not account.startswith(prefix):
                account = prefix + account[len(prefix):]
            return account
        if self.default_reseller_prefix:
            return f"{self.default_reseller_prefix}_{account}"
        return None


class _LocationRewrite:
    """
    Puts the client's path back into a response's absolute C{Location}
    and C{Content-Location} URLs of the remapped one.
    """

    def __init__(self, requested: str, remapped: str) -> None:
        self._requested = requested
        self._pattern = re.compile(r"(https?://[^/]+)%s(.*)" % re.escape(remapped))

    def __call__(self, response: SwiftResponse) -> SwiftResponse:
        rewrite_locations(response.headers, self._pattern,
                          lambda match: match.group(1) + self._requested + match.group(2))
        return response


@implementer(IPlugin, IProxyPluginFactory)
class _DomainRemapFactory:
    name = "domain_remap"

    def make_filter(self, conf: dict[str, Any], context: ProxyContext) -> DomainRemap:
        """
        @param conf: C{storage_domain}, C{path_root}, C{reseller_prefixes},
            C{default_reseller_prefix}, C{mangle_client_paths}.
        """
        domains = split_list(conf.get("storage_domain", DEFAULT_STORAGE_DOMAIN))
        # Each is matched with its leading dot; those given with one come
        # last, as Swift orders them.
        storage_domains = ["." + d for d in domains if not d.startswith(".")] + [
            d for d in domains if d.startswith(".")]
        default_prefix = conf.get("default_reseller_prefix")
        context.register_info("domain_remap", default_reseller_prefix=default_prefix)
        return DomainRemap(
            storage_domains,
            path_root=conf.get("path_root", "v1").strip("/"),
            reseller_prefixes=tuple(split_list(conf.get("reseller_prefixes", "AUTH"))),
            default_reseller_prefix=default_prefix,
            mangle_client_paths=is_true(conf.get("mangle_client_paths")))


domainRemapPlugin = _DomainRemapFactory()
