# -*- test-case-name: tests.e2e.test_e2e -*-
"""
The account controller: C{/v1/<account>}.
"""

from __future__ import annotations

import json

from twisted_proxy.controllers.base import (
    Controller,
    backend_request_headers,
    finish_listing,
    format_timestamp,
    partition,
)
from twisted_proxy.info.cache import account_key, headers_to_account_info
from twisted_proxy.swift.acl import format_account_acl, parse_account_acl
from twisted_proxy.swift.constraints import (
    check_metadata,
    check_name_length,
    transform_remove_headers,
)
from twisted_proxy.swift.http import HeaderDict, SwiftResponse, error_response
from twisted_proxy.swift.listing import (
    fake_account_listing_headers,
    listing_format,
    listing_response,
    raw_json_listing_ok,
    render_account_listing,
    render_listing_head,
)
from twisted_proxy.swift.truthy import is_true

__all__ = ["AccountController"]

_ACL_SYSMETA = "X-Account-Sysmeta-Core-Access-Control"


class AccountController(Controller):
    """
    GET, HEAD, PUT, POST and DELETE of an account.
    """

    server_type = "Account"
    allowed_methods = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"})

    def _name_too_long(self) -> SwiftResponse | None:
        return check_name_length(self.account, "account", self.account,
                                 self.context.constraints, self.request.method)

    def _finish_headers(self, backend: HeaderDict, show_acl: bool = False) -> HeaderDict:
        """
        The client's view of an account response: owner-only headers only
        for owners, and the account ACL (kept as sysmeta) shown as
        C{X-Account-Access-Control} to owners, or always after a write.
        """
        headers = self.client_headers(backend)
        if self.request.environ.get("swift_owner") or show_acl:
            acl = parse_account_acl(backend.get(_ACL_SYSMETA))
            if acl:
                headers["X-Account-Access-Control"] = format_account_acl(acl)
        return headers

    async def GET(self) -> SwiftResponse:
        return await self._get_or_head()

    async def HEAD(self) -> SwiftResponse:
        return await self._get_or_head()

    async def _get_or_head(self) -> SwiftResponse:
        request = self.request
        bad = self._name_too_long()
        if bad is not None:
            return bad
        fmt, refused = listing_format(request)
        if refused is not None:
            return refused
        ring = self.context.rings.account
        part = partition(ring, self.account)
        query = _listing_query(request.query_string)
        response = await self.get_or_head(ring, part, query)
        info_status = response.status
        if response.status == 404:
            if response.headers.get("X-Account-Status", "").lower() == "deleted":
                response = error_response(410, method=request.method)
            elif self.settings.account_autocreate:
                response = self._fake_listing()
        if 200 <= info_status < 300 or info_status == 404:
            await self.context.info_cache.store(
                request.environ,
                account_key(self.account),
                headers_to_account_info(response.headers, info_status),
            )
        if not 200 <= response.status < 300:
            response.headers = self._finish_headers(response.headers)
            return response
        headers = self._finish_headers(response.headers)
        if request.method == "HEAD":
            return finish_listing(render_listing_head(fmt, response.status, headers))
        allow_reserved = is_true(request.headers.get("X-Backend-Allow-Reserved-Names"))
        body = response.body
        if (fmt == "application/json" and isinstance(body, bytes)
                and raw_json_listing_ok(body, allow_reserved)):
            # Sent as the account server wrote it: what rendering it gives.
            return finish_listing(listing_response(body, fmt, headers, response.status))
        items = json.loads(body or b"[]") if isinstance(body, bytes) else []
        return finish_listing(
            render_account_listing(items, fmt, self.account, headers, response.status,
                                   allow_reserved=allow_reserved))

    def _fake_listing(self) -> SwiftResponse:
        headers = fake_account_listing_headers(self.context.reactor.seconds())
        return SwiftResponse(200, headers, b"[]")

    async def _write(self, method: str) -> SwiftResponse:
        request = self.request
        transform_remove_headers(request.headers, "account")
        timestamp = format_timestamp(self.context.reactor.seconds())
        headers = backend_request_headers(request, {"X-Timestamp": timestamp})
        ring = self.context.rings.account
        part = partition(ring, self.account)
        await self.context.info_cache.invalidate(request.environ, account_key(self.account))
        response = await self.write_to_nodes(ring, part, method, lambda _: headers)
        return response

    async def PUT(self) -> SwiftResponse:
        if not self.settings.allow_account_management:
            return self._not_allowed()
        bad = check_metadata(self.request, "account", self.context.constraints)
        if bad is not None:
            return bad
        bad = self._name_too_long()
        if bad is not None:
            return bad
        response = await self._write("PUT")
        response.headers = self._finish_headers(response.headers, show_acl=True)
        return response

    async def POST(self) -> SwiftResponse:
        bad = self._name_too_long()
        if bad is not None:
            return bad
        bad = check_metadata(self.request, "account", self.context.constraints)
        if bad is not None:
            return bad
        response = await self._write("POST")
        if response.status == 404 and self.settings.account_autocreate:
            await self.autocreate_account(self.account)
            response = await self._write("POST")
        response.headers = self._finish_headers(response.headers, show_acl=True)
        return response

    async def DELETE(self) -> SwiftResponse:
        if self.request.query_string:
            return error_response(400, method="DELETE")
        if not self.settings.allow_account_management:
            return self._not_allowed()
        response = await self._write("DELETE")
        response.headers = self._finish_headers(response.headers)
        return response

    def _not_allowed(self) -> SwiftResponse:
        return error_response(
            405,
            headers={"Allow": ", ".join(sorted(self.allowed_methods))},
            method=self.request.method,
        )


def _listing_query(query_string: str) -> str:
    """
    The client's query string for a backend listing, asking for JSON.
    """
    kept = [
        piece
        for piece in query_string.split("&")
        if piece and not piece.startswith("format=") and piece != "format"
    ]
    kept.append("format=json")
    return "&".join(kept)

