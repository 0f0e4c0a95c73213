# -*- test-case-name: tests.test_s3api_signing -*-
"""
S3's error responses: an L{S3Error} carries the error's code, HTTP status,
message and extra fields, and renders the XML body S3 clients parse.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from twisted_proxy.plugins.s3api.xmlbody import XMLElement, element, sub, to_xml
from twisted_proxy.swift.http import HeaderDict, SwiftResponse

__all__ = ["S3Error", "NotS3Request"]


#: code: (status, reason, default message), as S3 and Swift's s3api send them.
_ERRORS: dict[str, tuple[int, str, str]] = {
    "AccessDenied": (403, "Forbidden", "Access Denied."),
    "AuthorizationHeaderMalformed": (
        400, "Bad Request",
        "The authorization header is malformed; the authorization header requires "
        "three components: Credential, SignedHeaders, and Signature."),
    "AuthorizationQueryParametersError": (400, "Bad Request", ""),
    "BadDigest": (400, "Bad Request",
                  "The Content-MD5 you specified did not match what we received."),
    "XAmzContentSHA256Mismatch": (
        400, "Bad Request",
        "The provided 'x-amz-content-sha256' header does not match what was computed."),
    "BucketAlreadyExists": (
        409, "Conflict",
        "The requested bucket name is not available. The bucket namespace is shared by "
        "all users of the system. Please select a different name and try again."),
    "BucketAlreadyOwnedByYou": (
        409, "Conflict",
        "Your previous request to create the named bucket succeeded and you already "
        "own it."),
    "BucketNotEmpty": (409, "Conflict", "The bucket you tried to delete is not empty"),
    "EntityTooSmall": (
        400, "Bad Request",
        "Your proposed upload is smaller than the minimum allowed object size."),
    "EntityTooLarge": (
        400, "Bad Request",
        "Your proposed upload exceeds the maximum allowed object size."),
    "IncompleteBody": (
        400, "Bad Request",
        "You did not provide the number of bytes specified by the Content-Length HTTP "
        "header"),
    "InternalError": (500, "Internal Server Error",
                      "We encountered an internal error. Please try again."),
    "InvalidArgument": (400, "Bad Request", "Invalid Argument."),
    "InvalidBucketName": (400, "Bad Request", "The specified bucket is not valid."),
    "InvalidChunkSizeError": (
        403, "Forbidden",
        "Only the last chunk is allowed to have a size less than 8192 bytes"),
    "InvalidDigest": (400, "Bad Request", "The Content-MD5 you specified was invalid."),
    "InvalidLocationConstraint": (400, "Bad Request",
                                  "The specified location constraint is not valid."),
    "InvalidPart": (
        400, "Bad Request",
        "One or more of the specified parts could not be found.  The part may not have "
        "been uploaded, or the specified entity tag may not match the part's entity "
        "tag."),
    "InvalidPartOrder": (
        400, "Bad Request",
        "The list of parts was not in ascending order.Parts list must specified in "
        "order by part number."),
    "InvalidRange": (416, "Requested Range Not Satisfiable",
                     "The requested range cannot be satisfied."),
    "InvalidPartNumber": (416, "Requested Range Not Satisfiable",
                          "The requested partnumber is not satisfiable"),
    "InvalidRequest": (400, "Bad Request", "Invalid Request."),
    "InvalidStorageClass": (400, "Bad Request",
                            "The storage class you specified is not valid."),
    "InvalidURI": (400, "Bad Request", "Couldn't parse the specified URI."),
    "KeyTooLongError": (400, "Bad Request", "Your key is too long."),
    "MalformedACLError": (
        400, "Bad Request",
        "The XML you provided was not well-formed or did not validate against our "
        "published schema."),
    "MalformedTrailerError": (
        400, "Bad Request",
        "The request contained trailing data that was not well-formed or did not "
        "conform to our published schema."),
    "MalformedXML": (
        400, "Bad Request",
        "The XML you provided was not well-formed or did not validate against our "
        "published schema"),
    "MethodNotAllowed": (405, "Method Not Allowed",
                         "The specified method is not allowed against this resource."),
    "MissingContentLength": (411, "Length Required",
                             "You must provide the Content-Length HTTP header."),
    "MissingRequestBodyError": (400, "Bad Request", "Request body is empty."),
    "MissingSecurityHeader": (400, "Bad Request",
                              "Your request was missing a required header."),
    "NoLoggingStatusForKey": (
        400, "Bad Request",
        "There is no such thing as a logging status sub-resource for a key."),
    "NoSuchBucket": (404, "Not Found", "The specified bucket does not exist."),
    "NoSuchKey": (404, "Not Found", "The specified key does not exist."),
    "NoSuchUpload": (
        404, "Not Found",
        "The specified multipart upload does not exist. The upload ID might be invalid, "
        "or the multipart upload might have been aborted or completed."),
    "NoSuchVersion": (404, "Not Found", "The specified version does not exist."),
    "NotImplemented": (501, "Not Implemented", "Not implemented."),
    "ObjectLockConfigurationNotFoundError": (
        404, "Not found", "Object Lock configuration does not exist for this bucket"),
    "PreconditionFailed": (
        412, "Precondition Failed",
        "At least one of the preconditions you specified did not hold."),
    "RequestTimeout": (
        400, "Bad Request",
        "Your socket connection to the server was not read from or written to within "
        "the timeout period."),
    "RequestTimeTooSkewed": (
        403, "Forbidden",
        "The difference between the request time and the current time is too large."),
    "SignatureDoesNotMatch": (
        403, "Forbidden",
        "The request signature we calculated does not match the signature you "
        "provided. Check your key and signing method."),
    "ServiceUnavailable": (503, "Service Unavailable", "Please reduce your request rate."),
    "SlowDown": (503, "Slow Down", "Please reduce your request rate."),
    "UnexpectedContent": (400, "Bad Request", "This request does not support content."),
    "UserKeyMustBeSpecified": (
        400, "Bad Request",
        "The bucket POST must contain the specified field name. If it is specified, "
        "please check the order of the fields."),
    "BrokenMPU": (409, "Conflict", "Multipart upload has broken segment data."),
}


class NotS3Request(Exception):
    """
    The request carries no S3 credentials: it is not for the S3 API.
    """


def _camel(name: str) -> str:
    """
    An extra field's XML element name: C{bucket_name} is C{BucketName}.
    """
    return re.sub(r"\W", "", name.title().replace("_", ""))


class S3Error(Exception):
    """
    An S3 error answer.

    @ivar code: S3's error code (C{NoSuchBucket}).
    @ivar status: the HTTP status; C{reason} its phrase.
    @ivar message: the C{<Message>}.
    @ivar fields: extra elements of the body, in order (C{bucket_name}
        becomes C{<BucketName>}); nested dicts nest.
    @ivar headers: extra response headers.
    """

    def __init__(self, code: str, message: Optional[str] = None, status: Optional[int] = None,
                 reason: Optional[str] = None, headers: Optional[dict[str, str]] = None,
                 **fields: Any) -> None:
        known_status, known_reason, known_message = _ERRORS.get(
            code, (500, "Internal Server Error", ""))
        self.code = code
        self.status = status if status is not None else known_status
        self.reason = reason if reason is not None else known_reason
        self.message = message if message else known_message
        self.fields = fields
        self.headers = dict(headers or {})
        super().__init__(code, self.message)

    def body(self, request_id: Optional[str]) -> bytes:
        """
        The XML document (C{<Error>}) of this error.
        """
        root = element("Error")
        sub(root, "Code", self.code)
        sub(root, "Message", self.message)
        if request_id is not None:
            sub(root, "RequestId", request_id)
        _add_fields(root, self.fields)
        return to_xml(root, namespace=False)

    def response(self, request_id: Optional[str], method: str = "GET") -> SwiftResponse:
        """
        The error as a response; a C{HEAD}'s carries no body but its length.
        """
        body = self.body(request_id)
        headers = HeaderDict({"Content-Type": "application/xml"})
        for name, value in self.headers.items():
            headers[name] = value
        if method == "HEAD":
            headers["Content-Length"] = str(len(body))
            body = b""
        return SwiftResponse(self.status, headers, body, reason=self.reason)

    def __repr__(self) -> str:
        return f"<S3Error {self.code} {self.status}>"


def _add_fields(parent: XMLElement, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if isinstance(value, dict):
            _add_fields(sub(parent, _camel(name)), value)
            continue
        if isinstance(value, bool):
            text = str(value)
        elif isinstance(value, bytes):
            text = value.decode("latin-1")
        elif value is None:
            text = None
        else:
            text = str(value)
        sub(parent, _camel(name), text)
