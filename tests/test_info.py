"""
Tests for L{twisted_proxy.info.cache} and L{twisted_proxy.info.memorystore}.
"""

from __future__ import annotations

import gc
from typing import Any, Callable, Coroutine, Optional

from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_proxy.info.cache import (
    INFO_ENVIRON_KEY,
    AccountInfo,
    ContainerInfo,
    Info,
    InfoCache,
    ObjectInfo,
    account_key,
    container_key,
    headers_to_account_info,
    headers_to_container_info,
    headers_to_object_info,
    same_info,
)
from twisted_proxy.info.memorystore import (
    LayeredInfoStore,
    MemoryInfoStore,
    copier,
    copy_value,
)
from twisted_proxy.interfaces import IInfoStore
from twisted_proxy.swift.cors import CORSInfo
from twisted_proxy.swift.http import HeaderDict
from twisted_proxy.swift.metrics import NullMetrics


class MemoryInfoStoreTests(SynchronousTestCase):
    """
    Tests for L{MemoryInfoStore}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.store = MemoryInfoStore(self.clock)

    def get(self, key: str) -> Any:
        return self.successResultOf(self.store.get(key))

    def test_interface(self) -> None:
        self.assertTrue(verifyObject(IInfoStore, self.store))

    def test_missing(self) -> None:
        """
        A key never set is C{None}.
        """
        self.assertIsNone(self.get("nope"))

    def test_expiry(self) -> None:
        """
        A value is there for C{ttl} seconds, then gone.
        """
        self.assertIsNone(self.successResultOf(self.store.set("k", {"a": 1}, 10)))
        self.clock.advance(9.99)
        self.assertEqual(self.get("k"), {"a": 1})
        self.clock.advance(0.01)
        self.assertIsNone(self.get("k"))

    def test_getNow(self) -> None:
        """
        C{get_now} answers at once what C{get} fires with: a copy of the
        value while it lasts, then C{None}.
        """
        self.assertIsNone(self.store.get_now("k"))
        value = {"a": [1]}
        self.store.set("k", value, 10)
        found = self.store.get_now("k")
        self.assertEqual(found, value)
        self.assertIsNot(found, value)
        assert found is not None
        found["a"].append(2)
        self.assertEqual(self.store.get_now("k"), {"a": [1]})
        self.clock.advance(10)
        self.assertIsNone(self.store.get_now("k"))

    def test_holds(self) -> None:
        """
        C{holds} tells whether a key holds a value equal to the one given,
        until it expires.
        """
        self.assertFalse(self.store.holds("k", {"a": [1]}))
        self.store.set("k", {"a": [1]}, 10)
        self.assertTrue(self.store.holds("k", {"a": [1]}))
        self.assertFalse(self.store.holds("k", {"a": [2]}))
        self.assertTrue(self.store.holds("k", {"a": [2]}, lambda kept, value: True))
        self.clock.advance(10)
        self.assertFalse(self.store.holds("k", {"a": [1]}))

    def test_setAgain(self) -> None:
        """
        Setting a key again replaces its value and its expiry.
        """
        self.store.set("k", 1, 10)
        self.clock.advance(5)
        self.store.set("k", 2, 10)
        self.clock.advance(9)
        self.assertEqual(self.get("k"), 2)

    def test_nonPositiveTtl(self) -> None:
        """
        A ttl of 0 or less stores nothing and forgets an older value.
        """
        self.store.set("k", 1, 10)
        self.store.set("k", 2, 0)
        self.assertIsNone(self.get("k"))
        self.store.set("j", 1, -5)
        self.assertIsNone(self.get("j"))

    def test_delete(self) -> None:
        self.store.set("k", 1, 10)
        self.assertIsNone(self.successResultOf(self.store.delete("k")))
        self.assertIsNone(self.get("k"))
        self.successResultOf(self.store.delete("k"))

    def test_deepCopies(self) -> None:
        """
        Neither the caller's value nor a value read back shares state with
        what is stored.
        """
        value: dict[str, Any] = {"meta": {"color": "blue"}, "list": [1]}
        self.store.set("k", value, 10)
        value["meta"]["color"] = "red"
        read = self.get("k")
        self.assertEqual(read, {"meta": {"color": "blue"}, "list": [1]})
        read["list"].append(2)
        self.assertEqual(self.get("k")["list"], [1])

    def test_copyValue(self) -> None:
        """
        L{copy_value} copies dictionaries and lists at every depth, shares
        what cannot change, and deep-copies anything else (a set, a tuple
        holding a list, a dictionary with such a key) as L{copy.deepcopy}.
        """
        inner = {"b": [1, {"c": "d"}]}
        value: dict[Any, Any] = {"a": inner, "n": None, "f": 1.5, "t": True, "x": b"y",
                                 "s": {1, 2}, "tl": ([1],)}
        copied = copy_value(value)
        self.assertEqual(copied, value)
        self.assertIsNot(copied["a"], inner)
        self.assertIsNot(copied["a"]["b"][1], inner["b"][1])
        self.assertIsNot(copied["s"], value["s"])
        self.assertIsNot(copied["tl"][0], value["tl"][0])
        odd = {(1, (2,)): [3]}
        self.assertEqual(copy_value(odd), odd)
        self.assertIsNot(copy_value(odd)[(1, (2,))], odd[(1, (2,))])
        self.assertEqual(copy_value([inner, "s"]), [inner, "s"])
        self.assertIsNot(copy_value([inner])[0], inner)

    def test_copier(self) -> None:
        """
        L{copier} makes a function that copies its value as L{copy_value}
        does: equal, sharing no container at any depth.
        """
        inner: dict[str, Any] = {"b": [1, {"c": "d"}], "e": ["f"]}
        values: list[Any] = [
            {"a": inner, "flat": {"x": 1}, "n": None, "s": {1, 2}, "tl": ([1],)},
            {"status": 200, "meta": {}, "cors": {"allow_origin": None}},
            {(1, (2,)): [3]}, [inner, "s"], ["s", 1], "text", 3, None,
        ]
        for value in values:
            copied = copier(value)(value)
            self.assertEqual(copied, value)
            self.assertEqual(type(copied), type(value))
            if isinstance(value, (dict, list)):
                self.assertIsNot(copied, value)
        copied = copier(values[0])(values[0])
        for key in ("a", "flat", "s", "tl"):
            self.assertIsNot(copied[key], values[0][key])
        self.assertIsNot(copied["a"]["b"], inner["b"])
        self.assertIsNot(copied["a"]["b"][1], inner["b"][1])
        self.assertIsNot(copied["a"]["e"], inner["e"])
        self.assertIsNot(copied["tl"][0], values[0]["tl"][0])

    def test_sweep(self) -> None:
        """
        Past C{max_entries}, expired entries are swept on the next set.
        """
        store = MemoryInfoStore(self.clock, max_entries=2)
        store.set("a", 1, 1)
        store.set("b", 1, 100)
        self.clock.advance(2)
        store.set("c", 1, 100)
        self.assertEqual(sorted(store._entries), ["b", "c"])

    def incr(self, key: str, delta: int, ttl: float = 10, **reset: int) -> Any:
        return self.successResultOf(self.store.incr(key, delta, ttl, **reset))

    def test_incr(self) -> None:
        """
        C{incr} counts from 0 for a missing key, adds negative deltas too,
        and the count is what C{get} reads.
        """
        self.assertEqual(self.incr("n", 5), 5)
        self.assertEqual(self.incr("n", 7), 12)
        self.assertEqual(self.incr("n", -2), 10)
        self.assertEqual(self.get("n"), 10)

    def test_incrExpiry(self) -> None:
        """
        Each C{incr} keeps the key C{ttl} seconds more; once expired it
        counts from 0 again.
        """
        self.incr("n", 5, ttl=2)
        self.clock.advance(1.5)
        self.assertEqual(self.incr("n", 1, ttl=2), 6)
        self.clock.advance(1.5)
        self.assertEqual(self.incr("n", 1, ttl=2), 7)
        self.clock.advance(2)
        self.assertEqual(self.incr("n", 1, ttl=2), 1)

    def test_incrNotAnInteger(self) -> None:
        """
        A key holding something other than an integer (a bool included)
        counts as 0, and is replaced by the count.
        """
        for value in ({"a": 1}, "12", True, 1.5, None):
            self.successResultOf(self.store.set("k", value, 10))
            self.assertEqual(self.incr("k", 3), 3)

    def test_incrReset(self) -> None:
        """
        A sum below C{reset_below} is replaced by C{reset_to}; one at or
        above it is kept.
        """
        self.incr("n", 100)
        self.assertEqual(self.incr("n", 1, reset_below=101, reset_to=500), 101)
        self.assertEqual(self.incr("n", 1, reset_below=103, reset_to=500), 500)
        self.assertEqual(self.get("n"), 500)
        self.assertEqual(self.incr("missing", 1, reset_below=2, reset_to=7), 7)


class InfoHeadersTests(SynchronousTestCase):
    """
    Tests for the C{headers_to_*_info} functions.
    """

    def test_account(self) -> None:
        info = headers_to_account_info(
            HeaderDict(
                {
                    "X-Account-Container-Count": "3",
                    "X-Account-Object-Count": "bad",
                    "X-Account-Bytes-Used": "10",
                    "X-Account-Meta-Color": "blue",
                    "X-Account-Sysmeta-Thing": "x",
                }
            ),
            204,
        )
        self.assertEqual(info["status"], 204)
        self.assertEqual(info["container_count"], 3)
        self.assertIsNone(info["total_object_count"])
        self.assertEqual(info["bytes"], 10)
        self.assertEqual(info["meta"], {"color": "blue"})
        self.assertEqual(info["sysmeta"], {"thing": "x"})

    def test_container(self) -> None:
        info = headers_to_container_info(
            HeaderDict(
                {
                    "X-Container-Read": ".r:*",
                    "X-Container-Object-Count": "5",
                    "X-Backend-Storage-Policy-Index": "2",
                    "X-Container-Meta-Access-Control-Allow-Origin": "*",
                    "X-Container-Meta-Web-Index": "index.html",
                }
            ),
            200,
        )
        self.assertEqual(info["read_acl"], ".r:*")
        self.assertIsNone(info["write_acl"])
        self.assertEqual(info["object_count"], 5)
        self.assertEqual(info["storage_policy"], "2")
        self.assertEqual(info["cors"]["allow_origin"], "*")
        self.assertEqual(info["meta"]["web-index"], "index.html")
        self.assertEqual(
            headers_to_container_info(HeaderDict(), 404)["storage_policy"], "0"
        )

    def test_object(self) -> None:
        info = headers_to_object_info(
            HeaderDict({"Content-Length": "4", "Etag": "abc", "X-Object-Meta-A": "b"}),
            200,
        )
        self.assertEqual(info["length"], 4)
        self.assertEqual(info["etag"], "abc")
        self.assertEqual(info["meta"], {"a": "b"})

    def test_typedKeys(self) -> None:
        """
        Each info has exactly the keys its L{TypedDict} declares, C{status}
        the only one every info must have.
        """
        for made, kind in ((headers_to_account_info, AccountInfo),
                           (headers_to_container_info, ContainerInfo),
                           (headers_to_object_info, ObjectInfo)):
            info = made(HeaderDict(), 200)
            self.assertEqual(set(info), set(kind.__annotations__) | {"status"}, kind)
            self.assertEqual(kind.__required_keys__, frozenset({"status"}), kind)
        self.assertEqual(set(headers_to_container_info(HeaderDict(), 200)["cors"]),
                         set(CORSInfo.__annotations__))


class Fetcher:
    """
    A fetch function whose calls the test answers.
    """

    def __init__(self) -> None:
        self.calls: list[Deferred[Info]] = []

    def __call__(self) -> "Deferred[Info]":
        d: Deferred[Info] = Deferred()
        self.calls.append(d)
        return d


def answer(status: int) -> AccountInfo:
    return AccountInfo(status=status, meta={"k": "v"})


class _Recorder(NullMetrics):
    """
    Records info lookups, in this proxy's terms and Swift's.
    """

    def __init__(self) -> None:
        self.lookups: list[str] = []
        self.swift: list[tuple[str, str, Optional[int]]] = []

    def info_lookup(self, outcome: str) -> None:
        self.lookups.append(outcome)

    def info_cache(self, server_type: str, state: str, status: Optional[int]) -> None:
        self.swift.append((server_type, state, status))


class SkipCacheTests(SynchronousTestCase):
    """
    With C{account_existence_skip_cache_pct} or
    C{container_existence_skip_cache_pct}, that share of the lookups the
    request cannot answer itself skip the store and ask the storage nodes,
    whose answer refreshes the store; Swift's names for each lookup say
    which it was.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.store = MemoryInfoStore(self.clock)
        self.rolls = [0.5]
        self.recorder = _Recorder()
        self.cache = InfoCache(self.store, account_ttl=60, container_ttl=30,
                               metrics=self.recorder, account_skip=0.25,
                               container_skip=0.0, chance=lambda: self.rolls.pop(0))
        self.fetch = Fetcher()

    def get(self, environ: dict[str, Any], key: str) -> "Deferred[Any]":
        fetch: Callable[[], Any] = self.fetch
        return Deferred.fromCoroutine(self.cache.get(environ, key, fetch))

    def test_skip(self) -> None:
        """
        A roll under the chance fetches though the store has the info, and
        stores what came; a roll over it reads the store.
        """
        self.store.set("account/a", answer(204), 60)
        self.rolls = [0.2, 0.25]
        skipped = self.get({}, "account/a")
        self.fetch.calls[0].callback(answer(200))
        self.assertEqual(self.successResultOf(skipped), answer(200))
        self.assertEqual(self.successResultOf(self.store.get("account/a")), answer(200))
        self.assertEqual(self.successResultOf(self.get({}, "account/a")), answer(200))
        self.assertEqual(len(self.fetch.calls), 1)
        self.assertEqual(self.recorder.swift,
                         [("account", "skip", 200), ("account", "hit", None)])
        self.assertEqual(self.rolls, [])

    def test_requestFirst(self) -> None:
        """
        The request's own copy is used without a roll.
        """
        self.rolls = []
        environ = {INFO_ENVIRON_KEY: {"account/a": answer(204)}}
        self.assertEqual(self.successResultOf(self.get(environ, "account/a")), answer(204))
        self.assertEqual(self.cache.get_now(environ, "account/a"), answer(204))
        self.assertEqual(self.recorder.swift, [("account", "infocache_hit", None)] * 2)

    def test_notAtOnce(self) -> None:
        """
        Lookups that may skip the store never take it at once (C{get_now}):
        only C{get} rolls.
        """
        self.store.set("container/a/c", answer(204), 60)
        self.assertIsNone(self.cache.get_now({}, "container/a/c"))

    def test_miss(self) -> None:
        """
        Containers, with no chance of their own, never skip; a miss is
        named with the storage nodes' status.
        """
        self.rolls = []
        d = self.get({}, "container/a/c")
        self.fetch.calls[0].callback(answer(404))
        self.successResultOf(d)
        self.assertEqual(self.recorder.swift, [("container", "miss", 404)])


