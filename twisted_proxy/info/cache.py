# -*- test-case-name: tests.test_info -*-
"""
Account and container info: what the proxy knows about an account or a
container (existence, ACLs, counts, metadata, storage policy) and how long it
trusts it.

Lookups go to the per-request context first, then to the shared
L{IInfoStore}, then to the storage nodes (a HEAD), as Swift's
C{get_info} does; concurrent misses for one key share one HEAD.

A sharded container's namespaces are kept the same way (Swift keeps them in
memcache): those for listings under L{listing_namespaces_key}, those that
take object updates under L{updating_namespaces_key}, each as the bounds
list of L{twisted_proxy.swift.shardrange.NamespaceBoundList}.
"""

from __future__ import annotations

import random
from typing import Any, Awaitable, Callable, Mapping, Optional, TypedDict, TypeVar, Union

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_proxy.info.memorystore import copy_value
from twisted_proxy.interfaces import IInfoStore, IMetrics
from twisted_proxy.swift.cors import CORSInfo
from twisted_proxy.swift.http import HeaderDict
from twisted_proxy.swift.metrics import NULL_METRICS
from twisted_proxy.swift.timestamp import Timestamp, http_date

__all__ = [
    "AccountInfo",
    "ContainerInfo",
    "Info",
    "ObjectInfo",
    "account_key",
    "container_key",
    "listing_namespaces_key",
    "updating_namespaces_key",
    "container_info_headers",
    "headers_to_account_info",
    "headers_to_container_info",
    "headers_to_object_info",
    "InfoCache",
    "INFO_ENVIRON_KEY",
    "same_info",
]

_log = Logger()

INFO_ENVIRON_KEY = "twisted_proxy.infocache"


def account_key(account: str) -> str:
    """
    The info store key of an account.
    """
    return f"account/{account}"


def container_key(account: str, container: str) -> str:
    """
    The info store key of a container.
    """
    return f"container/{account}/{container}"


def _server_type(key: str) -> str:
    """
    C{"account"} or C{"container"}: whose info the store key C{key} is.
    """
    return "account" if key.startswith("account/") else "container"


class _Status(TypedDict):
    status: int


class AccountInfo(_Status, total=False):
    """
    What the proxy knows of an account (Swift's account info). Only
    C{status} is sure to be there: info made before a key existed, or for a
    request that failed, may lack the others.

    @ivar status: the status of the backend C{HEAD} it was read from.
    @ivar meta: user metadata, lower-case names without their prefix.
    @ivar sysmeta: system metadata, the same way.
    @ivar storage_policies: usage per storage policy, by lower-case policy
        name: C{bytes}, C{object_count}, C{container_count}.
    """

    container_count: Optional[int]
    total_object_count: Optional[int]
    bytes: Optional[int]
    storage_policies: dict[str, Any]
    meta: dict[str, str]
    sysmeta: dict[str, str]


class ContainerInfo(_Status, total=False):
    """
    What the proxy knows of a container (Swift's container info); only
    C{status} is sure to be there.

    @ivar storage_policy: the policy index, a string of digits.
    """

    read_acl: Optional[str]
    write_acl: Optional[str]
    sync_to: Optional[str]
    sync_key: Optional[str]
    object_count: Optional[int]
    bytes: Optional[int]
    versions: Optional[str]
    storage_policy: str
    sharding_state: str
    cors: CORSInfo
    created_at: Optional[str]
    put_timestamp: Optional[str]
    meta: dict[str, str]
    sysmeta: dict[str, str]


class ObjectInfo(_Status, total=False):
    """
    What a response tells of an object (Swift's object info).
    """

    length: Optional[int]
    type: Optional[str]
    etag: Optional[str]
    meta: dict[str, str]
    sysmeta: dict[str, str]


#: The info L{InfoCache} keeps: an account's or a container's.
Info = Union[AccountInfo, ContainerInfo]

_InfoT = TypeVar("_InfoT", AccountInfo, ContainerInfo)
_T = TypeVar("_T")


def listing_namespaces_key(account: str, container: str) -> str:
    """
    The info store key of a sharded container's listing namespaces (Swift's
    memcache key).
    """
    return f"shard-listing-v2/{account}/{container}"


