"""Monthly partitions of clicks on a real PostgreSQL, and ingest on top of them.

Needs PostgreSQL like tests/platform/test_migrations.py (skipped without it, unless
SURGE_REQUIRE_SERVICES=1); each test gets a migrated database of its own. Most tests use months
in the 2090s: clear of the partitions that the migration creates around today.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from surge.analytics.partitions import ensure_partitions, months_around
from surge.analytics.service import ClickService
from surge.data.events import ClickEvent
from surge.data.tables import clicks, hourly_clicks
from surge.platform.db import create_engine, create_sessionmaker
from surge.platform.migrations import upgrade_to_head
from tests.e2e.processes import surge_cli, surge_env
from tests.helpers import GOOGLEBOT, engine_on, event


@pytest.fixture
async def engine(migrated_pg_url: str) -> AsyncIterator[AsyncEngine]:
    async with engine_on(migrated_pg_url) as engine:
        yield engine


async def partitions(engine: AsyncEngine) -> dict[str, str]:
    """Each partition of clicks and its bounds, as PostgreSQL shows them in UTC."""
    async with engine.connect() as conn:
        await conn.execute(text("SET TIME ZONE 'UTC'"))
        rows = await conn.execute(
            text(
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'clicks'::regclass"
            )
        )
        return dict(rows.all())


async def stored_in(engine: AsyncEngine, *events: ClickEvent) -> list[str]:
    """The partition each event's click row is stored in."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT id, tableoid::regclass::text FROM clicks WHERE id = ANY(:ids)"),
            {"ids": [e.id for e in events]},
        )
        where: dict[str, str] = dict(rows.all())
    return [where.get(e.id, "(missing)") for e in events]


def click_service(engine: AsyncEngine) -> ClickService:
    return ClickService(create_sessionmaker(engine))


async def ingest_into(engine: AsyncEngine, *events: ClickEvent) -> int:
    return (await click_service(engine).ingest(events)).ingested


async def test_clicks_is_partitioned_by_month_after_migrate(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        key = await conn.execute(
            text(
                "SELECT pg_get_partkeydef(partrelid) FROM pg_partitioned_table "
                "WHERE partrelid = 'clicks'::regclass"
            )
        )
        assert key.scalar_one() == "RANGE (occurred_at)"
        indexes = set(
            (
                await conn.execute(
                    text("SELECT indexdef FROM pg_indexes WHERE tablename = 'clicks'")
                )
            ).scalars()
        )
    assert indexes == {
        "CREATE UNIQUE INDEX pk_clicks ON ONLY public.clicks USING btree (id, occurred_at)",
        "CREATE INDEX ix_clicks_occurred_at ON ONLY public.clicks USING brin (occurred_at)",
        "CREATE INDEX ix_clicks_link_id_occurred_at_id ON ONLY public.clicks "
        "USING btree (link_id, occurred_at, id)",
    }
    now = datetime.now(UTC)
    found = await partitions(engine)
    assert found.pop("clicks_default") == "DEFAULT"
    assert set(found) == {month.name for month in months_around(now, 3, 1)}
    this_month = f"clicks_p{now:%Y_%m}"
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    assert found[this_month].startswith(f"FOR VALUES FROM ('{start:%Y-%m-%d} 00:00:00+00')")
    # The migration and `surge maintain` agree on names and bounds.
    assert await ensure_partitions(engine, now) == []


async def test_ensure_partitions_creates_the_months_around_now_once(engine: AsyncEngine) -> None:
    now = datetime(2091, 11, 15, 12, tzinfo=UTC)
    expected = ["clicks_p2091_10", "clicks_p2091_11", "clicks_p2091_12"]
    expected += ["clicks_p2092_01", "clicks_p2092_02"]
    assert await ensure_partitions(engine, now) == expected
    assert await ensure_partitions(engine, now) == []
    assert await ensure_partitions(engine, now, months_ahead=4) == ["clicks_p2092_03"]
    found = await partitions(engine)
    assert found["clicks_p2092_02"] == (
        "FOR VALUES FROM ('2092-02-01 00:00:00+00') TO ('2092-03-01 00:00:00+00')"
    )
    assert found["clicks_default"] == "DEFAULT"


async def test_partition_bounds_are_utc_whatever_the_session_time_zone(
    migrated_pg_url: str,
) -> None:
    # A session far east of UTC: bounds written as bare dates would shift by 14 hours.
    far_east = create_async_engine(
        migrated_pg_url, connect_args={"server_settings": {"timezone": "Pacific/Kiritimati"}}
    )
    try:
        now = datetime(2091, 11, 15, tzinfo=UTC)
        assert await ensure_partitions(far_east, now, months_ahead=0, months_back=0) == [
            "clicks_p2091_11"
        ]
        first = datetime(2091, 11, 1, tzinfo=UTC)
        edges = [
            event(at=first - timedelta(microseconds=1)),
            event(at=first),
            event(at=datetime(2091, 12, 1, tzinfo=UTC) - timedelta(microseconds=1)),
            event(at=datetime(2091, 12, 1, tzinfo=UTC)),
        ]
        assert await ingest_into(far_east, *edges) == 4
        assert await stored_in(far_east, *edges) == [
            "clicks_default",
            "clicks_p2091_11",
            "clicks_p2091_11",
            "clicks_default",
        ]
    finally:
        await far_east.dispose()


async def test_rows_in_the_default_partition_move_into_their_new_partition(
    engine: AsyncEngine,
) -> None:
    june = event(7, at=datetime(2093, 6, 10, 8, tzinfo=UTC))
    june_bot = event(7, at=datetime(2093, 6, 30, 23, 59, tzinfo=UTC), ua=GOOGLEBOT)
    january = event(7, at=datetime(2094, 1, 5, tzinfo=UTC))
    assert await ingest_into(engine, june, june_bot, january) == 3
    assert await stored_in(engine, june, june_bot, january) == ["clicks_default"] * 3

    created = await ensure_partitions(engine, datetime(2093, 6, 1, tzinfo=UTC), 1, 0)
    assert created == ["clicks_p2093_06", "clicks_p2093_07"]
    assert await stored_in(engine, june, june_bot, january) == [
        "clicks_p2093_06",
        "clicks_p2093_06",
        "clicks_default",
    ]
    assert (await partitions(engine))["clicks_default"] == "DEFAULT"  # attached again
    # Moved rows are still the same events: a redelivery is a duplicate, counted once.
    assert await ingest_into(engine, june, january) == 0
    assert await click_service(engine).click_count(7) == 3
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(clicks))).scalar_one() == 3
    # A month still without a partition lands in the default partition, as before.
    later = event(7, at=datetime(2099, 2, 2, tzinfo=UTC))
    assert await ingest_into(engine, later) == 1
    assert await stored_in(engine, later) == ["clicks_default"]


