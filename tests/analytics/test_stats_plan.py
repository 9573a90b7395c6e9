"""Stats are flat in clicks: on PostgreSQL, every query a stats request sends reads an index
range of a rollup, and never the raw clicks or the per-visitor rows."""

from __future__ import annotations

from datetime import datetime, timedelta

from surge.analytics.service import ClickService
from surge.capacity.seed import SeedPlan, click_events
from surge.platform.db import create_sessionmaker
from tests.helpers import analyze, engine_on, plan_nodes, sql_sent

ROLLUPS = {"hourly_clicks", "daily_breakdowns"}


async def test_every_stats_query_is_an_index_range_on_a_rollup(
    migrated_pg_url: str, now: datetime
) -> None:
    async with engine_on(migrated_pg_url) as engine:
        clicks = ClickService(create_sessionmaker(engine))
        plan = SeedPlan(links=3, clicks=3_000, days=90, seed=3)
        for batch in click_events(plan, [1, 2, 3], ["a", "b", "c"], now):
            await clicks.ingest(batch)
        await analyze(engine)

        with sql_sent(engine) as sent:
            end = now + timedelta(hours=1)
            for interval in ("hour", "day"):
                stats = await clicks.link_stats(1, end - timedelta(days=90), end, interval)
                assert stats.total > 0

        queries = [(s, p) for s, p in sent if s.lstrip().upper().startswith("SELECT")]
        assert len(queries) == 2 * 2  # totals with the series, breakdowns with visitors; twice
        async with engine.connect() as conn:
            # Tables this small would be read whole: ask whether an index range *can* serve each.
            await conn.exec_driver_sql("SET enable_seqscan = off")
            for statement, parameters in queries:
                found = await plan_nodes(conn, statement, parameters)
                relations = {n["Relation Name"] for n in found if "Relation Name" in n}
                assert relations <= ROLLUPS, statement
                assert not [n for n in found if n["Node Type"] == "Seq Scan"], statement
                ranges = [n for n in found if "Index Cond" in n]
                assert ranges, statement
                for scan in ranges:  # an Index (Only) Scan, or a Bitmap Index Scan
                    assert scan["Index Name"] in ("pk_hourly_clicks", "pk_daily_breakdowns")
                    condition = scan["Index Cond"]
                    assert "link_id" in condition, condition
                    # The range bounds the index scan itself, on the key column after link_id.
                    column = "bucket" if scan["Index Name"] == "pk_hourly_clicks" else "day"
                    assert f"({column} >=" in condition, condition
                    assert f"({column} <" in condition, condition
