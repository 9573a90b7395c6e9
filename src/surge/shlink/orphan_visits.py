"""Shlink's orphan-visit endpoints: `GET /visits/orphan` (paged; startDate, endDate,
excludeBots, type, domain) and `DELETE /visits/orphan`. Orphan visits belong to no user: a key
that is not an admin's sees none and deletes none, as a Shlink key with the "No orphan visits"
role."""

from __future__ import annotations

from typing import Annotated, get_args

from fastapi import APIRouter, Query

from surge.data.orphans import ORPHAN_KINDS, OrphanKind, OrphanVisitOut
from surge.orphans.deps import OrphanVisitServiceDep
from surge.orphans.service import OrphanVisitService
from surge.shlink.adapter import DIRECT, visit_location
from surge.shlink.deps import ShlinkKey
from surge.shlink.errors import ShlinkRoute, invalid_data
from surge.shlink.schemas import (
    OrphanVisit,
    OrphanVisitsList,
    OrphanVisitsPage,
    VisitsDeletion,
)
from surge.shlink.short_urls import Version
from surge.shlink.user_agents import rebuilt_user_agent
from surge.shlink.visits import VisitsParamsDep

router = APIRouter(prefix="/rest/v{version}", route_class=ShlinkRoute, include_in_schema=False)
TypeQuery = Annotated[str | None, Query(alias="type")]
DomainQuery = Annotated[str | None, Query(max_length=260)]


def orphan_visit(found: OrphanVisitOut, orphans: OrphanVisitService) -> OrphanVisit:
    referrer = found.referrer_host
    return OrphanVisit(
        referer="" if referrer in (None, DIRECT) else referrer,
        date=found.occurred_at,
        # Surge keeps the parsed families, never the raw user agent: one rebuilt from them.
        userAgent=rebuilt_user_agent(found.browser, found.os, found.device),
        visitLocation=visit_location(found.country, found.region, found.city),
        potentialBot=found.is_bot,
        visitedUrl=orphans.url_of(found.domain, found.path),
        type=found.kind,
    )


def orphan_kind(value: str | None) -> OrphanKind | None:
    if value is None:
        return None
    if value not in ORPHAN_KINDS:
        raise invalid_data(
            ["type"],
            f"{value} is not a valid orphan visit type. Expected one of "
            + ", ".join(get_args(OrphanKind)),
        )
    return value


@router.get("/visits/orphan")
async def orphan_visits(
    version: Version,
    key: ShlinkKey,
    orphans: OrphanVisitServiceDep,
    params: VisitsParamsDep,
    kind: TypeQuery = None,
    domain: DomainQuery = None,
) -> OrphanVisitsList:
    """Visits to the base URL, invalid short URLs and any other 404, newest first."""
    wanted = orphan_kind(kind)
    paging = params.paging
    total, data = 0, []
    key_of_domain = "" if domain is None else await orphans.domains.lookup_key(domain)
    if key.is_admin and key_of_domain is not None:  # a domain Surge does not serve has none
        found = await orphans.visits(
            domain=None if domain is None else key_of_domain,
            kind=wanted,
            start=params.start,
            end=params.end,
            exclude_bots=params.exclude_bots,
            offset=paging.offset,
            limit=paging.size,
        )
        total, data = found.total, [orphan_visit(v, orphans) for v in found.items]
    return OrphanVisitsList(
        visits=OrphanVisitsPage(data=data, pagination=paging.pagination(total, len(data)))
    )


@router.delete("/visits/orphan")
async def delete_orphan_visits(
    version: Version, key: ShlinkKey, orphans: OrphanVisitServiceDep
) -> VisitsDeletion:
    """Every orphan visit deleted (an admin's key; another deletes none)."""
    deleted = await orphans.delete_all() if key.is_admin else 0
    return VisitsDeletion(deletedVisits=deleted)
