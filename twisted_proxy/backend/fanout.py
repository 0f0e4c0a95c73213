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
from typing import Any, Callable, Iterable, Iterator, Optional

from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IBodyProducer, IResponse

from twisted_proxy.backend.content import BackendAnswer, bodiless_answer, read_answer
from twisted_proxy.backend.nodes import NODE_FAILURES, NodeReporter
from twisted_proxy.backend.upload import UploadFanout, UploadSlot
from twisted_proxy.backend.zerocopy import SocketRelay
from twisted_proxy.interfaces import INodeClient
from twisted_proxy.swift.bestresponse import QuorumTally, quorum_size
from twisted_proxy.swift.http import HeaderDict
from twisted_proxy.swift.ring import Node

__all__ = ["PutFanout", "QuorumLost"]

_log = Logger()


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
    @param post_quorum_timeout: seconds the nodes still to answer are
        waited for once the answers in decide the outcome (Swift's
        C{post_quorum_timeout}); they go on answering after that until
        C{node_timeout}, for error limiting only. C{None}: every node is
        waited for.
    """

    def __init__(self, client: INodeClient, clock: IReactorTime, node_timeout: float,
                 report: NodeReporter, relay: Optional[SocketRelay] = None,
                 post_quorum_timeout: Optional[float] = None) -> None:
        self._client = client
        self._clock = clock
        self._node_timeout = node_timeout
        self._report = report
        self._relay = relay
        self._post_quorum_timeout = post_quorum_timeout

    def put(
        self,
        nodes: Iterable[Node],
        replicas: int,
        path: Callable[[Node], str],
        headers_for: Callable[[int], HeaderDict],
        length: Optional[int],
        source: Optional[IBodyProducer],
    ) -> "Deferred[Optional[list[BackendAnswer]]]":
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
        @return: a L{Deferred} firing with one answer per replica (those
            that gave none, or none by C{post_quorum_timeout} after the
            answers decided the outcome, count as 503), or with C{None}
            when fewer than a quorum of nodes took the body. It fails with L{CancelledError}
            when cancelled (the client went away: every request is ended),
            and with a proxy bug met while writing to some node (the other
            requests are ended first).
        """
        quorum = quorum_size(replicas)
        spare = iter(nodes)
        current = list(islice(spare, replicas))
        if len(current) < quorum:
            return succeed(None)
        return _Upload(self, spare, current, replicas, quorum, path, headers_for, length,
                       source).start()


#: The phases of an L{_Upload}.
_CONNECTING, _SENDING, _ANSWERING, _LINGERING, _DONE = range(5)


