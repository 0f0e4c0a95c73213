# -*- test-case-name: tests.test_proxy_logging -*-
"""
The C{proxy_logging} plugin: Swift's access log, one line per client request.

A line is written once the response has been completely sent (for a
streamed body, when its producer finishes, fails or is stopped), in the
format of Swift 2.38.3's C{proxy-logging} middleware::

    client_ip remote_addr end_time.datetime method path protocol status_int
    referer user_agent auth_token bytes_recvd bytes_sent client_etag
    transaction_id headers request_time source log_info start_time end_time
    policy_index access_user_id

Each field is percent-quoted (C{:/{}} kept) so that a line splits on
spaces; an empty, missing or zero value is C{-}. The status is C{499} when
the client went away before the exchange was over (the request body broke
off, or the response was abandoned) and C{500} when the response body
failed. The C{log_msg_template} option takes another template using the same
field names (and C{domain}, C{account}, C{container}, C{object}, C{ttfb},
C{pid}, C{wire_status_int}; C{.anonymized} on the string fields; the
C{end_time}/C{start_time} attributes C{datetime}, C{iso8601}, C{asctime},
C{s}, C{ms}, C{us}, C{ns} and the C{strftime} letters).

Swift's pipeline lists C{proxy-logging} twice; the first instance that sees
a request marks its environ (C{swift.proxy_access_log_made}, as Swift does)
and the other passes it on untouched, so a request is logged once. A
sub-request made with an environ of its own is logged by the inner
instance.

Lines go to the Twisted logger in the C{proxy-server} namespace (twistd's
log), or with C{access_log_file} to that file through L{AccessLogFile},
which buffers lines and appends them with one write per flush interval
rather than touching the disk for every request. The file is a service of
the proxy process (see C{ProxyContext.services}): open while it runs.

Each logged request is also reported to the process's metrics
(C{ProxyContext.metrics}: Prometheus), and with C{log_statsd_host} (or
C{access_log_statsd_host}) sent to statsd under Swift's names
(L{AccessStatsd}): C{proxy-server.<type>.<verb>.<status>.timing},
C{.xfer}, C{.first-byte.timing} for a GET, and the
C{proxy-server.object.policy.<index>....} variants.
"""

from __future__ import annotations

import datetime as _datetime
import hashlib
import os
import re
import string
import time
from typing import Any, Callable, Container, Iterable, Optional, Union
from urllib.parse import quote_from_bytes, urlencode

from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import (
    IConsumer,
    IDelayedCall,
    IPushProducer,
    IReactorTime,
)
from twisted.logger import Logger, LogLevel
from twisted.plugin import IPlugin
from twisted.python.failure import Failure
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from twisted_proxy.backend.zerocopy import RelayHandle, relayed_bytes
from twisted_proxy.config import ConfigError, parse_list
from twisted_proxy.controllers.context import ProxyContext
from twisted_proxy.info.cache import INFO_ENVIRON_KEY, container_key
from twisted_proxy.interfaces import (
    IMetrics,
    IProxyApplication,
    IProxyFilter,
    IProxyPluginFactory,
    IZeroCopyConsumer,
)
from twisted_proxy.plugins._support.statsd import (
    DEFAULT_VALID_METHODS,
    AccessStatsd,
    statsd_for,
)
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse, wire_quote
from twisted_proxy.swift.metrics import NULL_METRICS, MetricsFanout, metric_type, records
from twisted_proxy.swift.paths import split_path
from twisted_proxy.swift.statsd import StatsdConf
from twisted_proxy.swift.truthy import is_true

__all__ = [
    "DEFAULT_LOG_MSG_TEMPLATE",
    "FIELDS",
    "LOGGED_ENVIRON_KEY",
    "SENSITIVE_HEADERS",
    "SENSITIVE_PARAMS",
    "AccessLogFile",
    "LogTemplate",
    "ProxyLogging",
    "proxyLoggingPlugin",
]

_log = Logger()

#: The key of an event's text, already formatted, which twistd's log file
#: then writes with no formatting: C{twisted_proxy._twisted.TEXT_KEY}
#: (which this layer cannot import).
TEXT_KEY = "log_text_formatted"

#: Where access lines go by default: twistd's log, as C{proxy-server}.
_accessLog = Logger(namespace="proxy-server")

#: Swift 2.38.3's default C{log_msg_template}.
DEFAULT_LOG_MSG_TEMPLATE = (
    "{client_ip} {remote_addr} {end_time.datetime} {method} "
    "{path} {protocol} {status_int} {referer} {user_agent} "
    "{auth_token} {bytes_recvd} {bytes_sent} {client_etag} "
    "{transaction_id} {headers} {request_time} {source} "
    "{log_info} {start_time} {end_time} {policy_index} "
    "{access_user_id}"
)

#: Set in a request's environ by the instance that will log it.
LOGGED_ENVIRON_KEY = "swift.proxy_access_log_made"

#: Request headers whose values are cut to C{reveal_sensitive_prefix}
#: characters (lower case).
SENSITIVE_HEADERS = frozenset({"x-auth-token", "x-storage-token"})

#: Query parameters whose values are cut the same way.
SENSITIVE_PARAMS = frozenset({"temp_url_sig"})

