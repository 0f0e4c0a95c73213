# -*- test-case-name: tests.test_timestamp -*-
"""
Swift's timestamps: the X-Timestamp that orders every write, and the HTTP
dates derived from it.

A L{Timestamp} counts time in units of ten microseconds (its I{raw} value)
and may carry an I{offset}, a 64-bit tie-breaker that orders writes made at
the same instant. Its I{normal} form is the fixed-width C{%016.05f} string
clients see; its I{internal} form appends C{_<16 hex digits>} when the offset
is non-zero. Both forms sort lexically in time order.
"""

from __future__ import annotations

import datetime
import functools
import math
import time
from email.utils import parsedate
from typing import Any, Optional, Protocol, Union

__all__ = [
    "Timestamp",
    "header_timestamp",
    "http_date",
    "parse_http_date",
    "normalize_delete_at_timestamp",
]

# One raw unit, in seconds. Arithmetic divides by this constant (rather than
# multiplying by its inverse) so that float rounding agrees with Swift's.
_UNIT = 1e-5
_NORMAL = "%016.05f"
_HEX_DIGITS = 16
_MAX_OFFSET = 16**_HEX_DIGITS - 1
# The first instant whose normal form would need an eleventh integer digit.
_UPPER_BOUND = 10_000_000_000
# The largest raw instant (9999999999.99999).
_MAX_RAW = 999_999_999_999_999
# Raw units in a second.
_PER_SECOND = 100_000
_EPOCH = datetime.datetime(1970, 1, 1)
_ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)


def _seconds_to_raw(seconds: float) -> int:
    try:
        return int(round(seconds / _UNIT))
    except OverflowError:
        # float('inf') and friends: reject as unparseable, never crash.
        raise ValueError(f"timestamp out of range: {seconds!r}")


def _split_internal(text: str) -> tuple[float, int]:
    """
    Parse C{<float>[_<hex offset>]} into seconds and offset.

    @raise ValueError: when either part is malformed.
    """
    seconds_text, _, hex_text = text.partition("_")
    if "_" in hex_text:
        raise ValueError(f"malformed timestamp offset: {hex_text!r}")
    if len(hex_text) > _HEX_DIGITS:
        raise ValueError(f"timestamp offset too long: {hex_text!r}")
    offset = int(hex_text, 16) if hex_text else 0
    return float(seconds_text), offset


class _Clock(Protocol):
    # The part of IReactorTime a timestamp needs.
    def seconds(self) -> float: ...


