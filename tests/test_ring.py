"""
Tests for L{twisted_proxy.swift.ring}.

The rings are made by Swift's own C{swift-ring-builder}, and lookups are
checked against Swift's own C{swift-get-nodes}, both run as subprocesses
(Swift is never imported here). Building rings takes a few tenths of a
second per command, so each set of rings is built once per test run and
shared, read-only, by the tests that use it.
"""

from __future__ import annotations

import array
import atexit
import gzip
import hashlib
import json
import os
import pickle
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable, Literal, Optional, Sequence
from urllib.parse import quote

from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from twisted_proxy.swift.ring import Ring, RingError, RingSet, hash_path
from twisted_proxy.swift.swiftconf import SwiftConf, load_swift_conf

# -- running Swift's tools


def _tool(name: str) -> str:
    """
    The path of one of Swift's command-line tools. The copy installed beside
    this Python is preferred: going through a version manager's shim costs
    a few tenths of a second per run.

    @raise SkipTest: if it is not installed.
    """
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    if found is None:
        raise SkipTest(f"{name} is not installed")
    return found


def _ring_builder(directory: str, *args: str) -> None:
    result = subprocess.run(
        [_tool("swift-ring-builder"), *args],
        cwd=directory,
        capture_output=True,
        text=True,
    )
    # 1 is a warning (say, an unbalanced ring); 2 is an error.
    if result.returncode not in (0, 1):
        raise AssertionError(
            f"swift-ring-builder {' '.join(args)} failed:\n"
            f"{result.stdout}{result.stderr}"
        )


@dataclass(frozen=True)
class _Device:
    region: int
    zone: int
    ip: str
    port: int
    device: str
    weight: float = 1.0

    def spec(self) -> list[str]:
        return [
            f"r{self.region}z{self.zone}-{self.ip}:{self.port}/{self.device}",
            str(self.weight),
        ]


def _make_ring(
    directory: str,
    name: str,
    part_power: int,
    replicas: float,
    devices: list[_Device],
    format_version: Optional[int] = None,
) -> None:
    """
    Build C{<directory>/<name>.ring.gz} with C{swift-ring-builder}.
    """
    builder = name + ".builder"
    _ring_builder(directory, builder, "create", str(part_power), str(replicas), "1")
    add = [builder, "add"]
    for device in devices:
        add.extend(device.spec())
    _ring_builder(directory, *add)
    rebalance = [builder, "rebalance", "-s", "1"]
    if format_version is not None:
        rebalance.append(f"--format-version={format_version}")
    _ring_builder(directory, *rebalance)


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
    _tool("swift-get-nodes")
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
    result = subprocess.run([_tool("swift-get-nodes"), *arguments], capture_output=True)
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


def _address(node: dict[str, Any]) -> tuple[str, int, str]:
    return (node["ip"], node["port"], node["device"])


# -- the shared clusters


def _write(path: str, content: bytes) -> None:
    with open(path, "wb") as f:
        f.write(content)


def _in(directory: str, ring_name: str) -> str:
    """
    The file of ring C{ring_name} in C{directory}.
    """
    return os.path.join(directory, ring_name + ".ring.gz")


def _simple_cluster(directory: str) -> None:
    """
    One region, four zones, one device each; part power 8, 3 replicas; two
    policies. The object ring is in format 1 (the builder's default) and
    the object-1 ring in format 2; the account and container rings are
    copies of the object ring.
    """
    _write(
        os.path.join(directory, "swift.conf"),
        b"[swift-hash]\n"
        b"swift_hash_path_prefix = test-prefix\n"
        b"swift_hash_path_suffix = test-suffix\n"
        b"[storage-policy:0]\nname = gold\ndefault = yes\n"
        b"[storage-policy:1]\nname = silver\n",
    )
    devices = [
        _Device(1, zone, "127.0.0.1", 6000 + 10 * zone, f"sdb{zone}")
        for zone in (1, 2, 3, 4)
    ]
    _make_ring(directory, "object", 8, 3, devices)
    _make_ring(directory, "object-1", 8, 3, devices, format_version=2)
    for name in ("account", "container"):
        shutil.copy(_in(directory, "object"), _in(directory, name))


