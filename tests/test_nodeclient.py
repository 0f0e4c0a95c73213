"""
Tests for L{twisted_proxy.backend.nodeclient}.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, cast

from treq.testing import RequestTraversalAgent
from twisted.internet.defer import CancelledError, Deferred, fail
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.error import (
    ConnectingCancelledError,
    ConnectionRefusedError,
    TimeoutError,
)
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import URI, HTTPConnectionPool
from twisted.web.error import SchemeNotSupported
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IBodyProducer, IResponse
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.doubles import make_node
from twisted_proxy.backend.content import read_body
from twisted_proxy.backend.nodeclient import (
    NodeClient,
    NodeEndpointFactory,
    NodeError,
    NodeTimeout,
    make_pool,
    node_key,
    response_headers,
)
from twisted_proxy.interfaces import INodeClient
from twisted_proxy.swift.http import BytesBody, HeaderDict

NODE = make_node("10.1.2.3", 6200, "sdb1")


class FakeStorageNode(Resource):
    """
    A storage node that records each request and answers with C{status},
    C{headers} and C{body}, or holds the request open when C{hold} is set.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.headers: dict[bytes, list[bytes]] = {}
        self.body = b""
        self.hold = False
        self.held: list[Request] = []

    def render(self, request: Request) -> Any:
        assert request.content is not None
        self.requests.append(
            {
                "method": request.method,
                "uri": request.uri,
                "headers": request.requestHeaders,
                "body": request.content.read(),
            }
        )
        if self.hold:
            self.held.append(request)
            return NOT_DONE_YET
        request.setResponseCode(self.status)
        for name, values in self.headers.items():
            request.responseHeaders.setRawHeaders(name, values)
        return self.body


@implementer(IAgent)
class FakeAgent:
    """
    An agent that records requests and answers each with a Deferred it
    keeps (never firing unless the test fires it). Cancelling one counts
    the cancellation and calls C{onCancel} with it, which may fire it as a
    real agent would.
    """

    def __init__(self, result: Optional[Any] = None) -> None:
        self.requests: list[tuple[bytes, bytes, Headers, Any]] = []
        self.deferreds: list[Deferred[IResponse]] = []
        self.cancelled = 0
        self.onCancel: Optional[Callable[[Deferred[IResponse]], None]] = None
        self._result = result

    def request(
        self,
        method: bytes,
        uri: bytes,
        headers: Optional[Headers] = None,
        bodyProducer: Optional[IBodyProducer] = None,
    ) -> "Deferred[IResponse]":
        assert headers is not None
        self.requests.append((method, uri, headers, bodyProducer))
        if self._result is not None:
            return self._result()  # type: ignore[no-any-return]

        def cancel(d: Deferred[IResponse]) -> None:
            self.cancelled += 1
            if self.onCancel is not None:
                self.onCancel(d)

        d: Deferred[IResponse] = Deferred(cancel)
        self.deferreds.append(d)
        return d


