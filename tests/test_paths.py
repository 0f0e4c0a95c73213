"""
Tests for L{twisted_proxy.swift.paths}.
"""

from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.paths import split_path, split_swift_path


class SplitPathTests(SynchronousTestCase):
    """
    L{split_path}; L{tests.e2e.test_paths} checks that it agrees with
    Swift's own C{split_path}.
    """

    def test_minAboveMax(self) -> None:
        self.assertRaises(ValueError, split_path, "/a/b", 3, 2)


class SplitSwiftPathTests(SynchronousTestCase):
    """
    L{split_swift_path} is the proxy's routing split.
    """

    def test_parts(self) -> None:
        self.assertEqual(split_swift_path("/v1"), ("v1", None, None, None))
        self.assertEqual(split_swift_path("/v1/a/"), ("v1", "a", "", None))
        self.assertEqual(split_swift_path("/v1/a/c/o/p/"), ("v1", "a", "c", "o/p/"))

    def test_emptyMiddle(self) -> None:
        for path in ("/", "v1/a", "//a", "/v1//c", "/v1/a//o"):
            self.assertRaises(ValueError, split_swift_path, path)
