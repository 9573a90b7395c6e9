"""The SQL of analytics' answers about many links at once (data/overview.py): an overview over a
range, links ordered by clicks, daily series. Rollups only, never raw clicks.

The links asked about go in as ONE bound parameter that the database reads as a table
(`unnest` of an array on PostgreSQL, `json_each` of a JSON array on SQLite): one statement for
any number of links, where `IN (?, ?, ...)` would need a statement per ~30,000 ids (the drivers'
parameter limit) and a merge of their partial answers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, Select, cast, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from surge.analytics.repository import hour_of
from surge.data.tables import daily_breakdowns, hourly_clicks
from surge.data.types import EpochSeconds

DAY_S = 86400


class OverviewRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"

    def _ids(self, link_ids: Sequence[int]) -> Select[Any]:
        """The ids as a one-column query (`id`), from one parameter."""
        if self.postgres:
            table = func.unnest(cast(literal(list(link_ids), ARRAY(BigInteger)), ARRAY(BigInteger)))
            ids = table.table_valued("id").render_derived()
            return select(ids.c.id.label("id"))
        each = func.json_each(literal(json.dumps(list(link_ids)))).table_valued("value")
        return select(cast(each.c.value, BigInteger).label("id"))

    def _among(
        self, column: ColumnElement[int], link_ids: Sequence[int] | None
    ) -> list[ColumnElement[bool]]:
        return [] if link_ids is None else [column.in_(self._ids(link_ids))]

    async def slots(
        self, link_ids: Sequence[int] | None, start: datetime, end: datetime, step_s: int
    ) -> tuple[dict[int, int], dict[bool, int]]:
        """Human clicks per `step_s` slot (keyed by its start in epoch seconds) of the links
        over [start's hour, end), and the totals, humans (False) and bots (True) apart."""
        epoch = EpochSeconds(hourly_clicks.c.bucket)
        slot = (epoch // step_s) * step_s
        rows = await self.session.execute(
            select(slot.label("slot"), hourly_clicks.c.is_bot, func.sum(hourly_clicks.c.clicks))
            .where(
                hourly_clicks.c.bucket >= hour_of(start),
                hourly_clicks.c.bucket < end,
                *self._among(hourly_clicks.c.link_id, link_ids),
            )
            .group_by(slot, hourly_clicks.c.is_bot)
        )
        humans: dict[int, int] = {}
        totals = {False: 0, True: 0}
        for at, is_bot, n in rows.all():
            totals[bool(is_bot)] += int(n)  # a sum is NUMERIC on PostgreSQL
            if not is_bot:
                humans[int(at)] = int(n)
        return humans, totals

    async def top_links(
        self, link_ids: Sequence[int] | None, start: datetime, end: datetime, limit: int
    ) -> list[tuple[int, int]]:
        """(link id, human clicks in the range) of the `limit` links with the most."""
        n = func.sum(hourly_clicks.c.clicks)
        rows = await self.session.execute(
            select(hourly_clicks.c.link_id, n)
            .where(
                hourly_clicks.c.bucket >= hour_of(start),
                hourly_clicks.c.bucket < end,
                hourly_clicks.c.is_bot.is_(False),
                *self._among(hourly_clicks.c.link_id, link_ids),
            )
            .group_by(hourly_clicks.c.link_id)
            .order_by(n.desc(), hourly_clicks.c.link_id.desc())
            .limit(limit)
        )
        return [(int(link_id), int(clicks)) for link_id, clicks in rows.all()]

    async def breakdowns(
        self,
        link_ids: Sequence[int] | None,
        dimensions: Sequence[str],
        first: date,
        last: date,
        limit: int,
    ) -> dict[str, list[tuple[str, int]]]:
        """The `limit` values with the most human clicks of each dimension, summed over the
        links and the days [first, last], most first (ties by value)."""
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
                daily_breakdowns.c.dimension.in_(list(dimensions)),
                daily_breakdowns.c.day >= first,
                daily_breakdowns.c.day <= last,
                daily_breakdowns.c.is_bot.is_(False),
                *self._among(daily_breakdowns.c.link_id, link_ids),
            )
            .group_by(daily_breakdowns.c.dimension, daily_breakdowns.c.value)
            .subquery()
        )
        rows = await self.session.execute(
            select(ranked.c.dimension, ranked.c.value, ranked.c.n)
            .where(ranked.c.rank <= limit)
            .order_by(ranked.c.dimension, ranked.c.rank)
        )
        found: dict[str, list[tuple[str, int]]] = {d: [] for d in dimensions}
        for dimension, value, n in rows.all():
            found[dimension].append((value, int(n)))
        return found

    async def ranking(
        self, link_ids: Sequence[int], offset: int, limit: int
    ) -> list[tuple[int, int]]:
        """(link id, all-time human clicks) of a page of the links by clicks, most first (ties:
        highest id first); links without clicks rank with 0."""
        if not link_ids:
            return []
        sums = (
            select(hourly_clicks.c.link_id, func.sum(hourly_clicks.c.clicks).label("n"))
            .where(
                hourly_clicks.c.is_bot.is_(False),
                *self._among(hourly_clicks.c.link_id, link_ids),
            )
            .group_by(hourly_clicks.c.link_id)
            .subquery()
        )
        ids = self._ids(link_ids).subquery()
        n = func.coalesce(sums.c.n, 0)
        rows = await self.session.execute(
            select(ids.c.id, n)
            .select_from(ids.outerjoin(sums, sums.c.link_id == ids.c.id))
            .order_by(n.desc(), ids.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [(int(link_id), int(clicks)) for link_id, clicks in rows.all()]

    async def daily(
        self, link_ids: Sequence[int], first: date, days: int
    ) -> dict[int, dict[int, int]]:
        """link id → {day number from `first`: human clicks} (days without clicks absent)."""
        if not link_ids:
            return {}
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        end = start + timedelta(days=days)
        day = (EpochSeconds(hourly_clicks.c.bucket) - int(start.timestamp())) // DAY_S
        rows = await self.session.execute(
            select(
                hourly_clicks.c.link_id,
                cast(day, Integer).label("day"),
                func.sum(hourly_clicks.c.clicks),
            )
            .where(
                hourly_clicks.c.link_id.in_(list(link_ids)),  # a page's few: a plain IN
                hourly_clicks.c.bucket >= start,
                hourly_clicks.c.bucket < end,
                hourly_clicks.c.is_bot.is_(False),
            )
            .group_by(hourly_clicks.c.link_id, day)
        )
        found: dict[int, dict[int, int]] = {}
        for link_id, number, n in rows.all():
            found.setdefault(int(link_id), {})[int(number)] = int(n)
        return found
