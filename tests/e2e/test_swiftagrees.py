"""
The Swift primitives of L{twisted_proxy.swift} agree with Swift's own:
L{twisted_proxy.swift.http}'s WSGI strings, L{twisted_proxy.swift.etags},
L{twisted_proxy.swift.truthy}, L{twisted_proxy.swift.multipart}'s form
data and L{twisted_proxy.swift.ipaddrs}. Swift is imported here, which runs
C{ldconfig}: so these are not unit tests (their unit tests are
L{tests.test_http}, L{tests.test_etags}, L{tests.test_truthy},
L{tests.test_multipart} and L{tests.test_ipaddrs}).
"""

from __future__ import annotations

import io
from typing import Any, Optional, Union

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from tests.test_multipart import FORM, Parts, meaningful, parse_form
from twisted_proxy.swift.etags import normalize_etag
from twisted_proxy.swift.http import str_to_wsgi, wsgi_str, wsgi_to_str
from twisted_proxy.swift.ipaddrs import is_valid_ip, parse_socket_string
from twisted_proxy.swift.multipart import parse_content_disposition
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


def _swift_parse_form(body: bytes, boundary: bytes = b"XX") -> Union[str, Parts]:
    """
    The parts of C{body} as Swift itself reads a form post's (lower-case
    header names), or C{"invalid"} when it refuses its start.
    """
    from swift.common.exceptions import MimeInvalid
    from swift.common.utils import iter_multipart_mime_documents, parse_mime_headers

    parts: Parts = []
    try:
        for document in iter_multipart_mime_documents(io.BytesIO(body), boundary, 7):
            headers: Any = parse_mime_headers(document)
            data = b""
            while True:
                chunk = document.read()
                if not chunk:
                    break
                data += chunk
            parts.append(({k.lower(): v for k, v in headers.items()}, data))
    except MimeInvalid:
        return "invalid"
    return parts


_TOKENS = [b"--XX", b"--XX--", b"\r\n", b"\r\n\r\n", b"--", b"-", b"\r", b"\n", b" ", b"X",
           b"data", b'Content-Disposition: form-data; name="a"', b"X-Y: z", b"\t q",
           b"Content-Type: \xc3\xa9t\xe9"]


class FormDataTests(SynchronousTestCase):
    def test_form_agrees_with_swift(self) -> None:
        self.assertEqual(parse_form(FORM), _swift_parse_form(FORM))

    @given(st.lists(st.sampled_from(_TOKENS), max_size=30), st.booleans(),
           st.lists(st.integers(1, 12), min_size=1, max_size=4))
    def test_agrees_with_swift(self, tokens: list[bytes], framed: bool,
                               cuts: list[int]) -> None:
        """
        Any body, well formed or not, however it arrives, is read into the
        same parts as Swift's own reader reads it, or refused alike.
        """
        body = (b"--XX\r\n" if framed else b"") + b"".join(tokens)
        self.assertEqual(meaningful(parse_form(body, cuts=cuts, read_size=4)),
                         meaningful(_swift_parse_form(body)), body)

    def test_content_disposition_agrees_with_swift(self) -> None:
        from swift.common.utils import parse_content_disposition as swift_parse

        for value in ['form-data; name="f"; filename="a;b"', "x;y", 'x; a="', 'x; a="b"c',
                      "x; a=1 ; b=2", "x; a=1; b", 'x; a=""; b=2', "x; \xe9=1", "x ;a=1",
                      'form-data; name="a"; filename="x\\"y"', "multipart/form-data"]:
            self.assertEqual(parse_content_disposition(value), swift_parse(value), value)

    @given(st.text(alphabet='ab =;"\\ ', max_size=20))
    def test_any_disposition_agrees_with_swift(self, tail: str) -> None:
        from swift.common.utils import parse_content_disposition as swift_parse

        value = "form-data;" + tail
        self.assertEqual(parse_content_disposition(value), swift_parse(value), value)


class IPAddrsTests(SynchronousTestCase):
    @given(st.text(alphabet="[]:.0123456789abcdefx% ", max_size=16))
    def test_agrees_with_swift(self, text: str) -> None:
        from swift.common.utils import is_valid_ip as swift_is_valid_ip
        from swift.common.utils import parse_socket_string as swift_parse

        self.assertEqual(is_valid_ip(text), swift_is_valid_ip(text), text)
        try:
            theirs: object = swift_parse(text, None)
        except ValueError:
            theirs = ValueError
        try:
            ours: object = parse_socket_string(text, None)
        except ValueError:
            ours = ValueError
        self.assertEqual(ours, theirs, text)
