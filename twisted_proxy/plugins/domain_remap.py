# -*- test-case-name: tests.test_domain_remap -*-
"""
The C{domain_remap} plugin: the account and container of a request named
by its C{Host}, as Swift 2.38.3's C{domain_remap} middleware reads them.

For a C{Host} under one of the storage domains (port aside),
C{<container>.<account>.<domain>} or C{<account>.<domain>}, the path
becomes C{/<path_root>/<account>[/<container>]<path>}: with the defaults,
C{GET /obj} on C{c.AUTH-test.example.com} is C{GET /v1/AUTH_test/c/obj}.
The C{Host} header stays as it is. More labels before the domain are a
C{400 Bad domain in host header}.

Browsers may lower the case of a host, and hostnames cannot hold C{_}: the
account's first C{-} becomes C{_} (when it has no C{_}), and a reseller
prefix of C{reseller_prefixes} matched in any case is written as listed
there. An account under none of them gets C{default_reseller_prefix} and
C{_} in front when one is set; otherwise the request is not remapped.
With C{reseller_prefixes} empty, accounts are taken as they are.

A C{Location} or C{Content-Location} of the response that is an absolute
URL of the remapped path is rewritten back to the path the client asked
for, so that redirects (the staticweb plugin's) stay on the client's host.

Options (Swift's): C{storage_domain} (C{example.com}; a comma separated
list), C{path_root} (C{v1}), C{reseller_prefixes} (C{AUTH}; comma
separated), C{default_reseller_prefix} (none), C{mangle_client_paths}
(false: the legacy C{c.a.example.com/v1/o} is C{/v1/AUTH_a/c/o} rather
than C{/v1/AUTH_a/c/v1/o}).

The plugin adds C{domain_remap} (C{default_reseller_prefix}) to C{/info}.
Put it before C{listing_formats}, as Swift says, and before the auth
plugin, which must see the remapped path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted_proxy.plugins._support.lazy import LazyPluginFactory, implementation_attribute

if TYPE_CHECKING:
    from twisted_proxy.plugins._lazy.domain_remap import DEFAULT_STORAGE_DOMAIN, DomainRemap

__all__ = ["DomainRemap", "domainRemapPlugin", "DEFAULT_STORAGE_DOMAIN"]

_CODE = "twisted_proxy.plugins._lazy.domain_remap"

domainRemapPlugin: LazyPluginFactory[DomainRemap] = LazyPluginFactory(
    "domain_remap", _CODE, "domainRemapPlugin")


def __getattr__(name: str) -> Any:
    return implementation_attribute(__name__, _CODE, name)
