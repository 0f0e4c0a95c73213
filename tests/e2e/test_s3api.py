"""
End to end, the S3 API: twisted-proxy on C{conf/aio.conf} (s3api before
tempauth) and Swift's own swift-proxy-server 2.38.3 with s3api and
tempauth beside it on the same cluster, through boto3 and raw signed
requests: bucket and object round trips, presigned URLs, a 64 MiB
multipart upload read back through S3 and the Swift API, a V4
streaming-chunked upload, S3's errors for a wrong signature and a skewed
clock, and objects (multipart ones included) written through either proxy
read through the other.
"""

from __future__ import annotations

import atexit
import base64
import email.utils
import hashlib
import hmac
import http.client
import os
import time
import uuid
from typing import Any, Optional
from urllib.parse import urlsplit

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.e2e.aioproxy import proc_status_kib, reset_peak_rss, send_streamed
from tests.e2e.test_symlink_interop import ReferenceCluster

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError:  # pragma: no cover
    boto3 = None

__all__ = ["S3Cluster"]

_USERS = {"user_test_tester": "testing .admin", "user_test_tester2": "testing2 .admin",
          "user_test_tester3": "testing3"}
_MIB = 1024 * 1024


class S3Cluster(ReferenceCluster):
    """
    twisted-proxy on C{conf/aio.conf} and swift-proxy-server with s3api and
    tempauth (the same users) beside it.
    """

    def __init__(self) -> None:
        super().__init__("s3api", ("s3api", "tempauth", "copy", "slo", "dlo"),
                         {"tempauth": _USERS})

    def endpoint(self, which: str) -> str:
        port = self.proxy.port if which == "twisted" else self.reference_port
        return f"http://127.0.0.1:{port}"

    def client(self, which: str = "twisted", signature: str = "s3v4",
               secret: str = "testing") -> Any:
        if boto3 is None:
            raise SkipTest("boto3 is not installed")
        return boto3.client(
            "s3", endpoint_url=self.endpoint(which), region_name="us-east-1",
            aws_access_key_id="test:tester", aws_secret_access_key=secret,
            config=Config(signature_version=signature, s3={"addressing_style": "path"},
                          retries={"max_attempts": 1}, read_timeout=300))


_shared: Optional[S3Cluster] = None
_failed: Optional[BaseException] = None


def s3_cluster() -> S3Cluster:
    """
    The cluster of these tests, started on first use and stopped when the
    test process exits.
    """
    global _shared, _failed
    if boto3 is None:
        raise SkipTest("boto3 is not installed")
    if _failed is not None:
        raise RuntimeError(f"the cluster did not start: {_failed}")
    if _shared is None:
        try:
            _shared = S3Cluster()
        except BaseException as error:
            _failed = error
            raise
        atexit.register(_shared.stop)
    return _shared


