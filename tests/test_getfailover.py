"""
Fault injection on the object GET path: storage nodes that stall, cut a
body short, die, hold another version, a tombstone or a full disk, and what
the client gets then (L{twisted_proxy.backend.resuming}, L{twisted_proxy.backend.streaming},
L{twisted_proxy.controllers.obj}, L{twisted_proxy.controllers.base}).

Every test runs against a L{FakeCluster} on a L{Clock}; primaries are tried
in ring order. Each ends by checking that no backend connection was left
open and no timer left behind.
"""

from __future__ import annotations

from typing import Optional

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests import fakenodes
from tests.fakenodes import (
    ClientConnection,
    Die,
    Download,
    FakeCluster,
    Fault,
    InRingOrder,
    Proxy,
    Short,
    Stall,
    StoredObject,
    make_proxy,
    render_object,
)
from twisted_proxy.backend import nodes
from twisted_proxy.backend.resuming import NoMoreSources, ResumingBody
from twisted_proxy.swift.ring import Node

DATA = bytes(range(256)) * 4
OBJ = StoredObject(DATA[:100], timestamp="1700000100.00000")
OTHER = StoredObject(DATA[50:150], timestamp="1700000200.00000")
TIMEOUT = 2.0
NODE_TIMEOUT = 10.0


