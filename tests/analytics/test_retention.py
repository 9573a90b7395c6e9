"""Raw-click retention: old raw clicks and visitor rows go, every stats figure stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from surge.analytics.partitions import ensure_partitions, months_around, partitions_of
from surge.analytics.retention import expire_raw_clicks
from surge.analytics.service import ClickService
from surge.data.tables import clicks as click_rows
from surge.data.tables import daily_visitors
from surge.platform.db import create_sessionmaker
from surge.platform.migrations import upgrade_to_head
from tests.helpers import GOOGLEBOT, engine_on, event


def month_of(name: str) -> datetime:
    """The first instant of a monthly partition's month, from its name."""
    return datetime.strptime(name, "clicks_p%Y_%m").replace(tzinfo=UTC)


async def count(service: ClickService, table: object) -> int:
    async with service.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


@pytest.mark.calendar
async def test_old_raw_clicks_expire_and_the_stats_do_not_change(
    clicks: ClickService, now: datetime
) -> None:
    engine = clicks.sessions.kw["bind"]
    partitioned = engine.dialect.name == "postgresql"
    if partitioned:  # this month's and last month's partitions, as `surge maintain` keeps them
        await ensure_partitions(engine, now, months_ahead=0, months_back=1)
    old = [now - timedelta(days=20), now - timedelta(days=10)]
    await clicks.ingest(
        [
            event(at=old[0], visitor="old"),
            event(at=old[1], visitor="old", ua=GOOGLEBOT),
            event(at=now - timedelta(days=3), visitor="recent"),
            event(at=now - timedelta(hours=1), visitor="now"),
        ]
    )
    window = (now - timedelta(days=30), now + timedelta(hours=1))
    before = await clicks.link_stats(1, *window, "day")
    # On PostgreSQL a month wholly before the cutoff goes as a partition, its clicks with it;
    # the rest are deleted row by row. Which of the two depends on the date: both are right.
    cutoff = now - timedelta(days=5)
    whole_months = {m.name: m for m in (months_around(t, 0, 0)[0] for t in old) if m.end <= cutoff}
    in_dropped = sum(1 for t in old if months_around(t, 0, 0)[0].name in whole_months)

    expired = await expire_raw_clicks(engine, now, keep_days=5)

    if partitioned:  # ours, and any older month (the database is the session's)
        assert set(whole_months) <= set(expired.partitions_dropped)
        for name in expired.partitions_dropped:
            assert months_around(month_of(name), 0, 0)[0].end <= cutoff, name
    else:
        assert expired.partitions_dropped == []
    assert expired.clicks_deleted == 2 - (in_dropped if partitioned else 0)
    assert expired.visitor_rows_deleted == 1  # the bot has no visitor row
    assert await count(clicks, click_rows) == 2
    assert await count(clicks, daily_visitors) == 2
    assert await clicks.link_stats(1, *window, "day") == before
    assert await clicks.click_count(1) == 4
    # Nothing left to expire: a second run changes nothing.
    again = await expire_raw_clicks(engine, now, keep_days=5)
    assert (again.partitions_dropped, again.clicks_deleted, again.visitor_rows_deleted) == (
        [],
        0,
        0,
    )


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
