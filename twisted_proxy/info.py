# -*- test-case-name: tests.test_info -*-
"""
Account and container info: what the proxy knows about an account or a
container (existence, ACLs, counts, metadata, storage policy) and how long it
trusts it.

Lookups go to the per-request context first, then to the shared
L{IInfoStore}, then to the storage nodes (a HEAD), as Swift's
C{get_info} does; concurrent misses for one key share one HEAD.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Optional

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_proxy.http import HeaderDict
from twisted_proxy.interfaces import IInfoStore

__all__ = [
    "account_key",
    "container_key",
    "headers_to_account_info",
    "headers_to_container_info",
    "headers_to_object_info",
    "InfoCache",
    "INFO_ENVIRON_KEY",
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


def headers_to_account_info(headers: HeaderDict, status: int) -> dict[str, Any]:
    """
    Account info from a backend account response.
    """
    return {
        "status": status,
        "container_count": _int_or_none(headers.get("X-Account-Container-Count")),
        "total_object_count": _int_or_none(headers.get("X-Account-Object-Count")),
        "bytes": _int_or_none(headers.get("X-Account-Bytes-Used")),
        "storage_policies": {},
        "meta": _prefixed(headers, "X-Account-Meta-"),
        "sysmeta": _prefixed(headers, "X-Account-Sysmeta-"),
    }


def headers_to_container_info(headers: HeaderDict, status: int) -> dict[str, Any]:
    """
    Container info from a backend container response.
    """
    meta = _prefixed(headers, "X-Container-Meta-")
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
        "sysmeta": _prefixed(headers, "X-Container-Sysmeta-"),
    }


def headers_to_object_info(headers: HeaderDict, status: int) -> dict[str, Any]:
    """
    Object info from a backend object response.
    """
    return {
        "status": status,
        "length": _int_or_none(headers.get("Content-Length")),
        "type": headers.get("Content-Type"),
        "etag": headers.get("Etag"),
        "meta": _prefixed(headers, "X-Object-Meta-"),
        "sysmeta": _prefixed(headers, "X-Object-Sysmeta-"),
    }


Fetch = Callable[[], Awaitable[dict[str, Any]]]


class InfoCache:
    """
    The info lookup shared by all requests of one proxy process.

    @param store: the shared store.
    @param account_ttl: seconds account info is trusted
        (C{recheck_account_existence}).
    @param container_ttl: seconds container info is trusted
        (C{recheck_container_existence}).
    """

    def __init__(
        self, store: IInfoStore, account_ttl: float, container_ttl: float
    ) -> None:
        self._store = store
        self.account_ttl = account_ttl
        self.container_ttl = container_ttl
        self._inflight: dict[str, Deferred[dict[str, Any]]] = {}

    def _ttl_for(self, key: str, info: dict[str, Any]) -> float:
        base = self.account_ttl if key.startswith("account/") else self.container_ttl
        status = info.get("status", 0)
        if 200 <= status < 300:
            return base
        if status == 404:
            return base * 0.1
        return 0.0

    async def get(
        self, environ: dict[str, Any], key: str, fetch: Fetch
    ) -> dict[str, Any]:
        """
        The info for C{key}: from the request's context, the store, or
        C{fetch()} (a backend HEAD), remembering the answer in both.
        Errors (5xx, no answer) are kept for this request only.
        """
        context: dict[str, Any] = environ.setdefault(INFO_ENVIRON_KEY, {})
        if key in context:
            return context[key]  # type: ignore[no-any-return]
        info = await self._store.get(key)
        if info is None:
            info = await self._single_flight(key, fetch)
        context[key] = info
        return info  # type: ignore[no-any-return]

    async def _single_flight(self, key: str, fetch: Fetch) -> dict[str, Any]:
        waiting = self._inflight.get(key)
        if waiting is not None:
            shared: dict[str, Any] = await _chain(waiting)
            return dict(shared)
        d: Deferred[dict[str, Any]] = Deferred()
        self._inflight[key] = d
        try:
            info = await fetch()
            ttl = self._ttl_for(key, info)
            if ttl > 0:
                await self._store.set(key, info, ttl)
        except BaseException:
            del self._inflight[key]
            d.errback()
            raise
        del self._inflight[key]
        d.callback(info)
        return info

    async def invalidate(self, environ: dict[str, Any], key: str) -> None:
        """
        Forget C{key} after this proxy changed it (PUT/POST/DELETE).
        """
        environ.setdefault(INFO_ENVIRON_KEY, {}).pop(key, None)
        await self._store.delete(key)

    async def store(self, environ: dict[str, Any], key: str, info: dict[str, Any]
                    ) -> None:
        """
        Remember C{info}, just read from the storage nodes, for this request
        and (when it is worth keeping) for others.
        """
        environ.setdefault(INFO_ENVIRON_KEY, {})[key] = info
        ttl = self._ttl_for(key, info)
        if ttl > 0:
            await self._store.set(key, info, ttl)

    def remember(self, environ: dict[str, Any], key: str, info: dict[str, Any]
                 ) -> None:
        """
        Keep C{info} for the rest of this request only.
        """
        environ.setdefault(INFO_ENVIRON_KEY, {})[key] = info


def _chain(d: "Deferred[dict[str, Any]]") -> "Deferred[dict[str, Any]]":
    """
    A new Deferred with C{d}'s result, leaving C{d}'s own chain untouched.
    """
    out: Deferred[dict[str, Any]] = Deferred()

    def relay(result: Any) -> Any:
        if isinstance(result, Failure):
            out.errback(result)
            return None
        out.callback(result)
        return result

    d.addBoth(relay)
    return out


def fetch_later(f: Callable[[], Awaitable[dict[str, Any]]]) -> Fetch:
    """
    Adapt a coroutine function for L{InfoCache.get}.
    """
    return lambda: ensureDeferred(f())  # type: ignore[arg-type,return-value]
