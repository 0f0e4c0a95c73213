# -*- test-case-name: tests.test_ring,tests.e2e.test_ring -*-
"""
Swift's rings: which storage devices hold an account, a container or an
object.

A ring maps the top bits of a path's MD5 hash (the I{partition}) to one
device per replica. L{Ring} reads the C{*.ring.gz} files that
C{swift-ring-builder} writes and answers the same questions as Swift's own
ring, with the same answers: partitions, primary nodes, and handoff nodes
in the same order. L{RingSet} keeps the account, container and object rings
of one C{swift_dir} and reloads any whose file changes.

Three on-disk formats are read, named as Swift's C{--format-version} names
them:

  - B{0}, the legacy one: a gzipped pickle of a C{dict} with C{devs},
    C{replica2part2dev_id} and C{part_shift}. It is unpickled with an
    unpickler that can build nothing but plain containers and arrays.
  - B{1}: a gzip stream starting C{R1NG}, a 2-byte version, a 4-byte length
    and a JSON header, then one array of 2-byte device ids per replica in
    the byte order the header names. Swift 2.38 writes this by default.
  - B{2}: C{R1NG}, version 2, then named, checksummed sections (metadata,
    devices, assignments) each a length-prefixed blob, and an index of the
    sections at the end; device ids are 2 or 4 bytes, big-endian.
"""

from __future__ import annotations

import array
import gzip
import hashlib
import io
import json
import os
import pickle
import struct
import sys
import zlib
from dataclasses import dataclass
from itertools import chain, count
from typing import (
    Any,
    Callable,
    Iterable,
    Iterator,
    Optional,
    Sequence,
    TypedDict,
    Union,
    cast,
)

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from typing_extensions import Required

from twisted_proxy.swift.swiftconf import SwiftConf

__all__ = [
    "Node",
    "Ring",
    "RingError",
    "RingSet",
    "hash_path",
]

_log = Logger()

class Node(TypedDict, total=False):
    """
    A device of a ring, with Swift's keys. C{id}, C{region}, C{zone}, C{ip},
    C{port} and C{device} are always there (a ring without them is refused);
    C{replication_ip} and C{replication_port} are filled in from C{ip} and
    C{port} when the ring has none. Nodes handed out by a L{Ring} are
    copies, with C{index} (primaries) or C{handoff_index} (handoffs) added.
    A ring's devices may carry further keys of their own (C{parts},
    C{parts_wanted}...), which are kept but not described here.
    """

    id: Required[int]
    region: Required[int]
    zone: Required[int]
    ip: Required[str]
    port: Required[int]
    device: Required[str]
    weight: float
    replication_ip: str
    replication_port: int
    meta: str
    index: int
    handoff_index: int


PartitionTable = Sequence["array.array[int]"]

_MAGIC = b"R1NG"
_SECTION_METADATA = "swift/ring/metadata"
_SECTION_DEVICES = "swift/ring/devices"
_SECTION_ASSIGNMENTS = "swift/ring/assignments"
_CHECKSUMS = frozenset({"md5", "sha1", "sha256", "sha512"})
_REQUIRED_DEVICE_KEYS = ("id", "region", "zone", "ip", "port", "device")


class RingError(Exception):
    """
    A ring cannot be loaded or used; the message names the ring file.
    """


def hash_path(
    account: Union[str, bytes],
    container: Union[str, bytes, None] = None,
    obj: Union[str, bytes, None] = None,
    *,
    prefix: bytes,
    suffix: bytes,
) -> str:
    """
    The hash Swift gives a path: the hex MD5 of C{prefix}, C{/}, the
    non-empty components joined by C{/} (text is UTF-8 encoded), and
    C{suffix}. It names the path's directory on the storage nodes and its
    top 32 bits pick the partition.

    @param prefix: C{swift_hash_path_prefix} (see L{SwiftConf.hash_prefix}).
    @param suffix: C{swift_hash_path_suffix}.
    @raise ValueError: if C{obj} is given without C{container}.
    """
    return _path_digest(account, container, obj, prefix, suffix).hex()