_POLICY_HEADER = "X-Backend-Storage-Policy-Index"

#: The protocol field when the server sets no C{SERVER_PROTOCOL}: Swift's
#: server (eventlet) reports every request as HTTP/1.0.
_PROTOCOL = "HTTP/1.0"

#: Fields holding request-derived text, which take C{.anonymized}.
_ANONYMIZABLE = frozenset({
    "client_ip", "remote_addr", "domain", "path", "referer", "user_agent",
    "headers", "client_etag", "account", "container", "object",
    "access_user_id",
})

_OTHER_FIELDS = frozenset({
    "end_time", "start_time", "method", "protocol", "status_int",
    "auth_token", "bytes_recvd", "bytes_sent", "transaction_id",
    "request_time", "source", "log_info", "policy_index", "ttfb", "pid",
    "wire_status_int",
})

#: Every field name a template may use.
FIELDS = _ANONYMIZABLE | _OTHER_FIELDS

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_STRFTIME_LETTERS = frozenset("aAbBcdHIjmMpSUwWxXyYZ")


#: The last whole second L{_LogTime.datetime} formatted, and its text.
_last_datetime: tuple[Optional[int], str] = (None, "")


def _datetime_text(seconds: float) -> str:
    """
    C{seconds} as C{DD/Mon/YYYY/HH/MM/SS} in UTC, the month in English
    whatever the locale: characters that need no quoting in a log line.
    """
    global _last_datetime
    second = int(seconds) if seconds >= 0 else None
    last = _last_datetime
    if second is not None and last[0] == second:
        # Every line of the same second: formatted once.
        return last[1]
    tm = time.gmtime(seconds)
    text = "%02d/%s/%d/%02d/%02d/%02d" % (
        tm.tm_mday, _MONTHS[tm.tm_mon - 1], tm.tm_year,
        tm.tm_hour, tm.tm_min, tm.tm_sec)
    if second is not None:
        _last_datetime = (second, text)
    return text


class _LogTime:
    """
    A moment as a template sees it: C{str()} gives seconds with nine
    decimals; attributes give other forms, all in UTC.
    """

    __slots__ = ("_seconds", "_struct")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._struct: Optional[time.struct_time] = None

    def __str__(self) -> str:
        return "%.9f" % self._seconds

    def _tm(self) -> time.struct_time:
        if self._struct is None:
            self._struct = time.gmtime(self._seconds)
        return self._struct

    @property
    def datetime(self) -> str:
        """
        C{DD/Mon/YYYY/HH/MM/SS}, the month in English whatever the locale.
        """
        return _datetime_text(self._seconds)

    @property
    def iso8601(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", self._tm())

    @property
    def asctime(self) -> str:
        return time.asctime(self._tm())

    @property
    def s(self) -> str:
        return str(self).split(".")[0]

    @property
    def ms(self) -> str:
        return str(self).split(".")[1][:3]

    @property
    def us(self) -> str:
        return str(self).split(".")[1][:6]

    @property
    def ns(self) -> str:
        return str(self).split(".")[1]

    def __getattr__(self, name: str) -> str:
        if name not in _STRFTIME_LETTERS:
            raise AttributeError(
                f"{name!r} is not a time attribute or strftime directive")
        moment = _datetime.datetime(
            *self._tm()[:6], tzinfo=_datetime.timezone.utc)
        return moment.strftime("%" + name)


#: A field with nothing to quote (most are: addresses, paths, times, ids).
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~:/{}-]*")


def _quote(text: str) -> str:
    """
    Percent-quote a field as Swift's log formatter does: UTF-8, with
    C{:/{}} and the URL-safe characters kept.
    """
    if _UNQUOTED.fullmatch(text) is not None:
        return text
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates become U+FFFD, as in Swift's get_valid_utf8_str.
        raw = text.encode("utf-16", "surrogatepass").decode(
            "utf-16", "replace").encode("utf-8")
    return quote_from_bytes(raw, ":/{}")


_unquoted = _UNQUOTED.fullmatch


def _plain(value: Any) -> str:
    """
    A field written as it is: C{-} when empty, missing or zero, else its
    text percent-quoted (L{_quote}).
    """
    if not value:
        return "-"
    if type(value) is str:
        return value if _unquoted(value) is not None else _quote(value)
    if type(value) is int:
        # Digits and a sign: nothing to quote.
        return str(value)
    return _quote(format(value, ""))


class _Anonymizer:
    """
    The C{.anonymized} form of a field: C{{MD5}<hex>} (C{{SMD5}} when
    salted) of its text, as Swift's C{StrAnonymizer}.
    """

    def __init__(self, method: str = "md5", salt: str = "") -> None:
        method = method.lower()
        if method not in hashlib.algorithms_guaranteed:
            raise ValueError(f"unsupported hashing method: {method!r}")
        self._method = method
        self._salt = salt.encode("latin-1", "replace")
        self._prefix = "{%s%s}" % ("S" if salt else "", method.upper())

    def __call__(self, value: Optional[str]) -> str:
        if not value:
            return ""
        digest = hashlib.new(self._method, usedforsecurity=False)
        if self._salt:
            digest.update(self._salt)
        digest.update(value.encode("latin-1", "replace"))
        return self._prefix + digest.hexdigest()


