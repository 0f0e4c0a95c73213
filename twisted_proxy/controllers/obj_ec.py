# -*- test-case-name: tests.test_ec_get -*-
"""
The object controller of erasure-coded storage policies.

Writes encode the client's body a segment at a time and send fragment
archive C{i} to the node of ring slot C{i} (a handoff standing in for a
primary that cannot take it), with the MIME body, footers and two-phase
commit Swift's object servers expect; the write succeeds once the policy's
quorum of archives is durable. Reads ask C{k} nodes (more when some fail)
for their fragments, pick a set of C{k} fragment indexes of one durable
version, and decode the object segment by segment; a node that fails in
the middle is replaced from the next segment on. HEAD, POST and DELETE
reach every fragment archive as they reach every replica.

L{object_controller} picks this controller for objects whose container
has an erasure-coded policy.
"""

from __future__ import annotations

from typing import Any, Iterator, Literal, Optional, Union

from twisted.internet.defer import (
    CancelledError,
    Deferred,
    DeferredList,
    DeferredQueue,
    ensureDeferred,
    succeed,
)
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import UNKNOWN_LENGTH

from twisted_proxy.backend.content import discard_body, read_body
from twisted_proxy.backend.ec.decoder import ECBody
from twisted_proxy.backend.ec.fragments import FragmentStream, Source, content_range
from twisted_proxy.backend.ec.putter import MIMEPutter, PutterResponse, connect_putter
from twisted_proxy.backend.ec.upload import ECUpload, QuorumLost, TooLarge
from twisted_proxy.backend.nodeclient import NodeError, response_headers
from twisted_proxy.controllers.base import (
    Controller,
    backend_request_headers,
    client_response_headers,
    partition,
)
from twisted_proxy.controllers.expiry import ObjectExpiry
from twisted_proxy.info.cache import ContainerInfo
from twisted_proxy.swift.bestresponse import best_response, have_quorum, quorum_size
from twisted_proxy.swift.constraints import (
    ensure_x_timestamp,
    if_none_match_star,
    prepare_object_post,
    prepare_object_put,
)
from twisted_proxy.swift.ec.buckets import AnswerCollection, FragmentAnswer, is_good_source
from twisted_proxy.swift.ec.mime import make_boundary, put_headers
from twisted_proxy.swift.ec.ranges import (
    Spec,
    Want,
    archive_span,
    backend_range,
    parse_range,
    plan_read,
    ranges_for_length,
    wants_for,
)
from twisted_proxy.swift.ec.scheme import ECScheme, fragment_footers
from twisted_proxy.swift.expirer import container_updates_needed
from twisted_proxy.swift.http import ClientGone, HeaderDict, SwiftResponse, error_response
from twisted_proxy.swift.multipart import Data, Frame, MultipartLayout
from twisted_proxy.swift.ring import Node
from twisted_proxy.swift.swiftconf import ERASURE_CODING, StoragePolicy
from twisted_proxy.swift.timestamp import Timestamp, http_date
from twisted_proxy.swift.truthy import is_true

__all__ = ["ECObjectController", "object_controller"]

_log = Logger()

_EC_SYSMETA = "x-object-sysmeta-ec-"
_ETAG_IS_AT = "X-Object-Sysmeta-Ec-Etag"


async def object_controller(controller: Controller) -> Controller:
    """
    The controller for an object request: C{controller} (replicated
    policies), or an L{ECObjectController} when the object's container has
    an erasure-coded policy. The container's info is looked up (and kept
    for the request), as Swift looks it up to choose.
    """
    context = controller.context
    info = await controller.container_info()
    if not 200 <= info.get("status", 0) < 300:
        return controller
    policy = context.swift_conf.policy_by_index(info.get("storage_policy") or 0)
    if policy is None or policy.policy_type != ERASURE_CODING:
        return controller
    return ECObjectController(context, controller.request, controller.account,
                              controller.container, controller.obj, policy)


class _Nodes:
    """
    The nodes of one GET, shared by every fragment request and
    replacement: each time a node is wanted, the answers so far may name
    one holding a fragment still lacking (an alternate), asked first.
    """

    def __init__(self, nodes: Iterator[Node], primaries: int,
                 collection: AnswerCollection) -> None:
        self._nodes = nodes
        self._collection = collection
        self.primaries_left = primaries
        self._peeked: list[Node] = []

    def _next_ring_node(self) -> Optional[Node]:
        if self._peeked:
            return self._peeked.pop()
        return next(self._nodes, None)

    @property
    def nodes_left(self) -> bool:
        if not self._peeked:
            node = next(self._nodes, None)
            if node is None:
                return False
            self._peeked.append(node)
        return True

    def next(self) -> Optional[Node]:
        alternate = self._collection.provide_alternate_node()
        if alternate is not None:
            return alternate
        node = self._next_ring_node()
        if node is not None and "handoff_index" not in node:
            self.primaries_left -= 1
        return node


