# -*- test-case-name: tests.test_info,tests.test_nodeclient,tests.test_upload,tests.test_healthcheck -*-
"""
The interfaces that hold twisted-proxy together.

A request flows through the C{[pipeline:main]} plugins (L{IProxyFilter}) into
the application, whose controllers reach storage nodes through an
L{INodeClient} and remember what they learn in an L{IInfoStore}.
"""

from __future__ import annotations

from zope.interface import Attribute, Interface

__all__ = [
    "IProxyApplication",
    "IProxyFilter",
    "IProxyPluginFactory",
    "IInfoStore",
    "INodeClient",
    "IProxyEnvironment",
    "IPreparedEnvironment",
]


class IProxyApplication(Interface):
    """
    Something that answers a L{twisted_proxy.swift.http.SwiftRequest}: the proxy
    application itself, or the rest of the pipeline as a plugin sees it.
    """

    def __call__(request):
        """
        Answer C{request}.

        @type request: L{twisted_proxy.swift.http.SwiftRequest}
        @return: a L{Deferred} firing with a
            L{twisted_proxy.swift.http.SwiftResponse}. It never fails for a
            client's mistake: those are error responses.
        """


class IProxyFilter(Interface):
    """
    One stage of the pipeline, like a Swift middleware.

    A filter may answer a request itself, change the request before passing
    it on, or change (wrap) the response that comes back.
    """

    def __call__(request, app):
        """
        Handle C{request}, calling C{app(request)} to pass it on.

        @type request: L{twisted_proxy.swift.http.SwiftRequest}
        @param app: the rest of the pipeline, an L{IProxyApplication}.
        @return: a L{Deferred} firing with a
            L{twisted_proxy.swift.http.SwiftResponse}.
        """


class IProxyPluginFactory(Interface):
    """
    A plugin found by L{twisted.plugin.getPlugins}: it makes the
    L{IProxyFilter} that C{[pipeline:main]} names.
    """

    name = Attribute("The name used in [pipeline:main] (str), e.g. 'tempauth'.")

    def makeFilter(conf, context):
        """
        Build the filter.

        @param conf: the C{[filter:NAME]} section merged over C{[DEFAULT]},
            a C{dict} of C{str} to C{str}.
        @param context: the proxy's
            L{twisted_proxy.controllers.context.ProxyContext}: its reactor,
            settings, constraints, info store and cache, and
            C{register_info} for its C{/info} section. A filter that holds
            something open (a file, a connection) opens it in a service
            attached to C{context.services}, an
            L{twisted.application.service.IServiceCollection}: the process
            starts it before serving and stops it (waiting for the
            L{Deferred} its C{stopService} returns) when it stops.
        @return: an L{IProxyFilter} provider.
        @raise twisted_proxy.config.ConfigError: for a bad option.
        """


class IInfoStore(Interface):
    """
    A shared key-value store with expiry for cached account/container info
    and auth tokens. Values are JSON-serialisable.
    """

    def get(key):
        """
        @param key: C{str}
        @return: a L{Deferred} firing with the value, or C{None} when the key
            is missing or expired. A store that cannot be reached fires
            C{None} rather than failing.
        """

    def set(key, value, ttl):
        """
        Store C{value} under C{key} for C{ttl} seconds (C{float}; 0 or less
        means do not store).

        @return: a L{Deferred} firing with C{None} once stored (or given up).
        """

    def delete(key):
        """
        Forget C{key}.

        @return: a L{Deferred} firing with C{None}.
        """


class INodeClient(Interface):
    """
    Makes requests to storage nodes.
    """

    def request(node, method, path, headers, bodyProducer=None, timeout=None):
        """
        Send one request to one storage node.

        @param node: a ring device C{dict} with C{ip}, C{port}, C{device}.
        @param method: C{str}.
        @param path: the backend path, percent-quoted, starting with
            C{/device/partition/}.
        @param headers: a L{twisted_proxy.swift.http.HeaderDict}.
        @param bodyProducer: an L{twisted.web.iweb.IBodyProducer} or C{None}.
        @param timeout: seconds until the response headers must have
            arrived, or C{None} for the client's C{node_timeout}.
        @return: a L{Deferred} firing with an
            L{twisted.web.iweb.IResponse} whose body has not been read; it
            fails with L{twisted_proxy.backend.nodeclient.NodeError} when the node
            cannot be reached or does not answer in time.
        """


class IPreparedEnvironment(Interface):
    """
    What an L{IProxyEnvironment} made for one proxy: services to run beside
    it, and where the proxy finds its rings.
    """

    service = Attribute(
        "An L{twisted.application.service.IService} started before the "
        "proxy listens and stopped after it.")
    swift_dir = Attribute(
        "The directory of the C{swift.conf} and rings the proxy must use "
        "instead of its C{swift_dir} option, or C{None} to keep that option.")

    def whenReady():
        """
        @return: a L{Deferred} that fires with C{None} once the environment
            answers (the proxy starts listening then), or fails if it cannot
            start.
        """


class IProxyEnvironment(Interface):
    """
    A plugin (found by L{twisted.plugin.getPlugins}) that runs something the
    proxy depends on beside it, such as the all-in-one development cluster.
    It takes part only when C{proxy-server.conf} has its section.
    """

    section = Attribute("The name of the configuration section that turns it on.")

    def prepare(config, reactor):
        """
        Make this environment for a proxy configured by C{config}. It may
        add options to C{config} (a private Redis sets C{[filter:cache]
        redis_url}).

        @type config: L{twisted_proxy.config.ProxyConfig}
        @return: an L{IPreparedEnvironment}.
        @raise twisted_proxy.config.ConfigError: when the section cannot be
            used; the message names the file and the section.
        """
