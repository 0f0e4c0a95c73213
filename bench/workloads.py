"""
What the benchmark does to a proxy: authenticate, lay out the test data,
run wrk against it, and move large objects with a Python client that
checks their MD5.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator, Optional
from urllib.parse import quote, urlsplit

__all__ = [
    "Account",
    "Payload",
    "authenticate",
    "request",
    "populate",
    "run_wrk",
    "large_put",
    "large_get",
    "curl_put",
    "curl_get",
    "WrkError",
]

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1 << 20


class WrkError(Exception):
    """
    wrk failed or printed no result.
    """


@dataclass(frozen=True)
class Account:
    """
    An authenticated view of one proxy.

    @ivar base: C{http://host:port}.
    @ivar path: the account's path, C{/v1/AUTH_test}.
    """

    base: str
    path: str
    token: str

    @property
    def host(self) -> str:
        return urlsplit(self.base).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.base).port or 80

    def url(self, *parts: str) -> str:
        return self.base + self.path_of(*parts)

    def path_of(self, *parts: str) -> str:
        return "/".join([self.path, *(quote(p) for p in parts)])


def request(account: Account, method: str, path: str, body: bytes = b"",
            headers: Optional[dict[str, str]] = None, timeout: float = 60.0
            ) -> tuple[int, dict[str, str], bytes]:
    """
    One request on a fresh connection; the whole response body is read.
    """
    conn = http.client.HTTPConnection(account.host, account.port, timeout=timeout)
    try:
        sent = {"X-Auth-Token": account.token, **(headers or {})}
        if method in ("PUT", "POST"):
            sent.setdefault("Content-Length", str(len(body)))
        conn.request(method, path, body=body or None, headers=sent)
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def authenticate(base: str, user: str = "test:tester", key: str = "testing") -> Account:
    """
    Get a tempauth token from the proxy at C{base}.

    @raise RuntimeError: the proxy did not answer 200 with a storage URL.
    """
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80,
                                      timeout=30)
    try:
        conn.request("GET", "/auth/v1.0", headers={"X-Auth-User": user, "X-Auth-Key": key})
        response = conn.getresponse()
        response.read()
        token = response.getheader("X-Auth-Token")
        storage = response.getheader("X-Storage-Url")
        if response.status != 200 or not token or not storage:
            raise RuntimeError(f"{base}/auth/v1.0 answered {response.status}")
    finally:
        conn.close()
    return Account(base, urlsplit(storage).path, token)


def _expect(what: str, status: int, wanted: tuple[int, ...], body: bytes = b"") -> None:
    if status not in wanted:
        raise RuntimeError(f"{what}: {status} {body[:200]!r}")


def populate(account: Account, container: str, count: int, size: int = 16,
             concurrency: int = 16) -> None:
    """
    Make C{container} hold C{count} small objects C{obj-00000}, ...
    """
    status, _, body = request(account, "PUT", account.path_of(container))
    _expect(f"PUT {container}", status, (201, 202), body)

    def put(index: int) -> None:
        conn = http.client.HTTPConnection(account.host, account.port, timeout=60)
        try:
            name = account.path_of(container, f"obj-{index:05d}")
            conn.request("PUT", name, body=b"o" * size,
                         headers={"X-Auth-Token": account.token})
            response = conn.getresponse()
            response.read()
            _expect(f"PUT {name}", response.status, (201,))
        finally:
            conn.close()

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(put, range(count)))
    status, headers, _ = request(account, "HEAD", account.path_of(container))
    listed = int(headers.get("x-container-object-count", "-1"))
    if listed != count:
        raise RuntimeError(f"{container} lists {listed} objects, wanted {count}")


def run_wrk(url: str, token: str, duration: float, script: str,
            args: tuple[str, ...] = (), threads: int = 2, connections: int = 16,
            timeout: float = 10.0) -> dict:
    """
    Run wrk with one of this directory's scripts.

    @return: the script's report (requests, duration_us, bytes, errors,
        latency_us percentiles) plus wrk's own text output under C{text}.
    @raise WrkError: wrk failed or printed no report.
    """
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
        "--latency", f"--timeout={timeout:g}s", "-s", os.path.join(HERE, script),
        "-H", f"X-Auth-Token: {token}", url, "--", *args,
    ]
    completed = subprocess.run(command, capture_output=True, text=True,
                               timeout=duration + timeout + 60)
    report = None
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH-JSON "):
            report = json.loads(line[len("BENCH-JSON "):])
    if completed.returncode != 0 or report is None:
        raise WrkError(
            f"{' '.join(command[:-len(args) - 1] if args else command)} exited with "
            f"{completed.returncode}: {completed.stderr.strip()[-500:]}")
    report["text"] = "\n".join(
        line for line in completed.stdout.splitlines() if not line.startswith("BENCH-JSON ")
    )
    return report


class Payload:
    """
    C{mib} MiB of reproducible data: a random MiB, each copy of it headed by
    its index, so a body with a MiB lost, repeated or reordered has another
    MD5.
    """

    def __init__(self, mib: int, seed: int = 20240229) -> None:
        self.mib = mib
        self.size = mib * MIB
        self._block = memoryview(random.Random(seed).randbytes(MIB))
        digest = hashlib.md5()
        for piece in self.pieces():
            digest.update(piece)
        self.md5 = digest.hexdigest()

    def write_to(self, path: str) -> None:
        """
        Write the payload to the file C{path} (for curl to upload).
        """
        with open(path, "wb") as f:
            for piece in self.pieces():
                f.write(piece)

    def pieces(self) -> Iterator[memoryview | bytes]:
        for index in range(self.mib):
            yield index.to_bytes(8, "big")
            yield self._block[8:]


@dataclass
class Transfer:
    """
    One large transfer.

    @ivar seconds: from sending the request to the last byte of the
        response.
    @ivar ok: the status was right and the MD5 matched.
    @ivar problem: why not, if not.
    """

    seconds: float
    bytes: int
    ok: bool
    status: int
    problem: str = ""
    first_byte_seconds: Optional[float] = None

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds else 0.0


def large_put(account: Account, path: str, payload: Payload) -> Transfer:
    """
    PUT C{payload} to C{path}, streamed from memory; it is right when the
    proxy answers 201 with the payload's MD5 as its Etag.
    """
    conn = http.client.HTTPConnection(account.host, account.port, timeout=300)
    started = time.perf_counter()
    try:
        conn.putrequest("PUT", path, skip_accept_encoding=True)
        conn.putheader("X-Auth-Token", account.token)
        conn.putheader("Content-Length", str(payload.size))
        conn.putheader("Content-Type", "application/octet-stream")
        conn.endheaders()
        assert conn.sock is not None
        sent = 0
        for piece in payload.pieces():
            conn.sock.sendall(piece)
            sent += len(piece)
        response = conn.getresponse()
        body = response.read()
        seconds = time.perf_counter() - started
    except (OSError, http.client.HTTPException) as error:
        return Transfer(time.perf_counter() - started, 0, False, 0,
                        f"{type(error).__name__}: {error}")
    finally:
        conn.close()
    etag = (response.getheader("Etag") or "").strip('"')
    problem = ""
    if response.status != 201:
        problem = f"status {response.status}: {body[:200]!r}"
    elif etag != payload.md5:
        problem = f"Etag {etag!r}, sent MD5 {payload.md5}"
    return Transfer(seconds, sent, not problem, response.status, problem)


def large_get(account: Account, path: str, payload: Payload,
              buffer: Optional[bytearray] = None) -> Transfer:
    """
    GET C{path}, which holds C{payload}; it is right when the proxy answers
    200 and the body has the payload's MD5 (checked after the clock stops,
    from C{buffer}, so that hashing does not slow the transfer).
    """
    if buffer is None or len(buffer) < payload.size:
        buffer = bytearray(payload.size)
    view = memoryview(buffer)
    conn = http.client.HTTPConnection(account.host, account.port, timeout=300)
    got = 0
    started = time.perf_counter()
    first = None
    try:
        conn.request("GET", path, headers={"X-Auth-Token": account.token})
        response = conn.getresponse()
        first = time.perf_counter() - started
        while got < payload.size:
            count = response.readinto(view[got:got + 4 * MIB])
            if not count:
                break
            got += count
        extra = response.read()
        seconds = time.perf_counter() - started
    except (OSError, http.client.HTTPException) as error:
        return Transfer(time.perf_counter() - started, got, False, 0,
                        f"{type(error).__name__} after {got} bytes: {error}")
    finally:
        conn.close()
    problem = ""
    if response.status != 200:
        problem = f"status {response.status}"
    elif extra or got != payload.size:
        problem = f"body of {got + len(extra)} bytes, wanted {payload.size}"
    else:
        digest = hashlib.md5(view[:got]).hexdigest()
        if digest != payload.md5:
            problem = f"body MD5 {digest}, stored {payload.md5}"
    return Transfer(seconds, got, not problem, response.status, problem, first)


def _curl(argv: list[str], timeout: float = 600.0) -> tuple[int, str, str]:
    """
    Run curl; its exit status, the C{-w} line it printed, and its errors.
    """
    completed = subprocess.run(["curl", "-sS", *argv], capture_output=True, text=True,
                               timeout=timeout)
    return completed.returncode, completed.stdout.strip(), completed.stderr.strip()


def _curl_etag(head_file: str) -> str:
    etag = ""
    try:
        with open(head_file, encoding="latin-1") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip().lower() == "etag":
                    etag = value.strip().strip('"')
    except OSError:
        pass
    return etag


def curl_put(account: Account, path: str, payload: Payload, source: str,
             head_file: str) -> Transfer:
    """
    PUT C{payload}, written out beforehand to the file C{source}, with
    curl (C{-T}: a Content-Length, and curl's own C{Expect: 100-continue});
    right when the proxy answers 201 with the payload's MD5 as its Etag.
    The time is curl's C{time_total}.
    """
    code, line, errors = _curl([
        "-T", source, "-H", f"X-Auth-Token: {account.token}",
        "-H", "Content-Type: application/octet-stream", "-D", head_file,
        "-o", os.devnull, "-w", "%{http_code} %{size_upload} %{time_total}",
        account.base + path,
    ])
    try:
        status_text, sent_text, seconds_text = line.split()
        status, sent, seconds = int(status_text), int(float(sent_text)), float(seconds_text)
    except ValueError:
        return Transfer(0.0, 0, False, 0, f"curl exited with {code}: {errors[-300:]}")
    etag = _curl_etag(head_file)
    problem = ""
    if code != 0:
        problem = f"curl exited with {code}: {errors[-300:]}"
    elif status != 201:
        problem = f"status {status}"
    elif sent != payload.size:
        problem = f"curl sent {sent} bytes, wanted {payload.size}"
    elif etag != payload.md5:
        problem = f"Etag {etag!r}, sent MD5 {payload.md5}"
    return Transfer(seconds, sent, not problem, status, problem)


def curl_get(account: Account, path: str, payload: Payload, target: str) -> Transfer:
    """
    GET C{path} with curl into the file C{target}; right when the proxy
    answers 200 and the file has the payload's MD5 (hashed after curl is
    done). The time is curl's C{time_total}.
    """
    code, line, errors = _curl([
        "-H", f"X-Auth-Token: {account.token}", "-o", target,
        "-w", "%{http_code} %{size_download} %{time_total} %{time_starttransfer}",
        account.base + path,
    ])
    try:
        status_text, got_text, seconds_text, first_text = line.split()
        status, got = int(status_text), int(float(got_text))
        seconds, first = float(seconds_text), float(first_text)
    except ValueError:
        return Transfer(0.0, 0, False, 0, f"curl exited with {code}: {errors[-300:]}")
    problem = ""
    if code != 0:
        problem = f"curl exited with {code} after {got} bytes: {errors[-300:]}"
    elif status != 200:
        problem = f"status {status}"
    elif got != payload.size:
        problem = f"body of {got} bytes, wanted {payload.size}"
    else:
        digest = hashlib.md5()
        with open(target, "rb") as f:
            while True:
                block = f.read(4 * MIB)
                if not block:
                    break
                digest.update(block)
        if digest.hexdigest() != payload.md5:
            problem = f"body MD5 {digest.hexdigest()}, stored {payload.md5}"
    try:
        os.unlink(target)
    except OSError:
        pass
    return Transfer(seconds, got, not problem, status, problem, first)
