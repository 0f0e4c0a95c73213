"""
Tests for L{twisted_proxy.swift.bestresponse}.
"""

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.bestresponse import (
    BackendResponse,
    QuorumTally,
    best_response,
    have_quorum,
    is_good_source,
    quorum_size,
)
from twisted_proxy.swift.http import HeaderDict

_statuses = st.sampled_from(
    [100, 200, 201, 202, 204, 301, 304, 400, 404, 409, 412, 499, 500, 503, 507]
)


def answers(*statuses: int) -> list[BackendResponse]:
    return [
        (
            status,
            "Reason %d" % i,
            b"body %d" % i,
            HeaderDict([("X-Index", str(i)), ("Content-Type", "x/y")]),
        )
        for i, status in enumerate(statuses)
    ]


class QuorumTests(SynchronousTestCase):
    def test_quorum_size(self) -> None:
        self.assertEqual(
            [quorum_size(n) for n in range(1, 7)], [1, 1, 2, 2, 3, 3]
        )

    def test_have_quorum(self) -> None:
        self.assertFalse(have_quorum([201], 3))
        self.assertTrue(have_quorum([201, 202], 3))
        self.assertFalse(have_quorum([201, 404], 3))
        self.assertTrue(have_quorum([100, 100], 3))
        self.assertFalse(have_quorum([503, 503, 503], 3))
        self.assertTrue(have_quorum([404], 2))
        self.assertTrue(have_quorum([201], 3, quorum=1))


class BestResponseTests(SynchronousTestCase):
    def test_unanimous(self) -> None:
        response = best_response(answers(201, 201, 201), "Container PUT", 3)
        self.assertEqual(response.status, 201)
        self.assertEqual(response.headers["X-Index"], "0")

    def test_highest_status_in_class(self) -> None:
        response = best_response(answers(201, 202, 503), "Container PUT", 3)
        self.assertEqual(
            (response.status, response.reason, response.body),
            (202, "Reason 1", b"body 1"),
        )
        self.assertEqual(response.headers["X-Index"], "1")

    def test_classes_preferred_in_order(self) -> None:
        """
        With quorum 2 of 4, a 2xx quorum wins over an equal 4xx one.
        """
        response = best_response(answers(404, 404, 204, 204), "Container DELETE", 4)
        self.assertEqual(response.status, 204)

    def test_no_quorum(self) -> None:
        response = best_response(answers(201, 404, 503), "Container PUT", 3)
        self.assertEqual(response.status, 503)
        self.assertIn(b"Service Unavailable", response.body)

    def test_server_errors_never_quorum(self) -> None:
        response = best_response(answers(507, 507, 507), "Account PUT", 3)
        self.assertEqual(response.status, 503)

    def test_missing_count_as_503(self) -> None:
        self.assertEqual(best_response(answers(201), "Container PUT", 3).status, 503)
        self.assertEqual(best_response(answers(201, 201), "Container PUT", 3).status, 201)

    def test_overrides(self) -> None:
        """
        Overridden statuses count toward a class's quorum but never supply
        the answer.
        """
        response = best_response(
            answers(204, 404, 503), "Container DELETE", 3, overrides={404: 204}
        )
        self.assertEqual((response.status, response.headers["X-Index"]), (204, "0"))
        response = best_response(
            answers(500, 500, 404), "Container DELETE", 3, overrides={500: 204}
        )
        self.assertEqual(response.status, 503)

    def test_overrides_only_without_quorum(self) -> None:
        response = best_response(
            answers(404, 404, 204), "Object DELETE", 3, overrides={404: 204}
        )
        self.assertEqual(response.status, 404)

    def test_headers(self) -> None:
        backend = HeaderDict(
            [
                ("Etag", '"abc"'),
                ("Date", "d"),
                ("Content-Length", "99"),
                ("Content-Type", "text/plain"),
                ("Connection", "close"),
                ("X-Put-Timestamp", "1"),
                ("X-Delete-After", "5"),
                ("X-Timestamp", "1"),
            ]
        )
        response = best_response([(201, "Created", b"", backend)], "Object PUT", 1)
        self.assertEqual(
            dict(response.headers.items()),
            {
                "Content-Type": "text/html; charset=UTF-8",
                "Etag": "abc",
                "X-Timestamp": "1",
                "Content-Length": "0",
            },
        )

    def test_etag(self) -> None:
        response = best_response(answers(201), "Object PUT", 1, etag='"d41d"')
        self.assertEqual(response.headers["Etag"], "d41d")

    def test_head_503_has_no_body(self) -> None:
        response = best_response([], "Account HEAD", 3, method="HEAD")
        self.assertEqual((response.status, response.body), (503, b""))

    @given(st.lists(_statuses, min_size=1, max_size=7), st.integers(0, 3))
    def test_invariants(self, statuses: list[int], missing: int) -> None:
        """
        The answer is always one some quorum gave, the best of its class,
        or 503 when no class has a quorum.
        """
        node_count = len(statuses) + missing
        quorum = quorum_size(node_count)
        response = best_response(answers(*statuses), "X", node_count)
        deciding = [
            hundred
            for hundred in (200, 300, 400)
            if sum(hundred <= s < hundred + 100 for s in statuses) >= quorum
        ]
        if not deciding:
            self.assertEqual(response.status, 503)
            return
        hundred = deciding[0]
        members = [s for s in statuses if hundred <= s < hundred + 100]
        self.assertEqual(response.status, max(members))
        index = int(response.headers["X-Index"])
        self.assertEqual(statuses[index], response.status)
        self.assertEqual(statuses.index(response.status), index)
        self.assertTrue(have_quorum(statuses, node_count))

    @given(st.lists(_statuses, min_size=1, max_size=7))
    def test_order_independent_status(self, statuses: list[int]) -> None:
        forward = best_response(answers(*statuses), "X", len(statuses))
        backward = best_response(answers(*reversed(statuses)), "X", len(statuses))
        self.assertEqual(forward.status, backward.status)


class GoodSourceTests(SynchronousTestCase):
    def test_statuses(self) -> None:
        """
        2xx, 3xx and 416 answers are sources of an object read; others not.
        """
        self.assertEqual([s for s in (199, 200, 206, 304, 399, 400, 404, 416, 500)
                          if is_good_source(s)], [200, 206, 304, 399, 416])


class QuorumTallyTests(SynchronousTestCase):
    """
    L{QuorumTally} says what L{have_quorum} says, after every status.
    """

    @given(st.lists(st.integers(0, 999) | _statuses, max_size=9), st.integers(0, 9),
           st.one_of(st.none(), st.integers(0, 5)))
    def test_asHaveQuorum(self, statuses: list[int], node_count: int,
                          quorum: "int | None") -> None:
        tally = QuorumTally(node_count, quorum)
        self.assertEqual(tally.decided, have_quorum([], node_count, quorum))
        for seen in range(1, len(statuses) + 1):
            decided = tally.add(statuses[seen - 1])
            self.assertEqual(decided, have_quorum(statuses[:seen], node_count, quorum),
                             statuses[:seen])
            self.assertEqual(tally.decided, decided)
