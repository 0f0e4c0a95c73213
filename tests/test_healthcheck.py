"""
Tests for L{twisted_proxy.plugins.healthcheck}.
"""

from __future__ import annotations

import os

from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins.healthcheck import healthcheckPlugin
from twisted_proxy.swift.http import SwiftRequest, SwiftResponse


@implementer(IProxyApplication)
class _App:
    """
    The rest of the pipeline: answers 204 and remembers the request.
    """

    def __init__(self) -> None:
        self.requests: list[SwiftRequest] = []

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.requests.append(request)
        return succeed(SwiftResponse(204))


class HealthCheckTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.app = _App()
        self.disable_path = os.path.abspath(self.mktemp())

    def answer(self, method: str, path: bytes) -> SwiftResponse:
        made = healthcheckPlugin.makeFilter({"disable_path": self.disable_path}, None)
        verifyObject(IProxyFilter, made)
        response: SwiftResponse = self.successResultOf(
            made(SwiftRequest(method, path), self.app)
        )
        return response

    def test_plugin(self) -> None:
        self.assertTrue(verifyObject(IProxyPluginFactory, healthcheckPlugin))
        self.assertEqual(healthcheckPlugin.name, "healthcheck")

    def test_ok(self) -> None:
        """
        C{/healthcheck} is answered by the plugin: 200 OK, plain text; HEAD
        gets the length without the body.
        """
        response = self.answer("GET", b"/healthcheck")
        self.assertEqual((response.status, response.body), (200, b"OK"))
        self.assertEqual(response.headers["Content-Type"], "text/plain")
        head = self.answer("HEAD", b"/healthcheck")
        self.assertEqual((head.status, head.body), (200, b""))
        self.assertEqual(head.headers["Content-Length"], "2")
        self.assertEqual(self.app.requests, [])

    def test_disabledByFile(self) -> None:
        """
        While the C{disable_path} file exists, the answer is 503 DISABLED
        BY FILE.
        """
        with open(self.disable_path, "w"):
            pass
        response = self.answer("GET", b"/healthcheck")
        self.assertEqual((response.status, response.body), (503, b"DISABLED BY FILE"))
        os.remove(self.disable_path)
        self.assertEqual(self.answer("GET", b"/healthcheck").status, 200)

    def test_otherPaths(self) -> None:
        """
        Any other path goes on down the pipeline.
        """
        for path in (b"/healthcheck/", b"/v1/AUTH_test", b"/info"):
            self.assertEqual(self.answer("GET", path).status, 204)
        self.assertEqual(len(self.app.requests), 3)
