"""
Tests for L{twisted_proxy.swift.etags}.
"""

from hypothesis import given
from hypothesis import strategies as st
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

    @given(st.one_of(st.none(), st.text(alphabet='"ab', max_size=5)))
    def test_agreesWithSwift(self, tag: object) -> None:
        from swift.common.swob import normalize_etag as swift_normalize_etag

        self.assertEqual(normalize_etag(tag), swift_normalize_etag(tag))  # type: ignore[arg-type]
