# -*- test-case-name: tests.test_tempauth -*-
"""
tempauth: Swift's test authentication system, as a pipeline plugin.

Users, their keys and their groups are listed in the configuration. A user
trades its credentials for a token at C{GET <auth_prefix>v1.0}; tokens live
in the proxy's L{IInfoStore} until they expire. The plugin then does what
Swift's tempauth middleware does: it resolves a request's token to the
user's groups and installs the C{authorize} callback that the controllers
consult.

Configuration (the C{[filter:tempauth]} section over C{[DEFAULT]}):

 - C{reseller_prefix} (C{AUTH}): a comma separated list of account name
   prefixes this plugin is the authority for; an C{_} is appended to each
   and C{''} means the empty prefix. The first one prefixes tokens and the
   default storage URLs.
 - C{auth_prefix} (C{/auth/}): where tokens are handed out.
 - C{token_life} (C{86400}): seconds a token lasts.
 - C{allow_overrides} (true): a request whose environ holds a true
   C{swift.authorize_override} passes by untouched.
 - C{storage_url_scheme} (C{default}): the scheme of the storage URLs handed
   out; C{default} takes the request's own (C{environ['wsgi.url_scheme']}).
 - C{user_<account>_<user> = <key> [group ...] [storage_url]}, or
   C{user64_<b64 account>_<b64 user>} for names holding C{_}. Special groups:
   C{.admin} (owner of the account), C{.reseller_admin} (owner of every
   account under the prefixes), C{.reseller_reader} (may GET and HEAD every
   account). A trailing item holding C{://} or C{$HOST} is the storage URL;
   C{$HOST} is replaced by C{<scheme>://<Host header>}. The default is
   C{$HOST/v1/<first prefix><account>}.
 - C{require_group}, C{<prefix>_require_group} (e.g.
   C{SERVICE_require_group = service}): a group that must also be among the
   request's groups (from C{X-Auth-Token} and C{X-Service-Token} together)
   for an account's owner to be its owner.

Option names are case-sensitive, as in Swift.

S3 requests
===========

A request the C{s3api} plugin signed for carries its
L{twisted_proxy.interfaces.IS3Signature} in C{environ['s3api.auth_details']}
and the access key as the path's account (C{/v1/test:tester/bucket}). As
Swift's tempauth does, the access key names a user (C{account:user}) whose
key must check the signature; then the access key in the path becomes the
user's account id and the request is the user's, as with a token. A
signature that does not check leaves the request anonymous.

The contract with the controllers
=================================

For a request this plugin handles, C{request.environ} gets:

 - C{swift.authorize}: L{TempAuth.authorize} (or, for an account that is not
   under one of the prefixes, a callable that always refuses), taking the
   request and returning C{None} to allow it or a L{SwiftResponse} to send
   back instead. It is synchronous and may be called more than once;
   C{swift_owner} is only ever set, never cleared, by a call.
 - C{swift.clean_acl}: L{twisted_proxy.swift.acl.clean_acl}, to validate
   C{X-Container-Read}/C{X-Container-Write} before they are stored (its
   C{ValueError} message is the 400 body).
 - C{REMOTE_USER}: for a valid token, the user's groups comma-joined:
   account, C{account:user}, configured groups, and for C{.admin} users the
   account ids under each prefix (C{test,test:tester,AUTH_test}); the
   service token's groups follow.
 - C{reseller_request}: C{True} for a C{.reseller_admin}.
 - C{swift.access_logging}: a dict whose C{user_id} names the user.

Before calling C{authorize}, a controller sets:

 - C{request.acl}: the container's C{X-Container-Read} (GET, HEAD) or
   C{X-Container-Write} (PUT, POST, DELETE) ACL for container and object
   requests, when known; left unset (or C{None}) otherwise. The first call
   (before any info is loaded) has none; methods that delay denial call
   again once it is known.
 - C{environ['tempauth.account_acl']}: the account's stored ACL, the raw
   value of its C{X-Account-Sysmeta-Core-Access-Control} (C{None} or
   absent when it has none). Swift reads account info from inside
   C{authorize}; here it must be present before the first call for the
   account's requests (account requests never delay their denial), at
   least when C{REMOTE_USER} is set.
 - optionally C{environ['swift_sync_key']}: the container's sync key;
   a request bearing it in C{X-Container-Sync-Key} with an C{X-Timestamp}
   is allowed.

C{authorize} then returns:

 - C{None}, and sets C{environ['swift_owner'] = True} for the account's
   owner (its id among the groups, with the required group if any, for
   anything but PUT/DELETE of the account itself), for a reseller admin
   (anything, on any account under the prefixes but the bare prefix and
   C{<prefix>.xxx}) and for an account ACL C{admin}. Reseller readers,
   container ACL matches (referrer designations for objects, or for
   listings with C{.rlistings}; groups), account ACL C{read-write}
   (anything on containers and objects, GET/HEAD on the account) and
   C{read-only} (GET/HEAD) are allowed without becoming owners, and so is
   every OPTIONS request.
 - a 401 (anonymous) or 403 (C{REMOTE_USER} set) otherwise;
 - a 400 (C{text/plain}, Swift's message) when the request carries an
   C{X-Account-Access-Control} that tempauth cannot accept, whoever sends
   it; a valid one is moved to C{X-Account-Sysmeta-Core-Access-Control}
   in C{request.headers}, so the gatekeeper must have removed any sysmeta
   the client sent before this plugin runs;
 - a 404 for a path that is not C{/<version>/<account>...}.

The account controller shows C{X-Account-Access-Control} (from the sysmeta,
via L{twisted_proxy.swift.acl.parse_account_acl} and
L{twisted_proxy.swift.acl.format_account_acl}) only when C{swift_owner} is set.

Tokens are stored under C{tempauth/token/<token>} as C{[expires, groups]},
and each user's current token under C{tempauth/user/<prefix>/<account:user>}.
"""

