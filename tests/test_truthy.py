"""
Tests for L{twisted_proxy.swift.truthy}.
"""

from typing import Optional

from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.truthy import is_false, is_true


class TruthyTests(SynchronousTestCase):
    def test_true(self) -> None:
        for value in ("true", "1", "yes", "on", "t", "y", "TRUE", " On ", True):
            self.assertTrue(is_true(value), value)

    def test_notTrue(self) -> None:
        for value in (None, "", "false", "2", "yess", False, 1):
            self.assertFalse(is_true(value), value)

    def test_false(self) -> None:
        value: Optional[str]
        for value in ("false", "0", "no", "off", "f", "n", "OFF"):
            self.assertTrue(is_false(value), value)
        for value in (None, "", "true", "maybe"):
            self.assertFalse(is_false(value), value)
