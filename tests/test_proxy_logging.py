"""
Tests for L{twisted_proxy.plugins.proxy_logging}: Swift's access log.

The expected lines are those Swift 2.38.3's C{proxy-logging} middleware
writes for the same request and response.
"""

from __future__ import annotations

import os
from typing import Any, Optional
from urllib.parse import quote_from_bytes

from twisted.application.service import MultiService
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.interfaces import IConsumer
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.doubles import Collector, partial_context
from tests.fakenodes import make_swift_conf
from twisted_proxy.config import ConfigError
from twisted_proxy.info.cache import INFO_ENVIRON_KEY, container_key
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins.proxy_logging import (
    DEFAULT_LOG_MSG_TEMPLATE,
    LOGGED_ENVIRON_KEY,
    AccessLogFile,
    LogTemplate,
    ProxyLogging,
    _quote,
    proxyLoggingPlugin,
)
from twisted_proxy.swift.constraints import Constraints
from twisted_proxy.swift.http import (
    ClientGone,
    HeaderDict,
    SwiftRequest,
    SwiftResponse,
    error_response,
)
from twisted_proxy.web.app import Pipeline
from twisted_proxy.web.pipeline import available_plugins

#: 2023-11-14 22:13:20 UTC, and a half.
START = 1700000000.5
TRANS_ID = "tx0123456789abcdef01234-006553f100"
TOKEN = "AUTH_tk0123456789abcdef"


@implementer(IBodyProducer)
class _Body:
    """
    A body producer driven by the test: L{send} writes, L{end} finishes,
    L{break_off} fails.
    """

    def __init__(self, length: int = 10) -> None:
        self.length = length
        self.consumer: Optional[IConsumer] = None
        self.done: Optional[Deferred[None]] = None
        self.paused = False
        self.stopped = False

    def startProducing(self, consumer: IConsumer) -> "Deferred[None]":
        self.consumer = consumer
        self.done = Deferred(lambda _: self.stopProducing())
        return self.done

    def send(self, data: bytes) -> None:
        assert self.consumer is not None
        self.consumer.write(data)

    def end(self) -> None:
        assert self.done is not None
        self.done.callback(None)

    def break_off(self, error: Exception) -> None:
        assert self.done is not None
        self.done.errback(error)

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        self.stopped = True


@implementer(IProxyApplication)
class _App:
    """
    The rest of the pipeline: answers each request with a Deferred the test
    fires.
    """

    def __init__(self) -> None:
        self.requests: list[SwiftRequest] = []
        self.answers: list[Deferred[SwiftResponse]] = []

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.requests.append(request)
        answer: Deferred[SwiftResponse] = Deferred()
        self.answers.append(answer)
        return answer


def _request(
    method: str = "GET",
    uri: bytes = b"/v1/AUTH_test/c/o",
    headers: Optional[dict[str, Optional[str]]] = None,
    body: Optional[IBodyProducer] = None,
    trans_id: Optional[str] = TRANS_ID,
) -> SwiftRequest:
    """
    A request as the server makes it, with the headers curl sends.
    """
    all_headers = HeaderDict({"Host": "127.0.0.1:8080", "User-Agent": "curl/8.0",
                              "Accept": "*/*", "X-Auth-Token": TOKEN})
    for name, value in (headers or {}).items():
        if value is None:
            del all_headers[name]
        else:
            all_headers[name] = value
    request = SwiftRequest(method, uri, all_headers, body, "127.0.0.1")
    request.environ.update({
        "wsgi.url_scheme": "http", "HTTP_HOST": "127.0.0.1:8080",
        "REMOTE_ADDR": "127.0.0.1", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
    })
    if trans_id is not None:
        request.environ["swift.trans_id"] = trans_id
    return request


class _LoggingTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.lines: list[str] = []
        self.app = _App()

    def filter(self, **kwargs: Any) -> ProxyLogging:
        return ProxyLogging(self.clock, emit=self.lines.append, **kwargs)

    def exchange(self, request: SwiftRequest, response: SwiftResponse,
                 elapsed: float = 0.125, **kwargs: Any) -> SwiftResponse:
        """
        Run C{request} through a logging filter; the app answers
        C{response} after C{elapsed} seconds.
        """
        answer = self.filter(**kwargs)(request, self.app)
        self.clock.advance(elapsed)
        self.app.answers[-1].callback(response)
        return self.successResultOf(answer)


