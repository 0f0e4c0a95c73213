# -*- test-case-name: tests.test_info,tests.test_nodeclient,tests.test_upload,tests.test_healthcheck,tests.test_metrics -*-
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
    "IMetrics",
    "IZeroCopyConsumer",
    "IS3Signature",
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

    def make_filter(conf, context):
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

    def incr(key, delta, ttl, reset_below=None, reset_to=0):
        """
        Atomically add C{delta} (an C{int}, possibly negative) to the
        integer under C{key}, as Swift's rate limiter uses memcache's
        C{incr}: a missing key, or one that holds no integer, counts as 0.
        When C{reset_below} is an C{int} and the sum is below it, the key
        is set to C{reset_to} instead, in the same atomic step (so that
        processes that find the counter stale at once cannot both move
        it). The key then expires C{ttl} seconds (C{float}, more than 0)
        from now.

        @return: a L{Deferred} firing with the integer now stored, or with
            C{None} when the store could not be reached: the caller
            decides what no answer means.
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

    def when_ready():
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
        redis_url}); C{config.listen_address} says where the proxy will
        listen, when that is a TCP address.

        @type config: L{twisted_proxy.config.ProxyConfig}
        @return: an L{IPreparedEnvironment}.
        @raise twisted_proxy.config.ConfigError: when the section cannot be
            used; the message names the file and the section.
        """


class IMetrics(Interface):
    """
    Where the proxy reports what it does, for statsd and Prometheus. Every
    layer is handed one (the process's, through C{ProxyContext.metrics})
    and calls it as things happen; a recorder must answer at once, never
    block and never raise. C{twisted_proxy.swift.metrics.NULL_METRICS}
    records nothing.

    C{kind} is a request's Swift metric type (C{account}, C{container},
    C{object}, or the C{swift.source} / C{UNKNOWN} of another path);
    C{server_type} the controller's (C{account}, C{container},
    C{object}); C{node} a node's C{ip:port/device}.
    """

    def request_finished(kind, method, status, policy, seconds, bytes_in, bytes_out):
        """
        A client request is over (as the access log records it).

        @param method: C{str}, as the client sent it.
        @param status: the logged status, C{int}.
        @param policy: the storage policy index (C{str}) or C{None}.
        @param seconds: from the request's start to its end, C{float}.
        @param bytes_in: request body bytes read; C{bytes_out}: response
            body bytes sent.
        """

    def first_byte(kind, method, status, policy, seconds):
        """
        A GET's response headers went out C{seconds} after it started.
        """

    def backend_request(node, method, status):
        """
        A request to a storage node answered with C{status} (C{int}), or
        failed (C{status} is C{None}: unreachable, no answer in time).
        """

    def node_error_limited(node, forced):
        """
        An error counted against C{node} left it error limited
        (C{forced}: limited at once, as for a 507).
        """

    def node_skipped(node):
        """
        C{node} was skipped because it is error limited.
        """

    def handoff(server_type, all_handoffs):
        """
        A request took a handoff its node count did not plan for
        (C{log_handoffs}); C{all_handoffs} when every primary was skipped.
        """

    def resumed(server_type):
        """
        A response body moved to another node in the middle of its stream.
        """

    def client_timeout(server_type):
        """
        A client stopped reading (or sending) for C{client_timeout}.
        """

    def client_disconnect(server_type):
        """
        A client went away in the middle of a request body.
        """

    def info_lookup(outcome):
        """
        An account/container info lookup: C{"hit"} (the request's own or
        the store's copy), C{"miss"} (read from the storage nodes) or
        C{"merged"} (joined a read already in flight for the same key).
        """

    def info_cache(server_type, state, status):
        """
        The same lookup in Swift's terms, for its metric names:
        C{server_type} C{"account"} or C{"container"}; C{state}
        C{"infocache_hit"} (the request's own copy), C{"hit"} (the shared
        store's), or why the storage nodes were asked: C{"miss"}, or
        C{"skip"} (C{account_existence_skip_cache_pct},
        C{container_existence_skip_cache_pct}); C{status} the status of
        their answer then, C{None} for a hit or when none came.
        """

    def redis_available(up):
        """
        The Redis info store's circuit breaker closed (C{up} true) or
        opened (an outage began).
        """

    def client_connections(delta):
        """
        Client connections opened (C{delta} 1) or closed (-1).
        """


class IZeroCopyConsumer(Interface):
    """
    A consumer of a body that can also take bytes straight from a socket,
    without their passing through Python (see
    L{twisted_proxy.backend.zerocopy}). A body producer that finds its
    consumer provides this may offer it the rest of a body as a socket;
    consumers that pass bytes on (counting them, say) provide it by asking
    theirs.
    """

    def relay_from(source, count, read_timeout):
        """
        Move the next C{count} bytes of the body from the connected socket
        C{source} (a descriptor) to where this consumer writes, after
        everything written to it before. While the relay runs, the caller
        reads nothing from C{source} and writes nothing to this consumer.

        @param read_timeout: seconds C{source} may send nothing.
        @return: C{None} when this consumer cannot take bytes this way
            (nothing was done: write them instead), or a
            L{twisted_proxy.backend.zerocopy.RelayHandle}.
        """


class IS3Signature(Interface):
    """
    The signature of an S3 request, as the C{s3api} plugin leaves it in
    C{environ['s3api.auth_details']} for the auth plugin behind it (Swift's
    C{s3api.auth_details}): only the plugin that knows the access key's
    secret can check it. tempauth does, for its users (the access key is
    C{account:user}, the secret the user's key); a Keystone C{s3token}
    plugin would send C{string_to_sign} and C{signature} to Keystone.
    """

    access_key = Attribute("The access key id the client named (C{str}).")
    signature = Attribute("The signature the client sent (C{str}).")
    string_to_sign = Attribute("What the signature signs (C{bytes}).")

    def check_signature(secret):
        """
        Whether the client signed the request with C{secret} (C{str}). A
        V4 signature keeps the key derived from it, to check the chunk
        signatures of a streamed body.

        @return: C{bool}.
        """
