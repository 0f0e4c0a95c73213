# -*- test-case-name: tests.test_small_plugins -*-
"""
The C{etag_quoter} plugin: object responses carry RFC 7232 quoted etags
(C{"d41d8cd98f00b204e9800998ecf8427e"}) where an account or container asks
for them, as Swift 2.38.3's C{etag_quoter} middleware. Place it early,
right after C{cache}.

An account or container owner sets C{X-Account-Rfc-Compliant-Etags} or
C{X-Container-Rfc-Compliant-Etags} (true or false; empty, or
C{X-Remove-...}, to unset): it is kept as system metadata and shown back
under the same name. A container's setting beats its account's, which
beats the C{enable_by_default} option (false). Etags already quoted (or
weak, C{W/"..."}) are left as they are.

The plugin adds C{etag_quoter} (C{enable_by_default}) to C{/info}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted_proxy.plugins._support.lazy import LazyPluginFactory, implementation_attribute

if TYPE_CHECKING:
    from twisted_proxy.plugins._lazy.etag_quoter import EtagQuoter

__all__ = ["EtagQuoter", "etagQuoterPlugin"]

_CODE = "twisted_proxy.plugins._lazy.etag_quoter"

etagQuoterPlugin: LazyPluginFactory[EtagQuoter] = LazyPluginFactory(
    "etag_quoter", _CODE, "etagQuoterPlugin")


def __getattr__(name: str) -> Any:
    return implementation_attribute(__name__, _CODE, name)