class _Base(SynchronousTestCase):
    """
    A cluster of three primaries and three handoffs (every object node
    empty until a test says otherwise) behind a proxy.
    """

    def setUp(self) -> None:
        self.patch(nodes, "_RANDOM", InRingOrder())
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock)
        self.proxy = self.make_proxy()

    def make_proxy(self, **settings: object) -> Proxy:
        settings.setdefault("recoverable_node_timeout", TIMEOUT)
        settings.setdefault("node_timeout", NODE_TIMEOUT)
        return make_proxy(self.clock, self.cluster, **settings)

    def tearDown(self) -> None:
        self.clock.advance(0)
        self.assertEqual(self.cluster.open_connections(), [])
        self.assertEqual(self.cluster.pending_requests(), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def gets(self) -> list[tuple[str, Optional[str]]]:
        """
        Which object node got each GET, and its Range.
        """
        return [(r.node.ring_node["ip"], r.range)
                for r in self.cluster.object_requests("GET")]

    def ring_node(self, index: int) -> Node:
        return self.cluster.objects[index].ring_node

    def assertAborted(self, download: Download, why: type = NoMoreSources) -> None:
        """
        The body failed with C{why}: the server then aborts the client's
        connection rather than end the body short.
        """
        failure = download.failure
        self.assertIsNotNone(failure, download.outcome)
        assert failure is not None
        failure.trap(why)


def expected(obj: StoredObject, range_header: Optional[str]) -> tuple[int, bytes]:
    status, _, body = render_object(obj, range_header)
    return status, body


class StallTests(_Base):
    """
    A node that stops sending mid-body is given up after
    C{recoverable_node_timeout}, and the body goes on from the next replica
    with the C{Range} of what is left.
    """

    def stalled(self, range_header: Optional[str], after: int,
                resume_range: str) -> Download:
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].serve(OBJ, Stall(after))
        headers = {"Range": range_header} if range_header else {}
        download = self.proxy.get(headers=headers)
        status, body = expected(OBJ, range_header)
        self.assertEqual(download.status, status)
        self.assertEqual(download.headers["Content-Length"], str(len(body)))
        self.assertEqual(download.body, body[:after])
        self.assertIsNone(download.outcome)
        # Not a moment before the timeout.
        self.clock.advance(TIMEOUT - 0.001)
        self.assertEqual(len(self.gets()), 1)
        self.clock.advance(0.001)
        self.assertEqual(self.gets(), [("10.0.0.1", range_header),
                                       ("10.0.0.2", resume_range)])
        self.assertEqual(download.body, body)
        self.assertTrue(download.finished)
        self.assertTrue(self.cluster.primaries[0].last_connection.dropped)
        assert isinstance(download.response.body, ResumingBody)
        self.assertEqual(download.response.body.resumes, 1)
        return download

    def test_wholeObject(self) -> None:
        """
        A whole-object GET resumes with C{bytes=N-}.
        """
        self.stalled(None, 30, "bytes=30-")

    def test_singleRange(self) -> None:
        """
        A range C{a-b} resumes with C{a+N-b}.
        """
        self.stalled("bytes=10-59", 20, "bytes=30-59")

    def test_openEndedRange(self) -> None:
        """
        A range C{a-} resumes with C{a+N-}.
        """
        self.stalled("bytes=25-", 10, "bytes=35-")

    def test_suffixRange(self) -> None:
        """
        A suffix range C{-n} resumes with C{-(n-N)}.
        """
        self.stalled("bytes=-40", 15, "bytes=-25")

    def test_suffixLongerThanObject(self) -> None:
        """
        A suffix longer than the object selects all of it; what is left is
        counted from the object's length, not the suffix's.
        """
        self.stalled("bytes=-500", 30, "bytes=-70")

    def test_beforeFirstByte(self) -> None:
        """
        A node that sends headers and then nothing is replaced from byte 0.
        """
        self.stalled(None, 0, "bytes=0-")

    def test_twice(self) -> None:
        """
        A replacement that stalls in turn is replaced from where it stopped.
        """
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].serve(OBJ, Stall(20))
        self.cluster.primaries[1].serve(OBJ, Stall(30))
        download = self.proxy.get(headers={"Range": "bytes=5-94"})
        self.clock.advance(TIMEOUT)
        self.assertEqual(download.body, DATA[5:55])
        self.clock.advance(TIMEOUT)
        self.assertEqual(self.gets(), [("10.0.0.1", "bytes=5-94"),
                                       ("10.0.0.2", "bytes=25-94"),
                                       ("10.0.0.3", "bytes=55-94")])
        self.assertEqual(download.body, DATA[5:95])
        self.assertTrue(download.finished)

    def test_errorLimited(self) -> None:
        """
        The node that stalled has an error counted against it, and with
        C{error_suppression_limit = 0} is skipped by the next request.
        """
        self.proxy = self.make_proxy(error_suppression_limit=0)
        self.stalled(None, 30, "bytes=30-")
        limiter = self.proxy.context.limiter
        self.assertEqual(limiter.errors(self.ring_node(0)), 1)
        self.assertTrue(limiter.is_limited(self.ring_node(0)))
        self.assertFalse(limiter.is_limited(self.ring_node(1)))
        again = self.proxy.get()
        self.assertEqual(again.body, OBJ.data)
        self.assertEqual([ip for ip, _ in self.gets()][2:], ["10.0.0.2"])

    def test_slowClient(self) -> None:
        """
        A client whose socket keeps filling does not count as a stalled
        node, and a real stall is still caught.
        """
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].serve(OBJ, Stall(50))
        download = self.proxy.get(slow=True)
        self.assertEqual(download.body, OBJ.data[:50])
        self.clock.advance(TIMEOUT)
        self.clock.advance(0)
        self.assertEqual(download.body, OBJ.data)
        self.assertTrue(download.finished)

    def test_slowNode(self) -> None:
        """
        A node that sends slowly but never stays silent for the timeout is
        not given up.
        """
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].interval = TIMEOUT * 0.75
        download = self.proxy.get()
        for _ in range(len(OBJ.data) // self.cluster.chunk_size + 1):
            self.clock.advance(TIMEOUT * 0.75)
        self.assertEqual(download.body, OBJ.data)
        self.assertTrue(download.finished)
        self.assertEqual(len(self.gets()), 1)

    def test_pausedWhileResuming(self) -> None:
        """
        A client whose socket fills while the next replica is being found
        gets nothing more until it has room: the new source starts paused,
        and is not timed out meanwhile.
        """
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].serve(OBJ, Stall(30))
        self.cluster.primaries[1].latency = 1.0
        download = self.proxy.get()
        self.clock.advance(TIMEOUT)
        download.pause()
        self.clock.advance(1.0)
        self.clock.advance(TIMEOUT * 10)
        replacement = self.cluster.primaries[1].last_connection
        self.assertTrue(replacement.paused)
        self.assertEqual(download.body, OBJ.data[:30])
        self.assertIsNone(download.outcome)
        download.resume()
        self.clock.advance(0)
        self.assertEqual(download.body, OBJ.data)
        self.assertTrue(download.finished)
        self.assertEqual(len(self.gets()), 2)

    def test_newestUsesNodeTimeout(self) -> None:
        """
        With C{X-Newest}, a body may stay silent for C{node_timeout}, as in
        Swift, before it is resumed (on a handoff: every primary was asked
        already).
        """
        self.assertNewestUsesNodeTimeout("true")

    def test_newestOnUsesNodeTimeout(self) -> None:
        """
        C{X-Newest} takes any of Swift's true values, C{on} among them,
        for the timeout as for asking every primary.
        """
        self.assertNewestUsesNodeTimeout("on")

    def assertNewestUsesNodeTimeout(self, newest: str) -> None:
        newer = StoredObject(OBJ.data, timestamp="1700000900.00000")
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].serve(newer, Stall(10))
        for node in self.cluster.handoffs:
            node.serve(newer)
        download = self.proxy.get(headers={"X-Newest": newest})
        self.clock.advance(TIMEOUT)
        self.assertEqual(len(self.gets()), 3)
        self.assertEqual(download.body, OBJ.data[:10])
        self.clock.advance(NODE_TIMEOUT - TIMEOUT)
        self.assertEqual(download.body, OBJ.data)
        resumed = self.cluster.object_requests()[-1]
        self.assertIn(resumed.node, self.cluster.handoffs)
        self.assertEqual(resumed.range, "bytes=10-")


