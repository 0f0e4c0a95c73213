# -*- test-case-name: tests.test_transid -*-
"""
Transaction ids: one per client request, minted where the request enters
the proxy and carried to every backend request and log line it causes.
"""

import uuid

__all__ = ["make_trans_id"]


def make_trans_id(now: float) -> str:
    """
    A transaction id in Swift's form: C{tx} + 21 hex digits + C{-} + the time
    in hex.
    """
    return f"tx{uuid.uuid4().hex[:21]}-{int(now):010x}"
