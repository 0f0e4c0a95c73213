# -*- test-case-name: tests.test_metrics -*-
"""
The code of the C{metrics} plugin: see L{twisted_proxy.plugins.metrics},
which declares it and imports this module only when a pipeline runs it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Callable, Optional

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.plugin import IPlugin
from twisted.web.resource import Resource
from twisted.web.server import Request, Site
from zope.interface import implementer

from twisted_proxy.config import ConfigError
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.swift.http import SwiftRequest, SwiftResponse
from twisted_proxy.swift.metrics import NullMetrics, status_class
from twisted_proxy.swift.truthy import is_true

__all__ = ["MULTIPROC_ENV", "MetricsFilter", "PrometheusMetrics", "metricsPlugin"]

#: The variable naming prometheus-client's multiprocess directory.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Set by the parent that made the directory, to its pid.
_OWNER_ENV = "TWISTED_PROXY_METRICS_PARENT"

#: Seconds: the buckets of the latency histograms.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                   60.0, float("inf"))

Exposition = Callable[[], tuple[bytes, str]]


class PrometheusMetrics(NullMetrics):
    """
    An L{IMetrics} recording into C{prometheus-client} metrics, all named
    C{twisted_proxy_...}:

      - C{requests_total}, C{request_duration_seconds} (histogram) by
        C{type}, C{method}, C{status} class (C{2xx}...) and C{policy};
        C{first_byte_seconds} (histogram, GETs) by C{type} and C{policy};
        C{request_bytes_total} and C{response_bytes_total} by C{type},
        C{method} and C{policy};
      - C{backend_requests_total} by C{node}, C{method} and C{status}
        class (C{error} when the node failed), C{backend_errors_total} by
        C{node};
      - C{node_error_limited_total} by C{node} and C{forced},
        C{node_skipped_total} by C{node}; C{handoffs_total} and
        C{handoff_all_total} by C{type}; C{resumes_total} by C{type};
        C{client_timeouts_total}, C{client_disconnects_total} by C{type};
      - C{info_cache_lookups_total} by C{outcome} (C{hit}, C{miss},
        C{merged});
      - C{redis_available} (gauge: 1 while the circuit is closed, 0 during
        an outage; the lowest of the live workers'), C{client_connections}
        (gauge: open client connections, summed over the live workers).

    @param registry: where the metrics are registered (a
        C{CollectorRegistry}; in multiprocess mode they are read from the
        shared directory instead).
    """

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        def counter(name: str, text: str, labels: tuple[str, ...]) -> Any:
            return Counter(f"twisted_proxy_{name}", text, labels, registry=registry)

        request = ("type", "method", "status", "policy")
        self.requests = counter("requests", "Client requests answered.", request)
        self.duration = Histogram(
            "twisted_proxy_request_duration_seconds",
            "Seconds from a client request's start to the end of its response.",
            request, buckets=LATENCY_BUCKETS, registry=registry)
        self.first_byte_seconds = Histogram(
            "twisted_proxy_first_byte_seconds",
            "Seconds until a GET's response headers went out.",
            ("type", "policy"), buckets=LATENCY_BUCKETS, registry=registry)
        body = ("type", "method", "policy")
        self.bytes_in = counter("request_bytes", "Request body bytes read from clients.",
                                body)
        self.bytes_out = counter("response_bytes", "Response body bytes sent to clients.",
                                 body)
        self.backend = counter("backend_requests", "Requests to storage nodes.",
                               ("node", "method", "status"))
        self.backend_errors = counter(
            "backend_errors", "Requests to storage nodes that failed (no answer in time, "
            "unreachable).", ("node",))
        self.limited = counter("node_error_limited",
                               "Errors that left a node error limited.", ("node", "forced"))
        self.skipped = counter("node_skipped", "Error-limited nodes skipped.", ("node",))
        self.handoffs = counter("handoffs", "Handoffs taken beyond those planned for.",
                                ("type",))
        self.handoff_all = counter("handoff_all",
                                   "Requests whose every primary was skipped.", ("type",))
        self.resumes = counter("resumes",
                               "Response bodies resumed from another node mid-stream.",
                               ("type",))
        self.timeouts = counter("client_timeouts", "Clients dropped by client_timeout.",
                                ("type",))
        self.disconnects = counter("client_disconnects",
                                   "Clients gone in the middle of a request body.",
                                   ("type",))
        self.info = counter("info_cache_lookups", "Account and container info lookups.",
                            ("outcome",))
        self.redis = Gauge("twisted_proxy_redis_available",
                           "1 while the Redis info store answers, 0 during an outage.",
                           registry=registry, multiprocess_mode="livemin")
        self.connections = Gauge("twisted_proxy_client_connections",
                                 "Open client connections.", registry=registry,
                                 multiprocess_mode="livesum")

    def request_finished(self, kind: str, method: str, status: int, policy: Optional[str],
                         seconds: float, bytes_in: int, bytes_out: int) -> None:
        labels = (kind, method, status_class(status), policy or "")
        self.requests.labels(*labels).inc()
        self.duration.labels(*labels).observe(seconds)
        if bytes_in:
            self.bytes_in.labels(kind, method, policy or "").inc(bytes_in)
        if bytes_out:
            self.bytes_out.labels(kind, method, policy or "").inc(bytes_out)

    def first_byte(self, kind: str, method: str, status: int, policy: Optional[str],
                   seconds: float) -> None:
        self.first_byte_seconds.labels(kind, policy or "").observe(seconds)

    def backend_request(self, node: str, method: str, status: Optional[int]) -> None:
        self.backend.labels(node, method, "error" if status is None
                            else status_class(status)).inc()
        if status is None:
            self.backend_errors.labels(node).inc()

    def node_error_limited(self, node: str, forced: bool) -> None:
        self.limited.labels(node, "true" if forced else "false").inc()

    def node_skipped(self, node: str) -> None:
        self.skipped.labels(node).inc()

    def handoff(self, server_type: str, all_handoffs: bool) -> None:
        self.handoffs.labels(server_type).inc()
        if all_handoffs:
            self.handoff_all.labels(server_type).inc()

    def resumed(self, server_type: str) -> None:
        self.resumes.labels(server_type).inc()

    def client_timeout(self, server_type: str) -> None:
        self.timeouts.labels(server_type).inc()

    def client_disconnect(self, server_type: str) -> None:
        self.disconnects.labels(server_type).inc()

    def info_lookup(self, outcome: str) -> None:
        self.info.labels(outcome).inc()

    def redis_available(self, up: bool) -> None:
        self.redis.set(1 if up else 0)

    def client_connections(self, delta: int) -> None:
        self.connections.inc(delta)


@implementer(IProxyFilter)
class MetricsFilter:
    """
    Answers C{GET}/C{HEAD} C{path} with the exposition; passes everything
    else on.

    @param exposition: makes the page: its bytes and content type.
    @param path: where the page is, or C{None} to serve it only on the
        admin port.
    """

    def __init__(self, exposition: Exposition, path: Optional[str] = "/metrics") -> None:
        self._exposition = exposition
        self.path = path

    def __call__(self, request: SwiftRequest, app: IProxyApplication
                 ) -> "Deferred[SwiftResponse]":
        if self.path is None or request.path != self.path or request.method not in (
                "GET", "HEAD"):
            return app(request)  # type: ignore[no-any-return]
        body, content_type = self._exposition()
        headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
        return succeed(SwiftResponse(200, headers, b"" if request.method == "HEAD" else body))


class _Page(Resource):
    isLeaf = True

    def __init__(self, exposition: Exposition, path: str) -> None:
        super().__init__()
        self._exposition = exposition
        self._path = path.encode("utf-8")

    def render_GET(self, request: Request) -> bytes:
        if request.path != self._path:
            request.setResponseCode(404)
            return b""
        body, content_type = self._exposition()
        request.setHeader(b"Content-Type", content_type.encode("ascii"))
        return body

    render_HEAD = render_GET


class AdminPort(Service):
    """
    Serves the exposition at C{path} on C{host:port} while running.

    @param reactor: an L{IReactorTCP} provider.
    """

    def __init__(self, reactor: Any, host: str, port: int, exposition: Exposition,
                 path: str) -> None:
        self._reactor = reactor
        self.host = host
        self.port = port
        self._site = Site(_Page(exposition, path))
        self._site.noisy = False
        self._listening: Any = None

    def startService(self) -> None:
        super().startService()
        self._listening = self._reactor.listenTCP(self.port, self._site, interface=self.host)

    def stopService(self) -> Any:
        super().stopService()
        listening, self._listening = self._listening, None
        return listening.stopListening() if listening is not None else None


class _RemoveDirectory(Service):
    def __init__(self, path: str) -> None:
        self.path = path

    def stopService(self) -> Any:
        super().stopService()
        shutil.rmtree(self.path, ignore_errors=True)
        if os.environ.get(MULTIPROC_ENV) == self.path:
            del os.environ[MULTIPROC_ENV]
            os.environ.pop(_OWNER_ENV, None)
        return None


def _forget_dead(directory: str) -> None:
    """
    Drop the live gauges of processes that are gone (a worker that died
    and was restarted), as C{prometheus-client} asks of its user.
    """
    from prometheus_client import multiprocess

    pids = set()
    for name in os.listdir(directory):
        if name.startswith("gauge_live") and name.endswith(".db"):
            try:
                pids.add(int(name[:-3].rsplit("_", 1)[1]))
            except ValueError:
                continue
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, directory)
        except OSError:
            pass


def _expose(directory: Optional[str], registry: Any) -> Exposition:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    if directory is not None:
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)

    def exposition() -> tuple[bytes, str]:
        if directory is not None:
            _forget_dead(directory)
        return generate_latest(registry), CONTENT_TYPE_LATEST

    return exposition


def _multiprocess_directory(context: ProxyContext) -> tuple[Optional[str], bool]:
    """
    The shared directory of multiprocess mode (C{None} for a single
    process), and whether this process made it (and must remove it).
    """
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        return directory, False
    workers = getattr(getattr(context, "settings", None), "workers", 1)
    if workers < 2:
        return None, False
    directory = tempfile.mkdtemp(prefix="twisted-proxy-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    os.environ[_OWNER_ENV] = str(os.getpid())
    return directory, True


def _option_error(option: str, problem: str) -> ConfigError:
    return ConfigError(f"[filter:metrics] {option}: {problem}")


@implementer(IPlugin, IProxyPluginFactory)
class _MetricsFactory:
    name = "metrics"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> MetricsFilter:
        """
        @param conf: C{path} (C{/metrics}); C{admin_port} (none: only in
            the pipeline) and C{admin_host} (C{127.0.0.1}); C{admin_only}
            (false): serve the page only on the admin port.
        @param context: its C{metrics} gets the recorder, its C{services}
            the admin port and the removal of the shared directory.
        @raise ConfigError: for a bad option, or without prometheus-client.
        """
        path = conf.get("path", "/metrics").strip() or "/metrics"
        if not path.startswith("/"):
            raise _option_error("path", f"must start with '/': {path!r}")
        raw_port = conf.get("admin_port", "").strip()
        port: Optional[int] = None
        if raw_port:
            try:
                port = int(raw_port)
            except ValueError:
                raise _option_error("admin_port", f"not a port: {raw_port!r}") from None
            if not 0 <= port < 65536:
                raise _option_error("admin_port", f"not a port: {raw_port!r}")
        admin_only = is_true(conf.get("admin_only", "false"))
        if admin_only and port is None:
            raise _option_error("admin_only", "needs admin_port")
        directory, made = _multiprocess_directory(context)
        try:
            from prometheus_client import CollectorRegistry
        except ImportError:
            raise ConfigError("[filter:metrics] needs prometheus-client: "
                              "pip install prometheus-client") from None
        registry = CollectorRegistry(auto_describe=True)
        recorder = PrometheusMetrics(registry)
        context.metrics.add(recorder)
        exposition = _expose(directory, registry)
        if made:
            _RemoveDirectory(directory).setServiceParent(  # type: ignore[arg-type]
                context.services)
        owner = os.environ.get(_OWNER_ENV)
        in_worker = directory is not None and owner is not None and owner != str(os.getpid())
        if port is not None and not in_worker:
            AdminPort(context.reactor, conf.get("admin_host", "127.0.0.1").strip(), port,
                      exposition, path).setServiceParent(context.services)
        return MetricsFilter(exposition, None if admin_only else path)


metricsPlugin = _MetricsFactory()
