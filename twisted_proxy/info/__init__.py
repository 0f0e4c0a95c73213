"""
Account and container info: the per-request and shared cache
(L{twisted_proxy.info.cache.InfoCache}) and its stores (this process's
memory, or Redis).
"""

__all__: list[str] = []
