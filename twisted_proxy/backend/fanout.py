# -*- test-case-name: tests.test_fanout,tests.test_upload_zerocopy -*-
"""
An object PUT streamed to its nodes at once, with Swift's time limits and
quorum: what Swift's object controller does with its putters.

The body goes through one L{UploadFanout}, one slot per replica. A slot
whose node cannot be reached (refused, or no connection in time) moves on
to the next node, a handoff, before any of the body goes out, as Swift
moves on to handoffs until it has as many connections as replicas. A node
that fails later, or refuses the body, is dropped and the upload goes on to
the others while a quorum remains.

Given a L{SocketRelay}, the fan-out may take the client's body straight
from its socket (L{UploadFanout.relay_from}); the same limits apply.
"""

from __future__ import annotations

from itertools import islice
from typing import Callable, Iterable, Optional

from twisted.internet.defer import CancelledError, Deferred, DeferredList, ensureDeferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure
from twisted.web.iweb import IBodyProducer

from twisted_proxy.backend.content import BackendAnswer, read_answer
from twisted_proxy.backend.nodes import NODE_FAILURES, NodeReporter
from twisted_proxy.backend.upload import UploadFanout, UploadSlot
from twisted_proxy.backend.zerocopy import SocketRelay
from twisted_proxy.interfaces import INodeClient
from twisted_proxy.swift.bestresponse import quorum_size
from twisted_proxy.swift.http import HeaderDict
from twisted_proxy.swift.ring import Node

__all__ = ["PutFanout", "QuorumLost"]


class QuorumLost(Exception):
    """
    Too few nodes were left taking the body: the upload was stopped.
    """


def _unavailable() -> BackendAnswer:
    return (503, "Service Unavailable", b"", HeaderDict())


class PutFanout:
    """
    Streams object PUTs to storage nodes.

    @param client: sends the requests.
    @param clock: for the time limits.
    @param node_timeout: seconds a node may take no data while the body is
        going out, and seconds each node has to answer once it has all of
        it (Swift's C{node_timeout} for both).
    @param report: told of each node's status and failures.
    @param relay: runs zero-copy relays of bodies, or C{None} for none.
    """

    def __init__(self, client: INodeClient, clock: IReactorTime, node_timeout: float,
                 report: NodeReporter, relay: Optional[SocketRelay] = None) -> None:
        self._client = client
        self._clock = clock
        self._node_timeout = node_timeout
        self._report = report
        self._relay = relay

    async def put(
        self,
        nodes: Iterable[Node],
        replicas: int,
        path: Callable[[Node], str],
        headers_for: Callable[[int], HeaderDict],
        length: Optional[int],
        source: Optional[IBodyProducer],
    ) -> Optional[list[BackendAnswer]]:
        """
        Stream C{source} to C{nodes}.

        @param nodes: the nodes to write to, in order: the first
            C{replicas} are tried at once, and each one that cannot be
            reached is replaced by the next (a handoff). Pulled from only
            here, one at a time (an iterator may be given).
        @param replicas: the ring's replica count, which sets the quorum
            and the number of nodes written to.
        @param path: the backend path of the object on a node.
        @param headers_for: the headers of the request of replica C{i},
            whichever node takes it.
        @param length: the body length, or C{None} when chunked.
        @param source: the body, or C{None} for an empty one.
        @return: one answer per replica (those that gave none count as
            503), or C{None} when fewer than a quorum of nodes took the
            body.
        @raise CancelledError: when cancelled (the client went away).
        @raise Exception: a proxy bug met while writing to some node; the
            other requests are ended first.
        """
        quorum = quorum_size(replicas)
        spare = iter(nodes)
        current = list(islice(spare, replicas))
        if len(current) < quorum:
            return None
        fanout = UploadFanout(length, self._clock, self._relay, self._node_timeout)
        slots = [fanout.slot() for _ in current]
        bugs: list[Failure] = []

        async def one(index: int) -> BackendAnswer:
            slot = slots[index]
            while True:
                node = current[index]
                try:
                    # No overall limit: the watch below bounds each write
                    # and the final answer by node_timeout, as Swift does.
                    response = await self._client.request(
                        node, "PUT", path(node), headers_for(index), slot, timeout=0)
                    answer = await read_answer(response)
                except NODE_FAILURES as error:
                    if fanout.source_failed:
                        # The body's source failed (a client gone, a body
                        # that failed its checks): the request was aborted
                        # on purpose, which is no error of the node's.
                        fanout.drop_slot(slot)
                        return _unavailable()
                    self._report.error(node, error)
                    if slot.live and slot.consumer is None:
                        # Never connected: none of the body went to it, so
                        # the next node (a handoff) takes this replica.
                        following = next(spare, None)
                        if following is not None:
                            current[index] = following
                            continue
                    fanout.drop_slot(slot)
                    return _unavailable()
                except CancelledError:
                    fanout.drop_slot(slot)
                    raise
                except Exception:
                    # Not the node's fault: no error counted against it.
                    fanout.drop_slot(slot)
                    if fanout.source_failed:
                        return _unavailable()
                    bugs.append(Failure())
                    raise
                break
            self._report.status(node, answer[0])
            if slot.live and answer[0] >= 300:
                fanout.drop_slot(slot)
            return answer

        pending = [ensureDeferred(one(index)) for index in range(len(current))]
        watch: Optional[_UploadWatch] = None

        def abandon() -> None:
            # Nobody will wait for these answers: end them quietly.
            for d in pending:
                d.addErrback(lambda _: None)
                d.cancel()
            if watch is not None:
                watch.stop()

        def raise_bug() -> None:
            if bugs:
                abandon()
                bugs[0].raiseException()

        try:
            await fanout.when_ready()
            raise_bug()
            if len(fanout.live_slots) < quorum:
                abandon()
                return None
            watch = _UploadWatch(self._clock, self._node_timeout, quorum, fanout, slots,
                                 pending,
                                 lambda index, why: self._report.error(current[index], why))
            try:
                await _pump(source, fanout, watch)
            finally:
                watch.body_done()
            raise_bug()
            if watch.quorum_lost:
                abandon()
                return None
            results = await DeferredList(pending, consumeErrors=True)
            watch.stop()
        except CancelledError:
            # The client went away.
            abandon()
            raise
        raise_bug()
        answers: list[BackendAnswer] = [value for ok, value in results if ok]
        while len(answers) < replicas:
            answers.append(_unavailable())
        return answers


