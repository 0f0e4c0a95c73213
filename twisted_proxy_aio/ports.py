# -*- test-case-name: tests.test_aioports -*-
"""
Free TCP ports for the servers that the all-in-one cluster, the tests and
the benchmarks start.

A port is picked below the kernel's ephemeral range. A port inside it may
be handed to some outgoing connection between the moment it is found free
and the moment a server listens on it: the proxy, for one, is given its
port before it starts the cluster's twelve storage servers and talks to
them. Below the range, only a process that binds a port by number can take
it, and picking at random keeps two such pickers apart.
"""

from __future__ import annotations

import random
import socket
from typing import Callable

__all__ = ["ephemeral_range", "free_port", "free_ports"]

#: Where the kernel says its ephemeral range is.
_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"

#: The lowest port picked: above the well-known and most registered ones.
_LOWEST = 10000

#: Linux's default ephemeral range, for systems that do not say theirs.
_DEFAULT_RANGE = (32768, 60999)

#: How many random ports are tried before falling back to the kernel's pick.
_ATTEMPTS = 200


def ephemeral_range(path: str = _RANGE_FILE) -> tuple[int, int]:
    """
    The first and last port the kernel gives outgoing connections: as
    C{path} says, or Linux's default when it cannot be read.
    """
    try:
        with open(path, encoding="ascii") as handle:
            low, high = (int(field) for field in handle.read().split())
    except (OSError, ValueError):
        return _DEFAULT_RANGE
    return low, high


def free_ports(count: int, host: str = "127.0.0.1",
               choose: Callable[[int, int], int] = random.randint) -> list[int]:
    """
    C{count} distinct TCP ports free on C{host} right now, outside the
    ephemeral range when there is room below it.

    @param choose: picks a port between its two bounds, inclusive.

    @raise OSError: when C{host} cannot be bound at all.
    """
    low, _ = ephemeral_range()
    held: list[socket.socket] = []
    try:
        attempts = 0
        while len(held) < count and low - 1 > _LOWEST and attempts < _ATTEMPTS * count:
            attempts += 1
            try:
                held.append(_bound(host, choose(_LOWEST, low - 1)))
            except OSError:
                pass  # taken: another pick
        while len(held) < count:
            # No room below the range (or none free): the kernel's pick.
            held.append(_bound(host, 0))
        return [probe.getsockname()[1] for probe in held]
    finally:
        for probe in held:
            probe.close()


def free_port(host: str = "127.0.0.1") -> int:
    """
    A TCP port free on C{host} right now (see L{free_ports}).
    """
    return free_ports(1, host)[0]


def _bound(host: str, port: int) -> socket.socket:
    """
    A socket bound to C{host}:C{port}, kept open so the port is not picked
    twice.

    @raise OSError: when the port is taken.
    """
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        probe.bind((host, port))
    except OSError:
        probe.close()
        raise
    return probe
