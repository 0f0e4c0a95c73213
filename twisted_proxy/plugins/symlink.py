# -*- test-case-name: tests.test_symlink -*-
"""
The C{symlink} plugin: objects that point at other objects, as Swift
2.38.3's C{symlink} middleware.

 - C{PUT} with C{X-Symlink-Target: <container>/<object>} (and, for another
   account, C{X-Symlink-Target-Account}) and an empty body makes a symlink.
   The target is kept as object system metadata
   (C{X-Object-Sysmeta-Symlink-Target}, C{-Target-Account}), and the
   container listing learns of it through the etag the container is told
   (C{X-Object-Sysmeta-Container-Update-Override-Etag}: the empty body's
   MD5 followed by C{; symlink_target=...}), exactly as Swift stores them,
   so that Swift's own proxy reads links made here and the reverse.
 - With C{X-Symlink-Target-Etag} the link is static: the target must exist
   (else C{409}) and have that etag (else C{409}); its size is kept as
   C{X-Object-Sysmeta-Symlink-Target-Bytes}.
 - C{GET}/C{HEAD} of a symlink answers for its target (with
   C{Content-Location} naming it), following at most C{symloop_max} links
   (C{409} beyond); a static link whose target's etag changed is a
   C{409}. C{?symlink=get} answers for the link itself, its target shown as
   C{X-Symlink-Target*} headers.
 - C{POST} to a symlink is applied to it and answered C{307} with the
   target as C{Location}; C{POST} with C{X-Symlink-Target} is a C{400}.
 - A JSON container listing shows each symlink's C{symlink_path} (and, for
   a static link, C{symlink_etag} and C{symlink_bytes}).

C{COPY} of a symlink copies its target (the copy plugin's source C{GET}
follows the link); with C{?symlink=get} it copies the link itself (the
source's C{X-Symlink-Target*} headers make the destination C{PUT} a
symlink C{PUT}).

The plugin adds C{symlink} (C{symloop_max}, C{static_links}) to C{/info}.
It sees object system metadata by setting C{swift.sysmeta_ok} for its own
requests, and removes it again from what it returns unless its caller had
asked for it (as the SLO plugin does).
"""

from __future__ import annotations

import posixpath
import re
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, fail
from twisted.plugin import IPlugin
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_proxy.config import ConfigError
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.subrequest import (
    BodyTooLarge,
    drop_body,
    read_body,
    sub_environ,
)
from twisted_proxy.swift.constraints import (
    check_account_format,
    is_sys_meta,
    strip_sys_meta,
    unquote_name_header,
)
from twisted_proxy.swift.etags import normalize_etag
from twisted_proxy.swift.http import (
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    wire_quote,
)
from twisted_proxy.swift.listing import LISTING_REWRITES_ENVIRON_KEY, RAW_UNCHANGED_ATTRIBUTE
from twisted_proxy.swift.paths import split_path
from twisted_proxy.swift.truthy import is_true

__all__ = [
    "Symlinks",
    "symlinkPlugin",
    "DEFAULT_SYMLOOP_MAX",
    "TARGET_SYSMETA",
    "TARGET_ACCOUNT_SYSMETA",
    "TARGET_ETAG_SYSMETA",
    "TARGET_BYTES_SYSMETA",
    "SYMLINK_OVERRIDE_ENVIRON_KEY",
    "rewrite_listing_item",
]

DEFAULT_SYMLOOP_MAX = 2

TARGET = "X-Symlink-Target"
TARGET_ACCOUNT = "X-Symlink-Target-Account"
TARGET_ETAG = "X-Symlink-Target-Etag"
TARGET_BYTES = "X-Symlink-Target-Bytes"
TARGET_SYSMETA = "X-Object-Sysmeta-Symlink-Target"
TARGET_ACCOUNT_SYSMETA = "X-Object-Sysmeta-Symlink-Target-Account"
TARGET_ETAG_SYSMETA = "X-Object-Sysmeta-Symlink-Target-Etag"
TARGET_BYTES_SYSMETA = "X-Object-Sysmeta-Symlink-Target-Bytes"
_SYMLOOP_EXTEND = "X-Object-Sysmeta-Symloop-Extend"
_ALLOW_RESERVED = "X-Object-Sysmeta-Allow-Reserved-Names"
_OVERRIDE_ETAG = "X-Object-Sysmeta-Container-Update-Override-Etag"
_IGNORE_RANGE = "X-Backend-Ignore-Range-If-Metadata-Present"
_MD5_OF_EMPTY = "d41d8cd98f00b204e9800998ecf8427e"