class NodeClientTraversalTests(SynchronousTestCase):
    """
    L{NodeClient} against an in-memory storage node.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.node = FakeStorageNode()
        self.agent = RequestTraversalAgent(self.node)
        self.client = NodeClient(self.clock, 10, 0.5, agent=self.agent)

    def test_interface(self) -> None:
        """
        L{NodeClient} provides L{INodeClient}.
        """
        self.assertTrue(verifyObject(INodeClient, self.client))

    def test_get(self) -> None:
        """
        A request reaches the node with its method, path and headers; the
        response comes back with its body unread, and the timeout is
        cancelled.
        """
        self.node.headers = {b"X-Object-Meta-Color": [b"blue"]}
        self.node.body = b"hello"
        d = self.client.request(
            NODE, "GET", "/sdb1/12/a/c/o", HeaderDict({"X-Trans-Id": "tx1"})
        )
        response = self.successResultOf(d)
        self.assertEqual(response.code, 200)
        self.assertEqual(response_headers(response)["x-object-meta-color"], "blue")
        self.assertEqual(self.successResultOf(read_body(response)), b"hello")
        [seen] = self.node.requests
        self.assertEqual(seen["method"], b"GET")
        self.assertEqual(seen["uri"], b"/sdb1/12/a/c/o")
        self.assertEqual(seen["headers"].getRawHeaders(b"x-trans-id"), [b"tx1"])
        self.assertEqual(seen["headers"].getRawHeaders(b"host"), [b"10.1.2.3:6200"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_errorStatus(self) -> None:
        """
        An error status is a response, not a L{NodeError}.
        """
        self.node.status = 507
        response = self.successResultOf(
            self.client.request(NODE, "HEAD", "/sdb1/1/a", HeaderDict())
        )
        self.assertEqual(response.code, 507)

    def test_headerBytes(self) -> None:
        """
        Header values are WSGI strings: each character is sent as one byte,
        so UTF-8 metadata passes through unchanged.
        """
        value = "caf\u00c3\u00a9"  # the UTF-8 bytes of "café", WSGI-decoded
        self.successResultOf(
            self.client.request(
                NODE, "POST", "/sdb1/1/a/c/o", HeaderDict({"X-Object-Meta-Name": value})
            )
        )
        [seen] = self.node.requests
        self.assertEqual(
            seen["headers"].getRawHeaders(b"x-object-meta-name"), [b"caf\xc3\xa9"]
        )

    def test_responseHeaderBytes(self) -> None:
        """
        L{response_headers} decodes header bytes as latin-1, one character a
        byte, and keeps the last of repeated headers.
        """
        self.node.headers = {b"X-Object-Meta-Name": [b"caf\xc3\xa9"], b"X-Dup": [b"1", b"2"]}
        response = self.successResultOf(
            self.client.request(NODE, "HEAD", "/sdb1/1/a/c/o", HeaderDict())
        )
        headers = response_headers(response)
        self.assertEqual(headers["X-Object-Meta-Name"], "caf\u00c3\u00a9")
        self.assertEqual(headers["X-Dup"], "2")

    def test_quotedPath(self) -> None:
        """
        The path is sent as given: percent-quoting is the caller's.
        """
        self.successResultOf(
            self.client.request(NODE, "GET", "/sdb1/1/a/c/o%20x%E2%82%AC", HeaderDict())
        )
        self.assertEqual(self.node.requests[0]["uri"], b"/sdb1/1/a/c/o%20x%E2%82%AC")

    def test_put(self) -> None:
        """
        A body producer's bytes reach the node.
        """
        self.node.status = 201
        response = self.successResultOf(
            self.client.request(
                NODE, "PUT", "/sdb1/1/a/c/o", HeaderDict(), BytesBody(b"data")
            )
        )
        self.assertEqual(response.code, 201)
        self.assertEqual(self.node.requests[0]["body"], b"data")
        self.assertEqual(
            self.node.requests[0]["headers"].getRawHeaders(b"content-length"), [b"4"]
        )

    def test_ipv6Host(self) -> None:
        """
        An IPv6 node is reached with a bracketed host.
        """
        node = make_node("fe80::1", 6201, "d")
        self.successResultOf(self.client.request(node, "GET", "/d/1/a", HeaderDict()))
        self.assertEqual(
            self.node.requests[0]["headers"].getRawHeaders(b"host"), [b"[fe80::1]:6201"]
        )

    def test_timeoutWhileServerHolds(self) -> None:
        """
        A node that takes longer than C{node_timeout} to answer gives a
        L{NodeTimeout}.
        """
        self.node.hold = True
        d = self.client.request(NODE, "GET", "/sdb1/1/a", HeaderDict())
        self.agent.flush()
        self.assertEqual(len(self.node.held), 1)
        self.clock.advance(9.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        failure = self.failureResultOf(d, NodeTimeout)
        self.assertIsInstance(failure.value, NodeError)
        self.assertEqual(failure.value.node, NODE)
        self.assertIn("10.1.2.3:6200/sdb1", str(failure.value))

    def test_answerBeforeTimeout(self) -> None:
        """
        A held request answered before the timeout succeeds, and the timeout
        no longer fires.
        """
        self.node.hold = True
        d = self.client.request(NODE, "GET", "/sdb1/1/a", HeaderDict())
        self.agent.flush()
        self.clock.advance(5)
        [request] = self.node.held
        request.setResponseCode(204)
        request.finish()
        self.agent.flush()
        self.assertEqual(self.successResultOf(d).code, 204)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_callerCancels(self) -> None:
        """
        Cancelling a request the node has not answered fails it with
        L{CancelledError}, not a L{NodeError}: the client went away, the
        node did nothing wrong.
        """
        self.node.hold = True
        d = self.client.request(NODE, "GET", "/sdb1/1/a", HeaderDict())
        self.agent.flush()
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class NodeClientFakeAgentTests(SynchronousTestCase):
    """
    L{NodeClient} timeouts and errors, with an agent that never answers.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.agent = FakeAgent()
        self.client = NodeClient(self.clock, 3, 0.5, agent=self.agent)

    def test_url(self) -> None:
        """
        The URL is C{http://ip:port/path}; IPv6 addresses are bracketed,
        once.
        """
        for ip, host in [
            ("10.0.0.1", b"10.0.0.1"),
            ("2001:db8::5", b"[2001:db8::5]"),
            ("[2001:db8::5]", b"[2001:db8::5]"),
        ]:
            self.client.request(
                make_node(ip, 6000, "d"), "DELETE", "/d/3/a", HeaderDict()
            )
            method, uri, _, _ = self.agent.requests[-1]
            self.assertEqual(method, b"DELETE")
            self.assertEqual(uri, b"http://" + host + b":6000/d/3/a")

    def test_headers(self) -> None:
        """
        Every header is sent, encoded one character a byte.
        """
        self.client.request(
            NODE, "PUT", "/p", HeaderDict({"X-Timestamp": "1.00000", "X-Meta": "\u00ff"})
        )
        _, _, headers, producer = self.agent.requests[0]
        self.assertEqual(headers.getRawHeaders(b"x-timestamp"), [b"1.00000"])
        self.assertEqual(headers.getRawHeaders(b"x-meta"), [b"\xff"])
        self.assertIsNone(producer)

    def test_timeout(self) -> None:
        """
        No response within C{node_timeout}: the agent's request is cancelled
        and the result is a L{NodeTimeout}.
        """
        d = self.client.request(NODE, "GET", "/p", HeaderDict())
        self.clock.advance(2.999)
        self.assertNoResult(d)
        self.assertEqual(self.agent.cancelled, 0)
        self.clock.advance(0.001)
        self.assertEqual(self.agent.cancelled, 1)
        failure = self.failureResultOf(d, NodeTimeout)
        self.assertIn("3", failure.value.reason)

    def test_timeoutArgument(self) -> None:
        """
        C{timeout} overrides C{node_timeout} for one request.
        """
        d = self.client.request(NODE, "PUT", "/p", HeaderDict(), timeout=60)
        self.clock.advance(59)
        self.assertNoResult(d)
        self.clock.advance(1)
        self.failureResultOf(d, NodeTimeout)

    def test_timeoutAfterWrappedCancel(self) -> None:
        """
        The timeout is a L{NodeTimeout} however the agent reports the
        cancellation.
        """
        agent = FakeAgent()
        client = NodeClient(self.clock, 1, 0.5, agent=agent)
        agent.onCancel = lambda d: d.errback(ConnectingCancelledError(None))
        d = client.request(NODE, "GET", "/p", HeaderDict())
        self.clock.advance(1)
        self.failureResultOf(d, NodeTimeout)

    def test_response(self) -> None:
        """
        A response before the timeout is the result, and the timer is gone.
        """
        d = self.client.request(NODE, "GET", "/p", HeaderDict())
        response = cast(IResponse, object())
        self.agent.deferreds[0].callback(response)
        self.assertIs(self.successResultOf(d), response)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_connectionRefused(self) -> None:
        """
        A connection error is a L{NodeError} naming the node and the
        problem, and the timer is gone.
        """
        agent = FakeAgent(lambda: fail(ConnectionRefusedError("nope")))
        client = NodeClient(self.clock, 3, 0.5, agent=agent)
        failure = self.failureResultOf(client.request(NODE, "GET", "/p", HeaderDict()))
        self.assertIs(failure.type, NodeError)
        self.assertEqual(failure.value.node, NODE)
        self.assertIn("10.1.2.3:6200/sdb1", str(failure.value))
        self.assertIn("refused", str(failure.value).lower())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_errorAfterWait(self) -> None:
        """
        A later connection error is a L{NodeError} too.
        """
        d = self.client.request(NODE, "GET", "/p", HeaderDict())
        self.clock.advance(1)
        self.agent.deferreds[0].errback(TimeoutError())
        self.failureResultOf(d, NodeError)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_cancel(self) -> None:
        """
        Cancelling cancels the agent's request and fails with
        L{CancelledError}, and the timer is gone.
        """
        d = self.client.request(NODE, "GET", "/p", HeaderDict())
        d.cancel()
        self.assertEqual(self.agent.cancelled, 1)
        self.failureResultOf(d, CancelledError)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_cancelWhileConnecting(self) -> None:
        """
        A cancellation the agent reports as L{ConnectingCancelledError} is a
        L{CancelledError} too.
        """
        d = self.client.request(NODE, "GET", "/p", HeaderDict())

        self.agent.onCancel = lambda d: d.errback(ConnectingCancelledError(None))
        d.cancel()
        self.failureResultOf(d, CancelledError)


