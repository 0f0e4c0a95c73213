# -*- test-case-name: tests.test_ranges -*-
"""
HTTP byte ranges, and moving a backend C{Range} past bytes already sent.

When a GET must resume on another replica, the proxy asks that replica for
exactly what the client has not yet received: L{fast_forward} rewrites the
C{Range} header of the original request given how many body bytes (of the
single-range response) have gone out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

__all__ = [
    "ByteRange",
    "parse_range_header",
    "format_range_header",
    "fast_forward",
    "RangeExhausted",
    "resolve",
]

_SPEC = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


class RangeExhausted(Exception):
    """
    Every byte the range asks for has already been sent.
    """


@dataclass(frozen=True)
class ByteRange:
    """
    One byte range: C{first-last} (C{last} may be C{None}: to the end), or a
    suffix of C{suffix} bytes (C{first} is then C{None}).
    """

    first: Optional[int]
    last: Optional[int] = None
    suffix: Optional[int] = None

    def __str__(self) -> str:
        if self.suffix is not None:
            return f"-{self.suffix}"
        if self.last is None:
            return f"{self.first}-"
        return f"{self.first}-{self.last}"


def parse_range_header(value: Optional[str]) -> Optional[list[ByteRange]]:
    """
    The ranges of a C{Range} header, or C{None} when there is no header or
    it is not a well-formed C{bytes=} range set (which Swift ignores and
    serves the whole object for).
    """
    if not value:
        return None
    unit, sep, specs = value.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    ranges = []
    for spec in specs.split(","):
        match = _SPEC.match(spec)
        if match is None:
            return None
        first, last = match.groups()
        if first == "" and last == "":
            return None
        if first == "":
            ranges.append(ByteRange(None, None, int(last)))
        elif last == "":
            ranges.append(ByteRange(int(first)))
        else:
            if int(last) < int(first):
                return None
            ranges.append(ByteRange(int(first), int(last)))
    return ranges


def format_range_header(ranges: list[ByteRange]) -> str:
    """
    The C{Range} header value for C{ranges}.
    """
    return "bytes=" + ",".join(str(r) for r in ranges)


def fast_forward(
    ranges: Optional[list[ByteRange]], sent: int, selected: Optional[int] = None
) -> str:
    """
    The C{Range} header that asks for what is left of a single-range (or
    whole-object) body once C{sent} bytes of it went to the client.

    @param ranges: the request's ranges (at most one), or C{None} for the
        whole object.
    @param sent: body bytes already delivered.
    @param selected: how many bytes the range selected (the first
        response's length): a suffix longer than the object selects the
        whole object, so what is left is counted from this.
    @raise RangeExhausted: nothing is left to ask for.
    @raise ValueError: for several ranges (a multipart body), which this
        does not rewrite.
    """
    if sent < 0:
        raise ValueError("negative byte count")
    if not ranges:
        return f"bytes={sent}-"
    if len(ranges) != 1:
        raise ValueError("cannot fast-forward a multi-range request")
    only = ranges[0]
    if only.suffix is not None:
        total = only.suffix if selected is None else min(only.suffix, selected)
        left = total - sent
        if left <= 0:
            raise RangeExhausted()
        return f"bytes=-{left}"
    assert only.first is not None
    start = only.first + sent
    if only.last is None:
        return f"bytes={start}-"
    if start > only.last:
        raise RangeExhausted()
    return f"bytes={start}-{only.last}"


def resolve(byte_range: ByteRange, size: int) -> Optional[tuple[int, int]]:
    """
    The inclusive offsets C{byte_range} selects in an object of C{size}
    bytes, or C{None} when it selects nothing.
    """
    if byte_range.suffix is not None:
        if byte_range.suffix == 0 or size == 0:
            return None
        return max(0, size - byte_range.suffix), size - 1
    assert byte_range.first is not None
    if byte_range.first >= size:
        return None
    last = size - 1 if byte_range.last is None else min(byte_range.last, size - 1)
    return byte_range.first, last
