"""All SQL of links and their tags."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from surge.data.tables import link_tags, links


@dataclass(slots=True, frozen=True)
class LinkValues:
    """What a write sets on a link: every field a user can change."""

    url: str
    redirect_type: int
    expires_at: datetime | None
    max_clicks: int | None
    tags: tuple[str, ...]


@dataclass(slots=True, frozen=True)
class Link:
    id: int
    slug: str
    owner_id: int
    values: LinkValues
    created_at: datetime
    updated_at: datetime


class SlugTaken(Exception):
    pass


class LinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, slug: str, owner_id: int, values: LinkValues, now: datetime) -> Link:
        # A taken slug fails the whole unit of work; the service retries it with a new one.
        try:
            result = await self.session.execute(
                insert(links)
                .values(slug=slug, owner_id=owner_id, created_at=now, **_columns(values, now))
                .returning(links.c.id)
            )
        except IntegrityError as exc:
            raise SlugTaken(slug) from exc
        link_id = int(result.scalar_one())
        await self._set_tags(link_id, values.tags)
        link = await self._by_id(link_id)
        assert link is not None
        return link

    async def add_many(
        self, owner_id: int, targets: Sequence[tuple[str, str]], now: datetime
    ) -> list[int]:
        """Many untagged 302 links, (slug, url) each, at once (seeding); their ids, in order."""
        rows = [
            {
                "slug": slug,
                "owner_id": owner_id,
                "url": url,
                "redirect_type": 302,
                "created_at": now,
                "updated_at": now,
            }
            for slug, url in targets
        ]
        result = await self.session.execute(
            insert(links).returning(links.c.id, sort_by_parameter_order=True), rows
        )
        return [int(link_id) for link_id in result.scalars()]

    async def by_slug(self, slug: str, *, owner_id: int | None = None) -> Link | None:
        query = select(links).where(links.c.slug == slug)
        if owner_id is not None:
            query = query.where(links.c.owner_id == owner_id)
        row = (await self.session.execute(query)).first()
        return (await self._with_tags([row]))[0] if row else None

    async def page(
        self,
        owner_id: int | None,
        *,
        before_id: int | None,
        limit: int,
        tag: str | None,
        q: str | None,
    ) -> list[Link]:
        """Newest first; `owner_id` None: everyone's links."""
        query = select(links).order_by(links.c.id.desc()).limit(limit)
        if owner_id is not None:
            query = query.where(links.c.owner_id == owner_id)
        if before_id is not None:
            query = query.where(links.c.id < before_id)
        if tag is not None:
            query = query.where(
                links.c.id.in_(select(link_tags.c.link_id).where(link_tags.c.tag == tag))
            )
        if q:
            pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(
                or_(
                    links.c.slug.ilike(pattern, escape="\\"),
                    links.c.url.ilike(pattern, escape="\\"),
                )
            )
        rows = (await self.session.execute(query)).all()
        return await self._with_tags(rows)

    async def update(self, link_id: int, values: LinkValues, now: datetime) -> Link:
        await self.session.execute(
            update(links).where(links.c.id == link_id).values(**_columns(values, now))
        )
        await self._set_tags(link_id, values.tags)
        link = await self._by_id(link_id)
        assert link is not None
        return link

    async def delete(self, link_id: int) -> None:
        await self.session.execute(delete(link_tags).where(link_tags.c.link_id == link_id))
        await self.session.execute(delete(links).where(links.c.id == link_id))

    async def _by_id(self, link_id: int) -> Link | None:
        row = (await self.session.execute(select(links).where(links.c.id == link_id))).first()
        return (await self._with_tags([row]))[0] if row else None

    async def _set_tags(self, link_id: int, tags: Iterable[str]) -> None:
        await self.session.execute(delete(link_tags).where(link_tags.c.link_id == link_id))
        unique = sorted(set(tags))
        if unique:
            await self.session.execute(
                insert(link_tags), [{"link_id": link_id, "tag": t} for t in unique]
            )

    async def _with_tags(self, rows: Sequence[Any]) -> list[Link]:
        ids = [row.id for row in rows]
        tags: dict[int, list[str]] = {i: [] for i in ids}
        if ids:
            tag_rows = await self.session.execute(
                select(link_tags.c.link_id, link_tags.c.tag)
                .where(link_tags.c.link_id.in_(ids))
                .order_by(link_tags.c.tag)
            )
            for link_id, tag in tag_rows:
                tags[link_id].append(tag)
        return [
            Link(
                id=row.id,
                slug=row.slug,
                owner_id=row.owner_id,
                values=LinkValues(
                    url=row.url,
                    redirect_type=row.redirect_type,
                    expires_at=row.expires_at,
                    max_clicks=row.max_clicks,
                    tags=tuple(tags[row.id]),
                ),
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
            for row in rows
        ]


def _columns(values: LinkValues, now: datetime) -> dict[str, Any]:
    """The `links` columns a write sets (tags live in `link_tags`)."""
    return {
        "url": values.url,
        "redirect_type": values.redirect_type,
        "expires_at": values.expires_at,
        "max_clicks": values.max_clicks,
        "updated_at": now,
    }
