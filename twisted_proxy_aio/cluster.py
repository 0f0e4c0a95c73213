# -*- test-case-name: tests.test_aio,tests.e2e.test_aio -*-
"""
The all-in-one cluster: a real local Swift storage cluster run as child
processes, for development, tests and benchmarks.

L{parse_aio_settings} reads the C{[aio]} section of the proxy's
configuration, L{build_cluster} lays the cluster out on disk (C{swift.conf},
rings made with Swift's own C{swift-ring-builder}, one configuration per
storage server) and L{StorageClusterService} runs and supervises Swift's
account, container and object servers.

This module never imports Swift: it only runs Swift's programs, which come
with the C{aio} extra (C{pip install 'twisted-proxy[aio]'}).

Layout of one cluster's directory (C{<data_dir>/aio-<pid>-<random>/})::

    etc/swift.conf                  hash prefix/suffix, policies, constraints
    etc/container-sync-realms.conf  the realm C{aio} (a random key) and, when
                                    the proxy's address is known, its cluster
                                    C{aio_endpoint}: the proxy's URL
    etc/{account,container,object}.ring.gz, etc/object-<n>.ring.gz
    etc/<kind>-server/<index>.conf  one per storage server
    data/<index>/sdb<index>/        device <index>, shared by its three servers
    data/<index>/sdc<index>/ ...    more devices of object server <index>, in
                                    erasure-coded rings only, when there are
                                    fewer object servers than fragments

Erasure coding: the policies named in C{ec_policies} are C{erasure_coding}
policies, all with the C{ec_*} options of the section; each gets an object
ring of C{(ec_num_data_fragments + ec_num_parity_fragments) *
ec_duplication_factor} replicas, one zone per object server. With fewer
object servers than that, each object server serves as many devices as it
takes (C{sdb<i>}, C{sdc<i>}, ...), so a lost server loses several fragments.
    log/<kind>-<index>.log          a server's stdout, stderr and log lines

Ports: with C{base_port = 0} every server gets a free loopback port chosen
when the cluster is built; otherwise account server I{i} (1-based) listens on
C{base_port + i - 1}, container server I{i} on C{base_port + 10 + i - 1} and
object server I{i} on C{base_port + 20 + i - 1}.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from twisted.application.service import MultiService
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    fail,
    gatherResults,
    succeed,
)
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.error import (
    ConnectError,
    ConnectingCancelledError,
    ProcessExitedAlready,
)
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_proxy.service.backoff import RestartBackoff
from twisted_proxy.service.launcher import launcher_arguments
from twisted_proxy.swift.truthy import is_false, is_true
from twisted_proxy_aio.ports import free_ports

__all__ = [
    "AIO_OPTIONS",
    "AioError",
    "AioSettings",
    "StorageServer",
    "ClusterLayout",
    "StorageClusterService",
    "SERVER_KINDS",
    "SWIFT_PROGRAMS",
    "parse_aio_settings",
    "region_of",
    "find_swift_bin_dir",
    "SYNC_REALM",
    "SYNC_CLUSTER",
    "sync_endpoint",
    "swift_python",
    "build_cluster",
    "main",
]

SERVER_KINDS = ("account", "container", "object")

#: The container-sync realm and cluster the cluster names itself in its
#: C{container-sync-realms.conf}: C{X-Container-Sync-To:
#: //aio/aio_endpoint/ACCOUNT/CONTAINER} syncs to a container of its own
#: proxy (C{current = //aio/aio_endpoint} in C{[filter:container_sync]}).
SYNC_REALM = "aio"
SYNC_CLUSTER = "aio_endpoint"

#: The programs of the C{swift} package the cluster needs.
SWIFT_PROGRAMS = (
    "swift-ring-builder",
    "swift-account-server",
    "swift-container-server",
    "swift-object-server",
)

_INSTALL_HINT = (
    "install the aio extra: pip install 'twisted-proxy[aio]' "
    "(or pip install -e '.[aio]' in a checkout)"
)

# Port offset of each kind from base_port; it bounds devices to 10.
_KIND_PORT_STRIDE = 10
_MAX_DEVICES_WITH_BASE_PORT = _KIND_PORT_STRIDE
_MAX_DEVICES = 64
_MAX_PART_POWER = 20

# Marks a directory as a cluster made by build_cluster; it names the owning
# process so a later build can remove what a killed process left behind.
_MARKER = "twisted-proxy-aio.owner"

# Nothing listens on the discard port and nobody else can bind it, so the
# servers' syslog datagrams vanish; their log lines reach their log file
# through stderr instead (they run with --verbose).
_DISCARD_UDP_PORT = 9

# Swift's default constraints, written out so that swift.conf documents them
# and a proxy reading [swift-constraints] sees the same values as the servers.
_DEFAULT_CONSTRAINTS = (
    ("max_file_size", "5368709122"),
    ("max_meta_name_length", "128"),
    ("max_meta_value_length", "256"),
    ("max_meta_count", "90"),
    ("max_meta_overall_size", "4096"),
    ("max_header_size", "8192"),
    ("max_request_line", "8192"),
    ("max_object_name_length", "1024"),
    ("container_listing_limit", "10000"),
    ("account_listing_limit", "10000"),
    ("max_account_name_length", "256"),
    ("max_container_name_length", "256"),
    ("valid_api_versions", "v1,v1.0"),
    ("extra_header_count", "0"),
    ("auto_create_account_prefix", "."),
)

# The daemon sections each kind of server's configuration conventionally has.
_DAEMON_SECTIONS = {
    "account": ("account-replicator", "account-auditor", "account-reaper"),
    "container": (
        "container-replicator",
        "container-updater",
        "container-auditor",
        "container-sync",
        "container-sharder",
    ),
    "object": ("object-replicator", "object-updater", "object-auditor"),
}

_POLICY_NAME = re.compile(r"^[A-Za-z0-9-]+$")
_EC_TYPE = re.compile(r"^[a-z0-9_]+$")
# Device names of one object server: sdb<i> first (in every ring), then the
# extra devices of erasure-coded rings.
_DEVICE_LETTERS = "bcdefghijklmnopqrstuvwxyz"

_PROBE_INTERVAL = 0.1
_PROBE_CONNECT_TIMEOUT = 2.0
_LOG_TAIL_LINES = 8

# Runs in each storage server's process, never in the proxy's, under the
# Python of Swift's programs (swift_python), whatever the proxy's. Swift 2.38
# reads storage policies only from /etc/swift/swift.conf, at import, and
# set_swift_dir() does not reload them; point Swift at this cluster's own
# swift.conf before the server starts, so every policy of the cluster is
# known to its servers (and nothing is read from /etc/swift).
_SWIFT_SHIM = """\
import runpy, sys
conf, program, args = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(program, "rb") as f:
    first = f.readline()
