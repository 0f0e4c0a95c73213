# -*- test-case-name: tests.test_proxy_logging,tests.e2e.test_e2e -*-
"""
Building the C{[pipeline:main]} stages from plugins.

Plugins are found with L{twisted.plugin.getPlugins} among the project's own
(L{twisted_proxy.plugins}) and any C{twisted/plugins} dropin on C{sys.path}.
A stage is matched by the plugin name in its section's C{use} line
(C{egg:swift#tempauth} names C{tempauth}) or, failing that, by the stage's
own name.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from twisted.logger import Logger
from twisted.plugin import getPlugins

from twisted_proxy import plugins as builtin_plugins
from twisted_proxy.config import ProxyConfig
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.interfaces import IProxyFilter, IProxyPluginFactory

__all__ = ["available_plugins", "build_filters", "BUILT_IN_STAGES"]

_log = Logger()

#: Stages of Swift's stock pipeline whose work this proxy always does
#: itself (or does not need): naming them is not an error.
BUILT_IN_STAGES = frozenset(
    {"catch_errors", "gatekeeper", "listing_formats", "cache", "memcache",
     "etag-quoter"}
)


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


def build_filters(config: ProxyConfig, context: ProxyContext) -> list[IProxyFilter]:
    """
    The filters of C{config}'s pipeline, in order, each made by its plugin
    from its section (merged over C{[DEFAULT]}) and C{context}.

    @raise twisted_proxy.config.ConfigError: when a plugin rejects its
        options.
    """
    factories = available_plugins()
    filters: list[IProxyFilter] = []
    for stage in config.pipeline[:-1]:
        section = config.filter_section(stage)
        name = _plugin_name(stage, section)
        factory = factories.get(name)
        if factory is None:
            if name not in BUILT_IN_STAGES and stage not in BUILT_IN_STAGES:
                _log.warn(
                    "{path}: [pipeline:main] stage {stage!r}: no plugin named "
                    "{name!r} is installed; skipped",
                    path=config.path, stage=stage, name=name,
                )
            continue
        conf = dict(config.defaults)
        conf.update(section or {})
        filters.append(factory.makeFilter(conf, context))
    return filters
