# -*- test-case-name: tests.test_small_plugins -*-
"""
The C{read_only} plugin: a whole cluster, or single accounts, refuse
writes, as Swift 2.38.3's C{read_only} middleware.

A C{COPY}, C{POST}, C{PUT} or (unless C{allow_deletes}) C{DELETE} of an
account, container or object is refused with C{405 Writes are disabled for
this account.} when the account is read only: its
C{X-Account-Sysmeta-Read-Only} says so (true or false, set directly on the
account servers: clients cannot set sysmeta), or, when it says nothing,
the C{read_only} option does. A C{COPY} is judged by its
C{Destination-Account} when it has one.

Options: C{read_only} (false), C{allow_deletes} (false). With
C{read_only = true}, C{read_only} is added to C{/info}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted_proxy.plugins._support.lazy import LazyPluginFactory, implementation_attribute

if TYPE_CHECKING:
    from twisted_proxy.plugins._lazy.read_only import ReadOnly

__all__ = ["ReadOnly", "readOnlyPlugin"]

_CODE = "twisted_proxy.plugins._lazy.read_only"

readOnlyPlugin: LazyPluginFactory[ReadOnly] = LazyPluginFactory(
    "read_only", _CODE, "readOnlyPlugin")


def __getattr__(name: str) -> Any:
    return implementation_attribute(__name__, _CODE, name)