class ShortBodyTests(_Base):
    """
    A body that ends before its announced length is resumed at once.
    """

    def cut(self, fault: Fault) -> None:
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].serve(OBJ, fault)
        download = self.proxy.get(headers={"Range": "bytes=10-89"})
        self.assertEqual(self.gets(), [("10.0.0.1", "bytes=10-89"),
                                       ("10.0.0.2", "bytes=50-89")])
        self.assertEqual(download.body, OBJ.data[10:90])
        self.assertTrue(download.finished)
        self.assertEqual(self.proxy.context.limiter.errors(self.ring_node(0)), 1)

    def test_closed(self) -> None:
        """
        The node closes the connection after 40 of 80 bytes.
        """
        self.cut(Short(40))

    def test_endedShort(self) -> None:
        """
        The body ends as if whole after 40 of 80 bytes
        (L{twisted_proxy.backend.streaming.ShortRead}).
        """
        self.cut(Short(40, clean=True))

    def test_died(self) -> None:
        """
        The connection is reset after 40 bytes.
        """
        self.cut(Die(40))

    def test_unknownLength(self) -> None:
        """
        A chunked body (no length) that dies is resumed from where it
        stopped.
        """
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].serve(OBJ, Die(33), chunked=True)
        download = self.proxy.get()
        self.assertEqual(self.gets()[-1], ("10.0.0.2", "bytes=33-"))
        self.assertEqual(download.body, OBJ.data)
        self.assertTrue(download.finished)


class OtherVersionTests(_Base):
    """
    A replica holding another version of the object (another etag) is never
    spliced into a body.
    """

    def test_skipped(self) -> None:
        """
        A replacement with another etag is dropped and counted as an error;
        the next one with the same etag continues the body.
        """
        self.cluster.primaries[0].serve(OBJ, Stall(30))
        self.cluster.primaries[1].serve(OTHER)
        self.cluster.primaries[2].serve(OBJ)
        download = self.proxy.get()
        self.clock.advance(TIMEOUT)
        self.assertEqual(self.gets(), [("10.0.0.1", None), ("10.0.0.2", "bytes=30-"),
                                       ("10.0.0.3", "bytes=30-")])
        self.assertTrue(self.cluster.primaries[1].last_connection.dropped)
        self.assertEqual(download.body, OBJ.data)
        self.assertTrue(download.finished)
        self.assertEqual(self.proxy.context.limiter.errors(self.ring_node(1)), 1)

    def test_rangeIgnored(self) -> None:
        """
        A replacement that ignores the C{Range} (a 200 of the whole object)
        is skipped, with or without a known length; the next one continues.
        """
        for chunked in (False, True):
            self.cluster.requests.clear()
            self.cluster.primaries[0].serve(OBJ, Stall(30), chunked=chunked)
            self.cluster.primaries[1].serve(OBJ, ignore_range=True, chunked=chunked)
            self.cluster.primaries[2].serve(OBJ, chunked=chunked)
            download = self.proxy.get()
            self.clock.advance(TIMEOUT)
            self.assertEqual(self.gets()[1:], [("10.0.0.2", "bytes=30-"),
                                               ("10.0.0.3", "bytes=30-")])
            self.assertEqual(download.body, OBJ.data)
            self.assertTrue(download.finished)

    def test_noneLeft(self) -> None:
        """
        When no node with the same etag remains, the body fails after the
        bytes already sent.
        """
        self.cluster.primaries[0].serve(OBJ, Stall(30))
        self.cluster.primaries[1].serve(OTHER)
        self.cluster.primaries[2].serve(OTHER)
        download = self.proxy.get()
        self.clock.advance(TIMEOUT)
        self.assertAborted(download)
        self.assertEqual(download.body, OBJ.data[:30])
        self.assertEqual(len(self.gets()), 6)

    def test_noneLeftAbortsClient(self) -> None:
        """
        Through the server, the client's connection is aborted: it never
        sees a clean, short 200.
        """
        self.cluster.primaries[0].serve(OBJ, Stall(30))
        self.cluster.primaries[1].serve(OTHER)
        client = ClientConnection(self.proxy)
        client.send("GET", "/v1/a/c/o")
        self.clock.advance(TIMEOUT)
        status, headers, body = client.response()
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-length"], "100")
        self.assertEqual(body, OBJ.data[:30])
        self.assertTrue(client.aborted)