def _raw(port: int, method: str, path: str, headers: dict[str, str],
         body: bytes = b"") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def _v2_signed(method: str, path: str, secret: str, when: float) -> dict[str, str]:
    date = email.utils.formatdate(when, usegmt=True)
    to_sign = f"{method}\n\n\n{date}\n{path}"
    signature = base64.b64encode(hmac.new(secret.encode(), to_sign.encode(),
                                          hashlib.sha1).digest()).decode()
    return {"Date": date, "Authorization": f"AWS test:tester:{signature}"}


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class S3RoundTripTests(SynchronousTestCase):
    """
    S3 through twisted-proxy.
    """

    def setUp(self) -> None:
        self.cluster = s3_cluster()
        self.s3 = self.cluster.client()
        self.bucket = f"s3e2e-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(Bucket=self.bucket)

    def test_bucketsAndObjects(self) -> None:
        """
        Buckets and objects: create, list, put with metadata, get, head,
        ranges, copy, delete; V2 and V4 signatures alike.
        """
        for signature in ("s3v4", "s3"):
            s3 = self.cluster.client(signature=signature)
            key = f"dir/obj-{signature}"
            s3.put_object(Bucket=self.bucket, Key=key, Body=b"hello world",
                          Metadata={"color": "blue"}, ContentType="text/plain")
            got = s3.get_object(Bucket=self.bucket, Key=key)
            self.assertEqual(got["Body"].read(), b"hello world")
            self.assertEqual(got["Metadata"], {"color": "blue"})
            self.assertEqual(got["ETag"], '"%s"' % hashlib.md5(b"hello world").hexdigest())
            ranged = s3.get_object(Bucket=self.bucket, Key=key, Range="bytes=6-")
            self.assertEqual(ranged["Body"].read(), b"world")
            head = s3.head_object(Bucket=self.bucket, Key=key)
            self.assertEqual(head["ContentLength"], 11)
            s3.copy_object(Bucket=self.bucket, Key=key + "-copy",
                           CopySource={"Bucket": self.bucket, "Key": key})
        names = [b["Name"] for b in self.s3.list_buckets()["Buckets"]]
        self.assertIn(self.bucket, names)
        listing = self.s3.list_objects_v2(Bucket=self.bucket, Delimiter="/")
        self.assertEqual([p["Prefix"] for p in listing["CommonPrefixes"]], ["dir/"])
        listing = self.s3.list_objects(Bucket=self.bucket, Prefix="dir/")
        self.assertEqual(len(listing["Contents"]), 4)
        with self.assertRaises(ClientError) as caught:
            self.s3.get_object(Bucket=self.bucket, Key="missing")
        self.assertEqual(caught.exception.response["Error"]["Code"], "NoSuchKey")
        self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [
            {"Key": item["Key"]} for item in listing["Contents"]]})
        self.s3.delete_bucket(Bucket=self.bucket)
        with self.assertRaises(ClientError) as caught:
            self.s3.head_bucket(Bucket=self.bucket)
        self.assertEqual(caught.exception.response["ResponseMetadata"]["HTTPStatusCode"],
                         404)

    def test_presigned(self) -> None:
        """
        Presigned URLs (V4 and V2) read an object without credentials in
        headers; a tampered one is refused with S3's error.
        """
        self.s3.put_object(Bucket=self.bucket, Key="shared", Body=b"presigned body")
        for signature in ("s3v4", "s3"):
            url = self.cluster.client(signature=signature).generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": "shared"},
                ExpiresIn=300)
            parts = urlsplit(url)
            status, body = _raw(self.cluster.proxy.port, "GET",
                                f"{parts.path}?{parts.query}", {})
            self.assertEqual((status, body), (200, b"presigned body"), signature)
            status, body = _raw(self.cluster.proxy.port, "GET",
                                f"{parts.path}x?{parts.query}", {})
            self.assertEqual(status, 403, signature)
            self.assertIn(b"<Code>SignatureDoesNotMatch</Code>", body)

    def test_wrongSignatureAndSkew(self) -> None:
        """
        A wrong secret is C{SignatureDoesNotMatch} and a clock an hour off
        C{RequestTimeTooSkewed}, both as S3's XML.
        """
        with self.assertRaises(ClientError) as caught:
            self.cluster.client(secret="wrong").list_buckets()
        self.assertEqual(caught.exception.response["Error"]["Code"], "SignatureDoesNotMatch")
        port = self.cluster.proxy.port
        status, body = _raw(port, "GET", "/", _v2_signed("GET", "/", "wrong", time.time()))
        self.assertEqual(status, 403)
        self.assertTrue(body.startswith(b"<?xml"))
        self.assertIn(b"<Code>SignatureDoesNotMatch</Code>", body)
        status, body = _raw(port, "GET", "/",
                            _v2_signed("GET", "/", "testing", time.time() - 3600))
        self.assertEqual(status, 403)
        self.assertIn(b"<Code>RequestTimeTooSkewed</Code>", body)
        status, _ = _raw(port, "GET", "/", _v2_signed("GET", "/", "testing", time.time()))
        self.assertEqual(status, 200)

    def test_streamingChunkedUpload(self) -> None:
        """
        A C{STREAMING-AWS4-HMAC-SHA256-PAYLOAD} upload, each chunk signed,
        is stored decoded; a bad chunk signature stores nothing.
        """
        data = os.urandom(3 * 65536 + 100)
        key = "streamed"
        status, body = self._streamed(key, data, good=True)
        self.assertEqual(status, 200, body)
        got = self.s3.get_object(Bucket=self.bucket, Key=key)
        self.assertEqual(got["Body"].read(), data)
        status, body = self._streamed("bad-" + key, data, good=False)
        self.assertEqual(status, 403)
        self.assertIn(b"<Code>SignatureDoesNotMatch</Code>", body)
        with self.assertRaises(ClientError):
            self.s3.head_object(Bucket=self.bucket, Key="bad-" + key)

    def _streamed(self, key: str, data: bytes, good: bool) -> tuple[int, bytes]:
        now = time.gmtime()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", now)
        day = stamp[:8]
        scope = f"{day}/us-east-1/s3/aws4_request"
        port = self.cluster.proxy.port
        path = f"/{self.bucket}/{key}"
        headers = {"host": f"127.0.0.1:{port}", "x-amz-date": stamp,
                   "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                   "content-encoding": "aws-chunked",
                   "x-amz-decoded-content-length": str(len(data))}
        signed = sorted(headers)
        canonical = "\n".join(["PUT", path, ""] + [f"{h}:{headers[h]}" for h in signed]
                              + ["", ";".join(signed), headers["x-amz-content-sha256"]])
        key_bytes = b"AWS4testing"
        for piece in (day, "us-east-1", "s3", "aws4_request"):
            key_bytes = _hmac(key_bytes, piece)
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        previous = hmac.new(key_bytes, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential=test:tester/{scope}, "
                                    f"SignedHeaders={';'.join(signed)}, Signature={previous}")
        body = b""
        chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)] + [b""]
        for index, chunk in enumerate(chunks):
            chunk_to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", stamp, scope, previous,
                                       hashlib.sha256(b"").hexdigest(),
                                       hashlib.sha256(chunk).hexdigest()])
            signature = hmac.new(key_bytes, chunk_to_sign.encode(), hashlib.sha256).hexdigest()
            if not good and index == 1:
                signature = "0" * 64
            body += b"%x;chunk-signature=%s\r\n%s\r\n" % (len(chunk), signature.encode(),
                                                           chunk)
            previous = signature
        return _raw(port, "PUT", path, headers, body)

    def test_multipart64MiB(self) -> None:
        """
        A 64 MiB upload in 5 MiB parts completes with S3's multipart ETag
        and reads back byte-exact through S3 and through the Swift API.
        """
        part_size = 5 * _MIB
        total = 64 * _MIB
        seed = os.urandom(_MIB)
        whole = hashlib.md5()
        upload = self.s3.create_multipart_upload(Bucket=self.bucket, Key="big")
        parts = []
        digests = []
        offset = 0
        number = 1
        while offset < total:
            size = min(part_size, total - offset)
            block = (seed * 6)[offset % _MIB:offset % _MIB + size]
            whole.update(block)
            digests.append(hashlib.md5(block).digest())
            answer = self.s3.upload_part(Bucket=self.bucket, Key="big", PartNumber=number,
                                         UploadId=upload["UploadId"], Body=block)
            parts.append({"PartNumber": number, "ETag": answer["ETag"]})
            offset += size
            number += 1
        done = self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key="big", UploadId=upload["UploadId"],
            MultipartUpload={"Parts": parts})
        expected_etag = '"%s-%d"' % (hashlib.md5(b"".join(digests)).hexdigest(), len(parts))
        self.assertEqual(done["ETag"], expected_etag)
        got = self.s3.get_object(Bucket=self.bucket, Key="big")
        self.assertEqual(got["ETag"], expected_etag)
        self.assertEqual(hashlib.md5(got["Body"].read()).hexdigest(), whole.hexdigest())
        conn = self.cluster.connect("twisted")
        conn.request("GET", self.cluster.path(self.bucket, "big"),
                     headers={"X-Auth-Token": self.cluster.token})
        reply = conn.getresponse()
        swift_md5 = hashlib.md5()
        while True:
            chunk = reply.read(_MIB)
            if not chunk:
                break
            swift_md5.update(chunk)
        conn.close()
        self.assertEqual(reply.status, 200)
        self.assertEqual(swift_md5.hexdigest(), whole.hexdigest())
        uploads = self.s3.list_multipart_uploads(Bucket=self.bucket)
        self.assertEqual(uploads.get("Uploads", []), [])


