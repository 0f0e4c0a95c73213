"""
Tests for L{twisted_proxy.swift.ec.scheme}: the erasure coding scheme of a
policy, its size arithmetic, segmenting and the fragment footers.
"""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from tests.doubles import without_pyeclib
from twisted_proxy.swift.ec.scheme import (
    ECScheme,
    ECSchemeError,
    Segmenter,
    check_ec_policies,
    fragment_footers,
    write_legacy_crc,
)
from twisted_proxy.swift.swiftconf import (
    ERASURE_CODING,
    REPLICATION,
    StoragePolicy,
    SwiftConf,
)


def _policy(**options: str) -> StoragePolicy:
    values = {
        "ec_type": "liberasurecode_rs_vand",
        "ec_num_data_fragments": "4",
        "ec_num_parity_fragments": "2",
    }
    values.update(options)
    return StoragePolicy(1, "ec", ("ec",), False, False, ERASURE_CODING, "object-1", values)


class LegacyCRCTests(SynchronousTestCase):
    """
    L{write_legacy_crc} sets liberasurecode's variable as Swift's proxy
    does, or leaves it.
    """

    def test_values(self) -> None:
        for legacy, value in ((True, "1"), (False, "0")):
            environ = {"LIBERASURECODE_WRITE_LEGACY_CRC": "x", "OTHER": "y"}
            write_legacy_crc(legacy, environ)
            self.assertEqual(environ, {"LIBERASURECODE_WRITE_LEGACY_CRC": value,
                                       "OTHER": "y"})

    def test_unset(self) -> None:
        """
        Unset (C{None}), the environment is left as it is, variable or
        none.
        """
        for environ in ({}, {"LIBERASURECODE_WRITE_LEGACY_CRC": "1"}):
            before = dict(environ)
            write_legacy_crc(None, environ)
            self.assertEqual(environ, before)


