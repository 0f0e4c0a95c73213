"""
Tests for L{twisted_proxy.swift.syncrealms} (the realms file and the
signatures of container-sync requests) and
L{twisted_proxy.plugins.container_sync}.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogLevel, formatEvent, globalLogPublisher
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer, provider
from zope.interface.verify import verifyObject

from tests.doubles import partial_context
from tests.fakenodes import NodeRequest, Reply
from tests.test_expirer import NOW, _ProxyBase
from twisted_proxy.info.cache import INFO_ENVIRON_KEY, InfoCache, container_key
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins.container_sync import (
    REALMS_FILE,
    ContainerSync,
    RealmsFile,
    containerSyncPlugin,
)
from twisted_proxy.swift.constraints import Constraints, filter_inbound_headers
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse
from twisted_proxy.swift.syncrealms import (
    DEFAULT_MTIME_CHECK_INTERVAL,
    parse_current,
    parse_sync_realms,
    same_signature,
    sync_signature,
)

_REALMS = """\
[DEFAULT]
mtime_check_interval = 30

[US]
key = 9ff3b71c849749dbaec4ccdd3cbab62b
key2 = 1a0a5a0cbd66448084089304442d6776
cluster_dfw1 = http://dfw1.host/v1/

[UK]
key = e9569809dc8b4951accc1487aa788012
cluster_lon3 = http://lon3.host/v1/
cluster_lon4 = http://lon4.host/v1/

