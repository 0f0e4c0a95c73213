# -*- test-case-name: tests.test_truthy -*-
"""
Swift's yes and no: which header, query and option values mean true.

Swift's C{config_true_value} does not strip its argument, and neither do
these: option values are stripped by L{configparser} and header values by
the HTTP parser before they get here, while a query parameter such as
C{heartbeat=%20on} keeps its space and is not true, as in Swift.
"""

__all__ = ["TRUE_VALUES", "FALSE_VALUES", "is_true", "is_false"]

#: What Swift takes for "yes", in any case.
TRUE_VALUES = frozenset({"true", "1", "yes", "on", "t", "y"})

#: What Swift takes for "no", in any case.
FALSE_VALUES = frozenset({"false", "0", "no", "off", "f", "n"})


def is_true(value: object) -> bool:
    """
    Whether C{value} means yes to Swift (its C{config_true_value}): C{True},
    or a string in L{TRUE_VALUES} in any case. C{None}, other strings
    (surrounding white space included) and anything else mean no.
    """
    return value is True or (isinstance(value, str) and value.lower() in TRUE_VALUES)


def is_false(value: object) -> bool:
    """
    Whether C{value} says no explicitly: C{False}, or a string in
    L{FALSE_VALUES} in any case (surrounding white space not ignored).
    A value that is neither L{is_true} nor L{is_false} is not a boolean.
    """
    return value is False or (isinstance(value, str) and value.lower() in FALSE_VALUES)