def _path_digest(
    account: Union[str, bytes],
    container: Union[str, bytes, None],
    obj: Union[str, bytes, None],
    prefix: bytes,
    suffix: bytes,
) -> bytes:
    if obj and not container:
        raise ValueError("an object path needs a container")
    parts = [_utf8(account)]
    # An empty container or object name is left out, like an absent one.
    parts.extend(_utf8(part) for part in (container, obj) if part)
    return hashlib.md5(
        prefix + b"/" + b"/".join(parts) + suffix, usedforsecurity=False
    ).digest()


def _utf8(text: Union[str, bytes]) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


#: Paths whose partitions a L{Ring} remembers (L{Ring.get_part}).
_PARTS_KEPT = 4096


class Ring:
    """
    One ring: devices and the table assigning each partition's replicas to
    them. A L{Ring} never changes; L{RingSet} replaces it when its file
    does.

    @param devs: the devices, indexed by id; C{None} where a device was
        removed. Each is a L{Node} C{dict}.
    @param replica2part2dev_id: one array per replica mapping partition to
        device id; the last may be shorter (a fractional replica count).
    @param part_shift: 32 minus the partition power.
    @param hash_prefix: C{swift_hash_path_prefix}.
    @param hash_suffix: C{swift_hash_path_suffix}.
    @param next_part_power: set while the partition power is being raised.
    @param version: the builder's version counter, if recorded.
    @param format_version: the on-disk format it was read from (0, 1, 2),
        if it was read.
    @param path: the file it was read from, if any, for error messages.

    @raise RingError: if the table is empty or inconsistent with
        C{part_shift}, or names a device that does not exist.
    @raise ValueError: if both C{hash_prefix} and C{hash_suffix} are empty,
        which Swift forbids.
    """

    def __init__(
        self,
        devs: Sequence[Optional[Node]],
        replica2part2dev_id: PartitionTable,
        part_shift: int,
        *,
        hash_prefix: bytes,
        hash_suffix: bytes,
        next_part_power: Optional[int] = None,
        version: Optional[int] = None,
        format_version: Optional[int] = None,
        path: Optional[str] = None,
    ) -> None:
        if not hash_prefix and not hash_suffix:
            raise ValueError("a hash path prefix or suffix is required")
        self._name = path or "<ring>"
        self._devs = _checked_devices(devs, self._name)
        self._table = tuple(replica2part2dev_id)
        self._part_shift = part_shift
        self._hash_prefix = hash_prefix
        self._hash_suffix = hash_suffix
        self._parts: dict[tuple[Any, Any, Any], int] = {}
        self._primaries: dict[int, tuple[Node, ...]] = {}
        self.next_part_power = next_part_power
        self.version = version
        self.format_version = format_version
        self.path = path
        self._check_table()
        self._assigned = self._assigned_devices()
        self._tier_counts = self._count_tiers()

    @classmethod
    def from_file(cls, path: str, *, hash_prefix: bytes, hash_suffix: bytes) -> "Ring":
        """
        Read a C{*.ring.gz} file in any of the formats Swift writes (see the
        module docstring). This blocks; it is meant for startup and for
        L{RingSet}'s occasional reloads.

        @raise RingError: naming C{path} if it is missing, unreadable or not
            a valid ring.
        """
        data = _read_ring_file(path)
        return cls(
            data.devs,
            data.table,
            data.part_shift,
            hash_prefix=hash_prefix,
            hash_suffix=hash_suffix,
            next_part_power=data.next_part_power,
            version=data.version,
            format_version=data.format_version,
            path=path,
        )

    def __repr__(self) -> str:
        return (
            f"<Ring {self._name}: part_power={self.part_power} "
            f"replicas={self.replica_count:g} devices={self.device_count}>"
        )

    # -- checks and bookkeeping done once, when the ring is made

    def _check_table(self) -> None:
        if not 0 <= self._part_shift <= 32:
            raise RingError(
                f"{self._name}: part_shift {self._part_shift} is out of range"
            )
        if not self._table or not len(self._table[0]):
            raise RingError(f"{self._name}: the ring has no partition assignments")
        partitions = 1 << self.part_power
        if len(self._table[0]) != partitions:
            raise RingError(
                f"{self._name}: {len(self._table[0])} partitions assigned, "
                f"but part power {self.part_power} means {partitions}"
            )
        for row in self._table:
            if len(row) > partitions:
                raise RingError(f"{self._name}: a replica has too many partitions")

    def _assigned_devices(self) -> frozenset[int]:
        """
        The ids of devices holding at least one partition replica.

        @raise RingError: if any of them is not a device of the ring.
        """
        assigned = frozenset(chain.from_iterable(set(row) for row in self._table))
        for dev_id in assigned:
            dev = self._devs[dev_id] if dev_id < len(self._devs) else None
            if dev is None:
                raise RingError(
                    f"{self._name}: partitions assigned to missing device {dev_id}"
                )
            if dev["id"] != dev_id:
                raise RingError(
                    f"{self._name}: device {dev_id} says its id is {dev['id']}"
                )
        return assigned

    def _count_tiers(self) -> tuple[int, int, int, int]:
        """
        How many distinct regions, zones, IPs and devices hold partitions.

        Devices without partitions do not count: once every counted tier has
        a node, no handoff pass can find another one, and stops early.
        """
        regions, zones, ips, devices = (
            len({_tier(self._device(dev_id), depth) for dev_id in self._assigned})
            for depth in _DEPTHS
        )
        return regions, zones, ips, devices

    def _device(self, dev_id: int) -> Node:
        dev = self._devs[dev_id]
        assert dev is not None, "assigned devices were checked to exist"
        return dev

    # -- what the ring is

    @property
    def replica_count(self) -> float:
        """
        The number of replicas, fractional if the last replica covers only
        part of the partitions (as Swift reports it: C{3.0}, C{2.5}).
        """
        full = len(self._table) - 1
        return full + len(self._table[-1]) / len(self._table[0])

    @property
    def partition_count(self) -> int:
        """
        The number of partitions, C{2 ** part_power}.
        """
        return len(self._table[0])

    @property
    def part_power(self) -> int:
        """
        The partition power: a partition is this many top bits of a hash.
        """
        return 32 - self._part_shift

    @property
    def devs(self) -> list[Optional[Node]]:
        """
        The devices indexed by id, C{None} for removed ones. Treat the
        C{dict}s as read-only.
        """
        return list(self._devs)

    @property
    def device_count(self) -> int:
        """
        The number of devices (removed ones not counted).
        """
        return sum(1 for dev in self._devs if dev is not None)

    # -- lookups

    def get_part(
        self,
        account: Union[str, bytes],
        container: Union[str, bytes, None] = None,
        obj: Union[str, bytes, None] = None,
    ) -> int:
        """
        The partition of an account, container or object.

        @raise ValueError: if C{obj} is given without C{container}.
        """
        # The paths asked for last are remembered: each request asks for
        # its account's and container's partitions, as the ones before it.
        key = (account, container, obj)
        part = self._parts.get(key)
        if part is not None:
            return part
        digest = _path_digest(
            account, container, obj, self._hash_prefix, self._hash_suffix
        )
        top: int = struct.unpack_from(">I", digest)[0]
        part = top >> self._part_shift
        if len(self._parts) >= _PARTS_KEPT:
            self._parts.clear()
        self._parts[key] = part
        return part

    def get_part_nodes(self, part: int) -> list[Node]:
        """
        The primary nodes of partition C{part}, in replica order. A device
        holding several replicas of the partition is listed once, and
        C{index} counts the nodes listed, as in Swift.

        @raise ValueError: if C{part} is not a partition of this ring.
        """
        self._check_part(part)
        return [_marked(dev, "index", i) for i, dev in enumerate(self._primary_devices(part))]

    def get_nodes(
        self,
        account: Union[str, bytes],
        container: Union[str, bytes, None] = None,
        obj: Union[str, bytes, None] = None,
    ) -> tuple[int, list[Node]]:
        """
        The partition of a path and its primary nodes (see
        L{get_part_nodes}).
        """
        part = self.get_part(account, container, obj)
        return part, self.get_part_nodes(part)

    def get_more_nodes(self, part: int) -> Iterator[Node]:
        """
        The handoff nodes of partition C{part}, lazily, in Swift's order;
        each has C{handoff_index} counting from 0.

        The order is Swift's: the partitions are swept from a start point
        derived from C{part}, taking the devices assigned to them, four
        times over: first only devices in regions no node is in yet, then
        in new zones, then on new IPs, then any device not yet used. Each
        sweep ends as soon as its tier is exhausted. No device is yielded
        twice, nor any primary; a device is only found if it holds one of
        the partitions swept (see L{_sweep}), so in a ring with more than
        65536 partitions, or one with a device holding only partition 0,
        some devices are never offered.

        @raise ValueError: if C{part} is not a partition of this ring.
        """
        self._check_part(part)
        return self._handoffs(part)

    def _check_part(self, part: int) -> None:
        if not 0 <= part < self.partition_count:
            raise ValueError(
                f"partition {part} is not in 0..{self.partition_count - 1}"
            )

    def _primary_devices(self, part: int) -> tuple[Node, ...]:
        # The partitions asked for last are remembered (a ring's table and
        # devices never change): a request asks for its partition's
        # primaries several times (its replica count, its nodes, its
        # container updates).
        devices = self._primaries.get(part)
        if devices is not None:
            return devices
        found = []
        seen = set()
        for row in self._table:
            if part < len(row) and row[part] not in seen:
                seen.add(row[part])
                found.append(self._device(row[part]))
        devices = tuple(found)
        if len(self._primaries) >= _PARTS_KEPT:
            self._primaries.clear()
        self._primaries[part] = devices
        return devices

    def _handoffs(self, part: int) -> Iterator[Node]:
        primaries = self._primary_devices(part)
        used: set[Any] = {dev["id"] for dev in primaries}
        # Tiers already holding a node, shallowest first; the device tier
        # is `used` itself.
        taken: list[set[Any]] = [
            {_tier(dev, depth) for dev in primaries} for depth in _DEPTHS[:-1]]
        taken.append(used)
        start = self._sweep_start(part)
        handoff_index = count()
        for depth in _DEPTHS:
            for dev in self._handoff_pass(start, depth, used, taken):
                yield _marked(dev, "handoff_index", next(handoff_index))

    def _handoff_pass(
        self, start: int, depth: int, used: set[Any], taken: list[set[Any]]
    ) -> Iterator[Node]:
        """
        One sweep for handoffs in tiers at C{depth} (1 region, 2 zone, 3 IP,
        4 device) that hold no node yet, recording each one yielded in
        C{used} and C{taken}.
        """
        level = taken[depth - 1]
        total = self._tier_counts[depth - 1]
        if len(level) == total:
            return
        for handoff_part in self._sweep(start):
            for row in self._table:
                if handoff_part >= len(row):
                    continue
                dev_id = row[handoff_part]
                if dev_id in used:
                    continue
                dev = self._device(dev_id)
                if _tier(dev, depth) in level:
                    continue
                yield dev
                used.add(dev_id)
                for deeper in range(depth, len(_DEPTHS)):
                    taken[deeper - 1].add(_tier(dev, deeper))
                if len(level) == total:
                    return

    def _sweep_start(self, part: int) -> int:
        digest = hashlib.md5(str(part).encode("ascii"), usedforsecurity=False).digest()
        top: int = struct.unpack_from(">I", digest)[0]
        return top >> self._part_shift

    def _sweep(self, start: int) -> Iterable[int]:
        """
        The partitions whose devices are considered as handoffs, in order:
        every C{step}-th one from C{start} to the end, then wrapping round
        to the same residue below C{start}; C{step} is 1 up to 65536
        partitions.

        The wrap is computed as Swift computes it, quirk included: when
        C{start} is a multiple of C{step} (always, for a step of 1) it
        begins at C{step}, not 0, so partition 0 is only swept when it is
        the start.
        """
        parts = self.partition_count
        step = parts // 65536 or 1
        return chain(
            range(start, parts, step),
            range(step - (parts - start) % step, start, step),
        )


