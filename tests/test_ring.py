"""
Tests for L{twisted_proxy.swift.ring}.

The rings in C{tests/data/rings/} were made by Swift's own
C{swift-ring-builder} (see L{tests.e2e.ringrecipes}), and
L{tests.e2e.test_ring} checks lookups in them against Swift's own
C{swift-get-nodes}; the tests here only read them.
"""

from __future__ import annotations

import array
import gzip
import hashlib
import json
import os
import pickle
import shutil
import struct
import sys
from itertools import islice
from typing import Any, Callable, Mapping, Optional, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.doubles import make_node
from twisted_proxy.swift import ring as ring_module
from twisted_proxy.swift.ring import Node, Ring, RingError, RingSet, hash_path
from twisted_proxy.swift.swiftconf import SwiftConf, load_swift_conf

#: The ring sets made by Swift's C{swift-ring-builder}, one directory each.
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "rings")


def _write(path: str, content: bytes) -> None:
    with open(path, "wb") as f:
        f.write(content)


def _in(directory: str, ring_name: str) -> str:
    """
    The file of ring C{ring_name} in C{directory}.
    """
    return os.path.join(directory, ring_name + ".ring.gz")



def _cluster(name: str) -> str:
    """
    The directory holding the rings and C{swift.conf} of ring set C{name}
    (C{simple} or C{spread}; see L{tests.e2e.ringrecipes}). Tests must not
    change it.
    """
    return os.path.join(FIXTURES, name)


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
    devs: Sequence[Optional[Mapping[str, Any]]], table: list[list[int]], part_shift: int
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


def write_one_device_swift_dir(swift_dir: str) -> None:
    """
    Make C{swift_dir} with a C{swift.conf} of one policy and account,
    container and object rings of one device (127.0.0.1:6200 C{d0}).
    """
    os.makedirs(swift_dir, exist_ok=True)
    with open(os.path.join(swift_dir, "swift.conf"), "w") as handle:
        handle.write("[swift-hash]\nswift_hash_path_suffix = s\n"
                     "swift_hash_path_prefix = p\n\n"
                     "[storage-policy:0]\nname = gold\ndefault = yes\n")
    device = make_node("127.0.0.1", 6200, "d0", id=0, region=1, zone=1, weight=1.0)
    for ring in ("account", "container", "object"):
        with open(os.path.join(swift_dir, f"{ring}.ring.gz"), "wb") as ring_file:
            ring_file.write(_format1_ring([device], [[0, 0]], 31))


def _dev(dev_id: int, region: int, zone: int, ip: str) -> Node:
    return make_node(
        ip, 6000 + dev_id, f"d{dev_id}", id=dev_id, region=region, zone=zone,
        weight=1.0, meta="",
    )



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
        self, devs: Sequence[Optional[Node]], table: list[list[int]], part_shift: int
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
        devs: list[Optional[Node]] = [
            _dev(0, 1, 1, "a"), _dev(1, 1, 1, "a"), _dev(2, 1, 1, "a"),
        ]
        ring = self.ring(devs, [[0, 1], [1, 2]], 31)
        ring.get_part_nodes(0)[0]["ip"] = "changed"
        next(ring.get_more_nodes(0))["ip"] = "changed"
        self.assertEqual([n["ip"] for n in ring.get_part_nodes(0)], ["a", "a"])

    def test_primaries_remembered(self) -> None:
        """
        The primaries of the partitions asked for last are remembered, a
        bounded number of them; the nodes are the same whether or not they
        were.
        """
        self.patch(ring_module, "_PARTS_KEPT", 2)
        devs: list[Optional[Node]] = [_dev(i, 1, i, "ip%d" % i) for i in range(4)]
        ring = self.ring(devs, [[0, 1, 2, 3], [1, 2, 3, 0], [2, 3, 0, 1]], 30)
        expected = {0: [0, 1, 2], 1: [1, 2, 3], 2: [2, 3, 0], 3: [3, 0, 1]}
        for part in [0, 1, 0, 2, 3, 3, 1]:
            nodes = ring.get_part_nodes(part)
            self.assertEqual([(n["id"], n["index"]) for n in nodes],
                             [(dev, index) for index, dev in enumerate(expected[part])])
            self.assertEqual([n["id"] for n in ring.get_more_nodes(part)],
                             [dev for dev in range(4) if dev not in expected[part]])
            self.assertLessEqual(len(ring._primaries), 2)

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
        devs: list[Optional[Node]] = [_dev(0, 1, 1, "a"), None]
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
        L{tests.e2e.test_ring.MatchesSwiftTests.test_any_table}).
        """
        devs: list[Optional[Node]] = [
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


    def test_get_part_again(self) -> None:
        """
        Asked again, and past the paths it remembers, L{Ring.get_part}
        answers as the hash says; an object without a container is refused
        every time.
        """
        ring = _ring("simple", "object")
        names = [f"o{n}" for n in range(ring_module._PARTS_KEPT + 10)]
        for _ in range(2):
            for name in (names[0], names[-1], names[0]):
                path_hash = hash_path("AUTH_test", "c", name, prefix=b"test-prefix",
                                      suffix=b"test-suffix")
                self.assertEqual(ring.get_part("AUTH_test", "c", name),
                                 int(path_hash[:8], 16) >> 24)
            for name in names:
                ring.get_part("AUTH_test", "c", name)
            self.assertLessEqual(len(ring._parts), ring_module._PARTS_KEPT)
            self.assertRaises(ValueError, ring.get_part, "AUTH_test", None, "o")


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
