# -*- test-case-name: tests.test_ec_buckets -*-
"""
Choosing the fragment answers an erasure-coded GET is served from.

The answers to fragment GETs are put in buckets, as Swift's proxy does: good
answers by the timestamp of their data, bad ones by status. A bucket of
good answers can serve the object once it holds C{k} distinct fragment
indexes and some node said the object at its timestamp is durable. Nodes
also say which other fragments they hold (C{X-Backend-Fragments}): those
nodes may be asked again, for a fragment the bucket still lacks
(L{AnswerCollection.provide_alternate_node}).
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from typing import Any, Optional

from twisted_proxy.swift.bestresponse import is_good_source
from twisted_proxy.swift.http import HeaderDict
from twisted_proxy.swift.ring import Node
from twisted_proxy.swift.timestamp import Timestamp, header_timestamp

__all__ = ["FragmentAnswer", "Bucket", "AnswerCollection", "is_good_source"]

_RANDOM = random.Random()
# A worker forked from the proxy (worker_start = fork) would otherwise draw
# the same numbers as its parent and every other worker.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_RANDOM.seed)


@dataclass(eq=False)
class FragmentAnswer:
    """
    One node's answer to a fragment GET.

    @ivar node: the ring device asked.
    @ivar status: the HTTP status, or 0 when there was no usable answer.
    @ivar headers: the response headers.
    @ivar body: the body of a bad answer, read.
    @ivar source: the unread response of a good answer (for the caller).
    """

    node: Node
    status: int = 0
    reason: str = ""
    headers: HeaderDict = field(default_factory=HeaderDict)
    body: bytes = b""
    source: Any = None

    @property
    def last_status(self) -> int:
        """
        The status Swift files the answer under: 500 for none.
        """
        return self.status or 500

    @property
    def frag_index(self) -> Optional[int]:
        value = self.headers.get("X-Object-Sysmeta-Ec-Frag-Index")
        try:
            return None if value is None else int(value)
        except ValueError:
            return None


class Bucket:
    """
    Answers for one data timestamp, or (bad buckets) with one status.

    @param timestamp: the bucket's timestamp, or C{None} for a bucket of
        bad answers, which keeps the newest timestamp its answers name.
    """

    def __init__(self, ndata: int, nparity: int, replicas: int,
                 timestamp: Optional[Timestamp]) -> None:
        self._ndata = ndata
        self._nparity = nparity
        self._replicas = replicas
        self.timestamp: Timestamp = timestamp if timestamp is not None else Timestamp(0)
        self._update_timestamp = timestamp is None
        self.gets: dict[Optional[int], list[FragmentAnswer]] = {}
        self.alt_nodes: dict[int, list[Node]] = {}
        self.durable = False
        self.status: Optional[int] = None
        self.headers: Optional[HeaderDict] = None

    def add(self, answer: FragmentAnswer) -> None:
        """
        File C{answer} here.

        @raise ValueError: when its object etag differs from that of the
            bucket's first answer (its fragments would not decode together).
        """
        headers = answer.headers
        stamp = header_timestamp(headers.get("X-Backend-Timestamp") or headers.get("X-Timestamp"))
        if stamp is not None and self._update_timestamp:
            self.timestamp = max(stamp, self.timestamp)
        if not self.gets:
            self.status = answer.last_status
            self.headers = headers
        else:
            assert self.headers is not None
            if (headers.get("X-Object-Sysmeta-Ec-Etag")
                    != self.headers.get("X-Object-Sysmeta-Ec-Etag")):
                raise ValueError("ETag mismatch")
        self.gets.setdefault(answer.frag_index, []).append(answer)

    def responses(self) -> list[FragmentAnswer]:
        """
        The answers worth using: one per fragment index (all of those
        without one).
        """
        out: list[FragmentAnswer] = []
        for index, answers in self.gets.items():
            out.extend(answers if index is None else answers[:1])
        return out

    def add_alternate_nodes(self, node: Node, indexes: list[int]) -> None:
        for index in indexes:
            self.alt_nodes.setdefault(index, []).append(node)

    @property
    def shortfall(self) -> int:
        """
        How many more answers the bucket needs; a bucket not known to be
        durable wants answers from every primary that may hold one.
        """
        count = len(self.responses())
        if self.durable or self.status == 416:
            return max(self._ndata - count, 0)
        alternates = min(self._replicas - count, self._nparity)
        return max(1, self._ndata - count, alternates)

    @property
    def shortfall_with_alts(self) -> int:
        """
        The shortfall left if the alternate nodes were asked too.
        """
        alternates = set(self.alt_nodes) - set(self.gets)
        return max(self._ndata - (len(self.responses()) + len(alternates)), 0)


class AnswerCollection:
    """
    Every answer of one erasure-coded GET, in buckets.

    @param ndata: C{k}.
    @param nparity: C{m}.
    @param replicas: the object ring's replica count.
    """

    def __init__(self, ndata: int, nparity: int, replicas: int,
                 rng: Optional[random.Random] = None) -> None:
        self._ndata = ndata
        self._nparity = nparity
        self._replicas = replicas
        self._rng = rng or _RANDOM
        self.buckets: dict[Timestamp, Bucket] = {}
        self.default_bad_bucket = self._new(None)
        self.bad_buckets: dict[int, Bucket] = {}
        self.node_iter_count = 0

    def _new(self, timestamp: Optional[Timestamp]) -> Bucket:
        return Bucket(self._ndata, self._nparity, self._replicas, timestamp)

    def _bucket(self, timestamp: Timestamp) -> Bucket:
        bucket = self.buckets.get(timestamp)
        if bucket is None:
            bucket = self.buckets[timestamp] = self._new(timestamp)
        return bucket

    def add(self, answer: FragmentAnswer) -> None:
        """
        File one answer.

        @raise ValueError: for a good answer whose object etag differs from
            others of its timestamp (it is not filed).
        """
        if 200 <= answer.last_status < 300:
            self._add_good(answer)
        else:
            bucket = self.bad_buckets.get(answer.last_status)
            if bucket is None:
                bucket = self.bad_buckets[answer.last_status] = self._new(None)
            bucket.add(answer)

    def _add_good(self, answer: FragmentAnswer) -> None:
        headers = answer.headers
        data = header_timestamp(headers.get("X-Backend-Data-Timestamp"))
        stamp = header_timestamp(headers.get("X-Backend-Timestamp") or headers.get("X-Timestamp"))
        self._bucket(data or stamp or Timestamp(0)).add(answer)
        try:
            fragments = json.loads(headers.get("X-Backend-Fragments") or "null") or {}
        except ValueError:
            fragments = {}
        if isinstance(fragments, dict):
            for when, indexes in fragments.items():
                when_stamp = header_timestamp(when)
                if when_stamp is not None and isinstance(indexes, list):
                    self._bucket(when_stamp).add_alternate_nodes(answer.node, indexes)
        durable = header_timestamp(headers.get("X-Backend-Durable-Timestamp"))
        if durable is None and data is None:
            # An object server that does not say: its fragment is durable.
            durable = stamp
        if durable is not None:
            self._bucket(durable).durable = True

    def _sorted(self) -> list[Bucket]:
        return sorted(
            self.buckets.values(),
            key=lambda b: (b.durable, b.shortfall <= 0, -b.shortfall_with_alts,
                           b.timestamp),
            reverse=True,
        )

    @property
    def best_bucket(self) -> Bucket:
        """
        The newest durable bucket with enough answers, or the nearest to
        it; a bucket older than a tombstone (a 404 with a timestamp) never;
        without a good bucket, the least bad one.
        """
        not_found = self.bad_buckets.get(404)
        for bucket in self._sorted():
            if (not_found is not None and not_found.timestamp
                    and bucket.timestamp < not_found.timestamp):
                continue
            return bucket
        return self.least_bad_bucket

    @property
    def least_bad_bucket(self) -> Bucket:
        """
        The bad bucket nearest to a decision; 404s are never enough to stop
        looking.
        """
        if all(status == 404 for status in self.bad_buckets):
            return self.default_bad_bucket
        _, status = min((bucket.shortfall, status)
                        for status, bucket in self.bad_buckets.items() if status != 404)
        return self.bad_buckets[status]

    @property
    def shortfall(self) -> int:
        return min(self.best_bucket.shortfall, self.least_bad_bucket.shortfall)

    def fragment_preferences(self) -> str:
        """
        The C{X-Backend-Fragment-Preferences} value: for each timestamp, best
        bucket first, the fragment indexes already in hand.
        """
        prefs = []
        for bucket in self._sorted():
            if bucket.timestamp:
                prefs.append({
                    "timestamp": bucket.timestamp.internal,
                    "exclude": [index for index in bucket.gets if index is not None],
                })
        return json.dumps(prefs)

    def _alternate_nodes(self) -> Optional[list[Node]]:
        if self.node_iter_count <= self._ndata:
            # Ask distinct nodes first: alternates only once k were asked.
            return None
        bucket = self.best_bucket
        if bucket.shortfall <= 0 or not bucket.durable:
            return None
        wanted = list(set(bucket.alt_nodes) - set(bucket.gets))
        self._rng.shuffle(wanted)
        for index in wanted:
            nodes = bucket.alt_nodes.get(index)
            if nodes:
                return nodes
        return None

    def has_alternate_node(self) -> bool:
        return bool(self._alternate_nodes())

    def provide_alternate_node(self) -> Optional[Node]:
        """
        Called for each node a GET is about to be sent to: a node known to
        hold a fragment the best bucket lacks, to ask instead, or C{None}.
        """
        self.node_iter_count += 1
        nodes = self._alternate_nodes()
        if nodes:
            return Node(**nodes.pop(0))
        return None

    def close_others(self, chosen: Bucket) -> list[FragmentAnswer]:
        """
        The answers of buckets other than C{chosen}: their connections are
        to be closed.
        """
        out: list[FragmentAnswer] = []
        for bucket in self.buckets.values():
            if bucket is not chosen:
                for answers in bucket.gets.values():
                    out.extend(answers)
        return out
