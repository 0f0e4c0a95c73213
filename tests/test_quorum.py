"""
Tests for L{twisted_proxy.backend.quorum}: how long a write waits for its
nodes' answers.
"""

from __future__ import annotations

from typing import Optional

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.backend.content import BackendAnswer
from twisted_proxy.backend.quorum import gather_answers
from twisted_proxy.swift.http import HeaderDict

POST_QUORUM = 0.5


def answer(status: int) -> BackendAnswer:
    return (status, "", b"", HeaderDict())


class GatherAnswersTests(SynchronousTestCase):
    """
    L{gather_answers} waits for every attempt, or for the answers that
    decide the outcome and then C{post_quorum_timeout} more.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.cancelled: list[int] = []
        self.attempts = [self.attempt(index) for index in range(3)]
        self.result = gather_answers(self.attempts, 3, self.clock, POST_QUORUM)

    def attempt(self, index: int) -> "Deferred[Optional[BackendAnswer]]":
        def cancel(_: object) -> None:
            self.cancelled.append(index)

        return Deferred(cancel)

    def tearDown(self) -> None:
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def statuses(self) -> list[int]:
        return [status for status, _, _, _ in self.successResultOf(self.result)]

    def test_all(self) -> None:
        """
        Once every attempt is in, the answers are, in the attempts' order
        (not their arrival's), without the attempts that got none.
        """
        self.attempts[2].callback(answer(404))
        self.attempts[1].callback(None)
        self.assertNoResult(self.result)
        self.attempts[0].callback(answer(204))
        self.assertEqual(self.statuses(), [204, 404])

    def test_quorumThenTimeout(self) -> None:
        """
        Once a quorum of one class is in, the rest have C{post_quorum_timeout}
        seconds; the attempt still out is then left to go on, not cancelled.
        """
        self.attempts[0].callback(answer(201))
        self.attempts[2].callback(answer(202))
        self.clock.advance(POST_QUORUM - 0.01)
        self.assertNoResult(self.result)
        self.clock.advance(0.01)
        self.assertEqual(self.statuses(), [201, 202])
        self.assertNoResult(self.attempts[1])
        # Its answer, coming later, is dropped.
        self.attempts[1].callback(answer(503))
        self.assertIsNone(self.successResultOf(self.attempts[1]))

    def test_lateWithinTimeout(self) -> None:
        """
        An answer that comes within C{post_quorum_timeout} is counted, and
        the result fires as soon as it is in.
        """
        self.attempts[0].callback(answer(404))
        self.attempts[1].callback(answer(404))
        self.clock.advance(0.3)
        self.attempts[2].callback(answer(204))
        self.assertEqual(self.statuses(), [404, 404, 204])

    def test_noQuorum(self) -> None:
        """
        Answers that decide nothing yet (a 2xx and a 4xx of three) leave it
        waiting for the last, however long it takes.
        """
        self.attempts[0].callback(answer(201))
        self.attempts[1].callback(answer(409))
        self.clock.advance(60)
        self.assertNoResult(self.result)
        self.attempts[2].callback(answer(201))
        self.assertEqual(self.statuses(), [201, 409, 201])

    def test_serverErrorsDecideNothing(self) -> None:
        """
        5xx answers, and attempts without one, never make a quorum.
        """
        self.attempts[0].callback(answer(503))
        self.attempts[1].callback(answer(507))
        self.clock.advance(60)
        self.assertNoResult(self.result)
        self.attempts[2].callback(None)
        self.assertEqual(self.statuses(), [503, 507])

    def test_failure(self) -> None:
        """
        An attempt that fails (a bug) fails the result, when it would have
        fired: once all are in, or when the time after the quorum is over.
        """
        self.attempts[0].callback(answer(204))
        self.attempts[1].callback(answer(204))
        self.attempts[2].errback(ZeroDivisionError())
        self.failureResultOf(self.result, ZeroDivisionError)
        attempts: list[Deferred[Optional[BackendAnswer]]] = [Deferred() for _ in range(4)]
        result = gather_answers(attempts, 4, self.clock, POST_QUORUM)
        attempts[0].errback(ZeroDivisionError())
        attempts[1].callback(answer(204))
        attempts[2].callback(answer(204))
        self.assertNoResult(result)
        self.clock.advance(POST_QUORUM)
        self.failureResultOf(result, ZeroDivisionError)
        attempts[3].callback(None)

    def test_lateFailureLogged(self) -> None:
        """
        An attempt that fails after the result fired is logged, unless it
        was cancelled.
        """
        self.attempts[0].callback(answer(201))
        self.attempts[1].callback(answer(201))
        self.clock.advance(POST_QUORUM)
        self.successResultOf(self.result)
        self.attempts[2].errback(ZeroDivisionError())
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        first: Deferred[Optional[BackendAnswer]] = Deferred()
        late: Deferred[Optional[BackendAnswer]] = Deferred()
        result = gather_answers([first, late], 1, self.clock, POST_QUORUM)
        first.callback(answer(204))
        self.clock.advance(POST_QUORUM)
        self.successResultOf(result)
        late.cancel()
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_cancel(self) -> None:
        """
        Cancelling the result cancels every attempt still out, and its
        timer.
        """
        self.attempts[0].callback(answer(201))
        self.attempts[1].callback(answer(201))
        self.result.cancel()
        self.failureResultOf(self.result, CancelledError)
        self.assertEqual(self.cancelled, [2])

    def test_cancelWaiting(self) -> None:
        """
        Cancelled before any answer, every attempt is cancelled.
        """
        self.result.cancel()
        self.failureResultOf(self.result, CancelledError)
        self.assertEqual(self.cancelled, [0, 1, 2])

    def test_timerEndsWithLast(self) -> None:
        """
        The last answer, in before C{post_quorum_timeout}, ends the wait and
        its timer.
        """
        self.attempts[0].callback(answer(204))
        self.attempts[1].callback(answer(204))
        self.attempts[2].callback(answer(204))
        self.assertEqual(self.statuses(), [204, 204, 204])

    def test_already(self) -> None:
        """
        Attempts that all fired before they were given fire the result at
        once; no attempts at all give no answers.
        """
        given: list[Deferred[Optional[BackendAnswer]]] = [Deferred(), Deferred()]
        given[0].callback(answer(201))
        given[1].callback(answer(201))
        result = gather_answers(given, 2, self.clock, POST_QUORUM)
        self.assertEqual(len(self.successResultOf(result)), 2)
        self.assertEqual(self.successResultOf(gather_answers([], 3, self.clock, 1.0)), [])
        self.attempts[0].callback(None)
        self.attempts[1].callback(None)
        self.attempts[2].callback(None)
