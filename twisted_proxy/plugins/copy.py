# -*- test-case-name: tests.test_copy -*-
"""
The C{copy} plugin: server-side copy, as Swift 2.38.3's C{copy} middleware.

Two requests copy an object without the client handling its bytes:

 - C{COPY /v1/<a>/<c>/<o>} with C{Destination: <c2>/<o2>} and, to copy into
   another account, C{Destination-Account: <a2>};
 - C{PUT /v1/<a2>/<c2>/<o2>} with C{X-Copy-From: <c>/<o>} and, to copy from
   another account, C{X-Copy-From-Account: <a>}.

Either becomes a C{GET} of the source and a C{PUT} of the destination sent
through the rest of the pipeline, so each is authorized as the client: the
GET against the source container's read ACL, the PUT against the
destination's write ACL. The source body streams into the PUT (its
L{IBodyProducer} becomes the PUT's body), so nothing is held in memory
beyond the chunk in hand.

The client's conditional and C{Range} headers apply to the source (a
C{Range} makes a partial copy). The destination gets the source's metadata
and content headers, overridden by those of the request; with
C{X-Fresh-Metadata: true} only the source's system metadata is kept. With
C{?multipart-manifest=get} a large object's manifest is copied rather than
its content. With C{?heartbeat=on} the answer is a C{202} at once, a space
every C{yield_frequency} seconds while the copy runs, then a summary in
C{text/plain} or C{application/json} (by C{Accept}).

Like Swift's, the plugin adds nothing to C{/info}. It adds C{COPY} to the
C{Allow} (and C{Access-Control-Allow-Methods}) of an object's C{OPTIONS}
answer.

Sub-requests set C{swift.sysmeta_ok} in their own copy of the environ, so
that object system metadata may pass from the source's GET answer to the
destination's PUT.
"""

from __future__ import annotations

import json
from typing import Any, Optional
from urllib.parse import urlencode

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.plugin import IPlugin
from twisted.web.iweb import UNKNOWN_LENGTH
from zope.interface import implementer

from twisted_proxy.config import ConfigError
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.heartbeat import Heartbeat
from twisted_proxy.plugins._support.subrequest import (
    SourceBody,
    drop_body,
    object_path,
    read_body,
    sub_environ,
)
from twisted_proxy.swift.constraints import (
    check_account_format,
    is_sys_meta,
    is_user_meta,
    remove_backend_and_sysmeta_headers,
    unquote_name_header,
)
from twisted_proxy.swift.etags import normalize_etag
from twisted_proxy.swift.http import (
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    wire_quote,
)
from twisted_proxy.swift.listing import best_accept_match
from twisted_proxy.swift.paths import split_path
from twisted_proxy.swift.transid import TRANS_ID_ENVIRON_KEY
from twisted_proxy.swift.truthy import is_true

__all__ = ["ServerSideCopy", "copyPlugin"]

#: Source headers never carried to the destination: a manifest is only
#: copied as such on request, the ETag is decided separately, and the
#: timestamps and transaction ids belong to the source's own answer.
_NOT_FROM_SOURCE = frozenset({
    "x-static-large-object", "x-object-manifest", "etag", "content-type",
    "x-timestamp", "x-backend-timestamp", "x-trans-id",
    "x-openstack-request-id", "content-length", "transfer-encoding",
})

_UPDATE_OVERRIDE_PREFIX = "x-object-sysmeta-container-update-override-"

_HEARTBEAT_FORMATS = ("text/plain", "application/json")

_DESTINATION_FORM = (
    "Destination header must be of the form <container name>/<object name>"
)
_COPY_FROM_FORM = (
    "X-Copy-From header must be of the form <container name>/<object name>"
)


def _container_and_object(value: str) -> Optional[tuple[str, str]]:
    """
    The container and object a C{Destination} or C{X-Copy-From} header
    names: percent-decoded, a leading slash optional, both parts
    non-empty; C{None} when the value has another form.
    """
    path = unquote_name_header(value)
    if not path.startswith("/"):
        path = "/" + path
    try:
        container, obj = split_path(path, 2, 2, True)
    except ValueError:
        return None
    assert container and obj
    return container, obj


def _html_error(status: int, body: str, method: str) -> SwiftResponse:
    # Swift's middleware errors carry a text body under swob's default type.
    return error_response(
        status, body, headers={"Content-Type": "text/html; charset=UTF-8"},
        method=method,
    )


def _is_object_sysmeta(name: str) -> bool:
    return is_sys_meta("object", name)


