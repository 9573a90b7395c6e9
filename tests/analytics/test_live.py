"""Analytics' side of the live feed: a summary per link of each wholly new batch, told after
its commit; in-process, or into a capped Redis stream that never fails an ingest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from surge.analytics.enrich import enrich
from surge.analytics.geoip import nowhere
from surge.analytics.live import LiveFeed, LocalLiveFeed, RedisLiveFeed, summarize
from surge.analytics.service import ClickService
from surge.data.live import FIELD, RECENT, LiveSummary, new_live_hub, unpack
from surge.platform.db import SessionMaker
from surge.platform.redis import RedisNames, create_redis
from tests.helpers import BROWSER_UA, GOOGLEBOT, IPHONE, event
from tests.services import REDIS_URL, throwaway_redis_prefix

START = datetime(2028, 2, 29, 12, tzinfo=UTC)


def test_a_summary_per_link_with_its_newest_clicks() -> None:
    batch = [
        event(1, at=START + timedelta(seconds=i), country="DE", referrer="https://a.example/x")
        for i in range(8)
    ]
    batch += [event(2, ua=GOOGLEBOT, at=START), event(2, ua=IPHONE, at=START, country="JP")]
    first, second = summarize([enrich(e, nowhere) for e in batch])

    assert (first.link_id, first.clicks, first.bots) == (1, 8, 0)
    assert [c.at for c in first.recent] == [START + timedelta(seconds=i) for i in range(3, 8)]
    assert len(first.recent) == RECENT
    assert {(c.country, c.referrer, c.device) for c in first.recent} == {
        ("DE", "a.example", "desktop")
    }
    assert (second.link_id, second.clicks, second.bots) == (2, 1, 1)
    assert [(c.device, c.bot) for c in second.recent] == [("bot", True), ("mobile", False)]


class Recorder(LiveFeed):
    """Keeps what it is told, and what the database says at that moment."""

    def __init__(self, clicks: ClickService) -> None:
        self.clicks = clicks
        self.told: list[tuple[LiveSummary, ...]] = []
        self.counted_then: list[int] = []

    async def send(self, summaries: tuple[LiveSummary, ...]) -> None:
        self.told.append(summaries)
        self.counted_then.append(await self.clicks.click_count(1))


async def test_only_new_batches_are_told_after_their_commit(sessions: SessionMaker) -> None:
    clicks = ClickService(sessions)
    recorder = clicks.live = Recorder(clicks)
    batch = [event(1, at=START), event(1, at=START)]
    await clicks.ingest(batch)
    assert [(s.link_id, s.clicks) for s in recorder.told[0]] == [(1, 2)]
    assert recorder.counted_then == [2]  # committed before anyone was told

    await clicks.ingest(batch)  # redelivered: counted before, told before
    await clicks.ingest([batch[0], event(1, at=START)])  # partly seen: which is new is unknown
    assert len(recorder.told) == 1
    assert await clicks.click_count(1) == 3  # the new one still counts


async def test_the_in_process_feed_reaches_every_subscriber(sessions: SessionMaker) -> None:
    hub = new_live_hub()
    watching, also = hub.subscribe(), hub.subscribe()
    clicks = ClickService(sessions, live=LocalLiveFeed(hub))
    await clicks.ingest([event(7, at=START, country="BR")])
    for subscription in (watching, also):
        [[summary]] = await subscription.next(timeout_s=1) or []
        assert (summary.link_id, summary.clicks, summary.recent[0].country) == (7, 1, "BR")


@pytest.fixture
async def redis_names() -> AsyncIterator[RedisNames]:
    async with throwaway_redis_prefix() as prefix:
        yield RedisNames(prefix)


async def test_the_redis_feed_is_a_capped_stream(redis_names: RedisNames) -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        feed = RedisLiveFeed(redis, redis_names.live, max_length=10)
        batch = [enrich(event(3, at=START, ua=BROWSER_UA), nowhere)]
        for _ in range(300):
            await feed.ingested(batch, 1)
        # MAXLEN ~ trims whole nodes of the stream (100 entries each): about the cap, bounded.
        assert await redis.xlen(redis_names.live) <= 10 + 100
        [(_id, fields)] = await redis.xrevrange(redis_names.live, count=1)
        [summary] = unpack(fields[FIELD])
        assert (summary.link_id, summary.clicks, summary.recent[0].at) == (3, 1, START)
    finally:
        await redis.aclose()


async def test_a_redis_that_is_away_fails_no_ingest(sessions: SessionMaker) -> None:
    away = create_redis("redis://127.0.0.1:1/0", timeout_s=0.2)  # nothing listens there
    errors = REGISTRY.get_sample_value("surge_live_publish_errors_total") or 0.0
    clicks = ClickService(sessions, live=RedisLiveFeed(away, "nowhere", max_length=10))
    try:
        assert (await clicks.ingest([event(1, at=START)])).ingested == 1
    finally:
        await away.aclose()
    assert REGISTRY.get_sample_value("surge_live_publish_errors_total") == errors + 1
    assert await clicks.click_count(1) == 1
