# -*- test-case-name: tests.test_subrequest -*-
"""
What plugins that make their own requests through the pipeline (copy, dlo,
slo, bulk, container quotas, tempurl) share: telling object paths, reading
or dropping a request's or response's body, and the environ of a
sub-request made as the client.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IConsumer, IPushProducer
from twisted.python.failure import Failure
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from twisted_proxy.info.cache import (
    INFO_ENVIRON_KEY,
    AccountInfo,
    ContainerInfo,
    InfoCache,
    account_key,
    container_key,
)
from twisted_proxy.interfaces import IProxyApplication
from twisted_proxy.swift.http import Body, SwiftRequest, SwiftResponse, wire_quote
from twisted_proxy.swift.paths import split_path

__all__ = [
    "BodyTooLarge",
    "BytesBody",
    "SourceBody",
    "object_path",
    "consume_body",
    "read_body",
    "drop_body",
    "sub_environ",
    "EnvironOf",
    "preauthorized",
    "fetch_account_info",
    "fetch_container_info",
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


@implementer(IBodyProducer)
class BytesBody:
    """
    A small sub-request body held in memory (a manifest being stored, an
    empty marker).
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
    transaction id.
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
    """
    environ = request.environ
    cache: dict[str, Any] = environ.setdefault(INFO_ENVIRON_KEY, {})

    async def fetch() -> _InfoT:
        head = SwiftRequest("HEAD", wire_quote(path).encode("ascii"),
                            client_ip=request.client_ip, environ=environ_of(environ))
        for name in ("User-Agent", "Host"):
            if name in request.headers:
                head.headers[name] = request.headers[name]
        response: SwiftResponse = await app(head)
        drop_body(response.body)
        known = cache.get(key)
        if known is not None:
            return known  # type: ignore[no-any-return]
        return unknown(response.status)

    return await info_cache.get(environ, key, fetch)
