# -*- test-case-name: tests.test_sources -*-
"""
Finding the node a read is served from, by the rules of Swift's
C{GetOrHeadHandler} and its C{NodeIter}: primaries first, then handoffs;
tombstones, handoff 404s and C{X-Newest} judged as Swift judges them; with
C{concurrent_gets}, the next node asked whenever the current ones are slow;
and, when a body fails part way, the next node that can continue it.
"""

from __future__ import annotations

from typing import Any, AsyncGenerator, Callable, Iterator, Optional, Union

from twisted.internet.defer import CancelledError, Deferred, DeferredQueue
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from twisted.web.iweb import IResponse

from twisted_proxy.backend.content import (
    BackendAnswer,
    discard_body,
    drop_body,
    read_answer,
)
from twisted_proxy.backend.nodeclient import NodeError, response_headers
from twisted_proxy.backend.nodes import NODE_FAILURES, NodeReporter, NodeTimings
from twisted_proxy.interfaces import INodeClient
from twisted_proxy.swift.etags import normalize_etag
from twisted_proxy.swift.http import HeaderDict
from twisted_proxy.swift.ring import Node
from twisted_proxy.swift.timestamp import Timestamp, header_timestamp

__all__ = ["SourceFinder", "Found", "good_status", "source_timestamp"]

#: What a search found: the chosen response (body unread unless the
#: search kept it) and its node, or C{None}; and the answers collected on
#: the way.
Found = tuple[Optional[tuple[IResponse, Node]], list[BackendAnswer]]


def source_timestamp(headers: HeaderDict) -> Timestamp:
    """
    The timestamp a source is judged by, as Swift picks it.
    """
    for name in ("X-Backend-Data-Timestamp", "X-Backend-Timestamp",
                 "X-Put-Timestamp", "X-Timestamp"):
        stamp = header_timestamp(headers.get(name))
        if stamp is not None:
            return stamp
    return Timestamp(0)


def good_status(status: int) -> bool:
    """
    Whether a read's answer with C{status} is a source: a 2xx or 3xx.
    """
    return 200 <= status < 400


