# -*- test-case-name: tests.test_s3api_signing -*-
"""
AWS request signatures, as Swift's s3api checks them: Signature Version 2
(C{Authorization: AWS key:signature}, or C{AWSAccessKeyId}/C{Signature}/
C{Expires} in the query) and Version 4 (C{Authorization: AWS4-HMAC-SHA256
Credential=..., SignedHeaders=..., Signature=...}, or the C{X-Amz-*} query
parameters of a presigned URL), with their date and expiry rules, and the
chunk and trailer signatures of C{STREAMING-AWS4-HMAC-SHA256-PAYLOAD}
bodies.

Nothing here knows any secret: L{parse_signature} reads what the client
sent and computes the string to sign; the auth plugin that knows the
access key's secret calls L{S3Signature.check_signature} (see
L{twisted_proxy.interfaces.IS3Signature}).
"""

from __future__ import annotations

import base64
import calendar
import email.utils
import hashlib
import hmac
import math
import re
import time
from typing import Mapping, Optional
from urllib.parse import quote

from zope.interface import implementer

from twisted_proxy.interfaces import IS3Signature
from twisted_proxy.plugins.s3api.errors import NotS3Request, S3Error
from twisted_proxy.swift.http import SwiftRequest, wsgi_to_bytes, wsgi_to_str

__all__ = [
    "ALLOWED_SUB_RESOURCES",
    "EMPTY_SHA256",
    "S3Signature",
    "SigningOptions",
    "amz_date",
    "header_strip",
    "is_v4",
    "parse_signature",
    "parse_time",
    "s3_time",
    "wsgi_quote",
]

#: Query parameters Signature V2 signs (every other is left out).
ALLOWED_SUB_RESOURCES = frozenset([
    "acl", "delete", "lifecycle", "location", "logging", "notification",
    "partNumber", "policy", "publicAccessBlock", "requestPayment", "torrent",
    "uploads", "uploadId", "versionId", "versioning", "versions", "website",
    "response-cache-control", "response-content-disposition",
    "response-content-encoding", "response-content-language",
    "response-content-type", "response-expires", "cors", "tagging", "restore",
    "object-lock",
])

#: Headers V4 requires the client to have signed when present.
_MUST_BE_SIGNED = ("x-amz-copy", "x-amz-acl", "x-amz-grant", "x-amz-meta")

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_V2_TIMESTAMP = "%Y-%m-%dT%H:%M:%S"
_V4_DATE = "%Y%m%dT%H%M%SZ"
#: Swift's timestamps stop at 9999999999.99999.
_LATEST = 9999999999.99999

_STRIP = re.compile("^[\x00-\x20]*|[\x00-\x20]*$")


def header_strip(value: Optional[str]) -> Optional[str]:
    """
    A header value without its leading and trailing control characters
    and spaces (as S3 strips them); C{None} for one left empty.
    """
    if value is None:
        return None
    stripped = _STRIP.sub("", value)
    if value and not stripped:
        return None
    return stripped


def wsgi_quote(value: str, safe: str = "/") -> str:
    """
    Percent-quote a WSGI string's bytes.
    """
    return quote(wsgi_to_bytes(value), safe=safe)


def parse_time(text: Optional[str], fmt: str = _V2_TIMESTAMP) -> float:
    """
    Seconds since the epoch of an RFC 2822 date (C{Date} header) or, failing
    that, of C{text} in C{fmt} (UTC).

    @raise ValueError: when it is neither.
    @raise TypeError: for C{None}.
    """
    if text is None:
        raise TypeError("no date")
    parsed = email.utils.parsedate_tz(text)
    if parsed is None:
        struct = time.strptime(text, fmt)
        return float(calendar.timegm(struct))
    offset = parsed[9] or 0
    return float(calendar.timegm(parsed[:9]) - offset)  # type: ignore[arg-type]


def _checked_time(seconds: float) -> float:
    """
    C{seconds} as a signing time: negative ones are no valid date, and ones
    beyond Swift's last timestamp are blamed on the clock.
    """
    if seconds < 0:
        raise S3Error("AccessDenied",
                      "AWS authentication requires a valid Date or x-amz-date header")
    if seconds > _LATEST:
        raise S3Error("RequestTimeTooSkewed")
    return seconds


def amz_date(seconds: float) -> str:
    """
    C{YYYYMMDDTHHMMSSZ}, as V4 signs a time.
    """
    return time.strftime(_V4_DATE, time.gmtime(seconds))


