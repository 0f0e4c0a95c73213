# -*- test-case-name: tests.test_workers_fork,tests.e2e.test_workers -*-
"""
Workers forked from the twistd process (C{worker_start = fork}, the
default on Linux): each is a copy of a parent that has already imported
the proxy's code, so the pages of that code and of what the parent built
are shared with it until written, instead of every worker importing it all
again as a new program (L{ExecLauncher}, C{worker_start = exec}).

A forked worker is what an exec'd one is to its pool (L{Launch}): the
listening socket as L{WORKER_FD}, a pipe for its status as L{STATUS_FD},
its standard output and error as pipes to its L{WorkerLogRelay}, a
process the pool signals and reaps. Only how it begins differs
(L{ForkLauncher}): Twisted forks (L{ForkedProcess}), every descriptor of
the parent's that the child does not get becomes C{/dev/null} in the
child, and the child then

  - asks the kernel to kill it when its parent dies (as the exec'd
    worker's launcher does) and gives up if the parent is already gone;
  - puts every signal back to how a new Python program has it (no wakeup
    descriptor, default handlers, C{SIGPIPE} ignored);
  - installs a new reactor (L{install_fresh_reactor}): the parent's cannot
    be used, its descriptors are closed; and where a module imported in
    the parent kept the parent's reactor, or one of its methods, in a
    global or a class attribute (C{txredisapi} binds C{reactor} and
    C{reactor.callLater} as it is imported), puts the new one instead
    (L{ReactorReferences});
  - logs JSON on its standard output (L{worker_log_observer}), a new file
    object on descriptor 1, instead of where the parent logged;
  - builds the proxy from its spec's configuration text
    (L{serve_worker}), so a worker of a reload's generation builds the new
    configuration, and everything that holds a connection or a thread (the
    node connection pool, Redis, the zero-copy thread pool) is made in the
    child: nothing the parent opened is used.

Before forking, the parent collects its garbage and freezes what is left
(C{gc.freeze}): the collector then never walks the objects the children
share, which would write to every page holding one; Twisted disables the
collector for the fork itself, and the child enables it again for its own
objects.

What the child might find locked, and why it does not matter: the parent
serves nothing, but its reactor's thread pool may have threads (name
resolution for its own Redis connections), idle or, rarely, inside
C{getaddrinfo} when it forks. Only the forking thread exists in the child,
and it uses none of the parent's Python objects such a thread could hold
(the parent's reactor, thread pool, log observers and files are all
replaced: the child's reactor makes its own pool). CPython re-creates its
own locks after a fork (the GIL, imports, C{threading}, C{logging}), and
glibc its allocator's. What remains is C library state held by a
resolver thread of the parent at the instant of the fork; the workers
resolve only the names of the configuration (storage nodes by address,
Redis), and C{worker_start = exec} avoids even that.
"""

from __future__ import annotations

import gc
import inspect
import io
import os
import signal
import sys
import types
from typing import Any, Callable, Optional

from twisted.internet.protocol import ProcessProtocol
from twisted.logger import globalLogPublisher

from twisted_proxy._twisted import (
    ForkedProcess,
    install_fresh_reactor,
    quiet_observer,
    replace_observers,
)
from twisted_proxy.service.heap import freeze_heap
from twisted_proxy.service.workers import (
    STATUS_FD,
    WORKER_FD,
    ExecLauncher,
    Launch,
    WorkerSpec,
    serve_worker,
    worker_log_observer,
)

__all__ = [
    "ForkLauncher",
    "ORPHANED",
    "ReactorReferences",
    "can_fork",
    "die_with_parent",
    "launcher_for",
    "prepare_to_fork",
    "reset_signals",
    "run_forked_worker",
]

#: The exit code of a forked worker whose parent died before it could ask
#: to die with it (the exec'd worker's launcher's code for the same).
ORPHANED = 70


