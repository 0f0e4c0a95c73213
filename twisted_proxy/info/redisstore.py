# -*- test-case-name: tests.test_redisstore,tests.e2e.test_redisstore -*-
"""
An L{IInfoStore} in Redis, so that every proxy process, on every proxy
host, shares cached account/container info and tempauth tokens.

Configured in Swift's C{[filter:cache]} section (where Swift's memcache
filter is), so operators' pipelines keep working::

    [filter:cache]
    use = egg:swift#memcache
    redis_url = redis://:PASSWORD@127.0.0.1:6379/0
    redis_pool_size = 10
    redis_key_prefix = twisted-proxy:
    redis_timeout = 0.25
    redis_retry_interval = 1

Without C{redis_url} the proxy keeps its in-process L{MemoryInfoStore}
(L{make_info_store} decides).

Redis is a cache here: when it is slow or down, requests go on without it
(a miss, so info comes from the storage nodes) and are never failed nor
delayed by more than C{redis_timeout}.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol
from urllib.parse import unquote, urlsplit

from twisted.internet.defer import Deferred, fail, gatherResults, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_proxy.config import ConfigError, ProxyConfig
from twisted_proxy.endpoints import client_endpoint
from twisted_proxy.info.invalidation import (
    ChangeListener,
    change_message,
    changes_channel,
    new_origin,
)
from twisted_proxy.info.memorystore import LayeredInfoStore, MemoryInfoStore
from twisted_proxy.interfaces import IInfoStore, IMetrics
from twisted_proxy.swift.metrics import NULL_METRICS

__all__ = [
    "INCR_SCRIPT",
    "RedisClient",
    "RedisInfoStore",
    "RedisSettings",
    "listen_for_changes",
    "make_info_store",
    "parse_redis_url",
]

_log = Logger()

#: The section holding the Redis options: Swift's memcache filter.
CACHE_SECTION = "cache"


def parse_redis_url(url: str) -> tuple[str, int, int, Optional[str], Optional[str]]:
    """
    Split a C{redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]} URL.

    The password (and the ACL user name, Redis 6+) are percent-decoded; an
    IPv6 host is written in brackets (C{redis://[::1]:6379/0}).

    @return: C{(host, port, db, username, password)}; the port defaults to
        6379, the database to 0, the user name and password to C{None}.
    @raise ValueError: the URL is not of that form.
    """
    parts = urlsplit(url.strip())
    if parts.scheme != "redis":
        raise ValueError(
            f"scheme {parts.scheme!r} is not supported, use redis://HOST:PORT/DB"
        )
    if not parts.hostname:
        raise ValueError("no host")
    if parts.query or parts.fragment:
        raise ValueError("a query or fragment is not supported")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("bad port")
    if port is None:
        port = 6379
    if not 0 < port < 65536:
        raise ValueError(f"bad port {port}")
    path = parts.path.strip("/")
    try:
        db = int(path) if path else 0
    except ValueError:
        raise ValueError(f"bad database number {path!r}")
    if db < 0:
        raise ValueError(f"bad database number {db}")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if username is not None and password is None:
        raise ValueError("a user without a password; write redis://:PASSWORD@HOST")
    return parts.hostname, port, db, username, password


def _positive_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise ValueError("must be a positive number of seconds")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError("must be a number of seconds, 0 or more")
    return value


def _pool_size(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


@dataclass(frozen=True)
class RedisSettings:
    """
    Where the Redis info store is and how it behaves.

    @ivar host: the server's host name or address.
    @ivar port: its TCP port.
    @ivar db: the database number (C{SELECT}).
    @ivar username: the ACL user name, or C{None}.
    @ivar password: the password (C{AUTH}), or C{None}.
    @ivar pool_size: how many connections each proxy process keeps open.
    @ivar key_prefix: put before every key, so proxies of different
        clusters can share one Redis.
    @ivar timeout: seconds one operation may take before the store gives
        up on it (a miss for C{get}).
    @ivar retry_interval: seconds the store goes without Redis after a
        failure before it tries again.
    """

    host: str
    port: int = 6379
    db: int = 0
    username: Optional[str] = None
    password: Optional[str] = None
    pool_size: int = 10
    key_prefix: str = "twisted-proxy:"
    timeout: float = 0.25
    retry_interval: float = 1.0

    @property
    def address(self) -> str:
        """
        C{redis://HOST:PORT/DB}, without credentials: for log lines.
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"redis://{host}:{self.port}/{self.db}"

    @classmethod
    def from_config(cls, config: ProxyConfig) -> Optional["RedisSettings"]:
        """
        The settings of C{config}'s C{[filter:cache]} section.

        @return: C{None} when that section has no C{redis_url}.
        @raise ConfigError: for a bad option.
        """
        section = config.filter_section(CACHE_SECTION)
        if section is None or not section.get("redis_url", "").strip():
            return None
        section_name = f"filter:{CACHE_SECTION}"

        def option(name: str, parse: Callable[[str], Any], default: Any) -> Any:
            assert section is not None
            if name not in section:
                return default
            try:
                return parse(section[name])
            except ValueError as error:
                # Never echo redis_url: it may hold a password.
                shown = "" if name == "redis_url" else f" {section[name]!r}"
                raise config.error(section_name, name, f"bad value{shown} ({error})")

        host, port, db, username, password = option("redis_url", parse_redis_url, None)
        return cls(
            host=host,
            port=port,
            db=db,
            username=username,
            password=password,
            pool_size=option("redis_pool_size", _pool_size, cls.pool_size),
            key_prefix=option("redis_key_prefix", str, cls.key_prefix),
            timeout=option("redis_timeout", _positive_float, cls.timeout),
            retry_interval=option(
                "redis_retry_interval", _non_negative_float, cls.retry_interval
            ),
        )


class RedisClient(Protocol):
    """
    The few Redis commands L{RedisInfoStore} needs. Each returns a
    L{Deferred} that may fail with anything and should stop waiting when
    cancelled.
    """

    def get(self, key: str) -> "Deferred[Any]":
        """
        C{GET key}: the stored string, or C{None}.
        """

    def set(self, key: str, value: str, pexpire: Optional[int]) -> "Deferred[Any]":
        """
        C{SET key value [PX pexpire]}.
        """

    def publish(self, channel: str, message: str) -> "Deferred[Any]":
        """
        C{PUBLISH channel message}.
        """

    def delete(self, key: str) -> "Deferred[Any]":
        """
        C{DEL key}.
        """

    def incr(self, key: str, delta: int, pexpire: int, reset_below: Optional[int],
             reset_to: int) -> "Deferred[Any]":
        """
        L{IInfoStore.incr} in one atomic step (L{INCR_SCRIPT}): add
        C{delta} to the integer under C{key} (0 when missing or no
        integer), store C{reset_to} instead when C{reset_below} is given
        and the sum is below it, expire the key in C{pexpire} ms.

        @return: a L{Deferred} firing with the stored integer, as an
            C{int} or its decimal text.
        """

    def connected(self) -> bool:
        """
        Whether a connection to Redis is open right now.
        """

    def close(self) -> "Deferred[Any]":
        """
        Close every connection and stop reconnecting.
        """


#: The Lua script of L{RedisClient.incr}, run by Redis as one atomic step.
#: KEYS[1] is the key; ARGV: delta, expiry in ms, reset_below (empty for
#: none), reset_to. Lua numbers are doubles: exact up to 2**53, far beyond
#: a rate counter's milliseconds. The answer is decimal text, so that no
#: client converts it to a float.
INCR_SCRIPT = """\
local value = tonumber(redis.call('GET', KEYS[1]))
if value == nil or value % 1 ~= 0 then
  value = 0
end
value = value + tonumber(ARGV[1])
if ARGV[3] ~= '' and value < tonumber(ARGV[3]) then
  value = tonumber(ARGV[4])
end
local text = string.format('%d', value)
redis.call('SET', KEYS[1], text, 'PX', ARGV[2])
return text
"""


class _TxRedisClient:
    """
    A L{RedisClient} on a lazy, reconnecting C{txredisapi} connection pool.
    """

    def __init__(self, factory: Any) -> None:
        self._factory = factory
        self._handler = factory.handler

    def get(self, key: str) -> "Deferred[Any]":
        return self._handler.get(key)  # type: ignore[no-any-return]

    def set(self, key: str, value: str, pexpire: Optional[int]) -> "Deferred[Any]":
        return self._handler.set(key, value, pexpire=pexpire)  # type: ignore[no-any-return]

    def delete(self, key: str) -> "Deferred[Any]":
        return self._handler.delete(key)  # type: ignore[no-any-return]

    def publish(self, channel: str, message: str) -> "Deferred[Any]":
        return self._handler.publish(channel, message)  # type: ignore[no-any-return]

    def incr(self, key: str, delta: int, pexpire: int, reset_below: Optional[int],
             reset_to: int) -> "Deferred[Any]":
        # txredisapi sends EVALSHA once the script is known to a
        # connection, EVAL (which loads it) otherwise.
        args = [str(delta), str(pexpire), "" if reset_below is None else str(reset_below),
                str(reset_to)]
        return self._handler.eval(INCR_SCRIPT, [key], args)  # type: ignore[no-any-return]

    def connected(self) -> bool:
        return bool(self._factory.size)

    def close(self) -> "Deferred[Any]":
        return self._factory.disconnect()  # type: ignore[no-any-return]


def _connect_txredisapi(
    reactor: Any,
    settings: RedisSettings,
    initial_reconnect_delay: float,
    max_reconnect_delay: float,
) -> _TxRedisClient:
    import txredisapi

    # A reply this late means a dead or hung connection: txredisapi then
    # drops it and reconnects. Requests stopped waiting long before.
    reply_timeout = max(1.0, 4 * settings.timeout)
    factory = txredisapi.RedisFactory(
        f"{settings.host}:{settings.port}",
        settings.db or None,
        settings.pool_size,
        isLazy=True,
        handler=txredisapi.ConnectionHandler,
        charset="utf-8",
        password=settings.password,
        replyTimeout=reply_timeout,
        # Values are JSON text: "5" must stay a string for json.loads.
        convertNumbers=False,
        username=settings.username,
    )
    factory.reconnect = True
    factory.initialDelay = initial_reconnect_delay
    factory.maxDelay = max_reconnect_delay
    # Nobody waits for a lazy pool to fill; a failed AUTH or SELECT fails
    # this Deferred (txredisapi logs why).
    factory.deferred.addErrback(lambda _: None)
    endpoint = client_endpoint(reactor, settings.host, settings.port, reply_timeout)
    factory.startConnecting(endpoint)
    return _TxRedisClient(factory)


@implementer(IInfoStore)
class RedisInfoStore:
    """
    An L{IInfoStore} in Redis: each value is JSON text under
    C{key_prefix + key}, its TTL the key's expiry (C{SET key value PX ms});
    a counter (C{incr}) is decimal text, moved by a Lua script
    (L{INCR_SCRIPT}) so that every process and every proxy shares it.

    Redis trouble never fails an operation: C{get} and C{incr} fire
    C{None} (a miss, no count) and C{set}/C{delete} fire C{None} once
    they give up. The policy:

      - Every operation gets at most C{timeout} seconds.
      - The first failure (no answer in time, lost connection, an error
        reply) starts an outage: one warning is logged, and for
        C{retry_interval} seconds operations do not try Redis at all; they
        answer C{None} at once.
      - Then one operation at a time tries Redis (a probe), and only while
        a connection is open (the pool reconnects by itself, backing off up
        to a few seconds). Concurrent operations still skip Redis. A failed
        probe waits another C{retry_interval}; a successful one ends the
        outage, logged once at info level.

    So during an outage only the operations in flight when it began, and
    probes (at most one per C{retry_interval}, and only over a live
    connection), wait up to C{timeout}; the others add no latency.
    A C{delete} skipped in an outage leaves the old value until it expires,
    as Swift's memcache would.

    @param client: the L{RedisClient}.
    @param clock: times the operations and the outage.
    @param timeout: seconds one operation may take.
    @param key_prefix: put before every key.
    @param retry_interval: seconds to go without Redis after a failure.
    @param address: names the server in log lines (no credentials).
    @ivar metrics: told when the circuit opens (an outage begins) and
        closes again.
    @ivar changes: see below.
    """

    metrics: IMetrics = NULL_METRICS

    #: C{(channel, origin)}: where to announce each C{set} and C{delete}
    #: (L{twisted_proxy.info.invalidation}), and as whom; C{None}: nowhere.
    changes: Optional[tuple[str, str]] = None

    #: The subscriber hearing other processes' changes, closed with this
    #: store.
    listener: Optional[ChangeListener] = None

    def __init__(
        self,
        client: RedisClient,
        clock: IReactorTime,
        timeout: float = 0.25,
        key_prefix: str = "twisted-proxy:",
        retry_interval: float = 1.0,
        address: str = "redis",
    ) -> None:
        self._client = client
        self._clock = clock
        self.timeout = timeout
        self.key_prefix = key_prefix
        self.retry_interval = retry_interval
        self.address = address
        self._up = True
        # Bumped when the store goes down or up, so that an operation
        # begun before that cannot change the state again.
        self._epoch = 0
        self._retry_at = 0.0
        self._probing = False
        self._down_since = 0.0
        self._skipped = 0
        self._closed = False

    @classmethod
    def connect(
        cls,
        reactor: Any,
        settings: RedisSettings,
        initial_reconnect_delay: float = 0.2,
        max_reconnect_delay: float = 5.0,
    ) -> "RedisInfoStore":
        """
        A store on a new lazy connection pool to C{settings}' server: it
        connects in the background and is usable at once.

        @param reactor: an L{IReactorTime} and L{IReactorTCP} provider.
        @param initial_reconnect_delay: seconds before reconnecting a lost
            connection; later attempts back off exponentially...
        @param max_reconnect_delay: ...up to this many seconds.
        """
        client = _connect_txredisapi(
            reactor, settings, initial_reconnect_delay, max_reconnect_delay
        )
        return cls(
            client,
            reactor,
            timeout=settings.timeout,
            key_prefix=settings.key_prefix,
            retry_interval=settings.retry_interval,
            address=settings.address,
        )

    @property
    def available(self) -> bool:
        """
        C{False} during an outage.
        """
        return self._up

    def get(self, key: str) -> "Deferred[Optional[Any]]":
        redis_key = self._redis_key(key)
        if redis_key is None:
            return succeed(None)
        d = self._run(lambda: self._client.get(redis_key))
        return d.addCallback(self._decode, key)

    def set(self, key: str, value: Any, ttl: float) -> "Deferred[None]":
        try:
            text = json.dumps(value, separators=(",", ":"))
        except (TypeError, ValueError):
            return fail()
        if not ttl > 0:
            return self.delete(key)
        redis_key = self._redis_key(key)
        if redis_key is None:
            return succeed(None)
        pexpire = max(1, round(ttl * 1000)) if math.isfinite(ttl) else None
        d = self._run(lambda: self._announced(self._client.set(redis_key, text, pexpire), key))
        return d.addCallback(lambda _: None)

    def delete(self, key: str) -> "Deferred[None]":
        redis_key = self._redis_key(key)
        if redis_key is None:
            return succeed(None)
        d = self._run(lambda: self._announced(self._client.delete(redis_key), key))
        return d.addCallback(lambda _: None)

    def _announced(self, change: "Deferred[Any]", key: str) -> "Deferred[Any]":
        """
        C{change}, followed once it is made by a message on L{changes}'
        channel, so that the change is done only when every listening
        process has been told.
        """
        if self.changes is None:
            return change
        channel, origin = self.changes
        message = change_message(origin, key)
        return change.addCallback(lambda _: self._client.publish(channel, message))

    def incr(self, key: str, delta: int, ttl: float, reset_below: Optional[int] = None,
             reset_to: int = 0) -> "Deferred[Optional[int]]":
        redis_key = self._redis_key(key)
        if redis_key is None:
            return succeed(None)
        pexpire = max(1, round(ttl * 1000))
        d = self._run(lambda: self._client.incr(redis_key, delta, pexpire, reset_below,
                                                reset_to))
        return d.addCallback(self._integer, key)

    def close(self) -> "Deferred[None]":
        """
        Close the connections, the L{listener}'s too; later operations fire
        C{None} at once.
        """
        self._closed = True
        closing = [self._client.close()]
        if self.listener is not None:
            closing.append(self.listener.stop())
        return gatherResults(closing).addCallback(lambda _: None)

    def _redis_key(self, key: str) -> Optional[str]:
        """
        C{key} with the prefix, or C{None} when it cannot be sent (not
        encodable as UTF-8): such a key is never stored, rather than
        failing the command as if Redis were down.
        """
        redis_key = self.key_prefix + key
        try:
            redis_key.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return redis_key

    def _decode(self, raw: Any, key: str) -> Optional[Any]:
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            # Not written by us; treated as a miss, so the next set replaces it.
            _log.warn(
                "Redis info store {address}: {key!r} does not hold JSON; ignored",
                address=self.address,
                key=self.key_prefix + key,
            )
            return None

    def _integer(self, raw: Any, key: str) -> Optional[int]:
        if raw is None:
            return None
        try:
            return int(raw)
        except (TypeError, ValueError):
            _log.warn(
                "Redis info store {address}: incr of {key!r} answered {raw!r}; ignored",
                address=self.address, key=self.key_prefix + key, raw=raw,
            )
            return None

    def _run(self, operation: Callable[[], "Deferred[Any]"]) -> "Deferred[Any]":
        """
        Run C{operation} under the timeout and outage policy.

        @return: a L{Deferred} firing with C{operation}'s result, or with
            C{None} when Redis was skipped or failed. It fails only with
            L{CancelledError} when its caller cancels it.
        """
        if self._closed:
            return succeed(None)
        probe = False
        if not self._up:
            if (
                self._probing
                or self._clock.seconds() < self._retry_at
                or not self._client.connected()
            ):
                self._skipped += 1
                return succeed(None)
            probe = self._probing = True
        epoch = self._epoch
        state = {"timed_out": False, "cancelled": False}
        try:
            inner = operation()
        except Exception:
            inner = fail()

        def cancel(outer: "Deferred[Any]") -> None:
            state["cancelled"] = True
            inner.cancel()

        outer: "Deferred[Any]" = Deferred(cancel)

        def give_up() -> None:
            # The outcome is settled here, not in finished(): a client
            # that ignores cancellation must not hold the request up.
            state["timed_out"] = True
            self._settle(epoch, probe, f"no answer in {self.timeout:g} s")
            outer.callback(None)
            inner.cancel()

        timer: IDelayedCall = self._clock.callLater(self.timeout, give_up)

        def finished(result: Any) -> None:
            if timer.active():
                timer.cancel()
            if state["timed_out"]:
                return
            if state["cancelled"]:
                # The caller went away; that says nothing about Redis.
                if probe:
                    self._probing = False
                return
            if isinstance(result, Failure):
                self._settle(epoch, probe, _describe(result))
                outer.callback(None)
            else:
                self._settle(epoch, probe, None)
                outer.callback(result)

        inner.addBoth(finished)
        return outer

    def _settle(self, epoch: int, probe: bool, problem: Optional[str]) -> None:
        """
        Account for one operation's outcome: C{problem} is C{None} for a
        success, else why it failed.
        """
        if probe:
            self._probing = False
        if epoch != self._epoch:
            return
        now = self._clock.seconds()
        if problem is None:
            if not self._up:
                self._epoch += 1
                self._up = True
                self.metrics.redis_available(True)
                _log.info(
                    "Redis info store {address} is back after {outage:.1f} s; "
                    "{skipped} operations went without it",
                    address=self.address,
                    outage=now - self._down_since,
                    skipped=self._skipped,
                )
            return
        self._retry_at = now + self.retry_interval
        if self._up:
            self._epoch += 1
            self._up = False
            self._down_since = now
            self._skipped = 0
            self.metrics.redis_available(False)
            _log.warn(
                "Redis info store {address} is unavailable ({problem}); "
                "going on without it, trying again every {interval:g} s",
                address=self.address,
                problem=problem,
                interval=self.retry_interval,
            )


def _describe(failure: Failure) -> str:
    message = failure.getErrorMessage()
    name = getattr(failure.type, "__name__", "error")
    return f"{name}: {message}" if message else name


def make_info_store(config: ProxyConfig, reactor: Any,
                    metrics: IMetrics = NULL_METRICS) -> IInfoStore:
    """
    The proxy's L{IInfoStore}: a L{RedisInfoStore} when C{[filter:cache]}
    has a C{redis_url}, else a L{MemoryInfoStore}.

    @param reactor: an L{IReactorTime} and L{IReactorTCP} provider.
    @param metrics: told of the Redis store's outages.
    @raise ConfigError: for a bad Redis option.
    """
    settings = RedisSettings.from_config(config)
    if settings is None:
        _log.info("Info store: in-process memory (no redis_url in [filter:cache])")
        return MemoryInfoStore(reactor)
    _log.info(
        "Info store: Redis at {address} ({pool_size} connections, key prefix "
        "{prefix!r}, timeout {timeout:g} s)",
        address=settings.address,
        pool_size=settings.pool_size,
        prefix=settings.key_prefix,
        timeout=settings.timeout,
    )
    section = config.filter_section("cache") or {}
    raw = section.get("info_local_ttl", "1.0")
    try:
        local_ttl = float(raw)
        if not local_ttl >= 0:
            raise ValueError(raw)
    except ValueError:
        raise ConfigError(f"{config.path}: [filter:cache] info_local_ttl: "
                          f"expected seconds (0 or more), got {raw!r}")
    redis = RedisInfoStore.connect(reactor, settings)
    redis.metrics = metrics
    metrics.redis_available(True)
    layered = LayeredInfoStore(redis, reactor, local_ttl)
    if local_ttl > 0:
        listen_for_changes(layered, redis, settings, reactor)
    return layered


def listen_for_changes(layered: LayeredInfoStore, redis: RedisInfoStore,
                       settings: RedisSettings, reactor: Any) -> ChangeListener:
    """
    Make C{redis} announce this process's changes and C{layered} drop its
    copies of what other processes change; C{layered} keeps copies only
    while it hears of changes.
    """
    channel = changes_channel(settings.key_prefix, settings.db)
    origin = new_origin()
    redis.changes = (channel, origin)
    layered.keeping = False

    def forget_all() -> None:
        layered.forget_all()
        layered.keeping = listener.live

    listener = ChangeListener(channel, origin, layered.forget, forget_all)
    listener.start(reactor, settings.host, settings.port, settings.password,
                   settings.username, connect_timeout=max(1.0, 4 * settings.timeout))
    redis.listener = listener
    return listener
