"""Stats are flat in clicks: on PostgreSQL, every query a stats request sends reads an index
range of a rollup, and never the raw clicks or the per-visitor rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from surge.analytics.service import ClickService
from surge.capacity.seed import SeedPlan, click_events
from surge.platform.db import create_sessionmaker
from tests.helpers import engine_on

ROLLUPS = {"hourly_clicks", "daily_breakdowns"}


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


@pytest.fixture
async def engine(migrated_pg_url: str) -> Any:
    async with engine_on(migrated_pg_url) as engine:
        yield engine


async def test_every_stats_query_is_an_index_range_on_a_rollup(engine: AsyncEngine) -> None:
    clicks = ClickService(create_sessionmaker(engine))
    plan = SeedPlan(links=3, clicks=3_000, days=90, seed=3)
    for batch in click_events(plan, [1, 2, 3], ["a", "b", "c"], datetime.now(UTC)):
        await clicks.ingest(batch)
    async with engine.begin() as conn:  # committed: a rolled-back ANALYZE leaves no statistics
        await conn.exec_driver_sql("ANALYZE")

    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        end = datetime.now(UTC) + timedelta(hours=1)
        for interval in ("hour", "day"):
            stats = await clicks.link_stats(1, end - timedelta(days=90), end, interval)
            assert stats.total > 0
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)

    queries = [(s, p) for s, p in sent if s.lstrip().upper().startswith("SELECT")]
    assert len(queries) == 2 * 3  # totals, series, breakdowns with unique visitors; twice
    async with engine.connect() as conn:
        # Tables this small would be read whole: ask whether an index range *can* serve each.
        await conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in queries:
            result = await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
            raw = result.scalar_one()
            root = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
            found = list(plan_nodes(root))
            relations = {n["Relation Name"] for n in found if "Relation Name" in n}
            assert relations <= ROLLUPS, statement
            assert not [n for n in found if n["Node Type"] == "Seq Scan"], statement
            ranges = [n for n in found if "Index Cond" in n]
            assert ranges, statement
            for scan in ranges:  # an Index (Only) Scan, or the Bitmap Index Scan under a heap scan
                assert scan["Index Name"] in ("pk_hourly_clicks", "pk_daily_breakdowns"), scan
                condition = scan["Index Cond"]
                assert "link_id" in condition, condition
                # The range bounds the index scan itself, on the key column after link_id.
                column = "bucket" if scan["Index Name"] == "pk_hourly_clicks" else "day"
                assert f"({column} >=" in condition, condition
                assert f"({column} <" in condition, condition
