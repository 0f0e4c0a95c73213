"""
Tests for L{twisted_proxy.controllers.base}, through the application over
the fake cluster: what a proxy bug becomes, and which headers a client sees.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.fakenodes import FakeCluster, InRingOrder, StoredObject, make_proxy
from twisted_proxy.backend import nodes
from twisted_proxy.controllers import account as account_controller
from twisted_proxy.controllers.base import Controller
from twisted_proxy.swift.http import SwiftRequest, SwiftResponse
from twisted_proxy.swift.listing import render_account_listing

OBJ = StoredObject(b"x" * 20, timestamp="1700000100.00000")


class BugTests(SynchronousTestCase):
    """
    A bug in the proxy met while talking to object nodes is a logged 500,
    and no node is error-limited for it.
    """

    def setUp(self) -> None:
        self.patch(nodes, "_RANDOM", InRingOrder())
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock)
        self.cluster.serve(OBJ)
        self.proxy = make_proxy(self.clock, self.cluster)
        client = self.proxy.context.node_client
        real = client.request

        def buggy(node: Any, *args: Any, **kwargs: Any) -> "Deferred[Any]":
            if node["device"] == "sdb":
                raise TypeError("a bug in the proxy")
            return real(node, *args, **kwargs)

        client.request = buggy  # type: ignore[method-assign]

    def tearDown(self) -> None:
        self.clock.advance(0)
        self.assertEqual(self.cluster.open_connections(), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def answer(self, method: str, headers: dict[str, str]) -> SwiftResponse:
        response = self.successResultOf(self.proxy.request(method, "/v1/a/c/o", headers))
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)
        limiter = self.proxy.context.limiter
        self.assertEqual([limiter.errors(node.ring_node) for node in self.cluster.objects],
                         [0] * len(self.cluster.objects))
        return response

    def test_get(self) -> None:
        self.assertEqual(self.answer("GET", {}).status, 500)

    def test_put(self) -> None:
        self.assertEqual(self.answer("PUT", {"Content-Length": "0"}).status, 500)

    def test_post(self) -> None:
        self.assertEqual(self.answer("POST", {}).status, 500)

    def test_delete(self) -> None:
        self.assertEqual(self.answer("DELETE", {}).status, 500)


class ReadDecisionTests(SynchronousTestCase):
    """
    A read that finds no source is decided as Swift decides it: handoffs
    that have nothing or fail are not counted, nor are the first primaries'
    404s without a timestamp (C{rebalance_missing_suppression_count}, at
    most one fewer than the primaries), and a quorum of the answers
    counted decides.
    """

    def status(self, replicas: int, answers: list[Optional[int]], **settings: Any) -> int:
        """
        The status of a GET of an object whose primaries answer
        C{answers} in ring order (C{None}: refused), its handoffs 404.
        """
        self.patch(nodes, "_RANDOM", InRingOrder())
        clock = Clock()
        cluster = FakeCluster(clock, replicas=replicas)
        for node, status in zip(cluster.primaries, answers):
            if status is None:
                node.refuse()
            elif status != 404:
                node.answer(status)
        proxy = make_proxy(clock, cluster, **settings)
        d = proxy.request("GET", "/v1/a/c/o", {})
        for _ in range(100):
            clock.advance(0)
        return self.successResultOf(d).status

    def test_newPrimaryAndFailingOne(self) -> None:
        """
        Two replicas, one 404 (a primary a rebalance just gave the
        partition) and one failing: the object is not reported missing.
        """
        self.assertEqual(self.status(2, [404, 503]), 503)
        self.assertEqual(self.status(2, [503, 404]), 503)

    def test_missing(self) -> None:
        self.assertEqual(self.status(2, [404, 404]), 404)
        self.assertEqual(self.status(3, [404, 404, None]), 404)
        self.assertEqual(self.status(3, [404, None, None]), 503)

    def test_noSuppression(self) -> None:
        """
        With the option 0, a lone 404 among refusals decides; with 2, two
        are not counted.
        """
        self.assertEqual(
            self.status(3, [404, None, None], rebalance_missing_suppression_count=0), 404)
        self.assertEqual(
            self.status(3, [404, 404, None], rebalance_missing_suppression_count=2), 503)


class PostQuorumTests(SynchronousTestCase):
    """
    A write answers once the answers that decide it are in and
    C{post_quorum_timeout} has passed, as Swift's does: a node that hangs
    holds the client up for that long, not for C{node_timeout}, while its
    own request goes on until C{node_timeout} ends it.
    """

    def setUp(self) -> None:
        self.patch(nodes, "_RANDOM", InRingOrder())
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock)
        self.hanging = self.cluster.primaries[2].hang()
        self.proxy = make_proxy(self.clock, self.cluster, post_quorum_timeout=0.25)

    def tearDown(self) -> None:
        self.clock.advance(10)
        self.assertTrue(self.hanging.requests[-1].cancelled)
        self.assertEqual(self.cluster.open_connections(), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def answered(self, method: str) -> tuple[float, SwiftResponse]:
        """
        When C{method} of the object was answered, and how.
        """
        d = self.proxy.request(method, "/v1/a/c/o", {})
        while not d.called and self.clock.seconds() < 30:
            self.clock.advance(0.05)
        return self.clock.seconds(), self.successResultOf(d)

    def assertDecidedEarly(self, method: str, status: int) -> None:
        """
        With two nodes of three answering C{status}, C{method} is answered
        so C{post_quorum_timeout} later, the hanging node's request still
        out.
        """
        for node in self.cluster.primaries[:2]:
            node.answer(status)
        when, response = self.answered(method)
        self.assertEqual(response.status, status)
        self.assertGreaterEqual(when, 0.25)
        self.assertLess(when, 0.5)
        self.assertFalse(self.hanging.requests[-1].cancelled)

    def test_delete(self) -> None:
        self.assertDecidedEarly("DELETE", 204)

    def test_post(self) -> None:
        self.assertDecidedEarly("POST", 202)

    def test_undecided(self) -> None:
        """
        Answers that decide nothing (one 204, one 404) wait for the third,
        until C{node_timeout}.
        """
        self.cluster.primaries[0].answer(204)
        self.cluster.primaries[1].answer(404)
        when, response = self.answered("DELETE")
        self.assertGreaterEqual(when, 10)
        self.assertTrue(self.hanging.requests[-1].cancelled)


class OwnerHeaderTests(SynchronousTestCase):
    """
    Owner-only headers (ACLs, sync settings, temp-URL keys) reach owners
    only, whatever their spelling.
    """

    HIDDEN = {"X-Container-Read": ".r:*", "x-container-sync-key": "secret",
              "X-CONTAINER-META-TEMP-URL-KEY": "k"}

    def setUp(self) -> None:
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock)
        for node in self.cluster.containers:
            node.answer(204, {**self.HIDDEN, "X-Container-Meta-Color": "red",
                              "X-Backend-Storage-Policy-Index": "0",
                              "X-Put-Timestamp": "1600000000.00000"})
        self.proxy = make_proxy(self.clock, self.cluster)

    def head(self, owner: bool) -> SwiftResponse:
        request = SwiftRequest("HEAD", b"/v1/a/c")
        if owner:
            request.environ["swift_owner"] = True
        d = self.proxy.app(request)
        self.clock.advance(0)
        return self.successResultOf(d)

    def test_hidden(self) -> None:
        headers = self.head(owner=False).headers
        self.assertEqual(headers.get("X-Container-Meta-Color"), "red")
        for name in self.HIDDEN:
            self.assertNotIn(name, headers)

    def test_owner(self) -> None:
        headers = self.head(owner=True).headers
        for name, value in self.HIDDEN.items():
            self.assertEqual(headers.get(name), value)


class WritableContainerTests(SynchronousTestCase):
    """
    L{Controller.writable_container}: an object write ends at the container
    when it is missing (404) or cannot be read (503), before any object
    node is asked.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock)
        self.proxy = make_proxy(self.clock, self.cluster)

    def statuses(self) -> list[int]:
        out = []
        for method, headers in (("PUT", {"Content-Length": "0"}), ("POST", {}),
                                ("DELETE", {})):
            d = self.proxy.request(method, "/v1/a/c/o", headers)
            self.clock.advance(0)
            out.append(self.successResultOf(d).status)
        self.assertEqual([r for r in self.cluster.requests if r.node in self.cluster.objects],
                         [])
        return out

    def test_missing(self) -> None:
        for node in self.cluster.containers:
            node.answer(404)
        self.assertEqual(self.statuses(), [404, 404, 404])

    def test_unreadable(self) -> None:
        for node in self.cluster.containers:
            node.answer(507)
        self.assertEqual(self.statuses(), [503, 503, 503])


