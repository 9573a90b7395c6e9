"""The SQL of exports: a link's raw visits, one keyset page at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from surge.data.tables import clicks


class UtcIsoText(FunctionElement[str]):
    """A `UTCDateTime` column as the text a download shows, made by the database:
    "2026-12-07T11:53:46.123456Z". Parsing a million times into datetimes and printing them
    again cost more than the query."""

    type = String()
    name = "utc_iso_text"
    inherit_cache = True


@compiles(UtcIsoText, "postgresql")
def _iso_postgresql(element: UtcIsoText, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


@compiles(UtcIsoText, "sqlite")
def _iso_sqlite(element: UtcIsoText, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps naive UTC text, always to the microsecond ("YYYY-MM-DD HH:MM:SS.ffffff").
    return f"(replace({compiler.process(element.clauses, **kw)}, ' ', 'T') || 'Z')"


# In the order of the index clicks (link_id, occurred_at, id) (migration 0013): a page is one
# range of it, and the rows come out already sorted. The columns are VISIT_COLUMNS'.
_PAGE = select(
    clicks.c.id,
    UtcIsoText(clicks.c.occurred_at),
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
        (the time and id of the last click of the page before), as VisitRow values."""
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
