# -*- test-case-name: tests.test_dlo -*-
"""
The C{dlo} plugin: dynamic large objects, as Swift 2.38.3's C{dlo}
middleware.

An object whose metadata holds C{X-Object-Manifest: <container>/<prefix>}
is a manifest. A C{GET} or C{HEAD} of it answers for the concatenation of
every object in C{<container>} whose name starts with C{<prefix>}, in
listing order (the listing is read a page of C{container_listing_limit}
names at a time):

 - C{Content-Length} is the sum of the segments' sizes and C{Etag} the
   quoted MD5 of their concatenated etags, when the first page of the
   listing is the whole of it; for longer listings neither is known in
   advance and the manifest's own C{Etag} stays;
 - a single C{Range} is served across segment boundaries (C{206}), or
   refused with C{416} when the listing shows it cannot be satisfied; a
   range past the first page of a longer listing, and a multi-range
   request, get the whole object (C{200});
 - C{If-Match}, C{If-None-Match}, C{If-Modified-Since} and
   C{If-Unmodified-Since} are judged against that C{Etag} and the
   manifest's C{Last-Modified}.

The listing and each segment are read with sub-requests sent through the
rest of the pipeline as the client, so the client needs read access to the
segments' container too. The body streams one segment at a time: each
segment's body producer is relayed to the client in turn, paused and
resumed with the client's connection, and the next segment is asked for
only when the previous one has ended. The first segment is fetched before
the answer starts, so that a missing first segment is a C{409} (a C{503}
when its servers fail); a later failure, a segment whose body does not
match its etag, a body longer or shorter than announced, or a read taking
more than C{max_get_time} seconds ends the response early, which aborts
the client's connection. After C{rate_limit_after_segment} segments, at
most C{rate_limit_segments_per_sec} segments a second are fetched (0: no
limit).

With C{?multipart-manifest=get} the manifest object itself is returned. An
object C{PUT} with an C{X-Object-Manifest} not of the form
C{<container>/<prefix>} is refused with C{400}.

Like Swift 2.38.3's middleware, the plugin adds nothing to C{/info}.
"""

from __future__ import annotations

import hashlib
import json
from calendar import timegm
from dataclasses import dataclass, field
from email.utils import parsedate
from typing import Any, Awaitable, Callable, Optional, Union
from urllib.parse import quote

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.plugin import IPlugin
from twisted.web.iweb import UNKNOWN_LENGTH
from zope.interface import implementer

from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.segments import (
    Segment,
    SegmentedBody,
    SegmentError,
    SegmentLimits,
    sleep,
)
from twisted_proxy.plugins._support.subrequest import (
    drop_body,
    object_path,
    read_body,
    sub_environ,
)
from twisted_proxy.swift.constraints import remove_backend_and_sysmeta_headers, unquote_name_header
from twisted_proxy.swift.etags import normalize_etag
from twisted_proxy.swift.http import (
    HTML,
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    str_to_wsgi,
    wire_quote,
)
from twisted_proxy.swift.ranges import ByteRange, parse_range_header

__all__ = ["DynamicLargeObject", "dloPlugin"]

_log = Logger()

_IGNORE_RANGE = "X-Backend-Ignore-Range-If-Metadata-Present"
_MANIFEST = "X-Object-Manifest"
_BAD_MANIFEST = "X-Object-Manifest must be in the format container/prefix"

#: A manifest's own body is read to its end (keeping its connection
#: usable) below this many bytes, and dropped above.
_DRAIN_LIMIT = 1024

#: The headers a sub-request takes from the client's request, besides its
#: token: those Swift's sub-requests inherit through the WSGI environ.
_INHERITED = ("Host", "Referer", "Origin", "Access-Control-Request-Method",
              "X-User-Id", "X-Project-Id")


class _ListingError(Exception):
    """
    A page of the segments' listing could not be read.
    """


def _bad_manifest_header(request: SwiftRequest) -> bool:
    """
    Whether the request sets an C{X-Object-Manifest} that is not
    C{<container>/<prefix>} (no query characters, no leading slash in the
    prefix).
    """
    value = request.headers.get(_MANIFEST)
    if value is None:
        return False
    container, sep, prefix = value.partition("/")
    return (not sep or not container or not prefix or "?" in value
            or "&" in value or prefix.startswith("/"))


def _etag_matches(header: str, etag: str) -> bool:
    """
    Whether an C{If-Match}/C{If-None-Match} list names C{etag} (or C{*}).
    """
    tags = {normalize_etag(tag.strip()) for tag in header.split(",") if tag.strip()}
    return "*" in tags or etag in tags