def s3_time(seconds: float) -> str:
    """
    The time S3's XML documents show: C{2009-02-03T16:45:09.000Z}, rounded
    up to the second as Swift shows it.
    """
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(math.ceil(round(seconds, 5))))


class SigningOptions:
    """
    What checking a signature depends on besides the request.

    @ivar location: the region (C{us-east-1}); V4 scopes must name it.
    @ivar allowable_clock_skew: seconds a header-signed request's date may
        be off.
    @ivar now: the current time, seconds since the epoch.
    @ivar bucket_in_host: the bucket named by a virtual-hosted-style host.
    """

    def __init__(self, location: str, allowable_clock_skew: int, now: float,
                 bucket_in_host: Optional[str] = None) -> None:
        self.location = location
        self.allowable_clock_skew = allowable_clock_skew
        self.now = now
        self.bucket_in_host = bucket_in_host


def is_v4(request: SwiftRequest) -> bool:
    """
    Whether the request is signed with V4.
    """
    return "X-Amz-Credential" in request.params or request.headers.get(
        "Authorization", "").startswith("AWS4-HMAC-SHA256 ")


@implementer(IS3Signature)
class S3Signature:
    """
    What a request's signature is checked against.

    @ivar version: 2 or 4.
    @ivar access_key: the access key id the client named.
    @ivar signature: the signature it sent (for V4 streaming bodies, the
        last chunk's once chunks are checked).
    @ivar string_to_sign: C{bytes}.
    @ivar query_auth: whether it is signed in the query (presigned).
    @ivar signing_time: when the client signed it (seconds).
    @ivar scope: V4's scope: date, region, service, terminal.
    @ivar canonical_request: V4's canonical request (C{bytes}).
    @ivar location: the region the scope named (possibly lowered).
    """

    def __init__(self, version: int, access_key: str, signature: str, query_auth: bool,
                 signing_time: float, location: str) -> None:
        self.version = version
        self.access_key = access_key
        self.signature = signature
        self.query_auth = query_auth
        self.signing_time = signing_time
        self.location = location
        self.string_to_sign = b""
        self.canonical_request = b""
        self.signed_headers: set[str] = set()
        self._secret: Optional[bytes] = None
        self._chunks_valid = True

    @property
    def scope(self) -> tuple[str, str, str, str]:
        return (amz_date(self.signing_time)[:8], self.location, "s3", "aws4_request")

    def check_signature(self, secret: str) -> bool:
        key = secret.encode("utf-8", "surrogateescape")
        if self.version == 2:
            self._secret = key
            expected = _b64(hmac.new(key, self.string_to_sign, hashlib.sha1).digest())
        else:
            derived = b"AWS4" + key
            for piece in self.scope:
                derived = hmac.new(derived, piece.encode("utf-8"), hashlib.sha256).digest()
            self._secret = derived
            expected = hmac.new(derived, self.string_to_sign, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.signature.encode("utf-8", "surrogateescape"),
                                   expected.encode("ascii"))

    @property
    def has_secret(self) -> bool:
        """
        Whether an auth plugin checked the signature (and so gave the key
        that chunk signatures need).
        """
        return self._secret is not None

    def _v4_matches(self) -> bool:
        if self._secret is None:
            raise LookupError("no secret: nobody checked the request's signature")
        expected = hmac.new(self._secret, self.string_to_sign, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.signature.encode("utf-8", "surrogateescape"),
                                   expected.encode("ascii"))

    def _scope_line(self) -> bytes:
        return "/".join(self.scope).encode("utf-8")

    def check_chunk_signature(self, chunk_sha256: str, signature: str) -> bool:
        """
        Check one chunk's signature, which chains from the previous one.

        @raise LookupError: when no secret is known (nobody checked the
            request's own signature).
        """
        if not self._chunks_valid:
            return False
        self.string_to_sign = b"\n".join([
            b"AWS4-HMAC-SHA256-PAYLOAD", amz_date(self.signing_time).encode("ascii"),
            self._scope_line(), self.signature.encode("utf-8"), EMPTY_SHA256.encode("ascii"),
            chunk_sha256.encode("ascii")])
        self.signature = signature
        self._chunks_valid = self._v4_matches()
        return self._chunks_valid

    def check_trailer_signature(self, trailers: Mapping[str, str]) -> bool:
        """
        Check C{x-amz-trailer-signature} over the other trailers.
        """
        if not self._chunks_valid:
            return False
        lines = "".join(
            f"{key}:{value}\n" for key, value in sorted(
                trailers.items(), key=lambda item: wsgi_to_bytes(item[0]).lower())
            if key != "x-amz-trailer-signature")
        canonical = wsgi_to_bytes(lines) or b"\n"
        self.string_to_sign = b"\n".join([
            b"AWS4-HMAC-SHA256-TRAILER", amz_date(self.signing_time).encode("ascii"),
            self._scope_line(), self.signature.encode("utf-8"),
            hashlib.sha256(canonical).hexdigest().encode("ascii")])
        self.signature = trailers["x-amz-trailer-signature"]
        self._chunks_valid = self._v4_matches()
        return self._chunks_valid

    def mismatch_error(self) -> S3Error:
        """
        The C{SignatureDoesNotMatch} answer, with the details S3 gives.
        """
        fields: dict[str, object] = {
            "a_w_s_access_key_id": self.access_key,
            "string_to_sign": self.string_to_sign.decode("latin-1"),
            "signature_provided": self.signature,
            "string_to_sign_bytes": " ".join(format(b, "02x") for b in self.string_to_sign),
        }
        if self.version == 4:
            fields["canonical_request"] = self.canonical_request.decode("latin-1")
            fields["canonical_request_bytes"] = " ".join(
                format(b, "02x") for b in self.canonical_request)
        return S3Error("SignatureDoesNotMatch", **fields)  # type: ignore[arg-type]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _invalid_date() -> S3Error:
    return S3Error("AccessDenied",
                   "AWS authentication requires a valid Date or x-amz-date header")


