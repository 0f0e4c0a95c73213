"""
End to end, static web sites: twisted-proxy (C{conf/aio.conf}, with its
C{staticweb} and C{domain_remap} stages) and Swift's own swift-proxy-server
2.38.3 (with Swift's C{staticweb}, C{domain_remap}, C{tempurl} and
C{tempauth}) beside it on one all-in-one cluster answer anonymous web
requests alike: the same statuses, redirects, content types and bodies,
byte for byte (listing pages, error pages, the page saying listings are
off), directly and through hosts under the storage domain.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import time
import uuid
from typing import Optional
from urllib.parse import quote

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.test_ec import Reply
from tests.e2e.test_symlink_interop import ReferenceCluster

#: The Host both proxies are asked with, so that their redirects compare:
#: one conf/aio.conf's cname_lookup needs no DNS for (any other name it
#: would look up, and answer 400 when it has no CNAME, as Swift's does).
_HOST = "localhost:8080"

_PROXIES = ("twisted", "swift")


class WebCluster(ReferenceCluster):
    """
    Both proxies, swift-proxy-server with Swift's static web stages and
    tempauth (anonymous requests only: it has no memcache for tokens).
    """

    def __init__(self) -> None:
        super().__init__(
            "staticweb", ("domain_remap", "listing_formats", "tempurl", "tempauth",
                          "staticweb", "copy", "dlo", "versioned_writes"),
            {"domain_remap": {"storage_domain": "example.com"},
             "tempauth": {"user_test_tester": "testing .admin"}})

    def anonymous(self, which: str, method: str, path: str,
                  headers: Optional[dict[str, str]] = None) -> Reply:
        """
        A request without a token to one of the proxies, with C{_HOST} as
        its C{Host} unless C{headers} name another.
        """
        conn = self.connect(which)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in {"Host": _HOST, **(headers or {})}.items():
                conn.putheader(name, value)
            conn.endheaders()
            reply = conn.getresponse()
            data = reply.read()
            return reply.status, {k.lower(): v for k, v in reply.getheaders()}, data
        finally:
            conn.close()


_shared: Optional[WebCluster] = None


def web_cluster() -> WebCluster:
    """
    The cluster of these tests, started on first use and stopped when the
    test process exits.
    """
    global _shared
    if _shared is None:
        _shared = WebCluster()
        atexit.register(_shared.stop)
    return _shared


class StaticWebInteropTests(SynchronousTestCase):
    """
    Anonymous web requests answered alike by both proxies.
    """

    def setUp(self) -> None:
        self.cluster = web_cluster()
        self.container = f"web-{uuid.uuid4().hex[:12]}"
        self.write("PUT", None, {"X-Container-Read": ".r:*,.rlistings"})
        for name, content_type, body in [
                ("index.html", "text/html", b"<h1>home</h1>"),
                ("style.css", "text/css", b"h1 {}"),
                ("404error.html", "text/html", b"<p>not here</p>"),
                ("401error.html", "text/html", b"<p>go away</p>"),
                ("dir", "application/directory", b""),
                ("dir/a.txt", "text/plain", b"a" * 3000),
                ("dir/sub/b.bin", "application/octet-stream", b"b"),
                ("dir/sub/index.html", "text/html", b"sub home"),
                ("\u00fcber/sp ace&<x>.txt", "text/plain", b"u")]:
            self.write("PUT", name, {"Content-Type": content_type}, body)

    def write(self, method: str, name: Optional[str], headers: dict[str, str],
              body: bytes = b"") -> None:
        path = quote(self.cluster.path(self.container, name))
        status, _, _ = self.cluster.request(method, path, headers, body)
        self.assertIn(status, (201, 202, 204), (method, name))

    def web(self, **meta: str) -> None:
        """
        Set the container's web metadata (other web settings removed).
        """
        headers = {}
        for name in ("Index", "Error", "Listings", "Listings-Css", "Listings-Label",
                     "Directory-Type"):
            value = meta.get(name.lower().replace("-", "_"))
            if value is None:
                headers[f"X-Remove-Container-Meta-Web-{name}"] = "x"
            else:
                headers[f"X-Container-Meta-Web-{name}"] = value
        self.write("POST", None, headers)

    def assertAlike(self, method: str, path: str,
                    headers: Optional[dict[str, str]] = None) -> Reply:
        """
        Both proxies answer C{path} with the same status, C{Location},
        C{Content-Type}, C{Content-Length}, C{Content-Disposition} and body.

        @return: twisted-proxy's answer.
        """
        ours = self.cluster.anonymous("twisted", method, path, headers)
        theirs = self.cluster.anonymous("swift", method, path, headers)
        where = f"{method} {path} {headers}"
        self.assertEqual(ours[0], theirs[0], where)
        for name in ("location", "content-type", "content-length", "content-disposition"):
            self.assertEqual(ours[1].get(name), theirs[1].get(name), f"{where}: {name}")
        self.assertEqual(ours[2], theirs[2], where)
        return ours

    def test_listings(self) -> None:
        """
        Listings of the container and its pseudo-directories, with and
        without a style sheet and label, and the redirects to them.
        """
        self.web(listings="true")
        base = quote(self.cluster.path(self.container))
        for method in ("GET", "HEAD"):
            status, headers, _ = self.assertAlike(method, base)
            self.assertEqual(status, 301)
            self.assertEqual(headers["location"], f"http://{_HOST}{base}/")
            self.assertEqual(self.assertAlike(method, base + "/")[0], 200)
            self.assertEqual(self.assertAlike(method, base + "/dir")[0], 301)
            self.assertEqual(self.assertAlike(method, base + "/dir/")[0], 200)
            self.assertEqual(self.assertAlike(method, base + "/dir/sub")[0], 301)
            self.assertEqual(self.assertAlike(method, base + "/%C3%BCber/")[0], 200)
            self.assertEqual(self.assertAlike(method, base + "/nothing/")[0], 404)
            self.assertEqual(self.assertAlike(method, base + "/dir/nothing")[0], 404)
            self.assertEqual(self.assertAlike(method, base + "/dir/a.txt")[0], 200)
        self.web(listings="true", listings_css="style.css", listings_label="My Site")
        for path in (base + "/", base + "/dir/", base + "/dir/sub/"):
            status, _, body = self.assertAlike("GET", path)
            self.assertEqual(status, 200)
            self.assertIn(b"My Site", body)
        self.web(listings="true", listings_css="https://cdn.example.com/s.css")
        self.assertAlike("GET", base + "/dir/")

    def test_index(self) -> None:
        """
        Index pages of the container and of pseudo-directories, and the
        pages saying a directory has no index and listings are off.
        """
        self.web(index="index.html")
        base = quote(self.cluster.path(self.container))
        status, _, body = self.assertAlike("GET", base + "/")
        self.assertEqual((status, body), (200, b"<h1>home</h1>"))
        self.assertEqual(self.assertAlike("GET", base + "/dir/sub/")[2], b"sub home")
        self.assertEqual(self.assertAlike("GET", base + "/dir/sub")[0], 301)
        self.assertEqual(self.assertAlike("GET", base + "/dir/")[0], 404)
        self.assertEqual(self.assertAlike("HEAD", base + "/dir/")[0], 404)
        # An index failing with anything but 404 (here, a Range past its
        # end) fails Swift's own pseudo-directories with a 500; here it
        # gives the index's error, as the container's index does in both.
        past_end = {"Range": "bytes=1000-2000"}
        self.assertEqual(self.assertAlike("GET", base + "/", past_end)[0], 416)
        for path in (base + "/dir/sub/", base + "/dir/sub"):
            self.assertEqual(self.cluster.anonymous("twisted", "GET", path, past_end)[0], 416)
            self.assertEqual(self.cluster.anonymous("swift", "GET", path, past_end)[0], 500)
        self.web(index="index.html", listings_css="style.css")
        self.assertAlike("GET", base + "/dir/")
        self.web(index="index.html", listings="yes")
        self.assertEqual(self.assertAlike("GET", base + "/dir/")[0], 200)

    def test_errorPages(self) -> None:
        """
        C{404error.html} for what does not exist, C{401error.html} for a
        listing anonymous clients may not see.
        """
        self.web(listings="true", error="error.html")
        base = quote(self.cluster.path(self.container))
        for path in (base + "/dir/nothing", base + "/nothing/"):
            status, _, body = self.assertAlike("GET", path)
            self.assertEqual((status, body), (404, b"<p>not here</p>"))
            # Swift's own answer to a HEAD that gets an error page is a
            # 500 (it hands the page's body to a HEAD); here, the GET's
            # status and headers.
            ours = self.cluster.anonymous("twisted", "HEAD", path)
            self.assertEqual((ours[0], ours[1]["content-length"], ours[2]), (404, "15", b""))
            self.assertEqual(self.cluster.anonymous("swift", "HEAD", path)[0], 500)
        self.write("POST", None, {"X-Container-Read": ".r:*"})
        status, _, body = self.assertAlike("GET", base + "/")
        self.assertEqual((status, body), (401, b"<p>go away</p>"))
        self.assertEqual(self.assertAlike("GET", base + "/dir/a.txt")[0], 200)

    def test_directoryType(self) -> None:
        self.web(listings="true", directory_type="text/directory")
        base = quote(self.cluster.path(self.container))
        status, headers, _ = self.assertAlike("GET", base + "/dir")
        self.assertEqual((status, headers["content-type"]), (200, "application/directory"))
        self.web()
        self.assertEqual(self.assertAlike("GET", base + "/dir")[0], 200)

    def test_remappedHosts(self) -> None:
        """
        Through hosts under the storage domain, redirects name the
        client's host and path.
        """
        self.web(listings="true")
        account = self.cluster.account.replace("_", "-").lower()
        container_host = {"Host": f"{self.container}.{account}.example.com"}
        account_host = {"Host": f"{account}.example.com:8080"}
        status, headers, _ = self.assertAlike("GET", "/dir", container_host)
        self.assertEqual((status, headers["location"]),
                         (301, f"http://{container_host['Host']}/dir/"))
        self.assertEqual(self.assertAlike("GET", "/", container_host)[0], 200)
        self.assertEqual(self.assertAlike("GET", "/dir/", container_host)[0], 200)
        status, headers, _ = self.assertAlike("GET", f"/{self.container}", account_host)
        self.assertEqual((status, headers["location"]),
                         (301, f"http://{account_host['Host']}/{self.container}/"))
        self.assertEqual(self.assertAlike("GET", "/", account_host)[0], 401)
        self.assertEqual(self.assertAlike(
            "GET", "/", {"Host": f"x.{self.container}.{account}.example.com"})[0], 400)

    def test_tempurlListing(self) -> None:
        """
        A listing reached with a temp URL links with the URL's parameters.
        """
        key = uuid.uuid4().hex
        self.write("POST", None, {"X-Container-Meta-Web-Listings": "true",
                                  "X-Container-Meta-Temp-URL-Key": key,
                                  "X-Container-Read": ""})
        base = self.cluster.path(self.container)
        expires = int(time.time() + 600)
        for prefix in ("", "dir/"):
            signed = f"GET\n{expires}\nprefix:{base}/{prefix}"
            sig = hmac.new(key.encode(), signed.encode(), hashlib.sha256).hexdigest()
            query = (f"temp_url_sig={sig}&temp_url_expires={expires}"
                     f"&temp_url_prefix={quote(prefix)}")
            for path in (f"{quote(base)}/{prefix}", f"{quote(base)}/dir/sub/"):
                status, _, body = self.assertAlike("GET", f"{path}?{query}")
                self.assertEqual(status, 200, path)
                self.assertIn(b"temp_url_sig=" + sig.encode(), body)
        self.assertEqual(self.assertAlike("GET", quote(base) + "/")[0], 401)
