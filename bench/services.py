"""
The processes a benchmark run starts: one storage cluster
(C{python -m twisted_proxy_aio.cluster}), a private redis-server, a private
memcached, twisted-proxy (and with C{--pypy} a second one, under PyPy) and
Swift's reference C{swift-proxy-server}.

Every process is started in its own session, so a Ctrl-C at the terminal
reaches only the benchmark, which then stops them in order. L{Services}
stops exactly the processes it started (and their descendants, found by
pid), never anything found by name.
"""

from __future__ import annotations

import os
import pwd
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Optional, Sequence

import procstats

from twisted_proxy_aio.ports import free_port

__all__ = ["Cluster", "Proxy", "Services", "free_port", "ServiceError"]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)

#: The tempauth users of conf/aio.conf (Swift's test/sample.conf).
TEMPAUTH_USERS = """\
reseller_prefix = AUTH, SERVICE
SERVICE_require_group = service
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test_tester2 = testing2 .admin
user_test_tester3 = testing3
user_test2_tester2 = testing2 .admin
user_test5_tester5 = testing5 service
"""

#: The pipeline of Swift's etc/proxy-server.conf-sample.
SWIFT_PIPELINE = (
    "catch_errors gatekeeper healthcheck proxy-logging cache listing_formats "
    "container_sync bulk tempurl ratelimit tempauth copy container-quotas "
    "account-quotas slo dlo versioned_writes symlink proxy-logging proxy-server"
)
_SWIFT_FILTERS = {
    "catch_errors": "catch_errors",
    "gatekeeper": "gatekeeper",
    "healthcheck": "healthcheck",
    "proxy-logging": "proxy_logging",
    "listing_formats": "listing_formats",
    "container_sync": "container_sync",
    "bulk": "bulk",
    "tempurl": "tempurl",
    "ratelimit": "ratelimit",
    "copy": "copy",
    "container-quotas": "container_quotas",
    "account-quotas": "account_quotas",
    "slo": "slo",
    "dlo": "dlo",
    "versioned_writes": "versioned_writes",
    "symlink": "symlink",
}

#: twisted-proxy runs the very same pipeline: every stage of Swift's sample
#: has a twisted-proxy plugin, so both sides do the same work per request.
TWISTED_PIPELINE = SWIFT_PIPELINE
_TWISTED_FILTERS = dict(_SWIFT_FILTERS)


def _default_section(port: int, swift_dir: str, workers: int) -> str:
    """
    The [DEFAULT] section both proxies' configurations start with.
    """
    return (
        "[DEFAULT]\n"
        "bind_ip = 127.0.0.1\n"
        f"bind_port = {port}\n"
        f"swift_dir = {swift_dir}\n"
        f"workers = {workers}\n"
    )


def _filter_sections(filters: dict[str, str]) -> str:
    """
    A [filter:NAME] section for each pipeline stage, by its egg name.
    """
    return "\n".join(
        f"[filter:{name}]\nuse = egg:swift#{egg}\n" for name, egg in filters.items()
    )


# Nothing listens on the discard port: Swift's log datagrams vanish.
_DISCARD_UDP_PORT = 9


class ServiceError(Exception):
    """
    A service did not start; the message says which and quotes its log.
    """


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join("    " + line for line in f.readlines()[-lines:])
    except OSError:
        return "    (no log)"


@dataclass
class Cluster:
    """
    A running all-in-one storage cluster.
    """

    pid: int
    root: str
    swift_dir: str
    ports: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class Proxy:
    """
    A running proxy: its top process and where it listens.

    @ivar name: C{swift}, C{twisted} or C{pypy} (twisted-proxy under PyPy).
    @ivar note: what to know about how it runs (e.g. workers unsupported).
    """

    name: str
    pid: int
    port: int
    conf: str
    log: str
    workers: int
    note: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def processes(self) -> list[int]:
        return procstats.tree(self.pid)


