"""
Tests for the metrics: the L{IMetrics} seam (L{twisted_proxy.swift.metrics}),
Swift's statsd lines (L{twisted_proxy.swift.statsd}) and their UDP sender
(L{twisted_proxy.plugins._support.statsd}), and the Prometheus plugin
(L{twisted_proxy.plugins.metrics}).
"""

from __future__ import annotations

from typing import Any, Optional, cast

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from tests.doubles import partial_context
from tests.fakenodes import make_swift_conf
from twisted_proxy.backend.nodes import ErrorLimiter, HandoffLog
from twisted_proxy.config import ConfigError
from twisted_proxy.info.cache import InfoCache
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.interfaces import IMetrics
from twisted_proxy.plugins._support.statsd import (
    AccessStatsd,
    StatsdMetrics,
    StatsdSender,
)
from twisted_proxy.plugins.metrics import MetricsFilter, PrometheusMetrics, metricsPlugin
from twisted_proxy.plugins.proxy_logging import proxyLoggingPlugin
from twisted_proxy.swift.constraints import Constraints
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse
from twisted_proxy.swift.metrics import (
    NULL_METRICS,
    MetricsFanout,
    NullMetrics,
    metric_type,
    records,
)
from twisted_proxy.swift.ring import Node
from twisted_proxy.swift.statsd import StatsdClient, StatsdConf

NODE = cast(Node, {"ip": "10.0.0.1", "port": 6200, "device": "sdb1", "id": 0})


class _UDPTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []
        self.full = False

    def write(self, data: bytes, address: tuple[str, int]) -> None:
        if self.full:
            raise BlockingIOError("full")
        self.sent.append((data, address))


class _Port:
    def __init__(self) -> None:
        self.stopped = False

    def stopListening(self) -> None:
        self.stopped = True


class _UDPReactor(Clock):
    """
    A clock whose C{listenUDP} connects the protocol to a fake transport,
    and whose C{resolve} answers from a table.
    """

    def __init__(self) -> None:
        super().__init__()
        self.transport = _UDPTransport()
        self.listened: list[tuple[int, str]] = []
        self.names = {"statsd.example": "192.0.2.7"}

    def listenUDP(self, port: int, protocol: Any, interface: str = "",
                  maxPacketSize: int = 8192) -> _Port:
        self.listened.append((port, interface))
        protocol.makeConnection(self.transport)
        return _Port()

    def resolve(self, name: str) -> "Deferred[str]":
        return succeed(self.names[name])

    def lines(self) -> list[str]:
        return [data.decode("utf-8") for data, _ in self.transport.sent]


class StatsdClientTests(SynchronousTestCase):
    def test_names(self) -> None:
        """
        Names carry C{<metric_prefix>.proxy-server.}; counters are C{|c},
        timings C{|ms}.
        """
        sent: list[bytes] = []
        client = StatsdClient(StatsdConf("h", metric_prefix="pfx"), "proxy-server", sent.append)
        client.increment("object.handoff_count")
        client.timing("object.GET.200.timing", 12.5)
        client.update_stats("object.GET.200.xfer", 300)
        self.assertEqual(sent, [b"pfx.proxy-server.object.handoff_count:1|c",
                                b"pfx.proxy-server.object.GET.200.timing:12.5|ms",
                                b"pfx.proxy-server.object.GET.200.xfer:300|c"])
        bare = StatsdClient(StatsdConf("h"), "proxy-server", sent.append)
        self.assertEqual(bare.prefix, "proxy-server.")

    def test_sampling(self) -> None:
        """
        The default rate times the factor: a draw below it sends the line
        marked C{|@rate}; a draw at or above it sends nothing.
        """
        sent: list[bytes] = []
        draws = [0.1, 0.3]
        client = StatsdClient(StatsdConf("h", default_sample_rate=0.5, sample_rate_factor=0.5),
                              "proxy-server", sent.append, lambda: draws.pop(0))
        client.increment("a")
        client.increment("b")
        self.assertEqual(sent, [b"proxy-server.a:1|c|@0.25"])

    def test_conf(self) -> None:
        """
        C{log_statsd_*} options; C{access_log_statsd_*} first when asked;
        none without a host; a bad number is a C{ValueError}.
        """
        self.assertIsNone(StatsdConf.from_conf({"log_statsd_port": "1"}, "s"))
        conf = {"log_statsd_host": "a", "access_log_statsd_host": "b",
                "log_statsd_port": "9125", "log_statsd_metric_prefix": "p",
                "log_statsd_default_sample_rate": "0.5",
                "log_statsd_sample_rate_factor": "0.1"}
        self.assertEqual(StatsdConf.from_conf(conf, "s"),
                         StatsdConf("a", 9125, "p", 0.5, 0.1))
        self.assertEqual(StatsdConf.from_conf(conf, "s", access=True),
                         StatsdConf("b", 9125, "p", 0.5, 0.1))
        self.assertRaises(ValueError, StatsdConf.from_conf,
                          {"log_statsd_host": "a", "log_statsd_port": "x"}, "s")


