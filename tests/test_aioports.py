"""
Tests for L{twisted_proxy_aio.ports}: where the kernel's ephemeral range is
read from. Picking ports binds sockets, so that is tested in
L{tests.e2e.test_ports}.
"""

from __future__ import annotations

from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy_aio.ports import ephemeral_range


class EphemeralRangeTests(SynchronousTestCase):
    """
    L{ephemeral_range} reads the kernel's range and falls back to Linux's
    default when it cannot.
    """

    def write(self, text: str) -> str:
        path = FilePath(self.mktemp())
        path.setContent(text.encode("ascii"))
        return path.path

    def test_read(self) -> None:
        """
        The two numbers of the file, separated by a tab as the kernel writes
        them, are the first and last port.
        """
        self.assertEqual(ephemeral_range(self.write("40000\t50000\n")), (40000, 50000))

    def test_missing(self) -> None:
        """
        Without the file (not Linux), the range is Linux's default.
        """
        self.assertEqual(ephemeral_range(self.mktemp()), (32768, 60999))

    def test_garbage(self) -> None:
        """
        A file that does not hold two numbers gives the default too.
        """
        for text in ("", "40000\n", "a b\n", "1 2 3\n"):
            self.assertEqual(ephemeral_range(self.write(text)), (32768, 60999), text)