_DEPTHS = (1, 2, 3, 4)


def _tier(dev: Node, depth: int) -> tuple[Any, ...]:
    """
    The failure domain of C{dev} at C{depth}: its region, then zone, IP
    and finally the device itself.
    """
    return (dev["region"], dev["zone"], dev["ip"], dev["id"])[:depth]


def _checked_devices(devs: Any, name: str) -> list[Optional[Node]]:
    """
    Copies of the devices C{devs} (see L{_normalized}), after checking they
    are C{dict}s with at least the keys lookups use, or C{None}.

    @raise RingError: naming C{name} if they are not.
    """
    if not isinstance(devs, (list, tuple)):
        raise RingError(f"{name}: the ring's devices are not a list")
    checked: list[Optional[Node]] = []
    for dev in devs:
        if dev is None:
            checked.append(None)
            continue
        if not isinstance(dev, dict):
            raise RingError(f"{name}: a device is a {type(dev).__name__}, not a dict")
        missing = [key for key in _REQUIRED_DEVICE_KEYS if key not in dev]
        if missing:
            raise RingError(
                f"{name}: device {dev.get('id')!r} lacks {', '.join(missing)}"
            )
        checked.append(_normalized(dev))
    return checked


def _normalized(dev: dict[str, Any]) -> Node:
    """
    A copy of C{dev} (checked to have the required keys) with the
    replication address defaulting to the ordinary one, as Swift fills it
    in for rings older than replication networks.
    """
    node = cast(Node, dict(dev))
    node.setdefault("replication_ip", node["ip"])
    node.setdefault("replication_port", node["port"])
    return node