class _Upload:
    """
    One L{PutFanout.put}, driven by callbacks: Swift's putters, one slot
    per replica, as a state machine rather than a coroutine per node (a
    small PUT spends much of its time in coroutine and L{Deferred}
    machinery otherwise).

    Its phases: C{_CONNECTING} until every slot has started (its request
    is connected and asks for its body) or gone; C{_SENDING} while the
    source's body goes out; C{_ANSWERING} until every slot has its outcome
    (an answer, or none), or until C{post_quorum_timeout} after the answers
    decided the outcome; then C{_LINGERING}, the result fired, until the
    answers still out come or C{node_timeout} ends them; C{_DONE} once
    nothing is out.
    """

    def __init__(self, owner: PutFanout, spare: Iterator[Node], current: list[Node],
                 replicas: int, quorum: int, path: Callable[[Node], str],
                 headers_for: Callable[[int], HeaderDict], length: Optional[int],
                 source: Optional[IBodyProducer]) -> None:
        self._client = owner._client
        self._clock = owner._clock
        self._timeout = owner._node_timeout
        self._post_quorum_timeout = owner._post_quorum_timeout
        self._report = owner._report
        self._spare = spare
        self._current = current
        self._replicas = replicas
        self._quorum = quorum
        self._path = path
        self._headers_for = headers_for
        self._source = source
        self._fanout = fanout = UploadFanout(length, owner._clock, owner._relay,
                                             owner._node_timeout)
        count = len(current)
        self._slots = [fanout.slot() for _ in range(count)]
        #: Each slot's request, then the reading of its answer's body,
        #: while it is out.
        self._requests: list[Optional[Deferred[Any]]] = [None] * count
        #: Each slot's answer; C{None} for one that gave none (cancelled,
        #: or a bug), which counts as 503.
        self._answers: list[Optional[BackendAnswer]] = [None] * count
        self._open = count
        self._bug: Optional[Failure] = None
        self._phase = _CONNECTING
        self._watch: Optional[_UploadWatch] = None
        self._producing: Optional[Deferred[None]] = None
        self._answerTimer: Optional[IDelayedCall] = None
        #: When C{node_timeout} ends the wait for answers (once the body is
        #: out).
        self._answersDue = 0.0
        self._tally = QuorumTally(replicas)
        self._result: Deferred[Optional[list[BackendAnswer]]] = Deferred(self._cancel)

    def start(self) -> "Deferred[Optional[list[BackendAnswer]]]":
        """
        Send every slot's request; the body follows once every slot has
        started or gone.
        """
        for index in range(len(self._slots)):
            self._send(index)
        if self._phase == _CONNECTING:
            self._fanout.on_ready(self._ready)
        return self._result

    # -- the requests --------------------------------------------------

    def _send(self, index: int) -> None:
        """
        Send the request of slot C{index} to its current node.
        """
        node = self._current[index]
        try:
            # No overall limit: the watch bounds each write and the final
            # answer by node_timeout, as Swift does.
            d = self._client.request(node, "PUT", self._path(node),
                                     self._headers_for(index), self._slots[index],
                                     timeout=0)
        except BaseException:
            self._failed(Failure(), index, node)
            return
        self._requests[index] = d
        d.addCallbacks(self._responded, self._failed, (index, node), None, (index, node))

    def _responded(self, response: IResponse, index: int, node: Node) -> None:
        """
        Slot C{index}'s node answered: its answer, read whole (at once
        when it has no body, as a write's answer has none).
        """
        reading: Optional[Deferred[BackendAnswer]] = None
        try:
            if response.length == 0:
                answer = bodiless_answer(response)
            else:
                reading = read_answer(response)
        except BaseException:
            self._failed(Failure(), index, node)
            return
        if reading is None:
            self._answered(answer, index, node)
            return
        # Cancelling the request now stops the reading.
        self._requests[index] = reading
        reading.addCallbacks(self._answered, self._failed, callbackArgs=(index, node),
                             errbackArgs=(index, node))

    def _answered(self, answer: BackendAnswer, index: int, node: Node) -> None:
        self._requests[index] = None
        try:
            self._report.status(node, answer[0])
        except Exception:
            self._failed(Failure(), index, node)
            return
        slot = self._slots[index]
        if slot.live and answer[0] >= 300:
            self._fanout.drop_slot(slot)
        self._answers[index] = answer
        self._tally.add(answer[0])
        self._slot_done()
        self._check_quorum()

    def _failed(self, failure: Failure, index: int, node: Node) -> None:
        self._requests[index] = None
        fanout = self._fanout
        slot = self._slots[index]
        error = failure.value
        if isinstance(error, NODE_FAILURES):
            if fanout.source_failed:
                # The body's source failed (a client gone, a body that
                # failed its checks): the request was aborted on purpose,
                # which is no error of the node's.
                fanout.drop_slot(slot)
                self._answers[index] = _unavailable()
            else:
                self._report.error(node, error)
                if slot.live and not slot.started and self._phase != _DONE:
                    # Never connected: none of the body went to it, so the
                    # next node (a handoff) takes this replica.
                    following = next(self._spare, None)
                    if following is not None:
                        self._current[index] = following
                        self._send(index)
                        return
                fanout.drop_slot(slot)
                self._answers[index] = _unavailable()
        elif isinstance(error, CancelledError):
            # Ended by the watch, or abandoned: no answer.
            fanout.drop_slot(slot)
        else:
            # Not the node's fault: no error counted against it.
            fanout.drop_slot(slot)
            if fanout.source_failed:
                self._answers[index] = _unavailable()
            elif self._phase == _LINGERING:
                # The result is out: nothing is left to fail.
                _log.failure("A late answer to an object PUT met a bug", failure)
            elif self._bug is None:
                self._bug = failure
        self._slot_done()

    def _slot_done(self) -> None:
        """
        One more slot has its outcome.
        """
        self._open -= 1
        if self._open == 0:
            if self._phase == _ANSWERING:
                self._finish()
            elif self._phase == _LINGERING:
                self._stop_timers()

    def _check_quorum(self) -> None:
        """
        While answers are awaited: once those in decide the outcome
        (L{have_quorum}), give the others C{post_quorum_timeout} more, as
        Swift's proxy does, by bringing the answer timer forward.
        """
        timer = self._answerTimer
        wait = self._post_quorum_timeout
        if (timer is None or wait is None or self._phase != _ANSWERING
                or not self._tally.decided):
            return
        if self._clock.seconds() + wait < timer.getTime():
            timer.reset(wait)

    def _answers_late(self) -> None:
        """
        The answer timer fired: at C{node_timeout}, every request still
        out is ended (counting as 503); before it, at C{post_quorum_timeout}
        after the answers decided, the result fires with those in while the
        requests still out go on until C{node_timeout} (their node may yet
        store the object), their answers counting only for error limiting.
        """
        self._answerTimer = None
        now = self._clock.seconds()
        if self._phase == _ANSWERING and now < self._answersDue:
            self._phase = _LINGERING
            self._answerTimer = self._clock.callLater(self._answersDue - now,
                                                      self._answers_late)
            self._hand_on()
            return
        for index in range(len(self._requests)):
            self._cancel_request(index)

    def _cancel_request(self, index: int) -> None:
        d = self._requests[index]
        if d is not None:
            d.cancel()

    # -- the phases ----------------------------------------------------

    def _bug_met(self) -> None:
        """
        A proxy bug was met in one of the upload's steps (the exception
        being handled): it fails the upload, every request still out
        ended, rather than leaving it waiting; once the upload is over it
        goes on up.
        """
        if self._phase in (_LINGERING, _DONE):
            raise
        self._abandon(Failure())

    def _ready(self) -> None:
        try:
            self._send_body()
        except BaseException:
            self._bug_met()

    def _send_body(self) -> None:
        """
        Every slot has started or gone: send the body, if a quorum of
        nodes took their requests.
        """
        if self._phase != _CONNECTING:
            return
        if self._bug is not None:
            self._abandon(self._bug)
            return
        fanout = self._fanout
        if len(fanout.live_slots) < self._quorum:
            self._abandon(None)
            return
        self._phase = _SENDING
        watch = self._watch = _UploadWatch(
            self._clock, self._timeout, self._quorum, fanout, self._slots,
            self._cancel_request,
            lambda index, why: self._report.error(self._current[index], why))
        source = self._source
        if source is None:
            fanout.finish()
            self._body_done()
            return
        producing = source.startProducing(fanout)  # type: ignore[arg-type]
        fanout.register_source(source)  # type: ignore[arg-type]
        self._producing = watch.producing = producing
        producing.addCallbacks(self._on_pumped, self._on_pump_failed)
        if self._phase == _SENDING:
            # The body is still coming: watch for stalled nodes meanwhile.
            watch.start()

    def _on_pumped(self, _: object) -> None:
        try:
            self._pumped()
        except BaseException:
            self._bug_met()

    def _on_pump_failed(self, failure: Failure) -> None:
        try:
            self._pump_failed(failure)
        except BaseException:
            self._bug_met()

    def _pumped(self) -> None:
        if self._phase != _SENDING:
            return
        self._fanout.finish()
        self._body_done()

    def _pump_failed(self, failure: Failure) -> None:
        if self._phase != _SENDING:
            return
        watch = self._watch
        assert watch is not None
        if failure.check(CancelledError):
            if not watch.quorum_lost:
                self._abandon(failure)
                return
            self._fanout.fail(Failure(QuorumLost("too few nodes left")))
        else:
            # Whatever the source failed with, the nodes must not commit a
            # partial object.
            self._fanout.fail(failure)
        self._body_done()

    def _body_done(self) -> None:
        """
        The whole body went out (or the source failed, or the quorum was
        lost): wait for the answers.
        """
        watch = self._watch
        assert watch is not None
        watch.stop()
        if self._bug is not None:
            self._abandon(self._bug)
            return
        if watch.quorum_lost:
            self._abandon(None)
            return
        self._phase = _ANSWERING
        if self._open == 0:
            self._finish()
            return
        # Each node has node_timeout from now to answer; one that does not
        # is cancelled, and counts as 503.
        self._answersDue = self._clock.seconds() + self._timeout
        self._answerTimer = self._clock.callLater(self._timeout, self._answers_late)
        # Answers that came while the body went out may decide already.
        self._check_quorum()

    def _finish(self) -> None:
        self._stop_timers()
        self._hand_on()

    def _hand_on(self) -> None:
        """
        Fire the result with the answers in (those missing as 503), or
        with the bug met.
        """
        if self._bug is not None:
            self._result.errback(self._bug)
            self._release()
            return
        answers = [answer for answer in self._answers if answer is not None]
        while len(answers) < self._replicas:
            answers.append(_unavailable())
        self._result.callback(answers)
        self._release()

    def _abandon(self, outcome: Optional[Failure]) -> None:
        """
        End every request still out (nobody will wait for their answers),
        then fire the result with C{outcome}: a failure, or C{None} (no
        quorum).
        """
        self._end_requests()
        if outcome is None:
            self._result.callback(None)
        else:
            self._result.errback(outcome)
        self._release()

    def _release(self) -> None:
        """
        The result has fired: let go of what refers back to this upload
        (the watch holds its methods, the fan-out its slots and source),
        so that it is freed at once rather than by the cyclic collector.
        """
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.close()
        self._fanout.close()

    def _end_requests(self) -> None:
        self._stop_timers()
        for index in range(len(self._requests)):
            self._cancel_request(index)

    def _stop_timers(self) -> None:
        self._phase = _DONE
        if self._watch is not None:
            self._watch.stop()
        timer, self._answerTimer = self._answerTimer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _cancel(self, _: object) -> None:
        """
        The client went away: stop reading its body, and end every
        request. The result then fails with L{CancelledError}.
        """
        producing = self._producing
        if self._phase == _SENDING and producing is not None and not producing.called:
            # As the source's Deferred is cancelled, the upload is
            # abandoned (L{_pump_failed}).
            producing.cancel()
        if self._phase != _DONE:
            self._end_requests()


