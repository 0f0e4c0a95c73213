"""
The plugins that ship with twisted-proxy (tempauth, healthcheck, ...).

Each module here holds an L{twisted_proxy.interfaces.IProxyPluginFactory}
provider found by L{twisted.plugin.getPlugins}; C{[pipeline:main]} in the
configuration picks which of them run, and in what order.
"""

__all__: list[str] = []
