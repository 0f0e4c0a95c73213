"""
Tests for L{tests.unitguard}: with it installed, processes and real sockets
fail the test loudly, and uninstalling puts everything back.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from twisted.internet import posixbase
from twisted.internet.protocol import ProcessProtocol, ServerFactory
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests import unitguard
from tests.unitguard import UnitContractViolation


class GuardTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.addCleanup(unitguard.install())

    def assertRefused(self, what: str, call: object, *args: object) -> None:
        """
        Calling C{call} raises L{UnitContractViolation} naming C{what}, and
        the violation is logged as an error (which alone fails a test).
        """
        assert callable(call)
        error = self.assertRaises(UnitContractViolation, call, *args)
        self.assertIn(what, str(error))
        self.assertIn("tests/e2e/", str(error))
        self.assertEqual(len(self.flushLoggedErrors(UnitContractViolation)), 1)

    def test_subprocess(self) -> None:
        """
        Starting a process through L{subprocess} is refused, before anything
        runs.
        """
        self.assertRefused("start a process", subprocess.run, [sys.executable, "-c", ""])
        self.assertRefused("start a process", subprocess.check_output, ["true"])

    def test_os(self) -> None:
        """
        The L{os} ways to start a process are refused.
        """
        if hasattr(os, "posix_spawnp"):  # not in PyPy 3.9
            self.assertRefused("os.posix_spawnp", os.posix_spawnp, "true", ["true"], {})
        self.assertRefused("os.system", os.system, "true")
        # Not called: were the guard broken, a forked trial would run on.
        self.assertNotEqual(os.fork.__module__, "posix")

    def test_sockets(self) -> None:
        """
        Binding or connecting a socket is refused.
        """
        with socket.socket() as sock:
            self.assertRefused("bind a socket", sock.bind, ("127.0.0.1", 0))
            self.assertRefused("connect a socket", sock.connect, ("127.0.0.1", 9))
            self.assertRefused("connect a socket", sock.connect_ex, ("127.0.0.1", 9))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            self.assertRefused("send", udp.sendto, b"x", ("127.0.0.1", 9))

    def test_reactor(self) -> None:
        """
        A real reactor's C{spawnProcess} and C{listenTCP} are refused (a
        L{posixbase.PosixReactorBase} method is called unbound, so that no
        reactor is made here).
        """
        reactor_class = posixbase.PosixReactorBase
        self.assertRefused(
            "spawnProcess", reactor_class.spawnProcess, object(), ProcessProtocol(), "true"
        )
        self.assertRefused("listenTCP", reactor_class.listenTCP, object(), 0, ServerFactory())

    def test_swallowed(self) -> None:
        """
        Code that swallows the exception still leaves the error logged.
        """
        try:
            subprocess.run(["true"])
        except Exception:
            pass
        self.assertEqual(len(self.flushLoggedErrors(UnitContractViolation)), 1)


class UninstallTests(SynchronousTestCase):
    def test_restores(self) -> None:
        """
        The function L{unitguard.install} returns puts back exactly what
        was there, inherited methods included.
        """
        before = {
            "connect": socket.socket.connect,
            "spawnProcess": posixbase.PosixReactorBase.spawnProcess,
            "fork": os.fork,
            "execute": subprocess.Popen._execute_child,  # type: ignore[attr-defined]
        }
        uninstall = unitguard.install()
        self.assertNotEqual(socket.socket.connect, before["connect"])
        uninstall()
        after = {
            "connect": socket.socket.connect,
            "spawnProcess": posixbase.PosixReactorBase.spawnProcess,
            "fork": os.fork,
            "execute": subprocess.Popen._execute_child,  # type: ignore[attr-defined]
        }
        self.assertEqual(after, before)


class SessionTests(SynchronousTestCase):
    def test_activeInUnitRuns(self) -> None:
        """
        With C{TWISTED_PROXY_UNIT_ONLY=1} (C{scripts/test --unit}), the
        C{tests} package has installed the guard for the whole run.
        """
        if os.environ.get(unitguard.ENVIRONMENT_VARIABLE) != "1":
            raise SkipTest(f"{unitguard.ENVIRONMENT_VARIABLE} is not set")
        self.assertEqual(socket.socket.connect.__module__, unitguard.__name__)
        self.assertEqual(os.system.__module__, unitguard.__name__)
