# -*- test-case-name: tests.test_bulk -*-
"""
The C{bulk} plugin: many deletes, or many uploads from one archive, in one
request, as Swift 2.38.3's C{bulk} middleware.

Bulk delete
===========

C{POST} (or C{DELETE}) of any path under an account with C{?bulk-delete},
whose C{text/plain} body lists URL-quoted C{<container>/<object>} or
C{<container>} names, one a line (at most C{max_deletes_per_request}), asks
for each to be deleted: objects first, then containers, each by a
C{DELETE} sent through the rest of the pipeline as the client (so the auth
plugin judges each one), C{delete_concurrency} at a time. A container
answering C{409} (not yet empty) is retried C{delete_container_retry_count}
times, after 1.5, 2.25, ... seconds. After C{max_failed_deletes} failures
no more are started.

Extract archive
===============

C{PUT /v1/<account>[/<container>[/<prefix>]]?extract-archive=tar} (or
C{tar.gz}, C{tar.bz2}) uploads each regular file of the tar in the body as
C{<container>/<prefix>/<path in the archive>} (without a container in the
URL the first part of each path is the container; files at the top level
are then ignored). A container that does not exist is created (at most
C{max_containers_per_extraction} of them). Each object C{PUT} carries the
request's user metadata and C{X-Delete-At}/C{X-Delete-After}, and the
file's C{user.mime_type} and C{user.meta.*} extended attributes (pax
headers, as GNU and BSD tar write them) as its C{Content-Type} and
metadata. After C{max_failed_extractions} failures the rest of the archive
is ignored. Unlike Swift's, this plugin does not reassemble GNU sparse
files: each is reported as a C{400} failure.

The archive streams: it is decompressed and taken apart as it arrives
from the client, and each file's bytes go straight into its object's
C{PUT}, which pauses the client while the storage nodes are busy. Nothing
is buffered but a few chunks and the headers of one archive member (at
most L{MAX_MEMBER_HEADER} bytes of long names and pax records).

Answers
=======

Both answer C{200} at once and say how the operation went in the body, in
the format C{Accept} asks for among C{text/plain} (the default),
C{application/json}, C{application/xml} and C{text/xml}: C{Response Status}
(that of the first failure's kind, C{400} or C{502}; C{200}/C{201} when
all went well), C{Response Body}, the counts (C{Number Deleted} and
C{Number Not Found}, or C{Number Files Created}) and C{Errors}, the quoted
names that failed with their statuses. Until the body is ready a space (for
XML, first the XML declaration) is sent every C{yield_frequency} seconds to
keep the connection alive; the body then follows a blank line.

The plugin adds C{bulk_delete} (C{max_deletes_per_request},
C{max_failed_deletes}) and C{bulk_upload} (C{max_containers_per_extraction},
C{max_failed_extractions}) to C{/info}.
"""

from __future__ import annotations

import bz2
import io
import json
import zlib
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional
from urllib.parse import unquote_to_bytes
from xml.sax.saxutils import escape

from twisted.internet.defer import CancelledError, Deferred, DeferredList, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.plugin import IPlugin
from twisted.python.failure import Failure
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from twisted_proxy.config import int_option
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.cache import INFO_ENVIRON_KEY
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.bodystream import BodyStream
from twisted_proxy.plugins._support.heartbeat import Heartbeat
from twisted_proxy.plugins._support.segments import sleep
from twisted_proxy.plugins._support.subrequest import PulledBody, consume_body, drop_body
from twisted_proxy.swift.constraints import check_utf8, is_user_meta
from twisted_proxy.swift.http import (
    ClientGone,
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    status_reason,
    str_to_wsgi,
    wire_quote,
)
from twisted_proxy.swift.listing import best_accept_match
from twisted_proxy.swift.paths import split_path
from twisted_proxy.swift.transid import TRANS_ID_ENVIRON_KEY

if TYPE_CHECKING:
    # Imported where an archive is read: only extract-archive requests need
    # it, and bulk is in Swift's stock pipeline (see _header_errors).
    import tarfile

__all__ = ["Bulk", "bulkPlugin", "result_body", "MAX_MEMBER_HEADER"]

_log = Logger()

_ACCEPTABLE_FORMATS = ("text/plain", "application/json", "application/xml", "text/xml")

