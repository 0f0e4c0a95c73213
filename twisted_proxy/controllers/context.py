# -*- test-case-name: tests.test_getfailover,tests.test_multipart -*-
"""
L{ProxyContext}: the state one proxy process shares between its requests
(settings, rings, the node client, the info cache, error limiting), handed
to every controller and plugin.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.application.service import MultiService
from twisted.internet.interfaces import IReactorTime

from twisted_proxy.backend.nodes import ErrorLimiter, NodeTimings
from twisted_proxy.backend.zerocopy import SocketRelay
from twisted_proxy.config import ProxySettings
from twisted_proxy.info.cache import InfoCache
from twisted_proxy.interfaces import IInfoStore, INodeClient
from twisted_proxy.swift.constraints import Constraints
from twisted_proxy.swift.expirer import ExpirerQueue
from twisted_proxy.swift.metrics import MetricsFanout
from twisted_proxy.swift.ring import RingSet
from twisted_proxy.swift.swiftconf import SwiftConf

__all__ = ["ProxyContext", "SWIFT_API_VERSION"]

#: The Swift release whose API and behaviour this proxy reproduces.
SWIFT_API_VERSION = "2.38.3"


class ProxyContext:
    """
    Everything a controller or plugin needs beyond its request.

    @ivar info_registry: the sections of C{/info}, by name.
    @ivar metrics: where everything the process does is reported (an
        L{twisted_proxy.interfaces.IMetrics}): a L{MetricsFanout} to which
        a plugin adds its recorder (C{context.metrics.add(recorder)}).
    @ivar services: where a plugin puts what it holds open (an access-log
        file, a connection): a service attached here
        (C{service.setServiceParent(context.services)}) is started before
        the proxy serves and stopped, and waited for, when the process
        stops. A context whose process never runs never starts them.
    @ivar socket_relay: runs zero-copy relays (C{zero_copy}), or C{None}.
    """

    socket_relay: Optional[SocketRelay] = None

    def __init__(
        self,
        reactor: IReactorTime,
        settings: ProxySettings,
        swift_conf: SwiftConf,
        rings: RingSet,
        node_client: INodeClient,
        info_store: IInfoStore,
        metrics: Optional[MetricsFanout] = None,
    ) -> None:
        self.reactor = reactor
        self.metrics = metrics if metrics is not None else MetricsFanout()
        self.settings = settings
        self.swift_conf = swift_conf
        self.constraints = Constraints.from_conf(swift_conf.constraints)
        self.rings = rings
        self.node_client = node_client
        self.info_store = info_store
        self.info_cache = InfoCache(
            info_store,
            settings.recheck_account_existence,
            settings.recheck_container_existence,
            self.metrics,
            account_skip=settings.account_existence_skip_cache_pct,
            container_skip=settings.container_existence_skip_cache_pct,
        )
        self.limiter = ErrorLimiter(
            reactor, settings.error_suppression_limit, settings.error_suppression_interval,
            self.metrics,
        )
        self.timings = NodeTimings(reactor, settings.timing_expiry)
        self.info_registry: dict[str, dict[str, Any]] = {}
        self.services = MultiService()
        self._register_core_info()

    def expirer_queue(self) -> ExpirerQueue:
        """
        Where this cluster's expirer queue is: C{swift.conf}'s hash secrets
        and C{auto_create_account_prefix}, and the proxy's (deprecated)
        C{expiring_objects_account_name} and
        C{expiring_objects_container_divisor}.
        """
        settings = self.settings
        return ExpirerQueue.configure(
            self.swift_conf.hash_prefix,
            self.swift_conf.hash_suffix,
            self.constraints.auto_create_account_prefix,
            settings.expiring_objects_account_name,
            settings.expiring_objects_container_divisor,
        )

    def register_info(self, name: str, **info: Any) -> None:
        """
        Add (or extend) the C{name} section of C{/info}.
        """
        self.info_registry.setdefault(name, {}).update(info)

    def _register_core_info(self) -> None:
        policies = []
        for policy in self.swift_conf.policies:
            if policy.is_deprecated:
                continue
            entry: dict[str, Any] = {
                "name": policy.name,
                "aliases": ", ".join((policy.name,) + tuple(
                    a for a in policy.aliases if a != policy.name)),
            }
            if policy.is_default:
                entry["default"] = True
            policies.append(entry)
        settings = self.settings
        self.register_info(
            "swift",
            version=SWIFT_API_VERSION,
            strict_cors_mode=settings.strict_cors_mode,
            policies=policies,
            allow_account_management=settings.allow_account_management,
            account_autocreate=settings.account_autocreate,
            allow_open_expired=settings.allow_open_expired,
            **self.constraints.as_info(),
        )
