"""Monthly partitions of `clicks` on PostgreSQL: all the SQL that creates and fills them.

Migration 0001 makes `clicks` a table partitioned by RANGE (occurred_at) with a DEFAULT partition
(clicks_default) and monthly partitions around the day it ran; `surge maintain` calls
`ensure_partitions` to keep creating them ahead of time. A click whose month has no partition
yet lands in the default partition, so an insert never fails. When that month's partition is
created later, its rows are moved out of the default partition in the same transaction
(PostgreSQL refuses to create a partition whose range the default partition holds rows of).
SQLite has no partitions: there `ensure_partitions` does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from surge.data.tables import clicks

PARENT = "clicks"
DEFAULT_PARTITION = "clicks_default"
# Creating partitions briefly locks `clicks` against inserts; never queue behind a long query
# for longer than this (inserts would queue behind us). `surge maintain` can simply run again.
LOCK_TIMEOUT = "5s"


@dataclass(frozen=True, slots=True)
class MonthPartition:
    start: datetime  # first instant of the month, UTC
    end: datetime  # first instant of the next month, UTC (exclusive)

    @property
    def name(self) -> str:
        return f"{PARENT}_p{self.start:%Y_%m}"

    @property
    def bounds(self) -> str:
        # An explicit UTC offset: a bare date would be read in the session's time zone.
        return f"FROM ('{self.start.isoformat()}') TO ('{self.end.isoformat()}')"


def _month_start(index: int) -> datetime:
    """The first instant (UTC) of month number `index` = year * 12 + month - 1."""
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def months_around(now: datetime, months_ahead: int, months_back: int) -> list[MonthPartition]:
    """The month of `now` (in UTC), `months_back` months before it and `months_ahead` after."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if months_ahead < 0 or months_back < 0:
        raise ValueError("months_ahead and months_back must not be negative")
    now = now.astimezone(UTC)
    index = now.year * 12 + now.month - 1
    return [
        MonthPartition(_month_start(i), _month_start(i + 1))
        for i in range(index - months_back, index + months_ahead + 1)
    ]


async def partitions_of(conn: AsyncConnection) -> set[str]:
    """The names of the partitions of `clicks`."""
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:parent AS regclass)"
        ),
        {"parent": PARENT},
    )
    return set(rows.scalars())


async def _check_partitioned(conn: AsyncConnection) -> None:
    partitioned = await conn.execute(
        text(
            "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table "
            "WHERE partrelid = to_regclass(:parent))"
        ),
        {"parent": PARENT},
    )
    if not partitioned.scalar_one():
        raise RuntimeError(
            f"table {PARENT} is missing or not partitioned: run `surge migrate` first"
        )


async def _check_free(conn: AsyncConnection, names: list[str]) -> None:
    """A table of a partition's name that is not a partition would make IF NOT EXISTS lie."""
    for name in names:
        taken = await conn.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name})
        if taken.scalar_one():
            raise RuntimeError(f"table {name} exists but is not a partition of {PARENT}")


async def _default_has_rows(conn: AsyncConnection, month: MonthPartition) -> bool:
    result = await conn.execute(
        text(
            f"SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} "
            "WHERE occurred_at >= :start AND occurred_at < :end)"
        ),
        {"start": month.start, "end": month.end},
    )
    return bool(result.scalar_one())


async def _move_from_default(conn: AsyncConnection, month: MonthPartition) -> None:
    columns = ", ".join(column.name for column in clicks.columns)
    await conn.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} "
            "WHERE occurred_at >= :start AND occurred_at < :end "
            f"RETURNING {columns}) "
            f"INSERT INTO {month.name} ({columns}) SELECT {columns} FROM moved"
        ),
        {"start": month.start, "end": month.end},
    )


async def ensure_partitions(
    engine: AsyncEngine, now: datetime, months_ahead: int = 3, months_back: int = 1
) -> list[str]:
    """Create the missing monthly partitions of `clicks` around `now` (and the default partition
    if it is missing); return the names created, oldest month first. Idempotent, safe to run
    concurrently, and a no-op returning [] on SQLite."""
    months = months_around(now, months_ahead, months_back)
    if engine.dialect.name != "postgresql":
        return []
    async with engine.connect() as conn:
        await _check_partitioned(conn)
        existing = await partitions_of(conn)
    wanted = [DEFAULT_PARTITION, *(month.name for month in months)]
    if all(name in existing for name in wanted):
        return []  # the usual case: no lock taken

    async with engine.begin() as conn:
        await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        # Blocks inserts (and a concurrent `surge maintain`) until commit; look again under it.
        await conn.execute(text(f"LOCK TABLE {PARENT} IN ACCESS EXCLUSIVE MODE"))
        existing = await partitions_of(conn)
        missing = [month for month in months if month.name not in existing]
        needs_default = DEFAULT_PARTITION not in existing
        await _check_free(
            conn, [m.name for m in missing] + ([DEFAULT_PARTITION] if needs_default else [])
        )
        stranded = (
            []
            if needs_default
            else [month for month in missing if await _default_has_rows(conn, month)]
        )
        if stranded:
            # Rows of a month without a partition sit in the default partition. Take it out,
            # create the partitions, move those rows into theirs, and put it back: all in this
            # transaction, so readers never see a click missing or twice.
            await conn.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {DEFAULT_PARTITION}"))
        for month in missing:
            await conn.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {month.name} "
                    f"PARTITION OF {PARENT} FOR VALUES {month.bounds}"
                )
            )
        for month in stranded:
            await _move_from_default(conn, month)
        if stranded:
            await conn.execute(
                text(f"ALTER TABLE {PARENT} ATTACH PARTITION {DEFAULT_PARTITION} DEFAULT")
            )
        if needs_default:
            await conn.execute(
                text(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {PARENT} DEFAULT")
            )
    return ([DEFAULT_PARTITION] if needs_default else []) + [month.name for month in missing]
