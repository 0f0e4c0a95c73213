"""
Tests for L{twisted_proxy.backend.nodes}.
"""

from __future__ import annotations

import random
from typing import Any, Iterator, cast

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from tests.doubles import make_node
from twisted_proxy.backend.nodes import (
    ErrorLimiter,
    HandoffLog,
    NodeReporter,
    NodeTimings,
    iter_nodes,
    local_first,
    local_handoffs_first,
    node_path,
    node_paths,
)
from twisted_proxy.swift.affinity import parse_read_affinity, parse_write_affinity
from twisted_proxy.swift.ring import Node


def node(index: int) -> Node:
    return make_node(f"10.0.0.{index}", 6200, f"d{index}", id=index)


class FakeRing:
    """
    A ring with fixed primaries and handoffs that counts handoff pulls.
    """

    def __init__(self, primaries: int, handoffs: int) -> None:
        self.primaries = [node(i) for i in range(primaries)]
        self.handoffs = [node(100 + i) for i in range(handoffs)]
        self.pulled = 0
        self.handoffCalls = 0

    @property
    def replica_count(self) -> float:
        return float(len(self.primaries))

    def get_part(self, account: str | bytes, container: str | bytes | None = None,
                 obj: str | bytes | None = None) -> int:
        raise NotImplementedError("these tests give partitions directly")

    def get_part_nodes(self, part: int) -> list[Node]:
        return list(self.primaries)

    def get_more_nodes(self, part: int) -> Iterator[Node]:
        self.handoffCalls += 1
        for handoff in self.handoffs:
            self.pulled += 1
            yield handoff


def ids(nodes: Any) -> list[int]:
    return [n["id"] for n in nodes]


