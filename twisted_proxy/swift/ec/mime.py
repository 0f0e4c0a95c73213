# -*- test-case-name: tests.test_ec_putter -*-
"""
The body of a fragment archive PUT: a MIME document, sent with chunked
transfer coding, whose parts an object server reads in three phases:

  1. C{X-Document: object body}: the fragment archive;
  2. C{X-Document: object metadata}: the footers as JSON, with their MD5;
     the object server then answers a second C{100 Continue} once the
     archive is on disk;
  3. C{X-Document: put commit}: sent once a quorum of nodes answered that
     C{100 Continue}, it makes the archive durable.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Mapping, Optional

__all__ = [
    "make_boundary",
    "body_start",
    "footer_part",
    "commit_part",
    "chunk",
    "LAST_CHUNK",
    "put_headers",
]

#: The end of a chunked body.
LAST_CHUNK = b"0\r\n\r\n"


def make_boundary(rng: Optional[random.Random] = None) -> bytes:
    """
    A MIME boundary: 64 hex digits, as Swift makes them.
    """
    value = (rng or random).randint(0, 16 ** 64)
    return b"%.64x" % value


def body_start(boundary: bytes) -> bytes:
    """
    What precedes the archive's bytes.
    """
    return b"--" + boundary + b"\r\nX-Document: object body\r\n\r\n"


def footer_part(boundary: bytes, footers: Mapping[str, str], multiphase: bool = True
                ) -> bytes:
    """
    What follows the archive's bytes: the metadata document, then the
    boundary that opens the commit document (or closes the body when there
    is no commit phase).
    """
    body = json.dumps(dict(footers)).encode("ascii")
    digest = hashlib.md5(body, usedforsecurity=False).hexdigest().encode("ascii")
    tail = b"--" + boundary + (b"" if multiphase else b"--")
    return b"".join([
        b"\r\n--", boundary, b"\r\n",
        b"X-Document: object metadata\r\n",
        b"Content-MD5: ", digest, b"\r\n",
        b"\r\n",
        body, b"\r\n",
        tail, b"\r\n",
    ])


def commit_part(boundary: bytes) -> bytes:
    """
    The commit document, which ends the body.
    """
    return (b"X-Document: put commit\r\n\r\nput_commit_confirmation\r\n--"
            + boundary + b"--")


def chunk(data: bytes) -> list[bytes]:
    """
    C{data} as one chunk of a chunked body (to be written in sequence);
    nothing for no data, which would end the body.
    """
    if not data:
        return []
    return [b"%x\r\n" % len(data), data, b"\r\n"]


def put_headers(headers: Mapping[str, str], boundary: bytes,
                archive_length: Optional[int]) -> dict[str, str]:
    """
    The headers of a fragment archive PUT, from those of the object write:
    the body's length and etag are the archive's business now, and the
    object server is asked for footers and a multiphase commit.

    @param archive_length: the archive's length when the object's is
        known and not 0, else C{None} (no C{X-Backend-Obj-Content-Length}).
    """
    out = {name: value for name, value in headers.items()
           if name.lower() not in ("content-length", "etag", "transfer-encoding",
                                   "expect")}
    if archive_length is not None:
        out["X-Backend-Obj-Content-Length"] = str(archive_length)
    out["Transfer-Encoding"] = "chunked"
    out["Expect"] = "100-continue"
    out["X-Backend-Obj-Multipart-Mime-Boundary"] = boundary.decode("ascii")
    out["X-Backend-Obj-Metadata-Footer"] = "yes"
    out["X-Backend-Obj-Multiphase-Commit"] = "yes"
    return out
