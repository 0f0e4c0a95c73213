"""
Tests for L{twisted_proxy.swift.ratelimit} and
L{twisted_proxy.plugins.ratelimit}: the arithmetic, and the plugin on a
L{Clock} over memory and (fake) Redis counters.
"""

from __future__ import annotations

from typing import Any, Optional

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.task import Clock
from twisted.logger import LogLevel
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.doubles import partial_context, remember_info
from tests.test_redisstore import FakeRedis, at_level
from tests.test_redisstore import capture_log as capture_redis_log
from twisted_proxy.config import ConfigError, ProxySettings
from twisted_proxy.info.cache import InfoCache
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.info.redisstore import RedisInfoStore
from twisted_proxy.interfaces import (
    IInfoStore,
    IProxyApplication,
    IProxyFilter,
    IProxyPluginFactory,
)
from twisted_proxy.plugins.ratelimit import HANDLED_KEY, RateLimit, ratelimitPlugin
from twisted_proxy.swift.constraints import Constraints
from twisted_proxy.swift.http import HTML, HeaderDict, SwiftRequest, SwiftResponse
from twisted_proxy.swift.metrics import NullMetrics
from twisted_proxy.swift.ratelimit import (
    RateLimitSettings,
    SizeLimits,
    counter_step,
    needs_container_size,
    rate_keys,
    sleep_needed,
)

#: A time like the real clock's, so that counters are far from 0.
_EPOCH = 1_700_000_000.0

_NAMESPACE = "twisted_proxy.plugins.ratelimit"


def capture_log(test: SynchronousTestCase) -> list[dict[str, Any]]:
    """
    What the plugin logs during C{test}.
    """
    return capture_redis_log(test, _NAMESPACE)


class SizeLimitsTests(SynchronousTestCase):
    """
    L{SizeLimits}: C{container_ratelimit_N} interpolation.
    """

    def test_swiftExample(self) -> None:
        """
        Swift's documented example: below the first size nothing, then
        interpolated, then the last rate.
        """
        limits = SizeLimits.from_conf({"container_ratelimit_100": "100",
                                       "container_ratelimit_200": "50",
                                       "container_ratelimit_500": "20"},
                                      "container_ratelimit_")
        self.assertEqual(limits.points, ((100, 100.0), (200, 50.0), (500, 20.0)))
        for size, rate in [(99, None), (100, 100.0), (150, 75.0), (200, 50.0),
                           (350, 35.0), (500, 20.0), (1000, 20.0)]:
            self.assertEqual(limits.rate_for(size), rate, size)

    def test_sampleConfig(self) -> None:
        """
        Swift's sample configuration: a container of 5 objects gets 75.
        """
        limits = SizeLimits.from_conf({"container_ratelimit_0": "100",
                                       "container_ratelimit_10": "50",
                                       "container_ratelimit_50": "20"},
                                      "container_ratelimit_")
        self.assertEqual(limits.rate_for(5), 75.0)

    def test_emptyOrUnknown(self) -> None:
        """
        As in Swift, an empty container (0 is false) or one of unknown size
        is not limited, even with a limit for size 0.
        """
        limits = SizeLimits.from_conf({"container_ratelimit_0": "100"},
                                      "container_ratelimit_")
        self.assertIsNone(limits.rate_for(0))
        self.assertIsNone(limits.rate_for(None))
        self.assertEqual(limits.rate_for(1), 100.0)
        self.assertIsNone(SizeLimits().rate_for(10))

    def test_prefixes(self) -> None:
        """
        Listing limits are not container limits, nor the other way round;
        other options are ignored.
        """
        conf = {"container_ratelimit_10": "5", "container_listing_ratelimit_20": "7",
                "account_ratelimit": "3"}
        self.assertEqual(SizeLimits.from_conf(conf, "container_ratelimit_").points,
                         ((10, 5.0),))
        self.assertEqual(SizeLimits.from_conf(conf, "container_listing_ratelimit_").points,
                         ((20, 7.0),))

    def test_asInfo(self) -> None:
        limits = SizeLimits(((0, 100.0), (10, 50.0)))
        self.assertEqual(limits.as_info(), [[0, 100.0], [10, 50.0]])

    def test_bad(self) -> None:
        """
        A size that is no integer, a size given twice, and a rate that is
        not a finite number of 0 or more are refused, naming the option.
        """
        for conf in [{"container_ratelimit_x": "1"}, {"container_ratelimit_": "1"},
                     {"container_ratelimit_10": "1", "container_ratelimit_010": "2"},
                     {"container_ratelimit_10": "fast"}, {"container_ratelimit_10": "-1"},
                     {"container_ratelimit_10": "nan"}, {"container_ratelimit_10": "inf"}]:
            with self.assertRaises(ValueError) as caught:
                SizeLimits.from_conf(conf, "container_ratelimit_")
            self.assertIn("container_ratelimit_", str(caught.exception))

    @given(st.dictionaries(st.integers(0, 10_000), st.floats(0, 1000), min_size=1,
                           max_size=6),
           st.integers(1, 20_000))
    def test_betweenNeighbours(self, points: dict[int, float], size: int) -> None:
        """
        A size's rate lies between the rates of the sizes around it, and is
        a size's own rate at that size.
        """
        limits = SizeLimits(tuple(sorted(points.items())))
        rate = limits.rate_for(size)
        lower = [s for s in points if s <= size]
        if not lower:
            self.assertIsNone(rate)
            return
        assert rate is not None
        below = max(lower)
        upper = [s for s in points if s > size]
        if size == below or not upper:
            self.assertEqual(rate, points[below])
            return
        low, high = sorted((points[below], points[min(upper)]))
        self.assertTrue(low - 1e-9 <= rate <= high + 1e-9, (rate, low, high))


