# -*- test-case-name: tests.e2e.test_handoffs -*-
"""
Real twisted-proxy processes, with their all-in-one clusters of real Swift
storage servers, for the end-to-end tests; and the few process-level tools
those tests use to watch and hurt them (by pid, never by name).

L{running_proxy} starts C{twistd -n twisted-proxy --config conf/aio.conf}
(the proxy with its all-in-one cluster) on a free loopback port the first
time it is called, and stops it when the test process exits.

L{AioCluster} starts a proxy of its own from a configuration written for
one test module by L{aio_config}, in a temporary directory, and knows where
that cluster keeps its rings, devices and logs. L{SharedFixture} gives a
module one such cluster, started on first use and stopped by pid when the
test process exits.

The tests talk to the proxies over real sockets, as any client would
(L{request}, L{auth}).
"""

from __future__ import annotations

import atexit
import configparser
import contextlib
import getpass
import glob
import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from typing import Callable, Generic, Iterator, Mapping, Optional, Protocol, Sequence, TypeVar

from twisted.internet.task import Clock
from twisted.trial.unittest import SkipTest

from tests.e2e.swifttools import swift_conf_command, swift_tool
from twisted_proxy.swift.ring import RingSet
from twisted_proxy.swift.swiftconf import load_swift_conf
from twisted_proxy_aio.cluster import AioError, find_swift_bin_dir
from twisted_proxy_aio.ports import free_port

__all__ = [
    "PROXY_PYTHON_VARIABLE",
    "REPO",
    "SWIFT_DEFAULTS",
    "AioCluster",
    "Reply",
    "RunningProxy",
    "SharedFixture",
    "SwiftProxy",
    "aio_config",
    "auth",
    "connection_bytes",
    "described_descriptors",
    "exchange",
    "free_port",
    "get_streamed",
    "held_back_connection",
    "listener_pid",
    "open_descriptors",
    "pipe_descriptors",
    "proc_status_kib",
    "put_streamed",
    "read_chunks",
    "request",
    "reset_peak_rss",
    "running_proxy",
    "send_streamed",
    "signalled",
    "start_proxy",
    "stop_process",
    "swift_proxy_conf",
    "twistd_command",
    "wait_until_answers",
]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: Where clusters keep their data: memory, when the machine has it.
_SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None

#: An HTTP exchange: status, headers (lower-case names), body.
Reply = tuple[int, dict[str, str], bytes]


