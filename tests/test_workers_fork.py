"""
Tests for workers forked from the twistd process
(L{twisted_proxy.service.forking}) and the C{worker_start} setting, with
no process forked: L{tests.e2e.test_workers} forks real ones.
"""

from __future__ import annotations

import gc
import signal
import sys
import types
from typing import Any, Optional

from twisted.internet.protocol import ProcessProtocol
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.config import ConfigError, ProxyConfig, ProxySettings, load_config
from twisted_proxy.service.forking import (
    ForkLauncher,
    ReactorReferences,
    can_fork,
    die_with_parent,
    launcher_for,
    prepare_to_fork,
)
from twisted_proxy.service.workers import (
    STATUS_FD,
    WORKER_FD,
    ExecLauncher,
    WorkerSpec,
    serve_worker,
)


def _settings(text: str) -> ProxySettings:
    config: ProxyConfig = load_config("/etc/swift/proxy-server.conf", text)
    return ProxySettings.from_section(config)


_CONF = "[pipeline:main]\npipeline = proxy-server\n[app:proxy-server]\n"


class WorkerStartSettingTests(SynchronousTestCase):
    def test_default(self) -> None:
        """
        Workers are forked unless the configuration says otherwise.
        """
        self.assertEqual(_settings(_CONF).worker_start, "fork")

    def test_values(self) -> None:
        """
        C{fork} and C{exec}, in any case, in the application's section or
        C{[DEFAULT]}.
        """
        self.assertEqual(_settings(_CONF + "worker_start = exec\n").worker_start, "exec")
        self.assertEqual(_settings(_CONF + "worker_start = Fork \n").worker_start, "fork")
        self.assertEqual(_settings("[DEFAULT]\nworker_start = exec\n" + _CONF).worker_start,
                         "exec")

    def test_unknown(self) -> None:
        """
        Any other value is refused, naming the option and the choices.
        """
        error = self.assertRaises(ConfigError, _settings, _CONF + "worker_start = spawn\n")
        self.assertIn("worker_start", str(error))
        self.assertIn("fork or exec", str(error))


class LauncherForTests(SynchronousTestCase):
    def test_choice(self) -> None:
        """
        C{fork} gives a L{ForkLauncher} where this platform forks;
        C{exec} an L{ExecLauncher}.
        """
        reactor = MemoryReactorClock()
        self.assertIsInstance(launcher_for("exec", reactor), ExecLauncher)
        expected = ForkLauncher if can_fork() else ExecLauncher
        self.assertIsInstance(launcher_for("fork", reactor), expected)


class _FakeProcess:
    """
    Stands for L{ForkedProcess}: records what it was made with and which
    child descriptors were closed.
    """

    made: list["_FakeProcess"] = []

    def __init__(self, reactor: Any, protocol: Any, childFDs: dict[int, Any],
                 run: Any) -> None:
        self.reactor = reactor
        self.protocol = protocol
        self.childFDs = childFDs
        self.run = run
        self.closed: list[int] = []

    def closeChildFD(self, fd: int) -> None:
        self.closed.append(fd)


class ForkLauncherTests(SynchronousTestCase):
    def test_launch(self) -> None:
        """
        The launcher readies this process, then makes a process with the
        listening socket as L{WORKER_FD}, a status pipe as L{STATUS_FD},
        pipes for standard output and error, and standard input closed at
        once; the child runs the spec with this process's pid as its
        parent's.
        """
        events: list[str] = []
        ran: list[tuple[WorkerSpec, int]] = []

        def run(spec: WorkerSpec, parent: int) -> int:
            ran.append((spec, parent))
            return 7

        def process(*args: Any) -> _FakeProcess:
            events.append("process")
            return _FakeProcess(*args)

        reactor = MemoryReactorClock()
        launcher = ForkLauncher(reactor, run, process, lambda: events.append("prepare"))
        spec = WorkerSpec("/c.conf", config_text="[DEFAULT]\n")
        protocol = ProcessProtocol()
        made = launcher(spec, protocol, 9)
        self.assertEqual(events, ["prepare", "process"])
        self.assertIs(made.reactor, reactor)
        self.assertIs(made.protocol, protocol)
        self.assertEqual(made.childFDs, {0: "w", 1: "r", 2: "r", WORKER_FD: 9, STATUS_FD: "r"})
        self.assertEqual(made.closed, [0])
        self.assertEqual(ran, [])
        self.assertEqual(made.run(), 7)
        import os

        self.assertEqual(ran, [(spec, os.getpid())])


