# -*- test-case-name: tests.test_multipart,tests.test_formpost -*-
"""
Multipart bodies: C{multipart/byteranges}, for resuming a multi-range GET,
and C{multipart/form-data}, for form posts.

An object server answers a request for several ranges with parts framed as

    --BOUNDARY\\r\\nContent-Type: T\\r\\nContent-Range: bytes A-B/N\\r\\n\\r\\n
    <data>\\r\\n--BOUNDARY\\r\\n...<data>\\r\\n--BOUNDARY--

Given the boundary, the part type, the object size and the ranges, that body
is fully determined: a L{MultipartLayout}. To resume after C{sent} bytes, the
proxy regenerates the framing still owed (with the boundary the client
already has) and fetches only the data still owed; L{PartReader} takes the
data out of a resumed multi-range answer, whose own framing differs.

A browser's form post (C{multipart/form-data}) is taken apart as it arrives
by a L{FormDataParser}, the way Swift's C{iter_multipart_mime_documents}
and C{parse_mime_headers} read it, with L{parse_content_disposition} for
its C{Content-Type} and its parts' C{Content-Disposition}.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.parser import Parser
from typing import Callable, Optional, Union

from twisted_proxy.swift.http import HeaderDict
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
    "FormDataError",
    "MimeInvalid",
    "FormDataParser",
    "parse_content_disposition",
    "MAX_PART_HEADERS",
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


# -- multipart/form-data ------------------------------------------------------

#: The most bytes a form part's headers may take (Swift sets no limit).
MAX_PART_HEADERS = 65536

#: One attribute: a quoted value runs to the first quote that ends it (one
#: followed by C{;} or the end).
_ATTRIBUTE = re.compile(r'(\w+)=(".*?"|[^";]+)(?:; ?|$)')


def parse_content_disposition(value: str) -> tuple[str, dict[str, str]]:
    """
    The value and the attributes of a header such as
    C{form-data; name="file"; filename="a.txt"}, as Swift's
    C{parse_content_disposition} reads them: attributes are read from the
    left while they are well formed, their quotes dropped; the value is
    stripped only when attributes follow it.
    """
    attributes: dict[str, str] = {}
    if ";" not in value:
        return value, attributes
    head, rest = value.split(";", 1)
    head, rest = head.strip(), rest.strip()
    while True:
        match = _ATTRIBUTE.match(rest)
        if match is None:
            break
        rest = rest[match.end():]
        attributes[match.group(1)] = match.group(2).strip('"')
    return head, attributes


class FormDataError(ValueError):
    """
    A C{multipart/form-data} body that cannot be read.
    """


class MimeInvalid(FormDataError):
    """
    The body does not start with its boundary.
    """


_START, _HEADERS, _DATA, _AFTER_DELIMITER, _DONE = range(5)


def _decode_line(line: bytes) -> str:
    # As Swift's parse_mime_headers: each line UTF-8 if it can be, else
    # latin-1.
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def _part_headers(raw: bytes) -> HeaderDict:
    """
    The headers of a part from their bytes (lines ending CRLF), the first
    value of a repeated name kept, as Swift's C{HeaderKeyDict} of an
    C{email} message keeps it.
    """
    lines = [_decode_line(line) for line in raw.split(b"\r\n")]
    text = "\r\n".join(lines) + "\r\n\r\n"
    message = Parser().parsestr(text, headersonly=True)
    headers = HeaderDict()
    for name, value in message.items():
        if name not in headers:
            headers[name] = value
    return headers


class FormDataParser:
    """
    Takes a C{multipart/form-data} body apart as it arrives: the body's
    bytes are given with L{feed} (and its end with L{end}), and its parts
    are taken with L{next_part} and L{read}.

    The body is read as Swift 2.38.3 reads it: it starts, after any empty
    lines, with a line (of at most the boundary's length plus two bytes)
    that is the boundary line once stripped. Each part is its header lines,
    up to an empty line, and its data, up to C{CRLF--boundary}; the two
    bytes after that (C{CRLF}, or C{--} for the last part) are dropped. A
    body that ends without its closing boundary ends its last part there.

    @param boundary: the boundary, from the body's C{Content-Type}.
    """

    def __init__(self, boundary: bytes) -> None:
        self._dash_boundary = b"--" + boundary
        self._delimiter = b"\r\n--" + boundary
        self._buffer = bytearray()
        self._ended = False
        self._state = _START

    def feed(self, data: bytes) -> None:
        """
        The body's next bytes.
        """
        self._buffer += data

    def end(self) -> None:
        """
        The body has no more bytes.
        """
        self._ended = True

    @property
    def buffered(self) -> int:
        """
        Bytes fed and not yet taken.
        """
        return len(self._buffer)

    @property
    def finished(self) -> bool:
        """
        Whether the last part has been read to its end.
        """
        return self._state == _DONE

    def next_part(self) -> Optional[HeaderDict]:
        """
        The headers of the next part (what is left of the current one's
        data is skipped), or C{None} when they have not all arrived yet or
        when there are no more parts (then L{finished} is true).

        @raise MimeInvalid: when the body does not start with the
            boundary.
        @raise FormDataError: when a part's headers are longer than
            L{MAX_PART_HEADERS}.
        """
        if self._state == _START and not self._start():
            return None
        while self._state == _DATA:
            if not self.read(max(len(self._buffer), 1)):
                break
        if self._state == _AFTER_DELIMITER:
            self._after_delimiter()
        if self._state != _HEADERS:
            return None
        return self._headers()

    def read(self, size: int) -> Optional[bytes]:
        """
        Up to C{size} bytes of the current part's data: some bytes when
        some have arrived, C{b""} when none have yet, C{None} once its data
        has ended.
        """
        if self._state != _DATA:
            return None
        buffer = self._buffer
        window = min(len(buffer), size + len(self._delimiter) - 1)
        found = buffer.find(self._delimiter, 0, window)
        if found == 0:
            del buffer[:len(self._delimiter)]
            self._state = _AFTER_DELIMITER
            self._after_delimiter()
            return None
        if found > 0:
            take = found
        elif self._ended:
            take = min(size, len(buffer))
            if take == 0:
                self._state = _DONE
                return None
        else:
            # What may be the start of the delimiter waits for the rest.
            take = min(size, len(buffer) - self._partial_delimiter(len(buffer)))
            if take <= 0:
                return b""
        data = bytes(buffer[:take])
        del buffer[:take]
        return data

    def _partial_delimiter(self, limit: int) -> int:
        """
        How many bytes at the end of the buffer, from a C{CR} before
        C{limit} on, begin the delimiter without holding all of it.
        """
        buffer = self._buffer
        position = buffer.find(b"\r", max(0, len(buffer) - len(self._delimiter) + 1), limit)
        while position >= 0:
            if self._delimiter.startswith(buffer[position:]):
                return len(buffer) - position
            position = buffer.find(b"\r", position + 1, limit)
        return 0

    def _check_headers_size(self, size: int) -> None:
        if size > MAX_PART_HEADERS:
            raise FormDataError("part headers too long")

    def _start(self) -> bool:
        """
        Read the boundary line the body starts with; C{False} until it has
        arrived.
        """
        limit = len(self._dash_boundary) + 2
        while True:
            newline = self._buffer.find(b"\n", 0, limit)
            if newline >= 0:
                size = newline + 1
            elif len(self._buffer) >= limit:
                size = limit
            elif self._ended:
                size = len(self._buffer)
            else:
                return False
            line = bytes(self._buffer[:size])
            del self._buffer[:size]
            if line == b"\r\n":
                continue
            if line.strip() != self._dash_boundary:
                raise MimeInvalid(
                    f"invalid starting boundary: wanted {self._dash_boundary!r}, got {line!r}")
            self._state = _HEADERS
            return True

    def _after_delimiter(self) -> None:
        """
        Drop the two bytes after a delimiter, which end the body when they
        are C{--}.
        """
        if len(self._buffer) < 2 and not self._ended:
            return
        after = bytes(self._buffer[:2])
        del self._buffer[:2]
        if after == b"--" or (self._ended and not self._buffer):
            self._state = _DONE
        else:
            self._state = _HEADERS

    def _headers(self) -> Optional[HeaderDict]:
        """
        The current part's headers, once they have arrived.
        """
        buffer = self._buffer
        delimiter = buffer.find(self._delimiter)
        position = 0
        while True:
            newline = buffer.find(b"\r\n", position)
            if delimiter >= 0 and (newline < 0 or newline >= delimiter):
                # The part ends within its headers: it has no data.
                self._check_headers_size(delimiter)
                raw = bytes(buffer[:delimiter])
                del buffer[:delimiter + len(self._delimiter)]
                self._state = _AFTER_DELIMITER
                return _part_headers(raw)
            if newline < 0 or (delimiter < 0 and not self._ended
                               and self._partial_delimiter(newline + 1) > 0):
                # No whole line yet, or one whose end may start the
                # delimiter.
                self._check_headers_size(len(buffer))
                if self._ended and newline < 0:
                    raw = bytes(buffer)
                    del buffer[:]
                    self._state = _DATA
                    return _part_headers(raw)
                return None
            if newline == position:
                self._check_headers_size(position)
                raw = bytes(buffer[:position])
                del buffer[:position + 2]
                self._state = _DATA
                return _part_headers(raw)
            position = newline + 2