_ARCHIVE_TYPES = {"tar": "", "tar.gz": "gz", "tar.bz2": "bz2"}

#: The most bytes of long-name and pax header blocks one archive member may
#: carry before its own header.
MAX_MEMBER_HEADER = 1024 * 1024

#: Bytes of the archive held (undecompressed) before the client is paused.
_RAW_HIGH_WATER = 1024 * 1024

#: Bytes handed to an object upload at a time.
_CHUNK = 65536

#: The headers a sub-request takes from the client's request, besides its
#: token: those Swift's sub-requests inherit through the WSGI environ.
_INHERITED = ("Host", "Referer", "Origin", "Access-Control-Request-Method",
              "X-User-Id", "X-Project-Id")


class _BulkError(Exception):
    """
    Ends a bulk operation early with C{status} and C{body} as its outcome.
    """

    def __init__(self, status: int, body: str = "") -> None:
        super().__init__(body or status_reason(status))
        self.status = status
        self.body = body


class _TarError(Exception):
    """
    The archive cannot be read.
    """


def _status_line(status: int, reason: Optional[str] = None) -> str:
    return f"{status} {reason or status_reason(status)}"


def result_body(out_type: Optional[str], summary: dict[str, Any],
                errors: list[list[str]], root: str) -> bytes:
    """
    The last part of a bulk answer, as Swift writes it: JSON (with the
    errors as C{Errors}), XML under a C{root} element (without the XML
    declaration, which a heartbeat may have sent), or lines of
    C{key: value} and then the errors.
    """
    if out_type == "application/json":
        summary = dict(summary)
        summary["Errors"] = errors
        return json.dumps(summary).encode("ascii")
    if out_type and out_type.endswith("/xml"):
        parts = [f"<{root}>\n"]
        for key in sorted(summary):
            tag = key.replace(" ", "_").lower()
            parts.append(f"<{tag}>{escape(str(summary[key]))}</{tag}>\n")
        parts.append("<errors>\n")
        for name, status in errors:
            parts.append(f"<object><name>{escape(name)}</name>"
                         f"<status>{escape(status)}</status></object>\n")
        parts.append(f"</errors>\n</{root}>\n")
        return "".join(parts).encode("utf-8")
    lines = [f"{key}: {summary[key]}\n" for key in sorted(summary)]
    lines.append("Errors:\n")
    lines.extend(f"{name}, {status}\n" for name, status in errors)
    return "".join(lines).encode("utf-8")


# -- bodies -------------------------------------------------------------


class _NameList:
    """
    Splits a bulk delete body into names as it arrives: each line stripped
    and percent-decoded into a WSGI string.

    @raise _BulkError: from L{feed}: C{413} past C{max_names} lines, C{400}
        for a line longer than twice C{max_path}.
    """

    def __init__(self, max_names: int, max_path: int) -> None:
        self.names: list[str] = []
        self._max_names = max_names
        self._max_line = max_path * 2
        self._line = b""

    def feed(self, data: bytes) -> None:
        *lines, self._line = (self._line + data).split(b"\n")
        for line in lines:
            self._add(line)
        if len(self._line) > self._max_line:
            raise _BulkError(400, "Invalid File Name")

    def finish(self) -> list[str]:
        line, self._line = self._line, b""
        if line.strip():
            self._add(line)
        return self.names

    def _add(self, line: bytes) -> None:
        if len(line) > self._max_line:
            raise _BulkError(400, "Invalid File Name")
        self.names.append(unquote_to_bytes(line.strip()).decode("latin-1"))
        if len(self.names) > self._max_names:
            raise _BulkError(
                413, f"Maximum Bulk Deletes: {self._max_names} per request")


# -- archives -----------------------------------------------------------


