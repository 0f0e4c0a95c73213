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
  - C{twisted.web.http.HTTPChannel._respondToBadRequestAndDisconnect}:
    overridden so that the C{400} Twisted's parser answers itself (a
    malformed request line or header, bad framing) goes out as every
    other refusal of the channel (L{StreamingChannel.refuse}), with the
    headers L{StreamingChannel.refusal_headers} gives it.
  - C{twisted.web.http.Request._disconnected}: whether the client connection
    was lost (L{is_disconnected}).
  - C{twisted.protocols.haproxy._wrapper.HAProxyProtocolWrapper} and
    C{HAProxyWrappingFactory}, and the wrapper's C{_proxyInfo} (the parsed
    header, C{None} until it is in): Twisted's PROXY protocol (v1 and v2)
    is public only as an endpoint wrapper, and a worker serves a socket it
    adopted, not an endpoint. L{ProxyProtocolWrapper} waits for enough
    bytes to tell a header, and answers a connection without one as Swift
    does (C{400 Invalid PROXY line}) where Twisted's only closes it.
  - C{twisted.web.http_headers.Headers._rawHeaders}: the stored headers,
    keyed by the name written on the wire. L{Headers.setRawHeaders} spells
    every name its canonical way (C{X-Amz-Meta-Color}); S3 clients read
    C{x-amz-meta-*} names as sent, so L{set_header_verbatim} re-keys a
    header set through the public method (which checks name and value).
  - C{twisted.web.http_headers._nameEncoder} (its C{encode}) and
    C{_sanitizeLinearWhitespace}: how L{Headers.setRawHeaders} spells a
    name and cleans a value. L{fill_headers} stores a whole set of headers
    at once in C{Headers._rawHeaders} as that method would store each,
    the name spellings cached, instead of one method call, name encoding
    and value scan per header (about 30 header sets a request).
  - C{twisted.web.client._AgentBase._requestWithEndpoint} (what it does,
    done again), C{._computeHostValue}, C{._getEndpoint} and C{._pool},
    and C{twisted.web._newclient._ensureValidURI},
    C{_ensureValidMethod}, C{BadHeaders} and C{Request} (its
    C{_construct} and C{_writeHeaders}, overridden): what
    L{Agent.request} does once it has parsed its URL. L{NodeAgent.request_to}
    takes a storage node's host and port already parsed (L{NodeTarget}),
    and only the path per request, rather than formatting and re-parsing a
    whole URL (C{URI.fromBytes}) for every request to a node, and writes
    the request's head in one piece (Twisted's checks the method and
    target a third time and writes one piece per header).
  - C{twisted.logger.LogPublisher._observers}: the observers twistd has
    installed, read (never written) to put them behind a filter
    (L{QuietTwistedLogging}); twistd sets its observer up after the plugin's
    C{makeService} has run, with no hook to filter it.
  - C{twisted.logger.FileLogObserver} (its C{_outFile}, C{_encoding} and
    C{formatEvent}) and the closure of the C{formatEvent} function
    C{textFileLogObserver} makes (its C{timeFormat}): to recognize
    twistd's text log file and write an event whose text is already
    formatted (L{TEXT_KEY}) straight to it, as it would have
    (L{quiet_observer}), with its time stamp formatted once a second.
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

  - C{twisted.web._newclient.TransportProxyProducer._producer}: the TCP
    connection under a backend response's body transport, whose socket a
    zero-copy relay reads (L{tcp_connection_of}).
  - C{twisted.internet.abstract.FileDescriptor.dataBuffer}, C{.offset},
    C{._tempDataBuffer} and C{._tempDataLen}: the bytes a connection has
    buffered but not yet sent, taken over by a zero-copy relay so that they
    reach the socket before the relayed ones (L{take_pending_writes}).
  - C{twisted.web._newclient.LengthEnforcingConsumer}, its C{._length},
    C{._consumer} and C{._finished}: what a backend request's body producer
    writes into (with a known length), the connection under it, and the
    bytes it still expects; a zero-copy PUT writes the rest of the body
    around it and tells it so (L{upload_sink}).
  - C{twisted.web.http.HTTPChannel._transferDecoder}, an
    C{_IdentityTransferDecoder}, and its C{contentLength},
    C{dataCallback} and C{dataReceived}: the client's request body parser
    and the bytes it still expects; a zero-copy PUT reads them around it
    and tells it so (L{unread_body}, L{read_around}).
  - C{twisted.web.client.HTTPConnectionPool._connections},
    C{._putConnection}, C{._removeConnection}, C{._newConnection},
    C{._reactor} and C{._timeouts} (left empty), and
    C{_RetryingHTTP11ClientProtocol}: L{NodeConnectionPool} keeps
    Twisted's pool of idle connections and closes them when Twisted's
    would, with one timer for the pool rather than one set and cancelled
    for every request.
  - C{twisted.web._newclient.HTTPClientParser}: its C{STATUS} and
    C{HEADER} states, C{statusReceived}, C{allHeadersReceived},
    C{CONNECTION_CONTROL_HEADERS}, C{connHeaders}, C{_log}, C{response}
    and what its L{LineReceiver} base keeps (C{_buffer},
    C{_busyReceiving}, C{line_mode}, C{paused}), and
    C{HTTP11ClientProtocol._parser}, the parser of the request just sent:
    L{NodeAgent.request_to} makes that parser a L{_NodeResponseParser}
    (a subclass with no state of its own), which reads a head that comes
    whole in one pass where Twisted's reads it line by line, with the
    same outcome.
  - C{twisted.internet.process.Process._trySpawnInsteadOfFork},
    C{._setupChild} and C{._execChild}, overridden by L{ForkedProcess}: a
    worker forked from the proxy (C{worker_start = fork}) is a Twisted
    process (its file descriptors mapped as C{childFDs} says, every other
    one closed, its pipes read and its end reaped as for any child) that
    runs Python code in the forked copy where Twisted would C{exec} a
    program; C{twisted.internet.process._listOpenFDs}, the descriptors
    the child inherited, which it replaces with C{/dev/null}; and
    C{twisted.internet.process.reapProcessHandlers}, the parent's
    children, forgotten in such a child (L{install_fresh_reactor}).

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
import ipaddress
import os
import re
import sys
import traceback
from typing import Any, Callable, Iterable, Optional, Sequence

