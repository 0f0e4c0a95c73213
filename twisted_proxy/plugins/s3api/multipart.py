# -*- test-case-name: tests.test_s3api_request -*-
"""
Multipart uploads on Swift's static large objects, as Swift's s3api keeps
them: an upload is a marker object C{<key>/<upload id>} in the container
C{<bucket>+segments}, its parts the objects C{<key>/<upload id>/<part>}
there; completing it writes an SLO manifest of the parts at the key, with
S3's multipart ETag (the MD5 of the parts' MD5s, C{-<count>}) kept in
sysmeta, and removes the marker.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import uuid
from typing import Any, Optional
from urllib.parse import quote

from twisted_proxy.plugins._support.subrequest import drop_body, read_body
from twisted_proxy.plugins.s3api.bucket import listing_time, read_json, xml_response
from twisted_proxy.plugins.s3api.errors import S3Error
from twisted_proxy.plugins.s3api.obj import copy_result
from twisted_proxy.plugins.s3api.request import CLIENT_BODY, MULTIUPLOAD_SUFFIX, S3Request
from twisted_proxy.plugins.s3api.response import S3Result, object_sysmeta
from twisted_proxy.plugins.s3api.xmlbody import XMLError, element, parse_xml, sub, to_xml
from twisted_proxy.swift.etags import normalize_etag
from twisted_proxy.swift.http import SwiftResponse, str_to_wsgi, wsgi_to_str
from twisted_proxy.swift.ranges import parse_range_header, resolve

__all__ = ["uploads_handler", "upload_handler", "part_handler", "unique_id"]

DEFAULT_MAX_UPLOADS = 1000
DEFAULT_MAX_PARTS_LISTING = 1000
MAX_COMPLETE_UPLOAD_BODY_SIZE = 2048 * 1024

_CHECKSUM_ELEMENTS = ("ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME", "ChecksumSHA1",
                      "ChecksumSHA256")


def unique_id() -> str:
    """
    A new upload id.
    """
    return base64.urlsafe_b64encode(str(uuid.uuid4()).encode("ascii")).decode("ascii")


def _object_only(request: S3Request) -> None:
    if not request.is_object:
        raise S3Error("InvalidRequest", "A key must be specified")


def _segments(request: S3Request) -> str:
    return (request.bucket or "") + MULTIUPLOAD_SUFFIX


async def _upload_info(request: S3Request, upload_id: str) -> tuple[S3Result, bool]:
    """
    The upload marker's HEAD (C{True}), or else the completed manifest's
    when it carries this upload id (C{False}).

    @raise S3Error: C{NoSuchUpload}.
    """
    copy_source = request.headers.pop("X-Amz-Copy-Source", None)
    # The client's conditions are for the completed object, not these.
    unconditional: dict[str, Optional[str]] = {
        name: None for name in ("If-Match", "If-None-Match", "If-Modified-Since",
                                "If-Unmodified-Since", "Range")}
    try:
        try:
            result = await request.call("HEAD", _segments(request),
                                        f"{request.key}/{upload_id}", headers=unconditional)
            drop_body(result.body)
            return result, True
        except S3Error as error:
            if error.code != "NoSuchKey":
                raise
        try:
            result = await request.call("HEAD", headers=unconditional)
            drop_body(result.body)
            if result.sysmeta.get(object_sysmeta("upload-id")) == upload_id:
                return result, False
        except S3Error as error:
            if error.code != "NoSuchKey":
                raise
        raise S3Error("NoSuchUpload", upload_id=upload_id)
    finally:
        if copy_source is not None:
            request.headers["X-Amz-Copy-Source"] = copy_source


async def part_handler(request: S3Request) -> SwiftResponse:
    """
    UploadPart and UploadPartCopy (PUT with C{partNumber}).
    """
    _object_only(request)
    await request.container_info()
    if "uploadId" not in request.params:
        raise S3Error("InvalidArgument", "Unexpected query string parameter",
                      argument_name="ResourceType", argument_value="partNumber")
    number = request.validate_part_number()
    upload_id = request.params["uploadId"]
    await _upload_info(request, upload_id)
    container = _segments(request)
    key = f"{request.key}/{upload_id}/{number}"
    source = await request.copy_source_for(container, key)
    headers: dict[str, Optional[str]] = {}
    if "X-Amz-Copy-Source" in request.headers:
        if "X-Amz-Copy-Source-Range" in request.headers:
            text = request.headers["X-Amz-Copy-Source-Range"]
            valid = True
            try:
                ranges = parse_range_header(text)
                valid = ranges is not None and len(ranges) == 1
            except ValueError:
                valid = False
                ranges = None
            if not valid:
                raise S3Error("InvalidArgument", "The x-amz-copy-source-range value must be of "
                              "the form bytes=first-last where first and last are the "
                              "zero-based offsets of the first and last bytes to copy",
                              argument_name="x-amz-source-range", argument_value=text)
            assert ranges is not None and source is not None
            size = int(source.headers.get("Content-Length", "0"))
            if resolve(ranges[0], size) is None:
                raise S3Error("InvalidArgument", "Range specified is not valid for source "
                              f"object of size: {size}", argument_name="x-amz-source-range",
                              argument_value=text)
            headers["Range"] = text
            request.headers.pop("X-Amz-Copy-Source-Range", None)
        for name in (object_sysmeta("etag"), "X-Object-Sysmeta-Swift3-Etag",
                     "X-Object-Sysmeta-Slo-Etag", "X-Object-Sysmeta-Slo-Size",
                     "X-Object-Sysmeta-Container-Update-Override-Etag"):
            headers[name] = ""
        result = await request.call("PUT", container, key, headers=headers)
        drop_body(result.body)
        return copy_result(result, "CopyPartResult")
    result = await request.call("PUT", container, key, headers=headers, body=CLIENT_BODY)
    drop_body(result.body)
    result.headers.pop("Content-Length", None)
    return SwiftResponse(200, result.headers, b"")


async def uploads_handler(request: S3Request) -> SwiftResponse:
    """
    ListMultipartUploads (GET C{?uploads}) and CreateMultipartUpload (POST).
    """
    if request.method == "GET":
        if not request.is_bucket:
            raise S3Error("InvalidRequest",
                          "Key is not expected for the GET method ?uploads subresource")
        await request.container_info()
        return await _list_uploads(request)
    if request.method == "POST":
        _object_only(request)
        await request.container_info()
        return await _initiate(request)
    raise S3Error("MethodNotAllowed", method=request.method, resource_type="UPLOADS")


async def _list_uploads(request: S3Request) -> SwiftResponse:
    encoding = request.utf8_param("encoding-type")
    if encoding is not None and encoding != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request",
                      argument_name="encoding-type", argument_value=encoding)
    key_marker = request.utf8_param("key-marker", "") or ""
    upload_marker = request.utf8_param("upload-id-marker", "") or ""
    prefix = request.utf8_param("prefix", "") or ""
    delimiter = request.utf8_param("delimiter")
    max_uploads = request.validated_param("max-uploads", DEFAULT_MAX_UPLOADS,
                                          DEFAULT_MAX_UPLOADS)
    query: dict[str, Any] = {"format": "json", "marker": ""}
    if upload_marker and key_marker:
        query["marker"] = f"{key_marker}/{upload_marker}"
    elif key_marker:
        query["marker"] = f"{key_marker}/~"
    if "prefix" in request.params:
        query["prefix"] = prefix
    uploads: list[dict[str, str]] = []
    prefixes: list[str] = []
    is_segment = re.compile(".*/[0-9]+$")
    while len(uploads) < max_uploads:
        try:
            listing = await request.call("GET", _segments(request), "", query=query)
            objects = await read_json(listing)
        except S3Error as error:
            if error.code != "NoSuchBucket":
                raise
            objects = []
        if not objects:
            break
        found = []
        for item in objects:
            if is_segment.match(item.get("name", "")):
                continue
            name, upload = item["name"].rsplit("/", 1)
            found.append({"key": name, "upload_id": upload,
                          "last_modified": item["last_modified"]})
        new_prefixes: list[str] = []
        if "delimiter" in request.params and delimiter is not None:
            kept = []
            common = set()
            for upload in found:
                end = upload["key"].find(delimiter, len(prefix))
                if end >= 0:
                    common.add(upload["key"][:end + len(delimiter)])
                else:
                    kept.append(upload)
            found, new_prefixes = kept, sorted(common)
        uploads.extend(found)
        prefixes.extend(new_prefixes)
        query["marker"] = objects[-1]["name"]
    truncated = len(uploads) >= max_uploads
    uploads = uploads[:max_uploads]
    next_key = next_upload = ""
    if len(uploads) > 1:
        next_upload = uploads[-1]["upload_id"]
        next_key = uploads[-1]["key"]
    root = element("ListMultipartUploadsResult")
    sub(root, "Bucket", request.bucket)
    sub(root, "KeyMarker", key_marker)
    sub(root, "UploadIdMarker", upload_marker)
    sub(root, "NextKeyMarker", next_key)
    sub(root, "NextUploadIdMarker", next_upload)
    if "delimiter" in request.params:
        sub(root, "Delimiter", delimiter)
    if "prefix" in request.params:
        sub(root, "Prefix", prefix)
    sub(root, "MaxUploads", str(max_uploads))
    if encoding is not None:
        sub(root, "EncodingType", encoding)
    sub(root, "IsTruncated", "true" if truncated else "false")
    for upload in uploads:
        node = sub(root, "Upload")
        name = upload["key"]
        sub(node, "Key", quote(name) if encoding == "url" else name)
        sub(node, "UploadId", upload["upload_id"])
        for role in ("Initiator", "Owner"):
            who = sub(node, role)
            sub(who, "ID", request.user_id)
            sub(who, "DisplayName", request.user_id)
        sub(node, "StorageClass", "STANDARD")
        sub(node, "Initiated", listing_time(upload["last_modified"]))
    for common_prefix in prefixes:
        node = sub(root, "CommonPrefixes")
        sub(node, "Prefix", common_prefix)
    return xml_response(to_xml(root))


async def _initiate(request: S3Request) -> SwiftResponse:
    if request.key is not None and len(request.key) > request.options.max_object_name_length:
        raise S3Error("KeyTooLongError")
    upload_id = unique_id()
    container = _segments(request)
    content_type = request.headers.get("Content-Type")
    if content_type:
        request.headers[object_sysmeta("has-content-type")] = "yes"
        request.headers[object_sysmeta("content-type")] = content_type
    else:
        request.headers[object_sysmeta("has-content-type")] = "no"
    request.headers["Content-Type"] = "application/directory"
    try:
        await request.container_info(container)
    except S3Error as error:
        if error.code != "NoSuchBucket":
            raise
        info = await request.container_info()
        headers: dict[str, Optional[str]] = {}
        policy = request.policy_name(info)
        if policy is not None:
            headers["X-Storage-Policy"] = policy
        if info.get("read_acl"):
            headers["X-Container-Read"] = info["read_acl"]
        if info.get("write_acl"):
            headers["X-Container-Write"] = info["write_acl"]
        try:
            made = await request.call("PUT", container, "", headers=headers)
            drop_body(made.body)
        except S3Error as made_error:
            if made_error.code not in ("BucketAlreadyExists", "BucketAlreadyOwnedByYou"):
                raise
    request.headers.pop("Etag", None)
    request.headers.pop("Content-Md5", None)
    result = await request.call("PUT", container, f"{request.key}/{upload_id}", body=b"")
    drop_body(result.body)
    root = element("InitiateMultipartUploadResult")
    sub(root, "Bucket", request.bucket)
    sub(root, "Key", wsgi_to_str(request.key or ""))
    sub(root, "UploadId", upload_id)
    return xml_response(to_xml(root))


async def upload_handler(request: S3Request) -> SwiftResponse:
    """
    ListParts (GET C{?uploadId}), AbortMultipartUpload (DELETE) and
    CompleteMultipartUpload (POST).
    """
    if request.method not in ("GET", "DELETE", "POST"):
        raise S3Error("MethodNotAllowed", method=request.method, resource_type="UPLOAD")
    _object_only(request)
    await request.container_info()
    if request.method == "GET":
        return await _list_parts(request)
    if request.method == "DELETE":
        return await _abort(request)
    return await _complete(request)


async def _list_parts(request: S3Request) -> SwiftResponse:
    encoding = request.params.get("encoding-type")
    if encoding is not None and encoding != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request",
                      argument_name="encoding-type", argument_value=encoding)
    upload_id = request.params["uploadId"]
    await _upload_info(request, upload_id)
    max_parts = request.validated_param("max-parts", DEFAULT_MAX_PARTS_LISTING,
                                        request.options.max_parts_listing)
    marker = request.validated_param("part-number-marker", 0)
    name = wsgi_to_str(request.key or "")
    query: dict[str, Any] = {"format": "json", "prefix": f"{name}/{upload_id}/",
                             "delimiter": "/", "marker": ""}
    objects: list[dict[str, Any]] = []
    while True:
        listing = await request.call("GET", _segments(request), "", query=query)
        new = await read_json(listing)
        if not new:
            break
        objects.extend(new)
        query["marker"] = new[-1]["name"]

    def after_marker(item: dict[str, Any]) -> bool:
        try:
            return int(os.path.basename(item["name"])) > marker
        except ValueError:
            return False

    parts = sorted((item for item in objects if after_marker(item)),
                   key=lambda item: int(item["name"].split("/")[-1]))
    truncated = len(parts) > max_parts
    parts = parts[:max_parts]
    last = os.path.basename(parts[-1]["name"]) if parts else "0"
    root = element("ListPartsResult")
    sub(root, "Bucket", request.bucket)
    sub(root, "Key", quote(name) if encoding == "url" else name)
    sub(root, "UploadId", upload_id)
    for role in ("Initiator", "Owner"):
        who = sub(root, role)
        sub(who, "ID", request.user_id)
        sub(who, "DisplayName", request.user_id)
    sub(root, "StorageClass", "STANDARD")
    sub(root, "PartNumberMarker", str(marker))
    sub(root, "NextPartNumberMarker", str(last))
    sub(root, "MaxParts", str(max_parts))
    if "encoding-type" in request.params:
        sub(root, "EncodingType", encoding)
    sub(root, "IsTruncated", "true" if truncated else "false")
    for item in parts:
        node = sub(root, "Part")
        sub(node, "PartNumber", item["name"].split("/")[-1])
        sub(node, "LastModified", listing_time(item["last_modified"]))
        sub(node, "ETag", f'"{item["hash"]}"')
        sub(node, "Size", str(item["bytes"]))
    return xml_response(to_xml(root))


async def _abort(request: S3Request) -> SwiftResponse:
    upload_id = request.params["uploadId"]
    await _upload_info(request, upload_id)
    container = _segments(request)
    marker = await request.call("DELETE", container, f"{request.key}/{upload_id}")
    drop_body(marker.body)
    name = wsgi_to_str(request.key or "")
    query: dict[str, Any] = {"format": "json", "prefix": f"{name}/{upload_id}/",
                             "delimiter": "/"}
    while True:
        listing = await request.call("GET", container, "", query=query)
        objects = await read_json(listing)
        if not objects:
            break
        for item in objects:
            gone = await request.call("DELETE", container,
                                      str_to_wsgi(item["name"]))
            drop_body(gone.body)
        query["marker"] = objects[-1]["name"]
    return SwiftResponse(204, {}, b"")


def _parse_parts(body: bytes, upload_id: str, container: str, key: str
                 ) -> tuple[list[dict[str, str]], str]:
    try:
        root = parse_xml(body, "CompleteMultipartUpload")
    except XMLError:
        raise S3Error("MalformedXML") from None
    parts = list(root)
    if not parts or any(part.tag != "Part" for part in parts):
        raise S3Error("MalformedXML")
    manifest = []
    hasher = hashlib.md5()
    previous = 0
    for part in parts:
        children: dict[str, str] = {}
        for child in part:
            if child.tag not in ("PartNumber", "ETag") + _CHECKSUM_ELEMENTS or \
                    child.tag in children:
                raise S3Error("MalformedXML")
            children[child.tag] = (child.text or "")
        if "PartNumber" not in children or "ETag" not in children:
            raise S3Error("MalformedXML")
        try:
            number = int(children["PartNumber"].strip())
        except ValueError:
            raise S3Error("MalformedXML") from None
        if not -2 ** 31 <= number < 2 ** 31:
            raise S3Error("MalformedXML")
        if number <= previous:
            raise S3Error("InvalidPartOrder", upload_id=upload_id)
        previous = number
        etag = normalize_etag(children["ETag"])
        if len(etag) != 32 or any(c not in "0123456789abcdef" for c in etag):
            raise S3Error("InvalidPart", upload_id=upload_id, part_number=number, e_tag=etag)
        manifest.append({"path": f"/{wsgi_to_str(container)}/{wsgi_to_str(key)}/"
                                 f"{upload_id}/{number}", "etag": etag})
        hasher.update(binascii.a2b_hex(etag))
    return manifest, f"{hasher.hexdigest()}-{len(manifest)}"


async def _complete(request: S3Request) -> SwiftResponse:
    upload_id = request.params["uploadId"]
    if request.headers.get("If-None-Match", "*") != "*" or any(
            name in request.headers for name in
            ("If-Match", "If-Modified-Since", "If-Unmodified-Since")):
        raise S3Error("NotImplemented", "Conditional uploads are not supported.")
    marker, _is_marker = await _upload_info(request, upload_id)
    headers: dict[str, Optional[str]] = {"Accept": "application/json",
                                         object_sysmeta("upload-id"): upload_id}
    for name, value in marker.headers.items():
        lowered = name.lower()
        if lowered.startswith("x-amz-meta-"):
            headers["X-Object-Meta-" + name[11:]] = value
        elif lowered in ("content-encoding", "content-language", "content-disposition",
                         "expires", "cache-control"):
            headers[name] = value
    has_type = object_sysmeta("has-content-type")
    if marker.sysmeta.get(has_type) == "yes":
        content_type = marker.sysmeta.get(object_sysmeta("content-type"))
    elif has_type in marker.sysmeta:
        content_type = None
    else:
        content_type = marker.headers.get("Content-Type")
    headers["Content-Type"] = content_type
    container = _segments(request)
    body = await request.xml(MAX_COMPLETE_UPLOAD_BODY_SIZE)
    if not body:
        raise S3Error("InvalidRequest", "You must specify at least one part")
    if request.check_md5(body):
        request.headers.pop("Etag", None)
    manifest, s3_etag = _parse_parts(body, upload_id, container, request.key or "")
    etag_header = object_sysmeta("etag")
    already = marker.sysmeta.get(etag_header)
    if already == s3_etag:
        return xml_response(_complete_body(request, s3_etag))
    if already:
        raise S3Error("NoSuchUpload", upload_id=upload_id)
    headers[etag_header] = s3_etag
    headers["X-Object-Sysmeta-Container-Update-Override-Etag"] = f"; s3_etag={s3_etag}"
    too_small = ("s3api requires that each segment be at least "
                 f"{request.options.min_segment_size} bytes")
    minimum = request.options.min_segment_size

    def size_checker(stored: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(item["name"], too_small) for item in stored[:-1]
                if item and item["bytes"] < minimum]

    request.environ["swift.callback.slo_manifest_hook"] = size_checker
    request.headers.pop("Etag", None)
    request.headers.pop("Content-Md5", None)
    try:
        result = await request.call(
            "PUT", body=json.dumps(manifest).encode("utf-8"),
            query={"multipart-manifest": "put", "heartbeat": "on"}, headers=headers)
    except S3Error as error:
        if error.code == "InvalidRequest":
            if too_small in error.message:
                raise S3Error("EntityTooSmall", error.message) from None
            if ", Etag Mismatch" in error.message or ", 404 Not Found" in error.message:
                raise S3Error("InvalidPart", upload_id=upload_id) from None
        raise
    finally:
        request.environ.pop("swift.callback.slo_manifest_hook", None)
    if result.status == 202:
        text = (await read_body(result.body)).strip()
        try:
            summary = json.loads(text)
        except ValueError:
            raise S3Error("InternalError", "unexpected manifest answer") from None
        status = summary.get("Response Status", "")
        if status == "412 Precondition Failed":
            raise S3Error("PreconditionFailed")
        if status != "201 Created":
            for _segment, problem in summary.get("Errors", []):
                if problem == too_small:
                    raise S3Error("EntityTooSmall")
                if problem in ("Etag Mismatch", "404 Not Found"):
                    raise S3Error("InvalidPart", upload_id=upload_id)
            code, _, _reason = status.partition(" ")
            raise S3Error("InvalidRequest", "\n".join(
                ": ".join(problem) for problem in summary.get("Errors", [])),
                status=int(code) if code.isdigit() else 400)
    else:
        drop_body(result.body)
    try:
        gone = await request.call("DELETE", container, f"{request.key}/{upload_id}")
        drop_body(gone.body)
    except S3Error as error:
        if error.code != "NoSuchKey":
            raise
    return xml_response(_complete_body(request, s3_etag))


def _complete_body(request: S3Request, s3_etag: str) -> bytes:
    scheme = request.environ.get("wsgi.url_scheme", "http")
    host = request.headers.get("Host", "")
    root = element("CompleteMultipartUploadResult")
    sub(root, "Location", f"{scheme}://{host}{wsgi_to_str(request.swift.path)}")
    sub(root, "Bucket", request.bucket)
    sub(root, "Key", wsgi_to_str(request.key or ""))
    sub(root, "ETag", f'"{s3_etag}"')
    return to_xml(root)
