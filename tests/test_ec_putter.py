"""
Tests for L{twisted_proxy.backend.ec.putter} (the HTTP exchange of one
fragment archive PUT) and L{twisted_proxy.swift.ec.mime} (its body).
"""

from __future__ import annotations

import hashlib
import json
import random

from twisted.internet.defer import CancelledError, ensureDeferred
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from tests.doubles import make_node
from twisted_proxy.backend.ec.putter import MIMEPutter, PutterResponse, connect_putter
from twisted_proxy.backend.nodeclient import NodeError, NodeTimeout
from twisted_proxy.swift.ec.mime import (
    body_start,
    chunk,
    commit_part,
    footer_part,
    make_boundary,
    put_headers,
)

_NODE = make_node("10.0.0.1", 6200, "sdb1")
_BOUNDARY = b"b" * 64


def _unchunk(data: bytes) -> list[bytes]:
    """
    The chunks of a chunked body, the terminating empty ones included.
    """
    chunks = []
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        chunks.append(data[:size])
        assert data[size:size + 2] == b"\r\n"
        data = data[size + 2:]
    return chunks


class MimeTests(SynchronousTestCase):
    """
    The MIME documents, byte for byte as Swift's proxy frames them.
    """

    def test_boundary(self) -> None:
        boundary = make_boundary(random.Random(1))
        self.assertEqual(len(boundary), 64)
        int(boundary, 16)

    def test_documents(self) -> None:
        self.assertEqual(body_start(b"B"), b"--B\r\nX-Document: object body\r\n\r\n")
        footers = {"Etag": "abc", "X-Object-Sysmeta-Ec-Frag-Index": "2"}
        body = json.dumps(footers).encode()
        self.assertEqual(
            footer_part(b"B", footers),
            b"\r\n--B\r\nX-Document: object metadata\r\nContent-MD5: "
            + hashlib.md5(body).hexdigest().encode() + b"\r\n\r\n" + body + b"\r\n--B\r\n")
        self.assertTrue(footer_part(b"B", footers, multiphase=False).endswith(b"--B--\r\n"))
        self.assertEqual(commit_part(b"B"),
                         b"X-Document: put commit\r\n\r\nput_commit_confirmation\r\n--B--")
        self.assertEqual(chunk(b""), [])
        self.assertEqual(b"".join(chunk(b"hello")), b"5\r\nhello\r\n")

    def test_headers(self) -> None:
        """
        The archive PUT drops the object's length and etag, says the
        archive's length, and asks for footers and a multiphase commit.
        """
        headers = put_headers({"Content-Length": "10", "Etag": "x", "X-Timestamp": "1",
                               "Expect": "100-continue"}, _BOUNDARY, 123)
        self.assertEqual(headers, {
            "X-Timestamp": "1",
            "X-Backend-Obj-Content-Length": "123",
            "Transfer-Encoding": "chunked",
            "Expect": "100-continue",
            "X-Backend-Obj-Multipart-Mime-Boundary": "b" * 64,
            "X-Backend-Obj-Metadata-Footer": "yes",
            "X-Backend-Obj-Multiphase-Commit": "yes",
        })
        self.assertNotIn("X-Backend-Obj-Content-Length", put_headers({}, _BOUNDARY, None))


class PutterTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.putter = MIMEPutter(self.clock, _NODE, _BOUNDARY, write_timeout=10)
        self.transport = StringTransport()
        self.putter.makeConnection(self.transport)

    def sent(self) -> bytes:
        data = self.transport.value()
        self.transport.clear()
        return data

    def test_exchange(self) -> None:
        """
        The whole conversation: head; first C{100 Continue}; the archive,
        footers and the end of the first chunked body; second C{100
        Continue}; the commit and the end; the final answer, after which
        the connection is closed.
        """
        putter = self.putter
        putter.send_head("PUT", "/sdb1/7/a/c/o", {"X-Timestamp": "1"})
        head = self.sent()
        self.assertEqual(head, b"PUT /sdb1/7/a/c/o HTTP/1.1\r\nHost: 10.0.0.1:6200\r\n"
                               b"X-Timestamp: 1\r\n\r\n")
        first = putter.next_response(5)
        self.assertNoResult(first)
        putter.dataReceived(b"HTTP/1.1 100 Continue\r\nX-Obj-Metadata-Footer: yes\r\n"
                            b"X-Obj-Multiphase-Commit: yes\r\n\r\n")
        response = self.successResultOf(first)
        self.assertTrue(response.interim)
        self.assertEqual(response.headers["X-Obj-Multiphase-Commit"], "yes")
        putter.send_fragment(b"frag1")
        putter.send_fragment(b"")
        putter.send_fragment(b"frag2")
        putter.end_of_data({"Etag": "e"})
        self.assertEqual(_unchunk(self.sent()), [
            body_start(_BOUNDARY), b"frag1", b"frag2", footer_part(_BOUNDARY, {"Etag": "e"}),
            b""])
        putter.dataReceived(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.assertTrue(self.successResultOf(putter.next_response(5)).interim)
        putter.send_commit()
        self.assertEqual(_unchunk(self.sent()), [commit_part(_BOUNDARY), b""])
        final = putter.next_response(5)
        putter.dataReceived(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nEtag: x\r\n\r\nok")
        response = self.successResultOf(final)
        self.assertEqual((response.status, response.body, response.headers["Etag"]),
                         (201, b"ok", "x"))
        self.assertFalse(putter.failed)
        self.assertTrue(self.transport.disconnecting)

    def test_emptyArchive(self) -> None:
        """
        An empty archive still opens the object document before the
        footers.
        """
        self.putter.end_of_data({})
        self.assertEqual(_unchunk(self.sent()),
                         [body_start(_BOUNDARY), footer_part(_BOUNDARY, {}), b""])

    def test_earlyAnswer(self) -> None:
        """
        A final answer before the body ended fails the putter: nothing more
        is sent, and the answer is kept.
        """
        self.putter.dataReceived(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.successResultOf(self.putter.next_response(1))
        self.putter.dataReceived(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
        self.assertTrue(self.putter.failed)
        self.sent()
        self.putter.send_fragment(b"more")
        self.assertEqual(self.sent(), b"")
        response = self.successResultOf(self.putter.next_response(1))
        self.assertEqual(response.status, 408)

    def test_responseTimeout(self) -> None:
        d = self.putter.next_response(3)
        self.clock.advance(3)
        self.failureResultOf(d, NodeTimeout)

    def test_connectionLost(self) -> None:
        d = self.putter.next_response(3)
        self.putter.connectionLost()
        self.failureResultOf(d, NodeError)
        self.assertTrue(self.putter.failed)

    def test_bodyUntilClose(self) -> None:
        """
        A final answer without a length ends with the connection.
        """
        self.putter.send_commit()
        d = self.putter.next_response(3)
        self.putter.dataReceived(b"HTTP/1.1 503 Service Unavailable\r\n\r\nno")
        self.assertNoResult(d)
        self.putter.connectionLost()
        response: PutterResponse = self.successResultOf(d)
        self.assertEqual((response.status, response.body), (503, b"no"))

    def test_writeStall(self) -> None:
        """
        A connection that takes no data for the write timeout fails the
        putter, and closes; resuming in time cancels the timer. The owner is
        told of every change.
        """
        told = []
        self.putter.on_flow = lambda: told.append((self.putter.paused, self.putter.failed))
        self.putter.pauseProducing()
        self.clock.advance(9)
        self.putter.resumeProducing()
        self.clock.advance(5)
        self.assertFalse(self.putter.failed)
        self.putter.pauseProducing()
        self.clock.advance(10)
        self.assertTrue(self.putter.failed)
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(told, [(True, False), (False, False), (True, False), (True, True)])

    def test_badResponse(self) -> None:
        d = self.putter.next_response(3)
        self.putter.dataReceived(b"garbage\r\n\r\n")
        self.assertTrue(self.putter.failed)
        self.putter.connectionLost()
        self.failureResultOf(d, NodeError)


class ConnectTests(SynchronousTestCase):
    """
    L{connect_putter} cancelled while it connects.
    """

    def test_cancelWhileConnecting(self) -> None:
        """
        A connect cancelled by the proxy (its client went away) fails with
        L{CancelledError}, not a L{NodeError}: it is not the node's failure
        and must not count towards error limiting the node (a wrk run's end
        cancelled a dozen fragment connects at once and error limited every
        object server).
        """
        reactor = MemoryReactorClock()
        d = ensureDeferred(connect_putter(reactor, make_node(), "/sda/1/a/c/o", {},
                                          b"boundary", 0.5, 10.0))
        self.assertEqual(len(reactor.tcpClients), 1)
        d.cancel()
        self.failureResultOf(d, CancelledError)
