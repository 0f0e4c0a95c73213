# -*- test-case-name: tests.test_paths,tests.e2e.test_paths -*-
"""
Splitting request paths into their Swift parts (version, account,
container, object) the way Swift's C{split_path} does.
"""

from functools import lru_cache
from typing import Optional

from twisted_proxy.swift.http import wire_quote

__all__ = ["auth_realm", "split_path", "split_swift_path"]


def split_path(path: str, minsegs: int = 1, maxsegs: Optional[int] = None,
               rest_with_last: bool = False) -> list[Optional[str]]:
    """
    Swift's C{split_path}: the segments of an absolute C{path}, at least
    C{minsegs} and at most C{maxsegs} (default C{minsegs}), padded with
    C{None} to C{maxsegs} items.

    No segment but the last present may be empty (C{/v1/a/} has an empty
    container; C{/v1//c} is refused), and the first C{minsegs} never may.
    With C{rest_with_last} the last segment keeps every slash after it (an
    object name); without, a trailing slash after C{maxsegs} segments is
    allowed and more segments are an error.

    @raise ValueError: for a path that breaks these rules.
    """
    if not maxsegs:
        maxsegs = minsegs
    if minsegs > maxsegs:
        raise ValueError(f"minsegs > maxsegs: {minsegs} > {maxsegs}")
    segments = _split(path, minsegs, maxsegs, rest_with_last)
    if segments is None:
        raise ValueError(f"invalid path: {path!r}")
    return list(segments)


@lru_cache(maxsize=1024)
def _split(path: str, minsegs: int, maxsegs: int, rest_with_last: bool
           ) -> Optional[tuple[Optional[str], ...]]:
    """
    L{split_path}'s segments, or C{None} for a path it refuses; kept for
    the paths seen last, as every stage of the pipeline splits the same
    request path again.
    """
    if rest_with_last:
        parts = path.split("/", maxsegs)
        count = len(parts)
        if (parts[0] or count < minsegs + 1 or count > maxsegs + 1
                or "" in parts[1:minsegs + 1]):
            return None
    else:
        parts = path.split("/", maxsegs + 1)
        count = len(parts)
        if (parts[0] or count < minsegs + 1 or count > maxsegs + 2
                or "" in parts[1:minsegs + 1]
                or (count == maxsegs + 2 and parts[maxsegs + 1])):
            return None
    segments: list[Optional[str]] = list(parts[1:maxsegs + 1])
    if not all(segments[:-1]):
        return None
    segments.extend([None] * (maxsegs - len(segments)))
    return tuple(segments)


def split_swift_path(
    path: str,
) -> tuple[Optional[str], Optional[str], Optional[str], Optional[str]]:
    """
    C{(version, account, container, object)} of C{/version/account[/container
    [/object]]}: the object keeps its slashes, missing parts are C{None}.
    Only the last part present may be empty (C{/v1/a/} is the account).

    @raise ValueError: for a path Swift answers with 404.
    """
    version, account, container, obj = split_path(path, 1, 4, rest_with_last=True)
    return version, account, container, obj


def auth_realm(path: str) -> str:
    """
    The C{Www-Authenticate} realm Swift puts on a 401 nobody chose one for
    (swob's C{www_authenticate}): the account named by the path, quoted,
    else C{unknown}.
    """
    try:
        realm = split_path(path, 2, 3, True)[1]
    except ValueError:
        return "unknown"
    if realm is None or realm in ("v1.0", "auth"):
        return "unknown"
    return wire_quote(realm)
