"""
Tests for L{twisted_proxy.swift.etags}.
"""

from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.etags import normalize_etag


class NormalizeEtagTests(SynchronousTestCase):
    def test_quoted(self) -> None:
        self.assertEqual(normalize_etag('"abc"'), "abc")

    def test_bare(self) -> None:
        for tag in ("abc", '"', '"abc', "", None):
            self.assertEqual(normalize_etag(tag), tag)
