# -*- test-case-name: tests.test_metrics -*-
"""
Recording metrics without knowing where they go: L{NULL_METRICS}, which
records nothing (the default of every layer), L{MetricsFanout}, which hands
each event to the recorders a process was given (statsd, Prometheus), and
the names Swift's metrics use for a request (L{metric_type}).
"""

from __future__ import annotations

from typing import Any, Container, Optional

from twisted.logger import Logger
from zope.interface import implementer

from twisted_proxy.interfaces import IMetrics
from twisted_proxy.swift.paths import split_path

__all__ = ["MetricsFanout", "NULL_METRICS", "NullMetrics", "metric_type", "records",
           "status_class"]

_log = Logger()


@implementer(IMetrics)
class NullMetrics:
    """
    An L{IMetrics} that records nothing.
    """

    def request_finished(self, kind: str, method: str, status: int, policy: Optional[str],
                         seconds: float, bytes_in: int, bytes_out: int) -> None:
        pass

    def first_byte(self, kind: str, method: str, status: int, policy: Optional[str],
                   seconds: float) -> None:
        pass

    def backend_request(self, node: str, method: str, status: Optional[int]) -> None:
        pass

    def node_error_limited(self, node: str, forced: bool) -> None:
        pass

    def node_skipped(self, node: str) -> None:
        pass

    def handoff(self, server_type: str, all_handoffs: bool) -> None:
        pass

    def resumed(self, server_type: str) -> None:
        pass

    def client_timeout(self, server_type: str) -> None:
        pass

    def client_disconnect(self, server_type: str) -> None:
        pass

    def info_lookup(self, outcome: str) -> None:
        pass

    def info_cache(self, server_type: str, state: str, status: Optional[int]) -> None:
        pass

    def redis_available(self, up: bool) -> None:
        pass

    def client_connections(self, delta: int) -> None:
        pass


#: The recorder of a layer that was given none.
NULL_METRICS = NullMetrics()

_EVENTS = tuple(name for name in IMetrics.names())


class MetricsFanout(NullMetrics):
    """
    An L{IMetrics} passing each event to every recorder added to it, in
    the order they were added. A recorder that raises is a bug of its own:
    the others still get the event, and the caller never sees the error.
    """

    def __init__(self) -> None:
        self.recorders: list[Any] = []
        for name in _EVENTS:
            setattr(self, name, self._event(name))

    def add(self, recorder: Any) -> None:
        """
        Send later events to C{recorder} too (an L{IMetrics} provider).
        """
        self.recorders.append(recorder)

    def _event(self, name: str) -> Any:
        recorders = self.recorders

        def fan_out(*args: Any) -> None:
            for recorder in recorders:
                try:
                    getattr(recorder, name)(*args)
                except Exception:
                    _log.failure("metrics recorder {recorder!r} failed on {event}",
                                     recorder=recorder, event=name)

        fan_out.__name__ = name
        return fan_out


def records(metrics: IMetrics) -> bool:
    """
    Whether events told to C{metrics} reach a recorder now: not for
    L{NULL_METRICS}, nor for a L{MetricsFanout} with no recorder (yet) but
    such ones. A caller with work to do only for its metrics asks each
    time: recorders are added as the pipeline is built.
    """
    if metrics is NULL_METRICS:
        return False
    if type(metrics) is MetricsFanout:
        return any(records(recorder) for recorder in metrics.recorders)
    return True


def metric_type(path: str, source: Optional[str], versions: Container[str]) -> str:
    """
    A request's type in Swift's metric names, as Swift's proxy logging
    finds it: C{object}, C{container} or C{account} for a C{/v1/a/c/o}
    path (quoted, as the backend path), else the request's
    C{swift.source}, else C{UNKNOWN}.
    """
    try:
        version, account, container, obj = split_path(path, 1, 4, True)
    except ValueError:
        version = account = container = obj = None
    if version in versions:
        if obj:
            return "object"
        if container:
            return "container"
        if account:
            return "account"
    return source or "UNKNOWN"


def status_class(status: int) -> str:
    """
    C{2xx}, C{4xx}, ... for C{status}.
    """
    return f"{status // 100}xx"
