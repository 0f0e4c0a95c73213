"""
Tests for L{twisted_proxy.service.heap}, and that a serving process
freezes what it built once it serves.
"""

from __future__ import annotations

import gc
import weakref
from typing import Optional

from twisted.internet.defer import succeed
from twisted.internet.protocol import ServerFactory
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.service.heap import freeze_heap
from twisted_proxy.service.tap import ListenWhenReady


class _Cycle:
    me: Optional[_Cycle] = None


class FreezeHeapTests(SynchronousTestCase):
    def setUp(self) -> None:
        gc.unfreeze()
        self.addCleanup(gc.unfreeze)

    def test_freezes(self) -> None:
        """
        Every object left after a collection is out of the collector's
        reach.
        """
        kept = [[index] for index in range(1000)]
        freeze_heap()
        self.assertGreater(gc.get_freeze_count(), len(kept))

    def test_garbageCollectedFirst(self) -> None:
        """
        Garbage (a cycle nothing refers to) is collected, not frozen.
        """
        cycle = _Cycle()
        cycle.me = cycle
        gone = weakref.ref(cycle)
        del cycle
        freeze_heap()
        self.assertIsNone(gone())

    def test_listeningFreezes(self) -> None:
        """
        A single proxy process freezes its heap as it starts listening,
        once everything it built is there.
        """
        reactor = MemoryReactorClock()
        service = ListenWhenReady("tcp:0:interface=127.0.0.1", ServerFactory(),
                                  lambda: succeed(None), reactor)
        self.assertEqual(gc.get_freeze_count(), 0)
        service.startService()
        self.assertEqual(len(reactor.tcpServers), 1)
        self.assertGreater(gc.get_freeze_count(), 0)
