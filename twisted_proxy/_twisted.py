# -*- test-case-name: tests.test_twisted_private -*-
"""
The one module of twisted-proxy that uses private Twisted names.

twisted.web collects a whole request body before a resource sees the
request, and has no public way to take the body as it arrives
(twisted/twisted#4688); Twisted's HTTP client logs routine events at info
level with no public switch. What the proxy needs beyond the public API is
done here, in subclasses and helpers with public names, so that the rest of
the package uses only those.

Private names used, and why:

  - C{twisted.web.http.HTTPChannel._command}, C{._path}, C{._version}: the
    request line of the request whose headers have just arrived. A streamed
    body's request is processed before the body is in, and twisted.web only
    hands the request line over once it is (L{StreamingChannel.request_line}).
    Whether they are set also tells a request line from a header line, for
    the line limits of L{StreamingChannel.lineReceived}.
  - C{twisted.web.http.HTTPChannel._networkProducer}: what the channel
    pauses and resumes to stop and restart reading from the client. It is
    replaced by a L{ReadGate} so that the channel and a streaming body share
    one pause state instead of resuming each other's pauses.
  - C{twisted.web.http.HTTPChannel._send100Continue}: overridden so that a
    streamed body is invited with C{100 Continue} only once something reads
    it, as Swift does (a request refused early never invites its body).
  - C{twisted.web.http.Request._disconnected}: whether the client connection
    was lost (L{is_disconnected}).
  - C{twisted.logger.LogPublisher._observers}: the observers twistd has
    installed, read (never written) to put them behind a filter
    (L{QuietTwistedLogging}); twistd sets its observer up after the plugin's
    C{makeService} has run, with no hook to filter it.
  - The log namespaces C{twisted.web._newclient.HTTPClientParser} (one info
    line for every C{100 Continue} a storage node sends),
    C{twisted.web.client._HTTP11ClientFactory} (two info lines for every
    backend connection),
    C{twisted.application._client_service.ClientService} (one info line for
    every reconnection attempt) and C{twisted.internet.endpoints.OneShotFactory}
    (the local factory class of C{connectProtocol}: two info lines for
    every connection made with it), as strings matched by
    L{QuietTwistedClient}; nothing is imported from those modules. It also
    matches the format of L{HTTPChannel.timeoutConnection}'s info line
    (L{IDLE_TIMEOUT_FORMAT}).

The overrides also rely on L{HTTPChannel} splitting lines with its
L{LineReceiver} base (the public C{delimiter}, C{MAX_LENGTH} and
C{lineLengthExceeded}), and on the order in which it calls its public
hooks: C{lineReceived} with the raw request line, C{headerReceived}
per header, then C{allHeadersReceived} (C{Request.gotLength}, then the
C{Expect} check), C{Request.handleContentChunk} per body chunk, and
C{allContentReceived} (C{Request.requestReceived}) at the end of the body.

All of this was read against Twisted 23.10.0 and 26.10.0. setup.py pins
C{twisted[tls]>=23.10,<27} to guard these names: a new major version must be
read against this list (and tests/test_twisted_private.py run) before the
pin moves.
"""

from __future__ import annotations

import io
import re
from typing import Any, Callable, Optional

from twisted.application.service import Service
from twisted.internet.interfaces import IPushProducer
from twisted.logger import (
    FilteringLogObserver,
    ILogFilterPredicate,
    ILogObserver,
    LogEvent,
    LogLevel,
    LogPublisher,
    PredicateResult,
)
from twisted.python.failure import Failure
from twisted.web import http, server
from zope.interface import Attribute, Interface, implementer

__all__ = [
    "IStreamingBody",
    "ReadGate",
    "StreamingChannel",
    "StreamingRequest",
    "is_disconnected",
    "IDLE_TIMEOUT_FORMAT",
    "QUIET_EVENTS",
    "QUIET_NAMESPACES",
    "QuietTwistedClient",
    "quiet_observer",
    "QuietTwistedLogging",
]


# -- reading from the client ------------------------------------------------


