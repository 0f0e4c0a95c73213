"""
End to end: python-swiftclient against C{twistd -n twisted-proxy --config
conf/aio.conf}, which runs real Swift storage servers.
"""

from __future__ import annotations

import hashlib
import os
import uuid

from swiftclient import client as swift
from swiftclient.exceptions import ClientException
from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.aioproxy import running_proxy


def _connection(user: str = "test:tester", key: str = "testing") -> swift.Connection:
    proxy = running_proxy()
    return swift.Connection(proxy.auth_url, user, key, retries=0, timeout=60)


class SwiftClientTests(SynchronousTestCase):
    """
    The round trip a Swift user makes, through the real client library.
    """

    def setUp(self) -> None:
        self.conn = _connection()
        self.container = f"e2e-{uuid.uuid4().hex}"
        self.conn.put_container(self.container)

    def tearDown(self) -> None:
        try:
            for item in self.conn.get_container(self.container, full_listing=True)[1]:
                self.conn.delete_object(self.container, item["name"])
            self.conn.delete_container(self.container)
        except ClientException:
            pass
        self.conn.close()

    def test_ten_mib_round_trip(self) -> None:
        """
        A 10 MiB object is uploaded, listed, stat'ed, downloaded byte for
        byte and deleted.
        """
        body = os.urandom(10 * 1024 * 1024)
        digest = hashlib.md5(body).hexdigest()
        etag = self.conn.put_object(self.container, "big/object", body,
                                    content_type="application/x-test")
        self.assertEqual(etag, digest)

        _, listing = self.conn.get_container(self.container)
        self.assertEqual([(i["name"], i["bytes"], i["hash"]) for i in listing],
                         [("big/object", len(body), digest)])

        stat = self.conn.head_object(self.container, "big/object")
        self.assertEqual(int(stat["content-length"]), len(body))
        self.assertEqual(stat["etag"], digest)
        self.assertEqual(stat["content-type"], "application/x-test")

        headers, downloaded = self.conn.get_object(self.container, "big/object")
        self.assertEqual(hashlib.md5(downloaded).hexdigest(), digest)
        self.assertEqual(downloaded, body)

        self.conn.delete_object(self.container, "big/object")
        with self.assertRaises(ClientException) as caught:
            self.conn.head_object(self.container, "big/object")
        self.assertEqual(caught.exception.http_status, 404)

    def test_account_and_container_stats(self) -> None:
        """
        HEAD of the account and the container report what was stored.
        """
        self.conn.put_object(self.container, "a", b"12345")
        self.conn.put_object(self.container, "b", b"123")
        container = self.conn.head_container(self.container)
        self.assertEqual(container["x-container-object-count"], "2")
        self.assertEqual(container["x-container-bytes-used"], "8")
        account = self.conn.head_account()
        self.assertIn("x-account-container-count", account)

    def test_metadata_round_trip(self) -> None:
        """
        Object metadata set by PUT and replaced by POST comes back on HEAD.
        """
        self.conn.put_object(self.container, "m", b"x",
                             headers={"X-Object-Meta-Color": "blue"})
        self.assertEqual(
            self.conn.head_object(self.container, "m")["x-object-meta-color"], "blue")
        self.conn.post_object(self.container, "m", {"X-Object-Meta-Shape": "round"})
        stat = self.conn.head_object(self.container, "m")
        self.assertEqual(stat["x-object-meta-shape"], "round")
        self.assertNotIn("x-object-meta-color", stat)

    def test_range_get(self) -> None:
        """
        A Range request returns exactly the bytes asked for.
        """
        body = bytes(range(256)) * 40
        self.conn.put_object(self.container, "r", body)
        headers, part = self.conn.get_object(
            self.container, "r", headers={"Range": "bytes=100-199"})
        self.assertEqual(part, body[100:200])
        headers, tail = self.conn.get_object(
            self.container, "r", headers={"Range": "bytes=-10"})
        self.assertEqual(tail, body[-10:])

    def test_bad_credentials(self) -> None:
        """
        A wrong key gets 401 from the auth endpoint.
        """
        conn = _connection(key="wrong")
        with self.assertRaises(ClientException) as caught:
            conn.head_account()
        self.assertEqual(caught.exception.http_status, 401)
