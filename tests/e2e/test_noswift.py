"""
The proxy never imports the C{swift} package: it only runs Swift's storage
servers (all-in-one) as separate programs.
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

import twisted_proxy


class NoSwiftImportTests(SynchronousTestCase):
    def test_noModuleImportsSwift(self) -> None:
        names = [m.name for m in pkgutil.walk_packages(twisted_proxy.__path__, "twisted_proxy.")]
        self.assertIn("twisted_proxy.service.tap", names)
        script = (
            "import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "bad = sorted(m for m in sys.modules if m == 'swift' or m.startswith('swift.'))\n"
            "print(bad)\n"
        )
        root = os.path.dirname(os.path.dirname(os.path.abspath(twisted_proxy.__file__)))
        out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True,
                             text=True, check=True)
        self.assertEqual(out.stdout.strip(), "[]", out.stderr)