class AllFailTests(_Base):
    """
    When every replica fails, the body fails; nothing is made up.
    """

    def test_allFail(self) -> None:
        """
        Each replica fails in turn; the client has every byte delivered
        once, then the body fails.
        """
        self.cluster.primaries[0].serve(OBJ, Stall(10))
        self.cluster.primaries[1].serve(OBJ, Die(20))
        self.cluster.primaries[2].serve(OBJ, Short(30))
        self.cluster.handoffs[0].answer(503)
        self.cluster.handoffs[1].refuse()
        self.cluster.handoffs[2].serve(OBJ, Stall(5))
        download = self.proxy.get()
        self.assertEqual(download.body, OBJ.data[:10])
        # The second and third replicas fail at once; the last stalls.
        self.clock.advance(TIMEOUT)
        self.assertEqual(download.body, OBJ.data[:65])
        self.assertIsNone(download.outcome)
        self.clock.advance(TIMEOUT)
        self.assertEqual(download.body, OBJ.data[:65])
        self.assertAborted(download)
        self.assertEqual([r for _, r in self.gets()],
                         [None, "bytes=10-", "bytes=30-"] + ["bytes=60-"] * 3)

    def test_allFailAbortsClient(self) -> None:
        """
        Through the server, the client's connection is aborted.
        """
        self.cluster.primaries[0].serve(OBJ, Stall(10))
        self.cluster.primaries[1].serve(OBJ, Die(20))
        client = ClientConnection(self.proxy)
        client.send("GET", "/v1/a/c/o", {"Range": "bytes=0-49"})
        self.clock.advance(TIMEOUT)
        status, headers, body = client.response()
        self.assertEqual(status, 206)
        self.assertEqual(headers["content-length"], "50")
        self.assertEqual(body, OBJ.data[:30])
        self.assertTrue(client.aborted)

    def test_wholeBodyThroughServer(self) -> None:
        """
        The control for the two above: a resumed body reaches the client's
        socket whole, and the connection stays open.
        """
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].serve(OBJ, Stall(10))
        client = ClientConnection(self.proxy)
        client.send("GET", "/v1/a/c/o")
        self.clock.advance(TIMEOUT)
        status, headers, body = client.response()
        self.assertEqual((status, body), (200, OBJ.data))
        self.assertFalse(client.aborted)
        self.assertFalse(client.transport.disconnecting)


class MultiRangeTests(_Base):
    """
    A multipart (multi-range) body resumes on another replica: the framing
    still owed is written again with the boundary the client already has,
    and only the data still owed is asked for.
    """

    def _resumes(self, stall_at: int, ranges: str, resumed_range: str) -> None:
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].serve(OBJ, Stall(stall_at))
        download = self.proxy.get(headers={"Range": ranges})
        status, body = expected(OBJ, ranges)
        self.assertEqual(download.status, 206)
        # The replacement frames its answer differently.
        self.patch(fakenodes, "BOUNDARY", "anotherboundary987")
        self.clock.advance(TIMEOUT)
        for _ in range(100):
            if download.finished:
                break
            self.clock.advance(0)
        self.assertEqual(download.body, body)
        self.assertTrue(download.finished)
        self.assertEqual(self.gets()[-1][1], resumed_range)
        self.assertTrue(self.cluster.primaries[0].last_connection.dropped)

    def test_inFirstPartHeaders(self) -> None:
        """
        Cut inside the first part's headers: every range is asked for again,
        and the layout is learnt from the replacement's first part.
        """
        self._resumes(40, "bytes=0-9,20-29", "bytes=0-9,20-29")

    def test_inData(self) -> None:
        """
        Cut inside a part's data: the rest of that part and the later parts.
        """
        status, body = expected(OBJ, "bytes=0-9,20-29")
        inside = body.index(bytes(OBJ.data[0:10])) + 4
        self._resumes(inside, "bytes=0-9,20-29", "bytes=4-9,20-29")

    def test_inLaterFraming(self) -> None:
        """
        Cut in the framing between parts: only the later parts' data.
        """
        status, body = expected(OBJ, "bytes=0-9,20-29")
        between = body.index(bytes(OBJ.data[0:10])) + 10 + 5
        self._resumes(between, "bytes=0-9,20-29", "bytes=20-29")

    def test_lastPartOnly(self) -> None:
        """
        A single range left is asked for as one, answered without framing.
        """
        status, body = expected(OBJ, "bytes=0-9,20-29,-5")
        inside = body.index(bytes(OBJ.data[-5:])) + 2
        self._resumes(inside, "bytes=0-9,20-29,-5",
                      f"bytes={len(OBJ.data) - 3}-{len(OBJ.data) - 1}")

    def test_abortsClientWhenNoneLeft(self) -> None:
        """
        Through the server, with every replica failing, the client's
        connection is aborted, never ended as if whole.
        """
        for node in self.cluster.objects:
            node.serve(OBJ, Die(40))
        client = ClientConnection(self.proxy)
        client.send("GET", "/v1/a/c/o", {"Range": "bytes=0-9,20-29"})
        status, _, body = client.response()
        self.assertEqual(status, 206)
        self.assertEqual(body[:40], expected(OBJ, "bytes=0-9,20-29")[1][:40])
        self.assertTrue(client.aborted)

    def test_whole(self) -> None:
        """
        The control: a multi-range body that does not fail arrives whole.
        """
        self.cluster.serve(OBJ)
        download = self.proxy.get(headers={"Range": "bytes=0-9,20-29"})
        self.assertEqual(download.body, expected(OBJ, "bytes=0-9,20-29")[1])
        self.assertTrue(download.finished)