class Services:
    """
    Starts the benchmark's processes and stops them again.

    @param workdir: a fresh directory for configurations and logs.
    """

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self._started: list[tuple[str, subprocess.Popen[bytes]]] = []
        # parent pid -> {descendant pid: its start time}
        self._descendants: dict[int, dict[int, int]] = {}

    def _spawn(self, name: str, argv: list[str], log: str,
               stdout: Optional[int] = None) -> subprocess.Popen[bytes]:
        with open(log, "ab") as logfile:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=logfile if stdout is None else stdout,
                stderr=logfile,
                cwd=self.workdir,
                start_new_session=True,
            )
        self._started.append((name, process))
        return process

    def started(self) -> list[tuple[str, int]]:
        """
        The name and pid of every process started, in order.
        """
        return [(name, p.pid) for name, p in self._started]

    def exit_code(self, pid: int) -> Optional[int]:
        """
        The exit status of the started process C{pid}, C{None} while it runs.
        """
        for _, process in self._started:
            if process.pid == pid:
                return process.poll()
        raise KeyError(pid)

    def remember_descendants(self) -> None:
        """
        Note every descendant of the started processes, so that L{stop_all}
        can make sure none outlives its parent.
        """
        for _, process in self._started:
            found = self._descendants.setdefault(process.pid, {})
            for pid in procstats.tree(process.pid)[1:]:
                started = _start_time(pid)
                if started is not None:
                    found[pid] = started

    # -- storage cluster ---------------------------------------------------

    def start_cluster(self, data_dir: str, ec: bool = False,
                      timeout: float = 240.0) -> Cluster:
        """
        Start the storage cluster: 4 devices and 3 replicas; with C{ec}, 6
        devices (one object server per fragment archive), a replicated
        policy C{gold} and the default policy C{ec}, erasure coded as in
        conf/aio-ec.conf (liberasurecode_rs_vand, 4 + 2, 1 MiB segments).
        """
        log = os.path.join(self.workdir, "aio.log")
        argv = [sys.executable, "-m", "twisted_proxy_aio.cluster", "--data-dir", data_dir,
                "--no-log-requests", "--replicas", "3",
                # A busy machine starts a dozen or more servers slowly.
                "--ready-timeout", "180"]
        if ec:
            argv += ["--devices", "6", "--policies", "gold,ec", "--default-policy", "ec",
                     "--ec-policies", "ec"]
        else:
            argv += ["--devices", "4"]
        process = self._spawn("storage cluster", argv, log, stdout=subprocess.PIPE)
        assert process.stdout is not None
        fields: dict[str, str] = {}
        ports: dict[str, list[int]] = {}
        deadline = time.monotonic() + timeout
        buffered = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServiceError(
                    f"the storage cluster was not ready in {timeout:g}s; "
                    f"end of {log}:\n{_tail(log)}")
            ready, _, _ = select.select([process.stdout], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                process.wait()
                raise ServiceError(
                    f"the storage cluster exited with {process.returncode}; "
                    f"end of {log}:\n{_tail(log)}")
            buffered += chunk
            *lines, buffered = buffered.split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace")
                key, _, value = line.partition(" ")
                fields[key] = value.strip()
                if key in ("account", "container", "object"):
                    ports[key] = [int(p.rsplit(":", 1)[1]) for p in value.split()]
                if key == "built":
                    process.stdout.close()
                    return Cluster(process.pid, fields["root"], fields["swift_dir"],
                                   ports)

    # -- redis and memcached -----------------------------------------------

    def start_redis(self) -> int:
        port = free_port()
        redis = "/usr/bin/redis-server"
        if not os.path.exists(redis):
            redis = "redis-server"
        log = os.path.join(self.workdir, "redis.log")
        self._spawn("redis-server", [
            redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", self.workdir, "--daemonize", "no",
            "--protected-mode", "yes",
        ], log)
        self._await_tcp("redis-server", port, log)
        return port

    def start_memcached(self) -> int:
        port = free_port()
        log = os.path.join(self.workdir, "memcached.log")
        self._spawn("memcached", [
            "memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0",
            "-m", "64", "-c", "1024", "-u", pwd.getpwuid(os.getuid()).pw_name,
        ], log)
        self._await_tcp("memcached", port, log)
        return port

    def _await_tcp(self, name: str, port: int, log: str, timeout: float = 15.0) -> None:
        process = self._started[-1][1]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServiceError(
                    f"{name} exited with {process.returncode}; end of {log}:\n{_tail(log)}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise ServiceError(f"{name} not listening on {port} after {timeout:g}s")

    # -- proxies -----------------------------------------------------------

    def start_twisted_proxy(self, swift_dir: str, redis_port: int, workers: int,
                            name: str = "twisted", python: Optional[str] = None,
                            wrapper: Sequence[str] = (), timeout: float = 60.0) -> Proxy:
        """
        Start twisted-proxy under this Python, or under C{python} (the PyPy
        of C{--pypy}, as the proxy C{name}), with its info cache in a Redis
        database of its own.

        @param wrapper: the command it runs under (C{valgrind ...}), if any.
        @param timeout: seconds it may take to answer its health check.
        """
        port = free_port()
        program = "twisted-proxy" if name == "twisted" else f"twisted-proxy-{name}"
        database = 0 if name == "twisted" else 1
        conf = os.path.join(self.workdir, f"{program}.conf")
        filters = _filter_sections(_TWISTED_FILTERS)
        with open(conf, "w") as f:
            f.write(
                _default_section(port, swift_dir, workers) + "\n"
                f"[pipeline:main]\npipeline = {TWISTED_PIPELINE}\n\n"
                "[app:proxy-server]\nuse = egg:swift#proxy\n"
                "account_autocreate = true\n\n"
                f"[filter:tempauth]\nuse = egg:swift#tempauth\n{TEMPAUTH_USERS}\n"
                "[filter:cache]\nuse = egg:swift#memcache\n"
                f"redis_url = redis://127.0.0.1:{redis_port}/{database}\n\n"
                f"{filters}"
            )
        log = os.path.join(self.workdir, f"{program}.log")
        bin_dir = os.path.dirname(python) if python else BIN
        twistd = os.path.join(bin_dir, "twistd")
        if wrapper:
            # A wrapper runs programs, not scripts: the Python runs twistd.
            twistd_argv = [python or sys.executable, twistd]
        else:
            twistd_argv = [twistd]
        process = self._spawn(program, [
            *wrapper, *twistd_argv, "-n", "--pidfile=", f"--logfile={log}",
            "twisted-proxy", "--config", conf,
        ], log)
        proxy = Proxy(name, process.pid, port, conf, log, workers)
        self._await_healthy(proxy, process, timeout)
        return proxy

    def start_swift_proxy(self, swift_dir: str, memcached_port: int, workers: int,
                          name: str = "swift", wrapper: Sequence[str] = (),
                          timeout: float = 60.0) -> Proxy:
        """
        Start swift-proxy-server (as the proxy C{name}) with memcache at
        C{memcached_port}.

        @param wrapper: the command it runs under (C{valgrind ...}), if any.
        @param timeout: seconds it may take to answer its health check.
        """
        from twisted_proxy_aio.cluster import _SWIFT_SHIM

        port = free_port()
        program = "swift-proxy-server" if name == "swift" else f"swift-proxy-server-{name}"
        conf = os.path.join(self.workdir, f"{program}.conf")
        filters = _filter_sections(_SWIFT_FILTERS)
        with open(conf, "w") as f:
            f.write(
                _default_section(port, swift_dir, workers) +
                # Workers drop privileges to `user` (default swift, which
                # need not exist here).
                f"user = {pwd.getpwuid(os.getuid()).pw_name}\n"
                "log_udp_host = 127.0.0.1\n"
                f"log_udp_port = {_DISCARD_UDP_PORT}\n\n"
                f"[pipeline:main]\npipeline = {SWIFT_PIPELINE}\n\n"
                "[app:proxy-server]\nuse = egg:swift#proxy\n"
                "account_autocreate = true\n\n"
                f"[filter:tempauth]\nuse = egg:swift#tempauth\n{TEMPAUTH_USERS}\n"
                "[filter:cache]\nuse = egg:swift#memcache\n"
                f"memcache_servers = 127.0.0.1:{memcached_port}\n\n"
                f"{filters}"
            )
        log = os.path.join(self.workdir, f"{program}.log")
        process = self._spawn(program, [
            *wrapper, sys.executable, "-c", _SWIFT_SHIM, os.path.join(swift_dir, "swift.conf"),
            os.path.join(BIN, "swift-proxy-server"), conf,
        ], log)
        proxy = Proxy(name, process.pid, port, conf, log, workers)
        self._await_healthy(proxy, process, timeout)
        return proxy

    def _await_healthy(self, proxy: Proxy, process: subprocess.Popen[bytes],
                       timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServiceError(
                    f"{proxy.name} proxy exited with {process.returncode}; "
                    f"end of {proxy.log}:\n{_tail(proxy.log)}")
            try:
                with urllib.request.urlopen(f"{proxy.url}/healthcheck", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise ServiceError(
            f"{proxy.name} proxy did not answer /healthcheck in {timeout:g}s; "
            f"end of {proxy.log}:\n{_tail(proxy.log)}")

    def await_workers(self, proxy: Proxy, timeout: float = 10.0) -> list[int]:
        """
        Wait until C{proxy} runs as many serving processes as it was told
        (Swift: a parent plus C{workers} children) or C{timeout} passes.

        @return: its processes, top first.
        """
        wanted = proxy.workers + (1 if proxy.name == "swift" else 0)
        deadline = time.monotonic() + timeout
        while True:
            processes = proxy.processes()
            if len(processes) >= wanted or time.monotonic() >= deadline:
                return processes
            time.sleep(0.1)

    # -- stopping ----------------------------------------------------------

    def stop_all(self, grace: float = 15.0) -> list[str]:
        """
        SIGTERM every started process, newest first, then SIGKILL whatever
        of them or their descendants is left after C{grace} seconds.

        @return: one line per process that had to be killed or had died
            early, for the report.
        """
        self.remember_descendants()
        notes = []
        for name, process in reversed(self._started):
            if process.poll() is not None:
                if process.returncode not in (0, -signal.SIGTERM):
                    notes.append(f"{name} (pid {process.pid}) had exited with "
                                 f"{process.returncode} before the end")
                continue
            try:
                process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                notes.append(f"{name} (pid {process.pid}) ignored SIGTERM; killed")
                process.kill()
                process.wait()
        for parent, pids in self._descendants.items():
            for pid, started in pids.items():
                if _start_time(pid) == started:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        notes.append(f"pid {pid} (child of {parent}) outlived "
                                     "its parent; killed")
                    except ProcessLookupError:
                        pass
        self._started.clear()
        return notes


def _start_time(pid: int) -> Optional[int]:
    """
    When C{pid} started (clock ticks after boot), C{None} if it is gone or
    a zombie: with the pid, it names one process, even if pids are reused.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] == b"Z":
        return None
    return int(fields[19])
