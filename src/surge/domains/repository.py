"""All SQL of domains."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from surge.data.tables import domains, links


@dataclass(slots=True, frozen=True)
class DomainRedirects:
    """Where a domain sends `/`, an unknown slug and an expired link (None: the usual pages)."""

    root_url: str | None = None
    not_found_url: str | None = None
    expired_url: str | None = None


@dataclass(slots=True, frozen=True)
class Domain:
    host: str
    redirects: DomainRedirects
    created_at: datetime | None  # None: the default domain, which has no row


class DomainRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> list[Domain]:
        rows = await self.session.execute(select(domains).order_by(domains.c.host))
        return [_domain(row) for row in rows]

    async def by_host(self, host: str) -> Domain | None:
        row = (await self.session.execute(select(domains).where(domains.c.host == host))).first()
        return _domain(row) if row else None

    async def add(self, host: str, redirects: DomainRedirects, now: datetime) -> None:
        await self.session.execute(
            insert(domains).values(
                host=host,
                root_url=redirects.root_url,
                not_found_url=redirects.not_found_url,
                expired_url=redirects.expired_url,
                created_at=now,
            )
        )

    async def set_redirects(self, host: str, redirects: DomainRedirects) -> None:
        await self.session.execute(
            update(domains)
            .where(domains.c.host == host)
            .values(
                root_url=redirects.root_url,
                not_found_url=redirects.not_found_url,
                expired_url=redirects.expired_url,
            )
        )

    async def delete(self, host: str) -> None:
        await self.session.execute(delete(domains).where(domains.c.host == host))

    async def links_on(self, host: str) -> int:
        return int(
            (
                await self.session.execute(
                    select(func.count()).select_from(links).where(links.c.domain == host)
                )
            ).scalar_one()
        )


def _domain(row: Any) -> Domain:
    return Domain(
        host=row.host,
        redirects=DomainRedirects(
            row.root_url,
            row.not_found_url,
            row.expired_url,
        ),
        created_at=row.created_at,
    )
