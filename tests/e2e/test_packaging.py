"""
The package as a user gets it: a wheel built from this checkout, installed
with pip into a fresh virtual environment (not this one), run from another
directory.

This environment's pip installs into the new one (C{pip --python}: the new
one is made without pip, which saves making a copy of it), from pip's
configured index and cache. Each install is timed and the time printed: on
the 2-core development machine, about 15 s for the plain wheel (not
compiled to bytecode: only C{--help} runs) and about a minute with the
all-in-one extra (Swift and its dependencies, compiled: otherwise each of
the twelve storage servers, started at once, would compile Swift itself).
"""

from __future__ import annotations

import atexit
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Optional

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.aioproxy import REPO, start_proxy

#: What is not part of the source tree: left out of the copy the wheel is
#: built from.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "_trial_temp*",
    ".mypy_cache", ".hypothesis", "dropin.cache", "results",
)

_wheel: Optional[str] = None


def _clean_environment() -> dict[str, str]:
    """
    This process's environment without what would point a child Python at
    this checkout or this virtual environment.
    """
    return {
        name: value for name, value in os.environ.items()
        if name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }


def _run(command: list[str], cwd: str, timeout: float) -> tuple[float, str]:
    """
    Run C{command} in C{cwd}.

    @return: the seconds it took and its output (stdout and stderr).
    @raise AssertionError: with the output if it fails.
    """
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=cwd, env=_clean_environment(), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(f"{command} exited with {result.returncode}:\n{result.stdout}")
    return time.monotonic() - started, result.stdout


def build_wheel() -> str:
    """
    The wheel of this checkout, built once per test run (with pip, in build
    isolation, from a copy of the source so that the checkout gets no
    C{build/} directory).

    @return: its path, in a directory removed when the test process exits.
    """
    global _wheel
    if _wheel is None:
        work = tempfile.mkdtemp(prefix="twisted-proxy-wheel-")
        atexit.register(shutil.rmtree, work, True)
        source = os.path.join(work, "source")
        shutil.copytree(REPO, source, ignore=_NOT_SOURCE)
        wheels = os.path.join(work, "wheels")
        took, _ = _run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, source],
            cwd=work, timeout=600,
        )
        print(f"\nbuilt the wheel in {took:.0f} s")
        (_wheel,) = glob.glob(os.path.join(wheels, "twisted_proxy-*.whl"))
    return _wheel


class WheelTests(SynchronousTestCase):
    """
    The wheel installs into a clean virtual environment and its twistd
    finds the C{twisted-proxy} dropin from any directory.
    """

    def setUp(self) -> None:
        self.wheel = build_wheel()
        self.elsewhere = tempfile.mkdtemp(prefix="twisted-proxy-elsewhere-")
        self.addCleanup(shutil.rmtree, self.elsewhere, True)

    def install(self, requirement: str, compile: bool) -> str:
        """
        Make a fresh virtual environment and pip install C{requirement}
        into it, compiling to bytecode if C{compile}.

        @return: its C{bin} directory.
        """
        venv = tempfile.mkdtemp(prefix="twisted-proxy-venv-")
        self.addCleanup(shutil.rmtree, venv, True)
        # The interpreter this one was made from, not this virtualenv's.
        python = getattr(sys, "_base_executable", sys.executable)
        _run([python, "-m", "venv", "--without-pip", venv], cwd=self.elsewhere, timeout=120)
        bin_dir = os.path.join(venv, "bin")
        took, _ = _run(
            [sys.executable, "-m", "pip", "--python", os.path.join(bin_dir, "python"),
             "install", "-q", "--compile" if compile else "--no-compile", requirement],
            cwd=self.elsewhere, timeout=900,
        )
        print(f"\npip install {os.path.basename(requirement)}: {took:.0f} s")
        return bin_dir

    def test_plainWheel(self) -> None:
        """
        Without the all-in-one extra: C{twistd twisted-proxy --help} works
        from another directory; the typing marker and the all-in-one
        package are installed, Swift is not.
        """
        bin_dir = self.install(self.wheel, compile=False)
        _, out = _run([os.path.join(bin_dir, "twistd"), "twisted-proxy", "--help"],
                      cwd=self.elsewhere, timeout=120)
        self.assertIn("--config", out)
        _, out = _run(
            [os.path.join(bin_dir, "python"), "-c",
             "import importlib.util, os, twisted_proxy, twisted_proxy_aio\n"
             "print(os.path.isfile(os.path.join(os.path.dirname(twisted_proxy.__file__),"
             " 'py.typed')), importlib.util.find_spec('swift') is not None,"
             " twisted_proxy.__file__)"],
            cwd=self.elsewhere, timeout=120,
        )
        typed, swift, where = out.split()
        self.assertEqual((typed, swift), ("True", "False"))
        self.assertFalse(where.startswith(REPO + os.sep), where)

    def test_aioWheelServes(self) -> None:
        """
        With the all-in-one extra, C{twistd -n twisted-proxy --config
        conf/aio.conf}, run from another directory, starts Swift's storage
        servers from the new environment and serves: C{GET /info} is 200.
        """
        bin_dir = self.install(self.wheel + "[aio]", compile=True)
        self.assertTrue(os.path.exists(os.path.join(bin_dir, "swift-object-server")))
        proxy = start_proxy(
            os.path.join(REPO, "conf", "aio.conf"),
            twistd=[os.path.join(bin_dir, "twistd")],
            env=_clean_environment(),
            # The first start of a new environment reads everything from disk.
            timeout=180,
        )
        self.addCleanup(proxy.stop)
        with urllib.request.urlopen(f"{proxy.url}/info", timeout=30) as reply:
            self.assertEqual(reply.status, 200)
            self.assertIn(b'"swift"', reply.read())


