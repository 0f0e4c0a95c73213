"""
Tests for L{twisted_proxy.backend.sources}: a L{SourceFinder} alone, over
the fake cluster's nodes, with no controller.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.fakenodes import PART, FakeCluster, StoredObject
from twisted_proxy.backend import sources
from twisted_proxy.backend.content import read_body
from twisted_proxy.backend.nodeclient import NodeClient
from twisted_proxy.backend.nodes import ErrorLimiter, NodeReporter, NodeTimings, node_path
from twisted_proxy.backend.sources import Found, SourceFinder, source_timestamp
from twisted_proxy.swift.http import HeaderDict
from twisted_proxy.swift.timestamp import Timestamp

OBJ = StoredObject(b"x" * 20, timestamp="1700000100.00000")
NEWER = StoredObject(b"y" * 20, timestamp="1700000200.00000")


class _BuggyClient:
    """
    A node client with a bug: every request raises.
    """

    def request(self, *args: Any, **kwargs: Any) -> Deferred[Any]:
        raise TypeError("a bug in the proxy")


class SourceFinderTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock)
        self.client: Any = NodeClient(self.clock, 10.0, 0.5, agent=self.cluster.agent)
        self.limiter = ErrorLimiter(self.clock, 10, 60.0)
        ring = self.cluster.rings.object_ring(0)
        self.nodes = ring.get_part_nodes(PART) + list(ring.get_more_nodes(PART))

    def tearDown(self) -> None:
        self.clock.advance(0)
        self.assertEqual(self.cluster.open_connections(), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def find(self, newest: bool = False, keep_body: bool = True,
             **options: Any) -> "Deferred[Found]":
        finder = SourceFinder(
            self.client, self.clock, NodeTimings(self.clock, 300.0),
            NodeReporter(self.limiter, "Object", "tx1"),
            lambda node: node_path(node, PART, "a/c/o"), "GET", HeaderDict(),
            newest=newest, **options)
        d = ensureDeferred(finder.find(iter(self.nodes), keep_body))
        for _ in range(50):
            self.clock.advance(0)
        return d

    def asked(self) -> list[str]:
        return [r.node.ring_node["ip"] for r in self.cluster.object_requests()]

    def test_firstGood(self) -> None:
        """
        Nodes are asked in order until one answers well; a node that cannot
        be reached counts one error, a 404 is an answer.
        """
        self.cluster.primaries[0].refuse()
        self.cluster.primaries[2].serve(OBJ)
        found, answers = self.successResultOf(self.find())
        assert found is not None
        self.assertEqual(found[1]["ip"], "10.0.0.3")
        self.assertEqual([a[0] for a in answers], [404, 200])
        self.assertEqual(answers[-1][2], OBJ.data)
        self.assertEqual(self.asked(), ["10.0.0.1", "10.0.0.2", "10.0.0.3"])
        self.assertEqual(self.limiter.errors(self.nodes[0]), 1)
        self.assertEqual(self.limiter.errors(self.nodes[1]), 0)

    def test_bodyLeftUnread(self) -> None:
        """
        Without C{keep_body}, the chosen response comes back unread.
        """
        self.cluster.serve(OBJ)
        found, answers = self.successResultOf(self.find(keep_body=False))
        assert found is not None
        self.assertEqual(answers, [])
        body = read_body(found[0])
        for _ in range(10):
            self.clock.advance(0)
        self.assertEqual(self.successResultOf(body), OBJ.data)

    def test_handoff404(self) -> None:
        """
        A handoff's 404 without a timestamp is not counted; a 5xx counts an
        error against its node.
        """
        for node in self.cluster.primaries:
            node.answer(503)
        found, answers = self.successResultOf(self.find())
        self.assertIsNone(found)
        self.assertEqual([a[0] for a in answers], [503, 503, 503])
        self.assertEqual(len(self.asked()), 6)
        self.assertEqual(self.limiter.errors(self.nodes[0]), 1)

    def test_handoffErrors(self) -> None:
        """
        A handoff's 5xx without a timestamp is not counted either (it
        still counts an error against its node).
        """
        for node in self.cluster.objects:
            node.answer(503)
        found, answers = self.successResultOf(self.find())
        self.assertIsNone(found)
        self.assertEqual([a[0] for a in answers], [503, 503, 503])
        self.assertEqual(self.limiter.errors(self.nodes[3]), 1)

    def test_missingSuppressed(self) -> None:
        """
        With C{suppress_missing}, that many of the first primaries' 404s
        without a timestamp are not counted; a tombstone always is, and
        uses none of them up.
        """
        found, answers = self.successResultOf(self.find(suppress_missing=1))
        self.assertIsNone(found)
        self.assertEqual([a[0] for a in answers], [404, 404])
        self.cluster.primaries[0].tombstone("1700000150.00000")
        found, answers = self.successResultOf(self.find(suppress_missing=2))
        self.assertEqual([a[3].get("X-Backend-Timestamp") for a in answers],
                         ["1700000150.00000"])

    def test_tombstone(self) -> None:
        """
        A source older than a tombstone already seen is closed and counted
        as the 404 it stands for.
        """
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].tombstone("1700000150.00000")
        self.cluster.primaries[1].tombstone("1700000120.00000")
        found, answers = self.successResultOf(self.find())
        self.assertIsNone(found)
        self.assertEqual([a[0] for a in answers], [404, 404, 404])
        self.assertTrue(self.cluster.primaries[2].last_connection.dropped)

    def test_newest(self) -> None:
        """
        With C{newest}, every primary is asked and the newest version wins;
        the others are closed.
        """
        self.cluster.primaries[0].serve(OBJ)
        self.cluster.primaries[1].serve(NEWER)
        self.cluster.primaries[2].serve(OBJ)
        found, answers = self.successResultOf(self.find(newest=True))
        assert found is not None
        self.assertEqual(found[1]["ip"], "10.0.0.2")
        self.assertEqual(answers[-1][2], NEWER.data)
        self.assertEqual(len(self.asked()), 3)
        self.assertTrue(self.cluster.primaries[0].last_connection.dropped)
        self.assertTrue(self.cluster.primaries[2].last_connection.dropped)

    def test_concurrentGets(self) -> None:
        """
        With C{concurrent_gets}, the next node is asked when the first has
        not answered within C{concurrency_timeout}; the slow one is given
        up.
        """
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].hang()
        d = self.find(concurrent_gets=True, concurrency_timeout=0.5)
        self.assertNoResult(d)
        self.clock.advance(0.5)
        for _ in range(50):
            self.clock.advance(0)
        found, _ = self.successResultOf(d)
        assert found is not None
        self.assertEqual(found[1]["ip"], "10.0.0.2")
        self.assertTrue(self.cluster.primaries[0].requests[-1].cancelled)

    def test_resume(self) -> None:
        """
        A body is continued by the next node answering 206 to the Range
        with the same etag; a node holding another version, or ignoring
        the Range, is closed and counts one error.
        """
        self.cluster.primaries[0].serve(NEWER)
        self.cluster.primaries[1].serve(OBJ, ignore_range=True)
        self.cluster.primaries[2].serve(OBJ)
        finder = SourceFinder(
            self.client, self.clock, NodeTimings(self.clock, 300.0),
            NodeReporter(self.limiter, "Object", "tx1"),
            lambda node: node_path(node, PART, "a/c/o"), "GET", HeaderDict())
        d = ensureDeferred(finder.resume(iter(self.nodes), "bytes=5-", OBJ.md5))
        for _ in range(50):
            self.clock.advance(0)
        found = self.successResultOf(d)
        assert found is not None
        response, node = found
        self.assertEqual((node["ip"], response.code), ("10.0.0.3", 206))
        self.assertEqual([r.range for r in self.cluster.object_requests()], ["bytes=5-"] * 3)
        self.assertEqual(self.limiter.errors(self.nodes[0]), 1)
        self.assertEqual(self.limiter.errors(self.nodes[1]), 1)
        self.assertTrue(self.cluster.primaries[0].last_connection.dropped)
        body = read_body(response)
        for _ in range(10):
            self.clock.advance(0)
        self.assertEqual(self.successResultOf(body), OBJ.data[5:])

    def test_bug(self) -> None:
        """
        A proxy bug is no node's fault: it fails the search and no error
        is counted against any node.
        """
        self.client = _BuggyClient()
        self.failureResultOf(self.find(), TypeError)
        self.assertEqual([self.limiter.errors(node) for node in self.nodes], [0] * 6)

    def test_bugReadingAnswer(self) -> None:
        """
        A proxy bug met while reading an error answer fails the search; the
        node that answered (404, as every node here) is not blamed.
        """

        def buggy(response: Any) -> "Deferred[Any]":
            return read_body(response).addCallback(lambda _: dict[str, Any]()["missing"])

        self.patch(sources, "read_answer", buggy)
        self.failureResultOf(self.find(), KeyError)
        self.assertEqual(self.limiter.errors(self.nodes[0]), 0)

    def test_bugConcurrent(self) -> None:
        """
        The same with C{concurrent_gets}.
        """
        self.client = _BuggyClient()
        self.failureResultOf(self.find(concurrent_gets=True), TypeError)
        self.assertEqual([self.limiter.errors(node) for node in self.nodes], [0] * 6)


class SourceTimestampTests(SynchronousTestCase):
    def test_order(self) -> None:
        """
        The data timestamp wins over the others, then the backend's, then
        X-Put-Timestamp, then X-Timestamp; nothing usable is time 0.
        """
        headers = HeaderDict({"X-Timestamp": "1.00000", "X-Put-Timestamp": "2.00000",
                              "X-Backend-Timestamp": "3.00000"})
        self.assertEqual(source_timestamp(headers), Timestamp("3.00000"))
        headers["X-Backend-Data-Timestamp"] = "4.00000_0000000000000001"
        self.assertEqual(source_timestamp(headers), Timestamp("4.00000_0000000000000001"))
        self.assertEqual(source_timestamp(HeaderDict({"X-Timestamp": "junk"})), Timestamp(0))