class ErrorLimiterTests(SynchronousTestCase):
    """
    Tests for L{ErrorLimiter}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.limiter = ErrorLimiter(self.clock, limit=2, interval=60)

    def test_fresh(self) -> None:
        """
        A node without errors is not limited.
        """
        self.assertFalse(self.limiter.is_limited(node(1)))
        self.assertEqual(self.limiter.errors(node(1)), 0)

    def test_limitedAfterMoreThanLimit(self) -> None:
        """
        A node is limited once it has more than C{limit} errors, and only
        that node.
        """
        for count in (1, 2):
            self.limiter.error(node(1))
            self.assertFalse(self.limiter.is_limited(node(1)))
            self.assertEqual(self.limiter.errors(node(1)), count)
        with capturedLogs() as events:
            self.limiter.error(node(1), "boom")
        self.assertTrue(self.limiter.is_limited(node(1)))
        self.assertFalse(self.limiter.is_limited(node(2)))
        self.assertEqual(
            [formatEvent(e) for e in events],
            ["Node error limited 10.0.0.1:6200/d1: boom"],
        )

    def test_sameNodeByKey(self) -> None:
        """
        Nodes are told apart by ip, port and device: two dicts for the same
        device count as one node.
        """
        for _ in range(3):
            self.limiter.error(node(1).copy())
        self.assertTrue(self.limiter.is_limited(node(1)))
        other: Node = {**node(1), "device": "other"}
        self.assertFalse(self.limiter.is_limited(other))

    def test_expires(self) -> None:
        """
        A limited node is tried again once C{interval} has passed since its
        last error.
        """
        for _ in range(3):
            self.limiter.error(node(1))
        self.clock.advance(60)
        self.assertTrue(self.limiter.is_limited(node(1)))
        self.clock.advance(0.5)
        self.assertFalse(self.limiter.is_limited(node(1)))
        self.assertEqual(self.limiter.errors(node(1)), 0)
        self.limiter.error(node(1))
        self.assertEqual(self.limiter.errors(node(1)), 1)

    def test_errorCountExpires(self) -> None:
        """
        Errors spread further apart than C{interval} never add up.
        """
        for _ in range(10):
            self.limiter.error(node(1))
            self.clock.advance(61)
        self.assertFalse(self.limiter.is_limited(node(1)))
        self.assertEqual(self.limiter.errors(node(1)), 0)

    def test_newErrorExtends(self) -> None:
        """
        Each new error restarts the interval.
        """
        for _ in range(3):
            self.limiter.error(node(1))
        self.clock.advance(50)
        self.limiter.error(node(1))
        self.clock.advance(50)
        self.assertTrue(self.limiter.is_limited(node(1)))

    def test_limitNow(self) -> None:
        """
        L{ErrorLimiter.limit_now} limits a node at once, for C{interval}.
        """
        self.limiter.limit_now(node(1), "507")
        self.assertTrue(self.limiter.is_limited(node(1)))
        self.clock.advance(61)
        self.assertFalse(self.limiter.is_limited(node(1)))

    def test_zeroLimit(self) -> None:
        """
        With a limit of 0, one error limits a node.
        """
        limiter = ErrorLimiter(self.clock, limit=0, interval=10)
        limiter.error(node(1))
        self.assertTrue(limiter.is_limited(node(1)))


class NodeTimingsTests(SynchronousTestCase):
    """
    Tests for L{NodeTimings}.
    """

    def test_recordAndExpire(self) -> None:
        """
        A timing is known until C{expiry} seconds after it was recorded;
        unknown and expired timings are C{-1.0}.
        """
        clock = Clock()
        timings = NodeTimings(clock, expiry=300)
        self.assertEqual(timings.timing(node(1)), -1.0)
        timings.record(node(1), 0.25)
        self.assertEqual(timings.timing(node(1)), 0.25)
        clock.advance(300)
        self.assertEqual(timings.timing(node(1)), 0.25)
        clock.advance(1)
        self.assertEqual(timings.timing(node(1)), -1.0)


class IterNodesTests(SynchronousTestCase):
    """
    Tests for L{iter_nodes}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.limiter = ErrorLimiter(self.clock, limit=0, interval=60)
        self.ring = FakeRing(3, 5)

    def nodes(self, count: int, **kwargs: Any) -> list[int]:
        kwargs.setdefault("rng", random.Random(1))
        return ids(iter_nodes(self.ring, 7, self.limiter, count, **kwargs))

    def test_primariesThenHandoffs(self) -> None:
        """
        All primaries come first (in some order), then handoffs in ring
        order, C{node_count} in all.
        """
        result = self.nodes(6)
        self.assertEqual(sorted(result[:3]), [0, 1, 2])
        self.assertEqual(result[3:], [100, 101, 102])

    def test_fewerPrimariesThanCount(self) -> None:
        """
        A C{node_count} below the replica count stops among the primaries
        without asking for handoffs.
        """
        self.assertEqual(len(self.nodes(2)), 2)
        self.assertEqual(self.ring.handoffCalls, 0)

    def test_exactlyPrimaries(self) -> None:
        """
        With C{node_count} equal to the primaries, no handoff is asked for.
        """
        self.assertEqual(sorted(self.nodes(3)), [0, 1, 2])
        self.assertEqual(self.ring.handoffCalls, 0)

    def test_zeroCount(self) -> None:
        """
        A C{node_count} of 0 yields nothing.
        """
        self.assertEqual(self.nodes(0), [])

    def test_noExtraHandoffPulled(self) -> None:
        """
        Reaching C{node_count} stops without pulling another handoff from
        the ring.
        """
        self.assertEqual(self.nodes(5), self.nodes(5, rng=random.Random(1)))
        ring = FakeRing(3, 5)
        self.assertEqual(len(ids(iter_nodes(ring, 7, self.limiter, 5))), 5)
        self.assertEqual(ring.pulled, 2)

    def test_handoffsRunOut(self) -> None:
        """
        When the ring runs out of handoffs, fewer nodes come back.
        """
        self.assertEqual(len(self.nodes(100)), 8)

    def test_limitedSkipped(self) -> None:
        """
        Error-limited primaries and handoffs are skipped, and a handoff
        takes each skipped primary's place.
        """
        self.limiter.error(node(1))
        self.limiter.error(node(100))
        result = self.nodes(3)
        self.assertEqual(sorted(result[:2]), [0, 2])
        self.assertEqual(result[2:], [101])

    def test_limitedWhileIterating(self) -> None:
        """
        A node limited during the request (after an earlier node failed) is
        skipped when its turn comes.
        """
        iterator = iter_nodes(self.ring, 7, self.limiter, 6, rng=random.Random(2))
        first = next(iterator)
        rest = [n for n in self.ring.primaries if n["id"] != first["id"]]
        self.limiter.error(rest[0])
        remaining = ids(iterator)
        self.assertNotIn(rest[0]["id"], remaining)
        self.assertEqual(remaining, [rest[1]["id"], 100, 101, 102, 103])

    def test_shuffled(self) -> None:
        """
        Primaries are shuffled: different random states give different
        orders.
        """
        orders = {tuple(self.nodes(3, rng=random.Random(seed))) for seed in range(20)}
        self.assertGreater(len(orders), 1)

    def test_timingSort(self) -> None:
        """
        With C{sorting_method = timing}, the fastest known primary comes
        first and unknown ones before known ones.
        """
        timings = NodeTimings(self.clock, 300)
        timings.record(node(0), 0.5)
        timings.record(node(1), 0.1)
        for seed in range(5):
            result = self.nodes(
                3, sorting_method="timing", timings=timings, rng=random.Random(seed)
            )
            self.assertEqual(result, [2, 1, 0])

    def test_shuffledRank(self) -> None:
        """
        With C{sorting_method = shuffle}, C{shuffled_rank} puts lower-ranked
        primaries first and keeps each rank shuffled; handoffs are not
        ranked.
        """
        def rank(n: Any) -> int:
            return 0 if n["id"] == 2 else 1

        seconds = set()
        for seed in range(20):
            result = self.nodes(6, rng=random.Random(seed), shuffled_rank=rank)
            self.assertEqual(result[0], 2)
            self.assertEqual(result[3:], [100, 101, 102])
            seconds.add(result[1])
        self.assertEqual(seconds, {0, 1})

    def test_shuffledRankOnlyForShuffle(self) -> None:
        """
        Another sorting method's order is kept: the rank does not override
        what the operator configured.
        """
        timings = NodeTimings(self.clock, 300)
        timings.record(node(0), 0.5)
        timings.record(node(1), 0.1)
        timings.record(node(2), 0.9)
        result = self.nodes(3, sorting_method="timing", timings=timings,
                            shuffled_rank=lambda n: 0 if n["id"] == 2 else 1)
        self.assertEqual(result, [1, 0, 2])

    def test_explicitPrimaries(self) -> None:
        """
        Given C{primaries} replace the ring's.
        """
        result = self.nodes(2, primaries=[node(9)])
        self.assertEqual(result, [9, 100])

    @given(
        primaries=st.integers(0, 6),
        handoffs=st.integers(0, 8),
        limited=st.sets(st.sampled_from([*range(6), *range(100, 108)])),
        count=st.integers(0, 16),
        seed=st.integers(0, 2**16),
    )
    def test_property(
        self, primaries: int, handoffs: int, limited: set[int], count: int, seed: int
    ) -> None:
        """
        Whatever the ring and limits: no node twice, no limited node, at
        most C{node_count}, every available primary before any handoff, and
        as many as are available up to C{node_count}.
        """
        ring = FakeRing(primaries, handoffs)
        limiter = ErrorLimiter(Clock(), limit=0, interval=60)
        for index in limited:
            limiter.error(node(index))
        result = ids(iter_nodes(ring, 1, limiter, count, rng=random.Random(seed)))
        available = [
            n["id"] for n in ring.primaries + ring.handoffs if n["id"] not in limited
        ]
        self.assertEqual(len(result), len(set(result)))
        self.assertFalse(set(result) & limited)
        self.assertEqual(len(result), min(count, len(available)))
        primary_ids = {n["id"] for n in ring.primaries}
        kinds = [i in primary_ids for i in result]
        self.assertEqual(kinds, sorted(kinds, reverse=True))
        handoff_part = [i for i in result if i not in primary_ids]
        self.assertEqual(handoff_part, [i for i in available if i >= 100][: len(handoff_part)])


