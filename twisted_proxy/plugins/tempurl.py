# -*- test-case-name: tests.test_tempurl -*-
"""
The C{tempurl} plugin: temporary URLs, as Swift 2.38.3's C{tempurl}
middleware.

An account or container owner sets a secret key as metadata
(C{X-Account-Meta-Temp-URL-Key}, C{X-Account-Meta-Temp-URL-Key-2},
C{X-Container-Meta-Temp-URL-Key}, C{X-Container-Meta-Temp-URL-Key-2}) and
hands out URLs carrying:

 - C{temp_url_sig}: an HMAC (SHA-1, SHA-256 or SHA-512) of
   C{METHOD\\nEXPIRES\\nPATH} under one of the keys, in hex, or as
   C{<digest>:<base64>}; C{ip=<range>\\n} goes in front when the URL is
   limited to C{temp_url_ip_range}, and C{PATH} is C{prefix:/v1/a/c/<prefix>}
   when it is signed for C{temp_url_prefix};
 - C{temp_url_expires}: a unix time or C{YYYY-MM-DDTHH:MM:SSZ};
 - optionally C{filename} and C{inline}, which set the C{Content-Disposition}
   of a C{GET} or C{HEAD}.

A request with a valid signature goes on as the pseudo-user
C{.wsgi.tempurl}, authorized for the signing key's account (or container)
only, past the auth plugin (C{swift.authorize_override}); C{HEAD} is allowed
by a C{GET}, C{PUT} or C{POST} signature too. Anything else carrying
C{temp_url_sig} or C{temp_url_expires} gets C{401 Temp URL invalid}.
Some incoming headers are removed (C{incoming_remove_headers} but not
C{incoming_allow_headers}), as are some response headers
(C{outgoing_remove_headers} but not C{outgoing_allow_headers}); names may
end with C{*} for a prefix.

The keys come from the account's and container's info: the request's own,
the info store's, or a C{HEAD} sent through the rest of the pipeline as the
proxy's own, pre-authorized request.

The plugin adds C{tempurl} to C{/info}.
"""

from __future__ import annotations

import hmac
from calendar import timegm
from email.utils import formatdate
from ipaddress import ip_address, ip_network
from time import strptime
from typing import Any, Callable, Iterable, Optional
from urllib.parse import quote, urlencode

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.plugin import IPlugin
from zope.interface import implementer

from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.cache import InfoCache
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.signing import (
    CONTAINER_SCOPE,
    digests_option,
    temp_url_keys,
)
from twisted_proxy.plugins._support.subrequest import drop_body
from twisted_proxy.swift.digest import (
    DEPRECATED_DIGESTS,
    SUPPORTED_DIGESTS,
    hmac_hex,
    parse_signature,
)
from twisted_proxy.swift.http import (
    HTML,
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    wire_quote,
)
from twisted_proxy.swift.paths import split_path

__all__ = [
    "TempURL",
    "tempurlPlugin",
    "DEFAULT_METHODS",
    "DEFAULT_INCOMING_REMOVE_HEADERS",
    "DEFAULT_INCOMING_ALLOW_HEADERS",
    "DEFAULT_OUTGOING_REMOVE_HEADERS",
    "DEFAULT_OUTGOING_ALLOW_HEADERS",
    "SUPPORTED_DIGESTS",
    "DEPRECATED_DIGESTS",
    "parse_signature",
    "TEMPURL_USER",
]

#: The C{REMOTE_USER} of a request a temp URL admitted (Swift's).
TEMPURL_USER = ".wsgi.tempurl"

DEFAULT_METHODS = "GET HEAD PUT POST DELETE"
DEFAULT_INCOMING_REMOVE_HEADERS = "x-timestamp x-open-expired"
DEFAULT_INCOMING_ALLOW_HEADERS = ""
DEFAULT_OUTGOING_REMOVE_HEADERS = "x-object-meta-*"
DEFAULT_OUTGOING_ALLOW_HEADERS = "x-object-meta-public-*"

#: Headers a temp URL may not carry on a write: each would let the holder
#: of a URL for one object reach others.
_DISALLOWED_ON_WRITE = frozenset({"x-object-manifest", "x-symlink-target", "x-copy-from"})

