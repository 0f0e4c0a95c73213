# -*- test-case-name: tests.test_endpoints -*-
"""
Where to connect for a host and port: storage nodes (whose rings name
them by address) and Redis.

Twisted's L{HostnameEndpoint} resolves every host with C{getaddrinfo} in
the reactor's thread pool, address literals included: a thread (up to ten)
for each connection being made at once, and a lookup that can fail under
load for an address that needs none. L{client_endpoint} connects straight
to a literal and leaves only real names to L{HostnameEndpoint}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.interfaces import IStreamClientEndpoint

__all__ = ["client_endpoint"]


def client_endpoint(reactor: Any, host: str, port: int, timeout: float) -> IStreamClientEndpoint:
    """
    The endpoint for C{host:port}: a TCP endpoint straight to an IPv4 or
    IPv6 literal (in brackets or not), a L{HostnameEndpoint} for a name,
    which looks it up again for each connection (a name may move).

    @param reactor: the reactor to connect with.
    @param timeout: seconds a connection may take to be made.
    """
    address = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if isIPAddress(address):
        return TCP4ClientEndpoint(reactor, address, port, timeout=timeout)
    if isIPv6Address(address):
        return TCP6ClientEndpoint(reactor, address, port, timeout=timeout)
    return HostnameEndpoint(reactor, address, port, timeout=timeout)
