"""
End to end, form posts: twisted-proxy on C{conf/aio.conf} (with its
C{formpost} filter) and Swift's own swift-proxy-server 2.38.3 with Swift's
C{formpost} middleware, on one all-in-one cluster. The same forms, posted
to either, get the same answers, and the files they upload are stored
alike; a large file streams through twisted-proxy without being held.

Swift 2.38.3 has no functional test of form posts (its own are unit
tests, against a fake application): this module is where twisted-proxy's
are compared with Swift's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import time
import uuid
from typing import Callable, Iterator, Optional

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.aioproxy import SharedFixture, proc_status_kib, reset_peak_rss
from tests.e2e.test_ec import MIB, Reply
from tests.e2e.test_symlink_interop import ReferenceCluster

KEY = "form-key"
BOUNDARY = "----formpost-e2e-boundary"
_PROXIES = ("twisted", "swift")

#: The headers of an answer that must agree.
_COMPARED = ("content-type", "location", "www-authenticate", "content-length",
             "access-control-allow-origin")

#: Makes a form's body for the path it is posted to.
FormMaker = Callable[[str], bytes]

def _start() -> ReferenceCluster:
    """
    The cluster of these tests, its account's temp URL key set.
    """
    cluster = ReferenceCluster("formpost", ("formpost",))
    try:
        status, _, _ = cluster.request("POST", f"/v1/{cluster.account}",
                                       {"X-Account-Meta-Temp-URL-Key": KEY})
        if status != 204:
            raise RuntimeError(f"setting the account key: {status}")
    except BaseException:
        cluster.stop()
        raise
    return cluster


#: The cluster of these tests, started on first use and stopped when the
#: test process exits.
formpost_cluster = SharedFixture(_start, once=True)


def form_body(values: list[tuple[str, object]],
              files: list[tuple[str, bytes, dict[str, str]]]) -> bytes:
    """
    A C{multipart/form-data} body: fields, then files (C{(filename, data,
    part headers)}).
    """
    out = b""
    for name, value in values:
        out += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n").encode("utf-8")
    for index, (filename, data, headers) in enumerate(files):
        out += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file{index}"; '
                f'filename="{filename}"\r\n').encode("utf-8")
        out += "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode("utf-8")
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode("utf-8")


def signed(path: str, redirect: str = "", max_file_size: object = 1024,
           max_file_count: object = 5, expires: Optional[int] = None, key: str = KEY,
           digest: str = "sha256", extra: Optional[dict[str, object]] = None,
           **more: object) -> list[tuple[str, object]]:
    """
    The fields of a form for C{path} signed with C{key}.
    """
    expires = int(time.time()) + 300 if expires is None else expires
    message = f"{path}\n{redirect}\n{max_file_size}\n{max_file_count}\n{expires}"
    signature = hmac.new(key.encode(), message.encode(), digest).hexdigest()
    values: list[tuple[str, object]] = [("redirect", redirect)] if redirect else []
    values += [("max_file_size", max_file_size), ("max_file_count", max_file_count),
               ("expires", expires), ("signature", signature)]
    return values + list(dict(extra or {}, **more).items())


class FormPostInteropTests(SynchronousTestCase):
    """
    Forms posted to both proxies; each uploads under its own prefix.
    """

    def setUp(self) -> None:
        self.cluster = formpost_cluster()
        self.container = f"form-{uuid.uuid4().hex}"
        status, _, _ = self.cluster.request("PUT", self.cluster.path(self.container))
        self.assertIn(status, (201, 202))

    def path(self, which: str, name: str = "") -> str:
        return self.cluster.path(self.container, f"{which}-{name}")

    def post(self, which: str, body: bytes, path: Optional[str] = None,
             headers: Optional[dict[str, str]] = None) -> Reply:
        """
        Post C{body} to C{which} proxy, without credentials.
        """
        all_headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        all_headers.update(headers or {})
        conn = self.cluster.connect(which)
        try:
            conn.request("POST", path or self.path(which), body=body, headers=all_headers)
            reply = conn.getresponse()
            data = reply.read()
            return reply.status, {k.lower(): v for k, v in reply.getheaders()}, data
        finally:
            conn.close()

    def both(self, form: "FormMaker", headers: Optional[dict[str, str]] = None,
             path: Optional[str] = None) -> Reply:
        """
        Post the form C{form} makes for each proxy's prefix to that proxy;
        assert the answers agree, and return twisted-proxy's.
        """
        replies = {}
        for which in _PROXIES:
            target = path or self.path(which)
            replies[which] = self.post(which, form(target), target, headers)
        ours, theirs = replies["twisted"], replies["swift"]
        self.assertEqual((ours[0], ours[2]), (theirs[0], theirs[2]))
        for name in _COMPARED:
            self.assertEqual(ours[1].get(name), theirs[1].get(name), name)
        return ours

    def stored(self, which: str, name: str) -> Reply:
        return self.cluster.request("GET", self.path(which, name))

    def test_upload(self) -> None:
        """
        Files are stored under the form's prefix with their types, the
        form's C{x_delete_after} and their data.
        """
        files = [("one.txt", b"first\r\n--file", {"Content-Type": "text/x-one"}),
                 ("two.bin", b"", {})]
        reply = self.both(lambda path: form_body(
            signed(path, x_delete_after=3600), files))
        self.assertEqual((reply[0], reply[2]), (201, b"201 Created"))
        for which in _PROXIES:
            status, headers, data = self.stored(which, "one.txt")
            self.assertEqual((status, data), (200, b"first\r\n--file"), which)
            self.assertEqual(headers["content-type"], "text/x-one", which)
            self.assertIn("x-delete-at", headers)
            status, headers, data = self.stored(which, "two.bin")
            self.assertEqual((status, data), (200, b""), which)
            self.assertEqual(headers["content-type"], "application/octet-stream", which)

    def test_redirect(self) -> None:
        reply = self.both(lambda path: form_body(
            signed(path, redirect="https://example.com/done?x=1"),
            [("a.html", b"<p>", {})]))
        self.assertEqual(reply[0], 303)
        self.assertEqual(reply[1]["location"],
                         "https://example.com/done?x=1&status=201&message=")

    def test_content_type_field(self) -> None:
        self.both(lambda path: form_body(
            signed(path, extra={"content-type": "image/png", "content-encoding": "gzip"}),
            [("img", b"png", {"Content-Type": "text/plain"})]))
        for which in _PROXIES:
            status, headers, _ = self.stored(which, "img")
            self.assertEqual((headers["content-type"], headers["content-encoding"]),
                             ("image/png", "gzip"), which)

    def test_base64_signature(self) -> None:
        def form(path: str) -> bytes:
            values = signed(path, digest="sha512")
            raw = bytes.fromhex(str(dict(values)["signature"]))
            values[-1] = ("signature", "sha512:" + base64.b64encode(raw).decode())
            return form_body(values, [("f", b"x", {})])

        self.assertEqual(self.both(form)[0], 201)

    def test_refusals(self) -> None:
        """
        Expired, badly signed and malformed forms are refused alike, and
        nothing is stored.
        """
        for label, form in (
                ("expired", lambda path: form_body(
                    signed(path, expires=int(time.time()) - 10), [("f", b"x", {})])),
                ("wrong key", lambda path: form_body(signed(path, key="other"),
                                                     [("f", b"x", {})])),
                ("not an integer", lambda path: form_body(signed(path, max_file_size="big"),
                                                          [("f", b"x", {})])),
                ("x_delete_at", lambda path: form_body(signed(path, x_delete_at="soon"),
                                                       [("f", b"x", {})])),
                ("no files", lambda path: form_body(signed(path), [])),
                ("boundary", lambda path: b"--wrong\r\n\r\n"),
                ("file too large", lambda path: form_body(signed(path, max_file_size=3),
                                                          [("f", b"xxxx", {})]))):
            reply = self.both(form)
            self.assertIn(reply[0], (400, 401), label)
            for which in _PROXIES:
                self.assertEqual(self.cluster.request("HEAD", self.path(which, "f"))[0], 404,
                                 (label, which))

    def test_too_many_files(self) -> None:
        files: list[tuple[str, bytes, dict[str, str]]] = [
            (name, name.encode(), {}) for name in ("a", "b", "c")]
        for redirect in ("", "https://example.com/"):
            reply = self.both(lambda path: form_body(
                signed(path, redirect=redirect, max_file_count=2), files))
            self.assertIn(reply[0], (303, 400))
        for which in _PROXIES:
            self.assertEqual([self.stored(which, name)[0] for name in "abc"],
                             [200, 200, 404], which)

    def test_no_container(self) -> None:
        """
        An upload that fails (no such container) is told with its status.
        """
        container = f"missing-{uuid.uuid4().hex}"
        for redirect in ("", "https://example.com/"):
            replies = [self.post(which, form_body(
                signed(f"/v1/{self.cluster.account}/{container}/{which}", redirect=redirect),
                [("f", b"x", {})]), f"/v1/{self.cluster.account}/{container}/{which}")
                for which in _PROXIES]
            self.assertEqual(replies[0][0], replies[1][0])
            self.assertEqual(replies[0][2], replies[1][2])
            self.assertEqual(replies[0][1].get("location"), replies[1][1].get("location"))
            self.assertEqual(replies[0][0], 303 if redirect else 404)

    def test_not_a_form(self) -> None:
        """
        A C{POST} of another content type is an ordinary metadata C{POST}.
        """
        reply = self.post("twisted", b"", self.cluster.path(self.container),
                          {"Content-Type": "text/plain"})
        self.assertEqual(reply[0], 401)


def _chunks(head: bytes, size: int, block: bytes, tail: bytes) -> Iterator[bytes]:
    yield head
    sent = 0
    while sent < size:
        piece = block[:size - sent]
        sent += len(piece)
        yield piece
    yield tail


class FormPostStreamingTests(SynchronousTestCase):
    def test_large_file_streams(self) -> None:
        """
        A large file goes through twisted-proxy without its memory growing
        with it, and is stored whole.
        """
        cluster = formpost_cluster()
        container = f"big-{uuid.uuid4().hex}"
        self.assertIn(cluster.request("PUT", cluster.path(container))[0], (201, 202))
        size = 96 * MIB
        block = bytes(range(256)) * 4096
        digest = hashlib.md5()
        for piece in _chunks(b"", size, block, b""):
            digest.update(piece)
        path = cluster.path(container, "up/")
        body = form_body(signed(path, max_file_size=size), [("big", b"@", {})])
        head, tail = body.split(b"@")
        pid = cluster.proxy.process.pid
        reset_peak_rss(pid)
        start_rss = proc_status_kib(pid, "VmRSS")
        conn = http.client.HTTPConnection("127.0.0.1", cluster.proxy.port, timeout=300)
        try:
            conn.request("POST", path, body=_chunks(head, size, block, tail),
                         headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                                  "Transfer-Encoding": "chunked"}, encode_chunked=True)
            reply = conn.getresponse()
            self.assertEqual((reply.status, reply.read()), (201, b"201 Created"))
        finally:
            conn.close()
        growth_mib = (proc_status_kib(pid, "VmHWM") - start_rss) / 1024
        print(f"\n{size / MIB:.0f} MiB form post: proxy peak RSS grew {growth_mib:.1f} MiB")
        self.assertLess(growth_mib, 48, f"proxy peak RSS grew by {growth_mib:.1f} MiB")
        status, headers, _ = cluster.request("HEAD", cluster.path(container, "up/big"))
        self.assertEqual((status, headers["etag"], int(headers["content-length"])),
                         (200, digest.hexdigest(), size))
