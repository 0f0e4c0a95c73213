# -*- test-case-name: tests.test_digest,tests.test_tempurl,tests.test_formpost -*-
"""
The signatures of Swift's temporary URLs and form posts (Swift's
C{swift.common.digest}): which HMAC digests are allowed, how a client's
signature is read, and how the expected one is made.
"""

from __future__ import annotations

import binascii
import hmac
import string
from base64 import b64decode
from typing import Iterable

__all__ = [
    "SUPPORTED_DIGESTS",
    "DEPRECATED_DIGESTS",
    "allowed_digests",
    "parse_signature",
    "hmac_hex",
]

SUPPORTED_DIGESTS = frozenset({"sha1", "sha256", "sha512"})
DEPRECATED_DIGESTS = frozenset({"sha1"})

_HEX_DIGEST_LENGTHS = {40: "sha1", 64: "sha256", 128: "sha512"}
_B64_CHARACTERS = frozenset(string.ascii_letters + string.digits + "+/")


def allowed_digests(words: Iterable[str]) -> tuple[list[str], list[str]]:
    """
    The allowed and the deprecated digests of an C{allowed_digests} option's
    words (all supported ones when there are none), each sorted; names are
    case-insensitive and unsupported ones are dropped.

    @raise ValueError: when no supported digest is left.
    """
    wanted = {word.lower() for word in words}
    allowed = (wanted or set(SUPPORTED_DIGESTS)) & SUPPORTED_DIGESTS
    if not allowed:
        raise ValueError("no valid digest algorithms are configured")
    return sorted(allowed), sorted(allowed & DEPRECATED_DIGESTS)


def parse_signature(value: str) -> tuple[str, str]:
    """
    C{(digest name, hex signature)} of a client's signature: bare hex, whose
    length names the digest, or C{<digest>:<base64>} (URL-safe base64
    accepted, padding optional).

    @raise ValueError: for anything else.
    """
    if ":" in value:
        digest, encoded = value.split(":", 1)
        if ("-" in encoded or "_" in encoded) and not (
                "+" in encoded or "/" in encoded):
            encoded = encoded.replace("-", "+").replace("_", "/")
        if any(c not in _B64_CHARACTERS for c in encoded.strip("=")):
            raise ValueError(value)
        try:
            raw = b64decode(encoded + "==")
        except binascii.Error as e:
            raise ValueError(value) from e
        return digest, raw.hex()
    binascii.unhexlify(value)
    named = _HEX_DIGEST_LENGTHS.get(len(value))
    if named is None:
        raise ValueError(value)
    return named, value


def hmac_hex(key: str, message: bytes, digest: str) -> str:
    """
    The hex HMAC of C{message} under C{key} with C{digest}.

    @param key: a key as account or container metadata holds it, a WSGI
        string: its latin-1 encoding gives back the bytes the owner set
        (UTF-8 for a non-ASCII key), which Swift signs with.
    """
    return hmac.new(key.encode("latin-1"), message, digest).hexdigest()
