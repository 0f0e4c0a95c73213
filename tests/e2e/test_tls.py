"""
End-to-end tests of HTTPS (C{cert_file}, C{key_file}) and the PROXY
protocol (C{require_proxy_protocol}): real twisted-proxy processes with
their all-in-one clusters, real TLS clients, over real sockets.

Swift's core functional suite over HTTPS takes minutes (four and a half
with two workers on a loaded 2-core machine): it runs when
C{TWISTED_PROXY_FUNCTESTS} is set, and is skipped otherwise, as the soak
tests are::

    TWISTED_PROXY_FUNCTESTS=1 FUNCTESTS_CACHE=/work/cache/functests \\
        scripts/test tests.e2e.test_tls
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Optional

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.e2e.aioproxy import (
    REPO,
    Reply,
    RunningProxy,
    SharedFixture,
    aio_config,
    exchange,
    free_port,
    proc_status_kib,
    read_chunks,
    reset_peak_rss,
    start_proxy,
    twistd_command,
)
from tests.test_listening import proxy_v2_header
from tests.tlscerts import TLSFiles, write_tls_files


def _context(tls: TLSFiles) -> ssl.SSLContext:
    """
    A client context that trusts only the test's certificate, and checks
    that it names 127.0.0.1.
    """
    return ssl.create_default_context(cafile=tls.ca_file)


class _ProxiedHTTPS(http.client.HTTPSConnection):
    """
    An HTTPS connection that sends C{header} (a PROXY protocol header)
    before its TLS handshake, as a load balancer passing TLS through does.
    """

    def __init__(self, port: int, header: bytes, context: ssl.SSLContext) -> None:
        super().__init__("127.0.0.1", port, context=context, timeout=60)
        self._header = header
        self._tls_context = context

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock.sendall(self._header)
        self.sock = self._tls_context.wrap_socket(self.sock, server_hostname=self.host)


@dataclass
class _TLSProxy:
    """
    A proxy serving HTTPS, its certificate, and its directory.
    """

    proxy: RunningProxy
    tls: TLSFiles
    workdir: str

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def running(self) -> bool:
        return self.proxy.running

    def stop(self) -> None:
        self.proxy.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def https(self, method: str, path: str, headers: Optional[dict[str, str]] = None,
              body: bytes = b"") -> Reply:
        return exchange(_https(self.port, self.tls), method, path, headers, body)

    def log(self) -> str:
        with open(self.proxy.logfile, encoding="utf-8", errors="replace") as handle:
            return handle.read()


def _start_tls_proxy(name: str, configuration: Callable[[str, TLSFiles], str],
                     connect: Callable[[int, TLSFiles], http.client.HTTPConnection],
                     chain: bool = False) -> _TLSProxy:
    """
    Write a certificate (with its authority's after it, with C{chain}) and
    C{configuration(workdir, tls)} into a new directory, start a proxy on
    it, and wait until it answers C{/healthcheck} on C{connect(port, tls)}.
    """
    workdir = tempfile.mkdtemp(prefix=f"twisted-proxy-{name}-")
    try:
        tls = write_tls_files(os.path.join(workdir, "tls"), chain)
        config = os.path.join(workdir, "proxy-server.conf")
        with open(config, "w") as handle:
            handle.write(configuration(workdir, tls))

        def answers(port: int) -> bool:
            return exchange(connect(port, tls), "GET", "/healthcheck")[0] == 200

        proxy = start_proxy(config, timeout=300, answers=answers)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return _TLSProxy(proxy, tls, workdir)


def _https_configuration(workdir: str, tls: TLSFiles) -> str:
    """
    conf/aio.conf (its cluster, Redis, tempauth) with C{workers = 2} and
    the certificate in C{[DEFAULT]}, as Swift's sample has it. Each
    worker's info copies are kept for no time (C{info_local_ttl = 0}), as
    Swift's memcache keeps none: Swift's functional tests change an ACL
    and use it at once, on whichever worker the next connection reaches.
    """
    with open(os.path.join(REPO, "conf", "aio.conf")) as original:
        text = original.read()
    text = text.replace(
        "[DEFAULT]\n", f"[DEFAULT]\ncert_file = {tls.cert_file}\nkey_file = {tls.key_file}\n", 1)
    text = text.replace("[app:proxy-server]\n", "[app:proxy-server]\nworkers = 2\n", 1)
    return text.replace("[filter:cache]\n", "[filter:cache]\ninfo_local_ttl = 0\n", 1)


def _https(port: int, tls: TLSFiles, timeout: float = 120) -> http.client.HTTPConnection:
    return http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                       context=_context(tls))


_https_workers = SharedFixture(
    lambda: _start_tls_proxy("tls", _https_configuration, _https), once=True)


class HTTPSWorkersTests(SynchronousTestCase):
    """
    Two workers serving HTTPS on the socket their parent bound.
    """

    def setUp(self) -> None:
        self.proxy = _https_workers()

    def token(self) -> tuple[str, str]:
        status, headers, _ = self.proxy.https(
            "GET", "/auth/v1.0", {"X-Auth-User": "test:tester", "X-Auth-Key": "testing"})
        self.assertEqual(status, 200)
        return headers["x-auth-token"], headers["x-storage-url"]

    def test_storageUrlIsHttps(self) -> None:
        """
        tempauth hands out storage URLs of the request's own scheme.
        """
        _, url = self.token()
        self.assertEqual(url, f"https://127.0.0.1:{self.proxy.port}/v1/AUTH_test")

    def test_roundTrip(self) -> None:
        """
        A few MiB go up and come back whole, and a range of them, over
        several connections (both workers, as the kernel hands them out).
        """
        token, _ = self.token()
        auth = {"X-Auth-Token": token}
        body = os.urandom(5 * 1024 * 1024 + 17)
        self.assertEqual(self.proxy.https("PUT", "/v1/AUTH_test/tls", auth)[0] // 100, 2)
        status, headers, _ = self.proxy.https("PUT", "/v1/AUTH_test/tls/big", auth, body)
        self.assertEqual(status, 201)
        self.assertEqual(headers["etag"], hashlib.md5(body).hexdigest())
        for _ in range(3):
            status, _, data = self.proxy.https("GET", "/v1/AUTH_test/tls/big", auth)
            self.assertEqual(status, 200)
            self.assertEqual(hashlib.md5(data).hexdigest(), hashlib.md5(body).hexdigest())
        status, _, data = self.proxy.https(
            "GET", "/v1/AUTH_test/tls/big", {**auth, "Range": "bytes=3000000-3000099"})
        self.assertEqual((status, data), (206, body[3000000:3000100]))

    def test_plainHttpRefused(self) -> None:
        """
        Plain HTTP to the HTTPS port gets no answer: the connection is
        closed, nothing is logged as an error, and HTTPS goes on.
        """
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.port, timeout=60)
        with self.assertRaises((http.client.HTTPException, ConnectionError)):
            exchange(conn, "GET", "/healthcheck")
        self.assertEqual(self.proxy.https("GET", "/healthcheck")[0], 200)
        self.assertNotIn("Traceback", self.proxy.log())
        self.assertNotIn("Unhandled", self.proxy.log())


def _functests_summary(output: str) -> tuple[int, int]:
    match = re.search(r"functests: (\d+) passed, (\d+) failed", output)
    if match is None:
        raise AssertionError(f"no summary from scripts/functests:\n{output[-3000:]}")
    return int(match.group(1)), int(match.group(2))


class HTTPSFunctionalTests(SynchronousTestCase):
    """
    Swift's core functional suite against two workers serving HTTPS.
    """

    def test_coreSuite(self) -> None:
        if not os.environ.get("TWISTED_PROXY_FUNCTESTS"):
            raise SkipTest("Swift's functional suite: set TWISTED_PROXY_FUNCTESTS=1 to run it")
        proxy = _https_workers()
        completed = subprocess.run(
            [sys.executable, os.path.join(REPO, "scripts", "functests"), "--suite", "core",
             "--auth", f"https://127.0.0.1:{proxy.port}/auth/v1.0",
             "--cacert", proxy.tls.ca_file],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=3600)
        passed, failed = _functests_summary(completed.stdout)
        self.assertEqual(failed, 0, completed.stdout[-3000:])
        self.assertGreaterEqual(passed, 290)


#: The client the PROXY headers name, and the address it connected to.
CLIENT = ("203.0.113.7", 51234)
FRONT = ("192.0.2.1", 443)


def _proxied_configuration(workdir: str, tls: TLSFiles) -> str:
    """
    A single-process proxy with its own throw-away cluster, behind TLS
    and the PROXY protocol, both set in the application's section.
    """
    return aio_config(os.path.join(workdir, "data"), {}, app={
        "require_proxy_protocol": "true", "cert_file": tls.cert_file,
        "key_file": tls.key_file})


def _health_checked(port: int, tls: TLSFiles) -> http.client.HTTPConnection:
    """
    A connection behind a v2 C{LOCAL} header, a balancer's health check.
    """
    local = proxy_v2_header(("127.0.0.1", 1), ("127.0.0.1", 2), command=0x20)
    return _ProxiedHTTPS(port, local, _context(tls))


_proxied = SharedFixture(
    lambda: _start_tls_proxy("proxied", _proxied_configuration, _health_checked, chain=True),
    once=True)


class ProxyProtocolTests(SynchronousTestCase):
    """
    A proxy behind TLS and the PROXY protocol: the header, then the TLS
    handshake, then HTTP.
    """

    def setUp(self) -> None:
        self.proxy = _proxied()

    def proxied(self, header: bytes, method: str, path: str) -> Reply:
        conn = _ProxiedHTTPS(self.proxy.port, header, _context(self.proxy.tls))
        return exchange(conn, method, path, {"User-Agent": "proxied-e2e"})

    def test_clientAddressLogged(self) -> None:
        """
        A request behind a v2 header is logged with the client the header
        names, as its client and remote address.
        """
        path = f"/v1/AUTH_test/proxied-{os.getpid()}"
        status, _, _ = self.proxied(proxy_v2_header(CLIENT, FRONT), "HEAD", path)
        self.assertEqual(status, 404)
        [line] = [line for line in self.proxy.log().splitlines()
                  if f" HEAD {path} " in line]
        self.assertIn(f"{CLIENT[0]} {CLIENT[0]} ", line)

    def test_v1(self) -> None:
        header = f"PROXY TCP4 {CLIENT[0]} {FRONT[0]} {CLIENT[1]} {FRONT[1]}\r\n".encode()
        path = f"/v1/AUTH_test/proxied-v1-{os.getpid()}"
        self.assertEqual(self.proxied(header, "HEAD", path)[0], 404)
        [line] = [line for line in self.proxy.log().splitlines()
                  if f" HEAD {path} " in line]
        self.assertIn(f"{CLIENT[0]} {CLIENT[0]} ", line)

    def test_noHeaderRejected(self) -> None:
        """
        A request without the header is answered C{400 Invalid PROXY
        line}, in plain text as no TLS was begun, and the connection is
        closed; a TLS client without it fails its handshake.
        """
        with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=60) as raw:
            raw.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while True:
                data = raw.recv(65536)
                if not data:
                    break
                answer += data
        self.assertEqual(answer.split(b"\r\n")[0], b"HTTP/1.1 400 Invalid PROXY line")
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            exchange(_https(self.proxy.port, self.proxy.tls, 60), "GET", "/healthcheck")

    def test_streamsWithBackpressure(self) -> None:
        """
        Bodies stream through the TLS and PROXY layers: a client that
        stops reading a 64 MiB GET for seconds pauses the proxy's reading
        from the storage node, and the proxy's memory does not grow with
        the object.
        """
        mib = 1024 * 1024
        size = 64 * mib
        header = proxy_v2_header(CLIENT, FRONT)
        container = f"/v1/AUTH_test/streamed-{os.getpid()}"
        self.assertEqual(self.proxied(header, "PUT", container)[0] // 100, 2)
        pid = self.proxy.proxy.process.pid
        reset_peak_rss(pid)
        start_rss = proc_status_kib(pid, "VmRSS")
        block = os.urandom(mib)
        conn = _ProxiedHTTPS(self.proxy.port, header, _context(self.proxy.tls))
        try:
            conn.putrequest("PUT", f"{container}/big")
            conn.putheader("Content-Length", str(size))
            conn.endheaders()
            for _ in range(size // mib):
                conn.send(block)
            reply = conn.getresponse()
            reply.read()
        finally:
            conn.close()
        self.assertEqual(reply.status, 201)
        digest = hashlib.md5()
        conn = _ProxiedHTTPS(self.proxy.port, header, _context(self.proxy.tls))
        try:
            conn.request("GET", f"{container}/big")
            reply = conn.getresponse()
            digest.update(reply.read(mib))
            time.sleep(5)
            for data in read_chunks(reply, mib):
                digest.update(data)
        finally:
            conn.close()
        self.assertEqual(digest.hexdigest(), hashlib.md5(block * (size // mib)).hexdigest())
        growth_mib = (proc_status_kib(pid, "VmHWM") - start_rss) / 1024
        self.assertLess(growth_mib, 32, f"proxy peak RSS grew by {growth_mib:.1f} MiB")


class UnusableCertificateTests(SynchronousTestCase):
    """
    A certificate that cannot be used stops C{twistd} with one line,
    before a worker or a storage server starts.
    """

    def test_missingCertificate(self) -> None:
        workdir = os.path.abspath(self.mktemp())
        tls = write_tls_files(os.path.join(workdir, "tls"))
        missing = os.path.join(workdir, "missing.pem")
        config = os.path.join(workdir, "proxy-server.conf")
        with open(config, "w") as handle:
            handle.write(aio_config(os.path.join(workdir, "data"), {}, app={
                "workers": "2", "cert_file": missing, "key_file": tls.key_file}))
        result = subprocess.run(
            twistd_command() + ["-n", "--pidfile=", "twisted-proxy", "--config", config,
                                "--port", f"tcp:{free_port()}:interface=127.0.0.1"],
            cwd=workdir, capture_output=True, text=True, timeout=300,
            stdin=subprocess.DEVNULL)
        self.assertNotEqual(result.returncode, 0)
        self.assertEqual(result.stderr.strip().splitlines()[-1],
                         f"twisted-proxy: cert_file {missing}: No such file or directory",
                         result.stderr)
        self.assertNotIn("listening", result.stdout)
