# -*- test-case-name: tests.test_s3api_request -*-
"""
One S3 request: reading it (signature, bucket and key, headers, body
checks) as Swift's C{S3Request} does, and the Swift sub-requests made for
it, sent down the rest of the pipeline (where the auth plugin checks the
signature and puts the account in the path) with Swift's answers turned
into S3 errors by Swift's rules.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import string
from email.header import Header
from typing import Any, Optional
from urllib.parse import parse_qsl, quote, unquote

from twisted_proxy.info.cache import ContainerInfo, InfoCache
from twisted_proxy.interfaces import IProxyApplication
from twisted_proxy.plugins._support.subrequest import (
    BodyTooLarge,
    consume_body,
    drop_body,
    fetch_container_info,
    preauthorized,
    read_body,
    sub_environ,
)
from twisted_proxy.plugins.s3api.acl import translate_canned_acl
from twisted_proxy.plugins.s3api.bodies import (
    AwsChunkedDecoder,
    BodyCheck,
    ChecksumCheck,
    InputBody,
    InputError,
    InputErrors,
    SHA256Check,
    strict_b64decode,
)
from twisted_proxy.plugins.s3api.checksums import CHECKSUM_HEADERS, Hasher, new_hasher
from twisted_proxy.plugins.s3api.errors import S3Error
from twisted_proxy.plugins.s3api.options import S3Options
from twisted_proxy.plugins.s3api.response import S3Result
from twisted_proxy.plugins.s3api.signing import (
    S3Signature,
    SigningOptions,
    compute_string_to_sign,
    header_strip,
    parse_signature,
)
from twisted_proxy.swift.constraints import check_utf8
from twisted_proxy.swift.http import (
    Body,
    BytesBody,
    HeaderDict,
    SwiftRequest,
    str_to_wsgi,
    wire_quote,
    wsgi_to_str,
)
from twisted_proxy.swift.paths import split_path
from twisted_proxy.swift.ranges import parse_range_header

__all__ = [
    "CLIENT_BODY",
    "MULTIUPLOAD_SUFFIX",
    "S3Request",
    "input_error",
    "parse_host",
    "validate_bucket_name",
]

MULTIUPLOAD_SUFFIX = "+segments"
MAX_32BIT_INT = 2147483647

#: Headers a client may not send through S3 (they would make Swift links).
_DISALLOWED = frozenset(("x-copy-from", "x-copy-from-account", "x-symlink-target",
                         "x-symlink-target-account", "x-object-manifest",
                         "x-static-large-object"))

_STREAMING = frozenset((
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
))

#: Marks the sub-request that takes the client's own body.
CLIENT_BODY: Any = object()

_IP = re.compile(r"^(([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\.){3}"
                 r"([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])$")


def validate_bucket_name(name: str, dns_compliant: bool) -> bool:
    """
    Whether C{name} is a valid bucket name by S3's rules (Swift's).
    """
    valid = "-.a-z0-9" if dns_compliant else "-.a-z0-9A-Z_"
    longest = 63 if dns_compliant else 255
    if len(name) < 3 or len(name) > longest or not name[0].isalnum():
        return False
    if dns_compliant and (".-" in name or "-." in name or ".." in name
                          or not name[-1].isalnum()):
        return False
    if name.endswith(".") or _IP.match(name):
        return False
    return re.match(f"^[{valid}]*$", name) is not None


def parse_host(host: Optional[str], storage_domains: list[str]) -> Optional[str]:
    """
    The bucket of a virtual-hosted-style C{host} (C{bucket.<domain>}), or
    C{None}.
    """
    if not host:
        return None
    if ":" in host:
        host = host.rsplit(":", 1)[0]
    for domain in storage_domains:
        if not domain.startswith("."):
            domain = "." + domain
        if host.endswith(domain):
            return host[:-len(domain)]
    return None


def input_error(error: InputError, signature: S3Signature) -> S3Error:
    """
    The S3 answer to a body that failed a check.
    """
    kind, details = error.kind, error.details
    if kind == "incomplete":
        return S3Error("IncompleteBody", "The request body terminated unexpectedly")
    if kind == "sha256":
        return S3Error("XAmzContentSHA256Mismatch",
                       client_computed_content_s_h_a256=details["expected"],
                       s3_computed_content_s_h_a256=details["computed"])
    if kind == "checksum":
        return S3Error("BadDigest",
                       f"The {details['name']} you specified did not match the "
                       "calculated checksum.")
    if kind == "checksum-trailer":
        return S3Error("InvalidRequest",
                       f"Value for {details['name']} trailing header is invalid.")
    if kind == "chunk-signature":
        return signature.mismatch_error()
    if kind == "size":
        return S3Error("IncompleteBody", number_bytes_expected=details["expected"],
                       number_bytes_provided=details["provided"])
    if kind == "chunk-too-small":
        return S3Error("InvalidChunkSizeError", chunk=details["number"],
                       bad_chunk_size=details["size"])
    if kind == "malformed-trailer":
        return S3Error("MalformedTrailerError")
    if kind == "missing-secret":
        return S3Error("NotImplemented", "Transferring payloads in multiple chunks using "
                       "aws-chunked is not supported.")
    return S3Error("InternalError")


def _success_codes(method: str, container: Optional[str], obj: Optional[str]) -> tuple[int, ...]:
    """
    The Swift statuses that mean success, by Swift's s3api.
    """
    if not container:
        return {"GET": (200,)}.get(method, ())
    if not obj:
        return {"HEAD": (204,), "GET": (200, 204), "PUT": (201,), "POST": (204,),
                "DELETE": (204,)}.get(method, ())
    return {"HEAD": (200, 206, 304), "GET": (200, 206, 304), "PUT": (201, 202),
            "POST": (202,), "DELETE": (200, 204)}.get(method, ())


def _sanitize(value: str) -> str:
    if set(value).issubset(string.printable):
        return value
    encoded = Header(value, "UTF-8").encode()
    if encoded.startswith("=?utf-8?q?"):
        return "=?UTF-8?Q?" + encoded[10:]
    if encoded.startswith("=?utf-8?b?"):
        return "=?UTF-8?B?" + encoded[10:]
    return encoded


def _checksum_headers(headers: HeaderDict) -> dict[str, str]:
    found = {name.lower(): value for name, value in headers.items()
             if name.lower().startswith("x-amz-checksum-")
             and name.lower() not in ("x-amz-checksum-algorithm", "x-amz-checksum-type")}
    if any(name not in CHECKSUM_HEADERS for name in found):
        raise S3Error("InvalidRequest", "The algorithm type you specified in "
                      "x-amz-checksum- header is invalid.")
    _cardinality(len(found))
    return found


def _cardinality(count: int, headers_and_trailer: bool = False) -> None:
    if count > 1:
        message = "Expecting a single x-amz-checksum- header"
        if not headers_and_trailer:
            message += ". Multiple checksum Types are not allowed."
        raise S3Error("InvalidRequest", message)


def _trailer_names(headers: HeaderDict) -> list[str]:
    value = headers.get("x-amz-trailer", "").strip()
    names = [item.strip() for item in value.rstrip(",").split(",")] if value else []
    if any(name not in CHECKSUM_HEADERS for name in names):
        raise S3Error("InvalidRequest",
                      "The value specified in the x-amz-trailer header is not supported")
    _cardinality(len(names))
    return names


class S3Request:
    """
    A client's S3 request, read and checked.

    @ivar swift: the client's request (its headers are changed in place:
        translated, and stripped of what S3 clients may not send).
    @ivar bucket: the bucket (a WSGI string), or C{None} for the service.
    @ivar key: the object key (a WSGI string), or C{None}.
    @ivar signature: the L{S3Signature}.
    @ivar account: the Swift account, once a sub-request learned it.
    @ivar user_id: who S3 says owns things (the access key, as Swift's
        s3api with tempauth).
    @ivar body: the client's body through its checks, or C{None}.
    """

    def __init__(self, swift: SwiftRequest, options: S3Options, app: IProxyApplication,
                 info_cache: InfoCache, now: float,
                 policy_names: Optional[dict[str, str]] = None) -> None:
        self.policy_names = policy_names or {}
        self.swift = swift
        self.options = options
        self.app = app
        self.info_cache = info_cache
        self.now = now
        self.method = swift.method
        self.headers = swift.headers
        self.params = swift.params
        self.environ = swift.environ
        self.input_errors = InputErrors()
        self.account: Optional[str] = None
        self.user_id: Optional[str] = None
        self.body: Optional[Body] = swift.body
        self.content_length: Optional[int] = None
        self.bucket: Optional[str] = None
        self.key: Optional[str] = None
        self.bucket_in_host: Optional[str] = None
        self.signature: S3Signature
        self.location = options.location

    # -- reading the request -------------------------------------------

    async def read(self) -> None:
        """
        Check the request as Swift's s3api does before handling it.

        @raise NotS3Request: it carries no S3 credentials.
        @raise S3Error: for whatever is wrong with it.
        """
        options = self.options
        self.bucket_in_host = parse_host(self.headers.get("Host") or
                                         self.environ.get("SERVER_NAME"),
                                         options.storage_domains)
        signing = SigningOptions(options.location, options.allowable_clock_skew, self.now,
                                 self.bucket_in_host)
        self.signature = parse_signature(self.swift, signing)
        self.location = self.signature.location
        signing.location = self.location
        self._parse_path()
        await self._validate_headers()
        compute_string_to_sign(self.signature, self.swift, signing)
        aws_sha256 = self.headers.get("x-amz-content-sha256")
        if self.method in ("PUT", "POST"):
            self._install_body_checks(aws_sha256)
        self.environ["s3api.auth_details"] = self.signature
        key = self.signature.access_key
        self.environ.setdefault("swift.access_logging", {}).setdefault(
            "user_id", key[:125] + "..." if len(key) > 128 else key)
        for name in list(self.headers):
            if name.lower() in _DISALLOWED:
                del self.headers[name]

    def _parse_path(self) -> None:
        if not check_utf8(self.swift.path) and self.swift.path != "/":
            raise S3Error("InvalidURI", uri=self.swift.path)
        if self.bucket_in_host:
            self.bucket = self.bucket_in_host
            self.key = self.swift.path[1:] or None
            return
        try:
            bucket, key = split_path(self.swift.path, 0, 2, True)
        except ValueError:
            raise S3Error("InvalidURI", uri=self.swift.path) from None
        if bucket and not validate_bucket_name(bucket, self.options.dns_compliant_bucket_names):
            raise S3Error("InvalidBucketName", bucket_name=bucket)
        self.bucket = bucket or None
        self.key = key or None

    async def _validate_headers(self) -> None:
        headers = self.headers
        if "Content-Length" in headers:
            try:
                self.content_length = self.swift.content_length
            except ValueError:
                raise S3Error("InvalidArgument", argument_name="Content-Length",
                              argument_value=headers["Content-Length"]) from None
        if self.method == "PUT" and (
                any(name in headers for name in
                    ("If-Match", "If-Modified-Since", "If-Unmodified-Since"))
                or headers.get("If-None-Match", "*") != "*"):
            raise S3Error("NotImplemented", "Conditional object PUTs are not supported.")
        if "X-Amz-Copy-Source" in headers:
            source = unquote(headers["X-Amz-Copy-Source"].partition("?")[0])
            if not source.startswith("/"):
                source = "/" + source
            try:
                split_path(source, 2, 2, True)
            except ValueError:
                raise S3Error(
                    "InvalidArgument", "Copy Source must mention the source bucket and key: "
                    "sourcebucket/sourcekey", argument_name="x-amz-copy-source",
                    argument_value=headers["X-Amz-Copy-Source"]) from None
        if "x-amz-metadata-directive" in headers:
            value = headers["x-amz-metadata-directive"]
            if value not in ("COPY", "REPLACE"):
                raise S3Error("InvalidArgument", "Unknown metadata directive.",
                              argument_name="x-amz-metadata-directive",
                              argument_value=value)
        if "x-amz-storage-class" in headers and headers["x-amz-storage-class"] != "STANDARD":
            raise S3Error("InvalidStorageClass")
        if "x-amz-mfa" in headers:
            raise S3Error("NotImplemented", "MFA Delete is not supported.")
        sse = headers.get("x-amz-server-side-encryption")
        if sse is not None:
            if sse not in ("aws:kms", "AES256"):
                raise S3Error("InvalidArgument",
                              "The encryption method specified is not supported",
                              argument_name="x-amz-server-side-encryption",
                              argument_value=sse)
            raise S3Error("NotImplemented", "Server-side encryption is not supported.")
        if "x-amz-website-redirect-location" in headers:
            raise S3Error("NotImplemented", "Website redirection is not supported.")
        await self._validate_sha256()
        md5 = header_strip(headers.get("Content-MD5"))
        if md5 is not None:
            if not re.match("^[A-Za-z0-9+/]+={0,2}$", md5):
                raise S3Error("InvalidDigest", content_m_d5=md5)
            try:
                etag = binascii.b2a_hex(binascii.a2b_base64(md5)).decode("ascii")
            except binascii.Error:
                raise S3Error("InvalidDigest", content_m_d5=md5) from None
            if len(etag) != 32:
                raise S3Error("InvalidDigest", content_m_d5=md5)
            headers["ETag"] = etag
        if "x-amz-tagging" in headers:
            raise S3Error("NotImplemented", "Object tagging is not supported.")

    async def _validate_sha256(self) -> None:
        aws_sha256 = self.headers.get("x-amz-content-sha256")
        v4 = self.signature.version == 4
        if not aws_sha256:
            if v4 and not self.signature.query_auth:
                raise S3Error("InvalidRequest", "Missing required header for this request: "
                              "x-amz-content-sha256")
            return
        looks_like = len(aws_sha256) == 64 and all(
            c in "0123456789abcdef" for c in aws_sha256.lower())
        if aws_sha256 == "UNSIGNED-PAYLOAD":
            return
        if aws_sha256 in _STREAMING:
            try:
                decoded = int(self.headers.get("x-amz-decoded-content-length", ""))
            except ValueError:
                raise S3Error("MissingContentLength") from None
            if decoded < 0:
                raise S3Error("InvalidArgument", argument_name="x-amz-decoded-content-length",
                              argument_value=decoded)
            if not v4 or self.signature.query_auth:
                if decoded < (self.content_length or 0):
                    raise S3Error("IncompleteBody", number_bytes_expected=decoded,
                                  number_bytes_provided=self.content_length)
                hasher = hashlib.sha256()
                await consume_body(self.body, hasher.update)
                self.body = None
                raise S3Error("XAmzContentSHA256Mismatch",
                              client_computed_content_s_h_a256=aws_sha256,
                              s3_computed_content_s_h_a256=hasher.hexdigest())
            if aws_sha256.startswith("STREAMING-AWS4-ECDSA"):
                raise S3Error("NotImplemented",
                              f"Don't know how to validate {aws_sha256} streams")
            return
        if not looks_like and v4 and not self.signature.query_auth:
            raise S3Error(
                "InvalidArgument",
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
                argument_name="x-amz-content-sha256", argument_value=aws_sha256)

    def _checksum(self) -> tuple[Optional[Hasher], Optional[str], Optional[str]]:
        found = _checksum_headers(self.headers)
        trailers = _trailer_names(self.headers)
        _cardinality(len(found) + len(trailers), headers_and_trailer=True)
        hasher: Optional[Hasher] = None
        header = trailer = None
        if found:
            header, value = next(iter(found.items()))
            hasher = new_hasher(header)
            try:
                strict_b64decode(value, hasher.digest_size)
            except ValueError:
                raise S3Error("InvalidRequest",
                              f"Value for {header} header is invalid.") from None
        elif trailers:
            trailer = trailers[0]
            hasher = new_hasher(trailer)
        algorithm = self.headers.get("x-amz-sdk-checksum-algorithm")
        if algorithm:
            if hasher is None:
                raise S3Error("InvalidRequest", "x-amz-sdk-checksum-algorithm specified, but "
                              "no corresponding x-amz-checksum-* or x-amz-trailer headers "
                              "were found.")
            if algorithm.lower() != hasher.name:
                raise S3Error("InvalidRequest",
                              "Value for x-amz-sdk-checksum-algorithm header is invalid.")
        return hasher, header, trailer

    def _install_body_checks(self, aws_sha256: Optional[str]) -> None:
        hasher, header, trailer = self._checksum()
        checks: list[BodyCheck] = []
        length: Optional[int] = self.content_length
        expected_value: Any = None
        if aws_sha256 in _STREAMING:
            self._drop_aws_chunked_encoding()
            length = int(self.headers["x-amz-decoded-content-length"])
            expected: set[str] = set()
            if aws_sha256 == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER":
                expected.add("x-amz-trailer-signature")
            if trailer:
                expected.add(trailer)
            decoder = AwsChunkedDecoder(
                length, expected,
                None if aws_sha256 == "STREAMING-UNSIGNED-PAYLOAD-TRAILER" else self.signature)
            checks.append(decoder)
            if trailer:
                expected_value = lambda: decoder.trailers.get(trailer)  # noqa: E731
            self.headers["Content-Length"] = str(length)
            self.headers.pop("Transfer-Encoding", None)
            self.content_length = length
        elif trailer:
            raise S3Error("MalformedTrailerError")
        elif aws_sha256 not in (None, "UNSIGNED-PAYLOAD") and length is not None:
            assert aws_sha256 is not None
            if length == 0 and hashlib.sha256().hexdigest() != aws_sha256.lower():
                raise S3Error("XAmzContentSHA256Mismatch",
                              client_computed_content_s_h_a256=aws_sha256,
                              s3_computed_content_s_h_a256=hashlib.sha256().hexdigest())
            checks.append(SHA256Check(length, aws_sha256))
        if expected_value is None and header is not None:
            value = self.headers.get(header)
            expected_value = lambda: value  # noqa: E731
        verify = self.method == "PUT" or (self.method == "POST" and "delete" in self.params)
        if hasher is not None and verify and length is not None:
            checks.append(ChecksumCheck(length, hasher, expected_value, trailer or header))
        if checks and self.body is not None and not isinstance(self.body, bytes):
            self.body = InputBody(self.body, length, checks, self.input_errors)

    def _drop_aws_chunked_encoding(self) -> None:
        encoding = self.headers.get("Content-Encoding", "")
        if "aws-chunked" not in encoding:
            return
        del self.headers["Content-Encoding"]
        kept = ", ".join(item.strip() for item in encoding.split(",")
                         if item.strip() and item.strip() != "aws-chunked")
        if kept:
            self.headers["Content-Encoding"] = kept

    # -- what handlers ask ---------------------------------------------

    @property
    def is_service(self) -> bool:
        return not self.bucket

    @property
    def is_bucket(self) -> bool:
        return bool(self.bucket) and not self.key

    @property
    def is_object(self) -> bool:
        return bool(self.bucket) and bool(self.key)

    def has_range(self) -> bool:
        try:
            return bool(parse_range_header(self.headers.get("Range")))
        except ValueError:
            return False

    def validate_part_number(self, parts_count: object = None,
                             check_max: bool = True) -> Optional[int]:
        """
        The C{partNumber} parameter, checked (Swift's rules).

        @raise S3Error: C{InvalidArgument} out of range, C{InvalidPartNumber}
            beyond C{parts_count}, C{InvalidRequest} with a C{Range}.
        """
        text = self.params.get("partNumber")
        if text is None:
            return None
        if self.has_range():
            raise S3Error("InvalidRequest",
                          "Cannot specify both Range header and partNumber query parameter")
        try:
            count = int(parts_count)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            count = self.options.max_upload_part_num
        most = max(self.options.max_upload_part_num, count)
        message = f"Part number must be an integer between 1 and {most}, inclusive"
        try:
            number = int(text)
            if number < 1:
                raise ValueError(text)
        except ValueError:
            raise S3Error("InvalidArgument", message, argument_name="partNumber",
                          argument_value=text) from None
        if check_max:
            if number > most:
                raise S3Error("InvalidArgument", message, argument_name="partNumber",
                              argument_value=number)
            if number > count:
                raise S3Error("InvalidPartNumber")
        return number

    def utf8_param(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """
        A text parameter (decoded from UTF-8), or C{default}.

        @raise S3Error: C{InvalidArgument} when it is not UTF-8.
        """
        value = self.params.get(name, default)
        if value is None:
            return None
        if value and not check_utf8(value):
            raise S3Error("InvalidArgument", argument_name=name,
                          argument_value=quote(value.encode("latin-1")))
        return wsgi_to_str(value)

    def validated_param(self, name: str, default: int, limit: int = MAX_32BIT_INT) -> int:
        """
        An integer parameter between 0 and C{limit} (larger ones are cut).
        """
        if name not in self.params:
            return default
        text = self.params[name]
        try:
            value = int(text)
        except ValueError:
            value = -1
            bad = True
        else:
            bad = False
        if not bad and value < 0:
            raise S3Error("InvalidArgument",
                          f"Argument {name} must be an integer between 0 and {MAX_32BIT_INT}",
                          argument_name=name, argument_value=text)
        if bad or value > MAX_32BIT_INT:
            raise S3Error("InvalidArgument",
                          f"Provided {name} not an integer or within integer range",
                          argument_name=name, argument_value=text)
        return min(value, limit)

    async def xml(self, max_length: int) -> Optional[bytes]:
        """
        The request's (small) XML body, or C{None} when it has none.

        @raise S3Error: C{MalformedXML} when longer than C{max_length}.
        """
        encodings = [item.strip() for item in
                     self.headers.get("Transfer-Encoding", "").split(",") if item.strip()]
        if encodings and (len(encodings) > 1 or encodings[-1] != "chunked"):
            raise S3Error("NotImplemented", "A header you provided implies functionality "
                          "that is not implemented", header="Transfer-Encoding")
        length = self.content_length
        if length and length > max_length:
            raise S3Error("MalformedXML")
        if not encodings and not length:
            return None
        body, self.body = self.body, None
        try:
            data = await read_body(body, max_length)
        except BodyTooLarge:
            raise S3Error("MalformedXML") from None
        except InputError as error:
            raise input_error(error, self.signature) from None
        return data

    def check_md5(self, body: bytes) -> bool:
        """
        Check C{Content-MD5} against C{body}, when sent.

        @raise S3Error: C{BadDigest} for a mismatch.
        """
        sent = self.headers.get("Content-MD5")
        if not sent:
            return False
        digest = base64.b64encode(hashlib.md5(body).digest()).decode("ascii")
        if sent != digest:
            raise S3Error("BadDigest", expected_digest=sent)
        return True

    def require_md5(self, body: bytes) -> None:
        """
        A body that must come with C{Content-MD5} or a checksum header.
        """
        names = list(CHECKSUM_HEADERS) + ["content-md5"]
        if not any(name in self.headers for name in names):
            raise S3Error("InvalidRequest", "Missing required header for this request: "
                          "Content-MD5 OR x-amz-checksum-*")
        self.check_md5(body)

    # -- sub-requests ----------------------------------------------------

    def _translated_headers(self, method: str) -> tuple[HeaderDict, str]:
        """
        The client's headers as Swift's: C{x-amz-meta-*} as object
        metadata, a copy source as C{X-Copy-From}; and the copy source's
        version.
        """
        headers = HeaderDict()
        meta: list[tuple[str, str]] = []
        for name, value in self.headers.items():
            lowered = name.lower()
            if lowered.startswith("x-amz-meta-"):
                if any(c in name for c in ' "),/;<=>?@[\\]{}'):
                    continue
                meta.append((name, value))
                continue
            headers[name] = value
        for name, value in meta:
            # Swift's s3api keeps underscores as "=5F"; Twisted's HTTP client
            # refuses "=" in a header name, so they go as they are.
            swift_name = "X-Object-Meta-" + name[11:]
            if swift_name in headers:
                headers[swift_name] = headers[swift_name] + "," + _sanitize(value)
            else:
                headers[swift_name] = _sanitize(value)
        version = ""
        if "X-Amz-Copy-Source" in headers and method == "PUT":
            source = headers.pop("X-Amz-Copy-Source")
            copy_from, _, version = source.partition("?versionId=")
            headers["X-Copy-From"] = copy_from
            headers["Content-Length"] = "0"
            if headers.pop("x-amz-metadata-directive", None) == "REPLACE":
                headers["X-Fresh-Metadata"] = "True"
            else:
                for name in ("Content-Disposition", "Content-Encoding", "Content-Language",
                             "Content-Type", "Expires", "Cache-Control", "X-Robots-Tag"):
                    headers.pop(name, None)
                for name in list(headers):
                    if name.lower().startswith("x-object-meta-"):
                        del headers[name]
        return headers, version

    def _account_segment(self) -> str:
        return self.account if self.account is not None else str_to_wsgi(
            self.signature.access_key)

    def _handle_acl_header(self) -> None:
        canned = self.headers.pop("X-Amz-Acl")
        for name, value in translate_canned_acl(canned):
            self.headers[name] = value

    async def call(self, method: Optional[str] = None, bucket: Optional[str] = None,
                   key: Optional[str] = None, headers: Optional[dict[str, Optional[str]]] = None,
                   body: Any = None, query: Optional[dict[str, Any]] = None) -> S3Result:
        """
        Send a Swift request for this S3 request down the pipeline and
        judge its answer by Swift's s3api rules.

        @param method: default the client's.
        @param bucket: the container, default the request's bucket; C{""}
            for the account.
        @param key: the object, default the request's key; C{""} for none.
        @param headers: over the client's (translated) headers; C{None}
            values remove one.
        @param body: C{bytes}, L{CLIENT_BODY} for the client's body, or
            C{None}.
        @return: the answer, a success; its body is the caller's to read or
            drop.
        @raise S3Error: for an error answer.
        """
        if "X-Amz-Acl" in self.headers:
            self._handle_acl_header()
        method = method or self.method
        container = self.bucket if bucket is None else bucket
        obj = self.key if key is None else key
        sub = self.sub_request(method, container, obj, headers, body, query)
        try:
            response = await self.app(sub)
        finally:
            self._learn_account(sub)
        if self.input_errors.error is not None:
            drop_body(response.body)
            raise input_error(self.input_errors.error, self.signature)
        if self.user_id is None:
            self.user_id = self.signature.access_key
        result = S3Result(response.status, response.headers, response.body)
        if response.status in _success_codes(method, container, obj):
            return result
        await self._raise_for(result, method, container, obj, sub)
        raise AssertionError("unreachable")

    def sub_request(self, method: str, container: Optional[str], obj: Optional[str],
                    headers: Optional[dict[str, Optional[str]]] = None, body: Any = None,
                    query: Optional[dict[str, Any]] = None) -> SwiftRequest:
        """
        The Swift request for C{method} on C{container}/C{obj} as this
        client.
        """
        account = self._account_segment()
        if obj:
            path = f"/v1/{account}/{container}/{obj}"
        elif container:
            path = f"/v1/{account}/{container}"
        else:
            path = f"/v1/{account}"
        translated, copy_version = self._translated_headers(method)
        params = []
        for name, value in sorted((query or {}).items()):
            if value is not None:
                params.append(f"{name}={quote(str(value))}")
            else:
                params.append(name)
        if copy_version and not (query and query.get("version-id")):
            params.append("version-id=" + copy_version)
        raw_uri = wire_quote(path).encode("ascii")
        if params:
            raw_uri += b"?" + "&".join(params).encode("latin-1")
        environ = sub_environ(self.environ, "S3")
        environ["swift.sysmeta_ok"] = True
        if self.options.force_swift_request_proxy_log:
            environ["swift.proxy_access_log_made"] = False
        for name, value in (headers or {}).items():
            if value is None:
                translated.pop(name, None)
            else:
                translated[name] = value
        producer: Optional[Body]
        if body is CLIENT_BODY:
            producer, self.body = self.body, None
        else:
            producer = body
            for name in ("Transfer-Encoding", "Content-Length"):
                translated.pop(name, None)
            if isinstance(body, bytes):
                translated["Content-Length"] = str(len(body))
        if isinstance(producer, bytes):
            producer = BytesBody(producer) if producer else None
        sub = SwiftRequest(method, raw_uri, translated, producer,  # type: ignore[arg-type]
                           self.swift.client_ip, environ)
        return sub

    def _learn_account(self, sub: SwiftRequest) -> None:
        try:
            account = split_path(sub.path, 2, 3, True)[1]
        except ValueError:
            return
        self.account = account
        self.environ["s3api.backend_path"] = sub.path

    async def _raise_for(self, result: S3Result, method: str, container: Optional[str],
                         obj: Optional[str], sub: SwiftRequest) -> None:
        status = result.status
        try:
            message = await read_body(result.body, 65536)
        except Exception:
            message = b""
        table: dict[str, dict[int, Any]]
        if not container:
            table = {}
        elif not obj:
            table = {
                "HEAD": {404: ("NoSuchBucket", container)},
                "GET": {404: ("NoSuchBucket", container)},
                "PUT": {202: "bucket-exists"},
                "POST": {404: ("NoSuchBucket", container)},
                "DELETE": {404: ("NoSuchBucket", container), 409: ("BucketNotEmpty",)},
            }
        else:
            table = {
                "HEAD": {404: "not-found", 412: ("PreconditionFailed",)},
                "GET": {404: "not-found", 412: ("PreconditionFailed",)},
                "PUT": {404: ("NoSuchBucket", container), 422: "bad-digest",
                        413: ("EntityTooLarge",), 411: ("MissingContentLength",),
                        408: ("RequestTimeout",), 412: ("PreconditionFailed",),
                        499: ("RequestTimeout",)},
                "POST": {404: "not-found", 412: ("PreconditionFailed",)},
                "DELETE": {404: ("NoSuchKey", obj)},
            }
        errors = table.get(method, {})
        if status in errors:
            how = errors[status]
            if how == "bucket-exists":
                info = await self.container_info_of(container or "")
                owner = None
                acl = info.get("sysmeta", {}).get("s3api-acl")
                if acl:
                    try:
                        owner = json.loads(acl).get("Owner")
                    except (ValueError, AttributeError):
                        owner = None
                if owner is None or owner == self.user_id:
                    raise S3Error("BucketAlreadyOwnedByYou", bucket_name=container)
                raise S3Error("BucketAlreadyExists", bucket_name=container)
            if how == "not-found":
                if (container or "").endswith(MULTIUPLOAD_SUFFIX):
                    raise S3Error("NoSuchKey", key=obj)
                info = await self.container_info_of(container or "")
                if 200 <= info.get("status", 0) < 300:
                    raise S3Error("NoSuchKey", key=obj)
                raise S3Error("NoSuchBucket", bucket_name=container)
            if how == "bad-digest":
                md5 = self.headers.get("Content-MD5", "")
                try:
                    expected = binascii.hexlify(base64.b64decode(md5)).decode("ascii")
                except (binascii.Error, ValueError):
                    expected = md5
                raise S3Error("BadDigest", expected_digest=expected)
            code = how[0]
            if len(how) > 1:
                field = {"NoSuchBucket": "bucket_name", "NoSuchKey": "key"}[code]
                raise S3Error(code, **{field: how[1]})
            if b"quota" in message:
                raise S3Error(code, message.decode("utf-8", "replace"))
            if code == "RequestTimeout":
                raise S3Error(code, headers={"Connection": "close"})
            raise S3Error(code)
        if status == 400:
            text = message.decode("utf-8", "replace")
            if "X-Delete-At" in text:
                raise S3Error("InvalidArgument", text, argument_name="X-Delete-At",
                              argument_value=self.headers.get("X-Delete-At"))
            if "X-Delete-After" in text:
                raise S3Error("InvalidArgument", text, argument_name="X-Delete-After",
                              argument_value=self.headers.get("X-Delete-After"))
            raise S3Error("InvalidRequest", text)
        if status == 401:
            raise self.signature.mismatch_error()
        if status == 403:
            raise S3Error("AccessDenied")
        if status == 416:
            self.validate_part_number(parts_count=result.headers.get("x-amz-mp-parts-count"))
            raise S3Error("InvalidRange")
        if status == 503:
            raise S3Error("ServiceUnavailable")
        if status in (498, 429):
            if self.options.ratelimit_as_client_error:
                raise S3Error("SlowDown", status=429)
            raise S3Error("SlowDown")
        if status == 409:
            if self.method == "GET":
                raise S3Error("BrokenMPU")
            raise S3Error("ServiceUnavailable")
        raise S3Error("InternalError", f"unexpected status code {status}")

    async def authenticate(self) -> None:
        """
        Learn the account (Swift's C{TEST} request), once.

        @raise S3Error: C{SignatureDoesNotMatch} when the auth plugin did
            not accept the signature.
        """
        if self.account is not None and self.user_id is not None:
            return
        sub = self.sub_request("TEST", None, None)
        sub.environ["swift.proxy_access_log_made"] = True
        response = await self.app(sub)
        drop_body(response.body)
        if not sub.environ.get("REMOTE_USER"):
            raise self.signature.mismatch_error()
        self._learn_account(sub)
        if self.user_id is None:
            self.user_id = self.signature.access_key

    async def container_info_of(self, container: str) -> ContainerInfo:
        """
        The info of C{container} in the client's account (authenticating
        first when need be).
        """
        if self.account is None:
            await self.authenticate()
        assert self.account is not None
        return await fetch_container_info(self.swift, self.app, self.info_cache, "v1",
                                          self.account, container, preauthorized("S3"))

    async def container_info(self, container: Optional[str] = None) -> ContainerInfo:
        """
        The info of the request's bucket (or C{container}).

        @raise S3Error: C{NoSuchBucket}, C{ServiceUnavailable} or
            C{InternalError} when it cannot be had.
        """
        name = container or self.bucket or ""
        info = await self.container_info_of(name)
        status = info.get("status", 0)
        if 200 <= status < 300:
            return info
        if status == 404:
            raise S3Error("NoSuchBucket", bucket_name=name)
        if status == 503:
            raise S3Error("ServiceUnavailable")
        raise S3Error("InternalError", f"unexpected status code {status}")

    async def copy_source(self) -> Optional[S3Result]:
        """
        Check C{X-Amz-Copy-Source}: the source exists (its C{HEAD}, with the
        C{x-amz-copy-source-if-*} conditions), and is not the destination
        itself unless metadata is replaced.
        """
        source_header = self.headers.get("X-Amz-Copy-Source")
        if source_header is None:
            return None
        path, _, query_text = source_header.partition("?")
        parsed = parse_qsl(query_text, True)
        query: dict[str, Any] = {}
        if parsed:
            if len(parsed) == 1 and parsed[0][0] == "versionId":
                query = {"version-id": parsed[0][1]}
            else:
                raise S3Error("InvalidArgument", "Unsupported copy source parameter.",
                              argument_name="X-Amz-Copy-Source", argument_value=source_header)
        path = unquote(path)
        if not path.startswith("/"):
            path = "/" + path
        source_bucket, source_key = split_path(path, 0, 2, True)
        conditions: dict[str, Optional[str]] = {}
        for name, value in self.headers.items():
            if name.lower().startswith("x-amz-copy-source-if-"):
                conditions[name[len("x-amz-copy-source-"):]] = value
        conditions["X-Backend-Etag-Is-At"] = "X-Object-Sysmeta-S3api-Etag,"\
            "X-Object-Sysmeta-Swift3-Etag"
        result = await self.call("HEAD", source_bucket or "", str_to_wsgi(source_key or ""),
                                 headers=conditions, query=query)
        drop_body(result.body)
        if result.status == 304:
            raise S3Error("PreconditionFailed")
        if (self.bucket == source_bucket and self.key == source_key
                and self.headers.get("x-amz-metadata-directive", "COPY") == "COPY"
                and not query):
            raise S3Error("InvalidRequest", "This copy request is illegal because it is "
                          "trying to copy an object to itself without changing the object's "
                          "metadata, storage class, website redirect location or encryption "
                          "attributes.")
        normalised = quote(path)
        if query:
            normalised += "?versionId=" + query["version-id"]
        self.headers["X-Amz-Copy-Source"] = normalised
        return result

    def policy_name(self, info: ContainerInfo) -> Optional[str]:
        """
        The name of the storage policy of a container's C{info}.
        """
        return self.policy_names.get(str(info.get("storage_policy", "")))

    async def copy_source_for(self, bucket: str, key: str) -> Optional[S3Result]:
        """
        L{copy_source} for a copy to C{bucket}/C{key} (an upload's part).
        """
        saved = self.bucket, self.key
        self.bucket, self.key = bucket, key
        try:
            return await self.copy_source()
        finally:
            self.bucket, self.key = saved

    async def manifest_delete_query(self, key: Optional[str] = None,
                                    version: Optional[str] = None) -> dict[str, Any]:
        """
        The query deleting C{key} needs: C{multipart-manifest=delete} for a
        multipart upload's manifest.
        """
        if not self.options.allow_multipart_uploads:
            return {}
        query: dict[str, Any] = {"symlink": "get"}
        if version is not None:
            query["version-id"] = version
        result = await self.call("HEAD", key=key, query=query)
        drop_body(result.body)
        if not result.is_slo:
            return {}
        if result.sysmeta.get("x-object-sysmeta-s3api-etag"):
            return {"multipart-manifest": "delete", "async": "on"}
        return {"multipart-manifest": "delete"}


