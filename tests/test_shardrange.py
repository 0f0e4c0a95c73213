"""
Tests for L{twisted_proxy.swift.shardrange}: namespaces and the walk that
builds a sharded container's listing. (C{tests.e2e.test_sharding} checks
them against Swift's own code.)
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.shardrange import (
    Namespace,
    NamespaceBoundList,
    ShardFetch,
    ShardListingWalk,
    filter_namespaces,
    find_namespace,
    listing_namespaces,
    parse_namespaces,
)

# Names from a small alphabet (with one non-ASCII and one astral
# character), so that bounds, markers and names often meet.
_names = st.text(alphabet="ab/-\u00e9\U0001f600", min_size=1, max_size=4)
_maybe_names = st.one_of(st.just(""), _names)


@st.composite
def _contiguous(draw: Any, min_size: int = 1) -> list[Namespace]:
    """
    Contiguous sorted namespaces covering every name, as a sharded root
    lists them.
    """
    bounds = sorted(set(draw(st.lists(_names, max_size=6))))
    edges = [""] + bounds + [""]
    return [Namespace(f".shards_a/c-{i}", edges[i], edges[i + 1])
            for i in range(len(edges) - 1)]


@st.composite
def _sorted_namespaces(draw: Any) -> list[Namespace]:
    """
    Sorted namespaces that may leave gaps and overlap at their ends, as a
    sharding root lists them.
    """
    bounds = sorted(draw(st.lists(_names, max_size=8)))
    pairs = []
    for index in range(0, len(bounds) - 1, 2):
        pairs.append((bounds[index], bounds[index + 1]))
    if draw(st.booleans()):
        pairs.insert(0, ("", pairs[0][0] if pairs else ""))
    return [Namespace(f".shards_a/c-{i}", lower, upper)
            for i, (lower, upper) in enumerate(pairs)]


class NamespaceTests(SynchronousTestCase):
    def test_parts(self) -> None:
        """
        A namespace's name is its shard container's path.
        """
        namespace = Namespace(".shards_AUTH_test/c-1234-1", "b", "d")
        self.assertEqual(namespace.account, ".shards_AUTH_test")
        self.assertEqual(namespace.container, "c-1234-1")
        self.assertRaises(IndexError, lambda: Namespace("nope").container)

    def test_contains(self) -> None:
        """
        The lower bound is out, the upper bound in; empty bounds are
        unbounded; the empty name is in no namespace.
        """
        namespace = Namespace("a/c", "b", "d")
        self.assertNotIn("b", namespace)
        self.assertIn("b\x00", namespace)
        self.assertIn("d", namespace)
        self.assertNotIn("d\x00", namespace)
        self.assertIn("\x01", Namespace("a/c"))
        self.assertIn("zzz", Namespace("a/c", "b"))
        self.assertNotIn("", Namespace("a/c"))

    def test_endMarker(self) -> None:
        """
        The end marker of a namespace lists its upper bound too.
        """
        self.assertEqual(Namespace("a/c", "", "d").end_marker, "d\x00")
        self.assertEqual(Namespace("a/c", "d", "").end_marker, "")

    def test_inverted(self) -> None:
        """
        A lower bound above the upper bound is refused.
        """
        self.assertRaises(ValueError, Namespace, "a/c", "d", "b")
        Namespace("a/c", "d", "d")
        Namespace("a/c", "d", "")

    @given(_maybe_names, _maybe_names, _names)
    def test_bounds(self, lower: str, upper: str, name: str) -> None:
        """
        A name is in a namespace when neither below nor above it, and
        then C{end_marker} lists it.
        """
        if lower and upper and lower > upper:
            lower, upper = upper, lower
        namespace = Namespace("a/c", lower, upper)
        inside = name in namespace
        self.assertEqual(inside, (not lower or lower < name) and (not upper or name <= upper))
        if inside:
            self.assertFalse(namespace.below(name))
            self.assertFalse(namespace.above(name))
            self.assertTrue(not namespace.end_marker or name < namespace.end_marker)


class ParseTests(SynchronousTestCase):
    def test_parse(self) -> None:
        """
        Namespaces and full shard ranges both give namespaces.
        """
        data = [
            {"name": ".shards_a/c-1", "lower": "", "upper": "m"},
            {"name": ".shards_a/c-2", "lower": "m", "upper": "", "state": "active",
             "object_count": 3},
        ]
        self.assertEqual(parse_namespaces(data), [
            Namespace(".shards_a/c-1", "", "m"), Namespace(".shards_a/c-2", "m", "")])
        self.assertEqual(parse_namespaces([]), [])

    def test_bad(self) -> None:
        """
        What is not a list of namespaces gives C{None}.
        """
        bad: list[Any] = [{}, "x", [1], [{"name": "a/c", "lower": ""}],
                          [{"name": 1, "lower": "", "upper": ""}],
                          [{"name": "a/c", "lower": 2, "upper": ""}],
                          [{"name": "a/c", "lower": "z", "upper": "a"}]]
        for data in bad:
            self.assertIsNone(parse_namespaces(data), data)

    def test_nullBounds(self) -> None:
        """
        A C{null} bound is unbounded.
        """
        self.assertEqual(parse_namespaces([{"name": "a/c", "lower": None, "upper": None}]),
                         [Namespace("a/c")])


class FilterTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.namespaces = [Namespace("a/c1", "", "f"), Namespace("a/c2", "f", "p"),
                           Namespace("a/c3", "p", "")]

    def test_markers(self) -> None:
        """
        Namespaces ending after C{marker} and beginning before
        C{end_marker} are kept.
        """
        c1, c2, c3 = self.namespaces
        self.assertEqual(filter_namespaces(self.namespaces, None, "f", None), [c2, c3])
        self.assertEqual(filter_namespaces(self.namespaces, None, "e", "f"), [c1])
        self.assertEqual(filter_namespaces(self.namespaces, None, "", "f\x00"), [c1, c2])
        self.assertEqual(filter_namespaces(self.namespaces, None, "", ""), self.namespaces)

    def test_includes(self) -> None:
        """
        C{includes} picks the namespace holding the name, markers ignored.
        """
        c1, c2, c3 = self.namespaces
        self.assertEqual(filter_namespaces(self.namespaces, "f", "x", "y"), [c1])
        self.assertEqual(find_namespace("q", self.namespaces), c3)
        self.assertIsNone(find_namespace("q", [c1, c2]))

    def test_reverse(self) -> None:
        """
        A reverse listing's marker is its upper end; the namespaces come
        from the last down.
        """
        c1, c2, c3 = self.namespaces
        self.assertEqual(listing_namespaces(self.namespaces, "g", "", "", True), [c2, c1])
        self.assertEqual(listing_namespaces(self.namespaces, "", "g", "", True), [c3, c2])

    @given(_sorted_namespaces(), _maybe_names, _maybe_names)
    def test_nothingLost(self, namespaces: list[Namespace], marker: str, end_marker: str
                         ) -> None:
        """
        Every namespace that may hold a name between the markers is kept,
        in order.
        """
        kept = filter_namespaces(namespaces, None, marker, end_marker)
        self.assertEqual(kept, [n for n in namespaces if n in kept])
        for name in ("a", "a/", "b-", "\u00e9", marker + "a", end_marker):
            if not name or (marker and name <= marker) or (end_marker and name >= end_marker):
                continue
            holders = [n for n in namespaces if name in n]
            self.assertEqual([n for n in holders if n in kept], holders)


class BoundListTests(SynchronousTestCase):
    def test_parse(self) -> None:
        """
        Overlapping namespaces after the first are dropped; a gap is taken
        by the namespace before it.
        """
        parsed = NamespaceBoundList.parse([
            Namespace("a/child1", "", "b"), Namespace("a/child2", "b", "c"),
            Namespace("a/parent", "", "c"), Namespace("a/far", "e", "")])
        assert parsed is not None
        self.assertEqual(parsed.bounds, [["", "a/child1"], ["b", "a/child2"], ["e", "a/far"]])
        self.assertEqual(parsed.namespaces(), [
            Namespace("a/child1", "", "b"), Namespace("a/child2", "b", "e"),
            Namespace("a/far", "e", "")])
        self.assertIsNone(NamespaceBoundList.parse([]))

    def test_getNamespace(self) -> None:
        """
        A name belongs to the last namespace whose lower bound is below it.
        """
        bounds = NamespaceBoundList([["", "a/c1"], ["f", "a/c2"]])
        self.assertEqual(bounds.get_namespace("f"), Namespace("a/c1", "", "f"))
        self.assertEqual(bounds.get_namespace("f\x00"), Namespace("a/c2", "f", ""))

    def test_json(self) -> None:
        """
        The bounds go to a cache as JSON lists and come back; anything else
        read back is refused.
        """
        bounds = NamespaceBoundList([["", "a/c1"], ["f", "a/c2"]])
        self.assertEqual(NamespaceBoundList.from_json(bounds.to_json()), bounds)
        refused: list[Any] = [None, [], {}, [["", "a/c", "x"]], [[1, "a/c"]], ["a"]]
        for bad in refused:
            self.assertIsNone(NamespaceBoundList.from_json(bad), bad)

    @given(_contiguous(), _names)
    def test_contiguous(self, namespaces: list[Namespace], name: str) -> None:
        """
        Contiguous namespaces survive the bound list whole, and a name's
        namespace is the one holding it.
        """
        bounds = NamespaceBoundList.parse(namespaces)
        assert bounds is not None
        self.assertEqual(bounds.namespaces(), namespaces)
        self.assertEqual(bounds.get_namespace(name), find_namespace(name, namespaces))
        self.assertEqual(NamespaceBoundList.from_json(bounds.to_json()), bounds)


def _listing(names: list[str], fetch: ShardFetch, prefix: str = "",
             reverse: bool = False) -> list[dict[str, str]]:
    """
    What a shard holding C{names} lists for C{fetch}, without delimiter.
    """
    low, high = (fetch.end_marker, fetch.marker) if reverse else (fetch.marker,
                                                                  fetch.end_marker)
    chosen = [n for n in sorted(names, reverse=reverse)
              if (not low or n > low) and (not high or n < high) and n.startswith(prefix)]
    return [{"name": n} for n in chosen[:fetch.limit]]


class WalkTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.namespaces = [Namespace("a/c1", "", "f"), Namespace("a/c2", "f", "p"),
                           Namespace("a/c3", "p", "")]
        self.names = {"a/c1": ["a", "b", "f"], "a/c2": ["g", "h"], "a/c3": ["q", "z"]}

    def walk(self, walk: ShardListingWalk, reverse: bool = False, prefix: str = ""
             ) -> list[ShardFetch]:
        fetches: list[ShardFetch] = []
        while True:
            fetch = walk.next_fetch()
            if fetch is None:
                return fetches
            fetches.append(fetch)
            walk.received(_listing(self.names[fetch.namespace.name], fetch, prefix,
                                   reverse))

    def test_whole(self) -> None:
        """
        Each shard is asked up to its upper bound, after the last name so
        far, for what is still lacking.
        """
        walk = ShardListingWalk(self.namespaces, 100)
        fetches = self.walk(walk)
        self.assertEqual([o["name"] for o in walk.objects], ["a", "b", "f", "g", "h", "q", "z"])
        self.assertEqual(fetches, [
            ShardFetch(self.namespaces[0], 0, "", "f\x00", 100),
            ShardFetch(self.namespaces[1], 1, "f", "p\x00", 97),
            ShardFetch(self.namespaces[2], 2, "h", "", 95),
        ])

    def test_limit(self) -> None:
        """
        The walk stops once the limit is reached.
        """
        walk = ShardListingWalk(self.namespaces, 4, marker="a")
        fetches = self.walk(walk)
        self.assertEqual([o["name"] for o in walk.objects], ["b", "f", "g", "h"])
        self.assertEqual([f.index for f in fetches], [0, 1])
        self.assertEqual(fetches[0].marker, "a")

    def test_endMarker(self) -> None:
        """
        The request's end marker is used in the shard it falls in, and the
        walk stops once a name reaches it.
        """
        chosen = listing_namespaces(self.namespaces, "", "g\x00", "", False)
        self.assertEqual(chosen, self.namespaces[:2])
        walk = ShardListingWalk(chosen, 100, end_marker="g\x00")
        fetches = self.walk(walk)
        self.assertEqual([o["name"] for o in walk.objects], ["a", "b", "f", "g"])
        self.assertEqual([(f.index, f.end_marker) for f in fetches],
                         [(0, "f\x00"), (1, "g\x00")])
        # A shard listing a name at or past the end marker (a misplaced
        # object) ends the walk.
        walk = ShardListingWalk(self.namespaces, 100, end_marker="g")
        first = walk.next_fetch()
        assert first is not None
        walk.received([{"name": "h"}])
        self.assertIsNone(walk.next_fetch())
        walk = ShardListingWalk(list(reversed(self.namespaces)), 100, end_marker="g",
                                reverse=True)
        first = walk.next_fetch()
        assert first is not None
        walk.received([{"name": "g"}])
        self.assertIsNone(walk.next_fetch())

    def test_reverse(self) -> None:
        """
        A reverse walk asks each shard down to its lower bound.
        """
        namespaces = list(reversed(self.namespaces))
        walk = ShardListingWalk(namespaces, 100, reverse=True)
        fetches = self.walk(walk, reverse=True)
        self.assertEqual([o["name"] for o in walk.objects], ["z", "q", "h", "g", "f", "b", "a"])
        self.assertEqual([(f.marker, f.end_marker) for f in fetches],
                         [("", "p"), ("q", "f"), ("g", "")])

    def test_prefix(self) -> None:
        """
        Shards that cannot hold a name with the prefix are not asked.
        """
        walk = ShardListingWalk(self.namespaces, 100, prefix="h")
        fetches = self.walk(walk, prefix="h")
        self.assertEqual([f.index for f in fetches], [1])
        self.assertEqual([o["name"] for o in walk.objects], ["h"])
        walk = ShardListingWalk(self.namespaces, 100, prefix="f")
        fetches = self.walk(walk, prefix="f")
        # "f" is c1's upper bound; c2 starts after it and may hold "f...".
        self.assertEqual([f.index for f in fetches], [0, 1])

    def test_subdir(self) -> None:
        """
        After a pseudo-directory, shards lying within it are skipped.
        """
        namespaces = [Namespace("a/c1", "", "d/2"), Namespace("a/c2", "d/2", "d/5"),
                      Namespace("a/c3", "d/5", "")]
        walk = ShardListingWalk(namespaces, 100)
        first = walk.next_fetch()
        assert first is not None
        walk.received([{"subdir": "d/"}])
        second = walk.next_fetch()
        assert second is not None
        self.assertEqual((second.index, second.marker), (2, "d/"))

    def test_emptyShards(self) -> None:
        """
        An empty shard listing is no reason to stop.
        """
        walk = ShardListingWalk(self.namespaces, 1)
        for _ in range(3):
            fetch = walk.next_fetch()
            assert fetch is not None
            walk.received([])
        self.assertIsNone(walk.next_fetch())
        self.assertEqual(walk.objects, [])
