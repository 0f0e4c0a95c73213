"""
The all-in-one development cluster: Swift's own account, container and
object servers, rings and a private redis-server, started and stopped with
the proxy by an C{[aio]} section of C{proxy-server.conf}.

Development tooling, not part of the proxy: nothing in L{twisted_proxy}
imports it.
"""

__all__: list[str] = []