class BootstrapTests(SynchronousTestCase):
    """
    C{scripts/bootstrap} (which C{scripts/aio} and C{scripts/test} run
    first) says what it is doing while it installs, and nothing once
    everything is installed. Run over a copy of the script with stand-ins
    for Python and pip.
    """

    def test_saysWhatItDoes(self) -> None:
        root = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(root, "scripts"))
        shutil.copy(os.path.join(REPO, "scripts", "bootstrap"), os.path.join(root, "scripts"))
        with open(os.path.join(root, "setup.py"), "w") as handle:
            handle.write("")
        stub = os.path.join(root, "fakepython")
        with open(stub, "w") as handle:
            # "python -c ...": which implementation (CPython makes .venv);
            # "python -m venv .venv": a venv whose python and pip do nothing.
            handle.write(
                "#!/bin/sh\n"
                "if [ \"$1\" = -c ]; then echo CPython; exit 0; fi\n"
                "mkdir -p .venv/bin\n"
                "for p in python pip; do printf '#!/bin/sh\\nexit 0\\n' > .venv/bin/$p; "
                "chmod +x .venv/bin/$p; done\n")
        os.chmod(stub, 0o755)
        run = [os.path.join(root, "scripts", "bootstrap")]
        env = dict(os.environ, PYTHON=stub)
        first = subprocess.run(run, env=env, capture_output=True, timeout=60, check=True)
        lines = first.stderr.decode().splitlines()
        self.assertEqual(len(lines), 4, lines)
        self.assertIn("creating the virtual environment", lines[0])
        self.assertIn("installing twisted-proxy", lines[2])
        self.assertEqual(lines[3], "bootstrap: installed")
        again = subprocess.run(run, env=env, capture_output=True, timeout=60, check=True)
        self.assertEqual(again.stderr, b"")

    def test_compilesTheCode(self) -> None:
        """
        Every module of the checkout has its bytecode beside it once
        C{scripts/bootstrap} has run (as C{scripts/test} runs it first),
        even where C{PYTHONDONTWRITEBYTECODE} keeps Python from writing it:
        a proxy does not compile its code at every start.
        """
        missing = []
        for package in ("twisted_proxy", "twisted_proxy_aio"):
            for folder, _, names in os.walk(os.path.join(REPO, package)):
                for name in names:
                    if name.endswith(".py"):
                        source = os.path.join(folder, name)
                        if not os.path.exists(importlib.util.cache_from_source(source)):
                            missing.append(os.path.relpath(source, REPO))
        self.assertEqual(missing, [], "no bytecode: run scripts/bootstrap")
