# -*- test-case-name: tests.test_small_plugins -*-
"""
The C{list_endpoints} plugin: where an account, container or object lives
in the rings, for services inside the cluster that want data locality, as
Swift 2.38.3's C{list_endpoints} middleware.

C{GET /endpoints/[v1/|v2/]ACCOUNT[/CONTAINER[/OBJECT]]} answers the
storage nodes' URLs (C{http://IP:PORT/DEVICE/PARTITION/ACCOUNT/...}) as a
JSON list (v1, the default), or (v2) as C{{"endpoints": [...], "headers":
{...}}} where an object's headers name its container's storage policy
(C{X-Backend-Storage-Policy-Index}). Another method is answered C{405}; a
path without an account, or an unknown version (C{v3}), C{400}. The answer
is not authenticated: enable it only where clients are trusted.

Option: C{list_endpoints_path} (C{/endpoints/}). It adds nothing to
C{/info}, as in Swift.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted_proxy.plugins._support.lazy import LazyPluginFactory, implementation_attribute

if TYPE_CHECKING:
    from twisted_proxy.plugins._lazy.list_endpoints import ListEndpoints

__all__ = ["ListEndpoints", "listEndpointsPlugin"]

_CODE = "twisted_proxy.plugins._lazy.list_endpoints"

listEndpointsPlugin: LazyPluginFactory[ListEndpoints] = LazyPluginFactory(
    "list_endpoints", _CODE, "listEndpointsPlugin")


def __getattr__(name: str) -> Any:
    return implementation_attribute(__name__, _CODE, name)
