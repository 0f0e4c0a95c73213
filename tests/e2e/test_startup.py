"""
What C{twistd} does with a configuration it must refuse: it exits with a
non-zero status and one line saying why.
"""

from __future__ import annotations

import os
import subprocess

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.aioproxy import REPO, twistd_command

_CONFIG = """\
[DEFAULT]
swift_dir = /nonexistent

[pipeline:main]
pipeline = catch_errors healthcheck {stage} proxy-server

[app:proxy-server]
use = egg:swift#proxy
"""


class UnknownStageTests(SynchronousTestCase):
    """
    A pipeline stage with no plugin stops C{twistd} before it starts
    anything.
    """

    def run_twistd(self, stage: str) -> subprocess.CompletedProcess[str]:
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        path = os.path.join(directory, "proxy-server.conf")
        with open(path, "w") as handle:
            handle.write(_CONFIG.format(stage=stage))
        self.path = path
        return subprocess.run(
            twistd_command() + ["-n", "--pidfile=", "twisted-proxy", "--config", path],
            cwd=REPO, capture_output=True, text=True, timeout=120,
            stdin=subprocess.DEVNULL)

    def test_unknown(self) -> None:
        result = self.run_twistd("no_such_stage")
        self.assertNotEqual(result.returncode, 0)
        self.assertEqual(
            result.stderr.strip().splitlines()[-1],
            f"twisted-proxy: {self.path}: [pipeline:main] pipeline: stage 'no_such_stage': "
            "no plugin named 'no_such_stage' is installed", result.stderr)
        self.assertNotIn("listening", result.stdout)

    def test_keystone(self) -> None:
        result = self.run_twistd("authtoken")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("stage 'authtoken'", result.stderr.strip().splitlines()[-1])
