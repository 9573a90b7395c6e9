"""Every redirect replica listens for changed links on Redis pub/sub and evicts its local entry."""

from __future__ import annotations

import asyncio
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from surge.platform.logging import get_logger
from surge.platform.tasks import cancel_and_wait

log = get_logger(__name__)
RECONNECT_BACKOFF_S = (0.1, 0.5, 1.0, 2.0, 5.0)


class Evictable(Protocol):
    def evict(self, key: str) -> None: ...

    def clear(self) -> None: ...


class InvalidationListener:
    def __init__(self, redis: Redis, channel: str, cache: Evictable) -> None:
        self.redis = redis
        self.channel = channel
        self.cache = cache
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="invalidation-listener")

    async def stop(self) -> None:
        # The flag ends the loop even if a library call swallowed the cancellation.
        self._stopping = True
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                await self._listen()
            except (RedisError, OSError) as exc:
                self.subscribed.clear()
                # Changes published while we were away are lost to us: start from a clean slate.
                self.cache.clear()
                delay = RECONNECT_BACKOFF_S[min(failures, len(RECONNECT_BACKOFF_S) - 1)]
                failures += 1
                log.warning("invalidation_listener_reconnecting", error=repr(exc), delay_s=delay)
                await asyncio.sleep(delay)

    async def _listen(self) -> None:
        async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(self.channel)
            self.subscribed.set()
            while not self._stopping:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message["type"] == "message":
                    self.cache.evict(message["data"].decode())