# -- processes ----------------------------------------------------------------


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """
    Stop C{process} by its pid: C{SIGTERM}, then C{SIGKILL} if it has not
    exited within C{timeout} seconds. Returns once it has exited.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_answers(process: subprocess.Popen[bytes], url: str, timeout: float,
                       what: str, answers: Optional[Callable[[], bool]] = None) -> None:
    """
    Poll C{url} until it answers 200, every 0.2 s.

    @param what: the process's name, for the error.
    @param answers: polled instead, if given: whether the process answers
        (C{OSError} counts as no).
    @raise RuntimeError: if C{process} exits first, or C{url} does not
        answer within C{timeout} seconds. C{process} is left as it is.
    """
    def answers_200() -> bool:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(reply.status == 200)

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if (answers or answers_200)():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer within {timeout}s")


def listener_pid(port: int | str) -> int:
    """
    The pid of the process listening on TCP C{port} (by C{ss -tlnp}).

    @raise AssertionError: if nothing listens there.
    """
    for line in subprocess.check_output(["ss", "-tlnp"], text=True).splitlines():
        if f":{port} " in line:
            match = re.search(r"pid=(\d+)", line)
            if match:
                return int(match.group(1))
    raise AssertionError(f"nothing listens on port {port}")


def connection_bytes(pid: int, counter: str) -> dict[str, int]:
    """
    A counter of C{ss -tnpi} (C{"bytes_received"}, C{"bytes_sent"}) on each
    established TCP connection of C{pid}, by peer address (C{host:port}).
    """
    lines = subprocess.check_output(["ss", "-tnpi"], text=True).splitlines()
    found: dict[str, int] = {}
    for index, line in enumerate(lines):
        if f"pid={pid}," not in line or not line.startswith("ESTAB"):
            continue
        info = lines[index + 1] if index + 1 < len(lines) else ""
        match = re.search(rf"{counter}:(\d+)", info)
        found[line.split()[4]] = int(match.group(1)) if match else 0
    return found


@contextlib.contextmanager
def signalled(pid: int, how: signal.Signals) -> Iterator[None]:
    """
    Send C{how} to C{pid}; on leaving, thaw it (C{SIGCONT}) if C{how} froze
    it, whether or not the block raised.
    """
    os.kill(pid, how)
    try:
        yield
    finally:
        if how == signal.SIGSTOP:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def proc_status_kib(pid: int, field: str) -> int:
    """
    A size field (C{"VmRSS"}, C{"VmHWM"}: peak RSS) of C{/proc/PID/status},
    in KiB.
    """
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise AssertionError(f"no {field}")


def pipe_descriptors(pid: int) -> int:
    """
    How many of C{pid}'s open descriptors are pipes: each zero-copy relay
    (L{twisted_proxy.backend.zerocopy}) holds four while it runs, beside
    the reactor's own.
    """
    count = 0
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{name}").startswith("pipe:")
        except OSError:
            pass
    return count


def open_descriptors(pid: int) -> int:
    """
    How many file descriptors C{pid} has open.
    """
    return len(os.listdir(f"/proc/{pid}/fd"))


def described_descriptors(pid: int) -> dict[int, str]:
    """
    What each of C{pid}'s open descriptors is: C{readlink}'s answer
    (C{"pipe:[...]"}, a path), or for a TCP socket its state and its two
    ends as C{ss -tanp} shows them; for a failing test to say what it found.
    """
    sockets: dict[int, str] = {}
    for line in subprocess.check_output(["ss", "-tanp"], text=True).splitlines():
        for fd in re.findall(rf"pid={pid},fd=(\d+)", line):
            state, _, _, local, peer = line.split()[:5]
            sockets[int(fd)] = f"tcp {state} {local} -> {peer}"
    found: dict[int, str] = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        found[int(name)] = sockets.get(int(name), target)
    return found


def reset_peak_rss(pid: int) -> None:
    """
    Make C{VmHWM} start again from the current RSS (Linux's C{clear_refs}
    5), so that earlier tests' peaks do not count.

    @raise SkipTest: if this kernel or user may not.
    """
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        raise SkipTest("cannot reset the proxy's peak RSS")


# -- HTTP ---------------------------------------------------------------------


def request(port: int, method: str, path: str, headers: Optional[dict[str, str]] = None,
            body: bytes = b"", timeout: float = 120) -> Reply:
    """
    One HTTP exchange with 127.0.0.1:C{port}, on a connection of its own;
    C{body} is sent with PUT and POST only.
    """
    return exchange(http.client.HTTPConnection("127.0.0.1", port, timeout=timeout),
                    method, path, headers, body)


def exchange(conn: http.client.HTTPConnection, method: str, path: str,
             headers: Optional[dict[str, str]] = None, body: bytes = b"") -> Reply:
    """
    One HTTP exchange on C{conn} (HTTPS, say), which is closed after it;
    C{body} is sent with PUT and POST only.
    """
    try:
        conn.request(method, path, body=body if method in ("PUT", "POST") else None,
                     headers=headers or {})
        reply = conn.getresponse()
        data = reply.read()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, data
    finally:
        conn.close()


def auth(port: int, user: str = "test:tester", key: str = "testing") -> tuple[str, str]:
    """
    A token from the proxy's tempauth, and the storage URL that goes with
    it (empty strings where the reply has none).
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/auth/v1.0", headers={"X-Auth-User": user, "X-Auth-Key": key})
        reply = conn.getresponse()
        reply.read()
    finally:
        conn.close()
    return reply.getheader("X-Auth-Token") or "", reply.getheader("X-Storage-Url") or ""


