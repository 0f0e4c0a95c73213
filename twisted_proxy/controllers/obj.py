# -*- test-case-name: tests.test_e2e -*-
"""
The object controller: C{/v1/<account>/<container>/<object>}.

Reads stream from one chosen replica to the client; writes stream from the
client to every primary replica at once through an L{UploadFanout}.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import CancelledError, Deferred, DeferredList, ensureDeferred, succeed
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer

from twisted_proxy.backend.nodeclient import NodeError, read_body, response_headers
from twisted_proxy.backend.resuming import ResumingBody, Source
from twisted_proxy.backend.streaming import discard_body
from twisted_proxy.backend.upload import UploadFanout
from twisted_proxy.controllers.base import (
    BackendAnswer,
    Controller,
    backend_request_headers,
    client_response_headers,
    format_timestamp,
    partition,
)
from twisted_proxy.controllers.shards import container_update_headers
from twisted_proxy.swift.bestresponse import quorum_size
from twisted_proxy.swift.constraints import (
    check_delete_headers,
    check_metadata,
    check_object_creation,
    ensure_x_timestamp,
    transform_remove_headers,
    update_content_type,
)
from twisted_proxy.swift.http import HeaderDict, SwiftResponse, error_response
from twisted_proxy.swift.ranges import parse_range_header
from twisted_proxy.swift.timestamp import Timestamp, http_date

__all__ = ["ObjectController"]


def _bare_etag(value: Optional[str]) -> Optional[str]:
    if value and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _good_object_status(status: int) -> bool:
    return 200 <= status < 400 or status == 416


class ObjectController(Controller):
    """
    GET, HEAD, PUT, POST and DELETE of an object.
    """

    server_type = "Object"
    allowed_methods = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"})
    delay_denial = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE"})

    async def _container_and_policy(self, acl_key: str
                                    ) -> tuple[dict[str, Any], Optional[SwiftResponse]]:
        info = await self.container_info()
        denied = self.authorize(info.get(acl_key))
        if denied is not None:
            return info, denied
        return info, None

    def _object_ring(self, info: dict[str, Any]) -> tuple[Any, int]:
        index = int(info.get("storage_policy") or 0)
        if self.context.swift_conf.policy_by_index(index) is None:
            index = self.context.swift_conf.default_policy().index
        return self.context.rings.object_ring(index), index

    # -- reads ---------------------------------------------------------

    async def GET(self) -> SwiftResponse:
        return await self._get_or_head()

    async def HEAD(self) -> SwiftResponse:
        return await self._get_or_head()

    async def _get_or_head(self) -> SwiftResponse:
        request = self.request
        info, denied = await self._container_and_policy("read_acl")
        if denied is not None:
            return denied
        if 500 <= info["status"]:
            return error_response(503, method=request.method)
        ring, policy_index = self._object_ring(info)
        part = partition(ring, self.account, self.container, self.obj)
        headers = backend_request_headers(
            request, {"X-Backend-Storage-Policy-Index": str(policy_index)}
        )
        node_iter = self.nodes(ring, part)
        found, answers = await self.read_from_nodes(
            ring, part, request.method, headers,
            good=_good_object_status, keep_body=False, node_iter=node_iter,
        )
        if found is None:
            # A merged answer (404, 412, 304...) carries a backend's
            # headers: only what a client may see goes out.
            merged = self.best(answers, len(ring.get_part_nodes(part)))
            merged.headers = client_response_headers(merged.headers)
            return merged
        response, node = found
        backend = response_headers(response)
        # A plugin's own sub-request (a copy's source) may see sysmeta.
        client_headers = client_response_headers(
            backend, keep_sysmeta=bool(request.environ.get("swift.sysmeta_ok")))
        client_headers["Accept-Ranges"] = "bytes"
        if request.method == "HEAD":
            await read_body(response)
            return SwiftResponse(response.code, client_headers, b"",
                                 response.phrase.decode("latin-1"))
        if response.length is not UNKNOWN_LENGTH:
            client_headers["Content-Length"] = str(response.length)
        newest = (request.headers.get("X-Newest") or "").lower() in ("true", "1", "yes")
        timeout = (self.settings.node_timeout if newest
                   else self.settings.effective_recoverable_node_timeout)
        etag = _bare_etag(backend.get("Etag"))

        def find_source(range_header: str) -> Deferred[Optional[Source]]:
            if response.code not in (200, 206):
                # An error or redirect body (a 416's) is no object data:
                # what is left of it cannot come from another node.
                return succeed(None)
            resume_headers = headers.copy()
            resume_headers["Range"] = range_header
            return Deferred.fromCoroutine(
                self._next_source(ring, part, node_iter, resume_headers, etag))

        body = ResumingBody(
            (response, node),
            self.context.reactor,
            timeout,
            find_source,
            parse_range_header(request.headers.get("Range")) if response.code == 206 else None,
            self.note_error,
            content_type=backend.get("Content-Type"),
        )
        return SwiftResponse(response.code, client_headers, body,
                             response.phrase.decode("latin-1"))

    async def _next_source(
        self, ring: Any, part: int, node_iter: Any, headers: HeaderDict,
        etag: Optional[str],
    ) -> Optional[Source]:
        """
        The next node that can continue a body: it answers 206 to the
        C{Range} in C{headers} with the same etag (a replica holding another
        version of the object must not be spliced in, nor a whole body from
        a node that ignored the C{Range}).
        """
        client = self.context.node_client
        for node in node_iter:
            try:
                response = await client.request(
                    node, "GET", self.backend_path(node, part), headers)
            except NodeError as error:
                self.note_error(node, error)
                continue
            self.note_status(node, response.code)
            found = _bare_etag(response_headers(response).get("Etag"))
            if response.code == 206 and found == etag:
                return response, node
            await discard_body(response, close=True)
            if response.code in (200, 206):
                self.note_error(node, ValueError(f"etag {found} is not {etag}"))
        return None

    # -- writes --------------------------------------------------------

    async def _container_update_headers(self, info: dict[str, Any]
                                        ) -> list[dict[str, str]]:
        """
        For each object replica, the container node it tells about the
        change (C{X-Container-Host} and friends), as Swift pairs them: the
        root's nodes, or a sharding or sharded root's shard for the name.
        """
        return await container_update_headers(self, info)

    def _slot_headers(self, base: HeaderDict, updates: list[dict[str, str]],
                      slot: int) -> HeaderDict:
        """
        The headers for replica C{slot}: C{base} and the container node it
        tells about the change (cycled, as Swift pairs them).
        """
        headers = base.copy()
        if updates:
            for name, value in updates[slot % len(updates)].items():
                headers[name] = value
        return headers

    async def _writable_container(self) -> tuple[dict[str, Any], Optional[SwiftResponse]]:
        info, denied = await self._container_and_policy("write_acl")
        if denied is not None:
            return info, denied
        if info["status"] == 404:
            return info, error_response(404, method=self.request.method)
        if not 200 <= info["status"] < 300:
            return info, error_response(503, method=self.request.method)
        return info, None

    async def POST(self) -> SwiftResponse:
        request = self.request
        info, bad = await self._writable_container()
        if bad is not None:
            return bad
        bad = check_metadata(request, "object", self.context.constraints)
        if bad is not None:
            return bad
        now = self.context.reactor.seconds()
        bad = check_delete_headers(request, now)
        if bad is not None:
            return bad
        transform_remove_headers(request.headers, "object")
        return await self._write_replicas("POST", info, now)

    async def DELETE(self) -> SwiftResponse:
        info, bad = await self._writable_container()
        if bad is not None:
            return bad
        return await self._write_replicas("DELETE", info, self.context.reactor.seconds())

    async def _write_replicas(self, method: str, info: dict[str, Any], now: float
                              ) -> SwiftResponse:
        """
        Send a bodiless C{method} to every replica of the object, each
        telling its container node about the change, and merge the answers.
        """
        ring, policy_index = self._object_ring(info)
        part = partition(ring, self.account, self.container, self.obj)
        base = backend_request_headers(self.request, {
            "X-Timestamp": format_timestamp(now),
            "X-Backend-Storage-Policy-Index": str(policy_index),
        })
        updates = await self._container_update_headers(info)
        response = await self.write_to_nodes(
            ring, part, method, lambda slot: self._slot_headers(base, updates, slot),
        )
        response.headers = client_response_headers(response.headers)
        return response

    async def PUT(self) -> SwiftResponse:
        request = self.request
        info, bad = await self._writable_container()
        if bad is not None:
            return bad
        assert self.obj is not None
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None and "*" not in [
            tag.strip() for tag in if_none_match.split(",")
        ]:
            return error_response(400, "If-None-Match only supports *", method="PUT")
        update_content_type(request)
        bad = ensure_x_timestamp(request, self.context.reactor.seconds())
        if bad is not None:
            return bad
        bad = check_object_creation(request, self.obj, self.context.constraints)
        if bad is not None:
            return bad
        transform_remove_headers(request.headers, "object")
        ring, policy_index = self._object_ring(info)
        part = partition(ring, self.account, self.container, self.obj)
        length = request.content_length
        extra = {
            "X-Backend-Storage-Policy-Index": str(policy_index),
            "Expect": "100-continue",
        }
        base = backend_request_headers(request, extra)
        updates = await self._container_update_headers(info)
        return await self.stream_put(ring, part, base, updates, length, request.body)

    async def stream_put(
        self,
        ring: Any,
        part: int,
        base: HeaderDict,
        updates: list[dict[str, str]],
        length: Optional[int],
        source: Optional[IBodyProducer],
    ) -> SwiftResponse:
        """
        Stream C{source} to the primary nodes of C{part} and merge their
        answers by quorum.
        """
        replicas = len(ring.get_part_nodes(part))
        quorum = quorum_size(replicas)
        reactor = self.context.reactor
        node_timeout = self.settings.node_timeout
        fanout = UploadFanout(length, reactor)
        client = self.context.node_client
        node_iter = self.nodes(ring, part)
        nodes = []
        for node in node_iter:
            nodes.append(node)
            if len(nodes) == replicas:
                break
        if len(nodes) < quorum:
            return error_response(503, method="PUT")
        slots = [fanout.slot() for _ in nodes]

        async def one(index: int) -> BackendAnswer:
            node = nodes[index]
            headers = self._slot_headers(base, updates, index)
            slot = slots[index]
            try:
                # No overall limit: the watchdog below bounds each write
                # and the final answer by node_timeout, as Swift does.
                response = await client.request(
                    node, "PUT", self.backend_path(node, part), headers, slot,
                    timeout=0,
                )
                payload = await read_body(response)
            except CancelledError:
                fanout.dropSlot(slot)
                raise
            except (NodeError, Exception) as error:
                fanout.dropSlot(slot)
                self.note_error(node, error)
                return (503, "Service Unavailable", b"", HeaderDict())
            self.note_status(node, response.code)
            if slot.live and response.code >= 300:
                fanout.dropSlot(slot)
            return (response.code, response.phrase.decode("latin-1"), payload,
                    response_headers(response))

        pending = [ensureDeferred(one(index)) for index in range(len(nodes))]
        upload: Optional[_UploadWatch] = None

        def abandon() -> None:
            # Nobody will wait for these answers: end them quietly.
            for d in pending:
                d.addErrback(lambda _: None)
                d.cancel()
            if upload is not None:
                upload.stop()

        try:
            await fanout.whenReady()
            if len(fanout.live_slots) < quorum:
                abandon()
                return error_response(503, method="PUT")
            upload = _UploadWatch(reactor, node_timeout, quorum, fanout, slots, pending,
                                  lambda index, why: self.note_error(nodes[index], why))
            try:
                await self._pump(source, fanout, upload)
            finally:
                upload.bodyDone()
            if upload.quorum_lost:
                abandon()
                return error_response(503, method="PUT")
            results = await DeferredList(pending, consumeErrors=True)
            upload.stop()
        except CancelledError:
            # The client went away.
            abandon()
            raise
        answers: list[BackendAnswer] = [
            value for ok, value in results if ok
        ]
        while len(answers) < replicas:
            answers.append((503, "Service Unavailable", b"", HeaderDict()))
        etags = {a[3].get("Etag", "").strip('"') for a in answers if a[0] == 201}
        response = self.best(answers, replicas)
        if response.status == 201:
            if len(etags) > 1:
                return error_response(500, "Object servers returned "
                                      f"{len(etags)} mismatched etags", method="PUT")
            headers = HeaderDict({"Content-Type": "text/html; charset=UTF-8"})
            if etags:
                headers["Etag"] = etags.pop()
            last_modified = self._last_modified(base["X-Timestamp"])
            headers["Last-Modified"] = last_modified
            response = SwiftResponse(201, headers, b"")
        return response

    def _last_modified(self, timestamp: str) -> str:
        return http_date(Timestamp(timestamp))

    async def _pump(self, source: Optional[IBodyProducer], fanout: UploadFanout,
                    upload: "_UploadWatch") -> None:
        """
        Feed C{source} into C{fanout} until it ends, or until too few nodes
        remain to make a quorum.
        """
        if source is None:
            fanout.finish()
            return
        producing = source.startProducing(fanout)  # type: ignore[arg-type]
        fanout.registerSource(source)  # type: ignore[arg-type]
        upload.producing = producing
        try:
            await producing
        except CancelledError:
            if upload.quorum_lost:
                fanout.fail(Failure(NodeError({"ip": "-", "port": 0, "device": "-"},
                                              "too few nodes left")))
                return
            raise
        except Exception as error:
            fanout.fail(Failure(error))
            return
        fanout.finish()


class _UploadWatch:
    """
    Swift's time limits on an upload: a node that takes no data for
    C{node_timeout} is dropped (its request cancelled), and once the body
    has gone out each node has C{node_timeout} to answer. When fewer than
    a quorum of nodes remain, the upload stops (C{quorum_lost}).
    """

    def __init__(self, clock: Any, node_timeout: float, quorum: int,
                 fanout: UploadFanout, slots: list[Any], pending: list[Deferred[Any]],
                 failed: Any) -> None:
        self._clock = clock
        self._timeout = node_timeout
        self._quorum = quorum
        self._fanout = fanout
        self._slots = slots
        self._pending = pending
        self._failed = failed
        self.quorum_lost = False
        self.producing: Optional[Deferred[Any]] = None
        self._answers: list[Any] = []
        self._loop = LoopingCall(self._check)
        self._loop.clock = clock
        self._loop.start(min(1.0, node_timeout / 4), now=False)

    def _check(self) -> None:
        now = self._clock.seconds()
        for index, slot in enumerate(self._slots):
            since = slot.paused_since
            if slot.live and since is not None and now - since > self._timeout:
                self._failed(index, TimeoutError(
                    f"took no upload data for {self._timeout}s"))
                self._pending[index].cancel()
        if len(self._fanout.live_slots) < self._quorum and not self.quorum_lost:
            self.quorum_lost = True
            if self.producing is not None and not self.producing.called:
                self.producing.cancel()

    def bodyDone(self) -> None:
        """
        The whole body went out: the stall check ends, and each node gets
        C{node_timeout} to answer.
        """
        if self._loop.running:
            self._loop.stop()
        for d in self._pending:
            if not d.called:
                call = self._clock.callLater(self._timeout, d.cancel)
                d.addBoth(_cancelCall, call)
                self._answers.append(call)

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()
        for call in self._answers:
            if call.active():
                call.cancel()


def _cancelCall(result: Any, call: Any) -> Any:
    if call.active():
        call.cancel()
    return result