class SchemeTests(SynchronousTestCase):
    def test_fromPolicy(self) -> None:
        """
        A policy's C{ec_*} options make the scheme; the segment size and
        duplication default as in Swift.
        """
        scheme = ECScheme.from_policy(_policy())
        self.assertEqual(
            (scheme.ec_type, scheme.ndata, scheme.nparity, scheme.segment_size,
             scheme.duplication, scheme.unique_fragments, scheme.replicas),
            ("liberasurecode_rs_vand", 4, 2, 1048576, 1, 6, 6))
        self.assertEqual(scheme.description, "liberasurecode_rs_vand 4+2")
        scheme = ECScheme.from_policy(_policy(ec_object_segment_size="4096",
                                              ec_duplication_factor="2"))
        self.assertEqual((scheme.segment_size, scheme.replicas), (4096, 12))

    def test_quorum(self) -> None:
        """
        The write quorum is C{k} plus the parity Reed-Solomon needs (one),
        times the duplication factor: Swift's C{policy.quorum}.
        """
        self.assertEqual(ECScheme.from_policy(_policy()).quorum, 5)
        self.assertEqual(
            ECScheme.from_policy(_policy(ec_duplication_factor="2")).quorum, 10)

    def test_isal(self) -> None:
        """
        C{isa_l_rs_vand} is supported (PyECLib's wheel bundles ISA-L).
        """
        scheme = ECScheme.from_policy(_policy(ec_type="isa_l_rs_vand"))
        data = os.urandom(5000)
        fragments = scheme.encode(data)
        self.assertEqual(scheme.decode(fragments[2:]), data)

    def test_badType(self) -> None:
        """
        An C{ec_type} PyECLib does not know is refused when the scheme is
        made, not on the first request.
        """
        self.assertRaises(ECSchemeError, ECScheme.from_policy, _policy(ec_type="nope"))
        replicated = StoragePolicy(0, "r", ("r",), True, False, REPLICATION, "object")
        self.assertRaises(ECSchemeError, ECScheme.from_policy, replicated)

    def test_noPyECLib(self) -> None:
        """
        Without PyECLib (PyPy without the C{ec} extra) the scheme is refused
        with one line saying so and how to install it.
        """
        without_pyeclib(self)
        error = self.assertRaises(ECSchemeError, ECScheme.from_policy, _policy())
        self.assertIn("PyECLib is not installed", str(error))
        self.assertIn("twisted-proxy[ec]", str(error))
        self.assertNotIn("\n", str(error))

    def test_checkPolicies(self) -> None:
        """
        L{check_ec_policies} makes every erasure-coded policy's scheme and
        names the first it cannot make by its section; replicated policies
        need nothing.
        """
        replicated = StoragePolicy(0, "r", ("r",), True, False, REPLICATION, "object")
        good = SwiftConf(b"p", b"", (replicated, _policy()), {})
        check_ec_policies(good, "/etc/swift/swift.conf")
        bad = SwiftConf(b"p", b"", (replicated, _policy(ec_type="nope")), {})
        error = self.assertRaises(ECSchemeError, check_ec_policies, bad,
                                  "/etc/swift/swift.conf")
        self.assertTrue(str(error).startswith(
            "/etc/swift/swift.conf: [storage-policy:1] (ec): ec_type nope"), str(error))

    def test_backendIndex(self) -> None:
        scheme = ECScheme("liberasurecode_rs_vand", 4, 2, duplication=2)
        self.assertEqual([scheme.backend_index(i) for i in range(12)],
                         [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5])

    @given(st.integers(0, 5000))
    def test_archiveLength(self, length: int) -> None:
        """
        L{ECScheme.archive_length} is the length of each archive made by
        encoding the object a segment at a time; any four fragments of a
        segment decode it.
        """
        scheme = ECScheme("liberasurecode_rs_vand", 4, 2, segment_size=1000)
        data = bytes(range(256)) * (length // 256 + 1)
        data = data[:length]
        archives = [b""] * 6
        for start in range(0, length, 1000):
            segment = data[start:start + 1000]
            fragments = scheme.encode(segment)
            self.assertEqual({len(f) for f in fragments},
                             {scheme.fragment_size_for(len(segment))})
            self.assertEqual(scheme.decode([fragments[i] for i in (5, 0, 3, 4)]), segment)
            archives = [a + f for a, f in zip(archives, fragments)]
        self.assertEqual({len(a) for a in archives}, {scheme.archive_length(length)})
        self.assertEqual(scheme.segments(length), -(-length // 1000))

    def test_fragmentSize(self) -> None:
        """
        The fragment size of a whole segment is what Swift's policy says.
        """
        scheme = ECScheme("liberasurecode_rs_vand", 4, 2)
        self.assertEqual(scheme.fragment_size, 262224)
        self.assertEqual(scheme.fragment_size_for(0), 0)
        self.assertEqual(scheme.encode(b""), [b""] * 6)

    def test_undecodable(self) -> None:
        scheme = ECScheme("liberasurecode_rs_vand", 4, 2, segment_size=1000)
        fragments = scheme.encode(b"x" * 1000)
        self.assertRaises(ECSchemeError, scheme.decode, fragments[:3])


class SegmenterTests(SynchronousTestCase):
    @given(st.lists(st.binary(max_size=40), max_size=20), st.integers(1, 30))
    def test_segments(self, chunks: list[bytes], size: int) -> None:
        """
        Whatever the chunking, the segments are the stream cut every
        C{size} bytes, the last one the rest; no more than a segment is
        held.
        """
        segmenter = Segmenter(size)
        out = []
        for data in chunks:
            out.extend(segmenter.feed(data))
            self.assertLess(segmenter.held, size)
        last = segmenter.finish()
        stream = b"".join(chunks)
        whole = len(stream) // size
        self.assertEqual(out, [stream[i * size:(i + 1) * size] for i in range(whole)])
        self.assertEqual(last, stream[whole * size:])


class FooterTests(SynchronousTestCase):
    def test_footers(self) -> None:
        """
        The footers carry the object's etag and length as EC sysmeta and
        container overrides, the fragment index, the scheme, the segment
        size, and the archive's own etag, with Swift's spelling.
        """
        scheme = ECScheme("liberasurecode_rs_vand", 4, 2)
        footers = fragment_footers(scheme, "abc", 1234, 3, "def")
        self.assertEqual(footers, {
            "X-Object-Sysmeta-Ec-Etag": "abc",
            "X-Object-Sysmeta-Ec-Content-Length": "1234",
            "X-Backend-Container-Update-Override-Etag": "abc",
            "X-Backend-Container-Update-Override-Size": "1234",
            "X-Object-Sysmeta-Ec-Frag-Index": "3",
            "X-Object-Sysmeta-Ec-Scheme": "liberasurecode_rs_vand 4+2",
            "X-Object-Sysmeta-Ec-Segment-Size": "1048576",
            "Etag": "def",
        })

    def test_extraFooters(self) -> None:
        """
        A plugin's footers are added, except EC sysmeta and the etag.
        """
        scheme = ECScheme("liberasurecode_rs_vand", 4, 2)
        footers = fragment_footers(scheme, "abc", 1, 0, "def", {
            "x-object-sysmeta-ec-etag": "evil", "etag": "wrong",
            "x-object-sysmeta-thing": "kept"})
        self.assertEqual(footers["X-Object-Sysmeta-Ec-Etag"], "abc")
        self.assertEqual(footers["Etag"], "def")
        self.assertEqual(footers["X-Object-Sysmeta-Thing"], "kept")
