"""
Tests for L{twisted_proxy.service.tap}'s command-line options.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from twisted.logger import globalLogPublisher
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from tests.test_ring import write_one_device_swift_dir
from tests.tlscerts import write_tls_files
from twisted_proxy._twisted import QuietTwistedLogging
from twisted_proxy.config import ProxyConfig, ProxySettings
from twisted_proxy.service import tap
from twisted_proxy.service.build import ProxyProcess
from twisted_proxy.service.tap import (
    ListenWhenReady,
    Options,
    _endpoint_description,
    _with_backlog,
    check_listenable,
    makeService,
)
from twisted_proxy.service.workers import WorkerPoolService
from twisted_proxy.web.server import ProxySite

_CONFIG = """\
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = 8081

[pipeline:main]
pipeline = proxy-server

[app:proxy-server]
use = egg:swift#proxy
node_timeout = 4
"""


class OptionsTests(SynchronousTestCase):
    """
    Tests for L{Options}.
    """

    def write_config(self, text: str = _CONFIG) -> str:
        directory = self.mktemp()
        os.makedirs(directory)
        path = os.path.abspath(os.path.join(directory, "proxy-server.conf"))
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path

    def parse(self, *args: str) -> Options:
        options = Options()
        options.parseOptions(list(args))
        return options

    def assertUsageError(self, *args: str) -> str:
        error = self.assertRaises(UsageError, self.parse, *args)
        message = str(error)
        self.assertNotIn("\n", message)
        return message

    def test_config(self) -> None:
        """
        C{--config} is read and validated into C{parsed} and C{settings}.
        """
        path = self.write_config()
        options = self.parse("--config", path)
        self.assertIsInstance(options["parsed"], ProxyConfig)
        self.assertEqual(options["parsed"].path, path)
        settings = options["settings"]
        self.assertIsInstance(settings, ProxySettings)
        self.assertEqual((settings.bind_ip, settings.bind_port), ("127.0.0.1", 8081))
        self.assertEqual(settings.node_timeout, 4.0)
        self.assertIsNone(options["port"])

    def test_shortOptions(self) -> None:
        """
        C{-c} and C{-p} are C{--config} and C{--port}.
        """
        path = self.write_config()
        options = self.parse("-c", path, "-p", "tcp:0")
        self.assertEqual(options["config"], path)
        self.assertEqual(options["port"], "tcp:0")

    def test_configRequired(self) -> None:
        """
        Without C{--config}, parsing fails.
        """
        self.assertIn("--config is required", self.assertUsageError())

    def test_missingConfig(self) -> None:
        """
        A missing file is a usage error with L{load_config}'s message.
        """
        path = os.path.abspath(self.mktemp())
        message = self.assertUsageError("--config", path)
        self.assertEqual(message, f"{path}: configuration file not found")

    def test_badConfigFile(self) -> None:
        """
        A malformed file is a one-line usage error naming it.
        """
        path = self.write_config("this is not ini\n")
        message = self.assertUsageError("--config", path)
        self.assertTrue(message.startswith(path), message)

    def test_badValue(self) -> None:
        """
        A bad option value is a one-line usage error naming the file, the
        section and the option.
        """
        path = self.write_config(_CONFIG.replace("node_timeout = 4", "node_timeout = x"))
        message = self.assertUsageError("--config", path)
        self.assertTrue(
            message.startswith(f"{path}: [app:proxy-server] node_timeout: bad value"),
            message,
        )

    def test_badBindPortInDefault(self) -> None:
        """
        A bad value inherited from C{[DEFAULT]} names the application's
        section.
        """
        path = self.write_config(_CONFIG.replace("bind_port = 8081", "bind_port = 80800"))
        message = self.assertUsageError("--config", path)
        self.assertIn("[app:proxy-server] bind_port", message)

    def test_goodPorts(self) -> None:
        """
        Valid endpoint descriptions are accepted without listening.
        """
        path = self.write_config()
        for port in (
            "tcp:8080",
            "tcp:0:interface=127.0.0.1",
            "tcp6:8080:interface=\\:\\:1",
            "tcp:port=65535",
            "unix:/tmp/twisted-proxy.sock",
        ):
            self.assertEqual(self.parse("--config", path, "--port", port)["port"], port)

    def test_badPorts(self) -> None:
        """
        An endpoint description that cannot be parsed, or names a TCP port
        outside 0-65535, is a one-line usage error naming it.
        """
        path = self.write_config()
        for port in (
            "bogus:1",
            "tcp:http",
            "tcp",
            "tcp:8080:color=blue",
            "tcp:65536",
            "tcp:-1",
            "tcp6:port=70000:interface=\\:\\:1",
            "8080",
            f"ssl:443:privateKey={os.path.abspath(self.mktemp())}.pem",
        ):
            message = self.assertUsageError("--config", path, "--port", port)
            self.assertTrue(message.startswith(f"--port {port!r}: "), message)

    def test_extraArguments(self) -> None:
        """
        Positional arguments are refused.
        """
        path = self.write_config()
        self.assertUsageError("--config", path, "extra")


class EndpointDescriptionTests(SynchronousTestCase):
    """
    Tests for the endpoint built from C{bind_ip} and C{bind_port}.
    """

    def test_ipv4(self) -> None:
        settings = ProxySettings(bind_ip="0.0.0.0", bind_port=8080)
        self.assertEqual(_endpoint_description(settings),
                         "tcp:8080:interface=0.0.0.0:backlog=4096")

    def test_backlog(self) -> None:
        """
        The listen backlog is C{backlog}, 4096 by default as in Swift
        (Twisted's default is 50), also for a C{--port} that names none.
        """
        settings = ProxySettings(bind_port=8080, backlog=100)
        self.assertTrue(_endpoint_description(settings).endswith(":backlog=100"))
        self.assertEqual(_with_backlog("tcp:81", 100), "tcp:81:backlog=100")
        self.assertEqual(_with_backlog("tcp:81:backlog=7", 100), "tcp:81:backlog=7")
        self.assertEqual(_with_backlog("unix:/s", 100), "unix:/s")

    def test_ipv6(self) -> None:
        """
        An IPv6 C{bind_ip} has its colons escaped.
        """
        settings = ProxySettings(bind_ip="::1", bind_port=80)
        self.assertEqual(_endpoint_description(settings),
                         "tcp:80:interface=\\:\\:1:backlog=4096")


class _OneDeviceCluster(SynchronousTestCase):
    """
    The options of a configuration over a one-device cluster's rings; the
    address is never probed.
    """

    def setUp(self) -> None:
        swift_dir = os.path.abspath(self.mktemp())
        write_one_device_swift_dir(swift_dir)
        path = os.path.join(swift_dir, "proxy-server.conf")
        with open(path, "w") as handle:
            handle.write(_CONFIG.replace("[DEFAULT]\n", f"[DEFAULT]\nswift_dir = {swift_dir}\n"))
        self.options = Options()
        self.options.parseOptions(["--config", path])
        self.probed: list[tuple[str, int]] = []
        self.patch(tap, "_probe_tcp", lambda host, port: self.probed.append((host, port)))


class MakeServiceTests(_OneDeviceCluster):
    """
    Tests for L{makeService}, over a one-device cluster's rings (nothing
    listens or starts).
    """

    def test_quietsTwistedClientLogs(self) -> None:
        """
        The first service started filters the observers twistd set up on
        the global log publisher.
        """
        services = list(makeService(self.options))  # type: ignore[call-overload]
        self.assertIsInstance(services[0], QuietTwistedLogging)
        self.assertIs(services[0].publisher, globalLogPublisher)

    def test_unknownStage(self) -> None:
        """
        A pipeline stage with no plugin stops startup before anything is
        made: C{SystemExit} with one line naming the file, the section and
        the stage, which twistd prints as it exits with status 1.
        """
        path = os.path.join(os.path.dirname(self.options["config"]), "bad.conf")
        with open(path, "w") as handle:
            handle.write(_CONFIG.replace("pipeline = proxy-server",
                                         "pipeline = catch_errors authtoken proxy-server"))
        options = Options()
        options.parseOptions(["--config", path])
        error = self.assertRaises(SystemExit, makeService, options)
        self.assertEqual(
            str(error.code),
            f"twisted-proxy: {os.path.abspath(path)}: [pipeline:main] pipeline: stage "
            "'authtoken': twisted-proxy has no 'authtoken' plugin yet, and will not run "
            "with less authorization than configured")

    def test_portCheckedFirst(self) -> None:
        """
        The address is checked before anything is prepared: with the port
        taken, no environment (the all-in-one cluster) is even looked for,
        and twistd exits non-zero with one line.
        """
        looked: list[object] = []

        def taken(host: str, port: int) -> None:
            raise OSError(errno.EADDRINUSE, "Address already in use")

        self.patch(tap, "_probe_tcp", taken)
        def fake_get_plugins(*args: object) -> list[object]:
            looked.append(args)
            return []

        self.patch(tap, "getPlugins", fake_get_plugins)
        error = self.assertRaises(SystemExit, makeService, self.options)
        self.assertEqual(
            str(error), "twisted-proxy: cannot listen on 127.0.0.1:8081: Address already in use")
        self.assertEqual(looked, [])

    def test_portOption(self) -> None:
        """
        C{--port} is the address checked.
        """
        self.options["port"] = "tcp:9999:interface=127.0.0.2"
        makeService(self.options)
        self.assertEqual(self.probed, [("127.0.0.2", 9999)])

    def test_listenAddressToEnvironments(self) -> None:
        """
        An environment is prepared knowing where the proxy will listen
        (C{--port}, else C{bind_ip}/C{bind_port}); for another kind of
        endpoint it is told nothing.
        """
        seen: list[object] = []

        class Environment:
            section = "app:proxy-server"

            def prepare(self, config: Any, reactor: object) -> object:
                seen.append(config.listen_address)
                raise SystemExit("prepared")

        self.patch(tap, "getPlugins", lambda *args: [Environment()])
        for port in ("tcp:9999:interface=127.0.0.2", None, "unix:/tmp/proxy.sock"):
            self.options["port"] = port
            self.options["parsed"].listen_address = None
            self.assertRaises(SystemExit, makeService, self.options)
        self.assertEqual(seen, [("127.0.0.2", 9999), ("127.0.0.1", 8081), None])


class CheckListenableTests(SynchronousTestCase):
    def test_tcp(self) -> None:
        probed: list[tuple[str, int]] = []
        self.patch(tap, "_probe_tcp", lambda host, port: probed.append((host, port)))
        check_listenable("tcp:8080")
        check_listenable("tcp:port=81:interface=\\:\\:1")
        self.assertEqual(probed, [("0.0.0.0", 8080), ("::1", 81)])

    def test_otherEndpoints(self) -> None:
        """
        Endpoints other than C{tcp:} are left to their listening.
        """
        def probe(*args: Any) -> None:
            raise AssertionError("probed")

        self.patch(tap, "_probe_tcp", probe)
        check_listenable("unix:/tmp/proxy.sock")

    def test_refused(self) -> None:
        def probe(host: str, port: int) -> None:
            raise OSError(errno.EACCES, "Permission denied")

        self.patch(tap, "_probe_tcp", probe)
        error = self.assertRaises(SystemExit, check_listenable, "tcp:80")
        self.assertEqual(str(error), "twisted-proxy: cannot listen on 0.0.0.0:80: Permission denied")


class ServingLayersTests(_OneDeviceCluster):
    """
    L{makeService} with C{cert_file}, C{require_proxy_protocol} and
    C{workers}, over a one-device cluster's rings (nothing listens or
    starts).
    """

    def setUp(self) -> None:
        super().setUp()
        self.directory = os.path.dirname(self.options["config"])
        self.tls = write_tls_files(os.path.join(self.directory, "tls"))

    def options_for(self, app: str = "", default: str = "") -> Options:
        with open(self.options["config"]) as handle:
            text = handle.read()
        text = text.replace("[DEFAULT]\n", "[DEFAULT]\n" + default, 1)
        text = text.replace("[app:proxy-server]\n", "[app:proxy-server]\n" + app, 1)
        path = os.path.join(self.directory, "layers.conf")
        with open(path, "w") as handle:
            handle.write(text)
        options = Options()
        options.parseOptions(["--config", path])
        return options

    def serving(self, options: Options) -> Any:
        [process] = [child for child in makeService(options)  # type: ignore[attr-defined]
                     if isinstance(child, ProxyProcess)]
        return process.server

    def test_tls(self) -> None:
        """
        The single process listens with the site behind TLS.
        """
        server = self.serving(self.options_for(
            default=f"cert_file = {self.tls.cert_file}\nkey_file = {self.tls.key_file}\n"))
        self.assertIsInstance(server, ListenWhenReady)
        self.assertIsInstance(server._factory, TLSMemoryBIOFactory)
        self.assertIsInstance(server._factory.wrappedFactory, ProxySite)

    def test_badCertificate(self) -> None:
        """
        A certificate that cannot be used stops startup with one line,
        with workers too (before any starts).
        """
        missing = os.path.join(self.directory, "missing.pem")
        for workers in ("1", "2"):
            options = self.options_for(
                app=f"workers = {workers}\n",
                default=f"cert_file = {missing}\nkey_file = {self.tls.key_file}\n")
            error = self.assertRaises(SystemExit, makeService, options)
            self.assertEqual(str(error),
                             f"twisted-proxy: cert_file {missing}: No such file or directory")

    def test_doubledLayers(self) -> None:
        """
        An C{ssl:} endpoint with C{cert_file}, or a C{haproxy:} one with
        C{require_proxy_protocol}, would have the layer twice: refused.
        """
        options = self.options_for(
            default=f"cert_file = {self.tls.cert_file}\nkey_file = {self.tls.key_file}\n")
        options["port"] = f"ssl:8443:privateKey={self.tls.key_file}"
        error = self.assertRaises(SystemExit, makeService, options)
        self.assertIn("--port 'ssl:8443:", str(error))
        self.assertIn("and cert_file: the ssl: endpoint does what cert_file does", str(error))
        options = self.options_for(app="require_proxy_protocol = true\n")
        options["port"] = "haproxy:tcp:8080"
        error = self.assertRaises(SystemExit, makeService, options)
        self.assertIn("and require_proxy_protocol", str(error))

    def test_workersAuto(self) -> None:
        """
        C{workers = auto} on a host of two CPUs runs two workers.
        """
        self.patch(os, "cpu_count", lambda: 2)
        server = self.serving(self.options_for(app="workers = auto\n"))
        self.assertIsInstance(server, WorkerPoolService)
        self.assertEqual(server._count, 2)
