# -*- test-case-name: tests.test_nodeclient -*-
"""
Talking to storage nodes: one HTTP request to one node, with Swift's
connect and node timeouts, over pooled persistent connections.

The client sends through a Twisted L{Agent} with an L{HTTPConnectionPool}
rather than L{treq.request}: treq always wraps its agent in a
L{ContentDecoderAgent}, which would ask for and transparently gunzip a stored
C{Content-Encoding: gzip} object, corrupting what the proxy relays. Bodies
are read with treq's helpers (L{treq.content}), and tests drive the client
with treq's in-memory L{treq.testing.RequestTraversalAgent}.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.error import ConnectingCancelledError
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.python.failure import Failure
from twisted.web.client import URI, HTTPConnectionPool
from twisted.web.error import SchemeNotSupported
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IAgentEndpointFactory, IBodyProducer, IResponse
from zope.interface import implementer

from twisted_proxy._twisted import NodeAgent, NodeConnectionPool, NodeTarget, fill_headers
from twisted_proxy.endpoints import client_endpoint
from twisted_proxy.interfaces import IMetrics, INodeClient
from twisted_proxy.swift.http import HeaderDict
from twisted_proxy.swift.metrics import NULL_METRICS, records
from twisted_proxy.swift.ring import Node

__all__ = [
    "NodeClient",
    "NodeEndpointFactory",
    "NodeError",
    "NodeTimeout",
    "node_key",
    "response_headers",
    "make_pool",
]


class NodeError(Exception):
    """
    A storage node could not be reached, or did not answer in time.

    @ivar node: the ring device C{dict}.
    """

    def __init__(self, node: Node, reason: str) -> None:
        super().__init__(f"{node_key(node)}: {reason}")
        self.node = node
        self.reason = reason


class NodeTimeout(NodeError):
    """
    A node did not send its response headers within the timeout.
    """


def node_key(node: Node) -> str:
    """
    The identity of a node for error limiting and logs: C{ip:port/device}.
    """
    return f"{node['ip']}:{node['port']}/{node['device']}"


def response_headers(response: IResponse) -> HeaderDict:
    """
    A backend response's headers as a L{HeaderDict} (last value wins).
    """
    return HeaderDict.from_wire_values(response.headers.getAllRawHeaders())


def make_pool(reactor: Any, per_host: int = 20) -> HTTPConnectionPool:
    """
    A persistent connection pool for storage nodes.

    Its connections log at info level as they start and stop, and skip each
    C{100 Continue} with another info line; the process's log observer
    drops those (L{twisted_proxy._twisted.quiet_observer}).
    """
    pool = NodeConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = per_host
    pool.cachedConnectionTimeout = 120
    pool.retryAutomatically = False
    return pool


@implementer(IAgentEndpointFactory)
class NodeEndpointFactory:
    """
    Where an L{Agent} connects for a storage node's C{http} URL: straight
    to the address when the host is an IPv4 or IPv6 literal, as a ring's
    devices are (L{TCP4ClientEndpoint}, L{TCP6ClientEndpoint}); only a real
    host name is resolved (L{HostnameEndpoint}). Twisted's own factory
    resolves every host, literals included, with C{getaddrinfo} in the
    reactor's thread pool: one lookup for every new connection, and one
    that can fail under load for an address that needs none.

    @param reactor: the reactor to connect with.
    @param connect_timeout: seconds a connection may take to be made.
    """

    def __init__(self, reactor: Any, connect_timeout: float) -> None:
        self._reactor = reactor
        self._timeout = connect_timeout
        self._literals: dict[tuple[bytes, int], IStreamClientEndpoint] = {}

    def endpointForURI(self, uri: URI) -> IStreamClientEndpoint:
        """
        The endpoint for C{uri}'s host and port.

        @raise SchemeNotSupported: for a scheme other than C{http}.
        """
        if uri.scheme != b"http":
            raise SchemeNotSupported(f"Unsupported scheme: {uri.scheme!r}")
        key = (uri.host, uri.port)
        endpoint = self._literals.get(key)
        if endpoint is not None:
            return endpoint
        endpoint = client_endpoint(self._reactor, uri.host.decode("ascii"), uri.port,
                                   self._timeout)
        if isinstance(endpoint, HostnameEndpoint):
            # A name may resolve elsewhere later: looked up for each
            # connection, never kept.
            return endpoint
        # An address literal's endpoint holds nothing but the address: the
        # same one serves every connection to it.
        self._literals[key] = endpoint
        return endpoint


#: The most node addresses a L{NodeClient} keeps parsed (a ring has far
#: fewer).
_MAX_TARGETS = 4096


@implementer(INodeClient)
class NodeClient:
    """
    Sends requests to storage nodes.

    @param reactor: the reactor for connections and timeouts.
    @param agent: the L{IAgent} to send through; by default a L{NodeAgent}
        over C{pool} connecting through a L{NodeEndpointFactory} with
        C{conn_timeout} as its connect timeout, which is given each node's
        address parsed once rather than a URL to parse per request.
    @param node_timeout: seconds a node may take to send response headers.
    @param metrics: told of each request's status, or of its failure
        (not of a cancelled one: that is the client's going).
    """

    def __init__(
        self,
        reactor: IReactorTime,
        node_timeout: float,
        conn_timeout: float,
        agent: Optional[IAgent] = None,
        pool: Optional[HTTPConnectionPool] = None,
        metrics: IMetrics = NULL_METRICS,
    ) -> None:
        self._reactor = reactor
        self.metrics = metrics
        self.node_timeout = node_timeout
        self.conn_timeout = conn_timeout
        if agent is None:
            if pool is None:
                pool = make_pool(reactor)
            agent = NodeAgent.usingEndpointFactory(
                reactor, NodeEndpointFactory(reactor, conn_timeout), pool=pool)
        self._agent = agent
        self._direct = agent if isinstance(agent, NodeAgent) else None
        self._targets: dict[tuple[Any, Any], NodeTarget] = {}
        self.pool = pool

    def close(self) -> "Deferred[None]":
        """
        Close the idle persistent connections of the pool, and cancel their
        idle timers. A connection still carrying a request is left to it.

        @return: a L{Deferred} firing with C{None} once those connections
            are closed (at once without a pool of this client's own).
        """
        if self.pool is None:
            return succeed(None)
        return self.pool.closeCachedConnections()  # type: ignore[no-any-return]

    def request(
        self,
        node: Node,
        method: str,
        path: str,
        headers: HeaderDict,
        bodyProducer: Optional[IBodyProducer] = None,
        timeout: Optional[float] = None,
    ) -> "Deferred[IResponse]":
        """
        See L{INodeClient.request}; a C{timeout} of 0 or less sets no
        timer, for a caller that bounds the request itself.
        """
        raw = Headers()
        fill_headers(raw, headers.items())
        direct = self._direct
        if direct is not None and path.startswith("/") and "#" not in path:
            where = (node["ip"], node["port"])
            target = self._targets.get(where)
            if target is None:
                target = direct.target(_host(node).encode("latin-1"), int(node["port"]))
                if len(self._targets) < _MAX_TARGETS:
                    self._targets[where] = target
            d = direct.request_to(target, method.encode("ascii"), path.encode("latin-1"),
                                  raw, bodyProducer)
        else:
            url = f"http://{_host(node)}:{node['port']}{path}".encode("latin-1")
            d = self._agent.request(method.encode("ascii"), url, raw, bodyProducer)
        if timeout is None:
            timeout = self.node_timeout
        if timeout <= 0:
            # The caller bounds this request itself (an upload, whose
            # answer only comes once its whole body went out).
            return self._counted(d.addErrback(_translate, node, None), node, method)
        expired: list[float] = []

        def expire() -> None:
            expired.append(timeout)
            d.cancel()

        call = self._reactor.callLater(timeout, expire)

        def done(result: Any) -> Any:
            if call.active():
                call.cancel()
            return result

        d.addBoth(done)
        d.addErrback(lambda failure: _translate(failure, node, expired[0] if expired else None))
        return self._counted(d, node, method)

    def _counted(self, d: "Deferred[IResponse]", node: Node, method: str
                 ) -> "Deferred[IResponse]":
        """
        C{d}, reporting its outcome to C{metrics}.
        """
        metrics = self.metrics
        if not records(metrics):
            return d
        key = node_key(node)

        def answered(response: IResponse) -> IResponse:
            metrics.backend_request(key, method, response.code)
            return response

        def failed(failure: Failure) -> Failure:
            if failure.check(NodeError):
                metrics.backend_request(key, method, None)
            return failure

        return d.addCallbacks(answered, failed)


def _translate(failure: Failure, node: Node, timed_out: Optional[float]) -> Any:
    """
    A failed request as the controllers see it: L{NodeTimeout} when our
    timer fired, L{CancelledError} when the caller gave up (its client went
    away: not the node's fault), L{NodeError} for anything else.
    """
    if timed_out is not None:
        raise NodeTimeout(node, f"no response within {timed_out}s")
    if _cancelled(failure):
        raise CancelledError()
    raise NodeError(node, failure.getErrorMessage() or repr(failure.value))


def _cancelled(failure: Failure) -> bool:
    """
    Whether C{failure} is a cancellation: L{Agent} reports one made while
    connecting as L{ConnectingCancelledError}, and one made after the
    request was sent as a L{twisted.web.client.ResponseNeverReceived} (or
    another of its wrapping exceptions) holding a L{CancelledError}.
    """
    if failure.check(CancelledError, ConnectingCancelledError):
        return True
    reasons = getattr(failure.value, "reasons", None) or []
    return any(
        isinstance(reason, Failure) and reason.check(CancelledError) is not None
        for reason in reasons
    )


def _host(node: Node) -> str:
    ip = str(node["ip"])
    if ":" in ip and not ip.startswith("["):
        return f"[{ip}]"
    return ip
