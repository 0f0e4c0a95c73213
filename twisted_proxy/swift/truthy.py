# -*- test-case-name: tests.test_truthy -*-
"""
Swift's yes and no: which header and option values mean true.
"""

from typing import Optional

__all__ = ["TRUE_VALUES", "FALSE_VALUES", "is_true", "is_false"]

#: What Swift takes for "yes", in any case.
TRUE_VALUES = frozenset({"true", "1", "yes", "on", "t", "y"})

#: What Swift takes for "no", in any case.
FALSE_VALUES = frozenset({"false", "0", "no", "off", "f", "n"})


def is_true(value: object) -> bool:
    """
    Whether C{value} means yes to Swift: C{True}, or a string in
    L{TRUE_VALUES} (any case, surrounding white space ignored). C{None} and
    anything else mean no.
    """
    if value is True:
        return True
    return isinstance(value, str) and value.strip().lower() in TRUE_VALUES


def is_false(value: Optional[str]) -> bool:
    """
    Whether C{value} says no explicitly: a string in L{FALSE_VALUES}.
    """
    return value is not None and value.strip().lower() in FALSE_VALUES
