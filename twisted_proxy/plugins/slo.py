# -*- test-case-name: tests.test_slo -*-
"""
The C{slo} plugin: static large objects, as Swift 2.38.3's C{slo}
middleware.

 - C{PUT ?multipart-manifest=put} takes a JSON list of segments (C{path}
   with optional C{etag}, C{size_bytes} and C{range}, or inline C{data}),
   checks each object segment with a C{HEAD} made as the client (through
   this plugin, so a nested manifest counts for its whole content), and
   stores the manifest: Swift's JSON listing, C{X-Static-Large-Object:
   True}, and the large object's etag and size as object sysmeta
   (C{X-Object-Sysmeta-Slo-Etag}, C{X-Object-Sysmeta-Slo-Size}). Problems
   are a C{400} listing each segment and what is wrong with it.
 - C{GET} and C{HEAD} of a manifest answer for the concatenation of its
   segments: C{Etag} is the quoted large-object etag, C{Content-Length}
   its size, C{X-Manifest-Etag} the manifest's own etag. Conditional
   requests are judged by the object servers against the large-object
   etag (C{X-Backend-Etag-Is-At}); a single C{Range} is served across
   segment boundaries. Segments (and the segments of nested manifests,
   fetched as they are reached) are read one after another with
   sub-requests made as the client, each body relayed as it arrives.
 - C{?multipart-manifest=get} returns the stored manifest
   (C{&format=raw}: in the form a C{PUT} takes).
 - C{DELETE ?multipart-manifest=delete} deletes every segment (nested
   manifests included), then the manifest, and answers as a bulk delete.
   With C{&async=true} (and C{allow_async_delete}, on by default) the
   manifest is deleted at once and its segments are queued for Swift's
   object expirer, which deletes them later: the segments must all be in
   one container (C{400} otherwise) and none may be a manifest itself
   (C{400}); the client must be allowed to write to the manifest's
   container and to the segments'. The queue rows go to the task
   container of the manifest's deletion time with a private C{UPDATE}
   (C{503} if it fails, and nothing is deleted). Until the expirer runs,
   the segments stay listed and counted.
 - A container's JSON listing shows a manifest's large-object etag as
   C{slo_etag}.

C{/info} gains an C{slo} section with Swift's keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import mimetypes
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any, AsyncIterator, Optional, Union
from urllib.parse import quote

from twisted.internet.defer import CancelledError, Deferred, DeferredList, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.plugin import IPlugin
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_proxy.config import int_option
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.cache import InfoCache
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.heartbeat import Heartbeat
from twisted_proxy.plugins._support.segments import (
    Segment,
    SegmentedBody,
    SegmentError,
    SegmentLimits,
    sleep,
)
from twisted_proxy.plugins._support.subrequest import (
    drop_body,
    fetch_container_info,
    object_path,
    preauthorized,
    read_body,
    sub_environ,
)
from twisted_proxy.plugins.bulk import result_body
from twisted_proxy.swift.constraints import check_path_utf8, ensure_x_timestamp, strip_sys_meta
from twisted_proxy.swift.etags import normalize_etag
from twisted_proxy.swift.expirer import ExpirerQueue, async_delete_rows
from twisted_proxy.swift.http import (
    HTML,
    BytesBody,
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    status_reason,
    str_to_wsgi,
    wire_quote,
    wsgi_to_str,
)
from twisted_proxy.swift.listing import best_accept_match
from twisted_proxy.swift.paths import split_path
from twisted_proxy.swift.ranges import parse_range_header, resolve
from twisted_proxy.swift.timestamp import Timestamp
from twisted_proxy.swift.truthy import is_true

__all__ = ["StaticLargeObject", "sloPlugin"]

_log = Logger()

_SLO = "X-Static-Large-Object"
_SLO_ETAG = "X-Object-Sysmeta-Slo-Etag"
_SLO_SIZE = "X-Object-Sysmeta-Slo-Size"
_ETAG_IS_AT = "X-Backend-Etag-Is-At"
_IGNORE_RANGE = "X-Backend-Ignore-Range-If-Metadata-Present"
_OVERRIDE_ETAG = "X-Object-Sysmeta-Container-Update-Override-Etag"
_RESERVED = ("X-Static-Large-Object is a reserved header. To create a static "
             "large object add query param multipart-manifest=put.")

_FORMATS = ("text/plain", "application/json", "application/xml", "text/xml")

#: The headers a sub-request takes from the client's request, besides its
#: token: those Swift's sub-requests inherit through the WSGI environ.
_INHERITED = ("Host", "Referer", "Origin", "Access-Control-Request-Method",
              "X-User-Id", "X-Project-Id")

#: Nested manifests deeper than this are refused while reading.
_MAX_DEPTH = 10

#: A JSON container listing longer than this is passed on untouched.
_MAX_LISTING = 8 * 1024 * 1024


class _ManifestError(Exception):
    """
    A (nested) manifest cannot be read.
    """


def _append_header(request: SwiftRequest, name: str, value: str) -> None:
    old = request.headers.get(name)
    request.headers[name] = f"{old},{value}" if old else value


def _clean_content_type(value: str) -> str:
    """
    A Content-Type without the C{swift_bytes} parameter a manifest stores.
    """
    base, sep, params = value.partition(";")
    if not sep:
        return value
    kept = [p for p in params.split(";") if not p.strip().startswith("swift_bytes=")]
    return ";".join([base] + kept)


def _large_object_etag(entries: list[dict[str, Any]]) -> str:
    """
    Swift's etag of a large object: the MD5 of its segments' etags (an
    inline segment's MD5; a ranged segment's C{etag:range;}).
    """
    digest = hashlib.md5(usedforsecurity=False)
    for entry in entries:
        if "data" in entry:
            part = hashlib.md5(base64.b64decode(entry["data"]),
                               usedforsecurity=False).hexdigest()
        elif "raw_data" in entry:
            part = hashlib.md5(entry["raw_data"], usedforsecurity=False).hexdigest()
        elif entry.get("range"):
            part = f"{entry['hash']}:{entry['range']};"
        else:
            part = entry["hash"]
        digest.update(part.encode("ascii"))
    return digest.hexdigest()


def _annotate(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """
    A stored manifest's segments, each with its C{segment_length} (and
    inline data decoded as C{raw_data}).
    """
    for entry in entries:
        if "data" in entry:
            entry["raw_data"] = base64.b64decode(entry.pop("data"))
            entry["segment_length"] = len(entry["raw_data"])
            continue
        if is_true(entry.get("sub_slo")):
            # A nested manifest's listed size is its own; its content type
            # carries the size of what it stands for.
            for param in str(entry.get("content_type", "")).split(";")[1:]:
                key, _, value = param.strip().partition("=")
                if key == "swift_bytes" and value.isdigit():
                    entry["bytes"] = int(value)
        rng = entry.get("range")
        if rng:
            first, last = (int(x) for x in rng.split("-"))
            entry["segment_length"] = last - first + 1
        else:
            entry["segment_length"] = int(entry["bytes"])
    return entries


def _parse_manifest(body: bytes, path: str) -> Union[list[dict[str, Any]], SwiftResponse]:
    """
    The segments of a manifest C{PUT}, checked as Swift checks them, or the
    C{400} listing what is wrong.
    """
    try:
        parsed = json.loads(body)
    except ValueError:
        return error_response(400, "Manifest must be valid JSON.\n", content_type=HTML)
    if not isinstance(parsed, list):
        return error_response(400, "Manifest must be a list.\n", content_type=HTML)
    version, account = _version_and_account(path)
    errors = []
    last_index = len(parsed) - 1
    for index, entry in enumerate(parsed):
        problem = _check_entry(entry, index, index == last_index, path, version, account)
        if problem:
            errors.append(f"Index {index}: {problem}")
    if parsed and all(isinstance(e, dict) and "data" in e for e in parsed):
        errors.append("Inline data segments require at least one object-backed segment.")
    if errors:
        return error_response(400, "".join(e + "\n" for e in errors),
                              headers={"Content-Type": "text/plain"})
    return parsed


def _check_entry(entry: Any, index: int, last: bool, path: str, version: str,
                 account: str) -> Optional[str]:
    """
    What is wrong with one segment of a manifest C{PUT} (which it
    normalizes in place), or C{None}.
    """
    if not isinstance(entry, dict):
        return "not a JSON object"
    if "data" in entry:
        kind, allowed = "data", {"data"}
    elif "path" in entry:
        kind, allowed = "path", {"path", "range", "etag", "size_bytes"}
    else:
        return "expected keys to include one of 'data' or 'path'"
    extra = sorted(k for k in entry if k not in allowed)
    if extra:
        return "extraneous keys " + ", ".join(json.dumps(k) for k in extra)
    if kind == "data":
        value = entry["data"]
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            data = base64.b64decode(value.encode("ascii"), validate=True)
        except (ValueError, binascii.Error, UnicodeEncodeError):
            return "data must be valid base64"
        if not data:
            return "too small; each segment must be at least 1 byte."
        entry["data"] = base64.b64encode(data).decode("ascii")
        return None
    if not isinstance(entry["path"], str):
        return '"path" must be a string'
    if not (entry.get("etag") is None or isinstance(entry["etag"], str)):
        return '"etag" must be a string or null (if provided)'
    if "/" not in entry["path"].strip("/"):
        return ("path does not refer to an object. Path must be of the form "
                "/container/object.")
    size = entry.get("size_bytes")
    if size is not None:
        try:
            if isinstance(size, bool) or isinstance(size, float):
                raise TypeError(size)
            size = int(size)
        except (TypeError, ValueError):
            return "invalid size_bytes"
        entry["size_bytes"] = size
        if size < 1 and not last:
            return "too small; each segment must be at least 1 byte."
    own = "/".join(["", version, account,
                    quote(entry["path"].lstrip("/").encode("utf-8"))])
    if own == wire_quote(path):
        return "manifest must not include itself as a segment"
    if entry.get("range"):
        ranges = parse_range_header(f"bytes={entry['range']}")
        if ranges is None:
            return "invalid range"
        if len(ranges) > 1:
            return "multiple ranges (only one allowed)"
        if size is not None and resolve(ranges[0], size) is None:
            return "unsatisfiable range"
    return None


def _reason_text(status: int) -> str:
    """
    What Swift's heartbeat summary says for an error without a body: the
    reason and explanation of C{status}.
    """
    page = error_response(status).body
    assert isinstance(page, bytes)
    explanation = page.decode("utf-8").split("<p>", 1)[-1].split("</p>", 1)[0]
    return f"{status_reason(status)}\n{explanation}"


def _inline(data: bytes) -> dict[str, Any]:
    return {"raw_data": data, "first_byte": 0, "last_byte": len(data) - 1}


def _multipart(pieces: AsyncIterator[dict[str, Any]], spans: list[tuple[int, int]],
               boundary: str, part_type: str, size: int
               ) -> tuple[AsyncIterator[dict[str, Any]], int]:
    """
    The pieces of a C{multipart/byteranges} body around C{pieces} (the
    bytes of each span in turn), and its length.
    """
    heads = [(f"--{boundary}\r\nContent-Type: {part_type}\r\n"
              f"Content-Range: bytes {first}-{last}/{size}\r\n\r\n"
              ).encode("latin-1") for first, last in spans]
    tail = f"--{boundary}--".encode("latin-1")
    length = sum(len(head) + (last - first + 1) + 2
                 for head, (first, last) in zip(heads, spans)) + len(tail)

    async def framed() -> AsyncIterator[dict[str, Any]]:
        for head, (first, last) in zip(heads, spans):
            yield _inline(head)
            left = last - first + 1
            while left > 0:
                piece = await pieces.__anext__()
                left -= piece["last_byte"] - piece["first_byte"] + 1
                yield piece
            yield _inline(b"\r\n")
        yield _inline(tail)

    return framed(), length


def _http_date_to_listing(value: Optional[str]) -> str:
    try:
        moment = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        moment = None
    if moment is None:
        return "1970-01-01T00:00:00.000000"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


@implementer(IProxyFilter)
class StaticLargeObject:
    """
    Stores, serves and deletes static large objects.

    @param clock: for C{max_get_time} and the segment rate limit.
    @param max_manifest_segments: object segments a manifest may list.
    @param max_manifest_size: bytes a manifest C{PUT} body may hold.
    @param limits: the time limit of a GET, and the rate limit of its
        small segments.
    @param rate_limit_under_size: segments smaller than this many bytes
        count for the rate limit.
    @param concurrency: segment C{HEAD}s in flight during a C{PUT}.
    @param yield_frequency: seconds between the spaces a C{?heartbeat=on}
        C{PUT} sends while it checks the segments.
    @param expirer_queue: where an asynchronous delete queues segments;
        C{None} turns C{?async=true} off (C{allow_async_delete = false}).
    @param info_cache: the container info an asynchronous delete's
        authorization needs.
    """

    def __init__(self, clock: IReactorTime, max_manifest_segments: int = 1000,
                 max_manifest_size: int = 8 * 1024 * 1024,
                 limits: SegmentLimits = SegmentLimits(),
                 rate_limit_under_size: int = 1024 * 1024,
                 concurrency: int = 2, yield_frequency: int = 10,
                 expirer_queue: Optional[ExpirerQueue] = None,
                 info_cache: Optional[InfoCache] = None) -> None:
        self._clock = clock
        self.expirer_queue = expirer_queue
        self._info_cache = info_cache
        self.yield_frequency = yield_frequency
        self.max_manifest_segments = max_manifest_segments
        self.max_manifest_size = max_manifest_size
        self.limits = limits
        self.rate_limit_under_size = rate_limit_under_size
        self.concurrency = max(1, concurrency)

    def __call__(
        self, request: SwiftRequest, app: IProxyApplication
    ) -> "Deferred[SwiftResponse]":
        if request.environ.get("swift.slo_override"):
            return app(request)  # type: ignore[no-any-return]
        method = request.method
        if object_path(request.path) is None:
            if method == "GET" and _is_container_path(request.path):
                return Deferred.fromCoroutine(self._listing(request, app))
            return app(request)  # type: ignore[no-any-return]
        manifest_param = request.params.get("multipart-manifest")
        if method == "PUT" and manifest_param == "put":
            return Deferred.fromCoroutine(self._put(request, app))
        if method == "DELETE" and manifest_param == "delete":
            if self.expirer_queue is not None and is_true(request.params.get("async")):
                return Deferred.fromCoroutine(self._async_delete(request, app))
            return Deferred.fromCoroutine(self._delete(request, app))
        if method in ("GET", "HEAD"):
            return self._get_or_head(request, app)
        if _SLO in request.headers:
            return succeed(error_response(400, _RESERVED, method=method,
                                          content_type=HTML))
        return app(request)  # type: ignore[no-any-return]

    # -- sub-requests ---------------------------------------------------

    def _subrequest(self, request: SwiftRequest, method: str, path: str,
                    query: str, agent: str,
                    headers: Optional[dict[str, str]] = None) -> SwiftRequest:
        """
        A request for C{path} (a WSGI string) made for C{request}, as the
        client: its token and the headers Swift's sub-requests inherit.
        """
        sub_headers = HeaderDict()
        for name in ("X-Auth-Token", "X-Open-Expired") + _INHERITED:
            value = request.headers.get(name)
            if value is not None:
                sub_headers[name] = value
        sub_headers["User-Agent"] = (
            request.headers.get("User-Agent", "") + " " + agent).strip()
        for name, value in (headers or {}).items():
            sub_headers[name] = value
        uri = wire_quote(path) + ("?" + query if query else "")
        return SwiftRequest(method, uri.encode("ascii"), sub_headers,
                            client_ip=request.client_ip,
                            environ=sub_environ(request.environ, "SLO"))

    # -- GET and HEAD ---------------------------------------------------

    def _get_or_head(self, request: SwiftRequest, app: IProxyApplication
                     ) -> "Deferred[SwiftResponse]":
        manifest_get = request.params.get("multipart-manifest") == "get"
        if not manifest_get:
            # The object servers judge conditions against the large
            # object's etag, and answer a manifest in full whatever the
            # Range: the range applies to the segments.
            _append_header(request, _ETAG_IS_AT, _SLO_ETAG)
            _append_header(request, _IGNORE_RANGE, _SLO)
        environ = request.environ
        sysmeta_ok = bool(environ.get("swift.sysmeta_ok"))
        environ["swift.sysmeta_ok"] = True

        def restore(result: Any) -> Any:
            if not sysmeta_ok:
                environ.pop("swift.sysmeta_ok", None)
            return result

        try:
            answer: Deferred[SwiftResponse] = app(request)
        except BaseException:
            restore(None)
            raise
        # Most objects are no manifest: their response goes back as it came,
        # with no coroutine waiting for it.
        return answer.addBoth(restore).addCallback(
            self._answered, request, app, manifest_get, sysmeta_ok)

    def _answered(self, response: SwiftResponse, request: SwiftRequest,
                  app: IProxyApplication, manifest_get: bool, sysmeta_ok: bool) -> Any:
        if not is_true(response.headers.get(_SLO)):
            if not sysmeta_ok:
                strip_sys_meta("object", response.headers)
            return response
        if manifest_get:
            return Deferred.fromCoroutine(self._manifest(request, response, sysmeta_ok))
        return Deferred.fromCoroutine(self._large_object_or_error(
            request, app, response, sysmeta_ok))

    async def _large_object_or_error(self, request: SwiftRequest, app: IProxyApplication,
                                     response: SwiftResponse, sysmeta_ok: bool
                                     ) -> SwiftResponse:
        try:
            return await self._large_object(request, app, response, sysmeta_ok)
        except _ManifestError as error:
            _log.error("SLO {path}: {why}", path=request.path, why=str(error))
            return error_response(500, "Unable to load SLO manifest",
                                  method=request.method)

    async def _manifest(self, request: SwiftRequest, response: SwiftResponse,
                        sysmeta_ok: bool) -> SwiftResponse:
        """
        The manifest itself: as stored, or (C{format=raw}) as a C{PUT}
        takes it.
        """
        headers = response.headers
        if not sysmeta_ok:
            strip_sys_meta("object", headers)
        if "Content-Type" in headers:
            headers["Content-Type"] = _clean_content_type(headers["Content-Type"])
        if request.params.get("format") != "raw" or not response.is_success:
            if response.is_success:
                headers["Content-Type"] = "application/json; charset=utf-8"
            return response
        try:
            entries = json.loads(await read_body(response.body))
        except ValueError:
            return error_response(500, "Unable to load SLO manifest", method=request.method)
        for entry in entries:
            if "data" in entry:
                continue
            entry.pop("content_type", None)
            entry.pop("last_modified", None)
            entry.pop("sub_slo", None)
            entry["path"] = entry.pop("name", None)
            entry["size_bytes"] = entry.pop("bytes", None)
            entry["etag"] = entry.pop("hash", None)
        data = json.dumps(entries, sort_keys=True).encode("utf-8")
        headers.pop("Content-Range", None)
        headers["Content-Length"] = str(len(data))
        headers["Etag"] = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if request.method == "HEAD":
            data = b""
        return SwiftResponse(response.status, headers, data, response.reason)

    async def _refetch(self, request: SwiftRequest, app: IProxyApplication,
                       method: str) -> SwiftResponse:
        """
        The manifest again, unconditionally and whole, with its sysmeta.
        """
        sub = self._subrequest(request, method, request.path,
                               "multipart-manifest=get" + _version_query(request),
                               "SLO MultipartGET")
        sub.environ["swift.sysmeta_ok"] = True
        response: SwiftResponse = await app(sub)
        return response

    async def _large_object(self, request: SwiftRequest, app: IProxyApplication,
                            response: SwiftResponse, sysmeta_ok: bool = False
                            ) -> SwiftResponse:
        method = request.method
        status = response.status
        # A plugin that asked for sysmeta (s3api's multipart etag) sees the
        # manifest's.
        strip = (lambda _headers: None) if sysmeta_ok else partial(strip_sys_meta, "object")
        if status >= 300 and status not in (304, 412, 416):
            strip(response.headers)
            return response
        if status in (304, 412):
            # The object servers judged the conditions against the large
            # object's etag; the answer names it.
            drop_body(response.body)
            etag = response.headers.get(_SLO_ETAG)
            if not etag:
                again = await self._refetch(request, app, "HEAD")
                drop_body(again.body)
                etag = again.headers.get(_SLO_ETAG)
            headers = response.headers
            strip(headers)
            if etag:
                headers["X-Manifest-Etag"] = normalize_etag(headers.get("Etag", ""))
                headers["Etag"] = f'"{etag}"'
            headers.pop("Content-Range", None)
            headers["Content-Length"] = "0"
            return SwiftResponse(status, headers, b"", response.reason)

        headers = response.headers
        slo_etag = headers.get(_SLO_ETAG, "")
        try:
            slo_size = int(headers.get(_SLO_SIZE, ""))
        except ValueError:
            slo_size = -1
        legacy = not slo_etag or slo_size < 0
        manifest_etag = normalize_etag(headers.get("Etag", ""))
        part_param = request.params.get("part-number")
        part_num: Optional[int] = None
        if part_param is not None:
            try:
                part_num = int(part_param)
                if part_num <= 0:
                    raise ValueError(part_param)
            except ValueError:
                drop_body(response.body)
                return error_response(
                    400, "Part number must be an integer greater than 0",
                    method=method, content_type=HTML)
            if request.headers.get("Range"):
                drop_body(response.body)
                return error_response(
                    400, "Range requests are not supported with part number queries",
                    method=method, content_type=HTML)
        entries: Optional[list[dict[str, Any]]] = None
        if method == "GET" or legacy or part_num:
            if status != 200 or method == "HEAD":
                # An object server that honoured the Range (or part
                # number) anyway, or a HEAD that needs the segments.
                drop_body(response.body)
                again = await self._refetch(request, app, "GET")
                if not again.is_success:
                    return again
                body = again.body
            else:
                body = response.body
            entries = await self._read_manifest(body, request.path)
            if legacy:
                slo_size = sum(e["segment_length"] for e in entries)
                slo_etag = _large_object_etag(entries)
        else:
            drop_body(response.body)

        strip(headers)
        headers.pop("Content-Range", None)
        headers["Etag"] = f'"{slo_etag}"'
        headers["X-Manifest-Etag"] = manifest_etag
        headers["Content-Length"] = str(slo_size)
        if "Content-Type" in headers:
            headers["Content-Type"] = _clean_content_type(headers["Content-Type"])
        spans: list[tuple[int, int]] = [(0, slo_size - 1)]
        answer = 200
        if part_num:
            assert entries is not None
            headers["X-Parts-Count"] = str(len(entries))
            if part_num > len(entries):
                headers["Content-Range"] = f"bytes */{slo_size}"
                text = b"" if method == "HEAD" else (
                    b"The requested part number is not satisfiable")
                headers["Content-Length"] = str(len(text))
                return SwiftResponse(416, headers, text)
            start = sum(e["segment_length"] for e in entries[:part_num - 1])
            spans = [(start, start + entries[part_num - 1]["segment_length"] - 1)]
            answer = 206
        elif method == "GET":
            ranges = parse_range_header(request.headers.get("Range"))
            if ranges:
                found = [span for span in (resolve(r, slo_size) for r in ranges)
                         if span is not None]
                if not found:
                    return error_response(
                        416, headers={"Content-Range": f"bytes */{slo_size}",
                                      "Accept-Ranges": "bytes"}, method=method)
                spans = found
                answer = 206
        if answer == 206 and len(spans) == 1:
            first_byte, last_byte = spans[0]
            headers["Content-Range"] = f"bytes {first_byte}-{last_byte}/{slo_size}"
            headers["Content-Length"] = str(last_byte - first_byte + 1)
        if method == "HEAD":
            return SwiftResponse(answer, headers, b"")
        assert entries is not None

        version, account = _version_and_account(request.path)
        started = self._clock.seconds()
        pieces = self._pieces(request, app, version, account, entries, spans)
        if answer == 206 and len(spans) > 1:
            boundary = hashlib.md5(
                f"{request.path}{started}".encode("utf-8", "surrogateescape"),
                usedforsecurity=False).hexdigest()
            part_type = headers.get("Content-Type", "application/octet-stream")
            headers["Content-Type"] = f"multipart/byteranges;boundary={boundary}"
            pieces, length = _multipart(pieces, spans, boundary, part_type, slo_size)
        else:
            length = max(0, spans[0][1] - spans[0][0] + 1)
        headers["Content-Length"] = str(length)
        pacer = self.limits.pacer(self._clock)

        async def following() -> Optional[Segment]:
            try:
                target = await pieces.__anext__()
            except StopAsyncIteration:
                return None
            if "raw_data" in target:
                data = target["raw_data"][target["first_byte"]:target["last_byte"] + 1]
                return Segment("<inline data>", SwiftResponse(200, {}, data))
            if target["last_byte"] - target["first_byte"] + 1 < self.rate_limit_under_size:
                await sleep(self._clock, pacer.delay())
            return await self._segment(request, app, version, account, target)

        if length == 0:
            return SwiftResponse(answer, headers, b"")
        try:
            first = await following()
        except (SegmentError, _ManifestError) as error:
            _log.error("SLO {path}: {why}", path=request.path, why=str(error))
            return error_response(409)
        if first is None:
            return SwiftResponse(answer, headers, b"")
        producer = SegmentedBody(
            first, lambda: Deferred.fromCoroutine(following()), length,
            self._clock, started + self.limits.max_get_time, request.path)
        return SwiftResponse(answer, headers, producer)

    async def _pieces(self, request: SwiftRequest, app: IProxyApplication,
                      version: str, account: str, entries: list[dict[str, Any]],
                      spans: list[tuple[int, int]]) -> AsyncIterator[dict[str, Any]]:
        for first_byte, last_byte in spans:
            async for piece in self._walk(request, app, version, account, entries,
                                          first_byte, last_byte, 1):
                yield piece

    async def _read_manifest(self, body: Any, path: str) -> list[dict[str, Any]]:
        try:
            entries = json.loads(await read_body(body))
            if not isinstance(entries, list):
                raise ValueError(entries)
            return _annotate(entries)
        except (ValueError, KeyError, TypeError) as error:
            raise _ManifestError(f"Unable to load SLO manifest {path}: {error}") from None

    async def _walk(self, request: SwiftRequest, app: IProxyApplication,
                    version: str, account: str, entries: list[dict[str, Any]],
                    first_byte: int, last_byte: int, depth: int
                    ) -> AsyncIterator[dict[str, Any]]:
        """
        The segments holding bytes C{first_byte} to C{last_byte} (inclusive)
        of C{entries}, nested manifests read as they are reached; each
        with the C{first_byte} and C{last_byte} to read of it.
        """
        for entry in entries:
            size = entry["segment_length"]
            if first_byte >= size:
                first_byte -= size
                last_byte -= size
                continue
            if last_byte < 0:
                return
            if "raw_data" in entry:
                yield dict(entry, first_byte=max(0, first_byte),
                           last_byte=min(size - 1, last_byte))
            else:
                rng = entry.get("range")
                start, end = (0, size - 1) if not rng else (
                    int(x) for x in rng.split("-"))
                if is_true(entry.get("sub_slo")):
                    if depth >= _MAX_DEPTH:
                        raise _ManifestError(
                            f"While processing manifest {request.path!r}, "
                            "max recursion depth was exceeded")
                    nested = await self._sub_manifest(request, app, version,
                                                      account, entry["name"])
                    async for inner in self._walk(
                            request, app, version, account, nested,
                            start + max(0, first_byte),
                            min(end, start + last_byte), depth + 1):
                        yield inner
                else:
                    yield dict(entry, first_byte=max(0, first_byte) + start,
                               last_byte=min(end, start + last_byte))
            first_byte -= size
            last_byte -= size

    async def _sub_manifest(self, request: SwiftRequest, app: IProxyApplication,
                            version: str, account: str, name: str
                            ) -> list[dict[str, Any]]:
        path = f"/{version}/{account}/{str_to_wsgi(name.lstrip('/'))}"
        response: SwiftResponse = await app(self._subrequest(
            request, "GET", path, "multipart-manifest=get", "SLO MultipartGET"))
        if not response.is_success:
            text = (await read_body(response.body)).decode("utf-8", "replace")
            raise _ManifestError(
                f"while fetching {request.path}, GET of submanifest {path} "
                f"failed with status {response.status} ({text[:60]})")
        return await self._read_manifest(response.body, path)

    async def _segment(self, request: SwiftRequest, app: IProxyApplication,
                       version: str, account: str, target: dict[str, Any]
                       ) -> Segment:
        """
        GET one segment's bytes (as an object, never as a large object).

        @raise SegmentError: when it cannot be read or is no longer what
            the manifest lists.
        """
        path = f"/{version}/{account}/{str_to_wsgi(target['name'].lstrip('/'))}"
        size = int(target["bytes"])
        first, last = target["first_byte"], target["last_byte"]
        whole = first == 0 and last == size - 1
        extra = {} if whole else {"Range": f"bytes={first}-{last}"}
        response: SwiftResponse = await app(self._subrequest(
            request, "GET", path, "multipart-manifest=get", "SLO MultipartGET", extra))
        if not response.is_success:
            drop_body(response.body)
            raise SegmentError(
                f"While processing manifest {request.path}, got "
                f"{response.status} while retrieving {path}", response.status)
        etag = normalize_etag(response.headers.get("Etag", ""))
        declared = response.headers.get("Content-Length")
        listed = target.get("hash")
        if (listed and etag != listed) or (
                whole and declared is not None and declared != str(size)):
            drop_body(response.body)
            raise SegmentError(
                f"Object segment no longer valid: {path} etag: {etag} != "
                f"{listed} or {declared} != {size}.")
        segment = Segment(path, response)
        if whole and etag:
            segment.digest = hashlib.md5(usedforsecurity=False)
            segment.etag = etag
            segment.expected = size
        return segment

    # -- PUT ------------------------------------------------------------

    async def _put(self, request: SwiftRequest, app: IProxyApplication) -> SwiftResponse:
        method = request.method
        if request.headers.get("X-Copy-From"):
            return error_response(405, "Multipart Manifest PUTs cannot be COPY requests",
                                  method=method, content_type=HTML)
        try:
            declared = request.content_length
        except ValueError:
            return error_response(400, "Invalid Content-Length", method=method,
                                  content_type=HTML)
        too_big = f"Manifest File > {self.max_manifest_size} bytes"
        if declared is None:
            if request.headers.get("Transfer-Encoding", "").lower() != "chunked":
                return error_response(411, method=method)
        elif declared > self.max_manifest_size:
            return error_response(413, too_big, method=method, content_type=HTML)
        body = b"" if request.body is None else await read_body(request.body)
        if len(body) > self.max_manifest_size:
            return error_response(413, too_big, method=method, content_type=HTML)
        parsed = _parse_manifest(body, request.path)
        if isinstance(parsed, SwiftResponse):
            return parsed
        objects = [entry for entry in parsed if "path" in entry]
        if len(objects) > self.max_manifest_segments:
            return error_response(
                413, "Number of object-backed segments must be <= "
                f"{self.max_manifest_segments}", method=method, content_type=HTML)
        try:
            out_type = best_accept_match(request.headers.get("Accept"), _FORMATS)
        except ValueError:
            out_type = None
        out_type = out_type or "text/plain"

        if is_true(request.params.get("heartbeat")):
            async def outcome() -> bytes:
                try:
                    summary, errors = await self._store(request, app, parsed, objects)
                except CancelledError:
                    raise
                except Exception:
                    _log.failure("SLO {path}: manifest PUT failed", path=request.path)
                    summary, errors = {"Response Status": "500 Internal Error",
                                       "Response Body": _reason_text(500)}, []
                return b"\r\n\r\n" + result_body(out_type, summary, errors, "upload")

            beating = Heartbeat(self._clock, self.yield_frequency,
                                 Deferred.fromCoroutine(outcome()))
            return SwiftResponse(202, {"Content-Type": out_type}, beating)
        summary, errors = await self._store(request, app, parsed, objects)
        if errors:
            return SwiftResponse(400, {"Content-Type": out_type},
                                 result_body(out_type, {}, errors, "upload"))
        response = summary["response"]
        assert isinstance(response, SwiftResponse)
        return response

    async def _store(self, request: SwiftRequest, app: IProxyApplication,
                     parsed: list[dict[str, Any]], objects: list[dict[str, Any]]
                     ) -> tuple[dict[str, Any], list[list[str]]]:
        """
        Check the segments and store the manifest: the heartbeat summary
        (with, when the manifest PUT was made, its answer under
        C{response}) and the segments' problems.
        """
        heads = await self._head_segments(request, app, [e["path"] for e in objects])
        problems: list[list[str]] = []
        stored: list[dict[str, Any]] = []
        summary: dict[str, Any]
        total = 0
        last_index = len(parsed) - 1
        for index, entry in enumerate(parsed):
            if "data" in entry:
                stored.append(entry)
                total += len(base64.b64decode(entry["data"]))
                continue
            length, record = self._check_segment(
                entry, heads[entry["path"]], index == last_index, problems)
            total += length
            stored.append(record)
        hook = request.environ.get("swift.callback.slo_manifest_hook")
        if hook is not None:
            # A plugin's extra rules on the manifest (s3api's part sizes).
            problems.extend([list(problem) for problem in hook(stored)])
        if problems:
            return {"Response Status": "400 Bad Request",
                    "Response Body": _reason_text(400)}, problems
        slo_etag = _large_object_etag(stored)
        client_etag = normalize_etag(request.headers.get("Etag", ""))
        if client_etag and client_etag != slo_etag:
            summary = {"Response Status": "422 Unprocessable Entity",
                       "Response Body": _reason_text(422)}
            if not is_true(request.params.get("heartbeat")):
                summary["response"] = error_response(422, method=request.method)
            return summary, []

        data = json.dumps(stored).encode("utf-8")
        headers = request.headers
        headers[_SLO_ETAG] = slo_etag
        headers[_SLO_SIZE] = str(total)
        headers[_SLO] = "True"
        headers["Etag"] = hashlib.md5(data, usedforsecurity=False).hexdigest()
        override, sep, params = headers.get(_OVERRIDE_ETAG, "").partition(";")
        headers[_OVERRIDE_ETAG] = (
            f"{(override or headers['Etag']) + sep + params}; slo_etag={slo_etag}")
        content_type = headers.get("Content-Type")
        if not content_type:
            guessed, _ = mimetypes.guess_type(request.path)
            content_type = guessed or "application/octet-stream"
        headers["Content-Type"] = f"{content_type};swift_bytes={total}"
        request.environ["swift.content_type_overridden"] = True
        headers.pop("Transfer-Encoding", None)
        headers["Content-Length"] = str(len(data))
        request.body = BytesBody(data)
        response: SwiftResponse = await app(request)
        summary = {"Response Status": f"{response.status} {response.reason}"}
        if response.is_success:
            response.headers["Etag"] = f'"{slo_etag}"'
            summary["Etag"] = response.headers["Etag"]
            summary["Last Modified"] = response.headers.get("Last-Modified", "")
        if is_true(request.params.get("heartbeat")):
            summary["Response Body"] = (
                await read_body(response.body)).decode("utf-8", "replace")
        else:
            summary["response"] = response
        return summary, []

    async def _head_segments(self, request: SwiftRequest, app: IProxyApplication,
                             paths: list[str]) -> dict[str, SwiftResponse]:
        """
        Each distinct segment path's C{HEAD} answer, C{concurrency} at a
        time, made through this plugin.
        """
        version, account = _version_and_account(request.path)
        answers: dict[str, SwiftResponse] = {}
        pending = iter(dict.fromkeys(paths))

        async def worker() -> None:
            for name in pending:
                wsgi = str_to_wsgi(name.lstrip("/"))
                sub = self._subrequest(request, "HEAD", f"/{version}/{account}/{wsgi}",
                                       "", "SLO MultipartPUT")
                answer: SwiftResponse = await self._get_or_head(sub, app)
                drop_body(answer.body)
                answers[name] = answer

        results = await DeferredList(
            [Deferred.fromCoroutine(worker()) for _ in range(self.concurrency)],
            consumeErrors=True)
        for ok, value in results:
            if not ok:
                failure: Failure = value  # type: ignore[assignment]
                failure.raiseException()
        return answers

    def _check_segment(self, entry: dict[str, Any], head: SwiftResponse,
                       allow_empty: bool, problems: list[list[str]]
                       ) -> tuple[int, dict[str, Any]]:
        """
        A segment's length and stored form, given its C{HEAD} answer;
        what is wrong goes to C{problems}.
        """
        name = entry["path"]
        quoted = quote(name.encode("utf-8"))
        if not head.is_success:
            problems.append([quoted, f"{head.status} {head.reason}"])
            return 0, {}
        try:
            size = int(head.headers.get("Content-Length", "0"))
        except ValueError:
            size = 0
        length = size
        rng = entry.get("range")
        if rng:
            ranges = parse_range_header(f"bytes={rng}")
            span = resolve(ranges[0], size) if ranges else None
            if span is None:
                problems.append([quoted, "Unsatisfiable Range"])
                rng = None
            elif span == (0, size - 1):
                rng = None
            else:
                rng = f"{span[0]}-{span[1]}"
                length = span[1] - span[0] + 1
        if length < 1 and not allow_empty:
            problems.append([quoted, "Too small; each segment must be at least 1 byte."])
        if entry.get("size_bytes") is not None and entry["size_bytes"] != size:
            problems.append([quoted, "Size Mismatch"])
        etag = normalize_etag(head.headers.get("Etag", ""))
        if entry.get("etag") is not None and entry["etag"] != etag:
            problems.append([quoted, "Etag Mismatch"])
        content_type = head.headers.get("Content-Type", "").split(";")[0]
        record: dict[str, Any] = {
            "name": "/" + name.lstrip("/"),
            "bytes": size,
            "hash": etag,
            "content_type": content_type,
            "last_modified": _http_date_to_listing(head.headers.get("Last-Modified")),
        }
        if rng:
            record["range"] = rng
        if is_true(head.headers.get(_SLO)):
            record["sub_slo"] = True
        return length, record

    # -- DELETE ---------------------------------------------------------

    async def _delete(self, request: SwiftRequest, app: IProxyApplication) -> SwiftResponse:
        try:
            out_type = best_accept_match(request.headers.get("Accept"), _FORMATS)
        except ValueError:
            out_type = None
        summary: dict[str, Any] = {
            "Response Status": "200 OK",
            "Response Body": "",
            "Number Deleted": 0,
            "Number Not Found": 0,
        }
        failed: list[list[str]] = []
        if not out_type:
            summary["Response Status"] = "406 Not Acceptable"
        else:
            await self._delete_all(request, app, summary, failed)
        headers = {"Content-Type": out_type or "text/html; charset=UTF-8"}
        return SwiftResponse(200, headers, result_body(out_type, summary, failed, "delete"))

    async def _delete_all(self, request: SwiftRequest, app: IProxyApplication,
                          summary: dict[str, Any], failed: list[list[str]]) -> None:
        parts = object_path(request.path)
        assert parts is not None
        version, account, container, obj = parts
        own = wsgi_to_str(f"/{container}/{obj}")
        todo: list[dict[str, Any]] = [{"sub_slo": True, "name": own}]
        if "version-id" in request.params:
            # Object versioning: this version of the manifest, and only it.
            todo[0]["version_id"] = request.params["version-id"]
        failure_status = 400
        while todo:
            if len(todo) > self.max_manifest_segments * 10:
                summary["Response Status"] = "400 Bad Request"
                summary["Response Body"] = "Too many buffered slo segments to delete."
                return
            entry = todo.pop(0)
            if "data" in entry:
                continue
            name = entry["name"]
            if entry.get("sub_slo"):
                try:
                    todo.extend(await self._segments_of(request, app, version, account, name,
                                                        entry.get("version_id")))
                except _DeleteError as error:
                    entry["error"] = error.message
                entry["sub_slo"] = False
                todo.append(entry)
                continue
            quoted = quote(name.lstrip("/").encode("utf-8", "surrogateescape"))
            if "error" in entry:
                failed.append([quoted, entry["error"]])
                continue
            path = f"/{version}/{account}/{str_to_wsgi(name.lstrip('/'))}"
            query = ""
            if entry.get("version_id") is not None:
                query = "version-id=" + quote(str(entry["version_id"]), safe="")
            sub = self._subrequest(request, "DELETE", path, query, "MultipartDELETE",
                                   {"Content-Length": "0"})
            response: SwiftResponse = await app(sub)
            drop_body(response.body)
            if response.is_success:
                summary["Number Deleted"] += 1
            elif response.status == 404:
                summary["Number Not Found"] += 1
            else:
                if response.status >= 500:
                    failure_status = 502
                failed.append([quoted, f"{response.status} {response.reason}"])
        if failed:
            summary["Response Status"] = f"{failure_status} {status_reason(failure_status)}"

    async def _async_delete(self, request: SwiftRequest, app: IProxyApplication
                            ) -> SwiftResponse:
        """
        Delete the manifest now, its segments through the expirer queue
        (see the module docstring).
        """
        method = request.method
        refused = check_path_utf8(request)
        if refused is not None:
            return refused
        parts = object_path(request.path)
        assert parts is not None
        version, account, container, obj = parts
        try:
            entries = await self._segments_of(request, app, version, account,
                                              wsgi_to_str(f"/{container}/{obj}"),
                                              request.params.get("version-id"))
        except _DeleteError as error:
            challenge = ({"Www-Authenticate": 'Swift realm="unknown"'}
                         if error.status == 401 else None)
            return error_response(error.status, error.message, challenge, method=method,
                                  content_type=HTML)
        segments = [entry for entry in entries if "data" not in entry]
        if not segments:
            return await app(request)  # type: ignore[no-any-return]
        names = [split_path(str(segment["name"]), 2, 2, True) for segment in segments]
        containers = list(dict.fromkeys(str(name[0]) for name in names))
        if len(containers) > 1:
            found = ", ".join('"%s"' % quote(name.encode("utf-8", "surrogateescape"))
                              for name in containers)
            return error_response(
                400, f"All segments must be in one container. Found segments in {found}",
                method=method, content_type=HTML)
        if any(segment.get("sub_slo") for segment in segments):
            return error_response(400, "No segments may be large objects.", method=method,
                                  content_type=HTML)
        segment_container = str_to_wsgi(containers[0])
        denied = await self._write_denied(request, app, version, account, container)
        if denied is None and segment_container != container:
            denied = await self._write_denied(request, app, version, account,
                                              segment_container)
        if denied is not None:
            return denied
        assert self.expirer_queue is not None
        refused = ensure_x_timestamp(request, self._clock.seconds())
        if refused is not None:
            return refused
        stamp = Timestamp(request.headers["X-Timestamp"])
        rows = async_delete_rows(stamp, wsgi_to_str(account), containers[0],
                                 [str(name[1]) for name in names])
        queue = self.expirer_queue
        task_container = queue.task_container(
            int(stamp), account.encode("latin-1"), container.encode("latin-1"),
            obj.encode("latin-1"))
        update = SwiftRequest(
            "UPDATE", wire_quote(f"/v1/{queue.account}/{task_container}").encode("ascii"),
            HeaderDict({"Content-Type": "application/json",
                        "X-Backend-Storage-Policy-Index": "0",
                        "X-Backend-Allow-Private-Methods": "True"}),
            BytesBody(json.dumps(rows).encode("ascii")), client_ip=request.client_ip,
            environ=preauthorized("SLO")(request.environ))
        queued: SwiftResponse = await app(update)
        if not queued.is_success:
            _log.error("Failed to enqueue expiration entries: {status}\n{body}",
                       status=f"{queued.status} {queued.reason}",
                       body=(await read_body(queued.body)).decode("utf-8", "replace"))
            return error_response(503, method=method)
        drop_body(queued.body)
        return await app(request)  # type: ignore[no-any-return]

    async def _write_denied(self, request: SwiftRequest, app: IProxyApplication,
                            version: str, account: str, container: str
                            ) -> Optional[SwiftResponse]:
        """
        The auth plugin's denial of C{request} with the write ACL of
        C{container}, or C{None} (also with no auth plugin).
        """
        authorize = request.environ.get("swift.authorize")
        if authorize is None:
            return None
        assert self._info_cache is not None
        info = await fetch_container_info(request, app, self._info_cache, version, account,
                                          container, preauthorized("SLO"))
        request.acl = info.get("write_acl")  # type: ignore[attr-defined]
        try:
            return authorize(request)  # type: ignore[no-any-return]
        finally:
            request.acl = None  # type: ignore[attr-defined]

    async def _segments_of(self, request: SwiftRequest, app: IProxyApplication,
                           version: str, account: str, name: str,
                           version_id: Optional[str] = None) -> list[dict[str, Any]]:
        """
        The segments a manifest (its version C{version_id}, if given)
        lists.

        @raise _DeleteError: when it cannot be read or is no manifest.
        """
        path = f"/{version}/{account}/{str_to_wsgi(name.lstrip('/'))}"
        query = "multipart-manifest=get"
        if version_id is not None:
            query += "&version-id=" + quote(version_id, safe="")
        response: SwiftResponse = await app(self._subrequest(
            request, "GET", path, query, "MultipartDELETE"))
        if response.is_success and is_true(response.headers.get(_SLO)):
            try:
                entries = json.loads(await read_body(response.body))
            except ValueError:
                raise _DeleteError("Unable to load SLO manifest") from None
            if not isinstance(entries, list):
                raise _DeleteError("Unable to load SLO manifest")
            return entries
        drop_body(response.body)
        if response.is_success:
            raise _DeleteError("Not an SLO manifest", 400)
        if response.status == 404:
            raise _DeleteError("SLO manifest not found", 404)
        if response.status == 401:
            raise _DeleteError("401 Unauthorized", 401)
        raise _DeleteError("Unable to load SLO manifest or segment.")

    # -- container listings ---------------------------------------------

    async def _listing(self, request: SwiftRequest, app: IProxyApplication
                       ) -> SwiftResponse:
        response: SwiftResponse = await app(request)
        content_type = response.headers.get("Content-Type", "")
        declared = response.headers.get("Content-Length")
        if (not response.is_success
                or content_type.split(";")[0].strip() != "application/json"
                or declared is None or not declared.isdigit()
                or int(declared) > _MAX_LISTING):
            return response
        raw = await read_body(response.body)
        # An slo_etag is a parameter of a hash ("...; slo_etag=..."): no
        # semicolon, none to move. (A byte is found much faster than a
        # word, and most listings have neither.)
        if b";" not in raw or b"slo_etag" not in raw:
            return SwiftResponse(response.status, response.headers, raw, response.reason)
        try:
            listing = json.loads(raw)
        except ValueError:
            return SwiftResponse(response.status, response.headers, raw, response.reason)
        if not isinstance(listing, list):
            return SwiftResponse(response.status, response.headers, raw, response.reason)
        for item in listing:
            if not isinstance(item, dict) or "hash" not in item:
                continue
            etag, *params = [p.strip() for p in str(item["hash"]).split(";")]
            kept = []
            for param in params:
                key, _, value = param.partition("=")
                if key == "slo_etag":
                    item["slo_etag"] = f'"{value}"'
                else:
                    kept.append(f"; {key}={value}")
            if len(kept) != len(params):
                item["hash"] = etag + "".join(kept)
        body = json.dumps(listing).encode("ascii")
        response.headers["Content-Length"] = str(len(body))
        return SwiftResponse(response.status, response.headers, body, response.reason)


class _DeleteError(Exception):
    """
    A manifest to delete cannot be read: C{message}, answered with
    C{status} by an asynchronous delete.
    """

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _is_container_path(path: str) -> bool:
    try:
        _, _, _, obj = split_path(path, 3, 4, True)
    except ValueError:
        return False
    return not obj


def _version_and_account(path: str) -> tuple[str, str]:
    """
    The version and account of an object path (the client's, or a
    segment's made from it).
    """
    version, account, _ = split_path(path, 2, 3, True)
    assert version is not None and account is not None
    return version, account


def _version_query(request: SwiftRequest) -> str:
    """
    C{&version-id=...} when C{request} names a version of its object
    (object versioning), so that a manifest fetched again is that version.
    """
    if "version-id" not in request.params:
        return ""
    return "&version-id=" + quote(request.params["version-id"], safe="")


@implementer(IPlugin, IProxyPluginFactory)
class _StaticLargeObjectFactory:
    name = "slo"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> StaticLargeObject:
        """
        @param conf: C{max_manifest_segments} (1000), C{max_manifest_size}
            (8 MiB), C{yield_frequency} (10), C{max_get_time} (86400),
            C{rate_limit_under_size} (1 MiB), C{rate_limit_after_segment}
            (10), C{rate_limit_segments_per_sec} (1), C{concurrency} (2),
            C{allow_async_delete} (true).
        @param context: provides C{reactor}, C{register_info}, and with
            C{allow_async_delete} C{info_cache} and C{expirer_queue}.
        @raise ConfigError: for an option that is not a non-negative
            integer.
        """
        segments = int_option(conf, "slo", "max_manifest_segments", 1000)
        size = int_option(conf, "slo", "max_manifest_size", 8 * 1024 * 1024)
        frequency = int_option(conf, "slo", "yield_frequency", 10)
        allow_async_delete = is_true(conf.get("allow_async_delete", "true"))
        context.register_info(
            "slo", max_manifest_segments=segments, max_manifest_size=size,
            yield_frequency=frequency,
            min_segment_size=1,
            allow_async_delete=allow_async_delete)
        return StaticLargeObject(
            context.reactor, segments, size,
            SegmentLimits.from_conf(conf, "slo"),
            int_option(conf, "slo", "rate_limit_under_size", 1024 * 1024),
            min(1000, int_option(conf, "slo", "concurrency", 2)),
            max(1, frequency),
            context.expirer_queue() if allow_async_delete else None,
            context.info_cache if allow_async_delete else None,
        )


sloPlugin = _StaticLargeObjectFactory()