@implementer(IPushProducer)
class _Hold:
    """
    One holder's pause of a L{ReadGate}.
    """

    def __init__(self, gate: ReadGate) -> None:
        self._gate = gate

    def pauseProducing(self) -> None:
        self._gate.hold(self)

    def resumeProducing(self) -> None:
        self._gate.release(self)

    def stopProducing(self) -> None:
        """
        A holder that stops wants nothing more: it holds the gate no longer.
        """
        self._gate.release(self)


@implementer(IPushProducer)
class ReadGate:
    """
    Reading from one client connection, paused while any of its holders
    wants it paused: the channel (answering a request, or with its writes
    backed up) and a streaming body (whose backends cannot take more) each
    pause and resume only for themselves.

    Its own L{IPushProducer} methods are the channel's hold, as the channel
    uses it in place of its transport.

    @param producer: the connection's producer (its transport).
    """

    def __init__(self, producer: IPushProducer) -> None:
        self._producer = producer
        self._holders: set[object] = set()

    @property
    def paused(self) -> bool:
        """
        Whether anyone holds reading paused.
        """
        return bool(self._holders)

    def hold(self, holder: object) -> None:
        """
        Pause reading for C{holder}; holding twice is holding once.
        """
        if not self._holders:
            self._producer.pauseProducing()
        self._holders.add(holder)

    def release(self, holder: object) -> None:
        """
        End C{holder}'s pause; reading resumes when no one holds it.
        """
        if holder not in self._holders:
            return
        self._holders.discard(holder)
        if not self._holders:
            self._producer.resumeProducing()

    def holder(self) -> IPushProducer:
        """
        A new holder: an L{IPushProducer} whose pause and resume are its own.
        """
        return _Hold(self)

    # The channel's side.

    def pauseProducing(self) -> None:
        self.hold(self)

    def resumeProducing(self) -> None:
        self.release(self)

    def stopProducing(self) -> None:
        self._producer.stopProducing()

    def unregisterProducer(self) -> None:
        """
        As the transport's: L{HTTPChannel} calls it as it closes.
        """
        self._producer.unregisterProducer()  # type: ignore[attr-defined]


# -- streaming request bodies -----------------------------------------------


class IStreamingBody(Interface):
    """
    A request body taken as it arrives (L{StreamingRequest.body_receiver}).
    """

    started = Attribute(
        "A L{Deferred} firing when something starts reading the body: then "
        "a client that asked for C{100 Continue} is told to send it.")
    complete = Attribute("Whether the whole body has arrived.")

    def dataReceived(data):
        """
        The next chunk of the body, C{bytes}.
        """

    def body_complete():
        """
        The client sent the whole body.
        """

    def connectionLost(reason):
        """
        The client connection was lost (a L{Failure}).
        """


_REQUEST_LINE = re.compile(rb"^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]+) (HTTP/1\.[01])$")
_UNSAFE_TARGET_BYTE = re.compile(rb"[^\x21-\x7e]")
_VERSION = re.compile(rb" HTTP/([0-9]+)\.([0-9]+)$")
_ABSOLUTE_TARGET = re.compile(rb"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]+")


def _status(code: int, reason: bytes) -> bytes:
    return (b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            % (code, reason))