def _marked(dev: Node, key: str, position: int) -> Node:
    """
    A copy of C{dev} with C{key} (C{index} or C{handoff_index}) set to
    C{position}.
    """
    node = dev.copy()
    if key == "index":
        node["index"] = position
    else:
        node["handoff_index"] = position
    return node


# -- reading ring files


@dataclass(frozen=True)
class _RingData:
    devs: Any
    table: list["array.array[int]"]
    part_shift: int
    next_part_power: Optional[int]
    version: Optional[int]
    format_version: int


def _read_ring_file(path: str) -> _RingData:
    """
    Decompress and decode the ring file at C{path}.

    @raise RingError: naming C{path} for any problem.
    """
    try:
        with open(path, "rb") as ring_file:
            compressed = ring_file.read()
    except OSError as e:
        raise RingError(f"{path}: cannot read ring: {e.strerror or e}") from e
    try:
        raw = gzip.decompress(compressed)
    except (OSError, EOFError, zlib.error) as e:
        raise RingError(f"{path}: not a gzipped ring file: {e}") from e
    try:
        return _decode(raw, path)
    except RingError:
        raise
    except Exception as e:
        # Whatever a corrupt or hostile file makes the decoders trip over.
        raise RingError(f"{path}: malformed ring: {e!r}") from e


