# -*- test-case-name: tests.test_s3api_request -*-
"""
DeleteObjects (POST C{?delete}): up to C{max_multi_delete_objects} keys,
each deleted as a DELETE Object would be (multipart manifests with their
segments, versions), C{multi_delete_concurrency} at a time.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from twisted.internet.defer import DeferredSemaphore, gatherResults

from twisted_proxy.plugins._support.subrequest import drop_body, read_body
from twisted_proxy.plugins.s3api.bucket import xml_response
from twisted_proxy.plugins.s3api.errors import S3Error
from twisted_proxy.plugins.s3api.request import S3Request
from twisted_proxy.plugins.s3api.xmlbody import XMLError, element, parse_xml, sub, to_xml
from twisted_proxy.swift.http import SwiftResponse, str_to_wsgi

__all__ = ["multi_delete_handler"]


def _keys(body: bytes, most: int) -> tuple[list[tuple[str, Optional[str]]], bool]:
    try:
        root = parse_xml(body, "Delete")
    except XMLError:
        raise S3Error("MalformedXML") from None
    quiet = False
    keys: list[tuple[str, Optional[str]]] = []
    quiet_seen = 0
    for child in root:
        if child.tag == "Quiet":
            quiet_seen += 1
            quiet = (child.text or "").lower() == "true"
        elif child.tag == "Object":
            key: Optional[str] = None
            version: Optional[str] = None
            seen: set[str] = set()
            for part in child:
                if part.tag not in ("Key", "VersionId") or part.tag in seen:
                    raise S3Error("MalformedXML")
                seen.add(part.tag)
                if part.tag == "Key":
                    key = part.text or ""
                else:
                    version = part.text or ""
            if key is None:
                raise S3Error("MalformedXML")
            if not key:
                raise S3Error("UserKeyMustBeSpecified")
            keys.append((key, version))
        else:
            raise S3Error("MalformedXML")
    if quiet_seen > 1 or not keys or len(keys) > most:
        raise S3Error("MalformedXML")
    return keys, quiet


async def _delete_one(request: S3Request, key: str, version: Optional[str]
                      ) -> Optional[dict[str, str]]:
    wsgi_key = str_to_wsgi(key)
    try:
        try:
            query = await request.manifest_delete_query(wsgi_key, version)
        except S3Error as error:
            if error.code != "NoSuchKey":
                raise
            query = {}
        if version:
            query["version-id"] = version
            query["symlink"] = "get"
        result = await request.call("DELETE", key=wsgi_key, query=query,
                                    headers={"Accept": "application/json"})
        if query.get("multipart-manifest") and result.status != 204:
            try:
                outcome = json.loads(await read_body(result.body))
                if outcome["Errors"]:
                    lines = [outcome["Response Status"]] + [
                        f"{name}: {status}" for name, status in outcome["Errors"]]
                    return {"code": "SLODeleteError", "message": "\n".join(lines)}
            except (ValueError, TypeError, KeyError):
                return {"code": "SLODeleteError", "message": "Unexpected swift response"}
        else:
            drop_body(result.body)
    except S3Error as error:
        if error.code == "NoSuchKey":
            return None
        return {"code": error.code, "message": error.message}
    except Exception:
        return {"code": "Server Error", "message": "Server Error"}
    return None


async def multi_delete_handler(request: S3Request) -> SwiftResponse:
    """
    POST C{?delete} on a bucket.
    """
    if request.method != "POST":
        raise S3Error("MethodNotAllowed", method=request.method,
                      resource_type="MULTI_OBJECT_DELETE")
    request.key = None
    most = request.options.max_multi_delete_objects
    limit = min(2 * most * request.options.max_object_name_length, 10 * 1024 * 1024)
    body = await request.xml(limit)
    if not body:
        raise S3Error("MissingRequestBodyError")
    request.require_md5(body)
    keys, quiet = _keys(body, most)
    root = element("DeleteResult")
    try:
        head = await request.call("HEAD")
        drop_body(head.body)
    except S3Error as error:
        if error.code != "AccessDenied":
            raise
        for key, version in keys:
            node = sub(root, "Error")
            sub(node, "Key", key)
            if version is not None:
                sub(node, "VersionId", version)
            sub(node, "Code", error.code)
            sub(node, "Message", error.message)
        return xml_response(to_xml(root), content_type=None)
    if not request.options.object_versioning and any(
            version not in ("null", None) for _key, version in keys):
        raise S3Error("NotImplemented")
    semaphore = DeferredSemaphore(request.options.multi_delete_concurrency)

    def run(key: str, version: Optional[str]) -> Any:
        from twisted.internet.defer import Deferred

        return semaphore.run(lambda: Deferred.fromCoroutine(_delete_one(request, key, version)))

    outcomes = await gatherResults([run(key, version) for key, version in keys])
    for (key, _version), problem in zip(keys, outcomes):
        if problem:
            node = sub(root, "Error")
            sub(node, "Key", key)
            sub(node, "Code", problem["code"])
            sub(node, "Message", problem["message"])
        elif not quiet:
            node = sub(root, "Deleted")
            sub(node, "Key", key)
    return xml_response(to_xml(root), content_type=None)
