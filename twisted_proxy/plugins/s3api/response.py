# -*- test-case-name: tests.test_s3api_request -*-
"""
Swift's answers as S3 sees them: which headers pass and under which name
(C{X-Object-Meta-*} become C{x-amz-meta-*}, C{X-Object-Version-Id}
C{x-amz-version-id}, ...), S3's own system metadata set apart, and the
ETag S3 shows (a multipart upload's, kept in sysmeta).
"""

from __future__ import annotations

from typing import Optional

from twisted_proxy.plugins.object_versioning import DELETE_MARKER_CONTENT_TYPE
from twisted_proxy.swift.http import Body, HeaderDict
from twisted_proxy.swift.timestamp import http_date
from twisted_proxy.swift.truthy import is_true

__all__ = [
    "OBJECT_SYSMETA_PREFIX",
    "CONTAINER_SYSMETA_PREFIX",
    "DELETE_MARKER_CONTENT_TYPE",
    "S3Result",
    "object_sysmeta",
    "s3_header_name",
    "translate_headers",
]

OBJECT_SYSMETA_PREFIX = "x-object-sysmeta-s3api-"
CONTAINER_SYSMETA_PREFIX = "x-container-sysmeta-s3api-"

_PASSED = frozenset([
    "accept-ranges", "content-length", "content-type", "content-range", "content-encoding",
    "content-disposition", "content-language", "etag", "last-modified", "x-robots-tag",
    "cache-control", "expires"])

_RENAMED = {
    "x-object-version-id": "x-amz-version-id",
    "x-parts-count": "x-amz-mp-parts-count",
    "x-copied-from-version-id": "x-amz-copy-source-version-id",
}


def object_sysmeta(name: str) -> str:
    """
    The header of s3api's object system metadata C{name}.
    """
    return OBJECT_SYSMETA_PREFIX + name


def s3_header_name(name: str) -> str:
    """
    A header's name as S3 clients expect it: C{ETag}, lower-case
    C{x-amz-*}, others title-cased.
    """
    lowered = name.lower()
    if lowered == "etag":
        return "ETag"
    if lowered.startswith("x-amz-"):
        return lowered
    return "-".join(part.capitalize() for part in lowered.split("-"))


def _meta_name(lowered: str) -> str:
    if not lowered.startswith("x-object-meta-"):
        return lowered
    return "x-amz-meta-" + lowered[14:].replace("=5f", "_")


def _translate(name: str, value: str) -> Optional[tuple[str, str]]:
    lowered = name.lower()
    if lowered.startswith("x-object-meta-"):
        return _meta_name(lowered), value
    if lowered in _PASSED:
        return name, value
    if lowered in _RENAMED:
        return _RENAMED[lowered], value
    if lowered == "x-backend-content-type" and value == DELETE_MARKER_CONTENT_TYPE:
        return "x-amz-delete-marker", "true"
    if lowered == "access-control-expose-headers":
        exposed = value.split(", ") + ["x-amz-request-id", "x-amz-id-2"]
        return name, ", ".join(_meta_name(h.lower()) if h.lower().startswith(
            "x-object-meta-") else h for h in exposed)
    if lowered == "access-control-allow-methods":
        return name, ", ".join(m for m in value.split(", ") if m != "COPY")
    if lowered.startswith("access-control-"):
        return name, value
    if lowered == "x-delete-at":
        try:
            expiry = http_date(int(value))
        except ValueError:
            return None
        return "x-amz-expiration", (
            f'expiry-date="{expiry}", rule-id="swift-object-expiration"')
    return None


def _is_sysmeta(lowered: str) -> bool:
    return lowered.startswith(("x-object-sysmeta-", "x-container-sysmeta-"))


class S3Result:
    """
    A Swift answer translated for S3.

    @ivar status: Swift's status.
    @ivar headers: the S3 headers (a L{HeaderDict}, names as S3 spells
        them).
    @ivar swift_headers: Swift's headers other than s3api's sysmeta.
    @ivar sysmeta: s3api's system metadata (legacy C{swift3} names moved
        under s3api's), lower-case names.
    @ivar body: Swift's body.
    @ivar is_slo: whether it is a static large object.
    """

    def __init__(self, status: int, swift_headers: HeaderDict, body: Body) -> None:
        self.status = status
        self.body = body
        self.sysmeta: dict[str, str] = {}
        self.swift_headers = HeaderDict()
        for name, value in swift_headers.items():
            lowered = name.lower()
            if _is_sysmeta(lowered):
                server = lowered.split("-")[1]
                legacy = f"x-{server}-sysmeta-swift3-"
                ours = f"x-{server}-sysmeta-s3api-"
                if lowered.startswith(legacy):
                    key = ours + lowered[len(legacy):]
                    self.sysmeta.setdefault(key, value)
                    continue
                if lowered.startswith(ours):
                    self.sysmeta[lowered] = value
                    continue
            self.swift_headers[name] = value
        self.headers = translate_headers(self.swift_headers)
        self.is_slo = is_true(self.swift_headers.get("X-Static-Large-Object"))
        override = self.sysmeta.get(object_sysmeta("etag"))
        if override:
            self.headers["ETag"] = override
        elif self.is_slo and "ETag" in self.headers:
            self.headers["ETag"] = self.headers["ETag"].strip('"') + "-N"
        if "ETag" in self.headers:
            etag = self.headers["ETag"]
            if not (etag.startswith('"') and etag.endswith('"') and len(etag) > 1):
                self.headers["ETag"] = f'"{etag}"'

    @property
    def etag(self) -> Optional[str]:
        """
        The ETag without its quotes.
        """
        value = self.headers.get("ETag")
        return value.strip('"') if value is not None else None


def translate_headers(swift_headers: HeaderDict) -> HeaderDict:
    """
    The S3 headers of Swift's C{swift_headers} (sysmeta already set apart).
    """
    headers = HeaderDict()
    for name, value in swift_headers.items():
        pair = _translate(name, value)
        if pair is None:
            continue
        headers[s3_header_name(pair[0])] = pair[1]
    return headers
