"""
Tests for L{twisted_proxy.web.pipeline} and the L{Pipeline} it feeds.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer, provider

from tests.fakenodes import make_swift_conf
from twisted_proxy.config import ConfigError, ProxyConfig, ProxySettings
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
            "VersionedWrites", "ProxyLogging"])
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

            def make_filter(self, conf: dict[str, str], context: ProxyContext) -> Any:
                seen.append(conf)
                return _Recorder()

        self.patch(pipeline, "available_plugins", lambda: {"recorder": Factory()})
        config = ProxyConfig("/x.conf", {"a": "default", "b": "default"},
                             ["recorder", "proxy-server"],
                             {"filter:recorder": {"b": "own"}, "app:proxy-server": {}})
        build_filters(config, self.context())
        self.assertEqual(seen, [{"a": "default", "b": "own"}])


def _config(stages: str, sections: dict[str, dict[str, str]] | None = None,
            defaults: dict[str, str] | None = None) -> ProxyConfig:
    all_sections: dict[str, dict[str, str]] = {"app:proxy-server": {}}
    all_sections.update(sections or {})
    return ProxyConfig("/etc/swift/proxy-server.conf", defaults or {},
                       stages.split() + ["proxy-server"], all_sections)


#: The plugins of this package, as resolve_pipeline sees them; no
#: versioned_writes yet.
_KNOWN = frozenset({"healthcheck", "proxy_logging", "tempauth", "tempurl", "bulk", "copy",
                    "slo", "dlo", "container_quotas", "staticweb", "keystoneauth"})


class ResolvePipelineTests(SynchronousTestCase):
    """
    L{pipeline.resolve_pipeline} applies Swift's rules to C{[pipeline:main]}.
    """

    def resolve(self, stages: str, **kwargs: Any) -> list[str]:
        resolved = pipeline.resolve_pipeline(_config(stages, **kwargs), _KNOWN)
        return [stage.name for stage in resolved.stages]

    def test_unknownStage(self) -> None:
        """
        A stage no plugin provides stops startup with one line naming the
        file, the section and the stage.
        """
        error = self.assertRaises(
            ConfigError, pipeline.resolve_pipeline,
            _config("catch_errors tempauth no_such_thing"), _KNOWN)
        self.assertEqual(
            str(error),
            "/etc/swift/proxy-server.conf: [pipeline:main] pipeline: stage "
            "'no_such_thing': no plugin named 'no_such_thing' is installed")

    def test_objectVersioningNeedsSymlink(self) -> None:
        """
        As in Swift, a pipeline that turns object versioning on (in its
        section or C{[DEFAULT]}) without the symlink filter stops startup;
        with symlink, or with object versioning off, it starts.
        """
        known = _KNOWN | {"versioned_writes", "symlink"}
        on = {"filter:vw": {"use": "egg:swift#versioned_writes",
                            "allow_object_versioning": "true"}}
        error = self.assertRaises(
            ConfigError, pipeline.resolve_pipeline, _config("catch_errors vw", on), known)
        self.assertEqual(
            str(error),
            "/etc/swift/proxy-server.conf: [filter:vw] allow_object_versioning: object "
            "versioning requires the symlink filter in [pipeline:main]")
        self.assertRaises(
            ConfigError, pipeline.resolve_pipeline,
            _config("catch_errors versioned_writes", defaults={"allow_object_versioning": "1"}),
            known)
        pipeline.resolve_pipeline(_config("catch_errors vw symlink", on), known)
        pipeline.resolve_pipeline(_config("catch_errors versioned_writes"), known)

    def test_unknownUse(self) -> None:
        """
        The plugin named by the stage's C{use} line is the one looked for,
        and the message names both.
        """
        error = self.assertRaises(
            ConfigError, pipeline.resolve_pipeline,
            _config("catch_errors rl", {"filter:rl": {"use": "egg:swift#ratelimit"}}),
            _KNOWN)
        self.assertIn("stage 'rl' (plugin 'ratelimit'): no plugin named 'ratelimit'",
                      str(error))
        self.assertNotIn("\n", str(error))

    def test_authStages(self) -> None:
        """
        Swift's other auth stages stop startup until they have a plugin,
        whatever their section's C{use} or C{paste.filter_factory} line.
        """
        for stage, section in [
            ("authtoken", {"paste.filter_factory": "keystonemiddleware.auth_token:"
                                                   "filter_factory"}),
            ("keystone", {"use": "egg:swift#keystoneauth"}),
            ("s3token", {"use": "egg:swift#s3token"}),
        ]:
            error = self.assertRaises(
                ConfigError, pipeline.resolve_pipeline,
                _config(f"catch_errors {stage} proxy-logging",
                        {f"filter:{stage}": section}),
                _KNOWN - {"keystoneauth"})
            self.assertIn(f"stage {stage!r}", str(error))
            self.assertIn("will not run with less authorization than configured",
                          str(error))

    def test_s3apiStage(self) -> None:
        """
        C{s3api} is a stage like any other now that it has a plugin; the
        installed plugins include it.
        """
        resolved = pipeline.resolve_pipeline(
            _config("catch_errors s3api tempauth",
                    {"filter:s3api": {"use": "egg:swift#s3api"}}),
            _KNOWN | {"s3api"})
        self.assertIn("s3api", [stage.plugin for stage in resolved.stages])
        self.assertIn("s3api", pipeline.available_plugins())

    def test_builtInStages(self) -> None:
        """
        The stages this proxy does itself need no plugin.
        """
        stages = ("catch_errors gatekeeper healthcheck proxy-logging cache "
                  "listing_formats tempauth copy slo dlo proxy-logging")
        sections = {"filter:proxy-logging": {"use": "egg:swift#proxy_logging"},
                    "filter:cache": {"use": "egg:swift#memcache"}}
        resolved = pipeline.resolve_pipeline(_config(stages, sections), _KNOWN)
        self.assertEqual([s.name for s in resolved.stages], stages.split())
        self.assertEqual(resolved.missing, ["versioned_writes"])
        self.assertFalse(resolved.modified)

    def test_requiredAdded(self) -> None:
        """
        A pipeline of the application alone gets Swift's required filters
        in Swift's order, those with no plugin listed as missing.
        """
        resolved = pipeline.resolve_pipeline(_config(""), _KNOWN)
        self.assertEqual([(s.name, s.added) for s in resolved.stages], [
            ("catch_errors", True), ("gatekeeper", True), ("listing_formats", True),
            ("copy", True), ("dlo", True)])
        self.assertEqual(resolved.missing, ["versioned_writes"])
        self.assertTrue(resolved.modified)

    def test_requiredPositions(self) -> None:
        """
        Each missing required filter goes right after the last of the
        stages it must follow (matched by plugin name); stages already
        there stay where they are.
        """
        sections = {"filter:proxy-logging": {"use": "egg:swift#proxy_logging"},
                    "filter:cache": {"use": "egg:swift#memcache"}}
        self.assertEqual(
            self.resolve("healthcheck proxy-logging cache tempauth slo proxy-logging",
                         sections=sections),
            ["catch_errors", "gatekeeper", "healthcheck", "proxy-logging", "cache",
             "listing_formats", "tempauth", "copy", "dlo", "slo", "proxy-logging"])
        # gatekeeper follows catch_errors only when it leads the pipeline.
        self.assertEqual(self.resolve("catch_errors healthcheck copy dlo"),
                         ["catch_errors", "gatekeeper", "listing_formats", "healthcheck",
                          "copy", "dlo"])
        self.assertEqual(self.resolve("healthcheck catch_errors copy dlo"),
                         ["gatekeeper", "healthcheck", "catch_errors", "listing_formats",
                          "copy", "dlo"])
        # dlo is not moved in front of copy when the configuration has both.
        self.assertEqual(self.resolve("catch_errors gatekeeper dlo listing_formats copy"),
                         ["catch_errors", "gatekeeper", "dlo", "listing_formats", "copy"])
        # copy goes after staticweb, dlo after copy.
        self.assertEqual(
            self.resolve("catch_errors gatekeeper listing_formats staticweb tempauth slo"),
            ["catch_errors", "gatekeeper", "listing_formats", "staticweb", "tempauth",
             "copy", "dlo", "slo"])

    def test_versionedWritesPlaced(self) -> None:
        """
        Once installed, versioned_writes goes after slo and dlo.
        """
        resolved = pipeline.resolve_pipeline(
            _config("catch_errors gatekeeper listing_formats tempauth copy slo dlo "
                    "container_quotas"), _KNOWN | {"versioned_writes"})
        self.assertEqual([s.name for s in resolved.stages], [
            "catch_errors", "gatekeeper", "listing_formats", "tempauth", "copy", "slo",
            "dlo", "versioned_writes", "container_quotas"])
        self.assertEqual(resolved.missing, [])

    def test_addedGetsDefaults(self) -> None:
        """
        A required filter the proxy adds is made with C{[DEFAULT]}'s
        options alone; the configuration's own stages with their section's.
        """
        seen: dict[str, dict[str, str]] = {}

        def factory(name: str) -> Any:
            class Factory:
                def make_filter(self, conf: dict[str, str], context: ProxyContext) -> Any:
                    seen[name] = conf
                    return _Recorder()
            made = Factory()
            made.name = name  # type: ignore[attr-defined]
            return made

        self.patch(pipeline, "available_plugins",
                   lambda: {name: factory(name) for name in ("copy", "dlo", "tempauth")})
        config = _config("tempauth", {"filter:tempauth": {"x": "own"},
                                      "filter:copy": {"x": "unused"}},
                         defaults={"x": "default"})
        filters = build_filters(config, BuildFiltersTests().context())
        self.assertEqual(len(filters), 3)
        self.assertEqual(seen, {"tempauth": {"x": "own"}, "copy": {"x": "default"},
                                "dlo": {"x": "default"}})

    def test_oldMakeFilterName(self) -> None:
        """
        A user's plugin that still names its factory method C{makeFilter}
        is made, with one warning naming the plugin.
        """
        events: list[dict[str, Any]] = []

        @provider(ILogObserver)
        def observer(event: dict[str, Any]) -> None:
            if event.get("log_namespace") == pipeline.__name__:
                events.append(event)

        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)

        made: list[dict[str, str]] = []

        def make(self: object, conf: dict[str, str], context: object) -> object:
            made.append(conf)
            return lambda request, app: app(request)

        # The old name, which this project's own code may no longer define.
        old_plugin = type("OldPlugin", (), {"name": "old_style", "makeFilter": make})
        installed = pipeline.available_plugins()
        installed["old_style"] = old_plugin()
        self.patch(pipeline, "available_plugins", lambda: installed)
        build_filters(_config("catch_errors old_style", {"filter:old_style": {"a": "1"}}),
                      BuildFiltersTests().context())
        self.assertEqual([conf["a"] for conf in made], ["1"])
        warnings = [e for e in events if e["log_level"] is LogLevel.warn]
        self.assertEqual(len(warnings), 1)
        self.assertEqual(warnings[0]["name"], "old_style")

    def test_missingWarnedOnce(self) -> None:
        """
        Building a pipeline that lacks a required filter with no plugin
        logs one warning naming it.
        """
        events: list[dict[str, Any]] = []

        @provider(ILogObserver)
        def observer(event: dict[str, Any]) -> None:
            if event.get("log_namespace") == pipeline.__name__:
                events.append(event)

        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        installed = pipeline.available_plugins()
        del installed["versioned_writes"]
        self.patch(pipeline, "available_plugins", lambda: installed)
        build_filters(_config("catch_errors"), BuildFiltersTests().context())
        warnings = [e for e in events if e["log_level"] is LogLevel.warn]
        self.assertEqual(len(warnings), 1)
        self.assertIn("versioned_writes", warnings[0]["missing"])

    def test_catchErrorsOptions(self) -> None:
        """
        C{trans_id_suffix} is read where Swift reads it: catch_errors'
        section over C{[DEFAULT]}, or C{[DEFAULT]} when it is added.
        """
        config = _config("ce", {"filter:ce": {"use": "egg:swift#catch_errors",
                                              "trans_id_suffix": "-own"}},
                         defaults={"trans_id_suffix": "-default"})
        self.assertEqual(pipeline.catch_errors_options(config)["trans_id_suffix"], "-own")
        config = _config("", defaults={"trans_id_suffix": "-default"})
        self.assertEqual(pipeline.catch_errors_options(config)["trans_id_suffix"],
                         "-default")
        self.assertEqual(pipeline.catch_errors_options(_config("")), {})


class _Answering:
    """
    A filter that answers every request itself.
    """

    def __call__(self, request: SwiftRequest, app: IProxyApplication
                 ) -> "Deferred[SwiftResponse]":
        return succeed(SwiftResponse(401, {}, b"no"))


class _Raising:
    def __call__(self, request: SwiftRequest, app: IProxyApplication
                 ) -> "Deferred[SwiftResponse]":
        raise RuntimeError("broken plugin")


class TransIdHeaderTests(SynchronousTestCase):
    """
    Every response leaving the pipeline carries the transaction id, with
    Swift's C{trans_id_suffix} and C{X-Trans-Id-Extra}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1700000000)

    def test_answeredByFilter(self) -> None:
        """
        A response a filter makes itself carries C{X-Trans-Id} and
        C{X-Openstack-Request-Id}.
        """
        app = Pipeline([_Answering()], _App(), self.clock)  # type: ignore[list-item]
        request = SwiftRequest("GET", b"/healthcheck")
        response = self.successResultOf(app(request))
        trans_id = request.environ["swift.trans_id"]
        self.assertEqual(response.headers["X-Trans-Id"], trans_id)
        self.assertEqual(response.headers["X-Openstack-Request-Id"], trans_id)

    def test_suffixAndExtra(self) -> None:
        """
        The id ends with the configured suffix, then C{-} and the first 32
        characters of the client's C{X-Trans-Id-Extra}, quoted.
        """
        app = Pipeline([_Answering()], _App(), self.clock,  # type: ignore[list-item]
                       trans_id_suffix="-proxy1")
        response = self.successResultOf(app(SwiftRequest("GET", b"/v1/a")))
        self.assertRegex(response.headers["X-Trans-Id"], r"^tx[0-9a-f]{21}-006553f100-proxy1$")
        request = SwiftRequest("GET", b"/v1/a",
                               HeaderDict({"X-Trans-Id-Extra": "my job" + "x" * 40}))
        response = self.successResultOf(app(request))
        self.assertRegex(response.headers["X-Trans-Id"],
                         r"^tx[0-9a-f]{21}-006553f100-proxy1-my%20job" + "x" * 26 + "$")

    def test_error(self) -> None:
        """
        A filter that raises gets Swift's C{catch_errors} 500, with the id.
        """
        app = Pipeline([_Raising()], _App(), self.clock)  # type: ignore[list-item]
        response = self.successResultOf(app(SwiftRequest("GET", b"/v1/a")))
        self.assertEqual(response.status, 500)
        self.assertEqual(response.body, b"An error occurred")
        self.assertIn("X-Trans-Id", response.headers)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_cancelled(self) -> None:
        """
        A cancelled request (the client left) is not made a 500.
        """
        waiting: Deferred[SwiftResponse] = Deferred()

        class Waiting:
            def __call__(self, request: SwiftRequest, app: IProxyApplication
                         ) -> "Deferred[SwiftResponse]":
                return waiting

        app = Pipeline([Waiting()], _App(), self.clock)  # type: ignore[list-item]
        answered = app(SwiftRequest("GET", b"/v1/a"))
        answered.cancel()
        self.failureResultOf(answered, CancelledError)