def held_back_connection(port: int, timeout: float = 120.0) -> http.client.HTTPConnection:
    """
    A connection to C{127.0.0.1:port} whose receive buffer is small
    (64 KiB), so that a body its reader holds back stays on the proxy's side
    instead of filling a loopback buffer of up to 32 MiB.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.sock = sock
    return conn


def read_chunks(reply: http.client.HTTPResponse, chunk: int) -> Iterator[bytes]:
    """
    The rest of C{reply}'s body, C{chunk} bytes at a time (the last may be
    shorter).
    """
    while True:
        data = reply.read(chunk)
        if not data:
            return
        yield data


def put_streamed(port: int, path: str, token: str, size: int, block: bytes,
                 timeout: float = 120) -> tuple[http.client.HTTPResponse, str]:
    """
    PUT C{size} bytes to C{path} with C{token} (see L{send_streamed}).

    @return: the reply (its body read) and the MD5 of what was sent.
    """
    digest = hashlib.md5()
    reply = send_streamed(port, path, {"X-Auth-Token": token}, size, block, digest, timeout)
    return reply, digest.hexdigest()


def send_streamed(port: int, path: str, headers: Mapping[str, str], size: int, block: bytes,
                  digest: "hashlib._Hash", timeout: float = 120) -> http.client.HTTPResponse:
    """
    PUT C{size} bytes to C{path} with C{headers}, sent C{block} after
    C{block} (the last cut short) with a C{Content-Length}: more than fits
    in memory, if need be. C{digest} is updated with every byte sent.

    @return: the reply, its body read.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest("PUT", path)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        sent = 0
        while sent < size:
            piece = block[: min(len(block), size - sent)]
            conn.send(piece)
            digest.update(piece)
            sent += len(piece)
        reply = conn.getresponse()
        reply.read()
    finally:
        conn.close()
    return reply


def get_streamed(port: int, path: str, token: str, timeout: float = 120,
                 chunk: int = 1024 * 1024) -> tuple[int, str]:
    """
    GET C{path}, reading the body C{chunk} bytes at a time, keeping none.

    @return: how many bytes came, and their MD5.
    """
    digest = hashlib.md5()
    got = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"X-Auth-Token": token})
        for data in read_chunks(conn.getresponse(), chunk):
            digest.update(data)
            got += len(data)
    finally:
        conn.close()
    return got, digest.hexdigest()


# -- twisted-proxy ------------------------------------------------------------


#: Names the Python the proxies under test run on, when it is not the tests'
#: own: C{scripts/test --pypy} sets it to C{.venv-pypy}'s PyPy, while the
#: tests themselves (and Swift's storage servers) stay with CPython.
PROXY_PYTHON_VARIABLE = "TWISTED_PROXY_PYTHON"


def twistd_command() -> list[str]:
    """
    How to run the twistd of the proxies' Python: C{$TWISTED_PROXY_PYTHON}
    when set, else this Python.
    """
    python = os.environ.get(PROXY_PYTHON_VARIABLE) or sys.executable
    beside = os.path.join(os.path.dirname(python), "twistd")
    if os.path.exists(beside):
        return [beside]
    return [python, "-c", "from twisted.scripts.twistd import run; run()"]


@dataclass
class RunningProxy:
    """
    A twistd proxy process and how to reach it.
    """

    process: subprocess.Popen[bytes]
    port: int
    logfile: str
    workdir: str

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/auth/v1.0"

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.logfile, encoding="utf-8", errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_proxy(config: str, extra_args: tuple[str, ...] = (), timeout: float = 90.0,
                twistd: Optional[Sequence[str]] = None,
                env: Optional[dict[str, str]] = None,
                answers: Optional[Callable[[int], bool]] = None) -> RunningProxy:
    """
    Start twistd with C{config} on a free port, in a new temporary
    directory, and wait until it answers C{/healthcheck}.

    @param twistd: how to run twistd; by default, this Python's
        (L{twistd_command}).
    @param env: the environment of the process; by default, this one's.
    @param answers: whether the proxy answers on a port, asked instead of
        C{/healthcheck} over plain HTTP (for HTTPS, the PROXY protocol).

    @raise RuntimeError: with the log's tail if it exits or does not answer
        within C{timeout} seconds (it is stopped then).
    """
    workdir = tempfile.mkdtemp(prefix="twisted-proxy-e2e-")
    port = free_port()
    logfile = os.path.join(workdir, "twistd.log")
    command = list(twistd or twistd_command()) + [
        "-n", "--pidfile=", f"--logfile={logfile}",
        "twisted-proxy", "--config", config,
        "--port", f"tcp:{port}:interface=127.0.0.1", *extra_args,
    ]
    process = subprocess.Popen(command, cwd=workdir, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)
    proxy = RunningProxy(process, port, logfile, workdir)
    try:
        wait_until_answers(process, f"{proxy.url}/healthcheck", timeout, "twisted-proxy",
                           (lambda: answers(port)) if answers else None)
    except RuntimeError as error:
        tail = proxy.log_tail()
        proxy.stop()
        raise RuntimeError(f"{error}:\n{tail}") from None
    except BaseException:
        proxy.stop()
        raise
    return proxy


