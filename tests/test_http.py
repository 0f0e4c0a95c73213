"""
Tests for L{twisted_proxy.swift.http}.
"""

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.http import str_to_wsgi, wsgi_str, wsgi_to_bytes, wsgi_to_str


class WSGIStringTests(SynchronousTestCase):
    """
    WSGI strings: one latin-1 character per wire byte.
    """

    def test_utf8(self) -> None:
        wsgi = wsgi_str("caf\u00e9 \u2603".encode("utf-8"))
        self.assertEqual(wsgi, "caf\u00c3\u00a9 \u00e2\u0098\u0083")
        self.assertEqual(wsgi_to_str(wsgi), "caf\u00e9 \u2603")
        self.assertEqual(str_to_wsgi("caf\u00e9 \u2603"), wsgi)
        self.assertEqual(wsgi_to_bytes(wsgi), "caf\u00e9 \u2603".encode("utf-8"))

    def test_notUTF8(self) -> None:
        """
        Bytes that are not UTF-8 survive the trip through text.
        """
        wsgi = wsgi_str(b"a\xff\xed\xa0\x80")
        self.assertEqual(wsgi_to_str(wsgi), "a\udcff\udced\udca0\udc80")
        self.assertEqual(str_to_wsgi(wsgi_to_str(wsgi)), wsgi)

    def test_notWSGI(self) -> None:
        self.assertRaises(UnicodeEncodeError, wsgi_to_bytes, "\u2603")
        self.assertRaises(UnicodeEncodeError, wsgi_to_str, "\u2603")

    @given(st.binary())
    def test_roundTrip(self, raw: bytes) -> None:
        wsgi = wsgi_str(raw)
        self.assertEqual(wsgi_to_bytes(wsgi), raw)
        self.assertEqual(str_to_wsgi(wsgi_to_str(wsgi)), wsgi)

    @given(st.binary())
    def test_agreesWithSwift(self, raw: bytes) -> None:
        from swift.common.swob import str_to_wsgi as swift_str_to_wsgi
        from swift.common.swob import wsgi_to_str as swift_wsgi_to_str

        wsgi = wsgi_str(raw)
        self.assertEqual(wsgi_to_str(wsgi), swift_wsgi_to_str(wsgi))
        text = wsgi_to_str(wsgi)
        self.assertEqual(str_to_wsgi(text), swift_str_to_wsgi(text))
