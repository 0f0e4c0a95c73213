# -*- test-case-name: tests.test_subrequest -*-
"""
What plugins that make their own requests through the pipeline (copy, dlo,
bulk, container quotas) share: telling object paths, reading or dropping a
response body, and the environ of a sub-request made as the client.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet.interfaces import IConsumer
from zope.interface import implementer

from twisted_proxy.info.cache import INFO_ENVIRON_KEY, InfoCache
from twisted_proxy.interfaces import IProxyApplication
from twisted_proxy.swift.http import Body, SwiftRequest, SwiftResponse, wire_quote
from twisted_proxy.swift.paths import split_path

__all__ = ["object_path", "read_body", "drop_body", "sub_environ", "fetch_info"]


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


@implementer(IConsumer)
class _Collector:
    """
    Gathers a body into memory (or, with C{keep} false, throws it away).
    """

    def __init__(self, keep: bool = True) -> None:
        self.chunks: list[bytes] = []
        self._keep = keep

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        pass

    def unregisterProducer(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        if self._keep:
            self.chunks.append(data)


async def read_body(body: Body) -> bytes:
    """
    The whole of a (small) response body.
    """
    if isinstance(body, bytes):
        return body
    collector = _Collector()
    await body.startProducing(collector)
    return b"".join(collector.chunks)


def drop_body(body: Body) -> None:
    """
    Let go of a response body nobody will read, closing its backend
    connection rather than leaving it waiting for a reader.
    """
    if isinstance(body, bytes):
        return
    done = body.startProducing(_Collector(keep=False))
    done.addErrback(lambda _: None)
    body.stopProducing()


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


async def fetch_info(
    request: SwiftRequest,
    app: IProxyApplication,
    info_cache: InfoCache,
    key: str,
    path: str,
    environ_of: Callable[[dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    """
    The account or container info under C{key}, for a plugin that runs
    before the controllers: known to this request or the info store, else
    fetched by a C{HEAD} of C{path} through the rest of the pipeline (whose
    controller remembers what it read for this request), made with the
    environ C{environ_of} derives from the request's (the plugin's way of
    pre-authorizing its own sub-request), which carries the request's
    transaction id.
    """
    environ = request.environ
    cache: dict[str, Any] = environ.setdefault(INFO_ENVIRON_KEY, {})

    async def fetch() -> dict[str, Any]:
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
        return {"status": response.status, "meta": {}, "sysmeta": {}}

    return await info_cache.get(environ, key, fetch)
