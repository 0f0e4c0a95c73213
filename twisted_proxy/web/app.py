# -*- test-case-name: tests.test_getfailover,tests.test_proxy_logging,tests.e2e.test_e2e -*-
"""
The proxy application: routes a L{SwiftRequest} to the controller for its
path, after the pipeline's plugins have seen it.
"""

from __future__ import annotations

import json
from typing import Any, Optional, Sequence

from twisted.internet.defer import CancelledError, Deferred, fail
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_proxy.controllers.account import AccountController
from twisted_proxy.controllers.base import Controller, with_cors
from twisted_proxy.controllers.container import ContainerController
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.controllers.obj import ObjectController
from twisted_proxy.controllers.obj_ec import object_controller
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter
from twisted_proxy.swift.acl import ACCOUNT_ACL_ENVIRON_KEY
from twisted_proxy.swift.constraints import (
    check_framing_headers,
    check_path_utf8,
    remove_backend_and_sysmeta_headers,
)
from twisted_proxy.swift.http import HTML, SwiftRequest, SwiftResponse, error_response
from twisted_proxy.swift.listing import listing_format
from twisted_proxy.swift.paths import split_swift_path
from twisted_proxy.swift.transid import TRANS_ID_ENVIRON_KEY, ensure_trans_id, trans_id_suffix
from twisted_proxy.swift.truthy import is_true

__all__ = ["ProxyApplication", "Pipeline"]

_log = Logger()

_CONTROLLERS: dict[str, type[Controller]] = {
    "account": AccountController,
    "container": ContainerController,
    "object": ObjectController,
}


@implementer(IProxyApplication)
class ProxyApplication:
    """
    The end of the pipeline: routes requests to controllers.
    """

    def __init__(self, context: ProxyContext) -> None:
        self.context = context

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        return Deferred.fromCoroutine(self.handle(request))

    async def handle(self, request: SwiftRequest) -> SwiftResponse:
        """
        Answer C{request}; unexpected errors become a 500, logged.
        """
        environ = request.environ
        # As Swift's application, for a request no catch_errors saw.
        suffix = trans_id_suffix(self.context.settings.trans_id_suffix,
                                 request.headers.get("X-Trans-Id-Extra"))
        ensure_trans_id(environ, self.context.reactor.seconds(), suffix)
        try:
            response = await self._route(request)
        except CancelledError:
            raise
        except Exception:
            _log.failure("ERROR Unhandled exception in request {request}", request=request)
            response = error_response(500, method=request.method)
        response.headers["X-Trans-Id"] = environ["swift.trans_id"]
        response.headers["X-Openstack-Request-Id"] = environ["swift.trans_id"]
        return response

    async def _route(self, request: SwiftRequest) -> SwiftResponse:
        method = request.method
        refused = check_framing_headers(request) or check_path_utf8(request)
        if refused is not None:
            return refused
        if request.path == "/info":
            return self._denied_host(request) or self._info(request)
        try:
            version, account, container, obj = split_swift_path(request.path)
        except ValueError:
            return error_response(404, method=method)
        if account and version not in self.context.constraints.valid_api_versions:
            return error_response(400, method=method)
        if obj and container and account:
            kind = "object"
        elif container and account:
            kind = "container"
        elif account:
            kind = "account"
        else:
            return error_response(412, "Bad URL", method=method, content_type=HTML)
        assert account is not None
        controller = _CONTROLLERS[kind](
            self.context, request, account,
            container if kind != "account" else None,
            obj if kind == "object" else None,
        )
        if kind != "object" and method in ("GET", "HEAD"):
            # As Swift's listing_formats stage, refuse an unusable format
            # before anyone looks at credentials.
            _, refused = listing_format(request)
            if refused is not None:
                return refused
        denied_host = self._denied_host(request)
        if denied_host is not None:
            return denied_host
        if kind == "object":
            # The container's storage policy decides (erasure coding): a
            # lookup, so only for a request that got this far.
            controller = await object_controller(controller)
        allowed = controller.allowed_methods
        if is_true(request.headers.get("X-Backend-Allow-Private-Methods")):
            allowed = allowed | controller.private_methods
        if method not in allowed:
            return error_response(
                405,
                headers={"Allow": ", ".join(sorted(allowed))},
                method=method,
            )
        authorize = request.environ.get("swift.authorize")
        restore = None
        if authorize is not None and request.environ.get("REMOTE_USER"):
            # Account ACLs grant access to other users; the auth plugin
            # needs the stored ACL before deciding.
            info = await controller.account_info()
            request.environ[ACCOUNT_ACL_ENVIRON_KEY] = info["sysmeta"].get(
                "core-access-control")
        if authorize is not None:
            denied = authorize(request)
            if denied is None:
                restore = request.environ.pop("swift.authorize")
            elif method not in controller.delay_denial:
                return denied  # type: ignore[no-any-return]
        try:
            handler = getattr(controller, method)
            return await with_cors(controller, handler)
        finally:
            if restore is not None:
                request.environ["swift.authorize"] = restore

    def _denied_host(self, request: SwiftRequest) -> Optional[SwiftResponse]:
        """
        403 when the request's host (its C{Host} header without the port,
        or the server's name without one) is in C{deny_host_headers}, as
        Swift's proxy answers once it knows the path is one it serves.
        """
        denied = self.context.settings.deny_host_headers
        if not denied:
            return None
        host = request.headers.get("Host")
        if host is None:
            environ = request.environ
            host = f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
        if host.split(":")[0] in denied:
            return error_response(403, "Invalid host header", method=request.method,
                                  content_type=HTML)
        return None

    def _info(self, request: SwiftRequest) -> SwiftResponse:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            return error_response(
                405, headers={"Allow": "GET, HEAD, OPTIONS"}, method=request.method
            )
        if not self.context.settings.expose_info:
            return error_response(403, method=request.method)
        if request.method == "OPTIONS":
            return SwiftResponse(
                200, {"Allow": "GET, HEAD, OPTIONS", "Content-Length": "0"}, b""
            )
        body = json.dumps(self.context.info_registry, sort_keys=True).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=UTF-8"}
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            body = b""
        return SwiftResponse(200, headers, body)