class SourceFinder:
    """
    One read's search for a source.

    @param client: sends the requests.
    @param clock: for C{concurrency_timeout} and response timings.
    @param timings: where each node's response time is recorded (for
        C{sorting_method = timing}).
    @param report: told of each node's status and failures.
    @param path: the backend path (query included) of the read on a node.
    @param method: C{GET} or C{HEAD}.
    @param headers: the backend request's headers.
    @param newest: the client asked for C{X-Newest}: every primary is asked
        and the newest source wins.
    @param good: which statuses make a source.
    @param concurrent_gets: Swift's C{concurrent_gets}; ignored with
        C{newest}, as in Swift.
    @param concurrency_timeout: seconds to wait for an answer before asking
        the next node too, with C{concurrent_gets}.
    @param suppress_missing: how many 404s without C{X-Backend-Timestamp}
        from primaries are not counted, the first ones to come (Swift's
        C{rebalance_missing_suppression_count}, which the caller caps at
        one fewer than the primaries): a primary newly given a partition
        by a rebalance has nothing yet, and says nothing about the object.
    """

    def __init__(
        self,
        client: INodeClient,
        clock: IReactorTime,
        timings: NodeTimings,
        report: NodeReporter,
        path: Callable[[Node], str],
        method: str,
        headers: HeaderDict,
        newest: bool = False,
        good: Callable[[int], bool] = good_status,
        concurrent_gets: bool = False,
        concurrency_timeout: float = 0.5,
        suppress_missing: int = 0,
    ) -> None:
        self._client = client
        self._clock = clock
        self._timings = timings
        self._report = report
        self._path = path
        self._method = method
        self._headers = headers
        self._newest = newest
        self._good = good
        self._concurrent = concurrent_gets and not newest
        self._wait = concurrency_timeout
        self._suppress_missing = suppress_missing

    async def find(self, node_iter: Iterator[Node], keep_body: bool = True) -> Found:
        """
        Try the nodes of C{node_iter} by Swift's rules:

          - nodes are tried one at a time (primaries, then handoffs) until
            one answers with a C{good} status;
          - a 404 carrying C{X-Backend-Timestamp} is a tombstone: a source
            older than the newest tombstone seen is not served;
          - a 404 or 5xx from a handoff without C{X-Backend-Timestamp} says
            nothing (a handoff usually has no copy) and is not counted, nor
            are the first C{suppress_missing} such 404s from primaries;
          - with C{newest}, every primary is asked and the source with the
            newest timestamp is served, the others closed.

        @param node_iter: the nodes to try; a later resume may carry on
            with what this search leaves of it.
        @param keep_body: read the chosen source's body into the last
            answer; otherwise it is left unread.
        @return: see L{Found}.
        @raise CancelledError: when cancelled (the client went away); a
            request the search makes never fails it otherwise, unless the
            proxy has a bug.
        """
        answers: list[BackendAnswer] = []
        tombstone = Timestamp(0)
        candidates: list[tuple[Timestamp, IResponse, Node]] = []
        newest = self._newest
        suppress = self._suppress_missing

        def enough(node: Node) -> bool:
            # X-Newest asks every primary, and a handoff only when none
            # answered.
            return newest and "handoff_index" in node and bool(candidates)

        async def consider(node: Node, outcome: Union[IResponse, NodeError]
                           ) -> Optional[Found]:
            # One node's answer: the search's result when it ends the
            # search, else None.
            nonlocal tombstone, suppress
            if isinstance(outcome, NodeError):
                self._report.error(node, outcome)
                return None
            response = outcome
            status = response.code
            self._report.status(node, status)
            if self._good(status):
                stamp = source_timestamp(response_headers(response))
                if stamp < tombstone:
                    await discard_body(response, close=True)
                    answers.append(
                        (404, "Not Found", b"", response_headers(response)))
                    return None
                if newest:
                    candidates.append((stamp, response, node))
                    return None
                return await _chosen(response, node, answers, keep_body)
            try:
                answer = await read_answer(response)
            except NODE_FAILURES as error:
                self._report.error(node, error)
                return None
            if status == 404 or status >= 500:
                deleted = header_timestamp(answer[3].get("X-Backend-Timestamp"))
                if not deleted:
                    # A handoff without the object, or failing, says
                    # nothing of it; nor do the first primaries without it.
                    if "handoff_index" in node:
                        return None
                    if status == 404 and suppress > 0:
                        suppress -= 1
                        return None
                elif status == 404 and deleted > tombstone:
                    tombstone = deleted
            answers.append(answer)
            return None

        try:
            if not self._concurrent:
                # One node at a time, in order: no generator needed.
                for node in node_iter:
                    if enough(node):
                        break
                    outcome: Union[IResponse, NodeError]
                    try:
                        outcome = await self._ask(node)
                    except NodeError as error:
                        outcome = error
                    found = await consider(node, outcome)
                    if found is not None:
                        return found
            else:
                arriving = self.answers(node_iter, enough)
                try:
                    async for node, outcome in arriving:
                        found = await consider(node, outcome)
                        if found is not None:
                            return found
                finally:
                    # However the search ends, requests still in flight are
                    # cancelled and unread answers closed (by hand: no
                    # contextlib.aclosing before Python 3.10).
                    await arriving.aclose()
        except BaseException:
            # Given up (the client went away): versions held open for
            # X-Newest are let go.
            for _, held, _ in candidates:
                drop_body(held)
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
        return await _chosen(response, node, answers, keep_body)

    async def resume(self, node_iter: Iterator[Node], range_header: str,
                     etag: Optional[str]) -> Optional[tuple[IResponse, Node]]:
        """
        The next node of C{node_iter} that can continue a GET's body: it
        answers 206 to C{range_header} with the same C{etag} (a replica
        holding another version of the object must not be spliced in, nor a
        whole body from a node that ignored the C{Range}).

        @return: its response (body unread) and the node, or C{None} when
            no node is left.
        """
        headers = self._headers.copy()
        headers["Range"] = range_header
        for node in node_iter:
            try:
                response = await self._client.request(node, "GET", self._path(node), headers)
            except NodeError as error:
                self._report.error(node, error)
                continue
            self._report.status(node, response.code)
            found = normalize_etag(response_headers(response).get("Etag"))
            if response.code == 206 and found == etag:
                return response, node
            await discard_body(response, close=True)
            if response.code in (200, 206):
                self._report.error(node, ValueError(f"etag {found} is not {etag}"))
        return None

    def _ask(self, node: Node) -> "Deferred[IResponse]":
        clock = self._clock
        started = clock.seconds()

        def timed(result: Any) -> Any:
            if not isinstance(result, Failure):
                self._timings.record(node, clock.seconds() - started)
            return result

        return self._client.request(
            node, self._method, self._path(node), self._headers).addBoth(timed)

    async def answers(
        self, node_iter: Iterator[Node], enough: Callable[[Node], bool],
    ) -> AsyncGenerator[tuple[Node, Union[IResponse, NodeError]], None]:
        """
        The nodes' answers to the read, as they arrive: a response (body
        unread) or the L{NodeError} a node failed with.

        One node at a time; with C{concurrent_gets}, the next node is asked
        too whenever none has answered within C{concurrency_timeout}, and
        the first answers win. On exit, requests still under way are
        cancelled and answers nobody took are closed. No node is asked once
        C{enough} says so of it.
        """
        if not self._concurrent:
            for node in node_iter:
                if enough(node):
                    return
                try:
                    yield node, await self._ask(node)
                except NodeError as error:
                    yield node, error
            return

        clock = self._clock
        arrived: DeferredQueue[tuple[Node, Any]] = DeferredQueue()
        inflight: dict[int, Deferred[IResponse]] = {}
        exhausted = False

        def launch() -> bool:
            nonlocal exhausted
            node = None if exhausted else next(node_iter, None)
            if node is None or enough(node):
                exhausted = True
                return False
            d = self._ask(node)
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
                    timer = clock.callLater(self._wait, getting.cancel)
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
                    drop_body(left)


async def _chosen(response: IResponse, node: Node, answers: list[BackendAnswer],
                  keep_body: bool) -> Found:
    if keep_body:
        answers.append(await read_answer(response))
    return (response, node), answers
