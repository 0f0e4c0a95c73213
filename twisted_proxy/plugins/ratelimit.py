# -*- test-case-name: tests.test_ratelimit,tests.e2e.test_ratelimit -*-
"""
The C{ratelimit} plugin: Swift 2.38.3's C{ratelimit} middleware, which
limits the requests that write to account and container databases. Place
it before the auth stage, as Swift's sample pipeline does (after
C{tempurl}, before C{read_only} and C{tempauth}).

What is limited (the arithmetic is L{twisted_proxy.swift.ratelimit}'s):

 - container C{PUT}/C{DELETE}, per account, to C{account_ratelimit}
   requests per second (0, the default: no limit);
 - object C{PUT}/C{DELETE}/C{POST}/C{COPY}, per container, to the rate
   C{container_ratelimit_N} options give for the container's object count
   (interpolated between sizes);
 - container C{GET} (listings), per container, by
   C{container_listing_ratelimit_N} the same way;
 - every write of an account whose C{X-Account-Sysmeta-Global-Write-Ratelimit}
   is a number above 0, to that many per second.

A request over a rate waits (on the reactor's clock, never blocking it)
until its turn; one that would wait C{max_sleep_time_seconds} (60) or more
is answered C{498 Rate Limited} (C{Slow down}) at once. An account in
C{account_whitelist}, or whose sysmeta says C{WHITELIST}, is never limited;
one in C{account_blacklist}, or whose sysmeta says C{BLACKLIST}, gets
C{497 Blacklisted} to every request, after a second. Other options:
C{log_sleep_time_seconds} (0: off) logs longer waits, C{clock_accuracy}
(1000) and C{rate_buffer_seconds} (5) as in Swift.

The counters are kept in the proxy's info store: in Redis when
C{[filter:cache]} has a C{redis_url}, so that every worker of every proxy
shares one limit, as Swift's proxies share memcache; in this process's
memory otherwise (with C{workers = N}, each worker then lets the whole rate
through: a warning says so at startup). When Redis cannot be reached
requests go unlimited (one warning per outage), as Swift's do without
memcache.

The plugin adds C{ratelimit} to C{/info}.
"""

from __future__ import annotations

from typing import Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import implementer

from twisted_proxy.config import ConfigError
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.cache import AccountInfo, InfoCache
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.interfaces import (
    IInfoStore,
    IProxyApplication,
    IProxyFilter,
    IProxyPluginFactory,
)
from twisted_proxy.plugins._support.segments import sleep
from twisted_proxy.plugins._support.subrequest import (
    account_info_now,
    fetch_account_info,
    fetch_container_info,
    preauthorized,
)
from twisted_proxy.swift.http import HTML, SwiftRequest, SwiftResponse, error_response
from twisted_proxy.swift.paths import split_path
from twisted_proxy.swift.ratelimit import (
    RateLimitSettings,
    counter_step,
    needs_container_size,
    rate_keys,
    sleep_needed,
)

__all__ = ["HANDLED_KEY", "RateLimit", "ratelimitPlugin"]

_log = Logger()

#: The environ key that marks a request as limited once (Swift's), so that
#: a second C{ratelimit} stage lets it by.
HANDLED_KEY = "swift.ratelimit.handled"

#: Seconds a blacklisted account's request waits before its 497, as in Swift.
BLACKLIST_SLEEP = 1.0

#: The C{swift.source} of the plugin's info requests.
_SOURCE = "RL"


