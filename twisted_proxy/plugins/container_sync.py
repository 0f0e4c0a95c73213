# -*- test-case-name: tests.test_container_sync -*-
"""
The C{container_sync} plugin: Swift 2.38.3's C{container_sync} middleware,
which lets Swift's C{swift-container-sync} daemon write into a container
with the realm keys of C{container-sync-realms.conf} (see
L{twisted_proxy.swift.syncrealms}) instead of a user's token. Place it
before the auth stage.

 - A request bearing C{X-Container-Sync-Auth: REALM NONCE SIGNATURE} for a
   container or object is checked against the realm's C{key} (or C{key2})
   and the container's C{X-Container-Sync-Key}, over the request's method,
   path and C{X-Timestamp}. A good signature lets the request past the
   auth stage (C{swift.authorize_override}), keeps its C{X-Timestamp} (the
   synced object's own time, which the front end otherwise moves aside),
   and lets SLO manifests and static symlinks be written as they are
   (C{swift.slo_override}, C{swift.symlink_override}). Anything else (not
   three words, an unknown realm, a container with no sync key, a wrong
   signature) is C{401}, with C{Www-Authenticate: SwiftContainerSync
   realm="ACCOUNT"}. The access log's C{log_info} says why (C{cs:valid},
   C{cs:not-3-args}, C{cs:no-local-realm-key}, C{cs:no-local-user-key},
   C{cs:invalid-sig}).
 - A container C{PUT} or C{POST} setting C{X-Container-Sync-To} on a
   container with object versioning is C{400}; with C{allow_full_urls =
   false}, a C{X-Container-Sync-To} that is no C{//REALM/CLUSTER/ACCOUNT/
   CONTAINER} is C{400}. Whether a value names a known realm and cluster
   (or, for a URL, one of the container servers' C{allowed_sync_hosts}) is
   for the container servers to say, as in Swift: they answer C{400} with
   the reason.
 - C{/info} has a C{container_sync} section listing the realms and their
   clusters (never the keys), the C{current} one marked; the realms file
   is looked at again on every C{GET /info}, and otherwise every
   C{mtime_check_interval} seconds (as the file says; 300), and re-read
   when it changed.

Options: C{swift_dir} (where the realms file is; by default the proxy's,
the all-in-one cluster's with C{[aio]}), C{allow_full_urls} (true) and
C{current} (C{//REALM/CLUSTER}, this cluster's name in the realms file).

The realms file is read in the reactor's thread, as Swift reads it: one
C{stat} per interval and a small file when it changed.
"""

from __future__ import annotations

import errno
import os
from typing import Callable, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import implementer

from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.cache import ContainerInfo, InfoCache
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins._support.subrequest import fetch_container_info, preauthorized
from twisted_proxy.swift.http import (
    HTML,
    SwiftRequest,
    SwiftResponse,
    error_response,
    wire_quote,
)
from twisted_proxy.swift.paths import auth_realm, split_path
from twisted_proxy.swift.syncrealms import (
    DEFAULT_MTIME_CHECK_INTERVAL,
    SyncRealms,
    parse_current,
    parse_sync_realms,
    same_signature,
    sync_signature,
)
from twisted_proxy.swift.truthy import is_true

__all__ = ["ContainerSync", "RealmsFile", "containerSyncPlugin", "REALMS_FILE"]

_log = Logger()

#: The realms file's name, in C{swift_dir}.
REALMS_FILE = "container-sync-realms.conf"

_VERSIONED = ("Cannot configure container sync on a container with object "
              "versioning configured.")
_FULL_URL = ("Full URLs are not allowed for X-Container-Sync-To values. Only "
             "realm values of the format //realm/cluster/account/container "
             "are allowed.\n")
_BAD_AUTH = ("X-Container-Sync-Auth header not valid; contact cluster operator "
             "for support.")


