# -*- test-case-name: tests.test_tap,tests.e2e.test_e2e -*-
"""
Building one proxy process's site from its configuration: the one startup
path of the twistd plugin and of every worker process.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from twisted_proxy.backend.nodeclient import NodeClient
from twisted_proxy.config import ConfigError, ProxyConfig, ProxySettings
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.redisstore import make_info_store
from twisted_proxy.swift.ring import RingError, RingSet
from twisted_proxy.swift.swiftconf import SwiftConfError, load_swift_conf
from twisted_proxy.web.app import Pipeline, ProxyApplication
from twisted_proxy.web.pipeline import build_filters
from twisted_proxy.web.server import ProxyResource, ProxySite

__all__ = ["build_proxy"]


def build_proxy(
    config: ProxyConfig,
    settings: ProxySettings,
    reactor: Any,
    swift_dir: Optional[str] = None,
) -> tuple[ProxySite, ProxyContext, RingSet]:
    """
    The proxy's L{ProxySite} and the L{ProxyContext} behind it.

    @raise ConfigError: for a bad swift.conf, a missing ring, a bad Redis
        option in C{[filter:cache]}, or a plugin's bad option.
    """
    swift_dir = swift_dir or settings.swift_dir
    conf_path = os.path.join(swift_dir, "swift.conf")
    try:
        swift_conf = load_swift_conf(conf_path)
        rings = RingSet(swift_dir, swift_conf, reactor)
    except (SwiftConfError, RingError, OSError) as error:
        raise ConfigError(str(error))
    node_client = NodeClient(reactor, settings.node_timeout, settings.conn_timeout)
    store = make_info_store(config, reactor)
    context = ProxyContext(reactor, settings, swift_conf, rings, node_client, store)
    filters = build_filters(config, context)
    app = Pipeline(filters, ProxyApplication(context))
    site = ProxySite(ProxyResource(app, reactor, settings.client_timeout))
    site.timeOut = settings.client_timeout
    return site, context, rings