class _Fixture(Protocol):
    @property
    def running(self) -> bool: ...

    def stop(self) -> None: ...


F = TypeVar("F", bound=_Fixture)


class SharedFixture(Generic[F]):
    """
    One fixture (a proxy, a cluster) shared by the tests of a test run:
    started by C{start} on first call, started again if it has stopped
    running, and stopped when the test process exits.

    An exception from C{start} (C{SkipTest} among them) is raised to each
    caller in turn; nothing is kept of a failed start.

    @param once: start it once at the most, for a fixture too slow to start
        twice: a failed start's exception is raised again to every later
        caller, and a fixture that stopped running is not started again.
    """

    def __init__(self, start: Callable[[], F], once: bool = False) -> None:
        self._start = start
        self._once = once
        self._fixture: Optional[F] = None
        self._failed: Optional[BaseException] = None

    def __call__(self) -> F:
        if self._failed is not None:
            raise self._failed
        if self._fixture is None or not (self._once or self._fixture.running):
            try:
                fixture = self._start()
            except BaseException as error:
                if self._once:
                    self._failed = error
                raise
            atexit.register(fixture.stop)
            self._fixture = fixture
        return self._fixture


_shared_proxy = SharedFixture(
    lambda: start_proxy(os.path.join(REPO, "conf", "aio.conf")))


def running_proxy() -> RunningProxy:
    """
    The proxy shared by this test run's end-to-end tests, started on first
    use with C{conf/aio.conf}.
    """
    return _shared_proxy()


# -- all-in-one clusters of a test module's own -------------------------------

#: What the clusters' proxies run by default, and the filters they may name.
DEFAULT_FILTERS = ("catch_errors", "healthcheck", "proxy-logging", "cache")
_FILTER_EGGS = {
    "catch_errors": "egg:swift#catch_errors",
    "gatekeeper": "egg:swift#gatekeeper",
    "healthcheck": "egg:swift#healthcheck",
    "proxy-logging": "egg:swift#proxy_logging",
    "cache": "egg:swift#memcache",
    "container_sync": "egg:swift#container_sync",
    "tempauth": "egg:swift#tempauth",
    "slo": "egg:swift#slo",
    "ratelimit": "egg:swift#ratelimit",
}

#: The C{[DEFAULT]} of Swift's programs run on a cluster (L{AioCluster}):
#: their syslog datagrams go to the discard port (there is no /dev/log),
#: they run as this user, keep recon files in the cluster's work
#: directory; C{-v} sends their lines to stderr.
SWIFT_DEFAULTS = """\
[DEFAULT]
swift_dir = {swift_dir}
user = {user}
recon_cache_path = {recon}
log_udp_host = 127.0.0.1
log_udp_port = 9
"""

def swift_proxy_conf(swift_dir: str, port: int, filters: Sequence[str] = (),
                     app: Optional[Mapping[str, str]] = None,
                     filter_options: Optional[Mapping[str, Mapping[str, str]]] = None) -> str:
    """
    A C{proxy-server.conf} for Swift's proxy on C{127.0.0.1:port} over the
    cluster of C{swift_dir} (as a server of its own, or as the internal
    client of Swift's daemons), with no auth and nothing that needs
    memcached:
    the pipeline C{catch_errors proxy-logging}, then C{filters} (each
    Swift's own, C{egg:swift#name}) and, when there are any, a second
    C{proxy-logging}, as Swift's sample has it. It logs to the discard
    port (there is no C{/dev/log}) and creates accounts on first use.

    @param app: options of C{[app:proxy-server]}, over the defaults.
    @param filter_options: options of each filter's section, by name.
    """
    stages = ["catch_errors", "proxy-logging", *filters]
    if filters:
        stages.append("proxy-logging")
    lines = [
        "[DEFAULT]", "bind_ip = 127.0.0.1", f"bind_port = {port}",
        f"swift_dir = {swift_dir}", "workers = 0", f"user = {getpass.getuser()}",
        "log_udp_host = 127.0.0.1", "log_udp_port = 9", "",
        "[pipeline:main]", f"pipeline = {' '.join(stages)} proxy-server", "",
        "[app:proxy-server]", "use = egg:swift#proxy",
    ]
    for name, value in {"account_autocreate": "true", **(app or {})}.items():
        lines.append(f"{name} = {value}")
    for name in dict.fromkeys(["catch_errors", "proxy-logging", *filters]):
        lines += ["", f"[filter:{name}]", f"use = egg:swift#{name.replace('-', '_')}"]
        for option, value in (filter_options or {}).get(name, {}).items():
            lines.append(f"{option} = {value}")
    return "\n".join(lines) + "\n"


