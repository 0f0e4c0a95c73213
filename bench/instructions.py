"""
Instructions per request of twisted-proxy and of swift-proxy-server, each
under valgrind's callgrind, in front of the same storage cluster: run by
C{bench/instructions} (see bench/README.rst).

Wall-clock CPU ratios (C{bench/compare}) need a quiet machine; instruction
counts do not: callgrind counts the instructions a process executes in user
space, whatever else the machine is doing. They leave out the kernel's
work for the process's system calls, so they complement C{bench/compare}
rather than replace it.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Optional

import workloads
from run import DATA_DIR, RESULTS, Bench, log, parse_args
from services import Proxy, ServiceError, Services

#: The workloads measured, as bench/compare names them.
TESTS = ("small-get", "small-head", "small-put", "listing")


def _options(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/instructions",
        description="Instructions per request of both proxies, under callgrind.")
    parser.add_argument("--requests", type=int, default=200,
                        help="requests counted per test and proxy (default 200)")
    parser.add_argument("--warmup", type=int, default=50,
                        help="requests made before counting starts (default 50)")
    parser.add_argument("--only", default=",".join(TESTS),
                        help="comma-separated tests (default all): " + ", ".join(TESTS))
    parser.add_argument("--proxies", default="swift,twisted",
                        help="comma-separated proxies to count: swift, twisted")
    parser.add_argument("--data-dir", default=DATA_DIR,
                        help="parent of the cluster's data (default %(default)s)")
    options = parser.parse_args(argv)
    options.tests = [t for t in options.only.split(",") if t]
    unknown = set(options.tests) - set(TESTS)
    if unknown:
        parser.error(f"unknown tests: {', '.join(sorted(unknown))}")
    options.proxy_list = [p for p in options.proxies.split(",") if p]
    if set(options.proxy_list) - {"swift", "twisted"}:
        parser.error("--proxies: swift and/or twisted")
    return options


class Counted:
    """
    A proxy process running under callgrind, and how to count what it does.

    @param proxy: the proxy (its C{pid} is the counted process).
    @param out_dir: where callgrind writes its files.
    """

    def __init__(self, proxy: Proxy, account: workloads.Account, out_dir: str) -> None:
        self.proxy = proxy
        self.account = account
        self.out_dir = out_dir
        self._connection: Optional[http.client.HTTPConnection] = None

    def _control(self, flag: str) -> None:
        subprocess.run(["callgrind_control", flag, str(self.proxy.pid)], check=True,
                       stdout=subprocess.DEVNULL, timeout=300)

    def zero(self) -> None:
        """
        Start counting from zero.
        """
        self._control("-z")

    def dump(self) -> int:
        """
        The instructions counted since L{zero}.
        """
        before = set(self._dumps())
        self._control("-d")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            new = sorted(set(self._dumps()) - before, key=os.path.getmtime)
            if new:
                time.sleep(0.5)  # written whole?
                return _total(new[-1])
            time.sleep(0.2)
        raise RuntimeError(f"callgrind wrote no dump for {self.proxy.name}")

    def _dumps(self) -> list[str]:
        return glob.glob(os.path.join(self.out_dir, f"cg.{self.proxy.pid}.*"))

    def request(self, method: str, path: str, body: bytes = b"") -> int:
        """
        One request on a kept-alive connection; the response read whole.
        """
        if self._connection is None:
            self._connection = http.client.HTTPConnection(
                self.account.host, self.account.port, timeout=300)
        headers = {"X-Auth-Token": self.account.token}
        if method == "PUT":
            headers["Content-Length"] = str(len(body))
        self._connection.request(method, path, body=body or None, headers=headers)
        response = self._connection.getresponse()
        response.read()
        if response.will_close:
            self._connection.close()
            self._connection = None
        return response.status


def _total(path: str) -> int:
    """
    The instruction total of a callgrind dump.
    """
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no total in {path}")


def _workload(test: str, counted: Counted, small: bytes) -> Callable[[int], int]:
    account = counted.account
    if test == "small-get":
        path = account.path_of("bench", "small")
        return lambda i: counted.request("GET", path)
    if test == "small-head":
        path = account.path_of("bench", "empty")
        return lambda i: counted.request("HEAD", path)
    if test == "small-put":
        container = f"bench-put-{counted.proxy.name}"
        return lambda i: counted.request("PUT", account.path_of(container, f"o{i}"), small)
    path = account.path_of("bench-list") + "?format=json&limit=100"
    return lambda i: counted.request("GET", path)


def measure(counted: Counted, test: str, warmup: int, requests: int, small: bytes) -> int:
    """
    Instructions per request of C{test} on C{counted}.
    """
    one = _workload(test, counted, small)
    for i in range(warmup):
        one(i)
    counted.zero()
    statuses: dict[int, int] = {}
    for i in range(warmup, warmup + requests):
        status = one(i)
        statuses[status] = statuses.get(status, 0) + 1
    total = counted.dump()
    if set(statuses) - {200, 201, 204}:
        raise RuntimeError(f"{counted.proxy.name} {test}: statuses {statuses}")
    return total // requests


def main(argv: Optional[list[str]] = None) -> int:
    options = _options(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("bench/instructions: valgrind is not installed: sudo apt-get install valgrind",
              file=sys.stderr)
        return 2
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    workdir = tempfile.mkdtemp(prefix="twisted-proxy-instructions-")
    services = Services(workdir)
    # The data is laid out and checked as bench/compare does, through
    # proxies running at full speed.
    bench = Bench(parse_args(["--only", ",".join(options.tests),
                              "--data-dir", options.data_dir]), services)
    results: dict[str, Any] = {}
    status = 1
    try:
        bench.start()
        bench.prepare()
        assert bench.cluster is not None
        small = bench.small
        counted: dict[str, Counted] = {}
        for name in options.proxy_list:
            out_dir = os.path.join(workdir, f"callgrind-{name}")
            os.makedirs(out_dir)
            wrapper = ["valgrind", "--tool=callgrind", "--dump-instr=no",
                       f"--callgrind-out-file={out_dir}/cg.%p"]
            log(f"starting {name} under callgrind (a minute or two)")
            if name == "swift":
                # workers = 0: Swift serves in the one process counted.
                proxy = services.start_swift_proxy(
                    bench.cluster.swift_dir, bench.memcached_port, 0, name="swift-cg",
                    wrapper=wrapper, timeout=600)
            else:
                proxy = services.start_twisted_proxy(
                    bench.cluster.swift_dir, bench.redis_port, 1, name="twisted-cg",
                    wrapper=wrapper, timeout=600)
            proxy.name = name
            counted[name] = Counted(proxy, workloads.authenticate(proxy.url), out_dir)
        table: dict[str, dict[str, int]] = {}
        for test in options.tests:
            for name, one in counted.items():
                log(f"{test}: {name}, {options.warmup} + {options.requests} requests")
                per_request = measure(one, test, options.warmup, options.requests, small)
                table.setdefault(test, {})[name] = per_request
                log(f"  {name}: {per_request:,} instructions/request")
        results = {"timestamp": stamp,
                   "command": ["bench/instructions", *(sys.argv[1:] if argv is None else argv)],
                   "requests": options.requests, "warmup": options.warmup,
                   "instructions_per_request": table}
        os.makedirs(RESULTS, exist_ok=True)
        path = os.path.join(RESULTS, f"instructions-{stamp}.json")
        with open(path, "w") as f:
            json.dump(results, f, indent=2)
        print()
        print(f"{'test':12s} {'swift-proxy-server':>20s} {'twisted-proxy':>15s} {'ratio':>7s}")
        for test, row in table.items():
            swift, twisted = row.get("swift"), row.get("twisted")
            ratio = f"{twisted / swift:.2f}" if swift and twisted else "-"
            print(f"{test:12s} {swift or 0:>20,} {twisted or 0:>15,} {ratio:>7s}")
        print("\ninstructions per request in user space (callgrind), one process each "
              f"(Swift workers = 0, twisted-proxy workers = 1), {options.requests} requests "
              f"after {options.warmup} on one kept-alive connection")
        print(f"results: {path}")
        status = 0
    except (ServiceError, RuntimeError, subprocess.SubprocessError, OSError) as error:
        log(f"failed: {error}")
    finally:
        for problem in services.stop_all():
            log(problem)
        if status == 0:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"configurations and logs kept in {workdir}")
    return status


if __name__ == "__main__":
    sys.exit(main())
