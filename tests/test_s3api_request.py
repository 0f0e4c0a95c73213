"""
Tests for the s3api plugin (L{twisted_proxy.plugins.s3api_plugin}) and its
request reading and handlers: bucket names and hosts, options, which
handler answers, header and body checks, and whole requests through the
filter over a fake pipeline whose auth stage checks signatures as tempauth
does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.doubles import partial_context
from twisted_proxy.config import ConfigError
from twisted_proxy.info.cache import InfoCache
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter
from twisted_proxy.plugins._support.subrequest import read_body
from twisted_proxy.plugins.s3api.options import read_options
from twisted_proxy.plugins.s3api.request import parse_host, validate_bucket_name
from twisted_proxy.plugins.s3api_plugin import s3apiPlugin
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse

NOW = 1_700_000_000.0


class NameTests(SynchronousTestCase):
    def test_bucketNames(self) -> None:
        """
        S3's bucket name rules, DNS-compliant by default.
        """
        for good in ("abc", "a-b.c", "a" * 63, "123"):
            self.assertTrue(validate_bucket_name(good, True), good)
        for bad in ("ab", "a" * 64, "-ab", "ab-", "a..b", "a.-b", "Abc", "a_b",
                    "192.168.1.1", "ab."):
            self.assertFalse(validate_bucket_name(bad, True), bad)
        self.assertTrue(validate_bucket_name("Ab_c", False))

    def test_host(self) -> None:
        """
        The bucket of a virtual-hosted-style host.
        """
        self.assertEqual(parse_host("b.s3.example.com:8080", ["s3.example.com"]), "b")
        self.assertIsNone(parse_host("s3.example.com", ["s3.example.com"]))
        self.assertIsNone(parse_host("b.other.com", ["s3.example.com"]))


class OptionTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        """
        Swift's defaults.
        """
        options = read_options({})
        self.assertEqual((options.location, options.min_segment_size,
                          options.max_upload_part_num), ("us-east-1", 5242880, 1000))

    def test_refused(self) -> None:
        """
        C{s3_acl = true} and bad numbers stop startup.
        """
        self.assertRaises(ValueError, read_options, {"s3_acl": "true"})
        self.assertRaises(ValueError, read_options, {"max_bucket_listing": "0"})
        self.assertRaises(ValueError, read_options, {"cors_preflight_allow_origin": "*, a"})


class _Context:
    def __init__(self) -> None:
        self.reactor = Clock()
        self.reactor.advance(NOW)
        self.info_cache = InfoCache(MemoryInfoStore(self.reactor), 60, 60)
        self.info_registry: dict[str, Any] = {"slo": {}}

        class _Constraints:
            max_object_name_length = 1024

        class _SwiftConf:
            policies: list[Any] = []

        self.constraints = _Constraints()
        self.swift_conf = _SwiftConf()

    def register_info(self, name: str, **info: Any) -> None:
        self.info_registry.setdefault(name, {}).update(info)


@implementer(IBodyProducer)
class _Body:
    """
    A request body given all at once.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.length = len(data)

    def startProducing(self, consumer: Any) -> "Deferred[None]":
        consumer.write(self.data)
        return succeed(None)

    def stopProducing(self) -> None:
        pass

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass


Answer = Callable[[SwiftRequest], SwiftResponse]


@implementer(IProxyApplication)
class _Pipeline:
    """
    The rest of the pipeline: an auth stage checking signatures with the
    key of C{test:tester} and putting C{AUTH_test} in the path, then canned
    answers by C{(method, path)}.
    """

    def __init__(self, answers: dict[tuple[str, str], Answer]) -> None:
        self.answers = answers
        self.seen: list[SwiftRequest] = []

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        details = request.environ.get("s3api.auth_details")
        if details is not None and details.check_signature("testing"):
            request.path = request.path.replace("test:tester", "AUTH_test", 1)
            request.environ["REMOTE_USER"] = "test,test:tester,AUTH_test"
        elif details is not None:
            return succeed(SwiftResponse(401, {}, b""))
        self.seen.append(request)
        answer = self.answers.get((request.method, request.path))
        if answer is None:
            return succeed(SwiftResponse(404, {}, b""))
        return succeed(answer(request))


