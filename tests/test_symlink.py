"""
Tests for L{twisted_proxy.plugins.symlink}.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.doubles import partial_context
from twisted_proxy.config import ConfigError
from twisted_proxy.interfaces import IProxyApplication, IProxyFilter, IProxyPluginFactory
from twisted_proxy.plugins.symlink import (
    SYMLINK_OVERRIDE_ENVIRON_KEY,
    Symlinks,
    listing_unchanged,
    rewrite_listing_item,
    symlinkPlugin,
)
from twisted_proxy.swift.http import HeaderDict, SwiftRequest, SwiftResponse
from twisted_proxy.swift.listing import (
    LISTING_REWRITES_ENVIRON_KEY,
    RAW_UNCHANGED_ATTRIBUTE,
    apply_listing_rewrites,
)

_EMPTY = "d41d8cd98f00b204e9800998ecf8427e"
_TARGET_ETAG = "5d41402abc4b2a76b9719d911017c592"


class _Context:
    def __init__(self) -> None:
        self.reactor = Clock()
        self.info: dict[str, Any] = {}

    def register_info(self, name: str, **info: Any) -> None:
        self.info[name] = info


@implementer(IProxyApplication)
class _Store:
    """
    The rest of the pipeline over a dict of objects: path to (headers,
    body). It answers GET, HEAD, PUT and POST as the object controller
    does, object sysmeta shown only when C{swift.sysmeta_ok} is set.
    """

    def __init__(self) -> None:
        self.objects: dict[str, tuple[dict[str, str], bytes]] = {}
        self.calls: list[tuple[str, str, HeaderDict, dict[str, Any]]] = []
        self.listing: list[dict[str, Any]] = []

    def link(self, path: str, target: str, **extra: str) -> None:
        headers = {"Etag": _EMPTY, "Content-Type": "application/symlink",
                   "X-Object-Sysmeta-Symlink-Target": target}
        headers.update({k.replace("_", "-"): v for k, v in extra.items()})
        self.objects[path] = (headers, b"")

    def put(self, path: str, body: bytes, etag: str = _TARGET_ETAG, **extra: str) -> None:
        headers = {"Etag": etag, "Content-Type": "text/plain",
                   "Content-Length": str(len(body))}
        headers.update({k.replace("_", "-"): v for k, v in extra.items()})
        self.objects[path] = (headers, body)

    def __call__(self, request: SwiftRequest) -> "Deferred[SwiftResponse]":
        self.calls.append((request.method, request.path, request.headers.copy(),
                           dict(request.environ)))
        sysmeta_ok = request.environ.get("swift.sysmeta_ok")
        if request.path.count("/") == 3 and request.method == "GET":
            items = apply_listing_rewrites(request.environ, [dict(i) for i in self.listing])
            return succeed(SwiftResponse(200, {}, json.dumps(items).encode()))
        if request.method == "PUT":
            self.objects[request.path] = (dict(request.headers.items()), b"")
            return succeed(SwiftResponse(201, {}, b""))
        found = self.objects.get(request.path)
        if found is None:
            return succeed(SwiftResponse(404, {}, b""))
        stored, body = found
        headers = HeaderDict()
        for name, value in stored.items():
            if sysmeta_ok or "-sysmeta-" not in name.lower():
                headers[name] = value
        if request.method == "POST":
            return succeed(SwiftResponse(202, headers, b""))
        if request.headers.get("If-Match") not in (None, stored.get("Etag")):
            return succeed(SwiftResponse(412, headers, b""))
        return succeed(SwiftResponse(200, headers, b"" if request.method == "HEAD" else body))


async def _boom() -> SwiftResponse:
    raise ZeroDivisionError()


def _request(method: str, path: str, headers: Optional[dict[str, str]] = None,
             query: str = "", environ: Optional[dict[str, Any]] = None) -> SwiftRequest:
    uri = path + ("?" + query if query else "")
    return SwiftRequest(method, uri.encode(), HeaderDict(headers or {}),
                        environ=environ if environ is not None else {})


class SymlinkFactoryTests(SynchronousTestCase):
    """
    The plugin reads C{symloop_max} and says what it offers in C{/info}.
    """

    def test_plugin(self) -> None:
        verifyObject(IPlugin, symlinkPlugin)
        verifyObject(IProxyPluginFactory, symlinkPlugin)
        self.assertEqual(symlinkPlugin.name, "symlink")

    def test_info(self) -> None:
        context = _Context()
        made = symlinkPlugin.make_filter({"symloop_max": "5"}, partial_context(context))
        verifyObject(IProxyFilter, made)
        self.assertEqual(made.symloop_max, 5)
        self.assertEqual(context.info, {"symlink": {"symloop_max": 5, "static_links": True}})

    def test_symloopMaxBelowOne(self) -> None:
        """
        As in Swift, a C{symloop_max} below 1 means the default.
        """
        made = symlinkPlugin.make_filter({"symloop_max": "0"}, partial_context(_Context()))
        self.assertEqual(made.symloop_max, 2)

    def test_symloopMaxNotInteger(self) -> None:
        self.assertRaises(ConfigError, symlinkPlugin.make_filter, {"symloop_max": "x"},
                          partial_context(_Context()))


class SymlinkTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.store = _Store()
        self.symlinks = Symlinks(2)

    def call(self, request: SwiftRequest) -> SwiftResponse:
        return self.successResultOf(self.symlinks(request, self.store))

    # -- PUT ---------------------------------------------------------------

    def test_putDynamic(self) -> None:
        """
        A symlink PUT stores the target as sysmeta, Swift's way, and tells
        the container through the etag override.
        """
        response = self.call(_request("PUT", "/v1/a/c/link", {
            "X-Symlink-Target": "c2/o%20x", "Content-Length": "0"}))
        self.assertEqual(response.status, 201)
        stored, _ = self.store.objects["/v1/a/c/link"]
        self.assertEqual(stored["X-Object-Sysmeta-Symlink-Target"], "c2/o%20x")
        self.assertNotIn("X-Symlink-Target", stored)
        self.assertEqual(stored["Content-Type"], "application/symlink")
        self.assertEqual(stored["X-Object-Sysmeta-Container-Update-Override-Etag"],
                         f"{_EMPTY}; symlink_target=c2/o%20x")

    def test_putOtherAccount(self) -> None:
        self.call(_request("PUT", "/v1/a/c/link", {
            "X-Symlink-Target": "c/o", "X-Symlink-Target-Account": "b",
            "Content-Length": "0", "Content-Type": "text/x"}))
        stored, _ = self.store.objects["/v1/a/c/link"]
        self.assertEqual(stored["X-Object-Sysmeta-Symlink-Target-Account"], "b")
        self.assertEqual(stored["Content-Type"], "text/x")
        self.assertEqual(stored["X-Object-Sysmeta-Container-Update-Override-Etag"],
                         f"{_EMPTY}; symlink_target=c/o; symlink_target_account=b")

    def test_putWithBody(self) -> None:
        response = self.call(_request("PUT", "/v1/a/c/link", {
            "X-Symlink-Target": "c/o", "Content-Length": "3"}))
        self.assertEqual((response.status, response.body),
                         (400, b"Symlink requests require a zero byte body"))
        self.assertEqual(self.store.calls, [])

    def test_putBadTarget(self) -> None:
        """
        A target that is not C{<container>/<object>}, or starts with a
        slash, is a 412, as in Swift.
        """
        for target in ("nothing", "/c/o", "c/"):
            response = self.call(_request("PUT", "/v1/a/c/link", {
                "X-Symlink-Target": target, "Content-Length": "0"}))
            self.assertEqual(response.status, 412, target)
            self.assertEqual(
                response.body, b"X-Symlink-Target header must be of the form "
                b"<container name>/<object name>")

    def test_putBadAccount(self) -> None:
        response = self.call(_request("PUT", "/v1/a/c/link", {
            "X-Symlink-Target": "c/o", "X-Symlink-Target-Account": "a/b",
            "Content-Length": "0"}))
        self.assertEqual(response.status, 412)

    def test_putSelf(self) -> None:
        response = self.call(_request("PUT", "/v1/a/c/link", {
            "X-Symlink-Target": "c/link", "Content-Length": "0"}))
        self.assertEqual((response.status, response.body),
                         (400, b"Symlink cannot target itself"))

    def test_putBadEtag(self) -> None:
        response = self.call(_request("PUT", "/v1/a/c/link", {
            "X-Symlink-Target": "c/o", "X-Symlink-Target-Etag": "a;b",
            "Content-Length": "0"}))
        self.assertEqual((response.status, response.body),
                         (400, b"Bad X-Symlink-Target-Etag format"))

    def test_putStatic(self) -> None:
        """
        A static link checks its target's etag and keeps its size and
        content type.
        """
        self.store.put("/v1/a/c/o", b"hello")
        response = self.call(_request("PUT", "/v1/a/c/link", {
            "X-Symlink-Target": "c/o", "X-Symlink-Target-Etag": f'"{_TARGET_ETAG}"',
            "Content-Length": "0"}))
        self.assertEqual(response.status, 201)
        stored, _ = self.store.objects["/v1/a/c/link"]
        self.assertEqual(stored["X-Object-Sysmeta-Symlink-Target-Etag"], _TARGET_ETAG)
        self.assertEqual(stored["X-Object-Sysmeta-Symlink-Target-Bytes"], "5")
        self.assertEqual(stored["Content-Type"], "text/plain")
        self.assertEqual(
            stored["X-Object-Sysmeta-Container-Update-Override-Etag"],
            f"{_EMPTY}; symlink_target=c/o; symlink_target_etag={_TARGET_ETAG}; "
            "symlink_target_bytes=5")

    def test_putStaticSlo(self) -> None:
        """
        A static link to a manifest lists the large object's size and etag.
        """
        self.store.put("/v1/a/c/o", b"[]", **{"X-Object-Sysmeta-Slo-Etag": "abc",
                                              "X-Object-Sysmeta-Slo-Size": "99"})
        self.call(_request("PUT", "/v1/a/c/link", {
            "X-Symlink-Target": "c/o", "X-Symlink-Target-Etag": _TARGET_ETAG,
            "Content-Length": "0"}))
        stored, _ = self.store.objects["/v1/a/c/link"]
        self.assertEqual(stored["X-Object-Sysmeta-Symlink-Target-Bytes"], "99")
        self.assertEqual(
            stored["X-Object-Sysmeta-Container-Update-Override-Etag"],
            f"{_EMPTY}; slo_etag=abc; symlink_target=c/o; "
            f"symlink_target_etag={_TARGET_ETAG}; symlink_target_bytes=99")

    def test_putStaticMissing(self) -> None:
        response = self.call(_request("PUT", "/v1/a/c/link", {
            "X-Symlink-Target": "c/o", "X-Symlink-Target-Etag": _TARGET_ETAG,
            "Content-Length": "0"}))
        self.assertEqual((response.status, response.body),
                         (409, b"X-Symlink-Target does not exist"))
        self.assertEqual(response.headers["Content-Location"], "/v1/a/c/o")
        self.assertNotIn("/v1/a/c/link", self.store.objects)

    def test_putStaticMismatch(self) -> None:
        self.store.put("/v1/a/c/o", b"hello")
        response = self.call(_request("PUT", "/v1/a/c/link", {
            "X-Symlink-Target": "c/o", "X-Symlink-Target-Etag": "0" * 32,
            "Content-Length": "0"}))
        self.assertEqual(response.status, 409)
        self.assertEqual(response.body, (
            f"Object Etag {_TARGET_ETAG!r} does not match X-Symlink-Target-Etag "
            f"header {'0' * 32!r}").encode())

    def test_putStaticOverride(self) -> None:
        """
        A plugin that knows the target (C{swift.symlink_override}) is
        trusted: no C{HEAD}.
        """
        self.call(_request("PUT", "/v1/a/c/link", {
            "X-Symlink-Target": "c/o", "X-Symlink-Target-Etag": _TARGET_ETAG,
            "X-Symlink-Target-Bytes": "7", "Content-Length": "0"},
            environ={SYMLINK_OVERRIDE_ENVIRON_KEY: True}))
        self.assertEqual([c[0] for c in self.store.calls], ["PUT"])
        stored, _ = self.store.objects["/v1/a/c/link"]
        self.assertEqual(stored["X-Object-Sysmeta-Symlink-Target-Bytes"], "7")

    # -- GET and HEAD ------------------------------------------------------

    def test_getFollows(self) -> None:
        self.store.put("/v1/a/c/o", b"hello")
        self.store.link("/v1/a/c/link", "c/o")
        response = self.call(_request("GET", "/v1/a/c/link"))
        self.assertEqual((response.status, response.body), (200, b"hello"))
        self.assertEqual(response.headers["Content-Location"], "/v1/a/c/o")
        self.assertEqual(self.store.calls[1][3]["swift.source"], "SYM")
        # The object servers must not refuse a Range on the empty link.
        self.assertEqual(self.store.calls[0][2]["X-Backend-Ignore-Range-If-Metadata-Present"],
                         "X-Object-Sysmeta-Symlink-Target")

    def test_getOtherAccount(self) -> None:
        self.store.put("/v1/b/c/o", b"hello")
        self.store.link("/v1/a/c/link", "c/o", **{
            "X-Object-Sysmeta-Symlink-Target-Account": "b"})
        response = self.call(_request("GET", "/v1/a/c/link"))
        self.assertEqual(response.headers["Content-Location"], "/v1/b/c/o")

    def test_getNotALink(self) -> None:
        """
        An ordinary object is answered as it is, its sysmeta hidden.
        """
        self.store.put("/v1/a/c/o", b"hello", **{"X-Object-Sysmeta-Foo": "x"})
        response = self.call(_request("GET", "/v1/a/c/o"))
        self.assertEqual(response.body, b"hello")
        self.assertNotIn("X-Object-Sysmeta-Foo", response.headers)
        self.assertNotIn("Content-Location", response.headers)

    def test_getNotALinkNoCoroutine(self) -> None:
        """
        The answer to a GET or HEAD of an object that is no link is the
        rest of the pipeline's own L{Deferred}, no coroutine between: its
        sysmeta hidden from a caller that may not see it, shown to one
        that may, and the request's C{swift.sysmeta_ok} as it was.
        """
        for method in ("GET", "HEAD"):
            for sysmeta_ok in (False, True):
                pending: Deferred[SwiftResponse] = Deferred()
                environ: dict[str, Any] = {"swift.sysmeta_ok": True} if sysmeta_ok else {}
                request = _request(method, "/v1/a/c/o", environ=environ)
                seen: list[Any] = []

                def app(request: SwiftRequest) -> "Deferred[SwiftResponse]":
                    seen.append(request.environ.get("swift.sysmeta_ok"))
                    return pending

                answer = self.symlinks(request, app)  # type: ignore[arg-type]
                self.assertIs(answer, pending)
                self.assertEqual(seen, [True])
                pending.callback(SwiftResponse(200, {"X-Object-Sysmeta-Foo": "x",
                                                     "Etag": "e"}, b""))
                response = self.successResultOf(answer)
                self.assertEqual("X-Object-Sysmeta-Foo" in response.headers, sysmeta_ok)
                self.assertEqual(environ.get("swift.sysmeta_ok"), True if sysmeta_ok else None)
                self.assertEqual(
                    request.headers["X-Backend-Ignore-Range-If-Metadata-Present"],
                    "X-Object-Sysmeta-Symlink-Target")

    def test_getFails(self) -> None:
        """
        When the rest of the pipeline fails, or raises, the failure goes
        back (a failed L{Deferred}, as ever) and the request's C{swift.sysmeta_ok} is as it was.
        """
        environ: dict[str, Any] = {}
        answer = self.symlinks(_request("GET", "/v1/a/c/o", environ=environ),
                               lambda _: Deferred.fromCoroutine(_boom()))  # type: ignore
        self.failureResultOf(answer, ZeroDivisionError)
        self.assertNotIn("swift.sysmeta_ok", environ)

        def raising(request: SwiftRequest) -> "Deferred[SwiftResponse]":
            raise ZeroDivisionError()

        answer = self.symlinks(_request("HEAD", "/v1/a/c/o", environ=environ),
                               raising)  # type: ignore[arg-type]
        self.failureResultOf(answer, ZeroDivisionError)
        self.assertNotIn("swift.sysmeta_ok", environ)

    def test_getSysmetaForCaller(self) -> None:
        """
        A caller that asked for sysmeta (the SLO plugin) still gets it.
        """
        self.store.put("/v1/a/c/o", b"hello", **{"X-Object-Sysmeta-Foo": "x"})
        self.store.link("/v1/a/c/link", "c/o")
        environ = {"swift.sysmeta_ok": True}
        response = self.call(_request("GET", "/v1/a/c/link", environ=environ))
        self.assertEqual(response.headers["X-Object-Sysmeta-Foo"], "x")
        self.assertTrue(environ["swift.sysmeta_ok"])

    def test_loop(self) -> None:
        """
        More than C{symloop_max} links is a 409.
        """
        self.store.put("/v1/a/c/o", b"hello")
        self.store.link("/v1/a/c/l1", "c/l2")
        self.store.link("/v1/a/c/l2", "c/l3")
        self.store.link("/v1/a/c/l3", "c/o")
        response = self.call(_request("GET", "/v1/a/c/l2"))
        self.assertEqual(response.body, b"hello")
        response = self.call(_request("HEAD", "/v1/a/c/l1"))
        self.assertEqual(response.status, 409)
        self.assertEqual(self.successResultOf(
            self.symlinks(_request("GET", "/v1/a/c/l1"), self.store)).body,
            b"Too many levels of symbolic links, maximum allowed is 2")

    def test_cycle(self) -> None:
        self.store.link("/v1/a/c/l1", "c/l2")
        self.store.link("/v1/a/c/l2", "c/l1")
        self.assertEqual(self.call(_request("GET", "/v1/a/c/l1")).status, 409)

    def test_symloopExtend(self) -> None:
        """
        A link marked C{symloop-extend} (a plugin's own) does not count.
        """
        self.store.put("/v1/a/c/o", b"hello")
        self.store.link("/v1/a/c/l1", "c/l2", **{"X-Object-Sysmeta-Symloop-Extend": "true"})
        self.store.link("/v1/a/c/l2", "c/l3", **{"X-Object-Sysmeta-Symloop-Extend": "true"})
        self.store.link("/v1/a/c/l3", "c/o")
        self.assertEqual(self.call(_request("GET", "/v1/a/c/l1")).body, b"hello")

    def test_missingTarget(self) -> None:
        self.store.link("/v1/a/c/link", "c/o")
        response = self.call(_request("GET", "/v1/a/c/link"))
        self.assertEqual(response.status, 404)
        self.assertEqual(response.headers["Content-Location"], "/v1/a/c/o")

    def test_staticChanged(self) -> None:
        """
        A static link whose target changed is a 409 naming the target.
        """
        self.store.put("/v1/a/c/o", b"other", etag="1" * 32)
        self.store.link("/v1/a/c/link", "c/o", **{
            "X-Object-Sysmeta-Symlink-Target-Etag": _TARGET_ETAG})
        response = self.call(_request("GET", "/v1/a/c/link"))
        self.assertEqual(response.status, 409)
        self.assertEqual(response.headers["Content-Location"], "/v1/a/c/o")

    def test_conditionOnTarget(self) -> None:
        """
        A link's own 412 (its etag is not the target's) still leads to the
        target, which judges the condition.
        """
        self.store.put("/v1/a/c/o", b"hello")
        self.store.link("/v1/a/c/link", "c/o")
        response = self.call(_request("GET", "/v1/a/c/link", {"If-Match": _TARGET_ETAG}))
        self.assertEqual(response.status, 200)

    def test_getLink(self) -> None:
        self.store.link("/v1/a/c/link", "c/o", **{
            "X-Object-Sysmeta-Symlink-Target-Account": "b",
            "X-Object-Sysmeta-Symlink-Target-Etag": _TARGET_ETAG,
            "X-Object-Sysmeta-Symlink-Target-Bytes": "5"})
        response = self.call(_request("GET", "/v1/a/c/link", query="symlink=get"))
        self.assertEqual(response.body, b"")
        self.assertEqual(response.headers["X-Symlink-Target"], "c/o")
        self.assertEqual(response.headers["X-Symlink-Target-Account"], "b")
        self.assertEqual(response.headers["X-Symlink-Target-Etag"], _TARGET_ETAG)
        self.assertEqual(response.headers["X-Symlink-Target-Bytes"], "5")
        self.assertNotIn("X-Object-Sysmeta-Symlink-Target", response.headers)

    # -- POST --------------------------------------------------------------

    def test_postLink(self) -> None:
        self.store.link("/v1/a/c/link", "c/o", **{
            "X-Object-Sysmeta-Symlink-Target-Etag": _TARGET_ETAG})
        response = self.call(_request("POST", "/v1/a/c/link"))
        self.assertEqual(response.status, 307)
        self.assertEqual(response.headers["Location"], "/v1/a/c/o")
        self.assertEqual(response.headers["X-Symlink-Target-Etag"], _TARGET_ETAG)

    def test_postLinkSysmeta(self) -> None:
        """
        The 307 carries the link's object sysmeta to a caller that asked
        for sysmeta (object versioning reads its flag there), and to no
        other.
        """
        self.store.link("/v1/a/c/link", "c/o", **{
            "X-Object-Sysmeta-Versions-Symlink": "true"})
        request = _request("POST", "/v1/a/c/link")
        request.environ["swift.sysmeta_ok"] = True
        response = self.call(request)
        self.assertEqual(response.status, 307)
        self.assertEqual(response.headers["X-Object-Sysmeta-Versions-Symlink"], "true")
        response = self.call(_request("POST", "/v1/a/c/link"))
        self.assertNotIn("X-Object-Sysmeta-Versions-Symlink", response.headers)

    def test_postObject(self) -> None:
        self.store.put("/v1/a/c/o", b"hello")
        self.assertEqual(self.call(_request("POST", "/v1/a/c/o")).status, 202)

    def test_postTarget(self) -> None:
        response = self.call(_request("POST", "/v1/a/c/o", {"X-Symlink-Target": "c/x"}))
        self.assertEqual((response.status, response.body),
                         (400, b"A PUT request is required to set a symlink target"))

    # -- listings ----------------------------------------------------------

    def test_listing(self) -> None:
        """
        A container GET's items show their symlink targets.
        """
        self.store.listing = [
            {"name": "l", "hash": f"{_EMPTY}; symlink_target=c/o"},
            {"name": "o", "hash": _TARGET_ETAG},
        ]
        environ: dict[str, Any] = {}
        response = self.call(_request("GET", "/v1/a/c", environ=environ))
        assert isinstance(response.body, bytes)
        self.assertEqual(json.loads(response.body), [
            {"name": "l", "hash": _EMPTY, "symlink_path": "/v1/a/c/o"},
            {"name": "o", "hash": _TARGET_ETAG},
        ])
        self.assertEqual(environ[LISTING_REWRITES_ENVIRON_KEY], ())

    def test_listingEveryEntry(self) -> None:
        """
        Each entry of a listing is rewritten as L{rewrite_listing_item}
        rewrites it: plain hashes stripped, parameters parsed, a hash that
        is no string made one; what is no entry stays as it is.
        """
        self.store.listing = [
            {"name": "a", "hash": f" {_EMPTY} "},
            {"name": "b", "hash": f"{_EMPTY}; symlink_target=c/o"},
            {"name": "c", "hash": 5},
            {"subdir": "p/"},
        ]
        response = self.call(_request("GET", "/v1/a/c"))
        assert isinstance(response.body, bytes)
        expected = [rewrite_listing_item(dict(item), "v1", "a")
                    for item in self.store.listing]
        self.assertEqual(json.loads(response.body), expected)
        self.assertEqual(expected[0]["hash"], _EMPTY)
        self.assertEqual(expected[1]["symlink_path"], "/v1/a/c/o")
        self.assertEqual(expected[2]["hash"], "5")

    def test_listingAllPlain(self) -> None:
        """
        A listing whose hashes all have no parameters comes back as it is;
        one hash with whitespace at an end is enough for every entry to be
        rewritten.
        """
        plain = [{"name": "a", "hash": _EMPTY}, {"name": "b", "hash": ""}]
        self.store.listing = plain
        response = self.call(_request("GET", "/v1/a/c"))
        assert isinstance(response.body, bytes)
        self.assertEqual(json.loads(response.body), plain)
        for spaced in (f"{_EMPTY}\t", f"\xa0{_EMPTY}"):
            self.store.listing = plain + [{"name": "c", "hash": spaced}]
            response = self.call(_request("GET", "/v1/a/c"))
            assert isinstance(response.body, bytes)
            self.assertEqual(json.loads(response.body),
                             plain + [{"name": "c", "hash": _EMPTY}])

    def test_listingItem(self) -> None:
        item = rewrite_listing_item({
            "hash": f"{_EMPTY}; slo_etag=abc; symlink_target=c/o; "
                    f"symlink_target_account=b; symlink_target_etag={_TARGET_ETAG}; "
                    "symlink_target_bytes=5"}, "v1", "a")
        self.assertEqual(item, {
            "hash": f"{_EMPTY}; slo_etag=abc", "symlink_path": "/v1/b/c/o",
            "symlink_etag": _TARGET_ETAG, "symlink_bytes": 5})

    def test_listingItemPlain(self) -> None:
        """
        An entry whose hash has no parameters keeps it, stripped, and gets
        nothing else; an entry with no hash stays as it is.
        """
        self.assertEqual(rewrite_listing_item({"name": "o", "hash": f" {_EMPTY} "}, "v1", "a"),
                         {"name": "o", "hash": _EMPTY})
        self.assertEqual(rewrite_listing_item({"subdir": "p/"}, "v1", "a"), {"subdir": "p/"})

    def test_listingRewriteTellsUnchanged(self) -> None:
        """
        The listing rewrite of a container GET says, by
        L{RAW_UNCHANGED_ATTRIBUTE}, which raw listings it leaves unchanged.
        """
        self.call(_request("GET", "/v1/a/c"))
        [rewrite] = self.store.calls[-1][3][LISTING_REWRITES_ENVIRON_KEY]
        self.assertIs(getattr(rewrite, RAW_UNCHANGED_ATTRIBUTE), listing_unchanged)

    def test_otherRequests(self) -> None:
        """
        DELETE, OPTIONS, account requests and plain PUTs pass untouched.
        """
        for method, path in (("DELETE", "/v1/a/c/l"), ("OPTIONS", "/v1/a/c/l"),
                             ("GET", "/v1/a"), ("PUT", "/v1/a/c/o"), ("HEAD", "/v1/a/c")):
            self.call(_request(method, path))
            _, _, headers, environ = self.store.calls[-1]
            self.assertNotIn("swift.sysmeta_ok", environ)


def _symlink_rewrite(items: list[Any]) -> list[Any]:
    return [rewrite_listing_item(item, "v1", "a") for item in items]


_PLAIN = {"bytes": 5, "hash": _TARGET_ETAG, "name": "o", "content_type": "text/plain",
          "last_modified": "2023-11-14T22:13:20.000000"}

# Hashes, names and content types made of what matters to a rewrite:
# parameters, whitespace of every kind, escapes, quotes.
_TRICKY = st.text(alphabet=st.sampled_from(
    list("0af;= \t\n\"\\") + ["\xa0", "\u2003", "\xe9", "\x00", "\U0001f600"]),
    max_size=8)


class ListingUnchangedTests(SynchronousTestCase):
    """
    L{listing_unchanged} tells which container server JSON listings the
    symlink listing rewrite leaves as they are.
    """

    def assertUnchanged(self, items: list[Any], expected: bool) -> None:
        body = json.dumps(items).encode("ascii")
        self.assertEqual(listing_unchanged(body), expected, items)
        if expected:
            rewritten = _symlink_rewrite(json.loads(body))
            self.assertEqual(json.dumps(rewritten).encode("ascii"), body)

    def test_plain(self) -> None:
        """
        Plain hashes, whatever the names and content types (parameters,
        spaces, text that is not ASCII), and subdirs: unchanged.
        """
        self.assertUnchanged([_PLAIN, {"subdir": "p/"}], True)
        self.assertUnchanged([dict(_PLAIN, name="caf\xe9 ", content_type="text/plain; a=b"),
                              dict(_PLAIN, name=" \t\"hash\": \" x;")], True)
        self.assertUnchanged([dict(_PLAIN, hash="")], True)
        self.assertUnchanged([], True)

    def test_changed(self) -> None:
        """
        A hash with parameters, whitespace to strip or that is no string is
        rewritten.
        """
        for stored in (f"{_EMPTY}; symlink_target=c/o", f"{_EMPTY}; slo_etag=x", f" {_EMPTY}",
                       f"{_EMPTY} ", f"{_EMPTY}\t", f"\xa0{_EMPTY}", f"{_EMPTY}\u2003", 5,
                       None):
            self.assertUnchanged([_PLAIN, dict(_PLAIN, hash=stored)], False)

    def test_notAscii(self) -> None:
        """
        A listing that is not all ASCII is not as a container server
        writes it: whitespace may be there unescaped.
        """
        for stored in (_EMPTY, f"\xa0{_EMPTY}"):
            body = json.dumps([dict(_PLAIN, name="caf\xe9", hash=stored)],
                              ensure_ascii=False).encode()
            self.assertFalse(listing_unchanged(body))

    @given(st.lists(st.fixed_dictionaries({
        "hash": st.one_of(_TRICKY, st.just(_EMPTY), _TRICKY.map(lambda text: _EMPTY + text),
                          _TRICKY.map(lambda text: text + _EMPTY)),
        "name": _TRICKY, "content_type": _TRICKY})))
    def test_sound(self, items: list[dict[str, Any]]) -> None:
        """
        A listing said to be unchanged is the one the rewrite renders.
        """
        body = json.dumps(items).encode("ascii")
        if listing_unchanged(body):
            self.assertEqual(json.dumps(_symlink_rewrite(json.loads(body))).encode("ascii"),
                             body)
