"""
Tests for L{twisted_proxy.info.redisstore}.

The outage policy is tested with a L{Clock} and a fake client; the
txredisapi wiring against a real C{redis-server} is tested in
L{tests.e2e.test_redisstore}.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Optional

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import provider
from zope.interface.verify import verifyObject

from twisted_proxy.config import ConfigError, ProxyConfig, load_config
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.info.redisstore import (
    RedisInfoStore,
    RedisSettings,
    make_info_store,
    parse_redis_url,
)
from twisted_proxy.interfaces import IInfoStore

_NAMESPACE = "twisted_proxy.info.redisstore"


def capture_log(test: SynchronousTestCase, namespace: str = _NAMESPACE
                ) -> list[dict[str, Any]]:
    """
    The events logged in C{namespace} (by default
    L{twisted_proxy.info.redisstore}'s) during C{test}.
    """
    events: list[dict[str, Any]] = []

    @provider(ILogObserver)
    def observer(event: dict[str, Any]) -> None:
        if event.get("log_namespace") == namespace:
            events.append(event)

    globalLogPublisher.addObserver(observer)
    test.addCleanup(globalLogPublisher.removeObserver, observer)
    return events


def at_level(events: list[dict[str, Any]], level: LogLevel) -> list[dict[str, Any]]:
    return [event for event in events if event["log_level"] is level]


class FakeRedis:
    """
    A L{twisted_proxy.info.redisstore.RedisClient} in memory whose answers can be
    held back (C{hang}) or failed (C{broken}).
    """

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.expiry: dict[str, Optional[int]] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.hang = False
        self.broken = False
        self.is_connected = True
        self.held: list[Deferred[Any]] = []
        self.cancelled: list[Deferred[Any]] = []
        self.closed = False

    def _answer(self, value: Callable[[], Any]) -> Deferred[Any]:
        if self.hang:
            d: Deferred[Any] = Deferred(self.cancelled.append)
            self.held.append(d)
            return d
        if self.broken:
            return fail(ConnectionError("Lost connection"))
        return succeed(value())

    def get(self, key: str) -> Deferred[Any]:
        self.calls.append(("get", key))
        return self._answer(lambda: self.data.get(key))

    def set(self, key: str, value: str, pexpire: Optional[int]) -> Deferred[Any]:
        self.calls.append(("set", key, value, pexpire))

        def store() -> str:
            self.data[key] = value
            self.expiry[key] = pexpire
            return "OK"

        return self._answer(store)

    def delete(self, key: str) -> Deferred[Any]:
        self.calls.append(("delete", key))
        return self._answer(lambda: int(self.data.pop(key, None) is not None))

    def publish(self, channel: str, message: str) -> Deferred[Any]:
        self.calls.append(("publish", channel, message))
        return self._answer(lambda: 0)

    def incr(self, key: str, delta: int, pexpire: int, reset_below: Optional[int],
             reset_to: int) -> Deferred[Any]:
        """
        What L{twisted_proxy.info.redisstore.INCR_SCRIPT} does (the script
        itself runs against a real Redis in L{tests.e2e.test_redisstore}),
        answering decimal text as it does.
        """
        self.calls.append(("incr", key, delta, pexpire, reset_below, reset_to))

        def count() -> str:
            try:
                value = int(self.data.get(key) or "0") + delta
            except ValueError:  # not an integer: counts as 0
                value = delta
            if reset_below is not None and value < reset_below:
                value = reset_to
            self.data[key] = str(value)
            self.expiry[key] = pexpire
            return str(value)

        return self._answer(count)

    def connected(self) -> bool:
        return self.is_connected

    def close(self) -> Deferred[Any]:
        self.closed = True
        return succeed(None)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


class RedisInfoStoreTests(SynchronousTestCase):
    """
    L{RedisInfoStore} over a fake client: encoding, keys and expiry.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.redis = FakeRedis()
        self.store = RedisInfoStore(self.redis, self.clock, key_prefix="p:")
        self.log = capture_log(self)

    def test_interface(self) -> None:
        self.assertTrue(verifyObject(IInfoStore, self.store))

    def test_setGet(self) -> None:
        """
        A value is stored as compact JSON under the prefixed key with the
        TTL in milliseconds as its expiry, and read back equal.
        """
        value = {"status": 200, "meta": {"a": "\u00e9"}, "acl": [1, 2.5, None]}
        self.assertIsNone(self.successResultOf(self.store.set("container/a/c", value, 60)))
        self.assertEqual(self.redis.expiry["p:container/a/c"], 60000)
        self.assertEqual(json.loads(self.redis.data["p:container/a/c"]), value)
        self.assertEqual(self.successResultOf(self.store.get("container/a/c")), value)

    @given(_json)
    def test_roundTrip(self, value: Any) -> None:
        """
        Any JSON value comes back equal.
        """
        store = RedisInfoStore(FakeRedis(), Clock())
        self.successResultOf(store.set("k", value, 1))
        self.assertEqual(self.successResultOf(store.get("k")), value)

    def test_tokenValues(self) -> None:
        """
        tempauth's values (a token string, a list of expiry and groups)
        round-trip with their types.
        """
        self.successResultOf(self.store.set("tempauth/user/AUTH_/t:u", "AUTH_tk1", 5))
        self.successResultOf(
            self.store.set("tempauth/token/AUTH_tk1", [1700000000.125, "t,t:u"], 5)
        )
        self.assertEqual(self.successResultOf(self.store.get("tempauth/user/AUTH_/t:u")), "AUTH_tk1")
        self.assertEqual(
            self.successResultOf(self.store.get("tempauth/token/AUTH_tk1")),
            [1700000000.125, "t,t:u"],
        )

    def test_numericText(self) -> None:
        """
        A string that looks like a number stays a string.
        """
        self.successResultOf(self.store.set("k", "5", 1))
        self.assertEqual(self.successResultOf(self.store.get("k")), "5")

    def test_smallTTL(self) -> None:
        """
        A TTL under a millisecond still expires (1 ms), never persists.
        """
        self.successResultOf(self.store.set("k", 1, 0.0001))
        self.assertEqual(self.redis.expiry["p:k"], 1)

    def test_ttlNotPositive(self) -> None:
        """
        A TTL of 0 or less stores nothing and forgets the key.
        """
        self.successResultOf(self.store.set("k", 1, 10))
        self.successResultOf(self.store.set("k", 2, 0))
        self.assertNotIn("p:k", self.redis.data)
        self.successResultOf(self.store.set("k", 3, -1))
        self.assertNotIn("p:k", self.redis.data)

    def test_missing(self) -> None:
        self.assertIsNone(self.successResultOf(self.store.get("nope")))

    def test_delete(self) -> None:
        self.successResultOf(self.store.set("k", 1, 10))
        self.assertIsNone(self.successResultOf(self.store.delete("k")))
        self.assertIsNone(self.successResultOf(self.store.get("k")))
        self.assertIn(("delete", "p:k"), self.redis.calls)

    def test_notJSON(self) -> None:
        """
        A value that is not JSON is a miss, with a warning.
        """
        self.redis.data["p:k"] = "{nope"
        self.assertIsNone(self.successResultOf(self.store.get("k")))
        self.assertEqual(len(at_level(self.log, LogLevel.warn)), 1)
        self.assertTrue(self.store.available)

    def test_unencodableKey(self) -> None:
        """
        A key that is not valid Unicode (a lone surrogate) is never stored
        nor found, without calling Redis or starting an outage.
        """
        key = "container/a/\ud800"
        self.assertIsNone(self.successResultOf(self.store.set(key, 1, 10)))
        self.assertIsNone(self.successResultOf(self.store.get(key)))
        self.assertIsNone(self.successResultOf(self.store.delete(key)))
        self.assertEqual(self.redis.calls, [])
        self.assertTrue(self.store.available)

    def test_incr(self) -> None:
        """
        C{incr} runs the counter step on the prefixed key with the TTL in
        milliseconds, and answers the count as an C{int}; C{get} reads it.
        """
        self.assertEqual(self.successResultOf(self.store.incr("rl/a", 250, 6.5)), 250)
        self.assertEqual(self.successResultOf(self.store.incr("rl/a", -50, 6.5)), 200)
        self.assertEqual(self.redis.calls[-1], ("incr", "p:rl/a", -50, 6500, None, 0))
        self.assertEqual(self.successResultOf(self.store.get("rl/a")), 200)
        self.assertEqual(
            self.successResultOf(self.store.incr("rl/a", 1, 1, reset_below=1000, reset_to=5)),
            5)
        self.assertEqual(self.redis.calls[-1], ("incr", "p:rl/a", 1, 1000, 1000, 5))
        self.successResultOf(self.store.incr("rl/b", 1, 0.0001))
        self.assertEqual(self.redis.expiry["p:rl/b"], 1)

    def test_incrBadAnswer(self) -> None:
        """
        An answer that is no integer is no count (C{None}), with a
        warning; it is no outage.
        """
        self.redis.incr = lambda *args: succeed("OK")  # type: ignore[method-assign]
        self.assertIsNone(self.successResultOf(self.store.incr("k", 1, 1)))
        self.assertEqual(len(at_level(self.log, LogLevel.warn)), 1)
        self.assertTrue(self.store.available)

    def test_incrUnencodableKey(self) -> None:
        self.assertIsNone(self.successResultOf(self.store.incr("rl/\ud800", 1, 1)))
        self.assertEqual(self.redis.calls, [])

    def test_notSerialisable(self) -> None:
        """
        A value that is not JSON-serialisable is the caller's bug: C{set}
        fails with L{TypeError}.
        """
        self.failureResultOf(self.store.set("k", object(), 1), TypeError)
        self.assertEqual(self.redis.calls, [])


class ChangeAnnouncementTests(SynchronousTestCase):
    """
    L{RedisInfoStore.changes}: each C{set} and C{delete} is followed by a
    message naming the key, so other processes drop their copies.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.redis = FakeRedis()
        self.store = RedisInfoStore(self.redis, self.clock, key_prefix="p:")

    def test_announced(self) -> None:
        """
        The message goes out after the change, on the channel, from the
        origin; the operation fires only once it went out.
        """
        self.store.changes = ("p:info-changed:0", "me")
        self.successResultOf(self.store.set("account/AUTH_a", {"x": 1}, 10))
        self.successResultOf(self.store.delete("account/AUTH_a"))
        self.assertEqual(
            [call[:2] for call in self.redis.calls],
            [("set", "p:account/AUTH_a"), ("publish", "p:info-changed:0"),
             ("delete", "p:account/AUTH_a"), ("publish", "p:info-changed:0")])
        self.assertEqual(self.redis.calls[1][2], "me account/AUTH_a")
        self.redis.hang = True
        d = self.store.delete("k")
        self.redis.held.pop().callback(1)
        self.assertEqual(self.redis.calls[-1], ("publish", "p:info-changed:0", "me k"))
        self.assertNoResult(d)
        self.redis.held.pop().callback(0)
        self.successResultOf(d)

    def test_readsAndCountsNotAnnounced(self) -> None:
        self.store.changes = ("c", "me")
        self.successResultOf(self.store.get("k"))
        self.successResultOf(self.store.incr("n", 1, 10))
        self.assertEqual([call[0] for call in self.redis.calls], ["get", "incr"])

    def test_notAnnouncedByDefault(self) -> None:
        self.successResultOf(self.store.set("k", 1, 10))
        self.successResultOf(self.store.delete("k"))
        self.assertEqual([call[0] for call in self.redis.calls], ["set", "delete"])


class OutageTests(SynchronousTestCase):
    """
    L{RedisInfoStore}'s timeout and outage policy.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.redis = FakeRedis()
        self.store = RedisInfoStore(
            self.redis, self.clock, timeout=0.25, retry_interval=1.0
        )
        self.log = capture_log(self)

    def warnings(self) -> list[dict[str, Any]]:
        return at_level(self.log, LogLevel.warn)

    def infos(self) -> list[dict[str, Any]]:
        return at_level(self.log, LogLevel.info)

    def start_outage(self) -> None:
        self.redis.broken = True
        self.assertIsNone(self.successResultOf(self.store.get("k")))
        self.assertFalse(self.store.available)

    def test_timeout(self) -> None:
        """
        An operation without an answer fires C{None} after C{timeout}
        seconds, cancelling the command, and starts an outage.
        """
        self.redis.hang = True
        d = self.store.get("k")
        self.clock.advance(0.249)
        self.assertNoResult(d)
        self.clock.advance(0.001)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.redis.cancelled, self.redis.held)
        self.assertFalse(self.store.available)
        [warning] = self.warnings()
        self.assertIn("no answer in 0.25 s", warning["problem"])

    def test_timeoutIgnoringCancel(self) -> None:
        """
        A command that answers when cancelled does not give its late
        answer: the operation timed out.
        """
        stuck: Deferred[Any] = Deferred(lambda d: d.callback('"late"'))
        self.redis.get = lambda key: stuck  # type: ignore[method-assign]
        d = self.store.get("k")
        self.clock.advance(0.25)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertFalse(self.store.available)

    def test_setDeleteTimeout(self) -> None:
        """
        C{set} and C{delete} give up with C{None} too.
        """
        self.redis.hang = True
        sets = self.store.set("k", 1, 10)
        deletes = self.store.delete("k")
        self.clock.advance(0.25)
        self.assertIsNone(self.successResultOf(sets))
        self.assertIsNone(self.successResultOf(deletes))
        self.assertEqual(len(self.warnings()), 1)

    def test_incrOutage(self) -> None:
        """
        C{incr} is no count (C{None}) when Redis fails or is skipped in an
        outage, and its failure starts the outage as any other's.
        """
        self.redis.broken = True
        self.assertIsNone(self.successResultOf(self.store.incr("k", 1, 10)))
        self.assertFalse(self.store.available)
        calls = len(self.redis.calls)
        self.assertIsNone(self.successResultOf(self.store.incr("k", 1, 10)))
        self.assertEqual(len(self.redis.calls), calls)
        self.assertEqual(len(self.warnings()), 1)
        self.redis.broken = False
        self.clock.advance(1.0)
        self.assertEqual(self.successResultOf(self.store.incr("k", 1, 10)), 1)
        self.assertTrue(self.store.available)

    def test_error(self) -> None:
        """
        A failing command is a miss at once, and starts an outage logged
        with its reason.
        """
        self.start_outage()
        [warning] = self.warnings()
        self.assertEqual(warning["problem"], "ConnectionError: Lost connection")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_skipDuringOutage(self) -> None:
        """
        For C{retry_interval} seconds after a failure, operations answer
        C{None} at once without calling Redis, and log nothing more.
        """
        self.start_outage()
        calls = len(self.redis.calls)
        self.redis.broken = False
        self.redis.data["k"] = "1"
        for _ in range(100):
            self.assertIsNone(self.successResultOf(self.store.get("k")))
            self.assertIsNone(self.successResultOf(self.store.set("k", 2, 10)))
            self.assertIsNone(self.successResultOf(self.store.delete("k")))
            self.clock.advance(0.009)
        self.assertEqual(len(self.redis.calls), calls)
        self.assertEqual(len(self.warnings()), 1)

    def test_probeRecovers(self) -> None:
        """
        After C{retry_interval}, one operation tries Redis while the others
        still skip it; its success ends the outage with one info line.
        """
        self.start_outage()
        self.redis.broken = False
        self.redis.hang = True
        self.clock.advance(1.0)
        probe = self.store.get("k")
        other = self.store.get("k")
        self.assertEqual(len(self.redis.held), 1)
        self.assertIsNone(self.successResultOf(other))
        self.redis.held[0].callback('"v"')
        self.assertEqual(self.successResultOf(probe), "v")
        self.assertTrue(self.store.available)
        [back] = self.infos()
        self.assertEqual(back["outage"], 1.0)
        self.assertEqual(back["skipped"], 1)
        self.redis.hang = False
        self.redis.data["twisted-proxy:k"] = '"w"'
        self.assertEqual(self.successResultOf(self.store.get("k")), "w")
        self.assertEqual(len(self.warnings()), 1)

    def test_probeFails(self) -> None:
        """
        A failed probe keeps the outage, logs nothing, and puts the next
        try C{retry_interval} later.
        """
        self.start_outage()
        self.clock.advance(1.0)
        calls = len(self.redis.calls)
        self.assertIsNone(self.successResultOf(self.store.get("k")))
        self.assertEqual(len(self.redis.calls), calls + 1)
        self.clock.advance(0.99)
        self.successResultOf(self.store.get("k"))
        self.assertEqual(len(self.redis.calls), calls + 1)
        self.clock.advance(0.01)
        self.successResultOf(self.store.get("k"))
        self.assertEqual(len(self.redis.calls), calls + 2)
        self.assertEqual(len(self.warnings()), 1)
        self.assertEqual(self.infos(), [])

    def test_probeTimesOut(self) -> None:
        """
        A probe that gets no answer costs its caller C{timeout} at most.
        """
        self.start_outage()
        self.redis.broken = False
        self.redis.hang = True
        self.clock.advance(1.0)
        probe = self.store.get("k")
        self.clock.advance(0.25)
        self.assertIsNone(self.successResultOf(probe))
        self.assertFalse(self.store.available)
        self.assertEqual(len(self.warnings()), 1)

    def test_probeNeedsConnection(self) -> None:
        """
        While the pool has no connection, no probe is made: it could only
        time out.
        """
        self.start_outage()
        self.redis.broken = False
        self.redis.is_connected = False
        self.clock.advance(5)
        calls = len(self.redis.calls)
        self.assertIsNone(self.successResultOf(self.store.get("k")))
        self.assertEqual(len(self.redis.calls), calls)
        self.redis.is_connected = True
        self.successResultOf(self.store.get("k"))
        self.assertEqual(len(self.redis.calls), calls + 1)
        self.assertTrue(self.store.available)

    def test_inFlightDuringOutage(self) -> None:
        """
        Operations begun before the outage began that fail later log
        nothing more; one that succeeds late does not end the outage.
        """
        self.redis.hang = True
        first = self.store.get("a")
        second = self.store.get("b")
        third = self.store.get("c")
        self.redis.held[0].errback(ConnectionError("Lost connection"))
        self.assertIsNone(self.successResultOf(first))
        self.redis.held[1].callback('"late"')
        self.assertEqual(self.successResultOf(second), "late")
        self.assertFalse(self.store.available)
        self.clock.advance(0.25)
        self.assertIsNone(self.successResultOf(third))
        self.assertEqual(len(self.warnings()), 1)
        self.assertEqual(self.infos(), [])

    def test_staleFailureAfterRecovery(self) -> None:
        """
        An operation begun before an outage that times out after the
        outage ended does not start a new one.
        """
        store = RedisInfoStore(self.redis, self.clock, timeout=0.25, retry_interval=0.1)
        self.redis.hang = True
        slow = store.get("a")
        self.redis.hang = False
        self.redis.broken = True
        store.get("b")
        self.redis.broken = False
        self.clock.advance(0.1)
        self.successResultOf(store.get("c"))
        self.assertTrue(store.available)
        self.clock.advance(0.15)
        self.assertIsNone(self.successResultOf(slow))
        self.assertTrue(store.available)
        self.assertEqual(len(self.warnings()), 1)
        self.assertEqual(len(self.infos()), 1)

    def test_callerCancels(self) -> None:
        """
        A caller that cancels gets L{CancelledError}; the command is
        cancelled and Redis is not thought down.
        """
        self.redis.hang = True
        d = self.store.get("k")
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(self.redis.cancelled, self.redis.held)
        self.assertTrue(self.store.available)
        self.assertEqual(self.log, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_probeCancelled(self) -> None:
        """
        A cancelled probe lets the next operation probe.
        """
        self.start_outage()
        self.redis.broken = False
        self.redis.hang = True
        self.clock.advance(1)
        probe = self.store.get("k")
        probe.cancel()
        self.failureResultOf(probe, CancelledError)
        self.store.get("k")
        self.assertEqual(len(self.redis.held), 2)

    def test_close(self) -> None:
        """
        C{close} closes the client; later operations fire C{None} without
        it.
        """
        self.successResultOf(self.store.close())
        self.assertTrue(self.redis.closed)
        self.assertIsNone(self.successResultOf(self.store.get("k")))
        self.assertIsNone(self.successResultOf(self.store.set("k", 1, 1)))
        self.assertEqual(self.redis.calls, [])
        self.assertEqual(self.log, [])


class ParseRedisURLTests(SynchronousTestCase):
    """
    Tests for L{parse_redis_url}.
    """

    def test_full(self) -> None:
        self.assertEqual(
            parse_redis_url("redis://:s%40cret@10.0.0.1:6380/3"),
            ("10.0.0.1", 6380, 3, None, "s@cret"),
        )

    def test_defaults(self) -> None:
        self.assertEqual(
            parse_redis_url("redis://redis.example"), ("redis.example", 6379, 0, None, None)
        )
        self.assertEqual(
            parse_redis_url("redis://127.0.0.1:6379/"), ("127.0.0.1", 6379, 0, None, None)
        )

    def test_user(self) -> None:
        self.assertEqual(
            parse_redis_url("redis://proxy:pw@h/1"), ("h", 6379, 1, "proxy", "pw")
        )

    def test_ipv6(self) -> None:
        self.assertEqual(parse_redis_url("redis://[::1]:7000/0"), ("::1", 7000, 0, None, None))

    def test_bad(self) -> None:
        for url in [
            "http://h/0", "rediss://h/0", "redis:///0", "redis://h:0/0",
            "redis://h:99999/0", "redis://h:x/0", "redis://h/x", "redis://h/-1",
            "redis://h/0?db=1", "redis://user@h/0", "127.0.0.1:6379",
        ]:
            self.assertRaises(ValueError, parse_redis_url, url)


_PIPELINE = """\
[DEFAULT]
swift_dir = /etc/swift

[pipeline:main]
pipeline = cache proxy-server

[app:proxy-server]
use = egg:swift#proxy
"""


class MakeInfoStoreTests(SynchronousTestCase):
    """
    Tests for L{RedisSettings.from_config} and, without Redis, for
    L{make_info_store}.
    """

    def config(self, cache: Optional[str]) -> ProxyConfig:
        directory = self.mktemp()
        os.makedirs(directory)
        path = os.path.join(directory, "proxy-server.conf")
        text = _PIPELINE
        if cache is not None:
            text += "\n[filter:cache]\nuse = egg:swift#memcache\n" + cache
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return load_config(path)

    def test_noSection(self) -> None:
        """
        Without C{[filter:cache]}, the store is a L{MemoryInfoStore}.
        """
        log = capture_log(self)
        config = self.config(None)
        self.assertIsNone(RedisSettings.from_config(config))
        self.assertIsInstance(make_info_store(config, Clock()), MemoryInfoStore)
        [event] = log
        self.assertIn("memory", event["log_format"])

    def test_noURL(self) -> None:
        """
        A C{[filter:cache]} without C{redis_url} (a Swift memcache section)
        keeps the L{MemoryInfoStore}.
        """
        config = self.config("memcache_servers = 127.0.0.1:11211\n")
        self.assertIsInstance(make_info_store(config, Clock()), MemoryInfoStore)

    def test_defaults(self) -> None:
        settings = RedisSettings.from_config(self.config("redis_url = redis://h\n"))
        self.assertEqual(settings, RedisSettings(host="h"))
        assert settings is not None
        self.assertEqual(
            (settings.port, settings.db, settings.pool_size, settings.key_prefix,
             settings.timeout, settings.retry_interval),
            (6379, 0, 10, "twisted-proxy:", 0.25, 1.0),
        )

    def test_options(self) -> None:
        settings = RedisSettings.from_config(
            self.config(
                "redis_url = redis://:pw@10.1.2.3:7000/2\n"
                "redis_pool_size = 3\n"
                "redis_key_prefix = c1:\n"
                "redis_timeout = 0.1\n"
                "redis_retry_interval = 0\n"
            )
        )
        self.assertEqual(
            settings,
            RedisSettings(
                host="10.1.2.3", port=7000, db=2, password="pw", pool_size=3,
                key_prefix="c1:", timeout=0.1, retry_interval=0.0,
            ),
        )
        assert settings is not None
        self.assertEqual(settings.address, "redis://10.1.2.3:7000/2")

    def test_badOptions(self) -> None:
        """
        A bad option is a one-line L{ConfigError} naming it; a bad URL's
        text (it may hold a password) is not repeated.
        """
        for option, value in [
            ("redis_url", "redis://:hunter2@h:x/0"),
            ("redis_pool_size", "0"),
            ("redis_timeout", "0"),
            ("redis_timeout", "nan"),
            ("redis_retry_interval", "-1"),
        ]:
            text = f"{option} = {value}\n"
            if option != "redis_url":
                text += "redis_url = redis://h\n"
            config = self.config(text)
            error = self.assertRaises(ConfigError, RedisSettings.from_config, config)
            self.assertIn(f"[filter:cache] {option}: bad value", str(error))
            self.assertNotIn("hunter2", str(error))
            self.assertNotIn("\n", str(error))
