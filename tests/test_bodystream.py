"""
Tests for L{twisted_proxy.plugins._support.bodystream}.
"""

from __future__ import annotations

from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from tests.doubles import PushedBody
from twisted_proxy.plugins._support.bodystream import BodyStream
from twisted_proxy.swift.http import ClientGone


class BodyStreamTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.body = PushedBody()
        self.stream = BodyStream(self.body, high_water=10)

    def test_chunks_in_order(self) -> None:
        self.assertIsNone(self.stream.take())
        self.body.send(b"ab")
        self.body.send(b"")
        self.body.send(b"cd")
        self.assertEqual([self.stream.take(), self.stream.take(), self.stream.take()],
                         [b"ab", b"cd", None])
        self.assertFalse(self.stream.exhausted)
        self.body.end()
        self.assertTrue(self.stream.ended)
        self.assertTrue(self.stream.exhausted)

    def test_high_water(self) -> None:
        """
        Past the high water mark the body is paused, and resumed once no
        more than half of it waits.
        """
        for _ in range(3):
            self.body.send(b"x" * 4)
        self.assertTrue(self.body.paused)
        self.stream.take()
        self.assertTrue(self.body.paused)
        self.stream.take()
        self.assertFalse(self.body.paused)

    def test_wait(self) -> None:
        waiting = self.stream.wait()
        self.assertNoResult(waiting)
        self.body.send(b"a")
        self.successResultOf(waiting)
        waiting = self.stream.wait()
        self.body.end()
        self.successResultOf(waiting)
        self.successResultOf(self.stream.wait())

    def test_failed(self) -> None:
        """
        A body that fails makes every wait fail; it is never exhausted.
        """
        waiting = self.stream.wait()
        self.body.done.errback(Failure(ClientGone("gone")))
        self.failureResultOf(waiting, ClientGone)
        self.failureResultOf(self.stream.wait(), ClientGone)
        self.assertTrue(self.stream.ended)
        self.assertFalse(self.stream.exhausted)

    def test_cancel_wait(self) -> None:
        waiting = self.stream.wait()
        waiting.cancel()
        self.failureResultOf(waiting, CancelledError)
        self.body.send(b"a")
        self.assertEqual(self.stream.take(), b"a")

    def test_close(self) -> None:
        """
        A closed stream stops its body and drops what it holds or gets.
        """
        self.body.send(b"a")
        self.stream.close()
        self.assertTrue(self.body.stopped)
        self.assertIsNone(self.stream.take())
        self.body.send(b"b")
        self.assertIsNone(self.stream.take())

    def test_no_body(self) -> None:
        stream = BodyStream(None, 10)
        self.assertTrue(stream.exhausted)
        self.successResultOf(stream.wait())
        stream.close()