# More regions than replicas, so that every pass of the handoff search
# (new region, new zone, new IP, any device) finds something.
_SPREAD_DEVICES = [
    _Device(1, 1, "10.1.1.1", 6001, "d1", 100),
    _Device(1, 1, "10.1.1.1", 6002, "d2", 100),
    _Device(1, 2, "10.1.2.1", 6003, "d3", 100),
    _Device(1, 2, "10.1.2.2", 6004, "d4", 50),
    _Device(2, 1, "10.2.1.1", 6005, "d5", 100),
    _Device(2, 1, "10.2.1.1", 6006, "d6", 100),
    _Device(2, 2, "10.2.2.1", 6007, "d7", 200),
    _Device(3, 1, "10.3.1.1", 6008, "d8", 100),
    _Device(3, 2, "10.3.2.1", 6009, "d9", 100),
    _Device(4, 1, "10.4.1.1", 6010, "d10", 100),
]


def _spread_cluster(directory: str) -> None:
    """
    Four regions, seven zones, several IPs and devices per IP, unequal
    weights; three replicas, part power 10. The same ring is written as the
    object ring in format 2, as the container ring in format 1, and as the
    account ring in format 2 with 4-byte device ids. The object-1 ring has
    a fractional replica count (2.5). Only a hash suffix is set, with
    non-ASCII bytes in it.
    """
    _write(
        os.path.join(directory, "swift.conf"),
        "[swift-hash]\nswift_hash_path_suffix = s\u00e9cret\n"
        "[storage-policy:0]\nname = zero\ndefault = true\n"
        "[storage-policy:1]\nname = one\n".encode("utf-8"),
    )
    _make_ring(directory, "object", 10, 3, _SPREAD_DEVICES)
    os.rename(_in(directory, "object"), _in(directory, "container"))
    write_ring = ["object.builder", "write_ring", "--format-version=2"]
    _ring_builder(directory, *write_ring, "--dev-id-bytes=4")
    os.rename(_in(directory, "object"), _in(directory, "account"))
    _ring_builder(directory, *write_ring)
    _make_ring(directory, "object-1", 6, 2.5, _SPREAD_DEVICES[:5])


_RECIPES: dict[str, Callable[[str], None]] = {
    "simple": _simple_cluster,
    "spread": _spread_cluster,
}
_built: dict[str, str] = {}


def _cluster(name: str) -> str:
    """
    The directory holding the rings and C{swift.conf} of cluster C{name},
    built on first use. Tests must not change it.
    """
    if name not in _built:
        directory = tempfile.mkdtemp(prefix=f"twisted-proxy-ring-{name}-")
        atexit.register(shutil.rmtree, directory, True)
        _RECIPES[name](directory)
        _built[name] = directory
    return _built[name]


def _conf(directory: str) -> SwiftConf:
    return load_swift_conf(os.path.join(directory, "swift.conf"))


def _ring_in(directory: str, ring_name: str) -> Ring:
    """
    Ring C{ring_name} of C{directory}, hashing with its C{swift.conf}.
    """
    conf = _conf(directory)
    return Ring.from_file(
        _in(directory, ring_name),
        hash_prefix=conf.hash_prefix,
        hash_suffix=conf.hash_suffix,
    )


def _ring(cluster: str, ring_name: str) -> Ring:
    return _ring_in(_cluster(cluster), ring_name)


def _format1_ring(
    devs: list[dict[str, Any]], table: list[list[int]], part_shift: int
) -> bytes:
    """
    A ring file in format 1, written here so that any table at all can be
    given to Swift's tools, not just the balanced ones the builder makes.
    """
    header = json.dumps(
        {
            "devs": devs,
            "part_shift": part_shift,
            "replica_count": len(table),
            "byteorder": sys.byteorder,
        },
        sort_keys=True,
    ).encode("ascii")
    assignments = b"".join(array.array("H", row).tobytes() for row in table)
    return gzip.compress(_MAGIC_V1 + struct.pack("!I", len(header)) + header + assignments)