def _decode(raw: bytes, path: str) -> _RingData:
    if raw[:4] != _MAGIC:
        return _decode_pickle(raw, path)
    (version,) = struct.unpack_from("!H", raw, 4)
    decoder = _R1NG_DECODERS.get(version)
    if decoder is None:
        raise RingError(f"{path}: unsupported ring format version {version}")
    return decoder(memoryview(raw), path)


def _decode_v1(raw: memoryview, path: str) -> _RingData:
    """
    Format 1: C{R1NG\\x00\\x01}, a C{!I} length and JSON header, then up to
    C{replica_count} arrays of 2-byte ids in the header's byte order, the
    last possibly short.
    """
    (header_length,) = struct.unpack_from("!I", raw, 6)
    offset = 10 + header_length
    header = json.loads(bytes(raw[10:offset]))
    part_shift = _int_field(header, "part_shift", path)
    row_bytes = 2 << (32 - part_shift)
    table = []
    for _ in range(_int_field(header, "replica_count", path)):
        chunk = raw[offset : offset + row_bytes]
        offset += len(chunk)
        table.append(_id_array(chunk, 2, header.get("byteorder", sys.byteorder), path))
    if offset != len(raw):
        raise RingError(f"{path}: {len(raw) - offset} bytes left after the assignments")
    return _RingData(
        devs=header.get("devs"),
        table=table,
        part_shift=part_shift,
        next_part_power=header.get("next_part_power"),
        version=header.get("version"),
        format_version=1,
    )


def _decode_v2(raw: memoryview, path: str) -> _RingData:
    """
    Format 2: C{R1NG\\x00\\x02}, then sections, each a C{!Q} length and a
    blob, located by a JSON index at the end. The last 16 bytes are the
    index's offset in the uncompressed stream and in the compressed file;
    only the first is needed here, the whole stream being decompressed.
    """
    (index_offset,) = struct.unpack_from("!Q", raw, len(raw) - 16)
    index = json.loads(bytes(_blob(raw, index_offset, path)))
    metadata = json.loads(bytes(_section(raw, index, _SECTION_METADATA, path)))
    devices = json.loads(bytes(_section(raw, index, _SECTION_DEVICES, path)))
    part_shift = _int_field(metadata, "part_shift", path)
    id_bytes = _int_field(metadata, "dev_id_bytes", path)
    assignments = _section(raw, index, _SECTION_ASSIGNMENTS, path)
    row_bytes = id_bytes << (32 - part_shift)
    table = [
        _id_array(assignments[start : start + row_bytes], id_bytes, "big", path)
        for start in range(0, len(assignments), row_bytes)
    ]
    return _RingData(
        devs=devices,
        table=table,
        part_shift=part_shift,
        next_part_power=metadata.get("next_part_power"),
        version=metadata.get("version"),
        format_version=2,
    )


