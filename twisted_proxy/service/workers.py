# -*- test-case-name: tests.test_workers,tests.test_workerpool,tests.e2e.test_workers,tests.e2e.test_reload -*-
"""
C{workers = N}: several proxy processes serving one listening socket.

The twistd process binds the socket once its storage nodes are ready, then
starts N worker processes (C{python -m twisted_proxy.service.workers ...}) that each
adopt the socket (L{IReactorSocket.adoptStreamPort}) and run a whole proxy
(the L{ProxyProcess} twistd would run, serving the inherited socket through
L{AdoptedPort}); the kernel hands each new connection to one of them. The
twistd process serves nothing itself: it supervises, restarting a worker
that dies (with L{RestartBackoff}), and stops them all when it stops.
Workers share account/container info and tempauth tokens through the Redis
info store, so they agree.

A worker builds the configuration its parent read and checked, sent as
text on its standard input (not the file as it is when the worker starts),
and reports on L{STATUS_FD}: C{ready} once it serves, C{stopped} once it
stopped accepting. Told to drain (C{SIGHUP} or C{SIGUSR1}, as Swift's
workers), it stops accepting, finishes its requests and exits
(L{WorkerDrain}); that is how a reload (L{WorkerPoolService.replace_workers})
retires the workers of the previous configuration.

A worker logs one JSON event per line on its standard output
(L{worker_log_observer}); the parent logs each again, with its level and
namespace, through L{WorkerLogRelay}.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Optional, Sequence

from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail, gatherResults, maybeDeferred, succeed
from twisted.internet.error import ProcessDone
from twisted.internet.fdesc import setNonBlocking
from twisted.internet.interfaces import IDelayedCall, IListeningPort, IReactorTime
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import (
    ILogObserver,
    LogEvent,
    Logger,
    LogLevel,
    eventFromJSON,
    formatEvent,
    globalLogPublisher,
    jsonFileLogObserver,
)
from twisted.python.failure import Failure
from twisted.python.reflect import safe_str
from zope.interface import provider

from twisted_proxy._twisted import TEXT_KEY
from twisted_proxy.config import ConfigError, ProxyConfig, ProxySettings, load_config
from twisted_proxy.service.backoff import RestartBackoff
from twisted_proxy.service.build import ProxyProcess, build_proxy_service
from twisted_proxy.service.heap import freeze_heap
from twisted_proxy.service.launcher import launcher_arguments
from twisted_proxy.service.listening import serving_factory
from twisted_proxy.web.server import ProxySite

__all__ = [
    "AdoptedPort",
    "ExecLauncher",
    "Launch",
    "ReloadFailed",
    "STATUS_FD",
    "WORKER_FD",
    "WorkerDrain",
    "WorkerLogRelay",
    "WorkerPoolService",
    "WorkerSpec",
    "bind_listening_socket",
    "main",
    "serve_worker",
    "status_writer",
    "worker_log_observer",
    "worker_redis_url",
]

# Named, not left to Logger: a worker runs this module as __main__.
_log = Logger(namespace="twisted_proxy.service.workers")

#: The file descriptor number the listening socket has in each worker.
WORKER_FD = 3

#: The file descriptor on which a worker tells its parent C{ready} and
#: C{stopped}, one word a line.
STATUS_FD = 4


@dataclass(frozen=True)
class WorkerSpec:
    """
    What a worker needs to build the same proxy as its parent.

    @ivar config: the path of C{proxy-server.conf}.
    @ivar swift_dir: overrides the configuration's C{swift_dir}.
    @ivar redis_url: overrides its C{[filter:cache] redis_url}.
    @ivar config_text: the file's text as the parent checked it, which the
        worker builds instead of reading the file; C{None} to read it.
    """

    config: str
    swift_dir: Optional[str] = None
    redis_url: Optional[str] = None
    config_text: Optional[str] = field(default=None, repr=False)

    def arguments(self) -> list[str]:
        args = ["--config", self.config, "--fd", str(WORKER_FD),
                "--status-fd", str(STATUS_FD)]
        if self.config_text is not None:
            args.append("--config-stdin")
        if self.swift_dir:
            args += ["--swift-dir", self.swift_dir]
        if self.redis_url:
            args += ["--redis-url", self.redis_url]
        return args


def worker_redis_url(config: ProxyConfig, settings: ProxySettings) -> Optional[str]:
    """
    The C{[filter:cache] redis_url} the workers of C{config} share, if
    any.

    @raise ConfigError: with C{workers = N} and tempauth but no Redis:
        each worker would know only the tokens it issued.
    """
    cache = config.filter_section("cache") or {}
    redis_url = cache.get("redis_url")
    if not redis_url and settings.workers >= 2 and "tempauth" in config.pipeline:
        raise ConfigError(
            f"{config.path}: [app:{config.app_name}] workers: "
            f"{settings.workers} workers must share tempauth tokens; set "
            "[filter:cache] redis_url (the all-in-one cluster's redis does)")
    return redis_url


def bind_listening_socket(host: str, port: int, backlog: int = 4096) -> socket.socket:
    """
    A listening, non-blocking TCP socket bound to C{host:port}.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


