"""
The package's layers: each subpackage of L{twisted_proxy} imports only from
the layers below it, no module imports another that imports it back (not
even under C{TYPE_CHECKING}), and nothing in L{twisted_proxy} imports the
all-in-one cluster.
"""

from __future__ import annotations

import ast
import os

from twisted.trial.unittest import SynchronousTestCase

import twisted_proxy
import twisted_proxy_aio

#: What each layer may import from twisted-proxy, besides itself. The
#: web front end finds plugins through twisted.plugin, so it may name the
#: plugins package for that, and nothing below it may name a layer above.
ALLOWED: dict[str, frozenset[str]] = {
    "_twisted": frozenset(),
    "interfaces": frozenset(),
    "endpoints": frozenset(),
    "config": frozenset({"swift", "interfaces"}),
    "swift": frozenset({"interfaces"}),
    "backend": frozenset({"swift", "config", "interfaces", "endpoints", "_twisted"}),
    "info": frozenset({"swift", "config", "interfaces", "endpoints"}),
    "controllers": frozenset({"backend", "info", "swift", "config", "interfaces"}),
    "plugins": frozenset({"controllers", "backend", "info", "swift", "config", "interfaces"}),
    "web": frozenset({"plugins", "controllers", "backend", "info", "swift", "config",
                      "interfaces", "_twisted"}),
    "service": frozenset({"web", "plugins", "controllers", "backend", "info", "swift",
                          "config", "interfaces", "_twisted"}),
}


def _modules(package: object) -> dict[str, str]:
    """
    Every module of C{package}, by dotted name, with its file.
    """
    top = os.path.dirname(package.__file__)  # type: ignore[attr-defined]
    name = package.__name__  # type: ignore[attr-defined]
    found = {}
    for directory, _, files in os.walk(top):
        for filename in files:
            if not filename.endswith(".py"):
                continue
            relative = os.path.relpath(os.path.join(directory, filename), top)
            parts = relative[:-3].split(os.sep)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([name] + parts)] = os.path.join(directory, filename)
    return found


def _imports(path: str) -> set[str]:
    """
    Every module named by an import anywhere in the file at C{path}.
    """
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    named: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            named.add(node.module)
            named.update(f"{node.module}.{alias.name}" for alias in node.names)
    return named


def _layer(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


class LayerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.modules = _modules(twisted_proxy)
        self.graph = {
            name: {m for m in _imports(path) if m in self.modules and m != name}
            for name, path in self.modules.items()
        }

    def test_everyLayerKnown(self) -> None:
        """
        Each module of the package belongs to a layer with rules.
        """
        layers = {_layer(name) for name in self.modules if name != "twisted_proxy"}
        self.assertEqual(layers - set(ALLOWED), set())

    def test_downwardOnly(self) -> None:
        """
        No module imports from a layer above its own.
        """
        wrong = []
        for name, imported in sorted(self.graph.items()):
            layer = _layer(name)
            for other in sorted(imported):
                target = _layer(other)
                if target and target != layer and target not in ALLOWED.get(layer, ()):
                    wrong.append(f"{name} imports {other}")
        self.assertEqual(wrong, [])

    def test_noCycles(self) -> None:
        """
        No module reaches itself through its imports.
        """
        cycles = []
        for start in sorted(self.graph):
            seen = set()
            stack = list(self.graph[start])
            while stack:
                current = stack.pop()
                if current == start:
                    cycles.append(start)
                    break
                if current in seen:
                    continue
                seen.add(current)
                stack.extend(self.graph[current])
        self.assertEqual(cycles, [])

    def test_allInOneApart(self) -> None:
        """
        Nothing in the proxy's own package imports the all-in-one cluster.
        """
        aio = set(_modules(twisted_proxy_aio))
        users = sorted(
            name for name, path in self.modules.items()
            if any(m == "twisted_proxy_aio" or m.split(".")[0] == "twisted_proxy_aio"
                   for m in _imports(path)))
        self.assertTrue(aio)
        self.assertEqual(users, [])
