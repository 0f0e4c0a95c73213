# -*- test-case-name: tests.test_small_plugins -*-
"""
The C{name_check} plugin: refuses, with C{400}, a request whose path holds
a forbidden character, is too long, or matches a forbidden pattern, as
Swift 2.38.3's C{name_check} middleware.

Options (Swift's): C{forbidden_chars} (default C{'"`<>}), C{maximum_length}
(255) and C{forbidden_regexp} (default: C{/./} and C{/../} segments, or a
path ending in C{/.} or C{/..}; empty for none). The path checked is the
decoded one (Swift's C{PATH_INFO}). The plugin adds C{name_check}, with
the three options, to C{/info}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted_proxy.plugins._support.lazy import LazyPluginFactory, implementation_attribute

if TYPE_CHECKING:
    from twisted_proxy.plugins._lazy.name_check import (
        FORBIDDEN_CHARS,
        FORBIDDEN_REGEXP,
        MAX_LENGTH,
        NameCheck,
    )

__all__ = ["NameCheck", "nameCheckPlugin", "FORBIDDEN_CHARS", "MAX_LENGTH", "FORBIDDEN_REGEXP"]

_CODE = "twisted_proxy.plugins._lazy.name_check"

nameCheckPlugin: LazyPluginFactory[NameCheck] = LazyPluginFactory(
    "name_check", _CODE, "nameCheckPlugin")


def __getattr__(name: str) -> Any:
    return implementation_attribute(__name__, _CODE, name)
