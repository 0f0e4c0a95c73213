# -*- test-case-name: tests.test_s3api_request -*-
"""
The C{s3api} filter (L{S3Api}): what L{twisted_proxy.plugins.s3api_plugin}
builds for C{[filter:s3api]}. It lives apart from its factory so that a
proxy without C{s3api} in its pipeline never imports the S3 API's modules.
"""

from __future__ import annotations

import json
from typing import Any, Optional
from urllib.parse import parse_qs

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from twisted_proxy.info.cache import InfoCache
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter
from twisted_proxy.plugins._support.subrequest import read_body
from twisted_proxy.plugins.s3api.dispatch import pick_handler
from twisted_proxy.plugins.s3api.errors import NotS3Request, S3Error
from twisted_proxy.plugins.s3api.options import S3Options
from twisted_proxy.plugins.s3api.request import S3Request
from twisted_proxy.plugins.s3api.response import s3_header_name
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse
from twisted_proxy.swift.paths import split_path
from twisted_proxy.swift.transid import TRANS_ID_ENVIRON_KEY

__all__ = ["S3Api"]

_log = Logger()

#: The largest JSON listing whose entries get their C{s3_etag} shown.
_MAX_LISTING = 4 * 1024 * 1024

_ALLOWED_METHODS = "GET, HEAD, PUT, POST, DELETE, OPTIONS"


@implementer(IProxyFilter)
class S3Api:
    """
    The s3api filter.

    @param options: the plugin's options.
    @param clock: tells the time signatures are checked against.
    @param info_cache: the proxy's info cache (bucket existence).
    @param policy_names: storage policy names by index.
    @param registry: the proxy's C{/info} sections: object versioning is
        offered when the pipeline has it, and multipart uploads need
        C{slo} (as Swift, which turns them off without it).
    """

    def __init__(self, options: S3Options, clock: IReactorTime, info_cache: InfoCache,
                 policy_names: Optional[dict[str, str]] = None,
                 registry: Optional[dict[str, Any]] = None) -> None:
        self._registry = registry if registry is not None else {}
        self._multipart = options.allow_multipart_uploads
        self.options = options
        self._clock = clock
        self._info_cache = info_cache
        self._policy_names = policy_names or {}

    def __call__(self, request: SwiftRequest, app: IProxyApplication
                 ) -> "Deferred[SwiftResponse]":
        if self.options.cors_preflight_allow_origin and self._is_preflight(request):
            return Deferred.fromCoroutine(self._preflight(request))
        return Deferred.fromCoroutine(self._handle(request, app))

    def _is_preflight(self, request: SwiftRequest) -> bool:
        if request.method != "OPTIONS" or not request.headers.get("Origin"):
            return False
        asked = request.headers.get("Access-Control-Request-Headers", "").lower()
        if "authorization" in asked and not request.path.startswith(("/v1/", "/v1.0/")):
            return True
        query = parse_qs(request.query_string)
        return "AWSAccessKeyId" in query or "X-Amz-Credential" in query

    async def _preflight(self, request: SwiftRequest) -> SwiftResponse:
        origin = request.headers["Origin"]
        allowed = self.options.cors_preflight_allow_origin
        if allowed != ["*"] and origin not in allowed:
            return SwiftResponse(401, {"Allow": _ALLOWED_METHODS}, b"")
        headers = HeaderDict({
            "Allow": _ALLOWED_METHODS,
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": _ALLOWED_METHODS,
            "Vary": "Origin, Access-Control-Request-Headers",
        })
        asked = {item.strip() for item in request.headers.get(
            "Access-Control-Request-Headers", "").lower().split(",") if item.strip()}
        if asked:
            headers["Access-Control-Allow-Headers"] = ", ".join(sorted(asked))
        return SwiftResponse(200, headers, b"")

    async def _handle(self, request: SwiftRequest, app: IProxyApplication) -> SwiftResponse:
        self.options.object_versioning = "object_versioning" in self._registry
        self.options.allow_multipart_uploads = self._multipart and "slo" in self._registry
        s3 = S3Request(request, self.options, _ListingEtags(app), self._info_cache,
                       self._clock.seconds(), self._policy_names)
        trans_id = request.environ.get(TRANS_ID_ENVIRON_KEY)
        try:
            await s3.read()
            handler = pick_handler(s3)
            response = await handler(s3)
        except NotS3Request:
            return await _ListingEtags(app)(request)
        except S3Error as error:
            log_info = request.environ.setdefault("swift.log_info", [])
            if isinstance(log_info, list):
                log_info.append(f"s3:err:{error.code}")
            response = error.response(trans_id, request.method)
        except Exception as error:
            _log.failure("s3api: error answering {request!r}", request=request)
            response = S3Error("InternalError", str(error) or None).response(
                trans_id, request.method)
        if trans_id is not None:
            response.headers["x-amz-id-2"] = trans_id
            response.headers["x-amz-request-id"] = trans_id
        response.headers = _s3_spelling(response.headers)
        if "s3api.backend_path" in request.environ:
            request.environ.setdefault("swift.backend_path",
                                       request.environ["s3api.backend_path"])
        return response


@implementer(IProxyApplication)
class _ListingEtags:
    """
    The rest of the pipeline, with JSON container listings showing
    C{s3_etag} (from a multipart upload's C{hash} parameters) as Swift's
    s3api does.
    """

    def __init__(self, app: IProxyApplication) -> None:
        self._app = app

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        if request.method != "GET":
            return self._app(request)  # type: ignore[no-any-return]
        try:
            version, _account, _container = split_path(request.path, 3, 3)
        except ValueError:
            return self._app(request)  # type: ignore[no-any-return]
        if version not in ("v1", "v1.0"):
            return self._app(request)  # type: ignore[no-any-return]
        return Deferred.fromCoroutine(self._listing(request))

    async def _listing(self, request: SwiftRequest) -> SwiftResponse:
        response: SwiftResponse = await self._app(request)
        content_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
        try:
            length = int(response.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if content_type != "application/json" or length < 0 or length > _MAX_LISTING \
                or not 200 <= response.status < 300:
            return response
        body = await read_body(response.body)
        try:
            listing = json.loads(body)
            changed = False
            for item in listing:
                if "subdir" in item:
                    continue
                value, params = _split_params(item["hash"])
                if "s3_etag" in params:
                    item["s3_etag"] = '"%s"' % params.pop("s3_etag")
                    item["hash"] = value + "".join(f"; {k}={v}" for k, v in params.items())
                    changed = True
        except (TypeError, KeyError, ValueError, AttributeError):
            response.body = body
            return response
        if changed:
            body = json.dumps(listing).encode("ascii")
            response.headers["Content-Length"] = str(len(body))
        response.body = body
        return response


def _s3_spelling(headers: HeaderDict) -> HeaderDict:
    """
    C{headers} with names as S3 sends them, sent as they are spelled.
    """
    spelled = HeaderDict([(s3_header_name(name), value) for name, value in headers.items()])
    spelled.verbatim = True
    return spelled


def _split_params(value: str) -> tuple[str, dict[str, str]]:
    first, *rest = value.split(";")
    params: dict[str, str] = {}
    for item in rest:
        name, _, text = item.strip().partition("=")
        if name:
            params[name.strip().lower()] = text.strip()
    return first.strip(), params
