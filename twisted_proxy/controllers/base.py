# -*- test-case-name: tests.test_getfailover,tests.test_cors,tests.test_partition -*-
"""
What the account, container and object controllers share: building backend
requests and client responses, finding a source for a read (with
L{twisted_proxy.backend.sources}), writing to every replica and merging the
answers by quorum, and account/container info lookups.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Awaitable, Callable, Iterable, Iterator, Literal, Optional

from twisted.internet.defer import ensureDeferred
from twisted.web.iweb import IBodyProducer

from twisted_proxy.backend.content import BackendAnswer, read_answer
from twisted_proxy.backend.nodes import (
    NODE_FAILURES,
    HandoffLog,
    NodeReporter,
    iter_nodes,
    node_path,
    node_paths,
)
from twisted_proxy.backend.quorum import gather_answers
from twisted_proxy.backend.sources import Found, SourceFinder, good_status
from twisted_proxy.config import PolicyOptions
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.cache import (
    AccountInfo,
    ContainerInfo,
    account_key,
    container_key,
    headers_to_account_info,
    headers_to_container_info,
)
from twisted_proxy.swift.bestresponse import best_response, quorum_size
from twisted_proxy.swift.constraints import remove_owner_headers
from twisted_proxy.swift.cors import CORSPolicy, add_cors_headers, preflight_response
from twisted_proxy.swift.etags import normalize_etag
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse, error_response
from twisted_proxy.swift.listing import add_vary_accept
from twisted_proxy.swift.ring import Node
from twisted_proxy.swift.truthy import is_true

if TYPE_CHECKING:
    from twisted_proxy.backend.nodes import RingLike

__all__ = [
    "Controller",
    "BackendAnswer",
    "format_timestamp",
    "backend_request_headers",
    "client_response_headers",
    "finish_listing",
    "partition",
    "with_cors",
]

# Headers that describe one hop, never relayed.
_HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
        "te", "trailer", "trailers", "transfer-encoding", "upgrade", "host",
        "content-length", "expect", "x-auth-token", "x-storage-token",
        "x-service-token",
    }
)

_RESPONSE_DROP = frozenset(
    {
        "connection", "keep-alive", "transfer-encoding", "upgrade", "date",
        "server", "trailer",
    }
)

_SYSMETA = ("x-account-sysmeta-", "x-container-sysmeta-", "x-object-sysmeta-",
            "x-object-transient-sysmeta-")

# The prefixes of the headers a client never sees, with and without
# system metadata.
_HIDDEN = ("x-backend-",)
_HIDDEN_WITH_SYSMETA = _HIDDEN + _SYSMETA


def format_timestamp(seconds: float) -> str:
    """
    Swift's normal timestamp form, C{%016.05f}.
    """
    return f"{seconds:016.05f}"


def backend_request_headers(
    request: SwiftRequest, extra: Optional[dict[str, str]] = None
) -> HeaderDict:
    """
    The headers for a backend request made for C{request}: its end-to-end
    headers. What a client may not set (sysmeta, C{X-Backend-*}) was removed
    when the request arrived; what plugins set since then is kept.
    """
    headers = HeaderDict()
    for name, value in request.headers.items():
        if name.lower() in _HOP_BY_HOP:
            continue
        headers[name] = value
    for name, value in request.environ.get("swift.backend_headers", {}).items():
        headers[name] = value
    headers["X-Trans-Id"] = request.environ["swift.trans_id"]
    headers["User-Agent"] = "proxy-server twisted-proxy"
    if extra:
        for name, value in extra.items():
            headers[name] = value
    return headers


def client_response_headers(backend: HeaderDict, keep_sysmeta: bool = False) -> HeaderDict:
    """
    The headers of a backend response that the client may see.
    """
    headers = HeaderDict()
    hidden = _HIDDEN if keep_sysmeta else _HIDDEN_WITH_SYSMETA
    for name, value in backend.items():
        lowered = name.lower()
        if lowered in _RESPONSE_DROP or lowered.startswith(hidden):
            continue
        if lowered == "etag":
            # Object servers quote it; Swift's clients get it bare.
            value = normalize_etag(value)
        headers[name] = value
    return headers


def finish_listing(response: SwiftResponse) -> SwiftResponse:
    """
    The last touches Swift gives an account or container GET/HEAD: ranges
    are advertised, the body varies with C{Accept}, and the backend's
    C{X-Put-Timestamp} stays behind.
    """
    response.headers["Accept-Ranges"] = "bytes"
    add_vary_accept(response.headers)
    response.headers.pop("X-Put-Timestamp", None)
    return response


def partition(ring: "RingLike", account: str, container: Optional[str] = None,
              obj: Optional[str] = None) -> int:
    """
    The partition of a path whose names are WSGI strings: hashed as the
    bytes the client sent, as Swift does, so that non-ASCII names land where
    Swift's own proxies and replicators look for them.
    """
    return ring.get_part(
        account.encode("latin-1"),
        None if container is None else container.encode("latin-1"),
        None if obj is None else obj.encode("latin-1"),
    )


class Controller:
    """
    Handles one client request for one account, container or object.

    @ivar server_type: C{Account}, C{Container} or C{Object}.
    """

    server_type = "Base"
    allowed_methods: frozenset[str] = frozenset()
    #: Methods only the proxy's own requests may use: those with a true
    #: C{X-Backend-Allow-Private-Methods} (which no client can send).
    private_methods: frozenset[str] = frozenset()
    delay_denial: frozenset[str] = frozenset()

    def __init__(
        self,
        context: "ProxyContext",
        request: SwiftRequest,
        account: str,
        container: Optional[str] = None,
        obj: Optional[str] = None,
    ) -> None:
        self.context = context
        self.request = request
        self.account = account
        self.container = container
        self.obj = obj
        self.settings = context.settings
        self._policy_options: dict[Optional[int], PolicyOptions] = {}

    async def OPTIONS(self) -> SwiftResponse:
        """
        The methods this resource allows; a CORS preflight when the request
        names an C{Origin}.
        """
        origin = self.request.headers.get("Origin")
        if origin and self.container is not None:
            # As in Swift, an account is never a CORS resource.
            info = await self.container_info()
            return preflight_response(
                self.allowed_methods, info.get("cors") or {}, self.request.headers,
                CORSPolicy.from_settings(self.settings))
        allowed = ", ".join(sorted(self.allowed_methods))
        return SwiftResponse(200, {"Allow": allowed, "Content-Length": "0",
                                   "Content-Type": "text/html; charset=UTF-8"}, b"")

    def client_headers(self, backend: HeaderDict) -> HeaderDict:
        """
        What the client may see of a backend answer: no backend headers or
        sysmeta (unless a plugin asked for it with C{swift.sysmeta_ok}),
        and the owner-only headers only for the account's owner.
        """
        headers = client_response_headers(
            backend, keep_sysmeta=bool(self.request.environ.get("swift.sysmeta_ok")))
        if not self.request.environ.get("swift_owner"):
            remove_owner_headers(headers)
        return headers

    # -- nodes ---------------------------------------------------------

    def policy_options(self, policy_index: Optional[int] = None) -> PolicyOptions:
        """
        The settings' node-choosing options for storage policy
        C{policy_index} (see
        L{twisted_proxy.config.ProxySettings.policy_options}), made once
        per request and policy.
        """
        made = self._policy_options.get(policy_index)
        if made is None:
            made = self._policy_options[policy_index] = self.settings.policy_options(
                policy_index)
        return made

    @cached_property
    def report(self) -> NodeReporter:
        """
        Where this request reports what it learns about its nodes.
        """
        return NodeReporter(self.context.limiter, self.server_type,
                            self.request.environ.get("swift.trans_id"))

    def backend_path(self, node: Node, part: int, query: str = "") -> str:
        """
        The path of this request's account, container or object on C{node}.
        """
        return node_path(node, part, self._backend_name(), query)

    def backend_paths(self, part: int) -> Callable[[Node], str]:
        """
        L{backend_path} (without a query) for one node after another, the
        replicas of a write: the name is quoted once for all of them.
        """
        return node_paths(part, self._backend_name())

    def _backend_name(self) -> str:
        return "/".join(
            part_name for part_name in (self.account, self.container, self.obj)
            if part_name is not None)

    def nodes(self, ring: "RingLike", part: int, policy_index: Optional[int] = None,
              order: Optional[Iterable[Node]] = None,
              shuffled_rank: Optional[Callable[[Node], int]] = None) -> Iterator[Node]:
        """
        The nodes a request for partition C{part} of C{ring} tries, in order:
        sorted by the options of storage policy C{policy_index} (C{None}:
        the application section's, as for accounts and containers).

        @param order: all candidate nodes in order, instead of the ring's
            primaries then handoffs (see L{iter_nodes}).
        @param shuffled_rank: a preference among shuffled primaries (see
            L{iter_nodes}).
        """
        ctx = self.context
        options = self.policy_options(policy_index)
        primaries = ring.get_part_nodes(part)
        return iter_nodes(
            ring,
            part,
            ctx.limiter,
            self.settings.node_count(len(primaries)),
            options.sorting_method,
            ctx.timings,
            primaries=primaries,
            read_key=options.read_key,
            order=order,
            handoff_log=self.handoff_log if self.settings.log_handoffs else None,
            shuffled_rank=shuffled_rank,
        )

    @cached_property
    def handoff_log(self) -> HandoffLog:
        """
        Where this request's handoffs are logged (C{log_handoffs}).
        """
        return HandoffLog(self.server_type, self.request.environ.get("swift.trans_id"),
                          self.context.metrics)

    # -- reads ---------------------------------------------------------

    def source_finder(
        self,
        ring: "RingLike",
        part: int,
        method: str,
        headers: HeaderDict,
        query: str = "",
        good: Callable[[int], bool] = good_status,
        policy_index: Optional[int] = None,
    ) -> SourceFinder:
        """
        The search for a source of this request's read in partition
        C{part} of C{ring}, asking every primary when the client sent a
        true C{X-Newest}, with the C{concurrent_gets} and
        C{rebalance_missing_suppression_count} of storage policy
        C{policy_index} (C{None}: the application section's).
        """
        settings = self.policy_options(policy_index)
        wait = settings.concurrency_timeout
        primaries = len(ring.get_part_nodes(part))
        return SourceFinder(
            self.context.node_client,
            self.context.reactor,
            self.context.timings,
            self.report,
            lambda node: self.backend_path(node, part, query),
            method,
            headers,
            newest=is_true(self.request.headers.get("X-Newest")),
            good=good,
            concurrent_gets=settings.concurrent_gets,
            concurrency_timeout=self.settings.conn_timeout if wait is None else wait,
            suppress_missing=min(settings.rebalance_missing_suppression_count, primaries - 1),
        )

    async def read_from_nodes(
        self, ring: "RingLike", part: int, method: str, headers: HeaderDict, query: str = "",
    ) -> Found:
        """
        Find a source for a read among the partition's nodes, its body read
        into the last answer (see L{SourceFinder.find}).
        """
        finder = self.source_finder(ring, part, method, headers, query)
        return await finder.find(self.nodes(ring, part))

    async def get_or_head(
        self, ring: "RingLike", part: int, query: str = ""
    ) -> SwiftResponse:
        """
        A GET or HEAD of an account or container, relayed from the first
        node that answers well, or the best of the answers collected.
        """
        headers = backend_request_headers(self.request)
        found, answers = await self.read_from_nodes(
            ring, part, self.request.method, headers, query
        )
        if found is not None:
            status, reason, body, backend = answers[-1]
            return SwiftResponse(status, backend, body, reason)
        return self.best_read(answers)

    def best_read(self, answers: list[BackendAnswer]) -> SwiftResponse:
        """
        The answer to a read that found no source: the best of the answers
        counted (L{SourceFinder.find}), a quorum of I{them} deciding, as
        Swift decides a GET or HEAD; none is a 503.
        """
        return self.best(answers, len(answers))

    def best(self, answers: list[BackendAnswer], node_count: int,
             overrides: Optional[dict[int, int]] = None) -> SwiftResponse:
        if not answers:
            return error_response(503, method=self.request.method)
        return best_response(
            answers,
            self.server_type,
            node_count,
            quorum_size(node_count),
            overrides,
        )

    # -- writes --------------------------------------------------------

    async def write_to_nodes(
        self,
        ring: "RingLike",
        part: int,
        method: str,
        headers_for: Callable[[int], HeaderDict],
        query: str = "",
        body_for: Optional[Callable[[int], Optional[IBodyProducer]]] = None,
        overrides: Optional[dict[int, int]] = None,
        node_iter: Optional[Iterator[Node]] = None,
        node_count: Optional[int] = None,
    ) -> SwiftResponse:
        """
        Send C{method} for every replica at once, each replica trying the
        next node when its node cannot be reached or answers 5xx, and merge
        the answers by quorum: all of them, or those that came by
        C{post_quorum_timeout} after the first ones that decide the outcome
        (L{gather_answers}).

        @param headers_for: the headers for the replica slot C{i}.
        @param node_iter: the nodes to use, instead of L{nodes}.
        @param node_count: how many requests to make (and answers to merge),
            instead of one per replica.
        @raise CancelledError: when cancelled (the client went away).
        @raise Exception: a proxy bug met while writing some replica (only
            node and connection failures count against a node), once the
            answers are gathered.
        """
        if node_iter is None:
            node_iter = self.nodes(ring, part)
        nodes = node_iter
        replicas = node_count or len(ring.get_part_nodes(part))
        client = self.context.node_client

        async def one(slot: int) -> Optional[BackendAnswer]:
            headers = headers_for(slot)
            for node in nodes:
                body = body_for(slot) if body_for is not None else None
                try:
                    response = await client.request(
                        node, method, self.backend_path(node, part, query), headers, body)
                    answer = await read_answer(response)
                except NODE_FAILURES as error:
                    self.report.error(node, error)
                    continue
                self.report.status(node, answer[0])
                if answer[0] >= 500:
                    continue
                return answer
            return None

        # The client went away, or the proxy has a bug: no answer is made
        # up for it (gather_answers fails).
        answers = await gather_answers(
            [ensureDeferred(one(slot)) for slot in range(replicas)], replicas,
            self.context.reactor, self.settings.post_quorum_timeout)
        while len(answers) < replicas:
            answers.append((503, "Service Unavailable", b"", HeaderDict()))
        return self.best(answers, replicas, overrides)

    # -- info ----------------------------------------------------------

    async def account_info(self, account: Optional[str] = None) -> AccountInfo:
        """
        The account's info: existence, counts, metadata.
        """
        account = account if account is not None else self.account
        key = account_key(account)
        known = self.context.info_cache.get_now(self.request.environ, key)
        if known is not None:
            return known  # type: ignore[return-value]
        ring = self.context.rings.account
        part = partition(ring, account)

        async def fetch() -> AccountInfo:
            probe = AccountProbe(self.context, self.request, account)
            headers = _info_headers(self.request)
            found, answers = await probe.read_from_nodes(ring, part, "HEAD", headers)
            if found is not None:
                status, _, _, backend = answers[-1]
                return headers_to_account_info(backend, status)
            response = probe.best_read(answers)
            return headers_to_account_info(response.headers, response.status)

        return await self.context.info_cache.get(self.request.environ, key, fetch)

    async def container_info(
        self, account: Optional[str] = None, container: Optional[str] = None
    ) -> ContainerInfo:
        """
        The container's info: existence, ACLs, storage policy, metadata. A
        container whose account does not exist is reported as 404.
        """
        account = account if account is not None else self.account
        container = container if container is not None else self.container
        assert container is not None
        key = container_key(account, container)
        known = self.context.info_cache.get_now(self.request.environ, key)
        if known is not None:
            return known  # type: ignore[return-value]
        ring = self.context.rings.container
        part = partition(ring, account, container)

        async def fetch() -> ContainerInfo:
            probe = ContainerProbe(self.context, self.request, account, container)
            headers = _info_headers(self.request)
            found, answers = await probe.read_from_nodes(ring, part, "HEAD", headers)
            if found is not None:
                status, _, _, backend = answers[-1]
                return headers_to_container_info(backend, status)
            response = probe.best_read(answers)
            return headers_to_container_info(response.headers, response.status)

        return await self.context.info_cache.get(self.request.environ, key, fetch)

    async def authorized_container(
        self, acl_key: Literal["read_acl", "write_acl"]
    ) -> tuple[ContainerInfo, Optional[SwiftResponse]]:
        """
        The container's info, and the auth plugin's denial (or C{None})
        with the container's C{acl_key} ACL applying.
        """
        info = await self.container_info()
        return info, self.authorize(info.get(acl_key))

    async def writable_container(self) -> tuple[ContainerInfo, Optional[SwiftResponse]]:
        """
        The info of the container an object write goes to, and the answer
        that ends the write before it reaches an object node: the auth
        plugin's denial under the write ACL, 404 for a missing container,
        503 when the container could not be read; else C{None}.

        A PUT or DELETE is judged knowing the container's sync key
        (C{environ['swift_sync_key']}), as Swift's proxy lets an auth
        plugin allow a container-sync request that bears it.
        """
        if self.request.method in ("PUT", "DELETE"):
            info = await self.container_info()
            self.request.environ["swift_sync_key"] = info.get("sync_key")
        info, denied = await self.authorized_container("write_acl")
        if denied is not None:
            return info, denied
        if info["status"] == 404:
            return info, error_response(404, method=self.request.method)
        if not 200 <= info["status"] < 300:
            return info, error_response(503, method=self.request.method)
        return info, None

    async def autocreate_account(self, account: str) -> None:
        """
        Create C{account} on its account servers (C{account_autocreate}).
        """
        ring = self.context.rings.account
        part = partition(ring, account)
        headers = _info_headers(self.request)
        headers["X-Timestamp"] = format_timestamp(self.context.reactor.seconds())
        probe = AccountProbe(self.context, self.request, account)
        await probe.write_to_nodes(ring, part, "PUT", lambda _: headers)
        await self.context.info_cache.invalidate(self.request.environ, account_key(account))

    # -- authorization -------------------------------------------------

    def authorize(self, acl: Optional[str] = None) -> Optional[SwiftResponse]:
        """
        Ask the auth plugin (if any) whether the request may go on, with
        C{acl} as the container ACL that applies.

        @return: C{None} when allowed, else the denial to send.
        """
        authorize = self.request.environ.get("swift.authorize")
        if authorize is None:
            return None
        self.request.acl = acl  # type: ignore[attr-defined]
        return authorize(self.request)  # type: ignore[no-any-return]


def _info_headers(request: SwiftRequest) -> HeaderDict:
    headers = HeaderDict()
    headers["X-Trans-Id"] = request.environ["swift.trans_id"]
    headers["User-Agent"] = "proxy-server twisted-proxy"
    return headers


class AccountProbe(Controller):
    server_type = "Account"


class ContainerProbe(Controller):
    server_type = "Container"


async def with_cors(
    controller: "Controller", handler: Callable[[], Awaitable[SwiftResponse]]
) -> SwiftResponse:
    """
    Run C{handler} for the controller's request; when it is an actual CORS
    request on a container or object, add the CORS headers to its response.

    As in Swift, the container's CORS settings are those it had before the
    request (a POST that changes them applies from the next request).
    """
    request = controller.request
    origin = request.headers.get("Origin")
    if not origin or controller.container is None or request.method == "OPTIONS":
        return await handler()
    info: ContainerInfo = await controller.container_info()
    cors_info = info.get("cors") or {}
    response = await handler()
    add_cors_headers(response, origin, cors_info, CORSPolicy.from_settings(controller.settings))
    return response