from twisted.application.service import Service
from twisted.internet import process, tcp
from twisted.internet.address import IPv6Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IAddress, IPushProducer
from twisted.logger import (
    FileLogObserver,
    ILogFilterPredicate,
    ILogObserver,
    LogEvent,
    LogLevel,
    LogPublisher,
    PredicateResult,
    formatTime,
    timeFormatRFC3339,
)
from twisted.protocols.haproxy._wrapper import HAProxyProtocolWrapper, HAProxyWrappingFactory
from twisted.protocols.policies import ProtocolWrapper
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from twisted.web import http, server
from twisted.web._newclient import (
    HEADER,
    STATUS,
    BadHeaders,
    HTTPClientParser,
    LengthEnforcingConsumer,
    Request,
    _ensureValidMethod,
    _ensureValidURI,
)
from twisted.web.client import URI, Agent, HTTPConnectionPool, _RetryingHTTP11ClientProtocol
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer, IResponse

try:
    from twisted.web.http_headers import _nameEncoder, _sanitizeLinearWhitespace
except ImportError:  # pragma: no cover (Twisted before 24.7: no fast path)
    _nameEncoder = None  # type: ignore[assignment]
from zope.interface import Attribute, Interface, implementer

__all__ = [
    "fill_headers",
    "NodeAgent",
    "NodeConnectionPool",
    "NodeTarget",
    "set_header_verbatim",
    "IStreamingBody",
    "ReadGate",
    "StreamingChannel",
    "StreamingRequest",
    "is_disconnected",
    "take_pending_writes",
    "tcp_connection_of",
    "UploadSink",
    "upload_sink",
    "unread_body",
    "read_around",
    "ProxyProtocolFactory",
    "ProxyProtocolWrapper",
    "IDLE_TIMEOUT_FORMAT",
    "QUIET_EVENTS",
    "QUIET_NAMESPACES",
    "QuietTwistedClient",
    "quiet_observer",
    "TEXT_KEY",
    "QuietTwistedLogging",
    "ForkedProcess",
    "install_fresh_reactor",
    "replace_observers",
]


#: Bytes looked for in header values and paths, as integers: C{byte in
#: data} with a one-byte C{bytes} first tries it as an integer, and raises
#: and formats a C{TypeError} to find out it is not one, every time.
_CR, _LF, _COMMA, _HASH = b"\r\n,#"

#: The C{Host} header's name as L{Headers} stores it (since Twisted 24.7).
_HOST = b"Host"


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
#: A request line Twisted's parser takes as it is: an origin-form target
#: of printable ASCII, HTTP/1.0 or 1.1.
_PLAIN_REQUEST_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ /[\x21-\x7e]* HTTP/1\.[01]\Z")
_UNSAFE_TARGET_BYTE = re.compile(rb"[^\x21-\x7e]")
_VERSION = re.compile(rb" HTTP/([0-9]+)\.([0-9]+)$")
_ABSOLUTE_TARGET = re.compile(rb"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]+")


def _status(code: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    lines = [b"HTTP/1.1 %d %s" % (code, reason), b"Content-Length: 0", b"Connection: close"]
    lines.extend(b"%s: %s" % (name, value) for name, value in headers)
    return b"\r\n".join(lines) + b"\r\n\r\n"


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
      - whatever else Twisted's parser refuses (a malformed request line
        or header, bad framing): C{400 Bad Request}.

    Every refusal carries the headers of L{refusal_headers}. These limits are checked as the lines arrive, before any request is
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

    def refusal_headers(self) -> list[tuple[bytes, bytes]]:
        """
        The headers (name, value) of a response the channel makes itself
        (L{refuse}), besides C{Content-Length} and C{Connection}: none
        here; a subclass adds its own (the proxy's transaction id).
        """
        return []

    def refuse(self, code: int, reason: bytes) -> None:
        """
        Answer C{code} with an empty body and the headers of
        L{refusal_headers}, and close the connection, without reading
        another byte from it.
        """
        assert self.transport is not None
        self.transport.write(_status(code, reason, self.refusal_headers()))
        self.transport.loseConnection()

    def _respondToBadRequestAndDisconnect(self) -> None:
        self.refuse(400, b"Bad Request")

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
        if _PLAIN_REQUEST_LINE.match(line) is not None:
            # Nearly every line: taken as it is (what the rest would make
            # of it), in one match.
            return line
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
        if _CR in value:
            # A CR left in a value (RFC 9110 section 5.5), refused whatever
            # Twisted's version: only 26 and later refuse it themselves.
            self.refuse(400, b"Bad Request")
            return False
        if name.strip().lower() == b"transfer-encoding" and _COMMA in value:
            self.refuse(501, b"Not Implemented")
            return False
        return bool(super().headerReceived(line))

    def writeHeaders(self, version: bytes, code: bytes, reason: bytes,
                     headers: Any) -> None:
        """
        Write a response's status line and headers as one piece: what
        Twisted's own writes as one piece for each name, colon, value and
        line end (some fifty for a Swift response, each checked and queued
        by the transport on its own).
        """
        if not isinstance(headers, Headers):
            super().writeHeaders(version, code, reason, headers)
            return
        assert self.transport is not None
        self.transport.write(_head([b"%s %s %s\r\n" % (version, code, reason)], headers))

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


