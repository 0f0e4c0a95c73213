# -*- test-case-name: tests.test_s3api_request -*-
"""
The object operations: Get/Head (ranges, part numbers, conditions,
C{response-*} overrides, versions), Put and Copy, Delete (multipart
manifests with their segments, versions).
"""

from __future__ import annotations

from typing import Any

from twisted_proxy.plugins._support.subrequest import drop_body, read_body
from twisted_proxy.plugins.s3api.errors import S3Error
from twisted_proxy.plugins.s3api.request import CLIENT_BODY, S3Request
from twisted_proxy.plugins.s3api.response import DELETE_MARKER_CONTENT_TYPE, S3Result
from twisted_proxy.plugins.s3api.signing import s3_time
from twisted_proxy.plugins.s3api.xmlbody import element, sub, to_xml
from twisted_proxy.swift.etags import normalize_etag
from twisted_proxy.swift.http import SwiftResponse
from twisted_proxy.swift.ranges import parse_range_header, resolve
from twisted_proxy.swift.timestamp import parse_http_date

__all__ = ["object_handler", "copy_result"]

_OVERRIDES = ("content-type", "content-language", "expires", "cache-control",
              "content-disposition", "content-encoding")


def copy_result(result: S3Result, tag: str) -> SwiftResponse:
    """
    The answer to a copy (C{CopyObjectResult}, C{CopyPartResult}).
    """
    modified = parse_http_date(result.headers.get("Last-Modified")) or 0.0
    root = element(tag)
    sub(root, "LastModified", s3_time(modified))
    sub(root, "ETag", f'"{result.etag}"')
    headers = result.headers
    headers.pop("ETag", None)
    headers["Content-Type"] = "application/xml"
    headers.pop("Content-Length", None)
    for name in list(headers):
        if name.lower().startswith("x-amz-meta-"):
            del headers[name]
    return SwiftResponse(200, headers, to_xml(root))


def _head_range(request: S3Request, result: S3Result) -> None:
    try:
        ranges = parse_range_header(request.headers.get("Range"))
    except ValueError:
        return
    if not ranges:
        return
    length = int(result.headers.get("Content-Length", "0"))
    resolved = [r for r in (resolve(byte_range, length) for byte_range in ranges)
                if r is not None]
    if not resolved:
        raise S3Error("InvalidRange")
    if len(resolved) == 1:
        start, end = resolved[0]
        result.headers["Content-Range"] = f"bytes {start}-{end - 1}/{length}"
        result.headers["Content-Length"] = str(end - start)
        result.status = 206


async def _get_or_head(request: S3Request) -> SwiftResponse:
    headers: dict[str, Any] = {}
    had_match = False
    for name in ("If-Match", "If-None-Match"):
        if name not in request.headers:
            continue
        had_match = True
        for value in request.headers[name].split(","):
            tag = normalize_etag(value.strip())
            if tag.endswith("-N"):
                request.headers[name] += ", " + tag[:-2]
    if had_match:
        headers["X-Backend-Etag-Is-At"] = "X-Object-Sysmeta-S3api-Etag"
    version = request.params.get("versionId")
    if version not in ("null", None) and not request.options.object_versioning:
        raise S3Error("NotImplemented")
    part_number = request.validate_part_number(check_max=False)
    query: dict[str, Any] = {}
    if version is not None:
        query["version-id"] = version
    if part_number is not None:
        query["part-number"] = part_number
    if version not in ("null", None):
        info = await request.container_info()
        if not info.get("sysmeta", {}).get("versions-container"):
            raise S3Error("NoSuchVersion", key=request.key, version_id=version)
    result = await request.call(query=query, headers=headers)
    if not result.is_slo:
        number = request.validate_part_number(parts_count=1)
        if number == 1:
            result.status = 206
            length = result.headers.get("Content-Length", "0")
            result.headers["Content-Range"] = f"bytes 0-{int(length) - 1}/{length}"
    if "x-amz-meta-deleted" in result.headers:
        drop_body(result.body)
        raise S3Error("NoSuchKey", key=request.key)
    if result.swift_headers.get("Content-Type") == DELETE_MARKER_CONTENT_TYPE:
        result.headers["x-amz-delete-marker"] = "true"
    for name in _OVERRIDES:
        if "response-" + name in request.params:
            result.headers[name] = request.params["response-" + name]
    if request.method == "HEAD":
        drop_body(result.body)
        result.body = b""
        if "Range" in request.headers:
            _head_range(request, result)
    return SwiftResponse(result.status, result.headers, result.body)


