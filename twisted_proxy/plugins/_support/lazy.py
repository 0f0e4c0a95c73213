# -*- test-case-name: tests.test_lazyplugins,tests.e2e.test_footprint -*-
"""
Plugins whose code is imported only when a pipeline runs them.

Plugin discovery (L{twisted.plugin.getPlugins}) imports every module of
L{twisted_proxy.plugins} in every proxy process, and with C{workers = N}
whatever the parent imported is resident in each of its forked workers
too. A plugin that Swift's stock pipeline does not run is therefore only
declared in its module there: a L{LazyPluginFactory} and the module's
names, looked up in its code (L{twisted_proxy.plugins._lazy}) on first use
(L{implementation_attribute}). Making a filter imports that code.
"""

from __future__ import annotations

import importlib
from typing import Any, Generic, Mapping, TypeVar

from twisted.plugin import IPlugin
from zope.interface import implementer

from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.interfaces import IProxyFilter, IProxyPluginFactory

__all__ = ["LazyPluginFactory", "implementation_attribute"]

#: The filter a plugin makes.
Filter = TypeVar("Filter", bound=IProxyFilter)


@implementer(IPlugin, IProxyPluginFactory)
class LazyPluginFactory(Generic[Filter]):
    """
    A plugin factory that imports its plugin's code only to make a filter.

    @ivar name: the plugin's name in C{[pipeline:main]}.
    @param module: the module that holds the plugin's code.
    @param factory: the name of the plugin's own factory (an
        L{IProxyPluginFactory} provider) in C{module}.
    """

    def __init__(self, name: str, module: str, factory: str) -> None:
        self.name = name
        self._module = module
        self._factory = factory

    def make_filter(self, conf: Mapping[str, str], context: ProxyContext) -> Filter:
        """
        What the plugin's own factory makes: see
        L{IProxyPluginFactory.make_filter}.
        """
        factory = getattr(importlib.import_module(self._module), self._factory)
        made: Filter = factory.make_filter(conf, context)
        return made

    def __repr__(self) -> str:
        return f"<LazyPluginFactory {self.name!r} of {self._module}>"


def implementation_attribute(module: str, implementation: str, name: str) -> Any:
    """
    The module C{__getattr__} (PEP 562) of a plugin's module: its name
    C{name}, imported from C{implementation}.

    @param module: the plugin's module, for the error.
    @raise AttributeError: for a name that neither has (and at once for a
        dunder name, which tools look up on any module).
    """
    if not (name.startswith("__") and name.endswith("__")):
        code = importlib.import_module(implementation)
        if hasattr(code, name):
            return getattr(code, name)
    raise AttributeError(f"module {module!r} has no attribute {name!r}")
