# -*- test-case-name: tests.test_quorum -*-
"""
How long a write sent to several nodes at once waits for their answers:
as Swift's proxy waits, until every node has answered, or until the
answers so far decide the outcome (L{have_quorum}) and then
C{post_quorum_timeout} seconds more for the rest.

What is still out then goes on by itself, as Swift's green threads do: its
node still gets the write, its answer still counts for error limiting
(whoever sent the request reports it), and its own timeouts still end it;
only the client no longer waits for it.
"""

from __future__ import annotations

from typing import Optional, Sequence

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_proxy.backend.content import BackendAnswer
from twisted_proxy.swift.bestresponse import QuorumTally

__all__ = ["gather_answers"]

_log = Logger()


def gather_answers(attempts: Sequence["Deferred[Optional[BackendAnswer]]"], node_count: int,
                   clock: IReactorTime, post_quorum_timeout: float
                   ) -> "Deferred[list[BackendAnswer]]":
    """
    The answers of C{attempts}, one write each (to one node, or to one
    node after another), in their order.

    Each attempt fires with its answer, or with C{None} when it got no
    answer worth counting (every node it tried failed), or fails:
    L{CancelledError} when it was cancelled, anything else being a bug.

    @param node_count: the nodes the write is for, which decides the
        quorum (L{have_quorum}).
    @param post_quorum_timeout: seconds the attempts still out may take
        once the answers so far decide the outcome.
    @return: fires with the answers that came (C{None}s left out) once
        every attempt has fired, or once C{post_quorum_timeout} has passed
        since the answers decided the outcome, whichever is first. It
        fails instead with the first attempt's failure that came by then.
        Cancelling it cancels every attempt still out. An attempt that
        fails later, other than by being cancelled, is logged.
    """
    return _Gathering(attempts, node_count, clock, post_quorum_timeout).result


class _Gathering:
    """
    One L{gather_answers}: it fires once all attempts are in or the time
    after the quorum is over.
    """

    def __init__(self, attempts: Sequence["Deferred[Optional[BackendAnswer]]"],
                 node_count: int, clock: IReactorTime, post_quorum_timeout: float) -> None:
        self._attempts = list(attempts)
        self._clock = clock
        self._post_quorum_timeout = post_quorum_timeout
        self._answers: list[Optional[BackendAnswer]] = [None] * len(self._attempts)
        self._tally = QuorumTally(node_count)
        self._failure: Optional[Failure] = None
        self._open = len(self._attempts)
        self._timer: Optional[IDelayedCall] = None
        self.result: Deferred[list[BackendAnswer]] = Deferred(self._cancel)
        for index, attempt in enumerate(self._attempts):
            attempt.addCallbacks(self._answered, self._failed, callbackArgs=(index,))
        if not attempts:
            # There were none: nothing to wait for. (When all fired as
            # they were given, the last of them fired the result.)
            self._fire()

    def _answered(self, answer: Optional[BackendAnswer], index: int) -> None:
        self._open -= 1
        if self.result.called:
            return
        if answer is not None:
            self._answers[index] = answer
            self._tally.add(answer[0])
        self._landed()

    def _failed(self, failure: Failure) -> None:
        self._open -= 1
        if self.result.called:
            if not failure.check(CancelledError):
                _log.failure("A write's late answer failed", failure)
            return
        if self._failure is None:
            self._failure = failure
        self._landed()

    def _landed(self) -> None:
        if self._open == 0:
            self._fire()
        elif self._timer is None and self._tally.decided:
            self._timer = self._clock.callLater(self._post_quorum_timeout, self._fire)

    def _stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _fire(self) -> None:
        self._stop_timer()
        # Those still out are no longer this gathering's to cancel.
        self._attempts = []
        if self._failure is not None:
            failure, self._failure = self._failure, None
            self.result.errback(failure)
            return
        answers, self._answers = self._answers, []
        self.result.callback([answer for answer in answers if answer is not None])

    def _cancel(self, _: object) -> None:
        self._stop_timer()
        for attempt in self._attempts:
            if not attempt.called:
                attempt.cancel()
