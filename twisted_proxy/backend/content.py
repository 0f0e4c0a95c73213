# -*- test-case-name: tests.test_content -*-
"""
Backend response bodies: read whole, or thrown away. The one home for it in
the backend, as treq's C{content.py} is for treq.

A backend answer that is read whole (an error, a listing, a write's reply)
becomes a L{BackendAnswer}, the form L{twisted_proxy.swift.bestresponse}
merges.
"""

from __future__ import annotations

import treq
from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone
from twisted.web.iweb import IResponse

from twisted_proxy.backend.nodeclient import response_headers
from twisted_proxy.swift.http import HeaderDict, wsgi_str

__all__ = ["BackendAnswer", "bodiless_answer", "read_body", "read_answer", "discard_body",
           "drop_body"]

#: One backend's answer, read whole: C{(status, reason, body, headers)}.
BackendAnswer = tuple[int, str, bytes, HeaderDict]


def read_body(response: IResponse) -> "Deferred[bytes]":
    """
    The whole body of a (small) backend response.

    @return: a L{Deferred} firing with the body, or failing as the
        connection did (L{twisted.web.client.ResponseFailed}).
    """
    return treq.content(response)  # type: ignore[no-any-return]


def read_answer(response: IResponse) -> "Deferred[BackendAnswer]":
    """
    C{response} with its body read whole, as a L{BackendAnswer}: at once
    when it has none (as most answers to writes), without reading it.

    @return: a L{Deferred} failing as L{read_body} does.
    """
    if response.length == 0:
        return succeed(bodiless_answer(response))
    return read_body(response).addCallback(_answer, response)


def bodiless_answer(response: IResponse) -> BackendAnswer:
    """
    The L{BackendAnswer} of a C{response} that has no body
    (C{response.length == 0}): what L{read_answer} fires with, without a
    L{Deferred}, for a caller that has its own.
    """
    return _answer(b"", response)


def _answer(body: bytes, response: IResponse) -> BackendAnswer:
    return (response.code, wsgi_str(response.phrase), body, response_headers(response))


class _Discard(Protocol):
    def __init__(self) -> None:
        self.done: Deferred[None] = Deferred(self._cancel)

    def _drop(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()

    def _cancel(self, _: "Deferred[None]") -> None:
        # Reading on would keep the connection busy for nobody.
        self._drop()

    def connectionLost(self, reason: Failure = Failure(ResponseDone())) -> None:
        if not self.done.called:
            self.done.callback(None)


def discard_body(response: IResponse, close: bool = False) -> "Deferred[None]":
    """
    Throw away C{response}'s body: read it to the end (so the connection
    can go back to the pool), or, with C{close}, drop the connection.

    @return: a L{Deferred} that fires with C{None} when the body has ended,
        however it ended; cancelling it drops the connection.
    """
    protocol = _Discard()
    response.deliverBody(protocol)
    if close and not protocol.done.called:
        # Not from connectionMade: deliverBody resumes the transport after
        # that, which a closed transport need not accept.
        protocol._drop()
    return protocol.done


def drop_body(response: IResponse) -> None:
    """
    Let go of C{response}, which nobody will read: its connection is
    closed, and nobody waits for that.
    """
    discard_body(response, close=True).addErrback(lambda _: None)
