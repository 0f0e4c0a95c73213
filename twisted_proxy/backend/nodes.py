# -*- test-case-name: tests.test_nodes -*-
"""
Which storage nodes a request tries, in which order: primaries first, then
handoffs, skipping nodes that have been failing (error limiting); where on a
node a request goes; and what a node's failure counts for.
"""

from __future__ import annotations

import functools
import os
import random
from itertools import chain, islice
from typing import Callable, Iterable, Iterator, Optional, Protocol

from twisted.internet.error import ConnectError, ConnectionClosed
from twisted.internet.error import TimeoutError as ConnectTimeoutError
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.client import ResponseFailed

from twisted_proxy.backend.nodeclient import NodeError, node_key
from twisted_proxy.interfaces import IMetrics
from twisted_proxy.swift.affinity import AffinityKey, LocalityPredicate
from twisted_proxy.swift.http import wire_quote
from twisted_proxy.swift.metrics import NULL_METRICS
from twisted_proxy.swift.ring import Node

__all__ = [
    "ErrorLimiter",
    "HandoffLog",
    "NodeTimings",
    "NodeReporter",
    "NODE_FAILURES",
    "iter_nodes",
    "local_first",
    "local_handoffs_first",
    "node_path",
    "node_paths",
    "RingLike",
]

_log = Logger()
_RANDOM = random.Random()
# A worker forked from the proxy (worker_start = fork) would otherwise draw
# the same numbers as its parent and every other worker.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_RANDOM.seed)


#: What a node, or the connection to it, can fail with: the node client's
#: L{NodeError} (unreachable, no answer in time) and what reading a body can
#: fail with. Anything else is the proxy's own bug, never the node's fault.
NODE_FAILURES: tuple[type[BaseException], ...] = (
    NodeError,
    ResponseFailed,
    ConnectError,
    ConnectionClosed,
    ConnectTimeoutError,
    TimeoutError,
)


class RingLike(Protocol):
    @property
    def replica_count(self) -> float:
        ...

    def get_part(self, account: str | bytes, container: str | bytes | None = None,
                 obj: str | bytes | None = None) -> int:
        ...

    def get_part_nodes(self, part: int) -> list[Node]:
        ...

    def get_more_nodes(self, part: int) -> Iterator[Node]:
        ...


class ErrorLimiter:
    """
    Counts errors per node; a node with more than C{limit} errors, the last
    one less than C{interval} seconds ago, is skipped until C{interval} has
    passed since its last error.

    @param clock: tells the time.
    @param metrics: told of each error that leaves a node limited
        (C{error_limiter.incremented_limit}), each node limited at once
        (C{forced_limit}) and each limited node skipped (C{is_limited}).
    """

    def __init__(self, clock: IReactorTime, limit: int, interval: float,
                 metrics: IMetrics = NULL_METRICS) -> None:
        self._clock = clock
        self.limit = limit
        self.interval = interval
        self.metrics = metrics
        self._errors: dict[str, tuple[int, float]] = {}

    def is_limited(self, node: Node) -> bool:
        """
        Whether C{node} is to be skipped now.
        """
        if not self._errors:
            # No node has errors (as usual): no key to make.
            return False
        entry = self._errors.get(node_key(node))
        if entry is None:
            return False
        count, last = entry
        if self._clock.seconds() - last > self.interval:
            del self._errors[node_key(node)]
            return False
        if count > self.limit:
            self.metrics.node_skipped(node_key(node))
            return True
        return False

    def error(self, node: Node, why: str = "") -> None:
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
        if count > self.limit:
            self.metrics.node_error_limited(key, False)
        if count == self.limit + 1:
            _log.warn("Node error limited {node}: {why}", node=key, why=why)

    def limit_now(self, node: Node, why: str = "") -> None:
        """
        Skip C{node} at once, as for a 507 Insufficient Storage.
        """
        self._errors[node_key(node)] = (self.limit + 1, self._clock.seconds())
        self.metrics.node_error_limited(node_key(node), True)
        _log.warn("Node error limited {node}: {why}", node=node_key(node), why=why)

    def errors(self, node: Node) -> int:
        """
        The current error count of C{node}: 0 once C{interval} has passed
        since its last error.
        """
        count, last = self._errors.get(node_key(node), (0, 0.0))
        if self._clock.seconds() - last > self.interval:
            return 0
        return count


