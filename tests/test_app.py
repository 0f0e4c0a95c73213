"""
Tests for L{twisted_proxy.web.app}: what the application refuses before
routing a request to a controller.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.fakenodes import ClientConnection, FakeCluster, make_proxy
from twisted_proxy.swift.http import HTML, SwiftResponse


class FramingTests(SynchronousTestCase):
    """
    A request framed both by C{Content-Length} and C{Transfer-Encoding}
    is refused with 400, as eventlet refuses it in front of Swift (its
    C{reject_bad_requests}, on by default: "Content-Length and
    Transfer-Encoding are not allowed together"), and the connection is
    closed: the two framings may be read differently along the way
    (request smuggling).
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock)
        self.proxy = make_proxy(self.clock, self.cluster)

    def answer(self, method: str, path: str, headers: dict[str, str]) -> SwiftResponse:
        return self.successResultOf(self.proxy.request(method, path, headers))

    def test_lengthAndChunked(self) -> None:
        """
        A request that reaches the application with both is refused before
        any node is asked.
        """
        response = self.answer("PUT", "/v1/a/c/o", {"Content-Length": "5",
                                                    "Transfer-Encoding": "chunked"})
        self.assertEqual(response.status, 400)
        self.assertEqual(response.body,
                         b"Content-Length and Transfer-Encoding are not allowed together")
        self.assertEqual(self.cluster.requests, [])

    def test_onTheWire(self) -> None:
        """
        From a client's socket, the same request gets 400 and the
        connection is closed.
        """
        client = ClientConnection(self.proxy)
        client.send("PUT", "/v1/a/c/o", {"Content-Length": "5",
                                         "Transfer-Encoding": "chunked"})
        status, _, _ = client.response()
        self.assertEqual(status, 400)
        self.assertTrue(client.transport.disconnecting)
        self.assertEqual(self.cluster.requests, [])

    def test_badLength(self) -> None:
        """
        A negative or non-numeric Content-Length is 400 C{Invalid
        Content-Length}, in HTML as Swift's proxy sends it.
        """
        for bad in ("-1", "five"):
            response = self.answer("PUT", "/v1/a/c/o", {"Content-Length": bad})
            self.assertEqual((response.status, response.body),
                             (400, b"Invalid Content-Length"))
            self.assertEqual(response.headers["Content-Type"], HTML)

    def test_chunkedAlone(self) -> None:
        """
        A chunked request without a length goes on to its controller.
        """
        response = self.answer("GET", "/v1/a/c/o", {"Transfer-Encoding": "chunked"})
        self.assertEqual(response.status, 404)


class PathTests(SynchronousTestCase):
    """
    A path that is not UTF-8, or holds a NUL, is refused with 412.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock)
        self.proxy = make_proxy(self.clock, self.cluster)

    def answer(self, path: str, headers: dict[str, str]) -> SwiftResponse:
        return self.successResultOf(self.proxy.request("GET", path, headers))

    def test_refused(self) -> None:
        for path in ("/v1/a/c/%FF", "/v1/a/c/o%00"):
            response = self.answer(path, {})
            self.assertEqual((response.status, response.body),
                             (412, b"Invalid UTF8 or contains NULL"))
            self.assertEqual(response.headers["Content-Type"], HTML)
        self.assertEqual(self.cluster.requests, [])

    def test_reservedNames(self) -> None:
        """
        A NUL is allowed in the path of an internal request that allows
        reserved names (C{X-Backend-Allow-Reserved-Names}, which no client
        can send); invalid UTF-8 still is not.
        """
        allow = {"X-Backend-Allow-Reserved-Names": "true"}
        self.assertEqual(self.answer("/v1/a/c/o%00", allow).status, 404)
        self.assertEqual(self.answer("/v1/a/c/%FF", allow).status, 412)


class MethodTests(SynchronousTestCase):
    """
    Methods are case-sensitive (RFC 9110 section 9.1): C{delete} is no
    C{DELETE}, and Swift answers it 405.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock)
        self.proxy = make_proxy(self.clock, self.cluster)

    def test_lowerCaseRefused(self) -> None:
        for method in ("delete", "Get", "put"):
            response = self.successResultOf(self.proxy.request(method, "/v1/a/c/o"))
            self.assertEqual(response.status, 405, method)
        # (The container's policy is looked up first, as Swift does.)
        self.assertEqual({request.method for request in self.cluster.requests}, {"HEAD"})

    def test_onTheWire(self) -> None:
        """
        From a client's socket, C{delete} deletes nothing.
        """
        client = ClientConnection(self.proxy)
        client.send("delete", "/v1/a/c/o")
        status, headers, _ = client.response()
        self.assertEqual(status, 405)
        self.assertIn("DELETE", headers["allow"])
        self.assertEqual({request.method for request in self.cluster.requests}, {"HEAD"})