_MAGIC_V1 = b"R1NG\x00\x01"
_HAND_MADE_CONF = b"[swift-hash]\nswift_hash_path_prefix = hand\n"


# Any text Swift can encode: no lone surrogates, and no NUL, which cannot be
# passed on a command line.
_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
_names = st.text(
    st.characters(blacklist_categories=_SURROGATES, blacklist_characters="\x00"),
    min_size=1,
    max_size=24,
)


def _dev(dev_id: int, region: int, zone: int, ip: str) -> dict[str, Any]:
    return {
        "id": dev_id,
        "region": region,
        "zone": zone,
        "ip": ip,
        "port": 6000 + dev_id,
        "device": f"d{dev_id}",
        "weight": 1.0,
        "meta": "",
    }


@st.composite
def _small_rings(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[list[int]]]:
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
    def test_any_table(self, ring: tuple[list[dict[str, Any]], list[list[int]]]) -> None:
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


class RingFormatTests(SynchronousTestCase):
    """
    Every on-disk format gives the same ring.
    """

    def assertSameRing(self, ring: Ring, reference: Ring) -> None:
        self.assertEqual(ring.devs, reference.devs)
        self.assertEqual(ring.replica_count, reference.replica_count)
        self.assertEqual(ring.part_power, reference.part_power)
        for part in range(reference.partition_count):
            self.assertEqual(ring.get_part_nodes(part), reference.get_part_nodes(part))
            self.assertEqual(
                list(ring.get_more_nodes(part)), list(reference.get_more_nodes(part))
            )

    def test_versions(self) -> None:
        """
        The builder writes format 1 by default, format 2 on request, with
        2- or 4-byte device ids; all give the same ring.
        """
        v1 = _ring("spread", "container")
        self.assertEqual(v1.format_version, 1)
        for name, id_bytes in (("object", 2), ("account", 4)):
            with open(_in(_cluster("spread"), name), "rb") as f:
                self.assertIn(b'"dev_id_bytes": %d' % (id_bytes,), gzip.decompress(f.read()))
            ring = _ring("spread", name)
            self.assertEqual(ring.format_version, 2)
            self.assertSameRing(ring, v1)

    def test_shape(self) -> None:
        """
        A ring knows its replica count, partition count, part power and
        devices, with their replication addresses.
        """
        ring = _ring("spread", "object")
        self.assertEqual(ring.replica_count, 3.0)
        self.assertEqual(ring.partition_count, 1024)
        self.assertEqual(ring.part_power, 10)
        self.assertEqual(ring.device_count, 10)
        dev = ring.devs[0]
        assert dev is not None
        self.assertEqual(
            set(dev),
            {"id", "region", "zone", "ip", "port", "device", "weight",
             "replication_ip", "replication_port", "meta"},
        )
        self.assertEqual((dev["id"], dev["ip"], dev["device"]), (0, "10.1.1.1", "d1"))
        fractional = _ring("spread", "object-1")
        self.assertEqual(fractional.replica_count, 2.5)
        self.assertEqual(fractional.partition_count, 64)

    def _pickled(self, reference: Ring, dump: Callable[[dict[str, Any]], bytes]) -> Ring:
        """
        C{reference} written as a legacy pickle ring by C{dump}, read back.
        """
        table = [
            array.array("H", [node["id"] for node in nodes])
            for nodes in zip(*(
                reference.get_part_nodes(part) for part in range(reference.partition_count)
            ))
        ]
        ring_dict = {
            "devs": reference.devs,
            "replica2part2dev_id": table,
            "part_shift": 32 - reference.part_power,
        }
        path = self.mktemp()
        _write(path, gzip.compress(dump(ring_dict)))
        return Ring.from_file(path, hash_prefix=b"p", hash_suffix=b"s")

    def test_pickle(self) -> None:
        """
        The legacy pickle format, as Swift wrote it (protocol 2), is read.
        """
        reference = _ring("spread", "container")
        ring = self._pickled(reference, lambda d: pickle.dumps(d, protocol=2))
        self.assertEqual(ring.format_version, 0)
        self.assertSameRing(ring, reference)

    def test_pickle_protocol_4(self) -> None:
        """
        A pickle from a newer protocol, where arrays are pickled as raw
        machine values, is read too.
        """
        reference = _ring("spread", "container")
        ring = self._pickled(reference, lambda d: pickle.dumps(d, protocol=4))
        self.assertSameRing(ring, reference)

    def test_python2_pickle(self) -> None:
        """
        Python 2 pickled an array as its type code and its raw bytes as a
        string, which Python 3 reads back as latin-1 text.
        """

        class Py2Array:
            def __init__(self, ids: "array.array[int]") -> None:
                self.ids = ids

            def __reduce__(self) -> tuple[Any, ...]:
                return (array.array, ("H", self.ids.tobytes().decode("latin-1")))

        def dump(ring_dict: dict[str, Any]) -> bytes:
            rows = ring_dict["replica2part2dev_id"]
            ring_dict = dict(ring_dict, replica2part2dev_id=[Py2Array(row) for row in rows])
            return pickle.dumps(ring_dict, protocol=2)

        reference = _ring("spread", "container")
        self.assertSameRing(self._pickled(reference, dump), reference)

    def test_pickled_ring_data_object(self) -> None:
        """
        The first Swift releases pickled a C{RingData} object rather than a
        C{dict}.
        """
        reference = _ring("spread", "container")

        def dump(ring_dict: dict[str, Any]) -> bytes:
            data = _OldRingData()
            data.devs = ring_dict["devs"]
            data._replica2part2dev_id = ring_dict["replica2part2dev_id"]
            data._part_shift = ring_dict["part_shift"]
            pickled = pickle.dumps(data, protocol=2)
            here = f"c{__name__}\n_OldRingData\n".encode("ascii")
            self.assertIn(here, pickled)
            return pickled.replace(here, b"cswift.common.ring.ring\nRingData\n")

        self.assertSameRing(self._pickled(reference, dump), reference)

    def test_unsafe_pickle(self) -> None:
        """
        A pickle that would call anything but the array constructors is
        refused, without calling it.
        """
        marker = os.path.abspath(self.mktemp())

        class Exploit:
            def __reduce__(self) -> tuple[Any, ...]:
                return (os.mkdir, (marker,))

        path = self.mktemp()
        _write(path, gzip.compress(pickle.dumps({"devs": Exploit()}, protocol=2)))
        error = self.assertRaises(
            RingError, Ring.from_file, path, hash_prefix=b"p", hash_suffix=b""
        )
        self.assertIn(path, str(error))
        self.assertIn("posix.mkdir", str(error))
        self.assertFalse(os.path.exists(marker))

    def _rewritten(self, change: Callable[[bytes], bytes]) -> str:
        """
        The path of a copy of the format 2 ring, its uncompressed content
        changed by C{change}.
        """
        with open(_in(_cluster("spread"), "object"), "rb") as f:
            raw = gzip.decompress(f.read())
        path: str = self.mktemp()
        _write(path, gzip.compress(change(raw)))
        return path

    def assertRingError(self, path: str, *fragments: str) -> None:
        error = self.assertRaises(
            RingError, Ring.from_file, path, hash_prefix=b"p", hash_suffix=b"s"
        )
        self.assertIn(path, str(error))
        for fragment in fragments:
            self.assertIn(fragment, str(error))

    def test_corrupt_section(self) -> None:
        """
        A format 2 section whose checksum does not match is refused.
        """
        path = self._rewritten(lambda raw: raw.replace(b'"d1"', b'"dX"'))
        self.assertRingError(path, "swift/ring/devices", "checksum")

    def test_unknown_version(self) -> None:
        """
        An C{R1NG} ring of a format version not known is refused.
        """
        path = self._rewritten(lambda raw: raw[:4] + struct.pack("!H", 3) + raw[6:])
        self.assertRingError(path, "format version 3")

    def test_truncated(self) -> None:
        """
        A ring cut short is refused.
        """
        with open(_in(_cluster("spread"), "container"), "rb") as f:
            raw = gzip.decompress(f.read())
        for size in (3, 9, 200, len(raw) - 3):
            path = self.mktemp()
            _write(path, gzip.compress(raw[:size]))
            self.assertRingError(path)

    def test_not_gzip(self) -> None:
        """
        A file that is not gzipped is refused.
        """
        path = self.mktemp()
        _write(path, b"R1NG\x00\x01 not compressed")
        self.assertRingError(path, "gzip")

    def test_missing(self) -> None:
        """
        A missing ring file is refused, naming it.
        """
        self.assertRingError(os.path.abspath(self.mktemp()), "cannot read")


