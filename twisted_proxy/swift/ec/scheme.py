# -*- test-case-name: tests.test_ec_codec -*-
"""
The erasure coding scheme of a storage policy: PyECLib's encoder and
decoder, and the arithmetic of segments, fragments and fragment archives.

An object is cut into segments of C{ec_object_segment_size} bytes (the last
one shorter); each segment is encoded into C{k + m} fragments, all of one
length (the segment's I{fragment size}, a fragment header included).
Fragment archive C{i} is fragment C{i} of every segment, end to end, and is
stored on the node of ring slot C{i} (modulo C{k + m}, when fragments are
duplicated). Any C{k} distinct fragments of a segment decode it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, MutableMapping, Optional

from twisted_proxy.swift.swiftconf import ERASURE_CODING, StoragePolicy, SwiftConf

__all__ = [
    "LEGACY_CRC_VARIABLE",
    "write_legacy_crc",
    "ECScheme",
    "ECSchemeError",
    "DEFAULT_SEGMENT_SIZE",
    "Segmenter",
    "check_ec_policies",
    "fragment_footers",
]

#: Swift's default C{ec_object_segment_size}.
DEFAULT_SEGMENT_SIZE = 1048576


class ECSchemeError(ValueError):
    """
    A policy's erasure coding options cannot be used (an unknown
    C{ec_type}, counts PyECLib refuses, or no PyECLib at all).
    """


def check_ec_policies(swift_conf: SwiftConf, path: str) -> None:
    """
    Make the scheme of every erasure-coded policy of C{swift_conf} once, as
    Swift does when it loads its policies, so that a proxy that could not
    serve one stops at startup rather than failing its requests.

    @param path: the C{swift.conf} file, for the message.
    @raise ECSchemeError: naming the file and the policy's section, for the
        first policy whose scheme cannot be made.
    """
    for policy in swift_conf.policies:
        if policy.policy_type != ERASURE_CODING:
            continue
        try:
            ECScheme.from_policy(policy)
        except (ECSchemeError, KeyError, ValueError) as error:
            raise ECSchemeError(
                f"{path}: [storage-policy:{policy.index}] ({policy.name}): {error}"
            ) from None


#: The environment variable by which liberasurecode (1.6.2 and later) is
#: told to write the legacy CRC into fragment headers, which nodes with
#: liberasurecode 1.5.0 or older can check.
LEGACY_CRC_VARIABLE = "LIBERASURECODE_WRITE_LEGACY_CRC"


def write_legacy_crc(legacy: Optional[bool],
                     environ: MutableMapping[str, str] = os.environ) -> None:
    """
    Apply Swift's C{write_legacy_ec_crc}: set L{LEGACY_CRC_VARIABLE} to
    C{"1"} (true) or C{"0"} (false) as Swift's proxy does, or, with
    C{None} (the option absent or blank), leave the environment as it is.

    Call it before any PyECLib driver is made: a library may read the
    variable once.
    """
    if legacy is not None:
        environ[LEGACY_CRC_VARIABLE] = "1" if legacy else "0"


@dataclass(frozen=True)
class ECScheme:
    """
    The erasure coding of one policy.

    @ivar ec_type: the PyECLib backend, such as C{liberasurecode_rs_vand}.
    @ivar ndata: C{k}, data fragments per segment.
    @ivar nparity: C{m}, parity fragments per segment.
    @ivar segment_size: bytes of object per segment.
    @ivar duplication: how many copies of each fragment are stored.
    """

    ec_type: str
    ndata: int
    nparity: int
    segment_size: int = DEFAULT_SEGMENT_SIZE
    duplication: int = 1
    _driver: list[Any] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def from_policy(cls, policy: StoragePolicy) -> "ECScheme":
        """
        The scheme of an C{erasure_coding} policy.

        @raise ECSchemeError: when the policy is not erasure coded or its
            options cannot make a PyECLib driver.
        """
        if policy.policy_type != ERASURE_CODING:
            raise ECSchemeError(f"policy {policy.name} is not erasure coded")
        options = policy.options
        scheme = cls(
            ec_type=options.get("ec_type", "").strip(),
            ndata=int(options["ec_num_data_fragments"]),
            nparity=int(options["ec_num_parity_fragments"]),
            segment_size=int(options.get("ec_object_segment_size", DEFAULT_SEGMENT_SIZE)),
            duplication=int(options.get("ec_duplication_factor", 1)),
        )
        scheme.driver  # fail now rather than on the first request
        return scheme

    @property
    def driver(self) -> Any:
        """
        The PyECLib C{ECDriver}, made on first use.

        @raise ECSchemeError: when PyECLib cannot make it, or is not
            installed.
        """
        if not self._driver:
            try:
                from pyeclib.ec_iface import ECDriver, ECDriverError
            except ImportError:
                raise ECSchemeError(
                    f"ec_type {self.ec_type}: PyECLib is not installed, so this proxy"
                    " cannot serve erasure-coded policies (pip install"
                    " 'twisted-proxy[ec]'; under PyPy it is built from source, see"
                    " README.rst)"
                ) from None
            try:
                made = ECDriver(k=self.ndata, m=self.nparity, ec_type=self.ec_type)
            except ECDriverError as error:
                raise ECSchemeError(
                    f"ec_type {self.ec_type} {self.ndata}+{self.nparity}: {error}"
                ) from None
            self._driver.append(made)
        return self._driver[0]

    @property
    def unique_fragments(self) -> int:
        """
        C{k + m}: the fragments each segment is encoded into.
        """
        return self.ndata + self.nparity

    @property
    def replicas(self) -> int:
        """
        The replica count the policy's object ring must have.
        """
        return self.unique_fragments * self.duplication

    @property
    def quorum(self) -> int:
        """
        Fragment archives that must be written (and made durable) for a PUT
        to succeed: C{k} plus the parity the scheme needs at least, times
        the duplication factor.
        """
        needed: int = self.driver.min_parity_fragments_needed()
        return (self.ndata + needed) * self.duplication

    @property
    def description(self) -> str:
        """
        What C{X-Object-Sysmeta-Ec-Scheme} says: C{"<ec_type> <k>+<m>"}.
        """
        return f"{self.ec_type} {self.ndata}+{self.nparity}"

    @property
    def fragment_size(self) -> int:
        """
        The length of the fragments of a whole segment, header included:
        every fragment of an archive but maybe the last has this length.
        """
        return self.fragment_size_for(self.segment_size)

    def fragment_size_for(self, segment_length: int) -> int:
        """
        The length of each fragment of a segment of C{segment_length}
        bytes (0 for an empty segment, which is not encoded).
        """
        if segment_length <= 0:
            return 0
        info = self.driver.get_segment_info(segment_length, self.segment_size)
        return int(info["fragment_size"])

    def segments(self, object_length: int) -> int:
        """
        How many segments an object of C{object_length} bytes has.
        """
        return -(-object_length // self.segment_size)

    def archive_length(self, object_length: int) -> int:
        """
        The length of each fragment archive of an object of
        C{object_length} bytes.
        """
        whole, last = divmod(object_length, self.segment_size)
        return whole * self.fragment_size + self.fragment_size_for(last)

    def backend_index(self, node_index: int) -> int:
        """
        The fragment index stored by the primary node of ring slot
        C{node_index}.
        """
        return node_index % self.unique_fragments

    def encode(self, segment: bytes) -> list[bytes]:
        """
        The C{k + m} fragments of one segment (empty ones for an empty
        segment).
        """
        if not segment:
            return [b""] * self.unique_fragments
        fragments: list[bytes] = self.driver.encode(segment)
        return fragments

    def decode(self, fragments: list[bytes]) -> bytes:
        """
        The segment that C{fragments} (at least C{k} distinct ones of it)
        encode.

        @raise ECSchemeError: when they cannot be decoded.
        """
        from pyeclib.ec_iface import ECDriverError

        try:
            segment: bytes = self.driver.decode(fragments)
        except ECDriverError as error:
            raise ECSchemeError(f"cannot decode {len(fragments)} fragments: {error}"
                                ) from None
        return segment


class Segmenter:
    """
    Cuts a stream of chunks into segments of C{segment_size} bytes, holding
    at most one segment.
    """

    def __init__(self, segment_size: int) -> None:
        self._size = segment_size
        self._held: list[bytes] = []
        self._count = 0

    @property
    def held(self) -> int:
        """
        Bytes received and not yet handed out as a segment.
        """
        return self._count

    def feed(self, data: bytes) -> list[bytes]:
        """
        The segments completed by C{data}, in order (often none).
        """
        out = []
        if type(data) is bytes and len(data) <= self._size - self._count:
            # The usual case, a chunk within the segment: held as it is
            # (bytes cannot change), copied once, when the segment is joined.
            self._held.append(data)
            self._count += len(data)
            if self._count == self._size:
                out.append(b"".join(self._held))
                self._held = []
                self._count = 0
            return out
        view = memoryview(data)
        while view:
            take = min(len(view), self._size - self._count)
            self._held.append(bytes(view[:take]))
            self._count += take
            view = view[take:]
            if self._count == self._size:
                out.append(b"".join(self._held))
                self._held = []
                self._count = 0
        return out

    def finish(self) -> bytes:
        """
        The last, possibly short or empty, segment.
        """
        last = b"".join(self._held)
        self._held = []
        self._count = 0
        return last


def fragment_footers(scheme: ECScheme, etag: str, length: int, frag_index: int,
                     archive_etag: str,
                     extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """
    The metadata footer of one fragment archive PUT: the object's own etag
    and length (as sysmeta, and as the container listing's values), the
    fragment index and scheme, and the archive's own etag, which the object
    server checks the bytes it received against.

    @param extra: footers a plugin set; those naming EC sysmeta are
        dropped, and none can replace the archive's etag.
    """
    footers: dict[str, str] = {
        "X-Object-Sysmeta-Ec-Etag": etag,
        "X-Object-Sysmeta-Ec-Content-Length": str(length),
        "X-Backend-Container-Update-Override-Etag": etag,
        "X-Backend-Container-Update-Override-Size": str(length),
        "X-Object-Sysmeta-Ec-Frag-Index": str(frag_index),
        "X-Object-Sysmeta-Ec-Scheme": scheme.description,
        "X-Object-Sysmeta-Ec-Segment-Size": str(scheme.segment_size),
    }
    for name, value in (extra or {}).items():
        if name.lower().startswith("x-object-sysmeta-ec-"):
            continue
        footers[name.title()] = value
    # Whatever a plugin said, the archive's etag is that of the bytes sent.
    footers["Etag"] = archive_etag
    return footers