[empty]
key = nobody
"""


def _logs(test: SynchronousTestCase, level: LogLevel) -> list[str]:
    """
    The text of what is logged at C{level} while C{test} runs.
    """
    found: list[str] = []

    @provider(ILogObserver)
    def observer(event: dict[str, Any]) -> None:
        if event.get("log_level") is level:
            found.append(formatEvent(event))

    globalLogPublisher.addObserver(observer)
    test.addCleanup(globalLogPublisher.removeObserver, observer)
    return found


class ParseTests(SynchronousTestCase):
    """
    Reading C{container-sync-realms.conf}.
    """

    def test_realms(self) -> None:
        """
        Realms and clusters are case-insensitive; each realm has its keys
        and the endpoints of its clusters.
        """
        realms = parse_sync_realms(_REALMS)
        self.assertEqual(sorted(realms.realms), ["EMPTY", "UK", "US"])
        self.assertEqual(realms.key("us"), "9ff3b71c849749dbaec4ccdd3cbab62b")
        self.assertEqual(realms.key2("Us"), "1a0a5a0cbd66448084089304442d6776")
        self.assertIsNone(realms.key2("uk"))
        self.assertEqual(sorted(realms.clusters("uk")), ["LON3", "LON4"])
        self.assertEqual(realms.endpoint("uk", "Lon4"), "http://lon4.host/v1/")
        self.assertEqual(realms.mtime_check_interval, 30.0)

    def test_unknown(self) -> None:
        """
        An unknown realm has no keys, clusters or endpoints; an unknown
        cluster no endpoint.
        """
        realms = parse_sync_realms(_REALMS)
        self.assertIsNone(realms.key("nope"))
        self.assertIsNone(realms.key2("nope"))
        self.assertEqual(realms.clusters("nope"), [])
        self.assertIsNone(realms.endpoint("nope", "dfw1"))
        self.assertIsNone(realms.endpoint("us", "nope"))

    def test_defaults(self) -> None:
        """
        Without C{mtime_check_interval} the file is looked at every 300 s;
        a realm inherits C{[DEFAULT]}'s key.
        """
        realms = parse_sync_realms("[DEFAULT]\nkey = shared\n[r]\ncluster_c = http://c/v1/\n")
        self.assertEqual(realms.mtime_check_interval, DEFAULT_MTIME_CHECK_INTERVAL)
        self.assertEqual(realms.key("R"), "shared")

    def test_badInterval(self) -> None:
        """
        An interval that is no number is C{None}: the realms still count.
        """
        realms = parse_sync_realms("[DEFAULT]\nmtime_check_interval = soon\n[r]\nkey = k\n")
        self.assertIsNone(realms.mtime_check_interval)
        self.assertEqual(realms.key("r"), "k")

    def test_unreadable(self) -> None:
        """
        What C{configparser} cannot read is a C{ValueError}.
        """
        self.assertRaises(ValueError, parse_sync_realms, "key = no section\n")
        self.assertRaises(ValueError, parse_sync_realms, "[r]\nkey = %(nope)s\n")

    def test_info(self) -> None:
        """
        C{/info} lists realms with clusters, never keys, and marks the
        current cluster; a current cluster the realms lack is a
        C{KeyError}.
        """
        realms = parse_sync_realms(_REALMS)
        self.assertEqual(realms.info(), {
            "US": {"clusters": {"DFW1": {}}},
            "UK": {"clusters": {"LON3": {}, "LON4": {}}},
        })
        self.assertEqual(realms.info(("UK", "LON4"))["UK"],
                         {"clusters": {"LON3": {}, "LON4": {"current": True}}})
        self.assertRaises(KeyError, realms.info, ("UK", "DFW1"))
        self.assertRaises(KeyError, realms.info, ("EMPTY", "X"))

    def test_current(self) -> None:
        self.assertEqual(parse_current("//us/dfw1"), ("US", "DFW1"))
        self.assertEqual(parse_current("us/dfw1/"), ("US", "DFW1"))
        self.assertRaises(ValueError, parse_current, "//us")
        self.assertRaises(ValueError, parse_current, "//us/dfw1/extra")


class SignatureTests(SynchronousTestCase):
    """
    The signatures of container-sync requests, checked against values
    Swift 2.38.3's C{ContainerSyncRealms.get_sig} computed.
    """

    def test_swiftsSignature(self) -> None:
        self.assertEqual(
            sync_signature("PUT", "/v1/AUTH_test/dest/caf%C3%A9", "1700000000.12345",
                           "abcdef0123", "realmkey", "secret"),
            "408eabe1f4b821dfbbcbff39a021636cebb8b785")

    def test_nonAsciiKeys(self) -> None:
        """
        A nonce and keys beyond ASCII are signed as their UTF-8 bytes.
        """
        self.assertEqual(
            sync_signature("DELETE", "/v1/AUTH_test/dest/o", "0", "n\u00e9", "k\u00e9y",
                           "us\u00e9r"),
            "b42f1c187b380f20fb3c43eecb1aca254f0c7279")

    def test_nonAsciiTimestamp(self) -> None:
        self.assertRaises(UnicodeEncodeError, sync_signature, "PUT", "/p", "\u00e9", "n",
                          "k", "u")

    def test_same(self) -> None:
        self.assertTrue(same_signature("abc", "abc"))
        self.assertFalse(same_signature("abc", "abd"))
        self.assertFalse(same_signature("ab", "abc"))
        self.assertFalse(same_signature("\u00e9\u00e9", "ab"))


class RealmsFileTests(SynchronousTestCase):
    """
    L{RealmsFile} looks at the file again as Swift does.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.path = self.mktemp()
        self.mtime = 1_600_000_000

    def write(self, text: str) -> None:
        with open(self.path, "w") as handle:
            handle.write(text)
        self.mtime += 10
        os.utime(self.path, (self.mtime, self.mtime))

    def test_missing(self) -> None:
        """
        A missing file is no realms, and no error.
        """
        errors = _logs(self, LogLevel.error)
        debug = _logs(self, LogLevel.debug)
        realms = RealmsFile(self.path, self.clock)
        self.assertEqual(realms.realms.realms, {})
        self.assertEqual(errors, [])
        self.assertEqual(len(debug), 1)
        self.assertIn("Could not load", debug[0])

    def test_readAtOnce(self) -> None:
        self.write(_REALMS)
        self.assertEqual(RealmsFile(self.path, self.clock).realms.key("uk"),
                         "e9569809dc8b4951accc1487aa788012")

    def test_changesSeenAfterInterval(self) -> None:
        """
        A change is seen once the file's C{mtime_check_interval} has
        passed since the last look, not before.
        """
        self.write(_REALMS)
        realms = RealmsFile(self.path, self.clock)
        self.write("[DEFAULT]\nmtime_check_interval = 5\n[new]\nkey = k\n")
        self.clock.advance(29)
        self.assertEqual(realms.realms.key("new"), None)
        self.clock.advance(1)
        self.assertEqual(realms.realms.key("new"), "k")
        self.write("[newer]\nkey = k\n")
        self.clock.advance(5)
        self.assertEqual(realms.realms.key("newer"), "k")

    def test_sameMtimeNotReread(self) -> None:
        """
        A file whose mtime did not change is not read again.
        """
        self.write(_REALMS)
        realms = RealmsFile(self.path, self.clock)
        with open(self.path, "w") as handle:
            handle.write("[other]\nkey = k\n")
        os.utime(self.path, (self.mtime, self.mtime))
        self.clock.advance(30)
        self.assertIsNone(realms.realms.key("other"))
        realms.reload()
        self.assertEqual(realms.realms.key("other"), "k")

    def test_unreadableKeepsRealms(self) -> None:
        """
        A file that cannot be parsed leaves the realms read before, and is
        logged.
        """
        errors = _logs(self, LogLevel.error)
        self.write(_REALMS)
        realms = RealmsFile(self.path, self.clock)
        self.write("key = nowhere\n")
        self.clock.advance(30)
        self.assertEqual(realms.realms.clusters("us"), ["DFW1"])
        self.assertEqual(len(errors), 1)
        self.assertIn("Could not load", errors[0])

    def test_badIntervalKept(self) -> None:
        """
        An C{mtime_check_interval} that is no number is logged; the interval
        stays, the realms are taken.
        """
        errors = _logs(self, LogLevel.error)
        self.write(_REALMS)
        realms = RealmsFile(self.path, self.clock)
        self.write("[DEFAULT]\nmtime_check_interval = often\n[new]\nkey = k\n")
        self.clock.advance(30)
        self.assertEqual(realms.realms.key("new"), "k")
        self.assertEqual(len(errors), 1)
        self.assertIn("mtime_check_interval", errors[0])
        self.write("[newer]\nkey = k\n")
        self.clock.advance(29)
        self.assertIsNone(realms.realms.key("newer"))
        self.clock.advance(1)
        self.assertEqual(realms.realms.key("newer"), "k")

    def test_unreadableFile(self) -> None:
        """
        A realms path that cannot be looked at (here, below a file) is
        logged as an error.
        """
        errors = _logs(self, LogLevel.error)
        self.write(_REALMS)
        RealmsFile(os.path.join(self.path, "below"), self.clock)
        self.assertEqual(len(errors), 1)