class _Inflater:
    """
    Decompresses an archive piecemeal (gzip, bzip2, or nothing), never
    producing more than asked for at once.
    """

    def __init__(self, compression: str) -> None:
        self._kind = compression
        self._tail = b""
        # zlib may hold output back when the last call filled its limit.
        self._full = False
        self._gzip = zlib.decompressobj(16 + zlib.MAX_WBITS) if compression == "gz" else None
        self._bzip2 = bz2.BZ2Decompressor() if compression == "bz2" else None

    @property
    def pending(self) -> bool:
        """
        Whether more output is to be had without more input.
        """
        if self._gzip is not None:
            return (bool(self._tail) or self._full) and not self._gzip.eof
        if self._bzip2 is not None:
            return not self._bzip2.eof and (
                not self._bzip2.needs_input or bool(self._tail))
        return False

    def inflate(self, data: bytes, limit: int) -> bytes:
        """
        Decompress C{data} (with what earlier calls left over), returning
        at most about C{limit} bytes.

        @raise _TarError: for data that is not in the expected format.
        """
        try:
            if self._gzip is not None:
                if self._gzip.eof:
                    return b""
                out = self._gzip.decompress(self._tail + data, limit)
                self._tail = self._gzip.unconsumed_tail
                self._full = len(out) >= limit
                return out
            if self._bzip2 is not None:
                self._tail += data
                if self._bzip2.eof:
                    self._tail = b""
                    return b""
                if self._bzip2.needs_input:
                    feed, self._tail = self._tail, b""
                    return self._bzip2.decompress(feed, limit)
                return self._bzip2.decompress(b"", limit)
        except zlib.error as error:
            if "incorrect header check" in str(error):
                raise _TarError("not a gzip file") from None
            raise _TarError("invalid compressed data") from None
        except (OSError, EOFError, ValueError):
            raise _TarError("invalid compressed data") from None
        return data


class _ArchiveStream:
    """
    The archive's bytes, decompressed, as the reader asks for them. The
    request body is read into a bounded buffer (a L{BodyStream}): past
    C{_RAW_HIGH_WATER} bytes waiting, the client is paused.
    """

    def __init__(self, body: Optional[IBodyProducer], compression: str) -> None:
        self._raw = BodyStream(body, _RAW_HIGH_WATER)
        self._inflater = _Inflater(compression)
        self._plain = b""

    @property
    def exhausted(self) -> bool:
        """
        Whether the archive has ended and every byte of it has been taken
        (an archive cut short by the client's going away never is: L{wait}
        then fails).
        """
        return self._raw.exhausted and not self._plain and not self._inflater.pending

    def take(self, n: int) -> bytes:
        """
        Up to C{n} bytes available now; C{b""} when none are yet.

        @raise _TarError: when the archive cannot be decompressed.
        """
        while not self._plain:
            if self._inflater.pending:
                self._plain = self._inflater.inflate(b"", max(n, _CHUNK))
                continue
            chunk = self._raw.take()
            if chunk is None:
                break
            self._plain = self._inflater.inflate(chunk, max(n, _CHUNK))
        data, self._plain = self._plain[:n], self._plain[n:]
        return data

    def wait(self) -> "Deferred[None]":
        """
        Fires when more of the archive has arrived or it has ended; fails
        when the request body failed (the client went away).
        """
        return self._raw.wait()

    def close(self) -> None:
        """
        Read no more: the rest of the request body is dropped.
        """
        self._plain = b""
        self._raw.close()


class _HeaderSource:
    """
    What L{tarfile.TarInfo.fromtarfile} reads a member's headers from: the
    header blocks, already gathered, and the archive's global pax headers.
    """

    encoding = "utf-8"
    errors = "surrogateescape"

    def __init__(self, blocks: bytes, pax_headers: dict[str, str]) -> None:
        self.fileobj = io.BytesIO(blocks)
        self.pax_headers = pax_headers
        self.offset = 0


def _header_errors() -> tuple[type[Exception], type[Exception], tuple[type[Exception], ...]]:
    """
    tarfile's header errors, which C{TarFile.next} tells apart to decide
    between "not an archive" and "end of archive" (they are missing from
    typeshed): the end of the archive, an empty file, a bad header.

    L{tarfile} is imported here, when an archive is read, not with this
    module: every proxy with Swift's stock pipeline has bulk, and few of
    them ever extract an archive.
    """
    import tarfile

    return (getattr(tarfile, "EOFHeaderError"), getattr(tarfile, "EmptyHeaderError"),
            (getattr(tarfile, "InvalidHeaderError"), getattr(tarfile, "TruncatedHeaderError")))


def _blocks(size: int) -> int:
    import tarfile

    return -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


