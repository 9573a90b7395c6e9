"""All SQL of the links service."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from surge.data.tables import api_keys, link_tags, links


@dataclass(slots=True, frozen=True)
class ApiKey:
    id: int
    name: str
    is_admin: bool


@dataclass(slots=True, frozen=True)
class Link:
    id: int
    slug: str
    url: str
    redirect_type: int
    owner_id: int
    expires_at: datetime | None
    max_clicks: int | None
    created_at: datetime
    updated_at: datetime
    tags: tuple[str, ...]


class SlugTaken(Exception):
    pass


class KeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, name: str, key_hash: str, key_prefix: str, *, is_admin: bool, now: datetime
    ) -> int:
        result = await self.session.execute(
            insert(api_keys)
            .values(
                name=name,
                key_hash=key_hash,
                key_prefix=key_prefix,
                is_admin=is_admin,
                created_at=now,
            )
            .returning(api_keys.c.id)
        )
        return int(result.scalar_one())

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        row = (
            await self.session.execute(
                select(api_keys.c.id, api_keys.c.name, api_keys.c.is_admin).where(
                    api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
                )
            )
        ).first()
        return ApiKey(id=row.id, name=row.name, is_admin=row.is_admin) if row else None

    async def count(self) -> int:
        return int(
            (await self.session.execute(select(func.count()).select_from(api_keys))).scalar_one()
        )


class LinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, values: dict[str, Any], tags: Sequence[str]) -> Link:
        # A taken slug fails the whole unit of work; the service retries it with a new one.
        try:
            result = await self.session.execute(
                insert(links).values(**values).returning(links.c.id)
            )
        except IntegrityError as exc:
            raise SlugTaken(values["slug"]) from exc
        link_id = int(result.scalar_one())
        await self._set_tags(link_id, tags)
        link = await self._by_id(link_id)
        assert link is not None
        return link

    async def by_slug(self, slug: str, *, owner_id: int | None = None) -> Link | None:
        query = select(links).where(links.c.slug == slug)
        if owner_id is not None:
            query = query.where(links.c.owner_id == owner_id)
        row = (await self.session.execute(query)).first()
        return (await self._with_tags([row]))[0] if row else None

    async def page(
        self, owner_id: int, *, before_id: int | None, limit: int, tag: str | None, q: str | None
    ) -> list[Link]:
        query = (
            select(links)
            .where(links.c.owner_id == owner_id)
            .order_by(links.c.id.desc())
            .limit(limit)
        )
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

    async def update(
        self, link_id: int, values: dict[str, Any], tags: Sequence[str] | None
    ) -> Link:
        if values:
            await self.session.execute(update(links).where(links.c.id == link_id).values(**values))
        if tags is not None:
            await self._set_tags(link_id, tags)
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
                url=row.url,
                redirect_type=row.redirect_type,
                owner_id=row.owner_id,
                expires_at=row.expires_at,
                max_clicks=row.max_clicks,
                created_at=row.created_at,
                updated_at=row.updated_at,
                tags=tuple(tags[row.id]),
            )
            for row in rows
        ]
