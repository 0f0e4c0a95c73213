# -*- test-case-name: tests.test_http -*-
"""
The proxy's own view of an HTTP exchange: L{SwiftRequest} and L{SwiftResponse}.

Plugins and controllers work with these rather than with
L{twisted.web.server.Request}, so that a plugin can rewrite a request on the
way in and wrap a response on the way out without touching the transport.
Header names are case-insensitive; header values are C{str} holding the
wire bytes decoded as latin-1, as WSGI does, so that UTF-8 metadata passes
through unchanged.
"""

from __future__ import annotations

from functools import lru_cache
from typing import (
    Any,
    Callable,
    ItemsView,
    Iterable,
    Iterator,
    Match,
    MutableMapping,
    Optional,
    Pattern,
    Sequence,
    TypeVar,
    Union,
    ValuesView,
    overload,
)
from urllib.parse import quote, unquote_to_bytes

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IConsumer
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

__all__ = [
    "HeaderDict",
    "rewrite_locations",
    "SwiftRequest",
    "SwiftResponse",
    "Body",
    "BytesBody",
    "status_reason",
    "error_response",
    "HTML",
    "PLAIN",
    "wsgi_str",
    "wsgi_to_bytes",
    "wsgi_to_str",
    "str_to_wsgi",
    "wire_quote",
    "ClientGone",
]

Body = Union[bytes, IBodyProducer]

_REASONS = {
    100: "Continue",
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    206: "Partial Content",
    301: "Moved Permanently",
    302: "Found",
    304: "Not Modified",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    408: "Request Timeout",
    409: "Conflict",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Request Entity Too Large",
    414: "Request URI Too Long",
    415: "Unsupported Media Type",
    416: "Requested Range Not Satisfiable",
    417: "Expectation Failed",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    499: "Client Disconnect",
    500: "Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    507: "Insufficient Storage",
}

_EXPLANATIONS = {
    301: "The resource has moved permanently.",
    400: "The server could not comply with the request since it is either "
    "malformed or otherwise incorrect.",
    401: "This server could not verify that you are authorized to access "
    "the document you requested.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    405: "The method is not allowed for this resource.",
    408: "The server has waited too long for the request to be sent by "
    "the client.",
    409: "There was a conflict when trying to complete your request.",
    411: "Content-Length header required.",
    412: "A precondition for this request was not met.",
    413: "The body of your request was too large for this server.",
    414: "The request URI was too long for this server.",
    415: "The request media type is not supported by this server.",
    416: "The Range requested is not available.",
    417: "Expectation failed.",
    422: "Unable to process the contained instructions",
    499: "The client has disconnected.",
    500: "An error occurred while processing your request.",
    501: "Not Implemented",
    502: "Bad gateway.",
    503: "The server is currently unavailable. Please try again at a "
    "later time.",
    504: "A timeout has occurred speaking to a backend server.",
    507: "There was not enough space to save the resource.",
}