class LineTests(_LoggingTestCase):
    """
    The line written for a request, field by field.
    """

    def test_get(self) -> None:
        """
        A GET answered with a body in one piece is logged as soon as the
        answer is handed to the server, in Swift's default format.
        """
        self.exchange(_request(), SwiftResponse(200, {}, b"hello"))
        self.assertEqual(self.lines, [
            "127.0.0.1 127.0.0.1 14/Nov/2023/22/13/20 GET /v1/AUTH_test/c/o "
            "HTTP/1.0 200 - curl/8.0 AUTH_tk012345678... - 5 - "
            f"{TRANS_ID} - 0.1250 - - 1700000000.500000000 "
            "1700000000.625000000 - -"
        ])

    def test_notFound(self) -> None:
        """
        An error answer counts its HTML body.
        """
        self.exchange(_request(), error_response(404))
        self.assertEqual(self.lines[0].split(" ")[6:12],
                         ["404", "-", "curl/8.0", "AUTH_tk012345678...", "-", "70"])

    def test_head(self) -> None:
        """
        An answer to HEAD sends no body, whatever its C{body} holds.
        """
        self.exchange(_request("HEAD"), SwiftResponse(200, {}, b"ignored"))
        fields = self.lines[0].split(" ")
        self.assertEqual((fields[3], fields[6], fields[11]), ("HEAD", "200", "-"))

    def test_fieldCount(self) -> None:
        """
        Every field of the default template is there, space-separated:
        Swift 2.38.3's twenty-two.
        """
        self.exchange(_request(headers={"User-Agent": "a b\tc", "Referer": "x y"}),
                      SwiftResponse(204, {}, b""))
        self.assertEqual(len(self.lines[0].split(" ")), 22)
        self.assertEqual(len(DEFAULT_LOG_MSG_TEMPLATE.split(" ")), 22)

    def test_refererAndAgentQuoted(self) -> None:
        """
        The referer and user agent are percent-quoted, C{:} and C{/} kept.
        """
        self.exchange(
            _request(headers={"Referer": "http://example.com/a b",
                              "User-Agent": "curl/test agent"}),
            SwiftResponse(200, {}, b""))
        self.assertEqual(self.lines[0].split(" ")[7:9],
                         ["http://example.com/a%20b", "curl/test%20agent"])

    def test_quote(self) -> None:
        """
        A field is quoted as C{quote_from_bytes} of its UTF-8 with C{:/{}}
        kept, whether or not it holds anything to quote.
        """
        for text in ("", "/v1/AUTH_test/c/o", "1796284300.572393894", "tx1-00ab",
                     "{a}:b~c_d.e-f", "a b", "caf\u00e9", "%41", "a+b", "a\nb", "[::1]",
                     "x&y=z", "\u2603/\u00ff"):
            self.assertEqual(_quote(text), quote_from_bytes(text.encode("utf-8"), ":/{}"),
                             text)
        self.assertEqual(_quote("a\ud800b"), "a%EF%BF%BDb")

    def test_missingHeaders(self) -> None:
        """
        Missing values are C{-}.
        """
        self.exchange(_request(headers={"User-Agent": None, "X-Auth-Token": None}),
                      SwiftResponse(200, {}, b""))
        self.assertEqual(self.lines[0].split(" ")[7:10], ["-", "-", "-"])

    def test_clientIp(self) -> None:
        """
        The client's address is the first of C{X-Forwarded-For} (or
        C{X-Cluster-Client-Ip}); C{remote_addr} stays the connection's.
        """
        self.exchange(_request(headers={"X-Forwarded-For": "10.1.2.3, 10.0.0.1"}),
                      SwiftResponse(200, {}, b""))
        self.exchange(_request(headers={"X-Cluster-Client-Ip": "10.9.9.9",
                                        "X-Forwarded-For": "10.1.2.3"}),
                      SwiftResponse(200, {}, b""))
        self.assertEqual([line.split(" ")[:2] for line in self.lines],
                         [["10.1.2.3", "127.0.0.1"], ["10.9.9.9", "127.0.0.1"]])

    def test_oddPath(self) -> None:
        """
        The path is quoted twice, as Swift logs it: once as a URL path (its
        query kept as received), once as a log field.
        """
        self.exchange(
            _request(uri=b"/v1/AUTH_test/c/odd%20name%E2%9C%93%25?format=json&x=a%20b"),
            error_response(404))
        self.assertEqual(
            self.lines[0].split(" ")[4],
            "/v1/AUTH_test/c/odd%2520name%25E2%259C%2593%2525"
            "%3Fformat%3Djson%26x%3Da%2520b")

    def test_tempUrlSignature(self) -> None:
        """
        A C{temp_url_sig} is cut short, the query then re-encoded.
        """
        self.exchange(
            _request(uri=b"/v1/AUTH_test/c/o?temp_url_sig=0123456789abcdef0123"
                     b"&temp_url_expires=1700000100&x=a%20b",
                     headers={"X-Auth-Token": None}),
            SwiftResponse(200, {}, b""))
        self.assertEqual(
            self.lines[0].split(" ")[4],
            "/v1/AUTH_test/c/o%3Ftemp_url_sig%3D0123456789abcdef..."
            "%26temp_url_expires%3D1700000100%26x%3Da%2Bb")

    def test_tokenShortened(self) -> None:
        """
        Only C{reveal_sensitive_prefix} characters of the token are logged.
        """
        self.exchange(_request(), SwiftResponse(200, {}, b""),
                      reveal_sensitive_prefix=4)
        self.exchange(_request(headers={"X-Auth-Token": "AUTH_tk"}),
                      SwiftResponse(200, {}, b""))
        self.assertEqual([line.split(" ")[9] for line in self.lines],
                         ["AUTH...", "AUTH_tk"])

    def test_storageToken(self) -> None:
        """
        Without C{X-Auth-Token}, the C{X-Storage-Token} the proxy uses in its
        place is logged.
        """
        self.exchange(_request(headers={"X-Auth-Token": None,
                                        "X-Storage-Token": TOKEN}),
                      SwiftResponse(200, {}, b""))
        self.assertEqual(self.lines[0].split(" ")[9], "AUTH_tk012345678...")

    def test_headers(self) -> None:
        """
        With C{log_headers}, the request headers are one field: C{Name: value}
        lines, names capitalised as Swift's environ gives them, Content-Length
        and Content-Type last, tokens cut short.
        """
        request = _request("PUT", headers={"content-type": "text/plain",
                                           "content-length": "0",
                                           "x-object-meta-color": "blue"})
        self.exchange(request, SwiftResponse(201, {}, b""), log_headers=True)
        self.assertEqual(
            self.lines[0].split(" ")[14],
            "Host:%20127.0.0.1:8080%0AUser-Agent:%20curl/8.0%0AAccept:%20%2A/%2A"
            "%0AX-Auth-Token:%20AUTH_tk012345678...%0AX-Object-Meta-Color:%20blue"
            "%0AContent-Length:%200%0AContent-Type:%20text/plain")

    def test_headersOnly(self) -> None:
        """
        C{log_headers_only} keeps the headers named, whatever their case.
        """
        self.exchange(_request(), SwiftResponse(200, {}, b""), log_headers=True,
                      log_headers_only=["user-agent", "HOST"])
        self.assertEqual(self.lines[0].split(" ")[14],
                         "Host:%20127.0.0.1:8080%0AUser-Agent:%20curl/8.0")

    def test_etag(self) -> None:
        """
        The client's C{Etag} is logged.
        """
        self.exchange(_request("PUT", headers={"Etag": "5d41402abc4b2a76b9719d911017c592"}),
                      SwiftResponse(201, {}, b""))
        self.assertEqual(self.lines[0].split(" ")[12], "5d41402abc4b2a76b9719d911017c592")

    def test_environFields(self) -> None:
        """
        The source, log info, access user, original method and a status
        override come from the environ, as other plugins leave them.
        """
        request = _request("PUT")
        request.environ.update({
            "swift.source": "SSC", "swift.log_info": ["a b", "c"],
            "swift.access_logging": {"user_id": "test:tester"},
            "swift.orig_req_method": "COPY",
            "swift.proxy_logging_status": 202,
        })
        self.exchange(request, SwiftResponse(201, {}, b""))
        fields = self.lines[0].split(" ")
        self.assertEqual((fields[3], fields[6], fields[16], fields[17], fields[21]),
                         ("COPY", "202", "SSC", "a%20b%2Cc", "test:tester"))

    def test_policyIndex(self) -> None:
        """
        The policy index is the answer's or the request's
        C{X-Backend-Storage-Policy-Index}, or the container's policy for an
        object, or for a container's GET or HEAD.
        """
        self.exchange(_request(), SwiftResponse(
            200, {"X-Backend-Storage-Policy-Index": "1"}, b""))
        self.exchange(_request(headers={"X-Backend-Storage-Policy-Index": "2"}),
                      SwiftResponse(200, {}, b""))
        request = _request()
        request.environ[INFO_ENVIRON_KEY] = {
            container_key("AUTH_test", "c"): {"status": 204, "storage_policy": "3"}}
        self.exchange(request, SwiftResponse(200, {}, b""))
        for method in ("GET", "POST"):
            container = _request(method, uri=b"/v1/AUTH_test/c")
            container.environ[INFO_ENVIRON_KEY] = {
                container_key("AUTH_test", "c"): {"status": 204, "storage_policy": "3"}}
            self.exchange(container, SwiftResponse(204, {}, b""))
        self.exchange(_request(uri=b"/v1/AUTH_test"), SwiftResponse(204, {}, b""))
        self.assertEqual([line.split(" ")[20] for line in self.lines],
                         ["1", "2", "3", "3", "-", "-"])

    def test_transIdGiven(self) -> None:
        """
        A request that has no transaction id yet gets one as it enters the
        pipeline, shared with the rest of the pipeline and logged.
        """
        request = _request(trans_id=None)
        answer = Pipeline([self.filter()], self.app, self.clock)(request)
        self.app.answers[-1].callback(SwiftResponse(200, {}, b""))
        self.successResultOf(answer)
        trans_id = self.app.requests[0].environ["swift.trans_id"]
        self.assertRegex(trans_id, r"^tx[0-9a-f]{21}-[0-9a-f]{10}$")
        self.assertEqual(self.lines[0].split(" ")[13], trans_id)

    def test_noTransIdOfItsOwn(self) -> None:
        """
        The plugin makes no transaction id: a request that reaches it
        without one (outside a pipeline) is logged with C{-}, as Swift's
        middleware does.
        """
        self.exchange(_request(trans_id=None), SwiftResponse(200, {}, b""))
        self.assertNotIn("swift.trans_id", self.app.requests[0].environ)
        self.assertEqual(self.lines[0].split(" ")[13], "-")

    def test_customTemplate(self) -> None:
        """
        A template may pick, reorder and decorate fields, with time
        attributes, anonymisation and Swift's other fields.
        """
        template = LogTemplate(
            "{method} {path} {status_int} {end_time.iso8601}.{end_time.ms} "
            "{start_time.s} [{client_ip.anonymized}] {account} {container} "
            "{object} {domain} {ttfb} {wire_status_int} {pid} {protocol}")
        self.exchange(_request(uri=b"/v1/AUTH_test/c/o%20x/y"),
                      SwiftResponse(206, {}, b"abc"), template=template)
        self.assertEqual(self.lines, [
            "GET /v1/AUTH_test/c/o%2520x/y 206 2023-11-14T22:13:20.625 "
            "1700000000 [{MD5}f528764d624db129b32c21fbca0cb8d6] AUTH_test c "
            f"o%2520x/y 127.0.0.1 0.125 206 {os.getpid()} HTTP/1.0"])

    def test_oddPathParts(self) -> None:
        """
        C{account}, C{container} and C{object} split the path as Swift's
        C{split_path(path, 1, 4, True)}: the last part may be empty (and is
        logged as C{-}); a path with another empty part, no version or an
        unknown one has none of them.
        """
        template = LogTemplate("{account} {container} {object}")
        for uri, expected in [
            (b"/v1/a/", "a - -"),
            (b"/v1//c/o", "- - -"),
            (b"/v1/a//o/", "- - -"),
            (b"/v1/a/c//", "a c /"),
            (b"/v1.0/a/c", "a c -"),
            (b"/v1", "- - -"),
            (b"//a/c", "- - -"),
            (b"/v2/a/c/o", "- - -"),
            (b"/info", "- - -"),
        ]:
            del self.lines[:]
            self.exchange(_request(uri=uri), SwiftResponse(200, {}, b""),
                          template=template)
            self.assertEqual(self.lines, [expected], uri)

    def test_policyIndexOddPaths(self) -> None:
        """
        The container's policy is looked up only for a path naming an
        account and a container.
        """
        info = {container_key("a", "c"): {"status": 204, "storage_policy": "3"},
                container_key("", "c"): {"status": 204, "storage_policy": "4"}}
        for method, uri in [("PUT", b"/v1/a/c/o"), ("PUT", b"/v1/a/c/"),
                            ("HEAD", b"/v1/a/c/"), ("GET", b"/v1//c/o"),
                            ("GET", b"/v1/a/c//")]:
            request = _request(method, uri=uri)
            request.environ[INFO_ENVIRON_KEY] = info
            self.exchange(request, SwiftResponse(200, {}, b""))
        self.assertEqual([line.split(" ")[20] for line in self.lines],
                         ["3", "-", "3", "-", "3"])

    def test_badTemplate(self) -> None:
        """
        A template naming an unknown field or attribute is refused.
        """
        for text in ("{nope}", "{end_time.nope}", "{method.anonymized}", "{}",
                     "{headers[0]}"):
            self.assertRaises(ValueError, LogTemplate, text)

    def test_defaultLineAsTemplate(self) -> None:
        """
        The default template's lines, made at once, are those the general
        renderer makes of the same template: every field, quoted or C{-}
        alike, whatever the request holds.
        """
        template = LogTemplate(DEFAULT_LOG_MSG_TEMPLATE + "|")
        cases: list[tuple[SwiftRequest, SwiftResponse, dict[str, Any]]] = [
            (_request(), SwiftResponse(200, {}, b"hello"), {}),
            (_request("PUT", headers={"X-Forwarded-For": "10.1.2.3, 10.0.0.1",
                                      "Referer": "http://x/a b", "Etag": "\"e t\"",
                                      "User-Agent": "caf\u00e9 \u2603"}),
             SwiftResponse(201, {"X-Backend-Storage-Policy-Index": "1"}, b""),
             {"swift.source": "SLO", "swift.log_info": ["a b", "c"],
              "swift.access_logging": {"user_id": "us er"},
              "swift.proxy_logging_status": 206, "SERVER_PROTOCOL": "HTTP/1.1"}),
            (_request("HEAD", uri=b"/v1/AUTH_test/c/o%20x?temp_url_sig=0123456789abcdef0123"
                      b"&temp_url_expires=1&x=%25",
                      headers={"X-Cluster-Client-Ip": "::1", "X-Auth-Token": None,
                               "X-Storage-Token": "short"}, trans_id=None),
             error_response(404), {"swift.orig_req_method": "GET",
                                   "swift.proxy_logging_status": "499 x"}),
        ]
        for log_headers in (False, True):
            for request, response, environ in cases:
                request.environ.update(environ)
                fast: list[str] = []
                ProxyLogging(self.clock, emit=fast.append, log_headers=log_headers)(
                    request, lambda r: succeed(response))  # type: ignore[arg-type]
                del request.environ[LOGGED_ENVIRON_KEY]
                general: list[str] = []
                ProxyLogging(self.clock, template, general.append, log_headers=log_headers)(
                    request, lambda r: succeed(response))  # type: ignore[arg-type]
                del request.environ[LOGGED_ENVIRON_KEY]
                self.assertEqual(len(fast), 1)
                self.assertEqual(fast, [general[0][:-1]])


