# -*- test-case-name: tests.test_s3api_bodies -*-
"""
Checking an S3 request body as it streams to the storage nodes.

An L{InputBody} wraps the client's body (an L{IBodyProducer}) and passes
it through L{BodyCheck} stages: L{AwsChunkedDecoder} (C{aws-chunked}
bodies with their chunk and trailer signatures), L{SHA256Check}
(C{x-amz-content-sha256}) and L{ChecksumCheck} (C{x-amz-checksum-*}). A
check that fails stops the client's body and fails the upload's body
producer, so the storage nodes never commit the object; the stage keeps
back the latest piece of the body until the next one arrives, so the last
bytes are only handed on once every check has passed. The failure (an
L{InputError}) is also remembered in L{InputErrors}, where the plugin
finds it to answer with S3's error. Nothing is buffered beyond one piece
and a chunk header; pausing and resuming go to the client's body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Callable, Optional, Sequence

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IConsumer
from twisted.python.failure import Failure
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from twisted_proxy.plugins._support.subrequest import SourceBody
from twisted_proxy.plugins.s3api.checksums import Hasher

__all__ = [
    "AwsChunkedDecoder",
    "BodyCheck",
    "ChecksumCheck",
    "InputBody",
    "InputError",
    "InputErrors",
    "SHA256Check",
    "CHUNK_MIN_SIZE",
]

#: S3 refuses chunks smaller than this but for the last.
CHUNK_MIN_SIZE = 8192

#: The longest chunk header or trailer line accepted.
_MAX_LINE = 4096


class InputError(Exception):
    """
    A request body failed a check. C{kind} names the failure:
    C{incomplete}, C{size} (C{expected}, C{provided}), C{chunk-too-small}
    (C{size}, C{number}), C{malformed-trailer}, C{chunk-signature},
    C{missing-secret}, C{sha256} (C{expected}, C{computed}), C{checksum}
    (C{name}), C{checksum-trailer} (C{name}).
    """

    def __init__(self, kind: str, **details: object) -> None:
        super().__init__(kind, details)
        self.kind = kind
        self.details = details


class InputErrors:
    """
    Where a request's body checks leave their failure for the plugin.
    """

    def __init__(self) -> None:
        self.error: Optional[InputError] = None


class BodyCheck:
    """
    One stage: takes the body's bytes, gives what passes on.
    """

    def feed(self, data: bytes) -> bytes:
        """
        @raise InputError: when the body fails.
        """
        raise NotImplementedError

    def end(self) -> bytes:
        """
        The body ended: what is left to pass on, once every check passed.

        @raise InputError: when the body fails.
        """
        raise NotImplementedError


class _HoldBack(BodyCheck):
    """
    Keeps back the latest piece until the next one or the end.
    """

    def __init__(self) -> None:
        self._held = b""

    def _pass(self, data: bytes) -> bytes:
        if not data:
            return b""
        out, self._held = self._held, data
        return out

    def _release(self) -> bytes:
        out, self._held = self._held, b""
        return out


class SHA256Check(_HoldBack):
    """
    The body's SHA256 must be C{expected} (hex) and its length C{length}.
    """

    def __init__(self, length: int, expected: str) -> None:
        super().__init__()
        self._length = length
        self._expected = expected
        self._hasher = hashlib.sha256()
        self._received = 0

    def _fail(self) -> InputError:
        return InputError("sha256", expected=self._expected,
                          computed=self._hasher.hexdigest())

    def feed(self, data: bytes) -> bytes:
        self._hasher.update(data)
        self._received += len(data)
        if self._received > self._length:
            raise self._fail()
        return self._pass(data)

    def end(self) -> bytes:
        if self._received != self._length or \
                self._hasher.hexdigest() != self._expected.lower():
            raise self._fail()
        return self._release()


class ChecksumCheck(_HoldBack):
    """
    The body's checksum must match the one the client sent, in a header or
    (read once the body ended) a trailer.

    @param expected: gives the base64 value sent, or C{None}.
    @param trailer: the trailer's name when the value comes in one.
    """

    def __init__(self, length: int, hasher: Hasher, expected: Callable[[], Optional[str]],
                 trailer: Optional[str] = None) -> None:
        super().__init__()
        self._length = length
        self._hasher = hasher
        self._expected = expected
        self._trailer = trailer
        self._received = 0

    def feed(self, data: bytes) -> bytes:
        self._hasher.update(data)
        self._received += len(data)
        if self._received > self._length:
            raise InputError("checksum", name=self._hasher.name.upper())
        return self._pass(data)

    def end(self) -> bytes:
        if self._received != self._length:
            raise InputError("checksum", name=self._hasher.name.upper())
        value = self._expected()
        try:
            raw = strict_b64decode(value or "", self._hasher.digest_size)
        except ValueError:
            raise InputError("checksum-trailer", name=self._trailer or "") from None
        if raw != self._hasher.digest():
            raise InputError("checksum", name=self._hasher.name.upper())
        return self._release()


def strict_b64decode(value: str, exact_size: Optional[int] = None) -> bytes:
    """
    Decode base64 strictly (no stray characters, right padding).

    @raise ValueError: when it is not, or is not C{exact_size} bytes.
    """
    if not isinstance(value, str):
        raise ValueError("not a string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("invalid base64") from None
    if exact_size is not None:
        if len(raw) != exact_size:
            raise ValueError("wrong size")
        # Sized values must also be canonical (no stray padding bits).
        if base64.b64encode(raw).decode("ascii") != value:
            raise ValueError("not canonical")
    return raw


class _ChunkSigner:
    """
    The part of L{twisted_proxy.plugins.s3api.signing.S3Signature} the
    decoder uses.
    """

    def check_chunk_signature(self, chunk_sha256: str, signature: str) -> bool:
        raise NotImplementedError

    def check_trailer_signature(self, trailers: dict[str, str]) -> bool:
        raise NotImplementedError


class AwsChunkedDecoder(_HoldBack):
    """
    Decodes an C{aws-chunked} body (C{STREAMING-*} payloads):
    C{<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n} ... a last
    chunk of size 0, then trailers when C{expected_trailers} names some.

    @param decoded_length: C{x-amz-decoded-content-length}.
    @param signer: checks each chunk's (and the trailers') signature;
        C{None} for unsigned streams.
    @ivar trailers: the trailers read, by name as sent.
    """

    def __init__(self, decoded_length: int, expected_trailers: set[str],
                 signer: Optional[object]) -> None:
        super().__init__()
        self._decoded_length = decoded_length
        self._to_read = decoded_length
        self._expected_trailers = set(expected_trailers)
        self._signer = signer
        self._buffer = b""
        self._state = "header"
        self._chunk_number = 0
        self._last_chunk_size: Optional[int] = None
        self._chunk_left = 0
        self._chunk_size = 0
        self._chunk_signature: Optional[str] = None
        self._chunk_hash = hashlib.sha256()
        self.trailers: dict[str, str] = {}

    def feed(self, data: bytes) -> bytes:
        if self._state == "done":
            return b""
        self._buffer += data
        out: list[bytes] = []
        while self._step(out):
            pass
        return self._pass(b"".join(out))

    def _line(self) -> Optional[bytes]:
        end = self._buffer.find(b"\n")
        if end < 0:
            if len(self._buffer) > _MAX_LINE:
                raise InputError("incomplete")
            return None
        line, self._buffer = self._buffer[:end + 1], self._buffer[end + 1:]
        return line

    def _step(self, out: list[bytes]) -> bool:
        state = self._state
        if state == "header":
            line = self._line()
            if line is None:
                return False
            self._start_chunk(line)
            return True
        if state == "data":
            if not self._buffer:
                return False
            piece = self._buffer[:self._chunk_left]
            self._buffer = self._buffer[len(piece):]
            self._chunk_left -= len(piece)
            self._to_read -= len(piece)
            self._chunk_hash.update(piece)
            if piece:
                out.append(piece)
            if self._chunk_left == 0:
                self._end_chunk()
            return True
        if state == "separator":
            if len(self._buffer) < 2:
                return False
            if self._buffer[:2] != b"\r\n":
                raise InputError("incomplete")
            self._buffer = self._buffer[2:]
            self._state = "header"
            return True
        if state == "trailers":
            if not self._expected_trailers:
                if len(self._buffer) < 2:
                    return False
                if self._buffer[:2] != b"\r\n":
                    raise InputError("incomplete")
                self._finish()
                return False
            line = self._line()
            if line is None:
                return False
            if not line.endswith(b"\r\n"):
                raise InputError("incomplete")
            if line == b"\r\n":
                self._check_trailers()
                self._finish()
                return False
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() not in self._expected_trailers:
                raise InputError("malformed-trailer")
            self.trailers[name.strip()] = value.strip()
            return True
        return False

    def _start_chunk(self, line: bytes) -> None:
        self._chunk_number += 1
        if not line.endswith(b"\r\n"):
            raise InputError("incomplete")
        size_text, _, params = line[:-2].decode("latin-1").partition(";")
        try:
            size = int(size_text, 16)
            if size < 0:
                raise ValueError(size_text)
        except ValueError:
            raise InputError("incomplete") from None
        if self._last_chunk_size is not None and \
                self._last_chunk_size < CHUNK_MIN_SIZE and size != 0:
            raise InputError("chunk-too-small", size=self._last_chunk_size,
                             number=self._chunk_number)
        self._last_chunk_size = size
        if size > self._to_read:
            raise InputError("size", expected=self._decoded_length,
                             provided=self._decoded_length - self._to_read + size)
        if self._signer is not None:
            self._chunk_signature = self._parse_signature(params)
        self._chunk_size = self._chunk_left = size
        self._chunk_hash = hashlib.sha256()
        self._state = "data"
        if size == 0:
            self._end_chunk()

    def _parse_signature(self, params: str) -> str:
        if not params:
            raise InputError("incomplete")
        key, _, signature = params.partition("=")
        if key.strip() != "chunk-signature":
            # As Swift: the error shows the chunk's string to sign.
            try:
                self._signer.check_chunk_signature("", "")  # type: ignore[union-attr]
            except LookupError:
                pass
            raise InputError("chunk-signature")
        if ";" in signature:
            raise InputError("incomplete")
        signature = signature.strip()
        if not signature:
            raise InputError("incomplete")
        return signature

    def _end_chunk(self) -> None:
        if self._signer is not None:
            try:
                valid = self._signer.check_chunk_signature(  # type: ignore[attr-defined]
                    self._chunk_hash.hexdigest(), self._chunk_signature)
            except LookupError:
                raise InputError("missing-secret") from None
            if not valid:
                raise InputError("chunk-signature")
        self._state = "trailers" if self._chunk_size == 0 else "separator"

    def _check_trailers(self) -> None:
        expected = self._expected_trailers
        if "x-amz-trailer-signature" in expected and \
                "x-amz-trailer-signature" not in self.trailers:
            raise InputError("incomplete")
        if set(self.trailers) != expected:
            raise InputError("malformed-trailer")
        if "x-amz-trailer-signature" in expected and self._signer is not None:
            try:
                valid = self._signer.check_trailer_signature(  # type: ignore[attr-defined]
                    self.trailers)
            except LookupError:
                raise InputError("missing-secret") from None
            if not valid:
                raise InputError("chunk-signature")
            if len(self.trailers) == 1:
                raise InputError("incomplete")

    def _finish(self) -> None:
        self._state = "done"
        if self._to_read:
            raise InputError("size", expected=self._decoded_length,
                             provided=self._decoded_length - self._to_read)

    def end(self) -> bytes:
        if self._state == "trailers":
            # Trailers may end with the body rather than with an empty line.
            if self._buffer:
                raise InputError("incomplete")
            if self._expected_trailers:
                self._check_trailers()
            self._finish()
        elif self._state != "done":
            raise InputError("incomplete")
        return self._release()


@implementer(IConsumer)
class _Relay:
    """
    The client body's consumer: passes what the checks let through on.
    """

    def __init__(self, body: "InputBody", consumer: IConsumer) -> None:
        self._body = body
        self._consumer = consumer

    def registerProducer(self, producer: object, streaming: bool) -> None:
        pass

    def unregisterProducer(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        self._body._received(data)


class InputBody(SourceBody):
    """
    The client's body through C{checks}, as the body of the Swift request.

    @param length: the length after the checks (the decoded length of an
        C{aws-chunked} body), or the inner body's.
    """

    def __init__(self, inner: IBodyProducer, length: object, checks: Sequence[BodyCheck],
                 errors: InputErrors) -> None:
        super().__init__(inner, length)  # type: ignore[arg-type]
        self._source = inner
        self._checks = list(checks)
        self._errors = errors
        self._consumer: Optional[IConsumer] = None
        self._done: Optional[Deferred[None]] = None

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        self._consumer = consumer
        done = self._done = Deferred(lambda _: self.stopProducing())
        self.started = True
        self._source.startProducing(_Relay(self, consumer)).addCallbacks(
            self._ended, self._inner_failed)
        return done

    def _run(self, data: bytes, final: bool) -> Optional[bytes]:
        try:
            for check in self._checks:
                data = check.feed(data) if data else b""
                if final:
                    data += check.end()
        except InputError as error:
            self._errors.error = error
            self._fail(Failure(error))
            return None
        return data

    def _received(self, data: bytes) -> None:
        if self._done is None:
            return
        out = self._run(data, False)
        if out and self._consumer is not None:
            self._consumer.write(out)

    def _ended(self, _: object) -> None:
        if self._done is None:
            return
        out = self._run(b"", True)
        if out is None:
            return
        if out and self._consumer is not None:
            self._consumer.write(out)
        done, self._done = self._done, None
        if done is not None:
            done.callback(None)

    def _inner_failed(self, reason: Failure) -> None:
        done, self._done = self._done, None
        if done is not None:
            done.errback(reason)

    def _fail(self, reason: Failure) -> None:
        done, self._done = self._done, None
        try:
            self._source.stopProducing()
        except Exception:
            pass
        if done is not None:
            done.errback(reason)

    def stopProducing(self) -> None:
        self._done = None
        self._source.stopProducing()
