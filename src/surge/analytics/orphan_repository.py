"""All SQL of orphan visits (surge.data.orphans): ingest, their stats, their raw page, deletion.

Totals and the series read the one rollup (per hour, domain and kind); breakdowns, top paths and
unique visitors count the raw rows of the range, which retention bounds (and the per-IP limit
of the redirect bounds what one client adds)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Date, Select, cast, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from surge.analytics.enrich import DIRECT, UNKNOWN_COUNTRY
from surge.analytics.ingest_sql import POSTGRES_DELETION_LOCK, POSTGRES_INGEST_LOCK
from surge.analytics.repository import hour_of
from surge.data.orphans import ORPHAN_LINK_ID
from surge.data.tables import hourly_orphan_visits, orphan_visits, visit_deletions
from surge.data.types import EpochSeconds
from surge.platform.db import dialect_insert

INSERT_CHUNK = 1000  # rows per INSERT: 14 parameters each, under SQLite's 32,766


class OrphanVisit(NamedTuple):
    """An orphan visit as stored: the columns of `orphan_visits`, in order."""

    id: str
    occurred_at: datetime
    domain: str
    path: str
    kind: str
    referrer_host: str | None
    country: str | None
    region: str | None
    city: str | None
    device: str
    browser: str
    os: str
    is_bot: bool
    visitor_id: str


def _labels() -> dict[str, ColumnElement[Any]]:
    """What each breakdown counts by, as stats show it (as the links' rollups label them)."""
    v = orphan_visits.c
    with_country = func.coalesce(", " + v.country, "")
    return {
        "referrer": func.coalesce(v.referrer_host, DIRECT),
        "country": func.coalesce(v.country, UNKNOWN_COUNTRY),
        "region": func.substr(v.region + with_country, 1, 255),
        "city": func.substr(v.city + func.coalesce(", " + v.region, "") + with_country, 1, 255),
        "device": v.device,
        "browser": v.browser,
        "os": v.os,
        "path": v.domain + v.path,
    }


BREAKDOWN_LABELS = _labels()


class OrphanRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    # --- ingest --------------------------------------------------------------------------------

    async def ingest(self, batch: Sequence[OrphanVisit]) -> int:
        """Store the visits not stored before (by id) and add exactly those to the rollup;
        those from before the last deletion of orphan visits are dropped. How many were new."""
        if not batch:
            return 0
        if self._postgres():  # a deletion waits for this batch, or this batch for it
            await (await self.session.connection()).exec_driver_sql(POSTGRES_INGEST_LOCK)
        cut_off = await self._deleted_before()
        rows = sorted(
            (v for v in batch if cut_off is None or v.occurred_at >= cut_off),
            key=lambda v: (v.id, v.occurred_at),  # key order: concurrent batches cannot deadlock
        )
        added: Counter[tuple[datetime, str, str, bool]] = Counter()
        for first in range(0, len(rows), INSERT_CHUNK):
            chunk = [v._asdict() for v in rows[first : first + INSERT_CHUNK]]
            statement = (
                dialect_insert(self.session, orphan_visits)
                .values(chunk)
                .on_conflict_do_nothing()
                .returning(
                    orphan_visits.c.occurred_at,
                    orphan_visits.c.domain,
                    orphan_visits.c.kind,
                    orphan_visits.c.is_bot,
                )
            )
            for occurred_at, domain, kind, is_bot in await self.session.execute(statement):
                added[(hour_of(occurred_at), domain, kind, bool(is_bot))] += 1
        if added:
            values = [
                {"bucket": b, "domain": d, "kind": k, "is_bot": bot, "visits": n}
                for (b, d, k, bot), n in sorted(added.items())
            ]
            upsert = dialect_insert(self.session, hourly_orphan_visits).values(values)
            await self.session.execute(
                upsert.on_conflict_do_update(
                    index_elements=["bucket", "domain", "kind", "is_bot"],
                    set_={"visits": hourly_orphan_visits.c.visits + upsert.excluded.visits},
                )
            )
        return sum(added.values())

    async def _deleted_before(self) -> datetime | None:
        found = await self.session.execute(
            select(visit_deletions.c.before).where(visit_deletions.c.link_id == ORPHAN_LINK_ID)
        )
        before: datetime | None = found.scalar_one_or_none()
        return before

    # --- deletion ------------------------------------------------------------------------------

    async def delete_all(self, now: Callable[[], datetime]) -> tuple[int, datetime]:
        """Delete every orphan visit ingested so far from the rollup and keep the cut-off, so
        that ingest drops any from before it that arrives late: (what the stats counted, bots
        too; the cut-off). Raw rows before the cut-off go next, in a transaction of their own
        (`delete_raw_before`), as a link's visits do: that delete must not hold ingest back."""
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            await connection.exec_driver_sql(POSTGRES_DELETION_LOCK)
        cut_off = now()
        counted = (
            await self.session.execute(
                select(func.coalesce(func.sum(hourly_orphan_visits.c.visits), 0))
            )
        ).scalar_one()
        await self.session.execute(
            delete(visit_deletions).where(visit_deletions.c.link_id == ORPHAN_LINK_ID)
        )
        await self.session.execute(
            insert(visit_deletions).values(link_id=ORPHAN_LINK_ID, before=cut_off)
        )
        await self.session.execute(delete(hourly_orphan_visits))
        # Stamped after the cut-off yet ingested already (a redirect's clock ahead): counted,
        # so deleted now, raw too.
        await self.session.execute(
            delete(orphan_visits).where(orphan_visits.c.occurred_at >= cut_off)
        )
        return int(counted), cut_off

    async def delete_raw_before(self, before: datetime) -> None:
        await self.session.execute(
            delete(orphan_visits).where(orphan_visits.c.occurred_at < before)
        )

    # --- stats ---------------------------------------------------------------------------------

    async def hourly(
        self, start: datetime, end: datetime, domain: str | None
    ) -> list[tuple[int, str, bool, int]]:
        """(hour in epoch seconds, kind, bot, visits) of the range's hours that have any."""
        h = hourly_orphan_visits.c
        query = (
            select(EpochSeconds(h.bucket), h.kind, h.is_bot, func.sum(h.visits))
            .where(h.bucket >= hour_of(start), h.bucket < end)
            .group_by(h.bucket, h.kind, h.is_bot)
        )
        if domain is not None:
            query = query.where(h.domain == domain)
        rows = (await self.session.execute(query)).all()
        return [(int(ts), kind, bool(bot), int(n)) for ts, kind, bot, n in rows]

    def _raw_range(
        self, query: Select[Any], start: datetime, end: datetime, domain: str | None
    ) -> Select[Any]:
        v = orphan_visits.c
        query = query.where(v.occurred_at >= start, v.occurred_at < end, v.is_bot.is_(False))
        return query if domain is None else query.where(v.domain == domain)

    async def breakdowns(
        self, start: datetime, end: datetime, domain: str | None, limit: int
    ) -> dict[str, list[tuple[str, int]]]:
        """The `limit` values with the most human visits in each breakdown, most first (ties
        by value), from the range's raw rows."""
        found: dict[str, list[tuple[str, int]]] = {}
        for name, label in BREAKDOWN_LABELS.items():
            n = func.count()
            query = self._raw_range(
                select(label.label("value"), n.label("n")), start, end, domain
            ).where(label.is_not(None))
            query = query.group_by(label).order_by(n.desc(), label).limit(limit)
            rows = (await self.session.execute(query)).all()
            found[name] = [(str(value), int(count)) for value, count in rows]
        return found

    async def unique_visitors(self, start: datetime, end: datetime, domain: str | None) -> int:
        """Distinct visitors per UTC day, summed over the range's days (as a link's)."""
        v = orphan_visits.c
        day: ColumnElement[Any] = (
            cast(func.timezone("UTC", v.occurred_at), Date)
            if self._postgres()
            else func.date(v.occurred_at)
        )
        # A visitor id "" is a visitor who asked not to be tracked (Sec-GPC, DNT): no one.
        known = select(day.label("day"), v.visitor_id).where(v.visitor_id != "")
        pairs = self._raw_range(known, start, end, domain)
        counted = select(func.count()).select_from(pairs.distinct().subquery())
        return int((await self.session.execute(counted)).scalar_one())

    async def totals(self) -> tuple[int, int]:
        """(human, bot) orphan visits so far, from the rollup."""
        h = hourly_orphan_visits.c
        rows = await self.session.execute(select(h.is_bot, func.sum(h.visits)).group_by(h.is_bot))
        found = {bool(bot): int(n) for bot, n in rows}
        return found.get(False, 0), found.get(True, 0)

    # --- raw visits ----------------------------------------------------------------------------

    async def page(
        self,
        *,
        domain: str | None,
        kind: str | None,
        start: datetime | None,
        end: datetime | None,
        exclude_bots: bool,
        offset: int,
        limit: int,
    ) -> tuple[int, list[Any]]:
        """(matching visits, one page of them newest first)."""
        v = orphan_visits.c
        where: list[ColumnElement[bool]] = []
        if domain is not None:
            where.append(v.domain == domain)
        if kind is not None:
            where.append(v.kind == kind)
        if start is not None:
            where.append(v.occurred_at >= start)
        if end is not None:
            where.append(v.occurred_at <= end)
        if exclude_bots:
            where.append(v.is_bot.is_(False))
        total = (
            await self.session.execute(
                select(func.count()).select_from(orphan_visits).where(*where)
            )
        ).scalar_one()
        columns = [c for c in orphan_visits.c if c.name not in ("id", "visitor_id")]
        rows = (
            await self.session.execute(
                select(*columns)
                .where(*where)
                .order_by(v.occurred_at.desc(), v.id.desc())
                .offset(offset)
                .limit(limit)
            )
        ).all()
        return int(total), list(rows)
