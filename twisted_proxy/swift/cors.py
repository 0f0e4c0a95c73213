# -*- test-case-name: tests.test_cors -*-
"""
Cross-origin resource sharing (CORS) as Swift's proxy does it.

A container opts in with C{X-Container-Meta-Access-Control-Allow-Origin}
(a space separated list of origins, or C{*}),
C{X-Container-Meta-Access-Control-Expose-Headers} and
C{X-Container-Meta-Access-Control-Max-Age}; the operator can allow origins
for every container with C{cors_allow_origin} and expose more headers with
C{cors_expose_headers} (both comma separated). Only containers and objects
take part: an account's C{OPTIONS} is never a preflight.

A preflight is an C{OPTIONS} with an C{Origin}: it is answered here (see
L{preflight_response}) from the container's info. Any other request with an
C{Origin} is an actual request: its response gets C{Access-Control-Allow-
Origin} and C{Access-Control-Expose-Headers} (see L{add_cors_headers}) when
the origin is allowed, or always when C{strict_cors_mode} is off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Protocol, TypedDict

from twisted_proxy.swift.http import HeaderDict, SwiftResponse, error_response

__all__ = [
    "CORSInfo",
    "CORSPolicy",
    "CORSSettings",
    "SIMPLE_EXPOSE_HEADERS",
    "split_list",
    "container_origins",
    "is_origin_allowed",
    "preflight_response",
    "expose_headers",
    "add_cors_headers",
    "add_vary",
]

#: What every CORS response exposes: the CORS simple response headers and
#: Swift's own etag, timestamp and transaction id.
SIMPLE_EXPOSE_HEADERS = frozenset(
    {
        "cache-control", "content-language", "content-type", "expires",
        "last-modified", "pragma", "etag", "x-timestamp", "x-trans-id",
        "x-openstack-request-id",
    }
)

_USER_META = ("x-container-meta", "x-object-meta")

class CORSInfo(TypedDict, total=False):
    """
    The C{cors} section of a container's info: its CORS metadata as set
    (missing or C{None} when not).
    """

    allow_origin: Optional[str]
    expose_headers: Optional[str]
    max_age: Optional[str]


def split_list(value: str, separator: str = ",") -> list[str]:
    """
    The non-empty, stripped items of a C{separator} separated list, in
    order (Swift's C{list_from_csv} for the default separator).
    """
    return [item.strip() for item in value.split(separator) if item.strip()]


class CORSSettings(Protocol):
    """
    The operator's CORS options as the proxy's settings hold them
    (L{twisted_proxy.config.ProxySettings} provides them).
    """

    @property
    def cors_allow_origin(self) -> str:
        """
        C{cors_allow_origin}: a comma separated list of origins.
        """

    @property
    def cors_expose_headers(self) -> str:
        """
        C{cors_expose_headers}: a comma separated list of header names.
        """

    @property
    def strict_cors_mode(self) -> bool:
        """
        C{strict_cors_mode}.
        """


@dataclass(frozen=True)
class CORSPolicy:
    """
    The operator's CORS settings.

    @ivar allow_origin: origins allowed for every container
        (C{cors_allow_origin}).
    @ivar expose_headers: headers exposed for every container, as
        configured (C{cors_expose_headers}).
    @ivar strict: C{strict_cors_mode}: when false, an actual request from
        any origin gets the CORS response headers.
    """

    allow_origin: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    strict: bool = True

    @classmethod
    def from_settings(cls, settings: CORSSettings) -> "CORSPolicy":
        """
        The policy C{settings} configure.
        """
        return cls(
            tuple(split_list(settings.cors_allow_origin)),
            tuple(split_list(settings.cors_expose_headers)),
            settings.strict_cors_mode,
        )


def container_origins(allow_origin: Optional[str]) -> list[str]:
    """
    The origins of a container's C{Access-Control-Allow-Origin} metadata,
    a space separated list.
    """
    return split_list(allow_origin or "", " ")


def _wildcard(cors_info: CORSInfo) -> bool:
    # Only a container whose whole setting is "*" answers with "*"; an
    # origin allowed by "*" among others is echoed back.
    return (cors_info.get("allow_origin") or "").strip() == "*"


def is_origin_allowed(cors_info: CORSInfo, origin: str, policy: CORSPolicy) -> bool:
    """
    Whether C{origin} may use the container: listed (exactly) by the
    container or by the operator, or either of them lists C{*}.

    @param cors_info: the container info's C{cors} section.
    """
    allowed = set(container_origins(cors_info.get("allow_origin")))
    allowed.update(policy.allow_origin)
    return origin in allowed or "*" in allowed


def add_vary(headers: HeaderDict, name: str) -> None:
    """
    Add C{name} to the C{Vary} header.

    Swift adds C{Accept} to a listing's C{Vary} in a later pipeline stage
    than CORS, so C{name} goes before a trailing C{Accept}: the client sees
    C{Origin, Accept} as from Swift.
    """
    current = headers.get("Vary")
    if not current:
        headers["Vary"] = name
        return
    items = [item.strip() for item in current.split(",")]
    if items[-1].lower() == "accept":
        items.insert(len(items) - 1, name)
    else:
        items.append(name)
    headers["Vary"] = ", ".join(items)


def preflight_response(
    allowed_methods: Iterable[str],
    cors_info: CORSInfo,
    request_headers: HeaderDict,
    policy: CORSPolicy,
) -> SwiftResponse:
    """
    The answer to a preflight C{OPTIONS} (a request with an C{Origin}) on
    a container or object.

    @param allowed_methods: the methods the resource allows.
    @param cors_info: the container info's C{cors} section.
    @return: a 401 (Swift's default body, with C{Allow}) when the origin is
        not allowed or C{Access-Control-Request-Method} is not an allowed
        method; otherwise a 200 with C{Allow} and the CORS preflight
        headers, C{Access-Control-Allow-Headers} granting every header the
        request asked for.
    """
    allowed = frozenset(allowed_methods)
    methods = ", ".join(sorted(allowed))
    origin = request_headers.get("Origin", "")
    if (
        not is_origin_allowed(cors_info, origin, policy)
        or request_headers.get("Access-Control-Request-Method") not in allowed
    ):
        return error_response(401, headers={"Allow": methods}, method="OPTIONS")
    headers = HeaderDict({"Allow": methods})
    if _wildcard(cors_info):
        headers["Access-Control-Allow-Origin"] = "*"
    else:
        headers["Access-Control-Allow-Origin"] = origin
        add_vary(headers, "Origin")
    max_age = cors_info.get("max_age")
    if max_age is not None:
        headers["Access-Control-Max-Age"] = max_age
    headers["Access-Control-Allow-Methods"] = methods
    asked = list(dict.fromkeys(
        split_list(request_headers.get("Access-Control-Request-Headers", ""))))
    if asked:
        headers["Access-Control-Allow-Headers"] = ", ".join(asked)
        add_vary(headers, "Access-Control-Request-Headers")
    return SwiftResponse(200, headers, b"")


def expose_headers(
    response_headers: HeaderDict, cors_info: CORSInfo, policy: CORSPolicy
) -> list[str]:
    """
    The headers an actual response exposes, sorted: the simple ones, the
    operator's, the response's user metadata and the container's.
    """
    exposed = set(SIMPLE_EXPOSE_HEADERS)
    exposed.update(policy.expose_headers)
    for name in response_headers:
        lowered = name.lower()
        if lowered.startswith(_USER_META):
            exposed.add(lowered)
    exposed.update(
        name.lower() for name in split_list(cors_info.get("expose_headers") or "", " "))
    return sorted(exposed)


def add_cors_headers(
    response: SwiftResponse, origin: str, cors_info: CORSInfo, policy: CORSPolicy
) -> None:
    """
    Give the response to an actual request from C{origin} its CORS headers,
    unless the origin is not allowed in strict mode. Headers the response
    already has are kept.

    @param cors_info: the container info's C{cors} section, looked up
        before the request was handled.
    """
    if policy.strict and not is_origin_allowed(cors_info, origin, policy):
        return
    headers = response.headers
    if "Access-Control-Expose-Headers" not in headers:
        headers["Access-Control-Expose-Headers"] = ", ".join(
            expose_headers(headers, cors_info, policy))
    if "Access-Control-Allow-Origin" not in headers:
        if _wildcard(cors_info):
            headers["Access-Control-Allow-Origin"] = "*"
        else:
            headers["Access-Control-Allow-Origin"] = origin
            add_vary(headers, "Origin")