class NodeReporterTests(SynchronousTestCase):
    """
    Tests for L{NodeReporter}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.limiter = ErrorLimiter(self.clock, limit=2, interval=60)
        self.report = NodeReporter(self.limiter, "Object", "tx123")

    def test_status(self) -> None:
        """
        A 507 limits the node at once, another 5xx counts one error, and
        anything else nothing.
        """
        for status in (200, 404, 499):
            self.report.status(node(1), status)
        self.assertEqual(self.limiter.errors(node(1)), 0)
        self.report.status(node(1), 503)
        self.assertEqual(self.limiter.errors(node(1)), 1)
        self.assertFalse(self.limiter.is_limited(node(1)))
        with capturedLogs():
            self.report.status(node(2), 507)
        self.assertTrue(self.limiter.is_limited(node(2)))

    def test_error(self) -> None:
        """
        A failure counts one error and is logged with the server type, the
        node and the transaction.
        """
        with capturedLogs() as events:
            self.report.error(node(3), ValueError("boom"))
        self.assertEqual(self.limiter.errors(node(3)), 1)
        self.assertEqual([formatEvent(e) for e in events],
                         ["ERROR with Object server 10.0.0.3:6200/d3: boom (txn tx123)"])


class NodePathTests(SynchronousTestCase):
    def test_quoted(self) -> None:
        """
        The device and the name are percent-quoted (the name's slashes
        kept), the query appended.
        """
        device: Node = {**node(1), "device": "sd b"}
        self.assertEqual(node_path(device, 7, "a/c/o n\xc3\xa9"),
                         "/sd%20b/7/a/c/o%20n%C3%A9")
        self.assertEqual(node_path(node(1), 7, "a/c", "format=json"),
                         "/d1/7/a/c?format=json")

    def test_paths(self) -> None:
        """
        L{node_paths} gives each node the path L{node_path} would.
        """
        devices: list[Node] = [{**node(1), "device": "sd b"}, node(2), node(1)]
        path = node_paths(7, "a/c/o n\xc3\xa9")
        self.assertEqual([path(each) for each in devices],
                         [node_path(each, 7, "a/c/o n\xc3\xa9") for each in devices])


class _RegionRing:
    """
    A ring of one partition whose primaries (ids 0...) and handoffs (ids
    100...) are in the regions given.
    """

    def __init__(self, primary_regions: list[int], handoff_regions: list[int]) -> None:
        def made(index: int, region: int) -> Node:
            return cast(Node, dict(node(index), region=region, zone=1))

        self.primaries = [made(i, r) for i, r in enumerate(primary_regions)]
        self.handoffs = [made(100 + i, r) for i, r in enumerate(handoff_regions)]

    @property
    def replica_count(self) -> float:
        return float(len(self.primaries))

    def get_part(self, account: str | bytes, container: str | bytes | None = None,
                 obj: str | bytes | None = None) -> int:
        raise NotImplementedError("these tests give partitions directly")

    def get_part_nodes(self, part: int) -> list[Node]:
        return list(self.primaries)

    def get_more_nodes(self, part: int) -> Iterator[Node]:
        yield from self.handoffs


class AffinityOrderTests(SynchronousTestCase):
    """
    Tests for read and write affinity in L{iter_nodes}, L{local_first} and
    L{local_handoffs_first}.
    """

    def setUp(self) -> None:
        self.limiter = ErrorLimiter(Clock(), limit=0, interval=60)
        # Primaries 0 (r2), 1 (r1), 2 (r2); handoffs 100 (r2), 101 (r1), 102 (r1).
        self.ring = _RegionRing([2, 1, 2], [2, 1, 1])

    def test_readAffinity(self) -> None:
        """
        With C{sorting_method = affinity}, primaries come in C{read_affinity}
        order whatever the shuffle; handoffs keep the ring's order.
        """
        key = parse_read_affinity("r1=100")
        for seed in range(10):
            result = ids(iter_nodes(self.ring, 1, self.limiter, 6, "affinity",
                                    rng=random.Random(seed), read_key=key))
            self.assertEqual(result[0], 1)
            self.assertEqual(sorted(result[1:3]), [0, 2])
            self.assertEqual(result[3:], [100, 101, 102])

    def test_readKeyIgnoredOtherwise(self) -> None:
        """
        With another sorting method the key is not used.
        """
        key = parse_read_affinity("r1=100")
        firsts = {ids(iter_nodes(self.ring, 1, self.limiter, 3, "shuffle",
                                 rng=random.Random(seed), read_key=key))[0]
                  for seed in range(20)}
        self.assertGreater(len(firsts), 1)

    def test_localFirst(self) -> None:
        """
        L{local_first} puts the first C{local_count} local nodes (primaries,
        then handoffs, in ring order) first, then all others in ring order.
        """
        is_local = parse_write_affinity("r1")
        assert is_local is not None
        self.assertEqual(ids(local_first(self.ring, 1, is_local, 6)),
                         [1, 101, 102, 0, 2, 100])
        self.assertEqual(ids(local_first(self.ring, 1, is_local, 2)),
                         [1, 101, 0, 2, 100, 102])

    def test_writeAffinityNodes(self) -> None:
        """
        Through L{iter_nodes}, the first as many nodes as there are
        primaries of the local-first order are the ones written to.
        """
        is_local = parse_write_affinity("r1")
        assert is_local is not None
        for seed in range(5):
            result = ids(iter_nodes(self.ring, 1, self.limiter, 6,
                                    order=local_first(self.ring, 1, is_local, 6),
                                    rng=random.Random(seed)))
            self.assertEqual(sorted(result[:3]), [1, 101, 102])
            self.assertEqual(result[3:], [0, 2, 100])

    def test_localHandoffsFirst(self) -> None:
        """
        For a DELETE: every primary, then as many local handoffs as there
        are non-local primaries (C{auto}), or as many as asked.
        """
        is_local = parse_write_affinity("r1")
        assert is_local is not None
        order, count = local_handoffs_first(self.ring, 1, is_local, None)
        self.assertEqual(count, 2)
        self.assertEqual(ids(order), [0, 1, 2, 101, 102, 100])
        order, count = local_handoffs_first(self.ring, 1, is_local, 1)
        self.assertEqual(count, 1)
        self.assertEqual(ids(order), [0, 1, 2, 101, 100, 102])

    def test_limitedOnceUsedIsReplaced(self) -> None:
        """
        A node limited while it was being tried (a 507) does not count
        toward the node count: one more node is yielded in its place.
        """
        iterator = iter_nodes(self.ring, 1, self.limiter, 3, rng=random.Random(1))
        first = next(iterator)
        self.limiter.limit_now(first)
        self.assertEqual(len(list(iterator)), 3)

    def test_handoffLog(self) -> None:
        """
        A handoff beyond those C{node_count} planned for is logged, naming
        Swift's metric; one taken for every primary names the "all" metric.
        """
        log = HandoffLog("Object", "tx9")
        with capturedLogs() as events:
            log.handoff(3, 3, 3)
        self.assertEqual(events, [])
        with capturedLogs() as events:
            log.handoff(4, 3, 3)
            log.handoff(6, 3, 3)
        self.assertEqual([formatEvent(e) for e in events],
                         ["Handoff requested (4) (txn tx9)", "Handoff requested (6) (txn tx9)"])
        self.assertEqual(events[0]["metric"], "object.handoff_count")
        self.assertEqual(events[1]["metric"],
                         "object.handoff_count object.handoff_all_count")

    def test_handoffLogFromIterNodes(self) -> None:
        """
        L{iter_nodes} tells its L{HandoffLog} of each handoff it takes.
        """
        for each in self.ring.primaries:
            self.limiter.error(each)
        with capturedLogs() as events:
            result = ids(iter_nodes(self.ring, 1, self.limiter, 3,
                                    handoff_log=HandoffLog("Object")))
        self.assertEqual(result, [100, 101, 102])
        self.assertEqual([formatEvent(e) for e in events],
                         [f"Handoff requested ({n}) (txn None)" for n in (1, 2, 3)])