_ISO8601 = "%Y-%m-%dT%H:%M:%SZ"
_INVALID_BODY = "401 Unauthorized: Temp URL invalid\n"


def _expires_at(value: Optional[str], now: float) -> Optional[int]:
    """
    The unix time C{temp_url_expires} names, C{0} when it is unreadable or
    already past, C{None} when it is absent.
    """
    if value is None:
        return None
    try:
        expires = int(value)
    except ValueError:
        try:
            expires = timegm(strptime(value, _ISO8601))
        except ValueError:
            expires = 0
    return 0 if expires < now else expires


def _signature(key: str, method: str, expires: int, path: bytes,
               digest: str, ip_range: Optional[str]) -> str:
    """
    The hex HMAC a temp URL for C{method} on C{path} (WSGI bytes) carries.
    """
    lines = [method.encode("ascii"), str(expires).encode("ascii"), path]
    if ip_range:
        lines.insert(0, b"ip=" + ip_range.encode("latin-1"))
    return hmac_hex(key, b"\n".join(lines), digest)


def _split_rules(words: Iterable[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """
    Exact names and prefixes (names ending C{*}) of a header list, lower
    case.
    """
    names = [word.lower() for word in words]
    return (frozenset(n for n in names if not n.endswith("*")),
            tuple(n[:-1] for n in names if n.endswith("*")))


class _HeaderRule:
    """
    Which headers to remove: those C{remove} names, unless C{allow} names
    them.
    """

    def __init__(self, remove: Iterable[str], allow: Iterable[str]) -> None:
        self._remove, self._remove_prefixes = _split_rules(remove)
        self._allow, self._allow_prefixes = _split_rules(allow)

    def removes(self, name: str) -> bool:
        name = name.lower()
        if name in self._allow or name.startswith(self._allow_prefixes):
            return False
        return name in self._remove or name.startswith(self._remove_prefixes)

    def clean(self, headers: HeaderDict) -> None:
        for name in [n for n in headers if self.removes(n)]:
            del headers[name]


def _first_values(query: list[tuple[str, str]]) -> dict[str, str]:
    # Swift's tempurl takes the first of repeated parameters.
    values: dict[str, str] = {}
    for name, value in query:
        values.setdefault(name, value)
    return values


def _disposition(kind: str, filename: bytes) -> str:
    return "%s; filename=\"%s\"; filename*=UTF-8''%s" % (
        kind, quote(filename, safe=" /"), quote(filename))


def _path_parts(path: str, container_root: bool) -> Optional[tuple[str, str, str]]:
    """
    C{(account, container, object)} of a C{/v1} object path (or, with
    C{container_root}, container path, whose object is C{''}), as WSGI
    strings; C{None} for any other path.
    """
    try:
        version, account, container, obj = split_path(
            path, 3 if container_root else 4, 4, True)
    except ValueError:
        return None
    if version != "v1" or not (container_root or (obj and obj.strip("/"))):
        return None
    assert account is not None and container is not None
    return account, container, obj or ""


def _unauthorized(request: SwiftRequest, realm: str = "unknown") -> SwiftResponse:
    return error_response(401, headers={"Www-Authenticate": f'Swift realm="{realm}"'},
                          method=request.method)


def _same_scope(account: str, container: Optional[str]
                ) -> Callable[[SwiftRequest], Optional[SwiftResponse]]:
    """
    A C{swift.authorize} that lets through requests for C{account} (and,
    when given, C{container}) only.
    """

    def authorize(request: SwiftRequest) -> Optional[SwiftResponse]:
        try:
            if container is None:
                _, path_account, _ = split_path(request.path, 2, 3, True)
                path_container = None
            else:
                _, path_account, path_container, _ = split_path(request.path, 3, 4, True)
        except ValueError:
            return _unauthorized(request)
        assert path_account is not None
        if path_account != account or path_container != container:
            return _unauthorized(request, wire_quote(path_account))
        return None

    return authorize


def _allow_everything(request: SwiftRequest) -> None:
    return None


@implementer(IProxyFilter)
class TempURL:
    """
    Admits requests carrying a valid temp URL signature.

    @param clock: the time, for expiry.
    @param info_cache: the proxy's account and container info.
    @param methods: the methods a temp URL may be used for.
    @param allowed_digests: the digests a signature may use.
    @param incoming: the request headers to remove.
    @param outgoing: the response headers to remove.
    """

    def __init__(
        self,
        clock: IReactorTime,
        info_cache: InfoCache,
        methods: Iterable[str] = DEFAULT_METHODS.split(),
        allowed_digests: Iterable[str] = SUPPORTED_DIGESTS,
        incoming: Optional[_HeaderRule] = None,
        outgoing: Optional[_HeaderRule] = None,
    ) -> None:
        self._clock = clock
        self._info_cache = info_cache
        self._methods = frozenset(methods)
        self._digests = frozenset(allowed_digests)
        self._incoming = incoming or _HeaderRule(
            DEFAULT_INCOMING_REMOVE_HEADERS.split(), DEFAULT_INCOMING_ALLOW_HEADERS.split())
        self._outgoing = outgoing or _HeaderRule(
            DEFAULT_OUTGOING_REMOVE_HEADERS.split(), DEFAULT_OUTGOING_ALLOW_HEADERS.split())

    def __call__(
        self, request: SwiftRequest, app: IProxyApplication
    ) -> "Deferred[SwiftResponse]":
        if request.method == "OPTIONS":
            return app(request)  # type: ignore[no-any-return]
        params = _first_values(request.query)
        if "temp_url_sig" not in params and "temp_url_expires" not in params:
            return app(request)  # type: ignore[no-any-return]
        return Deferred.fromCoroutine(self._handle(request, app, params))

    def _invalid(self, request: SwiftRequest) -> SwiftResponse:
        # Swift's 401 here names no realm, and its HEAD has an empty body.
        body = "" if request.method == "HEAD" else _INVALID_BODY
        return error_response(401, body, content_type=HTML, method=request.method,
                              headers={"Www-Authenticate": 'Swift realm="unknown"'})

    async def _handle(self, request: SwiftRequest, app: IProxyApplication,
                      params: dict[str, str]) -> SwiftResponse:
        method = request.method
        given_sig = params.get("temp_url_sig")
        given_expires = params.get("temp_url_expires")
        prefix = params.get("temp_url_prefix")
        ip_range = params.get("temp_url_ip_range")
        filename = params.get("filename")
        inline = "inline" in params
        expires = _expires_at(given_expires, self._clock.seconds())
        if not given_sig or not expires:
            return self._invalid(request)
        try:
            digest, sig = parse_signature(given_sig)
        except ValueError:
            return self._invalid(request)
        if digest not in self._digests:
            return self._invalid(request)
        parts = None
        if method in self._methods:
            parts = _path_parts(request.path,
                                method in ("GET", "HEAD") and prefix == "")
        if parts is None:
            return self._invalid(request)
        account, container, obj = parts
        if ip_range:
            try:
                if ip_address(request.client_ip) not in ip_network(ip_range):
                    return self._invalid(request)
            except ValueError:
                return self._invalid(request)

        keys = await self._keys(request, app, account, container)
        if not keys:
            return self._invalid(request)
        if prefix is None:
            signed = f"/v1/{account}/{container}/{obj}"
        elif obj.startswith(prefix):
            signed = f"prefix:/v1/{account}/{container}/{prefix}"
        else:
            return self._invalid(request)
        signed_path = signed.encode("latin-1")
        methods = ("HEAD", "GET", "POST", "PUT") if method == "HEAD" else (method,)
        scope = None
        for signed_method in methods:
            for key, key_scope in keys:
                expected = _signature(key, signed_method, expires, signed_path,
                                      digest, ip_range)
                if hmac.compare_digest(sig.encode("latin-1"), expected.encode("ascii")):
                    scope = key_scope
                    break
            if scope is not None:
                break
        if scope is None:
            return self._invalid(request)

        if method not in ("GET", "HEAD", "OPTIONS"):
            for name in request.headers:
                if name.lower() in _DISALLOWED_ON_WRITE:
                    title = "-".join(p.capitalize() for p in name.split("-"))
                    return error_response(
                        400, f"The header {title!r} is not allowed in this tempurl",
                        method=method, content_type=HTML)
        self._incoming.clean(request.headers)

        environ = request.environ
        environ["swift.authorize"] = _same_scope(
            account, container if scope == CONTAINER_SCOPE else None)
        environ["swift.authorize_override"] = True
        environ["REMOTE_USER"] = TEMPURL_USER
        kept: list[tuple[str, str]] = [
            ("temp_url_sig", sig), ("temp_url_expires", given_expires or "")]
        if prefix is not None:
            kept.append(("temp_url_prefix", prefix))
        if filename:
            kept.append(("filename", filename))
        if inline:
            kept.append(("inline", ""))
        # The rest of the pipeline sees only the temp URL's own parameters,
        # so a URL for an object cannot be turned into another operation.
        request.query = kept
        request.params = dict(kept)
        request.query_string = urlencode(
            [(n, v.encode("latin-1")) for n, v in kept])

        response: SwiftResponse = await app(request)
        self._outgoing.clean(response.headers)
        if method not in ("GET", "HEAD") or not response.is_success:
            return response
        existing = response.headers.pop("Content-Disposition", None)
        generator = response.headers.get("X-Backend-Content-Generator")
        if generator == "staticweb":
            inline = True
        elif obj == "":
            drop_body(response.body)
            return self._invalid(request)
        if inline:
            value = (_disposition("inline", filename.encode("latin-1"))
                     if filename else "inline")
        elif filename:
            value = _disposition("attachment", filename.encode("latin-1"))
        elif existing:
            value = existing
        else:
            name = request.path.rstrip("/").rsplit("/", 1)[-1]
            value = _disposition("attachment", name.encode("latin-1"))
        response.headers["Content-Disposition"] = value.replace("\n", "%0A")
        response.headers["Expires"] = formatdate(expires, usegmt=True)
        return response

    async def _keys(self, request: SwiftRequest, app: IProxyApplication,
                    account: str, container: str) -> list[tuple[str, str]]:
        """
        The temp URL keys of the account and then of the container, each
        with its scope.
        """
        return await temp_url_keys(request, app, self._info_cache, account, container,
                                   _preauthorized_environ)


def _preauthorized_environ(environ: dict[str, Any]) -> dict[str, Any]:
    """
    An environ for an info sub-request: the proxy's own, so the auth plugin
    (after this one in the pipeline) lets it by.
    """
    sub = dict(environ)
    sub.pop("swift_owner", None)
    sub.pop("REMOTE_USER", None)
    sub.pop("swift.proxy_access_log_made", None)
    sub["swift.authorize"] = _allow_everything
    sub["swift.authorize_override"] = True
    sub["swift.source"] = "TU"
    return sub


@implementer(IPlugin, IProxyPluginFactory)
class _TempURLFactory:
    name = "tempurl"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> TempURL:
        """
        @param conf: C{methods}, C{allowed_digests},
            C{incoming_remove_headers}, C{incoming_allow_headers},
            C{outgoing_remove_headers}, C{outgoing_allow_headers}
            (whitespace-separated lists).
        @param context: provides C{reactor}, C{info_cache} and
            C{register_info}.
        """
        lists = {
            name: conf.get(name, default).split()
            for name, default in (
                ("methods", DEFAULT_METHODS),
                ("incoming_remove_headers", DEFAULT_INCOMING_REMOVE_HEADERS),
                ("incoming_allow_headers", DEFAULT_INCOMING_ALLOW_HEADERS),
                ("outgoing_remove_headers", DEFAULT_OUTGOING_REMOVE_HEADERS),
                ("outgoing_allow_headers", DEFAULT_OUTGOING_ALLOW_HEADERS),
            )
        }
        allowed, digests_info = digests_option(conf, "tempurl")
        context.register_info("tempurl", **lists, **digests_info)
        return TempURL(
            context.reactor,
            context.info_cache,
            methods=lists["methods"],
            allowed_digests=allowed,
            incoming=_HeaderRule(lists["incoming_remove_headers"],
                                 lists["incoming_allow_headers"]),
            outgoing=_HeaderRule(lists["outgoing_remove_headers"],
                                 lists["outgoing_allow_headers"]),
        )


tempurlPlugin = _TempURLFactory()
