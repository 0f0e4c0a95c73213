# -*- test-case-name: tests.test_reload,tests.e2e.test_reload -*-
"""
Reloading C{proxy-server.conf} without closing the listening socket, on
C{SIGHUP} or C{SIGUSR1} to the twistd process (C{swift-init proxy reload},
C{swift-init proxy reload-seamless}).

A reload reads the file again and checks it as startup would
(L{ConfigCheck}): a configuration that would not start is rejected with one
line, and the running one goes on serving. A good one is applied: with
C{workers = N} by new workers replacing the old ones
(L{WorkerPoolService.replace_workers}); in a single process, which cannot
rebuild itself while it serves, only the rings are read again and a
changed file is reported as not applied (L{single_process_reload}).
L{Reloader} runs one reload at a time and logs one line for each.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from twisted_proxy.config import (
    ConfigError,
    ProxyConfig,
    ProxySettings,
    load_config,
    read_config_text,
)
from twisted_proxy.service.build import check_proxy_service
from twisted_proxy.service.workers import WorkerPoolService, WorkerSpec, worker_redis_url
from twisted_proxy.swift.ring import RingSet
from twisted_proxy.web.pipeline import available_plugins, resolve_pipeline

__all__ = [
    "CheckedConfig",
    "ConfigCheck",
    "Overrides",
    "ReloadOutcome",
    "ReloadSignals",
    "Reloader",
    "apply_overrides",
    "config_differences",
    "environment_overrides",
    "pool_reload",
    "single_process_reload",
]

_log = Logger()

#: Options set by the environments at startup (the all-in-one cluster's
#: C{[filter:cache] redis_url}), by section: kept by every reload.
Overrides = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class CheckedConfig:
    """
    A configuration read for a reload that would start.

    @ivar text: the file's text as it was read (what workers build).
    """

    config: ProxyConfig
    settings: ProxySettings
    text: str


@dataclass(frozen=True)
class ReloadOutcome:
    """
    What a reload did, in one line, and how loudly to log it.
    """

    text: str
    level: LogLevel = LogLevel.info


def environment_overrides(before: Mapping[str, Mapping[str, str]],
                          config: ProxyConfig) -> dict[str, dict[str, str]]:
    """
    The options of C{config.sections} that differ from C{before} (the
    sections before the environments were prepared); in a section they
    added, the options that differ from C{[DEFAULT]}.
    """
    found: dict[str, dict[str, str]] = {}
    for name, options in config.sections.items():
        old = before.get(name)
        base = config.defaults if old is None else old
        changed = {key: value for key, value in options.items() if base.get(key) != value}
        if changed:
            found[name] = changed
    return found


def apply_overrides(config: ProxyConfig, overrides: Overrides) -> None:
    """
    Set C{overrides} in C{config}, as the environments set them at startup.
    """
    for name, options in overrides.items():
        config.sections.setdefault(name, dict(config.defaults)).update(options)


def config_differences(old: ProxyConfig, new: ProxyConfig) -> list[str]:
    """
    The sections (C{[DEFAULT]}, C{[pipeline:main]}, C{[filter:x]} ...) in
    which C{new} differs from C{old}, in C{new}'s order, removed ones last.
    """
    found = []
    if old.defaults != new.defaults:
        found.append("[DEFAULT]")
    if old.pipeline != new.pipeline:
        found.append("[pipeline:main]")
    for name, options in new.sections.items():
        if name != "pipeline:main" and old.sections.get(name) != options:
            found.append(f"[{name}]")
    found.extend(f"[{name}]" for name in old.sections if name not in new.sections)
    return found


class ConfigCheck:
    """
    Reads C{proxy-server.conf} again for a reload and checks it as startup
    does: parsing, the application's options, the pipeline's stages and
    the plugins' options, C{swift.conf} and the rings, the Redis options,
    what C{workers = N} needs (L{check_proxy_service}). What a reload
    cannot change (the listening address, running workers or a single
    process, the environments' sections such as C{[aio]}) must be as it
    was.

    @param running: the configuration the proxy started with (the
        environments' overrides applied).
    @param settings: its settings.
    @param reactor: what the check's proxy is made with (nothing is
        started).
    @param swift_dir: the environments' C{swift_dir}, if any.
    @param overrides: the environments' options (L{environment_overrides}).
    @param environments: the sections of the environments prepared at
        startup.
    @param fixed_address: C{--port} chose the address, not the file.
    """

    def __init__(self, running: ProxyConfig, settings: ProxySettings, reactor: Any,
                 swift_dir: Optional[str] = None, overrides: Overrides = {},
                 environments: Sequence[str] = (), fixed_address: bool = False) -> None:
        self.path = running.path
        self._running = running
        self._settings = settings
        self._reactor = reactor
        self._swift_dir = swift_dir
        self._overrides = overrides
        self._environments = environments
        self._fixed_address = fixed_address

    def __call__(self) -> CheckedConfig:
        """
        @raise ConfigError: in one line, for the first problem.
        """
        text = read_config_text(self.path)
        config = load_config(self.path, text)
        apply_overrides(config, self._overrides)
        settings = ProxySettings.from_section(config)
        self._check_unchanged(config, settings)
        resolve_pipeline(config, available_plugins())
        worker_redis_url(config, settings)
        check_proxy_service(config, settings, self._reactor, self._swift_dir)
        return CheckedConfig(config, settings, text)

    def _check_unchanged(self, config: ProxyConfig, settings: ProxySettings) -> None:
        section = f"app:{config.app_name}"
        old = self._settings
        if (settings.workers >= 2) != (old.workers >= 2):
            running = (f"{old.workers} worker processes" if old.workers >= 2
                       else "in one process")
            raise config.error(section, "workers",
                               f"{settings.workers} needs a restart: the proxy runs {running}")
        if settings.workers >= 2 and settings.worker_start != old.worker_start:
            raise config.error(section, "worker_start",
                               f"{settings.worker_start} needs a restart: the workers "
                               f"start by {old.worker_start}")
        names = ["backlog"] if self._fixed_address else ["bind_ip", "bind_port", "backlog"]
        for name in names:
            was, now = getattr(old, name), getattr(settings, name)
            if was != now:
                raise config.error(section, name,
                                   f"{now!r} needs a restart (the socket has {was!r})")
        for name in self._environments:
            if config.sections.get(name) != self._running.sections.get(name):
                raise ConfigError(f"{config.path}: [{name}]: changes need a restart")


def pool_reload(pool: WorkerPoolService, swift_dir: Optional[str]
                ) -> Callable[[CheckedConfig], "Deferred[ReloadOutcome]"]:
    """
    Applies a checked configuration with C{workers = N}: new workers
    built from its text replace the running ones.
    """

    def apply(checked: CheckedConfig) -> "Deferred[ReloadOutcome]":
        spec = WorkerSpec(checked.config.path, swift_dir,
                          worker_redis_url(checked.config, checked.settings), checked.text)
        replacing = pool.replace_workers(spec, checked.settings.workers,
                                         checked.settings.stale_worker_timeout)
        return replacing.addCallback(ReloadOutcome)

    return apply


def single_process_reload(running: ProxyConfig, settings: ProxySettings, rings: RingSet
                          ) -> Callable[[CheckedConfig], ReloadOutcome]:
    """
    Applies a checked configuration in a single process (C{workers} 0 or
    1): the rings are read again now, if their files changed (as they are
    every C{reload_interval} anyway); anything else would mean rebuilding
    the pipeline, the connection pools and the info store under the
    requests in flight, so a changed file is reported, at warning level,
    as not applied.

    @param running: the configuration the process serves.
    """

    def apply(checked: CheckedConfig) -> ReloadOutcome:
        replaced = rings.check_reload()
        ring_text = (f"rings read again ({', '.join(replaced)} changed)" if replaced
                     else "rings unchanged")
        changed = config_differences(running, checked.config)
        if not changed:
            return ReloadOutcome(f"configuration unchanged; {ring_text}")
        return ReloadOutcome(
            f"{ring_text}; changes to {', '.join(changed)} NOT applied: with workers = "
            f"{settings.workers} the proxy serves in its own process, which only a restart "
            "rebuilds (with workers = 2 or more a reload applies them)", LogLevel.warn)

    return apply


class Reloader:
    """
    The reload state machine: L{reload} checks the configuration
    (C{check}), then applies it (C{apply}); one line is logged per
    reload with its outcome. A reload asked for while one runs is made
    once that one is over (several such requests make one reload), so
    the file is read again after the last request.

    @param check: reads and checks the configuration; raises
        L{ConfigError} to reject it.
    @param apply: applies what C{check} returned; returns (or fires with)
        a L{ReloadOutcome}, or raises (fails) to say the reload failed.
    """

    def __init__(self, check: Callable[[], Any],
                 apply: Callable[[Any], Union[ReloadOutcome, "Deferred[ReloadOutcome]"]],
                 log: Logger = _log) -> None:
        self._check = check
        self._apply = apply
        self._log = log
        self.count = 0
        self._running: Optional[Deferred[Any]] = None
        self._again: Optional[str] = None

    @property
    def busy(self) -> bool:
        """
        Whether a reload is being applied.
        """
        return self._running is not None

    def reload(self, why: str) -> None:
        """
        Reload because of C{why} (C{"SIGHUP"}), now or after the reload
        running.
        """
        if self._running is not None:
            if self._again is None:
                self._log.info("{why} during reload {number}: reloading again once it is done",
                               why=why, number=self.count)
            self._again = why
            return
        self.count += 1
        number = self.count
        try:
            checked = self._check()
        except ConfigError as error:
            self._log.error("reload {number} ({why}) rejected: {error}; still serving the "
                            "previous configuration", number=number, why=why, error=error)
            return
        except Exception:
            self._log.failure("reload {number} ({why}) failed: still serving the previous "
                              "configuration", number=number, why=why)
            return

        def applied(outcome: ReloadOutcome) -> None:
            self._log.emit(outcome.level, "reload {number} ({why}): {outcome}",
                           number=number, why=why, outcome=outcome.text)

        def failed(failure: Failure) -> None:
            self._log.error("reload {number} ({why}) failed: {error}; still serving the "
                            "previous configuration", number=number, why=why,
                            error=failure.getErrorMessage())

        def over(_: object) -> None:
            self._running = None
            again, self._again = self._again, None
            if again is not None:
                self.reload(again)

        running: Deferred[Any] = maybeDeferred(self._apply, checked)
        self._running = running
        running.addCallbacks(applied, failed).addBoth(over)


#: The signals that reload, as Swift's servers: C{swift-init reload} sends
#: C{SIGHUP}, C{swift-init reload-seamless} C{SIGUSR1}.
RELOAD_SIGNALS = (signal.SIGHUP, signal.SIGUSR1)


class ReloadSignals(Service):
    """
    Calls C{reload(name)} (C{"SIGHUP"}, C{"SIGUSR1"}) in the reactor's
    thread for each reload signal while it runs; stopping puts the
    previous handlers back. (twistd's C{--logfile} rotates its log on
    C{SIGUSR1}: that signal reloads instead, as in Swift.)

    @param reactor: provides C{callFromThread}.
    @param install: sets a handler, as L{signal.signal}.
    """

    def __init__(self, reactor: Any, reload: Callable[[str], object],
                 install: Callable[[int, Any], Any] = signal.signal) -> None:
        self._reactor = reactor
        self._reload = reload
        self._install = install
        self._previous: dict[int, Any] = {}

    def startService(self) -> None:
        super().startService()
        for signum in RELOAD_SIGNALS:
            name = signal.Signals(signum).name
            self._previous[signum] = self._install(signum, self._handler(name))

    def _handler(self, name: str) -> Callable[..., None]:
        def handle(*_: object) -> None:
            self._reactor.callFromThread(self._reload, name)

        return handle

    def stopService(self) -> None:
        super().stopService()
        previous, self._previous = self._previous, {}
        for signum, handler in previous.items():
            self._install(signum, handler if handler is not None else signal.SIG_DFL)