class _Rings:
    def __init__(self, swift_dir: str) -> None:
        self.swift_dir = swift_dir


class _Context:
    def __init__(self, swift_dir: str) -> None:
        self.reactor = Clock()
        self.info_cache = InfoCache(MemoryInfoStore(self.reactor), 60, 60)
        self.info: dict[str, Any] = {}
        self.constraints = Constraints()
        self.rings = _Rings(swift_dir)

    def register_info(self, name: str, **info: Any) -> None:
        self.info.setdefault(name, {}).update(info)


@implementer(IProxyApplication)
class _App:
    """
    The rest of the pipeline: a container HEAD remembers the info set for
    it, as the controller does; anything else answers 201.
    """

    def __init__(self) -> None:
        self.calls: list[SwiftRequest] = []
        self.infos: dict[str, dict[str, Any]] = {}

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.calls.append(request)
        parts = request.path.split("/")
        if request.method == "HEAD" and len(parts) == 4:
            key = container_key(parts[2], parts[3])
            info = self.infos.get(key, {"status": 404, "meta": {}, "sysmeta": {}})
            request.environ.setdefault(INFO_ENVIRON_KEY, {})[key] = info
            return succeed(SwiftResponse(info["status"], {}, b""))
        return succeed(SwiftResponse(201, {}, b"passed"))


def _signed(method: str, path: str, timestamp: str, key: str = "e9569809dc8b4951accc1487aa788012",
            user_key: str = "secret", realm: str = "uk", nonce: str = "n0nce") -> str:
    return f"{realm} {nonce} {sync_signature(method, path, timestamp, nonce, key, user_key)}"