class LogTimeTests(SynchronousTestCase):
    """
    C{end_time.datetime}, formatted once a second.
    """

    def test_sameSecond(self) -> None:
        """
        Moments of one second, in any order with others, give that second;
        each other second its own.
        """
        from twisted_proxy.plugins.proxy_logging import _LogTime

        for seconds, text in [(1700000000.1, "14/Nov/2023/22/13/20"),
                              (1700000000.9, "14/Nov/2023/22/13/20"),
                              (1700000001.0, "14/Nov/2023/22/13/21"),
                              (1700000000.5, "14/Nov/2023/22/13/20"),
                              (0.5, "01/Jan/1970/00/00/00"),
                              (1700000000.0, "14/Nov/2023/22/13/20")]:
            self.assertEqual(_LogTime(seconds).datetime, text)

    def test_plainFields(self) -> None:
        """
        Fields written as they are still say C{-} for nothing and quote
        what needs it, whatever their type.
        """
        template = LogTemplate("{path} {status_int} {bytes_sent} {referer} {user_agent}")
        values = {"path": "/v1/a b", "status_int": 200, "bytes_sent": 0, "referer": None,
                  "user_agent": "caf\u00e9"}
        self.assertEqual(template.render(values), "/v1/a%20b 200 - - caf%C3%A9")