class StreamingChannel(http.HTTPChannel):
    """
    An L{HTTPChannel} for L{StreamingRequest}s, which also accepts what
    Swift's own server accepts and Twisted's parser does not:

      - a request target holding raw bytes outside printable ASCII, as Swift
        clients send UTF-8 object names: those bytes are percent-encoded,
        which names the same path;
      - an absolute-form target (C{GET http://host/path}, RFC 9112 section
        3.2.2), served as its path;
      - lines ended by a bare LF;
      - C{HTTP/1.x} for any minor version, served as C{HTTP/1.1};

    and answers what it refuses as Swift does, closing the connection:

      - a request line of L{max_request_line} bytes or more (line end
        included): C{414};
      - a header line of L{max_header_line} bytes or more: C{400 Header Line
        Too Long};
      - header lines totalling more than L{max_header_bytes}: C{400 Headers
        Too Large};
      - more than L{max_header_lines} header lines: C{431};
      - an C{HTTP/2.0} (or later) request line: C{505};
      - a list of transfer codings: C{501}, rather than Twisted's C{400};
      - a CR inside a header value: C{400}, with any Twisted (older ones
        would take it).

    These limits are checked as the lines arrive, before any request is
    made. (Twisted's own limits, C{MAX_LENGTH}, C{totalHeadersSize} and
    C{maxHeaders}, would close the connection without an answer or answer
    a bare C{400}: they are set so that these answer first.)

    @ivar readGate: the L{ReadGate} over the client connection, once it is
        made.
    @ivar max_request_line: Swift's C{max_request_line}.
    @ivar max_header_line: Swift's C{max_header_size}.
    @ivar max_header_lines: the most header lines of one request.
    @ivar max_header_bytes: the most bytes of one request's header lines,
        line ends included.
    """

    readGate: Optional[ReadGate] = None
    max_request_line = 8192
    max_header_line = 8192
    max_header_lines = 200
    max_header_bytes = 65536

    delimiter = b"\n"
    maxHeaders = 2**31
    totalHeadersSize = 2**31

    _header_lines = 0
    _header_bytes = 0

    def connectionMade(self) -> None:
        # Lines are split at LF (a CR before it is dropped in lineReceived);
        # a line this long is refused in lineLengthExceeded before it is all
        # buffered.
        self.MAX_LENGTH = max(self.max_request_line, self.max_header_line) - 2
        super().connectionMade()
        self.readGate = ReadGate(self._networkProducer)
        self._networkProducer = self.readGate

    def timeoutConnection(self) -> None:
        """
        Close a connection idle for the site's timeout. Twisted's info line
        for it (one per client: thousands under load) is filtered out by
        L{QuietTwistedClient}; L{idle_timed_out} is told instead.
        """
        self.idle_timed_out()
        super().timeoutConnection()

    def idle_timed_out(self) -> None:
        """
        Called as the connection is closed for idling, to count it.
        """

    def request_line(self) -> Optional[tuple[bytes, bytes, bytes]]:
        """
        The method, target and version of the request being received, from
        its first line until its body is complete; C{None} otherwise.
        """
        try:
            return self._command, self._path, self._version
        except AttributeError:
            return None

    def send_continue(self) -> None:
        """
        Write C{100 Continue}.
        """
        super()._send100Continue()

    def refuse(self, code: int, reason: bytes) -> None:
        """
        Answer C{code} with an empty body and close the connection, without
        reading another byte from it.
        """
        assert self.transport is not None
        self.transport.write(_status(code, reason))
        self.transport.loseConnection()

    def lineLengthExceeded(self, line: bytes) -> None:
        if self.request_line() is None:
            self.refuse(414, b"Request URI Too Long")
        else:
            self.refuse(400, b"Header Line Too Long")

    def lineReceived(self, line: bytes) -> None:
        # The line's length as sent, its end included.
        sent = len(line) + 1
        if line.endswith(b"\r"):
            line = line[:-1]
        if self.request_line() is None:
            if not line:
                super().lineReceived(line)
                return
            if sent >= self.max_request_line:
                self.refuse(414, b"Request URI Too Long")
                return
            self._header_lines = self._header_bytes = 0
            line = self._request_line(line)
            if not line:
                return
        elif line:
            self._header_lines += 1
            self._header_bytes += sent
            if sent >= self.max_header_line:
                self.refuse(400, b"Header Line Too Long")
                return
            if self._header_lines > self.max_header_lines:
                self.refuse(431, b"Request Header Fields Too Large")
                return
            if self._header_bytes > self.max_header_bytes:
                self.refuse(400, b"Headers Too Large")
                return
        super().lineReceived(line)

    def _request_line(self, line: bytes) -> bytes:
        """
        The request line as Twisted's parser takes it, or C{b""} when it
        has been refused. A line that is no request line is left as it is,
        for Twisted to answer C{400}.
        """
        version = _VERSION.search(line)
        if version is None:
            return line
        major = int(version.group(1))
        if major >= 2:
            self.refuse(505, b"HTTP Version Not Supported")
            return b""
        if major != 1:
            return line
        method, _, target = line[: version.start()].partition(b" ")
        absolute = _ABSOLUTE_TARGET.match(target)
        if absolute is not None and absolute.end() < len(target):
            target = target[absolute.end():]
            if not target.startswith(b"/"):
                target = b"/" + target
        quoted = _UNSAFE_TARGET_BYTE.sub(lambda m: b"%%%02X" % m.group(0)[0], target)
        minor = b"0" if int(version.group(2)) == 0 else b"1"
        candidate = b"%s %s HTTP/1.%s" % (method, quoted, minor)
        if _REQUEST_LINE.match(candidate) is None:
            return line
        return candidate

    def headerReceived(self, line: bytes) -> bool:
        name, _, value = line.partition(b":")
        if b"\r" in value:
            # A CR left in a value (RFC 9110 section 5.5), refused whatever
            # Twisted's version: only 26 and later refuse it themselves.
            self.refuse(400, b"Bad Request")
            return False
        if name.strip().lower() == b"transfer-encoding" and b"," in value:
            self.refuse(501, b"Not Implemented")
            return False
        return bool(super().headerReceived(line))

    def _send100Continue(self) -> None:
        request = self.requests[-1] if self.requests else None
        if isinstance(request, StreamingRequest) and request.streamingBody is not None:
            # The request invites its body itself, once something reads it.
            return
        super()._send100Continue()

    def allContentReceived(self) -> None:
        if not self.requests:
            # The request was answered (and the connection is closing)
            # before its body was complete.
            return
        super().allContentReceived()


