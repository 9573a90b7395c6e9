"""Rollups of sealed days keep every figure exact: stats read sealed days from them and the rest
from raw clicks, and still equal a brute-force count over the distinct clicks, with copies on
disk, late clicks into sealed days, a crash before a late batch's re-roll, jobs racing, visit
deletion and retention. Each test runs on clickhouse-server and on chdb."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from surge.analytics.enrich import EVERYTHING, enrich
from surge.analytics.geoip import nowhere
from surge.analytics.service import ClickService
from surge.platform.clickhouse import ClickHouse
from tests.analytics.test_clickhouse_repository import (
    assert_stats_equal_brute_force,
    random_events,
    stored_rows,
    the_store,
)
from tests.helpers import event


async def rollup_rows(clickhouse: ClickHouse, table: str = "click_rollups") -> int:
    rows = await clickhouse.rows(f"SELECT count() FROM {clickhouse.database}.{table}")
    return int(rows[0][0])


LATE_AFTERNOON = datetime(2026, 3, 11, 15, 20, tzinfo=UTC)  # hours up to 15:00 are sealed


@pytest.mark.parametrize("now", [LATE_AFTERNOON], indirect=True)
async def test_sealed_hours_of_today_count_exactly_with_late_clicks(
    clickhouse_clicks: ClickService, clickhouse: ClickHouse, now: datetime
) -> None:
    """Today's sealed hours are read from their rollups and visitor sets, the open hour raw:
    the day's distinct visitors stay exact across both, with copies on disk, late clicks into
    a sealed hour (a visitor new to the day among them), and a crash before the re-roll."""
    store = the_store(clickhouse_clicks)
    rng = random.Random(23)
    midnight = now.replace(hour=0, minute=0)
    events = [
        event(
            rng.randint(1, 3),
            visitor=f"v{rng.randint(1, 12)}",
            at=midnight + timedelta(minutes=rng.randint(0, 15 * 60 + 19)),
            referrer=rng.choice([None, "https://t.co/x"]),
            ua=rng.choice([None, "Googlebot/2.1 (+http://www.google.com/bot.html)"]),
        )
        for _ in range(150)
    ]
    await clickhouse_clicks.ingest(events)
    await store.store([enrich(e, nowhere, EVERYTHING, None) for e in events[:40]])  # copies
    assert await store.rollups.roll_up(now) == []  # no day sealed: today's hours are
    assert await rollup_rows(clickhouse, "click_hour_rollups") > 0
    assert await rollup_rows(clickhouse, "click_hour_visitors") > 0
    through = await clickhouse.rows(
        f"SELECT max(through_us) FROM {clickhouse.database}.hour_rollup_progress"
    )
    assert int(through[0][0]) == int(now.replace(minute=0).timestamp()) * 10**6
    await assert_stats_equal_brute_force(clickhouse_clicks, events, now)

    # Late clicks into sealed hours, in overlapping batches, a visitor new to the day.
    late = [
        event(link_id, visitor=visitor, at=midnight + timedelta(hours=hour, minutes=5))
        for link_id, visitor, hour in [(1, "v-new", 3), (1, "v1", 9), (2, "v-new", 8)] * 3
    ]
    await clickhouse_clicks.ingest(late[:2])  # the later sealed hours' sets hold v-new too
    events += late[:2]
    await assert_stats_equal_brute_force(clickhouse_clicks, events, now)
    await clickhouse_clicks.ingest(late[:5] + events[:20])
    await clickhouse_clicks.ingest(late[3:7])
    events += late[2:7]

    # Stored, then the consumer died before re-rolling: the redelivery stores nothing and
    # re-rolls anyway.
    await store.store([enrich(e, nowhere, EVERYTHING, None) for e in late[7:]])
    assert (await clickhouse_clicks.ingest(late[7:])).ingested == 0
    events += late[7:]
    await assert_stats_equal_brute_force(clickhouse_clicks, events, now)

    # Days later the day is rolled up and its hours' rows dropped: the same figures.
    await store.rollups.roll_up(now + timedelta(days=2))
    assert await rollup_rows(clickhouse, "click_hour_rollups") == 0
    assert await rollup_rows(clickhouse, "click_hour_visitors") == 0
    await assert_stats_equal_brute_force(clickhouse_clicks, events, now)


async def test_rolled_up_days_count_exactly_with_copies_late_clicks_and_crashes(
    clickhouse_clicks: ClickService, clickhouse: ClickHouse, now: datetime
) -> None:
    store = the_store(clickhouse_clicks)
    events = random_events(now, 400, seed=21)
    await clickhouse_clicks.ingest(events)
    enriched = [enrich(e, nowhere, EVERYTHING, None) for e in events]
    await store.store(enriched[:150])  # racing consumers' copies, unmerged
    days = await store.rollups.roll_up(now)
    assert len(days) >= 3  # the days of the last 72 hours but today (or yesterday, in grace)
    assert await rollup_rows(clickhouse) > 0
    assert await stored_rows(clickhouse) == 550
    await assert_stats_equal_brute_force(clickhouse_clicks, events, now)

    # Late clicks into sealed days (and a redelivered batch with them): re-rolled at ingest.
    late = [
        e for e in random_events(now, 120, seed=22) if e.ts < (now - timedelta(days=1)).timestamp()
    ]
    await clickhouse_clicks.ingest(late[:40] + events[:30])
    await clickhouse_clicks.ingest(late[20:60])
    events += late[:60]
    await assert_stats_equal_brute_force(clickhouse_clicks, events, now)

    # A consumer stored late clicks and died before re-rolling: the redelivery finds them
    # known (nothing new to store) and re-rolls anyway.
    await store.store([enrich(e, nowhere, EVERYTHING, None) for e in late[60:]])
    assert (await clickhouse_clicks.ingest(late[60:])).ingested == 0
    events += late[60:]
    await assert_stats_equal_brute_force(clickhouse_clicks, events, now)

    # Jobs of several processes at once, a re-roll among them, then merges: the same figures.
    await clickhouse.execute(f"TRUNCATE TABLE {clickhouse.database}.rollup_progress")
    await asyncio.gather(
        store.rollups.roll_up(now),
        store.rollups.roll_up(now),
        store.rollups.reroll_late(enriched, now),
    )
    await assert_stats_equal_brute_force(clickhouse_clicks, events, now)
    await clickhouse.execute(f"OPTIMIZE TABLE {clickhouse.database}.click_rollups FINAL")
    await assert_stats_equal_brute_force(clickhouse_clicks, events, now)
    assert await store.rollups.roll_up(now) == []  # nothing left to seal


async def test_deleted_visits_leave_rolled_up_days_out(
    clickhouse_clicks: ClickService, now: datetime
) -> None:
    store = the_store(clickhouse_clicks)
    before = [event(2, at=now - timedelta(days=d, hours=1)) for d in range(4)] + [event(3)]
    await clickhouse_clicks.ingest(before)
    await store.rollups.roll_up(now)
    assert await clickhouse_clicks.click_count(2) == 4
    assert await clickhouse_clicks.delete_visits(2) == 4
    assert (await clickhouse_clicks.link_stats(2, now - timedelta(days=7), now, "day")).total == 0
    assert await clickhouse_clicks.click_count(2) == 0
    # After the cut-off (the clock ticks: the deletion took a moment on a busy machine).
    after = [event(2, at=now + timedelta(minutes=1)), event(2, at=now + timedelta(days=1))]
    await clickhouse_clicks.ingest(after)
    # Days later the deletion's day is sealed (its rollups hold deleted clicks: read raw from
    # the cut-off), and so is the day after it (read from rollups).
    later = now + timedelta(days=3)
    await store.rollups.roll_up(later)
    stats = await clickhouse_clicks.link_stats(2, now - timedelta(days=7), later, "hour")
    assert (stats.total, await clickhouse_clicks.click_count(2)) == (2, 2)
    assert await clickhouse_clicks.click_count(3) == 1


async def test_rolled_up_days_outlive_retention(clickhouse_clicks: ClickService) -> None:
    """Raw months dropped by retention keep counting in stats (as the SQL store's rollups do);
    a copy of a dropped click delivered again re-rolls its day with fewer clicks: not written."""
    months = [datetime(2026, m, 10, 12, tzinfo=UTC) for m in (1, 2, 3)]
    events = [event(1, at=at) for at in months for _ in range(2)]
    await clickhouse_clicks.ingest(events)
    store = the_store(clickhouse_clicks)
    await store.rollups.roll_up(datetime(2026, 3, 12, tzinfo=UTC))
    assert await store.drop_months_before(datetime(2026, 3, 5, tzinfo=UTC)) == ["202601", "202602"]
    assert await clickhouse_clicks.click_count(1) == 6
    await clickhouse_clicks.ingest(events[:1])
    assert await clickhouse_clicks.click_count(1) == 6
    first = datetime(2026, 1, 1, tzinfo=UTC)
    stats = await clickhouse_clicks.link_stats(1, first, first + timedelta(days=90), "day")
    assert stats.total == 6
    assert sum(p.clicks for p in stats.timeseries) == 6