class _OldRingData:
    """
    Pickled in place of the C{RingData} class of early Swift releases.
    """

    devs: Any
    _replica2part2dev_id: Any
    _part_shift: Any


class RingTests(SynchronousTestCase):
    """
    L{Ring} made directly from devices and a partition table.
    """

    def ring(
        self, devs: Sequence[Optional[dict[str, Any]]], table: list[list[int]], part_shift: int
    ) -> Ring:
        return Ring(
            devs,
            [array.array("H", row) for row in table],
            part_shift,
            hash_prefix=b"",
            hash_suffix=b"suffix",
        )

    def test_duplicate_primaries(self) -> None:
        """
        A device holding two replicas of a partition is listed once, and
        C{index} counts the nodes listed.
        """
        devs = [_dev(0, 1, 1, "a"), _dev(1, 1, 2, "b")]
        ring = self.ring(devs, [[0, 1], [0, 0], [1, 1]], 31)
        nodes = ring.get_part_nodes(0)
        self.assertEqual([(n["id"], n["index"]) for n in nodes], [(0, 0), (1, 1)])
        self.assertEqual(list(ring.get_more_nodes(0)), [])

    def test_copies(self) -> None:
        """
        Nodes are copies: changing one changes nothing in the ring.
        """
        devs: list[Optional[dict[str, Any]]] = [
            _dev(0, 1, 1, "a"), _dev(1, 1, 1, "a"), _dev(2, 1, 1, "a"),
        ]
        ring = self.ring(devs, [[0, 1], [1, 2]], 31)
        ring.get_part_nodes(0)[0]["ip"] = "changed"
        next(ring.get_more_nodes(0))["ip"] = "changed"
        self.assertEqual([n["ip"] for n in ring.get_part_nodes(0)], ["a", "a"])

    def test_removed_devices(self) -> None:
        """
        Removed devices (C{None}) may be listed; replication addresses
        default to the ordinary ones.
        """
        ring = self.ring([None, _dev(1, 1, 1, "a"), _dev(2, 1, 1, "b")], [[1, 2]], 31)
        self.assertIsNone(ring.devs[0])
        self.assertEqual(ring.device_count, 2)
        node = ring.get_part_nodes(1)[0]
        self.assertEqual((node["replication_ip"], node["replication_port"]), ("b", 6002))

    def test_bad_tables(self) -> None:
        """
        A table naming a device that does not exist, or sized wrongly for
        the part power, is refused.
        """
        devs: list[Optional[dict[str, Any]]] = [_dev(0, 1, 1, "a"), None]
        self.assertRaises(RingError, self.ring, devs, [[0, 1]], 31)
        self.assertRaises(RingError, self.ring, devs, [[0, 2]], 31)
        self.assertRaises(RingError, self.ring, devs, [[0, 0, 0]], 31)
        self.assertRaises(RingError, self.ring, devs, [], 31)
        self.assertRaises(RingError, self.ring, [_dev(1, 1, 1, "a")], [[0, 0]], 31)

    def test_bad_parts(self) -> None:
        """
        Partitions outside the ring are refused.
        """
        ring = self.ring([_dev(0, 1, 1, "a")], [[0, 0]], 31)
        for part in (-1, 2):
            self.assertRaises(ValueError, ring.get_part_nodes, part)
            self.assertRaises(ValueError, ring.get_more_nodes, part)

    def test_hash_secret_required(self) -> None:
        """
        As in Swift, a hash prefix or suffix is required.
        """
        self.assertRaises(
            ValueError, Ring, [_dev(0, 1, 1, "a")], [array.array("H", [0])], 32,
            hash_prefix=b"", hash_suffix=b"",
        )

    @settings(max_examples=40)
    @given(
        st.lists(
            st.tuples(st.integers(1, 2), st.integers(1, 3), st.sampled_from("abc")),
            min_size=1,
            max_size=8,
        ),
        st.integers(1, 4),
        st.randoms(use_true_random=False),
    )
    def test_handoffs_cover_devices(
        self, places: list[tuple[int, int, str]], replicas: int, rng: Any
    ) -> None:
        """
        For every partition, the handoffs are distinct devices holding
        partitions, not the primaries, and include every device holding any
        partition but the first (which the sweep may skip; see
        L{MatchesSwiftTests.test_any_table}).
        """
        devs: list[Optional[dict[str, Any]]] = [
            _dev(i, region, zone, f"{region}.{zone}.{ip}")
            for i, (region, zone, ip) in enumerate(places)
        ]
        table = [[rng.randrange(len(devs)) for _ in range(16)] for _ in range(replicas)]
        ring = self.ring(devs, table, 28)
        assigned = {dev_id for row in table for dev_id in row}
        swept = {dev_id for row in table for dev_id in row[1:]}
        for part in range(16):
            primaries = {n["id"] for n in ring.get_part_nodes(part)}
            handoffs = [n["id"] for n in ring.get_more_nodes(part)]
            self.assertEqual(len(handoffs), len(set(handoffs)))
            self.assertLessEqual(set(handoffs), assigned - primaries)
            self.assertLessEqual(swept - primaries, set(handoffs))


