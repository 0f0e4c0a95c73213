"""
Tests for L{twisted_proxy.swift.expirer} and for what the proxy does with
it: the expirer-queue headers of object writes, C{allow_open_expired},
and the C{[app:proxy-server]} options that came with it
(C{deny_host_headers}, C{max_containers_whitelist}, C{workers = auto},
the deprecated expirer options).

The expected task containers were computed with Swift 2.38.3's own
C{ExpirerConfig} for the hash prefix and suffix of
L{tests.fakenodes.make_swift_conf} (C{""} and C{"suffix"}); the expected
headers per backend request follow Swift's C{_backend_requests}.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IBodyProducer, IResponse
from zope.interface import implementer

from tests.fakenodes import (
    PART,
    FakeCluster,
    InRingOrder,
    NodeRequest,
    Proxy,
    Reply,
    make_proxy,
)
from twisted_proxy.backend import nodes
from twisted_proxy.config import ConfigError, ProxySettings, load_config
from twisted_proxy.swift.expirer import (
    CLEAN_QUEUE_HEADER,
    DEFAULT_CONTAINER_DIVISOR,
    ExpirerQueue,
    async_delete_rows,
    container_updates_needed,
    expirer_slot_headers,
    open_expired,
    task_object_name,
)
from twisted_proxy.swift.http import BytesBody, HeaderDict, SwiftRequest, SwiftResponse
from twisted_proxy.swift.timestamp import Timestamp

#: A delete-at time, and the task container Swift 2.38.3 files C{a/c/o}
#: under for it (the path hash's shard is 95).
DELETE_AT = 1700000000
TASK_CONTAINER = "1699919905"

#: The clock of the proxy tests: well before L{DELETE_AT}.
NOW = 1699990000.0


def _queue(**options: Any) -> ExpirerQueue:
    return ExpirerQueue.configure(b"", b"suffix", **options)


def _node(index: int) -> dict[str, Any]:
    return {"ip": f"10.9.0.{index}", "port": 6201, "device": f"sd{index}"}


class ExpirerQueueTests(SynchronousTestCase):
    """
    L{ExpirerQueue}: the queue account and task containers, as Swift's
    C{ExpirerConfig} computes them.
    """

    def test_defaults(self) -> None:
        """
        The queue account is C{.expiring_objects}; the divisor a day.
        """
        queue = _queue()
        self.assertEqual(queue.account, ".expiring_objects")
        self.assertEqual(queue.divisor, DEFAULT_CONTAINER_DIVISOR)
        self.assertEqual(DEFAULT_CONTAINER_DIVISOR, 86400)

    def test_taskContainer(self) -> None:
        """
        The task container is the delete-at time rounded down to the
        divisor, less the path hash modulo 100, ten digits.
        """
        queue = _queue()
        self.assertEqual(queue.task_container(DELETE_AT, "a", "c", "o"), TASK_CONTAINER)
        self.assertEqual(
            queue.task_container(1700000000, "AUTH_test", "cont", "obj"), "1699919913")
        # The same divisor window: the same container.
        self.assertEqual(queue.task_container(1700086399, "a", "c", "o"), "1700006305")
        self.assertEqual(queue.task_container(86400, "a", "c", "o"), "0000086305")

    def test_taskContainerNeverNegative(self) -> None:
        """
        Early delete-at times clamp to container C{0000000000}, as Swift's
        normalising does.
        """
        self.assertEqual(_queue().task_container(50, "a", "c", "o"), "0000000000")

    def test_nonASCIINames(self) -> None:
        """
        Names are hashed as the UTF-8 bytes of the path, as Swift's proxy
        hashes its decoded names; text is UTF-8 encoded.
        """
        queue = _queue()
        self.assertEqual(
            queue.task_container(1700000000, "AUTH_test", "c\u00e9", "o\u20ac"),
            "1699919962")
        self.assertEqual(
            queue.task_container(1700000000, b"AUTH_test", "c\u00e9".encode("utf-8"),
                                 "o\u20ac".encode("utf-8")),
            "1699919962")

    def test_deprecatedOptions(self) -> None:
        """
        C{expiring_objects_account_name} names the queue account after the
        auto-create prefix; C{expiring_objects_container_divisor} sets the
        window.
        """
        queue = _queue(account_name="exp", divisor=3600)
        self.assertEqual(queue.account, ".exp")
        self.assertEqual(queue.task_container(1700000000, "a", "c", "o"), "1699999105")

    def test_autoCreatePrefix(self) -> None:
        """
        The queue account starts with C{auto_create_account_prefix}.
        """
        self.assertEqual(_queue(auto_create_account_prefix="_").account,
                         "_expiring_objects")

    def test_smallDivisorRefused(self) -> None:
        """
        A divisor of 100 or less is refused, as Swift refuses to start.
        """
        self.assertRaises(ValueError, _queue, divisor=100)
        self.assertEqual(_queue(divisor=101).divisor, 101)

    def test_hashSecretsNotInRepr(self) -> None:
        """
        The hash prefix and suffix stay out of C{repr}, and so out of logs.
        """
        self.assertNotIn("suffix", repr(_queue()))

    def test_taskObjectName(self) -> None:
        """
        A queue entry is named C{<delete-at, ten digits>-a/c/o}.
        """
        self.assertEqual(task_object_name(1700000000, "a", "c", "o/p"),
                         "1700000000-a/c/o/p")
        self.assertEqual(task_object_name(86400, "a", "c", "o"), "0000086400-a/c/o")
        self.assertEqual(task_object_name(86400.5, "a", "c", "o", high_precision=True),
                         "0000086400.50000-a/c/o")

    def test_asyncDeleteRows(self) -> None:
        """
        The rows of an asynchronous delete are those of Swift 2.38.3's
        C{make_delete_jobs}.
        """
        rows = async_delete_rows(Timestamp("1700000000.12345"), "AUTH_test", "segs",
                                 ["one", "tw\u00e9"])
        self.assertEqual(json.dumps(rows, sort_keys=True), (
            '[{"content_type": "application/async-deleted", "created_at": '
            '"1700000000.12345", "deleted": 0, "etag": "d41d8cd98f00b204e9800998ecf8427e", '
            '"name": "1700000000.12345-AUTH_test/segs/one", "size": 0, '
            '"storage_policy_index": 0}, {"content_type": "application/async-deleted", '
            '"created_at": "1700000000.12345", "deleted": 0, "etag": '
            '"d41d8cd98f00b204e9800998ecf8427e", "name": '
            '"1700000000.12345-AUTH_test/segs/tw\\u00e9", "size": 0, '
            '"storage_policy_index": 0}]'))
        self.assertEqual(async_delete_rows(Timestamp(1), "a", "c", []), [])


class SlotHeadersTests(SynchronousTestCase):
    """
    L{container_updates_needed} and L{expirer_slot_headers}: which backend
    request names which queue container node.
    """

    def test_updatesNeeded(self) -> None:
        """
        Enough updates that a quorum of object writes reaches a quorum of
        container replicas, and one per container replica at least.
        """
        self.assertEqual([container_updates_needed(3, n) for n in range(1, 7)],
                         [3, 3, 3, 4, 4, 5])
        self.assertEqual(container_updates_needed(1, 3), 2)
        self.assertEqual(container_updates_needed(3, 6, object_quorum=3), 5)

    def test_updatesNeededErasureCoded(self) -> None:
        """
        An erasure-coded policy's own quorum sets the count: a 4+2 policy
        (quorum 5) needs three, a 10+2 one of twelve archives four.
        """
        self.assertEqual(container_updates_needed(3, 6, object_quorum=5), 3)
        self.assertEqual(container_updates_needed(3, 12, object_quorum=10), 4)

    def test_cleanQueueOnly(self) -> None:
        """
        Without a queue entry (a DELETE, or a write without
        C{X-Delete-At}), only the first two requests ask the object servers
        to remove the old queue entry.
        """
        self.assertEqual(expirer_slot_headers(4, 3), [
            {CLEAN_QUEUE_HEADER: "t"}, {CLEAN_QUEUE_HEADER: "t"},
            {CLEAN_QUEUE_HEADER: "f"}, {CLEAN_QUEUE_HEADER: "f"},
        ])
        self.assertEqual(expirer_slot_headers(0, 3), [])

    def test_threeReplicas(self) -> None:
        """
        Three object requests and three queue container nodes: the last
        request names the first node, the first request the last one.
        """
        slots = expirer_slot_headers(3, 3, ("1699919990", 5, [_node(0), _node(1), _node(2)]))
        self.assertEqual(slots, [
            {CLEAN_QUEUE_HEADER: "t", "X-Delete-At-Container": "1699919990",
             "X-Delete-At-Partition": "5", "X-Delete-At-Host": "10.9.0.2:6201",
             "X-Delete-At-Device": "sd2"},
            {CLEAN_QUEUE_HEADER: "t", "X-Delete-At-Container": "1699919990",
             "X-Delete-At-Partition": "5", "X-Delete-At-Host": "10.9.0.1:6201",
             "X-Delete-At-Device": "sd1"},
            {CLEAN_QUEUE_HEADER: "f", "X-Delete-At-Container": "1699919990",
             "X-Delete-At-Partition": "5", "X-Delete-At-Host": "10.9.0.0:6201",
             "X-Delete-At-Device": "sd0"},
        ])

    def test_moreObjectRequests(self) -> None:
        """
        Four object requests need four updates: the nodes are cycled, so
        the first node is named twice (by the last and the first request).
        """
        slots = expirer_slot_headers(4, 3, ("c", 5, [_node(0), _node(1), _node(2)]))
        self.assertEqual([s["X-Delete-At-Host"] for s in slots],
                         ["10.9.0.0:6201", "10.9.0.2:6201", "10.9.0.1:6201",
                          "10.9.0.0:6201"])

    def test_severalNodesOneRequest(self) -> None:
        """
        A single object request names every queue container node, comma
        separated, hosts and devices in the same order.
        """
        [slot] = expirer_slot_headers(1, 3, ("c", 5, [_node(0), _node(1), _node(2)]))
        self.assertEqual(slot["X-Delete-At-Host"],
                         "10.9.0.0:6201,10.9.0.1:6201,10.9.0.2:6201")
        self.assertEqual(slot["X-Delete-At-Device"], "sd0,sd1,sd2")

    def test_fewerUpdatesThanRequests(self) -> None:
        """
        With one container replica and five object requests, the
        C{container_updates_needed} (three) requests counted from the last
        carry the queue headers; the others carry none.
        """
        slots = expirer_slot_headers(5, 1, ("c", 5, [_node(0)]))
        self.assertEqual(["X-Delete-At-Host" in s for s in slots],
                         [False, False, True, True, True])
        self.assertEqual(slots[0], {CLEAN_QUEUE_HEADER: "t"})

    def test_openExpired(self) -> None:
        """
        L{open_expired} needs both the proxy's permission and a true
        C{X-Open-Expired}.
        """
        self.assertTrue(open_expired(True, "true"))
        self.assertTrue(open_expired(True, "Yes"))
        self.assertFalse(open_expired(True, "false"))
        self.assertFalse(open_expired(True, None))
        self.assertFalse(open_expired(False, "true"))
        # As Swift's config_true_value: the HTTP parser strips header
        # values, so a padded word never arrives and is not taken for yes.
        self.assertFalse(open_expired(True, " yes "))


@implementer(IAgent)
class _BodyAgent:
    """
    The cluster's agent, reading a request's body before the node sees the
    request (the fake nodes ignore bodies).
    """

    def __init__(self, agent: IAgent) -> None:
        self._agent = agent
        #: The bodies read, with their methods and URIs.
        self.bodies: list[tuple[bytes, bytes, bytes]] = []

    def request(self, method: bytes, uri: bytes, headers: Optional[Headers] = None,
                bodyProducer: Optional[IBodyProducer] = None) -> "Deferred[IResponse]":
        if bodyProducer is None:
            return self._agent.request(method, uri, headers, None)
        consumer = _Sink()
        done = bodyProducer.startProducing(consumer)

        def read(_: object) -> "Deferred[IResponse]":
            self.bodies.append((method, uri, consumer.data))
            return self._agent.request(method, uri, headers, None)

        return done.addCallback(read)


class _Sink:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def registerProducer(self, producer: object, streaming: bool) -> None:
        pass

    def unregisterProducer(self) -> None:
        pass


def _container_write_ok(request: NodeRequest) -> Reply:
    """
    A container node: 204 to the proxy's HEAD (an existing container of
    policy 0), 201 to a PUT.
    """
    if request.method == "PUT":
        return Reply(201)
    return Reply(204, {"X-Backend-Storage-Policy-Index": "0",
                       "X-Container-Object-Count": "0",
                       "X-Container-Bytes-Used": "0",
                       "X-Put-Timestamp": "1600000000.00000",
                       "X-Timestamp": "1600000000.00000"})


class _ProxyBase(SynchronousTestCase):
    """
    A proxy over a fake cluster whose object nodes accept writes, tried in
    ring order.
    """

    def setUp(self) -> None:
        self.patch(nodes, "_RANDOM", InRingOrder())
        self.clock = Clock()
        self.clock.advance(NOW)
        self.cluster = FakeCluster(self.clock)
        self.cluster.agent = _BodyAgent(self.cluster.agent)  # type: ignore[assignment]
        for node in self.cluster.objects:
            node.handler = self._object_write
        for node in self.cluster.containers:
            node.handler = _container_write_ok

    @staticmethod
    def _object_write(request: NodeRequest) -> Reply:
        status = {"PUT": 201, "POST": 202, "DELETE": 204}.get(request.method, 404)
        headers = {"Etag": '"d41d8cd98f00b204e9800998ecf8427e"'} if status == 201 else {}
        return Reply(status, headers)

    def proxy(self, **settings: Any) -> Proxy:
        return make_proxy(self.clock, self.cluster, **settings)

    def send(self, proxy: Proxy, method: str, path: str,
             headers: Optional[dict[str, str]] = None,
             environ: Optional[dict[str, Any]] = None) -> SwiftResponse:
        request = SwiftRequest(method, path.encode("latin-1"), HeaderDict(headers or {}),
                               environ=environ)
        self.request = request
        d = proxy.app(request)
        for _ in range(20):
            self.clock.advance(0)
        self.clock.advance(1)
        response: SwiftResponse = self.successResultOf(d)
        return response

    def object_headers(self, method: str) -> list[dict[str, Optional[str]]]:
        """
        The expirer headers of each object node's C{method} request, in
        ring order of the nodes.
        """
        names = ("X-Delete-At", "X-Delete-At-Container", "X-Delete-At-Partition",
                 "X-Delete-At-Host", "X-Delete-At-Device", CLEAN_QUEUE_HEADER,
                 "X-Container-Host")
        found = []
        for node in self.cluster.primaries:
            [request] = [r for r in node.requests if r.method == method]
            found.append({name: request.headers.get(name) for name in names})
        return found


def _expected(delete_at: Optional[str]) -> list[dict[str, Optional[str]]]:
    """
    What Swift sends the three object primaries of the fake cluster for a
    write with C{X-Delete-At: delete_at} of C{/v1/a/c/o}: each names one
    container node for the listing, and one node of the queue's task
    container (the fake container ring puts it on the same three nodes,
    in reverse).
    """
    expected = []
    for index in range(3):
        queued = delete_at is not None
        expected.append({
            "X-Delete-At": delete_at,
            "X-Delete-At-Container": TASK_CONTAINER if queued else None,
            "X-Delete-At-Partition": str(PART) if queued else None,
            "X-Delete-At-Host": f"10.0.1.{3 - index}:6201" if queued else None,
            "X-Delete-At-Device": "sdc" if queued else None,
            CLEAN_QUEUE_HEADER: "t" if index < 2 else "f",
            "X-Container-Host": f"10.0.1.{index + 1}:6201",
        })
    return expected


class ObjectWriteTests(_ProxyBase):
    """
    Object PUT, POST and DELETE send the expirer-queue headers Swift sends.
    """

    def test_putDeleteAt(self) -> None:
        """
        A PUT with C{X-Delete-At} names the task container, its partition
        and one of its nodes to each object node.
        """
        proxy = self.proxy()
        response = self.send(proxy, "PUT", "/v1/a/c/o", {
            "X-Delete-At": str(DELETE_AT), "Content-Length": "0"})
        self.assertEqual(response.status, 201)
        self.assertEqual(self.object_headers("PUT"), _expected(str(DELETE_AT)))
        self.assertEqual(self.request.environ["swift.log_info"],
                         [f"x-delete-at:{DELETE_AT}"])

    def test_putDeleteAfter(self) -> None:
        """
        C{X-Delete-After} becomes the C{X-Delete-At} the queue is computed
        from.
        """
        proxy = self.proxy()
        after = DELETE_AT - int(NOW)
        response = self.send(proxy, "PUT", "/v1/a/c/o", {
            "X-Delete-After": str(after), "Content-Length": "0"})
        self.assertEqual(response.status, 201)
        self.assertEqual(self.object_headers("PUT"), _expected(str(DELETE_AT)))

    def test_putWithoutDeleteAt(self) -> None:
        """
        A PUT without expiry queues nothing, but still tells the first two
        object nodes to clean an old queue entry.
        """
        proxy = self.proxy()
        response = self.send(proxy, "PUT", "/v1/a/c/o", {"Content-Length": "0"})
        self.assertEqual(response.status, 201)
        self.assertEqual(self.object_headers("PUT"), _expected(None))
        self.assertNotIn("swift.log_info", self.request.environ)

    def test_postDeleteAt(self) -> None:
        """
        A POST setting C{X-Delete-At} sends the same queue headers as a
        PUT.
        """
        proxy = self.proxy()
        response = self.send(proxy, "POST", "/v1/a/c/o", {"X-Delete-At": str(DELETE_AT)})
        self.assertEqual(response.status, 202)
        self.assertEqual(self.object_headers("POST"), _expected(str(DELETE_AT)))

    def test_nonASCIIName(self) -> None:
        """
        The task container of a non-ASCII name is the one Swift's proxy
        computes: from the UTF-8 bytes the client sent.
        """
        proxy = self.proxy()
        self.send(proxy, "POST", "/v1/AUTH_test/c%C3%A9/o%E2%82%AC",
                  {"X-Delete-At": str(DELETE_AT)})
        self.assertEqual({h["X-Delete-At-Container"] for h in self.object_headers("POST")},
                         {"1699919962"})

    def test_delete(self) -> None:
        """
        A DELETE names no queue container (the object servers queue the
        removal of the old entry themselves), and only two of its requests
        ask for that removal.
        """
        proxy = self.proxy()
        response = self.send(proxy, "DELETE", "/v1/a/c/o", {"X-Delete-At": str(DELETE_AT)})
        self.assertEqual(response.status, 204)
        headers = self.object_headers("DELETE")
        self.assertEqual([h[CLEAN_QUEUE_HEADER] for h in headers], ["t", "t", "f"])
        self.assertEqual([h["X-Delete-At-Host"] for h in headers], [None, None, None])

    def test_pluginCleanQueueStands(self) -> None:
        """
        A clean-queue header a plugin set for the backend requests is kept
        on every request, as Swift only sets a default.
        """
        proxy = self.proxy()
        self.send(proxy, "DELETE", "/v1/a/c/o",
                  environ={"swift.backend_headers": {CLEAN_QUEUE_HEADER: "no"}})
        self.assertEqual([h[CLEAN_QUEUE_HEADER] for h in self.object_headers("DELETE")],
                         ["no", "no", "no"])

    def test_deprecatedOptions(self) -> None:
        """
        The queue account and divisor come from the proxy's settings.
        """
        proxy = self.proxy(expiring_objects_container_divisor=3600,
                           expiring_objects_account_name="exp")
        self.send(proxy, "POST", "/v1/a/c/o", {"X-Delete-At": str(DELETE_AT)})
        self.assertEqual({h["X-Delete-At-Container"] for h in self.object_headers("POST")},
                         {"1699999105"})


class PrivateUpdateTests(_ProxyBase):
    """
    Swift's private container C{UPDATE}, how an asynchronous delete queues
    rows: only for the proxy's own requests.
    """

    def test_update(self) -> None:
        """
        The body goes to every container replica, with the caller's policy
        and a timestamp; their answers are merged.
        """
        for node in self.cluster.containers:
            node.handler = lambda request: Reply(202 if request.method == "UPDATE" else 204)
        proxy = self.proxy()
        agent = self.cluster.agent
        assert isinstance(agent, _BodyAgent)
        rows = b'[{"name": "x"}]'
        request = SwiftRequest("UPDATE", b"/v1/.expiring_objects/1699919905", HeaderDict({
            "X-Backend-Allow-Private-Methods": "True", "Content-Type": "application/json",
            "X-Backend-Storage-Policy-Index": "0"}), BytesBody(rows))
        d = proxy.app(request)
        for _ in range(20):
            self.clock.advance(0)
        self.assertEqual(self.successResultOf(d).status, 202)
        updates = [r for r in self.cluster.requests if r.method == "UPDATE"]
        self.assertEqual(len(updates), 3)
        for update in updates:
            self.assertEqual(update.headers["X-Backend-Storage-Policy-Index"], "0")
            self.assertEqual(update.headers["X-Timestamp"], "%016.05f" % NOW)
            self.assertEqual(update.headers["Content-Type"], "application/json")
            self.assertTrue(update.path.endswith("/.expiring_objects/1699919905"))
        self.assertEqual([body for method, _, body in agent.bodies if method == b"UPDATE"],
                         [rows] * 3)

    def test_clientsRefused(self) -> None:
        """
        Without C{X-Backend-Allow-Private-Methods} (which no client can
        send) an C{UPDATE} is 405, naming the public methods.
        """
        response = self.send(self.proxy(), "UPDATE", "/v1/a/c")
        self.assertEqual(response.status, 405)
        self.assertEqual(response.headers["Allow"], "DELETE, GET, HEAD, OPTIONS, POST, PUT")
        self.assertEqual([r for r in self.cluster.requests if r.method == "UPDATE"], [])
        response = self.send(self.proxy(), "UPDATE", "/v1/a/c/o",
                             {"X-Backend-Allow-Private-Methods": "True"})
        self.assertEqual(response.status, 405)


class OpenExpiredTests(_ProxyBase):
    """
    C{allow_open_expired}: a client's true C{X-Open-Expired} reaches the
    object servers as C{X-Backend-Open-Expired: true} on GET, HEAD and
    POST, only when the proxy allows it.
    """

    def backend_flags(self, method: str) -> list[Optional[str]]:
        return [r.headers.get("X-Backend-Open-Expired")
                for r in self.cluster.object_requests(method)]

    def test_allowed(self) -> None:
        proxy = self.proxy(allow_open_expired=True)
        for method in ("GET", "HEAD", "POST"):
            self.send(proxy, method, "/v1/a/c/o", {"X-Open-Expired": "true"})
            flags = self.backend_flags(method)
            self.assertTrue(flags, method)
            self.assertEqual(set(flags), {"true"}, method)

    def test_notAsked(self) -> None:
        proxy = self.proxy(allow_open_expired=True)
        self.send(proxy, "GET", "/v1/a/c/o", {"X-Open-Expired": "false"})
        self.assertEqual(set(self.backend_flags("GET")), {None})

    def test_notAllowed(self) -> None:
        proxy = self.proxy()
        for method in ("GET", "HEAD", "POST"):
            self.send(proxy, method, "/v1/a/c/o", {"X-Open-Expired": "true"})
            self.assertEqual(set(self.backend_flags(method)), {None}, method)

    def test_notOnDelete(self) -> None:
        """
        Swift does not open expired objects for a DELETE.
        """
        proxy = self.proxy(allow_open_expired=True)
        self.send(proxy, "DELETE", "/v1/a/c/o", {"X-Open-Expired": "true"})
        self.assertEqual(set(self.backend_flags("DELETE")), {None})

    def test_info(self) -> None:
        """
        C{/info} says whether expired objects may be opened, as Swift's does.
        """
        for allowed in (False, True):
            proxy = self.proxy(allow_open_expired=allowed)
            response = self.send(proxy, "GET", "/info")
            assert isinstance(response.body, bytes)
            self.assertIs(json.loads(response.body)["swift"]["allow_open_expired"], allowed)


class DenyHostTests(_ProxyBase):
    """
    C{deny_host_headers}: a request whose host is listed gets 403.
    """

    def test_denied(self) -> None:
        """
        The host is compared without its port; the answer is Swift's 403
        with C{Invalid host header}.
        """
        proxy = self.proxy(deny_host_headers=("bad.example.com", "10.1.1.1"))
        for host in ("bad.example.com", "bad.example.com:8080", "10.1.1.1:80"):
            response = self.send(proxy, "GET", "/v1/a/c/o", {"Host": host})
            self.assertEqual(response.status, 403, host)
            self.assertEqual(response.body, b"Invalid host header")
            self.assertEqual(response.headers["Content-Type"], "text/html; charset=UTF-8")
        self.assertEqual(self.cluster.requests, [])

    def test_everyController(self) -> None:
        """
        Accounts, containers, objects and C{/info} alike.
        """
        proxy = self.proxy(deny_host_headers=("bad",))
        for path in ("/v1/a", "/v1/a/c", "/v1/a/c/o", "/info"):
            self.assertEqual(self.send(proxy, "GET", path, {"Host": "bad"}).status, 403, path)
        response = self.send(proxy, "HEAD", "/v1/a", {"Host": "bad"})
        self.assertEqual((response.status, response.body), (403, b""))

    def test_otherHosts(self) -> None:
        proxy = self.proxy(deny_host_headers=("bad",))
        self.assertEqual(self.send(proxy, "GET", "/info", {"Host": "good:80"}).status, 200)
        self.assertEqual(self.send(proxy, "GET", "/info", {"Host": "bad.com"}).status, 200)

    def test_noHostHeader(self) -> None:
        """
        Without a C{Host} header, the server's own name counts.
        """
        proxy = self.proxy(deny_host_headers=("proxy.local",))
        response = self.send(proxy, "GET", "/info",
                             environ={"SERVER_NAME": "proxy.local", "SERVER_PORT": "80"})
        self.assertEqual(response.status, 403)

    def test_badPathFirst(self) -> None:
        """
        A path no controller serves keeps its own answer.
        """
        proxy = self.proxy(deny_host_headers=("bad",))
        self.assertEqual(self.send(proxy, "GET", "/v2/a", {"Host": "bad"}).status, 400)
        self.assertEqual(self.send(proxy, "GET", "/v1", {"Host": "bad"}).status, 412)
        self.assertEqual(self.send(proxy, "GET", "/nothing", {"Host": "bad"}).status, 412)


class ContainerLimitTests(_ProxyBase):
    """
    C{max_containers_per_account} and C{max_containers_whitelist}.
    """

    def setUp(self) -> None:
        super().setUp()
        for node in self.cluster.accounts:
            node.answer(204, {"X-Account-Container-Count": "5",
                              "X-Put-Timestamp": "1600000000.00000"})
        self.container_exists = False
        for node in self.cluster.containers:
            node.handler = self._container

    def _container(self, request: NodeRequest) -> Reply:
        if request.method == "PUT":
            return Reply(201)
        if self.container_exists:
            return _container_write_ok(request)
        return Reply(404)

    def test_limitReached(self) -> None:
        """
        A new container beyond the limit is refused with Swift's 403.
        """
        proxy = self.proxy(max_containers_per_account=5)
        response = self.send(proxy, "PUT", "/v1/a/new")
        self.assertEqual(response.status, 403)
        self.assertEqual(response.body, b"Reached container limit of 5")
        self.assertEqual(response.headers["Content-Type"], "text/html; charset=UTF-8")

    def test_resellerNotExempt(self) -> None:
        """
        A reseller request is held to the limit too, as in Swift.
        """
        proxy = self.proxy(max_containers_per_account=5)
        response = self.send(proxy, "PUT", "/v1/a/new", environ={"reseller_request": True})
        self.assertEqual(response.status, 403)

    def test_whitelisted(self) -> None:
        """
        An account in C{max_containers_whitelist} has no limit.
        """
        proxy = self.proxy(max_containers_per_account=5,
                           max_containers_whitelist=("x", "a"))
        self.assertEqual(self.send(proxy, "PUT", "/v1/a/new").status, 201)

    def test_existingContainer(self) -> None:
        """
        A PUT to a container that exists is no new container.
        """
        self.container_exists = True
        proxy = self.proxy(max_containers_per_account=5)
        self.assertEqual(self.send(proxy, "PUT", "/v1/a/old").status, 201)

    def test_belowLimit(self) -> None:
        proxy = self.proxy(max_containers_per_account=6)
        self.assertEqual(self.send(proxy, "PUT", "/v1/a/new").status, 201)


_MINIMAL = """\
[pipeline:main]
pipeline = proxy-server

