"""Orphan visits for the api's doors: requests on a short domain that found no link. They belong
to no user: the doors let admins only (the Shlink API's other keys see none, as Shlink's keys
without orphan visits). Each method is one call to analytics."""

from __future__ import annotations

from datetime import datetime

from surge.data.contracts import Interval
from surge.data.orphans import OrphanCounts, OrphanKind, OrphanStats, OrphanVisitsPage
from surge.data.orphans import OrphanVisitsQuery as Query
from surge.domains.service import DomainService
from surge.orphans.client import OrphanClient


class OrphanVisitService:
    def __init__(self, analytics: OrphanClient, domains: DomainService) -> None:
        self.analytics = analytics
        self.domains = domains

    async def domain_key(self, domain: str | None) -> str | None:
        """The key of the domain a request names (None: every domain); a 422 for a domain
        Surge does not serve."""
        return None if domain is None else await self.domains.key_of(domain)

    async def stats(
        self,
        *,
        start: datetime | None,
        end: datetime | None,
        interval: Interval,
        domain: str | None = None,
        top: int | None = None,
    ) -> OrphanStats:
        key = await self.domain_key(domain)
        return await self.analytics.stats(
            start=start, end=end, interval=interval, domain=key, top=top
        )

    async def visits(
        self,
        *,
        domain: str | None = None,
        kind: OrphanKind | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        exclude_bots: bool = False,
        offset: int = 0,
        limit: int = 10,
    ) -> OrphanVisitsPage:
        """One page of raw orphan visits, newest first."""
        query = Query(
            domain=await self.domain_key(domain),
            kind=kind,
            start=start,
            end=end,
            exclude_bots=exclude_bots,
            offset=offset,
            limit=limit,
        )
        return await self.analytics.visits(query)

    async def counts(self) -> OrphanCounts:
        return await self.analytics.counts()

    async def delete_all(self) -> int:
        """Forget every orphan visit so far; how many the stats had counted (bots too)."""
        return await self.analytics.delete_all()

    def url_of(self, domain: str, path: str) -> str:
        """The URL a visit asked for ('' the default domain)."""
        return self.domains.short_url(domain, path.removeprefix("/"))
