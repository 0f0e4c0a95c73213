"""
Finding Swift's command-line tools, for the tests that compare with Swift.
"""

from __future__ import annotations

import os
import shutil
import sys

from twisted.trial.unittest import SkipTest

__all__ = ["swift_tool"]


def swift_tool(name: str) -> str:
    """
    The path of one of Swift's command-line tools. The copy installed beside
    this Python is preferred: going through a version manager's shim costs
    a few tenths of a second per run.

    @raise SkipTest: if it is not installed.
    """
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    if found is None:
        raise SkipTest(f"{name} is not installed")
    return found