def _signed(method: str, path: str, headers: Optional[dict[str, str]] = None,
            secret: str = "testing", now: float = NOW, body: bytes = b"") -> SwiftRequest:
    headers = dict(headers or {})
    headers["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now))
    lines = [method, headers.get("Content-MD5", ""), headers.get("Content-Type", ""),
             headers["Date"], path]
    signature = base64.b64encode(hmac.new(secret.encode(), "\n".join(lines).encode(),
                                          hashlib.sha1).digest()).decode()
    headers["Authorization"] = f"AWS test:tester:{signature}"
    if body:
        headers["Content-Length"] = str(len(body))
    request = SwiftRequest(method, path.encode("ascii"), HeaderDict(headers))
    if body:
        request.body = _Body(body)
    request.environ["swift.trans_id"] = "tx123"
    return request


class FilterTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.context = _Context()
        self.filter = s3apiPlugin.make_filter({}, partial_context(self.context))

    def _answer(self, request: SwiftRequest, pipeline: _Pipeline) -> tuple[SwiftResponse, bytes]:
        response = self.successResultOf(self.filter(request, pipeline))
        body = self.successResultOf(read_body(response.body))
        return response, body

    def test_info(self) -> None:
        """
        The filter is an L{IProxyFilter}; C{/info} has Swift's s3api section.
        """
        verifyObject(IProxyFilter, self.filter)
        self.assertEqual(self.context.info_registry["s3api"]["max_upload_part_num"], 1000)
        self.assertFalse(self.context.info_registry["s3api"]["s3_acl"])

    def test_badOption(self) -> None:
        """
        A bad option stops startup with one line.
        """
        self.assertRaises(ConfigError, s3apiPlugin.make_filter, {"s3_acl": "yes"},
                          partial_context(self.context))

    def test_notS3(self) -> None:
        """
        Swift requests pass untouched.
        """
        pipeline = _Pipeline({("GET", "/v1/AUTH_test"): lambda r: SwiftResponse(200, {}, b"")})
        request = SwiftRequest("GET", b"/v1/AUTH_test")
        response, _ = self._answer(request, pipeline)
        self.assertEqual(response.status, 200)
        self.assertIs(pipeline.seen[0], request)

    def test_listBuckets(self) -> None:
        """
        GET / lists the account's containers with bucket names.
        """
        listing = json.dumps([{"name": "good"}, {"name": "Bad_Name"}]).encode()
        pipeline = _Pipeline({("GET", "/v1/AUTH_test"): lambda r: SwiftResponse(
            200, {"Content-Type": "application/json"}, listing)})
        response, body = self._answer(_signed("GET", "/"), pipeline)
        self.assertEqual(response.status, 200)
        self.assertIn(b"<Name>good</Name>", body)
        self.assertNotIn(b"Bad_Name", body)
        self.assertEqual(response.headers["x-amz-request-id"], "tx123")

    def test_wrongSecret(self) -> None:
        """
        A signature made with another key is C{SignatureDoesNotMatch}.
        """
        response, body = self._answer(_signed("GET", "/", secret="nope"), _Pipeline({}))
        self.assertEqual(response.status, 403)
        self.assertIn(b"<Code>SignatureDoesNotMatch</Code>", body)

    def test_skewed(self) -> None:
        """
        A request signed an hour ago is C{RequestTimeTooSkewed}.
        """
        response, body = self._answer(_signed("GET", "/", now=NOW - 3600), _Pipeline({}))
        self.assertEqual(response.status, 403)
        self.assertIn(b"<Code>RequestTimeTooSkewed</Code>", body)

    def test_invalidBucket(self) -> None:
        """
        A bad bucket name is C{InvalidBucketName}.
        """
        response, body = self._answer(_signed("GET", "/a_b"), _Pipeline({}))
        self.assertEqual(response.status, 400)
        self.assertIn(b"<Code>InvalidBucketName</Code>", body)

    def test_unsupported(self) -> None:
        """
        Sub-resources Swift's s3api does not implement are C{NotImplemented}.
        """
        for query in ("policy", "website", "cors", "notification"):
            response, body = self._answer(_signed("GET", f"/bucket?{query}"), _Pipeline({}))
            self.assertEqual(response.status, 501, query)
            self.assertIn(b"<Code>NotImplemented</Code>", body)

    def test_noSuchKey(self) -> None:
        """
        A missing object in an existing bucket is C{NoSuchKey}; in a
        missing bucket, C{NoSuchBucket}.
        """
        pipeline = _Pipeline({("HEAD", "/v1/AUTH_test/bucket"): lambda r: SwiftResponse(
            204, {}, b"")})
        response, body = self._answer(_signed("GET", "/bucket/key"), pipeline)
        self.assertEqual(response.status, 404)
        self.assertIn(b"<Code>NoSuchKey</Code>", body)
        response, body = self._answer(_signed("GET", "/other/key"), pipeline)
        self.assertIn(b"<Code>NoSuchBucket</Code>", body)

    def test_objectGet(self) -> None:
        """
        An object's metadata shows as C{x-amz-meta-*}, its ETag quoted.
        """
        pipeline = _Pipeline({("GET", "/v1/AUTH_test/bucket/key"): lambda r: SwiftResponse(
            200, {"Etag": "abc", "X-Object-Meta-Color": "blue", "X-Timestamp": "1",
                  "Content-Length": "2"}, b"hi")})
        response, body = self._answer(_signed("GET", "/bucket/key"), pipeline)
        self.assertEqual((response.status, body), (200, b"hi"))
        self.assertEqual(response.headers["ETag"], '"abc"')
        self.assertEqual(response.headers["x-amz-meta-color"], "blue")
        self.assertNotIn("X-Timestamp", response.headers)

    def test_badContentMD5(self) -> None:
        """
        A C{Content-MD5} that is not 16 bytes of base64 is C{InvalidDigest}.
        """
        response, body = self._answer(
            _signed("PUT", "/bucket/key", {"Content-MD5": "short"}, body=b"x"), _Pipeline({}))
        self.assertIn(b"<Code>InvalidDigest</Code>", body)

    def test_conditionalPut(self) -> None:
        """
        Conditional PUTs other than C{If-None-Match: *} are not implemented.
        """
        response, body = self._answer(
            _signed("PUT", "/bucket/key", {"If-Match": "abc"}, body=b"x"), _Pipeline({}))
        self.assertEqual(response.status, 501)

    def test_malformedDelete(self) -> None:
        """
        A multi-delete body that is not a C{Delete} document is
        C{MalformedXML}.
        """
        body = b"<Delete><Object></Object></Delete>"
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        response, answer = self._answer(
            _signed("POST", "/bucket?delete", {"Content-MD5": md5}, body=body), _Pipeline({}))
        self.assertEqual(response.status, 400)
        self.assertIn(b"<Code>MalformedXML</Code>", answer)

    def test_deleteNeedsMD5(self) -> None:
        """
        A multi-delete body needs C{Content-MD5} or a checksum.
        """
        body = b"<Delete><Object><Key>a</Key></Object></Delete>"
        response, answer = self._answer(_signed("POST", "/bucket?delete", body=body),
                                        _Pipeline({}))
        self.assertIn(b"Content-MD5 OR x-amz-checksum-*", answer)

    def _upload(self) -> _Pipeline:
        ok: Answer = lambda r: SwiftResponse(204, {}, b"")  # noqa: E731
        return _Pipeline({
            ("HEAD", "/v1/AUTH_test/bucket"): ok,
            ("HEAD", "/v1/AUTH_test/bucket+segments/key/UP"): lambda r: SwiftResponse(
                200, {"Content-Length": "0"}, b""),
        })

    def test_badPartNumber(self) -> None:
        """
        Part numbers outside 1 to C{max_upload_part_num} are C{InvalidArgument}.
        """
        for number in ("0", "10001", "x"):
            response, body = self._answer(
                _signed("PUT", f"/bucket/key?partNumber={number}&uploadId=UP", body=b"x"),
                self._upload())
            self.assertEqual(response.status, 400, number)
            self.assertIn(b"<Code>InvalidArgument</Code>", body)

    def test_partOrder(self) -> None:
        """
        Completing with parts out of order is C{InvalidPartOrder}.
        """
        body = (b"<CompleteMultipartUpload>"
                b"<Part><PartNumber>2</PartNumber><ETag>" + b"a" * 32 + b"</ETag></Part>"
                b"<Part><PartNumber>1</PartNumber><ETag>" + b"a" * 32 + b"</ETag></Part>"
                b"</CompleteMultipartUpload>")
        response, answer = self._answer(_signed("POST", "/bucket/key?uploadId=UP", body=body),
                                        self._upload())
        self.assertIn(b"<Code>InvalidPartOrder</Code>", answer)

    def test_malformedComplete(self) -> None:
        """
        A completion document without parts is C{MalformedXML}.
        """
        response, answer = self._answer(
            _signed("POST", "/bucket/key?uploadId=UP",
                    body=b"<CompleteMultipartUpload></CompleteMultipartUpload>"),
            self._upload())
        self.assertIn(b"<Code>MalformedXML</Code>", answer)

    def test_noSuchUpload(self) -> None:
        """
        An unknown upload id is C{NoSuchUpload}.
        """
        response, answer = self._answer(_signed("GET", "/bucket/key?uploadId=OTHER"),
                                        self._upload())
        self.assertEqual(response.status, 404)
        self.assertIn(b"<Code>NoSuchUpload</Code>", answer)

    def test_listingEtags(self) -> None:
        """
        Swift's JSON listings through the filter show a multipart upload's
        C{s3_etag}.
        """
        listing = json.dumps([{"name": "o", "hash": "abc; s3_etag=def-2"}]).encode()
        pipeline = _Pipeline({("GET", "/v1/AUTH_test/c"): lambda r: SwiftResponse(
            200, {"Content-Type": "application/json; charset=utf-8",
                  "Content-Length": str(len(listing))}, listing)})
        response, body = self._answer(SwiftRequest("GET", b"/v1/AUTH_test/c"), pipeline)
        self.assertEqual(json.loads(body), [{"name": "o", "hash": "abc",
                                             "s3_etag": '"def-2"'}])
