"""All SQL of links taken many at a time (surge.links.bulk): found by slugs or by a tag, their
tags changed and the links deleted in a few statements whatever their number."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from surge.data.tables import link_tags, links
from surge.links.repository import Link, LinkRepository
from surge.links.webhook_events import record_links_by_id
from surge.webhooks.events import LINK_UPDATED


class BulkLinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_slugs(
        self, slugs: Sequence[str], *, domain: str, owner_id: int | None
    ) -> dict[str, Link]:
        """The links of `slugs` on the domain keyed `domain` that the owner has (None: whoever
        does), by slug."""
        query = select(links).where(links.c.domain == domain, links.c.slug.in_(set(slugs)))
        if owner_id is not None:
            query = query.where(links.c.owner_id == owner_id)
        rows = (await self.session.execute(query)).all()
        return {link.slug: link for link in await LinkRepository(self.session).with_tags(rows)}

    async def tagged(
        self, tag: str, *, owner_id: int | None, domain: str | None, limit: int
    ) -> list[Link]:
        """At most `limit` of the owner's links (None: everyone's) with `tag`, on the domain
        keyed `domain` (None: every domain), oldest first."""
        query = (
            select(links)
            .where(links.c.id.in_(select(link_tags.c.link_id).where(link_tags.c.tag == tag)))
            .order_by(links.c.id)
            .limit(limit)
        )
        if owner_id is not None:
            query = query.where(links.c.owner_id == owner_id)
        if domain is not None:
            query = query.where(links.c.domain == domain)
        rows = (await self.session.execute(query)).all()
        return await LinkRepository(self.session).with_tags(rows)

    async def change_tags(
        self,
        link_ids: Sequence[int],
        add: Sequence[tuple[int, str]],
        remove: Sequence[str],
        now: datetime,
    ) -> None:
        """Take the tags `remove` off the links `link_ids`, give each (link id, tag) of `add`
        (tags those links do not have yet); the links change now (`updated_at`)."""
        if remove:
            await self.session.execute(
                delete(link_tags).where(
                    link_tags.c.link_id.in_(link_ids), link_tags.c.tag.in_(remove)
                )
            )
        if add:
            await self.session.execute(
                insert(link_tags), [{"link_id": i, "tag": t} for i, t in add]
            )
        await self.session.execute(
            update(links).where(links.c.id.in_(link_ids)).values(updated_at=now)
        )
        await record_links_by_id(self.session, LINK_UPDATED, link_ids)