# A listing entry's hash the symlink listing rewrite may change, in a
# container server's JSON (Python's default json.dumps: ", " and ": "
# separators, all but printable ASCII escaped with a backslash): no string,
# or one with an escape (whitespace may hide there) or a parameter, or with
# a space at either end. Inside strings quotes are escaped: what matches
# is a key (C{hash}, or another ending so, which is only unsure).
_CHANGED_HASH = re.compile(rb'hash": (?:[^"]|"[^"\\;]*[\\;]|" |"[^"\\;]* ")')
# A hash that is not an MD5 as hex (most are): one to look at closer.
_NOT_MD5_HASH = re.compile(rb'hash": (?!"[0-9a-f]{32}")')

#: Set by a plugin that PUTs a symlink whose target it already knows
#: (C{X-Symlink-Target-Etag} and C{X-Symlink-Target-Bytes} are then
#: stored without a C{HEAD} of the target), as Swift's
#: C{swift.symlink_override}.
SYMLINK_OVERRIDE_ENVIRON_KEY = "swift.symlink_override"

_USER_TO_SYSMETA = ((TARGET, TARGET_SYSMETA), (TARGET_ACCOUNT, TARGET_ACCOUNT_SYSMETA))
_SYSMETA_TO_USER = _USER_TO_SYSMETA + (
    (TARGET_ETAG, TARGET_ETAG_SYSMETA), (TARGET_BYTES, TARGET_BYTES_SYSMETA))

_TARGET_FORM = "X-Symlink-Target header must be of the form <container name>/<object name>"


class _Refusal(Exception):
    """
    A client error the plugin answers with C{response}.
    """

    def __init__(self, response: SwiftResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _plain(status: int, body: str, method: str,
           headers: Optional[dict[str, str]] = None) -> _Refusal:
    return _Refusal(error_response(status, body, headers=headers, method=method,
                                   content_type="text/plain"))


def _append_header(request: SwiftRequest, name: str, value: str) -> None:
    old = request.headers.get(name)
    request.headers[name] = f"{old},{value}" if old else value


def _parse_params(value: str) -> tuple[str, list[tuple[str, str]]]:
    """
    A header value and its C{; key=value} parameters, as Swift's
    C{parse_header} reads them (quotes around a value removed).
    """
    first, *rest = value.split(";")
    params = []
    for piece in rest:
        key, sep, val = piece.strip().partition("=")
        if not sep:
            continue
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] == '"':
            val = val[1:-1]
        params.append((key.strip().lower(), val))
    return first.strip(), params


def rewrite_listing_item(item: dict[str, Any], version: str, account: str
                         ) -> dict[str, Any]:
    """
    A JSON container listing entry with the symlink parameters of its
    C{hash} taken out into C{symlink_path}, C{symlink_etag} and
    C{symlink_bytes} (other parameters, such as C{slo_etag}, stay).

    @param version: the API version of the listing request.
    @param account: the listed container's account, as a WSGI string.
    """
    if "hash" not in item:
        return item
    stored = str(item["hash"])
    if ";" not in stored:
        # No parameters (most entries): no symlink.
        item["hash"] = stored.strip()
        return item
    value, params = _parse_params(stored)
    item["hash"] = value
    target = None
    for key, val in params:
        if key == "symlink_target":
            target = val
        elif key == "symlink_target_account":
            account = val
        elif key == "symlink_target_etag":
            item["symlink_etag"] = val
        elif key == "symlink_target_bytes":
            item["symlink_bytes"] = int(val)
        else:
            item["hash"] += f"; {key}={val}"
    if target:
        item["symlink_path"] = posixpath.join("/", version, account, target)
    return item


def listing_unchanged(body: bytes) -> bool:
    """
    Whether the symlink listing rewrite leaves every entry of a container
    server's JSON listing C{body} unchanged: true when every entry's
    C{hash} is a string with no parameters and no whitespace to strip;
    false when unsure (an escape in a hash, a body not all ASCII).

    A search of the body's bytes, faster than parsing it: first for a hash
    that is no MD5 (most listings have none), then for one that may
    change.
    """
    if not body.isascii():
        return False
    return _NOT_MD5_HASH.search(body) is None or _CHANGED_HASH.search(body) is None


