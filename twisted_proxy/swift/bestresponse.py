# -*- test-case-name: tests.test_bestresponse -*-
"""
Turning the answers of several backend servers into the one answer the
client gets.

A write to an account, container or object goes to every replica. The
client's status is decided by quorum: the first of the 2xx, 3xx and 4xx
classes (in that order) that at least a quorum of servers answered with
wins, and within it the numerically highest status. Server errors never
form a quorum: without a deciding class the answer is 503.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional, Sequence, Union

from twisted_proxy.swift.http import HeaderDict, SwiftResponse, error_response

__all__ = [
    "BackendResponse",
    "is_good_source",
    "quorum_size",
    "have_quorum",
    "QuorumTally",
    "best_response",
]

Headers = Union[HeaderDict, Mapping[str, str], Iterable[tuple[str, str]]]

#: One backend's answer: C{(status, reason, body, headers)}.
BackendResponse = tuple[int, str, bytes, Headers]


def is_good_source(status: int) -> bool:
    """
    Whether an object server's status carries object data (or a usable
    redirect, or a 416), as Swift judges a GET or HEAD source.
    """
    return 200 <= status < 400 or status == 416

# The classes a decision can be made in, in order of preference.
_DECIDING_CLASSES = (200, 300, 400)
# have_quorum also stops waiting on a quorum of informational answers.
_SETTLING_CLASSES = (100, 200, 300, 400)

# Backend headers that describe the backend's own message, not the
# resource, and so never reach the client from a quorum response.
_UNCOPIED = frozenset(
    ("date", "content-length", "content-type", "connection",
     "x-put-timestamp", "x-delete-after")
)


def quorum_size(n: int) -> int:
    """
    How many of C{n} replicas must agree: a strict majority for odd C{n},
    half for even C{n} (C{(n + 1) // 2}). Swift uses it for accounts,
    containers and replicated object policies alike.
    """
    return (n + 1) // 2


def _in_class(status: int, hundred: int) -> bool:
    return hundred <= status < hundred + 100


def have_quorum(
    statuses: Sequence[int], node_count: int, quorum: Optional[int] = None
) -> bool:
    """
    Whether the statuses received so far already decide the outcome, so
    the proxy need wait no longer: C{quorum} (default
    L{quorum_size}C{(node_count)}) of them fall in one 1xx-4xx class.
    """
    if quorum is None:
        quorum = quorum_size(node_count)
    if len(statuses) < quorum:
        return False
    return any(
        sum(1 for status in statuses if _in_class(status, hundred)) >= quorum
        for hundred in _SETTLING_CLASSES
    )


class QuorumTally:
    """
    L{have_quorum} kept up as answers come, one status at a time, for a
    caller that asks after each: a count per class rather than a pass
    over every status so far.

    @ivar decided: what L{have_quorum} would say of the statuses added.
    """

    __slots__ = ("_quorum", "_counts", "decided")

    def __init__(self, node_count: int, quorum: Optional[int] = None) -> None:
        self._quorum = quorum_size(node_count) if quorum is None else quorum
        self._counts = [0] * len(_SETTLING_CLASSES)
        self.decided = self._quorum <= 0

    def add(self, status: int) -> bool:
        """
        Count one more status; whether the statuses now decide.
        """
        index = status // 100 - 1
        if 0 <= index < len(self._counts):
            count = self._counts[index] = self._counts[index] + 1
            if count >= self._quorum:
                self.decided = True
        return self.decided


def _header_pairs(headers: Headers) -> Iterable[tuple[str, str]]:
    if isinstance(headers, Mapping):
        return headers.items()
    return headers


def _decide(
    statuses: Sequence[int], quorum: int, unusable: frozenset[int]
) -> Optional[int]:
    """
    The index of the deciding response, or C{None}. A class whose only
    members are C{unusable} (stand-ins for overridden statuses) counts
    towards its quorum but cannot supply the answer, so the next class is
    tried.
    """
    for hundred in _DECIDING_CLASSES:
        members = [i for i, status in enumerate(statuses) if _in_class(status, hundred)]
        if len(members) < quorum:
            continue
        usable = [i for i in members if i not in unusable]
        if usable:
            # max() keeps the first of equal statuses: the earliest answer.
            return max(usable, key=lambda i: statuses[i])
    return None


def best_response(
    responses: Sequence[BackendResponse],
    server_type: str,
    node_count: int,
    quorum: Optional[int] = None,
    overrides: Optional[Mapping[int, int]] = None,
    etag: Optional[str] = None,
    method: str = "GET",
) -> SwiftResponse:
    """
    The client's response to a request sent to C{node_count} backends.

    Missing answers (fewer than C{node_count} responses) count as 503s.
    The deciding response's status, reason and body are used; its headers
    are copied except Date, Content-Length, Content-Type, Connection,
    X-Put-Timestamp and X-Delete-After, with quotes stripped from Etag. The
    Content-Type is Swift's default C{text/html; charset=UTF-8}.

    If no class reaches quorum and C{overrides} is given, each status it
    maps is counted as its replacement (e.g. C{{404: 204}} so that a DELETE
    some replicas had already applied succeeds) and the decision is
    retried; a replaced response never supplies the answer itself.

    @param server_type: e.g. C{"Container PUT"}, for diagnostics.
    @param quorum: the agreement required; default
        L{quorum_size}C{(max(len(responses), node_count))}.
    @param etag: when given, the response's Etag (one pair of enclosing
        quotes stripped).
    @param method: the client's method; a 503 to HEAD has no body.
    @return: the decided response, or a 503 when nothing is decided.
    """
    answers = list(responses)
    while len(answers) < node_count:
        answers.append(
            (503, "Service Unavailable", b"", HeaderDict())
        )
    if quorum is None:
        quorum = quorum_size(len(answers))
    statuses = [status for status, _reason, _body, _headers in answers]

    chosen = _decide(statuses, quorum, frozenset())
    if chosen is None and overrides:
        replaced = frozenset(i for i, s in enumerate(statuses) if s in overrides)
        chosen = _decide(
            [overrides.get(s, s) if i in replaced else s for i, s in enumerate(statuses)],
            quorum,
            replaced,
        )
    if chosen is None:
        return error_response(503, method=method)

    status, reason, body, backend_headers = answers[chosen]
    headers = HeaderDict({"Content-Type": "text/html; charset=UTF-8"})
    for name, value in _header_pairs(backend_headers):
        lowered = name.lower()
        if lowered == "etag":
            headers[name] = value.replace('"', "")
        elif lowered not in _UNCOPIED:
            headers[name] = value
    if etag:
        if len(etag) > 1 and etag.startswith('"') and etag.endswith('"'):
            etag = etag[1:-1]
        headers["Etag"] = etag
    headers["Content-Length"] = str(len(body))
    return SwiftResponse(status, headers, body, reason=reason or None)