def _http_time(value: Optional[str]) -> Optional[int]:
    if not value:
        return None
    parsed = parsedate(value)
    if parsed is None:
        return None
    try:
        return timegm(parsed[:6] + (0, 0, 0))
    except (ValueError, OverflowError):
        return None


def _conditional_status(request: SwiftRequest, headers: HeaderDict) -> Optional[int]:
    """
    C{304} or C{412} when the request's conditions fail against the
    response C{headers}, as Swift judges them; C{None} to answer in full.
    """
    etag = headers.get("Etag", "").replace('"', "")
    if_none_match = request.headers.get("If-None-Match")
    if etag and if_none_match and _etag_matches(if_none_match, etag):
        return 304
    if_match = request.headers.get("If-Match")
    if etag and if_match and not _etag_matches(if_match, etag):
        return 412
    modified = _http_time(headers.get("Last-Modified"))
    if modified is not None:
        since = _http_time(request.headers.get("If-Modified-Since"))
        if since is not None and modified <= since:
            return 304
        unmodified_since = _http_time(request.headers.get("If-Unmodified-Since"))
        if unmodified_since is not None and modified > unmodified_since:
            return 412
    return None


def _byte_span(byte_range: ByteRange, length: int) -> Optional[tuple[int, int]]:
    """
    The C{(start, end)} offsets (end excluded) C{byte_range} selects in
    C{length} bytes, or C{None} when it selects nothing. As Swift's
    C{ranges_for_length}, a suffix range of an empty body selects
    C{(0, 0)}.
    """
    if byte_range.suffix is not None:
        if byte_range.suffix == 0:
            return None
        return max(0, length - byte_range.suffix), length
    assert byte_range.first is not None
    if byte_range.first >= length:
        return None
    if byte_range.last is None:
        return byte_range.first, length
    return byte_range.first, min(byte_range.last + 1, length)


#: L{_range_span}'s answer for a range the object cannot satisfy.
_UNSATISFIABLE = (-1, -1)


def _range_span(request: SwiftRequest, listed_bytes: int, complete: bool
                ) -> Optional[tuple[int, int]]:
    """
    The C{(start, end)} bytes (end excluded) a large object's GET is to
    serve, as Swift chooses them: for a single C{Range} that the first
    page of the listing (C{listed_bytes} long; C{complete} when it is the
    whole listing) can judge, its span or L{_UNSATISFIABLE}; C{None} for
    the whole object (no range, several, or one past the first page).
    """
    ranges = parse_range_header(request.headers.get("Range"))
    if ranges is None or len(ranges) != 1:
        return None
    only = ranges[0]
    ends_within = (only.suffix is None and only.last is not None
                   and only.last + 1 < listed_bytes)
    if not (complete or ends_within):
        return None
    span = _byte_span(only, listed_bytes)
    return _UNSATISFIABLE if span is None else span


async def _release(response: SwiftResponse) -> None:
    """
    Finish with a manifest's own body: read a small one to its end, drop
    a larger one.
    """
    body = response.body
    if isinstance(body, bytes):
        return
    length = body.length
    if length is not UNKNOWN_LENGTH and int(length) < _DRAIN_LIMIT:
        try:
            await read_body(body)
        except Exception:
            pass
        return
    drop_body(body)


_Listing = list[dict[str, Any]]


@dataclass
class _SegmentPlan:
    """
    Which segments a GET reads, in order, and which bytes of each: walks
    the listing (fetching further pages with C{more(marker)}) and skips the
    segments before and after the requested bytes.
    """

    page: _Listing
    more: Callable[[str], Awaitable[_Listing]]
    page_size: int
    first_byte: float = 0
    last_byte: float = float("inf")
    index: int = field(default=0)

    async def next(self) -> Optional[tuple[str, Optional[int], Optional[int]]]:
        """
        The next segment's name (as listed) and the first and last byte to
        read of it (C{None}: from the start, to the end); C{None} when no
        more are needed.

        @raise _ListingError: when a further page cannot be read.
        """
        while True:
            while self.index < len(self.page):
                entry = self.page[self.index]
                self.index += 1
                size = int(entry["bytes"])
                first, last = self.first_byte, self.last_byte
                self.first_byte = max(first - size, -1)
                self.last_byte = max(last - size, -1)
                if first >= size:
                    continue
                if last < 0:
                    return None
                return (entry["name"],
                        None if first <= 0 else int(first),
                        None if last >= size - 1 else int(last))
            if len(self.page) < self.page_size or self.last_byte < 0:
                return None
            marker = self.page[-1]["name"]
            self.page = await self.more(marker)
            self.index = 0