def aio_config(data_dir: str, aio: Mapping[str, object],
               app: Mapping[str, object] = {},
               sections: Mapping[str, Mapping[str, object]] = {},
               filters: Sequence[str] = DEFAULT_FILTERS) -> str:
    """
    The text of a proxy configuration whose C{[aio]} section starts a
    throw-away cluster in C{data_dir} (C{ephemeral = true}, no Redis):
    C{aio} adds to or overrides that section, C{app} adds to
    C{[app:proxy-server]} (which autocreates accounts), C{sections} are
    further sections by name (a C{filter:NAME} one adds options to that
    filter's section), and C{filters} (names of L{_FILTER_EGGS}) are the
    pipeline before C{proxy-server}.
    """
    def section(name: str, options: Mapping[str, object]) -> str:
        return f"[{name}]\n" + "".join(f"{key} = {value}\n" for key, value in options.items())

    parts = [
        section("DEFAULT", {"bind_ip": "127.0.0.1"}),
        section("aio", {"data_dir": data_dir, "ephemeral": "true", "redis": "false", **aio}),
        section("pipeline:main", {"pipeline": " ".join([*filters, "proxy-server"])}),
        section("app:proxy-server",
                {"use": "egg:swift#proxy", "account_autocreate": "true", **app}),
        *(section(name, options) for name, options in sections.items()
          if name.partition(":")[2] not in filters),
        *(section(f"filter:{name}", {"use": _FILTER_EGGS[name],
                                     **sections.get(f"filter:{name}", {})})
          for name in filters),
    ]
    return "\n".join(parts)


