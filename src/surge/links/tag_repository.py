"""All SQL of tags as things of their own: renamed or taken off many links at once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from surge.data.tables import link_tags, links
from surge.links.webhook_events import record_links_by_id
from surge.webhooks.events import LINK_UPDATED


class TagTaken(Exception):
    pass


class TagRepository:
    """Tags renamed or taken off every link of an owner (None: everyone's) at once, each link
    marked changed (`updated_at`)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def found(self, owner_id: int | None, tags: Sequence[str]) -> set[str]:
        """Which of `tags` some link of the owner's has."""
        query = select(link_tags.c.tag).distinct()
        query = query.where(link_tags.c.tag.in_(tags), _of_owner(owner_id))
        return set((await self.session.execute(query)).scalars())

    async def rename(self, owner_id: int | None, old: str, new: str, now: datetime) -> None:
        """TagTaken if a link that has `old` has `new` too."""
        changed = await self._touch(owner_id, [old], now)
        try:
            await self.session.execute(
                update(link_tags).where(link_tags.c.tag == old, _of_owner(owner_id)).values(tag=new)
            )
        except IntegrityError as exc:
            raise TagTaken(new) from exc
        await record_links_by_id(self.session, LINK_UPDATED, changed)

    async def delete(self, owner_id: int | None, tags: Sequence[str], now: datetime) -> None:
        changed = await self._touch(owner_id, tags, now)
        await self.session.execute(
            delete(link_tags).where(link_tags.c.tag.in_(tags), _of_owner(owner_id))
        )
        await record_links_by_id(self.session, LINK_UPDATED, changed)

    async def _touch(self, owner_id: int | None, tags: Sequence[str], now: datetime) -> list[int]:
        """The owner's links that have any of `tags` change now; their ids."""
        tagged = select(link_tags.c.link_id).where(link_tags.c.tag.in_(tags))
        query = (
            update(links).where(links.c.id.in_(tagged)).values(updated_at=now).returning(links.c.id)
        )
        if owner_id is not None:
            query = query.where(links.c.owner_id == owner_id)
        return [int(i) for i in (await self.session.execute(query)).scalars()]


def _of_owner(owner_id: int | None) -> ColumnElement[bool]:
    """Rows of `link_tags` on the owner's links (None: everyone's)."""
    if owner_id is None:
        return true()
    return link_tags.c.link_id.in_(select(links.c.id).where(links.c.owner_id == owner_id))
