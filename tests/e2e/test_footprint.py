"""
What every proxy process carries: the twistd process imports the proxy
before it forks its workers, so whatever it imports is resident in each of
them too.
"""

from __future__ import annotations

import subprocess
import sys

from twisted.trial.unittest import TestCase

#: Modules meant for tests that twistd itself does not import (it imports
#: C{twisted.trial} and C{unittest} for its plugin cache, and C{pdb}):
#: C{twisted.internet.testing} brings them all, about a megabyte a process.
_TEST_MODULES = ("twisted.internet.testing", "twisted.trial.unittest", "doctest")


def _imported(script: str) -> set[str]:
    """
    The modules a new interpreter has imported after running C{script}.
    """
    probe = script + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))\n"
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True,
                            text=True, timeout=60).stdout
    return set(output.split())


class ImportFootprintTests(TestCase):
    """
    The imports of the twistd plugin.
    """

    def test_noTestModules(self) -> None:
        """
        Importing the plugin's service and finding every plugin imports no
        module meant for tests.
        """
        imported = _imported(
            "import twisted_proxy.service.tap\n"
            "from twisted_proxy.web.pipeline import available_plugins\n"
            "available_plugins()\n")
        self.assertEqual(sorted(imported.intersection(_TEST_MODULES)), [])

    def test_unusedPluginsStayOut(self) -> None:
        """
        Finding the plugins imports only their factories: the S3 API's
        modules and Twisted's DNS client (for C{cname_lookup}) come only
        with a pipeline that has them.
        """
        imported = _imported(
            "import twisted_proxy.service.tap\n"
            "from twisted_proxy.web.pipeline import available_plugins\n"
            "available_plugins()\n")
        heavy = ("twisted.names.client", "twisted.names.dns",
                 "twisted_proxy.plugins.s3api.filter", "twisted_proxy.plugins.s3api.request")
        self.assertEqual(sorted(imported.intersection(heavy)), [])
