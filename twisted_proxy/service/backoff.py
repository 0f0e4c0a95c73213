# -*- test-case-name: tests.test_backoff -*-
"""
Restarting a supervised process that keeps crashing without restarting it
in a tight loop: the worker processes of C{workers = N} and the storage
servers of the all-in-one cluster.
"""

from __future__ import annotations

from typing import Callable, Optional

from twisted.internet.interfaces import IDelayedCall, IReactorTime

__all__ = ["RestartBackoff"]


class RestartBackoff:
    """
    When to restart one supervised process after it exits.

    The first restart comes C{initial} seconds after the exit; each exit
    that follows a run shorter than C{stable} seconds doubles the delay, up
    to C{maximum}. An exit after a run of at least C{stable} seconds is
    restarted after C{initial} seconds again: a process that crashes at
    startup (a bad file, a port in use) is tried ever more rarely, and one
    that dies now and then after working a while comes back at once.

    Call L{started} whenever the process starts and L{restart_later} when it
    exits; L{cancel} drops a restart not made yet.

    @param clock: measures the runs and schedules the restarts.
    @param initial: seconds before the first restart, and after a stable run.
    @param maximum: the longest delay, in seconds.
    @param stable: seconds of running after which the delay starts over.
    """

    def __init__(self, clock: IReactorTime, initial: float = 0.5,
                 maximum: float = 30.0, stable: float = 10.0) -> None:
        self._clock = clock
        self.initial = initial
        self.maximum = maximum
        self.stable = stable
        self._next = initial
        self._startedAt: Optional[float] = None
        self._call: Optional[IDelayedCall] = None

    def started(self) -> None:
        """
        The process (re)started now.
        """
        self._startedAt = self._clock.seconds()

    def delay(self) -> float:
        """
        The process exited now: the seconds to wait before restarting it.
        Each call counts as one exit.
        """
        ran = None if self._startedAt is None else self._clock.seconds() - self._startedAt
        self._startedAt = None
        if ran is not None and ran >= self.stable:
            self._next = self.initial
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay

    def restart_later(self, restart: Callable[[], object]) -> float:
        """
        The process exited now: call C{restart} after L{delay} seconds,
        unless L{cancel} is called first. A restart still pending is
        replaced.

        @return: the delay, in seconds.
        """
        self.cancel()
        delay = self.delay()

        def fire() -> None:
            self._call = None
            restart()

        self._call = self._clock.callLater(delay, fire)
        return delay

    @property
    def pending(self) -> bool:
        """
        Whether a restart is scheduled and not yet made.
        """
        return self._call is not None

    def cancel(self) -> None:
        """
        Drop the pending restart, if any.
        """
        call, self._call = self._call, None
        if call is not None and call.active():
            call.cancel()
