"""
Talking to storage nodes: the node client (pooled HTTP connections,
timeouts), node iteration and error limiting, reading response bodies,
finding the source of a read and resuming it on another node, and fanning
an upload out to nodes.

Built on L{twisted_proxy.swift}; knows nothing of controllers, plugins or
the front end.
"""

__all__: list[str] = []
