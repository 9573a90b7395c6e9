"""Raw-click retention: old raw clicks and visitor rows go, every stats figure stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from surge.analytics.partitions import ensure_partitions, partitions_of
from surge.analytics.retention import expire_raw_clicks
from surge.analytics.service import ClickService
from surge.data.tables import clicks as click_rows
from surge.data.tables import daily_visitors
from surge.platform.db import create_sessionmaker
from surge.platform.migrations import upgrade_to_head
from tests.helpers import GOOGLEBOT, engine_on, event

NOW = datetime.now(UTC)


async def count(service: ClickService, table: object) -> int:
    async with service.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def test_old_raw_clicks_expire_and_the_stats_do_not_change(clicks: ClickService) -> None:
    await clicks.ingest(
        [
            event(at=NOW - timedelta(days=20), visitor="old"),
            event(at=NOW - timedelta(days=10), visitor="old", ua=GOOGLEBOT),
            event(at=NOW - timedelta(days=3), visitor="recent"),
            event(at=NOW - timedelta(hours=1), visitor="now"),
        ]
    )
    window = (NOW - timedelta(days=30), NOW + timedelta(hours=1))
    before = await clicks.link_stats(1, *window, "day")
    engine = clicks.sessions.kw["bind"]

    expired = await expire_raw_clicks(engine, NOW, keep_days=5)

    assert expired.clicks_deleted == 2
    assert expired.visitor_rows_deleted == 1  # the bot has no visitor row
    assert await count(clicks, click_rows) == 2
    assert await count(clicks, daily_visitors) == 2
    assert await clicks.link_stats(1, *window, "day") == before
    assert await clicks.click_count(1) == 4
    # Nothing left to expire: a second run changes nothing.
    again = await expire_raw_clicks(engine, NOW, keep_days=5)
    assert (again.clicks_deleted, again.visitor_rows_deleted) == (0, 0)


async def test_a_month_past_the_cutoff_is_dropped_as_a_partition(migrated_pg_url: str) -> None:
    async with engine_on(migrated_pg_url) as engine:
        january = datetime(2091, 1, 15, tzinfo=UTC)
        assert "clicks_p2091_01" in await ensure_partitions(engine, january, 0, 0)
        service = ClickService(create_sessionmaker(engine))
        await service.ingest([event(at=january), event(at=january + timedelta(days=1))])
        stats = await service.link_stats(1, january, january + timedelta(days=5), "day")

        expired = await expire_raw_clicks(engine, datetime(2091, 4, 1, tzinfo=UTC), 30)

        assert "clicks_p2091_01" in expired.partitions_dropped
        assert expired.clicks_deleted == 0  # they went with their partition
        async with engine.connect() as conn:
            assert "clicks_p2091_01" not in await partitions_of(conn)
            assert "clicks_default" in await partitions_of(conn)
        assert await service.link_stats(1, january, january + timedelta(days=5), "day") == stats
        # The schema is still whole: `surge maintain` recreates what it needs.
        await upgrade_to_head(engine)
        assert "clicks_p2091_01" in await ensure_partitions(engine, january, 0, 0)
