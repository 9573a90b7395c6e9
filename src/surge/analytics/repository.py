"""All SQL of the analytics service: set-based ingest, and stats that read only rollups."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from surge.analytics.enrich import DIRECT, UNKNOWN_COUNTRY, Click
from surge.analytics.ingest_sql import POSTGRES_INGEST, POSTGRES_STAGING, STAGING_TABLE
from surge.data.tables import clicks, daily_breakdowns, daily_visitors, hourly_clicks
from surge.data.types import EpochSeconds, UTCDateTime
from surge.platform.db import dialect_insert

VISITORS = "visitors"  # the daily_breakdowns dimension that counts unique visitors
HourKey = tuple[int, datetime, bool]
DayKey = tuple[int, str, date, str, bool]


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def dimension_values(click: Click) -> dict[str, str]:
    """The value a click counts for in each breakdown (the one home of these defaults)."""
    return {
        "referrer": click.referrer_host or DIRECT,
        "country": click.country or UNKNOWN_COUNTRY,
        "device": click.device,
        "browser": click.browser,
        "os": click.os,
    }


def rollup_deltas(new_clicks: Sequence[Click]) -> tuple[Counter[HourKey], Counter[DayKey]]:
    """What newly stored clicks add to the hourly totals and the daily breakdowns."""
    hourly: Counter[HourKey] = Counter()
    daily: Counter[DayKey] = Counter()
    for click in new_clicks:
        hourly[(click.link_id, hour_of(click.occurred_at), click.is_bot)] += 1
        day = click.occurred_at.date()
        for dimension, value in dimension_values(click).items():
            daily[(click.link_id, dimension, day, value, click.is_bot)] += 1
    return hourly, daily


class ClickRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ingest(self, batch: Sequence[Click]) -> int:
        """Store the clicks not stored before, and add exactly those to the rollups and the
        visitor counters; return how many were new. Idempotent by click id."""
        if not batch:
            return 0
        if self.session.get_bind().dialect.name == "postgresql":
            return await self._ingest_postgres(batch)
        return await self._ingest_portable(batch)

    async def _ingest_postgres(self, batch: Sequence[Click]) -> int:
        # COPY into a temporary staging table, then one statement inserts the new clicks and
        # upserts every rollup from them, set-based: the cost per batch is a handful of round
        # trips, whatever the batch size, and rows are locked in key order (no deadlocks).
        connection = await self.session.connection()
        # Through SQLAlchemy first, so that its transaction is open: COPY must land in it (the
        # staging table empties at commit), not in a transaction of its own.
        await connection.exec_driver_sql(POSTGRES_STAGING)
        raw: Any = (await connection.get_raw_connection()).driver_connection
        await raw.copy_records_to_table(STAGING_TABLE, records=batch, columns=Click._fields)
        result = await connection.exec_driver_sql(POSTGRES_INGEST, (DIRECT, UNKNOWN_COUNTRY))
        return int(result.scalar_one())

    async def _ingest_portable(self, batch: Sequence[Click]) -> int:
        # SQLite: each statement is compiled once and run with a list of rows (executemany,
        # sent in multi-row batches by SQLAlchemy's "insertmanyvalues").
        by_id = {click.id: click for click in batch}
        stmt = (
            dialect_insert(self.session, clicks)
            # The primary key: an event's occurred_at is fixed at the redirect, so a
            # redelivered event conflicts on (id, occurred_at) like it would on id alone.
            .on_conflict_do_nothing(index_elements=["id", "occurred_at"])
            .returning(clicks.c.id)
        )
        result = await self.session.execute(stmt, [c._asdict() for c in by_id.values()])
        new = [by_id[row_id] for row_id in result.scalars()]
        if not new:
            return 0
        hourly, daily = rollup_deltas(new)
        for (link_id, day), n in (await self._new_visitors(new)).items():
            daily[(link_id, VISITORS, day, "", False)] += n
        await self._upsert(hourly_clicks, ("link_id", "bucket", "is_bot"), hourly)
        await self._upsert(
            daily_breakdowns, ("link_id", "dimension", "day", "value", "is_bot"), daily
        )
        return len(new)

    async def _new_visitors(self, new_clicks: Sequence[Click]) -> Counter[tuple[int, date]]:
        """Insert the (link, day, visitor) rows not seen before; count them per link and day."""
        rows = sorted(
            {(c.link_id, c.occurred_at.date(), c.visitor_id) for c in new_clicks if not c.is_bot}
        )
        if not rows:
            return Counter()
        stmt = (
            dialect_insert(self.session, daily_visitors)
            .on_conflict_do_nothing()
            .returning(daily_visitors.c.link_id, daily_visitors.c.day)
        )
        result = await self.session.execute(
            stmt, [{"link_id": a, "day": d, "visitor_id": v} for a, d, v in rows]
        )
        return Counter((link_id, day) for link_id, day in result)

    async def _upsert(self, table: Any, key: tuple[str, ...], deltas: Counter[Any]) -> None:
        # Sorted keys: concurrent ingests take row locks in one order, so they cannot deadlock.
        rows = [
            dict(zip((*key, "clicks"), (*k, n), strict=True)) for k, n in sorted(deltas.items())
        ]
        stmt = dialect_insert(self.session, table)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(key), set_={"clicks": table.c.clicks + stmt.excluded.clicks}
        )
        await self.session.execute(stmt, rows)


def _stats_queries() -> dict[str, Any]:
    """The stats queries, built once with bound parameters: building a statement costs about
    as much Python time as running it, and a stats request sends three."""
    link_id = bindparam("link_id", type_=BigInteger())
    start, end = bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())
    step = bindparam("step", type_=BigInteger())
    hours = (
        hourly_clicks.c.link_id == link_id,
        hourly_clicks.c.bucket >= start,
        hourly_clicks.c.bucket < end,
    )
    totals = (
        select(hourly_clicks.c.is_bot, func.sum(hourly_clicks.c.clicks))
        .where(*hours)
        .group_by(hourly_clicks.c.is_bot)
    )
    slot = (EpochSeconds(hourly_clicks.c.bucket) // step) * step
    series = (
        select(slot, func.sum(hourly_clicks.c.clicks))
        .where(*hours, hourly_clicks.c.is_bot.is_(False))
        .group_by(slot)
    )
    clicks_sum = func.sum(daily_breakdowns.c.clicks)
    ranked = (
        select(
            daily_breakdowns.c.dimension,
            daily_breakdowns.c.value,
            clicks_sum.label("n"),
            func.row_number()
            .over(
                partition_by=daily_breakdowns.c.dimension,
                order_by=(clicks_sum.desc(), daily_breakdowns.c.value),
            )
            .label("rank"),
        )
        .where(
            daily_breakdowns.c.link_id == link_id,
            daily_breakdowns.c.dimension.in_(bindparam("dimensions", expanding=True)),
            daily_breakdowns.c.day >= bindparam("first", type_=Date()),
            daily_breakdowns.c.day <= bindparam("last", type_=Date()),
            daily_breakdowns.c.is_bot.is_(False),
        )
        .group_by(daily_breakdowns.c.dimension, daily_breakdowns.c.value)
        .subquery()
    )
    breakdowns = (
        select(ranked.c.dimension, ranked.c.value, ranked.c.n)
        .where(ranked.c.rank <= bindparam("limit", type_=BigInteger()))
        .order_by(ranked.c.dimension, ranked.c.rank)
    )
    return {"totals": totals, "series": series, "breakdowns": breakdowns}


STATS_QUERIES = _stats_queries()


class StatsRepository:
    """Every query reads one rollup's rows in a range of its key: at most one row per bucket
    (and per value), however many clicks the link has."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _rows(self, query: str, **params: Any) -> Sequence[Any]:
        # .all() fetches in one go; iterating a result fetches row by row (3x slower here).
        return (await self.session.execute(STATS_QUERIES[query], params)).all()

    async def totals(self, link_id: int, start: datetime, end: datetime) -> dict[bool, int]:
        rows = await self._rows("totals", link_id=link_id, start=hour_of(start), end=end)
        return {bool(is_bot): int(n) for is_bot, n in rows}

    async def series(
        self, link_id: int, start: datetime, end: datetime, step_s: int
    ) -> dict[int, int]:
        """Human clicks per `step_s` slot of the range that has any, keyed by the slot's start
        in epoch seconds."""
        rows = await self._rows(
            "series", link_id=link_id, start=hour_of(start), end=end, step=step_s
        )
        return {int(ts): int(n) for ts, n in rows}

    async def breakdowns(
        self, link_id: int, dimensions: Sequence[str], first: date, last: date, limit: int
    ) -> dict[str, list[tuple[str, int]]]:
        """The `limit` values with the most human clicks in each dimension over the days
        [first, last], most first (ties by value): one read of those dimensions' rows."""
        rows = await self._rows(
            "breakdowns",
            link_id=link_id,
            dimensions=list(dimensions),
            first=first,
            last=last,
            limit=limit,
        )
        found: dict[str, list[tuple[str, int]]] = {d: [] for d in dimensions}
        for dimension, value, n in rows:
            found[dimension].append((value, int(n)))
        return found

    async def all_time_clicks(self, link_id: int) -> int:
        result = await self.session.execute(
            select(func.coalesce(func.sum(hourly_clicks.c.clicks), 0)).where(
                hourly_clicks.c.link_id == link_id
            )
        )
        return int(result.scalar_one())
