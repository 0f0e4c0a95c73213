"""
The Swift primitives of L{twisted_proxy.swift} agree with Swift's own:
L{twisted_proxy.swift.http}'s WSGI strings, L{twisted_proxy.swift.etags}
and L{twisted_proxy.swift.truthy}. Swift is imported here, which runs
C{ldconfig}: so these are not unit tests (their unit tests are
L{tests.test_http}, L{tests.test_etags} and L{tests.test_truthy}).
"""

from __future__ import annotations

from typing import Optional

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.etags import normalize_etag
from twisted_proxy.swift.http import str_to_wsgi, wsgi_str, wsgi_to_str
from twisted_proxy.swift.truthy import FALSE_VALUES, TRUE_VALUES, is_true


class WSGIStringTests(SynchronousTestCase):
    @given(st.binary())
    def test_agreesWithSwift(self, raw: bytes) -> None:
        from swift.common.swob import str_to_wsgi as swift_str_to_wsgi
        from swift.common.swob import wsgi_to_str as swift_wsgi_to_str

        wsgi = wsgi_str(raw)
        self.assertEqual(wsgi_to_str(wsgi), swift_wsgi_to_str(wsgi))
        text = wsgi_to_str(wsgi)
        self.assertEqual(str_to_wsgi(text), swift_str_to_wsgi(text))


class NormalizeEtagTests(SynchronousTestCase):
    @given(st.one_of(st.none(), st.text(alphabet='"ab', max_size=5)))
    def test_agreesWithSwift(self, tag: Optional[str]) -> None:
        from swift.common.swob import normalize_etag as swift_normalize_etag

        self.assertEqual(normalize_etag(tag), swift_normalize_etag(tag))


class TruthyTests(SynchronousTestCase):
    def test_agreesWithSwift(self) -> None:
        """
        L{is_true} is Swift's C{config_true_value} for every word either
        side knows, in several cases and with spaces.
        """
        from swift.common.utils import config_true_value

        value: object
        words = set(TRUE_VALUES | FALSE_VALUES) | {"", "2", "maybe", "auto"}
        for word in words:
            for value in (word, word.upper(), word.title(), f" {word}", f"{word} "):
                self.assertEqual(is_true(value), config_true_value(value), repr(value))
        for value in (None, True, False, 1, 0):
            self.assertEqual(is_true(value), config_true_value(value), repr(value))
