"""All SQL of `surge import` and `surge export`, and of the imported click baseline."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from surge.data.tables import domains, link_tags, links, users
from surge.links.repository import Link, LinkRepository, LinkValues, link_columns
from surge.links.webhook_events import record_link_events
from surge.webhooks.events import LINK_CREATED


@dataclass(slots=True, frozen=True)
class NewLink:
    """A checked row of an import, ready to write: what the links API would set, and what the
    link brings from its old shortener."""

    slug: str
    values: LinkValues
    domain: str  # '' the default domain
    created_at: datetime
    clicks: int
    bot_clicks: int


@dataclass(slots=True, frozen=True)
class ExportedLink:
    link: Link
    owner: str | None  # the owner's email
    clicks: int = 0  # human clicks, all time, the imported baseline included
    bot_clicks: int = 0


class TransferRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def targets_of(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """The URL of each (domain, slug) of `keys` that is taken, whoever owns it."""
        wanted = set(keys)
        if not wanted:
            return {}
        rows = await self.session.execute(
            select(links.c.domain, links.c.slug, links.c.url).where(
                links.c.slug.in_({slug for _, slug in wanted})
            )
        )
        found = {(str(d), str(s)): str(url) for d, s, url in rows.all()}
        return {key: url for key, url in found.items() if key in wanted}

    async def domains(self) -> set[str]:
        """The short domains besides the default one."""
        return {
            str(host) for host in (await self.session.execute(select(domains.c.host))).scalars()
        }

    async def add(self, owner_id: int, new: Sequence[NewLink], now: datetime) -> None:
        """Insert `new` (slugs known to be free) with their tags and click baselines."""
        if not new:
            return
        rows = [
            {
                "slug": link.slug,
                "domain": link.domain,
                "owner_id": owner_id,
                "created_at": link.created_at,
                **link_columns(link.values, now),
                "imported_clicks": link.clicks,
                "imported_bot_clicks": link.bot_clicks,
            }
            for link in new
        ]
        result = await self.session.execute(
            insert(links).returning(links.c.id, sort_by_parameter_order=True), rows
        )
        ids = [int(link_id) for link_id in result.scalars()]
        tags = [
            {"link_id": link_id, "tag": tag}
            for link_id, link in zip(ids, new, strict=True)
            for tag in sorted(set(link.values.tags))
        ]
        if tags:
            await self.session.execute(insert(link_tags), tags)
        made = [
            Link(
                id=link_id,
                slug=link.slug,
                owner_id=owner_id,
                values=link.values,
                created_at=link.created_at,
                updated_at=now,
                imported_clicks=link.clicks,
                imported_bot_clicks=link.bot_clicks,
                domain=link.domain,
            )
            for link_id, link in zip(ids, new, strict=True)
        ]
        await record_link_events(self.session, LINK_CREATED, made)

    async def export_page(
        self, owner_id: int | None, *, after_id: int, limit: int
    ) -> list[ExportedLink]:
        """Up to `limit` links with ids above `after_id`, oldest first."""
        query = (
            select(links, users.c.email)
            .join(users, users.c.id == links.c.owner_id)
            .where(links.c.id > after_id)
            .order_by(links.c.id)
            .limit(limit)
        )
        if owner_id is not None:
            query = query.where(links.c.owner_id == owner_id)
        rows = (await self.session.execute(query)).all()
        found = await LinkRepository(self.session).with_tags(rows)
        return [ExportedLink(link, row.email) for link, row in zip(found, rows, strict=True)]