class _TarReader:
    """
    Takes a tar archive apart as it streams: each member's headers are
    gathered and parsed with L{tarfile}; its data is left for the caller to
    take (L{take}, L{wait}) and whatever it leaves is skipped by the next
    L{next}.
    """

    def __init__(self, stream: _ArchiveStream) -> None:
        self._stream = stream
        self._pax_headers: dict[str, str] = {}
        self._offset = 0
        self._member_left = 0

    def take(self, n: int) -> bytes:
        """
        Up to C{n} bytes of the current member's data available now.
        """
        data = self._stream.take(min(n, self._member_left))
        self._member_left -= len(data)
        self._offset += len(data)
        return data

    def wait(self) -> "Deferred[None]":
        return self._stream.wait()

    @property
    def exhausted(self) -> bool:
        return self._stream.exhausted

    async def _read(self, n: int) -> bytes:
        """
        C{n} bytes, or fewer only where the archive ends.
        """
        pieces = []
        wanted = n
        while wanted:
            data = self._stream.take(wanted)
            if data:
                pieces.append(data)
                wanted -= len(data)
                continue
            if self._stream.exhausted:
                break
            await self._stream.wait()
        data = b"".join(pieces)
        self._offset += len(data)
        return data

    async def _skip(self, n: int) -> None:
        while n:
            data = self._stream.take(min(n, _CHUNK))
            if data:
                n -= len(data)
                self._offset += len(data)
                continue
            if self._stream.exhausted:
                raise _TarError("unexpected end of data")
            await self._stream.wait()

    async def _header_blocks(self) -> bytes:
        """
        The blocks of the next member's headers: its long-name and pax
        extension headers with their data, and its own header.
        """
        import tarfile

        extension_types = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK,
                           tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
        gathered = b""
        while True:
            block = await self._read(tarfile.BLOCKSIZE)
            gathered += block
            if len(block) < tarfile.BLOCKSIZE:
                return gathered
            try:
                info = tarfile.TarInfo.frombuf(
                    block, _HeaderSource.encoding, _HeaderSource.errors)
            except tarfile.HeaderError:
                return gathered
            if info.type in extension_types:
                size = _blocks(info.size)
                if len(gathered) + size > MAX_MEMBER_HEADER:
                    raise _TarError("member header too large")
                gathered += await self._read(size)
                continue
            if info.type == tarfile.GNUTYPE_SPARSE:
                extended = bool(block[482])
                while extended:
                    more = await self._read(tarfile.BLOCKSIZE)
                    gathered += more
                    if len(more) < tarfile.BLOCKSIZE:
                        break
                    if len(gathered) > MAX_MEMBER_HEADER:
                        raise _TarError("member header too large")
                    extended = bool(more[504])
            return gathered

    async def next(self) -> Optional[tarfile.TarInfo]:
        """
        The next member, or C{None} at the end of the archive.

        @raise _TarError: when the archive is not a tar archive, or ends
            within a member.
        """
        import tarfile

        eof_header, empty_header, bad_header = _header_errors()
        await self._skip(self._member_left)
        self._member_left = 0
        start = self._offset
        blocks = await self._header_blocks()
        source = _HeaderSource(blocks, self._pax_headers)
        try:
            info = tarfile.TarInfo.fromtarfile(source)  # type: ignore[arg-type]
        except eof_header:
            return None
        except bad_header as error:
            if start == 0:
                raise _TarError(str(error)) from None
            return None
        except empty_header:
            if start == 0:
                raise _TarError("empty file") from None
            return None
        except (tarfile.TarError, ValueError, IndexError) as error:
            raise _TarError(str(error) or "invalid header") from None
        # What the member's headers say follows them: its data, padded.
        self._member_left = max(0, source.offset - len(blocks))
        return info


def _member_body(reader: _TarReader, size: int) -> PulledBody:
    """
    The body of one extracted object's upload: the member's data, taken
    from the archive as the upload can send it.
    """
    left = size

    def pull() -> Optional[bytes]:
        nonlocal left
        if not left:
            return None
        data = reader.take(min(left, _CHUNK))
        if not data and reader.exhausted:
            raise _TarError("unexpected end of data")
        left -= len(data)
        return data

    return PulledBody(pull, reader.wait, size)


