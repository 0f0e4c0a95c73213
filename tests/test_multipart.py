"""
Tests for L{twisted_proxy.swift.multipart}.
"""

from __future__ import annotations

from typing import Optional, Union

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

import tests.fakenodes as fakenodes
from tests.fakenodes import StoredObject, render_object
from twisted_proxy.swift.multipart import (
    MAX_PART_HEADERS,
    Data,
    FormDataError,
    FormDataParser,
    Frame,
    MimeInvalid,
    MultipartLayout,
    PartHead,
    PartReader,
    Reframer,
    boundary_of,
    parse_content_disposition,
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


# -- multipart/form-data ------------------------------------------------------

Parts = list[tuple[dict[str, str], bytes]]


def parse_form(body: bytes, boundary: bytes = b"XX", cuts: Optional[list[int]] = None,
           read_size: int = 5) -> Union[str, Parts]:
    """
    The parts of C{body} (lower-case header names), fed in pieces of the
    sizes C{cuts} (repeated) and read C{read_size} bytes at a time; or
    C{"invalid"} when it does not start with its boundary.
    """
    parser = FormDataParser(boundary)
    pieces = []
    position = 0
    for cut in (cuts or [len(body) + 1]) * (len(body) + 1):
        if position >= len(body):
            break
        pieces.append(body[position:position + cut])
        position += cut
    parts: Parts = []
    current: Optional[tuple[dict[str, str], bytearray]] = None
    try:
        for index in range(len(pieces) + 1):
            if index < len(pieces):
                parser.feed(pieces[index])
            else:
                parser.end()
            while True:
                if current is not None:
                    data = parser.read(read_size)
                    if data:
                        current[1].extend(data)
                        continue
                    if data is not None:
                        break
                    parts.append((current[0], bytes(current[1])))
                    current = None
                headers = parser.next_part()
                if headers is None:
                    break
                current = ({k.lower(): v for k, v in headers.items()}, bytearray())
    except MimeInvalid:
        return "invalid"
    assert current is None and parser.finished, (current, parser.finished)
    return parts


def meaningful(parts: Union[str, Parts]) -> Union[str, Parts]:
    """
    C{parts} without the trailing empty parts (no headers, no data) Swift
    reads after a last delimiter that the body ends right after: they have
    no name, so a form post ignores them.
    """
    if isinstance(parts, str):
        return parts
    parts = list(parts)
    while parts and parts[-1] == ({}, b""):
        parts.pop()
    return parts


FORM = (b"--XX\r\n"
         b'Content-Disposition: form-data; name="redirect"\r\n\r\n'
         b"http://example.com/\r\n"
         b"--XX\r\n"
         b'Content-Disposition: form-data; name="file1"; filename="a.txt"\r\n'
         b"Content-Type: text/plain\r\n\r\n"
         b"line 1\r\n--X line 2\r\n\r\n"
         b"--XX--\r\n")

class ContentDispositionTests(SynchronousTestCase):
    def test_attributes(self) -> None:
        self.assertEqual(parse_content_disposition('form-data; name="f"; filename="a b.txt"'),
                         ("form-data", {"name": "f", "filename": "a b.txt"}))

    def test_no_attributes(self) -> None:
        """
        Without attributes the value is kept as it is, spaces and all.
        """
        self.assertEqual(parse_content_disposition(" multipart/form-data "),
                         (" multipart/form-data ", {}))

    def test_unquoted_and_malformed(self) -> None:
        """
        Attributes are read while they are well formed: an unquoted value
        runs to the next C{;}, a quoted one to the quote that ends it.
        """
        self.assertEqual(
            parse_content_disposition("multipart/form-data;boundary=abc;x=y"),
            ("multipart/form-data", {"boundary": "abc", "x": "y"}))
        self.assertEqual(parse_content_disposition('a; f="x"y"; g=1'),
                         ("a", {"f": 'x"y', "g": "1"}))
        self.assertEqual(parse_content_disposition("a; =x; g=1"), ("a", {}))
        self.assertEqual(parse_content_disposition("a; g=1;; h=2"), ("a", {"g": "1"}))


class FormDataParserTests(SynchronousTestCase):
    def test_form(self) -> None:
        self.assertEqual(parse_form(FORM), [
            ({"content-disposition": 'form-data; name="redirect"'}, b"http://example.com/"),
            ({"content-disposition": 'form-data; name="file1"; filename="a.txt"',
              "content-type": "text/plain"}, b"line 1\r\n--X line 2\r\n"),
        ])

    @given(st.lists(st.integers(1, 40), min_size=1, max_size=8), st.integers(1, 30))
    def test_any_chunking(self, cuts: list[int], read_size: int) -> None:
        """
        However the body arrives and is read, the parts are the same.
        """
        self.assertEqual(parse_form(FORM, cuts=cuts, read_size=read_size), parse_form(FORM))

    def test_leading_empty_lines(self) -> None:
        self.assertEqual(parse_form(b"\r\n\r\n--XX\r\n\r\nabc\r\n--XX--"), [({}, b"abc")])

    def test_invalid_start(self) -> None:
        for body in (b"", b"--XY\r\n", b"preamble\r\n--XX\r\n", b"--XX--\r\n", b"\n--XX"):
            self.assertEqual(parse_form(body), "invalid", body)

    def test_start_waits(self) -> None:
        """
        Nothing is decided before the boundary line has arrived.
        """
        parser = FormDataParser(b"XX")
        parser.feed(b"\r\n--X")
        self.assertIsNone(parser.next_part())
        self.assertFalse(parser.finished)
        parser.feed(b"X\r\nA: b\r\n\r")
        self.assertIsNone(parser.next_part())
        parser.feed(b"\n")
        # The empty line may yet be the start of a delimiter.
        self.assertIsNone(parser.next_part())
        parser.feed(b"\r")
        headers = parser.next_part()
        assert headers is not None
        self.assertEqual(headers["a"], "b")

    def test_unfinished_body(self) -> None:
        """
        A body that ends without its closing boundary ends its last part
        there, with whatever could have begun a delimiter.
        """
        self.assertEqual(parse_form(b"--XX\r\nA: b\r\n\r\ndata\r\n--X"),
                         [({"a": "b"}, b"data\r\n--X")])

    def test_after_delimiter(self) -> None:
        """
        The two bytes after a delimiter are dropped, whatever they are;
        C{--} ends the body and what follows is ignored.
        """
        self.assertEqual(parse_form(b"--XX\r\n\r\none\r\n--XXabA: b\r\n\r\ntwo\r\n--XX--tail"),
                         [({}, b"one"), ({"a": "b"}, b"two")])

    def test_data_held_back(self) -> None:
        """
        Bytes that may begin the delimiter are not handed out until what
        follows shows whether they do.
        """
        parser = FormDataParser(b"XX")
        parser.feed(b"--XX\r\n\r\nabc\r\n--X")
        self.assertEqual(parser.next_part(), {})
        self.assertEqual(parser.read(100), b"abc")
        self.assertEqual(parser.read(100), b"")
        parser.feed(b"Y")
        self.assertEqual(parser.read(100), b"\r\n--XY")
        parser.feed(b"\r\n--XX--")
        self.assertIsNone(parser.read(100))
        self.assertIsNone(parser.next_part())
        self.assertTrue(parser.finished)

    def test_skip_rest_of_part(self) -> None:
        """
        Asking for the next part skips what is left of the current one.
        """
        parser = FormDataParser(b"XX")
        parser.feed(b"--XX\r\nA: 1\r\n\r\n" + b"x" * 100)
        self.assertEqual(parser.next_part(), {"A": "1"})
        self.assertEqual(parser.read(10), b"x" * 10)
        self.assertIsNone(parser.next_part())
        self.assertLess(parser.buffered, 10)
        parser.feed(b"\r\n--XX\r\nA: 2\r\n\r\n")
        self.assertIsNone(parser.next_part())
        parser.feed(b"y")
        self.assertEqual(parser.next_part(), {"A": "2"})
        self.assertEqual(parser.read(10), b"y")

    def test_repeated_header(self) -> None:
        """
        The first value of a repeated header counts, as in Swift.
        """
        self.assertEqual(parse_form(b"--XX\r\nA: 1\r\na: 2\r\n\r\n\r\n--XX--"),
                         [({"a": "1"}, b"")])

    def test_non_utf8_headers(self) -> None:
        """
        A header line that is not UTF-8 is read as latin-1.
        """
        self.assertEqual(parse_form(b"--XX\r\nA: \xc3\xa9\r\nB: \xe9\r\n\r\n\r\n--XX--"),
                         [({"a": "\xe9", "b": "\xe9"}, b"")])

    def test_headers_too_long(self) -> None:
        parser = FormDataParser(b"XX")
        parser.feed(b"--XX\r\nA: " + b"x" * MAX_PART_HEADERS)
        self.assertRaises(FormDataError, parser.next_part)