class PrepareTests(SynchronousTestCase):
    def test_freezes(self) -> None:
        """
        The objects of this process are frozen out of the collector's
        reach before a fork.
        """
        if not hasattr(gc, "freeze"):
            self.skipTest("no gc.freeze")
        self.addCleanup(gc.unfreeze)
        prepare_to_fork()
        self.assertGreater(gc.get_freeze_count(), 0)


class DieWithParentTests(SynchronousTestCase):
    def test_asks(self) -> None:
        """
        The kernel is asked for C{SIGKILL} when the parent dies
        (C{PR_SET_PDEATHSIG}); the parent is checked afterwards.
        """
        calls: list[tuple[int, ...]] = []

        def prctl(*args: int) -> int:
            calls.append(args)
            return 0

        self.assertTrue(die_with_parent(10, prctl, lambda: 10))
        self.assertEqual(calls, [(1, int(signal.SIGKILL), 0, 0, 0)])

    def test_orphan(self) -> None:
        """
        A parent that is already gone (the child was re-parented) makes it
        give up.
        """
        self.assertFalse(die_with_parent(10, None, lambda: 1))

    def test_prctlFails(self) -> None:
        """
        Where C{prctl} fails, the parent is still checked.
        """
        def prctl(*args: int) -> int:
            raise OSError("no")

        self.assertTrue(die_with_parent(10, prctl, lambda: 10))


class _Reactor:
    def callLater(self) -> None:
        pass


class ReactorReferencesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.old = _Reactor()
        self.new = _Reactor()
        module = types.ModuleType("tests_fork_fake_module")
        module.reactor = self.old  # type: ignore[attr-defined]
        module.other = object()  # type: ignore[attr-defined]

        class Bound:
            callLater = self.old.callLater
            kept = len

        Bound.__module__ = module.__name__
        module.Bound = Bound  # type: ignore[attr-defined]
        self.module = module
        sys.modules[module.__name__] = module
        self.addCleanup(sys.modules.pop, module.__name__, None)

    def test_rebind(self) -> None:
        """
        A module's global holding the reactor, and a class attribute
        holding its bound method, get the new reactor and its method;
        nothing else changes.
        """
        references = ReactorReferences()
        references.scan(self.old)
        references.rebind(self.new)
        self.assertIs(self.module.reactor, self.new)
        bound: Any = self.module.Bound
        self.assertEqual(bound.callLater, self.new.callLater)
        self.assertIs(bound.kept, len)

    def test_scannedOnce(self) -> None:
        """
        A module is scanned once: a later scan looks only at modules
        imported since.
        """
        references = ReactorReferences()
        references.scan(self.old)
        found = len(references.found)
        references.scan(self.old)
        self.assertEqual(len(references.found), found)


class ServeWorkerTests(SynchronousTestCase):
    def test_badConfiguration(self) -> None:
        """
        A configuration the worker cannot build ends it with one line.
        """
        spec = WorkerSpec("/nowhere/proxy-server.conf", config_text="[DEFAULT]\n")
        stop: Optional[SystemExit] = None
        try:
            serve_worker(MemoryReactorClock(), spec)
        except SystemExit as error:
            stop = error
        assert stop is not None
        self.assertIsInstance(stop.code, str)
        self.assertTrue(str(stop.code).startswith("twisted-proxy worker: "))
        self.assertNotIn("\n", str(stop.code))