class _Traversal:
    """
    The state of one client request's walk along a chain of symlinks.
    """

    def __init__(self, app: IProxyApplication, symloop_max: int,
                 original: SwiftRequest) -> None:
        self.app = app
        self.symloop_max = symloop_max
        self.original = original
        self.loops = 0
        self.last_target: Optional[str] = None

    async def walk(self, request: SwiftRequest, target_etag: Optional[str] = None,
                   follow_dynamic: bool = True) -> SwiftResponse:
        """
        Answer C{request}, following symlinks (dynamic ones only when
        C{follow_dynamic}).

        @param target_etag: the etag the previous static link promised.
        @raise _Refusal: for a loop or an etag that does not match.
        """
        response = await self.app(request)
        return await self.step(request, response, target_etag, follow_dynamic)

    async def step(self, request: SwiftRequest, response: SwiftResponse,
                   target_etag: Optional[str] = None, follow_dynamic: bool = True
                   ) -> SwiftResponse:
        """
        Carry on L{walk} from C{response}, the answer to C{request}.
        """
        method = self.original.method
        headers = response.headers
        target = headers.get(TARGET_SYSMETA)
        link_etag = headers.get(TARGET_ETAG_SYSMETA)
        if target and (link_etag or follow_dynamic):
            drop_body(response.body)
            found = link_etag or normalize_etag(headers.get("Etag"))
            if target_etag and target_etag != found:
                raise _plain(409, "X-Symlink-Target-Etag headers do not match", method,
                             self._location())
            if self.loops >= self.symloop_max:
                raise _plain(
                    409, "Too many levels of symbolic links, maximum allowed is "
                    f"{self.symloop_max}", method)
            next_request = self._follow(request, headers, target)
            if not _is_true_header(headers.get(_SYMLOOP_EXTEND)):
                self.loops += 1
            return await self.walk(next_request, link_etag, follow_dynamic)
        final = normalize_etag(headers.get("Etag"))
        if final and target_etag and target_etag != final:
            drop_body(response.body)
            raise _plain(
                409, f"Object Etag {final!r} does not match X-Symlink-Target-Etag "
                f"header {target_etag!r}", method, self._location())
        if self.last_target is not None:
            headers["Content-Location"] = self.last_target
        return response

    def _location(self) -> Optional[dict[str, str]]:
        if self.last_target is None:
            return None
        return {"Content-Location": self.last_target}

    def _follow(self, request: SwiftRequest, headers: HeaderDict, target: str
                ) -> SwiftRequest:
        """
        The request for the object the link C{headers} describe points at.
        """
        version, account, _ = split_path(request.path, 2, 3, True)
        assert version is not None and account is not None
        target_account = headers.get(TARGET_ACCOUNT_SYSMETA) or wire_quote(account)
        # The stored target is quoted (a %2F stays part of a name).
        target_path = posixpath.join("/", version, target_account, target.lstrip("/"))
        self.last_target = target_path
        sub_headers = request.headers.copy()
        sub_headers.pop("X-Backend-Storage-Policy-Index", None)
        environ = sub_environ(self.original.environ, "SYM")
        environ["swift.sysmeta_ok"] = True
        if _is_true_header(headers.get(_ALLOW_RESERVED)):
            # Only a plugin could have made a link into reserved names: its
            # walk is the proxy's own.
            environ.pop("swift.authorize", None)
            sub_headers["X-Backend-Allow-Reserved-Names"] = "true"
        return SwiftRequest(request.method, target_path.encode("ascii", "replace"),
                            sub_headers, client_ip=request.client_ip, environ=environ)


def _is_true_header(value: Optional[str]) -> bool:
    return is_true(value)


