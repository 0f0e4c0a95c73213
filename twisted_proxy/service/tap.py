# -*- test-case-name: tests.test_tap,tests.test_reload -*-
"""
The twistd plugin's options and service: C{twistd -n twisted-proxy --config
conf/proxy-server.conf [--port ENDPOINT]}.
"""

from __future__ import annotations

import socket
from typing import Any, Callable, Optional

from twisted.application import service
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory
from twisted.logger import Logger, globalLogPublisher
from twisted.plugin import getPlugins
from twisted.python import usage

from twisted_proxy._twisted import QuietTwistedLogging
from twisted_proxy.config import (
    ConfigError,
    ProxyConfig,
    ProxySettings,
    load_config,
    read_config_text,
)
from twisted_proxy.interfaces import IProxyEnvironment
from twisted_proxy.service.build import build_proxy_service
from twisted_proxy.service.forking import launcher_for
from twisted_proxy.service.heap import freeze_heap
from twisted_proxy.service.listening import serving_factory
from twisted_proxy.service.reload import (
    CheckedConfig,
    ConfigCheck,
    Reloader,
    ReloadSignals,
    environment_overrides,
    pool_reload,
    single_process_reload,
)
from twisted_proxy.service.workers import WorkerPoolService, WorkerSpec, worker_redis_url
from twisted_proxy.web.pipeline import available_plugins, resolve_pipeline
from twisted_proxy.web.server import ProxySite

__all__ = ["Options", "check_listenable", "makeService", "ProxyService"]

_log = Logger()


class Options(usage.Options):
    """
    Command-line options of the C{twisted-proxy} twistd plugin.
    """

    synopsis = "--config FILE [--port ENDPOINT]"
    longdesc = (
        "Serve the OpenStack Swift API in front of Swift storage nodes. "
        "FILE is a Swift proxy-server.conf; with an [aio] section the proxy "
        "also starts a local all-in-one storage cluster."
    )
    optParameters = [
        ["config", "c", None, "The proxy-server.conf to read."],
        [
            "port",
            "p",
            None,
            "A strports endpoint to listen on (e.g. tcp:8080:interface=127.0.0.1); "
            "overrides bind_ip and bind_port.",
        ],
    ]

    def postOptions(self) -> None:
        if not self["config"]:
            raise usage.UsageError("--config is required")
        try:
            self["text"] = read_config_text(self["config"])
            self["parsed"] = load_config(self["config"], self["text"])
            self["settings"] = ProxySettings.from_section(self["parsed"])
        except ConfigError as error:
            raise usage.UsageError(str(error))
        if self["port"]:
            _check_endpoint(self["port"])


class _ListenRecorder:
    """
    As much of a reactor as a server endpoint needs to be asked to listen:
    it only records the TCP ports asked for (in L{ports}).

    Twisted's C{MemoryReactor} would do, but it lives in
    C{twisted.internet.testing}, which imports C{twisted.trial} (and
    C{unittest}, C{pdb}, C{doctest}): a few megabytes in the twistd process
    and, through the fork, in every worker.
    """

    def __init__(self) -> None:
        self.ports: list[object] = []

    def listenTCP(self, port: object, factory: object, backlog: int = 50,
                  interface: str = "") -> None:
        self.ports.append(port)

    def listenSSL(self, port: object, factory: object, contextFactory: object,
                  backlog: int = 50, interface: str = "") -> None:
        self.ports.append(port)

    def listenUNIX(self, address: object, factory: object, backlog: int = 50,
                   mode: int = 0o666, wantPID: int = 0) -> None:
        pass


def _check_endpoint(description: str) -> None:
    """
    Parse a C{--port} endpoint description without listening.

    @raise usage.UsageError: it cannot be parsed (unknown type, missing or
        bad arguments, unreadable TLS files) or names a TCP port outside
        0-65535.
    """
    reactor = _ListenRecorder()
    try:
        endpoint = serverFromString(reactor, description)
    except Exception as error:
        # Endpoint parsers raise whatever their argument handling raises
        # (ValueError, TypeError, OSError for TLS files, ...).
        problem = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise usage.UsageError(f"--port {description!r}: {problem}")
    endpoint.listen(Factory()).addErrback(lambda _: None)
    for port in reactor.ports:
        if isinstance(port, int) and not 0 <= port <= 65535:
            raise usage.UsageError(f"--port {description!r}: {port} is not a TCP port")


