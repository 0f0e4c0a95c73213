# -*- test-case-name: tests.test_cname_lookup,tests.e2e.test_cname_lookup -*-
"""
The code of the C{cname_lookup} plugin: see
L{twisted_proxy.plugins.cname_lookup}, which declares it and imports this
module only when a pipeline runs it.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Optional, Union

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime, IResolver
from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import implementer

from twisted_proxy.config import ConfigError, int_option
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.interfaces import (
    IInfoStore,
    IProxyApplication,
    IProxyFilter,
    IProxyPluginFactory,
)
from twisted_proxy.swift.http import (
    SwiftRequest,
    SwiftResponse,
    error_response,
    rewrite_locations,
    str_to_wsgi,
    wsgi_to_str,
)
from twisted_proxy.swift.ipaddrs import is_valid_ip, parse_socket_string

__all__ = [
    "CNAMELookup",
    "cnameLookupPlugin",
    "DNS_LIFETIME",
    "lookup_cname",
    "make_resolver",
    "parse_nameservers",
    "storage_domains",
]

_log = Logger()

#: Where a name server listens unless C{nameservers} says otherwise.
_DNS_PORT = 53

#: Seconds one lookup may take in all (dnspython's default lifetime, which
#: Swift's lookups have).
DNS_LIFETIME = 5.0

#: Seconds after which a query is sent again (to the next nameserver), as
#: Twisted's client takes them.
_QUERY_TIMEOUTS = (2, 3)

#: Seconds the absence of a CNAME is kept.
_NEGATIVE_TTL = 60

_CACHE_PREFIX = "cname-"

_NAMESERVERS_ERROR = (
    "[filter:{name}] nameservers: Invalid cname_lookup/nameservers configuration found. "
    "All nameservers must be valid IPv4 or IPv6, followed by an optional :<integer> port.")

#: What a lookup found: the name, C{False} for none, C{None} when it failed.
Found = Union[str, bool, None]


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def storage_domains(value: str) -> list[str]:
    """
    The C{storage_domain} option's domains, each with a leading dot.
    """
    items = _csv(value)
    return (["." + item for item in items if not item.startswith(".")]
            + [item for item in items if item.startswith(".")])


def parse_nameservers(value: str, filter_name: str = "cname_lookup"
                      ) -> list[tuple[str, int]]:
    """
    The C{nameservers} option's servers as C{(address, port)}, port 53 by
    default.

    @raise ConfigError: unless each is an IPv4 or IPv6 address (the latter
        in brackets when a port follows) with an optional port.
    """
    servers = []
    for item in _csv(value):
        try:
            host, port = parse_socket_string(item, None)
            number = _DNS_PORT if port is None else int(port)
        except ValueError:
            raise ConfigError(_NAMESERVERS_ERROR.format(name=filter_name)) from None
        if not is_valid_ip(host) or not 0 < number < 65536:
            raise ConfigError(_NAMESERVERS_ERROR.format(name=filter_name))
        servers.append((host, number))
    return servers


def make_resolver(nameservers: list[tuple[str, int]], reactor: object) -> IResolver:
    """
    Twisted's DNS client for C{nameservers}, or for the system's
    (C{/etc/resolv.conf}, read again when it changes) when there are none.
    """
    # Imported here, as in lookup_cname: plugin discovery imports this
    # module in every proxy process, most of which never look a name up.
    from twisted.names import client

    if nameservers:
        return client.Resolver(servers=nameservers, reactor=reactor)
    return client.Resolver(resolv="/etc/resolv.conf", reactor=reactor)


async def lookup_cname(resolver: IResolver, clock: IReactorTime, name: str
                       ) -> tuple[int, Found]:
    """
    C{(ttl, found)} for the C{CNAME} of C{name}: the name it is an alias of
    (for its record's TTL), C{False} when it has none (for 60 seconds), or
    C{None} when the lookup failed or took more than L{DNS_LIFETIME}
    seconds (not to be kept: TTL 0).
    """
    from twisted.names import dns
    from twisted.names.error import DNSNameError

    try:
        query = resolver.lookupCanonicalName(name, _QUERY_TIMEOUTS)
        result: Any = await query.addTimeout(DNS_LIFETIME, clock)
        answers: list[dns.RRHeader] = result[0]
    except DNSNameError:
        return _NEGATIVE_TTL, False
    except Exception as error:
        # Whatever the resolver failed with (no answer in time, a server
        # error, a name DNS cannot carry), there is no answer.
        _log.debug("CNAME lookup of {name!r} failed: {error}", name=name, error=error)
        return 0, None
    # The records name what was asked in DNS's own (IDNA) form.
    wanted = dns.domainString(name).decode("ascii").lower().rstrip(".")
    for record in answers:
        if record.type == dns.CNAME and str(record.name).lower().rstrip(".") == wanted:
            payload: Any = record.payload
            return record.ttl, str(payload.name).rstrip(".")
    return _NEGATIVE_TTL, False


def _restore_host(response: SwiftResponse, requested: str, rewritten: str) -> None:
    """
    Give back the requested host to C{Location} and C{Content-Location}
    headers that name the host the request was rewritten to.
    """
    pattern = re.compile(r"(https?://)%s(/.*)?" % re.escape(rewritten))
    rewrite_locations(response.headers, pattern,
                      lambda match: match.group(1) + requested + (match.group(2) or ""))


@implementer(IProxyFilter)
class CNAMELookup:
    """
    Rewrites the C{Host} of requests for aliases of storage domain names.

    @param clock: for the lookups' time limit.
    @param resolver: Twisted's DNS client (see L{make_resolver}), or a
        test's stand-in.
    @param domains: the storage domains, each with a leading dot (see
        L{storage_domains}).
    @param lookup_depth: the most names of a CNAME chain looked up.
    @param store: where lookups are kept, or C{None} not to keep them.
    """

    def __init__(self, clock: IReactorTime, resolver: IResolver,
                 domains: Iterable[str], lookup_depth: int = 1,
                 store: Optional[IInfoStore] = None) -> None:
        self._clock = clock
        self._resolver = resolver
        self._domains = tuple(domains)
        self._depth = lookup_depth
        self._store = store

    def __call__(self, request: SwiftRequest, app: IProxyApplication
                 ) -> "Deferred[SwiftResponse]":
        if not self._domains:
            return app(request)  # type: ignore[no-any-return]
        if "Host" in request.headers:
            requested = request.headers["Host"]
        else:
            requested = request.environ.get("SERVER_NAME", "")
        domain = wsgi_to_str(requested)
        # Swift looks up "[::1]:8080" as the name "[::1]" (and fails): an
        # IPv6 address in brackets is an address here.
        if domain.startswith("[") and is_valid_ip(domain[1:].split("]", 1)[0]):
            return app(request)  # type: ignore[no-any-return]
        port = ""
        if ":" in domain:
            domain, port = domain.rsplit(":", 1)
        if is_valid_ip(domain) or self._in_storage_domain(domain):
            return app(request)  # type: ignore[no-any-return]
        return Deferred.fromCoroutine(self._remap(request, app, requested, domain, port))

    def _in_storage_domain(self, domain: str) -> bool:
        return ("." + domain).endswith(self._domains)

    async def _remap(self, request: SwiftRequest, app: IProxyApplication, requested: str,
                     given: str, port: str) -> SwiftResponse:
        name = given
        found: Found = None
        for _ in range(self._depth):
            found = await self._cname(name)
            if not found or found == name:
                found = None
                break
            assert isinstance(found, str)
            if self._in_storage_domain(found):
                _log.info("Mapped {given} to {found}", given=given, found=found)
                host = str_to_wsgi(found) + (f":{port}" if port else "")
                request.headers["Host"] = host
                request.environ["HTTP_HOST"] = host
                response: SwiftResponse = await app(request)
                _restore_host(response, requested, host)
                return response
            _log.debug("Following CNAME chain for {given} to {found}",
                       given=given, found=found)
            name = found
        if found:
            message = f"CNAME lookup failed after {self._depth} tries"
        else:
            message = "CNAME lookup failed to resolve to a valid domain"
        return error_response(400, message, method=request.method, content_type="text/plain")

    async def _cname(self, name: str) -> Found:
        """
        What C{name} is an alias of: known to the store, else looked up
        (and then kept, unless the lookup failed).
        """
        key = _CACHE_PREFIX + name
        if self._store is not None:
            kept = await self._store.get(key)
            if kept is not None:
                return kept  # type: ignore[no-any-return]
        ttl, found = await lookup_cname(self._resolver, self._clock, name)
        if self._store is not None and ttl > 0:
            await self._store.set(key, found, ttl)
        return found


@implementer(IPlugin, IProxyPluginFactory)
class _CNAMELookupFactory:
    name = "cname_lookup"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> CNAMELookup:
        """
        @param conf: C{storage_domain}, C{lookup_depth}, C{nameservers}.
        @param context: provides C{reactor}, C{info_store} and
            C{register_info}.
        @raise ConfigError: for a C{lookup_depth} that is not a positive
            integer, or C{nameservers} that are not IP addresses.
        """
        depth = int_option(conf, "cname_lookup", "lookup_depth", 1, minimum=1)
        servers = parse_nameservers(conf.get("nameservers", ""))
        context.register_info("cname_lookup", lookup_depth=depth)
        return CNAMELookup(context.reactor, make_resolver(servers, context.reactor),
                           storage_domains(conf.get("storage_domain", "example.com")),
                           depth, context.info_store)


cnameLookupPlugin = _CNAMELookupFactory()