class ECObjectController(ObjectExpiry):
    """
    GET, HEAD, PUT, POST and DELETE of an object in an erasure-coded policy.
    """

    server_type = "Object"
    allowed_methods = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"})
    delay_denial = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE"})

    def __init__(self, context: Any, request: Any, account: str,
                 container: Optional[str], obj: Optional[str],
                 policy: StoragePolicy) -> None:
        super().__init__(context, request, account, container, obj)
        self.policy = policy
        self.scheme = ECScheme.from_policy(policy)

    # -- shared ----------------------------------------------------------

    async def _container(self, acl_key: Literal["read_acl", "write_acl"]
                         ) -> tuple[ContainerInfo, Optional[SwiftResponse]]:
        info = await self.container_info()
        return info, self.authorize(info.get(acl_key))

    def _ring(self) -> tuple[Any, int]:
        ring = self.context.rings.object_ring(self.policy.index)
        return ring, partition(ring, self.account, self.container, self.obj)

    def _base_headers(self, extra: Optional[dict[str, str]] = None) -> HeaderDict:
        headers = backend_request_headers(self.request, {
            "X-Backend-Storage-Policy-Index": str(self.policy.index)})
        for name, value in (extra or {}).items():
            headers[name] = value
        return headers

    def _etag_is_at(self, headers: HeaderDict) -> None:
        # Conditional requests are judged by the object's etag, which the
        # archives keep in sysmeta.
        existing = headers.get("X-Backend-Etag-Is-At")
        headers["X-Backend-Etag-Is-At"] = (
            f"{existing},{_ETAG_IS_AT}" if existing else _ETAG_IS_AT)

    def _client_headers(self, backend: HeaderDict, status: int) -> HeaderDict:
        """
        The headers of an object answer as a client sees them: the object's
        own etag and length rather than the archive's, and no EC sysmeta.
        """
        fixed = backend.copy()
        fixed["Etag"] = backend.get(_ETAG_IS_AT, "")
        if not fixed["Etag"]:
            del fixed["Etag"]
        length = backend.get("X-Object-Sysmeta-Ec-Content-Length")
        if 200 <= status < 300 and length is not None:
            fixed["Content-Length"] = length
        if status == 416 and length is not None:
            fixed["Content-Range"] = f"bytes */{length}"
        for name in [n for n in fixed if n.lower().startswith(_EC_SYSMETA)]:
            del fixed[name]
        headers = client_response_headers(
            fixed, keep_sysmeta=bool(self.request.environ.get("swift.sysmeta_ok")))
        if 200 <= status < 400 or status == 416:
            headers["Accept-Ranges"] = "bytes"
        return headers

    def _slot_headers(self, base: HeaderDict, slots: int, queue: bool
                      ) -> list[HeaderDict]:
        """
        The headers of each of C{slots} backend writes: only as many name a
        container node to update as Swift's count asks (the policy's quorum
        sets it), and as many the expirer queue's container nodes when
        C{queue} and the request has an C{X-Delete-At}.
        """
        assert self.container is not None
        ring = self.context.rings.container
        part = partition(ring, self.account, self.container)
        containers = ring.get_part_nodes(part)
        out = [base.copy() for _ in range(slots)]
        quorum = self.scheme.quorum
        wanted = container_updates_needed(len(containers), slots, quorum)
        for update in range(wanted if containers else 0):
            headers = out[update % slots]
            node = containers[update % len(containers)]
            host = f"{node['ip']}:{node['port']}"
            headers["X-Container-Partition"] = str(part)
            headers["X-Container-Host"] = (
                f"{headers['X-Container-Host']},{host}" if "X-Container-Host" in headers
                else host)
            headers["X-Container-Device"] = (
                f"{headers['X-Container-Device']},{node['device']}"
                if "X-Container-Device" in headers else node["device"])
        expiry = self.expirer_headers(slots, len(containers), base, queue, quorum)
        for headers, extra in zip(out, expiry):
            for name, value in extra.items():
                headers[name] = value
        return out

    # -- HEAD --------------------------------------------------------------

    async def HEAD(self) -> SwiftResponse:
        request = self.request
        info, denied = await self._container("read_acl")
        if denied is not None:
            return denied
        if info["status"] >= 500:
            return error_response(503, method=request.method)
        ring, part = self._ring()
        self.allow_open_expired()
        headers = self._base_headers()
        self._etag_is_at(headers)
        # Every archive holds the object's metadata: one answer will do.
        finder = self.source_finder(ring, part, "HEAD", headers, good=is_good_source,
                                    policy_index=self.policy.index)
        found, answers = await finder.find(self.nodes(ring, part, self.policy.index),
                                           keep_body=False)
        if found is None:
            merged = self.best_read(answers)
            merged.headers = self._client_headers(merged.headers, merged.status)
            return merged
        response, _ = found
        await read_body(response)
        backend = response_headers(response)
        return SwiftResponse(response.code, self._client_headers(backend, response.code),
                             b"", response.phrase.decode("latin-1"))

    # -- GET ---------------------------------------------------------------

    async def GET(self) -> SwiftResponse:
        request = self.request
        info, denied = await self._container("read_acl")
        if denied is not None:
            return denied
        if info["status"] >= 500:
            return error_response(503, method=request.method)
        ring, part = self._ring()
        scheme = self.scheme
        self.allow_open_expired()
        headers = self._base_headers()
        self._etag_is_at(headers)
        specs = parse_range(request.headers.get("Range"))
        if specs:
            headers["Range"] = backend_range(specs, scheme.segment_size,
                                             scheme.fragment_size)
        collection = AnswerCollection(scheme.ndata, scheme.nparity, scheme.replicas)
        nodes = _Nodes(self.nodes(ring, part, self.policy.index,
                                  shuffled_rank=self._data_fragments_first),
                       len(ring.get_part_nodes(part)), collection)
        await self._gather(part, headers, collection, nodes)
        best = collection.best_bucket
        for answer in collection.close_others(best):
            _drop_answer(answer)
        if best.durable and best.shortfall <= 0:
            return await self._serve(part, headers, specs, collection, best.responses(),
                                     best.headers or HeaderDict(), nodes, best)
        for answers in best.gets.values():
            for answer in answers:
                _drop_answer(answer)
        return self._error_answer(collection, len(ring.get_part_nodes(part)))

    def _data_fragments_first(self, node: Node) -> int:
        """
        Rank a primary for a read: 0 when it holds a data fragment, 1 for a
        parity one. Any C{k} fragments decode, but C{k} data fragments only
        join, where parity ones must be solved for: about a third of the
        CPU of a large read.
        """
        index = node.get("index")
        if index is None:
            return 1
        return 0 if self.scheme.backend_index(int(index)) < self.scheme.ndata else 1

    def _fragment_path(self, node: Node, part: int) -> str:
        return self.backend_path(node, part)

    async def _ask(self, node: Node, part: int, headers: HeaderDict
                   ) -> FragmentAnswer:
        client = self.context.node_client
        try:
            response = await client.request(
                node, "GET", self._fragment_path(node, part), headers,
                timeout=self.settings.effective_recoverable_node_timeout)
        except NodeError as error:
            self.report.error(node, error)
            return FragmentAnswer(node)
        backend = response_headers(response)
        status = response.code
        stamp = backend.get("X-Backend-Timestamp")
        if ("handoff_index" in node and (status >= 500 or status == 404)
                and not (stamp and Timestamp(stamp, check_bounds=False))):
            # A handoff usually has nothing: its 404 says nothing.
            await discard_body(response, close=True)
            return FragmentAnswer(node)
        reason = response.phrase.decode("latin-1")
        if 200 <= status < 300:
            return FragmentAnswer(node, status, reason, backend, source=response)
        try:
            body = await read_body(response)
        except CancelledError:
            raise
        except Exception as error:
            self.report.error(node, error)
            return FragmentAnswer(node)
        self.report.status(node, status)
        return FragmentAnswer(node, status, reason, backend, body)

    async def _gather(self, part: int, headers: HeaderDict, collection: AnswerCollection,
                      nodes: _Nodes) -> None:
        """
        Ask nodes for fragments, as Swift does, until a durable set of C{k}
        is in hand or no more nodes are worth asking.
        """
        settings = self.settings
        scheme = self.scheme
        arrived: DeferredQueue[FragmentAnswer] = DeferredQueue()
        pending: dict[int, Deferred[FragmentAnswer]] = {}

        def spawn() -> bool:
            node = nodes.next()
            if node is None:
                return False
            asking = headers.copy()
            asking["X-Backend-Fragment-Preferences"] = collection.fragment_preferences()
            d = ensureDeferred(self._ask(node, part, asking))
            pending[id(d)] = d

            def landed(result: Any) -> None:
                pending.pop(id(d), None)
                if isinstance(result, Failure):
                    if not result.check(CancelledError):
                        _log.failure("EC fragment GET", result)
                    arrived.put(FragmentAnswer(node))
                else:
                    arrived.put(result)

            d.addBoth(landed)
            return True

        count = scheme.ndata
        if settings.concurrent_gets:
            count += settings.concurrent_ec_extra_requests
        for _ in range(count):
            spawn()
        feeder = None
        if settings.concurrent_gets:
            wait = settings.concurrency_timeout
            if wait is None:
                wait = settings.conn_timeout

            def feed() -> None:
                if nodes.primaries_left > 0:
                    spawn()
                elif feeder is not None and feeder.running:
                    feeder.stop()

            feeder = LoopingCall(feed)
            feeder.clock = self.context.reactor
            feeder.start(wait, now=False)
        extra_requests = 0
        max_extra_requests = scheme.replicas * 2 - scheme.ndata
        try:
            while pending or arrived.pending:
                answer = await arrived.get()
                try:
                    collection.add(answer)
                except ValueError as error:
                    _log.error("Problem with fragment response: {error}", error=error)
                    _drop_answer(answer)
                best = collection.best_bucket
                if best.durable and best.shortfall <= 0:
                    break
                available = extra_requests < max_extra_requests and (
                    nodes.nodes_left or collection.has_alternate_node())
                if available and (collection.shortfall > len(pending)
                                  or not is_good_source(answer.last_status)):
                    extra_requests += 1
                    spawn()
        except BaseException:
            for answer in _all_answers(collection):
                _drop_answer(answer)
            raise
        finally:
            if feeder is not None and feeder.running:
                feeder.stop()
            for d in list(pending.values()):
                d.addErrback(lambda _: None)
                d.cancel()
            while arrived.pending:
                left = arrived.pending.pop()
                if isinstance(left, FragmentAnswer):
                    _drop_answer(left)

    def _error_answer(self, collection: AnswerCollection, primaries: int) -> SwiftResponse:
        """
        The answer when no durable set of fragments was found, from the bad
        answers as Swift weighs them.
        """
        best = collection.best_bucket
        answers: list[tuple[int, str, bytes, HeaderDict]] = []
        suppress = min(1, primaries - 1)
        for status, bucket in collection.bad_buckets.items():
            for answer in bucket.responses():
                if best.durable:
                    stamp = _answer_timestamp(answer.headers, data=True)
                    if stamp <= best.timestamp:
                        # Good data is out there, just not reachable now.
                        continue
                if answer.status:
                    stamp = _answer_timestamp(answer.headers, data=False)
                    if suppress > 0 and answer.status == 404 and not stamp:
                        suppress -= 1
                        continue
                    answers.append((answer.status, answer.reason, answer.body,
                                    answer.headers))
        if not answers and best.status is not None and 200 <= best.status < 300 \
                and not best.durable:
            # A version nobody made durable does not exist yet.
            answers.append((404, "Not Found", b"", HeaderDict()))
        if not answers:
            return error_response(503, method=self.request.method)
        merged = best_response(answers, "Object", len(answers), quorum_size(len(answers)),
                               method=self.request.method)
        merged.headers = self._client_headers(merged.headers, merged.status)
        return merged

    async def _serve(self, part: int, headers: HeaderDict, specs: Optional[list[Spec]],
               collection: AnswerCollection, chosen: list[FragmentAnswer],
               backend: HeaderDict, nodes: _Nodes, best: Any) -> SwiftResponse:
        """
        The decoded object (or the part asked for), from the C{chosen}
        fragment answers.
        """
        scheme = self.scheme
        request = self.request
        for bucket_answers in best.gets.values():
            for extra in bucket_answers[1:]:
                _drop_answer(extra)
        length = int(backend.get("X-Object-Sysmeta-Ec-Content-Length") or 0)
        ignore = request.headers.get("X-Backend-Ignore-Range-If-Metadata-Present", "")
        if specs and any(name.strip() and name.strip() in backend
                         for name in ignore.split(",")):
            # The nodes sent the whole object (a large object's manifest):
            # so is the client.
            specs = None
        first = chosen[0].source
        span = content_range(first.headers.getRawHeaders(b"content-range", [b""])[-1]
                             .decode("latin-1")) if first.code == 206 else None
        if span is not None:
            archive_length = span[2]
        elif first.code == 200 and first.length is not UNKNOWN_LENGTH:
            archive_length = first.length
        else:
            # A multipart answer names the archive's length only in its
            # parts: it follows from the object's.
            archive_length = scheme.archive_length(length)
        plan = plan_read(specs, length)
        client = self._client_headers(backend, 200)
        client.pop("Content-Range", None)
        if plan.status == 416:
            # The nodes sent fragments, but the client's ranges select
            # nothing of the object. As in Swift: when no range selects
            # anything alone, the 416 has the default content type; when
            # some do, but not as a set (too many overlap), it keeps the
            # object's (learned from the nodes' first part when they sent
            # several).
            assert specs is not None
            part_type: Optional[bytes] = None
            if any(ranges_for_length([spec], length) for spec in specs):
                part_type = await self._part_type(backend, [
                    FragmentStream((answer.source, answer.node), answer.frag_index,
                                   [(0, 0)], scheme.fragment_size, self.context.reactor,
                                   self.settings.effective_recoverable_node_timeout,
                                   _no_replacement, self.report.error)
                    for answer in chosen], stop=True)
            else:
                for answer in chosen:
                    _drop_answer(answer)
            response = error_response(416, method=request.method)
            for name, value in client.items():
                if name.lower() not in ("content-length", "content-type"):
                    response.headers[name] = value
            if part_type is not None:
                response.headers["Content-Type"] = part_type.decode("latin-1")
            response.headers["Content-Range"] = f"bytes */{length}"
            return response
        wants = wants_for(plan, scheme.segment_size)
        spans = [archive_span(w, scheme.fragment_size, archive_length) for w in wants]
        streams: list[FragmentStream] = []
        etag = backend.get(_ETAG_IS_AT)

        def find(range_value: str, stream: FragmentStream) -> Deferred[Optional[Source]]:
            return ensureDeferred(self._replacement(
                part, headers, range_value, stream, streams, nodes, collection, etag,
                archive_length))

        for answer in chosen:
            streams.append(FragmentStream(
                (answer.source, answer.node), answer.frag_index, spans,
                scheme.fragment_size, self.context.reactor,
                self.settings.effective_recoverable_node_timeout, find, self.report.error))
        pieces: list[Union[bytes, Want]]
        part_type = await self._part_type(backend, streams)
        client["Content-Type"] = part_type.decode("latin-1")
        if plan.multipart:
            boundary = make_boundary().decode("ascii")[:32]
            layout = MultipartLayout(boundary.encode("ascii"), part_type,
                                     plan.spans, length)
            want_iter = iter(wants)
            pieces = []
            for piece in layout.pieces():
                if isinstance(piece, Frame):
                    pieces.append(piece.data)
                else:
                    assert isinstance(piece, Data)
                    pieces.append(next(want_iter))
            body_length = layout.length()
            client["Content-Type"] = f"multipart/byteranges;boundary={boundary}"
        else:
            pieces = list(wants)
            body_length = sum(w.last - w.first + 1 for w in wants)
            if plan.status == 206:
                first_byte, last_byte = plan.spans[0]
                client["Content-Range"] = f"bytes {first_byte}-{last_byte}/{length}"
        client["Content-Length"] = str(body_length)
        body = ECBody(scheme, streams, pieces, body_length)
        return SwiftResponse(plan.status, client, body)

    async def _part_type(self, backend: HeaderDict, streams: list[FragmentStream],
                         stop: bool = False) -> bytes:
        """
        The object's content type: the nodes' C{Content-Type}, except when
        they answered with multipart bodies (the client asked for several
        ranges): then it is only in their parts' headers, so the streams
        start, and the first part read tells it.

        @param stop: stop the streams once the type is known (they were
            made only to learn it).
        """
        content_type = backend.get("Content-Type", "application/octet-stream")
        if not content_type.lower().startswith("multipart/byteranges"):
            if stop:
                for stream in streams:
                    stream.stop()
            return content_type.encode("latin-1")
        try:
            for stream in streams:
                stream.start()
                found = await stream.part_type()
                if found is not None:
                    return found
        except BaseException:
            stop = True
            raise
        finally:
            if stop:
                for stream in streams:
                    stream.stop()
        return b"application/octet-stream"

    async def _replacement(
        self, part: int, headers: HeaderDict, range_value: str, stream: FragmentStream,
        streams: list[FragmentStream], nodes: _Nodes, collection: AnswerCollection,
        etag: Optional[str], archive_length: int,
    ) -> Optional[Source]:
        """
        Another node's answer for what C{stream} still wants: the same
        object (etag), a fragment index no other live stream reads, and the
        C{Range} asked for.
        """
        client = self.context.node_client
        asking = headers.copy()
        asking["Range"] = range_value
        asking["X-Backend-Fragment-Preferences"] = collection.fragment_preferences()
        in_use = {s.frag_index for s in streams if s is not stream and not s.dead}
        while True:
            node = nodes.next()
            if node is None:
                return None
            try:
                response = await client.request(
                    node, "GET", self._fragment_path(node, part), asking,
                    timeout=self.settings.effective_recoverable_node_timeout)
            except NodeError as error:
                self.report.error(node, error)
                continue
            self.report.status(node, response.code)
            backend = response_headers(response)
            index_text = backend.get("X-Object-Sysmeta-Ec-Frag-Index")
            index = int(index_text) if index_text and index_text.isdigit() else None
            total = content_range(backend.get("Content-Range"))
            ok = (response.code in (200, 206) and backend.get(_ETAG_IS_AT) == etag
                  and index is not None and index not in in_use
                  and (total is None or total[2] == archive_length))
            if ok:
                stream.frag_index = index
                return response, node
            await discard_body(response, close=True)

    # -- PUT ---------------------------------------------------------------

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
        return await self._store(request.content_length)

    async def _connect(self, node_iter: Iterator[Node], part: int,
                       headers: HeaderDict, archive_length: Optional[int]
                       ) -> Optional[MIMEPutter]:
        """
        A putter to the next node of C{node_iter} that takes the PUT.
        """
        settings = self.settings
        for node in node_iter:
            boundary = make_boundary()
            wire = put_headers(headers, boundary, archive_length)
            try:
                putter, first = await connect_putter(
                    self.context.reactor, node, self.backend_path(node, part), wire,
                    boundary, settings.conn_timeout, settings.node_timeout)
            except NodeError as error:
                self.report.error(node, error)
                continue
            if first.status == 507:
                self.context.limiter.limit_now(node, "507 Insufficient Storage")
                putter.abort()
                continue
            if first.status >= 500:
                self.report.status(node, first.status)
                putter.abort()
                continue
            if first.interim and not (
                    is_true(first.headers.get("X-Obj-Metadata-Footer"))
                    and is_true(first.headers.get("X-Obj-Multiphase-Commit"))):
                self.report.error(node, ValueError("no footer or multiphase support"))
                putter.abort()
                continue
            return putter
        return None

    async def _store(self, length: Optional[int]) -> SwiftResponse:
        request = self.request
        scheme = self.scheme
        ring, part = self._ring()
        primaries = ring.get_part_nodes(part)
        quorum = scheme.quorum
        base = self._base_headers()
        slots = self._slot_headers(base, len(primaries), queue=True)
        node_iter = self.nodes(ring, part)
        # Told to the nodes only when the object's length is known and not
        # 0, as Swift tells it.
        archive_length = scheme.archive_length(length) if length else None
        connecting = [ensureDeferred(self._connect(node_iter, part, h, archive_length))
                      for h in slots]
        try:
            results = await DeferredList(connecting, consumeErrors=True)
        except CancelledError:
            for d in connecting:
                d.addErrback(lambda _: None)
                d.cancel()
            raise
        putters: list[MIMEPutter] = []
        for ok, value in results:
            outcome: Any = value
            if ok and outcome is not None:
                putters.append(outcome)
            elif not ok and not outcome.check(CancelledError):
                _log.failure("EC PUT connection", outcome)
        finals = [p.final for p in putters if p.final is not None]
        try:
            if if_none_match_star(request.headers.get("If-None-Match")) and any(
                    f.status == 412 for f in finals):
                return error_response(412, method="PUT")
            if any(f.status == 409 for f in finals):
                return error_response(202, method="PUT")
            putters = [p for p in putters if p.final is None]
            if len(putters) < quorum:
                _log.error("Object PUT returning 503, {conns}/{nodes} required connections",
                           conns=len(putters), nodes=quorum)
                return error_response(503, method="PUT")
            _assign_fragments(putters, scheme)
            return await self._transfer(putters, primaries, quorum, base, length)
        finally:
            for putter in putters:
                if putter.final is None:
                    putter.abort()

    async def _transfer(self, putters: list[MIMEPutter], primaries: list[Node],
                        quorum: int, base: HeaderDict, length: Optional[int]
                        ) -> SwiftResponse:
        request = self.request
        settings = self.settings
        upload = ECUpload(self.scheme, putters, quorum, self.context.constraints.max_file_size)
        try:
            await upload.run(request.body)
        except TooLarge:
            return error_response(413, "Your request is too large.", method="PUT")
        except QuorumLost:
            _log.error("Object PUT exceptions during send, {live}/{quorum} required "
                       "connections", live=len(upload.live), quorum=quorum)
            return error_response(503, method="PUT")
        except CancelledError:
            raise
        except ClientGone:
            return error_response(499, method="PUT")
        except Exception as error:
            _log.warn("EC PUT source failed: {error}", error=error)
            return error_response(499, method="PUT")
        if length is not None and upload.received < length:
            return error_response(499, method="PUT")
        etag = upload.etag
        received_etag = (request.headers.get("Etag") or "").strip()
        if len(received_etag) > 1 and received_etag[0] == received_etag[-1] == '"':
            received_etag = received_etag[1:-1]
        if received_etag and received_etag != etag:
            return error_response(422, method="PUT")
        live = upload.live
        for putter in live:
            assert putter.frag_index is not None
            putter.end_of_data(fragment_footers(
                self.scheme, etag, upload.received, putter.frag_index,
                upload.archive_etag(putter.frag_index)))
        # First phase: every node says the archive is on disk.
        acks = await self._responses(live, settings.node_timeout)
        statuses = [r.status for _, r in acks]
        if not have_quorum(statuses, len(primaries), quorum):
            _log.error("Not enough object servers ack'ed (got {count})",
                       count=statuses.count(100))
            return error_response(503, method="PUT")
        if sum(1 for s in statuses if 100 <= s < 200) < quorum:
            merged = best_response(
                [(r.status, r.reason, r.body, r.headers) for _, r in acks],
                "Object PUT", len(statuses), quorum, method="PUT")
            if 400 <= merged.status < 500:
                return error_response(503, method="PUT")
            return merged
        committing = [p for p, r in acks if r.interim]
        for putter in committing:
            putter.send_commit()
        # Second phase: the durable archives.
        finals = await self._final_responses(committing, quorum)
        answers = [(r.status, r.reason, r.body, r.headers) for r in finals]
        response = best_response(answers, "Object PUT", len(primaries), quorum,
                                 etag=etag, method="PUT")
        if response.status == 201:
            headers = HeaderDict({"Content-Type": "text/html; charset=UTF-8"})
            headers["Etag"] = etag
            headers["Last-Modified"] = http_date(Timestamp(base["X-Timestamp"]))
            return SwiftResponse(201, headers, b"")
        response.headers = client_response_headers(response.headers)
        return response

    async def _responses(self, putters: list[MIMEPutter], timeout: float
                         ) -> list[tuple[MIMEPutter, PutterResponse]]:
        """
        The next response of each putter (those that give none within
        C{timeout} are failed and left out).
        """
        results = await DeferredList([p.next_response(timeout) for p in putters],
                                     consumeErrors=True)
        out = []
        for putter, (ok, value) in zip(putters, results):
            outcome: Any = value
            if ok:
                out.append((putter, outcome))
            else:
                if not outcome.check(CancelledError):
                    # A cancellation is ours (the client went away), not
                    # the node's: it must not count towards error limiting.
                    self.report.error(putter.node, outcome.value)
                putter.abort(outcome.value)
        return out

    async def _final_responses(self, putters: list[MIMEPutter], quorum: int
                               ) -> list[PutterResponse]:
        """
        The final answers: all that come until C{quorum} succeeded, then
        those that come within C{post_quorum_timeout}.
        """
        settings = self.settings
        arrived: DeferredQueue[Any] = DeferredQueue()
        waits = []
        def land(result: Any, putter: MIMEPutter) -> None:
            arrived.put((putter, result))

        for putter in putters:
            d = putter.next_response(settings.node_timeout)
            d.addBoth(land, putter)
            waits.append(d)
        finals: list[PutterResponse] = []
        successes = 0
        left = len(putters)
        try:
            while left:
                putter, result = await arrived.get()
                left -= 1
                if isinstance(result, Failure):
                    self.report.error(putter.node, result.value or Exception("failed"))
                    continue
                self.report.status(putter.node, result.status)
                finals.append(result)
                if 200 <= result.status < 300:
                    successes += 1
                    if successes >= quorum:
                        break
            if left:
                getting = arrived.get()
                clock = self.context.reactor
                deadline = clock.seconds() + settings.post_quorum_timeout
                while left:
                    timer = clock.callLater(max(0.0, deadline - clock.seconds()),
                                            getting.cancel)
                    try:
                        putter, result = await getting
                    except CancelledError:
                        break
                    finally:
                        if timer.active():
                            timer.cancel()
                    left -= 1
                    if not isinstance(result, Failure):
                        finals.append(result)
                    getting = arrived.get()
                getting.addErrback(lambda _: None)
                getting.cancel()
        finally:
            for d in waits:
                if not d.called:
                    d.addErrback(lambda _: None)
                    d.cancel()
        return finals

    # -- POST, DELETE --------------------------------------------------------

    async def POST(self) -> SwiftResponse:
        request = self.request
        _, bad = await self.writable_container()
        if bad is not None:
            return bad
        now = self.context.reactor.seconds()
        bad = prepare_object_post(request, now, self.context.constraints)
        if bad is not None:
            return bad
        self.allow_open_expired()
        return await self._write_archives("POST", now)

    async def DELETE(self) -> SwiftResponse:
        _, bad = await self.writable_container()
        if bad is not None:
            return bad
        return await self._write_archives("DELETE", self.context.reactor.seconds())

    async def _write_archives(self, method: str, now: float) -> SwiftResponse:
        """
        Send a bodiless C{method} to the node of every fragment archive and
        merge the answers as for replicas, at the request's C{X-Timestamp}
        or else C{now}.
        """
        bad = ensure_x_timestamp(self.request, now)
        if bad is not None:
            return bad
        ring, part = self._ring()
        base = self._base_headers()
        slots = self._slot_headers(base, len(ring.get_part_nodes(part)),
                                   queue=method == "POST")
        response = await self.write_to_nodes(ring, part, method, lambda slot: slots[slot])
        response.headers = client_response_headers(
            response.headers, keep_sysmeta=bool(self.request.environ.get("swift.sysmeta_ok")))
        return response


