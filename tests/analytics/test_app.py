"""The analytics service keeps its own partitions ahead on PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import text

from surge.analytics.app import AnalyticsService
from surge.analytics.partitions import months_around
from tests.helpers import engine_on, make_settings, wait_for


async def test_a_missing_partition_ahead_is_created_on_start(
    tmp_path: Path, migrated_pg_url: str, now: datetime
) -> None:
    async with engine_on(migrated_pg_url) as engine:
        furthest = months_around(now, 3, 1)[-1].name
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP TABLE "{furthest}"'))

        async def present() -> bool:
            async with engine.connect() as conn:
                found = await conn.execute(text("SELECT to_regclass(:n)"), {"n": furthest})
                return found.scalar() is not None

        assert not await present()
        settings = make_settings(tmp_path, database_url=migrated_pg_url)
        service = AnalyticsService(settings, migrate=False)
        await service.start()
        try:
            await wait_for(present, what=f"{furthest} to be created")
        finally:
            await service.stop()
