# -*- test-case-name: tests.test_invalidation,tests.e2e.test_redisstore -*-
"""
Telling every proxy process at once that a shared info entry changed.

Each process keeps a short copy of what it read from Redis
(L{LayeredInfoStore}); without word from the others, a change made through
one worker (a container's ACL, say) shows in another only when that copy
expires. So a process that changes an entry in Redis also publishes the
entry's key on a Redis channel (L{RedisInfoStore.changes}), and every
process listens on that channel through one subscriber connection of its
own (L{ChangeListener}) and drops its copy when the message comes.

Messages are C{ORIGIN KEY}: C{ORIGIN} names the publishing process, which
ignores its own (its copy is already right). A process keeps copies only
while it is subscribed: a message lost with a connection could otherwise
leave a copy stale for good, so losing the subscription drops every copy
and reads go to Redis until it is back.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Callable, Optional

import txredisapi  # type: ignore[import-untyped]
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_proxy.endpoints import client_endpoint

__all__ = ["ChangeListener", "changes_channel", "change_message", "parse_change"]

_log = Logger()


def changes_channel(key_prefix: str, db: int) -> str:
    """
    The channel that carries changes of the entries under C{key_prefix} in
    database C{db} (Redis channels are not per database).
    """
    return f"{key_prefix}info-changed:{db}"


def change_message(origin: str, key: str) -> str:
    """
    The message saying that the process C{origin} changed C{key}.
    """
    return f"{origin} {key}"


def parse_change(message: object) -> Optional[tuple[str, str]]:
    """
    C{(origin, key)} from a L{change_message}, or C{None} for anything else.
    """
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    if not isinstance(message, str):
        return None
    origin, space, key = message.partition(" ")
    if not space or not origin or not key:
        return None
    return origin, key


def new_origin() -> str:
    """
    A name for this process that no other process has.
    """
    return f"{os.getpid()}-{uuid.uuid4().hex[:12]}"


class _Subscriber(txredisapi.SubscriberProtocol):  # type: ignore[misc]
    """
    Subscribes to the listener's channel once connected (and logged in),
    and hands it every message.
    """

    @property
    def listener(self) -> "ChangeListener":
        return self.factory.listener  # type: ignore[no-any-return]

    def connectionMade(self) -> "Deferred[Any]":
        ready: Deferred[Any] = super().connectionMade()

        def subscribe(_: object) -> Any:
            if not self.connected:
                return None  # login failed; txredisapi said why
            return self.subscribe(self.listener.channel).addCallback(
                lambda _: self.listener._subscribed(self))

        return ready.addCallback(subscribe).addErrback(self._failed)

    def _failed(self, failure: Failure) -> None:
        # A connection lost meanwhile is retried by the factory.
        if not failure.check(txredisapi.ConnectionError):
            _log.warn("Subscribing to info changes failed: {why}",
                      why=failure.getErrorMessage())
        if self.transport is not None:
            self.transport.loseConnection()

    def messageReceived(self, pattern: object, channel: object, message: object) -> None:
        self.listener._message(message)

    def connectionLost(self, why: Failure) -> None:
        self.listener._unsubscribed(self)
        super().connectionLost(why)


class ChangeListener:
    """
    One subscriber connection to Redis, kept up (reconnecting with back-off)
    for as long as the process runs.

    @ivar channel: the channel listened to.
    @ivar origin: this process's name in messages; the ones it sent itself
        are not passed on.
    @ivar live: whether the subscription is in place, so that every change
        published from now on will be heard.
    """

    def __init__(self, channel: str, origin: str,
                 forget: Callable[[str], object],
                 forget_all: Callable[[], object]) -> None:
        """
        @param forget: called with the key of each entry another process
            changed.
        @param forget_all: called when the subscription is lost or (re)made:
            changes may have gone unheard in between.
        """
        self.channel = channel
        self.origin = origin
        self._forget = forget
        self._forget_all = forget_all
        self._protocol: Optional[_Subscriber] = None
        self._factory: Any = None

    @property
    def live(self) -> bool:
        return self._protocol is not None

    def start(self, reactor: Any, host: str, port: int, password: Optional[str],
              username: Optional[str], connect_timeout: float,
              initial_reconnect_delay: float = 0.2, max_reconnect_delay: float = 5.0) -> None:
        """
        Connect and subscribe in the background; reconnect whenever the
        connection is lost, until L{stop}.
        """
        factory = txredisapi.RedisFactory(
            f"{host}:{port}", None, 1, isLazy=True, handler=txredisapi.ConnectionHandler,
            charset="utf-8", password=password, username=username,
            replyTimeout=None, convertNumbers=False)
        factory.protocol = _Subscriber
        factory.listener = self
        factory.reconnect = True
        factory.initialDelay = initial_reconnect_delay
        factory.maxDelay = max_reconnect_delay
        factory.deferred.addErrback(lambda _: None)
        factory.startConnecting(client_endpoint(reactor, host, port, connect_timeout))
        self._factory = factory

    def stop(self) -> "Deferred[Any]":
        """
        Close the connection for good.
        """
        factory, self._factory = self._factory, None
        self._protocol = None
        if factory is None:
            return succeed(None)
        return factory.disconnect()  # type: ignore[no-any-return]

    def _subscribed(self, protocol: _Subscriber) -> None:
        self._protocol = protocol
        self._forget_all()
        _log.info("Listening for info changes on Redis channel {channel}",
                  channel=self.channel)

    def _unsubscribed(self, protocol: _Subscriber) -> None:
        if self._protocol is protocol:
            self._protocol = None
            self._forget_all()
            if self._factory is not None:
                _log.warn("Lost the Redis subscription to info changes; "
                          "not keeping info copies in this process until it is back")

    def _message(self, message: object) -> None:
        change = parse_change(message)
        if change is not None and change[0] != self.origin:
            self._forget(change[1])
