# -*- test-case-name: tests.e2e.test_packaging,tests.e2e.test_e2e -*-
"""
The all-in-one cluster as a twisted-proxy environment plugin: a
configuration with an C{[aio]} section gets Swift's storage servers (and a
private redis-server) started beside the proxy.
"""

from typing import Any

from twisted.plugin import IPlugin
from zope.interface import implementer

from twisted_proxy.interfaces import IPreparedEnvironment, IProxyEnvironment


@implementer(IPlugin, IProxyEnvironment)
class _AllInOnePlugin:
    section = "aio"

    def prepare(self, config: Any, reactor: Any) -> IPreparedEnvironment:
        # Imported here: twistd loads every dropin to list its commands.
        from twisted_proxy_aio.environment import prepare

        return prepare(config, reactor)


allInOne = _AllInOnePlugin()