class S3InteropTests(SynchronousTestCase):
    """
    What either proxy writes through S3, the other reads through S3.
    """

    def setUp(self) -> None:
        self.cluster = s3_cluster()
        self.bucket = f"s3interop-{uuid.uuid4().hex[:12]}"
        self.cluster.client().create_bucket(Bucket=self.bucket)

    def test_objects(self) -> None:
        """
        Objects with metadata written by one proxy read alike by both.
        """
        for writer, reader in (("twisted", "swift"), ("swift", "twisted")):
            key = f"from-{writer}"
            self.cluster.client(writer).put_object(
                Bucket=self.bucket, Key=key, Body=f"by {writer}".encode(),
                Metadata={"writer": writer})
            got = self.cluster.client(reader).get_object(Bucket=self.bucket, Key=key)
            self.assertEqual(got["Body"].read(), f"by {writer}".encode())
            self.assertEqual(got["Metadata"], {"writer": writer})
        listings = [
            [(o["Key"], o["ETag"], o["Size"]) for o in self.cluster.client(which)
             .list_objects_v2(Bucket=self.bucket)["Contents"]]
            for which in ("twisted", "swift")]
        self.assertEqual(listings[0], listings[1])

    def test_multipart(self) -> None:
        """
        A multipart upload completed by one proxy is read by the other, with
        the same ETag; parts may even go through both.
        """
        part = os.urandom(5 * _MIB)
        for writer, reader in (("twisted", "swift"), ("swift", "twisted")):
            key = f"mpu-from-{writer}"
            client = self.cluster.client(writer)
            other = self.cluster.client(reader)
            upload = client.create_multipart_upload(Bucket=self.bucket, Key=key)
            first = client.upload_part(Bucket=self.bucket, Key=key, PartNumber=1,
                                       UploadId=upload["UploadId"], Body=part)
            second = other.upload_part(Bucket=self.bucket, Key=key, PartNumber=2,
                                       UploadId=upload["UploadId"], Body=b"tail")
            parts = [{"PartNumber": 1, "ETag": first["ETag"]},
                     {"PartNumber": 2, "ETag": second["ETag"]}]
            listed = other.list_parts(Bucket=self.bucket, Key=key,
                                      UploadId=upload["UploadId"])
            self.assertEqual([p["PartNumber"] for p in listed["Parts"]], [1, 2])
            done = client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload["UploadId"],
                MultipartUpload={"Parts": parts})
            got = other.get_object(Bucket=self.bucket, Key=key)
            self.assertEqual(got["ETag"], done["ETag"])
            self.assertEqual(got["Body"].read(), part + b"tail")
            ours = self.cluster.client("twisted").head_object(Bucket=self.bucket, Key=key)
            theirs = self.cluster.client("swift").head_object(Bucket=self.bucket, Key=key)
            self.assertEqual(ours["ETag"], theirs["ETag"])
            self.assertEqual(ours["ContentLength"], theirs["ContentLength"])


