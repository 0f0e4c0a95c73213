"""
End to end, the C{ratelimit} plugin: a proxy with C{workers = 2} counting
in a private C{redis-server} holds one limit for both workers, and a second
proxy on the same cluster, counting in each worker's memory, lets about
twice as many requests through under the same load. With Redis stopped,
requests go unlimited, and the limit comes back with Redis.

The load is container C{PUT}s (what C{account_ratelimit} limits) from
several threads, each request on a new connection so that the kernel
spreads them over both workers; C{max_sleep_time_seconds} is small, so a
request over the rate is answered 498 at once rather than waiting.
"""

from __future__ import annotations

import http.client
import re
import shutil
import tempfile
import threading
import time
from collections import Counter

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.aioproxy import AioCluster, RunningProxy
from tests.e2e.redisserver import start_redis_server

#: The account's container writes per second.
RATE = 4.0
#: Waits at least this long are refused (498).
MAX_SLEEP = 0.5
#: Seconds of load per measurement.
DURATION = 8.0
#: Client threads, and the pause each makes between its requests.
THREADS = 6
PAUSE = 0.04

_RATELIMIT = {
    "account_ratelimit": str(RATE),
    "max_sleep_time_seconds": str(MAX_SLEEP),
    "rate_buffer_seconds": "1",
}

#: A relayed access log line: the worker, the method, the path, the status.
_ACCESS = re.compile(r"worker (\d+): \S+ \S+ \S+ (PUT) (/v1/AUTH_test/rl-\S+) HTTP/1\.\d (\d{3}) ")


class _Load:
    """
    Container PUTs from L{THREADS} threads for L{DURATION} seconds, each on
    a new connection.
    """

    def __init__(self, port: int, tag: str) -> None:
        self.port = port
        self.tag = tag
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def _run(self, index: int, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                status = _put(self.port, f"/v1/AUTH_test/rl-{self.tag}-{index}")
            except OSError as error:
                with self._lock:
                    self.errors.append(repr(error))
            else:
                with self._lock:
                    self.statuses[status] += 1
            time.sleep(PAUSE)

    def run(self) -> "_Load":
        deadline = time.monotonic() + DURATION
        threads = [threading.Thread(target=self._run, args=(n, deadline))
                   for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        return self

    @property
    def passed(self) -> int:
        return sum(count for status, count in self.statuses.items() if status // 100 == 2)


def _put(port: int, path: str) -> int:
    """
    One PUT on a new connection; its status.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("PUT", path, headers={"Content-Length": "0"})
        reply = conn.getresponse()
        reply.read()
        return reply.status
    finally:
        conn.close()


def _by_worker(proxy: RunningProxy, tag: str) -> dict[str, Counter[int]]:
    """
    From the proxy's log: the statuses of the load C{tag}'s requests, by
    worker.
    """
    found: dict[str, Counter[int]] = {}
    for match in _ACCESS.finditer(proxy.log_tail(100_000)):
        worker, _, path, status = match.groups()
        if path.startswith(f"/v1/AUTH_test/rl-{tag}-"):
            found.setdefault(worker, Counter())[int(status)] += 1
    return found


class SharedLimitTests(SynchronousTestCase):
    """
    One limit for two workers through Redis, twice the rate through
    memory.
    """

    def setUp(self) -> None:
        directory = tempfile.mkdtemp(prefix="ratelimit-redis-")
        self.addCleanup(shutil.rmtree, directory, True)
        self.redis = start_redis_server(directory)
        self.addCleanup(self.redis.stop)
        self.cluster = AioCluster(
            "ratelimit", {}, app={"workers": "2"},
            sections={"filter:ratelimit": _RATELIMIT,
                      "filter:cache": {"redis_url": self.redis.url}},
            filters=("catch_errors", "healthcheck", "proxy-logging", "cache", "ratelimit"))
        self.addCleanup(self.cluster.stop)

    def start_memory_proxy(self) -> RunningProxy:
        """
        A second proxy with two workers on the same cluster, configured as
        the cluster's own but counting in each worker's memory: no C{[aio]}
        section (it uses the cluster's rings), no C{redis_url}.
        """
        proxy = self.cluster.start_twin_proxy("memory", without=[("filter:cache", "redis_url")])
        self.addCleanup(proxy.stop)
        return proxy

    def assert_spread(self, proxy: RunningProxy, tag: str) -> dict[str, Counter[int]]:
        """
        Both workers took part of load C{tag}.
        """
        deadline = time.monotonic() + 30
        while True:
            workers = _by_worker(proxy, tag)
            if len(workers) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(sorted(workers), ["0", "1"], workers)
        return workers

    def test_sharedThenDoubled(self) -> None:
        """
        Through Redis, both workers together let about C{RATE} container
        PUTs a second through, the rest answered 498; through each
        worker's memory, about twice as many. With Redis down nothing is
        refused; with Redis back, the limit holds again.
        """
        port = self.cluster.port
        shared = _Load(port, "shared").run()
        self.assertEqual(shared.errors, [])
        self.assertEqual(set(shared.statuses) - {201, 202, 498}, set(), shared.statuses)
        # The first request and one per interval, including those that
        # arrived in the last MAX_SLEEP seconds and waited.
        ceiling = RATE * (DURATION + MAX_SLEEP + 1) + 2
        self.assertLessEqual(shared.passed, ceiling, shared.statuses)
        self.assertGreaterEqual(shared.passed, RATE * DURATION / 2, shared.statuses)
        self.assertGreater(shared.statuses[498], shared.passed, shared.statuses)
        self.assertIn(b"ratelimit/AUTH_test",
                      self.redis.command("KEYS", "twisted-proxy:ratelimit*"))
        assert self.cluster.proxy is not None
        workers = self.assert_spread(self.cluster.proxy, "shared")
        # Each worker alone let fewer than the whole rate through.
        for statuses in workers.values():
            self.assertLess(statuses[201] + statuses[202], shared.passed)

        memory_proxy = self.start_memory_proxy()
        self.assertIn("count in their own memory", memory_proxy.log_tail(2000))
        alone = _Load(memory_proxy.port, "memory").run()
        self.assertEqual(alone.errors, [])
        self.assertGreaterEqual(alone.passed, 1.6 * shared.passed,
                                (alone.statuses, shared.statuses))
        self.assert_spread(memory_proxy, "memory")

        self.redis.stop()
        down = _Load(port, "down").run()
        self.assertEqual(set(down.statuses) - {201, 202}, set(), down.statuses)
        self.assertGreater(down.passed, ceiling, down.statuses)
        self.redis.start()
        proxy = self.cluster.proxy
        assert proxy is not None
        deadline = time.monotonic() + 90
        while proxy.log_tail(100_000).count("the counters answer again") < 2:
            self.assertLess(time.monotonic(), deadline, "the limit did not come back")
            for n in range(THREADS):
                _put(port, f"/v1/AUTH_test/rl-probe-{n}")
            time.sleep(0.5)
        again = _Load(port, "again").run()
        self.assertLessEqual(again.passed, ceiling, again.statuses)
        # One warning per worker for the outage.
        self.assertEqual(proxy.log_tail(100_000).count("the counters cannot be reached"), 2)
