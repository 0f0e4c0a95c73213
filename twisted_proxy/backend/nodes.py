# -*- test-case-name: tests.test_nodes -*-
"""
Which storage nodes a request tries, in which order: primaries first, then
handoffs, skipping nodes that have been failing (error limiting).
"""

from __future__ import annotations

import random
from typing import Any, Iterable, Iterator, Optional, Protocol

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from twisted_proxy.backend.nodeclient import node_key

__all__ = ["ErrorLimiter", "NodeTimings", "iter_nodes", "RingLike"]

_log = Logger()
_RANDOM = random.Random()


class RingLike(Protocol):
    @property
    def replica_count(self) -> float:
        ...

    def get_part(self, account: str | bytes, container: str | bytes | None = None,
                 obj: str | bytes | None = None) -> int:
        ...

    def get_part_nodes(self, part: int) -> list[dict[str, Any]]:
        ...

    def get_more_nodes(self, part: int) -> Iterator[dict[str, Any]]:
        ...


class ErrorLimiter:
    """
    Counts errors per node; a node with more than C{limit} errors, the last
    one less than C{interval} seconds ago, is skipped until C{interval} has
    passed since its last error.

    @param clock: tells the time.
    """

    def __init__(self, clock: IReactorTime, limit: int, interval: float) -> None:
        self._clock = clock
        self.limit = limit
        self.interval = interval
        self._errors: dict[str, tuple[int, float]] = {}

    def is_limited(self, node: dict[str, Any]) -> bool:
        """
        Whether C{node} is to be skipped now.
        """
        entry = self._errors.get(node_key(node))
        if entry is None:
            return False
        count, last = entry
        if self._clock.seconds() - last > self.interval:
            del self._errors[node_key(node)]
            return False
        return count > self.limit

    def error(self, node: dict[str, Any], why: str = "") -> None:
        """
        Count one error against C{node}.
        """
        key = node_key(node)
        count, last = self._errors.get(key, (0, 0.0))
        now = self._clock.seconds()
        if now - last > self.interval:
            count = 0
        count += 1
        self._errors[key] = (count, now)
        if count == self.limit + 1:
            _log.warn("Node error limited {node}: {why}", node=key, why=why)

    def limit_now(self, node: dict[str, Any], why: str = "") -> None:
        """
        Skip C{node} at once, as for a 507 Insufficient Storage.
        """
        self._errors[node_key(node)] = (self.limit + 1, self._clock.seconds())
        _log.warn("Node error limited {node}: {why}", node=node_key(node), why=why)

    def errors(self, node: dict[str, Any]) -> int:
        """
        The current error count of C{node}: 0 once C{interval} has passed
        since its last error.
        """
        count, last = self._errors.get(node_key(node), (0, 0.0))
        if self._clock.seconds() - last > self.interval:
            return 0
        return count


class NodeTimings:
    """
    Recent response times per node, for C{sorting_method = timing}.
    """

    def __init__(self, clock: IReactorTime, expiry: float) -> None:
        self._clock = clock
        self._expiry = expiry
        self._timings: dict[str, tuple[float, float]] = {}

    def record(self, node: dict[str, Any], seconds: float) -> None:
        self._timings[node_key(node)] = (seconds, self._clock.seconds() + self._expiry)

    def timing(self, node: dict[str, Any]) -> float:
        entry = self._timings.get(node_key(node))
        if entry is None or entry[1] < self._clock.seconds():
            return -1.0
        return entry[0]


def _sorted_primaries(
    nodes: list[dict[str, Any]],
    sorting_method: str,
    timings: Optional[NodeTimings],
    rng: random.Random,
) -> list[dict[str, Any]]:
    nodes = list(nodes)
    rng.shuffle(nodes)
    if sorting_method == "timing" and timings is not None:
        nodes.sort(key=timings.timing)
    return nodes


def iter_nodes(
    ring: RingLike,
    part: int,
    limiter: ErrorLimiter,
    node_count: int,
    sorting_method: str = "shuffle",
    timings: Optional[NodeTimings] = None,
    primaries: Optional[Iterable[dict[str, Any]]] = None,
    rng: Optional[random.Random] = None,
) -> Iterator[dict[str, Any]]:
    """
    The nodes to try for partition C{part}, at most C{node_count} of them:
    the primaries (in C{sorting_method} order) that are not error limited,
    then handoffs in the ring's order, skipping error-limited ones. Each
    handoff taken stands in for one limited or exhausted primary, as in
    Swift, so up to C{node_count} nodes are yielded in all.
    """
    if rng is None:
        rng = _RANDOM
    if primaries is None:
        primaries = ring.get_part_nodes(part)
    if node_count <= 0:
        return
    yielded = 0
    for node in _sorted_primaries(list(primaries), sorting_method, timings, rng):
        if limiter.is_limited(node):
            continue
        yield node
        yielded += 1
        if yielded >= node_count:
            return
    # Asked for only once the primaries are used up: a ring's handoff
    # iterator does real work per node.
    for node in ring.get_more_nodes(part):
        if limiter.is_limited(node):
            continue
        yield node
        yielded += 1
        if yielded >= node_count:
            return