class S3FlatMemoryTests(SynchronousTestCase):
    """
    S3 bodies stream: a multipart upload whose parts are sent as they are
    made, and its download, leave the proxy's memory flat.
    C{TWISTED_PROXY_SOAK_GIB} sets the size (default 0.25 GiB).
    """

    def setUp(self) -> None:
        self.cluster = s3_cluster()
        self.bucket = f"s3flat-{uuid.uuid4().hex[:12]}"
        self.s3 = self.cluster.client()
        self.s3.create_bucket(Bucket=self.bucket)

    def _signed_put(self, path: str, query: str, size: int, block: bytes,
                    digest: Any) -> int:
        """
        A V2-signed PUT of C{size} bytes streamed to C{path?query}; its
        status.
        """
        resource = f"{path}?{query}" if query else path
        headers = _v2_signed("PUT", resource, "testing", time.time())
        return send_streamed(self.cluster.proxy.port, resource, headers, size, block, digest,
                             timeout=300).status

    def test_multipartFlatMemory(self) -> None:
        size = int(float(os.environ.get("TWISTED_PROXY_SOAK_GIB", "0.25")) * 1024 * _MIB)
        parts = 4
        part_size = size // parts
        pid = self.cluster.proxy.process.pid
        reset_peak_rss(pid)
        start_rss = proc_status_kib(pid, "VmRSS")
        upload = self.s3.create_multipart_upload(Bucket=self.bucket, Key="huge")
        upload_id = upload["UploadId"]
        sent = hashlib.md5()
        block = os.urandom(_MIB)
        for number in range(1, parts + 1):
            status = self._signed_put(
                f"/{self.bucket}/huge", f"partNumber={number}&uploadId={upload_id}",
                part_size, block, sent)
            self.assertEqual(status, 200)
        listed = self.s3.list_parts(Bucket=self.bucket, Key="huge", UploadId=upload_id)
        self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key="huge", UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]}
                                       for p in listed["Parts"]]})
        got = self.s3.get_object(Bucket=self.bucket, Key="huge")
        received = hashlib.md5()
        total = 0
        for chunk in got["Body"].iter_chunks(_MIB):
            received.update(chunk)
            total += len(chunk)
        self.assertEqual((total, received.hexdigest()), (part_size * parts, sent.hexdigest()))
        growth_mib = (proc_status_kib(pid, "VmHWM") - start_rss) / 1024
        print(f"\n{part_size * parts / _MIB:.0f} MiB S3 multipart upload + GET: proxy peak "
              f"RSS grew {growth_mib:.1f} MiB (from {start_rss / 1024:.1f} MiB)")
        self.assertLess(growth_mib, 64, f"proxy peak RSS grew by {growth_mib:.1f} MiB")