def updating_namespaces_key(account: str, container: str) -> str:
    """
    The info store key of the namespaces that take a sharded container's
    object updates (Swift's memcache key).
    """
    return f"shard-updating-v2/{account}/{container}"


def _int_or_none(value: Optional[str]) -> Optional[int]:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _prefixed(headers: HeaderDict, prefix: str) -> dict[str, str]:
    prefix = prefix.lower()
    return {
        name[len(prefix):].lower(): value
        for name, value in headers.items()
        if name.lower().startswith(prefix)
    }


def _metadata(headers: HeaderDict, server_type: str) -> tuple[dict[str, str], dict[str, str]]:
    """
    C{(meta, sysmeta)}: L{_prefixed} of C{X-<server_type>-Meta-} and of
    C{X-<server_type>-Sysmeta-}, read in one pass over the headers.
    """
    common = f"x-{server_type}-"
    meta_prefix, sysmeta_prefix = common + "meta-", common + "sysmeta-"
    meta: dict[str, str] = {}
    sysmeta: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if not lowered.startswith(common):
            continue
        if lowered.startswith(meta_prefix):
            meta[lowered[len(meta_prefix):]] = value
        elif lowered.startswith(sysmeta_prefix):
            sysmeta[lowered[len(sysmeta_prefix):]] = value
    return meta, sysmeta


_POLICY_STATS = (("-bytes-used", "bytes"), ("-object-count", "object_count"),
                 ("-container-count", "container_count"))


def _policy_stats(headers: HeaderDict) -> dict[str, Any]:
    """
    An account's usage per storage policy, from its
    C{X-Account-Storage-Policy-NAME-*} headers: by policy name (lower
    case: this layer does not know the policies' indexes), each a C{dict}
    of C{bytes}, C{object_count} and C{container_count}.
    """
    stats: dict[str, dict[str, int]] = {}
    for name, value in _prefixed(headers, "X-Account-Storage-Policy-").items():
        for suffix, key in _POLICY_STATS:
            if name.endswith(suffix) and len(name) > len(suffix):
                number = _int_or_none(value)
                if number is not None:
                    stats.setdefault(name[:-len(suffix)], {})[key] = number
                break
    return stats


def headers_to_account_info(headers: HeaderDict, status: int) -> AccountInfo:
    """
    Account info from a backend account response.
    """
    meta, sysmeta = _metadata(headers, "account")
    return {
        "status": status,
        "container_count": _int_or_none(headers.get("X-Account-Container-Count")),
        "total_object_count": _int_or_none(headers.get("X-Account-Object-Count")),
        "bytes": _int_or_none(headers.get("X-Account-Bytes-Used")),
        "storage_policies": _policy_stats(headers),
        "meta": meta,
        "sysmeta": sysmeta,
    }


def headers_to_container_info(headers: HeaderDict, status: int) -> ContainerInfo:
    """
    Container info from a backend container response.
    """
    meta, sysmeta = _metadata(headers, "container")
    return {
        "status": status,
        "read_acl": headers.get("X-Container-Read"),
        "write_acl": headers.get("X-Container-Write"),
        "sync_to": headers.get("X-Container-Sync-To"),
        "sync_key": headers.get("X-Container-Sync-Key"),
        "object_count": _int_or_none(headers.get("X-Container-Object-Count")),
        "bytes": _int_or_none(headers.get("X-Container-Bytes-Used")),
        "versions": headers.get("X-Versions-Location"),
        "storage_policy": headers.get("X-Backend-Storage-Policy-Index", "0"),
        "cors": {
            "allow_origin": meta.get("access-control-allow-origin"),
            "expose_headers": meta.get("access-control-expose-headers"),
            "max_age": meta.get("access-control-max-age"),
        },
        "created_at": headers.get("X-Timestamp"),
        "put_timestamp": headers.get("X-Put-Timestamp"),
        "meta": meta,
        "sysmeta": sysmeta,
        "sharding_state": headers.get("X-Backend-Sharding-State", "unsharded"),
    }


