# -*- test-case-name: tests.test_tempurl,tests.test_formpost -*-
"""
What the plugins that admit requests signed with an account's or a
container's temp URL keys (C{tempurl}, C{formpost}) share: finding the keys,
and their C{allowed_digests} option and C{/info} entries.
"""

from __future__ import annotations

from typing import Any

from twisted_proxy.config import ConfigError
from twisted_proxy.info.cache import InfoCache
from twisted_proxy.interfaces import IProxyApplication
from twisted_proxy.plugins._support.subrequest import (
    EnvironOf,
    fetch_account_info,
    fetch_container_info,
)
from twisted_proxy.swift.digest import allowed_digests
from twisted_proxy.swift.http import SwiftRequest

__all__ = [
    "ACCOUNT_SCOPE",
    "CONTAINER_SCOPE",
    "KEY_NAMES",
    "temp_url_keys",
    "digests_option",
]

#: The scope of a key set on the account, and of one set on the container.
ACCOUNT_SCOPE = "account"
CONTAINER_SCOPE = "container"

#: The user metadata (without its prefix, lower case) holding the keys.
KEY_NAMES = frozenset({"temp-url-key", "temp-url-key-2"})


async def temp_url_keys(request: SwiftRequest, app: IProxyApplication,
                        info_cache: InfoCache, account: str, container: str,
                        environ_of: EnvironOf) -> list[tuple[str, str]]:
    """
    The temp URL keys of C{account} and then of C{container}
    (C{X-Account-Meta-Temp-URL-Key}, C{-Key-2}, then the container's), each
    with its scope (L{ACCOUNT_SCOPE} or L{CONTAINER_SCOPE}); from zero to
    four of them.

    Each info is fetched, when nobody knows it yet, with a C{HEAD} through
    C{app} made with the environ C{environ_of} derives from the request's
    (see L{fetch_container_info}).
    """
    account_info = await fetch_account_info(request, app, info_cache, "v1", account,
                                            environ_of)
    container_info = await fetch_container_info(request, app, info_cache, "v1", account,
                                                container, environ_of)
    keys: list[tuple[str, str]] = []
    for meta, scope in ((account_info.get("meta") or {}, ACCOUNT_SCOPE),
                        (container_info.get("meta") or {}, CONTAINER_SCOPE)):
        keys.extend((value, scope) for name, value in meta.items()
                    if name.lower() in KEY_NAMES)
    return keys


def digests_option(conf: dict[str, str], plugin: str) -> tuple[list[str], dict[str, Any]]:
    """
    The digests a plugin's C{allowed_digests} option (whitespace-separated;
    all supported ones when empty) allows, and its C{/info} entries:
    C{allowed_digests}, and C{deprecated_digests} when any allowed one is.

    @raise ConfigError: when it allows no supported digest.
    """
    try:
        allowed, deprecated = allowed_digests(conf.get("allowed_digests", "").split())
    except ValueError:
        raise ConfigError(f"{plugin}: no valid digest algorithms are configured") from None
    info: dict[str, Any] = {"allowed_digests": allowed}
    if deprecated:
        info["deprecated_digests"] = deprecated
    return allowed, info