class NodeReporter:
    """
    What a request learns about its nodes, reported as Swift's proxy does:
    a 507 limits the node at once, another 5xx or a failure counts one
    error against it, and a failure is logged with the server type, the
    node and the transaction.

    @param server_type: C{Account}, C{Container} or C{Object}, for logs.
    @param trans_id: the request's transaction id, for logs.
    """

    def __init__(self, limiter: ErrorLimiter, server_type: str,
                 trans_id: Optional[str]) -> None:
        self._limiter = limiter
        self._server_type = server_type
        self._trans_id = trans_id

    def status(self, node: Node, status: int) -> None:
        """
        C{node} answered with C{status}.
        """
        if status == 507:
            self._limiter.limit_now(node, "507 Insufficient Storage")
        elif status >= 500:
            self._limiter.error(node, f"status {status}")

    def error(self, node: Node, error: BaseException) -> None:
        """
        C{node} failed with C{error} (one of L{NODE_FAILURES}, or a
        timeout of the caller's own).
        """
        self._limiter.error(node, str(error))
        _log.warn(
            "ERROR with {server} server {node}: {error} (txn {txn})",
            server=self._server_type,
            node=node_key(node),
            error=error,
            txn=self._trans_id,
        )


class NodeTimings:
    """
    Recent response times per node, for C{sorting_method = timing}.
    """

    def __init__(self, clock: IReactorTime, expiry: float) -> None:
        self._clock = clock
        self._expiry = expiry
        self._timings: dict[str, tuple[float, float]] = {}

    def record(self, node: Node, seconds: float) -> None:
        self._timings[node_key(node)] = (seconds, self._clock.seconds() + self._expiry)

    def timing(self, node: Node) -> float:
        entry = self._timings.get(node_key(node))
        if entry is None or entry[1] < self._clock.seconds():
            return -1.0
        return entry[0]


def _sorted_primaries(
    nodes: list[Node],
    sorting_method: str,
    timings: Optional[NodeTimings],
    rng: random.Random,
    read_key: Optional[AffinityKey] = None,
    shuffled_rank: Optional[Callable[[Node], int]] = None,
) -> list[Node]:
    nodes = list(nodes)
    # Shuffled first in every method: nodes the sort ranks equal are
    # still spread (the sort is stable).
    rng.shuffle(nodes)
    if sorting_method == "timing" and timings is not None:
        nodes.sort(key=timings.timing)
    elif sorting_method == "affinity" and read_key is not None:
        nodes.sort(key=read_key)
    elif sorting_method == "shuffle" and shuffled_rank is not None:
        nodes.sort(key=shuffled_rank)
    return nodes


class HandoffLog:
    """
    Swift's C{log_handoffs}: a warning each time a request takes more
    handoffs than its node count planned for (C{node_count} minus the
    primaries), which means primaries were skipped.

    @param server_type: C{Account}, C{Container} or C{Object}; the warning
        names Swift's metric, C{<server_type>.handoff_count} (and
        C{.handoff_all_count} when every primary was skipped).
    @param metrics: counts the same.
    """

    def __init__(self, server_type: str, trans_id: Optional[str] = None,
                 metrics: IMetrics = NULL_METRICS) -> None:
        self._type = server_type.lower()
        self._trans_id = trans_id
        self._metrics = metrics

    def handoff(self, handoffs: int, expected: int, primaries: int) -> None:
        """
        The request is about to use its C{handoffs}-th handoff, having
        planned for C{expected} handoffs with C{primaries} primaries.
        """
        extra = handoffs - expected
        if extra <= 0:
            return
        metric = f"{self._type}.handoff_count"
        if extra == primaries:
            metric += f" {self._type}.handoff_all_count"
        self._metrics.handoff(self._type, extra == primaries)
        _log.warn("Handoff requested ({handoffs}) (txn {txn})", handoffs=handoffs,
                  metric=metric, txn=self._trans_id)


def local_first(ring: RingLike, part: int, is_local: LocalityPredicate,
                local_count: int) -> Iterator[Node]:
    """
    Swift's write affinity: the partition's primaries and handoffs
    reordered so that the first C{local_count} local ones (primaries or
    handoffs, in ring order) come first, then every other node in ring
    order. No node is left out.
    """
    primaries = ring.get_part_nodes(part)
    preferred = list(islice(
        (node for node in chain(primaries, ring.get_more_nodes(part)) if is_local(node)),
        local_count))
    taken = {node_key(node) for node in preferred}
    rest = (node for node in chain(primaries, ring.get_more_nodes(part))
            if node_key(node) not in taken)
    return chain(preferred, rest)


