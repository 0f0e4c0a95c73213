"""
The metrics of a real proxy (C{workers = 2}, its all-in-one cluster): Swift's
statsd names received on a real UDP socket, and C{/metrics} scraped after
known traffic, one scrape answering for both workers.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import tempfile
import time
import uuid

from twisted.trial.unittest import TestCase

from tests.e2e.aioproxy import REPO, RunningProxy, start_proxy


def _conf(statsd_port: int) -> str:
    with open(os.path.join(REPO, "conf", "aio.conf")) as original:
        text = original.read()
    text = text.replace(
        "[DEFAULT]\n",
        f"[DEFAULT]\nlog_statsd_host = 127.0.0.1\nlog_statsd_port = {statsd_port}\n", 1)
    text = text.replace("[app:proxy-server]\n", "[app:proxy-server]\nworkers = 2\n", 1)
    handle, path = tempfile.mkstemp(suffix=".conf", dir=os.path.join(REPO, "conf"))
    with os.fdopen(handle, "w") as conf:
        conf.write(text)
    return path


class MetricsTests(TestCase):
    """
    A proxy with C{workers = 2}, statsd to a socket of the test's, and the
    metrics plugin of conf/aio.conf.
    """

    proxy: RunningProxy
    udp: socket.socket

    def setUp(self) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(self.udp.close)
        self.udp.bind(("127.0.0.1", 0))
        conf = _conf(self.udp.getsockname()[1])
        self.addCleanup(os.unlink, conf)
        # Two workers and a cluster start slowly on a loaded machine.
        self.proxy = start_proxy(conf, timeout=300)
        self.addCleanup(self.proxy.stop)

    def _call(self, method: str, path: str, headers: dict[str, str],
              body: bytes = b"") -> tuple[int, bytes, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.port, timeout=30)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            reply = conn.getresponse()
            return reply.status, reply.read(), reply
        finally:
            conn.close()

    def _token(self) -> str:
        status, _, reply = self._call("GET", "/auth/v1.0", {"X-Auth-User": "test:tester",
                                                             "X-Auth-Key": "testing"})
        self.assertEqual(status, 200)
        return reply.getheader("X-Auth-Token") or ""

    def _traffic(self, gets: int) -> str:
        """
        PUT a container and an object, then GET the object C{gets} times;
        the container's path.
        """
        token = {"X-Auth-Token": self._token()}
        container = f"/v1/AUTH_test/metrics-{uuid.uuid4().hex}"
        self.assertEqual(self._call("PUT", container, token)[0], 201)
        self.assertEqual(self._call("PUT", container + "/o", token, b"x" * 1000)[0], 201)
        for _ in range(gets):
            status, body, _ = self._call("GET", container + "/o", token)
            self.assertEqual((status, len(body)), (200, 1000))
        return container

    def test_statsd(self) -> None:
        """
        Real requests send Swift's per-request statsd names, policy
        variants included, over UDP.
        """
        self.udp.settimeout(0.5)
        while True:  # what start-up sent
            try:
                self.udp.recv(65536)
            except OSError:
                break
        self._traffic(1)
        wanted = {
            "proxy-server.container.PUT.201.timing": "ms",
            "proxy-server.container.PUT.201.xfer": "c",
            "proxy-server.object.PUT.201.timing": "ms",
            "proxy-server.object.PUT.201.xfer": "c",
            "proxy-server.object.policy.0.PUT.201.timing": "ms",
            "proxy-server.object.GET.200.first-byte.timing": "ms",
            "proxy-server.object.GET.200.timing": "ms",
            "proxy-server.object.GET.200.xfer": "c",
            "proxy-server.object.policy.0.GET.200.first-byte.timing": "ms",
            "proxy-server.object.policy.0.GET.200.timing": "ms",
            "proxy-server.object.policy.0.GET.200.xfer": "c",
        }
        seen: dict[str, str] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not set(wanted) <= set(seen):
            try:
                data = self.udp.recv(65536).decode("utf-8")
            except OSError:
                continue
            match = re.fullmatch(r"([^:]+):([0-9.]+)\|(c|ms)", data)
            self.assertIsNotNone(match, data)
            assert match is not None
            seen[match.group(1)] = match.group(3)
        self.assertEqual({name: seen.get(name) for name in wanted}, wanted)
        self.assertIn("proxy-server.object.GET.200.xfer", seen)
        # The lookups of the account's and the container's info, under
        # Swift's names: the request's own copy, the store's, or the
        # storage nodes' answer.
        info = re.compile(
            r"proxy-server\.(account|container)\.info\."
            r"(infocache\.hit|cache\.hit|cache\.miss\.\d{3})")
        for kind in ("account", "container"):
            self.assertTrue(
                [name for name in seen if info.fullmatch(name) and f".{kind}." in name],
                sorted(seen))

    def test_prometheus(self) -> None:
        """
        After known traffic, one scrape (answered by either worker) counts
        every request of both workers.
        """
        def count(page: str, labels: str) -> float:
            match = re.search(
                r"^twisted_proxy_requests_total\{" + re.escape(labels) + r"\} (\S+)$",
                page, re.M)
            return float(match.group(1)) if match else 0.0

        labels = 'method="GET",policy="0",status="2xx",type="object"'
        put_labels = 'method="PUT",policy="0",status="2xx",type="object"'
        status, before, _ = self._call("GET", "/metrics", {})
        self.assertEqual(status, 200)
        self._traffic(7)
        status, after, reply = self._call("GET", "/metrics", {})
        self.assertEqual(status, 200)
        self.assertIn("text/plain", reply.getheader("Content-Type") or "")
        page, old = after.decode("utf-8"), before.decode("utf-8")
        self.assertEqual(count(page, labels) - count(old, labels), 7)
        self.assertEqual(count(page, put_labels) - count(old, put_labels), 1)
        for name in ("twisted_proxy_backend_requests_total",
                     "twisted_proxy_info_cache_lookups_total",
                     "twisted_proxy_client_connections",
                     "twisted_proxy_request_duration_seconds_bucket",
                     "twisted_proxy_response_bytes_total"):
            self.assertIn(name, page)
        sent = re.search(r'^twisted_proxy_response_bytes_total\{method="GET",policy="0",'
                         r'type="object"\} (\S+)$', page, re.M)
        assert sent is not None
        self.assertGreaterEqual(float(sent.group(1)), 7000)
