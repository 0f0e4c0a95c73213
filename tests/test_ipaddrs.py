"""
Tests for L{twisted_proxy.swift.ipaddrs}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.ipaddrs import is_valid_ip, parse_socket_string


class IsValidIPTests(SynchronousTestCase):
    def test_addresses(self) -> None:
        for text in ("127.0.0.1", "0.0.0.0", "::1", "fe80::1", "::ffff:1.2.3.4"):
            self.assertTrue(is_valid_ip(text), text)

    def test_not_addresses(self) -> None:
        for text in ("", "1.2.3", "256.1.1.1", "[::1]", "::1%eth0", "host", "1.2.3.4 ",
                     "1.2.3.4\x00"):
            self.assertFalse(is_valid_ip(text), text)


class ParseSocketStringTests(SynchronousTestCase):
    def test_forms(self) -> None:
        self.assertEqual(parse_socket_string("host", "53"), ("host", "53"))
        self.assertEqual(parse_socket_string("host:99", "53"), ("host", "99"))
        self.assertEqual(parse_socket_string("1.2.3.4:", None), ("1.2.3.4", ""))
        self.assertEqual(parse_socket_string("[::1]", None), ("::1", None))
        self.assertEqual(parse_socket_string("[::1]:5353", None), ("::1", "5353"))

    def test_invalid(self) -> None:
        for text in ("::1", "a:b:c", "[::1", "[::1]:", "[::1]:x", "[::1]53"):
            self.assertRaises(ValueError, parse_socket_string, text, None)
