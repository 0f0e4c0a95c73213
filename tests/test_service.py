"""
Tests for L{twisted_proxy.service.build}: one proxy process as services that
own what it holds open (the node connection pool, the Redis connections,
the plugins' files).
"""

from __future__ import annotations

import os
from typing import Any, Optional

from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred, TimeoutError, fail, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import HTTPConnectionPool
from zope.interface import implementer

from tests.doubles import partial_context, without_pyeclib
from tests.test_ring import _dev, _format1_ring
from twisted_proxy.backend.nodeclient import NodeClient
from twisted_proxy.config import ConfigError, ProxySettings, load_config
from twisted_proxy.info.memorystore import LayeredInfoStore, MemoryInfoStore
from twisted_proxy.info.redisstore import RedisInfoStore
from twisted_proxy.interfaces import IInfoStore
from twisted_proxy.plugins.proxy_logging import AccessLogFile, proxyLoggingPlugin
from twisted_proxy.service.build import (
    ClosingService,
    ProxyProcess,
    RingReloader,
    build_proxy_service,
)
from twisted_proxy.swift.constraints import Constraints
from twisted_proxy.swift.ring import RingSet
from twisted_proxy.swift.swiftconf import load_swift_conf
from twisted_proxy.web.server import ProxySite


def _open_paths() -> set[str]:
    """
    The files this process has open.
    """
    paths = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            paths.add(os.readlink(os.path.join("/proc/self/fd", name)))
        except OSError:
            pass
    return paths


def _needs_proc(case: SynchronousTestCase) -> None:
    if not os.path.isdir("/proc/self/fd"):
        case.skipTest("needs /proc/self/fd to see open files")


def _swift_dir(case: SynchronousTestCase) -> str:
    """
    A C{swift_dir} with a C{swift.conf} (one policy) and its three rings.
    """
    directory = os.path.abspath(case.mktemp())
    os.makedirs(directory)
    with open(os.path.join(directory, "swift.conf"), "w") as f:
        f.write("[swift-hash]\nswift_hash_path_prefix = services\n")
    devs = [_dev(i, 1, 1, "127.0.0.1") for i in range(3)]
    table = [[(part + replica) % 3 for part in range(4)] for replica in range(3)]
    for ring in ("account", "container", "object"):
        with open(os.path.join(directory, ring + ".ring.gz"), "wb") as f:
            f.write(_format1_ring(devs, table, 30))
    return directory


def _proxy_conf(case: SynchronousTestCase, swift_dir: str, access_log: str) -> str:
    directory = os.path.abspath(case.mktemp())
    os.makedirs(directory)
    path = os.path.join(directory, "proxy-server.conf")
    with open(path, "w") as f:
        f.write(f"""\
[DEFAULT]
swift_dir = {swift_dir}

[pipeline:main]
pipeline = proxy-logging proxy-server

[filter:proxy-logging]
use = egg:swift#proxy_logging
access_log_file = {access_log}

[app:proxy-server]
use = egg:swift#proxy
""")
    return path


class _Pool(HTTPConnectionPool):
    """
    A pool whose closing the test finishes.
    """

    def __init__(self, reactor: Any) -> None:
        super().__init__(reactor)
        self.closing: Optional[Deferred[None]] = None

    def closeCachedConnections(self) -> Deferred[None]:
        self.closing = Deferred()
        return self.closing


class _Redis:
    """
    A L{twisted_proxy.info.redisstore.RedisClient} whose closing the test
    finishes.
    """

    def __init__(self) -> None:
        self.closing: Optional[Deferred[Any]] = None

    def get(self, key: str) -> Deferred[Any]:
        return succeed(None)

    def set(self, key: str, value: str, pexpire: Optional[int]) -> Deferred[Any]:
        return succeed("OK")

    def delete(self, key: str) -> Deferred[Any]:
        return succeed(0)

    def publish(self, channel: str, message: str) -> Deferred[Any]:
        return succeed(0)

    def incr(self, key: str, delta: int, pexpire: int, reset_below: Optional[int],
             reset_to: int) -> Deferred[Any]:
        return succeed(delta)

    def connected(self) -> bool:
        return True

    def close(self) -> Deferred[Any]:
        self.closing = Deferred()
        return self.closing