class RealmsFile:
    """
    C{container-sync-realms.conf}, kept as Swift keeps it: read when made,
    then looked at (its mtime) when asked for at least
    C{mtime_check_interval} seconds after the last look, and read again
    when its mtime changed. A file that is missing or cannot be read keeps
    what was read before (logged: at debug level when missing).

    @param path: the file.
    @param clock: tells the time of the looks.
    """

    def __init__(self, path: str, clock: IReactorTime) -> None:
        self.path = path
        self._clock = clock
        self._interval = DEFAULT_MTIME_CHECK_INTERVAL
        self._next_look = 0.0
        self._mtime: Optional[float] = None
        self._realms = SyncRealms()
        self.reload()

    def reload(self) -> None:
        """
        Read the file now, whatever its mtime.
        """
        self._next_look = 0.0
        self._mtime = None
        self._look()

    @property
    def realms(self) -> SyncRealms:
        """
        The realms, after a look at the file if one is due.
        """
        self._look()
        return self._realms

    def _look(self) -> None:
        now = self._clock.seconds()
        if now < self._next_look:
            return
        self._next_look = now + self._interval
        try:
            mtime = os.path.getmtime(self.path)
        except OSError as error:
            missing = error.errno == errno.ENOENT
            (_log.debug if missing else _log.error)(
                "Could not load {path!r}: {error}", path=self.path, error=error)
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            with open(self.path, encoding="utf-8") as handle:
                realms = parse_sync_realms(handle.read())
        except (OSError, UnicodeDecodeError, ValueError) as error:
            _log.error("Could not load {path!r}: {error}", path=self.path, error=error)
            return
        if realms.mtime_check_interval is None:
            _log.error("Error in {path!r} with mtime_check_interval: not a number",
                       path=self.path)
        else:
            self._interval = realms.mtime_check_interval
            self._next_look = now + self._interval
        self._realms = realms