async def _put(request: S3Request) -> SwiftResponse:
    if request.key is not None and len(request.key) > request.options.max_object_name_length:
        raise S3Error("KeyTooLongError")
    if "X-Amz-Copy-Source" in request.headers and \
            "X-Amz-Copy-Source-Range" in request.headers:
        raise S3Error("InvalidArgument", "Illegal copy header",
                      argument_name="x-amz-copy-source-range",
                      argument_value=request.headers["X-Amz-Copy-Source-Range"])
    await request.copy_source()
    if not request.headers.get("Content-Type"):
        request.headers["Content-Type"] = "binary/octet-stream"
    copying = "X-Amz-Copy-Source" in request.headers
    result = await request.call(body=None if copying else CLIENT_BODY)
    if copying:
        drop_body(result.body)
        return copy_result(result, "CopyObjectResult")
    drop_body(result.body)
    result.headers.pop("Content-Length", None)
    return SwiftResponse(200, result.headers, b"")


async def _restore_on_delete(request: S3Request) -> SwiftResponse | None:
    listing = await request.call("GET", request.bucket, "",
                                 query={"prefix": request.key, "versions": True,
                                        "format": "json"})
    import json

    versions = json.loads(await read_body(listing.body))
    from twisted_proxy.swift.http import str_to_wsgi

    for item in versions:
        if str_to_wsgi(item["name"]) != request.key:
            break
        if item.get("content_type") == DELETE_MARKER_CONTENT_TYPE:
            break
        try:
            restored = await request.call("PUT", query={"version-id": item["version_id"]},
                                          body=b"")
        except S3Error as error:
            if error.code in ("PreconditionFailed", "NoSuchBucket"):
                continue
            raise
        drop_body(restored.body)
        return SwiftResponse(204, restored.headers, b"")
    return None


async def _delete(request: S3Request) -> SwiftResponse:
    version = request.params.get("versionId")
    if version not in ("null", None) and not request.options.object_versioning:
        raise S3Error("NotImplemented")
    if version not in ("null", None):
        info = await request.container_info()
        if not info.get("sysmeta", {}).get("versions-container"):
            return SwiftResponse(204, {"x-amz-version-id": version}, b"")
    try:
        try:
            query = await request.manifest_delete_query(version=version)
        except S3Error as error:
            if error.code != "NoSuchKey":
                raise
            query = {}
        headers: dict[str, Any] = {"Content-Type": None}
        if version is not None:
            query["version-id"] = version
            query["symlink"] = "get"
        result = await request.call(query=query, headers=headers)
        if query.get("multipart-manifest") and result.status == 200:
            await read_body(result.body)
            result.body = b""
            result.status = 204
        else:
            drop_body(result.body)
        response = SwiftResponse(result.status, result.headers, b"")
        if result.swift_headers.get("X-Object-Current-Version-Id") == "null":
            restored = await _restore_on_delete(request)
            if restored is not None:
                response = restored
        return response
    except S3Error as error:
        if error.code != "NoSuchKey":
            raise
        await request.container_info()
        return SwiftResponse(204, {}, b"")


async def object_handler(request: S3Request) -> SwiftResponse:
    """
    GET, HEAD, PUT, DELETE of an object; POST is not implemented.
    """
    method = request.method
    if method in ("GET", "HEAD"):
        return await _get_or_head(request)
    if method == "PUT":
        return await _put(request)
    if method == "DELETE":
        return await _delete(request)
    if method == "POST":
        raise S3Error("NotImplemented")
    raise S3Error("MethodNotAllowed", method=method, resource_type="OBJECT")
