"""
Tests for L{twisted_proxy.swift.cors} and the CORS preflight of
L{twisted_proxy.controllers.base.Controller.OPTIONS}.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Optional, cast

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from tests.doubles import make_cors
from twisted_proxy.config import ProxySettings
from twisted_proxy.controllers.base import Controller, with_cors
from twisted_proxy.info.cache import ContainerInfo
from twisted_proxy.swift.cors import (
    SIMPLE_EXPOSE_HEADERS,
    CORSInfo,
    CORSPolicy,
    add_cors_headers,
    add_vary,
    container_origins,
    expose_headers,
    is_origin_allowed,
    preflight_response,
    split_list,
)
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse

_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"})
_ALLOW = "DELETE, GET, HEAD, OPTIONS, POST, PUT"

_origins = st.from_regex(r"\Ahttps?://[a-z0-9]{1,8}(\.[a-z]{2,4}){0,2}(:[0-9]{2,5})?\Z")


class SplitTests(SynchronousTestCase):
    """
    L{split_list} and L{container_origins} read Swift's list settings.
    """

    def test_csv(self) -> None:
        """
        Items are stripped and empty ones dropped.
        """
        self.assertEqual(split_list(" a, b ,,c ,"), ["a", "b", "c"])
        self.assertEqual(split_list(""), [])

    def test_container_origins_space_separated(self) -> None:
        """
        A container lists its origins separated by spaces.
        """
        self.assertEqual(container_origins(" http://a.com  http://b.com "),
                         ["http://a.com", "http://b.com"])
        self.assertEqual(container_origins(None), [])

    def test_policy_from_settings(self) -> None:
        """
        The operator's settings are comma separated, as in Swift.
        """
        policy = CORSPolicy.from_settings(ProxySettings(
            cors_allow_origin="http://a.com, http://b.com",
            cors_expose_headers="X-Foo ,x-bar",
            strict_cors_mode=False,
        ))
        self.assertEqual(policy, CORSPolicy(("http://a.com", "http://b.com"),
                                            ("X-Foo", "x-bar"), False))
        self.assertEqual(CORSPolicy.from_settings(ProxySettings()), CORSPolicy())


class OriginTests(SynchronousTestCase):
    """
    L{is_origin_allowed} matches origins exactly.
    """

    def test_container_lists(self) -> None:
        info = make_cors("http://a.com http://b.com")
        self.assertTrue(is_origin_allowed(info, "http://b.com", CORSPolicy()))
        self.assertFalse(is_origin_allowed(info, "http://c.com", CORSPolicy()))
        self.assertFalse(is_origin_allowed(info, "http://B.com", CORSPolicy()))
        self.assertFalse(is_origin_allowed(info, "https://b.com", CORSPolicy()))

    def test_wildcard(self) -> None:
        self.assertTrue(is_origin_allowed(make_cors("*"), "http://x.org", CORSPolicy()))
        self.assertTrue(is_origin_allowed(make_cors("http://a.com *"), "http://x.org",
                                          CORSPolicy()))
        self.assertTrue(is_origin_allowed(make_cors(), "http://x.org", CORSPolicy(("*",))))

    def test_operator_lists(self) -> None:
        """
        The operator's origins apply to every container, with or without
        its own list.
        """
        policy = CORSPolicy(("http://ops.com",))
        self.assertTrue(is_origin_allowed(make_cors(), "http://ops.com", policy))
        self.assertTrue(is_origin_allowed(make_cors("http://a.com"), "http://ops.com", policy))
        self.assertFalse(is_origin_allowed(make_cors(), "http://a.com", policy))

    def test_nothing_set(self) -> None:
        self.assertFalse(is_origin_allowed(make_cors(), "http://a.com", CORSPolicy()))
        self.assertFalse(is_origin_allowed({}, "http://a.com", CORSPolicy()))

    @given(st.lists(_origins, max_size=4), _origins, st.lists(_origins, max_size=4))
    def test_listed_allowed(self, before: list[str], origin: str, after: list[str]) -> None:
        """
        An origin anywhere in the container's list is allowed.
        """
        info = make_cors(" ".join(before + [origin] + after))
        self.assertTrue(is_origin_allowed(info, origin, CORSPolicy()))


class VaryTests(SynchronousTestCase):
    """
    L{add_vary} extends C{Vary}.
    """

    def test_add(self) -> None:
        headers = HeaderDict()
        add_vary(headers, "Origin")
        self.assertEqual(headers["Vary"], "Origin")
        add_vary(headers, "Access-Control-Request-Headers")
        self.assertEqual(headers["Vary"], "Origin, Access-Control-Request-Headers")

    def test_before_accept(self) -> None:
        """
        A listing's C{Accept} stays last, as Swift adds it after CORS.
        """
        headers = HeaderDict({"Vary": "Accept"})
        add_vary(headers, "Origin")
        self.assertEqual(headers["Vary"], "Origin, Accept")


class PreflightTests(SynchronousTestCase):
    """
    L{preflight_response} answers an C{OPTIONS} with an C{Origin}.
    """

    def preflight(self, info: CORSInfo, policy: CORSPolicy = CORSPolicy(),
                  **headers: str) -> SwiftResponse:
        request_headers = HeaderDict(
            {name.replace("_", "-"): value for name, value in headers.items()})
        return preflight_response(_METHODS, info, request_headers, policy)

    def assertRefused(self, response: SwiftResponse) -> None:
        self.assertEqual(response.status, 401)
        self.assertEqual(response.headers["Allow"], _ALLOW)
        self.assertNotIn("Access-Control-Allow-Origin", response.headers)
        # Swift's swob gives the 401 its default page.
        self.assertIn(b"<h1>Unauthorized</h1>", response.body)  # type: ignore[operator]

    def test_origin_not_allowed(self) -> None:
        self.assertRefused(self.preflight(
            make_cors("http://a.com"), Origin="http://m.com",
            Access_Control_Request_Method="GET"))

    def test_no_cors_configured(self) -> None:
        self.assertRefused(self.preflight(
            make_cors(), Origin="http://m.com", Access_Control_Request_Method="GET"))

    def test_no_request_method(self) -> None:
        self.assertRefused(self.preflight(make_cors("*"), Origin="http://m.com"))

    def test_method_not_allowed(self) -> None:
        self.assertRefused(self.preflight(
            make_cors("*"), Origin="http://m.com", Access_Control_Request_Method="COPY"))
        self.assertRefused(self.preflight(
            make_cors("*"), Origin="http://m.com", Access_Control_Request_Method="get"))

    def test_wildcard(self) -> None:
        """
        A container allowing C{*} is answered with C{*}; nothing varies.
        """
        response = self.preflight(make_cors("*"), Origin="http://m.com",
                                  Access_Control_Request_Method="GET")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.body, b"")
        self.assertEqual(dict(response.headers), {
            "Allow": _ALLOW,
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": _ALLOW,
        })

    def test_listed_origin(self) -> None:
        """
        A listed origin is echoed, with its max age and the headers asked
        for, and the answer varies with both.
        """
        response = self.preflight(
            make_cors("http://a.com http://m.com", max_age="60"),
            Origin="http://m.com", Access_Control_Request_Method="PUT",
            Access_Control_Request_Headers="x-auth-token, Content-Type,x-auth-token")
        self.assertEqual(response.status, 200)
        self.assertEqual(dict(response.headers), {
            "Allow": _ALLOW,
            "Access-Control-Allow-Origin": "http://m.com",
            "Vary": "Origin, Access-Control-Request-Headers",
            "Access-Control-Max-Age": "60",
            "Access-Control-Allow-Methods": _ALLOW,
            "Access-Control-Allow-Headers": "x-auth-token, Content-Type",
        })
        self.assertNotIn("Access-Control-Expose-Headers", response.headers)

    def test_operator_origin(self) -> None:
        """
        An origin the operator allows is echoed even when the container
        allows C{*} among others.
        """
        response = self.preflight(
            make_cors(), CORSPolicy(("http://m.com",)), Origin="http://m.com",
            Access_Control_Request_Method="GET")
        self.assertEqual(response.headers["Access-Control-Allow-Origin"], "http://m.com")
        response = self.preflight(
            make_cors("http://a.com *"), Origin="http://m.com",
            Access_Control_Request_Method="GET")
        self.assertEqual(response.headers["Access-Control-Allow-Origin"], "http://m.com")

    @given(_origins, st.sampled_from(sorted(_METHODS)) | st.text(max_size=8))
    def test_grants_only_allowed(self, origin: str, method: str) -> None:
        """
        A preflight succeeds exactly when the method is allowed.
        """
        response = self.preflight(make_cors("*"), Origin=origin,
                                  Access_Control_Request_Method=method)
        self.assertEqual(response.status, 200 if method in _METHODS else 401)


class ActualRequestTests(SynchronousTestCase):
    """
    L{add_cors_headers} and L{expose_headers} decorate the response to an
    actual request.
    """

    def response(self, **headers: str) -> SwiftResponse:
        return SwiftResponse(200, HeaderDict(
            {name.replace("_", "-"): value for name, value in headers.items()}))

    def test_wildcard(self) -> None:
        response = self.response(X_Object_Meta_Color="red")
        add_cors_headers(response, "http://m.com", make_cors("*"), CORSPolicy())
        self.assertEqual(response.headers["Access-Control-Allow-Origin"], "*")
        self.assertNotIn("Vary", response.headers)
        self.assertEqual(
            response.headers["Access-Control-Expose-Headers"].split(", "),
            sorted(SIMPLE_EXPOSE_HEADERS | {"x-object-meta-color"}))

    def test_listed_origin(self) -> None:
        response = self.response()
        add_cors_headers(response, "http://m.com", make_cors("http://m.com"), CORSPolicy())
        self.assertEqual(response.headers["Access-Control-Allow-Origin"], "http://m.com")
        self.assertEqual(response.headers["Vary"], "Origin")

    def test_strict_refused(self) -> None:
        """
        In strict mode, an origin that is not allowed gets no CORS headers.
        """
        response = self.response()
        add_cors_headers(response, "http://m.com", make_cors("http://secret.com"), CORSPolicy())
        self.assertEqual(dict(response.headers), {})

    def test_lax(self) -> None:
        """
        Without strict mode, any origin gets the headers, its own echoed.
        """
        response = self.response()
        add_cors_headers(response, "http://m.com", make_cors("http://secret.com"),
                         CORSPolicy(strict=False))
        self.assertEqual(response.headers["Access-Control-Allow-Origin"], "http://m.com")
        self.assertIn("Access-Control-Expose-Headers", response.headers)

    def test_kept(self) -> None:
        """
        CORS headers the response already has are kept.
        """
        response = self.response(Access_Control_Allow_Origin="http://x.com",
                                 Access_Control_Expose_Headers="etag")
        add_cors_headers(response, "http://m.com", make_cors("*"), CORSPolicy())
        self.assertEqual(response.headers["Access-Control-Allow-Origin"], "http://x.com")
        self.assertEqual(response.headers["Access-Control-Expose-Headers"], "etag")

    def test_expose(self) -> None:
        """
        Exposed: the simple headers, the operator's (as configured), user
        metadata of the response and the container's list (lower case).
        """
        headers = HeaderDict({
            "X-Container-Meta-Flavour": "x", "x-object-meta-Size": "1",
            "X-Object-Sysmeta-Secret": "y", "Content-Length": "0",
        })
        exposed = expose_headers(headers, make_cors(expose_headers=" X-Custom  x-other "),
                                 CORSPolicy(expose_headers=("X-Ops",)))
        self.assertEqual(exposed, sorted(SIMPLE_EXPOSE_HEADERS | {
            "x-container-meta-flavour", "x-object-meta-size", "X-Ops", "x-custom",
            "x-other"}))


def cors_only_info(cors_info: CORSInfo) -> ContainerInfo:
    """
    A container's info holding only its CORS settings, all that the CORS
    code reads (a partial info on purpose: no C{status}).
    """
    return cast(ContainerInfo, {"cors": cors_info})


class _Controller(Controller):
    server_type = "Object"
    allowed_methods = _METHODS

    def __init__(self, request: SwiftRequest, info: ContainerInfo,
                 settings: ProxySettings, container: Optional[str] = "c") -> None:
        context: Any = SimpleNamespace(settings=settings)
        super().__init__(context, request, "AUTH_a", container,
                         "o" if container is not None else None)
        self.info = info
        self.lookups = 0

    async def container_info(self, account: Optional[str] = None,
                             container: Optional[str] = None) -> ContainerInfo:
        self.lookups += 1
        return self.info

    async def GET(self) -> SwiftResponse:
        # A POST in the same request may change the stored settings; the
        # request still answers by the ones it started with.
        self.info = cors_only_info(make_cors("http://other.com"))
        return SwiftResponse(200, {"X-Object-Meta-Color": "red"})


def _request(method: str, **headers: str) -> SwiftRequest:
    return SwiftRequest(method, b"/v1/AUTH_a/c/o", HeaderDict(
        {name.replace("_", "-"): value for name, value in headers.items()}))


class ControllerTests(SynchronousTestCase):
    """
    C{Controller.OPTIONS} and L{with_cors} use the container's settings.
    """

    def run_handler(self, controller: _Controller, method: str) -> SwiftResponse:
        handler = getattr(controller, method)
        result: SwiftResponse = self.successResultOf(
            Deferred.fromCoroutine(with_cors(controller, handler)))
        return result

    def test_options_without_origin(self) -> None:
        controller = _Controller(_request("OPTIONS"), cors_only_info(make_cors()), ProxySettings())
        response = self.run_handler(controller, "OPTIONS")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["Allow"], _ALLOW)
        self.assertEqual(controller.lookups, 0)

    def test_preflight(self) -> None:
        controller = _Controller(
            _request("OPTIONS", Origin="http://m.com", Access_Control_Request_Method="GET"),
            cors_only_info(make_cors("*")), ProxySettings())
        response = self.run_handler(controller, "OPTIONS")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["Access-Control-Allow-Origin"], "*")
        self.assertNotIn("Access-Control-Expose-Headers", response.headers)

    def test_preflight_refused(self) -> None:
        controller = _Controller(
            _request("OPTIONS", Origin="http://m.com", Access_Control_Request_Method="GET"),
            cors_only_info(make_cors("http://secret.com")), ProxySettings())
        self.assertEqual(self.run_handler(controller, "OPTIONS").status, 401)

    def test_preflight_operator_origin(self) -> None:
        controller = _Controller(
            _request("OPTIONS", Origin="http://m.com", Access_Control_Request_Method="GET"),
            {"status": 404}, ProxySettings(cors_allow_origin="http://m.com"))
        response = self.run_handler(controller, "OPTIONS")
        self.assertEqual(response.headers["Access-Control-Allow-Origin"], "http://m.com")

    def test_account_options(self) -> None:
        """
        An account is no CORS resource: its OPTIONS is a plain one.
        """
        controller = _Controller(
            _request("OPTIONS", Origin="http://m.com", Access_Control_Request_Method="GET"),
            cors_only_info(make_cors("*")), ProxySettings(), container=None)
        response = self.run_handler(controller, "OPTIONS")
        self.assertEqual(response.status, 200)
        self.assertNotIn("Access-Control-Allow-Origin", response.headers)
        self.assertEqual(controller.lookups, 0)

    def test_actual(self) -> None:
        """
        An actual request is answered by the settings the container had
        before it.
        """
        controller = _Controller(_request("GET", Origin="http://m.com"),
                                 cors_only_info(make_cors("http://m.com")), ProxySettings())
        response = self.run_handler(controller, "GET")
        self.assertEqual(response.headers["Access-Control-Allow-Origin"], "http://m.com")
        self.assertIn("x-object-meta-color",
                      response.headers["Access-Control-Expose-Headers"].split(", "))

    def test_actual_without_origin(self) -> None:
        controller = _Controller(_request("GET"), cors_only_info(make_cors("*")), ProxySettings())
        response = self.run_handler(controller, "GET")
        self.assertNotIn("Access-Control-Allow-Origin", response.headers)
        self.assertEqual(controller.lookups, 0)

    def test_actual_lax(self) -> None:
        controller = _Controller(_request("GET", Origin="http://m.com"),
                                 cors_only_info(make_cors("http://secret.com")),
                                 ProxySettings(strict_cors_mode=False))
        response = self.run_handler(controller, "GET")
        self.assertEqual(response.headers["Access-Control-Allow-Origin"], "http://m.com")
