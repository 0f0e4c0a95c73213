"""
End to end: Swift's own C{swift-container-sync} daemon syncs a container to
another through twisted-proxy, with the all-in-one cluster's realm
(C{//aio/aio_endpoint}): it reads the source's rows on the container
servers, and sends the objects (and deletions) to the proxy signed with
the realm's key, which the C{container_sync} plugin checks in place of a
token.

One all-in-one cluster (real Swift storage servers, with tempauth in front)
serves every test of this module; it is stopped by process id, also on
failure. The daemon runs once per container server, from a copy of that
server's configuration.
"""

from __future__ import annotations

import json
import uuid
from typing import Optional

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.aioproxy import AioCluster, Reply, SharedFixture, auth, request

#: This cluster's name in its own realms file.
_CURRENT = "//aio/aio_endpoint"


class _Cluster(AioCluster):
    """
    twisted-proxy with tempauth and container_sync in front of its
    all-in-one cluster.
    """

    def __init__(self) -> None:
        super().__init__(
            "csync", aio={"devices": 4, "replicas": 3, "part_power": 8},
            filters=("catch_errors", "gatekeeper", "healthcheck", "proxy-logging", "cache",
                     "container_sync", "tempauth"),
            sections={"filter:container_sync": {"current": _CURRENT},
                      "filter:tempauth": {"user_test_tester": "testing .admin"}},
            programs=("swift-container-sync",))

    def run_container_sync(self) -> str:
        """
        One pass of C{swift-container-sync} on every container server; the
        logs.
        """
        confs = self.server_confs("container", {"container-sync": {
            "internal_client_conf_path": self.internal_client_conf()}})
        return self.run_once("swift-container-sync", *confs)


_shared_cluster = SharedFixture(_Cluster)


class ContainerSyncTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.cluster = _shared_cluster()
        self.port = self.cluster.port
        self.token, url = auth(self.port)
        self.assertTrue(self.token)
        self.prefix = uuid.uuid4().hex

    def call(self, method: str, path: str, headers: Optional[dict[str, str]] = None,
             body: bytes = b"") -> Reply:
        """
        C{method} of C{/v1/AUTH_test/<path>} with the test user's token.
        """
        return request(self.port, method, f"/v1/AUTH_test/{path}",
                       {"X-Auth-Token": self.token, **(headers or {})}, body)

    def containers(self, dest_key: str = "secret") -> tuple[str, str]:
        """
        A destination container with sync key C{dest_key}, and a source
        container synced to it through this cluster's realm.
        """
        dest, source = f"dest-{self.prefix}", f"source-{self.prefix}"
        status, _, _ = self.call("PUT", dest, {"X-Container-Sync-Key": dest_key})
        self.assertEqual(status, 201)
        status, _, body = self.call("PUT", source, {
            "X-Container-Sync-To": f"{_CURRENT}/AUTH_test/{dest}",
            "X-Container-Sync-Key": "secret"})
        self.assertEqual(status, 201, body)
        return source, dest

    def test_info(self) -> None:
        """
        C{/info} names the cluster's realm and its cluster, current.
        """
        status, _, body = request(self.port, "GET", "/info")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["container_sync"], {
            "realms": {"AIO": {"clusters": {"AIO_ENDPOINT": {"current": True}}}}})

    def test_syncToJudgedByContainerServers(self) -> None:
        """
        An unknown realm or cluster, or a URL of a host the container
        servers do not sync to, is refused by them; the proxy relays why.
        """
        for value, reason in (
                ("//nope/aio_endpoint/AUTH_test/c", b"No realm key for 'nope'"),
                ("//aio/elsewhere/AUTH_test/c", b"No cluster endpoint for 'aio' 'elsewhere'"),
                ("//aio/aio_endpoint/AUTH_test", b"Invalid X-Container-Sync-To format"),
                ("http://10.9.8.7/v1/AUTH_test/c", b"Invalid host '10.9.8.7'")):
            status, _, body = self.call("PUT", f"bad-{self.prefix}",
                                        {"X-Container-Sync-To": value})
            self.assertEqual(status, 400, value)
            self.assertIn(reason, body)
        self.assertEqual(self.call("HEAD", f"bad-{self.prefix}")[0], 404)

    def test_badSignature(self) -> None:
        """
        A request signed wrongly is refused without a token, and writes
        nothing.
        """
        _, dest = self.containers()
        status, headers, body = request(
            self.port, "PUT", f"/v1/AUTH_test/{dest}/forged",
            {"X-Container-Sync-Auth": "aio n0nce 0123456789abcdef",
             "X-Timestamp": "1700000000.00000"}, b"forged")
        self.assertEqual(status, 401)
        self.assertIn(b"X-Container-Sync-Auth header not valid", body)
        self.assertEqual(headers["www-authenticate"], 'SwiftContainerSync realm="AUTH_test"')
        self.assertEqual(self.call("HEAD", f"{dest}/forged")[0], 404)

    def test_sync(self) -> None:
        """
        What is written to the source container arrives in the destination
        after a pass of the daemon, with its metadata and its own
        timestamp; a metadata change is synced by the next pass, and a
        deletion by the one after.
        """
        source, dest = self.containers()
        name = "obj%20%C3%A9"
        status, _, _ = self.call("PUT", f"{source}/{name}", {
            "X-Object-Meta-Test": "put_value", "Content-Type": "text/plain"}, b"test-body")
        self.assertEqual(status, 201)
        _, written, _ = self.call("HEAD", f"{source}/{name}")
        log = self.cluster.run_container_sync()

        status, headers, body = self.call("GET", f"{dest}/{name}")
        self.assertEqual((status, body), (200, b"test-body"), log)
        self.assertEqual(headers["x-object-meta-test"], "put_value")
        self.assertEqual(headers["x-timestamp"], written["x-timestamp"])
        assert self.cluster.proxy is not None
        self.assertIn("cs:valid", self.cluster.proxy.log_tail(5000))

        status, _, _ = self.call("POST", f"{source}/{name}", {
            "X-Object-Meta-Test": "post_value", "Content-Type": "image/jpeg"})
        self.assertEqual(status, 202)
        log = self.cluster.run_container_sync()
        status, headers, body = self.call("GET", f"{dest}/{name}")
        self.assertEqual((status, body), (200, b"test-body"), log)
        self.assertEqual(headers["x-object-meta-test"], "post_value", log)
        self.assertEqual(headers["content-type"], "image/jpeg")

        self.assertEqual(self.call("DELETE", f"{source}/{name}")[0], 204)
        log = self.cluster.run_container_sync()
        self.assertEqual(self.call("GET", f"{dest}/{name}")[0], 404, log)

    def test_wrongSyncKey(self) -> None:
        """
        A destination whose sync key is not the source's takes nothing.
        """
        source, dest = self.containers(dest_key="other")
        self.assertEqual(self.call("PUT", f"{source}/o", body=b"x")[0], 201)
        log = self.cluster.run_container_sync()
        self.assertEqual(self.call("HEAD", f"{dest}/o")[0], 404, log)
        self.assertIn("Unauth", log)
