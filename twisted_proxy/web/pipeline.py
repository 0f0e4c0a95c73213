# -*- test-case-name: tests.test_pipeline,tests.test_proxy_logging,tests.e2e.test_e2e -*-
"""
Building the C{[pipeline:main]} stages from plugins.

Plugins are found with L{twisted.plugin.getPlugins} among the project's own
(L{twisted_proxy.plugins}) and any C{twisted/plugins} dropin on C{sys.path}.
A stage is matched by the plugin name in its section's C{use} line
(C{egg:swift#tempauth} names C{tempauth}) or, failing that, by the stage's
own name.

The rules, as Swift 2.38.3's proxy applies them:

 - a stage with no plugin stops startup (L{ConfigError}, one line naming
   the file, the section and the stage): a proxy must never run with less
   than its operator wrote, least of all without an auth stage such as
   C{authtoken} or C{keystoneauth};
 - the filters Swift requires (L{REQUIRED_FILTERS}) are added when the
   configuration leaves them out, each at its required position: after
   the last of the stages it must follow (the first occurrence of each
   counts), at the front when none is there. A required filter the
   configuration names stays where it is, as in Swift. One with no plugin
   here yet is left out with one warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Sequence

from twisted.logger import Logger
from twisted.plugin import getPlugins

from twisted_proxy import plugins as builtin_plugins
from twisted_proxy.config import ConfigError, ProxyConfig
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.interfaces import IProxyFilter, IProxyPluginFactory
from twisted_proxy.swift.truthy import is_true

__all__ = [
    "AUTH_STAGES",
    "BUILT_IN_STAGES",
    "REQUIRED_FILTERS",
    "ResolvedPipeline",
    "Stage",
    "available_plugins",
    "build_filters",
    "catch_errors_options",
    "resolve_pipeline",
]

_log = Logger()

#: Stages of Swift's stock pipeline whose work this proxy always does
#: itself, wherever they stand: the transaction id and error catching
#: (L{twisted_proxy.web.app.Pipeline}), the gatekeeper's header rules (the
#: front end), listing formats (the controllers) and the info cache.
BUILT_IN_STAGES = frozenset({"catch_errors", "gatekeeper", "listing_formats", "memcache",
                             "cache"})

#: Auth stages that have no plugin yet: naming them must stop startup,
#: never leave the proxy open.
AUTH_STAGES = frozenset({"authtoken", "keystoneauth", "s3token"})


def _after(*names: str) -> Callable[[Sequence[str]], tuple[str, ...]]:
    return lambda _plugins: names


def _gatekeeper_after(plugins: Sequence[str]) -> tuple[str, ...]:
    # Right behind catch_errors only when it leads the pipeline.
    return ("catch_errors",) if plugins[:1] == ["catch_errors"] else ()


#: Swift's required filters, in Swift's order, each with the plugins it
#: must follow (a function of the plugin names of the pipeline so far).
REQUIRED_FILTERS: tuple[tuple[str, Callable[[Sequence[str]], tuple[str, ...]]], ...] = (
    ("catch_errors", _after()),
    ("gatekeeper", _gatekeeper_after),
    ("listing_formats", _after("catch_errors", "gatekeeper", "proxy_logging", "memcache")),
    ("copy", _after("staticweb", "tempauth", "keystoneauth", "catch_errors", "gatekeeper",
                    "proxy_logging")),
    ("dlo", _after("copy", "staticweb", "tempauth", "keystoneauth", "catch_errors",
                   "gatekeeper", "proxy_logging")),
    ("versioned_writes", _after("slo", "dlo", "copy", "staticweb", "tempauth",
                                "keystoneauth", "catch_errors", "gatekeeper",
                                "proxy_logging")),
)


@dataclass(frozen=True)
class Stage:
    """
    One stage of the resolved pipeline.

    @ivar name: the stage's name in C{[pipeline:main]}; for a required
        filter the proxy added, its plugin name.
    @ivar plugin: the plugin (Swift entry point) name.
    @ivar section: its C{[filter:NAME]} section, or C{None}.
    @ivar added: C{True} for a required filter the configuration left out.
    """

    name: str
    plugin: str
    section: Optional[dict[str, str]] = None
    added: bool = False


@dataclass
class ResolvedPipeline:
    """
    The filters of C{[pipeline:main]} after Swift's rules.

    @ivar stages: the stages in order, the application excluded.
    @ivar missing: required filters added by Swift that have no plugin
        here: left out of C{stages}.
    """

    stages: list[Stage]
    missing: list[str] = field(default_factory=list)

    @property
    def modified(self) -> bool:
        """
        Whether the proxy added stages to the configuration's.
        """
        return any(stage.added for stage in self.stages)


def available_plugins() -> dict[str, IProxyPluginFactory]:
    """
    Every installed plugin factory, by name.
    """
    found: dict[str, IProxyPluginFactory] = {}
    sources: Iterable[Any] = list(getPlugins(IProxyPluginFactory, builtin_plugins))
    try:
        import twisted.plugins as dropins

        sources = list(sources) + list(getPlugins(IProxyPluginFactory, dropins))
    except ImportError:  # pragma: no cover
        pass
    for factory in sources:
        found.setdefault(factory.name, factory)
    return found


def _plugin_name(stage: str, section: Optional[dict[str, str]]) -> str:
    if section is not None:
        use = section.get("use", "")
        if "#" in use:
            return use.rsplit("#", 1)[1].strip()
    return stage


def _has_plugin(name: str, stage: str, known: Iterable[str]) -> bool:
    return name in known or name in BUILT_IN_STAGES or stage in BUILT_IN_STAGES


def _no_plugin(config: ProxyConfig, stage: str, name: str) -> ConfigError:
    where = f"{config.path}: [pipeline:main] pipeline: stage {stage!r}"
    if name != stage:
        where += f" (plugin {name!r})"
    if name in AUTH_STAGES or stage in AUTH_STAGES:
        return ConfigError(
            f"{where}: twisted-proxy has no {name!r} plugin yet, and will not run "
            "with less authorization than configured")
    return ConfigError(f"{where}: no plugin named {name!r} is installed")


def resolve_pipeline(config: ProxyConfig, known: Iterable[str]) -> ResolvedPipeline:
    """
    The stages C{config}'s pipeline runs, by Swift's rules (see the module
    docstring).

    @param known: the names of the installed plugins.
    @raise ConfigError: naming the file, the section and the first stage
        that has no plugin.
    """
    known = frozenset(known)
    stages: list[Stage] = []
    for name in config.pipeline[:-1]:
        section = config.filter_section(name)
        plugin = _plugin_name(name, section)
        if not _has_plugin(plugin, name, known):
            raise _no_plugin(config, name, plugin)
        stages.append(Stage(name, plugin, section))
    missing: list[str] = []
    for required, after in reversed(REQUIRED_FILTERS):
        plugins = [stage.plugin for stage in stages]
        if required in plugins or required in missing:
            continue
        if not _has_plugin(required, required, known):
            missing.append(required)
            continue
        position = 0
        for earlier in after(plugins):
            if earlier in plugins:
                position = max(position, plugins.index(earlier) + 1)
        stages.insert(position, Stage(required, required, None, added=True))
    _check_versioning_links(config, stages)
    return ResolvedPipeline(stages, missing)


def _check_versioning_links(config: ProxyConfig, stages: list[Stage]) -> None:
    """
    As Swift's: object versioning keeps each object's latest version as a
    link, so a pipeline that turns it on must have the symlink filter.

    @raise ConfigError: naming the file and the section that turns it on.
    """
    plugins = {stage.plugin for stage in stages}
    for stage in stages:
        if stage.plugin != "versioned_writes" or "symlink" in plugins:
            continue
        options = dict(config.defaults)
        options.update(stage.section or {})
        if is_true(options.get("allow_object_versioning")):
            raise ConfigError(
                f"{config.path}: [filter:{stage.name}] allow_object_versioning: object "
                "versioning requires the symlink filter in [pipeline:main]")


def build_filters(config: ProxyConfig, context: ProxyContext) -> list[IProxyFilter]:
    """
    The filters of C{config}'s pipeline (see L{resolve_pipeline}), in
    order, each made by its plugin from its section (merged over
    C{[DEFAULT]}; a required filter the proxy added gets C{[DEFAULT]}
    alone) and C{context}. The stages this proxy does itself make no
    filter.

    @raise twisted_proxy.config.ConfigError: for a stage with no plugin,
        or when a plugin rejects its options.
    """
    factories = available_plugins()
    resolved = resolve_pipeline(config, factories)
    if resolved.missing:
        _log.warn(
            "{path}: [pipeline:main]: Swift adds the required filter(s) {missing}, "
            "which twisted-proxy has no plugin for yet; running without them",
            path=config.path, missing=", ".join(resolved.missing),
        )
    if resolved.modified:
        _log.info(
            "{path}: [pipeline:main]: pipeline modified; it is {pipeline!r}",
            path=config.path,
            pipeline=" ".join([stage.name for stage in resolved.stages] + [config.app_name]),
        )
    filters: list[IProxyFilter] = []
    for stage in resolved.stages:
        factory = factories.get(stage.plugin)
        if factory is None:
            continue  # built in
        conf = dict(config.defaults)
        conf.update(stage.section or {})
        filters.append(_make_filter(factory, conf, context))
    return filters


def _make_filter(factory: IProxyPluginFactory, conf: dict[str, str],
                 context: ProxyContext) -> IProxyFilter:
    """
    C{factory.make_filter(conf, context)}; a plugin written before the
    method was renamed (it has C{makeFilter} only) still works, with one
    deprecation warning naming it.
    """
    make = getattr(factory, "make_filter", None)
    if make is None:
        make = getattr(factory, "makeFilter")
        _log.warn(
            "plugin {name!r}: makeFilter is deprecated; name the method make_filter",
            name=getattr(factory, "name", factory),
        )
    return make(conf, context)  # type: ignore[no-any-return]


def catch_errors_options(config: ProxyConfig) -> dict[str, str]:
    """
    The options of the pipeline's C{catch_errors} stage (its section over
    C{[DEFAULT]}), or C{[DEFAULT]}'s alone when the proxy adds it: where
    Swift reads C{trans_id_suffix}.
    """
    conf = dict(config.defaults)
    for name in config.pipeline[:-1]:
        section = config.filter_section(name)
        if _plugin_name(name, section) == "catch_errors":
            conf.update(section or {})
            break
    return conf
