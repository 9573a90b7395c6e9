"""Deleting a link's visits: raw clicks, rollups and unique visitors all go, other links keep
theirs, late arrivals from before the deletion are dropped, and clicks after it count."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import func, select

from surge.analytics.service import ClickService
from surge.data.contracts import VisitsQuery
from surge.data.tables import clicks as click_rows
from surge.data.tables import daily_breakdowns, daily_visitors, hourly_clicks
from surge.platform.clock import utc_now
from tests.conftest import Surge
from tests.helpers import LINKS, event


async def rows_of(service: ClickService, link_id: int) -> dict[str, int]:
    """How many rows of each table the link has."""
    found = {}
    async with service.sessions() as session:
        for table in (click_rows, hourly_clicks, daily_breakdowns, daily_visitors):
            query = select(func.count()).select_from(table).where(table.c.link_id == link_id)
            found[table.name] = int((await session.execute(query)).scalar_one())
    return found


async def test_a_deletion_forgets_the_links_clicks_and_drops_late_ones(
    clicks: ClickService,
) -> None:
    now = utc_now()
    await clicks.ingest(
        [event(1, visitor=f"v{i}", at=now - timedelta(hours=i)) for i in range(5)]
        + [event(2, at=now)]
    )
    assert await clicks.delete_visits(1) == 5
    assert set((await rows_of(clicks, 1)).values()) == {0}
    assert (await rows_of(clicks, 2))["clicks"] == 1  # another link keeps its own
    assert (await clicks.link_stats(2, None, None, "day")).total == 1

    # A click of before the deletion, arriving late (a spool replayed), stays deleted;
    # one after it counts, with its visitor, as on a fresh link.
    late = await clicks.ingest([event(1, at=now - timedelta(minutes=5))])
    assert late.ingested == 0
    after = await clicks.ingest([event(1, visitor="new", at=utc_now() + timedelta(seconds=2))])
    assert after.ingested == 1
    stats = await clicks.link_stats(1, now - timedelta(days=1), now + timedelta(hours=1), "day")
    assert (stats.total, stats.unique_visitors) == (1, 1)
    # Deleting again forgets that one too; then there is nothing left to delete.
    assert await clicks.delete_visits(1) == 1
    assert await clicks.delete_visits(1) == 0
    assert set((await rows_of(clicks, 1)).values()) == {0}


async def test_deleting_visits_while_clicks_keep_arriving_leaves_exact_stats(
    surge: Surge, key: dict[str, str]
) -> None:
    made = await surge.client.post(
        LINKS, json={"url": "https://e.com/", "slug": "del"}, headers=key
    )
    assert made.status_code == 201
    for _ in range(30):
        await surge.client.get("/del")
    assert (await surge.stats("del", key))["total"] == 30

    sent: list[tuple[datetime, datetime]] = []  # each redirect's start and end
    deleted_at: list[datetime] = []
    stop = asyncio.Event()

    async def keep_clicking() -> None:
        while not stop.is_set():
            started = utc_now()
            await surge.client.get("/del")
            sent.append((started, utc_now()))
            await asyncio.sleep(0)

    clicking = asyncio.create_task(keep_clicking())
    await asyncio.sleep(0.05)
    asked = utc_now()
    deletion = await surge.client.delete(f"{LINKS}/del/visits", headers=key)
    deleted_at.append(utc_now())
    await asyncio.sleep(0.05)
    stop.set()
    await clicking
    assert deletion.status_code == 200, deletion.text
    assert deletion.json()["deleted_visits"] >= 30

    stats = await surge.stats("del", key, **{"from": (asked - timedelta(days=1)).isoformat()})
    # A redirect that started after the deletion answered counts; one that overlapped it may
    # fall on either side of the cut-off; the rest were deleted.
    surely_after = sum(1 for started, _ in sent if started > deleted_at[0])
    maybe = sum(1 for started, ended in sent if started <= deleted_at[0] and ended >= asked)
    assert surely_after <= stats["total"] <= surely_after + maybe
    # The rollups and the raw clicks agree exactly, and nothing before the cut-off is left.
    link = await surge.links.get(None, "del")
    page = await surge.links.visits(VisitsQuery(link_ids=[link.id], limit=5000))
    assert page.total == stats["total"]
    assert all(v.occurred_at >= asked for v in page.items)
