# -*- test-case-name: tests.test_getfailover,tests.e2e.test_e2e,tests.e2e.test_e2e_failover -*-
"""
The object controller: C{/v1/<account>/<container>/<object>}.

Reads stream from one chosen replica to the client; writes stream from the
client to every primary replica at once through a L{PutFanout}.
"""

from __future__ import annotations

from typing import Iterator, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer

from twisted_proxy.backend.content import read_body
from twisted_proxy.backend.fanout import PutFanout
from twisted_proxy.backend.nodeclient import response_headers
from twisted_proxy.backend.nodes import RingLike, local_first, local_handoffs_first
from twisted_proxy.backend.resuming import ResumingBody, Source
from twisted_proxy.controllers.base import (
    backend_request_headers,
    client_response_headers,
    partition,
)
from twisted_proxy.controllers.expiry import ObjectExpiry
from twisted_proxy.controllers.shards import container_update_headers
from twisted_proxy.info.cache import ContainerInfo
from twisted_proxy.swift.bestresponse import is_good_source
from twisted_proxy.swift.constraints import (
    ensure_x_timestamp,
    prepare_object_post,
    prepare_object_put,
)
from twisted_proxy.swift.etags import normalize_etag
from twisted_proxy.swift.http import HeaderDict, SwiftResponse, error_response, wsgi_str
from twisted_proxy.swift.ranges import parse_range_header
from twisted_proxy.swift.ring import Node
from twisted_proxy.swift.timestamp import Timestamp, http_date
from twisted_proxy.swift.truthy import is_true

__all__ = ["ObjectController"]


