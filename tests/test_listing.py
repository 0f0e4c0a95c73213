"""
Tests for L{twisted_proxy.swift.listing}.

Expected bodies were produced by Swift 2.38.3's listing filter for the same
items.
"""

import json
from typing import Any, Optional

from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.http import HeaderDict, SwiftRequest
from twisted_proxy.swift.listing import (
    add_vary_accept,
    best_accept_match,
    fake_account_listing_headers,
    listing_format,
    listing_varies,
    parse_listing,
    raw_json_listing_ok,
    render_account_listing,
    render_container_listing,
    render_listing_head,
)

CONTAINERS: list[dict[str, Any]] = [
    {
        "name": "c&1",
        "count": 2,
        "bytes": 3,
        "last_modified": "2024-01-01T00:00:00.000000",
        "storage_policy": "gold",
    },
    {"subdir": "p/"},
]
OBJECTS: list[dict[str, Any]] = [
    {
        "name": "o<1>",
        "hash": "h",
        "bytes": 1,
        "content_type": "",
        "last_modified": "2024-01-01T00:00:00.000000",
        "extra": 1,
    },
    {"subdir": 'd"/'},
]


def get(query: str = "", accept: Optional[str] = None) -> SwiftRequest:
    headers = HeaderDict()
    if accept is not None:
        headers["Accept"] = accept
    uri = "/v1/a" + ("?" + query if query else "")
    return SwiftRequest("GET", uri.encode("ascii"), headers)


class FormatTests(SynchronousTestCase):
    def choose(self, query: str = "", accept: Optional[str] = None) -> str:
        chosen, error = listing_format(get(query, accept))
        self.assertIsNone(error)
        return chosen

    def test_default_plain(self) -> None:
        self.assertEqual(self.choose(), "text/plain")
        self.assertEqual(self.choose(accept=""), "text/plain")
        self.assertEqual(self.choose(accept="*/*"), "text/plain")

    def test_format_param(self) -> None:
        self.assertEqual(self.choose("format=json"), "application/json")
        self.assertEqual(self.choose("format=XML"), "application/xml")
        self.assertEqual(self.choose("format=plain"), "text/plain")
        self.assertEqual(self.choose("format=txt"), "text/plain")

    def test_format_param_beats_accept(self) -> None:
        self.assertEqual(
            self.choose("format=json", accept="application/xml"), "application/json"
        )

    def test_empty_format_uses_accept(self) -> None:
        self.assertEqual(self.choose("format=", accept="text/xml"), "text/xml")

    def test_last_format_wins(self) -> None:
        self.assertEqual(self.choose("format=xml&format=json"), "application/json")

    def test_accept(self) -> None:
        self.assertEqual(self.choose(accept="application/json"), "application/json")
        self.assertEqual(self.choose(accept="text/xml"), "text/xml")
        self.assertEqual(self.choose(accept="application/*"), "application/json")
        self.assertEqual(
            self.choose(accept="text/plain;q=0.5, application/xml"), "application/xml"
        )
        self.assertEqual(
            self.choose(accept="*/*;q=0.9, application/xml;q=0.9"), "application/xml"
        )

    def test_quality_zero_still_acceptable(self) -> None:
        self.assertEqual(self.choose(accept="application/json;q=0"), "application/json")

    def test_case_sensitive(self) -> None:
        _, error = listing_format(get(accept="Application/JSON"))
        assert error is not None
        self.assertEqual(error.status, 406)

    def test_not_acceptable(self) -> None:
        _, error = listing_format(get(accept="image/png"))
        assert error is not None
        self.assertEqual(error.status, 406)

    def test_bad_accept(self) -> None:
        for bad in ("garbage", "text/plain;q=x", "text/plain;q=1;q=1",
                    'text/plain;a="b=c"', "text/plain,"):
            _, error = listing_format(get(accept=bad))
            assert error is not None, bad
            self.assertEqual((error.status, error.body), (400, b"Invalid Accept header"))

    def test_bad_format_utf8(self) -> None:
        _, error = listing_format(get("format=%FF"))
        assert error is not None
        self.assertEqual(
            (error.status, error.body), (400, b'"format" parameter not valid UTF-8')
        )

    def test_best_match_order(self) -> None:
        offers = ["a/x", "b/y"]
        self.assertEqual(best_accept_match("b/y, a/x", offers), "b/y")
        self.assertEqual(best_accept_match("*/*, a/x;q=0.5", offers), "a/x")
        self.assertEqual(best_accept_match("b/*", offers), "b/y")
        self.assertIsNone(best_accept_match("c/z", offers))


