# -*- test-case-name: tests.test_ipaddrs -*-
"""
IP addresses and C{host:port} strings as Swift reads them (Swift's
C{swift.common.utils.ipaddrs}).
"""

from __future__ import annotations

import re
import socket
from typing import Optional

__all__ = ["is_valid_ip", "parse_socket_string"]

#: An address in brackets, then optionally a numeric port.
_BRACKETED = re.compile(r"^\[(?P<address>.*)\](?::(?P<port>[0-9]+))?$")


def is_valid_ip(text: str) -> bool:
    """
    Whether C{text} is an IPv4 or an IPv6 address (as C{inet_pton} reads
    them: no brackets, no zone).
    """
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, text)
        except (OSError, ValueError):
            continue
        return True
    return False


def parse_socket_string(text: str, default_port: Optional[str]
                        ) -> tuple[str, Optional[str]]:
    """
    C{(host, port)} of C{host}, C{host:port}, C{[ipv6]} or C{[ipv6]:port}
    (the port as written, C{default_port} when there is none).

    @raise ValueError: for an IPv6 address outside brackets, or brackets
        not followed by the end or a C{:} and digits.
    """
    if text.startswith("["):
        match = _BRACKETED.match(text)
        if match is None:
            raise ValueError(f"Invalid IPv6 address: {text}")
        return match.group("address"), match.group("port") or default_port
    if ":" in text:
        pieces = text.split(":")
        if len(pieces) > 2:
            raise ValueError("IPv6 addresses must be between '[]'")
        return pieces[0], pieces[1]
    return text, default_port