def local_handoffs_first(ring: RingLike, part: int, is_local: LocalityPredicate,
                         handoff_count: Optional[int]) -> tuple[Iterator[Node], int]:
    """
    Swift's write affinity for a DELETE: every primary, then the first
    local handoffs, then the other handoffs in ring order.

    @param handoff_count: how many local handoffs to put first; C{None}
        (Swift's C{auto}) for as many as there are non-local primaries.
    @return: the nodes, and how many local handoffs were wanted (the DELETE
        goes to that many nodes beyond the primaries).
    """
    primaries = ring.get_part_nodes(part)
    if handoff_count is None:
        handoff_count = sum(1 for node in primaries if not is_local(node))
    handoffs = ring.get_more_nodes(part)
    preferred = list(islice((node for node in handoffs if is_local(node)), handoff_count))
    taken = {node_key(node) for node in primaries + preferred}
    rest = (node for node in ring.get_more_nodes(part) if node_key(node) not in taken)
    return chain(primaries, preferred, rest), handoff_count


def iter_nodes(
    ring: RingLike,
    part: int,
    limiter: ErrorLimiter,
    node_count: int,
    sorting_method: str = "shuffle",
    timings: Optional[NodeTimings] = None,
    primaries: Optional[Iterable[Node]] = None,
    rng: Optional[random.Random] = None,
    read_key: Optional[AffinityKey] = None,
    order: Optional[Iterable[Node]] = None,
    handoff_log: Optional[HandoffLog] = None,
    shuffled_rank: Optional[Callable[[Node], int]] = None,
) -> Iterator[Node]:
    """
    The nodes to try for partition C{part}, as Swift's C{NodeIter} gives
    them: the primaries (in C{sorting_method} order) that are not error
    limited, then handoffs in the ring's order, skipping error-limited ones.

    Up to C{node_count} nodes are used; a node counts once it has been
    yielded and was not error limited by the time the next one is asked
    for, so a handoff stands in for each primary skipped or limited while
    it was being tried, as in Swift.

    @param read_key: the C{read_affinity} order, for C{sorting_method =
        affinity}.
    @param order: all the candidate nodes in order (see L{local_first}),
        instead of the ring's primaries then handoffs; as in Swift, the
        first as many as the ring has primaries are sorted and count as the
        primaries, the rest as handoffs.
    @param handoff_log: told of each handoff taken (C{log_handoffs}).
    @param shuffled_rank: with C{sorting_method = shuffle} only, ranks the
        shuffled primaries (lower first, equal ranks kept shuffled): a
        preference among nodes the operator asked to treat alike, such as
        an erasure-coded read's for data fragments. The other methods'
        orders are kept as configured.
    """
    if rng is None:
        rng = _RANDOM
    if node_count <= 0:
        return
    candidates: Iterator[Node]
    if order is not None:
        candidates = iter(order)
        first = list(islice(candidates, len(ring.get_part_nodes(part))))
    else:
        first = list(ring.get_part_nodes(part) if primaries is None else primaries)
        # Asked for only once the primaries are used up: a ring's handoff
        # iterator does real work per node.
        candidates = _lazy_handoffs(ring, part)
    primary_count = len(first)
    expected = node_count - primary_count
    left = node_count
    for node in _sorted_primaries(first, sorting_method, timings, rng, read_key,
                                  shuffled_rank):
        if limiter.is_limited(node):
            continue
        yield node
        if not limiter.is_limited(node):
            left -= 1
            if left <= 0:
                return
    handoffs = 0
    for node in candidates:
        if limiter.is_limited(node):
            continue
        handoffs += 1
        if handoff_log is not None:
            handoff_log.handoff(handoffs, expected, primary_count)
        yield node
        if not limiter.is_limited(node):
            left -= 1
            if left <= 0:
                return


def _lazy_handoffs(ring: RingLike, part: int) -> Iterator[Node]:
    yield from ring.get_more_nodes(part)


def node_path(node: Node, part: int, name: str, query: str = "") -> str:
    """
    The path of a backend request for C{name} (C{account[/container
    [/object]]}, a WSGI string) in partition C{part} on C{node}: the device,
    the partition and the name, percent-quoted, then C{?query} if any.
    """
    path = f"/{_quoted_device(node['device'])}/{part}/{wire_quote(name)}"
    return f"{path}?{query}" if query else path


def node_paths(part: int, name: str) -> Callable[[Node], str]:
    """
    L{node_path} of C{name} in partition C{part}, for one node after
    another (the replicas of a write), the name quoted once for all.
    """
    quoted = f"/{part}/{wire_quote(name)}"

    def path(node: Node) -> str:
        return f"/{_quoted_device(node['device'])}{quoted}"

    return path


@functools.lru_cache(maxsize=4096)
def _quoted_device(device: str) -> str:
    # A ring names few devices, and every request names one of them.
    return wire_quote(device)
