"""
Tests for L{twisted_proxy_aio.ports}, with real sockets.
"""

from __future__ import annotations

import socket
from typing import Iterator

from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy_aio import ports
from twisted_proxy_aio.ports import ephemeral_range, free_port, free_ports


class FreePortsTests(SynchronousTestCase):
    """
    L{free_ports} picks distinct ports that can be listened on, below the
    ephemeral range.
    """

    def assertListenable(self, port: int) -> None:
        with socket.create_server(("127.0.0.1", port)):
            pass

    def test_belowEphemeral(self) -> None:
        """
        Every port is below the kernel's ephemeral range, distinct, and free.
        """
        low, _ = ephemeral_range()
        picked = free_ports(20)
        self.assertEqual(len(set(picked)), 20)
        for port in picked:
            self.assertLess(port, low)
            self.assertGreaterEqual(port, 10000)
            self.assertListenable(port)
        self.assertLess(free_port(), low)

    def test_takenSkipped(self) -> None:
        """
        A port something listens on is not picked, nor one picked already
        in the same call: the next choice is tried.
        """
        first, second = free_ports(2)
        with socket.create_server(("127.0.0.1", 0)) as listener:
            taken = listener.getsockname()[1]
            choices: Iterator[int] = iter([taken, first, first, second])
            picked = free_ports(2, choose=lambda low, high: next(choices))
        self.assertEqual(picked, [first, second])

    def test_noRoomBelow(self) -> None:
        """
        When the ephemeral range leaves no room below it, the kernel picks.
        """
        self.patch(ports, "ephemeral_range", lambda: (1024, 65535))

        def never(low: int, high: int) -> int:
            raise AssertionError("nothing to choose from")

        picked = free_ports(3, choose=never)
        self.assertEqual(len(set(picked)), 3)
        for port in picked:
            self.assertListenable(port)
