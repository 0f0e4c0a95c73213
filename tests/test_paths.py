"""
Tests for L{twisted_proxy.swift.paths}.
"""

import itertools

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.paths import split_path, split_swift_path

_paths = st.lists(st.sampled_from(["", "v1", "a", "c", "o", "x y"]), max_size=6).map(
    lambda parts: "/".join(parts))


class SplitPathTests(SynchronousTestCase):
    """
    L{split_path} agrees with Swift's own C{split_path}.
    """

    @given(_paths, st.integers(1, 4), st.integers(0, 3), st.booleans())
    def test_agreesWithSwift(self, path: str, minsegs: int, extra: int,
                             rest_with_last: bool) -> None:
        from swift.common.utils import split_path as swift_split_path

        maxsegs = minsegs + extra
        try:
            expected = swift_split_path(path, minsegs, maxsegs, rest_with_last)
        except ValueError:
            self.assertRaises(ValueError, split_path, path, minsegs, maxsegs, rest_with_last)
        else:
            self.assertEqual(split_path(path, minsegs, maxsegs, rest_with_last), expected)

    def test_agreesWithSwiftEverywhere(self) -> None:
        """
        Every path of up to six segments from a small alphabet, with and
        without a leading slash, for every C{minsegs}, C{maxsegs} and
        C{rest_with_last}: sampling alone missed that Swift refuses an
        empty segment before the last.
        """
        from swift.common.utils import split_path as swift_split_path

        differ = []
        for length in range(7):
            for parts in itertools.product(["", "v1", "a"], repeat=length):
                for path in ("/".join(parts), "/" + "/".join(parts)):
                    for minsegs, maxsegs, rest in itertools.product(
                            range(1, 5), range(1, 5), (False, True)):
                        if minsegs > maxsegs:
                            continue
                        outcomes = []
                        for split in (split_path, swift_split_path):
                            try:
                                outcomes.append(split(path, minsegs, maxsegs, rest))
                            except ValueError:
                                outcomes.append(ValueError)
                        if outcomes[0] != outcomes[1]:
                            differ.append((path, minsegs, maxsegs, rest, *outcomes))
        self.assertEqual(differ[:5], [])

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
