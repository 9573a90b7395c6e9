"""The api's reader of the live feed's Redis stream: what any analytics process publishes
reaches every api process's hub, from the moment it starts reading."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from surge.analytics.enrich import enrich
from surge.analytics.geoip import nowhere
from surge.analytics.live import RedisLiveFeed
from surge.data.live import FIELD, Message, new_live_hub
from surge.links.live import LiveStreamReader
from surge.platform.fanout import Subscription
from surge.platform.redis import RedisNames
from tests.helpers import event, wait_for
from tests.services import REDIS_URL, throwaway_redis_prefix

START = datetime(2028, 2, 29, 12, tzinfo=UTC)


@pytest.fixture
async def stream() -> AsyncIterator[str]:
    async with throwaway_redis_prefix() as prefix:
        yield RedisNames(prefix).live


async def next_message(subscription: Subscription[Message]) -> Message:
    messages = await subscription.next(timeout_s=5)
    assert messages, "no message within 5 s"
    [message] = messages
    return message


async def test_every_api_reads_what_any_analytics_publishes(stream: str) -> None:
    # Each "process" with its own Redis client: two analytics publishing, two apis reading.
    clients = [Redis.from_url(REDIS_URL) for _ in range(4)]
    publishers = [RedisLiveFeed(c, stream, max_length=100) for c in clients[:2]]
    await publishers[0].ingested([enrich(event(1, at=START), nowhere)], 1)  # before anyone reads
    hubs = [new_live_hub(), new_live_hub()]
    readers = [
        LiveStreamReader(c, stream, hub, block_ms=200)
        for c, hub in zip(clients[2:], hubs, strict=True)
    ]
    subscriptions = [hub.subscribe() for hub in hubs]
    try:
        for reader in readers:
            await reader.start()  # from where the stream ends now
        for link_id, publisher in ((2, publishers[0]), (3, publishers[1])):
            await publisher.ingested([enrich(event(link_id, at=START), nowhere)], 1)
            for subscription in subscriptions:
                [summary] = await next_message(subscription)
                assert (summary.link_id, summary.clicks) == (link_id, 1)
    finally:
        for reader in readers:
            await reader.stop()
        for client in clients:
            await client.aclose()


async def test_an_unreadable_entry_is_skipped(stream: str) -> None:
    redis = Redis.from_url(REDIS_URL)
    hub = new_live_hub()
    subscription = hub.subscribe()
    reader = LiveStreamReader(redis, stream, hub, block_ms=200)
    try:
        await reader.start()
        await redis.xadd(stream, {FIELD: b"not json"})
        await redis.xadd(stream, {b"other": b"field"})
        await RedisLiveFeed(redis, stream, max_length=100).ingested(
            [enrich(event(9, at=START), nowhere)], 1
        )
        [summary] = await next_message(subscription)
        assert summary.link_id == 9

        async def read_all() -> bool:
            return reader._last == (await redis.xrevrange(stream, count=1))[0][0]

        await wait_for(read_all, what="the reader to pass every entry")
        await asyncio.sleep(0)
        assert await subscription.next(timeout_s=0.01) == []
    finally:
        await reader.stop()
        await redis.aclose()