_R1NG_DECODERS: dict[int, Callable[[memoryview, str], _RingData]] = {
    1: _decode_v1,
    2: _decode_v2,
}


def _blob(raw: memoryview, offset: int, path: str) -> memoryview:
    """
    The length-prefixed (C{!Q}) blob at C{offset}.
    """
    (length,) = struct.unpack_from("!Q", raw, offset)
    blob = raw[offset + 8 : offset + 8 + length]
    if len(blob) != length:
        raise RingError(f"{path}: a blob runs past the end of the ring")
    return blob


def _section(
    raw: memoryview, index: dict[str, Any], name: str, path: str
) -> memoryview:
    """
    The verified content of section C{name} of a format 2 ring.

    An index entry is C{[compressed start, uncompressed start, compressed
    end, uncompressed end, checksum method, checksum]}; the checksum covers
    the length prefix and the blob.

    @raise RingError: if the section is missing, its length disagrees with
        the index, or its checksum does not match.
    """
    entry = index.get(name)
    if entry is None:
        raise RingError(f"{path}: the ring has no {name} section")
    _, start, _, end, method, expected = entry
    blob = _blob(raw, start, path)
    if end - start != 8 + len(blob):
        raise RingError(f"{path}: section {name} is not the length its index says")
    if method not in _CHECKSUMS:
        raise RingError(f"{path}: section {name} has unknown checksum {method!r}")
    if hashlib.new(method, raw[start:end]).hexdigest() != expected:
        raise RingError(f"{path}: section {name} fails its {method} checksum")
    return blob


def _id_array(
    chunk: memoryview, id_bytes: int, byteorder: str, path: str
) -> "array.array[int]":
    """
    An array of device ids from C{chunk}, C{id_bytes} wide, stored in
    C{byteorder} (C{'big'} or C{'little'}).
    """
    typecode = _TYPECODES.get(id_bytes)
    if typecode is None:
        raise RingError(f"{path}: {id_bytes}-byte device ids are not supported")
    if not chunk or len(chunk) % id_bytes:
        raise RingError(f"{path}: a replica's assignments are truncated")
    ids = array.array(typecode)
    ids.frombytes(chunk)
    if byteorder != sys.byteorder:
        ids.byteswap()
    return ids


# Array type codes by item size; 'I' is 4 bytes on the platforms Swift runs on
# but that is checked rather than assumed.
_TYPECODES = {
    size: code
    for code, size in ((code, array.array(code).itemsize) for code in "LIH")
}


def _int_field(header: dict[str, Any], key: str, path: str) -> int:
    value = header.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise RingError(f"{path}: the ring header's {key} is {value!r}, not an integer")
    return value


# -- format 0, the legacy pickle