def _body_length(response: SwiftResponse) -> Optional[int]:
    """
    The length of C{response}'s body, or C{None} when it is not known in
    advance (a chunked source).
    """
    declared = response.headers.get("Content-Length")
    if declared is not None:
        try:
            return int(declared)
        except ValueError:
            return None
    body = response.body
    if isinstance(body, bytes):
        return len(body)
    length = body.length
    if length is UNKNOWN_LENGTH:
        return None
    return int(length)


def _replace_params(request: SwiftRequest, params: dict[str, str]) -> None:
    """
    Give C{request} the query parameters C{params} (WSGI strings).
    """
    request.params = dict(params)
    request.query = list(params.items())
    request.query_string = urlencode(
        [(name.encode("latin-1"), value.encode("latin-1"))
         for name, value in params.items()]
    )


def _sub_environ(request: SwiftRequest) -> dict[str, Any]:
    """
    The environ of the copy's sub-requests, which may see sysmeta.
    """
    environ = sub_environ(request.environ, "SSC")
    environ["swift.sysmeta_ok"] = True
    return environ


def _heartbeat_summary(
    out_type: str, status: str, body: str, errors: list[tuple[str, str]],
    fields: list[tuple[str, str]],
) -> bytes:
    """
    The last words of a heartbeat copy, as Swift writes them: the PUT's
    status and body, the copy's headers, and the source that failed.
    """
    summary: dict[str, Any] = {"Response Status": status, "Response Body": body}
    for name, value in fields:
        lowered = name.lower()
        if not lowered.startswith(("x-object-sysmeta-", "x-backend")):
            summary[name] = value
    if out_type == "application/json":
        summary["Errors"] = [list(error) for error in errors]
        return json.dumps(summary).encode("ascii")
    lines = [f"{name}: {summary[name]}\n" for name in sorted(summary)]
    lines.append("Errors:\n")
    lines.extend(f"{name}, {error}\n" for name, error in errors)
    return "".join(lines).encode("utf-8")


