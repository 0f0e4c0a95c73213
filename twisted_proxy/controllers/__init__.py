"""
The controllers: one per kind of Swift resource (account, container,
object) plus C{/info}. Each handles one client request through the storage
nodes and answers with a L{twisted_proxy.swift.http.SwiftResponse}.
"""

__all__: list[str] = []