class DefaultAgentTests(SynchronousTestCase):
    """
    L{NodeClient} with its own L{Agent} over a pool.
    """

    def test_connectTimeout(self) -> None:
        """
        The default agent connects with C{conn_timeout}.
        """
        reactor = MemoryReactorClock()
        client = NodeClient(reactor, 10, 0.25)
        self.assertIsInstance(client.pool, HTTPConnectionPool)
        client.request(NODE, "GET", "/sdb1/1/a", HeaderDict())
        [(host, port, _, timeout, _)] = reactor.tcpClients
        # MemoryReactorClock resolves every name to 127.0.0.1.
        self.assertEqual((port, timeout), (6200, 0.25))

    def test_sentAsParsedOnce(self) -> None:
        """
        The default agent is given each node's address parsed once, and
        sends the request L{Agent.request} would for its whole URL: the
        path and query as given, every header, C{Host} last. A path with a
        fragment goes through L{Agent.request} itself.
        """
        from twisted.internet.testing import StringTransport

        reactor = MemoryReactorClock()
        client = NodeClient(reactor, 10, 0.25)
        for path in ["/sdb1/1/a/c?format=json", "/sdb1/1/a/c", "/sdb1/1/a#c"]:
            client.request(make_node("10.1.2.3", 6200, "sdb1"), "GET", path,
                           HeaderDict({"X-Timestamp": "1.0", "x-bad": "a\r\nX-Evil: 1"}))
            (_, _, factory, _, _) = reactor.tcpClients[-1]
            protocol = factory.buildProtocol(None)
            transport = StringTransport()
            protocol.makeConnection(transport)  # type: ignore[union-attr]
            self.assertEqual(transport.value(), (
                b"GET " + path.split("#")[0].encode("ascii") + b" HTTP/1.1\r\n"
                b"X-Timestamp: 1.0\r\nX-Bad: a X-Evil: 1\r\nHost: 10.1.2.3:6200\r\n\r\n"))
        self.assertEqual(len(client._targets), 1)

    def test_connectFailed(self) -> None:
        """
        A refused connection is a L{NodeError}.
        """
        reactor = MemoryReactorClock()
        client = NodeClient(reactor, 10, 0.25)
        d = client.request(NODE, "GET", "/sdb1/1/a", HeaderDict())
        [(_, _, factory, _, _)] = reactor.tcpClients
        [connector] = reactor.connectors
        factory.clientConnectionFailed(connector, Failure(ConnectionRefusedError()))
        # HostnameEndpoint reports once its attempt loop next runs.
        reactor.advance(0.3)
        failure = self.failureResultOf(d, NodeError)
        self.assertNotIsInstance(failure.value, NodeTimeout)

    def test_neverConnects(self) -> None:
        """
        A connection that never completes gives a L{NodeTimeout} after
        C{node_timeout}.
        """
        reactor = MemoryReactorClock()
        client = NodeClient(reactor, 10, 0.25)
        d = client.request(NODE, "GET", "/sdb1/1/a", HeaderDict())
        reactor.advance(10)
        self.failureResultOf(d, NodeTimeout)

    def test_addressLiteralsConnectDirectly(self) -> None:
        """
        A node's IPv4 or IPv6 address is connected to as it is, with
        C{conn_timeout}, without a name lookup (which would resolve every
        name to 127.0.0.1 on this reactor); a host name is looked up.
        """
        for ip, connected in [("10.1.2.3", "10.1.2.3"), ("fd00::7", "fd00::7"),
                              ("[fd00::8]", "fd00::8"), ("storage.example", "127.0.0.1")]:
            reactor = MemoryReactorClock()
            client = NodeClient(reactor, 10, 0.25)
            client.request(make_node(ip, 6200, "sdb1"), "GET", "/sdb1/1/a", HeaderDict())
            [(host, port, _, timeout, _)] = reactor.tcpClients
            self.assertEqual((host, port, timeout), (connected, 6200, 0.25), ip)

    def test_makePool(self) -> None:
        """
        L{make_pool} makes a persistent pool that does not retry.
        """
        pool = make_pool(MemoryReactorClock(), per_host=7)
        self.assertTrue(pool.persistent)
        self.assertEqual(pool.maxPersistentPerHost, 7)
        self.assertFalse(pool.retryAutomatically)