class _Server(Service):
    """
    Stands for the listening port: records the site it serves.
    """

    def __init__(self, site: ProxySite) -> None:
        self.site = site


@implementer(ILogObserver)
class _Events:
    def __init__(self, case: SynchronousTestCase) -> None:
        self.events: list[LogEvent] = []
        globalLogPublisher.addObserver(self)
        case.addCleanup(globalLogPublisher.removeObserver, self)

    def __call__(self, event: LogEvent) -> None:
        self.events.append(event)

    def formats(self) -> list[str]:
        return [event.get("log_format", "") for event in self.events]


class ClosingServiceTests(SynchronousTestCase):
    """
    L{ClosingService}: closes one resource when the process stops.
    """

    def setUp(self) -> None:
        self.clock = Clock()

    def test_waitsForClosing(self) -> None:
        """
        C{stopService} fires once the closing has.
        """
        closing: Deferred[None] = Deferred()
        service = ClosingService("pool", lambda: closing, self.clock)
        service.startService()
        stopped = service.stopService()
        self.assertNoResult(stopped)
        self.assertFalse(service.running)
        closing.callback(None)
        self.assertIsNone(self.successResultOf(stopped))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_nothingToWaitFor(self) -> None:
        """
        A C{close} that returns C{None} has closed already.
        """
        closed: list[bool] = []
        service = ClosingService("store", lambda: closed.append(True), self.clock)
        service.startService()
        self.assertIsNone(self.successResultOf(service.stopService()))
        self.assertEqual(closed, [True])

    def test_failureLogged(self) -> None:
        """
        A closing that fails is logged; the service stops anyway.
        """
        events = _Events(self)
        service = ClosingService("pool", lambda: fail(OSError("gone")), self.clock)
        service.startService()
        self.assertIsNone(self.successResultOf(service.stopService()))
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        self.assertIn("Could not close the {what}", events.formats())

    def test_timeout(self) -> None:
        """
        A closing that takes more than C{timeout} seconds is cancelled,
        logged, and the service stops.
        """
        cancelled: list[object] = []
        closing: Deferred[None] = Deferred(cancelled.append)
        service = ClosingService("redis", lambda: closing, self.clock, timeout=5)
        service.startService()
        stopped = service.stopService()
        self.clock.advance(4.9)
        self.assertNoResult(stopped)
        self.clock.advance(0.1)
        self.assertIsNone(self.successResultOf(stopped))
        self.assertEqual(len(cancelled), 1)
        self.assertEqual(len(self.flushLoggedErrors(TimeoutError)), 1)


