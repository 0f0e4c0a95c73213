# -*- test-case-name: tests.test_small_plugins -*-
"""
The C{crossdomain} plugin: C{GET /crossdomain.xml} answers the cross-domain
policy document Flash, Java and Silverlight clients ask for, as Swift
2.38.3's C{crossdomain} middleware. Place it before the auth stage.

Option: C{cross_domain_policy}, the policy's elements (default
C{<allow-access-from domain="*" secure="false" />}; continuation lines
indented, ended by a blank line). The plugin adds C{crossdomain} to
C{/info}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted_proxy.plugins._support.lazy import LazyPluginFactory, implementation_attribute

if TYPE_CHECKING:
    from twisted_proxy.plugins._lazy.crossdomain import DEFAULT_POLICY, CrossDomain

__all__ = ["CrossDomain", "crossdomainPlugin", "DEFAULT_POLICY"]

_CODE = "twisted_proxy.plugins._lazy.crossdomain"

crossdomainPlugin: LazyPluginFactory[CrossDomain] = LazyPluginFactory(
    "crossdomain", _CODE, "crossdomainPlugin")


def __getattr__(name: str) -> Any:
    return implementation_attribute(__name__, _CODE, name)
