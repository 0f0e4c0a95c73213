# -*- test-case-name: tests.test_ec_get -*-
"""
The body of an erasure-coded GET: fragments decoded a segment at a time.

L{ECBody} takes one fragment from each of its L{FragmentStream}s, decodes
the segment, trims it to the bytes the client asked for and writes them,
then the next segment, for each span of the answer (with the
C{multipart/byteranges} framing between spans for several). It stops when
the client's connection is full: the streams then fill their short queues
and pause their nodes. A stream whose nodes all failed drops out; while
C{k} streams remain, every segment still decodes. With fewer, the body
fails and the client's connection is aborted, never ended short.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IConsumer, IPushProducer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from twisted_proxy.backend.ec.fragments import FragmentStream
from twisted_proxy.swift.ec.ranges import Want, trim
from twisted_proxy.swift.ec.scheme import ECScheme, ECSchemeError

__all__ = ["ECBody", "Undecodable"]

_log = Logger()


class Undecodable(Exception):
    """
    Too few fragments are left to decode the rest of the object.
    """


@implementer(IBodyProducer, IPushProducer)
class ECBody:
    """
    The decoded body.

    @param scheme: the policy's erasure coding.
    @param streams: one per fragment archive read (at least C{k}).
    @param pieces: the body in order: framing C{bytes}, and the L{Want}s
        whose decoded bytes go between.
    @param length: the body's length.
    """

    def __init__(self, scheme: ECScheme, streams: Sequence[FragmentStream],
                 pieces: Sequence[Union[bytes, Want]], length: int) -> None:
        self._scheme = scheme
        self._streams = list(streams)
        self._pieces = list(pieces)
        self.length = length
        self.sent = 0
        self._consumer: Optional[IConsumer] = None
        self._done: Optional[Deferred[None]] = None
        self._paused = False
        self._stopped = False
        self._pumping = False
        self._want: Optional[Want] = None
        self._fragment = 0
        for stream in self._streams:
            stream.on_ready = self._pump

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        """
        Write the body into C{consumer}.

        @return: fires when it is all written; fails with L{Undecodable}
            when too few fragments are left.
        """
        self._consumer = consumer
        done: Deferred[None] = Deferred(lambda _: self.stopProducing())
        self._done = done
        for stream in self._streams:
            stream.start()
        self._pump()
        return done

    def _write(self, data: bytes) -> None:
        if data and self._consumer is not None:
            self.sent += len(data)
            self._consumer.write(data)

    def _pump(self) -> None:
        if self._pumping or self._done is None:
            return
        self._pumping = True
        try:
            while not self._paused and self._done is not None:
                if self._want is None:
                    if not self._pieces:
                        self._finish()
                        return
                    piece = self._pieces.pop(0)
                    if isinstance(piece, bytes):
                        self._write(piece)
                        continue
                    self._want = piece
                    self._fragment = 0
                if self._fragment >= self._want.fragments:
                    self._want = None
                    continue
                if not self._decode_next():
                    return
        finally:
            self._pumping = False

    def _decode_next(self) -> bool:
        """
        Decode and write the next segment if every stream has its fragment.

        @return: whether it was written.
        """
        assert self._want is not None
        ready = []
        for stream in self._streams:
            if stream.queue:
                ready.append(stream)
            elif not stream.exhausted:
                # Wait for it (it may be finding a replacement node).
                return False
        if len(ready) < self._scheme.ndata:
            self._fail(Undecodable(
                f"{len(ready)} fragments left, {self._scheme.ndata} needed"))
            return False
        fragments = [stream.take() for stream in ready]
        # Streams with nothing more to give drop out.
        self._streams = [s for s in self._streams if s.queue or not s.exhausted]
        index = self._want.first_fragment + self._fragment
        try:
            segment = self._scheme.decode(fragments)
        except ECSchemeError as error:
            self._fail(Undecodable(f"segment {index}: {error}"))
            return False
        self._fragment += 1
        self._write(trim(self._want, index, segment, self._scheme.segment_size))
        return True

    def _finish(self) -> None:
        self._stop_streams()
        done, self._done = self._done, None
        if done is not None:
            if self.sent != self.length:
                _log.error("EC body of {sent} bytes, {length} announced",
                           sent=self.sent, length=self.length)
            done.callback(None)

    def _fail(self, error: Exception) -> None:
        self._stop_streams()
        done, self._done = self._done, None
        if done is not None:
            done.errback(Failure(error))

    def _stop_streams(self) -> None:
        for stream in self._streams:
            stream.stop()

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        self._pump()

    def stopProducing(self) -> None:
        """
        The client went away: drop every node.
        """
        self._stopped = True
        self._done = None
        self._stop_streams()
