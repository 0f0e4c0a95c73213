# -*- test-case-name: tests.e2e.test_workers -*-
"""
Starting child processes that die with their parent.
"""

import os
import sys

__all__ = ["CHILD_LAUNCHER", "launcher_arguments"]

#: A Python program run as C{python -I -S -c CHILD_LAUNCHER PARENT_PID
#: PROGRAM ARGS...}: on Linux it asks the kernel to kill it when its parent
#: dies, checks the parent is still C{PARENT_PID}, then becomes C{PROGRAM}, so
#: a proxy that crashes leaves no orphan worker or server holding a port.
CHILD_LAUNCHER = """\
import os, sys
if sys.platform.startswith("linux"):
    try:
        import ctypes, signal
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except Exception:
        pass
    if os.getppid() != int(sys.argv[1]):
        os._exit(70)
os.execv(sys.argv[2], sys.argv[2:])
"""


def launcher_arguments(program: str, *arguments: str) -> list[str]:
    """
    The argument vector that runs C{program} with C{arguments} as a child of
    this process that dies with it (see L{CHILD_LAUNCHER}); its first item
    is the executable to spawn.
    """
    return [sys.executable, "-I", "-S", "-c", CHILD_LAUNCHER, str(os.getpid()),
            program, *arguments]
