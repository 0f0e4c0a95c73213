"""
Test doubles shared by the tests: a consumer that collects what it is given,
a stored object's body as the object controller streams it, a client's
streamed body that the test writes (L{PushedBody}), a TCP connection's
transport and socket options (L{TCPTransport}), and typed
builders for the ring's and the info cache's dicts (L{make_node},
L{make_cors}), L{partial_context} for the plugin tests' stand-ins for
the proxy's context, with L{remember_info} for their stand-ins for the
controllers, and L{without_pyeclib} for a proxy that has no PyECLib.
"""

from __future__ import annotations

import sys
from typing import Any, Mapping, Optional, Union, cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IConsumer, IPushProducer, ITCPTransport
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.cache import INFO_ENVIRON_KEY, account_key, container_key
from twisted_proxy.swift.cors import CORSInfo
from twisted_proxy.swift.http import SwiftRequest
from twisted_proxy.swift.ring import Node

__all__ = ["Collector", "FakeSocket", "PushedBody", "RecordingProducer", "StoredBody",
           "TCPTransport", "make_cors", "make_node", "partial_context", "remember_info",
           "without_pyeclib"]


def without_pyeclib(case: SynchronousTestCase) -> None:
    """
    Make importing PyECLib fail (as where it is not installed, PyPy without
    the C{ec} extra) until C{case} ends.
    """
    name = "pyeclib.ec_iface"
    saved = sys.modules.get(name)
    # A None entry makes the import raise ImportError.
    sys.modules[name] = None  # type: ignore[assignment]

    def restore() -> None:
        if saved is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = saved

    case.addCleanup(restore)


def make_node(
    ip: str = "127.0.0.1",
    port: int = 6200,
    device: str = "sda",
    *,
    id: int = 0,
    region: int = 1,
    zone: int = 1,
    replication_ip: Optional[str] = None,
    replication_port: Optional[int] = None,
    weight: Optional[float] = None,
    meta: Optional[str] = None,
    index: Optional[int] = None,
    handoff_index: Optional[int] = None,
) -> Node:
    """
    A ring device with the keys a ring always has (C{id}, C{region},
    C{zone}, C{ip}, C{port}, C{device}) and those of the optional ones that
    are given; an optional key left at C{None} is absent.
    """
    node = Node(id=id, region=region, zone=zone, ip=ip, port=port, device=device)
    if replication_ip is not None:
        node["replication_ip"] = replication_ip
    if replication_port is not None:
        node["replication_port"] = replication_port
    if weight is not None:
        node["weight"] = weight
    if meta is not None:
        node["meta"] = meta
    if index is not None:
        node["index"] = index
    if handoff_index is not None:
        node["handoff_index"] = handoff_index
    return node


def partial_context(double: object) -> ProxyContext:
    """
    C{double}, a stand-in for the parts of a L{ProxyContext} that the plugin
    under test reads, typed as the whole context it stands in for. The
    plugin tests pass such partial doubles on purpose: a real context would
    need rings, a node client and settings they never use.
    """
    return cast(ProxyContext, double)


def remember_info(request: SwiftRequest, account: Mapping[str, Any],
                  container: Mapping[str, Any]) -> bool:
    """
    What the controllers do for a C{HEAD} or C{GET} of an account or a
    container: keep C{account} or C{container} as its info for the request
    (in the environ's info cache, where the plugins' info lookups find it).

    @return: whether C{request} was such a request.
    """
    parts = request.path.split("/")
    if request.method not in ("HEAD", "GET") or len(parts) not in (3, 4):
        return False
    cache = request.environ.setdefault(INFO_ENVIRON_KEY, {})
    if len(parts) == 3:
        cache[account_key(parts[2])] = account
    else:
        cache[container_key(parts[2], parts[3])] = container
    return True


def make_cors(
    allow_origin: Optional[str] = None,
    expose_headers: Optional[str] = None,
    max_age: Optional[str] = None,
) -> CORSInfo:
    """
    The C{cors} section of a container's info, every key present (C{None}
    when not set), as the info cache builds it from a container's headers.
    """
    return CORSInfo(
        allow_origin=allow_origin, expose_headers=expose_headers, max_age=max_age
    )