def set_header_verbatim(headers: Headers, name: bytes, value: bytes) -> None:
    """
    Set the header C{name} to C{value}, sent with C{name} spelled exactly
    as given rather than in Twisted's canonical capitalization.
    """
    headers.setRawHeaders(name, [value])
    raw = headers._rawHeaders
    for key in list(raw):
        if key.lower() == name.lower() and key != name:
            raw[name] = raw.pop(key)


#: Header names (as given) to their spelling in L{Headers}, as
#: C{_nameEncoder} gives it; bounded as Twisted bounds its own cache.
_HEADER_NAMES: dict[str, bytes] = {}
_MAX_HEADER_NAMES = 10_000


def _stored_name(name: str) -> bytes:
    stored = _nameEncoder.encode(name.encode("latin-1"))
    if len(_HEADER_NAMES) < _MAX_HEADER_NAMES:
        _HEADER_NAMES[name] = stored
    return stored  # type: ignore[no-any-return]


def fill_headers(headers: Headers, pairs: Iterable[tuple[str, str]]) -> None:
    """
    Set each header of C{pairs} (name and value as text, one character a
    byte) on C{headers}: exactly what
    C{headers.setRawHeaders(name.encode("latin-1"), [value.encode("latin-1")])}
    for each pair does, names checked and spelled as Twisted spells them
    (L{InvalidHeaderName} for a name that is no token) and line breaks in a
    value made spaces (no header can be injected), at a fraction of the
    cost.

    @raise UnicodeEncodeError: for a name or value not one byte a character.
    """
    if _nameEncoder is None:  # pragma: no cover
        for name, value in pairs:
            headers.setRawHeaders(name.encode("latin-1"), [value.encode("latin-1")])
        return
    raw = headers._rawHeaders
    names = _HEADER_NAMES
    for name, value in pairs:
        stored = names.get(name)
        if stored is None:
            stored = _stored_name(name)
        data = value.encode("latin-1")
        if _CR in data or _LF in data:
            data = _sanitizeLinearWhitespace(data)
        raw[stored] = [data]


class NodeConnectionPool(HTTPConnectionPool):
    """
    An L{HTTPConnectionPool} that closes each idle connection
    C{cachedConnectionTimeout} seconds after it went idle, as Twisted's
    does, with one timer for the whole pool where Twisted's sets a timer as
    each connection goes idle and cancels it as the connection is taken
    again: twice for every backend request, each time with the reactor's
    timer queue to keep in order.

    The timer fires at the earliest time an idle connection is due to be
    closed (or earlier, for one taken since), closes every connection whose
    time has come, and is set again for the earliest of the rest.

    @ivar _idle: each idle connection, with its pool key and the time it
        went idle; in the order they went idle.
    """

    def __init__(self, reactor: Any, persistent: bool = True) -> None:
        super().__init__(reactor, persistent)
        self._idle: dict[Any, tuple[Any, float]] = {}
        self._expiry: Optional[Any] = None

    def getConnection(self, key: Any, endpoint: Any) -> Deferred[Any]:
        """
        L{HTTPConnectionPool.getConnection}: the connection idle longest
        under C{key}, or a new one.
        """
        connections = self._connections.get(key)
        while connections:
            connection = connections.pop(0)
            del self._idle[connection]
            if connection.state == "QUIESCENT":
                if self.retryAutomatically:
                    connection = _RetryingHTTP11ClientProtocol(
                        connection, lambda: self._newConnection(key, endpoint))
                return succeed(connection)
        return self._newConnection(key, endpoint)  # type: ignore[no-any-return]

    def _putConnection(self, key: Any, connection: Any) -> None:
        if connection.state != "QUIESCENT":
            # Twisted's logs the bug, and keeps no such connection.
            HTTPConnectionPool._putConnection(self, key, connection)
            return
        connections = self._connections.setdefault(key, [])
        if len(connections) == self.maxPersistentPerHost:
            dropped = connections.pop(0)
            dropped.transport.loseConnection()
            del self._idle[dropped]
        connections.append(connection)
        now = self._reactor.seconds()
        self._idle[connection] = (key, now)
        if self._expiry is None:
            self._expiry = self._reactor.callLater(self.cachedConnectionTimeout, self._expire)

    def _expire(self) -> None:
        """
        Close every connection idle for C{cachedConnectionTimeout}, and
        set the timer for the next one due.
        """
        self._expiry = None
        timeout = self.cachedConnectionTimeout
        now = self._reactor.seconds()
        due: Optional[float] = None
        for connection, (key, since) in list(self._idle.items()):
            if now - since >= timeout:
                self._removeConnection(key, connection)
            elif due is None or since + timeout < due:
                due = since + timeout
        if due is not None:
            self._expiry = self._reactor.callLater(due - now, self._expire)

    def _removeConnection(self, key: Any, connection: Any) -> None:
        connection.transport.loseConnection()
        self._connections[key].remove(connection)
        del self._idle[connection]

    def closeCachedConnections(self) -> Deferred[None]:
        """
        L{HTTPConnectionPool.closeCachedConnections}, and the timer
        cancelled.
        """
        expiry, self._expiry = self._expiry, None
        if expiry is not None and expiry.active():
            expiry.cancel()
        self._idle = {}
        return super().closeCachedConnections()  # type: ignore[no-any-return]


