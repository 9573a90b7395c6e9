"""Surge with SURGE_CLICKHOUSE_URL set: analytics creates the click store when it migrates, the
redirect's clicks land there (not in the SQL database), the public stats read them, the roll-up
job runs, and an outage of ClickHouse is a 503 to retry for stats and nothing for redirects."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import func, select

from surge.data.tables import clicks
from surge.platform.clickhouse import HttpClickHouse
from tests.clickhouse import new_database
from tests.conftest import running_surge
from tests.helpers import BROWSER_UA, make_settings, wait_for


async def test_clicks_go_to_clickhouse_and_stats_read_them(
    clickhouse_server_url: str, tmp_path: Path
) -> None:
    url = f"{clickhouse_server_url}/{new_database()}"
    clickhouse = HttpClickHouse(url)
    try:
        async with running_surge(make_settings(tmp_path, clickhouse_url=url)) as surge:
            key = await surge.new_key()
            body = {"url": "https://example.com"}
            slug = (await surge.client.post("/api/v1/links", json=body, headers=key)).json()["slug"]
            for _ in range(3):
                answer = await surge.client.get(f"/{slug}", headers={"user-agent": BROWSER_UA})
                assert answer.status_code == 302
            stats = await surge.stats(slug, key)
            assert (stats["total"], stats["unique_visitors"]) == (3, 1)
            assert surge.analytics.clicks is not None
            async with surge.analytics.clicks.sessions() as session:
                in_sql = (await session.execute(select(func.count()).select_from(clicks))).scalar()
            assert in_sql == 0

            # The roll-up job runs in analytics from its start: a watermark is set.
            async def watermark_set() -> bool:
                progress = f"SELECT count() FROM {clickhouse.database}.rollup_progress"
                return bool((await clickhouse.rows(progress))[0][0])

            assert surge.analytics.rollups.running
            await wait_for(watermark_set, what="the roll-up job's first round")
            # ClickHouse out of reach: stats are a 503 to retry, redirects are unaffected.
            store = surge.analytics.clickhouse
            assert store is not None
            await store.client.aclose()
            store.client = httpx.AsyncClient(base_url="http://127.0.0.1:9/", timeout=1)
            try:
                answer = await surge.client.get(f"/api/v1/links/{slug}/stats", headers=key)
                assert (answer.status_code, answer.headers.get("retry-after")) == (503, "5")
                assert (await surge.client.get(f"/{slug}")).status_code == 302
            finally:
                await store.client.aclose()
                store.client = HttpClickHouse(url).client
        stored = await clickhouse.rows(f"SELECT count() FROM {clickhouse.database}.clicks")
        assert stored == [[4]]  # the click served during the outage too: none lost
    finally:
        await clickhouse.execute(f"DROP DATABASE IF EXISTS {clickhouse.database}")
        await clickhouse.aclose()
