"""
Tests for L{twisted_proxy_aio.cluster}: settings, finding Swift, and cleaning
up after killed clusters. L{tests.e2e.test_aio} runs clusters for real.
"""

from __future__ import annotations

import os
import stat
import sys

from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy_aio.cluster import (
    AioError,
    AioSettings,
    _remove_abandoned_clusters,
    build_cluster,
    find_swift_bin_dir,
    parse_aio_settings,
    swift_python,
    sync_endpoint,
)

__all__: list[str] = []

_SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None


class ParseSettingsTests(SynchronousTestCase):
    """
    L{parse_aio_settings} validates the C{[aio]} section.
    """

    def assertRejected(self, section: dict[str, str], option: str) -> None:
        error = self.assertRaises(AioError, parse_aio_settings, section, "/etc/tp")
        self.assertIn(option, str(error))
        self.assertNotIn("\n", str(error))

    def test_defaults(self) -> None:
        """
        An empty section gives the documented defaults.
        """
        settings = parse_aio_settings({}, "/etc/tp")
        self.assertEqual(settings, AioSettings())
        self.assertEqual(
            (
                settings.ephemeral,
                settings.devices,
                settings.replicas,
                settings.part_power,
                settings.base_port,
                settings.storage_ip,
                settings.swift_bin_dir,
                settings.policies,
                settings.log_requests,
                settings.ready_timeout,
            ),
            (True, 4, 3, 10, 0, "127.0.0.1", None, ("gold", "silver"), True, 60.0),
        )
        if _SHM is not None:
            self.assertEqual(settings.data_dir, "/dev/shm/twisted-proxy-aio")

    def test_values(self) -> None:
        """
        Every option is read, with surrounding space ignored.
        """
        settings = parse_aio_settings(
            {
                "data_dir": " /srv/aio ",
                "ephemeral": "no",
                "devices": "6",
                "replicas": "2",
                "part_power": "8",
                "base_port": "16000",
                "storage_ip": "127.0.0.2",
                "swift_bin_dir": "/opt/swift/bin",
                "hash_path_prefix": "pre",
                "hash_path_suffix": "suf",
                "policies": "gold , silver,bronze",
                "log_requests": "off",
                "ready_timeout": "12.5",
            },
            "/etc/tp",
        )
        self.assertEqual(
            settings,
            AioSettings(
                data_dir="/srv/aio",
                ephemeral=False,
                devices=6,
                replicas=2,
                part_power=8,
                base_port=16000,
                storage_ip="127.0.0.2",
                swift_bin_dir="/opt/swift/bin",
                hash_path_prefix="pre",
                hash_path_suffix="suf",
                policies=("gold", "silver", "bronze"),
                log_requests=False,
                ready_timeout=12.5,
            ),
        )

    def test_relativePaths(self) -> None:
        """
        Relative paths resolve against the configuration's directory.
        """
        settings = parse_aio_settings(
            {"data_dir": "aio", "swift_bin_dir": "../venv/bin"}, "/etc/tp"
        )
        self.assertEqual(settings.data_dir, "/etc/tp/aio")
        self.assertEqual(settings.swift_bin_dir, "/etc/venv/bin")

    def test_unknownIgnored(self) -> None:
        """
        Options of other sections, such as C{[DEFAULT]}'s, are ignored:
        the proxy's C{bind_ip} is not the storage servers'.
        """
        self.assertEqual(
            parse_aio_settings(
                {"bind_ip": "0.0.0.0", "bind_port": "8080", "workers": "4"},
                "/etc/tp",
            ),
            AioSettings(),
        )

    def test_badValues(self) -> None:
        """
        A bad value is an L{AioError} of one line naming the option.
        """
        for section, option in [
            ({"devices": "many"}, "devices"),
            ({"devices": "0"}, "devices"),
            ({"devices": "65"}, "devices"),
            ({"replicas": "0"}, "replicas"),
            ({"replicas": "5"}, "replicas"),
            ({"devices": "2"}, "replicas"),
            ({"part_power": "0"}, "part_power"),
            ({"part_power": "21"}, "part_power"),
            ({"base_port": "80"}, "base_port"),
            ({"base_port": "65530"}, "base_port"),
            ({"base_port": "-1"}, "base_port"),
            ({"base_port": "6000", "devices": "11"}, "devices"),
            ({"storage_ip": "localhost"}, "storage_ip"),
            ({"storage_ip": "0.0.0.0"}, "storage_ip"),
            ({"storage_ip": "::1"}, "storage_ip"),
            ({"ephemeral": "maybe"}, "ephemeral"),
            ({"log_requests": ""}, "log_requests"),
            ({"policies": ""}, "policies"),
            ({"policies": "gold,,silver"}, "policies"),
            ({"policies": "gold,Gold"}, "policies"),
            ({"policies": "gold medal"}, "policies"),
            ({"ready_timeout": "soon"}, "ready_timeout"),
            ({"ready_timeout": "0"}, "ready_timeout"),
            ({"ready_timeout": "nan"}, "ready_timeout"),
            ({"hash_path_prefix": ""}, "hash_path_prefix"),
            ({"hash_path_suffix": "a b"}, "hash_path_suffix"),
        ]:
            self.assertRejected(section, option)


