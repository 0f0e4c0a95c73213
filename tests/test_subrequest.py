"""
Tests for L{twisted_proxy.plugins._support.subrequest}.
"""

from __future__ import annotations

from io import BytesIO

from twisted.internet.task import Cooperator
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import FileBodyProducer

from twisted_proxy.info.cache import INFO_ENVIRON_KEY
from twisted_proxy.plugins._support.subrequest import (
    drop_body,
    object_path,
    read_body,
    sub_environ,
)


class ObjectPathTests(SynchronousTestCase):
    def test_paths(self) -> None:
        self.assertEqual(object_path("/v1/a/c/o/x"), ("v1", "a", "c", "o/x"))
        for path in ("/v1/a/c", "/v1/a/c/", "/v1//c/o", "v1/a/c/o"):
            self.assertIsNone(object_path(path), path)


class BodyTests(SynchronousTestCase):
    def _producer(self, data: bytes) -> FileBodyProducer:
        cooperator = Cooperator(scheduler=lambda f: f(),  # type: ignore[arg-type,return-value]
                                terminationPredicateFactory=lambda: lambda: False)
        return FileBodyProducer(BytesIO(data), cooperator=cooperator, readSize=3)

    def test_readBytes(self) -> None:
        self.assertEqual(self.successResultOf(_d(read_body(b"abc"))), b"abc")

    def test_readProducer(self) -> None:
        body = self._producer(b"hello world")
        self.assertEqual(self.successResultOf(_d(read_body(body))), b"hello world")

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


def _d(coroutine):  # type: ignore[no-untyped-def]
    from twisted.internet.defer import Deferred

    return Deferred.fromCoroutine(coroutine)

