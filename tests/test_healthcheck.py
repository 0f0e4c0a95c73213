"""
Tests for L{twisted_proxy.plugins.healthcheck}.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.plugin import IPlugin
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins.healthcheck import healthcheckPlugin
from twisted_proxy.swift.http import SwiftRequest, SwiftResponse


@implementer(IProxyApplication)
class _App:
    """
    The rest of the pipeline: answers 204 with C{X-Passed}.
    """

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        return succeed(SwiftResponse(204, {"X-Passed": "yes"}, b""))


_app = _App()


class HealthCheckTests(SynchronousTestCase):
    def call(self, method: str, path: bytes, disable_path: str = "") -> SwiftResponse:
        check = healthcheckPlugin.make_filter(
            {"disable_path": disable_path}, None)  # type: ignore[arg-type]
        return self.successResultOf(check(SwiftRequest(method, path), _app))

    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(IPlugin, healthcheckPlugin))
        self.assertTrue(verifyObject(IProxyPluginFactory, healthcheckPlugin))
        self.assertTrue(verifyObject(
            IProxyFilter, healthcheckPlugin.make_filter({}, None)))  # type: ignore[arg-type]

    def test_ok(self) -> None:
        response = self.call("GET", b"/healthcheck")
        self.assertEqual((response.status, response.body), (200, b"OK"))
        response = self.call("HEAD", b"/healthcheck")
        self.assertEqual((response.status, response.body), (200, b""))
        self.assertEqual(response.headers["Content-Length"], "2")

    def test_disabled(self) -> None:
        """
        While the file named by C{disable_path} exists, the answer is 503.
        """
        flag = FilePath(self.mktemp())
        self.assertEqual(self.call("GET", b"/healthcheck", flag.path).status, 200)
        flag.touch()
        response = self.call("GET", b"/healthcheck", flag.path)
        self.assertEqual((response.status, response.body), (503, b"DISABLED BY FILE"))

    def test_otherPaths(self) -> None:
        for path in (b"/v1/a", b"/healthcheck/", b"/info"):
            self.assertEqual(self.call("GET", path).headers.get("X-Passed"), "yes", path)
