"""
One naming rule for the project's own functions and methods: snake_case,
with camelCase kept for the methods Twisted (or zope, or the standard
library) names, which a class overrides or implements.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import re
import sys
import sysconfig
from typing import Iterator, Optional

from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementedBy
from zope.interface.interface import InterfaceClass

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The trees whose functions follow the rule, as (directory, package).
_TREES = (
    ("twisted_proxy", "twisted_proxy"),
    ("twisted_proxy_aio", "twisted_proxy_aio"),
    (os.path.join("twisted", "plugins"), "twisted.plugins"),
)

_CAMEL = re.compile(r"[a-z0-9][A-Z]")


def is_camel_case(name: str) -> bool:
    """
    Whether C{name} (leading underscores aside) mixes a capital into a
    lower-case word, as C{dataReceived} does and C{data_received} does not.
    """
    return _CAMEL.search(name.lstrip("_")) is not None


def _foreign(module_name: str) -> bool:
    """
    Whether C{module_name} belongs to Twisted, zope, txredisapi (whose
    protocols a subclass extends, as Twisted's) or the standard library:
    the names this project did not choose.
    """
    top = module_name.split(".")[0]
    return top in ("twisted", "zope", "txredisapi", "builtins") or _in_stdlib(top)


def _in_stdlib(top: str) -> bool:
    names = getattr(sys, "stdlib_module_names", None)
    if names is not None:
        return top in names
    # Python 3.9 (PyPy) has no list: a module of the standard library is
    # built in or lives in its directory.
    if top in sys.builtin_module_names:
        return True
    spec = importlib.util.find_spec(top)
    origin = spec.origin if spec is not None else None
    return origin is not None and origin.startswith(sysconfig.get_paths()["stdlib"])


#: Module-level names Twisted looks up by name: C{ServiceMaker} calls its
#: module's C{makeService}.
_LOOKED_UP = frozenset({"makeService"})

#: Methods Twisted calls by name on an object that stands in for one of its
#: own without implementing the whole interface, by (module, class, name).
_STAND_INS = {
    # HTTPChannel calls its transport's unregisterProducer as it closes; the
    # gate sits in the transport's place as the channel's producer.
    ("twisted_proxy._twisted", "ReadGate", "unregisterProducer"),
    # Server endpoints ask their reactor to listen; the recorder stands in
    # for one to check a --port description.
    ("twisted_proxy.service.tap", "_ListenRecorder", "listenTCP"),
    ("twisted_proxy.service.tap", "_ListenRecorder", "listenSSL"),
    ("twisted_proxy.service.tap", "_ListenRecorder", "listenUNIX"),
}

#: Where Twisted declares the interfaces whose method names a project
#: interface may repeat (a body receiver's C{dataReceived}, say).
_TWISTED_INTERFACES = (
    "twisted.internet.interfaces",
    "twisted.web.iweb",
    "twisted.web.resource",
    "twisted.application.service",
    "twisted.logger",
    "twisted.plugin",
)


def _twisted_method_names() -> frozenset[str]:
    """
    Every method name of every interface in L{_TWISTED_INTERFACES}.
    """
    names: set[str] = set()
    for module_name in _TWISTED_INTERFACES:
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if isinstance(value, InterfaceClass):
                names.update(value.names(all=True))
    return frozenset(names)


def _named_elsewhere(owner: object, name: str) -> bool:
    """
    Whether C{name}, a method of C{owner}, is a name Twisted chose: one of a
    foreign base class of C{owner} or of an interface it implements, or,
    for a method a project interface declares (or one it implements from
    such an interface), a method name of a Twisted interface.
    """
    if isinstance(owner, InterfaceClass):
        return name in _twisted_method_names()
    if not isinstance(owner, type):
        return False
    for base in owner.__mro__[1:]:
        if name in vars(base) and _foreign(base.__module__):
            return True
    for interface in implementedBy(owner).flattened():
        if name in interface.names(all=True):
            if _foreign(interface.__module__) or name in _twisted_method_names():
                return True
    return False


def _modules() -> Iterator[tuple[str, str]]:
    """
    Every module of the trees, as (dotted name, path).
    """
    for directory, package in _TREES:
        top = os.path.join(_ROOT, directory)
        for where, _, files in os.walk(top):
            for filename in sorted(files):
                if not filename.endswith(".py"):
                    continue
                path = os.path.join(where, filename)
                parts = os.path.relpath(path, top)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts.pop()
                yield ".".join([package] + parts), path


def _resolve(module: object, qualname: list[str]) -> Optional[object]:
    """
    The class or interface at C{qualname} in C{module}, or L{None} when it
    is not reachable by attribute (a class made inside a function).
    """
    found: object = module
    for part in qualname:
        found = getattr(found, part, None)
        if found is None:
            return None
    return found if isinstance(found, (type, InterfaceClass)) else None


def violations() -> list[str]:
    """
    Each camelCase function or method of the trees that names nothing
    foreign, as C{path:line: name}.
    """
    found = []
    for module_name, path in _modules():
        module = importlib.import_module(module_name)
        with open(path) as f:
            tree = ast.parse(f.read(), path)

        def visit(node: ast.AST, classes: list[str], in_function: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.ClassDef):
                    visit(child, classes + [child.name], in_function)
                elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    if is_camel_case(child.name):
                        owner = (
                            _resolve(module, classes)
                            if classes and not in_function and isinstance(node, ast.ClassDef)
                            else None
                        )
                        if not classes and not in_function and child.name in _LOOKED_UP:
                            pass
                        elif (module_name, ".".join(classes), child.name) in _STAND_INS:
                            pass
                        elif owner is None or not _named_elsewhere(owner, child.name):
                            where = os.path.relpath(path, _ROOT)
                            found.append(f"{where}:{child.lineno}: {child.name}")
                    visit(child, classes, True)
                else:
                    visit(child, classes, in_function)

        visit(tree, [], False)
    return found


def _trial_method_names() -> frozenset[str]:
    """
    Every method name of trial's test cases, which a test may override, and
    of the Twisted classes that test doubles stand in for: the connection
    pool, a listening TCP port, a cooperative task.
    """
    from twisted.internet.task import CooperativeTask
    from twisted.internet.tcp import Port
    from twisted.trial.unittest import TestCase
    from twisted.web.client import HTTPConnectionPool

    classes = (TestCase, HTTPConnectionPool, Port, CooperativeTask)
    return frozenset(name for cls in classes for base in cls.__mro__ for name in vars(base))


def test_violations() -> list[str]:
    """
    Each camelCase function or method in C{tests/} other than a test
    (C{test_...}), an assertion helper (C{assert...}, as trial's), a name
    of trial's test cases, or a method name of a Twisted interface (which
    a test double stands in for), as C{path:line: name}.

    Test modules are read, not imported: end-to-end modules import Swift.
    """
    allowed = _twisted_method_names() | _trial_method_names()
    found = []
    top = os.path.join(_ROOT, "tests")
    for where, _, files in os.walk(top):
        for filename in sorted(files):
            # This module's own examples break the rule on purpose.
            if not filename.endswith(".py") or filename == "test_naming.py":
                continue
            path = os.path.join(where, filename)
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                name = node.name
                if name.startswith(("test_", "assert")) or name in allowed:
                    continue
                if is_camel_case(name):
                    found.append(f"{os.path.relpath(path, _ROOT)}:{node.lineno}: {name}")
    return found


class NamingTests(SynchronousTestCase):
    """
    The rule holds, and its test tells the two kinds of name apart.
    """

    def test_snakeCase(self) -> None:
        """
        No function or method of the project is camelCase unless Twisted,
        zope or the standard library gave it its name.
        """
        self.assertEqual(violations(), [])

    def test_snakeCaseInTests(self) -> None:
        """
        The tests' own helpers and doubles follow the rule too.
        """
        self.assertEqual(test_violations(), [])

    def test_camelCaseDetected(self) -> None:
        """
        L{is_camel_case} finds a capital inside a word, whatever the leading
        underscores, and nothing in snake_case or single words.
        """
        self.assertTrue(is_camel_case("dataReceived"))
        self.assertTrue(is_camel_case("_relayFrom"))
        self.assertFalse(is_camel_case("relay_from"))
        self.assertFalse(is_camel_case("__init__"))
        self.assertFalse(is_camel_case("GET"))

    def test_foreignNamesKept(self) -> None:
        """
        A method named by a Twisted base class or a Twisted interface counts
        as foreign; one the class invents does not.
        """
        from twisted.internet.interfaces import IPushProducer
        from twisted.internet.protocol import Protocol
        from zope.interface import implementer

        @implementer(IPushProducer)
        class Example(Protocol):
            def dataReceived(self, data: bytes) -> None:
                pass

            def pauseProducing(self) -> None:
                pass

            def resumeProducing(self) -> None:
                pass

            def stopProducing(self) -> None:
                pass

            def relayFrom(self) -> None:
                pass

        self.assertTrue(_named_elsewhere(Example, "dataReceived"))
        self.assertTrue(_named_elsewhere(Example, "pauseProducing"))
        self.assertFalse(_named_elsewhere(Example, "relayFrom"))