def _probe_tcp(host: str, port: int) -> None:
    """
    Bind C{host:port} as a listening port would be bound, then let it go.

    @raise OSError: it cannot be bound (in use, not an address of this
        host, a privileged port).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def check_listenable(description: str) -> None:
    """
    Refuse to start when a C{tcp:} endpoint's address cannot be bound, with
    one line, before anything is started (the all-in-one cluster takes tens
    of seconds to come up, and the proxy listens only once it has). Other
    kinds of endpoint are left to their listening.

    @raise SystemExit: naming the address and the reason.
    """
    try:
        host, port = _tcp_address(description)
    except ValueError:
        return
    try:
        _probe_tcp(host, port)
    except OSError as error:
        reason = error.strerror or str(error)
        raise SystemExit(f"twisted-proxy: cannot listen on {host}:{port}: {reason}")


def _endpoint_description(settings: ProxySettings) -> str:
    interface = settings.bind_ip.replace(":", "\\:")
    return f"tcp:{settings.bind_port}:interface={interface}:backlog={settings.backlog}"


def _with_backlog(description: str, backlog: int) -> str:
    """
    A C{tcp:} endpoint description with C{backlog} as its listen backlog,
    unless it names one (Twisted's default is 50: under a burst of
    connections the kernel drops the rest).
    """
    if not description.startswith("tcp:") or "backlog=" in description:
        return description
    return f"{description}:backlog={backlog}"


class ListenWhenReady(service.Service):
    """
    Listens on an endpoint once C{ready()} fires: the proxy does not accept
    clients before its storage nodes are up.
    """

    def __init__(self, description: str, factory: Any, ready: Callable[[], Deferred[None]],
                 reactor: Any) -> None:
        self._description = description
        self._factory = factory
        self._ready = ready
        self._reactor = reactor
        self._port: Optional[IListeningPort] = None
        self._starting: Optional[Deferred[None]] = None

    def startService(self) -> None:
        super().startService()
        endpoint = serverFromString(self._reactor, self._description)

        def listen(_: Any) -> Deferred[IListeningPort]:
            return endpoint.listen(self._factory)  # type: ignore[no-any-return]

        def listening(port: IListeningPort) -> None:
            self._port = port
            # What the proxy built to start lives as long as it does.
            freeze_heap()
            listening = getattr(self._factory, "listening", None)
            if listening is not None:
                listening(port)
            address = port.getHost()
            _log.info(
                "twisted-proxy listening on {host}:{port}",
                host=getattr(address, "host", "?"),
                port=getattr(address, "port", "?"),
            )

        def failed(failure: Any) -> None:
            if failure.check(CannotListenError):
                _log.critical("twisted-proxy could not start: {error}",
                              error=failure.getErrorMessage())
            else:
                _log.failure("twisted-proxy could not start", failure)
            if self._reactor.running:
                self._reactor.stop()

        self._starting = self._ready().addCallback(listen).addCallbacks(listening, failed)

    def stopService(self) -> Optional[Deferred[None]]:
        super().stopService()
        if self._starting is not None and not self._starting.called:
            self._starting.cancel()
        if self._port is not None:
            port, self._port = self._port, None
            listening = getattr(self._factory, "listening", None)
            if listening is not None:
                listening(None)
            return port.stopListening()  # type: ignore[no-any-return]
        return None


class ProxyService(service.MultiService):
    """
    The whole proxy: its optional all-in-one cluster, then the
    L{ProxyProcess} (which listens, or runs the worker processes), and
    the reload signals' handlers (L{ReloadSignals}).
    """


def makeService(options: Options) -> service.IService:
    """
    The twistd service for C{options}.
    """
    from twisted.internet import reactor

    config: ProxyConfig = options["parsed"]
    settings: ProxySettings = options["settings"]
    if options["port"]:
        description = _with_backlog(options["port"], settings.backlog)
    else:
        description = _endpoint_description(settings)
    check_listenable(description)
    _check_layers(description, settings)
    top = ProxyService()
    # Started once twistd's log observer is in place.
    QuietTwistedLogging(globalLogPublisher).setServiceParent(top)
    try:
        # Before anything starts: a stage with no plugin is the operator's
        # mistake, told in one line.
        resolve_pipeline(config, available_plugins())
    except ConfigError as error:
        raise SystemExit(f"twisted-proxy: {error}")
    try:
        config.listen_address = _tcp_address(description)
    except ValueError:
        pass
    swift_dir = None
    waits: list[Callable[[], Deferred[None]]] = []
    before = {name: dict(section) for name, section in config.sections.items()}
    environments = []
    for environment in getPlugins(IProxyEnvironment):
        if environment.section not in config.sections:
            continue
        environments.append(environment.section)
        try:
            prepared = environment.prepare(config, reactor)
        except ConfigError as error:
            raise SystemExit(f"twisted-proxy: {error}")
        prepared.service.setServiceParent(top)
        if prepared.swift_dir is not None:
            swift_dir = prepared.swift_dir
        waits.append(prepared.when_ready)

    def ready() -> Deferred[None]:
        """
        Fires once everything the proxy needs (storage nodes, Redis) answers.
        """
        both = gatherResults([wait() for wait in waits], consumeErrors=True)
        return both.addCallback(lambda _: None)

    pools: list[WorkerPoolService] = []

    def serve(site: ProxySite) -> service.IService:
        # Made in both cases: a certificate that cannot be used stops
        # startup before any worker starts.
        factory = serving_factory(site, settings, reactor)
        if settings.workers >= 2:
            # The workers serve; this process only checks the configuration
            # by building the proxy, and supervises them.
            pool = _worker_pool(config, settings, options["text"], description, swift_dir,
                                ready, reactor)
            pools.append(pool)
            return pool
        return ListenWhenReady(description, factory, ready, reactor)

    try:
        process = build_proxy_service(config, settings, reactor, serve, swift_dir)
    except ConfigError as error:
        raise SystemExit(f"twisted-proxy: {error}")
    process.setServiceParent(top)
    check = ConfigCheck(config, settings, reactor, swift_dir,
                        environment_overrides(before, config), environments,
                        fixed_address=bool(options["port"]))
    apply: Callable[[CheckedConfig], Any]
    if pools:
        apply = pool_reload(pools[0], swift_dir)
    else:
        apply = single_process_reload(config, settings, process.context.rings)
    ReloadSignals(reactor, Reloader(check, apply).reload).setServiceParent(top)
    return top


def _check_layers(description: str, settings: ProxySettings) -> None:
    """
    Refuse an endpoint that already has a layer the configuration adds
    (L{serving_factory}): it would be there twice.

    @raise SystemExit: naming the endpoint and the option.
    """
    doubled = [(settings.cert_file is not None, "ssl:", "cert_file"),
               (settings.require_proxy_protocol, "haproxy:", "require_proxy_protocol")]
    for configured, prefix, option in doubled:
        if configured and description.startswith(prefix):
            raise SystemExit(f"twisted-proxy: --port {description!r} and {option}: the "
                             f"{prefix} endpoint does what {option} does; use a tcp: one")


def _tcp_address(description: str) -> tuple[str, int]:
    """
    Host and port of a C{tcp:PORT[:interface=HOST]} endpoint description.

    @raise ValueError: for any other kind of endpoint.
    """
    parts = description.replace("\\:", "\0").split(":")
    if not parts or parts[0] != "tcp":
        raise ValueError(f"workers need a tcp: endpoint, not {description!r}")
    host, port = "0.0.0.0", None
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        value = value.replace("\0", ":")
        if not sep:
            port = int(key)
        elif key == "port":
            port = int(value)
        elif key == "interface":
            host = value
    if port is None:
        raise ValueError(f"no port in {description!r}")
    return host, port


def _worker_pool(config: ProxyConfig, settings: ProxySettings, text: str, description: str,
                 swift_dir: Optional[str], ready: Callable[[], Deferred[None]],
                 reactor: Any) -> WorkerPoolService:
    """
    The service running C{settings.workers} proxy processes, each built
    from C{text}, the configuration file's text as it was read.
    """
    try:
        redis_url = worker_redis_url(config, settings)
    except ConfigError as error:
        raise SystemExit(f"twisted-proxy: {error}")
    try:
        host, port = _tcp_address(description)
    except ValueError as error:
        raise SystemExit(f"twisted-proxy: --port: {error}")
    spec = WorkerSpec(config.path, swift_dir, redis_url, text)
    return WorkerPoolService(reactor, host, port, settings.workers, spec, ready,
                             backlog=settings.backlog,
                             drain_timeout=settings.stale_worker_timeout,
                             launch=launcher_for(settings.worker_start, reactor))

