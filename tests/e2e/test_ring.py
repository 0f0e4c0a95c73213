"""
L{twisted_proxy.swift.ring} agrees with Swift: lookups in the rings of
C{tests/data/rings/} (made by Swift's C{swift-ring-builder}, see
L{tests.e2e.ringrecipes}) and in rings written by hand are checked against
Swift's own C{swift-get-nodes}, run as a subprocess (Swift is never imported
here).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Literal, Optional, Sequence
from urllib.parse import quote

from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.ringrecipes import RECIPES, build
from tests.e2e.swifttools import swift_tool
from tests.test_ring import (
    _HAND_MADE_CONF,
    _cluster,
    _conf,
    _dev,
    _format1_ring,
    _in,
    _ring,
    _ring_in,
    _write,
)
from twisted_proxy.swift.ring import Node, Ring, hash_path


@dataclass(frozen=True)
class _Placement:
    """
    What C{swift-get-nodes -a} says about a path or partition.
    """

    partition: int
    hash: Optional[str]
    primaries: list[tuple[str, int, str]]
    handoffs: list[tuple[str, int, str]]


_PARTITION_LINE = re.compile(r"^Partition\t(\d+)$", re.M)
_HASH_LINE = re.compile(r"^Hash +\t(\S+)$", re.M)
_SERVER_LINE = re.compile(
    r"^Server:Port Device\t(\S+):(\d+) (\S+)(\t \[Handoff\])?$", re.M
)


def _get_nodes_arguments(
    directory: str, ring_name: str, query: tuple[str, ...]
) -> list[str]:
    """
    The arguments of C{swift-get-nodes} asking, with all handoffs, where
    ring C{ring_name} of C{directory} (whose C{swift.conf} supplies the hash
    prefix and suffix) puts C{query}: a path, given as its components, or
    C{("-p", PART)}.
    """
    arguments = ["-a", "-d", directory, _in(directory, ring_name)]
    if query[0] == "-p":
        return arguments + list(query)
    # Quoted names pass any text, even a leading '-' or a newline.
    return arguments + ["-Q", "--", *(quote(arg, safe="") for arg in query)]


# Runs the entry point of the swift-get-nodes script once per argument list
# read (as JSON) from stdin, and writes a JSON list of [exit status, output]:
# Swift is imported once per batch rather than once per query, which is most
# of a run's cost.
_GET_NODES_BATCH = """\
import contextlib, io, json, sys
from swift.cli.get_nodes import main
results = []
for arguments in json.load(sys.stdin):
    sys.argv = ["swift-get-nodes"] + arguments
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output):
            main()
        status = 0
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else repr(e.code)
    results.append([status, output.getvalue()])