# -- V2 ------------------------------------------------------------------


def _v2_signing_time(request: SwiftRequest, query_auth: bool) -> float:
    try:
        if query_auth and "Timestamp" in request.params:
            seconds = parse_time(request.params["Timestamp"], _V2_TIMESTAMP)
        else:
            seconds = parse_time(request.headers.get("X-Amz-Date",
                                                     request.headers.get("Date")))
    except (ValueError, TypeError):
        raise _invalid_date() from None
    return _checked_time(seconds)


def _v4_signing_time(request: SwiftRequest, query_auth: bool) -> float:
    try:
        if query_auth and "X-Amz-Date" in request.params:
            seconds = parse_time(request.params["X-Amz-Date"], _V4_DATE)
        elif request.headers.get("X-Amz-Date"):
            seconds = parse_time(request.headers["X-Amz-Date"], _V4_DATE)
        else:
            seconds = parse_time(request.headers.get("Date"))
    except (ValueError, TypeError):
        raise _invalid_date() from None
    return _checked_time(seconds)


def _validate_dates(request: SwiftRequest, signing_time: float,
                    options: SigningOptions) -> None:
    if not request.headers.get("Date") and not request.headers.get("X-Amz-Date"):
        raise _invalid_date()
    if abs(int(signing_time) - int(options.now)) > options.allowable_clock_skew:
        raise S3Error("RequestTimeTooSkewed")


def _v2_string_to_sign(request: SwiftRequest, query_auth: bool,
                       options: SigningOptions) -> bytes:
    headers = request.headers
    lines = [wsgi_to_bytes(request.method),
             wsgi_to_bytes(header_strip(headers.get("Content-MD5")) or ""),
             wsgi_to_bytes(header_strip(headers.get("Content-Type")) or "")]
    amz = {name.lower().strip(): value.strip() for name, value in headers.items()
           if name.lower().startswith("x-amz-")}
    if not query_auth:
        if "x-amz-date" in amz:
            lines.append(b"")
        elif "Date" in headers:
            lines.append(wsgi_to_bytes(headers["Date"]))
    else:
        lines.append(wsgi_to_bytes(request.params["Expires"]))
    for name, value in sorted(amz.items()):
        lines.append(wsgi_to_bytes(f"{name}:{value}"))
    path = request.raw_path.decode("latin-1")
    if options.bucket_in_host:
        path = "/" + options.bucket_in_host + path
    if request.query_string:
        params = [f"{key}={value}" if value else key
                  for key, value in sorted(request.params.items())
                  if key in ALLOWED_SUB_RESOURCES]
        if params:
            path += "?" + "&".join(params)
    lines.append(wsgi_to_bytes(path))
    return b"\n".join(lines)


