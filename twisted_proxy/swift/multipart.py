# -*- test-case-name: tests.test_multipart -*-
"""
C{multipart/byteranges} bodies, for resuming a multi-range GET.

An object server answers a request for several ranges with parts framed as

    --BOUNDARY\\r\\nContent-Type: T\\r\\nContent-Range: bytes A-B/N\\r\\n\\r\\n
    <data>\\r\\n--BOUNDARY\\r\\n...<data>\\r\\n--BOUNDARY--

Given the boundary, the part type, the object size and the ranges, that body
is fully determined: a L{MultipartLayout}. To resume after C{sent} bytes, the
proxy regenerates the framing still owed (with the boundary the client
already has) and fetches only the data still owed; L{PartReader} takes the
data out of a resumed multi-range answer, whose own framing differs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional, Union

from twisted_proxy.swift.ranges import ByteRange, resolve

__all__ = [
    "MultipartLayout",
    "Reframer",
    "range_header",
    "Frame",
    "Data",
    "PartReader",
    "PartHead",
    "boundary_of",
    "parse_first_part",
]

_BOUNDARY = re.compile(r"boundary=\"?([^\";]+)\"?", re.IGNORECASE)
_CONTENT_RANGE = re.compile(rb"content-range:\s*bytes\s+(\d+)-(\d+)/(\d+)", re.IGNORECASE)
_CONTENT_TYPE = re.compile(rb"content-type:\s*([^\r\n]*)", re.IGNORECASE)


def boundary_of(content_type: Optional[str]) -> Optional[str]:
    """
    The boundary of a C{multipart/byteranges} content type, else C{None}.
    """
    if not content_type or not content_type.lower().startswith("multipart/byteranges"):
        return None
    match = _BOUNDARY.search(content_type)
    return match.group(1) if match else None


def parse_first_part(head: bytes) -> Optional[tuple[bytes, int]]:
    """
    The part content type and the object size, read from the first part's
    headers at the start of a multipart body, or C{None} when C{head} does
    not hold them yet.
    """
    end = head.find(b"\r\n\r\n")
    if end < 0:
        return None
    headers = head[:end]
    content_range = _CONTENT_RANGE.search(headers)
    content_type = _CONTENT_TYPE.search(headers)
    if content_range is None or content_type is None:
        return None
    return content_type.group(1).strip(), int(content_range.group(3))


@dataclass(frozen=True)
class Frame:
    """
    Framing bytes the proxy writes itself.
    """

    data: bytes


@dataclass(frozen=True)
class Data:
    """
    Object bytes C{first} to C{last} (inclusive) that a node must supply.
    """

    first: int
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1


Piece = Union[Frame, Data]


@dataclass(frozen=True)
class MultipartLayout:
    """
    The exact body an object server sends for C{ranges} of an object of
    C{total} bytes.
    """

    boundary: bytes
    part_type: bytes
    spans: tuple[tuple[int, int], ...]
    total: int

    @classmethod
    def for_ranges(cls, boundary: bytes, part_type: bytes, ranges: list[ByteRange],
                   total: int) -> "MultipartLayout":
        """
        The layout for C{ranges}, the unsatisfiable ones left out as an
        object server leaves them out.
        """
        spans = []
        for byte_range in ranges:
            span = resolve(byte_range, total)
            if span is not None:
                spans.append(span)
        return cls(boundary, part_type, tuple(spans), total)

    def pieces(self) -> list[Piece]:
        """
        The body in order: framing, data, framing, ..., closing framing.
        """
        out: list[Piece] = []
        for index, (first, last) in enumerate(self.spans):
            lead = b"" if index == 0 else b"\r\n"
            out.append(Frame(
                lead + b"--" + self.boundary + b"\r\nContent-Type: " + self.part_type
                + b"\r\nContent-Range: bytes %d-%d/%d\r\n\r\n" % (first, last, self.total)))
            out.append(Data(first, last))
        out.append(Frame(b"\r\n--" + self.boundary + b"--"))
        return out

    def length(self) -> int:
        """
        The body's length in bytes.
        """
        return sum(len(p.data) if isinstance(p, Frame) else p.size for p in self.pieces())

    def after(self, sent: int) -> list[Piece]:
        """
        What is left of the body once its first C{sent} bytes went out:
        a partly sent piece is cut to its unsent end.
        """
        left: list[Piece] = []
        skip = sent
        for piece in self.pieces():
            size = len(piece.data) if isinstance(piece, Frame) else piece.size
            if skip >= size:
                skip -= size
                continue
            if skip:
                if isinstance(piece, Frame):
                    piece = Frame(piece.data[skip:])
                else:
                    piece = Data(piece.first + skip, piece.last)
                skip = 0
            left.append(piece)
        return left


def range_header(pieces: list[Piece]) -> Optional[str]:
    """
    The C{Range} header asking for the data among C{pieces}, or C{None}
    when only framing is left.
    """
    spans = [f"{p.first}-{p.last}" for p in pieces if isinstance(p, Data)]
    return "bytes=" + ",".join(spans) if spans else None


@dataclass(frozen=True)
class PartHead:
    """
    What the headers of one part of a multipart body say: its bytes
    C{first} to C{last} (inclusive) of C{total}, and its C{content_type}
    (C{None} when it has none).
    """

    first: int
    last: int
    total: int
    content_type: Optional[bytes]


class PartReader:
    """
    Takes the data out of a multipart body, part after part, dropping its
    framing. Each part's length comes from its C{Content-Range}, so no
    boundary scanning is needed.

    @param deliver: called with each run of data bytes, in order.
    @param first_part: told the first part's content type (C{b""} when it
        has none) and the object size, before any data is delivered.
    @param each_part: told the L{PartHead} of every part, before its data
        is delivered.
    """

    def __init__(self, deliver: Callable[[bytes], None],
                 first_part: Optional[Callable[[bytes, int], None]] = None,
                 each_part: Optional[Callable[[PartHead], None]] = None) -> None:
        self._deliver = deliver
        self._first_part = first_part
        self._each_part = each_part
        self._buffer = b""
        self._remaining = 0
        self.parts = 0

    def write(self, data: bytes) -> None:
        """
        The next bytes of the multipart body.

        @raise ValueError: when the body is not framed as expected.
        """
        while data:
            if self._remaining > 0:
                piece, data = data[: self._remaining], data[self._remaining:]
                self._remaining -= len(piece)
                self._deliver(piece)
                continue
            self._buffer += data
            data = b""
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > 65536:
                    raise ValueError("multipart part headers too long")
                return
            headers, rest = self._buffer[:end], self._buffer[end + 4:]
            self._buffer = b""
            match = _CONTENT_RANGE.search(headers)
            if match is None:
                raise ValueError("multipart part without Content-Range")
            first, last, total = (int(g) for g in match.groups())
            found = _CONTENT_TYPE.search(headers)
            content_type = found.group(1).strip() if found is not None else None
            self._remaining = last - first + 1
            if self.parts == 0 and self._first_part is not None:
                self._first_part(content_type or b"", total)
            if self._each_part is not None:
                self._each_part(PartHead(first, last, total, content_type))
            self.parts += 1
            data = rest


class Reframer:
    """
    Writes what is left of a multipart body: the framing pieces itself,
    the data pieces from the bytes it is given, in order.

    @param pieces: what is left, from L{MultipartLayout.after}.
    @param write: where the body goes.
    """

    def __init__(self, pieces: list[Piece], write: Callable[[bytes], None]) -> None:
        self._pieces = list(pieces)
        self._write = write
        self._flush_frames()

    @property
    def complete(self) -> bool:
        return not self._pieces

    def _flush_frames(self) -> None:
        while self._pieces and isinstance(self._pieces[0], Frame):
            frame = self._pieces.pop(0)
            assert isinstance(frame, Frame)
            self._write(frame.data)

    def write(self, data: bytes) -> None:
        """
        The next object bytes owed.

        @raise ValueError: for more bytes than are owed.
        """
        while data:
            if not self._pieces:
                raise ValueError("more data than the ranges asked for")
            piece = self._pieces[0]
            assert isinstance(piece, Data)
            chunk, data = data[: piece.size], data[piece.size:]
            self._write(chunk)
            if len(chunk) == piece.size:
                self._pieces.pop(0)
                self._flush_frames()
            else:
                self._pieces[0] = Data(piece.first + len(chunk), piece.last)