class SettingsTests(SynchronousTestCase):
    """
    L{RateLimitSettings.from_conf}.
    """

    def test_defaults(self) -> None:
        settings = RateLimitSettings.from_conf({})
        self.assertEqual(settings, RateLimitSettings())
        self.assertEqual(
            (settings.account_ratelimit, settings.max_sleep_time_seconds,
             settings.log_sleep_time_seconds, settings.clock_accuracy,
             settings.rate_buffer_seconds),
            (0.0, 60.0, 0.0, 1000, 5))

    def test_options(self) -> None:
        settings = RateLimitSettings.from_conf({
            "account_ratelimit": "2.5", "max_sleep_time_seconds": "3",
            "log_sleep_time_seconds": "0.5", "clock_accuracy": "100",
            "rate_buffer_seconds": "0", "account_whitelist": " a, b,,",
            "account_blacklist": "c", "container_ratelimit_5": "10",
            "container_listing_ratelimit_7": "20", "use": "egg:swift#ratelimit"})
        self.assertEqual(settings.account_ratelimit, 2.5)
        self.assertEqual(settings.max_sleep_time_seconds, 3.0)
        self.assertEqual(settings.log_sleep_time_seconds, 0.5)
        self.assertEqual(settings.clock_accuracy, 100)
        self.assertEqual(settings.rate_buffer_seconds, 0)
        self.assertEqual(settings.account_whitelist, {"a", "b"})
        self.assertEqual(settings.account_blacklist, {"c"})
        self.assertEqual(settings.container_limits.points, ((5, 10.0),))
        self.assertEqual(settings.listing_limits.points, ((7, 20.0),))

    def test_bad(self) -> None:
        """
        What Swift fails on (integers that are not, numbers that are not),
        and values that make no sense, are refused naming the option.
        """
        for option, value in [("account_ratelimit", "x"), ("account_ratelimit", "-1"),
                              ("max_sleep_time_seconds", "inf"),
                              ("log_sleep_time_seconds", "nan"),
                              ("clock_accuracy", "1.5"), ("clock_accuracy", "0"),
                              ("clock_accuracy", str(10**10)),
                              ("rate_buffer_seconds", "5.5"), ("rate_buffer_seconds", "-1")]:
            with self.assertRaises(ValueError) as caught:
                RateLimitSettings.from_conf({option: value})
            self.assertIn(option, str(caught.exception))


class RateKeysTests(SynchronousTestCase):
    """
    L{rate_keys} and L{needs_container_size}: which counters a request
    moves.
    """

    settings = RateLimitSettings(
        account_ratelimit=5.0,
        container_limits=SizeLimits(((10, 20.0),)),
        listing_limits=SizeLimits(((10, 30.0),)),
    )

    def keys(self, method: str, container: Optional[str] = None, obj: Optional[str] = None,
             size: Optional[int] = None, global_ratelimit: Optional[str] = None,
             settings: Optional[RateLimitSettings] = None) -> list[tuple[str, float]]:
        return rate_keys(settings or self.settings, method, "AUTH_a", container, obj, size,
                         global_ratelimit)

    def test_accountRatelimit(self) -> None:
        """
        Container PUT and DELETE, and nothing else, under
        C{account_ratelimit}; none when it is 0.
        """
        for method in ("PUT", "DELETE"):
            self.assertEqual(self.keys(method, "c"), [("ratelimit/AUTH_a", 5.0)])
        for method in ("POST", "GET", "HEAD", "COPY"):
            self.assertEqual(self.keys(method, "c"), [])
        self.assertEqual(self.keys("PUT"), [])
        self.assertEqual(self.keys("PUT", "c", settings=RateLimitSettings()), [])

    def test_containerRatelimit(self) -> None:
        """
        Object writes, COPY included, by container size; not reads, not
        small containers.
        """
        for method in ("PUT", "DELETE", "POST", "COPY"):
            self.assertEqual(self.keys(method, "c", "o", 10), [("ratelimit/AUTH_a/c", 20.0)])
        self.assertEqual(self.keys("GET", "c", "o", 10), [])
        self.assertEqual(self.keys("HEAD", "c", "o", 10), [])
        self.assertEqual(self.keys("PUT", "c", "o", 9), [])

    def test_listingRatelimit(self) -> None:
        self.assertEqual(self.keys("GET", "c", None, 11),
                         [("ratelimit_listing/AUTH_a/c", 30.0)])
        self.assertEqual(self.keys("HEAD", "c", None, 11), [])
        self.assertEqual(self.keys("GET", "c", None, 1), [])

    def test_globalWriteRatelimit(self) -> None:
        """
        The account's sysmeta limits every write when it is a number above
        0; it comes after the other counters.
        """
        self.assertEqual(self.keys("POST", None, None, None, "2"),
                         [("ratelimit/global-write/AUTH_a", 2.0)])
        self.assertEqual(self.keys("PUT", "c", None, None, "0.5"),
                         [("ratelimit/AUTH_a", 5.0), ("ratelimit/global-write/AUTH_a", 0.5)])
        self.assertEqual(self.keys("DELETE", "c", "o", 10, "1e1"),
                         [("ratelimit/AUTH_a/c", 20.0), ("ratelimit/global-write/AUTH_a", 10.0)])
        for value in ("0", "-1", "fast", "", "nan", "WHITELIST"):
            self.assertEqual(self.keys("POST", "c", "o", None, value), [], value)
        self.assertEqual(self.keys("GET", "c", "o", None, "2"), [])

    def test_needsContainerSize(self) -> None:
        """
        The container is looked up only where a limit depends on its size.
        """
        settings = self.settings
        self.assertTrue(needs_container_size(settings, "PUT", "c", "o"))
        self.assertTrue(needs_container_size(settings, "GET", "c", None))
        self.assertFalse(needs_container_size(settings, "GET", "c", "o"))
        self.assertFalse(needs_container_size(settings, "PUT", "c", None))
        self.assertFalse(needs_container_size(settings, "PUT", None, None))
        bare = RateLimitSettings(account_ratelimit=1.0)
        self.assertFalse(needs_container_size(bare, "PUT", "c", "o"))
        self.assertFalse(needs_container_size(bare, "GET", "c", None))


