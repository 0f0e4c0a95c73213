"""
Tests for L{twisted_proxy.swift.multipart}.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

import tests.fakenodes as fakenodes
from tests.fakenodes import StoredObject, render_object
from twisted_proxy.swift.multipart import (
    Data,
    Frame,
    MultipartLayout,
    PartHead,
    PartReader,
    Reframer,
    boundary_of,
    parse_first_part,
    range_header,
)
from twisted_proxy.swift.ranges import ByteRange, format_range_header, parse_range_header

_OBJ = StoredObject(bytes(range(256)) * 2, timestamp="1700000100.00000")

_spans = st.lists(
    st.one_of(
        st.builds(lambda a, n: ByteRange(a, a + n), st.integers(0, 600), st.integers(0, 80)),
        st.builds(lambda n: ByteRange(None, None, n), st.integers(1, 80)),
    ),
    min_size=2, max_size=5,
)


def _rendered(ranges: list[ByteRange]) -> tuple[bytes, str]:
    header = format_range_header(ranges)
    status, headers, body = render_object(_OBJ, header)
    return body, headers.get("Content-Type", "")


def _layout(ranges: list[ByteRange]) -> MultipartLayout:
    return MultipartLayout.for_ranges(
        fakenodes.BOUNDARY.encode(), _OBJ.content_type.encode(), ranges, len(_OBJ.data))


class LayoutTests(SynchronousTestCase):
    def test_boundary(self) -> None:
        self.assertEqual(boundary_of("multipart/byteranges;boundary=abc"), "abc")
        self.assertEqual(boundary_of('multipart/byteranges; boundary="x y"'), "x y")
        self.assertIsNone(boundary_of("text/plain"))
        self.assertIsNone(boundary_of(None))

    def test_firstPart(self) -> None:
        body, _ = _rendered([ByteRange(0, 3), ByteRange(10, 12)])
        self.assertEqual(parse_first_part(body),
                         (_OBJ.content_type.encode(), len(_OBJ.data)))
        self.assertIsNone(parse_first_part(body[:20]))

    @given(_spans)
    def test_matchesObjectServer(self, ranges: list[ByteRange]) -> None:
        """
        The layout is byte for byte what an object server sends.
        """
        body, content_type = _rendered(ranges)
        if not content_type.startswith("multipart/"):
            return
        layout = _layout(ranges)
        rebuilt = b"".join(
            p.data if isinstance(p, Frame) else _OBJ.data[p.first:p.last + 1]
            for p in layout.pieces())
        self.assertEqual(rebuilt, body)
        self.assertEqual(layout.length(), len(body))

    @given(_spans, st.data())
    def test_resumeAnywhere(self, ranges: list[ByteRange], data: st.DataObject) -> None:
        """
        Whatever was sent, the bytes sent plus the regenerated rest (fed
        with the data a node serves for L{range_header}) is the whole body.
        """
        body, content_type = _rendered(ranges)
        if not content_type.startswith("multipart/"):
            return
        sent = data.draw(st.integers(0, len(body)))
        rest = _layout(ranges).after(sent)
        out: list[bytes] = []
        reframer = Reframer(rest, out.append)
        header = range_header(rest)
        if header is not None:
            served = b"".join(
                _OBJ.data[r.first:r.last + 1]  # type: ignore[operator]
                for r in (parse_range_header(header) or []))
            reframer.write(served)
        self.assertTrue(reframer.complete)
        self.assertEqual(body[:sent] + b"".join(out), body)

    def test_after(self) -> None:
        layout = MultipartLayout(b"B", b"t", ((0, 3), (10, 12)), 20)
        pieces = layout.pieces()
        self.assertIsInstance(pieces[0], Frame)
        self.assertEqual(pieces[1], Data(0, 3))
        first = len(pieces[0].data)  # type: ignore[union-attr]
        self.assertEqual(layout.after(first + 2)[0], Data(2, 3))
        self.assertEqual(range_header(layout.after(first + 2)), "bytes=2-3,10-12")
        self.assertIsNone(range_header(layout.after(layout.length() - 1)))


class PartReaderTests(SynchronousTestCase):
    @given(_spans, st.lists(st.integers(1, 50), min_size=1, max_size=30))
    def test_anyChunking(self, ranges: list[ByteRange], cuts: list[int]) -> None:
        """
        The data of every part comes out, in order, however the body is cut.
        """
        body, content_type = _rendered(ranges)
        if not content_type.startswith("multipart/"):
            return
        out: list[bytes] = []
        firsts: list[tuple[bytes, int]] = []
        heads: list[PartHead] = []
        reader = PartReader(out.append, lambda t, n: firsts.append((t, n)), heads.append)
        position = 0
        for cut in cuts * 50:
            if position >= len(body):
                break
            reader.write(body[position:position + cut])
            position += cut
        reader.write(body[position:])
        wanted = b"".join(_OBJ.data[a:b + 1] for a, b in _layout(ranges).spans)
        self.assertEqual(b"".join(out), wanted)
        self.assertEqual(firsts, [(_OBJ.content_type.encode(), len(_OBJ.data))])
        self.assertEqual(heads, [PartHead(a, b, len(_OBJ.data), _OBJ.content_type.encode())
                                 for a, b in _layout(ranges).spans])

    def test_partWithoutType(self) -> None:
        """
        A part with no Content-Type is told as C{None} to C{each_part} and
        as C{b""} to C{first_part}.
        """
        firsts: list[tuple[bytes, int]] = []
        heads: list[PartHead] = []
        reader = PartReader(lambda _: None, lambda t, n: firsts.append((t, n)), heads.append)
        reader.write(b"--B\r\nContent-Range: bytes 2-3/9\r\n\r\nzz")
        self.assertEqual(firsts, [(b"", 9)])
        self.assertEqual(heads, [PartHead(2, 3, 9, None)])

    def test_noContentRange(self) -> None:
        reader = PartReader(lambda _: None)
        self.assertRaises(ValueError, reader.write, b"--B\r\nContent-Type: x\r\n\r\nzz")
