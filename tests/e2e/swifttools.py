"""
Swift's own programs for the tests that compare with Swift: finding its
command-line tools, running them with a cluster's C{swift.conf}, and
starting the reference C{swift-proxy-server} beside twisted-proxy on the
same cluster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Mapping, Optional, Sequence

from twisted.trial.unittest import SkipTest

from tests.e2e.aioproxy import free_port, stop_process, swift_proxy_conf, wait_until_answers

__all__ = ["SwiftProxy", "swift_conf_command", "swift_tool"]


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


class SwiftProxy:
    """
    Swift's C{swift-proxy-server} 2.38.3 serving a cluster beside
    twisted-proxy: started by the constructor, which returns once its
    C{/info} answers; stopped by L{stop}, by its pid.

    @ivar port: where it listens, on 127.0.0.1.
    @ivar process: its process.
    """

    def __init__(self, swift_dir: str, workdir: str, filters: Sequence[str] = (),
                 app: Optional[Mapping[str, str]] = None,
                 filter_options: Optional[Mapping[str, Mapping[str, str]]] = None,
                 timeout: float = 300.0) -> None:
        """
        @param swift_dir: the cluster's C{swift.conf} and rings.
        @param workdir: where its configuration and its log
            (C{swift-proxy.log}) go.
        @param timeout: seconds to wait for it to answer.
        @raise RuntimeError: if it exits or does not answer in time (it is
            then stopped).
        """
        self.port = free_port()
        conf = os.path.join(workdir, f"swift-proxy-{self.port}.conf")
        with open(conf, "w") as handle:
            handle.write(swift_proxy_conf(swift_dir, self.port, filters, app, filter_options))
        with open(os.path.join(workdir, "swift-proxy.log"), "ab") as log:
            self.process = subprocess.Popen(
                swift_conf_command(os.path.join(swift_dir, "swift.conf"),
                                   swift_tool("swift-proxy-server"), conf),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_answers(self.process, f"http://127.0.0.1:{self.port}/info", timeout,
                               "swift-proxy-server")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """
        Stop it (C{SIGTERM}, then C{SIGKILL}); returns once it has exited.
        """
        stop_process(self.process)
