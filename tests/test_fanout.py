"""
Tests for L{twisted_proxy.backend.fanout}: an object PUT streamed to nodes
that take the body into L{StringTransport}s and answer when told to.
"""

from __future__ import annotations

from collections import Counter
from typing import Optional

from twisted.internet.defer import CancelledError, Deferred, ensureDeferred, fail
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web._newclient import RequestGenerationFailed, Response
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer, IResponse

from tests.doubles import PushedBody, make_node
from tests.test_cycles import proxy_garbage
from tests.test_streaming import make_response
from twisted_proxy.backend.content import BackendAnswer
from twisted_proxy.backend.fanout import PutFanout
from twisted_proxy.backend.nodeclient import NodeError, node_key
from twisted_proxy.backend.nodes import ErrorLimiter, NodeReporter
from twisted_proxy.swift.http import BytesBody, HeaderDict
from twisted_proxy.swift.ring import Node

NODE_TIMEOUT = 10.0


def _node(index: int) -> Node:
    return make_node(f"10.0.0.{index + 1}", 6200, "sdb", id=index, zone=index)


NODES = [_node(i) for i in range(3)]


class _Put:
    """
    One PUT a node received: its body arrives in C{received}.
    """

    def __init__(self, node: Node, headers: HeaderDict,
                 body: IBodyProducer) -> None:
        self.node = node
        self.headers = headers
        self.received = StringTransport()
        self.cancelled = False
        self.answer: Deferred[IResponse] = Deferred(self._cancel)
        self.body = body
        self.body_done = body.startProducing(self.received)
        self.body_done.addErrback(lambda _: None)

    def _cancel(self, _: object) -> None:
        self.cancelled = True
        self.body.stopProducing()

    def respond(self, status: int, etag: str = '"abc"') -> None:
        response, _ = make_response(0)
        response.code = status
        response.headers = Headers({b"Etag": [etag.encode("ascii")]})
        self.answer.callback(response)
        response._bodyDataFinished()


class _Nodes:
    """
    An L{INodeClient} over scripted nodes: C{refusing} nodes cannot be
    reached; a C{buggy} one hits a bug in the proxy.
    """

    def __init__(self) -> None:
        self.puts: dict[str, _Put] = {}
        self.refusing: set[str] = set()
        self.buggy: set[str] = set()

    def request(self, node: Node, method: str, path: str, headers: HeaderDict,
                bodyProducer: Optional[IBodyProducer] = None,
                timeout: Optional[float] = None) -> "Deferred[IResponse]":
        key = node_key(node)
        if key in self.buggy:
            raise TypeError("a bug in the proxy")
        if key in self.refusing:
            return fail(NodeError(node, "connection refused"))
        assert bodyProducer is not None and timeout == 0
        put = self.puts[key] = _Put(node, headers, bodyProducer)
        return put.answer

    def put(self, index: int) -> _Put:
        return self.puts[node_key(NODES[index])]


