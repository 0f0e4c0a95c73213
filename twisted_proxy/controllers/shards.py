# -*- test-case-name: tests.test_container_shards -*-
"""
Sharded containers, as Swift's proxy serves them.

A container GET asks the container servers with C{X-Backend-Record-Type:
auto}: an unsharded container answers with its objects, a sharding or
sharded one with the namespaces of its shards (see
L{twisted_proxy.swift.shardrange}), and L{ContainerListing} then builds the
object listing from the shards' own listings. A sharded container's complete
namespaces are cached in the info store for C{recheck_listing_shard_ranges}
seconds, so later listings skip the root container.

An object write into a sharding or sharded container sends its container
update to the shard that holds the object's name (L{container_update_headers}),
found among the container's updating namespaces, cached for
C{recheck_updating_shard_ranges} seconds.

Names cross two forms here: requests carry WSGI strings (L{to_wsgi}), shard
ranges and listings carry text (L{to_text}).
"""

from __future__ import annotations

import json
from typing import Any, Optional
from urllib.parse import quote, urlencode

from twisted.logger import Logger

from twisted_proxy.controllers.base import Controller, backend_request_headers, partition
from twisted_proxy.info.cache import (
    ContainerInfo,
    container_info_headers,
    container_key,
    listing_namespaces_key,
    updating_namespaces_key,
)
from twisted_proxy.swift.http import HeaderDict, SwiftResponse, error_response
from twisted_proxy.swift.ring import Node
from twisted_proxy.swift.shardrange import (
    Namespace,
    NamespaceBoundList,
    ShardListingWalk,
    listing_namespaces,
    parse_namespaces,
)
from twisted_proxy.swift.truthy import TRUE_VALUES

__all__ = [
    "ContainerListing",
    "container_update_headers",
    "update_target",
    "to_text",
    "to_wsgi",
    "SHARD_LISTING_HISTORY",
]

#: The request environ key of the containers whose namespaces a listing
#: followed, as Swift names it: a shard met again is asked for objects.
SHARD_LISTING_HISTORY = "swift.shard_listing_history"

_CONSTRAINING = ("marker", "end_marker", "path", "prefix", "delimiter")

_log = Logger()


def to_text(wsgi: str) -> str:
    """
    The text a WSGI string's UTF-8 bytes spell (bytes that are not UTF-8
    kept as surrogates, so L{to_wsgi} gives them back).
    """
    return wsgi.encode("latin-1").decode("utf-8", "surrogateescape")


def to_wsgi(text: str) -> str:
    """
    The WSGI string of C{text}'s UTF-8 bytes.
    """
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def _config_true(value: Optional[str]) -> bool:
    # Swift's config_true_value: no trimming.
    return value is not None and value.lower() in TRUE_VALUES


def _query(params: dict[str, str]) -> str:
    """
    A query string of WSGI-string C{params}, encoded as Swift's swob does.
    """
    return urlencode(params, encoding="latin-1")


def _parse_listing(response: SwiftResponse) -> Optional[list[Any]]:
    """
    A successful listing response's JSON list, or C{None}.
    """
    if not response.is_success or not isinstance(response.body, bytes):
        return None
    try:
        data = json.loads(response.body)
    except ValueError:
        return None
    return data if isinstance(data, list) else None


def _namespaces_of(response: SwiftResponse) -> Optional[list[Namespace]]:
    """
    The namespaces a container server answered with, or C{None} when it
    did not answer with shard records.
    """
    if response.headers.get("X-Backend-Record-Type", "").lower() != "shard":
        return None
    data = _parse_listing(response)
    return None if data is None else parse_namespaces(data)


class _ContainerReader(Controller):
    """
    Reads one container (a root or a shard) for a request about another.
    """

    server_type = "Container"


async def _read_container(controller: Controller, account: str, container: str,
                          headers: HeaderDict, query: str) -> SwiftResponse:
    """
    GET a container (WSGI-string names) from the first of its nodes that
    answers well, or the best of their answers.
    """
    reader = _ContainerReader(controller.context, controller.request, account, container)
    ring = controller.context.rings.container
    part = partition(ring, account, container)
    found, answers = await reader.read_from_nodes(ring, part, "GET", headers, query)
    if found is not None:
        status, reason, body, backend = answers[-1]
        return SwiftResponse(status, backend, body, reason)
    return reader.best(answers, len(ring.get_part_nodes(part)))