from __future__ import annotations

import base64
import hmac
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Protocol, Union
from urllib.parse import quote, unquote

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.plugin import IPlugin
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_proxy.config import ConfigError
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.interfaces import IProxyFilter, IProxyPluginFactory
from twisted_proxy.swift.acl import (
    ACCOUNT_ACL_ENVIRON_KEY,
    account_acl_grants,
    check_account_acl,
    clean_acl,
    parse_acl,
    referrer_allowed,
)
from twisted_proxy.swift.http import (
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
    str_to_wsgi,
    wire_quote,
    wsgi_to_bytes,
    wsgi_to_str,
)
from twisted_proxy.swift.paths import auth_realm, split_path
from twisted_proxy.swift.truthy import is_true

__all__ = [
    "DEFAULT_TOKEN_LIFE",
    "S3_AUTH_DETAILS",
    "ACCOUNT_ACL_ENVIRON_KEY",
    "TempAuth",
    "TempAuthPluginFactory",
    "tempauthPlugin",
]

DEFAULT_TOKEN_LIFE = 86400

#: Where the s3api plugin leaves an S3 request's signature
#: (a L{twisted_proxy.interfaces.IS3Signature}).
S3_AUTH_DETAILS = "s3api.auth_details"

#: How many validated tokens each process remembers.
_KNOWN_TOKENS = 100_000


_ACCOUNT_ACL_HEADER = "X-Account-Access-Control"
_ACCOUNT_ACL_SYSMETA = "X-Account-Sysmeta-Core-Access-Control"
_TOKEN_VERSIONS = ("v1", "v1.0", "auth")

_log = Logger()

_App = Callable[[SwiftRequest], "Deferred[SwiftResponse]"]

#: What L{TempAuth._known_groups} says of a token only the store knows.
_UNKNOWN: Any = object()


class _Clock(Protocol):
    """
    The part of L{twisted.internet.interfaces.IReactorTime} used here.
    """

    def seconds(self) -> float: ...