if not (first.startswith(b"#!") and b"python" in first):
    import os
    os.execv(program, [program] + args)
from swift.common import utils
utils.SWIFT_CONF_FILE = conf
from swift.common import constraints, storage_policy
storage_policy.reload_storage_policies()
constraints.reload_constraints()
sys.argv = [program] + args
runpy.run_path(program, run_name="__main__")
"""

_log = Logger()


class AioError(Exception):
    """
    The all-in-one cluster cannot be configured, built or started.

    The message is meant for the operator as it stands: one line saying what
    is wrong and what to do (a server's log tail may follow on later lines).
    """


def _default_data_dir() -> str:
    if os.path.isdir("/dev/shm"):
        return "/dev/shm/twisted-proxy-aio"
    return os.path.join(tempfile.gettempdir(), "twisted-proxy-aio")


@dataclass(frozen=True)
class AioSettings:
    """
    The C{[aio]} section of the proxy configuration, validated.

    @ivar data_dir: (C{data_dir}) the parent directory of clusters; each run
        makes a fresh subdirectory in it, unique to the process. Default
        C{/dev/shm/twisted-proxy-aio} where C{/dev/shm} exists (tmpfs holds
        the large metadata sets Swift allows, ext4 does not), else
        C{<system temp dir>/twisted-proxy-aio}.
    @ivar ephemeral: (C{ephemeral}, default true) remove the run's
        directory when the service stops.
    @ivar devices: (C{devices}, default 4) the number of devices, each served
        by its own account, container and object server process.
    @ivar replicas: (C{replicas}, default 3) replicas of every ring and
        policy; at most C{devices}, and each lands on a different device.
    @ivar part_power: (C{part_power}, default 10) the rings' partition power,
        1 to 20.
    @ivar base_port: (C{base_port}, default 0) 0 picks free ports when the
        cluster is built; otherwise account servers listen on
        C{base_port + 0..}, container servers on C{base_port + 10..} and
        object servers on C{base_port + 20..} (so at most 10 devices).
    @ivar storage_ip: (C{storage_ip}, default C{127.0.0.1}) the IPv4
        address the storage servers listen on and the rings name. (Not
        C{bind_ip}: a C{[DEFAULT]} section's C{bind_ip}, the proxy's own
        address, would be inherited.)
    @ivar swift_bin_dir: (C{swift_bin_dir}, default none) where Swift's
        programs are; none looks next to the running Python, then on
        C{PATH} (see L{find_swift_bin_dir}).
    @ivar hash_path_prefix: (C{hash_path_prefix}, default random per cluster)
        swift.conf's C{swift_hash_path_prefix}.
    @ivar hash_path_suffix: (C{hash_path_suffix}, default random per cluster)
        swift.conf's C{swift_hash_path_suffix}.
    @ivar policies: (C{policies}, default C{gold, silver}) comma-separated
        names of the replication storage policies, indexes 0, 1, ...; the
        first is the default policy.
    @ivar default_policy: (C{default_policy}, default the first of
        C{policies}) the name of the default policy.
    @ivar ec_policies: (C{ec_policies}, default none) comma-separated names,
        among C{policies}, of the erasure-coded policies; the others are
        replicated.
    @ivar ec_type: (C{ec_type}, default C{liberasurecode_rs_vand}) the
        PyECLib backend of every erasure-coded policy, such as
        C{isa_l_rs_vand}.
    @ivar ec_num_data_fragments: (C{ec_num_data_fragments}, default 4).
    @ivar ec_num_parity_fragments: (C{ec_num_parity_fragments}, default 2).
    @ivar ec_object_segment_size: (C{ec_object_segment_size}, default
        1048576) bytes of object encoded at a time.
    @ivar ec_duplication_factor: (C{ec_duplication_factor}, default 1) how
        many copies of each fragment are stored.
    @ivar log_requests: (C{log_requests}, default true) whether the servers
        log a line per request; turn off for long benchmarks, whose logs
        would otherwise fill C{data_dir}.
    @ivar ready_timeout: (C{ready_timeout}, default 60) seconds the servers
        have to start accepting connections.
    @ivar regions: (C{regions}, default 1) the number of ring regions, at
        most C{devices}: the devices are split into that many consecutive
        groups, the first in region 1 (device I{i} of I{n} is in region
        C{1 + (i - 1) * regions // n}), for trying read and write affinity.
    """

    data_dir: str = field(default_factory=_default_data_dir)
    ephemeral: bool = True
    devices: int = 4
    replicas: int = 3
    part_power: int = 10
    base_port: int = 0
    storage_ip: str = "127.0.0.1"
    swift_bin_dir: Optional[str] = None
    hash_path_prefix: Optional[str] = None
    hash_path_suffix: Optional[str] = None
    policies: tuple[str, ...] = ("gold", "silver")
    default_policy: Optional[str] = None
    ec_policies: tuple[str, ...] = ()
    ec_type: str = "liberasurecode_rs_vand"
    ec_num_data_fragments: int = 4
    ec_num_parity_fragments: int = 2
    ec_object_segment_size: int = 1048576
    ec_duplication_factor: int = 1
    log_requests: bool = True
    ready_timeout: float = 60.0
    regions: int = 1

    @property
    def ec_replicas(self) -> int:
        """
        The replica count of an erasure-coded policy's ring: one per
        fragment archive.
        """
        return (
            self.ec_num_data_fragments + self.ec_num_parity_fragments
        ) * self.ec_duplication_factor

    @property
    def default_policy_name(self) -> str:
        """
        The name of the default policy.
        """
        return self.default_policy or self.policies[0]


#: The option names of the C{[aio]} section.
AIO_OPTIONS = frozenset(
    [
        "data_dir",
        "ephemeral",
        "devices",
        "replicas",
        "part_power",
        "base_port",
        "storage_ip",
        "swift_bin_dir",
        "hash_path_prefix",
        "hash_path_suffix",
        "policies",
        "default_policy",
        "ec_policies",
        "ec_type",
        "ec_num_data_fragments",
        "ec_num_parity_fragments",
        "ec_object_segment_size",
        "ec_duplication_factor",
        "log_requests",
        "ready_timeout",
        "regions",
    ]
)


def _bool(name: str, value: str) -> bool:
    word = value.strip()
    if is_true(word):
        return True
    if is_false(word):
        return False
    raise AioError(f"{name} = {value!r}: expected true or false")


def _int(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise AioError(f"{name} = {value!r}: expected an integer") from None
    if not low <= number <= high:
        raise AioError(f"{name} = {number}: expected {low} to {high}")
    return number


def _path(value: str, config_dir: str) -> str:
    expanded = os.path.expanduser(value.strip())
    return os.path.normpath(os.path.join(config_dir, expanded))


def _hash_part(name: str, value: str) -> str:
    value = value.strip()
    if not value or any(c.isspace() for c in value):
        raise AioError(
            f"{name} = {value!r}: expected a non-empty word without spaces"
        )
    return value


def parse_aio_settings(section: Mapping[str, str], config_dir: str) -> AioSettings:
    """
    Validate the C{[aio]} section of the proxy configuration.

    @param section: option name to raw string value; options not in
        L{AIO_OPTIONS} are ignored (a C{[DEFAULT]} section of the file may
        bring in any name).
    @param config_dir: the directory relative paths are resolved against,
        normally the one holding the configuration file.
    @raise AioError: for a bad value, naming the option.
    """
    defaults = AioSettings()
    values: dict[str, Any] = {}
    if "data_dir" in section:
        values["data_dir"] = _path(section["data_dir"], config_dir)
    if "swift_bin_dir" in section and section["swift_bin_dir"].strip():
        values["swift_bin_dir"] = _path(section["swift_bin_dir"], config_dir)
    for name in ("ephemeral", "log_requests"):
        if name in section:
            values[name] = _bool(name, section[name])
    if "devices" in section:
        values["devices"] = _int("devices", section["devices"], 1, _MAX_DEVICES)
    if "replicas" in section:
        values["replicas"] = _int("replicas", section["replicas"], 1, _MAX_DEVICES)
    if "part_power" in section:
        values["part_power"] = _int(
            "part_power", section["part_power"], 1, _MAX_PART_POWER
        )
    if "base_port" in section:
        values["base_port"] = _int(
            "base_port", section["base_port"], 0, 65535 - 3 * _KIND_PORT_STRIDE
        )
        if 0 < values["base_port"] < 1024:
            raise AioError(
                f"base_port = {values['base_port']}: expected 0 or "
                f"1024 to {65535 - 3 * _KIND_PORT_STRIDE}"
            )
    if "storage_ip" in section:
        raw = section["storage_ip"].strip()
        try:
            address = ipaddress.IPv4Address(raw)
        except ValueError:
            raise AioError(
                f"storage_ip = {raw!r}: expected an IPv4 address"
            ) from None
        if address.is_unspecified:
            raise AioError(
                f"storage_ip = {raw}: expected a specific address "
                "(the rings name it), such as 127.0.0.1"
            )
        values["storage_ip"] = str(address)
    for name in ("hash_path_prefix", "hash_path_suffix"):
        if name in section:
            values[name] = _hash_part(name, section[name])
    if "policies" in section:
        names = tuple(n.strip() for n in section["policies"].split(","))
        if not names or not all(names):
            raise AioError(
                f"policies = {section['policies']!r}: expected "
                "comma-separated policy names, such as gold, silver"
            )
        for name in names:
            if not _POLICY_NAME.match(name):
                raise AioError(
                    f"policies: {name!r} is not a policy name "
                    "(letters, digits and dashes)"
                )
        if len({n.lower() for n in names}) != len(names):
            raise AioError(
                f"policies = {section['policies']!r}: names repeat"
            )
        values["policies"] = names
    policies = values.get("policies", defaults.policies)
    known = {n.lower(): n for n in policies}
    if "default_policy" in section:
        name = section["default_policy"].strip()
        if name.lower() not in known:
            raise AioError(
                f"default_policy = {name!r}: not one of policies "
                f"({', '.join(policies)})"
            )
        values["default_policy"] = known[name.lower()]
    if "ec_policies" in section:
        names = tuple(
            n.strip() for n in section["ec_policies"].split(",") if n.strip()
        )
        for name in names:
            if name.lower() not in known:
                raise AioError(
                    f"ec_policies: {name!r} is not one of policies "
                    f"({', '.join(policies)})"
                )
        values["ec_policies"] = tuple(known[n.lower()] for n in names)
    if "ec_type" in section:
        raw = section["ec_type"].strip()
        if not _EC_TYPE.match(raw):
            raise AioError(
                f"ec_type = {raw!r}: expected a PyECLib backend name, "
                "such as liberasurecode_rs_vand or isa_l_rs_vand"
            )
        values["ec_type"] = raw
    for name, high in (
        ("ec_num_data_fragments", 32),
        ("ec_num_parity_fragments", 32),
        ("ec_object_segment_size", 1 << 30),
        ("ec_duplication_factor", 8),
    ):
        if name in section:
            values[name] = _int(name, section[name], 1, high)
    if "ready_timeout" in section:
        raw = section["ready_timeout"].strip()
        try:
            timeout = float(raw)
        except ValueError:
            timeout = float("nan")
        if not 0 < timeout < 3600:
            raise AioError(
                f"ready_timeout = {raw!r}: expected seconds, "
                "more than 0 and less than 3600"
            )
        values["ready_timeout"] = timeout

    devices = values.get("devices", defaults.devices)
    replicas = values.get("replicas", defaults.replicas)
    if "regions" in section:
        values["regions"] = _int("regions", section["regions"], 1, devices)
    if replicas > devices:
        raise AioError(
            f"replicas = {replicas}: at most devices ({devices}), "
            "each replica needs its own device"
        )
    if values.get("ec_policies"):
        data = values.get("ec_num_data_fragments", defaults.ec_num_data_fragments)
        parity = values.get(
            "ec_num_parity_fragments", defaults.ec_num_parity_fragments
        )
        duplication = values.get(
            "ec_duplication_factor", defaults.ec_duplication_factor
        )
        if -(-(data + parity) * duplication // devices) > len(_DEVICE_LETTERS):
            raise AioError(
                f"ec_num_data_fragments + ec_num_parity_fragments = "
                f"{data + parity}: too many fragments for {devices} devices"
            )
    if values.get("base_port", 0) and devices > _MAX_DEVICES_WITH_BASE_PORT:
        raise AioError(
            f"devices = {devices}: at most "
            f"{_MAX_DEVICES_WITH_BASE_PORT} with a base_port"
        )
    return AioSettings(**values)


@dataclass(frozen=True)
class StorageServer:
    """
    One storage server process of the cluster.

    @ivar kind: C{'account'}, C{'container'} or C{'object'}.
    @ivar index: 1-based; server I{i} of each kind serves device C{sdb<i>}.
    @ivar port: the TCP port it listens on, at the layout's C{bind_ip}.
    @ivar device: the device name in the rings, C{sdb<index>}.
    @ivar conf_path: its configuration file.
    @ivar devices_dir: its C{devices} directory, which holds C{device}.
    @ivar extra_devices: the further devices (in C{devices_dir}) that an
        object server serves for the erasure-coded rings only.
    """

    kind: str
    index: int
    port: int
    device: str
    conf_path: str
    devices_dir: str
    extra_devices: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """
        C{<kind>-<index>}, as in log file names and messages.
        """
        return f"{self.kind}-{self.index}"


@dataclass(frozen=True)
class ClusterLayout:
    """
    A cluster built on disk by L{build_cluster}.

    @ivar root: the cluster's own directory.
    @ivar swift_dir: holds C{swift.conf} and the C{*.ring.gz} files: what
        the proxy reads.
    @ivar servers: every storage server, by kind then index.
    @ivar hash_prefix: C{swift_hash_path_prefix}.
    @ivar hash_suffix: C{swift_hash_path_suffix}.
    @ivar swift_bin_dir: the directory of Swift's programs.
    @ivar ephemeral: whether stopping the service removes C{root}.
    @ivar bind_ip: the address every server listens on.
    @ivar policies: storage policy names by index.
    @ivar default_policy: the default policy's name (by default, that of
        index 0).
    @ivar ec_policies: the names of the erasure-coded policies.
    @ivar sync_endpoint: the URL of the container-sync cluster
        L{SYNC_CLUSTER} (the proxy's C{/v1/}), or C{None} when the proxy's
        address was not known.
    """

    root: str
    swift_dir: str
    servers: tuple[StorageServer, ...]
    hash_prefix: str
    hash_suffix: str
    swift_bin_dir: str = ""
    ephemeral: bool = True
    bind_ip: str = "127.0.0.1"
    policies: tuple[str, ...] = ("gold",)
    default_policy: str = ""
    ec_policies: tuple[str, ...] = ()
    sync_endpoint: Optional[str] = None

    @property
    def log_dir(self) -> str:
        """
        The directory of the servers' log files.
        """
        return os.path.join(self.root, "log")

    def log_path(self, server: StorageServer) -> str:
        """
        The file collecting C{server}'s output.
        """
        return os.path.join(self.log_dir, f"{server.name}.log")

    def servers_of(self, kind: str) -> tuple[StorageServer, ...]:
        """
        The servers of one kind, by index.
        """
        return tuple(s for s in self.servers if s.kind == kind)

    def program(self, kind: str) -> str:
        """
        The path of the program running servers of C{kind}.
        """
        return os.path.join(self.swift_bin_dir, f"swift-{kind}-server")


def _is_program(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_swift_bin_dir(swift_bin_dir: Optional[str] = None) -> str:
    """
    Find the directory holding all of L{SWIFT_PROGRAMS}.

    @param swift_bin_dir: the only directory to look in, if given; otherwise
        look in the directory of C{sys.executable}, then in that of its real
        path, then in each directory on C{PATH}.
    @raise AioError: if no such directory is found.
    """
    if swift_bin_dir is not None:
        candidates = [swift_bin_dir]
        where = swift_bin_dir
    else:
        candidates = []
        if sys.executable:
            candidates.append(os.path.dirname(sys.executable))
            candidates.append(os.path.dirname(os.path.realpath(sys.executable)))
        candidates.extend(
            p for p in os.environ.get("PATH", "").split(os.pathsep) if p
        )
        where = "next to " + (sys.executable or "python") + " or on PATH"
    for candidate in candidates:
        if all(_is_program(os.path.join(candidate, p)) for p in SWIFT_PROGRAMS):
            return os.path.abspath(candidate)
    raise AioError(
        f"Swift's storage servers were not found ({where}): {_INSTALL_HINT}"
    )


def swift_python(program: str) -> str:
    """
    The Python that Swift's C{program} belongs to: the interpreter its
    C{#!} line names (directly or through C{env}), which has the C{swift}
    package; this process's own Python when the line names no Python that
    exists (a program that is no Python script is run as it is anyway).

    A proxy under PyPy thus runs Swift's servers under the CPython they were
    installed for.
    """
    try:
        with open(program, "rb") as f:
            first = f.readline(512)
    except OSError:
        return sys.executable
    if not first.startswith(b"#!"):
        return sys.executable
    words = first[2:].decode("utf-8", "replace").split()
    if words and os.path.basename(words[0]) == "env":
        words = [w for w in words[1:] if not w.startswith("-")]
        found = shutil.which(words[0]) if words else None
        words = [found] if found else []
    if (words and "python" in os.path.basename(words[0])
            and _is_program(words[0])):
        return words[0]
    return sys.executable


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_abandoned_clusters(data_dir: str) -> None:
    """
    Remove the ephemeral clusters in C{data_dir} whose process is gone.

    A killed proxy cannot clean up, and on C{/dev/shm} what it leaves holds
    memory.
    """
    try:
        entries = os.listdir(data_dir)
    except OSError:
        return
    for entry in entries:
        if not entry.startswith("aio-"):
            continue
        path = os.path.join(data_dir, entry)
        try:
            with open(os.path.join(path, _MARKER)) as marker:
                fields = dict(
                    line.split("=", 1) for line in marker.read().split() if "=" in line
                )
            pid = int(fields["pid"])
        except (OSError, KeyError, ValueError):
            continue
        if fields.get("ephemeral") == "true" and not _process_alive(pid):
            _log.info("removing abandoned aio cluster {path}", path=path)
            shutil.rmtree(path, ignore_errors=True)


def _pick_ports(bind_ip: str, count: int) -> list[int]:
    try:
        return free_ports(count, bind_ip)
    except OSError as e:
        raise AioError(f"cannot pick free ports on {bind_ip}: {e}") from None


def _check_ports_free(bind_ip: str, ports: Sequence[int]) -> None:
    for port in ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((bind_ip, port))
        except OSError as e:
            raise AioError(
                f"base_port: cannot listen on {bind_ip}:{port} ({e.strerror})"
            ) from None
        finally:
            sock.close()


def _ring_name(kind: str, policyIndex: int) -> str:
    if kind == "object" and policyIndex:
        return f"object-{policyIndex}"
    return kind


def _run_ring_builder(program: str, builder: str, args: Sequence[str]) -> None:
    command = [program, builder, *args]
    try:
        completed = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise AioError(f"{' '.join(command[:3])} failed: {e}") from None
    # 1 is swift-ring-builder's "done, with warnings".
    acceptable = (0, 1) if args[0] == "rebalance" else (0,)
    if completed.returncode not in acceptable:
        output = completed.stdout.decode("utf-8", "replace").strip()
        tail = " | ".join(output.splitlines()[-_LOG_TAIL_LINES:])
        raise AioError(
            f"{os.path.basename(program)} {os.path.basename(builder)} "
            f"{args[0]} exited with {completed.returncode}: {tail}"
        )


def region_of(index: int, settings: AioSettings) -> int:
    """
    The ring region of device C{index} (1-based) of the cluster.
    """
    return 1 + (index - 1) * settings.regions // settings.devices


def _build_ring(
    program: str,
    swift_dir: str,
    name: str,
    servers: Sequence[StorageServer],
    settings: AioSettings,
    bind_ip: str,
    erasure_coded: bool = False,
) -> None:
    builder = os.path.join(swift_dir, f"{name}.builder")
    replicas = settings.ec_replicas if erasure_coded else settings.replicas
    _run_ring_builder(
        program,
        builder,
        ["create", str(settings.part_power), str(replicas), "1"],
    )
    add: list[str] = ["add"]
    for server in servers:
        # One zone per server: every replica of a partition on its own
        # server, as far as there are servers.
        region = region_of(server.index, settings)
        devices: tuple[str, ...] = (server.device,)
        if erasure_coded:
            devices += server.extra_devices
        for device in devices:
            add += [
                f"r{region}z{server.index}-{bind_ip}:{server.port}/{device}",
                "1",
            ]
    _run_ring_builder(program, builder, add)
    # Format 1 is readable by every Swift release and by twisted_proxy.
    _run_ring_builder(program, builder, ["rebalance", "--format-version=1"])
    if not os.path.isfile(os.path.join(swift_dir, f"{name}.ring.gz")):
        raise AioError(f"swift-ring-builder made no {name}.ring.gz in {swift_dir}")


def _swift_conf(prefix: str, suffix: str, settings: AioSettings) -> str:
    lines = [
        "[swift-hash]",
        f"swift_hash_path_prefix = {prefix}",
        f"swift_hash_path_suffix = {suffix}",
        "",
    ]
    for index, name in enumerate(settings.policies):
        lines += [f"[storage-policy:{index}]", f"name = {name}"]
        if name in settings.ec_policies:
            lines += [
                "policy_type = erasure_coding",
                f"ec_type = {settings.ec_type}",
                f"ec_num_data_fragments = {settings.ec_num_data_fragments}",
                f"ec_num_parity_fragments = {settings.ec_num_parity_fragments}",
                f"ec_object_segment_size = {settings.ec_object_segment_size}",
            ]
            if settings.ec_duplication_factor != 1:
                lines += [
                    f"ec_duplication_factor = {settings.ec_duplication_factor}"
                ]
        else:
            lines += ["policy_type = replication"]
        if name == settings.default_policy_name:
            lines += ["default = yes"]
        lines += [""]
    lines += ["[swift-constraints]"]
    lines += [f"{key} = {value}" for key, value in _DEFAULT_CONSTRAINTS]
    return "\n".join(lines) + "\n"


def _server_conf(
    server: StorageServer, swift_dir: str, bind_ip: str, log_requests: bool
) -> str:
    lines = [
        "[DEFAULT]",
        f"swift_dir = {swift_dir}",
        f"devices = {server.devices_dir}",
        "mount_check = false",
        "disable_fallocate = true",
        f"bind_ip = {bind_ip}",
        f"bind_port = {server.port}",
        # Serve in the spawned process itself, so it can be supervised and
        # signalled directly.
        "workers = 0",
        # Fail soon, with a log line, when the port is taken.
        "bind_timeout = 10",
        f"log_udp_host = {bind_ip}",
        f"log_udp_port = {_DISCARD_UDP_PORT}",
        "",
        "[pipeline:main]",
        f"pipeline = {server.kind}-server",
        "",
        f"[app:{server.kind}-server]",
        f"use = egg:swift#{server.kind}",
        f"log_requests = {'true' if log_requests else 'false'}",
        "",
    ]
    for section in _DAEMON_SECTIONS[server.kind]:
        lines += [f"[{section}]", ""]
    return "\n".join(lines)


def sync_endpoint(address: Optional[tuple[str, int]]) -> Optional[str]:
    """
    The container-sync endpoint (C{http://HOST:PORT/v1/}) of a proxy
    listening on C{address}: a wildcard host is reached on the loopback
    address. C{None} without an address, or for port 0 (not known yet).
    """
    if address is None or not address[1]:
        return None
    host, port = address
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/v1/"


def _sync_realms_conf(key: str, endpoint: Optional[str]) -> str:
    lines = [f"[{SYNC_REALM}]", f"key = {key}"]
    if endpoint is not None:
        lines.append(f"cluster_{SYNC_CLUSTER} = {endpoint}")
    return "\n".join(lines) + "\n"


def _write_file(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def build_cluster(settings: AioSettings,
                  proxy_address: Optional[tuple[str, int]] = None) -> ClusterLayout:
    """
    Lay out a fresh cluster on disk; start nothing.

    Its C{container-sync-realms.conf} names the proxy at C{proxy_address}
    (C{(host, port)}, see L{sync_endpoint}) as the realm's cluster.

    Synchronous: it runs C{swift-ring-builder} as subprocesses and blocks
    until the rings are made (a few seconds), so call it before the reactor
    runs. It first removes ephemeral clusters of processes that no longer
    exist from C{settings.data_dir}.

    @return: the layout, whose C{swift_dir} the proxy reads.
    @raise AioError: if Swift's programs are missing, a port is taken or a
        ring cannot be built. Nothing is left on disk then, unless the
        settings are not ephemeral.
    """
    bin_dir = find_swift_bin_dir(settings.swift_bin_dir)
    try:
        os.makedirs(settings.data_dir, exist_ok=True)
    except OSError as e:
        raise AioError(
            f"data_dir = {settings.data_dir}: cannot create it ({e.strerror})"
        ) from None
    _remove_abandoned_clusters(settings.data_dir)
    root = tempfile.mkdtemp(prefix=f"aio-{os.getpid()}-", dir=settings.data_dir)
    try:
        return _build_in(root, bin_dir, settings, sync_endpoint(proxy_address))
    except BaseException:
        if settings.ephemeral:
            shutil.rmtree(root, ignore_errors=True)
        raise


def _write_marker(root: str, ephemeral: bool) -> None:
    _write_file(
        os.path.join(root, _MARKER),
        f"pid={os.getpid()}\nephemeral={'true' if ephemeral else 'false'}\n",
    )


def _build_in(root: str, bin_dir: str, settings: AioSettings,
              endpoint: Optional[str]) -> ClusterLayout:
    _write_marker(root, settings.ephemeral)
    swift_dir = os.path.join(root, "etc")
    os.makedirs(swift_dir)
    os.makedirs(os.path.join(root, "log"))

    count = settings.devices
    bind_ip = settings.storage_ip
    if settings.base_port:
        ports = [
            settings.base_port + k * _KIND_PORT_STRIDE + i
            for k in range(len(SERVER_KINDS))
            for i in range(count)
        ]
        _check_ports_free(bind_ip, ports)
    else:
        ports = _pick_ports(bind_ip, count * len(SERVER_KINDS))

    # An erasure-coded ring needs a device per fragment archive; object
    # servers share them out when there are fewer servers than that.
    per_server = 1
    if settings.ec_policies:
        per_server = max(1, -(-settings.ec_replicas // count))
    servers = []
    for k, kind in enumerate(SERVER_KINDS):
        os.makedirs(os.path.join(swift_dir, f"{kind}-server"))
        for i in range(1, count + 1):
            devices_dir = os.path.join(root, "data", str(i))
            device = f"sdb{i}"
            os.makedirs(os.path.join(devices_dir, device), exist_ok=True)
            extra: tuple[str, ...] = ()
            if kind == "object":
                extra = tuple(
                    f"sd{letter}{i}" for letter in _DEVICE_LETTERS[1:per_server]
                )
                for name in extra:
                    os.makedirs(os.path.join(devices_dir, name), exist_ok=True)
            servers.append(
                StorageServer(
                    kind=kind,
                    index=i,
                    port=ports[k * count + i - 1],
                    device=device,
                    conf_path=os.path.join(swift_dir, f"{kind}-server", f"{i}.conf"),
                    devices_dir=devices_dir,
                    extra_devices=extra,
                )
            )

    prefix = settings.hash_path_prefix or secrets.token_hex(8)
    suffix = settings.hash_path_suffix or secrets.token_hex(8)
    _write_file(
        os.path.join(swift_dir, "swift.conf"),
        _swift_conf(prefix, suffix, settings),
    )
    # Before any server starts: the container servers read it once, then
    # only every five minutes.
    _write_file(
        os.path.join(swift_dir, "container-sync-realms.conf"),
        _sync_realms_conf(secrets.token_hex(16), endpoint),
    )
    for server in servers:
        _write_file(
            server.conf_path,
            _server_conf(server, swift_dir, bind_ip, settings.log_requests),
        )

    rings = [(kind, kind, False) for kind in ("account", "container")]
    rings += [
        ("object", _ring_name("object", index), name in settings.ec_policies)
        for index, name in enumerate(settings.policies)
    ]
    builder = os.path.join(bin_dir, "swift-ring-builder")
    with ThreadPoolExecutor(max_workers=len(rings)) as pool:
        jobs = [
            pool.submit(
                _build_ring,
                builder,
                swift_dir,
                name,
                [s for s in servers if s.kind == kind],
                settings,
                bind_ip,
                erasure_coded,
            )
            for kind, name, erasure_coded in rings
        ]
        for job in jobs:
            job.result()

    return ClusterLayout(
        root=root,
        swift_dir=swift_dir,
        servers=tuple(servers),
        hash_prefix=prefix,
        hash_suffix=suffix,
        swift_bin_dir=bin_dir,
        ephemeral=settings.ephemeral,
        bind_ip=bind_ip,
        policies=settings.policies,
        default_policy=settings.default_policy_name,
        ec_policies=settings.ec_policies,
        sync_endpoint=endpoint,
    )


def _log_tail(path: str) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 8192))
            data = f.read()
    except OSError:
        return "    (no log)"
    lines = [
        line
        for line in data.decode("utf-8", "replace").splitlines()
        if line.strip()
    ][-_LOG_TAIL_LINES:]
    return "\n".join("    " + line for line in lines) or "    (empty log)"


class _ServerProtocol(ProcessProtocol):
    """
    Reports the end of one run of a server to its supervisor.
    """

    def __init__(self, onEnded: Callable[["_ServerProtocol", Failure], None]):
        self._onEnded = onEnded

    def processEnded(self, reason: Failure) -> None:  # type: ignore[override]
        self._onEnded(self, reason)


class _Supervisor:
    """
    Keeps one storage server running: restarts it, with backoff, whenever it
    exits unless it is being stopped.
    """

    def __init__(
        self,
        reactor: Any,
        layout: ClusterLayout,
        server: StorageServer,
        onExit: Callable[[StorageServer, Failure], None],
        killTimeout: float,
    ) -> None:
        self._reactor = reactor
        self._killTimeout = killTimeout
        self._layout = layout
        self.server = server
        self._onExit = onExit
        self._protocol: Optional[_ServerProtocol] = None
        self._backoff = RestartBackoff(reactor)
        self._kill: Optional[Any] = None
        self._stopping = False
        self._stopped: list[Deferred[None]] = []

    @property
    def pid(self) -> Optional[int]:
        if self._protocol is None or self._protocol.transport is None:
            return None
        pid = getattr(self._protocol.transport, "pid", None)
        return pid if isinstance(pid, int) else None

    def _note(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        try:
            with open(self._layout.log_path(self.server), "a") as f:
                f.write(f"=== {stamp} twisted-proxy-aio: {text}\n")
        except OSError:
            pass

    def start(self) -> None:
        self._stopping = False
        program = self._layout.program(self.server.kind)
        args = launcher_arguments(
            swift_python(program),
            "-c",
            _SWIFT_SHIM,
            os.path.join(self._layout.swift_dir, "swift.conf"),
            program,
            self.server.conf_path,
            "--verbose",
        )
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        self._note(f"starting {program} {self.server.conf_path}")
        logPath = self._layout.log_path(self.server)
        logFD = os.open(logPath, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        nullFD = os.open(os.devnull, os.O_RDONLY)
        protocol = _ServerProtocol(self._ended)
        self._backoff.started()
        try:
            # The server writes its log straight to the file: none of its
            # output passes through this process.
            self._reactor.spawnProcess(
                protocol,
                sys.executable,
                args,
                env=env,
                path=self._layout.root,
                childFDs={0: nullFD, 1: logFD, 2: logFD},
            )
        except Exception:
            self._failed(Failure())
        else:
            self._protocol = protocol
        finally:
            os.close(logFD)
            os.close(nullFD)

    def _ended(self, protocol: _ServerProtocol, reason: Failure) -> None:
        if protocol is not self._protocol:
            return
        self._protocol = None
        if self._kill is not None and self._kill.active():
            self._kill.cancel()
        self._kill = None
        if self._stopping:
            self._note(f"{self.server.name} stopped: {reason.value}")
            stopped, self._stopped = self._stopped, []
            for d in stopped:
                d.callback(None)
            return
        self._failed(reason)

    def _failed(self, reason: Failure) -> None:
        delay = self._backoff.restart_later(self.start)
        self._note(
            f"{self.server.name} failed: {reason.value}; restarting in {delay:g}s"
        )
        _log.warn(
            "storage server {name} failed ({reason}); restarting in {delay}s",
            name=self.server.name,
            reason=reason.value,
            delay=delay,
        )
        self._onExit(self.server, reason)

    def stop(self) -> Deferred[None]:
        """
        SIGTERM the server, SIGKILL it if it lingers.

        @return: fires when it has exited.
        """
        self._stopping = True
        self._backoff.cancel()
        if self._protocol is None:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._stopped.append(d)
        self._signal("TERM")
        if self._kill is None:
            self._kill = self._reactor.callLater(
                self._killTimeout, self._signal, "KILL"
            )
        return d

    def _signal(self, name: str) -> None:
        transport: Any = None if self._protocol is None else self._protocol.transport
        if transport is None:
            return
        try:
            transport.signalProcess(name)
        except ProcessExitedAlready:
            pass


class StorageClusterService(MultiService):
    """
    Runs the storage servers of a L{ClusterLayout} as supervised child
    processes.

    Each server's stdout and stderr, which carry its log lines, are appended
    to C{<root>/log/<kind>-<index>.log}. A server that exits while the
    service runs is restarted after a delay that doubles from 0.5 s to 30 s
    while it keeps dying soon after starting. On Linux the servers die with
    this process, even if it is killed.

    The service can be started once: an ephemeral cluster's directory is gone
    once it has stopped.

    @param layout: from L{build_cluster}.
    @param reactor: provides C{IReactorProcess}, C{IReactorTCP} and
        C{IReactorTime}.
    @param ready_timeout: seconds the servers have, from C{startService},
        to accept connections before L{when_ready} fails.
    @param kill_timeout: seconds between SIGTERM and SIGKILL when stopping.
    """

    def __init__(
        self,
        layout: ClusterLayout,
        reactor: Any,
        ready_timeout: float = 60.0,
        kill_timeout: float = 5.0,
    ) -> None:
        super().__init__()
        self.layout = layout
        self._reactor = reactor
        self._readyTimeout = ready_timeout
        self._supervisors = [
            _Supervisor(reactor, layout, server, self._server_exited, kill_timeout)
            for server in layout.servers
        ]
        self._ready: Optional[bool] = None
        self._readyFailure: Optional[Failure] = None
        self._waiters: list[Deferred[None]] = []
        self._probes: list[Deferred[None]] = []
        self._readyTimer: Optional[Any] = None
        self._stopDeferred: Optional[Deferred[None]] = None
        self._startedAt = 0.0

    def when_ready(self) -> Deferred[None]:
        """
        @return: fires with C{None} once every server has accepted a TCP
            connection; fails with L{AioError}, naming the server and
            quoting the end of its log, if a server exits first or the
            servers are not all listening within C{ready_timeout} seconds of
            C{startService}, or if the service is stopped first.
        """
        if self._ready:
            return succeed(None)
        if self._readyFailure is not None:
            return fail(self._readyFailure)

        def cancel(d: Deferred[None]) -> None:
            if d in self._waiters:
                self._waiters.remove(d)

        d: Deferred[None] = Deferred(cancel)
        self._waiters.append(d)
        return d

    def pid(self, server: StorageServer) -> Optional[int]:
        """
        The process id of C{server}'s current run, or C{None} while it is
        not running.
        """
        for supervisor in self._supervisors:
            if supervisor.server == server:
                return supervisor.pid
        raise KeyError(server)

    def startService(self) -> None:
        super().startService()
        # twistd may have forked (daemonized) since build_cluster: name the
        # process that now owns the cluster.
        _write_marker(self.layout.root, self.layout.ephemeral)
        _log.info("Starting {count} Swift storage servers of the all-in-one cluster in {root}",
                  count=len(self._supervisors), root=self.layout.root)
        self._startedAt = self._reactor.seconds()
        for supervisor in self._supervisors:
            supervisor.start()
        if self._ready is None and self._readyFailure is None:
            self._readyTimer = self._reactor.callLater(
                self._readyTimeout, self._ready_timed_out
            )
            for supervisor in self._supervisors:
                probe = Deferred.fromCoroutine(self._await_listening(supervisor.server))
                # Cancelling a connection attempt raises its own error.
                probe.addErrback(
                    lambda f: f.trap(CancelledError, ConnectingCancelledError)
                )
                self._probes.append(probe)
            probing = gatherResults(self._probes)
            probing.addCallback(lambda _: self._became_ready())
            probing.addErrback(
                lambda f: self._ready_failed(
                    AioError(f"cannot probe the storage servers: {f.value}")
                )
            )

    async def _await_listening(self, server: StorageServer) -> None:
        endpoint = TCP4ClientEndpoint(
            self._reactor,
            self.layout.bind_ip,
            server.port,
            timeout=_PROBE_CONNECT_TIMEOUT,
        )
        factory: Any = Factory.forProtocol(Protocol)
        factory.noisy = False
        while True:
            try:
                protocol: Any = await endpoint.connect(factory)
            except ConnectError:
                await deferLater(self._reactor, _PROBE_INTERVAL)
            else:
                if protocol.transport is not None:
                    protocol.transport.loseConnection()
                return

    def _became_ready(self) -> None:
        if self._ready is not None or self._readyFailure is not None:
            return
        self._ready = True
        self._end_probing()
        _log.info("All-in-one cluster ready: {count} storage servers answering after {took:.1f}s",
                  count=len(self._supervisors), took=self._reactor.seconds() - self._startedAt)
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(None)

    def _ready_failed(self, error: AioError) -> None:
        if self._ready is not None or self._readyFailure is not None:
            return
        self._ready = False
        self._readyFailure = Failure(error)
        self._end_probing()
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.errback(self._readyFailure)

    def _end_probing(self) -> None:
        if self._readyTimer is not None and self._readyTimer.active():
            self._readyTimer.cancel()
        self._readyTimer = None
        probes, self._probes = self._probes, []
        for probe in probes:
            probe.cancel()

    def _ready_timed_out(self) -> None:
        self._readyTimer = None
        waiting = [
            server
            for probe, server in zip(self._probes, self.layout.servers)
            if not probe.called
        ]
        names = ", ".join(f"{s.name} (port {s.port})" for s in waiting)
        first = waiting[0] if waiting else self.layout.servers[0]
        path = self.layout.log_path(first)
        self._ready_failed(
            AioError(
                f"storage servers not accepting connections after "
                f"{self._readyTimeout:g}s: {names}; end of {path}:\n"
                + _log_tail(path)
            )
        )

    def _server_exited(self, server: StorageServer, reason: Failure) -> None:
        if self._ready is None:
            path = self.layout.log_path(server)
            self._ready_failed(
                AioError(
                    f"storage server {server.name} (port {server.port}) failed "
                    f"before it was ready ({reason.value}); end of {path}:\n"
                    + _log_tail(path)
                )
            )

    def stopService(self) -> Deferred[None]:
        """
        SIGTERM every server, SIGKILL those still running C{kill_timeout}
        seconds later.

        @return: fires when all have exited and, for an ephemeral cluster,
            its directory is removed.
        """
        if self._stopDeferred is not None:
            return self._stopDeferred
        children = super().stopService()
        self._ready_failed(AioError("the storage cluster was stopped before it was ready"))
        stops = [supervisor.stop() for supervisor in self._supervisors]
        d: Deferred[Any] = gatherResults([children, *stops])
        d.addCallback(lambda _: self._clean_up())
        self._stopDeferred = d
        return d

    def _clean_up(self) -> None:
        if self.layout.ephemeral:
            shutil.rmtree(self.layout.root, ignore_errors=True)


async def _run(reactor: Any, settings: AioSettings) -> None:
    started = time.monotonic()
    try:
        layout = build_cluster(settings)
    except AioError as e:
        sys.stderr.write(f"error: {e}\n")
        raise SystemExit(1)
    built = time.monotonic()
    service = StorageClusterService(layout, reactor, settings.ready_timeout)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    service.startService()
    try:
        await service.when_ready()
    except AioError as e:
        sys.stderr.write(f"error: {e}\n")
        raise SystemExit(1)
    ready = time.monotonic()
    print(f"root       {layout.root}")
    print(f"swift_dir  {layout.swift_dir}")
    print(f"hash       prefix={layout.hash_prefix} suffix={layout.hash_suffix}")
    print(
        "policies   "
        + ", ".join(
            name
            + (" (erasure coded)" if name in layout.ec_policies else "")
            + (" (default)" if name == layout.default_policy else "")
            for name in layout.policies
        )
    )
    for kind in SERVER_KINDS:
        ports = " ".join(
            f"{s.device}={layout.bind_ip}:{s.port}" for s in layout.servers_of(kind)
        )
        print(f"{kind:<10} {ports}")
    print(f"logs       {layout.log_dir}")
    print(
        f"built in {built - started:.1f}s, servers ready {ready - built:.1f}s "
        "later; Ctrl-C stops",
        flush=True,
    )
    forever: Deferred[None] = Deferred()
    await forever


def main(argv: Optional[Sequence[str]] = None) -> None:
    """
    C{python3 -m twisted_proxy_aio.cluster}: build and run a cluster in the
    foreground until SIGINT or SIGTERM.
    """
    import argparse

    from twisted.internet import task
    from twisted.logger import globalLogBeginner, textFileLogObserver

    parser = argparse.ArgumentParser(
        prog="python3 -m twisted_proxy_aio.cluster",
        description="Run a local Swift storage cluster in the foreground.",
    )
    parser.add_argument("--data-dir", help="parent directory of the cluster")
    parser.add_argument("--devices", help="devices (default 4)")
    parser.add_argument("--replicas", help="replicas (default 3)")
    parser.add_argument("--part-power", help="partition power (default 10)")
    parser.add_argument("--base-port", help="first port (default 0: any free)")
    parser.add_argument("--storage-ip", help="address (default 127.0.0.1)")
    parser.add_argument("--swift-bin-dir", help="where Swift's programs are")
    parser.add_argument("--policies", help="policy names (default gold,silver)")
    parser.add_argument("--default-policy", help="the default policy's name")
    parser.add_argument(
        "--ec-policies", help="names of the erasure-coded (4+2) policies"
    )
    parser.add_argument(
        "--ready-timeout", help="seconds the servers may take to start (default 60)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the cluster directory at exit"
    )
    parser.add_argument(
        "--no-log-requests", action="store_true", help="no per-request log lines"
    )
    options = parser.parse_args(argv)
    section = {
        name: value
        for name, value in vars(options).items()
        if isinstance(value, str)
    }
    if options.keep:
        section["ephemeral"] = "false"
    if options.no_log_requests:
        section["log_requests"] = "false"
    try:
        settings = parse_aio_settings(section, os.getcwd())
    except AioError as e:
        parser.exit(2, f"error: {e}\n")
    observer: Any = textFileLogObserver(sys.stderr)
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    task.react(lambda reactor: Deferred.fromCoroutine(_run(reactor, settings)))


if __name__ == "__main__":
    main()
