"""
Tests for reloading (L{twisted_proxy.service.reload}): the reload state
machine, the configuration check, the single-process reload, the signals.
The worker pool's side, and a worker's drain, are in
L{tests.test_workerpool}, the site's drain in L{tests.test_server};
L{tests.e2e.test_reload} reloads a real proxy under load.
"""

from __future__ import annotations

import os
import signal
from typing import Any, Optional, Sequence

from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogEvent, LogLevel, capturedLogs, formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from tests.test_ring import write_one_device_swift_dir
from twisted_proxy.config import ConfigError, ProxyConfig, ProxySettings, load_config
from twisted_proxy.service import tap
from twisted_proxy.service.reload import (
    CheckedConfig,
    ConfigCheck,
    Reloader,
    ReloadOutcome,
    ReloadSignals,
    apply_overrides,
    config_differences,
    environment_overrides,
    single_process_reload,
)
from twisted_proxy.service.tap import Options, makeService
from twisted_proxy.service.workers import worker_redis_url

_CONFIG = """\
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = 8081
swift_dir = {swift_dir}

[pipeline:main]
pipeline = catch_errors tempauth proxy-server

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[app:proxy-server]
use = egg:swift#proxy
node_timeout = 4
"""


def _lines(events: Sequence[LogEvent],
           namespace: str = "twisted_proxy.service.reload") -> list[tuple[str, str]]:
    """
    The level and text of each of C{events} logged in C{namespace}.
    """
    return [(event["log_level"].name, formatEvent(event)) for event in events
            if event.get("log_namespace") == namespace]


class ReloaderTests(SynchronousTestCase):
    """
    L{Reloader}: signal, check, apply, one line.
    """

    def setUp(self) -> None:
        self.events = self.enterContext(capturedLogs())
        self.checks = 0
        self.problem: Optional[Exception] = None
        self.applied: list[Any] = []
        self.answers: list[Deferred[ReloadOutcome]] = []
        self.reloader = Reloader(self.check, self.apply)

    def check(self) -> int:
        self.checks += 1
        if self.problem is not None:
            raise self.problem
        return self.checks

    def apply(self, checked: int) -> Deferred[ReloadOutcome]:
        self.applied.append(checked)
        answer: Deferred[ReloadOutcome] = Deferred()
        self.answers.append(answer)
        return answer

    def test_reload(self) -> None:
        """
        A reload checks the configuration, applies what the check returned
        and logs one line with the outcome once it is applied.
        """
        self.reloader.reload("SIGHUP")
        self.assertEqual(self.applied, [1])
        self.assertTrue(self.reloader.busy)
        self.assertEqual(_lines(self.events), [])
        self.answers[0].callback(ReloadOutcome("workers 2, 3 serve it"))
        self.assertFalse(self.reloader.busy)
        self.assertEqual(_lines(self.events),
                         [("info", "reload 1 (SIGHUP): workers 2, 3 serve it")])

    def test_outcomeLevel(self) -> None:
        """
        The outcome's level is the line's; an outcome may be given at once.
        """
        reloader = Reloader(lambda: None,
                            lambda _: ReloadOutcome("not applied", LogLevel.warn))
        reloader.reload("SIGUSR1")
        self.assertEqual(_lines(self.events), [("warn", "reload 1 (SIGUSR1): not applied")])
        self.assertFalse(reloader.busy)

    def test_rejected(self) -> None:
        """
        A configuration that would not start is rejected in one error line
        naming the problem; nothing is applied.
        """
        self.problem = ConfigError("/p.conf: [pipeline:main] pipeline: stage 'nope': no plugin")
        self.reloader.reload("SIGHUP")
        self.assertEqual(self.applied, [])
        self.assertEqual(_lines(self.events), [
            ("error", "reload 1 (SIGHUP) rejected: /p.conf: [pipeline:main] pipeline: stage "
                      "'nope': no plugin; still serving the previous configuration")])
        self.assertFalse(self.reloader.busy)
        self.problem = None
        self.reloader.reload("SIGHUP")
        self.assertEqual(self.applied, [2])

    def test_checkCrashes(self) -> None:
        """
        An unexpected error of the check is logged with its traceback; the
        next reload is made.
        """
        self.problem = RuntimeError("bug")
        self.reloader.reload("SIGHUP")
        [(level, text)] = _lines(self.events)
        self.assertEqual((level, text), ("critical", "reload 1 (SIGHUP) failed: still serving "
                                                     "the previous configuration"))
        self.flushLoggedErrors(RuntimeError)
        self.problem = None
        self.reloader.reload("SIGHUP")
        self.assertEqual(self.applied, [2])

    def test_failed(self) -> None:
        """
        A reload whose applying fails is logged in one error line.
        """
        self.reloader.reload("SIGUSR1")
        self.answers[0].errback(Failure(RuntimeError("new worker 3 exited before serving")))
        self.assertEqual(_lines(self.events), [
            ("error", "reload 1 (SIGUSR1) failed: new worker 3 exited before serving; still "
                      "serving the previous configuration")])
        self.assertFalse(self.reloader.busy)

    def test_signalDuringReload(self) -> None:
        """
        Signals during a reload make one more reload once it is done, which
        reads the configuration again; one line says so.
        """
        self.reloader.reload("SIGHUP")
        self.reloader.reload("SIGUSR1")
        self.reloader.reload("SIGHUP")
        self.assertEqual(self.checks, 1)
        self.assertEqual(_lines(self.events), [
            ("info", "SIGUSR1 during reload 1: reloading again once it is done")])
        self.answers[0].callback(ReloadOutcome("done"))
        self.assertEqual((self.checks, self.applied), (2, [1, 2]))
        self.answers[1].callback(ReloadOutcome("done again"))
        self.assertEqual(_lines(self.events)[1:], [
            ("info", "reload 1 (SIGHUP): done"),
            ("info", "reload 2 (SIGHUP): done again"),
        ])
        self.assertEqual(self.reloader.count, 2)
        self.assertFalse(self.reloader.busy)

    def test_signalDuringFailedReload(self) -> None:
        """
        A reload asked for during one that fails is made too.
        """
        self.reloader.reload("SIGHUP")
        self.reloader.reload("SIGHUP")
        self.answers[0].errback(Failure(RuntimeError("timeout")))
        self.assertEqual(self.applied, [1, 2])


