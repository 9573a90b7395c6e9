"""All SQL of the analytics service: set-based ingest, and stats that read only rollups."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    String,
    bindparam,
    cast,
    func,
    insert,
    select,
)
from sqlalchemy import delete as sqlalchemy_delete
from sqlalchemy.ext.asyncio import AsyncSession

from surge.analytics.enrich import DIRECT, UNKNOWN_COUNTRY, Click
from surge.analytics.ingest_sql import (
    POSTGRES_DELETION_LOCK,
    POSTGRES_INGEST,
    POSTGRES_INGEST_LOCK,
    POSTGRES_INGEST_NEW_IDS,
    POSTGRES_STAGING,
    SQLITE_BREAKDOWNS,
    SQLITE_COUNT_NEW,
    SQLITE_GROUP,
    SQLITE_KEEP_NEW,
    SQLITE_NEW_IDS,
    SQLITE_STAGE,
    SQLITE_STAGING,
    SQLITE_STORE,
    STAGING_TABLE,
)
from surge.data.tables import (
    clicks,
    daily_breakdowns,
    daily_visitors,
    hourly_clicks,
    visit_deletions,
)
from surge.data.types import EpochSeconds, UTCDateTime

VISITORS = "visitors"  # the daily_breakdowns dimension that counts unique visitors
HOUR_S = 3600


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


class ClickRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ingest(self, batch: Sequence[Click]) -> int:
        """Store the clicks not stored before, and add exactly those to the rollups and the
        visitor counters; return how many were new. Idempotent by click id."""
        if not batch:
            return 0
        if self.session.get_bind().dialect.name == "postgresql":
            return int((await self._ingest_postgres(batch, POSTGRES_INGEST))[0])
        return int((await self._ingest_sqlite(batch, SQLITE_COUNT_NEW))[0])

    async def ingest_new(self, batch: Sequence[Click]) -> set[str]:
        """`ingest`, answering the ids of the clicks it stored (those not stored before)."""
        if not batch:
            return set()
        if self.session.get_bind().dialect.name == "postgresql":
            return set(await self._ingest_postgres(batch, POSTGRES_INGEST_NEW_IDS))
        return set(await self._ingest_sqlite(batch, SQLITE_NEW_IDS))

    async def delete_visits(
        self, link_id: int, now: Callable[[], datetime]
    ) -> tuple[int, datetime]:
        """Delete every click of the link ingested so far from the rollups and the visitor
        counters, and keep the cut-off (`now()` once nothing else is ingesting) so that ingest
        drops any click from before it that arrives late: (the clicks the stats counted, bots
        too; the cut-off). Raw clicks from before the cut-off go next, in a transaction of
        their own (delete_raw_visits): however many there are, that delete must not hold ingest
        back.

        On PostgreSQL it waits for ingests under way and holds new ones back until its commit
        (VISITS_LOCK), on SQLite the write lock does: a batch is wholly before or after."""
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            await connection.exec_driver_sql(POSTGRES_DELETION_LOCK)
        cut_off = now()
        counted = (
            await self.session.execute(
                select(func.coalesce(func.sum(hourly_clicks.c.clicks), 0)).where(
                    hourly_clicks.c.link_id == link_id
                )
            )
        ).scalar_one()
        await self.session.execute(
            sqlalchemy_delete(visit_deletions).where(visit_deletions.c.link_id == link_id)
        )
        await self.session.execute(insert(visit_deletions).values(link_id=link_id, before=cut_off))
        for table in (hourly_clicks, daily_breakdowns, daily_visitors):
            await self.session.execute(sqlalchemy_delete(table).where(table.c.link_id == link_id))
        # Clicks stamped after the cut-off yet ingested already (a redirect whose clock runs
        # ahead): counted so far, so deleted now, raw too (recent: a short range of the index).
        await self.session.execute(
            sqlalchemy_delete(clicks).where(
                clicks.c.link_id == link_id, clicks.c.occurred_at >= cut_off
            )
        )
        return int(counted), cut_off

    async def delete_raw_visits(self, link_id: int, before: datetime) -> None:
        await self.session.execute(
            sqlalchemy_delete(clicks).where(
                clicks.c.link_id == link_id, clicks.c.occurred_at < before
            )
        )

    async def _ingest_postgres(self, batch: Sequence[Click], statement: str) -> list[Any]:
        """What `statement` answers of the new clicks: their count, or their ids."""
        # COPY into a temporary staging table, then one statement inserts the new clicks and
        # upserts every rollup from them, set-based: the cost per batch is a handful of round
        # trips, whatever the batch size, and rows are locked in key order (no deadlocks).
        connection = await self.session.connection()
        # Through SQLAlchemy first, so that its transaction is open: COPY must land in it (the
        # staging table empties at commit), not in a transaction of its own.
        await connection.exec_driver_sql(POSTGRES_STAGING)
        await connection.exec_driver_sql(POSTGRES_INGEST_LOCK)
        raw: Any = (await connection.get_raw_connection()).driver_connection
        await raw.copy_records_to_table(STAGING_TABLE, records=batch, columns=Click._fields)
        result = await connection.exec_driver_sql(statement, (DIRECT, UNKNOWN_COUNTRY))
        return list(result.scalars())

    async def _ingest_sqlite(self, batch: Sequence[Click], new_query: str) -> list[Any]:
        connection = await self.session.connection()
        for statement in SQLITE_STAGING:
            await connection.exec_driver_sql(statement)
        rows = sqlite_rows(batch)
        await connection.exec_driver_sql(SQLITE_STAGE, rows)
        for statement in SQLITE_KEEP_NEW:
            await connection.exec_driver_sql(statement)
        new = list((await connection.exec_driver_sql(new_query)).scalars())  # a count, or ids
        if not new or new == [0]:
            return new
        for statement in SQLITE_STORE:
            await connection.exec_driver_sql(statement)
        await connection.exec_driver_sql(SQLITE_GROUP)
        await connection.exec_driver_sql(SQLITE_BREAKDOWNS, (DIRECT, UNKNOWN_COUNTRY))
        return new


def sqlite_rows(batch: Sequence[Click]) -> list[tuple[Any, ...]]:
    """The batch as the SQLite staging table's rows."""
    return [
        (
            c.id,
            c.link_id,
            _sqlite_time(c.occurred_at),
            c.referrer_host,
            c.country,
            c.device,
            c.browser,
            c.os,
            c.is_bot,
            c.visitor_id,
            c.target,
            c.region,
            c.city,
        )
        for c in batch
    ]


