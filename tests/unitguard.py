"""
The unit tests' contract, enforced: no process is started and no real socket
is bound or connected.

C{scripts/test --unit} sets C{TWISTED_PROXY_UNIT_ONLY=1}; the C{tests}
package then calls L{install} before any test module is imported. From then
on, starting a process (C{subprocess}, C{os.fork}, C{os.posix_spawn},
C{os.exec*}, C{os.system}, a reactor's C{spawnProcess}) or listening on,
binding or connecting a socket (a reactor's C{listenTCP}/C{connectTCP} and
their kin, or C{socket.socket}'s C{bind}/C{connect}/C{connect_ex}/C{sendto})
raises L{UnitContractViolation} and logs it as an error, so the test fails
even if the code under test swallows the exception. A test that needs any of
these belongs in L{tests.e2e}.
"""

from __future__ import annotations

import os
import socket
import subprocess
from typing import Any, Callable

from twisted.internet import posixbase
from twisted.logger import Logger

__all__ = ["ENVIRONMENT_VARIABLE", "UnitContractViolation", "install"]

#: Set to C{1} to have the C{tests} package install the guard.
ENVIRONMENT_VARIABLE = "TWISTED_PROXY_UNIT_ONLY"

_log = Logger()


class UnitContractViolation(Exception):
    """
    A unit test started a process or used a real socket.
    """


def _refuse(what: str) -> None:
    """
    Raise a L{UnitContractViolation} about C{what}, logging it first as an
    error (which fails the running trial test whatever the caller does with
    the exception).
    """
    try:
        raise UnitContractViolation(
            f"a unit test may not {what}: move the test to tests/e2e/"
        )
    except UnitContractViolation:
        _log.failure("unit test contract broken")
        raise


def _forbidding(what: str) -> Callable[..., Any]:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        _refuse(what)

    forbidden.__name__ = f"forbidden ({what})"
    return forbidden


# (owner, attribute, what it does): everything patched by install().
_GUARDED: list[tuple[Any, str, str]] = [
    (subprocess.Popen, "_execute_child", "start a process (subprocess)"),
    (os, "system", "start a process (os.system)"),
    (socket.socket, "bind", "bind a socket"),
    (socket.socket, "connect", "connect a socket"),
    (socket.socket, "connect_ex", "connect a socket"),
    (socket.socket, "sendto", "send on an unconnected socket"),
]
_GUARDED.extend(
    (os, name, f"start a process (os.{name})")
    for name in (
        "fork", "forkpty", "posix_spawn", "posix_spawnp",
        "execv", "execve", "execvp", "execvpe",
        "spawnv", "spawnve", "spawnvp", "spawnvpe",
    )
    if hasattr(os, name)
)
_GUARDED.extend(
    (posixbase.PosixReactorBase, name, f"use the real reactor's {name}")
    for name in (
        "spawnProcess", "listenTCP", "connectTCP", "listenSSL", "connectSSL",
        "listenUDP", "listenUNIX", "connectUNIX", "listenUNIXDatagram",
        "connectUNIXDatagram", "listenMulticast", "adoptStreamPort",
    )
    if hasattr(posixbase.PosixReactorBase, name)
)


_INHERITED = object()


def install() -> Callable[[], None]:
    """
    Forbid processes and real sockets in this process.

    @return: a function that puts back what this call replaced (for the
        guard's own tests; C{scripts/test --unit} never calls it).
    """
    # What each owner held itself: a method inherited (socket.socket's from
    # the C _socket.socket) is put back by deleting the override.
    saved = [(owner, name, vars(owner).get(name, _INHERITED)) for owner, name, _ in _GUARDED]
    for owner, name, what in _GUARDED:
        setattr(owner, name, _forbidding(what))

    def uninstall() -> None:
        for owner, name, original in reversed(saved):
            if original is _INHERITED:
                delattr(owner, name)
            else:
                setattr(owner, name, original)

    return uninstall