async def _pump(source: Optional[IBodyProducer], fanout: UploadFanout,
                watch: "_UploadWatch") -> None:
    """
    Feed C{source} into C{fanout} until it ends, or until too few nodes
    remain to make a quorum.
    """
    if source is None:
        fanout.finish()
        return
    producing = source.startProducing(fanout)  # type: ignore[arg-type]
    fanout.register_source(source)  # type: ignore[arg-type]
    watch.producing = producing
    try:
        await producing
    except CancelledError:
        if watch.quorum_lost:
            fanout.fail(Failure(QuorumLost("too few nodes left")))
            return
        raise
    except Exception as error:
        # Whatever the source failed with, the nodes must not commit a
        # partial object.
        fanout.fail(Failure(error))
        return
    fanout.finish()


class _UploadWatch:
    """
    Swift's time limits on an upload: a node that takes no data for
    C{node_timeout} is dropped (its request cancelled; a zero-copy relay
    finds such nodes itself and tells L{UploadFanout.onSlotFailed}), and
    once the body has gone out each node has C{node_timeout} to answer.
    When fewer than a quorum of nodes remain, the upload stops
    (C{quorum_lost}).
    """

    def __init__(self, clock: IReactorTime, node_timeout: float, quorum: int,
                 fanout: UploadFanout, slots: list[UploadSlot],
                 pending: list["Deferred[BackendAnswer]"],
                 failed: Callable[[int, BaseException], None]) -> None:
        self._clock = clock
        self._timeout = node_timeout
        self._quorum = quorum
        self._fanout = fanout
        self._slots = slots
        self._pending = pending
        self._failed = failed
        self.quorum_lost = False
        self.producing: Optional[Deferred[None]] = None
        self._answers: list[IDelayedCall] = []
        self._loop = LoopingCall(self._check)
        self._loop.clock = clock
        self._loop.start(min(1.0, node_timeout / 4), now=False)
        fanout.onSlotFailed = self._relay_dropped

    def _relay_dropped(self, slot: UploadSlot, why: Exception) -> None:
        index = self._slots.index(slot)
        self._failed(index, why)
        self._pending[index].cancel()
        self._check()

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

    def body_done(self) -> None:
        """
        The whole body went out: the stall check ends, and each node gets
        C{node_timeout} to answer.
        """
        if self._loop.running:
            self._loop.stop()
        for d in self._pending:
            if not d.called:
                call = self._clock.callLater(self._timeout, d.cancel)
                d.addBoth(_cancel_call, call)
                self._answers.append(call)

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()
        for call in self._answers:
            if call.active():
                call.cancel()


def _cancel_call(result: object, call: IDelayedCall) -> object:
    if call.active():
        call.cancel()
    return result
