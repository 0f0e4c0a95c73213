"""
The proxy under another Python than the tests' own (C{scripts/test
--pypy}: PyPy): the proxy runs under C{$TWISTED_PROXY_PYTHON}, and the
storage servers of its all-in-one cluster under the CPython that Swift's
programs belong to. Skipped when C{$TWISTED_PROXY_PYTHON} is not set.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.e2e.aioproxy import PROXY_PYTHON_VARIABLE, REPO, request, running_proxy
from twisted_proxy_aio.cluster import find_swift_bin_dir, swift_python


def _executable(pid: int) -> str:
    return os.path.realpath(f"/proc/{pid}/exe")


def _descendants(root: int) -> list[int]:
    # bench/procstats.py (not a package) finds a process tree from /proc.
    name = "bench_procstats"
    procstats = sys.modules.get(name)
    if procstats is None:
        spec = importlib.util.spec_from_file_location(
            name, os.path.join(REPO, "bench", "procstats.py"))
        assert spec is not None and spec.loader is not None
        procstats = sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(procstats)
    return list(procstats.tree(root)[1:])


def _command_line(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


class ProxyPythonTests(SynchronousTestCase):
    def setUp(self) -> None:
        wanted = os.environ.get(PROXY_PYTHON_VARIABLE)
        if not wanted:
            raise SkipTest(f"{PROXY_PYTHON_VARIABLE} is not set (scripts/test --pypy sets it)")
        self.wanted = wanted
        self.proxy = running_proxy()

    def test_proxyPython(self) -> None:
        """
        The proxy that serves the e2e tests runs under the Python named,
        and serves.
        """
        self.assertEqual(_executable(self.proxy.process.pid), os.path.realpath(self.wanted))
        status, _, _ = request(self.proxy.port, "GET", "/info")
        self.assertEqual(status, 200)

    def test_storageServersUnderSwiftsPython(self) -> None:
        """
        The cluster's object servers run under the Python of Swift's
        programs, not the proxy's.
        """
        program = os.path.join(find_swift_bin_dir(), "swift-object-server")
        expected = os.path.realpath(swift_python(program))
        servers = [pid for pid in _descendants(self.proxy.process.pid)
                   if b"swift-object-server" in _command_line(pid)]
        self.assertTrue(servers, "no object server among the proxy's descendants")
        for pid in servers:
            self.assertEqual(_executable(pid), expected)
            self.assertNotEqual(_executable(pid), _executable(self.proxy.process.pid))
