"""
Reloading a real C{workers = 2} proxy in front of its all-in-one cluster
(L{twisted_proxy.service.reload}): C{SIGHUP} and C{SIGUSR1} replace the
workers while clients keep sending requests, and none fails; a changed
tempauth user takes effect; a bad file is rejected while the old
configuration serves on.
"""

from __future__ import annotations

import glob
import http.client
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from typing import Optional

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.e2e.aioproxy import (
    REPO,
    RunningProxy,
    SharedFixture,
    auth,
    request,
    running_proxy,
    start_proxy,
)
from tests.e2e.test_workers import is_forked_worker, workers_of

#: A reload's outcome line in twistd's log.
_OUTCOME = re.compile(r"\breload (\d+) \((SIGHUP|SIGUSR1)\)(:| rejected:| failed:) (.*)$")


class _ReloadableProxy:
    """
    twisted-proxy with C{workers = 2} and its all-in-one cluster (with its
    Redis, which the workers share), from a copy of C{conf/aio.conf} that
    the tests may change.
    """

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            raise SkipTest("workers with tempauth need redis-server")
        with open(os.path.join(REPO, "conf", "aio.conf")) as original:
            text = original.read()
        # conf/aio.conf's pipeline and users on the smallest cluster (3
        # storage servers, one policy, one replica): it starts sooner and
        # leaves more of a loaded machine to the workers starting.
        for old, new in [
            ("[app:proxy-server]\n",
             "[app:proxy-server]\nworkers = 2\nstale_worker_timeout = 60\n"),
            ("\ndevices = 4\n", "\ndevices = 1\nready_timeout = 240\n"),
            ("\nreplicas = 3\n", "\nreplicas = 1\n"),
            ("\npart_power = 10\n", "\npart_power = 8\n"),
            ("\npolicies = gold, silver, ec\n", "\npolicies = gold\n"),
            ("\nec_policies = ec\n", "\n"),
        ]:
            if old not in text:
                raise AssertionError(f"conf/aio.conf has no {old!r}")
            text = text.replace(old, new, 1)
        self.original = text
        self.directory = tempfile.mkdtemp(prefix="twisted-proxy-reload-")
        self.path = os.path.join(self.directory, "proxy-server.conf")
        self.write(self.original)
        try:
            self.proxy: RunningProxy = start_proxy(self.path, timeout=300)
        except BaseException:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise

    @property
    def running(self) -> bool:
        return self.proxy.running

    @property
    def pid(self) -> int:
        return self.proxy.process.pid

    def stop(self) -> None:
        self.proxy.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def write(self, text: str) -> None:
        """
        Replace the configuration file (atomically, as an editor would).
        """
        fresh = self.path + ".new"
        with open(fresh, "w") as handle:
            handle.write(text)
        os.replace(fresh, self.path)

    def reload(self, how: signal.Signals) -> tuple[str, str]:
        return reload(self.proxy, how)

    def workers(self) -> list[int]:
        """
        The pids of twistd's worker processes.
        """
        return sorted(workers_of(self.pid))

    def wait_for_workers(self, count: int, timeout: float = 90) -> list[int]:
        """
        Wait until twistd has C{count} workers (the old ones have drained).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.workers()
            if len(found) == count:
                return found
            time.sleep(0.2)
        raise AssertionError(f"workers: {self.workers()}")


def outcomes(proxy: RunningProxy) -> dict[int, tuple[str, str, str]]:
    """
    The reload lines C{proxy} logged so far, by reload number: signal, how
    (C{:}, C{rejected:}, C{failed:}) and the rest. twistd's log files
    rotated away (at 1 MB, by default) are read too.
    """
    found = {}
    for path in glob.glob(proxy.logfile + "*"):
        try:
            with open(path, encoding="utf-8", errors="replace") as log:
                for line in log:
                    match = _OUTCOME.search(line.rstrip("\n"))
                    if match:
                        found[int(match.group(1))] = (
                            match.group(2), match.group(3), match.group(4))
        except OSError:
            continue
    return found


def reload(proxy: RunningProxy, how: signal.Signals, timeout: float = 120) -> tuple[str, str]:
    """
    Send C{how} to C{proxy}'s twistd and wait for its reload's line.

    @return: how it went (C{:}, C{rejected:}, C{failed:}) and the rest of
        the line.
    """
    number = max(outcomes(proxy), default=0) + 1
    os.kill(proxy.process.pid, how)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = outcomes(proxy).get(number)
        if found is not None:
            name, result, text = found
            assert name == how.name, found
            return result, text
        if not proxy.running:
            raise AssertionError(f"twistd exited:\n{proxy.log_tail()}")
        time.sleep(0.1)
    raise AssertionError(f"no reload line within {timeout}s:\n{proxy.log_tail()}")


_shared = SharedFixture(_ReloadableProxy, once=True)


class _Load:
    """
    Clients sending PUTs and GETs without pause from threads: some on a new
    connection for each request, some on one kept-alive connection (which
    http.client opens again after a C{Connection: close}). Every failure
    is kept: an exception (refused, reset, closed without an answer) or
    an unexpected status.
    """

    def __init__(self, port: int, token: str, container: str) -> None:
        self.port = port
        self.token = token
        self.container = container
        self.failures: list[str] = []
        self.done = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(f"fresh{n}", False), daemon=True)
            for n in range(2)
        ] + [
            threading.Thread(target=self._run, args=(f"kept{n}", True), daemon=True)
            for n in range(2)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)

    def _exchange(self, conn: http.client.HTTPConnection, method: str, path: str,
                  body: Optional[bytes]) -> tuple[int, bytes]:
        conn.request(method, path, body=body, headers={"X-Auth-Token": self.token})
        reply = conn.getresponse()
        return reply.status, reply.read()

    def _run(self, name: str, keep_alive: bool) -> None:
        conn: Optional[http.client.HTTPConnection] = None
        number = 0
        while not self._stop.is_set():
            number += 1
            path = f"/v1/AUTH_test/{self.container}/{name}-{number % 20}"
            body = f"{name} {number}".encode()
            for method, expected in (("PUT", 201), ("GET", 200)):
                if conn is None or not keep_alive:
                    if conn is not None:
                        conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                try:
                    status, data = self._exchange(conn, method, path,
                                                  body if method == "PUT" else None)
                except (OSError, http.client.HTTPException) as error:
                    self._failed(f"{name} {method} {path}: {error!r}")
                    conn.close()
                    conn = None
                    continue
                if status != expected or (method == "GET" and data != body):
                    self._failed(f"{name} {method} {path}: {status} {data[:200]!r}")
                else:
                    with self._lock:
                        self.done += 1
        if conn is not None:
            conn.close()

    def _failed(self, what: str) -> None:
        with self._lock:
            self.failures.append(f"{time.strftime('%H:%M:%S')} {what}")


class ReloadTests(SynchronousTestCase):
    """
    Reloading C{workers = 2}.
    """

    def setUp(self) -> None:
        self.proxy = _shared()
        self.port = self.proxy.proxy.port

    def token(self, user: str = "test:tester", key: str = "testing") -> str:
        return auth(self.port, user, key)[0]

    def object_puts(self) -> float:
        """
        The object PUTs answered 201, by the metrics plugin's scrape, which
        answers for every worker, running or gone.
        """
        status, _, body = request(self.port, "GET", "/metrics")
        self.assertEqual(status, 200)
        total = 0.0
        for line in body.decode().splitlines():
            if (line.startswith("twisted_proxy_requests_total{") and 'method="PUT"' in line
                    and 'type="object"' in line and 'status="2xx"' in line):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def test_reloadUnderLoad(self) -> None:
        """
        Five C{SIGHUP}s and five C{SIGUSR1}s, each reload done before the
        next, while clients send requests on new and kept-alive
        connections: every worker is replaced and not one request fails.
        """
        token = self.token()
        self.assertTrue(token)
        status, _, _ = request(self.port, "PUT", "/v1/AUTH_test/reload-load",
                               {"X-Auth-Token": token})
        self.assertIn(status, (201, 202))
        first = self.proxy.wait_for_workers(2)
        for pid in first:
            self.assertTrue(is_forked_worker(self.proxy.pid, pid), pid)
        puts = self.object_puts()
        load = _Load(self.port, token, "reload-load")
        load.start()
        try:
            time.sleep(1)
            for how in [signal.SIGHUP, signal.SIGUSR1] * 5:
                done_before = load.done
                result, text = self.proxy.reload(how)
                self.assertEqual(result, ":", text)
                self.assertIn("serve it", text)
                # Requests go on between reloads.
                deadline = time.monotonic() + 30
                while load.done < done_before + 4 and time.monotonic() < deadline:
                    time.sleep(0.05)
            time.sleep(1)
        finally:
            load.stop()
        self.assertEqual(load.failures, [])
        self.assertGreater(load.done, 100)
        last = self.proxy.wait_for_workers(2)
        self.assertFalse(set(first) & set(last))
        # The last generation was forked too (worker_start = fork).
        for pid in last:
            self.assertTrue(is_forked_worker(self.proxy.pid, pid), pid)
        # The metrics count what the replaced workers did too.
        self.assertGreaterEqual(self.object_puts() - puts, load.done // 2 - 8)

    def test_tempauthUserChange(self) -> None:
        """
        A user added to tempauth by a reload authenticates, a removed one
        no longer does, a changed key is the only one that works; a bad
        file is rejected and the configuration before it serves on.
        """
        original = self.proxy.original
        self.addCleanup(self._restore)
        self.assertEqual(self.token("test:newuser", "pw"), "")
        self.proxy.write(original.replace(
            "user_test_tester3 = testing3\n",
            "user_test_tester3 = testing3\nuser_test_newuser = pw .admin\n"))
        before = self.proxy.wait_for_workers(2)
        self.assertEqual(self.proxy.reload(signal.SIGHUP)[0], ":")
        # Forked workers of the new generation build the new file's text.
        after = self.proxy.wait_for_workers(2)
        self.assertFalse(set(before) & set(after))
        for pid in after:
            self.assertTrue(is_forked_worker(self.proxy.pid, pid), pid)
        token = self.token("test:newuser", "pw")
        self.assertTrue(token)
        status, _, _ = request(self.port, "GET", "/v1/AUTH_test", {"X-Auth-Token": token})
        self.assertEqual(status // 100, 2)

        workers = self.proxy.wait_for_workers(2)
        self.proxy.write(original.replace("pipeline = catch_errors",
                                          "pipeline = catch_errors no_such_filter"))
        result, text = self.proxy.reload(signal.SIGUSR1)
        self.assertEqual(result, " rejected:")
        self.assertIn("'no_such_filter'", text)
        self.assertTrue(text.endswith("still serving the previous configuration"))
        self.assertEqual(self.proxy.workers(), workers)
        self.assertTrue(self.token("test:newuser", "pw"))

        self.proxy.write(original.replace("user_test_tester2 = testing2 .admin",
                                          "user_test_tester2 = changed2 .admin"))
        self.assertEqual(self.proxy.reload(signal.SIGUSR1)[0], ":")
        self.assertEqual(self.token("test:newuser", "pw"), "")
        self.assertEqual(self.token("test:tester2", "testing2"), "")
        self.assertTrue(self.token("test:tester2", "changed2"))
        self.assertTrue(self.token())

    def _restore(self) -> None:
        if self.proxy.running:
            self.proxy.write(self.proxy.original)
            self.proxy.reload(signal.SIGHUP)


class SingleProcessReloadTests(SynchronousTestCase):
    """
    Reloading the shared proxy, which serves C{conf/aio.conf} in the twistd
    process (C{workers = 1}).
    """

    def test_reload(self) -> None:
        """
        C{SIGHUP} and C{SIGUSR1} check the file and read the rings again;
        the same process serves on.
        """
        proxy = running_proxy()
        for how in (signal.SIGHUP, signal.SIGUSR1):
            result, text = reload(proxy, how)
            self.assertEqual(result, ":")
            self.assertTrue(text.startswith("configuration unchanged; rings "), text)
            self.assertTrue(proxy.running)
            status, _, _ = request(proxy.port, "GET", "/healthcheck")
            self.assertEqual(status, 200)
