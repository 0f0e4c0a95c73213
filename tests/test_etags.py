"""
Tests for L{twisted_proxy.swift.etags}; that it agrees with Swift is checked
in L{tests.e2e.test_swiftagrees}.
"""

from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.etags import normalize_etag


class NormalizeEtagTests(SynchronousTestCase):
    def test_quoted(self) -> None:
        self.assertEqual(normalize_etag('"abc"'), "abc")
        self.assertEqual(normalize_etag('""'), "")
        self.assertEqual(normalize_etag('"a"b"'), 'a"b')

    def test_bare(self) -> None:
        for tag in ("abc", '"', '"abc', 'abc"', "", None):
            self.assertEqual(normalize_etag(tag), tag)
