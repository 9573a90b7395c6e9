"""The overview, the ranking and the sparklines are flat in clicks: on PostgreSQL, every query
they send for an owner's links reads index ranges of a rollup, by link, never the raw clicks."""

from __future__ import annotations

from datetime import datetime, timedelta

from surge.analytics.overview import ClickOverview
from surge.analytics.service import ClickService
from surge.capacity.seed import SeedPlan, click_events
from surge.data.overview import DailySeriesQuery, OverviewQuery, RankingQuery
from surge.platform.db import create_sessionmaker
from tests.helpers import analyze, engine_on, plan_nodes, sql_sent

ROLLUPS = {"hourly_clicks", "daily_breakdowns"}


async def test_every_query_about_an_owners_links_is_an_index_range_on_a_rollup(
    migrated_pg_url: str, now: datetime
) -> None:
    async with engine_on(migrated_pg_url) as engine:
        sessions = create_sessionmaker(engine)
        clicks = ClickService(sessions)
        ids = list(range(1, 41))
        plan = SeedPlan(links=40, clicks=4_000, days=90, seed=5)
        for batch in click_events(plan, ids, [f"s{i}" for i in ids], now):
            await clicks.ingest(batch)
        await analyze(engine)
        overview = ClickOverview(sessions)

        mine = ids[:10]  # an owner's links among everyone's
        with sql_sent(engine) as sent:
            end = now + timedelta(hours=1)
            found = await overview.overview(
                OverviewQuery(link_ids=mine, start=end - timedelta(days=30), end=end)
            )
            assert found.total > 0
            assert (await overview.ranking(RankingQuery(link_ids=mine))).items
            series = DailySeriesQuery(link_ids=mine, first=now.date() - timedelta(days=13), days=14)
            assert (await overview.daily_series(series)).items

        queries = [(s, p) for s, p in sent if s.lstrip().upper().startswith("SELECT")]
        assert len(queries) == 3 + 1 + 1  # slots, top links, breakdowns; ranking; series
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SET enable_seqscan = off")  # tables this small
            for statement, parameters in queries:
                found_nodes = await plan_nodes(conn, statement, parameters)
                relations = {n["Relation Name"] for n in found_nodes if "Relation Name" in n}
                assert relations <= ROLLUPS, statement
                assert not [n for n in found_nodes if n["Node Type"] == "Seq Scan"], statement
                ranges = [n for n in found_nodes if "Index Cond" in n]
                assert ranges, statement
                for scan in ranges:  # an Index (Only) Scan, or a Bitmap Index Scan
                    assert scan["Index Name"] in ("pk_hourly_clicks", "pk_daily_breakdowns")
                    assert "link_id" in scan["Index Cond"], (statement, scan["Index Cond"])