class BodyTests(_LoggingTestCase):
    """
    Streamed bodies: counted as they pass, logged when they end.
    """

    def start_body(self, request: Optional[SwiftRequest] = None
                  ) -> tuple[_Body, SwiftResponse, Collector, Deferred[None]]:
        body = _Body()
        response = self.exchange(request or _request(), SwiftResponse(200, {}, body))
        consumer = Collector()
        producing = response.body.startProducing(consumer)  # type: ignore[union-attr]
        return body, response, consumer, producing

    def test_logAfterBody(self) -> None:
        """
        A streamed body is logged once it has all been written, with its
        size and the time it ended.
        """
        body, response, consumer, producing = self.start_body()
        self.assertIsNot(response.body, body)
        body.send(b"01234")
        self.clock.advance(1)
        body.send(b"56789")
        self.assertEqual(self.lines, [])
        body.end()
        self.successResultOf(producing)
        self.assertEqual(consumer.data, b"0123456789")
        self.assertEqual(self.lines, [
            "127.0.0.1 127.0.0.1 14/Nov/2023/22/13/21 GET /v1/AUTH_test/c/o "
            "HTTP/1.0 200 - curl/8.0 AUTH_tk012345678... - 10 - "
            f"{TRANS_ID} - 1.1250 - - 1700000000.500000000 "
            "1700000001.625000000 - -"
        ])

    def test_flowControl(self) -> None:
        """
        Pausing, resuming and the body's length pass through.
        """
        body, response, consumer, producing = self.start_body()
        metered = response.body
        assert not isinstance(metered, bytes)
        verifyObject(IBodyProducer, metered)
        self.assertEqual(metered.length, 10)
        metered.pauseProducing()
        self.assertTrue(body.paused)
        metered.resumeProducing()
        self.assertFalse(body.paused)

    def test_clientDisconnect(self) -> None:
        """
        A body stopped by its consumer (the client went away) is logged at
        once as 499 with the bytes sent so far, and only once.
        """
        body, response, consumer, producing = self.start_body()
        body.send(b"0123")
        assert not isinstance(response.body, bytes)
        response.body.stopProducing()
        self.assertTrue(body.stopped)
        self.assertEqual(self.lines[0].split(" ")[6:12],
                         ["499", "-", "curl/8.0", "AUTH_tk012345678...", "-", "4"])
        body.break_off(Exception("late"))
        self.failureResultOf(producing)
        self.assertEqual(len(self.lines), 1)

    def test_cancelled(self) -> None:
        """
        A body whose reader cancelled it is logged as 499.
        """
        body, response, consumer, producing = self.start_body()
        producing.cancel()
        self.failureResultOf(producing, CancelledError)
        self.assertTrue(body.stopped)
        self.assertEqual(self.lines[0].split(" ")[6], "499")

    def test_bodyFailed(self) -> None:
        """
        A body that breaks off (its source failed) is logged as 500 with the
        bytes sent; the failure still reaches the server.
        """
        body, response, consumer, producing = self.start_body()
        body.send(b"012")
        body.break_off(ValueError("short read"))
        self.failureResultOf(producing, ValueError)
        self.assertEqual(self.lines[0].split(" ")[6:12],
                         ["500", "-", "curl/8.0", "AUTH_tk012345678...", "-", "3"])

    def test_neverStarted(self) -> None:
        """
        A body the server drops without starting (the client left first) is
        logged as 499.
        """
        body = _Body()
        response = self.exchange(_request(), SwiftResponse(200, {}, body))
        assert not isinstance(response.body, bytes)
        response.body.stopProducing()
        self.assertEqual(self.lines[0].split(" ")[6], "499")

    def test_waitingCancelled(self) -> None:
        """
        A request whose answer the server cancels (its client left while it
        was waiting) is logged as 499; the cancellation goes on to the app.
        """
        answer = self.filter()(_request(), self.app)
        self.clock.advance(2)
        answer.cancel()
        self.failureResultOf(answer, CancelledError)
        self.assertEqual(self.lines[0].split(" ")[6:12],
                         ["499", "-", "curl/8.0", "AUTH_tk012345678...", "-", "-"])
        self.assertEqual(self.lines[0].split(" ")[15], "2.0000")

    def test_appFailed(self) -> None:
        """
        An app that fails is logged as 500; the failure is passed on.
        """
        answer = self.filter()(_request(), self.app)
        self.app.answers[0].errback(RuntimeError("boom"))
        self.failureResultOf(answer, RuntimeError)
        self.assertEqual(self.lines[0].split(" ")[6], "500")

    def test_upload(self) -> None:
        """
        The request body is counted as the app reads it.
        """
        upload = _Body()
        request = _request("PUT", headers={"Content-Length": "10"}, body=upload)
        answer = self.filter()(request, self.app)
        seen = self.app.requests[0].body
        assert seen is not None
        self.assertEqual(seen.length, 10)
        reading = seen.startProducing(Collector())
        upload.send(b"01234")
        upload.send(b"56789")
        upload.end()
        self.successResultOf(reading)
        self.app.answers[0].callback(SwiftResponse(201, {}, b""))
        self.successResultOf(answer)
        self.assertEqual(self.lines[0].split(" ")[3:12],
                         ["PUT", "/v1/AUTH_test/c/o", "HTTP/1.0", "201", "-",
                          "curl/8.0", "AUTH_tk012345678...", "10", "-"])

    def test_uploadClientGone(self) -> None:
        """
        A request body that breaks off (the client left) makes the line's
        status 499, whatever the answer.
        """
        upload = _Body()
        request = _request("PUT", headers={"Content-Length": "10"}, body=upload)
        answer = self.filter()(request, self.app)
        seen = self.app.requests[0].body
        assert seen is not None
        reading = seen.startProducing(Collector())
        upload.send(b"0123")
        upload.break_off(ClientGone("gone"))
        self.failureResultOf(reading, ClientGone)
        self.app.answers[0].callback(error_response(408))
        self.successResultOf(answer)
        self.assertEqual(self.lines[0].split(" ")[6:12],
                         ["499", "-", "curl/8.0", "AUTH_tk012345678...", "4", "116"])

    def test_uploadStoppedByProxy(self) -> None:
        """
        A request body the proxy stops reading (cancelled) is not the
        client's going.
        """
        upload = _Body()
        request = _request("PUT", headers={"Content-Length": "10"}, body=upload)
        answer = self.filter()(request, self.app)
        seen = self.app.requests[0].body
        assert seen is not None
        reading = seen.startProducing(Collector())
        reading.cancel()
        self.failureResultOf(reading, CancelledError)
        self.app.answers[0].callback(error_response(503))
        self.successResultOf(answer)
        self.assertEqual(self.lines[0].split(" ")[6], "503")