@implementer(IProxyFilter)
class Symlinks:
    """
    Makes, follows and lists symlinks.

    @param symloop_max: the most links one request follows.
    """

    def __init__(self, symloop_max: int = DEFAULT_SYMLOOP_MAX) -> None:
        self.symloop_max = symloop_max

    def __call__(
        self, request: SwiftRequest, app: IProxyApplication
    ) -> "Deferred[SwiftResponse]":
        try:
            version, account, container, obj = split_path(request.path, 3, 4, True)
        except ValueError:
            return app(request)  # type: ignore[no-any-return]
        assert version is not None and account is not None
        if not obj:
            if request.method == "GET":
                return self._container_get(request, app, version, account)
            return app(request)  # type: ignore[no-any-return]
        method = request.method
        if method in ("GET", "HEAD"):
            if request.params.get("symlink") != "get":
                return self._get_or_head(request, app)
            handler: Callable[..., Any] = self._get_link
        elif method == "PUT" and TARGET in request.headers:
            handler = self._put
        elif method == "POST":
            handler = self._post
        else:
            return app(request)  # type: ignore[no-any-return]
        return Deferred.fromCoroutine(self._guarded(handler, request, app))

    async def _guarded(self, handler: Callable[..., Any], request: SwiftRequest,
                       app: IProxyApplication, sysmeta_ok: Optional[bool] = None
                       ) -> SwiftResponse:
        """
        C{handler(request, app)}, allowed to see sysmeta, and the response
        without it unless the request could see it before: C{sysmeta_ok},
        when L{_get_or_head} has already let it.
        """
        environ = request.environ
        if sysmeta_ok is None:
            sysmeta_ok = bool(environ.get("swift.sysmeta_ok"))
            environ["swift.sysmeta_ok"] = True
        try:
            response: SwiftResponse = await handler(request, app)
        except _Refusal as refusal:
            response = refusal.response
        finally:
            if not sysmeta_ok:
                environ.pop("swift.sysmeta_ok", None)
        if not sysmeta_ok:
            strip_sys_meta("object", response.headers)
        return response

    def _get_or_head(self, request: SwiftRequest, app: IProxyApplication
                     ) -> "Deferred[SwiftResponse]":
        """
        A GET or HEAD that follows links: what L{_guarded} does with
        L{_get}, with no coroutine waiting for the answer of an object that
        is no link (most are).
        """
        environ = request.environ
        sysmeta_ok = bool(environ.get("swift.sysmeta_ok"))
        environ["swift.sysmeta_ok"] = True
        # A symlink is empty: the object servers must not refuse its
        # Range (the range is for the target).
        _append_header(request, _IGNORE_RANGE, TARGET_SYSMETA)
        try:
            answer: Deferred[SwiftResponse] = app(request)
        except Exception:
            # Failed, as the coroutine's answer would.
            answer = fail()
        return answer.addBoth(self._first_answer, request, app, sysmeta_ok)

    def _first_answer(self, result: Any, request: SwiftRequest, app: IProxyApplication,
                      sysmeta_ok: bool) -> Any:
        if not isinstance(result, Failure) and result.headers.get(TARGET_SYSMETA):
            # A link: the walk goes on from here.
            return Deferred.fromCoroutine(self._guarded(
                lambda request, app: _Traversal(app, self.symloop_max, request).step(
                    request, result), request, app, sysmeta_ok))
        if not sysmeta_ok:
            request.environ.pop("swift.sysmeta_ok", None)
            if not isinstance(result, Failure):
                strip_sys_meta("object", result.headers)
        return result

    # -- containers -------------------------------------------------------

    def _container_get(self, request: SwiftRequest, app: IProxyApplication,
                       version: str, account: str) -> "Deferred[SwiftResponse]":
        def rewrite(items: list[Any]) -> list[Any]:
            for item in items:
                if isinstance(item, dict):
                    stored = item.get("hash")
                    if type(stored) is str and ";" not in stored:
                        # No parameters (most entries): no symlink; what
                        # rewrite_listing_item does to it, without a call.
                        item["hash"] = stored.strip()
                    else:
                        rewrite_listing_item(item, version, account)
            return list(items)

        setattr(rewrite, RAW_UNCHANGED_ATTRIBUTE, listing_unchanged)
        environ = request.environ
        before = environ.get(LISTING_REWRITES_ENVIRON_KEY, ())
        environ[LISTING_REWRITES_ENVIRON_KEY] = tuple(before) + (rewrite,)

        def restore(response: SwiftResponse) -> SwiftResponse:
            environ[LISTING_REWRITES_ENVIRON_KEY] = before
            return response

        d: Deferred[SwiftResponse] = app(request)
        return d.addBoth(restore)

    # -- objects ----------------------------------------------------------

    async def _get_link(self, request: SwiftRequest, app: IProxyApplication
                        ) -> SwiftResponse:
        response: SwiftResponse = await app(request)
        headers = response.headers
        for user, sysmeta in _SYSMETA_TO_USER:
            if sysmeta in headers:
                headers[user] = headers.pop(sysmeta)
        return response

    async def _get(self, request: SwiftRequest, app: IProxyApplication) -> SwiftResponse:
        # A symlink is empty: the object servers must not refuse its
        # Range (the range is for the target).
        _append_header(request, _IGNORE_RANGE, TARGET_SYSMETA)
        return await _Traversal(app, self.symloop_max, request).walk(request)

    async def _post(self, request: SwiftRequest, app: IProxyApplication) -> SwiftResponse:
        method = request.method
        if TARGET in request.headers:
            raise _plain(400, "A PUT request is required to set a symlink target", method)
        response: SwiftResponse = await app(request)
        if not response.is_success:
            return response
        headers = response.headers
        target = headers.get(TARGET_SYSMETA)
        if not target:
            return response
        drop_body(response.body)
        version, account, _ = split_path(request.path, 2, 3, True)
        assert version is not None and account is not None
        target_account = headers.get(TARGET_ACCOUNT_SYSMETA) or wire_quote(account)
        redirect = {"Location": posixpath.join("/", version, target_account, target)}
        target_etag = headers.get(TARGET_ETAG_SYSMETA)
        if target_etag:
            redirect[TARGET_ETAG] = target_etag
        # The link's own system metadata goes with the redirect (object
        # versioning reads its versions-symlink flag there); it is removed
        # again on the way out unless the caller asked for sysmeta.
        for name, value in headers.items():
            if is_sys_meta("object", name):
                redirect[name] = value
        return error_response(
            307, "The requested POST was applied to a symlink. POST directly to the "
            "target to apply requested metadata.", headers=redirect, method=method,
            content_type="text/html; charset=UTF-8")

    async def _put(self, request: SwiftRequest, app: IProxyApplication) -> SwiftResponse:
        method = request.method
        try:
            length = request.content_length
        except ValueError:
            return await app(request)  # type: ignore[no-any-return]
        if length is None and request.body is not None:
            try:
                await read_body(request.body, limit=0)
            except BodyTooLarge:
                length = 1
            else:
                request.body = None
                request.headers.pop("Transfer-Encoding", None)
                request.headers["Content-Length"] = "0"
        if length:
            raise _plain(400, "Symlink requests require a zero byte body", method)
        target_path, etag = _check_put_headers(request)
        headers = request.headers
        if etag:
            await self._static_target(request, app, target_path, etag)
        for user, sysmeta in _USER_TO_SYSMETA:
            if user in headers:
                headers[sysmeta] = headers.pop(user)
        override = [headers.get(_OVERRIDE_ETAG, _MD5_OF_EMPTY),
                    f"symlink_target={headers[TARGET_SYSMETA]}"]
        if TARGET_ACCOUNT_SYSMETA in headers:
            override.append(f"symlink_target_account={headers[TARGET_ACCOUNT_SYSMETA]}")
        if TARGET_ETAG_SYSMETA in headers:
            override.append(f"symlink_target_etag={headers[TARGET_ETAG_SYSMETA]}")
            override.append(f"symlink_target_bytes={headers.get(TARGET_BYTES_SYSMETA, '')}")
        headers[_OVERRIDE_ETAG] = "; ".join(override)
        return await app(request)  # type: ignore[no-any-return]

    async def _static_target(self, request: SwiftRequest, app: IProxyApplication,
                             target_path: str, etag: str) -> None:
        """
        Check that the target of a static link exists with C{etag}, and
        keep its size (and an SLO's etag) for the listing.

        @raise _Refusal: when it does not.
        """
        headers = request.headers
        headers.pop(TARGET_ETAG, None)
        if request.environ.get(SYMLINK_OVERRIDE_ENVIRON_KEY):
            headers[TARGET_ETAG_SYSMETA] = etag
            headers[TARGET_BYTES_SYSMETA] = headers.pop(TARGET_BYTES, "")
            return
        headers.pop(TARGET_BYTES, None)
        method = request.method
        environ = sub_environ(request.environ, "SYM")
        environ["swift.sysmeta_ok"] = True
        head_headers = HeaderDict()
        for name in ("User-Agent", "X-Auth-Token"):
            if name in headers:
                head_headers[name] = headers[name]
        if headers.get("X-Backend-Allow-Reserved-Names"):
            head_headers["X-Backend-Allow-Reserved-Names"] = "true"
        head = SwiftRequest("HEAD", wire_quote(target_path).encode("ascii"), head_headers,
                            client_ip=request.client_ip, environ=environ)
        walk = _Traversal(app, self.symloop_max, request)
        walk.last_target = target_path
        response = await walk.walk(head, target_etag=etag, follow_dynamic=False)
        drop_body(response.body)
        if response.status == 404:
            raise _plain(409, "X-Symlink-Target does not exist", method,
                         {"Content-Location": target_path})
        if not response.is_success:
            raise _Refusal(error_response(response.status, method=method))
        found = response.headers
        if _OVERRIDE_ETAG in found and _OVERRIDE_ETAG not in headers:
            _, sep, params = found[_OVERRIDE_ETAG].partition(";")
            headers[_OVERRIDE_ETAG] = _MD5_OF_EMPTY + sep + params
        slo_etag = found.get("X-Object-Sysmeta-Slo-Etag")
        if slo_etag and _OVERRIDE_ETAG not in headers:
            headers[_OVERRIDE_ETAG] = f"{_MD5_OF_EMPTY}; slo_etag={slo_etag}"
        headers[TARGET_BYTES_SYSMETA] = (
            found.get("X-Object-Sysmeta-Slo-Size") or found.get("Content-Length", "0"))
        headers[TARGET_ETAG_SYSMETA] = etag
        if not headers.get("Content-Type") and "Content-Type" in found:
            headers["Content-Type"] = found["Content-Type"]


