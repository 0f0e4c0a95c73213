"""
Tests for L{twisted_proxy.service.backoff}.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.service.backoff import RestartBackoff


class RestartBackoffTests(SynchronousTestCase):
    """
    L{RestartBackoff}: doubling delays for a process that keeps crashing.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.backoff = RestartBackoff(self.clock, initial=0.5, maximum=30.0, stable=10.0)

    def crash_after(self, seconds: float) -> float:
        self.backoff.started()
        self.clock.advance(seconds)
        return self.backoff.delay()

    def test_doublesUpToMaximum(self) -> None:
        """
        Each crash soon after starting doubles the delay, up to C{maximum}.
        """
        delays = [self.crash_after(1) for _ in range(9)]
        self.assertEqual(delays, [0.5, 1, 2, 4, 8, 16, 30, 30, 30])

    def test_stableRunResets(self) -> None:
        """
        A run of at least C{stable} seconds starts the delays over.
        """
        self.assertEqual([self.crash_after(0) for _ in range(4)], [0.5, 1, 2, 4])
        self.assertEqual(self.crash_after(10), 0.5)
        self.assertEqual(self.crash_after(9.9), 1)

    def test_restartLater(self) -> None:
        """
        C{restart_later} calls the restart after the delay and returns it.
        """
        restarts: list[float] = []

        def restart() -> None:
            restarts.append(self.clock.seconds())
            self.backoff.started()

        self.backoff.started()
        self.assertEqual(self.backoff.restart_later(restart), 0.5)
        self.assertTrue(self.backoff.pending)
        self.clock.advance(0.4)
        self.assertEqual(restarts, [])
        self.clock.advance(0.1)
        self.assertEqual(restarts, [0.5])
        self.assertFalse(self.backoff.pending)
        self.assertEqual(self.backoff.restart_later(restart), 1)
        self.clock.advance(1)
        self.assertEqual(restarts, [0.5, 1.5])

    def test_cancel(self) -> None:
        """
        C{cancel} drops the pending restart.
        """
        restarts: list[None] = []
        self.backoff.started()
        self.backoff.restart_later(lambda: restarts.append(None))
        self.backoff.cancel()
        self.assertFalse(self.backoff.pending)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(60)
        self.assertEqual(restarts, [])
        self.backoff.cancel()

    def test_replacesPending(self) -> None:
        """
        A second exit before the restart replaces the pending restart.
        """
        restarts: list[str] = []
        self.backoff.restart_later(lambda: restarts.append("first"))
        self.backoff.restart_later(lambda: restarts.append("second"))
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(1)
        self.assertEqual(restarts, ["second"])
