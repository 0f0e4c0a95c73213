"""
What every proxy process carries: the twistd process imports the proxy
before it forks its workers, so whatever it imports is resident in each of
them too.
"""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.trial.unittest import TestCase

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: Modules meant for tests that twistd itself does not import (it imports
#: C{twisted.trial} and C{unittest} for its plugin cache, and C{pdb}):
#: C{twisted.internet.testing} brings them all, about a megabyte a process.
_TEST_MODULES = ("twisted.internet.testing", "twisted.trial.unittest", "doctest")


#: The modules of the plugins Swift's stock pipeline does not run, and of
#: what only they need: L{twisted_proxy.plugins._lazy} holds their code.
_LAZY = ("twisted_proxy.plugins._lazy.", "twisted_proxy.plugins.s3api.",
         "twisted_proxy.swift.weblisting", "twisted.names.")

#: The standard library's archive reader: only bulk's extract-archive
#: requests need it.
_ARCHIVES = ("tarfile",)

#: Builds, without serving, the proxy C{bench/compare} measures (its
#: configuration, from C{bench/services.py}, with the rings of
#: C{tests/data/rings/simple} and its info store in memory), as the twistd
#: process of C{workers = N} does before it forks its workers.
_BUILD_BENCH_PROXY = """
import os, sys, tempfile
sys.path.insert(0, os.path.join({root!r}, "bench"))
import services
from twisted.application.service import Service
from twisted.internet import reactor
import twisted_proxy.service.tap
from twisted_proxy.config import ProxySettings, load_config
from twisted_proxy.service.build import build_proxy_service
from twisted_proxy.web.pipeline import available_plugins, resolve_pipeline
swift_dir = os.path.join({root!r}, "tests", "data", "rings", "simple")
path = os.path.join(tempfile.mkdtemp(dir={temp!r}), "proxy-server.conf")
with open(path, "w") as f:
    f.write(f"[DEFAULT]\\nswift_dir = {{swift_dir}}\\n\\n"
            f"[pipeline:main]\\npipeline = {{services.TWISTED_PIPELINE}}\\n\\n"
            "[app:proxy-server]\\nuse = egg:swift#proxy\\naccount_autocreate = true\\n\\n"
            f"[filter:tempauth]\\nuse = egg:swift#tempauth\\n{{services.TEMPAUTH_USERS}}\\n"
            "[filter:cache]\\nuse = egg:swift#memcache\\n\\n"
            + services._filter_sections(services._TWISTED_FILTERS))
config = load_config(path)
resolve_pipeline(config, available_plugins())
build_proxy_service(config, ProxySettings.from_section(config), reactor,
                    lambda site: Service())
"""


def _imported(script: str) -> set[str]:
    """
    The modules a new interpreter has imported after running C{script}.
    """
    probe = script + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))\n"
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True,
                            text=True, timeout=60, cwd=_ROOT).stdout
    return set(output.split())


def _lazy(imported: set[str]) -> list[str]:
    """
    Those of C{imported} that only a plugin Swift's stock pipeline does
    not run, or an archive upload, needs.
    """
    return sorted(name for name in imported
                  if name.startswith(_LAZY) or name in _ARCHIVES)


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
        self.assertEqual(_lazy(imported), [])

    def test_benchPipelineImportsOnlyItsPlugins(self) -> None:
        """
        Building the proxy of Swift's stock pipeline (the one
        C{bench/compare} runs), as the parent of C{workers = N} does
        before forking, imports the code of none of the other plugins
        (staticweb, formpost, domain_remap, metrics, cname_lookup,
        list_endpoints, read_only, etag_quoter, name_check, crossdomain,
        s3api) and not
        L{tarfile}: their modules would be resident in every worker.
        """
        temp = os.path.abspath(self.mktemp())
        os.makedirs(temp)
        imported = _imported(_BUILD_BENCH_PROXY.format(root=_ROOT, temp=temp))
        self.assertIn("twisted_proxy.plugins.bulk", imported)
        self.assertIn("twisted_proxy.plugins.staticweb", imported)
        self.assertEqual(_lazy(imported), [])

    def test_lazyPluginCodeOnUse(self) -> None:
        """
        A lazily imported plugin's code and names are there when asked
        for: the plugin's filter, or a name of its module.
        """
        imported = _imported(
            "from twisted_proxy.plugins.staticweb import StaticWeb\n"
            "import twisted_proxy.plugins.bulk as bulk\n"
            "bulk._header_errors()\n")
        self.assertIn("twisted_proxy.plugins._lazy.staticweb", imported)
        self.assertIn("tarfile", imported)