class SyncEndpointTests(SynchronousTestCase):
    """
    L{sync_endpoint}: where the container-sync daemon reaches the proxy.
    """

    def test_addresses(self) -> None:
        self.assertEqual(sync_endpoint(("127.0.0.1", 8080)), "http://127.0.0.1:8080/v1/")
        self.assertEqual(sync_endpoint(("0.0.0.0", 80)), "http://127.0.0.1:80/v1/")
        self.assertEqual(sync_endpoint(("::", 81)), "http://[::1]:81/v1/")
        self.assertEqual(sync_endpoint(("fe80::2", 82)), "http://[fe80::2]:82/v1/")

    def test_unknown(self) -> None:
        self.assertIsNone(sync_endpoint(None))
        self.assertIsNone(sync_endpoint(("127.0.0.1", 0)))


class FindSwiftTests(SynchronousTestCase):
    """
    Swift's programs are found, or their absence is explained.
    """

    def test_found(self) -> None:
        """
        In this test environment Swift is installed, next to the Python
        (under PyPy, whose Swift is CPython's, on C{PATH}).
        """
        binDir = find_swift_bin_dir()
        self.assertTrue(os.path.isfile(os.path.join(binDir, "swift-object-server")))

    def test_missing(self) -> None:
        """
        With C{swift_bin_dir} naming a directory without Swift's programs,
        L{build_cluster} raises an L{AioError} telling to install the extra,
        and leaves nothing in C{data_dir}.
        """
        empty = self.mktemp()
        os.makedirs(empty)
        dataDir = self.mktemp()
        settings = parse_aio_settings(
            {"swift_bin_dir": empty, "data_dir": dataDir}, os.getcwd()
        )
        error = self.assertRaises(AioError, build_cluster, settings)
        self.assertIn("pip install", str(error))
        self.assertIn("twisted-proxy[aio]", str(error))
        self.assertIn(empty, str(error))
        self.assertFalse(os.path.exists(dataDir))


class SwiftPythonTests(SynchronousTestCase):
    """
    L{swift_python} runs Swift's servers under the Python their programs
    were installed for, which may not be the proxy's (a proxy under PyPy).
    """

    def executable(self, name: str, text: str) -> str:
        path = os.path.join(self.directory, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
        return path

    def setUp(self) -> None:
        self.directory = self.mktemp()
        os.makedirs(self.directory)
        self.python = self.executable("python3.11", "")

    def test_shebang(self) -> None:
        """
        The interpreter a C{#!} line names is the one.
        """
        program = self.executable("swift-object-server", f"#!{self.python} -E\nx\n")
        self.assertEqual(swift_python(program), self.python)

    def test_env(self) -> None:
        """
        C{#!/usr/bin/env python3} names the C{python3} found on C{PATH}.
        """
        self.patch(os, "environ", {**os.environ, "PATH": self.directory})
        program = self.executable("swift-object-server", "#!/usr/bin/env -S python3.11\n")
        self.assertEqual(swift_python(program), self.python)

    def test_notPython(self) -> None:
        """
        A program that is no Python script, an interpreter that does not
        exist, or no program at all: this process's own Python (the shim
        then runs a non-Python program as it is).
        """
        for text in ("#!/bin/sh\nexec true\n", "#!/nowhere/python3\n", "\x7fELF"):
            program = self.executable("swift-object-server", text)
            self.assertEqual(swift_python(program), sys.executable, text)
        self.assertEqual(swift_python(os.path.join(self.directory, "none")), sys.executable)


class AbandonedClusterTests(SynchronousTestCase):
    """
    What killed processes left behind is removed, and only that.
    """

    def test_removal(self) -> None:
        dataDir = self.mktemp()
        deadPid = 2**22 + 12345  # above pid_max's default, so never alive
        kept = {
            "aio-1-alive": f"pid={os.getpid()}\nephemeral=true\n",
            "aio-2-persistent": f"pid={deadPid}\nephemeral=false\n",
            "aio-3-unmarked": None,
            "other": f"pid={deadPid}\nephemeral=true\n",
        }
        removed = {"aio-4-dead": f"pid={deadPid}\nephemeral=true\n"}
        for name, marker in {**kept, **removed}.items():
            os.makedirs(os.path.join(dataDir, name, "etc"))
            if marker is not None:
                with open(
                    os.path.join(dataDir, name, "twisted-proxy-aio.owner"), "w"
                ) as f:
                    f.write(marker)
        _remove_abandoned_clusters(dataDir)
        self.assertEqual(sorted(os.listdir(dataDir)), sorted(kept))
