# -*- test-case-name: tests.test_subrequest -*-
"""
What plugins that make their own requests through the pipeline (copy, dlo,
slo, bulk, container quotas, tempurl, formpost) share: telling object
paths, reading or dropping a request's or response's body, the bodies of
sub-requests, and the environ of a sub-request made as the client.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, TypeVar

from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.interfaces import IConsumer, IPushProducer
from twisted.python.failure import Failure
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from twisted_proxy.info.cache import (
    INFO_ENVIRON_KEY,
    AccountInfo,
    ContainerInfo,
    Info,
    InfoCache,
    account_key,
    container_key,
)
from twisted_proxy.interfaces import IProxyApplication
from twisted_proxy.swift.http import Body, SwiftRequest, SwiftResponse, wire_quote
from twisted_proxy.swift.paths import split_path

__all__ = [
    "BodyTooLarge",
    "SourceBody",
    "PulledBody",
    "object_path",
    "consume_body",
    "read_body",
    "drop_body",
    "sub_environ",
    "EnvironOf",
    "preauthorized",
    "fetch_account_info",
    "fetch_container_info",
    "account_info_now",
    "container_info_now",
]


def object_path(path: str) -> Optional[tuple[str, str, str, str]]:
    """
    C{(version, account, container, object)} when C{path} names an object
    (all four non-empty, the object keeping its slashes), else C{None}: the
    paths Swift's middlewares take with C{split_path(path, 4, 4, True)}.
    """
    try:
        version, account, container, obj = split_path(path, 4, 4, True)
    except ValueError:
        return None
    assert version and account and container and obj
    return version, account, container, obj


class BodyTooLarge(ValueError):
    """
    A body went past the limit its reader set.
    """


@implementer(IConsumer)
class _Feed:
    """
    Hands each chunk of a body to C{sink}; when C{sink} raises, stops the
    body and fails C{result} with the exception.
    """

    def __init__(self, body: IBodyProducer, sink: Callable[[bytes], None]) -> None:
        self._body = body
        self._sink = sink
        self.result: Deferred[None] = Deferred(lambda _: self._stop())
        self._over = False

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        pass

    def unregisterProducer(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        if self._over:
            return
        try:
            self._sink(data)
        except Exception:
            failure = Failure()
            self._stop()
            self.result.errback(failure)

    def _stop(self) -> None:
        if self._over:
            return
        self._over = True
        try:
            self._body.stopProducing()
        except Exception:
            # A body that already ended cannot be stopped.
            pass

    def ended(self, _: object) -> None:
        if not self._over:
            self._over = True
            self.result.callback(None)

    def failed(self, reason: Failure) -> None:
        if not self._over:
            self._over = True
            self.result.errback(reason)


def consume_body(body: Optional[Body], sink: Callable[[bytes], None]) -> "Deferred[None]":
    """
    Read a request or response body to its end, handing each chunk to
    C{sink} as it arrives (so that C{sink} can bound what it keeps).

    @param body: the body: bytes, a producer, or C{None} for none.
    @param sink: called with each chunk; an exception it raises stops the
        body at once.
    @return: a L{Deferred} that fires when the body has ended, or fails with
        C{sink}'s exception or the body's own failure. Cancelling it stops
        the body.
    """
    if body is None or isinstance(body, bytes):
        try:
            if body:
                sink(body)
        except Exception:
            return fail()
        return succeed(None)
    feed = _Feed(body, sink)
    body.startProducing(feed).addCallbacks(feed.ended, feed.failed)
    return feed.result


def read_body(body: Optional[Body], limit: Optional[int] = None) -> "Deferred[bytes]":
    """
    The whole of a (small) body.

    @param limit: the most bytes to take, or C{None} for no limit.
    @return: a L{Deferred} firing with the body, or failing with
        L{BodyTooLarge} (after stopping the body) once it exceeds C{limit},
        or with the body's own failure.
    """
    chunks: list[bytes] = []
    size = 0

    def sink(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if limit is not None and size > limit:
            raise BodyTooLarge(f"body longer than {limit} bytes")
        chunks.append(data)

    return consume_body(body, sink).addCallback(lambda _: b"".join(chunks))


def _ignore(data: bytes) -> None:
    pass


def drop_body(body: Body) -> None:
    """
    Let go of a response body nobody will read, closing its backend
    connection rather than leaving it waiting for a reader.
    """
    if isinstance(body, bytes):
        return
    consume_body(body, _ignore).addErrback(lambda _: None)
    body.stopProducing()


@implementer(IBodyProducer, IPushProducer)
class SourceBody:
    """
    A sub-request PUT's body made of a GET's answer body, passed through
    (a copy's destination, a version kept by versioned writes).

    @ivar started: whether the PUT began reading; if it never does, the
        source must be dropped by whoever made this.
    """

    def __init__(self, inner: Body, length: int) -> None:
        self._inner = inner
        self.length = length
        self.started = False

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        self.started = True
        inner = self._inner
        if isinstance(inner, bytes):
            if inner:
                consumer.write(inner)
            return succeed(None)
        return inner.startProducing(consumer)

    def pauseProducing(self) -> None:
        pause = getattr(self._inner, "pauseProducing", None)
        if pause is not None:
            pause()

    def resumeProducing(self) -> None:
        resume = getattr(self._inner, "resumeProducing", None)
        if resume is not None:
            resume()

    def stopProducing(self) -> None:
        if not isinstance(self._inner, bytes):
            self._inner.stopProducing()

    def drop(self) -> None:
        """
        Release the source when the PUT never read it.
        """
        if not self.started:
            self.started = True
            drop_body(self._inner)


@implementer(IBodyProducer, IPushProducer)
class PulledBody:
    """
    A sub-request's body taken from a source that gets it as it arrives
    (an archive member, a form's file): pulled as fast as the sub-request
    sends it, waiting for the source when it has nothing yet.

    @param pull: returns the next bytes, C{b""} when none have arrived yet
        (C{wait} then says when to pull again), or C{None} at the end; an
        exception it raises fails the body.
    @param wait: returns a L{Deferred} that fires when there may be more to
        pull, or fails (and the body with it).
    @param length: the body's length, or C{UNKNOWN_LENGTH}; a body of known
        length ends once that many bytes went out, even while paused.
    """

    def __init__(self, pull: Callable[[], Optional[bytes]],
                 wait: Callable[[], "Deferred[None]"], length: object) -> None:
        self._pull = pull
        self._wait = wait
        self.length = length
        self._left = length if isinstance(length, int) else None
        self._consumer: Optional[IConsumer] = None
        self._done: Optional[Deferred[None]] = None
        self._waiting: Optional[Deferred[None]] = None
        self._paused = False
        self._stopped = False
        self._pumping = False

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        self._consumer = consumer
        done: Deferred[None] = Deferred(lambda _: self.stopProducing())
        self._done = done
        self._pump()
        return done

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        if self._waiting is None:
            self._pump()

    def stopProducing(self) -> None:
        self._stopped = True
        self._done = None
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.cancel()

    def _pump(self) -> None:
        if self._pumping or self._consumer is None:
            return
        self._pumping = True
        try:
            while not self._paused and not self._stopped:
                try:
                    data = self._pull()
                except Exception:
                    self._fail(Failure())
                    return
                if data is None:
                    self._finish()
                    return
                if not data:
                    waiting = self._wait()
                    self._waiting = waiting
                    waiting.addCallbacks(self._arrived, self._fail)
                    return
                self._consumer.write(data)
                if self._left is not None:
                    self._left -= len(data)
                    if self._left <= 0:
                        self._finish()
                        return
        finally:
            self._pumping = False

    def _finish(self) -> None:
        self._stopped = True
        done, self._done = self._done, None
        if done is not None:
            done.callback(None)

    def _arrived(self, _: object) -> None:
        self._waiting = None
        self._pump()

    def _fail(self, reason: Failure) -> None:
        self._waiting = None
        if reason.check(CancelledError) or self._stopped:
            return
        self._stopped = True
        done, self._done = self._done, None
        if done is not None:
            done.errback(reason)


def sub_environ(environ: dict[str, Any], source: str) -> dict[str, Any]:
    """
    The environ of a sub-request made as the client by the plugin
    C{source} (Swift's C{swift.source}, e.g. C{SSC}, C{DLO}): a copy, so
    that what authorizing one sub-request leaves behind (C{swift_owner})
    does not apply to another, sharing the request's info cache; it gets
    its own access log line.
    """
    environ.setdefault(INFO_ENVIRON_KEY, {})
    sub = dict(environ)
    sub.pop("swift_owner", None)
    sub.pop("swift.proxy_access_log_made", None)
    sub["swift.source"] = source
    return sub


#: The keys of the info whose fetch a request is part of (a frozenset).
_FETCHING_ENVIRON_KEY = "twisted_proxy.info_fetching"

#: Derives the environ of an info sub-request from its client request's.
EnvironOf = Callable[[dict[str, Any]], dict[str, Any]]

_InfoT = TypeVar("_InfoT", AccountInfo, ContainerInfo)


def _allow(request: SwiftRequest) -> None:
    return None


def preauthorized(source: str) -> EnvironOf:
    """
    Derives the environ of the info sub-requests a plugin makes on its own
    account (as Swift's C{get_account_info}/C{get_container_info} with
    C{swift_source}): sharing the request's info, pre-authorized as
    Swift's C{make_pre_authed_env} makes them (an auth plugin the
    sub-request still passes through lets it by with
    C{swift.authorize_override}), logged as C{source}.
    """

    def environ_of(environ: dict[str, Any]) -> dict[str, Any]:
        sub = dict(environ)
        sub["swift.authorize"] = _allow
        sub["swift.authorize_override"] = True
        sub.pop("swift_owner", None)
        sub.pop("swift.proxy_access_log_made", None)
        sub["swift.source"] = source
        return sub

    return environ_of


def account_info_now(request: SwiftRequest, info_cache: InfoCache,
                     account: str) -> Optional[AccountInfo]:
    """
    The info of C{account} when it is at hand (known to this request, or
    kept in this process's memory), found as L{fetch_account_info} finds
    it, without waiting; C{None} when only L{fetch_account_info} can tell.
    """
    return _info_now(request, info_cache, account_key(account))  # type: ignore[return-value]


def container_info_now(request: SwiftRequest, info_cache: InfoCache, account: str,
                       container: str) -> Optional[ContainerInfo]:
    """
    The info of C{container} in C{account} when it is at hand, as
    L{account_info_now}; C{None} when only L{fetch_container_info} can
    tell.
    """
    return _info_now(  # type: ignore[return-value]
        request, info_cache, container_key(account, container))


def _info_now(request: SwiftRequest, info_cache: InfoCache, key: str) -> Optional[Info]:
    """
    What L{_fetch_info} would answer at once for C{key}, or C{None}. A
    lookup made by the very C{HEAD} that fetches C{key} is never answered
    here: it makes a C{HEAD} of its own.
    """
    environ = request.environ
    if key in environ.get(_FETCHING_ENVIRON_KEY, ()) and key not in environ.get(
            INFO_ENVIRON_KEY, ()):
        return None
    return info_cache.get_now(environ, key)


async def fetch_account_info(
    request: SwiftRequest,
    app: IProxyApplication,
    info_cache: InfoCache,
    version: str,
    account: str,
    environ_of: EnvironOf,
) -> AccountInfo:
    """
    The info of C{account}, for a plugin that runs before the controllers
    (see L{fetch_container_info}).
    """
    return await _fetch_info(
        request, app, info_cache, account_key(account), f"/{version}/{account}",
        environ_of, lambda status: AccountInfo(status=status, meta={}, sysmeta={}))


async def fetch_container_info(
    request: SwiftRequest,
    app: IProxyApplication,
    info_cache: InfoCache,
    version: str,
    account: str,
    container: str,
    environ_of: EnvironOf,
) -> ContainerInfo:
    """
    The info of C{container} in C{account}, for a plugin that runs before
    the controllers: known to this request or the info store, else fetched
    by a C{HEAD} of the container through the rest of the pipeline (whose
    controller remembers what it read for this request), made with the
    environ C{environ_of} derives from the request's (the plugin's way of
    pre-authorizing its own sub-request), which carries the request's
    transaction id. Lookups of one key by concurrent requests share one
    C{HEAD}; a lookup made by that C{HEAD} itself, in a plugin further down
    the pipeline, makes a C{HEAD} of its own rather than wait for itself.
    """
    return await _fetch_info(
        request, app, info_cache, container_key(account, container),
        f"/{version}/{account}/{container}", environ_of,
        lambda status: ContainerInfo(status=status, meta={}, sysmeta={}))


async def _fetch_info(
    request: SwiftRequest,
    app: IProxyApplication,
    info_cache: InfoCache,
    key: str,
    path: str,
    environ_of: EnvironOf,
    unknown: Callable[[int], _InfoT],
) -> _InfoT:
    """
    The info under C{key}, fetched if need be with a C{HEAD} of C{path};
    C{unknown(status)} when the controller remembered nothing.

    The C{HEAD}'s environ names the keys being fetched for it
    (L{_FETCHING_ENVIRON_KEY}): a plugin that the C{HEAD} passes through
    and that asks for the same info again (staticweb answering an
    anonymous C{HEAD} of a container) fetches it itself, rather than
    wait for the fetch it is part of, which would never end.
    """
    known = _info_now(request, info_cache, key)
    if known is not None:
        return known  # type: ignore[return-value]
    environ = request.environ
    cache: dict[str, Any] = environ.setdefault(INFO_ENVIRON_KEY, {})
    fetching: frozenset[str] = environ.get(_FETCHING_ENVIRON_KEY, frozenset())

    async def fetch() -> _InfoT:
        sub = environ_of(environ)
        sub[_FETCHING_ENVIRON_KEY] = fetching | {key}
        head = SwiftRequest("HEAD", wire_quote(path).encode("ascii"),
                            client_ip=request.client_ip, environ=sub)
        for name in ("User-Agent", "Host"):
            if name in request.headers:
                head.headers[name] = request.headers[name]
        response: SwiftResponse = await app(head)
        drop_body(response.body)
        known = cache.get(key)
        if known is not None:
            return known  # type: ignore[no-any-return]
        return unknown(response.status)

    if key in fetching and key not in cache:
        info = await fetch()
        cache[key] = info
        return info
    return await info_cache.get(environ, key, fetch)
