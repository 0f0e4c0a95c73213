# -*- test-case-name: tests.test_info -*-
"""
The embedded L{IInfoStore}: a dictionary with expiry times, for a proxy that
runs without Redis.
"""

from __future__ import annotations

import copy
import operator
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from twisted_proxy.interfaces import IInfoStore

__all__ = ["MemoryInfoStore", "LayeredInfoStore", "copier", "copy_value"]

#: Values shared rather than copied: nothing can change them.
_IMMUTABLE = frozenset({str, int, float, bool, bytes, type(None)})


def copy_value(value: Any) -> Any:
    """
    A deep copy of C{value}, as L{copy.deepcopy} makes, quicker for what an
    info store holds (dictionaries and lists of strings, numbers, C{None}):
    those are copied here, anything else by L{copy.deepcopy}. A container
    reached twice is copied twice, as through Redis' serialization.
    """
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if kind is dict:
        copied = {}
        for key, item in value.items():
            if type(key) not in _IMMUTABLE:
                return copy.deepcopy(value)
            copied[key] = item if type(item) in _IMMUTABLE else copy_value(item)
        return copied
    if kind is list:
        return [item if type(item) in _IMMUTABLE else copy_value(item) for item in value]
    return copy.deepcopy(value)


def _same(value: Any) -> Any:
    return value


def copier(value: Any) -> Callable[[Any], Any]:
    """
    A function that copies C{value} as L{copy_value} does, quicker: the
    walk over C{value} that finds what needs copying is made once, here,
    and the function repeats only its result (dictionaries copied whole,
    then those of their values that are containers copied in turn). Keep
    it for C{value} alone, or for what is sure to have its shape: the
    same keys holding containers of the same kinds.
    """
    kind = type(value)
    if kind in _IMMUTABLE:
        return _same
    if kind is dict and all(type(key) in _IMMUTABLE for key in value):
        nested = tuple((key, copier(item)) for key, item in value.items()
                       if type(item) not in _IMMUTABLE)
        if not nested:
            return dict.copy

        def copy_dict(original: dict[Any, Any]) -> dict[Any, Any]:
            copied = original.copy()
            for key, copy_item in nested:
                copied[key] = copy_item(original[key])
            return copied

        return copy_dict
    if kind is list and all(type(item) in _IMMUTABLE for item in value):
        return list.copy
    return copy_value


@implementer(IInfoStore)
class MemoryInfoStore:
    """
    An L{IInfoStore} in this process's memory.

    Values are deep-copied in and out (L{copy_value}), so callers can never share state
    through a stored value the way they could not through Redis either.

    @param clock: tells the time used for expiry.
    @param max_entries: the entry count above which expired entries are
        swept on the next C{set}.
    """

    def __init__(self, clock: IReactorTime, max_entries: int = 100_000) -> None:
        self._clock = clock
        # Each value with its copier (see copier()): stored values are
        # this store's own copies, which nothing changes.
        self._entries: dict[str, tuple[float, Any, Callable[[Any], Any]]] = {}
        self._max_entries = max_entries

    def get(self, key: str) -> "Deferred[Optional[Any]]":
        return succeed(self.get_now(key))

    def get_now(self, key: str) -> Optional[Any]:
        """
        What L{get} fires with, returned at once: this store never waits.

        @return: a copy of the value, or C{None} when C{key} is missing or
            expired.
        """
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value, copy_of = entry
        if expires <= self._clock.seconds():
            del self._entries[key]
            return None
        return copy_of(value)

    def holds(self, key: str, value: Any,
              same: Callable[[Any, Any], bool] = operator.eq) -> bool:
        """
        Whether C{key} holds C{value} (not expired), without the copy
        L{get_now} makes.

        @param same: tells whether the value held (which it must not
            change) and C{value} are the same; by default, whether they
            are equal.
        """
        entry = self._entries.get(key)
        return entry is not None and entry[0] > self._clock.seconds() and same(entry[1], value)

    def set(self, key: str, value: Any, ttl: float) -> "Deferred[None]":
        if ttl <= 0:
            self._entries.pop(key, None)
            return succeed(None)
        if len(self._entries) >= self._max_entries:
            self._sweep()
        value = copy_value(value)
        self._entries[key] = (self._clock.seconds() + ttl, value, copier(value))
        return succeed(None)

    def delete(self, key: str) -> "Deferred[None]":
        self._entries.pop(key, None)
        return succeed(None)

    def clear(self) -> None:
        """
        Drop every entry.
        """
        self._entries.clear()

    def incr(self, key: str, delta: int, ttl: float, reset_below: Optional[int] = None,
             reset_to: int = 0) -> "Deferred[Optional[int]]":
        value = _stored_int(self._entries.get(key), self._clock.seconds()) + delta
        if reset_below is not None and value < reset_below:
            value = reset_to
        if len(self._entries) >= self._max_entries:
            self._sweep()
        self._entries[key] = (self._clock.seconds() + ttl, value, _same)
        return succeed(value)

    def _sweep(self) -> None:
        now = self._clock.seconds()
        for key in [k for k, entry in self._entries.items() if entry[0] <= now]:
            del self._entries[key]