class _Field:
    """
    One C{{name.attr!conversion:spec}} of a template.
    """

    __slots__ = ("name", "attrs", "conversion", "spec", "anonymized", "plain")

    def __init__(self, name: str, attrs: tuple[str, ...],
                 conversion: Optional[str], spec: str) -> None:
        self.name = name
        # Swift's StrAnonymizer: only the text fields have the attribute.
        self.anonymized = (
            bool(attrs) and attrs[0] == "anonymized" and name in _ANONYMIZABLE)
        self.attrs = attrs[1:] if self.anonymized else attrs
        self.conversion = conversion
        self.spec = spec
        #: Whether the value is written as it is (quoted, or C{-}).
        self.plain = not (self.anonymized or self.attrs or conversion or spec)


#: Values to check a template with, one per field.
_SAMPLE: dict[str, Any] = {
    "client_ip": "1.2.3.4", "remote_addr": "4.3.2.1", "domain": "",
    "path": "/", "referer": "ref", "user_agent": "swift",
    "headers": "header", "client_etag": "etag", "account": "a",
    "container": "c", "object": "", "access_user_id": "AKIAIOSFODNN7EXAMPLE",
    "end_time": _LogTime(1000001), "start_time": _LogTime(1000000),
    "method": "GET", "protocol": "", "status_int": "0",
    "auth_token": "1234...", "bytes_recvd": "1", "bytes_sent": "0",
    "transaction_id": "tx1234", "request_time": "0.05", "source": "",
    "log_info": "", "policy_index": "", "ttfb": "0.05", "pid": "42",
    "wire_status_int": "200",
}


class LogTemplate:
    """
    A C{log_msg_template}, parsed once.

    @ivar names: the field names the template uses.
    @raise ValueError: from the constructor, for a template that names an
        unknown field, uses positional or indexed fields, or cannot be
        rendered.
    """

    def __init__(self, template: str, anonymize: Optional[_Anonymizer] = None
                 ) -> None:
        self._anonymize = anonymize or _Anonymizer()
        parts: list[Union[str, _Field]] = []
        names: set[str] = set()
        for literal, field, spec, conversion in string.Formatter().parse(template):
            if literal:
                parts.append(literal)
            if field is None:
                continue
            if "[" in field or (spec and "{" in spec):
                raise ValueError(f"unsupported field {field!r}")
            name, *attrs = field.split(".")
            if not name:
                raise ValueError("positional fields are not supported")
            if name not in FIELDS:
                raise ValueError(f"unknown field {name!r}")
            names.add(name)
            parts.append(_Field(name, tuple(attrs), conversion, spec or ""))
        self.text = template
        self._fields = tuple(part for part in parts if isinstance(part, _Field))
        # The literals, with a %s for each field: one %-format makes the line.
        self._format = "".join(
            "%s" if isinstance(part, _Field) else part.replace("%", "%%")
            for part in parts)
        self._plain_names = (
            tuple(field.name for field in self._fields)
            if all(field.plain for field in self._fields) else None)
        self.names = frozenset(names)
        try:
            self.render(_SAMPLE)
        except Exception as error:
            raise ValueError(str(error)) from None

    def render(self, values: dict[str, Any]) -> str:
        """
        The line for C{values} (field name to value; C{None} for missing).
        """
        names = self._plain_names
        if names is not None:
            # No attribute, conversion or spec anywhere: each value written
            # as it is.
            return self._format % tuple([_plain(values[name]) for name in names])
        return self._format % tuple([
            _plain(values[field.name]) if field.plain else self._complex(field, values)
            for field in self._fields])

    def _complex(self, field: _Field, values: dict[str, Any]) -> str:
        """
        The text of a field with an attribute, conversion or spec.
        """
        value = values[field.name]
        if field.anonymized:
            value = self._anonymize(value)
        for attr in field.attrs:
            value = getattr(value, attr)
        if field.conversion == "r":
            value = repr(value)
        elif field.conversion == "s":
            value = str(value)
        elif field.conversion == "a":
            value = ascii(value)
        if not value:
            return "-"
        return _quote(format(value, field.spec))


def _client_ip(headers: HeaderDict) -> Optional[str]:
    """
    The client's address as a front end told it: C{X-Cluster-Client-Ip},
    else the first of C{X-Forwarded-For}; C{None} when neither says.
    """
    client_ip = headers.get("X-Cluster-Client-Ip")
    if not client_ip and "X-Forwarded-For" in headers:
        client_ip = headers["X-Forwarded-For"].split(",")[0].strip()
    return client_ip


def _auth_token(headers: HeaderDict) -> Optional[str]:
    """
    The token a line shows: the C{X-Auth-Token}, else the
    C{X-Storage-Token} (which the proxy application answers with when the
    client sent no C{X-Auth-Token}, as Swift's does).
    """
    token = headers.get("X-Auth-Token")
    if token is None:
        token = headers.get("X-Storage-Token")
    return token


def _cap(value: Optional[str], limit: int) -> Optional[str]:
    if value and len(value) > limit:
        return value[:limit] + "..."
    return value


