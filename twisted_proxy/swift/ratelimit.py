# -*- test-case-name: tests.test_ratelimit -*-
"""
Swift 2.38.3's rate limiting arithmetic, with no I/O: the options of its
C{ratelimit} middleware, the counters a request moves, and one counter's
step.

Each limited thing (an account's container writes, a container's object
writes or listings, an account's writes as a whole) has a counter holding
the time, in units of C{1 / clock_accuracy} seconds, when its next request
may go. A request adds one interval (C{1 / rate}) to it and sleeps until the
time the counter held; a counter that fell more than C{rate_buffer_seconds}
behind the clock starts again from now; a request that would sleep
C{max_sleep_time_seconds} or more is not let through (Swift's 498), and
takes its interval back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Optional

__all__ = [
    "CounterStep",
    "RateLimitSettings",
    "SizeLimits",
    "counter_step",
    "needs_container_size",
    "rate_keys",
    "sleep_needed",
]

#: Methods that write, as Swift's middleware counts them.
_WRITES = ("PUT", "DELETE", "POST", "COPY")

#: The largest C{clock_accuracy}: beyond it the counters (now in
#: C{1 / clock_accuracy} s) leave the 63 bits Redis and memcache count in.
MAX_CLOCK_ACCURACY = 10**9

#: The longest interval and counter lifetime, in seconds (three years): a
#: rate below one request in that time (an account's sysmeta may say
#: anything) counts as that rate, so that counters stay within 63 bits.
_MAX_SECONDS = 10**8


def _rate(option: str, text: str) -> float:
    """
    A rate in requests per second: a finite number, 0 or more.

    @raise ValueError: naming C{option}.
    """
    try:
        rate = float(text)
    except ValueError:
        raise ValueError(f"{option}: not a number: {text!r}") from None
    if not (math.isfinite(rate) and rate >= 0):
        raise ValueError(f"{option}: must be a finite rate, 0 or more: {text!r}")
    return rate


@dataclass(frozen=True)
class SizeLimits:
    """
    Rates by container size (Swift's C{container_ratelimit_N} or
    C{container_listing_ratelimit_N} options): the rate of a size is
    interpolated linearly between the two sizes given around it, and is the
    last size's rate above it; below the smallest size there is no limit.

    @ivar points: C{(size, rate)} pairs, by size, no size twice.
    """

    points: tuple[tuple[int, float], ...] = ()

    @classmethod
    def from_conf(cls, conf: Mapping[str, str], prefix: str) -> "SizeLimits":
        """
        The options of C{conf} named C{prefix} followed by a size.

        @raise ValueError: naming the option, for a size that is no integer,
            a size given twice, or a rate that is not a finite number, 0 or
            more.
        """
        found: dict[int, tuple[str, float]] = {}
        for option, text in conf.items():
            if not option.startswith(prefix):
                continue
            try:
                size = int(option[len(prefix):])
            except ValueError:
                raise ValueError(f"{option}: {option[len(prefix):]!r} is not a container "
                                 f"size") from None
            if size in found:
                raise ValueError(f"{option}: the size {size} is also given by "
                                 f"{found[size][0]}")
            found[size] = (option, _rate(option, text))
        return cls(tuple(sorted((size, rate) for size, (_, rate) in found.items())))

    def rate_for(self, size: Optional[int]) -> Optional[float]:
        """
        The rate for a container of C{size} objects, or C{None} for no
        limit: below the smallest size, and (as in Swift) for an empty
        container or one of unknown size.
        """
        if not size:
            return None
        below = None
        for index, (point, _) in enumerate(self.points):
            if size < point:
                break
            below = index
        if below is None:
            return None
        point, rate = self.points[below]
        if below + 1 == len(self.points):
            return rate
        next_point, next_rate = self.points[below + 1]
        return (size - point) * (next_rate - rate) / (next_point - point) + rate

    def as_info(self) -> list[list[float]]:
        """
        The points as C{/info} shows them: C{[[size, rate], ...]}.
        """
        return [[size, rate] for size, rate in self.points]


def _names(text: str) -> frozenset[str]:
    return frozenset(name.strip() for name in text.split(",") if name.strip())


@dataclass(frozen=True)
class RateLimitSettings:
    """
    The options of Swift's C{ratelimit} middleware, with its defaults.

    @ivar account_ratelimit: container C{PUT}s and C{DELETE}s per second
        per account; 0 for no limit.
    @ivar max_sleep_time_seconds: a request that would wait this long or
        longer is refused (498).
    @ivar log_sleep_time_seconds: waits longer than this are logged; 0 for
        none.
    @ivar clock_accuracy: the counters' units per second.
    @ivar rate_buffer_seconds: how far behind the clock a counter may fall
        and still count (letting a slow client catch up in a burst).
    @ivar account_whitelist: accounts never limited (deprecated in Swift).
    @ivar account_blacklist: accounts always refused (497; deprecated).
    @ivar container_limits: object writes per second by container size.
    @ivar listing_limits: container listings per second by container size.
    """

    account_ratelimit: float = 0.0
    max_sleep_time_seconds: float = 60.0
    log_sleep_time_seconds: float = 0.0
    clock_accuracy: int = 1000
    rate_buffer_seconds: int = 5
    account_whitelist: frozenset[str] = frozenset()
    account_blacklist: frozenset[str] = frozenset()
    container_limits: SizeLimits = field(default_factory=SizeLimits)
    listing_limits: SizeLimits = field(default_factory=SizeLimits)

    @classmethod
    def from_conf(cls, conf: Mapping[str, str]) -> "RateLimitSettings":
        """
        Read the options as Swift does (C{clock_accuracy} and
        C{rate_buffer_seconds} are integers, the others numbers; the lists
        are comma-separated).

        @raise ValueError: naming the option, for a value Swift would fail
            on, and for values that make no limit (negative or not finite
            rates and times, C{clock_accuracy} below 1 or above
            L{MAX_CLOCK_ACCURACY}) where Swift would misbehave.
        """
        def number(option: str, default: float) -> float:
            if option not in conf:
                return default
            return _rate(option, conf[option])

        def integer(option: str, default: int, lowest: int, highest: int) -> int:
            if option not in conf:
                return default
            text = conf[option]
            try:
                value = int(text)
            except ValueError:
                raise ValueError(f"{option}: not an integer: {text!r}") from None
            if not lowest <= value <= highest:
                raise ValueError(f"{option}: must be from {lowest} to {highest}: {text!r}")
            return value

        return cls(
            account_ratelimit=number("account_ratelimit", cls.account_ratelimit),
            max_sleep_time_seconds=number("max_sleep_time_seconds",
                                          cls.max_sleep_time_seconds),
            log_sleep_time_seconds=number("log_sleep_time_seconds",
                                          cls.log_sleep_time_seconds),
            clock_accuracy=integer("clock_accuracy", cls.clock_accuracy, 1,
                                   MAX_CLOCK_ACCURACY),
            rate_buffer_seconds=integer("rate_buffer_seconds", cls.rate_buffer_seconds, 0,
                                        10**6),
            account_whitelist=_names(conf.get("account_whitelist", "")),
            account_blacklist=_names(conf.get("account_blacklist", "")),
            container_limits=SizeLimits.from_conf(conf, "container_ratelimit_"),
            listing_limits=SizeLimits.from_conf(conf, "container_listing_ratelimit_"),
        )


def needs_container_size(settings: RateLimitSettings, method: str,
                         container: Optional[str], obj: Optional[str]) -> bool:
    """
    Whether L{rate_keys} needs the container's size for this request: an
    object write under container limits, or a listing under listing
    limits. (Swift looks the container up for these requests even with no
    such limits, to no effect.)
    """
    if not container:
        return False
    if obj:
        return method in _WRITES and bool(settings.container_limits.points)
    return method == "GET" and bool(settings.listing_limits.points)


def rate_keys(settings: RateLimitSettings, method: str, account: str,
              container: Optional[str], obj: Optional[str],
              container_size: Optional[int] = None,
              global_ratelimit: Optional[str] = None) -> list[tuple[str, float]]:
    """
    The counters a request moves, in order, with their rates (requests per
    second): Swift's C{ratelimit/ACCOUNT} (container C{PUT}/C{DELETE}
    under C{account_ratelimit}), C{ratelimit/ACCOUNT/CONTAINER} (object
    writes, by container size), C{ratelimit_listing/ACCOUNT/CONTAINER}
    (listings, by container size) and C{ratelimit/global-write/ACCOUNT}
    (every write, under the account's
    C{X-Account-Sysmeta-Global-Write-Ratelimit} when it is a number above
    0).

    @param container_size: the container's object count, when
        L{needs_container_size} says it is needed.
    @param global_ratelimit: the account's global write ratelimit sysmeta.
    """
    keys: list[tuple[str, float]] = []
    if (settings.account_ratelimit and container and not obj
            and method in ("PUT", "DELETE")):
        keys.append((f"ratelimit/{account}", settings.account_ratelimit))
    if container and obj and method in _WRITES:
        rate = settings.container_limits.rate_for(container_size)
        if rate:
            keys.append((f"ratelimit/{account}/{container}", rate))
    if container and not obj and method == "GET":
        rate = settings.listing_limits.rate_for(container_size)
        if rate:
            keys.append((f"ratelimit_listing/{account}/{container}", rate))
    if global_ratelimit and method in _WRITES:
        try:
            rate = float(global_ratelimit)
        except ValueError:
            rate = 0.0
        if rate > 0:
            keys.append((f"ratelimit/global-write/{account}", rate))
    return keys


@dataclass(frozen=True)
class CounterStep:
    """
    One request's move of a counter (see L{counter_step}), in units of
    C{1 / clock_accuracy} seconds: the arguments of the info store's
    C{incr}.

    @ivar now: the time of the request.
    @ivar interval: the time one request takes of the rate (the delta).
    @ivar reset_below: a counter below this fell too far behind...
    @ivar reset_to: ...and starts again at this (now plus one interval).
    @ivar ttl: seconds the counter must outlive its last move: while it
        may still be ahead of the clock, and C{rate_buffer_seconds} more.
    """

    now: int
    interval: int
    reset_below: int
    reset_to: int
    ttl: float


def counter_step(settings: RateLimitSettings, now: float, rate: float) -> CounterStep:
    """
    How a request at C{now} (seconds since the epoch, as every proxy's
    clock reads it) moves a counter of C{rate} (above 0) requests per
    second.
    """
    accuracy = settings.clock_accuracy
    now_units = int(round(now * accuracy))
    interval = int(round(accuracy / max(rate, 1 / _MAX_SECONDS)))
    reset_below = now_units - settings.rate_buffer_seconds * accuracy
    # A counter is never let ahead of the clock by more than the longest
    # sleep and one interval; it matters until it is rate_buffer_seconds
    # behind. One second more for clocks that differ between proxies.
    ttl = settings.max_sleep_time_seconds + interval / accuracy + settings.rate_buffer_seconds
    return CounterStep(now_units, interval, reset_below, now_units + interval,
                       min(ttl + 1.0, 3.0 * _MAX_SECONDS))


def sleep_needed(settings: RateLimitSettings, step: CounterStep, counted: int
                 ) -> Optional[float]:
    """
    The seconds a request must wait, once its C{step} left the counter at
    C{counted}; or C{None} when that is too long (within a hundredth of a
    second of C{max_sleep_time_seconds}, as in Swift): the request is
    refused and its interval must be taken back (C{incr} by
    C{-step.interval}).
    """
    accuracy = settings.clock_accuracy
    units = max(counted - step.now - step.interval, 0)
    if settings.max_sleep_time_seconds * accuracy - units <= accuracy * 0.01:
        return None
    return units / accuracy
