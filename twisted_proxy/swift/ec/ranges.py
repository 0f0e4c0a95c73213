# -*- test-case-name: tests.e2e.test_ec_ranges -*-
"""
Byte ranges of an erasure-coded object.

A client's C{Range} names object bytes; the object servers hold fragment
archives. As Swift does, the proxy widens each client range to whole
segments, asks the nodes for the fragments of those segments
(L{backend_range}), decodes them and trims the segments back to the bytes
asked for (L{trim}). Whether the answer is a 200, a 206 (one part or
several) or a 416 is decided as Swift's own responses decide it, from the
object's length (L{plan_read}).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

__all__ = [
    "Spec",
    "parse_range",
    "ranges_for_length",
    "client_range_to_segment_range",
    "segment_range_to_fragment_range",
    "backend_range",
    "ReadPlan",
    "plan_read",
    "Want",
    "wants_for",
    "archive_span",
    "trim",
    "range_header",
    "MAX_RANGES",
]

#: One range of a C{Range} header: C{(first, last)}, inclusive; C{first}
#: is C{None} for a suffix of C{last} bytes, C{last} is C{None} for "to
#: the end".
Spec = tuple[Optional[int], Optional[int]]

#: Swift ignores egregious range sets: more than this many ranges...
MAX_RANGES = 50
#: ...more than this many overlapping pairs...
MAX_RANGE_OVERLAPS = 2
#: ...or this many ranges or more out of ascending order.
MAX_NONASCENDING_RANGES = 8


def parse_range(value: Optional[str]) -> Optional[list[Spec]]:
    """
    The ranges of a C{Range} header as Swift reads them, or C{None} when
    it is absent or not a well-formed C{bytes=} range set (then ignored).
    """
    if not value:
        return None
    value = value.replace(" ", "")
    if not value.lower().startswith("bytes="):
        return None
    specs: list[Spec] = []
    for text in value[6:].split(","):
        if "-" not in text:
            return None
        first_text, last_text = text.split("-", 1)
        try:
            first = int(first_text) if first_text else None
        except ValueError:
            return None
        if last_text:
            if not last_text.isdigit():
                return None
            last: Optional[int] = int(last_text)
            assert last is not None
            if first is not None and last < first:
                return None
        else:
            last = None
            if first is None:
                return None
        specs.append((first, last))
    return specs


def ranges_for_length(specs: list[Spec], length: int) -> list[tuple[int, int]]:
    """
    The half-open byte spans C{specs} select in C{length} bytes, in order,
    as Swift computes them: unsatisfiable ranges and C{-0} are left out, a
    suffix longer than the object selects all of it, and an egregious set
    (too many, overlapping or out-of-order ranges) selects nothing.

    @return: the spans; empty means the set is not satisfiable (416).
    """
    spans: list[tuple[int, int]] = []
    for first, last in specs:
        if first is None:
            assert last is not None
            if last == 0:
                continue
            spans.append((0, length) if last > length else (length - last, length))
            continue
        if last is None:
            if first < length:
                spans.append((first, length))
        elif first < length:
            spans.append((first, min(last + 1, length)))
    if len(spans) > MAX_RANGES:
        return []
    overlaps = 0
    for index, (start1, end1) in enumerate(spans):
        for start2, end2 in spans[index + 1:]:
            if (start1 < start2 < end1 or start1 < end2 < end1
                    or start2 < start1 < end2 or start2 < end1 < end2):
                overlaps += 1
                if overlaps > MAX_RANGE_OVERLAPS:
                    return []
    ascending = all(a <= b for a, b in zip(spans, spans[1:]))
    if not ascending and len(spans) >= MAX_NONASCENDING_RANGES:
        return []
    return spans


def client_range_to_segment_range(first: Optional[int], last: Optional[int],
                                  segment_size: int) -> Spec:
    """
    The whole segments covering a client range, as a range of the same
    form. A suffix asks for one segment more than it needs, as in Swift:
    the object's length is not known yet, and the suffix may start in the
    middle of a segment.
    """
    if first is not None:
        start: Optional[int] = first // segment_size * segment_size
        end = None if last is None else (last // segment_size + 1) * segment_size - 1
        return start, end
    assert last is not None
    return None, (-(-last // segment_size) + 1) * segment_size


def segment_range_to_fragment_range(first: Optional[int], last: Optional[int],
                                    segment_size: int, fragment_size: int) -> Spec:
    """
    The bytes of each fragment archive holding the fragments of a segment
    range (from L{client_range_to_segment_range}).
    """
    start = None if first is None else first // segment_size * fragment_size
    if last is None:
        return start, None
    if first is None:
        return None, (last + 1) // segment_size * fragment_size
    return start, (last + 1) // segment_size * fragment_size - 1


def range_header(specs: Iterable[Spec]) -> str:
    """
    The C{Range} header value for C{specs}.
    """
    return "bytes=" + ",".join(
        f"{'' if first is None else first}-{'' if last is None else last}"
        for first, last in specs)


def backend_range(specs: list[Spec], segment_size: int, fragment_size: int) -> str:
    """
    The C{Range} a fragment GET carries for a client's C{specs}: each
    range widened to whole segments, in fragment archive bytes.
    """
    out = []
    for first, last in specs:
        seg_first, seg_last = client_range_to_segment_range(first, last, segment_size)
        out.append(segment_range_to_fragment_range(seg_first, seg_last, segment_size,
                                                   fragment_size))
    return range_header(out)


@dataclass(frozen=True)
class ReadPlan:
    """
    What a GET of an object of known length answers.

    @ivar status: 200, 206 or 416.
    @ivar spans: the object bytes sent, as inclusive C{(first, last)}
        pairs: one per part of a 206, the whole object for a 200 (none
        when it is empty), none for a 416.
    """

    status: int
    spans: tuple[tuple[int, int], ...]

    @property
    def multipart(self) -> bool:
        """
        Whether the body is C{multipart/byteranges}.
        """
        return self.status == 206 and len(self.spans) > 1


def plan_read(specs: Optional[list[Spec]], length: int) -> ReadPlan:
    """
    How a GET with client ranges C{specs} (C{None}: no usable C{Range}) is
    answered for an object of C{length} bytes, as Swift's conditional
    responses decide.
    """
    whole = ReadPlan(200, ((0, length - 1),) if length else ())
    if not specs:
        return whole
    spans = ranges_for_length(specs, length)
    if not spans:
        return ReadPlan(416, ())
    if length == 0:
        # A suffix of an empty object: the whole (empty) object.
        return whole
    return ReadPlan(206, tuple((start, end - 1) for start, end in spans))


@dataclass(frozen=True)
class Want:
    """
    The fragments needed for one span of object bytes.

    @ivar first: the first object byte sent.
    @ivar last: the last object byte sent.
    @ivar first_fragment: the index, within every archive, of the fragment
        of the segment holding C{first}.
    @ivar last_fragment: that of the segment holding C{last}.
    """

    first: int
    last: int
    first_fragment: int
    last_fragment: int

    @property
    def fragments(self) -> int:
        return self.last_fragment - self.first_fragment + 1


def wants_for(plan: ReadPlan, segment_size: int) -> list[Want]:
    """
    The fragments to decode for each span of C{plan}.
    """
    return [
        Want(first, last, first // segment_size, last // segment_size)
        for first, last in plan.spans
    ]


def archive_span(want: Want, fragment_size: int, archive_length: int) -> tuple[int, int]:
    """
    The inclusive byte span, in every fragment archive, of C{want}'s
    fragments.
    """
    start = want.first_fragment * fragment_size
    end = min((want.last_fragment + 1) * fragment_size, archive_length) - 1
    return start, end


def trim(want: Want, segment_index: int, segment: bytes, segment_size: int) -> bytes:
    """
    The part of decoded segment C{segment_index} that C{want} sends.
    """
    offset = segment_index * segment_size
    start = max(want.first - offset, 0)
    end = min(want.last + 1 - offset, len(segment))
    if start == 0 and end == len(segment):
        return segment
    return segment[start:end]