def _pax_header(key: str) -> Optional[str]:
    """
    The object header a pax header of an archive member becomes: its
    C{user.mime_type} extended attribute the C{Content-Type}, its
    C{user.meta.*} attributes metadata; C{None} for anything else.
    """
    for tool in ("SCHILY.xattr.user.", "LIBARCHIVE.xattr.user."):
        if not key.startswith(tool):
            continue
        attribute = key[len(tool):]
        if attribute == "mime_type":
            return "Content-Type"
        if attribute.startswith("meta."):
            return "X-Object-Meta-" + attribute[len("meta."):]
    return None


def _split_account_path(path: str) -> tuple[str, str, str]:
    """
    C{(version, account, rest)} of a path under an account.

    @raise _BulkError: C{404} for any other path.
    """
    try:
        version, account, rest = split_path(path, 2, 3, True)
    except ValueError:
        raise _BulkError(404) from None
    assert version is not None and account is not None
    return version, account, rest or ""


class _ContainerError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.status_line = _status_line(status, reason)


# -- the plugin ---------------------------------------------------------


@implementer(IProxyFilter)
class Bulk:
    """
    Answers C{?bulk-delete} and C{?extract-archive} requests.

    @param clock: for heartbeats and retry delays.
    @param max_path_length: the longest C{<container>/<object>} name, in
        bytes (from the constraints).
    @param max_file_size: the largest object an archive member may become.
    """

    def __init__(self, clock: IReactorTime, max_path_length: int,
                 max_file_size: int, max_containers_per_extraction: int = 10000,
                 max_failed_extractions: int = 1000,
                 max_deletes_per_request: int = 10000,
                 max_failed_deletes: int = 1000, yield_frequency: float = 10,
                 delete_concurrency: int = 2, retry_count: int = 0,
                 retry_interval: float = 1.5) -> None:
        self._clock = clock
        self.max_path_length = max_path_length
        self.max_file_size = max_file_size
        self.max_containers = max_containers_per_extraction
        self.max_failed_extractions = max_failed_extractions
        self.max_deletes_per_request = max_deletes_per_request
        self.max_failed_deletes = max_failed_deletes
        self.yield_frequency = yield_frequency
        self.delete_concurrency = min(1000, max(1, delete_concurrency))
        self.retry_count = retry_count
        self.retry_interval = retry_interval

    def __call__(
        self, request: SwiftRequest, app: IProxyApplication
    ) -> "Deferred[SwiftResponse]":
        method = request.method
        extract = request.params.get("extract-archive")
        answer: Optional[SwiftResponse] = None
        if extract is not None and method == "PUT":
            compression = _ARCHIVE_TYPES.get(extract.lower().strip("."))
            if compression is None:
                answer = error_response(400, "Unsupported archive format",
                                        headers={"Content-Type": "text/html; charset=UTF-8"})
            else:
                answer = self._answer(request, lambda out_type: self._extract(
                    request, app, compression, out_type))
        if "bulk-delete" in request.params and method in ("POST", "DELETE"):
            answer = self._answer(request, lambda out_type: self._delete(
                request, app, out_type))
        if answer is None:
            return app(request)  # type: ignore[no-any-return]
        return succeed(answer)

    def _answer(self, request: SwiftRequest,
                work: Callable[[Optional[str]], Any]) -> SwiftResponse:
        """
        The C{200} whose body runs C{work(out_type)} (a coroutine making the
        summary) with heartbeats.
        """
        try:
            out_type = best_accept_match(request.headers.get("Accept"), _ACCEPTABLE_FORMATS)
        except ValueError:
            out_type = None
        headers = HeaderDict({"Content-Type": out_type or "text/html; charset=UTF-8"})
        # The application never sees this request, so the answer carries
        # the transaction id the pipeline gave it here.
        trans_id = request.environ.get(TRANS_ID_ENVIRON_KEY)
        if trans_id is not None:
            headers["X-Trans-Id"] = headers["X-Openstack-Request-Id"] = trans_id
        # The work starts when the body is wanted; the first beat of an XML
        # answer is the XML declaration.
        xml = bool(out_type and out_type.endswith("/xml"))
        body = Heartbeat(
            self._clock, self.yield_frequency,
            lambda: Deferred.fromCoroutine(work(out_type)), opening=b"",
            first_beat=b'<?xml version="1.0" encoding="UTF-8"?>\n' if xml else b" ",
            separator=b"\r\n\r\n")
        return SwiftResponse(200, headers, body)

    # -- sub-requests ---------------------------------------------------

    def _subrequest(self, request: SwiftRequest, method: str, path: str,
                    source: str, agent: str,
                    headers: Optional[dict[str, str]] = None,
                    body: Optional[IBodyProducer] = None) -> SwiftRequest:
        """
        A request for C{path} (a WSGI string) made as the client: its token,
        the headers Swift's sub-requests inherit, and a copy of its environ.
        """
        sub_headers = HeaderDict()
        token = request.headers.get("X-Auth-Token")
        if token is not None:
            sub_headers["X-Auth-Token"] = token
        for name in _INHERITED:
            value = request.headers.get(name)
            if value is not None:
                sub_headers[name] = value
        sub_headers["User-Agent"] = (
            request.headers.get("User-Agent", "") + " " + agent).strip()
        for name, value in (headers or {}).items():
            sub_headers[name] = value
        request.environ.setdefault(INFO_ENVIRON_KEY, {})
        environ = dict(request.environ)
        environ.pop("swift_owner", None)
        environ["swift.source"] = source
        return SwiftRequest(method, wire_quote(path).encode("ascii"), sub_headers,
                            body, request.client_ip, environ)

    # -- bulk delete ----------------------------------------------------

    async def _delete(self, request: SwiftRequest, app: IProxyApplication,
                      out_type: Optional[str]) -> bytes:
        summary: dict[str, Any] = {
            "Response Status": _status_line(200),
            "Response Body": "",
            "Number Deleted": 0,
            "Number Not Found": 0,
        }
        failed: list[list[str]] = []
        try:
            if not out_type:
                raise _BulkError(406)
            version, account, _ = _split_account_path(request.path)
            incoming = request.headers.get("Content-Type")
            if incoming and not incoming.startswith("text/plain"):
                raise _BulkError(406)
            names = await self._names_to_delete(request)
            failure_status = [400]
            await self._delete_all(request, app, version, account, names,
                                   summary, failed, failure_status)
            if failed:
                summary["Response Status"] = _status_line(failure_status[0])
            elif not (summary["Number Deleted"] or summary["Number Not Found"]):
                summary["Response Status"] = _status_line(400)
                summary["Response Body"] = "Invalid bulk delete."
        except _BulkError as error:
            summary["Response Status"] = _status_line(error.status)
            summary["Response Body"] = error.body
        except CancelledError:
            raise
        except Exception:
            _log.failure("Error in bulk delete.")
            summary["Response Status"] = _status_line(500)
        return result_body(out_type, summary, failed, "delete")

    async def _names_to_delete(self, request: SwiftRequest) -> list[str]:
        if request.content_length is None and (
                request.headers.get("Transfer-Encoding", "").lower() != "chunked"):
            raise _BulkError(411)
        names = _NameList(self.max_deletes_per_request, self.max_path_length)
        await consume_body(request.body, names.feed)
        return names.finish()

    async def _delete_all(self, request: SwiftRequest, app: IProxyApplication,
                          version: str, account: str, names: list[str],
                          summary: dict[str, Any], failed: list[list[str]],
                          failure_status: list[int]) -> None:
        """
        Delete the objects, then the containers, C{delete_concurrency} at a
        time, counting the outcomes into C{summary} and C{failed}.

        @raise _BulkError: C{400} once C{max_failed_deletes} have failed
            (after the deletes already started have finished).
        """
        aborted = [False]

        def targets(objects: bool) -> Iterator[tuple[str, str]]:
            for name in names:
                if not name or ("/" in name.strip("/")) != objects:
                    continue
                path = f"/{version}/{account}/{name.lstrip('/')}"
                if not check_utf8(path):
                    failed.append([wire_quote(name), _status_line(412)])
                    continue
                yield name, path

        def record(name: str, response: SwiftResponse) -> None:
            status = response.status
            if 200 <= status < 300:
                summary["Number Deleted"] += 1
            elif status == 404:
                summary["Number Not Found"] += 1
            elif status == 401:
                failed.append([wire_quote(name), _status_line(401)])
            else:
                if status >= 500:
                    failure_status[0] = 502
                failed.append([wire_quote(name), _status_line(status, response.reason)])
            if len(failed) >= self.max_failed_deletes:
                aborted[0] = True

        async def worker(work: Iterator[tuple[str, str]]) -> None:
            for name, path in work:
                if aborted[0]:
                    return
                retry = 0
                while True:
                    response = await self._delete_one(request, app, path)
                    if (response.status == 409 and not aborted[0]
                            and self.retry_count > retry):
                        retry += 1
                        await sleep(self._clock, self.retry_interval ** retry)
                        continue
                    break
                record(name, response)

        for objects in (True, False):
            if aborted[0]:
                break
            work = targets(objects)
            results = await DeferredList(
                [Deferred.fromCoroutine(worker(work))
                 for _ in range(self.delete_concurrency)],
                consumeErrors=True)
            for ok, value in results:
                if not ok:
                    failure: Failure = value  # type: ignore[assignment]
                    failure.raiseException()
        if aborted[0]:
            raise _BulkError(400, "Max delete failures exceeded")

    async def _delete_one(self, request: SwiftRequest, app: IProxyApplication,
                          path: str) -> SwiftResponse:
        sub = self._subrequest(request, "DELETE", path, "BD", "BulkDelete",
                               {"Content-Length": "0"})
        response: SwiftResponse = await app(sub)
        drop_body(response.body)
        return response

    # -- extract archive ------------------------------------------------

    async def _extract(self, request: SwiftRequest, app: IProxyApplication,
                       compression: str, out_type: Optional[str]) -> bytes:
        summary: dict[str, Any] = {
            "Response Status": _status_line(201),
            "Response Body": "",
            "Number Files Created": 0,
        }
        failed: list[list[str]] = []
        stream: Optional[_ArchiveStream] = None
        try:
            if not out_type:
                raise _BulkError(406)
            if request.content_length is None and (
                    request.headers.get("Transfer-Encoding", "").lower() != "chunked"):
                raise _BulkError(411)
            version, account, base = _split_account_path(request.path)
            base = base.rstrip("/")
            stream = _ArchiveStream(request.body, compression)
            reader = _TarReader(stream)
            failure_status = 400
            created_containers = 0
            seen_containers: set[str] = set()
            while True:
                member = await reader.next()
                if member is None or len(failed) >= self.max_failed_extractions:
                    break
                if not member.isfile():
                    continue
                obj_path = str_to_wsgi(member.name)
                if obj_path.startswith("./"):
                    obj_path = obj_path[2:]
                obj_path = obj_path.lstrip("/")
                if base:
                    obj_path = base + "/" + obj_path
                if "/" not in obj_path:
                    continue
                quoted = wire_quote(obj_path[:self.max_path_length])
                destination = f"/{version}/{account}/{obj_path}"
                container = obj_path.split("/", 1)[0]
                if not check_utf8(destination):
                    failed.append([quoted, _status_line(412)])
                    continue
                if member.size > self.max_file_size:
                    failed.append([quoted, _status_line(413)])
                    continue
                if member.issparse():
                    # Its data on the archive is not its content.
                    failed.append([quoted, _status_line(400)])
                    continue
                container_failure: Optional[list[str]] = None
                if container not in seen_containers:
                    container_path = f"/{version}/{account}/{container}"
                    try:
                        if await self._create_container(request, app, container_path):
                            created_containers += 1
                            if created_containers > self.max_containers:
                                raise _BulkError(
                                    400, f"More than {self.max_containers} "
                                    "containers to create from tar.")
                    except _ContainerError as error:
                        # The upload may still be allowed by an ACL.
                        container_failure = [
                            wire_quote(container_path[:self.max_path_length]),
                            error.status_line]
                        if error.status == 401:
                            raise _BulkError(401) from None
                response = await self._put_member(request, app, reader, member,
                                                  destination)
                seen_containers.add(container)
                if response.is_success:
                    summary["Number Files Created"] += 1
                    continue
                if container_failure is not None:
                    failed.append(container_failure)
                if response.status == 401:
                    failed.append([quoted, _status_line(401)])
                    raise _BulkError(401)
                if response.status >= 500:
                    failure_status = 502
                failed.append([quoted, _status_line(response.status, response.reason)])
            if failed:
                summary["Response Status"] = _status_line(failure_status)
            elif not summary["Number Files Created"]:
                summary["Response Status"] = _status_line(400)
                summary["Response Body"] = "Invalid Tar File: No Valid Files"
        except _BulkError as error:
            summary["Response Status"] = _status_line(error.status)
            summary["Response Body"] = error.body
        except _TarError as error:
            summary["Response Status"] = _status_line(400)
            summary["Response Body"] = f"Invalid Tar File: {error}"
        except ClientGone:
            summary["Response Status"] = _status_line(499)
        except CancelledError:
            raise
        except Exception:
            _log.failure("Error in extract archive.")
            summary["Response Status"] = _status_line(500)
        finally:
            if stream is not None:
                stream.close()
        return result_body(out_type, summary, failed, "extract")

    async def _create_container(self, request: SwiftRequest, app: IProxyApplication,
                                path: str) -> bool:
        """
        Make sure the container at C{path} exists.

        @return: whether it had to be created.
        @raise _ContainerError: when it does not exist and cannot be made.
        """
        head: SwiftResponse = await app(
            self._subrequest(request, "HEAD", path, "EA", "BulkExpand"))
        drop_body(head.body)
        if head.is_success:
            return False
        failure = head
        if head.status == 404:
            put: SwiftResponse = await app(self._subrequest(
                request, "PUT", path, "EA", "BulkExpand", {"Content-Length": "0"}))
            drop_body(put.body)
            if put.is_success:
                return True
            failure = put
        raise _ContainerError(failure.status, failure.reason)

    async def _put_member(self, request: SwiftRequest, app: IProxyApplication,
                          reader: _TarReader, member: tarfile.TarInfo,
                          destination: str) -> SwiftResponse:
        """
        Upload one archive member as the object at C{destination}.
        """
        headers = {"Content-Length": str(member.size)}
        for name, value in request.headers.items():
            if (name.lower() in ("x-delete-at", "x-delete-after")
                    or is_user_meta("object", name)):
                headers[name] = value
        for key, value in member.pax_headers.items():
            header = _pax_header(key)
            if header is not None:
                headers[str_to_wsgi(header)] = str_to_wsgi(value)
        body = _member_body(reader, member.size) if member.size else None
        put = self._subrequest(request, "PUT", destination, "EA", "BulkExpand",
                               headers, body)
        try:
            response: SwiftResponse = await app(put)
        finally:
            if body is not None:
                body.stopProducing()
        drop_body(response.body)
        return response


