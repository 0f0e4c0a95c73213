"""
A request's objects are freed as it ends, by reference counting, rather
than left for CPython's cyclic collector: under load every such object is
walked by the collector, often more than once, before it is freed.
"""

from __future__ import annotations

import gc
from collections import Counter
from typing import Callable

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.fakenodes import ClientConnection, FakeCluster, InRingOrder, StoredObject, make_proxy
from twisted_proxy.backend import nodes

OBJ = StoredObject(b"x" * 5000, timestamp="1700000100.00000")


def proxy_garbage(action: Callable[[], None]) -> Counter[str]:
    """
    The objects of twisted-proxy's own classes that C{action} left in
    reference cycles, by class (what the cyclic collector would free).
    """
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        action()
        gc.collect()
        found = Counter(type(each).__qualname__ for each in gc.garbage
                        if type(each).__module__.startswith("twisted_proxy."))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return found


class RequestCycleTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.patch(nodes, "_RANDOM", InRingOrder())
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock)
        self.proxy = make_proxy(self.clock, self.cluster)
        self.cluster.serve(OBJ)
        # One kept-alive connection: its own objects live as long as it.
        self.client = ClientConnection(self.proxy)
        self.addCleanup(self.client.disconnect)

    def exchange(self, method: str) -> None:
        self.client.transport.clear()
        self.client.send(method, "/v1/a/c/o")
        self.clock.advance(0)
        status, _, _ = self.client.response()
        self.assertEqual(status, 200)

    def test_get(self) -> None:
        """
        A GET leaves nothing of the proxy's to the collector.
        """
        self.exchange("GET")
        self.assertEqual(proxy_garbage(lambda: self.exchange("GET")), Counter())

    def test_head(self) -> None:
        """
        Nor does a HEAD.
        """
        self.exchange("HEAD")
        self.assertEqual(proxy_garbage(lambda: self.exchange("HEAD")), Counter())
