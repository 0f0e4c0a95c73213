"""
Swift's semantics, with no I/O: the HTTP exchange model, constraints,
timestamps, ranges, multipart bodies, listings, ACLs, CORS rules, choosing
the best response, rings and swift.conf.

Nothing here imports from another layer of twisted-proxy but
L{twisted_proxy.interfaces}; L{twisted_proxy.config} builds on this layer.
"""

__all__: list[str] = []