class StatsdSenderTests(SynchronousTestCase):
    def test_sendsWhileRunning(self) -> None:
        """
        Datagrams go from a port of its own to the resolved host while the
        service runs; before, after, or when the socket will not take them,
        they are dropped without an error.
        """
        reactor = _UDPReactor()
        sender = StatsdSender(reactor, "statsd.example", 8125)
        sender.send(b"early")
        sender.startService()
        sender.send(b"x:1|c")
        reactor.transport.full = True
        sender.send(b"lost")
        reactor.transport.full = False
        sender.stopService()
        sender.send(b"late")
        self.assertEqual(reactor.transport.sent, [(b"x:1|c", ("192.0.2.7", 8125))])
        self.assertEqual(sender.dropped, 3)
        self.assertEqual(reactor.listened, [(0, "")])

    def test_ipv6(self) -> None:
        """
        An IPv6 address is sent to from an IPv6 port.
        """
        reactor = _UDPReactor()
        sender = StatsdSender(reactor, "::1", 8125)
        sender.startService()
        sender.send(b"x")
        self.assertEqual(reactor.listened, [(0, "::")])
        self.assertEqual(reactor.transport.sent, [(b"x", ("::1", 8125))])


class _Context:
    def __init__(self, reactor: Any, workers: int = 1) -> None:
        self.reactor = reactor
        self.constraints = Constraints()
        self.services = MultiService()
        self.swift_conf = make_swift_conf()
        self.metrics = MetricsFanout()
        self.settings = type("S", (), {"workers": workers})()


def _request(method: str, path: bytes, body: Any = None) -> SwiftRequest:
    return SwiftRequest(method, path, HeaderDict({"Host": "h"}), body, "127.0.0.1")


class ProxyLoggingStatsdTests(SynchronousTestCase):
    """
    C{proxy-logging} with C{log_statsd_host}: Swift's per-request names.
    """

    def _logging(self, conf: dict[str, str]) -> tuple[Any, _UDPReactor, _Context]:
        reactor = _UDPReactor()
        reactor.advance(1000)
        context = _Context(reactor)
        made = proxyLoggingPlugin.make_filter(conf, partial_context(context))
        context.services.startService()
        self.addCleanup(context.services.stopService)
        return made, reactor, context

    def test_get(self) -> None:
        """
        A GET sends C{.first-byte.timing} when it answers, then C{.timing}
        and C{.xfer}, each also under C{object.policy.<index>}.
        """
        made, reactor, _ = self._logging({"log_statsd_host": "127.0.0.1",
                                          "log_statsd_port": "9999"})

        def app(request: SwiftRequest) -> "Deferred[SwiftResponse]":
            reactor.advance(0.25)
            return succeed(SwiftResponse(200, {"X-Backend-Storage-Policy-Index": "0"},
                                         b"hello"))

        self.successResultOf(made(_request("GET", b"/v1/AUTH_test/c/o"), app))
        self.assertEqual(reactor.lines(), [
            "proxy-server.object.GET.200.first-byte.timing:250.0|ms",
            "proxy-server.object.policy.0.GET.200.first-byte.timing:250.0|ms",
            "proxy-server.object.GET.200.timing:250.0|ms",
            "proxy-server.object.GET.200.xfer:5|c",
            "proxy-server.object.policy.0.GET.200.timing:250.0|ms",
            "proxy-server.object.policy.0.GET.200.xfer:5|c",
        ])
        self.assertEqual({address for _, address in reactor.transport.sent},
                         {("127.0.0.1", 9999)})

    def test_typesAndMethods(self) -> None:
        """
        Account and container requests have their type and no policy
        variant; an unknown method is C{BAD_METHOD}; the access_ options
        win.
        """
        made, reactor, _ = self._logging({"log_statsd_host": "192.0.2.1",
                                          "access_log_statsd_host": "127.0.0.1",
                                          "access_log_statsd_metric_prefix": "swift"})

        def app(request: SwiftRequest) -> "Deferred[SwiftResponse]":
            return succeed(SwiftResponse(204 if request.method != "FOO" else 405, {}, b""))

        self.successResultOf(made(_request("HEAD", b"/v1/AUTH_test"), app))
        self.successResultOf(made(_request("FOO", b"/v1/AUTH_test/c"), app))
        self.assertEqual(reactor.lines(), [
            "swift.proxy-server.account.HEAD.204.timing:0.0|ms",
            "swift.proxy-server.account.HEAD.204.xfer:0|c",
            "swift.proxy-server.container.BAD_METHOD.405.timing:0.0|ms",
            "swift.proxy-server.container.BAD_METHOD.405.xfer:0|c",
        ])

    def test_noHost(self) -> None:
        """
        Without C{log_statsd_host} nothing is sent and no port is opened.
        """
        made, reactor, _ = self._logging({})
        self.successResultOf(made(_request("GET", b"/v1/a/c/o"),
                                  lambda r: succeed(SwiftResponse(200, {}, b"x"))))
        self.assertEqual((reactor.listened, reactor.lines()), ([], []))

    def test_badOption(self) -> None:
        """
        A port that is not a number is a configuration error.
        """
        self.assertRaises(ConfigError, proxyLoggingPlugin.make_filter,
                          {"log_statsd_host": "h", "log_statsd_port": "x"},
                          partial_context(_Context(_UDPReactor())))

    def test_processMetrics(self) -> None:
        """
        Each logged request also goes to the process's metrics.
        """
        made, reactor, context = self._logging({})
        seen: list[tuple[Any, ...]] = []

        class Recorder(NullMetrics):
            def request_finished(self, *args: Any) -> None:
                seen.append(args)

        context.metrics.add(Recorder())
        self.successResultOf(made(_request("DELETE", b"/v1/a/c/o"),
                                  lambda r: succeed(SwiftResponse(204, {}, b""))))
        self.assertEqual(seen, [("object", "DELETE", 204, None, 0.0, 0, 0)])


