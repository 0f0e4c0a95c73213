"""
Tests for L{twisted_proxy.endpoints}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.endpoints import client_endpoint
from twisted_proxy.info.redisstore import RedisSettings, _connect_txredisapi


class _NoLookups(MemoryReactorClock):
    """
    A memory reactor whose name resolver is never to be asked.
    """

    @property
    def nameResolver(self) -> Any:
        raise AssertionError("a name was looked up")

    @nameResolver.setter
    def nameResolver(self, value: Any) -> None:
        pass


class ClientEndpointTests(SynchronousTestCase):
    """
    L{client_endpoint} connects straight to address literals.
    """

    def test_ipv4(self) -> None:
        endpoint = client_endpoint(MemoryReactorClock(), "10.1.2.3", 6200, 0.5)
        self.assertIsInstance(endpoint, TCP4ClientEndpoint)
        self.assertEqual((endpoint._host, endpoint._port, endpoint._timeout),  # type: ignore
                         ("10.1.2.3", 6200, 0.5))

    def test_ipv6(self) -> None:
        """
        An IPv6 literal may come in brackets, as in a URL, or bare.
        """
        for host in ("[fd00::1]", "fd00::1"):
            endpoint = client_endpoint(MemoryReactorClock(), host, 6379, 2.0)
            self.assertIsInstance(endpoint, TCP6ClientEndpoint)
            self.assertEqual((endpoint._host, endpoint._port, endpoint._timeout),  # type: ignore
                             ("fd00::1", 6379, 2.0))

    def test_name(self) -> None:
        """
        A name is left to L{HostnameEndpoint}, which looks it up.
        """
        endpoint = client_endpoint(MemoryReactorClock(), "redis.example", 6379, 2.0)
        self.assertIsInstance(endpoint, HostnameEndpoint)

    def test_redisPoolByAddress(self) -> None:
        """
        A Redis pool at an address connects at once, every connection
        straight to it: no name lookup, which would take a thread of the
        reactor's pool for each of the pool's connections.
        """
        reactor = _NoLookups()
        _connect_txredisapi(reactor, RedisSettings(host="127.0.0.1", port=6390, pool_size=3),
                            1.0, 10.0)
        self.assertEqual([(host, port) for host, port, *_ in reactor.tcpClients],
                         [("127.0.0.1", 6390)] * 3)
