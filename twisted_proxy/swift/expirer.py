# -*- test-case-name: tests.test_expirer -*-
"""
The queue of Swift's object expirer, as a proxy sees it.

An object written with C{X-Delete-At: T} is queued for
C{swift-object-expirer} as the task object C{T-<account>/<container>/<object>}
(L{task_object_name}) in a task container of the account
C{.expiring_objects}. The proxy computes which task container
(L{ExpirerQueue.task_container}) and names its partition and container
nodes to the object servers in C{X-Delete-At-Container},
C{X-Delete-At-Partition}, C{X-Delete-At-Host} and C{X-Delete-At-Device}
(L{expirer_slot_headers}); the object servers then write the queue entry.
Without these headers no object server queues anything and an expired
object is never reaped.

Task containers are spread over the day (the divisor) before C{T}: the
container is C{T} rounded down to a multiple of the divisor, minus a shard
of 0 to 99 taken from the object's path hash, ten digits.

An asynchronous delete (SLO's C{?multipart-manifest=delete&async=true})
queues rows of its own (L{async_delete_rows}) in the task container of
the manifest's deletion time: each names one object to delete, at that
time, by its high-precision timestamp, with the content type
L{ASYNC_DELETE_TYPE}; the expirer deletes them without checking any
C{X-Delete-At}.

Nothing here does I/O; the caller looks the partition and nodes up in the
container ring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from hashlib import md5
from typing import Any, Mapping, Optional, Sequence, Union

from twisted_proxy.swift.bestresponse import quorum_size
from twisted_proxy.swift.ring import hash_path
from twisted_proxy.swift.timestamp import Timestamp, normalize_delete_at_timestamp
from twisted_proxy.swift.truthy import is_true

__all__ = [
    "DEFAULT_CONTAINER_DIVISOR",
    "TASK_CONTAINERS_PER_DIVISOR",
    "QUEUE_ACCOUNT_NAME",
    "CLEAN_QUEUE_HEADER",
    "CLEAN_QUEUE_UPDATES",
    "ASYNC_DELETE_TYPE",
    "ExpirerQueue",
    "async_delete_rows",
    "check_container_divisor",
    "task_object_name",
    "container_updates_needed",
    "expirer_slot_headers",
    "open_expired",
]

#: Swift's C{expiring_objects_container_divisor} (seconds), which it keeps
#: only as a deprecated option.
DEFAULT_CONTAINER_DIVISOR = 86400

#: How many task containers one divisor's worth of delete-at times is
#: spread over.
TASK_CONTAINERS_PER_DIVISOR = 100

#: The queue account's name after the auto-create prefix (C{.}).
QUEUE_ACCOUNT_NAME = "expiring_objects"

#: Tells an object server whether to remove the object's old queue entry
#: (C{t}) or leave that to the expirer (C{f}).
CLEAN_QUEUE_HEADER = "X-Backend-Clean-Expiring-Object-Queue"

#: How many of a write's backend requests ask to remove the old queue
#: entry: each one that does queues an update for every container replica,
#: so Swift keeps it to two.
CLEAN_QUEUE_UPDATES = 2


#: The content type of a queue row that asks for an object's deletion
#: (rather than its expiry).
ASYNC_DELETE_TYPE = "application/async-deleted"


def check_container_divisor(divisor: int) -> int:
    """
    Check an C{expiring_objects_container_divisor}.

    @return: C{divisor}.
    @raise ValueError: unless it is greater than
        L{TASK_CONTAINERS_PER_DIVISOR} (Swift refuses to start then).
    """
    if divisor <= TASK_CONTAINERS_PER_DIVISOR:
        raise ValueError(f"must be greater than {TASK_CONTAINERS_PER_DIVISOR}")
    return divisor


@dataclass(frozen=True)
class ExpirerQueue:
    """
    Where one cluster's expirer queue is.

    @ivar account: the queue account, C{.expiring_objects} by default.
    @ivar divisor: the span of delete-at times (seconds) whose task
        containers lie in one block of L{TASK_CONTAINERS_PER_DIVISOR}.
    @ivar hash_prefix: C{swift_hash_path_prefix}.
    @ivar hash_suffix: C{swift_hash_path_suffix}.
    """

    account: str
    divisor: int
    hash_prefix: bytes = field(repr=False)
    hash_suffix: bytes = field(repr=False)

    @classmethod
    def configure(
        cls,
        hash_prefix: bytes,
        hash_suffix: bytes,
        auto_create_account_prefix: str = ".",
        account_name: Optional[str] = None,
        divisor: Optional[int] = None,
    ) -> "ExpirerQueue":
        """
        The queue as Swift's options define it.

        @param auto_create_account_prefix: C{swift.conf}'s constraint of
            that name.
        @param account_name: the deprecated C{expiring_objects_account_name}
            (the queue account is the prefix and this), or C{None}.
        @param divisor: the deprecated C{expiring_objects_container_divisor},
            or C{None} for L{DEFAULT_CONTAINER_DIVISOR}.
        @raise ValueError: for a divisor L{check_container_divisor} refuses.
        """
        return cls(
            account=auto_create_account_prefix + (
                QUEUE_ACCOUNT_NAME if account_name is None else account_name),
            divisor=check_container_divisor(
                DEFAULT_CONTAINER_DIVISOR if divisor is None else divisor),
            hash_prefix=hash_prefix,
            hash_suffix=hash_suffix,
        )

    def task_container(self, delete_at: int, account: Union[str, bytes],
                       container: Union[str, bytes], obj: Union[str, bytes]) -> str:
        """
        The task container, ten digits, holding the queue entry of the
        object C{account/container/obj} that expires at C{delete_at}.

        The names are hashed as the bytes of the path (text is UTF-8
        encoded): pass a proxy's WSGI strings as their latin-1 bytes, as
        Swift's proxy hashes the decoded names. (Swift's object servers
        hash their WSGI strings, so for a non-ASCII name they expect
        another container; they log that and use the proxy's.)
        """
        digest = hash_path(account, container, obj,
                           prefix=self.hash_prefix, suffix=self.hash_suffix)
        shard = int(digest, 16) % TASK_CONTAINERS_PER_DIVISOR
        return normalize_delete_at_timestamp(
            int(delete_at) // self.divisor * self.divisor - shard)


def task_object_name(delete_at: Union[int, float, str], account: str, container: str,
                     obj: str, high_precision: bool = False) -> str:
    """
    The name of an object's queue entry: C{<delete_at, ten digits>-a/c/o}
    (C{<delete_at, %016.5f>-a/c/o} with C{high_precision}).
    """
    stamp = normalize_delete_at_timestamp(delete_at, high_precision)
    return f"{stamp}-{account}/{container}/{obj}"


def async_delete_rows(stamp: Timestamp, account: str, container: str,
                      objects: Sequence[str]) -> list[dict[str, Any]]:
    """
    The queue rows (as a container C{UPDATE} takes them) asking the
    expirer to delete C{objects} of C{account/container} (text, not WSGI
    strings) as of C{stamp}, as Swift's C{make_delete_jobs}.
    """
    return [{
        "name": task_object_name(float(stamp), account, container, obj, high_precision=True),
        "deleted": 0,
        "created_at": stamp.internal,
        "etag": md5(b"", usedforsecurity=False).hexdigest(),
        "size": 0,
        "storage_policy_index": 0,
        "content_type": ASYNC_DELETE_TYPE,
    } for obj in objects]


def container_updates_needed(container_replicas: int, object_requests: int,
                             object_quorum: Optional[int] = None) -> int:
    """
    How many container (or queue) updates a write of C{object_requests}
    backend requests carries, as Swift counts them: enough that the
    updates of a quorum of successful object writes still reach a quorum
    of container replicas, and at least one per container replica.

    @param object_quorum: the object policy's quorum; by default that of
        a replicated policy of C{object_requests} replicas.
    """
    if object_quorum is None:
        object_quorum = quorum_size(object_requests)
    return max(quorum_size(container_replicas) + object_requests - object_quorum,
               container_replicas)


def expirer_slot_headers(
    object_requests: int,
    container_replicas: int,
    queue: Optional[tuple[str, int, Sequence[Mapping[str, Any]]]] = None,
    object_quorum: Optional[int] = None,
) -> list[dict[str, str]]:
    """
    The expirer headers of each of a write's backend requests, by slot.

    Every request gets L{CLEAN_QUEUE_HEADER}: C{t} for the first
    L{CLEAN_QUEUE_UPDATES}, C{f} for the others.

    With C{queue}, the task container, its partition and its nodes (in
    ring order), the queue's container nodes are handed out as Swift does:
    L{container_updates_needed} of them, cycling over the nodes, to the
    slots from the last one backwards (so they land on other object nodes
    than the first container updates). A slot given several nodes names
    them comma-separated, in the order given; a slot given none gets no
    C{X-Delete-At-*} header at all.

    @param object_requests: the number of backend requests (the object
        replicas).
    @param container_replicas: the replica count of the container ring,
        which sets how many updates are needed.
    @param object_quorum: the object policy's quorum (see
        L{container_updates_needed}).
    """
    slots: list[dict[str, str]] = [
        {CLEAN_QUEUE_HEADER: "t" if index < CLEAN_QUEUE_UPDATES else "f"}
        for index in range(object_requests)
    ]
    if queue is None or object_requests == 0:
        return slots
    task_container, part, nodes = queue
    if not nodes:
        return slots
    needed = container_updates_needed(container_replicas, object_requests, object_quorum)
    for update in range(needed):
        node = nodes[update % len(nodes)]
        headers = slots[object_requests - 1 - update % object_requests]
        headers["X-Delete-At-Container"] = task_container
        headers["X-Delete-At-Partition"] = str(part)
        _append(headers, "X-Delete-At-Host", f"{node['ip']}:{node['port']}")
        _append(headers, "X-Delete-At-Device", str(node["device"]))
    return slots


def _append(headers: dict[str, str], name: str, value: str) -> None:
    if name in headers:
        headers[name] = f"{headers[name]},{value}"
    else:
        headers[name] = value


def open_expired(allow_open_expired: bool, requested: Optional[str]) -> bool:
    """
    Whether a read or POST may reach an object past its C{X-Delete-At}
    that the expirer has not removed yet: the proxy allows it
    (C{allow_open_expired}) and the client asks with a true
    C{X-Open-Expired} header (C{requested}).
    """
    return allow_open_expired and is_true(requested)
