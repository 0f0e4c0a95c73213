"""
Tests for L{twisted_proxy.swift.ec.buckets}: which fragment answers an EC
GET is served from, as Swift chooses.
"""

from __future__ import annotations

import json
import random
from typing import Optional

from twisted.trial.unittest import SynchronousTestCase

from tests.doubles import make_node
from twisted_proxy.swift.ec.buckets import AnswerCollection, FragmentAnswer, is_good_source
from twisted_proxy.swift.http import HeaderDict
from twisted_proxy.swift.ring import Node
from twisted_proxy.swift.timestamp import Timestamp

T1 = "1700000001.00000"
T2 = "1700000002.00000"


def _node(index: int) -> Node:
    return make_node("10.0.0.1", 6200 + index, "sdb", index=index)


def _good(index: int, stamp: str = T1, durable: Optional[str] = T1, etag: str = "e",
          fragments: Optional[dict[str, list[int]]] = None) -> FragmentAnswer:
    headers = HeaderDict({
        "X-Object-Sysmeta-Ec-Frag-Index": str(index),
        "X-Object-Sysmeta-Ec-Etag": etag,
        "X-Backend-Timestamp": stamp,
        "X-Backend-Data-Timestamp": stamp,
    })
    if durable:
        headers["X-Backend-Durable-Timestamp"] = durable
    if fragments is not None:
        headers["X-Backend-Fragments"] = json.dumps(fragments)
    return FragmentAnswer(_node(index), 200, "OK", headers)


def _bad(status: int, stamp: Optional[str] = None, index: int = 9) -> FragmentAnswer:
    headers = HeaderDict()
    if stamp:
        headers["X-Backend-Timestamp"] = stamp
    return FragmentAnswer(_node(index), status, "", headers)


class CollectionTests(SynchronousTestCase):
    def collection(self) -> AnswerCollection:
        return AnswerCollection(4, 2, 6, rng=random.Random(0))

    def test_enough(self) -> None:
        """
        Four distinct durable fragments of one version are enough; a second
        answer for the same index does not count twice.
        """
        answers = self.collection()
        for index in (0, 1, 2):
            answers.add(_good(index))
        answers.add(_good(2))
        best = answers.best_bucket
        self.assertTrue(best.durable)
        self.assertEqual(best.shortfall, 1)
        answers.add(_good(5))
        self.assertEqual(answers.best_bucket.shortfall, 0)
        self.assertEqual(len(answers.best_bucket.responses()), 4)

    def test_notDurable(self) -> None:
        """
        Until a node says the version is durable, more answers are wanted:
        as many as there are primaries that may hold it.
        """
        answers = self.collection()
        for index in range(4):
            answers.add(_good(index, durable=None, stamp=T2))
        # A node not naming X-Backend-Data-Timestamp is an old server, its
        # fragment taken as durable; these name it.
        best = answers.best_bucket
        self.assertFalse(best.durable)
        self.assertEqual(best.shortfall, 2)

    def test_newestDurable(self) -> None:
        """
        A newer version beats an older one once both are complete; a durable
        one beats a newer one that is not.
        """
        answers = self.collection()
        for index in range(4):
            answers.add(_good(index, stamp=T1, durable=T1))
        for index in range(4):
            answers.add(_good(index + 2, stamp=T2, durable=None, etag="f"))
        self.assertEqual(answers.best_bucket.timestamp, Timestamp(T1))
        answers.add(_good(1, stamp=T2, durable=T2, etag="f"))
        self.assertEqual(answers.best_bucket.timestamp, Timestamp(T2))

    def test_tombstone(self) -> None:
        """
        A version older than a deletion is never served.
        """
        answers = self.collection()
        for index in range(4):
            answers.add(_good(index, stamp=T1))
        answers.add(_bad(404, stamp=T2))
        self.assertIs(answers.best_bucket, answers.default_bad_bucket)

    def test_etagMismatch(self) -> None:
        answers = self.collection()
        answers.add(_good(0, etag="a"))
        self.assertRaises(ValueError, answers.add, _good(1, etag="b"))

    def test_leastBad(self) -> None:
        """
        Without good answers, 404s keep the search going; another status
        bucket is the least bad.
        """
        answers = self.collection()
        answers.add(_bad(404))
        self.assertIs(answers.least_bad_bucket, answers.default_bad_bucket)
        answers.add(_bad(416))
        self.assertEqual(answers.least_bad_bucket.status, 416)
        self.assertTrue(is_good_source(416))
        self.assertFalse(is_good_source(404))

    def test_preferences(self) -> None:
        """
        The fragment preferences name, per timestamp, the indexes in hand.
        """
        answers = self.collection()
        answers.add(_good(0))
        answers.add(_good(3))
        self.assertEqual(json.loads(answers.fragment_preferences()),
                         [{"timestamp": Timestamp(T1).internal, "exclude": [0, 3]}])

    def test_alternates(self) -> None:
        """
        Once more than C{k} nodes were asked, a node known to hold a
        fragment the best (durable) bucket lacks is offered.
        """
        answers = self.collection()
        for index in (0, 1, 2):
            answers.add(_good(index, fragments={T1: [index, 4]} if index == 1 else None))
        for _ in range(4):
            self.assertIsNone(answers.provide_alternate_node())
        node = answers.provide_alternate_node()
        self.assertEqual(node, _node(1))
        self.assertIsNone(answers.provide_alternate_node())

    def test_closeOthers(self) -> None:
        """
        Every answer of the buckets not chosen is to be closed, a second
        answer for one index included.
        """
        answers = self.collection()
        first, second = _good(0, stamp=T2, etag="f"), _good(0, stamp=T2, etag="f")
        answers.add(first)
        answers.add(second)
        for index in range(4):
            answers.add(_good(index))
        best = answers.best_bucket
        self.assertEqual(best.timestamp, Timestamp(T1))
        self.assertEqual(answers.close_others(best), [first, second])
