# -*- test-case-name: tests.e2e.test_e2e,tests.e2e.test_workers -*-
"""
The all-in-one cluster as an L{IProxyEnvironment}: a proxy whose
configuration has an C{[aio]} section runs Swift's storage servers and,
when wanted, a private redis-server beside it.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.application.service import IService, MultiService
from twisted.internet.defer import Deferred, gatherResults
from zope.interface import implementer

from twisted_proxy.config import ConfigError, ProxyConfig
from twisted_proxy.interfaces import IPreparedEnvironment
from twisted_proxy_aio.cluster import (
    AioError,
    StorageClusterService,
    build_cluster,
    parse_aio_settings,
)
from twisted_proxy_aio.redisprocess import RedisProcessService, wants_redis

__all__ = ["AllInOne", "prepare"]


@implementer(IPreparedEnvironment)
class AllInOne:
    """
    A built cluster and, optionally, its Redis, as one service.
    """

    def __init__(self, cluster: StorageClusterService,
                 redis: Optional[RedisProcessService]) -> None:
        self.service: IService = MultiService()
        cluster.setServiceParent(self.service)
        self.cluster = cluster
        self.redis = redis
        if redis is not None:
            redis.setServiceParent(self.service)
        self.swift_dir: Optional[str] = cluster.layout.swift_dir

    def when_ready(self) -> Deferred[None]:
        waits = [self.cluster.when_ready()]
        if self.redis is not None:
            waits.append(self.redis.when_ready())
        both = gatherResults(waits, consumeErrors=True)
        return both.addCallback(lambda _: None)


def prepare(config: ProxyConfig, reactor: Any) -> AllInOne:
    """
    Lay out the cluster that C{config}'s C{[aio]} section asks for, its
    container-sync realm naming the proxy at C{config.listen_address}; with
    a private Redis, point C{[filter:cache] redis_url} at it.

    @raise ConfigError: naming the file and C{[aio]}.
    """
    section = config.sections["aio"]
    try:
        settings = parse_aio_settings(section, config.directory)
        redis_wanted = wants_redis(section)
        layout = build_cluster(settings, config.listen_address)
    except (AioError, ValueError) as error:
        raise ConfigError(f"{config.path}: [aio] {error}")
    cluster = StorageClusterService(layout, reactor, settings.ready_timeout)
    redis = None
    if redis_wanted:
        redis = RedisProcessService(reactor)
        cache = config.sections.setdefault("filter:cache", dict(config.defaults))
        cache["redis_url"] = redis.url
    return AllInOne(cluster, redis)
