"""
End to end, word of info changes between proxy processes: two twisted-proxy
processes share one cluster and one private C{redis-server}, each keeping
info copies for a long C{info_local_ttl}. A container ACL changed through
one is obeyed by the other at once, because the change is announced on a
Redis channel that both listen to (L{twisted_proxy.info.invalidation}).
"""

from __future__ import annotations

import shutil
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.aioproxy import AioCluster, RunningProxy, auth, request
from tests.e2e.redisserver import start_redis_server

#: Long enough that, without word of changes, a stale copy would outlive
#: the test.
LOCAL_TTL = 600

_USERS = {
    "user_test_tester": "testing .admin",
    "user_test_tester3": "testing3",
}


class ChangeWordTests(SynchronousTestCase):
    def setUp(self) -> None:
        directory = tempfile.mkdtemp(prefix="info-changes-redis-")
        self.addCleanup(shutil.rmtree, directory, True)
        self.redis = start_redis_server(directory)
        self.addCleanup(self.redis.stop)
        self.cluster = AioCluster(
            "info-changes", {},
            sections={"filter:cache": {"redis_url": self.redis.url,
                                       "info_local_ttl": str(LOCAL_TTL)},
                      "filter:tempauth": _USERS},
            filters=("catch_errors", "healthcheck", "proxy-logging", "cache", "tempauth"))
        self.addCleanup(self.cluster.stop)
        self.other = self.start_second_proxy()

    def start_second_proxy(self) -> RunningProxy:
        """
        A second proxy configured as the cluster's own, on the same rings
        and the same Redis.
        """
        proxy = self.cluster.start_twin_proxy("second")
        self.addCleanup(proxy.stop)
        return proxy

    def test_aclChangeSeenAtOnce(self) -> None:
        """
        The second proxy keeps the container's info after refusing a read;
        granting, then taking back, read access through the first proxy
        changes the second's answer at once.
        """
        first = self.cluster.port
        second = self.other.port
        admin, url = auth(first)
        reader, _ = auth(first, "test:tester3", "testing3")
        path = url.split("/v1", 1)[1]
        container = f"/v1{path}/acl"
        self.assertEqual(request(first, "PUT", container, {"X-Auth-Token": admin})[0], 201)
        self.assertEqual(
            request(first, "PUT", f"{container}/o",
                    {"X-Auth-Token": admin, "Content-Length": "0"})[0], 201)

        def read() -> int:
            return request(second, "GET", f"{container}/o", {"X-Auth-Token": reader})[0]

        self.assertEqual(read(), 403)
        self.assertEqual(read(), 403)  # from the second proxy's copy now
        self.assertEqual(
            request(first, "POST", container,
                    {"X-Auth-Token": admin, "X-Container-Read": "test:tester3"})[0], 204)
        self.assertEqual(read(), 200)
        self.assertEqual(
            request(first, "POST", container,
                    {"X-Auth-Token": admin, "X-Container-Read": ""})[0], 204)
        self.assertEqual(read(), 403)
        self.assertIn("Listening for info changes", self.other.log_tail(2000))
