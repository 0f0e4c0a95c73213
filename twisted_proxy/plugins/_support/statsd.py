# -*- test-case-name: tests.test_metrics -*-
"""
Sending Swift's statsd metrics over UDP.

L{StatsdSender} is a service holding one UDP port (Twisted's
L{DatagramProtocol} through C{reactor.listenUDP}); a metric is one datagram
written without waiting, and dropped when it cannot be sent. Two users:

  - L{StatsdMetrics}, the proxy-server application's counters (error
    limiting, handoffs, client timeouts and disconnects), configured by
    C{[app:proxy-server]} over C{[DEFAULT]};
  - L{AccessStatsd}, C{proxy-logging}'s per-request timings and transfer
    counters, configured by its filter section (C{access_log_statsd_*}
    first).
"""

from __future__ import annotations

from typing import Any, Container, Iterable, Optional

from twisted.application.service import Service
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_proxy.swift.metrics import NullMetrics
from twisted_proxy.swift.statsd import StatsdClient, StatsdConf

__all__ = ["DEFAULT_VALID_METHODS", "AccessStatsd", "StatsdMetrics", "StatsdSender", "statsd_for"]

_log = Logger()

#: Swift's C{log_statsd_valid_http_methods}: other methods are named
#: C{BAD_METHOD}.
DEFAULT_VALID_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "COPY", "OPTIONS", "UPDATE")


class StatsdSender(Service):
    """
    Sends datagrams to one statsd server from a UDP port of its own, open
    while the service runs. A host name is resolved (without blocking) when
    the service starts; datagrams sent before it is known, or while the
    service is stopped, are dropped, as are those the kernel will not take
    at once: metrics never hold up a request.

    @param reactor: an L{IReactorUDP} and L{IReactorCore} provider.
    """

    def __init__(self, reactor: Any, host: str, port: int) -> None:
        self._reactor = reactor
        self.host = host
        self.port = port
        self._protocol = DatagramProtocol()
        self._listening: Optional[IListeningPort] = None
        self.address: Optional[tuple[str, int]] = None
        self.dropped = 0

    def startService(self) -> None:
        super().startService()
        interface = "::" if isIPv6Address(self.host) else ""
        self._listening = self._reactor.listenUDP(0, self._protocol, interface=interface)
        if isIPAddress(self.host) or isIPv6Address(self.host):
            self.address = (self.host, self.port)
        else:
            self._reactor.resolve(self.host).addCallbacks(self._resolved, self._unresolved)

    def _resolved(self, ip: str) -> None:
        if self.running:
            self.address = (ip, self.port)

    def _unresolved(self, failure: Failure) -> None:
        _log.warn("statsd host {host!r} cannot be resolved: {why}; no metrics sent",
                  host=self.host, why=failure.getErrorMessage())

    def stopService(self) -> Any:
        super().stopService()
        listening, self._listening = self._listening, None
        self.address = None
        if listening is not None:
            return listening.stopListening()
        return None

    def send(self, datagram: bytes) -> None:
        """
        Send C{datagram} now, or drop it.
        """
        transport = self._protocol.transport
        if self.address is None or transport is None:
            self.dropped += 1
            return
        try:
            transport.write(datagram, self.address)
        except Exception:
            # A full socket buffer, an unreachable network: a lost metric.
            self.dropped += 1


class StatsdMetrics(NullMetrics):
    """
    The proxy-server application's statsd counters, under Swift's names
    (after the C{proxy-server.} prefix):

      - C{error_limiter.incremented_limit}: an error left a node error
        limited; C{error_limiter.forced_limit}: a node was limited at once
        (507); C{error_limiter.is_limited}: a limited node was skipped;
      - C{<type>.handoff_count}, C{<type>.handoff_all_count}
        (C{log_handoffs});
      - C{<type>.client_timeouts}, C{<type>.client_disconnects};
      - C{<type>.info.infocache.hit} (account or container info the
        request had already), C{<type>.info.cache.hit} (from the info
        store), C{<type>.info.cache.<state>.<status>} (asked of the storage
        nodes, which answered C{<status>}; C{<state>} is C{miss} or C{skip}).
    """

    def __init__(self, client: StatsdClient) -> None:
        self.client = client

    def node_error_limited(self, node: str, forced: bool) -> None:
        self.client.increment(
            "error_limiter.forced_limit" if forced else "error_limiter.incremented_limit")

    def node_skipped(self, node: str) -> None:
        self.client.increment("error_limiter.is_limited")

    def handoff(self, server_type: str, all_handoffs: bool) -> None:
        self.client.increment(f"{server_type}.handoff_count")
        if all_handoffs:
            self.client.increment(f"{server_type}.handoff_all_count")

    def client_timeout(self, server_type: str) -> None:
        self.client.increment(f"{server_type}.client_timeouts")

    def client_disconnect(self, server_type: str) -> None:
        self.client.increment(f"{server_type}.client_disconnects")

    def info_cache(self, server_type: str, state: str, status: Optional[int]) -> None:
        if state == "infocache_hit":
            self.client.increment(f"{server_type}.info.infocache.hit")
        elif status is None:
            self.client.increment(f"{server_type}.info.cache.{state}")
        else:
            self.client.increment(f"{server_type}.info.cache.{state}.{status}")


class AccessStatsd(NullMetrics):
    """
    C{proxy-logging}'s statsd metrics for one request, as Swift names them
    (after C{proxy-server.}):

      - C{<type>.<verb>.<status>.timing}: milliseconds from the request's
        start to its end (the logged status);
      - C{<type>.<verb>.<status>.xfer}: request plus response body bytes;
      - C{<type>.GET.<status>.first-byte.timing}: milliseconds until a
        GET's response headers went out (the status sent);
      - for an object request with an existing storage policy, the same
        again as C{object.policy.<index>.<verb>.<status>...}.

    The verb is C{BAD_METHOD} for a method not in C{valid_methods}.

    @param policies: the storage policy indexes that exist (as C{str}).
    """

    def __init__(self, client: StatsdClient, policies: Container[str],
                 valid_methods: Iterable[str] = DEFAULT_VALID_METHODS) -> None:
        self.client = client
        self._policies = policies
        self._methods = frozenset(valid_methods)

    def _names(self, kind: str, method: str, status: int,
               policy: Optional[str]) -> list[str]:
        verb = method if method in self._methods else "BAD_METHOD"
        names = [f"{kind}.{verb}.{status}"]
        if kind == "object" and policy is not None and policy in self._policies:
            names.append(f"{kind}.policy.{policy}.{verb}.{status}")
        return names

    def request_finished(self, kind: str, method: str, status: int, policy: Optional[str],
                         seconds: float, bytes_in: int, bytes_out: int) -> None:
        for name in self._names(kind, method, status, policy):
            self.client.timing(name + ".timing", seconds * 1000)
            self.client.update_stats(name + ".xfer", bytes_in + bytes_out)

    def first_byte(self, kind: str, method: str, status: int, policy: Optional[str],
                   seconds: float) -> None:
        for name in self._names(kind, method, status, policy):
            self.client.timing(name + ".first-byte.timing", seconds * 1000)


def statsd_for(reactor: Any, conf: StatsdConf, services: Any) -> StatsdClient:
    """
    A L{StatsdClient} sending through a new L{StatsdSender} attached to
    C{services} (an L{IServiceCollection}), with the C{proxy-server} tail
    prefix Swift's proxy uses.
    """
    sender = StatsdSender(reactor, conf.host, conf.port)
    sender.setServiceParent(services)
    return StatsdClient(conf, "proxy-server", sender.send)
