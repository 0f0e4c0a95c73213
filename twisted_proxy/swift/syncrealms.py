# -*- test-case-name: tests.test_container_sync -*-
"""
Container sync realms and the signatures of container-sync requests, as
Swift 2.38.3 has them; no I/O.

C{container-sync-realms.conf} (in C{swift_dir}) names realms, one section
each: a realm's C{key} (and optional C{key2}, for changing keys) is the
secret its clusters share, and each C{cluster_NAME = URL} option names a
cluster of the realm and the endpoint (C{http://host:port/v1/}) its
containers are reached at. Realm and cluster names are case-insensitive
(held upper-case). C{[DEFAULT] mtime_check_interval} (seconds, 300) says
how often the file is looked at again.

A container whose C{X-Container-Sync-To} is
C{//REALM/CLUSTER/ACCOUNT/CONTAINER} is synced by Swift's
C{swift-container-sync} to that container, each request signed
(L{sync_signature}) with the realm's key and the containers' shared
C{X-Container-Sync-Key}, and sent as C{X-Container-Sync-Auth: REALM NONCE
SIGNATURE} with the C{X-Timestamp} of the object's version.
"""

from __future__ import annotations

import configparser
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Optional

__all__ = [
    "DEFAULT_MTIME_CHECK_INTERVAL",
    "Realm",
    "SyncRealms",
    "parse_current",
    "parse_sync_realms",
    "same_signature",
    "sync_signature",
]

#: Seconds between looks at the realms file, unless it says otherwise.
DEFAULT_MTIME_CHECK_INTERVAL = 300.0


@dataclass(frozen=True)
class Realm:
    """
    One realm of C{container-sync-realms.conf}.

    @ivar key: its C{key}, or C{None}.
    @ivar key2: its C{key2}, or C{None}.
    @ivar clusters: cluster name (upper-case) to endpoint.
    """

    key: Optional[str] = None
    key2: Optional[str] = None
    clusters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SyncRealms:
    """
    A parsed C{container-sync-realms.conf}.

    @ivar realms: realm name (upper-case) to L{Realm}.
    @ivar mtime_check_interval: the file's C{mtime_check_interval}:
        L{DEFAULT_MTIME_CHECK_INTERVAL} when it has none, C{None} when its
        value is no number (Swift then keeps the interval it had).
    """

    realms: dict[str, Realm] = field(default_factory=dict)
    mtime_check_interval: Optional[float] = DEFAULT_MTIME_CHECK_INTERVAL

    def _realm(self, name: str) -> Optional[Realm]:
        return self.realms.get(name.upper())

    def key(self, realm: str) -> Optional[str]:
        """
        The C{key} of C{realm}, or C{None}.
        """
        found = self._realm(realm)
        return found.key if found is not None else None

    def key2(self, realm: str) -> Optional[str]:
        """
        The C{key2} of C{realm}, or C{None}.
        """
        found = self._realm(realm)
        return found.key2 if found is not None else None

    def clusters(self, realm: str) -> list[str]:
        """
        The cluster names of C{realm} (none for an unknown realm).
        """
        found = self._realm(realm)
        return list(found.clusters) if found is not None else []

    def endpoint(self, realm: str, cluster: str) -> Optional[str]:
        """
        The endpoint of C{cluster} in C{realm}, or C{None}.
        """
        found = self._realm(realm)
        return found.clusters.get(cluster.upper()) if found is not None else None

    def info(self, current: Optional[tuple[str, str]] = None) -> dict[str, object]:
        """
        The C{realms} of C{/info}'s C{container_sync} section: each realm
        that has clusters, with its clusters (C{{}} each, the C{current}
        one, a C{(realm, cluster)} pair upper-case, C{{"current": True}}).
        Keys are never shown.

        @raise KeyError: when C{current} names no cluster of these realms.
        """
        realms: dict[str, dict[str, dict[str, dict[str, bool]]]] = {
            name: {"clusters": {cluster: {} for cluster in realm.clusters}}
            for name, realm in self.realms.items() if realm.clusters
        }
        if current is not None:
            realm_name, cluster = current
            realms[realm_name]["clusters"][cluster]["current"] = True
        return realms  # type: ignore[return-value]


def parse_sync_realms(text: str) -> SyncRealms:
    """
    Parse the text of a C{container-sync-realms.conf} as Swift does (with
    C{configparser}'s usual C{%} interpolation; a realm inherits
    C{[DEFAULT]}'s options).

    @raise ValueError: for a file C{configparser} cannot read.
    """
    parser = configparser.ConfigParser()
    try:
        parser.read_string(text)
        realms = {}
        for section in parser.sections():
            options = dict(parser.items(section))
            realms[section.upper()] = Realm(
                key=options.get("key"),
                key2=options.get("key2"),
                clusters={name[len("cluster_"):].upper(): value
                          for name, value in options.items()
                          if name.startswith("cluster_")},
            )
    except configparser.Error as error:
        raise ValueError(str(error).strip()) from None
    interval: Optional[float] = DEFAULT_MTIME_CHECK_INTERVAL
    raw = parser.defaults().get("mtime_check_interval")
    if raw is not None:
        try:
            interval = float(raw)
        except ValueError:
            interval = None
    return SyncRealms(realms, interval)


def parse_current(value: str) -> tuple[str, str]:
    """
    The C{(REALM, CLUSTER)} of a container_sync C{current} option,
    C{//REALM/CLUSTER}, upper-case.

    @raise ValueError: unless it has exactly those two parts.
    """
    parts = value.strip("/").split("/")
    if len(parts) != 2:
        raise ValueError(f"Invalid current //REALM/CLUSTER ({value})")
    return parts[0].upper(), parts[1].upper()


def _utf8(value: str) -> bytes:
    # Swift's get_valid_utf8_str: what cannot be encoded becomes "?".
    return value.encode("utf-8", "replace")


def sync_signature(method: str, path: str, x_timestamp: str, nonce: str,
                   realm_key: str, user_key: str) -> str:
    """
    The HMAC-SHA1 hex digest a container-sync request is signed with, over
    C{method}, C{path}, C{x_timestamp}, C{nonce} and C{user_key} (one per
    line) keyed by C{realm_key}, as Swift's C{get_sig}.

    @param path: the request's path, percent-quoted as sent.
    @param x_timestamp: the request's C{X-Timestamp} (C{"0"} without one).
    @param user_key: the container's C{X-Container-Sync-Key}.
    @raise UnicodeEncodeError: for a method or timestamp that is not ASCII.
    """
    message = b"\n".join([method.encode("ascii"), _utf8(path), x_timestamp.encode("ascii"),
                          _utf8(nonce), _utf8(user_key)])
    return hmac.new(_utf8(realm_key), message, hashlib.sha1).hexdigest()


def same_signature(given: str, expected: str) -> bool:
    """
    Whether the signature a request carries is the one expected, compared
    in constant time.
    """
    return hmac.compare_digest(given.encode("latin-1", "replace"),
                               expected.encode("latin-1", "replace"))
