"""
Tests for L{twisted_proxy.swift.truthy}; that it agrees with Swift is
checked in L{tests.e2e.test_swiftagrees}.
"""

from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.truthy import is_false, is_true


class TruthyTests(SynchronousTestCase):
    def test_true(self) -> None:
        for value in ("true", "1", "yes", "on", "t", "y", "TRUE", "On", "yEs", True):
            self.assertTrue(is_true(value), value)

    def test_notTrue(self) -> None:
        for value in (None, "", "false", "2", "yess", False, 1, b"yes", "tru e"):
            self.assertFalse(is_true(value), value)

    def test_spacesNotStripped(self) -> None:
        """
        As Swift's C{config_true_value}, white space around a word is not
        ignored: callers get stripped values from their parsers, and a
        query parameter keeps its spaces.
        """
        for value in (" On ", "yes ", "\ttrue", "1\n"):
            self.assertFalse(is_true(value), repr(value))
        for value in (" Off ", "no ", "\tfalse", "0\n"):
            self.assertFalse(is_false(value), repr(value))

    def test_false(self) -> None:
        value: object
        for value in ("false", "0", "no", "off", "f", "n", "OFF", False):
            self.assertTrue(is_false(value), value)
        for value in (None, "", "true", "maybe", True, 0):
            self.assertFalse(is_false(value), value)