def _stored_int(entry: Optional[tuple[float, Any, Any]], now: float) -> int:
    """
    The integer an entry holds for L{MemoryInfoStore.incr}: 0 when it is
    missing, expired or no integer.
    """
    if entry is None or entry[0] <= now:
        return 0
    value = entry[1]
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return 0


@implementer(IInfoStore)
class LayeredInfoStore:
    """
    A short-lived copy in this process in front of a shared store (Redis):
    a hit costs no round trip, a miss reads through and keeps the answer for
    at most C{local_ttl} seconds. This process's own C{set} and C{delete}
    reach both tiers at once, so with one process nothing is ever stale.
    With several, another process's change shows here when that process's
    word of it arrives (L{forget}, from a
    L{twisted_proxy.info.invalidation.ChangeListener}), or else within
    C{local_ttl}.

    @param shared: the store every process shares.
    @param local_ttl: seconds an answer is kept here; 0 keeps nothing.
    @ivar keeping: whether copies are kept now: a process that relies on
        word of changes turns this off while it cannot hear them.
    """

    def __init__(self, shared: IInfoStore, clock: IReactorTime, local_ttl: float = 1.0,
                 max_entries: int = 10_000) -> None:
        self.shared = shared
        self._local = MemoryInfoStore(clock, max_entries)
        self._local_ttl = local_ttl
        self.keeping = True

    def forget(self, key: str) -> None:
        """
        Drop this process's copy of C{key}: it changed elsewhere.
        """
        self._local.delete(key)

    def forget_all(self) -> None:
        """
        Drop every copy this process keeps.
        """
        self._local.clear()

    def get_now(self, key: str) -> Optional[Any]:
        """
        This process's copy of C{key}, at once, without asking the shared
        store.

        @return: a copy of the value, or C{None} when this process keeps
            none (the shared store may still have one: ask L{get}).
        """
        if self._local_ttl <= 0 or not self.keeping:
            return None
        return self._local.get_now(key)

    def holds_recent(self, key: str, value: Any,
                     same: Callable[[Any, Any], bool] = operator.eq) -> bool:
        """
        Whether this process's copy of C{key} is C{value}, as C{same}
        tells (see L{MemoryInfoStore.holds}). A copy is made when this
        process wrote the value to the shared store or read it from there,
        at most C{local_ttl} seconds ago, and is dropped as soon as another
        process announces a change of C{key}: so when this is true, the
        shared store has held C{value} within the last C{local_ttl}
        seconds and nobody has announced changing it since.

        @return: C{False} whenever no copies are kept.
        """
        if self._local_ttl <= 0 or not self.keeping:
            return False
        return self._local.holds(key, value, same)

    def get(self, key: str) -> "Deferred[Optional[Any]]":
        value = self.get_now(key)
        if value is not None:
            return succeed(value)
        if self._local_ttl <= 0 or not self.keeping:
            return self.shared.get(key)  # type: ignore[no-any-return]
        d: Deferred[Optional[Any]] = self.shared.get(key)

        def keep(found: Optional[Any]) -> Optional[Any]:
            if found is not None and self.keeping:
                self._local.set(key, found, self._local_ttl)
            return found

        return d.addCallback(keep)

    def set(self, key: str, value: Any, ttl: float) -> "Deferred[None]":
        if not self.keeping:
            return self.shared.set(key, value, ttl)  # type: ignore[no-any-return]
        self._local.set(key, value, min(ttl, self._local_ttl))
        return self.shared.set(key, value, ttl)  # type: ignore[no-any-return]

    def delete(self, key: str) -> "Deferred[None]":
        self._local.delete(key)
        return self.shared.delete(key)  # type: ignore[no-any-return]

    def incr(self, key: str, delta: int, ttl: float, reset_below: Optional[int] = None,
             reset_to: int = 0) -> "Deferred[Optional[int]]":
        """
        Counted in the shared store only: a counter is shared by every
        process, so no copy of it is kept here.
        """
        self._local.delete(key)
        return self.shared.incr(  # type: ignore[no-any-return]
            key, delta, ttl, reset_below, reset_to)
