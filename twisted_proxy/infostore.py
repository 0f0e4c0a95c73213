# -*- test-case-name: tests.test_info -*-
"""
The embedded L{IInfoStore}: a dictionary with expiry times, for a proxy that
runs without Redis.
"""

from __future__ import annotations

import copy
from typing import Any, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from twisted_proxy.interfaces import IInfoStore

__all__ = ["MemoryInfoStore"]


@implementer(IInfoStore)
class MemoryInfoStore:
    """
    An L{IInfoStore} in this process's memory.

    Values are deep-copied in and out, so callers can never share state
    through a stored value the way they could not through Redis either.

    @param clock: tells the time used for expiry.
    @param max_entries: the entry count above which expired entries are
        swept on the next C{set}.
    """

    def __init__(self, clock: IReactorTime, max_entries: int = 100_000) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[float, Any]] = {}
        self._max_entries = max_entries

    def get(self, key: str) -> "Deferred[Optional[Any]]":
        entry = self._entries.get(key)
        if entry is None:
            return succeed(None)
        expires, value = entry
        if expires <= self._clock.seconds():
            del self._entries[key]
            return succeed(None)
        return succeed(copy.deepcopy(value))

    def set(self, key: str, value: Any, ttl: float) -> "Deferred[None]":
        if ttl <= 0:
            self._entries.pop(key, None)
            return succeed(None)
        if len(self._entries) >= self._max_entries:
            self._sweep()
        self._entries[key] = (self._clock.seconds() + ttl, copy.deepcopy(value))
        return succeed(None)

    def delete(self, key: str) -> "Deferred[None]":
        self._entries.pop(key, None)
        return succeed(None)

    def _sweep(self) -> None:
        now = self._clock.seconds()
        for key in [k for k, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]
