# -*- test-case-name: tests.test_container_shards -*-
"""
The container controller: C{/v1/<account>/<container>}.

A GET of a sharded container lists its shards' objects (see
L{twisted_proxy.controllers.shards}).
"""

from __future__ import annotations

import json
from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IConsumer
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from twisted_proxy.controllers.account import _listing_query
from twisted_proxy.controllers.base import (
    Controller,
    backend_request_headers,
    finish_listing,
    format_timestamp,
    partition,
)
from twisted_proxy.controllers.shards import ContainerListing
from twisted_proxy.info.cache import (
    account_key,
    container_key,
    headers_to_container_info,
    listing_namespaces_key,
)
from twisted_proxy.swift.constraints import (
    check_metadata,
    check_name_length,
    remove_owner_headers,
    transform_remove_headers,
)
from twisted_proxy.swift.http import (
    HTML,
    BytesBody,
    HeaderDict,
    SwiftResponse,
    error_response,
)
from twisted_proxy.swift.listing import (
    LISTING_REWRITES_ENVIRON_KEY,
    RAW_UNCHANGED_ATTRIBUTE,
    apply_listing_rewrites,
    listing_format,
    listing_response,
    raw_json_listing_ok,
    render_container_listing,
    render_listing_head,
)
from twisted_proxy.swift.truthy import is_true

__all__ = ["ContainerController"]

_ACL_HEADERS = ("X-Container-Read", "X-Container-Write")

_SHARDING_SYSMETA = "X-Container-Sysmeta-Sharding"

# The query parameters a container GET must have as UTF-8, as Swift checks
# them before anything else.
_UTF8_PARAMS = ("marker", "end_marker", "prefix", "delimiter", "path", "format",
                "reverse", "states", "includes")