class _UploadWatch:
    """
    Swift's time limit on the body of an upload: a node that takes no data
    for C{node_timeout} is dropped (its request cancelled; a zero-copy relay
    finds such nodes itself and tells L{UploadFanout.onSlotFailed}). When
    fewer than a quorum of nodes remain, the upload stops (C{quorum_lost}).

    The check runs every second or so from L{start} until L{stop}.
    """

    def __init__(self, clock: IReactorTime, node_timeout: float, quorum: int,
                 fanout: UploadFanout, slots: list[UploadSlot],
                 cancel: Callable[[int], None],
                 failed: Callable[[int, BaseException], None]) -> None:
        self._clock = clock
        self._timeout = node_timeout
        self._quorum = quorum
        self._fanout = fanout
        self._slots = slots
        self._cancel = cancel
        self._failed = failed
        self.quorum_lost = False
        self.producing: Optional[Deferred[None]] = None
        self._loop: Optional[LoopingCall] = None
        fanout.onSlotFailed = self._relay_dropped

    def start(self) -> None:
        """
        Check for stalled nodes until L{stop}.
        """
        loop = self._loop = LoopingCall(self._check)
        loop.clock = self._clock
        loop.start(min(1.0, self._timeout / 4), now=False)

    def _relay_dropped(self, slot: UploadSlot, why: Exception) -> None:
        index = self._slots.index(slot)
        self._failed(index, why)
        self._cancel(index)
        self._check()

    def _check(self) -> None:
        now = self._clock.seconds()
        for index, slot in enumerate(self._slots):
            since = slot.paused_since
            if slot.live and since is not None and now - since > self._timeout:
                self._failed(index, TimeoutError(
                    f"took no upload data for {self._timeout}s"))
                self._cancel(index)
        if len(self._fanout.live_slots) < self._quorum and not self.quorum_lost:
            self.quorum_lost = True
            if self.producing is not None and not self.producing.called:
                self.producing.cancel()

    def stop(self) -> None:
        """
        The stall check ends: the body went out, or the upload ended.
        """
        loop = self._loop
        if loop is not None and loop.running:
            loop.stop()

    def close(self) -> None:
        """
        The upload is over: stop, and let go of the loop (whose function is
        this watch's method).
        """
        self.stop()
        self._loop = None