class _Reactor:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, tuple[Any, ...]]] = []

    def callFromThread(self, f: Any, *args: Any) -> None:
        self.calls.append((f, args))
        f(*args)


class ReloadSignalsTests(SynchronousTestCase):
    def test_signals(self) -> None:
        """
        Running, the service handles C{SIGHUP} and C{SIGUSR1} by reloading
        in the reactor's thread; stopped, it puts the previous handlers
        back.
        """
        handlers: dict[int, Any] = {signal.SIGHUP: "twistd's", signal.SIGUSR1: None}
        reloads: list[str] = []
        reactor = _Reactor()

        def install(signum: int, handler: Any) -> Any:
            previous, handlers[signum] = handlers.get(signum), handler
            return previous

        service = ReloadSignals(reactor, reloads.append, install)
        service.startService()
        handlers[signal.SIGUSR1](signal.SIGUSR1, None)
        handlers[signal.SIGHUP](signal.SIGHUP, None)
        self.assertEqual(reloads, ["SIGUSR1", "SIGHUP"])
        self.assertEqual(len(reactor.calls), 2)
        service.stopService()
        self.assertEqual(handlers, {signal.SIGHUP: "twistd's", signal.SIGUSR1: signal.SIG_DFL})


def _swift_dir(test: SynchronousTestCase) -> str:
    swift_dir = os.path.abspath(test.mktemp())
    write_one_device_swift_dir(swift_dir)
    return swift_dir


