"""
Tests for L{twisted_proxy.backend.streaming}.
"""

from __future__ import annotations

from typing import Any, Optional

from treq.testing import RequestTraversalAgent
from twisted.internet.defer import CancelledError
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web._newclient import Response, TransportProxyProducer
from twisted.web.client import PotentialDataLoss, ResponseFailed
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from zope.interface.verify import verifyObject

from twisted_proxy.backend.streaming import BackendBody, ReadTimeout, ShortRead, StallTimer


def make_response(length: Any = UNKNOWN_LENGTH) -> tuple[Response, StringTransport]:
    """
    A client L{Response} whose body arrives over a L{StringTransport}
    standing for the backend connection.
    """
    backend = StringTransport()
    response = Response._construct(
        (b"HTTP", 1, 1), 200, b"OK", Headers(), TransportProxyProducer(backend), None
    )
    response.length = length
    return response, backend


class PausingConsumer(StringTransport):
    """
    A consumer that pauses its producer when given more than C{limit}
    bytes in one write, as a full socket would.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.body: Optional[BackendBody] = None

    def write(self, data: bytes) -> None:
        super().write(data)
        if len(data) > self.limit and self.body is not None:
            self.body.pauseProducing()


class BackendBodyTests(SynchronousTestCase):
    """
    Tests for L{BackendBody}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.consumer = StringTransport()

    def body(self, length: Any = UNKNOWN_LENGTH, timeout: float = 5) -> tuple[
        BackendBody, Response, StringTransport
    ]:
        response, backend = make_response(length)
        return BackendBody(response, self.clock, timeout), response, backend

    def test_interfaces(self) -> None:
        """
        L{BackendBody} is an L{IBodyProducer} and an L{IPushProducer} with
        the backend's length.
        """
        body, _, _ = self.body(12)
        self.assertTrue(verifyObject(IBodyProducer, body))
        self.assertTrue(verifyObject(IPushProducer, body))
        self.assertEqual(body.length, 12)

    def test_relay(self) -> None:
        """
        Each chunk is written to the consumer as it arrives; the Deferred
        fires once the whole announced body has arrived, and no timer is
        left behind.
        """
        body, response, _ = self.body(11)
        d = body.startProducing(self.consumer)
        response._bodyDataReceived(b"hello ")
        self.assertEqual(self.consumer.value(), b"hello ")
        self.assertNoResult(d)
        response._bodyDataReceived(b"world")
        response._bodyDataFinished()
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.consumer.value(), b"hello world")
        self.assertEqual(body.received, 11)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_bufferedBody(self) -> None:
        """
        A body that arrived whole before L{BackendBody.startProducing} is
        relayed, and the returned Deferred has fired.
        """
        body, response, _ = self.body(3)
        response._bodyDataReceived(b"abc")
        response._bodyDataFinished()
        d = body.startProducing(self.consumer)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.consumer.value(), b"abc")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_unknownLength(self) -> None:
        """
        Without a length, the body ends when the backend says so.
        """
        body, response, _ = self.body()
        d = body.startProducing(self.consumer)
        response._bodyDataReceived(b"x" * 100)
        response._bodyDataFinished()
        self.successResultOf(d)

    def test_unknownLengthPotentialDataLoss(self) -> None:
        """
        Without a length, a body delimited by the connection's close (which
        the client reports as L{PotentialDataLoss}) is complete.
        """
        body, response, _ = self.body()
        d = body.startProducing(self.consumer)
        response._bodyDataReceived(b"x")
        response._bodyDataFinished(Failure(PotentialDataLoss()))
        self.successResultOf(d)

    def test_shortRead(self) -> None:
        """
        A body that ends before its announced length fails with
        L{ShortRead}.
        """
        body, response, _ = self.body(10)
        d = body.startProducing(self.consumer)
        response._bodyDataReceived(b"12345")
        response._bodyDataFinished()
        failure = self.failureResultOf(d, ShortRead)
        self.assertIn("5 of 10", failure.getErrorMessage())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_connectionLost(self) -> None:
        """
        A connection lost mid-body fails with the connection's error.
        """
        body, response, _ = self.body(10)
        d = body.startProducing(self.consumer)
        response._bodyDataReceived(b"12345")
        response._bodyDataFinished(Failure(ResponseFailed([Failure(ConnectionLost())])))
        self.failureResultOf(d, ResponseFailed)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_pauseResume(self) -> None:
        """
        Pausing and resuming pass through to the backend connection.
        """
        body, _, backend = self.body()
        body.startProducing(self.consumer)
        self.assertEqual(backend.producerState, "producing")
        body.pauseProducing()
        self.assertEqual(backend.producerState, "paused")
        body.resumeProducing()
        self.assertEqual(backend.producerState, "producing")

    def test_pausedBeforeStart(self) -> None:
        """
        A consumer that pauses the body before it starts (a client whose
        socket is already full) keeps the backend paused and the timer off
        until it resumes.
        """
        body, response, backend = self.body()
        body.pauseProducing()
        d = body.startProducing(self.consumer)
        self.assertEqual(backend.producerState, "paused")
        self.clock.advance(60)
        self.assertNoResult(d)
        body.resumeProducing()
        self.assertEqual(backend.producerState, "producing")
        self.clock.advance(5)
        self.failureResultOf(d, ReadTimeout)

    def test_readTimeout(self) -> None:
        """
        A backend silent for the read timeout fails the body with
        L{ReadTimeout} and has its connection dropped; each chunk restarts
        the timer.
        """
        body, response, backend = self.body(timeout=5)
        d = body.startProducing(self.consumer)
        self.clock.advance(4)
        response._bodyDataReceived(b"a")
        self.clock.advance(4)
        response._bodyDataReceived(b"b")
        self.clock.advance(4.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.failureResultOf(d, ReadTimeout)
        self.assertTrue(backend.disconnecting)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_noTimeoutWhilePaused(self) -> None:
        """
        The read timeout does not run while the consumer has the body
        paused, and starts afresh on resume.
        """
        body, response, _ = self.body(timeout=5)
        d = body.startProducing(self.consumer)
        self.clock.advance(3)
        body.pauseProducing()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(3600)
        self.assertNoResult(d)
        body.resumeProducing()
        self.clock.advance(4.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.failureResultOf(d, ReadTimeout)

    def test_dataWhilePaused(self) -> None:
        """
        Data already on its way when the consumer paused is still relayed,
        and does not start the timer.
        """
        body, response, _ = self.body(timeout=5)
        d = body.startProducing(self.consumer)
        body.pauseProducing()
        response._bodyDataReceived(b"late")
        self.assertEqual(self.consumer.value(), b"late")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(100)
        self.assertNoResult(d)

    def test_pauseDuringWrite(self) -> None:
        """
        A consumer that pauses while being written to stops the timer and
        pauses the backend.
        """
        consumer = PausingConsumer(limit=2)
        body, response, backend = self.body(timeout=5)
        consumer.body = body
        d = body.startProducing(consumer)
        response._bodyDataReceived(b"abc")
        self.assertEqual(backend.producerState, "paused")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(100)
        self.assertNoResult(d)

    def test_stopProducing(self) -> None:
        """
        L{BackendBody.stopProducing} drops the backend connection; the
        Deferred never fires, no timer is left and later data is not
        written.
        """
        body, response, backend = self.body(10)
        d = body.startProducing(self.consumer)
        response._bodyDataReceived(b"12")
        body.stopProducing()
        self.assertTrue(backend.disconnecting)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        body.pauseProducing()
        body.resumeProducing()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        response._bodyDataReceived(b"34")
        response._bodyDataFinished(Failure(ResponseFailed([Failure(ConnectionLost())])))
        self.assertNoResult(d)
        self.assertEqual(self.consumer.value(), b"12")

    def test_cancel(self) -> None:
        """
        Cancelling the Deferred stops producing and fails it with
        L{CancelledError}.
        """
        body, response, backend = self.body(10)
        d = body.startProducing(self.consumer)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertTrue(backend.disconnecting)
        response._bodyDataFinished(Failure(ResponseFailed([Failure(ConnectionLost())])))

    def test_finishedBodyNotDropped(self) -> None:
        """
        Stopping after the body ended leaves the (pooled) connection alone.
        """
        body, response, backend = self.body(1)
        d = body.startProducing(self.consumer)
        response._bodyDataReceived(b"x")
        backend_proxy = body.transport
        response._bodyDataFinished()
        # The HTTP client stops proxying once a response is complete.
        backend_proxy.stopProxying()  # type: ignore[union-attr]
        self.successResultOf(d)
        body.stopProducing()
        self.assertFalse(backend.disconnecting)


class SlowNode(Resource):
    """
    A storage node whose response body the test writes piece by piece.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Request] = []

    def render(self, request: Request) -> Any:
        request.setHeader(b"content-length", b"10")
        self.requests.append(request)
        return NOT_DONE_YET


class BackendBodyOverHTTPTests(SynchronousTestCase):
    """
    L{BackendBody} with a real client L{Response} from an in-memory node.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.node = SlowNode()
        self.agent = RequestTraversalAgent(self.node)
        d = self.agent.request(b"GET", b"http://10.0.0.1:6200/sda/1/a/c/o")
        self.agent.flush()
        [self.request] = self.node.requests
        self.request.write(b"01234")
        self.agent.flush()
        self.response = self.successResultOf(d)

    def test_whole(self) -> None:
        """
        The whole body is relayed.
        """
        consumer = StringTransport()
        body = BackendBody(self.response, self.clock, 5)
        self.assertEqual(body.length, 10)
        d = body.startProducing(consumer)
        self.agent.flush()
        self.request.write(b"56789")
        self.request.finish()
        self.agent.flush()
        self.successResultOf(d)
        self.assertEqual(consumer.value(), b"0123456789")

    def test_nodeDies(self) -> None:
        """
        A node that drops the connection mid-body fails the relay, rather
        than ending it as if whole.
        """
        consumer = StringTransport()
        body = BackendBody(self.response, self.clock, 5)
        d = body.startProducing(consumer)
        self.agent.flush()
        self.request.channel.transport.loseConnection()  # type: ignore[union-attr]
        self.agent.flush()
        self.failureResultOf(d, ResponseFailed)
        self.assertEqual(consumer.value(), b"01234")

    def test_stalls(self) -> None:
        """
        A node that stops sending gets a L{ReadTimeout}.
        """
        body = BackendBody(self.response, self.clock, 5)
        d = body.startProducing(StringTransport())
        self.agent.flush()
        self.clock.advance(5)
        self.failureResultOf(d, ReadTimeout)
        self.agent.flush()


class StallTimerTests(SynchronousTestCase):
    """
    L{StallTimer}: the read timeout every reader of a node's body uses.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.stalls: list[float] = []
        self.timer = StallTimer(self.clock, 5, lambda: self.stalls.append(self.clock.seconds()))

    def test_fires(self) -> None:
        """
        Armed, it fires once, C{timeout} seconds later.
        """
        self.timer.arm()
        self.clock.advance(4.9)
        self.assertEqual(self.stalls, [])
        self.clock.advance(0.1)
        self.assertEqual(self.stalls, [5])
        self.clock.advance(10)
        self.assertEqual(self.stalls, [5])

    def test_armAgainRestarts(self) -> None:
        """
        Arming a running timer counts from now, with one pending call.
        """
        self.timer.arm()
        self.clock.advance(3)
        self.timer.arm()
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(4.9)
        self.assertEqual(self.stalls, [])
        self.clock.advance(0.1)
        self.assertEqual(self.stalls, [8])

    def test_disarm(self) -> None:
        """
        Disarmed, it does not fire; disarming twice, or unarmed, is fine;
        it can be armed again after firing or disarming.
        """
        self.timer.disarm()
        self.timer.arm()
        self.timer.disarm()
        self.timer.disarm()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10)
        self.assertEqual(self.stalls, [])
        self.timer.arm()
        self.clock.advance(5)
        self.timer.arm()
        self.clock.advance(5)
        self.assertEqual(self.stalls, [15, 20])

    def test_disarmWhileFiring(self) -> None:
        """
        The stalled callback may disarm (or arm) the timer it came from.
        """
        def stalled() -> None:
            self.stalls.append(self.clock.seconds())
            self.timer.disarm()

        self.timer = StallTimer(self.clock, 1, stalled)
        self.timer.arm()
        self.clock.advance(1)
        self.assertEqual(self.stalls, [1])
        self.assertEqual(self.clock.getDelayedCalls(), [])