async def test_concurrent_ensure_partitions_create_each_partition_once(
    migrated_pg_url: str,
) -> None:
    engines = [create_engine(migrated_pg_url) for _ in range(3)]
    try:
        now = datetime(2095, 3, 3, tzinfo=UTC)
        stranded = event(at=datetime(2095, 4, 4, tzinfo=UTC))
        assert await ingest_into(engines[0], stranded) == 1
        results = await asyncio.gather(*(ensure_partitions(e, now) for e in engines))
        created = sorted(name for result in results for name in result)
        assert created == [month.name for month in months_around(now, 3, 1)]
        assert await stored_in(engines[0], stranded) == ["clicks_p2095_04"]
    finally:
        for engine in engines:
            await engine.dispose()


async def test_ingest_on_postgres_counts_a_duplicate_event_once(engine: AsyncEngine) -> None:
    service = click_service(engine)
    first = [event(), event()]
    assert await ingest_into(engine, *first) == 2
    again = await service.ingest([first[0], event()])
    assert (again.received, again.ingested) == (2, 1)
    duplicate = event()
    assert await ingest_into(engine, duplicate, duplicate) == 1
    stats = await service.link_stats(1, None, None, "day")
    assert stats.total == 4
    assert stats.unique_visitors == 1
    assert await service.click_count(1) == 4
    async with engine.connect() as conn:
        raw = (await conn.execute(select(func.count()).select_from(clicks))).scalar_one()
        total = await conn.execute(select(func.sum(hourly_clicks.c.clicks)))
    assert raw == total.scalar_one() == 4


async def test_ensure_partitions_does_nothing_on_sqlite(tmp_path: Path) -> None:
    async with engine_on(f"sqlite+aiosqlite:///{tmp_path / 'surge.db'}") as engine:
        await upgrade_to_head(engine)
        assert await ensure_partitions(engine, datetime.now(UTC)) == []


def test_months_around_wants_an_aware_time_and_no_negative_counts() -> None:
    with pytest.raises(ValueError, match="aware"):
        months_around(datetime(2091, 1, 1), 3, 1)
    with pytest.raises(ValueError, match="negative"):
        months_around(datetime(2091, 1, 1, tzinfo=UTC), -1, 1)
    # The month is the UTC month, whatever the offset `now` carries.
    local = datetime(2091, 1, 1, 1, tzinfo=UTC).astimezone(ZoneInfo("America/New_York"))
    assert [m.name for m in months_around(local, 0, 0)] == ["clicks_p2091_01"]


@pytest.mark.real_clock  # `surge maintain` runs in a process of its own
async def test_surge_maintain(migrated_pg_url: str, tmp_path: Path) -> None:
    env = surge_env(tmp_path, SURGE_DATABASE_URL=migrated_pg_url)
    done = await asyncio.to_thread(surge_cli, env, "maintain")
    assert (done.returncode, done.stdout) == (0, "partitions up to date\n"), done.stderr
    done = await asyncio.to_thread(surge_cli, env, "maintain", "--months-ahead", "5")
    assert done.returncode == 0, done.stderr
    expected = [m.name for m in months_around(datetime.now(UTC), 5, 0)][-2:]
    assert done.stdout.splitlines() == [f"created partition {name}" for name in expected]


def test_surge_maintain_before_migrate_is_one_line(tmp_path: Path) -> None:
    done = surge_cli(surge_env(tmp_path), "maintain")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "surge: error: the database schema is not current: run `surge migrate` first"
    )
