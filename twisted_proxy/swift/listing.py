# -*- test-case-name: tests.test_listing -*-
"""
Account and container listings in the format the client asked for.

The proxy always asks backends for JSON (C{format=json}); this module
decides what the client wants (L{listing_format}) and renders the parsed
JSON items as JSON, XML or plain text exactly as Swift's listing filter
does, byte for byte.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse, error_response
from twisted_proxy.swift.timestamp import Timestamp

#: The request environ key under which plugins leave the rewrites a
#: container GET's JSON items get before they are rendered in the format
#: the client asked for: a tuple of callables taking and returning the
#: list of items. A plugin adds its own on the way in (a new tuple, so
#: that sub-requests' copied environs are not changed) and puts the old
#: value back on the way out. As Swift's middlewares see the JSON body in
#: turn from the application outwards, the last added runs first.
LISTING_REWRITES_ENVIRON_KEY = "twisted_proxy.listing_rewrites"

#: The attribute by which a listing rewrite (a callable of
#: L{LISTING_REWRITES_ENVIRON_KEY}) may offer a test of a container
#: server's raw JSON listing: a callable taking the body's bytes and
#: returning true only when the rewrite would leave every parsed item as it
#: is (false when unsure). When every rewrite says so, a JSON listing is
#: sent as the container server wrote it, unparsed: what parsing and
#: rendering it again would give, byte for byte (the container servers
#: write their listings with Python's default C{json.dumps}, as the proxy
#: renders them). A rewrite without the attribute always has the listing
#: parsed.
RAW_UNCHANGED_ATTRIBUTE = "leaves_raw_unchanged"


# A NUL in a name, as a JSON listing spells it. (Searching for a backslash
# first is much faster, and most listings have none.)
_JSON_NUL = b"\\u0000"


def raw_json_listing_ok(body: bytes, allow_reserved: bool) -> bool:
    """
    Whether a backend's JSON listing C{body} is, byte for byte, the JSON
    listing the proxy would render from it: a non-empty list of objects,
    all ASCII, as C{json.dumps} writes it (as account and container
    servers write their listings), and, unless C{allow_reserved}, with no
    reserved name to filter out. (Rewrites by plugins are not judged
    here; see L{RAW_UNCHANGED_ATTRIBUTE}.)
    """
    if not (body.startswith(b'[{"') and body.endswith(b"}]") and body.isascii()):
        # Empty, or not as json.dumps writes a listing.
        return False
    return allow_reserved or b"\\" not in body or _JSON_NUL not in body


def apply_listing_rewrites(environ: Mapping[str, Any], items: list[Any]) -> list[Any]:
    """
    C{items} after the rewrites of L{LISTING_REWRITES_ENVIRON_KEY} in
    C{environ}, innermost first.
    """
    for rewrite in reversed(tuple(environ.get(LISTING_REWRITES_ENVIRON_KEY, ()))):
        items = rewrite(items)
    return items

__all__ = [
    "FORMAT_CONTENT_TYPES",
    "MAX_LISTING_BODY",
    "listing_format",
    "best_accept_match",
    "listing_varies",
    "add_vary_accept",
    "parse_listing",
    "filter_reserved",
    "listing_json",
    "listing_text",
    "account_listing_xml",
    "container_listing_xml",
    "render_account_listing",
    "render_container_listing",
    "render_listing_head",
    "listing_response",
    "LISTING_REWRITES_ENVIRON_KEY",
    "RAW_UNCHANGED_ATTRIBUTE",
    "apply_listing_rewrites",
    "raw_json_listing_ok",
    "fake_account_listing_headers",
]

#: The C{format} query values and the media types they select. Any other
#: non-empty value selects plain text.
FORMAT_CONTENT_TYPES = {
    "plain": "text/plain",
    "json": "application/json",
    "xml": "application/xml",
}

#: A backend listing body longer than this (or without a Content-Length) is
#: passed to the client untouched: it is not a listing the proxy made.
MAX_LISTING_BODY = 1024 * 10000 * 2

# The media types a listing can be rendered as, in order of preference
# when the client's Accept header ranks them equally.
_OFFERS = ("text/plain", "application/json", "application/xml", "text/xml")

# RFC 2616 section 2.2 grammar for one element of an Accept header.
_TOKEN = r"[^()<>@,;:\"/\[\]?={}\x00-\x20\x7f]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_MEDIA_PARAM = rf"(?:\s*;\s*(?:{_TOKEN})\s*=\s*(?:{_TOKEN}|{_QUOTED}))"
_MEDIA_RANGE = re.compile(rf"^\s*({_TOKEN})/({_TOKEN})({_MEDIA_PARAM}*?\s*)$")

_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def _accept_ranges(header: str) -> list[tuple[str, str]]:
    """
    The media ranges of an Accept header, best first: by quality, then
    specific ranges before wildcards, then header order.

    @raise ValueError: when an element is malformed or its C{q} is not a
        number or given twice.
    """
    ranked = []
    for element in header.split(","):
        match = _MEDIA_RANGE.match(element)
        if match is None:
            raise ValueError(f"invalid Accept element {element!r}")
        major, minor, params = match.groups()
        quality = 1.0
        seen_q = False
        for param in params.split(";"):
            param = param.strip()
            if not param:
                continue
            pieces = param.split("=")
            if len(pieces) != 2:
                raise ValueError(f"invalid Accept parameter {param!r}")
            if pieces[0].strip() == "q":
                if seen_q:
                    raise ValueError("more than one q parameter")
                seen_q = True
                quality = float(pieces[1].strip())
        specific = major != "*" and minor != "*"
        ranked.append(((quality, specific), (major, minor)))
    # A stable sort keeps header order among equals, reversed or not.
    ranked.sort(key=lambda entry: entry[0], reverse=True)
    return [media for _rank, media in ranked]


def best_accept_match(accept: Optional[str], offers: Sequence[str]) -> Optional[str]:
    """
    The first of C{offers} the best-ranked media range in C{accept}
    matches, Swift's way: types compare case-sensitively, C{*} matches any
    type or subtype, and a quality of 0 still counts as acceptable.

    @return: C{offers[0]} when C{accept} is absent or empty; C{None} when
        nothing matches.
    @raise ValueError: when C{accept} is malformed.
    """
    if not accept:
        return offers[0] if offers else None
    for major, minor in _accept_ranges(accept):
        for offer in offers:
            offer_major, _, offer_minor = offer.partition("/")
            if major in ("*", offer_major) and minor in ("*", offer_minor):
                return offer
    return None


def _format_param(request: SwiftRequest) -> Optional[str]:
    # Swift reads query parameters into a dict, so the last occurrence wins.
    value = None
    for name, given in request.query:
        if name == "format":
            value = given
    return value


def listing_format(request: SwiftRequest) -> tuple[str, Optional[SwiftResponse]]:
    """
    The media type to render an account or container GET/HEAD as.

    A non-empty C{format} query parameter decides (C{json}, C{xml},
    C{plain}, any case; anything else means plain); otherwise the Accept
    header does, among C{text/plain}, C{application/json},
    C{application/xml} and C{text/xml}; with neither, C{text/plain}.

    @return: C{(media_type, None)}, or C{("", error)} where the error is
        400 C{"format" parameter not valid UTF-8}, 400 C{Invalid Accept
        header}, or 406 when no offered type is acceptable.
    """
    wanted = _format_param(request)
    if wanted:
        try:
            decoded = wanted.encode("latin-1").decode("utf-8")
        except UnicodeError:
            return "", error_response(
                400, '"format" parameter not valid UTF-8', method=request.method
            )
        # One of the offers, which is what matching it would choose.
        return FORMAT_CONTENT_TYPES.get(decoded.lower(), FORMAT_CONTENT_TYPES["plain"]), None
    accept = request.headers.get("Accept")
    try:
        chosen = best_accept_match(accept, _OFFERS)
    except ValueError:
        return "", error_response(400, "Invalid Accept header", method=request.method)
    if chosen is None:
        return "", error_response(406, method=request.method)
    return chosen, None


def listing_varies(request: SwiftRequest) -> bool:
    """
    Whether a listing response depends on the Accept header, and so must
    say C{Vary: Accept}: true unless the query has a C{format} parameter
    (even an empty one).
    """
    return all(name != "format" for name, _value in request.query)


def add_vary_accept(headers: HeaderDict) -> None:
    """
    Add C{Accept} to the response's Vary header unless already listed.
    Swift does this for every 200 or 204 account/container GET or HEAD for
    which L{listing_varies} is true, rendered or passed through.
    """
    current = headers.get("Vary")
    if current is None:
        headers["Vary"] = "Accept"
        return
    listed = [item.strip() for item in current.lower().split(",") if item.strip()]
    if "accept" not in listed:
        headers["Vary"] = current + ", Accept"


def parse_listing(body: bytes) -> Optional[list[dict[str, Any]]]:
    """
    Parse a backend's JSON listing.

    @return: the items, or C{None} when C{body} is not a JSON list of
        objects (the proxy then passes the body through unchanged).
    """
    try:
        items = json.loads(body)
    except ValueError:
        return None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return None
    return items


def filter_reserved(items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """
    Drop entries whose C{name} or C{subdir} contains Swift's reserved NUL
    character; clients see them only with
    C{X-Backend-Allow-Reserved-Names}.
    """
    return [
        item
        for item in items
        if "\x00" not in item.get("name", "") and "\x00" not in item.get("subdir", "")
    ]


def listing_json(items: Sequence[Mapping[str, Any]]) -> bytes:
    """
    The JSON body: Python's default C{json.dumps} (C{", "} and C{": "}
    separators, non-ASCII as C{\\uXXXX} escapes).
    """
    return json.dumps(items).encode("ascii")


def listing_text(items: Iterable[Mapping[str, Any]]) -> bytes:
    """
    The plain-text body: each entry's C{name} (or, lacking one, its
    C{subdir}) on its own line, UTF-8; empty for no entries.

    @raise KeyError: for an entry with neither.
    """
    return b"".join(
        (item["name"] if "name" in item else item["subdir"]).encode("utf-8") + b"\n"
        for item in items
    )


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(value: str) -> str:
    return (
        _text(value)
        .replace('"', "&quot;")
        .replace("\r", "&#13;")
        .replace("\n", "&#10;")
        .replace("\t", "&#09;")
    )


def _element(tag: str, text: str) -> str:
    # ElementTree, which Swift serialises with, writes an element without
    # text or children in its short form.
    if text:
        return f"<{tag}>{_text(text)}</{tag}>"
    return f"<{tag} />"


def _xml_document(parts: list[str]) -> bytes:
    return _XML_DECLARATION + "".join(parts).encode("utf-8", "xmlcharrefreplace")


def account_listing_xml(items: Sequence[Mapping[str, Any]], account_name: str) -> bytes:
    """
    An account listing as Swift's XML: one C{<container>} per container
    (name, count, bytes, last_modified, then storage_policy when known)
    and an empty C{<subdir name=...>} per delimiter prefix, each on its
    own line.

    @param account_name: the account name as text.
    @raise KeyError: when a container entry lacks a required field.
    """
    parts = [f'<account name="{_attribute(account_name)}">\n']
    for item in items:
        if "subdir" in item:
            parts.append(f'<subdir name="{_attribute(str(item["subdir"]))}" />\n')
            continue
        fields = ["name", "count", "bytes", "last_modified"]
        if "storage_policy" in item:
            fields.append("storage_policy")
        inner = "".join(_element(field, str(item[field])) for field in fields)
        parts.append(f"<container>{inner}</container>\n")
    parts.append("</account>")
    return _xml_document(parts)


def container_listing_xml(
    items: Sequence[Mapping[str, Any]], container_name: str
) -> bytes:
    """
    A container listing as Swift's XML, all on one line: one C{<object>}
    per object (name, hash, bytes, content_type, last_modified; other
    fields are left out) and a C{<subdir name=...><name>...</name>} per
    delimiter prefix.

    @param container_name: the container name as text.
    @raise KeyError: when an object entry lacks a required field.
    """
    opening = f'<container name="{_attribute(container_name)}"'
    parts = []
    for item in items:
        if "subdir" in item:
            prefix = str(item["subdir"])
            parts.append(
                f'<subdir name="{_attribute(prefix)}">{_element("name", prefix)}'
                "</subdir>"
            )
            continue
        inner = "".join(
            _element(field, str(item[field]))
            for field in ("name", "hash", "bytes", "content_type", "last_modified")
        )
        parts.append(f"<object>{inner}</object>")
    if not parts:
        return _xml_document([opening, " />"])
    return _xml_document([opening, ">", *parts, "</container>"])


def _display_name(name: str) -> str:
    # A WSGI string of UTF-8 bytes becomes the text it encodes; anything
    # else is taken as text already.
    try:
        return name.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return name


def _render(
    body_for: Any,
    items: Sequence[Mapping[str, Any]],
    media_type: str,
    response_headers: Union[HeaderDict, Mapping[str, str]],
    status: int,
    allow_reserved: bool,
) -> SwiftResponse:
    media_type = FORMAT_CONTENT_TYPES.get(media_type, media_type)
    if not allow_reserved:
        items = filter_reserved(items)
    headers = HeaderDict(list(response_headers.items()))
    try:
        if media_type.endswith("/xml"):
            body = body_for(items)
        elif media_type == "text/plain":
            body = listing_text(items)
        else:
            body = listing_json(items)
    except KeyError:
        # Not a listing Swift made (a middleware's?): send it as JSON,
        # as it came.
        media_type = "application/json"
        body = listing_json(items)
    return listing_response(body, media_type, headers, status)


def listing_response(body: bytes, media_type: str, headers: HeaderDict,
                     status: int = 200) -> SwiftResponse:
    """
    The response sending the listing C{body} in C{media_type}: C{headers}
    (which it takes and changes) with that Content-Type and the body's
    Content-Length; 204 instead of C{status} when the body is empty.
    """
    if not body:
        status = 204
    headers["Content-Type"] = media_type + "; charset=utf-8"
    headers["Content-Length"] = str(len(body))
    return SwiftResponse(status, headers, body)


def render_account_listing(
    items: Sequence[Mapping[str, Any]],
    fmt: str,
    account_name: str,
    response_headers: Union[HeaderDict, Mapping[str, str]],
    status: int = 200,
    allow_reserved: bool = False,
) -> SwiftResponse:
    """
    The response to an account GET, from the backend's parsed JSON.

    @param fmt: the media type from L{listing_format} (C{json}, C{xml} and
        C{plain} are accepted too).
    @param account_name: the account as split from C{request.path} (a
        WSGI string; already-decoded text is accepted too).
    @param response_headers: the backend response's headers, copied into
        the result; Content-Type and Content-Length are replaced.
    @param status: the backend's status (200).
    @param allow_reserved: keep entries with reserved names.
    @return: the rendered response, 204 with an empty body when the
        rendering is empty (a plain-text listing of nothing).
    """
    return _render(
        lambda entries: account_listing_xml(entries, _display_name(account_name)),
        items,
        fmt,
        response_headers,
        status,
        allow_reserved,
    )


def render_container_listing(
    items: Sequence[Mapping[str, Any]],
    fmt: str,
    container_name: str,
    response_headers: Union[HeaderDict, Mapping[str, str]],
    status: int = 200,
    allow_reserved: bool = False,
) -> SwiftResponse:
    """
    The response to a container GET; as L{render_account_listing}.

    @param container_name: the container, as for C{account_name}.
    """
    return _render(
        lambda entries: container_listing_xml(entries, _display_name(container_name)),
        items,
        fmt,
        response_headers,
        status,
        allow_reserved,
    )


def render_listing_head(
    fmt: str, status: int, response_headers: Union[HeaderDict, Mapping[str, str]]
) -> SwiftResponse:
    """
    The response to an account or container HEAD: the backend's status and
    headers, with the Content-Type the GET would have and a zero
    Content-Length.
    """
    media_type = FORMAT_CONTENT_TYPES.get(fmt, fmt)
    headers = HeaderDict(list(response_headers.items()))
    headers["Content-Type"] = media_type + "; charset=utf-8"
    headers["Content-Length"] = "0"
    return SwiftResponse(status, headers, b"")


def fake_account_listing_headers(now: float) -> HeaderDict:
    """
    The headers of the listing Swift invents for an account that does not
    exist yet but would be auto-created: empty counts, both timestamps
    C{now}, and C{X-Backend-Fake-Account-Listing: yes}. Render it with
    L{render_account_listing} of no items.
    """
    stamp = Timestamp(now).normal
    return HeaderDict(
        [
            ("X-Account-Container-Count", "0"),
            ("X-Account-Object-Count", "0"),
            ("X-Account-Bytes-Used", "0"),
            ("X-Timestamp", stamp),
            ("X-PUT-Timestamp", stamp),
            ("X-Backend-Fake-Account-Listing", "yes"),
        ]
    )
