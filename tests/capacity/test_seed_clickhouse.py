"""`surge seed` with SURGE_CLICKHOUSE_URL set: the clicks go to ClickHouse, through ingest."""

from __future__ import annotations

from surge.analytics.clickhouse_repository import ClickHouseClicks
from surge.capacity.seed import SeedPlan, seed
from surge.platform.clickhouse import ClickHouse
from surge.platform.db import SessionMaker


async def test_seed_ingests_into_clickhouse(
    sqlite_sessions: SessionMaker, clickhouse: ClickHouse
) -> None:
    store = ClickHouseClicks(clickhouse)
    plan = SeedPlan(links=5, clicks=300, days=2, visitors=None, shuffle=True)
    result = await seed(sqlite_sessions, plan, progress=False, clickhouse=store)
    assert result.ingested == 300
    counts = await store.counts(result.link_ids)
    assert sum(humans + bots for humans, bots in counts.values()) == 300
