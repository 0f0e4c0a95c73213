# -*- test-case-name: tests.test_config -*-
"""
Reading Swift's C{proxy-server.conf}.

The file is the paste-deploy INI format Swift operators already have:
C{[DEFAULT]}, C{[pipeline:main]}, C{[app:proxy-server]} and one
C{[filter:NAME]} per pipeline stage. As in paste-deploy, a section inherits
C{[DEFAULT]}, whose values win over a plain option of the same name; only
C{set name = value} overrides them. C{%(here)s} is the directory holding the
file, and relative paths in path options resolve against it.

L{load_config} reads the file; L{ProxySettings.from_section} validates the
application's options, raising L{ConfigError} with one line naming the file,
section and option for the first bad value.
"""

from __future__ import annotations

import configparser
import math
import os
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Callable, Iterable, Optional

from twisted.logger import Logger

from twisted_proxy.swift.affinity import (
    AffinityKey,
    LocalityPredicate,
    parse_read_affinity,
    parse_write_affinity,
)
from twisted_proxy.swift.truthy import is_false, is_true

__all__ = [
    "ConfigError",
    "PolicyOptions",
    "ProxyConfig",
    "ProxySettings",
    "WORKER_STARTS",
    "load_config",
    "parse_list",
    "read_config_text",
    "int_option",
]

_log = Logger()


class ConfigError(Exception):
    """
    The configuration cannot be used; the message is one line naming the
    file, the section and the option.
    """


def parse_list(value: str) -> list[str]:
    """
    Split a comma- or space-separated option value into its items.
    """
    return [item for item in value.replace(",", " ").split() if item]


def int_option(conf: dict[str, str], filter_name: str, name: str, default: int,
               minimum: int = 0) -> int:
    """
    The integer option C{name} of a plugin's C{[filter:FILTER_NAME]}
    section, C{default} when absent.

    @raise ConfigError: when it is not an integer of at least C{minimum}.
    """
    raw = conf.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"[filter:{filter_name}] {name}: not an integer: {raw!r}") from None
    if value < minimum:
        need = "must not be negative" if minimum == 0 else f"must be at least {minimum}"
        raise ConfigError(f"[filter:{filter_name}] {name}: {need}: {raw!r}")
    return value


@dataclass
class ProxyConfig:
    """
    A parsed C{proxy-server.conf}.

    @ivar path: the absolute path of the file.
    @ivar defaults: the C{[DEFAULT]} section.
    @ivar pipeline: the stage names of C{[pipeline:main]}, the application
        last.
    @ivar sections: every section by its full name (C{filter:tempauth}),
        each merged over C{[DEFAULT]}.
    @ivar listen_address: the C{(host, port)} the proxy will serve on
        when it is a TCP address (C{--port}, else C{bind_ip} and
        C{bind_port}), once the service knows it; for an environment that
        tells others where the proxy is (the all-in-one cluster's
        container-sync realm).
    """

    path: str
    defaults: dict[str, str]
    pipeline: list[str]
    sections: dict[str, dict[str, str]]
    listen_address: Optional[tuple[str, int]] = None

    @property
    def directory(self) -> str:
        return os.path.dirname(self.path)

    @property
    def app_name(self) -> str:
        return self.pipeline[-1]

    def app_section(self) -> dict[str, str]:
        """
        The options of the application that ends the pipeline.
        """
        return self.sections.get(f"app:{self.app_name}", dict(self.defaults))

    def filter_section(self, name: str) -> Optional[dict[str, str]]:
        """
        The options of the filter C{name}, or C{None} when it has none.
        """
        return self.sections.get(f"filter:{name}")

    def resolve_path(self, value: str) -> str:
        """
        An absolute path for C{value}, relative paths taken against the
        configuration file's directory.
        """
        value = os.path.expanduser(value)
        if os.path.isabs(value):
            return value
        return os.path.normpath(os.path.join(self.directory, value))

    def error(self, section: str, option: str, problem: str) -> ConfigError:
        """
        A L{ConfigError} for C{option} of C{[section]}.
        """
        return ConfigError(f"{self.path}: [{section}] {option}: {problem}")