def _parse_v2(request: SwiftRequest, options: SigningOptions) -> S3Signature:
    params = request.params
    if "AWSAccessKeyId" in params:
        try:
            expires = float(params["Expires"])
        except (KeyError, ValueError):
            raise S3Error("AccessDenied") from None
        if options.now > expires:
            raise S3Error("AccessDenied", "Request has expired")
        if expires >= 2 ** 31:
            raise S3Error("AccessDenied", "Invalid date (should be seconds since epoch): "
                          + params["Expires"])
        access = wsgi_to_str(params.get("AWSAccessKeyId", ""))
        signature = wsgi_to_str(params.get("Signature", ""))
        if not (access and signature and params.get("Expires")):
            raise S3Error("AccessDenied")
        found = S3Signature(2, access, signature, True, 0.0, options.location)
    elif "Authorization" in request.headers:
        if not request.headers.get("Date") and not request.headers.get("X-Amz-Date"):
            raise _invalid_date()
        signing_time = _v2_signing_time(request, False)
        _validate_dates(request, signing_time, options)
        auth = wsgi_to_str(request.headers["Authorization"])
        if not auth.startswith("AWS ") or ":" not in auth:
            raise S3Error("AccessDenied")
        access, signature = auth.split(" ", 1)[1].rsplit(":", 1)
        found = S3Signature(2, access, signature, False, signing_time, options.location)
    else:
        raise NotS3Request()
    return found


# -- V4 ------------------------------------------------------------------

_CREDENTIAL_PARTS = ("access", "date", "region", "service", "terminal")


def _parse_credential(text: str) -> dict[str, str]:
    parts = text.split("/")
    if not parts[0] or len(parts) != 5:
        raise S3Error("AccessDenied")
    return dict(zip(_CREDENTIAL_PARTS, parts))


_QUERY_MESSAGES = {
    "date": 'Invalid credential date "%s". This date is not the same as X-Amz-Date: "%s".',
    "region": "Error parsing the X-Amz-Credential parameter; the region '%s' is wrong; "
              "expecting '%s'",
    "service": 'Error parsing the X-Amz-Credential parameter; incorrect service "%s". '
               'This endpoint belongs to "%s".',
    "terminal": 'Error parsing the X-Amz-Credential parameter; incorrect terminal "%s". '
                'This endpoint uses "%s".',
}

_HEADER_MESSAGES = {
    "date": 'Invalid credential date "%s". This date is not the same as X-Amz-Date: "%s".',
    "region": "The authorization header is malformed; the region '%s' is wrong; "
              "expecting '%s'",
    "service": 'The authorization header is malformed; incorrect service "%s". This '
               'endpoint belongs to "%s".',
    "terminal": 'The authorization header is malformed; incorrect terminal "%s". This '
                'endpoint uses "%s".',
}


def _check_scope(found: S3Signature, credential: dict[str, str], code: str,
                 messages: dict[str, str]) -> None:
    for index, key in enumerate(("date", "region", "service", "terminal")):
        expected = found.scope[index]
        if credential[key] == expected:
            continue
        message = messages[key] % (credential[key], expected)
        if key == "region":
            if not expected.islower() and credential[key] == expected.lower():
                found.location = found.location.lower()
                continue
            raise S3Error(code, message, region=expected)
        raise S3Error(code, message)