class ConfigCheckTests(SynchronousTestCase):
    """
    L{ConfigCheck}: a reload's configuration is checked as startup checks
    it.
    """

    def setUp(self) -> None:
        self.swift_dir = _swift_dir(self)
        self.path = os.path.join(self.swift_dir, "proxy-server.conf")
        self.write(_CONFIG)
        self.running = load_config(self.path)
        self.settings = ProxySettings.from_section(self.running)
        self.reactor = MemoryReactorClock()

    def write(self, text: str) -> None:
        with open(self.path, "w") as handle:
            handle.write(text.replace("{swift_dir}", self.swift_dir))

    def check(self, **kwargs: Any) -> CheckedConfig:
        return ConfigCheck(self.running, self.settings, self.reactor, **kwargs)()

    def assertRejected(self, text: str, problem: str, **kwargs: Any) -> None:
        self.write(text)
        error = self.assertRaises(ConfigError, self.check, **kwargs)
        self.assertEqual(str(error), f"{self.path}: {problem}")

    def test_good(self) -> None:
        """
        A good configuration is returned with its settings and the file's
        text as read.
        """
        text = _CONFIG.replace("user_test_tester = testing .admin",
                               "user_test_tester = testing .admin\n"
                               "user_test_new = pw .admin").replace("node_timeout = 4",
                                                                    "node_timeout = 7")
        self.write(text)
        checked = self.check()
        self.assertEqual(checked.settings.node_timeout, 7)
        self.assertEqual(checked.config.sections["filter:tempauth"]["user_test_new"],
                         "pw .admin")
        self.assertEqual(checked.text, text.replace("{swift_dir}", self.swift_dir))

    def test_unknownStage(self) -> None:
        self.assertRejected(
            _CONFIG.replace("catch_errors tempauth", "catch_errors nope tempauth"),
            "[pipeline:main] pipeline: stage 'nope': no plugin named 'nope' is installed")

    def test_badValue(self) -> None:
        self.assertRejected(
            _CONFIG.replace("node_timeout = 4", "node_timeout = soon"),
            "[app:proxy-server] node_timeout: bad value 'soon' (could not convert string "
            "to float: 'soon')")

    def test_badPluginOption(self) -> None:
        """
        A plugin's bad option, found only by building the pipeline, is
        rejected.
        """
        self.write(_CONFIG.replace("user_test_tester = testing .admin",
                                   "user_test_tester = testing .admin\ntoken_life = never"))
        error = self.assertRaises(ConfigError, self.check)
        self.assertIn("token_life", str(error))

    def test_missingRing(self) -> None:
        """
        A C{swift_dir} without rings is rejected.
        """
        elsewhere = os.path.abspath(self.mktemp())
        os.makedirs(elsewhere)
        self.write(_CONFIG.replace("swift_dir = {swift_dir}", f"swift_dir = {elsewhere}"))
        error = self.assertRaises(ConfigError, self.check)
        self.assertIn(elsewhere, str(error))

    def test_unparsable(self) -> None:
        self.write("[pipeline:main\n")
        error = self.assertRaises(ConfigError, self.check)
        self.assertIn("cannot read", str(error))

    def test_address(self) -> None:
        """
        The listening address and backlog are the socket's: changing them
        needs a restart, unless C{--port} chose the address.
        """
        self.assertRejected(
            _CONFIG.replace("bind_port = 8081", "bind_port = 8082"),
            "[app:proxy-server] bind_port: 8082 needs a restart (the socket has 8081)")
        self.check(fixed_address=True)
        self.assertRejected(
            _CONFIG.replace("node_timeout = 4", "node_timeout = 4\nbacklog = 10"),
            "[app:proxy-server] backlog: 10 needs a restart (the socket has 4096)",
            fixed_address=True)

    def test_processModel(self) -> None:
        """
        A single process cannot become workers, nor workers one process.
        """
        self.assertRejected(
            _CONFIG.replace("node_timeout = 4", "node_timeout = 4\nworkers = 2"),
            "[app:proxy-server] workers: 2 needs a restart: the proxy runs in one process")
        self.settings.workers = 2
        self.write(_CONFIG.replace("node_timeout = 4",
                                   "node_timeout = 4\nworkers = 3\n\n[filter:cache]\n"
                                   "redis_url = redis://127.0.0.1:1/0"))
        self.assertEqual(self.check().settings.workers, 3)
        self.assertRejected(
            _CONFIG.replace("node_timeout = 4", "node_timeout = 4\nworkers = 1"),
            "[app:proxy-server] workers: 1 needs a restart: the proxy runs 2 worker processes")

    def test_workerStart(self) -> None:
        """
        How workers start is read at startup: changing it needs a restart.
        """
        self.settings.workers = 2
        self.assertRejected(
            _CONFIG.replace("node_timeout = 4",
                            "node_timeout = 4\nworkers = 2\nworker_start = exec\n\n"
                            "[filter:cache]\nredis_url = redis://127.0.0.1:1/0"),
            "[app:proxy-server] worker_start: exec needs a restart: the workers start by fork")

    def test_workersNeedRedis(self) -> None:
        """
        Workers with tempauth and no Redis are rejected, as at startup.
        """
        self.settings.workers = 2
        self.assertRejected(
            _CONFIG.replace("node_timeout = 4", "node_timeout = 4\nworkers = 2"),
            "[app:proxy-server] workers: 2 workers must share tempauth tokens; set "
            "[filter:cache] redis_url (the all-in-one cluster's redis does)")

    def test_environments(self) -> None:
        """
        The overrides of the environments are applied again; their own
        sections cannot change.
        """
        self.write(_CONFIG + "\n[aio]\ndata_dir = /a\n")
        self.running = load_config(self.path)
        checked = self.check(overrides={"app:proxy-server": {"node_timeout": "9"}},
                             environments=["aio"])
        self.assertEqual(checked.settings.node_timeout, 9)
        self.assertRejected(_CONFIG + "\n[aio]\ndata_dir = /b\n",
                            "[aio]: changes need a restart", environments=["aio"])


