"""The analytics service keeps its own partitions ahead on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from surge.analytics.app import AnalyticsService
from surge.analytics.partitions import months_around
from surge.platform.db import create_engine
from surge.platform.migrations import upgrade_to_head
from tests.conftest import make_settings, wait_for
from tests.services import throwaway_database


async def test_a_missing_partition_ahead_is_created_on_start(tmp_path: Path) -> None:
    async with throwaway_database() as url:
        engine = create_engine(url)
        await upgrade_to_head(engine)
        furthest = months_around(datetime.now(UTC), 3, 1)[-1].name
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP TABLE "{furthest}"'))

        async def present() -> bool:
            async with engine.connect() as conn:
                found = await conn.execute(text("SELECT to_regclass(:n)"), {"n": furthest})
                return found.scalar() is not None

        assert not await present()
        service = AnalyticsService(make_settings(tmp_path, database_url=url), migrate=False)
        await service.start()
        try:
            await wait_for(present, what=f"{furthest} to be created")
        finally:
            await service.stop()
            await engine.dispose()