class ContainerListing:
    """
    A container GET as Swift's proxy makes it: an object listing, built
    from the shards when the container is sharded.

    @param controller: the container controller of the client's request.
    """

    def __init__(self, controller: Controller) -> None:
        self._controller = controller
        self._request = controller.request
        self._context = controller.context
        self._settings = controller.context.settings

    async def get(self) -> tuple[SwiftResponse, bool]:
        """
        The listing of the controller's container, with the query the
        client gave.

        @return: the response (a JSON listing when successful, with the
            root container's headers) and whether it was answered from
            cached namespaces and container info (and so says nothing new
            about the container).
        """
        controller = self._controller
        assert controller.container is not None
        headers = backend_request_headers(self._request)
        return await self._listing(controller.account, controller.container,
                                   dict(self._request.params), headers)

    def _listing_headers(self, headers: HeaderDict) -> HeaderDict:
        """
        C{headers} asking for namespaces when the container is sharded, all
        of them (to cache them) if it is sharded and caching is on.
        """
        headers = headers.copy()
        headers["X-Backend-Record-Type"] = "auto"
        headers["X-Backend-Record-Shard-Format"] = "namespace"
        # Not wanted in a listing, and refused with namespaces anyway.
        headers["X-Backend-Include-Deleted"] = "false"
        if self._settings.recheck_listing_shard_ranges > 0:
            # Only a sharded container honours this: a sharding one may
            # still list itself as a filler, which must not be cached.
            headers["X-Backend-Override-Shard-Name-Filter"] = "sharded"
        return headers

    async def _listing(self, account: str, container: str, params: dict[str, str],
                       headers: HeaderDict) -> tuple[SwiftResponse, bool]:
        params = dict(params)
        params["format"] = "json"
        if headers.get("X-Backend-Record-Type", "").lower() in ("object", "shard"):
            # Asked for one kind of record explicitly: no shards followed.
            return await _read_container(self._controller, account, container, headers,
                                         _query(params)), False
        params["states"] = "listing"
        headers = self._listing_headers(headers)
        cache = self._context.info_cache
        environ = self._request.environ
        key = listing_namespaces_key(account, container)
        ttl = self._settings.recheck_listing_shard_ranges
        read: list[SwiftResponse] = []

        async def from_root() -> Optional[list[list[str]]]:
            response = await _read_container(self._controller, account, container,
                                             headers, _query(params))
            read.append(response)
            complete = self._complete(response)
            return complete.to_json() if complete is not None else None

        if ttl > 0 and not _config_true(headers.get("X-Newest")):
            info = await cache.peek(environ, container_key(account, container))
            # The headers are rebuilt only for a container that may be
            # answered from cache: most are not sharded.
            cached_headers = (container_info_headers(info)
                              if info and info.get("sharding_state") == "sharded"
                              and 200 <= info["status"] < 300 else None)
            if cached_headers is not None:
                # Sharded when last seen: its namespaces may be cached, or
                # be fetched once for every request wanting them now.
                bounds = await cache.get_namespaces(environ, key, from_root, ttl)
                if read:
                    return await self._answer(read[0], account, container, params,
                                              headers), False
                cached = NamespaceBoundList.from_json(bounds)
                if cached is not None:
                    response = SwiftResponse(200, cached_headers, b"")
                    chosen = self._choose(cached.namespaces(), params)
                    return await self._from_shards(response, chosen, account, container,
                                                   params, headers), True
        response = await _read_container(self._controller, account, container, headers,
                                         _query(params))
        complete = self._complete(response)
        if complete is not None:
            await cache.store_namespaces(environ, key, complete.to_json(), ttl)
        return await self._answer(response, account, container, params, headers), False

    def _complete(self, response: SwiftResponse) -> Optional[NamespaceBoundList]:
        """
        The complete namespaces of a sharded container's answer, worth
        caching; C{None} for any other answer.
        """
        if (response.headers.get("X-Backend-Sharding-State", "").lower() != "sharded"
                or not _config_true(
                    response.headers.get("X-Backend-Override-Shard-Name-Filter"))):
            return None
        namespaces = _namespaces_of(response)
        return NamespaceBoundList.parse(namespaces) if namespaces else None

    def _choose(self, namespaces: list[Namespace], params: dict[str, str]
                ) -> list[Namespace]:
        """
        Of a container's complete namespaces, those the listing asked with
        C{params} needs, in listing order.
        """
        reverse = _config_true(params.get("reverse"))
        return listing_namespaces(
            namespaces,
            to_text(params.get("marker", "")),
            to_text(params.get("end_marker", "")),
            to_text(params.get("includes", "")),
            reverse,
        )

    async def _answer(self, response: SwiftResponse, account: str, container: str,
                      params: dict[str, str], headers: HeaderDict) -> SwiftResponse:
        """
        The listing for a container server's answer: its objects as they
        are, or, for shard namespaces, the objects of those shards.
        """
        namespaces = _namespaces_of(response)
        if namespaces is None:
            return response
        if self._complete(response) is not None:
            # All of them came (to be cached): keep those wanted, as the
            # container server would have.
            bound_list = NamespaceBoundList.parse(namespaces)
            assert bound_list is not None
            namespaces = self._choose(bound_list.namespaces(), params)
        return await self._from_shards(response, namespaces, account, container, params,
                                       headers)

    async def _from_shards(self, response: SwiftResponse, namespaces: list[Namespace],
                           account: str, container: str, params: dict[str, str],
                           headers: HeaderDict) -> SwiftResponse:
        """
        C{response} with a body listing the objects of C{namespaces}' shards,
        each asked (as Swift asks) for what the listing still lacks.

        @return: C{response} with the listing, or a 503 when a shard does
            not answer with a listing or lists another storage policy.
        """
        history: list[tuple[str, str]] = self._request.environ.setdefault(
            SHARD_LISTING_HISTORY, [])
        history.append((to_text(account), to_text(container)))
        policy = headers.get("X-Backend-Storage-Policy-Index")
        if policy is None:
            policy = response.headers.get("X-Backend-Storage-Policy-Index", "0")
        shard_headers = headers.copy()
        # Every shard lists the root's policy.
        shard_headers["X-Backend-Storage-Policy-Index"] = policy
        newest = _config_true(self._request.headers.get("X-Newest"))
        limit = self._context.constraints.container_listing_limit
        given = params.get("limit")
        if given and given.isdigit() and given.isascii():
            limit = int(given)
        walk = ShardListingWalk(
            namespaces,
            limit,
            marker=to_text(params.get("marker", "")),
            end_marker=to_text(params.get("end_marker", "")),
            prefix=to_text(params.get("prefix", "")),
            reverse=_config_true(params.get("reverse")),
        )
        base_params = {name: value for name, value in params.items() if name != "states"}
        while True:
            fetch = walk.next_fetch()
            if fetch is None:
                break
            namespace = fetch.namespace
            shard_params = dict(base_params)
            shard_params["limit"] = str(fetch.limit)
            shard_params["marker"] = to_wsgi(fetch.marker)
            shard_params["end_marker"] = to_wsgi(fetch.end_marker)
            one_headers = shard_headers.copy()
            seen = (namespace.account, namespace.container) in history
            # Directed back to a container already followed: its objects.
            one_headers["X-Backend-Record-Type"] = "object" if seen else "auto"
            if newest:
                one_headers["X-Newest"] = "true"
            try:
                shard_account = to_wsgi(namespace.account)
                shard_container = to_wsgi(namespace.container)
            except IndexError:
                return error_response(503, method=self._request.method)
            shard_response, _ = await self._listing(
                shard_account, shard_container, shard_params, one_headers)
            objects = _parse_listing(shard_response)
            if objects is None:
                _log.error("Aborting listing of {path} from shards: shard {shard} answered "
                           "{status} (txn {txn})", path=f"{account}/{container}",
                           shard=namespace.name, status=shard_response.status,
                           txn=self._request.environ.get("swift.trans_id"))
                return error_response(503, method=self._request.method)
            shard_policy = shard_response.headers.get(
                "X-Backend-Record-Storage-Policy-Index",
                shard_response.headers.get("X-Backend-Storage-Policy-Index"))
            if shard_policy != policy:
                _log.error("Aborting listing of {path} from shards: shard {shard} lists "
                           "policy {found}, not {policy} (txn {txn})",
                           path=f"{account}/{container}", shard=namespace.name,
                           found=shard_policy, policy=policy,
                           txn=self._request.environ.get("swift.trans_id"))
                return error_response(503, method=self._request.method)
            response.headers["X-Backend-Record-Storage-Policy-Index"] = policy
            walk.received(objects)
        objects = walk.objects
        response.body = json.dumps(objects).encode("ascii")
        constrained = any(params.get(name) for name in _CONSTRAINING)
        if not constrained and len(objects) < limit:
            # The listing is the whole container: its own counts are
            # better than the root's, which may be behind.
            response.headers["X-Container-Object-Count"] = str(len(objects))
            response.headers["X-Container-Bytes-Used"] = str(
                sum(entry.get("bytes", 0) for entry in objects))
        return response


