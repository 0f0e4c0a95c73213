"""
Tests for L{twisted_proxy_aio.cluster} that run it: the supervised storage
servers, fake and real, and ports found taken.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from configparser import ConfigParser
from typing import Optional

import treq
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers

from tests.e2e.aioproxy import REPO, twistd_command
from twisted_proxy_aio.cluster import (
    AioError,
    AioSettings,
    ClusterLayout,
    StorageClusterService,
    StorageServer,
    build_cluster,
)
from twisted_proxy_aio.ports import free_port

__all__: list[str] = []

_SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None


def _exited(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _free_range(count: int) -> int:
    """
    The first of C{count} consecutive free ports below the ephemeral range.
    """
    for base in range(20000, 32000, 100):
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
        return base
    raise RuntimeError("no free port range")


class PortTakenTests(SynchronousTestCase):
    """
    L{build_cluster} checks the ports it will use.
    """

    def test_portTaken(self) -> None:
        """
        A C{base_port} whose range holds a port in use is refused before
        anything runs, and the run's directory is removed.
        """
        dataDir = self.mktemp()
        base = _free_range(30)
        with socket.socket() as taken:
            # The object server of device 2.
            taken.bind(("127.0.0.1", base + 21))
            taken.listen(1)
            settings = AioSettings(data_dir=dataDir, base_port=base)
            error = self.assertRaises(AioError, build_cluster, settings)
        self.assertIn("base_port", str(error))
        self.assertIn(str(base + 21), str(error))
        self.assertEqual(os.listdir(dataDir), [])


class TwistdPortTakenTests(SynchronousTestCase):
    """
    twistd with the all-in-one configuration, on a port in use.
    """

    def test_exitsBeforeStarting(self) -> None:
        """
        It exits non-zero with one line, before starting anything: no
        cluster, no Redis (it used to start them all, log a critical
        traceback and exit 0).
        """
        workdir = self.mktemp()
        os.makedirs(workdir)
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            result = subprocess.run(
                twistd_command() + [
                    "-n", "--pidfile=", "twisted-proxy",
                    "--config", os.path.join(REPO, "conf", "aio.conf"),
                    "--port", f"tcp:{port}:interface=127.0.0.1"],
                cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(
            result.stderr.decode().splitlines(),
            [f"twisted-proxy: cannot listen on 127.0.0.1:{port}: Address already in use"])
        self.assertEqual(result.stdout, b"")


def _fake_swift(binDir: str, body: str) -> None:
    """
    Make C{binDir} hold stand-ins for Swift's programs, each running the
    Python C{body}.
    """
    os.makedirs(binDir)
    for name in (
        "swift-ring-builder",
        "swift-account-server",
        "swift-container-server",
        "swift-object-server",
    ):
        path = os.path.join(binDir, name)
        with open(path, "w") as f:
            f.write(f"#!{sys.executable}\n{body}\n")
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


def _fake_layout(testCase: TestCase, body: str) -> ClusterLayout:
    """
    A one-server layout whose server runs the Python C{body}.
    """
    root = tempfile.mkdtemp(dir=_SHM)
    testCase.addCleanup(shutil.rmtree, root, True)
    os.makedirs(os.path.join(root, "log"))
    binDir = os.path.join(root, "bin")
    _fake_swift(binDir, body)
    server = StorageServer(
        kind="object",
        index=1,
        port=free_port(),
        device="sdb1",
        conf_path=os.path.join(root, "1.conf"),
        devices_dir=os.path.join(root, "data"),
    )
    return ClusterLayout(
        root=root,
        swift_dir=root,
        servers=(server,),
        hash_prefix="p",
        hash_suffix="s",
        swift_bin_dir=binDir,
    )


class ReadinessFailureTests(TestCase):
    """
    L{StorageClusterService.when_ready} fails clearly when servers do not
    come up, and stopping still cleans up.
    """

    async def test_exitBeforeReady(self) -> None:
        """
        A server that exits before listening fails C{when_ready} with an
        L{AioError} naming it and quoting its log.
        """
        layout = _fake_layout(
            self,
            "import sys\nsys.stderr.write('boom: no such config\\n')\nsys.exit(3)",
        )
        service = StorageClusterService(layout, reactor, ready_timeout=30)
        service.startService()
        try:
            with self.assertRaises(AioError) as caught:
                await service.when_ready()
        finally:
            await service.stopService()
        message = str(caught.exception)
        self.assertIn("object-1", message)
        self.assertIn("boom: no such config", message)
        self.assertFalse(os.path.exists(layout.root))

    async def test_timeoutThenKill(self) -> None:
        """
        Servers not listening within C{ready_timeout} fail C{when_ready}; a
        server ignoring SIGTERM is killed after C{kill_timeout}.
        """
        layout = _fake_layout(
            self,
            "import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "sys.stderr.write('waiting forever\\n')\n"
            "sys.stderr.flush()\n"
            "time.sleep(60)",
        )
        service = StorageClusterService(
            layout, reactor, ready_timeout=1.0, kill_timeout=0.5
        )
        service.startService()
        pid = service.pid(layout.servers[0])
        assert pid is not None
        with self.assertRaises(AioError) as caught:
            await service.when_ready()
        self.assertIn("object-1", str(caught.exception))
        self.assertIn(str(layout.servers[0].port), str(caught.exception))
        await service.stopService()
        self.assertTrue(_exited(pid))
        self.assertIsNone(service.pid(layout.servers[0]))
        self.assertFalse(os.path.exists(layout.root))


class ClusterTests(TestCase):
    """
    A real cluster: Swift's servers built, run, supervised and stopped.
    """

    timeout = 45

    def setUp(self) -> None:
        dataDir = tempfile.mkdtemp(dir=_SHM)
        self.addCleanup(shutil.rmtree, dataDir, True)
        self.layout = build_cluster(AioSettings(data_dir=dataDir))
        self.service = StorageClusterService(self.layout, reactor, ready_timeout=40)
        self.addCleanup(self.service.stopService)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.http = treq.client.HTTPClient(Agent(reactor, pool=pool))

    def url(self, server: StorageServer, path: str) -> str:
        return f"http://127.0.0.1:{server.port}/{server.device}/1/{path}"

    async def put(self, server: StorageServer, path: str, body: bytes) -> int:
        response = await self.http.put(
            self.url(server, path),
            data=body,
            headers=Headers(
                {
                    "X-Timestamp": ["1700000000.00000"],
                    "Content-Type": ["text/plain"],
                }
            ),
        )
        await response.content()
        status: int = response.code
        return status

    async def get(self, server: StorageServer, path: str) -> tuple[int, bytes]:
        response = await self.http.get(self.url(server, path))
        return response.code, await response.content()

    def assertLayout(self) -> None:
        """
        The cluster's directory holds swift.conf, a ring per kind and per
        policy and a configuration per server, one process per device.
        """
        layout = self.layout
        conf = ConfigParser()
        conf.read(os.path.join(layout.swift_dir, "swift.conf"))
        self.assertEqual(conf["swift-hash"]["swift_hash_path_prefix"], layout.hash_prefix)
        self.assertEqual(conf["swift-hash"]["swift_hash_path_suffix"], layout.hash_suffix)
        self.assertEqual(conf["storage-policy:0"]["name"], "gold")
        self.assertEqual(conf["storage-policy:0"]["default"], "yes")
        self.assertEqual(conf["storage-policy:1"]["name"], "silver")
        self.assertEqual(conf["swift-constraints"]["max_file_size"], "5368709122")
        for ring in ("account", "container", "object", "object-1"):
            self.assertTrue(
                os.path.isfile(os.path.join(layout.swift_dir, f"{ring}.ring.gz"))
            )
        self.assertEqual(len(layout.servers), 12)
        self.assertEqual(len({s.port for s in layout.servers}), 12)
        for server in layout.servers:
            serverConf = ConfigParser()
            serverConf.read(server.conf_path)
            self.assertEqual(serverConf["DEFAULT"]["workers"], "0")
            self.assertEqual(serverConf["DEFAULT"]["bind_port"], str(server.port))
            self.assertTrue(
                os.path.isdir(os.path.join(server.devices_dir, server.device))
            )

    async def test_serveAndStop(self) -> None:
        """
        The cluster is laid out as documented; once ready, object servers
        store and return objects and account servers create accounts;
        stopping ends every server and removes the ephemeral cluster.

        (One test, as building a cluster takes seconds.)
        """
        self.assertLayout()
        self.service.startService()
        await self.service.when_ready()
        objects = self.layout.servers_of("object")
        for server in objects[:3]:
            self.assertEqual(await self.put(server, "AUTH_test/c/o", b"hello"), 201)
        for server in objects[:3]:
            self.assertEqual(
                await self.get(server, "AUTH_test/c/o"), (200, b"hello")
            )
        self.assertEqual((await self.get(objects[3], "AUTH_test/c/o"))[0], 404)

        account = self.layout.servers_of("account")[0]
        self.assertIn(await self.put(account, "AUTH_test", b""), (201, 202))

        log = self.layout.log_path(objects[0])
        with open(log) as f:
            self.assertIn('"PUT /sdb1/1/AUTH_test/c/o" 201', f.read())

        pids = [self.service.pid(s) for s in self.layout.servers]
        self.assertNotIn(None, pids)
        await self.service.stopService()
        for pid in pids:
            assert pid is not None
            self.assertTrue(_exited(pid), pid)
        self.assertFalse(os.path.exists(self.layout.root))

    async def test_restart(self) -> None:
        """
        A storage server killed with SIGKILL is started again and serves.
        """
        self.service.startService()
        await self.service.when_ready()
        server = self.layout.servers_of("object")[1]
        self.assertEqual(await self.put(server, "AUTH_test/c/o", b"before"), 201)
        killed = self.service.pid(server)
        assert killed is not None
        os.kill(killed, signal.SIGKILL)

        status: Optional[tuple[int, bytes]] = None
        for _ in range(300):
            await deferLater(reactor, 0.1)
            pid = self.service.pid(server)
            if pid is None or pid == killed:
                continue
            try:
                status = await self.get(server, "AUTH_test/c/o")
            except Exception:
                continue
            break
        self.assertEqual(status, (200, b"before"))
        self.assertTrue(_exited(killed))
        with open(self.layout.log_path(server)) as f:
            self.assertEqual(f.read().count("twisted-proxy-aio: starting"), 2)
