"""The SQL of exports: a link's raw visits, one keyset page at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from surge.data.tables import clicks

# In the order of the index clicks (link_id, occurred_at, id) (migration 0013): a page is one
# range of it, and the rows come out already sorted.
_PAGE = select(
    clicks.c.id,
    clicks.c.occurred_at,
    clicks.c.referrer_host,
    clicks.c.country,
    clicks.c.region,
    clicks.c.city,
    clicks.c.device,
    clicks.c.browser,
    clicks.c.os,
    clicks.c.is_bot,
    clicks.c.target,
).order_by(clicks.c.occurred_at, clicks.c.id)


class VisitExportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page(
        self,
        link_id: int,
        *,
        start: datetime | None,
        end: datetime | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> Sequence[Any]:
        """Up to `limit` clicks of the link in [start, end), oldest first, after `after`
        (the time and id of the last click of the page before)."""
        where: list[ColumnElement[bool]] = [clicks.c.link_id == link_id]
        if start is not None:
            where.append(clicks.c.occurred_at >= start)
        if end is not None:
            where.append(clicks.c.occurred_at < end)
        if after is not None:
            time, click_id = after
            # Spelled out rather than as a row value: `occurred_at >= time` alone bounds the
            # index range on both backends, the OR then only trims the rows of that instant.
            where.append(clicks.c.occurred_at >= time)
            where.append(
                or_(
                    clicks.c.occurred_at > time,
                    and_(clicks.c.occurred_at == time, clicks.c.id > click_id),
                )
            )
        return (await self.session.execute(_PAGE.where(*where).limit(limit))).all()