class ErrorBodyTests(_Base):
    """
    The body of an answer other than 200 or 206 is not object data, and is
    never continued with object data.
    """

    def test_416(self) -> None:
        """
        A 416 whose body is cut short fails; no node is asked for the rest
        (here object bytes would fit exactly where the error page stopped).
        """
        status, body = expected(OBJ, "bytes=500-")
        obj = StoredObject(DATA[:len(body)])
        self.cluster.serve(obj)
        self.cluster.primaries[0].serve(obj, Die(10))
        download = self.proxy.get(headers={"Range": "bytes=500-"})
        self.assertEqual(download.status, 416)
        self.assertAborted(download)
        self.assertEqual(download.body, body[:10])
        self.assertEqual(len(self.gets()), 1)

    def test_416Whole(self) -> None:
        """
        The control: a 416's body arrives whole.
        """
        self.cluster.serve(OBJ)
        download = self.proxy.get(headers={"Range": "bytes=500-"})
        self.assertEqual((download.status, download.body), expected(OBJ, "bytes=500-"))
        self.assertTrue(download.finished)


class NewestTests(_Base):
    """
    C{X-Newest: true} asks every primary and serves the newest version.
    """

    def test_newest(self) -> None:
        """
        Of three versions, the one with the newest timestamp is served and
        the other two connections are closed.
        """
        old = StoredObject(b"old" * 10, timestamp="1700000001.00000")
        new = StoredObject(b"new" * 10, timestamp="1700000003.00000")
        mid = StoredObject(b"mid" * 10, timestamp="1700000002.00000")
        for node, obj in zip(self.cluster.primaries, (old, new, mid)):
            node.serve(obj)
        download = self.proxy.get(headers={"X-Newest": "true"})
        self.assertEqual(download.body, new.data)
        self.assertEqual(download.headers["X-Timestamp"], "1700000003.00000")
        self.assertEqual(len(self.gets()), 3)
        first, second, third = (n.last_connection for n in self.cluster.primaries)
        self.assertTrue(first.dropped)
        self.assertFalse(second.dropped)
        self.assertTrue(third.dropped)

    def test_offset(self) -> None:
        """
        Versions made at the same instant are ordered by their timestamps'
        offsets, as Swift orders them.
        """
        versions = [StoredObject(bytes([i]) * 10, timestamp=f"1700000001.00000_{i:016x}")
                    for i in (2, 3, 1)]
        for node, obj in zip(self.cluster.primaries, versions):
            node.serve(obj)
        download = self.proxy.get(headers={"X-Newest": "true"})
        self.assertEqual(download.body, bytes([3]) * 10)

    def test_newerTombstone(self) -> None:
        """
        A tombstone newer than every version wins: 404, and every version's
        connection is closed.
        """
        self.cluster.primaries[0].serve(OBJ)
        self.cluster.primaries[1].tombstone("1700000500.00000")
        self.cluster.primaries[2].serve(OTHER)
        download = self.proxy.get(headers={"X-Newest": "true"})
        self.assertEqual(download.status, 404)
        for index in (0, 2):
            self.assertTrue(self.cluster.primaries[index].last_connection.dropped)

    def test_cancelled(self) -> None:
        """
        A request given up while primaries are still being asked lets go
        of the versions already found.
        """
        self.cluster.serve(OBJ)
        self.cluster.primaries[1].hang()
        d = self.proxy.request("GET", "/v1/a/c/o", {"X-Newest": "true"})
        self.assertNoResult(d)
        d.cancel()
        self.failureResultOf(d)
        self.clock.advance(0)
        self.assertTrue(self.cluster.primaries[0].last_connection.dropped)
        self.assertTrue(self.cluster.primaries[1].requests[-1].cancelled)

    def test_olderTombstone(self) -> None:
        """
        A tombstone older than the newest version does not hide it.
        """
        self.cluster.primaries[0].serve(OBJ)
        self.cluster.primaries[1].tombstone("1700000150.00000")
        self.cluster.primaries[2].serve(OTHER)
        download = self.proxy.get(headers={"X-Newest": "true"})
        self.assertEqual((download.status, download.body), (200, OTHER.data))


class TombstoneTests(_Base):
    """
    A 404 with C{X-Backend-Timestamp} is a deletion: a version older than it
    is not served.
    """

    def test_newer(self) -> None:
        """
        After a tombstone newer than the replicas' version, the client gets
        404 and the stale sources' connections are closed.
        """
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].tombstone("1700000500.00000")
        download = self.proxy.get()
        self.assertEqual(download.status, 404)
        for node in self.cluster.primaries[1:]:
            self.assertTrue(node.last_connection.dropped)

    def test_older(self) -> None:
        """
        A tombstone older than the version found next is ignored.
        """
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].tombstone("1700000050.00000")
        download = self.proxy.get()
        self.assertEqual((download.status, download.body), (200, OBJ.data))

    def test_newerByOffset(self) -> None:
        """
        A tombstone made at the same instant as the version but with a
        larger offset is newer.
        """
        version = StoredObject(b"x" * 10, timestamp="1700000001.00000_0000000000000001")
        self.cluster.serve(version)
        self.cluster.primaries[0].tombstone("1700000001.00000_0000000000000002")
        self.assertEqual(self.proxy.get().status, 404)