def _account_container_object(
    path: str, versions: Container[str]
) -> tuple[Optional[str], Optional[str], Optional[str]]:
    """
    Account, container and object of a quoted C{/version/a/c/o} path, as
    Swift's proxy logging finds them; C{None}s for anything else.
    """
    try:
        version, account, container, obj = split_path(path, 1, 4, True)
    except ValueError:
        return None, None, None
    if version not in versions:
        return None, None, None
    return account, container, obj


def _header_name(name: str) -> str:
    # As Swift rebuilds names from its WSGI environ: every word capitalised.
    return name.encode("latin-1", "replace").title().decode("latin-1")


@implementer(IConsumer, IZeroCopyConsumer)
class _Meter:
    """
    Counts the bytes a producer writes into a consumer, or relays to it.
    """

    __slots__ = ("_body", "_consumer")

    def __init__(self, body: "_MeteredBody", consumer: IConsumer) -> None:
        self._body = body
        self._consumer = consumer

    def write(self, data: bytes) -> None:
        self._body.bytes += len(data)
        self._consumer.write(data)

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self._consumer.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self._consumer.unregisterProducer()

    def relay_from(self, source: int, count: int, read_timeout: float
                   ) -> Optional[RelayHandle]:
        consumer = self._consumer
        if not IZeroCopyConsumer.providedBy(consumer):
            return None
        handle: Optional[RelayHandle] = consumer.relay_from(source, count, read_timeout)
        if handle is not None:
            self._body.relaying = handle
            handle.done.addBoth(self._relayed)
        return handle

    def _relayed(self, result: Any) -> Any:
        self._body.relaying = None
        self._body.bytes += relayed_bytes(result)
        return result


#: How a metered body ended when its consumer stopped it.
_STOPPED = "stopped"

_Outcome = Union[None, str, Failure]


@implementer(IBodyProducer, IPushProducer)
class _MeteredBody:
    """
    A body producer passed through, counting the bytes it writes and saying
    once how it ended: C{onEnd(None)} when it finished, C{onEnd(_STOPPED)}
    when its consumer stopped it, C{onEnd(failure)} when it failed.

    @ivar bytes: bytes written so far.
    """

    def __init__(self, inner: IBodyProducer,
                 onEnd: Callable[[_Outcome], None]) -> None:
        self._inner = inner
        self._onEnd: Optional[Callable[[_Outcome], None]] = onEnd
        self.length = inner.length
        self.bytes = 0
        self.relaying: Optional[RelayHandle] = None

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        try:
            producing: Deferred[None] = self._inner.startProducing(
                _Meter(self, consumer))
        except BaseException:
            self._end(Failure())
            raise
        # The inner Deferred itself goes back, so cancelling it still
        # reaches the inner producer.
        producing.addBoth(self._ended)
        return producing

    def _ended(self, result: Any) -> Any:
        self._end(result if isinstance(result, Failure) else None)
        return result

    def _end(self, outcome: _Outcome) -> None:
        onEnd, self._onEnd = self._onEnd, None
        if onEnd is not None:
            onEnd(outcome)

    def pauseProducing(self) -> None:
        self._inner.pauseProducing()

    def resumeProducing(self) -> None:
        self._inner.resumeProducing()

    def stopProducing(self) -> None:
        relaying = self.relaying
        self._inner.stopProducing()
        if relaying is None:
            self._end(_STOPPED)
            return
        # A client that read a relayed body to its end may close before the
        # relay's end is heard of: how the body ended is the relay's to say.
        relaying.done.addBoth(self._stopped_relay)

    def _stopped_relay(self, result: Any) -> Any:
        whole = isinstance(self.length, int) and self.bytes >= self.length
        self._end(None if whole and not isinstance(result, Failure) else _STOPPED)
        return result


class _Exchange:
    """
    What is known of one request being logged.
    """

    __slots__ = ("_logger", "request", "start", "upload", "response",
                 "first_byte", "client_gone", "logged")

    def __init__(self, logger: "ProxyLogging", request: SwiftRequest,
                 start: float) -> None:
        self._logger = logger
        self.request = request
        self.start = start
        self.upload: Optional[_MeteredBody] = None
        self.response: Optional[SwiftResponse] = None
        self.first_byte = 0.0
        self.client_gone = False
        self.logged = False
        if request.body is not None:
            self.upload = _MeteredBody(request.body, self._upload_ended)
            request.body = self.upload

    def _upload_ended(self, outcome: _Outcome) -> None:
        # Swift: a failed read of the request body is the client's going.
        if isinstance(outcome, Failure) and not outcome.check(CancelledError):
            self.client_gone = True

    def responded(self, response: SwiftResponse) -> SwiftResponse:
        self.response = response
        request = self.request
        now = self._logger.clock.seconds()
        if request.environ.get("swift.orig_req_method", request.method) == "GET":
            self.first_byte = now - self.start
            self._logger.report_first_byte(self)
        body = response.body
        if isinstance(body, bytes):
            # The server writes it in the same turn; HEAD answers carry none.
            self._logger.log(self, response.status,
                             0 if request.method == "HEAD" else len(body))
        else:
            metered = _MeteredBody(body, lambda outcome: self._sent(metered, outcome))
            response.body = metered
        return response

    def _sent(self, body: _MeteredBody, outcome: _Outcome) -> None:
        assert self.response is not None
        status: Optional[int] = None
        if outcome is _STOPPED:
            status = 499
        elif isinstance(outcome, Failure):
            status = 499 if outcome.check(CancelledError) else 500
        self._logger.log(self, self.response.status, body.bytes, status)

    def failed(self, failure: Failure) -> Failure:
        # Cancelled: the server gave up on the request as its client left.
        status = 499 if failure.check(CancelledError) else 500
        self._logger.log(self, status, 0, status)
        return failure