# -- object updates ------------------------------------------------------------


async def _updating_namespaces(controller: Controller, includes: Optional[str] = None
                               ) -> Optional[list[Namespace]]:
    """
    The namespaces in a state to take object updates of the controller's
    container (with C{includes}, only the one holding that name), or
    C{None} when the container servers did not give them.
    """
    assert controller.container is not None
    params = {name: value for name, value in controller.request.params.items()
              if name != "limit"}
    params["format"] = "json"
    params["states"] = "updating"
    if includes is not None:
        params["includes"] = to_wsgi(includes)
    headers = backend_request_headers(controller.request)
    headers["X-Backend-Record-Type"] = "shard"
    headers["X-Backend-Record-Shard-Format"] = "namespace"
    response = await _read_container(controller, controller.account, controller.container,
                                      headers, _query(params))
    return _namespaces_of(response)


async def _update_shard(controller: Controller) -> Optional[Namespace]:
    """
    The namespace of the shard that takes the update of the controller's
    object, from the cached updating namespaces of its container; C{None}
    to update the root container.
    """
    assert controller.container is not None and controller.obj is not None
    name = to_text(controller.obj)
    ttl = controller.settings.recheck_updating_shard_ranges
    if not ttl:
        found = await _updating_namespaces(controller, includes=name)
        return found[0] if found else None

    async def fetch() -> Optional[list[list[str]]]:
        found = await _updating_namespaces(controller)
        bound_list = NamespaceBoundList.parse(found) if found else None
        return bound_list.to_json() if bound_list is not None else None

    bounds = await controller.context.info_cache.get_namespaces(
        controller.request.environ,
        updating_namespaces_key(controller.account, controller.container),
        fetch, ttl)
    cached = NamespaceBoundList.from_json(bounds)
    return cached.get_namespace(name) if cached is not None else None


