"""
Tests for L{twisted_proxy.plugins.s3api.bodies} and
L{twisted_proxy.plugins.s3api.checksums}: request bodies checked as they
stream (aws-chunked decoding with chunk signatures, SHA256, checksums).
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IConsumer, IPushProducer
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

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
from twisted_proxy.plugins.s3api.checksums import new_hasher


def _run(check: BodyCheck, pieces: list[bytes]) -> bytes:
    out = b"".join(check.feed(piece) for piece in pieces)
    return out + check.end()


def _chunked(data: bytes, size: int, trailer: bytes = b"") -> bytes:
    out = b""
    for start in range(0, len(data), size):
        piece = data[start:start + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n" + (trailer or b"\r\n")


class _Signer:
    def __init__(self, valid: bool = True) -> None:
        self.valid = valid
        self.chunks: list[tuple[str, str]] = []

    def check_chunk_signature(self, digest: str, signature: str) -> bool:
        self.chunks.append((digest, signature))
        return self.valid

    def check_trailer_signature(self, trailers: dict[str, str]) -> bool:
        return self.valid


class ChunkedTests(SynchronousTestCase):
    def test_unsigned(self) -> None:
        """
        An unsigned aws-chunked body decodes to its data, whatever the
        pieces it arrives in.
        """
        data = b"x" * 20000
        encoded = _chunked(data, 9000)
        for step in (1, 7, 4096, len(encoded)):
            decoder = AwsChunkedDecoder(len(data), set(), None)
            pieces = [encoded[i:i + step] for i in range(0, len(encoded), step)]
            self.assertEqual(_run(decoder, pieces), data)

    def test_signed(self) -> None:
        """
        Each chunk's signature is checked with the chunk's SHA256.
        """
        data = b"y" * 9000
        encoded = (b"%x;chunk-signature=abc\r\n" % len(data) + data +
                   b"\r\n0;chunk-signature=def\r\n\r\n")
        signer = _Signer()
        self.assertEqual(_run(AwsChunkedDecoder(len(data), set(), signer), [encoded]), data)
        self.assertEqual(signer.chunks, [(hashlib.sha256(data).hexdigest(), "abc"),
                                         (hashlib.sha256(b"").hexdigest(), "def")])

    def test_badSignature(self) -> None:
        """
        A chunk whose signature does not check fails the body before its
        last bytes are handed on.
        """
        encoded = b"5;chunk-signature=abc\r\nhello\r\n0;chunk-signature=d\r\n\r\n"
        decoder = AwsChunkedDecoder(5, set(), _Signer(valid=False))
        with self.assertRaises(InputError) as caught:
            decoder.feed(encoded)
        self.assertEqual(caught.exception.kind, "chunk-signature")

    def test_tooSmall(self) -> None:
        """
        A chunk under 8 KiB but for the last is refused.
        """
        decoder = AwsChunkedDecoder(10, set(), None)
        with self.assertRaises(InputError) as caught:
            _run(decoder, [_chunked(b"a" * 10, 5)])
        self.assertEqual(caught.exception.kind, "chunk-too-small")

    def test_tooLong(self) -> None:
        """
        Chunks adding up past the decoded length are a size error.
        """
        decoder = AwsChunkedDecoder(3, set(), None)
        with self.assertRaises(InputError) as caught:
            _run(decoder, [_chunked(b"abcd", 8192)])
        self.assertEqual(caught.exception.details, {"expected": 3, "provided": 4})

    def test_truncated(self) -> None:
        """
        A body that ends inside a chunk is incomplete.
        """
        decoder = AwsChunkedDecoder(5, set(), None)
        decoder.feed(b"5\r\nhel")
        with self.assertRaises(InputError) as caught:
            decoder.end()
        self.assertEqual(caught.exception.kind, "incomplete")

    def test_trailer(self) -> None:
        """
        Expected trailers are read after the last chunk.
        """
        value = base64.b64encode(zlib.crc32(b"hello").to_bytes(4, "big")).decode()
        encoded = _chunked(b"hello", 8192, f"x-amz-checksum-crc32:{value}\r\n\r\n".encode())
        decoder = AwsChunkedDecoder(5, {"x-amz-checksum-crc32"}, None)
        self.assertEqual(_run(decoder, [encoded]), b"hello")
        self.assertEqual(decoder.trailers, {"x-amz-checksum-crc32": value})

    def test_unexpectedTrailer(self) -> None:
        """
        A trailer nobody declared is malformed.
        """
        encoded = _chunked(b"hello", 8192, b"x-other:1\r\n\r\n")
        decoder = AwsChunkedDecoder(5, {"x-amz-checksum-crc32"}, None)
        with self.assertRaises(InputError) as caught:
            _run(decoder, [encoded])
        self.assertEqual(caught.exception.kind, "malformed-trailer")


class HashTests(SynchronousTestCase):
    def test_sha256(self) -> None:
        """
        The body's SHA256 must be the one sent; the last piece is kept back
        until it is known.
        """
        good = SHA256Check(10, hashlib.sha256(b"0123456789").hexdigest())
        self.assertEqual(good.feed(b"01234"), b"")
        self.assertEqual(good.feed(b"56789"), b"01234")
        self.assertEqual(good.end(), b"56789")
        bad = SHA256Check(10, "0" * 64)
        bad.feed(b"0123456789")
        with self.assertRaises(InputError) as caught:
            bad.end()
        self.assertEqual(caught.exception.details["computed"],
                         hashlib.sha256(b"0123456789").hexdigest())

    def test_checksums(self) -> None:
        """
        Each algorithm's checksum of C{abc}.
        """
        expected = {
            "x-amz-checksum-crc32": zlib.crc32(b"abc").to_bytes(4, "big").hex(),
            "x-amz-checksum-crc32c": "364b3fb7",
            "x-amz-checksum-crc64nvme": "05e5cabb3fc1faeb",
            "x-amz-checksum-sha1": hashlib.sha1(b"abc").hexdigest(),
            "x-amz-checksum-sha256": hashlib.sha256(b"abc").hexdigest(),
        }
        for header, digest in expected.items():
            hasher = new_hasher(header)
            hasher.update(b"a")
            hasher.update(b"bc")
            self.assertEqual(hasher.digest().hex(), digest, header)

    def test_pythonFallback(self) -> None:
        """
        Without ISA-L, the table-driven CRCs give the same values.
        """
        from twisted_proxy.plugins.s3api import checksums

        crc32c = checksums._crc32c_function(None)
        crc64 = checksums._crc64nvme_function(None)
        self.assertEqual(crc32c(b"c", crc32c(b"ab", 0)), 0x364B3FB7)
        self.assertEqual(crc64(b"abc", 0), 0x05E5CABB3FC1FAEB)

    def test_checksumMismatch(self) -> None:
        """
        A checksum that does not match fails with the algorithm's name.
        """
        wrong = base64.b64encode(b"\0\0\0\0").decode()
        check = ChecksumCheck(3, new_hasher("x-amz-checksum-crc32"), lambda: wrong)
        check.feed(b"abc")
        with self.assertRaises(InputError) as caught:
            check.end()
        self.assertEqual(caught.exception.details, {"name": "CRC32"})

    def test_strictBase64(self) -> None:
        """
        Base64 values must be exact.
        """
        self.assertEqual(strict_b64decode("AAAA", 3), b"\0\0\0")
        self.assertRaises(ValueError, strict_b64decode, "AAA", None)
        self.assertRaises(ValueError, strict_b64decode, "AAAA", 4)


@implementer(IConsumer)
class _Consumer:
    def __init__(self) -> None:
        self.data = b""

    def registerProducer(self, producer: object, streaming: bool) -> None:
        pass

    def unregisterProducer(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        self.data += data


@implementer(IBodyProducer, IPushProducer)
class _Source:
    length = 10

    def __init__(self) -> None:
        self.consumer: Optional[IConsumer] = None
        self.done: Deferred[None] = Deferred()
        self.stopped = False
        self.paused = False

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        self.consumer = consumer
        return self.done

    def stopProducing(self) -> None:
        self.stopped = True

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False


class InputBodyTests(SynchronousTestCase):
    def test_passes(self) -> None:
        """
        A body that passes its checks reaches the consumer whole.
        """
        source = _Source()
        errors = InputErrors()
        body = InputBody(source, 10, [SHA256Check(10, hashlib.sha256(b"0" * 10).hexdigest())],
                         errors)
        consumer = _Consumer()
        done = body.startProducing(consumer)
        body.pauseProducing()
        self.assertTrue(source.paused)
        assert source.consumer is not None
        source.consumer.write(b"0" * 4)
        source.consumer.write(b"0" * 6)
        self.assertEqual(consumer.data, b"0" * 4)
        source.done.callback(None)
        self.successResultOf(done)
        self.assertEqual(consumer.data, b"0" * 10)
        self.assertIsNone(errors.error)

    def test_fails(self) -> None:
        """
        A failed check stops the client's body, fails the producer and is
        remembered; the last bytes never reach the consumer.
        """
        source = _Source()
        errors = InputErrors()
        body = InputBody(source, 10, [SHA256Check(10, "0" * 64)], errors)
        consumer = _Consumer()
        done = body.startProducing(consumer)
        assert source.consumer is not None
        source.consumer.write(b"1" * 10)
        source.done.callback(None)
        self.failureResultOf(done, InputError)
        self.assertTrue(source.stopped)
        self.assertEqual(consumer.data, b"")
        assert errors.error is not None
        self.assertEqual(errors.error.kind, "sha256")
