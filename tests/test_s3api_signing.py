"""
Tests for L{twisted_proxy.plugins.s3api.signing}, L{twisted_proxy.plugins.s3api.errors}
and L{twisted_proxy.plugins.s3api.xmlbody}: signatures V2 and V4 (header and
presigned), their date rules, S3's error documents and the XML reader.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_proxy.interfaces import IS3Signature
from twisted_proxy.plugins.s3api.errors import NotS3Request, S3Error
from twisted_proxy.plugins.s3api.signing import (
    SigningOptions,
    amz_date,
    compute_string_to_sign,
    parse_signature,
    parse_time,
    s3_time,
)
from twisted_proxy.plugins.s3api.xmlbody import XMLError, check_children, parse_xml
from twisted_proxy.swift.http import HeaderDict, SwiftRequest

NOW = 1_700_000_000.0
SECRET = "testing"


def _date(seconds: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(seconds))


def _request(method: str, uri: str, headers: dict[str, str]) -> SwiftRequest:
    return SwiftRequest(method, uri.encode("ascii"), HeaderDict(headers))


def _options(now: float = NOW) -> SigningOptions:
    return SigningOptions("us-east-1", 900, now)


def _v2_header(method: str, path: str, headers: dict[str, str], secret: str = SECRET
               ) -> dict[str, str]:
    lines = [method, headers.get("Content-MD5", ""), headers.get("Content-Type", ""),
             headers["Date"]]
    lines += [f"{k.lower()}:{v}" for k, v in sorted(headers.items())
              if k.lower().startswith("x-amz-")]
    lines.append(path)
    signature = base64.b64encode(hmac.new(secret.encode(), "\n".join(lines).encode(),
                                          hashlib.sha1).digest()).decode()
    return dict(headers, Authorization=f"AWS test:tester:{signature}")


def _v4_key(secret: str, day: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for piece in (day, "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, piece.encode(), hashlib.sha256).digest()
    return key


def _v4_header(method: str, path: str, headers: dict[str, str], secret: str = SECRET,
               payload: str = "UNSIGNED-PAYLOAD") -> dict[str, str]:
    stamp = amz_date(NOW)
    headers = dict(headers, **{"X-Amz-Date": stamp, "x-amz-content-sha256": payload,
                               "Host": "127.0.0.1"})
    signed = sorted(k.lower() for k in headers)
    canonical = "\n".join([method, path, ""] + [f"{k}:{headers_lower(headers)[k]}"
                                                for k in signed]
                          + ["", ";".join(signed), payload])
    scope = f"{stamp[:8]}/us-east-1/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(_v4_key(secret, stamp[:8]), to_sign.encode(),
                         hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential=test:tester/{scope}, "
                                f"SignedHeaders={';'.join(signed)}, Signature={signature}")
    return headers


def headers_lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _checked(request: SwiftRequest, now: float = NOW):  # type: ignore[no-untyped-def]
    found = parse_signature(request, _options(now))
    compute_string_to_sign(found, request, _options(now))
    return found


class V2Tests(SynchronousTestCase):
    def test_headerSignature(self) -> None:
        """
        A V2 header signature made with the user's key checks; another key
        does not.
        """
        headers = _v2_header("GET", "/bucket/key", {"Date": _date(NOW)})
        found = _checked(_request("GET", "/bucket/key", headers))
        verifyObject(IS3Signature, found)
        self.assertEqual(found.access_key, "test:tester")
        self.assertTrue(found.check_signature(SECRET))
        self.assertFalse(found.check_signature("wrong"))

    def test_subResourcesSigned(self) -> None:
        """
        Only S3's sub-resources of the query are signed.
        """
        headers = _v2_header("GET", "/bucket?acl", {"Date": _date(NOW)})
        found = _checked(_request("GET", "/bucket?acl&foo=bar", headers))
        self.assertTrue(found.check_signature(SECRET))

    def test_skew(self) -> None:
        """
        A date more than the allowed skew away is C{RequestTimeTooSkewed}.
        """
        headers = _v2_header("GET", "/", {"Date": _date(NOW - 3600)})
        with self.assertRaises(S3Error) as caught:
            _checked(_request("GET", "/", headers))
        self.assertEqual((caught.exception.code, caught.exception.status),
                         ("RequestTimeTooSkewed", 403))

    def test_noDate(self) -> None:
        """
        Without C{Date} or C{X-Amz-Date}: C{AccessDenied}.
        """
        with self.assertRaises(S3Error) as caught:
            _checked(_request("GET", "/", {"Authorization": "AWS a:b"}))
        self.assertEqual(caught.exception.code, "AccessDenied")

    def test_notS3(self) -> None:
        """
        A request with no S3 credentials is not for s3api.
        """
        self.assertRaises(NotS3Request, _checked, _request("GET", "/v1/AUTH_test", {}))

    def test_presignedExpired(self) -> None:
        """
        A presigned V2 URL past its C{Expires} is refused.
        """
        request = _request("GET", f"/b/k?AWSAccessKeyId=a&Signature=s&Expires={int(NOW) - 1}",
                           {})
        with self.assertRaises(S3Error) as caught:
            _checked(request)
        self.assertEqual(caught.exception.message, "Request has expired")

    def test_presigned(self) -> None:
        """
        A presigned V2 URL signs its C{Expires}.
        """
        expires = str(int(NOW) + 60)
        to_sign = f"GET\n\n\n{expires}\n/b/k"
        signature = base64.b64encode(hmac.new(SECRET.encode(), to_sign.encode(),
                                              hashlib.sha1).digest()).decode()
        request = _request("GET", "/b/k?AWSAccessKeyId=test%3Atester&Signature="
                           f"{quote(signature, safe='')}&Expires={expires}", {})
        self.assertTrue(_checked(request).check_signature(SECRET))


class V4Tests(SynchronousTestCase):
    def test_headerSignature(self) -> None:
        """
        A V4 header signature checks with the user's key and not another.
        """
        headers = _v4_header("PUT", "/bucket/key", {"Content-Type": "text/plain"})
        found = _checked(_request("PUT", "/bucket/key", headers))
        self.assertEqual(found.version, 4)
        self.assertTrue(found.check_signature(SECRET))
        self.assertFalse(found.check_signature("testing2"))
        error = found.mismatch_error()
        self.assertEqual(error.code, "SignatureDoesNotMatch")
        self.assertIn(b"<CanonicalRequest>", error.body("tx1"))

    def test_unsignedMeta(self) -> None:
        """
        An C{x-amz-meta-*} header the client did not sign is refused.
        """
        headers = _v4_header("PUT", "/bucket/key", {})
        headers["x-amz-meta-color"] = "blue"
        with self.assertRaises(S3Error) as caught:
            _checked(_request("PUT", "/bucket/key", headers))
        self.assertEqual(caught.exception.code, "AccessDenied")

    def test_wrongRegion(self) -> None:
        """
        A scope naming another region is C{AuthorizationHeaderMalformed}.
        """
        headers = _v4_header("GET", "/", {})
        headers["Authorization"] = headers["Authorization"].replace("us-east-1", "eu-west-1")
        with self.assertRaises(S3Error) as caught:
            _checked(_request("GET", "/", headers))
        self.assertEqual(caught.exception.code, "AuthorizationHeaderMalformed")
        self.assertEqual(caught.exception.fields["region"], "us-east-1")

    def test_skew(self) -> None:
        """
        A V4 request signed an hour ago is C{RequestTimeTooSkewed}.
        """
        headers = _v4_header("GET", "/", {})
        with self.assertRaises(S3Error) as caught:
            _checked(_request("GET", "/", headers), now=NOW + 3600)
        self.assertEqual(caught.exception.code, "RequestTimeTooSkewed")

    def test_presignedBadExpires(self) -> None:
        """
        C{X-Amz-Expires} over a week is refused.
        """
        request = _request("GET", "/?X-Amz-Credential=a%2Fb%2Fc%2Fd%2Fe&X-Amz-Expires=604801",
                           {})
        with self.assertRaises(S3Error) as caught:
            _checked(request)
        self.assertEqual(caught.exception.code, "AuthorizationQueryParametersError")

    def test_chunkSignatures(self) -> None:
        """
        Each chunk's signature chains from the previous one; a wrong one
        fails and every one after it.
        """
        headers = _v4_header("PUT", "/b/k", {}, payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        found = _checked(_request("PUT", "/b/k", headers))
        self.assertTrue(found.check_signature(SECRET))
        key = _v4_key(SECRET, amz_date(NOW)[:8])
        previous = found.signature
        data_hash = hashlib.sha256(b"hello").hexdigest()
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date(NOW),
                             f"{amz_date(NOW)[:8]}/us-east-1/s3/aws4_request", previous,
                             hashlib.sha256(b"").hexdigest(), data_hash])
        good = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        self.assertTrue(found.check_chunk_signature(data_hash, good))
        self.assertFalse(found.check_chunk_signature(data_hash, "0" * 64))
        self.assertFalse(found.check_chunk_signature(data_hash, good))

    def test_chunkWithoutSecret(self) -> None:
        """
        Chunks cannot be checked before an auth plugin gave the key.
        """
        headers = _v4_header("PUT", "/b/k", {}, payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        found = _checked(_request("PUT", "/b/k", headers))
        self.assertRaises(LookupError, found.check_chunk_signature, "0" * 64, "0" * 64)


class TimeTests(SynchronousTestCase):
    def test_parse(self) -> None:
        """
        RFC 2822 dates and ISO-like ones parse to the same second.
        """
        self.assertEqual(parse_time(_date(NOW)), NOW)
        self.assertEqual(parse_time("20231114T221320Z", "%Y%m%dT%H%M%SZ"), NOW)
        self.assertRaises(ValueError, parse_time, "yesterday")

    def test_s3Time(self) -> None:
        """
        S3's documents show times rounded up to the second.
        """
        self.assertEqual(s3_time(NOW + 0.2), "2023-11-14T22:13:21.000Z")


class ErrorTests(SynchronousTestCase):
    def test_document(self) -> None:
        """
        An error is S3's C{<Error>} document with its code, message,
        request id and extra fields.
        """
        error = S3Error("NoSuchBucket", bucket_name="b")
        response = error.response("tx1")
        self.assertEqual(response.status, 404)
        body = response.body
        assert isinstance(body, bytes)
        self.assertIn(b"<Code>NoSuchBucket</Code>", body)
        self.assertIn(b"<RequestId>tx1</RequestId>", body)
        self.assertIn(b"<BucketName>b</BucketName>", body)
        self.assertTrue(body.startswith(b"<?xml"))

    def test_head(self) -> None:
        """
        The answer to a HEAD has no body.
        """
        response = S3Error("NoSuchKey", key="k").response("tx1", "HEAD")
        self.assertEqual(response.body, b"")


class XMLTests(SynchronousTestCase):
    def test_namespaceDropped(self) -> None:
        """
        Elements are found by their plain names.
        """
        root = parse_xml(b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                         b"<Object><Key>a</Key></Object></Delete>", "Delete")
        self.assertEqual(root.find("./Object/Key").text, "a")  # type: ignore[union-attr]

    def test_malformed(self) -> None:
        """
        Bad documents, DTDs and other roots are refused.
        """
        self.assertRaises(XMLError, parse_xml, b"<Delete>")
        self.assertRaises(XMLError, parse_xml,
                          b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')
        self.assertRaises(XMLError, parse_xml, b"<Other/>", "Delete")

    def test_children(self) -> None:
        """
        A schema's counts are checked.
        """
        root = parse_xml(b"<V><Status>Enabled</Status><Status>x</Status></V>")
        self.assertRaises(XMLError, check_children, root, {"Status": (0, 1)})
        self.assertRaises(XMLError, check_children, root, {"Other": (0, 1)})