class VaryTests(SynchronousTestCase):
    def test_varies(self) -> None:
        self.assertTrue(listing_varies(get()))
        self.assertFalse(listing_varies(get("format=")))
        self.assertFalse(listing_varies(get("format=json")))

    def test_add(self) -> None:
        headers = HeaderDict()
        add_vary_accept(headers)
        self.assertEqual(headers["Vary"], "Accept")
        headers = HeaderDict([("Vary", "Origin")])
        add_vary_accept(headers)
        self.assertEqual(headers["Vary"], "Origin, Accept")
        add_vary_accept(headers)
        self.assertEqual(headers["Vary"], "Origin, Accept")


class ParseTests(SynchronousTestCase):
    def test_parse(self) -> None:
        self.assertEqual(parse_listing(b'[{"name": "a"}]'), [{"name": "a"}])
        self.assertEqual(parse_listing(b"[]"), [])
        for bad in (b"nope", b"{}", b"[1]", b'["a"]'):
            self.assertIsNone(parse_listing(bad))


class RenderAccountTests(SynchronousTestCase):
    def test_xml(self) -> None:
        response = render_account_listing(
            CONTAINERS, "application/xml", "AUTH_t\u00e9st", {"X-Account-Object-Count": "2"}
        )
        self.assertEqual(response.status, 200)
        self.assertEqual(
            response.body,
            b'<?xml version="1.0" encoding="UTF-8"?>\n<account name="AUTH_t\xc3\xa9st">\n'
            b"<container><name>c&amp;1</name><count>2</count><bytes>3</bytes>"
            b"<last_modified>2024-01-01T00:00:00.000000</last_modified>"
            b"<storage_policy>gold</storage_policy></container>\n"
            b'<subdir name="p/" />\n</account>',
        )
        self.assertEqual(response.headers["Content-Type"], "application/xml; charset=utf-8")
        self.assertEqual(response.headers["Content-Length"], "268")
        self.assertEqual(response.headers["X-Account-Object-Count"], "2")

    def test_wsgi_name(self) -> None:
        """
        A name taken from the request path (a WSGI string) is shown as the
        text its bytes encode.
        """
        wsgi = render_account_listing([], "text/xml", "AUTH_t\xc3\xa9st", {})
        text = render_account_listing([], "text/xml", "AUTH_t\u00e9st", {})
        self.assertEqual(wsgi.body, text.body)
        self.assertIn(b'name="AUTH_t\xc3\xa9st"', wsgi.body)

    def test_xml_empty(self) -> None:
        response = render_account_listing([], "text/xml", "a", {})
        self.assertEqual(response.status, 200)
        self.assertEqual(
            response.body,
            b'<?xml version="1.0" encoding="UTF-8"?>\n<account name="a">\n</account>',
        )
        self.assertEqual(response.headers["Content-Type"], "text/xml; charset=utf-8")

    def test_json(self) -> None:
        response = render_account_listing(
            [{"name": "\u00e9", "count": 1}], "json", "a", {}
        )
        self.assertEqual(response.body, b'[{"name": "\\u00e9", "count": 1}]')
        self.assertEqual(
            response.headers["Content-Type"], "application/json; charset=utf-8"
        )

    def test_json_empty_is_200(self) -> None:
        response = render_account_listing([], "application/json", "a", {})
        self.assertEqual((response.status, response.body), (200, b"[]"))

    def test_plain(self) -> None:
        response = render_account_listing(CONTAINERS, "text/plain", "a", {})
        self.assertEqual(response.body, b"c&1\np/\n")
        self.assertEqual(response.headers["Content-Type"], "text/plain; charset=utf-8")

    def test_plain_empty_is_204(self) -> None:
        response = render_account_listing([], "text/plain", "a", {})
        self.assertEqual((response.status, response.body), (204, b""))
        self.assertEqual(response.headers["Content-Length"], "0")

    def test_reserved_names_filtered(self) -> None:
        items = [{"name": "\x00hidden"}, {"subdir": "\x00x/"}, {"name": "shown"}]
        response = render_account_listing(items, "text/plain", "a", {})
        self.assertEqual(response.body, b"shown\n")
        kept = render_account_listing(items, "text/plain", "a", {}, allow_reserved=True)
        self.assertEqual(kept.body, b"\x00hidden\n\x00x/\nshown\n")

    def test_malformed_falls_back_to_json(self) -> None:
        response = render_account_listing([{"name": "c"}], "application/xml", "a", {})
        self.assertEqual(response.body, b'[{"name": "c"}]')
        self.assertEqual(
            response.headers["Content-Type"], "application/json; charset=utf-8"
        )

    def test_fake_listing(self) -> None:
        headers = fake_account_listing_headers(1700000000.5)
        self.assertEqual(headers["X-Timestamp"], "1700000000.50000")
        self.assertEqual(headers["X-Account-Container-Count"], "0")
        self.assertEqual(headers["X-Backend-Fake-Account-Listing"], "yes")
        self.assertEqual(render_account_listing([], "text/plain", "a", headers).status, 204)