class _TooLong(Exception):
    """
    A request would wait C{max_sleep_time_seconds} or more.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"Max Sleep Time Exceeded: {seconds:.2f}")


@implementer(IProxyFilter)
class RateLimit:
    """
    Delays or refuses requests over their rates.

    @param settings: the options.
    @param store: holds the counters (its C{incr}).
    @param info_cache: where account and container info is looked up.
    @param clock: tells the time counters are moved at, and times waits.
    @param valid_api_versions: the versions of Swift paths (C{v1}, ...).
    """

    def __init__(self, settings: RateLimitSettings, store: IInfoStore, info_cache: InfoCache,
                 clock: IReactorTime,
                 valid_api_versions: tuple[str, ...] = ("v1", "v1.0")) -> None:
        self.settings = settings
        self._store = store
        self._info_cache = info_cache
        self._clock = clock
        self._versions = valid_api_versions
        self._counting = True

    def __call__(self, request: SwiftRequest, app: IProxyApplication
                 ) -> "Deferred[SwiftResponse]":
        try:
            version, account, container, obj = split_path(request.path, 1, 4, True)
        except ValueError:
            return app(request)  # type: ignore[no-any-return]
        if version not in self._versions:
            return app(request)  # type: ignore[no-any-return]
        environ = request.environ
        if environ.get(HANDLED_KEY):
            return app(request)  # type: ignore[no-any-return]
        environ[HANDLED_KEY] = True
        if not account:
            return app(request)  # type: ignore[no-any-return]
        assert version is not None
        info = account_info_now(request, self._info_cache, account)
        if info is not None and self._unlimited(request.method, account, container, obj,
                                                info):
            # Most requests: the account is known and nothing counts them.
            return app(request)  # type: ignore[no-any-return]
        return Deferred.fromCoroutine(
            self._limit(request, app, version, account, container, obj, info))

    def _unlimited(self, method: str, account: str, container: Optional[str],
                   obj: Optional[str], info: AccountInfo) -> bool:
        """
        Whether a request with the account's C{info} goes on at once, as
        L{_limit} would let it: a whitelisted account, or a request that
        moves no counter and needs no container's size to know it.
        """
        settings = self.settings
        global_ratelimit: Optional[str] = (info.get("sysmeta") or {}).get(
            "global-write-ratelimit")
        if account in settings.account_whitelist or global_ratelimit == "WHITELIST":
            return True
        if account in settings.account_blacklist or global_ratelimit == "BLACKLIST":
            return False
        if needs_container_size(settings, method, container, obj):
            return False
        return not rate_keys(settings, method, account, container, obj, None,
                             global_ratelimit)

    async def _limit(self, request: SwiftRequest, app: IProxyApplication, version: str,
                     account: str, container: Optional[str], obj: Optional[str],
                     info: Optional[AccountInfo] = None) -> SwiftResponse:
        """
        Limit C{request}, with its account's C{info} when it is known
        already (else it is fetched).
        """
        settings = self.settings
        environ_of = preauthorized(_SOURCE)
        if info is None:
            info = await fetch_account_info(request, app, self._info_cache, version, account,
                                            environ_of)
        global_ratelimit: Optional[str] = (info.get("sysmeta") or {}).get(
            "global-write-ratelimit")
        if account in settings.account_whitelist or global_ratelimit == "WHITELIST":
            return await app(request)  # type: ignore[no-any-return]
        if account in settings.account_blacklist or global_ratelimit == "BLACKLIST":
            _log.error("Returning 497 because of blacklisting: {account}", account=account)
            await sleep(self._clock, BLACKLIST_SLEEP)
            refused = error_response(497, "Your account has been blacklisted",
                                     method=request.method, content_type=HTML)
            refused.reason = "Blacklisted"
            return refused
        size: Optional[int] = None
        if needs_container_size(settings, request.method, container, obj):
            assert container is not None
            container_info = await fetch_container_info(
                request, app, self._info_cache, version, account, container, environ_of)
            size = container_info.get("object_count")
        keys = rate_keys(settings, request.method, account, container, obj, size,
                         global_ratelimit)
        for key, rate in keys:
            try:
                seconds = await self._sleep_time(key, rate)
            except _TooLong as too_long:
                path = "/".join(name for name in (account, container, obj) if name)
                _log.error(
                    "Returning 498 for {method} to {path}. Ratelimit (Max Sleep) {why}",
                    method=request.method, path=path, why=str(too_long))
                limited = error_response(498, "Slow down", method=request.method,
                                         content_type=HTML)
                limited.reason = "Rate Limited"
                return limited
            if settings.log_sleep_time_seconds and seconds > settings.log_sleep_time_seconds:
                _log.warn("Ratelimit sleep log: {seconds} for {account}/{container}/{obj}",
                          seconds=seconds, account=account, container=container, obj=obj)
            await sleep(self._clock, seconds)
        return await app(request)  # type: ignore[no-any-return]

    async def _sleep_time(self, key: str, rate: float) -> float:
        """
        Move the counter C{key} of C{rate} requests per second for one
        request.

        @return: the seconds the request must wait; 0 when the store could
            not count (the request goes unlimited).
        @raise _TooLong: the wait would be too long; the counter has been
            moved back.
        """
        step = counter_step(self.settings, self._clock.seconds(), rate)
        counted: Optional[int] = await self._store.incr(
            key, step.interval, step.ttl, step.reset_below, step.reset_to)
        if counted is None:
            self._count_failed()
            return 0.0
        if not self._counting:
            self._counting = True
            _log.info("Ratelimit: the counters answer again; requests are limited")
        seconds = sleep_needed(self.settings, step, counted)
        if seconds is None:
            await self._store.incr(key, -step.interval, step.ttl)
            raise _TooLong(max(counted - step.now - step.interval, 0)
                           / self.settings.clock_accuracy)
        return seconds

    def _count_failed(self) -> None:
        if self._counting:
            self._counting = False
            _log.warn("Ratelimit: the counters cannot be reached (the info store is "
                      "unavailable); requests are not limited until they answer")


@implementer(IPlugin, IProxyPluginFactory)
class _RateLimitFactory:
    name = "ratelimit"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> RateLimit:
        """
        @param conf: Swift's options (see the module's docstring).
        @raise ConfigError: for a bad option.
        """
        try:
            settings = RateLimitSettings.from_conf(conf)
        except ValueError as error:
            raise ConfigError(f"[filter:ratelimit] {error}") from None
        if settings.account_whitelist:
            _log.warn("Option account_whitelist is deprecated. Use an internal client to "
                      "POST a `X-Account-Sysmeta-Global-Write-Ratelimit: WHITELIST` header "
                      "to the specific accounts instead.")
        if settings.account_blacklist:
            _log.warn("Option account_blacklist is deprecated. Use an internal client to "
                      "POST a `X-Account-Sysmeta-Global-Write-Ratelimit: BLACKLIST` header "
                      "to the specific accounts instead.")
        workers = getattr(getattr(context, "settings", None), "workers", 1)
        if workers > 1 and isinstance(context.info_store, MemoryInfoStore):
            _log.warn("Ratelimit: the {workers} workers count in their own memory (no "
                      "[filter:cache] redis_url): each lets through the whole rate",
                      workers=workers)
        # Not every option is shown, as in Swift.
        context.register_info(
            "ratelimit",
            account_ratelimit=settings.account_ratelimit,
            max_sleep_time_seconds=settings.max_sleep_time_seconds,
            container_ratelimits=settings.container_limits.as_info(),
            container_listing_ratelimits=settings.listing_limits.as_info(),
        )
        return RateLimit(settings, context.info_store, context.info_cache, context.reactor,
                         context.constraints.valid_api_versions)


ratelimitPlugin = _RateLimitFactory()
