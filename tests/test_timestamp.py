"""
Tests for L{twisted_proxy.swift.timestamp}.

Expected strings were produced by Swift 2.38.3 for the same inputs.
"""

import time

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.timestamp import (
    Timestamp,
    header_timestamp,
    http_date,
    normalize_delete_at_timestamp,
    parse_http_date,
)

_seconds = st.floats(min_value=0, max_value=9999999999.99999, allow_nan=False)
_offsets = st.integers(min_value=0, max_value=16**16 - 1)


class TimestampFormTests(SynchronousTestCase):
    def test_normal(self) -> None:
        self.assertEqual(Timestamp(1402464677.04188).normal, "1402464677.04188")
        self.assertEqual(Timestamp(0).normal, "0000000000.00000")
        self.assertEqual(Timestamp("1.5").normal, "0000000001.50000")

    def test_rounding(self) -> None:
        """
        Values round to the nearest ten microseconds as Swift rounds them.
        """
        self.assertEqual(Timestamp(0.999995).normal, "0000000000.99999")
        self.assertEqual(Timestamp(1402464677.041885).normal, "1402464677.04188")
        self.assertEqual(Timestamp(0.0000049).normal, "0000000000.00000")

    def test_internal_without_offset(self) -> None:
        self.assertEqual(Timestamp(1402464677.04188).internal, "1402464677.04188")

    def test_internal_with_offset(self) -> None:
        stamp = Timestamp(1402464677.04188, offset=1)
        self.assertEqual(stamp.internal, "1402464677.04188_0000000000000001")
        self.assertEqual(stamp.normal, "1402464677.04188")

    def test_parse_internal_adds_offset(self) -> None:
        stamp = Timestamp("1402464677.04188_0000000000000001", offset=2)
        self.assertEqual(stamp.internal, "1402464677.04188_0000000000000003")

    def test_copy_keeps_offset(self) -> None:
        original = Timestamp(5, offset=7)
        self.assertEqual(Timestamp(original).internal, original.internal)

    def test_bytes(self) -> None:
        self.assertEqual(Timestamp(b"12.5").normal, "0000000012.50000")

    def test_delta(self) -> None:
        self.assertEqual(Timestamp(1.0, delta=5).normal, "0000000001.00005")
        self.assertEqual(Timestamp(1.0, delta=-100000).normal, "0000000000.00000")
        self.assertRaises(ValueError, Timestamp, 1.0, delta=-100001)

    def test_invalid(self) -> None:
        for bad in ("abc", "", "nan", "inf", "-1", "1__2", "1_" + "f" * 17, "1_-1"):
            self.assertRaises(ValueError, Timestamp, bad)
        self.assertRaises(ValueError, Timestamp, 10000000000)
        self.assertRaises(ValueError, Timestamp, -0.5)

    def test_isoformat(self) -> None:
        self.assertEqual(
            Timestamp(1402464677.04188).isoformat, "2014-06-11T05:31:17.041880"
        )
        self.assertEqual(Timestamp(0).isoformat, "1970-01-01T00:00:00.000000")
        self.assertEqual(
            Timestamp(9999999999.99999).isoformat, "2286-11-20T17:46:39.999990"
        )

    def test_from_isoformat(self) -> None:
        stamp = Timestamp.from_isoformat("2014-06-11T05:31:17.041880")
        self.assertEqual(stamp.normal, "1402464677.04188")

    def test_ceil(self) -> None:
        self.assertEqual(Timestamp(1700000000.5).ceil(), 1700000001)
        self.assertEqual(Timestamp(1700000000).ceil(), 1700000000)

    def test_str_refused(self) -> None:
        self.assertRaises(TypeError, str, Timestamp(1))

    def test_now(self) -> None:
        clock = Clock()
        clock.advance(1234.5)
        self.assertEqual(Timestamp.now(clock).normal, "0000001234.50000")


