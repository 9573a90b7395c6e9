"""`surge migrate` makes the ClickHouse click store's database and tables, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from surge.cli import _migrate, _migrate_clicks
from surge.cli_support import CliError
from surge.platform.clickhouse import HttpClickHouse, literal
from tests.clickhouse import new_database
from tests.helpers import make_settings


async def test_migrate_creates_the_database_and_its_tables_when_missing(
    clickhouse_server_url: str, tmp_path: Path
) -> None:
    url = f"{clickhouse_server_url}/{new_database()}"
    settings = make_settings(tmp_path, clickhouse_url=url)
    clickhouse = HttpClickHouse(url)
    try:
        await _migrate(settings)
        await clickhouse.insert(
            f"{clickhouse.database}.visit_deletions", [{"link_id": 1, "before_us": 5}]
        )
        # An install from before sealed hours (ADR 0015) has none of their tables: migrate
        # adds them (the job then seals hours from the day watermark on: nothing to rebuild).
        for table in ("click_hour_rollups", "click_hour_visitors", "hour_rollup_progress"):
            await clickhouse.execute(f"DROP TABLE {clickhouse.database}.{table}")
        await _migrate(settings)  # again: nothing changes, nothing is lost
        tables = await clickhouse.rows(
            f"SELECT name FROM system.tables WHERE database = {literal(clickhouse.database)} "
            "ORDER BY name"
        )
        assert tables == [
            ["click_hour_rollups"],
            ["click_hour_visitors"],
            ["click_rollups"],
            ["clicks"],
            ["hour_rollup_progress"],
            ["orphan_visits"],
            ["rollup_progress"],
            ["visit_deletions"],
        ]
        kept = await clickhouse.rows(f"SELECT count() FROM {clickhouse.database}.visit_deletions")
        assert kept == [[1]]
        # And `surge migrate-clicks --to clickhouse` on it: nothing to copy, nothing differs.
        assert await _migrate_clicks(settings, 1000) == [
            "copied 0 clicks (0 read; the rest were there already)",
            "checked 0 links' totals: 0 differ",
            "copied 0 orphan visits",
        ]
    finally:
        await clickhouse.execute(f"DROP DATABASE IF EXISTS {clickhouse.database}")
        await clickhouse.aclose()


async def test_migrate_clicks_needs_clickhouse(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="SURGE_CLICKHOUSE_URL is not set"):
        await _migrate_clicks(make_settings(tmp_path), 1000)
