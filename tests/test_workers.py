"""
Tests for C{workers = N} (L{twisted_proxy.service.workers}): addresses and
worker arguments. L{tests.e2e.test_workers} runs real workers.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.service.tap import _tcp_address
from twisted_proxy.service.workers import STATUS_FD, WORKER_FD, WorkerSpec


class AddressTests(SynchronousTestCase):
    def test_tcpDescriptions(self) -> None:
        self.assertEqual(_tcp_address("tcp:8080"), ("0.0.0.0", 8080))
        self.assertEqual(_tcp_address("tcp:8081:interface=127.0.0.1"), ("127.0.0.1", 8081))
        self.assertEqual(_tcp_address("tcp:port=9:interface=\\:\\:1"), ("::1", 9))

    def test_otherEndpoints(self) -> None:
        self.assertRaises(ValueError, _tcp_address, "unix:/tmp/sock")
        self.assertRaises(ValueError, _tcp_address, "tcp:interface=127.0.0.1")

    def test_specArguments(self) -> None:
        spec = WorkerSpec("/c.conf", "/swift", "redis://h:1/0")
        self.assertEqual(spec.arguments(), [
            "--config", "/c.conf", "--fd", str(WORKER_FD), "--status-fd", str(STATUS_FD),
            "--swift-dir", "/swift", "--redis-url", "redis://h:1/0"])
        self.assertEqual(WorkerSpec("/c.conf").arguments(),
                         ["--config", "/c.conf", "--fd", str(WORKER_FD),
                          "--status-fd", str(STATUS_FD)])
        self.assertEqual(WorkerSpec("/c.conf", config_text="[DEFAULT]\n").arguments(),
                         ["--config", "/c.conf", "--fd", str(WORKER_FD),
                          "--status-fd", str(STATUS_FD), "--config-stdin"])