class TimestampOrderTests(SynchronousTestCase):
    def test_offset_orders_within_instant(self) -> None:
        self.assertLess(Timestamp(1), Timestamp(1, offset=1))
        self.assertLess(Timestamp(1, offset=5), Timestamp(1.00001))

    def test_compare_with_strings_and_numbers(self) -> None:
        self.assertEqual(Timestamp(1), "1.00000")
        self.assertEqual(Timestamp(1), 1)
        self.assertLess(Timestamp(1), "1.00000_0000000000000001")
        self.assertLess(Timestamp(5), 1e11)
        self.assertFalse(Timestamp(5) < -1)
        self.assertNotEqual(Timestamp(1), None)

    @given(_seconds, _offsets, _seconds, _offsets)
    def test_order_matches_internal_strings(
        self, a: float, a_off: int, b: float, b_off: int
    ) -> None:
        """
        Timestamps order exactly as their internal strings sort.
        """
        x, y = Timestamp(a, offset=a_off), Timestamp(b, offset=b_off)
        self.assertEqual(x < y, x.internal < y.internal)
        self.assertEqual(x == y, x.internal == y.internal)

    @given(_seconds, _offsets)
    def test_internal_round_trip(self, seconds: float, offset: int) -> None:
        stamp = Timestamp(seconds, offset=offset)
        again = Timestamp(stamp.internal)
        self.assertEqual(again, stamp)
        self.assertEqual(again.internal, stamp.internal)
        self.assertEqual(len(stamp.normal), 16)

    @given(_seconds)
    def test_normal_round_trip(self, seconds: float) -> None:
        stamp = Timestamp(seconds)
        self.assertEqual(Timestamp(stamp.normal).normal, stamp.normal)
        self.assertEqual(Timestamp(float(stamp)).normal, stamp.normal)

    @given(st.one_of(
        st.integers(min_value=-999_999_999_999_999, max_value=999_999_999_999_999),
        st.integers(min_value=999_999_999_000_000, max_value=999_999_999_999_999),
        st.integers(min_value=10**15, max_value=10**20),
    ))
    def test_forms_of_raw_counts(self, raw: int) -> None:
        """
        The seconds and the normal form of any raw count are those of
        Swift's arithmetic: the count times ten microseconds rounded to
        five decimals, and that printed C{%016.05f}; the bounds check
        refuses exactly the counts whose seconds are negative or 10^10 or
        more.
        """
        stamp = Timestamp(0, check_bounds=False)
        stamp.raw = raw
        seconds = round(float(raw * 1e-5), 5)
        self.assertEqual(repr(stamp.timestamp), repr(seconds))
        self.assertEqual(stamp.normal, "%016.05f" % seconds)
        in_bounds = 0 <= seconds < 10_000_000_000
        if raw >= 0:
            try:
                Timestamp(0, delta=raw)
            except ValueError:
                self.assertFalse(in_bounds)
            else:
                self.assertTrue(in_bounds)

    @given(_seconds)
    def test_isoformat_round_trip(self, seconds: float) -> None:
        stamp = Timestamp(seconds)
        self.assertEqual(Timestamp.from_isoformat(stamp.isoformat), stamp)


class HTTPDateTests(SynchronousTestCase):
    def test_timestamp_rounds_up(self) -> None:
        self.assertEqual(
            http_date(Timestamp(1402464677.04188)), "Wed, 11 Jun 2014 05:31:18 GMT"
        )

    def test_number_truncates(self) -> None:
        self.assertEqual(http_date(1402464677.9), "Wed, 11 Jun 2014 05:31:17 GMT")
        self.assertEqual(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT")

    def test_secondAfterSecond(self) -> None:
        """
        The same second again gives the same text; another second, its
        own (the last few formatted are remembered).
        """
        self.assertEqual(http_date(1402464677.1), "Wed, 11 Jun 2014 05:31:17 GMT")
        self.assertEqual(http_date(1402464677.8), "Wed, 11 Jun 2014 05:31:17 GMT")
        self.assertEqual(http_date(Timestamp(1402464677.5)), "Wed, 11 Jun 2014 05:31:18 GMT")
        self.assertEqual(http_date(1402464677), "Wed, 11 Jun 2014 05:31:17 GMT")
        self.assertEqual(http_date(-0.5), "Wed, 31 Dec 1969 23:59:59 GMT")
        for seconds in range(20):
            self.assertEqual(http_date(seconds * 86400 + 0.5),
                             time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                           time.gmtime(seconds * 86400)))

    def test_dateAndLastModifiedRemembered(self) -> None:
        """
        A PUT's C{Date} (this second) and C{Last-Modified} (its timestamp
        rounded up: the next second) are both formatted once, however
        they alternate.
        """
        formatted: list[float] = []
        gmtime = time.gmtime

        def counting(seconds: float) -> time.struct_time:
            formatted.append(seconds)
            return gmtime(seconds)

        self.patch(time, "gmtime", counting)
        for _ in range(3):
            self.assertEqual(http_date(1700000000.25), "Tue, 14 Nov 2023 22:13:20 GMT")
            self.assertEqual(http_date(Timestamp(1700000000.25)),
                             "Tue, 14 Nov 2023 22:13:21 GMT")
        self.assertEqual(formatted, [1700000000, 1700000001])

    def test_parse(self) -> None:
        for text in (
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ):
            self.assertEqual(parse_http_date(text), 784111777.0)

    def test_parse_ignores_zone(self) -> None:
        self.assertEqual(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 +0500"), 784111777.0
        )

    def test_parse_garbage(self) -> None:
        for text in (None, "", "garbage", "Sun, 31 Feb 1994 08:49:37 GMT"):
            self.assertIsNone(parse_http_date(text))

    @given(st.integers(min_value=0, max_value=9999999999))
    def test_round_trip(self, seconds: int) -> None:
        self.assertEqual(parse_http_date(http_date(seconds)), float(seconds))


class DeleteAtTests(SynchronousTestCase):
    def test_normalize(self) -> None:
        self.assertEqual(normalize_delete_at_timestamp(12.9), "0000000012")
        self.assertEqual(normalize_delete_at_timestamp(-5), "0000000000")
        self.assertEqual(normalize_delete_at_timestamp(99999999999), "9999999999")
        self.assertEqual(
            normalize_delete_at_timestamp("12.5", high_precision=True),
            "0000000012.50000",
        )


class HeaderTimestampTests(SynchronousTestCase):
    def test_parsed(self) -> None:
        """
        The offset is kept and the bounds are not checked.
        """
        self.assertEqual(header_timestamp("1700000000.00000_0000000000000002"),
                         Timestamp(1700000000, offset=2))
        self.assertEqual(header_timestamp("99999999999.5"),
                         Timestamp("99999999999.5", check_bounds=False))

    def test_absentOrBad(self) -> None:
        for value in (None, "", "soon"):
            self.assertIsNone(header_timestamp(value))
