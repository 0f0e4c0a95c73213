"""
Tests for L{twisted_proxy.info.redisstore}: the txredisapi wiring against a
private C{redis-server} (L{tests.e2e.redisserver}) on the real reactor, with
generous time bounds.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from twisted.internet import reactor
from twisted.internet.defer import gatherResults
from twisted.internet.task import deferLater
from twisted.logger import LogLevel
from twisted.trial.unittest import TestCase

from tests.e2e.redisserver import start_redis_server
from tests.test_redisstore import _PIPELINE, at_level, capture_log
from twisted_proxy.config import load_config
from twisted_proxy.info.memorystore import LayeredInfoStore
from twisted_proxy.info.redisstore import RedisInfoStore, RedisSettings, make_info_store


class RealRedisTests(TestCase):
    """
    L{RedisInfoStore} on txredisapi against a private redis-server.
    """

    timeout = 60

    def setUp(self) -> None:
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        self.server = start_redis_server(directory)
        self.addCleanup(self.server.stop)
        self.log = capture_log(self)

    def connect(self, **overrides: Any) -> RedisInfoStore:
        options: dict[str, Any] = dict(
            host="127.0.0.1", port=self.server.port, pool_size=2,
            timeout=0.25, retry_interval=0.2,
        )
        options.update(overrides)
        store = RedisInfoStore.connect(
            reactor, RedisSettings(**options),
            initial_reconnect_delay=0.05, max_reconnect_delay=0.3,
        )
        self.addCleanup(self.close, store)
        return store

    async def close(self, store: RedisInfoStore) -> None:
        await store.close()
        # txredisapi finishes its connection bookkeeping a turn later.
        await deferLater(reactor, 0.01, lambda: None)

    async def wait_for(self, check: Callable[[], Any], within: float = 10.0) -> float:
        """
        Poll the coroutine function C{check} until it returns true.

        @return: the seconds it took.
        """
        start = time.monotonic()
        while not await check():
            if time.monotonic() - start > within:
                self.fail(f"not true within {within} s")
            await deferLater(reactor, 0.02, lambda: None)
        return time.monotonic() - start

    def warnings(self) -> list[dict[str, Any]]:
        return at_level(self.log, LogLevel.warn)

    def back_lines(self) -> list[dict[str, Any]]:
        return [e for e in at_level(self.log, LogLevel.info) if "back" in e["log_format"]]

    async def test_roundTrip(self) -> None:
        """
        JSON values round-trip; a missing key is C{None}; C{delete}
        forgets.
        """
        store = self.connect()
        values = [
            {"status": 204, "meta": {"k": "\u2603"}, "n": None},
            [1700000000.5, "AUTH_test,AUTH_test:tester"],
            "AUTH_tk0123",
            42,
            "42",
        ]
        for index, value in enumerate(values):
            await store.set(f"k/{index}", value, 30)
        for index, value in enumerate(values):
            self.assertEqual(await store.get(f"k/{index}"), value)
        self.assertIsNone(await store.get("k/missing"))
        await store.set("container/\u00e9/\u2603", {"status": 200}, 30)
        self.assertEqual(await store.get("container/\u00e9/\u2603"), {"status": 200})
        await store.delete("k/0")
        self.assertIsNone(await store.get("k/0"))
        self.assertEqual(self.warnings(), [])

    async def test_expiry(self) -> None:
        """
        The TTL is the key's Redis expiry.
        """
        store = self.connect()
        await store.set("short", {"a": 1}, 0.2)
        await store.set("long", {"a": 2}, 60)
        pttl = int(self.server.command("PTTL", "twisted-proxy:long").split(b"\r\n")[0][1:])
        self.assertTrue(59000 < pttl <= 60000, pttl)
        self.assertEqual(await store.get("short"), {"a": 1})

        async def gone() -> bool:
            return await store.get("short") is None

        took = await self.wait_for(gone, within=3)
        self.assertLess(took, 3)
        self.assertEqual(await store.get("long"), {"a": 2})

    async def test_prefix(self) -> None:
        """
        Stores with different prefixes do not see each other's keys; ones
        with the same prefix (two proxy workers) share them.
        """
        one = self.connect(key_prefix="one:")
        two = self.connect(key_prefix="two:")
        worker = self.connect(key_prefix="one:")
        await one.set("tempauth/token/t", [1.5, "g"], 30)
        self.assertIsNone(await two.get("tempauth/token/t"))
        self.assertEqual(await worker.get("tempauth/token/t"), [1.5, "g"])
        self.assertEqual(
            self.server.command("GET", "one:tempauth/token/t"), b'$9\r\n[1.5,"g"]\r\n'
        )

    async def test_incr(self) -> None:
        """
        The counter script: counts from 0, adds negative deltas, resets
        below C{reset_below}, takes a value C{set} stored (JSON integers
        are decimal text) and counts anything else as 0, and sets the
        key's expiry.
        """
        store = self.connect()
        self.assertEqual(await store.incr("rl/a", 1000, 30), 1000)
        self.assertEqual(await store.incr("rl/a", -250, 30), 750)
        self.assertEqual(await store.incr("rl/a", 1, 30, reset_below=751, reset_to=9), 751)
        self.assertEqual(await store.incr("rl/a", 1, 30, reset_below=753, reset_to=9), 9)
        self.assertEqual(await store.get("rl/a"), 9)
        big = 1_700_000_000_123 * 1000
        self.assertEqual(await store.incr("rl/big", big, 30), big)
        self.assertEqual(await store.incr("rl/big", 1, 30), big + 1)
        await store.set("rl/b", 41, 30)
        self.assertEqual(await store.incr("rl/b", 1, 30), 42)
        for index, value in enumerate([{"a": 1}, "12", 1.5, None]):
            await store.set(f"rl/odd{index}", value, 30)
            self.assertEqual(await store.incr(f"rl/odd{index}", 3, 30), 3)
        await store.incr("rl/t", 1, 6.5)
        pttl = int(self.server.command("PTTL", "twisted-proxy:rl/t").split(b"\r\n")[0][1:])
        self.assertTrue(6000 < pttl <= 6500, pttl)
        self.assertEqual(self.warnings(), [])

    async def test_incrAtomic(self) -> None:
        """
        Two stores (two processes' pools) counting at once lose no count,
        and of two that find a counter stale at once only one resets it.
        """
        one = self.connect(pool_size=3)
        two = self.connect(pool_size=3)
        counts = [store.incr("rl/n", 7, 30) for _ in range(100) for store in (one, two)]
        results = await gatherResults(counts)
        self.assertEqual(sorted(results), [7 * n for n in range(1, 201)])
        stale = [store.incr("rl/s", 1, 30, reset_below=100, reset_to=1000)
                 for store in (one, two)]
        self.assertEqual(sorted(await gatherResults(stale)), [1000, 1001])

    async def test_outageAndReconnect(self) -> None:
        """
        With Redis stopped, operations fire C{None} within the timeout,
        one warning is logged; once it is back on the same port the store
        reconnects and logs it once.
        """
        store = self.connect()
        await store.set("k", 1, 30)
        self.assertEqual(await store.get("k"), 1)
        self.server.stop()

        start = time.monotonic()
        self.assertIsNone(await store.get("k"))
        first = time.monotonic() - start
        latencies = []
        for _ in range(20):
            start = time.monotonic()
            self.assertIsNone(await store.get("k"))
            await store.set("k", 2, 30)
            await store.delete("k")
            latencies.append(time.monotonic() - start)
            await deferLater(reactor, 0.05, lambda: None)
        self.assertLess(first, 0.25 + 0.5)
        self.assertLess(max(latencies), 0.25 + 0.5)
        self.assertFalse(store.available)
        self.assertEqual(len(self.warnings()), 1)
        self.assertEqual(self.back_lines(), [])

        self.server.start()

        async def works() -> bool:
            await store.set("k", 3, 30)
            return await store.get("k") == 3

        await self.wait_for(works, within=10)
        self.assertTrue(store.available)
        self.assertEqual(len(self.warnings()), 1)
        self.assertEqual(len(self.back_lines()), 1)

    async def test_downAtStart(self) -> None:
        """
        A store whose Redis is not running yet works without it, then with
        it once it starts.
        """
        self.server.stop()
        store = self.connect()
        start = time.monotonic()
        self.assertIsNone(await store.get("k"))
        self.assertLess(time.monotonic() - start, 0.75)
        self.assertEqual(len(self.warnings()), 1)
        self.server.start()

        async def works() -> bool:
            await store.set("k", "v", 30)
            return await store.get("k") == "v"

        await self.wait_for(works)
        self.assertEqual(len(self.back_lines()), 1)

    async def test_hung(self) -> None:
        """
        A Redis that accepts but does not answer costs an operation the
        timeout at most; once it answers again the store uses it again.
        """
        store = self.connect()
        await store.set("k", 1, 30)
        self.server.pause()
        start = time.monotonic()
        self.assertIsNone(await store.get("k"))
        await store.set("k", 2, 30)
        self.assertLess(time.monotonic() - start, 2 * 0.25 + 0.5)
        self.assertEqual(len(self.warnings()), 1)
        self.server.resume()

        async def works() -> bool:
            return await store.get("k") in (1, 2)

        await self.wait_for(works)
        self.assertEqual(len(self.warnings()), 1)
        self.assertEqual(len(self.back_lines()), 1)

    async def test_makeInfoStore(self) -> None:
        """
        L{make_info_store} makes a working L{RedisInfoStore} from
        C{[filter:cache]}'s C{redis_url}.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        path = os.path.join(directory, "proxy-server.conf")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(
                _PIPELINE
                + "\n[filter:cache]\nuse = egg:swift#memcache\n"
                + f"redis_url = {self.server.url}\nredis_key_prefix = mk:\n"
                + "redis_pool_size = 2\n"
            )
        layered = make_info_store(load_config(path), reactor)
        assert isinstance(layered, LayeredInfoStore)
        store = layered.shared
        assert isinstance(store, RedisInfoStore)
        self.addCleanup(self.close, store)
        self.assertEqual(store.key_prefix, "mk:")
        await store.set("x", {"y": 1}, 30)
        self.assertEqual(await store.get("x"), {"y": 1})
        # It hears other processes' changes, and keeps copies once it does.
        listener = store.listener
        assert listener is not None
        self.assertEqual(listener.channel, "mk:info-changed:0")

        async def live() -> bool:
            return listener.live and layered.keeping

        await self.wait_for(live)
        self.assertTrue(any("Redis at" in e["log_format"] for e in self.log))