class OverridesTests(SynchronousTestCase):
    def config(self) -> ProxyConfig:
        return ProxyConfig("/p.conf", {"log_name": "x"}, ["proxy-server"],
                           {"app:proxy-server": {"log_name": "x", "a": "1"}})

    def test_overrides(self) -> None:
        """
        What the environments changed or added is found, and set again in
        another configuration.
        """
        config = self.config()
        before = {name: dict(options) for name, options in config.sections.items()}
        config.sections["app:proxy-server"]["a"] = "2"
        config.sections["filter:cache"] = {"log_name": "x", "redis_url": "redis://h"}
        overrides = environment_overrides(before, config)
        self.assertEqual(overrides, {"app:proxy-server": {"a": "2"},
                                     "filter:cache": {"redis_url": "redis://h"}})
        again = self.config()
        apply_overrides(again, overrides)
        self.assertEqual(again.sections, config.sections)

    def test_differences(self) -> None:
        old = self.config()
        self.assertEqual(config_differences(old, self.config()), [])
        new = ProxyConfig("/p.conf", {"log_name": "y"}, ["tempauth", "proxy-server"],
                          {"filter:tempauth": {}, "pipeline:main": {"pipeline": "x"}})
        self.assertEqual(config_differences(old, new), [
            "[DEFAULT]", "[pipeline:main]", "[filter:tempauth]", "[app:proxy-server]"])

    def test_workerRedis(self) -> None:
        config = self.config()
        settings = ProxySettings()
        self.assertIsNone(worker_redis_url(config, settings))
        config.sections["filter:cache"] = {"redis_url": "redis://h"}
        self.assertEqual(worker_redis_url(config, settings), "redis://h")


class _Rings:
    def __init__(self, replaced: list[str]) -> None:
        self.replaced = replaced
        self.checks = 0

    def check_reload(self) -> list[str]:
        self.checks += 1
        return self.replaced


class SingleProcessReloadTests(SynchronousTestCase):
    """
    L{single_process_reload}: the rings are read again; other changes are
    reported as not applied.
    """

    def setUp(self) -> None:
        self.running = ProxyConfig("/p.conf", {}, ["proxy-server"],
                                   {"app:proxy-server": {"workers": "1"}})
        self.settings = ProxySettings(workers=1)

    def checked(self, config: ProxyConfig) -> CheckedConfig:
        return CheckedConfig(config, self.settings, "")

    def test_unchanged(self) -> None:
        rings = _Rings(["object"])
        apply = single_process_reload(self.running, self.settings, rings)  # type: ignore[arg-type]
        outcome = apply(self.checked(self.running))
        self.assertEqual(rings.checks, 1)
        self.assertEqual(outcome, ReloadOutcome(
            "configuration unchanged; rings read again (object changed)"))

    def test_changed(self) -> None:
        """
        A changed file is a warning naming the sections not applied.
        """
        apply = single_process_reload(self.running, self.settings, _Rings([]))  # type: ignore[arg-type]
        new = ProxyConfig("/p.conf", {}, ["proxy-server"],
                          {"app:proxy-server": {"workers": "1", "node_timeout": "3"}})
        outcome = apply(self.checked(new))
        self.assertEqual(outcome.level, LogLevel.warn)
        self.assertEqual(outcome.text,
                         "rings unchanged; changes to [app:proxy-server] NOT applied: with "
                         "workers = 1 the proxy serves in its own process, which only a "
                         "restart rebuilds (with workers = 2 or more a reload applies them)")


class MakeServiceReloadTests(SynchronousTestCase):
    """
    L{makeService} reloads on signals.
    """

    def test_reloadSignals(self) -> None:
        swift_dir = _swift_dir(self)
        path = os.path.join(swift_dir, "proxy-server.conf")
        with open(path, "w") as handle:
            handle.write(_CONFIG.replace("{swift_dir}", swift_dir))
        self.patch(tap, "_probe_tcp", lambda host, port: None)
        options = Options()
        options.parseOptions(["--config", path])
        top = makeService(options)
        [signals] = [s for s in top if isinstance(s, ReloadSignals)]  # type: ignore[attr-defined]
        self.assertFalse(signals.running)
