"""
Tests for L{twisted_proxy.plugins._support.heartbeat}.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.plugins._support.heartbeat import Heartbeat


class HeartbeatTests(SynchronousTestCase):
    """
    L{twisted_proxy.plugins._support.heartbeat.Heartbeat}, the keep-alive body.
    """

    def test_runningWorkCancelledBeforeStart(self) -> None:
        """
        Work handed over already running is cancelled when the body is
        stopped before it ever started (the client left first).
        """
        work: Deferred[bytes] = Deferred()
        Heartbeat(Clock(), 10, work).stopProducing()
        self.failureResultOf(work)

    def test_lazyWorkStartsWithTheBody(self) -> None:
        started = []
        body = Heartbeat(Clock(), 10, lambda: started.append(1) or succeed(b"done"),  # type: ignore[func-returns-value]
                         opening=b"", separator=b"\r\n\r\n")
        self.assertEqual(started, [])
        written: list[bytes] = []

        class Consumer:
            def write(self, data: bytes) -> None:
                written.append(data)

        self.successResultOf(body.startProducing(Consumer()))  # type: ignore[arg-type]
        self.assertEqual((started, written), ([1], [b"done"]))