class AppStatsdTests(SynchronousTestCase):
    """
    The proxy-server counters of error limiting and handoffs, under Swift's
    names.
    """

    def setUp(self) -> None:
        self.sent: list[bytes] = []
        self.metrics = StatsdMetrics(StatsdClient(StatsdConf("h"), "proxy-server",
                                                  self.sent.append))

    def test_errorLimiting(self) -> None:
        """
        Errors past the limit send C{incremented_limit} (each one, as
        Swift's), a 507 C{forced_limit}, and each skip of a limited node
        C{is_limited}.
        """
        clock = Clock()
        limiter = ErrorLimiter(clock, 1, 60, self.metrics)
        limiter.error(NODE)
        self.assertFalse(limiter.is_limited(NODE))
        limiter.error(NODE)
        limiter.error(NODE)
        self.assertTrue(limiter.is_limited(NODE))
        limiter.limit_now(cast(Node, dict(NODE, device="sdc1")))
        self.assertEqual(self.sent, [
            b"proxy-server.error_limiter.incremented_limit:1|c",
            b"proxy-server.error_limiter.incremented_limit:1|c",
            b"proxy-server.error_limiter.is_limited:1|c",
            b"proxy-server.error_limiter.forced_limit:1|c",
        ])

    def test_handoffs(self) -> None:
        """
        An unplanned handoff sends C{<type>.handoff_count}, and
        C{handoff_all_count} when every primary was skipped.
        """
        log = HandoffLog("Object", "tx", self.metrics)
        log.handoff(1, 0, 3)
        log.handoff(3, 0, 3)
        self.assertEqual(self.sent, [
            b"proxy-server.object.handoff_count:1|c",
            b"proxy-server.object.handoff_count:1|c",
            b"proxy-server.object.handoff_all_count:1|c",
        ])

    def test_infoCache(self) -> None:
        """
        Info lookups go by Swift's names: the request's own copy, the
        store's, or the storage nodes' answer and why they were asked.
        """
        self.metrics.info_cache("account", "infocache_hit", None)
        self.metrics.info_cache("container", "hit", None)
        self.metrics.info_cache("container", "miss", 404)
        self.metrics.info_cache("account", "skip", 204)
        self.metrics.info_cache("account", "miss", None)
        self.assertEqual(self.sent, [
            b"proxy-server.account.info.infocache.hit:1|c",
            b"proxy-server.container.info.cache.hit:1|c",
            b"proxy-server.container.info.cache.miss.404:1|c",
            b"proxy-server.account.info.cache.skip.204:1|c",
            b"proxy-server.account.info.cache.miss:1|c",
        ])

    def test_clients(self) -> None:
        self.metrics.client_timeout("object")
        self.metrics.client_disconnect("object")
        self.assertEqual(self.sent, [b"proxy-server.object.client_timeouts:1|c",
                                     b"proxy-server.object.client_disconnects:1|c"])