class PipelineTests(_LoggingTestCase):
    """
    Two instances in one pipeline, as Swift's stock pipeline has.
    """

    def test_loggedOnce(self) -> None:
        """
        The first instance logs the request; the second passes it on.
        """
        pipeline = Pipeline([self.filter(), self.filter()], self.app)
        request = _request()
        answer = pipeline(request)
        self.assertEqual(len(self.app.requests), 1)
        self.assertTrue(request.environ[LOGGED_ENVIRON_KEY])
        self.app.answers[0].callback(SwiftResponse(200, {}, b"hello"))
        self.successResultOf(answer)
        self.assertEqual(len(self.lines), 1)

    def test_subRequest(self) -> None:
        """
        A sub-request with an environ of its own (without the mark) made
        between the two is logged by the second, with its source.
        """
        outer, inner = self.filter(), self.filter()

        def middle(request: SwiftRequest, app: Any) -> Deferred[SwiftResponse]:
            sub = request.copy_for("GET", "/v1/AUTH_test/c/src")
            sub.environ = {key: value for key, value in request.environ.items()
                           if key != LOGGED_ENVIRON_KEY}
            sub.environ["swift.source"] = "SSC"
            return app(sub).addCallback(lambda _: app(request))  # type: ignore[no-any-return]

        pipeline = Pipeline([outer, middle, inner], self.app)  # type: ignore[list-item]
        answer = pipeline(_request("COPY"))
        self.app.answers[0].callback(SwiftResponse(200, {}, b"source"))
        self.app.answers[1].callback(SwiftResponse(201, {}, b""))
        self.successResultOf(answer)
        self.assertEqual([line.split(" ")[3:5] + line.split(" ")[16:17]
                          for line in self.lines],
                         [["GET", "/v1/AUTH_test/c/src", "SSC"],
                          ["COPY", "/v1/AUTH_test/c/o", "-"]])


