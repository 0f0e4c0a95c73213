# -*- test-case-name: tests.test_getfailover,tests.test_cors,tests.test_partition -*-
"""
What the account, container and object controllers share: building backend
requests, trying nodes for a read, writing to every replica and merging the
answers by quorum, and account/container info lookups.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncGenerator,
    Awaitable,
    Callable,
    Iterator,
    Optional,
    Union,
)

from twisted.internet.defer import (
    CancelledError,
    Deferred,
    DeferredList,
    DeferredQueue,
    ensureDeferred,
)
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IBodyProducer, IResponse

from twisted_proxy.backend.nodeclient import NodeError, read_body, response_headers
from twisted_proxy.backend.nodes import iter_nodes
from twisted_proxy.backend.streaming import discard_body
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.cache import (
    account_key,
    container_key,
    headers_to_account_info,
    headers_to_container_info,
)
from twisted_proxy.swift.bestresponse import best_response, quorum_size
from twisted_proxy.swift.cors import CORSPolicy, add_cors_headers, preflight_response
from twisted_proxy.swift.http import (
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    wire_quote,
)
from twisted_proxy.swift.listing import add_vary_accept
from twisted_proxy.swift.timestamp import Timestamp

if TYPE_CHECKING:
    from twisted_proxy.backend.nodes import RingLike

__all__ = [
    "Controller",
    "BackendAnswer",
    "format_timestamp",
    "backend_request_headers",
    "client_response_headers",
    "OWNER_HEADERS",
    "finish_listing",
    "partition",
    "with_cors",
]

_log = Logger()

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

OWNER_HEADERS = (
    "X-Container-Read", "X-Container-Write", "X-Container-Sync-Key",
    "X-Container-Sync-To", "X-Account-Meta-Temp-Url-Key",
    "X-Account-Meta-Temp-Url-Key-2", "X-Container-Meta-Temp-Url-Key",
    "X-Container-Meta-Temp-Url-Key-2", "X-Account-Access-Control",
)

_SYSMETA = ("x-account-sysmeta-", "x-container-sysmeta-", "x-object-sysmeta-",
            "x-object-transient-sysmeta-")


def format_timestamp(seconds: float) -> str:
    """
    Swift's normal timestamp form, C{%016.05f}.
    """
    return f"{seconds:016.05f}"


def _is_sysmeta(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith(_SYSMETA)


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
    for name, value in backend.items():
        lowered = name.lower()
        if lowered in _RESPONSE_DROP or lowered.startswith("x-backend-"):
            continue
        if not keep_sysmeta and _is_sysmeta(name):
            continue
        if lowered == "etag" and len(value) >= 2 and value[0] == value[-1] == '"':
            # Object servers quote it; Swift's clients get it bare.
            value = value[1:-1]
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


def _true(value: Optional[str]) -> bool:
    return value is not None and value.strip().lower() in ("true", "1", "yes", "on", "t", "y")


def _timestamp(value: Optional[str]) -> Optional[Timestamp]:
    """
    A timestamp header's value, offset included (versions written at the
    same instant are ordered by it, as in Swift), or C{None} when absent or
    unparseable.
    """
    if not value:
        return None
    try:
        return Timestamp(value, check_bounds=False)
    except ValueError:
        return None


def _source_timestamp(headers: HeaderDict) -> Timestamp:
    """
    The timestamp a source is judged by, as Swift picks it.
    """
    for name in ("X-Backend-Data-Timestamp", "X-Backend-Timestamp",
                 "X-Put-Timestamp", "X-Timestamp"):
        stamp = _timestamp(headers.get(name))
        if stamp is not None:
            return stamp
    return Timestamp(0)


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


BackendAnswer = tuple[int, str, bytes, HeaderDict]


class Controller:
    """
    Handles one client request for one account, container or object.

    @ivar server_type: C{Account}, C{Container} or C{Object}.
    """

    server_type = "Base"
    allowed_methods: frozenset[str] = frozenset()
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
        sysmeta, and the owner-only headers only for the account's owner.
        """
        headers = client_response_headers(backend)
        if not self.request.environ.get("swift_owner"):
            for name in OWNER_HEADERS:
                headers.pop(name, None)
        return headers

    # -- paths ---------------------------------------------------------

    def backend_path(self, node: dict[str, Any], part: int) -> str:
        parts = [self.account]
        if self.container is not None:
            parts.append(self.container)
        if self.obj is not None:
            parts.append(self.obj)
        entity = "/".join(parts)
        return f"/{wire_quote(node['device'])}/{part}/{wire_quote(entity)}"

    def nodes(self, ring: "RingLike", part: int) -> Iterator[dict[str, Any]]:
        ctx = self.context
        return iter_nodes(
            ring,
            part,
            ctx.limiter,
            self.settings.node_count(len(ring.get_part_nodes(part))),
            self.settings.sorting_method,
            ctx.timings,
        )

    # -- node errors ---------------------------------------------------

    def note_status(self, node: dict[str, Any], status: int) -> None:
        if status == 507:
            self.context.limiter.limit_now(node, "507 Insufficient Storage")
        elif status >= 500:
            self.context.limiter.error(node, f"status {status}")

    def note_error(self, node: dict[str, Any], error: BaseException) -> None:
        self.context.limiter.error(node, str(error))
        _log.warn(
            "ERROR with {server} server {node}: {error} (txn {txn})",
            server=self.server_type,
            node=f"{node['ip']}:{node['port']}/{node['device']}",
            error=error,
            txn=self.request.environ.get("swift.trans_id"),
        )

    # -- reads ---------------------------------------------------------

    async def read_from_nodes(
        self,
        ring: "RingLike",
        part: int,
        method: str,
        headers: HeaderDict,
        query: str = "",
        good: Callable[[int], bool] = lambda status: 200 <= status < 400,
        keep_body: bool = True,
        node_iter: Optional[Iterator[dict[str, Any]]] = None,
    ) -> tuple[Optional[tuple[IResponse, dict[str, Any]]], list[BackendAnswer]]:
        """
        Find a source for a read, by the rules of Swift's GetOrHeadHandler:

          - nodes are tried one at a time (primaries, then handoffs) until
            one answers with a C{good} status;
          - a 404 carrying C{X-Backend-Timestamp} is a tombstone: a source
            older than the newest tombstone seen is not served;
          - a 404 from a handoff without C{X-Backend-Timestamp} says nothing
            (a handoff usually has no copy) and is not counted;
          - with C{X-Newest: true}, every primary is asked and the source
            with the newest timestamp is served, the others closed.

        @param node_iter: the nodes to try (by default a fresh iteration of
            the partition's); sharing it lets a later resume carry on where
            this search stopped.
        @return: the chosen response with its node, or C{None}, and the
            answers collected on the way (the chosen one's body read into
            the last answer when C{keep_body}; unread otherwise).
        """
        answers: list[BackendAnswer] = []
        if node_iter is None:
            node_iter = self.nodes(ring, part)
        newest = _true(self.request.headers.get("X-Newest"))
        tombstone = Timestamp(0)
        candidates: list[tuple[Timestamp, IResponse, dict[str, Any]]] = []
        concurrent = self.settings.concurrent_gets and not newest

        def enough(node: dict[str, Any]) -> bool:
            # X-Newest asks every primary, and a handoff only when none
            # answered.
            return newest and "handoff_index" in node and bool(candidates)

        try:
            async with aclosing(self._answers(node_iter, part, method, query, headers,
                                              concurrent, enough)) as arriving:
                async for node, outcome in arriving:
                    if isinstance(outcome, NodeError):
                        self.note_error(node, outcome)
                        continue
                    response = outcome
                    status = response.code
                    self.note_status(node, status)
                    backend = response_headers(response)
                    if good(status):
                        stamp = _source_timestamp(backend)
                        if stamp < tombstone:
                            await discard_body(response, close=True)
                            answers.append((404, "Not Found", b"", backend))
                            continue
                        if newest:
                            candidates.append((stamp, response, node))
                            continue
                        return await self._chosen(response, node, backend, answers,
                                                  keep_body)
                    try:
                        body = await read_body(response)
                    except CancelledError:
                        raise
                    except Exception as error:
                        self.note_error(node, error)
                        continue
                    if status == 404:
                        deleted = _timestamp(backend.get("X-Backend-Timestamp"))
                        if not deleted and "handoff_index" in node:
                            continue
                        if deleted is not None and deleted > tombstone:
                            tombstone = deleted
                    answers.append((status, response.phrase.decode("latin-1"), body,
                                    backend))
        except BaseException:
            # Given up (the client went away): versions held open for
            # X-Newest are let go.
            for _, held, _ in candidates:
                discard_body(held, close=True)
            raise
        for _, stale, _ in [c for c in candidates if c[0] < tombstone]:
            # Older than a deletion: not served, and counted as the 404 it
            # stands for, as when it is found after the tombstone.
            await discard_body(stale, close=True)
            answers.append((404, "Not Found", b"", response_headers(stale)))
        candidates = [c for c in candidates if c[0] >= tombstone]
        if not candidates:
            return None, answers
        candidates.sort(key=lambda c: c[0])
        _, response, node = candidates.pop()
        for _, other, _ in candidates:
            await discard_body(other, close=True)
        return await self._chosen(response, node, response_headers(response), answers,
                                  keep_body)

    async def _answers(
        self,
        node_iter: Iterator[dict[str, Any]],
        part: int,
        method: str,
        query: str,
        headers: HeaderDict,
        concurrent: bool,
        enough: Callable[[dict[str, Any]], bool],
    ) -> AsyncGenerator[tuple[dict[str, Any], Union[IResponse, NodeError]], None]:
        """
        The nodes' answers to a read, as they arrive: a response (body
        unread) or the L{NodeError} a node failed with.

        One node at a time; with C{concurrent} (Swift's C{concurrent_gets}),
        the next node is asked too whenever none has answered within
        C{concurrency_timeout}, and the first answers win. On exit, requests
        still under way are cancelled and answers nobody took are closed.
        No node is asked once C{enough} says so of it.
        """
        client = self.context.node_client
        clock = self.context.reactor

        def ask(node: dict[str, Any]) -> "Deferred[IResponse]":
            path = self.backend_path(node, part) + (f"?{query}" if query else "")
            started = clock.seconds()

            def timed(result: Any) -> Any:
                if not isinstance(result, Failure):
                    self.context.timings.record(node, clock.seconds() - started)
                return result

            return client.request(node, method, path, headers).addBoth(timed)

        if not concurrent:
            for node in node_iter:
                if enough(node):
                    return
                try:
                    yield node, await ask(node)
                except NodeError as error:
                    yield node, error
            return

        settings = self.settings
        wait = settings.concurrency_timeout
        if wait is None:
            wait = settings.conn_timeout
        arrived: DeferredQueue[tuple[dict[str, Any], Any]] = DeferredQueue()
        inflight: dict[int, Deferred[IResponse]] = {}
        exhausted = False

        def launch() -> bool:
            nonlocal exhausted
            node = None if exhausted else next(node_iter, None)
            if node is None or enough(node):
                exhausted = True
                return False
            d = ask(node)
            inflight[id(d)] = d

            def landed(result: Any) -> None:
                inflight.pop(id(d), None)
                arrived.put((node, result))

            d.addBoth(landed)
            return True

        try:
            launch()
            while inflight or arrived.pending:
                getting = arrived.get()
                timer = None
                if not exhausted:
                    timer = clock.callLater(wait, getting.cancel)
                try:
                    node, result = await getting
                except CancelledError:
                    if timer is not None and not timer.active():
                        # Nobody answered in time: ask the next node too.
                        launch()
                        continue
                    raise
                finally:
                    if timer is not None and timer.active():
                        timer.cancel()
                if isinstance(result, Failure):
                    if not result.check(NodeError):
                        result.raiseException()
                    yield node, result.value  # type: ignore[misc]
                else:
                    yield node, result
                if not inflight and not arrived.pending:
                    launch()
        finally:
            for d in list(inflight.values()):
                d.addErrback(lambda _: None)
                d.cancel()
            while arrived.pending:
                _, left = arrived.pending.pop()
                if not isinstance(left, Failure):
                    discard_body(left, close=True).addErrback(lambda _: None)

    async def _chosen(
        self, response: IResponse, node: dict[str, Any], backend: HeaderDict,
        answers: list[BackendAnswer], keep_body: bool,
    ) -> tuple[Optional[tuple[IResponse, dict[str, Any]]], list[BackendAnswer]]:
        if keep_body:
            body = await read_body(response)
            answers.append((response.code, response.phrase.decode("latin-1"), body,
                            backend))
        return (response, node), answers

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
        return self.best(answers, len(ring.get_part_nodes(part)))

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
    ) -> SwiftResponse:
        """
        Send C{method} for every replica at once, each replica trying the
        next node when its node cannot be reached or answers 5xx, and merge
        the answers by quorum.

        @param headers_for: the headers for the replica slot C{i}.
        """
        node_iter = self.nodes(ring, part)
        replicas = len(ring.get_part_nodes(part))
        client = self.context.node_client

        async def one(slot: int) -> Optional[BackendAnswer]:
            headers = headers_for(slot)
            for node in node_iter:
                path = self.backend_path(node, part) + (f"?{query}" if query else "")
                body = body_for(slot) if body_for is not None else None
                try:
                    response = await client.request(node, method, path, headers, body)
                    payload = await read_body(response)
                except NodeError as error:
                    self.note_error(node, error)
                    continue
                except CancelledError:
                    raise
                except Exception as error:
                    self.note_error(node, error)
                    continue
                self.note_status(node, response.code)
                if response.code >= 500:
                    continue
                return (response.code, response.phrase.decode("latin-1"), payload,
                        response_headers(response))
            return None

        results = await DeferredList(
            [ensureDeferred(one(slot)) for slot in range(replicas)],
            consumeErrors=True,
        )
        answers: list[BackendAnswer] = []
        for ok, value in results:
            if ok:
                if value is not None:
                    answers.append(value)
                continue
            failure: Failure = value  # type: ignore[assignment]
            if failure.check(CancelledError):
                failure.raiseException()
            _log.failure("backend write", failure)
        while len(answers) < replicas:
            answers.append((503, "Service Unavailable", b"", HeaderDict()))
        return self.best(answers, replicas, overrides)

    # -- info ----------------------------------------------------------

    async def account_info(self, account: Optional[str] = None) -> dict[str, Any]:
        """
        The account's info: existence, counts, metadata.
        """
        account = account if account is not None else self.account
        ring = self.context.rings.account
        part = partition(ring, account)

        async def fetch() -> dict[str, Any]:
            probe = AccountProbe(self.context, self.request, account)
            headers = _info_headers(self.request)
            found, answers = await probe.read_from_nodes(ring, part, "HEAD", headers)
            if found is not None:
                status, _, _, backend = answers[-1]
                return headers_to_account_info(backend, status)
            response = probe.best(answers, len(ring.get_part_nodes(part)))
            return headers_to_account_info(response.headers, response.status)

        return await self.context.info_cache.get(
            self.request.environ, account_key(account), fetch
        )

    async def container_info(
        self, account: Optional[str] = None, container: Optional[str] = None
    ) -> dict[str, Any]:
        """
        The container's info: existence, ACLs, storage policy, metadata. A
        container whose account does not exist is reported as 404.
        """
        account = account if account is not None else self.account
        container = container if container is not None else self.container
        assert container is not None
        ring = self.context.rings.container
        part = partition(ring, account, container)

        async def fetch() -> dict[str, Any]:
            probe = ContainerProbe(self.context, self.request, account, container)
            headers = _info_headers(self.request)
            found, answers = await probe.read_from_nodes(ring, part, "HEAD", headers)
            if found is not None:
                status, _, _, backend = answers[-1]
                return headers_to_container_info(backend, status)
            response = probe.best(answers, len(ring.get_part_nodes(part)))
            return headers_to_container_info(response.headers, response.status)

        return await self.context.info_cache.get(
            self.request.environ, container_key(account, container), fetch
        )

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
    info: dict[str, Any] = await controller.container_info()
    cors_info = info.get("cors") or {}
    response = await handler()
    add_cors_headers(response, origin, cors_info, CORSPolicy.from_settings(controller.settings))
    return response