_HIDDEN = frozenset({"here", "__file__"})


def _read_section(
    path: str, parser: configparser.ConfigParser, name: str
) -> dict[str, str]:
    """
    The options of section C{name}, interpolated and merged over
    C{[DEFAULT]}.

    As in paste-deploy, which Swift uses, a C{[DEFAULT]} value beats a plain
    C{NAME} of the section; C{set NAME = value} beats both, so it is applied
    last.

    @raise ConfigError: for a value whose interpolation fails.
    """
    merged: dict[str, str] = {}
    overrides: dict[str, str] = {}
    defaults = parser.defaults()
    if name == parser.default_section:
        keys = list(defaults)
    else:
        keys = parser.options(name)
    for key in keys:
        if key in _HIDDEN:
            continue
        source = parser.default_section if key in defaults else name
        try:
            value = parser.get(source, key)
        except configparser.Error as error:
            raise ConfigError(
                f"{path}: [{name}] {key}: {str(error).splitlines()[0]}"
            )
        if key.startswith("set "):
            overrides[key[4:].strip()] = value
        else:
            merged[key] = value
    merged.update(overrides)
    return merged


def read_config_text(path: str) -> str:
    """
    The text of the configuration file at C{path}, for L{load_config}.

    @raise ConfigError: the file is missing or unreadable.
    """
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: configuration file not found")
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}".splitlines()[0])


def load_config(path: str, text: Optional[str] = None) -> ProxyConfig:
    """
    Read the configuration file at C{path}, or parse C{text} as that file's
    text (what a reload checked, handed to a worker as it was checked).

    @raise ConfigError: the file is missing, unreadable or malformed, or has
        no usable C{[pipeline:main]}.
    """
    path = os.path.abspath(path)
    if text is None:
        text = read_config_text(path)
    # The file's own name and directory are interpolation sources, so a
    # C{%} in them must not be read as the start of a substitution.
    parser = configparser.ConfigParser(
        defaults={
            "here": os.path.dirname(path).replace("%", "%%"),
            "__file__": path.replace("%", "%%"),
        },
        interpolation=configparser.BasicInterpolation(),
        strict=False,
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text, source=path)
    except configparser.Error as error:
        raise ConfigError(f"{path}: cannot read: {error}".splitlines()[0])
    defaults = _read_section(path, parser, parser.default_section)
    sections = {
        name: _read_section(path, parser, name) for name in parser.sections()
    }
    pipeline_section = sections.get("pipeline:main")
    if pipeline_section is not None:
        pipeline = pipeline_section.get("pipeline", "").split()
        if not pipeline:
            raise ConfigError(f"{path}: [pipeline:main] pipeline: empty")
    else:
        apps = [name[4:] for name in sections if name.startswith("app:")]
        if len(apps) != 1:
            raise ConfigError(f"{path}: [pipeline:main] pipeline: missing")
        pipeline = apps
    if f"app:{pipeline[-1]}" not in sections:
        raise ConfigError(
            f"{path}: [pipeline:main] pipeline: the last stage "
            f"{pipeline[-1]!r} has no [app:{pipeline[-1]}] section"
        )
    return ProxyConfig(path, defaults, pipeline, sections)


def _positive_float(text: str) -> float:
    value = float(text)
    if math.isnan(value):
        raise ValueError("not a number")
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _percent(text: str) -> float:
    """
    A percentage, 0 to 100, as the fraction it is (Swift's
    C{config_percent_value}).
    """
    value = float(text)
    if not 0 <= value <= 100:
        raise ValueError("must be a percentage from 0 to 100")
    return value / 100


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be positive")
    return value


def _keep_idle(text: str) -> int:
    # The kernel's TCP_KEEPIDLE takes 1 to 32767 seconds; Swift refuses
    # anything else at start too.
    value = int(text)
    if not 0 < value < 2**15:
        raise ValueError("must be between 1 and 32767 seconds")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError("not a TCP port")
    return value


