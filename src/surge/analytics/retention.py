"""Raw-click retention: clicks (and orphan visits) older than `SURGE_CLICK_RETENTION_DAYS` go,
rollups stay.

Stats read only the rollups (hourly totals, daily breakdowns with their visitor counters), so
expiring raw clicks changes no figure while storage stops growing with history. On PostgreSQL a
month's partition is dropped whole once all of it is past the cutoff (so raw clicks live up to a
month longer than asked), and older rows in the default partition are deleted in batches; on
SQLite rows are deleted in batches. The per-visitor rows of days past the cutoff go too.

Idempotent ingest knows a click by its stored row: a copy of an expired click delivered again
would count again. Deliveries are retried within minutes to hours, so keep at least a few days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Delete, delete, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from surge.analytics.partitions import LOCK_TIMEOUT, PARENT, partitions_of
from surge.data.tables import clicks, daily_visitors, orphan_visits

DELETE_BATCH = 10_000
_MONTH_PARTITION = re.compile(rf"{PARENT}_p(\d{{4}})_(\d{{2}})")


@dataclass(slots=True)
class Expired:
    partitions_dropped: list[str] = field(default_factory=list)
    clicks_deleted: int = 0
    visitor_rows_deleted: int = 0
    orphan_visits_deleted: int = 0  # raw orphan visits (their rollup stays, as clicks')


def _month_end(name: str) -> datetime | None:
    """The first instant after a monthly partition, from its name; None for other tables."""
    match = _MONTH_PARTITION.fullmatch(name)
    if match is None:
        return None
    year, month = int(match[1]), int(match[2])
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


async def expire_raw_clicks(engine: AsyncEngine, now: datetime, keep_days: int) -> Expired:
    """Remove raw clicks (and per-visitor rows) older than `keep_days` before `now`."""
    if keep_days < 1:
        raise ValueError("keep_days must be at least 1")
    cutoff = now.astimezone(UTC) - timedelta(days=keep_days)
    expired = Expired()
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            names = await partitions_of(conn)
        for name in sorted(names):
            end = _month_end(name)
            if end is not None and end <= cutoff:
                async with engine.begin() as conn:
                    await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                    await conn.execute(text(f"DROP TABLE {name}"))
                expired.partitions_dropped.append(name)
    # What no dropped partition took: the default partition's old rows, or all of SQLite's.
    expired.clicks_deleted = await _delete_clicks_before(engine, cutoff)
    expired.visitor_rows_deleted = await _delete_visitors(engine, cutoff)
    expired.orphan_visits_deleted = await _delete_orphan_visits_before(engine, cutoff)
    return expired


async def _delete_clicks_before(engine: AsyncEngine, cutoff: datetime) -> int:
    """A batch at a time, by primary key: short transactions, no long lock on the table."""
    oldest = (
        select(clicks.c.id, clicks.c.occurred_at)
        .where(clicks.c.occurred_at < cutoff)
        .limit(DELETE_BATCH)
    )
    statement = delete(clicks).where(tuple_(clicks.c.id, clicks.c.occurred_at).in_(oldest))
    return await _in_batches(engine, statement)


async def _delete_orphan_visits_before(engine: AsyncEngine, cutoff: datetime) -> int:
    """Raw orphan visits go as raw clicks do, a batch at a time (not partitioned)."""
    v = orphan_visits.c
    oldest = select(v.id, v.occurred_at).where(v.occurred_at < cutoff).limit(DELETE_BATCH)
    statement = delete(orphan_visits).where(tuple_(v.id, v.occurred_at).in_(oldest))
    return await _in_batches(engine, statement)


async def _in_batches(engine: AsyncEngine, statement: Delete) -> int:
    """Run a deletion of at most DELETE_BATCH rows until it deletes fewer: each batch its own
    short transaction, so ingest is never held up behind one long delete."""
    deleted = 0
    while True:
        async with engine.begin() as conn:
            count = int((await conn.execute(statement)).rowcount)
        deleted += count
        if count < DELETE_BATCH:
            return deleted


async def _delete_visitors(engine: AsyncEngine, cutoff: datetime) -> int:
    async with engine.begin() as conn:
        result = await conn.execute(
            delete(daily_visitors).where(daily_visitors.c.day < cutoff.date())
        )
    return int(result.rowcount)
