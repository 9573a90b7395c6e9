"""Every redirect replica listens for changed links on Redis pub/sub and evicts its local entry
(or, when a domain changed, everything it cached)."""

from __future__ import annotations

import asyncio
from typing import Protocol

from redis.asyncio import RedisCluster

from surge.data.contracts import EVERYTHING
from surge.platform.cache import LocalCache
from surge.platform.loops import SupervisedLoop
from surge.platform.redis import RedisClient
from surge.redirect.responses import Site, Target


class Evictable(Protocol):
    def evict(self, key: str) -> None: ...

    def clear(self) -> None: ...


class Caches:
    """What an invalidation evicts: a link's key ("{domain}/{slug}"), or EVERYTHING (a domain
    changed), which forgets every link and every Host."""

    def __init__(self, links: LocalCache[str, Target], sites: LocalCache[str, Site]) -> None:
        self.links = links
        self.sites = sites
        # Raw Host values naming the default domain, as each server gives them (bytes, str).
        self.default_hosts: dict[bytes | str, Site] = {}

    def evict(self, key: str) -> None:
        if key == EVERYTHING:
            self.clear()
        elif "/" in key:
            self.links.evict(key)
        else:  # a bare slug, as an api of the version before domains sends: the default domain
            self.links.evict("/" + key)

    def clear(self) -> None:
        self.links.clear()
        self.sites.clear()
        self.default_hosts.clear()


class InvalidationListener:
    def __init__(self, redis: RedisClient, channel: str, cache: Evictable) -> None:
        self.redis = redis
        self.channel = channel
        self.cache = cache
        self.subscribed = asyncio.Event()
        self._refresh_slots = False
        self._loop = SupervisedLoop(
            "invalidation-listener", self._listen, on_failure=self._disconnected
        )

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def _disconnected(self, _exc: Exception) -> None:
        self._refresh_slots = True
        self.subscribed.clear()
        # Changes published while we were away are lost to us: start from a clean slate.
        self.cache.clear()

    async def _listen(self) -> None:
        if isinstance(self.redis, RedisCluster):
            # The subscription goes to the node serving the channel's slot (classic PUBLISH
            # reaches every node of a cluster, so any would do): the slot map is needed first,
            # and fresh after a failure, as a failover moves the slot and this connection may
            # be all the traffic this client has.
            await self.redis.initialize()
            if self._refresh_slots:
                await self.redis.nodes_manager.initialize()
                self._refresh_slots = False
        async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(self.channel)
            self.subscribed.set()
            while not self._loop.stopping:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message["type"] == "message":
                    self.cache.evict(message["data"].decode())