def _boolean(text: str) -> bool:
    # Stricter than Swift, which takes any other word for false: a typo in
    # the proxy's own options is refused rather than silently read as no.
    word = text.strip()
    if is_true(word):
        return True
    if is_false(word):
        return False
    raise ValueError("expected true or false")


def _boolean_or_unset(text: str) -> Optional[bool]:
    # Blank means not set, as Swift's sample documents for
    # write_legacy_ec_crc.
    return None if not text.strip() else _boolean(text)


def _sorting(text: str) -> str:
    lowered = text.strip().lower()
    if lowered not in ("shuffle", "timing", "affinity"):
        raise ValueError("expected shuffle, timing or affinity")
    return lowered


def _node_count(text: str) -> str:
    """
    C{request_node_count}: an integer or C{N * replicas}.
    """
    words = text.replace("*", " * ").split()
    if len(words) in (1, 3) and _is_count(words[0]):
        if len(words) == 1 or (words[1] == "*" and words[2] == "replicas"):
            return text.strip()
    raise ValueError("expected an integer or 'N * replicas'")


def _is_count(word: str) -> bool:
    # str.isdigit() admits characters int() refuses (superscripts).
    try:
        return int(word) >= 0 and word.isdigit()
    except ValueError:
        return False


def _text(text: str) -> str:
    return text


def _read_affinity(text: str) -> str:
    parse_read_affinity(text)
    return text.strip()


def _write_affinity(text: str) -> str:
    parse_write_affinity(text)
    return text.strip()


def _auto_int(text: str) -> Optional[int]:
    """
    An integer, or C{auto} (C{None}), as Swift's C{config_auto_int_value}
    reads it.
    """
    if text.strip().lower() == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError("expected an integer or auto") from None


def _workers(text: str) -> int:
    """
    C{workers}: a count, or C{auto} for one per CPU (as Swift counts
    them).
    """
    if text.strip().lower() == "auto":
        return os.cpu_count() or 1
    return _non_negative_int(text)


#: How C{workers = N} starts its worker processes (C{worker_start}):
#: C{fork}ed from the twistd process, which has imported the proxy's code
#: and shares its pages with them, or C{exec}uted as a new program each.
WORKER_STARTS = ("fork", "exec")


def _worker_start(text: str) -> str:
    value = text.strip().lower()
    if value not in WORKER_STARTS:
        raise ValueError("expected " + " or ".join(WORKER_STARTS))
    return value


def _file_name(text: str) -> str:
    if not text.strip():
        raise ValueError("expected a file name")
    return text.strip()