class _Store(Protocol):
    """
    The part of L{twisted_proxy.interfaces.IInfoStore} used here.
    """

    def get(self, key: str) -> "Deferred[Any]": ...

    def set(self, key: str, value: Any, ttl: float) -> "Deferred[None]": ...


def _unauthorized(request: SwiftRequest, realm: Optional[str] = None) -> SwiftResponse:
    if realm is None:
        realm = auth_realm(request.path)
    return error_response(
        401,
        headers={"Www-Authenticate": f'Swift realm="{realm}"'},
        method=request.method,
    )


def _host_url(request: SwiftRequest) -> str:
    """
    C{<scheme>://<host>} as the client addressed this proxy: the C{Host}
    header, else C{SERVER_NAME:SERVER_PORT} from the environ; the scheme
    is C{environ['wsgi.url_scheme']} (default C{http}); a default port
    is dropped.
    """
    environ = request.environ
    if "Host" in request.headers:
        host = request.headers["Host"]
    else:
        host = "%s:%s" % (
            environ.get("SERVER_NAME", "localhost"),
            environ.get("SERVER_PORT", "80"),
        )
    scheme = environ.get("wsgi.url_scheme", "http")
    if (scheme == "http" and host.endswith(":80")) or (
        scheme == "https" and host.endswith(":443")
    ):
        host = host.rpartition(":")[0]
    return f"{scheme}://{host}"


@dataclass(frozen=True)
class _User:
    """
    One configured user.

    @ivar url: the storage URL, possibly holding C{$HOST}.
    @ivar groups: the groups listed after the key.
    """

    key: str
    url: str
    groups: tuple[str, ...]


def _read_reseller_prefixes(conf: Mapping[str, str]) -> list[str]:
    prefixes: list[str] = []
    for item in conf.get("reseller_prefix", "AUTH").split(","):
        prefix = item.strip()
        if not prefix:
            continue
        if prefix == "''":
            prefix = ""
        if prefix and not prefix.endswith("_"):
            prefix += "_"
        if prefix not in prefixes:
            prefixes.append(prefix)
    return prefixes or [""]


def _read_require_groups(
    conf: Mapping[str, str], prefixes: list[str]
) -> dict[str, str]:
    """
    The group each prefix requires of an owner (C{''} for none): its
    C{<prefix>require_group} option, else C{require_group}.
    """
    default = (conf.get("require_group") or "").strip()
    groups = {}
    for prefix in prefixes:
        own = conf.get((prefix or "''") + "require_group")
        groups[prefix] = own.strip() if own else default
    return groups


def _b64_name(encoded: str) -> str:
    padded = encoded + "=" * (-len(encoded) % 4)
    return base64.b64decode(padded).decode("utf-8")


def _read_users(conf: Mapping[str, str], url_prefix: str) -> dict[str, _User]:
    """
    The C{user_*} and C{user64_*} options, keyed by C{account:user}.

    @raise ValueError: for a malformed option name or a user without a key.
    """
    users = {}
    for option, value in conf.items():
        kind, underscore, names = option.partition("_")
        if kind not in ("user", "user64") or not underscore:
            continue
        account_user = names.split("_")
        if len(account_user) != 2:
            raise ValueError(f"key {option} was provided in an invalid format")
        account, user = account_user
        if kind == "user64":
            account, user = _b64_name(account), _b64_name(user)
        items = value.split()
        if not items:
            raise ValueError(f"{option} has no key set")
        key, groups = items[0], items[1:]
        if groups and ("://" in groups[-1] or "$HOST" in groups[-1]):
            url = groups.pop()
        else:
            url = f"$HOST/v1/{url_prefix}{quote(account)}"
        users[f"{account}:{user}"] = _User(key, url, tuple(groups))
    return users