def _sqlite_time(moment: datetime) -> str:
    """A UTC time as SQLAlchemy stores a UTCDateTime on SQLite: naive, microseconds always
    shown (isoformat is ~10x cheaper than strftime, which mattered at 500 clicks a batch)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


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
    # Totals and the series in one read of the range (one round trip less per request), and
    # the series as one value per kind of click: an hourly series is 2,160 rows, and a row
    # costs the driver and SQLAlchemy ~1 µs each way, more than the query. On PostgreSQL two
    # arrays (slots, clicks: asyncpg decodes them in C), elsewhere one string
    # ("slot:clicks,..."); the string's text casts cost PostgreSQL ~1.5 ms of a 90-day hourly
    # request. By the hour the rollup rows are the series already (one per hour and bot, by the
    # key), so there is nothing to group; by the day, the database sums each day's hours.
    epoch = EpochSeconds(hourly_clicks.c.bucket)
    is_bot, clicks = hourly_clicks.c.is_bot, hourly_clicks.c.clicks
    hourly = select(epoch.label("slot"), is_bot, clicks.label("n")).where(*hours)
    slot = (epoch // step) * step
    daily = (
        select(slot.label("slot"), is_bot, cast(func.sum(clicks), BigInteger).label("n"))
        .where(*hours)
        .group_by(slot, is_bot)
    )

    def per_kind(slots: Any, *, arrays: bool) -> Any:
        rows = slots.subquery()
        series: tuple[Any, ...] = (func.array_agg(rows.c.slot), func.array_agg(rows.c.n))
        if not arrays:
            pairs = cast(rows.c.slot, String) + ":" + cast(rows.c.n, String)
            series = (func.aggregate_strings(pairs, ","),)
        return select(rows.c.is_bot, func.sum(rows.c.n), *series).group_by(rows.c.is_bot)

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
    return {
        "hourly": per_kind(hourly, arrays=False),
        "daily": per_kind(daily, arrays=False),
        "hourly_arrays": per_kind(hourly, arrays=True),
        "daily_arrays": per_kind(daily, arrays=True),
        "breakdowns": breakdowns,
    }


STATS_QUERIES = _stats_queries()


class StatsRepository:
    """Every query reads one rollup's rows in a range of its key: at most one row per bucket
    (and per value), however many clicks the link has."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _rows(self, query: str, **params: Any) -> Sequence[Any]:
        # .all() fetches in one go; iterating a result fetches row by row (3x slower here).
        return (await self.session.execute(STATS_QUERIES[query], params)).all()

    async def slots(
        self, link_id: int, start: datetime, end: datetime, step_s: int
    ) -> tuple[dict[int, int], dict[bool, int]]:
        """Human clicks per `step_s` slot of the range that has any, keyed by the slot's start
        in epoch seconds; and the range's totals, humans (False) and bots (True) apart."""
        query, params = "daily", {"step": step_s}
        if step_s == HOUR_S:
            query, params = "hourly", {}
        arrays = self.session.get_bind().dialect.name == "postgresql"
        if arrays:
            query += "_arrays"
        rows = await self._rows(query, link_id=link_id, start=hour_of(start), end=end, **params)
        humans: dict[int, int] = {}
        totals = {False: 0, True: 0}
        for is_bot, total, *series in rows:
            totals[bool(is_bot)] = int(total)  # a sum is NUMERIC on PostgreSQL
            if is_bot:
                continue
            if arrays:
                humans = dict(zip(*series, strict=True))
            else:
                numbers = list(map(int, series[0].replace(":", ",").split(",")))
                humans = dict(zip(numbers[::2], numbers[1::2], strict=True))
        return humans, totals

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

    async def link_stats(
        self,
        link_id: int,
        start: datetime,
        end: datetime,
        step_s: int,
        dimensions: Sequence[str],
        limit: int,
    ) -> tuple[dict[int, int], dict[bool, int], dict[str, list[tuple[str, int]]]]:
        humans, totals = await self.slots(link_id, start, end, step_s)
        first, last = start.date(), (end - timedelta(microseconds=1)).date()
        return humans, totals, await self.breakdowns(link_id, dimensions, first, last, limit)

    async def all_time_clicks(self, link_id: int) -> int:
        result = await self.session.execute(
            select(func.coalesce(func.sum(hourly_clicks.c.clicks), 0)).where(
                hourly_clicks.c.link_id == link_id
            )
        )
        return int(result.scalar_one())