class ProxyProcessTests(SynchronousTestCase):
    """
    L{ProxyProcess}: the proxy's resources as child services.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.swift_dir = _swift_dir(self)
        self.access_log = os.path.abspath(self.mktemp())
        self.config = load_config(_proxy_conf(self, self.swift_dir, self.access_log))
        self.settings = ProxySettings.from_section(self.config)
        self.swift_conf = load_swift_conf(os.path.join(self.swift_dir, "swift.conf"))
        self.rings = RingSet(self.swift_dir, self.swift_conf, self.reactor)
        self.pool = _Pool(self.reactor)
        self.node_client = NodeClient(self.reactor, 10, 0.5, pool=self.pool)
        self.redis = _Redis()

    def process(self, store: Optional[IInfoStore] = None) -> ProxyProcess:
        if store is None:
            store = LayeredInfoStore(RedisInfoStore(self.redis, self.reactor),
                                     self.reactor)
        return ProxyProcess(self.config, self.settings, self.reactor, self.swift_conf,
                            self.rings, self.node_client, store, _Server)

    def test_children(self) -> None:
        """
        Ring reloading, the pool, the info store, the plugins' services and
        the server are the children, in that (start) order; the server
        serves the process's site.
        """
        process = self.process()
        children: list[IService] = list(process)
        self.assertIsInstance(children[0], RingReloader)
        self.assertIs(children[0].rings, self.rings)  # type: ignore[attr-defined]
        self.assertEqual([c.what for c in children[1:3]],  # type: ignore[attr-defined]
                         ["node connection pool", "info store"])
        self.assertIs(children[3], process.context.services)
        self.assertIs(children[4], process.server)
        self.assertIsInstance(process.server, _Server)
        self.assertIs(process.server.site, process.site)  # type: ignore[attr-defined]
        self.assertIs(process.context.node_client, self.node_client)
        self.assertIs(process.context.rings, self.rings)

    def test_startStop(self) -> None:
        """
        Starting starts ring reloading, opens the access log and starts the
        server; stopping stops them, closes the node pool and the Redis
        connections, and fires only once both have closed.
        """
        _needs_proc(self)
        process = self.process()
        self.assertNotIn(self.access_log, _open_paths())
        process.startService()
        self.assertTrue(process.server.running)
        self.assertIn(self.access_log, _open_paths())
        self.assertTrue(self.reactor.getDelayedCalls(), "no ring reload check")
        stopped = process.stopService()
        self.assertFalse(process.server.running)
        self.assertNotIn(self.access_log, _open_paths())
        assert self.pool.closing is not None and self.redis.closing is not None
        self.assertNoResult(stopped)
        self.pool.closing.callback(None)
        self.assertNoResult(stopped)
        self.redis.closing.callback(None)
        self.successResultOf(stopped)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_memoryStore(self) -> None:
        """
        A store in memory has nothing to close: stopping waits for the pool
        only.
        """
        process = self.process(MemoryInfoStore(self.reactor))
        process.startService()
        stopped = process.stopService()
        assert self.pool.closing is not None
        self.assertNoResult(stopped)
        self.pool.closing.callback(None)
        self.successResultOf(stopped)
        self.assertIsNone(self.redis.closing)

    def test_redisStoreAlone(self) -> None:
        """
        A L{RedisInfoStore} without a local layer is closed too.
        """
        process = self.process(RedisInfoStore(self.redis, self.reactor))
        process.startService()
        process.stopService()
        self.assertIsNotNone(self.redis.closing)


class BuildProxyServiceTests(SynchronousTestCase):
    """
    L{build_proxy_service}: the process from the configuration files.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.swift_dir = _swift_dir(self)
        self.config = load_config(
            _proxy_conf(self, self.swift_dir, os.path.abspath(self.mktemp())))
        self.settings = ProxySettings.from_section(self.config)

    def test_built(self) -> None:
        """
        The rings of C{swift_dir}, a node client with its own pool and, with
        no C{redis_url}, an info store in memory; stopping closes the pool.
        """
        process = build_proxy_service(self.config, self.settings, self.reactor, _Server)
        self.assertIsInstance(process, ProxyProcess)
        self.assertEqual(process.context.rings.swift_dir, self.swift_dir)
        client = process.context.node_client
        self.assertIsInstance(client, NodeClient)
        self.assertIsInstance(client.pool, HTTPConnectionPool)  # type: ignore[attr-defined]
        self.assertIsInstance(process.context.info_store, MemoryInfoStore)
        self.assertIs(process.server.site, process.site)  # type: ignore[attr-defined]
        self.assertEqual(len([s for s in process.context.services
                              if isinstance(s, AccessLogFile)]), 1)
        process.startService()
        self.successResultOf(process.stopService())
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_swiftDirArgument(self) -> None:
        """
        C{swift_dir} overrides the option.
        """
        settings = ProxySettings.from_section(self.config)
        object.__setattr__(settings, "swift_dir", "/nonexistent")
        process = build_proxy_service(self.config, settings, self.reactor, _Server,
                                      self.swift_dir)
        self.assertEqual(process.context.rings.swift_dir, self.swift_dir)

    def test_missingRing(self) -> None:
        """
        A missing ring is a L{ConfigError} naming it.
        """
        os.remove(os.path.join(self.swift_dir, "container.ring.gz"))
        error = self.assertRaises(ConfigError, build_proxy_service, self.config,
                                  self.settings, self.reactor, _Server)
        self.assertIn("container.ring.gz", str(error))


    def test_ecPolicyWithoutPyECLib(self) -> None:
        """
        An erasure-coded policy that this proxy cannot serve (no PyECLib,
        as under PyPy without the C{ec} extra) stops startup with a
        L{ConfigError} naming swift.conf and the policy, rather than failing
        that policy's requests.
        """
        with open(os.path.join(self.swift_dir, "swift.conf"), "a") as f:
            f.write("[storage-policy:0]\nname = gold\ndefault = yes\n"
                    "[storage-policy:1]\nname = ec\npolicy_type = erasure_coding\n"
                    "ec_type = liberasurecode_rs_vand\nec_num_data_fragments = 4\n"
                    "ec_num_parity_fragments = 2\n")
        without_pyeclib(self)
        error = self.assertRaises(ConfigError, build_proxy_service, self.config,
                                  self.settings, self.reactor, _Server)
        self.assertIn("swift.conf: [storage-policy:1] (ec)", str(error))
        self.assertIn("PyECLib is not installed", str(error))


