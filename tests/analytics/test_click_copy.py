"""`surge migrate-clicks --to clickhouse`: the SQL database's raw clicks copied, resumable after
a stop, none twice, each link's totals checked (on clickhouse-server and on chdb)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete

from surge.analytics.click_copy import ClickCopy
from surge.analytics.clickhouse_repository import ClickHouseClicks
from surge.analytics.orphan_service import OrphanService
from surge.analytics.service import ClickService
from surge.data.tables import clicks
from surge.platform.clickhouse import ClickHouse
from surge.platform.db import SessionMaker
from tests.analytics.test_clickhouse_parity import orphan_events
from tests.analytics.test_clickhouse_repository import random_events, stored_rows


async def test_copy_resumes_after_a_stop_and_checks_each_links_totals(
    sqlite_sessions: SessionMaker, clickhouse: ClickHouse, now: datetime
) -> None:
    sql = ClickService(sqlite_sessions)
    events = random_events(now, 250, seed=21)
    orphans = orphan_events(now, 30)
    await sql.ingest(events + orphans)
    # Link 3's raw clicks expired (retention): they live on in the rollups only.
    expired = sum(e.link_id == 3 for e in events)
    async with sqlite_sessions.begin() as session:
        await session.execute(delete(clicks).where(clicks.c.link_id == 3))
    copier = ClickCopy(sqlite_sessions.kw["bind"], ClickHouseClicks(clickhouse))
    first = await copier.copy(page=60, max_pages=2)  # stopped after two pages
    assert (first.read, first.copied) == (120, 120)
    # Stopped between a page's INSERT and its progress row: that page is read again.
    await clickhouse.execute(f"DROP TABLE {clickhouse.database}.click_copy_progress")
    rest = await copier.copy(page=60)
    assert (rest.read, rest.copied) == (250 - expired, 130 - expired)
    assert await stored_rows(clickhouse) == 250 - expired  # none twice
    checked = await copier.verify(rest)
    assert checked.links_checked == 3
    assert checked.mismatched == {3: (expired, 0)}  # said, link by link
    again = await copier.copy(page=60)
    assert (again.read, again.copied) == (0, 0)
    # Orphan visits too, all of them every run, none twice.
    assert await copier.copy_orphans(page=7) == len(orphans)
    assert await copier.copy_orphans(page=7) == 0
    assert (
        await OrphanService(sqlite_sessions, copier.store).counts()
        == await OrphanService(sqlite_sessions).counts()
    )