class OutboundHeaderTests(SynchronousTestCase):
    """
    As Swift's gatekeeper, the pipeline lets no backend header or system
    metadata out, while the filters inside still see them.
    """

    def test_removed(self) -> None:
        """
        C{X-Backend-*}, sysmeta and transient sysmeta headers a filter or
        the application left on a response are gone; the others stay.
        """
        seen: list[str] = []

        class Noting:
            def __call__(self, request: SwiftRequest, app: IProxyApplication
                         ) -> "Deferred[SwiftResponse]":
                def note(response: SwiftResponse) -> SwiftResponse:
                    seen.append(response.headers["X-Backend-Content-Generator"])
                    return response
                return app(request).addCallback(note)  # type: ignore[no-any-return]

        class Leaking:
            def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
                return succeed(SwiftResponse(200, {
                    "X-Backend-Content-Generator": "staticweb",
                    "X-Object-Sysmeta-Secret": "s",
                    "X-Object-Transient-Sysmeta-Crypto": "c",
                    "X-Object-Meta-Color": "blue",
                    "Content-Type": "text/html"}, b""))

        app = Pipeline([Noting()], Leaking(), Clock())  # type: ignore[list-item,arg-type]
        response = self.successResultOf(app(SwiftRequest("GET", b"/v1/a/c/")))
        self.assertEqual(seen, ["staticweb"])
        self.assertNotIn("X-Backend-Content-Generator", response.headers)
        self.assertNotIn("X-Object-Sysmeta-Secret", response.headers)
        self.assertNotIn("X-Object-Transient-Sysmeta-Crypto", response.headers)
        self.assertEqual(response.headers["X-Object-Meta-Color"], "blue")
        self.assertEqual(response.headers["Content-Type"], "text/html")
