# -*- test-case-name: tests.test_s3api_request -*-
"""
The service and bucket operations: ListBuckets, Create/Delete/Head
bucket, ListObjects (v1, v2) and ListObjectVersions over Swift's JSON
container listings, and the small bucket sub-resources (location, logging,
versioning, tagging, object lock).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Optional
from urllib.parse import quote

from twisted_proxy.plugins._support.subrequest import drop_body, read_body
from twisted_proxy.plugins.s3api.errors import S3Error
from twisted_proxy.plugins.s3api.request import MULTIUPLOAD_SUFFIX, S3Request, validate_bucket_name
from twisted_proxy.plugins.s3api.response import DELETE_MARKER_CONTENT_TYPE
from twisted_proxy.plugins.s3api.signing import s3_time
from twisted_proxy.plugins.s3api.xmlbody import (
    XMLElement,
    XMLError,
    check_children,
    element,
    parse_xml,
    sub,
    to_xml,
)
from twisted_proxy.swift.http import SwiftResponse, wsgi_to_str
from twisted_proxy.swift.timestamp import Timestamp
from twisted_proxy.swift.truthy import is_true

__all__ = ["service_get", "bucket_handler", "location_handler", "logging_handler",
           "versioning_handler", "tagging_handler", "object_lock_handler", "xml_response",
           "listing_time", "read_json"]

MAX_PUT_BUCKET_BODY_SIZE = 10240
MAX_PUT_VERSIONING_BODY_SIZE = 10240


def xml_response(body: bytes, status: int = 200, content_type: Optional[str] = "application/xml"
                 ) -> SwiftResponse:
    """
    A response with an XML document.
    """
    headers = {"Content-Type": content_type} if content_type else {}
    return SwiftResponse(status, headers, body)


def listing_time(text: str) -> str:
    """
    A listing's C{last_modified} as S3 shows it.
    """
    return s3_time(float(Timestamp.from_isoformat(text)))


async def read_json(result: Any) -> Any:
    """
    A listing body, parsed.
    """
    body = await read_body(result.body)
    try:
        return json.loads(body)
    except ValueError:
        raise S3Error("InternalError", "unexpected listing") from None


async def service_get(request: S3Request) -> SwiftResponse:
    """
    ListBuckets: the account's containers with valid bucket names.
    """
    if request.method not in ("GET",):
        raise S3Error("MethodNotAllowed", method=request.method, resource_type="SERVICE")
    result = await request.call(query={"format": "json"})
    containers = await read_json(result)
    root = element("ListAllMyBucketsResult")
    owner = sub(root, "Owner")
    sub(owner, "ID", request.user_id)
    sub(owner, "DisplayName", request.user_id)
    buckets = sub(root, "Buckets")
    for item in containers:
        if not validate_bucket_name(item["name"], request.options.dns_compliant_bucket_names):
            continue
        bucket = sub(buckets, "Bucket")
        sub(bucket, "Name", item["name"])
        sub(bucket, "CreationDate", "2009-02-03T16:45:09.000Z")
    return xml_response(to_xml(root))


def _param_text(request: S3Request, name: str) -> Optional[str]:
    value = request.params.get(name)
    return None if value is None else wsgi_to_str(value)


def _listing_query(request: S3Request, max_keys: int) -> tuple[Optional[str], dict[str, Any],
                                                               str, bool]:
    encoding = request.params.get("encoding-type")
    if encoding is not None and encoding != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request",
                      argument_name="encoding-type", argument_value=encoding)
    query: dict[str, Any] = {"limit": max_keys + 1, "format": "json"}
    if "prefix" in request.params:
        query["prefix"] = request.utf8_param("prefix")
    if "delimiter" in request.params:
        query["delimiter"] = request.utf8_param("delimiter")
    fetch_owner = False
    if "versions" in request.params:
        query["versions"] = request.utf8_param("versions")
        kind = "versions"
        version_marker = request.utf8_param("version-id-marker")
        if "key-marker" in request.params:
            query["marker"] = request.utf8_param("key-marker")
            if version_marker is not None:
                if version_marker != "null":
                    try:
                        Timestamp(version_marker)
                    except ValueError:
                        raise S3Error("InvalidArgument", "Invalid version id specified",
                                      argument_name="version-id-marker",
                                      argument_value=version_marker) from None
                query["version_marker"] = version_marker
        elif version_marker is not None:
            raise S3Error("InvalidArgument",
                          "A version-id marker cannot be specified without a key marker.",
                          argument_name="version-id-marker", argument_value=version_marker)
        return encoding, query, kind, fetch_owner
    try:
        list_type = int(request.params.get("list-type", "1"))
    except ValueError:
        raise S3Error("InvalidArgument", "Argument list-type must be an integer",
                      argument_name="list-type",
                      argument_value=request.params.get("list-type")) from None
    if list_type == 2:
        kind = "v2"
        if "start-after" in request.params:
            query["marker"] = request.utf8_param("start-after")
        if "continuation-token" in request.params:
            token = request.params["continuation-token"]
            try:
                query["marker"] = base64.b64decode(token, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise S3Error("InvalidArgument", "The continuation token provided is incorrect",
                              argument_name="continuation-token",
                              argument_value=quote(token.encode("latin-1"))) from None
        if "fetch-owner" in request.params:
            fetch_owner = is_true(request.params["fetch-owner"])
    else:
        kind = "v1"
        if "marker" in request.params:
            query["marker"] = request.utf8_param("marker")
    return encoding, query, kind, fetch_owner


def _url(text: Optional[str], encoding: Optional[str]) -> Optional[str]:
    if text and encoding == "url":
        return quote(text.encode("utf-8"))
    return text


def _listing_root(request: S3Request, objects: list[dict[str, Any]], encoding: Optional[str],
                  kind: str, max_keys: int, truncated: bool) -> XMLElement:
    params = request.params
    delimiter = _param_text(request, "delimiter")
    if kind == "versions":
        root = element("ListVersionsResult")
        sub(root, "Name", request.bucket)
        sub(root, "Prefix", _url(_param_text(request, "prefix"), encoding))
        sub(root, "KeyMarker", _url(_param_text(request, "key-marker"), encoding))
        sub(root, "VersionIdMarker", _param_text(request, "version-id-marker"))
        if truncated:
            last = objects[-1]
            if "name" in last:
                sub(root, "NextKeyMarker", last["name"])
                sub(root, "NextVersionIdMarker", last.get("version_id") or "null")
            if "subdir" in last:
                sub(root, "NextKeyMarker", last["subdir"])
                sub(root, "NextVersionIdMarker", "null")
        sub(root, "MaxKeys", str(max_keys))
        if delimiter is not None:
            sub(root, "Delimiter", _url(delimiter, encoding) if delimiter else delimiter)
    else:
        root = element("ListBucketResult")
        sub(root, "Name", request.bucket)
        sub(root, "Prefix", _url(_param_text(request, "prefix"), encoding))
        if kind == "v1":
            sub(root, "Marker", _url(_param_text(request, "marker"), encoding))
            if truncated and "delimiter" in params:
                last = objects[-1]
                name = last["name"] if "name" in last else last["subdir"]
                sub(root, "NextMarker", _url(name, encoding))
        else:
            if truncated:
                last = objects[-1]
                name = last["name"] if "name" in last else last["subdir"]
                sub(root, "NextContinuationToken",
                    base64.b64encode(name.encode("utf-8")).decode("ascii"))
            if "continuation-token" in params:
                sub(root, "ContinuationToken", _param_text(request, "continuation-token"))
            start_after = _param_text(request, "start-after")
            if start_after is not None:
                sub(root, "StartAfter", _url(start_after, encoding))
            sub(root, "KeyCount", str(len(objects)))
        sub(root, "MaxKeys", str(max_keys))
        if delimiter:
            sub(root, "Delimiter", _url(delimiter, encoding))
    if encoding == "url":
        sub(root, "EncodingType", encoding)
    sub(root, "IsTruncated", "true" if truncated else "false")
    return root


def _etag_of(item: dict[str, Any]) -> str:
    if "s3_etag" in item:
        return str(item["s3_etag"])
    if "slo_etag" in item:
        return '"%s-N"' % str(item["slo_etag"]).strip('"')
    etag = str(item["hash"])
    if len(etag) < 2 or etag[::len(etag) - 1] != '""':
        etag = f'"{item["hash"]}"'
    return etag


def _add_entries(request: S3Request, root: XMLElement, objects: list[dict[str, Any]],
                 encoding: Optional[str], kind: str, fetch_owner: bool) -> None:
    for item in objects:
        if "subdir" in item:
            prefixes = sub(root, "CommonPrefixes")
            sub(prefixes, "Prefix", _url(item["subdir"], encoding))
            continue
        name = _url(item["name"], encoding)
        if kind == "versions":
            marker = item.get("content_type") == DELETE_MARKER_CONTENT_TYPE
            entry = sub(root, "DeleteMarker" if marker else "Version")
            sub(entry, "Key", name)
            sub(entry, "VersionId", item.get("version_id") or "null")
            if request.options.object_versioning:
                sub(entry, "IsLatest", "true" if item.get("is_latest") else "false")
            else:
                sub(entry, "IsLatest", "true")
        else:
            marker = False
            entry = sub(root, "Contents")
            sub(entry, "Key", name)
        sub(entry, "LastModified", listing_time(item["last_modified"]))
        if not marker:
            sub(entry, "ETag", _etag_of(item))
            sub(entry, "Size", str(item["bytes"]))
        if fetch_owner or kind != "v2":
            owner = sub(entry, "Owner")
            sub(owner, "ID", request.user_id)
            sub(owner, "DisplayName", request.user_id)
        if not marker:
            sub(entry, "StorageClass", "STANDARD")


async def _list(request: S3Request) -> SwiftResponse:
    max_keys_asked = request.validated_param("max-keys", request.options.max_bucket_listing)
    max_keys = min(max_keys_asked, request.options.max_bucket_listing)
    encoding, query, kind, fetch_owner = _listing_query(request, max_keys)
    result = await request.call(query=query)
    objects = await read_json(result)
    truncated = max_keys > 0 and len(objects) > max_keys
    objects = objects[:max_keys]
    root = _listing_root(request, objects, encoding, kind, max_keys_asked, truncated)
    _add_entries(request, root, objects, encoding, kind, fetch_owner)
    return xml_response(to_xml(root))


async def _delete_segments_bucket(request: S3Request) -> None:
    container = (request.bucket or "") + MULTIUPLOAD_SUFFIX
    try:
        head = await request.call("HEAD")
        drop_body(head.body)
        if int(head.swift_headers.get("X-Container-Object-Count", "0")) > 0:
            if head.sysmeta.get("x-container-sysmeta-versions-enabled") or \
                    head.swift_headers.get("X-Container-Sysmeta-Versions-Enabled"):
                raise S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty. "
                              "You must delete all versions in the bucket.")
            raise S3Error("BucketNotEmpty")
    except S3Error as error:
        if error.code != "NoSuchBucket":
            raise
    marker = ""
    try:
        while True:
            listing = await request.call("GET", container, "",
                                         query={"format": "json", "marker": marker})
            segments = await read_json(listing)
            for segment in segments:
                try:
                    done = await request.call("DELETE", container,
                                              segment["name"].encode("utf-8").decode("latin-1"))
                    drop_body(done.body)
                except S3Error as error:
                    if error.code == "NoSuchKey":
                        continue
                    if error.code == "InternalError":
                        raise S3Error("ServiceUnavailable") from None
                    raise
            if not segments:
                break
            marker = segments[-1]["name"]
        gone = await request.call("DELETE", container, "")
        drop_body(gone.body)
    except S3Error as error:
        if error.code == "NoSuchBucket":
            return
        if error.code in ("BucketNotEmpty", "InternalError"):
            raise S3Error("ServiceUnavailable") from None
        raise


async def bucket_handler(request: S3Request) -> SwiftResponse:
    """
    HEAD, GET (listings), PUT and DELETE of a bucket.
    """
    method = request.method
    if method == "HEAD":
        result = await request.call()
        drop_body(result.body)
        return SwiftResponse(200, result.headers, b"")
    if method == "GET":
        return await _list(request)
    if method == "PUT":
        body = await request.xml(MAX_PUT_BUCKET_BODY_SIZE)
        if body:
            try:
                root = parse_xml(body)
                check_children(root, {"LocationConstraint": (1, 1)})
            except XMLError:
                raise S3Error("MalformedXML") from None
            node = root.find("./LocationConstraint")
            location = node.text if node is not None else None
            if location not in (request.options.location, request.options.location.lower()):
                raise S3Error("InvalidLocationConstraint")
        result = await request.call()
        drop_body(result.body)
        headers = result.headers
        headers["Location"] = "/" + (request.bucket or "")
        return SwiftResponse(200, headers, b"")
    if method == "DELETE":
        if request.options.allow_multipart_uploads:
            await _delete_segments_bucket(request)
        result = await request.call()
        drop_body(result.body)
        return SwiftResponse(result.status, result.headers, b"")
    if method == "POST":
        raise S3Error("NotImplemented")
    raise S3Error("MethodNotAllowed", method=method, resource_type="BUCKET")


def _bucket_only(request: S3Request, error: Optional[S3Error] = None) -> None:
    if not request.is_bucket:
        if error is not None:
            raise error
        request.key = None


async def location_handler(request: S3Request) -> SwiftResponse:
    """
    GET C{?location}.
    """
    if request.method != "GET":
        raise S3Error("MethodNotAllowed", method=request.method, resource_type="LOCATION")
    _bucket_only(request)
    result = await request.call("HEAD")
    drop_body(result.body)
    root = element("LocationConstraint")
    if request.options.location != "us-east-1":
        root.text = request.options.location
    return xml_response(to_xml(root))


async def logging_handler(request: S3Request) -> SwiftResponse:
    """
    GET C{?logging} (always disabled); PUT is not implemented.
    """
    if request.method not in ("GET", "PUT"):
        raise S3Error("MethodNotAllowed", method=request.method, resource_type="LOGGING_STATUS")
    _bucket_only(request, S3Error("NoLoggingStatusForKey"))
    if request.method == "PUT":
        raise S3Error("NotImplemented")
    result = await request.call("HEAD")
    drop_body(result.body)
    return xml_response(to_xml(element("BucketLoggingStatus")))


async def versioning_handler(request: S3Request) -> SwiftResponse:
    """
    GET and PUT C{?versioning}, on Swift's object versioning.
    """
    if request.method not in ("GET", "PUT"):
        raise S3Error("MethodNotAllowed", method=request.method, resource_type="VERSIONING")
    _bucket_only(request)
    if request.method == "GET":
        info = await request.container_info()
        root = element("VersioningConfiguration")
        enabled = info.get("sysmeta", {}).get("versions-enabled")
        if enabled:
            sub(root, "Status", "Enabled" if is_true(enabled) else "Suspended")
        return xml_response(to_xml(root), content_type=None)
    if not request.options.object_versioning:
        raise S3Error("NotImplemented")
    body = await request.xml(MAX_PUT_VERSIONING_BODY_SIZE)
    try:
        root = parse_xml(body or b"", "VersioningConfiguration")
        check_children(root, {"Status": (0, 1), "MfaDelete": (0, 1)})
    except XMLError:
        raise S3Error("MalformedXML") from None
    node = root.find("./Status")
    status = node.text if node is not None else None
    mfa = root.find("./MfaDelete")
    if mfa is not None and mfa.text not in ("Enabled", "Disabled"):
        raise S3Error("MalformedXML")
    if status not in ("Enabled", "Suspended"):
        raise S3Error("MalformedXML")
    result = await request.call("POST", headers={
        "X-Versions-Enabled": "true" if status == "Enabled" else "false"})
    drop_body(result.body)
    return xml_response(b"", content_type=None)


async def tagging_handler(request: S3Request) -> SwiftResponse:
    """
    GET C{?tagging} (always empty); PUT and DELETE are not implemented.
    """
    if request.method == "GET":
        root = element("Tagging")
        sub(root, "TagSet")
        return xml_response(to_xml(root), content_type=None)
    if request.method in ("PUT", "DELETE"):
        raise S3Error("NotImplemented", "The requested resource is not implemented")
    raise S3Error("MethodNotAllowed", method=request.method, resource_type="TAGGING")


async def object_lock_handler(request: S3Request) -> SwiftResponse:
    """
    C{?object-lock}: never configured.
    """
    if request.method not in ("GET", "PUT"):
        raise S3Error("MethodNotAllowed", method=request.method, resource_type="OBJECT_LOCK")
    _bucket_only(request)
    if request.method == "GET":
        raise S3Error("ObjectLockConfigurationNotFoundError", bucket_name=request.bucket)
    raise S3Error("NotImplemented", "The requested resource is not implemented")