@implementer(ILogObserver)
class _Events:
    def __init__(self) -> None:
        self.events: list[LogEvent] = []

    def __call__(self, event: LogEvent) -> None:
        self.events.append(event)


class _Context:
    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.constraints = Constraints()
        self.services = MultiService()
        self.swift_conf = make_swift_conf()


class FactoryTests(SynchronousTestCase):
    """
    The plugin as C{[filter:proxy-logging]} configures it.
    """

    def test_plugin(self) -> None:
        """
        C{use = egg:swift#proxy_logging} finds the plugin.
        """
        self.assertTrue(verifyObject(IPlugin, proxyLoggingPlugin))
        self.assertTrue(verifyObject(IProxyPluginFactory, proxyLoggingPlugin))
        self.assertIs(available_plugins()["proxy_logging"], proxyLoggingPlugin)
        made = proxyLoggingPlugin.make_filter({}, partial_context(_Context(Clock())))
        self.assertTrue(verifyObject(IProxyFilter, made))

    def test_twistedLog(self) -> None:
        """
        By default lines go to the Twisted log, namespace C{proxy-server}.
        """
        events = _Events()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        clock = Clock()
        made = proxyLoggingPlugin.make_filter(
            {"access_log_route": "proxy-access", "log_name": "proxy-server",
             "log_statsd_host": "localhost"}, partial_context(_Context(clock)))
        answer = made(_request(), lambda request: succeed(SwiftResponse(200, {}, b"")))  # type: ignore[arg-type]
        self.successResultOf(answer)
        access = [event for event in events.events
                  if event.get("log_namespace") == "proxy-server"]
        self.assertEqual(len(access), 1)
        self.assertTrue(access[0]["access_log_line"].startswith(
            "127.0.0.1 127.0.0.1 "))

    def test_twistedLogEvent(self) -> None:
        """
        The event of a line is the one C{Logger.info} would make for it:
        the same keys and values (but its time).
        """
        from twisted.logger import Logger, formatEvent

        from twisted_proxy.plugins import proxy_logging
        from twisted_proxy.plugins.proxy_logging import TEXT_KEY

        made: list[LogEvent] = []
        self.patch(proxy_logging, "_accessLog",
                   Logger(namespace="proxy-server", observer=made.append))  # type: ignore[arg-type]
        proxy_logging._emit_to_twisted_log("a line {x}")
        proxy_logging._accessLog.info("{access_log_line}", access_log_line="a line {x}")
        direct, reference = made
        # and its text, formatted once
        self.assertEqual(direct.pop(TEXT_KEY), formatEvent(reference))
        self.assertEqual(list(direct), list(reference))
        for key in reference:
            if key != "log_time":
                self.assertEqual(direct[key], reference[key], key)
        self.assertLess(abs(direct["log_time"] - reference["log_time"]), 5)

    def test_options(self) -> None:
        """
        Template, header logging and the token prefix come from the section.
        """
        made = proxyLoggingPlugin.make_filter(
            {"log_msg_template": "{auth_token} {headers}",
             "access_log_headers": "yes", "access_log_headers_only": "X-Auth-Token",
             "reveal_sensitive_prefix": "3"}, partial_context(_Context(Clock())))
        lines: list[str] = []
        made._emit = lines.append
        self.successResultOf(made(_request(), lambda request: succeed(  # type: ignore[arg-type]
            SwiftResponse(200, {}, b""))))
        self.assertEqual(lines, ["AUT... X-Auth-Token:%20AUT..."])

    def test_badOptions(self) -> None:
        """
        Bad values stop startup with a ConfigError naming the option.
        """
        for conf, option in [
            ({"reveal_sensitive_prefix": "x"}, "reveal_sensitive_prefix"),
            ({"reveal_sensitive_prefix": "-1"}, "reveal_sensitive_prefix"),
            ({"log_msg_template": "{nope}"}, "log_msg_template"),
            ({"log_anonymization_method": "rot13"}, "log_anonymization_method"),
            ({"access_log_file": "/nonexistent/dir/access.log"}, "access_log_file"),
            ({"access_log_file": self.mktemp(), "access_log_flush_interval": "0"},
             "access_log_flush_interval"),
        ]:
            error = self.assertRaises(
                ConfigError, proxyLoggingPlugin.make_filter, conf, _Context(Clock()))
            self.assertIn(option, str(error))

    def test_accessLogFile(self) -> None:
        """
        With C{access_log_file}, lines are appended to that file after the
        flush interval.
        """
        path = self.mktemp()
        clock = Clock()
        clock.advance(START)
        made = proxyLoggingPlugin.make_filter(
            {"access_log_file": path, "access_log_flush_interval": "0.5"},
            partial_context(_Context(clock)))
        for _ in range(2):
            self.successResultOf(made(_request(), lambda request: succeed(  # type: ignore[arg-type]
                SwiftResponse(200, {}, b"hi"))))
        with open(path) as f:
            self.assertEqual(f.read(), "")
        clock.advance(0.5)
        with open(path) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 2)
        self.assertTrue(lines[0].startswith("127.0.0.1 127.0.0.1 14/Nov/2023/22/13/20 GET"))


