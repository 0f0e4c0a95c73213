"""
The erasure-coded GET path against in-memory object servers that hold real
fragment archives (L{twisted_proxy.controllers.obj_ec},
L{twisted_proxy.backend.ec.fragments}, L{twisted_proxy.backend.ec.decoder}):
whole objects and ranges decode to the bytes written, and a fragment source
that stalls, dies or ends short mid-body is replaced from the next fragment
on, the client getting every byte once.

The fake object servers answer as Swift's do: the fragment headers and
sysmeta, C{Range} served over the archive (one part, several parts as
C{multipart/byteranges}, or 416), conditional requests judged by the
object's etag (C{X-Backend-Etag-Is-At}).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Optional

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import succeed
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import ResponseDone
from twisted.web.http_headers import Headers

from tests.fakenodes import (
    BOUNDARY,
    Die,
    Download,
    FakeCluster,
    Fault,
    InRingOrder,
    NodeRequest,
    Reply,
    Short,
    Stall,
)
from twisted_proxy.backend import nodes
from twisted_proxy.backend.ec.decoder import Undecodable
from twisted_proxy.backend.ec.fragments import FragmentStream
from twisted_proxy.backend.nodeclient import NodeClient
from twisted_proxy.config import ProxySettings
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.swift.ec.ranges import (
    Spec,
    backend_range,
    parse_range,
    plan_read,
    range_header,
    ranges_for_length,
)
from twisted_proxy.swift.ec.scheme import ECScheme
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse
from twisted_proxy.swift.swiftconf import ERASURE_CODING, StoragePolicy, SwiftConf
from twisted_proxy.swift.timestamp import Timestamp, http_date
from twisted_proxy.web.app import ProxyApplication

SEGMENT = 300
SCHEME = ECScheme("liberasurecode_rs_vand", 4, 2, segment_size=SEGMENT)
STAMP = "1700000100.00000"
TIMEOUT = 2.0


def _swift_conf() -> SwiftConf:
    ec = StoragePolicy(0, "ec", ("ec",), True, False, ERASURE_CODING, "object", {
        "ec_type": "liberasurecode_rs_vand", "ec_num_data_fragments": "4",
        "ec_num_parity_fragments": "2", "ec_object_segment_size": str(SEGMENT)})
    return SwiftConf(b"", b"suffix", (ec,), {})


def _archives(data: bytes) -> list[bytes]:
    archives = [b""] * 6
    for start in range(0, len(data), SEGMENT):
        fragments = SCHEME.encode(data[start:start + SEGMENT])
        archives = [a + f for a, f in zip(archives, fragments)]
    return archives


def _data(size: int) -> bytes:
    return bytes((i * 31 + i // 251) % 256 for i in range(size))


class ECObject:
    """
    One object as the fake object servers hold it: a fragment archive per
    index, with Swift's EC metadata.
    """

    def __init__(self, data: bytes, timestamp: str = STAMP,
                 content_type: str = "application/x-test") -> None:
        self.data = data
        self.timestamp = Timestamp(timestamp)
        self.content_type = content_type
        self.archives = _archives(data)
        self.etag = hashlib.md5(data).hexdigest()

    def handler(self, index: int, fault: Optional[Fault] = None, durable: bool = True):
        """
        How a node holding archive C{index} answers.
        """
        archive = self.archives[index]
        stamp = self.timestamp

        def handle(request: NodeRequest) -> Reply:
            headers = {
                "Content-Type": self.content_type,
                "Etag": f'"{hashlib.md5(archive).hexdigest()}"',
                "X-Timestamp": stamp.normal,
                "X-Backend-Timestamp": stamp.internal,
                "X-Backend-Data-Timestamp": stamp.internal,
                "X-Backend-Fragments": json.dumps({stamp.internal: [index]}),
                "Last-Modified": http_date(stamp),
                "X-Object-Sysmeta-Ec-Etag": self.etag,
                "X-Object-Sysmeta-Ec-Content-Length": str(len(self.data)),
                "X-Object-Sysmeta-Ec-Frag-Index": str(index),
                "X-Object-Sysmeta-Ec-Segment-Size": str(SEGMENT),
                "X-Object-Meta-Color": "blue",
            }
            if durable:
                headers["X-Backend-Durable-Timestamp"] = stamp.internal
            ignore = request.headers.get("X-Backend-Ignore-Range-If-Metadata-Present", "")
            if any(name in headers for name in ignore.split(",")):
                request.headers.pop("Range", None)
            at = request.headers.get("X-Backend-Etag-Is-At")
            etag = self.etag if at == "X-Object-Sysmeta-Ec-Etag" else "archive"
            if request.headers.get("If-None-Match") == etag:
                return Reply(304, headers)
            if request.headers.get("If-Match") not in (None, etag):
                return Reply(412, headers, b"<html><h1>Precondition Failed</h1></html>")
            status, body = 200, archive
            specs = parse_range(request.range)
            if specs is not None and archive:
                spans = ranges_for_length(specs, len(archive))
                if not spans:
                    headers["Content-Range"] = f"bytes */{len(archive)}"
                    return Reply(416, headers, b"<html><h1>Requested Range Not "
                                 b"Satisfiable</h1></html>")
                status = 206
                if len(spans) == 1:
                    start, end = spans[0]
                    headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(archive)}"
                    body = archive[start:end]
                else:
                    parts = [
                        f"--{BOUNDARY}\r\nContent-Type: {self.content_type}\r\n"
                        f"Content-Range: bytes {start}-{end - 1}/{len(archive)}\r\n\r\n"
                        .encode() + archive[start:end] + b"\r\n"
                        for start, end in spans]
                    body = b"".join(parts) + f"--{BOUNDARY}--".encode()
                    headers["Content-Type"] = f"multipart/byteranges;boundary={BOUNDARY}"
            if request.method == "HEAD":
                headers["Content-Length"] = str(len(body))
                body = b""
            return Reply(status, headers, body, fault)

        return handle


class _Reversed(InRingOrder):
    """
    A shuffle that reverses: parity-fragment primaries come first.
    """

    def shuffle(self, x: Any, *args: Any, **kwargs: Any) -> None:
        x.reverse()


class _Base(SynchronousTestCase):
    """
    Six primaries and three handoffs, primaries asked in ring order.
    """

    settings: dict[str, object] = {}

    def setUp(self) -> None:
        self.patch(nodes, "_RANDOM", InRingOrder())
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock, replicas=6, handoffs=3, chunk_size=997)
        settings = ProxySettings(node_timeout=10.0, recoverable_node_timeout=TIMEOUT,
                                 **self.settings)  # type: ignore[arg-type]
        client = NodeClient(self.clock, settings.node_timeout, settings.conn_timeout,
                            agent=self.cluster.agent)
        self.context = ProxyContext(self.clock, settings, _swift_conf(),
                                    self.cluster.rings,  # type: ignore[arg-type]
                                    client, MemoryInfoStore(self.clock))
        self.app = ProxyApplication(self.context)

    def tearDown(self) -> None:
        self.clock.advance(0)
        self.assertEqual(self.cluster.open_connections(), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def store(self, obj: ECObject, faults: Optional[dict[int, Fault]] = None) -> None:
        """
        Primary C{i} holds archive C{i}.
        """
        for index, node in enumerate(self.cluster.primaries):
            node.handler = obj.handler(index, (faults or {}).get(index))

    def request(self, method: str, headers: Optional[dict[str, str]] = None
                ) -> SwiftResponse:
        d = self.app(SwiftRequest(method, b"/v1/a/c/o", HeaderDict(headers or {})))
        self.clock.advance(0)
        return self.successResultOf(d)

    def get(self, headers: Optional[dict[str, str]] = None, slow: bool = False) -> Download:
        download = Download(self.clock, self.request("GET", headers), slow)
        self.settle()
        return download

    def settle(self, seconds: float = 0) -> None:
        """
        Let every exchange that is ready (and every timer within
        C{seconds}) run.
        """
        for _ in range(100000):
            calls = [c for c in self.clock.getDelayedCalls()
                     if c.getTime() <= self.clock.seconds()]
            if not calls:
                break
            self.clock.advance(0)
        if seconds:
            for _ in range(int(seconds * 10)):
                self.clock.advance(0.1)
                for _ in range(100000):
                    if not [c for c in self.clock.getDelayedCalls()
                            if c.getTime() <= self.clock.seconds()]:
                        break
                    self.clock.advance(0)

    def fragment_gets(self) -> list[tuple[int, Optional[str]]]:
        """
        Which object node (its ring position) got each fragment GET, with
        its Range.
        """
        return [(self.cluster.objects.index(r.node), r.range)
                for r in self.cluster.object_requests("GET")]


def _expected(data: bytes, specs: Optional[list[Spec]], boundary: Optional[str],
              content_type: str) -> tuple[int, bytes]:
    archive = SCHEME.archive_length(len(data))
    header = backend_range(specs, SEGMENT, SCHEME.fragment_size) if specs else None
    if archive and header and not ranges_for_length(parse_range(header) or [], archive):
        # The widened ranges overlap too much for the object servers, who
        # refuse them (416), as they refuse Swift's proxy.
        return 416, b""
    plan = plan_read(specs, len(data))
    if plan.status != 206 or not plan.multipart:
        return plan.status, b"".join(data[a:b + 1] for a, b in plan.spans)
    assert boundary is not None
    parts = [
        f"--{boundary}\r\nContent-Type: {content_type}\r\n"
        f"Content-Range: bytes {a}-{b}/{len(data)}\r\n\r\n".encode() + data[a:b + 1] + b"\r\n"
        for a, b in plan.spans]
    return 206, b"".join(parts) + f"--{boundary}--".encode()


_spec = st.one_of(
    st.builds(lambda a, n: (a, a + n), st.integers(0, 1400), st.integers(0, 900)),
    st.builds(lambda a: (a, None), st.integers(0, 1400)),
    st.builds(lambda n: (None, n), st.integers(0, 1400)),
)


class ReadTests(_Base):
    def test_whole(self) -> None:
        """
        Objects of 0 bytes, under a segment, exactly one or several
        segments, and more, decode whole; the client sees the object's etag
        and length, not an archive's, and no EC sysmeta. Only four nodes
        are asked.
        """
        for size in (0, 1, SEGMENT - 1, SEGMENT, 3 * SEGMENT, 3 * SEGMENT + 7):
            self.cluster.requests.clear()
            obj = ECObject(_data(size))
            self.store(obj)
            download = self.get()
            self.assertTrue(download.finished, size)
            self.assertEqual(download.body, obj.data)
            self.assertEqual(download.status, 200)
            headers = download.headers
            self.assertEqual(headers["Etag"], obj.etag)
            self.assertEqual(headers["Content-Length"], str(size))
            self.assertEqual(headers["X-Object-Meta-Color"], "blue")
            self.assertEqual(headers["Accept-Ranges"], "bytes")
            self.assertFalse([n for n in headers if "sysmeta" in n.lower()])
            self.assertEqual(self.fragment_gets(), [(i, None) for i in range(4)])

    def test_dataFragmentsFirst(self) -> None:
        """
        However the primaries are shuffled, a read asks the nodes holding
        data fragments first: they decode by joining, with no solving for
        parity.
        """
        self.patch(nodes, "_RANDOM", _Reversed())
        obj = ECObject(_data(3 * SEGMENT))
        self.store(obj)
        download = self.get()
        self.assertEqual(download.body, obj.data)
        self.assertEqual(sorted(self.fragment_gets()), [(i, None) for i in range(4)])

    def test_head(self) -> None:
        obj = ECObject(_data(1000))
        self.store(obj)
        response = self.request("HEAD")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["Etag"], obj.etag)
        self.assertEqual(response.headers["Content-Length"], "1000")
        self.assertEqual(response.body, b"")
        self.assertEqual([r.headers["X-Backend-Etag-Is-At"]
                          for r in self.cluster.object_requests("HEAD")],
                         ["X-Object-Sysmeta-Ec-Etag"])

    def test_openExpired(self) -> None:
        """
        With C{allow_open_expired}, a GET or HEAD carrying a true
        C{X-Open-Expired} asks the fragment nodes to open an expired
        object (C{X-Backend-Open-Expired}); without the option nobody is
        asked.
        """
        obj = ECObject(_data(1000))
        self.store(obj)
        self.context.settings = ProxySettings(allow_open_expired=True)
        self.request("HEAD", {"X-Open-Expired": "true"})
        self.assertEqual(self.get({"X-Open-Expired": "yes"}).body, obj.data)
        self.assertEqual(
            {r.headers.get("X-Backend-Open-Expired")
             for r in self.cluster.requests if r.method in ("GET", "HEAD")
             and r.node in self.cluster.objects},
            {"true"})
        self.cluster.requests.clear()
        self.context.settings = ProxySettings(allow_open_expired=False)
        self.get({"X-Open-Expired": "true"})
        self.assertEqual(
            {r.headers.get("X-Backend-Open-Expired") for r in self.cluster.requests},
            {None})

    def test_conditional(self) -> None:
        """
        The nodes judge If-Match and If-None-Match by the object's etag.
        """
        obj = ECObject(_data(1000))
        self.store(obj)
        self.assertEqual(self.get({"If-None-Match": obj.etag}).status, 304)
        self.assertEqual(self.get({"If-Match": "other"}).status, 412)
        self.assertEqual(self.get({"If-Match": obj.etag}).status, 200)
        self.assertEqual(self.request("HEAD", {"If-None-Match": obj.etag}).status, 304)

    def test_oneOfTwoRanges(self) -> None:
        """
        Two ranges of which only the first is in the object: the nodes hold
        fragments for both, and answer multipart bodies; the client gets a
        plain 206 of the object's own type.
        """
        obj = ECObject(_data(1000))
        self.store(obj)
        download = self.get({"Range": "bytes=0-9,1000-1009"})
        self.assertEqual((download.status, download.body), (206, obj.data[:10]))
        self.assertEqual(download.headers["Content-Type"], obj.content_type)
        self.assertEqual(download.headers["Content-Range"], "bytes 0-9/1000")

    def test_unsatisfiableKeepsType(self) -> None:
        """
        Ranges the nodes serve fragments for but that select nothing of
        the object get Swift's 416: with the object's own content type when
        some range selects bytes alone but the set overlaps too much (also
        when the nodes answered multipart bodies), with the default type
        when none does ("-0" widens to a whole fragment). Ranges the nodes
        refuse get Swift's best response, with the default type.
        """
        obj = ECObject(_data(1000))
        self.store(obj)
        for value, content_type in [
            ("bytes=0-,1-,2-", obj.content_type),
            ("bytes=-0", "text/html; charset=UTF-8"),
            ("bytes=-0,-0", "text/html; charset=UTF-8"),
            ("bytes=2000-", "text/html; charset=UTF-8"),
        ]:
            download = self.get({"Range": value})
            self.assertEqual(download.status, 416, value)
            self.assertTrue(download.finished, value)
            self.assertEqual(download.headers["Content-Range"], "bytes */1000", value)
            self.assertEqual(download.headers["Content-Type"], content_type, value)
            self.assertEqual(download.headers["Etag"], obj.etag, value)

    def test_ignoreRange(self) -> None:
        """
        When the object has the metadata named by
        C{X-Backend-Ignore-Range-If-Metadata-Present} (a large object's
        manifest), the nodes ignore the Range, and so does the answer: the
        whole object, 200.
        """
        obj = ECObject(_data(1000))
        self.store(obj)
        download = self.get({
            "Range": "bytes=10-20",
            "X-Backend-Ignore-Range-If-Metadata-Present": "X-Other,X-Object-Meta-Color"})
        self.assertEqual((download.status, download.body), (200, obj.data))
        self.assertNotIn("Content-Range", download.headers)
        download = self.get({
            "Range": "bytes=10-20",
            "X-Backend-Ignore-Range-If-Metadata-Present": "X-Other"})
        self.assertEqual((download.status, download.body), (206, obj.data[10:21]))

    def test_notFound(self) -> None:
        self.assertEqual(self.get().status, 404)

    @settings(max_examples=150)
    @given(st.one_of(st.integers(0, 1500),
                     st.sampled_from([0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1,
                                      2 * SEGMENT, 4 * SEGMENT])),
           st.lists(_spec, min_size=1, max_size=4))
    def test_ranges(self, size: int, specs: list[Spec]) -> None:
        """
        For any object size and any single, suffix or multiple ranges, the
        bytes served are those the ranges select of the bytes written,
        framed as Swift frames them; unsatisfiable ranges get a 416 with
        the object's length.
        """
        self.cluster.requests.clear()
        obj = ECObject(_data(size))
        self.store(obj)
        download = self.get({"Range": range_header(specs)})
        match = re.search(r"boundary=(\w+)", download.headers.get("Content-Type", ""))
        status, body = _expected(obj.data, specs, match.group(1) if match else None,
                                 obj.content_type)
        self.assertEqual(download.status, status)
        self.assertTrue(download.finished)
        if status == 416:
            self.assertEqual(download.headers["Content-Range"], f"bytes */{size}")
            return
        self.assertEqual(download.body, body)
        self.assertEqual(download.headers["Content-Length"], str(len(body)))
        plan = plan_read(specs, size)
        if not plan.multipart:
            self.assertEqual(download.headers["Content-Type"], obj.content_type)
        if status == 206 and not plan.multipart:
            first, last = plan.spans[0]
            self.assertEqual(download.headers["Content-Range"],
                             f"bytes {first}-{last}/{size}")

    def test_slowClient(self) -> None:
        """
        A client that reads slowly gets the whole object, while the nodes'
        connections are paused rather than their bodies buffered.
        """
        obj = ECObject(_data(20 * SEGMENT))
        self.store(obj)
        download = self.get(slow=True)
        for _ in range(1000):
            if download.outcome is not None:
                break
            self.clock.advance(0)
        self.assertEqual(download.body, obj.data)


class RecoveryTests(_Base):
    """
    A fragment source failing in the middle of a GET.
    """

    obj = ECObject(_data(10 * SEGMENT + 17))

    def test_stall(self) -> None:
        """
        A node that stops sending for C{recoverable_node_timeout} is
        replaced by another node's fragments from the next fragment on.
        """
        fragment = SCHEME.fragment_size
        self.store(self.obj, {1: Stall(3 * fragment + 5)})
        download = self.get()
        self.assertIsNone(download.outcome)
        self.settle(TIMEOUT + 0.5)
        self.assertTrue(download.finished)
        self.assertEqual(download.body, self.obj.data)
        gets = self.fragment_gets()
        self.assertEqual(gets[:4], [(i, None) for i in range(4)])
        self.assertEqual(gets[4:], [(4, f"bytes={3 * fragment}-{len(self.obj.archives[0]) - 1}")])

    def test_die(self) -> None:
        """
        A node whose connection dies, or whose body ends short, is replaced
        likewise; both at once is fine.
        """
        length = len(self.obj.archives[0])
        self.store(self.obj, {0: Die(length // 3), 2: Short(length // 2)})
        download = self.get()
        self.settle(1)
        self.assertTrue(download.finished)
        self.assertEqual(download.body, self.obj.data)
        self.assertEqual([node for node, _ in self.fragment_gets()[4:]], [4, 5])

    def test_handoffReplacement(self) -> None:
        """
        With every primary used, a handoff holding a fragment the others
        do not is the replacement.
        """
        self.store(self.obj, {0: Die(500)})
        self.cluster.primaries[4].refuse()
        self.cluster.primaries[5].refuse()
        self.cluster.handoffs[0].handler = self.obj.handler(5)
        download = self.get()
        self.settle(1)
        self.assertTrue(download.finished)
        self.assertEqual(download.body, self.obj.data)

    def test_tooFew(self) -> None:
        """
        With no node left to replace a failed one, fewer than four fragments
        remain: the body fails (the client's connection will be aborted),
        never ends short.
        """
        self.store(self.obj, {0: Die(500)})
        for node in self.cluster.primaries[4:] + self.cluster.handoffs:
            node.refuse()
        download = self.get()
        self.settle(1)
        self.assertIsNotNone(download.failure)
        download.failure.trap(Undecodable)  # type: ignore[union-attr]
        self.assertLess(len(download.body), len(self.obj.data))

    def test_twoDownBefore(self) -> None:
        """
        Two nodes down before the read: the GET asks the others and
        succeeds.
        """
        self.store(self.obj)
        self.cluster.primaries[0].refuse()
        self.cluster.primaries[2].refuse()
        download = self.get()
        self.settle(1)
        self.assertEqual(download.body, self.obj.data)

    def test_threeDownBefore(self) -> None:
        """
        Three nodes down (of six, four needed) and no handoff holding
        anything: the GET fails cleanly with a 503... or, as here where the
        handoffs say 404, the object cannot be found: never a partial body.
        """
        self.store(self.obj)
        for index in (0, 2, 4):
            self.cluster.primaries[index].refuse()
        download = self.get()
        self.settle(1)
        self.assertIn(download.status, (404, 503))
        self.assertTrue(download.finished)
        self.assertNotEqual(download.status, 200)


class ConcurrentTests(_Base):
    """
    C{concurrent_gets} with C{concurrent_ec_extra_requests}.
    """

    settings = {"concurrent_gets": True, "concurrent_ec_extra_requests": 1,
                "concurrency_timeout": 0.5}

    def test_extraRequests(self) -> None:
        """
        C{k} plus the extra requests are sent at once; the answers are all
        decoded from.
        """
        obj = ECObject(_data(1000))
        self.store(obj)
        download = self.get()
        self.assertEqual(download.body, obj.data)
        self.assertEqual(self.fragment_gets(), [(i, None) for i in range(5)])

    def test_slowNode(self) -> None:
        """
        While primaries have not answered, another is asked every
        C{concurrency_timeout}, before the slow ones time out.
        """
        obj = ECObject(_data(1000))
        self.store(obj)
        self.cluster.primaries[0].hang()
        self.cluster.primaries[1].hang()
        d = self.app(SwiftRequest("GET", b"/v1/a/c/o", HeaderDict()))
        self.settle()
        self.assertEqual([n for n, _ in self.fragment_gets()], [0, 1, 2, 3, 4])
        self.assertNoResult(d)
        self.settle(0.6)
        self.assertEqual([n for n, _ in self.fragment_gets()], [0, 1, 2, 3, 4, 5])
        download = Download(self.clock, self.successResultOf(d))
        self.settle()
        self.assertEqual(download.body, obj.data)
        self.assertEqual(self.cluster.pending_requests(), [])


class _LastBytes:
    """
    A fragment GET answer whose body the test delivers by hand.
    """

    code = 200
    phrase = b"OK"

    def __init__(self, length: int) -> None:
        self.length = length
        self.headers = Headers({b"content-length": [str(length).encode()]})
        self.transport = StringTransport()
        self.protocol: Optional[Protocol] = None

    def deliverBody(self, protocol: Protocol) -> None:
        self.protocol = protocol
        protocol.makeConnection(self.transport)


class StreamEndTests(SynchronousTestCase):
    """
    A L{FragmentStream} told to stop as its last wanted bytes arrive leaves
    its connection alone: the response ends in that same delivery, and the
    connection goes back to the pool whole.
    """

    def test_stopFromLastDelivery(self) -> None:
        """
        The decoder, hearing of the last fragment from within the node's
        last C{dataReceived}, stops every stream: the node's connection is
        not closed (closing it then handed the pool a disconnecting
        connection, and the next request sent on it failed).
        """
        clock = Clock()
        answer = _LastBytes(10)
        node = {"ip": "127.0.0.1", "port": 6200, "device": "sdb1", "id": 0}
        stream = FragmentStream(
            (answer, node), 0, [(0, 9)], 10, clock, TIMEOUT,  # type: ignore[arg-type]
            lambda _range, _stream: succeed(None), lambda _node, _why: None)
        stream.on_ready = lambda: stream.stop() if stream.queue else None
        stream.start()
        assert answer.protocol is not None
        answer.protocol.dataReceived(b"0123456789")
        self.assertFalse(answer.transport.disconnecting)
        answer.protocol.connectionLost(Failure(ResponseDone()))
        clock.advance(0)
        self.assertFalse(answer.transport.disconnecting)
        self.assertEqual(list(stream.queue), [b"0123456789"])
        self.assertEqual(clock.getDelayedCalls(), [])
