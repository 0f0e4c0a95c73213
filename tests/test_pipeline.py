"""
Tests for L{twisted_proxy.web.pipeline} and the L{Pipeline} it feeds.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from tests.fakenodes import make_swift_conf
from twisted_proxy.config import ProxyConfig, ProxySettings
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse
from twisted_proxy.web import pipeline
from twisted_proxy.web.app import Pipeline
from twisted_proxy.web.pipeline import build_filters


class _Recorder:
    """
    A filter that notes the transaction id each request has when it gets
    there, and makes one sub-request with a copy of the environ, as
    Swift's C{make_env} does.
    """

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def __call__(self, request: SwiftRequest, app: IProxyApplication
                 ) -> "Deferred[SwiftResponse]":
        self.seen.append(request.environ.get("swift.trans_id"))
        sub = SwiftRequest("HEAD", b"/v1/a/c", HeaderDict(), environ=dict(request.environ))
        d: Deferred[SwiftResponse] = app(sub)
        return d.addCallback(lambda _: app(request))


@implementer(IProxyApplication)
class _App:
    def __init__(self) -> None:
        self.requests: list[SwiftRequest] = []

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.requests.append(request)
        return succeed(SwiftResponse(200, {}, b""))


class TransIdTests(SynchronousTestCase):
    """
    A request gets its transaction id as it enters the pipeline.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1700000000)
        self.first = _Recorder()
        self.app = _App()

    def test_entering(self) -> None:
        """
        The first filter already sees the id; the sub-requests made by a
        filter and the request itself carry the same one to the
        application.
        """
        pipeline = Pipeline([self.first], self.app, self.clock)  # type: ignore[list-item]
        request = SwiftRequest("GET", b"/v1/a/c/o")
        self.successResultOf(pipeline(request))
        [trans_id] = self.first.seen
        self.assertRegex(trans_id, r"^tx[0-9a-f]{21}-006553f100$")
        self.assertEqual([r.environ["swift.trans_id"] for r in self.app.requests],
                         [trans_id, trans_id])

    def test_kept(self) -> None:
        """
        A request that already has an id keeps it.
        """
        pipeline = Pipeline([self.first], self.app, self.clock)  # type: ignore[list-item]
        request = SwiftRequest("GET", b"/v1/a/c/o", environ={"swift.trans_id": "txmine"})
        self.successResultOf(pipeline(request))
        self.assertEqual(self.first.seen, ["txmine"])

    def test_eachRequest(self) -> None:
        pipeline = Pipeline([self.first], self.app, self.clock)  # type: ignore[list-item]
        for _ in range(2):
            self.successResultOf(pipeline(SwiftRequest("GET", b"/v1/a/c/o")))
        self.assertEqual(len(set(self.first.seen)), 2)

    def test_withoutClock(self) -> None:
        """
        A pipeline without a clock leaves the id to the application.
        """
        pipeline = Pipeline([self.first], self.app)  # type: ignore[list-item]
        self.successResultOf(pipeline(SwiftRequest("GET", b"/v1/a/c/o")))
        self.assertEqual(self.first.seen, [None])


class BuildFiltersTests(SynchronousTestCase):
    """
    L{build_filters} makes each stage with its plugin and the proxy's
    L{ProxyContext}.
    """

    def context(self) -> ProxyContext:
        clock = Clock()
        return ProxyContext(clock, ProxySettings(), make_swift_conf(),
                            None,  # type: ignore[arg-type]
                            None,  # type: ignore[arg-type]
                            MemoryInfoStore(clock))

    def test_builtIn(self) -> None:
        """
        Every plugin this package ships is made from a real context, in the
        pipeline's order; Swift's stages whose work the proxy does itself
        are skipped.
        """
        stages = ["catch_errors", "gatekeeper", "healthcheck", "proxy-logging", "cache",
                  "container_quotas", "bulk", "tempurl", "tempauth", "copy", "slo",
                  "dlo", "proxy-logging", "proxy-server"]
        sections: dict[str, dict[str, str]] = {
            "filter:proxy-logging": {"use": "egg:swift#proxy_logging"},
            "filter:tempauth": {"use": "egg:swift#tempauth",
                                "user_admin_admin": "admin .admin"},
            "app:proxy-server": {},
        }
        config = ProxyConfig("/etc/swift/proxy-server.conf", {}, stages, sections)
        context = self.context()
        filters = build_filters(config, context)
        self.assertEqual([type(f).__name__ for f in filters], [
            "HealthCheck", "ProxyLogging", "ContainerQuotas", "Bulk", "TempURL",
            "TempAuth", "ServerSideCopy", "StaticLargeObject", "DynamicLargeObject",
            "ProxyLogging"])
        for f in filters:
            self.assertTrue(IProxyFilter.providedBy(f), f)
        self.assertTrue({"bulk_delete", "container_quotas", "tempurl", "tempauth",
                         "slo", "swift"} <= set(context.info_registry))

    def test_sectionOverDefaults(self) -> None:
        """
        A stage's options are its section's over C{[DEFAULT]}'s.
        """
        seen: list[dict[str, str]] = []

        class Factory:
            name = "recorder"

            def makeFilter(self, conf: dict[str, str], context: ProxyContext) -> Any:
                seen.append(conf)
                return _Recorder()

        self.patch(pipeline, "available_plugins", lambda: {"recorder": Factory()})
        config = ProxyConfig("/x.conf", {"a": "default", "b": "default"},
                             ["recorder", "proxy-server"],
                             {"filter:recorder": {"b": "own"}, "app:proxy-server": {}})
        build_filters(config, self.context())
        self.assertEqual(seen, [{"a": "default", "b": "own"}])
