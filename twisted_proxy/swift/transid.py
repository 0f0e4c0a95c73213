# -*- test-case-name: tests.test_transid -*-
"""
Transaction ids: one per client request, minted where the request enters
the proxy and carried to every backend request and log line it causes.

L{ensure_trans_id} is the one place a request gets its id: the pipeline
calls it as a request enters (as Swift's C{catch_errors} does), the
application for a request that reaches it without one. Sub-requests made
by plugins copy their client request's environ, id included, as Swift's
C{make_env} does.
"""

from __future__ import annotations

import os
from typing import Any, MutableMapping, Optional
from urllib.parse import quote

__all__ = ["TRANS_ID_ENVIRON_KEY", "ensure_trans_id", "make_trans_id", "trans_id_suffix"]

#: Where a request's environ holds its transaction id.
TRANS_ID_ENVIRON_KEY = "swift.trans_id"


#: The most characters of a client's C{X-Trans-Id-Extra} an id takes.
_EXTRA_MAX = 32


def make_trans_id(now: float, suffix: str = "") -> str:
    """
    A new transaction id in Swift's form: C{tx} + 21 hex digits + C{-} +
    C{now} (seconds since the epoch) in ten hex digits, then C{suffix}
    percent-quoted (C{/} kept), as Swift's C{generate_trans_id}.
    """
    return f"tx{_uuid4_hex()[:21]}-{int(now):010x}{quote(suffix) if suffix else ''}"


def _uuid4_hex() -> str:
    """
    C{uuid.uuid4().hex}: 128 random bits with the version (4) and variant
    (RFC 4122) bits set, without building a L{uuid.UUID}.
    """
    bits = int.from_bytes(os.urandom(16), "big")
    bits = (bits & ~(0xF000 << 64) & ~(0xC000 << 48)) | (0x4000 << 64) | (0x8000 << 48)
    return "%032x" % bits


def trans_id_suffix(configured: str, extra: Optional[str]) -> str:
    """
    The suffix of a request's transaction id: the operator's
    C{trans_id_suffix}, then, when the client sent C{X-Trans-Id-Extra}
    (C{extra}), C{-} and its first 32 characters.
    """
    if extra:
        return f"{configured}-{extra[:_EXTRA_MAX]}"
    return configured


def ensure_trans_id(environ: MutableMapping[str, Any], now: float, suffix: str = "") -> str:
    """
    The transaction id of the request whose environ is C{environ}: the one
    it has, or a new one made at C{now} with C{suffix} (see
    L{make_trans_id}) and kept there.
    """
    if TRANS_ID_ENVIRON_KEY not in environ:
        environ[TRANS_ID_ENVIRON_KEY] = make_trans_id(now, suffix)
    return environ[TRANS_ID_ENVIRON_KEY]  # type: ignore[no-any-return]