class StreamingRequest(server.Request):
    """
    A request whose body may be taken as it arrives: when
    L{body_receiver} gives an L{IStreamingBody}, processing starts as soon as
    the headers are in and the body is fed to it chunk by chunk; otherwise
    twisted.web collects the body first, as usual.

    Answered before its whole body arrived, the request closes the
    connection after the response: the rest of the body cannot be told
    from a next request.

    @ivar streamingBody: the L{IStreamingBody}, or C{None} when twisted.web
        collects the body.
    """

    streamingBody: Optional[IStreamingBody] = None

    def body_receiver(self, method: bytes, length: Optional[int],
                     reading: IPushProducer) -> Optional[IStreamingBody]:
        """
        What takes this request's body as it arrives, or C{None} to have
        twisted.web collect it. Not called for a request without a body.

        @param method: the request method, as sent.
        @param length: the declared length, or C{None} for a chunked body.
        @param reading: the client connection's reading, to pause while the
            body cannot be taken (a holder of the channel's L{ReadGate}).
        """
        return None

    def gotLength(self, length: Optional[int]) -> None:
        channel = self.channel
        line = channel.request_line() if isinstance(channel, StreamingChannel) else None
        gate = channel.readGate if isinstance(channel, StreamingChannel) else None
        body = None
        if line is not None and gate is not None and length != 0:
            body = self.body_receiver(line[0], length, gate.holder())
        if body is None:
            super().gotLength(length)
            return
        command, uri, version = line  # type: ignore[misc]
        self.content = io.BytesIO()
        self.streamingBody = body
        expect = self.requestHeaders.getRawHeaders(b"expect") or [b""]
        if expect[0].lower() == b"100-continue" and version == b"HTTP/1.1":
            body.started.addCallback(self._continue)
        # Let the channel finish with the headers before the resource runs.
        channel.callLater(  # type: ignore[call-arg]
            0, self._process_streaming, command, uri, version)

    def _continue(self, _: object) -> None:
        channel = self.channel
        if not self.startedWriting and not self._disconnected:
            assert isinstance(channel, StreamingChannel)
            channel.send_continue()

    def _process_streaming(self, command: bytes, uri: bytes, version: bytes) -> None:
        if self._disconnected:
            return
        self.method, self.uri, self.clientproto = command, uri, version
        self.path = uri.split(b"?", 1)[0]
        self.args = {}
        self.process()

    def handleContentChunk(self, data: bytes) -> None:
        if self.streamingBody is not None:
            self.streamingBody.dataReceived(data)
        else:
            super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self.streamingBody is not None:
            self.streamingBody.body_complete()
            return
        super().requestReceived(command, path, version)

    def write(self, data: bytes) -> None:
        body = self.streamingBody
        if not self.startedWriting and body is not None and not body.complete:
            assert self.channel is not None
            self.channel.persistent = False
            self.responseHeaders.setRawHeaders(b"Connection", [b"close"])
        super().write(data)

    def connectionLost(self, reason: Failure) -> None:
        super().connectionLost(reason)
        if self.streamingBody is not None:
            self.streamingBody.connectionLost(reason)


