"""
Tests for L{twisted_proxy.swift.http}: the request and response model, and
WSGI strings.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.http import (
    HTML,
    PLAIN,
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    rewrite_locations,
    status_reason,
    str_to_wsgi,
    wire_quote,
    wsgi_str,
    wsgi_to_bytes,
    wsgi_to_str,
)


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


class HeaderDictTests(SynchronousTestCase):
    def test_caseInsensitive(self) -> None:
        """
        Names match whatever their case; values are stored as text.
        """
        headers = HeaderDict([("x-object-meta-Color", "red")])
        headers["X-OBJECT-META-COLOR"] = "blue"
        headers["Content-Length"] = 3
        self.assertEqual(headers["X-Object-Meta-Color"], "blue")
        self.assertIn("x-object-meta-color", headers)
        self.assertNotIn(b"Content-Length", headers)
        self.assertEqual([name.lower() for name in headers],
                         ["x-object-meta-color", "content-length"])
        self.assertEqual(headers["content-length"], "3")
        del headers["CONTENT-LENGTH"]
        self.assertEqual(len(headers), 1)

    def test_getAndPop(self) -> None:
        """
        C{get} and C{pop} find a header in any case, and give the default
        (C{None} for C{get}) for a missing one; C{pop} without a default
        raises L{KeyError}.
        """
        headers = HeaderDict({"X-Thing": "1", "Empty": ""})
        self.assertEqual(headers.get("x-THING"), "1")
        self.assertEqual(headers.get("empty", "d"), "")
        self.assertIsNone(headers.get("missing"))
        self.assertEqual(headers.get("missing", "d"), "d")
        self.assertEqual(headers.pop("x-thing"), "1")
        self.assertNotIn("X-Thing", headers)
        self.assertEqual(headers.pop("x-thing", None), None)
        self.assertRaises(KeyError, headers.pop, "x-thing")
        self.assertEqual(headers.pop("EMPTY", "d"), "")

    def test_itemsAndValues(self) -> None:
        """
        C{items} and C{values} are views in the order headers were first
        set, with the names as first spelled.
        """
        headers = HeaderDict([("b-Two", "2"), ("A", "1")])
        items = headers.items()
        headers["c"] = "3"
        self.assertEqual(list(items), [("b-Two", "2"), ("A", "1"), ("c", "3")])
        self.assertEqual(list(headers.values()), ["2", "1", "3"])
        self.assertIn(("A", "1"), items)
        self.assertIn("3", headers.values())
        self.assertEqual(len(items), 3)
        self.assertEqual(dict(headers.items()), {"b-Two": "2", "A": "1", "c": "3"})

    def test_keysRemembered(self) -> None:
        """
        Header names in any case find the same header whether or not their
        lower case is remembered, also once the memo of names is full.
        """
        from twisted_proxy.swift import http

        self.patch(http, "_KEYS", {})
        self.patch(http, "_MAX_KEYS", 3)
        headers = HeaderDict()
        for round in range(2):
            headers["X-Object-Meta-Color"] = "red"
            headers["content-TYPE"] = "text/plain"
            headers["Etag"] = "e"
            headers["X-Extra"] = "x"
            headers["x-extra"] = "y"
            for name in ["x-object-meta-color", "X-OBJECT-META-COLOR", "Content-Type",
                         "ETAG", "X-EXTRA", "x-Extra"]:
                self.assertIn(name, headers)
                self.assertEqual(headers.get(name), headers[name])
            self.assertEqual(
                list(headers.items()),
                [("X-Object-Meta-Color", "red"), ("content-TYPE", "text/plain"),
                 ("Etag", "e"), ("x-extra", "y")])
            self.assertEqual(headers.pop("X-EXTRA"), "y")
            del headers["ETAG"]
            self.assertNotIn("etag", headers)
            self.assertNotIn(b"etag", headers)  # type: ignore[operator]
            self.assertLessEqual(len(http._KEYS), 3)
        self.assertEqual(http._KEYS["X-Object-Meta-Color"], "x-object-meta-color")

    def test_fromWire(self) -> None:
        """
        L{HeaderDict.from_wire} decodes names and values as latin-1; a
        name again (in any case) replaces the value before it.
        """
        headers = HeaderDict.from_wire([(b"X-Object-Meta-A", b"caf\xc3\xa9"),
                                        (b"Etag", b"1"), (b"ETAG", b"2")])
        self.assertEqual(headers["x-object-meta-a"], "caf\u00c3\u00a9")
        self.assertEqual(list(headers.items()),
                         [("X-Object-Meta-A", "caf\u00c3\u00a9"), ("ETAG", "2")])

    def test_fromWireValues(self) -> None:
        """
        L{HeaderDict.from_wire_values} is L{HeaderDict.from_wire} of each
        name with its last value.
        """
        pairs = [(b"X-Object-Meta-A", [b"caf\xc3\xa9"]), (b"Etag", [b"0", b"1"]),
                 (b"ETAG", [b"2"])]
        headers = HeaderDict.from_wire_values(pairs)
        expected = HeaderDict.from_wire((name, values[-1]) for name, values in pairs)
        self.assertEqual(list(headers.items()), list(expected.items()))
        self.assertEqual(list(headers.items()),
                         [("X-Object-Meta-A", "caf\u00c3\u00a9"), ("ETAG", "2")])

    def test_wireItems(self) -> None:
        """
        L{HeaderDict.wire_items} title-cases names as Swift sends them.
        """
        headers = HeaderDict({"x-object-meta-color": "red", "ETAG": "e"})
        self.assertEqual(
            list(headers.wire_items()), [("X-Object-Meta-Color", "red"), ("Etag", "e")]
        )

    def test_wireItemsVerbatim(self) -> None:
        """
        With C{verbatim}, names go out as they were first set (S3's
        lower-case C{x-amz-meta-*}), copies included.
        """
        headers = HeaderDict({"x-amz-meta-color": "red", "ETag": "e"})
        headers.verbatim = True
        self.assertEqual(list(headers.copy().wire_items()),
                         [("x-amz-meta-color", "red"), ("ETag", "e")])

    def test_copy(self) -> None:
        """
        A copy changes independently of its original.
        """
        headers = HeaderDict({"A": "1"})
        copy = headers.copy()
        copy["a"] = "2"
        copy["B"] = "3"
        self.assertEqual(dict(headers), {"A": "1"})
        self.assertEqual((copy["A"], copy["B"], len(copy)), ("2", "3", 2))


class SwiftRequestTests(SynchronousTestCase):
    def test_pathAndQuery(self) -> None:
        """
        The path is percent-decoded into a WSGI string; the raw path and
        query are kept; the last of repeated parameters wins; C{+} is a
        space in parameters. The method is kept as sent: methods are
        case-sensitive.
        """
        request = SwiftRequest(
            "get", b"/v1/a/c/%E2%98%83%20x?format=json&b=1+2&format=xml&flag"
        )
        self.assertEqual(request.method, "get")
        self.assertEqual(request.raw_path, b"/v1/a/c/%E2%98%83%20x")
        self.assertEqual(request.path, "/v1/a/c/\xe2\x98\x83 x")
        self.assertEqual(request.query_string, "format=json&b=1+2&format=xml&flag")
        self.assertEqual(
            request.query, [("format", "json"), ("b", "1 2"), ("format", "xml"), ("flag", "")]
        )
        self.assertEqual(request.params, {"format": "xml", "b": "1 2", "flag": ""})

    def test_contentLength(self) -> None:
        """
        C{content_length} is the header as a number, C{None} without it,
        and a C{ValueError} when it is not a non-negative integer.
        """
        request = SwiftRequest("PUT", b"/v1/a/c/o")
        self.assertIsNone(request.content_length)
        request.headers["Content-Length"] = "12"
        self.assertEqual(request.content_length, 12)
        for bad in ("-1", "twelve", ""):
            request.headers["Content-Length"] = bad
            self.assertRaises(ValueError, lambda: request.content_length)

    def test_copyFor(self) -> None:
        """
        A sub-request shares the environ and client, copies the headers,
        drops the body, and quotes a new path for the wire.
        """
        request = SwiftRequest(
            "PUT", b"/v1/a/c/o?multipart-manifest=put",
            HeaderDict({"X-Auth-Token": "t"}), client_ip="10.0.0.1",
        )
        sub = request.copy_for("GET", "/v1/a/c/\xe2\x98\x83 x")
        self.assertEqual(sub.method, "GET")
        self.assertEqual(sub.raw_path, b"/v1/a/c/%E2%98%83%20x")
        self.assertEqual(sub.params, {"multipart-manifest": "put"})
        self.assertIsNone(sub.body)
        self.assertEqual(sub.client_ip, "10.0.0.1")
        self.assertIs(sub.environ, request.environ)
        sub.headers["X-Auth-Token"] = "other"
        self.assertEqual(request.headers["X-Auth-Token"], "t")
        same = request.copy_for()
        self.assertEqual((same.method, same.path, same.raw_path),
                         (request.method, request.path, request.raw_path))


class SwiftResponseTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        """
        Headers given as a dict become a L{HeaderDict}; the reason is
        Swift's for the status.
        """
        response = SwiftResponse(201, {"etag": "x"})
        self.assertIsInstance(response.headers, HeaderDict)
        self.assertEqual(response.headers["ETag"], "x")
        self.assertEqual(response.reason, "Created")
        self.assertTrue(response.is_success)
        self.assertFalse(SwiftResponse(404).is_success)
        self.assertEqual(status_reason(599), "Unknown")

    def test_errorResponse(self) -> None:
        """
        An error response carries Swift's HTML page, or the plain text
        given; to HEAD, only its length.
        """
        page = error_response(404)
        self.assertEqual(page.headers["Content-Type"], HTML)
        self.assertEqual(
            page.body,
            b"<html><h1>Not Found</h1><p>The resource could not be found.</p></html>",
        )
        text = error_response(400, "Bad name", headers={"X-Trans-Id": "tx"})
        self.assertEqual((text.body, text.headers["Content-Type"]), (b"Bad name", PLAIN))
        self.assertEqual(text.headers["X-Trans-Id"], "tx")
        head = error_response(404, method="HEAD")
        self.assertEqual(head.body, b"")
        self.assertEqual(head.headers["Content-Length"], "70")

    def test_wireQuote(self) -> None:
        """
        A WSGI-string path is quoted as its UTF-8 bytes; C{/} is kept.
        """
        self.assertEqual(wire_quote("/a/\xe2\x98\x83 %"), "/a/%E2%98%83%20%25")


class RewriteLocationsTests(SynchronousTestCase):
    def test_wholeMatchesOnly(self) -> None:
        """
        C{Location} and C{Content-Location} that the pattern matches whole
        get the rewritten value; others, and other headers, stay.
        """
        headers = HeaderDict({"Location": "http://c.example.com/o",
                              "Content-Location": "http://other/o",
                              "Link": "http://c.example.com/o"})
        rewrite_locations(headers, re.compile(r"(https?://)c\.example\.com(/.*)?"),
                          lambda match: match.group(1) + "127.0.0.1:8080" + match.group(2))
        self.assertEqual(dict(headers.items()), {
            "Location": "http://127.0.0.1:8080/o", "Content-Location": "http://other/o",
            "Link": "http://c.example.com/o"})
