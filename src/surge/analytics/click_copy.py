"""`surge migrate-clicks --to clickhouse`: the raw clicks (and orphan visits) of the SQL
database copied into the ClickHouse click store, a keyset page at a time in the order of the
clicks index (link, time, id), then each link's totals checked against the SQL rollups.

Resumable: the position after each page is kept in ClickHouse (`click_copy_progress`), and a
run starts after the last one kept. A page copied again (the run stopped between its INSERT and
its progress row) finds its clicks stored already and stores none twice, as ingest does.
Analytics may ingest into ClickHouse meanwhile: the copy and the stream meet at the same ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from surge.analytics.clickhouse_orphans import ClickHouseOrphans
from surge.analytics.clickhouse_repository import ClickHouseClicks, from_us, to_us
from surge.analytics.enrich import Click
from surge.analytics.orphan_repository import OrphanVisit
from surge.data.tables import clicks, hourly_clicks, orphan_visits

PAGE = 10_000


@dataclass(slots=True)
class CopyResult:
    copied: int = 0  # clicks stored in ClickHouse by this run
    read: int = 0  # clicks read from the SQL database by this run
    links_checked: int = 0
    # link id → (the SQL rollups' all-time clicks, ClickHouse's), where they differ (raw
    # clicks that retention expired live on only in the rollups, and are not copied).
    mismatched: dict[int, tuple[int, int]] = field(default_factory=dict)


class ClickCopy:
    def __init__(self, engine: AsyncEngine, store: ClickHouseClicks) -> None:
        self.engine = engine
        self.store = store
        self.ch = store.ch
        self.progress_table = f"{self.ch.database}.click_copy_progress"

    async def _ensure_progress(self) -> None:
        await self.ch.execute(
            f"CREATE TABLE IF NOT EXISTS {self.progress_table} "
            "(link_id UInt64, at_us Int64, id String) "
            "ENGINE = MergeTree() ORDER BY (link_id, at_us, id)"
        )

    async def position(self) -> tuple[int, datetime, str] | None:
        """The key of the last click copied by an earlier run, if any: the greatest kept, as
        every run copies in key order from where the one before stopped."""
        await self._ensure_progress()
        rows = await self.ch.rows(
            f"SELECT link_id, at_us, id FROM {self.progress_table} "
            "ORDER BY link_id DESC, at_us DESC, id DESC LIMIT 1"
        )
        if not rows:
            return None
        link_id, at_us, click_id = rows[0]
        return int(link_id), from_us(int(at_us)), str(click_id)

    async def total(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(clicks))).scalar_one())

    async def copy(
        self,
        *,
        page: int = PAGE,
        max_pages: int | None = None,
        progress: Callable[[int], object] = lambda _n: None,
    ) -> CopyResult:
        """Copy from where the last run stopped to the end (or `max_pages` pages); `progress`
        is told of each page's clicks read."""
        result = CopyResult()
        after = await self.position()
        key = tuple_(clicks.c.link_id, clicks.c.occurred_at, clicks.c.id)
        query = select(clicks).order_by(clicks.c.link_id, clicks.c.occurred_at, clicks.c.id)
        pages = 0
        while max_pages is None or pages < max_pages:
            statement = query if after is None else query.where(key > tuple_(*after))
            async with self.engine.connect() as conn:
                rows = (await conn.execute(statement.limit(page))).all()
            if not rows:
                break
            batch = [Click(*row) for row in rows]
            result.copied += len(await self.store.ingest_new(batch))
            result.read += len(batch)
            last = batch[-1]
            after = (last.link_id, last.occurred_at, last.id)
            await self.ch.insert(
                self.progress_table,
                [{"link_id": last.link_id, "at_us": to_us(last.occurred_at), "id": last.id}],
            )
            pages += 1
            progress(len(batch))
        return result

    async def copy_orphans(self, *, page: int = PAGE) -> int:
        """Every orphan visit (few, beside clicks), from the start each run: those stored
        already are skipped as at ingest. How many were stored."""
        orphans = ClickHouseOrphans(self.store)
        key = tuple_(orphan_visits.c.occurred_at, orphan_visits.c.id)
        query = select(orphan_visits).order_by(orphan_visits.c.occurred_at, orphan_visits.c.id)
        stored, after = 0, None
        while True:
            statement = query if after is None else query.where(key > tuple_(*after))
            async with self.engine.connect() as conn:
                rows = (await conn.execute(statement.limit(page))).all()
            if not rows:
                return stored
            batch = [OrphanVisit(*row) for row in rows]
            stored += await orphans.ingest(batch)
            after = (batch[-1].occurred_at, batch[-1].id)

    async def verify(self, result: CopyResult) -> CopyResult:
        """Each link's all-time clicks in the SQL rollups against ClickHouse's."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(hourly_clicks.c.link_id, func.sum(hourly_clicks.c.clicks)).group_by(
                    hourly_clicks.c.link_id
                )
            )
            expected = {int(link_id): int(n) for link_id, n in rows}
        found = await self.ch.rows(
            "SELECT link_id, count() FROM "
            + self.store.distinct_clicks("link_id", await self.store.links_where(None))
            + " GROUP BY link_id"
        )
        stored = {int(link_id): int(n) for link_id, n in found}
        result.links_checked = len(expected)
        result.mismatched = {
            link_id: (n, stored.get(link_id, 0))
            for link_id, n in sorted(expected.items())
            if stored.get(link_id, 0) != n
        }
        return result