class SeamTests(SynchronousTestCase):
    def test_interface(self) -> None:
        """
        The null recorder, the fan-out and both recorders provide
        L{IMetrics}.
        """
        from prometheus_client import CollectorRegistry

        for recorder in (NULL_METRICS, MetricsFanout(),
                         StatsdMetrics(StatsdClient(StatsdConf("h"), "", lambda d: None)),
                         AccessStatsd(StatsdClient(StatsdConf("h"), "", lambda d: None), ()),
                         PrometheusMetrics(CollectorRegistry())):
            self.assertTrue(verifyObject(IMetrics, recorder))

    def test_fanoutSurvivesBrokenRecorder(self) -> None:
        """
        A recorder that raises is logged; the others still hear the event.
        """
        fanout = MetricsFanout()
        heard = []

        class Broken(NullMetrics):
            def resumed(self, server_type: str) -> None:
                raise RuntimeError("bug")

        class Good(NullMetrics):
            def resumed(self, server_type: str) -> None:
                heard.append(server_type)

        fanout.add(Broken())
        fanout.add(Good())
        fanout.resumed("object")
        self.assertEqual(heard, ["object"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_records(self) -> None:
        """
        L{records} is false for the null recorder and a fan-out with no
        recorder but such ones, true once a real recorder is added.
        """
        fanout = MetricsFanout()
        self.assertFalse(records(NULL_METRICS))
        self.assertFalse(records(fanout))
        outer = MetricsFanout()
        outer.add(fanout)
        outer.add(NULL_METRICS)
        self.assertFalse(records(outer))
        fanout.add(NullMetrics())
        self.assertTrue(records(NullMetrics()))
        self.assertTrue(records(fanout))
        self.assertTrue(records(outer))

    def test_metricType(self) -> None:
        versions = ("v1",)
        self.assertEqual(metric_type("/v1/a/c/o", None, versions), "object")
        self.assertEqual(metric_type("/v1/a/c", None, versions), "container")
        self.assertEqual(metric_type("/v1/a", None, versions), "account")
        self.assertEqual(metric_type("/info", "SOS", versions), "SOS")
        self.assertEqual(metric_type("/v2/a", None, versions), "UNKNOWN")

    def test_infoCache(self) -> None:
        """
        The info cache reports a miss for a fetch, a merge for a lookup
        that joins it, and a hit for the stored answer.
        """
        outcomes: list[str] = []

        class Recorder(NullMetrics):
            def info_lookup(self, outcome: str) -> None:
                outcomes.append(outcome)

        clock = Clock()
        cache = InfoCache(MemoryInfoStore(clock), 60, 60, Recorder())
        fetched: Deferred[Any] = Deferred()

        async def fetch() -> Any:
            return await fetched

        first = Deferred.fromCoroutine(cache.get({}, "account/a", fetch))
        second = Deferred.fromCoroutine(cache.get({}, "account/a", fetch))
        fetched.callback({"status": 200})
        self.successResultOf(first)
        self.successResultOf(second)
        self.successResultOf(Deferred.fromCoroutine(cache.get({}, "account/a", fetch)))
        self.assertEqual(outcomes, ["miss", "merged", "hit"])


def _sample(registry: Any, name: str, labels: Optional[dict[str, str]] = None) -> float:
    value = registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else float(value)


class PrometheusTests(SynchronousTestCase):
    def setUp(self) -> None:
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry()
        self.metrics = PrometheusMetrics(self.registry)

    def test_requests(self) -> None:
        """
        Requests are counted and timed by type, method, status class and
        policy; body bytes both ways.
        """
        self.metrics.request_finished("object", "PUT", 201, "0", 0.02, 100, 0)
        self.metrics.request_finished("object", "GET", 200, "0", 0.3, 0, 100)
        self.metrics.request_finished("object", "GET", 404, None, 0.01, 0, 70)
        labels = {"type": "object", "method": "GET", "status": "2xx", "policy": "0"}
        self.assertEqual(_sample(self.registry, "twisted_proxy_requests_total", labels), 1)
        self.assertEqual(_sample(self.registry, "twisted_proxy_request_duration_seconds_bucket",
                                 dict(labels, le="0.25")), 0)
        self.assertEqual(_sample(self.registry, "twisted_proxy_request_duration_seconds_bucket",
                                 dict(labels, le="0.5")), 1)
        self.assertEqual(_sample(self.registry, "twisted_proxy_requests_total",
                                 dict(labels, status="4xx", policy="")), 1)
        self.assertEqual(_sample(self.registry, "twisted_proxy_request_bytes_total",
                                 {"type": "object", "method": "PUT", "policy": "0"}), 100)
        self.assertEqual(_sample(self.registry, "twisted_proxy_response_bytes_total",
                                 {"type": "object", "method": "GET", "policy": "0"}), 100)

    def test_backendAndState(self) -> None:
        """
        Backend requests and errors by node; error limiting, handoffs,
        resumes, info lookups, Redis and open connections.
        """
        node = "10.0.0.1:6200/sdb1"
        self.metrics.backend_request(node, "GET", 200)
        self.metrics.backend_request(node, "GET", None)
        self.metrics.node_error_limited(node, True)
        self.metrics.handoff("object", True)
        self.metrics.resumed("object")
        self.metrics.info_lookup("merged")
        self.metrics.redis_available(False)
        self.metrics.client_connections(1)
        self.metrics.client_connections(1)
        self.metrics.client_connections(-1)
        r = self.registry
        self.assertEqual(_sample(r, "twisted_proxy_backend_requests_total",
                                 {"node": node, "method": "GET", "status": "2xx"}), 1)
        self.assertEqual(_sample(r, "twisted_proxy_backend_errors_total", {"node": node}), 1)
        self.assertEqual(_sample(r, "twisted_proxy_node_error_limited_total",
                                 {"node": node, "forced": "true"}), 1)
        self.assertEqual(_sample(r, "twisted_proxy_handoff_all_total", {"type": "object"}), 1)
        self.assertEqual(_sample(r, "twisted_proxy_resumes_total", {"type": "object"}), 1)
        self.assertEqual(_sample(r, "twisted_proxy_info_cache_lookups_total",
                                 {"outcome": "merged"}), 1)
        self.assertEqual(_sample(r, "twisted_proxy_redis_available"), 0)
        self.assertEqual(_sample(r, "twisted_proxy_client_connections"), 1)

    def test_filter(self) -> None:
        """
        The filter answers C{GET /metrics} with the text format and passes
        other requests on; with no path it passes everything on.
        """
        endpoint: Any = MetricsFilter(lambda: (b"page", "text/plain; version=0.0.4"))
        passed = SwiftResponse(200, {}, b"app")
        answer = self.successResultOf(endpoint(_request("GET", b"/metrics"),
                                               lambda r: succeed(passed)))
        self.assertEqual((answer.status, answer.body), (200, b"page"))
        self.assertEqual(answer.headers["Content-Type"], "text/plain; version=0.0.4")
        other = self.successResultOf(endpoint(_request("GET", b"/v1/a"),
                                              lambda r: succeed(passed)))
        self.assertIs(other, passed)
        hidden: Any = MetricsFilter(lambda: (b"page", "t"), None)
        self.assertIs(self.successResultOf(hidden(_request("GET", b"/metrics"),
                                                  lambda r: succeed(passed))), passed)

    def test_plugin(self) -> None:
        """
        The plugin adds its recorder to the process's metrics and serves
        what it records.
        """
        context = _Context(Clock())
        made: Any = metricsPlugin.make_filter({"path": "/stats"}, partial_context(context))
        context.metrics.request_finished("container", "GET", 200, None, 0.1, 0, 10)
        answer = self.successResultOf(made(_request("GET", b"/stats"),
                                           lambda r: succeed(SwiftResponse(404, {}, b""))))
        assert isinstance(answer.body, bytes)
        self.assertIn(b'twisted_proxy_requests_total{method="GET",policy="",status="2xx",'
                      b'type="container"} 1.0', answer.body)

    def test_badOptions(self) -> None:
        for conf in ({"path": "metrics"}, {"admin_port": "x"}, {"admin_only": "true"}):
            self.assertRaises(ConfigError, metricsPlugin.make_filter, conf,
                              partial_context(_Context(Clock())))