class InfoCacheTests(SynchronousTestCase):
    """
    Tests for L{InfoCache}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.store = MemoryInfoStore(self.clock)
        self.cache = InfoCache(self.store, account_ttl=60, container_ttl=30)
        self.fetch = Fetcher()

    def get(
        self, environ: dict[str, Any], key: str, fetch: Callable[[], Any] | None = None
    ) -> "Deferred[dict[str, Any]]":
        return Deferred.fromCoroutine(
            self.cache.get(environ, key, fetch or self.fetch)
        )

    def stored(self, key: str) -> Any:
        return self.successResultOf(self.store.get(key))

    def test_contextFirst(self) -> None:
        """
        Info already in the request's context is used as it is.
        """
        info = answer(200)
        environ = {INFO_ENVIRON_KEY: {"account/a": info}}
        self.store.set("account/a", answer(404), 60)
        self.assertIs(self.successResultOf(self.get(environ, "account/a")), info)
        self.assertEqual(self.fetch.calls, [])

    def test_storeNext(self) -> None:
        """
        Info in the store is used without a fetch, and kept in the request's
        context.
        """
        self.store.set("account/a", answer(204), 60)
        environ: dict[str, Any] = {}
        info = self.successResultOf(self.get(environ, "account/a"))
        self.assertEqual(info, answer(204))
        self.assertEqual(self.fetch.calls, [])
        self.assertIs(environ[INFO_ENVIRON_KEY]["account/a"], info)

    def test_getNow(self) -> None:
        """
        C{get_now} answers from the request's context or a store that
        answers at once, counting a hit and keeping the info in the
        context as C{get} does; on a miss it counts nothing and fetches
        nothing.
        """
        recorder = _Recorder()
        lookups = recorder.lookups
        self.cache.metrics = recorder
        environ: dict[str, Any] = {}
        self.assertIsNone(self.cache.get_now(environ, "account/a"))
        self.assertEqual(lookups, [])
        self.store.set("account/a", answer(204), 60)
        info = self.cache.get_now(environ, "account/a")
        self.assertEqual(info, answer(204))
        self.assertIs(environ[INFO_ENVIRON_KEY]["account/a"], info)
        self.assertIs(self.cache.get_now(environ, "account/a"), info)
        self.assertIs(self.successResultOf(self.get(environ, "account/a")), info)
        self.assertEqual(lookups, ["hit"] * 3)
        self.assertEqual(recorder.swift, [("account", "hit", None)]
                         + [("account", "infocache_hit", None)] * 2)
        self.assertEqual(self.fetch.calls, [])

    def test_getNowWaitingStore(self) -> None:
        """
        A store that has no C{get_now} (one across the network) is never
        asked by C{get_now}: only the request's context answers.
        """
        waiting = _WaitingStore(self.clock)
        cache = InfoCache(waiting, account_ttl=60, container_ttl=30)  # type: ignore[arg-type]
        waiting.memory.set("account/a", answer(204), 60)
        environ: dict[str, Any] = {}
        self.assertIsNone(cache.get_now(environ, "account/a"))
        self.assertEqual(waiting.gets, 0)
        info = self.successResultOf(Deferred.fromCoroutine(
            cache.get(environ, "account/a", self.fetch)))  # type: ignore[type-var]
        self.assertEqual(waiting.gets, 1)
        self.assertIs(cache.get_now(environ, "account/a"), info)

    def test_fetchAndStore(self) -> None:
        """
        A miss fetches; a success is stored for the key kind's ttl and kept
        in the request's context.
        """
        environ: dict[str, Any] = {}
        d = self.get(environ, account_key("a"))
        self.assertNoResult(d)
        self.fetch.calls[0].callback(answer(204))
        self.assertEqual(self.successResultOf(d), answer(204))
        self.assertEqual(environ[INFO_ENVIRON_KEY]["account/a"], answer(204))
        self.clock.advance(59)
        self.assertEqual(self.stored("account/a"), answer(204))
        self.clock.advance(1)
        self.assertIsNone(self.stored("account/a"))

    def test_containerTtl(self) -> None:
        """
        Container info is kept for the container ttl.
        """
        d = self.get({}, container_key("a", "c"))
        self.fetch.calls[0].callback(answer(200))
        self.successResultOf(d)
        self.clock.advance(29)
        self.assertIsNotNone(self.stored("container/a/c"))
        self.clock.advance(1)
        self.assertIsNone(self.stored("container/a/c"))

    def test_notFoundShort(self) -> None:
        """
        A 404 (or 410) is stored for a tenth of the ttl.
        """
        for status in (404, 410):
            key = f"account/{status}"
            d = self.get({}, key)
            self.fetch.calls[-1].callback(answer(status))
            self.successResultOf(d)
            self.clock.advance(5.9)
            self.assertEqual(self.stored(key)["status"], status)
            self.clock.advance(0.1)
            self.assertIsNone(self.stored(key))

    def test_errorsNotStored(self) -> None:
        """
        A 5xx (or any other non-success but 404/410) is kept for this
        request only; the next request fetches again.
        """
        for status in (503, 500, 401, 301):
            key = f"container/a/{status}"
            environ: dict[str, Any] = {}
            d = self.get(environ, key)
            self.fetch.calls[-1].callback(answer(status))
            self.assertEqual(self.successResultOf(d)["status"], status)
            self.assertIsNone(self.stored(key))
            self.assertEqual(environ[INFO_ENVIRON_KEY][key]["status"], status)
            calls = len(self.fetch.calls)
            self.get({}, key)
            self.assertEqual(len(self.fetch.calls), calls + 1)

    def test_singleFlight(self) -> None:
        """
        Concurrent misses for one key share one fetch; each caller gets its
        own copy of the answer.
        """
        environs: list[dict[str, Any]] = [{} for _ in range(5)]
        ds = [self.get(environ, "container/a/c") for environ in environs]
        self.assertEqual(len(self.fetch.calls), 1)
        for d in ds:
            self.assertNoResult(d)
        self.fetch.calls[0].callback(answer(200))
        results = [self.successResultOf(d) for d in ds]
        for result in results:
            self.assertEqual(result, answer(200))
        results[0]["meta"]["k"] = "changed"
        self.assertEqual(results[1]["meta"]["k"], "v")
        self.assertEqual(self.stored("container/a/c"), answer(200))
        # Later gets come from the store.
        self.successResultOf(self.get({}, "container/a/c"))
        self.assertEqual(len(self.fetch.calls), 1)

    def test_differentKeysFetchApart(self) -> None:
        """
        Misses for different keys are separate fetches.
        """
        self.get({}, "container/a/c")
        self.get({}, "container/a/d")
        self.assertEqual(len(self.fetch.calls), 2)

    def test_fetchFails(self) -> None:
        """
        A failed fetch fails every waiting caller with its error, stores
        nothing, and leaves no unhandled error behind; the next get fetches
        again.
        """
        ds = [self.get({}, "account/a") for _ in range(3)]
        self.fetch.calls[0].errback(RuntimeError("no nodes"))
        for d in ds:
            self.failureResultOf(d, RuntimeError)
        self.assertIsNone(self.stored("account/a"))
        self.get({}, "account/a")
        self.assertEqual(len(self.fetch.calls), 2)

    def test_loneFetchFails(self) -> None:
        """
        A failed fetch with one caller fails that caller, and no unhandled
        error is logged when the flight is collected.
        """
        d = self.get({}, "account/a", lambda: fail(RuntimeError("down")))
        self.failureResultOf(d, RuntimeError)
        del d
        gc.collect()
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_synchronousFetch(self) -> None:
        """
        A fetch that answers at once works, as a Deferred or a coroutine.
        """
        self.assertEqual(
            self.successResultOf(self.get({}, "account/a", lambda: succeed(answer(200)))),
            answer(200),
        )

        async def coroutine() -> Info:
            return answer(204)

        fetch: Callable[[], Coroutine[Any, Any, Info]] = coroutine
        self.assertEqual(
            self.successResultOf(self.get({}, "account/b", fetch)), answer(204)
        )

    def test_cancelOneWaiter(self) -> None:
        """
        A caller that gives up does not cancel the fetch others wait for.
        """
        first = self.get({}, "account/a")
        second = self.get({}, "account/a")
        first.cancel()
        self.failureResultOf(first, CancelledError)
        self.assertFalse(self.fetch.calls[0].called)
        self.fetch.calls[0].callback(answer(200))
        self.assertEqual(self.successResultOf(second), answer(200))
        self.assertEqual(self.stored("account/a"), answer(200))

    def test_cancelAllWaiters(self) -> None:
        """
        When every caller gives up, the fetch still completes and its answer
        is stored for later requests.
        """
        d = self.get({}, "account/a")
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.fetch.calls[0].callback(answer(200))
        self.assertEqual(self.stored("account/a"), answer(200))

    def test_invalidate(self) -> None:
        """
        L{InfoCache.invalidate} forgets the key in the request's context and
        in the store.
        """
        environ: dict[str, Any] = {}
        self.cache.remember(environ, "account/a", answer(200))
        self.store.set("account/a", answer(200), 60)
        self.successResultOf(
            Deferred.fromCoroutine(self.cache.invalidate(environ, "account/a"))
        )
        self.assertNotIn("account/a", environ[INFO_ENVIRON_KEY])
        self.assertIsNone(self.stored("account/a"))

    def test_invalidateDuringFetch(self) -> None:
        """
        A fetch in flight when its key is invalidated answers its waiters
        but is not stored, and later gets fetch afresh.
        """
        waiting = self.get({}, "container/a/c")
        self.successResultOf(
            Deferred.fromCoroutine(self.cache.invalidate({}, "container/a/c"))
        )
        after = self.get({}, "container/a/c")
        self.assertEqual(len(self.fetch.calls), 2)
        self.fetch.calls[0].callback(answer(404))
        self.assertEqual(self.successResultOf(waiting)["status"], 404)
        self.assertIsNone(self.stored("container/a/c"))
        self.fetch.calls[1].callback(answer(204))
        self.assertEqual(self.successResultOf(after)["status"], 204)
        self.assertEqual(self.stored("container/a/c")["status"], 204)

    def test_store(self) -> None:
        """
        L{InfoCache.store} keeps info in the request's context, and in the
        store when worth keeping.
        """
        environ: dict[str, Any] = {}
        info = answer(204)
        self.successResultOf(
            Deferred.fromCoroutine(self.cache.store(environ, "account/a", info))
        )
        self.assertIs(environ[INFO_ENVIRON_KEY]["account/a"], info)
        self.assertEqual(self.stored("account/a"), info)
        self.successResultOf(
            Deferred.fromCoroutine(self.cache.store(environ, "account/b", answer(503)))
        )
        self.assertEqual(environ[INFO_ENVIRON_KEY]["account/b"]["status"], 503)
        self.assertIsNone(self.stored("account/b"))

    def test_storeUnchangedSkipsSharedStore(self) -> None:
        """
        Over a L{LayeredInfoStore}, L{InfoCache.store} of info equal to the
        copy this process keeps writes nothing: not until that copy
        expires (C{local_ttl}), is dropped on another process's word, or
        differs.
        """
        shared = _RecordingStore(self.clock)
        cache = InfoCache(LayeredInfoStore(shared, self.clock, local_ttl=1.0),
                          account_ttl=60, container_ttl=30)

        def store(info: Info) -> None:
            environ: dict[str, Any] = {}
            self.successResultOf(Deferred.fromCoroutine(
                cache.store(environ, "container/a/c", info)))
            self.assertIs(environ[INFO_ENVIRON_KEY]["container/a/c"], info)

        store(answer(200))
        store(answer(200))
        self.assertEqual(shared.sets, [("container/a/c", answer(200), 30)])
        store(answer(204))
        self.assertEqual(len(shared.sets), 2)
        self.clock.advance(1.0)
        store(answer(204))
        self.assertEqual(shared.sets[2:], [("container/a/c", answer(204), 30)])
        cache._store.forget("container/a/c")  # type: ignore[attr-defined]
        store(answer(204))
        self.assertEqual(len(shared.sets), 4)

    def test_storeSameButCreatedAt(self) -> None:
        """
        Container info that differs from the copy kept only in its
        C{created_at} (another replica answered) is not written again;
        info that differs in anything else is.
        """
        shared = _RecordingStore(self.clock)
        cache = InfoCache(LayeredInfoStore(shared, self.clock, local_ttl=1.0),
                          account_ttl=60, container_ttl=30)
        one = ContainerInfo(status=200, created_at="1.00000", object_count=1)
        other = ContainerInfo(status=200, created_at="1.00010", object_count=1)
        more = ContainerInfo(status=200, created_at="1.00010", object_count=2)
        for info in (one, other, more):
            self.successResultOf(Deferred.fromCoroutine(
                cache.store({}, "container/a/c", info)))
        self.assertEqual([value for _key, value, _ttl in shared.sets], [one, more])

    def test_sameInfo(self) -> None:
        """
        L{same_info}: equal, or equal but for C{created_at}.
        """
        self.assertTrue(same_info({"status": 200}, {"status": 200}))
        self.assertTrue(same_info({"status": 200, "created_at": "1"},
                                  {"status": 200, "created_at": "2"}))
        self.assertFalse(same_info({"status": 200, "created_at": "1"},
                                   {"status": 404, "created_at": "2"}))
        self.assertFalse(same_info({"status": 200}, {"status": 204}))
        self.assertFalse(same_info([["a", "b"]], [["a", "c"]]))

    def test_storeUnchangedNotKeeping(self) -> None:
        """
        A L{LayeredInfoStore} that keeps no copies (no word of changes, or
        C{local_ttl} 0), and a plain L{MemoryInfoStore}, get every store.
        """
        shared = _RecordingStore(self.clock)
        layered = LayeredInfoStore(shared, self.clock, local_ttl=1.0)
        layered.keeping = False
        for store in (layered, LayeredInfoStore(shared, self.clock, local_ttl=0), shared):
            cache = InfoCache(store, account_ttl=60, container_ttl=30)
            for _ in range(2):
                self.successResultOf(Deferred.fromCoroutine(
                    cache.store({}, "account/a", answer(200))))
        self.assertEqual(len(shared.sets), 6)

    def test_remember(self) -> None:
        """
        L{InfoCache.remember} is for this request only.
        """
        environ: dict[str, Any] = {}
        self.cache.remember(environ, "account/a", answer(200))
        self.assertEqual(
            self.successResultOf(self.get(environ, "account/a")), answer(200)
        )
        self.assertIsNone(self.stored("account/a"))
        self.assertEqual(self.fetch.calls, [])


class _CountingStore(MemoryInfoStore):
    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.gets = 0

    def get(self, key: str):  # type: ignore[no-untyped-def]
        self.gets += 1
        return super().get(key)


class _RecordingStore(MemoryInfoStore):
    """
    A memory store that records every C{set}.
    """

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.sets: list[tuple[str, Any, float]] = []

    def set(self, key: str, value: Any, ttl: float) -> "Deferred[None]":
        self.sets.append((key, copy_value(value), ttl))
        return super().set(key, value, ttl)


class _WaitingStore:
    """
    A store that only answers with L{Deferred}s, as one across the network
    does: it has no C{get_now}.
    """

    def __init__(self, clock: Clock) -> None:
        self.memory = MemoryInfoStore(clock)
        self.gets = 0

    def get(self, key: str) -> "Deferred[Any]":
        self.gets += 1
        return self.memory.get(key)

    def set(self, key: str, value: Any, ttl: float) -> "Deferred[None]":
        return self.memory.set(key, value, ttl)


class LayeredInfoStoreTests(SynchronousTestCase):
    """
    L{LayeredInfoStore}: a short local tier in front of a shared store.
    """

    def test_hitsSkipTheSharedStore(self) -> None:
        clock = Clock()
        shared = _CountingStore(clock)
        store = LayeredInfoStore(shared, clock, local_ttl=1.0)
        self.successResultOf(shared.set("k", {"v": 1}, 60))
        self.assertEqual(self.successResultOf(store.get("k")), {"v": 1})
        self.assertEqual(self.successResultOf(store.get("k")), {"v": 1})
        self.assertEqual(shared.gets, 1)
        clock.advance(1.5)
        self.assertEqual(self.successResultOf(store.get("k")), {"v": 1})
        self.assertEqual(shared.gets, 2)

    def test_getNowLocalOnly(self) -> None:
        """
        C{get_now} answers from this process's copy only: C{None} when it
        keeps none (the shared store is not asked), or keeps nothing at
        all.
        """
        clock = Clock()
        shared = _CountingStore(clock)
        store = LayeredInfoStore(shared, clock, local_ttl=1.0)
        self.successResultOf(shared.set("k", {"v": 1}, 60))
        self.assertIsNone(store.get_now("k"))
        self.assertEqual(shared.gets, 0)
        self.successResultOf(store.get("k"))
        self.assertEqual(store.get_now("k"), {"v": 1})
        store.keeping = False
        self.assertIsNone(store.get_now("k"))
        self.assertIsNone(LayeredInfoStore(shared, clock, local_ttl=0).get_now("k"))
        self.assertEqual(shared.gets, 1)

    def test_ownWritesAreSeenAtOnce(self) -> None:
        clock = Clock()
        shared = _CountingStore(clock)
        store = LayeredInfoStore(shared, clock, local_ttl=5.0)
        self.successResultOf(store.set("k", "old", 60))
        self.assertEqual(self.successResultOf(store.get("k")), "old")
        self.successResultOf(store.set("k", "new", 60))
        self.assertEqual(self.successResultOf(store.get("k")), "new")
        self.successResultOf(store.delete("k"))
        self.assertIsNone(self.successResultOf(store.get("k")))
        self.assertIsNone(self.successResultOf(shared.get("k")))

    def test_otherWritersWithinLocalTTL(self) -> None:
        """
        A change made by another process (straight to the shared store) is
        seen once the local copy expires.
        """
        clock = Clock()
        shared = _CountingStore(clock)
        store = LayeredInfoStore(shared, clock, local_ttl=1.0)
        self.successResultOf(store.set("k", "old", 60))
        self.successResultOf(shared.set("k", "new", 60))
        self.assertEqual(self.successResultOf(store.get("k")), "old")
        clock.advance(1.01)
        self.assertEqual(self.successResultOf(store.get("k")), "new")

    def test_incrShared(self) -> None:
        """
        Counters live in the shared store only: two processes' stores over
        one shared store count together, and a value this process had kept
        locally under the key is dropped.
        """
        clock = Clock()
        shared = MemoryInfoStore(clock)
        one = LayeredInfoStore(shared, clock, local_ttl=5.0)
        two = LayeredInfoStore(shared, clock, local_ttl=5.0)
        self.successResultOf(one.set("n", 10, 60))
        self.assertEqual(self.successResultOf(one.get("n")), 10)
        self.assertEqual(self.successResultOf(one.incr("n", 1, 60)), 11)
        self.assertEqual(self.successResultOf(two.incr("n", 1, 60)), 12)
        self.assertEqual(
            self.successResultOf(one.incr("n", 1, 60, reset_below=100, reset_to=200)), 200)
        self.assertEqual(self.successResultOf(one.get("n")), 200)

    def test_forget(self) -> None:
        """
        L{LayeredInfoStore.forget} drops one copy (another process changed
        it), L{LayeredInfoStore.forget_all} every copy: the next read of
        each goes to the shared store.
        """
        clock = Clock()
        shared = _CountingStore(clock)
        store = LayeredInfoStore(shared, clock, local_ttl=60.0)
        for key in ("a", "b"):
            self.successResultOf(store.set(key, "old", 600))
            self.successResultOf(shared.set(key, "new", 600))
        store.forget("a")
        self.assertEqual(self.successResultOf(store.get("a")), "new")
        self.assertEqual(self.successResultOf(store.get("b")), "old")
        self.successResultOf(shared.set("a", "newer", 600))
        store.forget_all()
        self.assertEqual(self.successResultOf(store.get("a")), "newer")
        self.assertEqual(self.successResultOf(store.get("b")), "new")

    def test_notKeeping(self) -> None:
        """
        While L{LayeredInfoStore.keeping} is off, no copy is kept or used:
        every read goes to the shared store, writes still reach it.
        """
        clock = Clock()
        shared = _CountingStore(clock)
        store = LayeredInfoStore(shared, clock, local_ttl=60.0)
        self.successResultOf(store.set("k", "kept", 600))
        store.keeping = False
        self.successResultOf(shared.set("k", "shared", 600))
        self.assertEqual(self.successResultOf(store.get("k")), "shared")
        self.successResultOf(store.set("k", "written", 600))
        self.successResultOf(store.get("k"))
        self.assertEqual(self.successResultOf(shared.get("k")), "written")
        self.assertEqual(shared.gets, 3)

    def test_holdsRecent(self) -> None:
        """
        C{holds_recent} is true only while this process keeps a copy of the
        key equal to the value: one it wrote or read within C{local_ttl},
        not forgotten since; never while it keeps no copies.
        """
        clock = Clock()
        shared = _CountingStore(clock)
        store = LayeredInfoStore(shared, clock, local_ttl=1.0)
        self.assertFalse(store.holds_recent("k", {"v": 1}))
        self.successResultOf(store.set("k", {"v": 1}, 60))
        self.assertTrue(store.holds_recent("k", {"v": 1}))
        self.assertFalse(store.holds_recent("k", {"v": 2}))
        clock.advance(1.0)
        self.assertFalse(store.holds_recent("k", {"v": 1}))
        self.successResultOf(store.get("k"))
        self.assertTrue(store.holds_recent("k", {"v": 1}))
        store.forget("k")
        self.assertFalse(store.holds_recent("k", {"v": 1}))
        self.successResultOf(store.get("k"))
        store.keeping = False
        self.assertFalse(store.holds_recent("k", {"v": 1}))
        none = LayeredInfoStore(shared, clock, local_ttl=0)
        self.successResultOf(none.set("k", {"v": 1}, 60))
        self.assertFalse(none.holds_recent("k", {"v": 1}))

    def test_noLocalTier(self) -> None:
        clock = Clock()
        shared = _CountingStore(clock)
        store = LayeredInfoStore(shared, clock, local_ttl=0)
        self.successResultOf(store.set("k", 1, 60))
        self.successResultOf(store.get("k"))
        self.successResultOf(store.get("k"))
        self.assertEqual(shared.gets, 2)
