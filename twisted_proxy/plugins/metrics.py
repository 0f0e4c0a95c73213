# -*- test-case-name: tests.test_metrics -*-
"""
The C{metrics} plugin: the proxy's metrics in the Prometheus text format,
through C{prometheus-client}, at C{GET /metrics} (C{[filter:metrics]
path}) and optionally on an admin port of its own (C{admin_port},
C{admin_host}).

Its L{PrometheusMetrics} is added to the process's C{ProxyContext.metrics},
so it counts what every layer reports (see L{IMetrics}): requests as
C{proxy-logging} logs them (that filter must be in the pipeline for the
request metrics), backend requests, error limiting, handoffs, resumes,
info-cache lookups, the Redis circuit breaker and client connections.

With C{workers = N} each worker counts in its own process; one scrape must
answer for all of them, so the plugin uses C{prometheus-client}'s
multiprocess mode. The twistd parent builds the pipeline before it starts
any worker: there the plugin makes a fresh directory and names it in
C{PROMETHEUS_MULTIPROC_DIR}, which the workers inherit (they are spawned
with the parent's environment). Every worker writes its values there
(memory-mapped files, no locking between processes) and whichever worker
takes a scrape merges them all (C{MultiProcessCollector}); the admin port,
when set, is served by the parent alone, from the same files. The parent
removes the directory when it stops. A directory the operator set in
C{PROMETHEUS_MULTIPROC_DIR} is used as it is (and must be emptied by them
between runs, as C{prometheus-client} requires).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted_proxy.plugins._support.lazy import LazyPluginFactory, implementation_attribute

if TYPE_CHECKING:
    from twisted_proxy.plugins._lazy.metrics import MULTIPROC_ENV, MetricsFilter, PrometheusMetrics

__all__ = ["MULTIPROC_ENV", "MetricsFilter", "PrometheusMetrics", "metricsPlugin"]

_CODE = "twisted_proxy.plugins._lazy.metrics"

metricsPlugin: LazyPluginFactory[MetricsFilter] = LazyPluginFactory(
    "metrics", _CODE, "metricsPlugin")


def __getattr__(name: str) -> Any:
    return implementation_attribute(__name__, _CODE, name)