class HashPathTests(SynchronousTestCase):
    """
    L{hash_path} and L{Ring.get_part}.
    """

    def test_construction(self) -> None:
        """
        The hash is the MD5 of the prefix, C{/}, the path and the suffix;
        empty components are left out.
        """
        expected = hashlib.md5(b"pre/a/c/\xc3\xa9suf").hexdigest()
        affixes = {"prefix": b"pre", "suffix": b"suf"}
        self.assertEqual(hash_path("a", "c", "\u00e9", **affixes), expected)
        self.assertEqual(hash_path(b"a", b"c", b"\xc3\xa9", **affixes), expected)
        self.assertEqual(
            hash_path("a", "", None, prefix=b"pre", suffix=b"suf"),
            hashlib.md5(b"pre/asuf").hexdigest(),
        )

    def test_object_needs_container(self) -> None:
        """
        An object without a container is refused.
        """
        self.assertRaises(ValueError, hash_path, "a", None, "o", prefix=b"", suffix=b"s")

    def test_get_nodes(self) -> None:
        """
        L{Ring.get_nodes} is L{Ring.get_part} and L{Ring.get_part_nodes}.
        """
        ring = _ring("simple", "object")
        part, nodes = ring.get_nodes("AUTH_test", "c", "o")
        self.assertEqual(part, ring.get_part("AUTH_test", "c", "o"))
        self.assertEqual(nodes, ring.get_part_nodes(part))
        path_hash = hash_path(
            "AUTH_test", "c", "o", prefix=b"test-prefix", suffix=b"test-suffix"
        )
        self.assertEqual(part, int(path_hash[:8], 16) >> 24)