def _subrequest(request: SwiftRequest, path: str, query: str,
                headers: Optional[dict[str, str]] = None) -> SwiftRequest:
    """
    A C{GET} of C{path} (a WSGI string) made for C{request}, as the client:
    with its token and the headers Swift's sub-requests inherit.
    """
    sub_headers = HeaderDict()
    for name in ("X-Auth-Token", "X-Open-Expired") + _INHERITED:
        value = request.headers.get(name)
        if value is not None:
            sub_headers[name] = value
    sub_headers["User-Agent"] = (
        request.headers.get("User-Agent", "") + " DLO MultipartGET").strip()
    for name, value in (headers or {}).items():
        sub_headers[name] = value
    uri = wire_quote(path) + ("?" + query if query else "")
    return SwiftRequest("GET", uri.encode("ascii"), sub_headers,
                        client_ip=request.client_ip,
                        environ=sub_environ(request.environ, "DLO"))


@implementer(IProxyFilter)
class DynamicLargeObject:
    """
    Serves a manifest's segments as one object; checks C{X-Object-Manifest}
    on upload.

    @param clock: for C{max_get_time} and the segment rate limit.
    @param listing_limit: names per listing page
        (C{container_listing_limit}).
    @param limits: the time limit and segment rate limit of a GET.
    """

    def __init__(self, clock: IReactorTime, listing_limit: int = 10000,
                 limits: SegmentLimits = SegmentLimits()) -> None:
        self._clock = clock
        self._listing_limit = listing_limit
        self.limits = limits

    def __call__(
        self, request: SwiftRequest, app: IProxyApplication
    ) -> "Deferred[SwiftResponse]":
        parts = object_path(request.path)
        if parts is None:
            return app(request)  # type: ignore[no-any-return]
        method = request.method
        if method in ("GET", "HEAD") and request.params.get("multipart-manifest") != "get":
            return self._get_or_head(request, app, parts)
        if method == "PUT" and _bad_manifest_header(request):
            return succeed(error_response(400, _BAD_MANIFEST, method=method,
                                          content_type=HTML))
        return app(request)  # type: ignore[no-any-return]

    def _get_or_head(self, request: SwiftRequest, app: IProxyApplication,
                     parts: tuple[str, str, str, str]) -> "Deferred[SwiftResponse]":
        # The object servers then answer a manifest in full whatever the
        # Range: the range applies to the segments.
        ignore = request.headers.get(_IGNORE_RANGE)
        request.headers[_IGNORE_RANGE] = f"{ignore},{_MANIFEST}" if ignore else _MANIFEST
        # Most objects are no manifest: their response goes back as it came,
        # with no coroutine waiting for it.
        answer: Deferred[SwiftResponse] = app(request)
        return answer.addCallback(self._answered, request, app, parts)

    def _answered(self, response: SwiftResponse, request: SwiftRequest,
                  app: IProxyApplication, parts: tuple[str, str, str, str]) -> Any:
        manifest = response.headers.get(_MANIFEST)
        if manifest is None:
            return response
        return Deferred.fromCoroutine(self._manifest(request, app, parts, response, manifest))

    async def _manifest(self, request: SwiftRequest, app: IProxyApplication,
                        parts: tuple[str, str, str, str], response: SwiftResponse,
                        manifest: str) -> SwiftResponse:
        await _release(response)
        version, account = parts[0], parts[1]
        container, sep, prefix = unquote_name_header(manifest).partition("/")
        if not sep or not container:
            return error_response(500, method=request.method)
        return await self._large_object(request, app, response, version, account,
                                        container, prefix)

    async def _listing(self, request: SwiftRequest, app: IProxyApplication,
                       container_path: str, prefix: str, marker: str = ""
                       ) -> Union[SwiftResponse, _Listing]:
        """
        A page of the segments' listing, or the error answer to it.
        """
        query = "format=json&prefix=" + quote(prefix.encode("latin-1"))
        if marker:
            query += "&marker=" + quote(marker.encode("utf-8", "surrogateescape"))
        response: SwiftResponse = await app(_subrequest(request, container_path, query))
        if not response.is_success:
            return response
        try:
            listing = json.loads(await read_body(response.body))
        except ValueError:
            listing = None
        if not isinstance(listing, list):
            return error_response(500, method=request.method)
        return listing

    async def _large_object(self, request: SwiftRequest, app: IProxyApplication,
                            manifest: SwiftResponse, version: str, account: str,
                            container: str, prefix: str) -> SwiftResponse:
        method = request.method
        container_path = f"/{version}/{account}/{container}"
        started = self._clock.seconds()
        first_page = await self._listing(request, app, container_path, prefix)
        if isinstance(first_page, SwiftResponse):
            if method == "HEAD":
                drop_body(first_page.body)
                first_page.body = b""
            return first_page
        complete = len(first_page) < self._listing_limit
        listed_bytes = sum(int(entry["bytes"]) for entry in first_page)

        # The length the client is told (a Range answer's total), and the
        # body length the segments must add up to.
        total: Optional[int] = listed_bytes if complete else None
        body_length: Optional[int] = total
        span = _range_span(request, listed_bytes, complete)
        if span is _UNSATISFIABLE:
            refusal = {"Accept-Ranges": "bytes"}
            if complete:
                refusal["Content-Range"] = f"bytes */{listed_bytes}"
            return error_response(416, headers=refusal, method=method)
        if span is not None:
            total = listed_bytes
            body_length = span[1] - span[0]

        headers = manifest.headers.copy()
        remove_backend_and_sysmeta_headers(headers)
        headers.pop("Content-Length", None)
        headers.pop("Content-Range", None)
        if complete:
            digest = hashlib.md5(usedforsecurity=False)
            for entry in first_page:
                digest.update(normalize_etag(entry["hash"]).encode("utf-8"))
            headers["Etag"] = f'"{digest.hexdigest()}"'

        refused = _conditional_status(request, headers)
        if refused is not None:
            headers["Content-Length"] = "0"
            return SwiftResponse(refused, headers, b"")
        if method == "HEAD":
            if total is not None:
                headers["Content-Length"] = str(total)
            return SwiftResponse(200, headers, b"")
        status = 200
        if span is not None and total:
            status = 206
            headers["Content-Range"] = f"bytes {span[0]}-{span[1] - 1}/{total}"
        if body_length is not None:
            headers["Content-Length"] = str(body_length)

        pacer = self.limits.pacer(self._clock)

        async def more(marker: str) -> _Listing:
            page = await self._listing(request, app, container_path, prefix, marker)
            if isinstance(page, SwiftResponse):
                drop_body(page.body)
                raise _ListingError(
                    f"Got status {page.status} listing container /{account}/{container}")
            return page

        plan = _SegmentPlan(first_page, more, self._listing_limit)
        if span is not None:
            plan.first_byte, plan.last_byte = span[0], span[1] - 1

        async def following() -> Optional[Segment]:
            target = await plan.next()
            if target is None:
                return None
            await sleep(self._clock, pacer.delay())
            return await self._segment(request, app, container_path, *target)

        try:
            first = await following()
        except (SegmentError, _ListingError) as error:
            _log.error("DLO {path}: {why}", path=request.path, why=str(error))
            failed = getattr(error, "status", None)
            if failed is not None and failed >= 500:
                return error_response(503, headers={"Content-Type": "text/plain"})
            return error_response(409)
        if first is None:
            return SwiftResponse(status, headers, b"")
        body = SegmentedBody(
            first, lambda: Deferred.fromCoroutine(following()), body_length,
            self._clock, started + self.limits.max_get_time, request.path)
        return SwiftResponse(status, headers, body)

    async def _segment(self, request: SwiftRequest, app: IProxyApplication,
                       container_path: str, name: str, first: Optional[int],
                       last: Optional[int]) -> Segment:
        """
        GET one segment (as an object, never as a large object itself).

        @raise SegmentError: when it cannot be read.
        """
        path = f"{container_path}/{str_to_wsgi(name)}"
        extra = {}
        if first is not None or last is not None:
            extra["Range"] = f"bytes={first or 0}-{'' if last is None else last}"
        response: SwiftResponse = await app(
            _subrequest(request, path, "multipart-manifest=get", extra))
        if not response.is_success:
            drop_body(response.body)
            raise SegmentError(
                f"While processing manifest {request.path}, got "
                f"{response.status} while retrieving {path}", response.status)
        segment = Segment(path, response)
        etag = normalize_etag(response.headers.get("Etag", ""))
        if etag and not extra:
            segment.digest = hashlib.md5(usedforsecurity=False)
            segment.etag = etag
            declared = response.headers.get("Content-Length")
            segment.expected = int(declared) if declared and declared.isdigit() else None
        return segment


@implementer(IPlugin, IProxyPluginFactory)
class _DynamicLargeObjectFactory:
    name = "dlo"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> DynamicLargeObject:
        """
        @param conf: C{max_get_time} (seconds, default 86400),
            C{rate_limit_after_segment} (10), C{rate_limit_segments_per_sec}
            (1; 0 for no limit).
        @param context: provides C{reactor} and C{constraints}.
        @raise ConfigError: for an option that is not a non-negative
            integer.
        """
        return DynamicLargeObject(
            context.reactor,
            context.constraints.container_listing_limit,
            SegmentLimits.from_conf(conf, "dlo"),
        )


dloPlugin = _DynamicLargeObjectFactory()