class ContainerSyncTests(SynchronousTestCase):
    """
    The C{container_sync} plugin in front of the rest of the pipeline.
    """

    def setUp(self) -> None:
        swift_dir = self.mktemp()
        os.mkdir(swift_dir)
        with open(os.path.join(swift_dir, REALMS_FILE), "w") as handle:
            handle.write(_REALMS)
        self.context = _Context(swift_dir)
        self.app = _App()
        self.app.infos[container_key("AUTH_test", "dest")] = {
            "status": 204, "sync_key": "secret", "meta": {}, "sysmeta": {}}

    def make(self, **conf: str) -> ContainerSync:
        made = containerSyncPlugin.make_filter(conf, partial_context(self.context))
        assert isinstance(made, ContainerSync)
        return made

    def call(self, method: str, path: str, headers: Optional[dict[str, str]] = None,
             plugin: Optional[ContainerSync] = None) -> SwiftResponse:
        """
        C{method} of C{path} with C{headers}, as they come from a client
        (past the front end's gatekeeper).
        """
        all_headers = HeaderDict(headers or {})
        filter_inbound_headers(all_headers)
        self.request = SwiftRequest(method, path.encode("ascii"), all_headers)
        return self.successResultOf((plugin or self.make())(self.request, self.app))

    def log_info(self) -> list[str]:
        return self.request.environ.get("swift.log_info", [])  # type: ignore[no-any-return]

    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(IPlugin, containerSyncPlugin))
        self.assertTrue(verifyObject(IProxyPluginFactory, containerSyncPlugin))
        self.assertTrue(verifyObject(IProxyFilter, self.make()))

    # -- /info ---------------------------------------------------------------

    def test_info(self) -> None:
        self.make(current="//UK/lon3")
        self.assertEqual(self.context.info["container_sync"], {"realms": {
            "US": {"clusters": {"DFW1": {}}},
            "UK": {"clusters": {"LON3": {"current": True}, "LON4": {}}},
        }})

    def test_infoUnknownCurrent(self) -> None:
        """
        A C{current} cluster the realms do not have is logged, and not
        shown; one that is no C{//REALM/CLUSTER} too.
        """
        errors = _logs(self, LogLevel.error)
        self.make(current="//uk/dfw1")
        self.assertEqual(self.context.info["container_sync"]["realms"]["UK"],
                         {"clusters": {"LON3": {}, "LON4": {}}})
        self.assertEqual(errors, ["Unknown current //REALM/CLUSTER (//UK/DFW1)"])
        self.make(current="//uk")
        self.assertEqual(errors[1], "Invalid current //REALM/CLUSTER (//uk)")

    def test_infoFresh(self) -> None:
        """
        A C{GET /info} shows the realms file as it is now.
        """
        plugin = self.make()
        path = os.path.join(self.context.rings.swift_dir, REALMS_FILE)
        with open(path, "w") as handle:
            handle.write("[new]\nkey = k\ncluster_c = http://c/v1/\n")
        os.utime(path, (1, 1))
        self.context.reactor.advance(30)
        response = self.call("GET", "/info", plugin=plugin)
        self.assertEqual(response.body, b"passed")
        self.assertEqual(self.context.info["container_sync"],
                         {"realms": {"NEW": {"clusters": {"C": {}}}}})

    def test_noRealmsFile(self) -> None:
        """
        Without a realms file, there are no realms: the section is empty.
        """
        self.make(swift_dir=self.mktemp())
        self.assertEqual(self.context.info["container_sync"], {"realms": {}})

    # -- X-Container-Sync-To ---------------------------------------------------

    def test_plainRequestsPass(self) -> None:
        """
        Requests without sync headers pass untouched, with no look at the
        container.
        """
        for method, path in (("GET", "/v1/AUTH_test/dest/o"), ("PUT", "/v1/AUTH_test/c"),
                             ("GET", "/v1/AUTH_test"), ("GET", "/healthcheck")):
            self.assertEqual(self.call(method, path).body, b"passed")
        self.assertEqual([r.method for r in self.app.calls], ["GET", "PUT", "GET", "GET"])

    def test_syncToPasses(self) -> None:
        """
        A realm or URL C{X-Container-Sync-To} goes on to the container
        servers, who judge it.
        """
        for value in ("//UK/lon3/AUTH_b/c", "http://10.0.0.1/v1/AUTH_b/c"):
            response = self.call("POST", "/v1/AUTH_test/c", {"X-Container-Sync-To": value})
            self.assertEqual(response.body, b"passed")
            self.assertEqual(self.app.calls[-1].headers["X-Container-Sync-To"], value)

    def test_versionedContainer(self) -> None:
        """
        Sync cannot be set on a container with object versioning.
        """
        self.app.infos[container_key("AUTH_test", "v")] = {
            "status": 204, "meta": {}, "sysmeta": {"versions-container": "x"}}
        for method in ("PUT", "POST"):
            response = self.call(method, "/v1/AUTH_test/v",
                                 {"X-Container-Sync-To": "//UK/lon3/AUTH_b/c"})
            self.assertEqual(response.status, 400)
            self.assertEqual(response.body, b"Cannot configure container sync on a "
                             b"container with object versioning configured.")
            self.assertEqual(response.headers["Content-Type"], "text/html; charset=UTF-8")
        self.assertEqual({r.method for r in self.app.calls}, {"HEAD"})
        self.assertEqual(self.app.calls[0].environ["swift.source"], "CS")

    def test_fullUrlsRefused(self) -> None:
        """
        With C{allow_full_urls = false} only realm values are allowed, on
        any request.
        """
        plugin = self.make(allow_full_urls="false")
        for method, path in (("PUT", "/v1/AUTH_test/c"), ("GET", "/v1/AUTH_test/c/o")):
            response = self.call(method, path,
                                 {"X-Container-Sync-To": "http://10.0.0.1/v1/AUTH_b/c"},
                                 plugin=plugin)
            self.assertEqual(response.status, 400)
            assert isinstance(response.body, bytes)
            self.assertTrue(response.body.startswith(b"Full URLs are not allowed"))
        response = self.call("PUT", "/v1/AUTH_test/c",
                             {"X-Container-Sync-To": "//UK/lon3/AUTH_b/c"}, plugin=plugin)
        self.assertEqual(response.body, b"passed")

    # -- X-Container-Sync-Auth -------------------------------------------------

    def test_validSignature(self) -> None:
        """
        A request signed with the realm's key and the container's sync
        key passes authorization, with its X-Timestamp back and the SLO
        and symlink checks off.
        """
        path = "/v1/AUTH_test/dest/o"
        stamp = "1700000000.12345"
        response = self.call("PUT", path, {"X-Timestamp": stamp,
                                           "X-Container-Sync-Auth": _signed("PUT", path, stamp)})
        self.assertEqual(response.body, b"passed")
        passed = self.app.calls[-1]
        self.assertEqual(passed.headers["X-Timestamp"], stamp)
        self.assertNotIn("X-Backend-Inbound-X-Timestamp", passed.headers)
        for key in ("swift.authorize_override", "swift.slo_override",
                    "swift.symlink_override"):
            self.assertIs(passed.environ[key], True)
        self.assertEqual(self.log_info(), ["cs:valid"])

    def test_secondKey(self) -> None:
        """
        A realm's C{key2} signs as well as its C{key}.
        """
        path = "/v1/AUTH_test/dest/o"
        auth = _signed("DELETE", path, "0", key="1a0a5a0cbd66448084089304442d6776",
                       realm="US")
        self.assertEqual(self.call("DELETE", path, {"X-Container-Sync-Auth": auth}).body,
                         b"passed")

    def test_quotedPath(self) -> None:
        """
        The signature covers the path as sent, percent-quoted.
        """
        path = "/v1/AUTH_test/dest/caf%C3%A9%20x"
        auth = _signed("HEAD", path, "0")
        self.assertEqual(self.call("HEAD", path, {"X-Container-Sync-Auth": auth}).body,
                         b"passed")

    def assert_refused(self, response: SwiftResponse, why: str) -> None:
        self.assertEqual(response.status, 401)
        self.assertEqual(response.body, b"X-Container-Sync-Auth header not valid; contact "
                         b"cluster operator for support.")
        self.assertEqual(response.headers["Content-Type"], "text/plain")
        self.assertEqual(response.headers["Www-Authenticate"],
                         'SwiftContainerSync realm="AUTH_test"')
        self.assertEqual(self.log_info(), [why])
        self.assertNotIn("swift.authorize_override", self.request.environ)

    def test_badSignature(self) -> None:
        path = "/v1/AUTH_test/dest/o"
        self.assert_refused(self.call("PUT", path, {
            "X-Timestamp": "1700000000.00001",
            "X-Container-Sync-Auth": _signed("PUT", path, "1700000000.00002")}),
            "cs:invalid-sig")
        self.assert_refused(self.call("PUT", path, {
            "X-Container-Sync-Auth": _signed("PUT", path, "0", user_key="other")}),
            "cs:invalid-sig")
        self.assert_refused(self.call("POST", path, {
            "X-Container-Sync-Auth": _signed("PUT", path, "0")}), "cs:invalid-sig")
        self.assert_refused(self.call("PUT", path, {
            "X-Timestamp": "\u00e9", "X-Container-Sync-Auth": _signed("PUT", path, "0")}),
            "cs:invalid-sig")

    def test_notThreeWords(self) -> None:
        for auth in ("uk n0nce", "uk n0nce sig more", "   "):
            self.assert_refused(self.call("PUT", "/v1/AUTH_test/dest/o",
                                          {"X-Container-Sync-Auth": auth}), "cs:not-3-args")

    def test_unknownRealm(self) -> None:
        path = "/v1/AUTH_test/dest/o"
        self.assert_refused(self.call("PUT", path, {
            "X-Container-Sync-Auth": _signed("PUT", path, "0", realm="mars")}),
            "cs:no-local-realm-key")

    def test_noSyncKey(self) -> None:
        """
        A container without a sync key (or missing) takes no synced
        request.
        """
        for container in ("nokey", "missing"):
            path = f"/v1/AUTH_test/{container}/o"
            self.app.infos[container_key("AUTH_test", "nokey")] = {
                "status": 204, "meta": {}, "sysmeta": {}}
            self.assert_refused(self.call("PUT", path, {
                "X-Container-Sync-Auth": _signed("PUT", path, "0")}),
                "cs:no-local-user-key")

    def test_headRefusedWithoutBody(self) -> None:
        response = self.call("HEAD", "/v1/AUTH_test/dest/o", {"X-Container-Sync-Auth": "x"})
        self.assertEqual((response.status, response.body), (401, b""))

    def test_otherVersionsPass(self) -> None:
        """
        Paths that are not Swift API paths are not looked at.
        """
        response = self.call("PUT", "/v2/AUTH_test/dest/o", {"X-Container-Sync-Auth": "x"})
        self.assertEqual(response.body, b"passed")


