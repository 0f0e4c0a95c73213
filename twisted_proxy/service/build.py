# -*- test-case-name: tests.test_service,tests.test_reload -*-
"""
One proxy process as a service: the one startup path of the twistd plugin
(a single process, or the parent of C{workers = N}) and of every worker
process.

L{build_proxy_service} reads C{swift.conf} and the rings and makes the node
client and the info store; L{ProxyProcess} puts them together into the
proxy's site and runs what they hold open as its child services, so that
stopping the process closes every connection and file it opened.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_proxy.backend.nodeclient import NodeClient
from twisted_proxy.backend.zerocopy import SPLICE_AVAILABLE, SocketRelay
from twisted_proxy.config import ConfigError, ProxyConfig, ProxySettings
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.memorystore import LayeredInfoStore
from twisted_proxy.info.redisstore import RedisInfoStore, make_info_store
from twisted_proxy.interfaces import IInfoStore
from twisted_proxy.plugins._support.statsd import StatsdMetrics, statsd_for
from twisted_proxy.swift.ec.scheme import ECSchemeError, check_ec_policies, write_legacy_crc
from twisted_proxy.swift.metrics import MetricsFanout
from twisted_proxy.swift.ring import RingError, RingSet
from twisted_proxy.swift.statsd import StatsdConf
from twisted_proxy.swift.swiftconf import SwiftConf, SwiftConfError, load_swift_conf
from twisted_proxy.web.app import Pipeline, ProxyApplication
from twisted_proxy.web.pipeline import build_filters, catch_errors_options
from twisted_proxy.web.server import ProxyResource, ProxySite

__all__ = [
    "ClosingService",
    "ProxyProcess",
    "RingReloader",
    "Serve",
    "build_proxy_service",
    "check_proxy_service",
]

_log = Logger()

#: Makes the service that serves a process's site: it listens on an
#: endpoint, adopts an inherited socket, or runs worker processes instead.
Serve = Callable[[ProxySite], IService]


class RingReloader(Service):
    """
    Checks a L{RingSet}'s files for changes while running.
    """

    def __init__(self, rings: RingSet) -> None:
        self.rings = rings

    def startService(self) -> None:
        super().startService()
        self.rings.start()

    def stopService(self) -> None:
        super().stopService()
        self.rings.stop()


class ClosingService(Service):
    """
    Owns one thing the process holds open that was opened when it was made
    (a connection pool): C{stopService} closes it and returns the
    L{Deferred} of its closing, so the process stops once it is closed. A
    closing that fails, or takes more than C{timeout} seconds, is logged
    and given up: the process stops anyway.

    @param what: names the thing in the log.
    @param close: closes it, returning a L{Deferred} or C{None}.
    @param clock: times the closing.
    @param timeout: seconds the closing may take.
    """

    def __init__(self, what: str, close: Callable[[], Optional[Deferred[Any]]],
                 clock: IReactorTime, timeout: float = 5.0) -> None:
        self.what = what
        self._close = close
        self._clock = clock
        self.timeout = timeout

    def stopService(self) -> Deferred[None]:
        super().stopService()

        def failed(failure: Failure) -> None:
            _log.failure("Could not close the {what}", failure, what=self.what)

        closing: Deferred[Any] = maybeDeferred(self._close)
        closing.addTimeout(self.timeout, self._clock)
        return closing.addCallbacks(lambda _: None, failed)


def _close_info_store(store: IInfoStore) -> Optional[Deferred[None]]:
    """
    Close the connections behind C{store}: a L{RedisInfoStore}'s, also
    when a L{LayeredInfoStore} keeps copies in front of it. A store in
    memory holds nothing open.
    """
    if isinstance(store, LayeredInfoStore):
        store = store.shared
    if isinstance(store, RedisInfoStore):
        return store.close()
    return None


class ProxyProcess(MultiService):
    """
    Everything one proxy process runs. Its child services, started in this
    order and stopped in the reverse one:

      1. ring reloading (L{RingReloader});
      2. the node client's connection pool, closed when stopping;
      3. the info store's connections (Redis), closed when stopping;
      4. C{context.services}, what the plugins hold open (an access log,
         the statsd port of C{log_statsd_host});
      5. what C{serve} made of the site: it stops first, so no client is
         served by a process whose resources are closing.

    Making it builds the pipeline; nothing is opened or served before it
    starts.

    @ivar context: the L{ProxyContext} shared by the controllers and plugins.
    @ivar site: the L{ProxySite} serving the proxy.
    @ivar server: the service C{serve} made.

    @param config: the parsed C{proxy-server.conf}.
    @param reactor: the reactor of the process.
    @param node_client: the node client; its pool is closed when stopping.
    @param info_store: the info store; its connections are closed when
        stopping.
    @param serve: makes the service serving the site.
    @param metrics: what the node client and info store report to; the
        plugins add their recorders to it, and with C{log_statsd_host}
        in the application's section the proxy-server statsd counters go
        to it too.
    @raise ConfigError: a plugin rejects its options, or a statsd option
        is not a number.
    """

    def __init__(
        self,
        config: ProxyConfig,
        settings: ProxySettings,
        reactor: Any,
        swift_conf: SwiftConf,
        rings: RingSet,
        node_client: NodeClient,
        info_store: IInfoStore,
        serve: Serve,
        metrics: Optional[MetricsFanout] = None,
    ) -> None:
        super().__init__()
        self.context = ProxyContext(reactor, settings, swift_conf, rings, node_client,
                                    info_store, metrics)
        _add_app_statsd(config, self.context)
        filters = build_filters(config, self.context)
        # Swift reads it from catch_errors' options; the application's
        # (where Swift's own applies to requests no catch_errors saw) is
        # taken when catch_errors has none.
        suffix = catch_errors_options(config).get("trans_id_suffix",
                                                  settings.trans_id_suffix)
        app = Pipeline(filters, ProxyApplication(self.context), reactor, suffix)
        relay = SocketRelay(reactor) if settings.zero_copy and SPLICE_AVAILABLE else None
        self.context.socket_relay = relay
        self.site = ProxySite(ProxyResource(app, reactor, settings.client_timeout, relay),
                              constraints=self.context.constraints,
                              max_clients=settings.max_clients,
                              keep_idle=settings.keep_idle,
                              trans_id_suffix=suffix)
        self.site.timeOut = settings.client_timeout
        self.site.metrics = self.context.metrics
        RingReloader(rings).setServiceParent(self)
        ClosingService("node connection pool", node_client.close, reactor
                       ).setServiceParent(self)
        ClosingService("info store", lambda: _close_info_store(info_store), reactor
                       ).setServiceParent(self)
        self.context.services.setServiceParent(self)
        self.server = serve(self.site)
        self.server.setServiceParent(self)


def _add_app_statsd(config: ProxyConfig, context: ProxyContext) -> None:
    """
    With C{log_statsd_host} in the application's section (or
    C{[DEFAULT]}), send its statsd counters (L{StatsdMetrics}).
    """
    conf = dict(config.defaults)
    conf.update(config.app_section())
    section = f"app:{config.app_name}"
    try:
        statsd = StatsdConf.from_conf(conf, section)
    except ValueError as error:
        raise ConfigError(f"{config.path}: {error}") from None
    if statsd is not None:
        context.metrics.add(StatsdMetrics(statsd_for(context.reactor, statsd,
                                                     context.services)))


def build_proxy_service(
    config: ProxyConfig,
    settings: ProxySettings,
    reactor: Any,
    serve: Serve,
    swift_dir: Optional[str] = None,
) -> ProxyProcess:
    """
    The L{ProxyProcess} configured by C{config} and C{settings}.

    @param reactor: an L{IReactorTime} and L{IReactorTCP} provider.
    @param serve: makes the service serving the site.
    @param swift_dir: where C{swift.conf} and the rings are, instead of
        C{settings.swift_dir}.
    @raise ConfigError: for a bad swift.conf (an erasure-coded policy this
        proxy cannot serve among them), a missing ring, a bad Redis option
        in C{[filter:cache]}, or a plugin's bad option.
    """
    swift_dir = swift_dir or settings.swift_dir
    conf_path = os.path.join(swift_dir, "swift.conf")
    # Before check_ec_policies makes the PyECLib drivers.
    write_legacy_crc(settings.write_legacy_ec_crc)
    try:
        swift_conf = load_swift_conf(conf_path)
        check_ec_policies(swift_conf, conf_path)
        rings = RingSet(swift_dir, swift_conf, reactor)
    except (SwiftConfError, ECSchemeError, RingError, OSError) as error:
        raise ConfigError(str(error))
    settings.check_policy_overrides(policy.index for policy in swift_conf.policies)
    metrics = MetricsFanout()
    node_client = NodeClient(reactor, settings.node_timeout, settings.conn_timeout,
                             metrics=metrics)
    store = make_info_store(config, reactor, metrics)
    try:
        return ProxyProcess(config, settings, reactor, swift_conf, rings, node_client,
                            store, serve, metrics)
    except BaseException:
        # Nothing will stop a process that was never made: close what the
        # info store already opened (Redis connects as it is made).
        closing = _close_info_store(store)
        if closing is not None:
            closing.addErrback(lambda _: None)
        raise


def check_proxy_service(
    config: ProxyConfig,
    settings: ProxySettings,
    reactor: Any,
    swift_dir: Optional[str] = None,
) -> None:
    """
    Make the L{ProxyProcess} L{build_proxy_service} would make, serving
    nothing, and let it go again (closing what making it opened: a
    Redis connection): a check that a configuration would start, for a
    reload.

    @raise ConfigError: as L{build_proxy_service}.
    """
    process = build_proxy_service(config, settings, reactor, lambda site: Service(),
                                  swift_dir)
    maybeDeferred(process.stopService).addErrback(
        lambda failure: _log.failure("Could not discard a checked configuration", failure))
