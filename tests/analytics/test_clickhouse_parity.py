"""The same clicks into the embedded SQL store and into ClickHouse: every answer of the click
service is the same, stats byte for byte (from raw clicks, then with sealed days rolled up), on
clickhouse-server and on chdb."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from surge.analytics.clickhouse_repository import ClickHouseClicks
from surge.analytics.exports import VisitExporter
from surge.analytics.geoip import GeoIP
from surge.analytics.orphan_service import OrphanService
from surge.analytics.overview import ClickOverview
from surge.analytics.service import ClickService
from surge.data.contracts import VisitsQuery
from surge.data.events import ClickEvent
from surge.data.orphans import ORPHAN_KINDS, ORPHAN_LINK_ID, OrphanVisitsQuery, orphan_slug
from surge.data.overview import DailySeriesQuery, OverviewQuery, RankingQuery
from surge.data.visit_export import VisitChunk
from surge.platform.clickhouse import ClickHouse
from surge.platform.db import SessionMaker
from tests.analytics.test_clickhouse_repository import random_events
from tests.geoip_files import WORLD, write_mmdb
from tests.helpers import BROWSER_UA, GOOGLEBOT

LINKS = [1, 2, 3, 4]  # 4 has no clicks


async def answers(clicks: ClickService, now: datetime, links: list[int]) -> list[object]:
    """Everything the service answers about the links, in comparable form (ranges explicit:
    the clock ticks between the two stores' calls)."""
    found: list[object] = []
    ranges = [
        (now - timedelta(days=7), now),
        (now - timedelta(days=2, minutes=17), now - timedelta(hours=5, minutes=1)),
    ]
    for link_id in links:
        for start, end in ranges if link_id == links[0] else ranges[:1]:
            for interval in ("hour", "day"):
                found.append(await clicks.link_stats_json(link_id, start, end, interval))
        found.append(await clicks.click_count(link_id))
    # Few values listed: ties at the cut are broken alike (by value).
    found.append(await clicks.link_stats_json(links[0], *ranges[0], "day", top=2))
    found.append((await clicks.visit_counts(LINKS)).model_dump())
    for query in (
        VisitsQuery(link_ids=LINKS, limit=50),
        VisitsQuery(link_ids=[1, 3], exclude_bots=True, offset=7, limit=20),
        VisitsQuery(link_ids=[2], start=now - timedelta(days=1), end=now, limit=5000),
    ):
        found.append((await clicks.visits(query)).model_dump())
    overview = ClickOverview(clicks.sessions, clicks.clickhouse)
    for ids, interval in ((None, "hour"), ([links[0], 4], "day")):
        query = OverviewQuery(
            link_ids=ids, start=ranges[1][0], end=ranges[1][1], interval=interval, top=2
        )
        found.append((await overview.overview(query)).model_dump())
    found.append((await overview.ranking(RankingQuery(link_ids=LINKS, limit=3))).model_dump())
    daily = DailySeriesQuery(link_ids=LINKS, first=(now - timedelta(days=4)).date(), days=5)
    found.append((await overview.daily_series(daily)).model_dump())
    orphans = OrphanService(clicks.sessions, clicks.clickhouse)
    for domain in (None, "go.example.com"):
        found.append(await orphans.stats_json(*ranges[0], "hour", domain, top=3))
    found.append((await orphans.counts()).model_dump())
    for orphan_query in (
        OrphanVisitsQuery(limit=30),
        OrphanVisitsQuery(kind="regular_404", exclude_bots=True, offset=2, limit=5),
        OrphanVisitsQuery(domain="go.example.com", start=now - timedelta(days=2), end=now),
    ):
        found.append((await orphans.visits(orphan_query)).model_dump())
    exporter = VisitExporter(clicks.sessions, clicks.clickhouse)
    for link_id in links:  # every page of the export, through its cursors
        after = None
        while True:
            page = await exporter.chunk_json(link_id, start=None, end=now, after=after, limit=40)
            found.append(page)  # the bytes the api reads
            chunk = VisitChunk.model_validate_json(page)
            if chunk.next is None:
                break
            after = chunk.next
    return found


def orphan_events(now: datetime, count: int) -> list[ClickEvent]:
    """Visits to no link, on two domains and of every kind, some of them bots."""
    rng = random.Random(count)
    return [
        ClickEvent(
            id=uuid.UUID(int=rng.getrandbits(128)).hex,
            link_id=ORPHAN_LINK_ID,
            slug=orphan_slug(rng.choice(["", "go.example.com"]), rng.choice(["/", "/x", "/old"])),
            ts=(now - timedelta(hours=rng.randint(0, 60), minutes=rng.randint(0, 59))).timestamp(),
            referrer=rng.choice([None, "https://t.co/x"]),
            user_agent=rng.choice([BROWSER_UA, GOOGLEBOT]),
            country=rng.choice([None, "NL"]),
            visitor=f"v{rng.randint(1, 9)}",
            target=rng.choice([None, *sorted(ORPHAN_KINDS)]),
        )
        for _ in range(count)
    ]


def differing(got: list[object], expected: list[object]) -> list[int]:
    return [i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b]


async def test_the_sql_store_and_clickhouse_answer_alike(
    sqlite_sessions: SessionMaker, clickhouse: ClickHouse, tmp_path: Path, now: datetime
) -> None:
    world = write_mmdb(tmp_path / "world.mmdb", WORLD)
    sql = ClickService(sqlite_sessions, GeoIP(world))
    ch = ClickService(sqlite_sessions, GeoIP(world), clickhouse=ClickHouseClicks(clickhouse))
    events = random_events(now, 400, seed=5) + orphan_events(now, 60)
    for clicks in (sql, ch):
        for start in range(0, len(events), 100):  # overlapping batches, as the stream delivers
            await clicks.ingest(events[max(0, start - 30) : start + 100])
    expected = await answers(sql, now, LINKS)
    assert (await OrphanService(sql.sessions).counts()).humans > 0
    assert any(b'"cities":[{' in a for a in expected if isinstance(a, bytes))  # GeoIP located
    assert differing(await answers(ch, now, LINKS), expected) == []
    # And with the sealed days read from rollups.
    store = ch.clickhouse
    assert store is not None
    assert await store.rollups.roll_up(now)
    assert differing(await answers(ch, now, LINKS), expected) == []
    # And after a deletion of one link's visits, with clicks arriving after it.
    assert await ch.delete_visits(2) == await sql.delete_visits(2)
    assert (
        await OrphanService(ch.sessions, ch.clickhouse).delete_all()
        == await OrphanService(sql.sessions).delete_all()
    )
    later = random_events(now + timedelta(minutes=5), 50, seed=6)
    later = [
        e for e in later + orphan_events(now + timedelta(minutes=5), 10) if e.ts > now.timestamp()
    ]
    for clicks in (sql, ch):
        await clicks.ingest(later)
    later_on = now + timedelta(hours=1)
    expected = await answers(sql, later_on, [2])
    assert differing(await answers(ch, later_on, [2]), expected) == []