class NodeTarget:
    """
    Where L{NodeAgent.request_to} sends: one HTTP server's address, parsed
    once.

    @ivar uri: the server's root URL, parsed.
    @ivar key: the connection pool's key for it.
    @ivar host: the C{Host} header value for it.
    """

    __slots__ = ("uri", "key", "host")

    def __init__(self, uri: URI, key: tuple[bytes, bytes, int], host: bytes) -> None:
        self.uri = uri
        self.key = key
        self.host = host


class NodeAgent(Agent):
    """
    An L{Agent} that can also send a request to a server whose address it
    was given once (L{target}), with only the path per request
    (L{request_to}): the same request, on the same pooled connections, as
    L{Agent.request} of the whole URL, without formatting and parsing that
    URL each time.
    """

    def target(self, host: bytes, port: int) -> NodeTarget:
        """
        The L{NodeTarget} of C{http://host:port} (an IPv6 address in
        brackets).
        """
        uri = URI.fromBytes(b"http://%s:%d/" % (host, port))
        return NodeTarget(uri, (uri.scheme, uri.host, uri.port),
                          self._computeHostValue(uri.scheme, uri.host, uri.port))

    def request_to(self, target: NodeTarget, method: bytes, path: bytes, headers: Headers,
                   bodyProducer: Optional[IBodyProducer] = None) -> Deferred[IResponse]:
        """
        L{Agent.request} of C{target}'s URL with C{path} (and query), which
        must begin with C{/} and hold no fragment (C{#}). C{headers} gets
        the C{Host} header if it has none (it is not copied first, as
        L{Agent.request} copies it).

        @raise ValueError: for a path with bytes a URL may not hold.
        """
        if method not in _VALID_METHODS:
            method = _ensureValidMethod(method)
            if len(_VALID_METHODS) < 64:
                _VALID_METHODS.add(method)
        path = _ensureValidURI(path.rstrip())
        if not path.startswith(b"/") or _HASH in path:
            raise ValueError(f"not an origin-form path: {path!r}")
        base = target.uri
        route, _, query = path.partition(b"?")
        uri = URI(base.scheme, base.netloc, base.host, base.port, route, b"", query, b"")
        if _nameEncoder is None:  # pragma: no cover (Twisted before 24.7)
            if not headers.hasHeader(b"host"):
                headers.addRawHeader(b"Host", target.host)
        elif _HOST not in headers._rawHeaders:
            # What headers.addRawHeader(b"Host", target.host) stores in
            # Headers without one (a host value needs no cleaning).
            headers._rawHeaders[_HOST] = [target.host]
        endpoint = self._getEndpoint(uri)
        pool = self._pool
        connected = pool.getConnection(target.key, endpoint)

        def send(protocol: Any) -> Deferred[IResponse]:
            sent: Deferred[IResponse] = protocol.request(
                _NodeRequest._construct(method, path, headers, bodyProducer,
                                        persistent=pool.persistent, parsedURI=uri))
            parser = protocol._parser
            if type(parser) is HTTPClientParser and _nameEncoder is not None:
                # The same parser, reading a head that comes in one piece
                # at once (see _NodeResponseParser); it has no state of its
                # own, so the one just made becomes one.
                parser.__class__ = _NodeResponseParser
            elif parser is not None:  # pragma: no cover (an older Twisted)
                parser._log = _UNHEARD
            return sent

        if connected.called and not isinstance(connected.result, (Failure, Deferred)):
            # A pooled connection comes in a Deferred fired already: the
            # request goes out on it now, and its answer's Deferred is
            # returned itself rather than chained behind that one.
            try:
                return send(connected.result)
            except BaseException:
                return fail()
        return connected.addCallback(send)  # type: ignore[no-any-return]


class _Unheard:
    """
    A stand-in for a parser's L{Logger} whose C{info} lines nobody hears
    (see L{quiet_observer}): they are not even made.
    """

    def info(self, format: str, **kwargs: object) -> None:
        pass


_UNHEARD = _Unheard()


#: The head of the interim answer to every PUT's C{Expect: 100-continue}.
_CONTINUE = b"HTTP/1.1 100 Continue"