def container_info_headers(info: Mapping[str, Any]) -> Optional[HeaderDict]:
    """
    The headers of a container GET rebuilt from its cached info, as Swift
    rebuilds them to answer a sharded container's listing from cached
    namespaces: counts, timestamps (and C{Last-Modified}), policy, ACLs,
    metadata and sysmeta.

    @return: the headers, or C{None} when C{info} lacks what they need.
    """
    required = (
        ("X-Backend-Storage-Policy-Index", "storage_policy"),
        ("X-Container-Object-Count", "object_count"),
        ("X-Container-Bytes-Used", "bytes"),
        ("X-Backend-Sharding-State", "sharding_state"),
        ("X-Timestamp", "created_at"),
        ("X-Put-Timestamp", "put_timestamp"),
    )
    headers = HeaderDict()
    for name, key in required:
        value = info.get(key)
        if value is None:
            return None
        headers[name] = value
    try:
        last_modified = http_date(Timestamp(headers["X-Put-Timestamp"]))
    except ValueError:
        return None
    optional = (
        ("X-Container-Read", "read_acl"),
        ("X-Container-Write", "write_acl"),
        ("X-Container-Sync-Key", "sync_key"),
        ("X-Container-Sync-To", "sync_to"),
        ("X-Versions-Location", "versions"),
    )
    for name, key in optional:
        if info.get(key) is not None:
            headers[name] = info[key]
    for key, value in (info.get("meta") or {}).items():
        headers["X-Container-Meta-" + key] = value
    for key, value in (info.get("sysmeta") or {}).items():
        headers["X-Container-Sysmeta-" + key] = value
    headers["Last-Modified"] = last_modified
    headers["Content-Type"] = "application/json"
    return headers


def headers_to_object_info(headers: HeaderDict, status: int) -> ObjectInfo:
    """
    Object info from a backend object response.
    """
    meta, sysmeta = _metadata(headers, "object")
    return {
        "status": status,
        "length": _int_or_none(headers.get("Content-Length")),
        "type": headers.get("Content-Type"),
        "etag": headers.get("Etag"),
        "meta": meta,
        "sysmeta": sysmeta,
    }


def same_info(kept: Any, info: Any) -> bool:
    """
    Whether the stored info C{kept} says what C{info} says: equal, or equal
    but for C{created_at}. Each replica of a container database has its
    own creation time (its C{X-Timestamp}), so which one the store holds
    depends anyway on which replica answered last; replacing one with
    another tells nobody anything new.
    """
    if kept == info:
        return True
    if not (isinstance(kept, dict) and isinstance(info, dict) and "created_at" in info):
        return False
    return {**kept, "created_at": None} == {**info, "created_at": None}


#: Reads an account's or a container's info from its storage nodes.
Fetch = Callable[[], Awaitable[_InfoT]]


class _Flight:
    """
    One fetch in progress for a key, and the requests waiting for it.
    """

    def __init__(self) -> None:
        self.waiters: list[Deferred[Any]] = []

    def join(self) -> "Deferred[Any]":
        waiter: Deferred[Any] = Deferred(self._leave)
        self.waiters.append(waiter)
        return waiter

    def _leave(self, waiter: "Deferred[Any]") -> None:
        # One waiter giving up (its client went away) must not cancel the
        # fetch the others are waiting for.
        if waiter in self.waiters:
            self.waiters.remove(waiter)

    def land(self, result: "Info | Failure") -> None:
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                # Each request gets its own copy, as from the store.
                waiter.callback(copy_value(result))


