# -*- test-case-name: tests.test_shardrange -*-
"""
Shard ranges as a proxy sees them: namespaces of object names, each served
by one shard container, and the walk that builds one object listing of a
sharded container from its shards' listings.

A sharded container's database holds no objects; its shard ranges say which
shard container (in the hidden account C{.shards_<account>}) holds the
objects whose names fall between a lower bound (excluded) and an upper bound
(included). A container server sends them as JSON objects with C{name}
(C{<account>/<container>}), C{lower} and C{upper}; an empty bound is
unbounded.

All names and bounds here are text (Unicode), compared by code point, as
Swift compares them; callers convert WSGI strings first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

__all__ = [
    "Namespace",
    "NamespaceBoundList",
    "parse_namespaces",
    "find_namespace",
    "filter_namespaces",
    "listing_namespaces",
    "ShardFetch",
    "ShardListingWalk",
]


def _lower_key(bound: str) -> tuple[int, str]:
    # An empty lower bound is below every name.
    return (0, "") if bound == "" else (1, bound)


def _upper_key(bound: str) -> tuple[int, str]:
    # An empty upper bound is above every name.
    return (2, "") if bound == "" else (1, bound)


@dataclass(frozen=True)
class Namespace:
    """
    The object names a shard container holds: those above C{lower} and up
    to C{upper} included.

    @ivar name: the shard container's path, C{<account>/<container>}.
    @ivar lower: the lower bound, excluded; C{""} for none.
    @ivar upper: the upper bound, included; C{""} for none.
    @raise ValueError: (on creation) when C{lower} is above C{upper}.
    """

    name: str
    lower: str = ""
    upper: str = ""

    def __post_init__(self) -> None:
        if _upper_key(self.upper) < _lower_key(self.lower):
            raise ValueError(f"lower {self.lower!r} is above upper {self.upper!r}")

    @property
    def account(self) -> str:
        """
        The shard container's account.
        """
        return self.name.split("/")[0]

    @property
    def container(self) -> str:
        """
        The shard container's name.

        @raise IndexError: when C{name} has no C{/}.
        """
        return self.name.split("/")[1]

    @property
    def end_marker(self) -> str:
        """
        The C{end_marker} that lists up to C{upper} included: C{upper}
        followed by a NUL, or C{""} when unbounded.
        """
        return self.upper + "\x00" if self.upper else ""

    def __contains__(self, item: object) -> bool:
        """
        Whether the name C{item} falls in this namespace (an empty name
        never does).
        """
        if not isinstance(item, str) or item == "":
            return False
        return _lower_key(self.lower) < (1, item) <= _upper_key(self.upper)

    def below(self, name: str) -> bool:
        """
        Whether every name of this namespace sorts before C{name}.
        """
        return self.upper != "" and self.upper < name

    def above(self, name: str) -> bool:
        """
        Whether every name of this namespace sorts after C{name}.
        """
        return self.lower != "" and self.lower >= name

    def as_json(self) -> dict[str, str]:
        """
        The namespace as a container server sends it.
        """
        return {"name": self.name, "lower": self.lower, "upper": self.upper}


def _bound(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"a bound must be a string, not {type(value).__name__}")
    return value


def parse_namespaces(data: Any) -> Optional[list[Namespace]]:
    """
    The namespaces of a container server's shard range listing (the parsed
    JSON: a list of objects with C{name}, C{lower} and C{upper}; full shard
    ranges have more, which is ignored).

    @return: the namespaces in the order given, or C{None} when C{data} is
        not such a list.
    """
    if not isinstance(data, list):
        return None
    namespaces = []
    try:
        for entry in data:
            name = entry["name"]
            if not isinstance(name, str):
                return None
            namespaces.append(Namespace(name, _bound(entry["lower"]), _bound(entry["upper"])))
    except (KeyError, TypeError, ValueError):
        return None
    return namespaces


def find_namespace(item: str, namespaces: Sequence[Namespace]) -> Optional[Namespace]:
    """
    The namespace of the sorted C{namespaces} that holds C{item}, or
    C{None}: the first whose upper bound is not below C{item}, if it holds
    C{item}.
    """
    low, high = 0, len(namespaces)
    while low < high:
        middle = (low + high) // 2
        if namespaces[middle].below(item):
            low = middle + 1
        else:
            high = middle
    if low < len(namespaces) and item in namespaces[low]:
        return namespaces[low]
    return None


def filter_namespaces(
    namespaces: Sequence[Namespace],
    includes: Optional[str],
    marker: Optional[str],
    end_marker: Optional[str],
) -> list[Namespace]:
    """
    The namespaces a request for names after C{marker} and before
    C{end_marker} needs: those whose upper bound is above C{marker} and
    whose lower bound is below C{end_marker}. With C{includes}, only the
    namespace holding that name (the markers are then ignored). Empty or
    C{None} values do not constrain.
    """
    if includes:
        found = find_namespace(includes, namespaces)
        return [found] if found is not None else []
    if not (marker or end_marker):
        return list(namespaces)
    return [
        namespace
        for namespace in namespaces
        if (not end_marker or _lower_key(namespace.lower) < (1, end_marker))
        and (not marker or (1, marker) < _upper_key(namespace.upper))
    ]


def listing_namespaces(
    namespaces: Sequence[Namespace],
    marker: Optional[str],
    end_marker: Optional[str],
    includes: Optional[str],
    reverse: bool,
) -> list[Namespace]:
    """
    Of a container's complete (contiguous, sorted) namespaces, those a
    listing request needs, in the order to ask them: as
    L{filter_namespaces}, and for a C{reverse} listing (whose C{marker} is
    its upper end) from the last down.
    """
    if reverse:
        marker, end_marker = end_marker, marker
    chosen = filter_namespaces(namespaces, includes, marker, end_marker)
    if reverse:
        chosen.reverse()
    return chosen


@dataclass
class NamespaceBoundList:
    """
    The compact form of a container's namespaces that proxies cache: each
    namespace's lower bound and name, sorted by lower bound; a namespace
    ends where the next begins.

    @ivar bounds: C{[lower, name]} pairs.
    """

    bounds: list[list[str]] = field(default_factory=list)

    @classmethod
    def parse(cls, namespaces: Sequence[Namespace]) -> Optional["NamespaceBoundList"]:
        """
        The bounds of C{namespaces} (sorted by bounds). A namespace that
        begins below the end of the one kept before it overlaps it and is
        dropped (a backend lists a sharding parent after its children); a
        gap is not kept, so the namespace before it grows over it.

        @return: the list, or C{None} for no namespaces.
        """
        if not namespaces:
            return None
        bounds = []
        upper = _lower_key(namespaces[0].lower)
        for namespace in namespaces:
            if _lower_key(namespace.lower) < upper:
                continue
            bounds.append([namespace.lower, namespace.name])
            upper = _upper_key(namespace.upper)
        return cls(bounds)

    @classmethod
    def from_json(cls, value: Any) -> Optional["NamespaceBoundList"]:
        """
        A list read back from a cache, or C{None} when C{value} is not a
        non-empty list of C{[lower, name]} string pairs.
        """
        if not isinstance(value, list) or not value:
            return None
        bounds = []
        for pair in value:
            if (not isinstance(pair, list) or len(pair) != 2
                    or not all(isinstance(part, str) for part in pair)):
                return None
            bounds.append([pair[0], pair[1]])
        return cls(bounds)

    def to_json(self) -> list[list[str]]:
        """
        The bounds, for a cache.
        """
        return [list(pair) for pair in self.bounds]

    def __len__(self) -> int:
        return len(self.bounds)

    def get_namespace(self, item: str) -> Namespace:
        """
        The namespace holding C{item}: the last whose lower bound is below
        it, ending where the next begins.

        @raise IndexError: when the list is empty.
        @raise ValueError: when C{item} is not above the first lower bound
            and there are several namespaces (Swift then takes the last
            namespace, up to the first lower bound, which is no
            namespace).
        """
        low, high = 0, len(self.bounds)
        while low < high:
            middle = (low + high) // 2
            if self.bounds[middle][0] < item:
                low = middle + 1
            else:
                high = middle
        position = low - 1
        lower, name = self.bounds[position]
        upper = "" if position + 1 == len(self.bounds) else self.bounds[position + 1][0]
        return Namespace(name, lower, upper)

    def namespaces(self) -> list[Namespace]:
        """
        The contiguous namespaces, sorted.
        """
        found = []
        for index, (lower, name) in enumerate(self.bounds):
            upper = self.bounds[index + 1][0] if index + 1 < len(self.bounds) else ""
            found.append(Namespace(name, lower, upper))
        return found


@dataclass(frozen=True)
class ShardFetch:
    """
    One shard listing to fetch while building a listing.

    @ivar namespace: the shard's namespace.
    @ivar index: its position among the namespaces walked.
    @ivar marker: the C{marker} to ask with.
    @ivar end_marker: the C{end_marker} to ask with.
    @ivar limit: the C{limit} to ask with: what the listing still lacks.
    """

    namespace: Namespace
    index: int
    marker: str
    end_marker: str
    limit: int


class ShardListingWalk:
    """
    Swift's way of building a sharded container's object listing: the
    shards are asked in order, each for at most what the listing still
    lacks, after the last name listed so far (or the request's C{marker})
    and up to the shard's own end (or the request's C{end_marker} when it
    falls in the shard). Shards that cannot hold a name with C{prefix}, or
    that lie wholly inside the pseudo-directory just listed, are skipped;
    the walk ends when the limit is reached or a name passes
    C{end_marker}.

    Use: while L{next_fetch} returns a L{ShardFetch}, fetch that shard's
    listing and hand its entries to L{received}; L{objects} is the
    listing.

    @param namespaces: the namespaces to walk, in listing order (already
        reversed for a C{reverse} listing).
    @param limit: the most entries the listing may have.
    @param marker: the request's C{marker} (text; C{""} for none).
    @param end_marker: the request's C{end_marker} (text; C{""} for none).
    @param prefix: the request's C{prefix} (text; C{""} for none).
    @param reverse: whether the listing is in reverse order.
    """

    def __init__(
        self,
        namespaces: Sequence[Namespace],
        limit: int,
        marker: str = "",
        end_marker: str = "",
        prefix: str = "",
        reverse: bool = False,
    ) -> None:
        self._namespaces = list(namespaces)
        self._limit = limit
        self._marker = marker
        self._end_marker = end_marker
        self._prefix = prefix
        self._reverse = reverse
        self._next = 0
        self._done = False
        self.objects: list[Mapping[str, Any]] = []

    def _skip(self, namespace: Namespace, last_was_subdir: bool, last_name: str) -> bool:
        prefix = self._prefix
        if prefix:
            if namespace.below(prefix):
                return True
            try:
                just_past = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            except ValueError:
                pass
            else:
                if namespace.above(just_past):
                    return True
        edge = namespace.lower if self._reverse else namespace.upper
        return last_was_subdir and edge.startswith(last_name)

    def next_fetch(self) -> Optional[ShardFetch]:
        """
        The next shard listing to fetch, or C{None} when the listing is
        complete.
        """
        while not self._done and self._next < len(self._namespaces):
            index = self._next
            namespace = self._namespaces[index]
            self._next += 1
            last_name = ""
            last_was_subdir = False
            if self.objects:
                last = self.objects[-1]
                last_was_subdir = "subdir" in last
                last_name = str(last["subdir"] if last_was_subdir else last["name"])
                marker = last_name
            else:
                marker = self._marker
            if self._end_marker and self._end_marker in namespace:
                end_marker = self._end_marker
            elif self._reverse:
                end_marker = namespace.lower
            else:
                end_marker = namespace.end_marker
            if self._skip(namespace, last_was_subdir, last_name):
                continue
            return ShardFetch(namespace, index, marker, end_marker, self._limit)
        return None

    def received(self, objects: Sequence[Mapping[str, Any]]) -> None:
        """
        Add the entries the last fetched shard listed.
        """
        if not objects:
            return
        self.objects.extend(objects)
        self._limit -= len(objects)
        if self._limit <= 0:
            self._done = True
            return
        last = self.objects[-1]
        last_name = str(last.get("name", last.get("subdir", "")))
        end_marker = self._end_marker
        if end_marker and (end_marker >= last_name if self._reverse
                           else end_marker <= last_name):
            self._done = True