def _parse_v4(request: SwiftRequest, options: SigningOptions
              ) -> tuple[S3Signature, set[str]]:
    params = request.params
    if "X-Amz-Credential" in params:
        try:
            expires = int(params["X-Amz-Expires"])
        except KeyError:
            raise S3Error("AccessDenied") from None
        except ValueError:
            raise S3Error("AuthorizationQueryParametersError",
                          "X-Amz-Expires should be a number") from None
        if expires < 0:
            raise S3Error("AuthorizationQueryParametersError",
                          "X-Amz-Expires must be non-negative")
        if expires >= 2 ** 63:
            raise S3Error("AuthorizationQueryParametersError",
                          "X-Amz-Expires should be a number")
        if expires > 604800:
            raise S3Error("AuthorizationQueryParametersError",
                          "X-Amz-Expires must be less than a week (in seconds); that is, "
                          "the given X-Amz-Expires must be less than 604800 seconds")
        signing_time = _v4_signing_time(request, True)
        if int(signing_time) + expires < options.now:
            raise S3Error("AccessDenied", "Request has expired")
        if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            raise S3Error("InvalidArgument", argument_name="X-Amz-Algorithm",
                          argument_value=params.get("X-Amz-Algorithm"))
        try:
            credential = _parse_credential(wsgi_to_str(params["X-Amz-Credential"]))
            signature = wsgi_to_str(params["X-Amz-Signature"])
        except KeyError:
            raise S3Error("AccessDenied") from None
        if not signature:
            raise S3Error("AccessDenied")
        if "X-Amz-SignedHeaders" not in params:
            raise S3Error("AuthorizationHeaderMalformed")
        signed = set(wsgi_to_str(params["X-Amz-SignedHeaders"]).split(";"))
        found = S3Signature(4, credential["access"], signature, True, signing_time,
                            options.location)
        _check_scope(found, credential, "AuthorizationQueryParametersError", _QUERY_MESSAGES)
        return found, signed
    if "Authorization" not in request.headers:
        raise NotS3Request()
    if not request.headers.get("Date") and not request.headers.get("X-Amz-Date"):
        raise _invalid_date()
    signing_time = _v4_signing_time(request, False)
    _validate_dates(request, signing_time, options)
    auth = wsgi_to_str(request.headers["Authorization"])
    credential = _parse_credential(auth.partition("Credential=")[2].split(",")[0])
    signature = auth.partition("Signature=")[2].split(",")[0]
    if not signature:
        raise S3Error("AccessDenied")
    signed_text = auth.partition("SignedHeaders=")[2].split(",", 1)[0]
    if not signed_text:
        raise S3Error("AuthorizationHeaderMalformed")
    found = S3Signature(4, credential["access"], signature, False, signing_time,
                        options.location)
    _check_scope(found, credential, "AuthorizationHeaderMalformed", _HEADER_MESSAGES)
    return found, set(signed_text.split(";"))


def _v4_canonical_request(request: SwiftRequest, signed: set[str]) -> bytes:
    lines = [wsgi_to_bytes(request.method),
             wsgi_quote(request.path, safe="-_.~/").encode("ascii"),
             "&".join(f"{wsgi_quote(key, '-_.~')}={wsgi_quote(value, '-_.~')}"
                      for key, value in sorted(request.params.items())
                      if key not in ("Signature", "X-Amz-Signature")).encode("ascii")]
    lowered = {name.lower().strip(): " ".join((header_strip(value) or "").split())
               for name, value in request.headers.items()}
    for name in lowered:
        if name not in signed and wsgi_to_str(name).startswith(_MUST_BE_SIGNED):
            raise S3Error("AccessDenied",
                          "There were headers present in the request which were not signed",
                          headers_not_signed=name)
    to_sign = [(name, value) for name, value in sorted(lowered.items())
               if wsgi_to_str(name) in signed]
    if len(to_sign) != len(signed):
        raise S3Error("SignatureDoesNotMatch")
    lines.append(b"".join(wsgi_to_bytes(f"{name}:{value}\n") for name, value in to_sign))
    lines.append(b";".join(wsgi_to_bytes(name) for name, _ in to_sign))
    lines.append(wsgi_to_bytes(request.headers.get("X-Amz-Content-SHA256",
                                                   "UNSIGNED-PAYLOAD")))
    return b"\n".join(lines)


def parse_signature(request: SwiftRequest, options: SigningOptions) -> S3Signature:
    """
    Read the request's signature and check its dates; the string to sign
    is computed by L{compute_string_to_sign}, once the request's headers
    are checked.

    @raise NotS3Request: it carries no S3 credentials.
    @raise S3Error: for a malformed, expired or skewed one.
    """
    if is_v4(request):
        found, signed = _parse_v4(request, options)
        found.signed_headers = signed
        return found
    return _parse_v2(request, options)


def compute_string_to_sign(found: S3Signature, request: SwiftRequest,
                           options: SigningOptions) -> None:
    """
    Set C{found.string_to_sign} (and V4's canonical request).

    @raise S3Error: V4's C{AccessDenied} for an unsigned C{x-amz-meta-*}
        (and the like), C{SignatureDoesNotMatch} for a signed header that
        is missing.
    """
    if found.version == 2:
        found.string_to_sign = _v2_string_to_sign(request, found.query_auth, options)
        return
    found.canonical_request = _v4_canonical_request(request, found.signed_headers)
    found.string_to_sign = b"\n".join([
        b"AWS4-HMAC-SHA256", amz_date(found.signing_time).encode("ascii"),
        "/".join(found.scope).encode("utf-8"),
        hashlib.sha256(found.canonical_request).hexdigest().encode("ascii")])