class InfoCache:
    """
    The info lookup shared by all requests of one proxy process.

    @param store: the shared store.
    @param account_ttl: seconds account info is trusted
        (C{recheck_account_existence}).
    @param container_ttl: seconds container info is trusted
        (C{recheck_container_existence}).
    @param metrics: told of each lookup's outcome: a hit (the request's
        copy or the store's), a miss (fetched), or merged into a fetch
        already in flight; and of the same in Swift's terms (C{info_cache}).
    @param account_skip: the chance (0 to 1) that an account lookup the
        request cannot answer itself skips the store and asks the storage
        nodes, refreshing the store (Swift's
        C{account_existence_skip_cache_pct}, over 100).
    @param container_skip: the same for containers
        (C{container_existence_skip_cache_pct}).
    @param chance: a random number in [0, 1) each time one is rolled.
    """

    def __init__(
        self, store: IInfoStore, account_ttl: float, container_ttl: float,
        metrics: IMetrics = NULL_METRICS, account_skip: float = 0.0,
        container_skip: float = 0.0, chance: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._account_skip = account_skip
        self._container_skip = container_skip
        self._chance = chance
        # A store that can answer at once (one in this process's memory)
        # spares a cached lookup its Deferred; not when lookups may skip
        # the store, which only get() decides.
        self._store_now: Optional[Callable[[str], Optional[Any]]] = (
            getattr(store, "get_now", None) if not (account_skip or container_skip) else None)
        # A store that keeps short copies of the shared store's entries
        # (LayeredInfoStore) can tell that storing info would not change
        # it (see store()).
        self._holds_recent: Optional[Callable[..., bool]] = getattr(
            store, "holds_recent", None)
        self.metrics = metrics
        self.account_ttl = account_ttl
        self.container_ttl = container_ttl
        self._inflight: dict[str, _Flight] = {}

    def _ttl_for(self, key: str, info: Info) -> float:
        """
        Seconds to keep C{info} in the store, as Swift's C{set_info_cache}:
        a success for the full time, a 404 or 410 for a tenth of it, anything
        else not at all.
        """
        base = self.account_ttl if key.startswith("account/") else self.container_ttl
        status = info.get("status", 0)
        if 200 <= status < 300:
            return base
        if status in (404, 410):
            return base * 0.1
        return 0.0

    async def get(
        self, environ: dict[str, Any], key: str, fetch: Fetch[_InfoT]
    ) -> _InfoT:
        """
        The info for C{key}: from the request's context, the store, or
        C{fetch()} (a backend HEAD), remembering the answer in both.
        Errors (5xx, no answer) are kept for this request only.

        Concurrent calls for one key that miss the store share one
        C{fetch()}; cancelling one call leaves the others waiting.

        @raise Exception: whatever C{fetch()} raised.
        """
        known = self.get_now(environ, key)
        if known is not None:
            return known  # type: ignore[return-value]
        context: dict[str, Any] = environ[INFO_ENVIRON_KEY]
        server_type = _server_type(key)
        skip = self._account_skip if server_type == "account" else self._container_skip
        info: Any = None
        if skip and self._chance() < skip:
            state = "skip"
        else:
            state = "miss"
            info = await self._store.get(key)
        if info is None:
            info = await self._single_flight(key, fetch)
            self.metrics.info_cache(server_type, state, info.get("status"))
        else:
            self.metrics.info_lookup("hit")
            self.metrics.info_cache(server_type, "hit", None)
        context[key] = info
        return info  # type: ignore[no-any-return]

    def get_now(self, environ: dict[str, Any], key: str) -> Optional[Info]:
        """
        The info for C{key} when it is at hand: in the request's context,
        or in a store that answers at once (this process's memory). Found
        there, it is counted as a hit and kept in the context, exactly as
        L{get} would; otherwise nothing is counted and L{get} must be
        asked.

        @return: the info, or C{None}.
        """
        context: dict[str, Any] = environ.setdefault(INFO_ENVIRON_KEY, {})
        info = context.get(key)
        if info is None:
            if self._store_now is None:
                return None
            info = self._store_now(key)
            if info is None:
                return None
            context[key] = info
            state = "hit"
        else:
            state = "infocache_hit"
        self.metrics.info_lookup("hit")
        self.metrics.info_cache(_server_type(key), state, None)
        return info  # type: ignore[no-any-return]

    def _single_flight(self, key: str, fetch: Callable[[], Awaitable[_T]],
                       ttl_for: Optional[Callable[[Any], float]] = None
                       ) -> "Deferred[_T]":
        flight = self._inflight.get(key)
        if flight is not None:
            self.metrics.info_lookup("merged")
            return flight.join()
        self.metrics.info_lookup("miss")
        flight = self._inflight[key] = _Flight()
        # Join before starting: the fetch may finish synchronously.
        waiter = flight.join()
        if ttl_for is None:
            ttl_for = lambda info: self._ttl_for(key, info)  # noqa: E731
        Deferred.fromCoroutine(self._fetch(key, fetch, flight, ttl_for))
        return waiter

    async def _fetch(self, key: str, fetch: Callable[[], Awaitable[Any]], flight: _Flight,
                     ttl_for: Callable[[Any], float]) -> None:
        try:
            info = await fetch()
        except Exception:
            failure = Failure()
            self._land(key, flight)
            flight.land(failure)
            return
        # A flight that was invalidated meanwhile may hold what was true
        # before this proxy's own change: hand it to its waiters only.
        if self._inflight.get(key) is flight:
            ttl = ttl_for(info)
            if ttl > 0:
                try:
                    await self._store.set(key, info, ttl)
                except Exception:
                    _log.failure("Cannot store info for {key}", key=key)
        self._land(key, flight)
        flight.land(info)

    def _land(self, key: str, flight: _Flight) -> None:
        if self._inflight.get(key) is flight:
            del self._inflight[key]

    async def invalidate(self, environ: dict[str, Any], key: str) -> None:
        """
        Forget C{key} after this proxy changed it (PUT/POST/DELETE). A fetch
        already in flight for it is not stored.
        """
        environ.setdefault(INFO_ENVIRON_KEY, {}).pop(key, None)
        self._inflight.pop(key, None)
        await self._store.delete(key)

    async def store(self, environ: dict[str, Any], key: str, info: Info) -> None:
        """
        Remember C{info}, just read from the storage nodes, for this request
        and (when it is worth keeping) for others. A fetch already in flight
        for it is not stored over it.

        As Swift's C{set_info_cache}, every account or container GET and
        HEAD stores what it read, which also starts its time to live again.
        When the store's recent copy already is C{info} (see
        L{twisted_proxy.info.memorystore.LayeredInfoStore.holds_recent};
        compared by L{same_info}), the write would change nothing but that
        time, so it is left out: the shared store was given or gave the
        info at most C{local_ttl} (1 s by default) ago, and the first store
        after the copy expires writes it again. A busy container's
        listings thus cost no Redis write and no change announcement each,
        and its entry's time to live lags Swift's by at most C{local_ttl}.
        """
        environ.setdefault(INFO_ENVIRON_KEY, {})[key] = info
        self._inflight.pop(key, None)
        ttl = self._ttl_for(key, info)
        if ttl > 0:
            if self._holds_recent is not None and self._holds_recent(key, info, same_info):
                return
            await self._store.set(key, info, ttl)

    def remember(self, environ: dict[str, Any], key: str, info: Info) -> None:
        """
        Keep C{info} for the rest of this request only.
        """
        environ.setdefault(INFO_ENVIRON_KEY, {})[key] = info

    # -- shard namespaces ------------------------------------------------

    async def peek(self, environ: dict[str, Any], key: str) -> Optional[Any]:
        """
        What is cached under C{key}, from the request's context or the
        store, without fetching (Swift's C{cache_only} lookup); C{None} on
        a miss.
        """
        context: dict[str, Any] = environ.setdefault(INFO_ENVIRON_KEY, {})
        found = context.get(key)
        if found:
            return found
        found = await self._store.get(key)
        if not found:
            return None
        context[key] = found
        return found

    async def get_namespaces(
        self,
        environ: dict[str, Any],
        key: str,
        fetch: Callable[[], Awaitable[Optional[list[list[str]]]]],
        ttl: float,
    ) -> Optional[list[list[str]]]:
        """
        The namespace bounds cached under C{key}, or else those C{fetch()}
        finds (kept for C{ttl} seconds when there are any). Concurrent
        misses for one key share one C{fetch()}, as for info.

        @return: the bounds, or C{None} when none are cached and
            C{fetch()} found none.
        @raise Exception: whatever C{fetch()} raised.
        """
        found = await self.peek(environ, key)
        if found:
            self.metrics.info_lookup("hit")
            return found  # type: ignore[no-any-return]
        fetched = await self._single_flight(
            key, fetch, lambda bounds: ttl if bounds else 0.0)  # type: ignore[arg-type]
        if fetched:
            environ.setdefault(INFO_ENVIRON_KEY, {})[key] = fetched
        return fetched  # type: ignore[return-value]

    async def store_namespaces(self, environ: dict[str, Any], key: str,
                               bounds: list[list[str]], ttl: float) -> None:
        """
        Keep C{bounds}, just read from a container server, for this request
        and for C{ttl} seconds for others. A fetch in flight for C{key} is
        not stored over them.
        """
        environ.setdefault(INFO_ENVIRON_KEY, {})[key] = bounds
        self._inflight.pop(key, None)
        if ttl > 0:
            try:
                await self._store.set(key, bounds, ttl)
            except Exception:
                _log.failure("Cannot store namespaces for {key}", key=key)

