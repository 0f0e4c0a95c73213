"""
Talking to storage nodes: the node client (pooled HTTP connections,
timeouts), node iteration and error limiting, reading response bodies,
resuming a GET on another node, and fanning an upload out to nodes.

Built on L{twisted_proxy.swift}; knows nothing of controllers, plugins or
the front end.
"""

__all__: list[str] = []
