"""
Every C{# -*- test-case-name: ... -*-} header names test modules that exist
and hold tests, so that C{trial --testmodule} (and editors running it) finds
the tests of a source file.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import re

from twisted.trial.runner import TestLoader
from twisted.trial.unittest import SynchronousTestCase

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Where headers are read: the packages, the twistd dropins and the tests.
_SOURCES = ("twisted_proxy", "twisted_proxy_aio", os.path.join("twisted", "plugins"), "tests")

#: Where every module but a package's C{__init__} must have a header.
_HEADED = ("twisted_proxy", "twisted_proxy_aio", os.path.join("twisted", "plugins"))

_HEADER = re.compile(r"^#.*-\*-\s*test-case-name:\s*(.*?)\s*-\*-")


def _python_files(top: str) -> list[str]:
    found: list[str] = []
    for directory, subdirectories, files in os.walk(os.path.join(_ROOT, top)):
        subdirectories[:] = [d for d in subdirectories if d != "__pycache__"]
        found.extend(os.path.join(directory, name) for name in files if name.endswith(".py"))
    return sorted(found)


def _defines_tests(path: str) -> bool:
    """
    Whether the module at C{path} defines a class with a C{test_*} method,
    read without importing it.
    """
    with open(path, encoding="utf-8") as source:
        tree = ast.parse(source.read(), path)
    return any(
        isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
        and item.name.startswith("test")
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        for item in node.body
    )


def test_case_names(path: str) -> list[str] | None:
    """
    The test modules the header of the file at C{path} names, or C{None}
    if it has none. Like trial, only the first two lines are read.
    """
    with open(path, encoding="utf-8") as source:
        for _, line in zip(range(2), source):
            match = _HEADER.match(line)
            if match is not None:
                return [name.strip() for name in match.group(1).split(",")]
    return None


class TestCaseNameTests(SynchronousTestCase):
    def test_parse(self) -> None:
        """
        A header names one or several comma-separated modules.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("# -*- test-case-name: tests.test_a, tests.e2e.test_b -*-\n\"\"\"\n")
        self.assertEqual(test_case_names(path), ["tests.test_a", "tests.e2e.test_b"])
        with open(path, "w") as f:
            f.write('"""\nNo header.\n"""\n# -*- test-case-name: tests.test_a -*-\n')
        self.assertIsNone(test_case_names(path))

    def test_namedModulesHoldTests(self) -> None:
        """
        Each module named by a header exists and holds at least one test.
        Unit test modules are imported; end-to-end ones (L{tests.e2e}) are
        only read, as importing some of them (urllib3, through
        swiftclient) probes a socket, which a unit test may not.
        """
        loader = TestLoader()
        named: dict[str, list[str]] = {}
        for top in _SOURCES:
            for path in _python_files(top):
                for name in test_case_names(path) or []:
                    named.setdefault(name, []).append(os.path.relpath(path, _ROOT))
        self.assertIn("tests.test_ring", named)
        bad = []
        for name, users in sorted(named.items()):
            where = f"{name} (named by {', '.join(users)})"
            if name.startswith("tests.e2e."):
                spec = importlib.util.find_spec(name)
                if spec is None or spec.origin is None:
                    bad.append(f"{where}: no such module")
                elif not _defines_tests(spec.origin):
                    bad.append(f"{where}: holds no tests")
                continue
            try:
                module = importlib.import_module(name)
            except ImportError as e:
                bad.append(f"{where}: {e}")
                continue
            if loader.loadModule(module).countTestCases() == 0:
                bad.append(f"{where}: holds no tests")
        self.assertEqual(bad, [])

    def test_everyModuleHasHeader(self) -> None:
        """
        Every module of the packages and dropins (but a package's
        C{__init__}) says where its tests are.
        """
        missing = [
            os.path.relpath(path, _ROOT)
            for top in _HEADED
            for path in _python_files(top)
            if os.path.basename(path) != "__init__.py" and test_case_names(path) is None
        ]
        self.assertEqual(missing, [])