@functools.total_ordering
class Timestamp:
    """
    An instant with ten-microsecond resolution plus an ordering offset.

    @ivar raw: the instant as a count of ten-microsecond units.
    @ivar offset: the non-negative tie-breaking offset.
    """

    __slots__ = ("raw", "offset")

    raw: int
    offset: int

    def __init__(
        self,
        value: Union["Timestamp", float, int, str, bytes],
        offset: int = 0,
        delta: int = 0,
        check_bounds: bool = True,
    ) -> None:
        """
        @param value: seconds since the epoch as a number; a string or bytes
            in normal or internal form; or another L{Timestamp} (whose offset
            is kept).
        @param offset: added to any offset C{value} carries.
        @param delta: raw units (ten microseconds) added to the instant.
        @param check_bounds: reject instants before the epoch or from the
            year 2286 on, whose normal form would not be 16 characters.

        @raise ValueError: for anything unparseable or out of range.
        """
        base_offset = 0
        if isinstance(value, Timestamp):
            raw = value.raw
            base_offset = value.offset
        elif isinstance(value, (int, float)):
            raw = _seconds_to_raw(float(value))
        else:
            text = value.decode("ascii") if isinstance(value, bytes) else str(value)
            seconds, base_offset = _split_internal(text)
            raw = _seconds_to_raw(seconds)
        if delta:
            if raw + delta < 0:
                raise ValueError(f"delta must be greater than {-raw - 1}")
            raw += delta
        self.raw = raw
        self.offset = 0
        self._set_offset(base_offset)
        if offset:
            if offset < 0:
                raise ValueError("offset increment must be non-negative")
            self._set_offset(self.offset + offset)
        if check_bounds:
            # What self.timestamp < 0 and self.timestamp >= _UPPER_BOUND
            # say, read from the raw count (see timestamp: the seconds of a
            # raw count up to _MAX_RAW are raw / 100000 exactly rounded,
            # which only a negative count makes negative, and only one above
            # _MAX_RAW makes 10^10 or more).
            if raw < 0:
                raise ValueError("timestamp cannot be negative")
            if raw > _MAX_RAW:
                raise ValueError("timestamp too large")

    def _set_offset(self, offset: int) -> None:
        if not isinstance(offset, int):
            raise TypeError("offset must be an int")
        if offset < 0:
            raise ValueError("offset must be non-negative")
        if offset > _MAX_OFFSET:
            raise ValueError(f"offset must be at most {_MAX_OFFSET}")
        self.offset = offset

    @classmethod
    def now(
        cls, clock: Optional[_Clock] = None, offset: int = 0, delta: int = 0
    ) -> "Timestamp":
        """
        The current time, read from C{clock} (an C{IReactorTime}; the
        system clock when C{None}).
        """
        seconds = clock.seconds() if clock is not None else time.time()
        return cls(seconds, offset=offset, delta=delta)

    @classmethod
    def zero(cls) -> "Timestamp":
        """
        The epoch, the smallest valid timestamp.
        """
        return cls(0.0)

    @classmethod
    def from_isoformat(cls, text: str) -> "Timestamp":
        """
        Parse a listing C{last_modified} value (C{YYYY-MM-DDTHH:MM:SS.ffffff},
        UTC).

        @raise ValueError: when C{text} is not in that form.
        """
        moment = datetime.datetime.strptime(text, _ISO_FORMAT)
        return cls((moment - _EPOCH).total_seconds())

    @property
    def timestamp(self) -> float:
        """
        Seconds since the epoch, rounded to ten microseconds.
        """
        raw = self.raw
        if -_MAX_RAW <= raw <= _MAX_RAW:
            # The same float as the general form below, without its
            # decimal round trip: there raw * _UNIT is within 2.3e-6 of
            # raw / 10^5 (at most 10^10; a relative error of two half
            # units in the last place), so rounding it to five decimals
            # gives that decimal exactly, and then the float nearest to
            # it: what the exactly rounded division gives.
            return raw / _PER_SECOND
        return round(float(raw * _UNIT), 5)

    @property
    def normal(self) -> str:
        """
        The 16-character form clients see, e.g. C{1402464677.04188}.
        """
        raw = self.raw
        if 0 <= raw <= _MAX_RAW:
            # The same text as the general form below: the float of such a
            # count prints to five decimals as the count's own digits (see
            # timestamp), ten before the point.
            return "%010d.%05d" % divmod(raw, _PER_SECOND)
        return _NORMAL % self.timestamp

    @property
    def internal(self) -> str:
        """
        The normal form, followed by C{_} and the offset as 16 hex digits
        when the offset is non-zero.
        """
        if self.offset:
            return "%s_%016x" % (self.normal, self.offset)
        return self.normal

    @property
    def isoformat(self) -> str:
        """
        The instant as listings show it: C{YYYY-MM-DDTHH:MM:SS.ffffff} in UTC,
        microseconds rounded half-to-even, always six fractional digits.
        """
        fraction, whole = math.modf(float(self.normal))
        micros = round(fraction * 1e6)
        seconds = int(whole)
        if micros >= 1_000_000:
            seconds, micros = seconds + 1, micros - 1_000_000
        elif micros < 0:
            seconds, micros = seconds - 1, micros + 1_000_000
        moment = _EPOCH + datetime.timedelta(seconds=seconds)
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + ".%06d" % micros

    def ceil(self) -> int:
        """
        The instant rounded up to a whole second: the value Swift uses for
        second-resolution dates such as Last-Modified.
        """
        return math.ceil(self.timestamp)

    def inverted(self) -> "Timestamp":
        """
        The timestamp whose order is the reverse of this one's (Swift's
        C{~Timestamp}): object versioning names versions with it so that a
        listing shows the newest first. Inverting twice gives back the
        timestamp.
        """
        if self.offset:
            return Timestamp(0, offset=_MAX_OFFSET + 1 - self.offset,
                             delta=_MAX_RAW - self.raw - 1)
        return Timestamp(0, delta=_MAX_RAW - self.raw)

    def _key(self) -> tuple[int, int]:
        return (self.raw, self.offset)

    @staticmethod
    def _coerce(other: Any) -> Optional["Timestamp"]:
        if isinstance(other, Timestamp):
            return other
        try:
            return Timestamp(other, check_bounds=False)
        except (ValueError, TypeError, UnicodeDecodeError):
            return None

    def __eq__(self, other: object) -> bool:
        if other is None:
            return False
        coerced = self._coerce(other)
        if coerced is None:
            return NotImplemented
        return self._key() == coerced._key()

    def __lt__(self, other: object) -> bool:
        if other is None:
            return False
        coerced = self._coerce(other)
        if coerced is None:
            return NotImplemented
        return self._key() < coerced._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __float__(self) -> float:
        return self.timestamp

    def __int__(self) -> int:
        return int(self.timestamp)

    def __bool__(self) -> bool:
        return bool(self.raw) or bool(self.offset)

    def __str__(self) -> str:
        # Swift refuses an implicit format; so do we, to catch callers that
        # would otherwise silently pick the wrong one.
        raise TypeError("use .normal or .internal")

    def __repr__(self) -> str:
        return "%s_%016x" % (self.normal, self.offset)


