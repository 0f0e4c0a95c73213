# -*- test-case-name: tests.test_constraints -*-
"""
The limits a Swift cluster enforces on client requests, and the checks that
apply them before any backend is asked.

Every check returns C{None} when the request is acceptable and otherwise
the L{SwiftResponse} Swift's proxy sends, status and body text alike, so a
controller can write C{error = check_x(...) or check_y(...)}.

Header names and values here are WSGI strings (see L{twisted_proxy.swift.http}):
C{len()} of a value is its length in bytes, as in Swift.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, fields
from typing import Any, Callable, Iterable, MutableMapping, Optional, Union
from urllib.parse import unquote

from twisted_proxy.swift.http import (
    HTML,
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    wsgi_to_bytes,
)
from twisted_proxy.swift.timestamp import Timestamp, normalize_delete_at_timestamp
from twisted_proxy.swift.truthy import is_true

__all__ = [
    "Constraints",
    "DEFAULT_CONSTRAINTS",
    "DEFAULT_OWNER_HEADERS",
    "check_utf8",
    "check_path_utf8",
    "check_metadata",
    "check_object_creation",
    "if_none_match_star",
    "prepare_object_post",
    "prepare_object_put",
    "check_content_type_params",
    "check_framing_headers",
    "guess_content_type",
    "update_content_type",
    "ensure_x_timestamp",
    "request_timestamp",
    "check_delete_headers",
    "check_account_format",
    "check_container_format",
    "unquote_name_header",
    "native_name",
    "name_length_limit",
    "check_name_length",
    "valid_api_version",
    "is_user_meta",
    "is_sys_meta",
    "strip_sys_meta",
    "remove_backend_and_sysmeta_headers",
    "filter_inbound_headers",
    "remove_owner_headers",
    "transform_remove_headers",
]


@dataclass(frozen=True)
class Constraints:
    """
    The C{[swift-constraints]} section of swift.conf.

    Lengths and sizes are in bytes; counts are header counts.
    """

    max_file_size: int = 5368709122
    max_meta_name_length: int = 128
    max_meta_value_length: int = 256
    max_meta_count: int = 90
    max_meta_overall_size: int = 4096
    max_header_size: int = 8192
    max_request_line: int = 8192
    max_object_name_length: int = 1024
    container_listing_limit: int = 10000
    account_listing_limit: int = 10000
    max_account_name_length: int = 256
    max_container_name_length: int = 256
    valid_api_versions: tuple[str, ...] = ("v1", "v1.0")
    extra_header_count: int = 0
    auto_create_account_prefix: str = "."

    @classmethod
    def from_conf(cls, values: dict[str, str]) -> "Constraints":
        """
        Build constraints from the C{[swift-constraints]} options; options
        not given keep Swift's defaults and unknown options are ignored.
        C{valid_api_versions} is a comma-separated list.

        @raise ValueError: naming the option, when an integer option does
            not parse.
        """
        overrides: dict[str, Any] = {}
        for field in fields(cls):
            if field.name not in values:
                continue
            text = values[field.name]
            default = field.default
            if isinstance(default, int):
                try:
                    overrides[field.name] = int(text)
                except ValueError:
                    raise ValueError(
                        f"swift-constraints option {field.name} must be an "
                        f"integer, not {text!r}"
                    ) from None
            elif isinstance(default, tuple):
                overrides[field.name] = tuple(
                    piece.strip() for piece in text.split(",") if piece.strip()
                )
            else:
                overrides[field.name] = text
        return cls(**overrides)

    @property
    def max_header_count(self) -> int:
        """
        The most request headers a client may send: room for every metadata
        item, 36 ordinary headers, and C{extra_header_count} more.
        """
        return self.max_meta_count + 36 + max(self.extra_header_count, 0)

    def as_info(self) -> dict[str, Any]:
        """
        The constraint keys of the C{swift} section of C{/info}, valued as
        Swift reports them (C{valid_api_versions} as a list).
        """
        info: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            info[field.name] = list(value) if isinstance(value, tuple) else value
        return info


DEFAULT_CONSTRAINTS = Constraints()

#: Response and request headers only the account's owner may see or set
#: (the proxy's C{swift_owner_headers} default).
DEFAULT_OWNER_HEADERS = (
    "x-container-read",
    "x-container-write",
    "x-container-sync-key",
    "x-container-sync-to",
    "x-account-meta-temp-url-key",
    "x-account-meta-temp-url-key-2",
    "x-container-meta-temp-url-key",
    "x-container-meta-temp-url-key-2",
    "x-account-access-control",
)

def _bad_request(request: SwiftRequest, body: Union[str, bytes]) -> SwiftResponse:
    return error_response(400, body, method=request.method)


def _wsgi_bytes(text: str) -> Optional[bytes]:
    try:
        return wsgi_to_bytes(text)
    except UnicodeEncodeError:
        return None


def check_utf8(value: Union[str, bytes], internal: bool = False) -> bool:
    """
    Whether C{value} is non-empty, valid UTF-8 without surrogates, and free
    of NUL (Swift's reserved byte) unless C{internal}.

    @param value: a WSGI string (one character per byte) or raw bytes.
    """
    raw = value if isinstance(value, bytes) else _wsgi_bytes(value)
    if not raw:
        return False
    try:
        # Python's strict UTF-8 codec already rejects encoded surrogates
        # and overlong forms.
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return internal or 0 not in raw  # an int: `b"\x00" in` first tries it as one


def check_path_utf8(request: SwiftRequest) -> Optional[SwiftResponse]:
    """
    The proxy's first check on any request: 412 C{Invalid UTF8 or contains
    NULL} unless the path is valid UTF-8 without NUL (NUL is allowed when
    C{X-Backend-Allow-Reserved-Names} is true).
    """
    internal = is_true(
        request.headers.get("X-Backend-Allow-Reserved-Names")
    )
    if check_utf8(request.path, internal=internal):
        return None
    return error_response(
        412, "Invalid UTF8 or contains NULL", method=request.method, content_type=HTML
    )


def _environ_name(name: str) -> str:
    # Swift reports header names as its WSGI environ rebuilds them: every
    # ASCII word capitalised (bytes.title), whatever the client sent.
    return name.encode("latin-1").title().decode("latin-1")


def _environ_order(headers: HeaderDict) -> list[tuple[str, str]]:
    # Swift walks headers in its WSGI environ's order, where Content-Length
    # and Content-Type live apart from the rest and come last; which error a
    # request gets can depend on it.
    ordered = []
    trailing = []
    for name, value in headers.items():
        pair = (_environ_name(name), value)
        if name.lower() in ("content-length", "content-type"):
            trailing.append(pair)
        else:
            ordered.append(pair)
    trailing.sort(key=lambda pair: pair[0].lower() == "content-type")
    return ordered + trailing


def check_metadata(
    request: SwiftRequest,
    target_type: str,
    constraints: Constraints = DEFAULT_CONSTRAINTS,
) -> Optional[SwiftResponse]:
    """
    Check the request's user metadata headers (C{X-<target>-Meta-*}) and
    the size of every header, in header order; the first problem wins.

    @param target_type: C{account}, C{container} or C{object}.
    @return: C{None}, or a 400 saying what is wrong: C{Header value too
        long: <name>}, C{Metadata name cannot be empty}, C{Metadata must be
        valid UTF-8} (accounts and containers only), C{Metadata name too
        long: <header>}, C{Metadata value longer than <max>: <header>},
        C{Too many metadata items; max <max>}, C{Total metadata too large;
        max <max>}.
    """
    prefix = f"x-{target_type.lower()}-meta-"
    utf8_required = target_type.lower() in ("account", "container")
    count = 0
    total = 0
    for name, value in _environ_order(request.headers):
        if len(value) > constraints.max_header_size:
            return _bad_request(
                request,
                b"Header value too long: "
                + name[: constraints.max_meta_name_length].encode("latin-1"),
            )
        if not name.lower().startswith(prefix):
            continue
        key = name[len(prefix):]
        if not key:
            return _bad_request(request, "Metadata name cannot be empty")
        if utf8_required and (
            not check_utf8(key) or (value and not check_utf8(value))
        ):
            return _bad_request(request, "Metadata must be valid UTF-8")
        count += 1
        total += len(key) + len(value)
        # The body echoes the header in its on-the-wire bytes.
        full_name = (prefix + key).encode("latin-1")
        if len(key) > constraints.max_meta_name_length:
            return _bad_request(request, b"Metadata name too long: " + full_name)
        if len(value) > constraints.max_meta_value_length:
            return _bad_request(
                request,
                b"Metadata value longer than %d: %s"
                % (constraints.max_meta_value_length, full_name),
            )
        if count > constraints.max_meta_count:
            return _bad_request(
                request, "Too many metadata items; max %d" % constraints.max_meta_count
            )
        if total > constraints.max_meta_overall_size:
            return _bad_request(
                request,
                "Total metadata too large; max %d"
                % constraints.max_meta_overall_size,
            )
    return None


class _FramingError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _declared_length(headers: HeaderDict) -> Optional[int]:
    """
    The body length the headers promise: C{None} for a chunked body or when
    no length is given.

    @raise _FramingError: 501 for a list of transfer codings, 400 for a
        single one that is not C{chunked} or an unparseable Content-Length.
    """
    coding = headers.get("Transfer-Encoding")
    if coding:
        codings = coding.split(",")
        if len(codings) > 1:
            raise _FramingError(
                501,
                "Unsupported Transfer-Coding header value specified in "
                "Transfer-Encoding header",
            )
        if codings[0].lower() != "chunked":
            raise _FramingError(400, "Invalid Transfer-Encoding header value")
        return None
    length = headers.get("Content-Length")
    if length is None:
        return None
    try:
        return int(length)
    except ValueError:
        raise _FramingError(400, "Invalid Content-Length header value") from None


def check_framing_headers(request: SwiftRequest) -> Optional[SwiftResponse]:
    """
    What the proxy does to every request before routing it: refuse a
    request framed both by C{Transfer-Encoding} and C{Content-Length} with
    400, as eventlet (C{reject_bad_requests}) does in front of Swift, since
    the two may be read differently along the way (request smuggling); then
    refuse a Content-Length that is negative or not a number with 400
    C{Invalid Content-Length}.
    """
    headers = request.headers
    length = headers.get("Content-Length")
    if length is not None and "Transfer-Encoding" in headers:
        return error_response(
            400, "Content-Length and Transfer-Encoding are not allowed together",
            method=request.method)
    if length is not None:
        try:
            valid = int(length) >= 0
        except ValueError:
            valid = False
        if not valid:
            return error_response(400, "Invalid Content-Length", method=request.method,
                                  content_type=HTML)
    return None


def guess_content_type(path: str) -> str:
    """
    The Content-Type Swift gives an object uploaded without one: guessed
    from the name's extension by the standard C{mimetypes} table, else
    C{application/octet-stream}.

    @param path: the request path or the object name; only its last
        extension matters.
    """
    if not path.startswith("/"):
        # Keep a name such as "data:x" from being read as a URL scheme.
        path = "/" + path
    guessed, _encoding = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"


def update_content_type(request: SwiftRequest) -> None:
    """
    Fill in an object PUT's Content-Type as the proxy does: when the client
    sent none (or an empty one), or sent a true C{X-Detect-Content-Type},
    guess it from the path; C{X-Detect-Content-Type} is then removed.
    """
    headers = request.headers
    detect = is_true(headers.get("X-Detect-Content-Type"))
    if detect or not headers.get("Content-Type"):
        headers["Content-Type"] = guess_content_type(request.path)
        if detect:
            del headers["X-Detect-Content-Type"]


def check_content_type_params(request: SwiftRequest) -> Optional[SwiftResponse]:
    """
    400 when the Content-Type carries a C{swift_*} parameter (reserved for
    Swift's own use, e.g. C{swift_bytes}), unless a middleware set
    C{swift.content_type_overridden}.
    """
    if request.environ.get("swift.content_type_overridden"):
        return None
    content_type = request.headers.get("Content-Type", "")
    for param in content_type.split(";")[1:]:
        if param.lstrip().startswith("swift_"):
            return _bad_request(
                request,
                "Invalid Content-Type, swift_* is not a valid parameter name.",
            )
    return None


def ensure_x_timestamp(request: SwiftRequest, now: float) -> Optional[SwiftResponse]:
    """
    Give the request its X-Timestamp, in internal form: the client's when
    it sent one (container sync does), else C{now}.

    @param now: seconds since the epoch, from the proxy's clock.
    @return: 400 C{X-Timestamp should be a UNIX timestamp float value; was
        '<value>'} for an unparseable client value, else C{None}.
    """
    given = request.headers.get("X-Timestamp")
    if given is None:
        stamp = Timestamp(now)
    else:
        try:
            stamp = Timestamp(given)
        except ValueError:
            return _bad_request(
                request,
                "X-Timestamp should be a UNIX timestamp float value; was %r"
                % (given,),
            )
    request.headers["X-Timestamp"] = stamp.internal
    return None


def request_timestamp(request: SwiftRequest) -> Union[Timestamp, SwiftResponse]:
    """
    The request's X-Timestamp, or the 400 Swift sends when it is missing
    (C{Missing X-Timestamp header}) or malformed (C{Invalid X-Timestamp
    header}).
    """
    given = request.headers.get("X-Timestamp")
    if given is None:
        return _bad_request(request, "Missing X-Timestamp header")
    try:
        return Timestamp(given)
    except ValueError:
        return _bad_request(request, "Invalid X-Timestamp header")


def check_delete_headers(
    request: SwiftRequest, now: Optional[float] = None
) -> Optional[SwiftResponse]:
    """
    Validate object expiry headers, rewriting them as Swift does:
    C{X-Delete-After} becomes an C{X-Delete-At} (C{now} plus the seconds,
    ten digits) replacing any the client sent; C{X-Delete-At} is then
    normalised to ten digits.

    @param now: the request's time in seconds; when C{None} it is read
        from the X-Timestamp header (see L{ensure_x_timestamp}).
    @return: 400 with C{Non-integer X-Delete-After}, C{X-Delete-After in
        past}, C{Non-integer X-Delete-At} or C{X-Delete-At in past} (the
        last is waived for a true C{X-Backend-Replication}), or the error of
        L{request_timestamp}; else C{None}.
    """
    headers = request.headers
    if now is None:
        stamp = request_timestamp(request)
        if isinstance(stamp, SwiftResponse):
            return stamp
        now = float(stamp)
    if "X-Delete-After" in headers:
        try:
            after = int(headers["X-Delete-After"])
        except ValueError:
            return _bad_request(request, "Non-integer X-Delete-After")
        delete_at = normalize_delete_at_timestamp(now + after)
        if int(delete_at) <= now:
            return _bad_request(request, "X-Delete-After in past")
        headers["X-Delete-At"] = delete_at
        del headers["X-Delete-After"]
    if "X-Delete-At" in headers:
        try:
            delete_at = normalize_delete_at_timestamp(int(headers["X-Delete-At"]))
        except ValueError:
            return _bad_request(request, "Non-integer X-Delete-At")
        if int(delete_at) <= now and not is_true(
            headers.get("X-Backend-Replication", "f")
        ):
            return _bad_request(request, "X-Delete-At in past")
        headers["X-Delete-At"] = delete_at
    return None


def check_object_creation(
    request: SwiftRequest,
    object_name: str,
    constraints: Constraints = DEFAULT_CONSTRAINTS,
) -> Optional[SwiftResponse]:
    """
    Everything Swift checks on an object PUT before contacting a backend,
    in Swift's order. Call L{update_content_type} and
    L{ensure_x_timestamp} first, as the proxy does.

    @param object_name: the object name as split from C{request.path} (a
        WSGI string); its length is counted as Swift counts it, in
        characters of L{native_name}.
    @return: C{None}, or: 501/400 for bad Transfer-Encoding, 400 C{Invalid
        Content-Length header value}, 413 C{Your request is too large.},
        411 C{Missing Content-Length header.} (Content-Length absent and
        Transfer-Encoding not exactly C{chunked}), 400 C{Object name length
        of <n> longer than <max>}, 400 C{No content type}, the errors of
        L{check_delete_headers}, 400 C{Invalid Content-Type}, the errors of
        L{check_metadata}, and that of L{check_content_type_params}.
    """
    headers = request.headers
    try:
        length = _declared_length(headers)
    except _FramingError as e:
        return error_response(e.status, e.message, method=request.method)
    if length is not None and length > constraints.max_file_size:
        return error_response(413, "Your request is too large.", method=request.method)
    if "Content-Length" not in headers and headers.get("Transfer-Encoding") != "chunked":
        return error_response(
            411, "Missing Content-Length header.", method=request.method
        )
    name_length = len(native_name(object_name))
    if name_length > constraints.max_object_name_length:
        return _bad_request(
            request,
            "Object name length of %d longer than %d"
            % (name_length, constraints.max_object_name_length),
        )
    if "Content-Type" not in headers:
        return _bad_request(request, "No content type")
    problem = check_delete_headers(request)
    if problem is not None:
        return problem
    if not check_utf8(headers["Content-Type"]):
        return _bad_request(request, "Invalid Content-Type")
    return check_metadata(request, "object", constraints) or check_content_type_params(
        request
    )


def if_none_match_star(value: Optional[str]) -> bool:
    """
    Whether an C{If-None-Match} value names C{*} among its tags (the only
    form an object PUT accepts: create only where nothing exists).
    """
    return value is not None and "*" in [tag.strip() for tag in value.split(",")]


def prepare_object_put(
    request: SwiftRequest,
    object_name: str,
    now: float,
    constraints: Constraints = DEFAULT_CONSTRAINTS,
) -> Optional[SwiftResponse]:
    """
    Check an object PUT and ready its headers for the storage nodes, as
    Swift's proxy does before it asks any, whatever the storage policy:
    the C{If-None-Match} check, L{update_content_type},
    L{ensure_x_timestamp} with C{now}, L{check_object_creation} and
    L{transform_remove_headers}, in that order. No I/O; C{request.headers}
    is changed in place.

    @param object_name: the object name as split from C{request.path}.
    @param now: seconds since the epoch, from the proxy's clock.
    @return: C{None} when the PUT may go on, else the answer to send: 400
        C{If-None-Match only supports *} for an C{If-None-Match} without
        C{*}, the error of L{ensure_x_timestamp}, or any error of
        L{check_object_creation}.
    """
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None and not if_none_match_star(if_none_match):
        return error_response(400, "If-None-Match only supports *", method=request.method)
    update_content_type(request)
    bad = ensure_x_timestamp(request, now)
    if bad is not None:
        return bad
    bad = check_object_creation(request, object_name, constraints)
    if bad is not None:
        return bad
    transform_remove_headers(request.headers, "object")
    return None


def prepare_object_post(
    request: SwiftRequest,
    now: float,
    constraints: Constraints = DEFAULT_CONSTRAINTS,
) -> Optional[SwiftResponse]:
    """
    Check an object POST and ready its headers for the storage nodes, as
    Swift's proxy does before it asks any, whatever the storage policy:
    L{check_metadata}, L{check_delete_headers} against C{now} (which turns
    C{X-Delete-After} into C{X-Delete-At}) and L{transform_remove_headers}.
    No I/O; C{request.headers} is changed in place.

    @param now: seconds since the epoch, from the proxy's clock.
    @return: C{None} when the POST may go on, else the error of
        L{check_metadata} or L{check_delete_headers}.
    """
    bad = check_metadata(request, "object", constraints)
    if bad is not None:
        return bad
    bad = check_delete_headers(request, now)
    if bad is not None:
        return bad
    transform_remove_headers(request.headers, "object")
    return None


def unquote_name_header(value: str) -> str:
    """
    Percent-decode a header naming an account or container
    (C{X-Copy-From-Account}, C{Destination-Account}, ...), keeping the
    WSGI-string form: each decoded byte becomes one character.
    """
    return unquote(value, encoding="latin-1")


def native_name(name: str) -> str:
    """
    A path segment as Swift's proxy controllers hold it: the WSGI string
    decoded from UTF-8, then percent-unquoted once more (Swift unquotes
    names it has already split from the decoded path). A string that is
    not a WSGI string of UTF-8 bytes is taken as already decoded.
    """
    try:
        decoded = name.encode("latin-1").decode("utf-8")
    except UnicodeError:
        decoded = name
    return unquote(decoded)


def _check_name_format(name: str, kind: str, method: str) -> Optional[SwiftResponse]:
    if not name:
        return error_response(412, f"{kind} name cannot be empty", method=method)
    if "/" in name:
        return error_response(412, f"{kind} name cannot contain slashes", method=method)
    return None


def check_account_format(name: str, method: str = "GET") -> Optional[SwiftResponse]:
    """
    Validate an account named in a header (after L{unquote_name_header}):
    412 C{Account name cannot be empty} or C{Account name cannot contain
    slashes}.
    """
    return _check_name_format(name, "Account", method)


def check_container_format(name: str, method: str = "GET") -> Optional[SwiftResponse]:
    """
    Validate a container named in a header (e.g. X-Versions-Location): 412
    C{Container name cannot be empty} or C{Container name cannot contain
    slashes}.
    """
    return _check_name_format(name, "Container", method)


def name_length_limit(
    server_type: str, account_name: str, constraints: Constraints = DEFAULT_CONSTRAINTS
) -> int:
    """
    The longest account or container name allowed under C{account_name};
    doubled for an auto-created account (one starting with
    C{auto_create_account_prefix}, e.g. C{.expiring_objects}).

    @param server_type: C{account} or C{container}.
    @param account_name: the account as split from the path (a WSGI
        string).
    @raise ValueError: for any other server type.
    """
    kind = server_type.lower()
    if kind == "account":
        limit = constraints.max_account_name_length
    elif kind == "container":
        limit = constraints.max_container_name_length
    else:
        raise ValueError("server_type must be 'account' or 'container'")
    if native_name(account_name).startswith(constraints.auto_create_account_prefix):
        limit *= 2
    return limit


def check_name_length(
    name: str,
    server_type: str,
    account_name: str,
    constraints: Constraints = DEFAULT_CONSTRAINTS,
    method: str = "GET",
) -> Optional[SwiftResponse]:
    """
    400 C{Account name length of <n> longer than <max>} (or C{Container
    ...}) when C{name} exceeds L{name_length_limit}.

    @param name: the account or container as split from the path (a
        WSGI string); Swift counts the characters of its L{native_name}.
    """
    limit = name_length_limit(server_type, account_name, constraints)
    length = len(native_name(name))
    if length <= limit:
        return None
    # Swift's controllers send this one as HTML, unlike the constraint
    # checks' plain text.
    return error_response(
        400,
        "%s name length of %d longer than %d"
        % (server_type.capitalize(), length, limit),
        method=method,
        content_type=HTML,
    )


def valid_api_version(
    version: str, constraints: Constraints = DEFAULT_CONSTRAINTS
) -> bool:
    """
    Whether the path's version segment is one the cluster serves.
    """
    return version in constraints.valid_api_versions


def is_user_meta(server_type: str, name: str) -> bool:
    """
    Whether C{name} is a non-empty C{X-<server_type>-Meta-*} header.
    """
    prefix = f"x-{server_type.lower()}-meta-"
    return len(name) > len(prefix) and name.lower().startswith(prefix)


def is_sys_meta(server_type: str, name: str) -> bool:
    """
    Whether C{name} is a non-empty C{X-<server_type>-Sysmeta-*} header.
    """
    prefix = f"x-{server_type.lower()}-sysmeta-"
    return len(name) > len(prefix) and name.lower().startswith(prefix)


#: For L{strip_sys_meta}, by server type: what L{is_sys_meta} says of a
#: name, in one match (the prefix in any ASCII case, then at least one
#: character), rather than a lowered copy of every name.
_SYS_META_NAME: dict[str, Callable[[str], Optional["re.Match[str]"]]] = {}


def strip_sys_meta(server_type: str, headers: MutableMapping[str, str]) -> None:
    """
    Remove from C{headers} every header that L{is_sys_meta} calls
    C{server_type} system metadata (a server type is a word of ASCII
    letters: C{account}, C{container}, C{object}).
    """
    match = _SYS_META_NAME.get(server_type)
    if match is None:
        prefix = re.escape(f"x-{server_type.lower()}-sysmeta-")
        match = _SYS_META_NAME[server_type] = re.compile(
            prefix + ".", re.IGNORECASE | re.ASCII | re.DOTALL).match
    for name in [name for name in headers if match(name)]:
        del headers[name]


# Headers no client may send and no client may see: system metadata,
# backend instructions, and the pre-X-Backend container-update headers.
_PRIVATE_HEADER = re.compile(
    r"x-(?:account|container|object)-sysmeta-"
    r"|x-object-transient-sysmeta-"
    r"|x-backend"
    r"|x-account-(?:host|device|partition)$"
    r"|x-container-(?:host|device|partition|root-db-state)$"
    r"|x-delete-at-(?:host|device|partition|container)$",
    re.IGNORECASE,
)


def remove_backend_and_sysmeta_headers(
    headers: MutableMapping[str, str],
) -> list[tuple[str, str]]:
    """
    Remove, in place, every header a client may neither set nor see:
    C{X-Backend*}, C{X-{Account,Container,Object}-Sysmeta-*},
    C{X-Object-Transient-Sysmeta-*}, and the legacy update headers
    C{X-Account-{Host,Device,Partition}},
    C{X-Container-{Host,Device,Partition,Root-Db-State}} and
    C{X-Delete-At-{Host,Device,Partition,Container}}.

    Apply it to client requests on the way in and to responses on the way
    out (Swift's gatekeeper does both).

    @return: the removed C{(name, value)} pairs.
    """
    removed = [(name, value) for name, value in headers.items() if _PRIVATE_HEADER.match(name)]
    for name, _value in removed:
        del headers[name]
    return removed


def filter_inbound_headers(
    headers: MutableMapping[str, str],
    shunt_x_timestamp: bool = True,
    allow_reserved_names_header: bool = False,
) -> list[tuple[str, str]]:
    """
    Everything Swift's gatekeeper does to a client request's headers:
    L{remove_backend_and_sysmeta_headers}; then a client's X-Timestamp is
    moved aside to C{X-Backend-Inbound-X-Timestamp} (unless
    C{shunt_x_timestamp} is false), and C{X-Allow-Reserved-Names} becomes
    C{X-Backend-Allow-Reserved-Names} when C{allow_reserved_names_header}.

    @return: the removed C{(name, value)} pairs.
    """
    removed = remove_backend_and_sysmeta_headers(headers)
    if shunt_x_timestamp and "X-Timestamp" in headers:
        headers["X-Backend-Inbound-X-Timestamp"] = headers.pop("X-Timestamp")
    if allow_reserved_names_header and "X-Allow-Reserved-Names" in headers:
        headers["X-Backend-Allow-Reserved-Names"] = headers.pop(
            "X-Allow-Reserved-Names"
        )
    return removed


def remove_owner_headers(
    headers: MutableMapping[str, str], owner_headers: Iterable[str] = DEFAULT_OWNER_HEADERS
) -> None:
    """
    Remove, in place, the headers only the account owner may see or set
    (ACLs, sync settings, temp-URL keys): on account and container
    responses, and on container PUT/POST requests, whenever the requester
    is not C{swift_owner}.
    """
    for name in owner_headers:
        headers.pop(name, None)


def _removal_targets(server_type: str) -> tuple[str, ...]:
    if server_type == "container":
        return (
            "x-remove-container-read",
            "x-remove-container-write",
            "x-remove-versions-location",
            "x-remove-container-sync-key",
            "x-remove-container-sync-to",
        )
    return ()


def _removals(
    headers: HeaderDict | MutableMapping[str, str], kind: str
) -> list[tuple[str, str]]:
    """
    Pairs of (client header, backend header it becomes) for C{kind}.
    """
    if kind not in ("account", "container"):
        return []
    meta_prefix = f"x-remove-{kind}-meta-"
    extras = _removal_targets(kind)
    pairs = []
    for name in headers:
        lowered = name.lower()
        if lowered.startswith(meta_prefix) or lowered in extras:
            pairs.append((name, lowered.replace("-remove", "", 1)))
    return pairs


def transform_remove_headers(
    headers: HeaderDict | MutableMapping[str, str], server_type: str
) -> HeaderDict:
    """
    Rewrite, in place, the C{X-Remove-*} headers of an account or container
    PUT/POST into the backend headers that delete the item: each becomes
    its target valued C{''} (C{X-Remove-Container-Meta-Foo} becomes
    C{x-container-meta-foo}; for containers C{X-Remove-Container-{Read,
    Write,Sync-Key,Sync-To}} and C{X-Remove-Versions-Location} lose their
    C{-remove}), unless the request also sets that target, whose value
    then wins. The C{X-Remove-*} headers themselves are removed.

    For C{object} (or any other type) nothing changes: Swift forwards an
    object request's headers as they are, and object servers ignore
    C{X-Remove-Object-Meta-*}.

    @return: the targets that were set to C{''}, names lower-cased.
    """
    added = HeaderDict()
    for name, target in _removals(headers, server_type.lower()):
        del headers[name]
        if target not in headers and target not in added:
            added[target] = ""
    for name, value in added.items():
        headers[name] = value
    return added