Emit = Callable[[str], None]


def _emit_to_twisted_log(line: str) -> None:
    # The event _accessLog.info("{access_log_line}", access_log_line=line)
    # makes, made here (Logger.emit first looks its level up among all
    # levels, every time), with its text already formatted (TEXT_KEY): the
    # line, which twistd's log file then writes with no formatting.
    logger = _accessLog
    logger.observer({
        "access_log_line": line,
        "log_logger": logger,
        "log_level": LogLevel.info,
        "log_namespace": logger.namespace,
        "log_source": logger.source,
        "log_format": "{access_log_line}",
        "log_time": time.time(),
        TEXT_KEY: line,
    })


@implementer(IProxyFilter)
class ProxyLogging:
    """
    Logs each client request once its response is over.

    @param clock: gives the start and end times.
    @param template: the line format.
    @param emit: called with each line.
    @param log_headers: add the request headers (C{headers} field).
    @param log_headers_only: when not empty, only these headers (any case).
    @param reveal_sensitive_prefix: characters kept of a token or signature.
    @param valid_api_versions: the versions C{account}/C{container}/
        C{object} recognise in a path.
    @param metrics: told of each request logged, and of each GET's first
        byte (statsd, Prometheus).
    """

    def __init__(
        self,
        clock: IReactorTime,
        template: Optional[LogTemplate] = None,
        emit: Emit = _emit_to_twisted_log,
        log_headers: bool = False,
        log_headers_only: Iterable[str] = (),
        reveal_sensitive_prefix: int = 16,
        valid_api_versions: Iterable[str] = ("v1", "v1.0"),
        metrics: IMetrics = NULL_METRICS,
    ) -> None:
        self.clock = clock
        self.metrics = metrics
        self.template = template or LogTemplate(DEFAULT_LOG_MSG_TEMPLATE)
        self._emit = emit
        self._names = self.template.names
        #: Whether lines are Swift's default ones, made by L{_default_line}.
        self._default = self.template.text == DEFAULT_LOG_MSG_TEMPLATE
        self._log_headers = log_headers
        self._headers_only = frozenset(name.lower() for name in log_headers_only)
        self._reveal = reveal_sensitive_prefix
        self._versions = frozenset(valid_api_versions)

    def __call__(
        self, request: SwiftRequest, app: IProxyApplication
    ) -> "Deferred[SwiftResponse]":
        environ = request.environ
        if environ.get(LOGGED_ENVIRON_KEY):
            return app(request)  # type: ignore[no-any-return]
        environ[LOGGED_ENVIRON_KEY] = True
        start = self.clock.seconds()
        exchange = _Exchange(self, request, start)
        try:
            answer: Deferred[SwiftResponse] = app(request)
        except BaseException:
            exchange.failed(Failure())
            raise
        # The app's own Deferred goes back so that the server's cancel
        # (client gone) still reaches the request's work.
        return answer.addCallbacks(exchange.responded, exchange.failed)

    def log(self, exchange: _Exchange, wire_status: int, bytes_sent: int,
            forced_status: Optional[int] = None) -> None:
        """
        Write C{exchange}'s line, unless it was written already.

        @param wire_status: the status the client was sent.
        @param forced_status: C{499}/C{500} when the exchange broke off.
        """
        if exchange.logged:
            return
        exchange.logged = True
        try:
            if self._default:
                line, method, status, policy_index = self._default_line(
                    exchange, wire_status, bytes_sent, forced_status)
            else:
                values = self._values(exchange, wire_status, bytes_sent, forced_status)
                line = self.template.render(values)
                method = values["method"]
                status = values["status_int"]
                policy_index = values["policy_index"]
            self._emit(line)
        except Exception:
            _log.failure("Cannot write the access log line")
            return
        if records(self.metrics):
            self._report(exchange, method, status, policy_index, bytes_sent)

    def _status(self, exchange: _Exchange, wire_status: int,
                forced_status: Optional[int]) -> Any:
        """
        The status a line gives: C{499} for a client gone, else the one
        forced, else Swift's C{swift.proxy_logging_status}, else the wire's.
        """
        if exchange.client_gone:
            return 499
        if forced_status is not None:
            return forced_status
        return exchange.request.environ.get("swift.proxy_logging_status") or wire_status

    def _default_line(self, exchange: _Exchange, wire_status: int, bytes_sent: int,
                      forced_status: Optional[int]) -> tuple[str, Any, Any, Optional[str]]:
        """
        The line of L{DEFAULT_LOG_MSG_TEMPLATE}, made at once: the same
        text as C{self.template.render(self._values(...))}, without the
        values' dictionary and with the fields known to need no quoting
        (times, counts) written as they are.

        @return: the line, the method, the status and the policy index
            (for the metrics).
        """
        request = exchange.request
        environ = request.environ
        headers = request.headers
        end = self.clock.seconds()
        start = exchange.start
        status = self._status(exchange, wire_status, forced_status)
        remote_addr = environ.get("REMOTE_ADDR", request.client_ip)
        client_ip = _client_ip(headers) or remote_addr
        token = _cap(_auth_token(headers), self._reveal)
        upload = exchange.upload
        access = environ.get("swift.access_logging")
        method = environ.get("swift.orig_req_method", request.method)
        policy_index = self._policy_index(exchange)
        path = self._path(request)
        protocol = environ.get("SERVER_PROTOCOL", _PROTOCOL)
        referer = headers.get("Referer")
        agent = headers.get("User-Agent")
        recvd = upload.bytes if upload is not None else 0
        etag = headers.get("Etag")
        trans_id = environ.get("swift.trans_id")
        logged_headers = self._headers(request) if self._log_headers else None
        source = environ.get("swift.source")
        log_info = ",".join(environ.get("swift.log_info", ()))
        user_id = access.get("user_id") if access else None
        # _plain(value) is "-" for an empty value: tested here first, an
        # absent field costs no call.
        line = "%s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s %s" % (
            _plain(client_ip) if client_ip else "-",
            _plain(remote_addr) if remote_addr else "-",
            _datetime_text(end),
            _plain(method) if method else "-",
            _plain(path) if path else "-",
            _plain(protocol) if protocol else "-",
            _plain(status) if status else "-",
            _plain(referer) if referer else "-",
            _plain(agent) if agent else "-",
            _plain(token) if token else "-",
            _plain(recvd) if recvd else "-",
            _plain(bytes_sent) if bytes_sent else "-",
            _plain(etag) if etag else "-",
            _plain(trans_id) if trans_id else "-",
            _plain(logged_headers) if logged_headers else "-",
            # Digits, a point and perhaps a sign: nothing to quote.
            "%.4f" % (end - start),
            _plain(source) if source else "-",
            _plain(log_info) if log_info else "-",
            "%.9f" % start,
            "%.9f" % end,
            _plain(policy_index) if policy_index else "-",
            _plain(user_id) if user_id else "-",
        )
        return line, method, status, policy_index

    def _metric_type(self, request: SwiftRequest) -> str:
        environ = request.environ
        path = environ.get("swift.backend_path") or wire_quote(request.path)
        return metric_type(path, environ.get("swift.source"), self._versions)

    def _report(self, exchange: _Exchange, method: str, status: Any,
                policy_index: Optional[str], bytes_sent: int) -> None:
        """
        Report a logged request to C{metrics}: a PUT's client that went
        away as a client disconnect of its type.
        """
        request = exchange.request
        kind = self._metric_type(request)
        upload = exchange.upload
        bytes_in = upload.bytes if upload is not None else 0
        self.metrics.request_finished(
            kind, method, int(status), policy_index,
            max(0.0, self.clock.seconds() - exchange.start), bytes_in, bytes_sent)
        if exchange.client_gone and upload is not None and kind in (
                "account", "container", "object"):
            self.metrics.client_disconnect(kind)

    def report_first_byte(self, exchange: _Exchange) -> None:
        """
        Report a GET's time to its response headers to C{metrics}.
        """
        if exchange.response is None or not records(self.metrics):
            return
        request = exchange.request
        self.metrics.first_byte(
            self._metric_type(request),
            request.environ.get("swift.orig_req_method", request.method),
            exchange.response.status, self._policy_index(exchange), exchange.first_byte)

    def _values(self, exchange: _Exchange, wire_status: int, bytes_sent: int,
                forced_status: Optional[int]) -> dict[str, Any]:
        request = exchange.request
        environ = request.environ
        headers = request.headers
        names = self._names
        end = self.clock.seconds()
        status = self._status(exchange, wire_status, forced_status)
        remote_addr = environ.get("REMOTE_ADDR", request.client_ip)
        upload = exchange.upload
        access = environ.get("swift.access_logging")
        values: dict[str, Any] = {
            "client_ip": _client_ip(headers) or remote_addr,
            "remote_addr": remote_addr,
            "end_time": _LogTime(end),
            "start_time": _LogTime(exchange.start),
            "method": environ.get("swift.orig_req_method", request.method),
            "path": self._path(request),
            "protocol": environ.get("SERVER_PROTOCOL", _PROTOCOL),
            "status_int": status,
            "referer": headers.get("Referer"),
            "user_agent": headers.get("User-Agent"),
            "auth_token": _cap(_auth_token(headers), self._reveal),
            "bytes_recvd": upload.bytes if upload is not None else 0,
            "bytes_sent": bytes_sent,
            "client_etag": headers.get("Etag"),
            "transaction_id": environ.get("swift.trans_id"),
            "headers": self._headers(request) if self._log_headers else None,
            "request_time": "%.4f" % (end - exchange.start),
            "source": environ.get("swift.source"),
            "log_info": ",".join(environ.get("swift.log_info", ())),
            "policy_index": self._policy_index(exchange),
            "access_user_id": access.get("user_id") if access else None,
            "ttfb": exchange.first_byte,
            "wire_status_int": wire_status,
        }
        if "pid" in names:
            values["pid"] = os.getpid()
        if "domain" in names:
            domain = environ.get("HTTP_HOST") or environ.get("SERVER_NAME") or ""
            if ":" in domain:
                domain = domain.rsplit(":", 1)[0]
            values["domain"] = domain
        if names & {"account", "container", "object"}:
            path = environ.get("swift.backend_path") or wire_quote(request.path)
            values["account"], values["container"], values["object"] = (
                _account_container_object(path, self._versions))
        return values

    def _path(self, request: SwiftRequest) -> str:
        """
        The path and query as Swift logs them: the path re-quoted, the
        query as received but with sensitive parameters cut short.
        """
        path = wire_quote(request.path)
        query = request.query_string
        if not query:
            return path
        params = request.params
        if not SENSITIVE_PARAMS.isdisjoint(params):
            query = urlencode(
                [(name, _cap(value, self._reveal) if name in SENSITIVE_PARAMS
                  else value) for name, value in params.items()],
                encoding="latin-1")
        return path + "?" + query

    def _headers(self, request: SwiftRequest) -> str:
        """
        The request headers, one C{Name: value} a line, in Swift's environ
        order (C{Content-Length} and C{Content-Type} last).
        """
        only = self._headers_only
        lines: list[str] = []
        trailing: list[str] = []
        for name, value in request.headers.items():
            lower = name.lower()
            if only and lower not in only:
                continue
            if lower in SENSITIVE_HEADERS:
                value = _cap(value, self._reveal) or ""
            line = f"{_header_name(name)}: {value}"
            if lower == "content-length":
                trailing.insert(0, line)
            elif lower == "content-type":
                trailing.append(line)
            else:
                lines.append(line)
        return "\n".join(lines + trailing)

    def _policy_index(self, exchange: _Exchange) -> Optional[str]:
        """
        The storage policy as Swift logs it: the response's or request's
        C{X-Backend-Storage-Policy-Index}; else the container's policy, which
        Swift's object controller copies into the request and a container
        GET or HEAD answer carries (this proxy's controllers keep neither).
        """
        response = exchange.response
        request = exchange.request
        index = response.headers.get(_POLICY_HEADER) if response is not None else None
        if index is None:
            index = request.headers.get(_POLICY_HEADER)
        if index is None:
            try:
                _, account, container, obj = split_path(request.path, 1, 4, True)
            except ValueError:
                account = container = obj = None
            if account and container and (obj or request.method in ("GET", "HEAD")):
                infos = request.environ.get(INFO_ENVIRON_KEY)
                info = infos.get(container_key(account, container)) if infos else None
                if info is not None:
                    index = info.get("storage_policy")
        return None if index is None else str(index)


