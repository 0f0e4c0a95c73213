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
from typing import Callable, Optional

from twisted.logger import Logger

__all__ = [
    "ConfigError",
    "ProxyConfig",
    "ProxySettings",
    "load_config",
    "config_true",
    "parse_list",
    "int_option",
]

_log = Logger()

_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})


class ConfigError(Exception):
    """
    The configuration cannot be used; the message is one line naming the
    file, the section and the option.
    """


def config_true(value: str) -> bool:
    """
    Swift's notion of a true option value (C{true}, C{yes}, C{on}, C{1}, ...).
    """
    return value.strip().lower() in _TRUE


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
    """

    path: str
    defaults: dict[str, str]
    pipeline: list[str]
    sections: dict[str, dict[str, str]]

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


def load_config(path: str) -> ProxyConfig:
    """
    Read the configuration file at C{path}.

    @raise ConfigError: the file is missing, unreadable or malformed, or has
        no usable C{[pipeline:main]}.
    """
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: configuration file not found")
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
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, UnicodeDecodeError, configparser.Error) as error:
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


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError("not a TCP port")
    return value


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected true or false")


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
    workers: int = _opt(1, _non_negative_int)  # type: ignore[assignment]
    node_timeout: float = _opt(10.0, _positive_float)  # type: ignore[assignment]
    conn_timeout: float = _opt(0.5, _positive_float)  # type: ignore[assignment]
    recoverable_node_timeout: Optional[float] = _opt(None, _positive_float)  # type: ignore[assignment]
    client_timeout: float = _opt(60.0, _positive_float)  # type: ignore[assignment]
    post_quorum_timeout: float = _opt(0.5, _positive_float)  # type: ignore[assignment]
    object_chunk_size: int = _opt(65536, _non_negative_int)  # type: ignore[assignment]
    client_chunk_size: int = _opt(65536, _non_negative_int)  # type: ignore[assignment]
    recheck_account_existence: float = _opt(60.0, _positive_float)  # type: ignore[assignment]
    recheck_container_existence: float = _opt(60.0, _positive_float)  # type: ignore[assignment]
    account_autocreate: bool = _opt(False, _boolean)  # type: ignore[assignment]
    allow_account_management: bool = _opt(False, _boolean)  # type: ignore[assignment]
    error_suppression_limit: int = _opt(10, _non_negative_int)  # type: ignore[assignment]
    error_suppression_interval: float = _opt(60.0, _positive_float)  # type: ignore[assignment]
    request_node_count: str = _opt("2 * replicas", _node_count)  # type: ignore[assignment]
    sorting_method: str = _opt("shuffle", _sorting)  # type: ignore[assignment]
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

    # Options Swift operators commonly have that this proxy accepts and
    # does not need; they are not warned about.
    _QUIET = frozenset(
        {
            "use", "user", "log_facility", "log_level", "log_address",
            "log_headers", "log_udp_host", "log_udp_port", "log_statsd_host",
            "log_statsd_port", "log_statsd_default_sample_rate",
            "log_statsd_metric_prefix", "eventlet_debug", "log_handoffs",
            "put_queue_depth", "allow_open_expired", "node_timings_expiry",
            "disallowed_sections", "admin_key", "max_clients", "backlog",
            "keep_idle", "cert_file", "key_file", "expiring_objects_container_divisor",
            "expiring_objects_account_name", "auto_create_account_prefix",
            "write_affinity", "write_affinity_node_count", "read_affinity",
            "max_containers_whitelist", "deny_host_headers", "account_autocreate_prefix",
            "swift_owner_headers", "rate_limit_after_segment", "rate_limit_segments_per_sec",
            "memcache_servers", "set log_name", "object_post_as_copy",
            "log_max_line_length", "log_custom_handlers", "log_requests",
            "client_timeout_seconds", "recheck_updating_shard_ranges",
            "recheck_listing_shard_ranges", "statsd_emit_legacy",
        }
    )

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
        words = self.request_node_count.replace("*", " * ").split()
        if len(words) == 1:
            return int(words[0])
        return int(words[0]) * replicas

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
        for name in section:
            if name in known or name in cls._QUIET or name in config.defaults:
                continue
            _log.warn(
                "{path}: [{section}] {option}: unknown option, ignored",
                path=config.path,
                section=section_name,
                option=name,
            )
        return settings