def _decode_pickle(raw: bytes, path: str) -> _RingData:
    """
    Format 0: a pickled C{dict} (C{devs}, C{replica2part2dev_id},
    C{part_shift}, maybe C{next_part_power} and C{version}), or from the
    oldest Swift releases a pickled C{RingData} object with the same data in
    attributes.
    """
    try:
        loaded = _SafeUnpickler(io.BytesIO(raw), encoding="latin-1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise RingError(f"{path}: neither an R1NG ring nor a ring pickle: {e}") from e
    if isinstance(loaded, _LegacyRingData):
        loaded = loaded.as_dict()
    if not isinstance(loaded, dict):
        raise RingError(f"{path}: the ring pickle holds a {type(loaded).__name__}")
    rows = loaded.get("replica2part2dev_id")
    if not isinstance(rows, list):
        raise RingError(f"{path}: the ring pickle has no replica2part2dev_id list")
    return _RingData(
        devs=loaded.get("devs"),
        table=[_as_id_array(row, path) for row in rows],
        part_shift=_int_field(loaded, "part_shift", path),
        next_part_power=loaded.get("next_part_power"),
        version=loaded.get("version"),
        format_version=0,
    )


def _as_id_array(row: Any, path: str) -> "array.array[int]":
    if isinstance(row, array.array):
        return row
    if isinstance(row, (list, tuple)) and all(type(dev_id) is int for dev_id in row):
        return array.array("H" if max(row, default=0) < 0xFFFF else "I", row)
    raise RingError(f"{path}: a replica's assignments are a {type(row).__name__}")


_ARRAY_TYPECODES = frozenset("BHILQ")


def _safe_array(
    typecode: Union[str, bytes], initializer: Any = None
) -> "array.array[int]":
    """
    Stand-in for C{array.array} when unpickling: integer arrays only. Data
    pickled by Python 2 arrives as a latin-1 string holding the raw bytes.
    """
    if isinstance(typecode, bytes):
        typecode = typecode.decode("latin-1")
    if typecode not in _ARRAY_TYPECODES:
        raise pickle.UnpicklingError(f"array type {typecode!r} is not allowed")
    if initializer is None:
        return array.array(typecode)
    if isinstance(initializer, str):
        initializer = initializer.encode("latin-1")
    if isinstance(initializer, (bytes, bytearray)):
        ids = array.array(typecode)
        ids.frombytes(initializer)
        return ids
    if isinstance(initializer, list) and all(type(i) is int for i in initializer):
        return array.array(typecode, initializer)
    raise pickle.UnpicklingError("array contents are not integers or bytes")


def _safe_array_reconstructor(
    cls: Any, typecode: str, mformat_code: int, items: bytes
) -> "array.array[int]":
    """
    Stand-in for C{array._array_reconstructor}, which pickle protocol 3 and
    later use for arrays: C{items} are raw unsigned values of the size and
    byte order C{mformat_code} names.
    """
    layout = _UNSIGNED_MFORMATS.get(mformat_code)
    if (
        typecode not in _ARRAY_TYPECODES
        or layout is None
        or not isinstance(items, bytes)
    ):
        raise pickle.UnpicklingError(f"array type {typecode!r} is not allowed")
    ids = array.array(typecode)
    size, byteorder = layout
    if size != ids.itemsize:
        raise pickle.UnpicklingError("array items of the wrong size")
    ids.frombytes(items)
    if size > 1 and byteorder != sys.byteorder:
        ids.byteswap()
    return ids


# CPython's machine format codes for unsigned integer arrays (from
# Modules/arraymodule.c): code -> (item size, byte order).
_UNSIGNED_MFORMATS = {
    0: (1, sys.byteorder),
    2: (2, "little"),
    3: (2, "big"),
    6: (4, "little"),
    7: (4, "big"),
    10: (8, "little"),
    11: (8, "big"),
}


class _LegacyRingData:
    """
    Stand-in for the C{RingData} class pickled by the first Swift
    releases: it only keeps the three attributes a ring needs.
    """

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("RingData state is not a dict")
        self.state = state

    def as_dict(self) -> dict[str, Any]:
        return {
            "devs": self.state.get("devs"),
            "replica2part2dev_id": self.state.get("_replica2part2dev_id"),
            "part_shift": self.state.get("_part_shift"),
        }


class _SafeUnpickler(pickle.Unpickler):
    """
    An unpickler that can only make the builtin containers and scalars, and
    integer arrays through L{_safe_array}; any other global is refused, so a
    ring file cannot run code.
    """

    _allowed: dict[tuple[str, str], Any] = {
        ("array", "array"): _safe_array,
        ("array", "_array_reconstructor"): _safe_array_reconstructor,
        ("swift.common.ring.ring", "RingData"): _LegacyRingData,
        ("swift.common.ring", "RingData"): _LegacyRingData,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[module, name]
        except KeyError:
            raise pickle.UnpicklingError(
                f"ring pickle refers to {module}.{name}, which is not allowed"
            ) from None


# -- the rings of a swift_dir


@dataclass
class _Loaded:
    """
    A ring and the state of its file when it was read.
    """

    ring: Ring
    stamp: tuple[int, int, int]


def _file_stamp(path: str) -> tuple[int, int, int]:
    """
    What tells us a ring file has changed: its mtime, and also its inode and
    size, so that a new file renamed into place within the same mtime tick
    is noticed too.

    @raise OSError: if C{path} cannot be examined.
    """
    info = os.stat(path)
    return (info.st_mtime_ns, info.st_ino, info.st_size)


class RingSet:
    """
    The account ring, container ring and one object ring per storage policy
    of a C{swift_dir}, kept up to date with their files.

    All the rings are read when the L{RingSet} is made. L{start} makes it
    look for changed files every C{reload_interval} seconds of C{clock}
    time; a ring whose file changed is read again and replaced, and a ring
    that fails to load keeps its previous version.

    @param swift_dir: the directory holding C{account.ring.gz},
        C{container.ring.gz} and the policies' object rings.
    @param swift_conf: supplies the hash prefix, suffix and policies.
    @param clock: schedules the reload checks.
    @param reload_interval: seconds between checks.

    @raise RingError: naming the path of the first ring that is missing or
        cannot be read.
    """

    def __init__(
        self,
        swift_dir: str,
        swift_conf: SwiftConf,
        clock: IReactorTime,
        reload_interval: float = 15.0,
    ) -> None:
        self.swift_dir = swift_dir
        self.reload_interval = reload_interval
        self._swift_conf = swift_conf
        self._clock = clock
        self._loop: Optional[LoopingCall] = None
        names = ["account", "container"]
        names.extend(policy.ring_name for policy in swift_conf.policies)
        self._rings = {name: self._load(name) for name in names}
        self._policy_rings = {
            policy.index: policy.ring_name for policy in swift_conf.policies
        }

    def ring_path(self, name: str) -> str:
        """
        The file of the ring called C{name} (C{account}, C{object-1}, ...).
        """
        return os.path.join(self.swift_dir, name + ".ring.gz")

    def _load(self, name: str) -> _Loaded:
        path = self.ring_path(name)
        try:
            stamp = _file_stamp(path)
        except OSError as e:
            raise RingError(f"{path}: cannot read ring: {e.strerror or e}") from e
        ring = Ring.from_file(
            path,
            hash_prefix=self._swift_conf.hash_prefix,
            hash_suffix=self._swift_conf.hash_suffix,
        )
        return _Loaded(ring, stamp)

    @property
    def account(self) -> Ring:
        """
        The current account ring.
        """
        return self._rings["account"].ring

    @property
    def container(self) -> Ring:
        """
        The current container ring.
        """
        return self._rings["container"].ring

    def object_ring(self, policy_index: int) -> Ring:
        """
        The current object ring of the storage policy with index
        C{policy_index}.

        @raise RingError: if C{swift.conf} has no such policy.
        """
        name = self._policy_rings.get(policy_index)
        if name is None:
            raise RingError(f"no storage policy has index {policy_index!r}")
        return self._rings[name].ring

    def check_reload(self) -> list[str]:
        """
        Read again every ring whose file changed since it was read. A ring
        that cannot be read now keeps its current version, and the failure
        is logged; it is tried again at the next check.

        @return: the names of the rings replaced.
        """
        reloaded = []
        for name, loaded in list(self._rings.items()):
            path = self.ring_path(name)
            try:
                if _file_stamp(path) == loaded.stamp:
                    continue
                self._rings[name] = self._load(name)
            except (OSError, RingError) as e:
                _log.error(
                    "Keeping the current {name} ring: {error}", name=name, error=e
                )
                continue
            reloaded.append(name)
            _log.info("Reloaded the {name} ring from {path}", name=name, path=path)
        return reloaded

    def start(self) -> None:
        """
        Check for changed ring files every C{reload_interval} seconds until
        L{stop} is called. Starting a started L{RingSet} does nothing.
        """
        if self._loop is not None and self._loop.running:
            return
        self._loop = LoopingCall(self.check_reload)
        self._loop.clock = self._clock
        finished: Deferred[LoopingCall] = self._loop.start(
            self.reload_interval, now=False
        )
        finished.addErrback(self._checks_failed)

    def stop(self) -> None:
        """
        Stop checking for changed ring files. Stopping a stopped L{RingSet}
        does nothing.
        """
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def _checks_failed(self, failure: Failure) -> None:
        _log.failure("Ring reload checks stopped", failure)