class VisitRepository:
    """Clicks of many links at once: all-time counts from the rollups, and raw clicks listed.

    Listing reads `clicks` newest first with an offset, and counts the matches: fine for a page
    of a range of days, slow deep into a big table (exports page by key instead:
    surge.analytics.export_repository)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def counts(self, link_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        """link id → (human clicks, bot clicks), all time; links without clicks are absent."""
        found: dict[int, tuple[int, int]] = {}
        for first in range(0, len(link_ids), ID_CHUNK):
            rows = await self.session.execute(
                select(
                    hourly_clicks.c.link_id,
                    hourly_clicks.c.is_bot,
                    func.sum(hourly_clicks.c.clicks),
                )
                .where(hourly_clicks.c.link_id.in_(link_ids[first : first + ID_CHUNK]))
                .group_by(hourly_clicks.c.link_id, hourly_clicks.c.is_bot)
            )
            for link_id, is_bot, n in rows:
                humans, bots = found.get(int(link_id), (0, 0))
                found[int(link_id)] = (humans, bots + int(n)) if is_bot else (humans + int(n), bots)
        return found

    async def visits(
        self,
        link_ids: Sequence[int],
        *,
        start: datetime | None,
        end: datetime | None,
        exclude_bots: bool,
        offset: int,
        limit: int,
    ) -> tuple[int, list[Any]]:
        """(matching clicks, one page of them newest first)."""
        if not link_ids:
            return 0, []
        where: list[ColumnElement[bool]] = [clicks.c.link_id.in_(list(link_ids))]
        if start is not None:
            where.append(clicks.c.occurred_at >= start)
        if end is not None:
            where.append(clicks.c.occurred_at <= end)
        if exclude_bots:
            where.append(clicks.c.is_bot.is_(False))
        total = (
            await self.session.execute(select(func.count()).select_from(clicks).where(*where))
        ).scalar_one()
        rows = (
            await self.session.execute(
                select(
                    clicks.c.link_id,
                    clicks.c.occurred_at,
                    clicks.c.referrer_host,
                    clicks.c.country,
                    clicks.c.device,
                    clicks.c.browser,
                    clicks.c.os,
                    clicks.c.is_bot,
                    clicks.c.target,
                    clicks.c.region,
                    clicks.c.city,
                )
                .where(*where)
                .order_by(clicks.c.occurred_at.desc(), clicks.c.id.desc())
                .offset(offset)
                .limit(limit)
            )
        ).all()
        return int(total), list(rows)


ID_CHUNK = 5000  # ids per IN (...): SQLite allows 32,766 parameters a statement