@implementer(IPlugin, IProxyPluginFactory)
class _BulkFactory:
    name = "bulk"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> Bulk:
        """
        @param conf: C{max_containers_per_extraction} (10000),
            C{max_failed_extractions} (1000), C{max_deletes_per_request}
            (10000), C{max_failed_deletes} (1000), C{yield_frequency}
            (seconds, 10), C{delete_concurrency} (2, at most 1000),
            C{delete_container_retry_count} (0).
        @param context: provides C{reactor}, C{constraints} and
            C{register_info}.
        @raise ConfigError: for an option that is not a suitable integer.
        """
        limits = {
            name: int_option(conf, "bulk", name, default)
            for name, default in (
                ("max_containers_per_extraction", 10000),
                ("max_failed_extractions", 1000),
                ("max_deletes_per_request", 10000),
                ("max_failed_deletes", 1000),
            )
        }
        yield_frequency = int_option(conf, "bulk", "yield_frequency", 10, minimum=1)
        concurrency = int_option(conf, "bulk", "delete_concurrency", 2)
        retry_count = int_option(conf, "bulk", "delete_container_retry_count", 0)
        context.register_info(
            "bulk_upload",
            max_containers_per_extraction=limits["max_containers_per_extraction"],
            max_failed_extractions=limits["max_failed_extractions"])
        context.register_info(
            "bulk_delete",
            max_deletes_per_request=limits["max_deletes_per_request"],
            max_failed_deletes=limits["max_failed_deletes"])
        constraints = context.constraints
        return Bulk(
            context.reactor,
            constraints.max_object_name_length
            + constraints.max_container_name_length + 2,
            constraints.max_file_size,
            yield_frequency=yield_frequency,
            delete_concurrency=concurrency,
            retry_count=retry_count,
            **limits,
        )


bulkPlugin = _BulkFactory()
