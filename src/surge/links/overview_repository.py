"""The links SQL of the overview and of the links list by clicks: an owner's link ids (the
list's filters applied), how many, since when, and what they brought from another shortener."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from surge.data.tables import link_tags, links
from surge.links.repository import search_clause


def _matching(owner_id: int | None, tag: str | None, q: str | None) -> list[ColumnElement[bool]]:
    """The links list's filters (LinkRepository.page): `owner_id` None is everyone's."""
    where: list[ColumnElement[bool]] = []
    if owner_id is not None:
        where.append(links.c.owner_id == owner_id)
    if tag is not None:
        where.append(links.c.id.in_(select(link_tags.c.link_id).where(link_tags.c.tag == tag)))
    if q:
        where.append(search_clause(q))
    return where


class OwnedLinkQueries:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ids(
        self, owner_id: int | None, *, tag: str | None = None, q: str | None = None
    ) -> list[int]:
        """The ids of the matching links, newest first (the owner's: a range of an index)."""
        query = select(links.c.id).where(*_matching(owner_id, tag, q)).order_by(links.c.id.desc())
        return [int(i) for i in (await self.session.execute(query)).scalars()]

    async def count_and_first(self, owner_id: int | None) -> tuple[int, datetime | None]:
        """How many links the owner has (None: everyone), and when the first was made."""
        query: Any = select(func.count(), func.min(links.c.created_at)).where(
            *_matching(owner_id, None, None)
        )
        count, first = (await self.session.execute(query)).one()  # min() keeps UTCDateTime
        return int(count), first

    async def imported(
        self, owner_id: int | None, *, tag: str | None = None, q: str | None = None
    ) -> dict[int, int]:
        """link id → the human clicks it brought from another shortener, of the matching links
        that brought any (few: only links made by `surge import` from a peer's export)."""
        rows = await self.session.execute(
            select(links.c.id, links.c.imported_clicks).where(
                *_matching(owner_id, tag, q), links.c.imported_clicks.is_not(None)
            )
        )
        return {int(i): int(n) for i, n in rows.all() if n}
