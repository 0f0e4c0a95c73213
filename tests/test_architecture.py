"""
ARCHITECTURE.rst names classes, modules and functions that exist.
"""

import os
import re

from twisted.trial.unittest import SynchronousTestCase

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sources() -> str:
    texts = []
    for top in ("twisted_proxy", "twisted"):
        for directory, _, files in os.walk(os.path.join(_ROOT, top)):
            for name in files:
                if name.endswith(".py"):
                    with open(os.path.join(directory, name)) as f:
                        texts.append(f.read())
    return "\n".join(texts)


class ArchitectureTests(SynchronousTestCase):
    def test_namesExist(self) -> None:
        """
        Every C{CamelCase} class and every C{dotted.name} in double
        backticks is defined (or is a module) in the package.
        """
        with open(os.path.join(_ROOT, "ARCHITECTURE.rst")) as f:
            text = f.read()
        sources = _sources()
        missing = []
        for literal in set(re.findall(r"``([^`]+)``", text)):
            if "/" in literal or re.search(r"\.(py|rst|conf)$", literal):
                if not _is_file(literal):
                    missing.append(literal)
                continue
            for word in re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", literal):
                last = word.split(".")[-1]
                if word in _TWISTED:
                    continue
                if re.fullmatch(r"_?[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*", last):
                    if not re.search(rf"^\s*class {last}\b", sources, re.M):
                        missing.append(word)
                elif "." in word and re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", word):
                    if not re.search(rf"^\s*(async )?def {last}\b", sources, re.M) \
                            and not _is_module(word):
                        missing.append(word)
        self.assertEqual(sorted(set(missing)), [])


#: Twisted's own names the document mentions.
_TWISTED = frozenset({"ServiceMaker"})


def _is_file(literal: str) -> bool:
    """
    Whether C{literal} (C{web/app.py}, C{swift.conf}, a folder) is a path in
    the checkout, under C{twisted_proxy/}, or a file Swift's configuration
    names.
    """
    if literal in ("swift.conf", "proxy-server.conf"):
        return True
    path = literal.rstrip("/")
    candidates = [os.path.join(_ROOT, path), os.path.join(_ROOT, "twisted_proxy", path),
                  os.path.join(_ROOT, "tests", path)]
    return any(os.path.exists(c) for c in candidates)


def _is_module(dotted: str) -> bool:
    parts = dotted.split(".")
    for base in (["twisted_proxy"], []):
        path = os.path.join(_ROOT, *base, *parts)
        if os.path.exists(path + ".py") or os.path.isdir(path):
            return True
    return False