class NodeErrorTests(_Base):
    """
    Which answers count, and which nodes are error-limited.
    """

    def test_handoff404WithoutTimestamp(self) -> None:
        """
        A handoff's plain 404 says nothing: with every primary failing, the
        client gets 503, not 404.
        """
        for node in self.cluster.primaries:
            node.answer(503)
        download = self.proxy.get()
        self.assertEqual(download.status, 503)
        self.assertEqual(len(self.gets()), 6)

    def test_handoff404WithTimestamp(self) -> None:
        """
        A handoff's 404 with a timestamp is a deletion, and counts.
        """
        for node in self.cluster.primaries:
            node.answer(503)
        for node in self.cluster.handoffs:
            node.tombstone("1700000500.00000")
        self.assertEqual(self.proxy.get().status, 404)

    def test_primary404s(self) -> None:
        """
        Plain 404s from primaries count.
        """
        self.assertEqual(self.proxy.get().status, 404)

    def test_507(self) -> None:
        """
        A node answering 507 is error-limited at once, and skipped by the
        next request.
        """
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].answer(507)
        self.assertEqual(self.proxy.get().body, OBJ.data)
        limiter = self.proxy.context.limiter
        self.assertTrue(limiter.is_limited(self.ring_node(0)))
        self.assertFalse(limiter.is_limited(self.ring_node(1)))
        self.proxy.get()
        self.assertEqual([ip for ip, _ in self.gets()],
                         ["10.0.0.1", "10.0.0.2", "10.0.0.2"])

    def test_5xx(self) -> None:
        """
        A 5xx counts one error against the node; the next node serves.
        """
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].answer(500)
        self.assertEqual(self.proxy.get().body, OBJ.data)
        self.assertEqual(self.proxy.context.limiter.errors(self.ring_node(0)), 1)
        self.assertFalse(self.proxy.context.limiter.is_limited(self.ring_node(0)))

    def test_headersTimeout(self) -> None:
        """
        A node that never sends headers is given up after C{node_timeout}.
        """
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].hang()
        d = self.proxy.request("GET", "/v1/a/c/o")
        self.assertNoResult(d)
        self.clock.advance(NODE_TIMEOUT)
        download = Download(self.clock, self.successResultOf(d))
        self.clock.advance(0)
        self.assertEqual(download.body, OBJ.data)
        self.assertTrue(self.cluster.primaries[0].requests[-1].cancelled)
        self.assertEqual(self.proxy.context.limiter.errors(self.ring_node(0)), 1)

    def test_resumeHeadersTimeout(self) -> None:
        """
        While resuming, a node that never sends headers is given up after
        C{node_timeout}, counted as an error, and the next one continues.
        """
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].serve(OBJ, Stall(30))
        self.cluster.primaries[1].hang()
        download = self.proxy.get()
        self.clock.advance(TIMEOUT)
        self.assertEqual(len(self.gets()), 2)
        self.clock.advance(NODE_TIMEOUT - 0.001)
        self.assertEqual(download.body, OBJ.data[:30])
        self.clock.advance(0.001)
        self.assertEqual(self.gets()[-1], ("10.0.0.3", "bytes=30-"))
        self.assertEqual(download.body, OBJ.data)
        self.assertTrue(self.cluster.primaries[1].requests[-1].cancelled)
        self.assertEqual(self.proxy.context.limiter.errors(self.ring_node(1)), 1)

    def test_resumeSkipsErrors(self) -> None:
        """
        While resuming, a node that refuses, answers 507 or has nothing is
        passed over.
        """
        self.cluster.primaries[0].serve(OBJ, Stall(30))
        self.cluster.primaries[1].refuse()
        self.cluster.primaries[2].answer(507)
        self.cluster.handoffs[1].serve(OBJ)
        download = self.proxy.get()
        self.clock.advance(TIMEOUT)
        self.assertEqual(download.body, OBJ.data)
        self.assertEqual(self.gets()[-1], ("10.0.0.5", "bytes=30-"))
        self.assertTrue(self.proxy.context.limiter.is_limited(self.ring_node(2)))


