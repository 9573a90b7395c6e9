"""`surge export` with SURGE_CLICKHOUSE_URL set counts the clicks where they live."""

from __future__ import annotations

import io
import json
from pathlib import Path

from sqlalchemy import select

from surge.accounts.users import UserService
from surge.analytics.clickhouse_repository import ClickHouseClicks
from surge.analytics.clickhouse_schema import ensure_schema
from surge.analytics.service import ClickService
from surge.data.tables import links
from surge.platform.clickhouse import HttpClickHouse
from surge.platform.db import SessionMaker
from surge.transfer.service import TransferService
from tests.clickhouse import new_database
from tests.helpers import event, make_settings
from tests.transfer.test_import_export import ADMIN, SHLINK


async def test_export_counts_the_clicks_in_clickhouse(
    sqlite_sessions: SessionMaker, clickhouse_server_url: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, clickhouse_url=f"{clickhouse_server_url}/{new_database()}")
    assert settings.clickhouse_url is not None
    clickhouse = HttpClickHouse(settings.clickhouse_url)
    try:
        await ensure_schema(clickhouse)
        await UserService(sqlite_sessions).create(ADMIN, password="p" * 12, is_admin=True)
        transfer = TransferService(sqlite_sessions, settings)
        await transfer.import_links("shlink", SHLINK)  # launch comes with 1,234 visits
        async with sqlite_sessions() as session:
            ids = dict((await session.execute(select(links.c.slug, links.c.id))).all())
        clicks = ClickService(sqlite_sessions, clickhouse=ClickHouseClicks(clickhouse))
        await clicks.ingest([event(ids["guide"]) for _ in range(3)] + [event(ids["launch"])])
        out = io.StringIO()
        await transfer.export_links(out, "json")
        exported = {link["slug"]: link["clicks"] for link in json.loads(out.getvalue())["links"]}
        assert exported == {"guide": 3, "launch": 1235}
    finally:
        await clickhouse.execute(f"DROP DATABASE IF EXISTS {clickhouse.database}")
        await clickhouse.aclose()
