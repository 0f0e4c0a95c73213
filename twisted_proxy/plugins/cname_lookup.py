# -*- test-case-name: tests.test_cname_lookup,tests.e2e.test_cname_lookup -*-
"""
The C{cname_lookup} plugin: a request for a customer's own domain, a DNS
alias (C{CNAME}) of a name in the cluster's storage domain, is served as a
request for that name, as Swift 2.38.3's C{cname_lookup} middleware.

When the request's host (its C{Host} header, else the server's name) is
neither an IP address nor in one of the C{storage_domain}s, its C{CNAME} is
looked up in DNS, and that name's, up to C{lookup_depth} names, until one is
in a storage domain: the request's C{Host} becomes that name (its port
kept), and C{Location} and C{Content-Location} response headers naming it
are given back the requested host. A name with no C{CNAME} (or an alias of
itself, or a failed lookup) gets C{400 CNAME lookup failed to resolve to a
valid domain}; a chain longer than C{lookup_depth}, C{400 CNAME lookup
failed after N tries}. Only the C{Host} changes: C{domain_remap}, after
this plugin in the pipeline, then reads the container and account from it.

Lookups go through Twisted's DNS client (L{twisted.names.client}), never
blocking the reactor, to the C{nameservers} given or to those of
C{/etc/resolv.conf}, each in at most L{DNS_LIFETIME} seconds in all. What
they find is kept in the info store (memory, or the Redis shared by every
proxy, as Swift keeps it in memcache) under C{cname-<name>}: a found name
for its record's TTL, the absence of one for 60 seconds; failures are not
kept.

Options: C{storage_domain} (comma-separated; C{example.com}),
C{lookup_depth} (1), C{nameservers} (comma-separated IPv4 or IPv6
addresses, each with an optional port: C{127.0.0.1}, C{127.0.0.2:5353},
C{[::1]:5353}; the system's by default). The plugin adds C{cname_lookup}
(C{lookup_depth}) to C{/info}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted_proxy.plugins._support.lazy import LazyPluginFactory, implementation_attribute

if TYPE_CHECKING:
    from twisted_proxy.plugins._lazy.cname_lookup import (
        DNS_LIFETIME,
        CNAMELookup,
        lookup_cname,
        make_resolver,
        parse_nameservers,
        storage_domains,
    )

__all__ = [
    "CNAMELookup",
    "cnameLookupPlugin",
    "DNS_LIFETIME",
    "lookup_cname",
    "make_resolver",
    "parse_nameservers",
    "storage_domains",
]

_CODE = "twisted_proxy.plugins._lazy.cname_lookup"

cnameLookupPlugin: LazyPluginFactory[CNAMELookup] = LazyPluginFactory(
    "cname_lookup", _CODE, "cnameLookupPlugin")


def __getattr__(name: str) -> Any:
    return implementation_attribute(__name__, _CODE, name)