@implementer(IConsumer)
class _Collect:
    """
    Keeps what a request body writes.
    """

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        pass

    def unregisterProducer(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        self.chunks.append(data)


async def _whole(body: Optional[IBodyProducer]) -> bytes:
    """
    The whole of a small request body (a private request's).
    """
    if body is None:
        return b""
    collect = _Collect()
    producing: Deferred[None] = body.startProducing(collect)
    await producing
    return b"".join(collect.chunks)


class ContainerController(Controller):
    """
    GET, HEAD, PUT, POST and DELETE of a container; for the proxy's own
    requests, Swift's private C{UPDATE}.
    """

    server_type = "Container"
    allowed_methods = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"})
    private_methods = frozenset({"UPDATE"})
    delay_denial = frozenset({"GET", "HEAD"})

    def _name_too_long(self) -> Optional[SwiftResponse]:
        assert self.container is not None
        return check_name_length(self.container, "container", self.account,
                                 self.context.constraints, self.request.method)
    def _client_headers(self, backend: HeaderDict, name_policy: bool = True
                        ) -> HeaderDict:
        """
        What the client sees of a container answer: owner-only headers for
        owners only, and (with C{name_policy}, for a container that exists)
        the storage policy by name.
        """
        headers = self.client_headers(backend)
        index = backend.get("X-Backend-Storage-Policy-Index")
        if index is not None and name_policy:
            policy = self.context.swift_conf.policy_by_index(int(index))
            if policy is not None:
                headers["X-Storage-Policy"] = policy.name
        return headers

    def _sharding_for_reseller(self, headers: HeaderDict, backend: HeaderDict) -> None:
        """
        Show a reseller whether the container may be sharded (Swift's
        C{X-Container-Sharding}, kept as sysmeta).
        """
        if self.request.environ.get("reseller_request"):
            headers["X-Container-Sharding"] = str(
                is_true(backend.get(_SHARDING_SYSMETA, "False")))

    def _set_sharding(self) -> None:
        """
        A reseller's C{X-Container-Sharding} on PUT or POST, kept as
        sysmeta.
        """
        value = self.request.headers.get("X-Container-Sharding")
        if self.request.environ.get("reseller_request") and value is not None:
            self.request.headers[_SHARDING_SYSMETA] = str(is_true(value))

    def _check_params(self) -> Optional[SwiftResponse]:
        """
        Swift's first checks of a container GET's query: UTF-8 values and
        a C{limit} within the container listing limit.
        """
        params = self.request.params
        method = self.request.method
        for name in _UTF8_PARAMS:
            value = params.get(name)
            if not value:
                continue
            try:
                value.encode("latin-1").decode("utf-8")
            except UnicodeDecodeError:
                return error_response(400, f'"{name}" parameter not valid UTF-8',
                                      method=method)
        limit = params.get("limit")
        most = self.context.constraints.container_listing_limit
        if limit and limit.isdigit() and limit.isascii() and int(limit) > most:
            return error_response(412, f"Maximum limit is {most}", method=method,
                                  content_type=HTML)
        return None

    async def GET(self) -> SwiftResponse:
        return await self._get_or_head()

    async def HEAD(self) -> SwiftResponse:
        return await self._get_or_head()

    async def _get_or_head(self) -> SwiftResponse:
        request = self.request
        fmt, refused = listing_format(request)
        if refused is not None:
            return refused
        if request.method == "GET":
            bad = self._check_params()
            if bad is not None:
                return bad
        account = await self.account_info()
        if not 200 <= account["status"] < 300 and not self.settings.account_autocreate:
            denied = self.authorize()
            if denied is not None:
                return denied
            return error_response(404, method=request.method)
        assert self.container is not None
        cached = False
        if request.method == "GET":
            response, cached = await ContainerListing(self).get()
        else:
            ring = self.context.rings.container
            part = partition(ring, self.account, self.container)
            response = await self.get_or_head(ring, part, _listing_query(request.query_string))
        if not cached and (200 <= response.status < 300 or response.status == 404):
            await self.context.info_cache.store(
                request.environ,
                container_key(self.account, self.container),
                headers_to_container_info(response.headers, response.status),
            )
        denied = self.authorize(response.headers.get("X-Container-Read"))
        if denied is not None:
            return denied
        if not 200 <= response.status < 300:
            backend = response.headers
            response.headers = self._client_headers(backend, name_policy=False)
            self._sharding_for_reseller(response.headers, backend)
            return response
        headers = self._client_headers(response.headers)
        self._sharding_for_reseller(headers, response.headers)
        if request.method == "HEAD":
            return finish_listing(render_listing_head(fmt, response.status, headers))
        allow_reserved = is_true(request.headers.get("X-Backend-Allow-Reserved-Names"))
        body = response.body
        if (fmt == "application/json" and isinstance(body, bytes)
                and self._raw_listing_ok(body, allow_reserved)):
            return finish_listing(
                listing_response(body, fmt, headers, response.status))
        items = json.loads(body or b"[]") if isinstance(body, bytes) else []
        items = apply_listing_rewrites(request.environ, items)
        return finish_listing(
            render_container_listing(items, fmt, self.container, headers, response.status,
                                     allow_reserved=allow_reserved))

    def _raw_listing_ok(self, body: bytes, allow_reserved: bool) -> bool:
        """
        Whether a container server's JSON listing C{body} is the JSON
        listing the client gets: as the proxy would render it (see
        L{raw_json_listing_ok}), and changed by no listing rewrite (see
        L{RAW_UNCHANGED_ATTRIBUTE}).
        """
        if not raw_json_listing_ok(body, allow_reserved):
            return False
        for rewrite in self.request.environ.get(LISTING_REWRITES_ENVIRON_KEY, ()):
            unchanged = getattr(rewrite, RAW_UNCHANGED_ATTRIBUTE, None)
            if unchanged is None or not unchanged(body):
                return False
        return True

    def _clean_acls(self) -> Optional[SwiftResponse]:
        clean = self.request.environ.get("swift.clean_acl")
        if clean is None:
            return None
        for name in _ACL_HEADERS:
            value = self.request.headers.get(name)
            if value is None:
                continue
            try:
                self.request.headers[name] = clean(name, value)
            except ValueError as error:
                return error_response(400, str(error), method=self.request.method)
        return None

    def _strip_owner_headers(self) -> None:
        if not self.request.environ.get("swift_owner"):
            remove_owner_headers(self.request.headers)

    def _policy_headers(self) -> tuple[dict[str, str], Optional[SwiftResponse]]:
        name = self.request.headers.pop("X-Storage-Policy", None)
        conf = self.context.swift_conf
        if not name:
            return {"X-Backend-Storage-Policy-Default": str(conf.default_policy().index)}, None
        policy = conf.policy_by_name(name)
        if policy is None:
            return {}, error_response(
                400, f"Invalid X-Storage-Policy {name!r}", method=self.request.method,
                content_type=HTML,
            )
        if policy.is_deprecated:
            return {}, error_response(
                400, f"Storage Policy {policy.name!r} is deprecated",
                method=self.request.method, content_type=HTML,
            )
        return {"X-Backend-Storage-Policy-Index": str(policy.index)}, None

    async def _write(self, method: str, extra: Optional[dict[str, str]] = None
                     ) -> SwiftResponse:
        request = self.request
        assert self.container is not None
        timestamp = format_timestamp(self.context.reactor.seconds())
        base = {"X-Timestamp": timestamp}
        if extra:
            base.update(extra)
        headers = backend_request_headers(request, base)
        account_ring = self.context.rings.account
        account_part = partition(account_ring, self.account)
        account_nodes = account_ring.get_part_nodes(account_part)

        def headers_for(slot: int) -> HeaderDict:
            slot_headers = headers.copy()
            if slot < len(account_nodes):
                node = account_nodes[slot]
                slot_headers["X-Account-Host"] = f"{node['ip']}:{node['port']}"
                slot_headers["X-Account-Partition"] = str(account_part)
                slot_headers["X-Account-Device"] = node["device"]
            return slot_headers

        ring = self.context.rings.container
        part = partition(ring, self.account, self.container)
        cache = self.context.info_cache
        await cache.invalidate(request.environ, container_key(self.account, self.container))
        await cache.invalidate(request.environ,
                               listing_namespaces_key(self.account, self.container))
        await cache.invalidate(request.environ, account_key(self.account))
        response = await self.write_to_nodes(ring, part, method, headers_for)
        response.headers = self._client_headers(response.headers)
        return response

    def _check_write(self) -> Optional[SwiftResponse]:
        """
        What PUT and POST refuse alike: bad ACLs, bad metadata, a name too
        long.
        """
        return (
            self._clean_acls()
            or check_metadata(self.request, "container", self.context.constraints)
            or self._name_too_long()
        )

    async def PUT(self) -> SwiftResponse:
        bad = self._check_write()
        if bad is not None:
            return bad
        policy_headers, bad = self._policy_headers()
        if bad is not None:
            return bad
        self._strip_owner_headers()
        self._set_sharding()
        transform_remove_headers(self.request.headers, "container")
        account = await self.account_info()
        if not 200 <= account["status"] < 300:
            if not self.settings.account_autocreate:
                return error_response(404, method="PUT")
            await self.autocreate_account(self.account)
        limit = self.settings.max_containers_per_account
        if (limit and (account.get("container_count") or 0) >= limit
                and self.account not in self.settings.max_containers_whitelist):
            # As in Swift: only a new container counts against the limit.
            existing = await self.container_info()
            if not 200 <= existing["status"] < 300:
                return error_response(
                    403, f"Reached container limit of {limit}", method="PUT",
                    content_type=HTML,
                )
        return await self._write("PUT", policy_headers)

    async def POST(self) -> SwiftResponse:
        bad = self._check_write()
        if bad is not None:
            return bad
        # A container's policy is set once, by PUT; POST ignores it.
        self.request.headers.pop("X-Storage-Policy", None)
        self._strip_owner_headers()
        self._set_sharding()
        transform_remove_headers(self.request.headers, "container")
        account = await self.account_info()
        if not 200 <= account["status"] < 300:
            return error_response(404, method="POST")
        return await self._write("POST")

    async def DELETE(self) -> SwiftResponse:
        account = await self.account_info()
        if not 200 <= account["status"] < 300:
            return error_response(404, method="DELETE")
        response = await self._write("DELETE")
        if response.status == 202:
            # A container server only accepts a DELETE after it has
            # already been asked once: the container is gone.
            return error_response(404, method="DELETE")
        return response

    async def UPDATE(self) -> SwiftResponse:
        """
        Swift's private C{UPDATE}: the rows of the request's JSON body
        merged into every replica of the container's database (which a
        container of an auto-create account, such as the expirer queue's,
        is created for); the answers merged by quorum. The caller names the
        policy (C{X-Backend-Storage-Policy-Index}); without one this is a
        proxy bug (a C{KeyError}), as in Swift.
        """
        request = self.request
        assert self.container is not None
        policy_index = request.headers["X-Backend-Storage-Policy-Index"]
        body = await _whole(request.body)
        headers = backend_request_headers(request, {
            "X-Timestamp": format_timestamp(self.context.reactor.seconds()),
            "X-Backend-Storage-Policy-Index": policy_index,
        })
        ring = self.context.rings.container
        part = partition(ring, self.account, self.container)
        return await self.write_to_nodes(ring, part, "UPDATE", lambda _: headers,
                                         body_for=lambda _: BytesBody(body))
