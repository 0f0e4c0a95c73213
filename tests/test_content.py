"""
Tests for L{twisted_proxy.backend.content}.
"""

from __future__ import annotations

from twisted.internet.defer import CancelledError
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import ResponseDone, ResponseFailed
from twisted.web.http_headers import Headers

from tests.test_streaming import make_response
from twisted_proxy.backend.content import discard_body, drop_body, read_answer, read_body


class ReadBodyTests(SynchronousTestCase):
    """
    Tests for L{read_body} and L{read_answer}.
    """

    def test_whole(self) -> None:
        response, _ = make_response(5)
        d = read_body(response)
        response._bodyDataReceived(b"hel")
        response._bodyDataReceived(b"lo")
        response._bodyDataFinished()
        self.assertEqual(self.successResultOf(d), b"hello")

    def test_failed(self) -> None:
        """
        A body cut short fails as the connection did.
        """
        response, _ = make_response(5)
        d = read_body(response)
        response._bodyDataFinished(Failure(ResponseFailed([Failure(ConnectionLost())])))
        self.failureResultOf(d, ResponseFailed)

    def test_answer(self) -> None:
        """
        An answer is the status, the reason as a WSGI string, the body and
        the headers (last value of each).
        """
        response, _ = make_response(2)
        response.phrase = b"Caf\xc3\xa9"
        response.headers = Headers({b"X-Thing": [b"a", b"b"], b"Etag": [b'"abc"']})
        d = read_answer(response)
        response._bodyDataReceived(b"ok")
        response._bodyDataFinished()
        status, reason, body, headers = self.successResultOf(d)
        self.assertEqual((status, reason, body), (200, "Caf\xc3\xa9", b"ok"))
        self.assertEqual((headers["x-thing"], headers["etag"]), ("b", '"abc"'))


    def test_emptyAnswerAtOnce(self) -> None:
        """
        An answer with no body (C{Content-Length: 0}, as most answers to
        writes) is there at once, before its body is even read.
        """
        response, _ = make_response(0)
        response.headers = Headers({b"Etag": [b'"abc"']})
        status, reason, body, headers = self.successResultOf(read_answer(response))
        self.assertEqual((status, body, headers["etag"]), (200, b"", '"abc"'))


class DiscardBodyTests(SynchronousTestCase):
    """
    Tests for L{discard_body} and L{drop_body}.
    """

    def test_readsToEnd(self) -> None:
        """
        The body is read to its end, leaving the connection open.
        """
        response, backend = make_response(3)
        d = discard_body(response)
        self.assertNoResult(d)
        response._bodyDataReceived(b"abc")
        response._bodyDataFinished()
        self.assertIsNone(self.successResultOf(d))
        self.assertFalse(backend.disconnecting)

    def test_alreadyRead(self) -> None:
        """
        A body that has already arrived is discarded at once.
        """
        response, _ = make_response(3)
        response._bodyDataReceived(b"abc")
        response._bodyDataFinished()
        self.successResultOf(discard_body(response))

    def test_failure(self) -> None:
        """
        However the body ends, the Deferred fires with C{None}.
        """
        response, _ = make_response(3)
        d = discard_body(response)
        response._bodyDataFinished(Failure(ResponseFailed([Failure(ConnectionLost())])))
        self.assertIsNone(self.successResultOf(d))

    def test_close(self) -> None:
        """
        With C{close}, the connection is dropped.
        """
        response, backend = make_response(3)
        d = discard_body(response, close=True)
        self.assertTrue(backend.disconnecting)
        response._bodyDataFinished(Failure(ResponseFailed([Failure(ConnectionLost())])))
        self.successResultOf(d)

    def test_cancel(self) -> None:
        """
        Cancelling drops the connection, and the body ending later is no
        error.
        """
        response, backend = make_response(3)
        d = discard_body(response)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertTrue(backend.disconnecting)
        response._bodyDataFinished(Failure(ResponseDone()))

    def test_drop(self) -> None:
        """
        L{drop_body} drops the connection; the body's end is nobody's
        concern.
        """
        response, backend = make_response(3)
        drop_body(response)
        self.assertTrue(backend.disconnecting)
        response._bodyDataFinished(Failure(ResponseFailed([Failure(ConnectionLost())])))