class _NodeResponseParser(HTTPClientParser):
    """
    The parser of a response from a storage node: Twisted's, except that a
    head (status line, headers and the empty line) that arrives whole in
    one piece of data, as a node's almost always does, is parsed in one
    pass rather than line by line, each line a trip through
    L{LineReceiver.dataReceived}, C{lineReceived} and C{headerReceived}
    (and a whole L{Response} made for each C{100 Continue}): a third of
    the calls a small PUT makes reading its three answers.

    The outcome is the line-by-line one: the same status line parsing
    (L{HTTPClientParser.statusReceived}), header names lowered, checked
    and spelled by C{_nameEncoder}, values stripped and cleaned of line
    breaks as L{Headers.addRawHeader} cleans them, connection control
    headers kept apart, then L{HTTPClientParser.allHeadersReceived} with
    the bytes after the head buffered (what it hands on when the
    response has no body), and whatever follows parsed as it would be. Any
    head it cannot be sure of reading the same way (in more than one
    piece, a line too long, folded lines, a line feed without a carriage
    return) goes line by line.

    It logs nothing: all Twisted's parser logs is each C{1xx} answer it
    skips (every C{100 Continue} of a PUT), at info level, which the quiet
    observer drops; made and dropped, such an event cost 2% of a small PUT.
    """

    _log = _UNHEARD  # type: ignore[assignment]

    def dataReceived(self, data: bytes) -> None:
        transport: Any = self.transport
        if (self.state != STATUS or self._buffer or self._busyReceiving or self.paused
                or not self.line_mode or (transport and transport.disconnecting)):
            return HTTPClientParser.dataReceived(self, data)
        # Lines end with LF (a CR before it dropped): with every LF of the
        # head after a CR, its lines are what splitting at CR LF gives, and
        # it ends at the first empty one.
        end = data.find(b"\r\n\r\n")
        if end < 0 or end > self.MAX_LENGTH:
            return HTTPClientParser.dataReceived(self, data)
        head = data[:end]
        if (head.count(b"\n") != head.count(b"\r\n")
                or b"\n " in head or b"\n\t" in head):
            return HTTPClientParser.dataReceived(self, data)
        self._everReceivedData = True
        self._busyReceiving = True
        try:
            self._buffer = data[end + 4:]
            if end == len(_CONTINUE) and data.startswith(_CONTINUE):
                # What the line-by-line parser makes of it, but for the
                # Response it makes and drops, and the fresh (empty)
                # headers it starts again with: nothing was added to
                # these (headers are only added after a status line).
                self._log.info("Ignoring unexpected {code} response", code=100)
            else:
                self._head(head.split(b"\r\n"))
        finally:
            self._busyReceiving = False
        if transport and transport.disconnecting:
            return None
        rest = self.clearLineBuffer()
        if rest:
            # The body, or the next head after a 1xx: parsed as the line
            # receiver's loop would go on with it.
            return self.dataReceived(rest)
        return None

    def _head(self, lines: list[bytes]) -> None:
        """
        Parse the lines of a head as C{lineReceived} would, one by one,
        then end it as the empty line does.
        """
        self.statusReceived(lines[0])
        self.state = HEADER
        control = self.CONNECTION_CONTROL_HEADERS
        head_request = self.request.method == b"HEAD"
        raw = self.headers._rawHeaders
        connection = self.connHeaders._rawHeaders
        names = _WIRE_NAMES
        for index in range(1, len(lines)):
            wire_name, value = lines[index].split(b":", 1)
            name, stored = names.get(wire_name) or _wire_name(wire_name)
            value = value.strip()
            if _CR in value or _LF in value:
                value = _sanitizeLinearWhitespace(value)
            store = connection if name in control and not (
                head_request and name == b"content-length") else raw
            store.setdefault(stored, []).append(value)
        self.allHeadersReceived()


#: Header names as nodes send them, each with its lower case (what the
#: parser's headerReceived looks at) and its spelling in L{Headers}
#: (C{_nameEncoder}'s, which refuses a name that is no token): nodes send
#: the same few names in every answer. Bounded as L{_HEADER_NAMES} is.
_WIRE_NAMES: dict[bytes, tuple[bytes, bytes]] = {}


def _wire_name(wire_name: bytes) -> tuple[bytes, bytes]:
    """
    The lower case and L{Headers} spelling of a name not in
    L{_WIRE_NAMES}, remembered there.

    @raise InvalidHeaderName: for a name that is no token.
    """
    name = wire_name.lower()
    known = (name, _nameEncoder.encode(name))
    if len(_WIRE_NAMES) < _MAX_HEADER_NAMES:
        _WIRE_NAMES[wire_name] = known
    return known


#: Request methods known to be tokens (L{_ensureValidMethod}).
_VALID_METHODS: set[bytes] = set()


class _NodeRequest(Request):
    """
    A request of L{NodeAgent.request_to}: its request line and headers
    written as one piece, rather than one piece per header.
    """

    def __init__(self, method: bytes, uri: bytes, headers: Headers,
                 bodyProducer: Optional[IBodyProducer], persistent: bool = False) -> None:
        # What Request.__init__ sets, without checking the method and the
        # target again: request_to has checked both as Request.__init__
        # does (_ensureValidMethod, _ensureValidURI).
        self.method = method
        self.uri = uri
        self.headers = headers
        self.bodyProducer = bodyProducer
        self.persistent = persistent
        self._parsedURI = None

    def _writeHeaders(self, transport: Any, TEorCL: Optional[bytes]) -> None:
        headers = self.headers
        hosts = (headers.getRawHeaders(_HOST, ()) if _nameEncoder is None
                 else headers._rawHeaders.get(_HOST, ()))
        if len(hosts) != 1:
            raise BadHeaders("Exactly one Host header required")
        # The method and target were checked as the request was made
        # (NodeAgent.request_to), and nothing changes them since.
        lines = [b"%s %s HTTP/1.1\r\n" % (self.method, self.uri)]
        if not self.persistent:
            lines.append(b"Connection: close\r\n")
        if TEorCL is not None:
            lines.append(TEorCL)
        transport.write(_head(lines, headers))


def _head(lines: list[bytes], headers: Headers) -> bytes:
    """
    A message's head in one piece: C{lines} (its first line, and any
    header lines already made), then a line for each value of C{headers}
    (whose values L{Headers} has already cleaned of line breaks), then the
    empty line.
    """
    add = lines.extend
    for name, values in headers.getAllRawHeaders():
        for value in values:
            add((name, b": ", value, b"\r\n"))
    lines.append(b"\r\n")
    return b"".join(lines)


def is_disconnected(request: http.Request) -> bool:
    """
    Whether C{request}'s client connection was lost: nothing more can be
    written to it, and C{finish} must not be called.
    """
    return bool(request._disconnected)


# -- zero-copy relaying -------------------------------------------------------