def is_disconnected(request: http.Request) -> bool:
    """
    Whether C{request}'s client connection was lost: nothing more can be
    written to it, and C{finish} must not be called.
    """
    return bool(request._disconnected)


# -- logging ----------------------------------------------------------------

#: The log namespaces of Twisted's clients whose info lines are noise to the
#: proxy: every skipped C{100 Continue}, every connection's factory starting
#: and stopping (pooled HTTP connections, and C{connectProtocol}'s, as the
#: erasure-coded PUT's connections to its nodes), and every reconnection
#: attempt of a L{ClientService} (ten Redis connections retrying ~110 times
#: a minute while Redis is down: the info store logs one warning per outage
#: instead).
QUIET_NAMESPACES = (
    "twisted.web._newclient.HTTPClientParser",
    "twisted.web.client._HTTP11ClientFactory",
    "twisted.application._client_service.ClientService",
    "twisted.internet.endpoints.OneShotFactory",
)

#: Single info lines that are noise, as (namespace, format) pairs; for
#: legacy C{log.msg} events (namespace C{log_legacy}) the text stands for
#: the format: txredisapi logs each dead pooled connection it drops (ten
#: per Redis outage).
QUIET_EVENTS = (("log_legacy", "Discarding dead connection."),)

#: The format of the info line L{HTTPChannel.timeoutConnection} logs for
#: every idle client it times out (thousands under load), under the
#: namespace of the channel's class; L{StreamingChannel} has them counted
#: instead (L{StreamingChannel.idle_timed_out}).
IDLE_TIMEOUT_FORMAT = "Timing out client: {peer}"


@implementer(ILogFilterPredicate)
class QuietTwistedClient:
    """
    A log filter predicate: events from L{QUIET_NAMESPACES}, the events of
    L{QUIET_EVENTS} and a channel's L{IDLE_TIMEOUT_FORMAT} line, below
    warning level, are dropped; every other event is left to the observer.
    """

    def __call__(self, event: LogEvent) -> PredicateResult:
        namespace = event.get("log_namespace")
        level = event.get("log_level")
        if level is None or level >= LogLevel.warn:
            return PredicateResult.maybe
        if namespace in QUIET_NAMESPACES:
            return PredicateResult.no
        text = event.get("log_text" if namespace == "log_legacy" else "log_format")
        if (namespace, text) in QUIET_EVENTS:
            return PredicateResult.no
        if text == IDLE_TIMEOUT_FORMAT and isinstance(event.get("log_source"),
                                                      http.HTTPChannel):
            return PredicateResult.no
        return PredicateResult.maybe


def quiet_observer(observer: ILogObserver) -> ILogObserver:
    """
    C{observer} behind a L{QuietTwistedClient} filter.
    """
    return FilteringLogObserver(observer, [QuietTwistedClient()])


class QuietTwistedLogging(Service):
    """
    While running, puts each observer of C{publisher} behind
    L{quiet_observer}, and puts them back when it stops. Started by twistd
    after it has set up its own observer, which no public hook can filter.

    Observers added while it runs are not filtered; one removed while it
    runs is put back when it stops.

    @ivar publisher: the publisher whose observers to filter (the global
        one under twistd).
    @param wrap: how to filter one observer.
    """

    def __init__(self, publisher: LogPublisher,
                 wrap: Callable[[ILogObserver], ILogObserver] = quiet_observer) -> None:
        self.publisher = publisher
        self._wrap = wrap
        self._wrapped: list[tuple[Any, ILogObserver]] = []

    def startService(self) -> None:
        super().startService()
        originals = list(self.publisher._observers)
        for observer in originals:
            self.publisher.removeObserver(observer)
        for observer in originals:
            filtered = self._wrap(observer)
            self._wrapped.append((observer, filtered))
            self.publisher.addObserver(filtered)

    def stopService(self) -> None:
        super().stopService()
        wrapped, self._wrapped = self._wrapped, []
        for _, filtered in wrapped:
            self.publisher.removeObserver(filtered)
        for observer, _ in wrapped:
            self.publisher.addObserver(observer)
