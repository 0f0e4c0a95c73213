"""
Tests for L{twisted_proxy.info.invalidation}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.info.invalidation import (
    ChangeListener,
    _Subscriber,
    change_message,
    changes_channel,
    parse_change,
)


class MessageTests(SynchronousTestCase):
    def test_channelPerPrefixAndDatabase(self) -> None:
        self.assertEqual(changes_channel("twisted-proxy:", 0), "twisted-proxy:info-changed:0")
        self.assertNotEqual(changes_channel("a:", 1), changes_channel("a:", 2))

    def test_roundTrip(self) -> None:
        message = change_message("12-ab", "container/AUTH_test/c d")
        self.assertEqual(parse_change(message), ("12-ab", "container/AUTH_test/c d"))
        self.assertEqual(parse_change(message.encode()), ("12-ab", "container/AUTH_test/c d"))

    def test_malformed(self) -> None:
        for message in ("", "origin", "origin ", " key", 3, None):
            self.assertIsNone(parse_change(message), message)


class _FakeFactory:
    def __init__(self, listener: ChangeListener) -> None:
        self.listener = listener


class ListenerTests(SynchronousTestCase):
    """
    L{ChangeListener} and its subscriber connection, driven by bytes in
    Redis's protocol over a L{StringTransport}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.forgotten: list[str] = []
        self.live_when_cleared: list[bool] = []
        self.listener = ChangeListener("ch", "me", self.forgotten.append, self.clear)

    def clear(self) -> None:
        self.live_when_cleared.append(self.listener.live)

    def connect(self) -> tuple[_Subscriber, StringTransport]:
        protocol = _Subscriber(charset="utf-8", convertNumbers=False)
        protocol.factory = _FakeFactory(self.listener)
        # txredisapi reads what follows a bulk string in a later turn of
        # its reactor.
        protocol.callLater = self.clock.callLater
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def receive(self, protocol: _Subscriber, data: bytes) -> None:
        protocol.dataReceived(data)
        while self.clock.getDelayedCalls():
            self.clock.advance(0)

    def test_subscribes(self) -> None:
        """
        Once connected, the subscriber asks for the channel; the listener
        is live, and drops every copy, once Redis confirms.
        """
        protocol, transport = self.connect()
        self.assertEqual(transport.value(), b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n")
        self.assertFalse(self.listener.live)
        self.receive(protocol, b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
        self.assertTrue(self.listener.live)
        self.assertEqual(self.live_when_cleared, [True])

    def message(self, text: str) -> bytes:
        data = text.encode()
        return (b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$%d\r\n%s\r\n" % (len(data), data))

    def test_othersChangesForgotten(self) -> None:
        """
        A change another process announced is passed on; this process's own
        announcements and malformed messages are not.
        """
        protocol, _ = self.connect()
        self.receive(protocol, b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
        self.receive(protocol, self.message("other account/AUTH_a")
                              + self.message("me account/AUTH_b")
                              + self.message("garbage"))
        self.assertEqual(self.forgotten, ["account/AUTH_a"])

    def test_lostSubscription(self) -> None:
        """
        Losing the connection makes the listener not live and drops every
        copy, since changes may now go unheard.
        """
        protocol, _ = self.connect()
        self.receive(protocol, b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
        protocol.connectionLost(Failure(ConnectionError("gone")))
        self.assertFalse(self.listener.live)
        self.assertEqual(self.live_when_cleared, [True, False])

    def test_oldConnectionLost(self) -> None:
        """
        A connection the listener no longer uses going away changes nothing.
        """
        old, _ = self.connect()
        new, _ = self.connect()
        self.receive(new, b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
        old.connectionLost(Failure(ConnectionError("gone")))
        self.assertTrue(self.listener.live)

    def test_stop(self) -> None:
        result: list[Any] = []
        self.listener.stop().addCallback(result.append)
        self.assertEqual(result, [None])