class CounterTests(SynchronousTestCase):
    """
    L{counter_step} and L{sleep_needed}: one counter's arithmetic, over a
    L{MemoryInfoStore}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(_EPOCH)
        self.store = MemoryInfoStore(self.clock)

    def request(self, settings: RateLimitSettings, rate: float) -> Optional[float]:
        step = counter_step(settings, self.clock.seconds(), rate)
        counted = self.successResultOf(
            self.store.incr("k", step.interval, step.ttl, step.reset_below, step.reset_to))
        assert counted is not None
        seconds = sleep_needed(settings, step, counted)
        if seconds is None:
            self.store.incr("k", -step.interval, step.ttl)
        return seconds

    def test_step(self) -> None:
        settings = RateLimitSettings(max_sleep_time_seconds=10, rate_buffer_seconds=5)
        step = counter_step(settings, 1000.5, 4)
        self.assertEqual((step.now, step.interval, step.reset_below, step.reset_to),
                         (1_000_500, 250, 995_500, 1_000_750))
        self.assertEqual(step.ttl, 10 + 0.25 + 5 + 1)

    def test_tinyRate(self) -> None:
        """
        A rate below one request in three years counts as that rate, so
        that the counter and its lifetime stay within 63 bits.
        """
        step = counter_step(RateLimitSettings(), _EPOCH, 1e-300)
        self.assertEqual(step.interval, 10**8 * 1000)
        self.assertLess(step.ttl, 4 * 10**8)
        huge = counter_step(RateLimitSettings(max_sleep_time_seconds=1e300), _EPOCH, 1)
        self.assertLess(huge.ttl, 4 * 10**8)

    def test_evenlySpaced(self) -> None:
        """
        Requests at once wait one interval more each.
        """
        settings = RateLimitSettings()
        self.assertEqual([self.request(settings, 4) for _ in range(4)],
                         [0.0, 0.25, 0.5, 0.75])

    def test_maxSleep(self) -> None:
        """
        A wait within 0.01 s of C{max_sleep_time_seconds} is refused, and
        takes its interval back: the next request may wait as long.
        """
        settings = RateLimitSettings(max_sleep_time_seconds=1)
        waits = [self.request(settings, 4) for _ in range(6)]
        self.assertEqual(waits, [0.0, 0.25, 0.5, 0.75, None, None])
        self.clock.advance(0.5)
        self.assertEqual(self.request(settings, 4), 0.5)

    def test_zeroMaxSleep(self) -> None:
        """
        C{max_sleep_time_seconds} of 0 refuses everything, as in Swift.
        """
        self.assertIsNone(self.request(RateLimitSettings(max_sleep_time_seconds=0), 4))

    @given(st.lists(st.floats(0, 3), min_size=1, max_size=40), st.integers(0, 3),
           st.sampled_from([0.5, 2.0, 10.0]))
    def test_rateHeld(self, gaps: list[float], buffer: int, rate: float) -> None:
        """
        Whatever the arrivals, the requests let through (at the time they
        arrive plus their wait) are never more, in any window of C{W}
        seconds, than C{(W + rate_buffer_seconds) * rate + 2}: as in
        Swift, a counter is reset only once it is more than
        C{rate_buffer_seconds} behind after the request's own interval, so
        a burst may use one interval more than the buffer.
        """
        clock = Clock()
        clock.advance(_EPOCH)
        store = MemoryInfoStore(clock)
        settings = RateLimitSettings(rate_buffer_seconds=buffer, max_sleep_time_seconds=5)
        starts = []
        for gap in gaps:
            clock.advance(gap)
            step = counter_step(settings, clock.seconds(), rate)
            counted = self.successResultOf(
                store.incr("k", step.interval, step.ttl, step.reset_below, step.reset_to))
            assert counted is not None
            seconds = sleep_needed(settings, step, counted)
            if seconds is None:
                store.incr("k", -step.interval, step.ttl)
            else:
                starts.append(clock.seconds() + seconds)
        starts.sort()
        for first in range(len(starts)):
            for last in range(first, len(starts)):
                window = starts[last] - starts[first]
                # Counters round to milliseconds at both ends of a window.
                self.assertLessEqual(last - first + 1, (window + buffer + 0.002) * rate + 2)


class _Context:
    def __init__(self, store: Optional[IInfoStore] = None, clock: Optional[Clock] = None
                 ) -> None:
        if clock is None:
            clock = Clock()
            clock.advance(_EPOCH)
        self.reactor = clock
        self.info_store = store if store is not None else MemoryInfoStore(clock)
        self.info_cache = InfoCache(MemoryInfoStore(clock), 60, 60)
        self.constraints = Constraints()
        self.info: dict[str, Any] = {}

    def register_info(self, name: str, **info: Any) -> None:
        self.info[name] = info


@implementer(IProxyApplication)
class _App:
    """
    The rest of the pipeline: HEAD/GET of an account or container remember
    its info for the request, as the controllers do; every request is
    recorded with the time it arrived.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, str, float]] = []
        self.account: dict[str, Any] = {"status": 204, "meta": {}, "sysmeta": {}}
        self.container: dict[str, Any] = {"status": 204, "meta": {}, "sysmeta": {},
                                          "object_count": 0}

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.calls.append((request.method, request.path, self.clock.seconds()))
        remember_info(request, self.account, self.container)
        return succeed(SwiftResponse(200, {}, b"ok"))

    def passed(self) -> list[tuple[str, str, float]]:
        """
        The client requests that got through (not the plugin's own info
        requests).
        """
        return [call for call in self.calls if call[0] != "HEAD"]


