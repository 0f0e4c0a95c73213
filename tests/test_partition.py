"""
Tests for L{twisted_proxy.controllers.base.partition}: names reach the ring
as the bytes the client sent.
"""

from __future__ import annotations

from array import array

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from tests.doubles import make_node
from twisted_proxy.controllers.base import partition
from twisted_proxy.swift.http import wsgi_str
from twisted_proxy.swift.ring import Ring


def _ring() -> Ring:
    devs = [make_node("127.0.0.1", 6000, "sdb1", id=0, region=1, zone=1, weight=1.0)]
    return Ring(devs, [array("H", [0] * 1024)], 32 - 10,
                hash_prefix=b"prefix", hash_suffix=b"suffix")


class PartitionTests(SynchronousTestCase):
    @given(st.text(min_size=1), st.text(min_size=1), st.text(min_size=1))
    def test_utf8Names(self, account: str, container: str, obj: str) -> None:
        """
        A name that arrived as UTF-8 bytes (held as a latin-1 WSGI string)
        lands on the partition of the text it spells, as in Swift.
        """
        ring = _ring()

        def wsgi(text: str) -> str:
            return wsgi_str(text.encode("utf-8", "surrogatepass"))

        self.assertEqual(
            partition(ring, wsgi(account), wsgi(container), wsgi(obj)),
            ring.get_part(account.encode("utf-8", "surrogatepass"),
                          container.encode("utf-8", "surrogatepass"),
                          obj.encode("utf-8", "surrogatepass")),
        )

    def test_nonAscii(self) -> None:
        ring = _ring()
        name = "\u2603"
        self.assertEqual(partition(ring, "AUTH_test", wsgi_str(name.encode("utf-8"))),
                         ring.get_part("AUTH_test", name))
