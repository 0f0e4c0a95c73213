"""
L{twisted_proxy.swift.paths} agrees with Swift. Swift is imported here,
which runs C{ldconfig}: so this is not a unit test.
"""

import itertools

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.swift.paths import split_path

_paths = st.lists(st.sampled_from(["", "v1", "a", "c", "o", "x y"]), max_size=6).map(
    lambda parts: "/".join(parts))


class SwiftAgreesTests(SynchronousTestCase):
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
