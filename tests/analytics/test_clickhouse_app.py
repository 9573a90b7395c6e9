"""Surge with SURGE_CLICKHOUSE_URL set: analytics creates the click store when it migrates, the
redirect's clicks land there (not in the SQL database), and the public stats read them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from surge.data.tables import clicks
from surge.platform.clickhouse import HttpClickHouse
from tests.clickhouse import new_database
from tests.conftest import running_surge
from tests.helpers import BROWSER_UA, make_settings


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
        stored = await clickhouse.rows(f"SELECT count() FROM {clickhouse.database}.clicks")
        assert stored == [[3]]
    finally:
        await clickhouse.execute(f"DROP DATABASE IF EXISTS {clickhouse.database}")
        await clickhouse.aclose()
