"""
Tests for L{twisted_proxy.swift.transid}.
"""

import re

from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.transid import make_trans_id


class MakeTransIdTests(SynchronousTestCase):
    def test_form(self) -> None:
        trans_id = make_trans_id(1700000000.5)
        self.assertRegex(trans_id, r"^tx[0-9a-f]{21}-006553f100$")
        self.assertNotEqual(trans_id, make_trans_id(1700000000.5))
        self.assertTrue(re.fullmatch(r"tx[0-9a-f]{21}-[0-9a-f]{10}", trans_id))