class PolicyOptionsTests(SynchronousTestCase):
    """
    A controller makes the settings' node-choosing options once per
    request and policy.
    """

    def test_once(self) -> None:
        clock = Clock()
        proxy = make_proxy(clock, FakeCluster(clock))
        settings = proxy.context.settings
        made: list[Any] = []
        real = settings.policy_options

        def counted(index: Any = None) -> Any:
            made.append(index)
            return real(index)

        settings.policy_options = counted  # type: ignore[method-assign,assignment]
        request = SwiftRequest("GET", b"/v1/a/c/o")
        controller = Controller(proxy.context, request, "a", "c", "o")
        first = controller.policy_options(0)
        self.assertIs(controller.policy_options(0), first)
        self.assertEqual(controller.policy_options(None), real(None))
        controller.policy_options(None)
        self.assertEqual(made, [0, None])
        self.assertEqual(first, real(0))
        other = Controller(proxy.context, request, "a", "c", "o")
        other.policy_options(0)
        self.assertEqual(made, [0, None, 0])


class AccountListingTests(SynchronousTestCase):
    """
    An account GET's JSON listing is the account server's body when
    rendering it would give the same bytes; otherwise it is rendered.
    """

    ITEMS: list[dict[str, Any]] = [{"name": "c1", "count": 2, "bytes": 10, "last_modified": "2024-01-01T00:00:00"},
             {"subdir": "p/"}]

    def setUp(self) -> None:
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock)
        self.proxy = make_proxy(self.clock, self.cluster)

    def get(self, items: list[Any], query: str = "format=json",
            headers: dict[str, str] | None = None) -> SwiftResponse:
        self.body = json.dumps(items).encode("ascii")
        for node in self.cluster.accounts:
            node.answer(200, {"Content-Type": "application/json; charset=utf-8",
                              "X-Account-Container-Count": "1",
                              "X-Put-Timestamp": "1600000000.00000"}, self.body)
        request = SwiftRequest("GET", b"/v1/a?" + query.encode("ascii"))
        request.headers.update(headers or {})
        d = self.proxy.app(request)
        self.clock.advance(0)
        return self.successResultOf(d)

    def test_passedThrough(self) -> None:
        """
        A JSON listing as the account server wrote it is sent unparsed,
        with the headers a rendered one has.
        """
        self.patch(account_controller, "render_account_listing", None)
        response = self.get(self.ITEMS)
        self.assertEqual((response.status, response.body), (200, self.body))
        rendered = render_account_listing(self.ITEMS, "application/json", "a", {})
        for name in ("Content-Type", "Content-Length"):
            self.assertEqual(response.headers[name], rendered.headers[name])
        self.assertEqual(response.headers["Accept-Ranges"], "bytes")
        self.assertNotIn("X-Put-Timestamp", response.headers)

    def test_rendered(self) -> None:
        """
        Other formats, a listing with a reserved name (unless reserved
        names are allowed) and an empty one are rendered.
        """
        for query in ("format=xml", "format=plain"):
            response = self.get(self.ITEMS, query)
            media_type = {"format=xml": "application/xml"}.get(query, "text/plain")
            self.assertEqual(response.body, render_account_listing(
                self.ITEMS, media_type, "a", {}).body)
        hidden = self.ITEMS + [{"name": "\x00v", "count": 0, "bytes": 0,
                                "last_modified": "2024-01-01T00:00:00"}]
        self.assertEqual(json.loads(self.get(hidden).body), self.ITEMS)  # type: ignore[arg-type]
        allowed = self.get(hidden, headers={"X-Backend-Allow-Reserved-Names": "true"})
        self.assertEqual(allowed.body, self.body)
        empty = self.get([])
        self.assertEqual((empty.status, empty.body), (200, b"[]"))