def tcp_connection_of(transport: object) -> Optional[tcp.Connection]:
    """
    The TCP connection under C{transport} when the bytes of that transport
    are the socket's bytes: a TCP connection itself, a backend response
    body's transport (a C{TransportProxyProducer}), or a protocol wrapper
    (such as C{twisted.protocols.haproxy}'s) over one; C{None} for TLS or
    anything else.
    """
    for _ in range(4):
        if isinstance(transport, tcp.Connection):
            return transport
        if isinstance(transport, TLSMemoryBIOProtocol):
            return None
        if isinstance(transport, ProtocolWrapper):
            transport = transport.transport
            continue
        inner = getattr(transport, "_producer", None)
        if inner is None:
            return None
        transport = inner
    return None


def take_pending_writes(connection: tcp.Connection) -> bytes:
    """
    The bytes written to C{connection} but not yet sent, which are no longer
    its to send: whoever takes them must send them first.
    """
    pending = [bytes(connection.dataBuffer[connection.offset:])]
    pending.extend(connection._tempDataBuffer)
    connection.dataBuffer = b""
    connection.offset = 0
    connection._tempDataBuffer = []
    connection._tempDataLen = 0
    connection.stopWriting()
    return b"".join(pending)


class UploadSink:
    """
    The TCP connection a backend request's body goes out on, and the body
    bytes Twisted's HTTP client still expects to be written.

    @ivar connection: the connection.
    """

    def __init__(self, encoder: LengthEnforcingConsumer, connection: tcp.Connection) -> None:
        self._encoder = encoder
        self.connection = connection

    def take_pending(self) -> bytes:
        """
        L{take_pending_writes} of the connection.
        """
        return take_pending_writes(self.connection)

    @property
    def remaining(self) -> int:
        """
        The body bytes not yet written.
        """
        return int(self._encoder._length)

    def written_around(self, count: int) -> None:
        """
        C{count} more bytes of the body went out on the connection's socket
        without passing through the client.

        @raise ValueError: if that is more than it still expected.
        """
        if not 0 <= count <= self._encoder._length:
            raise ValueError(f"{count} bytes written around, {self._encoder._length} expected")
        self._encoder._length -= count


def upload_sink(consumer: object) -> Optional[UploadSink]:
    """
    The L{UploadSink} of C{consumer}, the consumer Twisted's HTTP client
    gave a request body producer, when the body has a known length, is
    still expected and goes out on a plain TCP connection still open;
    C{None} otherwise (a chunked body, TLS).
    """
    if not isinstance(consumer, LengthEnforcingConsumer) or consumer._finished is None:
        return None
    connection = tcp_connection_of(consumer._consumer)
    if connection is None or connection.disconnecting or connection.disconnected:
        return None
    return UploadSink(consumer, connection)


def _body_decoder(request: http.Request) -> Any:
    decoder = getattr(request.channel, "_transferDecoder", None)
    if (type(decoder) is not http._IdentityTransferDecoder or decoder.dataCallback is None
            or decoder.contentLength is None):
        return None
    return decoder


def unread_body(request: http.Request) -> Optional[int]:
    """
    The bytes of C{request}'s body its channel has not read yet, when the
    body has a length (no C{Transfer-Encoding: chunked}) and is being
    received; C{None} otherwise.
    """
    decoder = _body_decoder(request)
    return None if decoder is None else int(decoder.contentLength)


def read_around(request: http.Request, count: int) -> None:
    """
    The next C{count} bytes of C{request}'s body were taken from the client
    socket without passing through its channel: the channel expects that
    many fewer. Once it expects none, the body ends as if they had come
    through it (an empty C{handleContentChunk}, then the end of the
    request), and the channel goes on to the next request.

    @raise ValueError: if the channel expects fewer, or no such body.
    """
    decoder = _body_decoder(request)
    if decoder is None or not 0 <= count <= decoder.contentLength:
        raise ValueError(f"{count} body bytes read around a channel not expecting them")
    decoder.contentLength -= count
    if decoder.contentLength == 0:
        decoder.dataReceived(b"")


# -- PROXY protocol ---------------------------------------------------------

#: How a PROXY protocol header begins: version 1 (a text line of at most
#: 107 bytes) and version 2 (a binary signature, then 4 bytes whose last two
#: are the length of the rest).
_PROXY_V1 = b"PROXY "
_PROXY_V1_MAX = 107
_PROXY_V2 = b"\r\n\r\n\x00\r\nQUIT\n"


def _header_length(data: bytes) -> Optional[int]:
    """
    The length of the PROXY header C{data} begins with: C{None} while it
    takes more bytes to tell, C{0} if C{data} begins with no header.
    """
    if data.startswith(_PROXY_V1):
        end = data.find(b"\r\n", 0, _PROXY_V1_MAX)
        if end >= 0:
            return end + 2
        return None if len(data) < _PROXY_V1_MAX else 0
    if data.startswith(_PROXY_V2):
        if len(data) < 16:
            return None
        length = 16 + int.from_bytes(data[14:16], "big")
        return length if len(data) >= length else None
    if _PROXY_V1.startswith(data) or _PROXY_V2.startswith(data):
        return None
    return 0


def _compressed(address: IAddress) -> IAddress:
    """
    An IPv6 address in its short form, as a socket gives it (a version 2
    header's are written out in full).
    """
    if isinstance(address, IPv6Address):
        return IPv6Address(address.type, ipaddress.ip_address(address.host).compressed,
                           address.port, address.flowInfo, address.scopeID)
    return address