async def update_target(controller: Controller, info: ContainerInfo
                        ) -> tuple[int, list[Node], Optional[str], str]:
    """
    Where an object write tells about the change, as Swift's
    C{_get_update_target}: the root container, or for a sharding or sharded
    root the shard that holds the object's name.

    @param info: the container's info.
    @return: the partition and nodes of the container to update, the
        shard's path (C{<account>/<container>} text; C{None} for the root),
        and the root's sharding state.
    """
    assert controller.container is not None
    ring = controller.context.rings.container
    state = info.get("sharding_state") or "unsharded"
    if state in ("sharded", "sharding"):
        shard = await _update_shard(controller)
        if shard is not None:
            account, container = to_wsgi(shard.account), to_wsgi(shard.container)
            part = partition(ring, account, container)
            return part, ring.get_part_nodes(part), shard.name, state
    part = partition(ring, controller.account, controller.container)
    return part, ring.get_part_nodes(part), None, state


async def container_update_headers(controller: Controller, info: ContainerInfo
                                   ) -> list[dict[str, str]]:
    """
    For each container node to tell about an object write, the headers
    that tell an object server to do it (C{X-Container-Host} and
    friends), with C{X-Backend-Quoted-Container-Path} naming the shard when
    the update goes to one.
    """
    part, nodes, path, state = await update_target(controller, info)
    updates = []
    for node in nodes:
        update = {
            "X-Container-Host": f"{node['ip']}:{node['port']}",
            "X-Container-Partition": str(part),
            "X-Container-Device": node["device"],
            "X-Container-Root-Db-State": state,
        }
        if path is not None:
            update["X-Backend-Quoted-Container-Path"] = quote(path)
        updates.append(update)
    return updates
