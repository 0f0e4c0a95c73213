"""
Tests for sharded containers in the proxy: L{twisted_proxy.controllers.shards}
and the container and object controllers' use of it, over fake container
servers that shard as Swift's do (see L{FakeContainerServer}).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional, Union
from urllib.parse import parse_qsl, quote, unquote

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from tests.fakenodes import FakeCluster, InRingOrder, NodeRequest, Proxy, Reply, make_proxy
from twisted_proxy.backend import nodes
from twisted_proxy.controllers import container as container_controller
from twisted_proxy.info.cache import (
    InfoCache,
    container_info_headers,
    headers_to_container_info,
    listing_namespaces_key,
    updating_namespaces_key,
)
from twisted_proxy.info.memorystore import MemoryInfoStore
from twisted_proxy.swift.http import HeaderDict, SwiftResponse
from twisted_proxy.swift.listing import (
    LISTING_REWRITES_ENVIRON_KEY,
    RAW_UNCHANGED_ATTRIBUTE,
    render_container_listing,
)
from twisted_proxy.swift.shardrange import Namespace

# -- a container server's object listing ---------------------------------------


Entry = Union[str, tuple[str, str]]


def broker_listing(
    names: list[str],
    limit: int,
    marker: Optional[str] = "",
    end_marker: Optional[str] = None,
    prefix: Optional[str] = None,
    delimiter: Optional[str] = None,
    reverse: bool = False,
) -> list[Entry]:
    """
    The object listing a Swift container database gives (its
    C{list_objects_iter}, without C{path}): names, and C{("subdir", name)}
    for each pseudo-directory of C{delimiter} after C{prefix}.

    Checked against Swift's own C{ContainerBroker} by
    C{tests.e2e.test_sharding}.
    """
    ordered = sorted(set(names), reverse=reverse)
    if reverse:
        marker, end_marker = end_marker, marker
    if delimiter and not prefix:
        prefix = ""
    end_prefix = prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else ""
    first_marker = marker
    results: list[Entry] = []
    at_least = False
    while len(results) < limit:
        low, high, inclusive = marker, end_marker, at_least
        at_least = False

        def wanted(name: str) -> bool:
            if high and (not prefix or high < end_prefix):
                if not name < high:
                    return False
            elif prefix and not name < end_prefix:
                return False
            if inclusive:
                return name >= (low or "")
            if low and (not prefix or low >= prefix):
                return name > low
            if prefix:
                return name >= prefix
            return True

        rows = [name for name in ordered if wanted(name)][:limit - len(results)]
        if prefix is None or not delimiter:
            return list(rows)
        for name in rows:
            if reverse:
                end_marker = name
            else:
                marker = name
            if len(results) >= limit:
                return results
            end = name.find(delimiter, len(prefix))
            if end >= 0:
                directory = name[:end + len(delimiter)]
                if reverse:
                    end_marker = directory
                else:
                    marker = name[:end] + delimiter[:-1] + chr(ord(delimiter[-1]) + 1)
                    at_least = True
                if directory != first_marker:
                    results.append(("subdir", directory))
                break
            results.append(name)
        if not rows:
            break
    return results


# -- container servers that shard ---------------------------------------------------


def _entry(item: Entry) -> dict[str, Any]:
    if isinstance(item, tuple):
        return {"subdir": item[1]}
    return {"bytes": len(item.encode("utf-8")), "hash": "d41d8cd98f00b204e9800998ecf8427e",
            "name": item, "content_type": "text/plain",
            "last_modified": "2023-11-14T22:13:20.000000"}


@dataclass
class FakeContainer:
    """
    One container database: its objects, sharding state and namespaces.
    """

    objects: list[str] = field(default_factory=list)
    state: str = "unsharded"
    namespaces: list[Namespace] = field(default_factory=list)
    policy: str = "0"
    meta: dict[str, str] = field(default_factory=dict)
    misplaced: list[str] = field(default_factory=list)


class FakeContainerServer:
    """
    What Swift's container servers answer, for every container node of a
    L{FakeCluster}: HEAD; GET of objects, or of namespaces with
    C{X-Backend-Record-Type: shard} (or C{auto} when sharding or sharded),
    honouring C{X-Backend-Override-Shard-Name-Filter}; and writes.

    @ivar containers: by C{(account, container)} text names.
    """

    def __init__(self, cluster: FakeCluster) -> None:
        self.containers: dict[tuple[str, str], FakeContainer] = {}
        self.requests: list[NodeRequest] = []
        self.broken: set[tuple[str, str]] = set()
        for node in cluster.containers:
            node.handler = self.handle

    def handle(self, request: NodeRequest) -> Reply:
        self.requests.append(request)
        _, _, _, account, container = unquote(request.path).split("/", 4)
        if request.method in ("PUT", "POST", "DELETE"):
            return Reply(204 if request.method != "PUT" else 201, {})
        found = self.containers.get((account, container))
        if found is None:
            return Reply(404, {"X-Backend-Timestamp": "1600000000.00000"})
        if (account, container) in self.broken:
            return Reply(500, {})
        headers = {
            "X-Backend-Storage-Policy-Index": found.policy,
            "X-Backend-Sharding-State": found.state,
            "X-Container-Object-Count": str(len(found.objects)),
            "X-Container-Bytes-Used": str(sum(len(o.encode("utf-8")) for o in found.objects)),
            "X-Timestamp": "1600000000.00000",
            "X-Put-Timestamp": "1600000001.00000",
            "Last-Modified": "Sun, 13 Sep 2020 12:26:41 GMT",
        }
        headers.update(found.meta)
        if request.method == "HEAD":
            return Reply(204, headers)
        params = dict(parse_qsl(request.query, keep_blank_values=True))
        record = request.headers.get("X-Backend-Record-Type", "").lower()
        if record == "auto" and found.state in ("sharding", "sharded"):
            record = "shard"
        headers["Content-Type"] = "application/json; charset=utf-8"
        if record == "shard":
            headers["X-Backend-Record-Type"] = "shard"
            listing: list[Any] = [n.as_json() for n in self._namespaces(found, params,
                                                                       request, headers)]
        else:
            headers["X-Backend-Record-Type"] = "object"
            policy = request.headers.get("X-Backend-Storage-Policy-Index", found.policy)
            headers["X-Backend-Record-Storage-Policy-Index"] = policy
            listing = [_entry(item) for item in broker_listing(
                found.objects + found.misplaced, int(params.get("limit", "10000")),
                params.get("marker", ""), params.get("end_marker"),
                params.get("prefix"), params.get("delimiter"),
                params.get("reverse", "").lower() in ("true", "1", "yes", "on", "t", "y"))]
        return Reply(200, headers, json.dumps(listing).encode("ascii"))

    def _namespaces(self, found: FakeContainer, params: dict[str, str],
                    request: NodeRequest, headers: dict[str, str]) -> list[Namespace]:
        override = request.headers.get("X-Backend-Override-Shard-Name-Filter", "").lower()
        if override == found.state == "sharded":
            headers["X-Backend-Override-Shard-Name-Filter"] = "true"
            return list(found.namespaces)
        includes = params.get("includes")
        if includes:
            return [n for n in found.namespaces if includes in n][:1]
        marker, end_marker = params.get("marker", ""), params.get("end_marker", "")
        reverse = params.get("reverse", "").lower() in ("true", "1", "yes", "on", "t", "y")
        if reverse:
            marker, end_marker = end_marker, marker
        chosen = [n for n in found.namespaces
                  if (not marker or not n.upper or marker < n.upper)
                  and (not end_marker or not n.lower or n.lower < end_marker)]
        return list(reversed(chosen)) if reverse else chosen

    def add(self, account: str, container: str, objects: list[str],
            bounds: Optional[list[str]] = None, state: str = "sharded") -> list[Namespace]:
        """
        Add a container holding C{objects}: unsharded without C{bounds};
        otherwise sharded at C{bounds} into shards of C{.shards_<account>}.
        """
        if bounds is None:
            self.containers[(account, container)] = FakeContainer(sorted(objects))
            return []
        edges = [""] + sorted(set(bounds)) + [""]
        namespaces = [
            Namespace(f".shards_{account}/{container}-shard-{i}", edges[i], edges[i + 1])
            for i in range(len(edges) - 1)
        ]
        self.containers[(account, container)] = FakeContainer(
            [] if state == "sharded" else sorted(objects), state, namespaces)
        for namespace in namespaces:
            self.containers[(namespace.account, namespace.container)] = FakeContainer(
                sorted(o for o in objects if o in namespace))
        return namespaces

    def gets(self, account: str, container: str) -> list[NodeRequest]:
        """
        The GETs of one container.
        """
        path = f"/{account}/{container}"
        return [r for r in self.requests
                if r.method == "GET" and unquote(r.path).split("/", 3)[3] == path[1:]]


def _query(request: NodeRequest) -> dict[str, str]:
    return dict(parse_qsl(request.query, keep_blank_values=True))


def _run(clock: Clock, d: "Deferred[Any]") -> Any:
    """
    Run the clock until C{d} fires; its result.
    """
    got: list[Any] = []
    d.addBoth(got.append)
    for _ in range(10000):
        if got:
            break
        clock.advance(0)
    assert got, "no result"
    if isinstance(got[0], Failure):
        got[0].raiseException()
    return got[0]


class _ShardedCase(SynchronousTestCase):
    settings: dict[str, Any] = {}

    def setUp(self) -> None:
        self.patch(nodes, "_RANDOM", InRingOrder())
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock)
        self.server = FakeContainerServer(self.cluster)
        self.proxy = make_proxy(self.clock, self.cluster, **self.settings)

    def fresh_proxy(self, **settings: Any) -> Proxy:
        return make_proxy(self.clock, self.cluster, **settings)

    def get(self, path: str, headers: Optional[dict[str, str]] = None,
            proxy: Optional[Proxy] = None) -> SwiftResponse:
        proxy = proxy or self.proxy
        response: SwiftResponse = _run(self.clock, proxy.request("GET", path, headers))
        return response

    def names(self, response: SwiftResponse) -> list[str]:
        assert isinstance(response.body, bytes)
        return [item.get("name", item.get("subdir")) for item in json.loads(response.body)]


NAMES = [f"{d}/{i:02d}" for d in ("a", "b", "c", "d") for i in range(10)] + [
    "plain", "z\u00e9", "\U0001f600"]


class ListingTests(_ShardedCase):
    def setUp(self) -> None:
        super().setUp()
        self.namespaces = self.server.add("a", "c", NAMES, ["a/05", "b/07", "d/00"])
        self.server.add("b", "c", NAMES)

    def test_unsharded(self) -> None:
        """
        An unsharded container answers a GET asking for namespaces (if any)
        with its objects, which are the listing.
        """
        response = self.get("/v1/b/c?format=json")
        self.assertEqual(response.status, 200)
        self.assertEqual(self.names(response), sorted(NAMES))
        [request] = self.server.gets("b", "c")
        self.assertEqual(request.headers["X-Backend-Record-Type"], "auto")
        self.assertEqual(request.headers["X-Backend-Record-Shard-Format"], "namespace")
        self.assertEqual(request.headers["X-Backend-Include-Deleted"], "false")
        self.assertEqual(request.headers["X-Backend-Override-Shard-Name-Filter"], "sharded")
        self.assertEqual(_query(request)["states"], "listing")

    def test_whole(self) -> None:
        """
        A sharded container's listing is its shards' listings, each asked
        for the rest of the limit from after the last name so far.
        """
        response = self.get("/v1/a/c?format=json")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.body, self.get("/v1/b/c?format=json").body)
        asked = [_query(self.server.gets(n.account, n.container)[0]) for n in self.namespaces]
        self.assertEqual([(q["marker"], q["end_marker"], q["limit"]) for q in asked], [
            ("", "a/05\x00", "10000"), ("a/05", "b/07\x00", "9994"),
            ("b/07", "d/00\x00", "9982"), ("d/00", "", "9969")])
        self.assertEqual({q["format"] for q in asked}, {"json"})
        self.assertEqual({q["states"] for q in asked}, {"listing"})

    def test_formats(self) -> None:
        """
        XML and plain listings of a sharded container are those of the
        same objects unsharded.
        """
        for query in ("format=xml", "format=plain", "", "format=json&delimiter=/"):
            sharded = self.get(f"/v1/a/c?{query}")
            flat = self.get(f"/v1/b/c?{query}")
            self.assertEqual((sharded.status, sharded.body), (flat.status, flat.body), query)
            self.assertEqual(sharded.headers["Content-Type"], flat.headers["Content-Type"])

    def test_counts(self) -> None:
        """
        An unconstrained listing that is the whole container gives its
        counts (and they are kept as its info); a constrained one gives the
        root's.
        """
        self.server.containers[("a", "c")].meta["X-Container-Object-Count"] = "7"
        for query in ("prefix=a", "limit=3", "marker=b", "delimiter=/"):
            response = self.get(f"/v1/a/c?{query}", proxy=self.fresh_proxy())
            self.assertEqual(response.headers["X-Container-Object-Count"], "7", query)
        response = self.get("/v1/a/c")
        self.assertEqual(response.headers["X-Container-Object-Count"], str(len(NAMES)))
        self.assertEqual(response.headers["X-Container-Bytes-Used"],
                         str(sum(len(n.encode("utf-8")) for n in NAMES)))
        response = self.get("/v1/a/c?prefix=a")
        self.assertEqual(response.headers["X-Container-Object-Count"], str(len(NAMES)))

    def test_paging(self) -> None:
        """
        Paging with C{limit} and C{marker}, forward and in reverse, gives
        the pages of the same objects unsharded.
        """
        for reverse in ("", "&reverse=on"):
            marker = ""
            pages = 0
            while True:
                query = f"format=json&limit=7&marker={marker}{reverse}"
                sharded = self.get(f"/v1/a/c?{query}")
                flat = self.get(f"/v1/b/c?{query}")
                self.assertEqual(sharded.body, flat.body, query)
                names = self.names(sharded)
                if not names:
                    break
                marker = names[-1].encode("utf-8").hex()
                marker = "".join(f"%{marker[i:i + 2]}" for i in range(0, len(marker), 2))
                pages += 1
            self.assertEqual(pages, 7)

    def test_cached(self) -> None:
        """
        The complete namespaces of a sharded container are cached: the next
        listing asks the shards only, its headers from cached info.
        """
        first = self.get("/v1/a/c?format=json&prefix=b")
        self.assertEqual(len(self.server.gets("a", "c")), 1)
        second = self.get("/v1/a/c?format=json&prefix=b")
        self.assertEqual(len(self.server.gets("a", "c")), 1)
        self.assertEqual(second.body, first.body)
        self.assertEqual(second.headers["X-Container-Object-Count"],
                         first.headers["X-Container-Object-Count"])
        self.assertEqual(second.headers["Last-Modified"], first.headers["Last-Modified"])
        self.assertEqual(second.headers["X-Storage-Policy"], "gold")
        self.assertEqual(second.headers["Content-Type"], first.headers["Content-Type"])
        stored = _run(self.clock, self.proxy.context.info_store.get(
            listing_namespaces_key("a", "c")))
        self.assertEqual(stored, [[n.lower, n.name] for n in self.namespaces])

    def test_cachedReverse(self) -> None:
        """
        Cached namespaces serve reverse listings with markers too.
        """
        self.get("/v1/a/c")
        for query in ("reverse=yes&marker=c/03&end_marker=a/02",
                      "reverse=1&limit=4", "end_marker=b/01&marker=a"):
            self.assertEqual(self.get(f"/v1/a/c?{query}").body,
                             self.get(f"/v1/b/c?{query}").body, query)
        self.assertEqual(len(self.server.gets("a", "c")), 1)

    def test_newest(self) -> None:
        """
        C{X-Newest} skips the cache.
        """
        self.get("/v1/a/c")
        self.get("/v1/a/c", {"X-Newest": "true"})
        # X-Newest asks every replica.
        self.assertEqual(len(self.server.gets("a", "c")), 4)
        shard = self.namespaces[0]
        self.assertEqual(
            self.server.gets(shard.account, shard.container)[-1].headers["X-Newest"], "true")

    def test_writeForgets(self) -> None:
        """
        A container POST forgets the cached namespaces.
        """
        self.get("/v1/a/c")
        response = _run(self.clock, self.proxy.request("POST", "/v1/a/c"))
        self.assertEqual(response.status, 204)
        self.get("/v1/a/c")
        self.assertEqual(len(self.server.gets("a", "c")), 2)

    def test_noCache(self) -> None:
        """
        With C{recheck_listing_shard_ranges = 0} nothing is cached and the
        root filters its namespaces itself.
        """
        proxy = self.fresh_proxy(recheck_listing_shard_ranges=0)
        query = "format=json&marker=b/02&end_marker=c/05"
        response = self.get(f"/v1/a/c?{query}", proxy=proxy)
        self.assertEqual(response.body, self.get(f"/v1/b/c?{query}").body)
        self.get(f"/v1/a/c?{query}", proxy=proxy)
        requests = self.server.gets("a", "c")
        self.assertEqual(len(requests), 2)
        self.assertNotIn("X-Backend-Override-Shard-Name-Filter", requests[0].headers)
        # Only the shards the root chose were asked.
        self.assertEqual(self.server.gets(self.namespaces[0].account,
                                          self.namespaces[0].container), [])

    def test_singleFlight(self) -> None:
        """
        Listings that find the container sharded but its namespaces not
        cached share one fetch of them.
        """
        self.get("/v1/a/c")
        _run(self.clock, self.proxy.context.info_store.delete(listing_namespaces_key("a", "c")))
        for node in self.cluster.containers:
            node.latency = 1.0
        first = self.proxy.request("GET", "/v1/a/c?prefix=a&format=json")
        second = self.proxy.request("GET", "/v1/a/c?prefix=b&format=json")
        for _ in range(20):
            self.clock.advance(1.0)
        self.assertEqual(self.names(_run(self.clock, first)),
                         [n for n in sorted(NAMES) if n.startswith("a")])
        self.assertEqual(self.names(_run(self.clock, second)),
                         [n for n in sorted(NAMES) if n.startswith("b")])
        self.assertEqual(len(self.server.gets("a", "c")), 2)

    def test_shardFails(self) -> None:
        """
        A shard that cannot list makes the whole listing a 503.
        """
        shard = self.namespaces[1]
        self.server.broken.add((shard.account, shard.container))
        response = self.get("/v1/a/c")
        self.assertEqual(response.status, 503)
        self.assertEqual(self.names(self.get("/v1/a/c?limit=2&format=json")),
                         ["a/00", "a/01"])

    def test_rootPolicy(self) -> None:
        """
        Shards are asked to list the root's storage policy.
        """
        shard = self.namespaces[2]
        self.server.containers[(shard.account, shard.container)].policy = "1"
        self.assertEqual(self.get("/v1/a/c").status, 200)
        [request] = self.server.gets(shard.account, shard.container)
        self.assertEqual(request.headers["X-Backend-Storage-Policy-Index"], "0")

    def test_shardListsOtherPolicy(self) -> None:
        """
        A shard answering for another policy than asked makes a 503.
        """
        shard = self.namespaces[2]
        original = self.server.handle

        def other_policy(request: NodeRequest) -> Reply:
            reply = original(request)
            if shard.container in unquote(request.path):
                reply.headers["X-Backend-Record-Storage-Policy-Index"] = "1"
            return reply

        for node in self.cluster.containers:
            node.handler = other_policy
        self.assertEqual(self.get("/v1/a/c").status, 503)

    def test_sharding(self) -> None:
        """
        A sharding container lists what it cleaved from its shards and the
        rest from itself (its filler namespace), asked for objects; its
        namespaces are not cached.
        """
        self.server.add("a", "s", NAMES, ["b/00"], state="sharding")
        root = self.server.containers[("a", "s")]
        root.namespaces = [root.namespaces[0], Namespace("a/s", "b/00", "")]
        response = self.get("/v1/a/s?format=json")
        self.assertEqual(self.names(response), sorted(NAMES))
        gets = self.server.gets("a", "s")
        self.assertEqual([r.headers["X-Backend-Record-Type"] for r in gets], ["auto", "object"])
        self.get("/v1/a/s?format=json")
        self.assertEqual(len(self.server.gets("a", "s")), 4)

    def test_shardOfShard(self) -> None:
        """
        A shard that is itself sharded is listed from its own shards.
        """
        [low, high] = self.server.add("a", "n", NAMES, ["b/03"])
        inner = self.server.add(low.account, low.container,
                                [n for n in NAMES if n in low], ["a/04"])
        for query in ("", "limit=5", "marker=a/06", "reverse=on&limit=12", "delimiter=/"):
            self.assertEqual(self.get(f"/v1/a/n?{query}").body,
                             self.get(f"/v1/b/c?{query}").body, query)
        self.assertTrue(self.server.gets(inner[0].account, inner[0].container))

    def test_reverseDelimiterQuirk(self) -> None:
        """
        As in Swift, a reverse listing with a delimiter asks each shard
        down to its lower bound, so the shard, not the request's
        C{end_marker}, decides which pseudo-directory it leaves out: here
        the sharded container lists C{a/} where the same objects unsharded
        list nothing.
        """
        self.server.add("a", "q", ["a/aa"], ["a/a"])
        self.server.add("b", "q", ["a/aa"])
        query = "end_marker=a%2F&delimiter=/&reverse=true&format=json"
        self.assertEqual(self.get(f"/v1/a/q?{query}").body, b'[{"subdir": "a/"}]')
        self.assertEqual(self.get(f"/v1/b/q?{query}").body, b"[]")
        [shard] = self.server.gets(".shards_a", "q-shard-1")
        self.assertEqual((_query(shard)["marker"], _query(shard)["end_marker"]), ("", "a/a"))

    def test_validation(self) -> None:
        """
        Swift refuses a GET with a query value that is not UTF-8, or a
        limit above the container listing limit, before anything else.
        """
        response = self.get("/v1/a/c?marker=%ff")
        self.assertEqual((response.status, response.body),
                         (400, b'"marker" parameter not valid UTF-8'))
        response = self.get("/v1/a/c?limit=10001")
        self.assertEqual((response.status, response.body), (412, b"Maximum limit is 10000"))
        self.assertEqual(self.server.requests, [])

    def test_reseller(self) -> None:
        """
        A reseller sees whether sharding is allowed, and may set it.
        """
        request = self.proxy.request("HEAD", "/v1/a/c")
        self.assertNotIn("X-Container-Sharding", _run(self.clock, request).headers)
        self.server.containers[("a", "c")].meta["X-Container-Sysmeta-Sharding"] = "True"
        proxy = self.fresh_proxy()
        original = proxy.app.handle

        async def as_reseller(request: Any) -> SwiftResponse:
            request.environ["reseller_request"] = True
            return await original(request)

        proxy.app.handle = as_reseller  # type: ignore[method-assign]
        response = _run(self.clock, proxy.request("HEAD", "/v1/a/c"))
        self.assertEqual(response.headers["X-Container-Sharding"], "True")
        response = _run(self.clock, proxy.request("HEAD", "/v1/a/missing"))
        self.assertEqual((response.status, response.headers["X-Container-Sharding"]),
                         (404, "False"))
        _run(self.clock, proxy.request("POST", "/v1/a/c", {"X-Container-Sharding": "off"}))
        post = [r for r in self.server.requests if r.method == "POST"][-1]
        self.assertEqual(post.headers["X-Container-Sysmeta-Sharding"], "False")


class RawListingTests(_ShardedCase):
    """
    A JSON listing no rewrite changes is sent as the container server
    wrote it; any other is parsed, rewritten and rendered again.
    """

    def setUp(self) -> None:
        super().setUp()
        self.server.add("b", "c", NAMES)
        self.rewrites: tuple[Any, ...] = ()
        original = self.proxy.app.handle

        async def with_rewrites(request: Any) -> SwiftResponse:
            request.environ[LISTING_REWRITES_ENVIRON_KEY] = self.rewrites
            return await original(request)

        self.proxy.app.handle = with_rewrites  # type: ignore[method-assign]

    def served(self) -> bytes:
        """
        The body of the container server's last answer.
        """
        body = json.dumps([_entry(name) for name in sorted(NAMES)]).encode("ascii")
        [request] = self.server.gets("b", "c")[-1:]
        self.assertEqual(_query(request)["format"], "json")
        return body

    def test_passedThrough(self) -> None:
        """
        With no rewrite, a JSON listing is the container server's body,
        unparsed, with the headers a rendered one has.
        """
        self.patch(container_controller, "apply_listing_rewrites", None)
        response = self.get("/v1/b/c?format=json")
        self.assertEqual((response.status, response.body), (200, self.served()))
        rendered = render_container_listing(json.loads(self.served()), "application/json",
                                            "c", {})
        self.assertEqual(response.headers["Content-Type"], rendered.headers["Content-Type"])
        self.assertEqual(response.headers["Content-Length"],
                         rendered.headers["Content-Length"])
        self.assertEqual(response.headers["Accept-Ranges"], "bytes")
        self.assertEqual(response.headers["X-Container-Object-Count"], str(len(NAMES)))
        self.assertNotIn("X-Put-Timestamp", response.headers)

    def test_rewrites(self) -> None:
        """
        A rewrite that does not say it leaves the listing unchanged, or says
        it changes it, has it parsed and rewritten; one that leaves it
        unchanged, with the others, is not called.
        """
        def mark(items: list[Any]) -> list[Any]:
            return [dict(item, marked=True) for item in items]

        def unchanged(items: list[Any]) -> list[Any]:
            raise AssertionError("called")

        setattr(unchanged, RAW_UNCHANGED_ATTRIBUTE, lambda body: True)
        self.rewrites = (unchanged,)
        self.assertEqual(self.get("/v1/b/c?format=json").body, self.served())
        for changing in (mark, _said(mark, False)):
            self.rewrites = (changing,)
            response = self.get("/v1/b/c?format=json")
            assert isinstance(response.body, bytes)
            self.assertEqual(json.loads(response.body), mark(json.loads(self.served())))
        self.rewrites = (_said(mark, True),)
        self.assertEqual(self.get("/v1/b/c?format=json").body, self.served())

    def test_otherFormats(self) -> None:
        """
        Plain and XML listings are rendered from the parsed listing.
        """
        for query, media_type in (("format=plain", "text/plain"), ("format=xml",
                                                                   "application/xml")):
            response = self.get(f"/v1/b/c?{query}")
            expected = render_container_listing(json.loads(self.served()), media_type, "c", {})
            self.assertEqual(response.body, expected.body)

    def test_reserved(self) -> None:
        """
        A listing with a reserved name is parsed to filter it out, unless
        reserved names are allowed.
        """
        self.server.containers[("b", "c")].objects.insert(0, "\x00hidden")
        response = self.get("/v1/b/c?format=json")
        self.assertEqual(self.names(response), sorted(NAMES))
        response = self.get("/v1/b/c?format=json",
                            {"X-Backend-Allow-Reserved-Names": "true"})
        self.assertEqual(self.names(response), sorted(NAMES + ["\x00hidden"]))

    def test_empty(self) -> None:
        """
        An empty container's JSON listing is an empty list.
        """
        self.server.add("b", "empty", [])
        response = self.get("/v1/b/empty?format=json")
        self.assertEqual((response.status, response.body), (200, b"[]"))


def _said(rewrite: Any, unchanged: bool) -> Any:
    """
    C{rewrite}, as another function, saying of every raw listing that it
    leaves it C{unchanged} or not.
    """
    def said(items: list[Any]) -> Any:
        return rewrite(items)

    setattr(said, RAW_UNCHANGED_ATTRIBUTE, lambda body: unchanged)
    return said


# Names of one to three short segments, so that pseudo-directories span
# shards often.
_segments = st.text("ab\u00e9", min_size=1, max_size=2)
_paths = st.lists(_segments, min_size=1, max_size=3).map("/".join)


@st.composite
def _listing_case(draw: Any) -> tuple[list[str], list[str], str]:
    names = draw(st.lists(_paths, max_size=25, unique=True))
    bounds = draw(st.lists(_paths, max_size=4))
    alphabet = "ab/\u00e9"
    pieces = []
    limit = draw(st.one_of(st.none(), st.integers(1, 8)))
    if limit is not None:
        pieces.append(f"limit={limit}")
    for name in ("marker", "end_marker", "prefix"):
        value = draw(st.one_of(st.none(), st.text(alphabet, max_size=3)))
        if value is not None:
            pieces.append(f"{name}={quote(value.encode('utf-8'), safe='')}")
    # A reverse listing with a delimiter is left out: there Swift's shards
    # drop a pseudo-directory equal to their lower bound where the whole
    # container drops one equal to the request's end_marker (see
    # ListingTests.test_reverseDelimiterQuirk).
    if draw(st.booleans()):
        pieces.append("delimiter=" + quote(draw(st.sampled_from(["/", "/", "b", "a/"]))))
    elif draw(st.booleans()):
        pieces.append("reverse=true")
    pieces.append("format=" + draw(st.sampled_from(["json", "xml", "plain"])))
    return names, bounds, "&".join(pieces)


class ListingPropertyTests(SynchronousTestCase):
    @settings(max_examples=150)
    @given(_listing_case(), st.sampled_from([600, 0]))
    def test_likeUnsharded(self, case: tuple[list[str], list[str], str], cache: int
                           ) -> None:
        """
        Whatever the shards and the query, a sharded container lists (fresh
        and from cached namespaces) what the same objects unsharded list.
        """
        names, bounds, query = case
        self.patch(nodes, "_RANDOM", InRingOrder())
        clock = Clock()
        cluster = FakeCluster(clock)
        server = FakeContainerServer(cluster)
        server.add("a", "c", names, bounds)
        server.add("b", "c", names)
        proxy = make_proxy(clock, cluster, recheck_listing_shard_ranges=cache)
        flat = _run(clock, proxy.request("GET", f"/v1/b/c?{query}"))
        for _ in range(2):
            sharded = _run(clock, proxy.request("GET", f"/v1/a/c?{query}"))
            self.assertEqual((sharded.status, sharded.body), (flat.status, flat.body))


class UpdateTests(_ShardedCase):
    def setUp(self) -> None:
        super().setUp()
        for node in self.cluster.objects:
            node.answer(204)
        self.namespaces = self.server.add("a", "c", NAMES, ["b", "m"])
        self.server.add("b", "c", NAMES)

    def updates(self) -> list[HeaderDict]:
        return [r.headers for r in self.cluster.object_requests("DELETE")]

    def delete(self, path: str) -> SwiftResponse:
        response: SwiftResponse = _run(self.clock, self.proxy.request("DELETE", path))
        return response

    def test_unsharded(self) -> None:
        """
        An unsharded container takes its objects' updates itself.
        """
        self.assertEqual(self.delete("/v1/b/c/o").status, 204)
        for headers in self.updates():
            self.assertEqual(headers["X-Container-Root-Db-State"], "unsharded")
            self.assertNotIn("X-Backend-Quoted-Container-Path", headers)
            self.assertEqual(headers["X-Container-Partition"], "17")
        self.assertEqual(len(self.updates()), 3)
        self.assertEqual(self.server.gets("b", "c"), [])

    def test_sharded(self) -> None:
        """
        A sharded container's object update goes to the shard holding the
        name, found among the updating namespaces, which are cached.
        """
        self.assertEqual(self.delete("/v1/a/c/e").status, 204)
        self.assertEqual(self.delete("/v1/a/c/%C3%A9").status, 204)
        paths = [h["X-Backend-Quoted-Container-Path"] for h in self.updates()]
        self.assertEqual(paths, [".shards_a/c-shard-1"] * 3 + [".shards_a/c-shard-2"] * 3)
        self.assertEqual({h["X-Container-Root-Db-State"] for h in self.updates()},
                         {"sharded"})
        [asked] = self.server.gets("a", "c")
        self.assertEqual(asked.headers["X-Backend-Record-Type"], "shard")
        self.assertEqual(asked.headers["X-Backend-Record-Shard-Format"], "namespace")
        self.assertEqual(_query(asked), {"format": "json", "states": "updating"})
        stored = _run(self.clock, self.proxy.context.info_store.get(
            updating_namespaces_key("a", "c")))
        self.assertEqual(stored, [[n.lower, n.name] for n in self.namespaces])

    def test_quoted(self) -> None:
        """
        The shard's path is sent quoted.
        """
        self.server.add("a", "q", NAMES, ["m"])
        root = self.server.containers[("a", "q")]
        root.namespaces = [Namespace(".shards_a/q \u00e9-0", "", "m"),
                           Namespace(".shards_a/q-1", "m", "")]
        self.delete("/v1/a/q/b")
        self.assertEqual(self.updates()[0]["X-Backend-Quoted-Container-Path"],
                         ".shards_a/q%20%C3%A9-0")

    def test_noCache(self) -> None:
        """
        With C{recheck_updating_shard_ranges = 0} the root is asked for the
        one namespace holding the name, every time.
        """
        self.proxy = self.fresh_proxy(recheck_updating_shard_ranges=0)
        self.delete("/v1/a/c/x")
        self.delete("/v1/a/c/y")
        asked = [_query(r) for r in self.server.gets("a", "c")]
        self.assertEqual([q.get("includes") for q in asked], ["x", "y"])
        self.assertEqual({h["X-Backend-Quoted-Container-Path"] for h in self.updates()},
                         {".shards_a/c-shard-2"})

    def test_noNamespaces(self) -> None:
        """
        When the root gives no namespaces, it takes the update itself.
        """
        self.server.broken.add(("a", "c"))
        from twisted_proxy.info.cache import ContainerInfo

        info: ContainerInfo = {"status": 200, "sharding_state": "sharding"}
        from twisted_proxy.controllers.obj import ObjectController
        from twisted_proxy.controllers.shards import container_update_headers
        from twisted_proxy.swift.http import SwiftRequest
        request = SwiftRequest("PUT", b"/v1/a/c/o")
        request.environ["swift.trans_id"] = "tx"
        controller = ObjectController(self.proxy.context, request, "a", "c", "o")
        updates = _run(self.clock, Deferred.fromCoroutine(
            container_update_headers(controller, info)))
        self.assertEqual([u["X-Container-Root-Db-State"] for u in updates], ["sharding"] * 3)
        self.assertNotIn("X-Backend-Quoted-Container-Path", updates[0])

    def test_sharding(self) -> None:
        """
        A sharding container's updates go to shards too.
        """
        self.server.containers[("a", "c")].state = "sharding"
        self.delete("/v1/a/c/n")
        self.assertEqual(self.updates()[0]["X-Backend-Quoted-Container-Path"],
                         ".shards_a/c-shard-2")
        self.assertEqual(self.updates()[0]["X-Container-Root-Db-State"], "sharding")


class InfoTests(SynchronousTestCase):
    def test_shardingState(self) -> None:
        """
        Container info keeps the sharding state, unsharded by default.
        """
        info = headers_to_container_info(HeaderDict({"X-Backend-Sharding-State": "sharded"}),
                                         200)
        self.assertEqual(info["sharding_state"], "sharded")
        self.assertEqual(headers_to_container_info(HeaderDict(), 200)["sharding_state"],
                         "unsharded")

    def test_headers(self) -> None:
        """
        A listing's headers are rebuilt from container info, or not at all
        when it lacks what they need.
        """
        backend = HeaderDict({
            "X-Backend-Storage-Policy-Index": "1", "X-Container-Object-Count": "3",
            "X-Container-Bytes-Used": "9", "X-Backend-Sharding-State": "sharded",
            "X-Timestamp": "1600000000.00000", "X-Put-Timestamp": "1600000001.50000",
            "X-Container-Read": ".r:*", "X-Container-Meta-Color": "blue",
            "X-Container-Sysmeta-Thing": "x"})
        headers = container_info_headers(headers_to_container_info(backend, 200))
        assert headers is not None
        for name, value in backend.items():
            self.assertEqual(headers[name], value, name)
        self.assertEqual(headers["Last-Modified"], "Sun, 13 Sep 2020 12:26:42 GMT")
        self.assertIsNone(container_info_headers(headers_to_container_info(HeaderDict(), 200)))

    def test_namespaces(self) -> None:
        """
        Namespaces are kept in the request's context and in the store for
        the time given; concurrent misses share one fetch; a fetch finding
        none stores nothing.
        """
        clock = Clock()
        store = MemoryInfoStore(clock)
        cache = InfoCache(store, 60, 60)
        waiting: list[Deferred[Optional[list[list[str]]]]] = []

        def fetch() -> Deferred[Optional[list[list[str]]]]:
            waiting.append(Deferred())
            return waiting[-1]

        first = Deferred.fromCoroutine(cache.get_namespaces({}, "k", fetch, 600))
        second = Deferred.fromCoroutine(cache.get_namespaces({}, "k", fetch, 600))
        self.assertEqual(len(waiting), 1)
        waiting[0].callback([["", "a/c"]])
        self.assertEqual(self.successResultOf(first), [["", "a/c"]])
        self.assertEqual(self.successResultOf(second), [["", "a/c"]])
        clock.advance(599)
        self.assertEqual(self.successResultOf(store.get("k")), [["", "a/c"]])
        clock.advance(1)
        self.assertIsNone(self.successResultOf(store.get("k")))
        environ: dict[str, Any] = {}
        third = Deferred.fromCoroutine(cache.get_namespaces(environ, "k", fetch, 600))
        waiting[1].callback(None)
        self.assertIsNone(self.successResultOf(third))
        self.assertIsNone(self.successResultOf(store.get("k")))
        self.successResultOf(Deferred.fromCoroutine(
            cache.store_namespaces(environ, "k", [["", "x/y"]], 0)))
        self.assertEqual(self.successResultOf(Deferred.fromCoroutine(cache.peek(environ, "k"))),
                         [["", "x/y"]])
        self.assertIsNone(self.successResultOf(store.get("k")))
