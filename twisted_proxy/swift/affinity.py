# -*- test-case-name: tests.test_affinity -*-
"""
Swift's affinity options, read as Swift reads them: which nodes a read
tries first (C{read_affinity = r1=100, r2z1=200}) and which nodes a write
counts as local (C{write_affinity = r1, r2z1}).

Pure functions of the option text; the node ordering built on them lives
in L{twisted_proxy.backend.nodes}.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping, Optional

__all__ = [
    "AFFINITY_UNMATCHED",
    "AffinityKey",
    "LocalityPredicate",
    "parse_read_affinity",
    "parse_write_affinity",
]

#: The priority of a node no C{read_affinity} rule matches: after all others
#: (Swift's 2**32).
AFFINITY_UNMATCHED = 2 ** 32

#: Orders nodes for reads: a lower value is tried earlier.
AffinityKey = Callable[[Mapping[str, object]], int]

#: Whether a node is local for writes.
LocalityPredicate = Callable[[Mapping[str, object]], bool]

_READ_RULE = re.compile(r"r(\d+)(?:z(\d+))?=(\d+)")
_WRITE_RULE = re.compile(r"r(\d+)(?:z(\d+))?")


def _matches(region: int, zone: Optional[int], node: Mapping[str, object]) -> bool:
    return node.get("region") == region and (zone is None or node.get("zone") == zone)


def parse_read_affinity(text: str) -> AffinityKey:
    """
    The sort key of a C{read_affinity} value: comma-separated rules
    C{r<region>=<priority>} or C{r<region>z<zone>=<priority>}. A node gets
    the lowest priority of the rules it matches, L{AFFINITY_UNMATCHED} when
    none does; an empty value puts every node at 0 (no reordering).

    @raise ValueError: for a rule of another form (blanks are allowed only
        around the commas).
    """
    text = text.strip()
    if not text:
        return lambda node: 0
    rules: list[tuple[int, Optional[int], int]] = []
    for piece in text.split(","):
        match = _READ_RULE.fullmatch(piece.strip())
        if match is None:
            raise ValueError(f"invalid affinity value: {text!r}")
        region, zone, priority = match.groups()
        rules.append((int(region), None if zone is None else int(zone), int(priority)))
    rules.sort(key=lambda rule: rule[2])

    def key(node: Mapping[str, object]) -> int:
        for region, zone, priority in rules:
            if _matches(region, zone, node):
                return priority
        return AFFINITY_UNMATCHED

    return key


def parse_write_affinity(text: str) -> Optional[LocalityPredicate]:
    """
    The locality test of a C{write_affinity} value: comma-separated
    C{r<region>} or C{r<region>z<zone>}; a node is local when it matches
    any of them. C{None} for an empty value: no write affinity.

    @raise ValueError: for an item of another form.
    """
    text = text.strip()
    if not text:
        return None
    places: list[tuple[int, Optional[int]]] = []
    for piece in text.split(","):
        match = _WRITE_RULE.fullmatch(piece.strip())
        if match is None:
            raise ValueError(f"invalid write-affinity value: {text!r}")
        region, zone = match.groups()
        places.append((int(region), None if zone is None else int(zone)))

    def is_local(node: Mapping[str, object]) -> bool:
        return any(_matches(region, zone, node) for region, zone in places)

    return is_local