@implementer(IProxyApplication)
class Pipeline:
    """
    The filters of C{[pipeline:main]} in front of the application: the
    first filter sees the request first and the response last.

    Where a request enters it, the pipeline does what Swift's
    C{catch_errors} does: the request gets its transaction id before any
    filter sees it; every response, whoever made it (a filter that answers
    itself included), carries it as C{X-Trans-Id} and
    C{X-Openstack-Request-Id}; an unexpected error anywhere becomes a
    C{500 An error occurred}, logged. As Swift's C{gatekeeper} does on
    the way out, no response leaves it with backend headers or system
    metadata (a filter's note to another, such as staticweb's
    C{X-Backend-Content-Generator}, stays inside).

    @param clock: gives a request entering the pipeline its transaction
        id; without it, the application gives one to a request that has
        none.
    @param trans_id_suffix: Swift's C{trans_id_suffix}: appended to every
        transaction id minted here (before the client's
        C{X-Trans-Id-Extra}).
    """

    def __init__(self, filters: Sequence[IProxyFilter], app: IProxyApplication,
                 clock: Optional[IReactorTime] = None, trans_id_suffix: str = "") -> None:
        self.filters = list(filters)
        entry = app
        for stage in reversed(self.filters):
            entry = _bind(stage, entry)
        self._entry = entry
        self._clock = clock
        self._suffix = trans_id_suffix

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        environ = request.environ
        if self._clock is not None:
            suffix = trans_id_suffix(self._suffix, request.headers.get("X-Trans-Id-Extra"))
            ensure_trans_id(environ, self._clock.seconds(), suffix)
        try:
            answered: Deferred[SwiftResponse] = self._entry(request)
        except Exception:
            answered = fail()
        return answered.addErrback(_failed, request).addCallback(_stamp, environ)


def _failed(failure: Failure, request: SwiftRequest) -> SwiftResponse:
    """
    Swift's C{catch_errors} answer to an error nothing else handled; a
    cancellation (the client left) passes on.
    """
    if failure.check(CancelledError):
        failure.raiseException()
    _log.failure("Error: An error occurred ({request})", failure, request=request)
    return error_response(500, "An error occurred", method=request.method)


def _stamp(response: SwiftResponse, environ: dict[str, Any]) -> SwiftResponse:
    remove_backend_and_sysmeta_headers(response.headers)
    trans_id = environ.get(TRANS_ID_ENVIRON_KEY)
    if trans_id is not None:
        response.headers["X-Trans-Id"] = trans_id
        response.headers["X-Openstack-Request-Id"] = trans_id
    return response


def _bind(stage: IProxyFilter, rest: IProxyApplication) -> IProxyApplication:
    """
    C{stage} with C{rest} as the application it passes requests on to.
    """

    def run(request: SwiftRequest) -> "Deferred[SwiftResponse]":
        return stage(request, rest)  # type: ignore[no-any-return]

    return run  # type: ignore[return-value]