class RingSetTests(SynchronousTestCase):
    """
    L{RingSet} holds a C{swift_dir}'s rings and reloads changed ones.
    """

    def setUp(self) -> None:
        self.swift_dir = self.mktemp()
        shutil.copytree(_cluster("simple"), self.swift_dir)
        self.conf = load_swift_conf(os.path.join(self.swift_dir, "swift.conf"))
        self.clock = Clock()

    def rings(self) -> RingSet:
        return RingSet(self.swift_dir, self.conf, self.clock)

    def replace(self, name: str, content: bytes) -> None:
        """
        Give ring C{name} new content and a later mtime.
        """
        path = os.path.join(self.swift_dir, name + ".ring.gz")
        before = os.stat(path).st_mtime_ns
        _write(path, content)
        os.utime(path, ns=(before + 10**9, before + 10**9))

    def spread_object_ring(self) -> bytes:
        with open(os.path.join(_cluster("spread"), "object.ring.gz"), "rb") as f:
            return f.read()

    def test_rings(self) -> None:
        """
        The account, container and each policy's object ring are loaded.
        """
        rings = self.rings()
        self.assertEqual(rings.account.path, _in(self.swift_dir, "account"))
        self.assertEqual(rings.container.path, _in(self.swift_dir, "container"))
        self.assertEqual(rings.object_ring(0).path, _in(self.swift_dir, "object"))
        self.assertEqual(rings.object_ring(1).path, _in(self.swift_dir, "object-1"))
        self.assertEqual(rings.object_ring(1).format_version, 2)
        self.assertRaises(RingError, rings.object_ring, 2)

    def test_missing_ring(self) -> None:
        """
        A missing ring file is an error naming it.
        """
        path = os.path.join(self.swift_dir, "object-1.ring.gz")
        os.remove(path)
        error = self.assertRaises(RingError, self.rings)
        self.assertIn(path, str(error))

    def test_unchanged(self) -> None:
        """
        Rings whose files have not changed are kept.
        """
        rings = self.rings()
        before = rings.object_ring(0)
        self.assertEqual(rings.check_reload(), [])
        self.assertIs(rings.object_ring(0), before)

    def test_reload_on_change(self) -> None:
        """
        Once started, the L{RingSet} reloads a changed ring file after
        C{reload_interval} seconds, and only that one.
        """
        rings = self.rings()
        account = rings.account
        rings.start()
        self.addCleanup(rings.stop)
        self.replace("object", self.spread_object_ring())
        self.clock.advance(14)
        self.assertEqual(rings.object_ring(0).part_power, 8)
        self.clock.advance(1)
        self.assertEqual(rings.object_ring(0).part_power, 10)
        self.assertIs(rings.account, account)

    def test_bad_reload_keeps_ring(self) -> None:
        """
        A ring file that cannot be read now leaves the current ring in use;
        it is read once it is fixed.
        """
        rings = self.rings()
        before = rings.object_ring(0)
        self.replace("object", b"garbage")
        self.assertEqual(rings.check_reload(), [])
        self.assertIs(rings.object_ring(0), before)
        self.replace("object", self.spread_object_ring())
        self.assertEqual(rings.check_reload(), ["object"])
        self.assertEqual(rings.object_ring(0).part_power, 10)

    def test_stop(self) -> None:
        """
        After L{RingSet.stop}, nothing is scheduled and changes are not
        picked up.
        """
        rings = self.rings()
        rings.start()
        rings.start()
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        rings.stop()
        rings.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.replace("object", self.spread_object_ring())
        self.clock.advance(60)
        self.assertEqual(rings.object_ring(0).part_power, 8)

    def test_handoffs_of_reloaded_ring(self) -> None:
        """
        A reloaded ring answers with the new devices.
        """
        rings = self.rings()
        self.replace("object", self.spread_object_ring())
        rings.check_reload()
        ring = rings.object_ring(0)
        nodes = ring.get_part_nodes(0) + list(islice(ring.get_more_nodes(0), 3))
        self.assertTrue(all(node["device"].startswith("d") for node in nodes))