class AccessLogFileTests(SynchronousTestCase):
    """
    L{AccessLogFile}: batched appends.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.path = self.mktemp()

    def read(self) -> str:
        with open(self.path) as f:
            return f.read()

    def test_batched(self) -> None:
        """
        Lines wait for the interval, then go out together.
        """
        writer = AccessLogFile(self.path, self.clock, interval=1.0)
        self.addCleanup(writer.close)
        writer.write("one")
        self.clock.advance(0.5)
        writer.write("two")
        self.assertFalse(os.path.exists(self.path))
        self.clock.advance(0.5)
        self.assertEqual(self.read(), "one\ntwo\n")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        writer.write("three")
        self.clock.advance(1)
        self.assertEqual(self.read(), "one\ntwo\nthree\n")

    def test_limit(self) -> None:
        """
        Past C{limit} waiting bytes, lines are written at once.
        """
        writer = AccessLogFile(self.path, self.clock, interval=1.0, limit=8)
        self.addCleanup(writer.close)
        writer.write("abc")
        writer.write("defg")
        self.assertEqual(self.read(), "abc\ndefg\n")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_appends(self) -> None:
        """
        An existing file is appended to.
        """
        with open(self.path, "w") as f:
            f.write("before\n")
        writer = AccessLogFile(self.path, self.clock)
        writer.write("after")
        writer.close()
        self.assertEqual(self.read(), "before\nafter\n")

    def test_rotated(self) -> None:
        """
        A file moved away is reopened under its name.
        """
        writer = AccessLogFile(self.path, self.clock)
        self.addCleanup(writer.close)
        writer.write("one")
        writer.flush()
        os.rename(self.path, self.path + ".1")
        writer.write("two")
        writer.flush()
        self.assertEqual(self.read(), "two\n")
        with open(self.path + ".1") as f:
            self.assertEqual(f.read(), "one\n")

    def test_unwritable(self) -> None:
        """
        A write that fails is logged and its lines dropped; later writes
        work once the file can be written.
        """
        events = _Events()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        os.mkdir(self.path)
        target = os.path.join(self.path, "sub", "access.log")
        writer = AccessLogFile(target, self.clock)
        self.addCleanup(writer.close)
        writer.write("lost")
        writer.flush()
        writer.write("lost too")
        writer.flush()
        errors = [e for e in events.events if "Cannot write the access log" in
                  e.get("log_format", "")]
        self.assertEqual(len(errors), 1)
        os.mkdir(os.path.join(self.path, "sub"))
        writer.write("kept")
        writer.flush()
        with open(target) as f:
            self.assertEqual(f.read(), "kept\n")