@implementer(IConsumer)
class Collector:
    """
    Collects a body; remembers the producer registered with it, and with
    C{pause_after}, pauses C{producer} once it holds that many bytes.
    """

    def __init__(self, producer: Any = None, pause_after: Optional[int] = None) -> None:
        self.data = b""
        self.producer = producer
        self.pause_after = pause_after

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        self.data += data
        if self.pause_after is not None and len(self.data) >= self.pause_after:
            self.pause_after = None
            self.producer.pauseProducing()


@implementer(IPushProducer)
class RecordingProducer:
    """
    A producer that records whether it is paused and whether it was
    stopped.
    """

    def __init__(self) -> None:
        self.paused = False
        self.stopped = False

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        self.stopped = True


@implementer(IBodyProducer)
class StoredBody(RecordingProducer):
    """
    A stored object's body, as the object controller's: written in two
    pieces when asked (or, held, on L{release}); records pausing and
    stopping.
    """

    def __init__(self, data: bytes, hold: bool = False) -> None:
        super().__init__()
        self.data = data
        self.length = len(data)
        self.hold = hold
        self.started = False
        self.consumer: Optional[IConsumer] = None
        self.done: Optional[Deferred[None]] = None

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        self.started = True
        self.consumer = consumer
        done: Deferred[None] = Deferred(lambda _: self.stopProducing())
        self.done = done
        if not self.hold:
            self.release()
        return done

    def release(self) -> None:
        assert self.consumer is not None and self.done is not None
        half = len(self.data) // 2
        for piece in (self.data[:half], self.data[half:]):
            if piece and not self.stopped:
                self.consumer.write(piece)
        done, self.done = self.done, None
        if not self.stopped:
            done.callback(None)

    def fail(self, reason: Exception) -> None:
        assert self.done is not None
        done, self.done = self.done, None
        done.errback(Failure(reason))


@implementer(IBodyProducer)
class PushedBody(RecordingProducer):
    """
    A client's streamed request body, written by the test: L{send} hands
    bytes to the consumer, L{end} finishes the body (or fire or fail
    C{done}); records pausing and stopping. Cancelling C{done} stops it.
    """

    def __init__(self, length: Union[int, object] = UNKNOWN_LENGTH) -> None:
        super().__init__()
        self.length = length
        self.consumer: Optional[IConsumer] = None
        self.done: Deferred[None] = Deferred(lambda _: self.stopProducing())

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        self.consumer = consumer
        return self.done

    def send(self, data: bytes) -> None:
        assert self.consumer is not None
        self.consumer.write(data)

    def end(self) -> None:
        self.done.callback(None)


class FakeSocket:
    """
    The options set on a socket, as C{getHandle} of a TCP transport gives
    it: C{options[level, option]}.
    """

    def __init__(self) -> None:
        self.options: dict[tuple[int, int], int] = {}

    def setsockopt(self, level: int, option: int, value: int) -> None:
        self.options[level, option] = value


@implementer(ITCPTransport)
class TCPTransport(StringTransport):
    """
    A L{StringTransport} with a TCP transport's C{bufferSize} (the bytes
    it reads at once), keepalive switch and socket (L{handle}).
    """

    bufferSize = 65536

    def __init__(self, hostAddress: Optional[IAddress] = None,
                 peerAddress: Optional[IAddress] = None) -> None:
        super().__init__(hostAddress, peerAddress)
        self.keepalive = False
        self.handle = FakeSocket()

    def setTcpKeepAlive(self, enabled: bool) -> None:
        self.keepalive = enabled

    def getTcpKeepAlive(self) -> bool:
        return self.keepalive

    def setTcpNoDelay(self, enabled: bool) -> None:
        pass

    def getTcpNoDelay(self) -> bool:
        return True

    def loseWriteConnection(self) -> None:
        pass

    def getHandle(self) -> FakeSocket:
        return self.handle
