"""Orphan visits at ingest: each counted once however often it is delivered, beside the clicks
of the same batch; dropped when deleted before they arrived; their raw rows under the clicks'
retention with the rollup kept; on both backends (`clicks` is the backend's ClickService)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select

from surge.analytics.orphan_service import OrphanService
from surge.analytics.retention import expire_raw_clicks
from surge.analytics.service import ClickService
from surge.data.events import ClickEvent, pack_batch, unpack_batch
from surge.data.orphans import ORPHAN_LINK_ID, OrphanStats, OrphanVisitsQuery, orphan_slug
from surge.data.tables import hourly_orphan_visits, orphan_visits
from surge.platform.clock import utc_now
from tests.helpers import BROWSER_UA, GOOGLEBOT, event


def orphan(
    path: str,
    kind: str | None,
    *,
    at: datetime | None = None,
    ua: str = BROWSER_UA,
    domain: str = "",
) -> ClickEvent:
    return ClickEvent(
        id=uuid.uuid4().hex,
        link_id=ORPHAN_LINK_ID,
        slug=orphan_slug(domain, path),
        ts=(at or utc_now()).timestamp(),
        referrer="https://news.example.org/a",
        user_agent=ua,
        country="NL",
        visitor=f"v{len(path)}",
        target=kind,
    )


async def stats(clicks: ClickService, **kw: str) -> OrphanStats:
    now = utc_now()
    body = await OrphanService(clicks.sessions).stats_json(
        now - timedelta(days=1), now + timedelta(hours=1), "hour", kw.get("domain")
    )
    return OrphanStats.model_validate_json(body)


async def rows(clicks: ClickService, table: object) -> int:
    async with clicks.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def test_orphan_visits_count_once_however_often_delivered(clicks: ClickService) -> None:
    batch = [
        orphan("/", "base_url"),
        orphan("/typo", "invalid_short_url"),
        orphan("/typo", "invalid_short_url", ua=GOOGLEBOT),
        orphan("/a/b", "regular_404", domain="go.example.com"),
        event(7),
    ]
    assert (await clicks.ingest(batch)).ingested == 5
    again = await clicks.ingest(unpack_batch(pack_batch([tuple(e) for e in batch])))
    assert again.ingested == 0  # at-least-once delivery: the same events count once
    found = await stats(clicks)
    assert (found.total, found.bot_clicks, found.unique_visitors) == (3, 1, 3)
    assert {b.value: b.clicks for b in found.kinds} == {
        "base_url": 1,
        "invalid_short_url": 1,
        "regular_404": 1,
    }
    assert {b.value for b in found.paths} == {"/", "/typo", "go.example.com/a/b"}
    assert [b.value for b in found.referrers] == ["news.example.org"]
    assert (await stats(clicks, domain="go.example.com")).total == 1
    assert (await clicks.link_stats(7, None, None, "day")).total == 1  # the click, apart
    assert await rows(clicks, hourly_orphan_visits) <= 3 * 2 * 2  # kinds x bots x domains


async def test_a_path_of_any_characters_is_stored(clicks: ClickService) -> None:
    odd = "/\x00%zz/\u00e9t\u00e9/" + "x" * 400
    await clicks.ingest([orphan(odd, "regular_404"), orphan("/legacy", None)])
    page = await OrphanService(clicks.sessions).visits(OrphanVisitsQuery())
    paths = {v.path: v.kind for v in page.items}
    assert paths["/legacy"] == "regular_404"  # a row without its kind: the catch-all
    (long,) = [p for p in paths if p != "/legacy"]
    assert long.startswith("/\ufffd%zz/\u00e9t\u00e9/x")
    assert len(long) == 200


async def test_deleted_orphan_visits_stay_deleted(clicks: ClickService) -> None:
    now = utc_now()
    await clicks.ingest([orphan("/old", "invalid_short_url", at=now - timedelta(hours=2))] * 1)
    await clicks.ingest([orphan("/older", "regular_404", at=now - timedelta(hours=3))])
    service = OrphanService(clicks.sessions)
    assert (await service.delete_all()).deleted == 2
    assert (await rows(clicks, orphan_visits), await rows(clicks, hourly_orphan_visits)) == (0, 0)
    late = await clicks.ingest([orphan("/late", "regular_404", at=now - timedelta(minutes=1))])
    assert late.ingested == 0  # from before the deletion, delivered after it: dropped
    after = await clicks.ingest(
        [orphan("/new", "base_url", at=utc_now() + timedelta(seconds=2)), event(3)]
    )
    assert after.ingested == 2
    assert (await stats(clicks)).total == 1
    assert (await service.counts()).humans == 1


async def test_raw_orphan_visits_expire_with_raw_clicks_and_the_rollup_stays(
    clicks: ClickService,
) -> None:
    now = utc_now()
    await clicks.ingest(
        [
            orphan("/ancient", "regular_404", at=now - timedelta(days=20)),
            orphan("/recent", "regular_404", at=now - timedelta(days=1)),
        ]
    )
    engine = clicks.sessions.kw["bind"]
    expired = await expire_raw_clicks(engine, now, keep_days=5)
    assert expired.orphan_visits_deleted == 1
    page = await OrphanService(clicks.sessions).visits(OrphanVisitsQuery())
    assert [v.path for v in page.items] == ["/recent"]
    assert (await OrphanService(clicks.sessions).counts()).humans == 2  # the rollup stays
