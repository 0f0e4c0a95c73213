# -*- test-case-name: tests.test_s3api_request -*-
"""
Which handler answers an S3 request, by its sub-resources, as Swift's
s3api picks its controllers.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from twisted_proxy.plugins.s3api.acl_handler import acl_handler
from twisted_proxy.plugins.s3api.bucket import (
    bucket_handler,
    location_handler,
    logging_handler,
    object_lock_handler,
    service_get,
    tagging_handler,
    versioning_handler,
)
from twisted_proxy.plugins.s3api.errors import S3Error
from twisted_proxy.plugins.s3api.multidelete import multi_delete_handler
from twisted_proxy.plugins.s3api.multipart import part_handler, upload_handler, uploads_handler
from twisted_proxy.plugins.s3api.obj import object_handler
from twisted_proxy.plugins.s3api.request import S3Request
from twisted_proxy.swift.http import SwiftResponse

__all__ = ["Handler", "pick_handler", "UNSUPPORTED"]

Handler = Callable[[S3Request], Awaitable[SwiftResponse]]

#: Sub-resources S3 has and Swift's s3api does not implement.
UNSUPPORTED = ("notification", "policy", "publicAccessBlock", "requestPayment", "torrent",
               "website", "cors", "restore")


def pick_handler(request: S3Request) -> Handler:
    """
    The handler of C{request}.

    @raise S3Error: C{NotImplemented} for an unsupported sub-resource (or a
        multipart one when multipart uploads are off).
    """
    params = request.params
    if any(name in params for name in UNSUPPORTED):
        raise S3Error("NotImplemented", "The requested resource is not implemented")
    if request.is_service:
        return service_get
    if not request.options.allow_multipart_uploads and any(
            name in params for name in ("partNumber", "uploadId", "uploads")):
        raise S3Error("NotImplemented", "Multi-part feature isn't support")
    if "acl" in params:
        return acl_handler
    if "delete" in params:
        return multi_delete_handler
    if "location" in params:
        return location_handler
    if "logging" in params:
        return logging_handler
    if "partNumber" in params:
        return part_handler if request.method == "PUT" else object_handler
    if "uploadId" in params:
        return upload_handler
    if "uploads" in params:
        return uploads_handler
    if "versioning" in params:
        return versioning_handler
    if "tagging" in params:
        return tagging_handler
    if "object-lock" in params:
        return object_lock_handler
    if request.is_object:
        return object_handler
    return bucket_handler