json.dump(results, sys.stdout)
"""


def _swift_get_nodes(
    directory: str, ring_name: str, queries: Sequence[tuple[str, ...]]
) -> list[_Placement]:
    """
    What C{swift-get-nodes} says about each query (see
    L{_get_nodes_arguments}), all run by one Python process.
    L{MatchesSwiftTests.test_batches_are_faithful} checks that this prints
    just what the script itself does.
    """
    swift_tool("swift-get-nodes")
    batch = [_get_nodes_arguments(directory, ring_name, query) for query in queries]
    result = subprocess.run(
        [sys.executable, "-c", _GET_NODES_BATCH],
        input=json.dumps(batch).encode("utf-8"),
        capture_output=True,
    )
    if result.returncode != 0:
        raise AssertionError(f"swift-get-nodes batch failed:\n{result.stderr!r}")
    return [
        _placement(arguments, output, status)
        for arguments, (status, output) in zip(batch, json.loads(result.stdout))
    ]


def _swift_get_nodes_script(arguments: list[str]) -> tuple[int, str]:
    """
    Run the C{swift-get-nodes} script itself.

    @return: its exit status and output.
    """
    result = subprocess.run([swift_tool("swift-get-nodes"), *arguments], capture_output=True)
    return result.returncode, result.stdout.decode("utf-8")


def _placement(arguments: list[str], output: str, status: Any) -> _Placement:
    """
    Parse what C{swift-get-nodes} printed. The names it echoes are quoted,
    so they cannot be mistaken for the lines parsed.
    """
    partition = _PARTITION_LINE.search(output)
    if status != 0 or partition is None:
        raise AssertionError(f"swift-get-nodes {arguments} failed ({status}):\n{output}")
    primaries: list[tuple[str, int, str]] = []
    handoffs: list[tuple[str, int, str]] = []
    for ip, port, device, handoff in _SERVER_LINE.findall(output):
        (handoffs if handoff else primaries).append((ip, int(port), device))
    path_hash = _HASH_LINE.search(output)
    return _Placement(
        partition=int(partition.group(1)),
        hash=None if path_hash is None or path_hash.group(1) == "None" else path_hash.group(1),
        primaries=primaries,
        handoffs=handoffs,
    )


def _address(node: Node) -> tuple[str, int, str]:
    return (node["ip"], node["port"], node["device"])




# Any text Swift can encode: no lone surrogates, and no NUL, which cannot be
# passed on a command line.
_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
_names = st.text(
    st.characters(blacklist_categories=_SURROGATES, blacklist_characters="\x00"),
    min_size=1,
    max_size=24,
)



@st.composite
def _small_rings(draw: st.DrawFn) -> tuple[list[Node], list[list[int]]]:
    """
    Devices scattered over a few regions, zones and IPs, and an arbitrary
    table of 8 partitions by 1 to 3 replicas, maybe with a partial one.
    """
    count = draw(st.integers(2, 8))
    devs = [
        _dev(
            dev_id,
            draw(st.integers(1, 3)),
            draw(st.integers(1, 3)),
            draw(st.sampled_from("abc")),
        )
        for dev_id in range(count)
    ]
    dev_ids = st.integers(0, count - 1)
    table = [
        draw(st.lists(dev_ids, min_size=8, max_size=8))
        for _ in range(draw(st.integers(1, 3)))
    ]
    partial = draw(st.integers(0, 7))
    if partial:
        table.append(draw(st.lists(dev_ids, min_size=partial, max_size=partial)))
    return devs, table


# Each example of the tests comparing with swift-get-nodes costs seconds of
# subprocesses; shrinking a failure could take many minutes, so a failure is
# reported as first found.
_NO_SHRINKING = (Phase.explicit, Phase.reuse, Phase.generate)


def _batches(names: st.SearchStrategy[Any], size: int) -> st.SearchStrategy[list[Any]]:
    return st.lists(names, min_size=size, max_size=size)


class MatchesSwiftTests(SynchronousTestCase):
    """
    L{Ring} places paths and partitions exactly where C{swift-get-nodes}
    does: same partition, hash, primaries and handoffs, in the same order.
    Each hypothesis example is a batch of queries, answered by one process.
    """

    def assertPathsMatch(
        self, directory: str, ring_name: str, paths: list[tuple[str, ...]]
    ) -> None:
        ring = _ring_in(directory, ring_name)
        conf = _conf(directory)
        expected = _swift_get_nodes(directory, ring_name, paths)
        for path, placement in zip(paths, expected):
            self.assertEqual(
                hash_path(*path, prefix=conf.hash_prefix, suffix=conf.hash_suffix),
                placement.hash,
            )
            self.assertPlacement(ring, ring.get_part(*path), placement)

    def assertPartitionsMatch(self, directory: str, ring_name: str, parts: list[int]) -> None:
        ring = _ring_in(directory, ring_name)
        queries = [("-p", str(part)) for part in parts]
        for part, placement in zip(parts, _swift_get_nodes(directory, ring_name, queries)):
            self.assertPlacement(ring, part, placement)

    def assertPlacement(self, ring: Ring, part: int, expected: _Placement) -> None:
        self.assertEqual(part, expected.partition)
        primaries = ring.get_part_nodes(part)
        self.assertEqual([_address(node) for node in primaries], expected.primaries)
        self.assertEqual([node["index"] for node in primaries], list(range(len(primaries))))
        handoffs = list(ring.get_more_nodes(part))
        self.assertEqual([_address(node) for node in handoffs], expected.handoffs)
        self.assertEqual(
            [node["handoff_index"] for node in handoffs], list(range(len(handoffs)))
        )

    @settings(max_examples=4, phases=_NO_SHRINKING)
    @given(_batches(st.tuples(_names, _names, _names), 25))
    def test_objects(self, paths: list[tuple[str, ...]]) -> None:
        """
        Objects in a four-region format 2 ring.
        """
        self.assertPathsMatch(_cluster("spread"), "object", paths)

    @settings(max_examples=2, phases=_NO_SHRINKING)
    @given(_batches(st.tuples(_names, _names), 20))
    def test_containers(self, paths: list[tuple[str, ...]]) -> None:
        """
        Containers in a format 1 ring.
        """
        self.assertPathsMatch(_cluster("spread"), "container", paths)

    @settings(max_examples=2, phases=_NO_SHRINKING)
    @given(_batches(st.tuples(_names.filter(lambda name: "/" not in name)), 20))
    def test_accounts(self, paths: list[tuple[str, ...]]) -> None:
        """
        Accounts in a ring with 4-byte device ids. (C{swift-get-nodes}
        splits a lone argument at slashes, so none are generated.)
        """
        self.assertPathsMatch(_cluster("spread"), "account", paths)

    @settings(max_examples=2, phases=_NO_SHRINKING)
    @given(_batches(st.tuples(_names, _names, _names), 20))
    def test_fractional_replicas(self, paths: list[tuple[str, ...]]) -> None:
        """
        Objects in a ring with 2.5 replicas: half the partitions have a third
        replica.
        """
        self.assertPathsMatch(_cluster("spread"), "object-1", paths)

    def test_partitions(self) -> None:
        """
        Every partition, given directly.
        """
        ring = _ring("spread", "object")
        self.assertPartitionsMatch(
            _cluster("spread"), "object", list(range(ring.partition_count))
        )

    def test_batches_are_faithful(self) -> None:
        """
        Running the C{swift-get-nodes} script prints exactly what running its
        entry point in a batch does, for a path and for a partition.
        """
        directory = _cluster("spread")
        queries = [("AUTH_t\u00e9st", "c", "-o\n"), ("-p", "3")]
        arguments = [_get_nodes_arguments(directory, "object", query) for query in queries]
        result = subprocess.run(
            [sys.executable, "-c", _GET_NODES_BATCH],
            input=json.dumps(arguments).encode("utf-8"),
            capture_output=True,
            check=True,
        )
        batched = [tuple(answer) for answer in json.loads(result.stdout)]
        scripts = [_swift_get_nodes_script(argv) for argv in arguments]
        self.assertEqual(batched, scripts)
        self.assertIn("\t [Handoff]\n", scripts[0][1])

    def test_simple_rings(self) -> None:
        """
        A one-region ring in format 1 and one in format 2, with a hash prefix
        and suffix.
        """
        self.assertPathsMatch(_cluster("simple"), "object", [("AUTH_test", "c", "o")])
        self.assertPathsMatch(_cluster("simple"), "object-1", [("AUTH_test", "c", "o")])

    def test_sampled_sweep(self) -> None:
        """
        Beyond 65536 partitions the handoff sweep visits only every
        C{partitions // 65536}-th partition. In this ring (2 ** 17
        partitions, so every other one is swept) even partitions hold
        devices 0 to 3 and odd ones devices 4 to 7, so which handoffs there
        are at all depends on the sweep getting that right.
        """
        rng = random.Random(17)
        devs = [_dev(i, 1 + i % 3, 1 + i % 2, "abcd"[i // 2]) for i in range(8)]
        table = [
            [rng.randrange(4) + 4 * (part % 2) for part in range(2**17)] for _ in range(3)
        ]
        directory = self.mktemp()
        os.makedirs(directory)
        _write(os.path.join(directory, "swift.conf"), _HAND_MADE_CONF)
        _write(os.path.join(directory, "object.ring.gz"), _format1_ring(devs, table, 15))
        self.assertPartitionsMatch(directory, "object", [0, 1, 2, 3, 4097, 2**17 - 1])

    @settings(max_examples=4, phases=_NO_SHRINKING)
    @given(_small_rings())
    @example(
        # Device 3 holds only partition 0, which the handoff sweep skips
        # unless it starts there: Swift never offers it as a handoff.
        (
            [_dev(0, 1, 1, "a"), _dev(1, 2, 1, "a"), _dev(2, 2, 2, "b"), _dev(3, 3, 1, "c")],
            [[3, 0, 1, 0, 1, 0, 1, 2]],
        )
    )
    @example(
        # Devices holding several replicas of a partition; a partial replica.
        (
            [_dev(0, 1, 1, "a"), _dev(1, 1, 1, "a"), _dev(2, 1, 2, "b")],
            [[0, 0, 1, 2, 0, 1, 1, 2], [0, 1, 1, 2, 2, 0, 1, 0], [0, 1, 2]],
        )
    )
    def test_any_table(self, ring: tuple[list[Node], list[list[int]]]) -> None:
        """
        Rings the builder would never make (unbalanced, with duplicate
        assignments, with devices holding a single partition) still get
        Swift's answers, for every partition.
        """
        devs, table = ring
        directory = self.mktemp()
        os.makedirs(directory)
        _write(os.path.join(directory, "swift.conf"), _HAND_MADE_CONF)
        _write(os.path.join(directory, "object.ring.gz"), _format1_ring(devs, table, 29))
        self.assertPartitionsMatch(directory, "object", list(range(8)))




class FixtureTests(SynchronousTestCase):
    """
    The rings in C{tests/data/rings/} are what the recipes of
    L{tests.e2e.ringrecipes} build with today's C{swift-ring-builder}.
    """

    def assertSameRings(self, name: str) -> None:
        built = self.mktemp()
        os.makedirs(built)
        build(name, built)
        fixture = _cluster(name)
        self.assertEqual(sorted(os.listdir(built)), sorted(os.listdir(fixture)))
        with open(os.path.join(built, "swift.conf"), "rb") as a, open(
            os.path.join(fixture, "swift.conf"), "rb"
        ) as b:
            self.assertEqual(a.read(), b.read())
        for entry in os.listdir(fixture):
            if not entry.endswith(".ring.gz"):
                continue
            ring_name = entry[: -len(".ring.gz")]
            fresh, kept = _ring_in(built, ring_name), _ring_in(fixture, ring_name)
            self.assertEqual(
                (fresh.format_version, fresh.replica_count, fresh.part_power, fresh.devs),
                (kept.format_version, kept.replica_count, kept.part_power, kept.devs),
            )
            for part in range(kept.partition_count):
                self.assertEqual(fresh.get_part_nodes(part), kept.get_part_nodes(part))

    def test_recipes(self) -> None:
        """
        Each ring set, rebuilt, has the same files and the same rings.
        """
        for name in RECIPES:
            self.assertSameRings(name)