def _check_put_headers(request: SwiftRequest) -> tuple[str, Optional[str]]:
    """
    Check a symlink C{PUT}'s target headers and put them in their stored
    form.

    @return: the target's path (a WSGI string) and the static link's etag
        (or C{None}).
    @raise _Refusal: 412 for a target of the wrong form or a bad account,
        400 for a link to itself or an etag Swift cannot store.
    """
    method = request.method
    headers = request.headers
    raw = unquote_name_header(headers[TARGET])
    if raw.startswith("/"):
        raise _plain(412, _TARGET_FORM, method)
    try:
        container, obj = split_path("/" + raw, 2, 2, True)
    except ValueError:
        raise _plain(412, _TARGET_FORM, method) from None
    assert container and obj
    headers[TARGET] = wire_quote(f"{container}/{obj}")
    version, account, own_container, own_obj = split_path(request.path, 4, 4, True)
    target_account = account
    if TARGET_ACCOUNT in headers:
        target_account = unquote_name_header(headers[TARGET_ACCOUNT])
        refused = check_account_format(target_account, method)
        if refused is not None:
            raise _Refusal(refused)
        headers[TARGET_ACCOUNT] = wire_quote(target_account)
    if (target_account, container, obj) == (account, own_container, own_obj):
        raise _plain(400, "Symlink cannot target itself", method)
    etag = normalize_etag(headers.get(TARGET_ETAG)) or None
    if etag and any(c in etag for c in ';"\\'):
        raise _plain(400, "Bad X-Symlink-Target-Etag format", method)
    if not (etag or headers.get("Content-Type")):
        headers["Content-Type"] = "application/symlink"
    return f"/v1/{target_account}/{container}/{obj}", etag


@implementer(IPlugin, IProxyPluginFactory)
class _SymlinkFactory:
    name = "symlink"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> Symlinks:
        """
        @param conf: C{symloop_max}, the most links a request follows
            (default 2; below 1 means the default).
        @param context: provides C{register_info}.
        @raise ConfigError: for a C{symloop_max} that is not an integer.
        """
        raw = conf.get("symloop_max", str(DEFAULT_SYMLOOP_MAX))
        try:
            symloop_max = int(raw)
        except ValueError:
            raise ConfigError(
                f"[filter:symlink] symloop_max: not an integer: {raw!r}") from None
        if symloop_max < 1:
            symloop_max = DEFAULT_SYMLOOP_MAX
        context.register_info("symlink", symloop_max=symloop_max, static_links=True)
        return Symlinks(symloop_max)


symlinkPlugin = _SymlinkFactory()