def header_timestamp(value: Optional[str]) -> Optional[Timestamp]:
    """
    A backend's timestamp header, offset included (versions written at the
    same instant are ordered by it, as in Swift) and not bounds-checked, or
    C{None} when absent, empty or unparseable.
    """
    if not value:
        return None
    try:
        return Timestamp(value, check_bounds=False)
    except ValueError:
        return None


#: The whole seconds L{http_date} formatted last, and their texts: the
#: responses of one second share them. They are two seconds at a time:
#: a response's C{Date} is the second now (truncated), a PUT's
#: C{Last-Modified} the next one (its timestamp rounded up).
_http_dates: dict[int, str] = {}
#: How many seconds L{_http_dates} holds before it starts again.
_HTTP_DATES_KEPT = 4


def http_date(value: Union[Timestamp, float, int]) -> str:
    """
    Format an instant as an IMF-fixdate (C{Sun, 06 Nov 1994 08:49:37 GMT}).

    A L{Timestamp} is first rounded I{up} to a whole second (see
    L{Timestamp.ceil}); a number is truncated, as C{time.gmtime} does.
    Day and month names are English whatever the process locale. The last
    few seconds formatted are remembered (L{_http_dates}).
    """
    seconds = value.ceil() if isinstance(value, Timestamp) else math.floor(value)
    text = _http_dates.get(seconds)
    if text is not None:
        return text
    t = time.gmtime(seconds)
    text = "%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        _WEEKDAYS[t.tm_wday],
        t.tm_mday,
        _MONTHS[t.tm_mon - 1],
        t.tm_year,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
    )
    if len(_http_dates) >= _HTTP_DATES_KEPT:
        _http_dates.clear()
    _http_dates[seconds] = text
    return text


def parse_http_date(text: Optional[str]) -> Optional[float]:
    """
    Parse an HTTP date header (If-Modified-Since, Last-Modified, ...) into
    seconds since the epoch, as Swift does: any format C{email.utils}
    understands, the zone ignored and taken as UTC.

    @return: the seconds, or C{None} when C{text} is absent or unparseable
        (the header is then ignored, never an error).
    """
    if text is None:
        return None
    try:
        parts = parsedate(text)
        if parts is None:
            return None
        moment = datetime.datetime(*parts[:6], tzinfo=datetime.timezone.utc)
    except (ValueError, TypeError, OverflowError):
        return None
    return moment.timestamp()


def normalize_delete_at_timestamp(
    value: Union[float, int, str], high_precision: bool = False
) -> str:
    """
    Format an X-Delete-At time the way it is stored: clamped to
    C{[0, 9999999999.99999]}, then ten integer digits (truncated), or the
    normal C{%016.5f} form when C{high_precision}.

    @raise ValueError: when C{value} is not a number.
    """
    clamped = min(max(0.0, float(value)), 9999999999.99999)
    if high_precision:
        return "%016.5f" % clamped
    return "%010d" % clamped