@implementer(IProxyFilter)
class ServerSideCopy:
    """
    Turns C{COPY} and C{PUT} with C{X-Copy-From} into a GET of the source
    and a PUT of the destination; adds C{COPY} to an object's C{OPTIONS}.

    @param clock: for heartbeats.
    @param max_file_size: the largest source, in bytes, that may be copied
        (a larger one, or one of unknown length, is refused with 413).
    @param yield_frequency: seconds between heartbeats.
    """

    def __init__(self, clock: IReactorTime, max_file_size: int,
                 yield_frequency: float = 10) -> None:
        self._clock = clock
        self._max_file_size = max_file_size
        self._yield_frequency = yield_frequency

    def __call__(
        self, request: SwiftRequest, app: IProxyApplication
    ) -> "Deferred[SwiftResponse]":
        parts = object_path(request.path)
        if parts is None:
            return app(request)
        method = request.method
        if method == "PUT" and request.headers.get("X-Copy-From"):
            return Deferred.fromCoroutine(self._put(request, app))
        if method == "COPY":
            request.environ["swift.orig_req_method"] = "COPY"
            return Deferred.fromCoroutine(self._copy(request, app, *parts))
        if method == "OPTIONS":
            d: Deferred[SwiftResponse] = app(request)
            return d.addCallback(_allow_copy)
        return app(request)

    def _own(self, request: SwiftRequest, response: SwiftResponse) -> SwiftResponse:
        """
        C{response}, made here, with the transaction id the pipeline gave
        the request (which its sub-requests carry too).
        """
        trans_id = request.environ.get(TRANS_ID_ENVIRON_KEY)
        if trans_id is not None:
            response.headers["X-Trans-Id"] = trans_id
            response.headers["X-Openstack-Request-Id"] = trans_id
        return response

    async def _copy(self, request: SwiftRequest, app: IProxyApplication,
                    version: str, account: str, container: str, obj: str
                    ) -> SwiftResponse:
        """
        A COPY: the same as a PUT of the destination copying from the
        request's object.
        """
        method = request.method
        headers = request.headers
        if not headers.get("Destination"):
            return self._own(request, _html_error(
                412, "Destination header required", method))
        dest_account = account
        if "Destination-Account" in headers:
            dest_account = unquote_name_header(headers["Destination-Account"])
            refused = check_account_format(dest_account, method)
            if refused is not None:
                refused.headers["Content-Type"] = "text/html; charset=UTF-8"
                return self._own(request, refused)
        destination = _container_and_object(headers["Destination"])
        if destination is None:
            return self._own(request, _html_error(412, _DESTINATION_FORM, method))
        dest_container, dest_obj = destination
        put = request.copy_for(
            "PUT", f"/{version}/{dest_account}/{dest_container}/{dest_obj}")
        put_headers = put.headers
        if "Destination-Account" in put_headers:
            put_headers["X-Copy-From-Account"] = wire_quote(account)
            del put_headers["Destination-Account"]
        del put_headers["Destination"]
        put_headers.pop("Transfer-Encoding", None)
        put_headers["Content-Length"] = "0"
        put_headers["X-Copy-From"] = wire_quote(f"/{container}/{obj}")
        return await self._put(put, app)

    async def _put(self, request: SwiftRequest, app: IProxyApplication
                   ) -> SwiftResponse:
        """
        A PUT with X-Copy-From: fetch the source, then store it.
        """
        method = request.method
        headers = request.headers
        try:
            declared = request.content_length
        except ValueError:
            return self._own(request, error_response(
                400, "Invalid Content-Length", method=method))
        if declared:
            return self._own(request, error_response(
                400, "Copy requests require a zero byte body",
                headers={"Content-Type": "text/plain"}, method=method))
        # An object path: the client's, or the destination a COPY names.
        version, account, _ = split_path(request.path, 2, 3, True)
        assert version is not None and account is not None
        source_account = account
        if headers.get("X-Copy-From-Account"):
            source_account = unquote_name_header(headers["X-Copy-From-Account"])
            refused = check_account_format(source_account, method)
            if refused is not None:
                refused.headers["Content-Type"] = "text/html; charset=UTF-8"
                return self._own(request, refused)
        source_name = _container_and_object(headers["X-Copy-From"])
        if source_name is None:
            return self._own(request, _html_error(412, _COPY_FROM_FORM, method))
        source_container, source_obj = source_name
        source_path = (
            f"/{version}/{source_account}/{source_container}/{source_obj}")

        source = await app(self._source_request(request, source_path))
        length = _body_length(source)
        if length is None or length > self._max_file_size:
            drop_body(source.body)
            return self._own(request, error_response(413, method=method))
        if source.status >= 300:
            remove_backend_and_sysmeta_headers(source.headers)
            return source

        sink = request.copy_for()
        sink.environ = _sub_environ(request)
        sink.headers = self._sink_headers(request, source)
        sink.headers["Content-Length"] = str(length)
        body = SourceBody(source.body, length)
        sink.body = body
        params = dict(sink.params)
        if params.get("multipart-manifest") == "get":
            if "X-Static-Large-Object" in source.headers:
                params["multipart-manifest"] = "put"
            if "X-Object-Manifest" in source.headers:
                del params["multipart-manifest"]
                sink.headers["X-Object-Manifest"] = source.headers["X-Object-Manifest"]
        params.pop("version-id", None)
        if params != sink.params:
            _replace_params(sink, params)

        copied = HeaderDict()
        copied["X-Copied-From-Account"] = wire_quote(source_account)
        copied["X-Copied-From"] = wire_quote(f"{source_container}/{source_obj}")
        if "Last-Modified" in source.headers:
            copied["X-Copied-From-Last-Modified"] = source.headers["Last-Modified"]
        if "X-Object-Version-Id" in source.headers:
            copied["X-Copied-From-Version-Id"] = source.headers["X-Object-Version-Id"]
        for name, value in sink.headers.items():
            # System metadata stays private, as Swift's gatekeeper keeps it.
            if is_user_meta("object", name) or name.lower() == "x-delete-at":
                copied[name] = value

        if is_true(request.params.get("heartbeat")):
            return self._heartbeat(request, app, sink, body, copied)
        try:
            response = await app(sink)
        finally:
            body.drop()
        if response.is_success:
            for name, value in copied.items():
                response.headers[name] = value
        return response

    def _source_request(self, request: SwiftRequest, source_path: str
                        ) -> SwiftRequest:
        """
        The GET of the source: the client's headers (so conditions and
        Range apply to the source), from the newest replica.
        """
        get = request.copy_for("GET", source_path)
        get.environ = _sub_environ(request)
        for name in ("Content-Length", "Transfer-Encoding",
                     "X-Backend-Storage-Policy-Index"):
            get.headers.pop(name, None)
        get.headers["X-Newest"] = "true"
        if get.params.get("multipart-manifest") == "get":
            params = dict(get.params)
            params["format"] = "raw"
            _replace_params(get, params)
        return get

    def _sink_headers(self, request: SwiftRequest, source: SwiftResponse
                      ) -> HeaderDict:
        """
        The destination PUT's headers: the source's metadata and content
        headers under the request's own (or, with X-Fresh-Metadata, only
        the source's system metadata).
        """
        client = request.headers
        if is_true(client.get("X-Fresh-Metadata", "false")):
            sink = client.copy()
            for name, value in source.headers.items():
                if _is_object_sysmeta(name) and name not in client:
                    sink[name] = value
        else:
            sink = HeaderDict()
            for name, value in source.headers.items():
                if name.lower() not in _NOT_FROM_SOURCE:
                    sink[name] = value
            for name, value in client.items():
                sink[name] = value
        multipart_get = request.params.get("multipart-manifest") == "get"
        if (source.status == 200
                and "X-Static-Large-Object" not in source.headers
                and ("X-Object-Manifest" not in source.headers or multipart_get)):
            # The object servers then check the copy against the source.
            etag = source.headers.get("Etag")
            if etag:
                sink["Etag"] = normalize_etag(etag)
            else:
                sink.pop("Etag", None)
        else:
            # A partial or assembled copy is not what the source's
            # overrides describe.
            for name in [n for n in sink if n.lower().startswith(_UPDATE_OVERRIDE_PREFIX)]:
                del sink[name]
        sink.pop("X-Copy-From", None)
        sink.pop("X-Copy-From-Account", None)
        sink.pop("Transfer-Encoding", None)
        if not client.get("Content-Type"):
            source_type = source.headers.get("Content-Type")
            if source_type is not None:
                sink["Content-Type"] = source_type
        return sink

    def _heartbeat(self, request: SwiftRequest, app: IProxyApplication,
                   sink: SwiftRequest, body: SourceBody, copied: HeaderDict
                   ) -> SwiftResponse:
        """
        Answer 202 at once and keep the client's connection alive while
        the PUT runs; the body ends with the PUT's outcome.
        """
        try:
            out_type = best_accept_match(request.headers.get("Accept"),
                                         _HEARTBEAT_FORMATS)
        except ValueError:
            out_type = None
        out_type = out_type or "text/plain"

        async def outcome() -> bytes:
            try:
                response = await app(sink)
                status = f"{response.status} {response.reason}"
                text = (await read_body(response.body)).decode("utf-8", "replace")
                ok = response.is_success
                headers = list(response.headers.wire_items())
                if isinstance(response.body, bytes) and "Content-Length" not in response.headers:
                    headers.append(("Content-Length", str(len(response.body))))
            except CancelledError:
                raise
            except Exception as error:
                status, text, ok, headers = "500 Internal Error", str(error), False, []
            finally:
                body.drop()
            errors = []
            if not ok:
                errors.append((wire_quote(copied["X-Copied-From"]), status))
            return _heartbeat_summary(
                out_type, status, text, errors, list(copied.items()) + headers)

        producer = Heartbeat(self._clock, self._yield_frequency,
                              Deferred.fromCoroutine(outcome()))
        return self._own(request, SwiftResponse(
            202, {"Content-Type": out_type}, producer))


def _allow_copy(response: SwiftResponse) -> SwiftResponse:
    """
    Add C{COPY} to the methods a successful C{OPTIONS} answer lists.
    """
    if response.is_success:
        for name in ("Allow", "Access-Control-Allow-Methods"):
            value = response.headers.get(name)
            if value is not None and "COPY" not in value:
                response.headers[name] = value + ", COPY"
    return response


@implementer(IPlugin, IProxyPluginFactory)
class _CopyFactory:
    name = "copy"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> ServerSideCopy:
        """
        @param conf: C{yield_frequency}, seconds between heartbeats
            (default 10).
        @param context: provides C{reactor} and C{constraints}.
        @raise ConfigError: for a C{yield_frequency} that is not a positive
            integer.
        """
        raw = conf.get("yield_frequency", "10")
        try:
            frequency = int(raw)
        except ValueError:
            raise ConfigError(
                f"[filter:copy] yield_frequency: not an integer: {raw!r}") from None
        if frequency <= 0:
            raise ConfigError(
                f"[filter:copy] yield_frequency: must be positive: {raw!r}")
        return ServerSideCopy(
            context.reactor, context.constraints.max_file_size, frequency)


copyPlugin = _CopyFactory()
