"""
twisted-proxy against Swift's swift-proxy-server, side by side, in front of
the same storage cluster: run by C{bench/compare} (see bench/README.rst).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from typing import Any, Optional

import chart
import procstats
import report
import workloads
from services import (
    SWIFT_PIPELINE,
    TWISTED_PIPELINE,
    Cluster,
    Proxy,
    ServiceError,
    Services,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "bench", "results")
#: A copy of the latest run's chart, kept in the repository: README.rst
#: shows it.
LATEST_CHART = os.path.join(REPO, "bench", "latest.png")
DATA_DIR = "/dev/shm/twisted-proxy-bench" if os.path.isdir("/dev/shm") else None

SMALL_BYTES = 4096
LISTING_OBJECTS = 1000
LISTING_LIMIT = 100


@dataclass(frozen=True)
class Test:
    name: str
    label: str
    kind: str  # "wrk" or "large"


TESTS = (
    Test("small-get", "small GET 4 KiB", "wrk"),
    # wrk 4.1 cannot read a HEAD response whose Content-Length is not 0 (it
    # waits for the body), so HEAD goes to an empty object; a proxy does the
    # same work for a HEAD whatever the object's size.
    Test("small-head", "small HEAD (0 B)", "wrk"),
    Test("small-put", "small PUT 4 KiB", "wrk"),
    Test("listing", f"listing limit={LISTING_LIMIT}", "wrk"),
    Test("large-put", "large PUT", "large"),
    Test("large-get", "large GET", "large"),
)
GROUPS = {
    "small": ("small-get", "small-head", "small-put"),
    "large": ("large-put", "large-get"),
    "get": ("small-get", "large-get"),
    "put": ("small-put", "large-put"),
    "head": ("small-head",),
}
#: What --ec measures unless --only says otherwise.
EC_TESTS = ("small-get", "small-put", "large-put", "large-get")
CLIENTS = ("python", "curl")
#: The erasure coding of the --ec policy, as in conf/aio-ec.conf.
EC_SCHEME = "liberasurecode_rs_vand 4+2, 1 MiB segments"
#: The PyPy that --pypy runs twisted-proxy with (PYTHON=pypy3 scripts/bootstrap).
PYPY_PYTHON = os.path.join(REPO, ".venv-pypy", "bin", "python")


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/compare",
        description="Benchmark twisted-proxy against swift-proxy-server, both in "
        "front of one local Swift storage cluster.",
    )
    parser.add_argument("--workers", type=int, choices=(1, 2, 4), default=1,
                        help="proxy worker processes (default 1)")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds of each wrk measurement (default 10)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds of unmeasured wrk load before each "
                        "measurement (default 1; 0: none)")
    parser.add_argument("--large-mib", type=int, default=256,
                        help="size of the large object in MiB (default 256)")
    parser.add_argument("--large-runs", type=int, default=None,
                        help="sequential large transfers per proxy, direction, "
                        "client and round (default 3; 1 with --ec)")
    parser.add_argument("--ec", action="store_true",
                        help="erasure-coded mode: every container in the EC policy "
                        f"({EC_SCHEME}, 6 object servers); by default measures "
                        + ", ".join(EC_TESTS) + " over 3 rounds with both clients")
    parser.add_argument("--rounds", type=int, default=None,
                        help="repeat every test this many times, alternating which "
                        "proxy goes first; the table shows medians (default 1; "
                        "3 with --ec)")
    parser.add_argument("--clients", default=None,
                        help="comma-separated clients for the large transfers: "
                        "python (http.client), curl (default python; python,curl "
                        "with --ec)")
    parser.add_argument("--pypy", action="store_true",
                        help="also run twisted-proxy under PyPy, as a third proxy "
                        "measured in the same run (ratios pypy/swift)")
    parser.add_argument("--pypy-python", default=PYPY_PYTHON,
                        help="the PyPy for --pypy, with twisted-proxy installed "
                        "(default .venv-pypy/bin/python)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=16,
                        help="wrk connections (default 16)")
    names = [t.name for t in TESTS]
    parser.add_argument(
        "--only", default="",
        help="comma-separated tests or groups to run (default all): "
        + ", ".join(names + sorted(GROUPS)))
    parser.add_argument("--keep", action="store_true",
                        help="leave the cluster, redis, memcached and both "
                        "proxies running at the end, and print how to stop them")
    parser.add_argument("--data-dir", default=DATA_DIR,
                        help="parent of the cluster's data (default "
                        "/dev/shm/twisted-proxy-bench)")
    options = parser.parse_args(argv)
    wanted: set[str] = set()
    for word in filter(None, (w.strip() for w in options.only.split(","))):
        if word in GROUPS:
            wanted.update(GROUPS[word])
        elif word in names:
            wanted.add(word)
        else:
            parser.error(f"--only: unknown test {word!r}; choose from "
                         + ", ".join(names + sorted(GROUPS)))
    if not wanted and options.ec:
        wanted.update(EC_TESTS)
    options.tests = [t for t in TESTS if not wanted or t.name in wanted]
    if options.rounds is None:
        options.rounds = 3 if options.ec else 1
    if options.large_runs is None:
        options.large_runs = 1 if options.ec else 3
    if options.clients is None:
        options.clients = "python,curl" if options.ec else "python"
    options.client_list = [c.strip() for c in options.clients.split(",") if c.strip()]
    for client in options.client_list:
        if client not in CLIENTS:
            parser.error(f"--clients: unknown client {client!r}; choose from "
                         + ", ".join(CLIENTS))
    if not options.client_list or options.rounds < 1:
        parser.error("--clients: at least one; --rounds: at least 1")
    if options.duration < 1:
        parser.error("--duration: at least 1 second")
    if options.large_mib < 1 or options.large_runs < 1:
        parser.error("--large-mib and --large-runs: at least 1")
    if options.data_dir is None:
        options.data_dir = os.path.join(tempfile.gettempdir(), "twisted-proxy-bench")
    if options.pypy and not os.access(options.pypy_python, os.X_OK):
        parser.error(f"--pypy: no {options.pypy_python}; make it with "
                     "PYTHON=pypy3 scripts/bootstrap, or give --pypy-python")
    return options



def _version(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except OSError:
        return "?"
    return (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr).strip() else "?"


def versions(pypy_python: Optional[str] = None) -> dict[str, str]:
    from importlib.metadata import version

    found = {"python": platform.python_version()}
    if pypy_python is not None:
        found["pypy"] = _version([
            pypy_python, "-c", "import platform, sys; print('PyPy %s (Python %s)' % ("
            "'.'.join(map(str, sys.pypy_version_info[:3])), platform.python_version()))"])
    for package in ("swift", "twisted", "treq", "txredisapi"):
        try:
            found[package] = version(package)
        except Exception:
            pass
    found["wrk"] = _version(["wrk", "--version"])
    found["memcached"] = _version(["memcached", "-V"])
    found["redis"] = _version(["redis-server", "--version"])
    # rev-parse only reads: it never takes the index lock.
    found["git_commit"] = _version(["git", "-C", REPO, "rev-parse", "HEAD"])
    return found


def tcp_setup() -> dict[str, str]:
    """
    The machine's TCP congestion control and the loopback device's queueing
    discipline: together they decide whether the kernel paces every TCP
    flow itself (C{bbr} without C{fq}), which makes large transfers cost
    both proxies much more CPU in the kernel (see bench/README.rst).
    """
    found = {"congestion_control": "unknown", "loopback_qdisc": "unknown"}
    try:
        with open("/proc/sys/net/ipv4/tcp_congestion_control") as f:
            found["congestion_control"] = f.read().strip()
    except OSError:
        pass
    try:
        shown = subprocess.run(["tc", "qdisc", "show", "dev", "lo"], capture_output=True,
                               text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        shown = ""
    words = shown.split()
    if len(words) >= 2 and words[0] == "qdisc":
        found["loopback_qdisc"] = words[1]
    return found


class Bench:
    """
    One benchmark run: the services, the test data and the measurements.
    """

    def __init__(self, options: argparse.Namespace, services: Services) -> None:
        self.options = options
        self.services = services
        self.cluster: Optional[Cluster] = None
        self.proxies: dict[str, Proxy] = {}
        self.accounts: dict[str, workloads.Account] = {}
        self.peaks: dict[str, procstats.PeakTracker] = {}
        self.problems: list[str] = []
        self.payload: Optional[workloads.Payload] = None
        self.tag = f"{os.getpid()}-{int(time.time())}"
        self._buffer: Optional[bytearray] = None
        #: Where curl's upload file and downloads go (tmpfs when there is one).
        self.scratch: Optional[str] = None
        self.redis_port = 0
        self.memcached_port = 0

    # -- start ---------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        layout = ("6 devices, default policy EC " + EC_SCHEME if self.options.ec
                  else "4 devices, 3 replicas")
        log(f"starting the storage cluster ({layout}) in {self.options.data_dir}")
        self.cluster = self.services.start_cluster(self.options.data_dir, ec=self.options.ec)
        log(f"cluster ready: {self.cluster.root}")
        redis = self.redis_port = self.services.start_redis()
        memcached = self.memcached_port = self.services.start_memcached()
        log(f"redis-server on 127.0.0.1:{redis}, memcached on 127.0.0.1:{memcached}")
        workers = self.options.workers
        self.proxies["swift"] = self.services.start_swift_proxy(
            self.cluster.swift_dir, memcached, workers)
        self.proxies["twisted"] = self.services.start_twisted_proxy(
            self.cluster.swift_dir, redis, workers)
        if self.options.pypy:
            self.proxies["pypy"] = self.services.start_twisted_proxy(
                self.cluster.swift_dir, redis, workers, name="pypy",
                python=self.options.pypy_python)
        for name, proxy in self.proxies.items():
            processes = self.services.await_workers(proxy)
            serving = len(processes) - (1 if name == "swift" else 0)
            if name != "swift" and serving < workers:
                proxy.note = (f"{name} ran {len(processes)} process(es) with "
                              f"workers = {workers}: this build does not support "
                              "workers, so it was measured with 1 process")
                log(proxy.note)
            self.peaks[name] = procstats.PeakTracker()
            self.peaks[name].update(procstats.sample(proxy.pid))
            log(f"{name} proxy on {proxy.url}, pids {processes}")
        self.services.remember_descendants()
        log(f"services up in {time.monotonic() - started:.1f}s")

    # -- data ----------------------------------------------------------------

    def prepare(self) -> None:
        """
        Authenticate with both proxies and lay out the data through Swift's
        proxy (the reference), then check that both serve it right.
        """
        for name, proxy in self.proxies.items():
            self.accounts[name] = workloads.authenticate(proxy.url)
        ref = self.accounts["swift"]
        names = {t.name for t in self.options.tests}
        started = time.monotonic()
        containers = ["bench", "bench-large"] + [f"bench-put-{n}" for n in self.proxies]
        for container in containers:
            status, _, body = workloads.request(ref, "PUT", ref.path_of(container))
            if status not in (201, 202):
                raise RuntimeError(f"PUT {container}: {status} {body[:200]!r}")
        self.small = bytes(range(256)) * (SMALL_BYTES // 256)
        status, _, body = workloads.request(ref, "PUT", ref.path_of("bench", "small"),
                                            self.small)
        if status != 201:
            raise RuntimeError(f"PUT bench/small: {status} {body[:200]!r}")
        status, _, body = workloads.request(ref, "PUT", ref.path_of("bench", "empty"))
        if status != 201:
            raise RuntimeError(f"PUT bench/empty: {status} {body[:200]!r}")
        if "listing" in names:
            log(f"uploading {LISTING_OBJECTS} objects for the listing test")
            workloads.populate(ref, "bench-list", LISTING_OBJECTS)
        if names & {"large-get", "large-put"}:
            log(f"making the {self.options.large_mib} MiB payload")
            self.payload = workloads.Payload(self.options.large_mib)
            self._buffer = bytearray(self.payload.size)
            if "curl" in self.options.client_list:
                self.scratch = tempfile.mkdtemp(
                    prefix="twisted-proxy-bench-curl-",
                    dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
                self.payload.write_to(os.path.join(self.scratch, "payload"))
        if "large-get" in names:
            assert self.payload is not None
            log(f"uploading the {self.options.large_mib} MiB object for large GET")
            put = workloads.large_put(ref, ref.path_of("bench-large", "large-get"),
                                      self.payload)
            if not put.ok:
                raise RuntimeError(f"uploading bench-large/large-get: {put.problem}")
        log(f"data ready in {time.monotonic() - started:.1f}s; checking both proxies serve it")
        for name, account in self.accounts.items():
            self._check(name, account, names)

    def _check(self, name: str, account: workloads.Account, names: set[str]) -> None:
        import json

        def problem(text: str) -> None:
            self.problems.append(f"{name}: {text}")
            log(f"PROBLEM {name}: {text}")

        status, headers, body = workloads.request(account, "GET",
                                                  account.path_of("bench", "small"))
        if status != 200 or body != self.small:
            problem(f"GET bench/small: {status}, {len(body)} bytes "
                    f"({'same' if body == self.small else 'different'} content)")
        status, headers, body = workloads.request(account, "HEAD",
                                                  account.path_of("bench", "small"))
        if status != 200 or headers.get("content-length") != str(SMALL_BYTES) or body:
            problem(f"HEAD bench/small: {status}, Content-Length "
                    f"{headers.get('content-length')}, {len(body)} body bytes")
        status, headers, body = workloads.request(account, "HEAD",
                                                  account.path_of("bench", "empty"))
        if status != 200 or headers.get("content-length") != "0" or body:
            problem(f"HEAD bench/empty: {status}, Content-Length "
                    f"{headers.get('content-length')}, {len(body)} body bytes")
        if "listing" in names:
            status, headers, body = workloads.request(
                account, "GET", self._listing_path(account))
            try:
                entries = json.loads(body)
                wanted = [f"obj-{i:05d}" for i in range(LISTING_LIMIT)]
                right = [e.get("name") for e in entries] == wanted
            except ValueError:
                right = False
            if status != 200 or not right:
                problem(f"GET {self._listing_path(account)}: {status}, "
                        f"{'expected' if right else 'unexpected'} body {body[:120]!r}")

    def _listing_path(self, account: workloads.Account) -> str:
        return account.path_of("bench-list") + f"?format=json&limit={LISTING_LIMIT}"

    # -- measurements --------------------------------------------------------

    def run(self) -> list[dict[str, Any]]:
        """
        Every test (and, for large ones, every client), C{--rounds} times
        over; who goes first changes from one measurement to the next and
        from one round to the next, so drift favours no proxy.

        @return: one entry per test and client, with each round's
            measurements and their medians (errors: their sum).
        """
        entries: dict[tuple[str, str], dict[str, Any]] = {}
        names = list(self.proxies)
        rounds = self.options.rounds
        for round_index in range(rounds):
            if rounds > 1:
                log(f"round {round_index + 1} of {rounds}")
            step = 0
            for test in self.options.tests:
                clients = self.options.client_list if test.kind == "large" else [""]
                for client in clients:
                    # The proxies take turns going first: from one
                    # measurement to the next, and for each measurement from
                    # one round to the next (so with three proxies and three
                    # rounds, each goes first once).
                    shift = (step + round_index) % len(names)
                    order = names[shift:] + names[:shift]
                    step += 1
                    entry = entries.get((test.name, client))
                    if entry is None:
                        label = test.label
                        if test.kind == "large":
                            label = f"{label} {self.options.large_mib} MiB ({client})"
                        entry = entries[(test.name, client)] = {
                            "name": test.name, "label": label, "kind": test.kind,
                            "client": client or None, "orders": [],
                            "rounds": {name: [] for name in names}}
                    entry["orders"].append(order)
                    for name in order:
                        log(f"{entry['label']}: {name}")
                        try:
                            if test.kind == "wrk":
                                measured = self._measure_wrk(test, name)
                            else:
                                measured = self._measure_large(test, name, client)
                        except workloads.WrkError as error:
                            self.problems.append(f"{name}: {test.name}: {error}")
                            measured = {"failed": str(error)}
                        measured["loadavg"] = os.getloadavg()[0]
                        entry["rounds"][name].append(measured)
                        self._check_alive(name, test)
                        self._summarise(test, name, measured)
        results = []
        for entry in entries.values():
            keys = [key for key, _, _ in report.ROWS[entry["kind"]]]
            entry["proxies"] = {
                name: _medians(entry["rounds"][name], keys) for name in names
            }
            swift = entry["proxies"]["swift"]
            for name in names[1:]:
                entry[report.ratio_key(name)] = {
                    key: report.ratio(entry["proxies"][name].get(key), swift.get(key))
                    for key in keys if key != "errors"
                }
                entry[report.ratio_key(name, per_round=True)] = {
                    key: [report.ratio(t.get(key), w.get(key))
                          for t, w in zip(entry["rounds"][name], entry["rounds"]["swift"])]
                    for key in keys if key != "errors"
                }
            results.append(entry)
        return results

    def _wrk_target(self, test: Test, name: str) -> tuple[str, str, tuple[str, ...]]:
        account = self.accounts[name]
        if test.name == "small-get":
            return account.url("bench", "small"), "static.lua", ("GET",)
        if test.name == "small-head":
            return account.url("bench", "empty"), "static.lua", ("HEAD",)
        if test.name == "small-put":
            return (account.url(f"bench-put-{name}"), "put.lua",
                    (f"o{self.tag}-{int(time.time() * 1000)}", str(SMALL_BYTES)))
        if test.name == "listing":
            return account.base + self._listing_path(account), "static.lua", ("GET",)
        raise ValueError(test.name)

    def _measure_wrk(self, test: Test, name: str) -> dict[str, Any]:
        proxy = self.proxies[name]
        account = self.accounts[name]
        opts = self.options
        assert self.cluster is not None
        if opts.warmup > 0:
            url, script, args = self._wrk_target(test, name)
            workloads.run_wrk(url, account.token, opts.warmup, script, args,
                              opts.threads, opts.connections)
        url, script, args = self._wrk_target(test, name)
        before, storage_before = procstats.sample(proxy.pid), procstats.sample(self.cluster.pid)
        result = workloads.run_wrk(url, account.token, opts.duration, script, args,
                                   opts.threads, opts.connections)
        after, storage_after = procstats.sample(proxy.pid), procstats.sample(self.cluster.pid)
        self.peaks[name].update(after)
        cpu = after.cpu_since(before)
        storage_cpu = storage_after.cpu_since(storage_before)
        requests = result["requests"]
        seconds = result["duration_us"] / 1e6
        errors = result["errors"]
        measured = {
            "requests": requests,
            "seconds": seconds,
            "req_per_s": requests / seconds if seconds else None,
            "p50_ms": result["latency_us"]["p50"] / 1000,
            "p90_ms": result["latency_us"]["p90"] / 1000,
            "p99_ms": result["latency_us"]["p99"] / 1000,
            "max_ms": result["latency_us"]["max"] / 1000,
            "cpu_s": cpu,
            "cpu_ms_per_req": cpu * 1000 / requests if requests else None,
            "storage_cpu_s": storage_cpu,
            "storage_cpu_ms_per_req": storage_cpu * 1000 / requests if requests else None,
            "errors": sum(errors.values()),
            "error_kinds": errors,
            "peak_rss_mib_so_far": self.peaks[name].total / (1 << 20),
            "processes": len(after.cpu),
            "wrk_output": result["text"],
        }
        if measured["errors"]:
            measured["diagnosis"] = self._diagnose(test, name, url)
            self.problems.append(
                f"{name}: {test.name}: {measured['errors']} errors {errors}; "
                f"{measured['diagnosis']}")
        return measured

    def _diagnose(self, test: Test, name: str, url: str) -> str:
        """
        After wrk saw errors: the statuses of a few sequential requests, and
        whether the proxy logged tracebacks.
        """
        account = self.accounts[name]
        method = "HEAD" if test.name == "small-head" else "GET"
        path = url[len(account.base):]
        statuses: dict[str, int] = {}
        for _ in range(10):
            try:
                status, _, _ = workloads.request(
                    account, "PUT" if test.name == "small-put" else method,
                    path + ("/diagnose" if test.name == "small-put" else ""),
                    b"x" * SMALL_BYTES if test.name == "small-put" else b"")
                key = str(status)
            except Exception as error:  # noqa: BLE001 - reported, not handled
                key = type(error).__name__
            statuses[key] = statuses.get(key, 0) + 1
        tracebacks = self._log_count(self.proxies[name].log, "Traceback")
        return (f"10 sequential {method if test.name != 'small-put' else 'PUT'}s "
                f"afterwards: {statuses}; tracebacks in {self.proxies[name].log}: "
                f"{tracebacks}")

    _FINDINGS = ("Traceback", "Unhandled", "#critical]", "#error]", "#warn]",
                 "ERROR", "CRITICAL")

    def _log_findings(self, name: str) -> dict[str, Any]:
        """
        How many lines of a proxy's log look like trouble, with the first
        few of them; twisted-proxy's are listed as problems.
        """
        proxy = self.proxies[name]
        counts: dict[str, int] = {}
        samples: list[str] = []
        try:
            with open(proxy.log, encoding="utf-8", errors="replace") as f:
                for line in f:
                    hits = [n for n in self._FINDINGS if n in line]
                    for hit in hits:
                        counts[hit] = counts.get(hit, 0) + 1
                    if hits and len(samples) < 5:
                        samples.append(line.rstrip()[:300])
        except OSError:
            pass
        if counts:
            self.problems.append(f"{name}: its log {proxy.log} has lines with "
                                 f"{counts}; first: {samples[0]}")
        return {"counts": counts, "first": samples}

    @staticmethod
    def _log_count(path: str, needle: str) -> int:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return sum(needle in line for line in f)
        except OSError:
            return 0

    def _measure_large(self, test: Test, name: str, client: str) -> dict[str, Any]:
        proxy = self.proxies[name]
        account = self.accounts[name]
        payload = self.payload
        assert payload is not None and self.cluster is not None
        scratch = self.scratch or ""
        if test.name == "large-put":
            path = account.path_of("bench-large", f"large-put-{name}")

            def transfer() -> workloads.Transfer:
                assert payload is not None
                if client == "curl":
                    return workloads.curl_put(account, path, payload,
                                              os.path.join(scratch, "payload"),
                                              os.path.join(scratch, "headers"))
                return workloads.large_put(account, path, payload)
        else:
            path = account.path_of("bench-large", "large-get")

            def transfer() -> workloads.Transfer:
                assert payload is not None
                if client == "curl":
                    return workloads.curl_get(account, path, payload,
                                              os.path.join(scratch, "download"))
                return workloads.large_get(account, path, payload, self._buffer)
        before, storage_before = procstats.sample(proxy.pid), procstats.sample(self.cluster.pid)
        runs = [transfer() for _ in range(self.options.large_runs)]
        after, storage_after = procstats.sample(proxy.pid), procstats.sample(self.cluster.pid)
        self.peaks[name].update(after)
        cpu = after.cpu_since(before)
        storage_cpu = storage_after.cpu_since(storage_before)
        moved = sum(r.bytes for r in runs)
        good = [r for r in runs if r.ok]
        seconds = sum(r.seconds for r in good)
        gb = moved / 1e9
        measured = {
            "runs": [
                {"seconds": r.seconds, "bytes": r.bytes, "mb_per_s": r.mb_per_s,
                 "status": r.status, "ok": r.ok, "problem": r.problem,
                 "first_byte_seconds": r.first_byte_seconds}
                for r in runs
            ],
            "mb_per_s": sum(r.bytes for r in good) / seconds / 1e6 if seconds else None,
            "seconds": seconds / len(good) if good else None,
            "md5": payload.md5,
            "md5_verified": len(good),
            "cpu_s": cpu,
            # Per GB only of whole, verified transfers: a failed one moved
            # too little to say anything.
            "cpu_s_per_gb": cpu / gb if gb and len(good) == len(runs) else None,
            "storage_cpu_s": storage_cpu,
            "storage_cpu_s_per_gb": (storage_cpu / gb if gb and len(good) == len(runs)
                                     else None),
            "errors": len(runs) - len(good),
            "peak_rss_mib_so_far": self.peaks[name].total / (1 << 20),
            "processes": len(after.cpu),
            "client": client,
        }
        for r in runs:
            if not r.ok:
                self.problems.append(f"{name}: {test.name}: {r.problem}")
        return measured

    def _check_alive(self, name: str, test: Test) -> None:
        proxy = self.proxies[name]
        code = self.services.exit_code(proxy.pid)
        if code is not None:
            raise ServiceError(f"the {name} proxy exited with {code} during {test.name}; "
                               f"see {proxy.log}")

    def _summarise(self, test: Test, name: str, measured: dict[str, Any]) -> None:
        if "failed" in measured:
            log(f"  {name}: FAILED {measured['failed']}")
        elif test.kind == "wrk":
            log(f"  {name}: {measured['req_per_s']:.0f} req/s, p50 "
                f"{measured['p50_ms']:.2f} ms, p99 {measured['p99_ms']:.2f} ms, "
                f"{measured['cpu_ms_per_req'] or 0:.3f} CPU ms/req, "
                f"{measured['errors']} errors")
        else:
            speed = measured["mb_per_s"]
            log(f"  {name}: {speed or 0:.1f} MB/s, {measured['cpu_s_per_gb'] or 0:.2f} "
                f"CPU s/GB, {measured['md5_verified']}/{len(measured['runs'])} MD5-verified")

    def proxy_summary(self) -> dict[str, Any]:
        summary = {}
        for name, proxy in self.proxies.items():
            reading = procstats.sample(proxy.pid)
            peak = self.peaks[name]
            peak.update(reading)
            summary[name] = {
                "url": proxy.url,
                "pid": proxy.pid,
                "workers": proxy.workers,
                "processes": peak.processes,
                "peak_rss_mib": peak.total / (1 << 20),
                "peak_pss_mib": peak.pss / (1 << 20),
                "pipeline": SWIFT_PIPELINE if name == "swift" else TWISTED_PIPELINE,
                "info_cache": "memcached" if name == "swift" else "redis",
                "python": "pypy" if name == "pypy" else "cpython",
                "note": proxy.note,
                "log_findings": self._log_findings(name),
                "conf": proxy.conf,
                "log": proxy.log,
            }
        return summary


def _medians(rounds: list[dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    """
    One proxy's figures over the rounds: the median of each metric (the
    sum for C{errors}), with the sums of the large transfers' counts.
    """
    if len(rounds) == 1:
        return dict(rounds[0])
    out: dict[str, Any] = {"rounds": len(rounds)}
    for key in keys:
        values = [r[key] for r in rounds if r.get(key) is not None]
        if key == "errors":
            out[key] = sum(values)
        elif values:
            out[key] = statistics.median(values)
    for key in ("md5_verified", "requests"):
        values = [r[key] for r in rounds if key in r]
        if values:
            out[key] = sum(values)
    if any("runs" in r for r in rounds):
        out["transfers"] = sum(len(r.get("runs", ())) for r in rounds)
    return out


def _on_signal(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Optional[list[str]] = None) -> int:
    options = parse_args(argv)
    for program in ("wrk", "memcached"):
        if shutil.which(program) is None:
            print(f"bench/compare: {program} is not installed: "
                  "sudo apt-get install wrk memcached redis-server", file=sys.stderr)
            return 2
    # Also when started in the background, where SIGINT comes ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    started = time.monotonic()
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    workdir = tempfile.mkdtemp(prefix="twisted-proxy-bench-")
    services = Services(workdir)
    bench = Bench(options, services)
    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    status = 1
    interrupted = False
    try:
        bench.start()
        bench.prepare()
        tests = bench.run()
        results = {
            "timestamp": stamp,
            "command": ["bench/compare", *(sys.argv[1:] if argv is None else argv)],
            "settings": {
                "workers": options.workers,
                "duration_s": options.duration,
                "warmup_s": options.warmup,
                "wrk_threads": options.threads,
                "wrk_connections": options.connections,
                "small_bytes": SMALL_BYTES,
                "listing_objects": LISTING_OBJECTS,
                "listing_limit": LISTING_LIMIT,
                "large_mib": options.large_mib,
                "large_runs": options.large_runs,
                "tests": [t.name for t in options.tests],
                "ec": options.ec,
                "ec_scheme": EC_SCHEME if options.ec else None,
                "rounds": options.rounds,
                "clients": options.client_list,
                "pypy": options.pypy,
            },
            "machine": {
                "cpus": os.cpu_count(),
                "kernel": platform.release(),
                "loadavg_before": load_before,
                "loadavg_after": os.getloadavg(),
                "tcp": tcp_setup(),
            },
            "versions": versions(options.pypy_python if options.pypy else None),
            "proxies": bench.proxy_summary(),
            "tests": tests,
            "problems": bench.problems,
        }
        status = 0
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted; stopping everything")
    except (ServiceError, RuntimeError, workloads.WrkError) as error:
        log(f"error: {error}")
    except Exception:
        traceback.print_exc()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if bench.scratch is not None:
            shutil.rmtree(bench.scratch, ignore_errors=True)
        if options.keep:
            services.remember_descendants()
            pids = " ".join(str(pid) for _, pid in services.started())
            log("--keep: left running: " + ", ".join(
                f"{name} (pid {pid})" for name, pid in services.started()))
            for name, proxy in bench.proxies.items():
                log(f"  {name} proxy {proxy.url} conf {proxy.conf}")
            if bench.cluster is not None:
                log(f"  cluster swift_dir {bench.cluster.swift_dir}")
            log(f"stop them with: kill {pids}")
        else:
            for note in services.stop_all():
                log(note)
                bench.problems.append(note)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    elapsed = time.monotonic() - started
    if results:
        results["elapsed_s"] = elapsed
        path = os.path.join(RESULTS, f"{stamp}.json")
        report.write_json(results, path)
        picture = path[:-len(".json")] + ".png"
        why_not = chart.write_chart(results, picture)
        if why_not is None:
            shutil.copyfile(picture, LATEST_CHART)
        settings = results["settings"]
        print(f"twisted-proxy vs swift-proxy-server {results['versions'].get('swift', '?')}: "
              f"workers={settings['workers']}, wrk {settings['wrk_threads']} threads / "
              f"{settings['wrk_connections']} connections, {settings['duration_s']:g} s "
              f"per test (after {settings['warmup_s']:g} s warm-up), large objects "
              f"{settings['large_mib']} MiB x {settings['large_runs']}; "
              f"{results['machine']['cpus']} CPUs, load before "
              f"{load_before[0]:.2f}, after {results['machine']['loadavg_after'][0]:.2f}")
        tcp = results["machine"]["tcp"]
        print(f"TCP congestion control {tcp['congestion_control']}, loopback qdisc "
              f"{tcp['loopback_qdisc']}")
        if options.pypy:
            print("third proxy: twisted-proxy under "
                  f"{results['versions'].get('pypy', 'PyPy')} (column pypy)")
        if options.ec:
            print(f"policy: erasure coded, {EC_SCHEME}; clients for large objects: "
                  + ", ".join(options.client_list))
        if options.rounds > 1:
            print(f"medians of {options.rounds} rounds (proxies alternating); "
                  "ratios per round below the table")
        print()
        print(report.table(results))
        if options.rounds > 1:
            print()
            print(report.round_ratios(results))
        print()
        for name, summary in results["proxies"].items():
            if summary["note"]:
                print(f"note: {summary['note']}")
        print("CPU: utime+stime of each proxy's process tree (storage: all 12 "
              "storage servers); RSS: VmHWM summed over each proxy's processes "
              "(Swift's include its parent), counting shared pages once per process; "
              "PSS: Pss summed over the processes, the largest of the readings taken "
              "after each measurement (shared pages split between their processes).")
        for problem in results["problems"]:
            print(f"problem: {problem}")
        print(f"results: {path}")
        print(f"chart: {picture} (and {LATEST_CHART})" if why_not is None
              else f"no chart: {why_not}")
        print(f"took {elapsed:.0f} s")
    if not options.keep:
        if (status == 0 or interrupted) and not bench.problems:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"configurations and logs kept in {workdir}")
    return 130 if interrupted else status


if __name__ == "__main__":
    sys.exit(main())
