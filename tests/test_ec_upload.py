"""
Tests for L{twisted_proxy.backend.ec.upload}: a body encoded a segment at a
time and fanned out to fragment archive putters, with flow control.
"""

from __future__ import annotations

import hashlib
from typing import cast

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from tests.doubles import PushedBody, make_node
from twisted_proxy.backend.ec.putter import MIMEPutter
from twisted_proxy.backend.ec.upload import ECUpload, QuorumLost, TooLarge
from twisted_proxy.controllers.obj_ec import _assign_fragments
from twisted_proxy.swift.ec.scheme import ECScheme
from twisted_proxy.swift.ring import Node

SCHEME = ECScheme("liberasurecode_rs_vand", 4, 2, segment_size=1000)


class _Putter(MIMEPutter):
    """
    A putter that keeps the archive bytes it is sent.
    """

    def __init__(self, index: int) -> None:
        super().__init__(Clock(), make_node("1", index, "d"), b"B", 10)
        self.frag_index = index
        self.archive = b""
        self.makeConnection(StringTransport())

    def send_fragment(self, data: bytes) -> None:
        if not self.failed:
            self.archive += data


class UploadTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.putters = [_Putter(i) for i in range(6)]
        self.source = PushedBody()

    def test_archives(self) -> None:
        """
        Each putter gets its archive: fragment C{i} of every segment,
        encoded a segment at a time however the body is chunked; the etags
        are those of the body and of each archive.
        """
        upload = ECUpload(SCHEME, self.putters, 5)
        d = upload.run(self.source)
        body = bytes(range(256)) * 10
        for start in range(0, len(body), 333):
            self.source.send(body[start:start + 333])
        self.source.end()
        self.successResultOf(d)
        self.assertEqual(upload.received, 2560)
        self.assertEqual(upload.etag, hashlib.md5(body).hexdigest())
        expected = [b""] * 6
        for start in range(0, len(body), 1000):
            fragments = SCHEME.encode(body[start:start + 1000])
            expected = [a + f for a, f in zip(expected, fragments)]
        for putter in self.putters:
            self.assertEqual(putter.archive, expected[putter.frag_index])  # type: ignore[index]
            self.assertEqual(upload.archive_etag(putter.frag_index),  # type: ignore[arg-type]
                             hashlib.md5(putter.archive).hexdigest())
        self.assertEqual(len(putter.archive), SCHEME.archive_length(len(body)))

    def test_noBody(self) -> None:
        upload = ECUpload(SCHEME, self.putters, 5)
        self.successResultOf(upload.run(None))
        self.assertEqual([p.archive for p in self.putters], [b""] * 6)
        self.assertEqual(upload.archive_etag(0), hashlib.md5(b"").hexdigest())

    def test_flow(self) -> None:
        """
        The source is paused while any live putter's connection is full, and
        not for a failed one.
        """
        upload = ECUpload(SCHEME, self.putters, 5)
        upload.run(self.source)
        self.putters[2].pauseProducing()
        self.assertTrue(self.source.paused)
        self.putters[3].pauseProducing()
        self.putters[2].resumeProducing()
        self.assertTrue(self.source.paused)
        self.putters[3].abort()
        self.assertFalse(self.source.paused)

    def test_quorumLost(self) -> None:
        """
        With fewer live putters than the quorum, the source is stopped and
        the upload fails.
        """
        upload = ECUpload(SCHEME, self.putters, 5)
        d = upload.run(self.source)
        self.putters[0].abort()
        self.assertNoResult(d)
        self.putters[1].abort()
        self.assertTrue(self.source.stopped)
        self.failureResultOf(d, QuorumLost)

    def test_tooLarge(self) -> None:
        upload = ECUpload(SCHEME, self.putters, 5, max_size=1500)
        d = upload.run(self.source)
        self.source.send(b"x" * 1000)
        self.source.send(b"x" * 501)
        self.assertTrue(self.source.stopped)
        self.failureResultOf(d, TooLarge)

    def test_sourceFails(self) -> None:
        upload = ECUpload(SCHEME, self.putters, 5)
        d = upload.run(self.source)
        self.source.done.errback(ValueError("gone"))
        self.failureResultOf(d, ValueError)

    def test_duplicates(self) -> None:
        """
        With duplicated fragments, two putters carry the same archive.
        """
        putters = [_Putter(i % 6) for i in range(12)]
        scheme = ECScheme("liberasurecode_rs_vand", 4, 2, segment_size=1000, duplication=2)
        upload = ECUpload(scheme, putters, 10)
        d = upload.run(self.source)
        self.source.send(b"y" * 2500)
        self.source.end()
        self.successResultOf(d)
        for index in range(6):
            self.assertEqual(putters[index].archive, putters[index + 6].archive)
            self.assertEqual(upload.archive_etag(index),
                             hashlib.md5(putters[index].archive).hexdigest())




class AssignTests(SynchronousTestCase):
    """
    L{twisted_proxy.controllers.obj_ec._assign_fragments}: which archive
    each putter carries.
    """

    def putter(self, **node: object) -> MIMEPutter:
        return MIMEPutter(Clock(), cast(Node, dict(node, ip="1", port=1, device="d")), b"B", 10)

    def test_primaries(self) -> None:
        """
        A primary carries the archive of its ring slot.
        """
        putters = [self.putter(index=i) for i in (3, 0, 5, 1, 2, 4)]
        _assign_fragments(putters, SCHEME)
        self.assertEqual([p.frag_index for p in putters], [3, 0, 5, 1, 2, 4])

    def test_handoffs(self) -> None:
        """
        Handoffs carry the archives of the missing primaries; with
        duplication, the most-missing index first.
        """
        putters = [self.putter(index=i) for i in (0, 2, 3, 5)]
        handoffs = [self.putter(handoff_index=i) for i in range(2)]
        _assign_fragments(putters + handoffs, SCHEME)
        self.assertEqual([p.frag_index for p in handoffs], [1, 4])
        scheme = ECScheme("liberasurecode_rs_vand", 4, 2, duplication=2)
        putters = [self.putter(index=i) for i in range(12) if i not in (1, 7, 8)]
        handoffs = [self.putter(handoff_index=i) for i in range(3)]
        _assign_fragments(putters + handoffs, scheme)
        # Index 1 lacks both copies: its second hole is filled first.
        self.assertEqual([p.frag_index for p in handoffs], [1, 1, 2])
