# -*- test-case-name: tests.test_metrics -*-
"""
Swift's statsd metrics, as its C{StatsdClient} sends them: the options
(C{log_statsd_host}, C{log_statsd_port}, C{log_statsd_metric_prefix},
C{log_statsd_default_sample_rate}, C{log_statsd_sample_rate_factor}), the
name prefix (C{<metric_prefix>.proxy-server.}), the C{name:value|type} line
and its sampling (C{|@rate}). No I/O here: a L{StatsdClient} hands each line
to a C{send} callable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

__all__ = ["DEFAULT_STATSD_PORT", "StatsdClient", "StatsdConf"]

#: statsd's port.
DEFAULT_STATSD_PORT = 8125

_OPTIONS = ("log_statsd_host", "log_statsd_port", "log_statsd_metric_prefix",
            "log_statsd_default_sample_rate", "log_statsd_sample_rate_factor")


@dataclass(frozen=True)
class StatsdConf:
    """
    Where and how statsd metrics go.

    @ivar host: the statsd server's name or address.
    @ivar port: its UDP port.
    @ivar metric_prefix: put (with a dot) before every name.
    @ivar default_sample_rate: the rate of a metric sent without one.
    @ivar sample_rate_factor: every rate is multiplied by it.
    """

    host: str
    port: int = DEFAULT_STATSD_PORT
    metric_prefix: str = ""
    default_sample_rate: float = 1.0
    sample_rate_factor: float = 1.0

    @classmethod
    def from_conf(cls, conf: Mapping[str, str], section: str,
                  access: bool = False) -> Optional["StatsdConf"]:
        """
        The statsd options of one section (merged over C{[DEFAULT]}), or
        C{None} when C{log_statsd_host} is not set (no metrics).

        @param access: read C{access_log_statsd_*} first, falling back to
            C{log_statsd_*}, as Swift's proxy logging does.
        @param section: names the section in errors.
        @raise ValueError: for a port or rate that is not a number.
        """
        values: dict[str, str] = {}
        for key in _OPTIONS:
            value = conf.get("access_" + key) if access else None
            value = value or conf.get(key)
            if value:
                values[key] = value.strip()
        host = values.get("log_statsd_host")
        if not host:
            return None

        def number(key: str, parse: Callable[[str], float], default: float) -> float:
            raw = values.get(key)
            if raw is None:
                return default
            try:
                parsed = parse(raw)
            except ValueError:
                raise ValueError(f"[{section}] {key}: not a number: {raw!r}") from None
            if parsed < 0:
                raise ValueError(f"[{section}] {key}: must not be negative: {raw!r}")
            return parsed

        port = int(number("log_statsd_port", int, DEFAULT_STATSD_PORT))
        if not 0 < port < 65536:
            raise ValueError(f"[{section}] log_statsd_port: not a port: {port}")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        return cls(
            host=host,
            port=port,
            metric_prefix=values.get("log_statsd_metric_prefix", ""),
            default_sample_rate=number("log_statsd_default_sample_rate", float, 1.0),
            sample_rate_factor=number("log_statsd_sample_rate_factor", float, 1.0),
        )


class StatsdClient:
    """
    Makes Swift's statsd lines and hands each to C{send}.

    A metric is sent with probability C{rate * sample_rate_factor} (the
    rate defaulting to C{default_sample_rate}); below 1 its line says so
    (C{|@0.5}) for statsd to scale it back up.

    @param conf: the options.
    @param tail_prefix: the component's name, after the metric prefix
        (C{proxy-server}).
    @param send: called with each line, UTF-8 encoded.
    @param random: draws a number in [0, 1) for sampling.
    """

    def __init__(self, conf: StatsdConf, tail_prefix: str, send: Callable[[bytes], None],
                 random: Callable[[], float] = random.random) -> None:
        self.conf = conf
        parts = [part for part in (conf.metric_prefix, tail_prefix) if part]
        self.prefix = "".join(part + "." for part in parts)
        self._send = send
        self._random = random

    def _emit(self, name: str, value: object, kind: str,
              sample_rate: Optional[float]) -> None:
        if sample_rate is None:
            sample_rate = self.conf.default_sample_rate
        sample_rate *= self.conf.sample_rate_factor
        line = f"{self.prefix}{name}:{value}|{kind}"
        if sample_rate < 1:
            if self._random() >= sample_rate:
                return
            line += f"|@{sample_rate}"
        self._send(line.encode("utf-8"))

    def update_stats(self, name: str, value: int,
                     sample_rate: Optional[float] = None) -> None:
        """
        Add C{value} to counter C{name}.
        """
        self._emit(name, value, "c", sample_rate)

    def increment(self, name: str, sample_rate: Optional[float] = None) -> None:
        """
        Add one to counter C{name}.
        """
        self.update_stats(name, 1, sample_rate)

    def timing(self, name: str, milliseconds: float,
               sample_rate: Optional[float] = None) -> None:
        """
        Send a timing of C{milliseconds} as C{name}.
        """
        self._emit(name, milliseconds, "ms", sample_rate)