def _synced_container(request: NodeRequest) -> Reply:
    """
    A container node whose container (policy 0) has a sync key.
    """
    return Reply(204, {"X-Backend-Storage-Policy-Index": "0",
                       "X-Container-Sync-Key": "secret",
                       "X-Put-Timestamp": "1600000000.00000",
                       "X-Timestamp": "1600000000.00000"})


class ObjectSyncWriteTests(_ProxyBase):
    """
    What the object controller does for container sync, as Swift's: a PUT
    or DELETE is authorized knowing the container's sync key, and a
    DELETE or POST keeps the X-Timestamp the request has (the synced
    version's, restored by the plugin).
    """

    def setUp(self) -> None:
        super().setUp()
        for node in self.cluster.containers:
            node.handler = _synced_container

    def sent(self, method: str) -> set[Optional[str]]:
        return {r.headers.get("X-Timestamp") for node in self.cluster.primaries
                for r in node.requests if r.method == method}

    def test_syncKeyForAuth(self) -> None:
        proxy = self.proxy()
        for method in ("PUT", "DELETE"):
            self.send(proxy, method, "/v1/a/c/o", {"Content-Length": "0"})
            self.assertEqual(self.request.environ["swift_sync_key"], "secret")
        self.send(proxy, "POST", "/v1/a/c/o")
        self.assertNotIn("swift_sync_key", self.request.environ)

    def test_timestampKept(self) -> None:
        proxy = self.proxy()
        for method in ("DELETE", "POST"):
            response = self.send(proxy, method, "/v1/a/c/o", {"X-Timestamp": "1700000000.5"})
            self.assertLess(response.status, 300)
            self.assertEqual(self.sent(method), {"1700000000.50000"})

    def test_timestampOtherwiseNow(self) -> None:
        proxy = self.proxy()
        self.send(proxy, "DELETE", "/v1/a/c/o")
        self.assertEqual(self.sent("DELETE"), {"%016.05f" % NOW})

    def test_badTimestamp(self) -> None:
        proxy = self.proxy()
        response = self.send(proxy, "DELETE", "/v1/a/c/o", {"X-Timestamp": "soon"})
        self.assertEqual((response.status, response.body), (
            400, b"X-Timestamp should be a UNIX timestamp float value; was 'soon'"))
        self.assertEqual(self.sent("DELETE"), set())
