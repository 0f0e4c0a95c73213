"""
Tests for L{twisted_proxy.web.requestbody}.
"""

from __future__ import annotations

from collections import Counter

from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IPushProducer
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface.verify import verifyObject

from tests.doubles import Collector
from tests.test_cycles import proxy_garbage
from twisted_proxy._twisted import IStreamingBody, ReadGate
from twisted_proxy.swift.http import ClientGone
from twisted_proxy.web.requestbody import HOLD_LIMIT, RequestBody


class RequestBodyTests(SynchronousTestCase):
    """
    Tests for L{RequestBody}, reading through a holder of a L{ReadGate}
    over the client's transport.
    """

    def setUp(self) -> None:
        self.transport = StringTransport()
        self.gate = ReadGate(self.transport)

    def body(self, length: int | None = 10) -> RequestBody:
        return RequestBody(self.gate.holder(), length)

    def reading(self) -> str:
        return str(self.transport.producerState)

    def test_freedWhenOver(self) -> None:
        """
        A body lets go of its consumer once written whole: a consumer that
        refers back to it (a meter counting its bytes) leaves no reference
        cycle for the collector.
        """
        class Meter(Collector):
            body: object = None

        def exchange() -> None:
            body = self.body(3)
            meter = Meter()
            meter.body = body
            done = body.startProducing(meter)
            body.dataReceived(b"abc")
            body.body_complete()
            self.successResultOf(done)

        self.assertEqual(proxy_garbage(exchange), Counter())

    def test_interfaces(self) -> None:
        body = self.body()
        self.assertTrue(verifyObject(IBodyProducer, body))
        self.assertTrue(verifyObject(IPushProducer, body))
        self.assertTrue(verifyObject(IStreamingBody, body))

    def test_length(self) -> None:
        """
        The declared length, or L{UNKNOWN_LENGTH} for a chunked body.
        """
        self.assertEqual(self.body(10).length, 10)
        self.assertIs(self.body(None).length, UNKNOWN_LENGTH)

    def test_heldUntilStarted(self) -> None:
        """
        What arrives before a consumer starts is held and given to it at
        once; the rest follows as it comes.
        """
        body = self.body()
        body.dataReceived(b"abc")
        self.assertFalse(body.started.called)
        consumer = Collector()
        done = body.startProducing(consumer)
        self.assertTrue(body.started.called)
        self.assertEqual(consumer.data, b"abc")
        body.dataReceived(b"defghij")
        body.body_complete()
        self.assertEqual(consumer.data, b"abcdefghij")
        self.assertIsNone(self.successResultOf(done))
        self.assertEqual(body.received, 10)

    def test_completeBeforeStart(self) -> None:
        body = self.body(3)
        body.dataReceived(b"abc")
        body.body_complete()
        consumer = Collector()
        self.assertIsNone(self.successResultOf(body.startProducing(consumer)))
        self.assertEqual(consumer.data, b"abc")

    def test_holdLimit(self) -> None:
        """
        Past L{HOLD_LIMIT} held bytes the client is paused until a consumer
        starts.
        """
        body = self.body(HOLD_LIMIT * 2)
        body.dataReceived(b"x" * HOLD_LIMIT)
        self.assertEqual(self.reading(), "producing")
        body.dataReceived(b"x")
        self.assertEqual(self.reading(), "paused")
        body.startProducing(Collector())
        self.assertEqual(self.reading(), "producing")

    def test_consumerPauses(self) -> None:
        """
        The client is paused while the consumer is.
        """
        body = self.body()
        body.startProducing(Collector())
        body.pauseProducing()
        self.assertEqual(self.reading(), "paused")
        body.resumeProducing()
        self.assertEqual(self.reading(), "producing")

    def test_channelPauseKept(self) -> None:
        """
        A consumer resuming does not resume reading the channel paused, and
        the channel resuming does not resume reading the consumer paused.
        """
        body = self.body()
        body.startProducing(Collector())
        self.gate.pauseProducing()
        body.pauseProducing()
        body.resumeProducing()
        self.assertEqual(self.reading(), "paused")
        body.pauseProducing()
        self.gate.resumeProducing()
        self.assertEqual(self.reading(), "paused")
        body.resumeProducing()
        self.assertEqual(self.reading(), "producing")

    def test_completeReleases(self) -> None:
        """
        Once the body is complete the body holds reading paused no more,
        even with its consumer paused.
        """
        body = self.body(3)
        body.startProducing(Collector())
        body.pauseProducing()
        body.dataReceived(b"abc")
        body.body_complete()
        self.assertEqual(self.reading(), "producing")

    def test_clientGone(self) -> None:
        """
        The client leaving mid-body fails the body with L{ClientGone}, also
        for a consumer starting later.
        """
        body = self.body()
        done = body.startProducing(Collector())
        body.connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(done, ClientGone)
        self.failureResultOf(body.startProducing(Collector()), ClientGone)

    def test_clientGoneAfterBody(self) -> None:
        """
        The connection closing after the whole body arrived is no failure.
        """
        body = self.body(1)
        done = body.startProducing(Collector())
        body.dataReceived(b"a")
        body.body_complete()
        body.connectionLost(Failure(ConnectionDone()))
        self.assertIsNone(self.successResultOf(done))

    def test_stopProducing(self) -> None:
        """
        A consumer that stops gets nothing more, its Deferred never fires,
        and the rest of the body is read and dropped.
        """
        body = self.body()
        consumer = Collector()
        done = body.startProducing(consumer)
        body.pauseProducing()
        body.stopProducing()
        self.assertEqual(self.reading(), "producing")
        body.dataReceived(b"abc")
        body.body_complete()
        self.assertEqual(consumer.data, b"")
        self.assertNoResult(done)

    def test_cancel(self) -> None:
        """
        Cancelling the Deferred from C{startProducing} stops the body.
        """
        body = self.body()
        consumer = Collector()
        done = body.startProducing(consumer)
        done.cancel()
        self.failureResultOf(done)
        body.dataReceived(b"abc")
        self.assertEqual(consumer.data, b"")
