# -*- test-case-name: tests.test_bodystream,tests.test_bulk,tests.test_formpost -*-
"""
A request body read as its reader asks for it, for the plugins that take
an upload apart as it arrives (C{bulk}'s archives, C{formpost}'s forms).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Optional

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IConsumer
from twisted.python.failure import Failure
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

__all__ = ["BodyStream"]


@implementer(IConsumer)
class BodyStream:
    """
    A request body's chunks, waiting in a buffer until the reader takes
    them: past C{high_water} bytes waiting the client is paused, and
    resumed once no more than half of that waits.

    @param body: the request body, or C{None} for none.
    @param high_water: bytes.
    """

    def __init__(self, body: Optional[IBodyProducer], high_water: int) -> None:
        self._body = body
        self._high_water = high_water
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._ended = body is None
        self._failure: Optional[Failure] = None
        self._waiters: list[Deferred[None]] = []
        self._paused = False
        self._closed = False
        if body is not None:
            body.startProducing(self).addCallbacks(self._body_ended, self._body_failed)

    # IConsumer, for the request body

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        pass

    def unregisterProducer(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        if self._closed or not data:
            return
        self._chunks.append(data)
        self._size += len(data)
        if self._size > self._high_water and not self._paused and self._body is not None:
            self._paused = True
            self._body.pauseProducing()
        self._wake()

    def _body_ended(self, _: object) -> None:
        self._ended = True
        self._wake()

    def _body_failed(self, reason: Failure) -> None:
        self._ended = True
        self._failure = reason
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if self._failure is not None:
                waiter.errback(self._failure)
            else:
                waiter.callback(None)

    # the reader's side

    @property
    def ended(self) -> bool:
        """
        Whether the body has ended: all of it has arrived, or it failed
        (the client went away).
        """
        return self._ended

    @property
    def exhausted(self) -> bool:
        """
        Whether the whole body has arrived and been taken (a body that
        failed never is: L{wait} then fails).
        """
        return self._ended and self._failure is None and not self._chunks

    def take(self) -> Optional[bytes]:
        """
        The next chunk that has arrived, or C{None} when none waits.
        """
        if not self._chunks:
            return None
        chunk = self._chunks.popleft()
        self._size -= len(chunk)
        if self._paused and self._size <= self._high_water // 2:
            assert self._body is not None
            self._paused = False
            self._body.resumeProducing()
        return chunk

    def wait(self) -> "Deferred[None]":
        """
        Fires when more of the body has arrived or it has ended; fails when
        the body failed.
        """
        if self._failure is not None:
            return fail(self._failure)
        if self._ended:
            return succeed(None)
        waiter: Deferred[None] = Deferred(self._cancel_wait)
        self._waiters.append(waiter)
        return waiter

    def _cancel_wait(self, waiter: "Deferred[None]") -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)

    def close(self) -> None:
        """
        Read no more: the rest of the body is dropped.
        """
        if self._closed:
            return
        self._closed = True
        self._chunks.clear()
        self._size = 0
        if self._body is not None and not self._ended:
            self._body.stopProducing()