class RateLimitTests(SynchronousTestCase):
    """
    The plugin on a L{Clock}, its counters in memory.
    """

    def setUp(self) -> None:
        self.log = capture_log(self)

    def make(self, conf: dict[str, str], store: Optional[IInfoStore] = None,
             clock: Optional[Clock] = None) -> RateLimit:
        self.context = _Context(store, clock)
        self.clock = self.context.reactor
        self.app = _App(self.clock)
        self.filter = ratelimitPlugin.make_filter(conf, partial_context(self.context))
        return self.filter

    def start(self, method: str, path: str, environ: Optional[dict[str, Any]] = None,
              rate_filter: Optional[RateLimit] = None) -> "Deferred[SwiftResponse]":
        request = SwiftRequest(method, path.encode("ascii"), HeaderDict(), environ=environ)
        return (rate_filter or self.filter)(request, self.app)

    def call(self, method: str, path: str, environ: Optional[dict[str, Any]] = None
             ) -> SwiftResponse:
        return self.successResultOf(self.start(method, path, environ))

    def test_passedOnCancel(self) -> None:
        """
        Once a request is passed on, what came back follows the rest of
        the pipeline's answer, and cancelling it (the client left) cancels
        that.
        """
        self.make({})
        self.call("GET", "/v1/AUTH_a/c/o")
        cancelled: list[object] = []
        pending: Deferred[SwiftResponse] = Deferred(cancelled.append)
        request = SwiftRequest("GET", b"/v1/AUTH_a/c/o", HeaderDict())
        answer = self.filter(request, lambda _: pending)  # type: ignore[arg-type]
        self.assertNoResult(answer)
        answer.cancel()
        self.assertEqual(cancelled, [pending])
        self.failureResultOf(answer, CancelledError)
        late: Deferred[SwiftResponse] = Deferred()
        answer = self.filter(SwiftRequest("GET", b"/v1/AUTH_a/c/o", HeaderDict()),
                             lambda _: late)  # type: ignore[arg-type]
        response = SwiftResponse(200, {}, b"")
        late.callback(response)
        self.assertIs(self.successResultOf(answer), response)

    def test_interfaces(self) -> None:
        self.make({})
        self.assertTrue(verifyObject(IPlugin, ratelimitPlugin))
        self.assertTrue(verifyObject(IProxyPluginFactory, ratelimitPlugin))
        self.assertTrue(verifyObject(IProxyFilter, self.filter))
        self.assertEqual(ratelimitPlugin.name, "ratelimit")

    def test_info(self) -> None:
        """
        C{/info} shows what Swift's does: the account rate, the longest
        wait, and the container and listing limits as C{[size, rate]}
        pairs; no other option.
        """
        self.make({})
        self.assertEqual(self.context.info, {"ratelimit": {
            "account_ratelimit": 0.0, "max_sleep_time_seconds": 60.0,
            "container_ratelimits": [], "container_listing_ratelimits": []}})
        self.make({"account_ratelimit": "5", "max_sleep_time_seconds": "2",
                   "container_ratelimit_100": "10", "container_ratelimit_0": "20",
                   "container_listing_ratelimit_5": "3", "clock_accuracy": "100",
                   "account_whitelist": "a"})
        self.assertEqual(self.context.info, {"ratelimit": {
            "account_ratelimit": 5.0, "max_sleep_time_seconds": 2.0,
            "container_ratelimits": [[0, 20.0], [100, 10.0]],
            "container_listing_ratelimits": [[5, 3.0]]}})

    def test_badOption(self) -> None:
        with self.assertRaises(ConfigError) as caught:
            self.make({"clock_accuracy": "often"})
        self.assertIn("[filter:ratelimit] clock_accuracy", str(caught.exception))

    def test_deprecatedLists(self) -> None:
        """
        The white and black lists work, with a deprecation warning each.
        """
        self.make({"account_whitelist": "a", "account_blacklist": "b"})
        warnings = [event["log_format"] for event in at_level(self.log, LogLevel.warn)]
        self.assertEqual(len(warnings), 2)
        self.assertIn("account_whitelist is deprecated", warnings[0])
        self.assertIn("account_blacklist is deprecated", warnings[1])

    def test_workersWithoutRedis(self) -> None:
        """
        With several workers counting in memory, startup warns that each
        lets the whole rate through; with a shared store it does not.
        """
        context = _Context()
        context.settings = ProxySettings(workers=3)  # type: ignore[attr-defined]
        ratelimitPlugin.make_filter({}, partial_context(context))
        [warning] = at_level(self.log, LogLevel.warn)
        self.assertEqual(warning["workers"], 3)
        shared = _Context(RedisInfoStore(FakeRedis(), Clock()))
        shared.settings = ProxySettings(workers=3)  # type: ignore[attr-defined]
        ratelimitPlugin.make_filter({}, partial_context(shared))
        self.assertEqual(len(at_level(self.log, LogLevel.warn)), 1)

    def test_unlimited(self) -> None:
        """
        Without limits, requests go at once, after one account lookup.
        """
        self.make({})
        for _ in range(5):
            self.assertEqual(self.call("PUT", "/v1/a/c").status, 200)
        self.assertEqual(len(self.app.passed()), 5)
        self.assertEqual([c[1] for c in self.app.calls if c[0] == "HEAD"], ["/v1/a"])

    def test_notSwiftPaths(self) -> None:
        """
        Paths that are no Swift API path (other versions, C{/info}, auth)
        pass without a lookup, unlimited.
        """
        self.make({"account_ratelimit": "1"})
        for path in ("/info", "/auth/v1.0", "/v2/a/c", "/", "//a", "/v1"):
            for _ in range(3):
                self.assertEqual(self.call("PUT", path).status, 200, path)
        self.assertEqual([c[0] for c in self.app.calls], ["PUT"] * 18)

    def test_accountRateWindow(self) -> None:
        """
        Container PUTs and DELETEs beyond C{account_ratelimit} wait their
        turn on the clock: at 4 per second, four at once go at 0, 0.25,
        0.5 and 0.75 s. Other accounts have their own counters.
        """
        self.make({"account_ratelimit": "4"})
        start = self.clock.seconds()
        pending = [self.start("PUT" if n % 2 else "DELETE", f"/v1/a/c{n}") for n in range(4)]
        other = self.start("PUT", "/v1/b/c")
        self.assertEqual(self.successResultOf(other).status, 200)
        self.assertEqual([d.called for d in pending], [True, False, False, False])
        self.clock.advance(0.25)
        self.assertEqual([d.called for d in pending], [True, True, False, False])
        self.clock.advance(0.25)
        self.clock.advance(0.25)
        for d in pending:
            self.assertEqual(self.successResultOf(d).status, 200)
        times = [round(t - start, 6) for (_, path, t) in self.app.passed() if "/a/" in path]
        self.assertEqual(times, [0.0, 0.25, 0.5, 0.75])

    def test_atTheRateNoWait(self) -> None:
        """
        Requests that come at the rate never wait; object writes and
        container reads are not under C{account_ratelimit}.
        """
        self.make({"account_ratelimit": "4"})
        for _ in range(10):
            self.call("PUT", "/v1/a/c")
            for method, path in (("PUT", "/v1/a/c/o"), ("GET", "/v1/a/c"), ("POST", "/v1/a/c")):
                self.call(method, path)
            self.clock.advance(0.25)
        self.assertEqual(len(self.app.passed()), 40)

    def test_burstWithinBuffer(self) -> None:
        """
        A client that went slower than the rate may catch up in a burst,
        up to C{rate_buffer_seconds} behind; after a longer pause the
        counter starts again from now, with no burst.
        """
        self.make({"account_ratelimit": "10", "rate_buffer_seconds": "2"})
        self.call("PUT", "/v1/a/c")
        self.clock.advance(1.5)
        burst = [self.start("PUT", "/v1/a/c") for _ in range(16)]
        done = [d for d in burst if d.called]
        # 1.5 s behind: 15 requests' worth of interval go at once.
        self.assertEqual(len(done), 15)
        self.clock.advance(0.1)
        self.assertTrue(all(d.called for d in burst))
        self.clock.advance(5)
        again = [self.start("PUT", "/v1/a/c") for _ in range(3)]
        self.assertEqual([d.called for d in again], [True, False, False])
        self.clock.advance(0.2)

    def test_maxSleep498(self) -> None:
        """
        A request that would wait C{max_sleep_time_seconds} or more is
        answered 498 Rate Limited, "Slow down", at once, and logged; it
        does not count against later requests. HEADs are never limited.
        """
        self.make({"account_ratelimit": "10", "max_sleep_time_seconds": "0.3"})
        waiting = [self.start("PUT", "/v1/a/c") for _ in range(3)]
        limited = self.call("PUT", "/v1/a/c")
        self.assertEqual((limited.status, limited.reason, limited.body),
                         (498, "Rate Limited", b"Slow down"))
        self.assertEqual(limited.headers["Content-Type"], HTML)
        head = self.call("HEAD", "/v1/a/c")
        self.assertEqual(head.status, 200)
        limited = self.call("DELETE", "/v1/a/c")
        self.assertEqual(limited.status, 498)
        self.clock.advance(0.2)
        for d in waiting:
            self.assertEqual(self.successResultOf(d).status, 200)
        # Had the 498s counted, this one would wait 0.2 s.
        self.clock.advance(0.1)
        self.assertEqual(self.successResultOf(self.start("PUT", "/v1/a/c")).status, 200)
        self.assertNoResult(self.start("PUT", "/v1/a/c"))
        self.clock.advance(0.1)
        [error, _] = at_level(self.log, LogLevel.error)
        self.assertEqual(error["method"], "PUT")
        self.assertEqual(error["path"], "a/c")
        self.assertEqual(error["why"], "Max Sleep Time Exceeded: 0.30")

    def test_accountPost498(self) -> None:
        """
        An account POST is limited by the global write limit alone; an
        account HEAD is not limited.
        """
        self.make({"max_sleep_time_seconds": "0"})
        self.app.account["sysmeta"] = {"global-write-ratelimit": "1"}
        response = self.call("POST", "/v1/a")
        self.assertEqual((response.status, response.body), (498, b"Slow down"))
        self.assertEqual(self.call("HEAD", "/v1/a").status, 200)

    def test_whitelist(self) -> None:
        """
        A whitelisted account (by option or sysmeta) is never limited.
        """
        self.make({"account_ratelimit": "1", "max_sleep_time_seconds": "0",
                   "account_whitelist": "a"})
        for _ in range(3):
            self.assertEqual(self.call("PUT", "/v1/a/c").status, 200)
        self.assertEqual(self.call("PUT", "/v1/b/c").status, 498)
        self.make({"account_ratelimit": "1", "max_sleep_time_seconds": "0"})
        self.app.account["sysmeta"] = {"global-write-ratelimit": "WHITELIST"}
        for _ in range(3):
            self.assertEqual(self.call("PUT", "/v1/a/c").status, 200)

    def test_blacklist(self) -> None:
        """
        A blacklisted account (by option or sysmeta) gets 497 Blacklisted
        to every request, reads too, after a second on the clock.
        """
        self.make({"account_blacklist": "a"})
        for method in ("GET", "PUT", "HEAD"):
            d = self.start(method, "/v1/a/c/o")
            self.clock.advance(0.99)
            self.assertNoResult(d)
            self.clock.advance(0.01)
            response = self.successResultOf(d)
            self.assertEqual((response.status, response.reason), (497, "Blacklisted"))
            self.assertEqual(response.headers["Content-Type"], HTML)
            body = b"" if method == "HEAD" else b"Your account has been blacklisted"
            self.assertEqual(response.body, body)
        self.assertEqual(self.app.passed(), [])
        self.assertEqual(self.call("GET", "/v1/b/c").status, 200)
        [error] = at_level(self.log, LogLevel.error)[:1]
        self.assertEqual(error["account"], "a")
        self.make({})
        self.app.account["sysmeta"] = {"global-write-ratelimit": "BLACKLIST"}
        d = self.start("GET", "/v1/a")
        self.clock.advance(1)
        self.assertEqual(self.successResultOf(d).status, 497)

    def test_sysmetaIsExact(self) -> None:
        """
        Only C{WHITELIST} and C{BLACKLIST} as written list an account.
        """
        self.make({"account_ratelimit": "1", "max_sleep_time_seconds": "0"})
        self.app.account["sysmeta"] = {"global-write-ratelimit": "blacklist"}
        self.assertEqual(self.call("GET", "/v1/a/c").status, 200)
        self.assertEqual(self.call("PUT", "/v1/a/c").status, 498)

    def test_containerSizeThresholds(self) -> None:
        """
        Object writes are limited by the container's object count, the
        rate interpolated between the sizes configured: 15 objects between
        10 (at 10/s) and 20 (at 5/s) is 7.5/s. A smaller container is not
        limited.
        """
        self.make({"container_ratelimit_10": "10", "container_ratelimit_20": "5"})
        self.app.container["object_count"] = 15
        first = self.start("PUT", "/v1/a/c/o1")
        second = self.start("POST", "/v1/a/c/o2")
        self.successResultOf(first)
        self.clock.advance(0.132)
        self.assertNoResult(second)
        self.clock.advance(0.001)
        self.successResultOf(second)
        self.assertIn(("HEAD", "/v1/a/c", _EPOCH), self.app.calls)
        # Reads are not limited.
        for _ in range(3):
            self.call("GET", "/v1/a/c/o")
        self.make({"container_ratelimit_10": "10", "max_sleep_time_seconds": "0.05"})
        self.app.container["object_count"] = 9
        for _ in range(5):
            self.assertEqual(self.call("DELETE", "/v1/a/c/o").status, 200)
        self.make({"container_ratelimit_10": "10", "max_sleep_time_seconds": "0.05"})
        self.app.container["object_count"] = 1000
        self.assertEqual([self.call("COPY", "/v1/a/c/o").status for _ in range(2)],
                         [200, 498])

    def test_containerLookedUpOnlyWhenLimited(self) -> None:
        """
        Without container limits, an object write makes no container
        lookup.
        """
        self.make({"account_ratelimit": "1"})
        self.call("PUT", "/v1/a/c/o")
        self.assertEqual([c[1] for c in self.app.calls if c[0] == "HEAD"], ["/v1/a"])

    def test_listingLimits(self) -> None:
        """
        Container GETs are limited by C{container_listing_ratelimit_N};
        object GETs and container HEADs are not.
        """
        self.make({"container_listing_ratelimit_1": "2", "max_sleep_time_seconds": "1"})
        self.app.container["object_count"] = 50
        pending = [self.start("GET", "/v1/a/c") for _ in range(3)]
        self.assertEqual([d.called for d in pending], [True, False, True])
        self.assertEqual(self.successResultOf(pending[2]).status, 498)
        self.clock.advance(0.5)
        self.assertEqual(self.successResultOf(pending[1]).status, 200)
        for _ in range(3):
            self.assertEqual(self.call("GET", "/v1/a/c/o").status, 200)
            self.assertEqual(self.call("HEAD", "/v1/a/c").status, 200)

    def test_globalWriteRatelimit(self) -> None:
        """
        X-Account-Sysmeta-Global-Write-Ratelimit limits every write of the
        account together (account, container and object), not its reads;
        it adds to the other limits.
        """
        self.make({"account_ratelimit": "10"})
        self.app.account["sysmeta"] = {"global-write-ratelimit": "2"}
        writes = [self.start(method, path) for method, path in [
            ("POST", "/v1/a"), ("PUT", "/v1/a/c"), ("DELETE", "/v1/a/c/o"),
            ("COPY", "/v1/a/c/o")]]
        for _ in range(3):
            self.call("GET", "/v1/a/c/o")
        self.assertEqual([d.called for d in writes], [True, False, False, False])
        self.clock.advance(0.5)
        self.assertEqual([d.called for d in writes], [True, True, False, False])
        self.clock.advance(0.5)
        self.clock.advance(0.5)
        self.assertTrue(all(d.called for d in writes))
        times = [round(t - _EPOCH, 6) for (m, _, t) in self.app.passed() if m != "GET"]
        self.assertEqual(times, [0.0, 0.5, 1.0, 1.5])

    def test_sleepsAddUp(self) -> None:
        """
        A request under two limits waits for the first, then the second,
        each counted when its turn comes.
        """
        self.make({"account_ratelimit": "4"})
        self.app.account["sysmeta"] = {"global-write-ratelimit": "1"}
        self.call("PUT", "/v1/a/c")
        d = self.start("PUT", "/v1/a/c")
        # 0.25 s for the account's rate, then 0.75 s more for the global one.
        self.clock.advance(0.25)
        self.assertNoResult(d)
        self.clock.advance(0.75)
        self.successResultOf(d)

    def test_handledOnce(self) -> None:
        """
        A request that passed one C{ratelimit} stage is not limited by
        another (Swift's C{swift.ratelimit.handled}).
        """
        self.make({"account_ratelimit": "1", "max_sleep_time_seconds": "0.5"})
        self.call("PUT", "/v1/a/c")
        environ: dict[str, Any] = {}
        self.assertEqual(self.call("PUT", "/v1/a/c", environ).status, 498)
        self.assertIs(environ[HANDLED_KEY], True)
        self.assertEqual(self.call("PUT", "/v1/a/c", {HANDLED_KEY: True}).status, 200)

    def test_logSleep(self) -> None:
        """
        With C{log_sleep_time_seconds}, longer waits are logged.
        """
        self.make({"account_ratelimit": "10", "log_sleep_time_seconds": "0.15"})
        for _ in range(3):
            self.start("PUT", "/v1/a/c")
        [logged] = [e for e in at_level(self.log, LogLevel.warn)
                    if "sleep log" in e["log_format"]]
        self.assertEqual((logged["seconds"], logged["account"], logged["container"]),
                         (0.2, "a", "c"))
        self.clock.advance(1)

    def test_clientGone(self) -> None:
        """
        A client that goes away while its request waits cancels the wait:
        the request goes no further.
        """
        self.make({"account_ratelimit": "1"})
        self.call("PUT", "/v1/a/c")
        d = self.start("PUT", "/v1/a/c")
        d.cancel()
        self.failureResultOf(d)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.app.passed()), 1)

    def known_account(self, conf: dict[str, str], sysmeta: Optional[dict[str, str]] = None
                     ) -> list[str]:
        """
        The plugin made with C{conf}, over an info cache whose store (in
        this process's memory) already knows account C{a}, with
        C{sysmeta}.

        @return: the info lookups' outcomes, as they are counted.
        """
        self.make(conf)
        lookups: list[str] = []
        store = MemoryInfoStore(self.clock)
        store.set("account/a", {"status": 204, "meta": {}, "sysmeta": sysmeta or {}}, 60)

        class Lookups(NullMetrics):
            def info_lookup(self, outcome: str) -> None:
                lookups.append(outcome)

        self.filter._info_cache = InfoCache(store, 60, 60, Lookups())
        return lookups

    def test_knownAccountAtOnce(self) -> None:
        """
        A request that moves no counter, for an account whose info is at
        hand, is passed on at once: what comes back is the rest of the
        pipeline's own L{Deferred}, and the lookup counts as one hit.
        """
        lookups = self.known_account({"account_ratelimit": "1"})
        pending: Deferred[SwiftResponse] = Deferred()
        for method, path in (("GET", "/v1/a/c/o"), ("HEAD", "/v1/a/c"), ("GET", "/v1/a/c"),
                             ("POST", "/v1/a/c")):
            request = SwiftRequest(method, path.encode("ascii"), HeaderDict())
            self.assertIs(self.filter(request, lambda _: pending),  # type: ignore[arg-type]
                          pending)
        self.assertEqual(lookups, ["hit"] * 4)

    def test_knownAccountStillLimited(self) -> None:
        """
        With the account's info at hand, a request that moves a counter
        is still limited, and a blacklisted account still refused, the
        info looked up once.
        """
        lookups = self.known_account({"account_ratelimit": "1", "max_sleep_time_seconds": "0"})
        self.assertEqual(self.call("PUT", "/v1/a/c").status, 498)
        self.assertEqual(lookups, ["hit"])
        self.assertEqual(self.app.calls, [])
        lookups = self.known_account({}, {"global-write-ratelimit": "BLACKLIST"})
        d = self.start("GET", "/v1/a/c/o")
        self.clock.advance(1)
        self.assertEqual(self.successResultOf(d).status, 497)
        self.assertEqual(lookups, ["hit"])
        self.assertEqual(self.app.calls, [])

    def test_knownAccountContainerSize(self) -> None:
        """
        A write limited by the container's size waits for its container's
        info even when the account's is at hand.
        """
        self.known_account({"container_ratelimit_0": "1"})
        self.call("PUT", "/v1/a/c/o")
        self.assertEqual([c[:2] for c in self.app.calls],
                         [("HEAD", "/v1/a/c"), ("PUT", "/v1/a/c/o")])


