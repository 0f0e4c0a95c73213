# -*- test-case-name: tests.test_ec_upload -*-
"""
Encoding an upload as it arrives.

L{ECUpload} is the consumer of a client's body (or of any body producer):
it cuts the body into segments, encodes each into fragments and hands
fragment C{i} to the putter of archive C{i}, keeping the MD5 of the body
(the object's etag) and of every archive (checked by the object servers).
At most one segment is held; while any live putter's connection is full,
the source is paused, so an upload of any size needs only a few segments of
memory.
"""

from __future__ import annotations

import hashlib
from typing import Any, Optional, Sequence

from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.interfaces import IConsumer, IProducer, IPushProducer
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from twisted_proxy.backend.ec.putter import MIMEPutter
from twisted_proxy.swift.ec.scheme import ECScheme, Segmenter

__all__ = ["ECUpload", "TooLarge", "QuorumLost"]


class TooLarge(Exception):
    """
    The body grew past the largest object allowed.
    """


class QuorumLost(Exception):
    """
    Fewer putters than the write quorum are still taking data.
    """


@implementer(IConsumer)
class ECUpload:
    """
    One upload, encoded into fragment archives.

    @param scheme: the policy's erasure coding.
    @param putters: the archives' putters, each with its C{frag_index}.
    @param quorum: fewer live putters than this end the upload.
    @param max_size: the largest body allowed, or C{None}.
    @ivar received: body bytes taken so far.
    """

    def __init__(self, scheme: ECScheme, putters: Sequence[MIMEPutter], quorum: int,
                 max_size: Optional[int] = None) -> None:
        self._scheme = scheme
        self._putters = list(putters)
        self._quorum = quorum
        self._max_size = max_size
        self._segmenter = Segmenter(scheme.segment_size)
        self._etag = hashlib.md5(usedforsecurity=False)
        self._archive_etags: dict[int, Any] = {}
        self.received = 0
        self._source: Optional[IPushProducer] = None
        self._source_paused = False
        self._producing: Optional[Deferred[None]] = None
        self._problem: Optional[Exception] = None
        for putter in self._putters:
            putter.on_flow = self._update_flow

    @property
    def live(self) -> list[MIMEPutter]:
        """
        The putters still taking data.
        """
        return [p for p in self._putters if not p.failed]

    @property
    def etag(self) -> str:
        """
        The MD5 of the body taken so far, hex.
        """
        return self._etag.hexdigest()

    def archive_etag(self, frag_index: int) -> str:
        """
        The MD5 of fragment archive C{frag_index} as sent, hex.
        """
        hasher = self._archive_etags.get(frag_index)
        if hasher is None:
            hasher = self._archive_etags[frag_index] = hashlib.md5(usedforsecurity=False)
        return str(hasher.hexdigest())

    def run(self, source: Optional[IBodyProducer]) -> "Deferred[None]":
        """
        Take C{source}'s whole body and send its last segment.

        @return: fires when it is all sent; fails with the source's error,
            L{TooLarge} or L{QuorumLost}.
        """
        if source is None:
            self._flush()
            return succeed(None)
        self._source = source  # type: ignore[assignment]
        self._update_flow()
        producing = self._producing = source.startProducing(self)

        def ended(result: Any) -> Any:
            self._source = None
            if self._problem is not None:
                raise self._problem
            self._flush()
            if self._problem is not None:
                raise self._problem
            return None

        return producing.addBoth(self._translate).addCallback(ended)

    def _translate(self, result: Any) -> Any:
        if self._problem is not None and getattr(result, "check", None) is not None \
                and result.check(CancelledError):
            # Stopped by us: say why.
            raise self._problem
        return result

    def _stop(self, problem: Exception) -> None:
        if self._problem is None:
            self._problem = problem
        producing, self._producing = self._producing, None
        if producing is not None and not producing.called:
            producing.cancel()

    # -- IConsumer -------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._problem is not None or not data:
            return
        self.received += len(data)
        if self._max_size is not None and self.received > self._max_size:
            self._stop(TooLarge(f"more than {self._max_size} bytes"))
            return
        self._etag.update(data)
        for segment in self._segmenter.feed(data):
            self._send(segment)

    def registerProducer(self, producer: IProducer, streaming: bool) -> None:
        if not streaming:
            raise ValueError("ECUpload needs a push (streaming) producer")
        self._source = producer  # type: ignore[assignment]
        self._update_flow()

    def unregisterProducer(self) -> None:
        self._source = None
        self._source_paused = False

    # -- internals --------------------------------------------------------

    def _flush(self) -> None:
        last = self._segmenter.finish()
        if last:
            self._send(last)

    def _send(self, segment: bytes) -> None:
        fragments = self._scheme.encode(segment)
        hashed: set[int] = set()
        for putter in self._putters:
            if putter.failed:
                continue
            index = putter.frag_index
            assert index is not None
            fragment = fragments[index]
            if index not in hashed:
                hashed.add(index)
                hasher = self._archive_etags.get(index)
                if hasher is None:
                    hasher = self._archive_etags[index] = hashlib.md5(
                        usedforsecurity=False)
                hasher.update(fragment)
            putter.send_fragment(fragment)
        self._check_quorum()

    def _check_quorum(self) -> None:
        if len(self.live) < self._quorum:
            self._stop(QuorumLost(f"{len(self.live)} of {self._quorum} nodes left"))

    def _update_flow(self) -> None:
        if self._problem is None and self._producing is not None:
            self._check_quorum()
        source = self._source
        if source is None:
            return
        blocked = any(p.paused for p in self.live)
        if blocked and not self._source_paused:
            self._source_paused = True
            source.pauseProducing()
        elif not blocked and self._source_paused:
            self._source_paused = False
            source.resumeProducing()
