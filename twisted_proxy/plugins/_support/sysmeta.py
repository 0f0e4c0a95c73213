# -*- test-case-name: tests.test_slo,tests.test_symlink -*-
"""
Object system metadata, which plugins that read it (C{swift.sysmeta_ok})
must take out of what their client sees.
"""

from __future__ import annotations

import re
from typing import MutableMapping

__all__ = ["strip_object_sysmeta"]

# What twisted_proxy.swift.constraints.is_sys_meta("object", name) says,
# in one match: the prefix in any case, and at least one character more.
_OBJECT_SYSMETA = re.compile(r"x-object-sysmeta-.", re.IGNORECASE | re.ASCII | re.DOTALL).match


def strip_object_sysmeta(headers: MutableMapping[str, str]) -> None:
    """
    Remove every non-empty C{X-Object-Sysmeta-*} header from C{headers}.
    """
    for name in [name for name in headers if _OBJECT_SYSMETA(name)]:
        del headers[name]
