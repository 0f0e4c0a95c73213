"""
Tests for L{twisted_proxy.plugins._support.lazy}: plugins declared in
L{twisted_proxy.plugins} whose code is imported only when used.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any, Mapping

from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_proxy.interfaces import IProxyPluginFactory
from twisted_proxy.plugins import (
    cname_lookup,
    crossdomain,
    domain_remap,
    etag_quoter,
    formpost,
    list_endpoints,
    metrics,
    name_check,
    read_only,
    staticweb,
)
from twisted_proxy.plugins._support.lazy import LazyPluginFactory, implementation_attribute
from twisted_proxy.web.pipeline import available_plugins

#: Each lazily imported plugin: its module and its factory's name there.
_LAZY_PLUGINS = [
    (cname_lookup, "cnameLookupPlugin"),
    (crossdomain, "crossdomainPlugin"),
    (domain_remap, "domainRemapPlugin"),
    (etag_quoter, "etagQuoterPlugin"),
    (formpost, "formpostPlugin"),
    (list_endpoints, "listEndpointsPlugin"),
    (metrics, "metricsPlugin"),
    (name_check, "nameCheckPlugin"),
    (read_only, "readOnlyPlugin"),
    (staticweb, "staticwebPlugin"),
]

_FAKE = "tests.test_lazyplugins_fake_code"


class _Factory:
    name = "fake"

    def __init__(self) -> None:
        self.made: list[tuple[Mapping[str, str], Any]] = []

    def make_filter(self, conf: Mapping[str, str], context: Any) -> object:
        self.made.append((conf, context))
        return "filter"


class LazyPluginFactoryTests(SynchronousTestCase):
    """
    L{LazyPluginFactory} makes its plugin's filters with the plugin's own
    factory, imported then.
    """

    def setUp(self) -> None:
        self.code = types.ModuleType(_FAKE)
        self.factory = _Factory()
        self.code.fakePlugin = self.factory  # type: ignore[attr-defined]

    def install(self) -> None:
        sys.modules[_FAKE] = self.code
        self.addCleanup(sys.modules.pop, _FAKE, None)

    def test_interfaces(self) -> None:
        """
        It is a plugin factory, found by plugin discovery, with its name.
        """
        lazy: LazyPluginFactory[Any] = LazyPluginFactory("fake", _FAKE, "fakePlugin")
        self.assertTrue(verifyObject(IPlugin, lazy))
        self.assertTrue(verifyObject(IProxyPluginFactory, lazy))
        self.assertEqual(lazy.name, "fake")

    def test_importsOnlyToMake(self) -> None:
        """
        Its code is not imported when it is made; making a filter imports
        it and returns what the plugin's own factory makes of the same
        options and context.
        """
        lazy: LazyPluginFactory[Any] = LazyPluginFactory("fake", _FAKE, "fakePlugin")
        self.assertNotIn(_FAKE, sys.modules)
        self.install()
        context = object()
        self.assertEqual(lazy.make_filter({"a": "b"}, context), "filter")  # type: ignore[arg-type]
        self.assertEqual(self.factory.made, [({"a": "b"}, context)])

    def test_missingCode(self) -> None:
        """
        A plugin whose code cannot be imported fails to make a filter with
        the L{ImportError}.
        """
        lazy: LazyPluginFactory[Any] = LazyPluginFactory(
            "fake", "tests.no_such_module_anywhere", "fakePlugin")
        self.assertRaises(ImportError, lazy.make_filter, {}, object())


class ImplementationAttributeTests(SynchronousTestCase):
    """
    L{implementation_attribute}, the C{__getattr__} of a lazily imported
    plugin's module.
    """

    def setUp(self) -> None:
        self.code = types.ModuleType(_FAKE)
        self.code.VALUE = 3  # type: ignore[attr-defined]
        sys.modules[_FAKE] = self.code
        self.addCleanup(sys.modules.pop, _FAKE, None)

    def test_found(self) -> None:
        """
        A name of the plugin's code is its value there.
        """
        self.assertEqual(implementation_attribute("light", _FAKE, "VALUE"), 3)

    def test_missing(self) -> None:
        """
        A name the code does not have is an L{AttributeError} naming the
        plugin's module.
        """
        error = self.assertRaises(AttributeError, implementation_attribute, "light", _FAKE,
                                  "OTHER")
        self.assertEqual(str(error), "module 'light' has no attribute 'OTHER'")

    def test_dunderNotImported(self) -> None:
        """
        A dunder name (which tools look up on any module) is missing
        without importing the code.
        """
        self.assertRaises(AttributeError, implementation_attribute, "light",
                          "tests.no_such_module_anywhere", "__wrapped__")


class ProjectLazyPluginsTests(SynchronousTestCase):
    """
    The plugins of L{twisted_proxy.plugins} declared lazily.
    """

    def test_discovered(self) -> None:
        """
        Plugin discovery finds each, under the name of the plugin's own
        factory.
        """
        found = available_plugins()
        for module, attribute in _LAZY_PLUGINS:
            lazy = getattr(module, attribute)
            self.assertIsInstance(lazy, LazyPluginFactory)
            own = getattr(importlib.import_module(lazy._module), attribute)
            self.assertEqual(lazy.name, own.name)
            self.assertIs(found[lazy.name], lazy)

    def test_namesOfTheCode(self) -> None:
        """
        Every name a module exports is its code's.
        """
        for module, attribute in _LAZY_PLUGINS:
            code = importlib.import_module(getattr(module, attribute)._module)
            for name in module.__all__:
                if name == attribute:
                    continue
                self.assertIs(getattr(module, name), getattr(code, name), (module, name))
