"""
Swift's own programs for the tests that compare with Swift: finding its
command-line tools and running them with a cluster's C{swift.conf}
(L{tests.e2e.aioproxy.SwiftProxy} starts the reference proxy with them).
"""

from __future__ import annotations

import os
import shutil
import sys

from twisted.trial.unittest import SkipTest

__all__ = ["swift_conf_command", "swift_tool"]


#: Swift 2.38 reads swift.conf from a fixed path (/etc/swift), at import;
#: this runs one of its programs (or scripts) with a cluster's own
#: swift.conf instead, policies, constraints and hash prefix included.
_WITH_SWIFT_CONF = """\
import runpy, sys
conf, program, args = sys.argv[1], sys.argv[2], sys.argv[3:]
from swift.common import utils
utils.SWIFT_CONF_FILE = conf
from swift.common import constraints, storage_policy
storage_policy.reload_storage_policies()
constraints.reload_constraints()
utils.validate_hash_conf()
sys.argv = [program] + args
runpy.run_path(program, run_name="__main__")
"""


def swift_conf_command(swift_conf: str, program: str, *args: str) -> list[str]:
    """
    The command that runs Swift's C{program} (a path, see L{swift_tool})
    with C{args}, reading C{swift_conf} instead of C{/etc/swift/swift.conf}.
    """
    return [sys.executable, "-c", _WITH_SWIFT_CONF, swift_conf, program, *args]


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