class AccessLogServiceTests(SynchronousTestCase):
    """
    The C{access_log_file} of C{proxy_logging} is a service of the process:
    open while it runs.
    """

    def setUp(self) -> None:
        _needs_proc(self)
        self.clock = Clock()
        self.path = os.path.abspath(self.mktemp())

    def read(self) -> str:
        with open(self.path) as f:
            return f.read()

    def test_pluginAttaches(self) -> None:
        """
        The plugin puts the file's service in C{context.services}, which
        opens it when started and closes it when stopped, writing what
        waits.
        """

        class Context:
            reactor = self.clock
            constraints = Constraints()
            services = MultiService()

        proxyLoggingPlugin.make_filter({"access_log_file": self.path}, partial_context(Context))
        [writer] = list(Context.services)
        assert isinstance(writer, AccessLogFile)
        self.assertEqual(writer.path, self.path)
        self.assertNotIn(self.path, _open_paths())
        Context.services.startService()
        self.assertIn(self.path, _open_paths())
        writer.write("waiting")
        Context.services.stopService()
        self.assertNotIn(self.path, _open_paths())
        self.assertEqual(self.read(), "waiting\n")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_writeAfterStop(self) -> None:
        """
        A line written after the service stopped is written at once, and the
        file closed again.
        """
        writer = AccessLogFile(self.path, self.clock)
        writer.startService()
        writer.stopService()
        writer.write("late")
        self.assertEqual(self.read(), "late\n")
        self.assertNotIn(self.path, _open_paths())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_restart(self) -> None:
        """
        Started again, the service batches lines again.
        """
        writer = AccessLogFile(self.path, self.clock, interval=1.0)
        writer.startService()
        writer.stopService()
        writer.startService()
        self.addCleanup(writer.stopService)
        writer.write("batched")
        self.assertEqual(self.read(), "")
        self.clock.advance(1)
        self.assertEqual(self.read(), "batched\n")

    def test_cannotOpen(self) -> None:
        """
        A file that cannot be opened at start is logged, not raised, and
        tried again at the next write.
        """
        events = _Events(self)
        os.mkdir(self.path)
        target = os.path.join(self.path, "sub", "access.log")
        writer = AccessLogFile(target, self.clock)
        writer.startService()
        self.addCleanup(writer.stopService)
        self.assertIn("Cannot write the access log {path}: {error}", events.formats())
        os.mkdir(os.path.join(self.path, "sub"))
        writer.write("kept")
        writer.flush()
        with open(target) as f:
            self.assertEqual(f.read(), "kept\n")


class NodeClientCloseTests(SynchronousTestCase):
    """
    L{NodeClient.close}.
    """

    def test_closesPool(self) -> None:
        """
        C{close} closes the pool's cached connections and fires when they
        are closed.
        """
        reactor = MemoryReactorClock()
        pool = _Pool(reactor)
        closed = NodeClient(reactor, 10, 0.5, pool=pool).close()
        assert pool.closing is not None
        self.assertNoResult(closed)
        pool.closing.callback(None)
        self.assertIsNone(self.successResultOf(closed))

    def test_ownPool(self) -> None:
        """
        The pool a client makes itself is closed.
        """
        client = NodeClient(MemoryReactorClock(), 10, 0.5)
        self.assertIsNone(self.successResultOf(client.close()))

    def test_noPool(self) -> None:
        """
        A client on an agent of its caller has nothing to close.
        """
        client = NodeClient(MemoryReactorClock(), 10, 0.5, agent=object())  # type: ignore[arg-type]
        self.assertIsNone(self.successResultOf(client.close()))