class AioCluster:
    """
    twisted-proxy with an all-in-one cluster of its own, started from a
    configuration made by L{aio_config}, and where that cluster keeps its
    files. L{stop} stops the proxy (which stops the storage servers) by pid
    and removes every file.

    @ivar proxy: the twisted-proxy process.
    @ivar workdir: a temporary directory holding the configuration and the
        cluster's data directory (C{data}).
    @ivar root: the cluster's own directory (C{data/aio-*}): C{etc} (rings,
        swift.conf, servers' configurations), C{data} (devices), C{log}.
    @ivar bin_dir: where Swift's programs are.
    """

    def __init__(self, prefix: str, aio: Mapping[str, object],
                 app: Mapping[str, object] = {},
                 sections: Mapping[str, Mapping[str, object]] = {},
                 filters: Sequence[str] = DEFAULT_FILTERS, programs: Sequence[str] = (),
                 timeout: float = 300) -> None:
        """
        Start the cluster and wait until its proxy answers.

        @param prefix: names the temporary directory (under C{/dev/shm}
            where there is one).
        @param aio: see L{aio_config}, as are C{app}, C{sections} and
            C{filters}.
        @param programs: other programs of Swift's the tests need, found
            beside its storage servers.
        @param timeout: seconds the proxy has to answer. Generous: a cluster
            starts in seconds, but minutes on a loaded machine.

        @raise SkipTest: if Swift's storage servers or C{programs} are not
            installed.
        """
        try:
            self.bin_dir = find_swift_bin_dir()
        except AioError as error:
            raise SkipTest(str(error))
        for program in programs:
            if not os.path.exists(os.path.join(self.bin_dir, program)):
                raise SkipTest(f"needs {program}")
        self.workdir = tempfile.mkdtemp(prefix=f"twisted-proxy-{prefix}-", dir=_SHM)
        self.proxy: Optional[RunningProxy] = None
        try:
            config = os.path.join(self.workdir, "proxy-server.conf")
            with open(config, "w") as handle:
                handle.write(aio_config(os.path.join(self.workdir, "data"), aio, app,
                                        sections, filters))
            self.proxy = start_proxy(config, timeout=timeout)
            found = glob.glob(os.path.join(self.workdir, "data", "aio-*"))
            if len(found) != 1:
                raise AssertionError(f"the cluster's directory is not one: {found}")
            self.root = found[0]
        except BaseException:
            self.stop()
            raise

    @property
    def port(self) -> int:
        assert self.proxy is not None
        return self.proxy.port

    @property
    def running(self) -> bool:
        return self.proxy is not None and self.proxy.running

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def swift_dir(self) -> str:
        return os.path.join(self.root, "etc")

    @property
    def swift_conf(self) -> str:
        return os.path.join(self.swift_dir, "swift.conf")

    def swift_command(self, program: str, *args: str) -> list[str]:
        """
        How to run Swift's C{program} (a name in Swift's bin directory, or
        a script's path) on this cluster.
        """
        path = program if os.sep in program else os.path.join(self.bin_dir, program)
        return swift_conf_command(self.swift_conf, path, *args)

    def write(self, name: str, text: str) -> str:
        """
        Write C{text} to the file C{name} of the work directory; its path.
        """
        path = os.path.join(self.workdir, name)
        with open(path, "w") as handle:
            handle.write(text)
        return path

    def start_twin_proxy(self, name: str, without: Sequence[tuple[str, str]] = (),
                         timeout: float = 240) -> RunningProxy:
        """
        Start another twisted-proxy on this cluster, configured as the
        cluster's own less C{without} (C{(section, option)} pairs) and
        less the C{[aio]} section (it uses the cluster's rings); the caller
        stops it.

        @param name: names its configuration file in the work directory.
        """
        parser = configparser.RawConfigParser()
        parser.read(os.path.join(self.workdir, "proxy-server.conf"))
        parser.remove_section("aio")
        for section, option in without:
            parser.remove_option(section, option)
        parser.set("DEFAULT", "swift_dir", self.swift_dir)
        config = os.path.join(self.workdir, f"{name}.conf")
        with open(config, "w") as handle:
            parser.write(handle)
        return start_proxy(config, timeout=timeout)

    def swift_conf_text(self, template: str, **values: object) -> str:
        """
        C{template} (starting with L{SWIFT_DEFAULTS}) filled in for this
        cluster.
        """
        recon = os.path.join(self.workdir, "recon")
        os.makedirs(recon, exist_ok=True)
        return template.format(swift_dir=self.swift_dir, user=getpass.getuser(),
                               recon=recon, **values)

    def internal_client_conf(self) -> str:
        """
        The path of a configuration of Swift's internal client (Swift's own
        proxy in the daemon's process) for this cluster, written if need
        be.
        """
        path = os.path.join(self.workdir, "internal-client.conf")
        if not os.path.exists(path):
            self.write("internal-client.conf",
                       swift_proxy_conf(self.swift_dir, free_port()))
        return path

    def server_confs(self, kind: str, options: Mapping[str, Mapping[str, str]] = {}
                     ) -> list[str]:
        """
        For Swift's daemons of C{kind} (C{"container"}: the updater, the
        sync daemon...): a copy of each C{kind} server's configuration,
        run as this user, with the further C{options} by section.
        """
        confs = []
        for conf in sorted(glob.glob(os.path.join(self.swift_dir, f"{kind}-server",
                                                  "*.conf"))):
            parser = configparser.ConfigParser(interpolation=None)
            parser.read(conf)
            parser.read_string(self.swift_conf_text(SWIFT_DEFAULTS), source="daemon")
            for name, values in options.items():
                if not parser.has_section(name):
                    parser.add_section(name)
                for key, value in values.items():
                    parser[name][key] = value
            path = os.path.join(self.workdir, f"daemon-{kind}-{os.path.basename(conf)}")
            with open(path, "w") as handle:
                parser.write(handle)
            confs.append(path)
        return confs

    def run_once(self, program: str, *confs: str) -> str:
        """
        One pass (C{once}) of Swift's daemon C{program} for each of
        C{confs}, all at once; their logs.

        @raise AssertionError: if one fails or takes over five minutes (all
            are then killed).
        """
        runs = []
        try:
            for conf in confs:
                output = tempfile.TemporaryFile()
                runs.append((subprocess.Popen(
                    self.swift_command(program, conf, "once", "-v"),
                    stdin=subprocess.DEVNULL, stdout=output,
                    stderr=subprocess.STDOUT), output))
            logs = []
            for process, output in runs:
                process.wait(300)
                output.seek(0)
                log = output.read().decode("utf-8", "replace")
                if process.returncode != 0:
                    raise AssertionError(f"{program} failed:\n{log}")
                logs.append(log)
            return "".join(logs)
        finally:
            for process, output in runs:
                if process.poll() is None:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait()
                output.close()

    @property
    def devices_dirs(self) -> list[str]:
        """
        The storage servers' C{devices} directories, one per server.
        """
        return sorted(glob.glob(os.path.join(self.root, "data", "*")))

    def object_hash(self, container: str, obj: str) -> str:
        """
        The hash directory name of C{AUTH_test/container/obj}.
        """
        parser = configparser.ConfigParser()
        parser.read(os.path.join(self.swift_dir, "swift.conf"))
        prefix = parser["swift-hash"]["swift_hash_path_prefix"]
        suffix = parser["swift-hash"]["swift_hash_path_suffix"]
        path = f"/AUTH_test/{container}/{obj}"
        return hashlib.md5((prefix + path + suffix).encode("utf-8")).hexdigest()

    def data_devices(self, container: str, obj: str, policy: int = 0) -> list[str]:
        """
        The devices holding a C{.data} file of the object, one entry per
        file.
        """
        objects = "objects" if policy == 0 else f"objects-{policy}"
        found = glob.glob(os.path.join(
            self.root, "data", "*", "sdb*", objects, "*", "*",
            self.object_hash(container, obj), "*.data"))
        return sorted(path.split(os.sep)[-6] for path in found)

    def primaries(self, container: str, obj: str, policy: int = 0) -> list[str]:
        """
        The devices of the object's primary nodes, by the ring.
        """
        conf = load_swift_conf(os.path.join(self.swift_dir, "swift.conf"))
        ring = RingSet(self.swift_dir, conf, Clock()).object_ring(policy)
        _, nodes = ring.get_nodes("AUTH_test", container, obj)
        return sorted(node["device"] for node in nodes)

    def object_log(self, device: str) -> str:
        """
        What object server C{sdbN} logged so far.
        """
        index = device[len("sdb"):]
        with open(os.path.join(self.root, "log", f"object-{index}.log"),
                  encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def object_server_pid(self, device: str) -> int:
        """
        The pid of the object server of C{sdbN}, found by the port its
        configuration names.
        """
        return self.server_pid("object", int(device[len("sdb"):]))

    def server_pid(self, kind: str, index: int) -> int:
        """
        The pid of the C{kind} (account, container, object) server number
        C{index}, found by the port its configuration names.
        """
        with open(os.path.join(self.swift_dir, f"{kind}-server", f"{index}.conf")) as conf:
            match = re.search(r"^bind_port\s*=\s*(\d+)", conf.read(), re.M)
        assert match is not None
        return listener_pid(match.group(1))


class SwiftProxy:
    """
    Swift's C{swift-proxy-server} 2.38.3 serving a cluster beside
    twisted-proxy: started by the constructor, which returns once its
    C{/info} answers; stopped by L{stop}, by its pid.

    @ivar port: where it listens, on 127.0.0.1.
    @ivar process: its process.
    """

    def __init__(self, swift_dir: str, workdir: str, filters: Sequence[str] = (),
                 app: Optional[Mapping[str, str]] = None,
                 filter_options: Optional[Mapping[str, Mapping[str, str]]] = None,
                 timeout: float = 300.0) -> None:
        """
        @param swift_dir: the cluster's C{swift.conf} and rings.
        @param workdir: where its configuration and its log
            (C{swift-proxy.log}) go.
        @param timeout: seconds to wait for it to answer.
        @raise RuntimeError: if it exits or does not answer in time (it is
            then stopped).
        """
        self.port = free_port()
        conf = os.path.join(workdir, f"swift-proxy-{self.port}.conf")
        with open(conf, "w") as handle:
            handle.write(swift_proxy_conf(swift_dir, self.port, filters, app, filter_options))
        with open(os.path.join(workdir, "swift-proxy.log"), "ab") as log:
            self.process = subprocess.Popen(
                swift_conf_command(os.path.join(swift_dir, "swift.conf"),
                                   swift_tool("swift-proxy-server"), conf),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_answers(self.process, f"http://127.0.0.1:{self.port}/info", timeout,
                               "swift-proxy-server")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """
        Stop it (C{SIGTERM}, then C{SIGKILL}); returns once it has exited.
        """
        stop_process(self.process)