@implementer(IBodyProducer)
class BytesBody:
    """
    A (small) body held in memory, as an L{IBodyProducer}: written whole
    when started.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.length = len(data)

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        if self._data:
            consumer.write(self._data)
        return succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


def rewrite_locations(headers: HeaderDict, pattern: Pattern[str],
                      rewrite: Callable[[Match[str]], str]) -> None:
    """
    Give the C{Location} and C{Content-Location} of a response that
    C{pattern} matches whole the value C{rewrite} makes of the match, as a
    plugin that rewrote the request's host or path gives the client back
    what it asked for.
    """
    for name in ("Location", "Content-Location"):
        value = headers.get(name)
        match = pattern.fullmatch(value) if value is not None else None
        if match is not None:
            headers[name] = rewrite(match)


def status_reason(status: int) -> str:
    """
    The reason phrase Swift sends with C{status}.
    """
    return _REASONS.get(status, "Unknown")


def wsgi_str(raw: bytes) -> str:
    """
    Decode wire bytes the way WSGI does: latin-1, one character per byte.
    """
    return raw.decode("latin-1")


def wsgi_to_bytes(wsgi: str) -> bytes:
    """
    The bytes a WSGI string stands for (the inverse of L{wsgi_str}).

    @raise UnicodeEncodeError: for a string with a character above
        U+00FF, which is no WSGI string.
    """
    return wsgi.encode("latin-1")


def wsgi_to_str(wsgi: str) -> str:
    """
    The text a WSGI string's bytes spell in UTF-8 (Swift's C{wsgi_to_str});
    bytes that are not UTF-8 become lone surrogates (C{surrogateescape}),
    so that L{str_to_wsgi} gives them back.
    """
    return wsgi.encode("latin-1").decode("utf-8", "surrogateescape")


def str_to_wsgi(text: str) -> str:
    """
    The WSGI string of C{text}'s UTF-8 bytes (Swift's C{str_to_wsgi}), lone
    surrogates from L{wsgi_to_str} becoming the bytes they stand for.
    """
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def wire_quote(name: str) -> str:
    """
    Percent-quote a WSGI-string path (latin-1 characters standing for
    UTF-8 bytes) for use in a backend request line.
    """
    return quote(name.encode("latin-1"), safe="/")


_T = TypeVar("_T")

#: What L{HeaderDict.pop} was not given.
_MISSING: Any = object()


@lru_cache(maxsize=1024)
def _title(name: str) -> str:
    """
    A header name title-cased as Swift sends it (C{X-Object-Meta-Color}).
    """
    return "-".join(part.capitalize() for part in name.split("-"))


#: Header names to their lower case, the key of a L{HeaderDict}'s store.
#: A name's C{lower()} is a new string each time, hashed again as a key;
#: a process meets few names (those in its code, those clients and nodes
#: send), and lowers each once here. Bounded, as a client may make names
#: up: beyond that, names are lowered each time.
_KEYS: dict[str, str] = {}
_MAX_KEYS = 4096


def _new_key(name: str) -> str:
    """
    The store key of a header name not in L{_KEYS}, remembered there.
    """
    key = name.lower()
    if len(_KEYS) < _MAX_KEYS:
        _KEYS[name] = key
    return key


class _HeaderItems(ItemsView[str, str]):
    """
    A L{HeaderDict}'s items, iterated straight from its store.
    """

    _mapping: "HeaderDict"

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._mapping._store.values())


class _HeaderValues(ValuesView[str]):
    """
    A L{HeaderDict}'s values, iterated straight from its store.
    """

    _mapping: "HeaderDict"

    def __iter__(self) -> Iterator[str]:
        return (value for _, value in self._mapping._store.values())


class HeaderDict(MutableMapping[str, str]):
    """
    A case-insensitive mapping of header names to one value each.

    Keys keep the spelling they were first set with; L{wire_items} yields
    them title-cased the way Swift sends them, unless C{verbatim} is set
    (S3 clients read C{x-amz-meta-*} names as sent, and expect C{ETag}).

    @ivar verbatim: send names as they were first set.
    """

    def __init__(
        self, initial: Optional[Iterable[tuple[str, str]] | dict[str, str]] = None
    ) -> None:
        self.verbatim = False
        self._store: dict[str, tuple[str, str]] = {}
        if initial is not None:
            pairs = initial.items() if isinstance(initial, dict) else initial
            for name, value in pairs:
                self[name] = value

    @classmethod
    def from_wire(cls, pairs: Iterable[tuple[bytes, bytes]]) -> "HeaderDict":
        """
        The headers of wire C{(name, value)} pairs, as L{wsgi_str}s; a
        name given again replaces the value before it.
        """
        headers = cls()
        store = headers._store
        for raw_name, raw_value in pairs:
            name = raw_name.decode("latin-1")
            store[_KEYS.get(name) or _new_key(name)] = (name, raw_value.decode("latin-1"))
        return headers

    @classmethod
    def from_wire_values(cls, pairs: Iterable[tuple[bytes, Sequence[bytes]]]
                         ) -> "HeaderDict":
        """
        The headers of wire C{(name, values)} pairs, as
        L{twisted.web.http_headers.Headers.getAllRawHeaders} gives them:
        L{from_wire} of each name with its last value.
        """
        headers = cls()
        store = headers._store
        for raw_name, raw_values in pairs:
            name = raw_name.decode("latin-1")
            store[_KEYS.get(name) or _new_key(name)] = (name, raw_values[-1].decode("latin-1"))
        return headers

    # Each name's key is name.lower(), as L{_KEYS} remembers it.

    def __getitem__(self, name: str) -> str:
        return self._store[_KEYS.get(name) or _new_key(name)][1]

    def __setitem__(self, name: str, value: Any) -> None:
        self._store[_KEYS.get(name) or _new_key(name)] = (name, str(value))

    def __delitem__(self, name: str) -> None:
        del self._store[_KEYS.get(name) or _new_key(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (_KEYS.get(name) or _new_key(name)) in self._store

    # The mixin methods of MutableMapping, each one lookup in the store
    # rather than several calls and a KeyError for a missing header.

    @overload
    def get(self, name: str) -> Optional[str]: ...

    @overload
    def get(self, name: str, default: Union[str, _T]) -> Union[str, _T]: ...

    def get(self, name: str, default: Any = None) -> Any:
        entry = self._store.get(_KEYS.get(name) or _new_key(name))
        return default if entry is None else entry[1]

    @overload
    def pop(self, name: str) -> str: ...

    @overload
    def pop(self, name: str, default: Union[str, _T]) -> Union[str, _T]: ...

    def pop(self, name: str, default: Any = _MISSING) -> Any:
        entry = self._store.pop(_KEYS.get(name) or _new_key(name), None)
        if entry is not None:
            return entry[1]
        if default is _MISSING:
            raise KeyError(name)
        return default

    def items(self) -> ItemsView[str, str]:
        return _HeaderItems(self)

    def values(self) -> ValuesView[str]:
        return _HeaderValues(self)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._store.values())

    def __len__(self) -> int:
        return len(self._store)

    def __repr__(self) -> str:
        return f"HeaderDict({dict(self.items())!r})"

    def copy(self) -> "HeaderDict":
        """
        A shallow copy.
        """
        new = HeaderDict()
        new._store = dict(self._store)
        new.verbatim = self.verbatim
        return new

    def wire_items(self) -> Iterator[tuple[str, str]]:
        """
        The headers with names title-cased as Swift sends them
        (C{X-Object-Meta-Color}).
        """
        if self.verbatim:
            yield from self._store.values()
            return
        for name, value in self._store.values():
            yield _title(name), value


def _parse_query(raw: bytes) -> list[tuple[str, str]]:
    pairs = []
    for piece in raw.split(b"&"):
        if not piece:
            continue
        name, sep, value = piece.partition(b"=")
        pairs.append(
            (
                wsgi_str(unquote_to_bytes(name.replace(b"+", b" "))),
                wsgi_str(unquote_to_bytes(value.replace(b"+", b" "))),
            )
        )
    return pairs


class SwiftRequest:
    """
    A client request as plugins and controllers see it.

    @ivar method: the HTTP method, as sent: methods are case-sensitive
        (RFC 9110 section 9.1), so C{delete} is no C{DELETE}.
    @ivar path: the path percent-decoded, as a WSGI string (see L{wsgi_str}).
    @ivar raw_path: the path exactly as the client sent it, without query.
    @ivar query_string: the raw query string (latin-1 decoded), no C{?}.
    @ivar params: the query parameters; the last value of each name wins.
    @ivar headers: the request headers.
    @ivar body: the request body as an L{IBodyProducer}, or C{None}.
    @ivar environ: per-request state shared by plugins and controllers,
        keyed as in Swift's WSGI environ (C{swift.authorize},
        C{REMOTE_USER}, C{swift_owner}, ...).
    @ivar client_ip: the client's address.
    """

    def __init__(
        self,
        method: str,
        raw_uri: bytes,
        headers: Optional[HeaderDict] = None,
        body: Optional[IBodyProducer] = None,
        client_ip: str = "127.0.0.1",
        environ: Optional[dict[str, Any]] = None,
    ) -> None:
        self.method = method
        raw_path, _, query = raw_uri.partition(b"?")
        self.raw_path = raw_path
        self.query_string = wsgi_str(query)
        self.path = wsgi_str(unquote_to_bytes(raw_path))
        self.query: list[tuple[str, str]] = _parse_query(query)
        # As in Swift, the last of repeated parameters wins.
        self.params: dict[str, str] = dict(self.query)
        self.headers = headers if headers is not None else HeaderDict()
        self.body = body
        self.client_ip = client_ip
        self.environ: dict[str, Any] = environ if environ is not None else {}

    @property
    def content_length(self) -> Optional[int]:
        """
        The declared Content-Length, or C{None} when absent.

        @raise ValueError: when the header is not a non-negative integer.
        """
        value = self.headers.get("Content-Length")
        if value is None:
            return None
        length = int(value)
        if length < 0:
            raise ValueError(value)
        return length

    def copy_for(self, method: Optional[str] = None, path: Optional[str] = None
                 ) -> "SwiftRequest":
        """
        A new request sharing this one's environ and client, for a
        sub-request a plugin or controller makes on the client's behalf.
        The headers are copied; the body is not shared.
        """
        new = SwiftRequest.__new__(SwiftRequest)
        new.method = method or self.method
        new.path = self.path if path is None else path
        new.raw_path = (
            self.raw_path if path is None else wire_quote(path).encode("ascii")
        )
        new.query_string = self.query_string
        new.query = list(self.query)
        new.params = dict(self.params)
        new.headers = self.headers.copy()
        new.body = None
        new.client_ip = self.client_ip
        new.environ = self.environ
        return new

    def __repr__(self) -> str:
        return f"<SwiftRequest {self.method} {self.path!r}>"


class SwiftResponse:
    """
    A response on its way back to the client.

    @ivar status: the status code.
    @ivar headers: the response headers; C{Content-Length} is set by the
        writer from C{body} when it is C{bytes}.
    @ivar body: C{bytes}, or an L{IBodyProducer} that streams the body.
    @ivar reason: the reason phrase.
    """

    def __init__(
        self,
        status: int,
        headers: Optional[HeaderDict | dict[str, str]] = None,
        body: Body = b"",
        reason: Optional[str] = None,
    ) -> None:
        self.status = status
        if isinstance(headers, HeaderDict):
            self.headers = headers
        else:
            self.headers = HeaderDict(headers or {})
        self.body: Body = body
        self.reason = reason or status_reason(status)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def __repr__(self) -> str:
        return f"<SwiftResponse {self.status}>"


HTML = "text/html; charset=UTF-8"
PLAIN = "text/plain; charset=UTF-8"


def error_response(
    status: int,
    body: Optional[str | bytes] = None,
    headers: Optional[dict[str, str]] = None,
    method: str = "GET",
    content_type: Optional[str] = None,
) -> SwiftResponse:
    """
    An error response with Swift's default HTML body for C{status}, or
    C{body} when given (plain text unless C{content_type} says otherwise,
    as Swift's constraint checks send it). A response to HEAD carries no
    body.
    """
    if body is None:
        explanation = _EXPLANATIONS.get(status, status_reason(status))
        text = f"<html><h1>{status_reason(status)}</h1><p>{explanation}</p></html>"
        payload = text.encode("utf-8")
        content_type = content_type or HTML
    else:
        payload = body.encode("utf-8") if isinstance(body, str) else body
        content_type = content_type or PLAIN
    all_headers = HeaderDict({"Content-Type": content_type})
    if headers:
        for name, value in headers.items():
            all_headers[name] = value
    if method == "HEAD":
        all_headers["Content-Length"] = str(len(payload))
        payload = b""
    return SwiftResponse(status, all_headers, payload)


class ClientGone(Exception):
    """
    The client's connection ended before its request body was complete.
    """
