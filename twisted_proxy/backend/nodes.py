# -*- test-case-name: tests.test_nodes -*-
"""
Which storage nodes a request tries, in which order: primaries first, then
handoffs, skipping nodes that have been failing (error limiting); where on a
node a request goes; and what a node's failure counts for.
"""

from __future__ import annotations

import random
from typing import Iterable, Iterator, Optional, Protocol

from twisted.internet.error import ConnectError, ConnectionClosed
from twisted.internet.error import TimeoutError as ConnectTimeoutError
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.client import ResponseFailed

from twisted_proxy.backend.nodeclient import NodeError, node_key
from twisted_proxy.swift.http import wire_quote
from twisted_proxy.swift.ring import Node

__all__ = [
    "ErrorLimiter",
    "NodeTimings",
    "NodeReporter",
    "NODE_FAILURES",
    "iter_nodes",
    "node_path",
    "RingLike",
]

_log = Logger()
_RANDOM = random.Random()


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
    """

    def __init__(self, clock: IReactorTime, limit: int, interval: float) -> None:
        self._clock = clock
        self.limit = limit
        self.interval = interval
        self._errors: dict[str, tuple[int, float]] = {}

    def is_limited(self, node: Node) -> bool:
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
        if count == self.limit + 1:
            _log.warn("Node error limited {node}: {why}", node=key, why=why)

    def limit_now(self, node: Node, why: str = "") -> None:
        """
        Skip C{node} at once, as for a 507 Insufficient Storage.
        """
        self._errors[node_key(node)] = (self.limit + 1, self._clock.seconds())
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
) -> list[Node]:
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
    primaries: Optional[Iterable[Node]] = None,
    rng: Optional[random.Random] = None,
) -> Iterator[Node]:
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


def node_path(node: Node, part: int, name: str, query: str = "") -> str:
    """
    The path of a backend request for C{name} (C{account[/container
    [/object]]}, a WSGI string) in partition C{part} on C{node}: the device,
    the partition and the name, percent-quoted, then C{?query} if any.
    """
    path = f"/{wire_quote(node['device'])}/{part}/{wire_quote(name)}"
    return f"{path}?{query}" if query else path
