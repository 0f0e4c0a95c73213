# -*- test-case-name: tests.test_etags -*-
"""
Entity tags as Swift stores and compares them: without quotes.
"""

from typing import Optional, overload

__all__ = ["normalize_etag"]


@overload
def normalize_etag(tag: str) -> str: ...


@overload
def normalize_etag(tag: None) -> None: ...


def normalize_etag(tag: Optional[str]) -> Optional[str]:
    """
    C{tag} without the double quotes around it, if it has both; C{None}
    stays C{None}.
    """
    if tag and len(tag) >= 2 and tag[0] == tag[-1] == '"':
        return tag[1:-1]
    return tag
