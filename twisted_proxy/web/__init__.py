"""
The HTTP front end: the channel and request that stream bodies, the
resource that turns a twisted.web request into a
L{twisted_proxy.swift.http.SwiftRequest}, the plugin pipeline and the
application that routes requests to controllers.
"""

__all__: list[str] = []