class DisconnectTests(_Base):
    """
    A client that goes away takes the backend connection (and every timer)
    with it.
    """

    def test_midBody(self) -> None:
        """
        Stopping the body mid-way drops the backend connection.
        """
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].serve(OBJ, Stall(30))
        download = self.proxy.get()
        download.disconnect()
        self.clock.advance(0)
        self.assertTrue(self.cluster.primaries[0].last_connection.dropped)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(TIMEOUT * 10)
        self.assertEqual(len(self.gets()), 1)
        self.assertIsNone(download.outcome)

    def test_whileResuming(self) -> None:
        """
        Stopping while the next node is being asked cancels that request.
        """
        self.cluster.primaries[0].serve(OBJ, Stall(30))
        self.cluster.primaries[1].hang()
        download = self.proxy.get()
        self.clock.advance(TIMEOUT)
        self.assertEqual(self.gets()[-1], ("10.0.0.2", "bytes=30-"))
        download.disconnect()
        self.clock.advance(0)
        self.assertTrue(self.cluster.primaries[1].requests[-1].cancelled)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.proxy.context.limiter.errors(self.ring_node(1)), 0)

    def test_beforeHeaders(self) -> None:
        """
        A client closing its socket while the proxy waits for a node's
        headers cancels that request.
        """
        self.cluster.primaries[0].hang()
        client = ClientConnection(self.proxy)
        client.send("GET", "/v1/a/c/o")
        client.disconnect()
        self.assertTrue(self.cluster.primaries[0].requests[-1].cancelled)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.proxy.context.limiter.errors(self.ring_node(0)), 0)

    def test_throughServer(self) -> None:
        """
        A client closing its socket mid-body drops the backend connection.
        """
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].serve(OBJ, Stall(30))
        client = ClientConnection(self.proxy)
        client.send("GET", "/v1/a/c/o")
        self.assertEqual(client.response()[2], OBJ.data[:30])
        client.disconnect()
        self.assertTrue(self.cluster.primaries[0].last_connection.dropped)
        self.assertEqual(self.clock.getDelayedCalls(), [])


_faults = st.sampled_from(["stall", "short", "clean", "die"])


@st.composite
def _scenarios(draw: st.DrawFn) -> tuple[int, Optional[str], list[tuple[str, int]], bool]:
    size = draw(st.integers(1, 120))
    kind = draw(st.sampled_from(["none", "closed", "open", "suffix"]))
    if kind == "none":
        header = None
    elif kind == "closed":
        first = draw(st.integers(0, size - 1))
        header = f"bytes={first}-{draw(st.integers(first, size + 20))}"
    elif kind == "open":
        header = f"bytes={draw(st.integers(0, size - 1))}-"
    else:
        header = f"bytes=-{draw(st.integers(1, size + 20))}"
    faults = draw(st.lists(st.tuples(_faults, st.integers(0, 130)), max_size=6))
    return size, header, faults, draw(st.booleans())


class PropertyTests(SynchronousTestCase):
    """
    Whatever fails where, the client gets the bytes it asked for, once and
    in order, or a failed body holding a true prefix of them.
    """

    @settings(max_examples=50)
    @given(_scenarios())
    def test_exactBytes(
        self, scenario: tuple[int, Optional[str], list[tuple[str, int]], bool]
    ) -> None:
        size, header, faults, slow = scenario
        patch = nodes._RANDOM
        nodes._RANDOM = InRingOrder()  # type: ignore[assignment]
        try:
            self.check(size, header, faults, slow)
        finally:
            nodes._RANDOM = patch

    def check(self, size: int, header: Optional[str],
              faults: list[tuple[str, int]], slow: bool) -> None:
        clock = Clock()
        cluster = FakeCluster(clock, chunk_size=5)
        proxy = make_proxy(clock, cluster, recoverable_node_timeout=TIMEOUT)
        obj = StoredObject(DATA[:size])
        status, body = expected(obj, header)
        for node in cluster.objects:
            node.serve(obj)
        # Each fault strikes the node that is serving at that point, after
        # `after` more of the bytes it sends.
        for node, (kind, after) in zip(cluster.objects, faults):
            fault: Fault
            if kind == "stall":
                fault = Stall(after)
            elif kind == "die":
                fault = Die(after)
            else:
                fault = Short(after, clean=kind == "clean")
            node.serve(obj, fault)
        download = proxy.get(headers={"Range": header} if header else {}, slow=slow)
        self.assertEqual(download.status, status)
        for _ in range(len(faults) + 1):
            clock.advance(TIMEOUT)
        clock.advance(0)
        self.assertEqual(download.headers.get("Content-Length"), str(len(body)))
        self.assertIsNotNone(download.outcome)
        if download.finished:
            self.assertEqual(download.body, body)
        else:
            # Only when every node failed.
            self.assertEqual(len(faults), len(cluster.objects))
            self.assertTrue(body.startswith(download.body))
            self.assertLess(len(download.body), len(body))
        self.assertEqual(cluster.open_connections(), [])
        self.assertEqual(clock.getDelayedCalls(), [])