class ProxyProtocolWrapper(HAProxyProtocolWrapper):
    """
    A connection that begins with a PROXY protocol header, version 1 or 2,
    from a trusted load balancer or TLS terminator: C{getPeer} and
    C{getHost} are the client's and the address it connected to, as the
    header says (the connection's own for a v1 C{UNKNOWN} or a v2 C{LOCAL}
    header: a balancer's health check). The wrapped protocol is given the
    bytes after the header.

    The header is collected whole before Twisted's parsers see it, in one
    piece: L{HAProxyProtocolWrapper} decides on its first read alone.
    Twisted's version 1 parser refuses a bare C{PROXY UNKNOWN} line, which
    the protocol allows (and Swift accepts); it is given one with a blank
    after C{UNKNOWN}.

    A connection whose first bytes are no valid header is answered C{400
    Invalid PROXY line} and closed, as Swift does, without the wrapped
    protocol seeing anything.
    """

    _pending = b""
    _reading_header = False

    @property
    def forwarded_https(self) -> bool:
        """
        Whether the header says the client connected to port 443: its TLS
        was ended in front of this server, and its requests are HTTPS ones
        (Swift's rule).
        """
        info = self._proxyInfo
        destination = info.destination if info is not None else None
        return getattr(destination, "port", None) == 443

    def getPeer(self) -> IAddress:
        return _compressed(super().getPeer())

    def getHost(self) -> IAddress:
        return _compressed(super().getHost())

    def dataReceived(self, data: bytes) -> None:
        if self._proxyInfo is not None:
            self.wrappedProtocol.dataReceived(data)
            return
        self._pending += data
        length = _header_length(self._pending)
        if length is None:
            return
        data, self._pending = self._pending, b""
        if data[:length] == b"PROXY UNKNOWN\r\n":
            data = b"PROXY UNKNOWN \r\n" + data[length:]
        self._reading_header = True
        try:
            if length == 0:
                self.loseConnection()
            else:
                super().dataReceived(data)
        except ValueError:
            # Twisted's version 1 parser reads the ports with int() outside
            # its own checks.
            if self._proxyInfo is not None:
                raise
            self.loseConnection()
        finally:
            self._reading_header = False

    def loseConnection(self) -> None:
        if self._reading_header and self._proxyInfo is None:
            # The header was refused (the wrapped protocol closing after it
            # was read finds _proxyInfo set).
            assert self.transport is not None
            # Before any HTTP, as Swift's: no transaction has begun.
            self.transport.write(_status(400, b"Invalid PROXY line", []))
        super().loseConnection()


class ProxyProtocolFactory(HAProxyWrappingFactory):
    """
    Wraps each connection of a factory's in a L{ProxyProtocolWrapper}.
    """

    protocol = ProxyProtocolWrapper  # type: ignore[assignment]
    noisy = False


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
        return PredicateResult.no if _is_quiet(event) else PredicateResult.maybe


#: The levels below warning.
_BELOW_WARN = frozenset(level for level in LogLevel.iterconstants() if level < LogLevel.warn)


def _is_quiet(event: LogEvent) -> bool:
    """
    Whether L{QuietTwistedClient} drops C{event}.
    """
    if event.get("log_level") not in _BELOW_WARN:
        return False
    namespace = event.get("log_namespace")
    if namespace in QUIET_NAMESPACES:
        return True
    text = event.get("log_text" if namespace == "log_legacy" else "log_format")
    if (namespace, text) in QUIET_EVENTS:
        return True
    return text == IDLE_TIMEOUT_FORMAT and isinstance(event.get("log_source"),
                                                      http.HTTPChannel)


@implementer(ILogObserver)
class _QuietObserver:
    """
    An observer behind a L{QuietTwistedClient} filter: what a
    L{FilteringLogObserver} with that one predicate does, in one call
    (every line of the access log passes through it).
    """

    __slots__ = ("_observer",)

    def __init__(self, observer: ILogObserver) -> None:
        self._observer = observer

    def __call__(self, event: LogEvent) -> None:
        if _is_quiet(event):
            return
        if "log_trace" in event:
            event["log_trace"].append((self, self._observer))
        self._observer(event)


#: The key of an event that carries its text already formatted: exactly what
#: C{formatEvent} makes of it (set by who emits it, with the event's own
#: C{log_format} and fields for every other observer). An event that has it,
#: and no C{log_system} or C{log_failure}, is written to twistd's text log
#: file as that text after the time stamp and system, with no formatting.
TEXT_KEY = "log_text_formatted"


class _QuietTextFileObserver(_QuietObserver):
    """
    A L{_QuietObserver} in front of twistd's text log file (a
    L{FileLogObserver} made by C{textFileLogObserver} with its default
    time format): an event with L{TEXT_KEY} is written to the file as
    C{formatEventAsClassicLogText} would write it, with the time stamp of
    the second it falls in formatted once; any other goes to the observer.
    """

    __slots__ = ("_write", "_flush", "_encoding", "_second", "_stamp")

    def __init__(self, observer: FileLogObserver) -> None:
        super().__init__(observer)
        out = observer._outFile
        self._write = out.write
        self._flush = out.flush
        self._encoding = observer._encoding
        self._second = -1
        self._stamp = ""

    def __call__(self, event: LogEvent) -> None:
        text = event.get(TEXT_KEY)
        when = event.get("log_time")
        if (text.__class__ is not str or not text or when.__class__ is not float
                or "log_system" in event or "log_failure" in event or "log_trace" in event):
            _QuietObserver.__call__(self, event)
            return
        if _is_quiet(event):
            return
        # The second datetime.fromtimestamp shows for `when`: its
        # microseconds are rounded half to even, and may carry.
        second = int(when)
        if round((when - second) * 1e6) >= 1000000:
            second += 1
        if second != self._second:
            self._stamp = formatTime(when, timeFormatRFC3339)
            self._second = second
        level = event.get("log_level")
        line = (f"{self._stamp} [{event.get('log_namespace', '-')}#"
                f"{'-' if level is None else level.name}] {text}\n")
        if "\n" in text:
            line = line[:-1].replace("\n", "\n\t") + "\n"
        if self._encoding is None:
            self._write(line)
        else:
            self._write(line.encode(self._encoding))
        self._flush()