class _FanoutCase(SynchronousTestCase):
    """
    A L{PutFanout} over scripted nodes, fed by a 6-byte client body.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.nodes = _Nodes()
        self.limiter = ErrorLimiter(self.clock, 10, 60.0)
        self.source = PushedBody(6)
        self.all: list[Node] = NODES

    def tearDown(self) -> None:
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def fanout(self) -> PutFanout:
        return PutFanout(self.nodes, self.clock, NODE_TIMEOUT,  # type: ignore[arg-type]
                         NodeReporter(self.limiter, "Object", "tx1"))

    def start(self) -> "Deferred[Optional[list[BackendAnswer]]]":
        """
        Three replicas of the body to the nodes of C{self.all}, in order.
        """
        return ensureDeferred(self.fanout().put(
            iter(self.all), 3, lambda node: f"/{node['device']}/1/a/c/o",
            lambda index: HeaderDict({"X-Slot": str(index)}), 6, self.source))


class PutFanoutTests(_FanoutCase):
    def errors(self) -> list[int]:
        return [self.limiter.errors(node) for node in NODES]

    def test_everyNode(self) -> None:
        """
        Every node gets the whole body with its own headers, and every
        answer is returned.
        """
        d = self.start()
        self.source.send(b"abc")
        self.source.send(b"def")
        self.source.end()
        for index in range(3):
            put = self.nodes.put(index)
            self.assertEqual(put.received.value(), b"abcdef")
            self.assertEqual(put.headers["X-Slot"], str(index))
            self.successResultOf(put.body_done)
            put.respond(201)
        answers = self.successResultOf(d)
        assert answers is not None
        self.assertEqual([a[0] for a in answers], [201, 201, 201])
        self.assertEqual(answers[0][3]["Etag"], '"abc"')

    def test_freedWhenOver(self) -> None:
        """
        Once its result has fired, nothing of the upload (its slots, its
        watch, the fan-out) is left in a reference cycle for the collector
        to find: it is freed as soon as its last holder lets go.
        """
        def upload() -> None:
            d = self.start()
            self.source.send(b"abcdef")
            self.source.end()
            for index in range(3):
                self.nodes.put(index).respond(201)
            self.successResultOf(d)
            # The test's own references to the upload go.
            self.nodes.puts.clear()
            self.source = PushedBody(6)

        self.assertEqual(proxy_garbage(upload), Counter())

    def test_unreachable(self) -> None:
        """
        A node that cannot be reached counts one error and an answer of
        503; the others get the body.
        """
        self.nodes.refusing.add(node_key(NODES[1]))
        d = self.start()
        self.source.send(b"abcdef")
        self.source.end()
        for index in (0, 2):
            self.assertEqual(self.nodes.put(index).received.value(), b"abcdef")
            self.nodes.put(index).respond(201)
        answers = self.successResultOf(d)
        assert answers is not None
        self.assertEqual(sorted(a[0] for a in answers), [201, 201, 503])
        self.assertEqual(self.errors(), [0, 1, 0])

    def test_tooFewNodes(self) -> None:
        """
        Fewer nodes than a quorum: nothing is sent.
        """
        d = ensureDeferred(self.fanout().put(NODES[:1], 3, lambda node: "/",
                                      lambda index: HeaderDict(), 6, self.source))
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.nodes.puts, {})

    def test_noQuorumReady(self) -> None:
        """
        When fewer than a quorum of nodes could be reached, the body is not
        read at all.
        """
        self.nodes.refusing.update(node_key(n) for n in NODES[:2])
        d = self.start()
        self.assertIsNone(self.successResultOf(d))
        self.assertIsNone(self.source.consumer)
        self.assertTrue(self.nodes.put(2).cancelled)

    def test_stalledNode(self) -> None:
        """
        A node that takes no data for C{node_timeout} is dropped and counts
        one error; the upload goes on to the others.
        """
        d = self.start()
        stalled = self.nodes.put(0)
        self.nodes.put(0).body.pauseProducing()
        self.assertTrue(self.source.paused)
        self.clock.advance(NODE_TIMEOUT + 1)
        self.assertTrue(stalled.cancelled)
        self.assertFalse(self.source.paused)
        self.source.send(b"abcdef")
        self.source.end()
        for index in (1, 2):
            self.nodes.put(index).respond(201)
        answers = self.successResultOf(d)
        assert answers is not None
        self.assertEqual(sorted(a[0] for a in answers), [201, 201, 503])
        self.assertEqual(self.errors(), [1, 0, 0])

    def test_finalAnswerTimeout(self) -> None:
        """
        Once the body is out, each node has C{node_timeout} to answer; one
        that does not counts as 503.
        """
        d = self.start()
        self.source.send(b"abcdef")
        self.source.end()
        self.nodes.put(0).respond(201)
        self.nodes.put(1).respond(201)
        self.clock.advance(NODE_TIMEOUT - 0.1)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        answers = self.successResultOf(d)
        assert answers is not None
        self.assertEqual([a[0] for a in answers], [201, 201, 503])
        self.assertTrue(self.nodes.put(2).cancelled)

    def test_quorumLost(self) -> None:
        """
        When too few nodes are left taking the body, the upload stops.
        """
        d = self.start()
        self.source.send(b"abc")
        self.nodes.put(0).respond(503)
        self.nodes.put(1).respond(503)
        self.clock.advance(1)
        self.assertIsNone(self.successResultOf(d))
        self.assertTrue(self.nodes.put(2).cancelled)

    def test_clientGone(self) -> None:
        """
        Cancelled (the client went away), every request is cancelled and
        no node is blamed.
        """
        d = self.start()
        self.source.send(b"abc")
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual([self.nodes.put(i).cancelled for i in range(3)], [True] * 3)
        self.assertEqual(self.errors(), [0, 0, 0])

    def test_sourceFailed(self) -> None:
        """
        A body whose source fails (a client gone mid-body, a body failing
        s3api's checks) aborts every request; the nodes that then fail are
        not blamed for it.
        """
        d = self.start()
        self.source.send(b"abc")
        self.source.done.errback(ValueError("the body failed a check"))
        for index in range(3):
            self.nodes.put(index).answer.errback(
                RequestGenerationFailed([Failure(ValueError("aborted"))]))
        answers = self.successResultOf(d)
        assert answers is not None
        self.assertEqual([answer[0] for answer in answers], [503] * 3)
        self.assertEqual(self.errors(), [0, 0, 0])

    def two_created_one_busy(
            self) -> tuple["Deferred[Optional[list[BackendAnswer]]]", Response]:
        """
        Start an upload whose body is all sent, two nodes answering 201 and
        the third 503 with a 4-byte body yet to come: the upload's result
        and that answer.
        """
        d = self.start()
        self.source.send(b"abcdef")
        self.source.end()
        self.nodes.put(0).respond(201)
        self.nodes.put(1).respond(201)
        response, _ = make_response(4)
        response.code = 503
        self.nodes.put(2).answer.callback(response)
        return d, response

    def test_answerWithBody(self) -> None:
        """
        An answer with a body (an error's text) is read whole before it
        counts.
        """
        d, response = self.two_created_one_busy()
        self.assertNoResult(d)
        response._bodyDataReceived(b"busy")
        response._bodyDataFinished()
        answers = self.successResultOf(d)
        assert answers is not None
        self.assertEqual([(a[0], a[2]) for a in answers],
                         [(201, b""), (201, b""), (503, b"busy")])

    def test_answerBodyTimeout(self) -> None:
        """
        A node whose answer's body does not come whole within
        C{node_timeout} of the end of the upload counts as 503: the reading
        is cancelled.
        """
        d, response = self.two_created_one_busy()
        response._bodyDataReceived(b"bu")
        self.clock.advance(NODE_TIMEOUT - 0.1)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        answers = self.successResultOf(d)
        assert answers is not None
        self.assertEqual([(a[0], a[2]) for a in answers], [(201, b""), (201, b""), (503, b"")])

    def test_bodyAtOnce(self) -> None:
        """
        A body that arrives whole as it is asked for needs no stall check:
        the only timer is each node's time to answer, gone with the answers.
        """
        self.source = BytesBody(b"abcdef")  # type: ignore[assignment]
        d = self.start()
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        for index in range(3):
            self.assertEqual(self.nodes.put(index).received.value(), b"abcdef")
            self.nodes.put(index).respond(201)
        answers = self.successResultOf(d)
        assert answers is not None
        self.assertEqual([a[0] for a in answers], [201, 201, 201])

    def test_clientGoneWhileAnswering(self) -> None:
        """
        Cancelled once the body is out, every request still waiting for
        its answer is cancelled, and the PUT fails with L{CancelledError}.
        """
        d = self.start()
        self.source.send(b"abcdef")
        self.source.end()
        self.nodes.put(0).respond(201)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual([self.nodes.put(i).cancelled for i in range(3)],
                         [False, True, True])
        self.assertEqual(self.errors(), [0, 0, 0])

    def test_bug(self) -> None:
        """
        A proxy bug met for one node fails the PUT with it once the other
        requests are ended; no node is blamed.
        """
        self.nodes.buggy.add(node_key(NODES[1]))
        d = self.start()
        self.failureResultOf(d, TypeError)
        self.assertTrue(self.nodes.put(0).cancelled)
        self.assertTrue(self.nodes.put(2).cancelled)
        self.assertEqual(self.errors(), [0, 0, 0])

    def test_bugAfterBody(self) -> None:
        """
        The same for a bug met reading a node's answer.
        """
        d = self.start()
        self.source.send(b"abcdef")
        self.source.end()
        self.nodes.put(0).respond(201)
        self.nodes.put(1).respond(201)
        response, _ = make_response(0)
        response.headers = None
        self.nodes.put(2).answer.callback(response)
        response._bodyDataFinished()
        self.failureResultOf(d, AttributeError)
        self.assertEqual(self.errors(), [0, 0, 0])


class PostQuorumTests(_FanoutCase):
    """
    With a C{post_quorum_timeout}, the answers that decide the outcome give
    the others that long before the result fires, as in Swift; a node still
    to answer then goes on until C{node_timeout}.
    """

    POST_QUORUM = 0.5

    def fanout(self) -> PutFanout:
        return PutFanout(self.nodes, self.clock, NODE_TIMEOUT,  # type: ignore[arg-type]
                         NodeReporter(self.limiter, "Object", "tx1"),
                         post_quorum_timeout=self.POST_QUORUM)

    def sent(self) -> "Deferred[Optional[list[BackendAnswer]]]":
        d = self.start()
        self.source.send(b"abcdef")
        self.source.end()
        return d

    def statuses(self, d: "Deferred[Optional[list[BackendAnswer]]]") -> list[int]:
        answers = self.successResultOf(d)
        assert answers is not None
        return [answer[0] for answer in answers]

    def test_quorumThenWait(self) -> None:
        """
        Two 201s of three: the third has C{post_quorum_timeout}, then counts
        as 503 while its request goes on; its answer, when it comes, ends it.
        """
        d = self.sent()
        self.nodes.put(0).respond(201)
        self.nodes.put(1).respond(201)
        self.clock.advance(self.POST_QUORUM - 0.01)
        self.assertNoResult(d)
        self.clock.advance(0.01)
        self.assertEqual(self.statuses(d), [201, 201, 503])
        late = self.nodes.put(2)
        self.assertFalse(late.cancelled)
        self.assertEqual(late.received.value(), b"abcdef")
        late.respond(201)

    def test_lateEndedByNodeTimeout(self) -> None:
        """
        A node that never answers is ended C{node_timeout} after the body
        went out, as without the wait.
        """
        d = self.sent()
        self.nodes.put(0).respond(201)
        self.nodes.put(1).respond(201)
        self.clock.advance(self.POST_QUORUM)
        self.assertEqual(self.statuses(d), [201, 201, 503])
        self.clock.advance(NODE_TIMEOUT - self.POST_QUORUM - 0.01)
        self.assertFalse(self.nodes.put(2).cancelled)
        self.clock.advance(0.01)
        self.assertTrue(self.nodes.put(2).cancelled)

    def test_lateBugLogged(self) -> None:
        """
        A bug met over a late answer, the result being out, is logged.
        """
        d = self.sent()
        self.nodes.put(0).respond(201)
        self.nodes.put(1).respond(201)
        self.clock.advance(self.POST_QUORUM)
        self.assertEqual(self.statuses(d), [201, 201, 503])

        def buggy(*args: object) -> None:
            raise ZeroDivisionError()

        self.patch(NodeReporter, "status", buggy)
        self.nodes.put(2).respond(201)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_answerWithinWait(self) -> None:
        """
        An answer within C{post_quorum_timeout} counts, and the result fires
        with it.
        """
        d = self.sent()
        self.nodes.put(2).respond(201)
        self.nodes.put(0).respond(201)
        self.clock.advance(self.POST_QUORUM / 2)
        self.nodes.put(1).respond(201)
        self.assertEqual(self.statuses(d), [201, 201, 201])

    def test_undecided(self) -> None:
        """
        A 201 and a 409 decide nothing: the third node is waited for, up to
        C{node_timeout}.
        """
        d = self.sent()
        self.nodes.put(0).respond(201)
        self.nodes.put(1).respond(409)
        self.clock.advance(NODE_TIMEOUT - 0.01)
        self.assertNoResult(d)
        self.clock.advance(0.01)
        self.assertEqual(self.statuses(d), [201, 409, 503])

    def test_decidedWhileSending(self) -> None:
        """
        Answers that came while the body went out (early refusals) start
        the wait as soon as it is out.
        """
        d = self.start()
        self.source.send(b"abc")
        self.nodes.put(0).respond(412)
        self.nodes.put(1).respond(412)
        self.assertNoResult(d)
        self.source.send(b"def")
        self.source.end()
        self.clock.advance(self.POST_QUORUM)
        self.assertEqual(self.statuses(d), [412, 412, 503])
        self.nodes.put(2).respond(201)


class HandoffTests(_FanoutCase):
    """
    A replica whose node cannot be reached goes to the next node.
    """

    def setUp(self) -> None:
        super().setUp()
        self.all = NODES + [_node(3), _node(4)]

    def test_refusedPrimaryReplaced(self) -> None:
        """
        A primary that refuses the connection (not error limited) counts
        one error, and the next node takes its replica, with its headers
        and the whole body: three replicas are written.
        """
        self.nodes.refusing.add(node_key(NODES[1]))
        self.nodes.refusing.add(node_key(self.all[3]))
        d = self.start()
        self.source.send(b"abcdef")
        self.source.end()
        handoff = self.nodes.puts[node_key(self.all[4])]
        self.assertEqual(handoff.headers["X-Slot"], "1")
        for put in (self.nodes.put(0), handoff, self.nodes.put(2)):
            self.assertEqual(put.received.value(), b"abcdef")
            put.respond(201)
        answers = self.successResultOf(d)
        assert answers is not None
        self.assertEqual([a[0] for a in answers], [201, 201, 201])
        self.assertEqual(self.limiter.errors(NODES[1]), 1)
        self.assertEqual(self.limiter.errors(self.all[3]), 1)

    def test_noMoreNodes(self) -> None:
        """
        When the nodes run out, the replica is a 503 and the others go on.
        """
        self.all = list(NODES)
        self.nodes.refusing.add(node_key(NODES[0]))
        d = self.start()
        self.source.send(b"abcdef")
        self.source.end()
        for index in (1, 2):
            self.nodes.put(index).respond(201)
        answers = self.successResultOf(d)
        assert answers is not None
        self.assertEqual(sorted(a[0] for a in answers), [201, 201, 503])

    def test_failureAfterConnectNotReplaced(self) -> None:
        """
        A node that fails once it has started taking the body is dropped,
        not replaced: the next node would miss what was sent.
        """
        d = self.start()
        self.source.send(b"abc")
        self.nodes.put(1).answer.errback(NodeError(NODES[1], "reset"))
        self.source.send(b"def")
        self.source.end()
        for index in (0, 2):
            self.nodes.put(index).respond(201)
        answers = self.successResultOf(d)
        assert answers is not None
        self.assertEqual(sorted(a[0] for a in answers), [201, 201, 503])
        self.assertEqual(len(self.nodes.puts), 3)
