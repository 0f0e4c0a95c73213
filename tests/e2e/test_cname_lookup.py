"""
End to end, C{cname_lookup}: twisted-proxy on C{conf/aio.conf} (with its
C{cname_lookup} filter) and Swift's own swift-proxy-server 2.38.3 with
Swift's C{cname_lookup} middleware, both asking a DNS server of the test's
(L{tests.e2e.dnsserver}), on one all-in-one cluster. Requests for the same
hosts get the same answers; the rewritten C{Host} shows through Swift's
C{deny_host_headers}, which both proxies check after the filter. A slow
lookup does not hold up twisted-proxy's other requests.

Swift 2.38.3 has no functional test of C{cname_lookup}.
"""

from __future__ import annotations

import threading
import time
from typing import Optional

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.aioproxy import SharedFixture
from tests.e2e.dnsserver import DNSServer
from tests.e2e.test_ec import Reply
from tests.e2e.test_symlink_interop import ReferenceCluster

#: What the test's DNS server serves.
RECORDS = {
    "alias.customer.test": "c.auth-test.example.com",
    "other.customer.test": "d.example.com",
    "hop1.test": "hop2.test",
    "hop2.test": "c.auth-test.example.com",
    "far1.test": "far2.test",
    "far2.test": "far3.test",
    "far3.test": "c.auth-test.example.com",
    "loop1.test": "loop2.test",
    "loop2.test": "loop1.test",
    "self.test": "self.test",
    "nodata.test": "NODATA",
    "servfail.test": "SERVFAIL",
    "slow.test": "SILENT",
}

#: Where the aliases lead, refused by both proxies' deny_host_headers.
DENIED = "c.auth-test.example.com"

_PROXIES = ("twisted", "swift")


class _CNAMECluster:
    def __init__(self) -> None:
        self.dns = DNSServer(RECORDS)
        try:
            nameservers = f"127.0.0.1:{self.dns.port}"
            self.cluster = ReferenceCluster(
                "cname", ("cname_lookup",),
                {"cname_lookup": {"storage_domain": "example.com", "lookup_depth": "2",
                                  "nameservers": nameservers}},
                app={"deny_host_headers": DENIED},
                options={"filter:cname_lookup": {"lookup_depth": "2",
                                                 "nameservers": nameservers},
                         "app:proxy-server": {"deny_host_headers": DENIED}})
        except BaseException:
            self.dns.stop()
            raise

    @property
    def running(self) -> bool:
        return self.cluster.running and self.dns.process.poll() is None

    def stop(self) -> None:
        try:
            self.cluster.stop()
        finally:
            self.dns.stop()


#: The DNS server and the cluster of these tests, started on first use and
#: stopped when the test process exits.
cname_cluster = SharedFixture(_CNAMECluster, once=True)


class CNAMELookupTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.fixture = cname_cluster()
        self.cluster = self.fixture.cluster

    def get(self, which: str, host: str, path: Optional[str] = None) -> Reply:
        conn = self.cluster.connect(which)
        try:
            conn.request("GET", path or f"/v1/{self.cluster.account}", headers={"Host": host})
            reply = conn.getresponse()
            data = reply.read()
            return reply.status, {k.lower(): v for k, v in reply.getheaders()}, data
        finally:
            conn.close()

    def both(self, host: str) -> Reply:
        """
        C{GET} of the account with C{Host: host} from both proxies; assert
        the answers agree and return twisted-proxy's.
        """
        ours, theirs = (self.get(which, host) for which in _PROXIES)
        self.assertEqual((ours[0], ours[2]), (theirs[0], theirs[2]), host)
        self.assertEqual(ours[1].get("content-type"), theirs[1].get("content-type"), host)
        return ours

    def test_alias(self) -> None:
        """
        An alias of a storage domain name is served as that name, its port
        kept: here, refused for it by C{deny_host_headers}.
        """
        for host in ("alias.customer.test", "alias.customer.test:8080", "ALIAS.customer.test"):
            status, _, body = self.both(host)
            self.assertEqual((status, body), (403, b"Invalid host header"), host)

    def test_allowed_alias(self) -> None:
        """
        An alias of another storage domain name goes on to the rest of the
        pipeline (where twisted-proxy's tempauth refuses the anonymous
        request).
        """
        self.assertEqual(self.get("twisted", "other.customer.test")[0], 401)

    def test_chain(self) -> None:
        status, _, _ = self.both("hop1.test")
        self.assertEqual(status, 403)

    def test_refusals(self) -> None:
        for host, message in (
                ("far1.test", b"CNAME lookup failed after 2 tries"),
                ("loop1.test", b"CNAME lookup failed after 2 tries"),
                ("self.test", b"CNAME lookup failed to resolve to a valid domain"),
                ("nodata.test", b"CNAME lookup failed to resolve to a valid domain"),
                ("missing.test", b"CNAME lookup failed to resolve to a valid domain"),
                ("servfail.test", b"CNAME lookup failed to resolve to a valid domain")):
            status, headers, body = self.both(host)
            self.assertEqual((status, body), (400, message), host)
            self.assertEqual(headers["content-type"], "text/plain")

    def test_not_looked_up(self) -> None:
        """
        Hosts in the storage domain, and addresses, are not looked up.
        """
        for host in ("c.example.com", "127.0.0.1:80", "[::1]:80"):
            self.assertEqual(self.get("twisted", host)[0], 401, host)

    def test_slow_lookup(self) -> None:
        """
        A lookup that gets no answer fails after about five seconds, as
        Swift's does, and meanwhile twisted-proxy answers other requests.
        """
        replies: dict[str, Reply] = {}

        def slow() -> None:
            replies["slow"] = self.get("twisted", "slow.test")

        thread = threading.Thread(target=slow)
        started = time.monotonic()
        thread.start()
        time.sleep(0.5)
        try:
            before = time.monotonic()
            self.assertEqual(self.get("twisted", "c.example.com", "/info")[0], 200)
            self.assertLess(time.monotonic() - before, 3)
        finally:
            thread.join(60)
        self.assertEqual(replies["slow"][2], b"CNAME lookup failed to resolve to a valid domain")
        self.assertLess(time.monotonic() - started, 20)
        theirs = self.get("swift", "slow.test")
        self.assertEqual((theirs[0], theirs[2]), replies["slow"][::2])
