"""
Tests for L{twisted_proxy.swift.transid}.
"""

import re
import uuid
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.transid import (
    _uuid4_hex,
    ensure_trans_id,
    make_trans_id,
    trans_id_suffix,
)


class MakeTransIdTests(SynchronousTestCase):
    def test_form(self) -> None:
        trans_id = make_trans_id(1700000000.5)
        self.assertRegex(trans_id, r"^tx[0-9a-f]{21}-006553f100$")
        self.assertNotEqual(trans_id, make_trans_id(1700000000.5))
        self.assertTrue(re.fullmatch(r"tx[0-9a-f]{21}-[0-9a-f]{10}", trans_id))

    def test_uuid4Digits(self) -> None:
        """
        The 21 digits are the start of a version 4 (random) UUID, as in
        Swift's C{uuid4().hex[:21]}: the version digit C{4} at the 13th,
        an RFC 4122 variant digit (C{8}-C{b}) at the 17th.
        """
        for _ in range(200):
            digits = make_trans_id(0)[2:23]
            self.assertEqual(digits[12], "4")
            self.assertIn(digits[16], "89ab")
            whole = _uuid4_hex()
            self.assertEqual(uuid.UUID(hex=whole).version, 4)
            self.assertEqual(uuid.UUID(hex=whole).variant, uuid.RFC_4122)
            self.assertEqual(uuid.UUID(hex=whole).hex, whole)


class EnsureTransIdTests(SynchronousTestCase):
    def test_minted(self) -> None:
        """
        A request without an id gets one made at the time given, kept in
        its environ.
        """
        environ: dict[str, Any] = {}
        trans_id = ensure_trans_id(environ, 1700000000)
        self.assertRegex(trans_id, r"^tx[0-9a-f]{21}-006553f100$")
        self.assertEqual(environ, {"swift.trans_id": trans_id})

    def test_kept(self) -> None:
        """
        A request that has an id keeps it.
        """
        environ: dict[str, Any] = {"swift.trans_id": "txgiven"}
        self.assertEqual(ensure_trans_id(environ, 1700000000), "txgiven")
        self.assertEqual(environ, {"swift.trans_id": "txgiven"})


class SuffixTests(SynchronousTestCase):
    """
    Swift's C{trans_id_suffix} and the client's C{X-Trans-Id-Extra}.
    """

    def test_suffix(self) -> None:
        """
        The suffix follows the time, percent-quoted with C{/} kept.
        """
        self.assertRegex(make_trans_id(1700000000, "-a b/c"),
                         r"^tx[0-9a-f]{21}-006553f100-a%20b/c$")

    def test_extra(self) -> None:
        """
        The client's extra adds C{-} and its first 32 characters after the
        configured suffix; none leaves the suffix alone.
        """
        self.assertEqual(trans_id_suffix("-p1", None), "-p1")
        self.assertEqual(trans_id_suffix("-p1", ""), "-p1")
        self.assertEqual(trans_id_suffix("", "x" * 40), "-" + "x" * 32)
        self.assertEqual(trans_id_suffix("-p1", "job"), "-p1-job")

    def test_ensureWithSuffix(self) -> None:
        environ: dict[str, Any] = {}
        self.assertTrue(ensure_trans_id(environ, 1700000000, "-p1").endswith("-006553f100-p1"))