def _assign_fragments(putters: list[MIMEPutter], scheme: ECScheme) -> None:
    """
    Give each putter its fragment index: a primary that of its ring slot; a
    handoff that of a missing primary, the most-missing first, as Swift
    places them.
    """
    handoffs = []
    for putter in putters:
        index = putter.node.get("index")
        if index is None:
            handoffs.append(putter)
        else:
            putter.frag_index = scheme.backend_index(int(index))
    have = [p.frag_index for p in putters if p.frag_index is not None]
    tiers: dict[int, list[int]] = {}
    for frag in range(scheme.unique_fragments):
        lacking = scheme.duplication - have.count(frag)
        for tier in range(lacking):
            tiers.setdefault(tier, []).append(frag)
    holes = [frag for tier in sorted(tiers, reverse=True) for frag in tiers[tier]]
    for hole, putter in zip(holes, handoffs):
        putter.frag_index = hole


def _answer_timestamp(headers: HeaderDict, data: bool) -> Timestamp:
    names = ("X-Backend-Data-Timestamp",) if data else ()
    for name in names + ("X-Backend-Timestamp", "X-Timestamp"):
        value = headers.get(name)
        if value:
            try:
                return Timestamp(value, check_bounds=False)
            except ValueError:
                pass
    return Timestamp(0)


def _all_answers(collection: AnswerCollection) -> list[FragmentAnswer]:
    out = []
    for bucket in list(collection.buckets.values()) + list(collection.bad_buckets.values()):
        for answers in bucket.gets.values():
            out.extend(answers)
    return out


def _no_replacement(range_value: str, stream: FragmentStream) -> Deferred[Optional[Source]]:
    """
    No replacement: for streams that only tell the object's content type.
    """
    return succeed(None)


def _drop_answer(answer: FragmentAnswer) -> None:
    source, answer.source = answer.source, None
    if source is not None:
        discard_body(source, close=True).addErrback(lambda _: None)
