"""
End to end: with C{write_legacy_ec_crc = true}, the fragment archives
twisted-proxy stores are those liberasurecode writes with its legacy CRC,
byte for byte, as Swift's proxy stores them with that option.

The module's own erasure-coded cluster (C{conf/aio-ec.conf}) is stopped by
process id when the test ends.
"""

from __future__ import annotations

import glob
import hashlib
import os
import subprocess
import sys
import uuid

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.test_ec import ECCluster
from twisted_proxy.swift.ec.scheme import LEGACY_CRC_VARIABLE

_ENCODE = """
import hashlib, sys
from pyeclib.ec_iface import ECDriver
body = sys.stdin.buffer.read()
driver = ECDriver(k=4, m=2, ec_type="liberasurecode_rs_vand")
for fragment in driver.encode(body):
    print(hashlib.md5(fragment).hexdigest())
"""


def _fragments(body: bytes, legacy: bool) -> set[str]:
    """
    The MD5s of the fragments of C{body}, encoded (as one segment) by
    liberasurecode in a process of its own, with or without its legacy CRC.
    """
    env = {key: value for key, value in os.environ.items() if key != LEGACY_CRC_VARIABLE}
    if legacy:
        env[LEGACY_CRC_VARIABLE] = "1"
    out = subprocess.run([sys.executable, "-c", _ENCODE], input=body, env=env,
                         capture_output=True, check=True, timeout=60).stdout
    return set(out.decode("ascii").split())


class LegacyCRCTests(SynchronousTestCase):
    def test_legacyFragments(self) -> None:
        """
        An object smaller than a segment is stored as the six fragments of
        one segment with the legacy CRC, not as liberasurecode writes them
        by default.
        """
        cluster = ECCluster(app={"write_legacy_ec_crc": "true"})
        self.addCleanup(cluster.stop)
        container = f"crc-{uuid.uuid4().hex}"
        status, _, _ = cluster.request("PUT", cluster.path(container))
        self.assertEqual(status, 201)
        body = os.urandom(100_000)
        status, _, _ = cluster.request("PUT", cluster.path(container, "o"), body=body)
        self.assertEqual(status, 201)
        stored = {
            hashlib.md5(open(path, "rb").read()).hexdigest()
            for path in glob.glob(os.path.join(cluster.root, "data", "**", "*.data"),
                                  recursive=True)
        }
        legacy = _fragments(body, legacy=True)
        self.assertNotEqual(legacy, _fragments(body, legacy=False))
        self.assertEqual(stored, legacy)
        status, _, got = cluster.request("GET", cluster.path(container, "o"))
        self.assertEqual((status, got), (200, body))