[app:proxy-server]
use = egg:swift#proxy
"""


class OptionTests(SynchronousTestCase):
    """
    The options of C{[app:proxy-server]} this work reads.
    """

    def settings(self, text: str) -> tuple[ProxySettings, list[str]]:
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        path = os.path.join(directory, "proxy-server.conf")
        with open(path, "w") as handle:
            handle.write(text)
        with capturedLogs() as events:
            settings = ProxySettings.from_section(load_config(path))
        return settings, [formatEvent(e).replace(path, "PATH") for e in events]

    def test_defaults(self) -> None:
        settings, logged = self.settings(_MINIMAL)
        self.assertEqual(logged, [])
        self.assertIs(settings.allow_open_expired, False)
        self.assertEqual(settings.deny_host_headers, ())
        self.assertEqual(settings.max_containers_whitelist, ())
        self.assertEqual(settings.expiring_objects_container_divisor, 86400)
        self.assertIsNone(settings.expiring_objects_account_name)

    def test_values(self) -> None:
        """
        Lists are comma separated, blanks and empty items dropped.
        """
        settings, logged = self.settings(
            _MINIMAL + "allow_open_expired = yes\n"
            "deny_host_headers = a.example, b.example ,,\n"
            "max_containers_whitelist = AUTH_a,AUTH_b\n")
        self.assertEqual(logged, [])
        self.assertIs(settings.allow_open_expired, True)
        self.assertEqual(settings.deny_host_headers, ("a.example", "b.example"))
        self.assertEqual(settings.max_containers_whitelist, ("AUTH_a", "AUTH_b"))

    def test_deprecatedWarned(self) -> None:
        """
        The deprecated expirer options work and are warned about, as Swift
        does, from C{[DEFAULT]} too.
        """
        settings, logged = self.settings(
            "[DEFAULT]\nexpiring_objects_container_divisor = 3600\n" + _MINIMAL
            + "expiring_objects_account_name = exp\n")
        self.assertEqual(settings.expiring_objects_container_divisor, 3600)
        self.assertEqual(settings.expiring_objects_account_name, "exp")
        self.assertEqual(logged, [
            "PATH: [app:proxy-server] expiring_objects_container_divisor: deprecated",
            "PATH: [app:proxy-server] expiring_objects_account_name: deprecated; "
            "you need to migrate to the standard .expiring_objects account",
        ])

    def test_badDivisor(self) -> None:
        for value in ("100", "0", "-5", "day"):
            self.assertRaises(
                ConfigError, self.settings,
                _MINIMAL + f"expiring_objects_container_divisor = {value}\n")

    def test_workersAuto(self) -> None:
        """
        C{workers = auto} is one worker per CPU.
        """
        self.patch(os, "cpu_count", lambda: 3)
        for value in ("auto", "AUTO"):
            settings, logged = self.settings(_MINIMAL + f"workers = {value}\n")
            self.assertEqual((settings.workers, logged), (3, []))

    def test_workersAutoUnknownCPUs(self) -> None:
        self.patch(os, "cpu_count", lambda: None)
        settings, _ = self.settings(_MINIMAL + "workers = auto\n")
        self.assertEqual(settings.workers, 1)

    def test_workersBad(self) -> None:
        for value in ("automatic", "-1", "two"):
            self.assertRaises(ConfigError, self.settings, _MINIMAL + f"workers = {value}\n")
