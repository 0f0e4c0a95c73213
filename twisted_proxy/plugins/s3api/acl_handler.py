# -*- test-case-name: tests.test_s3api_request -*-
"""
GET and PUT of C{?acl} on buckets and objects (see
L{twisted_proxy.plugins.s3api.acl} for how ACLs map onto Swift's).
"""

from __future__ import annotations

from twisted_proxy.plugins._support.subrequest import drop_body
from twisted_proxy.plugins.s3api.acl import get_acl, translate_acl_document
from twisted_proxy.plugins.s3api.errors import S3Error
from twisted_proxy.plugins.s3api.request import S3Request
from twisted_proxy.swift.http import SwiftResponse

__all__ = ["acl_handler"]

MAX_ACL_BODY_SIZE = 200 * 1024


async def acl_handler(request: S3Request) -> SwiftResponse:
    """
    GET and PUT of C{?acl}, on a bucket or an object.
    """
    if request.method == "GET":
        result = await request.call("HEAD")
        drop_body(result.body)
        return SwiftResponse(200, {"Content-Type": "text/plain"}, get_acl(
            request.user_id or "", result.swift_headers.get("X-Container-Read"),
            result.swift_headers.get("X-Container-Write")))
    if request.method == "PUT":
        return await _put_acl(request)
    raise S3Error("MethodNotAllowed", method=request.method, resource_type="ACL")


async def _put_acl(request: S3Request) -> SwiftResponse:
    """
    PUT C{?acl}: a bucket's becomes its container ACLs; an object's is not
    supported.
    """
    if request.is_object:
        raise S3Error("NotImplemented")
    body = await request.xml(MAX_ACL_BODY_SIZE)
    canned = "X-Amz-Acl" in request.headers
    if canned and body:
        raise S3Error("UnexpectedContent")
    if not canned and not body:
        raise S3Error("MissingSecurityHeader", missing_header_name="x-amz-acl")
    extra: dict[str, str | None] = {}
    if body:
        for name, value in translate_acl_document(body):
            extra[name] = value
    result = await request.call("POST", headers=extra)  # type: ignore[arg-type]
    drop_body(result.body)
    return SwiftResponse(200, {"Location": request.bucket or ""}, b"")