class NodeEndpointFactoryTests(SynchronousTestCase):
    """
    L{NodeEndpointFactory} connects to address literals directly.
    """

    def endpoint(self, url: bytes) -> Any:
        return NodeEndpointFactory(MemoryReactorClock(), 0.5).endpointForURI(URI.fromBytes(url))

    def test_ipv4(self) -> None:
        endpoint = self.endpoint(b"http://10.1.2.3:6200/sdb1/1/a")
        self.assertIsInstance(endpoint, TCP4ClientEndpoint)
        self.assertEqual((endpoint._host, endpoint._port, endpoint._timeout),
                         ("10.1.2.3", 6200, 0.5))

    def test_ipv6(self) -> None:
        endpoint = self.endpoint(b"http://[fd00::1]:6200/sdb1/1/a")
        self.assertIsInstance(endpoint, TCP6ClientEndpoint)
        self.assertEqual((endpoint._host, endpoint._port, endpoint._timeout),
                         ("fd00::1", 6200, 0.5))

    def test_hostName(self) -> None:
        endpoint = self.endpoint(b"http://storage.example:6200/sdb1/1/a")
        self.assertIsInstance(endpoint, HostnameEndpoint)

    def test_sameEndpoint(self) -> None:
        """
        A literal's endpoint is made once; a name's each time.
        """
        factory = NodeEndpointFactory(MemoryReactorClock(), 0.5)
        literal = URI.fromBytes(b"http://10.1.2.3:6200/a")
        self.assertIs(factory.endpointForURI(literal), factory.endpointForURI(literal))
        name = URI.fromBytes(b"http://storage.example:6200/a")
        self.assertIsNot(factory.endpointForURI(name), factory.endpointForURI(name))

    def test_otherScheme(self) -> None:
        self.assertRaises(SchemeNotSupported, self.endpoint, b"https://10.1.2.3:6200/a")


class NodeKeyTests(SynchronousTestCase):
    def test_nodeKey(self) -> None:
        self.assertEqual(node_key(NODE), "10.1.2.3:6200/sdb1")