@implementer(IProxyFilter)
class ContainerSync:
    """
    Checks container-sync requests and C{X-Container-Sync-To} settings
    (see the module docstring).

    @param realms: the realms file.
    @param register_info: sets C{/info}'s C{container_sync} section.
    @param allow_full_urls: whether C{X-Container-Sync-To} may be a URL.
    @param current: this cluster's C{(REALM, CLUSTER)}, upper-case, or
        C{None}.
    @param valid_api_versions: the versions of Swift paths (C{v1}, ...).
    """

    def __init__(self, realms: RealmsFile, info_cache: InfoCache,
                 register_info: Callable[..., None], allow_full_urls: bool = True,
                 current: Optional[tuple[str, str]] = None,
                 valid_api_versions: tuple[str, ...] = ("v1", "v1.0")) -> None:
        self.realms = realms
        self._info_cache = info_cache
        self._register_info = register_info
        self.allow_full_urls = allow_full_urls
        self.current = current
        self._versions = valid_api_versions
        self.register()

    def register(self) -> None:
        """
        Set C{/info}'s C{container_sync} section from the realms as they
        are now; a C{current} cluster they do not have is logged.
        """
        realms = self.realms.realms
        try:
            shown = realms.info(self.current)
        except KeyError:
            assert self.current is not None
            _log.error("Unknown current //REALM/CLUSTER ({current})",
                       current="//%s/%s" % self.current)
            shown = realms.info()
        self._register_info("container_sync", realms=shown)

    def __call__(self, request: SwiftRequest, app: IProxyApplication
                 ) -> "Deferred[SwiftResponse]":
        if request.path == "/info":
            # The freshest realms for whoever asks.
            self.register()
            return app(request)  # type: ignore[no-any-return]
        try:
            version, account, container, obj = split_path(request.path, 3, 4, True)
        except ValueError:
            return app(request)  # type: ignore[no-any-return]
        if version not in self._versions:
            return app(request)  # type: ignore[no-any-return]
        assert version is not None and account is not None and container is not None
        sync_to = request.headers.get("X-Container-Sync-To")
        configuring = bool(sync_to) and request.method in ("PUT", "POST") and not obj
        if not configuring and not request.headers.get("X-Container-Sync-Auth"):
            # Nothing here needs the container's info.
            refused = self._full_url(request)
            if refused is not None:
                return succeed(refused)
            return app(request)  # type: ignore[no-any-return]
        return Deferred.fromCoroutine(self._judge(request, app, version, account, container,
                                                  configuring))

    def _full_url(self, request: SwiftRequest) -> Optional[SwiftResponse]:
        """
        The 400 for an C{X-Container-Sync-To} that is a URL when those are
        not allowed.
        """
        sync_to = request.headers.get("X-Container-Sync-To")
        if self.allow_full_urls or not sync_to or sync_to.startswith("//"):
            return None
        return error_response(400, _FULL_URL, method=request.method, content_type=HTML)

    async def _judge(self, request: SwiftRequest, app: IProxyApplication, version: str,
                     account: str, container: str, configuring: bool) -> SwiftResponse:
        info = await fetch_container_info(request, app, self._info_cache, version, account,
                                          container, preauthorized("CS"))
        if configuring and (info.get("sysmeta") or {}).get("versions-container"):
            return error_response(400, _VERSIONED, method=request.method, content_type=HTML)
        refused = self._full_url(request)
        if refused is not None:
            return refused
        auth = request.headers.get("X-Container-Sync-Auth")
        if auth:
            why = self._check_auth(request, info, auth)
            request.environ.setdefault("swift.log_info", []).append(why)
            if why != "cs:valid":
                return error_response(401, _BAD_AUTH, {
                    "Www-Authenticate":
                        f'SwiftContainerSync realm="{auth_realm(request.path)}"',
                }, method=request.method, content_type="text/plain")
            environ = request.environ
            environ["swift.authorize_override"] = True
            # A manifest is synced in the form it is stored, maybe before
            # its segments; a static link before its target.
            environ["swift.slo_override"] = True
            environ["swift.symlink_override"] = True
        return await app(request)  # type: ignore[no-any-return]

    def _check_auth(self, request: SwiftRequest, info: ContainerInfo, auth: str) -> str:
        """
        Judge C{X-Container-Sync-Auth}; the C{log_info} word saying how it
        went (C{cs:valid} when good). A request with a realm and sync key
        to judge by gets back the C{X-Timestamp} the front end moved aside.
        """
        words = auth.split()
        if len(words) != 3:
            return "cs:not-3-args"
        realm, nonce, signature = words
        realms = self.realms.realms
        realm_key = realms.key(realm)
        realm_key2 = realms.key2(realm)
        if not realm_key:
            return "cs:no-local-realm-key"
        user_key = info.get("sync_key")
        if not user_key:
            return "cs:no-local-user-key"
        headers = request.headers
        inbound = headers.pop("X-Backend-Inbound-X-Timestamp", None)
        if inbound is not None:
            headers["X-Timestamp"] = inbound
        timestamp = headers.get("X-Timestamp", "0")
        path = wire_quote(request.path)
        for key in (realm_key, realm_key2):
            if not key:
                continue
            try:
                expected = sync_signature(request.method, path, timestamp, nonce, key,
                                          user_key)
            except UnicodeEncodeError:
                return "cs:invalid-sig"
            if same_signature(signature, expected):
                return "cs:valid"
        return "cs:invalid-sig"


@implementer(IPlugin, IProxyPluginFactory)
class _ContainerSyncFactory:
    name = "container_sync"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> ContainerSync:
        """
        @param conf: C{swift_dir}, C{allow_full_urls} (true), C{current}
            (none). A C{current} that is not C{//REALM/CLUSTER} is logged
            and left out, as Swift does.
        @param context: provides C{reactor}, C{info_cache}, C{rings} (whose
            C{swift_dir} is the default), C{constraints} and
            C{register_info}.
        """
        swift_dir = conf.get("swift_dir") or context.rings.swift_dir
        current: Optional[tuple[str, str]] = None
        if conf.get("current"):
            try:
                current = parse_current(conf["current"])
            except ValueError as error:
                _log.error("{error}", error=str(error))
        context.register_info("container_sync")
        return ContainerSync(
            RealmsFile(os.path.join(swift_dir, REALMS_FILE), context.reactor),
            context.info_cache, context.register_info,
            allow_full_urls=is_true(conf.get("allow_full_urls", "true")),
            current=current,
            valid_api_versions=context.constraints.valid_api_versions,
        )


containerSyncPlugin = _ContainerSyncFactory()