def _normalise_auth_prefix(value: Optional[str]) -> str:
    if not value or not value.strip("/"):
        if value is not None:
            _log.warn(
                "Rewriting invalid auth prefix {prefix!r} to '/auth/' "
                "(a non-empty auth prefix path is required)",
                prefix=value,
            )
        return "/auth/"
    if not value.startswith("/"):
        value = "/" + value
    if not value.endswith("/"):
        value += "/"
    return value


@implementer(IProxyFilter)
class TempAuth:
    """
    The tempauth filter. See the module docstring for its configuration
    and its contract with the controllers.

    @ivar reseller_prefixes: the account prefixes this filter is the
        authority for, each ending in C{_} (or empty).
    @ivar reseller_prefix: the first of them, which prefixes tokens.
    @ivar users: the configured users, keyed by C{account:user}.
    """

    def __init__(
        self, conf: Mapping[str, str], clock: _Clock, store: _Store
    ) -> None:
        """
        @param conf: the filter's configuration.
        @param clock: an L{twisted.internet.interfaces.IReactorTime}: tells
            the time tokens expire by.
        @param store: an L{twisted_proxy.interfaces.IInfoStore}: where
            tokens are kept.
        @raise ValueError: for a bad option.
        """
        self._clock = clock
        self._store = store
        # Tokens never change before they expire: each process keeps the
        # ones it issued or validated, so a slow or unreachable store does
        # not turn a known token into a 401, and a hit costs no round trip.
        self._known_tokens: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self.reseller_prefixes = _read_reseller_prefixes(conf)
        self.reseller_prefix = self.reseller_prefixes[0]
        self.require_groups = _read_require_groups(conf, self.reseller_prefixes)
        self.auth_prefix = _normalise_auth_prefix(conf.get("auth_prefix"))
        token_life = conf.get("token_life", str(DEFAULT_TOKEN_LIFE))
        try:
            self.token_life = int(token_life)
        except ValueError:
            raise ValueError(
                f"token_life must be a whole number: {token_life!r}"
            ) from None
        self.allow_overrides = is_true(conf.get("allow_overrides", "t"))
        self.storage_url_scheme = conf.get("storage_url_scheme", "default")
        self.users = _read_users(conf, self.reseller_prefix)

    # Which accounts are ours

    def _account_prefix(self, account: Optional[str]) -> Optional[str]:
        """
        The reseller prefix C{account} falls under, or C{None}. The empty
        prefix, if configured, matches only what no other prefix does.
        """
        if account is None:
            return None
        for prefix in self.reseller_prefixes:
            if prefix and account.startswith(prefix):
                return prefix
        if "" in self.reseller_prefixes:
            return ""
        return None

    def _is_definitive_auth(self, path: str) -> bool:
        try:
            account = split_path(path, 1, 3, True)[1]
        except ValueError:
            return False
        # Accounts may only be claimed by a non-empty prefix, as in Swift.
        return bool(account) and bool(self._account_prefix(account))

    def _is_dot_account(self, account: str) -> bool:
        prefix = self._account_prefix(account)
        return prefix is not None and account[len(prefix):].startswith(".")

    # Tokens

    def _token_key(self, token: str) -> str:
        return f"tempauth/token/{token}"

    def _user_key(self, account_user: str) -> str:
        return f"tempauth/user/{self.reseller_prefix}/{account_user}"

    async def _groups_for_token(self, token: str) -> Optional[str]:
        """
        The comma-joined groups of a live token, or C{None}.
        """
        known = self._known_groups(token)
        if known is not _UNKNOWN:
            return known
        record = await self._store.get(self._token_key(token))
        try:
            expires, groups = record
        except (TypeError, ValueError):
            return None
        if not isinstance(expires, (int, float)) or not isinstance(groups, str):
            return None
        if expires < self._clock.seconds():
            return None
        self._remember_token(token, expires, groups)
        return groups or None

    def _known_groups(self, token: str) -> Any:
        """
        What is known of C{token} without asking the store: its groups,
        C{None} for a token that is not valid (not one of ours, or
        expired), or C{_UNKNOWN}.
        """
        if not token.startswith(self.reseller_prefix + "tk"):
            return None
        known = self._known_tokens.get(token)
        if known is None:
            return _UNKNOWN
        expires, groups = known
        # As the store, whose entry lapses at exactly C{expires}.
        if expires > self._clock.seconds():
            return groups or None
        del self._known_tokens[token]
        return None

    def _remember_token(self, token: str, expires: float, groups: str) -> None:
        self._known_tokens[token] = (expires, groups)
        while len(self._known_tokens) > _KNOWN_TOKENS:
            self._known_tokens.popitem(last=False)

    def _user_groups(self, account: str, account_user: str, account_id: str) -> str:
        """
        The groups a token for this user carries, comma-joined: the
        account, the user, the configured groups; C{.admin} is replaced
        by the account's id under every non-empty prefix, and the id of
        the storage URL's account.
        """
        groups = [account, account_user, *self.users[account_user].groups]
        if ".admin" in groups:
            groups.remove(".admin")
            groups.extend(
                prefix + account for prefix in self.reseller_prefixes if prefix
            )
            if account_id not in groups:
                groups.append(account_id)
        return ",".join(groups)

    # The pipeline

    def __call__(self, request: SwiftRequest, app: _App) -> "Deferred[SwiftResponse]":
        environ = request.environ
        if self.allow_overrides and environ.get("swift.authorize_override", False):
            return app(request)
        if request.path.startswith(self.auth_prefix):
            return self._answer_auth_request(request)
        headers = request.headers
        token = headers.get("X-Auth-Token", headers.get("X-Storage-Token"))
        if token and token.startswith(self.reseller_prefix):
            if "X-Service-Token" not in headers:
                known = self._known_groups(token)
                if known is not _UNKNOWN:
                    # A token this process knows: decided now, without a
                    # coroutine between the client and the rest.
                    return self._admit(request, app, known)
            return Deferred.fromCoroutine(self._authenticate(request, app, token))
        s3 = environ.get(S3_AUTH_DETAILS)
        if s3 is not None:
            return self._authenticate_s3(request, app, s3)
        self._install_for_anonymous(request)
        return app(request)

    async def _authenticate(
        self, request: SwiftRequest, app: _App, token: str
    ) -> SwiftResponse:
        groups = await self._groups_for_token(token)
        service_token = request.headers.get("X-Service-Token")
        if groups and service_token:
            service_groups = await self._groups_for_token(service_token)
            if service_groups:
                groups += "," + service_groups
        return await self._admit(request, app, groups)  # type: ignore[no-any-return]

    def _admit(self, request: SwiftRequest, app: _App, groups: Optional[str]
               ) -> "Deferred[SwiftResponse]":
        """
        Pass on a request whose token carries C{groups} (C{None} for a
        token of ours that is not valid), with what the authorization
        needs in its environ; or answer C{401}.
        """
        environ = request.environ
        if groups:
            names = groups.split(",", 2)
            environ["REMOTE_USER"] = groups
            environ["swift.authorize"] = self.authorize
            environ["swift.clean_acl"] = clean_acl
            environ.setdefault("swift.access_logging", {})["user_id"] = (
                names[1] if len(names) > 1 else names[0]
            )
            # Swift tests the joined string, not the list.
            if ".reseller_admin" in groups:
                environ["reseller_request"] = True
        elif self.reseller_prefix:
            # The token has our prefix, so nobody else can vouch for it.
            try:
                realm = split_path(request.path, 2, 3, True)[1] or "unknown"
            except ValueError:
                realm = "unknown"
            return succeed(_unauthorized(request, realm))
        elif "swift.authorize" not in environ:
            environ["swift.authorize"] = self.denied_response
        return app(request)

    def _authenticate_s3(self, request: SwiftRequest, app: _App, details: Any
                         ) -> "Deferred[SwiftResponse]":
        """
        A request the s3api plugin signed for: the access key names a user
        (C{account:user}) whose key must check the signature; then the
        access key in the path becomes the user's account, and the user's
        groups are the request's. A signature that does not check leaves
        the request anonymous (s3api answers C{SignatureDoesNotMatch}).
        """
        environ = request.environ
        access_key = getattr(details, "access_key", None)
        entry = self.users.get(access_key) if isinstance(access_key, str) else None
        if entry is None or not details.check_signature(entry.key):
            if "swift.authorize" not in environ:
                environ["swift.authorize"] = self.denied_response
            return app(request)
        assert isinstance(access_key, str)
        account = access_key.split(":", 1)[0]
        account_id = entry.url.rsplit("/", 1)[-1]
        wsgi_key = str_to_wsgi(access_key)
        if wsgi_key in request.path:
            request.path = request.path.replace(wsgi_key, unquote(account_id), 1)
            request.raw_path = wire_quote(request.path).encode("ascii")
        groups = self._user_groups(account, access_key, account_id)
        environ["REMOTE_USER"] = groups
        environ["swift.authorize"] = self.authorize
        environ["swift.clean_acl"] = clean_acl
        environ.setdefault("swift.access_logging", {})["user_id"] = access_key
        if ".reseller_admin" in groups:
            environ["reseller_request"] = True
        return app(request)

    def _install_for_anonymous(self, request: SwiftRequest) -> None:
        environ = request.environ
        if self._is_definitive_auth(request.path):
            environ["swift.authorize"] = self.authorize
            environ["swift.clean_acl"] = clean_acl
        elif self.reseller_prefix == "":
            # Another auth system may be the authority; only fill the gap.
            if "swift.authorize" not in environ:
                environ["swift.authorize"] = self.authorize
                environ["swift.clean_acl"] = clean_acl
        elif "swift.authorize" not in environ:
            environ["swift.authorize"] = self.denied_response

    # Authorisation

    def denied_response(self, request: SwiftRequest) -> SwiftResponse:
        """
        Refuse C{request}: 403 when it is authenticated (C{REMOTE_USER} is
        set), 401 when it is anonymous.
        """
        if request.environ.get("REMOTE_USER"):
            return error_response(403, method=request.method)
        return _unauthorized(request)

    def _check_account_acl_header(
        self, request: SwiftRequest
    ) -> Optional[SwiftResponse]:
        """
        Validate an C{X-Account-Access-Control} the request carries and
        move it to the sysmeta header it is stored under.

        @return: a 400 response for a bad one, else C{None}.
        """
        value = request.headers.get(_ACCOUNT_ACL_HEADER)
        if value is None:
            return None
        try:
            check_account_acl(wsgi_to_str(value))
        except ValueError as error:
            return error_response(
                400,
                body=f"{_ACCOUNT_ACL_HEADER} invalid: {error}\n\nInput: {value}\n",
                method=request.method,
            )
        del request.headers[_ACCOUNT_ACL_HEADER]
        request.headers[_ACCOUNT_ACL_SYSMETA] = value
        return None

    def authorize(self, request: SwiftRequest) -> Optional[SwiftResponse]:
        """
        Decide whether C{request} may go ahead (Swift's C{swift.authorize}).
        See the module docstring for what the caller must have set first.

        @return: C{None} to allow it, else the response to send instead.
        """
        try:
            _, account, container, obj = split_path(request.path, 1, 4, True)
        except ValueError:
            return error_response(404, method=request.method)
        prefix = self._account_prefix(account)
        if account is None or prefix is None:
            return self.denied_response(request)

        # From here on this plugin is the authority for the account, so an
        # account ACL it is sent has to follow its rules.
        refusal = self._check_account_acl_header(request)
        if refusal is not None:
            return refusal

        environ = request.environ
        method = request.method
        user_groups = (environ.get("REMOTE_USER") or "").split(",")
        reading = method in ("GET", "HEAD")
        resellers_may = (
            account not in self.reseller_prefixes
            and not self._is_dot_account(account)
        )

        if ".reseller_admin" in user_groups and resellers_may:
            environ["swift_owner"] = True
            return None
        if ".reseller_reader" in user_groups and resellers_may and reading:
            return None

        # An owner may do anything but create or delete the account itself.
        if wsgi_to_str(account) in user_groups and (
            container or method not in ("PUT", "DELETE")
        ):
            required = self.require_groups.get(prefix, "")
            if not required or required in user_groups:
                environ["swift_owner"] = True
                return None

        sync_key = environ.get("swift_sync_key")
        if (
            sync_key
            and sync_key == request.headers.get("X-Container-Sync-Key")
            and "X-Timestamp" in request.headers
        ):
            return None

        if method == "OPTIONS":
            return None

        referrers, acl_groups = parse_acl(getattr(request, "acl", None))
        if referrer_allowed(request.headers.get("Referer"), referrers) and (
            obj or ".rlistings" in acl_groups
        ):
            return None
        if any(group in acl_groups for group in user_groups):
            return None

        grants = account_acl_grants(environ.get(ACCOUNT_ACL_ENVIRON_KEY))
        if grants is not None:
            mine = set(user_groups)
            if mine.intersection(grants["admin"]):
                environ["swift_owner"] = True
                return None
            # read-write allows everything below the account, but only
            # reading the account itself.
            if mine.intersection(grants["read-write"]) and (container or reading):
                return None
            if mine.intersection(grants["read-only"]) and reading:
                return None

        return self.denied_response(request)

    # Handing out tokens

    def _answer_auth_request(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        d = Deferred.fromCoroutine(self._auth_request(request))

        def failed(reason: Failure) -> SwiftResponse:
            _log.failure(
                "tempauth could not answer {request!r}", reason, request=request
            )
            return SwiftResponse(
                500, {"Content-Type": "text/plain"}, b"Internal server error.\n"
            )

        d.addErrback(failed)
        return d

    async def _auth_request(self, request: SwiftRequest) -> SwiftResponse:
        if request.method != "GET":
            return error_response(405, method=request.method)
        # What follows the prefix, keeping its leading slash.
        path = request.path[len(self.auth_prefix) - 1:]
        try:
            version = split_path(path, 1, 4, True)[0]
        except ValueError:
            return error_response(404, method=request.method)
        if version not in _TOKEN_VERSIONS:
            return error_response(400, method=request.method)
        credentials = self._credentials(request, path)
        if isinstance(credentials, SwiftResponse):
            return credentials
        return await self._issue_token(request, *credentials)

    def _credentials(
        self, request: SwiftRequest, path: str
    ) -> Union[SwiftResponse, tuple[str, str, str]]:
        """
        The C{(account, user, key)} a token request presents, as WSGI
        strings, or the response refusing it.

        C{GET /v1/<account>/auth} takes C{X-Storage-User: <user>} (or
        C{X-Auth-User: <account>:<user>}) and C{X-Storage-Pass} (or
        C{X-Auth-Key}); C{GET /v1.0} and C{GET /auth} take
        C{X-Auth-User: <account>:<user>} (or C{X-Storage-User}) and
        C{X-Auth-Key} (or C{X-Storage-Pass}).
        """
        try:
            version, path_account, rest = split_path(path, 1, 3, True)
        except ValueError:
            return error_response(404, method=request.method)
        headers = request.headers
        if version == "v1" and rest == "auth" and path_account is not None:
            account = path_account
            user = headers.get("X-Storage-User")
            if not user:
                user = headers.get("X-Auth-User")
                if not user or ":" not in user:
                    return _unauthorized(request, account)
                named_account, user = user.split(":", 1)
                # Swift compares the decoded path account with the header's
                # undecoded one.
                if wsgi_to_str(account) != named_account:
                    return _unauthorized(request, account)
            key = headers.get("X-Storage-Pass") or headers.get("X-Auth-Key")
        elif version in ("auth", "v1.0"):
            user = headers.get("X-Auth-User") or headers.get("X-Storage-User")
            if not user or ":" not in user:
                return _unauthorized(request, "unknown")
            account, user = user.split(":", 1)
            key = headers.get("X-Auth-Key") or headers.get("X-Storage-Pass")
        else:
            return error_response(400, method=request.method)
        if not (account and user and key):
            return _unauthorized(request, account or "unknown")
        return account, user, key

    async def _issue_token(
        self, request: SwiftRequest, wsgi_account: str, wsgi_user: str, wsgi_key: str
    ) -> SwiftResponse:
        account = wsgi_to_str(wsgi_account)
        account_user = f"{account}:{wsgi_to_str(wsgi_user)}"
        request.environ.setdefault("swift.access_logging", {})["user_id"] = account_user
        entry = self.users.get(account_user)
        offered = wsgi_to_bytes(wsgi_key)
        expected = entry.key.encode("utf-8", errors="surrogateescape") if entry else b""
        if entry is None or not hmac.compare_digest(offered, expected):
            return _unauthorized(request, wsgi_account)

        account_id = entry.url.rsplit("/", 1)[-1]
        groups = self._user_groups(account, account_user, account_id)
        token, expires = await self._current_token(account_user, groups)
        if token is None:
            token, expires = await self._new_token(account_user, groups)

        host_url = wsgi_to_str(_host_url(request))
        url = entry.url.replace("$HOST", host_url)
        if self.storage_url_scheme != "default":
            url = self.storage_url_scheme + ":" + url.partition(":")[2]
        headers = HeaderDict(
            [
                ("Content-Type", "text/html; charset=UTF-8"),
                ("X-Auth-Token", token),
                ("X-Storage-Token", token),
                ("X-Auth-Token-Expires", str(int(expires - self._clock.seconds()))),
                ("X-Storage-Url", str_to_wsgi(url)),
            ]
        )
        return SwiftResponse(200, headers, b"")

    async def _current_token(
        self, account_user: str, groups: str
    ) -> tuple[Optional[str], float]:
        """
        The user's unexpired token, if it carries exactly C{groups} (as a
        set): a configuration change gets the user a new one.
        """
        token = await self._store.get(self._user_key(account_user))
        if not isinstance(token, str):
            return None, 0.0
        record = await self._store.get(self._token_key(token))
        try:
            expires, old_groups = record
        except (TypeError, ValueError):
            return None, 0.0
        if (
            not isinstance(old_groups, str)
            or expires <= self._clock.seconds()
            or set(old_groups.split(",")) != set(groups.split(","))
        ):
            return None, 0.0
        return token, expires

    async def _new_token(self, account_user: str, groups: str) -> tuple[str, float]:
        token = f"{self.reseller_prefix}tk{uuid.uuid4().hex}"
        expires = self._clock.seconds() + self.token_life
        self._remember_token(token, expires, groups)
        await self._store.set(
            self._token_key(token), [expires, groups], self.token_life
        )
        await self._store.set(self._user_key(account_user), token, self.token_life)
        return token, expires


@implementer(IPlugin, IProxyPluginFactory)
class TempAuthPluginFactory:
    """
    Makes L{TempAuth} filters for C{[filter:tempauth]}.
    """

    name = "tempauth"

    def make_filter(self, conf: Mapping[str, str], context: ProxyContext) -> TempAuth:
        """
        Build the filter, and announce C{tempauth: {account_acls: true}} in
        C{/info} as Swift does.

        @param context: provides C{reactor}, C{info_store} and
            C{register_info}.
        @raise ConfigError: for a bad option.
        """
        try:
            auth = TempAuth(conf, context.reactor, context.info_store)
        except ValueError as error:
            raise ConfigError(f"tempauth: {error}") from error
        context.register_info("tempauth", account_acls=True)
        return auth


tempauthPlugin = TempAuthPluginFactory()
