"""
Tests for L{twisted_proxy.plugins.tempauth}.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from tests.doubles import partial_context
from twisted_proxy.config import ConfigError
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.interfaces import IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins.tempauth import (
    ACCOUNT_ACL_ENVIRON_KEY,
    TempAuth,
    tempauthPlugin,
)
from twisted_proxy.swift.acl import clean_acl
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse

# The users of Swift's functional test configuration.
FUNCTIONAL_CONF = {
    "reseller_prefix": "AUTH, SERVICE",
    "SERVICE_require_group": "service",
    "user_admin_admin": "admin .admin .reseller_admin",
    "user_test_tester": "testing .admin",
    "user_test2_tester2": "testing2 .admin",
    "user_test_tester3": "testing3",
    "user_test5_tester5": "testing5 service",
    "user_reader_reader": "reading .reseller_reader",
}


class _Context:
    """
    The part of the proxy's context a plugin factory uses.
    """

    def __init__(self) -> None:
        self.reactor = Clock()
        self.info_store = MemoryInfoStore(self.reactor)
        self.info: dict[str, dict[str, Any]] = {}

    def register_info(self, name: str, **info: Any) -> None:
        self.info[name] = info


class _App:
    """
    The rest of the pipeline: remembers the requests it is given.
    """

    def __init__(self) -> None:
        self.requests: list[SwiftRequest] = []

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.requests.append(request)
        return succeed(SwiftResponse(200))


class _TempAuthTestCase(SynchronousTestCase):
    conf: dict[str, str] = FUNCTIONAL_CONF

    def setUp(self) -> None:
        self.context = _Context()
        self.clock = self.context.reactor
        self.clock.advance(1_000_000)
        self.auth = tempauthPlugin.make_filter(self.conf, partial_context(self.context))
        self.app = _App()

    def request(
        self,
        method: str,
        path: str,
        headers: Optional[dict[str, str]] = None,
        environ: Optional[dict[str, Any]] = None,
    ) -> SwiftRequest:
        all_headers = HeaderDict({"Host": "proxy.example.com:8080"})
        for name, value in (headers or {}).items():
            all_headers[name] = value
        return SwiftRequest(
            method, path.encode("latin-1"), all_headers, environ=environ
        )

    def call(self, request: SwiftRequest) -> SwiftResponse:
        return self.successResultOf(self.auth(request, self.app))

    def get_token(
        self, user: str, key: str, environ: Optional[dict[str, Any]] = None
    ) -> SwiftResponse:
        return self.call(
            self.request(
                "GET",
                "/auth/v1.0",
                {"X-Auth-User": user, "X-Auth-Key": key},
                environ,
            )
        )

    def token(self, user: str) -> str:
        key = self.conf["user_" + user.replace(":", "_")].split()[0]
        response = self.get_token(user, key)
        self.assertEqual(response.status, 200)
        return response.headers["X-Auth-Token"]

    def authenticated(
        self,
        method: str,
        path: str,
        user: Optional[str] = None,
        headers: Optional[dict[str, str]] = None,
        service_user: Optional[str] = None,
    ) -> SwiftRequest:
        """
        Pass a request through the filter and return it as the application
        got it.
        """
        all_headers = dict(headers or {})
        if user is not None:
            all_headers["X-Auth-Token"] = self.token(user)
        if service_user is not None:
            all_headers["X-Service-Token"] = self.token(service_user)
        request = self.request(method, path, all_headers)
        self.assertEqual(self.call(request).status, 200)
        self.assertIs(self.app.requests[-1], request)
        return request

    def authorize(
        self,
        method: str,
        path: str,
        user: Optional[str] = None,
        headers: Optional[dict[str, str]] = None,
        acl: Optional[str] = None,
        account_acl: Optional[str] = None,
        service_user: Optional[str] = None,
    ) -> tuple[Optional[int], bool]:
        """
        Authenticate a request, set what a controller sets, and call its
        C{swift.authorize}.

        @return: the refusal's status (C{None} when allowed) and whether
            the request became the owner's.
        """
        request = self.authenticated(method, path, user, headers, service_user)
        request.acl = acl  # type: ignore[attr-defined]
        if account_acl is not None:
            request.environ[ACCOUNT_ACL_ENVIRON_KEY] = account_acl
        response = request.environ["swift.authorize"](request)
        status = None if response is None else response.status
        return status, bool(request.environ.get("swift_owner"))


class PluginTests(_TempAuthTestCase):
    """
    The plugin object and the filter it makes.
    """

    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(IPlugin, tempauthPlugin))
        self.assertTrue(verifyObject(IProxyPluginFactory, tempauthPlugin))
        self.assertEqual(tempauthPlugin.name, "tempauth")
        self.assertTrue(verifyObject(IProxyFilter, self.auth))

    def test_registersInfo(self) -> None:
        """
        Like Swift, tempauth announces account ACL support in C{/info}.
        """
        self.assertEqual(self.context.info, {"tempauth": {"account_acls": True}})


class ConfigTests(SynchronousTestCase):
    """
    Reading the configuration.
    """

    def make(self, **conf: str) -> TempAuth:
        clock = Clock()
        return TempAuth(conf, clock, MemoryInfoStore(clock))

    def test_defaults(self) -> None:
        auth = self.make()
        self.assertEqual(auth.reseller_prefixes, ["AUTH_"])
        self.assertEqual(auth.reseller_prefix, "AUTH_")
        self.assertEqual(auth.auth_prefix, "/auth/")
        self.assertEqual(auth.token_life, 86400)
        self.assertTrue(auth.allow_overrides)
        self.assertEqual(auth.storage_url_scheme, "default")
        self.assertEqual(auth.users, {})

    def test_resellerPrefixes(self) -> None:
        """
        Prefixes get an underscore, C{''} is the empty prefix, duplicates
        and empty items go.
        """
        auth = self.make(reseller_prefix=" AUTH, SERVICE_,, AUTH_, '' ")
        self.assertEqual(auth.reseller_prefixes, ["AUTH_", "SERVICE_", ""])
        self.assertEqual(self.make(reseller_prefix=" , ").reseller_prefixes, [""])

    def test_authPrefix(self) -> None:
        self.assertEqual(self.make(auth_prefix="foo").auth_prefix, "/foo/")
        self.assertEqual(self.make(auth_prefix="/foo").auth_prefix, "/foo/")
        self.assertEqual(self.make(auth_prefix="//").auth_prefix, "/auth/")
        self.assertEqual(self.make(auth_prefix="").auth_prefix, "/auth/")

    def test_requireGroup(self) -> None:
        """
        C{require_group} applies to every prefix unless the prefix has its
        own, spelled with the prefix's case.
        """
        auth = self.make(
            reseller_prefix="AUTH, SERVICE, OTHER",
            require_group="everyone",
            SERVICE_require_group="service",
            other_require_group="ignored",
        )
        self.assertEqual(
            auth.require_groups,
            {"AUTH_": "everyone", "SERVICE_": "service", "OTHER_": "everyone"},
        )

    def test_users(self) -> None:
        auth = self.make(
            reseller_prefix="AUTH, SERVICE",
            user_test_tester="testing .admin a b",
            user_test_other="x http://example.com/v1/AUTH_elsewhere",
            user_test_host="x .admin $HOST/v1/KEY_test",
            user64_dW5kZXJfc2NvcmU_YV9i="testing4",
        )
        self.assertEqual(
            {name: (u.key, u.url, u.groups) for name, u in auth.users.items()},
            {
                "test:tester": ("testing", "$HOST/v1/AUTH_test", (".admin", "a", "b")),
                "test:other": ("x", "http://example.com/v1/AUTH_elsewhere", ()),
                "test:host": ("x", "$HOST/v1/KEY_test", (".admin",)),
                "under_score:a_b": ("testing4", "$HOST/v1/AUTH_under_score", ()),
            },
        )

    def test_badUsers(self) -> None:
        self.assertRaises(ValueError, self.make, user_a_b_c="key")
        self.assertRaises(ValueError, self.make, user_ab="key")
        self.assertRaises(ValueError, self.make, user_a_b="  ")

    def test_badTokenLife(self) -> None:
        self.assertRaises(ValueError, self.make, token_life="soon")

    def test_configError(self) -> None:
        """
        The plugin reports a bad option as a L{ConfigError}.
        """
        error = self.assertRaises(
            ConfigError, tempauthPlugin.make_filter, {"user_a_b": ""}, _Context()
        )
        self.assertEqual(str(error), "tempauth: user_a_b has no key set")


_TOKEN = re.compile(r"\AAUTH_tk[0-9a-f]{32}\Z")
_UNAUTHORIZED_BODY = (
    b"<html><h1>Unauthorized</h1><p>This server could not verify that you "
    b"are authorized to access the document you requested.</p></html>"
)


class GetTokenTests(_TempAuthTestCase):
    """
    Handing out tokens at C{/auth/}.
    """

    def test_token(self) -> None:
        response = self.get_token("test:tester", "testing")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.body, b"")
        token = response.headers["X-Auth-Token"]
        self.assertRegex(token, _TOKEN)
        self.assertEqual(response.headers["X-Storage-Token"], token)
        self.assertEqual(response.headers["X-Auth-Token-Expires"], "86400")
        self.assertEqual(
            response.headers["X-Storage-Url"],
            "http://proxy.example.com:8080/v1/AUTH_test",
        )
        self.assertEqual(self.app.requests, [])

    def test_storageHeaders(self) -> None:
        """
        C{X-Storage-User} and C{X-Storage-Pass} stand in for the C{X-Auth-}
        headers, at C{/auth/v1.0} and C{/auth/auth}.
        """
        for path in ("/auth/v1.0", "/auth/auth", "/auth/v1.0/"):
            response = self.call(
                self.request(
                    "GET",
                    path,
                    {"X-Storage-User": "test:tester", "X-Storage-Pass": "testing"},
                )
            )
            self.assertEqual(response.status, 200, path)

    def test_oddPaths(self) -> None:
        """
        As in Swift, a token path with an empty segment before its last is
        not found, whatever the credentials.
        """
        for path in ("/auth/v1.0//x", "/auth/v1.0/a//x", "/auth/v1//auth",
                     "/auth/v1/test//", "/auth//v1.0", "/auth/auth//"):
            response = self.call(self.request("GET", path, {
                "X-Auth-User": "test:tester", "X-Auth-Key": "testing",
                "X-Storage-User": "tester", "X-Storage-Pass": "testing"}))
            self.assertEqual(response.status, 404, path)

    def test_v1Path(self) -> None:
        """
        C{/auth/v1/<account>/auth} takes the account from the path; an
        C{X-Auth-User} must name the same one.
        """
        response = self.call(
            self.request(
                "GET",
                "/auth/v1/test/auth",
                {"X-Storage-User": "tester", "X-Storage-Pass": "testing"},
            )
        )
        self.assertEqual(response.status, 200)
        response = self.call(
            self.request(
                "GET",
                "/auth/v1/test/auth",
                {"X-Auth-User": "test:tester", "X-Auth-Key": "testing"},
            )
        )
        self.assertEqual(response.status, 200)
        response = self.call(
            self.request(
                "GET",
                "/auth/v1/test2/auth",
                {"X-Auth-User": "test:tester", "X-Auth-Key": "testing"},
            )
        )
        self.assertEqual(response.status, 401)
        self.assertEqual(response.headers["Www-Authenticate"], 'Swift realm="test2"')

    def test_badKey(self) -> None:
        response = self.get_token("test:tester", "wrong")
        self.assertEqual(response.status, 401)
        self.assertEqual(response.headers["Www-Authenticate"], 'Swift realm="test"')
        self.assertEqual(response.body, _UNAUTHORIZED_BODY)

    def test_unknownUser(self) -> None:
        response = self.get_token("test:nobody", "testing")
        self.assertEqual(response.status, 401)
        self.assertEqual(response.headers["Www-Authenticate"], 'Swift realm="test"')

    def test_missingCredentials(self) -> None:
        """
        A user that names no account, or no key, gets a 401.
        """
        for headers, realm in [
            ({}, "unknown"),
            ({"X-Auth-User": "tester", "X-Auth-Key": "testing"}, "unknown"),
            ({"X-Auth-User": ":tester", "X-Auth-Key": "testing"}, "unknown"),
            ({"X-Auth-User": "test:", "X-Auth-Key": "testing"}, "test"),
            ({"X-Auth-User": "test:tester"}, "test"),
        ]:
            response = self.call(self.request("GET", "/auth/v1.0", headers))
            self.assertEqual(response.status, 401, headers)
            self.assertEqual(
                response.headers["Www-Authenticate"], f'Swift realm="{realm}"'
            )

    def test_badRequests(self) -> None:
        """
        Only GET is answered; an unknown version is a 400 and a path
        without one a 404.
        """
        credentials = {"X-Auth-User": "test:tester", "X-Auth-Key": "testing"}
        for method, path, status in [
            ("POST", "/auth/v1.0", 405),
            ("HEAD", "/auth/v1.0", 405),
            ("GET", "/auth/", 404),
            ("GET", "/auth//v1.0", 404),
            ("GET", "/auth/v2", 400),
            ("GET", "/auth/v1", 400),
            ("GET", "/auth/v1/test/auth/more", 400),
        ]:
            response = self.call(self.request(method, path, credentials))
            self.assertEqual(response.status, status, (method, path))
        self.assertEqual(self.app.requests, [])

    def test_reuse(self) -> None:
        """
        A user asking again gets the same token, with less time left.
        """
        first = self.get_token("test:tester", "testing")
        self.clock.advance(1000)
        second = self.get_token("test:tester", "testing")
        self.assertEqual(
            second.headers["X-Auth-Token"], first.headers["X-Auth-Token"]
        )
        self.assertEqual(second.headers["X-Auth-Token-Expires"], "85400")

    def test_expiry(self) -> None:
        """
        An expired token stops working and the user gets a new one.
        """
        old = self.token("test:tester")
        self.clock.advance(86400)
        request = self.request("GET", "/v1/AUTH_test", {"X-Auth-Token": old})
        self.assertEqual(self.call(request).status, 401)
        self.assertEqual(self.app.requests, [])
        new = self.token("test:tester")
        self.assertNotEqual(new, old)
        self.authenticated("GET", "/v1/AUTH_test", headers={"X-Auth-Token": new})

    def test_newGroups(self) -> None:
        """
        A token whose groups no longer match the configuration is not handed
        out again.
        """
        old = self.token("test:tester")
        self.auth = tempauthPlugin.make_filter(
            dict(self.conf, user_test_tester="testing .admin extra"), partial_context(self.context)
        )
        new = self.token("test:tester")
        self.assertNotEqual(new, old)
        request = self.authenticated("GET", "/v1/AUTH_test", "test:tester")
        self.assertIn("extra", request.environ["REMOTE_USER"].split(","))

    def test_otherUserOtherToken(self) -> None:
        self.assertNotEqual(self.token("test:tester"), self.token("test:tester3"))

    def test_storageURL(self) -> None:
        """
        The storage URL follows the request's scheme and Host header,
        dropping a default port, unless C{storage_url_scheme} says otherwise
        or the user's line gives one.
        """
        https = self.call(
            self.request(
                "GET",
                "/auth/v1.0",
                {"X-Auth-User": "test:tester", "X-Auth-Key": "testing",
                 "Host": "secure.example.com:443"},
                {"wsgi.url_scheme": "https"},
            )
        )
        self.assertEqual(
            https.headers["X-Storage-Url"], "https://secure.example.com/v1/AUTH_test"
        )
        noHost = self.request(
            "GET",
            "/auth/v1.0",
            {"X-Auth-User": "test:tester", "X-Auth-Key": "testing"},
            {"SERVER_NAME": "10.0.0.1", "SERVER_PORT": "80"},
        )
        del noHost.headers["Host"]
        self.assertEqual(
            self.call(noHost).headers["X-Storage-Url"], "http://10.0.0.1/v1/AUTH_test"
        )

        self.auth = tempauthPlugin.make_filter(
            dict(
                self.conf,
                storage_url_scheme="https",
                user_test_tester="testing .admin $HOST/v1/AUTH_moved",
                user_test2_tester2="testing2 .admin http://elsewhere:81/v1/AUTH_x",
            ),
            partial_context(self.context),
        )
        self.assertEqual(
            self.get_token("test:tester", "testing").headers["X-Storage-Url"],
            "https://proxy.example.com:8080/v1/AUTH_moved",
        )
        self.assertEqual(
            self.get_token("test2:tester2", "testing2").headers["X-Storage-Url"],
            "https://elsewhere:81/v1/AUTH_x",
        )

    def test_customURLAccountIsOwned(self) -> None:
        """
        An C{.admin} whose storage URL names another account owns that
        account too.
        """
        self.conf = dict(FUNCTIONAL_CONF, user_test_tester="testing .admin $HOST/v1/AUTH_moved")
        self.auth = tempauthPlugin.make_filter(self.conf, partial_context(self.context))
        self.assertEqual(
            self.authorize("POST", "/v1/AUTH_moved", "test:tester"), (None, True)
        )

    def test_besideAuthPrefix(self) -> None:
        """
        Paths beside the auth prefix are not token requests.
        """
        request = self.request("GET", "/authx/v1.0")
        self.assertEqual(self.call(request).status, 200)
        self.assertEqual(self.app.requests, [request])


class _BrokenStore:
    """
    An info store that breaks its contract by failing.
    """

    def get(self, key: str) -> "Deferred[Any]":
        return fail(RuntimeError("store is down"))

    def set(self, key: str, value: Any, ttl: float) -> "Deferred[None]":
        return fail(RuntimeError("store is down"))


class BrokenStoreTests(SynchronousTestCase):
    """
    A token request that fails unexpectedly gets Swift's 500.
    """

    def test_getToken(self) -> None:
        auth = TempAuth({"user_test_tester": "testing"}, Clock(), _BrokenStore())
        request = SwiftRequest(
            "GET",
            b"/auth/v1.0",
            HeaderDict({"X-Auth-User": "test:tester", "X-Auth-Key": "testing"}),
        )
        response = self.successResultOf(auth(request, _App()))
        self.assertEqual(response.status, 500)
        self.assertEqual(response.body, b"Internal server error.\n")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class AuthenticateTests(_TempAuthTestCase):
    """
    Turning a request's token into its groups.
    """

    def test_groups(self) -> None:
        """
        An C{.admin}'s groups name its account under every prefix.
        """
        request = self.authenticated("GET", "/v1/AUTH_test/c", "test:tester")
        environ = request.environ
        self.assertEqual(
            environ["REMOTE_USER"], "test,test:tester,AUTH_test,SERVICE_test"
        )
        self.assertEqual(environ["swift.authorize"], self.auth.authorize)
        self.assertIs(environ["swift.clean_acl"], clean_acl)
        self.assertEqual(environ["swift.access_logging"], {"user_id": "test:tester"})
        self.assertNotIn("reseller_request", environ)

    def test_plainUser(self) -> None:
        request = self.authenticated("GET", "/v1/AUTH_test/c", "test:tester3")
        self.assertEqual(request.environ["REMOTE_USER"], "test,test:tester3")

    def test_resellerAdmin(self) -> None:
        request = self.authenticated("GET", "/v1/AUTH_test", "admin:admin")
        self.assertEqual(
            request.environ["REMOTE_USER"],
            "admin,admin:admin,.reseller_admin,AUTH_admin,SERVICE_admin",
        )
        self.assertIs(request.environ["reseller_request"], True)

    def test_storageToken(self) -> None:
        request = self.request(
            "GET", "/v1/AUTH_test", {"X-Storage-Token": self.token("test:tester")}
        )
        self.call(request)
        self.assertEqual(
            request.environ["REMOTE_USER"], "test,test:tester,AUTH_test,SERVICE_test"
        )

    def test_knownTokenAtOnce(self) -> None:
        """
        A request with a token this process knows is passed on at once:
        what comes back is the application's own L{Deferred}. With a
        service token too, it still gets both tokens' groups.
        """
        token = self.token("test:tester")
        self.call(self.request("GET", "/v1/AUTH_test", {"X-Auth-Token": token}))
        pending: Deferred[SwiftResponse] = Deferred()
        request = self.request("GET", "/v1/AUTH_test", {"X-Auth-Token": token})
        self.assertIs(self.auth(request, lambda _: pending), pending)
        self.assertEqual(
            request.environ["REMOTE_USER"], "test,test:tester,AUTH_test,SERVICE_test")
        both = self.authenticated("GET", "/v1/AUTH_test", "test:tester",
                                  service_user="test5:tester5")
        self.assertEqual(both.environ["REMOTE_USER"],
                         "test,test:tester,AUTH_test,SERVICE_test,test5,test5:tester5,service")

    def test_badToken(self) -> None:
        """
        A token with this prefix that is not live is refused at once, the
        realm naming the account.
        """
        for token, path, realm in [
            ("AUTH_tkbad", "/v1/AUTH_test/c/o", "AUTH_test"),
            ("AUTH_other", "/v1/AUTH_test", "AUTH_test"),
            ("AUTH_tkbad", "/info", "unknown"),
        ]:
            response = self.call(self.request("HEAD", path, {"X-Auth-Token": token}))
            self.assertEqual(response.status, 401)
            self.assertEqual(
                response.headers["Www-Authenticate"], f'Swift realm="{realm}"'
            )
            self.assertEqual(response.body, b"")
        self.assertEqual(self.app.requests, [])

    def test_foreignToken(self) -> None:
        """
        A token without this prefix is some other auth system's: the
        request goes on as an anonymous one.
        """
        request = self.authenticated(
            "GET", "/v1/AUTH_test", headers={"X-Auth-Token": "KEY_abc"}
        )
        self.assertNotIn("REMOTE_USER", request.environ)
        self.assertEqual(request.environ["swift.authorize"], self.auth.authorize)

    def test_anonymous(self) -> None:
        """
        Anonymous requests for our accounts get C{authorize}, so that ACLs
        may still let them in; others get a refusal unless another auth
        system has installed its own.
        """
        ours = self.authenticated("GET", "/v1/SERVICE_x/c/o")
        self.assertEqual(ours.environ["swift.authorize"], self.auth.authorize)
        self.assertIs(ours.environ["swift.clean_acl"], clean_acl)

        theirs = self.authenticated("GET", "/v1/KEY_x/c/o")
        self.assertEqual(theirs.environ["swift.authorize"], self.auth.denied_response)
        self.assertNotIn("swift.clean_acl", theirs.environ)
        self.assertEqual(theirs.environ["swift.authorize"](theirs).status, 401)

        def other(request: SwiftRequest) -> None:
            return None

        request = self.request("GET", "/v1/KEY_x", environ={"swift.authorize": other})
        self.call(request)
        self.assertIs(request.environ["swift.authorize"], other)

    def test_override(self) -> None:
        """
        With C{allow_overrides} (the default), C{swift.authorize_override}
        makes the filter step aside; without it, it does not.
        """
        request = self.request(
            "GET",
            "/v1/AUTH_test",
            {"X-Auth-Token": "AUTH_tkbad"},
            {"swift.authorize_override": True},
        )
        self.assertEqual(self.call(request).status, 200)
        self.assertNotIn("swift.authorize", request.environ)

        self.auth = tempauthPlugin.make_filter(
            dict(self.conf, allow_overrides="false"), partial_context(self.context)
        )
        request = self.request(
            "GET",
            "/v1/AUTH_test",
            {"X-Auth-Token": "AUTH_tkbad"},
            {"swift.authorize_override": True},
        )
        self.assertEqual(self.call(request).status, 401)


class EmptyPrefixTests(_TempAuthTestCase):
    """
    With the empty reseller prefix, tempauth is only a fallback.
    """

    conf = {"reseller_prefix": "''", "user_test_tester": "testing .admin"}

    def test_token(self) -> None:
        token = self.token("test:tester")
        self.assertRegex(token, r"\Atk[0-9a-f]{32}\Z")
        self.assertEqual(
            self.get_token("test:tester", "testing").headers["X-Storage-Url"],
            "http://proxy.example.com:8080/v1/test",
        )
        self.assertEqual(self.authorize("GET", "/v1/test", "test:tester"), (None, True))

    def test_unknownTokenPassesOn(self) -> None:
        """
        A token this filter does not know may be another auth system's.
        """
        request = self.authenticated(
            "GET", "/v1/test", headers={"X-Auth-Token": "whatever"}
        )
        self.assertEqual(request.environ["swift.authorize"], self.auth.denied_response)

    def test_anonymousFallback(self) -> None:
        request = self.authenticated("GET", "/v1/test/c/o")
        self.assertEqual(request.environ["swift.authorize"], self.auth.authorize)


class OwnerTests(_TempAuthTestCase):
    """
    Owners, resellers and everybody else, without ACLs.
    """

    def test_admin(self) -> None:
        """
        An C{.admin} owns its account and may do anything in it but create
        or delete the account itself.
        """
        for method in ("GET", "HEAD", "POST"):
            self.assertEqual(
                self.authorize(method, "/v1/AUTH_test", "test:tester"), (None, True)
            )
        for method in ("PUT", "DELETE"):
            self.assertEqual(
                self.authorize(method, "/v1/AUTH_test", "test:tester"), (403, False)
            )
        for path in ("/v1/AUTH_test/c", "/v1/AUTH_test/c/o"):
            for method in ("GET", "HEAD", "PUT", "POST", "DELETE"):
                self.assertEqual(
                    self.authorize(method, path, "test:tester"), (None, True)
                )

    def test_otherAccount(self) -> None:
        for path in ("/v1/AUTH_test2", "/v1/AUTH_test2/c", "/v1/AUTH_test2/c/o"):
            self.assertEqual(self.authorize("GET", path, "test:tester"), (403, False))

    def test_plainUser(self) -> None:
        """
        A user without C{.admin} owns nothing.
        """
        for path in ("/v1/AUTH_test", "/v1/AUTH_test/c", "/v1/AUTH_test/c/o"):
            self.assertEqual(self.authorize("GET", path, "test:tester3"), (403, False))

    def test_resellerAdmin(self) -> None:
        for path in ("/v1/AUTH_test", "/v1/SERVICE_test/c", "/v1/AUTH_x/c/o"):
            for method in ("GET", "PUT", "POST", "DELETE"):
                self.assertEqual(
                    self.authorize(method, path, "admin:admin"), (None, True)
                )

    def test_resellerAdminLimits(self) -> None:
        """
        Not even a reseller admin may touch the bare prefix or an account
        whose name starts with a dot.
        """
        self.assertEqual(self.authorize("GET", "/v1/AUTH_", "admin:admin"), (403, False))
        self.assertEqual(
            self.authorize("GET", "/v1/AUTH_.hidden/c", "admin:admin"), (403, False)
        )

    def test_resellerReader(self) -> None:
        for method in ("GET", "HEAD"):
            self.assertEqual(
                self.authorize(method, "/v1/AUTH_test/c", "reader:reader"),
                (None, False),
            )
        for method in ("PUT", "POST", "DELETE"):
            self.assertEqual(
                self.authorize(method, "/v1/AUTH_test/c", "reader:reader"),
                (403, False),
            )

    def test_anonymous(self) -> None:
        request = self.authenticated("GET", "/v1/AUTH_test/c/o")
        response = request.environ["swift.authorize"](request)
        self.assertEqual(response.status, 401)
        self.assertEqual(response.headers["Www-Authenticate"], 'Swift realm="AUTH_test"')
        self.assertNotIn("swift_owner", request.environ)

    def test_options(self) -> None:
        """
        OPTIONS is always allowed, for CORS preflight.
        """
        self.assertEqual(self.authorize("OPTIONS", "/v1/AUTH_test/c/o"), (None, False))
        self.assertEqual(
            self.authorize("OPTIONS", "/v1/AUTH_test2/c", "test:tester3"), (None, False)
        )

    def test_foreignAccount(self) -> None:
        """
        An account under no prefix of ours is refused even to its namesake.
        """
        self.assertEqual(self.authorize("GET", "/v1/KEY_test", "test:tester"), (403, False))

    def test_badPath(self) -> None:
        self.assertEqual(self.authorize("GET", "/v1//c", "test:tester"), (404, False))
        self.assertEqual(self.authorize("GET", "/v1", "test:tester"), (403, False))
        self.assertEqual(self.authorize("GET", "/v1/AUTH_test//o", "test:tester"),
                         (404, False))
        self.assertEqual(self.authorize("GET", "/v1/AUTH_test/c//", "test:tester"),
                         (None, True))

    def test_syncKey(self) -> None:
        """
        A request bearing the container's sync key and a timestamp is
        allowed.
        """
        request = self.authenticated(
            "PUT",
            "/v1/AUTH_test/c/o",
            headers={"X-Container-Sync-Key": "secret", "X-Timestamp": "1.0"},
        )
        request.environ["swift_sync_key"] = "secret"
        self.assertIsNone(request.environ["swift.authorize"](request))
        request.headers["X-Container-Sync-Key"] = "wrong"
        self.assertEqual(request.environ["swift.authorize"](request).status, 401)


class ServiceTokenTests(_TempAuthTestCase):
    """
    C{SERVICE_} accounts need the user's token and a service token carrying
    the C{service} group.
    """

    paths = ("/v1/SERVICE_test", "/v1/SERVICE_test/c", "/v1/SERVICE_test/c/o")

    def test_userAlone(self) -> None:
        for path in self.paths:
            self.assertEqual(self.authorize("GET", path, "test:tester"), (403, False))

    def test_serviceAlone(self) -> None:
        for path in self.paths:
            self.assertEqual(
                self.authorize("GET", path, "test5:tester5", service_user="test5:tester5"),
                (403, False),
            )

    def test_both(self) -> None:
        for path in self.paths:
            self.assertEqual(
                self.authorize(
                    "POST", path, "test:tester", service_user="test5:tester5"
                ),
                (None, True),
            )
        request = self.authenticated(
            "GET", "/v1/SERVICE_test", "test:tester", service_user="test5:tester5"
        )
        self.assertEqual(
            request.environ["REMOTE_USER"],
            "test,test:tester,AUTH_test,SERVICE_test,test5,test5:tester5,service",
        )
        self.assertEqual(request.environ["swift.access_logging"]["user_id"], "test:tester")

    def test_userAccountUnaffected(self) -> None:
        """
        A service token does no harm on the user's own account.
        """
        self.assertEqual(
            self.authorize("GET", "/v1/AUTH_test", "test:tester", service_user="test5:tester5"),
            (None, True),
        )

    def test_badServiceToken(self) -> None:
        """
        A service token that is not live adds nothing.
        """
        request = self.authenticated(
            "GET",
            "/v1/SERVICE_test",
            "test:tester",
            headers={"X-Service-Token": "AUTH_tkbad"},
        )
        self.assertEqual(
            request.environ["REMOTE_USER"], "test,test:tester,AUTH_test,SERVICE_test"
        )
        self.assertEqual(request.environ["swift.authorize"](request).status, 403)


class ContainerACLTests(_TempAuthTestCase):
    """
    Container ACLs, which controllers put in C{request.acl}.
    """

    def test_anyReferrerObjects(self) -> None:
        """
        C{.r:*} lets anyone read objects, but not list the container.
        """
        self.assertEqual(
            self.authorize("GET", "/v1/AUTH_test/c/o", acl=".r:*"), (None, False)
        )
        self.assertEqual(
            self.authorize("GET", "/v1/AUTH_test/c/o", "test2:tester2", acl=".r:*"),
            (None, False),
        )
        self.assertEqual(self.authorize("GET", "/v1/AUTH_test/c", acl=".r:*"), (401, False))
        self.assertEqual(
            self.authorize("GET", "/v1/AUTH_test/c", "test2:tester2", acl=".r:*"),
            (403, False),
        )

    def test_listings(self) -> None:
        self.assertEqual(
            self.authorize("GET", "/v1/AUTH_test/c", acl=".r:*,.rlistings"),
            (None, False),
        )
        # .rlistings without a referrer grant lets nobody in.
        self.assertEqual(
            self.authorize("GET", "/v1/AUTH_test/c", acl=".rlistings"), (401, False)
        )

    def test_referrerHosts(self) -> None:
        acl = ".r:.example.com,.r:-bad.example.com"
        for referrer, status in [
            ("http://www.example.com/page", None),
            ("http://bad.example.com/page", 401),
            ("http://elsewhere.com/", 401),
            (None, 401),
        ]:
            headers = {"Referer": referrer} if referrer else {}
            self.assertEqual(
                self.authorize("GET", "/v1/AUTH_test/c/o", headers=headers, acl=acl),
                (status, False),
                referrer,
            )

    def test_groups(self) -> None:
        """
        A user named in the ACL, or whose account is, is let in.
        """
        for user, acl in [
            ("test:tester3", "test:tester3"),
            ("test:tester3", "x,test"),
            ("test2:tester2", "AUTH_test2"),
            ("test2:tester2", "a%3Ab,test2:tester2"),
        ]:
            self.assertEqual(
                self.authorize("PUT", "/v1/AUTH_test/c/o", user, acl=acl),
                (None, False),
                acl,
            )
        self.assertEqual(
            self.authorize("PUT", "/v1/AUTH_test/c/o", "test:tester3", acl="test2"),
            (403, False),
        )

    def test_containerGroups(self) -> None:
        """
        A group grant covers container listings too.
        """
        self.assertEqual(
            self.authorize("GET", "/v1/AUTH_test/c", "test:tester3", acl="test:tester3"),
            (None, False),
        )


class AccountACLTests(_TempAuthTestCase):
    """
    Account ACLs, which controllers put in C{environ['tempauth.account_acl']}.
    """

    def test_readOnly(self) -> None:
        acl = '{"read-only":["test:tester3"]}'
        for method, path, status in [
            ("GET", "/v1/AUTH_test", None),
            ("HEAD", "/v1/AUTH_test/c", None),
            ("GET", "/v1/AUTH_test/c/o", None),
            ("POST", "/v1/AUTH_test", 403),
            ("PUT", "/v1/AUTH_test/c", 403),
            ("DELETE", "/v1/AUTH_test/c/o", 403),
        ]:
            self.assertEqual(
                self.authorize(method, path, "test:tester3", account_acl=acl),
                (status, False),
                (method, path),
            )

    def test_readWrite(self) -> None:
        acl = '{"read-write":["test:tester3"]}'
        for method, path, status in [
            ("GET", "/v1/AUTH_test", None),
            ("POST", "/v1/AUTH_test", 403),
            ("PUT", "/v1/AUTH_test/c", None),
            ("DELETE", "/v1/AUTH_test/c/o", None),
            ("POST", "/v1/AUTH_test/c/o", None),
        ]:
            self.assertEqual(
                self.authorize(method, path, "test:tester3", account_acl=acl),
                (status, False),
                (method, path),
            )

    def test_admin(self) -> None:
        """
        An account ACL admin is an owner, even of the account itself.
        """
        acl = '{"admin":["test2"]}'
        for method in ("GET", "POST", "PUT", "DELETE"):
            self.assertEqual(
                self.authorize(method, "/v1/AUTH_test", "test2:tester2", account_acl=acl),
                (None, True),
            )

    def test_nothingGranted(self) -> None:
        for acl in ("{}", "garbage", '{"read-only":["someone"]}'):
            self.assertEqual(
                self.authorize("GET", "/v1/AUTH_test", "test:tester3", account_acl=acl),
                (403, False),
            )

    def test_anonymous(self) -> None:
        self.assertEqual(
            self.authorize("GET", "/v1/AUTH_test", account_acl='{"read-only":["test"]}'),
            (401, False),
        )


class AccountACLHeaderTests(_TempAuthTestCase):
    """
    An C{X-Account-Access-Control} a client sends.
    """

    def test_invalid(self) -> None:
        """
        An ACL tempauth cannot accept is a 400 with Swift's message,
        whoever sends it.
        """
        for user in ("test:tester", "test:tester3", None):
            request = self.authenticated(
                "POST",
                "/v1/AUTH_test",
                user,
                headers={"X-Account-Access-Control": '{"admin":"x"}'},
            )
            response = request.environ["swift.authorize"](request)
            self.assertEqual(response.status, 400)
            self.assertEqual(
                response.headers["Content-Type"], "text/plain; charset=UTF-8"
            )
            self.assertEqual(
                response.body,
                b'X-Account-Access-Control invalid: Value for key "admin" must be '
                b'a list\n\nInput: {"admin":"x"}\n',
            )

    def test_validMovesToSysmeta(self) -> None:
        acl = '{"read-only":["test:tester3"]}'
        request = self.authenticated(
            "POST", "/v1/AUTH_test", "test:tester",
            headers={"X-Account-Access-Control": acl},
        )
        self.assertIsNone(request.environ["swift.authorize"](request))
        self.assertNotIn("X-Account-Access-Control", request.headers)
        self.assertEqual(
            request.headers["X-Account-Sysmeta-Core-Access-Control"], acl
        )
        self.assertIs(request.environ["swift_owner"], True)

    def test_nonOwner(self) -> None:
        self.assertEqual(
            self.authorize(
                "POST", "/v1/AUTH_test", "test:tester3",
                headers={"X-Account-Access-Control": "{}"},
            ),
            (403, False),
        )

    def test_foreignAccount(self) -> None:
        """
        Another auth system's account is refused before the ACL is looked
        at.
        """
        self.assertEqual(
            self.authorize(
                "POST", "/v1/KEY_test", "test:tester",
                headers={"X-Account-Access-Control": "bad"},
            ),
            (403, False),
        )


class KnownTokenTests(_TempAuthTestCase):
    """
    A process keeps the tokens it issued or validated until they expire.
    """

    def test_storeUnreachable(self) -> None:
        """
        A token this process knows still works while the store answers
        nothing (Redis down): no 401 for a known user.
        """
        token = self.token("test:tester")
        self.context.info_store._entries.clear()
        request = self.request("GET", "/v1/AUTH_test", {"X-Auth-Token": token})
        self.assertEqual(self.call(request).status, 200)

    def test_expiresLocallyToo(self) -> None:
        token = self.token("test:tester")
        self.clock.advance(86400)
        self.context.info_store._entries.clear()
        request = self.request("GET", "/v1/AUTH_test", {"X-Auth-Token": token})
        self.assertEqual(self.call(request).status, 401)


class _S3Details:
    """
    An S3 request's signature as s3api leaves it: valid for C{secret}.
    """

    def __init__(self, access_key: str, secret: str) -> None:
        self.access_key = access_key
        self.signature = "sig"
        self.string_to_sign = b"to sign"
        self.secret = secret
        self.checked: list[str] = []

    def check_signature(self, secret: str) -> bool:
        self.checked.append(secret)
        return secret == self.secret


class S3AuthTests(_TempAuthTestCase):
    """
    Requests the s3api plugin signed for (C{s3api.auth_details}), as
    Swift's tempauth handles them.
    """

    def s3(self, access_key: str, secret: str, path: str) -> SwiftRequest:
        from twisted_proxy.plugins.tempauth import S3_AUTH_DETAILS

        request = self.request("GET", path,
                               environ={S3_AUTH_DETAILS: _S3Details(access_key, secret)})
        self.assertEqual(self.call(request).status, 200)
        return request

    def test_signed(self) -> None:
        """
        A signature made with the user's key authenticates the user: the
        access key in the path becomes the account, and the user's groups
        are the request's.
        """
        request = self.s3("test:tester", "testing", "/v1/test:tester/bucket/obj")
        self.assertEqual(request.path, "/v1/AUTH_test/bucket/obj")
        self.assertEqual(request.raw_path, b"/v1/AUTH_test/bucket/obj")
        self.assertIn("AUTH_test", request.environ["REMOTE_USER"].split(","))
        self.assertIsNone(request.environ["swift.authorize"](request))
        self.assertTrue(request.environ.get("swift_owner"))

    def test_wrongSignature(self) -> None:
        """
        A signature that does not check leaves the request anonymous and
        refused (s3api answers C{SignatureDoesNotMatch}).
        """
        request = self.s3("test:tester", "wrong", "/v1/test:tester/bucket")
        self.assertNotIn("REMOTE_USER", request.environ)
        self.assertEqual(request.path, "/v1/test:tester/bucket")
        self.assertEqual(request.environ["swift.authorize"](request).status, 401)

    def test_unknownUser(self) -> None:
        """
        An access key naming no user is refused too.
        """
        request = self.s3("nobody:here", "testing", "/v1/nobody:here")
        self.assertNotIn("REMOTE_USER", request.environ)