def _host_list(text: str) -> tuple[str, ...]:
    """
    A comma-separated list, as Swift splits C{deny_host_headers} and
    C{max_containers_whitelist}: blanks around items dropped, empty items
    ignored.
    """
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _container_divisor(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be a positive integer")
    # Swift refuses a divisor of 100 or less: task containers would overlap.
    if value <= 100:
        raise ValueError("must be greater than 100")
    return value


_Parser = Callable[[str], object]


def _opt(default: object, parse: _Parser, path: bool = False) -> object:
    return field(default=default, metadata={"parse": parse, "path": path})


@dataclass
class ProxySettings:
    """
    The proxy application's options, with Swift's names and defaults.

    Times are in seconds, sizes in bytes.
    """

    swift_dir: str = _opt("/etc/swift", _text, path=True)  # type: ignore[assignment]
    bind_ip: str = _opt("0.0.0.0", _text)  # type: ignore[assignment]
    bind_port: int = _opt(8080, _port)  # type: ignore[assignment]
    workers: int = _opt(1, _workers)  # type: ignore[assignment]
    stale_worker_timeout: float = _opt(86400.0, _positive_float)  # type: ignore[assignment]
    worker_start: str = _opt("fork", _worker_start)  # type: ignore[assignment]
    backlog: int = _opt(4096, _positive_int)  # type: ignore[assignment]
    #: Serve HTTPS with this certificate (and the chain after it) and key.
    cert_file: Optional[str] = _opt(None, _file_name, path=True)  # type: ignore[assignment]
    key_file: Optional[str] = _opt(None, _file_name, path=True)  # type: ignore[assignment]
    #: Each connection begins with a PROXY protocol header (v1 or v2).
    require_proxy_protocol: bool = _opt(False, _boolean)  # type: ignore[assignment]
    max_clients: int = _opt(1024, _positive_int)  # type: ignore[assignment]
    keep_idle: int = _opt(600, _keep_idle)  # type: ignore[assignment]
    node_timeout: float = _opt(10.0, _positive_float)  # type: ignore[assignment]
    conn_timeout: float = _opt(0.5, _positive_float)  # type: ignore[assignment]
    recoverable_node_timeout: Optional[float] = _opt(None, _positive_float)  # type: ignore[assignment]
    client_timeout: float = _opt(60.0, _positive_float)  # type: ignore[assignment]
    zero_copy: bool = _opt(True, _boolean)  # type: ignore[assignment]
    post_quorum_timeout: float = _opt(0.5, _positive_float)  # type: ignore[assignment]
    object_chunk_size: int = _opt(65536, _non_negative_int)  # type: ignore[assignment]
    client_chunk_size: int = _opt(65536, _non_negative_int)  # type: ignore[assignment]
    rebalance_missing_suppression_count: int = _opt(1, _non_negative_int)  # type: ignore[assignment]
    recheck_account_existence: float = _opt(60.0, _positive_float)  # type: ignore[assignment]
    recheck_container_existence: float = _opt(60.0, _positive_float)  # type: ignore[assignment]
    #: The chance (0 to 1; the option is a percentage) that an account or
    #: container info lookup skips the info store.
    account_existence_skip_cache_pct: float = _opt(0.0, _percent)  # type: ignore[assignment]
    container_existence_skip_cache_pct: float = _opt(0.0, _percent)  # type: ignore[assignment]
    #: liberasurecode's legacy CRC in the fragments this proxy writes:
    #: C{None} (unset) leaves its environment variable alone.
    write_legacy_ec_crc: Optional[bool] = _opt(None, _boolean_or_unset)  # type: ignore[assignment]
    recheck_listing_shard_ranges: int = _opt(600, _non_negative_int)  # type: ignore[assignment]
    recheck_updating_shard_ranges: int = _opt(3600, _non_negative_int)  # type: ignore[assignment]
    account_autocreate: bool = _opt(False, _boolean)  # type: ignore[assignment]
    allow_account_management: bool = _opt(False, _boolean)  # type: ignore[assignment]
    error_suppression_limit: int = _opt(10, _non_negative_int)  # type: ignore[assignment]
    error_suppression_interval: float = _opt(60.0, _positive_float)  # type: ignore[assignment]
    request_node_count: str = _opt("2 * replicas", _node_count)  # type: ignore[assignment]
    sorting_method: str = _opt("shuffle", _sorting)  # type: ignore[assignment]
    read_affinity: str = _opt("", _read_affinity)  # type: ignore[assignment]
    write_affinity: str = _opt("", _write_affinity)  # type: ignore[assignment]
    write_affinity_node_count: str = _opt("2 * replicas", _node_count)  # type: ignore[assignment]
    write_affinity_handoff_delete_count: Optional[int] = _opt(None, _auto_int)  # type: ignore[assignment]
    log_handoffs: bool = _opt(True, _boolean)  # type: ignore[assignment]
    timing_expiry: float = _opt(300.0, _positive_float)  # type: ignore[assignment]
    expose_info: bool = _opt(True, _boolean)  # type: ignore[assignment]
    max_containers_per_account: int = _opt(0, _non_negative_int)  # type: ignore[assignment]
    concurrent_gets: bool = _opt(False, _boolean)  # type: ignore[assignment]
    concurrency_timeout: Optional[float] = _opt(None, _positive_float)  # type: ignore[assignment]
    concurrent_ec_extra_requests: int = _opt(0, _non_negative_int)  # type: ignore[assignment]
    cors_allow_origin: str = _opt("", _text)  # type: ignore[assignment]
    cors_expose_headers: str = _opt("", _text)  # type: ignore[assignment]
    strict_cors_mode: bool = _opt(True, _boolean)  # type: ignore[assignment]
    log_name: str = _opt("proxy-server", _text)  # type: ignore[assignment]
    trans_id_suffix: str = _opt("", _text)  # type: ignore[assignment]
    allow_open_expired: bool = _opt(False, _boolean)  # type: ignore[assignment]
    deny_host_headers: tuple[str, ...] = _opt((), _host_list)  # type: ignore[assignment]
    max_containers_whitelist: tuple[str, ...] = _opt((), _host_list)  # type: ignore[assignment]
    expiring_objects_container_divisor: int = _opt(86400, _container_divisor)  # type: ignore[assignment]
    expiring_objects_account_name: Optional[str] = _opt(None, _text)  # type: ignore[assignment]
    #: The C{[<app>:policy:<index>]} sections' options, by policy index;
    #: see L{policy_options}.
    _policy_sections: dict[int, dict[str, str]] = field(default_factory=dict)

    # Options Swift operators commonly have that this proxy accepts and
    # does not need; they are not warned about.
    _QUIET = frozenset(
        {
            "use", "user", "log_facility", "log_level", "log_address",
            "log_headers", "log_udp_host", "log_udp_port",
            # Read by the statsd metrics (service.build), not by the settings.
            "log_statsd_host", "log_statsd_port", "log_statsd_default_sample_rate",
            "log_statsd_metric_prefix", "log_statsd_sample_rate_factor", "eventlet_debug",
            "put_queue_depth", "node_timings_expiry",
            "disallowed_sections", "admin_key", "auto_create_account_prefix",
            "account_autocreate_prefix",
            "swift_owner_headers", "rate_limit_after_segment", "rate_limit_segments_per_sec",
            "memcache_servers", "set log_name", "object_post_as_copy",
            "log_max_line_length", "log_custom_handlers", "log_requests",
            "client_timeout_seconds", "statsd_emit_legacy",
            # Swift's knobs for its memcache-based namespace caching; this
            # proxy shares one fetch per process instead.
            "container_listing_shard_ranges_skip_cache_pct",
            "container_updating_shard_ranges_skip_cache_pct",
            "namespace_avg_backend_fetch_time", "namespace_cache_tokens_per_session",
        }
    )

    # Options Swift still reads but has deprecated; setting one is warned
    # about, as Swift does.
    _DEPRECATED = {
        "expiring_objects_container_divisor": "deprecated",
        "expiring_objects_account_name":
            "deprecated; you need to migrate to the standard .expiring_objects account",
    }

    @property
    def effective_recoverable_node_timeout(self) -> float:
        if self.recoverable_node_timeout is None:
            return self.node_timeout
        return self.recoverable_node_timeout

    def node_count(self, replicas: int) -> int:
        """
        How many nodes (primaries and handoffs) a request may try for a ring
        of C{replicas} replicas.
        """
        return _count_for(self.request_node_count, replicas)

    def policy_options(self, policy_index: Optional[int] = None) -> "PolicyOptions":
        """
        The node-choosing options for requests to storage policy
        C{policy_index}'s object ring: the application section's, with what
        a C{[<app>:policy:<index>]} section overrides. C{None} (accounts and
        containers) and policies without such a section get the
        application section's.
        """
        values = {name: getattr(self, name) for name in _POLICY_OPTIONS}
        if policy_index is not None:
            for name, raw in self._policy_sections.get(policy_index, {}).items():
                values[name] = _POLICY_OPTIONS[name](raw)
        return PolicyOptions(**values)

    @property
    def policy_override_indexes(self) -> list[int]:
        """
        The policy indexes that have a C{[<app>:policy:<index>]} section.
        """
        return sorted(self._policy_sections)

    def check_policy_overrides(self, policy_indexes: Iterable[int]) -> None:
        """
        Refuse a C{[<app>:policy:<index>]} section for a policy that
        C{swift.conf} does not have, as Swift does.

        @raise ConfigError: naming the first such index.
        """
        known = set(policy_indexes)
        for index in self.policy_override_indexes:
            if index not in known:
                raise ConfigError(
                    f"No policy found for override config, index: {index}")

    @classmethod
    def from_section(
        cls, config: ProxyConfig, section_name: Optional[str] = None
    ) -> "ProxySettings":
        """
        Validate the options of C{section_name} (the application's section
        by default).

        @raise ConfigError: for the first bad value.
        """
        if section_name is None:
            section_name = f"app:{config.app_name}"
        section = config.sections.get(section_name, dict(config.defaults))
        settings = cls()
        known = set()
        for spec in fields(cls):
            if spec.name.startswith("_"):
                continue
            known.add(spec.name)
            if spec.name not in section:
                continue
            raw = section[spec.name]
            try:
                value = spec.metadata["parse"](raw)
            except ValueError as error:
                raise config.error(
                    section_name, spec.name, f"bad value {raw!r} ({error})"
                )
            if spec.metadata["path"]:
                value = config.resolve_path(str(value))
            setattr(settings, spec.name, value)
        for name, why in cls._DEPRECATED.items():
            if name in section:
                _log.warn("{path}: [{section}] {option}: {why}", path=config.path,
                          section=section_name, option=name, why=why)
        for name in section:
            if name in known or name in cls._QUIET or name in config.defaults:
                continue
            _log.warn(
                "{path}: [{section}] {option}: unknown option, ignored",
                path=config.path,
                section=section_name,
                option=name,
            )
        if settings.cert_file is not None and settings.key_file is None:
            raise config.error(section_name, "key_file", "required with cert_file")
        if settings.key_file is not None and settings.cert_file is None:
            _log.warn("{path}: [{section}] key_file without cert_file: serving plain HTTP",
                      path=config.path, section=section_name)
        settings._policy_sections = _policy_sections(config, section_name)
        _warn_affinity_unused(config, section_name, settings)
        _warn_unsupported(config, section_name, section, settings)
        return settings


def _count_for(value: str, replicas: int) -> int:
    """
    The count an C{N} or C{N * replicas} option gives for C{replicas}.
    """
    words = value.replace("*", " * ").split()
    if len(words) == 1:
        return int(words[0])
    return int(words[0]) * replicas


@dataclass(frozen=True)
class PolicyOptions:
    """
    The options Swift lets a C{[<app>:policy:<index>]} section override:
    how a request to that policy's object ring orders and picks its nodes.

    @ivar sorting_method: C{shuffle}, C{timing} or C{affinity}.
    @ivar read_affinity: the C{read_affinity} text (see L{read_key}).
    @ivar write_affinity: the C{write_affinity} text (see L{is_local}).
    @ivar write_affinity_node_count: C{N} or C{N * replicas}: how many
        local nodes a write tries before any other.
    @ivar write_affinity_handoff_delete_count: how many local handoffs a
        DELETE also goes to; C{None} (C{auto}) for as many as there are
        non-local primaries.
    @ivar rebalance_missing_suppression_count: how many 404s without a
        timestamp from primaries a read does not count (at most one fewer
        than the primaries).
    """

    sorting_method: str = "shuffle"
    read_affinity: str = ""
    write_affinity: str = ""
    write_affinity_node_count: str = "2 * replicas"
    write_affinity_handoff_delete_count: Optional[int] = None
    concurrent_gets: bool = False
    concurrency_timeout: Optional[float] = None
    rebalance_missing_suppression_count: int = 1

    @property
    def read_key(self) -> Optional[AffinityKey]:
        """
        The node order of reads: the C{read_affinity} key with
        C{sorting_method = affinity}, else C{None}.
        """
        if self.sorting_method != "affinity":
            return None
        return _read_key(self.read_affinity)

    @property
    def is_local(self) -> Optional[LocalityPredicate]:
        """
        Whether a node is local for writes; C{None} without
        C{write_affinity}.
        """
        return _is_local(self.write_affinity)

    def write_node_count(self, replicas: int) -> int:
        """
        How many local nodes a write to a ring of C{replicas} replicas
        tries first.
        """
        return _count_for(self.write_affinity_node_count, replicas)


# Options are read once per request: what they parse to is kept.
_read_key = lru_cache(maxsize=64)(parse_read_affinity)
_is_local = lru_cache(maxsize=64)(parse_write_affinity)


#: The options a per-policy section may set, with their parsers.
_POLICY_OPTIONS: dict[str, _Parser] = {
    "sorting_method": _sorting,
    "read_affinity": _read_affinity,
    "write_affinity": _write_affinity,
    "write_affinity_node_count": _node_count,
    "write_affinity_handoff_delete_count": _auto_int,
    "concurrent_gets": _boolean,
    "concurrency_timeout": _positive_float,
    "rebalance_missing_suppression_count": _non_negative_int,
}


def _policy_sections(config: ProxyConfig, app_section: str) -> dict[int, dict[str, str]]:
    """
    The C{[<app>:policy:<index>]} sections of C{config} (C{<app>} being the
    name in C{app_section}, C{[app:<app>]}), each reduced to the options it
    may override, validated.

    @raise ConfigError: for a section not named by an integer index, or a
        bad value.
    """
    app = app_section.split(":", 1)[1] if ":" in app_section else app_section
    prefix = f"{app}:policy:"
    found: dict[int, dict[str, str]] = {}
    for name, options in config.sections.items():
        if not name.startswith(prefix):
            continue
        reference = name[len(prefix):]
        try:
            index = int(reference)
        except ValueError:
            raise ConfigError(
                f"{config.path}: [{name}]: Override config must refer to policy "
                f"index: {reference!r}") from None
        overrides = {}
        for option, raw in options.items():
            parse = _POLICY_OPTIONS.get(option)
            if parse is None:
                # [DEFAULT]'s options, and what Swift ignores there too.
                continue
            try:
                parse(raw)
            except ValueError as error:
                raise config.error(name, option, f"bad value {raw!r} ({error})")
            overrides[option] = raw
        found[index] = overrides
    return found


def _warn_affinity_unused(config: ProxyConfig, section_name: str,
                          settings: ProxySettings) -> None:
    """
    Warn, as Swift does, of a C{read_affinity} that has no effect because
    C{sorting_method} is not C{affinity}, for the application section and
    each per-policy section.
    """
    labels: list[tuple[str, PolicyOptions]] = [("default", settings.policy_options(None))]
    labels += [(f"policy {index}", settings.policy_options(index))
               for index in settings.policy_override_indexes]
    for label, options in labels:
        if options.read_affinity and options.sorting_method != "affinity":
            _log.warn(
                "{path}: sorting_method is set to '{method}', not 'affinity'; "
                "{label} read_affinity setting will have no effect.",
                path=config.path, method=options.sorting_method, label=label)


def _warn_unsupported(config: ProxyConfig, section_name: str, section: dict[str, str],
                      settings: ProxySettings) -> None:
    """
    Log one warning for each option of C{section} that Swift has and this
    proxy accepts without implementing yet, when it is set to anything but
    what the proxy does anyway (said in the warning).
    """
    differs = {
        "object_chunk_size": (
            settings.object_chunk_size != 65536,
            "object data is relayed as it arrives, read 65536 bytes at a time"),
        "client_chunk_size": (
            settings.client_chunk_size != 65536,
            "client data is relayed as it arrives, read 65536 bytes at a time"),
    }
    for option, (unlike, instead) in differs.items():
        if option in section and unlike:
            _log.warn(
                "{path}: [{section}] {option} = {value}: accepted but not supported "
                "yet: {instead}",
                path=config.path,
                section=section_name,
                option=option,
                value=section[option],
                instead=instead,
            )
