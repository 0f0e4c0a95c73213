"""
Tests for L{twisted_proxy.swift.digest}: the digests and signatures of temp
URLs and form posts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.digest import allowed_digests, hmac_hex, parse_signature


class AllowedDigestsTests(SynchronousTestCase):
    def test_default(self) -> None:
        self.assertEqual(allowed_digests([]), (["sha1", "sha256", "sha512"], ["sha1"]))

    def test_configured(self) -> None:
        """
        Names are case-insensitive; unsupported ones are dropped.
        """
        self.assertEqual(allowed_digests(["SHA256", "md5", "sha1"]),
                         (["sha1", "sha256"], ["sha1"]))
        self.assertEqual(allowed_digests(["sha512"]), (["sha512"], []))

    def test_none_supported(self) -> None:
        self.assertRaises(ValueError, allowed_digests, ["md5", "crc32"])


class ParseSignatureTests(SynchronousTestCase):
    def test_hex(self) -> None:
        for digest in ("sha1", "sha256", "sha512"):
            value = hashlib.new(digest, b"x").hexdigest()
            self.assertEqual(parse_signature(value), (digest, value))

    def test_base64(self) -> None:
        raw = hashlib.sha512(b"x").digest()
        for encoded in (base64.b64encode(raw).decode(),
                        base64.urlsafe_b64encode(raw).decode().rstrip("=")):
            self.assertEqual(parse_signature("sha512:" + encoded), ("sha512", raw.hex()))

    def test_invalid(self) -> None:
        for value in ("", "abc", "zz" * 20, "sha256:*!", "sha256:a-b+c", "\u00e9" * 40):
            self.assertRaises(ValueError, parse_signature, value)


class HmacTests(SynchronousTestCase):
    def test_key_bytes(self) -> None:
        """
        The key is a WSGI string: its bytes are the owner's.
        """
        key = "cl\u00e9".encode("utf-8")
        self.assertEqual(hmac_hex(key.decode("latin-1"), b"msg", "sha256"),
                         hmac.new(key, b"msg", "sha256").hexdigest())