class RenderContainerTests(SynchronousTestCase):
    def test_xml(self) -> None:
        response = render_container_listing(OBJECTS, "application/xml", "c\u00e9", {})
        self.assertEqual(
            response.body,
            b'<?xml version="1.0" encoding="UTF-8"?>\n<container name="c\xc3\xa9">'
            b"<object><name>o&lt;1&gt;</name><hash>h</hash><bytes>1</bytes>"
            b"<content_type /><last_modified>2024-01-01T00:00:00.000000"
            b'</last_modified></object><subdir name="d&quot;/"><name>d"/</name>'
            b"</subdir></container>",
        )

    def test_xml_empty(self) -> None:
        response = render_container_listing([], "application/xml", "c", {})
        self.assertEqual(
            response.body, b'<?xml version="1.0" encoding="UTF-8"?>\n<container name="c" />'
        )

    def test_xml_escapes_attribute_whitespace(self) -> None:
        response = render_container_listing([{"subdir": "a\tb\nc\r"}], "text/xml", "c", {})
        self.assertIn(b'<subdir name="a&#09;b&#10;c&#13;">', response.body)

    def test_plain_utf8(self) -> None:
        response = render_container_listing(
            [{"name": "\u00e9", "hash": "h"}, {"subdir": "\U0001f600/"}], "plain", "c", {}
        )
        self.assertEqual(response.body, b"\xc3\xa9\n\xf0\x9f\x98\x80/\n")

    def test_json_keeps_extra_fields(self) -> None:
        response = render_container_listing(OBJECTS[:1], "application/json", "c", {})
        self.assertIn(b'"extra": 1', response.body)


class HeadTests(SynchronousTestCase):
    def test_head(self) -> None:
        response = render_listing_head(
            "application/xml", 204, {"X-Container-Object-Count": "3"}
        )
        self.assertEqual(response.status, 204)
        self.assertEqual(response.body, b"")
        self.assertEqual(response.headers["Content-Type"], "application/xml; charset=utf-8")
        self.assertEqual(response.headers["Content-Length"], "0")
        self.assertEqual(response.headers["X-Container-Object-Count"], "3")


class RawListingTests(SynchronousTestCase):
    """
    L{raw_json_listing_ok}: a backend's JSON listing is sent as it came
    only when rendering it would give the same bytes.
    """

    def test_asRendered(self) -> None:
        """
        A non-empty listing as C{json.dumps} writes it is; rendering gives
        it back byte for byte.
        """
        for items in (CONTAINERS, OBJECTS, [{"name": "caf\u00e9 \\ \"q\""}]):
            body = json.dumps(items).encode("ascii")
            self.assertTrue(raw_json_listing_ok(body, False), body)
            rendered = render_account_listing(json.loads(body), "application/json", "a", {})
            self.assertEqual(rendered.body, body)

    def test_notAsRendered(self) -> None:
        """
        An empty listing, one not written by C{json.dumps} (other
        separators, text that is not ASCII, no list of objects) and one
        with a reserved name, unless those are allowed, are not.
        """
        for body in (b"[]", b'[{"name":"c"}]'[:-1], json.dumps(["c"]).encode("ascii"),
                     json.dumps([{"name": "caf\u00e9"}], ensure_ascii=False).encode()):
            self.assertFalse(raw_json_listing_ok(body, False), body)
        reserved = json.dumps([{"name": "\x00v"}, {"name": "c"}]).encode("ascii")
        self.assertFalse(raw_json_listing_ok(reserved, False))
        self.assertTrue(raw_json_listing_ok(reserved, True))
