"""The click-stream consumer against a real Redis: ack after commit, claim, trim, dead letters,
the stream's gauges."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
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


def stream_gauges() -> tuple[float | None, float | None]:
    """What the stream's gauges say of shard 0: entries pending, and not yet delivered."""
    shard = {"shard": "0"}
    return (
        REGISTRY.get_sample_value("surge_click_stream_pending", shard),
        REGISTRY.get_sample_value("surge_click_stream_lag", shard),
    )


async def test_the_stream_is_measured_while_every_ingest_fails(
    redis: Redis, names: RedisNames, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The click store away (here a database without tables): every round fails on the
    entries it holds, and the gauges must still show the backlog grow, as the stream's alerts
    read them (they once stayed at what they were before the outage)."""
    monkeypatch.setattr("surge.analytics.consumer.MAINTENANCE_EVERY_S", 0.0)  # every round
    broken_engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'never-migrated.db'}")
    stuck = consumer(redis, ClickService(create_sessionmaker(broken_engine)), names, "stuck")
    pending = names.clicks, names.analytics_group
    stuck.start()
    try:
        for _ in range(2):
            await redis.xadd(names.clicks, {"events": packed(1)})

        async def delivered() -> bool:
            return bool((await redis.xpending(*pending))["pending"] == 2)

        await wait_for(delivered, what="a round to take both entries and fail")
        for _ in range(3):
            await redis.xadd(names.clicks, {"events": packed(1)})

        async def measured() -> bool:
            # Redis 7 counts the 3 not delivered; an older one leaves the stream's length, 5.
            shown_pending, shown_lag = stream_gauges()
            return shown_pending == 2 and (shown_lag or 0) >= 3

        await wait_for(measured, timeout_s=5, what="2 pending, 3 undelivered on the gauges")
    finally:
        await stuck.stop()
        await broken_engine.dispose()
    assert (await redis.xpending(*pending))["pending"] == 2  # none acknowledged meanwhile