#: Begins each JSON event a worker writes (as L{jsonFileLogObserver} does).
_RECORD_SEPARATOR = "\x1e"

_LEVELS = frozenset(LogLevel.iterconstants())

#: Carry an event's text, and its failure's exception text, from a worker:
#: a JSON event loses the format specifications of its fields (C{{n:03d}}),
#: and the exception itself cannot be sent.
_TEXT = "worker_text"
_FAILURE_TEXT = "worker_failure_text"


def worker_log_observer(out: IO[str]) -> ILogObserver:
    """
    The log observer of a worker process: writes each event to C{out} as
    one line of JSON (L{jsonFileLogObserver}), for its parent's
    L{WorkerLogRelay}. The event's text, formatted here, and the text of a
    failure's exception go with it.
    """
    write = jsonFileLogObserver(out, recordSeparator=_RECORD_SEPARATOR)

    @provider(ILogObserver)
    def observe(event: LogEvent) -> None:
        event = dict(event)
        event[_TEXT] = formatEvent(event)
        failure = event.get("log_failure")
        if isinstance(failure, Failure):
            event[_FAILURE_TEXT] = safe_str(failure.value)
        write(event)

    return observe


class WorkerLogRelay:
    """
    Logs what one worker writes, in this process: each JSON event of its
    standard output again, with its own level, namespace and time, its text
    after C{worker N: }; any other line as text, at C{info} level from
    standard output and C{error} level from standard error (where Python
    writes a traceback or a C{SystemExit} message).

    @param index: the worker's number.
    @param observer: receives the events.
    """

    def __init__(self, index: int, observer: ILogObserver = globalLogPublisher) -> None:
        self.index = index
        self._observer = observer
        self._log = Logger(namespace=__name__, observer=observer)
        self._partial: dict[int, bytes] = {}

    def data_received(self, fd: int, data: bytes) -> None:
        """
        C{data} came from the worker's file descriptor C{fd}: log each line
        it completes.
        """
        lines = (self._partial.get(fd, b"") + data).split(b"\n")
        self._partial[fd] = lines.pop()
        for line in lines:
            self._line(fd, line)

    def flush(self) -> None:
        """
        Log the unfinished last lines: the worker has exited.
        """
        partial, self._partial = self._partial, {}
        for childFD, line in partial.items():
            if line:
                self._line(childFD, line)

    def _line(self, childFD: int, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip("\r")
        if childFD == 1 and line.startswith(_RECORD_SEPARATOR):
            event = _decode(line[1:])
            if event is not None:
                self._relay(event)
                return
        if not line:
            return
        level = LogLevel.error if childFD == 2 else LogLevel.info
        self._log.emit(level, "worker {worker_index}: {worker_text}",
                       worker_index=self.index, worker_text=line)

    def _relay(self, event: LogEvent) -> None:
        failure = event.get("log_failure")
        failure_text = event.pop(_FAILURE_TEXT, None)
        if isinstance(failure, Failure) and isinstance(failure_text, str):
            failure.value = failure_text  # type: ignore[assignment]
        text = event.get(_TEXT)
        if not isinstance(text, str):
            text = formatEvent(event)
        # The text replaces the worker's format, whose flattened fields no
        # longer match it; the logger and source were objects of the worker.
        for key in ("log_flattened", "log_logger", "log_source"):
            event.pop(key, None)
        event["log_format"] = "worker {worker_index}: {worker_text}"
        event["worker_index"] = self.index
        event[_TEXT] = text
        event[TEXT_KEY] = f"worker {self.index}: {text}"
        self._observer(event)


def _decode(text: str) -> Optional[LogEvent]:
    """
    The event a worker wrote as C{text}, or C{None} if it is not one.
    """
    try:
        event = eventFromJSON(text)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("log_level") not in _LEVELS:
        return None
    return event


class _WorkerProtocol(ProcessProtocol):
    """
    One worker process seen from its parent: its standard output and error
    go to a L{WorkerLogRelay}; each line it writes on L{STATUS_FD}
    (C{ready}, C{stopped}) is handed to C{status}; its end to C{ended}.
    """

    def __init__(self, index: int, ended: Callable[[int, Failure], None],
                 observer: ILogObserver = globalLogPublisher,
                 status: Optional[Callable[[int, str], None]] = None) -> None:
        self.index = index
        self._ended = ended
        self._status = status
        self._status_partial = b""
        self._relay = WorkerLogRelay(index, observer)

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        if childFD == STATUS_FD:
            lines = (self._status_partial + data).split(b"\n")
            self._status_partial = lines.pop()
            for line in lines:
                word = line.decode("ascii", "replace").strip()
                if word and self._status is not None:
                    self._status(self.index, word)
            return
        self._relay.data_received(childFD, data)

    def processEnded(self, reason: Failure) -> None:  # type: ignore[override]
        self._relay.flush()
        self._ended(self.index, reason)


#: Starts one worker process: C{launch(spec, protocol, fd)} runs a worker
#: that builds the proxy C{spec} describes and serves the listening socket
#: C{fd}, reporting to C{protocol} (its output, its L{STATUS_FD} lines, its
#: end), and returns its process transport (C{signalProcess}). The pool
#: knows workers only through this: starting them by C{fork} instead of
#: C{exec} is another launcher.
Launch = Callable[["WorkerSpec", ProcessProtocol, int], Any]


class ExecLauncher:
    """
    Starts a worker as a new program (L{Launch}):
    C{python -m twisted_proxy.service.workers}, under the launcher that
    makes it die with its parent (L{launcher_arguments}), with the
    listening socket as L{WORKER_FD}, a pipe for its status as
    L{STATUS_FD}, and the configuration's text, when the spec has it, on
    its standard input.

    @param reactor: provides C{IReactorProcess}.
    """

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor

    def __call__(self, spec: "WorkerSpec", protocol: ProcessProtocol, fd: int) -> Any:
        args = launcher_arguments(sys.executable, "-m", "twisted_proxy.service.workers",
                                  *spec.arguments())
        transport = self._reactor.spawnProcess(
            protocol, sys.executable, args, env=dict(os.environ),
            childFDs={0: "w", 1: "r", 2: "r", WORKER_FD: fd, STATUS_FD: "r"},
        )
        if spec.config_text is not None:
            transport.writeToChild(0, spec.config_text.encode("utf-8"))
        transport.closeChildFD(0)
        return transport


class ReloadFailed(Exception):
    """
    New workers could not replace the running ones, which go on serving;
    the message says why, in one line.
    """


class _Generation:
    """
    The workers running one configuration (one L{WorkerSpec}): the first
    at startup, one more for each reload. Its workers are numbered from
    C{first}, slot by slot; a restarted worker keeps its number.

    @ivar workers: the running worker of each slot.
    @ivar ready: the slots whose worker has served.
    @ivar stopped: the slots whose worker stopped accepting once retired.
    @ivar retired: replaced (or abandoned): its workers are not restarted.
    @ivar abandoned: its reload failed: it never served alone.
    @ivar deadline: ends the drain of a retired generation.
    """

    def __init__(self, number: int, spec: "WorkerSpec", count: int, first: int,
                 clock: IReactorTime) -> None:
        self.number = number
        self.spec = spec
        self.count = count
        self.first = first
        self.workers: dict[int, _WorkerProtocol] = {}
        self.backoffs = {slot: RestartBackoff(clock) for slot in range(count)}
        self.ready: set[int] = set()
        self.stopped: set[int] = set()
        self.retired = False
        self.abandoned = False
        self.deadline: Optional[IDelayedCall] = None

    def numbers(self, slots: Optional[Any] = None) -> str:
        """
        The workers' numbers, for the log: C{"2, 3"}.
        """
        chosen = range(self.count) if slots is None else sorted(slots)
        return ", ".join(str(self.first + slot) for slot in chosen) or "none"

    def retire(self) -> None:
        """
        Restart none of its workers any more.
        """
        self.retired = True
        for backoff in self.backoffs.values():
            backoff.cancel()

    def cancel_deadline(self) -> None:
        deadline, self.deadline = self.deadline, None
        if deadline is not None and deadline.active():
            deadline.cancel()


@dataclass
class _Replacement:
    """
    A reload in progress: C{generation} starting (C{old} is C{None}), then,
    once all its workers serve, the old generation stopping accepting.
    """

    generation: _Generation
    done: "Deferred[str]"
    timer: IDelayedCall
    old: Optional[_Generation] = None


class WorkerPoolService(Service):
    """
    Binds C{host:port} when C{ready()} fires, then runs C{count} workers on
    that socket, restarting any that exits until the service stops: after
    0.5 s, doubling up to 30 s while a worker keeps dying within 10 s of
    starting (L{RestartBackoff}).

    L{replace_workers} (a reload) starts a new generation of workers with
    another configuration beside the running one, all on the same socket,
    which stays open in this process throughout: once every new worker
    serves, each old one is told to drain (C{SIGHUP}: it stops accepting,
    finishes its requests and exits when no connection is left) and is no
    longer restarted. One still running C{drain_timeout} seconds later
    gets C{SIGTERM}, and C{SIGKILL} after L{KILL_GRACE} more seconds.

    @param reactor: provides C{IReactorProcess} and C{IReactorTime}.
    @param spec: what each worker is told to build.
    @param ready: fires when the workers may start serving.
    @param observer: receives the workers' log events.
    @param drain_timeout: seconds an old worker may drain (Swift's
        C{stale_worker_timeout}).
    @param start_timeout: seconds new workers have to serve, and old ones
        to stop accepting, before a reload gives up on them.
    @param launch: starts a worker (L{ExecLauncher} by default).
    """

    #: Seconds between C{SIGTERM} and C{SIGKILL} for an old worker still
    #: draining at its deadline.
    KILL_GRACE = 10.0

    def __init__(
        self,
        reactor: Any,
        host: str,
        port: int,
        count: int,
        spec: WorkerSpec,
        ready: Callable[[], "Deferred[None]"],
        observer: ILogObserver = globalLogPublisher,
        backlog: int = 4096,
        drain_timeout: float = 86400.0,
        start_timeout: float = 120.0,
        launch: Optional[Launch] = None,
    ) -> None:
        self._reactor = reactor
        self._backlog = backlog
        self._host = host
        self._port = port
        self._count = count
        self._spec = spec
        self._ready = ready
        self._observer = observer
        self.drain_timeout = drain_timeout
        self.start_timeout = start_timeout
        self._launch: Launch = launch if launch is not None else ExecLauncher(reactor)
        self._socket: Optional[socket.socket] = None
        self._current: Optional[_Generation] = None
        self._generations: list[_Generation] = []
        self._replacement: Optional[_Replacement] = None
        self._exits: dict[int, Deferred[None]] = {}
        self._next_number = 0
        self._next_generation = 1
        self._stopping = False
        self._starting: Optional[Deferred[None]] = None

    @property
    def address(self) -> Optional[tuple[str, int]]:
        """
        Where the workers listen, once bound.
        """
        if self._socket is None:
            return None
        host, port = self._socket.getsockname()[:2]
        return host, port

    @property
    def generation(self) -> int:
        """
        The number of the configuration the workers serve: 1 at startup,
        one more for each reload that replaced them.
        """
        return self._current.number if self._current is not None else 0

    def startService(self) -> None:
        super().startService()
        self._stopping = False
        self._starting = self._ready().addCallback(self._bound)
        self._starting.addErrback(self._failed_to_start)

    def _bound(self, _: object) -> None:
        self._socket = bind_listening_socket(self._host, self._port, self._backlog)
        host, port = self.address or ("?", 0)
        _log.info("twisted-proxy listening on {host}:{port} with {count} workers",
                  host=host, port=port, count=self._count)
        self._current = self._new_generation(self._spec, self._count)
        self._spawn_all(self._current)

    def _failed_to_start(self, failure: Failure) -> None:
        _log.failure("twisted-proxy could not start its workers", failure)
        if getattr(self._reactor, "running", False):
            self._reactor.stop()

    def _new_generation(self, spec: WorkerSpec, count: int) -> _Generation:
        generation = _Generation(self._next_generation, spec, count, self._next_number,
                                 self._reactor)
        self._next_generation += 1
        self._next_number += count
        self._generations.append(generation)
        return generation

    def _spawn_all(self, generation: _Generation) -> None:
        for slot in range(generation.count):
            self._spawn(generation, slot)

    def _spawn(self, generation: _Generation, slot: int) -> None:
        if self._stopping or self._socket is None or generation.retired:
            return
        number = generation.first + slot
        protocol = _WorkerProtocol(
            number, lambda _, reason: self._worker_ended(generation, slot, reason),
            self._observer, lambda _, word: self._worker_status(generation, slot, word))
        self._exits[number] = Deferred()
        generation.workers[slot] = protocol
        generation.backoffs[slot].started()
        try:
            self._launch(generation.spec, protocol, self._socket.fileno())
        except Exception:
            self._worker_ended(generation, slot, Failure())

    def _worker_status(self, generation: _Generation, slot: int, word: str) -> None:
        if word == "ready":
            generation.ready.add(slot)
            replacing = self._replacement
            if (replacing is not None and replacing.generation is generation
                    and replacing.old is None and len(generation.ready) == generation.count):
                self._cut_over(replacing)
        elif word == "stopped":
            generation.stopped.add(slot)
            self._check_stopped()

    def _worker_ended(self, generation: _Generation, slot: int, reason: Failure) -> None:
        number = generation.first + slot
        generation.workers.pop(slot, None)
        exited = self._exits.pop(number, None)
        if exited is not None:
            exited.callback(None)
        if self._stopping:
            return
        replacing = self._replacement
        if replacing is not None and replacing.generation is generation and replacing.old is None:
            self._abandon(replacing, f"new worker {number} exited before serving "
                                     f"({reason.getErrorMessage()})")
            return
        if generation.retired:
            self._retired_ended(generation, number, reason)
            return
        delay = generation.backoffs[slot].restart_later(lambda: self._spawn(generation, slot))
        _log.warn("worker {index} exited ({why}); restarting in {delay}s",
                  index=number, why=reason.getErrorMessage(), delay=delay)

    def _retired_ended(self, generation: _Generation, number: int, reason: Failure) -> None:
        """
        A worker of a replaced configuration exited: it is not restarted.
        """
        if not reason.check(ProcessDone) and not generation.abandoned:
            _log.warn("worker {index} exited while draining ({why}); not restarted",
                      index=number, why=reason.getErrorMessage())
        if not generation.workers:
            generation.cancel_deadline()
            if generation in self._generations:
                self._generations.remove(generation)
                if not generation.abandoned:
                    _log.info("workers {numbers} of configuration {number} have drained "
                              "and exited", numbers=generation.numbers(),
                              number=generation.number)
        self._check_stopped()

    def replace_workers(self, spec: WorkerSpec, count: int,
                        drain_timeout: Optional[float] = None) -> "Deferred[str]":
        """
        Serve C{spec} with C{count} new workers instead of the running
        ones (a reload): start them all; once each serves, tell the old
        ones to drain, and wait until each has stopped accepting (or
        exited). A failed replacement leaves the old workers serving and
        restarted as before, and the new ones are stopped.

        @param drain_timeout: replaces L{drain_timeout}, for these old
            workers and later ones.
        @return: fires with a line saying what serves now, or fails with
            L{ReloadFailed}.
        """
        if drain_timeout is not None:
            self.drain_timeout = drain_timeout
        if self._stopping or not self.running:
            return fail(ReloadFailed("the proxy is stopping"))
        if self._replacement is not None:
            return fail(ReloadFailed("a reload is already in progress"))
        if self._current is None:
            self._spec, self._count = spec, count
            return succeed(f"not serving yet: its {count} workers will start with it")
        done: Deferred[str] = Deferred()
        timer = self._reactor.callLater(self.start_timeout, self._start_timed_out)
        generation = self._new_generation(spec, count)
        self._replacement = _Replacement(generation, done, timer)
        # A worker that cannot even be started fails the reload at once,
        # and the rest of the generation is not started.
        self._spawn_all(generation)
        return done

    def _start_timed_out(self) -> None:
        replacing = self._replacement
        if replacing is None or replacing.old is not None:
            return
        generation = replacing.generation
        late = set(range(generation.count)) - generation.ready
        self._abandon(replacing, f"new workers {generation.numbers(late)} were not serving "
                                 f"after {self.start_timeout:g}s")

    def _abandon(self, replacing: _Replacement, why: str) -> None:
        """
        Give a reload up: stop its new workers; the old ones serve on.
        """
        self._replacement = None
        if replacing.timer.active():
            replacing.timer.cancel()
        generation = replacing.generation
        generation.retire()
        generation.abandoned = True
        for protocol in list(generation.workers.values()):
            _signal(protocol, signal.SIGTERM)
        if not generation.workers and generation in self._generations:
            self._generations.remove(generation)
        replacing.done.errback(ReloadFailed(why))

    def _cut_over(self, replacing: _Replacement) -> None:
        """
        Every new worker serves: the old ones are told to drain.
        """
        if replacing.timer.active():
            replacing.timer.cancel()
        old = self._current
        assert old is not None
        self._current = replacing.generation
        replacing.old = old
        old.retire()
        for protocol in list(old.workers.values()):
            _signal(protocol, signal.SIGHUP)
        if old.workers:
            old.deadline = self._reactor.callLater(self.drain_timeout, self._drain_expired, old)
        elif old in self._generations:
            self._generations.remove(old)
        replacing.timer = self._reactor.callLater(self.start_timeout, self._stop_timed_out)
        self._check_stopped()

    def _accepting(self, generation: _Generation) -> set[int]:
        """
        The slots of a retired C{generation} whose worker runs and has not
        said it stopped accepting.
        """
        return set(generation.workers) - generation.stopped

    def _check_stopped(self) -> None:
        replacing = self._replacement
        if replacing is None or replacing.old is None:
            return
        if not self._accepting(replacing.old):
            self._finish(replacing, "")

    def _stop_timed_out(self) -> None:
        replacing = self._replacement
        if replacing is None or replacing.old is None:
            return
        old = replacing.old
        late = self._accepting(old)
        for slot in late:
            _signal(old.workers[slot], signal.SIGTERM)
        self._finish(replacing, f"; workers {old.numbers(late)} did not stop accepting "
                                f"within {self.start_timeout:g}s and were stopped")

    def _finish(self, replacing: _Replacement, note: str) -> None:
        self._replacement = None
        if replacing.timer.active():
            replacing.timer.cancel()
        old = replacing.old
        assert old is not None
        new = replacing.generation
        draining = len(old.workers)
        text = f"workers {new.numbers()} serve it"
        if draining:
            text += (f"; old workers {old.numbers(old.workers)} finish their requests "
                     f"(stale_worker_timeout {self.drain_timeout:g}s)")
        replacing.done.callback(text + note)

    def _drain_expired(self, generation: _Generation) -> None:
        generation.deadline = None
        if not generation.workers:
            return
        _log.warn("workers {numbers} still had requests after stale_worker_timeout "
                  "({timeout:g}s): stopping them", numbers=generation.numbers(generation.workers),
                  timeout=self.drain_timeout)
        for protocol in list(generation.workers.values()):
            _signal(protocol, signal.SIGTERM)
        generation.deadline = self._reactor.callLater(self.KILL_GRACE, self._kill, generation)

    def _kill(self, generation: _Generation) -> None:
        generation.deadline = None
        for protocol in list(generation.workers.values()):
            _signal(protocol, signal.SIGKILL)

    def signal_workers(self, signum: int) -> None:
        """
        Send C{signum} to every running worker, of every configuration.
        """
        for generation in list(self._generations):
            for protocol in list(generation.workers.values()):
                _signal(protocol, signum)

    def stopService(self) -> "Deferred[None]":
        """
        Stop restarting workers, SIGTERM the running ones (draining ones
        too) and close the socket once they have all exited. A reload in
        progress fails.
        """
        super().stopService()
        self._stopping = True
        if self._starting is not None and not self._starting.called:
            self._starting.cancel()
        for generation in self._generations:
            generation.retire()
            generation.cancel_deadline()
        replacing, self._replacement = self._replacement, None
        if replacing is not None:
            if replacing.timer.active():
                replacing.timer.cancel()
            replacing.done.errback(ReloadFailed("the proxy is stopping"))
        waiting = list(self._exits.values())
        self.signal_workers(signal.SIGTERM)
        done = gatherResults(waiting, consumeErrors=True)

        def close_socket(_: object) -> None:
            if self._socket is not None:
                self._socket.close()
                self._socket = None

        return done.addBoth(close_socket)


def _signal(protocol: ProcessProtocol, signum: int) -> None:
    """
    Send C{signum} to the process of C{protocol}, if it still runs.
    """
    if protocol.transport is not None:
        try:
            protocol.transport.signalProcess(signum)  # type: ignore[attr-defined]
        except Exception:
            pass


class AdoptedPort(Service):
    """
    Serves C{factory} on a listening socket this process inherited as file
    descriptor C{fd} (L{IReactorSocket.adoptStreamPort}): a worker's share
    of its parent's socket. It can be started once: starting closes C{fd},
    whose duplicate the reactor keeps, and leaves the socket non-blocking
    (for every process sharing it).

    @param reactor: provides C{IReactorSocket}.
    """

    def __init__(self, reactor: Any, fd: int, factory: Any) -> None:
        self._reactor = reactor
        self._fd = fd
        self._factory = factory
        self.port: Optional[IListeningPort] = None

    def startService(self) -> None:
        super().startService()
        sock = socket.socket(fileno=self._fd)
        try:
            self.port = self._reactor.adoptStreamPort(sock.fileno(), sock.family,
                                                      self._factory)
        finally:
            sock.close()
        # The socket's blocking mode belongs to the description every
        # worker shares, and PyPy's socket(fileno=) and fromfd clear it:
        # a worker would then block in accept() forever.
        if self.port is not None and hasattr(self.port, "fileno"):
            setNonBlocking(self.port.fileno())
        listening = getattr(self._factory, "listening", None)
        if listening is not None:
            listening(self.port)

    def stopService(self) -> Optional["Deferred[None]"]:
        super().stopService()
        port, self.port = self.port, None
        if port is None:
            return None
        listening = getattr(self._factory, "listening", None)
        if listening is not None:
            listening(None)
        return port.stopListening()  # type: ignore[no-any-return]


class WorkerDrain:
    """
    What a worker does when its parent tells it to drain (C{SIGHUP} or
    C{SIGUSR1}): stop accepting (C{server} stops), tell the parent
    C{stopped}, let the site finish what its connections began
    (L{ProxySite.drain}), then end the process. Asked again, it does
    nothing more.

    @param server: the service accepting connections (the worker's
        L{AdoptedPort}).
    @param site: the site whose connections are waited for.
    @param status: tells the parent one word.
    @param stop: ends the process.
    """

    def __init__(self, server: Any, site: ProxySite, status: Callable[[str], None],
                 stop: Callable[[], None]) -> None:
        self._server = server
        self._site = site
        self._status = status
        self._stop = stop
        self._drained: Optional[Deferred[None]] = None

    def start(self) -> "Deferred[None]":
        """
        Drain, once.

        @return: fires once the process is told to end.
        """
        if self._drained is not None:
            return self._drained

        def stopped(_: object) -> "Deferred[None]":
            self._status("stopped")
            _log.info("worker draining: no longer accepting; {clients} client connections "
                      "open", clients=self._site.clients)
            return self._site.drain()

        def not_stopped(failure: Failure) -> None:
            _log.failure("worker draining: could not stop accepting", failure)

        def drained(_: object) -> None:
            _log.info("worker drained: exiting")
            self._stop()

        self._drained = maybeDeferred(self._server.stopService).addErrback(not_stopped)
        self._drained.addCallback(stopped).addCallback(drained)
        return self._drained


def status_writer(fd: Optional[int]) -> Callable[[str], None]:
    """
    Writes a word and a newline to file descriptor C{fd} (a worker's
    L{STATUS_FD}); nothing when C{fd} is C{None} or the parent is gone.
    """

    def send(word: str) -> None:
        if fd is None:
            return
        try:
            os.write(fd, word.encode("ascii") + b"\n")
        except OSError:
            pass

    return send


def serve_worker(reactor: Any, spec: WorkerSpec, fd: int = WORKER_FD,
                 status_fd: Optional[int] = STATUS_FD) -> None:
    """
    Be one worker, in a process whose log observers are in place: build
    the proxy C{spec} describes and serve the listening socket C{fd} with
    C{reactor} until SIGTERM, or until drained after SIGHUP or SIGUSR1,
    telling the parent C{ready} and C{stopped} on C{status_fd}. Returns
    once C{reactor} has stopped.

    @raise SystemExit: with one line, when the configuration cannot be
        built.
    """
    from twisted.internet.error import ReactorNotRunning

    try:
        config = load_config(spec.config, spec.config_text)
        if spec.redis_url:
            cache = config.sections.setdefault("filter:cache", dict(config.defaults))
            cache["redis_url"] = spec.redis_url
        settings = ProxySettings.from_section(config)
        process: ProxyProcess = build_proxy_service(
            config, settings, reactor,
            lambda site: AdoptedPort(reactor, fd, serving_factory(site, settings, reactor)),
            spec.swift_dir)
    except ConfigError as error:
        raise SystemExit(f"twisted-proxy worker: {error}")

    def stop() -> None:
        try:
            reactor.stop()
        except ReactorNotRunning:
            pass

    status = status_writer(status_fd)
    drain = WorkerDrain(process.server, process.site, status, stop)
    for signum in (signal.SIGHUP, signal.SIGUSR1):
        signal.signal(signum, lambda *_: reactor.callFromThread(drain.start))
    # Started before the reactor runs: a worker that cannot serve exits,
    # and its parent restarts it.
    process.startService()
    # What the worker built lives as long as it does.
    freeze_heap()
    status("ready")
    reactor.addSystemEventTrigger("before", "shutdown", process.stopService)
    reactor.run()


def main(argv: Optional[Sequence[str]] = None) -> None:
    """
    One worker started as a program (L{ExecLauncher}): L{serve_worker},
    with the configuration's text read from standard input.
    """
    import argparse

    from twisted.internet import reactor
    from twisted.logger import globalLogBeginner

    parser = argparse.ArgumentParser(prog="python -m twisted_proxy.service.workers")
    parser.add_argument("--config", required=True)
    parser.add_argument("--config-stdin", action="store_true",
                        help="read the configuration's text from standard input")
    parser.add_argument("--fd", type=int, default=WORKER_FD)
    parser.add_argument("--status-fd", type=int)
    parser.add_argument("--swift-dir")
    parser.add_argument("--redis-url")
    options = parser.parse_args(argv)

    from twisted_proxy._twisted import quiet_observer

    globalLogBeginner.beginLoggingTo([quiet_observer(worker_log_observer(sys.stdout))],
                                     redirectStandardIO=False)
    try:
        text = sys.stdin.buffer.read().decode("utf-8") if options.config_stdin else None
    except UnicodeDecodeError as error:
        raise SystemExit(f"twisted-proxy worker: {error}")
    spec = WorkerSpec(options.config, options.swift_dir, options.redis_url, text)
    serve_worker(reactor, spec, options.fd, options.status_fd)


if __name__ == "__main__":
    main()