class ObjectController(ObjectExpiry):
    """
    GET, HEAD, PUT, POST and DELETE of an object.
    """

    server_type = "Object"
    allowed_methods = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"})
    delay_denial = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE"})

    def _object_ring(self, info: ContainerInfo) -> tuple[RingLike, int]:
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
        info, denied = await self.authorized_container("read_acl")
        if denied is not None:
            return denied
        if 500 <= info["status"]:
            return error_response(503, method=request.method)
        ring, policy_index = self._object_ring(info)
        part = partition(ring, self.account, self.container, self.obj)
        self.allow_open_expired()
        headers = backend_request_headers(
            request, {"X-Backend-Storage-Policy-Index": str(policy_index)}
        )
        # Shared with the resumes, which carry on where the search stopped.
        node_iter = self.nodes(ring, part, policy_index)
        finder = self.source_finder(ring, part, request.method, headers, good=is_good_source,
                                    policy_index=policy_index)
        found, answers = await finder.find(node_iter, keep_body=False)
        if found is None:
            # A merged answer (404, 412, 304...) carries a backend's
            # headers: only what a client may see goes out.
            merged = self.best_read(answers)
            merged.headers = client_response_headers(
                merged.headers, keep_sysmeta=bool(request.environ.get("swift.sysmeta_ok")))
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
                                 wsgi_str(response.phrase))
        if response.length is not UNKNOWN_LENGTH:
            client_headers["Content-Length"] = str(response.length)
        newest = is_true(request.headers.get("X-Newest"))
        timeout = (self.settings.node_timeout if newest
                   else self.settings.effective_recoverable_node_timeout)
        etag = normalize_etag(backend.get("Etag"))

        def find_source(range_header: str) -> Deferred[Optional[Source]]:
            if response.code not in (200, 206):
                # An error or redirect body (a 416's) is no object data:
                # what is left of it cannot come from another node.
                return succeed(None)
            self.context.metrics.resumed("object")
            return Deferred.fromCoroutine(finder.resume(node_iter, range_header, etag))

        body = ResumingBody(
            (response, node),
            self.context.reactor,
            timeout,
            find_source,
            parse_range_header(request.headers.get("Range")) if response.code == 206 else None,
            self.report.error,
            content_type=backend.get("Content-Type"),
        )
        return SwiftResponse(response.code, client_headers, body,
                             wsgi_str(response.phrase))

    # -- writes --------------------------------------------------------

    async def _container_update_headers(self, info: ContainerInfo
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

    async def POST(self) -> SwiftResponse:
        request = self.request
        info, bad = await self.writable_container()
        if bad is not None:
            return bad
        now = self.context.reactor.seconds()
        bad = prepare_object_post(request, now, self.context.constraints)
        if bad is not None:
            return bad
        self.allow_open_expired()
        return await self._write_replicas("POST", info, now)

    async def DELETE(self) -> SwiftResponse:
        info, bad = await self.writable_container()
        if bad is not None:
            return bad
        return await self._write_replicas("DELETE", info, self.context.reactor.seconds())

    def _delete_nodes(self, ring: RingLike, part: int, policy_index: int
                      ) -> tuple[Optional[Iterator[Node]], int]:
        """
        The nodes of a DELETE and how many to send it to: with
        C{write_affinity}, every primary and then as many local handoffs as
        C{write_affinity_handoff_delete_count} says (where a write with
        affinity may have put the object), as Swift does; else the
        primaries (C{None}: the usual node order).
        """
        replicas = len(ring.get_part_nodes(part))
        is_local = self.policy_options(policy_index).is_local
        if is_local is None:
            return None, replicas
        options = self.policy_options(policy_index)
        order, handoffs = local_handoffs_first(
            ring, part, is_local, options.write_affinity_handoff_delete_count)
        return self.nodes(ring, part, policy_index, order=order), replicas + handoffs

    async def _write_replicas(self, method: str, info: ContainerInfo, now: float
                              ) -> SwiftResponse:
        """
        Send a bodiless C{method} to every replica of the object, each
        telling its container node about the change, and merge the answers.
        Its time is the request's C{X-Timestamp} when it has one (a
        container-sync request's, or one a plugin set), else C{now}.
        """
        bad = ensure_x_timestamp(self.request, now)
        if bad is not None:
            return bad
        ring, policy_index = self._object_ring(info)
        part = partition(ring, self.account, self.container, self.obj)
        base = backend_request_headers(self.request, {
            "X-Backend-Storage-Policy-Index": str(policy_index),
        })
        node_iter: Optional[Iterator[Node]] = None
        count = len(ring.get_part_nodes(part))
        if method == "DELETE":
            node_iter, count = self._delete_nodes(ring, part, policy_index)
        updates = await self._container_update_headers(info)
        updates = self._with_expirer_queue(updates, count, base, queue=method == "POST")
        response = await self.write_to_nodes(
            ring, part, method, lambda slot: self._slot_headers(base, updates, slot),
            node_iter=node_iter, node_count=count,
        )
        # A plugin may learn what an object is from a POST's answer (a
        # symlink's target).
        response.headers = client_response_headers(
            response.headers, keep_sysmeta=bool(self.request.environ.get("swift.sysmeta_ok")))
        return response

    async def PUT(self) -> SwiftResponse:
        request = self.request
        info, bad = await self.writable_container()
        if bad is not None:
            return bad
        assert self.obj is not None
        bad = prepare_object_put(
            request, self.obj, self.context.reactor.seconds(), self.context.constraints)
        if bad is not None:
            return bad
        ring, policy_index = self._object_ring(info)
        part = partition(ring, self.account, self.container, self.obj)
        length = request.content_length
        extra = {
            "X-Backend-Storage-Policy-Index": str(policy_index),
            "Expect": "100-continue",
        }
        base = backend_request_headers(request, extra)
        updates = await self._container_update_headers(info)
        updates = self._with_expirer_queue(
            updates, len(ring.get_part_nodes(part)), base, queue=True)
        return await self.stream_put(ring, part, base, updates, length, request.body,
                                     policy_index)

    # -- the expirer queue (see twisted_proxy.swift.expirer) ------------

    def _with_expirer_queue(self, updates: list[dict[str, str]], replicas: int,
                            base: HeaderDict, queue: bool) -> list[dict[str, str]]:
        """
        The per-slot C{updates} of a write to C{replicas} object nodes
        (cycled), each with its L{expirer_headers}.
        """
        extra = self.expirer_headers(replicas, len(updates), base, queue)
        slots = []
        for slot in range(replicas):
            headers = dict(updates[slot % len(updates)]) if updates else {}
            headers.update(extra[slot])
            slots.append(headers)
        return slots

    async def stream_put(
        self,
        ring: RingLike,
        part: int,
        base: HeaderDict,
        updates: list[dict[str, str]],
        length: Optional[int],
        source: Optional[IBodyProducer],
        policy_index: Optional[int] = None,
    ) -> SwiftResponse:
        """
        Stream C{source} to the nodes of C{part} and merge their answers by
        quorum: the primaries, or with C{write_affinity} (of storage policy
        C{policy_index}) the first local nodes; handoffs stand in for
        error-limited nodes and for those that cannot be reached.
        """
        replicas = len(ring.get_part_nodes(part))
        options = self.policy_options(policy_index)
        order = None
        if options.is_local is not None:
            order = local_first(ring, part, options.is_local,
                                options.write_node_count(replicas))
        fanout = PutFanout(self.context.node_client, self.context.reactor,
                           self.settings.node_timeout, self.report,
                           relay=self.context.socket_relay,
                           post_quorum_timeout=self.settings.post_quorum_timeout)
        answers = await fanout.put(
            self.nodes(ring, part, policy_index, order=order), replicas,
            self.backend_paths(part),
            lambda index: self._slot_headers(base, updates, index), length, source)
        if answers is None:
            return error_response(503, method="PUT")
        etags = {normalize_etag(a[3].get("Etag", "")) for a in answers if a[0] == 201}
        if len(answers) >= replicas and all(answer[0] == 201 for answer in answers):
            # Every replica was written: the merged answer could only be a
            # 201, whose headers are made here.
            status = 201
        else:
            response = self.best(answers, replicas)
            status = response.status
        if status == 201:
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
