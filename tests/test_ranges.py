"""
Tests for L{twisted_proxy.swift.ranges}.
"""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.ranges import (
    ByteRange,
    RangeExhausted,
    fast_forward,
    format_range_header,
    parse_range_header,
    resolve,
)


def _served(header: str | None, body: bytes) -> bytes:
    """
    What a storage node sends for C{header} over C{body} (one range).
    """
    ranges = parse_range_header(header)
    if not ranges:
        return body
    span = resolve(ranges[0], len(body))
    if span is None:
        return b""
    return body[span[0]:span[1] + 1]


_ranges = st.one_of(
    st.none(),
    st.builds(lambda a, n: ByteRange(a, a + n), st.integers(0, 300), st.integers(0, 300)),
    st.builds(ByteRange, st.integers(0, 300)),
    st.builds(lambda n: ByteRange(None, None, n), st.integers(1, 300)),
)


class ParseTests(SynchronousTestCase):
    def test_forms(self) -> None:
        self.assertEqual(parse_range_header("bytes=0-9"), [ByteRange(0, 9)])
        self.assertEqual(parse_range_header("bytes=5-"), [ByteRange(5)])
        self.assertEqual(parse_range_header("bytes=-7"), [ByteRange(None, None, 7)])
        self.assertEqual(parse_range_header("bytes=0-1, 4-5"),
                         [ByteRange(0, 1), ByteRange(4, 5)])

    def test_ignored(self) -> None:
        """
        Malformed headers are no range at all, as Swift treats them.
        """
        for value in (None, "", "bytes=", "items=0-1", "bytes=5-2", "bytes=a-b", "bytes=-"):
            self.assertIsNone(parse_range_header(value), value)

    @given(st.lists(_ranges.filter(lambda r: r is not None), min_size=1, max_size=4))
    def test_roundTrip(self, ranges: list[ByteRange]) -> None:
        self.assertEqual(parse_range_header(format_range_header(ranges)), ranges)


class FastForwardTests(SynchronousTestCase):
    def test_examples(self) -> None:
        self.assertEqual(fast_forward(None, 100), "bytes=100-")
        self.assertEqual(fast_forward([ByteRange(10, 99)], 40), "bytes=50-99")
        self.assertEqual(fast_forward([ByteRange(10)], 40), "bytes=50-")
        self.assertEqual(fast_forward([ByteRange(None, None, 30)], 10), "bytes=-20")

    def test_suffixLongerThanObject(self) -> None:
        """
        A suffix longer than the object selected all of it: what is left
        counts from what was selected, not from the suffix asked for.
        """
        self.assertEqual(fast_forward([ByteRange(None, None, 3)], 1, 2), "bytes=-1")

    def test_exhausted(self) -> None:
        self.assertRaises(RangeExhausted, fast_forward, [ByteRange(0, 9)], 10)
        self.assertRaises(RangeExhausted, fast_forward, [ByteRange(None, None, 5)], 5)

    def test_multiRange(self) -> None:
        self.assertRaises(ValueError, fast_forward, [ByteRange(0, 1), ByteRange(3, 4)], 1)

    @given(st.binary(min_size=1, max_size=400), _ranges, st.data())
    def test_resumeConcatenates(self, body: bytes, byte_range: ByteRange | None,
                                data: st.DataObject) -> None:
        """
        The bytes sent before a resume, followed by what a node serves for the
        fast-forwarded range, are exactly the bytes the request asked for.
        """
        header = None if byte_range is None else format_range_header([byte_range])
        wanted = _served(header, body)
        assume(wanted)
        sent = data.draw(st.integers(0, len(wanted) - 1))
        resumed = fast_forward(parse_range_header(header), sent, len(wanted))
        self.assertEqual(wanted[:sent] + _served(resumed, body), wanted)

    @given(st.binary(max_size=200), _ranges)
    def test_allSent(self, body: bytes, byte_range: ByteRange | None) -> None:
        """
        Once everything asked for of a bounded range went out, nothing more is
        asked for.
        """
        assume(byte_range is not None and byte_range.last is not None)
        assert byte_range is not None and byte_range.first is not None
        assert byte_range.last is not None
        length = byte_range.last - byte_range.first + 1
        self.assertRaises(RangeExhausted, fast_forward, [byte_range], length)
