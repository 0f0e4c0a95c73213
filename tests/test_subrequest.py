"""
Tests for L{twisted_proxy.plugins._support.subrequest}.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any, Optional

from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.interfaces import IConsumer
from twisted.internet.task import Clock, Cooperator
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import FileBodyProducer
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from tests.doubles import Collector, remember_info
from twisted_proxy.info.cache import (
    INFO_ENVIRON_KEY,
    AccountInfo,
    ContainerInfo,
    InfoCache,
    container_key,
)
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.interfaces import IProxyApplication
from twisted_proxy.plugins._support.subrequest import (
    BodyTooLarge,
    PulledBody,
    consume_body,
    drop_body,
    fetch_account_info,
    fetch_container_info,
    object_path,
    preauthorized,
    read_body,
    sub_environ,
)
from twisted_proxy.swift.http import SwiftRequest, SwiftResponse


class ObjectPathTests(SynchronousTestCase):
    def test_paths(self) -> None:
        self.assertEqual(object_path("/v1/a/c/o/x"), ("v1", "a", "c", "o/x"))
        self.assertEqual(object_path("/v1/a/c//"), ("v1", "a", "c", "/"))
        self.assertEqual(object_path("/v1/a/c/o/"), ("v1", "a", "c", "o/"))
        for path in ("/v1/a/c", "/v1/a/c/", "/v1//c/o", "v1/a/c/o", "//a/c/o",
                     "/v1/a//o", ""):
            self.assertIsNone(object_path(path), path)


@implementer(IBodyProducer)
class _Held:
    """
    A body that writes what it is given and ends when told.
    """

    length = UNKNOWN_LENGTH

    def __init__(self) -> None:
        self.consumer: Optional[IConsumer] = None
        self.done: Deferred[None] = Deferred()
        self.stopped = False

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        self.consumer = consumer
        return self.done

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        self.stopped = True


class BodyTests(SynchronousTestCase):
    def _producer(self, data: bytes) -> FileBodyProducer:
        cooperator = Cooperator(scheduler=lambda f: f(),  # type: ignore[arg-type,return-value]
                                terminationPredicateFactory=lambda: lambda: False)
        return FileBodyProducer(BytesIO(data), cooperator=cooperator, readSize=3)

    def test_readBytes(self) -> None:
        self.assertEqual(self.successResultOf(read_body(b"abc")), b"abc")
        self.assertEqual(self.successResultOf(read_body(None)), b"")

    def test_readProducer(self) -> None:
        body = self._producer(b"hello world")
        self.assertEqual(self.successResultOf(read_body(body)), b"hello world")

    def test_limit(self) -> None:
        """
        A body may reach the limit; past it, it is stopped and the read
        fails.
        """
        self.assertEqual(self.successResultOf(read_body(self._producer(b"x" * 10), 10)),
                         b"x" * 10)
        self.failureResultOf(read_body(b"x" * 11, 10), BodyTooLarge)
        body = _Held()
        reading = read_body(body, 10)
        assert body.consumer is not None
        body.consumer.write(b"x" * 6)
        body.consumer.write(b"x" * 6)
        self.assertTrue(body.stopped)
        self.failureResultOf(reading, BodyTooLarge)
        body.done.errback(Failure(ConnectionError("stopped")))

    def test_bodyFails(self) -> None:
        body = _Held()
        seen: list[bytes] = []
        consuming = consume_body(body, seen.append)
        assert body.consumer is not None
        body.consumer.write(b"ab")
        body.done.errback(Failure(ValueError("broken")))
        self.failureResultOf(consuming, ValueError)
        self.assertEqual(seen, [b"ab"])

    def test_cancel(self) -> None:
        """
        Cancelling a read stops the body; its end no longer matters.
        """
        body = _Held()
        reading = read_body(body)
        reading.cancel()
        self.assertTrue(body.stopped)
        self.failureResultOf(reading, CancelledError)
        body.done.errback(Failure(ConnectionError("stopped")))

    def test_drop(self) -> None:
        """
        A dropped body is stopped, and nothing is left failing unhandled.
        """
        stopped = []
        body = self._producer(b"x" * 100)
        original = body.stopProducing
        body.stopProducing = lambda: (stopped.append(True), original())  # type: ignore[method-assign,func-returns-value]
        drop_body(body)
        self.assertEqual(stopped, [True])
        drop_body(b"bytes need nothing")
        held = _Held()
        drop_body(held)
        self.assertTrue(held.stopped)
        held.done.errback(Failure(ConnectionError("stopped")))


class EnvironTests(SynchronousTestCase):
    def test_subEnviron(self) -> None:
        environ = {"swift_owner": True, "swift.proxy_access_log_made": True,
                   "REMOTE_USER": "u"}
        sub = sub_environ(environ, "SSC")
        self.assertEqual(sub["swift.source"], "SSC")
        self.assertEqual(sub["REMOTE_USER"], "u")
        self.assertNotIn("swift_owner", sub)
        self.assertNotIn("swift.proxy_access_log_made", sub)
        self.assertIs(sub[INFO_ENVIRON_KEY], environ[INFO_ENVIRON_KEY])
        self.assertIn("swift_owner", environ)


class _Source:
    """
    What a L{PulledBody} pulls from: C{pieces} in order (C{b""} means
    "nothing yet": the body then waits for L{arrive}), then the end.
    """

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = list(pieces)
        self.waiting: Optional[Deferred[None]] = None
        self.cancelled = False

    def pull(self) -> Optional[bytes]:
        if not self.pieces:
            return None
        piece = self.pieces.pop(0)
        if isinstance(piece, Exception):
            raise piece
        return piece

    def wait(self) -> "Deferred[None]":
        def cancel(_: object) -> None:
            self.cancelled = True

        self.waiting = Deferred(cancel)
        return self.waiting

    def arrive(self) -> None:
        assert self.waiting is not None
        waiting, self.waiting = self.waiting, None
        waiting.callback(None)


class PulledBodyTests(SynchronousTestCase):
    def test_pulls_until_the_end(self) -> None:
        source = _Source(b"ab", b"", b"cd")
        body = PulledBody(source.pull, source.wait, UNKNOWN_LENGTH)
        collector = Collector(body)
        done = body.startProducing(collector)
        self.assertEqual(collector.data, b"ab")
        self.assertNoResult(done)
        source.arrive()
        self.assertEqual(collector.data, b"abcd")
        self.successResultOf(done)

    def test_paused(self) -> None:
        """
        Nothing is pulled while the consumer has paused the body.
        """
        source = _Source(b"ab", b"cd")
        body = PulledBody(source.pull, source.wait, UNKNOWN_LENGTH)
        collector = Collector(body, pause_after=1)
        done = body.startProducing(collector)
        self.assertEqual((collector.data, source.pieces), (b"ab", [b"cd"]))
        body.resumeProducing()
        self.assertEqual(collector.data, b"abcd")
        self.successResultOf(done)

    def test_known_length(self) -> None:
        """
        A body of known length ends once it went out, even while paused.
        """
        source = _Source(b"ab", b"cd")
        body = PulledBody(source.pull, source.wait, 4)
        done = body.startProducing(Collector(body, pause_after=3))
        self.successResultOf(done)

    def test_pull_fails(self) -> None:
        source = _Source(b"ab", ValueError("bad"))  # type: ignore[arg-type]
        body = PulledBody(source.pull, source.wait, UNKNOWN_LENGTH)
        self.failureResultOf(body.startProducing(Collector(body)), ValueError)

    def test_wait_fails(self) -> None:
        source = _Source(b"")
        body = PulledBody(source.pull, source.wait, UNKNOWN_LENGTH)
        done = body.startProducing(Collector(body))
        assert source.waiting is not None
        source.waiting.errback(Failure(ConnectionError("gone")))
        self.failureResultOf(done, ConnectionError)

    def test_stopped(self) -> None:
        """
        Stopping the body ends its wait; its Deferred does not fire.
        """
        source = _Source(b"")
        body = PulledBody(source.pull, source.wait, UNKNOWN_LENGTH)
        done = body.startProducing(Collector(body))
        body.stopProducing()
        self.assertTrue(source.cancelled)
        self.assertNoResult(done)


class NestedInfoTests(SynchronousTestCase):
    """
    A plugin on the way of an info C{HEAD} that asks for the same info
    (as staticweb does for an anonymous C{HEAD} of a container) does not
    wait for the fetch it is part of.
    """

    def test_nested(self) -> None:
        info_cache = InfoCache(MemoryInfoStore(Clock()), 60, 60)
        heads: list[SwiftRequest] = []
        nested: list[ContainerInfo] = []

        async def controller(request: SwiftRequest) -> SwiftResponse:
            heads.append(request)
            request.environ[INFO_ENVIRON_KEY][container_key("a", "c")] = {
                "status": 204, "meta": {"k": "v"}, "sysmeta": {}}
            return SwiftResponse(204, {}, b"")

        async def asking_again(request: SwiftRequest) -> SwiftResponse:
            # The rest of the pipeline, with a filter that looks the
            # container up once more before passing the HEAD on.
            nested.append(await fetch_container_info(
                request, app, info_cache, "v1", "a", "c",  # type: ignore[arg-type]
                preauthorized("SW")))
            return await controller(request)

        def app(request: SwiftRequest) -> "Deferred[SwiftResponse]":
            return Deferred.fromCoroutine(controller(request))

        def first(request: SwiftRequest) -> "Deferred[SwiftResponse]":
            return Deferred.fromCoroutine(asking_again(request))

        client = SwiftRequest("GET", b"/v1/a/c/o")
        info = self.successResultOf(Deferred.fromCoroutine(fetch_container_info(
            client, first, info_cache, "v1", "a", "c",  # type: ignore[arg-type]
            preauthorized("EQ"))))
        self.assertEqual(info["meta"], {"k": "v"})
        self.assertEqual(nested[0]["meta"], {"k": "v"})
        self.assertEqual(len(heads), 2)
        # The next request finds it stored.
        again = self.successResultOf(Deferred.fromCoroutine(fetch_container_info(
            SwiftRequest("GET", b"/v1/a/c/o"), first, info_cache, "v1", "a", "c",  # type: ignore[arg-type]
            preauthorized("EQ"))))
        self.assertEqual(again["meta"], {"k": "v"})
        self.assertEqual(len(heads), 2)


@implementer(IProxyApplication)
class _Controller:
    """
    Answers HEADs of accounts as the controllers do, remembering the
    account's info for the request; records each request's
    C{swift.source}. With C{hold}, answers wait in C{held}.
    """

    def __init__(self) -> None:
        self.sources: list[Optional[str]] = []
        self.hold = False
        self.held: list[Deferred[SwiftResponse]] = []

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.sources.append(request.environ.get("swift.source"))
        remember_info(request, {"status": 204, "sysmeta": {"k": "v"}}, {"status": 204})
        if self.hold:
            held: Deferred[SwiftResponse] = Deferred()
            self.held.append(held)
            return held
        return succeed(SwiftResponse(204))


@implementer(IProxyApplication)
class _LooksUp:
    """
    A pipeline stage that looks its request's account up (as ratelimit
    does) before passing the request on to C{app}.
    """

    def __init__(self, info_cache: InfoCache, app: IProxyApplication, source: str) -> None:
        self.info_cache = info_cache
        self.app = app
        self.source = source

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        async def look_up() -> SwiftResponse:
            await fetch_account_info(request, self.app, self.info_cache, "v1", "a",
                                     preauthorized(self.source))
            return await self.app(request)  # type: ignore[no-any-return]

        return Deferred.fromCoroutine(look_up())


class FetchInfoTests(SynchronousTestCase):
    """
    L{fetch_account_info} (and through it L{fetch_container_info}) in a
    pipeline where a stage below also looks the account up.
    """

    def setUp(self) -> None:
        self.info_cache = InfoCache(MemoryInfoStore(Clock()), 60, 60)
        self.controller = _Controller()
        self.below = _LooksUp(self.info_cache, self.controller, "RL")

    def look_up(self, environ: Optional[dict[str, Any]] = None) -> "Deferred[AccountInfo]":
        request = SwiftRequest("POST", b"/v1/a/c/o", environ=environ)
        return Deferred.fromCoroutine(fetch_account_info(
            request, self.below, self.info_cache, "v1", "a", preauthorized("EQ")))

    def test_nestedLookupOfTheSameKey(self) -> None:
        """
        The HEAD that fetches an account for a stage above a stage that
        looks the same account up does not wait for itself: the stage
        below fetches it apart, with a HEAD of its own, as Swift's would.
        """
        info = self.successResultOf(self.look_up())
        self.assertEqual(info["sysmeta"], {"k": "v"})
        self.assertEqual(self.controller.sources, ["RL", "EQ"])

    def test_concurrentLookupsShareOneFetch(self) -> None:
        """
        Lookups by different requests still share one fetch.
        """
        self.controller.hold = True
        first, second = self.look_up({}), self.look_up({})
        self.assertEqual(self.controller.sources, ["RL"])
        self.controller.hold = False
        self.controller.held.pop().callback(SwiftResponse(204))
        self.assertEqual(self.successResultOf(first)["status"], 204)
        self.assertEqual(self.successResultOf(second)["status"], 204)
        self.assertEqual(self.controller.sources, ["RL", "EQ"])
