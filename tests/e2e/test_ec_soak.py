"""
On request only: a large object (2 GiB for the issue's check) through an
erasure-coded policy (C{conf/aio-ec.conf}'s 4+2, 1 MiB segments), PUT and
GET through twisted-proxy against real object servers. The bytes come back
exact (MD5) and the proxy's memory stays flat: its peak RSS grows by no
more than L{MAX_GROWTH_MIB} over the whole transfer.

It runs when C{TWISTED_PROXY_SOAK_GIB} is set (the size in GiB, as for the
other soak tests), and is skipped otherwise, so C{scripts/test} does not
spend minutes on it::

    TWISTED_PROXY_SOAK_GIB=2 scripts/test tests.e2e.test_ec_soak
"""

from __future__ import annotations

import hashlib
import os
import random
import time
import uuid

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.e2e.aioproxy import proc_status_kib, read_chunks, reset_peak_rss
from tests.e2e.test_ec import MIB, ECCluster

#: How much the proxy's peak RSS may grow while it moves the object.
MAX_GROWTH_MIB = 16


class ECSoakTests(SynchronousTestCase):
    """
    A C{TWISTED_PROXY_SOAK_GIB} GiB object through an EC policy.
    """

    def setUp(self) -> None:
        value = os.environ.get("TWISTED_PROXY_SOAK_GIB")
        if not value:
            raise SkipTest("soak test: set TWISTED_PROXY_SOAK_GIB=2 to run it")
        self.size = int(float(value) * 1024 * MIB)
        self.cluster = ECCluster()
        self.addCleanup(self.cluster.stop)

    def put(self, path: str, size: int) -> tuple[str, float]:
        """
        PUT C{size} bytes to C{path}; their MD5 and the seconds it took.
        """
        # One random MiB, each copy headed by its index: a lost, repeated or
        # reordered MiB changes the MD5.
        block = memoryview(random.Random(2).randbytes(MIB))
        digest = hashlib.md5()
        conn = self.cluster.connect(timeout=600)
        started = time.monotonic()
        conn.putrequest("PUT", path)
        conn.putheader("X-Auth-Token", self.cluster.token)
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        sent = index = 0
        while sent < size:
            take = min(MIB, size - sent)
            head = index.to_bytes(8, "big")[:take]
            piece = block[len(head):take]
            for part in (head, piece):
                conn.send(part)
                digest.update(part)
            sent += take
            index += 1
        reply = conn.getresponse()
        body = reply.read()
        seconds = time.monotonic() - started
        conn.close()
        self.assertEqual(reply.status, 201, body[:200])
        self.assertEqual(reply.getheader("Etag"), digest.hexdigest())
        return digest.hexdigest(), seconds

    def get(self, path: str) -> tuple[int, str, float]:
        """
        GET C{path}: its length, MD5 and the seconds it took.
        """
        conn = self.cluster.connect(timeout=600)
        started = time.monotonic()
        conn.request("GET", path, headers={"X-Auth-Token": self.cluster.token})
        reply = conn.getresponse()
        self.assertEqual(reply.status, 200)
        digest = hashlib.md5()
        got = 0
        for data in read_chunks(reply, MIB):
            digest.update(data)
            got += len(data)
        seconds = time.monotonic() - started
        conn.close()
        return got, digest.hexdigest(), seconds

    def test_putAndGetFlatMemory(self) -> None:
        """
        The object is written and read back exact, and the proxy's peak RSS
        grows by at most L{MAX_GROWTH_MIB} MiB meanwhile (after a small
        object has warmed the code paths up).
        """
        cluster = self.cluster
        container = f"ec-soak-{uuid.uuid4().hex}"
        self.assertIn(cluster.request("PUT", cluster.path(container))[0], (201, 202))
        warm = cluster.path(container, "warm-up")
        self.put(warm, 8 * MIB + 3)
        self.assertEqual(self.get(warm)[0], 8 * MIB + 3)
        pid = cluster.proxy.process.pid
        reset_peak_rss(pid)
        start_kib = proc_status_kib(pid, "VmRSS")
        path = cluster.path(container, "huge")
        md5, put_seconds = self.put(path, self.size)
        got, got_md5, get_seconds = self.get(path)
        self.assertEqual(got, self.size)
        self.assertEqual(got_md5, md5)
        growth_mib = (proc_status_kib(pid, "VmHWM") - start_kib) / 1024
        mb = self.size / 1e6
        print(f"\nEC {self.size / MIB:.0f} MiB: PUT {mb / put_seconds:.1f} MB/s, "
              f"GET {mb / get_seconds:.1f} MB/s, MD5 {md5} both ways; proxy peak RSS "
              f"grew {growth_mib:.1f} MiB (from {start_kib / 1024:.1f} MiB); load "
              f"average {os.getloadavg()[0]:.1f}")
        self.assertLessEqual(growth_mib, MAX_GROWTH_MIB,
                             f"proxy peak RSS grew by {growth_mib:.1f} MiB")
        self.assertEqual(cluster.request("DELETE", path)[0], 204)
