"""
Tests for L{twisted_proxy.swift.paths}.
"""

from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.paths import split_path, split_swift_path


class SplitPathTests(SynchronousTestCase):
    """
    L{split_path}'s rules (its agreement with Swift's own is checked in
    L{tests.e2e.test_paths}, which imports Swift).
    """

    def test_emptyBeforeLast(self) -> None:
        """
        Only the last segment present may be empty.
        """
        self.assertEqual(split_path("/v1/a/", 1, 4, True), ["v1", "a", "", None])
        self.assertEqual(split_path("/v1/a/c//", 1, 4, True), ["v1", "a", "c", "/"])
        for path in ("/v1//c", "/v1/a//o", "/v1//"):
            self.assertRaises(ValueError, split_path, path, 1, 4, True)
            self.assertRaises(ValueError, split_path, path, 1, 4)

    def test_minAboveMax(self) -> None:
        self.assertRaises(ValueError, split_path, "/a/b", 3, 2)

    def test_again(self) -> None:
        """
        Splitting a path again gives the same answer, in a list of its own
        each time; a refused path is refused again.
        """
        first = split_path("/v1/a/c/o", 1, 4, True)
        first[3] = "changed"
        self.assertEqual(split_path("/v1/a/c/o", 1, 4, True), ["v1", "a", "c", "o"])
        self.assertEqual(split_path("/v1/a/c/o", 1, 3, True), ["v1", "a", "c/o"])
        for _ in range(2):
            self.assertRaises(ValueError, split_path, "/v1/a/c/o", 1, 3)


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
