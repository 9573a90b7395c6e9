"""The click-stream consumer against a real Redis: ack after commit, claim, trim, dead letters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from surge.analytics.consumer import ClickStreamConsumer
from surge.analytics.service import ClickService
from surge.platform.db import create_engine, create_sessionmaker
from surge.platform.redis import RedisNames
from tests.helpers import packed, wait_for
from tests.services import REDIS_URL, throwaway_redis_prefix


@pytest.fixture
async def names() -> AsyncIterator[RedisNames]:
    async with throwaway_redis_prefix() as prefix:
        yield RedisNames(prefix)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


def consumer(
    redis: Redis, clicks: ClickService, names: RedisNames, name: str
) -> ClickStreamConsumer:
    return ClickStreamConsumer(
        redis, clicks, names, claim_idle_ms=1000, read_count=100, block_ms=10, consumer=name
    )


async def test_entries_are_ingested_acknowledged_then_trimmed(
    redis: Redis, clicks: ClickService, names: RedisNames
) -> None:
    live = consumer(redis, clicks, names, "live")
    await live.ensure_group()
    for size in (3, 4, 5):
        await redis.xadd(names.clicks, {"events": packed(size)})
    assert await live.step() == 3
    assert await clicks.click_count(1) == 12
    assert (await redis.xpending(names.clicks, names.analytics_group))["pending"] == 0
    await live.maintain()
    assert await redis.xlen(names.clicks) <= 1  # everything acknowledged is gone


async def test_a_dead_consumers_entries_are_kept_then_claimed(
    redis: Redis, clicks: ClickService, names: RedisNames
) -> None:
    live = consumer(redis, clicks, names, "live")
    await live.ensure_group()
    await redis.xadd(names.clicks, {"events": packed(2)})
    await redis.xadd(names.clicks, {"events": packed(3)})
    # "dead" took both entries and crashed before acknowledging them.
    taken = await redis.xreadgroup(names.analytics_group, "dead", {names.clicks: ">"}, count=10)
    assert len(taken[0][1]) == 2
    await live.maintain()  # too fresh to claim: and the trim must not drop them either
    assert await redis.xlen(names.clicks) == 2
    assert await clicks.click_count(1) == 0

    async def claimed_and_counted() -> bool:
        await live.maintain()
        return await clicks.click_count(1) == 5

    await wait_for(claimed_and_counted, what="the dead consumer's entries to be claimed")
    assert (await redis.xpending(names.clicks, names.analytics_group))["pending"] == 0


async def test_an_unreadable_entry_goes_to_the_dead_letter_stream(
    redis: Redis, clicks: ClickService, names: RedisNames
) -> None:
    live = consumer(redis, clicks, names, "live")
    await live.ensure_group()
    await redis.xadd(names.clicks, {"events": b"not a batch"})
    await redis.xadd(names.clicks, {"events": packed(2)})
    assert await live.step() == 2
    assert await clicks.click_count(1) == 2
    dead = await redis.xrange(names.dead_clicks)
    assert [fields[b"events"] for _, fields in dead] == [b"not a batch"]
    assert (await redis.xpending(names.clicks, names.analytics_group))["pending"] == 0


async def test_entries_of_a_failed_ingest_stay_pending_and_come_back(
    redis: Redis, clicks: ClickService, names: RedisNames, tmp_path: Path
) -> None:
    broken_engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'never-migrated.db'}")
    broken = consumer(redis, ClickService(create_sessionmaker(broken_engine)), names, "same")
    await broken.ensure_group()
    await redis.xadd(names.clicks, {"events": packed(4)})
    with pytest.raises(Exception, match="no such table"):
        await broken.step()
    await broken_engine.dispose()
    assert (await redis.xpending(names.clicks, names.analytics_group))["pending"] == 1
    # The same consumer, restarted with a working database, reads its own pending list first.
    assert await consumer(redis, clicks, names, "same").step() == 1
    assert await clicks.click_count(1) == 4
