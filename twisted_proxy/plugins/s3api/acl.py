# -*- test-case-name: tests.test_s3api_request -*-
"""
S3 ACLs without C{s3_acl}, as Swift's s3api translates them: canned ACLs
(C{x-amz-acl}) and ACL documents become the bucket's Swift container ACLs
(C{public-read} is C{X-Container-Read: .r:*,.rlistings}); a bucket's ACL
is shown as its owner's full control, plus public read or write where
the container ACLs allow anyone.
"""

from __future__ import annotations

from twisted_proxy.plugins.s3api.errors import S3Error
from twisted_proxy.plugins.s3api.xmlbody import (
    XMLNS_XSI,
    XMLElement,
    XMLError,
    element,
    parse_xml,
    sub,
    to_xml,
)
from twisted_proxy.swift.acl import parse_acl, referrer_allowed

__all__ = ["translate_canned_acl", "translate_acl_document", "get_acl"]

MAX_ACL_BODY_SIZE = 200 * 1024

_PRIVATE = [("X-Container-Write", "."), ("X-Container-Read", ".")]
_CANNED = {
    "public-read": [("X-Container-Read", ".r:*,.rlistings")],
    "public-read-write": [("X-Container-Write", ".r:*"),
                          ("X-Container-Read", ".r:*,.rlistings")],
    "private": _PRIVATE,
    "bucket-owner-full-control": _PRIVATE,
    "bucket-owner-read": _PRIVATE,
}


class _ACLError(Exception):
    pass


def _translate(acl: str) -> list[tuple[str, str]]:
    if acl in ("authenticated-read", "log-delivery-write"):
        raise S3Error("NotImplemented")
    if acl not in _CANNED:
        raise _ACLError(acl)
    return list(_CANNED[acl])


def translate_canned_acl(acl: str) -> list[tuple[str, str]]:
    """
    The Swift container ACL headers of the canned ACL C{acl}.

    @raise S3Error: C{InvalidArgument} for an unknown one, C{NotImplemented}
        for one Swift cannot express.
    """
    try:
        return _translate(acl)
    except _ACLError:
        raise S3Error("InvalidArgument", argument_name="x-amz-acl",
                      argument_value=acl) from None


def translate_acl_document(body: bytes) -> list[tuple[str, str]]:
    """
    The Swift container ACL headers of an C{AccessControlPolicy} document.

    @raise S3Error: C{MalformedACLError} for a document Swift cannot express.
    """
    try:
        root = parse_xml(body, "AccessControlPolicy")
    except XMLError:
        raise S3Error("MalformedACLError") from None
    acl = "unknown"
    xsi_type = "{%s}type" % XMLNS_XSI
    for grants in root.findall("./AccessControlList"):
        for grant in grants.findall("./Grant"):
            permission_node = grant.find("./Permission")
            grantee_node = grant.find("./Grantee")
            permission = permission_node.text if permission_node is not None else None
            grantee = grantee_node.get(xsi_type) if grantee_node is not None else None
            if permission == "FULL_CONTROL" and grantee == "CanonicalUser" and \
                    acl not in ("public-read", "public-read-write"):
                acl = "private"
            elif permission == "READ" and grantee == "Group" and acl != "public-read-write":
                acl = "public-read"
            elif permission == "WRITE" and grantee == "Group":
                acl = "public-read-write"
            else:
                acl = "unsupported"
    try:
        return _translate(acl)
    except _ACLError:
        raise S3Error("MalformedACLError") from None


def _grant(parent: XMLElement, kind: str, permission: str) -> XMLElement:
    grant = sub(parent, "Grant")
    grantee = sub(grant, "Grantee")
    grantee.set("xmlns:xsi", XMLNS_XSI)
    grantee.set("xsi:type", kind)
    return grant


def get_acl(owner: str, read_acl: str | None, write_acl: str | None) -> bytes:
    """
    The C{AccessControlPolicy} Swift's s3api shows for a bucket or object.
    """
    root = element("AccessControlPolicy")
    owner_node = sub(root, "Owner")
    sub(owner_node, "ID", owner)
    sub(owner_node, "DisplayName", owner)
    grants = sub(root, "AccessControlList")
    grant = _grant(grants, "CanonicalUser", "FULL_CONTROL")
    grantee = grant.find("Grantee")
    assert grantee is not None
    sub(grantee, "ID", owner)
    sub(grantee, "DisplayName", owner)
    sub(grant, "Permission", "FULL_CONTROL")
    for acl, permission in ((read_acl, "READ"), (write_acl, "WRITE")):
        referrers, _ = parse_acl(acl)
        if referrer_allowed("unknown", referrers):
            grant = _grant(grants, "Group", permission)
            grantee = grant.find("Grantee")
            assert grantee is not None
            sub(grantee, "URI", "http://acs.amazonaws.com/groups/global/AllUsers")
            sub(grant, "Permission", permission)
    return to_xml(root)