def _is_text_file_observer(observer: ILogObserver) -> bool:
    """
    Whether C{observer} is what C{textFileLogObserver} makes with its
    default time format (twistd's log file).
    """
    if type(observer) is not FileLogObserver:
        return False
    format_event = observer.formatEvent
    code = getattr(format_event, "__code__", None)
    if (getattr(format_event, "__qualname__", None) != "textFileLogObserver.<locals>.formatEvent"
            or code is None or code.co_freevars != ("timeFormat",)):
        return False
    closure = getattr(format_event, "__closure__", None) or ()
    try:
        return [cell.cell_contents for cell in closure] == [timeFormatRFC3339]
    except ValueError:
        return False


def quiet_observer(observer: ILogObserver) -> ILogObserver:
    """
    C{observer} behind a L{QuietTwistedClient} filter. When it is twistd's
    text log file, an event with L{TEXT_KEY} is written to the file
    directly, as that observer would write it.
    """
    if _is_text_file_observer(observer):
        return _QuietTextFileObserver(observer)  # type: ignore[arg-type]
    return _QuietObserver(observer)


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


# -- forking a worker -------------------------------------------------------


class ForkedProcess(process.Process):
    """
    A child process that is a copy of this one running C{run}, not a new
    program: Twisted forks, gives the child the file descriptors
    C{childFDs} maps (as L{IReactorProcess.spawnProcess} does: C{"r"} and
    C{"w"} are pipes to C{protocol}, an integer is one of this process's
    descriptors; every other descriptor is closed in the child), reads its
    pipes and reaps it as for any process. Where Twisted would C{exec},
    the child calls C{run()} and ends with C{os._exit} of what it returns:
    on every path, so it never returns into the parent's code. If C{run}
    raises, the traceback goes to the child's standard error and its exit
    code is 70.

    Each descriptor of this process's that the child does not get is not
    just closed there (as Twisted does before C{exec}) but replaced by
    C{/dev/null}: the child is a copy of this process, and an object of
    this process's that it still holds (a file, a memory-mapped file, a
    socket) may close or write its descriptor number there; that number
    then never names a socket or pipe of the child's own.

    In the child, the parent's reactor cannot be used (Twisted has closed
    its descriptors): C{run} must begin with L{install_fresh_reactor}.
    Signal dispositions the parent ignored are back to their defaults, as
    after Twisted's fork for C{exec}.

    @param reactor: the running reactor of this process.
    @param protocol: gets the child's output and end.
    @param childFDs: the child's descriptors.
    @param run: what the child does; returns its exit code.
    """

    def __init__(self, reactor: Any, protocol: Any, childFDs: dict[int, Any],
                 run: Callable[[], int]) -> None:
        self._run = run
        super().__init__(reactor, sys.executable, [sys.executable], None, None, protocol,
                         childFDs=childFDs)

    def _trySpawnInsteadOfFork(self, *args: Any) -> bool:
        # posix_spawn would exec: this child must fork.
        return False

    def _setupChild(self, fdmap: dict[int, int]) -> None:
        inherited = process._listOpenFDs()
        super()._setupChild(fdmap)
        _placehold(fd for fd in inherited if fd not in fdmap)

    def _execChild(self, path: Any, uid: Any, gid: Any, executable: Any, args: Any,
                   environment: Any) -> None:
        code = 70
        try:
            code = self._run()
        except BaseException:
            try:
                traceback.print_exc(file=sys.__stderr__)
                if sys.__stderr__ is not None:
                    sys.__stderr__.flush()
            except BaseException:
                pass
        finally:
            os._exit(code)


def _placehold(closed: Any) -> None:
    """
    Put C{/dev/null} where each descriptor of C{closed} was (closed in the
    child by Twisted): objects of the parent's that the child still holds
    (a file, a socket, a memory-mapped file's) may close or write their
    descriptor as the child's life goes on, and that number must not by
    then be a socket or pipe of the child's own.
    """
    placeholder = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    kept = False
    for fd in closed:
        if fd == placeholder:
            kept = True
            continue
        try:
            os.dup2(placeholder, fd, inheritable=False)
        except OSError:
            pass
    if not kept:
        os.close(placeholder)


def install_fresh_reactor() -> Any:
    """
    In a child forked from a process whose reactor ran (L{ForkedProcess}):
    forget that reactor and the parent's child processes
    (C{reapProcessHandlers}: the child cannot reap them, and its reactor
    would try), and install a new default reactor, which
    C{from twisted.internet import reactor} then gives.

    @return: the new reactor.
    """
    import twisted.internet
    from twisted.internet import default

    process.reapProcessHandlers.clear()
    sys.modules.pop("twisted.internet.reactor", None)
    if hasattr(twisted.internet, "reactor"):
        del twisted.internet.reactor
    default.install()
    from twisted.internet import reactor

    return reactor


def replace_observers(publisher: LogPublisher, observers: Sequence[ILogObserver]
                      ) -> list[ILogObserver]:
    """
    Remove every observer of C{publisher} and add C{observers}: a forked
    child logs its own way, not to what its parent logged to.

    @return: the observers removed (for the caller to keep: an observer
        that owns a file must not be finalized in the child, whose
        descriptor of that number may now be another file).
    """
    removed = list(publisher._observers)
    for observer in removed:
        publisher.removeObserver(observer)
    for observer in observers:
        publisher.addObserver(observer)
    return removed