class AccessLogFile(Service):
    """
    Appends lines to a file without a disk write per line: lines are
    buffered and written together, by one C{write(2)} on an C{O_APPEND}
    descriptor, C{interval} seconds after the first of them (or as soon as
    C{limit} bytes are waiting). Several processes may append to one file;
    a batch is never split between them. A file moved away (log rotation)
    is reopened under its name at the next write.

    As a service it holds the file open while it runs: C{startService}
    opens it, C{stopService} writes what is waiting and closes it. A line
    written once it has stopped (a response that ended during shutdown)
    is written at once, and the file closed again.

    @param path: the file.
    @param clock: schedules the writes.
    @param interval: seconds a line may wait.
    @param limit: bytes waiting that trigger a write at once.
    """

    def __init__(self, path: str, clock: IReactorTime, interval: float = 1.0,
                 limit: int = 256 * 1024) -> None:
        self.path = path
        self._clock = clock
        self._interval = interval
        self._limit = limit
        self._lines: list[str] = []
        self._size = 0
        self._timer: Optional[IDelayedCall] = None
        self._fd: Optional[int] = None
        self._failing = False
        self._stopped = False

    def startService(self) -> None:
        """
        Open the file (an error is logged, and opening tried again at the
        next write).
        """
        super().startService()
        self._stopped = False
        try:
            self._open()
        except OSError as error:
            self._cannot_write(error)

    def stopService(self) -> None:
        """
        Write what is waiting and close the file.
        """
        super().stopService()
        self._stopped = True
        self.close()

    def write(self, line: str) -> None:
        """
        Queue C{line} (without its newline).
        """
        self._lines.append(line)
        self._size += len(line) + 1
        if self._stopped:
            self.close()
        elif self._size >= self._limit:
            self.flush()
        elif self._timer is None:
            self._timer = self._clock.callLater(self._interval, self.flush)

    def flush(self) -> None:
        """
        Write what is waiting now. An I/O error is logged (once until
        writing works again) and the lines are dropped.
        """
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        data = ("\n".join(self._lines) + "\n").encode("utf-8", "replace")
        self._lines = []
        self._size = 0
        try:
            fd = self._open()
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError as error:
            self._close()
            self._cannot_write(error)
            return
        self._failing = False

    def _cannot_write(self, error: OSError) -> None:
        if not self._failing:
            self._failing = True
            _log.error("Cannot write the access log {path}: {error}",
                       path=self.path, error=error)

    def close(self) -> None:
        """
        Write what is waiting and close the file.
        """
        self.flush()
        self._close()

    def _open(self) -> int:
        fd = self._fd
        if fd is not None:
            try:
                named = os.stat(self.path)
            except FileNotFoundError:
                named = None
            mine = os.fstat(fd)
            if named is not None and (named.st_dev, named.st_ino) == (
                    mine.st_dev, mine.st_ino):
                return fd
            self._close()
        fd = os.open(self.path,
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._fd = fd
        return fd

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


def _option_error(option: str, problem: str) -> ConfigError:
    return ConfigError(f"[filter:proxy-logging] {option}: {problem}")


@implementer(IPlugin, IProxyPluginFactory)
class _ProxyLoggingFactory:
    name = "proxy_logging"

    def make_filter(self, conf: dict[str, str], context: ProxyContext) -> ProxyLogging:
        """
        @param conf: C{log_msg_template}, C{access_log_headers} (or
            C{log_headers}), C{access_log_headers_only},
            C{reveal_sensitive_prefix} (16), C{log_anonymization_method}
            (md5), C{log_anonymization_salt}, C{access_log_file} and
            C{access_log_flush_interval} (1 s); C{log_statsd_host},
            C{log_statsd_port}, C{log_statsd_metric_prefix},
            C{log_statsd_default_sample_rate},
            C{log_statsd_sample_rate_factor} and
            C{log_statsd_valid_http_methods}, each read first with an
            C{access_} prefix, as Swift does. Swift's routing and syslog
            options are accepted and ignored.
        @param context: provides C{reactor}, C{constraints},
            C{swift_conf}, C{metrics} and C{services}, which gets the
            L{AccessLogFile} service and the statsd sender.
        @raise ConfigError: for a bad option, or an access log file that
            cannot be opened.
        """
        raw = conf.get("reveal_sensitive_prefix", "16")
        try:
            reveal = int(raw)
        except ValueError:
            raise _option_error("reveal_sensitive_prefix",
                                f"not an integer: {raw!r}") from None
        if reveal < 0:
            raise _option_error("reveal_sensitive_prefix",
                                f"must not be negative: {raw!r}")
        try:
            anonymize = _Anonymizer(conf.get("log_anonymization_method", "md5"),
                                    conf.get("log_anonymization_salt", ""))
        except ValueError as error:
            raise _option_error("log_anonymization_method", str(error)) from None
        text = conf.get("log_msg_template") or DEFAULT_LOG_MSG_TEMPLATE
        try:
            template = LogTemplate(text, anonymize)
        except Exception as error:
            raise _option_error(
                "log_msg_template", f"cannot interpolate: {error}") from None
        reactor = context.reactor
        emit: Emit = _emit_to_twisted_log
        path = conf.get("access_log_file", "").strip()
        if path:
            writer = self._access_log_file(path, conf, reactor)
            writer.setServiceParent(context.services)
            emit = writer.write
        return ProxyLogging(
            reactor,
            template,
            emit,
            log_headers=is_true(conf.get("access_log_headers",
                                             conf.get("log_headers", "no"))),
            log_headers_only=parse_list(conf.get("access_log_headers_only", "")),
            reveal_sensitive_prefix=reveal,
            valid_api_versions=context.constraints.valid_api_versions,
            metrics=self._metrics(conf, context),
        )

    def _metrics(self, conf: dict[str, str], context: ProxyContext) -> IMetrics:
        """
        The process's metrics, and statsd when it is configured.
        """
        try:
            statsd = StatsdConf.from_conf(conf, "filter:proxy-logging", access=True)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if statsd is None:
            return getattr(context, "metrics", NULL_METRICS)  # type: ignore[no-any-return]
        methods = conf.get("access_log_statsd_valid_http_methods",
                           conf.get("log_statsd_valid_http_methods"))
        valid = (parse_list(methods.upper()) if methods is not None
                 else DEFAULT_VALID_METHODS)
        policies = frozenset(str(policy.index) for policy in context.swift_conf.policies)
        both = MetricsFanout()
        both.add(AccessStatsd(statsd_for(context.reactor, statsd, context.services),
                              policies, valid))
        both.add(getattr(context, "metrics", NULL_METRICS))
        return both

    def _access_log_file(self, path: str, conf: dict[str, str],
                       reactor: Any) -> AccessLogFile:
        path = os.path.abspath(os.path.expanduser(path))
        raw = conf.get("access_log_flush_interval", "1")
        try:
            interval = float(raw)
        except ValueError:
            interval = -1.0
        if not interval > 0:
            raise _option_error("access_log_flush_interval",
                                f"not a positive number: {raw!r}")
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        except OSError as error:
            raise _option_error("access_log_file", f"cannot open: {error}") from None
        return AccessLogFile(path, reactor, interval)


proxyLoggingPlugin = _ProxyLoggingFactory()
