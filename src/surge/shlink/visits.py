"""Shlink's visits endpoints: per short URL, per tag, per domain, non-orphan, overview (orphan
visits: orphan_visits.py).

Visits are analytics' raw clicks, listed through `LinkService` for the links the key may see
(ownership is decided by `LinkService` before analytics is asked)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from surge.data.contracts import MAX_VISITS_LINKS, VisitsQuery
from surge.links.repository import LinkFilter
from surge.links.schemas import Timestamp
from surge.orphans.deps import OrphanVisitServiceDep
from surge.shlink.adapter import Page, summary, visit
from surge.shlink.deps import ShlinkKey
from surge.shlink.errors import ShlinkRoute, invalid_data, tag_not_found
from surge.shlink.schemas import (
    VisitsDeletion,
    VisitsList,
    VisitsOverview,
    VisitsOverviewBody,
    VisitsPage,
    VisitsSummary,
)
from surge.shlink.service import ShlinkService, ShlinkServiceDep
from surge.shlink.short_urls import Version

router = APIRouter(prefix="/rest/v{version}", route_class=ShlinkRoute, include_in_schema=False)

PageNumber = Annotated[int | None, Query(alias="page")]
ItemsPerPage = Annotated[int | None, Query(alias="itemsPerPage")]
StartDate = Annotated[Timestamp | None, Query(alias="startDate")]
EndDate = Annotated[Timestamp | None, Query(alias="endDate")]
ExcludeBots = Annotated[bool, Query(alias="excludeBots")]


@dataclass(frozen=True, slots=True)
class VisitsParams:
    """The query every visits list takes: page, size, time range, bots or not."""

    paging: Page
    start: datetime | None
    end: datetime | None
    exclude_bots: bool


async def visits_params(
    page: PageNumber = None,
    items_per_page: ItemsPerPage = None,
    start_date: StartDate = None,
    end_date: EndDate = None,
    exclude_bots: ExcludeBots = False,
) -> VisitsParams:
    return VisitsParams(Page.of(page, items_per_page), start_date, end_date, exclude_bots)


VisitsParamsDep = Annotated[VisitsParams, Depends(visits_params)]


async def visits_of(
    shlink: ShlinkService, slugs: dict[int, str], params: VisitsParams
) -> VisitsList:
    """One page of the visits of these links (id → slug), newest first."""
    if len(slugs) > MAX_VISITS_LINKS:
        raise invalid_data(
            ["shortCode"], f"Visits of at most {MAX_VISITS_LINKS} short URLs at once."
        )
    found = await shlink.links.visits(
        VisitsQuery(
            link_ids=list(slugs),
            start=params.start,
            end=params.end,
            exclude_bots=params.exclude_bots,
            offset=params.paging.offset,
            limit=params.paging.size,
        )
    )
    data = [visit(c, f"{shlink.settings.public_url}/{slugs[c.link_id]}") for c in found.items]
    return VisitsList(
        visits=VisitsPage(data=data, pagination=params.paging.pagination(found.total, len(data)))
    )


@router.get("/short-urls/{short_code}/visits")
async def short_url_visits(
    version: Version,
    short_code: str,
    key: ShlinkKey,
    shlink: ShlinkServiceDep,
    params: VisitsParamsDep,
    domain: str | None = None,
) -> VisitsList:
    link = await shlink.owned(key, short_code, domain)
    return await visits_of(shlink, {link.id: link.slug}, params)


@router.delete("/short-urls/{short_code}/visits")
async def delete_short_url_visits(
    version: Version,
    short_code: str,
    key: ShlinkKey,
    shlink: ShlinkServiceDep,
    domain: str | None = None,
) -> VisitsDeletion:
    """Every visit of the short URL deleted, as DELETE /api/v1/links/{slug}/visits."""
    return VisitsDeletion(deletedVisits=await shlink.delete_visits(key, short_code, domain))


@router.get("/tags/{tag}/visits")
async def tag_visits(
    version: Version,
    tag: str,
    key: ShlinkKey,
    shlink: ShlinkServiceDep,
    params: VisitsParamsDep,
) -> VisitsList:
    slugs = await shlink.all_links(key, LinkFilter(tags=(tag,)))
    if not slugs:
        raise tag_not_found(tag)
    return await visits_of(shlink, slugs, params)


@router.get("/domains/{domain}/visits")
async def domain_visits(
    version: Version,
    domain: str,
    key: ShlinkKey,
    shlink: ShlinkServiceDep,
    params: VisitsParamsDep,
) -> VisitsList:
    slugs = await shlink.links_on_domain(key, domain)
    return await visits_of(shlink, slugs, params)


@router.get("/visits/non-orphan")
async def non_orphan_visits(
    version: Version,
    key: ShlinkKey,
    shlink: ShlinkServiceDep,
    params: VisitsParamsDep,
) -> VisitsList:
    slugs = await shlink.all_links(key, LinkFilter())
    return await visits_of(shlink, slugs, params)


@router.get("/visits")
async def visits_overview(
    version: Version, key: ShlinkKey, shlink: ShlinkServiceDep, orphans: OrphanVisitServiceDep
) -> VisitsOverview:
    total = await shlink.overview(key)
    orphan_total = summary(None)  # a user's key sees no orphan visits
    if key.is_admin:
        found = await orphans.counts()
        orphan_total = VisitsSummary(
            total=found.humans + found.bots, nonBots=found.humans, bots=found.bots
        )
    return VisitsOverview(
        visits=VisitsOverviewBody(
            nonOrphanVisits=total,
            orphanVisits=orphan_total,
            visitsCount=total.total,
            orphanVisitsCount=orphan_total.total,
        )
    )
