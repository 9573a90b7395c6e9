"""All SQL of the analytics service."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from surge.analytics.enrich import Click
from surge.data.contracts import DIMENSIONS
from surge.data.tables import click_rollups, clicks, daily_visitors
from surge.platform.db import dialect_insert

ROLLUP_KEY = ("link_id", "bucket", "dimension", "value", "is_bot")
RollupKey = tuple[int, datetime, str, str, bool]


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def rollup_deltas(new_clicks: Sequence[Click]) -> Counter[RollupKey]:
    """The counter increments that a set of newly stored clicks adds to the hourly rollups."""
    deltas: Counter[RollupKey] = Counter()
    for click in new_clicks:
        bucket = _hour(click.occurred_at)
        values = {
            "referrer": click.referrer_host or "(direct)",
            "country": click.country or "(unknown)",
            "device": click.device,
            "browser": click.browser,
            "os": click.os,
        }
        deltas[(click.link_id, bucket, "total", "", click.is_bot)] += 1
        for dimension in DIMENSIONS:
            deltas[(click.link_id, bucket, dimension, values[dimension], click.is_bot)] += 1
    return deltas


class ClickRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # Each statement is built once and run with a list of rows (executemany): SQLAlchemy then
    # sends them in multi-row batches itself ("insertmanyvalues"), and the statement compiles
    # once, where a fresh multi-VALUES statement per chunk spent half of ingest compiling.

    async def insert_new(self, batch: Sequence[Click]) -> list[Click]:
        """Store the clicks not stored before; return exactly those (idempotency by event id)."""
        by_id = {click.id: click for click in batch}
        if not by_id:
            return []
        stmt = (
            dialect_insert(self.session, clicks)
            # The primary key: an event's occurred_at is fixed at the redirect, so a
            # redelivered event conflicts on (id, occurred_at) like it would on id alone.
            .on_conflict_do_nothing(index_elements=["id", "occurred_at"])
            .returning(clicks.c.id)
        )
        result = await self.session.execute(stmt, [asdict(c) for c in by_id.values()])
        return [by_id[row_id] for row_id in result.scalars()]

    async def add_to_rollups(self, deltas: Counter[RollupKey]) -> None:
        if not deltas:
            return
        # Sorted keys: concurrent ingests take row locks in one order, so they cannot deadlock.
        rows = [
            dict(zip((*ROLLUP_KEY, "clicks"), (*key, n), strict=True))
            for key, n in sorted(deltas.items())
        ]
        stmt = dialect_insert(self.session, click_rollups)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(ROLLUP_KEY),
            set_={"clicks": click_rollups.c.clicks + stmt.excluded.clicks},
        )
        await self.session.execute(stmt, rows)

    async def add_visitors(self, human_clicks: Sequence[Click]) -> None:
        rows = sorted({(c.link_id, c.occurred_at.date(), c.visitor_id) for c in human_clicks})
        if not rows:
            return
        stmt = dialect_insert(self.session, daily_visitors).on_conflict_do_nothing()
        await self.session.execute(
            stmt, [{"link_id": a, "day": d, "visitor_id": v} for a, d, v in rows]
        )


class StatsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _range(
        self, link_id: int, start: datetime, end: datetime, dimension: str
    ) -> list[ColumnElement[bool]]:
        return [
            click_rollups.c.link_id == link_id,
            click_rollups.c.dimension == dimension,
            click_rollups.c.bucket >= _hour(start),
            click_rollups.c.bucket < end,
        ]

    async def totals(self, link_id: int, start: datetime, end: datetime) -> dict[bool, int]:
        rows = await self.session.execute(
            select(click_rollups.c.is_bot, func.sum(click_rollups.c.clicks))
            .where(*self._range(link_id, start, end, "total"))
            .group_by(click_rollups.c.is_bot)
        )
        return {bool(is_bot): int(n) for is_bot, n in rows}

    async def hourly(
        self, link_id: int, start: datetime, end: datetime
    ) -> list[tuple[datetime, int]]:
        rows = await self.session.execute(
            select(click_rollups.c.bucket, click_rollups.c.clicks)
            .where(*self._range(link_id, start, end, "total"), click_rollups.c.is_bot.is_(False))
            .order_by(click_rollups.c.bucket)
        )
        return [(bucket, int(n)) for bucket, n in rows]

    async def top(
        self, link_id: int, start: datetime, end: datetime, dimension: str, limit: int
    ) -> list[tuple[str, int]]:
        total = func.sum(click_rollups.c.clicks).label("n")
        rows = await self.session.execute(
            select(click_rollups.c.value, total)
            .where(*self._range(link_id, start, end, dimension), click_rollups.c.is_bot.is_(False))
            .group_by(click_rollups.c.value)
            .order_by(total.desc(), click_rollups.c.value)
            .limit(limit)
        )
        return [(value, int(n)) for value, n in rows]

    async def unique_visitors(self, link_id: int, first_day: date, last_day: date) -> int:
        result = await self.session.execute(
            select(func.count())
            .select_from(daily_visitors)
            .where(
                daily_visitors.c.link_id == link_id,
                daily_visitors.c.day >= first_day,
                daily_visitors.c.day <= last_day,
            )
        )
        return int(result.scalar_one())

    async def all_time_clicks(self, link_id: int) -> int:
        result = await self.session.execute(
            select(func.coalesce(func.sum(click_rollups.c.clicks), 0)).where(
                click_rollups.c.link_id == link_id, click_rollups.c.dimension == "total"
            )
        )
        return int(result.scalar_one())