class MergedAnswerHeaderTests(_Base):
    """
    An answer merged from several nodes (here a 412 to If-Match) shows the
    client only what a client may see: no X-Backend-* headers, no sysmeta.
    """

    def test_noBackendHeaders(self) -> None:
        for node in self.cluster.objects:
            node.answer(412, {"X-Backend-Timestamp": "1700000100.00000",
                              "X-Object-Sysmeta-Secret": "s",
                              "X-Object-Meta-Color": "blue"})
        download = self.proxy.get(headers={"If-Match": "nope"})
        self.assertEqual(download.status, 412)
        names = {name.lower() for name in download.headers}
        self.assertNotIn("x-backend-timestamp", names)
        self.assertNotIn("x-object-sysmeta-secret", names)
        self.assertIn("x-object-meta-color", names)


class ClientTimeoutTests(_Base):
    """
    C{client_timeout}: a client that stops reading a streamed body is
    dropped, and the body's backend connection with it.
    """

    def test_clientStopsReading(self) -> None:
        self.cluster.serve(OBJ)
        for node in self.cluster.objects:
            node.interval = 0.5  # still sending when the client stalls
        client = ClientConnection(self.proxy, client_timeout=5.0)
        client.send("GET", "/v1/a/c/o")
        self.assertIsNotNone(client.transport.producer)
        assert client.transport.producer is not None
        client.transport.producer.pauseProducing()
        self.clock.advance(4.9)
        self.assertFalse(client.aborted)
        self.clock.advance(0.2)
        self.assertTrue(client.aborted)
        self.assertTrue(self.cluster.primaries[0].last_connection.dropped)

    def test_slowButReading(self) -> None:
        """
        Pauses shorter than the timeout are a slow client, not a gone one.
        """
        self.cluster.serve(OBJ)
        client = ClientConnection(self.proxy, client_timeout=5.0)
        client.send("GET", "/v1/a/c/o")
        producer = client.transport.producer
        if producer is not None:
            for _ in range(3):
                producer.pauseProducing()
                self.clock.advance(4.0)
                producer.resumeProducing()
                self.clock.advance(0)
        for _ in range(50):
            self.clock.advance(0)
        self.assertFalse(client.aborted)
        status, _, body = client.response()
        self.assertEqual((status, body), (200, OBJ.data))


class ConcurrentGetsTests(_Base):
    """
    C{concurrent_gets}: when a node has not answered within
    C{concurrency_timeout}, the next one is asked too, and the first good
    answer is served; the others are cancelled or closed.
    """

    def _read(self, d: object) -> Download:
        for _ in range(20):
            self.clock.advance(0)
        download = Download(self.clock, self.successResultOf(d), False)  # type: ignore[arg-type]
        for _ in range(20):
            self.clock.advance(0)
        return download

    def _slow_first(self, **settings: object) -> object:
        self.proxy = self.make_proxy(**settings)
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].latency = 5.0
        return self.proxy.request("GET", "/v1/a/c/o")

    def test_nextNodeAskedAfterTimeout(self) -> None:
        d = self._slow_first(concurrent_gets=True, concurrency_timeout=0.5)
        self.clock.advance(0.49)
        self.assertEqual([ip for ip, _ in self.gets()], ["10.0.0.1"])
        self.clock.advance(0.02)
        self.assertEqual([ip for ip, _ in self.gets()], ["10.0.0.1", "10.0.0.2"])
        download = self._read(d)
        self.assertEqual(download.status, 200)
        self.assertEqual(download.body, OBJ.data)
        self.assertTrue(download.finished)
        # The slow node's request was given up, not left to linger.
        self.clock.advance(10)
        self.assertEqual(self.cluster.pending_requests(), [])

    def test_defaultWaitsForTheFirstNode(self) -> None:
        """
        Without concurrent_gets, the slow node is waited for (it is within
        node_timeout) and no other node is asked.
        """
        d = self._slow_first()
        self.clock.advance(4.9)
        self.assertEqual(len(self.gets()), 1)
        self.assertNoResult(d)  # type: ignore[arg-type]
        self.clock.advance(0.2)
        download = self._read(d)
        self.assertEqual(download.body, OBJ.data)
        self.assertEqual([ip for ip, _ in self.gets()], ["10.0.0.1"])

    def test_fastNodeAlone(self) -> None:
        """
        A node answering in time is the only one asked.
        """
        self.proxy = self.make_proxy(concurrent_gets=True, concurrency_timeout=0.5)
        self.cluster.serve(OBJ)
        download = self._read(self.proxy.request("GET", "/v1/a/c/o"))
        self.assertEqual(download.body, OBJ.data)
        self.assertEqual(len(self.gets()), 1)

    def test_errorsMoveOn(self) -> None:
        """
        A node failing at once is followed by the next at once, not after
        the concurrency timeout.
        """
        self.proxy = self.make_proxy(concurrent_gets=True, concurrency_timeout=5.0)
        self.cluster.serve(OBJ)
        self.cluster.primaries[0].answer(503)
        download = self._read(self.proxy.request("GET", "/v1/a/c/o"))
        self.assertEqual(download.body, OBJ.data)
        self.assertEqual([ip for ip, _ in self.gets()], ["10.0.0.1", "10.0.0.2"])