def _libc(name: str) -> Optional[Callable[..., int]]:
    """
    The C library's function C{name} on Linux, or C{None}: looked up in
    the parent, since a child that imported C{ctypes} would no longer
    share its pages.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return getattr(ctypes.CDLL(None), name)  # type: ignore[no-any-return]
    except (ImportError, OSError, AttributeError):
        return None


#: Asks for a signal when the parent dies (C{PR_SET_PDEATHSIG}).
_PRCTL = _libc("prctl")
#: Gives the C heap's free pages back to the system before a fork: the
#: children's resident sets would count them too.
_MALLOC_TRIM = _libc("malloc_trim")
_PR_SET_PDEATHSIG = 1


def can_fork() -> bool:
    """
    Whether this platform can start workers by forking: a POSIX C{fork}
    (Linux, the BSDs, macOS).
    """
    return hasattr(os, "fork") and os.name == "posix"


def die_with_parent(parent: int, prctl: Optional[Callable[..., int]] = _PRCTL,
                    getppid: Callable[[], int] = os.getppid) -> bool:
    """
    In a forked worker: ask the kernel to send C{SIGKILL} when the parent
    dies (Linux), then check that the parent is still C{parent}.

    @return: C{False} if the parent is already gone.
    """
    if prctl is not None:
        try:
            prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except Exception:
            pass
    return getppid() == parent


def reset_signals() -> None:
    """
    In a forked worker: signals as a new Python program has them. The
    parent's wakeup descriptor and handlers belong to its reactor, which
    the child does not run.
    """
    signal.set_wakeup_fd(-1)
    for signum in signal.valid_signals():
        if signum in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            handler = signal.getsignal(signum)
        except (OSError, ValueError):
            continue
        if signum == signal.SIGPIPE:
            wanted: Any = signal.SIG_IGN
        elif signum == signal.SIGINT:
            wanted = signal.default_int_handler
        else:
            wanted = signal.SIG_DFL
        if handler is not None and handler != wanted:
            try:
                signal.signal(signum, wanted)
            except (OSError, ValueError):
                pass


def prepare_to_fork() -> None:
    """
    In the parent, just before forking: write out what its standard
    streams buffer (the child would write it again), collect its garbage
    and freeze every object left, so that neither its collector nor the
    child's writes to the pages they share, and give the C heap's free
    pages back to the system.
    """
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass
    freeze_heap()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


class ReactorReferences:
    """
    The module globals and class attributes that hold a reactor or one of
    its bound methods, as a module binds them when it is imported
    (C{from twisted.internet import reactor}; C{callLater =
    reactor.callLater} in a class). Found in the parent before it forks
    (L{scan}: each module once, so the pages of modules already scanned
    are not touched again); in the child, bound to its new reactor
    (L{rebind}). A reference inside an object a module made is not found:
    the proxy makes those in each worker.
    """

    def __init__(self) -> None:
        self._scanned: set[str] = set()
        #: (owner, attribute, the method's name or None for the reactor).
        self.found: list[tuple[Any, str, Optional[str]]] = []

    def scan(self, reactor: Any) -> None:
        """
        Look for C{reactor} in the modules imported since the last scan.
        """
        for name, module in list(sys.modules.items()):
            if name in self._scanned or not isinstance(module, types.ModuleType):
                continue
            self._scanned.add(name)
            try:
                members = list(vars(module).items())
            except TypeError:
                continue
            for attribute, value in members:
                self._check(module, attribute, value, reactor)
                if isinstance(value, type) and getattr(value, "__module__", None) == name:
                    for class_attribute, member in list(vars(value).items()):
                        self._check(value, class_attribute, member, reactor)

    def _check(self, owner: Any, attribute: str, value: Any, reactor: Any) -> None:
        if value is reactor:
            self.found.append((owner, attribute, None))
        elif inspect.ismethod(value) and value.__self__ is reactor:
            self.found.append((owner, attribute, value.__name__))

    def rebind(self, reactor: Any) -> None:
        """
        Put C{reactor}, or its method of the same name, where the old one
        was found.
        """
        for owner, attribute, method in self.found:
            try:
                setattr(owner, attribute,
                        reactor if method is None else getattr(reactor, method))
            except (AttributeError, TypeError):
                pass


#: The references to this process's reactor, for its forked children.
_REFERENCES = ReactorReferences()


#: What a forked child keeps of its parent's that it must not finalize
#: (log observers owning files whose descriptors are closed in the child).
_KEPT: list[Any] = []


def _child_streams() -> tuple[io.TextIOWrapper, io.TextIOWrapper]:
    """
    New standard output and error on descriptors 1 and 2 (the pipes to
    the parent's L{WorkerLogRelay}), line-buffered.
    """
    def stream(fd: int) -> io.TextIOWrapper:
        return io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding="utf-8",
                                errors="backslashreplace", line_buffering=True)

    return stream(1), stream(2)


def run_forked_worker(spec: WorkerSpec, parent: int,
                      references: ReactorReferences = _REFERENCES) -> int:
    """
    The life of a forked worker (L{ForkLauncher}), in the child: returns
    its exit code.

    @param references: where the parent's reactor is to be replaced.
    """
    if not die_with_parent(parent):
        return ORPHANED
    reset_signals()
    # Twisted disabled the collector to fork; the parent's objects are
    # frozen, the child's own are collected as in any program.
    gc.enable()
    reactor = install_fresh_reactor()
    references.rebind(reactor)
    _KEPT.extend([sys.stdout, sys.stderr])
    sys.stdout, sys.stderr = _child_streams()
    observer = quiet_observer(worker_log_observer(sys.stdout))
    _KEPT.extend(replace_observers(globalLogPublisher, [observer]))
    code = 0
    try:
        serve_worker(reactor, spec, WORKER_FD, STATUS_FD)
    except SystemExit as stop:
        if isinstance(stop.code, int):
            code = stop.code
        elif stop.code is not None:
            sys.stderr.write(f"{stop.code}\n")
            code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    return code


class ForkLauncher:
    """
    Starts a worker by forking this process (L{Launch}): a
    L{ForkedProcess} running L{run_forked_worker} for the spec, with the
    listening socket as L{WORKER_FD}, a status pipe as L{STATUS_FD} and
    its standard output and error as pipes.

    @param reactor: the running reactor of this process.
    @param run: what the child runs (its spec and the parent's pid).
    @param process: makes the child process (L{ForkedProcess}'s arguments).
    @param prepare: readies this process to be forked.
    """

    def __init__(self, reactor: Any,
                 run: Callable[[WorkerSpec, int], int] = run_forked_worker,
                 process: Callable[..., Any] = ForkedProcess,
                 prepare: Callable[[], None] = prepare_to_fork) -> None:
        self._reactor = reactor
        self._run = run
        self._process = process
        self._prepare = prepare

    def __call__(self, spec: WorkerSpec, protocol: ProcessProtocol, fd: int) -> Any:
        parent = os.getpid()
        _REFERENCES.scan(self._reactor)
        self._prepare()
        transport = self._process(
            self._reactor, protocol,
            {0: "w", 1: "r", 2: "r", WORKER_FD: fd, STATUS_FD: "r"},
            lambda: self._run(spec, parent))
        # It reads nothing: its configuration came with the fork.
        transport.closeChildFD(0)
        return transport


def launcher_for(worker_start: str, reactor: Any) -> Launch:
    """
    The launcher of C{worker_start} (C{fork} or C{exec}): C{fork} where this
    platform can fork, else C{exec}.
    """
    if worker_start == "fork" and can_fork():
        return ForkLauncher(reactor)
    return ExecLauncher(reactor)