class _Unreachable(MemoryInfoStore):
    """
    A store that cannot count while C{down}.
    """

    down = True

    def incr(self, key: str, delta: int, ttl: float, reset_below: Optional[int] = None,
             reset_to: int = 0) -> "Deferred[Optional[int]]":
        if self.down:
            return succeed(None)
        return super().incr(key, delta, ttl, reset_below, reset_to)


class SharedCounterTests(SynchronousTestCase):
    """
    The counters in Redis (a fake one) shared by several processes, and
    what happens when Redis cannot be reached.
    """

    def setUp(self) -> None:
        self.log = capture_log(self)
        self.clock = Clock()
        self.clock.advance(_EPOCH)
        self.app = _App(self.clock)

    def worker(self, store: IInfoStore) -> RateLimit:
        context = _Context(store, self.clock)
        return ratelimitPlugin.make_filter(
            {"account_ratelimit": "2", "max_sleep_time_seconds": "1"},
            partial_context(context))

    def burst(self, workers: list[RateLimit], count: int) -> list[int]:
        """
        C{count} container PUTs at once, spread over C{workers} in turn;
        their statuses once every wait is over.
        """
        pending = [workers[n % len(workers)](SwiftRequest("PUT", b"/v1/a/c"), self.app)
                   for n in range(count)]
        self.clock.advance(2)
        return [self.successResultOf(d).status for d in pending]

    def test_redisShared(self) -> None:
        """
        Two workers counting in one Redis share the limit: at 2 per second
        with waits under a second, two of eight requests at once go.
        """
        redis = FakeRedis()
        workers = [self.worker(RedisInfoStore(redis, self.clock)) for _ in range(2)]
        self.assertEqual(sorted(self.burst(workers, 8)), [200] * 2 + [498] * 6)
        self.assertEqual(sorted(redis.data), ["twisted-proxy:ratelimit/a"])

    def test_memoryNotShared(self) -> None:
        """
        Counted in each worker's memory, the same requests get twice as
        far: each worker has a limit of its own.
        """
        workers = [self.worker(MemoryInfoStore(self.clock)) for _ in range(2)]
        self.assertEqual(sorted(self.burst(workers, 8)), [200] * 4 + [498] * 4)

    def test_failOpen(self) -> None:
        """
        A store that cannot count lets every request through at once, with
        one warning per outage, and one line when it counts again.
        """
        store = _Unreachable(self.clock)
        worker = self.worker(store)
        self.assertEqual(self.burst([worker], 6), [200] * 6)
        self.assertEqual(self.burst([worker], 6), [200] * 6)
        [warning] = at_level(self.log, LogLevel.warn)
        self.assertIn("cannot be reached", warning["log_format"])
        store.down = False
        self.assertEqual(sorted(self.burst([worker], 4)), [200, 200, 498, 498])
        [info] = at_level(self.log, LogLevel.info)
        self.assertIn("answer again", info["log_format"])
        store.down = True
        self.burst([worker], 2)
        self.assertEqual(len(at_level(self.log, LogLevel.warn)), 2)

    def test_redisOutage(self) -> None:
        """
        With Redis failing, requests go unlimited; the store's circuit
        breaker keeps them from trying Redis again for its retry interval.
        """
        redis = FakeRedis()
        worker = self.worker(RedisInfoStore(redis, self.clock, retry_interval=30))
        redis.broken = True
        self.assertEqual(self.burst([worker], 6), [200] * 6)
        self.assertEqual(len([c for c in redis.calls if c[0] == "incr"]), 1)
